"""Issue [4/10]: the query API under load, limits and hostile input; /tail over WebSocket."""
import base64
import json
import os
import socket
import struct
import threading
import time

from golden import default_server
from harness import check, eq, now_ns, wait_until


class WebSocket:
    """A minimal RFC 6455 client: handshake, masked frames out, frames in."""

    def __init__(self, port, path):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(1)
            if not chunk:
                raise OSError("closed during the handshake: %r" % head)
            head += chunk
        self.status = int(head.split()[1])
        self.head = head.decode("latin-1")
        self.buf = b""

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        check(not (b1 & 0x80), "server frames are not masked")
        return b0 & 0x0f, self._read(n)

    def send(self, opcode, payload=b""):
        mask = os.urandom(4)
        hdr = bytes([0x80 | opcode])
        n = len(payload)
        hdr += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
        self.s.sendall(hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))

    def close(self):
        self.s.close()


def test_tail_websocket_streams_new_entries(env):
    s = default_server(env, "--query.tail-poll-interval=100ms")
    ts = now_ns()
    s.push([{"stream": {"app": "tail"}, "values": [[str(ts - 5 * 10**9), "before"]]}])
    ws = WebSocket(s.port, "/loki/api/v1/tail?query=%7Bapp%3D%22tail%22%7D&start=" +
                   str(ts - 60 * 10**9))
    eq(ws.status, 101, "handshake: %s" % ws.head)
    check("Sec-WebSocket-Accept" in ws.head, "accept header")
    op, payload = ws.recv_frame()
    eq(op, 1, "a text frame")
    msg = json.loads(payload)
    eq(msg, {"streams": [{"stream": {"app": "tail"}, "values": [[str(ts - 5 * 10**9),
                                                                   "before"]]}]},
       "the backfill")
    # new entries arrive on the next poll
    s.push([{"stream": {"app": "tail"}, "values": [[str(now_ns()), "live 1"]]},
            {"stream": {"app": "other"}, "values": [[str(now_ns()), "not tailed"]]}])
    op, payload = ws.recv_frame()
    lines = [v[1] for st in json.loads(payload)["streams"] for v in st["values"]]
    eq(lines, ["live 1"], "live entry")
    # ping gets a pong, close gets a close
    ws.send(9, b"hi")
    op, payload = ws.recv_frame()
    eq((op, payload), (10, b"hi"), "pong")
    ws.send(8, struct.pack(">H", 1000))
    op, payload = ws.recv_frame()
    eq(op, 8, "close answered")
    ws.close()
    # bad requests are refused before the upgrade
    ws = WebSocket(s.port, "/loki/api/v1/tail?query=%7Bapp%3D%22tail%22%7D&delay_for=6")
    eq(ws.status, 400, "delay_for over 5")
    ws.close()
    ws = WebSocket(s.port, "/loki/api/v1/tail?query=count_over_time(%7Ba%3D%22b%22%7D%5B1m%5D)")
    eq(ws.status, 400, "metric queries cannot be tailed")
    ws.close()
    r = s.get("/loki/api/v1/tail", {"query": '{app="tail"}'})
    eq(r.status, 400, "a plain GET is not a WebSocket")


def test_tail_handshakes_abandoned_free_their_slots(env):
    """Clients that send the handshake and vanish (RST) before reading the 101 hold no tail slot
    and leak nothing (the sanitizers check at exit): with two slots, 320 of them and then a
    real tail gets its 101."""
    s = default_server(env, "--query.max-tail-connections=2")
    path = "/loki/api/v1/tail?query=%7Bapp%3D%22gone%22%7D"
    def abandon(n):
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
                       "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" %
                       (path, base64.b64encode(os.urandom(16)).decode())).encode())
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
    # Eight clients at once, so that some vanish between the handler and the 101.
    threads = [threading.Thread(target=abandon, args=(40,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t0 = time.monotonic()

    def tail_opens():
        ws = WebSocket(s.port, path)
        ws.close()
        return ws.status == 101
    wait_until(tail_opens, 30, 0.1, "a tail slot free again")
    print("    a tail slot was free after %.1fs" % (time.monotonic() - t0))


def test_tail_is_closed_at_shutdown(env):
    s = default_server(env)
    ws = WebSocket(s.port, "/loki/api/v1/tail?query=%7Bapp%3D%22x%22%7D")
    eq(ws.status, 101, "upgraded")
    time.sleep(0.3)
    s.stop()  # must end cleanly with the WebSocket still open
    ws.close()


def push_many(s, app, n, t0, line_fn, streams=1):
    vals = [[] for _ in range(streams)]
    for i in range(n):
        vals[i % streams].append([str(t0 + i * 1000), line_fn(i)])
    s.push([{"stream": {"app": app, "shard": str(k)}, "values": vals[k]} for k in range(streams)])


def test_limits_series_memory_and_timeout(env):
    s = default_server(env, "--query.max-series=3", "--query.max-memory=64KiB")
    t0 = now_ns() - 60 * 10**9
    push_many(s, "many", 400, t0, lambda i: '{"i":%d,"k":"v%d"}' % (i, i % 50), streams=8)
    r = s.get("/loki/api/v1/query", {"query": 'count_over_time({app="many"}[5m])'})
    eq(r.status, 400, "series limit")
    check("maximum number of series (3) reached for a single query" in r.text, r.text)
    r = s.get("/loki/api/v1/query", {"query": 'count_over_time({app="many"} | json [5m])'})
    eq(r.status, 400, "memory limit")
    check("memory limit" in r.text, r.text)
    r = s.get("/loki/api/v1/query", {"query": 'sum(count_over_time({app="many"}[5m]))'})
    eq((r.status, r.json()["data"]["result"][0]["value"][1]), (200, "400"), "aggregated fits")
    s.stop()
    # A query past --query.timeout gets 504 with Loki's kind of text.
    s2 = default_server(env, "--query.timeout=1ms", "--query.parallelism=1")
    push_many(s2, "slow", 20000, t0, lambda i: "level=info user=u%d msg=\"hello %d\"" % (i, i))
    r = s2.get("/loki/api/v1/query_range", {
        "query": 'sum(count_over_time({app="slow"} | logfmt | line_format "{{.user}} {{.msg}}" '
                 '|~ "u1.*9" [5m]))', "start": str(t0), "end": str(now_ns()), "step": "60s"})
    eq(r.status, 504, "timeout (body %r)" % r.text)
    check("timed out" in r.text, r.text)


def test_hostile_regex_is_bounded(env):
    s = default_server(env)
    t0 = now_ns() - 10 * 10**9
    s.push([{"stream": {"app": "re"}, "values": [[str(t0 + i), "a" * 40 + "b"]
                                                 for i in range(50)]}])
    start = time.monotonic()
    r = s.query_range('{app="re"} |~ "(a+)+$"', t0 - 10**9, now_ns())
    eq(r.status, 200, "hostile regex answers")
    check(time.monotonic() - start < 20, "the match limit keeps it fast")
    r = s.query_range('{app=~"(a|aa)+$"}', t0 - 10**9, now_ns())
    eq(r.status, 200, "hostile selector regex")


def test_concurrent_queries_and_client_going_away(env):
    s = default_server(env, "--query.parallelism=2")
    t0 = now_ns() - 30 * 10**9
    push_many(s, "conc", 5000, t0, lambda i: "line %d status=%d" % (i, 200 + i % 3), streams=4)
    q = 'sum by (shard) (count_over_time({app="conc"} |= "status=2" [1m]))'
    results = []

    def run():
        r = s.get("/loki/api/v1/query", {"query": q, "time": str(now_ns())})
        results.append((r.status, sorted(x["value"][1] for x in r.json()["data"]["result"])))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    eq(len(results), 6, "every query answered")
    check(all(r == results[0] for r in results), "the same answer each time: %r" % results)
    eq(sum(int(v) for v in results[0][1]), 5000, "all lines counted")
    # A client that leaves mid-query: the server cancels and keeps serving.
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(("GET /loki/api/v1/query_range?query=%s&limit=5000 HTTP/1.1\r\nHost: x\r\n\r\n" %
               '%7Bapp%3D%22conc%22%7D%20%7C~%20%22(%3Fi)LINE%20%5Cd%2B9%22').encode())
    c.close()
    wait_until(lambda: s.get("/ready").status == 200, what="still ready")
    r = s.get("/loki/api/v1/query", {"query": q, "time": str(now_ns())})
    eq(r.status, 200, "serving after a client left")
