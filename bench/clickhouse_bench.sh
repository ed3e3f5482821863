#!/bin/sh
# bench/clickhouse_bench.sh [LINES] [CONNECTIONS] [RUNS] - ClickHouse as the store versus
# Strata's own parts, in the same run (issue [6/10]).
#
# Makes a corpus of LINES lines (default 1000000; bench/make-corpus.py, one day from
# yesterday 00:00 UTC so that Loki's age limit accepts it), starts a clickhouse-server
# (Debian's, from the test configuration) and two release strata servers on free loopback
# ports: "parts" (head -> local parts) and "clickhouse" (head -> ClickHouse). For each:
#   ingest   the corpus pushed by storetool pushbench over CONNECTIONS connections (4),
#            then POST /api/v1/admin/flush: until it returns everything is in the tier
#            (parts written and compacted, or committed in ClickHouse); pushes wait for
#            room rather than get 429 (--store.push-wait=120s); then ClickHouse's
#            background merges are waited for
#   disk     bytes the tier holds (parts on disk; ClickHouse's system.parts)
#   queries  the query set of docs/QUERY.md over the corpus' day, each the median of RUNS
#            (5) runs through the Loki HTTP API, with the head empty
# Prints one table. Everything goes to bench/out/; the servers are stopped by pid at exit.
set -eu
cd "$(dirname "$0")/.."
lines=${1:-1000000}
conns=${2:-4}
runs=${3:-5}
make --no-print-directory -s all tools
mkdir -p bench/out
day=$(date -u -d "$(date -u +%F) -1 day" +%F)
corpus=bench/out/ch-pushes-$lines-$day.ndjson
[ -f "$corpus" ] || python3 bench/make-corpus.py --lines "$lines" --format loki --batch 1000 \
    --start "${day}T00:00:00Z" --out "$corpus"
start_ns=$(date -u -d "${day}T00:00:00Z" +%s)000000000
end_ns=$(date -u -d "${day}T00:00:00Z + 1 day" +%s)000000000

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d "$PWD/bench/out/chbench-XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# ClickHouse, as the integration tests start it.
chh=$(port)
cht=$(port)
mkdir -p "$work/ch/data" "$work/ch/tmp" "$work/ch/log" "$work/ch/user_files" "$work/ch/format_schemas"
sed -e "s#CH_DIR#$work/ch#g; s#HTTP_PORT#$chh#g; s#TCP_PORT#$cht#g" \
    tests/integration/clickhouse/config.xml > "$work/ch/config.xml"
cp tests/integration/clickhouse/users.xml "$work/ch/users.xml"
/usr/sbin/clickhouse-server --config-file="$work/ch/config.xml" > "$work/ch/log/stdout.log" 2>&1 &
chpid=$!
pids="$pids $chpid"
i=0
until [ "$(curl -s http://127.0.0.1:$chh/ping)" = "Ok." ]; do
    i=$((i + 1)); [ $i -lt 300 ] || { echo "clickhouse-server did not start"; exit 1; }; sleep 0.1
done
chq() { curl -sf "http://127.0.0.1:$chh/" --data-binary "$1"; }

# One strata per store; same flags otherwise.
start_strata() { # name, extra flags...
    name=$1
    shift
    p=$(port)
    mkdir -p "$work/$name"
    build/strata --http-listen-addr=127.0.0.1:$p --grpc-listen-addr= --data-dir="$work/$name" \
        --limits.ingestion-rate-mb=0 --limits.max-global-streams-per-user=0 \
        --max-retention-time=0 --store.push-wait=120s --log.level=warn "$@" \
        > "$work/$name.log" 2>&1 &
    echo "$!" > "$work/$name.pid"
    echo "$p" > "$work/$name.port"
    i=0
    until curl -sf -o /dev/null "http://127.0.0.1:$p/ready"; do
        i=$((i + 1)); [ $i -lt 300 ] || { echo "strata $name did not start"; cat "$work/$name.log"; exit 1; }
        sleep 0.1
    done
}
start_strata parts
pids="$pids $(cat "$work/parts.pid")"
start_strata clickhouse --clickhouse.url=http://127.0.0.1:$chh
pids="$pids $(cat "$work/clickhouse.pid")"

now() { date +%s.%N; }
echo "strata $(git rev-parse --short HEAD), ClickHouse $(chq 'SELECT version()'), $(nproc) cores," \
    "load $(cut -d' ' -f1-3 /proc/loadavg); $lines lines, $conns connections, median of $runs"
for name in parts clickhouse; do
    p=$(cat "$work/$name.port")
    t0=$(now)
    build/tools/storetool pushbench "http://127.0.0.1:$p/loki/api/v1/push" "$corpus" "$conns" \
        > "$work/$name.push" || true
    t1=$(now)
    curl -sf -XPOST "http://127.0.0.1:$p/api/v1/admin/flush" > "$work/$name.flush"
    t2=$(now)
    rss=$(grep VmHWM "/proc/$(cat "$work/$name.pid")/status" | awk '{print $2}')
    if [ "$name" = parts ]; then
        disk=$(du -sb "$work/parts/parts" | cut -f1)
    else
        # Queries run once ClickHouse's background merges are done (as Strata's compaction is).
        i=0
        while [ "$(chq 'SELECT count() FROM system.merges')" != 0 ] && [ $i -lt 1200 ]; do
            i=$((i + 1)); sleep 0.1
        done
        disk=$(chq "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'strata'")
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')" \
        "$(awk -v a="$t0" -v b="$t2" 'BEGIN{printf "%.1f", b-a}')" "$rss" "$disk" \
        "$(sed -n 's/.* (\([0-9]*\) not 204).*/\1/p' "$work/$name.push")" > "$work/$name.ingest"
done

median() { sort -n | awk '{v[NR]=$1} END{printf "%.1f", v[int((NR+1)/2)] * 1000}'; }
query_ms() { # port, path, query, extra params...
    p=$1 path=$2 q=$3
    shift 3
    for r in $(seq "$runs"); do
        curl -s -o /dev/null -w '%{time_total}\n' -G "http://127.0.0.1:$p$path" \
            --data-urlencode "query=$q" --data-urlencode "start=$start_ns" \
            --data-urlencode "end=$end_ns" "$@"
    done | median
}
printf '\n| | parts | ClickHouse |\n|---|---|---|\n'
for name in parts clickhouse; do
    set -- $(cat "$work/$name.ingest")
    eval "push_$1=$2 all_$1=$3 rss_$1=$4 disk_$1=$5 refused_$1=$6"
done
rate() { awk -v n="$lines" -v s="$1" 'BEGIN{printf "%.0f", n / s}'; }
echo "| ingest: pushes answered (lines/s) | ${push_parts} s ($(rate "$push_parts")) | ${push_clickhouse} s ($(rate "$push_clickhouse")) |"
echo "| ingest: until all is in the tier (lines/s) | ${all_parts} s ($(rate "$all_parts")) | ${all_clickhouse} s ($(rate "$all_clickhouse")) |"
echo "| pushes refused | ${refused_parts} | ${refused_clickhouse} |"
echo "| strata peak RSS | $((rss_parts / 1024)) MB | $((rss_clickhouse / 1024)) MB |"
echo "| bytes on disk (per line) | $disk_parts ($(awk -v d="$disk_parts" -v n="$lines" 'BEGIN{printf "%.1f", d/n}')) | $disk_clickhouse ($(awk -v d="$disk_clickhouse" -v n="$lines" 'BEGIN{printf "%.1f", d/n}')) |"
q() { # label, path, query, params...
    label=$1
    shift
    a=$(query_ms "$(cat "$work/parts.port")" "$@")
    b=$(query_ms "$(cat "$work/clickhouse.port")" "$@")
    echo "| $label | $a ms | $b ms |"
}
qr=/loki/api/v1/query_range
q 'selector `{app, host, level}` (limit 100)' $qr '{app="apache", host="apache-01", level="error"}'
q 'selector + `|=` (limit 100)' $qr '{app="apache"} |= "workerEnv in error state 1"'
q '`|=` over everything, no match' $qr '{app=~".+"} |= "zzzz-not-there"'
q '`|~` over everything' $qr '{app=~".+"} |~ "error state [0-9]+0$"'
q '`| json | duration_ms > 500` (limit 100)' $qr '{app=~"healthapp|hadoop|android"} | json | duration_ms > 500'
q '`sum by (level) (count_over_time([1m]))`, the day' $qr 'sum by (level) (count_over_time({app=~".+"}[1m]))' --data-urlencode step=60s
q '`sum(count_over_time([1m]))` with `|=`, the day' $qr 'sum(count_over_time({app=~".+"} |= "error" [1m]))' --data-urlencode step=60s
