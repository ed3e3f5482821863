#include "query/pattern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

/* A node is a literal or a capture; captures and literals alternate after the first node. */
struct pnode {
    bool capture;
    bool named;
    struct slice text; /* literal bytes, or the capture name */
};

struct pattern {
    char *src; /* owned copy of the pattern text; nodes point into it */
    struct pnode *nodes;
    uint32_t n;
    struct slice *names;
    uint32_t n_names;
};

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* At p[i] == '<': the length of a capture `<name>` or `<_>`, or 0 when it is literal text. */
static size_t capture_len(const char *p, size_t i, size_t n)
{
    size_t j = i + 1;
    if (j >= n || !name_char(p[j], true))
        return 0;
    while (j < n && name_char(p[j], false))
        j++;
    if (j >= n || p[j] != '>')
        return 0;
    return j + 1 - i;
}

int pattern_compile(struct slice text, bool need_capture, struct pattern **out, char *err,
                    size_t errlen)
{
    struct pattern *pt = xcalloc(1, sizeof(*pt));
    pt->src = xstrndup(text.ptr ? text.ptr : "", text.len);
    const char *p = pt->src;
    size_t n = text.len, i = 0, lit_start = 0;
    uint32_t cap = 8;
    pt->nodes = xmallocarray(cap, sizeof(*pt->nodes));
#define PUSH(node_)                                                        \
    do {                                                                   \
        if (pt->n == cap) {                                                \
            cap *= 2;                                                      \
            pt->nodes = xreallocarray(pt->nodes, cap, sizeof(*pt->nodes)); \
        }                                                                  \
        pt->nodes[pt->n++] = (node_);                                      \
    } while (0)
    while (i < n) {
        size_t cl = p[i] == '<' ? capture_len(p, i, n) : 0;
        if (!cl) {
            i++;
            continue;
        }
        if (i > lit_start)
            PUSH(((struct pnode){false, false, {p + lit_start, i - lit_start}}));
        struct slice name = {p + i + 1, cl - 2};
        bool named = !(name.len == 1 && name.ptr[0] == '_');
        if (pt->n > 0 && pt->nodes[pt->n - 1].capture) {
            snprintf(err, errlen, "found consecutive capture '%.*s': %.*s", (int)(cl), p + i,
                     (int)text.len, p);
            goto fail;
        }
        PUSH(((struct pnode){true, named, name}));
        i += cl;
        lit_start = i;
    }
    if (n > lit_start)
        PUSH(((struct pnode){false, false, {p + lit_start, n - lit_start}}));
#undef PUSH
    pt->names = xmallocarray(pt->n ? pt->n : 1, sizeof(*pt->names));
    for (uint32_t k = 0; k < pt->n; k++) {
        if (!pt->nodes[k].capture || !pt->nodes[k].named)
            continue;
        for (uint32_t j = 0; j < pt->n_names; j++)
            if (slice_eq(pt->names[j], pt->nodes[k].text)) {
                snprintf(err, errlen, "duplicate capture name (%.*s): %.*s",
                         (int)pt->nodes[k].text.len, pt->nodes[k].text.ptr, (int)text.len, p);
                goto fail;
            }
        pt->names[pt->n_names++] = pt->nodes[k].text;
    }
    if (pt->n == 0) {
        snprintf(err, errlen, "syntax error: unexpected $end, expecting IDENTIFIER or LITERAL");
        goto fail;
    }
    if (need_capture && pt->n_names == 0) {
        snprintf(err, errlen, "at least one capture is required: %.*s", (int)text.len, p);
        goto fail;
    }
    *out = pt;
    return 0;
fail:
    pattern_free(pt);
    return STRATA_EPARSE;
}

void pattern_free(struct pattern *p)
{
    if (!p)
        return;
    free(p->src);
    free(p->nodes);
    free(p->names);
    free(p);
}

uint32_t pattern_names(const struct pattern *p, const struct slice **names)
{
    *names = p->names;
    return p->n_names;
}

static const char *find(struct slice hay, struct slice needle)
{
    if (needle.len == 0)
        return hay.ptr;
    if (hay.len < needle.len)
        return NULL;
    return memmem(hay.ptr, hay.len, needle.ptr, needle.len);
}

uint32_t pattern_extract(const struct pattern *p, struct slice in, struct slice *caps)
{
    uint32_t nc = 0, k = 0;
    if (in.len == 0 || p->n == 0)
        return 0;
    if (!p->nodes[0].capture) {
        struct slice lit = p->nodes[0].text;
        if (in.len < lit.len || memcmp(in.ptr, lit.ptr, lit.len) != 0)
            return 0;
        in.ptr += lit.len;
        in.len -= lit.len;
        k = 1;
    }
    while (k < p->n) {
        const struct pnode *c = &p->nodes[k];
        if (k + 1 >= p->n) { /* ends on a capture: it takes the rest */
            if (c->named)
                caps[nc++] = in;
            return nc;
        }
        struct slice lit = p->nodes[k + 1].text;
        k += 2;
        const char *at = find(in, lit);
        if (!at) { /* a missed literal: the capture runs to the end */
            if (c->named)
                caps[nc++] = in;
            return nc;
        }
        size_t off = (size_t)(at - in.ptr);
        if (c->named)
            caps[nc++] = (struct slice){in.ptr, off};
        in.ptr += off + lit.len;
        in.len -= off + lit.len;
    }
    return nc;
}

bool pattern_test(const struct pattern *p, struct slice in)
{
    uint32_t k = 0;
    if (in.len == 0 || p->n == 0)
        return false;
    if (!p->nodes[0].capture) {
        struct slice lit = p->nodes[0].text;
        if (in.len < lit.len || memcmp(in.ptr, lit.ptr, lit.len) != 0)
            return false;
        in.ptr += lit.len;
        in.len -= lit.len;
        k = 1;
    }
    while (k < p->n) {
        if (k + 1 >= p->n)
            return true; /* a final capture takes whatever is left */
        struct slice lit = p->nodes[k + 1].text;
        k += 2;
        const char *at = find(in, lit);
        if (!at)
            return false;
        size_t off = (size_t)(at - in.ptr);
        in.ptr += off + lit.len;
        in.len -= off + lit.len;
    }
    return in.len == 0;
}
