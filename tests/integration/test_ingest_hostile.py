"""Issue [3/10]: hostile and invalid pushes get the right 4xx with a clear message, the
server keeps serving, and nothing accepted before is lost. Also Loki's limits end to end."""
import gzip
import json
import time
import zlib

import snappy

from harness import check, eq, http, now_ns
from test_ingest_support import grpc_stubs, metric_value, read_back

JSON = {"Content-Type": "application/json"}
PROTO = {"Content-Type": "application/x-protobuf"}


def push_request(env, streams):
    """A Loki PushRequest encoded with the protobuf module generated from proto/."""
    grpc_stubs(env, "loki_push.proto")
    import loki_push_pb2 as pb
    req = pb.PushRequest()
    for labels, entries in streams:
        st = req.streams.add(labels=labels)
        for ts, line in entries:
            e = st.entries.add(line=line)
            e.timestamp.seconds, e.timestamp.nanos = divmod(ts, 10**9)
    return req.SerializeToString()


def test_hostile_pushes_are_refused_and_nothing_is_lost(env):
    s = env.server()
    url = s.url + "/loki/api/v1/push"
    t = now_ns()
    s.push([{"stream": {"app": "keep"}, "values": [[str(t), "accepted before"]]}])

    good = push_request(env, [('{app="keep"}', [(t + 1, "protobuf ok")])])
    r = http("POST", url, body=snappy.compress(good), headers=PROTO)
    eq(r.status, 204, "valid protobuf (%s)" % r.text)

    nested = b'{"streams":[' + b"[" * 5000 + b"]" * 5000 + b"]}"
    bomb_member = gzip.compress(b"\0" * (1 << 20))
    bomb = bomb_member * 150  # 150 MiB once inflated; the limit is 100 MiB
    huge_snappy = bytes([0x80, 0x80, 0x80, 0x80, 0x01]) + b"\0" * 16  # declares 256 MiB
    labels300 = {"l%03d" % i: "v" for i in range(300)}
    ten_mb = "x" * (10 * 1024 * 1024)
    cases = [
        ("truncated protobuf", PROTO, snappy.compress(good[:len(good) // 2]), 400,
         "error decoding protobuf PushRequest"),
        ("garbage protobuf", PROTO, snappy.compress(b"\xff\xfe garbage \x00\x01\x02"), 400,
         "error decoding protobuf PushRequest"),
        ("protobuf not snappy", PROTO, good, 400, "snappy"),
        ("snappy declaring 256 MiB", PROTO, huge_snappy, 413, "snappy block declares"),
        ("gzip bomb", dict(JSON, **{"Content-Encoding": "gzip"}), bomb, 413,
         "after decompression"),
        ("corrupt gzip", dict(JSON, **{"Content-Encoding": "gzip"}), bomb_member[:50], 400,
         "corrupt compressed body"),
        ("deeply nested JSON", JSON, nested, 400, "error parsing JSON push request"),
        ("broken JSON", JSON, b'{"streams":[{"stream":{"a":"b"},"values":[["1","x"]', 400,
         "error parsing JSON push request"),
        ("invalid UTF-8 in JSON", JSON,
         b'{"streams":[{"stream":{"a":"b"},"values":[["%d","\xff\xfe"]]}]}' % t, 400,
         "invalid UTF-8"),
        ("300 labels", JSON, json.dumps({"streams": [{"stream": labels300,
                                                      "values": [[str(t), "x"]]}]}).encode(),
         400, "has 300 label names; limit 15"),
        ("10 MB line", JSON, json.dumps({"streams": [{"stream": {"app": "big"},
                                                      "values": [[str(t), ten_mb]]}]}).encode(),
         400, "max entry size '256000' bytes exceeded"),
        ("empty JSON body", JSON, b"", 400, "error parsing JSON push request"),
        ("empty protobuf body", PROTO, b"", 400, "snappy"),
        ("several tenants", dict(JSON, **{"X-Scope-OrgID": "a|b"}), b'{"streams":[]}', 400,
         "multiple org IDs present"),
        ("unsupported encoding", dict(JSON, **{"Content-Encoding": "br"}), b"{}", 400,
         'Content-Encoding "br" not supported'),
    ]
    for name, headers, body, status, needle in cases:
        r = http("POST", url, body=body, headers=headers, timeout=120)
        eq(r.status, status, "%s: status (body %r)" % (name, r.text[:300]))
        check(needle in r.text, "%s: %r not in %r" % (name, needle, r.text[:300]))
        eq(s.get("/ready").status, 200, "%s: still serving" % name)

    # Invalid UTF-8 in a protobuf line refuses that entry only.
    mixed = push_request(env, [('{app="keep"}', [(t + 2, "valid line")])])
    mixed = mixed.replace(b"valid line", b"bad \xff\xfeline")
    mixed += push_request(env, [('{app="keep"}', [(t + 3, "next line ok")])])
    r = http("POST", url, body=snappy.compress(mixed), headers=PROTO)
    eq(r.status, 400, "invalid UTF-8 in protobuf (%s)" % r.text)
    check("not valid UTF-8" in r.text, r.text)

    got = read_back(s, '{app="keep"}', t - 10**9, t + 10**9)
    eq([(g[0], g[1]) for g in got], [(t, "accepted before"), (t + 1, "protobuf ok"),
                                     (t + 3, "next line ok")], "nothing accepted was lost")
    check(metric_value(s, 'strata_discarded_entries_total{reason="invalid"}') >= 3,
          "refused entries are counted")


def test_otlp_http_errors_and_partial_success(env):
    s = env.server()
    t = now_ns()
    ok = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "otlp-edge"}}]},
        "scopeLogs": [{"logRecords": [
            {"timeUnixNano": str(t), "body": {"stringValue": "fresh"}},
            {"timeUnixNano": str(t - 30 * 86400 * 10**9), "body": {"stringValue": "too old"}}]}]}]}
    r = s.post("/otlp/v1/logs", json.dumps(ok), JSON)
    eq(r.status, 200, "partial success status (%s)" % r.text)
    ps = r.json()["partialSuccess"]
    eq(ps["rejectedLogRecords"], "1", "rejected count")
    check("timestamp too old" in ps["errorMessage"], ps["errorMessage"])
    r = s.post("/v1/logs", b"\x0a\x05\x0a\x03", PROTO)
    eq(r.status, 400, "truncated OTLP protobuf")
    eq(r.headers.get("Content-Type"), "application/x-protobuf", "Status in protobuf")
    check(b"error decoding protobuf ExportLogsServiceRequest" in r.body, r.body)
    r = s.post("/v1/logs", b'{"resourceLogs":[', JSON)
    eq(r.status, 400, "broken OTLP JSON")
    eq(r.json()["code"], 3, "google.rpc.Status code INVALID_ARGUMENT")
    r = s.post("/v1/logs", b"x", {"Content-Type": "text/plain"})
    eq(r.status, 415, "OTLP content type")
    gz = gzip.compress(json.dumps(ok).replace('"fresh"', '"fresh gz"').encode())
    r = s.post("/otlp/v1/logs", gz, dict(JSON, **{"Content-Encoding": "gzip"}))
    eq(r.status, 200, "gzip OTLP")
    r = s.post("/v1/logs", b"", PROTO)
    eq((r.status, r.body), (200, b""), "an empty request is a valid empty export")
    got = read_back(s, '{service_name="otlp-edge"}', t - 10**9, t + 10**9)
    eq(sorted(g[1] for g in got), ["fresh", "fresh gz"], "the fresh records, not the old ones")


def test_limits_rate_streams_and_time(env):
    s = env.server(["--limits.ingestion-rate-mb=0.01", "--limits.ingestion-burst-size-mb=0.02",
                    "--limits.max-global-streams-per-user=3"])
    t = now_ns()
    line = "y" * 1000
    # 20 KB of burst: 15 lines pass; the next 20 would need 1.4 s of refill at 10 KB/s.
    s.push([{"stream": {"app": "rate"}, "values": [[str(t + i), line] for i in range(15)]}],
           tenant="r")
    r = s.push([{"stream": {"app": "rate"}, "values": [[str(t + 100 + i), line]
                                                        for i in range(20)]}],
               tenant="r", expect=429)
    check(r.text.startswith("ingestion rate limit exceeded for user r (limit: 10485 bytes/sec) "
                            "while attempting to ingest '20' lines totaling '20000' bytes"),
          r.text)
    # Another tenant has its own bucket.
    s.push([{"stream": {"app": "rate"}, "values": [[str(t), line]]}], tenant="other")
    # Streams: three fit, the fourth is refused, known ones still work.
    for i in range(3):
        s.push([{"stream": {"app": "s%d" % i}, "values": [[str(t), "x"]]}], tenant="st")
    r = s.push([{"stream": {"app": "s3"}, "values": [[str(t), "x"]]},
                {"stream": {"app": "s0"}, "values": [[str(t + 1), "still fine"]]}],
               tenant="st", expect=429)
    check("maximum active stream limit exceeded when trying to create stream "
          '{app="s3", service_name="s3"}' in r.text, r.text)
    got = read_back(s, '{app="s0"}', t - 10**9, t + 10**9, tenant="st")
    eq([g[1] for g in got], ["x", "still fine"], "known stream kept")
    # Too old and too new, each with Loki's message; the valid entry is stored.
    old, new = t - 8 * 86400 * 10**9, t + 3600 * 10**9
    r = s.push([{"stream": {"app": "time"}, "values": [[str(old), "old"], [str(t), "now"],
                                                       [str(new), "future"]]}],
               tenant="tm", expect=400)
    check("has timestamp too new" in r.text, r.text)
    eq([g[1] for g in read_back(s, '{app="time"}', old - 1, new + 1, tenant="tm")], ["now"],
       "only the valid entry")


def test_limits_are_configurable_off(env):
    s = env.server(["--limits.reject-old-samples=false", "--limits.discover-service-name=",
                    "--limits.discover-log-levels=false", "--limits.max-line-size=0"])
    old = 1600000000 * 10**9
    big = "z" * 300000
    s.push([{"stream": {"app": "old"}, "values": [[str(old), "2020"], [str(old + 1), big]]}])
    got = read_back(s, '{app="old"}', old - 1, old + 10)
    eq([(g[0], len(g[1]), g[2], g[3]) for g in got],
       [(old, 4, {"app": "old"}, {}), (old + 1, 300000, {"app": "old"}, {})],
       "no service_name, no detected_level, old and long accepted")


def test_deflate_and_legacy_push(env):
    s = env.server()
    t = now_ns()
    body = json.dumps({"streams": [{"stream": {"app": "defl"}, "values": [[str(t), "raw"]]}]})
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = raw.compress(body.encode()) + raw.flush()
    r = s.post("/loki/api/v1/push", data, dict(JSON, **{"Content-Encoding": "deflate"}))
    eq(r.status, 204, "raw deflate (%s)" % r.text)
    body2 = body.replace('"raw"', '"zlib"').replace(str(t), str(t + 1))
    r = s.post("/loki/api/v1/push", zlib.compress(body2.encode()),
               dict(JSON, **{"Content-Encoding": "deflate"}))
    eq(r.status, 204, "zlib deflate (%s)" % r.text)
    # Half an hour back: inside the store's out-of-order window, with nanoseconds.
    legacy_ts = (t // 10**9 - 1800) * 10**9 + 123
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(legacy_ts // 10**9)) + ".000000123Z"
    legacy = {"streams": [{"labels": '{app="defl"}',
                           "entries": [{"ts": stamp, "line": "legacy"}]}]}
    r = s.post("/api/prom/push", json.dumps(legacy), JSON)
    eq(r.status, 204, "legacy JSON (%s)" % r.text)
    r = s.post("/api/prom/push", snappy.compress(push_request(env, [('{app="defl"}',
                                                                     [(t + 2, "legacy pb")])])),
               PROTO)
    eq(r.status, 204, "legacy protobuf (%s)" % r.text)
    got = read_back(s, '{app="defl"}', legacy_ts - 1, t + 10**9)
    eq([g[1] for g in got], ["legacy", "raw", "zlib", "legacy pb"], "all four")
