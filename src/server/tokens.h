/*
 * tokens.h - the bearer tokens file (--auth.tokens-file): static tokens, each
 * mapped to tenants and roles.
 *
 *     tokens:
 *       - name: shop-agent          # shown in logs; defaults to "token <n>"
 *         token: "8c1f...e2"        # the bearer token itself (16 to 4096 printable characters)
 *         tenant: shop              # or tenants: [shop, shop-eu]; "*" means every tenant
 *         role: write               # read, write or admin, or roles: [read, write]
 *       - name: grafana
 *         sha256: "5e88...d8"       # instead of token: its SHA-256 in hex, so the file holds
 *         tenants: [shop, bank]     # no secret
 *         roles: [read]
 *         expires: 2027-06-30T00:00:00Z   # optional (RFC 3339): refused afterwards
 *
 * admin implies read and write. Keys are checked strictly (an unknown key is
 * an error, so that a typo cannot silently widen or narrow access), tenants
 * with tenant_valid, and the same token may not appear twice. Tokens are
 * kept only as SHA-256 digests; a lookup hashes the presented token and
 * compares digests in constant time.
 */
#ifndef STRATA_TOKENS_H
#define STRATA_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_MIN_LEN 16
#define TOKEN_MAX_LEN 4096
/* Most entries one file may hold. */
#define TOKENS_MAX 100000

struct token_entry {
    unsigned char digest[32]; /* SHA-256 of the token */
    char *name;
    char **tenants; /* valid tenant ids, or the single TENANT_ANY ("*") */
    uint32_t n_tenants;
    bool any_tenant;    /* tenants is ["*"] */
    unsigned roles;     /* enum auth_role bits, admin expanded to read|write|admin */
    int64_t expires_ns; /* 0: never */
};

struct token_table;

/*
 * Parse the YAML text of a tokens file. origin names it in messages
 * ("<origin>:<line>: ..."). On success *out owns the table.
 */
int token_table_parse(const char *text, size_t len, const char *origin, struct token_table **out,
                      char *err, size_t errlen);
/* Read (at most 64 MiB) and parse a tokens file. */
int token_table_load(const char *path, struct token_table **out, char *err, size_t errlen);
void token_table_free(struct token_table *t);
size_t token_table_count(const struct token_table *t);
/*
 * The entry whose token is token[0..len), or NULL. Does not look at expiry
 * (the caller does, to give the right message). Thread-safe: the table is
 * read-only once parsed.
 */
const struct token_entry *token_table_find(const struct token_table *t, const char *token,
                                           size_t len);

#endif
