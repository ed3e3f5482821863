#!/usr/bin/python3
"""The query set over data in S3 against the same data on local disk (bench/s3_bench.sh).

Starts a Swift with s3api on loopback (tests/integration/swift_s3.py), then three Strata
processes on free ports: "local" (no bucket, parts kept on disk), "writer" (the same data
pushed, aged out to the bucket and deleted locally) and "querier" (--target=querier, a fresh
data directory: nothing cached). Pushes a corpus from bench/make-corpus.py spanning six hours
that ended two hours ago to local and writer, flushes both, and runs each query:

  local           median of 3 runs after one warm-up (parts mapped, page cache warm)
  s3 cold         the first run on a querier just started with an empty cache directory
  s3 warm         median of 3 further runs (indexes open, blocks in the disk cache)

and the bytes the querier fetched from S3 for the cold run and for one warm run. Prints one
markdown table (docs/S3.md keeps the figures). Run from the repository root with Debian's
python (python3-swift): /usr/bin/python3 bench/s3_bench.py --lines 1000000
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = 10**9

QUERIES = [
    ("selective selector", '{app="apache", host="apache-01", level="error"}'),
    ("selector + |= needle", '{app="apache"} |= "workerEnv in error state 1"'),
    ("|= needle over everything", '{app=~".+"} |= "zzzz-not-there"'),
    ("|~ regex over everything", '{app=~".+"} |~ "error state [0-9]+0$"'),
    ("| json | duration_ms > 500", '{app=~"healthapp|hadoop|android"} | json | duration_ms > 500'),
    ("sum by (level) (count_over_time([1m]))", 'sum by (level) (count_over_time({app=~".+"}[1m]))'),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=600):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def post(url, body, headers=None, timeout=600):
    req = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def wait_http(url, what, proc=None, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            sys.exit("%s exited with %s" % (what, proc.returncode))
        try:
            if get(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("%s did not start" % what)


class Proc:
    def __init__(self, args, log, ready_url, what):
        self.log = open(log, "ab")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(ready_url, what, self.p)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def strata(binary, out, name, extra):
    port = free_port()
    data = tempfile.mkdtemp(prefix=name + "-", dir=out)
    args = [binary, "--http-listen-addr=127.0.0.1:%d" % port,
            "--grpc-listen-addr=127.0.0.1:%d" % free_port(), "--data-dir=" + data,
            "--limits.ingestion-rate-mb=0", "--limits.max-global-streams-per-user=0",
            "--server.max-body-bytes=256MiB", "--log.level=warn"] + extra
    p = Proc(args, os.path.join(out, name + ".log"), "http://127.0.0.1:%d/ready" % port, name)
    p.url = "http://127.0.0.1:%d" % port
    p.data = data
    return p


def metric(url, name):
    _, body = get(url + "/metrics")
    for line in body.decode().splitlines():
        k, _, v = line.rpartition(" ")
        if k == name:
            return float(v)
    return 0.0


def run_query(url, query, start, end):
    metric_query = query.startswith("sum")
    params = {"query": query, "start": str(start), "end": str(end), "limit": "100",
              "direction": "backward"}
    if metric_query:
        params["step"] = "60"
    t0 = time.monotonic()
    status, body = get(url + "/loki/api/v1/query_range?" + urllib.parse.urlencode(params))
    dt = time.monotonic() - t0
    if status != 200:
        sys.exit("query %r: %d %s" % (query, status, body[:300]))
    data = json.loads(body)["data"]
    n = sum(len(r.get("values", [])) for r in data["result"])
    return dt, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "strata"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    out = tempfile.mkdtemp(prefix="s3bench-", dir=a.out)
    procs = []
    try:
        # the corpus: six hours that ended two hours ago (older than --max-retention-time=1h)
        end_s = int(time.time()) // 60 * 60 - 2 * 3600
        start_s = end_s - 6 * 3600
        corpus = os.path.join(out, "pushes.ndjson")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make-corpus.py"),
                        "--lines", str(a.lines),
                        "--format", "loki", "--batch", "2000",
                        "--start", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_s)),
                        "--span", str(6 * 3600), "--out", corpus], check=True)
        # Swift, one process on loopback (ports P and P+10..P+12)
        while True:
            sp = free_port()
            if sp + 12 < 65535:
                break
        swift = Proc(["/usr/bin/python3", os.path.join(ROOT, "tests", "integration", "swift_s3.py"),
                      os.path.join(out, "swift"), str(sp)], os.path.join(out, "swift.log"),
                     "http://127.0.0.1:%d/healthcheck" % sp, "swift")
        procs.append(swift)
        yaml = os.path.join(out, "s3.yaml")
        with open(yaml, "w") as f:
            f.write("remote_store:\n  provider: swift\n  endpoint: \"127.0.0.1:%d\"\n"
                    "  bucket: logs\n  access_key: \"test:tester\"\n  secret_key: testing\n"
                    "  create_bucket_on_empty: true\n" % sp)
        local = strata(a.binary, out, "local", ["--max-retention-time=0"])
        procs.append(local)
        writer = strata(a.binary, out, "writer", ["--store-config-path=" + yaml,
                                                  "--max-retention-time=1h"])
        procs.append(writer)
        t0 = time.monotonic()
        with open(corpus, "rb") as f:
            bodies = f.read().splitlines()

        def push_all(url):
            for b in bodies:
                post(url + "/loki/api/v1/push", b, {"Content-Type": "application/json"})
        th = [threading.Thread(target=push_all, args=(p.url,)) for p in (local, writer)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        push_s = time.monotonic() - t0
        t0 = time.monotonic()
        post(local.url + "/api/v1/admin/flush", b"")
        local_flush = time.monotonic() - t0
        t0 = time.monotonic()
        post(writer.url + "/api/v1/admin/flush", b"")
        upload_s = time.monotonic() - t0
        stored = metric(writer.url, 'strata_tier_disk_bytes{tier="s3"}')
        local_bytes = metric(local.url, 'strata_tier_disk_bytes{tier="local"}')
        left = metric(writer.url, 'strata_tier_parts{tier="local"}')
        if left:
            sys.exit("the writer still has %d local parts" % left)
        print("strata %s; %d lines over 6 h; pushed in %.1fs; local flush+compaction %.1fs; "
              "writer flush+upload+bucket compaction %.1fs" %
              (subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              cwd=ROOT).stdout.decode().strip(), a.lines, push_s, local_flush,
               upload_s))
        print("bytes: %d on local disk, %d in the bucket (%d parts)\n" %
              (local_bytes, stored, metric(writer.url, 'strata_tier_parts{tier="s3"}')))
        start, end = start_s * NS, (end_s + 60) * NS
        rows = []
        for name, q in QUERIES:
            run_query(local.url, q, start, end)
            lt = statistics.median(run_query(local.url, q, start, end)[0] for _ in range(3))
            querier = strata(a.binary, out, "querier", ["--store-config-path=" + yaml,
                                                        "--target=querier"])
            before = metric(querier.url, "strata_s3_fetched_bytes_total")
            cold, n = run_query(querier.url, q, start, end)
            mid = metric(querier.url, "strata_s3_fetched_bytes_total")
            warm = [run_query(querier.url, q, start, end)[0] for _ in range(3)]
            after = metric(querier.url, "strata_s3_fetched_bytes_total")
            querier.stop()
            shutil.rmtree(querier.data, ignore_errors=True)
            rows.append((name, n, lt, cold, statistics.median(warm), mid - before,
                         (after - mid) / 3))
        print("| query (limit 100, 6 h) | results | local | S3 cold | S3 warm | fetched cold "
              "| fetched warm |")
        print("|---|---|---|---|---|---|---|")
        for name, n, lt, cold, warm, fc, fw in rows:
            print("| `%s` | %d | %.0f ms | %.0f ms | %.0f ms | %.1f%% (%d KiB) | %d B |" %
                  (name, n, lt * 1000, cold * 1000, warm * 1000, 100 * fc / stored,
                   fc / 1024, fw))
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
