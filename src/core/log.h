/*
 * log.h - leveled logging to stderr, one line per event, with a UTC timestamp:
 *
 *     2026-11-21T10:00:00.123Z info  http: listening on 127.0.0.1:3100
 *
 * The level is set once at start (--log.level); messages below it cost one
 * comparison. Thread-safe: each line is written with a single write(2).
 */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

extern enum log_level log_min_level;

/* Parse "debug", "info", "warn" or "error"; -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(enum log_level l);

__attribute__((format(printf, 2, 3))) void log_msg(enum log_level l, const char *fmt, ...);

#define log_debug(...)                       \
    do {                                     \
        if (log_min_level <= LOG_DEBUG)      \
            log_msg(LOG_DEBUG, __VA_ARGS__); \
    } while (0)
#define log_info(...)                       \
    do {                                    \
        if (log_min_level <= LOG_INFO)      \
            log_msg(LOG_INFO, __VA_ARGS__); \
    } while (0)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
