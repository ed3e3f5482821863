/*
 * yaml_doc.h - a YAML file as a tree, for the small files of the security
 * layer (the tokens file, LogsGO's TLS file) whose shape is fixed.
 *
 * The text is parsed with libyaml's document API after a first pass that
 * refuses aliases and anchors (so no node is reachable twice, and walking the
 * tree costs at most its size) and more than one document. Callers walk the
 * nodes with the helpers below and report errors with the node's line.
 */
#ifndef STRATA_YAML_DOC_H
#define STRATA_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "core/slice.h"

struct yaml_doc {
    yaml_document_t doc; /* private */
    bool loaded;         /* private */
    const char *origin;  /* private: names the text in messages */
    char *err;           /* private: the message buffer given to yaml_doc_load */
    size_t errlen;       /* private */
};

/*
 * Parse text[0..len). An empty document is fine (the root is then NULL).
 * Returns 0, or STRATA_EINVAL with "<origin>:<line>:<col>: <problem>" in err.
 */
int yaml_doc_load(struct yaml_doc *d, const char *text, size_t len, const char *origin, char *err,
                  size_t errlen);
/* Read a file (at most max bytes) and parse it; messages name the file. */
int yaml_doc_load_file(struct yaml_doc *d, const char *path, size_t max, char *err, size_t errlen);
void yaml_doc_release(struct yaml_doc *d);

/*
 * Report a problem at node n (NULL: the whole text) as "<origin>:<line>:
 * <message>" in the err buffer given to yaml_doc_load, which must still be
 * alive. Returns STRATA_EINVAL, so that callers can `return yaml_doc_fail(...)`.
 */
__attribute__((format(printf, 3, 4))) int yaml_doc_fail(struct yaml_doc *d, const yaml_node_t *n,
                                                        const char *fmt, ...);

/* The root node, or NULL for an empty document. */
yaml_node_t *yaml_doc_root(struct yaml_doc *d);
/* The node with this index (from a pair or a sequence item), or NULL. */
yaml_node_t *yaml_doc_node(struct yaml_doc *d, int index);
/* The 1-based line where node n starts. */
size_t yaml_doc_line(const yaml_node_t *n);
/* A scalar's bytes; an empty slice for other nodes. */
struct slice yaml_doc_scalar(const yaml_node_t *n);
/* True when n is a scalar equal to s. */
bool yaml_doc_is(const yaml_node_t *n, const char *s);
/*
 * A YAML boolean (true/false/yes/no/on/off, any case, or 1/0) into *out.
 * Returns 0, or STRATA_EINVAL if n is not such a scalar.
 */
int yaml_doc_bool(const yaml_node_t *n, bool *out);

#endif
