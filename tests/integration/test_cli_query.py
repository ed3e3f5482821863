"""Issue [8/10]: the CLI's commands over the query engine (issue [4/10]): metric queries as
tables, instant queries, LogsGoQL, labels, series, stats, and tail over the WebSocket.
"""
import json
import os
import re
import signal
import subprocess
import time

from harness import check, eq, wait_until
from test_client_support import conn_flags, strata_cli

MIN = 60 * 10**9


def push_counts(s, t0):
    """app=m: level=info at t0+10s, t0+70s (x2), t0+130s; level=error at t0+70s."""
    values = {"info": [10, 70, 71, 130], "error": [70]}
    streams = [{"stream": {"app": "m", "level": lvl},
                "values": [[str(t0 + sec * 10**9), "%s line %d" % (lvl, sec)] for sec in secs]}
               for lvl, secs in values.items()]
    s.push(streams)


def minute_floor(ns):
    return ns - ns % MIN


def test_cli_query_matrix_as_a_table(env):
    s = env.server()
    t0 = minute_floor(time.time_ns()) - 10 * MIN
    push_counts(s, t0)
    q = 'sum by (level) (count_over_time({app="m"}[1m]))'
    rng = ["--from", str(t0 + MIN), "--to", str(t0 + 3 * MIN), "--step", "1m"]
    code, out, err = strata_cli(env, "query", *conn_flags(s), *rng, q)
    eq((code, err), (0, ""), "matrix query")
    lines = out.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    eq(header[0], "TIME", "first column")
    eq(sorted(header[1:]), ['{level="error"}', '{level="info"}'], "one column per series")
    col = {name: i for i, name in enumerate(header)}
    # Cells start where their column's title starts; a step without a sample is blank.
    starts = [lines[0].index(name) for name in header] + [None]
    rows = [[l[starts[i]:starts[i + 1]].strip() for i in range(len(header))] for l in lines]
    # Windows (t-1m, t]: at t0+1m: info@10s; t0+2m: info@70s,71s + error@70s; t0+3m: info@130s.
    by_time = {r[0]: r for r in rows[1:]}
    eq(len(by_time), 3, "three steps:\n%s" % out)
    times = sorted(by_time)
    eq(by_time[times[0]][col['{level="info"}']], "1", "step 1 info")
    eq(by_time[times[1]][col['{level="info"}']], "2", "step 2 info")
    eq(by_time[times[1]][col['{level="error"}']], "1", "step 2 error")
    code, out, err = strata_cli(env, "query", *conn_flags(s), *rng, "-o", "jsonl", q)
    series = [json.loads(l) for l in out.splitlines()]
    eq(sorted(x["metric"]["level"] for x in series), ["error", "info"], "jsonl series")
    code, out, err = strata_cli(env, "query", *conn_flags(s), *rng, "-o", "raw", q)
    check(all(len(l.split("\t")) == 3 for l in out.splitlines()), "raw: labels, time, value")


def test_cli_query_instant_vector(env):
    s = env.server()
    t0 = minute_floor(time.time_ns()) - 10 * MIN
    push_counts(s, t0)
    code, out, err = strata_cli(env, "query", *conn_flags(s), "--instant", "--to",
                                str(t0 + 5 * MIN), 'sum(count_over_time({app="m"}[10m]))')
    eq(code, 0, "instant query (%s)" % err)
    lines = out.splitlines()
    eq(re.split(r"\s{2,}", lines[0].strip()), ["TIME", "VALUE", "LABELS"], "header")
    eq(re.split(r"\s{2,}", lines[1].strip())[1:], ["5", "{}"], "value")


def test_cli_query_logsgoql(env):
    s = env.server()
    now = time.time_ns()
    s.push([{"stream": {"service": "ap-south1", "level": "error"},
             "values": [[str(now - 5 * 10**9), "Database unavailable"],
                        [str(now - 4 * 10**9), "Database unavailable"]]}])
    code, out, err = strata_cli(env, "query", *conn_flags(s), "--since", "10m",
                                "service=ap-south1 & level=error")
    eq((code, err), (0, ""), "LogsGoQL")
    lines = out.splitlines()
    eq(re.split(r"\s{2,}", lines[0].strip()),
       ["TIME", "COUNT", "SERVICE", "LEVEL", "LABELS", "MESSAGE"], "header")
    check(any(re.split(r"\s{2,}", l.strip())[1:] == ["2", "ap-south1", "error", "{}",
                                                     "Database unavailable"] for l in lines[1:]),
          "the count reaches 2:\n%s" % out)
    code, out, err = strata_cli(env, "query", *conn_flags(s), "--since", "10m", "-o", "jsonl",
                                "--lang", "logsgoql", "service=ap-south1")
    eq(json.loads(out.splitlines()[0])["Message"], "Database unavailable", "jsonl")
    code, out, err = strata_cli(env, "query", *conn_flags(s), "service=")
    eq(code, 1, "a bad LogsGoQL expression")
    check("Invalid query expression" in err, repr(err))


def test_cli_labels_series_stats(env):
    s = env.server()
    t0 = minute_floor(time.time_ns()) - 10 * MIN
    push_counts(s, t0)
    code, out, err = strata_cli(env, "labels", *conn_flags(s))
    eq(code, 0, "labels (%s)" % err)
    check({"app", "level"} <= set(out.split()), "names: %r" % out)
    code, out, err = strata_cli(env, "labels", *conn_flags(s), "level")
    eq(sorted(out.split()), ["error", "info"], "values of level")
    code, out, err = strata_cli(env, "labels", *conn_flags(s), "-o", "jsonl", "level")
    eq(sorted(json.loads(l) for l in out.splitlines()), ["error", "info"], "jsonl values")
    code, out, err = strata_cli(env, "series", *conn_flags(s), '{app="m"}')
    eq(code, 0, "series (%s)" % err)
    got = sorted(out.splitlines())
    eq(len(got), 2, "two streams")
    check(all(l.startswith('{app="m", ') for l in got), "label sets: %r" % got)
    code, out, err = strata_cli(env, "stats", *conn_flags(s), "--since", "1h", '{app="m"}')
    eq(code, 0, "stats (%s)" % err)
    stats = dict(l.split(": ") for l in out.splitlines())
    eq((stats["streams"], stats["entries"]), ("2", "5"), "stats")


def test_cli_tail_sees_new_lines(env):
    s = env.server()
    s.push([{"stream": {"app": "tail"}, "values": [[str(time.time_ns()), "before"]]}])
    p = subprocess.Popen([env.binary, "tail", *conn_flags(s), "-o", "raw", '{app="tail"}'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    env.on_cleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
    eq(p.stdout.readline(), b"before\n", "what matched before the tail began")
    code, out, err = strata_cli(env, "push", *conn_flags(s), "-l", "app=tail",
                                stdin=b"new 1\nnew 2\n")
    eq(code, 0, "push")
    eq([p.stdout.readline(), p.stdout.readline()], [b"new 1\n", b"new 2\n"], "new lines")
    p.send_signal(signal.SIGINT)
    eq(p.wait(30), 0, "Ctrl-C ends the tail with 0")
    eq(p.stderr.read(), b"", "nothing on stderr")


def test_cli_tail_errors(env):
    s = env.server()
    code, out, err = strata_cli(env, "tail", *conn_flags(s), '{app="x"', timeout=60)
    eq(code, 1, "bad query")
    check(err.startswith("strata tail: HTTP 400: "), repr(err))
