#!/bin/sh
# bench/s3_bench.sh [LINES] - the query set of docs/QUERY.md over data in S3 (Swift's s3api
# on loopback, started here) against the same data on local disk: latency cold and warm,
# and the bytes fetched from the bucket. Builds build/strata, runs bench/s3_bench.py with
# Debian's python (it needs python3-swift), prints a markdown table. Scratch files go to
# bench/out/ and are removed at the end.
set -eu
cd "$(dirname "$0")/.."
make --no-print-directory -s all
exec /usr/bin/python3 bench/s3_bench.py --lines "${1:-1000000}"
