"""Helpers shared by the ingest integration tests (test_ingest_*.py); no tests here.

Reading back goes through the query API only (GET /loki/api/v1/query_range with
categorize-labels), the way a user would check what a client pushed.
"""
import json
import os
import shutil
import subprocess
import sys

from harness import TestFailure, check, eq

CATEGORIZE = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}


def read_back(s, query, start, end, tenant=None, limit=5000):
    """Every entry matching query in [start, end) as sorted (ns, line, labels, metadata)."""
    r = s.query_range(query, start, end, limit=limit, direction="forward", tenant=tenant,
                      headers=CATEGORIZE)
    out = []
    for st in r.json()["data"]["result"]:
        for v in st["values"]:
            meta = v[2].get("structuredMetadata", {}) if len(v) > 2 else {}
            out.append((int(v[0]), v[1], st["stream"], meta))
    return sorted(out, key=lambda x: (x[0], x[1]))


def node_client(env, script, *args, timeout=120):
    """Run tests/integration/clients/<script> with node; its stdout is JSON."""
    here = os.path.dirname(os.path.abspath(__file__))
    if not os.path.isdir(os.path.join(here, "node_modules")):
        raise TestFailure("tests/integration/node_modules is missing: run scripts/bootstrap test")
    node = shutil.which("node")
    check(node, "node is not installed (scripts/bootstrap test installs it)")
    p = subprocess.run([node, os.path.join(here, "clients", script)] + [str(a) for a in args],
                       capture_output=True, timeout=timeout, cwd=here)
    if p.returncode != 0:
        raise TestFailure("%s failed (%d):\n%s\n%s" % (script, p.returncode,
                                                        p.stdout.decode(errors="replace"),
                                                        p.stderr.decode(errors="replace")))
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def grpc_stubs(env, *protos):
    """Generate Python protobuf/grpc modules from the repo's proto/ files into a scratch
    directory (with Debian's protoc and grpc_python_plugin) and make them importable."""
    repo = env.repo
    out = env.tmpdir("pystubs")
    cmd = ["protoc", "--proto_path=%s" % os.path.join(repo, "proto"), "--python_out=" + out,
           "--grpc_python_out=" + out,
           "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]
    cmd += [os.path.join(repo, "proto", p) for p in protos]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    if out not in sys.path:
        sys.path.insert(0, out)
    return out


def metric_value(s, name):
    """The value of one Prometheus sample line (exact name with labels), or 0."""
    for line in s.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def expect_lines(got, want_lines, what):
    eq(sorted(x[1] for x in got), sorted(want_lines), what)
