"""Helpers shared by the client library and CLI tests (test_client.py, test_cli.py); no tests.

libstrata is tested the way a user gets it: `make install` into a scratch prefix, then
tests/integration/clients/libstrata_client.c compiled against the installed library
with `pkg-config --cflags --libs strata` (once per run, shared by the tests).
"""
import atexit
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading

from harness import TestFailure, check

_lock = threading.Lock()
_cache = {}


def make_args(env):
    """make's BUILD/SANITIZE for the build directory under test (so nothing is rebuilt)."""
    build = os.path.basename(os.path.normpath(env.build_dir))
    args = ["BUILD=%s" % build]
    if build.endswith("-san"):
        args.append("SANITIZE=address,undefined")
    return args


def sanitizer_cflags(env):
    """A program loading a sanitized libstrata must be built with the same sanitizers."""
    if os.path.basename(os.path.normpath(env.build_dir)).endswith("-san"):
        return ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    return []


def make_install(env, prefix, destdir=None):
    cmd = ["make", "-s", "--no-print-directory", "-C", env.repo, "install",
           "PREFIX=%s" % prefix] + make_args(env)
    if destdir:
        cmd.append("DESTDIR=%s" % destdir)
    p = subprocess.run(cmd, capture_output=True, timeout=600)
    if p.returncode != 0:
        raise TestFailure("make install failed:\n%s\n%s" % (p.stdout.decode(errors="replace"),
                                                             p.stderr.decode(errors="replace")))


def pkg_config(prefix, *args):
    e = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    p = subprocess.run(["pkg-config"] + list(args) + ["strata"], capture_output=True, env=e,
                       timeout=60)
    if p.returncode != 0:
        raise TestFailure("pkg-config %s strata: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout.decode().split()


def installed(env):
    """The prefix of a `make install` done once per run (removed at exit)."""
    with _lock:
        if "prefix" not in _cache:
            prefix = tempfile.mkdtemp(prefix="strata-install-")
            atexit.register(shutil.rmtree, prefix, True)
            make_install(env, prefix)
            _cache["prefix"] = prefix
        return _cache["prefix"]


def driver(env):
    """tests/integration/clients/libstrata_client.c built against the installed library."""
    prefix = installed(env)
    with _lock:
        if "driver" not in _cache:
            src = os.path.join(env.repo, "tests", "integration", "clients", "libstrata_client.c")
            out = os.path.join(prefix, "libstrata_client")
            cmd = (["cc", "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror"] +
                   sanitizer_cflags(env) + [src, "-o", out] +
                   pkg_config(prefix, "--cflags", "--libs") +
                   ["-Wl,-rpath,%s" % os.path.join(prefix, "lib")])
            p = subprocess.run(cmd, capture_output=True, timeout=300)
            if p.returncode != 0:
                raise TestFailure("cannot build libstrata_client:\n%s" % p.stderr.decode())
            _cache["driver"] = out
        return _cache["driver"]


def last_json(text):
    lines = [l for l in text.splitlines() if l.startswith("{")]
    check(lines, "no JSON line in the output:\n%s" % text)
    return json.loads(lines[-1])


def run_driver(env, addr, *args, timeout=120):
    """Run libstrata_client to the end; its final JSON line."""
    p = subprocess.run([driver(env), addr] + [str(a) for a in args], capture_output=True,
                       timeout=timeout)
    err = p.stderr.decode(errors="replace")
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        if marker in err:
            raise TestFailure("libstrata_client: sanitizer report:\n%s" % err[-4000:])
    if p.returncode != 0:
        raise TestFailure("libstrata_client exited %d:\n%s" % (p.returncode, err))
    return last_json(p.stdout.decode(errors="replace"))


class Driver:
    """libstrata_client started with --wait-stdin: read its first line, then let it close."""

    def __init__(self, env, addr, *args):
        self.proc = subprocess.Popen([driver(env), addr] + [str(a) for a in args] +
                                     ["--wait-stdin"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        env.on_cleanup(self.kill)

    def uploaded(self, timeout=120):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        check(ready, "libstrata_client printed nothing in %ds" % timeout)
        line = self.proc.stdout.readline().decode()
        check(line.startswith("{"), "libstrata_client printed %r" % line)
        return json.loads(line)

    def finish(self, timeout=120):
        out, err = self.proc.communicate(b"go\n", timeout=timeout)
        err = err.decode(errors="replace")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in err:
                raise TestFailure("libstrata_client: sanitizer report:\n%s" % err[-4000:])
        check(self.proc.returncode == 0, "libstrata_client exited %s:\n%s" %
              (self.proc.returncode, err))
        return last_json(out.decode(errors="replace"))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def strata_cli(env, *args, stdin=None, timeout=120, extra_env=None):
    """Run `strata <args>` (the client side of the binary under test): (code, stdout, stderr)."""
    e = dict(os.environ)
    for k in ("STRATA_ADDR", "STRATA_GRPC_ADDR", "STRATA_TENANT", "STRATA_TOKEN"):
        e.pop(k, None)
    e.update(extra_env or {})
    p = subprocess.run([env.binary] + [str(a) for a in args], input=stdin, capture_output=True,
                       timeout=timeout, env=e)
    err = p.stderr.decode(errors="replace")
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        if marker in err:
            raise TestFailure("strata %s: sanitizer report:\n%s" % (args[0], err[-4000:]))
    return p.returncode, p.stdout.decode(errors="replace"), err


def conn_flags(s):
    """The CLI flags that point it at server s."""
    return ["--addr", s.url, "--grpc-addr", "127.0.0.1:%d" % s.grpc_port]


def seq_of(line, prefix):
    """The sequence number of a libstrata_client message PREFIX-<i>-<ns>, or None."""
    if not line.startswith(prefix + "-"):
        return None
    parts = line[len(prefix) + 1:].split("-")
    return int(parts[0]) if len(parts) == 2 else None
