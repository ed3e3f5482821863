/*
 * yaml_doc.c - small YAML files as trees (libyaml's document API), without
 * aliases. Contract in yaml_doc.h.
 */
#include "server/yaml_doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"
#include "server/keyfile.h"

/* First pass: events only, refusing aliases, anchors and a second document. */
static int check_events(const char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        strata_errorf(err, errlen, "%s: cannot initialise the YAML parser", origin);
        return STRATA_EINVAL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0, docs = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            strata_errorf(err, errlen, "%s:%zu:%zu: %s", origin, p.problem_mark.line + 1,
                          p.problem_mark.column + 1, p.problem ? p.problem : "YAML syntax error");
            rc = STRATA_EINVAL;
            break;
        }
        size_t line = ev.start_mark.line + 1;
        bool anchored = (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.anchor) ||
                        (ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor) ||
                        (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor);
        if (ev.type == YAML_ALIAS_EVENT || anchored) {
            strata_errorf(err, errlen, "%s:%zu: YAML anchors and aliases are not supported here",
                          origin, line);
            rc = STRATA_EINVAL;
        } else if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            strata_errorf(err, errlen, "%s:%zu: expected one YAML document", origin, line);
            rc = STRATA_EINVAL;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc || end)
            break;
    }
    yaml_parser_delete(&p);
    return rc;
}

int yaml_doc_load(struct yaml_doc *d, const char *text, size_t len, const char *origin, char *err,
                  size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->origin = origin;
    d->err = err;
    d->errlen = errlen;
    int rc = check_events(text, len, origin, err, errlen);
    if (rc < 0)
        return rc;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        strata_errorf(err, errlen, "%s: cannot initialise the YAML parser", origin);
        return STRATA_EINVAL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &d->doc)) {
        strata_errorf(err, errlen, "%s:%zu:%zu: %s", origin, p.problem_mark.line + 1,
                      p.problem_mark.column + 1, p.problem ? p.problem : "YAML syntax error");
        yaml_parser_delete(&p);
        return STRATA_EINVAL;
    }
    d->loaded = true;
    yaml_parser_delete(&p);
    return 0;
}

int yaml_doc_load_file(struct yaml_doc *d, const char *path, size_t max, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    size_t n;
    char *text = keyfile_read(path, max, &n, err, errlen);
    if (!text)
        return STRATA_EINVAL;
    int rc = yaml_doc_load(d, text, n, path, err, errlen);
    keyfile_free(text, n);
    return rc;
}

int yaml_doc_fail(struct yaml_doc *d, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    strata_errorf(d->err, d->errlen, "%s:%zu: %s", d->origin ? d->origin : "yaml", yaml_doc_line(n),
                  msg);
    return STRATA_EINVAL;
}

void yaml_doc_release(struct yaml_doc *d)
{
    if (d->loaded)
        yaml_document_delete(&d->doc);
    d->loaded = false;
}

yaml_node_t *yaml_doc_root(struct yaml_doc *d)
{
    return d->loaded ? yaml_document_get_root_node(&d->doc) : NULL;
}

yaml_node_t *yaml_doc_node(struct yaml_doc *d, int index)
{
    return d->loaded ? yaml_document_get_node(&d->doc, index) : NULL;
}

size_t yaml_doc_line(const yaml_node_t *n)
{
    return n ? n->start_mark.line + 1 : 0;
}

struct slice yaml_doc_scalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return slice_make("", 0);
    return slice_make((const char *)n->data.scalar.value, n->data.scalar.length);
}

bool yaml_doc_is(const yaml_node_t *n, const char *s)
{
    return n && n->type == YAML_SCALAR_NODE && slice_eq_str(yaml_doc_scalar(n), s);
}

int yaml_doc_bool(const yaml_node_t *n, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (!n || n->type != YAML_SCALAR_NODE)
        return STRATA_EINVAL;
    struct slice v = yaml_doc_scalar(n);
    for (int i = 0; i < 4; i++) {
        if (slice_eq_nocase(v, yes[i])) {
            *out = true;
            return 0;
        }
        if (slice_eq_nocase(v, no[i])) {
            *out = false;
            return 0;
        }
    }
    return STRATA_EINVAL;
}
