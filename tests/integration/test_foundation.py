"""Issue [1/10]: the binary, probes, config, the first push -> query slice, bad input."""
import json
import os
import subprocess
import time

from harness import check, eq, free_port, http, now_ns


def test_probes_metrics_and_buildinfo(env):
    s = env.server()
    r = s.get("/ready")
    eq((r.status, r.text), (200, "ready\n"), "/ready")
    eq(s.get("/api/v1/healthz").status, 200, "healthz")
    eq(s.get("/api/v1/readyz").status, 200, "readyz")
    b = s.get("/loki/api/v1/status/buildinfo")
    eq(b.status, 200, "buildinfo status")
    info = b.json()
    eq(sorted(info), sorted(["version", "revision", "branch", "buildUser", "buildDate",
                             "goVersion"]), "buildinfo keys")
    check(info["version"].startswith("3."), "buildinfo reports a Loki 3.x version")
    m = s.get("/metrics")
    eq(m.status, 200, "metrics status")
    for name in ("strata_build_info{", "process_resident_memory_bytes ", "process_open_fds ",
                 "process_cpu_seconds_total ", "strata_http_requests_total{route=\"/ready\",status=\"200\"} ",
                 "strata_ingested_entries_total "):
        check(name in m.text, "metrics lack %r" % name)


def test_push_then_query_range_two_tenants(env):
    s = env.server()
    ts = now_ns()
    line_a = 'tenant a: "quoted" \\ tab\there \u00e9\u6f22 {json} \U0001F600'
    line_b = "tenant b line"
    s.push([{"stream": {"app": "x", "env": "prod"}, "values": [[str(ts), line_a]]}], tenant="a")
    s.push([{"stream": {"app": "x", "env": "prod"}, "values": [[str(ts + 1), line_b]]}], tenant="b")
    start, end = ts - 10**9, ts + 10**9
    for tenant, line, t in (("a", line_a, ts), ("b", line_b, ts + 1)):
        r = s.query_range('{app="x"}', start, end, tenant=tenant)
        body = r.json()
        eq(body["status"], "success", "status")
        eq(body["data"]["resultType"], "streams", "resultType")
        # Loki's distributor adds service_name (label) and detected_level (metadata, shown
        # as a label without categorize-labels).
        eq(body["data"]["result"], [{"stream": {"app": "x", "env": "prod", "service_name": "x",
                                                "detected_level": "unknown"},
                                     "values": [[str(t), line]]}], "tenant %s result" % tenant)
        # Key order: resultType before result, stats after result.
        keys = list(json.loads(r.body)["data"].keys())
        eq(keys, ["resultType", "result", "stats"], "data key order")
        check(r.text.index('"resultType"') < r.text.index('"result"') < r.text.index('"stats"'),
              "key order in the raw body")
    # The raw bytes of the line come back exactly.
    raw = s.query_range('{app="x"}', start, end, tenant="a").json()
    eq(raw["data"]["result"][0]["values"][0][1].encode("utf-8"), line_a.encode("utf-8"), "bytes")
    # The default tenant sees neither.
    eq(s.query_range('{app="x"}', start, end).json()["data"]["result"], [], "tenant fake")


def test_query_limit_direction_and_time_range(env):
    s = env.server()
    t0 = now_ns() - 60 * 10**9
    vals = [[str(t0 + i * 10**9), "line %d" % i] for i in range(10)]
    s.push([{"stream": {"app": "dir"}, "values": vals[:5]},
            {"stream": {"app": "dir", "pod": "p2"}, "values": vals[5:]}])
    r = s.query_range('{app="dir"}', t0, t0 + 20 * 10**9, limit=3, direction="backward").json()
    got = sorted((v for st in r["data"]["result"] for v in st["values"]), reverse=True)
    eq([v[1] for v in got], ["line 9", "line 8", "line 7"], "backward limit 3")
    r = s.query_range('{app="dir"}', t0, t0 + 20 * 10**9, limit=3, direction="forward").json()
    got = sorted(v for st in r["data"]["result"] for v in st["values"])
    eq([v[1] for v in got], ["line 0", "line 1", "line 2"], "forward limit 3")
    # [start, end): end is exclusive.
    r = s.query_range('{app="dir"}', t0 + 2 * 10**9, t0 + 4 * 10**9).json()
    got = sorted(v[1] for st in r["data"]["result"] for v in st["values"])
    eq(got, ["line 2", "line 3"], "[start, end)")
    # Seconds, float seconds and RFC3339 are accepted as well as ns.
    sec = (t0 + 2 * 10**9) // 10**9
    r = s.get("/loki/api/v1/query_range", {"query": '{app="dir"}', "start": str(sec),
                                            "end": "%d.5" % (sec + 1), "direction": ""})
    eq(r.status, 200, "seconds params")
    r = s.get("/loki/api/v1/query_range", {"query": '{app="dir", pod="p2"}',
                                            "start": "2000-01-01T00:00:00Z",
                                            "end": str(t0 + 60 * 10**9)})
    eq(sum(len(st["values"]) for st in r.json()["data"]["result"]), 5, "rfc3339 start")


def test_categorize_labels_encoding(env):
    s = env.server()
    ts = now_ns()
    s.push([{"stream": {"app": "cat"}, "values": [[str(ts), "with meta", {"trace_id": "t1"}],
                                                  [str(ts + 1), "plain"]]}])
    h = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
    r = s.query_range('{app="cat"}', ts - 10**9, ts + 10**9, headers=h)
    d = r.json()["data"]
    eq(list(d.keys())[:2], ["resultType", "encodingFlags"], "encodingFlags after resultType")
    eq(d["encodingFlags"], ["categorize-labels"], "flags")
    unknown = {"detected_level": "unknown"}
    eq(d["result"], [{"stream": {"app": "cat", "service_name": "cat"},
                      "values": [[str(ts), "with meta",
                                  {"structuredMetadata": dict(trace_id="t1", **unknown)}],
                                 [str(ts + 1), "plain", {"structuredMetadata": unknown}]]}],
       "categorized result")
    # Without the flag, metadata splits streams.
    r = s.query_range('{app="cat"}', ts - 10**9, ts + 10**9).json()["data"]["result"]
    streams = sorted((json.dumps(x["stream"], sort_keys=True), x["values"]) for x in r)
    base = '"app": "cat", "detected_level": "unknown", "service_name": "cat"'
    eq(streams, sorted([('{%s}' % base, [[str(ts + 1), "plain"]]),
                        ('{%s, "trace_id": "t1"}' % base, [[str(ts), "with meta"]])]),
       "metadata splits streams without the flag")


def test_bad_input_gets_clear_errors_and_server_keeps_serving(env):
    s = env.server(["--server.max-body-bytes=4KiB"])
    url = s.url + "/loki/api/v1/push"
    cases = [
        ("invalid json", {"Content-Type": "application/json"}, b'{"streams":[{', 400,
         "error parsing JSON push request"),
        ("number timestamp", {"Content-Type": "application/json"},
         b'{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}', 400, "timestamp"),
        # Every non-JSON type is a snappy-compressed protobuf PushRequest, as in Loki.
        ("non-json content type", {"Content-Type": "text/csv"}, b"a,b", 400, "snappy"),
        ("no content type", {"Content-Type": ""}, b"{}", 400, "no media type"),
        ("bad encoding", {"Content-Type": "application/json", "Content-Encoding": "br"}, b"{}",
         400, 'Content-Encoding "br" not supported'),
        ("no streams", {"Content-Type": "application/json"}, b'{"streams":[]}', 422,
         "at least one valid stream"),
        ("oversize", {"Content-Type": "application/json"}, b"x" * 8192, 413, "too large"),
    ]
    for name, headers, body, status, needle in cases:
        r = http("POST", url, body=body, headers=headers)
        eq(r.status, status, "%s: status (body %r)" % (name, r.text))
        check(needle in r.text, "%s: %r not in %r" % (name, needle, r.text))
        check(r.text.endswith("\n"), "%s: Loki-style text ends with a newline" % name)
    # Oversize with chunked transfer (no Content-Length), through curl.
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                          "-H", "Content-Type: application/json", "-H",
                          "Transfer-Encoding: chunked", "--data-binary", "@-", url],
                         input=b"y" * 20000, capture_output=True, timeout=30)
    eq(out.stdout, b"413", "chunked oversize")
    eq(s.get("/no/such/route").status, 404, "unknown route")
    eq(http("DELETE", s.url + "/loki/api/v1/push").status, 405, "wrong method")
    r = s.get("/loki/api/v1/query_range", {"query": "{app="})
    eq(r.status, 400, "bad query")
    check("parse error" in r.text, r.text)
    for params, needle in (({"query": '{a="b"}', "limit": "0"}, "limit must be a positive value"),
                           ({"query": '{a="b"}', "direction": "sideways"}, "invalid direction"),
                           ({"query": '{a="b"}', "start": "10", "end": "5"}, "end timestamp"),
                           ({"query": '{a="b"}', "start": "yesterday"}, "start"),
                           ({"query": '{a="b"}', "step": "0"}, "zero or negative"),
                           ({"query": '{a="b"}', "start": "0", "end": "100000", "step": "1"},
                            "11,000 points")):
        r = s.get("/loki/api/v1/query_range", params)
        eq(r.status, 400, "query %r" % params)
        check(needle in r.text, "%r not in %r" % (needle, r.text))
    bad_tenant = s.get("/loki/api/v1/query_range", {"query": '{a="b"}'},
                       headers={"X-Scope-OrgID": "../etc"})
    eq(bad_tenant.status, 400, "tenant with a slash")
    # Still serving, and what was accepted before is still there.
    ts = now_ns()
    s.push([{"stream": {"app": "after"}, "values": [[str(ts), "still here"]]}])
    r = s.query_range('{app="after"}', ts - 10**9, ts + 10**9).json()
    eq(r["data"]["result"][0]["values"], [[str(ts), "still here"]], "after bad input")


def test_curl_push_and_query(env):
    s = env.server()
    ts = now_ns()
    body = json.dumps({"streams": [{"stream": {"job": "curl"}, "values": [[str(ts), "from curl"]]}]})
    out = subprocess.run(["curl", "-s", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                          "--data-binary", body, s.url + "/loki/api/v1/push"],
                         capture_output=True, timeout=30)
    eq(out.stdout, b"204", "curl push")
    out = subprocess.run(["curl", "-s", "-G", "--compressed", s.url + "/loki/api/v1/query_range",
                          "--data-urlencode", 'query={job="curl"}', "--data-urlencode",
                          "start=%d" % (ts - 10**9), "--data-urlencode", "end=%d" % (ts + 10**9)],
                         capture_output=True, timeout=30)
    res = json.loads(out.stdout)
    eq(res["data"]["result"][0]["values"], [[str(ts), "from curl"]], "curl query")
    # POST form body works like the query string.
    out = subprocess.run(["curl", "-s", s.url + "/loki/api/v1/query_range", "--data-urlencode",
                          'query={job="curl"}', "--data-urlencode", "start=%d" % (ts - 10**9),
                          "--data-urlencode", "end=%d" % (ts + 10**9)],
                         capture_output=True, timeout=30)
    eq(json.loads(out.stdout)["data"]["result"][0]["values"][0][1], "from curl", "POST form")


def test_cors_as_logsgo(env):
    s = env.server()
    r = s.get("/ready", headers={"Origin": "http://localhost:5173"})
    eq(r.headers.get("Access-Control-Allow-Origin"), "http://localhost:5173", "allowed origin")
    r = s.get("/ready", headers={"Origin": "http://evil.example"})
    eq(r.headers.get("Access-Control-Allow-Origin"), None, "other origin")
    r = http("OPTIONS", s.url + "/loki/api/v1/push", headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"})
    eq(r.status, 204, "preflight")
    check("POST" in r.headers.get("Access-Control-Allow-Methods", ""), "allow methods")


def test_flags_config_file_help_and_version(env):
    b = env.binary
    r = subprocess.run([b, "--no-such-flag"], capture_output=True, timeout=30)
    eq(r.returncode, 2, "unknown flag exit code")
    check(b"--no-such-flag" in r.stderr, r.stderr)
    r = subprocess.run([b, "--server.max-body-bytes=lots"], capture_output=True, timeout=30)
    eq(r.returncode, 2, "bad value exit code")
    check(b"server.max-body-bytes" in r.stderr, r.stderr)
    r = subprocess.run([b, "--log.level=loud"], capture_output=True, timeout=30)
    eq(r.returncode, 2, "bad log level")
    r = subprocess.run([b, "--version"], capture_output=True, timeout=30)
    eq(r.returncode, 0, "--version")
    check(r.stdout.startswith(b"strata "), r.stdout)
    r = subprocess.run([b, "--help"], capture_output=True, timeout=30)
    check(b"--http-listen-addr" in r.stdout and b"--data-dir" in r.stdout, "help lists options")
    r = subprocess.run([b, "--help-md"], capture_output=True, timeout=30)
    with open(os.path.join(env.repo, "docs", "CONFIGURATION.md"), "rb") as f:
        eq(f.read(), r.stdout, "docs/CONFIGURATION.md matches `strata --help-md` (run "
                              "`make docs/CONFIGURATION.md`)")
    # A YAML file sets options; flags override it.
    port = free_port()
    cfg = os.path.join(env.scratch, "strata.yaml")
    with open(cfg, "w") as f:
        f.write("log:\n  level: debug\nhttp_listen_addr: 127.0.0.1:1\nserver:\n"
                "  max-body-bytes: 1KiB\n")
    s = env.server(["--config.file=" + cfg], port=port)
    r = http("POST", s.url + "/loki/api/v1/push", body=b"z" * 2048,
             headers={"Content-Type": "application/json"})
    eq(r.status, 413, "max-body-bytes from the file")
    bad = os.path.join(env.scratch, "bad.yaml")
    with open(bad, "w") as f:
        f.write("log:\n  levle: debug\n")
    r = subprocess.run([b, "--config.file=" + bad], capture_output=True, timeout=30)
    eq(r.returncode, 2, "unknown key in the file")
    check(b"log.levle" in r.stderr and b"bad.yaml:2" in r.stderr, r.stderr)


def test_gzip_responses(env):
    s = env.server()
    ts = now_ns()
    s.push([{"stream": {"app": "gz"}, "values": [[str(ts + i), "x" * 100] for i in range(50)]}])
    r = s.get("/loki/api/v1/query_range", {"query": '{app="gz"}', "start": str(ts - 1),
                                            "end": str(ts + 10**9)},
              headers={"Accept-Encoding": "gzip"})
    eq(r.headers.get("Content-Encoding"), "gzip", "compressed")
    eq(len(r.json()["data"]["result"][0]["values"]), 50, "decompressed body")


def test_sigterm_during_requests_stops_cleanly(env):
    s = env.server()
    ts = now_ns()
    for i in range(20):
        s.push([{"stream": {"app": "stop"}, "values": [[str(ts + i), "l%d" % i]]}])
    t0 = time.monotonic()
    s.stop()
    check(time.monotonic() - t0 < 15, "shutdown took too long")
