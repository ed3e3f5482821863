# Strata - one non-recursive Makefile.
#
#   make                      build build/strata (-O2 -g)
#   make DEVELOPER=1          strict warnings, -Werror (gcc and clang)
#   make SANITIZE=address,undefined   build into build-san/ with sanitizers
#   make SANITIZE=thread      build into build-tsan/ with ThreadSanitizer
#   make test-tsan            the threaded parts' tests under ThreadSanitizer (tests/run-tsan)
#   make run                  install build dependencies, build, start with the defaults
#   make test                 install test dependencies, build with ASan+UBSan, run every test
#   make fuzz FUZZ_SECONDS=N  run every libFuzzer target (clang), one at a time; new coverage is
#                             merged into tests/fuzz/corpus (FUZZ_TARGETS=... for some only)
#   make format / format-check
#   make bench                side-by-side benchmarks (see docs/BENCHMARKS.md)
#   make loadgen              build/loadgen: push a corpus through every ingest path

VERSION := 0.1.0
CC ?= cc
BUILD ?= build

ifneq ($(SANITIZE),)
  ifeq ($(SANITIZE),thread)
    BUILD := $(BUILD)-tsan
  else
    BUILD := $(BUILD)-san
  endif
endif

PKGS := libmicrohttpd libzstd zlib snappy libcurl libcrypto libssl yaml-0.1 libpcre2-8 \
        libxxhash libjwt librabbitmq grpc libprotobuf-c gnutls
# Evaluated lazily so that `make run` can install missing packages first.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lsnappy -lm -lpthread

WARN := -Wall
ifeq ($(DEVELOPER),1)
  WARN += -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wwrite-strings \
          -Wformat=2 -Wundef -fno-common -Werror
endif

OPT := -O2 -g
ifneq ($(SANITIZE),)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
  LDSAN := -fsanitize=$(SANITIZE)
endif

CFLAGS_ALL = -std=gnu11 -D_GNU_SOURCE $(OPT) $(WARN) -pthread -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS_ALL = $(LDSAN) -pthread $(LDFLAGS)

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_O := $(PROTO_C:.c=.o)

LIB_SRC := $(filter-out src/main.c src/client/%,$(wildcard src/*/*.c))
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(PROTO_O)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRC))
FUZZ_SRC := $(filter-out tests/fuzz/replay.c,$(wildcard tests/fuzz/*.c))
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))
FUZZ_REPLAY := $(patsubst %,$(BUILD)/fuzz-replay/%,$(FUZZ_NAMES))

REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
BUILD_DATE := $(shell git log -1 --format=%cI 2>/dev/null || echo unknown)

.PHONY: FORCE all run test test-tsan unit fuzz fuzz-replay tools format format-check clean bench \
        bootstrap docs-check install
.DEFAULT_GOAL := all
.PRECIOUS: $(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h

all: $(BUILD)/strata

$(BUILD)/strata: $(BUILD)/obj/src/main.o $(BUILD)/libstrata-server.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/libstrata-server.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/obj/%.o: %.c | $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# The revision stamp changes only when the commit does, so version.o is rebuilt only then.
$(BUILD)/revision: FORCE
	@mkdir -p $(BUILD)
	@echo '$(REVISION) $(BUILD_DATE)' | cmp -s - $@ || echo '$(REVISION) $(BUILD_DATE)' > $@

$(BUILD)/obj/src/core/version.o: src/core/version.c $(BUILD)/revision
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DSTRATA_VERSION='"$(VERSION)"' -DSTRATA_REVISION='"$(REVISION)"' \
	    -DSTRATA_BUILD_DATE='"$(BUILD_DATE)"' -c -o $@ $<

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c | $(PROTO_C)
	$(CC) $(CFLAGS_ALL) -w -c -o $@ $<

$(BUILD)/unit-tests: $(UNIT_OBJ) $(BUILD)/libstrata-server.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/fuzz-replay/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay.o \
                       $(BUILD)/libstrata-server.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

unit: $(BUILD)/unit-tests
fuzz-replay: $(FUZZ_REPLAY)

# Test drivers: tests/tools/<name>.c -> $(BUILD)/tools/<name>, used by the integration tests.
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libstrata-server.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)
tools: $(TOOLS)

# ---- the two README commands ----

run:
	@scripts/bootstrap build
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/strata $(ARGS)

test:
	@scripts/bootstrap test
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all unit fuzz-replay tools
	@tests/run $(BUILD)-san

# The threaded parts (HTTP server, ingest, gRPC, query engine, tail, S3 and ClickHouse clients)
# under ThreadSanitizer: their unit tests and integration tests (tests/run-tsan).
test-tsan:
	@scripts/bootstrap test
	@$(MAKE) --no-print-directory SANITIZE=thread all unit tools
	@tests/run-tsan $(BUILD)-tsan

# ---- fuzzing (clang libFuzzer) ----

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_BUILD := $(BUILD)-fuzz
fuzz:
	@scripts/bootstrap build
	@$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD) \
	    CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
	    LDFLAGS="-fsanitize=address,undefined" $(FUZZ_BUILD)/libstrata-server.a \
	    $(patsubst %,$(FUZZ_BUILD)/obj/tests/fuzz/%.o,$(FUZZ_TARGETS))
	@tests/fuzz/run-all $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ---- style ----

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES) && echo "format-check: ok"

docs-check: $(BUILD)/strata
	@$(BUILD)/strata --help-md | diff -u docs/CONFIGURATION.md - && echo "docs-check: ok"

docs/CONFIGURATION.md: $(BUILD)/strata
	$(BUILD)/strata --help-md > $@

clean:
	rm -rf build build-san build-fuzz build-tsan

# ---- the ingest load generator (bench/loadgen.c; see docs/INGEST.md) ----
.PHONY: loadgen
loadgen: $(BUILD)/loadgen
$(BUILD)/loadgen: $(BUILD)/obj/bench/loadgen.o $(BUILD)/libstrata-server.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

# Rooms with build rules of their own: the client library and CLI, the dashboard assets.
-include src/client/client.mk
-include web/web.mk
-include bench/bench.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
