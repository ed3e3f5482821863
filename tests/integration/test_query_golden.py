"""Issue [4/10]: the golden query suite (tests/golden/*.golden) against the real binary.

The same suite runs before and after POST /api/v1/admin/flush when the store
offers it, so answers must not depend on where data sits. Other tiers run it
with their own server factory: golden.run_suite(env, make_server).
"""
import golden
from harness import check


def test_golden_suite_head_and_parts(env):
    golden.run_suite(env, golden.default_server)


def test_golden_suite_is_large_enough(env):
    n = golden.count_cases()
    check(n >= 150, "the golden suite has %d cases, want at least 150" % n)
