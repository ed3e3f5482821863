#!/usr/bin/env python3
"""Deterministic log corpus generator built from real system logs (loghub samples).

Each output record is one log entry: a nanosecond timestamp, a small label set
(app, host, level) and a log line.  Lines are regenerated from the real log
templates of the loghub samples: every variable slot of a template is filled
with a value observed in the real data, often mutated (digits and hex
characters re-drawn), so the corpus has the vocabulary, shape and entropy of
real logs without repeating the same 2,000 lines over and over.

Some apps write plain text lines, some logfmt, some JSON (with a numeric
duration_ms field), so parsers and unwrap can be exercised.

Usage:
  make-corpus.py --lines 1000000 --out corpus.ndjson               # ndjson (default)
  make-corpus.py --lines 1000000 --format loki --batch 1000 --out pushes.ndjson
  make-corpus.py --lines 1000000 --format raw --out corpus.log      # lines only
  make-corpus.py --lines 1000000 --format tsv --out corpus.tsv      # ts\tapp\thost\tlevel\tline

Formats:
  ndjson  {"ts":"<ns>","labels":{"app":..,"host":..,"level":..},"line":".."} per line
  loki    one complete Loki push JSON body per output line, --batch entries each
  raw     the log line alone
  tsv     ts_ns, app, host, level, line (tabs, backslashes and newlines escaped as \\t \\\\ \\n)

The data directory defaults to data/loghub beside this script (copied into
the repository with its LICENSE notice).  Same arguments and same data always
give byte-identical output.
"""
import argparse
import csv
import json
import os
import random
import re
import sys
from datetime import datetime, timezone

LEVEL_MAP = {
    "i": "info", "info": "info", "information": "info", "notice": "info",
    "d": "debug", "debug": "debug", "v": "debug", "trace": "debug",
    "w": "warn", "warn": "warn", "warning": "warn",
    "e": "error", "error": "error", "severe": "error", "failure": "error", "err": "error",
    "f": "fatal", "fatal": "fatal", "critical": "fatal", "crit": "fatal",
}

JSON_APPS = {"healthapp", "hadoop", "android", "thunderbird"}
LOGFMT_APPS = {"zookeeper", "openssh", "apache", "spark"}


def norm_level(raw):
    if not raw:
        return "info"
    return LEVEL_MAP.get(raw.strip().lower(), "info")


def template_regex(template):
    parts = template.split("<*>")
    return re.compile("^" + "(.*?)".join(re.escape(p) for p in parts) + "$", re.S)


class App:
    def __init__(self, name, rows):
        self.name = name
        self.rows = []          # (level, component, template pieces, slot pools key, fallback)
        self.pools = {}         # (event, slot) -> list of observed values
        for r in rows:
            level = norm_level(r.get("Level") or r.get("Type"))
            comp = (r.get("Component") or r.get("Program") or r.get("Node") or name).strip()
            content = r.get("Content", "")
            tmpl = r.get("EventTemplate", "")
            event = r.get("EventId", "")
            pieces = None
            if "<*>" in tmpl:
                m = template_regex(tmpl).match(content)
                if m:
                    pieces = tmpl.split("<*>")
                    for i, v in enumerate(m.groups()):
                        self.pools.setdefault((event, i), []).append(v)
            self.rows.append((level, comp, event, pieces, content))

    def line_parts(self, rng):
        level, comp, event, pieces, content = rng.choice(self.rows)
        if pieces is None:
            return level, comp, content
        out = [pieces[0]]
        for i in range(len(pieces) - 1):
            out.append(mutate(rng.choice(self.pools[(event, i)]), rng))
            out.append(pieces[i + 1])
        return level, comp, "".join(out)


HEX_RE = re.compile(r"[0-9a-fA-F:.\-x]+")
_facts = {}


def mutate(value, rng):
    """Re-draw digits (and hex letters inside hex-looking tokens) half of the time."""
    if not value or rng.random() < 0.5:
        return value
    facts = _facts.get(value)
    if facts is None:
        hexish = bool(HEX_RE.fullmatch(value)) and any(c.isalpha() for c in value)
        digits = [i for i, c in enumerate(value) if c.isdigit()]
        letters = [i for i, c in enumerate(value) if hexish and c in "abcdef"]
        facts = _facts[value] = (digits, letters)
    digits, letters = facts
    if not digits and not letters:
        return value
    chars = list(value)
    bits = rng.getrandbits(4 * (len(digits) + len(letters)) + 4)
    for i in digits:
        d = bits % 10
        bits >>= 4
        if i == 0 and d == 0 and chars[0] != "0":
            d = 1
        chars[i] = "0123456789"[d]
    for i in letters:
        chars[i] = "abcdef"[bits % 6]
        bits >>= 4
    return "".join(chars)


def load_apps(data_dir, only):
    apps = []
    for fn in sorted(os.listdir(data_dir)):
        if not fn.endswith("_2k.log_structured.csv"):
            continue
        name = fn.split("_")[0].lower()
        if only and name not in only:
            continue
        with open(os.path.join(data_dir, fn), newline="", encoding="utf-8", errors="replace") as f:
            apps.append(App(name, list(csv.DictReader(f))))
    if not apps:
        sys.exit("make-corpus: no *_2k.log_structured.csv files in %s" % data_dir)
    return apps


_sec_cache = [None, ""]


def rfc3339(ns):
    sec = ns // 1_000_000_000
    if _sec_cache[0] != sec:
        dt = datetime.fromtimestamp(sec, tz=timezone.utc)
        _sec_cache[0], _sec_cache[1] = sec, dt.strftime("%Y-%m-%dT%H:%M:%S")
    return _sec_cache[1] + ".%03dZ" % ((ns // 1_000_000) % 1000)


def render(app, level, comp, msg, ns, rng):
    ts = rfc3339(ns)
    if app in JSON_APPS:
        return json.dumps({"ts": ts, "level": level, "component": comp, "msg": msg,
                           "duration_ms": round(rng.lognormvariate(3, 1.2), 2)},
                          separators=(",", ":"))
    if app in LOGFMT_APPS:
        return 'ts=%s level=%s component=%s msg=%s' % (ts, level, comp.replace(" ", "_") or "-",
                                                         json.dumps(msg))
    return "%s %s [%s] %s" % (ts, level.upper(), comp, msg)


def tsv_escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


CHUNK = 50000
_G = {}


def init_worker(a):
    only = set(x.strip().lower() for x in a.apps.split(",") if x.strip())
    apps = load_apps(a.data, only)
    start = int(datetime.strptime(a.start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())
    _G.update(a=a, apps=apps, weights=[len(x.rows) for x in apps],
              start_ns=start * 1_000_000_000, step_ns=int(a.span * 1e9 / max(a.lines, 1)))


def gen_chunk(k):
    """Lines [k*CHUNK, (k+1)*CHUNK) as text; each chunk has its own seeded generator,
    so the output is the same whatever the number of worker processes."""
    a, apps, weights = _G["a"], _G["apps"], _G["weights"]
    start_ns, step_ns = _G["start_ns"], _G["step_ns"]
    rng = random.Random(a.seed * 1000003 + k)
    out, batch, in_batch = [], {}, 0

    def flush_batch():
        streams = [{"stream": dict(key), "values": v} for key, v in batch.items()]
        out.append(json.dumps({"streams": streams}, separators=(",", ":")) + "\n")

    for i in range(k * CHUNK, min((k + 1) * CHUNK, a.lines)):
        app = rng.choices(apps, weights)[0]
        level, comp, msg = app.line_parts(rng)
        host = "%s-%02d" % (app.name, rng.randrange(a.hosts))
        ns = start_ns + i * step_ns + rng.randrange(0, max(step_ns, 1))
        line = render(app.name, level, comp, msg, ns, rng)
        if a.format == "ndjson":
            out.append('{"ts":"%d","labels":{"app":"%s","host":"%s","level":"%s"},"line":%s}\n'
                       % (ns, app.name, host, level, json.dumps(line)))
        elif a.format == "raw":
            out.append(line.replace("\n", " ") + "\n")
        elif a.format == "tsv":
            out.append("%d\t%s\t%s\t%s\t%s\n" % (ns, app.name, host, level, tsv_escape(line)))
        else:
            key = (("app", app.name), ("host", host), ("level", level))
            batch.setdefault(key, []).append([str(ns), line])
            in_batch += 1
            if in_batch >= a.batch:
                flush_batch()
                batch, in_batch = {}, 0
    if a.format == "loki" and batch:
        flush_batch()
    return "".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hosts", type=int, default=4, help="hosts per app (label host)")
    ap.add_argument("--start", default="2026-01-01T00:00:00Z", help="RFC3339 start time")
    ap.add_argument("--span", type=float, default=86400.0, help="seconds the corpus spans")
    ap.add_argument("--format", choices=["ndjson", "loki", "raw", "tsv"], default="ndjson")
    ap.add_argument("--batch", type=int, default=1000, help="entries per push body (--format loki)")
    ap.add_argument("--apps", default="", help="comma-separated app names to keep (default all)")
    ap.add_argument("--data", default=os.path.join(here, "data", "loghub"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    ap.add_argument("--out", default="-")
    a = ap.parse_args()

    chunks = range((a.lines + CHUNK - 1) // CHUNK)
    out = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")
    if a.jobs <= 1 or len(chunks) <= 1:
        init_worker(a)
        for k in chunks:
            out.write(gen_chunk(k))
    else:
        import multiprocessing
        with multiprocessing.Pool(a.jobs, initializer=init_worker, initargs=(a,)) as pool:
            for text in pool.imap(gen_chunk, chunks):
                out.write(text)
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
