/* Unit tests of src/query: regexes and selectors. */
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "query/find.h"
#include "query/regex.h"
#include "query/selector.h"
#include "test.h"

TEST(regex_anchored_and_unanchored)
{
    char err[256];
    struct regex *a = regex_compile(slice_from("ap.*"), REGEX_ANCHORED, err, sizeof(err));
    ASSERT_TRUE(a != NULL);
    ASSERT_EQ_INT(regex_match(a, slice_from("api")), 1);
    ASSERT_EQ_INT(regex_match(a, slice_from("my-api")), 0);
    struct regex *u = regex_compile(slice_from("err(or)?"), 0, err, sizeof(err));
    ASSERT_EQ_INT(regex_match(u, slice_from("an error here")), 1);
    struct regex *bad = regex_compile(slice_from("(unclosed"), 0, err, sizeof(err));
    ASSERT_TRUE(bad == NULL);
    ASSERT_TRUE(strstr(err, "error parsing regexp") != NULL);
    regex_free(a);
    regex_free(u);
}

TEST(regex_catastrophic_backtracking_is_bounded)
{
    char err[256];
    struct regex *re = regex_compile(slice_from("(a+)+$"), 0, err, sizeof(err));
    ASSERT_TRUE(re != NULL);
    char subject[64];
    memset(subject, 'a', 40);
    subject[40] = 'b';
    subject[41] = 0;
    int rc = regex_match(re, slice_from(subject));
    ASSERT_TRUE(rc == 0 || rc == STRATA_ELIMIT);
    regex_free(re);
}

TEST(regex_named_groups)
{
    char err[256];
    struct regex *re =
        regex_compile(slice_from("(?P<method>[A-Z]+) (?P<path>\\S+)"), 0, err, sizeof(err));
    ASSERT_TRUE(re != NULL);
    ASSERT_EQ_INT(regex_group_count(re), 2);
    ASSERT_EQ_STR(regex_group_name(re, 1), "method");
    long ov[6];
    ASSERT_EQ_INT(regex_match_groups(re, slice_from("GET /x 200"), ov, 3), 1);
    ASSERT_EQ_INT(ov[2], 0);
    ASSERT_EQ_INT(ov[3], 3);
    ASSERT_EQ_INT(ov[4], 4);
    ASSERT_EQ_INT(ov[5], 6);
    regex_free(re);
}

TEST(selector_parses_and_matches)
{
    struct arena a;
    arena_init(&a, 0);
    struct selector s;
    size_t used;
    char err[512];
    ASSERT_EQ_INT(selector_parse(slice_from("{app=\"api\", env!=\"dev\", host=~\"h-[0-9]+\", "
                                            "level!~\"debug|trace\"} |= \"x\""),
                                 &a, &s, &used, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(s.n, 4);
    ASSERT_EQ_INT(used, 63);
    struct label yes[] = {{SLICE_LIT("app"), SLICE_LIT("api")},
                          {SLICE_LIT("host"), SLICE_LIT("h-12")},
                          {SLICE_LIT("level"), SLICE_LIT("info")}};
    struct label no[] = {{SLICE_LIT("app"), SLICE_LIT("api")},
                         {SLICE_LIT("host"), SLICE_LIT("h-12x")}};
    ASSERT_TRUE(selector_matches(&s, yes, 3));
    ASSERT_FALSE(selector_matches(&s, no, 2));
    struct buf b;
    buf_init(&b, 1000);
    ASSERT_EQ_INT(selector_format(&b, &s), 0);
    ASSERT_EQ_STR(b.ptr, "{app=\"api\", env!=\"dev\", host=~\"h-[0-9]+\", level!~\"debug|trace\"}");
    buf_release(&b);
    selector_release(&s);
    arena_release(&a);
}

TEST(selector_errors)
{
    struct arena a;
    arena_init(&a, 0);
    struct selector s;
    size_t used;
    char err[512];
    ASSERT_EQ_INT(selector_parse(slice_from("{app=~\".*\"}"), &a, &s, &used, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_TRUE(strstr(err, "empty-compatible") != NULL);
    ASSERT_EQ_INT(selector_parse(slice_from("{app=\"x\""), &a, &s, &used, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_EQ_INT(selector_parse(slice_from("app=\"x\"}"), &a, &s, &used, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_EQ_INT(selector_parse(slice_from("{app=~\"(\"}"), &a, &s, &used, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_EQ_INT(selector_parse(slice_from("{}"), &a, &s, &used, err, sizeof(err)), STRATA_EPARSE);
    arena_release(&a);
}

static const char *required(const char *pattern, char *out, size_t cap)
{
    char err[256];
    struct regex *re = regex_compile(slice_from(pattern), 0, err, sizeof(err));
    if (!re)
        return "ERR";
    struct slice l;
    if (regex_required_literal(re, &l))
        snprintf(out, cap, "%.*s", (int)l.len, l.ptr);
    else
        snprintf(out, cap, "(none)");
    regex_free(re);
    return out;
}

TEST(regex_required_literals)
{
    char o[256];
    ASSERT_EQ_STR(required("error state [0-9]+0$", o, sizeof(o)), "error state ");
    ASSERT_EQ_STR(required("(?i)error", o, sizeof(o)), "(none)");
    ASSERT_EQ_STR(required("abcd|efgh", o, sizeof(o)), "(none)");
    ASSERT_EQ_STR(required("GET /users?", o, sizeof(o)), "GET /user");
    ASSERT_EQ_STR(required("ab\\.cd\\d+", o, sizeof(o)), "ab.cd");
    ASSERT_EQ_STR(required("foo(bar|x)?bazz", o, sizeof(o)), "bazz");
    ASSERT_EQ_STR(required("x+yz", o, sizeof(o)), "(none)");
    ASSERT_EQ_STR(required("\xc3\xa9?abc", o, sizeof(o)), "abc");
    ASSERT_EQ_STR(required("a[|]bcde{2}", o, sizeof(o)), "bcd");
    ASSERT_EQ_STR(required("(?P<x>\\w+) took (?P<ms>\\d+)ms", o, sizeof(o)), " took ");
}

TEST(find_substr_agrees_with_memmem)
{
    char hay[300];
    unsigned seed = 7;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(seed = seed * 1103515245u + 12345u) % 200;
        for (size_t i = 0; i < n; i++)
            hay[i] = "abc"[(seed = seed * 1103515245u + 12345u) % 3];
        size_t k = (size_t)(seed = seed * 1103515245u + 12345u) % 8;
        char needle[8];
        for (size_t i = 0; i < k; i++)
            needle[i] = "abc"[(seed = seed * 1103515245u + 12345u) % 3];
        /* exact-size copies so ASan catches a read past either end */
        char *h = malloc(n ? n : 1), *nd = malloc(k ? k : 1);
        memcpy(h, hay, n);
        memcpy(nd, needle, k);
        const char *want = k == 0 ? h : (n >= k ? memmem(h, n, nd, k) : NULL);
        const char *got = find_substr(h, n, nd, k);
        free(h);
        free(nd);
        ASSERT_TRUE(got == want);
    }
}
