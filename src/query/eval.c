#include "query/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "query/regex.h"

struct ectx {
    struct tier *chain;
    const char *tenant;
    int64_t start, step;
    uint32_t n_steps;
    struct query_limits lim;
    struct arena *a;
    struct query_stats *stats;
    char *err;
    size_t errlen;
    enum result_order order;
};

static struct series *new_series(struct ectx *c, const struct label *l, uint32_t n)
{
    struct series *s = arena_calloc(c->a, 1, sizeof(*s));
    s->labels = l;
    s->n_labels = n;
    s->v = arena_calloc(c->a, c->n_steps, sizeof(double));
    s->has = arena_calloc(c->a, c->n_steps, 1);
    return s;
}

static void scalar_matrix(struct ectx *c, double v, bool scalar, struct matrix *out)
{
    memset(out, 0, sizeof(*out));
    out->n_steps = c->n_steps;
    out->s = new_series(c, NULL, 0);
    out->n = 1;
    out->scalar = scalar;
    for (uint32_t k = 0; k < c->n_steps; k++) {
        out->s->v[k] = v;
        out->s->has[k] = 1;
    }
}

/* Series sets being built, keyed by label set. */
struct sset {
    struct series *v;
    uint32_t n, cap;
    uint64_t *hash;
};

static uint64_t lhash(const struct label *v, uint32_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < n; i++) {
        h = hash64_seed(v[i].name.ptr, v[i].name.len, h);
        h = hash64_seed(v[i].value.ptr, v[i].value.len, h + 1);
    }
    return h;
}

static bool leq(const struct label *a, uint32_t na, const struct label *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (!slice_eq(a[i].name, b[i].name) || !slice_eq(a[i].value, b[i].value))
            return false;
    return true;
}

static struct series *sset_get(struct ectx *c, struct sset *s, const struct label *l, uint32_t n)
{
    uint64_t h = lhash(l, n);
    for (uint32_t i = 0; i < s->n; i++)
        if (s->hash[i] == h && leq(s->v[i].labels, s->v[i].n_labels, l, n))
            return &s->v[i];
    if (s->n == s->cap) {
        uint32_t nc = s->cap ? s->cap * 2 : 16;
        s->v = arena_realloc(c->a, s->v, s->cap * sizeof(*s->v), nc * sizeof(*s->v));
        s->hash = xreallocarray(s->hash, nc, sizeof(*s->hash));
        s->cap = nc;
    }
    struct series *ns = &s->v[s->n];
    s->hash[s->n++] = h;
    memset(ns, 0, sizeof(*ns));
    ns->labels = l;
    ns->n_labels = n;
    ns->v = arena_calloc(c->a, c->n_steps, sizeof(double));
    ns->has = arena_calloc(c->a, c->n_steps, 1);
    return ns;
}

static int cmp_series_labels(const void *a, const void *b)
{
    const struct series *x = a, *y = b;
    return engine_labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static void sset_finish(struct sset *s, struct matrix *out, uint32_t n_steps)
{
    /* drop series without any value */
    uint32_t w = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        bool any = false;
        for (uint32_t k = 0; k < n_steps && !any; k++)
            any = s->v[i].has[k];
        if (any)
            s->v[w++] = s->v[i];
    }
    if (w > 1)
        qsort(s->v, w, sizeof(*s->v), cmp_series_labels);
    memset(out, 0, sizeof(*out));
    out->s = s->v;
    out->n = w;
    out->n_steps = n_steps;
    free(s->hash);
}

/* Labels kept by a grouping (by: only the names; without: all but the names). */
static uint32_t group_labels(struct ectx *c, const struct grouping *g, const struct label *v,
                             uint32_t n, const struct label **out)
{
    if (!g->present) {
        *out = NULL;
        return 0;
    }
    struct label *o = arena_alloc(c->a, (n ? n : 1) * sizeof(*o));
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool listed = false;
        for (uint32_t j = 0; j < g->n && !listed; j++)
            listed = slice_eq(v[i].name, g->names[j]);
        if (g->without ? !listed : listed)
            o[k++] = v[i];
    }
    *out = o;
    return k;
}

static int eval(struct ectx *c, const struct expr *e, struct matrix *out);

/* ---------------------------------------------------------------- vector aggregations */

struct agg_state {
    double value, mean, aux;
    uint64_t count;
};

static int eval_vecagg(struct ectx *c, const struct expr *e, struct matrix *out)
{
    if (engine_can_fold(e, e->arg)) {
        struct range_eval r = {c->tenant, c->start, c->step, c->n_steps, c->lim, &e->grp};
        return engine_range(c->chain, e->arg, &r, c->a, out, c->stats, c->err, c->errlen);
    }
    struct matrix in;
    int rc = eval(c, e->arg, &in);
    if (rc)
        return rc;
    if (in.scalar) {
        snprintf(c->err, c->errlen,
                 "parse error : expected type vector in aggregation "
                 "expression, got scalar");
        return STRATA_EPARSE;
    }
    if (e->vop == VEC_SORT || e->vop == VEC_SORT_DESC) {
        *out = in;
        c->order = e->vop == VEC_SORT ? ORDER_VALUE_ASC : ORDER_VALUE_DESC;
        return 0;
    }
    if (e->vop == VEC_TOPK || e->vop == VEC_BOTTOMK) {
        /* per step and group, the k largest (smallest) values keep their series */
        uint32_t k = (uint32_t)e->param;
        struct matrix o = in;
        o.s = arena_alloc(c->a, (in.n ? in.n : 1) * sizeof(*o.s));
        for (uint32_t i = 0; i < in.n; i++) {
            o.s[i] = in.s[i];
            o.s[i].has = arena_calloc(c->a, c->n_steps, 1);
        }
        /* group index per series */
        uint32_t *gid = xmallocarray(in.n ? in.n : 1, sizeof(uint32_t));
        struct sset groups = {0};
        for (uint32_t i = 0; i < in.n; i++) {
            const struct label *gl;
            uint32_t gn = group_labels(c, &e->grp, in.s[i].labels, in.s[i].n_labels, &gl);
            struct series *g = sset_get(c, &groups, gl, gn);
            gid[i] = (uint32_t)(g - groups.v);
        }
        uint32_t *pick = xmallocarray(in.n ? in.n : 1, sizeof(uint32_t));
        for (uint32_t step = 0; step < c->n_steps; step++) {
            for (uint32_t g = 0; g < groups.n; g++) {
                uint32_t np = 0;
                for (uint32_t i = 0; i < in.n; i++)
                    if (gid[i] == g && in.s[i].has[step])
                        pick[np++] = i;
                /* select k by repeated extraction (k and series counts are small) */
                for (uint32_t sel = 0; sel < k && sel < np; sel++) {
                    uint32_t best = sel;
                    for (uint32_t j = sel + 1; j < np; j++) {
                        double a = in.s[pick[j]].v[step], b = in.s[pick[best]].v[step];
                        bool better = e->vop == VEC_TOPK ? (a > b || (isnan(b) && !isnan(a)))
                                                         : (a < b || (isnan(b) && !isnan(a)));
                        if (better)
                            best = j;
                    }
                    uint32_t t = pick[sel];
                    pick[sel] = pick[best];
                    pick[best] = t;
                    o.s[pick[sel]].has[step] = 1;
                }
            }
        }
        free(pick);
        free(gid);
        free(groups.hash);
        uint32_t w = 0;
        for (uint32_t i = 0; i < o.n; i++) {
            bool any = false;
            for (uint32_t s = 0; s < c->n_steps && !any; s++)
                any = o.s[i].has[s];
            if (any)
                o.s[w++] = o.s[i];
        }
        o.n = w;
        *out = o;
        c->order = e->vop == VEC_TOPK ? ORDER_VALUE_DESC : ORDER_VALUE_ASC;
        return 0;
    }
    struct sset groups = {0};
    uint32_t *gid = xmallocarray(in.n ? in.n : 1, sizeof(uint32_t));
    for (uint32_t i = 0; i < in.n; i++) {
        const struct label *gl;
        uint32_t gn = group_labels(c, &e->grp, in.s[i].labels, in.s[i].n_labels, &gl);
        struct series *g = sset_get(c, &groups, gl, gn);
        gid[i] = (uint32_t)(g - groups.v);
    }
    struct agg_state *st = xcalloc(groups.n ? groups.n : 1, sizeof(*st));
    for (uint32_t step = 0; step < c->n_steps; step++) {
        memset(st, 0, (groups.n ? groups.n : 1) * sizeof(*st));
        for (uint32_t i = 0; i < in.n; i++) {
            if (!in.s[i].has[step])
                continue;
            struct agg_state *a = &st[gid[i]];
            double v = in.s[i].v[step];
            a->count++;
            double n = (double)a->count;
            switch (e->vop) {
            case VEC_SUM: a->value = a->count == 1 ? v : a->value + v; break;
            case VEC_AVG:
                if (a->count == 1) {
                    a->mean = v;
                } else if (isinf(a->mean) &&
                           ((isinf(v) && (a->mean > 0) == (v > 0)) || (!isinf(v) && !isnan(v)))) {
                    /* the mean stays infinite */
                } else {
                    a->mean += v / n - a->mean / n;
                }
                break;
            case VEC_MIN:
                if (a->count == 1 || a->value > v || isnan(a->value))
                    a->value = v;
                break;
            case VEC_MAX:
                if (a->count == 1 || a->value < v || isnan(a->value))
                    a->value = v;
                break;
            case VEC_STDDEV:
            case VEC_STDVAR: {
                double delta = v - a->mean;
                a->mean += delta / n;
                a->aux += delta * (v - a->mean);
                break;
            }
            default: break;
            }
        }
        for (uint32_t g = 0; g < groups.n; g++) {
            struct agg_state *a = &st[g];
            if (!a->count)
                continue;
            double v = 0;
            switch (e->vop) {
            case VEC_SUM:
            case VEC_MIN:
            case VEC_MAX: v = a->value; break;
            case VEC_AVG: v = a->mean; break;
            case VEC_COUNT: v = (double)a->count; break;
            case VEC_STDVAR: v = a->aux / (double)a->count; break;
            case VEC_STDDEV: v = sqrt(a->aux / (double)a->count); break;
            default: break;
            }
            groups.v[g].v[step] = v;
            groups.v[g].has[step] = 1;
        }
    }
    free(st);
    free(gid);
    sset_finish(&groups, out, c->n_steps);
    c->order = ORDER_LABELS;
    return 0;
}

/* ---------------------------------------------------------------- binary operators */

static bool is_comparison(enum bin_op op)
{
    return op >= BIN_EQ && op <= BIN_LE;
}

/* Apply op; *keep false when a comparison is false. */
static double binop(enum bin_op op, double l, double r, bool *keep)
{
    *keep = true;
    switch (op) {
    case BIN_ADD: return l + r;
    case BIN_SUB: return l - r;
    case BIN_MUL: return l * r;
    case BIN_DIV: return l / r;
    case BIN_MOD: return fmod(l, r);
    case BIN_POW: return pow(l, r);
    case BIN_EQ: *keep = l == r; return l;
    case BIN_NE: *keep = l != r; return l;
    case BIN_GT: *keep = l > r; return l;
    case BIN_GE: *keep = l >= r; return l;
    case BIN_LT: *keep = l < r; return l;
    case BIN_LE: *keep = l <= r; return l;
    default: return l;
    }
}

/* The matching signature of a series: on (...) keeps, ignoring (...) removes labels. */
static uint64_t signature(const struct vector_matching *m, const struct label *v, uint32_t n)
{
    uint64_t h = 7;
    for (uint32_t i = 0; i < n; i++) {
        bool listed = false;
        for (uint32_t j = 0; m->present && j < m->n && !listed; j++)
            listed = slice_eq(v[i].name, m->labels[j]);
        bool use = !m->present ? true : (m->on ? listed : !listed);
        if (!use)
            continue;
        h = hash64_seed(v[i].name.ptr, v[i].name.len, h);
        h = hash64_seed(v[i].value.ptr, v[i].value.len, h + 1);
    }
    return h;
}

/* Result labels of a one-to-one or grouped match (Prometheus' resultMetric). */
static uint32_t result_labels(struct ectx *c, const struct expr *e, const struct series *l,
                              const struct series *r, const struct label **out)
{
    const struct vector_matching *m = &e->match;
    struct label *o = arena_alloc(c->a, (l->n_labels + m->n_include + 1) * sizeof(*o));
    uint32_t k = 0;
    for (uint32_t i = 0; i < l->n_labels; i++) {
        if (m->card == CARD_ONE_TO_ONE && m->present) {
            bool listed = false;
            for (uint32_t j = 0; j < m->n && !listed; j++)
                listed = slice_eq(l->labels[i].name, m->labels[j]);
            if (m->on ? !listed : listed)
                continue;
        }
        bool included = false;
        for (uint32_t j = 0; j < m->n_include && !included; j++)
            included = slice_eq(l->labels[i].name, m->include[j]);
        if (!included)
            o[k++] = l->labels[i];
    }
    for (uint32_t j = 0; j < m->n_include; j++)
        for (uint32_t i = 0; i < r->n_labels; i++)
            if (slice_eq(r->labels[i].name, m->include[j]) && r->labels[i].value.len)
                o[k++] = r->labels[i];
    labels_sort(o, k);
    *out = o;
    return k;
}

static int eval_binary(struct ectx *c, const struct expr *e, struct matrix *out)
{
    struct matrix l, r;
    int rc = eval(c, e->lhs, &l);
    if (!rc)
        rc = eval(c, e->rhs, &r);
    if (rc)
        return rc;
    enum bin_op op = e->bop;
    bool cmp = is_comparison(op);
    if (l.scalar && r.scalar) {
        struct matrix o;
        scalar_matrix(c, 0, true, &o);
        for (uint32_t k = 0; k < c->n_steps; k++) {
            bool keep;
            double v = binop(op, l.s->v[k], r.s->v[k], &keep);
            if (cmp)
                v = keep ? 1 : 0;
            o.s->v[k] = v;
        }
        *out = o;
        return 0;
    }
    if (l.scalar || r.scalar) {
        if (op == BIN_AND || op == BIN_OR || op == BIN_UNLESS) {
            snprintf(c->err, c->errlen,
                     "parse error : set operator \"%s\" not allowed in binary scalar expression",
                     bin_op_name(op));
            return STRATA_EPARSE;
        }
        const struct matrix *vec = l.scalar ? &r : &l, *sc = l.scalar ? &l : &r;
        struct sset set = {0};
        for (uint32_t i = 0; i < vec->n; i++) {
            const struct series *s = &vec->s[i];
            struct series *o = sset_get(c, &set, s->labels, s->n_labels);
            for (uint32_t k = 0; k < c->n_steps; k++) {
                if (!s->has[k])
                    continue;
                double lv = l.scalar ? sc->s->v[k] : s->v[k];
                double rv = l.scalar ? s->v[k] : sc->s->v[k];
                bool keep;
                double v = binop(op, lv, rv, &keep);
                if (cmp) {
                    if (e->return_bool) {
                        v = keep ? 1 : 0;
                    } else {
                        if (!keep)
                            continue;
                        v = s->v[k]; /* the vector's value, whichever side it is on */
                    }
                }
                o->v[k] = v;
                o->has[k] = 1;
            }
        }
        sset_finish(&set, out, c->n_steps);
        return 0;
    }
    /* vector op vector */
    const struct vector_matching *m = &e->match;
    uint64_t *ls = xmallocarray(l.n ? l.n : 1, sizeof(uint64_t));
    uint64_t *rs = xmallocarray(r.n ? r.n : 1, sizeof(uint64_t));
    for (uint32_t i = 0; i < l.n; i++)
        ls[i] = signature(m, l.s[i].labels, l.s[i].n_labels);
    for (uint32_t i = 0; i < r.n; i++)
        rs[i] = signature(m, r.s[i].labels, r.s[i].n_labels);
    struct sset set = {0};
    rc = 0;
    if (op == BIN_AND || op == BIN_UNLESS) {
        for (uint32_t i = 0; i < l.n; i++) {
            struct series *o = sset_get(c, &set, l.s[i].labels, l.s[i].n_labels);
            for (uint32_t k = 0; k < c->n_steps; k++) {
                if (!l.s[i].has[k])
                    continue;
                bool found = false;
                for (uint32_t j = 0; j < r.n && !found; j++)
                    found = r.s[j].has[k] && rs[j] == ls[i];
                if (found == (op == BIN_AND)) {
                    o->v[k] = l.s[i].v[k];
                    o->has[k] = 1;
                }
            }
        }
    } else if (op == BIN_OR) {
        for (uint32_t i = 0; i < l.n; i++) {
            struct series *o = sset_get(c, &set, l.s[i].labels, l.s[i].n_labels);
            for (uint32_t k = 0; k < c->n_steps; k++)
                if (l.s[i].has[k]) {
                    o->v[k] = l.s[i].v[k];
                    o->has[k] = 1;
                }
        }
        for (uint32_t j = 0; j < r.n; j++) {
            struct series *o = sset_get(c, &set, r.s[j].labels, r.s[j].n_labels);
            for (uint32_t k = 0; k < c->n_steps; k++) {
                if (!r.s[j].has[k])
                    continue;
                bool found = false;
                for (uint32_t i = 0; i < l.n && !found; i++)
                    found = l.s[i].has[k] && ls[i] == rs[j];
                if (!found) {
                    o->v[k] = r.s[j].v[k];
                    o->has[k] = 1;
                }
            }
        }
    } else {
        /* the "one" side must be unique per signature at each step */
        bool swap = m->card == CARD_ONE_TO_MANY;
        const struct matrix *many = swap ? &r : &l, *one = swap ? &l : &r;
        const uint64_t *ms = swap ? rs : ls, *os = swap ? ls : rs;
        for (uint32_t k = 0; k < c->n_steps && !rc; k++) {
            for (uint32_t i = 0; i < many->n && !rc; i++) {
                if (!many->s[i].has[k])
                    continue;
                int match = -1;
                for (uint32_t j = 0; j < one->n; j++) {
                    if (!one->s[j].has[k] || os[j] != ms[i])
                        continue;
                    if (match >= 0) {
                        struct slice key =
                            engine_labels_key(c->a, one->s[j].labels, one->s[j].n_labels);
                        snprintf(c->err, c->errlen,
                                 "found duplicate series for the match group %.*s on the %s "
                                 "hand-side of the operation: many-to-many matching not "
                                 "allowed: matching labels must be unique on one side",
                                 (int)key.len, key.ptr, swap ? "left" : "right");
                        rc = STRATA_EINVAL;
                        break;
                    }
                    match = (int)j;
                }
                if (rc || match < 0)
                    continue;
                if (m->card == CARD_ONE_TO_ONE) {
                    for (uint32_t i2 = 0; i2 < i; i2++)
                        if (many->s[i2].has[k] && ms[i2] == ms[i]) {
                            snprintf(c->err, c->errlen,
                                     "multiple matches for labels: many-to-one matching must be "
                                     "explicit (group_left/group_right)");
                            rc = STRATA_EINVAL;
                            break;
                        }
                    if (rc)
                        break;
                }
                const struct series *ls_ = swap ? &one->s[match] : &many->s[i];
                const struct series *rs_ = swap ? &many->s[i] : &one->s[match];
                bool keep;
                double v = binop(op, ls_->v[k], rs_->v[k], &keep);
                if (cmp) {
                    if (e->return_bool)
                        v = keep ? 1 : 0;
                    else if (!keep)
                        continue;
                }
                const struct label *ol;
                uint32_t on_ = result_labels(c, e, swap ? rs_ : ls_, swap ? ls_ : rs_, &ol);
                struct series *o = sset_get(c, &set, ol, on_);
                o->v[k] = v;
                o->has[k] = 1;
            }
        }
    }
    free(ls);
    free(rs);
    if (rc) {
        free(set.hash);
        return rc;
    }
    sset_finish(&set, out, c->n_steps);
    return 0;
}

/* ---------------------------------------------------------------- label_replace */

static int eval_label_replace(struct ectx *c, const struct expr *e, struct matrix *out)
{
    struct matrix in;
    int rc = eval(c, e->arg, &in);
    if (rc)
        return rc;
    struct sset set = {0};
    int ng = regex_group_count(e->regex);
    long *ov = xmallocarray((size_t)(ng + 1) * 2, sizeof(long));
    for (uint32_t i = 0; i < in.n; i++) {
        const struct series *s = &in.s[i];
        struct slice src = {"", 0};
        for (uint32_t j = 0; j < s->n_labels; j++)
            if (slice_eq(s->labels[j].name, e->src))
                src = s->labels[j].value;
        const struct label *nl = s->labels;
        uint32_t nn = s->n_labels;
        if (regex_match_groups(e->regex, src, ov, ng + 1) == 1) {
            struct buf b;
            buf_init(&b, 1 << 16);
            int brc = 0;
            for (size_t k = 0; k < e->replacement.len && !brc; k++) {
                char ch = e->replacement.ptr[k];
                if (ch == '$' && k + 1 < e->replacement.len) {
                    size_t j = k + 1;
                    bool brace = e->replacement.ptr[j] == '{';
                    if (brace)
                        j++;
                    size_t st = j;
                    while (j < e->replacement.len &&
                           ((e->replacement.ptr[j] >= '0' && e->replacement.ptr[j] <= '9') ||
                            (e->replacement.ptr[j] >= 'a' && e->replacement.ptr[j] <= 'z') ||
                            (e->replacement.ptr[j] >= 'A' && e->replacement.ptr[j] <= 'Z') ||
                            e->replacement.ptr[j] == '_'))
                        j++;
                    struct slice name = {e->replacement.ptr + st, j - st};
                    if (name.len &&
                        (!brace || (j < e->replacement.len && e->replacement.ptr[j] == '}'))) {
                        int g = -1;
                        if (name.ptr[0] >= '0' && name.ptr[0] <= '9') {
                            g = 0;
                            for (size_t q = 0; q < name.len && g < 1000; q++)
                                g = name.ptr[q] >= '0' && name.ptr[q] <= '9'
                                        ? g * 10 + (name.ptr[q] - '0')
                                        : 100000;
                        } else {
                            for (int q = 1; q <= ng; q++) {
                                const char *gn = regex_group_name(e->regex, q);
                                if (gn && slice_eq_str(name, gn))
                                    g = q;
                            }
                        }
                        if (g >= 0 && g <= ng && ov[2 * g] >= 0)
                            brc = buf_append(&b, src.ptr + ov[2 * g],
                                             (size_t)(ov[2 * g + 1] - ov[2 * g]));
                        k = brace ? j : j - 1;
                        continue;
                    }
                }
                brc = buf_append_char(&b, ch);
            }
            struct slice val = arena_slice_dup(c->a, buf_slice(&b));
            buf_release(&b);
            struct label *v = arena_alloc(c->a, (s->n_labels + 1) * sizeof(*v));
            uint32_t n = 0;
            for (uint32_t j = 0; j < s->n_labels; j++)
                if (!slice_eq(s->labels[j].name, e->dst))
                    v[n++] = s->labels[j];
            if (val.len)
                v[n++] = (struct label){e->dst, val};
            labels_sort(v, n);
            nl = v;
            nn = n;
        }
        struct series *o = sset_get(c, &set, nl, nn);
        for (uint32_t k = 0; k < c->n_steps; k++)
            if (s->has[k]) {
                o->v[k] = s->v[k];
                o->has[k] = 1;
            }
    }
    free(ov);
    sset_finish(&set, out, c->n_steps);
    return 0;
}

/* ---------------------------------------------------------------- the tree */

static int eval(struct ectx *c, const struct expr *e, struct matrix *out)
{
    switch (e->kind) {
    case EXPR_NUMBER: scalar_matrix(c, e->value, true, out); return 0;
    case EXPR_VECTOR:
        scalar_matrix(c, e->value, false, out);
        c->order = ORDER_LABELS;
        return 0;
    case EXPR_RANGE: {
        struct range_eval r = {c->tenant, c->start, c->step, c->n_steps, c->lim, NULL};
        c->order = ORDER_LABELS;
        return engine_range(c->chain, e, &r, c->a, out, c->stats, c->err, c->errlen);
    }
    case EXPR_VECAGG: return eval_vecagg(c, e, out);
    case EXPR_BINARY: {
        int rc = eval_binary(c, e, out);
        c->order = ORDER_LABELS;
        return rc;
    }
    case EXPR_LABEL_REPLACE: {
        int rc = eval_label_replace(c, e, out);
        c->order = ORDER_LABELS;
        return rc;
    }
    case EXPR_LOG:
        snprintf(c->err, c->errlen, "parse error : a log query is not a metric expression");
        return STRATA_EPARSE;
    }
    return STRATA_EINTERNAL;
}

int eval_metric_query(struct tier *chain, const struct metric_query *q, struct arena *a,
                      struct metric_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int64_t step = q->step > 0 ? q->step : NS_PER_SEC;
    int64_t span = q->end - q->start;
    if (span < 0)
        span = 0;
    uint64_t n_steps = (uint64_t)(span / step) + 1;
    if (n_steps > 11001) {
        snprintf(err, errlen,
                 "exceeded maximum resolution of 11,000 points per time series. "
                 "Try increasing the value of the step parameter");
        return STRATA_ELIMIT;
    }
    struct ectx c = {
        .chain = chain,
        .tenant = q->tenant,
        .start = q->start,
        .step = step,
        .n_steps = (uint32_t)n_steps,
        .lim = q->lim,
        .a = a,
        .stats = &out->stats,
        .err = err,
        .errlen = errlen,
        .order = ORDER_LABELS,
    };
    if (errlen)
        err[0] = '\0';
    int rc = eval(&c, q->plan->root, &out->m);
    if (rc)
        return rc;
    out->start = q->start;
    out->step = step;
    out->order = c.order;
    if (q->lim.max_series && !out->m.scalar && out->m.n > q->lim.max_series) {
        snprintf(err, errlen,
                 "maximum number of series (%u) reached for a single query; consider reducing "
                 "query cardinality by adding more specific stream selectors, reducing the time "
                 "range, or aggregating results with functions like sum(), count() or topk()",
                 q->lim.max_series);
        return STRATA_ELIMIT;
    }
    return 0;
}
