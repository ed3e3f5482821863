#!/bin/sh
# bench/ingest.sh [LINES] [CONNECTIONS] - the ingest benchmark: build the load generator and
# the server, make a corpus of LINES lines (default 1000000) from the loghub samples, start
# build/strata on free loopback ports with the rate and stream limits lifted, push the
# corpus through every path (JSON, gzip JSON, snappy protobuf, LogsGO gRPC, OTLP protobuf)
# with CONNECTIONS concurrent connections (default 4), print the figures and stop the
# server. Everything goes to bench/out/.
set -eu
cd "$(dirname "$0")/.."
lines=${1:-1000000}
conns=${2:-4}
make --no-print-directory -s all loadgen
mkdir -p bench/out
corpus=bench/out/corpus-$lines.tsv
[ -f "$corpus" ] || python3 bench/make-corpus.py --lines "$lines" --format tsv --out "$corpus"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port)
grpc=$(port)
data=$(mktemp -d bench/out/data-XXXXXX)
build/strata --http-listen-addr=127.0.0.1:$http --grpc-listen-addr=127.0.0.1:$grpc \
    --data-dir="$data" --limits.ingestion-rate-mb=0 --limits.max-global-streams-per-user=0 \
    --server.max-body-bytes=256MiB --log.level=warn > bench/out/strata.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
i=0
until curl -sf -o /dev/null http://127.0.0.1:$http/ready; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "strata did not start"; exit 1; }; sleep 0.1
done
echo "strata $(git rev-parse --short HEAD) on $(nproc) cores; $(uname -sr)"
build/loadgen --corpus "$corpus" --http 127.0.0.1:$http --grpc 127.0.0.1:$grpc \
    --connections "$conns"
build/loadgen --corpus "$corpus" --decode-only --repeat 3
