# dexp2p build.  `make` builds everything into build/; see README.md.
#
#   make          daemon, client, unit tests, benchmarks
#   make test     install missing packages, build, run unit + integration tests
#                 and the quick fault scenarios
#   make run      install, build, start a 3-node local network (scripts/run.sh)
#   make bench    build and run the benchmarks (figures as key=value lines)
#   make asan     unit + integration tests under ASan+UBSan (build-asan/)
#   make fuzz     every libFuzzer target for FUZZ_SECONDS each (build-fuzz/)
#   make faults   every fault scenario: real daemons in network namespaces
#                 (root; tests/faults, docs/faults.md)
#   make install  daemon, client, man pages, bash completion, systemd unit,
#                 sample conf under PREFIX (/usr/local) and DESTDIR;
#                 make uninstall removes exactly those files
#   make man      build/man/dexp2pd.1, dexp2p-cli.1 (help2man, from -help)
#   make lint     shellcheck on the scripts, clang-format check on src
#   make test-package  build the .deb, install, run, purge it (slow; root)
#   make clean

CC      ?= cc
BUILD   ?= build
PYTHON  ?= /usr/bin/python3
FUZZ_SECONDS ?= 20

PKGS    := libevent libevent_pthreads libsodium libcrypto jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Werror -Wstrict-prototypes -Wno-unused-parameter \
	-Wshadow -Wconversion
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Isrc $(PKG_CFLAGS) -pthread \
	-MMD -MP $(CFLAGS) $(SAN)
ALL_LDFLAGS := -pthread $(SAN) $(LDFLAGS)

CORE_SRC  := $(wildcard src/core/*.c)
PROTO_SRC := $(wildcard src/proto/*.c)
NODE_SRC  := $(filter-out src/node/main.c,$(wildcard src/node/*.c))
CLI_SRC   := $(wildcard src/cli/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
BENCH_SRC := $(wildcard bench/bench_*.c)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
# tools/<name>/<name>.c is one program; tools/sim is several files
SIM_SRC   := $(wildcard tools/sim/*.c)
TOOL_SRC  := $(filter-out tools/sim/%,$(wildcard tools/*/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBCORE := $(BUILD)/libdexcore.a
LIBNODE := $(BUILD)/libdexnode.a
DAEMON  := $(BUILD)/dexp2pd
CLI     := $(BUILD)/dexp2p-cli
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
TOOLS   := $(foreach t,$(TOOL_SRC),$(BUILD)/tools/$(notdir $(basename $(t)))) \
	$(BUILD)/tools/sim
# defined before the rules that name them (integration, install): a
# prerequisite list is expanded when its rule is read
RPCHELP := $(BUILD)/tools/rpchelp
MANPAGES := $(BUILD)/man/dexp2pd.1 $(BUILD)/man/dexp2p-cli.1
COMPLETION := $(BUILD)/completion/dexp2p

.PHONY: all deps test unit integration faults faults-quick run bench asan fuzz \
	clean man completion install uninstall lint test-package

all: $(DAEMON) $(CLI) $(UNITS) $(BENCHES) $(TOOLS)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The web view (src/node/webui/index.html) is compiled into the daemon:
# this rule writes its bytes as a C array into a generated header that
# webui.c includes (od is in coreutils: no tool beyond make and cc).
WEBUI_PAGE := $(BUILD)/gen/webui_page.h
$(WEBUI_PAGE): src/node/webui/index.html
	@mkdir -p $(dir $@)
	{ echo '/* generated from $< by the Makefile: do not edit */'; \
	  echo 'static const unsigned char webui_page[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; } > $@.tmp
	mv $@.tmp $@
$(BUILD)/obj/src/node/webui.o: $(WEBUI_PAGE)
$(BUILD)/obj/src/node/webui.o: ALL_CFLAGS += -I$(BUILD)/gen

$(LIBCORE): $(call obj,$(CORE_SRC) $(PROTO_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBNODE): $(call obj,$(NODE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(DAEMON): $(call obj,src/node/main.c) $(LIBNODE) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(CLI): $(call obj,$(CLI_SRC)) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBNODE) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIBNODE) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tools/%: $(call obj,$(TOOL_SRC)) $(LIBNODE) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %/$*.o,$^) $(LIBNODE) $(LIBCORE) $(PKG_LIBS)

# The simulator runs thousands of gossip engines in one process: its copy
# of src/proto has smaller direct-mapped known-sets and pending tables
# (gossip.h), touched a page at a time as packets flow.  sim: 16,384
# known slots per peer (the daemon: 32,768), the daemon's 65,536 pending
# fetches (fewer stall 40,000 packets/s); sim-small (sim -tables=small,
# and by default above 2,000 nodes): 1,024 and 1,024, and the last 128
# INVs resolvable by GETBITS (the daemon: 1,024), for low rates
# (100 packets/s).
SIM_TABLES       := -DGOSSIP_KNOWN_SLOTS=16384u
SIM_SMALL_TABLES := -DGOSSIP_KNOWN_SLOTS=1024u -DGOSSIP_PENDING_MAX=1024u \
	-DGOSSIP_INV_SEQS=128u -DTREE_SETS=256u -DKEYMAP_SLOTS=1024u \
	-DDFIFO_SLOTS=1024u
SIM_PROTO := $(patsubst %.c,$(BUILD)/obj-sim/%.o,$(PROTO_SRC))
SIM_SMALL_PROTO := $(patsubst %.c,$(BUILD)/obj-simsmall/%.o,$(PROTO_SRC))
SIM_SMALL_OBJ := $(patsubst %.c,$(BUILD)/obj-simsmall/%.o,$(SIM_SRC))

$(BUILD)/obj-sim/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SIM_TABLES) -c $< -o $@

$(BUILD)/obj-simsmall/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SIM_SMALL_TABLES) -DSIM_SMALL -c $< -o $@

$(BUILD)/tools/sim: $(patsubst %.c,$(BUILD)/obj-sim/%.o,$(SIM_SRC)) \
		$(SIM_PROTO) $(LIBCORE) \
		$(BUILD)/tools/sim-small
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCORE) $(PKG_LIBS) -lm

$(BUILD)/tools/sim-small: $(SIM_SMALL_OBJ) $(SIM_SMALL_PROTO) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCORE) $(PKG_LIBS) -lm

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory unit integration
	@$(MAKE) --no-print-directory faults-quick

unit: $(UNITS)
	@scripts/run-unit.sh $(UNITS)

integration: $(DAEMON) $(CLI) $(TOOLS) $(MANPAGES) $(COMPLETION)
	@DEXP2P_BUILD=$(abspath $(BUILD)) scripts/run-integration.sh

# Fault scenarios (tests/faults): nodes in network namespaces split, lossy,
# slow, with a wrong clock, killed and restarted.  Needs root, iproute2,
# nftables and faketime; skipped with the reason otherwise.
# FAULTS_ARGS go to pytest, e.g. FAULTS_ARGS="-k partition".
faults: deps
	@$(MAKE) --no-print-directory $(DAEMON) $(CLI)
	@DEXP2P_BUILD=$(abspath $(BUILD)) scripts/run-faults.sh $(FAULTS_ARGS)

faults-quick: $(DAEMON) $(CLI)
	@DEXP2P_BUILD=$(abspath $(BUILD)) scripts/run-faults.sh -m quick

run: deps
	@$(MAKE) --no-print-directory $(DAEMON) $(CLI)
	@DEXP2P_BUILD=$(abspath $(BUILD)) scripts/run.sh

bench: deps
	@$(MAKE) --no-print-directory $(BENCHES) $(DAEMON) $(CLI) $(TOOLS)
	@scripts/run-bench.sh $(BUILD)

ASAN_VARS := BUILD=build-asan CC=clang OPT=-O1 \
	SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
asan: deps
	@$(MAKE) --no-print-directory $(ASAN_VARS) all
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		DEXP2P_TIMEOUT_SCALE=4 \
		$(MAKE) --no-print-directory $(ASAN_VARS) unit integration

# libFuzzer targets are built by clang against the core sources directly,
# plus, per target, the sources listed as target:source in FUZZ_EXTRA; a
# target's seed inputs, if any, are in tests/fuzz/seeds/<target>/.
FUZZ_BUILD := build-fuzz
FUZZ_EXTRA := fuzz_rpc:src/node/rpcparse.c
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc $(PKG_CFLAGS) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz: deps
	@mkdir -p $(FUZZ_BUILD)
	@set -e; for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); \
		extra=$$(for e in $(FUZZ_EXTRA); do echo "$$e"; done | sed -n "s/^$$n://p"); \
		clang $(FUZZ_FLAGS) -o $(FUZZ_BUILD)/$$n $$f $(CORE_SRC) $(PROTO_SRC) $$extra $(PKG_LIBS); \
		mkdir -p $(FUZZ_BUILD)/corpus-$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		if ! $(FUZZ_BUILD)/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
			-artifact_prefix=$(FUZZ_BUILD)/$$n- -print_final_stats=1 \
			$(FUZZ_BUILD)/corpus-$$n \
			$$(test -d tests/fuzz/seeds/$$n && echo tests/fuzz/seeds/$$n) \
			> $(FUZZ_BUILD)/$$n.log 2>&1; then \
			tail -n 40 $(FUZZ_BUILD)/$$n.log; echo "fuzz: $$n FAILED"; exit 1; \
		fi; \
		grep -E '^(stat::number_of_executed_units|Done)' $(FUZZ_BUILD)/$$n.log || true; \
	done

# ---- Install (README "Install", docs/daemon.md "Install layout") ----
# Every file install writes is in INSTALLED; uninstall removes exactly those
# and then only the directories that belong to dexp2p alone.  The unit is
# rewritten for BINDIR and SYSCONFDIR on the way (contrib/systemd).
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/dexp2p
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
INSTALL ?= install

VERSION := $(shell sed -n 's|^\#define DEX_SUBVERSION "/dexp2p:\(.*\)/"|\1|p' src/node/node.h)
INSTALLED := $(BINDIR)/dexp2pd $(BINDIR)/dexp2p-cli \
	$(MANDIR)/man1/dexp2pd.1 $(MANDIR)/man1/dexp2p-cli.1 \
	$(BASHCOMPDIR)/dexp2pd $(BASHCOMPDIR)/dexp2p-cli \
	$(SYSTEMDUNITDIR)/dexp2pd.service $(DOCDIR)/examples/dexp2p.conf

# Man pages: help2man runs `-help`; the method list of dexp2p-cli(1) comes
# from the method tables (rpchelp), the rest from man/*.h2m.
man: $(MANPAGES)

$(BUILD)/man/dexp2pd.1: $(DAEMON) man/dexp2pd.h2m
	@mkdir -p $(dir $@)
	help2man -N -s 1 -S dexp2p --version-string=$(VERSION) \
		-i man/dexp2pd.h2m -o $@ $(abspath $(DAEMON))

$(BUILD)/man/dexp2p-cli.1: $(CLI) $(RPCHELP) man/dexp2p-cli.h2m man/methods.sh
	@mkdir -p $(dir $@)
	man/methods.sh $(RPCHELP) > $(BUILD)/man/methods.h2m
	help2man -N -s 1 -S dexp2p --version-string=$(VERSION) \
		-i man/dexp2p-cli.h2m -i $(BUILD)/man/methods.h2m \
		-o $@ $(abspath $(CLI))

completion: $(COMPLETION)

$(COMPLETION): $(DAEMON) $(CLI) $(RPCHELP) contrib/bash-completion/dexp2p.in \
		contrib/bash-completion/gen.sh
	@mkdir -p $(dir $@)
	contrib/bash-completion/gen.sh $(DAEMON) $(CLI) $(RPCHELP) \
		contrib/bash-completion/dexp2p.in > $@.tmp && mv $@.tmp $@

install: $(DAEMON) $(CLI) $(MANPAGES) $(COMPLETION)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0755 $(DAEMON) $(CLI) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 $(COMPLETION) $(DESTDIR)$(BASHCOMPDIR)/dexp2pd
	$(INSTALL) -m 0644 $(COMPLETION) $(DESTDIR)$(BASHCOMPDIR)/dexp2p-cli
	sed -e 's|/usr/bin/dexp2pd|$(BINDIR)/dexp2pd|' \
		-e 's|/etc/dexp2p/|$(SYSCONFDIR)/dexp2p/|g' \
		contrib/systemd/dexp2pd.service > $(BUILD)/dexp2pd.service
	$(INSTALL) -m 0644 $(BUILD)/dexp2pd.service $(DESTDIR)$(SYSTEMDUNITDIR)/
	$(INSTALL) -m 0644 contrib/dexp2p.conf $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true

# The Debian package (debian/): built from a copy of the tree in a
# temporary directory, installed with dpkg -i, run, purged (tests/pkg).
test-package:
	@tests/pkg/test-package.sh

# ---- Lint ----
# shellcheck (warnings and errors) on every shell script; clang-format
# --dry-run on the C files listed in .clang-format-files, those that follow
# .clang-format exactly (add a file once it does; none is reformatted here).
SHELL_SCRIPTS := $(wildcard scripts/*.sh tests/pkg/*.sh) .ci/run \
	contrib/bash-completion/gen.sh man/methods.sh
lint:
	shellcheck -S warning $(SHELL_SCRIPTS)
	shellcheck -S warning -s bash contrib/bash-completion/dexp2p.in
	clang-format --dry-run -Werror $$(cat .clang-format-files)

clean:
	rm -rf build build-asan build-fuzz

# Objects are not intermediate files: keep them between runs.
.SECONDARY:

-include $(shell find $(BUILD)/obj $(BUILD)/obj-sim $(BUILD)/obj-simsmall -name '*.d' 2>/dev/null)
