"""Helpers shared by the storage integration tests (test_storage*.py); no tests here."""
import contextlib
import os
import subprocess

from harness import TestFailure, check, eq, http


def push_lines(server, app, lines, tenant=None, expect=204, extra_labels=None):
    """Push [(ts_ns, line)] to stream {app=...}; returns the response."""
    stream = {"app": app}
    stream.update(extra_labels or {})
    values = [[str(ts), line] for ts, line in lines]
    return server.push([{"stream": stream, "values": values}], tenant=tenant, expect=expect)


def query_all(server, selector, start, end, tenant=None, limit=5000):
    """Every (stream-key, ts, line) in [start, end), forward; fails on a non-200."""
    r = server.query_range(selector, start, end, limit=limit, direction="forward", tenant=tenant)
    out = []
    for st in r.json()["data"]["result"]:
        key = tuple(sorted(st["stream"].items()))
        for ts, line in st["values"]:
            out.append((key, int(ts), line))
    return out


def lines_of(entries):
    return [e[2] for e in entries]


def assert_exactly_once(entries, what="entries"):
    seen = {}
    for e in entries:
        seen[e] = seen.get(e, 0) + 1
    dups = [e for e, n in seen.items() if n > 1]
    if dups:
        raise TestFailure("%s: %d duplicated, e.g. %r" % (what, len(dups), dups[:3]))


def flush(server, expect=200):
    r = server.post("/api/v1/admin/flush")
    eq(r.status, expect, "admin flush status (body %r)" % r.text)
    return r


def metric(server, name):
    """The value of one sample of /metrics (name with labels, exactly as rendered)."""
    for line in server.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def storetool(env):
    return os.path.join(env.build_dir, "tools", "storetool")


def verify_parts(env, data_dir):
    """Every part under data_dir passes every checksum (storetool verify)."""
    parts = os.path.join(data_dir, "parts")
    if not os.path.isdir(parts):
        return ""
    r = subprocess.run([storetool(env), "verify", parts], capture_output=True, text=True)
    check(r.returncode == 0, "storetool verify failed:\n%s%s" % (r.stdout, r.stderr))
    return r.stdout


def count_files(path, suffix):
    n = 0
    for _root, _dirs, files in os.walk(path):
        n += sum(1 for f in files if f.endswith(suffix))
    return n


@contextlib.contextmanager
def faults_env(path):
    """Servers started inside read fault rules from path (STRATA_FAULTS_FILE)."""
    old = os.environ.get("STRATA_FAULTS_FILE")
    os.environ["STRATA_FAULTS_FILE"] = path
    try:
        yield
    finally:
        if old is None:
            del os.environ["STRATA_FAULTS_FILE"]
        else:
            os.environ["STRATA_FAULTS_FILE"] = old


def set_faults(path, text):
    """Replace the fault rules (the server re-reads the file when it changes)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    # The server checks the file's mtime at most every 5 ms; make sure it differs.
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))


__all__ = ["push_lines", "query_all", "lines_of", "assert_exactly_once", "flush", "metric",
           "verify_parts", "count_files", "faults_env", "set_faults", "http", "storetool"]
