"""Issue [10/10]: line filters read only the blocks whose bloom filters may hold their text.
A `|~` regex prunes by the literal its pattern requires, and keeps its answers exact."""
from harness import check, eq, now_ns
from test_storage_util import flush, push_lines

FAILED = "Failed password for root from 10.1.2.3 port 22"
FAILED_INVALID = "Failed password for invalid user root from 10.1.2.3 port 22"


def _server_with_many_blocks(env):
    """One stream of 3,000 lines in 4 KiB blocks, bloom filters in the flushed part."""
    s = env.server(["--store.block-size=4KiB", "--store.flush-bloom-filters=true"])
    t0 = now_ns() - 600 * 10**9
    lines = [(t0 + i * 10**6, "session %06d opened for user u%d by sshd worker %d" % (i, i % 97,
                                                                                       i % 7))
             for i in range(3000)]
    lines[1200] = (lines[1200][0], FAILED)
    lines[2500] = (lines[2500][0], FAILED_INVALID)
    for k in range(0, len(lines), 500):
        push_lines(s, "prune", lines[k:k + 500])
    flush(s)
    return s, t0


def _query(s, logql, t0):
    r = s.query_range(logql, t0, t0 + 10**11, limit=5000, direction="forward")
    eq(r.status, 200, "query %s (body %r)" % (logql, r.text[:300]))
    data = r.json()["data"]
    got = [v[1] for st in data["result"] for v in st["values"]]
    store = data.get("stats", {}).get("querier", {}).get("store", {})
    return got, store.get("totalChunksDownloaded"), store.get("totalChunksRef")


def test_regex_filter_prunes_blocks_by_its_required_literal(env):
    s, t0 = _server_with_many_blocks(env)
    got, read, total = _query(s, r'{app="prune"} |~ "Failed password for (invalid user )?root '
                                 r'from 10\\.1\\.2\\.3"', t0)
    eq(got, [FAILED, FAILED_INVALID], "regex answer")
    check(total and total >= 20, "the stream spans many blocks (%r)" % total)
    check(read is not None and read <= total // 3,
          "the regex read %r of %r blocks: its literal should prune the rest" % (read, total))
    # Absent literal: nothing read beyond the bloom filters, nothing found.
    got, read, total = _query(s, r'{app="prune"} |~ "Accepted publickey for (\\w+)"', t0)
    eq(got, [], "absent literal")
    check(read is not None and read <= total // 3, "absent literal read %r of %r" % (read, total))
    # Patterns without a required literal read every block and stay exact.
    for logql, want in ((r'{app="prune"} |~ "(?i)failed PASSWORD for"', [FAILED, FAILED_INVALID]),
                        (r'{app="prune"} |~ "Failed password|nomatch"',
                         [FAILED, FAILED_INVALID]),
                        (r'{app="prune"} |~ "invalid user r?oot"', [FAILED_INVALID])):
        got, read, total = _query(s, logql, t0)
        eq(got, want, logql)
    s.stop()
