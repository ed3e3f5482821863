#!/usr/bin/python3
"""Write the seed corpora of the ingest fuzz targets (fuzz_loki_proto, fuzz_logsgo,
fuzz_logthra, fuzz_otlp, fuzz_body, fuzz_loki_json) from messages built with the
protobuf modules generated from proto/. Run from the repository root:
    /usr/bin/python3 tests/fuzz/ingest_seeds.py
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import zlib

import snappy

root = os.getcwd()
stubs = tempfile.mkdtemp()
subprocess.run(["protoc", "--proto_path=proto", "--python_out=" + stubs, "proto/logapi.proto",
                "proto/loki_push.proto", "proto/logthra.proto", "proto/otlp_common.proto",
                "proto/otlp_resource.proto", "proto/otlp_logs.proto",
                "proto/otlp_logs_service.proto"], check=True)
sys.path.insert(0, stubs)
import logapi_pb2  # noqa: E402
import logthra_pb2  # noqa: E402
import loki_push_pb2  # noqa: E402
import otlp_logs_service_pb2  # noqa: E402


def write(target, name, data):
    d = os.path.join(root, "tests/fuzz/corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# Loki PushRequest: raw (gRPC) and snappy (HTTP) forms.
req = loki_push_pb2.PushRequest()
st = req.streams.add(labels='{app="x", env="prod"}')
for i in range(3):
    e = st.entries.add(line="line %d level=warn" % i)
    e.timestamp.seconds, e.timestamp.nanos = 1700000000 + i, 5
    e.structuredMetadata.add(name="trace_id", value="t%d" % i)
req.streams.add(labels="{bad-name=\"1\"}").entries.add(line="refused")
raw = req.SerializeToString()
write("fuzz_loki_proto", "push_raw", raw)
write("fuzz_loki_proto", "push_snappy", snappy.compress(raw))
write("fuzz_loki_proto", "truncated", raw[: len(raw) // 2])
write("fuzz_loki_proto", "snappy_huge_length", bytes([0x80, 0x80, 0x80, 0x80, 0x01, 0, 0]))

# LogsGO LogEntry and LogBatch.
e = logapi_pb2.LogEntry(service="api", level="info", message="hello", timestamp=1700000000,
                        labels={"region": "eu", " Level ": "dropped", "k8s.pod": "p"})
write("fuzz_logsgo", "entry", e.SerializeToString())
b = logapi_pb2.LogBatch(entries=[e, logapi_pb2.LogEntry(service="w", level="error",
                                                        message="zero ts")])
write("fuzz_logsgo", "batch", b.SerializeToString())
write("fuzz_logsgo", "group_field", b"\x0b\x08\x01\x0c" + e.SerializeToString())

# Logthra JSON and protobuf.
write("fuzz_logthra", "json", json.dumps({"streams": [{"stream": {"level": "info", "app": "x"},
                                                       "values": [["2024-01-01", "start"],
                                                                  ["2024-01-01T00:00:00Z", "b"],
                                                                  [1704067200000000000, "n"]]}]}))
lr = logthra_pb2.RequestReceivedProto(TenantID="tenant0001", Streams=[logthra_pb2.Strms(
    Stream={"app": "x"}, TwoDimValue=[logthra_pb2.OneDimValue(valTime="2024-01-01",
                                                              valMsg="m")])])
write("fuzz_logthra", "proto", lr.SerializeToString())

# OTLP protobuf and JSON.
o = otlp_logs_service_pb2.ExportLogsServiceRequest()
rl = o.resource_logs.add()
kv = rl.resource.attributes.add(key="service.name")
kv.value.string_value = "svc"
sl = rl.scope_logs.add()
sl.scope.name = "lib"
rec = sl.log_records.add(time_unix_nano=1700000000000000000, severity_number=13,
                         severity_text="WARN", trace_id=bytes(range(16)), span_id=bytes(8))
rec.body.kvlist_value.values.add(key="k").value.array_value.values.add().double_value = 1.5
a = rec.attributes.add(key="http")
a.value.kvlist_value.values.add(key="method").value.string_value = "GET"
write("fuzz_otlp", "proto", o.SerializeToString())
write("fuzz_otlp", "json", json.dumps({"resourceLogs": [{"resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": "svc"}}]}, "scopeLogs": [{"scope": {
        "name": "lib"}, "logRecords": [{"timeUnixNano": "1700000000000000000",
                                        "severityNumber": 9, "traceId": "00ff",
                                        "body": {"arrayValue": {"values": [{"intValue": "3"},
                                                                           {"boolValue": True}]}},
                                        "attributes": [{"key": "a.b", "value": {
                                            "bytesValue": "AQI="}}]}]}]}]}))

# Bodies: gzip (two members), raw and zlib deflate, snappy.
text = b'{"streams":[{"stream":{"a":"b"},"values":[["1","x"]]}]}'
write("fuzz_body", "gzip_members", gzip.compress(text) + gzip.compress(text))
c = zlib.compressobj(9, zlib.DEFLATED, -15)
write("fuzz_body", "deflate_raw", c.compress(text) + c.flush())
write("fuzz_body", "deflate_zlib", zlib.compress(text))
write("fuzz_body", "snappy", snappy.compress(text * 10))
write("fuzz_body", "bomb", gzip.compress(b"\0" * (4 << 20)))

# Loki JSON: the legacy form too.
write("fuzz_loki_json", "legacy", json.dumps({"streams": [{"labels": '{a="b"}', "entries": [
    {"ts": "2024-01-02T03:04:05.5Z", "line": "x"}]}]}))
write("fuzz_loki_json", "level_json_line", json.dumps({"streams": [{"stream": {"a": "b"},
                                                                    "values": [["1", '{"level":"warn"}'],
                                                                               ["2", "lvl=dbg x=1"]]}]}))

# Regression: KeyValues without a key (an empty key, never a NULL pointer).
write("fuzz_otlp", "keyless_json", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
    {"attributes": [{"value": {"stringValue": "x"}}],
     "body": {"kvlistValue": {"values": [{"value": {"intValue": 1}}]}}}]}]}]}))
o2 = otlp_logs_service_pb2.ExportLogsServiceRequest()
r2 = o2.resource_logs.add().scope_logs.add().log_records.add()
r2.attributes.add().value.kvlist_value.values.add().value.string_value = "nested, no keys"
write("fuzz_otlp", "keyless_proto", o2.SerializeToString())
