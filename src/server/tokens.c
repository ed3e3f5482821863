/*
 * tokens.c - the bearer tokens file: parse, check, look up. Contract and
 * format in tokens.h.
 */
#include "server/tokens.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "ingest/batch.h"
#include "server/auth.h"
#include "server/keyfile.h"
#include "server/tenant.h"
#include "server/yaml_doc.h"

struct token_table {
    struct token_entry *entries;
    size_t n;
    uint32_t *slots; /* open addressing on the digest: entry index + 1, 0 empty */
    size_t mask;
};

static uint64_t digest_hash(const unsigned char *d)
{
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    return h;
}

void token_table_free(struct token_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        struct token_entry *e = &t->entries[i];
        free(e->name);
        for (uint32_t j = 0; j < e->n_tenants; j++)
            free(e->tenants[j]);
        free(e->tenants);
    }
    OPENSSL_cleanse(t->entries, t->n * sizeof(*t->entries));
    free(t->entries);
    free(t->slots);
    free(t);
}

size_t token_table_count(const struct token_table *t)
{
    return t ? t->n : 0;
}

const struct token_entry *token_table_find(const struct token_table *t, const char *token,
                                           size_t len)
{
    if (!t || !t->n || len == 0)
        return NULL;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, d);
    for (size_t i = digest_hash(d) & t->mask;; i = (i + 1) & t->mask) {
        uint32_t s = t->slots[i];
        if (!s)
            return NULL;
        const struct token_entry *e = &t->entries[s - 1];
        if (CRYPTO_memcmp(e->digest, d, sizeof(d)) == 0)
            return e;
    }
}

/* ---- parsing ---- */

/* A scalar as a C string (no embedded NUL), or NULL. */
static char *scalar_dup(const yaml_node_t *n)
{
    struct slice s = yaml_doc_scalar(n);
    if (!n || n->type != YAML_SCALAR_NODE || memchr(s.ptr, '\0', s.len))
        return NULL;
    return xstrndup(s.ptr, s.len);
}

/* One scalar, or a sequence of scalars: call fn on each; refuses other shapes. */
static int each_scalar(struct yaml_doc *p, yaml_node_t *n, const char *key,
                       int (*fn)(struct yaml_doc *, yaml_node_t *, void *), void *arg)
{
    if (n->type == YAML_SCALAR_NODE)
        return fn(p, n, arg);
    if (n->type != YAML_SEQUENCE_NODE)
        return yaml_doc_fail(p, n, "%s: expected a value or a list of values", key);
    if (n->data.sequence.items.start == n->data.sequence.items.top)
        return yaml_doc_fail(p, n, "%s: the list is empty", key);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *v = yaml_doc_node(p, *it);
        if (!v || v->type != YAML_SCALAR_NODE)
            return yaml_doc_fail(p, v ? v : n, "%s: expected a list of values", key);
        int rc = fn(p, v, arg);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int add_tenant(struct yaml_doc *p, yaml_node_t *v, void *arg)
{
    struct token_entry *e = arg;
    struct slice s = yaml_doc_scalar(v);
    bool any = slice_eq_str(s, TENANT_ANY);
    if (!any && !tenant_valid(s.ptr, s.len))
        return yaml_doc_fail(
            p, v,
            "invalid tenant \"%.*s\": use 1 to %d of a-z A-Z 0-9 ! - _ . * ' ( ), or \"*\" "
            "for every tenant",
            (int)(s.len > 64 ? 64 : s.len), s.ptr, TENANT_MAX);
    if (any)
        e->any_tenant = true;
    for (uint32_t i = 0; i < e->n_tenants; i++)
        if (slice_eq_str(s, e->tenants[i]))
            return 0; /* listed twice: harmless */
    if (e->n_tenants >= TENANT_MAX_PER_QUERY * 16)
        return yaml_doc_fail(p, v, "too many tenants for one token");
    e->tenants = xreallocarray(e->tenants, e->n_tenants + 1, sizeof(*e->tenants));
    e->tenants[e->n_tenants++] = xstrndup(s.ptr, s.len);
    return 0;
}

static int add_role(struct yaml_doc *p, yaml_node_t *v, void *arg)
{
    struct token_entry *e = arg;
    unsigned r = auth_role_parse(yaml_doc_scalar(v));
    if (!r) {
        struct slice s = yaml_doc_scalar(v);
        return yaml_doc_fail(p, v, "unknown role \"%.*s\": use read, write or admin",
                             (int)(s.len > 64 ? 64 : s.len), s.ptr);
    }
    e->roles |= r;
    return 0;
}

static int parse_entry(struct yaml_doc *p, yaml_node_t *n, size_t index, struct token_entry *e)
{
    if (n->type != YAML_MAPPING_NODE)
        return yaml_doc_fail(p, n,
                             "each entry of tokens must be a mapping (name, token, tenants, role)");
    bool have_token = false, have_tenants = false, have_roles = false;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_doc_node(p, pr->key);
        yaml_node_t *v = yaml_doc_node(p, pr->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return yaml_doc_fail(p, n, "expected keys with values");
        struct slice key = yaml_doc_scalar(k);
        if (slice_eq_str(key, "name")) {
            free(e->name);
            e->name = scalar_dup(v);
            if (!e->name)
                return yaml_doc_fail(p, v, "name: expected a string");
        } else if (slice_eq_str(key, "token")) {
            if (have_token)
                return yaml_doc_fail(p, k, "give either token or sha256, once");
            struct slice t = yaml_doc_scalar(v);
            if (v->type != YAML_SCALAR_NODE)
                return yaml_doc_fail(p, v, "token: expected a string");
            if (t.len < TOKEN_MIN_LEN || t.len > TOKEN_MAX_LEN)
                return yaml_doc_fail(p, v,
                                     "token: must be %d to %d characters long (this one has %zu)",
                                     TOKEN_MIN_LEN, TOKEN_MAX_LEN, t.len);
            for (size_t i = 0; i < t.len; i++)
                if ((unsigned char)t.ptr[i] < 0x21 || (unsigned char)t.ptr[i] > 0x7e)
                    return yaml_doc_fail(p, v,
                                         "token: only printable ASCII without spaces is allowed");
            SHA256((const unsigned char *)t.ptr, t.len, e->digest);
            have_token = true;
        } else if (slice_eq_str(key, "sha256")) {
            if (have_token)
                return yaml_doc_fail(p, k, "give either token or sha256, once");
            struct slice h = yaml_doc_scalar(v);
            if (v->type != YAML_SCALAR_NODE || h.len != 64)
                return yaml_doc_fail(p, v, "sha256: expected 64 hexadecimal digits");
            for (size_t i = 0; i < 32; i++) {
                int hi = OPENSSL_hexchar2int((unsigned char)h.ptr[2 * i]),
                    lo = OPENSSL_hexchar2int((unsigned char)h.ptr[2 * i + 1]);
                if (hi < 0 || lo < 0)
                    return yaml_doc_fail(p, v, "sha256: expected 64 hexadecimal digits");
                e->digest[i] = (unsigned char)(hi << 4 | lo);
            }
            have_token = true;
        } else if (slice_eq_str(key, "tenant") || slice_eq_str(key, "tenants")) {
            int rc = each_scalar(p, v, "tenants", add_tenant, e);
            if (rc < 0)
                return rc;
            have_tenants = true;
        } else if (slice_eq_str(key, "role") || slice_eq_str(key, "roles")) {
            int rc = each_scalar(p, v, "roles", add_role, e);
            if (rc < 0)
                return rc;
            have_roles = true;
        } else if (slice_eq_str(key, "expires")) {
            int64_t ns;
            if (v->type != YAML_SCALAR_NODE || clock_parse_rfc3339(yaml_doc_scalar(v), &ns) < 0)
                return yaml_doc_fail(
                    p, v, "expires: expected an RFC 3339 time such as 2027-01-31T00:00:00Z");
            e->expires_ns = ns;
        } else {
            return yaml_doc_fail(
                p, k,
                "unknown key \"%.*s\" in a token entry (expected name, token or sha256, "
                "tenants, role, expires)",
                (int)(key.len > 64 ? 64 : key.len), key.ptr);
        }
    }
    if (!e->name) {
        char nm[32];
        snprintf(nm, sizeof(nm), "token %zu", index + 1);
        e->name = xstrdup(nm);
    }
    if (!have_token)
        return yaml_doc_fail(p, n, "entry \"%s\": needs token (or sha256)", e->name);
    if (!have_tenants)
        return yaml_doc_fail(
            p, n, "entry \"%s\": needs tenants (a list, or \"*\" for every tenant)", e->name);
    if (!have_roles)
        return yaml_doc_fail(p, n, "entry \"%s\": needs a role (read, write or admin)", e->name);
    if (e->any_tenant && e->n_tenants > 1)
        return yaml_doc_fail(
            p, n, "entry \"%s\": \"*\" already means every tenant; list nothing else", e->name);
    return 0;
}

static int build_index(struct yaml_doc *p, struct token_table *t, yaml_node_t *seq)
{
    size_t cap = 16;
    while (cap < t->n * 2)
        cap *= 2;
    t->slots = xcalloc(cap, sizeof(*t->slots));
    t->mask = cap - 1;
    for (size_t i = 0; i < t->n; i++) {
        const struct token_entry *e = &t->entries[i];
        size_t s = digest_hash(e->digest) & t->mask;
        for (; t->slots[s]; s = (s + 1) & t->mask) {
            const struct token_entry *o = &t->entries[t->slots[s] - 1];
            if (!memcmp(o->digest, e->digest, sizeof(e->digest)))
                return yaml_doc_fail(p, seq, "entries \"%s\" and \"%s\" have the same token",
                                     o->name, e->name);
        }
        t->slots[s] = (uint32_t)(i + 1);
    }
    return 0;
}

int token_table_parse(const char *text, size_t len, const char *origin, struct token_table **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    struct yaml_doc doc;
    int rc = yaml_doc_load(&doc, text, len, origin, err, errlen);
    if (rc < 0)
        return rc;
    struct token_table *t = xcalloc(1, sizeof(*t));
    yaml_node_t *root = yaml_doc_root(&doc), *seq = NULL;
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = yaml_doc_fail(&doc, root, "expected a mapping with a tokens: list");
        goto done;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_doc_node(&doc, pr->key);
        if (yaml_doc_is(k, "tokens") && !seq) {
            seq = yaml_doc_node(&doc, pr->value);
        } else {
            struct slice ks = yaml_doc_scalar(k);
            rc = yaml_doc_fail(&doc, k, "unexpected key \"%.*s\" (the file has one key, tokens)",
                               (int)(ks.len > 64 ? 64 : ks.len), ks.ptr);
            goto done;
        }
    }
    if (!seq || seq->type != YAML_SEQUENCE_NODE ||
        seq->data.sequence.items.start == seq->data.sequence.items.top) {
        rc = yaml_doc_fail(&doc, seq ? seq : root, "tokens: expected a non-empty list of entries");
        goto done;
    }
    size_t count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (count > TOKENS_MAX) {
        rc = yaml_doc_fail(&doc, seq, "more than %d tokens", TOKENS_MAX);
        goto done;
    }
    t->entries = xcalloc(count, sizeof(*t->entries));
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *n = yaml_doc_node(&doc, seq->data.sequence.items.start[i]);
        t->n = i + 1; /* so that token_table_free releases a half-built entry */
        rc = n ? parse_entry(&doc, n, i, &t->entries[i]) : yaml_doc_fail(&doc, seq, "bad entry");
        if (rc < 0)
            goto done;
    }
    rc = build_index(&doc, t, seq);
done:
    yaml_doc_release(&doc);
    if (rc < 0)
        token_table_free(t);
    else
        *out = t;
    return rc;
}

int token_table_load(const char *path, struct token_table **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t n;
    char *text = keyfile_read(path, 64u << 20, &n, err, errlen);
    if (!text)
        return STRATA_EINVAL;
    int rc = token_table_parse(text, n, path, out, err, errlen);
    keyfile_free(text, n);
    return rc;
}
