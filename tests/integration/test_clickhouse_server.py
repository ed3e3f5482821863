"""The real strata binary with --clickhouse.url: the start check, and queries that read
ClickHouse through the Loki API."""
import os
import subprocess

from harness import check, eq, free_port
from clickhouse_peer import ClickHouse, chtool, push_file
from test_clickhouse import BASE, DAY, make_streams


def start_fails(env, *args):
    """strata must refuse to start; returns its output."""
    data = env.tmpdir("data")
    p = subprocess.run([env.binary, "--http-listen-addr=127.0.0.1:%d" % free_port(),
                        "--data-dir=" + data] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode("utf-8", "replace")
    eq(p.returncode, 1, "strata exit code (output %r)" % out[-2000:])
    for m in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        check(m not in out, out)
    return out


def test_clickhouse_server_refuses_to_start_without_clickhouse(env):
    ch = ClickHouse(env)
    out = start_fails(env, "--clickhouse.url=" + ch.url, "--clickhouse.user=strata",
                      "--clickhouse.password=wrong-password")
    check("cannot use %s as user \"strata\"" % ch.url in out and
          "Code 193: Wrong password for user strata" in out, out)
    check("wrong-password" not in out, "the password stays secret: " + out)
    port = free_port()
    out = start_fails(env, "--clickhouse.url=http://127.0.0.1:%d" % port,
                      "--clickhouse.retry-max-time=500ms")
    check("ClickHouse at http://127.0.0.1:%d is unreachable" % port in out, out)
    out = start_fails(env, "--clickhouse.url=http://127.0.0.1:%d" % port,
                      "--clickhouse.layout=loki")
    check("expected strata or logthra" in out, out)
    # ClickHouse replaces local parts, which are what ages out into a bucket: refused together.
    yaml = os.path.join(env.tmpdir("cfg"), "store.yaml")
    with open(yaml, "w") as f:
        f.write("remote_store:\n  provider: s3\n  endpoint: \"127.0.0.1:%d\"\n"
                "  bucket: logs\n" % port)
    out = start_fails(env, "--clickhouse.url=http://127.0.0.1:%d" % port,
                      "--store-config-path=" + yaml)
    check("--clickhouse.url and an S3 bucket" in out and "cannot be used together" in out, out)


def loki_streams(r):
    eq(r.status, 200, "query_range: %s" % r.text)
    return r.json()["data"]["result"]


def test_clickhouse_server_finds_logthra_rows(env):
    ch = ClickHouse(env)
    chtool(env, ch, "--clickhouse.layout=logthra", "open").json()
    ch.query("INSERT INTO logs.log (tenant_id,label,timestamp,msg) VALUES "
             "('tenant0001',['level:info','app:x'],'2024-01-01','starting up'),"
             "('tenant0001',['app:x','level:error'],'2024-01-02','disk full'),"
             "('tenant0002',['app:x'],'2024-01-01','not yours')")
    srv = env.server(["--clickhouse.url=" + ch.url, "--clickhouse.layout=logthra"])
    d1 = 1704067200 * 10**9
    got = loki_streams(srv.query_range('{app="x"}', d1 - DAY, d1 + 2 * DAY, tenant="tenant0001"))
    eq(got, [{"stream": {"app": "x", "level": "error"}, "values": [[str(d1 + DAY), "disk full"]]},
             {"stream": {"app": "x", "level": "info"}, "values": [[str(d1), "starting up"]]}],
       "Logthra's rows through the Loki API")
    got = loki_streams(srv.query_range('{level=~"err.*"}', d1 - DAY, d1 + 2 * DAY,
                                       tenant="tenant0002"))
    eq(got, [], "tenants stay apart")
    srv.stop()


def test_clickhouse_server_answers_like_the_head(env):
    """The same streams in the head (tenant head) and in ClickHouse (tenant ch) answer alike."""
    ch = ClickHouse(env)
    streams = make_streams()
    chtool(env, ch, "append", "--tenant=ch", push_file(env, streams)).json()
    # The data is from 2023 and chtool stores it as written: the head must too.
    srv = env.server(["--clickhouse.url=" + ch.url, "--limits.reject-old-samples=false",
                      "--limits.discover-service-name=", "--limits.discover-log-levels=false"])
    srv.push(streams, tenant="head")
    queries = [
        ('{app="api"}', BASE, BASE + 2 * DAY, 100, "forward"),
        ('{app="api"}', BASE, BASE + 2 * DAY, 100, "backward"),
        ('{app=~"a.*|w.*"}', BASE, BASE + 2 * DAY, 1000, "forward"),
        ('{app="web"}', BASE + 10 * 10**9, BASE + 20 * 10**9 + 1, 1000, "forward"),
        ('{level!="info", app="api"}', BASE, BASE + 2 * DAY, 7, "backward"),
        ('{app=~".+"}', BASE + 5 * 10**9, BASE + 6 * 10**9, 10, "forward"),  # a tie
        ('{app="none"}', BASE, BASE + DAY, 10, "forward"),
    ]
    for q, start, end, limit, direction in queries:
        head = loki_streams(srv.query_range(q, start, end, limit, direction, tenant="head"))
        clickhouse = loki_streams(srv.query_range(q, start, end, limit, direction, tenant="ch"))
        eq(clickhouse, head, "%s %s limit %d" % (q, direction, limit))
    every = loki_streams(srv.query_range('{app=~".+"}', BASE, BASE + 2 * DAY, 1000, tenant="ch"))
    eq(sum(len(s["values"]) for s in every), 101, "every entry, metadata included")
    check(any(s["stream"].get("trace_id") == "t4" for s in every), "metadata read back")
    srv.stop()
    check(os.path.exists(srv.log_path), "server log")
