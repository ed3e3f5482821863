/*
 * s3_xml.h - the XML that S3 answers with: a small pull reader and the
 * parsers for each response the client reads.
 *
 * The reader takes the subset of XML 1.0 that S3 servers write: a prolog
 * (<?xml ...?>), comments, elements with attributes (ignored), character
 * data with the five predefined entities and numeric character references,
 * and CDATA sections. DOCTYPE declarations are refused, so there are no
 * custom entities to expand; nesting is limited (S3_XML_MAX_DEPTH). Bytes
 * from the network are untrusted: every parser is bounded by its input,
 * never reads past it, and answers STRATA_EPARSE for anything malformed.
 *
 * The parsers fill caller-owned structs; strings are copied into the
 * caller's arena (NUL-terminated) and stay valid until it is released.
 */
#ifndef STRATA_S3_XML_H
#define STRATA_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/slice.h"

#define S3_XML_MAX_DEPTH 16

enum xml_event_type {
    XML_START = 1, /* <name ...> (or <name/>, followed by its XML_END) */
    XML_END,       /* </name> */
    XML_TEXT,      /* character data, raw (decode with xml_text_decode) */
    XML_CDATA,     /* a CDATA section's content, literal */
};

struct xml_event {
    enum xml_event_type type;
    struct slice name; /* START/END: the local name (any "prefix:" removed) */
    struct slice text; /* TEXT/CDATA */
    int depth;         /* START: depth of the element (root = 1); END: the same; TEXT: parent's */
};

struct xml_reader {
    const char *p, *end;                   /* private */
    struct slice stack[S3_XML_MAX_DEPTH];  /* private: names of the open elements */
    int depth;                             /* private */
    bool pending_end, seen_root, root_end; /* private */
    const char *err;                       /* private: the first error, or NULL */
};

void xml_reader_init(struct xml_reader *r, const char *data, size_t len);
/*
 * The next event: 1 with *ev filled, 0 at the end of a well-formed document,
 * STRATA_EPARSE on malformed input (the message is xml_reader_error()).
 */
int xml_next(struct xml_reader *r, struct xml_event *ev);
const char *xml_reader_error(const struct xml_reader *r);
/* The name of the open element at depth d (1 = root), or an empty slice. */
struct slice xml_element_at(const struct xml_reader *r, int d);

/*
 * Append raw character data with its entity and character references
 * decoded (as UTF-8) to out. STRATA_EPARSE for an unknown entity or an
 * invalid code point, STRATA_ETOOLARGE at out's maximum.
 */
int xml_text_decode(struct buf *out, struct slice raw);
/* Append s with & < > " ' escaped, for request bodies. */
int xml_escape(struct buf *out, const char *s, size_t n);
/*
 * Decode %XX escapes in place (the keys of listings requested with
 * encoding-type=url; '+' is left alone, as S3 encodes spaces as %20).
 * Returns the new length, or -1 for a malformed escape.
 */
long s3_url_decode_inplace(char *s, size_t n);

/* ---- S3 responses ---- */

/* An <Error> body: <Code>, <Message>, <RequestId>, <Resource>/<Key>/<BucketName>. */
struct s3_xml_error {
    char code[64];
    char message[320];
    char request_id[96];
    char resource[256];
};
/* 0 when body is an <Error> document, STRATA_EPARSE otherwise (out is then empty). */
int s3_xml_parse_error(const char *body, size_t len, struct s3_xml_error *out);

/* The local name of the root element into out (e.g. "Error"); 0 or STRATA_EPARSE. */
int s3_xml_root_name(const char *body, size_t len, char *out, size_t cap);

/*
 * The text of the first element named `name` that is a direct child of the
 * root (e.g. "UploadId" of an InitiateMultipartUploadResult), copied into a.
 * STRATA_ENOTFOUND when absent, STRATA_EPARSE for a malformed document.
 */
int s3_xml_child_text(const char *body, size_t len, const char *name, struct arena *a, char **out);

struct s3_object_entry {
    char *key;
    int64_t size;
    char *etag;               /* as sent, quotes included */
    int64_t last_modified_ns; /* 0 if absent or unparseable */
};

struct s3_list_result {
    struct s3_object_entry *objects;
    size_t n_objects;
    char **prefixes; /* CommonPrefixes (with a delimiter) */
    size_t n_prefixes;
    bool truncated;
    char *next_token; /* NextContinuationToken, NULL when absent */
    bool url_encoded; /* EncodingType was "url": keys and prefixes have been decoded */
};
/* A ListObjectsV2 page (<ListBucketResult>). 0 or STRATA_EPARSE. */
int s3_xml_parse_list(const char *body, size_t len, struct arena *a, struct s3_list_result *out);

struct s3_upload_entry {
    char *key;
    char *upload_id;
    int64_t initiated_ns;
};
struct s3_uploads_result {
    struct s3_upload_entry *uploads;
    size_t n_uploads;
    bool truncated;
    char *next_key_marker, *next_upload_id_marker;
};
/* A ListMultipartUploads page (<ListMultipartUploadsResult>). 0 or STRATA_EPARSE. */
int s3_xml_parse_uploads(const char *body, size_t len, struct arena *a,
                         struct s3_uploads_result *out);

struct s3_delete_failure {
    char *key, *code, *message;
};
struct s3_delete_result {
    size_t n_deleted;
    struct s3_delete_failure *failed;
    size_t n_failed;
};
/* A DeleteObjects answer (<DeleteResult>). 0 or STRATA_EPARSE. */
int s3_xml_parse_delete(const char *body, size_t len, struct arena *a,
                        struct s3_delete_result *out);

/*
 * A Content-Range header value "bytes FIRST-LAST/TOTAL", where a '*' may
 * stand for FIRST-LAST (a 416 answer) or for TOTAL (unknown). Sets *first and
 * *last (-1 for '*') and *total (-1 when unknown). 0 or STRATA_EPARSE.
 */
int s3_parse_content_range(struct slice v, int64_t *first, int64_t *last, int64_t *total);

#endif
