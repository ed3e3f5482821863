"""The golden query suite: query + data + expected output, in plain text files.

Each file in tests/golden/*.golden holds one data set and the cases that query
it. A file is pushed under its own tenant (golden-<file name>), so files never
see each other's data. Times are written relative to BASE, an hour boundary two
hours ago chosen when the suite runs ("+90s", "+1.5s", "-10s"), so the data is
always recent enough to be accepted and step alignment stays readable.

    @@@ data
    {app="api", level="info"} +0s GET /users 200
    {app="api"} +1.5s meta{trace_id="t1"} a line with structured metadata
    {app="web"} +2s "a JSON-quoted line\\twith escapes"

    ### a case name
    query: {app="api"} |= "GET"
    param: limit=10
    header: X-Loki-Response-Encoding-Flags: categorize-labels
    ---
    {app="api", level="info"}
      +0s GET /users 200

Keys of a case: endpoint (query_range by default; also query, labels,
label_values:NAME, series, stats, volume, volume_range, detected_labels,
detected_fields, detected_field_values:NAME, patterns, format_query, logsgo,
logsgo_labels), query, param (repeatable: name=value; "+Ns" values become
absolute times: nanoseconds for Loki, seconds for LogsGO; sec(+Ns),
fsec(+Ns) and rfc(+Ns) give seconds, float seconds and RFC3339), header
(repeatable). query_range defaults to start=+0s end=+600s limit=1000
direction=forward; query (instant) to time=+600s. The expected output is the
response normalised (see normalise()): errors as "error STATUS" and the body.

Running: run_suite(env, make_server) pushes every file's data to the server
make_server(env) returns (a harness Server or anything with .url), checks
every case, then asks POST /api/v1/admin/flush (flush the head to parts and
compact): when that answers 2xx every case is checked again, so the same
expectations hold whether data sits in the head or in parts. Another tier's
tests call run_suite with their own factory.

Writing expectations: GOLDEN_UPDATE=1 rewrites the expected blocks with what
the server answers (review the diff before committing it).
"""
import json
import os
import re
import time
import urllib.parse

from harness import TestFailure, http

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden")
NS = 10**9
OFFSET_RE = re.compile(r"^([+-])(\d+(?:\.\d+)?)s$")


_HELP = {}


def neutral_flags(binary):
    """Flags that keep the server from adding labels the data did not carry.

    The ingest path adds a service_name label and detected_level metadata by
    default (as Loki's distributor does); the suite's expectations are about
    what was pushed, so switch those off when this build has the options.
    """
    if binary not in _HELP:
        import subprocess
        try:
            _HELP[binary] = subprocess.run([binary, "--help"], capture_output=True,
                                           timeout=30).stdout.decode("utf-8", "replace")
        except OSError:
            _HELP[binary] = ""
    text = _HELP[binary]
    flags = []
    if "--limits.discover-service-name=" in text:
        flags.append("--limits.discover-service-name=")
    if "--limits.discover-log-levels=" in text:
        flags.append("--limits.discover-log-levels=false")
    return flags


def default_server(env, *flags):
    """A server for query tests: env.server with neutral_flags and the given flags."""
    return env.server(neutral_flags(env.binary) + list(flags))


def choose_base():
    """An hour boundary two hours ago, in seconds."""
    now = int(time.time())
    return (now // 3600) * 3600 - 2 * 3600


def parse_offset_ns(text, base):
    m = OFFSET_RE.match(text.strip())
    if not m:
        raise ValueError("bad time offset %r (want +Ns)" % text)
    whole, _, frac = m.group(2).partition(".")
    ns = int(whole) * NS + (int((frac + "000000000")[:9]) if frac else 0)
    return base * NS + (ns if m.group(1) == "+" else -ns)


def fmt_offset(ns, base):
    d = ns - base * NS
    if abs(d) > 3 * 10**8 * NS:  # far from BASE: an absolute time given by the case
        return "@%d" % ns
    sign = "+" if d >= 0 else "-"
    d = abs(d)
    s, frac = divmod(d, NS)
    if frac:
        return "%s%d.%ss" % (sign, s, ("%09d" % frac).rstrip("0"))
    return "%s%ds" % (sign, s)


def fmt_seconds(sec, base):
    """A Prometheus sample time (float seconds) as an offset."""
    ns = round(float(sec) * 1000) * 10**6
    return fmt_offset(ns, base)


def go_quote(s):
    return json.dumps(s, ensure_ascii=False)


def fmt_labels(d):
    return "{" + ", ".join("%s=%s" % (k, go_quote(d[k])) for k in sorted(d)) + "}"


def fmt_line(line):
    if line and line == line.strip() and line.isprintable():
        return line
    return go_quote(line)


class Case:
    def __init__(self, name, lineno):
        self.name, self.lineno = name, lineno
        self.endpoint = "query_range"
        self.query = None
        self.params = []
        self.headers = {}
        self.expect = []


class GoldenFile:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.tenant = "golden-" + self.name
        self.data = []  # (labels dict, offset text, meta dict, line)
        self.cases = []
        self.lines = open(path, encoding="utf-8").read().split("\n")
        self._parse()

    def _parse(self):
        section = None
        case = None
        in_expect = False
        for i, raw in enumerate(self.lines, 1):
            if raw.startswith("@@@ data"):
                section = "data"
                continue
            if raw.startswith("### "):
                case = Case(raw[4:].strip(), i)
                self.cases.append(case)
                section = "case"
                in_expect = False
                continue
            if section == "data":
                if not raw.strip() or raw.lstrip().startswith("#"):
                    continue
                self.data.append(self._parse_data(raw, i))
            elif section == "case":
                if in_expect:
                    if raw.strip() or case.expect:
                        case.expect.append(raw.rstrip())
                    continue
                if raw.strip() == "---":
                    in_expect = True
                    continue
                if not raw.strip() or raw.lstrip().startswith("#"):
                    continue
                key, _, value = raw.partition(":")
                key, value = key.strip(), value.strip()
                if key == "endpoint":
                    case.endpoint = value
                elif key == "query":
                    case.query = value
                elif key == "param":
                    n, _, v = value.partition("=")
                    case.params.append((n.strip(), v.strip()))
                elif key == "header":
                    n, _, v = value.partition(":")
                    case.headers[n.strip()] = v.strip()
                else:
                    raise ValueError("%s:%d: unknown key %r" % (self.path, i, key))
        for c in self.cases:
            while c.expect and not c.expect[-1].strip():
                c.expect.pop()

    def _parse_data(self, raw, lineno):
        m = re.match(r"^(\{.*?\})\s+(\S+)\s?(.*)$", raw)
        if not m:
            raise ValueError("%s:%d: bad data line" % (self.path, lineno))
        labels = parse_label_set(m.group(1))
        rest = m.group(3)
        meta = {}
        mm = re.match(r"^meta(\{.*?\})\s?(.*)$", rest)
        if mm:
            meta = parse_label_set(mm.group(1))
            rest = mm.group(2)
        if rest.startswith('"'):
            rest = json.loads(rest)
        return labels, m.group(2), meta, rest


def parse_label_set(text):
    out = {}
    body = text.strip()[1:-1]
    for m in re.finditer(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*("(?:[^"\\]|\\.)*")\s*,?', body):
        out[m.group(1)] = json.loads(m.group(2))
    return out


def load_files(directory=GOLDEN_DIR):
    return [GoldenFile(os.path.join(directory, f)) for f in sorted(os.listdir(directory))
            if f.endswith(".golden")]


def push_data(server, gf, base):
    """Push a file's data as Loki JSON, streams grouped by labels."""
    streams = {}
    for labels, off, meta, line in gf.data:
        key = json.dumps(labels, sort_keys=True)
        s = streams.setdefault(key, {"stream": labels, "values": []})
        v = [str(parse_offset_ns(off, base)), line]
        if meta:
            v.append(meta)
        s["values"].append(v)
    if not streams:
        return
    body = {"streams": list(streams.values())}
    r = http("POST", server.url + "/loki/api/v1/push", body=body,
             headers={"Content-Type": "application/json", "X-Scope-OrgID": gf.tenant})
    if r.status not in (200, 204):
        raise TestFailure("%s: push failed with %d: %s" % (gf.path, r.status, r.text))


LOKI_PATHS = {
    "query_range": "/loki/api/v1/query_range",
    "query": "/loki/api/v1/query",
    "labels": "/loki/api/v1/labels",
    "series": "/loki/api/v1/series",
    "stats": "/loki/api/v1/index/stats",
    "volume": "/loki/api/v1/index/volume",
    "volume_range": "/loki/api/v1/index/volume_range",
    "detected_labels": "/loki/api/v1/detected_labels",
    "detected_fields": "/loki/api/v1/detected_fields",
    "patterns": "/loki/api/v1/patterns",
    "format_query": "/loki/api/v1/format_query",
    "logsgo": "/api/v1/query",
    "logsgo_labels": "/api/v1/labels",
}


def request_for(case, base):
    ep = case.endpoint
    name = None
    if ":" in ep:
        ep, name = ep.split(":", 1)
    if ep == "label_values":
        path = "/loki/api/v1/label/%s/values" % urllib.parse.quote(name, safe="")
    elif ep == "detected_field_values":
        path = "/loki/api/v1/detected_field/%s/values" % urllib.parse.quote(name, safe="")
    elif ep in LOKI_PATHS:
        path = LOKI_PATHS[ep]
    else:
        raise ValueError("unknown endpoint %r" % case.endpoint)
    params = []
    given = {n for n, _ in case.params}
    if ep == "query_range":
        for n, v in (("start", "+0s"), ("end", "+600s"), ("limit", "1000"),
                     ("direction", "forward")):
            if n not in given:
                params.append((n, v))
    elif ep == "query" and "time" not in given:
        params.append(("time", "+600s"))
    elif ep in ("labels", "series", "stats", "volume", "volume_range", "detected_labels",
                "detected_fields", "patterns", "label_values", "detected_field_values"):
        for n, v in (("start", "+0s"), ("end", "+600s")):
            if n not in given:
                params.append((n, v))
    params += case.params
    out = []
    for n, v in params:
        m = re.match(r"^(sec|fsec|rfc)\((.*)\)$", v)
        if m:
            ns = parse_offset_ns(m.group(2), base)
            if m.group(1) == "sec":
                v = str(ns // NS)
            elif m.group(1) == "fsec":
                v = "%d.%03d" % (ns // NS, ns % NS // 10**6)
            else:
                v = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // NS)) + (
                    (".%09d" % (ns % NS)).rstrip("0") if ns % NS else "") + "Z"
        elif OFFSET_RE.match(v) and n in ("start", "end", "time"):
            ns = parse_offset_ns(v, base)
            v = str(ns // NS) if ep == "logsgo" else str(ns)
        out.append((n, v))
    if case.query is not None:
        out.insert(0, ("expression" if ep == "logsgo" else "query", case.query))
    return ep, path, out


def normalise(ep, status, text, base):
    """The response as the readable text the golden files hold."""
    if status != 200:
        return ["error %d" % status] + text.rstrip("\n").split("\n")
    body = json.loads(text)
    out = []
    if ep in ("query_range", "query", "volume", "volume_range"):
        data = body["data"]
        rt = data["resultType"]
        if rt == "streams":
            if data.get("encodingFlags"):
                out.append("encodingFlags %s" % ",".join(data["encodingFlags"]))
            for st in data["result"]:
                out.append(fmt_labels(st["stream"]))
                for v in st["values"]:
                    out.append("  %s %s" % (fmt_offset(int(v[0]), base), fmt_line(v[1])))
                    if len(v) > 2:
                        extra = v[2]
                        if extra.get("structuredMetadata"):
                            out.append("    meta %s" % fmt_labels(extra["structuredMetadata"]))
                        if extra.get("parsed"):
                            out.append("    parsed %s" % fmt_labels(extra["parsed"]))
            if not data["result"]:
                out.append("(no streams)")
        elif rt == "matrix":
            for s in data["result"]:
                out.append(fmt_labels(s["metric"]))
                for t, v in s["values"]:
                    out.append("  %s %s" % (fmt_seconds(t, base), v))
            if not data["result"]:
                out.append("(empty matrix)")
        elif rt == "vector":
            out.append("vector")
            for s in data["result"]:
                t, v = s["value"]
                out.append("%s %s %s" % (fmt_labels(s["metric"]), fmt_seconds(t, base), v))
        elif rt == "scalar":
            t, v = data["result"]
            out.append("scalar %s %s" % (fmt_seconds(t, base), v))
        return out
    if ep == "logsgo":
        if not body:
            return ["[]"]
        for s in body:
            out.append("%s | %s | %s | %s" % (s["Service"], s["Level"], fmt_line(s["Message"]),
                                              "null" if s["Labels"] is None
                                              else fmt_labels(s["Labels"])))
            for p in s["Points"]:
                out.append("  %s %d" % (fmt_offset(p["Timestamp"] * NS, base), p["Count"]))
        return out
    if ep == "patterns":
        for p in body["data"]:
            out.append(fmt_line(p["pattern"]))
            out.append("  " + " ".join("%s:%d" % (fmt_offset(t * NS, base), c)
                                       for t, c in p["samples"]))
        return out or ["(no patterns)"]
    if ep == "format_query":
        return [body["data"]]
    if ep in ("labels", "label_values", "series"):
        return [json.dumps(body["data"], ensure_ascii=False)]
    if ep == "stats" and body.get("chunks"):
        body["chunks"] = "some"  # how many chunks hold the data depends on the tier

    return [json.dumps(body, ensure_ascii=False)]


def run_case(server, gf, case, base):
    ep, path, params = request_for(case, base)
    headers = dict(case.headers)
    headers.setdefault("X-Scope-OrgID", gf.tenant)
    url = server.url + path + "?" + urllib.parse.urlencode(params)
    r = http("GET", url, headers=headers)
    return normalise(ep, r.status, r.text, base)


def check_files(server, files, base, label):
    failures = []
    results = {}
    for gf in files:
        for case in gf.cases:
            try:
                got = run_case(server, gf, case, base)
            except Exception as e:  # noqa: BLE001 - report every broken case
                got = ["exception %r" % e]
            results[(gf.path, case.lineno)] = got
            if got != case.expect:
                failures.append("%s:%d %s [%s]\n--- want\n%s\n--- got\n%s" % (
                    gf.path, case.lineno, case.name, label, "\n".join(case.expect),
                    "\n".join(got)))
    return failures, results


def update_files(files, results):
    for gf in files:
        out = []
        lines = gf.lines
        i = 0
        by_line = {c.lineno: c for c in gf.cases}
        while i < len(lines):
            out.append(lines[i])
            c = by_line.get(i + 1)
            if c is not None:
                j = i + 1
                while j < len(lines) and lines[j].strip() != "---":
                    out.append(lines[j])
                    j += 1
                out.append("---")
                out.extend(results[(gf.path, c.lineno)])
                out.append("")
                j += 1
                while j < len(lines) and not lines[j].startswith("### "):
                    j += 1
                i = j
                continue
            i += 1
        text = "\n".join(out).rstrip("\n") + "\n"
        with open(gf.path, "w", encoding="utf-8") as f:
            f.write(text)


def count_cases(directory=GOLDEN_DIR):
    return sum(len(gf.cases) for gf in load_files(directory))


def run_suite(env, make_server, directory=GOLDEN_DIR, only=None):
    """Push, check, flush, check again. Raises TestFailure listing every failing case."""
    files = load_files(directory)
    if only:
        files = [f for f in files if only in f.name]
    server = make_server(env)
    base = choose_base()
    for gf in files:
        push_data(server, gf, base)
    failures, results = check_files(server, files, base, "head")
    if os.environ.get("GOLDEN_UPDATE"):
        update_files(files, results)
        return
    r = http("POST", server.url + "/api/v1/admin/flush")
    flushed = 200 <= r.status < 300
    if flushed:
        more, _ = check_files(server, files, base, "after flush")
        failures += more
    n = sum(len(f.cases) for f in files)
    print("golden: %d cases in %d files, %s" % (
        n, len(files), "checked before and after a flush" if flushed else
        "head only (POST /api/v1/admin/flush answered %d)" % r.status))
    if failures:
        raise TestFailure("%d golden case(s) failed:\n\n%s" % (len(failures),
                                                              "\n\n".join(failures[:40])))
