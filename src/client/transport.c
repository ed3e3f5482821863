/* transport.c - what both transports share: results, status mapping, files, URL escaping. */
#include "client/transport.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

int send_result_fail(struct send_result *r, int rc, bool retryable, const char *fmt, ...)
{
    r->rc = rc;
    r->retryable = retryable;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    return rc;
}

int read_small_file(const char *path, size_t max, char **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        strata_errorf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return STRATA_EINVAL;
    }
    struct buf b;
    buf_init(&b, max);
    char chunk[4096];
    size_t n;
    int rc = buf_append(&b, "", 0);
    while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(&b, chunk, n);
    if (!rc && ferror(f))
        rc = STRATA_EIO;
    fclose(f);
    if (rc) {
        strata_errorf(err, errlen, "cannot read %s: %s", path,
                      rc == STRATA_ETOOLARGE ? "file too large" : "read error");
        buf_release(&b);
        return STRATA_EINVAL;
    }
    *out = buf_detach(&b, NULL);
    return 0;
}

int http_status_rc(int status)
{
    switch (status) {
    case 400: return STRATA_EINVAL;
    case 401: return STRATA_EUNAUTH;
    case 403: return STRATA_EFORBIDDEN;
    case 404: return STRATA_ENOTFOUND;
    case 405: return STRATA_EMETHOD;
    case 409: return STRATA_EEXISTS;
    case 413: return STRATA_ETOOLARGE;
    case 415: return STRATA_EMEDIATYPE;
    case 422: return STRATA_ENOSTREAMS;
    case 429: return STRATA_ERATE;
    case 499: return STRATA_ECANCELED;
    case 501: return STRATA_EUNSUPPORTED;
    case 503: return STRATA_EUNAVAIL;
    case 504: return STRATA_ETIMEOUT;
    case 507: return STRATA_ENOSPC;
    default: return status >= 500 ? STRATA_EINTERNAL : STRATA_EINVAL;
    }
}

int url_escape(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = buf_append_char(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = buf_append(b, e, 3);
        }
    }
    return rc;
}
