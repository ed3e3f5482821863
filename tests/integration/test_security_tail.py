"""Issue [9/10], part 2: the live tail WebSocket with authentication, as a browser must do it.

A browser cannot set Authorization or X-Scope-OrgID on a WebSocket; it offers subprotocols
instead (src/server/wsauth.h): strata.v1, strata.bearer.<base64url(token)> and optionally
strata.tenant.<base64url(tenant)>, and the server answers with strata.v1. The client here is
npm `ws`, which, like a browser, fails the handshake unless the server picks an offered
subprotocol.
"""
import base64
import json
import urllib.parse

from harness import check, eq, now_ns
from security_support import OPS, bearer, push_body, tokens_file
from test_ingest_support import node_client


def b64u(text):
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def protocols(token=None, tenant=None, v1=True):
    p = ["strata.v1"] if v1 else []
    if token is not None:
        p.append("strata.bearer." + b64u(token))
    if tenant is not None:
        p.append("strata.tenant." + b64u(tenant))
    return ",".join(p) or "-"


def tail(env, s, protos, **opts):
    url = "ws://127.0.0.1:%d/loki/api/v1/tail?%s" % (s.port, urllib.parse.urlencode(
        {"query": '{app="shop"}', "start": str(now_ns() - 60 * 10**9)}))
    opts.setdefault("timeout_ms", 10000)
    return node_client(env, "ws_tail.mjs", url, protos, json.dumps(opts))


def lines_of(res):
    return sorted(v[1] for m in res["messages"] for st in m["streams"] for v in st["values"])


def push(s, tenant, line):
    r = s.post("/loki/api/v1/push", push_body(line),
               dict(bearer(OPS), **{"X-Scope-OrgID": tenant, "Content-Type": "application/json"}))
    eq(r.status, 204, "push %s (%r)" % (tenant, r.text))


def test_tail_takes_its_credential_and_tenant_from_subprotocols(env):
    s = env.server(["--auth.tokens-file=" + tokens_file(env), "--query.tail-poll-interval=100ms"])
    push(s, "red", "secret-of-red")
    push(s, "blue", "secret-of-blue")
    # A reader's token as a subprotocol: its own tenant's lines, and the server picks strata.v1.
    r = tail(env, s, protocols("red-reader-token-0123456789"), until="secret-of-red")
    eq((r["protocol"], r["error"]), ("strata.v1", None), "handshake (%r)" % r)
    eq(lines_of(r), ["secret-of-red"], "red's tail")
    # A token holding both tenants chooses with strata.tenant.
    r = tail(env, s, protocols("both-reader-token-0123456789", "blue"), until="secret-of-blue")
    eq(lines_of(r), ["secret-of-blue"], "blue chosen by subprotocol")
    # Live: a line pushed while the tail is open arrives; the other tenant's never does.
    # (Pushed before the client starts, newer than start: the first poll finds it.)
    push(s, "red", "live-red")
    push(s, "blue", "live-blue")
    r = tail(env, s, protocols("red-reader-token-0123456789"), until="live-red")
    eq(lines_of(r), ["live-red", "secret-of-red"], "red again, with the new line")
    # Refusals, before any upgrade: plain HTTP answers the client can see.
    cases = [
        ("no credential", protocols(), 401, "missing token"),
        ("another tenant", protocols("red-reader-token-0123456789", "blue"), 403,
         'does not hold tenant "blue"'),
        ("a write-only token", protocols("red-writer-token-0123456789"), 403,
         "does not allow reading"),
        ("an unknown token", protocols("not-a-token-at-all-0123"), 401, "invalid token"),
        # Subprotocols are HTTP tokens (no "=", "*", ...): malformed base64url within them.
        ("a bad length", "strata.v1,strata.bearer.A", 400, "not base64url"),
        ("leftover bits", "strata.v1,strata.bearer.AB", 400, "not base64url"),
        ("control bytes", "strata.v1,strata.bearer." + b64u("tok\x01en-0123456789abcd"), 400,
         "outside printable ASCII"),
        ("two tenants for one token", protocols("red-reader-token-0123456789", "red|blue"), 403,
         'does not hold tenant "blue"'),
    ]
    for what, protos, status, text in cases:
        r = tail(env, s, protos)
        eq(r["status"], status, "%s (%r)" % (what, r))
        check(text in (r["body"] or ""), "%s: %r lacks %r" % (what, r["body"], text))
    # Real headers win over subprotocols (a non-browser client), and strata.v1 alone is fine.
    r = tail(env, s, protocols("not-a-token-at-all-0123"), until="secret-of-red",
             headers=bearer("red-reader-token-0123456789"))
    eq(lines_of(r), ["live-red", "secret-of-red"], "Authorization header first")
    r = tail(env, s, "-", until="secret-of-red", headers=dict(
        bearer("both-reader-token-0123456789"), **{"X-Scope-OrgID": "red"}))
    eq((r["protocol"], lines_of(r)), ("", ["live-red", "secret-of-red"]),
       "no subprotocol offered, none answered")


def test_tail_refuses_pages_of_other_origins(env):
    s = env.server(["--auth.tokens-file=" + tokens_file(env), "--server.cors-origins=" +
                    "http://grafana.example"])
    push(s, "red", "secret-of-red")
    tok = protocols("red-reader-token-0123456789")
    r = tail(env, s, tok, origin="http://evil.example")
    eq(r["status"], 403, "another origin (%r)" % r)
    check("cross-origin WebSocket refused" in r["body"], r["body"])
    for origin in ("http://127.0.0.1:%d" % s.port, "http://grafana.example"):
        r = tail(env, s, tok, origin=origin, until="secret-of-red")
        eq(lines_of(r), ["secret-of-red"], "origin %s" % origin)


def test_tail_without_auth_takes_the_tenant_from_a_subprotocol(env):
    s = env.server()
    for tenant in ("red", "blue"):
        r = s.post("/loki/api/v1/push", push_body("line-of-" + tenant),
                   {"X-Scope-OrgID": tenant, "Content-Type": "application/json"})
        eq(r.status, 204, "push")
    r = tail(env, s, protocols(tenant="blue"), until="line-of-blue")
    eq((r["protocol"], lines_of(r)), ("strata.v1", ["line-of-blue"]), "blue by subprotocol")
    r = tail(env, s, protocols(tenant="../x"))
    eq(r["status"], 400, "an invalid tenant (%r)" % r)


def test_hostile_websocket_frames_close_the_tail(env):
    """Frames that break RFC 6455 (unmasked, reserved bits, a big ping, an oversized
    length) get a close frame with 1002/1009 and the socket closed; the server goes on."""
    from test_query_api import WebSocket
    s = env.server()
    path = "/loki/api/v1/tail?" + urllib.parse.urlencode({"query": '{app="x"}'})
    cases = [
        (b"\x81\x05hello", 1002),                                   # unmasked
        (b"\xc1\x80\x00\x00\x00\x00", 1002),                        # RSV1
        (b"\x89\xfe\x00\xc8" + b"\x00" * 4 + b"p" * 200, 1002),      # a 200-byte ping
        (b"\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 1009),        # 2^63 - 1 bytes
    ]
    for raw, code in cases:
        ws = WebSocket(s.port, path)
        eq(ws.status, 101, "handshake")
        ws.s.sendall(raw)
        op, payload = ws.recv_frame()
        while op != 8:  # entries may come first
            op, payload = ws.recv_frame()
        eq(int.from_bytes(payload[:2], "big"), code, "close code for %r" % raw[:12])
        ws.close()
    eq(s.get("/ready").status, 200, "still serving")
