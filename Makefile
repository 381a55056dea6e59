# mcpmux - see README.md. `make`, `make check`, `make demo`, `make install PREFIX=...`, `make clean`,
# `make fuzz` (FUZZ_TIME=seconds per target), `make fuzz-check` (part of check).
VERSION  := 0.1.0
PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   ?= $(PREFIX)/bin
DATADIR  ?= $(PREFIX)/share
MANDIR   ?= $(DATADIR)/man
DOCDIR   ?= $(DATADIR)/doc/mcpmux
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions

CC       ?= cc
PKGS     := libcurl libsodium inih
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 \
            -fno-strict-aliasing -fstack-protector-strong
CPPFLAGS += -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -Iinclude -DMCPMUX_VERSION='"$(VERSION)"'
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS   += $(PKG_LIBS)

# Modules may live in subdirectories (src/conn/mcp/...); objects mirror them under $(BUILD).
SRCS     := $(sort $(wildcard src/*.c src/*/*.c src/*/*/*.c))
LIBSRCS  := $(filter-out src/main.c,$(SRCS))
BUILD    ?= build
OBJS     := $(SRCS:src/%.c=$(BUILD)/%.o)
LIBOBJS  := $(LIBSRCS:src/%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/%)

.PHONY: all test check unit shtest integration conformance conformance-repeat asan valgrind demo demo-run deps install uninstall \
	deb deb-test clean fuzz fuzz-check fuzz-build fuzz-bins

all: mcpmux

# Linked aside and renamed: a test starting meanwhile never runs a half-written file.
mcpmux: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@.tmp $(OBJS) $(LDLIBS)
	mv -f $@.tmp $@

# pkg-config ran when make read this file: without the libraries, say what to do.
$(OBJS): | have-deps
.PHONY: have-deps
have-deps:
	@test -n "$(PKG_LIBS)" || { echo "mcpmux: libcurl, libsodium or inih (-dev) is missing:" \
		"run packaging/deps.sh (as root it installs them; otherwise it prints the command)"; exit 1; }

$(BUILD)/%.o: src/%.c | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD):
	@mkdir -p $(BUILD)

-include $(OBJS:.o=.d)

# Unit tests (cmocka): each tests/unit/test_X.c links against every module but main.
# A test may stand in for modules with fakes: FAKES_X lists tests/unit/fake_M.c
# files, each linked instead of build/M.o (e.g. a fake http.c under the connector).
.SECONDEXPANSION:
FAKES_creds := tests/unit/fake_vault.c
FAKES_mcp_conn := tests/unit/fake_http.c
$(BUILD)/test_%: tests/unit/test_%.c $(LIBOBJS) $$(FAKES_$$*) | $(BUILD)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -Wno-unused-parameter -o $@ $< $(FAKES_$*) \
		$(filter-out $(patsubst tests/unit/fake_%.c,$(BUILD)/%.o,$(FAKES_$*)),$(LIBOBJS)) \
		$(LDLIBS) $$(pkg-config --libs cmocka)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Shell tests (tests/sh/): the man pages against --help and src/config.c, init,
# --version, config claude, the bash completion, check -c on /dev/zero and FIFOs,
# the license in every place that names it.
# A few seconds, no root.
shtest: mcpmux
	tests/sh/run.sh

tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund
	@touch $@

integration: mcpmux tests/node/node_modules/.package-lock.json
	cd tests/node && node --test --test-concurrency=1 --test-timeout=120000 test/

conformance: mcpmux tests/node/node_modules/.package-lock.json
	tests/node/conformance.sh

# sse-retry 20 times in a row: a reply must be found whatever stream it comes on.
conformance-repeat: mcpmux tests/node/node_modules/.package-lock.json
	tests/node/conformance.sh sse-retry 20

# The fast tier, for every change: the unit tests and the integration tests
# against the real binary, several test files at once (TEST_JOBS), no fuzzing,
# sanitizers or valgrind. A few minutes on 2 cores; `make check` is the gate.
TEST_JOBS ?= 4
test: mcpmux $(UNIT_BINS) tests/node/node_modules/.package-lock.json
	@$(MAKE) --no-print-directory unit
	cd tests/node && node --test --test-concurrency=$(TEST_JOBS) --test-timeout=120000 test/

# Everything: unit tests, the real binary against real MCP peers, and the
# official conformance scenarios, then the same under ASan/UBSan. deps.sh may
# install libraries, so the rest runs in a new make that sees them.
check:
	@packaging/deps.sh --check
	@$(MAKE) --no-print-directory unit fuzz-check shtest integration conformance asan valgrind

# The sanitizer build lives in its own directory and binary; its unit tests and
# integration tests run against it.
asan:
	$(MAKE) --no-print-directory BUILD=build/asan mcpmux-asan-bin \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

mcpmux-asan-bin: $(OBJS) $(UNIT_BINS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o mcpmux-asan.tmp $(OBJS) $(LDLIBS)
	mv -f mcpmux-asan.tmp mcpmux-asan
	@set -e; for t in $(UNIT_BINS); do echo "== (asan) $$t"; $$t; done
	cd tests/node && MCPMUX_BIN=$(CURDIR)/mcpmux-asan \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		node --test --test-concurrency=1 --test-timeout=180000 test/

# The real binary under valgrind (memcheck; definite and indirect leaks are
# errors) for the tests whose timing allows a slower process. The harness
# fails a test on any valgrind report.
VALGRIND_TESTS := merge session pagination filters approvals resilience-legacy \
	resilience-reconnect creds-rotation bigresult hostile-agent hostile-connector \
	deadline-paths reconnect-now vault-duplicate
valgrind: mcpmux tests/node/node_modules/.package-lock.json
	cd tests/node && MCPMUX_BIN=$(CURDIR)/tests/valgrind-wrap.sh \
		node --test --test-concurrency=1 --test-timeout=300000 \
		$(VALGRIND_TESTS:%=test/%.test.mjs)

# Fuzzing (tests/fuzz/, README.md "Fuzzing"): one libFuzzer target per parser,
# built with clang and ASan/UBSan in build/fuzz, each with its seed corpus
# (tests/fuzz/corpus/T) and its crash regressions (tests/fuzz/regress/T).
#   make fuzz        each target for FUZZ_TIME seconds (default 60); new inputs go
#                    to build/fuzz/corpus/T, crashes to build/fuzz/crashes/T
#   make fuzz-check  the regressions, then each target for FUZZ_CHECK_TIME seconds
#                    (default 20) from the seed corpus with a fixed seed, then the
#                    JSON differential (tests/fuzz/differential.py); part of check
FUZZ_CC         ?= clang
FUZZ_TIME       ?= 60
FUZZ_CHECK_TIME ?= 20
FUZZ_DIR        := build/fuzz
FUZZ_TARGETS    := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
# -U_FORTIFY_SOURCE: the sanitizers see the plain calls, not the _chk variants.
FUZZ_CFLAGS     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all -fsanitize=fuzzer-no-link -U_FORTIFY_SOURCE

fuzz: fuzz-build $(BUILD)/json_decide
	tests/fuzz/run.sh fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-check: fuzz-build $(BUILD)/json_decide
	tests/fuzz/run.sh check $(FUZZ_CHECK_TIME) $(FUZZ_TARGETS)

# CC and CFLAGS go through the environment, so the project's flags (-std=c11,
# -Werror...) are still appended to them in the sub-make.
fuzz-build:
	@tests/fuzz/run.sh tools $(FUZZ_CC)
	@CC="$(FUZZ_CC)" CFLAGS="$(FUZZ_CFLAGS)" $(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) fuzz-bins

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

$(BUILD)/libmcpmux.a: $(LIBOBJS)
	rm -f $@
	ar rcs $@ $(LIBOBJS)

# fuzz_config may only open the files it wrote (tests/fuzz/fuzz_config.c).
$(BUILD)/fuzz_config: FUZZ_LINK := -Wl,--wrap=open
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libmcpmux.a
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< \
		$(BUILD)/libmcpmux.a $(LDLIBS) $(FUZZ_LINK)

-include $(wildcard $(BUILD)/fuzz_*.d)

# mcpmux's verdict on JSON files, for the differential (a normal build).
$(BUILD)/json_decide: tests/fuzz/json_decide.c $(LIBOBJS) | $(BUILD)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS)

deps:
	@packaging/deps.sh --check

demo:
	@packaging/deps.sh --check
	@$(MAKE) --no-print-directory demo-run

demo-run: mcpmux tests/node/node_modules/.package-lock.json
	tests/node/demo.sh

install: mcpmux
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 mcpmux $(DESTDIR)$(BINDIR)/mcpmux
	install -m 0644 man/mcpmux.1 $(DESTDIR)$(MANDIR)/man1/mcpmux.1
	install -m 0644 man/mcpmux.ini.5 $(DESTDIR)$(MANDIR)/man5/mcpmux.ini.5
	install -m 0644 sample.ini $(DESTDIR)$(DOCDIR)/examples/sample.ini
	install -m 0644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE
	install -m 0644 packaging/bash-completion/mcpmux $(DESTDIR)$(BASHCOMPDIR)/mcpmux

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mcpmux $(DESTDIR)$(MANDIR)/man1/mcpmux.1 \
		$(DESTDIR)$(MANDIR)/man5/mcpmux.ini.5 $(DESTDIR)$(DOCDIR)/examples/sample.ini \
		$(DESTDIR)$(DOCDIR)/LICENSE $(DESTDIR)$(BASHCOMPDIR)/mcpmux
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true

# A Debian package from a staged install (build/deb/mcpmux_$(VERSION)-*.deb), and
# its test: dpkg -i, run it, dpkg -r (root; .ci/run calls it after make check).
deb: mcpmux
	packaging/debian/build-deb.sh $(VERSION)

deb-test: deb
	packaging/test-deb.sh

clean:
	rm -rf build mcpmux mcpmux-asan mcpmux.tmp mcpmux-asan.tmp

# Benchmarks against the SDK client alone and the npm proxies (bench/, README.md
# "Benchmarks"): not part of check. BENCH_QUICK=1 for a short run.
.PHONY: bench
bench: mcpmux bench/node_modules/.package-lock.json
	@bench/deps.sh
	node bench/run.mjs

bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund
	@touch $@
