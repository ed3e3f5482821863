#!/usr/bin/python3
"""bench/bench.py - Strata and ClickHouse 18.16 side by side, on the same corpus, in one run.

Run by `make bench` (bench/bench.mk), which builds the optimised binaries first:

    /usr/bin/python3 bench/bench.py --build build-bench --lines "1000000 10000000"

For each corpus size it
  1. generates the corpus with bench/make-corpus.py (TSV, cached in bench/out/ under a name
     made of its parameters and of the generator's hash);
  2. measures `zstd -3` and `zstd -19` of the raw line text (reference points; cached);
  3. starts clickhouse-server (bench/clickhouse/config.xml: zstd for every part) on free
     loopback ports, creates a MergeTree table ordered by (app, host, level, ts), inserts the
     TSV over HTTP (concurrent INSERT ... FORMAT TabSeparated of --ch-batch lines), runs
     OPTIMIZE ... FINAL and reads the bytes on disk from system.parts;
  4. starts Strata (WAL sync=always) on free loopback ports and pushes the corpus with
     build/loadgen: every line through the Loki JSON push (tenant bench-json, the one that is
     queried), then the first --path-lines lines through each other path (gzip JSON, snappy
     protobuf, LogsGO gRPC, OTLP protobuf, each to its own tenant); POST /api/v1/admin/flush
     flushes and compacts; bytes on disk are the tenant's part files;
  5. peak RSS (VmHWM, reset through /proc/PID/clear_refs before each phase) of each server
     while ingesting and while compacting/merging;
  6. runs the query set on both (one warm-up, then the median of --runs warm runs; then one
     cold run per query after restarting both servers and dropping the page cache, or, when
     /proc/sys/vm/drop_caches is refused, evicting both servers' files with
     posix_fadvise(DONTNEED)), and checks that both return the same answer (the same lines
     for log queries, the same counts for the metric query);
then prints the tables, writes them into docs/BENCHMARKS.md (between the GENERATED markers),
writes bench/out/results-<lines>.json and plots the ratios (docs/img/bench-ratios.png, gnuplot).

Servers are stopped by pid when the run ends, whatever happens. Only the Python standard
library is used (Debian's /usr/bin/python3).
"""
import argparse
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DAY_START = 1767225600  # 2026-01-01T00:00:00Z, make-corpus.py's default --start
DAY_NS = 86400 * 10**9
START_NS = DAY_START * 10**9
END_NS = START_NS + DAY_NS
CLICKHOUSE = "/usr/sbin/clickhouse-server"
TENANT = "bench-json"
OTHER_PATHS = ["gzip", "snappy", "logsgo", "otlp"]
PATH_TITLES = {
    "json": "Loki JSON push",
    "gzip": "gzip Loki JSON push",
    "snappy": "snappy protobuf push",
    "logsgo": "LogsGO gRPC UploadLogs",
    "otlp": "OTLP/HTTP protobuf",
}

# ---- the query set -------------------------------------------------------------------------
#
# Each query: LogQL for Strata, SQL for ClickHouse, and how answers are compared. Log queries
# are Loki's defaults for Explore (backward, limit 100) over the corpus's day; ClickHouse gets
# ORDER BY ts DESC LIMIT 100. The metric query is evaluated every minute over the day, window
# (t-1m, t]; in SQL each entry counts at the end of its minute: (intDiv(ts - 1, 60e9) + 1) * 60.

RANGE_SQL = "ts >= %d AND ts < %d" % (START_NS, END_NS)


def log_sql(where):
    return ("SELECT toString(ts), line FROM logs WHERE %s AND %s ORDER BY ts DESC LIMIT 100"
            % (where, RANGE_SQL))


def make_queries(needle, regex):
    """The query set; needle and regex are picked from the corpus (pick_needles)."""
    re_sql = regex.replace("\\", "\\\\").replace("'", "\\'")
    return [
        {
            "key": "selector",
            "title": "selective selector",
            "logql": '{app="hdfs", host="hdfs-01", level="warn"}',
            "sql": log_sql("app = 'hdfs' AND host = 'hdfs-01' AND level = 'warn'"),
            "kind": "log",
            "target": 0.5,
        },
        {
            "key": "selector_needle",
            "title": 'selector + `|= "needle"`',
            "logql": '{app="openssh", host="openssh-01"} |= "Invalid user oracle"',
            "sql": log_sql("app = 'openssh' AND host = 'openssh-01' "
                           "AND position(line, 'Invalid user oracle') > 0"),
            "kind": "log",
            "target": 0.5,
        },
        {
            "key": "needle_all",
            "title": '`|= "needle"` over everything (a rare block id)',
            "logql": '{app=~".+"} |= "%s"' % needle,
            "sql": log_sql("position(line, '%s') > 0" % needle),
            "kind": "log",
            "target": 0.3,
        },
        {
            "key": "absent_all",
            "title": '`|= "needle"` over everything, absent',
            "logql": '{app=~".+"} |= "no-such-needle-4c7f"',
            "sql": log_sql("position(line, 'no-such-needle-4c7f') > 0"),
            "kind": "log",
            "target": 0.3,
        },
        {
            "key": "regex_all",
            "title": "`|~` regex over everything",
            "logql": '{app=~".+"} |~ `%s`' % regex,
            "sql": log_sql("match(line, '%s')" % re_sql),
            "kind": "log",
            "target": None,
        },
        {
            "key": "json_filter",
            "title": "`| json | duration_ms > 500`",
            "logql": '{app="healthapp"} | json | duration_ms > 500',
            "sql": log_sql("app = 'healthapp' AND visitParamExtractFloat(line, 'duration_ms') "
                           "> 500"),
            "kind": "log",
            "target": None,
        },
        {
            "key": "count_per_minute",
            "title": "`sum by (level) (count_over_time({...}[1m]))`, the day",
            "logql": 'sum by (level) (count_over_time({app=~".+"}[1m]))',
            "sql": ("SELECT level, toString((intDiv(ts - 1, 60000000000) + 1) * 60) AS t, "
                    "count() FROM logs WHERE ts > %d AND ts <= %d GROUP BY level, t"
                    % (START_NS - 60 * 10**9, END_NS)),
            "kind": "matrix",
            "step": 60,
            "target": 0.5,
        },
    ]


QUERIES = make_queries("blk_-0000000000000000000", "Failed password for root from 1\\.2\\.3\\.4")


def pick_needles(corpus, ch, log):
    """
    A rare needle and a rare regex from the middle of the corpus: an HDFS block id and a
    failed SSH login (user, address), each found in at most 20 lines (counted by ClickHouse),
    so that neither query reaches its limit of 100 lines and both systems read the whole day.
    """
    size = os.path.getsize(corpus)
    needle = regex = None
    blk = re.compile(r"blk_-?\d{12,}")
    ssh = re.compile(r"Failed password for (?:invalid user )?(\w+) from (\d+\.\d+\.\d+\.\d+)")
    with open(corpus, "rb") as f:
        f.seek(size // 2)
        f.readline()
        for _ in range(2000000):
            line = f.readline().decode("utf-8", "replace")
            if not line or (needle and regex):
                break
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 5:
                continue
            if fields[1] == "hdfs" and not needle:
                m = blk.search(fields[4])
                if m and count_lines(ch, "position(line, '%s') > 0" % m.group(0)) <= 20:
                    needle = m.group(0)
            elif fields[1] == "openssh" and not regex:
                m = ssh.search(fields[4])
                if m:
                    cand = "Failed password for (invalid user )?%s from %s" % (
                        m.group(1), m.group(2).replace(".", "\\."))
                    if count_lines(ch, "match(line, '%s')" % cand.replace("\\", "\\\\")) <= 20:
                        regex = cand
    if not needle or not regex:
        raise RuntimeError("no rare needle or regex found in the middle of %s" % corpus)
    log("  needle %s, regex %s (each in at most 20 lines)" % (needle, regex))
    return needle, regex


def count_lines(ch, where):
    data, _ = ch.sql("SELECT count() FROM logs WHERE " + where)
    return int(data.decode().strip())


# ---- processes ----------------------------------------------------------------------------

_procs = []


def stop_all():
    for p in list(_procs):
        p.stop()


def on_signal(signum, frame):
    stop_all()
    sys.exit(128 + signum)


class Server:
    """A child process started by this run, stopped by its pid."""

    def __init__(self, name, argv, log_path, env=None):
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        _procs.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=120):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self in _procs:
            _procs.remove(self)
        self.proc = None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(fn, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError("%s exited (log: %s)" % (what, proc.log_path))
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for %s" % what)


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak_rss(pid):
    """Start VmHWM over from the current RSS (Linux: clear_refs 5)."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def files_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return total


def request(host, port, method, path, body=None, headers=None, timeout=3600):
    """One HTTP request on a fresh connection: (status, body bytes, seconds)."""
    t0 = time.perf_counter()
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, data, time.perf_counter() - t0
    finally:
        c.close()


def run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


# ---- the page cache -------------------------------------------------------------------------


def drop_caches(dirs):
    """Evict cached file pages: the whole page cache when permitted, else the files of dirs."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
        return "drop_caches"
    except OSError:
        pass
    for top in dirs:
        for d, _, files in os.walk(top):
            for name in files:
                try:
                    fd = os.open(os.path.join(d, name), os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                except OSError:
                    pass
                os.close(fd)
    return "fadvise"


# ---- ClickHouse -------------------------------------------------------------------------------


class ClickHouse:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "clickhouse")
        shutil.rmtree(self.dir, ignore_errors=True)
        for sub in ("data", "tmp", "log", "user_files", "format_schemas"):
            os.makedirs(os.path.join(self.dir, sub))
        self.http_port = free_port()
        self.tcp_port = free_port()
        while self.tcp_port == self.http_port:
            self.tcp_port = free_port()
        with open(os.path.join(HERE, "clickhouse", "config.xml")) as f:
            text = f.read()
        text = (text.replace("CH_DIR", self.dir).replace("HTTP_PORT", str(self.http_port))
                .replace("TCP_PORT", str(self.tcp_port)))
        self.config = os.path.join(self.dir, "config.xml")
        with open(self.config, "w") as f:
            f.write(text)
        shutil.copy(os.path.join(HERE, "clickhouse", "users.xml"),
                    os.path.join(self.dir, "users.xml"))
        self.server = Server("clickhouse", [CLICKHOUSE, "--config-file=" + self.config],
                             os.path.join(self.dir, "log", "stdout.log"))

    def start(self):
        self.server.start()

        def up():
            st, body, _ = request("127.0.0.1", self.http_port, "GET", "/ping", timeout=2)
            return st == 200 and body == b"Ok.\n"
        wait_for(up, 120, "clickhouse-server", self.server)

    def stop(self):
        self.server.stop()

    def sql(self, text, body=None, timeout=3600):
        path = "/"
        if body is not None:
            path = "/?query=" + urllib.parse.quote(text)
        else:
            body = text.encode()
        st, data, secs = request("127.0.0.1", self.http_port, "POST", path, body=body,
                                 timeout=timeout)
        if st != 200:
            raise RuntimeError("ClickHouse refused %r: %s" % (text[:200], data[:2000]))
        return data, secs

    def version(self):
        return self.sql("SELECT version()")[0].decode().strip()

    def create(self):
        self.sql("CREATE TABLE logs (ts Int64, app String, host String, level String, "
                 "line String) ENGINE = MergeTree ORDER BY (app, host, level, ts)")

    def insert(self, corpus, batch_lines, connections):
        """Concurrent INSERT ... FORMAT TabSeparated of batch_lines lines each: seconds."""
        offsets = line_offsets(corpus, batch_lines)
        chunks = list(zip(offsets[:-1], offsets[1:]))
        lock = threading.Lock()
        errors = []
        nxt = [0]
        query = "INSERT INTO logs (ts, app, host, level, line) FORMAT TabSeparated"

        def worker():
            with open(corpus, "rb") as f:
                while True:
                    with lock:
                        if nxt[0] >= len(chunks) or errors:
                            return
                        a, b = chunks[nxt[0]]
                        nxt[0] += 1
                    f.seek(a)
                    data = f.read(b - a)
                    try:
                        self.sql(query, body=data)
                    except Exception as e:  # noqa: BLE001 - reported below
                        with lock:
                            errors.append(str(e))
        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        secs = time.perf_counter() - t0
        if errors:
            raise RuntimeError("ClickHouse insert failed: " + errors[0])
        return secs

    def parts(self):
        data, _ = self.sql("SELECT count(), sum(rows), sum(bytes_on_disk), "
                           "sum(data_compressed_bytes), sum(data_uncompressed_bytes) "
                           "FROM system.parts WHERE active AND database = 'default' "
                           "AND table = 'logs' FORMAT JSONCompact")
        row = json.loads(data)["data"][0]
        return {"parts": int(row[0]), "rows": int(row[1]), "bytes_on_disk": int(row[2]),
                "compressed": int(row[3]), "uncompressed": int(row[4])}

    def optimize(self, attempts=5, merge_wait=600):
        """OPTIMIZE TABLE logs FINAL until one part is left; seconds spent in all.

        ClickHouse 18.16 answers OPTIMIZE with success and does nothing when it cannot select
        the parts (a background merge holds some of them): at 10M lines it left 10 parts. So
        wait for running merges to end, optimize, and try again (bounded) while parts remain.
        """
        t0 = time.monotonic()
        for _ in range(attempts):
            deadline = time.monotonic() + merge_wait
            while time.monotonic() < deadline:
                data, _ = self.sql("SELECT count() FROM system.merges WHERE database = "
                                   "'default' AND table = 'logs' FORMAT JSONCompact")
                if int(json.loads(data)["data"][0][0]) == 0:
                    break
                time.sleep(0.5)
            self.sql("OPTIMIZE TABLE logs FINAL")
            if self.parts()["parts"] <= 1:
                break
        return time.monotonic() - t0

    def columns(self):
        data, _ = self.sql("SELECT column, sum(column_bytes_on_disk) FROM system.parts_columns "
                           "WHERE active AND table = 'logs' GROUP BY column FORMAT JSONCompact")
        return {r[0]: int(r[1]) for r in json.loads(data)["data"]}

    def query(self, q):
        data, secs = self.sql(q["sql"] + " FORMAT JSONCompact")
        rows = json.loads(data)["data"]
        if q["kind"] == "log":
            ans = sorted((int(r[0]), r[1]) for r in rows)
        else:
            ans = sorted((r[0], int(r[1]), int(r[2])) for r in rows)  # level, t, count
        return secs, ans, {}


def line_offsets(path, every):
    """Byte offsets of lines 0, every, 2*every, ... and of the end of the file."""
    out = [0]
    pos = 0
    left = every  # newlines still to pass before the next offset
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 24)
            if not block:
                break
            n = block.count(b"\n")
            idx = 0
            while n >= left:
                for _ in range(left):
                    idx = block.index(b"\n", idx) + 1
                n -= left
                out.append(pos + idx)
                left = every
            left -= n
            pos += len(block)
    if out[-1] != pos:
        out.append(pos)
    return out


# ---- Strata -----------------------------------------------------------------------------------


class Strata:
    def __init__(self, build, workdir):
        self.build = build
        self.data = os.path.join(workdir, "strata-data")
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.data)
        self.http_port = free_port()
        self.grpc_port = free_port()
        while self.grpc_port == self.http_port:
            self.grpc_port = free_port()
        self.argv = [
            os.path.join(build, "strata"),
            "--http-listen-addr=127.0.0.1:%d" % self.http_port,
            "--grpc-listen-addr=127.0.0.1:%d" % self.grpc_port,
            "--data-dir=" + self.data,
            "--wal.sync=always",
            "--limits.ingestion-rate-mb=0",
            "--limits.max-global-streams-per-user=0",
            "--limits.reject-old-samples=false",
            # The corpus's day is replayed in seconds: one 1 MiB push spans about 11 minutes of
            # it at 1M lines, so pushes finishing out of order on 4 connections can be more than
            # Loki's 1h window apart in corpus time, though milliseconds apart in real time.
            "--store.out-of-order-window=24h",
            "--max-retention-time=0",
            "--server.max-body-bytes=256MiB",
            "--log.level=warn",
        ]
        self.server = Server("strata", self.argv, os.path.join(workdir, "strata.log"))

    def start(self):
        self.server.start()

        def up():
            st, _, _ = request("127.0.0.1", self.http_port, "GET", "/ready", timeout=2)
            return st == 200
        wait_for(up, 300, "strata", self.server)

    def stop(self):
        self.server.stop(timeout=600)

    def push(self, corpus, path, lines, connections, batch_bytes):
        argv = [os.path.join(self.build, "loadgen"), "--corpus", corpus,
                "--http", "127.0.0.1:%d" % self.http_port,
                "--grpc", "127.0.0.1:%d" % self.grpc_port,
                "--paths", path, "--connections", str(connections), "--keep-timestamps",
                "--lines", str(lines), "--batch", "1000000", "--batch-bytes", str(batch_bytes)]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        out = p.stdout.decode()
        if p.returncode != 0:
            raise RuntimeError("loadgen failed: %s%s" % (out, p.stderr.decode()))
        m = re.search(r"^%s\s+(\d+) lines\s+([\d.]+) MB in\s+([\d.]+) s:\s+(\d+) lines/s\s+"
                      r"([\d.]+) MB/s \(lines\)\s+([\d.]+) MB/s \(bodies\)\s+([\d.]+) req/s, "
                      r"(\d+) failed" % path, out, re.M)
        if not m:
            raise RuntimeError("cannot read loadgen's output:\n" + out)
        res = {"lines": int(m.group(1)), "seconds": float(m.group(3)),
               "lines_per_s": float(m.group(4)), "mb_per_s": float(m.group(5)),
               "failed": int(m.group(8))}
        if res["failed"]:
            raise RuntimeError("loadgen: %d pushes failed:\n%s" % (res["failed"], out))
        return res

    def flush(self):
        st, body, secs = request("127.0.0.1", self.http_port, "POST", "/api/v1/admin/flush",
                                 body=b"", timeout=7200)
        if st != 200:
            raise RuntimeError("admin flush: %d %s" % (st, body[:500]))
        return secs, json.loads(body)

    def metrics(self):
        st, body, _ = request("127.0.0.1", self.http_port, "GET", "/metrics")
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or " " not in line:
                continue
            k, v = line.rsplit(" ", 1)
            try:
                out[k] = float(v)
            except ValueError:
                pass
        return out

    def tenant_bytes(self, tenant):
        return files_bytes(os.path.join(self.data, "parts", tenant))

    def query(self, q):
        params = {"query": q["logql"], "start": str(START_NS), "end": str(END_NS),
                  "limit": "100", "direction": "backward"}
        if q["kind"] == "matrix":
            params["step"] = str(q["step"])
        path = "/loki/api/v1/query_range?" + urllib.parse.urlencode(params)
        st, body, secs = request("127.0.0.1", self.http_port, "GET", path,
                                 headers={"X-Scope-OrgID": TENANT})
        if st != 200:
            raise RuntimeError("strata refused %s: %d %s" % (q["logql"], st, body[:500]))
        doc = json.loads(body)
        data = doc["data"]
        if q["kind"] == "log":
            ans = sorted((int(v[0]), v[1]) for s in data["result"] for v in s["values"])
        else:
            ans = sorted((s["metric"].get("level", ""), int(v[0]), int(float(v[1])))
                         for s in data["result"] for v in s["values"])
        store = data.get("stats", {}).get("querier", {}).get("store", {})
        info = {"blocks_total": store.get("totalChunksRef"),
                "blocks_read": store.get("totalChunksDownloaded")}
        return secs, ans, info


# ---- the zstd reference -----------------------------------------------------------------------


def zstd_bytes(corpus, level, lines, cache):
    key = "%s:%d:%d:%d" % (os.path.basename(corpus), os.path.getsize(corpus), level, lines)
    if key in cache:
        return cache[key]
    t0 = time.perf_counter()
    head = subprocess.Popen(["head", "-n", str(lines), corpus], stdout=subprocess.PIPE)
    cut = subprocess.Popen(["cut", "-f5"], stdin=head.stdout, stdout=subprocess.PIPE)
    head.stdout.close()
    z = subprocess.Popen(["zstd", "-q", "-%d" % level, "-T0", "-c"], stdin=cut.stdout,
                         stdout=subprocess.PIPE)
    cut.stdout.close()
    total = 0
    while True:
        b = z.stdout.read(1 << 20)
        if not b:
            break
        total += len(b)
    for p in (z, cut, head):
        p.wait()
    cache[key] = {"bytes": total, "lines": lines, "seconds": time.perf_counter() - t0}
    return cache[key]


# ---- one size ---------------------------------------------------------------------------------


def corpus_for(lines, out_dir):
    gen = os.path.join(HERE, "make-corpus.py")
    h = hashlib.sha256()
    with open(gen, "rb") as f:
        h.update(f.read())
    data_dir = os.path.join(HERE, "data", "loghub")
    for name in sorted(os.listdir(data_dir)):
        h.update(name.encode())
        h.update(str(os.path.getsize(os.path.join(data_dir, name))).encode())
    path = os.path.join(out_dir, "corpus-%d-seed1-%s.tsv" % (lines, h.hexdigest()[:10]))
    if os.path.exists(path):
        return path, 0.0
    print("  generating %s ..." % os.path.basename(path), flush=True)
    t0 = time.perf_counter()
    run(["/usr/bin/python3", gen, "--lines", str(lines), "--format", "tsv",
         "--out", path + ".tmp"])
    os.rename(path + ".tmp", path)
    return path, time.perf_counter() - t0


def ingest_runs(args, lines):
    """How many times each server ingests this size: a short ingest is repeated (median)."""
    return args.short_ingest_runs if lines <= args.short_ingest_lines else 1


def median_run(runs):
    """The run of median lines/s, with every run's rate kept beside it."""
    ordered = sorted(runs, key=lambda x: x["lines_per_s"])
    m = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        m["all_lines_per_s"] = [x["lines_per_s"] for x in runs]
    return m


def median(v):
    return statistics.median(v) if v else None


def time_queries(strata, ch, runs, log):
    """Warm runs: one to warm up, then the median of runs. Returns {key: {...}}."""
    res = {}
    for q in QUERIES:
        r = {"title": q["title"], "logql": q["logql"], "sql": q["sql"]}
        for name, sysobj in (("strata", strata), ("clickhouse", ch)):
            secs, ans, info = sysobj.query(q)  # warm-up
            times = []
            for _ in range(runs):
                t, ans2, info = sysobj.query(q)
                times.append(t)
                if ans2 != ans:
                    raise RuntimeError("%s gave two answers to %s" % (name, q["title"]))
            r[name] = {"warm": median(times), "runs": times, "answers": len(ans), **info}
            r[name + "_answer"] = ans
        r["same"] = r["strata_answer"] == r["clickhouse_answer"]
        if not r["same"]:
            s, c = set(r["strata_answer"]), set(r["clickhouse_answer"])
            log("  ANSWERS DIFFER for %s: %d only in Strata, %d only in ClickHouse; e.g. %r / %r"
                % (q["title"], len(s - c), len(c - s), sorted(s - c)[:1], sorted(c - s)[:1]))
        del r["strata_answer"], r["clickhouse_answer"]
        log("  %-58s strata %8.1f ms  clickhouse %8.1f ms  %s" % (
            q["title"][:58], r["strata"]["warm"] * 1e3, r["clickhouse"]["warm"] * 1e3,
            "same answer (%d)" % r["strata"]["answers"] if r["same"] else "DIFFERENT"))
        res[q["key"]] = r
    return res


def cold_queries(strata, ch, res, log):
    method = None
    for q in QUERIES:
        strata.stop()
        ch.stop()
        method = drop_caches([strata.data, ch.dir])
        strata.start()
        ch.start()
        for name, sysobj in (("strata", strata), ("clickhouse", ch)):
            secs, _, _ = sysobj.query(q)
            res[q["key"]][name]["cold"] = secs
        log("  cold %-53s strata %8.1f ms  clickhouse %8.1f ms" % (
            q["title"][:53], res[q["key"]]["strata"]["cold"] * 1e3,
            res[q["key"]]["clickhouse"]["cold"] * 1e3))
    return method


def bench_size(args, lines, log):
    out_dir = args.out
    r = {"lines": lines, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    log("== %s lines" % f"{lines:,}")
    corpus, gen_s = corpus_for(lines, out_dir)
    r["corpus"] = os.path.basename(corpus)
    r["corpus_bytes"] = os.path.getsize(corpus)
    cache_path = os.path.join(out_dir, "zstd-cache.json")
    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}
    z3 = zstd_bytes(corpus, 3, lines, cache)
    z19 = zstd_bytes(corpus, 19, min(lines, args.zstd19_lines), cache)
    with open(cache_path, "w") as f:
        json.dump(cache, f, indent=1)
    r["zstd3_bpl"] = z3["bytes"] / z3["lines"]
    r["zstd19_bpl"] = z19["bytes"] / z19["lines"]
    r["zstd19_lines"] = z19["lines"]
    log("  zstd -3: %.2f bytes/line; zstd -19 (first %s lines): %.2f bytes/line" % (
        r["zstd3_bpl"], f"{z19['lines']:,}", r["zstd19_bpl"]))
    work = os.path.join(out_dir, "run-%d" % lines)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # ClickHouse: ingest, merge, size.
    ch = ClickHouse(work)
    ch.start()
    r["clickhouse_version"] = ch.version()
    runs = ingest_runs(args, lines)
    ch_runs = []
    for i in range(runs):
        if i:
            ch.sql("DROP TABLE logs")
        ch.create()
        reset_peak_rss(ch.server.pid)
        cpu0 = cpu_seconds(ch.server.pid)
        secs = ch.insert(corpus, args.ch_batch, args.connections)
        ch_runs.append({"seconds": secs, "lines_per_s": lines / secs,
                        "peak_rss": proc_status(ch.server.pid, "VmHWM"),
                        "cpu_us_per_line": (cpu_seconds(ch.server.pid) - cpu0) * 1e6 / lines})
        log("  clickhouse insert%s: %.0f lines/s (%.1f s), %.2f us of server CPU per line, peak "
            "RSS %.0f MB" % (" %d/%d" % (i + 1, runs) if runs > 1 else "", lines / secs, secs,
                             ch_runs[-1]["cpu_us_per_line"], ch_runs[-1]["peak_rss"] / 1e6))
    r["ch_ingest"] = median_run(ch_runs)
    reset_peak_rss(ch.server.pid)
    cpu0 = cpu_seconds(ch.server.pid)
    osecs = ch.optimize()
    ocpu = cpu_seconds(ch.server.pid) - cpu0
    parts = ch.parts()
    r["ch_size"] = {"optimize_seconds": osecs, "cpu_seconds": ocpu, **parts,
                    "columns": ch.columns(),
                    "dir_bytes": files_bytes(os.path.join(ch.dir, "data", "data", "default",
                                                          "logs")),
                    "peak_rss": proc_status(ch.server.pid, "VmHWM")}
    if parts["rows"] != lines:
        raise RuntimeError("ClickHouse holds %d rows, not %d" % (parts["rows"], lines))
    r["ch_bpl"] = parts["bytes_on_disk"] / lines
    log("  clickhouse after OPTIMIZE FINAL (%.1f s): %.2f bytes/line in %d part(s)" % (
        osecs, r["ch_bpl"], parts["parts"]))
    global QUERIES
    r["needle"], r["regex"] = pick_needles(corpus, ch, log)
    QUERIES = make_queries(r["needle"], r["regex"])
    r["query_defs"] = [{k: q[k] for k in ("key", "title", "logql", "sql")} for q in QUERIES]
    ch.stop()  # not running while Strata ingests: each has the machine to itself

    # Strata: ingest every path, flush and compact, size. Each repeat of the JSON push starts
    # from an empty data directory, as ClickHouse's starts from an empty table.
    st_runs = []
    for i in range(runs):
        if i:
            st.stop()
        st = Strata(args.build, work)
        st.start()
        reset_peak_rss(st.server.pid)
        m0 = st.metrics()
        cpu0 = cpu_seconds(st.server.pid)
        run = st.push(corpus, "json", lines, args.connections, args.push_batch_bytes)
        run["peak_rss"] = proc_status(st.server.pid, "VmHWM")
        run["cpu_us_per_line"] = (cpu_seconds(st.server.pid) - cpu0) * 1e6 / lines
        m1 = st.metrics()
        run["wal"] = {k: m1.get(k, 0) - m0.get(k, 0)
                      for k in ("strata_wal_appends_total", "strata_wal_fsyncs_total",
                                "strata_push_room_wait_seconds_total")}
        st_runs.append(run)
        log("  strata json push%s: %.0f lines/s (%.1f s), %.2f us of server CPU per line, peak "
            "RSS %.0f MB; %d WAL appends in %d fsyncs; pushes waited %.1f s for a flush" % (
                " %d/%d" % (i + 1, runs) if runs > 1 else "", run["lines_per_s"],
                run["seconds"], run["cpu_us_per_line"], run["peak_rss"] / 1e6,
                run["wal"]["strata_wal_appends_total"], run["wal"]["strata_wal_fsyncs_total"],
                run["wal"]["strata_push_room_wait_seconds_total"]))
    r["ingest"] = {"json": median_run(st_runs)}
    r["wal"] = r["ingest"]["json"].pop("wal")
    path_lines = min(lines, args.path_lines)
    for p in OTHER_PATHS:
        reset_peak_rss(st.server.pid)
        cpu0 = cpu_seconds(st.server.pid)
        r["ingest"][p] = st.push(corpus, p, path_lines, args.connections,
                                  args.push_batch_bytes)
        r["ingest"][p]["peak_rss"] = proc_status(st.server.pid, "VmHWM")
        r["ingest"][p]["cpu_us_per_line"] = ((cpu_seconds(st.server.pid) - cpu0) * 1e6 /
                                             path_lines)
        log("  strata %s push: %.0f lines/s (%s lines), %.2f us of server CPU per line" % (
            p, r["ingest"][p]["lines_per_s"], f"{path_lines:,}",
            r["ingest"][p]["cpu_us_per_line"]))
    reset_peak_rss(st.server.pid)
    cpu0 = cpu_seconds(st.server.pid)
    fsecs, fbody = st.flush()
    r["strata_size"] = {"flush_seconds": fsecs, "bytes_on_disk": st.tenant_bytes(TENANT),
                        "all_bytes": fbody.get("disk_bytes"), "entries": fbody.get("entries"),
                        "peak_rss": proc_status(st.server.pid, "VmHWM"),
                        "cpu_seconds": cpu_seconds(st.server.pid) - cpu0}
    r["strata_bpl"] = r["strata_size"]["bytes_on_disk"] / lines
    log("  strata after flush + compaction (%.1f s): %.2f bytes/line" % (fsecs,
                                                                          r["strata_bpl"]))
    r["strata_parts"] = part_sizes(args.build, os.path.join(st.data, "parts", TENANT))

    # Queries, both servers up.
    ch.start()
    r["queries"] = time_queries(st, ch, args.runs, log)
    if not args.no_cold:
        r["cold_method"] = cold_queries(st, ch, r["queries"], log)
    st.stop()
    ch.stop()
    r["strata_peak_rss_query"] = None
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    r["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    with open(os.path.join(out_dir, "results-%d.json" % lines), "w") as f:
        json.dump(r, f, indent=1)
    return r


def part_sizes(build, tenant_dir):
    """Where the tenant's part bytes go (storetool dump), summed over its parts."""
    tool = os.path.join(build, "tools", "storetool")
    out = {}
    if not os.path.exists(tool):
        return out
    for name in sorted(os.listdir(tenant_dir)):
        if not name.endswith(".part"):
            continue
        p = subprocess.run([tool, "dump", os.path.join(tenant_dir, name)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
        m = re.search(r"^\s*((?:[a-z]+ \d+(?:, )?)+)$", p.stdout.decode(), re.M)
        for k, v in re.findall(r"([a-z]+) (\d+)", m.group(1) if m else ""):
            out[k] = out.get(k, 0) + int(v)
    return out


# ---- report -----------------------------------------------------------------------------------


def machine():
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                info["ram_gib"] = int(line.split()[1]) / 1024 / 1024
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    try:
        src = subprocess.run(["df", "--output=source,fstype,size", ROOT], stdout=subprocess.PIPE,
                             check=True).stdout.decode().splitlines()[1].split()
        info["disk"] = "%s (%s, %s)" % (src[0], src[1], human_bytes(int(src[2]) * 1024))
        dev = os.path.basename(src[0])
        rota = "/sys/block/%s/queue/rotational" % re.sub(r"\d+$", "", dev)
        if os.path.exists(rota):
            info["disk"] += ", rotational" if open(rota).read().strip() == "1" else ", SSD/virtual"
    except (OSError, subprocess.CalledProcessError, IndexError):
        info["disk"] = "unknown"
    info["load"] = os.getloadavg()
    return info


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return "%.0f %s" % (n, unit)
        n /= 1024
    return str(n)


def versions(build):
    v = {}

    def out(argv):
        try:
            return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  check=False).stdout.decode().strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    v["strata"] = out([os.path.join(build, "strata"), "--version"])
    v["cc"] = out([os.environ.get("CC", "cc"), "--version"])
    v["zstd"] = out(["zstd", "--version"])
    v["libzstd"] = out(["pkg-config", "--modversion", "libzstd"])
    v["gnuplot"] = out(["gnuplot", "--version"])
    return v


def fmt_rate(x):
    return f"{x:,.0f}"


def ms(x):
    if x is None:
        return "-"
    return "%.1f" % (x * 1e3) if x < 10 else "%.0f" % (x * 1e3)


def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def verdict(r, target, higher_is_better=False):
    if r is None or target is None:
        return ""
    ok = r >= target if higher_is_better else r <= target
    return "yes" if ok else "**no**"


def rows_for(r):
    """(metric, strata, clickhouse, ratio, target, met, cost ratio for the plot) rows."""
    rows = []
    ch_rate = r["ch_ingest"]["lines_per_s"]
    for p in ["json"] + OTHER_PATHS:
        ing = r["ingest"][p]
        rt = ratio(ing["lines_per_s"], ch_rate)
        label = "ingest, %s (lines/s)" % PATH_TITLES[p]
        if p != "json":
            label += ", first %s lines" % f"{ing['lines']:,}"
        elif "all_lines_per_s" in ing:
            label += ", median of %d (Strata %s; ClickHouse %s)" % (
                len(ing["all_lines_per_s"]), " ".join(fmt_rate(x) for x in ing["all_lines_per_s"]),
                " ".join(fmt_rate(x) for x in r["ch_ingest"].get("all_lines_per_s", [])))
        rows.append((label, fmt_rate(ing["lines_per_s"]), fmt_rate(ch_rate),
                     "%.2fx" % rt, ">= 3x", verdict(rt, 3.0, True), 1 / rt, p == "json"))
    s_cpu, c_cpu = r["ingest"]["json"].get("cpu_us_per_line"), r["ch_ingest"].get("cpu_us_per_line")
    if s_cpu and c_cpu:
        rows.append(("ingest, server CPU per line (us; JSON push / TSV insert)", "%.2f" % s_cpu,
                     "%.2f" % c_cpu, "%.2fx" % (s_cpu / c_cpu), "", "", s_cpu / c_cpu, False))
    rt = ratio(r["strata_bpl"], r["ch_bpl"])
    rows.append(("bytes per line on disk, after compaction", "%.2f" % r["strata_bpl"],
                 "%.2f" % r["ch_bpl"], "%.2fx" % rt, "<= 0.8x", verdict(rt, 0.8), rt, True))
    rows.append(("reference: `zstd -3` of the raw lines (bytes/line)", "%.2f" % r["zstd3_bpl"],
                 "", "%.2fx" % ratio(r["zstd3_bpl"], r["ch_bpl"]), "", "", None, False))
    rows.append(("reference: `zstd -19` of the raw lines, first %s (bytes/line)"
                 % f"{r['zstd19_lines']:,}", "%.2f" % r["zstd19_bpl"], "",
                 "%.2fx" % ratio(r["zstd19_bpl"], r["ch_bpl"]), "", "", None, False))
    s_rss, c_rss = r["ingest"]["json"]["peak_rss"], r["ch_ingest"]["peak_rss"]
    rt = ratio(s_rss, c_rss)
    rows.append(("peak RSS while ingesting (MB)", "%.0f" % (s_rss / 1e6), "%.0f" % (c_rss / 1e6),
                 "%.2fx" % rt, "<= 0.3x", verdict(rt, 0.3), rt, True))
    s_rss, c_rss = r["strata_size"]["peak_rss"], r["ch_size"]["peak_rss"]
    rt = ratio(s_rss, c_rss)
    rows.append(("peak RSS while compacting / OPTIMIZE FINAL (MB)", "%.0f" % (s_rss / 1e6),
                 "%.0f" % (c_rss / 1e6), "%.2fx" % rt, "", "", None, False))
    for q in QUERIES:
        x = r["queries"][q["key"]]
        for mode in ("warm", "cold"):
            s, c = x["strata"].get(mode), x["clickhouse"].get(mode)
            if s is None:
                continue
            rt = ratio(s, c)
            same = "" if x["same"] else " (answers differ!)"
            target = q["target"] if mode == "warm" else None
            rows.append(("%s, %s (ms)%s" % (q["title"], mode, same), ms(s), ms(c),
                         "%.2fx" % rt, "<= %.1fx" % target if target else "",
                         verdict(rt, target), rt, mode == "warm"))
    return rows


def table_md(rows):
    out = ["| | Strata | ClickHouse 18.16 | Strata / ClickHouse | target | met |",
           "|---|---:|---:|---:|---|---|"]
    for row in rows:
        out.append("| %s | %s | %s | %s | %s | %s |" % row[:6])
    return "\n".join(out)


def scaling_md(results):
    sizes = sorted(results)
    head = "| | " + " | ".join(f"{n:,} lines" for n in sizes) + " |"
    out = [head, "|---|" + "---:|" * len(sizes)]

    def row(label, fn):
        cells = []
        for n in sizes:
            try:
                cells.append(fn(results[n]))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("-")
        out.append("| %s | %s |" % (label, " | ".join(cells)))
    row("Strata JSON push, lines/s", lambda r: fmt_rate(r["ingest"]["json"]["lines_per_s"]))
    row("ClickHouse insert, lines/s", lambda r: fmt_rate(r["ch_ingest"]["lines_per_s"]))
    row("Strata bytes/line", lambda r: "%.2f" % r["strata_bpl"])
    row("ClickHouse bytes/line", lambda r: "%.2f" % r["ch_bpl"])
    row("Strata peak RSS ingesting, MB", lambda r: "%.0f" % (r["ingest"]["json"]["peak_rss"] / 1e6))
    row("ClickHouse peak RSS ingesting, MB", lambda r: "%.0f" % (r["ch_ingest"]["peak_rss"] / 1e6))
    for q in QUERIES:
        row("%s: Strata ms (blocks read/total)" % q["title"],
            lambda r, k=q["key"]: "%s (%s/%s)" % (ms(r["queries"][k]["strata"]["warm"]),
                                                  r["queries"][k]["strata"].get("blocks_read"),
                                                  r["queries"][k]["strata"].get("blocks_total")))
        row("%s: ClickHouse ms" % q["title"],
            lambda r, k=q["key"]: ms(r["queries"][k]["clickhouse"]["warm"]))
    return "\n".join(out)


def plot(results, png):
    """Strata's cost over ClickHouse's per metric and size (below 1: Strata is cheaper)."""
    if not shutil.which("gnuplot"):
        return False
    sizes = sorted(results)
    labels = None
    data = []
    for n in sizes:
        rows = [row for row in rows_for(results[n]) if row[7] and row[6] is not None]
        labels = [re.sub(r"[`*]", "", row[0]).split(" (")[0].replace('"', "'") for row in rows]
        data.append([row[6] for row in rows])
    dat = png + ".dat"
    with open(dat, "w") as f:
        for i, label in enumerate(labels):
            f.write('"%s" %s\n' % (label, " ".join("%.4f" % d[i] for d in data)))
    cols = " , ".join("'%s' using %d:xtic(1) title '%s lines'" % (dat, i + 2, f"{n:,}")
                      for i, n in enumerate(sizes))
    script = """
set terminal pngcairo size 1200,700 font ',10' noenhanced
set output '%s'
set title "Strata's cost / ClickHouse's (time per line, bytes per line, RSS, query time): below 1, Strata is cheaper"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y 10
set yrange [0.0001:10]
set grid ytics
set xtics rotate by -35 scale 0 font ',9'
set key top left
set bmargin 12
plot %s, 1 with lines lc rgb 'black' dt 2 title 'parity'
""" % (png, cols)
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
        print("plot failed: %s" % e)
        return False
    finally:
        os.unlink(dat)
    return True


BEGIN = "<!-- BEGIN GENERATED by make bench (bench/bench.py); edits here are overwritten -->"
END = "<!-- END GENERATED -->"


def write_doc(doc, results, args, mach, vers, cmdline, png_ok):
    sizes = sorted(results)
    parts = [BEGIN, "", "## Latest run", ""]
    parts.append("`%s`, finished %s." % (cmdline, results[sizes[-1]]["finished"]))
    parts.append("")
    parts.append("- Machine: %d cores (%s), %.1f GiB RAM, disk %s, Linux %s; load average "
                 "%.1f / %.1f / %.1f at the end of the run (the machine is shared: absolute "
                 "figures are noisy, ratios from the same run less so)." % (
                     mach["nproc"], mach.get("cpu", "?"), mach.get("ram_gib", 0),
                     mach["disk"], mach["kernel"], *mach["load"]))
    parts.append("- Versions: %s; ClickHouse %s; built with %s (%s); zstd CLI %s, libzstd %s." % (
        vers["strata"], results[sizes[-1]].get("clickhouse_version", "?"), vers["cc"],
        args.opt or "the Makefile's flags", vers["zstd"], vers["libzstd"]))
    parts.append("- Strata: `--wal.sync=always` (every push fdatasynced before its 2xx, group "
                 "commit), the defaults otherwise; limits lifted for the old corpus "
                 "(`--limits.reject-old-samples=false --max-retention-time=0`, no rate or stream "
                 "limits), and `--store.out-of-order-window=24h` (the day is replayed in seconds: "
                 "concurrent pushes can finish more than an hour of corpus time apart). "
                 "`build/loadgen` pushes batches of at most %s of lines (promtail's "
                 "default `batchsize` is 1 MiB) over %d connections "
                 "(JSON: every line, tenant `%s`; the other paths: the first %s lines each, to "
                 "their own tenants). Then `POST /api/v1/admin/flush` flushes and compacts. Bytes "
                 "on disk: the part files of tenant `%s` (WAL checkpointed away)." % (
                     human_bytes(args.push_batch_bytes), args.connections, TENANT,
                     f"{min(args.path_lines, sizes[-1]):,}", TENANT))
    parts.append("- ClickHouse: `MergeTree ORDER BY (app, host, level, ts)`, columns `ts Int64, "
                 "app, host, level, line String`, zstd for every part (`<compression>` in "
                 "bench/clickhouse/config.xml); %d concurrent `INSERT ... FORMAT TabSeparated` "
                 "of %s lines over HTTP; then `OPTIMIZE TABLE logs FINAL`; bytes: "
                 "`system.parts.bytes_on_disk`. ClickHouse 18.16 does not fsync inserted parts. "
                 "Each server ingests alone (the other is stopped). Sizes up to %s lines are "
                 "ingested %d times by each server, each time from empty, and the run of median "
                 "lines/s is reported (with its CPU and peak RSS): one such ingest lasts a few "
                 "seconds, which the noise of a shared machine moves by 10%%." % (
                     args.connections, f"{args.ch_batch:,}", f"{args.short_ingest_lines:,}",
                     args.short_ingest_runs))
    parts.append("- Queries over the corpus's day (2026-01-01), tenant `%s`, `limit=100` backward "
                 "for log queries; warm: the median of %d runs after one warm-up; cold: one run "
                 "after restarting both servers and %s. Time is measured by the client, request "
                 "sent to the last byte of the answer read. \"same answer\" means the same "
                 "lines (log queries) or the same count per level and minute." % (
                     TENANT, args.runs,
                     {"drop_caches": "`echo 3 > /proc/sys/vm/drop_caches`",
                      "fadvise": "evicting both servers' files from the page cache with "
                                 "`posix_fadvise(POSIX_FADV_DONTNEED)` (drop_caches was refused)",
                      None: "(cold runs skipped)"}[results[sizes[-1]].get("cold_method")]))
    parts.append("")
    for n in sizes:
        r = results[n]
        parts.append("### %s lines (%.0f bytes of corpus)" % (f"{n:,}", r["corpus_bytes"]))
        parts.append("")
        parts.append(table_md(rows_for(r)))
        parts.append("")
        cs = r["ch_size"]["columns"]
        if cs:
            parts.append("ClickHouse bytes/line by column: " + ", ".join(
                "%s %.2f" % (k, v / n) for k, v in sorted(cs.items())) + ".")
        sp = r.get("strata_parts") or {}
        if sp:
            parts.append("Strata bytes/line by section: " + ", ".join(
                "%s %.2f" % (k, v / n) for k, v in sp.items()) + ".")
        blocks = ["%s %s/%s" % (q["title"], r["queries"][q["key"]]["strata"].get("blocks_read"),
                                r["queries"][q["key"]]["strata"].get("blocks_total"))
                  for q in QUERIES]
        parts.append("Strata blocks read/considered: " + "; ".join(blocks) + ".")
        parts.append("")
    if len(sizes) > 1:
        parts.append("### Scaling")
        parts.append("")
        parts.append(scaling_md(results))
        parts.append("")
    if png_ok:
        parts.append("![Strata's cost over ClickHouse's](img/bench-ratios.png)")
        parts.append("")
    parts.append("The queries (the needle and the regex are picked from the middle of each "
                 "corpus, each found in at most 20 lines, so that both systems read the whole "
                 "day; these are the %s-line run's):" % f"{sizes[-1]:,}")
    parts.append("")
    parts.append("| query | LogQL (Strata) | SQL (ClickHouse) |")
    parts.append("|---|---|---|")
    for q in results[sizes[-1]]["query_defs"]:
        parts.append("| %s | `%s` | `%s` |" % (q["title"], q["logql"].replace("|", "\\|"),
                                               q["sql"].replace("|", "\\|")))
    parts.append("")
    parts.append(END)
    text = "\n".join(parts)
    old = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    with open(doc, "w") as f:
        f.write(new)


def estimate(sizes, out_dir):
    """Seconds the run should take, from rates measured on this machine."""
    total = 60.0
    for n in sizes:
        m = n / 1e6
        cached = any(f.startswith("corpus-%d-" % n) for f in os.listdir(out_dir))
        total += (0 if cached else 40 * m) + 30 * m + 20
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--lines", default="1000000 10000000",
                    help="corpus sizes, space or comma separated")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--path-lines", type=int, default=2000000,
                    help="lines pushed through each path other than JSON")
    ap.add_argument("--ch-batch", type=int, default=1000000, help="lines per ClickHouse INSERT")
    ap.add_argument("--push-batch-bytes", type=int, default=1 << 20,
                    help="line bytes per Strata push at most (promtail's default batch size)")
    ap.add_argument("--short-ingest-lines", type=int, default=2000000,
                    help="sizes up to this many lines ingest --short-ingest-runs times")
    ap.add_argument("--short-ingest-runs", type=int, default=3,
                    help="ingests of a short size, each from empty; the median run is reported")
    ap.add_argument("--zstd19-lines", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--no-doc", action="store_true", help="print only; leave docs/ alone")
    ap.add_argument("--keep", action="store_true", help="keep the servers' data directories")
    ap.add_argument("--opt", default="", help="the compiler flags (for the report)")
    args = ap.parse_args()
    sizes = [int(x) for x in re.split(r"[ ,]+", args.lines.strip()) if x]
    os.makedirs(args.out, exist_ok=True)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for tool in (os.path.join(args.build, "strata"), os.path.join(args.build, "loadgen"),
                 CLICKHOUSE, shutil.which("zstd") or "zstd"):
        if not os.path.exists(tool):
            sys.exit("bench: %s is missing (make bench builds Strata; scripts/bootstrap bench "
                     "installs ClickHouse and zstd)" % tool)
    mach = machine()
    est = estimate(sizes, args.out)
    print("bench: %s lines on %d cores, load average %.1f; this should take about %.0f minutes "
          "(more on a busy machine)" % (" and ".join(f"{n:,}" for n in sizes), mach["nproc"],
                                        mach["load"][0], est / 60), flush=True)
    logf = open(os.path.join(args.out, "bench.log"), "a")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()
    t0 = time.monotonic()
    results = {}
    try:
        for n in sizes:
            results[n] = bench_size(args, n, log)
    finally:
        stop_all()
    mach = machine()
    vers = versions(args.build)
    cmdline = "make bench BENCH_LINES=\"%s\"" % " ".join(str(n) for n in sizes)
    for n in sizes:
        print()
        print("%s lines:" % f"{n:,}")
        print(table_md(rows_for(results[n])))
    if len(sizes) > 1:
        print()
        print(scaling_md(results))
    if not args.no_doc:
        png = os.path.join(os.path.dirname(args.doc), "img", "bench-ratios.png")
        os.makedirs(os.path.dirname(png), exist_ok=True)
        png_ok = plot(results, png)
        write_doc(args.doc, results, args, mach, vers, cmdline, png_ok)
        print("\nwrote %s%s" % (args.doc, " and " + png if png_ok else ""))
    print("bench: done in %.1f minutes" % ((time.monotonic() - t0) / 60))


if __name__ == "__main__":
    main()
