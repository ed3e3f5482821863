#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct err_row {
    const char *name, *msg;
    int http, grpc;
};

static const struct err_row rows[] = {{"OK", "ok", 200, 0},
#define ROW(name, msg, http, grpc) {"E" #name, msg, http, grpc},
                                      STRATA_ERRORS(ROW)
#undef ROW
};

static const struct err_row *row(int rc)
{
    int i = -rc;
    if (i < 0 || i >= (int)(sizeof(rows) / sizeof(rows[0])))
        return NULL;
    return &rows[i];
}

const char *strata_strerror(int rc)
{
    const struct err_row *r = row(rc);
    return r ? r->msg : "unknown error";
}

const char *strata_errname(int rc)
{
    const struct err_row *r = row(rc);
    return r ? r->name : "EUNKNOWN";
}

int strata_http_status(int rc)
{
    const struct err_row *r = row(rc);
    return r ? r->http : 500;
}

int strata_grpc_status(int rc)
{
    const struct err_row *r = row(rc);
    return r ? r->grpc : 13;
}

int strata_from_errno(int e)
{
    switch (e) {
    case 0: return STRATA_OK;
    case ENOSPC:
    case EDQUOT: return STRATA_ENOSPC;
    case ENOENT: return STRATA_ENOTFOUND;
    case EEXIST: return STRATA_EEXISTS;
    case EINVAL: return STRATA_EINVAL;
    case ENOMEM: return STRATA_EBUSY;
    case EACCES:
    case EPERM: return STRATA_EFORBIDDEN;
    case EAGAIN: return STRATA_EBUSY;
    case ETIMEDOUT: return STRATA_ETIMEOUT;
    case ECANCELED: return STRATA_ECANCELED;
    default: return STRATA_EIO;
    }
}

void strata_errorf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
