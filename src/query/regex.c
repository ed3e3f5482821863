#include "query/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

struct regex {
    pcre2_code *code;
    int n_groups;
    char **names; /* by group number, 1-based; NULL where unnamed */
    char *literal;
    size_t literal_len;
    char *required; /* a substring every match contains (NULL: none known) */
    size_t required_len;
};

/* Drop the last UTF-8 character of run[0..*n). */
static void drop_last_char(const char *run, size_t *n)
{
    while (*n > 0 && ((unsigned char)run[*n - 1] & 0xc0) == 0x80)
        (*n)--;
    if (*n > 0)
        (*n)--;
}

/*
 * The longest run of plain characters that every match of p must contain,
 * for prefiltering lines. Conservative: no answer for a top-level
 * alternation or inline flags; groups, classes, escapes like \d and
 * optional characters end a run.
 */
static void find_required(struct slice p, char **out, size_t *out_len)
{
    char best[256], run[256];
    size_t nb = 0, nr = 0;
    size_t i = 0;
    bool last_was_lit = false;
#define END_RUN()                  \
    do {                           \
        if (nr > nb) {             \
            memcpy(best, run, nr); \
            nb = nr;               \
        }                          \
        nr = 0;                    \
        last_was_lit = false;      \
    } while (0)
    while (i < p.len) {
        char c = p.ptr[i];
        if (c == '|')
            return; /* alternation: nothing is required */
        if (c == '(') {
            if (i + 1 < p.len && p.ptr[i + 1] == '?') {
                char d = i + 2 < p.len ? p.ptr[i + 2] : 0;
                if (d != ':' && d != 'P' && d != '<')
                    return; /* inline flags or lookaround */
            }
            END_RUN();
            int depth = 0;
            while (i < p.len) {
                char g = p.ptr[i];
                if (g == '\\') {
                    i += 2;
                    continue;
                }
                if (g == '[') {
                    i++;
                    if (i < p.len && p.ptr[i] == '^')
                        i++;
                    if (i < p.len && p.ptr[i] == ']')
                        i++;
                    while (i < p.len && p.ptr[i] != ']')
                        i += p.ptr[i] == '\\' ? 2 : 1;
                    i++;
                    continue;
                }
                if (g == '(')
                    depth++;
                if (g == ')' && --depth == 0) {
                    i++;
                    break;
                }
                i++;
            }
            continue;
        }
        if (c == '[') {
            END_RUN();
            i++;
            if (i < p.len && p.ptr[i] == '^')
                i++;
            if (i < p.len && p.ptr[i] == ']')
                i++;
            while (i < p.len && p.ptr[i] != ']')
                i += p.ptr[i] == '\\' ? 2 : 1;
            i++;
            continue;
        }
        if (c == '?' || c == '*' || c == '{') {
            if (last_was_lit)
                drop_last_char(run, &nr);
            END_RUN();
            if (c == '{')
                while (i < p.len && p.ptr[i] != '}')
                    i++;
            i++;
            continue;
        }
        if (c == '+') {
            END_RUN();
            i++;
            continue;
        }
        if (c == '.' || c == '^' || c == '$' || c == ')') {
            END_RUN();
            i++;
            continue;
        }
        if (c == '\\') {
            char d = i + 1 < p.len ? p.ptr[i + 1] : 0;
            if (d &&
                !((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9'))) {
                if (nr < sizeof(run))
                    run[nr++] = d;
                last_was_lit = true;
            } else {
                END_RUN();
            }
            i += 2;
            continue;
        }
        if (nr < sizeof(run)) {
            run[nr++] = c;
            last_was_lit = true;
        } else {
            END_RUN();
        }
        i++;
    }
    END_RUN();
#undef END_RUN
    if (nb >= 3) {
        *out = xstrndup(best, nb);
        *out_len = nb;
    }
}

static unsigned long match_limit = 1000000;

void regex_set_match_limit(unsigned long limit)
{
    if (__atomic_load_n(&match_limit, __ATOMIC_RELAXED) != limit)
        __atomic_store_n(&match_limit, limit, __ATOMIC_RELAXED);
}

/* One match context and match data per thread, created on first use. */
static __thread pcre2_match_context *tls_mctx;
static __thread pcre2_match_data *tls_md;
static __thread pcre2_jit_stack *tls_jit;
static __thread unsigned long tls_limit;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *unused)
{
    (void)unused;
    pcre2_match_data_free(tls_md);
    pcre2_match_context_free(tls_mctx);
    pcre2_jit_stack_free(tls_jit);
    tls_md = NULL;
    tls_mctx = NULL;
    tls_jit = NULL;
}

static void tls_key_init(void)
{
    pthread_key_create(&tls_key, tls_free);
}

static void tls_init(void)
{
    unsigned long limit = __atomic_load_n(&match_limit, __ATOMIC_RELAXED);
    if (tls_mctx && tls_limit == limit)
        return;
    if (!tls_mctx) {
        pthread_once(&tls_once, tls_key_init);
        tls_mctx = pcre2_match_context_create(NULL);
        tls_md = pcre2_match_data_create(64, NULL);
        tls_jit = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
        if (!tls_mctx || !tls_md || !tls_jit)
            abort();
        pcre2_jit_stack_assign(tls_mctx, NULL, tls_jit);
        pthread_setspecific(tls_key, tls_md);
    }
    pcre2_set_match_limit(tls_mctx, (uint32_t)limit);
    pcre2_set_depth_limit(tls_mctx, 10000);
    tls_limit = limit;
}

static bool is_meta(char c)
{
    return strchr("\\^$.|?*+()[]{}", c) != NULL;
}

struct regex *regex_compile(struct slice pattern, int flags, char *err, size_t errlen)
{
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DUPNAMES;
    if (flags & REGEX_ANCHORED)
        opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
    if (flags & REGEX_CASELESS)
        opts |= PCRE2_CASELESS;
    int ec;
    PCRE2_SIZE eoff;
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    /* RE2 has no backreferences or lookaround, but PCRE2 syntax beyond RE2 is harmless. */
    pcre2_set_max_pattern_length(cc, 64 * 1024);
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern.ptr, pattern.len, opts, &ec, &eoff, cc);
    pcre2_compile_context_free(cc);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        snprintf(err, errlen, "error parsing regexp: %s at position %zu", (char *)msg,
                 (size_t)eoff);
        return NULL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter on failure */
    struct regex *re = xcalloc(1, sizeof(*re));
    re->code = code;
    uint32_t cap = 0, namecount = 0, entry = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &cap);
    re->n_groups = (int)cap;
    re->names = xcalloc(cap + 1, sizeof(char *));
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &namecount);
    if (namecount) {
        PCRE2_SPTR table;
        pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
        pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
        for (uint32_t i = 0; i < namecount; i++) {
            const unsigned char *e = table + i * entry;
            int g = (e[0] << 8) | e[1];
            if (g >= 1 && g <= (int)cap && !re->names[g])
                re->names[g] = xstrdup((const char *)e + 2);
        }
    }
    bool literal = !(flags & REGEX_CASELESS) && pattern.len > 0;
    for (size_t i = 0; i < pattern.len && literal; i++)
        if (is_meta(pattern.ptr[i]))
            literal = false;
    if (literal) {
        re->literal = xstrndup(pattern.ptr, pattern.len);
        re->literal_len = pattern.len;
    }
    if (!(flags & REGEX_CASELESS))
        find_required(pattern, &re->required, &re->required_len);
    return re;
}

void regex_free(struct regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    for (int i = 0; i <= re->n_groups; i++)
        free(re->names[i]);
    free(re->names);
    free(re->literal);
    free(re->required);
    free(re);
}

static int run(const struct regex *re, struct slice s, pcre2_match_data *md)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)(s.ptr ? s.ptr : ""), s.len, 0, 0, md, tls_mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
        return STRATA_ELIMIT;
    return 0;
}

int regex_match(const struct regex *re, struct slice subject)
{
    tls_init();
    return run(re, subject, tls_md);
}

int regex_match_groups(const struct regex *re, struct slice subject, long *ov, int ov_pairs)
{
    tls_init();
    pcre2_match_data *md = tls_md;
    pcre2_match_data *own = NULL;
    if (re->n_groups + 1 > 64) {
        own = pcre2_match_data_create_from_pattern(re->code, NULL);
        md = own;
    }
    int rc = run(re, subject, md);
    if (rc == 1) {
        PCRE2_SIZE *v = pcre2_get_ovector_pointer(md);
        uint32_t n = pcre2_get_ovector_count(md);
        for (int i = 0; i < ov_pairs; i++) {
            if ((uint32_t)i < n && v[2 * i] != PCRE2_UNSET) {
                ov[2 * i] = (long)v[2 * i];
                ov[2 * i + 1] = (long)v[2 * i + 1];
            } else {
                ov[2 * i] = ov[2 * i + 1] = -1;
            }
        }
    }
    pcre2_match_data_free(own);
    return rc;
}

int regex_group_count(const struct regex *re)
{
    return re->n_groups;
}

const char *regex_group_name(const struct regex *re, int i)
{
    return i >= 1 && i <= re->n_groups ? re->names[i] : NULL;
}

bool regex_is_literal(const struct regex *re, struct slice *literal)
{
    if (!re->literal)
        return false;
    *literal = (struct slice){re->literal, re->literal_len};
    return true;
}

bool regex_required_literal(const struct regex *re, struct slice *literal)
{
    if (!re->required)
        return false;
    *literal = (struct slice){re->required, re->required_len};
    return true;
}
