"""Issue [8/10]: libstrata against a running server, used the way a program outside the tree
uses it (installed with `make install`, built with `pkg-config --cflags --libs strata`).

Uploads are read back through the query API. The asynchronous client is checked across
server restarts and kills (at least once: everything it accepted is acknowledged, or
retried until it is, and with the server's WAL nothing is missing afterwards) and with the
server down, where each queue-full policy must do what include/strata.h says.
"""
import os
import re
import shutil
import socket
import subprocess
import time

from harness import TestFailure, check, eq, free_port, wait_until
from test_client_support import (Driver, installed, make_install, pkg_config, run_driver,
                                 sanitizer_cflags, seq_of)
from test_ingest_support import read_back

HOUR = 3600 * 10**9


def grpc_addr(s):
    return "127.0.0.1:%d" % s.grpc_port


def addr_for(s, transport):
    return grpc_addr(s) if transport == "grpc" else s.url


def streams_of(got):
    """The label sets of read-back entries, without the server's service_name."""
    return sorted({tuple(sorted((k, v) for k, v in g[2].items())) for g in got})


def test_client_upload_log_single(env):
    s = env.server()
    ts = int(time.time()) - 30
    out = run_driver(env, grpc_addr(s), "log", "api", "warn", "disk full", ts,
                     "--label", "zone=eu", "--label", " Region =x", "--label", "SERVICE=shadow")
    eq((out["rc"], out["error"]), (0, ""), "upload_log")
    got = read_back(s, '{service="api"}', (ts - 1) * 10**9, (ts + 1) * 10**9)
    eq(len(got), 1, "entries")
    eq(got[0][0], ts * 10**9, "timestamp (seconds)")
    eq(got[0][1], "disk full", "line")
    # LogsGO's key rules: trimmed, reserved keys dropped (in any case).
    eq(got[0][2], {"service": "api", "level": "warn", "zone": "eu", "Region": "x",
                   "service_name": "api"}, "labels")
    eq(got[0][3]["detected_level"], "warn", "detected_level")


def test_client_upload_logs_every_transport(env):
    """One batch per transport; the same logs become the same streams whichever way they go."""
    s = env.server()
    t0 = time.time_ns()
    seen = {}
    for transport in ("grpc", "http", "http-json"):
        prefix = "batch-" + transport
        out = run_driver(env, addr_for(s, transport), "logs", 30, prefix, "--transport", transport,
                         "--label", "run=%s" % transport, "--label", "my-key=v")
        eq((out["rc"], out["ok"]), (0, 30), "%s upload_logs" % transport)
        got = read_back(s, '{run="%s"}' % transport, t0 - HOUR, time.time_ns() + HOUR)
        eq(sorted(seq_of(g[1], prefix) for g in got), list(range(30)), "%s messages" % transport)
        for g in got:
            i = seq_of(g[1], prefix)
            eq((g[2]["service"], g[2]["level"]), ("svc-b" if i % 2 else "svc-a",
                                                  ["info", "warn", "error"][i % 3]), "fields")
            check(abs(g[0] - t0) < 120 * 10**9, "timestamp 0 is now: %d vs %d" % (g[0], t0))
            check(g[0] % 10**9 == 0, "LogsGO timestamps are whole seconds")
        seen[transport] = [tuple((k, v) for k, v in x if k != "run") for x in streams_of(got)]
    eq(seen["http"], seen["grpc"], "HTTP protobuf streams = gRPC streams")
    eq(seen["http-json"], seen["grpc"], "HTTP JSON streams = gRPC streams")
    check(("my_key", "v") in seen["grpc"][0], "a free-form key is normalised: %r" % seen["grpc"])


def test_client_push_entries_every_transport(env):
    s = env.server()
    t0 = time.time_ns()
    for transport in ("grpc", "http", "http-json"):
        out = run_driver(env, addr_for(s, transport), "push", 25, "line", "--transport", transport,
                         "--label", "app=push-%s" % transport, "--label", "env=test")
        eq((out["rc"], out["ok"]), (0, 25), "%s push" % transport)
        got = read_back(s, '{app="push-%s"}' % transport, t0 - HOUR, time.time_ns() + HOUR)
        eq(sorted(seq_of(g[1], "line") for g in got), list(range(25)), "%s lines" % transport)
        eq(got[0][2], {"app": "push-%s" % transport, "env": "test",
                       "service_name": "push-%s" % transport}, "labels")


def test_client_errors_have_logsgo_messages(env):
    s = env.server()
    out = run_driver(env, grpc_addr(s), "empty")
    eq((out["errname"], out["error"]), ("EINVAL", "no options provided for log upload"), "empty")
    out = run_driver(env, grpc_addr(s), "log", "api", "", "message", 0)
    eq((out["errname"], out["error"]),
       ("EINVAL", "log entry must contain Service, Level, and Message fields"), "no level")
    # The server refuses the entry (too old): its reason comes back, over both transports.
    for transport in ("grpc", "http"):
        out = run_driver(env, addr_for(s, transport), "log", "api", "info", "old", 1,
                         "--transport", transport)
        eq(out["errname"], "EINVAL", "%s refusal" % transport)
        check(out["error"].startswith("failed to upload log(s): ") and "too old" in out["error"],
              "%s refusal message: %r" % (transport, out["error"]))
    # Nobody listening: UNAVAILABLE, in Go's words.
    dead = "127.0.0.1:%d" % free_port()
    out = run_driver(env, dead, "log", "api", "info", "m", 0, "--timeout-ms", 2000)
    eq(out["errname"], "EUNAVAIL", "server down")
    check(out["error"].startswith("failed to upload log(s): rpc error: code = Unavailable desc ="),
          "server down message: %r" % out["error"])
    out = run_driver(env, "http://" + dead, "log", "api", "info", "m", 0, "--transport", "http")
    eq(out["errname"], "EUNAVAIL", "HTTP server down")
    out = run_driver(env, "ftp://x", "empty", "--transport", "http")
    eq(out["errname"], "new", "a bad address fails at creation")


def test_client_tenant(env):
    s = env.server()
    t0 = time.time_ns()
    out = run_driver(env, grpc_addr(s), "logs", 3, "acme", "--tenant", "acme")
    eq(out["rc"], 0, "upload")
    out = run_driver(env, s.url, "push", 2, "acme-http", "--transport", "http", "--tenant", "acme",
                     "--label", "app=t")
    eq(out["rc"], 0, "push")
    eq(len(read_back(s, '{service=~"svc-.*"}', t0 - HOUR, t0 + HOUR, tenant="acme")), 3, "acme")
    eq(len(read_back(s, '{app="t"}', t0 - HOUR, t0 + HOUR, tenant="acme")), 2, "acme http")
    eq(read_back(s, '{service=~"svc-.*"}', t0 - HOUR, t0 + HOUR), [], "the default tenant")


def _restart_during_uploads(env, kill):
    s = env.server()
    n, rate = 400, 100.0
    d = Driver(env, grpc_addr(s), "logs", n, "restart", "--async", "--rate", rate, "--batch", 20,
               "--wait-ms", 50, "--retries", -1, "--retry-min-ms", 50, "--retry-max-ms", 400,
               "--timeout-ms", 3000, "--flush-ms", 60000, "--close-timeout-ms", 60000)
    time.sleep(1.2)  # about a third is through
    if kill:
        s.kill9()
    else:
        s.stop()
    stopped = time.time_ns()
    time.sleep(1.0)  # the client retries meanwhile
    s.start()
    first = d.uploaded(timeout=120)
    eq(first["failed"], 0, "uploads refused")
    out = d.finish()
    eq((out["flush_rc"], out["close_rc"]), ("", ""), "flush and close")
    eq((out["accepted"], out["dropped"], out["refused"]), (n, 0, 0), "accepted, dropped, refused")
    check(out["sent"] >= n, "every accepted log acknowledged: %r" % out)
    check(out["retries"] > 0, "the client retried while the server was down: %r" % out)
    eq(out["on_error"], [], "nothing given up")
    got = read_back(s, '{service=~"svc-.*"}', time.time_ns() - HOUR, time.time_ns() + HOUR)
    # A message carries the time it was handed to the library: restart-<i>-<ns>.
    handed = {seq_of(g[1], "restart"): int(g[1].rsplit("-", 1)[1]) for g in got}
    missing = [i for i in range(n) if i not in handed]
    check(len(handed) > n // 2, "most logs arrived: %d of %d" % (len(handed), n))
    if os.path.isdir(os.path.join(s.data_dir, "wal")):
        eq(missing, [], "with a WAL, logs acknowledged before the restart survive it")
    elif missing:
        # Without a WAL the old server's memory is lost with it: only logs it acknowledged
        # can be missing, so all of them were handed over before it exited. Uploads are in
        # order, so every log before the last missing one was handed over before that too.
        late = [i for i, t in handed.items() if i < max(missing) and t > stopped]
        eq(late, [], "logs handed over after the old server exited, before a missing one")


def test_client_async_server_restart_loses_nothing(env):
    """Uploads go on while the server restarts (SIGTERM): every accepted log is
    acknowledged (maybe twice), none is given up, and every one is in the new server: those
    acknowledged before the restart through its WAL, the others retried into it. (Without
    a WAL, only logs acknowledged before the old server exited may be missing.)"""
    _restart_during_uploads(env, kill=False)


def test_client_async_server_killed_loses_nothing(env):
    """The same with SIGKILL: nothing acknowledged is lost, nothing unacknowledged is given
    up; calls cut off mid-way are retried (at least once)."""
    _restart_during_uploads(env, kill=True)


def test_client_shared_by_threads(env):
    """One client used by eight threads at once, each transport, synchronous and
    asynchronous: every upload succeeds and every log arrives exactly once."""
    s = env.server()
    t0 = time.time_ns()
    runs = [("grpc", "logs", ["--one-by-one"]), ("grpc", "logs", ["--async", "--batch", 40]),
            ("http", "push", ["--one-by-one"]), ("http-json", "push", ["--async", "--batch", 40])]
    for transport, cmd, mode in runs:
        prefix = "thr-%s-%s-%s" % (transport, cmd, mode[0].strip("-"))
        out = run_driver(env, addr_for(s, transport), cmd, 400, prefix, "--threads", 8,
                         "--transport", transport, "--label", "run=" + prefix, *mode,
                         "--wait-ms", 20, "--flush-ms", 60000)
        eq((out["ok"], out["failed"], out["close_rc"]), (400, 0, ""), prefix)
        got = read_back(s, '{run="%s"}' % prefix, t0 - HOUR, time.time_ns() + HOUR)
        eq(sorted(seq_of(g[1], prefix) for g in got), list(range(400)), prefix + ": each once")


def _queue_run(env, policy, n, prefix, wait_ms=0):
    port = free_port()
    d = Driver(env, "127.0.0.1:%d" % port, "logs", n, prefix, "--async", "--queue", 50,
               "--wait-ms", wait_ms, "--retries", -1, "--retry-min-ms", 50, "--retry-max-ms", 300,
               "--timeout-ms", 2000, "--policy", policy, "--enqueue-timeout-ms", 300,
               "--flush-ms", 60000, "--close-timeout-ms", 60000)
    first = d.uploaded()
    s = env.server(["--grpc-listen-addr=127.0.0.1:%d" % port], name="strata-" + policy)
    out = d.finish()
    got = read_back(s, '{service=~"svc-.*"}', time.time_ns() - HOUR, time.time_ns() + HOUR)
    return first, out, sorted({seq_of(g[1], prefix) for g in got})


def test_client_queue_full_policies(env):
    """The server is down while a queue of 50 fills; then it comes up and the queue drains."""
    first, out, seqs = _queue_run(env, "block", 52, "block")
    eq((first["ok"], first["failed"]), (50, 2), "block: 50 queued, then refusals")
    check(out["first_failed"] == 50 and out["first_failed_ms"] >= 250,
          "block: the 51st upload waited the enqueue timeout: %r" % out)
    eq(out["first_failed_rc"], "EBUSY", "block: refused with EBUSY")
    eq((out["refused"], out["dropped"], out["sent"]), (2, 0, 50), "block: counters")
    eq(seqs, list(range(50)), "block: the first 50 arrived")

    first, out, seqs = _queue_run(env, "drop-newest", 80, "newest")
    eq((first["ok"], first["failed"]), (50, 30), "drop-newest: 50 queued")
    check(out["first_failed"] == 50 and out["first_failed_ms"] < 200,
          "drop-newest: refused at once: %r" % out)
    eq((out["refused"], out["dropped"], out["sent"]), (30, 0, 50), "drop-newest: counters")
    eq(seqs, list(range(50)), "drop-newest: the first 50 arrived")

    # The sender holds its batch until close (--wait-ms 60000, batches of up to 1000 > the
    # queue): had it woken late and taken every queued log at once, nothing would be left
    # to drop and later uploads would be refused (the logs being sent stay), which made
    # this test depend on scheduling.
    first, out, seqs = _queue_run(env, "drop-oldest", 80, "oldest", wait_ms=60000)
    eq((first["ok"], first["failed"]), (80, 0), "drop-oldest: every upload accepted")
    eq((out["accepted"], out["dropped"], out["sent"]), (80, 30, 50), "drop-oldest: counters")
    eq(sum(e["n"] for e in out["on_error"] if e["rc"] == "EBUSY"), 30, "drop-oldest: reported")
    # The oldest waiting ones go; a batch being sent when the queue filled (its first k
    # logs, if the sender had taken one already) stays.
    k = next(i for i in range(80) if i not in seqs)
    eq(seqs, list(range(k)) + list(range(80 - 50 + k, 80)), "drop-oldest: the newest kept")


# ---- TLS, bearer token and tenant, seen by real TLS peers (Python grpcio and ssl) ----
# These show what the library sends and refuses on both transports; Strata's own checks
# (issue [9/10]) cover HTTP so far: test_client_against_strata_mtls_and_tokens.

def make_certs(env):
    """A CA; server certificates for the name strata.test (no IP) and for the address
    127.0.0.1; a client certificate; and a second CA that signed none of them. EC keys:
    quick to make."""
    d = env.tmpdir("certs")

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True,
                       timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        ossl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
             "-subj", "/CN=%s" % ca)
    san = {"server": "DNS:strata.test", "ip": "IP:127.0.0.1", "client": None}
    for name, alt in san.items():
        ossl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        ext = []
        if alt:
            with open(os.path.join(d, name + ".ext"), "w") as f:
                f.write("subjectAltName=%s\n" % alt)
            ext = ["-extfile", name + ".ext"]
        ossl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", name + ".crt", "-days", "2", *ext)
    return {k: os.path.join(d, k) for k in os.listdir(d)}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_client_grpc_tls_token_tenant(env):
    import grpc
    from concurrent import futures
    from test_ingest_support import grpc_stubs
    grpc_stubs(env, "logapi.proto")
    import logapi_pb2
    import logapi_pb2_grpc
    c = make_certs(env)
    calls = []

    class Ingestor(logapi_pb2_grpc.LogIngestorServicer):
        def UploadLog(self, req, ctx):
            calls.append((dict(ctx.invocation_metadata()), [req]))
            return logapi_pb2.UploadResponse(success=req.message != "please fail")

        def UploadLogs(self, req, ctx):
            calls.append((dict(ctx.invocation_metadata()), list(req.entries)))
            return logapi_pb2.UploadResponse(success=True)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    logapi_pb2_grpc.add_LogIngestorServicer_to_server(Ingestor(), server)
    creds = grpc.ssl_server_credentials([(read(c["server.key"]), read(c["server.crt"]))],
                                        root_certificates=read(c["ca.crt"]),
                                        require_client_auth=True)
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    env.on_cleanup(lambda: server.stop(0))
    addr = "127.0.0.1:%d" % port
    tls = ["--tls", "--ca", c["ca.crt"], "--server-name", "strata.test", "--timeout-ms", 5000]
    mtls = tls + ["--cert", c["client.crt"], "--key", c["client.key"]]

    out = run_driver(env, addr, "log", "api", "info", "over tls", 1700000000, "--label", "k=v",
                     "--token", "secret-token", "--tenant", "acme", *mtls)
    eq((out["rc"], out["error"]), (0, ""), "mutual TLS upload")
    md, entries = calls[-1]
    eq((md.get("authorization"), md.get("x-scope-orgid")), ("Bearer secret-token", "acme"),
       "metadata")
    eq((entries[0].service, entries[0].level, entries[0].message, entries[0].timestamp,
        dict(entries[0].labels)), ("api", "info", "over tls", 1700000000, {"k": "v"}), "entry")

    out = run_driver(env, addr, "logs", 5, "tls-batch", "--async", "--wait-ms", 10,
                     "--token", "t2", *mtls)
    eq((out["rc"], out["close_rc"]), (0, ""), "async batch over TLS")
    eq(sum(len(e) for m, e in calls if m.get("authorization") == "Bearer t2"), 5, "batched logs")
    check(all("x-scope-orgid" not in m for m, e in calls if m.get("authorization") == "Bearer t2"),
          "no tenant header without a tenant")

    out = run_driver(env, addr, "log", "api", "info", "please fail", 0, *mtls)
    eq((out["errname"], out["error"]), ("EIO", "failed to upload log(s)"), "success=false")

    n = len(calls)
    for what, args in (("no client certificate", tls),
                       ("an unknown CA", ["--tls", "--ca", c["other-ca.crt"], "--server-name",
                                          "strata.test", "--cert", c["client.crt"], "--key",
                                          c["client.key"], "--timeout-ms", 3000]),
                       ("the wrong name", mtls[:3] + mtls[5:]),
                       ("no TLS", ["--timeout-ms", 3000])):
        out = run_driver(env, addr, "log", "api", "info", "refused", 0, *args)
        eq(out["errname"], "EUNAVAIL", what)
    eq(len(calls), n, "no call got through without a valid TLS session")


def test_client_http_tls_token_tenant(env):
    import http.server
    import json
    import snappy
    import ssl
    import threading
    from test_ingest_support import grpc_stubs
    grpc_stubs(env, "loki_push.proto")
    import loki_push_pb2
    c = make_certs(env)
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(c["ip.crt"], c["ip.key"])
    ctx.load_verify_locations(c["ca.crt"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()

    def stop():
        httpd.shutdown()
        httpd.server_close()
        t.join(10)
    env.on_cleanup(stop)
    url = "https://127.0.0.1:%d" % httpd.server_address[1]
    mtls = ["--ca", c["ca.crt"], "--cert", c["client.crt"], "--key", c["client.key"]]

    out = run_driver(env, url, "log", "api", "warn", "json over tls", 1700000000,
                     "--transport", "http-json", "--token", "tok", "--tenant", "acme",
                     "--label", "zone=eu", *mtls)
    eq((out["rc"], out["error"]), (0, ""), "HTTPS JSON upload")
    path, headers, body = seen[-1]
    eq(path, "/loki/api/v1/push", "path")
    eq((headers.get("Authorization"), headers.get("X-Scope-OrgID"), headers.get("Content-Type")),
       ("Bearer tok", "acme", "application/json"), "headers")
    eq(json.loads(body), {"streams": [{"stream": {"level": "warn", "service": "api", "zone": "eu"},
                                       "values": [["1700000000000000000", "json over tls"]]}]},
       "JSON body")

    out = run_driver(env, url, "push", 3, "proto", "--transport", "http", "--label", "app=p",
                     *mtls)
    eq(out["rc"], 0, "HTTPS protobuf push")
    path, headers, body = seen[-1]
    eq(headers.get("Content-Type"), "application/x-protobuf", "content type")
    check("Authorization" not in headers, "no token, no header")
    req = loki_push_pb2.PushRequest()
    req.ParseFromString(snappy.uncompress(body))
    eq([s.labels for s in req.streams], ['{app="p"}'], "stream")
    eq(sorted(seq_of(e.line, "proto") for e in req.streams[0].entries), [0, 1, 2], "lines")

    n = len(seen)
    out = run_driver(env, url, "push", 1, "x", "--transport", "http", "--label", "app=p",
                     "--ca", c["ca.crt"])
    eq(out["errname"], "EUNAVAIL", "no client certificate")
    out = run_driver(env, url, "push", 1, "x", "--transport", "http", "--label", "app=p",
                     "--ca", c["other-ca.crt"], "--cert", c["client.crt"], "--key", c["client.key"])
    eq(out["errname"], "EUNAVAIL", "an unknown CA")
    check("TLS" in out["error"] or "SSL" in out["error"] or "certificate" in out["error"],
          "the message says TLS: %r" % out["error"])
    eq(len(seen), n, "nothing got through")


# ---- make install, pkg-config, a program outside the tree; the demo ----

OUTSIDE = r"""
/* A program outside the tree: only <strata.h> and pkg-config. It defines functions with
   the names of Strata's internals, which libstrata must keep to itself. */
#include <stdio.h>
#include <stdlib.h>
#include <strata.h>

void *xmalloc(size_t n) { return malloc(n); }
int buf_init(int x) { return x + 1; }

int main(int argc, char **argv)
{
    struct strata_client *c;
    if (argc != 3 || strata_client_new(argv[1], NULL, &c) < 0)
        return 2;
    struct strata_label l = {"built", argv[2]};
    struct strata_log log = {"outside", "info", "hello from outside", 0, &l, 1};
    int rc = strata_upload_log(c, &log);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", strata_strerror(rc), strata_last_error());
    free(xmalloc(buf_init(15)));
    printf("libstrata %s\n", strata_client_version());
    return strata_client_close(c) < 0 || rc < 0;
}
"""


def test_client_make_install_and_pkg_config(env):
    s = env.server()
    prefix = env.tmpdir("prefix")
    make_install(env, prefix)
    files = ["bin/strata", "lib/libstrata.so.0.1.0", "lib/libstrata.so.0", "lib/libstrata.so",
             "lib/libstrata.a", "include/strata.h", "include/strata_err.h",
             "lib/pkgconfig/strata.pc", "lib/systemd/system/strata.service"]
    for f in files:
        check(os.path.exists(os.path.join(prefix, f)), "installed %s" % f)
    eq(os.readlink(os.path.join(prefix, "lib/libstrata.so")), "libstrata.so.0", "dev symlink")
    unit = os.path.join(prefix, "lib/systemd/system/strata.service")
    with open(unit) as f:
        check("ExecStart=%s/bin/strata " % prefix in f.read(), "the unit runs the installed binary")
    if shutil.which("systemd-analyze"):
        p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, timeout=60)
        eq((p.returncode, p.stdout + p.stderr), (0, b""), "systemd-analyze verify")
    check("-I%s/include" % prefix in pkg_config(prefix, "--cflags"), "pkg-config --cflags")
    eq(pkg_config(prefix, "--libs"), ["-L%s/lib" % prefix, "-lstrata"], "pkg-config --libs")
    eq(pkg_config(prefix, "--modversion"), ["0.1.0"], "version")

    d = env.tmpdir("outside")
    src = os.path.join(d, "outside.c")
    with open(src, "w") as f:
        f.write(OUTSIDE)
    cc = ["cc", "-std=c11", "-Wall", "-Werror"] + sanitizer_cflags(env)
    dyn = os.path.join(d, "outside-shared")
    subprocess.run(cc + [src, "-o", dyn] + pkg_config(prefix, "--cflags", "--libs"), check=True,
                   timeout=300)
    run_env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, "lib"))
    p = subprocess.run([dyn, grpc_addr(s), "shared"], capture_output=True, env=run_env,
                       timeout=60)
    eq((p.returncode, p.stdout), (0, b"libstrata 0.1.0\n"), "shared: %s" % p.stderr[-2000:])
    ldd = subprocess.run(["ldd", dyn], capture_output=True, env=run_env, timeout=60).stdout
    check(("%s/lib/libstrata.so.0" % prefix).encode() in ldd, "linked to the installed .so")

    # Static libstrata, shared system libraries: the archive, then what strata.pc requires
    # (Requires.private) linked as usual. (`pkg-config --static` would ask for static
    # builds of libcurl's own dependencies, which Debian does not all ship.)
    reqs = [r.split()[0] for r in pkg_config(prefix, "--print-requires-private")
            if r[0].isalpha()]
    eq(sorted(reqs), ["grpc", "libcurl", "libxxhash", "snappy"], "Requires.private")
    dep_libs = subprocess.run(["pkg-config", "--libs"] + reqs, capture_output=True, check=True,
                              timeout=60).stdout.decode().split() + ["-lm", "-lpthread"]
    sta = os.path.join(d, "outside-static")
    subprocess.run(cc + [src, "-o", sta] + pkg_config(prefix, "--cflags") +
                   [os.path.join(prefix, "lib/libstrata.a")] + dep_libs, check=True,
                   timeout=300)
    p = subprocess.run([sta, grpc_addr(s), "static"], capture_output=True, timeout=60)
    eq((p.returncode, p.stdout), (0, b"libstrata 0.1.0\n"), "static: %s" % p.stderr[-2000:])
    ldd = subprocess.run(["ldd", sta], capture_output=True, timeout=60).stdout
    check(b"libstrata" not in ldd, "no libstrata.so in the static program")

    got = read_back(s, '{service="outside"}', time.time_ns() - HOUR, time.time_ns() + HOUR)
    eq(sorted(g[2]["built"] for g in got), ["shared", "static"], "both programs uploaded")

    # DESTDIR: files under it, paths inside them without it.
    dest = env.tmpdir("destdir")
    make_install(env, "/opt/strata", destdir=dest)
    check(os.path.exists(os.path.join(dest, "opt/strata/lib/libstrata.a")), "DESTDIR layout")
    with open(os.path.join(dest, "opt/strata/lib/pkgconfig/strata.pc")) as f:
        check("prefix=/opt/strata\n" in f.read(), "strata.pc's prefix ignores DESTDIR")


def test_client_demo(env):
    http_port, grpc_port = free_port(), free_port()
    e = dict(os.environ, DEMO_WAIT="0", DEMO_HTTP_PORT=str(http_port),
             DEMO_GRPC_PORT=str(grpc_port), DEMO_INTERVAL="0", DEMO_ROUNDS="2")
    p = subprocess.run([os.path.join(env.repo, "examples", "demo"), env.build_dir],
                       capture_output=True, env=e, timeout=300)
    out = p.stdout.decode()
    eq(p.returncode, 0, "demo's exit code:\n%s\n%s" % (out, p.stderr.decode()))
    check("14 logs uploaded, 0 failures" in out, "the example app's uploads:\n%s" % out)
    check("Dashboard: http://127.0.0.1:%d/\n" % http_port in out, "the dashboard's URL")
    for service, level, message in (("ap-south1", "error", "Database unavailable"),
                                    ("us-west1", "warn", "Cache miss")):
        check(re.search(r'level="%s", service="%s".*\} %s\n' % (level, service, message), out),
              "%s/%s/%s in the query's output:\n%s" % (service, level, message, out))
    check(re.search(r"\n\S+  3 +us-west1 +warn +\{\} +Connection refused\n", out),
          "the LogsGoQL table counts the fixed-time log too:\n%s" % out)
    # The demo stopped its server.
    with socket.socket() as so:
        check(so.connect_ex(("127.0.0.1", http_port)) != 0, "the demo's server is gone")


def test_client_against_strata_mtls_and_tokens(env):
    """Strata's own mutual TLS and bearer tokens (issue [9/10], the HTTP listener)."""
    from test_security import PKI, start_tls, tokens_file
    pki = PKI(env)
    s = start_tls(env, pki, mtls=True, extra=["--auth.tokens-file=" + tokens_file(env)])
    mtls = ["--ca", pki.path("ca.crt"), "--cert", pki.path("client.crt"), "--key",
            pki.path("client.key")]
    push = ["push", 3, "sec", "--label", "app=sec"]
    for transport in ("http", "http-json"):
        out = run_driver(env, s.url, *push, "--transport", transport, "--token",
                         "red-writer-token-0123456789", *mtls)
        eq((out["rc"], out["error"]), (0, ""), "%s push with the writer's token" % transport)
    cases = [
        ([], "EUNAUTH", "failed to upload log(s): HTTP 401: missing token"),
        (["--token", "not-a-token-0123456789"], "EUNAUTH", "failed to upload log(s): HTTP 401: "),
        (["--token", "red-reader-token-0123456789"], "EFORBIDDEN",
         "failed to upload log(s): HTTP 403: permission denied"),
        (["--token", "red-writer-token-0123456789", "--tenant", "blue"], "EFORBIDDEN",
         "failed to upload log(s): HTTP 403: "),
    ]
    for args, errname, msg in cases:
        out = run_driver(env, s.url, *push, "--transport", "http", *args, *mtls)
        eq(out["errname"], errname, "%r" % args)
        check(out["error"].startswith(msg), "%r: %r" % (args, out["error"]))
    out = run_driver(env, s.url, *push, "--transport", "http", "--token",
                     "red-writer-token-0123456789", "--ca", pki.path("ca.crt"))
    eq(out["errname"], "EUNAVAIL", "no client certificate")
    out = run_driver(env, s.url, *push, "--transport", "http", "--token",
                     "red-writer-token-0123456789", "--ca", pki.path("ca.crt"), "--cert",
                     pki.path("rogue.crt"), "--key", pki.path("rogue.key"))
    eq(out["errname"], "EUNAVAIL", "a client certificate from another CA")
