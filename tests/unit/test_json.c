/* Unit tests of src/core/json.c: the strict reader and the writer. */
#include "core/err.h"
#include "core/json.h"
#include "test.h"

static int parse_all(const char *text)
{
    struct json_reader r;
    json_reader_init(&r, text, strlen(text), 8);
    if (json_skip(&r) < 0)
        return -1;
    return json_finish(&r);
}

TEST(json_accepts_valid_documents)
{
    ASSERT_EQ_INT(parse_all("{}"), 0);
    ASSERT_EQ_INT(parse_all(" [1, -2.5e3, true, false, null, \"x\", {\"a\": []}] "), 0);
    ASSERT_EQ_INT(parse_all("\"\\u00e9\\ud83d\\ude00\""), 0);
    ASSERT_EQ_INT(parse_all("0"), 0);
}

TEST(json_rejects_invalid_documents)
{
    const char *bad[] = {"",
                         "{",
                         "[1,]",
                         "{\"a\":1,}",
                         "01",
                         "1.",
                         "-",
                         "[1 2]",
                         "{\"a\" 1}",
                         "\"\x01\"",
                         "\"\\x\"",
                         "\"\\ud800\"",
                         "\"\xff\"",
                         "\"\xc0\xaf\"",
                         "tru",
                         "{} {}",
                         "[[[[[[[[[[1]]]]]]]]]]",
                         "{a:1}",
                         "\"abc",
                         "\"\xed\xa0\x80\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_all(bad[i]) == 0) {
            fprintf(stderr, "    accepted: %s\n", bad[i]);
            ASSERT_TRUE(0);
        }
    }
}

TEST(json_reads_objects_zero_copy)
{
    const char *text = "{\"name\":\"plain\",\"esc\":\"a\\nb\",\"n\":-42,\"skip\":{\"x\":[1]}}";
    struct json_reader r;
    struct arena a;
    arena_init(&a, 0);
    json_reader_init(&r, text, strlen(text), 8);
    ASSERT_EQ_INT(json_enter_object(&r), 0);
    struct slice k, v;
    int64_t n = 0;
    int seen = 0;
    while (json_next_key(&r, &a, &k) > 0) {
        if (slice_eq_str(k, "name")) {
            ASSERT_EQ_INT(json_read_string(&r, &a, &v), 0);
            ASSERT_EQ_SLICE(v, "plain");
            ASSERT_TRUE(v.ptr > text && v.ptr < text + strlen(text)); /* points into input */
            seen++;
        } else if (slice_eq_str(k, "esc")) {
            ASSERT_EQ_INT(json_read_string(&r, &a, &v), 0);
            ASSERT_EQ_SLICE(v, "a\nb");
            seen++;
        } else if (slice_eq_str(k, "n")) {
            ASSERT_EQ_INT(json_read_int64(&r, &n), 0);
            seen++;
        } else {
            ASSERT_EQ_INT(json_skip(&r), 0);
        }
    }
    ASSERT_EQ_INT(json_finish(&r), 0);
    ASSERT_EQ_INT(seen, 3);
    ASSERT_EQ_INT(n, -42);
    arena_release(&a);
}

/*
 * Strings are scanned 16 bytes at a time: every kind of special byte must be
 * found at every position of a chunk and across chunk boundaries.
 */
TEST(json_strings_special_bytes_at_every_position)
{
    struct arena a;
    arena_init(&a, 0);
    for (int pos = 0; pos < 40; pos++) {
        char doc[192], plain[64];
        memset(plain, 'x', (size_t)pos);
        plain[pos] = '\0';
        struct json_reader r;
        struct slice out;
        /* an escaped quote at pos, decoded */
        snprintf(doc, sizeof(doc), "\"%s\\\"tail-of-the-string\"", plain);
        json_reader_init(&r, doc, strlen(doc), 8);
        ASSERT_EQ_INT(json_read_string(&r, &a, &out), 0);
        ASSERT_EQ_UINT(out.len, (size_t)pos + 19);
        ASSERT_TRUE(out.ptr[pos] == '"' && !memcmp(out.ptr + pos + 1, "tail-of-the-string", 18));
        ASSERT_EQ_INT(json_finish(&r), 0);
        /* the closing quote at pos: zero-copy */
        snprintf(doc, sizeof(doc), "\"%s\"", plain);
        json_reader_init(&r, doc, strlen(doc), 8);
        ASSERT_EQ_INT(json_read_string(&r, &a, &out), 0);
        ASSERT_TRUE(out.ptr == doc + 1 && out.len == (size_t)pos);
        /* a control character at pos is refused, checked or decoded */
        snprintf(doc, sizeof(doc), "\"%s\x01yyyyyyyyyyyyyyyyyyyy\"", plain);
        ASSERT_TRUE(parse_all(doc) < 0);
        /* valid UTF-8 at pos is kept; a broken sequence is refused */
        snprintf(doc, sizeof(doc), "\"%s\xc3\xa9yyyyyyyyyyyyyyyyyyyy\"", plain);
        json_reader_init(&r, doc, strlen(doc), 8);
        ASSERT_EQ_INT(json_read_string(&r, &a, &out), 0);
        ASSERT_EQ_UINT(out.len, (size_t)pos + 22);
        snprintf(doc, sizeof(doc), "\"%s\xc3yyyyyyyyyyyyyyyyyyyy\"", plain);
        ASSERT_TRUE(parse_all(doc) < 0);
        /* a bad escape at pos is refused by json_skip too (checked without an arena) */
        snprintf(doc, sizeof(doc), "{\"k%s\\q\":1}", plain);
        ASSERT_TRUE(parse_all(doc) < 0);
        snprintf(doc, sizeof(doc), "[\"%s\\u12\"]", plain);
        ASSERT_TRUE(parse_all(doc) < 0);
        snprintf(doc, sizeof(doc), "[\"%s\\u00e9\\n\\\\\", \"%s\\\"\"]", plain, plain);
        ASSERT_EQ_INT(parse_all(doc), 0);
    }
    arena_release(&a);
}

/*
 * Decoding copies 16 bytes at a time up to each backslash: random strings of
 * plain bytes, UTF-8 and every kind of escape, in runs of every length, must
 * come back byte for byte, decoded into an arena and checked without one.
 */
TEST(json_strings_with_escapes_decode_like_the_text)
{
    static const struct {
        const char *text, *json; /* a piece of the decoded string and one JSON spelling */
    } pieces[] = {
        {"\"", "\\\""},
        {"\\", "\\\\"},
        {"/", "\\/"},
        {"\b", "\\b"},
        {"\f", "\\f"},
        {"\n", "\\n"},
        {"\r", "\\r"},
        {"\t", "\\t"},
        {"\x01", "\\u0001"},
        {"\xc3\xa9", "\\u00e9"},
        {"\xe2\x82\xac", "\\u20ac"},
        {"\xe2\x82\xac", "\xe2\x82\xac"},
        {"\xf0\x9f\x98\x80", "\\ud83d\\ude00"},
        {"/", "/"},
    };
    struct arena a;
    arena_init(&a, 0);
    uint64_t x = 0x9e3779b97f4a7c15u;
    char text[1024], doc[2048];
    for (int round = 0; round < 20000; round++) {
        size_t tn = 0, dn = 0;
        doc[dn++] = '"';
        int parts = (int)(round % 23);
        for (int i = 0; i < parts; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t run = (size_t)(x % 41); /* plain bytes, then maybe a piece */
            for (size_t j = 0; j < run; j++)
                text[tn++] = doc[dn++] = (char)('a' + (j + (size_t)round) % 26);
            if ((x >> 8) % 4 == 0)
                continue;
            size_t k = (size_t)(x >> 16) % (sizeof(pieces) / sizeof(pieces[0]));
            size_t tl = strlen(pieces[k].text), dl = strlen(pieces[k].json);
            memcpy(text + tn, pieces[k].text, tl);
            memcpy(doc + dn, pieces[k].json, dl);
            tn += tl;
            dn += dl;
        }
        doc[dn++] = '"';
        struct json_reader r;
        struct slice out;
        json_reader_init(&r, doc, dn, 8);
        ASSERT_EQ_INT(json_read_string(&r, &a, &out), 0);
        ASSERT_EQ_UINT(out.len, tn);
        ASSERT_TRUE(!memcmp(out.ptr, text, tn));
        ASSERT_EQ_INT(json_finish(&r), 0);
        json_reader_init(&r, doc, dn, 8);
        ASSERT_EQ_INT(json_skip(&r), 0);
        ASSERT_EQ_INT(json_finish(&r), 0);
        if (round % 1000 == 999) {
            arena_release(&a);
            arena_init(&a, 0);
        }
    }
    arena_release(&a);
}

TEST(json_error_has_offset)
{
    struct json_reader r;
    json_reader_init(&r, "[1, x]", 6, 8);
    ASSERT_TRUE(json_skip(&r) < 0);
    char tmp[128];
    ASSERT_EQ_STR(json_reader_error(&r, tmp, sizeof(tmp)), "unexpected character at offset 4");
}

TEST(json_writer_escapes_and_separates)
{
    struct buf b;
    buf_init(&b, 1000);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "a");
    jw_string(&w, "x\"y\n\x01");
    jw_key(&w, "list");
    jw_array_begin(&w);
    jw_int(&w, 1);
    jw_double(&w, 0.1);
    jw_bool(&w, true);
    jw_null(&w);
    jw_object_begin(&w);
    jw_object_end(&w);
    jw_string_slice(&w, (struct slice){NULL, 0}); /* an absent value (fuzz_cli_result) */
    jw_array_end(&w);
    jw_object_end(&w);
    ASSERT_EQ_INT(w.rc, 0);
    ASSERT_EQ_STR(b.ptr, "{\"a\":\"x\\\"y\\n\\u0001\",\"list\":[1,0.1,true,null,{},\"\"]}");
    buf_release(&b);
}

TEST(json_writer_reports_overflow)
{
    struct buf b;
    buf_init(&b, 5);
    struct json_writer w;
    json_writer_init(&w, &b);
    jw_string(&w, "too long for five");
    ASSERT_EQ_INT(w.rc, STRATA_ETOOLARGE);
    buf_release(&b);
}

TEST(utf8_validation)
{
    ASSERT_TRUE(utf8_valid("plain ascii text, long enough for the fast path", 47));
    ASSERT_TRUE(utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    ASSERT_FALSE(utf8_valid("\xc3", 1));
    ASSERT_FALSE(utf8_valid("\xe0\x80\x80", 3));
    ASSERT_FALSE(utf8_valid("\xf4\x90\x80\x80", 4));
}
