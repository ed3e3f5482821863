/* Unit tests of src/core: buffers, arenas, errors, hashing, time, Go strings, gzip, config. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/gostr.h"
#include "core/gzip.h"
#include "core/hash.h"
#include "core/metrics.h"
#include "test.h"

TEST(err_table_maps_codes)
{
    ASSERT_EQ_STR(strata_strerror(0), "ok");
    ASSERT_EQ_INT(strata_http_status(STRATA_ETOOLARGE), 413);
    ASSERT_EQ_INT(strata_http_status(STRATA_ENOSPC), 507);
    ASSERT_EQ_INT(strata_http_status(STRATA_ERATE), 429);
    ASSERT_EQ_INT(strata_grpc_status(STRATA_EINVAL), 3);
    ASSERT_EQ_INT(strata_grpc_status(STRATA_ERATE), 8);
    ASSERT_EQ_STR(strata_errname(STRATA_EPARSE), "EPARSE");
    ASSERT_EQ_STR(strata_strerror(-9999), "unknown error");
    ASSERT_EQ_INT(strata_http_status(-9999), 500);
}

TEST(buf_respects_its_maximum)
{
    struct buf b;
    buf_init(&b, 8);
    ASSERT_EQ_INT(buf_append(&b, "abcd", 4), 0);
    ASSERT_EQ_INT(buf_append(&b, "efgh", 4), 0);
    ASSERT_EQ_INT(buf_append(&b, "i", 1), STRATA_ETOOLARGE);
    ASSERT_EQ_INT(b.len, 8);
    ASSERT_EQ_STR(b.ptr, "abcdefgh");
    ASSERT_EQ_INT(buf_printf(&b, "%d", 1), STRATA_ETOOLARGE);
    ASSERT_EQ_STR(b.ptr, "abcdefgh");
    buf_reset(&b);
    ASSERT_EQ_INT(buf_printf(&b, "%s-%d", "ab", 42), 0);
    ASSERT_EQ_STR(b.ptr, "ab-42");
    buf_release(&b);
}

TEST(buf_printf_long_and_varints)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    ASSERT_EQ_INT(buf_printf(&b, "<%s>", big), 0);
    ASSERT_EQ_INT(b.len, 1001);
    buf_reset(&b);
    ASSERT_EQ_INT(buf_put_uvarint(&b, 300), 0);
    ASSERT_EQ_INT(b.len, 2);
    ASSERT_EQ_UINT((unsigned char)b.ptr[0], 0xac);
    ASSERT_EQ_UINT((unsigned char)b.ptr[1], 0x02);
    buf_release(&b);
}

TEST(arena_allocations_are_aligned_and_freed_together)
{
    struct arena a;
    arena_init(&a, 1000);
    for (int i = 1; i < 200; i++) {
        char *p = arena_alloc(&a, (size_t)i * 7);
        ASSERT_EQ_UINT((uintptr_t)p % 16, 0);
        memset(p, 1, (size_t)i * 7);
    }
    ASSERT_TRUE(arena_over_limit(&a));
    char *s = arena_printf(&a, "%s=%d", "k", 5);
    ASSERT_EQ_STR(s, "k=5");
    char *big = arena_alloc(&a, 1 << 20);
    memset(big, 0, 1 << 20);
    char *r = arena_strdup(&a, "abc");
    r = arena_realloc(&a, r, 4, 100);
    ASSERT_EQ_STR(r, "abc");
    arena_release(&a);
    ASSERT_EQ_INT(a.used, 0);
}

TEST(crc32c_known_value_and_sw_matches_hw)
{
    ASSERT_EQ_UINT(crc32c(0, "123456789", 9), 0xE3069283u);
    ASSERT_EQ_UINT(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    unsigned char data[1031];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 31 + 7);
    for (size_t n = 0; n < sizeof(data); n += 97)
        ASSERT_EQ_UINT(crc32c(0, data, n), crc32c_sw(0, data, n));
    /* Continuation gives the same as one call. */
    ASSERT_EQ_UINT(crc32c(crc32c(0, data, 100), data + 100, 500), crc32c(0, data, 600));
}

TEST(clock_parses_rfc3339)
{
    int64_t ns;
    ASSERT_EQ_INT(clock_parse_rfc3339(slice_from("1970-01-01T00:00:00Z"), &ns), 0);
    ASSERT_EQ_INT(ns, 0);
    ASSERT_EQ_INT(clock_parse_rfc3339(slice_from("2026-01-01T00:00:00.123456789Z"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1767225600123456789));
    ASSERT_EQ_INT(clock_parse_rfc3339(slice_from("2026-01-01T02:00:00+02:00"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1767225600000000000));
    ASSERT_EQ_INT(clock_parse_rfc3339(slice_from("2024-02-29T12:00:00.5Z"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1709208000500000000));
    ASSERT_EQ_INT(clock_parse_rfc3339(slice_from("2023-02-29T12:00:00Z"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_rfc3339(slice_from("2026-01-01 00:00:00"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_rfc3339(slice_from("2026-01-01T00:00:00.Z"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_rfc3339(slice_from("garbage"), &ns), STRATA_EPARSE);
}

/* clock_parse_int64 as it was, one digit at a time with an overflow check on each. */
static int ref_parse_int64(const char *p, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (i == len)
        return STRATA_EPARSE;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return STRATA_EPARSE;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return STRATA_EPARSE;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return STRATA_EPARSE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

TEST(clock_parses_int64_like_a_digit_loop)
{
    static const char *const edge[] = {"0",
                                       "-0",
                                       "+0",
                                       "",
                                       "-",
                                       "+",
                                       "00000000000000000000000000001",
                                       "9223372036854775807",
                                       "9223372036854775808",
                                       "-9223372036854775808",
                                       "-9223372036854775809",
                                       "18446744073709551615",
                                       "18446744073709551616",
                                       "99999999999999999999",
                                       "1767225600061909972",
                                       "12345678",
                                       "1234567890123456",
                                       "12345678/",
                                       "1234567:",
                                       "123456789012345678x",
                                       "1234567890123456789x",
                                       "+-1",
                                       "1 ",
                                       " 1",
                                       "0x10",
                                       "000000000000000000009223372036854775807"};
    int64_t a, b;
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
        a = b = 42;
        int ra = clock_parse_int64(slice_from(edge[i]), &a);
        int rb = ref_parse_int64(edge[i], strlen(edge[i]), &b);
        if (ra != rb || (!ra && a != b))
            fprintf(stderr, "    %s: %d %" PRId64 " against %d %" PRId64 "\n", edge[i], ra, a, rb,
                    b);
        ASSERT_EQ_INT(ra, rb);
        if (!ra)
            ASSERT_EQ_INT(a, b);
    }
    /* Random strings: digits mostly, a sign, runs of zeros, a stray byte near a digit. */
    uint64_t seed = 12345;
    char buf[32];
    for (int t = 0; t < 200000; t++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t len = (seed >> 33) % 24, j = 0;
        if (len && (seed >> 20) % 4 == 0)
            buf[j++] = (seed >> 22) % 2 ? '-' : '+';
        for (; j < len; j++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            unsigned r = (unsigned)(seed >> 40) % 64;
            buf[j] = r < 20 ? '0' : r < 62 ? (char)('0' + r % 10) : r == 62 ? '/' : ':';
        }
        a = b = 42;
        int ra = clock_parse_int64((struct slice){buf, len}, &a);
        int rb = ref_parse_int64(buf, len, &b);
        ASSERT_EQ_INT(ra, rb);
        if (!ra)
            ASSERT_EQ_INT(a, b);
    }
}

TEST(clock_parses_loki_times)
{
    int64_t ns;
    ASSERT_EQ_INT(clock_parse_loki_time(slice_from("1700000000"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1700000000000000000));
    ASSERT_EQ_INT(clock_parse_loki_time(slice_from("1700000000000000001"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1700000000000000001));
    ASSERT_EQ_INT(clock_parse_loki_time(slice_from("1700000000.1234"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1700000000123000000));
    ASSERT_EQ_INT(clock_parse_loki_time(slice_from("4000000000000000000"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(4000000000000000000));
    ASSERT_EQ_INT(clock_parse_loki_time(slice_from("2026-01-01T00:00:00Z"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1767225600000000000));
    ASSERT_EQ_INT(clock_parse_loki_time(slice_from("nope"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_loki_time(slice_from(""), &ns), STRATA_EPARSE);
}

TEST(clock_parses_durations)
{
    int64_t ns;
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("1h30m"), &ns), 0);
    ASSERT_EQ_INT(ns, 90 * NS_PER_MIN);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("15m"), &ns), 0);
    ASSERT_EQ_INT(ns, 15 * NS_PER_MIN);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("10d"), &ns), 0);
    ASSERT_EQ_INT(ns, 10 * NS_PER_DAY);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("2000ms"), &ns), 0);
    ASSERT_EQ_INT(ns, 2 * NS_PER_SEC);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("1m30s500ms"), &ns), 0);
    ASSERT_EQ_INT(ns, 90500 * NS_PER_MS);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("0"), &ns), 0);
    ASSERT_EQ_INT(ns, 0);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("1.5h"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("30m1h"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("h"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from("5x"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_prom_duration(slice_from(""), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_go_duration(slice_from("1.5h"), &ns), 0);
    ASSERT_EQ_INT(ns, 90 * NS_PER_MIN);
    ASSERT_EQ_INT(clock_parse_go_duration(slice_from("-2m3.5s"), &ns), 0);
    ASSERT_EQ_INT(ns, -123500 * NS_PER_MS);
    ASSERT_EQ_INT(clock_parse_go_duration(slice_from("300ms"), &ns), 0);
    ASSERT_EQ_INT(ns, 300 * NS_PER_MS);
    ASSERT_EQ_INT(clock_parse_step(slice_from("15"), &ns), 0);
    ASSERT_EQ_INT(ns, 15 * NS_PER_SEC);
    ASSERT_EQ_INT(clock_parse_step(slice_from("0.5"), &ns), 0);
    ASSERT_EQ_INT(ns, 500 * NS_PER_MS);
    ASSERT_EQ_INT(clock_parse_step(slice_from("2000ms"), &ns), 0);
    ASSERT_EQ_INT(ns, 2 * NS_PER_SEC);
}

TEST(clock_formats)
{
    char out[64];
    clock_format_rfc3339(INT64_C(1767225600123000000), out);
    ASSERT_EQ_STR(out, "2026-01-01T00:00:00.123Z");
    clock_format_rfc3339(0, out);
    ASSERT_EQ_STR(out, "1970-01-01T00:00:00Z");
    clock_format_rfc3339(-1, out);
    ASSERT_EQ_STR(out, "1969-12-31T23:59:59.999999999Z");
    clock_format_duration(NS_PER_HOUR, out, sizeof(out));
    ASSERT_EQ_STR(out, "1h0m0s");
    clock_format_duration(1500 * NS_PER_MS, out, sizeof(out));
    ASSERT_EQ_STR(out, "1.5s");
    clock_format_duration(0, out, sizeof(out));
    ASSERT_EQ_STR(out, "0s");
    clock_format_duration(250 * NS_PER_MS, out, sizeof(out));
    ASSERT_EQ_STR(out, "250ms");
}

TEST(clock_parses_dates)
{
    int64_t ns;
    ASSERT_EQ_INT(clock_parse_date(slice_from("2024-01-01"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1704067200000000000));
    ASSERT_EQ_INT(clock_parse_date(slice_from("2024-13-01"), &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(clock_parse_date(slice_from("2024-1-01"), &ns), STRATA_EPARSE);
}

TEST(gostr_unquotes_and_quotes)
{
    struct arena a;
    arena_init(&a, 0);
    struct slice out;
    size_t used;
    ASSERT_EQ_INT(
        gostr_unquote(slice_from("\"a\\tb\\u00e9\\x41\\101\" rest"), &a, &out, &used, NULL), 0);
    ASSERT_EQ_SLICE(out, "a\tb\xc3\xa9"
                         "AA");
    ASSERT_EQ_INT(used, 20);
    ASSERT_EQ_INT(gostr_unquote(slice_from("`raw \\n`"), &a, &out, &used, NULL), 0);
    ASSERT_EQ_SLICE(out, "raw \\n");
    ASSERT_EQ_INT(gostr_unquote(slice_from("\"open"), &a, &out, &used, NULL), STRATA_EPARSE);
    ASSERT_EQ_INT(gostr_unquote(slice_from("\"bad \\q\""), &a, &out, &used, NULL), STRATA_EPARSE);
    struct buf b;
    buf_init(&b, 100);
    ASSERT_EQ_INT(gostr_quote(&b, slice_from("a\"b\\c\n\x01")), 0);
    ASSERT_EQ_STR(b.ptr, "\"a\\\"b\\\\c\\n\\x01\"");
    buf_release(&b);
    arena_release(&a);
}

TEST(config_defaults_flags_and_yaml)
{
    struct config c;
    config_init(&c);
    ASSERT_EQ_STR(c.http_listen_addr, "127.0.0.1:3100");
    ASSERT_EQ_INT(c.server_max_body_bytes, 64 << 20);
    char err[512];
    int help;
    const char *argv[] = {"strata", "--log.level=debug", "-server.max-body-bytes", "1MiB",
                          "--data_dir=/tmp/x"};
    ASSERT_EQ_INT(config_parse_args(&c, 5, argv, &help, err, sizeof(err)), 0);
    ASSERT_EQ_STR(c.log_level, "debug");
    ASSERT_EQ_INT(c.server_max_body_bytes, 1 << 20);
    ASSERT_EQ_STR(c.data_dir, "/tmp/x");
    const char *yaml = "log:\n  level: warn\nserver:\n  connection_timeout: 90s\n";
    ASSERT_EQ_INT(config_load_yaml(&c, yaml, strlen(yaml), "t.yaml", err, sizeof(err)), 0);
    ASSERT_EQ_STR(c.log_level, "warn");
    ASSERT_EQ_INT(c.server_connection_timeout, 90 * NS_PER_SEC);
    config_release(&c);
}

TEST(config_rejects_unknown_and_bad_values)
{
    struct config c;
    config_init(&c);
    char err[512];
    int help;
    const char *argv1[] = {"strata", "--no-such-flag=1"};
    ASSERT_EQ_INT(config_parse_args(&c, 2, argv1, &help, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "--no-such-flag") != NULL);
    const char *argv2[] = {"strata", "--server.connection-timeout=1.5h"};
    ASSERT_EQ_INT(config_parse_args(&c, 2, argv2, &help, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "server.connection-timeout") != NULL);
    const char *argv3[] = {"strata", "--server.max-body-bytes=lots"};
    ASSERT_EQ_INT(config_parse_args(&c, 2, argv3, &help, err, sizeof(err)), STRATA_EINVAL);
    const char *yaml = "nope: 1\n";
    ASSERT_EQ_INT(config_load_yaml(&c, yaml, strlen(yaml), "t.yaml", err, sizeof(err)),
                  STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "t.yaml:1") != NULL);
    const char *bad = "a: [1\n";
    ASSERT_EQ_INT(config_load_yaml(&c, bad, strlen(bad), "t.yaml", err, sizeof(err)),
                  STRATA_EINVAL);
    const char *argv4[] = {"strata", "--help"};
    ASSERT_EQ_INT(config_parse_args(&c, 2, argv4, &help, err, sizeof(err)), 0);
    ASSERT_EQ_INT(help, 1);
    config_release(&c);
}

TEST(config_parses_byte_sizes)
{
    int64_t v;
    ASSERT_EQ_INT(config_parse_bytes("64MiB", &v), 0);
    ASSERT_EQ_INT(v, 64 << 20);
    ASSERT_EQ_INT(config_parse_bytes("256KB", &v), 0);
    ASSERT_EQ_INT(v, 256000);
    ASSERT_EQ_INT(config_parse_bytes("4k", &v), 0);
    ASSERT_EQ_INT(v, 4096);
    ASSERT_EQ_INT(config_parse_bytes("-1", &v), STRATA_EINVAL);
    ASSERT_EQ_INT(config_parse_bytes("3 parsecs", &v), STRATA_EINVAL);
}

TEST(metrics_render_counters_and_histograms)
{
    metrics_reset();
    struct metric_family *f =
        metrics_family(METRIC_COUNTER, "t_requests_total", "Requests.", "route,status");
    metric_inc(metric_get(f, "/a", "200"), 3);
    metric_inc(metric_get(f, "/a", "200"), 1);
    metric_inc(metric_get(f, "/b\"x", "500"), 1);
    double bounds[] = {0.1, 1};
    struct metric_family *h = metrics_histogram("t_seconds", "Seconds.", NULL, bounds, 2);
    metric_observe(metric_get(h), 0.05);
    metric_observe(metric_get(h), 0.5);
    metric_observe(metric_get(h), 5);
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_EQ_INT(metrics_render(&b), 0);
    ASSERT_TRUE(strstr(b.ptr, "t_requests_total{route=\"/a\",status=\"200\"} 4\n") != NULL);
    ASSERT_TRUE(strstr(b.ptr, "route=\"/b\\\"x\"") != NULL);
    ASSERT_TRUE(strstr(b.ptr, "t_seconds_bucket{le=\"0.1\"} 1\n") != NULL);
    ASSERT_TRUE(strstr(b.ptr, "t_seconds_bucket{le=\"1\"} 2\n") != NULL);
    ASSERT_TRUE(strstr(b.ptr, "t_seconds_bucket{le=\"+Inf\"} 3\n") != NULL);
    ASSERT_TRUE(strstr(b.ptr, "t_seconds_count 3\n") != NULL);
    buf_release(&b);
    metrics_reset();
}

TEST(gzip_append_round_trips_and_respects_the_maximum)
{
    /* 200 KB of text over several 16 KiB output chunks, then inflated back by zlib. */
    struct buf in, gz;
    buf_init(&in, 1u << 20);
    for (int i = 0; i < 4000; i++)
        ASSERT_EQ_INT(buf_printf(&in, "line %d level=info msg=\"request served\"\n", i), 0);
    buf_init(&gz, 1u << 20);
    ASSERT_EQ_INT(buf_append(&gz, "x", 1), 0); /* appended after what is there */
    ASSERT_EQ_INT(gzip_append(&gz, slice_make(in.ptr, in.len)), 0);
    ASSERT_TRUE(gz.len > 3 && gz.len < in.len / 4);
    ASSERT_TRUE((unsigned char)gz.ptr[1] == 0x1f && (unsigned char)gz.ptr[2] == 0x8b);
    char *out = malloc(in.len + 1);
    z_stream z;
    memset(&z, 0, sizeof(z));
    ASSERT_EQ_INT(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz.ptr + 1;
    z.avail_in = (uInt)(gz.len - 1);
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)in.len + 1;
    ASSERT_EQ_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
    ASSERT_EQ_UINT(z.total_out, in.len);
    ASSERT_TRUE(memcmp(out, in.ptr, in.len) == 0);
    inflateEnd(&z);
    free(out);
    /* An empty input is a valid member; a buffer too small is ETOOLARGE. */
    struct buf small;
    buf_init(&small, 64);
    ASSERT_EQ_INT(gzip_append(&small, slice_make("", 0)), 0);
    ASSERT_TRUE(small.len >= 20);
    buf_release(&small);
    buf_init(&small, 100);
    ASSERT_EQ_INT(gzip_append(&small, slice_make(in.ptr, in.len)), STRATA_ETOOLARGE);
    buf_release(&small);
    buf_release(&gz);
    buf_release(&in);
}
