"""Issue [6/10], part 2: the chain memory -> ClickHouse in the real binary.

With --clickhouse.url the head's generations go to ClickHouse (absorb/commit, the WAL
checkpointed only after ClickHouse committed). Each test starts its own clickhouse-server
(clickhouse_peer.py) and checks what the issue asks: the golden suite answers the same with
ClickHouse as the store, a ClickHouse outage during ingest loses nothing and duplicates
nothing, a restart with a non-empty WAL replays into ClickHouse once (also after a crash
between ClickHouse's commit and the WAL checkpoint), and /ready reports ClickHouse.
"""
import os

import golden
from clickhouse_peer import ClickHouse
from harness import check, eq, http, now_ns, wait_until
from test_storage_util import (assert_exactly_once, faults_env, flush, metric, push_lines,
                               query_all, set_faults)


def chain_server(env, ch, *flags, data_dir=None):
    return env.server(golden.neutral_flags(env.binary) + ["--clickhouse.url=" + ch.url] +
                      list(flags), data_dir=data_dir)


def visible_rows(ch, app):
    """Entries of {app=...} that reads see (committed attempts, one per batch), by SQL."""
    return ch.count(
        "SELECT count() FROM strata.logs WHERE labels = '{app=\"%s\"}' AND (batch_id, insert_id) "
        "IN (SELECT batch_id, min(insert_id) FROM strata.logs_batches GROUP BY batch_id)" % app)


def head_entries(server):
    return (metric(server, 'strata_head_entries{generation="active"}') or 0) + \
        (metric(server, 'strata_head_entries{generation="flushing"}') or 0)


def test_clickhouse_chain_golden_suite(env):
    """The [4/10] golden suite, in the head and again after POST /api/v1/admin/flush moved
    everything into ClickHouse (counts per step come from SQL there)."""
    ch = ClickHouse(env)
    golden.run_suite(env, lambda e: chain_server(e, ch))
    check(ch.count("SELECT count() FROM strata.logs") > 0, "the suite's data is in ClickHouse")


def test_clickhouse_chain_counts_pushed_down(env):
    """Once in ClickHouse, count_over_time and sum by (...) come from GROUP BY in SQL (no
    cursor opened), with line filters and structured metadata, and answer as the head did."""
    ch = ClickHouse(env)
    s = chain_server(env, ch)
    t0 = (now_ns() // 10**9 - 600) * 10**9
    streams = [
        {"stream": {"app": "api", "level": "info"},
         "values": [[str(t0 + i * 10**9), "GET /x %d" % i] for i in range(120)]},
        {"stream": {"app": "api", "level": "error"},
         "values": [[str(t0 + i * 2 * 10**9), "boom %d" % i, {"trace": "t%d" % (i % 2)}]
                    for i in range(30)]},
    ]
    s.push(streams)
    queries = ['count_over_time({app="api"}[1m])',
               'sum by (level) (count_over_time({app="api"} |= "1" [1m]))',
               'rate({app="api"} !~ "boom [0-9]+" [30s])',
               'bytes_over_time({app="api", level="error"}[20s])']

    def answers():
        out = []
        for q in queries:
            r = s.get("/loki/api/v1/query_range",
                      {"query": q, "start": str(t0), "end": str(t0 + 300 * 10**9), "step": "20s"})
            eq(r.status, 200, "%s: %s" % (q, r.text))
            d = r.json()["data"]
            out.append((d["result"], r.json()["data"]["stats"]["querier"]["store"]
                        ["totalChunksRef"]))
        return out
    head = answers()
    flush(s)
    eq(head_entries(s), 0, "the head is empty after the flush")
    got = answers()
    for q, (h, _), (c, refs) in zip(queries, head, got):
        eq(c, h, q + ": ClickHouse answers as the head did")
        eq(refs, 0, q + ": counted in SQL, no cursor")


def test_clickhouse_chain_outage_loses_nothing(env):
    """ClickHouse killed during ingest: pushes still succeed (WAL + head) up to the head's
    bound and get 429 beyond it, /ready says why, the backlog drains on its own when
    ClickHouse returns, and every acknowledged entry is there once."""
    ch = ClickHouse(env)
    s = chain_server(env, ch, "--max-logs-in-mem=200", "--clickhouse.retry-max-time=500ms",
                     "--store.push-wait=300ms")
    t0 = now_ns() - 300 * 10**9
    acked, refused = [], []

    def push(n):
        lines = [(t0 + len(acked) + len(refused) + i, "entry %d" % (len(acked) + len(refused) + i))
                 for i in range(n)]
        r = push_lines(s, "outage", lines, expect=None)
        if r.status == 204:
            acked.extend(lines)
        else:
            eq(r.status, 429, "a push over the head's bound: %s" % r.text)
            check(r.headers.get("Retry-After"), "429 carries Retry-After")
            refused.extend(lines)
        return r.status

    for _ in range(3):
        eq(push(50), 204, "push before the outage")
    ch.kill9()
    r = s.get("/ready")
    eq(r.status, 503, "/ready with ClickHouse down")
    check("clickhouse" in r.text and "unreachable" in r.text, r.text)
    eq(s.get("/api/v1/readyz").status, 503, "LogsGO's readyz too")
    # The head holds two generations of 200 at most: then pushes are refused, never lost.
    statuses = [push(50) for _ in range(12)]
    check(statuses[:4] == [204] * 4, "pushes within the head's bound succeed: %r" % statuses)
    check(429 in statuses, "beyond it, 429: %r" % statuses)
    # (Queries answer 503 meanwhile, after ~10 s of retries: never a partial answer.)
    ch.start()
    # The backlog is the generation the head could not hand over: it drains on its own. What
    # the active generation holds below --max-logs-in-mem waits for its age, so a flush takes it.
    wait_until(lambda: (metric(s, 'strata_head_entries{generation="flushing"}') or 0) == 0, 90,
               0.2, "the backlog drains into ClickHouse")
    eq(s.get("/ready").status, 200, "/ready once ClickHouse is back")
    flush(s)
    eq(head_entries(s), 0, "the head is empty after a flush")
    got = query_all(s, '{app="outage"}', t0 - 1, t0 + 10**12)
    assert_exactly_once(got, "after the outage")
    eq(sorted((ts, line) for _k, ts, line in got), sorted(acked), "exactly the acknowledged")
    eq(visible_rows(ch, "outage"), len(acked), "rows ClickHouse shows, by SQL")
    more = [(t0 + 10**6 + i, "after %d" % i) for i in range(10)]
    push_lines(s, "outage", more)
    flush(s)
    eq(visible_rows(ch, "outage"), len(acked) + 10, "ingest goes on")


def test_clickhouse_chain_restart_replays_wal_once(env):
    """A non-empty WAL at start replays into ClickHouse once: after kill -9, and after a crash
    between ClickHouse's commit and the WAL checkpoint (the replay is then skipped)."""
    ch = ClickHouse(env)
    faults = os.path.join(env.scratch, "faults")
    set_faults(faults, "")
    data = env.tmpdir("data")
    t0 = now_ns() - 300 * 10**9
    with faults_env(faults):
        s = chain_server(env, ch, data_dir=data)
    push_lines(s, "replay", [(t0 + i, "first %d" % i) for i in range(100)])
    s.kill9()  # the head is lost, the WAL has it
    with faults_env(faults):
        s = chain_server(env, ch, data_dir=data)
    flush(s)
    eq(visible_rows(ch, "replay"), 100, "the WAL replayed into ClickHouse")
    # Now the crash window: ClickHouse commits the generation, the checkpoint cannot be written.
    push_lines(s, "replay", [(t0 + 1000 + i, "second %d" % i) for i in range(50)])
    set_faults(faults, "rename checkpoint EIO\n")
    eq(s.post("/api/v1/admin/flush").status, 500, "the checkpoint fails")
    eq(visible_rows(ch, "replay"), 150, "ClickHouse has the generation")
    s.kill9()
    set_faults(faults, "")
    with faults_env(faults):
        s = chain_server(env, ch, data_dir=data)
    check("ClickHouse holds its WAL up to segment" in open(s.log_path).read(), "position read")
    flush(s)
    eq(visible_rows(ch, "replay"), 150, "no duplicates after the replay")
    got = query_all(s, '{app="replay"}', t0 - 1, t0 + 10**12)
    assert_exactly_once(got, "after two restarts")
    eq(len(got), 150, "every entry")
    # A clean stop flushes the head into ClickHouse (flush on exit) and leaves nothing to replay.
    push_lines(s, "replay", [(t0 + 5000, "third")])
    s.stop()
    eq(visible_rows(ch, "replay"), 151, "flushed on exit")
    s = chain_server(env, ch, data_dir=data)
    eq(len(query_all(s, '{app="replay"}', t0 - 1, t0 + 10**12)), 151, "after a clean restart")


def test_clickhouse_chain_ready_and_status(env):
    """/ready follows ClickHouse (the start errors: test_clickhouse_server.py); the status page
    lists the tier."""
    ch = ClickHouse(env)
    s = chain_server(env, ch)
    eq(s.get("/ready").text, "ready\n", "/ready")
    ch.kill9()
    r = s.get("/ready")
    eq(r.status, 503, "/ready")
    check(r.text.startswith("not ready: clickhouse: ClickHouse at %s is unreachable" % ch.url),
          r.text)
    ch.start()
    wait_until(lambda: s.get("/ready").status == 200, 30, 0.1, "/ready after the restart")
    r = http("GET", s.url + "/api/v1/status")
    eq(r.status, 200, "status page")
    check("clickhouse" in r.text, "the status page lists the ClickHouse tier: " + r.text[:2000])


def test_clickhouse_chain_upgrades_part1_markers(env):
    """Tables of part 1 (markers without wal_writer/wal_seq) get the columns at start."""
    ch = ClickHouse(env)
    ch.query("CREATE DATABASE strata")
    ch.query("CREATE TABLE strata.logs_batches (tenant String, batch_id UInt64, insert_id UInt64, "
             "min_ts Int64, max_ts Int64, rows UInt64, bytes UInt64, committed DateTime) "
             "ENGINE = MergeTree ORDER BY (tenant, batch_id)")
    ch.query("INSERT INTO strata.logs_batches (tenant, batch_id, insert_id) VALUES ('old', 1, 1)")
    s = chain_server(env, ch)
    cols = ch.query("SELECT name FROM system.columns WHERE database = 'strata' AND "
                    "table = 'logs_batches' ORDER BY name FORMAT TSV").split()
    check("wal_writer" in cols and "wal_seq" in cols, "columns added: %r" % cols)
    eq(ch.count("SELECT count() FROM strata.logs_batches WHERE wal_seq = 0"), 1, "old markers")
    push_lines(s, "upgraded", [(now_ns() - 10**9, "x")])
    flush(s)
    eq(visible_rows(ch, "upgraded"), 1, "hand-overs work on the upgraded table")
