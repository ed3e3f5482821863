/*
 * err.h - the one table of Strata error codes.
 *
 * Functions that can fail return int: 0 on success, a negative STRATA_E* code
 * on failure. Each code maps to a message, an HTTP status and a gRPC status,
 * all from the X-macro table below, so a new error is added in one place.
 * Low-level code returns codes (and may fill a caller's message buffer with
 * details); the caller reports an error once, with context.
 */
#ifndef STRATA_ERR_H
#define STRATA_ERR_H

/* X(NAME, message, HTTP status, gRPC status code) */
#define STRATA_ERRORS(X)                            \
    X(INVAL, "invalid argument", 400, 3)            \
    X(PARSE, "parse error", 400, 3)                 \
    X(TOOLARGE, "request entity too large", 413, 8) \
    X(LIMIT, "limit exceeded", 400, 3)              \
    X(RATE, "rate limit exceeded", 429, 8)          \
    X(BUSY, "server busy, retry later", 429, 8)     \
    X(NOSTREAMS, "no valid stream", 422, 3)         \
    X(NOTFOUND, "not found", 404, 5)                \
    X(METHOD, "method not allowed", 405, 12)        \
    X(MEDIATYPE, "unsupported media type", 415, 3)  \
    X(UNAUTH, "unauthorized", 401, 16)              \
    X(FORBIDDEN, "forbidden", 403, 7)               \
    X(NOSPC, "no space left on device", 507, 8)     \
    X(IO, "input/output error", 500, 13)            \
    X(CORRUPT, "data corrupted", 500, 15)           \
    X(INTERNAL, "internal error", 500, 13)          \
    X(UNAVAIL, "service unavailable", 503, 14)      \
    X(TIMEOUT, "timeout", 504, 4)                   \
    X(CANCELED, "canceled", 499, 1)                 \
    X(EXISTS, "already exists", 409, 6)             \
    X(LOCKED, "locked by another process", 409, 9)  \
    X(UNSUPPORTED, "not supported", 501, 12)        \
    X(EOF, "end of data", 500, 13)

enum strata_err {
    STRATA_OK = 0,
#define STRATA__ERRENUM(name, msg, http, grpc) STRATA__E_##name,
    STRATA__E_FIRST_ = 0,
    STRATA_ERRORS(STRATA__ERRENUM) STRATA__E_COUNT_
#undef STRATA__ERRENUM
};

/* The public negative codes: STRATA_EINVAL == -1, ... */
#define STRATA__ERRDEF(name, msg, http, grpc) STRATA_E##name = -STRATA__E_##name,
enum { STRATA_ERRORS(STRATA__ERRDEF) STRATA__E_DUMMY_ = 0 };
#undef STRATA__ERRDEF

/* A short English message for rc ("ok" for 0, "unknown error" if out of range). */
const char *strata_strerror(int rc);
/* The symbolic name of rc, e.g. "EINVAL". */
const char *strata_errname(int rc);
/* The HTTP status to answer with for rc (200 for 0, 500 if unknown). */
int strata_http_status(int rc);
/* The gRPC status code for rc (0 for OK, 13 INTERNAL if unknown). */
int strata_grpc_status(int rc);
/* Map an errno value (ENOSPC, EIO, ...) to a STRATA_E* code. */
int strata_from_errno(int e);

#include <stddef.h>
/*
 * Write a printf-style message into the caller's err buffer (the "fills a
 * message buffer" half of the convention above); nothing is written when err
 * is NULL or errlen is 0. The message is cut to fit.
 */
__attribute__((format(printf, 3, 4))) void strata_errorf(char *err, size_t errlen, const char *fmt,
                                                         ...);

#endif
