# Bulwark: plain Makefile. `make` builds build/bulwark; `make test` runs every test;
# `make asan` runs them under AddressSanitizer + UndefinedBehaviorSanitizer; `make tsan` under
# ThreadSanitizer (clang, build/tsan; any report fails the run); `make fuzz` builds
# the libFuzzer targets (clang). Sources are found by wildcard: one folder per module under src/.
CC       ?= cc
PKGS     := libevent libevent_pthreads libevent_openssl libcurl libsodium openssl jansson sqlite3 yaml-0.1 libpq \
            libpcre2-8 libidn2
BUILD    ?= build
HARDEN   := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wwrite-strings -Werror
# CFLAGS/LDFLAGS are the user's (overridable on the command line); the project's flags are
# added in ALL_CFLAGS/ALL_LDFLAGS so an override never drops -Isrc or the libraries.
CFLAGS   ?= -O2 -g
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE $(WARN) -Isrc $(shell pkg-config --cflags $(PKGS)) $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(LDFLAGS)
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lpthread -lm
ifeq ($(SANITIZE),1)
  ALL_CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  ALL_LDFLAGS += -fsanitize=address,undefined
  BUILD   := build/asan
else ifeq ($(TSAN),1)
  ALL_CFLAGS  += -O1 -g -fsanitize=thread -fno-omit-frame-pointer -DBW_TSAN
  ALL_LDFLAGS += -fsanitize=thread
  BUILD   := build/tsan
else ifeq ($(FUZZLIB),1)
  ALL_CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined
  BUILD   := build/fuzzlib
else
  ALL_CFLAGS  += $(HARDEN)
endif

SRCS      := $(shell find src -name '*.c' | sort)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
OBJS      := $(SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
# The console's static files, embedded at build time (docs/CONSOLE.md "Assets").
CONSOLE_WEB := $(sort $(wildcard src/console/web/*.html src/console/web/*.css src/console/web/*.js src/console/web/*.svg))
OBJS      += $(BUILD)/obj/gen/console_assets.o
LIB_OBJS  += $(BUILD)/obj/gen/console_assets.o
UNIT_SRCS := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard fuzz/*.c)
# Test drivers (tests/tools/*.c): small programs over the library that integration tests run
# (BULWARK_TOOLS); never part of the product binary.
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all test unit integration asan tsan fuzz fuzz-run fuzz-long bench clean format
.PHONY: install uninstall
all: $(BUILD)/bulwark

$(BUILD)/bulwark: $(OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/console_assets.c: scripts/embed-assets.sh $(CONSOLE_WEB)
	@mkdir -p $(dir $@)
	scripts/embed-assets.sh $@ $(CONSOLE_WEB)

$(BUILD)/obj/gen/console_assets.o: $(BUILD)/gen/console_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libbulwark.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libbulwark.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libbulwark.a $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libbulwark.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libbulwark.a $(LDLIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BUILD)/bulwark $(TOOL_BINS)
	BULWARK_BIN=$(abspath $(BUILD)/bulwark) BULWARK_TOOLS=$(abspath $(BUILD)/tools) \
	  tests/integration/run.sh

test: unit integration

asan:
	$(MAKE) SANITIZE=1 CC=clang test

# ThreadSanitizer: every report is an error (halt_on_error for the unit tests; the integration
# harness fails a file whose gateway printed a report). tests/tsan.supp lists what is
# suppressed and why.
TSAN_ENV := TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$(abspath tests/tsan.supp)"
tsan:
	$(TSAN_ENV) BULWARK_TEST_CONCURRENCY=1 $(MAKE) TSAN=1 CC=clang test

fuzz:
	@mkdir -p build/fuzz
	$(MAKE) FUZZLIB=1 CC=clang CFLAGS="-O1 -g" build/fuzzlib/libbulwark.a
	@set -e; for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  echo "clang $$f -> build/fuzz/$$n"; \
	  clang -std=c11 -D_GNU_SOURCE -O1 -g -Isrc $$(pkg-config --cflags $(PKGS)) \
	    -fsanitize=fuzzer,address,undefined -o build/fuzz/$$n $$f build/fuzzlib/libbulwark.a \
	    $(LDLIBS); done

# Runs each fuzz target over its seed corpus, then a fixed number of new inputs from a fixed
# seed, so a CI run is repeatable (FUZZ_RUNS, FUZZ_SEED; FUZZ_SECONDS caps each target).
# New inputs go to build/fuzz/corpus-<target>; the committed seeds in fuzz/corpus/ are only
# read. Longer exploration: build/fuzz/<target> fuzz/corpus/<target> by hand.
fuzz-run: fuzz
	@set -e; for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); mkdir -p fuzz/corpus/$$n; \
	  rm -rf build/fuzz/corpus-$$n; mkdir -p build/fuzz/corpus-$$n; \
	  build/fuzz/$$n -seed=$${FUZZ_SEED:-1} -runs=$${FUZZ_RUNS:-5000} \
	    -max_total_time=$${FUZZ_SECONDS:-20} -rss_limit_mb=2048 -artifact_prefix=build/fuzz/ \
	    build/fuzz/corpus-$$n fuzz/corpus/$$n >build/fuzz/$$n.log 2>&1 \
	    || { tail -40 build/fuzz/$$n.log; exit 1; }; echo "fuzz $$n ok"; done

# The long run (fuzz/RESULTS.md: schedule and results): every target for FUZZ_SECONDS (default
# 300) one after another; failing inputs land in fuzz/corpus/<target>/regress-*.
fuzz-long: fuzz
	fuzz/long.sh $(FUZZ_TARGETS)

bench: $(BUILD)/bulwark
	bench/run.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary to $(PREFIX)/bin, the hardened systemd
# unit (packaging/bulwark.service, ExecStart pointed at that binary) to $(UNITDIR) (default
# $(PREFIX)/lib/systemd/system, which systemd searches; use UNITDIR=/lib/systemd/system with
# PREFIX=/usr) and the man page bulwark(1) to $(PREFIX)/share/man/man1. INSTALL_BIN names
# another build of the binary (the install test passes the one it tests).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
UNITDIR     ?= $(PREFIX)/lib/systemd/system
MANDIR      ?= $(PREFIX)/share/man
INSTALL_BIN ?= $(BUILD)/bulwark
install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/bulwark
	sed 's#@BINDIR@#$(BINDIR)#g' packaging/bulwark.service >$(DESTDIR)$(UNITDIR)/bulwark.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/bulwark.service
	install -m 0644 docs/bulwark.1 $(DESTDIR)$(MANDIR)/man1/bulwark.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bulwark $(DESTDIR)$(UNITDIR)/bulwark.service \
	  $(DESTDIR)$(MANDIR)/man1/bulwark.1

format:
	clang-format -i $(SRCS) $(shell find src tests fuzz -name '*.h' -o -name '*.c')

clean:
	rm -rf build

-include $(OBJS:.o=.d)
