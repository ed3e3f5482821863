"""The S3 client against a real S3: OpenStack Swift's s3api, which checks every signature.

Each test starts its own Swift (tests/integration/swift_s3.py) on free loopback ports and
stops it by pid. The client is driven through build/tools/s3tool (tests/tools/s3tool.c: one
operation per run, the client's counters on stderr) and through the real strata binary;
boto3 (Debian's python3-boto3) is the independent client that checks what landed in the
bucket. No request of a test that expects success may fail: s3tool's "errors=" counter
must stay 0, so a SignatureDoesNotMatch anywhere fails the test.
"""
import http.client
import http.server
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

from harness import SANITIZER_MARKERS, TestFailure, check, eq, free_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
SWIFT_PY = os.path.join(HERE, "swift_s3.py")
ACCESS, SECRET = "test:tester", "testing"


def port_free(p):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False


def free_swift_base():
    """A port P with P+10..P+12 free as well (Swift's backends)."""
    for _ in range(200):
        p = free_port()
        if p + 12 < 65535 and all(port_free(p + d) for d in (10, 11, 12)):
            return p
    raise TestFailure("no free port range for Swift")


class Swift:
    """One single-process Swift with s3api on 127.0.0.1, stopped by pid at cleanup."""

    def __init__(self, env, tls=None):
        self.env = env
        self.dir = env.tmpdir("swift")
        self.port = free_swift_base()
        self.tls = tls  # (cert, key) PEM paths, or None
        self.proc = None
        self.start()
        env.on_cleanup(self.stop)

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def start(self):
        log = open(os.path.join(self.env.scratch, "swift-%d.log" % self.port), "ab")
        args = ["/usr/bin/python3", SWIFT_PY, self.dir, str(self.port)]
        if self.tls:
            args += list(self.tls)
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls[0])

        def up():
            if self.proc.poll() is not None:
                raise TestFailure("swift exited with %s" % self.proc.returncode)
            with urllib.request.urlopen(self.url + "/healthcheck", timeout=2, context=ctx) as r:
                return r.status == 200
        wait_until(up, timeout=60, interval=0.1, what="swift /healthcheck")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def boto3(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS,
                            aws_secret_access_key=SECRET, region_name="us-east-1",
                            verify=self.tls[0] if self.tls else None,
                            config=Config(s3={"addressing_style": "path"},
                                          signature_version="s3v4",
                                          retries={"max_attempts": 1}))


def store_yaml(endpoint, bucket="logs", create=True, secret=SECRET, access=ACCESS, ssl_=False,
               keys=True):
    lines = ["remote_store:", "  provider: swift", '  endpoint: "%s"' % endpoint,
             '  bucket: "%s"' % bucket, "  region: us-east-1",
             "  use_ssl: %s" % ("true" if ssl_ else "false"),
             "  create_bucket_on_empty: %s" % ("true" if create else "false")]
    if keys:
        lines += ['  access_key: "%s"' % access, '  secret_key: "%s"' % secret]
    return "\n".join(lines) + "\n"


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr.decode("utf-8", "replace")
        m = re.search(r"^stats (.*)$", self.err, re.M)
        self.stats = {}
        if m:
            for kv in m.group(1).split():
                k, v = kv.split("=")
                self.stats[k] = int(v)

    @property
    def text(self):
        return self.out.decode("utf-8", "replace")


def s3tool(env, yaml, *args, opts=(), expect_ok=True, extra_env=None, timeout=180):
    """Run one s3tool operation; a sanitizer report always fails, a failure fails when
    expect_ok (and then no request may have failed: errors=0)."""
    cmd = [os.path.join(env.build_dir, "tools", "s3tool"), "--store-config=" + yaml,
           "--s3.retry-base-delay=50ms"] + list(opts) + [str(a) for a in args]
    envv = dict(os.environ)
    envv.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    if extra_env:
        envv.update(extra_env)
    r = Result(subprocess.run(cmd, capture_output=True, timeout=timeout, env=envv))
    for m in SANITIZER_MARKERS:
        check(m not in r.err, "s3tool sanitizer report:\n%s" % r.err[-4000:])
    if expect_ok is True:
        check(r.rc == 0, "s3tool %s failed (%d):\n%s" % (args[0], r.rc, r.err[-3000:]))
        # (a check that creates the bucket first hears NoSuchBucket, by design)
        allowed = 1 if args[0] == "check" and "does not exist at" in r.err else 0
        eq(r.stats.get("errors"), allowed, "requests that failed (stderr %r)" % r.err[-2000:])
    else:
        want = 1 if expect_ok is False else expect_ok  # or the exit status asked for
        check(r.rc == want, "s3tool %s should fail with %d, got %d:\n%s"
              % (args[0], want, r.rc, r.err[-3000:]))
    check("SignatureDoesNotMatch" not in r.err or not expect_ok, "a signature was refused")
    return r


def pattern_bytes(n, seed=0):
    """Deterministic, incompressible-looking test bytes."""
    out = bytearray(n)
    x = 0x9E3779B9 ^ seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out[i] = (x >> 16) & 0xFF
    return bytes(out)


# ---- basic operations ------------------------------------------------------------------------

def test_s3_put_get_ranges_head(env):
    sw = Swift(env)
    y = store_yaml(sw.endpoint)
    r = s3tool(env, y, "check")
    check("ok bucket logs" in r.text, r.text)
    data = pattern_bytes(10000)
    path = os.path.join(env.scratch, "obj.bin")
    with open(path, "wb") as f:
        f.write(data)
    key = "tenant-1/2024-01-02/part a+b=c&d~\u00e9.bin"
    r = s3tool(env, y, "put", key, path)
    check(r.text.startswith("etag \"") and r.text.strip().endswith("parts 0"), r.text)
    # whole, range, open-ended range, suffix, a range clipped at the end
    eq(s3tool(env, y, "get", key).out, data, "whole object")
    r = s3tool(env, y, "get", key, 100, 50)
    eq(r.out, data[100:150], "range 100+50")
    check("size=10000 first=100 last=149" in r.err, r.err)
    eq(s3tool(env, y, "get", key, 9990).out, data[9990:], "from 9990 to the end")
    r = s3tool(env, y, "get-suffix", key, 64)
    eq(r.out, data[-64:], "last 64 bytes")
    check("first=9936 last=9999" in r.err, r.err)
    eq(s3tool(env, y, "get-suffix", key, 50000).out, data, "suffix longer than the object")
    eq(s3tool(env, y, "get", key, 9000, 5000).out, data[9000:], "range clipped at the end")
    r = s3tool(env, y, "head", key)
    check(r.text.startswith("10000 \""), r.text)
    # boto3 sees the same bytes under the same (encoded) key, and we read what it writes
    b3 = sw.boto3()
    eq(b3.get_object(Bucket="logs", Key=key)["Body"].read(), data, "boto3 read of our PUT")
    b3.put_object(Bucket="logs", Key="from-boto3", Body=b"written by boto3")
    eq(s3tool(env, y, "get", "from-boto3").out, b"written by boto3", "our read of boto3's PUT")
    r = s3tool(env, y, "list", "tenant-1/")
    check(("key %s 10000 " % key) in r.text, r.text)
    # errors are clear and name the endpoint and the S3 code
    r = s3tool(env, y, "get", "missing/key", expect_ok=False)
    check("[NoSuchKey]" in r.err and ("http://%s/logs/missing/key" % sw.endpoint) in r.err, r.err)
    r = s3tool(env, y, "head", "missing/key", expect_ok=False)
    check("HTTP 404 NoSuchKey" in r.err, r.err)
    r = s3tool(env, y, "get", key, 20000, 10, expect_ok=False)
    check("HTTP 416 InvalidRange" in r.err, r.err)
    r = s3tool(env, y, "put-str", "bad\x01key", "x", expect_ok=False)
    check("[InvalidKey]" in r.err, r.err)


def test_s3_list_pagination_prefixes_and_batch_delete(env):
    sw = Swift(env)
    y = store_yaml(sw.endpoint)
    s3tool(env, y, "check")
    r = s3tool(env, y, "put-many", "p/", 23)
    # one session: every PUT reused the first connection
    eq(r.stats["connections"], 1, "connections for 23 sequential PUTs")
    s3tool(env, y, "put-str", "q/x", "1")
    s3tool(env, y, "put-str", "q/y/z", "2")
    r = s3tool(env, y, "list", "p/", "", 5)
    keys = [l.split()[1] for l in r.text.splitlines() if l.startswith("key ")]
    eq(keys, ["p/%06d" % i for i in range(23)], "all keys in order over the pages")
    check("pages 5" in r.text, r.text)
    eq(r.stats["connections"], 1, "connections for 5 pages")
    r = s3tool(env, y, "list", "", "/")
    eq([l for l in r.text.splitlines() if l.startswith("prefix ")], ["prefix p/", "prefix q/"],
       "common prefixes")
    r = s3tool(env, y, "list", "q/", "/")
    check("key q/x 1 " in r.text and "prefix q/y/" in r.text, r.text)
    r = s3tool(env, y, "list", "p/", "", 1000, "p/000020")
    eq([l.split()[1] for l in r.text.splitlines() if l.startswith("key ")],
       ["p/000021", "p/000022"], "start-after")
    # DeleteObjects in batches (S3 takes at most 1000 keys per request; Swift needs ~20 s for
    # 1000, so the batches are small here): 30 keys, 23 present, batches of 8 -> 4 requests;
    # keys that do not exist count as deleted
    r = s3tool(env, y, "delete-many", "p/", 30, opts=["--s3.delete-batch-size=8"])
    eq(r.stats["requests"], 4, "DeleteObjects requests for 30 keys")
    r = s3tool(env, y, "list", "p/")
    check("key " not in r.text, r.text)
    r = s3tool(env, y, "delete-prefix", "q/")
    check("deleted 2" in r.text, r.text)
    s3tool(env, y, "delete", "q/x", "never/existed")
    eq(sw.boto3().list_objects_v2(Bucket="logs").get("KeyCount"), 0, "bucket empty")


# ---- multipart ----------------------------------------------------------------------------

def test_s3_multipart_upload_and_abort(env):
    sw = Swift(env)
    y = store_yaml(sw.endpoint)
    s3tool(env, y, "check")
    data = pattern_bytes(2_600_000, seed=7)
    path = os.path.join(env.scratch, "big.bin")
    with open(path, "wb") as f:
        f.write(data)
    r = s3tool(env, y, "put", "parts/big", path, opts=["--s3.part-size=1MiB",
                                                          "--s3.max-parallel=3"])
    check(re.search(r'etag "[0-9a-f]+-3" parts 3', r.text), r.text)
    eq(r.stats["requests"], 5, "initiate + 3 parts + complete")
    eq(r.stats["bytes_up"], len(data), "bytes uploaded")
    b3 = sw.boto3()
    eq(b3.get_object(Bucket="logs", Key="parts/big")["Body"].read(), data, "boto3 read")
    eq(s3tool(env, y, "get", "parts/big", 1_048_570, 20).out, data[1_048_570:1_048_590],
       "a range across two parts")
    # a source that fails in the third of 11 parts: the parts not sent yet are not sent, the
    # upload is aborted, and nothing is left behind
    r = s3tool(env, y, "put-failing", "parts/failed", 2_600_000, 600_000,
               opts=["--s3.part-size=256KiB", "--s3.max-parallel=2"], expect_ok=False)
    check("[SourceReadFailed]" in r.err, r.err)
    eq(r.stats["requests"], 4, "initiate, parts 1 and 2, abort (stats %r)" % r.stats)
    r = s3tool(env, y, "uploads")
    eq(r.text, "", "multipart uploads left in progress")
    eq(b3.list_multipart_uploads(Bucket="logs").get("Uploads", []), [], "boto3's view")
    s3tool(env, y, "head", "parts/failed", expect_ok=False)
    # stale uploads (a crashed writer) can be found and aborted
    up = b3.create_multipart_upload(Bucket="logs", Key="parts/stale")
    r = s3tool(env, y, "uploads", "parts/")
    eq(r.text, "upload parts/stale %s\n" % up["UploadId"], "listed")
    s3tool(env, y, "abort", "parts/stale", up["UploadId"])
    eq(s3tool(env, y, "uploads").text, "", "after abort")


def test_s3_parallel_ranged_gets(env):
    sw = Swift(env)
    y = store_yaml(sw.endpoint)
    s3tool(env, y, "check")
    data = pattern_bytes(300_000, seed=3)
    sw.boto3().put_object(Bucket="logs", Key="part", Body=data)
    ranges = [(0, 100), (299_990, 10), (150_000, 4096), (7, 1), (65536, 65536), (200_000, 1000),
              (123, 45), (250_000, 9999), (1, 2), (100_000, 3)]
    r = s3tool(env, y, "get-many", "part", *["%d:%d" % rg for rg in ranges],
               opts=["--s3.max-parallel=4"])
    eq(r.out, b"".join(data[o:o + n] for o, n in ranges), "bytes of every range, in order")
    eq(r.stats["objects_down"], len(ranges), "GETs")
    eq(r.stats["bytes_down"], sum(n for _, n in ranges), "bytes fetched")
    check(1 <= r.stats["connections"] <= 4, "at most max-parallel connections: %r" % r.stats)


def test_s3_one_client_many_threads(env):
    sw = Swift(env)
    y = store_yaml(sw.endpoint)
    s3tool(env, y, "check")
    data = pattern_bytes(20_000, seed=9)
    sw.boto3().put_object(Bucket="logs", Key="shared", Body=data)
    r = s3tool(env, y, "threads", "shared", 6, 8)
    eq(r.text, "threads 6 mismatches 0\n", "every thread read the right bytes")
    eq(r.stats["requests"], 1 + 6 * 8 * 2, "requests")
    # sessions are reused, never shared: at most one connection per concurrent caller
    check(r.stats["connections"] <= 7, "connections %r" % r.stats)


# ---- retries ------------------------------------------------------------------------------

def test_s3_retries_while_swift_restarts(env):
    sw = Swift(env)
    y = store_yaml(sw.endpoint)
    s3tool(env, y, "check")
    s3tool(env, y, "put-str", "before", "written before the outage")
    sw.stop()
    # 20 retries of at most 1 s: a window of 10 to 20 s for Swift to come back
    opts = ["--s3.max-retries=20", "--s3.retry-base-delay=200ms", "--s3.retry-max-delay=1s"]
    cmd = [os.path.join(env.build_dir, "tools", "s3tool"), "--store-config=" + y] + opts
    put = subprocess.Popen(cmd + ["put-str", "during", "written during the outage"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    get = subprocess.Popen(cmd + ["get", "before"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    # both are retrying against a closed port; bring Swift back on the same port and data
    time.sleep(1.0)
    check(put.poll() is None and get.poll() is None, "the clients gave up during the outage")
    sw.start()
    pout, perr = put.communicate(timeout=120)
    gout, gerr = get.communicate(timeout=120)
    perr, gerr = perr.decode(), gerr.decode()
    eq(put.returncode, 0, "PUT across the restart (stderr %r)" % perr[-2000:])
    eq(get.returncode, 0, "GET across the restart (stderr %r)" % gerr[-2000:])
    check("ConnectFailed" in perr and "retry 1 of 20" in perr, perr)
    check(int(re.search(r"retries=(\d+)", perr).group(1)) >= 1, perr)
    eq(gout, b"written before the outage", "GET body")
    eq(s3tool(env, y, "get", "during").out, b"written during the outage", "PUT landed")
    # with few retries the outage is a clear error naming the endpoint
    sw.stop()
    r = s3tool(env, y, "get", "before", opts=["--s3.max-retries=2"], expect_ok=False)
    check("[ConnectFailed]" in r.err and ("http://%s/logs/before" % sw.endpoint) in r.err
          and "(3 attempts)" in r.err, r.err)


class FaultProxy:
    """A loopback HTTP proxy in front of Swift that misbehaves on purpose.

    rules: a list of (match, action) consumed in order, one per request that matches:
    match(method, path) -> bool; action is ("status", code, s3code, retry_after),
    ("delay", seconds), ("delay_after", seconds: forwarded at once, answered late),
    ("hang", seconds: never forwarded, the connection closed after that long),
    ("close",) or ("error200", s3code). Other requests are forwarded unchanged (the Host
    header too, so Swift's signature check still holds).
    """

    def __init__(self, env, upstream_port, rules):
        self.rules = list(rules)
        self.lock = threading.Lock()
        self.seen = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                action = None
                with proxy.lock:
                    proxy.seen.append((self.command, self.path))
                    for i, (match, act) in enumerate(proxy.rules):
                        if match(self.command, self.path):
                            action = act
                            del proxy.rules[i]
                            break
                try:
                    if action and action[0] == "close":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if action and action[0] == "delay":
                        time.sleep(action[1])
                    if action and action[0] == "hang":
                        time.sleep(action[1])
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if action and action[0] in ("status", "error200"):
                        code = 200 if action[0] == "error200" else action[1]
                        s3code = action[1] if action[0] == "error200" else action[2]
                        xml = ("<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>%s</Code>"
                               "<Message>injected by the test proxy</Message>"
                               "<RequestId>proxy</RequestId></Error>" % s3code).encode()
                        self.send_response(code)
                        self.send_header("Content-Type", "application/xml")
                        self.send_header("Content-Length", str(len(xml)))
                        if action[0] == "status" and action[3] is not None:
                            self.send_header("Retry-After", str(action[3]))
                        self.end_headers()
                        if self.command != "HEAD":
                            self.wfile.write(xml)
                        return
                    up = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                    up.putrequest(self.command, self.path, skip_host=True,
                                  skip_accept_encoding=True)
                    for k, v in self.headers.items():
                        up.putheader(k, v)
                    up.endheaders(body if body else None)
                    resp = up.getresponse()
                    data = resp.read()
                    if action and action[0] == "delay_after":
                        time.sleep(action[1])
                    self.send_response_only(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection",
                                             "content-length"):
                            self.send_header(k, v)
                    length = resp.getheader("Content-Length") if self.command == "HEAD" \
                        else str(len(data))
                    self.send_header("Content-Length", length or "0")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    up.close()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        env.on_cleanup(self.stop)

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def any_request(method, path):
    return True


def test_s3_retries_5xx_slowdown_timeouts_and_resets(env):
    sw = Swift(env)
    s3tool(env, store_yaml(sw.endpoint), "check")
    # The reset comes first, on a fresh connection (curl itself silently retries a reused
    # connection that dies before answering).
    px = FaultProxy(env, sw.port, [
        (any_request, ("close",)),
        (any_request, ("status", 503, "SlowDown", None)),
        (any_request, ("status", 500, "InternalError", 1)),
        (any_request, ("status", 429, "TooManyRequests", None)),
        (any_request, ("delay", 4.0)),
    ])
    y = store_yaml(px.endpoint)
    r = s3tool(env, y, "put-str", "k", "survived five failures",
               opts=["--s3.max-retries=8", "--s3.request-timeout=1500ms"])
    # (a slow machine may add a timeout of its own: at least five)
    check(r.stats["retries"] >= 5, "retries %r (stderr %r)" % (r.stats, r.err[-3000:]))
    for what in ("TransportError: ", "HTTP 503 SlowDown", "HTTP 500 InternalError",
                 "HTTP 429 TooManyRequests", "Timeout: "):
        check(what in r.err, "%r not in %r" % (what, r.err))
    check(len(px.seen) >= 6, "requests the proxy saw: %r" % px.seen)
    eq(s3tool(env, store_yaml(sw.endpoint), "get", "k").out, b"survived five failures", "body")
    # Retry-After is honoured (1 s asked; the backoff alone would be ~100 ms)
    px.rules = [(any_request, ("status", 503, "SlowDown", 1))]
    t0 = time.monotonic()
    s3tool(env, y, "get", "k")
    check(time.monotonic() - t0 >= 1.0, "Retry-After ignored")
    # not retried: a client error
    px.rules = [(any_request, ("status", 403, "AccessDenied", None))]
    r = s3tool(env, y, "get", "k", expect_ok=False)
    check("HTTP 403 AccessDenied: injected by the test proxy (1 attempt" in r.err, r.err)
    # retries run out: the last error is reported with the count
    px.rules = [(any_request, ("status", 503, "SlowDown", None))] * 3
    r = s3tool(env, y, "get", "k", opts=["--s3.max-retries=2"], expect_ok=False)
    check("HTTP 503 SlowDown" in r.err and "(3 attempts" in r.err, r.err)


def test_s3_multipart_completion_error_inside_200_is_retried(env):
    sw = Swift(env)
    s3tool(env, store_yaml(sw.endpoint), "check")
    px = FaultProxy(env, sw.port, [
        (lambda m, p: m == "POST" and "uploadId=" in p, ("error200", "InternalError")),
        (lambda m, p: m == "PUT" and "partNumber=2" in p, ("status", 503, "SlowDown", None)),
    ])
    data = pattern_bytes(2_200_000, seed=11)
    path = os.path.join(env.scratch, "mp.bin")
    with open(path, "wb") as f:
        f.write(data)
    r = s3tool(env, store_yaml(px.endpoint), "put", "mp", path, opts=["--s3.part-size=1MiB"])
    check("parts 3" in r.text, r.text)
    eq(r.stats["retries"], 2, "a part and the completion retried")
    eq(sw.boto3().get_object(Bucket="logs", Key="mp")["Body"].read(), data, "object")


# ---- addressing, TLS, credentials -----------------------------------------------------------

def test_s3_virtual_hosted_style(env):
    sw = Swift(env)
    y = store_yaml("localhost:%d" % sw.port, bucket="vhost")
    opts = ["--s3.virtual-hosted-style"]
    s3tool(env, y, "check", opts=opts)
    s3tool(env, y, "put-str", "a/b", "virtual", opts=opts)
    r = s3tool(env, y, "list", opts=opts)
    check("key a/b 7 " in r.text, r.text)
    r = s3tool(env, y, "get", "nope", opts=opts, expect_ok=False)
    check("http://vhost.localhost:%d/nope" % sw.port in r.err, r.err)
    # the same bucket, seen path-style by boto3
    eq(sw.boto3().get_object(Bucket="vhost", Key="a/b")["Body"].read(), b"virtual", "boto3")


def make_cert(env):
    d = env.tmpdir("tls")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def test_s3_https_verifies_the_server(env):
    cert, key = make_cert(env)
    sw = Swift(env, tls=(cert, key))
    y = store_yaml(sw.endpoint, ssl_=True)
    s3tool(env, y, "check", opts=["--s3.ca-file=" + cert])
    s3tool(env, y, "put-str", "tls", "over https", opts=["--s3.ca-file=" + cert])
    eq(s3tool(env, y, "get", "tls", opts=["--s3.ca-file=" + cert]).out, b"over https", "body")
    # the system CAs do not know this certificate: refused at once, not retried
    r = s3tool(env, y, "get", "tls", expect_ok=False)
    check("[TLSVerifyFailed]" in r.err and "https://%s/logs/tls" % sw.endpoint in r.err
          and "(1 attempt)" in r.err, r.err)
    # an https:// endpoint means TLS even without use_ssl
    y2 = store_yaml("https://" + sw.endpoint)
    eq(s3tool(env, y2, "get", "tls", opts=["--s3.ca-file=" + cert]).out, b"over https", "url")


def test_s3_environment_credentials_and_session_token(env):
    sw = Swift(env)
    y = store_yaml(sw.endpoint, keys=False)
    creds = {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET,
             "AWS_SESSION_TOKEN": "FQoGZXIvYXdzEXAMPLE/session+token=="}
    # the token travels as x-amz-security-token and is signed; Swift verifies the signature
    s3tool(env, y, "check", extra_env=creds)
    s3tool(env, y, "put-str", "env", "from the environment", extra_env=creds)
    eq(s3tool(env, y, "get", "env", extra_env=creds).out, b"from the environment", "body")
    r = s3tool(env, y, "check", expect_ok=2, extra_env={"AWS_ACCESS_KEY_ID": "",
                                                            "AWS_SECRET_ACCESS_KEY": ""})
    check("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not both set" in r.err, r.err)


# ---- the local cache ----------------------------------------------------------------------

def test_s3_cache_reads_through_and_survives_restart(env):
    sw = Swift(env)
    y = store_yaml(sw.endpoint)
    s3tool(env, y, "check")
    data = pattern_bytes(50_000, seed=5)
    sw.boto3().put_object(Bucket="logs", Key="t/part-1", Body=data)
    cache = os.path.join(env.scratch, "data", "s3-cache")
    r = s3tool(env, y, "cache-get", cache, 1 << 20, "t/part-1", -4096, 0)
    eq(r.out, data[-4096:], "footer bytes")
    check("cache miss" in r.err and r.stats["objects_down"] == 1, r.err)
    # a new process (a restart) finds it on disk and makes no request
    r = s3tool(env, y, "cache-get", cache, 1 << 20, "t/part-1", -4096, 0)
    eq(r.out, data[-4096:], "cached footer bytes")
    check("cache hit" in r.err, r.err)
    eq(r.stats["requests"], 0, "requests on a hit")
    r = s3tool(env, y, "cache-get", cache, 1 << 20, "t/part-1", 1000, 2000)
    check("cache miss" in r.err and r.out == data[1000:3000], r.err)
    eq(len([f for f in os.listdir(cache) if f.endswith(".blk")]), 2, "entries on disk")


# ---- the real server at start ---------------------------------------------------------------

def run_strata(env, args, timeout=60):
    """Start the real binary and wait for it to exit (for start-up failures)."""
    cmd = [env.binary, "--http-listen-addr=127.0.0.1:%d" % free_port(),
           "--data-dir=" + env.tmpdir("data")] + list(args)
    envv = dict(os.environ)
    envv.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=envv)
    text = (p.stdout + p.stderr).decode("utf-8", "replace")
    for m in SANITIZER_MARKERS:
        check(m not in text, "strata sanitizer report:\n%s" % text[-4000:])
    return p.returncode, text


def write(env, name, text):
    path = os.path.join(env.scratch, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_s3_server_checks_the_bucket_at_start(env):
    sw = Swift(env)
    path = write(env, "s3.yaml", store_yaml(sw.endpoint, bucket="made-by-strata"))
    srv = env.server(["--store-config-path=" + path])
    check('bucket "made-by-strata" at http://%s is ready' % sw.endpoint in srv.log_tail(), "log")
    names = [b["Name"] for b in sw.boto3().list_buckets()["Buckets"]]
    check("made-by-strata" in names, "bucket created: %r" % names)
    m = srv.get("/metrics").text
    check('strata_s3_requests_total{op="list"}' in m and 'strata_s3_requests_total{op="create_bucket"} 1'
          in m, "metrics:\n%s" % "\n".join(l for l in m.splitlines() if "s3" in l))
    srv.stop()
    # inline config, bucket exists now, no creation asked
    env.server(["--store-config=" + store_yaml(sw.endpoint, bucket="made-by-strata",
                                               create=False)])


def test_s3_server_refuses_to_start_with_a_bad_bucket(env):
    sw = Swift(env)
    # a wrong secret: the S3 code and the endpoint are in the message
    path = write(env, "bad.yaml", store_yaml(sw.endpoint, secret="not-the-secret"))
    rc, out = run_strata(env, ["--store-config-path=" + path])
    eq(rc, 1, "exit code (log %r)" % out[-2000:])
    check("SignatureDoesNotMatch" in out and "http://%s" % sw.endpoint in out
          and 'bucket "logs"' in out, out)
    check("listening" not in out, "it must fail before listening")
    # a missing bucket without create_bucket_on_empty
    rc, out = run_strata(env, ["--store-config=" + store_yaml(sw.endpoint, bucket="absent",
                                                              create=False)])
    eq(rc, 1, "exit code")
    check("NoSuchBucket" in out, out)
    # an endpoint nobody listens on
    dead = "127.0.0.1:%d" % free_port()
    rc, out = run_strata(env, ["--store-config=" + store_yaml(dead), "--s3.max-retries=1"])
    eq(rc, 1, "exit code")
    check("ConnectFailed" in out and "http://%s" % dead in out, out)
    # configuration mistakes
    rc, out = run_strata(env, ["--store-config-path=" + path, "--store-config=" + store_yaml(dead)])
    check(rc != 0 and "--store-config-path and --store-config are both set" in out, out)
    blank = store_yaml(sw.endpoint).replace('bucket: "logs"', 'bucket: ""')
    rc, out = run_strata(env, ["--store-config=" + blank])
    check(rc != 0 and "remote_store.bucket is blank" in out, out)
    rc, out = run_strata(env, ["--store-config-path=" + os.path.join(env.scratch, "none.yaml")])
    check(rc != 0 and "cannot read --store-config-path" in out, out)
