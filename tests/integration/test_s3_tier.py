"""The object-storage tier (issue [5/10], part 2) against a real S3: Swift's s3api.

Every test starts its own Swift (test_s3.Swift) on free loopback ports and stops it by pid.
Data is pushed with timestamps hours old and --max-retention-time=1h, so that a flush
(POST /api/v1/admin/flush, or the upkeep) hands the local parts to the bucket at once.
Swift verifies every signature: no server log may mention SignatureDoesNotMatch, and the
error counter must not have that code. boto3 is the independent client that checks what
landed in the bucket.
"""
import json
import os
import re
import threading
import time

import golden
from harness import TestFailure, check, eq, free_port, http, wait_until
from test_s3 import FaultProxy, Swift, store_yaml

NS = 10**9


# ---- helpers ---------------------------------------------------------------------------------

def s3_server(env, endpoint, *flags, data_dir=None, name="strata"):
    """A server with a bucket at endpoint (created if missing) and fast client retries."""
    path = os.path.join(env.scratch, "%s-%d.yaml" % (name, free_port()))
    with open(path, "w") as f:
        f.write(store_yaml(endpoint))
    # (no gRPC listener: these tests push over HTTP)
    args = golden.neutral_flags(env.binary) + [
        "--grpc-listen-addr=", "--store-config-path=" + path, "--s3.retry-base-delay=50ms",
        "--s3.retry-max-delay=200ms", "--max-retention-time=1h"] + list(flags)
    return env.server(args, data_dir=data_dir, name=name)


def metrics(srv):
    out = {}
    for line in srv.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def metric(srv, key):
    return metrics(srv).get(key, 0.0)


def tier_parts(srv, tier):
    return int(metric(srv, 'strata_tier_parts{tier="%s"}' % tier))


def check_no_signature_errors(*servers):
    for srv in servers:
        with open(srv.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        check("SignatureDoesNotMatch" not in text, "%s: a signature was refused:\n%s" %
              (srv.name, text[-3000:]))
        if srv.proc and srv.proc.poll() is None:
            check(metric(srv, 'strata_s3_errors_total{code="SignatureDoesNotMatch"}') == 0,
                  "SignatureDoesNotMatch counted")


def lines_for(app, n, start_ns, step_ns=NS, needle_at=None):
    """n entries of one stream, deterministic; needle_at: the index whose line holds a needle."""
    out = []
    for i in range(n):
        ts = start_ns + i * step_ns
        line = "%s request id=%06d status=%d duration_ms=%d path=/api/v%d/items/%d" % (
            app, i, (200, 404, 500)[i % 3], (i * 37) % 1000, i % 4, (i * 7919) % 100000)
        if i == needle_at:
            line += " needle-zebra-%s" % app
        out.append([str(ts), line])
    return out


def push(srv, tenant, streams, expect=204):
    body = {"streams": [{"stream": labels, "values": values} for labels, values in streams]}
    r = http("POST", srv.url + "/loki/api/v1/push", body=body,
             headers={"Content-Type": "application/json", "X-Scope-OrgID": tenant})
    if expect is not None:
        eq(r.status, expect, "push status (%r)" % r.text[:300])
    return r


def total(srv, tenant, selector='{app=~".+"}', at_ns=None):
    """Entries matching selector within the last 30 days, by an instant count query."""
    at_ns = at_ns or time.time_ns()
    r = srv.get("/loki/api/v1/query", {"query": "sum(count_over_time(%s[30d]))" % selector,
                                        "time": str(at_ns)}, {"X-Scope-OrgID": tenant})
    eq(r.status, 200, "count query (%r)" % r.text[:300])
    res = r.json()["data"]["result"]
    return int(res[0]["value"][1]) if res else 0


def flush(srv, timeout=120):
    return http("POST", srv.url + "/api/v1/admin/flush", timeout=timeout)


def writer_prefix(srv):
    with open(os.path.join(srv.data_dir, "s3-writer-id")) as f:
        return "strata/" + f.read().strip()


def manifest(sw, prefix, bucket="logs"):
    body = sw.boto3().get_object(Bucket=bucket, Key=prefix + "/manifest.json")["Body"].read()
    return json.loads(body)


def bucket_keys(sw, prefix, bucket="logs"):
    b3 = sw.boto3()
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix + "/"}
        if token:
            kw["ContinuationToken"] = token
        r = b3.list_objects_v2(**kw)
        keys += [o["Key"] for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            return keys
        token = r["NextContinuationToken"]


# ---- the golden suite from the bucket ---------------------------------------------------------

def test_s3_tier_golden_suite_from_the_bucket(env):
    """[4/10]'s golden cases answer the same with every part in S3 (and none left locally)."""
    sw = Swift(env)
    made = []

    def make(env_):
        srv = s3_server(env_, sw.endpoint)
        made.append(srv)
        return srv

    golden.run_suite(env, make)
    srv = made[0]
    # run_suite checked every case again after the flush; by then the head and local disk
    # held nothing: all answers came from the bucket
    eq(tier_parts(srv, "head"), 0, "head parts")
    eq(tier_parts(srv, "local"), 0, "local parts")
    check(tier_parts(srv, "s3") >= 13, "parts in the bucket: %d" % tier_parts(srv, "s3"))
    check(metric(srv, 'strata_s3_tier_uploads_total{result="ok"}') >= 13, "uploads counted")
    m = manifest(sw, writer_prefix(srv))
    eq(sum(p["entries"] for p in m["parts"]),
       sum(len(gf.data) for gf in golden.load_files()), "entries listed in the manifest")
    check_no_signature_errors(srv)


# ---- reading little of what is stored --------------------------------------------------------

def test_s3_tier_selective_query_fetches_a_small_fraction(env):
    """A querier with a cold cache answers a needle query over one stream with a few ranged
    GETs: footer and index, that stream's bloom filters, and the one block they let through."""
    sw = Swift(env)
    w = s3_server(env, sw.endpoint, "--store.block-size=16KiB", "--store.flush-bloom-filters",
                  name="writer")
    start = (time.time_ns() // NS - 3 * 3600) * NS
    streams = [({"app": "app%02d" % a, "env": "prod"},
                lines_for("app%02d" % a, 1500, start + a * 1000, needle_at=700 if a == 7 else None))
               for a in range(24)]
    push(w, "fake", streams)
    eq(flush(w).status, 200, "flush")
    wait_until(lambda: tier_parts(w, "local") == 0, 60, what="the upload")
    stored = sum(p["size"] for p in manifest(sw, writer_prefix(w))["parts"])
    q = s3_server(env, sw.endpoint, "--target=querier", name="querier")
    before = metrics(q)
    r = q.query_range('{app="app07"} |= "needle-zebra-app07"', start, start + 4 * 3600 * NS,
                      tenant="fake")
    res = r.json()["data"]["result"]
    eq(len(res), 1, "streams")
    eq(len(res[0]["values"]), 1, "lines")
    check("needle-zebra-app07" in res[0]["values"][0][1], res[0]["values"][0][1])
    after = metrics(q)
    fetched = after["strata_s3_fetched_bytes_total"] - before.get("strata_s3_fetched_bytes_total", 0)
    gets = after['strata_s3_requests_total{op="get"}'] - before.get(
        'strata_s3_requests_total{op="get"}', 0)
    ratio = fetched / stored
    print("selective query: fetched %d of %d bytes stored (%.2f%%) in %d GETs" %
          (fetched, stored, 100 * ratio, gets))
    check(ratio < 0.10, "fetched %d of %d bytes (%.1f%%)" % (fetched, stored, 100 * ratio))
    # the same query again: everything from memory and the disk cache
    before = metrics(q)
    q.query_range('{app="app07"} |= "needle-zebra-app07"', start, start + 4 * 3600 * NS,
                  tenant="fake")
    eq(metric(q, "strata_s3_fetched_bytes_total"), before["strata_s3_fetched_bytes_total"],
       "bytes fetched by the warm query")
    # a scan of everything gives the same counts as pushed; the ~9 blocks of each stream,
    # next to each other in the object, come in one ranged GET (the first blocks of all 24
    # streams in one more), not one GET each
    before = metrics(q)
    eq(total(q, "fake"), 24 * 1500, "entries read from the bucket")
    gets = metric(q, 'strata_s3_requests_total{op="get"}') - before[
        'strata_s3_requests_total{op="get"}']
    check(gets <= 24 + 2, "GETs for a scan of one part: %d" % gets)
    check_no_signature_errors(w, q)


# ---- S3 down ------------------------------------------------------------------------------------

def test_s3_tier_outage_keeps_ingest_and_local_queries(env):
    sw = Swift(env)
    srv = s3_server(env, sw.endpoint, "--compact-duration=1s", "--s3.max-retries=1")
    old = (time.time_ns() // NS - 3 * 3600) * NS
    push(srv, "fake", [({"app": "a"}, lines_for("a", 400, old)),
                       ({"app": "b"}, lines_for("b", 300, old))])
    sw.stop()
    # the flush writes local parts; their hand-over fails (and is retried later)
    flush(srv)
    check(tier_parts(srv, "local") >= 1, "local parts kept while S3 is down")
    eq(tier_parts(srv, "s3"), 0, "nothing in the bucket")
    # ingest goes on, and queries of local data answer
    recent = time.time_ns() - 60 * NS
    push(srv, "fake", [({"app": "c"}, lines_for("c", 200, recent, step_ns=NS // 10))])
    eq(total(srv, "fake"), 900, "entries while S3 is down")
    eq(total(srv, "fake", '{app="a"}'), 400, "entries of a")
    time.sleep(2)
    check(metric(srv, 'strata_s3_tier_uploads_total{result="error"}') >= 1, "failed uploads")
    check("could not be handed to s3" in srv.log_tail(200), srv.log_tail(40))
    # Swift comes back on the same port with the same data: the uploads go through
    sw.start()
    wait_until(lambda: tier_parts(srv, "local") == 0 and tier_parts(srv, "s3") >= 1, 120, 0.5,
               what="the retried uploads")
    eq(total(srv, "fake"), 900, "entries after S3 came back")
    eq(total(srv, "fake", '{app="b"}'), 300, "entries of b")
    flush(srv)
    eq(total(srv, "fake"), 900, "entries with everything flushed")
    m = manifest(sw, writer_prefix(srv))
    eq(sum(p["entries"] for p in m["parts"]), 700, "entries in the bucket (the old ones)")
    check_no_signature_errors(srv)


# ---- crashes -----------------------------------------------------------------------------------

def test_s3_tier_sigkill_during_hand_over_loses_and_duplicates_nothing(env):
    """SIGKILL while the manifest PUT is on its way (part uploaded, not committed), and while
    its answer is (committed, local copy not yet deleted): after each restart every entry is
    counted once, and in the end each is in the bucket once."""
    sw = Swift(env)
    px = FaultProxy(env, sw.port, [])
    data_dir = env.tmpdir("crash-data")
    tenants = ["t1", "t2", "t3", "t4"]
    old = (time.time_ns() // NS - 5 * 3600) * NS
    pushed = {}

    def start():
        return s3_server(env, px.endpoint, "--compact-duration=1h", "--s3.request-timeout=60s",
                         data_dir=data_dir, name="crashy")

    srv = start()
    for i, t in enumerate(tenants):
        push(srv, t, [({"app": "x%d" % k}, lines_for("x%d" % k, 250, old + i * NS))
                      for k in range(3)])
        pushed[t] = 750

    def is_manifest_put(method, path):
        return method == "PUT" and path.split("?")[0].endswith("/manifest.json")

    # "hang": the PUT never reaches Swift (a late delivery after the restart would be a
    # write from a dead process); "delay_after": it lands, the answer never comes back
    for action in (("hang", 60), ("delay_after", 60)):
        px.rules = [(is_manifest_put, action)]
        n_seen = len(px.seen)
        threading.Thread(target=_quiet_flush, args=(srv,), daemon=True).start()
        wait_until(lambda: any(is_manifest_put(m, p) for m, p in px.seen[n_seen:]), 60,
                   what="a manifest PUT")
        time.sleep(0.2)
        srv.kill9()
        px.rules = []
        srv = start()
        for t in tenants:
            eq(total(srv, t), pushed[t], "entries of %s after a SIGKILL (%s)" % (t, action[0]))
    # let every hand-over finish
    wait_until(lambda: flush(srv).status == 200 and tier_parts(srv, "local") == 0, 120, 1,
               what="all parts in the bucket")
    with open(srv.log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    # the part whose commit was answered too late is found in the manifest, not sent again
    check("is in the bucket already" in log, log[-3000:])
    for t in tenants:
        eq(total(srv, t), pushed[t], "entries of %s at the end" % t)
    m = manifest(sw, writer_prefix(srv))
    keys = [p["key"] for p in m["parts"]]
    eq(len(keys), len(set(keys)), "keys listed once")
    by_tenant = {}
    for p in m["parts"]:
        by_tenant[p["tenant"]] = by_tenant.get(p["tenant"], 0) + p["entries"]
    eq(by_tenant, pushed, "entries in the bucket per tenant")
    # nothing under the prefix but the manifest, its parts and retired ones (orphans go)
    listed = set(keys) | {r["key"] for r in m["retired"]} | {writer_prefix(srv) + "/manifest.json"}
    wait_until(lambda: set(bucket_keys(sw, writer_prefix(srv))) <= listed, 30, 1,
               what="orphans deleted")
    check_no_signature_errors(srv)


def _quiet_flush(srv):
    try:
        flush(srv, timeout=120)
    except Exception:  # noqa: BLE001 - the server is killed under it
        pass


# ---- scale-out: several writers, one read-only querier ---------------------------------------

def test_s3_tier_querier_serves_what_two_writers_upload(env):
    sw = Swift(env)
    old = (time.time_ns() // NS - 3 * 3600) * NS
    w1 = s3_server(env, sw.endpoint, name="writer1")
    w2 = s3_server(env, sw.endpoint, name="writer2")
    push(w1, "fake", [({"app": "one"}, lines_for("one", 300, old))])
    push(w2, "fake", [({"app": "two"}, lines_for("two", 200, old))])
    push(w2, "other", [({"app": "two"}, lines_for("two", 50, old))])
    for w in (w1, w2):
        eq(flush(w).status, 200, "flush")
    p1, p2 = writer_prefix(w1), writer_prefix(w2)
    check(p1 != p2, "each writer has its own prefix")
    q = s3_server(env, sw.endpoint, "--target=querier", "--s3.refresh-interval=1s",
                  name="querier")
    eq(total(q, "fake"), 500, "entries of both writers")
    eq(total(q, "fake", '{app="two"}'), 200, "entries of writer 2")
    eq(total(q, "other"), 50, "another tenant")
    r = q.get("/loki/api/v1/label/app/values", {"start": str(old - NS),
                                                 "end": str(old + 3600 * NS)})
    eq(r.json()["data"], ["one", "two"], "label values")
    r = q.get("/api/v1/query", {"expression": "service=two", "start": str(old // NS),
                                "end": str(old // NS + 3600), "resolution": "0s"})
    eq(r.status, 200, "LogsGO API on the querier")
    # a querier takes no pushes
    r = push(q, "fake", [({"app": "x"}, [[str(time.time_ns()), "no"]])], expect=None)
    eq(r.status, 501, "push to a querier (%r)" % r.text)
    # what a writer uploads later shows up within the refresh interval
    push(w1, "fake", [({"app": "one"}, lines_for("one", 100, old + 1000 * NS))])
    eq(flush(w1).status, 200, "flush")
    wait_until(lambda: total(q, "fake") == 600, 30, 0.5, what="the querier's refresh")
    # queries from several threads while the writer uploads and compacts and the querier
    # swaps manifests: each sees the data before or after, never a mix or a double
    seen, errors = [], []

    def reader():
        try:
            for _ in range(6):
                seen.append(total(q, "fake"))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    push(w1, "fake", [({"app": "one"}, lines_for("one", 100, old + 2000 * NS))])
    eq(flush(w1).status, 200, "flush")
    for t in threads:
        t.join()
    eq(errors, [], "query errors")
    check(set(seen) <= {600, 700}, "totals seen: %r" % sorted(set(seen)))
    wait_until(lambda: total(q, "fake") == 700, 30, 0.5, what="the querier's refresh")
    # each writer wrote only under its own prefix
    for p, srv in ((p1, w1), (p2, w2)):
        for part in manifest(sw, p)["parts"]:
            check(part["key"].startswith(p + "/"), part["key"])
    # a second live writer on a prefix in use is refused at start
    path = os.path.join(env.scratch, "clash.yaml")
    with open(path, "w") as f:
        f.write(store_yaml(sw.endpoint))
    import subprocess
    out = subprocess.run([env.binary, "--http-listen-addr=127.0.0.1:%d" % free_port(),
                          "--grpc-listen-addr=127.0.0.1:%d" % free_port(),
                          "--data-dir=" + env.tmpdir("clash"), "--store-config-path=" + path,
                          "--s3.prefix=" + p1], capture_output=True, timeout=60)
    text = (out.stdout + out.stderr).decode("utf-8", "replace")
    eq(out.returncode, 1, "exit code of a clashing writer (%s)" % text[-2000:])
    check("another Strata process seems to use it" in text, text[-2000:])
    check_no_signature_errors(w1, w2, q)


# ---- maintenance of the bucket ---------------------------------------------------------------

def test_s3_tier_compacts_the_bucket_and_applies_retention(env):
    sw = Swift(env)
    data_dir = env.tmpdir("maint-data")
    srv = s3_server(env, sw.endpoint, "--compact-duration=1h", "--s3.delete-delay=1s",
                    data_dir=data_dir)
    day_old = (time.time_ns() // NS - 50 * 3600) * NS
    prefix = writer_prefix(srv)
    for k in range(3):
        push(srv, "fake", [({"app": "m"}, lines_for("m", 200, day_old + k * 200 * NS))])
        eq(flush(srv).status, 200, "flush %d" % k)
    # three uploads of one tenant-day; the forced compaction of each flush left one part
    m = manifest(sw, prefix)
    eq(len(m["parts"]), 1, "parts after compaction: %r" % [p["key"] for p in m["parts"]])
    eq(m["parts"][0]["entries"], 600, "entries of the merged part")
    check(m["parts"][0]["level"] >= 2, "level of a part compacted in the bucket")
    eq(total(srv, "fake"), 600, "entries")
    check(metric(srv, 'strata_s3_tier_compactions_total{result="ok"}') >= 2, "compactions")
    # replaced objects leave the manifest at once and the bucket after --s3.delete-delay
    wait_until(lambda: flush(srv).status == 200 and not manifest(sw, prefix)["retired"], 30, 1,
               what="retired objects deleted")
    eq(sorted(bucket_keys(sw, prefix)), sorted([m["parts"][0]["key"], prefix + "/manifest.json"]),
       "objects left")
    # retention: a restart with --retention shorter than the data's age deletes it
    srv.stop()
    srv = s3_server(env, sw.endpoint, "--compact-duration=1h", "--s3.delete-delay=1s",
                    "--retention=36h", data_dir=data_dir)
    wait_until(lambda: flush(srv).status == 200 and not manifest(sw, prefix)["parts"]
               and not manifest(sw, prefix)["retired"], 60, 1, what="retention")
    eq(bucket_keys(sw, prefix), [prefix + "/manifest.json"], "objects after retention")
    eq(total(srv, "fake"), 0, "entries after retention")
    check_no_signature_errors(srv)


def test_s3_tier_options_are_checked(env):
    sw = Swift(env)
    path = os.path.join(env.scratch, "s3.yaml")
    with open(path, "w") as f:
        f.write(store_yaml(sw.endpoint))
    import subprocess

    def run(*args):
        p = subprocess.run([env.binary, "--http-listen-addr=127.0.0.1:%d" % free_port(),
                            "--grpc-listen-addr=127.0.0.1:%d" % free_port(),
                            "--data-dir=" + env.tmpdir("opts")] + list(args),
                           capture_output=True, timeout=60)
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")

    rc, out = run("--target=querier")
    check(rc != 0 and "--target=querier serves a bucket" in out, out)
    rc, out = run("--target=ingester", "--store-config-path=" + path)
    check(rc != 0 and 'invalid value "ingester" for --target' in out, out)
    rc, out = run("--store-config-path=" + path, "--s3.prefix=a//b")
    check(rc != 0 and "is not a prefix" in out, out)
    rc, out = run("--target=querier", "--store-config-path=" + path, "--s3.read-prefixes=x/../y")
    check(rc != 0 and "--s3.read-prefixes" in out, out)
    # a manifest that does not parse stops the writer instead of being overwritten
    sw.boto3().put_object(Bucket="logs", Key="broken/manifest.json", Body=b"{not json")
    rc, out = run("--store-config-path=" + path, "--s3.prefix=broken")
    check(rc != 0 and "manifest broken/manifest.json" in out and "cannot start" in out, out)
    eq(sw.boto3().get_object(Bucket="logs", Key="broken/manifest.json")["Body"].read(),
       b"{not json", "the broken manifest is left alone")
    for m in re.findall(r"SignatureDoesNotMatch", out):
        raise TestFailure("signature refused: %s" % m)
