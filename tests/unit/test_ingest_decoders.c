/*
 * Unit tests of the ingest decoders: the protobuf wire reader, Loki protobuf,
 * LogsGO, Logthra, OTLP (protobuf and JSON) and request bodies. Protobuf
 * inputs are encoded with protobuf-c from the .proto files, an encoder
 * independent of the decoders under test.
 */
#include <snappy-c.h>
#include <stdlib.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "ingest/body.h"
#include "ingest/logsgo.h"
#include "ingest/logthra.h"
#include "ingest/loki_proto.h"
#include "ingest/otlp.h"
#include "ingest/pbwire.h"
#include "logapi.pb-c.h"
#include "logthra.pb-c.h"
#include "loki_push.pb-c.h"
#include "otlp_logs_service.pb-c.h"
#include "test.h"
#include "test_ingest.h"

typedef int (*decoder)(struct slice, struct normalizer *, char *, size_t);

/* Decode every prefix of msg: no crash, no sanitizer report, and never more entries. */
static int every_prefix(decoder dec, const uint8_t *msg, size_t len)
{
    for (size_t cut = 0; cut < len; cut++) {
        struct push_batch b;
        struct push_result r;
        struct normalizer nz;
        char err[512];
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, msg, cut);
        ti_begin(&b, &r, &nz);
        dec((struct slice){(const char *)copy, cut}, &nz, err, sizeof(err));
        push_batch_release(&b);
        free(copy);
    }
    return 0;
}

TEST(pbwire_reads_and_refuses)
{
    /* field 1 varint 150, field 2 "hi", field 3 fixed64, field 4 fixed32, group 5 with a varint */
    const unsigned char m[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'h',  'i', 0x19, 1,
                               0,    0,    0,    0,    0,    0,    0,   0x25, 2,
                               0,    0,    0,    0x2b, 0x08, 0x01, 0x2c};
    struct pb_reader r = pb_reader_make((struct slice){(const char *)m, sizeof(m)});
    struct pb_field f;
    ASSERT_EQ_INT(pb_next(&r, &f), 1);
    ASSERT_EQ_INT(f.num, 1);
    ASSERT_EQ_UINT(f.u, 150);
    ASSERT_EQ_INT(pb_next(&r, &f), 1);
    ASSERT_EQ_SLICE(f.bytes, "hi");
    ASSERT_EQ_INT(pb_next(&r, &f), 1);
    ASSERT_EQ_UINT(f.u, 1);
    ASSERT_EQ_INT(f.type, PB_I64);
    ASSERT_EQ_INT(pb_next(&r, &f), 1);
    ASSERT_EQ_UINT(f.u, 2);
    ASSERT_EQ_INT(pb_next(&r, &f), 0); /* the group is skipped */
    for (size_t cut = 1; cut < sizeof(m); cut++) {
        struct pb_reader t = pb_reader_make((struct slice){(const char *)m, cut});
        int rc;
        while ((rc = pb_next(&t, &f)) > 0)
            ;
        if (cut == 3 || cut == 7 || cut == 16 || cut == 21)
            ASSERT_EQ_INT(rc, 0); /* cut on a field boundary */
        else
            ASSERT_EQ_INT(rc, STRATA_EPARSE);
    }
    const unsigned char bad[][3] = {{0x00, 0x01}, {0x0e, 0x01}, {0x0c}, {0x12, 0x05, 'a'}};
    const size_t bad_len[] = {2, 2, 1, 3};
    for (size_t i = 0; i < 4; i++) {
        struct pb_reader t = pb_reader_make((struct slice){(const char *)bad[i], bad_len[i]});
        ASSERT_EQ_INT(pb_next(&t, &f), STRATA_EPARSE);
    }
    const unsigned char long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0x7f};
    struct pb_reader t = pb_reader_make((struct slice){(const char *)long_varint, 11});
    ASSERT_EQ_INT(pb_next(&t, &f), STRATA_EPARSE);
}

static uint8_t *pack_push(size_t *len)
{
    Logproto__Timestamp t1 = LOGPROTO__TIMESTAMP__INIT, t2 = LOGPROTO__TIMESTAMP__INIT;
    t1.seconds = 1700000000;
    t1.nanos = 5;
    t2.seconds = 1700000001;
    Logproto__LabelPairAdapter md = LOGPROTO__LABEL_PAIR_ADAPTER__INIT;
    md.name = (char *)"trace_id";
    md.value = (char *)"abc";
    Logproto__LabelPairAdapter *mds[] = {&md};
    Logproto__EntryAdapter e1 = LOGPROTO__ENTRY_ADAPTER__INIT, e2 = LOGPROTO__ENTRY_ADAPTER__INIT;
    e1.timestamp = &t1;
    e1.line = (char *)"first line";
    e1.n_structuredmetadata = 1;
    e1.structuredmetadata = mds;
    e2.timestamp = &t2;
    e2.line = (char *)"second line";
    Logproto__EntryAdapter *es[] = {&e1, &e2};
    Logproto__StreamAdapter s1 = LOGPROTO__STREAM_ADAPTER__INIT,
                            s2 = LOGPROTO__STREAM_ADAPTER__INIT;
    s1.labels = (char *)"{job=\"varlogs\", app=\"web\"}";
    s1.n_entries = 2;
    s1.entries = es;
    s2.labels = (char *)"{bad-name=\"x\"}";
    s2.n_entries = 1;
    s2.entries = es;
    Logproto__StreamAdapter *ss[] = {&s1, &s2};
    Logproto__PushRequest req = LOGPROTO__PUSH_REQUEST__INIT;
    req.n_streams = 2;
    req.streams = ss;
    *len = logproto__push_request__get_packed_size(&req);
    uint8_t *buf = malloc(*len);
    logproto__push_request__pack(&req, buf);
    return buf;
}

TEST(loki_proto_decodes_push_request)
{
    size_t len;
    uint8_t *msg = pack_push(&len);
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(loki_proto_decode((struct slice){(const char *)msg, len}, &nz, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(b.n_streams, 1);
    ASSERT_EQ_INT(b.n_entries, 2);
    ASSERT_EQ_SLICE(b.streams[0].key, "{app=\"web\", job=\"varlogs\", service_name=\"web\"}");
    ASSERT_EQ_INT(b.streams[0].entries[0].ts, INT64_C(1700000000000000005));
    ASSERT_EQ_SLICE(b.streams[0].entries[0].line, "first line");
    ASSERT_EQ_INT(b.streams[0].entries[0].n_meta, 2);
    ASSERT_EQ_SLICE(b.streams[0].entries[0].meta[0].value, "abc");
    ASSERT_EQ_SLICE(b.streams[0].entries[0].meta[1].name, "detected_level");
    ASSERT_TRUE(r.error && strstr(r.error, "{bad-name=\"x\"}"));
    ASSERT_EQ_INT(r.n_invalid, 1);
    push_batch_release(&b);
    every_prefix(loki_proto_decode, msg, len);
    free(msg);
    /* Garbage and out-of-range timestamps are refused whole. */
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(loki_proto_decode(slice_from("\xff\xff\xff"), &nz, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_TRUE(strstr(err, "error decoding protobuf PushRequest") != NULL);
    push_batch_release(&b);
    int64_t ns;
    ASSERT_EQ_INT(loki_proto_timestamp(INT64_C(9300000000), 0, &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(loki_proto_timestamp(1, -1, &ns), STRATA_EPARSE);
    ASSERT_EQ_INT(loki_proto_timestamp(-1, 5, &ns), 0);
    ASSERT_EQ_INT(ns, -NS_PER_SEC + 5);
}

static uint8_t *pack_logsgo_batch(size_t *len)
{
    Logapi__LogEntry__LabelsEntry l1 = LOGAPI__LOG_ENTRY__LABELS_ENTRY__INIT,
                                  l2 = LOGAPI__LOG_ENTRY__LABELS_ENTRY__INIT,
                                  l3 = LOGAPI__LOG_ENTRY__LABELS_ENTRY__INIT,
                                  l4 = LOGAPI__LOG_ENTRY__LABELS_ENTRY__INIT;
    l1.key = (char *)" region ";
    l1.value = (char *)"ap-south1";
    l2.key = (char *)"SERVICE";
    l2.value = (char *)"dropped";
    l3.key = (char *)"";
    l3.value = (char *)"dropped too";
    l4.key = (char *)"k8s.pod";
    l4.value = (char *)"p-1";
    Logapi__LogEntry__LabelsEntry *ls[] = {&l1, &l2, &l3, &l4};
    Logapi__LogEntry e1 = LOGAPI__LOG_ENTRY__INIT, e2 = LOGAPI__LOG_ENTRY__INIT,
                     e3 = LOGAPI__LOG_ENTRY__INIT;
    e1.service = (char *)"api";
    e1.level = (char *)"warn";
    e1.message = (char *)"disk almost full";
    e1.timestamp = 1746307232;
    e1.n_labels = 4;
    e1.labels = ls;
    e2.service = (char *)"api";
    e2.level = (char *)"info";
    e2.message = (char *)"now";
    e3.service = (char *)"api";
    e3.message = (char *)"no level";
    Logapi__LogEntry *es[] = {&e1, &e2, &e3};
    Logapi__LogBatch b = LOGAPI__LOG_BATCH__INIT;
    b.n_entries = 3;
    b.entries = es;
    *len = logapi__log_batch__get_packed_size(&b);
    uint8_t *buf = malloc(*len);
    logapi__log_batch__pack(&b, buf);
    return buf;
}

TEST(logsgo_entries_become_streams)
{
    size_t len;
    uint8_t *msg = pack_logsgo_batch(&len);
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    ti_begin(&b, &r, &nz);
    int64_t t0 = clock_now_ns();
    ASSERT_EQ_INT(
        logsgo_batch_decode((struct slice){(const char *)msg, len}, &nz, err, sizeof(err)), 0);
    ASSERT_EQ_INT(b.n_streams, 2);
    ASSERT_EQ_SLICE(b.streams[0].key, "{k8s_pod=\"p-1\", level=\"warn\", region=\"ap-south1\", "
                                      "service=\"api\", service_name=\"api\"}");
    ASSERT_EQ_INT(b.streams[0].entries[0].ts, INT64_C(1746307232) * NS_PER_SEC);
    ASSERT_EQ_SLICE(b.streams[0].entries[0].line, "disk almost full");
    ASSERT_EQ_SLICE(b.streams[0].entries[0].meta[0].value, "warn");
    /* timestamp 0 is now, in whole seconds */
    int64_t ts = b.streams[1].entries[0].ts;
    ASSERT_TRUE(ts % NS_PER_SEC == 0 && ts >= t0 - NS_PER_SEC && ts <= clock_now_ns());
    ASSERT_EQ_STR(r.error, "log entry must contain Service, Level, and Message fields");
    ASSERT_EQ_INT(r.n_invalid, 1);
    push_batch_release(&b);
    every_prefix(logsgo_batch_decode, msg, len);
    free(msg);
    /* A single LogEntry (UploadLog). */
    Logapi__LogEntry e = LOGAPI__LOG_ENTRY__INIT;
    e.service = (char *)"svc";
    e.level = (char *)"error";
    e.message = (char *)"boom";
    e.timestamp = 1700000000;
    uint8_t one[64];
    size_t n = logapi__log_entry__pack(&e, one);
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(logsgo_entry_decode((struct slice){(const char *)one, n}, &nz, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(b.n_entries, 1);
    ASSERT_EQ_SLICE(b.streams[0].key, "{level=\"error\", service=\"svc\", service_name=\"svc\"}");
    push_batch_release(&b);
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(logsgo_entry_decode(slice_from("\x0a\x09short"), &nz, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_TRUE(strstr(err, "LogEntry") != NULL);
    push_batch_release(&b);
}

TEST(logthra_json_proto_and_times)
{
    int64_t ns;
    ASSERT_EQ_INT(logthra_parse_time(slice_from("2024-01-01"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1704067200) * NS_PER_SEC);
    ASSERT_EQ_INT(logthra_parse_time(slice_from("2024-01-01T00:00:01.5Z"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1704067201500000000));
    ASSERT_EQ_INT(logthra_parse_time(slice_from("1704067200000000001"), &ns), 0);
    ASSERT_EQ_INT(ns, INT64_C(1704067200000000001));
    ASSERT_EQ_INT(logthra_parse_time(slice_from("01/02/2024"), &ns), STRATA_EPARSE);
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(logthra_json_decode(
                      slice_from("{\"streams\":[{\"stream\":{\"level\":\"info\",\"app\":\"x\","
                                 "\"k.v\":\"1\"},\"values\":[[\"2024-01-01\",\"starting up\"],"
                                 "[1704067200000000002,\"ns number\"]]}]}"),
                      &nz, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(b.n_entries, 2);
    ASSERT_EQ_SLICE(b.streams[0].key, "{app=\"x\", k_v=\"1\", level=\"info\", service_name=\"x\"}");
    ASSERT_EQ_SLICE(b.streams[0].entries[0].meta[0].value, "info");
    push_batch_release(&b);
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(logthra_json_decode(slice_from("{\"streams\":[{\"stream\":{\"a\":\"b\"},"
                                                 "\"values\":[[\"tomorrow\",\"x\"]]}]}"),
                                      &nz, err, sizeof(err)),
                  STRATA_EPARSE);
    push_batch_release(&b);
    /* gRPC form */
    Proto__OneDimValue v = PROTO__ONE_DIM_VALUE__INIT;
    v.valtime = (char *)"2024-01-01";
    v.valmsg = (char *)"from grpc";
    Proto__OneDimValue *vs[] = {&v};
    Proto__Strms__StreamEntry se = PROTO__STRMS__STREAM_ENTRY__INIT;
    se.key = (char *)"app";
    se.value = (char *)"lg";
    Proto__Strms__StreamEntry *ses[] = {&se};
    Proto__Strms st = PROTO__STRMS__INIT;
    st.n_stream = 1;
    st.stream = ses;
    st.n_twodimvalue = 1;
    st.twodimvalue = vs;
    Proto__Strms *sts[] = {&st};
    Proto__RequestReceivedProto req = PROTO__REQUEST_RECEIVED_PROTO__INIT;
    req.tenantid = (char *)"tenant0001";
    req.n_streams = 1;
    req.streams = sts;
    uint8_t buf[256];
    size_t n = proto__request_received_proto__pack(&req, buf);
    struct slice tenant;
    ASSERT_EQ_INT(logthra_proto_tenant((struct slice){(const char *)buf, n}, &tenant), 0);
    ASSERT_EQ_SLICE(tenant, "tenant0001");
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(logthra_proto_decode((struct slice){(const char *)buf, n}, &nz, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(b.n_entries, 1);
    ASSERT_EQ_SLICE(b.streams[0].entries[0].line, "from grpc");
    push_batch_release(&b);
    every_prefix(logthra_proto_decode, buf, n);
}

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

static KeyValue kv_str(const char *k, AnyValue *v, const char *s)
{
    AnyValue init = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    *v = init;
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
    KeyValue kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    kv.key = (char *)k;
    kv.value = v;
    return kv;
}

static uint8_t *pack_otlp(size_t *len)
{
    static AnyValue vals[8], body, inner_v, map_v, dbl_v;
    static KeyValue rattrs[3], lattrs[3], inner;
    rattrs[0] = kv_str("service.name", &vals[0], "checkout");
    rattrs[1] = kv_str("k8s.pod.name", &vals[1], "pod-7");
    rattrs[2] = kv_str("host.name", &vals[2], "h1");
    lattrs[0] = kv_str("user.id", &vals[3], "u1");
    inner = kv_str("method", &inner_v, "GET");
    static KeyValue *inner_list[] = {&inner};
    static Opentelemetry__Proto__Common__V1__KeyValueList kvl =
        OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
    kvl.n_values = 1;
    kvl.values = inner_list;
    AnyValue init = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    map_v = init;
    map_v.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    map_v.kvlist_value = &kvl;
    KeyValue kinit = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    lattrs[1] = kinit;
    lattrs[1].key = (char *)"http";
    lattrs[1].value = &map_v;
    dbl_v = init;
    dbl_v.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    dbl_v.double_value = 0.5;
    lattrs[2] = kinit;
    lattrs[2].key = (char *)"ratio";
    lattrs[2].value = &dbl_v;
    body = init;
    body.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    body.string_value = (char *)"order placed";
    static KeyValue *rap[] = {&rattrs[0], &rattrs[1], &rattrs[2]};
    static KeyValue *lap[] = {&lattrs[0], &lattrs[1], &lattrs[2]};
    static Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    res.n_attributes = 3;
    res.attributes = rap;
    static Opentelemetry__Proto__Logs__V1__LogRecord rec =
        OPENTELEMETRY__PROTO__LOGS__V1__LOG_RECORD__INIT;
    rec.time_unix_nano = UINT64_C(1700000000000000123);
    rec.observed_time_unix_nano = UINT64_C(1700000000000000999);
    rec.severity_number = OPENTELEMETRY__PROTO__LOGS__V1__SEVERITY_NUMBER__SEVERITY_NUMBER_WARN;
    rec.severity_text = (char *)"WARN";
    rec.body = &body;
    rec.n_attributes = 3;
    rec.attributes = lap;
    static uint8_t tid[16] = {0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    rec.trace_id.len = 16;
    rec.trace_id.data = tid;
    static Opentelemetry__Proto__Logs__V1__LogRecord *recs[] = {&rec};
    static Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = (char *)"my.lib";
    scope.version = (char *)"1.2";
    static Opentelemetry__Proto__Logs__V1__ScopeLogs sl =
        OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT;
    sl.scope = &scope;
    sl.n_log_records = 1;
    sl.log_records = recs;
    static Opentelemetry__Proto__Logs__V1__ScopeLogs *sls[] = {&sl};
    static Opentelemetry__Proto__Logs__V1__ResourceLogs rl =
        OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT;
    rl.resource = &res;
    rl.n_scope_logs = 1;
    rl.scope_logs = sls;
    static Opentelemetry__Proto__Logs__V1__ResourceLogs *rls[] = {&rl};
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_REQUEST__INIT;
    req.n_resource_logs = 1;
    req.resource_logs = rls;
    *len = opentelemetry__proto__collector__logs__v1__export_logs_service_request__get_packed_size(
        &req);
    uint8_t *buf = malloc(*len);
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__pack(&req, buf);
    return buf;
}

static const struct slice *meta_get(const struct entry *e, const char *name)
{
    return labels_get(e->meta, e->n_meta, name);
}

static void check_otlp_batch(const struct push_batch *b)
{
    ASSERT_EQ_INT(b->n_streams, 1);
    ASSERT_EQ_INT(b->n_entries, 1);
    ASSERT_EQ_SLICE(b->streams[0].key, "{k8s_pod_name=\"pod-7\", service_name=\"checkout\"}");
    const struct entry *e = &b->streams[0].entries[0];
    ASSERT_EQ_INT(e->ts, INT64_C(1700000000000000123));
    ASSERT_EQ_SLICE(e->line, "order placed");
    ASSERT_EQ_SLICE(*meta_get(e, "user_id"), "u1");
    ASSERT_EQ_SLICE(*meta_get(e, "http_method"), "GET");
    ASSERT_EQ_SLICE(*meta_get(e, "ratio"), "0.5");
    ASSERT_EQ_SLICE(*meta_get(e, "observed_timestamp"), "1700000000000000999");
    ASSERT_EQ_SLICE(*meta_get(e, "severity_number"), "13");
    ASSERT_EQ_SLICE(*meta_get(e, "severity_text"), "WARN");
    ASSERT_EQ_SLICE(*meta_get(e, "trace_id"), "abcd0102030405060708090a0b0c0d0e");
    ASSERT_EQ_SLICE(*meta_get(e, "host_name"), "h1");
    ASSERT_EQ_SLICE(*meta_get(e, "scope_name"), "my.lib");
    ASSERT_EQ_SLICE(*meta_get(e, "scope_version"), "1.2");
    ASSERT_EQ_SLICE(*meta_get(e, "detected_level"), "warn");
}

TEST(otlp_proto_maps_like_loki)
{
    size_t len;
    uint8_t *msg = pack_otlp(&len);
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(otlp_proto_decode((struct slice){(const char *)msg, len}, &nz, err, sizeof(err)),
                  0);
    check_otlp_batch(&b);
    if (test_failed)
        return;
    push_batch_release(&b);
    every_prefix(otlp_proto_decode, msg, len);
    free(msg);
}

TEST(otlp_json_maps_like_loki)
{
    const char *body =
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":"
        "\"1700000000000000123\",\"observedTimeUnixNano\":1700000000000000999,"
        "\"severityNumber\":13,\"severityText\":\"WARN\",\"body\":{\"stringValue\":\"order "
        "placed\"},\"attributes\":[{\"key\":\"user.id\",\"value\":{\"stringValue\":\"u1\"}},"
        "{\"key\":\"http\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"method\",\"value\":"
        "{\"stringValue\":\"GET\"}}]}}},{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.5}}],"
        "\"traceId\":\"ABCD0102030405060708090A0B0C0D0E\",\"unknown\":[1,2]}],\"scope\":{\"name\":"
        "\"my.lib\",\"version\":\"1.2\"}}],\"resource\":{\"attributes\":[{\"key\":"
        "\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},{\"key\":\"k8s.pod.name\","
        "\"value\":{\"stringValue\":\"pod-7\"}},{\"key\":\"host.name\",\"value\":{\"stringValue\":"
        "\"h1\"}}]}}]}";
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(otlp_json_decode(slice_from(body), &nz, err, sizeof(err)), 0);
    check_otlp_batch(&b);
    if (test_failed)
        return;
    push_batch_release(&b);
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(otlp_json_decode(slice_from("{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":"
                                              "[{\"traceId\":\"xyz\"}]}]}]}"),
                                   &nz, err, sizeof(err)),
                  STRATA_EPARSE);
    push_batch_release(&b);
}

TEST(otlp_any_value_as_string)
{
    /* maps as JSON with sorted keys, arrays, bools, ints, bytes, HTML-safe escaping */
    const char *body =
        "{\"resourceLogs\":[{\"resource\":{},\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":"
        "\"1\",\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"z\",\"value\":{\"intValue\":"
        "\"-5\"}},{\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":[{\"boolValue\":true},"
        "{\"stringValue\":\"<b>\"},{\"bytesValue\":\"AQI=\"},{\"doubleValue\":1e21},{}]}}}]}}}]}]}]"
        "}";
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[512];
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(otlp_json_decode(slice_from(body), &nz, err, sizeof(err)), 0);
    ASSERT_EQ_INT(b.n_entries, 1);
    ASSERT_EQ_SLICE(b.streams[0].key, "{service_name=\"unknown_service\"}");
    ASSERT_EQ_SLICE(b.streams[0].entries[0].line,
                    "{\"a\":[true,\"\\u003cb\\u003e\",\"AQI=\",1e+21,null],\"z\":-5}");
    push_batch_release(&b);
    char d[32];
    otlp_format_double(1.5, d);
    ASSERT_EQ_STR(d, "1.5");
    otlp_format_double(100, d);
    ASSERT_EQ_STR(d, "100");
    otlp_format_double(0.000001, d);
    ASSERT_EQ_STR(d, "0.000001");
    otlp_format_double(1.5e-7, d);
    ASSERT_EQ_STR(d, "1.5e-7");
    otlp_format_double(-2.5e300, d);
    ASSERT_EQ_STR(d, "-2.5e+300");
    otlp_format_double(0.1 + 0.2, d);
    ASSERT_EQ_STR(d, "0.30000000000000004");
    otlp_format_double(123456789012345680000.0, d);
    ASSERT_EQ_STR(d, "123456789012345680000");
}

static void gzip_bytes(const void *in, size_t n, int window, struct buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 9, Z_DEFLATED, window, 9, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n) + 64;
    buf_init(out, BUF_UNLIMITED);
    if (buf_reserve(out, cap) < 0)
        abort();
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->ptr;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    out->len = cap - z.avail_out;
    deflateEnd(&z);
}

TEST(body_inflate_is_bounded)
{
    const char *text = "{\"streams\":[]}";
    char err[512];
    for (int w = 0; w < 3; w++) {
        int window = w == 0 ? 16 + 15 : w == 1 ? 15 : -15;
        const char *enc = w == 0 ? "gzip" : "deflate";
        struct buf z, out;
        gzip_bytes(text, strlen(text), window, &z);
        buf_init(&out, BUF_UNLIMITED);
        struct slice got;
        ASSERT_EQ_INT(body_decode_encoding(enc, buf_slice(&z), 1000, &out, &got, err, sizeof(err)),
                      0);
        ASSERT_EQ_SLICE(got, text);
        buf_release(&out);
        /* Exactly the limit is fine, one byte less is 413. */
        buf_init(&out, BUF_UNLIMITED);
        ASSERT_EQ_INT(
            body_decode_encoding(enc, buf_slice(&z), strlen(text), &out, &got, err, sizeof(err)),
            0);
        buf_release(&out);
        buf_init(&out, BUF_UNLIMITED);
        ASSERT_EQ_INT(body_decode_encoding(enc, buf_slice(&z), strlen(text) - 1, &out, &got, err,
                                           sizeof(err)),
                      STRATA_ETOOLARGE);
        buf_release(&out);
        /* Truncated streams are corrupt. */
        buf_init(&out, BUF_UNLIMITED);
        ASSERT_EQ_INT(body_decode_encoding(enc, (struct slice){z.ptr, z.len / 2}, 1000, &out, &got,
                                           err, sizeof(err)),
                      STRATA_EPARSE);
        buf_release(&out);
        buf_release(&z);
    }
    /* A bomb: 64 MiB of zeros in ~64 KiB; refused having inflated at most the limit. */
    size_t bomb_n = 64u << 20;
    char *zeros = calloc(1, bomb_n);
    struct buf z, out;
    gzip_bytes(zeros, bomb_n, 16 + 15, &z);
    free(zeros);
    ASSERT_TRUE(z.len < 200 * 1024);
    buf_init(&out, BUF_UNLIMITED);
    struct slice got;
    ASSERT_EQ_INT(
        body_decode_encoding("gzip", buf_slice(&z), 1u << 20, &out, &got, err, sizeof(err)),
        STRATA_ETOOLARGE);
    ASSERT_TRUE(out.cap <= (1u << 20) + 2);
    ASSERT_TRUE(strstr(err, "request body too large") != NULL);
    buf_release(&out);
    buf_release(&z);
    buf_init(&out, BUF_UNLIMITED);
    ASSERT_EQ_INT(body_decode_encoding("br", slice_from("x"), 10, &out, &got, err, sizeof(err)),
                  STRATA_EUNSUPPORTED);
    ASSERT_EQ_STR(err, "Content-Encoding \"br\" not supported");
    ASSERT_EQ_INT(body_decode_encoding("snappy", slice_from("x"), 10, &out, &got, err, sizeof(err)),
                  0);
    ASSERT_EQ_SLICE(got, "x");
    buf_release(&out);
}

TEST(body_snappy_checks_declared_length)
{
    const char *text = "hello hello hello hello";
    char comp[128];
    size_t clen = sizeof(comp);
    ASSERT_EQ_INT(snappy_compress(text, strlen(text), comp, &clen), SNAPPY_OK);
    char err[512];
    struct buf out;
    struct slice got;
    buf_init(&out, BUF_UNLIMITED);
    ASSERT_EQ_INT(
        body_snappy_decode((struct slice){comp, clen}, 1000, &out, &got, err, sizeof(err)), 0);
    ASSERT_EQ_SLICE(got, text);
    ASSERT_EQ_INT(body_snappy_decode((struct slice){comp, clen}, 5, &out, &got, err, sizeof(err)),
                  STRATA_ETOOLARGE);
    /* A header declaring 256 MiB with nothing behind it: refused before any allocation. */
    const char huge[] = {(char)0x80, (char)0x80, (char)0x80, (char)0x80, 0x01, 0x00};
    buf_release(&out);
    buf_init(&out, BUF_UNLIMITED);
    ASSERT_EQ_INT(body_snappy_decode((struct slice){huge, sizeof(huge)}, 100u << 20, &out, &got,
                                     err, sizeof(err)),
                  STRATA_ETOOLARGE);
    ASSERT_TRUE(out.cap == 0);
    ASSERT_EQ_INT(body_snappy_decode((struct slice){huge, sizeof(huge)}, (size_t)1 << 40, &out,
                                     &got, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_TRUE(out.cap == 0);
    ASSERT_EQ_INT(body_snappy_decode(slice_from(""), 100, &out, &got, err, sizeof(err)),
                  STRATA_EPARSE);
    ASSERT_EQ_INT(body_snappy_decode(slice_from("\x05garbage"), 100, &out, &got, err, sizeof(err)),
                  STRATA_EPARSE);
    buf_release(&out);
}

TEST(logsgo_repeated_labels_reuse_the_stream)
{
    Logapi__LogEntry__LabelsEntry l = LOGAPI__LOG_ENTRY__LABELS_ENTRY__INIT;
    l.key = (char *)"zone";
    l.value = (char *)"a";
    Logapi__LogEntry__LabelsEntry *ls[] = {&l};
    Logapi__LogEntry e[4];
    Logapi__LogEntry *ep[4];
    for (int i = 0; i < 4; i++) {
        Logapi__LogEntry init = LOGAPI__LOG_ENTRY__INIT;
        e[i] = init;
        e[i].service = (char *)"svc";
        e[i].level = (char *)(i == 2 ? "error" : "info");
        e[i].message = (char *)"m";
        e[i].timestamp = 1700000000 + i;
        e[i].n_labels = 1;
        e[i].labels = ls;
        ep[i] = &e[i];
    }
    Logapi__LogBatch batch = LOGAPI__LOG_BATCH__INIT;
    batch.n_entries = 4;
    batch.entries = ep;
    uint8_t buf[512];
    size_t n = logapi__log_batch__pack(&batch, buf);
    struct push_batch b;
    struct push_result r;
    struct normalizer nz;
    char err[256];
    ti_begin(&b, &r, &nz);
    ASSERT_EQ_INT(logsgo_batch_decode((struct slice){(const char *)buf, n}, &nz, err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(b.n_streams, 2);
    ASSERT_EQ_INT(b.streams[0].n_entries, 3);
    ASSERT_EQ_SLICE(b.streams[0].key,
                    "{level=\"info\", service=\"svc\", service_name=\"svc\", zone=\"a\"}");
    ASSERT_EQ_INT(b.streams[1].n_entries, 1);
    ASSERT_EQ_INT(b.streams[0].entries[2].ts, INT64_C(1700000003) * NS_PER_SEC);
    push_batch_release(&b);
}
