"""Issue [9/10], part 1: authentication, roles and tenants on every HTTP endpoint, TLS and
mutual TLS, slow and oversized clients. The helpers (tokens, keys, certificates) are in
security_support.py.
"""
import os
import socket
import ssl
import subprocess
import time

import harness
from harness import check, eq, free_port, http, now_ns
from security_support import (ENDPOINTS, EXACT_OK, OPS, PKI, RANGE_Q, Keys, TokenServer, bearer,
                              curl, push_body, request, start_tls, tokens_file)


def test_every_endpoint_refuses_bad_credentials_and_admits_the_right_one(env):
    keys = Keys(env)
    s = env.server(["--public-key-path=" + keys.public, "--auth.tokens-file=" + tokens_file(env),
                    "--auth.mode=jwt,tokens"])
    now = int(time.time())
    red_jwt = keys.mint({"tenant": "red", "sub": "red-app"})
    red_read_jwt = keys.mint({"tenant": "red", "role": "read"})
    red_write_jwt = keys.mint({"tenant": "red", "role": "write"})
    blue_jwt = keys.mint({"tenant": "blue"})
    refused = {
        "no token": ({}, 401, "missing token"),
        "empty bearer": ({"Authorization": "Bearer "}, 401, "missing token"),
        "unknown token": (bearer("not-a-token-at-all-0123"), 401, "invalid token"),
        "garbage jwt": (bearer("eyJhbGciOiJSUzI1NiJ9.e30.AAAA"), 401, "invalid token"),
        "expired": (bearer(keys.mint({"tenant": "red", "exp": now - 5})), 401,
                    "token has expired"),
        "no exp": (bearer(keys.mint({"tenant": "red"}, exp_in=None)), 401,
                   "invalid token claims"),
        "nbf ahead": (bearer(keys.mint({"tenant": "red", "nbf": now + 600})), 401,
                      "token is not valid yet"),
        "alg confusion": (bearer(keys.mint({"tenant": "red"}, alg="HS256")), 401,
                          "invalid token: unexpected signing method: HS256"),
        "alg none": (bearer(keys.mint({"tenant": "red"}, alg="none")), 401,
                     "invalid token: unexpected signing method: none"),
        "PS256": (bearer(keys.mint({"tenant": "red"}, alg="PS256")), 401,
                  "invalid token: unexpected signing method: PS256"),
        "wrong key": (bearer(keys.mint({"tenant": "red"}, key=keys.other)), 401,
                      "invalid token"),
        "other tenant's token": (dict(bearer(blue_jwt), **{"X-Scope-OrgID": "red"}), 403,
                                 'does not hold tenant "red"'),
    }
    for method, path, role, body in ENDPOINTS:
        what = "%s %s" % (method, path)
        payload = body if body is not None else (push_body("matrix") if role == "write" else None)
        for case, (headers, status, text) in refused.items():
            r = request(s, method, path, payload, headers)
            eq(r.status, status, "%s, %s (body %r)" % (what, case, r.text))
            if path.startswith("/api/v1/"):
                # LogsGO's REST API: its two JSON texts for 401.
                want = {"error": "missing token" if text == "missing token" else "invalid token"}
                if status == 401:
                    eq(r.json(), want, "%s, %s: LogsGO body" % (what, case))
                else:
                    check(text in r.json()["error"], "%s, %s: %r" % (what, case, r.text))
            else:
                check(text in r.text, "%s, %s: %r lacks %r" % (what, case, r.text, text))
                eq(r.headers.get("Content-Type"), "text/plain; charset=utf-8", what)
            if status == 401:
                check((r.headers.get("WWW-Authenticate") or "").startswith("Bearer"),
                      "%s, %s: WWW-Authenticate" % (what, case))
        # Another tenant's listed token, of the right role, asking for red.
        other = "blue-%s-token-0123456789" % ("writer" if role == "write" else "reader")
        r = request(s, method, path, payload, dict(bearer(other), **{"X-Scope-OrgID": "red"}))
        eq(r.status, 403, "%s with blue's token for red (body %r)" % (what, r.text))
        check('does not hold tenant \\"red\\"' in r.text or 'does not hold tenant "red"' in r.text,
              "%s: %r" % (what, r.text))
        # The wrong role: read-only credentials writing, write-only credentials reading.
        wrong = (["red-reader-token-0123456789", red_read_jwt] if role == "write"
                 else ["red-writer-token-0123456789", red_write_jwt])
        for tok in wrong:
            r = request(s, method, path, payload, bearer(tok))
            eq(r.status, 403, "%s with a %s-less token (body %r)" % (what, role, r.text))
        # The right credentials: a JWT with the default roles, a listed token, the admin.
        right = [red_jwt, OPS, "red-%s-token-0123456789" % ("writer" if role == "write"
                                                             else "reader")]
        for tok in right:
            h = bearer(tok)
            if tok == OPS:
                h["X-Scope-OrgID"] = "red"
            r = request(s, method, path, payload, h)
            check(r.status not in (401, 403), "%s refused a good token: %d %r" %
                  (what, r.status, r.text))
            if path in EXACT_OK:
                eq(r.status, EXACT_OK[path], "%s with a good token (body %r)" % (what, r.text))
    # Probes and metrics stay open; the dashboard's files too, its data does not.
    for path in ("/ready", "/metrics", "/api/v1/healthz", "/api/v1/readyz", "/"):
        eq(s.get(path).status, 200, "%s without a token" % path)
    eq(s.get("/api/v1/status").status, 401, "dashboard data")
    m = s.get("/metrics").text
    check('strata_auth_failures_total{reason="expired"}' in m, "failure metrics")
    check('strata_auth_jwt_cache_total{result="hit"}' in m, "cache metrics")


def test_tenants_with_overlapping_labels_never_see_each_other(env):
    s = env.server(["--auth.tokens-file=" + tokens_file(env)])
    ts = now_ns()
    for tenant in ("red", "blue"):
        r = s.post("/loki/api/v1/push", push_body("secret-of-%s" % tenant, ts),
                   dict(bearer("%s-writer-token-0123456789" % tenant),
                        **{"Content-Type": "application/json"}))
        eq(r.status, 204, "push %s (%r)" % (tenant, r.text))
    q = {"query": '{app="shop", env="prod"}', "start": str(ts - 10**9), "end": str(ts + 10**9)}
    read_paths = [p for m, p, role, b in ENDPOINTS if m == "GET" and role == "read"]
    for me, other in (("red", "blue"), ("blue", "red")):
        tok = bearer("%s-reader-token-0123456789" % me)
        r = s.get("/loki/api/v1/query_range", q, tok)
        eq(r.status, 200, "query_range for %s" % me)
        lines = [v[1] for st in r.json()["data"]["result"] for v in st["values"]]
        eq(lines, ["secret-of-%s" % me], "%s sees its own line only" % me)
        for path in read_paths:  # no endpoint returns a byte of the other's data
            body = http("GET", s.url + path, headers=tok).body
            check(("secret-of-%s" % other).encode() not in body, "%s leaks %s" % (path, other))
        st = s.get("/api/v1/status", headers=tok).json()
        eq((st["tenant"], st["tiers"][0]["entries"]), (me, 1), "status counts %s's own" % me)
        # Asking for the other tenant, or for both, with a one-tenant token: refused.
        eq(s.get("/loki/api/v1/query_range", q, dict(tok, **{"X-Scope-OrgID": other})).status,
           403, "%s asking for %s" % (me, other))
        eq(s.get("/loki/api/v1/query_range", q,
                 dict(tok, **{"X-Scope-OrgID": "red|blue"})).status, 403, "%s asking for both"
           % me)
        # Writing into the other tenant with one's own write token: refused, nothing stored.
        r = s.post("/loki/api/v1/push", push_body("intruder", ts + 5),
                   dict(bearer("%s-writer-token-0123456789" % me),
                        **{"X-Scope-OrgID": other, "Content-Type": "application/json"}))
        eq(r.status, 403, "%s writing into %s" % (me, other))
    both = bearer("both-reader-token-0123456789")
    for tenant in ("red", "blue"):
        r = s.get("/loki/api/v1/query_range", q, dict(both, **{"X-Scope-OrgID": tenant}))
        lines = [v[1] for st in r.json()["data"]["result"] for v in st["values"]]
        eq(lines, ["secret-of-%s" % tenant], "a two-tenant token choosing %s" % tenant)
    r = s.get("/loki/api/v1/query_range", q, dict(both, **{"X-Scope-OrgID": "red|blue"}))
    check(r.status not in (401, 403), "a token holding both may ask for red|blue")
    # The tenant header and Logthra's tenant-id must agree; a write names one tenant.
    r = s.post("/loki/api/v1/push", push_body("x"), dict(bearer(OPS), **{
        "X-Scope-OrgID": "red", "tenant-id": "blue", "Content-Type": "application/json"}))
    eq(r.status, 400, "two disagreeing tenant headers")
    r = s.post("/loki/api/v1/push", push_body("x"), dict(bearer(OPS), **{
        "X-Scope-OrgID": "red|blue", "Content-Type": "application/json"}))
    eq((r.status, r.text), (400, "multiple org IDs present\n"), "a write to two tenants")
    r = s.get("/loki/api/v1/query_range", q, dict(bearer(OPS), **{"X-Scope-OrgID": "../red"}))
    eq(r.status, 400, "an invalid tenant id")


def test_auth_none_keeps_loki_tenancy_and_refuses_multi_tenant_writes(env):
    s = env.server()
    r = s.post("/loki/api/v1/push", push_body("x"), {"X-Scope-OrgID": "a|b",
                                                     "Content-Type": "application/json"})
    eq((r.status, r.text), (400, "multiple org IDs present\n"), "push to a|b")
    r = s.post("/loki/api/v1/push", push_body("y"), {"tenant-id": "logthra-01",
                                                     "Content-Type": "application/json"})
    eq(r.status, 204, "Logthra's tenant-id header")
    r = s.get("/loki/api/v1/query_range", {"query": '{app="shop"}'},
              {"X-Scope-OrgID": "logthra-01"})
    eq(len(r.json()["data"]["result"]), 1, "stored under tenant-id's tenant")
    eq(s.get("/api/v1/status").status, 200, "no token needed")


def test_closed_probes_and_admin_metrics(env):
    s = TokenServer(env, ["--auth.tokens-file=" + tokens_file(env), "--auth.open-paths="])
    env.on_cleanup(s.stop)
    eq(s.get("/ready", headers=bearer(OPS)).status, 200, "ready with a token")
    for path in ("/ready", "/metrics", "/api/v1/healthz"):
        eq(s.get(path).status, 401, "%s closed" % path)
    eq(s.get("/metrics", headers=bearer("red-reader-token-0123456789")).status, 403,
       "metrics need admin")
    eq(s.get("/metrics", headers=bearer(OPS)).status, 200, "metrics for admin")
    eq(s.get("/").status, 200, "the dashboard's files stay open")


def test_web_listener_is_protected_too(env):
    web = free_port()
    s = env.server(["--auth.tokens-file=" + tokens_file(env),
                    "--web-listen-addr=127.0.0.1:%d" % web])
    url = "http://127.0.0.1:%d" % web
    harness.wait_until(lambda: http("GET", url + "/").status == 200, what="web listener")
    eq(http("GET", url + "/api/v1/status").status, 401, "status without a token")
    eq(http("GET", url + "/api/v1/status",
            headers=bearer("red-reader-token-0123456789")).status, 200, "status with one")
    eq(http("GET", url + RANGE_Q).status, 401, "query_range without a token")


def test_unauthenticated_upload_is_refused_before_its_body(env):
    s = env.server(["--auth.tokens-file=" + tokens_file(env)])
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"POST /loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: 50000000\r\n\r\n")
        # Not a byte of the 50 MB body is sent: the answer comes anyway.
        head = c.recv(4096)
    check(head.startswith(b"HTTP/1.1 401"), "got %r" % head[:80])


def test_startup_refuses_bad_security_configuration(env):
    keys = Keys(env)
    cases = [
        (["--auth.mode=jwt"], "needs --public-key-path"),
        (["--public-key-path=" + keys.private], "private key"),
        (["--public-key-path=/nonexistent/key.pem"], "cannot open /nonexistent/key.pem"),
        (["--auth.mode=none", "--public-key-path=" + keys.public], "--auth.mode=none but"),
        (["--auth.tokens-file=" + keys.public], "expected a mapping"),
        (["--tls-config-path=/nonexistent/tls.yaml"], "cannot open /nonexistent/tls.yaml"),
    ]
    for args, want in cases:
        p = subprocess.run([env.binary, "--http-listen-addr=127.0.0.1:%d" % free_port(),
                            "--data-dir=" + env.tmpdir("d")] + args, capture_output=True,
                           text=True, timeout=30)
        eq(p.returncode, 1, "exit code for %r (%s)" % (args, p.stderr[-300:]))
        check(want in p.stderr, "%r: %r lacks %r" % (args, p.stderr[-300:], want))
        for m in harness.SANITIZER_MARKERS:
            check(m not in p.stderr, "sanitizer report for %r" % args)


# ---- TLS ----


def test_tls_with_curl_and_plaintext_fails_cleanly(env):
    pki = PKI(env)
    s = start_tls(env, pki, mtls=False, nested=True)
    rc, code = curl(s.url + "/ready", "--cacert", pki.path("ca.crt"))
    eq((rc, code), (0, "200"), "curl over TLS with the test's CA")
    rc, code = curl(s.url + "/ready")
    check(rc != 0 and code == "000", "an unknown CA is refused by the client (rc %d)" % rc)
    # A push and a query over TLS.
    ts = now_ns()
    p = subprocess.run(["curl", "-sS", "--cacert", pki.path("ca.crt"), "-o", "/dev/null", "-w",
                        "%{http_code}", "-H", "Content-Type: application/json", "--data-binary",
                        push_body("over-tls", ts), s.url + "/loki/api/v1/push"],
                       capture_output=True, text=True)
    eq(p.stdout, "204", "push over TLS")
    out = subprocess.run(["curl", "-sS", "--cacert", pki.path("ca.crt"), "-G", "--data-urlencode",
                          'query={app="shop"}', s.url + "/loki/api/v1/query_range"],
                         capture_output=True, text=True).stdout
    check("over-tls" in out, "query over TLS: %r" % out)
    # Plain HTTP to the TLS port: no HTTP answer, no hang, and the server keeps serving.
    for _ in range(3):
        t0 = time.monotonic()
        r = None
        try:
            r = http("GET", "http://127.0.0.1:%d/ready" % s.port, timeout=5)
        except Exception:  # noqa: BLE001 - the connection is closed on us: that is the point
            pass
        check(r is None or r.status >= 400, "plaintext got an HTTP answer: %r" % r)
        check(time.monotonic() - t0 < 4, "plaintext was not hung up on promptly")
    eq(curl(s.url + "/ready", "--cacert", pki.path("ca.crt"))[1], "200", "still serving")


def test_mtls_requires_a_client_certificate_from_the_ca(env):
    pki = PKI(env)
    s = start_tls(env, pki, mtls=True,
                  extra=["--auth.tokens-file=" + tokens_file(env)])
    good = ["--cacert", pki.path("ca.crt"), "--cert", pki.path("client.crt"), "--key",
            pki.path("client.key")]
    eq(curl(s.url + "/ready", *good), (0, "200"), "client certificate from the CA")
    # Mutual TLS and a token together: the certificate opens the door, the token the tenant.
    eq(curl(s.url + "/api/v1/status", *good)[1], "401", "certificate alone is not a credential")
    eq(curl(s.url + "/api/v1/status", *good, "-H",
            "Authorization: Bearer red-reader-token-0123456789")[1], "200", "both")
    rc, code = curl(s.url + "/ready", "--cacert", pki.path("ca.crt"))
    check(rc != 0 and code == "000", "no client certificate: refused (rc %d, %s)" % (rc, code))
    # A certificate no configured CA signed, presented by a client that sends it anyway.
    ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
    ctx.load_cert_chain(pki.path("rogue.crt"), pki.path("rogue.key"))
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as c:
                c.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = c.recv(4096)
    except (ssl.SSLError, OSError):
        pass
    check(not answer.startswith(b"HTTP/1.1 200"), "a rogue certificate was accepted: %r" % answer)
    eq(curl(s.url + "/ready", *good), (0, "200"), "still serving")


def test_tls_file_errors_stop_the_start(env):
    pki = PKI(env)
    bad = os.path.join(pki.dir, "mismatch.yaml")
    with open(bad, "w") as f:
        f.write("http:\n  enabled: true\n  cert_file: %s\n  key_file: %s\n" % (
            pki.path("server.crt"), pki.path("client.key")))
    typo = os.path.join(pki.dir, "typo.yaml")
    with open(typo, "w") as f:
        f.write("http:\n  enabled: true\n  cert_file: %s\n  key_file: %s\n  ca_fiel: %s\n" % (
            pki.path("server.crt"), pki.path("server.key"), pki.path("ca.crt")))
    for path, want in ((bad, "does not match the certificate"), (typo, 'unknown key "ca_fiel"')):
        p = subprocess.run([env.binary, "--http-listen-addr=127.0.0.1:%d" % free_port(),
                            "--data-dir=" + env.tmpdir("d"), "--tls-config-path=" + path],
                           capture_output=True, text=True, timeout=30)
        eq(p.returncode, 1, "exit code (%s)" % p.stderr[-300:])
        check(want in p.stderr, "%r lacks %r" % (p.stderr[-300:], want))


# ---- slow and oversized clients ----


def read_until_closed(c, limit):
    """Read until the peer closes; the seconds it took (None if it did not within limit)."""
    t0 = time.monotonic()
    c.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            if c.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


def test_slowloris_is_cut_off(env):
    s = env.server(["--server.header-timeout=1s", "--server.body-timeout=1s",
                    "--server.connection-timeout=3s"])
    # Headers one byte every 0.2 s: cut off after about a second, not served.
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        t0 = time.monotonic()
        closed = False
        for ch in b"GET /ready HTTP/1.1\r\nHost: slow\r\nX-Padding: " + b"a" * 40:
            try:
                c.sendall(bytes([ch]))
            except OSError:
                closed = True
                break
            time.sleep(0.2)
            if time.monotonic() - t0 > 4:
                break
        took = time.monotonic() - t0
        if not closed:
            closed = read_until_closed(c, 1.0) is not None
        check(closed, "a client trickling headers was not cut off")
        check(took < 3.5, "cut off after %.1fs, want about 1s" % took)
    # A body that trickles after complete headers: cut off too.
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"POST /loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: 1000\r\n\r\n{")
        took = read_until_closed(c, 4.0)
        check(took is not None and took < 3.0, "a trickling body was not cut off (%r)" % took)
    # Meanwhile everyone else is served, and a kept-alive idle connection works within limits.
    eq(s.get("/ready").status, 200, "a normal client")
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        check(c.recv(4096).startswith(b"HTTP/1.1 200"), "first request")
        time.sleep(1.5)  # idle longer than the header timeout, shorter than the idle one
        c.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        check(c.recv(4096).startswith(b"HTTP/1.1 200"), "second request on a kept-alive "
              "connection after an idle pause")
    m = s.get("/metrics").text
    check("strata_http_slow_connections_closed_total 2" in m, "metric: %s" % [
        ln for ln in m.splitlines() if "slow_connections" in ln])


def test_oversized_headers_get_431(env):
    s = env.server(["--server.max-header-bytes=8KiB"])
    r = s.get("/ready", headers={"X-Big": "b" * 10000})
    eq(r.status, 431, "a 10 KB header over an 8 KiB cap")
    check("--server.max-header-bytes" in r.text, r.text)
    r = s.get("/ready", headers={"X-Ok": "b" * 4000})
    eq(r.status, 200, "4 KB is fine")
    # Beyond libmicrohttpd's own buffer (256 KiB) the answer is an error too, not a crash.
    try:
        r = s.get("/ready", headers={"X-Huge": "h" * 300000})
        check(r.status >= 400, "300 KB of headers: %d" % r.status)
    except OSError:
        pass
    eq(s.get("/ready").status, 200, "still serving")
