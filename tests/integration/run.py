#!/usr/bin/python3
"""Run the integration tests: run.py BUILD_DIR [substring]. Ends with 'N passed, N failed'."""
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import harness  # noqa: E402


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build-san")
    only = sys.argv[2] if len(sys.argv) > 2 else ""
    passed = failed = 0
    for fn in sorted(os.listdir(here)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fn[:-3], os.path.join(here, fn))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name in sorted(n for n in dir(mod) if n.startswith("test_")):
            full = "%s.%s" % (fn[:-3], name)
            if only and only not in full:
                continue
            scratch = tempfile.mkdtemp(prefix="strata-it-")
            env = harness.Env(build, scratch)
            t0 = time.monotonic()
            ok = True
            try:
                getattr(mod, name)(env)
            except Exception:  # noqa: BLE001 - report and go on
                ok = False
                traceback.print_exc()
            try:
                env.finish()
            except Exception:  # noqa: BLE001
                if ok:
                    traceback.print_exc()
                ok = False
            dt = time.monotonic() - t0
            if ok:
                passed += 1
                print("ok   %s (%.1fs)" % (full, dt), flush=True)
                shutil.rmtree(scratch, ignore_errors=True)
            else:
                failed += 1
                print("FAIL %s (%.1fs; logs in %s)" % (full, dt, scratch), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
