#!/usr/bin/python3
"""Single-process OpenStack Swift (Debian python3-swift 2.30) + s3api, for tests.

Real SigV4 verification (tempauth), S3 on 127.0.0.1:PORT: path-style, and
virtual-hosted style for hosts BUCKET.localhost (curl resolves *.localhost to
loopback). Access key "test:tester", secret "testing", region us-east-1.
Usage: /usr/bin/python3 swift_s3.py DIR [PORT [CERT KEY]]
With CERT and KEY (PEM files) the S3 port speaks HTTPS only.
The backends listen on PORT+10..PORT+12. SIGTERM stops it at once.

Strata's copy of /work/shared/reference/test-infra/swift_s3.py; additions:
the storage domain, the optional TLS, TCP_NODELAY on the listeners and no
fsync (together about 10x faster small requests).
"""
import os, socket, sys, textwrap

base = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else '/tmp/s3swift')
port = int(sys.argv[2]) if len(sys.argv) > 2 else 8080
tls = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None
etc, dev = os.path.join(base, 'etc'), os.path.join(base, 'srv')
ports = {'account': port + 12, 'container': port + 11, 'object': port + 10}
os.makedirs(etc, exist_ok=True)
os.makedirs(os.path.join(dev, 'd1'), exist_ok=True)
os.makedirs(os.path.join(base, 'run'), exist_ok=True)


def w(name, text):
    with open(os.path.join(etc, name), 'w') as f:
        f.write(textwrap.dedent(text))


w('swift.conf', """
    [swift-hash]
    swift_hash_path_suffix = testsuffix
    swift_hash_path_prefix = testprefix
    [storage-policy:0]
    name = Policy-0
    default = yes
""")
common = f"""
    [DEFAULT]
    swift_dir = {etc}
    devices = {dev}
    mount_check = false
    bind_ip = 127.0.0.1
    workers = 0
    log_name = {{name}}
    log_level = WARNING
    log_facility = LOG_LOCAL0
    log_address = /nonexistent
"""
for kind in ('account', 'container', 'object'):
    w(f'{kind}-server.conf', common.replace('{name}', kind) + f"""
    bind_port = {ports[kind]}
    [pipeline:main]
    pipeline = {kind}-server
    [app:{kind}-server]
    use = egg:swift#{kind}
    [{kind}-replicator]
    [{kind}-auditor]
    """ + ("[container-updater]\n[container-sync]\n" if kind == 'container' else '')
      + ("[object-updater]\n[object-expirer]\n" if kind == 'object' else ''))
w('proxy-server.conf', common.replace('{name}', 'proxy') + f"""
    bind_port = {port}
    [pipeline:main]
    pipeline = catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server
    [app:proxy-server]
    use = egg:swift#proxy
    account_autocreate = true
    allow_account_management = true
    [filter:s3api]
    use = egg:swift#s3api
    location = us-east-1
    storage_domain = localhost
    # allow un-bucketed multipart part sizes for tests (S3 requires 5 MiB)
    min_segment_size = 1
    allowable_clock_skew = 900
    [filter:tempauth]
    use = egg:swift#tempauth
    user_admin_admin = admin .admin .reseller_admin
    user_test_tester = testing .admin
    [filter:catch_errors]
    use = egg:swift#catch_errors
    [filter:gatekeeper]
    use = egg:swift#gatekeeper
    [filter:healthcheck]
    use = egg:swift#healthcheck
    [filter:proxy-logging]
    use = egg:swift#proxy_logging
    [filter:listing_formats]
    use = egg:swift#listing_formats
    [filter:bulk]
    use = egg:swift#bulk
    [filter:copy]
    use = egg:swift#copy
    [filter:slo]
    use = egg:swift#slo
    [filter:dlo]
    use = egg:swift#dlo
""")

# Test data need not survive a power cut: skip Swift's fsyncs (a killed Swift process still
# leaves everything it wrote in the page cache). STRATA_SWIFT_FSYNC=1 keeps them.
if os.environ.get('STRATA_SWIFT_FSYNC') != '1':
    os.fsync = lambda fd: None
    os.fdatasync = lambda fd: None

from swift.common import utils
utils.set_swift_dir(etc)  # read etc/swift.conf instead of /etc/swift/swift.conf

from swift.common.ring import RingBuilder
for kind in ('account', 'container', 'object'):
    ring_file = os.path.join(etc, f'{kind}.ring.gz')
    if not os.path.exists(ring_file):
        b = RingBuilder(6, 1, 1)  # part_power=6, replicas=1, min_part_hours=1
        b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': ports[kind],
                   'device': 'd1', 'weight': 100, 'meta': ''})
        b.rebalance()
        b.get_ring().save(ring_file)

import eventlet, eventlet.wsgi
from swift.common.wsgi import loadapp, SwiftHttpProtocol, get_hub
os.environ['TZ'] = 'UTC+0'
eventlet.hubs.use_hub(get_hub())
utils.eventlet_monkey_patch()

class DictCache(object):
    """In-process stand-in for memcached (tempauth/s3api/proxy need env['swift.cache'])."""
    def __init__(self):
        self.d = {}
    def get(self, key, raise_on_error=False):
        v = self.d.get(key)
        if v is None or (v[1] and v[1] < _time.time()):
            self.d.pop(key, None)
            return None
        return v[0]
    def set(self, key, value, serialize=True, time=0, min_compress_len=0, raise_on_error=False):
        self.d[key] = (value, (_time.time() + time) if time else 0)
        return True
    def incr(self, key, delta=1, time=0):
        v = max((self.get(key) or 0) + int(delta), 0)
        self.set(key, v, time=time)
        return v
    def decr(self, key, delta=1, time=0):
        return self.incr(key, -int(delta), time)
    def delete(self, key, server_key=None):
        self.d.pop(key, None)
    def get_multi(self, keys, server_key):
        return [self.get(k) for k in keys]
    def set_multi(self, mapping, server_key, serialize=True, time=0, min_compress_len=0):
        for k, v in mapping.items():
            self.set(k, v, time=time)


import time as _time, signal
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
_cache = DictCache()


def with_cache(app):
    def wrapped(env, start_response):
        env['swift.cache'] = _cache
        return app(env, start_response)
    return wrapped


pool = eventlet.GreenPool()
for kind in ('account', 'container', 'object', 'proxy'):
    conf = os.path.join(etc, f'{kind}-server.conf')
    app = loadapp(conf, global_conf={'log_name': kind})
    sock = eventlet.listen(('127.0.0.1', port if kind == 'proxy' else ports[kind]))
    # As swift.common.wsgi.get_socket does: without it every small response waits for the
    # peer's delayed ACK (~40 ms per hop). Accepted sockets inherit it.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if kind == 'proxy':
        app = with_cache(app)
        if tls:
            sock = eventlet.wrap_ssl(sock, certfile=tls[0], keyfile=tls[1], server_side=True)
    pool.spawn(eventlet.wsgi.server, sock, app, utils.NullLogger(),
               protocol=SwiftHttpProtocol, capitalize_response_headers=False,
               socket_timeout=60)
print(f'swift s3api listening on http://127.0.0.1:{port} (backends {ports})', flush=True)
pool.waitall()
