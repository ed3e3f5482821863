/*
 * Unit tests of src/remote/clickhouse*: configuration, SQL pieces, the
 * PCRE2 -> RE2 translation, RowBinary, the answer decoders, exception
 * parsing, batch ids. (The tier against a real server: tests/integration/
 * test_clickhouse.py.)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "query/eval.h"
#include "remote/clickhouse.h"
#include "remote/clickhouse_http.h"
#include "remote/clickhouse_rowbinary.h"
#include "remote/clickhouse_rows.h"
#include "remote/clickhouse_sql.h"
#include "test.h"

/* ---- configuration --------------------------------------------------------- */

static int parse(struct config *c, const char **argv, int argc, char *err, size_t errlen)
{
    int help;
    config_init(c);
    return config_parse_args(c, argc, argv, &help, err, errlen);
}

TEST(clickhouse_config_defaults_depend_on_layout)
{
    struct config c;
    char err[512];
    const char *argv[] = {"strata", "--clickhouse.url=http://127.0.0.1:8123/"};
    ASSERT_EQ_INT(parse(&c, argv, 2, err, sizeof(err)), 0);
    struct clickhouse_config cc;
    ASSERT_EQ_INT(clickhouse_config_resolve(&c, &cc, err, sizeof(err)), 0);
    ASSERT_EQ_STR(cc.url, "http://127.0.0.1:8123");
    ASSERT_EQ_STR(cc.database, "strata");
    ASSERT_EQ_STR(cc.table, "logs");
    ASSERT_EQ_INT(cc.layout, CLICKHOUSE_LAYOUT_STRATA);
    ASSERT_EQ_INT(cc.batch_max_rows, 100000);
    ASSERT_EQ_INT(cc.batch_max_wait_ns, 5 * NS_PER_SEC);
    clickhouse_config_release(&cc);
    ASSERT_EQ_INT(config_set(&c, "clickhouse.layout", "logthra", err, sizeof(err)), 0);
    ASSERT_EQ_INT(clickhouse_config_resolve(&c, &cc, err, sizeof(err)), 0);
    ASSERT_EQ_STR(cc.database, "logs");
    ASSERT_EQ_STR(cc.table, "log");
    clickhouse_config_release(&cc);
    clickhouse_config_release(&cc); /* twice is harmless */
    config_release(&c);
}

TEST(clickhouse_config_file_then_flags)
{
    char path[] = "/tmp/strata-ch-test-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    const char yaml[] = "clickhouse:\n  url: http://10.0.0.1:8123\n  user: alice\n"
                        "  password: s3cret\n  batch_max_rows: 5000\n  batch_max_wait: 2s\n"
                        "  layout: logthra\n";
    ASSERT_EQ_INT(write(fd, yaml, sizeof(yaml) - 1), (long long)sizeof(yaml) - 1);
    close(fd);
    char flag[128];
    snprintf(flag, sizeof(flag), "--clickhouse.config-path=%s", path);
    const char *argv[] = {"strata", flag, "--clickhouse.user=bob"};
    struct config c;
    char err[512];
    ASSERT_EQ_INT(parse(&c, argv, 3, err, sizeof(err)), 0);
    struct clickhouse_config cc;
    ASSERT_EQ_INT(clickhouse_config_resolve(&c, &cc, err, sizeof(err)), 0);
    ASSERT_EQ_STR(cc.url, "http://10.0.0.1:8123"); /* from the file */
    ASSERT_EQ_STR(cc.user, "bob");                 /* the flag wins */
    ASSERT_EQ_STR(cc.password, "s3cret");
    ASSERT_EQ_INT(cc.batch_max_rows, 5000);
    ASSERT_EQ_INT(cc.batch_max_wait_ns, 2 * NS_PER_SEC);
    ASSERT_EQ_INT(cc.layout, CLICKHOUSE_LAYOUT_LOGTHRA);
    char desc[512];
    clickhouse_config_describe(&cc, desc, sizeof(desc));
    ASSERT_TRUE(strstr(desc, "s3cret") == NULL);
    ASSERT_TRUE(strstr(desc, "password=********") != NULL);
    ASSERT_TRUE(strstr(desc, "user=bob") != NULL);
    clickhouse_config_release(&cc);
    config_release(&c);

    /* Other options do not belong in the ClickHouse file. */
    fd = open(path, O_WRONLY | O_TRUNC);
    const char other[] = "log:\n  level: debug\n";
    ASSERT_EQ_INT(write(fd, other, sizeof(other) - 1), (long long)sizeof(other) - 1);
    close(fd);
    ASSERT_EQ_INT(parse(&c, argv, 2, err, sizeof(err)), 0);
    ASSERT_EQ_INT(clickhouse_config_resolve(&c, &cc, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "log.level") != NULL);
    config_release(&c);
    unlink(path);
}

TEST(clickhouse_config_rejects_bad_values)
{
    static const struct {
        const char *flag, *needle;
    } cases[] = {
        {"--clickhouse.url=ftp://x", "expected http://"},
        {"--clickhouse.url=http://u:pw@h:8123", "must not contain credentials"},
        {"--clickhouse.url=http://h:8123/db", "a path or query"},
        {"--clickhouse.layout=loki", "expected strata or logthra"},
        {"--clickhouse.table=a.b", "plain name"},
        {"--clickhouse.database=1db", "plain name"},
        {"--clickhouse.batch-max-rows=0", "batch-max-rows"},
        {"--clickhouse.batch-max-rows=2000000", "batch-max-rows"},
        {"--clickhouse.config-path=/nonexistent/ch.yaml", "cannot open"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {"strata", "--clickhouse.url=http://h:8123", cases[i].flag};
        struct config c;
        char err[512] = "";
        ASSERT_EQ_INT(parse(&c, argv, 3, err, sizeof(err)), 0);
        struct clickhouse_config cc;
        ASSERT_EQ_INT(clickhouse_config_resolve(&c, &cc, err, sizeof(err)), STRATA_EINVAL);
        if (!strstr(err, cases[i].needle))
            fprintf(stderr, "    %s: %s\n", cases[i].flag, err);
        ASSERT_TRUE(strstr(err, cases[i].needle) != NULL);
        ASSERT_TRUE(strstr(err, "pw@") == NULL);
        config_release(&c);
    }
}

TEST(clickhouse_password_is_masked_as_a_secret)
{
    const struct config_option *o = config_find("clickhouse.password");
    ASSERT_TRUE(o != NULL);
    ASSERT_TRUE(config_is_secret(o));
    struct config c;
    config_init(&c);
    char err[256], out[64];
    ASSERT_EQ_INT(config_set(&c, "clickhouse.password", "hunter2", err, sizeof(err)), 0);
    config_format_value(&c, o, out, sizeof(out), true);
    ASSERT_EQ_STR(out, "********");
    config_release(&c);
}

/* ---- SQL ------------------------------------------------------------------- */

static const char *quoted(struct buf *b, struct slice s)
{
    buf_reset(b);
    return clickhouse_sql_quote(b, s) == 0 ? b->ptr : "(error)";
}

TEST(clickhouse_sql_quotes_everything)
{
    struct buf b;
    buf_init(&b, 1024);
    ASSERT_EQ_STR(quoted(&b, slice_from("plain")), "'plain'");
    ASSERT_EQ_STR(quoted(&b, slice_from("it's")), "'it\\'s'");
    ASSERT_EQ_STR(quoted(&b, slice_from("a\\b")), "'a\\\\b'");
    ASSERT_EQ_STR(quoted(&b, slice_make("n\nz\0", 4)), "'n\\x0Az\\x00'");
    ASSERT_EQ_STR(quoted(&b, slice_from("é")), "'é'");
    ASSERT_EQ_STR(quoted(&b, slice_from("'); DROP TABLE x; --")), "'\\'); DROP TABLE x; --'");
    buf_release(&b);
}

static const char *re2(struct buf *b, const char *pattern, bool anchored)
{
    buf_reset(b);
    int rc = clickhouse_sql_regex(b, slice_from(pattern), anchored);
    return rc == 0 ? b->ptr : rc == STRATA_EUNSUPPORTED ? "unsupported" : "(error)";
}

TEST(clickhouse_regex_translation)
{
    struct buf b;
    buf_init(&b, 4096);
    /* The result is a SQL literal: backslashes are doubled once more. */
    ASSERT_EQ_STR(re2(&b, "a.c", false), "'(?-s:a.c)'");
    ASSERT_EQ_STR(re2(&b, "a.c", true), "'(?-s:^(?:a.c)$)'");
    ASSERT_EQ_STR(re2(&b, "(?i)err(or)?|warn", false), "'(?-s:(?i)err(or)?|warn)'");
    ASSERT_EQ_STR(re2(&b, "\\d{2,3}\\.\\w+", false), "'(?-s:\\\\d{2,3}\\\\.\\\\w+)'");
    ASSERT_EQ_STR(re2(&b, "a\\sb", false), "'(?-s:a[\\\\t\\\\n\\\\x0B\\\\f\\\\r ]b)'");
    ASSERT_EQ_STR(re2(&b, "[\\s,]", false), "'(?-s:[\\\\t\\\\n\\\\x0B\\\\f\\\\r ,])'");
    ASSERT_EQ_STR(re2(&b, "end$", false), "'(?-s:end\\\\n?$)'");
    ASSERT_EQ_STR(re2(&b, "end$", true), "'(?-s:^(?:end)$)'");
    ASSERT_EQ_STR(re2(&b, "^start", false), "'(?-s:^start)'");
    ASSERT_EQ_STR(re2(&b, "[]a]", false), "'(?-s:[]a])'");
    ASSERT_EQ_STR(re2(&b, "[[:alpha:]_]+", false), "'(?-s:[[:alpha:]_]+)'");
    ASSERT_EQ_STR(re2(&b, "(?P<x>\\x41)\\x{263A}", false), "'(?-s:(?P<x>\\\\x41)\\\\x{263A})'");
    ASSERT_EQ_STR(re2(&b, "it's", false), "'(?-s:it\\'s)'");
    ASSERT_EQ_STR(re2(&b, "", false), "'(?-s:)'");
    static const char *const refused[] = {
        "a(?=b)",  "a(?!b)", "(?<=a)b", "(?<!a)b", "(?>a)",  "(a)\\1",  "a*+",    "a++",
        "a?+",     "a{2}+",  "\\p{L}",  "\\Qa\\E", "(?m)^a", "(?x)a b", "a$b",    "a{,3}",
        "a{1001}", "\\v",    "\\h",     "\\e",     "[\\S]",  "[\\b]",   "(*UTF)", "\\Z",
        "[a",      "[[a]]",  "\\",      "\\x4",    "(?#c)",  "(?|a)",   "\\K",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const char *got = re2(&b, refused[i], false);
        if (strcmp(got, "unsupported"))
            fprintf(stderr, "    %s -> %s\n", refused[i], got);
        ASSERT_EQ_STR(got, "unsupported");
    }
    /* A refusal leaves the buffer as it was. */
    buf_reset(&b);
    ASSERT_EQ_INT(buf_append_str(&b, "x"), 0);
    ASSERT_EQ_INT(clickhouse_sql_regex(&b, slice_from("(?=a)"), false), STRATA_EUNSUPPORTED);
    ASSERT_EQ_STR(b.ptr, "x");
    buf_release(&b);
}

TEST(clickhouse_matchers_and_line_filters)
{
    struct buf b;
    buf_init(&b, 4096);
    struct matcher m = {MATCH_EQ, SLICE_LIT("app"), SLICE_LIT("a'b"), NULL};
    ASSERT_EQ_INT(clickhouse_sql_matcher(&b, "v", &m), 0);
    ASSERT_EQ_STR(b.ptr, "(v = 'a\\'b')");
    buf_reset(&b);
    m.op = MATCH_NEQ;
    ASSERT_EQ_INT(clickhouse_sql_matcher(&b, "v", &m), 0);
    ASSERT_EQ_STR(b.ptr, "(v != 'a\\'b')");
    buf_reset(&b);
    m.op = MATCH_NRE;
    m.value = slice_from("x|y");
    ASSERT_EQ_INT(clickhouse_sql_matcher(&b, "v", &m), 0);
    ASSERT_EQ_STR(b.ptr, "NOT match(v, '(?-s:^(?:x|y)$)')");
    buf_reset(&b);
    m.op = MATCH_RE;
    m.value = slice_from("a(?=b)");
    ASSERT_EQ_INT(clickhouse_sql_matcher(&b, "v", &m), STRATA_EUNSUPPORTED);
    ASSERT_EQ_INT(b.len, 0);

    struct tier_line_filter f = {TIER_LINE_CONTAINS, SLICE_LIT("err")};
    ASSERT_EQ_INT(clickhouse_sql_line_filter(&b, "line", &f), 0);
    ASSERT_EQ_STR(b.ptr, "position(line, 'err') > 0");
    buf_reset(&b);
    f.op = TIER_LINE_NOT_CONTAINS;
    ASSERT_EQ_INT(clickhouse_sql_line_filter(&b, "line", &f), 0);
    ASSERT_EQ_STR(b.ptr, "position(line, 'err') = 0");
    buf_reset(&b);
    f.op = TIER_LINE_NOT_REGEX;
    f.pattern = slice_from("e.r");
    ASSERT_EQ_INT(clickhouse_sql_line_filter(&b, "msg", &f), 0);
    ASSERT_EQ_STR(b.ptr, "NOT match(msg, '(?-s:e.r)')");
    /* Every line contains "": no position() call for an empty needle. */
    buf_reset(&b);
    f = (struct tier_line_filter){TIER_LINE_CONTAINS, SLICE_LIT("")};
    ASSERT_EQ_INT(clickhouse_sql_line_filter(&b, "line", &f), 0);
    ASSERT_EQ_STR(b.ptr, "1");
    buf_reset(&b);
    f.op = TIER_LINE_NOT_CONTAINS;
    ASSERT_EQ_INT(clickhouse_sql_line_filter(&b, "line", &f), 0);
    ASSERT_EQ_STR(b.ptr, "0");
    buf_release(&b);
}

/* ---- RowBinary and the decoders -------------------------------------------- */

TEST(clickhouse_rowbinary_roundtrip_and_bounds)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    ASSERT_EQ_INT(rowbinary_put_u16(&b, 0xBEEF), 0);
    ASSERT_EQ_INT(rowbinary_put_u32(&b, 0xDEADBEEF), 0);
    ASSERT_EQ_INT(rowbinary_put_u64(&b, UINT64_MAX - 1), 0);
    ASSERT_EQ_INT(rowbinary_put_i64(&b, -42), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("hello")), 0);
    ASSERT_EQ_INT(rowbinary_put_fixed(&b, slice_from("ab"), 4), 0);
    ASSERT_EQ_INT(rowbinary_put_fixed(&b, slice_from("toolong"), 4), STRATA_EINVAL);
    ASSERT_EQ_INT(rowbinary_put_len(&b, 300), 0);
    /* The bytes are ClickHouse's: little-endian, uvarint lengths, padded FixedString. */
    ASSERT_EQ_INT((unsigned char)b.ptr[0], 0xEF);
    ASSERT_EQ_INT((unsigned char)b.ptr[1], 0xBE);
    ASSERT_EQ_INT(b.len, 2 + 4 + 8 + 8 + 6 + 4 + 2);
    struct rowbinary_reader r;
    rowbinary_reader_init(&r, buf_slice(&b));
    ASSERT_EQ_UINT(rowbinary_u16(&r), 0xBEEF);
    ASSERT_EQ_UINT(rowbinary_u32(&r), 0xDEADBEEF);
    ASSERT_EQ_UINT(rowbinary_u64(&r), UINT64_MAX - 1);
    ASSERT_EQ_INT(rowbinary_i64(&r), -42);
    ASSERT_EQ_SLICE(rowbinary_string(&r), "hello");
    struct slice f = rowbinary_fixed(&r, 4);
    ASSERT_EQ_INT(f.len, 4);
    ASSERT_TRUE(!memcmp(f.ptr, "ab\0\0", 4));
    ASSERT_FALSE(rowbinary_done(&r));
    /* 300 elements cannot follow in the 0 bytes left: corrupt, and it sticks. */
    ASSERT_EQ_UINT(rowbinary_len(&r), 0);
    ASSERT_EQ_INT(r.rc, STRATA_ECORRUPT);
    ASSERT_EQ_UINT(rowbinary_u64(&r), 0);
    ASSERT_FALSE(rowbinary_done(&r));
    /* A string longer than what is left. */
    rowbinary_reader_init(&r, slice_make("\x05"
                                         "abc",
                                         4));
    ASSERT_EQ_INT(rowbinary_string(&r).len, 0);
    ASSERT_EQ_INT(r.rc, STRATA_ECORRUPT);
    buf_release(&b);
}

/* The metadata columns of a row: Array(String) of names, then of values (one or none). */
static void put_meta_columns(struct buf *b, const char *mk, const char *mv)
{
    ASSERT_EQ_INT(rowbinary_put_len(b, mk ? 1 : 0), 0);
    if (mk)
        ASSERT_EQ_INT(rowbinary_put_string(b, slice_from(mk)), 0);
    ASSERT_EQ_INT(rowbinary_put_len(b, mv ? 1 : 0), 0);
    if (mv)
        ASSERT_EQ_INT(rowbinary_put_string(b, slice_from(mv)), 0);
}

/* Build one strata entries row. */
static void put_entry(struct buf *b, uint64_t sk, int64_t ts, const char *line, const char *mk,
                      const char *mv)
{
    ASSERT_EQ_INT(rowbinary_put_u64(b, sk), 0);
    ASSERT_EQ_INT(rowbinary_put_i64(b, ts), 0);
    ASSERT_EQ_INT(rowbinary_put_u64(b, 7), 0);
    ASSERT_EQ_INT(rowbinary_put_u32(b, 3), 0);
    ASSERT_EQ_INT(rowbinary_put_u64(b, strlen(line)), 0);
    ASSERT_EQ_INT(rowbinary_put_string(b, slice_from(line)), 0);
    put_meta_columns(b, mk, mv);
}

TEST(clickhouse_decode_entries_and_corruption)
{
    struct arena a;
    arena_init(&a, 0);
    struct buf b;
    buf_init(&b, 1 << 16);
    put_entry(&b, 1, 100, "first", NULL, NULL);
    size_t row1 = b.len;
    put_entry(&b, 1, 200, "second", "trace_id", "abc");
    struct clickhouse_entry_rows rows;
    ASSERT_EQ_INT(
        clickhouse_decode_entries(CLICKHOUSE_LAYOUT_STRATA, true, buf_slice(&b), &a, &rows), 0);
    ASSERT_EQ_INT(rows.n, 2);
    ASSERT_EQ_INT(rows.ts[1], 200);
    ASSERT_EQ_UINT(rows.insert_id[0], 7);
    ASSERT_EQ_INT(rows.seq[1], 3);
    ASSERT_EQ_INT(rows.sizes[1], 6);
    ASSERT_EQ_SLICE(rows.lines[0], "first");
    ASSERT_TRUE(rows.meta != NULL);
    ASSERT_EQ_INT(rows.meta[0].len, 0);
    struct label *v;
    uint32_t n;
    ASSERT_EQ_INT(labels_decode(rows.meta[1], &a, &v, &n), 0);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_SLICE(v[0].name, "trace_id");
    ASSERT_EQ_SLICE(v[0].value, "abc");
    /* Every truncation is refused, never read past. */
    for (size_t cut = 1; cut < b.len; cut++) {
        int rc = clickhouse_decode_entries(CLICKHOUSE_LAYOUT_STRATA, true, slice_make(b.ptr, cut),
                                           &a, &rows);
        /* A cut exactly between the rows is a valid, shorter answer. */
        ASSERT_EQ_INT(rc, cut == row1 ? 0 : STRATA_ECORRUPT);
        ASSERT_EQ_INT(rows.n, cut == row1 ? 1 : 0);
    }
    /* The size column must agree with the line. */
    buf_reset(&b);
    ASSERT_EQ_INT(rowbinary_put_u64(&b, 1), 0);
    ASSERT_EQ_INT(rowbinary_put_i64(&b, 1), 0);
    ASSERT_EQ_INT(rowbinary_put_u64(&b, 1), 0);
    ASSERT_EQ_INT(rowbinary_put_u32(&b, 1), 0);
    ASSERT_EQ_INT(rowbinary_put_u64(&b, 99), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("x")), 0);
    ASSERT_EQ_INT(rowbinary_put_len(&b, 0), 0);
    ASSERT_EQ_INT(rowbinary_put_len(&b, 0), 0);
    ASSERT_EQ_INT(
        clickhouse_decode_entries(CLICKHOUSE_LAYOUT_STRATA, true, buf_slice(&b), &a, &rows),
        STRATA_ECORRUPT);
    /* Logthra: sk, Date, size, msg. */
    buf_reset(&b);
    ASSERT_EQ_INT(rowbinary_put_u64(&b, 9), 0);
    ASSERT_EQ_INT(rowbinary_put_u16(&b, 19723), 0); /* 2024-01-01 */
    ASSERT_EQ_INT(rowbinary_put_u64(&b, 2), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("hi")), 0);
    ASSERT_EQ_INT(
        clickhouse_decode_entries(CLICKHOUSE_LAYOUT_LOGTHRA, true, buf_slice(&b), &a, &rows), 0);
    ASSERT_EQ_INT(rows.n, 1);
    ASSERT_EQ_INT(rows.ts[0], 1704067200 * NS_PER_SEC);
    ASSERT_EQ_SLICE(rows.lines[0], "hi");
    ASSERT_TRUE(rows.meta == NULL);
    buf_release(&b);
    arena_release(&a);
}

TEST(clickhouse_decode_streams_both_layouts)
{
    struct arena a;
    arena_init(&a, 0);
    struct buf b;
    buf_init(&b, 1 << 16);
    /* Logthra's labels come in any order and as "name:value". */
    ASSERT_EQ_INT(rowbinary_put_u64(&b, 5), 0);
    ASSERT_EQ_INT(rowbinary_put_len(&b, 3), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("level:info")), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("app:a:b")), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("app:dup")), 0);
    struct clickhouse_stream_row *rows;
    uint32_t n;
    ASSERT_EQ_INT(
        clickhouse_decode_streams(CLICKHOUSE_LAYOUT_LOGTHRA, buf_slice(&b), &a, &rows, &n), 0);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_UINT(rows[0].sk, 5);
    ASSERT_EQ_INT(rows[0].n_labels, 2);
    ASSERT_EQ_SLICE(rows[0].key, "{app=\"a:b\", level=\"info\"}");
    ASSERT_EQ_UINT(rows[0].fp, labels_fingerprint(rows[0].labels, 2));
    /* Strata: sk, labels text, names, values; unequal arrays are corrupt. */
    buf_reset(&b);
    ASSERT_EQ_INT(rowbinary_put_u64(&b, 77), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("{a=\"1\"}")), 0);
    ASSERT_EQ_INT(rowbinary_put_len(&b, 1), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("a")), 0);
    ASSERT_EQ_INT(rowbinary_put_len(&b, 1), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("1")), 0);
    ASSERT_EQ_INT(clickhouse_decode_streams(CLICKHOUSE_LAYOUT_STRATA, buf_slice(&b), &a, &rows, &n),
                  0);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_UINT(rows[0].fp, 77);
    ASSERT_EQ_SLICE(rows[0].key, "{a=\"1\"}");
    ASSERT_EQ_INT(rowbinary_put_u64(&b, 78), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("")), 0);
    ASSERT_EQ_INT(rowbinary_put_len(&b, 1), 0);
    ASSERT_EQ_INT(rowbinary_put_string(&b, slice_from("a")), 0);
    ASSERT_EQ_INT(rowbinary_put_len(&b, 0), 0);
    ASSERT_EQ_INT(clickhouse_decode_streams(CLICKHOUSE_LAYOUT_STRATA, buf_slice(&b), &a, &rows, &n),
                  STRATA_ECORRUPT);
    ASSERT_EQ_INT(n, 0);
    buf_release(&b);
    arena_release(&a);
}

TEST(clickhouse_logthra_label_split)
{
    struct label l = clickhouse_logthra_label(slice_from("k:v:w"));
    ASSERT_EQ_SLICE(l.name, "k");
    ASSERT_EQ_SLICE(l.value, "v:w");
    l = clickhouse_logthra_label(slice_from("novalue"));
    ASSERT_EQ_SLICE(l.name, "novalue");
    ASSERT_EQ_SLICE(l.value, "");
    l = clickhouse_logthra_label(slice_from(":x"));
    ASSERT_EQ_SLICE(l.name, "");
    ASSERT_EQ_SLICE(l.value, "x");
}

/* ---- errors and retries ---------------------------------------------------- */

TEST(clickhouse_parse_exception_forms)
{
    int code;
    char msg[256];
    clickhouse_parse_exception(
        slice_from("Code: 193, e.displayText() = DB::Exception: Wrong password for user "
                   "default, e.what() = DB::Exception\n"),
        &code, msg, sizeof(msg));
    ASSERT_EQ_INT(code, 193);
    ASSERT_EQ_STR(msg, "Wrong password for user default");
    clickhouse_parse_exception(
        slice_from("Code: 516. DB::Exception: default: Authentication failed: password is "
                   "incorrect. (AUTHENTICATION_FAILED) (version 23.8.1.1)\n"),
        &code, msg, sizeof(msg));
    ASSERT_EQ_INT(code, 516);
    ASSERT_EQ_STR(msg, "default: Authentication failed: password is incorrect. "
                       "(AUTHENTICATION_FAILED)");
    clickhouse_parse_exception(slice_from("\n  Bad Gateway\r\nmore"), &code, msg, sizeof(msg));
    ASSERT_EQ_INT(code, 0);
    ASSERT_EQ_STR(msg, "Bad Gateway");
    clickhouse_parse_exception(slice_make("Code: 1\x01\x02", 9), &code, msg, sizeof(msg));
    ASSERT_EQ_INT(code, 1);
    ASSERT_EQ_STR(msg, "Code: 1  ");
    clickhouse_parse_exception(slice_from("Code: 62, e.displayText() = DB::Exception: Syntax"),
                               &code, msg, 4);
    ASSERT_EQ_STR(msg, "Syn");
    ASSERT_TRUE(clickhouse_code_retryable(252));
    ASSERT_TRUE(clickhouse_code_retryable(241));
    ASSERT_FALSE(clickhouse_code_retryable(62));
    ASSERT_FALSE(clickhouse_code_retryable(193));
}

TEST(clickhouse_backoff_stops_when_it_should)
{
    struct clickhouse_backoff bo;
    struct clickhouse_error e = {.rc = STRATA_EUNAVAIL, .retryable = false};
    clickhouse_backoff_init(&bo, 10 * NS_PER_SEC);
    ASSERT_FALSE(clickhouse_backoff_wait(&bo, &e, NULL)); /* permanent */
    e.retryable = true;
    volatile int cancel = 1;
    ASSERT_FALSE(clickhouse_backoff_wait(&bo, &e, &cancel));
    clickhouse_backoff_init(&bo, 0);
    ASSERT_FALSE(clickhouse_backoff_wait(&bo, &e, NULL)); /* no budget */
    clickhouse_backoff_init(&bo, 300 * NS_PER_MS);
    int64_t t0 = clock_mono_ns();
    uint32_t tries = 0;
    while (clickhouse_backoff_wait(&bo, &e, NULL))
        tries++;
    int64_t took = clock_mono_ns() - t0;
    /* 100 ms, 200 ms (+-25%), cut at the 300 ms budget (fewer on a loaded machine). */
    ASSERT_TRUE(tries >= 1 && tries <= 3);
    ASSERT_TRUE(took >= 250 * NS_PER_MS && took < 2 * NS_PER_SEC);
}

/* ---- batch ids ------------------------------------------------------------- */

TEST(clickhouse_batch_id_follows_the_content)
{
    struct label l = {SLICE_LIT("app"), SLICE_LIT("a")};
    struct push_batch b1, b2;
    push_batch_init(&b1, "t1");
    push_batch_init(&b2, "t1");
    uint32_t s1 = push_batch_stream(&b1, &l, 1), s2 = push_batch_stream(&b2, &l, 1);
    push_batch_add(&b1, s1, 10, slice_from("x"), NULL, 0);
    push_batch_add(&b2, s2, 10, slice_from("x"), NULL, 0);
    uint64_t id = clickhouse_batch_id(&b1);
    ASSERT_TRUE(id != 0);
    ASSERT_EQ_UINT(clickhouse_batch_id(&b2), id);
    push_batch_add(&b2, s2, 11, slice_from("y"), NULL, 0);
    ASSERT_TRUE(clickhouse_batch_id(&b2) != id);
    struct push_batch b3;
    push_batch_init(&b3, "t2"); /* another tenant */
    uint32_t s3 = push_batch_stream(&b3, &l, 1);
    push_batch_add(&b3, s3, 10, slice_from("x"), NULL, 0);
    ASSERT_TRUE(clickhouse_batch_id(&b3) != id);
    /* "ab"+"c" and "a"+"bc" differ: lengths are hashed too. */
    struct push_batch b4, b5;
    push_batch_init(&b4, "t");
    push_batch_init(&b5, "t");
    uint32_t s4 = push_batch_stream(&b4, &l, 1), s5 = push_batch_stream(&b5, &l, 1);
    push_batch_add(&b4, s4, 1, slice_from("ab"), NULL, 0);
    push_batch_add(&b4, s4, 1, slice_from("c"), NULL, 0);
    push_batch_add(&b5, s5, 1, slice_from("a"), NULL, 0);
    push_batch_add(&b5, s5, 1, slice_from("bc"), NULL, 0);
    ASSERT_TRUE(clickhouse_batch_id(&b4) != clickhouse_batch_id(&b5));
    push_batch_release(&b1);
    push_batch_release(&b2);
    push_batch_release(&b3);
    push_batch_release(&b4);
    push_batch_release(&b5);
}

TEST(clickhouse_open_without_url_is_a_clear_error)
{
    struct config c;
    config_init(&c);
    struct tier *t = (struct tier *)1;
    char err[256];
    ASSERT_EQ_INT(clickhouse_tier_open(&c, &t, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(t == NULL);
    ASSERT_TRUE(strstr(err, "--clickhouse.url") != NULL);
    config_release(&c);
}

/* ---- counts: the decoder, and the engine's side of the push-down ------------ */

static void put_count(struct buf *b, uint64_t sk, uint32_t bucket, uint64_t n, uint64_t bytes,
                      const char *mk, const char *mv, bool with_meta)
{
    ASSERT_EQ_INT(rowbinary_put_u64(b, sk), 0);
    ASSERT_EQ_INT(rowbinary_put_u32(b, bucket), 0);
    ASSERT_EQ_INT(rowbinary_put_u64(b, n), 0);
    ASSERT_EQ_INT(rowbinary_put_u64(b, bytes), 0);
    if (with_meta)
        put_meta_columns(b, mk, mv);
}

TEST(clickhouse_decode_counts_with_bytes_and_metadata)
{
    struct arena a;
    arena_init(&a, 0);
    struct buf b;
    buf_init(&b, 1 << 16);
    put_count(&b, 4, 0, 10, 100, NULL, NULL, false);
    put_count(&b, 4, 3, 2, 20, NULL, NULL, false);
    struct clickhouse_count_rows rows;
    ASSERT_EQ_INT(clickhouse_decode_counts(false, buf_slice(&b), &a, &rows), 0);
    ASSERT_EQ_INT(rows.n, 2);
    ASSERT_EQ_UINT(rows.bucket[1], 3);
    ASSERT_EQ_UINT(rows.count[0], 10);
    ASSERT_EQ_UINT(rows.bytes[1], 20);
    ASSERT_TRUE(rows.meta == NULL);
    /* The same bytes read as rows with metadata do not parse. */
    ASSERT_EQ_INT(clickhouse_decode_counts(true, buf_slice(&b), &a, &rows), STRATA_ECORRUPT);
    buf_reset(&b);
    put_count(&b, 4, 0, 1, 5, NULL, NULL, true);
    put_count(&b, 4, 0, 2, 6, "trace", "t1", true);
    ASSERT_EQ_INT(clickhouse_decode_counts(true, buf_slice(&b), &a, &rows), 0);
    ASSERT_EQ_INT(rows.n, 2);
    ASSERT_TRUE(rows.meta != NULL);
    ASSERT_EQ_INT(rows.meta[0].len, 0);
    struct label *v;
    uint32_t n;
    ASSERT_EQ_INT(labels_decode(rows.meta[1], &a, &v, &n), 0);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_SLICE(v[0].value, "t1");
    for (size_t cut = 1; cut < b.len; cut++)
        ASSERT_TRUE(clickhouse_decode_counts(true, slice_make(b.ptr, cut), &a, &rows) ==
                        STRATA_ECORRUPT ||
                    rows.n == 1);
    buf_release(&b);
    arena_release(&a);
}

/*
 * A tier that can answer counting queries itself (tier.h, struct tier_count),
 * as the ClickHouse tier does in SQL: the engine must compute the same
 * matrix from its counts as from its entries, whatever the step, range,
 * offset, filters, metadata and outer sum.
 */
#define CT_STREAMS 3
#define CT_ENTRIES 400

struct ct_entry {
    int64_t ts;
    const char *line;
    const char *trace; /* structured metadata trace=..., or NULL */
};

struct count_tier {
    struct tier tier;
    bool counting; /* answer tier_query.count with counts */
    uint32_t counted, cursors;
    struct label labels[CT_STREAMS][2];
    struct ct_entry e[CT_STREAMS][CT_ENTRIES];
    uint32_t n[CT_STREAMS];
};

struct ct_cursor {
    struct tier_cursor base;
    const struct ct_entry *e;
    uint32_t n, pos;
    bool backward;
    int64_t ts;
    uint32_t size;
    struct slice line, meta;
    struct buf mb;
};

static int ct_next(struct tier_cursor *c, struct entry_batch *out)
{
    struct ct_cursor *k = (struct ct_cursor *)c;
    if (k->pos >= k->n)
        return 0;
    const struct ct_entry *e = &k->e[k->backward ? k->n - 1 - k->pos : k->pos];
    k->pos++;
    k->ts = e->ts;
    k->line = slice_from(e->line);
    k->size = (uint32_t)k->line.len;
    buf_reset(&k->mb);
    if (e->trace) {
        struct label l = {SLICE_LIT("trace"), slice_from(e->trace)};
        if (labels_encode(&k->mb, &l, 1) < 0)
            return STRATA_EINTERNAL;
    }
    k->meta = buf_slice(&k->mb);
    *out = (struct entry_batch){1, &k->ts, &k->size, &k->line, &k->meta};
    return 1;
}

static void ct_cursor_close(struct tier_cursor *c)
{
    buf_release(&((struct ct_cursor *)c)->mb);
}

static const struct tier_cursor_ops ct_cursor_ops = {ct_next, ct_cursor_close};

static bool ct_passes(const struct tier_query *q, const char *line)
{
    for (uint32_t i = 0; i < q->n_filters; i++) {
        struct slice pat = q->filters[i].pattern;
        bool has = !pat.len || memmem(line, strlen(line), pat.ptr, pat.len) != NULL;
        if (q->filters[i].op == TIER_LINE_CONTAINS ? !has : has)
            return false;
    }
    return true;
}

/* Counts of stream s: one answer per distinct metadata (or one in all without want_meta). */
static void ct_count(struct count_tier *t, const struct tier_query *q, uint32_t s, struct arena *a,
                     tier_stream_fn fn, void *arg, struct tier_stream *ts)
{
    const struct tier_count *tc = q->count;
    const char *metas[] = {NULL, "t1", "t2"};
    for (size_t m = 0; m < (tc->want_meta ? 3 : 1); m++) {
        uint64_t *cnt = arena_calloc(a, tc->n_buckets, sizeof(uint64_t));
        uint64_t *bytes = arena_calloc(a, tc->n_buckets, sizeof(uint64_t));
        for (uint32_t i = 0; i < t->n[s]; i++) {
            const struct ct_entry *e = &t->e[s][i];
            if (e->ts < q->start || e->ts >= q->end || e->ts < tc->origin ||
                (e->ts - tc->origin) / tc->width >= tc->n_buckets || !ct_passes(q, e->line))
                continue;
            if (tc->want_meta && (e->trace == NULL) != (metas[m] == NULL))
                continue;
            if (tc->want_meta && e->trace && strcmp(e->trace, metas[m]))
                continue;
            cnt[(e->ts - tc->origin) / tc->width]++;
            bytes[(e->ts - tc->origin) / tc->width] += strlen(e->line);
        }
        struct tier_counts *c = arena_calloc(a, 1, sizeof(*c));
        uint32_t *bk = arena_alloc(a, tc->n_buckets * sizeof(uint32_t));
        uint64_t *en = arena_alloc(a, tc->n_buckets * sizeof(uint64_t));
        uint64_t *by = arena_alloc(a, tc->n_buckets * sizeof(uint64_t));
        for (uint32_t k = 0; k < tc->n_buckets; k++)
            if (cnt[k]) {
                bk[c->n] = k;
                en[c->n] = cnt[k];
                by[c->n++] = bytes[k];
            }
        if (!c->n)
            continue;
        c->bucket = bk;
        c->entries = en;
        c->bytes = tc->want_bytes ? by : NULL;
        if (metas[m]) {
            struct buf b;
            buf_init(&b, 256);
            struct label l = {SLICE_LIT("trace"), slice_from(metas[m])};
            ASSERT_EQ_INT(labels_encode(&b, &l, 1), 0);
            c->meta = arena_slice_dup(a, buf_slice(&b));
            buf_release(&b);
        }
        ts->counts = c;
        ts->cursor = NULL;
        t->counted++;
        fn(arg, ts);
    }
}

static int ct_select(struct tier *tier, const struct tier_query *q, struct arena *a,
                     tier_stream_fn fn, void *arg)
{
    struct count_tier *t = (struct count_tier *)tier;
    for (uint32_t s = 0; s < CT_STREAMS; s++) {
        if (q->sel && !selector_matches(q->sel, t->labels[s], 2))
            continue;
        struct tier_stream ts = {.labels = t->labels[s], .n_labels = 2};
        ts.fp = labels_fingerprint(ts.labels, 2);
        ts.key = engine_labels_key(a, ts.labels, 2);
        if (t->counting && q->count) {
            ct_count(t, q, s, a, fn, arg, &ts);
            continue;
        }
        struct ct_cursor *c = arena_calloc(a, 1, sizeof(*c));
        c->base.ops = &ct_cursor_ops;
        buf_init(&c->mb, 256);
        c->backward = q->backward;
        /* entries are sorted: the ones in range are one run */
        uint32_t i = 0;
        while (i < t->n[s] && t->e[s][i].ts < q->start)
            i++;
        c->e = &t->e[s][i];
        while (i + c->n < t->n[s] && t->e[s][i + c->n].ts < q->end)
            c->n++;
        ts.cursor = &c->base;
        t->cursors++;
        fn(arg, &ts);
    }
    return 0;
}

static int ct_series(struct tier *t, const struct tier_query *q, struct arena *a, tier_stream_fn fn,
                     void *arg)
{
    (void)t, (void)q, (void)a, (void)fn, (void)arg;
    return 0;
}

static int ct_stats(struct tier *t, const struct tier_query *q, struct tier_stats *out)
{
    (void)t, (void)q, (void)out;
    return 0;
}

static void ct_close(struct tier *t)
{
    (void)t;
}

static const struct tier_ops ct_ops = {
    .name = "counting",
    .select = ct_select,
    .series = ct_series,
    .stats = ct_stats,
    .close = ct_close,
};

static void matrix_text(const struct matrix *m, struct buf *out)
{
    buf_reset(out);
    for (uint32_t i = 0; i < m->n; i++) {
        ASSERT_EQ_INT(labels_format(out, m->s[i].labels, m->s[i].n_labels), 0);
        for (uint32_t k = 0; k < m->n_steps; k++)
            if (m->s[i].has[k])
                ASSERT_EQ_INT(buf_printf(out, " %u:%g", k, m->s[i].v[k]), 0);
        ASSERT_EQ_INT(buf_append_char(out, '\n'), 0);
    }
}

static void ct_run(struct count_tier *t, bool counting, const char *q, int64_t start, int64_t end,
                   int64_t step, struct arena *a, struct buf *out)
{
    t->counting = counting;
    struct plan p;
    char err[512];
    ASSERT_EQ_INT(plan_parse_logql(slice_from(q), a, &p, err, sizeof(err)), 0);
    struct metric_query mq = {.tenant = "t", .plan = &p, .start = start, .end = end, .step = step};
    mq.lim.parallelism = 2;
    struct metric_result mr;
    int rc = eval_metric_query(&t->tier, &mq, a, &mr, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s: %s\n", q, err);
    ASSERT_EQ_INT(rc, 0);
    matrix_text(&mr.m, out);
    plan_release(&p);
}

TEST(clickhouse_engine_counts_from_a_counting_tier_match_its_entries)
{
    static struct count_tier t;
    memset(&t, 0, sizeof(t));
    t.tier.ops = &ct_ops;
    static const char *apps[CT_STREAMS] = {"api", "api", "web"};
    static const char *levels[CT_STREAMS] = {"error", "info", "info"};
    static const char *lines[] = {"GET /a 200", "POST /b 500 boom", "x", "boom again"};
    static const char *traces[] = {NULL, "t1", NULL, "t2", NULL};
    for (uint32_t s = 0; s < CT_STREAMS; s++) {
        t.labels[s][0] = (struct label){SLICE_LIT("app"), slice_from(apps[s])};
        t.labels[s][1] = (struct label){SLICE_LIT("level"), slice_from(levels[s])};
        int64_t ts = 1000 * NS_PER_SEC + s * 333 * NS_PER_MS;
        for (uint32_t i = 0; i < CT_ENTRIES; i++) {
            ts += ((i * 7919 + s * 31) % 5000) * NS_PER_MS + (i % 3); /* uneven gaps */
            t.e[s][i] = (struct ct_entry){ts, lines[(i + s) % 4], s == 2 ? NULL : traces[i % 5]};
        }
        t.n[s] = CT_ENTRIES;
    }
    static const struct {
        const char *q;
        int64_t start, end, step; /* seconds */
    } cases[] = {
        {"count_over_time({app=~\".+\"}[1m])", 1000, 2000, 60},
        {"count_over_time({app=\"api\"}[1m])", 1010, 2013, 15},  /* step < range */
        {"count_over_time({app=\"api\"}[10s])", 1010, 2013, 25}, /* gaps between windows */
        {"sum by (level) (count_over_time({app=~\".+\"} |= \"boom\" [45s]))", 1000, 2000, 30},
        {"rate({app=\"api\"} != \"GET\" [30s] offset 7s)", 1100, 1900, 20},
        {"bytes_over_time({app=\"api\", level=\"info\"}[20s])", 1000, 1600, 20},
        {"sum(bytes_rate({app=~\".+\"} |= \"/\" [1m]))", 1000, 2500, 60},
        {"count_over_time({app=\"web\"}[2m])", 1500, 1500, 0}, /* instant */
        {"absent_over_time({app=\"none\"}[1m])", 1000, 1200, 60},
    };
    struct arena a;
    arena_init(&a, 0);
    struct buf want, got;
    buf_init(&want, 1 << 20);
    buf_init(&got, 1 << 20);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int64_t start = cases[c].start * NS_PER_SEC, end = cases[c].end * NS_PER_SEC;
        int64_t step = cases[c].step * NS_PER_SEC;
        ct_run(&t, false, cases[c].q, start, end, step, &a, &want);
        t.counted = 0;
        t.cursors = 0;
        ct_run(&t, true, cases[c].q, start, end, step, &a, &got);
        ASSERT_EQ_STR(got.ptr ? got.ptr : "", want.ptr ? want.ptr : "");
        ASSERT_EQ_INT(t.cursors, 0); /* everything came as counts */
        if (strstr(cases[c].q, "none") == NULL)
            ASSERT_TRUE(t.counted > 0);
    }
    /* A regex filter or a parser needs the entries: no counts asked. */
    ct_run(&t, true, "count_over_time({app=\"api\"} | logfmt [1m])", 1000 * NS_PER_SEC,
           2000 * NS_PER_SEC, 60 * NS_PER_SEC, &a, &got);
    ASSERT_TRUE(t.cursors > 0);
    buf_release(&want);
    buf_release(&got);
    arena_release(&a);
}
