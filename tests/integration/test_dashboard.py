"""Issue [7/10]: the dashboard's server side: embedded assets and GET /api/v1/status."""
import json
import os
import re
import subprocess

from harness import check, eq, free_port, http, now_ns


def test_dashboard_assets_are_embedded_and_cached(env):
    s = env.server()
    r = s.get("/")
    eq(r.status, 200, "index status")
    eq(r.headers.get("Content-Type"), "text/html; charset=utf-8", "index type")
    eq(r.headers.get("Cache-Control"), "no-cache", "the page is revalidated")
    check("default-src 'self'" in (r.headers.get("Content-Security-Policy") or ""), "CSP")
    assets = re.findall(r'(?:src|href)="(assets/[^"]+)"', r.text)
    eq(len(assets), 2, "one script and one stylesheet in %r" % r.text)
    for a in assets:
        ar = s.get("/" + a, headers={"Accept-Encoding": "gzip"})
        eq(ar.status, 200, a)
        check("immutable" in ar.headers.get("Cache-Control", ""), "%s cached for good" % a)
        eq(ar.headers.get("Content-Encoding"), "gzip", "%s compressed" % a)
        want = "application/javascript" if a.endswith(".js") else "text/css"
        check(ar.headers.get("Content-Type", "").startswith(want), "%s type" % a)
    # Conditional requests: the ETag (strong, or weakly compared) gives 304.
    tag = r.headers.get("ETag")
    check(tag and tag.startswith('"'), "strong ETag")
    eq(s.get("/index.html", headers={"If-None-Match": tag}).status, 304, "If-None-Match")
    eq(s.get("/", headers={"If-None-Match": '"other", W/' + tag}).status, 304, "a list, W/")
    eq(s.get("/", headers={"If-None-Match": '"other"'}).status, 200, "another tag")
    # Anything else is a plain 404, as for unknown API routes.
    for path in ("/assets/nope.js", "/assets/", "/explore", "/index.htm", "/assets/../index.html"):
        nr = s.get(path)
        eq(nr.status, 404, path)
        check(nr.text.startswith("404 page not found"), "%s: %r" % (path, nr.text))


def test_status_reports_build_tiers_and_config(env):
    cfg = os.path.join(env.scratch, "strata.yaml")
    with open(cfg, "w") as f:
        f.write("server:\n  workers: 3\n")
    s = env.server(["--log.level=debug", "--config.file=" + cfg])
    ts = now_ns()
    s.push([{"stream": {"app": "st"}, "values": [[str(ts), "a"], [str(ts + 1), "bb"]]}])
    s.push([{"stream": {"app": "st"}, "values": [[str(ts), "ccc"]]}], tenant="other")
    r = s.get("/api/v1/status")
    eq(r.status, 200, "status")
    eq(r.headers.get("Content-Type"), "application/json", "type")
    st = r.json()
    eq(list(st.keys()), ["build", "startTime", "uptimeSeconds", "ready", "tenant", "storageDetails",
                         "tiers", "head", "wal", "upkeep", "config"], "keys in order")
    b = s.get("/loki/api/v1/status/buildinfo").json()
    eq(st["build"]["revision"], b["revision"], "revision")
    eq(st["build"]["lokiVersion"], b["version"], "Loki version")
    check(re.match(r"^\d+\.\d+\.\d+$", st["build"]["version"]), "version %r" % st["build"]["version"])
    check(st["uptimeSeconds"] >= 0 and st["ready"] is True, "uptime and ready")
    eq(st["tenant"], "fake", "default tenant")
    eq(st["storageDetails"], True, "auth off: the storage totals are shown")
    eq([t["name"] for t in st["tiers"]], ["head", "local"], "the chain, head first")
    eq(st["tiers"][0], {"name": "head", "streams": 1, "chunks": 1, "entries": 2, "bytes": 3,
                        "parts": 0, "diskBytes": 0}, "head: the tenant's counts")
    other = s.get("/api/v1/status", headers={"X-Scope-OrgID": "other"}).json()
    eq((other["tenant"], other["tiers"][0]["entries"]), ("other", 1), "per tenant")
    # Totals over every tenant: the head holds both tenants' entries, the WAL their records.
    eq((st["head"]["entries"], st["head"]["tenants"]), (3, 2), "head totals")
    check(st["wal"]["bytes"] > 0 and st["wal"]["appends"] >= 2, "WAL: %r" % st["wal"])
    eq((st["upkeep"]["flushes"], st["upkeep"]["lastFlush"]), (0, None), "no flush yet")
    # After a flush the lines are in a part on disk.
    eq(s.post("/api/v1/admin/flush").status, 200, "flush")
    st = s.get("/api/v1/status").json()
    local = st["tiers"][1]
    eq((local["entries"], st["tiers"][0]["entries"]), (2, 0), "moved from head to local")
    check(local["parts"] >= 1 and local["diskBytes"] > 0, "parts on disk: %r" % local)
    check(st["upkeep"]["flushes"] >= 1 and st["upkeep"]["lastFlush"], "upkeep: %r" % st["upkeep"])
    # Every option, once, with its effective value and where it came from.
    helptext = subprocess.run([env.binary, "--help"], capture_output=True, text=True).stdout
    names = re.findall(r"^  --([a-z0-9.-]+)=<", helptext, re.M)
    eq([o["name"] for o in st["config"]], names, "every option, in declaration order")
    by = {o["name"]: o for o in st["config"]}
    eq((by["log.level"]["value"], by["log.level"]["source"]), ("debug", "flag"), "flag")
    eq((by["server.workers"]["value"], by["server.workers"]["source"]), ("3", "file"), "file")
    eq((by["log.level"]["default"], by["server.max-body-bytes"]["type"]), ("info", "bytes"), "meta")
    eq(by["data-dir"]["source"], "flag", "data dir from a flag")
    for o in st["config"]:
        eq(sorted(o), ["default", "name", "room", "secret", "source", "type", "value"], o["name"])
        if o["secret"] and o["value"]:
            eq(o["value"], "********", "%s is masked" % o["name"])


def test_status_shows_storage_totals_to_admins_only(env):
    """With auth on, a tenant's reader sees its own counts; the totals over every tenant
    (head, WAL, parts and bytes on disk) only an admin."""
    reader, admin = "status-reader-0123456789", "status-admin-0123456789"
    path = os.path.join(env.tmpdir("tokens"), "tokens.yaml")
    with open(path, "w") as f:
        f.write("tokens:\n"
                "  - {name: reader, token: %s, tenant: shop, role: read}\n"
                "  - {name: ops, token: %s, tenants: \"*\", role: admin}\n" % (reader, admin))
    os.chmod(path, 0o600)
    s = env.server(["--auth.tokens-file=" + path])
    eq(s.get("/api/v1/status").status, 401, "no token")
    mine = s.get("/api/v1/status", headers={"Authorization": "Bearer " + reader}).json()
    eq((mine["tenant"], mine["storageDetails"]), ("shop", False), "a reader")
    for k in ("head", "wal", "upkeep"):
        check(k not in mine, "%s hidden from a reader" % k)
    eq(sorted(mine["tiers"][0]), ["bytes", "chunks", "entries", "name", "streams"], "counts only")
    ops = s.get("/api/v1/status", headers={"Authorization": "Bearer " + admin}).json()
    eq(ops["storageDetails"], True, "an admin")
    check("wal" in ops and "diskBytes" in ops["tiers"][0], "totals for an admin")


def test_web_listen_addr_serves_dashboard_and_read_apis(env):
    web = free_port()
    s = env.server(["--web-listen-addr=127.0.0.1:%d" % web])
    ts = now_ns()
    s.push([{"stream": {"app": "w"}, "values": [[str(ts), "via web"]]}])
    base = "http://127.0.0.1:%d" % web
    eq(http("GET", base + "/").status, 200, "dashboard")
    eq(http("GET", base + "/ready").status, 200, "ready")
    eq(http("GET", base + "/api/v1/status").status, 200, "status")
    q = http("GET", base + "/loki/api/v1/query_range?query=%7Bapp%3D%22w%22%7D&start=" +
             str(ts - 10**9) + "&end=" + str(ts + 10**9))
    eq(q.status, 200, "query_range")
    eq(q.json()["data"]["result"][0]["values"][0][1], "via web", "line")
    # No writes, probes of other APIs or metrics on the dashboard's listener.
    p = http("POST", base + "/loki/api/v1/push", body=json.dumps({"streams": []}),
             headers={"Content-Type": "application/json"})
    eq(p.status, 404, "no push")
    eq(http("GET", base + "/metrics").status, 404, "no metrics")
