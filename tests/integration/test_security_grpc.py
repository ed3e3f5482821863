"""Issue [9/10], part 2: authentication, tenants and TLS on the gRPC listener, driven by Python
grpcio (Debian's python3-grpcio) with stubs generated from the repo's proto/ files.

Every gRPC method (LogsGO's UploadLog and UploadLogs, Loki's Pusher, OTLP's LogsService,
Logthra's PushToIngester) gets the matrix: no token, a bad one, an expired one, an
alg-confusion one, another tenant's, a read-only one writing; each refused with the right
status and LogsGO's text; the right ones admitted and their entries stored in their tenant.
"""
import os
import time

import harness
from harness import check, eq, now_ns
from security_support import OPS, PKI, Keys, read_lines, tokens_file
from test_ingest_support import grpc_stubs

PROTOS = ("logapi.proto", "loki_push.proto", "logthra.proto", "otlp_common.proto",
          "otlp_resource.proto", "otlp_logs.proto", "otlp_logs_service.proto")


class Methods:
    """One call per gRPC method, each pushing one line (marker) stamped now."""

    def __init__(self, env):
        grpc_stubs(env, *PROTOS)
        import grpc
        import logapi_pb2
        import logapi_pb2_grpc
        import logthra_pb2
        import logthra_pb2_grpc
        import loki_push_pb2
        import loki_push_pb2_grpc
        import otlp_common_pb2
        import otlp_logs_pb2
        import otlp_logs_service_pb2
        import otlp_logs_service_pb2_grpc
        import otlp_resource_pb2
        self.grpc = grpc
        self.m = dict(logapi=logapi_pb2, logapi_grpc=logapi_pb2_grpc, logthra=logthra_pb2,
                      logthra_grpc=logthra_pb2_grpc, loki=loki_push_pb2,
                      loki_grpc=loki_push_pb2_grpc, common=otlp_common_pb2, logs=otlp_logs_pb2,
                      svc=otlp_logs_service_pb2, svc_grpc=otlp_logs_service_pb2_grpc,
                      resource=otlp_resource_pb2)

    # The app label (or service) of each method's entries, to read them back.
    NAMES = ("UploadLog", "UploadLogs", "Push", "Export", "PushToIngester")

    def call(self, ch, name, marker, metadata, logthra_tenant=""):
        m = self.m
        t = now_ns()
        if name == "UploadLog":
            stub = m["logapi_grpc"].LogIngestorStub(ch)
            return stub.UploadLog(m["logapi"].LogEntry(service="shop", level="info",
                                                       message=marker, timestamp=t // 10**9),
                                  metadata=metadata, timeout=30)
        if name == "UploadLogs":
            stub = m["logapi_grpc"].LogIngestorStub(ch)
            return stub.UploadLogs(m["logapi"].LogBatch(entries=[m["logapi"].LogEntry(
                service="shop", level="warn", message=marker, timestamp=t // 10**9)]),
                metadata=metadata, timeout=30)
        if name == "Push":
            stub = m["loki_grpc"].PusherStub(ch)
            return stub.Push(m["loki"].PushRequest(streams=[m["loki"].StreamAdapter(
                labels='{app="shop", env="prod"}', entries=[m["loki"].EntryAdapter(
                    timestamp=m["loki"].Timestamp(seconds=t // 10**9, nanos=t % 10**9),
                    line=marker)])]), metadata=metadata, timeout=30)
        if name == "Export":
            stub = m["svc_grpc"].LogsServiceStub(ch)
            kv = m["common"].KeyValue(key="service.name",
                                      value=m["common"].AnyValue(string_value="shop"))
            rec = m["logs"].LogRecord(time_unix_nano=t,
                                      body=m["common"].AnyValue(string_value=marker))
            req = m["svc"].ExportLogsServiceRequest(resource_logs=[m["logs"].ResourceLogs(
                resource=m["resource"].Resource(attributes=[kv]),
                scope_logs=[m["logs"].ScopeLogs(log_records=[rec])])])
            return stub.Export(req, metadata=metadata, timeout=30)
        stub = m["logthra_grpc"].IngesterServiceStub(ch)
        return stub.PushToIngester(m["logthra"].RequestReceivedProto(
            TenantID=logthra_tenant, Streams=[m["logthra"].Strms(
                Stream={"app": "shop", "env": "prod"},
                TwoDimValue=[m["logthra"].OneDimValue(valTime=str(t), valMsg=marker)])]),
            metadata=metadata, timeout=30)

    def expect_refused(self, ch, name, metadata, code, text, logthra_tenant="", what="",
                       line="refused-line" + "-" * 100):
        what = "%s%s" % (name, ", " + what if what else "")
        try:
            self.call(ch, name, line, metadata, logthra_tenant)
        except self.grpc.RpcError as e:
            eq(e.code(), code, "%s: status (details %r)" % (what, e.details()))
            check(text in (e.details() or ""), "%s: %r lacks %r" % (what, e.details(), text))
            return
        raise harness.TestFailure("%s with %r was accepted" % (what, metadata))


def auth_md(token, tenant=None):
    md = [("authorization", "Bearer " + token)]
    if tenant:
        md.append(("x-scope-orgid", tenant))
    return md


def test_grpc_every_method_refuses_bad_credentials_and_admits_the_right_one(env):
    keys = Keys(env)
    s = env.server(["--public-key-path=" + keys.public, "--auth.tokens-file=" + tokens_file(env),
                    "--auth.mode=jwt,tokens"])
    g = Methods(env)
    grpc = g.grpc
    now = int(time.time())
    U, P, I = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
               grpc.StatusCode.INVALID_ARGUMENT)
    red_jwt = keys.mint({"tenant": "red", "sub": "red-agent"})
    refused = {
        "no token": ([], U, "missing authorization header"),
        "no token, a tenant": ([("x-scope-orgid", "red")], U, "missing authorization header"),
        "empty bearer": ([("authorization", "Bearer ")], U, "missing token"),
        "unknown token": (auth_md("not-a-token-at-all-0123"), U, "invalid token"),
        "garbage jwt": (auth_md("eyJhbGciOiJSUzI1NiJ9.e30.AAAA"), U, "invalid token"),
        "expired": (auth_md(keys.mint({"tenant": "red", "exp": now - 5})), U,
                    "token has expired"),
        "no exp": (auth_md(keys.mint({"tenant": "red"}, exp_in=None)), U,
                   "invalid token claims"),
        "alg confusion": (auth_md(keys.mint({"tenant": "red"}, alg="HS256")), U,
                          "invalid token: unexpected signing method: HS256"),
        "alg none": (auth_md(keys.mint({"tenant": "red"}, alg="none")), U,
                     "unexpected signing method: none"),
        "wrong key": (auth_md(keys.mint({"tenant": "red"}, key=keys.other)), U,
                      "invalid token"),
        "other tenant's jwt": (auth_md(keys.mint({"tenant": "blue"}), "red"), P,
                               'does not hold tenant "red"'),
        "other tenant's token": (auth_md("blue-writer-token-0123456789", "red"), P,
                                 'does not hold tenant "red"'),
        "read-only token": (auth_md("red-reader-token-0123456789"), P,
                            "does not allow writing"),
        "read-only jwt": (auth_md(keys.mint({"tenant": "red", "role": "read"})), P,
                          "does not allow writing"),
        "two tenants": (auth_md(OPS, "red|blue"), I, "multiple org IDs present"),
        "invalid tenant": (auth_md(OPS, "../red"), I, "invalid tenant ID"),
    }
    target = "127.0.0.1:%d" % s.grpc_port
    with grpc.insecure_channel(target) as ch:
        for name in Methods.NAMES:
            for case, (md, code, text) in refused.items():
                g.expect_refused(ch, name, md, code, text, what=case)
            # The bare token (LogsGO's clients send no "Bearer ") works as well.
            for i, md in enumerate([auth_md(red_jwt), auth_md("red-writer-token-0123456789"),
                                    [("authorization", "red-writer-token-0123456789")],
                                    auth_md(OPS, "red")]):
                g.call(ch, name, "%s-ok-%d" % (name, i), md)
        # Logthra's TenantID is admitted like the metadata: blue's token cannot name red.
        g.expect_refused(ch, "PushToIngester", auth_md("blue-writer-token-0123456789"), P,
                         'does not hold tenant "red"', logthra_tenant="red")
        g.expect_refused(ch, "PushToIngester", auth_md(OPS, "blue"), I,
                         "name different tenants", logthra_tenant="red")
        g.call(ch, "PushToIngester", "logthra-named-red", auth_md("red-writer-token-0123456789"),
               logthra_tenant="red")
    lines = sorted(read_lines(s, '{service_name="shop"}', "red"))
    want = sorted(["%s-ok-%d" % (n, i) for n in Methods.NAMES for i in range(4)] +
                  ["logthra-named-red"])
    eq(lines, want, "the admitted calls' entries, all in red, nothing refused stored")
    eq(read_lines(s, '{service_name="shop"}', "blue"), [], "nothing in blue")
    m = s.get("/metrics").text
    check('strata_grpc_requests_total{method="/logapi.LogIngestor/UploadLog",code="16"}' in m,
          "UNAUTHENTICATED counted")


def test_grpc_without_auth_keeps_tenants_from_metadata(env):
    s = env.server()
    g = Methods(env)
    grpc = g.grpc
    with grpc.insecure_channel("127.0.0.1:%d" % s.grpc_port) as ch:
        g.call(ch, "Push", "to-green", [("x-scope-orgid", "green")])
        g.call(ch, "UploadLog", "to-fake", [])
        g.expect_refused(ch, "Push", [("x-scope-orgid", "a|b")],
                         grpc.StatusCode.INVALID_ARGUMENT, "multiple org IDs present")
        g.expect_refused(ch, "Export", [("x-scope-orgid", "..")],
                         grpc.StatusCode.INVALID_ARGUMENT, "invalid tenant ID")
        g.expect_refused(ch, "PushToIngester", [("x-scope-orgid", "green")],
                         grpc.StatusCode.INVALID_ARGUMENT, "name different tenants",
                         logthra_tenant="blue")
    eq(read_lines(s, '{service_name="shop"}', "green", token=None), ["to-green"], "green")
    eq(read_lines(s, '{service_name="shop"}', token=None), ["to-fake"], "the default tenant")


def tls_server(env, pki, mtls, extra=()):
    """A server whose gRPC listener (logclient) speaks TLS; HTTP stays plain for the checks."""
    path = os.path.join(pki.dir, "grpc-tls.yaml")
    with open(path, "w") as f:
        f.write("logclient:\n  enabled: true\n  cert_file: %s\n  key_file: %s\n%s" % (
            pki.path("server.crt"), pki.path("server.key"),
            "  ca_file: %s\n" % pki.path("ca.crt") if mtls else ""))
    return env.server(["--tls-config-path=" + path] + list(extra))


def read_pem(pki, name):
    with open(pki.path(name), "rb") as f:
        return f.read()


def test_grpc_tls_with_the_tests_ca_and_plaintext_fails_cleanly(env):
    pki = PKI(env)
    s = tls_server(env, pki, mtls=False, extra=["--auth.tokens-file=" + tokens_file(env)])
    check("grpc: listening on 127.0.0.1:%d (port %d) with TLS" % (s.grpc_port, s.grpc_port) in
          open(s.log_path).read(), "start-up log names TLS")
    g = Methods(env)
    grpc = g.grpc
    target = "127.0.0.1:%d" % s.grpc_port
    creds = grpc.ssl_channel_credentials(root_certificates=read_pem(pki, "ca.crt"))
    with grpc.secure_channel(target, creds) as ch:
        for name in Methods.NAMES:
            g.call(ch, name, "tls-%s" % name, auth_md("red-writer-token-0123456789"))
        # TLS is no credential: the token is still needed.
        g.expect_refused(ch, "Push", [], grpc.StatusCode.UNAUTHENTICATED,
                         "missing authorization header")
    # Plaintext to the TLS port: the call fails (UNAVAILABLE), quickly, and nothing is stored.
    for _ in range(2):
        t0 = time.monotonic()
        with grpc.insecure_channel(target) as ch:
            try:
                g.call(ch, "Push", "plaintext", auth_md("red-writer-token-0123456789"))
                raise harness.TestFailure("a plaintext call to the TLS port succeeded")
            except grpc.RpcError as e:
                eq(e.code(), grpc.StatusCode.UNAVAILABLE, "plaintext status (%r)" % e.details())
        check(time.monotonic() - t0 < 20, "plaintext failed promptly")
    # A client that does not trust the server's CA refuses it.
    other = grpc.ssl_channel_credentials(root_certificates=read_pem(pki, "rogue.crt"))
    with grpc.secure_channel(target, other) as ch:
        try:
            g.call(ch, "Push", "untrusted", auth_md("red-writer-token-0123456789"))
            raise harness.TestFailure("a client trusting another CA connected")
        except grpc.RpcError as e:
            eq(e.code(), grpc.StatusCode.UNAVAILABLE, "unknown CA")
    # Still serving over TLS.
    with grpc.secure_channel(target, creds) as ch:
        g.call(ch, "UploadLog", "tls-after", auth_md("red-writer-token-0123456789"))
    lines = sorted(read_lines(s, '{service_name="shop"}', "red"))
    eq(lines, sorted(["tls-%s" % n for n in Methods.NAMES] + ["tls-after"]), "stored over TLS")


def test_grpc_mtls_refuses_a_client_without_a_certificate(env):
    pki = PKI(env)
    s = tls_server(env, pki, mtls=True)
    check("with TLS, client certificates required" in open(s.log_path).read(), "log")
    g = Methods(env)
    grpc = g.grpc
    target = "127.0.0.1:%d" % s.grpc_port
    ca = read_pem(pki, "ca.crt")
    with grpc.secure_channel(target, grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=read_pem(pki, "client.key"),
            certificate_chain=read_pem(pki, "client.crt"))) as ch:
        g.call(ch, "Push", "mtls-ok", [("x-scope-orgid", "red")])
    for what, creds in (
            ("no client certificate", grpc.ssl_channel_credentials(root_certificates=ca)),
            ("a certificate the CA did not sign", grpc.ssl_channel_credentials(
                root_certificates=ca, private_key=read_pem(pki, "rogue.key"),
                certificate_chain=read_pem(pki, "rogue.crt")))):
        with grpc.secure_channel(target, creds) as ch:
            try:
                g.call(ch, "Push", "mtls-refused", [("x-scope-orgid", "red")])
                raise harness.TestFailure("%s: accepted" % what)
            except grpc.RpcError as e:
                eq(e.code(), grpc.StatusCode.UNAVAILABLE, what)
    eq(read_lines(s, '{service_name="shop"}', "red", token=None), ["mtls-ok"],
       "only the client with a certificate")
