# web/web.mk - the dashboard: web/ sources -> $(BUILD)/gen/web_assets.c -> the strata binary.
#
# Included by the top Makefile. web/build.mjs bundles web/src with esbuild (from
# web/node_modules, installed by `scripts/bootstrap build` with npm ci) and writes
# the files as one C table (src/server/dashboard.h). The object is linked into
# build/strata only: the library, unit tests and fuzz replays do not need it.
#
# Without web/node_modules the binary is built without the dashboard (a weak
# default in dashboard.c serves a page saying how to build it) and make warns.

WEB_ESBUILD := $(wildcard web/node_modules/esbuild/package.json)

ifneq ($(WEB_ESBUILD),)
WEB_SRC := $(sort $(wildcard web/src/*)) web/build.mjs web/package-lock.json \
           web/node_modules/.package-lock.json

$(BUILD)/gen/web_assets.c: $(WEB_SRC)
	@mkdir -p $(BUILD)/gen
	node web/build.mjs $(BUILD)/web $@

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c src/server/dashboard.h
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/strata: $(BUILD)/gen/web_assets.o
else
$(warning web/node_modules is missing: building without the dashboard (run scripts/bootstrap build))
endif
