# src/client/client.mk - libstrata (the C client library), the CLI, the demo, install.
#
# Included by the top Makefile after its own rules. What it adds:
#
# - The client's objects join $(BUILD)/libstrata-server.a (an extra prerequisite of
#   that archive), so the strata binary (main.c hands `strata push|query|...` to
#   src/client/cli.c), the unit tests and the fuzz replays link them like any module.
# - $(BUILD)/libstrata.so.$(VERSION) and $(BUILD)/libstrata.a: the library on its own,
#   built from position-independent objects of its own ($(BUILD)/obj/pic/): the library
#   files of src/client plus the few core modules they use, none of the server. Only
#   strata_* symbols are exported (a version script for the .so; for the .a the objects
#   are prelinked into one and every other symbol made local), so a program linking
#   libstrata keeps its own buf_init, xmalloc or protobuf descriptors.
# - $(BUILD)/examples/logsgo_example, linked against the shared library.
# - `make demo`, `make install` (PREFIX, DESTDIR), `make uninstall`.

CLIENT_LIB_SRC := $(addprefix src/client/,client.c entries.c grpc_conn.c http_conn.c sender.c \
                  transport.c)
CLIENT_CLI_SRC := $(filter-out $(CLIENT_LIB_SRC),$(wildcard src/client/*.c))
# What the library needs from the rest of the tree (self-contained modules, no server).
CLIENT_DEP_SRC := $(addprefix src/core/,alloc.c arena.c buf.c clock.c err.c gostr.c hash.c \
                  json.c slice.c) src/ingest/labels.c src/ingest/pbwire.c
CLIENT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLIENT_LIB_SRC) $(CLIENT_CLI_SRC))
CLIENT_PIC_OBJ := $(patsubst %.c,$(BUILD)/obj/pic/%.o,$(CLIENT_LIB_SRC) $(CLIENT_DEP_SRC))
CLIENT_PKGS := grpc libcurl snappy libxxhash
CLIENT_LIBS = $(shell pkg-config --libs $(CLIENT_PKGS) 2>/dev/null) -lm -lpthread
CLIENT_CFLAGS := -Iinclude -DSTRATA_CLIENT_VERSION='"$(VERSION)"'
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))

$(BUILD)/libstrata-server.a: $(CLIENT_OBJ)
$(BUILD)/obj/src/client/%.o: override CFLAGS += $(CLIENT_CFLAGS)
CLIENT_TEST_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/unit/test_client*.c \
                   tests/fuzz/fuzz_ws*.c tests/fuzz/fuzz_cli*.c))
$(CLIENT_TEST_OBJ): override CFLAGS += $(CLIENT_CFLAGS)

# ---- the library ----

$(BUILD)/obj/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CLIENT_CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/libstrata.so.$(VERSION): $(CLIENT_PIC_OBJ) src/client/libstrata.map
	$(CC) -shared -Wl,-soname,libstrata.so.$(SOMAJOR) -Wl,--version-script=src/client/libstrata.map \
	    -Wl,--no-undefined $(LDFLAGS_ALL) -o $@ $(CLIENT_PIC_OBJ) $(CLIENT_LIBS)

$(BUILD)/libstrata.so: $(BUILD)/libstrata.so.$(VERSION)
	ln -sf libstrata.so.$(VERSION) $(BUILD)/libstrata.so.$(SOMAJOR)
	ln -sf libstrata.so.$(SOMAJOR) $@

$(BUILD)/libstrata.a: $(CLIENT_PIC_OBJ)
	$(LD) -r -o $(BUILD)/obj/pic/libstrata.o $(CLIENT_PIC_OBJ)
	objcopy --wildcard --keep-global-symbol='strata_*' $(BUILD)/obj/pic/libstrata.o
	@rm -f $@
	ar rcs $@ $(BUILD)/obj/pic/libstrata.o

# The example links like a program outside the tree: the public header and -lstrata only.
$(BUILD)/examples/%: examples/%.c include/strata.h $(BUILD)/libstrata.so
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(OPT) $(WARN) -Iinclude $(CFLAGS) -o $@ $< $(LDFLAGS_ALL) -L$(BUILD) \
	    -lstrata -Wl,-rpath,'$$ORIGIN/..'

.PHONY: libstrata demo install uninstall
libstrata: $(BUILD)/libstrata.so $(BUILD)/libstrata.a
all: libstrata $(BUILD)/examples/logsgo_example

# ---- the demo: a server, the LogsGO-style example app, the dashboard's URL ----

demo: all
	examples/demo $(BUILD)

# ---- install ----

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(SYSTEMDDIR)
	install -m 755 $(BUILD)/strata $(DESTDIR)$(BINDIR)/strata
	install -m 755 $(BUILD)/libstrata.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libstrata.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libstrata.so.$(SOMAJOR)
	ln -sf libstrata.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libstrata.so
	install -m 644 $(BUILD)/libstrata.a $(DESTDIR)$(LIBDIR)/libstrata.a
	install -m 644 include/strata.h include/strata_err.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@prefix@|$(PREFIX)|g' -e 's|@libdir@|$(LIBDIR)|g' \
	    -e 's|@includedir@|$(INCLUDEDIR)|g' -e 's|@version@|$(VERSION)|g' \
	    src/client/strata.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/strata.pc
	sed -e 's|@bindir@|$(BINDIR)|g' contrib/strata.service > $(DESTDIR)$(SYSTEMDDIR)/strata.service
	@echo "installed under $(DESTDIR)$(PREFIX) (run ldconfig if $(LIBDIR) is a system directory)"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/strata $(DESTDIR)$(LIBDIR)/libstrata.so.$(VERSION) \
	    $(DESTDIR)$(LIBDIR)/libstrata.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libstrata.so \
	    $(DESTDIR)$(LIBDIR)/libstrata.a $(DESTDIR)$(INCLUDEDIR)/strata.h \
	    $(DESTDIR)$(INCLUDEDIR)/strata_err.h $(DESTDIR)$(PKGCONFIGDIR)/strata.pc \
	    $(DESTDIR)$(SYSTEMDDIR)/strata.service
