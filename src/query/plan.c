#include "query/plan.h"

#include <stdio.h>

#include "core/err.h"

int plan_parse_logql(struct slice text, struct arena *a, struct plan *out, char *err, size_t errlen)
{
    size_t used;
    int rc = selector_parse(text, a, &out->sel, &used, err, errlen);
    if (rc)
        return rc;
    while (used < text.len && (text.ptr[used] == ' ' || text.ptr[used] == '\n' ||
                               text.ptr[used] == '\t' || text.ptr[used] == '\r'))
        used++;
    if (used != text.len) {
        snprintf(err, errlen, "parse error at line 1, col %zu: syntax error: unexpected input",
                 used + 1);
        selector_release(&out->sel);
        return STRATA_EPARSE;
    }
    return 0;
}

void plan_release(struct plan *p)
{
    selector_release(&p->sel);
}
