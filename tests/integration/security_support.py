"""Helpers shared by the security integration tests (test_security*.py); no tests here.

Tokens are minted with the openssl command line (RS256/384/512, PS256, and the HS256
alg-confusion attack keyed with the server's public key); certificates come from a CA each
test creates with openssl.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import urllib.parse

import harness
from harness import http, now_ns

# ---- tokens ----


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Keys:
    """An RSA key pair (the issuer's) and a second, unrelated one, as PEM files."""

    def __init__(self, env):
        d = env.tmpdir("keys")
        self.private = os.path.join(d, "issuer.key")
        self.public = os.path.join(d, "issuer.pub")
        self.other = os.path.join(d, "other.key")
        for path in (self.private, self.other):
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                            "rsa_keygen_bits:2048", "-out", path], check=True,
                           capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", self.private, "-pubout", "-out", self.public],
                       check=True, capture_output=True)
        with open(self.public, "rb") as f:
            self.public_pem = f.read()

    def mint(self, claims, alg="RS256", key=None, header=None, exp_in=3600):
        """A JWT with claims (exp added unless given or exp_in is None)."""
        claims = dict(claims)
        if exp_in is not None and "exp" not in claims:
            claims["exp"] = int(time.time()) + exp_in
        hdr = header or {"alg": alg, "typ": "JWT"}
        signing = (b64u(json.dumps(hdr, separators=(",", ":")).encode()) + "." +
                   b64u(json.dumps(claims, separators=(",", ":")).encode())).encode()
        if alg == "HS256":  # the alg-confusion attack: the public key's PEM as the secret
            sig = hmac.new(self.public_pem, signing, hashlib.sha256).digest()
        elif alg == "none":
            sig = b""
        else:
            digest = {"RS256": "sha256", "RS384": "sha384", "RS512": "sha512",
                      "PS256": "sha256"}[alg]
            args = ["openssl", "dgst", "-" + digest, "-sign", key or self.private]
            if alg == "PS256":
                args += ["-sigopt", "rsa_padding_mode:pss"]
            sig = subprocess.run(args, input=signing, capture_output=True, check=True).stdout
        return signing.decode() + "." + b64u(sig)


def bearer(token):
    return {"Authorization": "Bearer " + token}


TOKENS_YAML = """tokens:
  - name: red-writer
    token: red-writer-token-0123456789
    tenant: red
    role: write
  - name: red-reader
    token: red-reader-token-0123456789
    tenant: red
    role: read
  - name: blue-writer
    token: blue-writer-token-0123456789
    tenant: blue
    role: write
  - name: blue-reader
    token: blue-reader-token-0123456789
    tenant: blue
    role: read
  - name: both-reader
    token: both-reader-token-0123456789
    tenants: [red, blue]
    role: read
  - name: ops
    sha256: "%s"
    tenants: "*"
    role: admin
""" % hashlib.sha256(b"ops-admin-token-0123456789").hexdigest()

OPS = "ops-admin-token-0123456789"


def tokens_file(env):
    path = os.path.join(env.tmpdir("tokens"), "tokens.yaml")
    with open(path, "w") as f:
        f.write(TOKENS_YAML)
    return path


def push_body(marker, ts=None):
    ts = ts or now_ns()
    return json.dumps({"streams": [{"stream": {"app": "shop", "env": "prod"},
                                    "values": [[str(ts), marker]]}]})


# Every HTTP endpoint of the route table: (method, path, role, body). Endpoints other rooms
# have not built yet answer 501 once auth lets them through; the test only needs "not 401/403"
# for them, and exact statuses for the ones that exist.
RANGE_Q = "/loki/api/v1/query_range?" + urllib.parse.urlencode({"query": '{app="shop"}'})
ENDPOINTS = [
    ("POST", "/loki/api/v1/push", "write", None),
    ("POST", "/api/prom/push", "write", "{}"),
    ("POST", "/api/push", "write", "{}"),
    ("POST", "/otlp/v1/logs", "write", "{}"),
    ("POST", "/v1/logs", "write", "{}"),
    ("GET", RANGE_Q, "read", None),
    ("POST", "/loki/api/v1/query_range", "read", "query=%7Bapp%3D%22shop%22%7D"),
    ("GET", "/loki/api/v1/query?query=vector(1)", "read", None),
    ("GET", "/loki/api/v1/labels", "read", None),
    ("GET", "/loki/api/v1/label/app/values", "read", None),
    ("GET", "/loki/api/v1/series?match%5B%5D=%7Bapp%3D%22shop%22%7D", "read", None),
    ("GET", "/loki/api/v1/index/stats?query=%7Bapp%3D%22shop%22%7D", "read", None),
    ("GET", "/loki/api/v1/index/volume?query=%7Bapp%3D%22shop%22%7D", "read", None),
    ("GET", "/loki/api/v1/index/volume_range?query=%7Bapp%3D%22shop%22%7D", "read", None),
    ("GET", "/loki/api/v1/detected_labels", "read", None),
    ("GET", "/loki/api/v1/detected_fields", "read", None),
    ("GET", "/loki/api/v1/detected_field/app/values", "read", None),
    ("GET", "/loki/api/v1/patterns", "read", None),
    ("GET", "/loki/api/v1/format_query?query=%7Bapp%3D%22shop%22%7D", "read", None),
    ("GET", "/loki/api/v1/tail?query=%7Bapp%3D%22shop%22%7D", "read", None),
    ("GET", "/loki/api/v1/status/buildinfo", "read", None),
    ("GET", "/api/v1/status", "read", None),
    ("GET", "/api/v1/query?expression=service%3Dshop&start=0&end=0&resolution=0s", "read", None),
    ("GET", "/api/v1/labels", "read", None),
]
EXACT_OK = {"/loki/api/v1/push": 204, RANGE_Q: 200, "/loki/api/v1/status/buildinfo": 200,
            "/api/v1/status": 200}


def request(s, method, path, body, headers):
    h = dict(headers)
    if method == "POST":
        h.setdefault("Content-Type", "application/x-www-form-urlencoded"
                     if path == "/loki/api/v1/query_range" else "application/json")
    return http(method, s.url + path, body=body, headers=h)


def wait_or_kill(server, ready, what, timeout):
    """Wait for ready(); if it never comes, stop the process (nobody else knows about it yet:
    the harness registers a server only once its constructor returns)."""
    try:
        harness.wait_until(ready, timeout, what=what)
    except Exception:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        raise


class TokenServer(harness.Server):
    """A server whose /ready needs a token: readiness is checked with the admin's."""

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise harness.TestFailure("exited during start:\n" + self.log_tail())
            return http("GET", self.url + "/ready", headers=bearer(OPS), timeout=2).status == 200
        wait_or_kill(self, ready, "/ready with a token", timeout)


class PKI:
    """A CA with a server certificate for 127.0.0.1, a client certificate, and a rogue client."""

    def __init__(self, env):
        self.dir = d = env.tmpdir("pki")

        def run(*args):
            subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=d)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]  # fast to make
        run("req", "-x509", *ec, "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=Strata Test CA")
        with open(os.path.join(d, "san.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for name, ext in (("server", ["-extfile", "san.ext"]), ("client", [])):
            run("req", *ec, "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj",
                "/CN=" + name)
            run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2", *ext)
        run("req", "-x509", *ec, "-nodes", "-keyout", "rogue.key", "-out", "rogue.crt", "-days",
            "2", "-subj", "/CN=rogue")
        for k in ("ca.key", "server.key", "client.key", "rogue.key"):
            os.chmod(os.path.join(d, k), 0o600)

    def path(self, name):
        return os.path.join(self.dir, name)

    def tls_file(self, mtls, nested=False):
        sect = {"enabled": "true", "cert_file": self.path("server.crt"),
                "key_file": self.path("server.key")}
        if mtls:
            sect["ca_file"] = self.path("ca.crt")
        body = "".join("    %s: %s\n" % kv for kv in sect.items())
        if nested:  # LogsGO's decoder's shape
            text = "http:\n  config:\n" + body.replace("    ", "      ")
        else:
            text = "http:\n" + body.replace("    ", "  ")
        text += "logclient:\n  enabled: true\n  cert_file: %s\n  key_file: %s\n" % (
            self.path("server.crt"), self.path("server.key"))
        path = os.path.join(self.dir, "tls-%s.yaml" % ("mtls" if mtls else "plain"))
        with open(path, "w") as f:
            f.write(text)
        return path


def curl(url, *args):
    """curl's exit code and HTTP status ("000" when there was no HTTP answer)."""
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                        "10"] + list(args) + [url], capture_output=True, text=True)
    return p.returncode, p.stdout


class TLSServer(harness.Server):
    """A server on TLS: readiness is checked with curl and the test's CA."""

    def __init__(self, env, args, pki, client_cert):
        self.pki = pki
        self.client_args = ["--cacert", pki.path("ca.crt")] + (
            ["--cert", pki.path("client.crt"), "--key", pki.path("client.key")]
            if client_cert else [])
        super().__init__(env, args)

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise harness.TestFailure("exited during start:\n" + self.log_tail())
            return curl(self.url + "/ready", *self.client_args)[1] == "200"
        wait_or_kill(self, ready, "TLS /ready", timeout)


def start_tls(env, pki, mtls, extra=(), nested=False):
    s = TLSServer(env, ["--tls-config-path=" + pki.tls_file(mtls, nested)] + list(extra), pki,
                  client_cert=mtls)
    env.on_cleanup(s.stop)
    return s


def read_lines(s, query, tenant=None, token=OPS, since_s=600):
    """The lines query matches in tenant over the last since_s seconds (oldest first), read
    with token (the admin's by default; None for none)."""
    h = bearer(token) if token else {}
    if tenant:
        h["X-Scope-OrgID"] = tenant
    t = now_ns()
    r = s.get("/loki/api/v1/query_range", {"query": query, "start": str(t - since_s * 10**9),
                                           "end": str(t + 10**9), "limit": "5000",
                                           "direction": "forward"}, h)
    if r.status != 200:
        raise harness.TestFailure("query_range %s for %s: %d %r" % (query, tenant, r.status,
                                                                    r.text))
    vals = [v for st in r.json()["data"]["result"] for v in st["values"]]
    return [v[1] for v in sorted(vals, key=lambda v: (int(v[0]), v[1]))]
