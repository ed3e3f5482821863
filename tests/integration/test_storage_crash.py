"""Issue [2/10]: the crash loop. A sustained push load, with flushes and compactions going
on, while the server is killed with SIGKILL at random moments, 55 times. After every restart
each entry whose push was acknowledged is queryable exactly once, nothing that was never
pushed appears, and at the end every part passes its checksums."""
import os
import random
import threading
import time

from harness import check, eq, http, now_ns
from test_storage_util import count_files, verify_parts

KILLS = 55
WINDOW = 100 * 10**9  # each cycle writes its own 100 s of timestamps


def _pusher(s, cycle, tid, base, stop, acked, maybe, lock):
    n = 0
    while not stop.is_set():
        entries = [(base + tid * 10**9 + n + k, "c%d t%d n%d" % (cycle, tid, n + k))
                   for k in range(10)]
        n += 10
        body = {"streams": [{"stream": {"app": "crash", "pusher": str(tid)},
                             "values": [[str(ts), line] for ts, line in entries]}]}
        try:
            r = http("POST", s.url + "/loki/api/v1/push", body,
                     {"Content-Type": "application/json"}, timeout=10)
            ok = r.status == 204
        except OSError:
            ok = False
        with lock:
            (acked if ok else maybe).update(line for _ts, line in entries)
        if not ok:
            return  # the server is gone; this cycle is over for this pusher


def _flusher(s, stop):
    while not stop.is_set():
        try:
            http("POST", s.url + "/api/v1/admin/flush", timeout=10)
        except OSError:
            return
        time.sleep(0.05)


def _check_window(s, cycle, base, acked, maybe):
    # Pages of 5000 (the default limit), forward from the last timestamp seen: every entry of
    # a cycle has a timestamp of its own. Bounded: a cycle pushes far less than 200 pages.
    got, start = [], base
    for _page in range(200):
        r = s.query_range('{app="crash"}', start, base + WINDOW, limit=5000, direction="forward")
        page = sorted((int(ts), line) for st in r.json()["data"]["result"]
                      for ts, line in st["values"])
        got.extend(line for _ts, line in page)
        if len(page) < 5000:
            break
        start = page[-1][0] + 1
    else:
        check(False, "cycle %d: more than 200 pages" % cycle)
    eq(len(got), len(set(got)), "cycle %d: no entry twice" % cycle)
    got = set(got)
    want = {line for line in acked if line.startswith("c%d " % cycle)}
    missing = want - got
    check(not missing, "cycle %d: %d acknowledged entries lost, e.g. %r" %
          (cycle, len(missing), sorted(missing)[:3]))
    extra = got - want - maybe
    check(not extra, "cycle %d: entries never pushed: %r" % (cycle, sorted(extra)[:3]))


def test_sigkill_loop(env):
    rnd = random.Random(2026)
    s = env.server(["--max-logs-in-mem=300", "--compact-duration=1s",
                    "--store.compact-min-parts=2", "--max-time-in-mem=2s"])
    t0 = now_ns() - 10 * 3600 * 10**9
    acked, maybe, lock = set(), set(), threading.Lock()
    t_start = time.monotonic()
    for cycle in range(KILLS):
        base = t0 + cycle * WINDOW
        stop = threading.Event()
        threads = [threading.Thread(target=_pusher, args=(s, cycle, tid, base, stop, acked,
                                                          maybe, lock)) for tid in range(2)]
        threads.append(threading.Thread(target=_flusher, args=(s, stop)))
        for th in threads:
            th.start()
        time.sleep(rnd.uniform(0.05, 0.4))
        s.kill9()
        stop.set()
        for th in threads:
            th.join()
        s.start()
        _check_window(s, cycle, base, acked, maybe)
        if cycle:
            old = rnd.randrange(cycle)
            _check_window(s, old, t0 + old * WINDOW, acked, maybe)
    for cycle in range(KILLS):
        _check_window(s, cycle, t0 + cycle * WINDOW, acked, maybe)
    check(len(acked) > KILLS * 20, "the load was sustained (%d entries acknowledged)" % len(acked))
    s.stop()
    eq(count_files(os.path.join(s.data_dir, "parts"), ".corrupt"), 0, "no part set aside")
    verify_parts(env, s.data_dir)
    print("    %d kills in %.0fs, %d entries acknowledged, %d in doubt" %
          (KILLS, time.monotonic() - t_start, len(acked), len(maybe)))
