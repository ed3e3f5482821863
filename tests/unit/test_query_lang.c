/* Unit tests of src/query: LogQL and LogsGoQL parsing, templates, patterns, pipelines. */
#include <math.h>
#include <stdlib.h>

#include "core/err.h"
#include "query/logsgoql.h"
#include "query/pattern.h"
#include "query/pipeline.h"
#include "query/plan.h"
#include "query/template.h"
#include "test.h"

/* Parse q and format it back; the text goes to out (static buffer). */
static const char *roundtrip(const char *q, char *out, size_t cap)
{
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    if (plan_parse_logql(slice_from(q), &a, &p, err, sizeof(err)) < 0) {
        snprintf(out, cap, "ERR %s", err);
        arena_release(&a);
        return out;
    }
    struct buf b;
    buf_init(&b, 1 << 16);
    if (plan_format(&b, &p) < 0)
        snprintf(out, cap, "FORMAT FAILED");
    else
        snprintf(out, cap, "%s", b.ptr ? b.ptr : "");
    buf_release(&b);
    plan_release(&p);
    arena_release(&a);
    return out;
}

TEST(logql_formats_back_canonically)
{
    char o[1024];
    ASSERT_EQ_STR(roundtrip("{app=\"a\"}", o, sizeof(o)), "{app=\"a\"}");
    ASSERT_EQ_STR(roundtrip("{app=\"a\",env!~\"d.*\"}|=\"x\"!=\"y\"|~\"z\"", o, sizeof(o)),
                  "{app=\"a\", env!~\"d.*\"} |= \"x\" != \"y\" |~ \"z\"");
    ASSERT_EQ_STR(roundtrip("{a=\"b\"} |= \"x\" or \"y\" | json | logfmt --strict", o, sizeof(o)),
                  "{a=\"b\"} |= \"x\" or \"y\" | json | logfmt --strict");
    ASSERT_EQ_STR(roundtrip("{a=\"b\"} | x > 1 and y=\"2\" or z < 3s", o, sizeof(o)),
                  "{a=\"b\"} | ( ( x>1 , y=\"2\" ) or z<3s )");
    ASSERT_EQ_STR(roundtrip("sum by (a) (rate({a=\"b\"}[5m] offset 1h))", o, sizeof(o)),
                  "sum by (a)(rate({a=\"b\"} [5m] offset 1h))");
    ASSERT_EQ_STR(roundtrip("quantile_over_time(0.99, {a=\"b\"} | json | unwrap duration(d) | "
                            "__error__=\"\" [1m]) by (x)",
                            o, sizeof(o)),
                  "quantile_over_time(0.99,{a=\"b\"} | json | unwrap duration(d) | __error__=\"\" "
                  "[1m]) by (x)");
    ASSERT_EQ_STR(roundtrip("topk(3, count_over_time({a=\"b\"}[1m])) > bool on (a) "
                            "group_left (b) vector(1)",
                            o, sizeof(o)),
                  "topk(3, count_over_time({a=\"b\"} [1m])) > bool on (a) group_left (b) "
                  "vector(1)");
}

TEST(logql_precedence)
{
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    ASSERT_EQ_INT(plan_parse_logql(slice_from("vector(1) + 2 * 3 ^ 2 ^ 2 > bool 4 or vector(1) "
                                              "and vector(2)"),
                                   &a, &p, err, sizeof(err)),
                  0);
    const struct expr *e = p.root;
    ASSERT_EQ_INT(e->kind, EXPR_BINARY);
    ASSERT_EQ_INT(e->bop, BIN_OR);
    ASSERT_EQ_INT(e->rhs->bop, BIN_AND);
    const struct expr *cmp = e->lhs;
    ASSERT_EQ_INT(cmp->bop, BIN_GT);
    ASSERT_TRUE(cmp->return_bool);
    const struct expr *add = cmp->lhs;
    ASSERT_EQ_INT(add->bop, BIN_ADD);
    const struct expr *mul = add->rhs;
    ASSERT_EQ_INT(mul->bop, BIN_MUL);
    const struct expr *pow1 = mul->rhs;
    ASSERT_EQ_INT(pow1->bop, BIN_POW);
    ASSERT_EQ_INT(pow1->rhs->kind, EXPR_BINARY); /* 3 ^ (2 ^ 2) */
    ASSERT_EQ_INT(pow1->rhs->bop, BIN_POW);
    plan_release(&p);
    arena_release(&a);
}

TEST(logql_lexes_durations_bytes_and_numbers)
{
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    ASSERT_EQ_INT(plan_parse_logql(slice_from("{a=\"b\"} | d > 1.5h | s <= 20MiB | n == 1e3 | "
                                              "m != -2"),
                                   &a, &p, err, sizeof(err)),
                  0);
    const struct log_expr *l = p.root->log;
    ASSERT_EQ_INT(l->n_stages, 4);
    ASSERT_EQ_INT(l->stages[0].filter->kind, LFILTER_DURATION);
    ASSERT_NEAR(l->stages[0].filter->value, 5400, 1e-9);
    ASSERT_EQ_INT(l->stages[1].filter->kind, LFILTER_BYTES);
    ASSERT_NEAR(l->stages[1].filter->value, 20 * 1048576.0, 1e-9);
    ASSERT_EQ_INT(l->stages[2].filter->kind, LFILTER_NUMBER);
    ASSERT_NEAR(l->stages[2].filter->value, 1000, 1e-9);
    ASSERT_NEAR(l->stages[3].filter->value, -2, 1e-9);
    plan_release(&p);
    arena_release(&a);
}

TEST(logql_errors_name_the_position)
{
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    ASSERT_EQ_INT(plan_parse_logql(slice_from("{a=\"b\"}\n | json |"), &a, &p, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_EQ_STR(err, "parse error at line 2, col 10: syntax error: unexpected $end, expecting "
                       "parser, label filter or formatting stage");
    ASSERT_EQ_INT(plan_parse_logql(slice_from(""), &a, &p, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_EQ_STR(err, "parse error : syntax error: unexpected $end");
    ASSERT_EQ_INT(plan_parse_logql(slice_from("rate({a=\"b\"}[0s])"), &a, &p, err, sizeof(err)),
                  STRATA_EPARSE);
    arena_release(&a);
}

TEST(logql_rejects_hostile_nesting)
{
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    char q[4096];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        q[n++] = '(';
    q[n] = '\0';
    ASSERT_EQ_INT(plan_parse_logql(slice_from(q), &a, &p, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_TRUE(strstr(err, "nesting too deep") != NULL);
    arena_release(&a);
}

TEST(logsgoql_dnf_and_errors)
{
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    ASSERT_EQ_INT(plan_parse_logsgoql(slice_from("(service=a | service=b) & LEVEL='warn' & "
                                                 "message CONTAINS \"x y\""),
                                      &a, &p, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(p.root->kind, EXPR_LOG);
    ASSERT_EQ_INT(p.root->n_log, 2);
    const struct log_expr *b0 = &p.root->log[0];
    ASSERT_EQ_INT(b0->sel.n, 2);
    ASSERT_EQ_SLICE(b0->sel.m[0].name, "service");
    ASSERT_EQ_SLICE(b0->sel.m[1].name, "level");
    ASSERT_EQ_SLICE(b0->sel.m[1].value, "warn");
    ASSERT_EQ_INT(b0->n_stages, 1);
    ASSERT_EQ_INT(b0->stages[0].lf.op, LINE_CONTAINS);
    ASSERT_EQ_SLICE(b0->stages[0].lf.values[0], "x y");
    plan_release(&p);
    static const char *const bad[] = {"",     "level=and", "level!=x",   "a=b c",      "(a=b",
                                      "YOLO", "a=",        "a CONTAINS", "a=b | | c=d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_EQ_INT(plan_parse_logsgoql(slice_from(bad[i]), &a, &p, err, sizeof(err)),
                      STRATA_EPARSE);
    /* an unterminated string runs to the end */
    ASSERT_EQ_INT(plan_parse_logsgoql(slice_from("message=\"abc"), &a, &p, err, sizeof(err)), 0);
    ASSERT_EQ_SLICE(p.root->log[0].stages[0].lf.values[0], "abc");
    plan_release(&p);
    /* hyphens, dots, colons and slashes are word characters */
    ASSERT_EQ_INT(
        plan_parse_logsgoql(slice_from("service=ap-south1.x:y/z"), &a, &p, err, sizeof(err)), 0);
    ASSERT_EQ_SLICE(p.root->log[0].sel.m[0].value, "ap-south1.x:y/z");
    plan_release(&p);
    arena_release(&a);
}

TEST(pattern_extract_and_test)
{
    struct pattern *p;
    char err[256];
    ASSERT_EQ_INT(pattern_compile(slice_from("<ip> - <_> \"<method> <uri> <_>\" <status>"), true,
                                  &p, err, sizeof(err)),
                  0);
    struct slice caps[8];
    struct slice line = slice_from("1.2.3.4 - frank \"GET /x HTTP/1.1\" 200");
    ASSERT_EQ_INT(pattern_extract(p, line, caps), 4);
    ASSERT_EQ_SLICE(caps[0], "1.2.3.4");
    ASSERT_EQ_SLICE(caps[1], "GET");
    ASSERT_EQ_SLICE(caps[2], "/x");
    ASSERT_EQ_SLICE(caps[3], "200");
    /* a line cut short fills what it can */
    ASSERT_EQ_INT(pattern_extract(p, slice_from("1.2.3.4 - frank"), caps), 1);
    ASSERT_TRUE(pattern_test(p, line));
    ASSERT_FALSE(pattern_test(p, slice_from("1.2.3.4 frank")));
    pattern_free(p);
    ASSERT_EQ_INT(pattern_compile(slice_from("<a><b>"), true, &p, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_EQ_INT(pattern_compile(slice_from("<_> x"), true, &p, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_EQ_INT(pattern_compile(slice_from("<_> x"), false, &p, err, sizeof(err)), 0);
    ASSERT_FALSE(pattern_test(p, slice_from("a x y")));
    ASSERT_TRUE(pattern_test(p, slice_from("a x")));
    pattern_free(p);
}

static bool env_lookup(void *ctx, struct slice name, struct slice *value)
{
    (void)ctx;
    if (slice_eq_str(name, "user")) {
        *value = SLICE_LIT("ann");
        return true;
    }
    if (slice_eq_str(name, "n")) {
        *value = SLICE_LIT("41");
        return true;
    }
    return false;
}

static const char *run_tmpl(const char *t, char *out, size_t cap)
{
    struct template *tm;
    char err[256];
    if (template_compile(slice_from(t), &tm, err, sizeof(err)) < 0) {
        snprintf(out, cap, "COMPILE %s", err);
        return out;
    }
    struct arena a;
    arena_init(&a, 0);
    struct buf b;
    buf_init(&b, TEMPLATE_MAX_OUTPUT);
    struct template_env env = {env_lookup, NULL, SLICE_LIT("the line"),
                               INT64_C(1700000000123456789)};
    if (template_exec(tm, &env, &a, &b, err, sizeof(err)) < 0)
        snprintf(out, cap, "EXEC %s", err);
    else
        snprintf(out, cap, "%s", b.ptr ? b.ptr : "");
    buf_release(&b);
    arena_release(&a);
    template_free(tm);
    return out;
}

TEST(template_functions)
{
    char o[1024];
    ASSERT_EQ_STR(run_tmpl("{{.user}}-{{.missing}}-{{.n | int | add 1}}", o, sizeof(o)), "ann--42");
    ASSERT_EQ_STR(run_tmpl("{{ .user | ToUpper | printf \"%s!\" }}", o, sizeof(o)), "ANN!");
    ASSERT_EQ_STR(run_tmpl("{{ if gt (.n | int) 40 }}big{{ else if eq .n \"1\" }}one{{ else }}"
                           "small{{ end }}",
                           o, sizeof(o)),
                  "big");
    ASSERT_EQ_STR(run_tmpl("{{ __line__ | replace \"line\" \"LINE\" }}", o, sizeof(o)), "the LINE");
    ASSERT_EQ_STR(
        run_tmpl("{{ __timestamp__ | date \"2006-01-02T15:04:05.000Z07:00\" }}", o, sizeof(o)),
        "2023-11-14T22:13:20.123Z");
    ASSERT_EQ_STR(run_tmpl("{{ __timestamp__ | unixEpochMillis }}", o, sizeof(o)), "1700000000123");
    ASSERT_EQ_STR(run_tmpl("{{ \"a,b\" | b64enc }}|{{ \"YSxi\" | b64dec }}", o, sizeof(o)),
                  "YSxi|a,b");
    ASSERT_EQ_STR(run_tmpl("{{ substr 1 3 \"hello\" }} {{ trunc -2 \"hello\" }} {{ \"x\" | "
                           "default \"d\" }} {{ \"\" | default \"d\" }}",
                           o, sizeof(o)),
                  "el lo x d");
    ASSERT_EQ_STR(run_tmpl("{{ mulf 1.5 2 }} {{ divf 1 4 }} {{ 1000000.0 }} {{ round 2.555 2 }}", o,
                           sizeof(o)),
                  "3 0.25 1e+06 2.56");
    ASSERT_EQ_STR(run_tmpl("{{ regexReplaceAll \"a(.)\" \"banana\" \"<$1>\" }}", o, sizeof(o)),
                  "b<n><n>a");
    ASSERT_EQ_STR(run_tmpl("{{ count \"a\" \"banana\" }} {{ \"a b\" | urlencode }} "
                           "{{ \"a+b%21\" | urldecode }}",
                           o, sizeof(o)),
                  "3 a+b a b!");
    ASSERT_EQ_STR(run_tmpl("{{ \"1.5s\" | duration }} {{ \"2KiB\" | bytes }}", o, sizeof(o)),
                  "1.5 2048");
    ASSERT_EQ_STR(
        run_tmpl("{{ and 1 0 }} {{ or 0 \"x\" }} {{ not true }} {{ len \"abc\" }}", o, sizeof(o)),
        "0 x false 3");
    ASSERT_EQ_STR(run_tmpl("{{ div 1 0 }}", o, sizeof(o)),
                  "EXEC error calling div: runtime error: integer divide by zero");
    ASSERT_EQ_STR(run_tmpl("{{ nosuch }}", o, sizeof(o)),
                  "COMPILE template: line:1: function \"nosuch\" not defined");
    ASSERT_EQ_STR(run_tmpl("{{ range .x }}{{ end }}", o, sizeof(o)),
                  "COMPILE template: line:1: \"range\" is not supported");
    ASSERT_EQ_STR(run_tmpl("a\n{{ if }}", o, sizeof(o)),
                  "COMPILE template: line:2: missing value for command");
    ASSERT_EQ_STR(run_tmpl("{{ if 1 }}x", o, sizeof(o)),
                  "COMPILE template: line:1: unexpected EOF");
    ASSERT_EQ_STR(run_tmpl("{{ \"x\" | repeat 100000000 }}", o, sizeof(o)),
                  "EXEC output too large");
}

TEST(template_integer_edges_wrap_as_go)
{
    /* Found by fuzz_template (UBSan: signed overflow): Go's int64 arithmetic wraps. */
    char o[1024];
    ASSERT_EQ_STR(run_tmpl("{{ add 9223372036854775807 10 }}", o, sizeof(o)),
                  "-9223372036854775799");
    ASSERT_EQ_STR(run_tmpl("{{ mul 9223372036854775807 10 }}", o, sizeof(o)), "-10");
    ASSERT_EQ_STR(run_tmpl("{{ sub -9223372036854775808 1 }}", o, sizeof(o)),
                  "9223372036854775807");
    ASSERT_EQ_STR(run_tmpl("{{ div -9223372036854775808 -1 }} {{ mod -9223372036854775808 -1 }}", o,
                           sizeof(o)),
                  "-9223372036854775808 0");
    /* A time at the edge of int64 and a NaN time format without overflowing. */
    ASSERT_EQ_STR(run_tmpl("{{ -9223372036854775808 | unixEpoch }}", o, sizeof(o)), "-9223372037");
    ASSERT_TRUE(strncmp(run_tmpl("{{ -9223372036854775808 | date \"2006\" }}", o, sizeof(o)),
                        "EXEC", 4) != 0);
    ASSERT_EQ_STR(run_tmpl("{{ divf 0 0 | unixEpochNanos }}", o, sizeof(o)), "0");
}

TEST(go_float_formatting)
{
    char t[400];
    go_format_float_f(0.1 + 0.2, t);
    ASSERT_EQ_STR(t, "0.30000000000000004");
    go_format_float_f(1e21, t);
    ASSERT_EQ_STR(t, "1000000000000000000000");
    go_format_float_f(1.5e-7, t);
    ASSERT_EQ_STR(t, "0.00000015");
    go_format_float_f(-2, t);
    ASSERT_EQ_STR(t, "-2");
    go_format_float_f(NAN, t);
    ASSERT_EQ_STR(t, "NaN");
    go_format_float_f(-INFINITY, t);
    ASSERT_EQ_STR(t, "-Inf");
    go_format_float_f(1700000000.123, t);
    ASSERT_EQ_STR(t, "1700000000.123");
    go_format_float_g(123456.0, t);
    ASSERT_EQ_STR(t, "123456");
    go_format_float_g(1234567.0, t);
    ASSERT_EQ_STR(t, "1.234567e+06");
    go_format_float_g(0.00001, t);
    ASSERT_EQ_STR(t, "1e-05");
    /* integers take a shortcut that must print what the general path prints */
    static const double ints[] = {1, 7, 10, 100, 120, 1767225660, 999999999999999, 1e15, 4e15};
    static const char *const want[] = {"1",
                                       "7",
                                       "10",
                                       "100",
                                       "120",
                                       "1767225660",
                                       "999999999999999",
                                       "1000000000000000",
                                       "4000000000000000"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        go_format_float_f(ints[i], t);
        ASSERT_EQ_STR(t, want[i]);
    }
    go_format_float_g(1000000.0, t);
    ASSERT_EQ_STR(t, "1e+06");
    go_format_float_g(100.0, t);
    ASSERT_EQ_STR(t, "100");
}

TEST(go_conversions)
{
    double d;
    char err[200];
    ASSERT_EQ_INT(go_parse_bytes(slice_from("20MB"), &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 20e6, 0);
    ASSERT_EQ_INT(go_parse_bytes(slice_from("1.5 KiB"), &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 1536, 0);
    ASSERT_EQ_INT(go_parse_bytes(slice_from("1,024"), &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 1024, 0);
    ASSERT_EQ_INT(go_parse_bytes(slice_from("5 parsecs"), &d, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_EQ_STR(err, "unhandled size name: parsecs");
    ASSERT_EQ_INT(go_parse_duration_seconds(slice_from("1h2m3.5s"), &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 3723.5, 1e-9);
    ASSERT_EQ_INT(go_parse_duration_seconds(slice_from("3"), &d, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_EQ_STR(err, "time: invalid duration \"3\"");
    ASSERT_EQ_INT(go_parse_float(slice_from("1e3"), &d, err, sizeof(err)), 0);
    ASSERT_NEAR(d, 1000, 0);
    ASSERT_EQ_INT(go_parse_float(slice_from(" 1"), &d, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_EQ_INT(go_parse_float(slice_from("0x"), &d, err, sizeof(err)), STRATA_EPARSE);
}

/* Run a one-branch pipeline on a line and return the labels as text. */
static const char *pipe_text(const char *query, const char *line, char *out, size_t cap)
{
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    if (plan_parse_logql(slice_from(query), &a, &p, err, sizeof(err)) < 0) {
        snprintf(out, cap, "ERR %s", err);
        arena_release(&a);
        return out;
    }
    struct pipe_state ps;
    pipe_state_init(&ps);
    struct label base[] = {{SLICE_LIT("app"), SLICE_LIT("x")}};
    pipe_begin(&ps, base, 1, (struct slice){"", 0});
    struct slice l = slice_from(line);
    const struct log_expr *br = &p.root->log[0];
    bool keep = pipe_run(&ps, br->stages, br->n_stages, 0, &l);
    struct buf b;
    buf_init(&b, 1 << 16);
    if (!keep) {
        if (buf_append_str(&b, "DROP") < 0)
            abort();
    } else {
        struct label *v;
        uint32_t n = pipe_labels(&ps, CATS_ALL, &v);
        if (labels_format(&b, v, n) < 0 || buf_printf(&b, " %.*s", (int)l.len, l.ptr) < 0)
            abort();
    }
    snprintf(out, cap, "%s", b.ptr);
    buf_release(&b);
    pipe_state_release(&ps);
    plan_release(&p);
    arena_release(&a);
    return out;
}

TEST(pipeline_parsers_and_filters)
{
    char o[2048];
    ASSERT_EQ_STR(pipe_text("{a=\"b\"} | json",
                            "{\"a\":{\"b\":[1,2],\"c\":\"\\u00e9\\n\"},\"app\":1,\"n\":null,"
                            "\"t\":true}",
                            o, sizeof(o)),
                  "{a_c=\"é\\n\", app=\"x\", app_extracted=\"1\", t=\"true\"} "
                  "{\"a\":{\"b\":[1,2],\"c\":\"\\u00e9\\n\"},\"app\":1,\"n\":null,\"t\":true}");
    ASSERT_EQ_STR(pipe_text("{a=\"b\"} | json | drop __error_details__", "{\"a\":", o, sizeof(o)),
                  "{__error__=\"JSONParserErr\", app=\"x\"} {\"a\":");
    ASSERT_EQ_STR(pipe_text("{a=\"b\"} | logfmt", "a=1 b=\"two words\" c= d \"x\"=1", o, sizeof(o)),
                  "{a=\"1\", app=\"x\", b=\"two words\"} a=1 b=\"two words\" c= d \"x\"=1");
    ASSERT_EQ_STR(
        pipe_text("{a=\"b\"} | logfmt | a > 0 and b =~ \"two.*\"", "a=1 b=\"two\"", o, sizeof(o)),
        "{a=\"1\", app=\"x\", b=\"two\"} a=1 b=\"two\"");
    ASSERT_EQ_STR(pipe_text("{a=\"b\"} | logfmt | a > 1", "a=1", o, sizeof(o)), "DROP");
    ASSERT_EQ_STR(
        pipe_text("{a=\"b\"} | logfmt | label_format b=a, c=\"{{.b}}{{.b}}\"", "a=1", o, sizeof(o)),
        "{app=\"x\", b=\"1\", c=\"11\"} a=1");
    ASSERT_EQ_STR(
        pipe_text("{a=\"b\"} | regexp \"(?P<w>\\\\w+) (?P<n>\\\\d+)?\"", "hello x", o, sizeof(o)),
        "{app=\"x\", n=\"\", w=\"hello\"} hello x");
    ASSERT_EQ_STR(
        pipe_text("{a=\"b\"} | unpack", "{\"_entry\":\"inner\",\"k\":\"v\",\"n\":1}", o, sizeof(o)),
        "{app=\"x\", k=\"v\"} inner");
    ASSERT_EQ_STR(pipe_text("{a=\"b\"} | decolorize", "\x1b[1;31mred\x1b[0m!", o, sizeof(o)),
                  "{app=\"x\"} red!");
}

TEST(pipeline_metadata_and_categories)
{
    struct pipe_state ps;
    pipe_state_init(&ps);
    struct label base[] = {{SLICE_LIT("app"), SLICE_LIT("x")}, {SLICE_LIT("env"), SLICE_LIT("p")}};
    struct label meta[] = {{SLICE_LIT("app"), SLICE_LIT("m")},
                           {SLICE_LIT("trace"), SLICE_LIT("t")}};
    struct buf enc;
    buf_init(&enc, 1024);
    ASSERT_EQ_INT(labels_encode(&enc, meta, 2), 0);
    ASSERT_EQ_INT(pipe_begin(&ps, base, 2, buf_slice(&enc)), 0);
    struct label *v;
    ASSERT_EQ_INT(pipe_labels(&ps, CAT_BIT(CAT_META), &v), 2);
    ASSERT_EQ_SLICE(v[0].name, "app_extracted");
    ASSERT_EQ_SLICE(v[1].name, "trace");
    /* a parsed label replaces metadata and stream labels of its name */
    pipe_set(&ps, CAT_PARSED, SLICE_LIT("trace"), SLICE_LIT("p1"));
    pipe_set(&ps, CAT_PARSED, SLICE_LIT("env"), SLICE_LIT("p2"));
    ASSERT_EQ_INT(pipe_labels(&ps, CAT_BIT(CAT_STREAM), &v), 1);
    ASSERT_EQ_SLICE(v[0].name, "app");
    ASSERT_EQ_INT(pipe_labels(&ps, CAT_BIT(CAT_META), &v), 1);
    ASSERT_EQ_INT(pipe_labels(&ps, CAT_BIT(CAT_PARSED), &v), 2);
    struct slice s;
    ASSERT_TRUE(pipe_get(&ps, SLICE_LIT("env"), &s));
    ASSERT_EQ_SLICE(s, "p2");
    pipe_del(&ps, SLICE_LIT("env"));
    ASSERT_FALSE(pipe_get(&ps, SLICE_LIT("env"), &s));
    /* a malformed encoding is reported */
    ASSERT_EQ_INT(pipe_begin(&ps, base, 2, SLICE_LIT("\x05\x01")), STRATA_ECORRUPT);
    buf_release(&enc);
    pipe_state_release(&ps);
}
