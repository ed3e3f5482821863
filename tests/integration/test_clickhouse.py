"""The ClickHouse tier against a real clickhouse-server 18.16 started by each test.

The tier is driven through tests/tools/chtool (one tier operation per run);
see clickhouse_peer.py for the server. What is proven here: schema creation,
batches written and read back through the tier (selectors, ranges, needles,
directions, pages, metadata, series, stats, labels, counts), replayed batch ids
without duplicates, ClickHouse killed in the middle of an insert (retried to
completion, or a clear error with nothing half-visible), Logthra's own rows
found through the tier, bad credentials and an unreachable server, batching
of submitted batches, and regex push-down that agrees with PCRE2.
"""
import json
import os
import subprocess
import time

from harness import TestFailure, check, eq
from clickhouse_peer import ClickHouse, chtool, push_file, tool_args, wait_for

BASE = 1700000000 * 10**9  # 2023-11-14T22:13:20Z
DAY = 86400 * 10**9
MAX = 2**63 - 1


def make_streams():
    """Three streams of tenant acme over two days, with metadata and equal timestamps."""
    info = [[str(BASE + i * 10**9), "info line %d" % i] for i in range(50)]
    info.append([str(BASE + 5 * 10**9), "info tie"])  # same ts as "info line 5", arrives later
    err = []
    for i in range(20):
        e = [str(BASE + DAY + i * 10**9), "error code=%d" % i]
        if i % 2 == 0:
            e.append({"trace_id": "t%d" % i})
        err.append(e)
    web = [[str(BASE + i * 2 * 10**9 + 1), "GET /p/%d 200" % i] for i in range(30)]
    return [
        {"stream": {"app": "api", "level": "info"}, "values": info},
        {"stream": {"app": "api", "level": "error"}, "values": err},
        {"stream": {"app": "web"}, "values": web},
    ]


def key_of(labels):
    return "{" + ", ".join('%s="%s"' % (k, labels[k]) for k in sorted(labels)) + "}"


def expected(streams, match=lambda labels: True, start=0, end=MAX, needle=None, backward=False):
    """What the tier must return: per stream key, entries in (ts, arrival) order."""
    out = {}
    for s in streams:
        if not match(s["stream"]):
            continue
        rows = []
        for i, v in enumerate(s["values"]):
            ts = int(v[0])
            if start <= ts < end and (needle is None or needle in v[1]):
                rows.append((ts, i, v))
        rows.sort()
        if backward:
            rows.reverse()
        ents = []
        for ts, _, v in rows:
            ents.append([ts, v[1]] + ([v[2]] if len(v) > 2 else []))
        if ents:
            out[key_of(s["stream"])] = ents
    return out


def selected(r):
    got = r.json()
    return {s["labels"]: s["entries"] for s in got["streams"]}


def test_clickhouse_schema_created_when_missing(env):
    ch = ClickHouse(env)
    eq(chtool(env, ch, "open").json(), "ok", "open")
    tables = ch.query("SELECT name FROM system.tables WHERE database = 'strata' ORDER BY name "
                      "FORMAT TSV").split()
    eq(tables, ["logs", "logs_batches", "logs_streams"], "tables")
    create = ch.query("SHOW CREATE TABLE strata.logs")
    for part in ("ts Int64", "fingerprint UInt64", "meta_keys Array(String)",
                 "PARTITION BY toDate(intDiv(ts, 1000000000))",
                 "ORDER BY (tenant, fingerprint, ts)"):
        check(part in create, "%r not in %s" % (part, create))
    check("ReplacingMergeTree" in ch.query("SHOW CREATE TABLE strata.logs_streams"),
          "streams table engine")
    # Opening again keeps the tables and their rows.
    path = push_file(env, make_streams())
    eq(chtool(env, ch, "append", "--tenant=acme", path).json()["rows"], 101, "rows appended")
    eq(chtool(env, ch, "open").json(), "ok", "second open")
    eq(ch.count("SELECT count() FROM strata.logs"), 101, "rows kept")
    # Other names, and a table of a foreign shape is refused clearly.
    eq(chtool(env, ch, "--clickhouse.database=custom", "--clickhouse.table=t1", "open").json(),
       "ok", "custom names")
    eq(ch.query("SELECT name FROM system.tables WHERE database = 'custom' ORDER BY name "
                "FORMAT TSV").split(), ["t1", "t1_batches", "t1_streams"], "custom tables")
    ch.query("CREATE TABLE default.foreign (x UInt8) ENGINE = Memory")
    r = chtool(env, ch, "--clickhouse.database=default", "--clickhouse.table=foreign", "open")
    eq(r.rc, 1, "foreign table refused")
    check("`default`.`foreign`" in r.err and "has no column tenant of type String" in r.err, r.err)
    check(ch.url in r.err, "the error names the server: " + r.err)


def test_clickhouse_append_and_read_back(env):
    ch = ClickHouse(env)
    streams = make_streams()
    r = chtool(env, ch, "append", "--tenant=acme", push_file(env, streams)).json()
    eq((r["rows"], r["duplicate"], r["attempts"]), (101, False, 1), "append")
    other = [{"stream": {"app": "api", "level": "info"},
              "values": [[str(BASE + i), "other tenant %d" % i] for i in range(5)]}]
    chtool(env, ch, "append", "--tenant=other", push_file(env, other, "other.json")).json()

    eq(selected(chtool(env, ch, "select", "--tenant=acme")), expected(streams), "all, forward")
    eq(selected(chtool(env, ch, "select", "--tenant=acme", "--backward")),
       expected(streams, backward=True), "all, backward")
    eq(selected(chtool(env, ch, "select", "--tenant=other")), expected(other), "tenant other")
    eq(selected(chtool(env, ch, "select", "--tenant=nobody")), {}, "unknown tenant")

    cases = [
        ('{app="api"}', lambda l: l.get("app") == "api"),
        ('{level=~"err.*"}', lambda l: l.get("level", "").startswith("err")),
        ('{level=~".+", app!="web"}', lambda l: "level" in l and l.get("app") != "web"),
        ('{app=~".+", level!~"info|error"}', lambda l: l.get("level", "") not in ("info", "error")),
        ('{level="", app="web"}', lambda l: "level" not in l and l.get("app") == "web"),
        ('{app=~"a(?=p)pi"}', lambda l: l.get("app") == "api"),  # not pushed down: PCRE2 only
    ]
    for sel, match in cases:
        eq(selected(chtool(env, ch, "select", "--tenant=acme", "--selector=" + sel)),
           expected(streams, match), "selector " + sel)
    # [start, end): the end is exclusive, and a range inside one day.
    start, end = BASE + 5 * 10**9, BASE + 10 * 10**9
    eq(selected(chtool(env, ch, "select", "--tenant=acme", "--start=%d" % start,
                       "--end=%d" % end)), expected(streams, start=start, end=end), "range")
    eq(selected(chtool(env, ch, "select", "--tenant=acme", "--needle=code=1")),
       expected(streams, needle="code=1"), "needle")
    got = chtool(env, ch, "select", "--tenant=acme", "--no-lines", '--selector={app="web"}').json()
    eq([e[1] for e in got["streams"][0]["entries"]],
       [len(v[1]) for v in streams[2]["values"]], "sizes without lines")

    eq(sorted(chtool(env, ch, "series", "--tenant=acme").json()),
       sorted(key_of(s["stream"]) for s in streams), "series")
    eq(chtool(env, ch, "series", "--tenant=acme", "--start=%d" % (BASE + DAY)).json(),
       ['{app="api", level="error"}'], "series in range (exact, not per day)")
    st = chtool(env, ch, "stats", "--tenant=acme").json()
    eq((st["streams"], st["entries"]), (3, 101), "stats")
    eq(st["bytes"], sum(len(v[1]) for s in streams for v in s["values"]), "stats bytes")
    eq(chtool(env, ch, "labels", "--tenant=acme").json(), ["app", "level"], "labels")
    eq(chtool(env, ch, "label-values", "level", "--tenant=acme").json(), ["error", "info"],
       "label values")
    eq(chtool(env, ch, "label-values", "level", "--tenant=acme", "--selector={app=~\"a(?=p)pi\"}")
       .json(), ["error", "info"], "label values through series")
    eq(chtool(env, ch, "labels", "--tenant=acme", "--start=%d" % (BASE + DAY + 100 * 10**9))
       .json(), [], "labels of an empty range")

    # Counts per bucket (the hook for counts per step): 10 s buckets from BASE.
    got = chtool(env, ch, "count", "--tenant=acme", "--origin=%d" % BASE, "--width=%d" % 10**10,
                 "--buckets=3", "--selector={app=\"api\"}", "--filter=|= line").json()
    eq(got, [{"labels": '{app="api", level="info"}', "buckets": [[0, 10], [1, 10], [2, 10]]}],
       "counts")
    got = chtool(env, ch, "count", "--tenant=acme", "--origin=%d" % BASE, "--width=%d" % DAY,
                 "--buckets=2", "--filter=|~ code=1[0-9]").json()
    eq(got, [{"labels": '{app="api", level="error"}', "buckets": [[1, 10]]}], "regex counts")
    r = chtool(env, ch, "count", "--tenant=acme", "--origin=0", "--width=%d" % DAY,
               "--buckets=1", "--filter=|~ a(?=b)")
    eq(r.rc, 1, "a count needing PCRE2 is refused")
    check("EUNSUPPORTED" in r.err, r.err)


def test_clickhouse_pages_and_ties(env):
    """A stream larger than a page: keyset pages in both directions, ties in arrival order."""
    ch = ClickHouse(env)
    n = 70000
    vals = [[str(BASE + i * 1000), "l%d" % i] for i in range(n)]
    vals += [[str(BASE + 5000), "tie %d" % k] for k in range(3)]
    streams = [{"stream": {"app": "big"}, "values": vals},
               {"stream": {"app": "small"}, "values": [[str(BASE + 1), "s"]]}]
    r = chtool(env, ch, "--clickhouse.batch-max-rows=20000", "append", push_file(env, streams))
    eq(r.json()["requests"], 1 + 4 + 1, "streams + 4 chunks of rows + the commit")
    fwd = chtool(env, ch, "select").json()
    check(fwd["pages"] >= 2, "several pages: %r" % fwd["pages"])
    got = {s["labels"]: s["entries"] for s in fwd["streams"]}
    want = expected(streams)
    eq(len(got['{app="big"}']), n + 3, "big stream entries")
    eq(got, want, "forward pages")
    bwd = selected(chtool(env, ch, "select", "--backward"))
    eq(bwd, expected(streams, backward=True), "backward pages")
    ts_only = chtool(env, ch, "select", "--no-lines", '--selector={app="big"}').json()
    eq(len(ts_only["streams"][0]["entries"]), n + 3, "timestamps only")


def test_clickhouse_replayed_batch_is_not_duplicated(env):
    ch = ClickHouse(env)
    path = push_file(env, make_streams())
    first = chtool(env, ch, "append", "--tenant=acme", path).json()
    eq((first["rows"], first["duplicate"]), (101, False), "first append")
    again = chtool(env, ch, "append", "--tenant=acme", path).json()
    eq((again["rows"], again["duplicate"], again["batch_id"]), (0, True, first["batch_id"]),
       "the same content is the same batch")
    eq(chtool(env, ch, "stats", "--tenant=acme").json()["entries"], 101, "no duplicates")
    # The id is the identity: a caller's id replays the same way...
    r = chtool(env, ch, "append", "--tenant=acme", "--batch-id=42", path).json()
    eq((r["rows"], r["duplicate"]), (101, False), "new id, new batch")
    r = chtool(env, ch, "append", "--tenant=acme", "--batch-id=42", path).json()
    eq((r["rows"], r["duplicate"]), (0, True), "id 42 again")
    eq(chtool(env, ch, "stats", "--tenant=acme").json()["entries"], 202, "two batches")
    eq(ch.count("SELECT count() FROM strata.logs_batches"), 2, "two commit markers")


def big_push(env, n, tenant_note="x"):
    vals = [[str(BASE + i * 1000), "%s line %d with some padding to make rows longer" %
             (tenant_note, i)] for i in range(n)]
    return push_file(env, [{"stream": {"app": "bulk"}, "values": vals}], "bulk.json")


def start_append(env, ch, path, *opts):
    args = tool_args(env, ch, "--clickhouse.batch-max-rows=2000", *opts, "append", path)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def raw_rows(ch):
    try:
        return ch.count("SELECT count() FROM strata.logs")
    except (TestFailure, OSError):
        return 0


def test_clickhouse_killed_mid_insert_is_retried(env):
    ch = ClickHouse(env)
    eq(chtool(env, ch, "open").json(), "ok", "schema")
    n = 300000
    path = big_push(env, n)
    p = start_append(env, ch, path, "--clickhouse.retry-max-time=60s")
    env.on_cleanup(lambda: p.poll() is None and p.kill())
    # Rows are landing, the batch is not committed yet: take ClickHouse away.
    wait_for(lambda: raw_rows(ch) > 0 or p.poll() is not None, 60, "the first rows")
    check(p.poll() is None, "the append finished before ClickHouse could be killed")
    ch.kill9()
    time.sleep(1.0)
    ch.start()
    out, err = p.communicate(timeout=120)
    err = err.decode()
    eq(p.returncode, 0, "append after the restart: " + err)
    info = json.loads(out)
    check(info["attempts"] >= 2, "retried: %r" % info)
    check("retrying" in err and ch.url in err, "the retries are logged: " + err[-2000:])
    eq(chtool(env, ch, "stats").json()["entries"], n, "exactly the batch, once")
    check(raw_rows(ch) > n, "rows of the failed attempt stay behind, invisible")
    r = chtool(env, ch, "append", path).json()
    eq((r["duplicate"], r["rows"]), (True, 0), "a replay afterwards")


def test_clickhouse_killed_mid_insert_fails_clearly_and_nothing_shows(env):
    ch = ClickHouse(env)
    eq(chtool(env, ch, "open").json(), "ok", "schema")
    n = 300000
    path = big_push(env, n)
    p = start_append(env, ch, path, "--clickhouse.retry-max-time=2s")
    env.on_cleanup(lambda: p.poll() is None and p.kill())
    wait_for(lambda: raw_rows(ch) > 0 or p.poll() is not None, 60, "the first rows")
    check(p.poll() is None, "the append finished before ClickHouse could be killed")
    ch.kill9()
    out, err = p.communicate(timeout=60)
    err = err.decode()
    eq(p.returncode, 1, "append gives up")
    check("insert into `strata`.`logs` failed after" in err and ch.url in err and
          "unreachable" in err, "a clear error: " + err[-2000:])
    ch.start()
    check(raw_rows(ch) > 0, "some rows of the attempt were written")
    eq(chtool(env, ch, "select", "--no-lines").json()["streams"], [], "nothing half-visible")
    eq(chtool(env, ch, "stats").json()["entries"], 0, "stats see nothing")
    eq(chtool(env, ch, "series").json(), [], "series see no data either")
    r = chtool(env, ch, "append", path).json()
    eq((r["rows"], r["duplicate"]), (n, False), "the replay commits the batch")
    eq(chtool(env, ch, "stats").json()["entries"], n, "exactly once")


def test_clickhouse_logthra_rows_are_found(env):
    ch = ClickHouse(env)
    lt = ("--clickhouse.layout=logthra",)
    eq(chtool(env, ch, *lt, "open").json(), "ok", "open logthra")
    create = ch.query("SHOW CREATE TABLE logs.log")
    for part in ("tenant_id FixedString(10)", "label Array(String)", "timestamp Date",
                 "msg String"):
        check(part in create, create)
    # Exactly the statement Logthra's ingester prepares (labels in map order).
    ch.query("INSERT INTO logs.log (tenant_id,label,timestamp,msg) VALUES "
             "('tenant0001',['level:info','app:x'],'2024-01-01','starting up'),"
             "('tenant0001',['app:x','level:info'],'2024-01-02','second day'),"
             "('tenant0001',['app:y'],'2024-01-01','y line'),"
             "('tenant0002',['app:x'],'2024-01-01','other tenant')")
    d1 = 1704067200 * 10**9  # 2024-01-01
    got = selected(chtool(env, ch, *lt, "select", "--tenant=tenant0001"))
    eq(got, {'{app="x", level="info"}': [[d1, "starting up"], [d1 + DAY, "second day"]],
             '{app="y"}': [[d1, "y line"]]}, "Logthra's rows")
    got = selected(chtool(env, ch, *lt, "select", "--tenant=tenant0001", "--backward",
                          '--selector={app="x", level=~"in.o"}', "--start=%d" % (d1 + 1)))
    eq(got, {'{app="x", level="info"}': [[d1 + DAY, "second day"]]}, "selector and range")
    eq(sorted(chtool(env, ch, *lt, "series", "--tenant=tenant0001").json()),
       ['{app="x", level="info"}', '{app="y"}'], "series")
    eq(chtool(env, ch, *lt, "labels", "--tenant=tenant0001").json(), ["app", "level"], "labels")
    eq(chtool(env, ch, *lt, "label-values", "app", "--tenant=tenant0001").json(), ["x", "y"],
       "values")
    eq(chtool(env, ch, *lt, "stats", "--tenant=tenant0002").json()["entries"], 1, "stats")
    # Strata writes the same table the way Logthra does, and replays are skipped.
    path = push_file(env, [{"stream": {"level": "info", "app": "x"},
                            "values": [[str(d1 + DAY + 3600 * 10**9), "from strata"]]}])
    eq(chtool(env, ch, *lt, "append", "--tenant=tenant0001", path).json()["rows"], 1, "append")
    eq(chtool(env, ch, *lt, "append", "--tenant=tenant0001", path).json()["duplicate"], True,
       "replay")
    eq(ch.query("SELECT tenant_id, label, timestamp, msg FROM logs.log WHERE msg = 'from strata' "
                "FORMAT TSV"), "tenant0001\t['app:x','level:info']\t2024-01-02\tfrom strata\n",
       "a Logthra row")
    got = selected(chtool(env, ch, *lt, "select", "--tenant=tenant0001", '--selector={app="x"}'))
    eq([e[1] for e in got['{app="x", level="info"}']],
       ["starting up", "from strata", "second day"], "day resolution, ties by line")
    r = chtool(env, ch, *lt, "append", "--tenant=much-too-long-tenant", path)
    eq(r.rc, 1, "long tenant")
    check("FixedString(10)" in r.err, r.err)


def test_clickhouse_bad_credentials_and_unreachable(env):
    ch = ClickHouse(env)
    r = chtool(env, ch, "--clickhouse.user=strata", "--clickhouse.password=wrong", "open")
    eq(r.rc, 1, "wrong password")
    check(ch.url in r.err and "Wrong password for user strata" in r.err, r.err)
    check("wrong" not in r.err.replace("Wrong", ""), "the password is not shown: " + r.err)
    r = chtool(env, ch, "--clickhouse.user=mallory", "open")
    eq(r.rc, 1, "unknown user")
    check("Unknown user mallory" in r.err, r.err)
    eq(chtool(env, ch, "--clickhouse.user=strata", "--clickhouse.password=strata-secret",
              "open").json(), "ok", "the right password")
    dead = "http://127.0.0.1:%d" % ch.tcp_port  # the native port does not speak HTTP...
    ch.kill9()  # ...and now nothing listens on either
    t0 = time.monotonic()
    r = chtool(env, ch, "--clickhouse.retry-max-time=1s", "open", url=dead)
    eq(r.rc, 1, "unreachable")
    check(dead in r.err and "unreachable" in r.err, r.err)
    check(time.monotonic() - t0 < 30, "gives up within the retry time")
    ch.start()


def test_clickhouse_config_file_and_flags(env):
    ch = ClickHouse(env)
    cfg = os.path.join(env.tmpdir("cfg"), "clickhouse.yaml")
    with open(cfg, "w") as f:
        f.write("clickhouse:\n  url: %s\n  user: strata\n  password: strata-secret\n"
                "  database: fromfile\n  batch_max_rows: 7\n" % ch.url)
    r = subprocess.run([os.path.join(env.build_dir, "tools", "chtool"),
                        "--clickhouse.config-path=" + cfg, "--clickhouse.table=flagged",
                        "append", push_file(env, make_streams())],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = r.stderr.decode()
    eq(r.returncode, 0, err)
    info = json.loads(r.stdout)
    eq(info["requests"], 1 + 15 + 1, "batch_max_rows from the file: 101 rows in 15 INSERTs")
    check("table=fromfile.flagged" in err and "user=strata" in err, err)
    check("strata-secret" not in err and "password=********" in err, "masked: " + err)
    eq(ch.count("SELECT count() FROM fromfile.flagged"), 101, "rows where file and flag said")


def test_clickhouse_submit_shares_inserts(env):
    ch = ClickHouse(env)
    files = []
    for k in range(12):
        files.append(push_file(env, [{"stream": {"app": "s", "k": str(k % 3)},
                                      "values": [[str(BASE + k * 100 + i), "b%d e%d" % (k, i)]
                                                 for i in range(10)]}], "b%d.json" % k))
    r = chtool(env, ch, "--clickhouse.batch-max-wait=300ms", "--clickhouse.batch-max-rows=60",
               "submit", *files).json()
    eq(r, [0] * 12, "every batch committed")
    eq(ch.count("SELECT count() FROM strata.logs_batches"), 12, "one marker per batch")
    groups = ch.count("SELECT uniqExact(insert_id) FROM strata.logs_batches")
    check(groups <= 6, "batches shared INSERTs: %d groups for 12 batches" % groups)
    eq(chtool(env, ch, "stats").json()["entries"], 120, "all entries")
    r = chtool(env, ch, "--clickhouse.batch-max-wait=50ms", "submit", *files[:4]).json()
    eq(r, [0] * 4, "resubmitted")
    eq(chtool(env, ch, "stats").json()["entries"], 120, "no duplicates")


def test_clickhouse_regex_pushdown_agrees_with_pcre2(env):
    ch = ClickHouse(env)
    subjects = ["", "a", "abc", "a\nc", "ABC", "x abc y", "a b", "a\tb", "a\x0bb", "end",
                "the end", "the end\n", "end\nx", "été", "ÉTÉ", "a1b22c333", "foo.bar",
                "[x]", "under_score", "a-b", "\\", "quote'd", "é\ne", "αβγ", "x" * 50]
    patterns = ["a.c", "abc", "(?i)abc", "a\\sb", "a\\Sb", "\\s", "end$", "^the", "(?s)a.c",
                "[a-c]+", "[^a]", "\\d+", "\\w+", "\\bend\\b", "é", "(?i)été", "a|end",
                "(ab|a)c", "x{3,}", "a*", "\\.", "\\[x\\]", "[\\s,]", "(?P<n>a)b", "\\x41",
                ".", "^$", "^.$", "(?i)ÉTÉ", "[[:alpha:]]+", "quote'd", "\\\\", "a(?=b)",
                "(a)\\1", "(?m)^end$", "αβ?γ", "(?U)a+", "a{2}"]
    cases = []
    for p in patterns:
        cases.append({"pattern": p, "anchored": False, "subjects": subjects})
        cases.append({"pattern": p, "anchored": True, "subjects": subjects})
    path = os.path.join(env.tmpdir("re"), "cases.json")
    with open(path, "w") as f:
        json.dump(cases, f)
    got = chtool(env, ch, "regex-check", path).json()
    mismatches = [p for p in got["problems"] if "unsupported" not in p]
    eq(mismatches, [], "ClickHouse's match() and PCRE2 disagree")
    unsupported = sorted({p["unsupported"] for p in got["problems"] if "unsupported" in p})
    eq(unsupported, ["(?m)^end$", "(a)\\1", "a(?=b)"], "refused patterns")
    check(got["checked"] > 1500, "checked %d" % got["checked"])
