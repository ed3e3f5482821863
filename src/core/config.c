#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"

#define X(type, field, name, def, help) \
    {CONFIG_##type, name, def, help, ROOM, offsetof(struct config, field)},
const struct config_option config_options[] = {
#define ROOM "core"
#include "core/options.def"
#undef ROOM
#define ROOM "server"
#include "server/options.def"
#include "server/grpc_options.def"
#include "server/auth_options.def"
#undef ROOM
#define ROOM "ingest"
#include "ingest/options.def"
#undef ROOM
#define ROOM "store"
#include "store/options.def"
#undef ROOM
#define ROOM "query"
#include "query/options.def"
#undef ROOM
#define ROOM "remote"
#include "remote/options.def"
#include "remote/clickhouse_options.def"
#undef ROOM
};
#undef X
const size_t config_option_count = sizeof(config_options) / sizeof(config_options[0]);

_Static_assert(sizeof(config_options) / sizeof(config_options[0]) <= 256,
               "struct config.source has room for 256 options");

static const char *const type_names[] = {"string", "bool", "int", "float", "duration", "bytes"};

static void *field(struct config *c, const struct config_option *o)
{
    return (char *)c + o->offset;
}

static const void *cfield(const struct config *c, const struct config_option *o)
{
    return (const char *)c + o->offset;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Option names compare with '_' and '-' as the same character. */
static bool name_eq(const char *a, const char *b, size_t blen)
{
    size_t i = 0;
    for (; i < blen && a[i]; i++) {
        char x = a[i] == '_' ? '-' : a[i], y = b[i] == '_' ? '-' : b[i];
        if (x != y)
            return false;
    }
    return i == blen && a[i] == '\0';
}

static const struct config_option *find_n(const char *name, size_t len)
{
    for (size_t i = 0; i < config_option_count; i++)
        if (name_eq(config_options[i].name, name, len))
            return &config_options[i];
    /* Aliases kept for the ecosystem's habits. */
    if (name_eq("config", name, len))
        return find_n("config.file", strlen("config.file"));
    return NULL;
}

const struct config_option *config_find(const char *name)
{
    return find_n(name, strlen(name));
}

/* Loki's limits_config names of the query limits, which live under query.* here. */
static const struct {
    const char *loki, *option;
} limit_aliases[] = {
    {"max_query_series", "query.max-series"},
    {"max_entries_limit_per_query", "query.max-entries-limit"},
    {"max_query_parallelism", "query.parallelism"},
    {"query_timeout", "query.timeout"},
};

const struct config_option *config_find_limit(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(limit_aliases) / sizeof(limit_aliases[0]); i++)
        if (name_eq(limit_aliases[i].loki, name, n))
            return config_find(limit_aliases[i].option);
    char full[256];
    if (n + 8 >= sizeof(full) || strchr(name, '.'))
        return NULL;
    snprintf(full, sizeof(full), "limits.%s", name);
    return config_find(full);
}

/* The option a YAML key names: its own, or under Loki's limits_config: a limit's. */
static const struct config_option *find_for_key(const char *full)
{
    const struct config_option *o = config_find(full);
    static const char prefix[] = "limits-config.";
    size_t pl = sizeof(prefix) - 1;
    if (!o && strlen(full) > pl && name_eq(prefix, full, pl))
        o = config_find_limit(full + pl);
    return o;
}

/* ---- sections ---- */

const struct config_section_def config_sections[] = {
    {"overrides",
     "Per-tenant limits: `overrides: {<tenant>: {<limit>: <value>, ...}, ...}`. A limit is "
     "named as Loki's limits_config names it, which is the name of its `limits.*` option "
     "without `limits.` (`ingestion_rate_mb`, `max_global_streams_per_user`, "
     "`max_line_size`, `max_query_length`, ...) or one of Loki's query limits "
     "(`max_query_series`, `max_entries_limit_per_query`, `max_query_parallelism`, "
     "`query_timeout`); a tenant's unnamed limits are the options' values. See "
     "docs/SECURITY.md."},
};
const size_t config_section_count = sizeof(config_sections) / sizeof(config_sections[0]);

static bool is_section(const char *key)
{
    for (size_t i = 0; i < config_section_count; i++)
        if (name_eq(config_sections[i].name, key, strlen(key)))
            return true;
    return false;
}

const struct config_section *config_section(const struct config *c, const char *name)
{
    for (const struct config_section *s = c->sections; s; s = s->next)
        if (name_eq(name, s->name, strlen(s->name)))
            return s;
    return NULL;
}

static void node_free(struct config_node *n)
{
    while (n) {
        struct config_node *next = n->next;
        node_free(n->child);
        free(n->key);
        free(n->value);
        free(n);
        n = next;
    }
}

static void sections_free(struct config_section *s)
{
    while (s) {
        struct config_section *next = s->next;
        node_free(s->root);
        free(s->name);
        free(s->origin);
        free(s);
        s = next;
    }
}

#define SECTION_MAX_DEPTH 16
#define SECTION_MAX_NODES 100000

/*
 * Read the YAML value that starts with event first (already parsed, deleted
 * by the caller) into *out, consuming its events up to its end. What was
 * built hangs from *out even on error (the caller frees it).
 */
static int read_node(yaml_parser_t *p, const yaml_event_t *first, const char *origin, int depth,
                     size_t *budget, struct config_node **out, char *err, size_t errlen)
{
    struct config_node *n = xcalloc(1, sizeof(*n));
    *out = n;
    n->line = first->start_mark.line + 1;
    if (*budget == 0 || depth > SECTION_MAX_DEPTH) {
        fail(err, errlen, "%s:%zu: section too large or nested too deeply", origin, n->line);
        return STRATA_EINVAL;
    }
    (*budget)--;
    switch (first->type) {
    case YAML_SCALAR_EVENT:
        n->value = xstrndup((const char *)first->data.scalar.value, first->data.scalar.length);
        return 0;
    case YAML_SEQUENCE_START_EVENT: n->is_seq = true; break;
    case YAML_MAPPING_START_EVENT: break;
    case YAML_ALIAS_EVENT:
        fail(err, errlen, "%s:%zu: YAML aliases are not supported", origin, n->line);
        return STRATA_EINVAL;
    default: fail(err, errlen, "%s:%zu: unexpected YAML", origin, n->line); return STRATA_EINVAL;
    }
    struct config_node **tail = &n->child;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) {
            fail(err, errlen, "%s:%zu:%zu: %s", origin, p->problem_mark.line + 1,
                 p->problem_mark.column + 1, p->problem ? p->problem : "YAML syntax error");
            return STRATA_EINVAL;
        }
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        char *key = NULL;
        size_t key_line = ev.start_mark.line + 1;
        if (!n->is_seq) {
            if (ev.type != YAML_SCALAR_EVENT) {
                fail(err, errlen, "%s:%zu: a key must be plain text", origin,
                     ev.start_mark.line + 1);
                yaml_event_delete(&ev);
                return STRATA_EINVAL;
            }
            key = xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            yaml_event_delete(&ev);
            if (!yaml_parser_parse(p, &ev)) {
                free(key);
                fail(err, errlen, "%s:%zu:%zu: %s", origin, p->problem_mark.line + 1,
                     p->problem_mark.column + 1, p->problem ? p->problem : "YAML syntax error");
                return STRATA_EINVAL;
            }
        }
        struct config_node *c = NULL;
        int rc = read_node(p, &ev, origin, depth + 1, budget, &c, err, errlen);
        yaml_event_delete(&ev);
        c->key = key;
        c->line = key_line; /* where a message should point: the key, or the item */
        *tail = c;
        tail = &c->next;
        if (rc)
            return rc;
    }
}

/* Read a section's value (its first event is ev) and keep it in c, replacing an earlier one. */
static int read_section(struct config *c, yaml_parser_t *p, const yaml_event_t *ev,
                        const char *name, const char *origin, char *err, size_t errlen)
{
    struct config_section *s = xcalloc(1, sizeof(*s));
    size_t budget = SECTION_MAX_NODES;
    int rc = read_node(p, ev, origin, 0, &budget, &s->root, err, errlen);
    if (rc < 0) {
        sections_free(s);
        return rc;
    }
    s->name = xstrdup(name);
    s->origin = xstrdup(origin);
    for (struct config_section **pp = &c->sections; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, name)) {
            struct config_section *old = *pp;
            *pp = old->next;
            old->next = NULL;
            sections_free(old);
            break;
        }
    s->next = c->sections;
    c->sections = s;
    return 0;
}

int config_parse_bytes(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return STRATA_EINVAL;
    while (*end == ' ')
        end++;
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1024},
                 {"kb", 1e3},
                 {"kib", 1024},
                 {"m", 1048576},
                 {"mb", 1e6},
                 {"mib", 1048576},
                 {"g", 1073741824.0},
                 {"gb", 1e9},
                 {"gib", 1073741824.0},
                 {"t", 1099511627776.0},
                 {"tb", 1e12},
                 {"tib", 1099511627776.0}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            double r = v * units[i].mult;
            if (r > 9.2e18)
                return STRATA_EINVAL;
            *out = (int64_t)r;
            return 0;
        }
    }
    return STRATA_EINVAL;
}

static int set_value(struct config *c, const struct config_option *o, const char *value, char *err,
                     size_t errlen)
{
    void *f = field(c, o);
    switch (o->type) {
    case CONFIG_STR:
        free(*(char **)f);
        *(char **)f = xstrdup(value);
        return 0;
    case CONFIG_BOOL:
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
            !strcasecmp(value, "on")) {
            *(bool *)f = true;
        } else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no") ||
                   !strcasecmp(value, "off")) {
            *(bool *)f = false;
        } else {
            fail(err, errlen, "invalid value \"%s\" for --%s: expected true or false", value,
                 o->name);
            return STRATA_EINVAL;
        }
        return 0;
    case CONFIG_INT: {
        int64_t v;
        if (clock_parse_int64(slice_from(value), &v) < 0) {
            fail(err, errlen, "invalid value \"%s\" for --%s: expected an integer", value, o->name);
            return STRATA_EINVAL;
        }
        *(int64_t *)f = v;
        return 0;
    }
    case CONFIG_FLOAT: {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end || !isfinite(v)) {
            fail(err, errlen, "invalid value \"%s\" for --%s: expected a number", value, o->name);
            return STRATA_EINVAL;
        }
        *(double *)f = v;
        return 0;
    }
    case CONFIG_DURATION: {
        int64_t v;
        if (clock_parse_prom_duration(slice_from(value), &v) < 0) {
            fail(err, errlen,
                 "invalid value \"%s\" for --%s: expected a duration such as 30s, 15m, 1h30m "
                 "or 10d (units ms s m h d w y; no fractions)",
                 value, o->name);
            return STRATA_EINVAL;
        }
        *(int64_t *)f = v;
        return 0;
    }
    case CONFIG_BYTES: {
        int64_t v;
        if (config_parse_bytes(value, &v) < 0) {
            fail(err, errlen,
                 "invalid value \"%s\" for --%s: expected a size such as 1048576, 256KiB, "
                 "64MiB or 1GB",
                 value, o->name);
            return STRATA_EINVAL;
        }
        *(int64_t *)f = v;
        return 0;
    }
    }
    return STRATA_EINVAL;
}

void config_init(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < config_option_count; i++) {
        char err[256];
        if (set_value(c, &config_options[i], config_options[i].def, err, sizeof(err)) < 0) {
            fprintf(stderr, "strata: bad built-in default: %s\n", err);
            abort();
        }
    }
}

void config_release(struct config *c)
{
    for (size_t i = 0; i < config_option_count; i++)
        if (config_options[i].type == CONFIG_STR) {
            char **p = field(c, &config_options[i]);
            free(*p);
            *p = NULL;
        }
    sections_free(c->sections);
    c->sections = NULL;
}

void config_copy_options(struct config *dst, const struct config *src)
{
    memcpy(dst, src, sizeof(*dst));
    dst->sections = NULL;
    for (size_t i = 0; i < config_option_count; i++)
        if (config_options[i].type == CONFIG_STR) {
            char **p = field(dst, &config_options[i]);
            *p = *p ? xstrdup(*p) : NULL;
        }
}

static int set_from(struct config *c, const struct config_option *o, const char *value, int source,
                    char *err, size_t errlen)
{
    int rc = set_value(c, o, value, err, errlen);
    if (rc == 0)
        c->source[o - config_options] = (unsigned char)source;
    return rc;
}

int config_set_option(struct config *c, const struct config_option *o, const char *value, char *err,
                      size_t errlen)
{
    return set_from(c, o, value, 1, err, errlen);
}

int config_set(struct config *c, const char *name, const char *value, char *err, size_t errlen)
{
    const struct config_option *o = config_find(name);
    if (!o) {
        fail(err, errlen, "unknown option --%s (see strata --help)", name);
        return STRATA_EINVAL;
    }
    return set_from(c, o, value, 2, err, errlen);
}

/* ---- YAML ---------------------------------------------------------------- */

int config_load_yaml(struct config *c, const char *text, size_t len, const char *origin, char *err,
                     size_t errlen)
{
    yaml_parser_t p;
    yaml_event_t ev;
    if (!yaml_parser_initialize(&p)) {
        fail(err, errlen, "%s: cannot initialise the YAML parser", origin);
        return STRATA_EINVAL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    char path[512] = "";
    size_t plen_stack[32];
    int depth = 0;         /* mapping depth */
    bool want_key = false; /* inside a mapping, the next scalar is a key */
    char key[256] = "";
    int rc = 0;
    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            fail(err, errlen, "%s:%zu:%zu: %s", origin, p.problem_mark.line + 1,
                 p.problem_mark.column + 1, p.problem ? p.problem : "YAML syntax error");
            rc = STRATA_EINVAL;
            break;
        }
        yaml_event_type_t t = ev.type;
        size_t line = ev.start_mark.line + 1;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if ((t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT ||
             t == YAML_SCALAR_EVENT) &&
            depth == 1 && !want_key && is_section(key)) {
            /* A section (config_sections): kept whole for the module that owns it. */
            rc = read_section(c, &p, &ev, key, origin, err, errlen);
            want_key = true;
        } else if (t == YAML_MAPPING_START_EVENT) {
            if (depth >= 31) {
                fail(err, errlen, "%s:%zu: nesting too deep", origin, line);
                rc = STRATA_EINVAL;
            } else if (depth > 0) {
                plen_stack[depth] = strlen(path);
                size_t pl = strlen(path);
                snprintf(path + pl, sizeof(path) - pl, "%s%s", pl ? "." : "", key);
            } else {
                plen_stack[0] = 0;
            }
            depth++;
            want_key = true;
        } else if (t == YAML_MAPPING_END_EVENT) {
            depth--;
            if (depth > 0)
                path[plen_stack[depth]] = '\0';
            want_key = depth > 0;
        } else if (t == YAML_SCALAR_EVENT) {
            const char *v = (const char *)ev.data.scalar.value;
            if (depth == 0) {
                /* An empty document is fine; a bare scalar is not a config. */
                if (ev.data.scalar.length) {
                    fail(err, errlen, "%s:%zu: expected a mapping of options", origin, line);
                    rc = STRATA_EINVAL;
                }
            } else if (want_key) {
                snprintf(key, sizeof(key), "%s", v);
                want_key = false;
            } else {
                char full[800];
                snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", key);
                const struct config_option *o = find_for_key(full);
                if (!o) {
                    fail(err, errlen, "%s:%zu: unknown option \"%s\" (see strata --help)", origin,
                         line, full);
                    rc = STRATA_EINVAL;
                } else {
                    char e2[400];
                    if (set_from(c, o, v, 1, e2, sizeof(e2)) < 0) {
                        fail(err, errlen, "%s:%zu: %s", origin, line, e2);
                        rc = STRATA_EINVAL;
                    }
                }
                want_key = true;
            }
        } else if (t == YAML_SEQUENCE_START_EVENT) {
            fail(err, errlen, "%s:%zu: option \"%s\" does not take a list", origin, line, key);
            rc = STRATA_EINVAL;
        } else if (t == YAML_ALIAS_EVENT) {
            fail(err, errlen, "%s:%zu: YAML aliases are not supported", origin, line);
            rc = STRATA_EINVAL;
        }
        yaml_event_delete(&ev);
        if (rc)
            break;
    }
    yaml_parser_delete(&p);
    return rc;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
        return STRATA_EINVAL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20)) {
                fclose(f);
                free(text);
                fail(err, errlen, "config file %s is larger than 16 MiB", path);
                return STRATA_EINVAL;
            }
            text = xrealloc(text, cap);
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    int rc = config_load_yaml(c, text ? text : "", len, path, err, errlen);
    free(text);
    return rc;
}

/* ---- flags --------------------------------------------------------------- */

int config_parse_args(struct config *c, int argc, const char *const *argv, int *help_out, char *err,
                      size_t errlen)
{
    *help_out = 0;
    /* Pass 1: --help/--version and the config file; pass 2: everything else. */
    for (int pass = 1; pass <= 2; pass++) {
        for (int i = 1; i < argc; i++) {
            const char *a = argv[i];
            if (a[0] != '-' || a[1] == '\0') {
                fail(err, errlen, "unexpected argument \"%s\" (options start with --)", a);
                return STRATA_EINVAL;
            }
            const char *name = a + 1 + (a[1] == '-');
            const char *eq = strchr(name, '=');
            size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
            if (pass == 1) {
                if ((nlen == 4 && !strncmp(name, "help", 4)) || (nlen == 1 && name[0] == 'h')) {
                    *help_out = 1;
                    return 0;
                }
                if (nlen == 7 && !strncmp(name, "version", 7)) {
                    *help_out = 2;
                    return 0;
                }
                if (nlen == 7 && !strncmp(name, "help-md", 7)) {
                    *help_out = 3;
                    return 0;
                }
            }
            const struct config_option *o = find_n(name, nlen);
            if (!o) {
                if (pass == 2) {
                    fail(err, errlen, "unknown flag %.*s (see strata --help)",
                         (int)(nlen + (size_t)(name - a)), a);
                    return STRATA_EINVAL;
                }
                if (!eq && i + 1 < argc && argv[i + 1][0] != '-')
                    i++;
                continue;
            }
            const char *value;
            if (eq) {
                value = eq + 1;
            } else if (o->type == CONFIG_BOOL &&
                       (i + 1 >= argc ||
                        (strcasecmp(argv[i + 1], "true") && strcasecmp(argv[i + 1], "false")))) {
                value = "true";
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                fail(err, errlen, "flag --%s needs a value (%s)", o->name, type_names[o->type]);
                return STRATA_EINVAL;
            }
            bool is_cfg = !strcmp(o->name, "config.file");
            if (pass == 1 && is_cfg) {
                int rc = set_from(c, o, value, 2, err, errlen);
                if (rc == 0 && value[0])
                    rc = config_load_file(c, value, err, errlen);
                if (rc)
                    return rc;
            } else if (pass == 2 && !is_cfg) {
                int rc = set_from(c, o, value, 2, err, errlen);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* ---- help and docs ------------------------------------------------------- */

bool config_is_secret(const struct config_option *o)
{
    /* --store-config is LogsGO's remote_store YAML given inline: it holds the secret key. */
    return strstr(o->name, "secret") || strstr(o->name, "password") ||
           (strstr(o->name, "token") && !strstr(o->name, "file")) ||
           !strcmp(o->name, "store-config");
}

void config_format_value(const struct config *c, const struct config_option *o, char *out,
                         size_t cap, bool mask)
{
    const void *f = cfield(c, o);
    switch (o->type) {
    case CONFIG_STR: {
        const char *s = *(char *const *)f;
        if (mask && config_is_secret(o) && s && s[0])
            snprintf(out, cap, "********");
        else
            snprintf(out, cap, "%s", s ? s : "");
        break;
    }
    case CONFIG_BOOL: snprintf(out, cap, "%s", *(const bool *)f ? "true" : "false"); break;
    case CONFIG_INT: snprintf(out, cap, "%lld", (long long)*(const int64_t *)f); break;
    case CONFIG_FLOAT: snprintf(out, cap, "%g", *(const double *)f); break;
    case CONFIG_DURATION: clock_format_duration(*(const int64_t *)f, out, cap); break;
    case CONFIG_BYTES: snprintf(out, cap, "%lld", (long long)*(const int64_t *)f); break;
    }
}

void config_print_help(FILE *out)
{
    fprintf(out, "Usage: strata [options]\n"
                 "       strata <command> [options]   (push, query, labels, series, tail, "
                 "stats; see strata <command> --help)\n\n"
                 "Strata stores log lines and answers LogQL and LogsGoQL queries.\n"
                 "Options are flags (--name=value) or keys of the YAML file given by "
                 "--config.file.\n");
    const char *room = "";
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *o = &config_options[i];
        if (strcmp(room, o->room)) {
            room = o->room;
            fprintf(out, "\n%s:\n", room);
        }
        fprintf(out, "  --%s=<%s>\n      %s (default: \"%s\")\n", o->name, type_names[o->type],
                o->help, o->def);
    }
    fprintf(out, "\nsections of the config file (not flags):\n");
    for (size_t i = 0; i < config_section_count; i++)
        fprintf(out, "  %s:\n      %s\n", config_sections[i].name, config_sections[i].help);
    fprintf(out, "\n  --help      this text\n  --version   print the version\n");
}

void config_print_markdown(FILE *out)
{
    fprintf(out, "# Configuration reference\n\n"
                 "Generated by `strata --help-md` from the option table (src/*/options.def); "
                 "a test checks that this file matches it.\n\n"
                 "Every option is a flag (`--name=value` or `--name value`; a single dash "
                 "works too) and a key of the YAML file given by `--config.file`, where "
                 "nested maps join with `.` and `_` equals `-`:\n\n"
                 "```yaml\nlog:\n  level: debug\ndata-dir: /var/lib/strata\n```\n\n"
                 "Flags override the file, which overrides the defaults. Durations take the "
                 "units `ms s m h d w y` (`15m`, `1h30m`, `10d`); sizes take `KiB MiB GiB` or "
                 "`KB MB GB` (`64MiB`).\n");
    const char *room = "";
    for (size_t i = 0; i < config_option_count; i++) {
        const struct config_option *o = &config_options[i];
        if (strcmp(room, o->room)) {
            room = o->room;
            fprintf(out, "\n## %s\n\n| option | type | default | meaning |\n|---|---|---|---|\n",
                    room);
        }
        if (o->def[0])
            fprintf(out, "| `%s` | %s | `%s` | ", o->name, type_names[o->type], o->def);
        else
            fprintf(out, "| `%s` | %s | (empty) | ", o->name, type_names[o->type]);
        for (const char *h = o->help; *h; h++)
            fputs(*h == '|' ? "\\|" : (char[]){*h, 0}, out);
        fputs(" |\n", out);
    }
    fprintf(out, "\n## Sections of the config file\n\n"
                 "Structured top-level keys of the YAML file, which have no flag. Loki's "
                 "`limits_config:` is also read, as the `limits.*` options and the query limits "
                 "Loki keeps there (`max_query_series`, `max_entries_limit_per_query`, "
                 "`max_query_parallelism`, `query_timeout`).\n\n"
                 "| section | meaning |\n|---|---|\n");
    for (size_t i = 0; i < config_section_count; i++)
        fprintf(out, "| `%s` | %s |\n", config_sections[i].name, config_sections[i].help);
}
