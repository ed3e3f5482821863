#include "ingest/normalize.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"

#define SERVICE_NAME    "service_name"
#define SERVICE_UNKNOWN "unknown_service"
#define DETECTED_LEVEL  "detected_level"

void norm_init(struct normalizer *nz, const struct tenant_limits *lim, int64_t now,
               struct push_batch *b, struct push_result *res)
{
    memset(nz, 0, sizeof(*nz));
    nz->lim = lim;
    nz->now = now;
    nz->b = b;
    nz->res = res;
}

/* The canonical {a="1"} form of labels, for messages (bounded: messages stay readable). */
static const char *key_text(struct push_batch *b, const struct label *v, uint32_t n)
{
    struct buf k;
    buf_init(&k, 16 * 1024);
    if (labels_format(&k, v, n) < 0) {
        buf_release(&k);
        return "{...}";
    }
    char *s = arena_strndup(&b->arena, k.ptr, k.len);
    buf_release(&k);
    return s;
}

/* Go's time.Format(time.RFC3339) of a UTC instant: seconds, no fraction. */
static void rfc3339_seconds(int64_t ns, char *out)
{
    int64_t s = ns / NS_PER_SEC;
    if (ns % NS_PER_SEC < 0)
        s--;
    clock_format_rfc3339(s * NS_PER_SEC, out);
}

/* Refuse a stream with a message naming its labels (key) and one name or value (x). */
#define refuse_stream(nz, fmt, key, x) \
    push_result_error((nz)->res, (nz)->b, STRATA_EINVAL, fmt, key, (int)(x).len, (x).ptr)

int norm_stream(struct normalizer *nz, struct label *labels, uint32_t n, uint32_t *si)
{
    struct push_batch *b = nz->b;
    const struct tenant_limits *lim = nz->lim;
    *si = NORM_DROPPED;
    if (arena_over_limit(&b->arena))
        return STRATA_ETOOLARGE;
    if (n == 0) {
        push_result_error(nz->res, b, STRATA_EINVAL,
                          "error at least one label pair is required per stream");
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (nz->sanitize_names)
            labels[i].name = label_name_normalize(&b->arena, labels[i].name);
        if (!label_name_valid(labels[i].name)) {
            refuse_stream(nz, "error parsing labels '%s' with error: invalid label name '%.*s'",
                          key_text(b, labels, n), labels[i].name);
            return 0;
        }
        if (!utf8_valid(labels[i].value.ptr, labels[i].value.len)) {
            push_result_error(nz->res, b, STRATA_EINVAL,
                              "error parsing labels with error: the value of label '%.*s' is "
                              "not valid UTF-8",
                              (int)labels[i].name.len, labels[i].name.ptr);
            return 0;
        }
    }
    labels_sort(labels, n);
    int dup = labels_find_duplicate(labels, n);
    if (dup >= 0) {
        refuse_stream(nz, "stream '%s' has duplicate label name: '%.*s'", key_text(b, labels, n),
                      labels[dup].name);
        return 0;
    }
    bool has_service = labels_get(labels, n, SERVICE_NAME) != NULL;
    int64_t names = (int64_t)n - (has_service ? 1 : 0);
    if (names > lim->max_label_names_per_series) {
        push_result_error(
            nz->res, b, STRATA_EINVAL, "entry for stream '%s' has %lld label names; limit %lld",
            key_text(b, labels, n), (long long)names, (long long)lim->max_label_names_per_series);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if ((int64_t)labels[i].name.len > lim->max_label_name_length) {
            refuse_stream(nz, "stream '%s' has label name too long: '%.*s'", key_text(b, labels, n),
                          labels[i].name);
            return 0;
        }
        if ((int64_t)labels[i].value.len > lim->max_label_value_length) {
            refuse_stream(nz, "stream '%s' has label value too long: '%.*s'",
                          key_text(b, labels, n), labels[i].value);
            return 0;
        }
    }
    if (!has_service && lim->n_discover) {
        struct slice svc = SLICE_LIT(SERVICE_UNKNOWN);
        for (uint32_t d = 0; d < lim->n_discover; d++) {
            const struct slice *v = NULL;
            for (uint32_t i = 0; i < n && !v; i++)
                if (slice_eq(labels[i].name, lim->discover_service_name[d]))
                    v = &labels[i].value;
            if (v && v->len) {
                svc = *v;
                break;
            }
        }
        /* Insert service_name at its sorted place. */
        struct label *w = arena_alloc(&b->arena, (n + 1) * sizeof(*w));
        uint32_t at = 0;
        while (at < n && slice_cmp(labels[at].name, SLICE_LIT(SERVICE_NAME)) < 0)
            at++;
        memcpy(w, labels, at * sizeof(*w));
        w[at] = (struct label){SLICE_LIT(SERVICE_NAME), svc};
        memcpy(w + at + 1, labels + at, (n - at) * sizeof(*w));
        labels = w;
        n++;
    }
    *si = push_batch_stream(b, labels, n);
    return 0;
}

/* ---- detected_level ---- */

static bool eq_fold(struct slice s, const char *w)
{
    size_t n = strlen(w);
    return s.len == n && strncasecmp(s.ptr, w, n) == 0;
}

/* Loki's level words, case-insensitive; NULL when v is none of them. */
static const char *level_word(struct slice v)
{
    static const struct {
        const char *word, *level;
    } words[] = {
        {"trace", "trace"},       {"trc", "trace"},    {"debug", "debug"},      {"dbg", "debug"},
        {"info", "info"},         {"inf", "info"},     {"information", "info"}, {"warn", "warn"},
        {"wrn", "warn"},          {"warning", "warn"}, {"error", "error"},      {"err", "error"},
        {"critical", "critical"}, {"fatal", "fatal"},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (eq_fold(v, words[i].word))
            return words[i].level;
    return NULL;
}

/* A value from a level label or metadata key: its level word, or the value itself. */
static struct slice normalize_level(struct slice v)
{
    const char *w = level_word(v);
    return w ? slice_from(w) : v;
}

/* Loki's default level fields, in its order of preference. */
static const struct {
    const char *name;
    size_t len;
} level_fields[] = {
#define F(s)             \
    {                    \
        s, sizeof(s) - 1 \
    }
    F("level"),    F("LEVEL"),         F("Level"),         F("log.level"),     F("severity"),
    F("SEVERITY"), F("Severity"),      F("SeverityText"),  F("lvl"),           F("LVL"),
    F("Lvl"),      F("severity_text"), F("Severity_Text"), F("SEVERITY_TEXT"),
#undef F
};
#define N_LEVEL_FIELDS (sizeof(level_fields) / sizeof(level_fields[0]))

/* The rank of k among the level fields, or N_LEVEL_FIELDS when it is none of them. */
static size_t level_field_rank(struct slice k)
{
    if (k.len < 3 || k.len > 13)
        return N_LEVEL_FIELDS;
    for (size_t i = 0; i < N_LEVEL_FIELDS; i++)
        if (k.len == level_fields[i].len && !memcmp(k.ptr, level_fields[i].name, k.len))
            return i;
    return N_LEVEL_FIELDS;
}

static bool is_level_field(struct slice k)
{
    return level_field_rank(k) < N_LEVEL_FIELDS;
}

/* The value of the best-ranked level field among v, or NULL. */
static const struct slice *best_level_field(const struct label *v, uint32_t n)
{
    size_t best = N_LEVEL_FIELDS;
    const struct slice *found = NULL;
    for (uint32_t i = 0; i < n && best; i++) {
        size_t r = level_field_rank(v[i].name);
        if (r < best) {
            best = r;
            found = &v[i].value;
        }
    }
    return found;
}

static bool has_at(struct slice s, size_t i, const char *w)
{
    size_t n = strlen(w);
    return s.len - i >= n && memcmp(s.ptr + i, w, n) == 0;
}

/* Loki's detectLevelFromLogLine: level words anywhere in the line, in its priority order. */
static const char *level_from_words(struct slice s)
{
    enum { INFO = 1, ERR = 2, WARN = 4, CRIT = 8, DEBUG = 16 };
    unsigned found = 0;
    for (size_t i = 0; i < s.len; i++) {
        switch (s.ptr[i]) {
        case 'i':
            if (has_at(s, i, "info"))
                return "info";
            break;
        case 'I':
            if (has_at(s, i, "INFO"))
                return "info";
            break;
        case 'e':
            if (has_at(s, i, "err:"))
                found |= ERR;
            break;
        case 'E':
            if (has_at(s, i, "ERR:"))
                found |= ERR;
            break;
        case 'w':
            if (has_at(s, i, "warn:") || has_at(s, i, "warning"))
                found |= WARN;
            break;
        case 'W':
            if (has_at(s, i, "WARN:") || has_at(s, i, "WARNING"))
                found |= WARN;
            break;
        case 'c':
            if (has_at(s, i, "critical:"))
                found |= CRIT;
            break;
        case 'C':
            if (has_at(s, i, "CRITICAL:"))
                found |= CRIT;
            break;
        case 'd':
            if (has_at(s, i, "debug"))
                found |= DEBUG;
            break;
        case 'D':
            if (has_at(s, i, "DEBUG"))
                found |= DEBUG;
            break;
        case '[':
            if (has_at(s, i, "[err]") || has_at(s, i, "[ERR]") || has_at(s, i, "[error]") ||
                has_at(s, i, "[ERROR]"))
                found |= ERR;
            else if (has_at(s, i, "[warn]") || has_at(s, i, "[WARN]"))
                found |= WARN;
            else if (has_at(s, i, "[critical]") || has_at(s, i, "[CRITICAL]"))
                found |= CRIT;
            break;
        default: break;
        }
    }
    if (found & ERR)
        return "error";
    if (found & WARN)
        return "warn";
    if (found & CRIT)
        return "critical";
    if (found & DEBUG)
        return "debug";
    return "unknown";
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool looks_json(struct slice s)
{
    size_t i = 0, j = s.len;
    while (i < j && is_space(s.ptr[i]))
        i++;
    while (j > i && is_space(s.ptr[j - 1]))
        j--;
    return j - i >= 2 && s.ptr[i] == '{' && s.ptr[j - 1] == '}';
}

/* The first string value of a level field in a JSON object, two levels deep at most. */
static int json_level(struct json_reader *r, struct arena *a, int depth, struct slice *out)
{
    if (json_enter_object(r) < 0)
        return -1;
    struct slice k;
    int rc;
    while ((rc = json_next_key(r, a, &k)) > 0) {
        enum json_type t = json_peek(r);
        if (t == JSON_STRING && is_level_field(k))
            return json_read_string(r, a, out) < 0 ? -1 : 1;
        if (t == JSON_OBJECT && depth + 1 < 2) {
            int f = json_level(r, a, depth + 1, out);
            if (f != 0)
                return f;
            continue;
        }
        if (json_skip(r) < 0)
            return -1;
    }
    return rc < 0 ? -1 : 0;
}

/* logfmt: the value of the best-ranked level field (earliest in level_fields), case-insensitive. */
static bool logfmt_level(struct slice s, struct slice *out)
{
    size_t i = 0, best = N_LEVEL_FIELDS;
    bool found = false;
    while (i < s.len) {
        while (i < s.len && (unsigned char)s.ptr[i] <= ' ')
            i++;
        size_t k0 = i;
        while (i < s.len && (unsigned char)s.ptr[i] > ' ' && s.ptr[i] != '=' && s.ptr[i] != '"')
            i++;
        struct slice key = {s.ptr + k0, i - k0};
        if (i < s.len && s.ptr[i] == '"')
            return found; /* malformed: stop like the logfmt decoder */
        struct slice val = {"", 0};
        if (i < s.len && s.ptr[i] == '=') {
            i++;
            if (i < s.len && s.ptr[i] == '"') {
                size_t v0 = ++i;
                while (i < s.len && s.ptr[i] != '"') {
                    if (s.ptr[i] == '\\')
                        i++;
                    i++;
                }
                if (i >= s.len)
                    return found;
                val = (struct slice){s.ptr + v0, i - v0};
                i++;
            } else {
                size_t v0 = i;
                while (i < s.len && (unsigned char)s.ptr[i] > ' ')
                    i++;
                val = (struct slice){s.ptr + v0, i - v0};
            }
        }
        if (key.len == 0 && i == k0) {
            i++; /* a stray character: step over it */
            continue;
        }
        for (size_t h = 0; h < best && h < N_LEVEL_FIELDS; h++)
            if (eq_fold(key, level_fields[h].name)) {
                *out = val;
                best = h;
                found = true;
                if (h == 0)
                    return true;
                break;
            }
    }
    return found;
}

static const char *level_from_severity(struct slice v)
{
    int64_t n;
    if (clock_parse_int64(v, &n) < 0)
        return "info";
    if (n == 0)
        return "unknown";
    if (n <= 4)
        return "trace";
    if (n <= 8)
        return "debug";
    if (n <= 12)
        return "info";
    if (n <= 16)
        return "warn";
    if (n <= 20)
        return "error";
    if (n <= 24)
        return "fatal";
    return "unknown";
}

/* The part of level detection that does not depend on the stream's labels. */
static struct slice detect_from_entry(const struct label *meta, uint32_t n_meta, struct slice line)
{
    const struct slice *v = best_level_field(meta, n_meta);
    if (v)
        return normalize_level(*v);
    for (uint32_t i = 0; i < n_meta; i++)
        if (slice_eq_str(meta[i].name, "severity_number") && meta[i].value.len)
            return slice_from(level_from_severity(meta[i].value));
    struct slice val = {"", 0};
    const char *w = NULL;
    if (looks_json(line)) {
        struct json_reader r;
        struct arena a;
        arena_init(&a, 0);
        json_reader_init(&r, line.ptr, line.len, 64);
        if (json_level(&r, &a, 0, &val) > 0)
            w = level_word(val); /* before val's arena goes */
        arena_release(&a);
    } else if (line.len && memchr(line.ptr, '=', line.len)) {
        if (logfmt_level(line, &val))
            w = level_word(val);
    }
    return slice_from(w ? w : level_from_words(line));
}

struct slice norm_detect_level(const struct label *labels, uint32_t n, const struct label *meta,
                               uint32_t n_meta, struct slice line)
{
    const struct slice *v = best_level_field(labels, n);
    if (v)
        return normalize_level(*v);
    return detect_from_entry(meta, n_meta, line);
}

/* norm_detect_level for an entry of stream si, whose level label is looked up once per run of
 * entries of that stream. */
static struct slice entry_level(struct normalizer *nz, uint32_t si, const struct stream_batch *s,
                                const struct label *meta, uint32_t n_meta, struct slice line)
{
    if (nz->level_si != si + 1) {
        const struct slice *v = best_level_field(s->labels, s->n_labels);
        nz->has_stream_level = v != NULL;
        if (v)
            nz->stream_level = normalize_level(*v);
        nz->level_si = si + 1;
    }
    return nz->has_stream_level ? nz->stream_level : detect_from_entry(meta, n_meta, line);
}

int norm_too_large(char *err, size_t errlen)
{
    snprintf(err, errlen,
             "push request too large to decode: it needs more memory than allowed "
             "(send smaller batches)");
    return STRATA_ETOOLARGE;
}

/* ---- entries ---- */

static void refuse_entry(struct normalizer *nz, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void refuse_entry(struct normalizer *nz, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    push_result_error(nz->res, nz->b, STRATA_EINVAL, "%s", msg);
    nz->res->n_invalid++;
}

int norm_entry(struct normalizer *nz, uint32_t si, int64_t ts, struct slice line,
               struct label *meta, uint32_t n_meta)
{
    struct push_batch *b = nz->b;
    const struct tenant_limits *lim = nz->lim;
    if (arena_over_limit(&b->arena))
        return STRATA_ETOOLARGE;
    if (si == NORM_DROPPED) {
        nz->res->n_invalid++;
        return 0;
    }
    const struct stream_batch *s = &b->streams[si];
    char t1[40], t2[40];
    if (lim->reject_old_samples && ts < nz->now - lim->reject_old_samples_max_age_ns) {
        rfc3339_seconds(ts, t1);
        rfc3339_seconds(nz->now - lim->reject_old_samples_max_age_ns, t2);
        refuse_entry(nz,
                     "entry for stream '%.*s' has timestamp too old: %s, oldest acceptable "
                     "timestamp is: %s",
                     (int)s->key.len, s->key.ptr, t1, t2);
        return 0;
    }
    if (ts > nz->now + lim->creation_grace_period_ns) {
        rfc3339_seconds(ts, t1);
        refuse_entry(nz, "entry for stream '%.*s' has timestamp too new: %s", (int)s->key.len,
                     s->key.ptr, t1);
        return 0;
    }
    if (lim->max_line_size && (int64_t)line.len > lim->max_line_size) {
        if (!lim->max_line_size_truncate) {
            refuse_entry(nz,
                         "max entry size '%lld' bytes exceeded for stream '%.*s' while adding "
                         "an entry with length '%zu' bytes",
                         (long long)lim->max_line_size, (int)s->key.len, s->key.ptr, line.len);
            return 0;
        }
        line.len = (size_t)lim->max_line_size;
        /* Do not leave half a UTF-8 character at the cut. */
        while (line.len && ((unsigned char)line.ptr[line.len] & 0xc0) == 0x80)
            line.len--;
    }
    if (nz->check_utf8 && !utf8_valid(line.ptr, line.len)) {
        refuse_entry(nz, "entry for stream '%.*s' has a line that is not valid UTF-8",
                     (int)s->key.len, s->key.ptr);
        return 0;
    }
    if (n_meta) {
        if (!lim->allow_structured_metadata) {
            refuse_entry(nz,
                         "stream '%.*s' includes structured metadata, but this feature is "
                         "disallowed (--limits.allow-structured-metadata)",
                         (int)s->key.len, s->key.ptr);
            return 0;
        }
        size_t size = 0;
        for (uint32_t i = 0; i < n_meta; i++) {
            size += meta[i].name.len + meta[i].value.len;
            if (nz->check_utf8 && (!utf8_valid(meta[i].name.ptr, meta[i].name.len) ||
                                   !utf8_valid(meta[i].value.ptr, meta[i].value.len))) {
                refuse_entry(nz, "stream '%.*s' has structured metadata that is not valid UTF-8",
                             (int)s->key.len, s->key.ptr);
                return 0;
            }
        }
        if (lim->max_structured_metadata_size &&
            (int64_t)size > lim->max_structured_metadata_size) {
            refuse_entry(nz,
                         "stream '%.*s' has structured metadata too large: '%zu' bytes, limit: "
                         "'%lld' bytes",
                         (int)s->key.len, s->key.ptr, size,
                         (long long)lim->max_structured_metadata_size);
            return 0;
        }
        if (lim->max_structured_metadata_count &&
            (int64_t)n_meta > lim->max_structured_metadata_count) {
            refuse_entry(nz,
                         "stream '%.*s' has too many structured metadata labels: '%u', limit: "
                         "'%lld'",
                         (int)s->key.len, s->key.ptr, n_meta,
                         (long long)lim->max_structured_metadata_count);
            return 0;
        }
    }
    if (lim->discover_log_levels && lim->allow_structured_metadata) {
        uint32_t at = n_meta;
        for (uint32_t i = 0; i < n_meta; i++)
            if (slice_eq_str(meta[i].name, DETECTED_LEVEL))
                at = i;
        if (at < n_meta) {
            meta[at].value = normalize_level(meta[at].value);
        } else {
            struct label *m = arena_alloc(&b->arena, (n_meta + 1) * sizeof(*m));
            if (n_meta)
                memcpy(m, meta, n_meta * sizeof(*m));
            m[n_meta] = (struct label){SLICE_LIT(DETECTED_LEVEL),
                                       entry_level(nz, si, s, meta, n_meta, line)};
            meta = m;
            n_meta++;
        }
    }
    push_batch_add(b, si, ts, line, meta, n_meta);
    return 0;
}
