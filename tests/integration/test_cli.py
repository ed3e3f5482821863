"""Issue [8/10]: the `strata` command-line client against a running server.

Push a file (and stdin, over each transport), read it back with `strata query` in each
output format, check that mistakes give the documented exit codes and one-line messages,
and use Strata's mutual TLS and tokens. The commands over the query engine (metric tables,
LogsGoQL, labels, series, stats, tail) are in test_cli_query.py.
"""
import json
import os
import pty
import re
import select
import subprocess
import time

from harness import check, eq, free_port
from test_client_support import conn_flags, strata_cli
from test_ingest_support import read_back

HOUR = 3600 * 10**9
LINES = ["first line", "", "  indented\ttab", 'quote " and \\ backslash', "ünïcödé ✓", "last"]


def write_lines(env, name, lines, end="\n"):
    path = os.path.join(env.tmpdir("input"), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + end)
    return path


def test_cli_push_file_and_query_each_format(env):
    s = env.server()
    path = write_lines(env, "app.log", LINES)
    t0 = time.time_ns()
    code, out, err = strata_cli(env, "push", *conn_flags(s), "-l", "app=cli", "--label",
                                "env=test", path)
    eq((code, out, err), (0, "", ""), "push: quiet and successful when not on a terminal")
    t1 = time.time_ns()
    got = read_back(s, '{app="cli"}', t0 - HOUR, t1 + HOUR)
    eq([g[1] for g in got], LINES, "lines, in order (blank lines kept)")
    check(all(t0 <= g[0] <= t1 for g in got), "stamped when read")
    check(all(a[0] < b[0] for a, b in zip(got, got[1:])), "strictly increasing timestamps")

    q = ["query", *conn_flags(s), "--since", "10m"]
    code, out, err = strata_cli(env, *q, "-o", "raw", "--direction", "forward", '{app="cli"}')
    eq((code, out, err), (0, "\n".join(LINES) + "\n", ""), "raw, forward")
    code, out, err = strata_cli(env, *q, "--output=raw", '{app="cli"}')
    eq(out, "\n".join(reversed(LINES)) + "\n", "raw, backward (the default)")
    code, out, err = strata_cli(env, *q, "--limit", "2", "-oraw", '{app="cli"}')
    eq(out, "last\nünïcödé ✓\n", "limit")

    code, out, err = strata_cli(env, *q, '{app="cli"}')
    eq(code, 0, "text")
    rows = out.splitlines()
    eq(len(rows), len(LINES), "text rows")
    want_labels = '{app="cli", detected_level="unknown", env="test", service_name="cli"}'
    for row, line, g in zip(rows, reversed(LINES), reversed(got)):
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\{.*?\}) (.*)$", row)
        check(m, "text row %r" % row)
        eq((m.group(2), m.group(3)), (want_labels, line), "labels and line")
        frac = (m.group(1).split(".") + [""])[1].rstrip("Z")
        eq(int((frac + "000000000")[:9]), g[0] % 10**9, "nanoseconds in the time")

    code, out, err = strata_cli(env, *q, "-o", "jsonl", "--direction", "forward", '{app="cli"}')
    eq(code, 0, "jsonl")
    objs = [json.loads(l) for l in out.splitlines()]
    eq([o["line"] for o in objs], LINES, "jsonl lines")
    eq(objs[0]["labels"], {"app": "cli", "env": "test", "service_name": "cli",
                           "detected_level": "unknown"}, "jsonl labels")
    eq(sorted(objs[0]), ["labels", "line", "timestamp"], "jsonl keys (logcli's)")


def test_cli_push_stdin_over_each_transport(env):
    s = env.server()
    t0 = time.time_ns()
    for transport in ("grpc", "http", "http-json"):
        lines = ["%s %d" % (transport, i) for i in range(120)]
        code, out, err = strata_cli(env, "push", *conn_flags(s), "-l", "app=" + transport,
                                    "--transport", transport, "--batch-size", "50",
                                    stdin=("\r\n".join(lines) + "\r\n").encode())
        eq((code, err), (0, ""), "%s push" % transport)
        got = read_back(s, '{app="%s"}' % transport, t0 - HOUR, time.time_ns() + HOUR)
        eq([g[1] for g in got], lines, "%s: lines in order, CRLF stripped" % transport)
    # Two files and '-' (stdin), in the order given; a last line without a newline counts.
    a = write_lines(env, "a.log", ["a1", "a2"])
    b = write_lines(env, "b.log", ["b1"], end="")
    code, out, err = strata_cli(env, "push", *conn_flags(s), "-l", "app=files", a, "-", b,
                                stdin=b"s1\n")
    eq(code, 0, "files and stdin")
    got = read_back(s, '{app="files"}', t0 - HOUR, time.time_ns() + HOUR)
    eq([g[1] for g in got], ["a1", "a2", "s1", "b1"], "order of inputs")


def test_cli_push_skips_long_lines(env):
    s = env.server()
    t0 = time.time_ns()
    path = write_lines(env, "long.log", ["short", "x" * 100, "also short", "y" * 5000, "end"])
    code, out, err = strata_cli(env, "push", *conn_flags(s), "-l", "app=long",
                                "--max-line-bytes", "64", path)
    eq(code, 1, "exit code when lines were skipped")
    eq(err, "strata push: 2 lines longer than 64 bytes were skipped\n", "message")
    got = read_back(s, '{app="long"}', t0 - HOUR, time.time_ns() + HOUR)
    eq([g[1] for g in got], ["short", "also short", "end"], "the other lines")


def test_cli_progress_line_only_on_a_terminal(env):
    s = env.server()
    path = write_lines(env, "p.log", ["line %d" % i for i in range(200)])
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([env.binary, "push", *conn_flags(s), "-l", "app=tty", path],
                             stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        slave = None
        out, _ = p.communicate(timeout=120)
        tty = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            tty += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    eq(p.returncode, 0, "push on a terminal")
    check(re.search(rb"read 200 lines, 200 acknowledged, 0 queued, [0-9.]+s\r?\n", tty),
          "final progress line on the terminal: %r" % tty[-300:])
    code, out, err = strata_cli(env, "push", *conn_flags(s), "-l", "app=tty", path)
    eq((code, err), (0, ""), "no progress line into a pipe")


def test_cli_usage_errors_exit_2(env):
    s = env.server()
    t0 = time.time_ns()
    missing = os.path.join(env.scratch, "no-such.log")
    ok = write_lines(env, "ok.log", ["should not be sent"])
    cases = [
        (["push", "-l", "app=x", ok, missing], "cannot open %s: No such file or directory" % missing),
        (["push", ok], "give the stream's labels with --label name=value (at least one)"),
        (["push", "-l", "app", ok], '--label: "app" is not name=value'),
        (["push", "-l", "my-app=x", ok], '--label: "my-app" is not a label name'),
        (["push", "-l", "a=1", "-l", "a=2", ok], "--label: a is given twice"),
        (["push", "-l", "a=1", "--transport", "udp", ok], '--transport: "udp" is not grpc'),
        (["push", "--bogus"], "unknown flag --bogus"),
        (["query"], "no query given"),
        (["query", "{a=\"b\"}", "extra"], "give one query (quote it)"),
        (["query", "--since", "yesterday", "{a=\"b\"}"], '--since: "yesterday" is not a duration'),
        (["query", "--from", "noon", "{a=\"b\"}"], '--from: "noon" is not a time'),
        (["query", "--from", "2030-01-01T00:00:00Z", "--to", "2029-01-01T00:00:00Z", "{a=\"b\"}"],
         "the start (--from, --since) must be before the end (--to)"),
        (["query", "-o", "yaml", "{a=\"b\"}"], '--output: "yaml" is not text, raw or jsonl'),
        (["query", "--limit", "0", "{a=\"b\"}"], "--limit must be positive"),
        (["query", "--direction", "up", "{a=\"b\"}"], '--direction: "up" is not backward'),
        (["query", "--limit"], "--limit needs a value (N)"),
        (["series"], "give at least one selector"),
        (["tail", "--delay-for", "10s", "{a=\"b\"}"], "--delay-for: at most 5s"),
        (["query", "--token-file", missing, "{a=\"b\"}"], "--token-file: cannot open"),
    ]
    for args, msg in cases:
        code, out, err = strata_cli(env, args[0], *conn_flags(s), *args[1:])
        eq(code, 2, "exit code of %r (stderr %r)" % (args, err))
        cmd = args[0]
        check(err.startswith("strata %s: %s" % (cmd, msg)), "message of %r: %r" % (args, err))
        check(err.endswith("Run 'strata %s --help' for usage.\n" % cmd), "hint: %r" % err)
        eq(out, "", "nothing on stdout")
    eq(read_back(s, '{app="x"}', t0 - HOUR, time.time_ns() + HOUR), [], "nothing was sent")
    code, out, err = strata_cli(env, "query", "--help")
    eq((code, err), (0, ""), "--help")
    check(out.startswith("Usage: strata query [flags] QUERY") and "--direction DIR" in out,
          "help text: %r" % out[:200])
    code, out, err = strata_cli(env, "help")
    check(code == 0 and "push" in out and "tail" in out, "strata help")


def test_cli_server_errors(env):
    s = env.server()
    # The server refuses the query: exit 1 with its own words.
    code, out, err = strata_cli(env, "query", *conn_flags(s), '{app="x"')
    eq(code, 1, "bad query")
    check(err.startswith("strata query: HTTP 400: parse error at line 1, col 9"), repr(err))
    eq(err.count("\n"), 1, "one line")
    # Nobody there: exit 3.
    dead = ["--addr", "http://127.0.0.1:%d" % free_port(), "--grpc-addr",
            "127.0.0.1:%d" % free_port(), "--timeout", "3s"]
    code, out, err = strata_cli(env, "query", *dead, '{app="x"}')
    eq(code, 3, "query, server down")
    check(err.startswith("strata query: ") and "onnect" in err, repr(err))
    t0 = time.monotonic()
    code, out, err = strata_cli(env, "push", *dead, "-l", "app=x", "--retries", "1",
                                stdin=b"a\nb\n")
    eq(code, 3, "push, server down (stderr %r)" % err)
    check(err.startswith("strata push: 2 of 2 lines were not accepted: failed to upload log(s) "
                         "after 1 retries: rpc error: code = Unavailable"), repr(err))
    check(time.monotonic() - t0 < 30, "gives up after its retries")
    # The server refuses the entries (too old for its limits): exit 1, the server's reason.
    code, out, err = strata_cli(env, "push", *conn_flags(s), "-l", "app=x", "--transport", "http",
                                stdin=b"\xff\xfe not utf-8\n")
    eq(code, 1, "push refused (stderr %r)" % err)
    check(err.startswith("strata push: 1 of 1 lines were not accepted: failed to upload log(s): "
                         "HTTP 400"), repr(err))


def test_cli_tenant_and_environment(env):
    s = env.server()
    t0 = time.time_ns()
    code, out, err = strata_cli(env, "push", "-l", "app=t", "--tenant", "acme", stdin=b"hello\n",
                                extra_env={"STRATA_ADDR": s.url,
                                           "STRATA_GRPC_ADDR": "127.0.0.1:%d" % s.grpc_port})
    eq((code, err), (0, ""), "push with the address from the environment")
    eq([g[1] for g in read_back(s, '{app="t"}', t0 - HOUR, time.time_ns() + HOUR,
                                tenant="acme")], ["hello"], "in tenant acme")
    code, out, err = strata_cli(env, "query", "-o", "raw", '{app="t"}',
                                extra_env={"STRATA_ADDR": s.url, "STRATA_TENANT": "acme"})
    eq((code, out), (0, "hello\n"), "query in tenant acme ($STRATA_TENANT)")
    code, out, err = strata_cli(env, "query", *conn_flags(s), "-o", "raw", '{app="t"}')
    eq((code, out), (0, ""), "nothing in the default tenant")


def test_cli_over_mtls_with_tokens(env):
    """Strata's own mutual TLS and bearer tokens (issue [9/10]): push, query and tail."""
    from test_security import PKI, start_tls, tokens_file
    pki = PKI(env)
    s = start_tls(env, pki, mtls=True, extra=["--auth.tokens-file=" + tokens_file(env)])
    tls = ["--addr", s.url, "--ca-file", pki.path("ca.crt"), "--cert-file",
           pki.path("client.crt"), "--key-file", pki.path("client.key")]
    writer, reader = "red-writer-token-0123456789", "red-reader-token-0123456789"
    token_file = os.path.join(env.tmpdir("token"), "reader")
    with open(token_file, "w") as f:
        f.write(reader + "\n")
    code, out, err = strata_cli(env, "push", *tls, "--transport", "http", "--token", writer,
                                "-l", "app=sec", stdin=b"one\ntwo\n")
    eq((code, err), (0, ""), "push over HTTPS with the writer's token")
    code, out, err = strata_cli(env, "query", *tls, "--token-file", token_file, "-o", "raw",
                                "--direction", "forward", '{app="sec"}')
    eq((code, out, err), (0, "one\ntwo\n", ""), "query with the reader's token (from a file)")
    code, out, err = strata_cli(env, "query", *tls, "-o", "raw", '{app="sec"}',
                                extra_env={"STRATA_TOKEN": reader})
    eq((code, out), (0, "two\none\n"), "the token from $STRATA_TOKEN (newest first)")
    code, out, err = strata_cli(env, "labels", *tls, "--token", reader)
    check(code == 0 and "app" in out.split(), "labels: %r %r" % (out, err))

    code, out, err = strata_cli(env, "query", *tls, '{app="sec"}')
    eq((code, err), (4, "strata query: HTTP 401: missing token\n"), "no token: exit 4")
    code, out, err = strata_cli(env, "query", *tls, "--token", writer, '{app="sec"}')
    eq(code, 4, "a writer's token cannot read")
    check(err.startswith("strata query: HTTP 403: permission denied"), repr(err))
    code, out, err = strata_cli(env, "push", *tls, "--transport", "http", "--token", reader,
                                "-l", "app=sec", stdin=b"three\n")
    eq(code, 4, "a reader's token cannot push (stderr %r)" % err)
    code, out, err = strata_cli(env, "query", "--addr", s.url, "--ca-file", pki.path("ca.crt"),
                                "--token", reader, '{app="sec"}')
    eq(code, 3, "no client certificate: the handshake fails (stderr %r)" % err)

    # tail over wss://, with the token and the client certificate.
    p = subprocess.Popen([env.binary, "tail", *tls, "--token", reader, "-o", "raw",
                          '{app="sec"}'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    env.on_cleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
    eq([p.stdout.readline(), p.stdout.readline()], [b"one\n", b"two\n"], "tail over TLS")
    code, out, err = strata_cli(env, "push", *tls, "--transport", "http", "--token", writer,
                                "-l", "app=sec", stdin=b"three\n")
    eq(p.stdout.readline(), b"three\n", "tail sees the new line")
    p.terminate()
    eq(p.wait(30), 0, "SIGTERM ends the tail with 0")
    code, out, err = strata_cli(env, "tail", *tls, '{app="sec"}')
    eq((code, err), (4, "strata tail: HTTP 401: missing token\n"), "tail without a token")
