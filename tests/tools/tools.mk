# Test drivers (tests/tools/*.c): one binary per file, linked with the server library.
# The integration tests run them from the build directory, e.g. build-san/s3tool.
TOOLS_SRC := $(wildcard tests/tools/*.c)
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/%,$(TOOLS_SRC))

.PHONY: tools
tools: $(TOOLS)

$(TOOLS): $(BUILD)/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libstrata-server.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)
