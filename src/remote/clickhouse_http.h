/*
 * clickhouse_http.h - statements sent to ClickHouse's HTTP interface (libcurl).
 *
 * One struct clickhouse_http per server: the base URL, the credentials (HTTP
 * basic authentication, never in the URL), the timeouts, and a small pool of
 * curl handles so that connections are kept alive and reused. Every function
 * is safe to call from several threads at once.
 *
 * A request is one statement. Without data, the statement is the POST body.
 * With data (INSERT ... FORMAT RowBinary), the statement goes in the query
 * string and the data, gzip-compressed, in the body. A SELECT's answer is
 * read into the caller's bounded buffer; ClickHouse is asked to finish the
 * query before it answers (wait_end_of_query), so an error is always an HTTP
 * error and never text appended to a half-sent body.
 *
 * Failures are described by struct clickhouse_error: a STRATA_E* code, whether
 * retrying may help (connection refused or reset, timeouts, ClickHouse
 * overloaded or restarting), ClickHouse's exception code and a message that
 * names the server ("ClickHouse at http://127.0.0.1:8123: Code 193: Wrong
 * password for user default").
 */
#ifndef STRATA_CLICKHOUSE_HTTP_H
#define STRATA_CLICKHOUSE_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "remote/clickhouse_config.h"

struct clickhouse_http;

struct clickhouse_error {
    int rc;             /* STRATA_EUNAVAIL (unreachable, auth, server errors), STRATA_ETIMEOUT,
                           STRATA_ETOOLARGE (answer over the buffer's maximum), STRATA_ECANCELED,
                           STRATA_EINTERNAL (ClickHouse refused the statement) */
    bool retryable;     /* true when the same request may succeed later */
    int http_status;    /* 0 when no answer came */
    int code;           /* ClickHouse's exception code, 0 if none */
    char message[1024]; /* full sentence, names the server */
};

struct clickhouse_request {
    const char *sql;            /* the statement (SELECT ... FORMAT RowBinary, CREATE, INSERT) */
    struct slice data;          /* INSERT data; empty: the statement is the body */
    const char *settings;       /* extra query-string settings ("a=1&b=2") or NULL */
    struct buf *out;            /* the answer (bounded by its maximum); NULL discards it */
    const volatile int *cancel; /* abort when *cancel becomes nonzero (may be NULL) */
};

/* Take the settings (copied); calls curl_global_init the first time. */
struct clickhouse_http *clickhouse_http_new(const struct clickhouse_config *c);
void clickhouse_http_free(struct clickhouse_http *h);

/*
 * Send one request, without retrying. Returns 0 when ClickHouse answered 200
 * (the answer is in r->out); otherwise a negative STRATA_E* equal to e->rc,
 * with e filled in. e may be NULL.
 */
int clickhouse_http_run(struct clickhouse_http *h, const struct clickhouse_request *r,
                        struct clickhouse_error *e);

/* Bytes sent and received so far, and requests made (for metrics and tests). */
void clickhouse_http_counters(struct clickhouse_http *h, uint64_t *requests, uint64_t *bytes_out,
                              uint64_t *bytes_in);

/*
 * Parse ClickHouse's exception text ("Code: 62, e.displayText() =
 * DB::Exception: Syntax error: ..., e.what() = DB::Exception", or the newer
 * "Code: 62. DB::Exception: ... (SYNTAX_ERROR) (version ...)"). Stores the
 * code (0 when absent) and the message (the body's first line when it is not
 * in that form), trimmed, into msg (always NUL-terminated). Body bytes are
 * untrusted: control characters are replaced by spaces.
 */
void clickhouse_parse_exception(struct slice body, int *code, char *msg, size_t cap);
/* True for ClickHouse exception codes that mean "try again later". */
bool clickhouse_code_retryable(int code);

/*
 * The retry policy: exponential backoff from 100 ms, doubling up to 5 s, with
 * +-25% jitter, for at most budget_ns in total.
 */
struct clickhouse_backoff {
    int64_t deadline_ns; /* monotonic */
    int64_t delay_ns;
    uint32_t attempts;
    uint64_t rand_state;
};

void clickhouse_backoff_init(struct clickhouse_backoff *b, int64_t budget_ns);
/*
 * After a failed attempt: false when e is not retryable, the budget is spent
 * or *cancel is set; otherwise sleeps (in short steps that watch cancel) and
 * returns true.
 */
bool clickhouse_backoff_wait(struct clickhouse_backoff *b, const struct clickhouse_error *e,
                             const volatile int *cancel);

#endif
