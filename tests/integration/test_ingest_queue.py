"""Issue [3/10]: LogsGO's RabbitMQ ingest against a real rabbitmq-server.

The test starts its own broker on free loopback ports (AMQP, distribution and a
private epmd port, so nothing collides with another broker on the machine), has
python3-pika publish protobuf LogBatch messages the way LogsGO's client does
(default exchange, routing key = queue, persistent), restarts the broker in the
middle, and reads everything back through the query API. The broker and its epmd
are stopped by pid.
"""
import os
import signal
import socket
import subprocess
import time

from harness import TestFailure, check, eq, free_port, wait_until
from test_ingest_support import grpc_stubs, metric_value, read_back

RMQ_BIN = "/usr/lib/rabbitmq/bin"


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Broker:
    def __init__(self, env):
        self.env = env
        self.dir = env.tmpdir("rabbitmq")
        self.port, self.dist, self.epmd = free_port(), free_port(), free_port()
        self.name = "strata-%d-%d@localhost" % (os.getpid(), self.port)
        for d in ("home", "log"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        self.proc = None
        env.on_cleanup(self.cleanup)

    def environ(self):
        e = dict(os.environ)
        e.update({
            "HOME": os.path.join(self.dir, "home"), "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.dir, "rabbitmq"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1", "ERL_EPMD_PORT": str(self.epmd)})
        return e

    @property
    def url(self):
        return "amqp://guest:guest@127.0.0.1:%d/" % self.port

    def start(self):
        # A restart keeps the port, and in the moment it is free any process of the machine
        # may take it as the local port of an outgoing connection: then the broker exits with
        # eaddrinuse. Wait for the port and try again (three tries in all).
        for attempt in range(3):
            log = os.path.join(self.dir, "server.out")
            seen = os.path.getsize(log) if os.path.exists(log) else 0
            out = open(log, "ab")
            self.proc = subprocess.Popen([os.path.join(RMQ_BIN, "rabbitmq-server")], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.environ(), start_new_session=True)
            out.close()
            r = subprocess.run([os.path.join(RMQ_BIN, "rabbitmqctl"), "-n", self.name, "wait",
                                "--pid", str(self.proc.pid), "--timeout", "90"],
                               env=self.environ(), capture_output=True, timeout=120)
            if r.returncode == 0:
                return
            with open(log, "rb") as f:
                f.seek(seen)
                busy = b"eaddrinuse" in f.read()
            self.stop()
            if not busy or attempt == 2:
                raise TestFailure("rabbitmq-server did not start:\n%s" % r.stdout.decode())
            wait_until(lambda: port_free(self.port), 30, what="port %d free again" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group the broker started
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        # epmd detaches from the broker; ours listens on a port of our own.
        out = subprocess.run(["ss", "-ltnpH", "sport = :%d" % self.epmd], capture_output=True,
                             text=True).stdout
        for pid in {int(p.split("=")[1]) for p in out.replace(",", " ").split()
                    if p.startswith("pid=")}:
            os.kill(pid, signal.SIGTERM)


def publish(broker, queue, bodies):
    import pika
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", broker.port))
    try:
        ch = conn.channel()
        ch.queue_declare(queue, durable=True)
        for body in bodies:
            ch.basic_publish("", queue, body, pika.BasicProperties(
                delivery_mode=2, content_type="application/octet-stream"))
    finally:
        conn.close()


def batch(service, tag, n, ts):
    import logapi_pb2
    return logapi_pb2.LogBatch(entries=[
        logapi_pb2.LogEntry(service=service, level="info", message="%s %d" % (tag, i),
                            timestamp=ts, labels={"phase": tag}) for i in range(n)]
    ).SerializeToString()


def test_rabbitmq_logbatches_survive_a_broker_restart(env):
    grpc_stubs(env, "logapi.proto")
    broker = Broker(env)
    broker.start()
    cfg = os.path.join(env.scratch, "queue.yaml")
    with open(cfg, "w") as f:
        f.write("queue:\n  url: %s\n  name: logsgo\n  numWorkers: 2\n" % broker.url)
    s = env.server(["--queue-config-path=%s" % cfg])
    ts = int(time.time())
    start, end = (ts - 60) * 10**9, (ts + 60) * 10**9

    def count(tag):
        return len(read_back(s, '{service="queue-app", phase="%s"}' % tag, start, end))

    publish(broker, "logsgo", [batch("queue-app", "before", 10, ts) for _ in range(5)]
            + [b"\xff\xfe not a LogBatch"])
    wait_until(lambda: count("before") == 50, 30, what="50 entries before the restart")
    wait_until(lambda: metric_value(s, "strata_queue_malformed_messages_total") == 1, 10,
               what="the malformed message counted")
    eq(metric_value(s, 'strata_queue_messages_total{result="rejected"}'), 1, "rejected")
    eq(metric_value(s, 'strata_queue_messages_total{result="acked"}'), 5, "acked")

    broker.stop()
    time.sleep(1)
    eq(s.get("/ready").status, 200, "strata keeps serving without its broker")
    broker.start()
    # Published while the consumers are still reconnecting: kept by the durable queue.
    publish(broker, "logsgo", [batch("queue-app", "after", 10, ts) for _ in range(3)])
    wait_until(lambda: count("after") == 30, 60, what="30 entries after the restart")
    wait_until(lambda: metric_value(s, "strata_queue_reconnects_total") >= 2, 30,
               what="both workers reconnected")
    got = read_back(s, '{service="queue-app"}', start, end)
    eq(len(got), 80, "every entry exactly once")
    eq(sorted({g[1] for g in got}), sorted(["before %d" % i for i in range(10)]
                                           + ["after %d" % i for i in range(10)]), "lines")
    eq(got[0][2], {"service": "queue-app", "level": "info", "phase": got[0][2]["phase"],
                   "service_name": "queue-app"}, "labels")
    eq({g[0] for g in got}, {ts * 10**9}, "timestamps")

    # Messages published while Strata is down wait in the queue (nothing was auto-acked).
    s.stop()
    publish(broker, "logsgo", [batch("queue-app", "offline", 7, ts)])
    s.start()
    wait_until(lambda: count("offline") == 7, 30, what="messages published while down")
