"""Issue [2/10]: I/O faults injected into the running server (STRATA_FAULTS_FILE, see
src/store/fsio.h): failed writes, fsyncs, a full disk and failed renames in the WAL, during a
flush and during compaction. Each push gets a clear 5xx (507 for a full disk); nothing
acknowledged is lost, nothing refused shows up; the server recovers once the fault is gone,
and after a kill -9 too."""
import os

from harness import check, eq, now_ns
from test_storage_util import (assert_exactly_once, count_files, faults_env, flush, push_lines,
                               query_all, set_faults, verify_parts)


class Ledger:
    """What the test pushed: acknowledged entries must be stored once, refused ones never."""

    def __init__(self, server, app, t0):
        self.s, self.app, self.t0 = server, app, t0
        self.acked, self.refused, self.n = [], [], 0

    def push(self, count=5, expect=None):
        lines = []
        for _ in range(count):
            lines.append((self.t0 + self.n, "%s entry %d" % (self.app, self.n)))
            self.n += 1
        r = push_lines(self.s, self.app, lines, expect=None)
        if expect is not None:
            eq(r.status, expect, "push status (body %r)" % r.text)
        (self.acked if r.status == 204 else self.refused).extend(lines)
        return r

    def check(self, what):
        got = query_all(self.s, '{app="%s"}' % self.app, self.t0 - 1, self.t0 + 10**12)
        assert_exactly_once(got, what)
        got = sorted((ts, line) for _k, ts, line in got)
        eq(got, sorted(self.acked), what + ": exactly the acknowledged entries")


def _server(env, faults, args=()):
    with faults_env(faults):
        return env.server(list(args))


def test_wal_write_sync_and_full_disk(env):
    faults = os.path.join(env.scratch, "faults")
    set_faults(faults, "")
    s = _server(env, faults)
    led = Ledger(s, "walfault", now_ns() - 10**10)
    led.push(expect=204)
    set_faults(faults, "write .wal EIO count=1\n")
    r = led.push(expect=500)
    check("input/output error" in r.text, r.text)
    led.push(expect=204)
    set_faults(faults, "sync .wal EIO count=1\n")
    led.push(expect=500)
    led.push(expect=204)
    # A full disk, and the WAL cannot even be cut back: 507 until space comes back.
    set_faults(faults, "write .wal ENOSPC\ntruncate .wal ENOSPC\n")
    for _ in range(3):
        r = led.push(expect=507)
        check("no space left on device" in r.text, r.text)
    set_faults(faults, "")
    led.push(expect=204)
    led.check("after the WAL faults")
    # Nothing refused comes back from the WAL either.
    s.kill9()
    s.start()
    led.check("after kill -9")


def test_flush_faults_keep_data_in_memory_and_wal(env):
    faults = os.path.join(env.scratch, "faults")
    set_faults(faults, "")
    s = _server(env, faults)
    led = Ledger(s, "flushfault", now_ns() - 10**10)
    for _ in range(4):
        led.push(expect=204)
    parts = os.path.join(s.data_dir, "parts")
    # A full disk while the part is written: 507, the data stays queryable, no temp file stays.
    set_faults(faults, "write /parts/ ENOSPC\n")
    r = flush(s, expect=507)
    check("no space left on device" in r.text, r.text)
    led.check("after a flush on a full disk")
    eq(count_files(parts, ".part"), 0, "no part, no temp file")
    # A failed fsync of the part, then a failed rename: 500 each time.
    set_faults(faults, "sync /parts/ EIO count=1\n")
    flush(s, expect=500)
    set_faults(faults, "rename /parts/ EIO count=1\n")
    flush(s, expect=500)
    led.push(expect=204)  # pushes are not held up by a failing flush
    led.check("after failed flushes")
    set_faults(faults, "")
    flush(s)
    led.check("after the flush went through")
    eq(count_files(parts, ".part"), 1, "one part")
    s.kill9()
    s.start()
    led.check("after kill -9")
    s.stop()
    verify_parts(env, s.data_dir)


def test_compaction_faults_leave_the_old_parts(env):
    faults = os.path.join(env.scratch, "faults")
    set_faults(faults, "")
    s = _server(env, faults, ["--compact-duration=0"])
    led = Ledger(s, "compactfault", now_ns() - 10**10)
    parts = os.path.join(s.data_dir, "parts")
    for _ in range(2):
        led.push(expect=204)
        flush(s)
    eq(count_files(parts, ".part"), 1, "the forced flushes compacted to one part")
    # The flush's rename goes through (skip=1), the compaction's fails.
    led.push(expect=204)
    set_faults(faults, "rename /parts/ EIO skip=1 count=1\n")
    r = flush(s, expect=500)
    check("input/output error" in r.text, r.text)
    eq(count_files(parts, ".part"), 2, "the inputs stay, no output")
    led.check("after a failed compaction")
    # Disk full during the compaction's writes: the same.
    set_faults(faults, "write /parts/ ENOSPC\n")
    flush(s, expect=507)
    eq(count_files(parts, ".part"), 2, "still the inputs")
    led.check("after a compaction on a full disk")
    set_faults(faults, "")
    flush(s)
    eq(count_files(parts, ".part"), 1, "compacted once the disk is back")
    led.check("after compaction")
    s.kill9()
    s.start()
    led.check("after kill -9")
    s.stop()
    verify_parts(env, s.data_dir)


def test_checkpoint_fault_then_crash(env):
    """The parts of a flush are written but its WAL checkpoint is not: after a kill -9 the
    uncommitted parts are removed and the WAL replays their entries, once."""
    faults = os.path.join(env.scratch, "faults")
    set_faults(faults, "")
    s = _server(env, faults)
    led = Ledger(s, "ckpt", now_ns() - 10**10)
    for _ in range(3):
        led.push(expect=204)
    set_faults(faults, "rename checkpoint EIO\n")
    flush(s, expect=500)
    led.check("while the checkpoint cannot be written")
    parts = os.path.join(s.data_dir, "parts")
    eq(count_files(parts, ".part"), 1, "the flush's part is on disk, uncommitted")
    s.kill9()
    set_faults(faults, "")
    s.start()
    led.check("after kill -9")
    check("did not commit" in s.log_tail(200), "the uncommitted part was removed")
    led.push(expect=204)
    flush(s)
    led.check("after the next flush")
    s.stop()
    verify_parts(env, s.data_dir)
