#include "ingest/otlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "ingest/pbwire.h"

#define MAX_NESTING 32
#define JSON_DEPTH  (12 + 2 * MAX_NESTING)

/* ---- the model ---- */

enum ov_type { OV_EMPTY, OV_STRING, OV_BOOL, OV_INT, OV_DOUBLE, OV_ARRAY, OV_KVLIST, OV_BYTES };

struct okv;

struct ov {
    enum ov_type type;
    struct slice s; /* OV_STRING; OV_BYTES as base64 text */
    bool b;
    int64_t i;
    double d;
    struct ov *items; /* OV_ARRAY */
    struct okv *kv;   /* OV_KVLIST */
    uint32_t n;
};

struct okv {
    struct slice key;
    struct ov val;
};

struct orec {
    uint64_t time, observed;
    int64_t severity;
    struct slice severity_text, trace_id, span_id, event_name; /* ids as lowercase hex */
    struct ov body;
    struct okv *attrs;
    uint32_t n_attrs, cap_attrs;
    uint32_t dropped, flags;
};

struct oscope {
    struct slice name, version;
    struct okv *attrs;
    uint32_t n_attrs, cap_attrs, dropped;
    struct orec *recs;
    uint32_t n_recs, cap_recs;
};

struct ores {
    struct okv *attrs;
    uint32_t n_attrs, cap_attrs;
    struct oscope *scopes;
    uint32_t n_scopes, cap_scopes;
};

struct oreq {
    struct ores *res;
    uint32_t n_res, cap_res;
};

/* Append one zeroed element to an arena array, growing it by doubling. */
static void *grow(struct arena *a, void **arr, uint32_t *n, uint32_t *cap, size_t size)
{
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 4;
        *arr = arena_realloc(a, *arr, (size_t)*cap * size, (size_t)nc * size);
        *cap = nc;
    }
    void *p = (char *)*arr + (size_t)(*n)++ * size;
    memset(p, 0, size);
    return p;
}
#define PUSH(a, arr, n, cap) grow((a), (void **)&(arr), &(n), &(cap), sizeof(*(arr)))

static const char hexd[] = "0123456789abcdef";

static struct slice to_hex(struct arena *a, struct slice raw)
{
    char *o = arena_alloc(a, raw.len * 2 + 1);
    for (size_t i = 0; i < raw.len; i++) {
        o[2 * i] = hexd[(unsigned char)raw.ptr[i] >> 4];
        o[2 * i + 1] = hexd[(unsigned char)raw.ptr[i] & 15];
    }
    o[raw.len * 2] = '\0';
    return (struct slice){o, raw.len * 2};
}

static struct slice to_base64(struct arena *a, struct slice raw)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)raw.ptr;
    size_t n = raw.len, olen = (n + 2) / 3 * 4;
    char *o = arena_alloc(a, olen + 1), *w = o;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *w++ = t[(v >> 18) & 63];
        *w++ = t[(v >> 12) & 63];
        *w++ = i + 1 < n ? t[(v >> 6) & 63] : '=';
        *w++ = i + 2 < n ? t[v & 63] : '=';
    }
    *w = '\0';
    return (struct slice){o, olen};
}

/* ---- protobuf ---- */

struct pctx {
    struct arena *a;
    const char *err; /* first problem */
};

static int pfail(struct pctx *c, const char *what)
{
    if (!c->err)
        c->err = what;
    return STRATA_EPARSE;
}

static int pb_anyvalue(struct pctx *c, struct slice msg, struct ov *v, int depth);

static int pb_keyvalue(struct pctx *c, struct slice msg, struct okv *kv, int depth)
{
    kv->key = (struct slice){"", 0}; /* a KeyValue without a key has an empty one */
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1) {
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "KeyValue.key must be a string");
            kv->key = f.bytes;
        } else if (f.num == 2) {
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "KeyValue.value must be an AnyValue");
            if (pb_anyvalue(c, f.bytes, &kv->val, depth + 1) < 0)
                return STRATA_EPARSE;
        }
    }
    return rc < 0 ? pfail(c, "truncated or malformed KeyValue") : 0;
}

static int pb_anyvalue(struct pctx *c, struct slice msg, struct ov *v, int depth)
{
    if (depth > MAX_NESTING)
        return pfail(c, "AnyValue nested too deeply");
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    memset(v, 0, sizeof(*v));
    while ((rc = pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1:
        case 7:
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "AnyValue string/bytes has the wrong wire type");
            v->type = f.num == 1 ? OV_STRING : OV_BYTES;
            v->s = f.num == 1 ? f.bytes : to_base64(c->a, f.bytes);
            break;
        case 2:
        case 3:
            if (pb_want(&f, PB_VARINT) < 0)
                return pfail(c, "AnyValue bool/int has the wrong wire type");
            v->type = f.num == 2 ? OV_BOOL : OV_INT;
            v->b = f.u != 0;
            v->i = (int64_t)f.u;
            break;
        case 4:
            if (pb_want(&f, PB_I64) < 0)
                return pfail(c, "AnyValue double has the wrong wire type");
            v->type = OV_DOUBLE;
            memcpy(&v->d, &f.u, sizeof(v->d));
            break;
        case 5:
        case 6: {
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "AnyValue array/kvlist has the wrong wire type");
            bool arr = f.num == 5;
            v->type = arr ? OV_ARRAY : OV_KVLIST;
            v->items = NULL;
            v->kv = NULL;
            v->n = 0;
            uint32_t cap = 0;
            struct pb_reader m = pb_reader_make(f.bytes);
            struct pb_field g;
            int mr;
            while ((mr = pb_next(&m, &g)) > 0) {
                if (g.num != 1)
                    continue;
                if (pb_want(&g, PB_LEN) < 0)
                    return pfail(c, "array/kvlist values must be messages");
                if (arena_over_limit(c->a))
                    return STRATA_ETOOLARGE;
                if (arr) {
                    struct ov *e = PUSH(c->a, v->items, v->n, cap);
                    if (pb_anyvalue(c, g.bytes, e, depth + 1) < 0)
                        return STRATA_EPARSE;
                } else {
                    struct okv *e = PUSH(c->a, v->kv, v->n, cap);
                    if (pb_keyvalue(c, g.bytes, e, depth + 1) < 0)
                        return STRATA_EPARSE;
                }
            }
            if (mr < 0)
                return pfail(c, "truncated or malformed ArrayValue/KeyValueList");
            break;
        }
        default: break;
        }
    }
    return rc < 0 ? pfail(c, "truncated or malformed AnyValue") : 0;
}

static int pb_attr(struct pctx *c, const struct pb_field *f, struct okv **arr, uint32_t *n,
                   uint32_t *cap)
{
    if (pb_want(f, PB_LEN) < 0)
        return pfail(c, "attributes must be KeyValue messages");
    if (arena_over_limit(c->a))
        return STRATA_ETOOLARGE;
    struct okv *kv = PUSH(c->a, *arr, *n, *cap);
    return pb_keyvalue(c, f->bytes, kv, 0);
}

static int pb_record(struct pctx *c, struct slice msg, struct orec *rec)
{
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1:
        case 11:
            if (pb_want(&f, PB_I64) < 0)
                return pfail(c, "LogRecord times must be fixed64");
            *(f.num == 1 ? &rec->time : &rec->observed) = f.u;
            break;
        case 2:
            if (pb_want(&f, PB_VARINT) < 0)
                return pfail(c, "LogRecord.severity_number must be a varint");
            rec->severity = (int32_t)(uint32_t)f.u;
            break;
        case 7:
            if (pb_want(&f, PB_VARINT) < 0)
                return pfail(c, "LogRecord.dropped_attributes_count must be a varint");
            rec->dropped = (uint32_t)f.u;
            break;
        case 8:
            if (pb_want(&f, PB_I32) < 0)
                return pfail(c, "LogRecord.flags must be fixed32");
            rec->flags = (uint32_t)f.u;
            break;
        case 3:
        case 12:
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "LogRecord strings have the wrong wire type");
            *(f.num == 3 ? &rec->severity_text : &rec->event_name) = f.bytes;
            break;
        case 9:
        case 10:
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "LogRecord ids must be bytes");
            *(f.num == 9 ? &rec->trace_id : &rec->span_id) = to_hex(c->a, f.bytes);
            break;
        case 5:
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "LogRecord.body must be an AnyValue");
            if (pb_anyvalue(c, f.bytes, &rec->body, 0) < 0)
                return STRATA_EPARSE;
            break;
        case 6:
            if (pb_attr(c, &f, &rec->attrs, &rec->n_attrs, &rec->cap_attrs) < 0)
                return STRATA_EPARSE;
            break;
        default: break;
        }
    }
    return rc < 0 ? pfail(c, "truncated or malformed LogRecord") : 0;
}

static int pb_scope_logs(struct pctx *c, struct slice msg, struct oscope *sc)
{
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1) {
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "ScopeLogs.scope must be a message");
            struct pb_reader s = pb_reader_make(f.bytes);
            struct pb_field g;
            int sr;
            while ((sr = pb_next(&s, &g)) > 0) {
                if (g.num == 1 || g.num == 2) {
                    if (pb_want(&g, PB_LEN) < 0)
                        return pfail(c, "scope name/version must be strings");
                    *(g.num == 1 ? &sc->name : &sc->version) = g.bytes;
                } else if (g.num == 3) {
                    if (pb_attr(c, &g, &sc->attrs, &sc->n_attrs, &sc->cap_attrs) < 0)
                        return STRATA_EPARSE;
                } else if (g.num == 4) {
                    if (pb_want(&g, PB_VARINT) < 0)
                        return pfail(c, "scope dropped_attributes_count must be a varint");
                    sc->dropped = (uint32_t)g.u;
                }
            }
            if (sr < 0)
                return pfail(c, "truncated or malformed InstrumentationScope");
        } else if (f.num == 2) {
            if (pb_want(&f, PB_LEN) < 0)
                return pfail(c, "ScopeLogs.log_records must be messages");
            if (arena_over_limit(c->a))
                return STRATA_ETOOLARGE;
            struct orec *rec = PUSH(c->a, sc->recs, sc->n_recs, sc->cap_recs);
            if (pb_record(c, f.bytes, rec) < 0)
                return STRATA_EPARSE;
        }
    }
    return rc < 0 ? pfail(c, "truncated or malformed ScopeLogs") : 0;
}

static int pb_request(struct pctx *c, struct slice msg, struct oreq *q)
{
    struct pb_reader r = pb_reader_make(msg);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 1)
            continue;
        if (pb_want(&f, PB_LEN) < 0)
            return pfail(c, "resource_logs must be messages");
        struct ores *rl = PUSH(c->a, q->res, q->n_res, q->cap_res);
        struct pb_reader m = pb_reader_make(f.bytes);
        struct pb_field g;
        int mr;
        while ((mr = pb_next(&m, &g)) > 0) {
            if (g.num == 1) {
                if (pb_want(&g, PB_LEN) < 0)
                    return pfail(c, "ResourceLogs.resource must be a message");
                struct pb_reader s = pb_reader_make(g.bytes);
                struct pb_field h;
                int sr;
                while ((sr = pb_next(&s, &h)) > 0)
                    if (h.num == 1 && pb_attr(c, &h, &rl->attrs, &rl->n_attrs, &rl->cap_attrs) < 0)
                        return STRATA_EPARSE;
                if (sr < 0)
                    return pfail(c, "truncated or malformed Resource");
            } else if (g.num == 2) {
                if (pb_want(&g, PB_LEN) < 0)
                    return pfail(c, "ResourceLogs.scope_logs must be messages");
                struct oscope *sc = PUSH(c->a, rl->scopes, rl->n_scopes, rl->cap_scopes);
                if (pb_scope_logs(c, g.bytes, sc) < 0)
                    return STRATA_EPARSE;
            }
        }
        if (mr < 0)
            return pfail(c, "truncated or malformed ResourceLogs");
    }
    return rc < 0 ? pfail(c, "truncated or malformed ExportLogsServiceRequest") : 0;
}

/* ---- JSON ---- */

struct jctx {
    struct json_reader r;
    struct arena *a;
};

static bool key_is(struct slice k, const char *camel, const char *snake)
{
    return slice_eq_str(k, camel) || (snake && slice_eq_str(k, snake));
}

/* A uint64 written as a string of digits or as a JSON number. */
static int j_u64(struct jctx *c, uint64_t *out)
{
    struct slice s;
    enum json_type t = json_peek(&c->r);
    if (t == JSON_STRING) {
        if (json_read_string(&c->r, c->a, &s) < 0)
            return STRATA_EPARSE;
    } else if (t == JSON_NUMBER) {
        if (json_read_number_raw(&c->r, &s) < 0)
            return STRATA_EPARSE;
    } else if (t == JSON_NULL) {
        *out = 0;
        return json_read_null(&c->r);
    } else {
        return json_fail(&c->r, "expected an unsigned integer (string or number)");
    }
    uint64_t v = 0;
    if (!s.len)
        return json_fail(&c->r, "expected an unsigned integer");
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return json_fail(&c->r, "expected an unsigned 64-bit integer");
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    *out = v;
    return 0;
}

static int j_i64(struct jctx *c, int64_t *out)
{
    struct slice s;
    enum json_type t = json_peek(&c->r);
    if (t == JSON_STRING) {
        if (json_read_string(&c->r, c->a, &s) < 0)
            return STRATA_EPARSE;
        if (clock_parse_int64(s, out) < 0)
            return json_fail(&c->r, "expected a 64-bit integer");
        return 0;
    }
    if (t == JSON_NULL) {
        *out = 0;
        return json_read_null(&c->r);
    }
    if (json_read_int64(&c->r, out) < 0)
        return json_fail(&c->r, "expected a 64-bit integer");
    return 0;
}

static int j_str(struct jctx *c, struct slice *out)
{
    if (json_peek(&c->r) == JSON_NULL) {
        *out = (struct slice){"", 0};
        return json_read_null(&c->r);
    }
    if (json_peek(&c->r) != JSON_STRING)
        return json_fail(&c->r, "expected a string");
    return json_read_string(&c->r, c->a, out);
}

/* A trace or span id: hex text, kept as lowercase hex. */
static int j_hex(struct jctx *c, struct slice *out)
{
    struct slice s;
    if (j_str(c, &s) < 0)
        return STRATA_EPARSE;
    if (s.len % 2)
        return json_fail(&c->r, "traceId and spanId must be hex strings");
    char *o = arena_alloc(c->a, s.len + 1);
    for (size_t i = 0; i < s.len; i++) {
        int h = hex_digit(s.ptr[i]);
        if (h < 0)
            return json_fail(&c->r, "traceId and spanId must be hex strings");
        o[i] = hexd[h];
    }
    o[s.len] = '\0';
    *out = (struct slice){o, s.len};
    return 0;
}

static int j_anyvalue(struct jctx *c, struct ov *v, int depth);

static int j_keyvalue(struct jctx *c, struct okv *kv, int depth)
{
    kv->key = (struct slice){"", 0}; /* a KeyValue without a key has an empty one */
    if (json_enter_object(&c->r) < 0)
        return STRATA_EPARSE;
    struct slice k;
    int rc;
    while ((rc = json_next_key(&c->r, c->a, &k)) > 0) {
        if (slice_eq_str(k, "key")) {
            if (j_str(c, &kv->key) < 0)
                return STRATA_EPARSE;
        } else if (slice_eq_str(k, "value")) {
            if (j_anyvalue(c, &kv->val, depth + 1) < 0)
                return STRATA_EPARSE;
        } else if (json_skip(&c->r) < 0) {
            return STRATA_EPARSE;
        }
    }
    return rc;
}

/* {"values":[...]} of an ArrayValue (arr) or a KeyValueList. */
static int j_list(struct jctx *c, struct ov *v, bool arr, int depth)
{
    if (json_peek(&c->r) == JSON_NULL)
        return json_read_null(&c->r);
    if (json_enter_object(&c->r) < 0)
        return STRATA_EPARSE;
    struct slice k;
    int rc;
    uint32_t cap = 0;
    while ((rc = json_next_key(&c->r, c->a, &k)) > 0) {
        if (!slice_eq_str(k, "values") || json_peek(&c->r) == JSON_NULL) {
            if (json_skip(&c->r) < 0)
                return STRATA_EPARSE;
            continue;
        }
        if (json_enter_array(&c->r) < 0)
            return STRATA_EPARSE;
        int er;
        while ((er = json_next_elem(&c->r)) > 0) {
            if (arena_over_limit(c->a))
                return STRATA_ETOOLARGE;
            if (arr) {
                struct ov *e = PUSH(c->a, v->items, v->n, cap);
                if (j_anyvalue(c, e, depth + 1) < 0)
                    return STRATA_EPARSE;
            } else {
                struct okv *e = PUSH(c->a, v->kv, v->n, cap);
                if (j_keyvalue(c, e, depth + 1) < 0)
                    return STRATA_EPARSE;
            }
        }
        if (er < 0)
            return STRATA_EPARSE;
    }
    return rc;
}

static int j_double(struct jctx *c, double *out)
{
    if (json_peek(&c->r) == JSON_STRING) {
        struct slice s;
        if (json_read_string(&c->r, c->a, &s) < 0)
            return STRATA_EPARSE;
        if (slice_eq_str(s, "NaN")) {
            *out = NAN;
        } else if (slice_eq_str(s, "Infinity")) {
            *out = INFINITY;
        } else if (slice_eq_str(s, "-Infinity")) {
            *out = -INFINITY;
        } else {
            char tmp[64], *end;
            if (s.len == 0 || s.len >= sizeof(tmp))
                return json_fail(&c->r, "expected a number");
            memcpy(tmp, s.ptr, s.len);
            tmp[s.len] = '\0';
            *out = strtod(tmp, &end);
            if (*end)
                return json_fail(&c->r, "expected a number");
        }
        return 0;
    }
    return json_read_double(&c->r, out);
}

static int j_anyvalue(struct jctx *c, struct ov *v, int depth)
{
    if (depth > MAX_NESTING)
        return json_fail(&c->r, "AnyValue nested too deeply");
    memset(v, 0, sizeof(*v));
    if (json_peek(&c->r) == JSON_NULL)
        return json_read_null(&c->r);
    if (json_enter_object(&c->r) < 0)
        return STRATA_EPARSE;
    struct slice k;
    int rc;
    while ((rc = json_next_key(&c->r, c->a, &k)) > 0) {
        int r = 0;
        if (key_is(k, "stringValue", "string_value")) {
            v->type = OV_STRING;
            r = j_str(c, &v->s);
        } else if (key_is(k, "boolValue", "bool_value")) {
            v->type = OV_BOOL;
            r = json_read_bool(&c->r, &v->b);
        } else if (key_is(k, "intValue", "int_value")) {
            v->type = OV_INT;
            r = j_i64(c, &v->i);
        } else if (key_is(k, "doubleValue", "double_value")) {
            v->type = OV_DOUBLE;
            r = j_double(c, &v->d);
        } else if (key_is(k, "bytesValue", "bytes_value")) {
            v->type = OV_BYTES;
            r = j_str(c, &v->s);
        } else if (key_is(k, "arrayValue", "array_value")) {
            v->type = OV_ARRAY;
            v->n = 0;
            r = j_list(c, v, true, depth);
        } else if (key_is(k, "kvlistValue", "kvlist_value")) {
            v->type = OV_KVLIST;
            v->n = 0;
            r = j_list(c, v, false, depth);
        } else {
            r = json_skip(&c->r);
        }
        if (r < 0)
            return r;
    }
    return rc;
}

static int j_attrs(struct jctx *c, struct okv **arr, uint32_t *n, uint32_t *cap)
{
    if (json_peek(&c->r) == JSON_NULL)
        return json_read_null(&c->r);
    if (json_enter_array(&c->r) < 0)
        return STRATA_EPARSE;
    int rc;
    while ((rc = json_next_elem(&c->r)) > 0) {
        if (arena_over_limit(c->a))
            return STRATA_ETOOLARGE;
        struct okv *kv = PUSH(c->a, *arr, *n, *cap);
        if (j_keyvalue(c, kv, 0) < 0)
            return STRATA_EPARSE;
    }
    return rc;
}

static int j_u32(struct jctx *c, uint32_t *out)
{
    uint64_t v;
    if (j_u64(c, &v) < 0)
        return STRATA_EPARSE;
    if (v > UINT32_MAX)
        return json_fail(&c->r, "expected a 32-bit unsigned integer");
    *out = (uint32_t)v;
    return 0;
}

static int j_record(struct jctx *c, struct orec *rec)
{
    if (json_enter_object(&c->r) < 0)
        return STRATA_EPARSE;
    struct slice k;
    int rc;
    while ((rc = json_next_key(&c->r, c->a, &k)) > 0) {
        int r;
        if (key_is(k, "timeUnixNano", "time_unix_nano"))
            r = j_u64(c, &rec->time);
        else if (key_is(k, "observedTimeUnixNano", "observed_time_unix_nano"))
            r = j_u64(c, &rec->observed);
        else if (key_is(k, "severityNumber", "severity_number"))
            r = json_peek(&c->r) == JSON_STRING ? json_skip(&c->r) : j_i64(c, &rec->severity);
        else if (key_is(k, "severityText", "severity_text"))
            r = j_str(c, &rec->severity_text);
        else if (key_is(k, "eventName", "event_name"))
            r = j_str(c, &rec->event_name);
        else if (key_is(k, "body", NULL))
            r = j_anyvalue(c, &rec->body, 0);
        else if (key_is(k, "attributes", NULL))
            r = j_attrs(c, &rec->attrs, &rec->n_attrs, &rec->cap_attrs);
        else if (key_is(k, "droppedAttributesCount", "dropped_attributes_count"))
            r = j_u32(c, &rec->dropped);
        else if (key_is(k, "flags", NULL))
            r = j_u32(c, &rec->flags);
        else if (key_is(k, "traceId", "trace_id"))
            r = j_hex(c, &rec->trace_id);
        else if (key_is(k, "spanId", "span_id"))
            r = j_hex(c, &rec->span_id);
        else
            r = json_skip(&c->r);
        if (r < 0)
            return r;
    }
    return rc;
}

static int j_scope_logs(struct jctx *c, struct oscope *sc)
{
    if (json_enter_object(&c->r) < 0)
        return STRATA_EPARSE;
    struct slice k;
    int rc;
    while ((rc = json_next_key(&c->r, c->a, &k)) > 0) {
        int r = 0;
        if (key_is(k, "scope", NULL) && json_peek(&c->r) != JSON_NULL) {
            if (json_enter_object(&c->r) < 0)
                return STRATA_EPARSE;
            struct slice sk;
            int sr;
            while ((sr = json_next_key(&c->r, c->a, &sk)) > 0) {
                if (key_is(sk, "name", NULL))
                    r = j_str(c, &sc->name);
                else if (key_is(sk, "version", NULL))
                    r = j_str(c, &sc->version);
                else if (key_is(sk, "attributes", NULL))
                    r = j_attrs(c, &sc->attrs, &sc->n_attrs, &sc->cap_attrs);
                else if (key_is(sk, "droppedAttributesCount", "dropped_attributes_count"))
                    r = j_u32(c, &sc->dropped);
                else
                    r = json_skip(&c->r);
                if (r < 0)
                    return r;
            }
            if (sr < 0)
                return sr;
        } else if (key_is(k, "logRecords", "log_records") && json_peek(&c->r) != JSON_NULL) {
            if (json_enter_array(&c->r) < 0)
                return STRATA_EPARSE;
            int er;
            while ((er = json_next_elem(&c->r)) > 0) {
                if (arena_over_limit(c->a))
                    return STRATA_ETOOLARGE;
                struct orec *rec = PUSH(c->a, sc->recs, sc->n_recs, sc->cap_recs);
                if ((r = j_record(c, rec)) < 0)
                    return r;
            }
            if (er < 0)
                return er;
        } else if (json_skip(&c->r) < 0) {
            return STRATA_EPARSE;
        }
    }
    return rc;
}

static int j_request(struct jctx *c, struct oreq *q)
{
    if (json_enter_object(&c->r) < 0)
        return STRATA_EPARSE;
    struct slice k;
    int rc;
    while ((rc = json_next_key(&c->r, c->a, &k)) > 0) {
        if (!key_is(k, "resourceLogs", "resource_logs") || json_peek(&c->r) == JSON_NULL) {
            if (json_skip(&c->r) < 0)
                return STRATA_EPARSE;
            continue;
        }
        if (json_enter_array(&c->r) < 0)
            return STRATA_EPARSE;
        int er;
        while ((er = json_next_elem(&c->r)) > 0) {
            struct ores *rl = PUSH(c->a, q->res, q->n_res, q->cap_res);
            if (json_enter_object(&c->r) < 0)
                return STRATA_EPARSE;
            struct slice rk;
            int rr;
            while ((rr = json_next_key(&c->r, c->a, &rk)) > 0) {
                int r = 0;
                if (key_is(rk, "resource", NULL) && json_peek(&c->r) != JSON_NULL) {
                    if (json_enter_object(&c->r) < 0)
                        return STRATA_EPARSE;
                    struct slice ak;
                    int ar;
                    while ((ar = json_next_key(&c->r, c->a, &ak)) > 0) {
                        if (key_is(ak, "attributes", NULL))
                            r = j_attrs(c, &rl->attrs, &rl->n_attrs, &rl->cap_attrs);
                        else
                            r = json_skip(&c->r);
                        if (r < 0)
                            return r;
                    }
                    if (ar < 0)
                        return ar;
                } else if (key_is(rk, "scopeLogs", "scope_logs") && json_peek(&c->r) != JSON_NULL) {
                    if (json_enter_array(&c->r) < 0)
                        return STRATA_EPARSE;
                    int sr;
                    while ((sr = json_next_elem(&c->r)) > 0) {
                        struct oscope *sc = PUSH(c->a, rl->scopes, rl->n_scopes, rl->cap_scopes);
                        if ((r = j_scope_logs(c, sc)) < 0)
                            return r;
                    }
                    if (sr < 0)
                        return sr;
                } else if (json_skip(&c->r) < 0) {
                    return STRATA_EPARSE;
                }
            }
            if (rr < 0)
                return rr;
        }
        if (er < 0)
            return er;
    }
    if (rc < 0)
        return rc;
    return json_finish(&c->r);
}

/* ---- AsString ---- */

size_t otlp_format_double(double d, char *out)
{
    if (isnan(d))
        return (size_t)snprintf(out, 32, "NaN");
    if (isinf(d))
        return (size_t)snprintf(out, 32, d > 0 ? "+Inf" : "-Inf");
    if (d == 0)
        return (size_t)snprintf(out, 32, signbit(d) ? "-0" : "0");
    /* Shortest digits that read back exactly. */
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e is [-]d[.ddd]e[+-]XX */
    bool neg = e[0] == '-';
    const char *p = e + neg;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp10 = (int)strtol(p + 1, NULL, 10); /* value = d.ddd x 10^exp10 */
    double ad = fabs(d);
    size_t n = 0;
    if (neg)
        out[n++] = '-';
    if (ad < 1e-6 || ad >= 1e21) {
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, nd - 1);
            n += nd - 1;
        }
        n += (size_t)snprintf(out + n, 12, "e%c%d", exp10 < 0 ? '-' : '+', abs(exp10));
        out[n] = '\0';
        return n;
    }
    if (exp10 >= 0) {
        for (int i = 0; i <= exp10; i++)
            out[n++] = (size_t)i < nd ? digits[i] : '0';
        if ((size_t)exp10 + 1 < nd) {
            out[n++] = '.';
            for (size_t i = (size_t)exp10 + 1; i < nd; i++)
                out[n++] = digits[i];
        }
    } else {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = -1; i > exp10; i--)
            out[n++] = '0';
        memcpy(out + n, digits, nd);
        n += nd;
    }
    out[n] = '\0';
    return n;
}

/* Go's encoding/json string escaping (HTML-safe, invalid UTF-8 as U+FFFD). */
static int go_json_string(struct buf *b, struct slice s)
{
    int rc = buf_append_char(b, '"');
    for (size_t i = 0; i < s.len && !rc;) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch < 0x80) {
            switch (ch) {
            case '"': rc = buf_append(b, "\\\"", 2); break;
            case '\\': rc = buf_append(b, "\\\\", 2); break;
            case '\n': rc = buf_append(b, "\\n", 2); break;
            case '\r': rc = buf_append(b, "\\r", 2); break;
            case '\t': rc = buf_append(b, "\\t", 2); break;
            case '\b': rc = buf_append(b, "\\b", 2); break;
            case '\f': rc = buf_append(b, "\\f", 2); break;
            case '<':
            case '>':
            case '&': rc = buf_printf(b, "\\u00%c%c", hexd[ch >> 4], hexd[ch & 15]); break;
            default:
                if (ch < 0x20)
                    rc = buf_printf(b, "\\u00%c%c", hexd[ch >> 4], hexd[ch & 15]);
                else
                    rc = buf_append_char(b, (char)ch);
            }
            i++;
            continue;
        }
        size_t len = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;
        if (i + len > s.len || !utf8_valid(s.ptr + i, len)) {
            rc = buf_append(b, "\\ufffd", 6);
            i++;
            continue;
        }
        if (len == 3 && ch == 0xe2 && (unsigned char)s.ptr[i + 1] == 0x80 &&
            ((unsigned char)s.ptr[i + 2] == 0xa8 || (unsigned char)s.ptr[i + 2] == 0xa9))
            rc = buf_append(b, (unsigned char)s.ptr[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
        else
            rc = buf_append(b, s.ptr + i, len);
        i += len;
    }
    return rc ? rc : buf_append_char(b, '"');
}

static int cmp_okv(const void *x, const void *y)
{
    const struct okv *a = x, *b = y;
    int c = slice_cmp(a->key, b->key);
    if (c)
        return c;
    return a < b ? -1 : a > b; /* stable: keep wire order among equal keys */
}

/* Go's json.Marshal of AsRaw(): maps with sorted keys (the last duplicate wins). */
static int json_raw(struct buf *b, struct arena *a, const struct ov *v, int depth)
{
    char num[40];
    int rc = 0;
    if (depth > MAX_NESTING + 2)
        return STRATA_EPARSE;
    switch (v->type) {
    case OV_EMPTY: return buf_append_str(b, "null");
    case OV_STRING: return go_json_string(b, v->s);
    case OV_BYTES: return go_json_string(b, v->s);
    case OV_BOOL: return buf_append_str(b, v->b ? "true" : "false");
    case OV_INT: return buf_printf(b, "%lld", (long long)v->i);
    case OV_DOUBLE:
        if (isnan(v->d) || isinf(v->d))
            return buf_append_str(b, "null");
        otlp_format_double(v->d, num);
        return buf_append_str(b, num);
    case OV_ARRAY:
        rc = buf_append_char(b, '[');
        for (uint32_t i = 0; i < v->n && !rc; i++) {
            if (i)
                rc = buf_append_char(b, ',');
            if (!rc)
                rc = json_raw(b, a, &v->items[i], depth + 1);
        }
        return rc ? rc : buf_append_char(b, ']');
    case OV_KVLIST: {
        struct okv *s = arena_alloc(a, (v->n ? v->n : 1) * sizeof(*s));
        if (v->n)
            memcpy(s, v->kv, v->n * sizeof(*s));
        qsort(s, v->n, sizeof(*s), cmp_okv);
        rc = buf_append_char(b, '{');
        bool first = true;
        for (uint32_t i = 0; i < v->n && !rc; i++) {
            if (i + 1 < v->n && slice_eq(s[i].key, s[i + 1].key))
                continue;
            if (!first)
                rc = buf_append_char(b, ',');
            first = false;
            if (!rc)
                rc = go_json_string(b, s[i].key);
            if (!rc)
                rc = buf_append_char(b, ':');
            if (!rc)
                rc = json_raw(b, a, &s[i].val, depth + 1);
        }
        return rc ? rc : buf_append_char(b, '}');
    }
    }
    return 0;
}

/* AnyValue.AsString() into the arena (strings and base64 bytes are not copied). */
static struct slice as_string(struct arena *a, const struct ov *v)
{
    char num[40];
    switch (v->type) {
    case OV_EMPTY: return (struct slice){"", 0};
    case OV_STRING:
    case OV_BYTES: return v->s;
    case OV_BOOL: return v->b ? SLICE_LIT("true") : SLICE_LIT("false");
    case OV_INT: {
        int n = snprintf(num, sizeof(num), "%lld", (long long)v->i);
        return arena_slice_dup(a, (struct slice){num, (size_t)n});
    }
    case OV_DOUBLE: {
        size_t n = otlp_format_double(v->d, num);
        return arena_slice_dup(a, (struct slice){num, n});
    }
    case OV_ARRAY:
    case OV_KVLIST: {
        struct buf b;
        buf_init(&b, 1u << 26);
        struct slice out = {"", 0};
        if (json_raw(&b, a, v, 0) == 0)
            out = arena_slice_dup(a, buf_slice(&b));
        buf_release(&b);
        return out;
    }
    }
    return (struct slice){"", 0};
}

/* ---- mapping to streams and entries ---- */

static const char *const index_attrs[] = {
    "cloud.availability_zone", "cloud.region",
    "container.name",          "deployment.environment.name",
    "k8s.cluster.name",        "k8s.container.name",
    "k8s.cronjob.name",        "k8s.daemonset.name",
    "k8s.deployment.name",     "k8s.job.name",
    "k8s.namespace.name",      "k8s.pod.name",
    "k8s.replicaset.name",     "k8s.statefulset.name",
    "service.instance.id",     "service.name",
    "service.namespace",
};

static bool is_index_attr(struct slice k)
{
    for (size_t i = 0; i < sizeof(index_attrs) / sizeof(index_attrs[0]); i++)
        if (slice_eq_str(k, index_attrs[i]))
            return true;
    return false;
}

struct lbls {
    struct label *v;
    uint32_t n, cap;
};

static void lbls_add(struct arena *a, struct lbls *l, struct slice name, struct slice value)
{
    struct label *x = PUSH(a, l->v, l->n, l->cap);
    x->name = name;
    x->value = value;
}

static void lbls_add_str(struct arena *a, struct lbls *l, const char *name, struct slice value)
{
    lbls_add(a, l, slice_from(name), value);
}

static void lbls_add_u64(struct arena *a, struct lbls *l, const char *name, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    lbls_add(a, l, slice_from(name), arena_slice_dup(a, (struct slice){num, (size_t)n}));
}

/* attributeToLabels: a map value becomes one label per leaf, names joined with '_'. */
static void flatten(struct arena *a, struct lbls *out, struct slice prefix, const struct okv *kv,
                    int depth)
{
    struct slice key = kv->key;
    if (prefix.len) {
        char *k = arena_alloc(a, prefix.len + 1 + key.len + 1);
        memcpy(k, prefix.ptr, prefix.len);
        k[prefix.len] = '_';
        memcpy(k + prefix.len + 1, key.ptr, key.len);
        k[prefix.len + 1 + key.len] = '\0';
        key = (struct slice){k, prefix.len + 1 + key.len};
    }
    key = label_name_normalize(a, key);
    if (kv->val.type == OV_KVLIST && depth < MAX_NESTING) {
        for (uint32_t i = 0; i < kv->val.n; i++)
            flatten(a, out, key, &kv->val.kv[i], depth + 1);
        return;
    }
    lbls_add(a, out, key, as_string(a, &kv->val));
}

static int map_request(const struct oreq *q, struct normalizer *nz)
{
    struct push_batch *b = nz->b;
    struct arena *a = &b->arena;
    const struct tenant_limits *lim = nz->lim;
    for (uint32_t ri = 0; ri < q->n_res; ri++) {
        const struct ores *rl = &q->res[ri];
        struct lbls idx = {0}, rmeta = {0};
        bool has_service = false;
        for (uint32_t i = 0; i < rl->n_attrs; i++) {
            const struct okv *kv = &rl->attrs[i];
            if (slice_eq_str(kv->key, "service.name") && as_string(a, &kv->val).len)
                has_service = true;
            if (!is_index_attr(kv->key)) {
                flatten(a, &rmeta, (struct slice){"", 0}, kv, 0);
                continue;
            }
            struct lbls leaf = {0};
            flatten(a, &leaf, (struct slice){"", 0}, kv, 0);
            for (uint32_t j = 0; j < leaf.n; j++) {
                if (!leaf.v[j].value.len)
                    continue; /* an empty value is no label */
                uint32_t k = 0;
                while (k < idx.n && !slice_eq(idx.v[k].name, leaf.v[j].name))
                    k++;
                if (k < idx.n)
                    idx.v[k].value = leaf.v[j].value; /* a label set: the last one wins */
                else
                    lbls_add(a, &idx, leaf.v[j].name, leaf.v[j].value);
            }
        }
        if (!has_service && lim->n_discover) {
            struct slice svc = SLICE_LIT("unknown_service");
            for (uint32_t i = 0; i < idx.n; i++) {
                bool listed = false;
                for (uint32_t d = 0; d < lim->n_discover && !listed; d++)
                    listed = slice_eq(idx.v[i].name, lim->discover_service_name[d]);
                if (listed) {
                    svc = idx.v[i].value;
                    break;
                }
            }
            uint32_t k = 0;
            while (k < idx.n && !slice_eq_str(idx.v[k].name, "service_name"))
                k++;
            if (k < idx.n)
                idx.v[k].value = svc;
            else
                lbls_add_str(a, &idx, "service_name", svc);
        }
        uint32_t si;
        if (norm_stream(nz, idx.v, idx.n, &si) < 0)
            return STRATA_ETOOLARGE;
        for (uint32_t sj = 0; sj < rl->n_scopes; sj++) {
            const struct oscope *sc = &rl->scopes[sj];
            struct lbls smeta = {0};
            for (uint32_t i = 0; i < sc->n_attrs; i++)
                flatten(a, &smeta, (struct slice){"", 0}, &sc->attrs[i], 0);
            if (sc->name.len)
                lbls_add_str(a, &smeta, "scope_name", sc->name);
            if (sc->version.len)
                lbls_add_str(a, &smeta, "scope_version", sc->version);
            if (sc->dropped)
                lbls_add_u64(a, &smeta, "scope_dropped_attributes_count", sc->dropped);
            for (uint32_t k = 0; k < sc->n_recs; k++) {
                const struct orec *rec = &sc->recs[k];
                struct lbls m = {0};
                for (uint32_t i = 0; i < rec->n_attrs; i++)
                    flatten(a, &m, (struct slice){"", 0}, &rec->attrs[i], 0);
                if (rec->time && rec->observed)
                    lbls_add_u64(a, &m, "observed_timestamp", rec->observed);
                if (rec->severity) {
                    char num[24];
                    int n = snprintf(num, sizeof(num), "%lld", (long long)rec->severity);
                    lbls_add_str(a, &m, "severity_number",
                                 arena_slice_dup(a, (struct slice){num, (size_t)n}));
                }
                if (rec->severity_text.len)
                    lbls_add_str(a, &m, "severity_text", rec->severity_text);
                if (rec->dropped)
                    lbls_add_u64(a, &m, "dropped_attributes_count", rec->dropped);
                if (rec->flags)
                    lbls_add_u64(a, &m, "flags", rec->flags);
                if (rec->trace_id.len)
                    lbls_add_str(a, &m, "trace_id", rec->trace_id);
                if (rec->span_id.len)
                    lbls_add_str(a, &m, "span_id", rec->span_id);
                if (rec->event_name.len)
                    lbls_add_str(a, &m, "event_name", rec->event_name);
                for (uint32_t i = 0; i < rmeta.n; i++)
                    lbls_add(a, &m, rmeta.v[i].name, rmeta.v[i].value);
                for (uint32_t i = 0; i < smeta.n; i++)
                    lbls_add(a, &m, smeta.v[i].name, smeta.v[i].value);
                uint64_t t = rec->time ? rec->time : rec->observed;
                int64_t ts = t ? (int64_t)t : nz->now;
                if (t > (uint64_t)INT64_MAX) {
                    push_result_error(nz->res, b, STRATA_EINVAL,
                                      "log record timestamp %llu is out of range",
                                      (unsigned long long)t);
                    nz->res->n_invalid++;
                    continue;
                }
                if (norm_entry(nz, si, ts, as_string(a, &rec->body), m.v, m.n) < 0)
                    return STRATA_ETOOLARGE;
            }
        }
    }
    return 0;
}

int otlp_proto_decode(struct slice msg, struct normalizer *nz, char *err, size_t errlen)
{
    nz->check_utf8 = true;
    nz->sanitize_names = true;
    struct pctx c = {&nz->b->arena, NULL};
    struct oreq q = {0};
    int rc = pb_request(&c, msg, &q);
    if (rc == STRATA_ETOOLARGE || (rc < 0 && arena_over_limit(c.a)))
        return norm_too_large(err, errlen);
    if (rc < 0) {
        snprintf(err, errlen, "error decoding protobuf ExportLogsServiceRequest: %s",
                 c.err ? c.err : "malformed message");
        return STRATA_EPARSE;
    }
    return map_request(&q, nz) < 0 ? norm_too_large(err, errlen) : 0;
}

int otlp_json_decode(struct slice body, struct normalizer *nz, char *err, size_t errlen)
{
    nz->sanitize_names = true;
    struct jctx c;
    c.a = &nz->b->arena;
    json_reader_init(&c.r, body.ptr, body.len, JSON_DEPTH);
    struct oreq q = {0};
    int rc = j_request(&c, &q);
    if (rc == STRATA_ETOOLARGE || (rc < 0 && arena_over_limit(c.a)))
        return norm_too_large(err, errlen);
    if (rc < 0) {
        char tmp[200];
        const char *m = json_reader_error(&c.r, tmp, sizeof(tmp));
        snprintf(err, errlen, "error decoding JSON ExportLogsServiceRequest: %s",
                 m ? m : "malformed body");
        return STRATA_EPARSE;
    }
    return map_request(&q, nz) < 0 ? norm_too_large(err, errlen) : 0;
}
