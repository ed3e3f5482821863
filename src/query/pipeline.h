/*
 * pipeline.h - running a log expression's stages on one entry.
 *
 * Each entry starts with its stream's labels (category "stream") and its
 * structured metadata ("meta"); parsers and label_format add "parsed" labels;
 * drop, keep and label_format remove labels; line_format and decolorize
 * rewrite the line; line and label filters decide whether the entry stays.
 * This follows Loki's LabelsBuilder: a parsed label replaces a metadata or
 * stream label of the same name, metadata replaces a stream label, a parser
 * key that collides with a stream label gets "_extracted" appended, and a
 * failure (bad JSON, a number that does not parse, a template error) keeps
 * the entry and sets __error__ (JSONParserErr, LogfmtParserErr,
 * LabelFilterErr, TemplateFormatErr, SampleExtractionErr) and
 * __error_details__.
 *
 * A struct pipe_state is per thread and reused for every entry: slices it
 * hands out (labels, rewritten lines) stay valid until the next pipe_begin.
 */
#ifndef STRATA_PIPELINE_H
#define STRATA_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/labels.h"
#include "query/plan.h"

enum label_cat { CAT_STREAM = 0, CAT_META = 1, CAT_PARSED = 2 };
#define CATS_ALL   7u
#define CAT_BIT(c) (1u << (c))

struct lb_entry {
    struct slice name, value;
    uint8_t cat;
};

struct pipe_state {
    struct arena scratch; /* private: values and lines made for the current entry */
    const struct label *base;
    uint32_t n_base;
    uint8_t *base_del; /* private: per base label, deleted */
    uint32_t cap_del;
    struct lb_entry *add; /* private: metadata and parsed labels */
    uint32_t n_add, cap_add;
    uint32_t n_meta;               /* private: how many of add are metadata */
    struct slice err, err_details; /* __error__ and __error_details__ (len 0: none) */
    bool has_err, has_details;
    bool touched; /* private: labels differ from the base */
    int64_t ts;   /* private: the current entry's time */
    struct slice line;
    struct buf tmp; /* private: template output */
    struct label *out;
    uint32_t cap_out;
    char msg[256];
};

void pipe_state_init(struct pipe_state *ps);
void pipe_state_release(struct pipe_state *ps);

/*
 * Start an entry: base is the stream's sorted labels, meta its structured
 * metadata in labels_encode form (len 0: none). STRATA_ECORRUPT when meta is
 * malformed (the entry is then treated as having none).
 */
int pipe_begin(struct pipe_state *ps, const struct label *base, uint32_t n_base, struct slice meta);
/*
 * Run stages in order on the entry begun last; *line may be replaced (by
 * line_format, decolorize, unpack). Returns true when the entry stays.
 */
bool pipe_run(struct pipe_state *ps, const struct stage *stages, uint32_t n, int64_t ts,
              struct slice *line);
/* Only the line filters: true when line passes every one (no labels needed). */
bool line_filter_match(const struct line_filter *lf, struct slice line);

/* The current value of a label (including __error__), false when absent. */
bool pipe_get(struct pipe_state *ps, struct slice name, struct slice *value);
bool pipe_base_has(const struct pipe_state *ps, struct slice name);
void pipe_set(struct pipe_state *ps, enum label_cat cat, struct slice name, struct slice value);
void pipe_del(struct pipe_state *ps, struct slice name);
/* Set __error__ (and __error_details__ when details is non-empty); copies both. */
void pipe_set_error(struct pipe_state *ps, const char *err, const char *details);
/* True when the entry's labels are exactly the stream's (nothing added, changed or removed). */
bool pipe_untouched(const struct pipe_state *ps);
/*
 * The entry's labels of the categories in mask (CAT_BIT(...)), sorted by
 * name; __error__ and __error_details__ count as parsed. The array is
 * ps-owned and valid until the next pipe_labels or pipe_begin.
 */
uint32_t pipe_labels(struct pipe_state *ps, unsigned mask, struct label **out);
/*
 * The labels after a by (without=false) or without grouping of names; the
 * extra name is removed as well (unwrap removes its label). Sorted, ps-owned.
 */
uint32_t pipe_grouped_labels(struct pipe_state *ps, const struct grouping *g,
                             struct slice extra_without, struct label **out);

/* Copy bytes into the entry's scratch memory. */
struct slice pipe_dup(struct pipe_state *ps, struct slice s);

/* Loki's sanitizeLabelKey: [a-zA-Z0-9_] kept, anything else '_', a leading digit gets '_'. */
struct slice label_key_sanitize(struct arena *a, struct slice key, bool prefix);

/* The ANSI escape matcher used by | decolorize (compiled once). */
struct regex *pipe_ansi_regex(void);

#endif
