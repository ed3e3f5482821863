"""Issue [9/10], part 2: limits per tenant from the config file's overrides: section (Loki's
limits_config names), applied by every push path and by the query APIs, with Loki's messages.
Two tenants with different limits, and the defaults for everyone else.
"""
import json
import os
import subprocess
import urllib.parse

from harness import check, eq, free_port, http, now_ns
from test_security_grpc import Methods

CONFIG = """
limits_config:
  ingestion_rate_mb: 1
  ingestion_burst_size_mb: 1
overrides:
  big:
    ingestion_rate_mb: 50
    ingestion_burst_size_mb: 50
    max_line_size: 1MB
    max_query_series: 100
  small:
    max_line_size: 100
    max_global_streams_per_user: 2
    max_query_series: 2
    max_entries_limit_per_query: 5
    max_query_length: 1h
    max_query_range: 10m
"""


def config_file(env, text=CONFIG):
    path = os.path.join(env.tmpdir("cfg"), "strata.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def push(s, tenant, streams):
    return s.post("/loki/api/v1/push", {"streams": streams},
                  {"X-Scope-OrgID": tenant, "Content-Type": "application/json"})


def stream(labels, lines, t0):
    return {"stream": labels, "values": [[str(t0 + i), line] for i, line in enumerate(lines)]}


def get(s, path, tenant, **params):
    q = urllib.parse.urlencode(params)
    return http("GET", "%s%s?%s" % (s.url, path, q), headers={"X-Scope-OrgID": tenant})


def test_two_tenants_with_different_limits(env):
    s = env.server(["--config.file=" + config_file(env)])
    t = now_ns()
    # Line size: 100 bytes for small; the 1 MB of big.
    line = "x" * 200
    r = push(s, "small", [stream({"app": "a"}, [line], t)])
    eq(r.status, 400, "a 200-byte line for small (%r)" % r.text)
    check("max entry size '100' bytes exceeded for stream '{app=\"a\"" in r.text and
          "with length '200' bytes" in r.text, r.text)
    eq(push(s, "big", [stream({"app": "a"}, [line], t)]).status, 204, "the same line for big")
    eq(push(s, "other", [stream({"app": "a"}, [line], t)]).status, 204,
       "the defaults (256KB) for anyone else")
    # Active streams: 2 for small; a third is refused with Loki's message, the others kept.
    r = push(s, "small", [stream({"app": "s%d" % i}, ["n=%d" % i], t + i) for i in range(3)])
    eq(r.status, 429, "a third stream for small (%r)" % r.text)
    check("maximum active stream limit exceeded when trying to create stream" in r.text, r.text)
    r = push(s, "big", [stream({"app": "s%d" % i}, ["n=%d" % i], t + i) for i in range(3)])
    eq(r.status, 204, "three streams for big")
    # Ingestion rate: 1 MB/s, burst 1 MB for everyone but big (50 MB).
    blob = [stream({"app": "bulk"}, ["y" * 1000] * 1500, t)]
    r = push(s, "other", blob)
    eq(r.status, 429, "1.5 MB at 1 MB burst")
    check("ingestion rate limit exceeded for user other (limit: 1048576 bytes/sec)" in r.text,
          r.text)
    eq(push(s, "big", blob).status, 204, "1.5 MB for big")
    # Query limits. Entries: 5 for small.
    rng = {"start": str(t - 10**9), "end": str(t + 10**10)}
    r = get(s, "/loki/api/v1/query_range", "small", query='{app="s0"}', limit="10", **rng)
    eq((r.status, r.text), (400, "max entries limit per query exceeded, limit > "
                                 "max_entries_limit_per_query (10 > 5)\n"), "small's limit")
    eq(get(s, "/loki/api/v1/query_range", "big", query='{app="s0"}', limit="10", **rng).status,
       200, "big's limit")
    # Query length: 1h for small, on the query APIs and the metadata ones alike.
    long = {"start": str(t - 2 * 3600 * 10**9), "end": str(t)}
    for path, params in (("/loki/api/v1/query_range", {"query": '{app="s0"}'}),
                         ("/loki/api/v1/labels", {}),
                         ("/loki/api/v1/series", {"match[]": '{app="s0"}'})):
        r = get(s, path, "small", **params, **long)
        eq(r.status, 400, "%s over 2h for small (%r)" % (path, r.text))
        check("the query time range exceeds the limit (query length: 2h0m0s, limit: 1h0m0s)" in r.text,
              r.text)
        eq(get(s, path, "big", **params, **long).status, 200, "%s over 2h for big" % path)
    # [range] of a metric query: 10m for small.
    q = 'count_over_time({app="s0"}[1h])'
    r = get(s, "/loki/api/v1/query", "small", query=q, time=str(t))
    eq(r.status, 400, "[1h] for small")
    check("[interval] value exceeds limit" in r.text and "[1h0m0s]" in r.text and "(10m0s)" in r.text,
          r.text)
    eq(get(s, "/loki/api/v1/query", "big", query=q, time=str(t)).status, 200, "[1h] for big")
    # Series: 2 for small (four values of n in one stream), 100 for big.
    for tenant in ("small", "big"):
        eq(push(s, tenant, [stream({"app": "s0"}, ["n=1", "n=2", "n=3"], t + 100)]).status, 204,
           "push n for %s" % tenant)
    q = 'sum by (n) (count_over_time({app="s0"} | logfmt [1m]))'
    r = get(s, "/loki/api/v1/query", "small", query=q, time=str(t + 10**9))
    eq(r.status, 400, "three series for small (%r)" % r.text)
    check("maximum number of series (2) reached for a single query" in r.text, r.text)
    r = get(s, "/loki/api/v1/query", "big", query=q, time=str(t + 10**9))
    eq((r.status, len(r.json()["data"]["result"])), (200, 4), "four series (n=0..3) for big")
    # A query across both takes the strictest of each limit.
    r = get(s, "/loki/api/v1/query_range", "small|big", query='{app="s0"}', limit="10", **rng)
    eq(r.status, 400, "small|big: small's entry limit")
    r = get(s, "/loki/api/v1/query", "small|big", query=q, time=str(t + 10**9))
    eq(r.status, 400, "small|big: small's series limit")


def test_grpc_and_otlp_paths_use_the_tenants_limits(env):
    s = env.server(["--config.file=" + config_file(env)])
    t = now_ns()
    otlp = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": str(t),
                                        "body": {"stringValue": "z" * 300}}]}]}]}
    for tenant, ok in (("small", False), ("big", True)):
        r = s.post("/otlp/v1/logs", json.dumps(otlp), {"X-Scope-OrgID": tenant,
                                                       "Content-Type": "application/json"})
        if ok:
            check(r.status in (200, 204), "OTLP for big: %d %r" % (r.status, r.text))
        else:
            eq(r.status, 400, "OTLP 300-byte line for small (%r)" % r.text)
    g = Methods(env)
    with g.grpc.insecure_channel("127.0.0.1:%d" % s.grpc_port) as ch:
        for name in Methods.NAMES:
            g.expect_refused(ch, name, [("x-scope-orgid", "small")],
                             g.grpc.StatusCode.INVALID_ARGUMENT, "max entry size '100' bytes",
                             logthra_tenant="small")
            g.call(ch, name, "z" * 300, [("x-scope-orgid", "big")], logthra_tenant="big")


def test_bad_overrides_stop_the_start(env):
    cases = [
        ("overrides:\n  small:\n    max_lines: 5\n", 'strata.yaml:3: overrides.small: unknown '
         'limit "max_lines"'),
        ("overrides:\n  small:\n    ingestion_rate_mb: fast\n", "strata.yaml:3: overrides.small:"
         ' invalid value "fast"'),
        ("overrides:\n  bad/tenant:\n    max_line_size: 1KB\n", "is not a valid tenant id"),
    ]
    for text, want in cases:
        p = subprocess.run([env.binary, "--http-listen-addr=127.0.0.1:%d" % free_port(),
                            "--grpc-listen-addr=127.0.0.1:%d" % free_port(),
                            "--data-dir=" + env.tmpdir("d"), "--config.file=" +
                            config_file(env, text)], capture_output=True, text=True, timeout=30)
        eq(p.returncode, 1, "exit code (%s)" % p.stderr[-300:])
        check(want in p.stderr, "%r lacks %r" % (p.stderr[-400:], want))
