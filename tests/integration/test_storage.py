"""Issue [2/10]: the storage engine through the real binary: restarts, hand-over,
acceptance rules, memory limits, the data directory lock, retention, metrics."""
import os
import subprocess
import threading
import time

from harness import check, eq, free_port, now_ns, wait_until
from test_storage_util import (assert_exactly_once, count_files, faults_env, flush, lines_of,
                               metric, push_lines, query_all, set_faults, verify_parts)


def _dataset(t0, tag, n=60):
    """Three streams of n entries, one with structured metadata, plus another tenant."""
    out = []
    for app in ("api", "db", "web"):
        out.append((app, [(t0 + i * 1000 + ord(app[0]), "%s %s line %d" % (tag, app, i))
                          for i in range(n)]))
    return out


def _push_dataset(s, data, tenant=None):
    for app, lines in data:
        push_lines(s, app, lines, tenant=tenant)


def _expected(data):
    return sorted((app, ts, line) for app, lines in data for ts, line in lines)


def _got(s, start, end, tenant=None):
    got = query_all(s, '{app=~".+"}', start, end, tenant=tenant)
    assert_exactly_once(got)
    return sorted((dict(k)["app"], ts, line) for k, ts, line in got)


def test_restart_keeps_everything(env):
    s = env.server()
    t0 = now_ns() - 600 * 10**9
    start, end = t0 - 10**9, t0 + 10**12
    first = _dataset(t0, "first")
    _push_dataset(s, first)
    _push_dataset(s, [("api", [(t0 + 5, "tenant b only")])], tenant="b")
    want = _expected(first)
    eq(_got(s, start, end), want, "head only")
    r = flush(s)
    body = r.json()
    eq(body["status"], "flushed", "flush status")
    eq(body["head_entries"], 0, "head empty after the flush")
    check(body["parts"] >= 2, "parts written (one per tenant): %r" % body)
    eq(_got(s, start, end), want, "parts only")
    # More data in the head, then a clean restart (flush on exit).
    second = _dataset(t0 + 10**9, "second")
    _push_dataset(s, second)
    want = _expected(first + second)
    eq(_got(s, start, end), want, "head + parts")
    s.restart()
    eq(_got(s, start, end), want, "after a clean restart")
    # The clean stop flushed the whole head (--flush-on-exit): nothing left to replay.
    log = s.log_tail(400)
    check("head flushed on exit" in log, "flush on exit logged")
    replays = [line for line in log.splitlines() if "WAL replayed" in line]
    check(replays and "WAL replayed: 0 records" in replays[-1], "no replay after a clean stop: %r"
          % replays[-1:])
    eq(lines_of(query_all(s, '{app="api"}', start, end, tenant="b")), ["tenant b only"],
       "tenant b after restart")
    # More data, then SIGKILL: the WAL brings it back.
    third = _dataset(t0 + 2 * 10**9, "third")
    _push_dataset(s, third)
    s.kill9()
    s.start()
    want = _expected(first + second + third)
    eq(_got(s, start, end), want, "after kill -9 (WAL replay)")
    check("WAL replayed" in s.log_tail(200), "replay logged")
    s.stop()
    verify_parts(env, s.data_dir)


def test_queries_see_each_entry_once_across_flushes(env):
    """Queries running while the head is flushed and parts compacted never see an entry
    twice or lose one."""
    s = env.server(["--compact-duration=1s", "--store.compact-min-parts=2"])
    t0 = now_ns() - 3600 * 10**9
    start, end = t0 - 10**9, t0 + 10**12
    pushed = []
    errors = []
    stop = threading.Event()

    def reader():
        last = 0
        while not stop.is_set():
            try:
                got = query_all(s, '{app="hand"}', start, end)
                keys = [(ts, line) for _k, ts, line in got]
                if len(keys) != len(set(keys)):
                    errors.append("duplicates in a result of %d" % len(keys))
                if len(keys) < last:
                    errors.append("a result went from %d to %d entries" % (last, len(keys)))
                last = len(keys)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

    th = threading.Thread(target=reader)
    th.start()
    try:
        for round_ in range(12):
            lines = [(t0 + round_ * 10**6 + i, "round %d entry %d" % (round_, i)) for i in range(30)]
            push_lines(s, "hand", lines)
            pushed.extend(lines)
            if round_ % 2 == 1:
                flush(s)
    finally:
        stop.set()
        th.join()
    eq(errors[:3], [], "reader errors")
    got = query_all(s, '{app="hand"}', start, end)
    assert_exactly_once(got)
    eq(sorted((ts, line) for _k, ts, line in got), sorted(pushed), "all entries once")
    s.stop()
    verify_parts(env, s.data_dir)


def test_out_of_order_window_and_duplicates(env):
    s = env.server()
    t = (now_ns() // 10**9) * 10**9
    push_lines(s, "ooo", [(t, "newest")])
    r = push_lines(s, "ooo", [(t - 2 * 3600 * 10**9, "two hours behind")], expect=400)
    check("entry too far behind, entry timestamp is: " in r.text, "Loki's text: %r" % r.text)
    check("oldest acceptable timestamp is: " in r.text, "Loki's text: %r" % r.text)
    check("total ignored: 1 out of 1" in r.text, "per-push summary: %r" % r.text)
    # Within the window: accepted, and one push with a rejected entry still stores the rest.
    r = push_lines(s, "ooo", [(t - 1800 * 10**9, "30 minutes behind"),
                              (t - 3 * 3600 * 10**9, "three hours behind")], expect=400)
    check("total ignored: 1 out of 2" in r.text, r.text)
    # The same entry twice, in one push and across pushes: stored once.
    push_lines(s, "ooo", [(t + 5, "twice"), (t + 5, "twice")])
    push_lines(s, "ooo", [(t + 5, "twice")])
    want = ["30 minutes behind", "newest", "twice"]
    eq(lines_of(query_all(s, '{app="ooo"}', t - 4 * 3600 * 10**9, t + 10**9)), want, "stored")
    # The stream's newest timestamp survives a flush: the window still applies.
    flush(s)
    push_lines(s, "ooo", [(t - 2 * 3600 * 10**9, "still too old")], expect=400)
    push_lines(s, "ooo", [(t + 5, "twice")])
    eq(lines_of(query_all(s, '{app="ooo"}', t - 4 * 3600 * 10**9, t + 10**9)), want,
       "after the flush")


def test_memory_limit_answers_429_and_recovers(env):
    faults = os.path.join(env.scratch, "faults")
    set_faults(faults, "rename /parts/ EIO\n")
    with faults_env(faults):
        s = env.server(["--max-logs-in-mem=100", "--store.push-wait=200ms"])
    t0 = now_ns() - 60 * 10**9
    acked = []
    busy = None
    for i in range(40):
        lines = [(t0 + i * 1000 + k, "load %d/%d" % (i, k)) for k in range(20)]
        r = push_lines(s, "mem", lines, expect=None)
        if r.status == 204:
            acked.extend(lines)
        elif r.status == 429:
            busy = r
            break
        else:
            raise AssertionError("unexpected status %d: %s" % (r.status, r.text))
        time.sleep(0.05)
    check(busy is not None, "a push got 429 once the head could not be flushed")
    eq(busy.headers.get("Retry-After"), "1", "Retry-After")
    check(metric(s, "strata_push_busy_total") >= 1, "busy pushes counted")
    # The refused push waited --store.push-wait for room first, and that wait is counted.
    check(metric(s, "strata_push_room_waits_total") >= 1, "waits for room counted")
    check(metric(s, "strata_push_room_wait_seconds_total") >= 0.19, "the wait's time counted")
    # The disk comes back: a flush goes through and pushes are accepted again.
    set_faults(faults, "")
    flush(s)
    push_lines(s, "mem", [(t0 + 10**8, "after recovery")])
    acked.append((t0 + 10**8, "after recovery"))
    got = query_all(s, '{app="mem"}', t0 - 1, t0 + 10**9)
    assert_exactly_once(got)
    eq(sorted((ts, line) for _k, ts, line in got), sorted(acked), "every acknowledged entry")
    s.stop()


def test_data_dir_is_locked(env):
    s = env.server()
    port = free_port()
    log = os.path.join(env.scratch, "second.log")
    with open(log, "wb") as f:
        p = subprocess.run([env.binary, "--http-listen-addr=127.0.0.1:%d" % port,
                            "--data-dir=%s" % s.data_dir], stdout=f, stderr=subprocess.STDOUT,
                           timeout=30)
    text = open(log).read()
    check(p.returncode != 0, "a second process on the same data directory must not start")
    check("locked by another Strata process (pid %d)" % s.proc.pid in text, text)
    check("--unlock-data-dir" in text, text)
    eq(s.get("/ready").status, 200, "the first one keeps serving")


def test_retention_moves_old_parts_out(env):
    """--max-retention-time without a next tier deletes local parts whose newest entry is
    older than it (LogsGO); --retention deletes everything older than it. Parts hold one
    UTC day, so the old entries here are days old."""
    day = 86400 * 10**9
    s = env.server(["--max-retention-time=2d"])
    now = now_ns()
    push_lines(s, "old", [(now - 3 * day, "three days old")])
    push_lines(s, "new", [(now - 60 * 10**9, "one minute old")])
    flush(s)
    got = lines_of(query_all(s, '{app=~"old|new"}', now - 4 * day, now))
    eq(got, ["one minute old"], "only recent data stays")
    eq(count_files(os.path.join(s.data_dir, "parts"), ".part"), 1, "one part left")
    s.stop()
    s2 = env.server(["--retention=2d", "--max-retention-time=0"], name="retention")
    push_lines(s2, "x", [(now - 3 * day, "three days old")])
    push_lines(s2, "y", [(now - 10 * 10**9, "recent")])
    flush(s2)
    eq(lines_of(query_all(s2, '{app=~"x|y"}', now - 4 * day, now)), ["recent"],
       "global retention")


def test_compaction_merges_parts_of_a_day(env):
    s = env.server(["--compact-duration=1s", "--store.compact-min-parts=3"])
    t0 = now_ns() - 120 * 10**9
    for i in range(3):
        push_lines(s, "cmp", [(t0 + i * 10**9 + k, "part %d line %d" % (i, k)) for k in range(50)])
        r = s.post("/api/v1/admin/flush")
        eq(r.status, 200, "flush")
    parts_dir = os.path.join(s.data_dir, "parts")
    # Admin flush compacts (force); then the background compaction keeps it at one part.
    wait_until(lambda: count_files(parts_dir, ".part") == 1, timeout=20, what="one part")
    got = query_all(s, '{app="cmp"}', t0, t0 + 10**11)
    eq(len(got), 150, "entries after compaction")
    assert_exactly_once(got)
    check(metric(s, 'strata_compactions_total{result="ok"}') >= 1, "compactions counted")
    check(metric(s, 'strata_tier_parts{tier="local"}') == 1, "parts gauge")
    check(metric(s, "strata_wal_fsyncs_total") >= 1, "WAL fsyncs counted")
    s.stop()
    out = verify_parts(env, s.data_dir)
    check("150 entries" in out, out)


def test_wal_sync_interval(env):
    s = env.server(["--wal.sync=interval", "--wal.sync-interval=20ms"])
    t0 = now_ns() - 10**9
    push_lines(s, "iv", [(t0 + i, "interval %d" % i) for i in range(10)])
    time.sleep(0.3)  # several sync intervals
    s.kill9()
    s.start()
    eq(len(query_all(s, '{app="iv"}', t0, t0 + 10**9)), 10, "synced entries survive kill -9")
    port = free_port()
    p = subprocess.run([env.binary, "--http-listen-addr=127.0.0.1:%d" % port,
                        "--data-dir=%s" % env.tmpdir("bad"), "--wal.sync=sometimes"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and "--wal.sync" in p.stdout + p.stderr,
          "a bad --wal.sync is refused: %r" % (p.stdout + p.stderr))
