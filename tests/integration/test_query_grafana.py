"""Issue [4/10]: Grafana's requests replayed byte for byte against the real binary.

Each request is written on a raw socket exactly as Grafana 11's Loki datasource
sends it (path and query string encoding, headers, gzip), and the raw response
bytes are checked: status, content type, key order, value encodings.
"""
import gzip
import json
import socket
import time
import urllib.parse

from golden import default_server
from harness import check, eq, now_ns


def raw_request(server, request_line, headers, body=b""):
    """Send one HTTP/1.1 request as bytes; return (status, headers dict, body bytes)."""
    head = request_line + "\r\nHost: 127.0.0.1:%d\r\n" % server.port
    for k, v in headers:
        head += "%s: %s\r\n" % (k, v)
    if body:
        head += "Content-Length: %d\r\n" % len(body)
    head += "Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(head.encode() + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2:]
        rest = out
    if hdrs.get("content-encoding") == "gzip":
        rest = gzip.decompress(rest)
    return status, hdrs, rest


GRAFANA_HEADERS = [("User-Agent", "Grafana/11.5.0"), ("Accept-Encoding", "gzip"),
                   ("X-Grafana-Org-Id", "1"), ("X-Query-Tags", "Source=grafana")]


def seed(server):
    base = (now_ns() // 10**9 // 60) * 60 * 10**9 - 10 * 60 * 10**9
    server.push([
        {"stream": {"app": "shop", "level": "info"},
         "values": [[str(base + 10 * 10**9), "order placed id=1", {"detected_level": "info"}],
                    [str(base + 70 * 10**9), "order placed id=3", {"detected_level": "info"}]]},
        {"stream": {"app": "shop", "level": "error"},
         "values": [[str(base + 20 * 10**9), "payment failed id=2", {"detected_level": "error"}]]},
        {"stream": {"app": "shop"},
         "values": [[str(base + 30 * 10**9), '{"msg":"slow","ms":900}',
                     {"detected_level": "warn"}]]},
    ])
    return base


def test_grafana_health_check(env):
    s = default_server(env)
    # pkg/tsdb/loki/healthcheck.go: an instant query at 4 s, sent as ns; direction may be empty.
    status, hdrs, body = raw_request(
        s, "GET /loki/api/v1/query?direction=&query=vector%281%29%2Bvector%281%29&time=4000000000"
           " HTTP/1.1", GRAFANA_HEADERS)
    eq(status, 200, "health check status")
    check(hdrs["content-type"].startswith("application/json"), hdrs["content-type"])
    prefix = b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":['
    check(body.startswith(prefix), "health check body starts %r" % body[:120])
    d = json.loads(body)
    result = d["data"]["result"]
    # Grafana's test: exactly one frame with one row whose value is 2.
    eq(len(result), 1, "one sample")
    eq(result[0]["value"][1], "2", "the value is the string \"2\"")
    check(isinstance(result[0]["value"][0], (int, float)), "the time is a JSON number")
    # Loki reads a 10-digit integer as seconds (pkg/loghttp): 4000000000 s.
    eq(result[0]["value"][0], 4000000000, "sample time")
    check(body.index(b'"result"') < body.index(b'"stats"'), "stats after result")


def test_grafana_explore_logs_with_categorize_labels(env):
    s = default_server(env)
    base = seed(s)
    q = urllib.parse.quote('{app="shop"} |= ""', safe="")
    line = ("GET /loki/api/v1/query_range?direction=backward&end=%d&limit=1000&query=%s"
            "&start=%d&step=2000ms HTTP/1.1" % (base + 120 * 10**9, q, base))
    status, hdrs, body = raw_request(s, line, GRAFANA_HEADERS + [
        ("X-Loki-Response-Encoding-Flags", "categorize-labels"),
        ("X-Query-Tags", "Source=logsample")])
    eq(status, 200, "explore status (%r)" % body[:200])
    check(hdrs.get("content-encoding") in (None, "gzip"), "gzip or identity")
    check(body.startswith(b'{"status":"success","data":{"resultType":"streams","encodingFlags":'
                          b'["categorize-labels"],"result":[{"stream":{'), body[:160])
    d = json.loads(body)["data"]
    eq(list(d), ["resultType", "encodingFlags", "result", "stats"], "key order")
    streams = {json.dumps(x["stream"], sort_keys=True): x["values"] for x in d["result"]}
    eq(streams['{"app": "shop", "level": "info"}'],
       [[str(base + 70 * 10**9), "order placed id=3", {"structuredMetadata":
                                                        {"detected_level": "info"}}],
        [str(base + 10 * 10**9), "order placed id=1", {"structuredMetadata":
                                                        {"detected_level": "info"}}]],
       "backward order, metadata beside each entry")
    for vals in streams.values():
        for v in vals:
            eq(len(v), 3, "every entry has the third element")
            check(isinstance(v[0], str), "timestamps are strings")
    check(isinstance(d["stats"]["summary"]["execTime"], float), "execTime is a float")


def test_grafana_logs_volume_histogram(env):
    s = default_server(env)
    base = seed(s)
    q = urllib.parse.quote(
        'sum by (level, detected_level) (count_over_time({app="shop"} | drop __error__[1m]))',
        safe="")
    line = ("GET /loki/api/v1/query_range?direction=backward&end=%d&query=%s&start=%d"
            "&step=60000ms HTTP/1.1" % (base + 120 * 10**9, q, base))
    status, _, body = raw_request(s, line, GRAFANA_HEADERS + [
        ("X-Query-Tags", "Source=logvolhist")])
    eq(status, 200, "volume status (%r)" % body[:300])
    d = json.loads(body)["data"]
    eq(d["resultType"], "matrix", "matrix")
    got = {json.dumps(r["metric"], sort_keys=True): r["values"] for r in d["result"]}
    t1, t2 = (base + 60 * 10**9) // 10**9, (base + 120 * 10**9) // 10**9
    eq(got, {
        '{"detected_level": "error", "level": "error"}': [[t1, "1"]],
        '{"detected_level": "info", "level": "info"}': [[t1, "1"], [t2, "1"]],
        '{"detected_level": "warn"}': [[t1, "1"]],
    }, "volume histogram")
    check(b'"values":[[%d,"1"]' % t1 in body, "sample times are numbers, values strings")


def test_grafana_label_browser_and_stats(env):
    s = default_server(env)
    base = seed(s)
    start, end = base, base + 120 * 10**9
    rng = "start=%d&end=%d" % (start, end)
    for line, want in (
            ("GET /loki/api/v1/labels?%s HTTP/1.1" % rng,
             b'{"status":"success","data":["app","level"]}'),
            ("GET /loki/api/v1/label/level/values?query=%s&%s HTTP/1.1" % (
                urllib.parse.quote('{app="shop"}', safe=""), rng),
             b'{"status":"success","data":["error","info"]}'),
            ("GET /loki/api/v1/series?match%%5B%%5D=%s&%s HTTP/1.1" % (
                urllib.parse.quote('{app="shop"}', safe=""), rng),
             b'{"status":"success","data":[{"app":"shop","level":"error"},'
             b'{"app":"shop","level":"info"},{"app":"shop"}]}'),
    ):
        status, _, body = raw_request(s, line, GRAFANA_HEADERS)
        eq((status, body), (200, want), line)
    # index/stats: no wrapper; how many chunks hold the data depends on the tier
    status, _, body = raw_request(s, "GET /loki/api/v1/index/stats?query=%s&%s HTTP/1.1" % (
        urllib.parse.quote('{app="shop"}', safe=""), rng), GRAFANA_HEADERS)
    check(body.startswith(b'{"streams":3,"chunks":'), body)
    st = json.loads(body)
    eq((st["streams"], st["entries"], st["bytes"]), (3, 4, 76), "index stats")
    check(st["chunks"] >= 1, "chunks")
    # Old Grafana (8-9) health check: /labels with start and end, needs status success.
    status, _, body = raw_request(s, "GET /loki/api/v1/labels?start=%d&end=%d HTTP/1.1" % (
        start, end), GRAFANA_HEADERS)
    eq(json.loads(body)["status"], "success", "old health check")
    # The detected_labels probe and buildinfo.
    status, _, body = raw_request(s, "GET /loki/api/v1/detected_labels?query=%s&%s HTTP/1.1" % (
        urllib.parse.quote('{app="shop"}', safe=""), rng), GRAFANA_HEADERS)
    eq(json.loads(body), {"detectedLabels": [{"label": "app", "cardinality": 1},
                                             {"label": "level", "cardinality": 2}]}, "detected")


def test_query_range_as_a_post_form(env):
    s = default_server(env)
    base = seed(s)
    form = urllib.parse.urlencode({"query": 'count_over_time({app="shop"}[1m])', "start": base,
                                   "end": base + 60 * 10**9, "step": "60s"}).encode()
    status, _, body = raw_request(s, "POST /loki/api/v1/query_range HTTP/1.1", [
        ("Content-Type", "application/x-www-form-urlencoded")], form)
    eq(status, 200, "POST form (%r)" % body[:200])
    d = json.loads(body)["data"]
    eq(d["resultType"], "matrix", "matrix")
    eq(sum(int(v[1]) for r in d["result"] for v in r["values"]), 3, "three entries in (0,60s]")
