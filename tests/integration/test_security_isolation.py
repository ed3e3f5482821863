"""Issue [9/10], part 2: tenant isolation on every endpoint that exists.

Two tenants push streams with the same labels ({app="shop", env="prod"}) through HTTP and
gRPC, each with markers of its own in lines, label values, parsed fields and structured
metadata. Then every read endpoint (Loki's query, query_range, labels, label values, series,
index stats, volume, volume_range, detected labels, fields and field values, patterns, the
tail WebSocket, LogsGO's query and labels, the dashboard's status) is asked by each tenant's
reader: not a byte of the other's markers comes back, its own do (or its own counts), and a
token holding both tenants sees both with "a|b".

The matrix of credentials over every route is in test_security.py (HTTP) and
test_security_grpc.py (gRPC); the first test here checks that it covers every route of
src/server/routes.c, so that a new route cannot slip past it.
"""
import base64
import json
import os
import re
import urllib.parse

from harness import check, eq, http, now_ns
from security_support import ENDPOINTS, bearer, tokens_file
from test_ingest_support import node_client
from test_security_grpc import Methods

# Routes served without a credential by default (--auth.open-paths), or holding no tenant data;
# test_security.test_closed_probes_and_admin_metrics covers them.
PROBES = {"/ready", "/metrics", "/api/v1/healthz", "/api/v1/readyz", "/api/health", "/"}


def test_the_credential_matrix_covers_every_route(env):
    with open(os.path.join(env.repo, "src", "server", "routes.c")) as f:
        src = f.read()
    routes = set(re.findall(r'\{"[A-Z,]+", "(/[^"]*)", h_', src))
    check(len(routes) > 25, "routes parsed: %r" % routes)
    covered = {urllib.parse.urlsplit(p).path for _, p, _, _ in ENDPOINTS}
    missing = []
    for r in sorted(routes):
        if r in PROBES or r in covered:
            continue
        if r.endswith("/") and any(c.startswith(r) for c in covered):
            continue  # a prefix route: covered through one of its paths
        missing.append(r)
    eq(missing, [], "routes missing from the matrix of test_security.ENDPOINTS")


MARKS = ("%s-secret", "%s-label-value", "%s-user", "%s-trace")
COUNTS = {"red": 2, "blue": 4}  # Loki JSON pushes per tenant; each also pushes one over gRPC


def marks(tenant):
    return [m % tenant for m in MARKS]


def push_tenant(s, g, tenant, t0):
    values = [[str(t0 + i), "%s-secret-line %d level=info user=%s-user latency=%dms" % (
        tenant, i, tenant, 10 + i), {"trace_id": "%s-trace" % tenant}]
        for i in range(COUNTS[tenant])]
    body = {"streams": [{"stream": {"app": "shop", "env": "prod",
                                    "secret": "%s-label-value" % tenant}, "values": values}]}
    r = s.post("/loki/api/v1/push", body, dict(bearer("%s-writer-token-0123456789" % tenant),
                                               **{"Content-Type": "application/json"}))
    eq(r.status, 204, "push %s (%r)" % (tenant, r.text))
    m = g.m
    md = [("authorization", "Bearer %s-writer-token-0123456789" % tenant)]
    t = now_ns()
    with g.grpc.insecure_channel("127.0.0.1:%d" % s.grpc_port) as ch:
        m["loki_grpc"].PusherStub(ch).Push(m["loki"].PushRequest(streams=[
            m["loki"].StreamAdapter(
                labels='{app="shop", env="prod", secret="%s-label-value"}' % tenant,
                entries=[m["loki"].EntryAdapter(
                    timestamp=m["loki"].Timestamp(seconds=t // 10**9, nanos=t % 10**9),
                    line="%s-secret-grpc user=%s-user" % (tenant, tenant))])]),
            metadata=md, timeout=30)
        m["logapi_grpc"].LogIngestorStub(ch).UploadLog(m["logapi"].LogEntry(
            service="shop", level="info", message="%s-secret-logsgo" % tenant,
            timestamp=t // 10**9, labels={"secret": "%s-label-value" % tenant}),
            metadata=md, timeout=30)


def b64u(text):
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_two_tenants_with_overlapping_labels_see_nothing_of_each_other(env):
    s = env.server(["--auth.tokens-file=" + tokens_file(env), "--query.tail-poll-interval=100ms"])
    g = Methods(env)
    t0 = now_ns() - 60 * 10**9
    for tenant in ("red", "blue"):
        push_tenant(s, g, tenant, t0)
    sel = '{app="shop"}'
    span = {"start": str(t0 - 3600 * 10**9), "end": str(now_ns() + 60 * 10**9)}
    reads = [
        ("/loki/api/v1/query_range", dict(span, query=sel, limit="1000"), True),
        ("/loki/api/v1/query_range", dict(span, query=sel + " | logfmt", limit="1000"), True),
        ("/loki/api/v1/query_range", dict(span, query='sum by (secret, user) (count_over_time('
                                          + sel + ' | logfmt [1m]))', step="30"), True),
        ("/loki/api/v1/query", dict(query='sum by (secret) (count_over_time(%s [2h]))' % sel,
                                    time=span["end"]), True),
        ("/loki/api/v1/labels", dict(span), False),
        ("/loki/api/v1/label/secret/values", dict(span), True),
        ("/loki/api/v1/series", {"match[]": sel, **span}, True),
        ("/loki/api/v1/index/stats", dict(span, query=sel), False),
        ("/loki/api/v1/index/volume", dict(span, query=sel), False),
        ("/loki/api/v1/index/volume", dict(span, query=sel, targetLabels="secret"), True),
        ("/loki/api/v1/index/volume_range", dict(span, query=sel, step="60"), False),
        ("/loki/api/v1/index/volume_range", dict(span, query=sel, step="60",
                                                 targetLabels="secret"), True),
        ("/loki/api/v1/detected_labels", dict(span, query=sel), False),
        ("/loki/api/v1/detected_fields", dict(span, query=sel), False),
        ("/loki/api/v1/detected_field/user/values", dict(span, query=sel), True),
        ("/loki/api/v1/detected_field/trace_id/values", dict(span, query=sel), True),
        ("/loki/api/v1/patterns", dict(span, query=sel), True),
        ("/api/v1/query", {"expression": "app=shop", "start": "0", "end": "0",
                           "resolution": "0s"}, True),
        ("/api/v1/query", {"expression": "service=shop", "start": str(t0 // 10**9 - 60),
                           "end": str(now_ns() // 10**9 + 60), "resolution": "0s"}, True),
        ("/api/v1/labels", {}, True),
        ("/api/v1/status", {}, False),
    ]
    for me, other in (("red", "blue"), ("blue", "red")):
        tok = bearer("%s-reader-token-0123456789" % me)
        for path, params, own in reads:
            what = "%s %s?%s" % (me, path, urllib.parse.urlencode(params)[:80])
            r = http("GET", s.url + path + "?" + urllib.parse.urlencode(params), headers=tok)
            eq(r.status, 200, "%s (%r)" % (what, r.text[:300]))
            for mark in marks(other):
                check(mark.encode() not in r.body, "%s leaks %s: %r" % (what, mark, r.text[:500]))
            check(('"%s"' % other).encode() not in r.body,
                  "%s names %s: %r" % (what, other, r.text[:500]))
            if own:
                check(("%s-" % me).encode() in r.body, "%s: none of its own data: %r" % (
                    what, r.text[:300]))
        # Counts are the tenant's own: Loki JSON entries plus the gRPC Push one.
        own_n = COUNTS[me] + 1
        st = http("GET", s.url + "/loki/api/v1/index/stats?" + urllib.parse.urlencode(
            dict(span, query=sel)), headers=tok).json()
        eq((st["streams"], st["entries"]), (1, own_n), "%s's index/stats" % me)
        vol = http("GET", s.url + "/loki/api/v1/query?" + urllib.parse.urlencode(
            {"query": "sum(count_over_time(%s [2h]))" % sel, "time": span["end"]}),
            headers=tok).json()
        eq(vol["data"]["result"][0]["value"][1], str(own_n), "%s's count" % me)
        status = http("GET", s.url + "/api/v1/status", headers=tok).json()
        eq((status["tenant"], sum(ti["entries"] for ti in status["tiers"])), (me, own_n + 1),
           "%s's status (with the LogsGO entry)" % me)
        # The tail WebSocket, as a browser opens it.
        url = "ws://127.0.0.1:%d/loki/api/v1/tail?%s" % (s.port, urllib.parse.urlencode(
            {"query": sel, "start": str(t0 - 10**9), "limit": "1000"}))
        res = node_client(env, "ws_tail.mjs", url, "strata.v1,strata.bearer." +
                          b64u("%s-reader-token-0123456789" % me),
                          json.dumps({"until": "%s-secret-grpc" % me, "timeout_ms": 15000}))
        text = json.dumps(res["messages"])
        check("%s-secret-grpc" % me in text, "%s's tail: %r" % (me, res))
        for mark in marks(other):
            check(mark not in text, "%s's tail leaks %s" % (me, mark))
        # Naming the other tenant, alone or with one's own: refused, on every read.
        for path, params, _ in reads:
            for spec in (other, "%s|%s" % (me, other)):
                r = http("GET", s.url + path + "?" + urllib.parse.urlencode(params),
                         headers=dict(tok, **{"X-Scope-OrgID": spec}))
                eq(r.status, 403, "%s asking %s for %s" % (me, path, spec))
                check(other.encode() in r.body and b"-secret" not in r.body, r.text)
    # A token holding both sees both, each entry once, with the tenant named.
    both = dict(bearer("both-reader-token-0123456789"), **{"X-Scope-OrgID": "red|blue"})
    r = http("GET", s.url + "/loki/api/v1/query_range?" + urllib.parse.urlencode(
        dict(span, query=sel, limit="1000")), headers=both)
    res = r.json()["data"]["result"]
    eq(sorted({st["stream"]["__tenant_id__"] for st in res}), ["blue", "red"], "both tenants")
    eq(sum(len(st["values"]) for st in res), COUNTS["red"] + COUNTS["blue"] + 2, "every entry")
    r = http("GET", s.url + "/loki/api/v1/index/stats?" + urllib.parse.urlencode(
        dict(span, query=sel)), headers=both)
    eq(r.json()["entries"], COUNTS["red"] + COUNTS["blue"] + 2, "stats over both")
