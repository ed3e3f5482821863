"""A real clickhouse-server (Debian's 18.16) for the integration tests.

ClickHouse(env) starts one server in a scratch folder of the test, on two free
loopback ports (HTTP and native TCP), from the templates in
tests/integration/clickhouse/, waits for /ping and registers its stop (by pid)
with env.on_cleanup. kill9() and start() let a test take it away and bring it
back on the same ports and data, to exercise retries.

chtool(env, ch, *args) runs the tier's test driver (BUILD/tools/chtool) with
--clickhouse.url pointing at the server.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

from harness import TestFailure, free_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = "/usr/sbin/clickhouse-server"


def available():
    return os.path.exists(SERVER)


class ClickHouse:
    def __init__(self, env, name="clickhouse"):
        self.env = env
        self.dir = env.tmpdir(name)
        self.http_port = free_port()
        self.tcp_port = free_port()
        while self.tcp_port == self.http_port:
            self.tcp_port = free_port()
        for sub in ("data", "tmp", "log", "user_files", "format_schemas"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(HERE, "clickhouse", "config.xml")) as f:
            text = f.read()
        text = (text.replace("CH_DIR", self.dir).replace("HTTP_PORT", str(self.http_port))
                .replace("TCP_PORT", str(self.tcp_port)))
        self.config = os.path.join(self.dir, "config.xml")
        with open(self.config, "w") as f:
            f.write(text)
        shutil.copy(os.path.join(HERE, "clickhouse", "users.xml"),
                    os.path.join(self.dir, "users.xml"))
        self.proc = None
        self.log = None
        env.on_cleanup(self.stop)
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def start(self, timeout=60):
        self.log = open(os.path.join(self.dir, "log", "stdout.log"), "ab")
        self.proc = subprocess.Popen([SERVER, "--config-file=" + self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise TestFailure("clickhouse-server exited with %s:\n%s" %
                                  (self.proc.returncode, self.log_tail()))
            with urllib.request.urlopen(self.url + "/ping", timeout=2) as r:
                return r.read() == b"Ok.\n"
        wait_until(up, timeout, 0.05, "clickhouse-server /ping")

    def log_tail(self, n=30):
        path = os.path.join(self.dir, "log", "server.err.log")
        try:
            with open(path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def query(self, sql, user="default", password=""):
        """Run one statement over HTTP; returns the body text; raises on an error status."""
        req = urllib.request.Request(self.url + "/", data=sql.encode(), method="POST")
        req.add_header("X-ClickHouse-User", user)
        if password:
            req.add_header("X-ClickHouse-Key", password)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise TestFailure("ClickHouse refused %r: %s" % (sql[:200], e.read().decode()))

    def count(self, sql):
        return int(self.query(sql).strip() or 0)


class ToolResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def json(self):
        if self.rc != 0:
            raise TestFailure("chtool failed (%d): %s" % (self.rc, self.err))
        return json.loads(self.out)


def tool_path(env):
    return os.path.join(env.build_dir, "tools", "chtool")


def tool_args(env, ch, *args, url=None):
    return [tool_path(env), "--clickhouse.url=" + (url or ch.url)] + list(args)


def check_sanitizers(text):
    for m in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        if m in text:
            raise TestFailure("chtool has a sanitizer report:\n" + text[-4000:])


def chtool(env, ch, *args, url=None, timeout=300):
    """Run chtool once; options before the command word are Strata's."""
    p = subprocess.run(tool_args(env, ch, *args, url=url), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    r = ToolResult(p)
    check_sanitizers(r.err)
    return r


def push_file(env, streams, name="push.json"):
    """A Loki push body on disk, for chtool append/submit."""
    path = os.path.join(env.tmpdir("push"), name)
    with open(path, "w") as f:
        json.dump({"streams": streams}, f)
    return path


def wait_for(fn, timeout, what):
    return wait_until(fn, timeout, 0.02, what)


def sleep(seconds):
    time.sleep(seconds)
