# bench/bench.mk - `make bench`: Strata and ClickHouse 18.16 side by side (docs/BENCHMARKS.md).
#
#   make bench                                 1M and 10M lines (10-12 minutes on 2 cores with the
#                                              corpus cached; generating it adds ~10 s per 1M lines)
#   make bench BENCH_LINES=200000              a quick run while developing
#   make bench BENCH_LINES="1000000 10000000 30000000"   about 12 minutes, corpus cached
#   make bench BENCH_ARGS="--no-cold --no-doc" more options: bench/bench.py --help
#
# The binaries are built into $(BENCH_BUILD) with $(BENCH_OPT), apart from build/ and its
# debug flags. The corpus and the results are kept in bench/out/ (ignored by git).

BENCH_LINES ?= 1000000 10000000
BENCH_BUILD ?= build-bench
BENCH_OPT ?= -O2 -g -DNDEBUG
BENCH_CONNECTIONS ?= 4
BENCH_ARGS ?=

bench:
	@scripts/bootstrap bench
	@$(MAKE) --no-print-directory BUILD=$(BENCH_BUILD) OPT="$(BENCH_OPT)" SANITIZE= \
	    $(BENCH_BUILD)/strata $(BENCH_BUILD)/loadgen $(BENCH_BUILD)/tools/storetool
	@/usr/bin/python3 bench/bench.py --build $(BENCH_BUILD) --lines "$(BENCH_LINES)" \
	    --connections $(BENCH_CONNECTIONS) --opt "$(BENCH_OPT)" $(BENCH_ARGS)
	@for s in bench/s3_bench.sh bench/clickhouse_bench.sh; do \
	    if [ -x $$s ]; then echo "== $$s"; BENCH_BUILD=$(BENCH_BUILD) $$s || exit 1; fi; \
	done
