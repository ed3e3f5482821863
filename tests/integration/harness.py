"""The integration test harness: the real strata binary on loopback, real clients.

Tests are functions named test_* in tests/integration/test_*.py taking one
argument, `env` (an Env: the binary, a scratch directory, helpers). Each test
starts the servers it needs through env.server(...), which picks a free
loopback port, waits for /ready and is stopped by its pid when the test ends.
A server that exits badly or whose stderr holds a sanitizer report fails the
test that started it.

Run: /usr/bin/python3 tests/integration/run.py BUILD_DIR [name-substring]
"""
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")


class TestFailure(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what="value"):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, got, want))


_PORTS_GIVEN = set()


def free_port():
    """A port that was free a moment ago on 127.0.0.1, and not given before by this function:
    the kernel may hand out a just-released port again, and two asked for one after the other
    (a server's HTTP and gRPC ports) must differ."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port
    raise TestFailure("no free port on 127.0.0.1 that was not given before")


def wait_until(fn, timeout=10.0, interval=0.05, what="condition"):
    """Poll fn() until it returns a truthy value; a bounded loop."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(interval)
    raise TestFailure("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def http(method, url, body=None, headers=None, timeout=30):
    """One HTTP request; never raises for HTTP error statuses."""
    data = body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            if r.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            return Response(r.status, r.headers, raw)
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


class Server:
    """One strata process on a free loopback port."""

    def __init__(self, env, args=(), data_dir=None, name="strata", port=None):
        self.env = env
        self.name = name
        self.data_dir = data_dir or env.tmpdir(name + "-data")
        self.port = port or free_port()
        # gRPC listens by default (127.0.0.1:9095): give every server a free port of its own;
        # a later --grpc-listen-addr in args wins.
        self.grpc_port = free_port()
        self.args = ["--http-listen-addr=127.0.0.1:%d" % self.port,
                     "--grpc-listen-addr=127.0.0.1:%d" % self.grpc_port,
                     "--data-dir=%s" % self.data_dir] + list(args)
        self.log_path = os.path.join(env.scratch, "%s-%d.log" % (name, self.port))
        self.proc = None
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        envv = dict(os.environ)
        envv.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        envv.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen([self.env.binary] + self.args, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=envv)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("%s exited with %s during start:\n%s" %
                                  (self.name, self.proc.returncode, self.log_tail()))
            return http("GET", self.url + "/ready", timeout=2).status == 200
        wait_until(ready, timeout, what="%s /ready" % self.name)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def check_log_clean(self):
        with open(self.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for m in SANITIZER_MARKERS:
            if m in text:
                raise TestFailure("%s log has a sanitizer report:\n%s" % (self.name, text[-4000:]))

    def stop(self, timeout=30):
        """SIGTERM by pid; the exit must be clean (code 0, no sanitizer report)."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("%s did not stop within %ss after SIGTERM" % (self.name, timeout))
        self.log.close()
        self.check_log_clean()
        if rc != 0:
            raise TestFailure("%s exited with %d:\n%s" % (self.name, rc, self.log_tail()))

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def restart(self):
        self.stop()
        self.start()

    # ---- API helpers ----
    def get(self, path, params=None, headers=None):
        q = "?" + urllib.parse.urlencode(params, doseq=True) if params else ""
        return http("GET", self.url + path + q, headers=headers)

    def post(self, path, body=None, headers=None):
        return http("POST", self.url + path, body=body, headers=headers)

    def push(self, streams, tenant=None, expect=204):
        h = {"Content-Type": "application/json"}
        if tenant:
            h["X-Scope-OrgID"] = tenant
        r = self.post("/loki/api/v1/push", {"streams": streams}, h)
        if expect is not None:
            eq(r.status, expect, "push status (body %r)" % r.text)
        return r

    def query_range(self, query, start, end, limit=100, direction="forward", tenant=None,
                    headers=None, expect=200):
        h = dict(headers or {})
        if tenant:
            h["X-Scope-OrgID"] = tenant
        r = self.get("/loki/api/v1/query_range", {"query": query, "start": str(start),
                                                   "end": str(end), "limit": str(limit),
                                                   "direction": direction}, h)
        if expect is not None:
            eq(r.status, expect, "query_range status (body %r)" % r.text)
        return r


class Env:
    def __init__(self, build_dir, scratch):
        self.build_dir = build_dir
        self.binary = os.path.join(build_dir, "strata")
        self.scratch = scratch
        self.repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self._servers = []
        self._cleanups = []

    def tmpdir(self, name):
        return tempfile.mkdtemp(prefix=name + "-", dir=self.scratch)

    def server(self, *args, **kw):
        s = Server(self, *args, **kw)
        self._servers.append(s)
        return s

    def on_cleanup(self, fn):
        self._cleanups.append(fn)

    def finish(self):
        """Stop everything the test started; the first failure is raised."""
        err = None
        for s in reversed(self._servers):
            try:
                s.stop()
            except TestFailure as e:
                err = err or e
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                err = err or e
        if err:
            raise err


def now_ns():
    return time.time_ns()
