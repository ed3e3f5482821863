"""Issue [3/10]: real clients push, and exactly what they pushed is read back.

npm winston-loki (snappy protobuf) and pino-loki (JSON), the OpenTelemetry JS
OTLP exporters 0.203.0 (http/json, http/protobuf, grpc), Python grpcio with stubs
generated from the repo's proto (LogsGO UploadLog/UploadLogs, Loki Pusher,
Logthra PushToIngester), and curl (gzip JSON, Logthra).
"""
import gzip
import json
import os
import subprocess
import time

from harness import check, eq, http, now_ns
from test_ingest_support import grpc_stubs, node_client, read_back

RUN = str(os.getpid())


def test_winston_loki_snappy_protobuf(env):
    s = env.server()
    out = node_client(env, "winston_loki.mjs", s.url, "winston", RUN, 40)
    check(out["protobuf"], "winston-loki fell back to JSON: snappy is not loaded")
    t0 = min(int(e["ns"]) for e in out["entries"])
    got = read_back(s, '{app="winston-app"}', t0 - 10**9, t0 + 60 * 10**9, tenant="winston")
    eq(len(got), 40, "count")
    want = sorted((int(e["ns"]), e["line"], e["level"]) for e in out["entries"])
    eq([(g[0], g[1], g[2]["level"]) for g in got], want, "timestamps, lines, level labels")
    for g in got:
        eq(g[2], {"app": "winston-app", "run": RUN, "level": g[2]["level"],
                  "service_name": "winston-app"}, "stream labels")
        eq(g[3]["detected_level"], g[2]["level"], "detected_level from the level label")


def test_pino_loki_json(env):
    s = env.server()
    out = node_client(env, "pino_loki.mjs", s.url, "pino", RUN, 30)
    eq(out["statuses"], [204] * len(out["pushed"]), "push statuses")
    sent = []
    for body in out["pushed"]:
        for st in body["streams"]:
            for v in st["values"]:
                sent.append((int(v[0]), v[1], st["stream"], v[2] if len(v) > 2 else {}))
    eq(len(sent), 30, "entries sent")
    t0 = min(x[0] for x in sent)
    got = read_back(s, '{app="pino-app"}', t0 - 10**9, t0 + 60 * 10**9, tenant="pino")
    eq(len(got), 30, "count")
    sent.sort(key=lambda x: (x[0], x[1]))
    for g, w in zip(got, sent):
        eq((g[0], g[1]), (w[0], w[1]), "timestamp and line")
        eq(g[2], dict(w[2], service_name="pino-app"), "labels")
        meta = dict(g[3])
        level = meta.pop("detected_level")
        eq(meta, w[3], "structured metadata")
        eq(level, {"warning": "warn"}.get(w[2]["level"], w[2]["level"]), "detected_level")


def otel_check(env, kind, s, url, tenant):
    out = node_client(env, "otel_logs.mjs", kind, url, tenant, RUN, 25)
    check(out["results"], "nothing exported")
    eq([r["code"] for r in out["results"]], [0] * len(out["results"]),
       "export results %r" % out["results"])
    recs = sorted(out["records"], key=lambda r: int(r["ns"]))
    t0 = int(recs[0]["ns"])
    got = read_back(s, '{service_name="otel-%s"}' % kind, t0 - 10**9, t0 + 60 * 10**9,
                    tenant=tenant)
    eq(len(got), 25, "count")
    for g, r in zip(got, recs):
        eq((g[0], g[1]), (int(r["ns"]), r["body"]), "timestamp and body")
        eq(g[2], {"service_name": "otel-%s" % kind, "service_namespace": "strata-tests",
                  "deployment_environment_name": RUN}, "index labels from resource attributes")
        m = g[3]
        for k, v in (("user_id", "u%d" % r["i"]), ("http_status_code", str(200 + r["i"])),
                     ("retry", "true" if r["i"] % 2 == 0 else "false"),
                     ("severity_number", r["severity_number"]),
                     ("severity_text", r["severity_text"]), ("host_name", "builder-1"),
                     ("scope_name", "strata.ingest.test"), ("scope_version", "1.2.3"),
                     ("detected_level", r["severity_text"].lower())):
            eq(m.get(k), v, "metadata %s" % k)


def test_otel_http_json_exporter(env):
    s = env.server()
    otel_check(env, "http", s, s.url + "/otlp/v1/logs", "oteljson")


def test_otel_http_protobuf_exporter(env):
    s = env.server()
    otel_check(env, "proto", s, s.url + "/v1/logs", "otelproto")


def test_otel_grpc_exporter(env):
    s = env.server()
    otel_check(env, "grpc", s, "http://127.0.0.1:%d" % s.grpc_port, "fake")


def test_grpcio_logsgo_upload(env):
    s = env.server()
    grpc_stubs(env, "logapi.proto")
    import grpc
    import logapi_pb2
    import logapi_pb2_grpc
    now = int(time.time())
    with grpc.insecure_channel("127.0.0.1:%d" % s.grpc_port) as ch:
        stub = logapi_pb2_grpc.LogIngestorStub(ch)
        r = stub.UploadLog(logapi_pb2.LogEntry(service="api", level="warn", message="single",
                                               timestamp=now - 5,
                                               labels={"region": "ap-south1", "Level": "x"}),
                           timeout=30)
        eq(r.success, True, "UploadLog success")
        batch = logapi_pb2.LogBatch(entries=[
            logapi_pb2.LogEntry(service="api", level="info", message="batch %d" % i,
                                timestamp=now - 4 + (i % 3), labels={"k8s.pod": "p%d" % (i % 2)})
            for i in range(20)] + [
            logapi_pb2.LogEntry(service="worker", level="error", message="now", timestamp=0)])
        r = stub.UploadLogs(batch, timeout=30)
        eq(r.success, True, "UploadLogs success")
        # Malformed: INVALID_ARGUMENT with a message; the server keeps serving.
        bad = ch.unary_unary("/logapi.LogIngestor/UploadLogs", request_serializer=lambda x: x,
                             response_deserializer=lambda x: x)
        try:
            bad(b"\x0a\xff\x01garbage", timeout=30)
            raise AssertionError("garbage accepted")
        except grpc.RpcError as e:
            eq(e.code(), grpc.StatusCode.INVALID_ARGUMENT, "garbage status")
            check("LogBatch" in e.details(), e.details())
        try:
            stub.UploadLog(logapi_pb2.LogEntry(service="api", message="no level"), timeout=30)
            raise AssertionError("entry without level accepted")
        except grpc.RpcError as e:
            eq(e.code(), grpc.StatusCode.INVALID_ARGUMENT, "missing level status")
            eq(e.details(), "log entry must contain Service, Level, and Message fields", "detail")
    start, end = (now - 60) * 10**9, (now + 60) * 10**9
    got = read_back(s, '{service="api"}', start, end)
    eq(len(got), 21, "api entries")
    single = [g for g in got if g[1] == "single"]
    eq(len(single), 1, "single")
    eq(single[0][0], (now - 5) * 10**9, "seconds -> ns")
    eq(single[0][2], {"service": "api", "level": "warn", "region": "ap-south1",
                      "service_name": "api"}, "LogsGO labels (reserved key dropped)")
    for i in range(20):
        g = [x for x in got if x[1] == "batch %d" % i]
        eq(len(g), 1, "batch %d" % i)
        eq(g[0][0], (now - 4 + (i % 3)) * 10**9, "batch ts")
        eq(g[0][2], {"service": "api", "level": "info", "k8s_pod": "p%d" % (i % 2),
                     "service_name": "api"}, "batch labels")
    w = read_back(s, '{service="worker"}', start, end)
    eq(len(w), 1, "timestamp 0")
    check(abs(w[0][0] - now * 10**9) <= 5 * 10**9 and w[0][0] % 10**9 == 0,
          "timestamp 0 becomes now in whole seconds: %d" % w[0][0])


def test_grpcio_loki_pusher_and_logthra(env):
    s = env.server()
    grpc_stubs(env, "loki_push.proto", "logthra.proto")
    import grpc
    import logthra_pb2
    import logthra_pb2_grpc
    import loki_push_pb2
    import loki_push_pb2_grpc
    t = now_ns()
    with grpc.insecure_channel("127.0.0.1:%d" % s.grpc_port) as ch:
        pusher = loki_push_pb2_grpc.PusherStub(ch)
        req = loki_push_pb2.PushRequest(streams=[loki_push_pb2.StreamAdapter(
            labels='{app="grpc-pusher", env="prod"}',
            entries=[loki_push_pb2.EntryAdapter(
                timestamp=loki_push_pb2.Timestamp(seconds=t // 10**9, nanos=t % 10**9 + i),
                line="pusher %d" % i,
                structuredMetadata=[loki_push_pb2.LabelPairAdapter(name="trace_id",
                                                                   value="tr%d" % i)])
                for i in range(5)])])
        pusher.Push(req, metadata=[("x-scope-orgid", "grpctenant")], timeout=30)
        ing = logthra_pb2_grpc.IngesterServiceStub(ch)
        r = ing.PushToIngester(logthra_pb2.RequestReceivedProto(
            TenantID="logthra001", Streams=[logthra_pb2.Strms(
                Stream={"app": "logthra-grpc", "level": "info"},
                TwoDimValue=[logthra_pb2.OneDimValue(valTime=str(t + i), valMsg="lg %d" % i)
                             for i in range(3)])]), timeout=30)
        eq(r.result, "accepted", "Logthra reply")
    got = read_back(s, '{app="grpc-pusher"}', t - 10**9, t + 10**9, tenant="grpctenant")
    eq([(g[0], g[1], g[3].get("trace_id")) for g in got],
       [(t + i, "pusher %d" % i, "tr%d" % i) for i in range(5)], "Loki Pusher entries")
    eq(got[0][2], {"app": "grpc-pusher", "env": "prod", "service_name": "grpc-pusher"}, "labels")
    lg = read_back(s, '{app="logthra-grpc"}', t - 10**9, t + 10**9, tenant="logthra001")
    eq([(g[0], g[1]) for g in lg], [(t + i, "lg %d" % i) for i in range(3)], "Logthra entries")


def curl(*args, data=None):
    p = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}"] + list(args), input=data,
                       capture_output=True, timeout=60)
    body, _, code = p.stdout.decode().rpartition("\n")
    return int(code), body


def test_curl_gzip_json_and_logthra(env):
    s = env.server()
    t = now_ns()
    payload = {"streams": [{"stream": {"app": "curl-gz"},
                            "values": [[str(t + i), "gz line %d" % i] for i in range(50)]}]}
    gz = gzip.compress(json.dumps(payload).encode())
    code, body = curl("-X", "POST", "-H", "Content-Type: application/json", "-H",
                      "Content-Encoding: gzip", "--data-binary", "@-",
                      s.url + "/loki/api/v1/push", data=gz)
    eq(code, 204, "gzip JSON push (%s)" % body)
    got = read_back(s, '{app="curl-gz"}', t, t + 10**9)
    eq([(g[0], g[1]) for g in got], [(t + i, "gz line %d" % i) for i in range(50)], "gzip JSON")
    # Logthra: its dates, RFC 3339 and ns, with the tenant-id header; 200 and an empty body.
    logthra = {"streams": [{"stream": {"level": "info", "app": "logthra"},
                            "values": [["2026-11-20", "starting up"],
                                       ["2026-11-20T10:00:00.5Z", "rfc3339"],
                                       [str(t), "nanoseconds"]]}]}
    code, body = curl("-X", "POST", "-H", "tenant-id: tenant0001", "-H",
                      "Content-Type: application/json", "--data-binary", json.dumps(logthra),
                      s.url + "/api/push")
    eq((code, body), (200, ""), "Logthra push")
    code, _ = curl(s.url + "/api/health")
    eq(code, 200, "Logthra health")
    code, body = curl(s.url + "/api/push")
    eq(code, 405, "GET /api/push")
    check("not allowed" in body and "POST" in body, body)
    got = read_back(s, '{app="logthra"}', 1700000000 * 10**9, t + 10**9, tenant="tenant0001")
    day = 1795132800 * 10**9  # 2026-11-20T00:00:00Z
    eq([(g[0], g[1]) for g in got], [(day, "starting up"), (day + 36000 * 10**9 + 5 * 10**8,
                                                          "rfc3339"), (t, "nanoseconds")],
       "Logthra times")
    eq(got[0][2], {"app": "logthra", "level": "info", "service_name": "logthra"}, "labels")


def test_grpc_concurrent_calls_big_messages_and_clean_shutdown(env):
    """Several calls at once on the worker pool, a message over gRPC's default 4 MB, OTLP
    partial success over gRPC, and SIGTERM while calls are running."""
    import threading
    s = env.server(["--grpc.workers=4"])
    grpc_stubs(env, "logapi.proto", "otlp_common.proto", "otlp_resource.proto",
               "otlp_logs.proto", "otlp_logs_service.proto")
    import grpc
    import logapi_pb2
    import logapi_pb2_grpc
    import otlp_logs_service_pb2
    import otlp_logs_service_pb2_grpc
    now = int(time.time())
    target = "127.0.0.1:%d" % s.grpc_port
    errors = []

    def upload(k):
        try:
            with grpc.insecure_channel(target) as ch:
                stub = logapi_pb2_grpc.LogIngestorStub(ch)
                for j in range(5):
                    r = stub.UploadLogs(logapi_pb2.LogBatch(entries=[
                        logapi_pb2.LogEntry(service="conc", level="info",
                                            message="t%d c%d e%d" % (k, j, i), timestamp=now,
                                            labels={"thread": str(k)}) for i in range(50)]),
                        timeout=60)
                    if not r.success:
                        errors.append("success=false")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=upload, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    eq(errors, [], "concurrent calls")
    got = read_back(s, '{service="conc"}', (now - 5) * 10**9, (now + 5) * 10**9)
    eq(len(got), 12 * 5 * 50, "every entry of every call")
    eq(len({g[1] for g in got}), 12 * 5 * 50, "no duplicates")

    big = "b" * 200000  # 30 lines of 200 KB: about 6 MB in one message
    with grpc.insecure_channel(target) as ch:
        r = logapi_pb2_grpc.LogIngestorStub(ch).UploadLogs(logapi_pb2.LogBatch(entries=[
            logapi_pb2.LogEntry(service="big", level="info", message="%02d%s" % (i, big),
                                timestamp=now) for i in range(30)]), timeout=60)
        eq(r.success, True, "a 6 MB message")
        req = otlp_logs_service_pb2.ExportLogsServiceRequest()
        rl = req.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = "otlp-grpc-partial"
        sl = rl.scope_logs.add()
        sl.log_records.add(time_unix_nano=now * 10**9).body.string_value = "fresh"
        sl.log_records.add(time_unix_nano=(now - 30 * 86400) * 10**9).body.string_value = "old"
        resp = otlp_logs_service_pb2_grpc.LogsServiceStub(ch).Export(req, timeout=60)
        eq(resp.partial_success.rejected_log_records, 1, "OTLP partial success over gRPC")
        check("timestamp too old" in resp.partial_success.error_message,
              resp.partial_success.error_message)
    eq(len(read_back(s, '{service="big"}', (now - 5) * 10**9, (now + 5) * 10**9)), 30, "big")

    # SIGTERM while calls are in flight: every call gets an answer, the exit is clean.
    stop = threading.Event()
    answered = []

    def hammer():
        with grpc.insecure_channel(target) as ch:
            stub = logapi_pb2_grpc.LogIngestorStub(ch)
            while not stop.is_set():
                try:
                    stub.UploadLog(logapi_pb2.LogEntry(service="h", level="info", message="x"),
                                   timeout=10)
                    answered.append(True)
                except grpc.RpcError:
                    answered.append(False)
                    return

    hs = [threading.Thread(target=hammer) for _ in range(4)]
    for t in hs:
        t.start()
    time.sleep(0.5)
    s.stop()  # raises unless the exit code is 0 and the log has no sanitizer report
    stop.set()
    for t in hs:
        t.join(30)
    check(answered.count(True) > 0, "calls were served before the shutdown")
