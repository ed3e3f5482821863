/*
 * Unit tests of the CLI's pure parts: the WebSocket frame codec and handshake
 * check (RFC 6455's own examples), and the reading and printing of the query
 * APIs' answers in each output format.
 */
#include <stdlib.h>
#include <string.h>

#include "client/cli_result.h"
#include "client/websocket.h"
#include "core/err.h"
#include "test.h"

/* ---- WebSocket ---- */

TEST(ws_accept_key_rfc6455_example)
{
    char out[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    ASSERT_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(ws_frame_parse_rfc6455_examples)
{
    struct ws_frame f;
    /* A single-frame unmasked text message "Hello". */
    const uint8_t hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    ASSERT_EQ_INT(ws_frame_parse(hello, sizeof(hello), 1 << 20, false, &f), 1);
    ASSERT_TRUE(f.fin);
    ASSERT_EQ_INT(f.opcode, WS_TEXT);
    ASSERT_EQ_INT(f.len, 5);
    ASSERT_TRUE(!memcmp(f.payload, "Hello", 5));
    for (size_t cut = 0; cut < sizeof(hello); cut++)
        ASSERT_EQ_INT(ws_frame_parse(hello, cut, 1 << 20, false, &f), 0);
    /* A fragmented message: "Hel" then "lo". */
    const uint8_t frag1[] = {0x01, 0x03, 'H', 'e', 'l'}, frag2[] = {0x80, 0x02, 'l', 'o'};
    ASSERT_EQ_INT(ws_frame_parse(frag1, sizeof(frag1), 1 << 20, false, &f), 1);
    ASSERT_FALSE(f.fin);
    ASSERT_EQ_INT(ws_frame_parse(frag2, sizeof(frag2), 1 << 20, false, &f), 1);
    ASSERT_EQ_INT(f.opcode, WS_CONT);
    /* A masked "Hello" (a client's frame) is refused from a server, read when allowed. */
    const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ASSERT_EQ_INT(ws_frame_parse(masked, sizeof(masked), 1 << 20, false, &f), STRATA_EPARSE);
    ASSERT_EQ_INT(ws_frame_parse(masked, sizeof(masked), 1 << 20, true, &f), 1);
    ASSERT_TRUE(f.masked);
    /* 256 bytes: the 16-bit length form. */
    uint8_t big[4 + 256] = {0x82, 0x7E, 0x01, 0x00};
    ASSERT_EQ_INT(ws_frame_parse(big, sizeof(big), 1 << 20, false, &f), 1);
    ASSERT_EQ_INT(f.len, 256);
    ASSERT_EQ_INT(f.header_len, 4);
    ASSERT_EQ_INT(ws_frame_parse(big, sizeof(big), 100, false, &f), STRATA_ETOOLARGE);
    /* 64-bit length form, 65536 bytes; and its top bit must be clear. */
    const uint8_t len64[10] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
    ASSERT_EQ_INT(ws_frame_parse(len64, sizeof(len64), 1 << 20, false, &f), 0);
    const uint8_t top[10] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1};
    ASSERT_EQ_INT(ws_frame_parse(top, sizeof(top), UINT64_MAX, false, &f), STRATA_EPARSE);
}

TEST(ws_frame_parse_refuses_what_a_server_must_not_send)
{
    struct ws_frame f;
    const uint8_t rsv[] = {0xC1, 0x00};                          /* RSV1 without an extension */
    const uint8_t opcode[] = {0x83, 0x00};                       /* reserved opcode 3 */
    const uint8_t long_ping[2 + 126] = {0x89, 0x7E, 0x00, 0x7E}; /* control frame > 125 */
    const uint8_t frag_close[] = {0x08, 0x00};                   /* fragmented control frame */
    ASSERT_EQ_INT(ws_frame_parse(rsv, 2, 1 << 20, false, &f), STRATA_EPARSE);
    ASSERT_EQ_INT(ws_frame_parse(opcode, 2, 1 << 20, false, &f), STRATA_EPARSE);
    ASSERT_EQ_INT(ws_frame_parse(long_ping, sizeof(long_ping), 1 << 20, false, &f), STRATA_EPARSE);
    ASSERT_EQ_INT(ws_frame_parse(frag_close, 2, 1 << 20, false, &f), STRATA_EPARSE);
}

TEST(ws_frame_encode_masks_and_round_trips)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    ASSERT_EQ_INT(ws_frame_encode(&b, WS_TEXT, "Hello", 5, mask), 0);
    const uint8_t want[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ASSERT_EQ_INT(b.len, sizeof(want));
    ASSERT_TRUE(!memcmp(b.ptr, want, sizeof(want)));
    char payload[70000];
    memset(payload, 'x', sizeof(payload));
    static const size_t sizes[] = {0, 125, 126, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        buf_reset(&b);
        ASSERT_EQ_INT(ws_frame_encode(&b, WS_BINARY, payload, n, mask), 0);
        struct ws_frame f;
        ASSERT_EQ_INT(ws_frame_parse((const uint8_t *)b.ptr, b.len, 1 << 20, true, &f), 1);
        ASSERT_EQ_INT(f.len, n);
        ASSERT_EQ_INT(f.header_len + n, b.len);
        ASSERT_EQ_INT(f.header_len, n < 126 ? 6 : n <= 65535 ? 8 : 14);
        if (n)
            ASSERT_EQ_INT(f.payload[0] ^ f.mask[0], 'x');
    }
    buf_release(&b);
}

TEST(ws_check_handshake_answers)
{
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    char err[256];
    int status;
    const char *good =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    ASSERT_EQ_INT(ws_check_handshake(good, strlen(good), key, &status, err, sizeof(err)), 0);
    ASSERT_EQ_INT(status, 101);
    const char *case_ =
        "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
        "sec-websocket-accept:s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    ASSERT_EQ_INT(ws_check_handshake(case_, strlen(case_), key, &status, err, sizeof(err)), 0);
    const char *wrong = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
    ASSERT_EQ_INT(ws_check_handshake(wrong, strlen(wrong), key, &status, err, sizeof(err)),
                  STRATA_EPARSE);
    const char *refused = "HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\n";
    ASSERT_EQ_INT(ws_check_handshake(refused, strlen(refused), key, &status, err, sizeof(err)),
                  STRATA_EINVAL);
    ASSERT_EQ_INT(status, 400);
    const char *unauth = "HTTP/1.1 401 Unauthorized\r\n\r\n";
    ASSERT_EQ_INT(ws_check_handshake(unauth, strlen(unauth), key, &status, err, sizeof(err)),
                  STRATA_EUNAUTH);
    ASSERT_EQ_INT(ws_check_handshake("SSH-2.0", 7, key, &status, err, sizeof(err)), STRATA_EPARSE);
    ASSERT_EQ_INT(status, 0);
}

/* ---- answers ---- */

static const char *print(enum result_kind k, const char *json, enum out_format f, bool backward)
{
    static struct buf out;
    static char err[512];
    buf_release(&out);
    buf_init(&out, 1 << 20);
    struct result_info info;
    int rc = result_print(k, slice_from(json), f, backward, &out, &info, err, sizeof(err));
    if (rc)
        return err;
    return out.ptr ? out.ptr : "";
}

static const char streams[] =
    "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":["
    "{\"stream\":{\"b\":\"2\",\"a\":\"x\\\"y\"},\"values\":[[\"1000000000\",\"one\"],"
    "[\"3000000000\",\"three\",{\"structuredMetadata\":{},\"parsed\":{}}]]},"
    "{\"stream\":{\"a\":\"z\"},\"values\":[[\"2000000001\",\"two\\ttab\"]]}],"
    "\"stats\":{\"summary\":{}}}}";

TEST(result_streams_each_format)
{
    ASSERT_EQ_STR(print(RES_QUERY, streams, OUT_RAW, false), "one\ntwo\ttab\nthree\n");
    ASSERT_EQ_STR(print(RES_QUERY, streams, OUT_RAW, true), "three\ntwo\ttab\none\n");
    ASSERT_EQ_STR(print(RES_QUERY, streams, OUT_TEXT, false),
                  "1970-01-01T00:00:01Z {a=\"x\\\"y\", b=\"2\"} one\n"
                  "1970-01-01T00:00:02.000000001Z {a=\"z\"} two\ttab\n"
                  "1970-01-01T00:00:03Z {a=\"x\\\"y\", b=\"2\"} three\n");
    ASSERT_EQ_STR(print(RES_QUERY, streams, OUT_JSONL, false),
                  "{\"labels\":{\"a\":\"x\\\"y\",\"b\":\"2\"},\"line\":\"one\",\"timestamp\":"
                  "\"1970-01-01T00:00:01Z\"}\n"
                  "{\"labels\":{\"a\":\"z\"},\"line\":\"two\\ttab\",\"timestamp\":"
                  "\"1970-01-01T00:00:02.000000001Z\"}\n"
                  "{\"labels\":{\"a\":\"x\\\"y\",\"b\":\"2\"},\"line\":\"three\",\"timestamp\":"
                  "\"1970-01-01T00:00:03Z\"}\n");
}

TEST(result_matrix_table)
{
    const char *m = "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
                    "{\"metric\":{\"level\":\"info\"},\"values\":[[60,\"3\"],[120,\"5\"]]},"
                    "{\"metric\":{\"level\":\"error\"},\"values\":[[120,\"1\"],[180.5,\"0.25\"]]}"
                    "]}}";
    ASSERT_EQ_STR(print(RES_QUERY, m, OUT_TEXT, true),
                  "TIME                    {level=\"info\"}  {level=\"error\"}\n"
                  "1970-01-01T00:01:00Z    3               \n"
                  "1970-01-01T00:02:00Z    5               1\n"
                  "1970-01-01T00:03:00.5Z                  0.25\n");
    ASSERT_EQ_STR(print(RES_QUERY, m, OUT_RAW, false),
                  "{level=\"info\"}\t60\t3\n{level=\"info\"}\t120\t5\n"
                  "{level=\"error\"}\t120\t1\n{level=\"error\"}\t180.5\t0.25\n");
    ASSERT_EQ_STR(print(RES_QUERY, m, OUT_JSONL, false),
                  "{\"metric\":{\"level\":\"info\"},\"values\":[[60,\"3\"],[120,\"5\"]]}\n"
                  "{\"metric\":{\"level\":\"error\"},\"values\":[[120,\"1\"],[180.5,\"0.25\"]]}\n");
}

TEST(result_vector_scalar_and_result_before_type)
{
    /* Grafana's health check answer, with result written before resultType. */
    const char *v = "{\"data\":{\"result\":[{\"metric\":{},\"value\":[4000000000,\"2\"]}],"
                    "\"resultType\":\"vector\"},\"status\":\"success\"}";
    ASSERT_EQ_STR(print(RES_QUERY, v, OUT_TEXT, true),
                  "TIME                  VALUE  LABELS\n2096-10-02T07:06:40Z  2      {}\n");
    ASSERT_EQ_STR(print(RES_QUERY, v, OUT_JSONL, true),
                  "{\"metric\":{},\"value\":[4000000000,\"2\"]}\n");
    const char *s = "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                    "\"result\":[1.5,\"7\"]}}";
    ASSERT_EQ_STR(print(RES_QUERY, s, OUT_TEXT, true),
                  "TIME                    VALUE\n1970-01-01T00:00:01.5Z  7\n");
}

TEST(result_logsgo_labels_series_stats)
{
    const char *lg = "[{\"Service\":\"api\",\"Level\":\"warn\",\"Message\":\"disk full\","
                     "\"Labels\":{\"zone\":\"a\"},\"Points\":[{\"Timestamp\":60,\"Count\":2}]},"
                     "{\"Service\":\"db\",\"Level\":\"info\",\"Message\":\"ok\",\"Labels\":null,"
                     "\"Points\":[{\"Timestamp\":120,\"Count\":1}]}]";
    ASSERT_EQ_STR(print(RES_LOGSGO, lg, OUT_TEXT, false),
                  "TIME                  COUNT  SERVICE  LEVEL  LABELS      MESSAGE\n"
                  "1970-01-01T00:01:00Z  2      api      warn   {zone=\"a\"}  disk full\n"
                  "1970-01-01T00:02:00Z  1      db       info   {}          ok\n");
    ASSERT_EQ_STR(print(RES_LOGSGO, lg, OUT_RAW, false),
                  "60\t2\tapi\twarn\t{zone=\"a\"}\tdisk full\n120\t1\tdb\tinfo\t{}\tok\n");
    ASSERT_EQ_STR(print(RES_LOGSGO, "[]", OUT_TEXT, false),
                  "TIME  COUNT  SERVICE  LEVEL  LABELS  MESSAGE\n");
    const char *names = "{\"status\":\"success\",\"data\":[\"app\",\"level\"]}";
    ASSERT_EQ_STR(print(RES_LABELS, names, OUT_TEXT, false), "app\nlevel\n");
    ASSERT_EQ_STR(print(RES_LABELS, names, OUT_JSONL, false), "\"app\"\n\"level\"\n");
    const char *series = "{\"status\":\"success\",\"data\":[{\"b\":\"1\",\"a\":\"2\"}]}";
    ASSERT_EQ_STR(print(RES_SERIES, series, OUT_TEXT, false), "{a=\"2\", b=\"1\"}\n");
    ASSERT_EQ_STR(print(RES_SERIES, series, OUT_JSONL, false), "{\"a\":\"2\",\"b\":\"1\"}\n");
    const char *stats = "{\"streams\":2,\"chunks\":3,\"entries\":40,\"bytes\":1200}";
    ASSERT_EQ_STR(print(RES_STATS, stats, OUT_TEXT, false),
                  "streams: 2\nchunks: 3\nentries: 40\nbytes: 1200\n");
    ASSERT_EQ_STR(print(RES_STATS, stats, OUT_RAW, false), "2\t3\t40\t1200\n");
    ASSERT_EQ_STR(print(RES_STATS, stats, OUT_JSONL, false),
                  "{\"streams\":2,\"chunks\":3,\"entries\":40,\"bytes\":1200}\n");
}

TEST(result_tail_message)
{
    struct buf out;
    buf_init(&out, 1 << 20);
    char err[256];
    struct result_info info;
    const char *m = "{\"streams\":[{\"stream\":{\"app\":\"x\"},\"values\":[[\"5\",\"new\"]]}],"
                    "\"dropped_entries\":[{\"labels\":{},\"timestamp\":\"4\"}]}";
    ASSERT_EQ_INT(
        result_print(RES_TAIL, slice_from(m), OUT_RAW, true, &out, &info, err, sizeof(err)), 0);
    ASSERT_EQ_STR(out.ptr, "new\n");
    ASSERT_EQ_INT(info.rows, 1);
    ASSERT_EQ_INT(info.dropped, 1);
    buf_release(&out);
}

TEST(result_refuses_malformed_answers)
{
    const char *bad[] = {
        "",
        "not json",
        "{\"status\":\"error\",\"data\":{}}",
        "{\"status\":\"success\"}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"nope\",\"result\":[]}}",
        "{\"status\":\"success\",\"data\":{\"result\":[]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[{\"values\":[]}]}"
        "}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[{\"stream\":{},"
        "\"values\":[[1,\"x\"]]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
        "\"values\":[[\"1\",\"x\"]]}]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[]}} trailing",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf out;
        buf_init(&out, 1 << 20);
        char err[256];
        int rc = result_print(RES_QUERY, slice_from(bad[i]), OUT_TEXT, false, &out, NULL, err,
                              sizeof(err));
        if (rc != STRATA_EPARSE)
            fprintf(stderr, "    case %zu: %s\n", i, bad[i]);
        ASSERT_EQ_INT(rc, STRATA_EPARSE);
        ASSERT_EQ_INT(out.len, 0);
        ASSERT_TRUE(strstr(err, "unexpected answer from the server") != NULL);
        buf_release(&out);
    }
}
