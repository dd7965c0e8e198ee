# printredir — top-level build.
#
#   make                 build every program into build/
#   make demo            install, build, and show the whole system on the sandbox
#   make check           install missing Debian packages, build, run every test
#   make deps            only install the missing Debian packages
#   make install         install programs and man pages (PREFIX, DESTDIR honoured)
#   make bench           the performance figures (table in build/bench/bench.json)
#   make vm-check        the whole system in a real QEMU guest (tests/vm)
#   make load-check      100 agents (--dry-run) and 200 printers on one broker
#   make check-valgrind  the unit suites under valgrind's memcheck
#   make lint            cppcheck on the project's code
#   make demo VM=1       the demo with the guest side in a real QEMU guest
#   make fuzz            build the libFuzzer targets with clang (optional)
#   make fuzz-smoke      replay every fuzz corpus (also part of make check)
#   make fault-check     kill a daemon or a cupsd at random points, check that
#                        everything converges (SEED=n to replay, ITER=k, default 5)
#   make install-system  systemd units, udev rule, sysusers/tmpfiles entries and
#                        the commented configuration files (packaging/)
#   make deb             the Debian packages, into build/deb/
#   make deb-check       build, lint, install, run, upgrade and purge the packages
#                        ON THIS MACHINE (refuses unless CI=true or
#                        PRINTREDIR_DEB_CHECK_HOST=1: tests/deb/run.sh)
#
# Tunables: CC, CFLAGS, LDFLAGS, PREFIX, MANDIR, DESTDIR, V=1 (show commands),
# SANITIZE=address,undefined (build and test under the sanitizers).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
CFLAGS ?= -O2 -g
SANITIZE ?=

BUILD := build
OBJ := $(BUILD)/obj
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)

# Debian packages the build, the tests and the sandbox need.
DEBS := build-essential pkg-config jq procps iproute2 libcups2-dev cups-daemon cups-client cups \
	cups-ipp-utils \
	cups-filters openprinting-ppds libprotobuf-c-dev protobuf-c-compiler libuv1-dev check \
	libinih-dev libjson-c-dev libssl-dev zlib1g-dev libnotify-dev libsystemd-dev \
	xvfb dunst dbus imagemagick fonts-dejavu-core shellcheck valgrind cppcheck \
	poppler-utils man-db groff-base prometheus
# And what the test VM (tests/vm) needs besides: QEMU, busybox for its
# initramfs, kmod to resolve the order of the guest kernel's modules.
VM_DEBS := qemu-system-x86 busybox-static kmod
# And what the packages (make deb, make deb-check) need besides: debhelper
# (compat 13, with dh_installsysusers), dpkg-dev for dpkg-buildpackage and
# lintian.  No fakeroot: the packages declare Rules-Requires-Root: no.
DEB_DEBS := debhelper dpkg-dev lintian

PKGS := inih json-c libuv libprotobuf-c openssl zlib libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CUPS_CFLAGS := $(shell cups-config --cflags 2>/dev/null)
CUPS_LIBS := $(shell cups-config --libs 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
NOTIFY_CFLAGS := $(shell pkg-config --cflags libnotify 2>/dev/null)
NOTIFY_LIBS := $(shell pkg-config --libs libnotify 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith
override CFLAGS += -std=c11 $(WARNINGS) -MMD -MP
override CPPFLAGS += -D_GNU_SOURCE -Icommon -I$(BUILD)/gen $(PKG_CFLAGS) $(CUPS_CFLAGS)
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
endif
LIBS := $(PKG_LIBS) $(CUPS_LIBS)

ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2)
endif

PROTO := proto/printredir.proto
GEN_C := $(BUILD)/gen/printredir.pb-c.c
GEN_H := $(BUILD)/gen/printredir.pb-c.h

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(OBJ)/%.o) $(OBJ)/gen/printredir.pb-c.o
LIBCOMMON := $(BUILD)/libcommon.a

BROKER_SRC := $(filter-out host-broker/notifier.c,$(wildcard host-broker/*.c))
AGENT_SRC := $(filter-out guest-agent/guest-tray.c guest-agent/backend.c,$(wildcard guest-agent/*.c))
PROGRAMS := $(if $(BROKER_SRC),$(BUILD)/host-broker) $(if $(AGENT_SRC),$(BUILD)/guest-agent) \
	$(if $(wildcard guest-agent/guest-tray.c),$(BUILD)/guest-tray) \
	$(if $(wildcard guest-agent/backend.c),$(BUILD)/printredir-backend) \
	$(if $(wildcard host-broker/notifier.c),$(BUILD)/printredir-notifier)

TEST_SRC := $(wildcard tests/test_*.c)
TESTS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/replay_%)
TEST_TOOLS := $(BUILD)/tests/jetdirect $(BUILD)/tests/probe $(BUILD)/tests/fake-tray \
	$(BUILD)/tests/relay $(BUILD)/tests/flood $(BUILD)/tests/vport $(BUILD)/tests/jobattrs \
	$(BUILD)/tests/rogue-broker $(BUILD)/tests/slow-http $(BUILD)/tests/rawpeer \
	$(BUILD)/tests/statusload $(BUILD)/tests/latency $(BUILD)/tests/addppds \
	$(BUILD)/tests/tcp-unix $(BUILD)/tests/waitq

# Rebuild everything when the compiler flags change (e.g. SANITIZE on/off).
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS)
# The version lives in a generated header that changes only with the version.
VERSION_H := $(BUILD)/gen/version.h
VERSION_NOW := \#define PRINTREDIR_VERSION "$(VERSION)"
$(shell mkdir -p $(BUILD)/gen)
ifneq ($(file <$(FLAGS_STAMP)),$(FLAGS_NOW))
$(file >$(FLAGS_STAMP),$(FLAGS_NOW))
endif
ifneq ($(file <$(VERSION_H)),$(VERSION_NOW))
$(file >$(VERSION_H),$(VERSION_NOW))
endif

.PHONY: all check demo deps install uninstall clean fuzz tests bench vm-check \
	check-valgrind lint fuzz-smoke load-check fault-check install-system deb deb-check
# Keep objects that pattern rules built on the way to a test program.
.SECONDARY:
.DEFAULT_GOAL := all

all: $(PROGRAMS)

$(GEN_C) $(GEN_H): $(PROTO)
	$(call say,PROTOC,$<)
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)protoc-c --c_out=$(BUILD)/gen -Iproto $<

# Every object may include the generated header.
$(OBJ)/%.o: %.c $(GEN_H) $(FLAGS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(OBJ)/gen/printredir.pb-c.o: $(GEN_C) $(FLAGS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(filter-out -W%,$(CFLAGS)) -Wall -Werror -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/host-broker: $(BROKER_SRC:%.c=$(OBJ)/%.o) $(LIBCOMMON)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/guest-agent: $(AGENT_SRC:%.c=$(OBJ)/%.o) $(LIBCOMMON)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The tray helper runs in the desktop session: GLib and libnotify, no libuv.
$(OBJ)/guest-agent/guest-tray.o: guest-agent/guest-tray.c $(GEN_H) $(FLAGS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(NOTIFY_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/guest-tray: $(OBJ)/guest-agent/guest-tray.o $(LIBCOMMON)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(NOTIFY_LIBS) $(LIBS)

# The guest queues' CUPS backend: the codec and libcups, no libuv.
$(BUILD)/printredir-backend: $(OBJ)/guest-agent/backend.o $(LIBCOMMON)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# The host cupsd's notifier for the broker's push subscription: libcups only.
$(BUILD)/printredir-notifier: $(OBJ)/host-broker/notifier.o
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CUPS_LIBS)

# Unit suites: one program per tests/test_*.c, sharing tests/runner.c and
# tests/world.c (the sandbox's world, for the suites that use it).  The
# daemons' modules (all but main.o) are archives, so a suite pulls in only
# the objects it uses.
BROKER_LIB := $(BUILD)/libbroker.a
AGENT_LIB := $(BUILD)/libagent.a

$(BROKER_LIB): $(filter-out $(OBJ)/host-broker/main.o,$(BROKER_SRC:%.c=$(OBJ)/%.o))
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(AGENT_LIB): $(filter-out $(OBJ)/guest-agent/main.o,$(AGENT_SRC:%.c=$(OBJ)/%.o))
	$(call say,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/tests/test_%: $(OBJ)/tests/test_%.o $(OBJ)/tests/runner.o $(OBJ)/tests/world.o \
	$(BROKER_LIB) $(AGENT_LIB) $(LIBCOMMON)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

# Fuzz targets replay their seed corpus in `make check` through a plain main.
# The daemons' archives give the state-file readers and the tray decoder.
$(BUILD)/tests/replay_%: $(OBJ)/tests/fuzz/%.o $(OBJ)/tests/fuzz/replay.o $(AGENT_LIB) $(BROKER_LIB) $(LIBCOMMON)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/probe $(BUILD)/tests/jobattrs $(BUILD)/tests/rogue-broker $(BUILD)/tests/rawpeer \
$(BUILD)/tests/latency $(BUILD)/tests/addppds $(BUILD)/tests/waitq: $(BUILD)/tests/%: $(OBJ)/tests/tools/%.o $(LIBCOMMON)
	$(call say,LD,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/fake-tray: tests/tools/fake-tray.c $(FLAGS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/tests/relay $(BUILD)/tests/flood $(BUILD)/tests/vport $(BUILD)/tests/slow-http \
$(BUILD)/tests/statusload $(BUILD)/tests/tcp-unix: $(BUILD)/tests/%: tests/tools/%.c $(FLAGS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/tests/jetdirect: tests/sandbox/jetdirect.c $(FLAGS_STAMP)
	$(call say,CC,$<)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o $@ $<

tests: $(PROGRAMS) $(TESTS) $(FUZZ_REPLAY) $(TEST_TOOLS)

check: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/run-tests

bench: deps
	@$(MAKE) --no-print-directory all $(TEST_TOOLS)
	@BUILD=$(BUILD) BENCH="$(BENCH)" BENCH_QUICK="$(BENCH_QUICK)" tests/bench/run.sh

load-check: deps
	@$(MAKE) --no-print-directory all $(TEST_TOOLS)
	@BUILD=$(BUILD) tests/load/run.sh

demo: deps
	@$(MAKE) --no-print-directory all $(TEST_TOOLS)
	@BUILD=$(BUILD) KEEP=$(KEEP) VM=$(VM) tests/demo.sh

fuzz-smoke: $(FUZZ_REPLAY)
	@BUILD=$(BUILD) tests/run-tests $(notdir $(FUZZ_REPLAY))

# Fault injection on the sandbox (tests/fault/run.sh): SEED empty = a random
# one, printed first; the same SEED replays the same kills.
SEED ?=
ITER ?= 5
fault-check: deps
	@$(MAKE) --no-print-directory all $(TEST_TOOLS)
	@BUILD=$(BUILD) SEED=$(SEED) ITER=$(ITER) tests/fault/run.sh

check-valgrind: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/valgrind

# Warnings, portability and performance; style is the compiler's and
# review's.  The generated protobuf code is not ours.
lint: deps $(GEN_H)
	@cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
		--enable=warning,portability,performance --suppress=missingIncludeSystem \
		-D_GNU_SOURCE -DPROTOBUF_C_VERSION_NUMBER=1004001 -DPROTOBUF_C_MIN_COMPILER_VERSION=1000000 \
		-Icommon -I$(BUILD)/gen common host-broker guest-agent \
		&& echo "lint: cppcheck clean"

vm-check:
	@$(MAKE) --no-print-directory deps VM=1
	@$(MAKE) --no-print-directory all $(TEST_TOOLS)
	@BUILD=$(BUILD) tests/vm/check.sh

# Installs only what is missing, so it is a no-op on a ready machine.
deps:
	@missing=; for p in $(DEBS) $(if $(VM),$(VM_DEBS)) $(if $(DEB),$(DEB_DEBS)); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing missing Debian packages:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: run as root (or sudo make deps) to install them" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing || exit 1; \
	else echo "deps: all Debian packages present"; fi

SYSCONFDIR ?= /etc
# CUPS looks for backends here, whatever PREFIX is.
CUPS_SERVERBIN ?= $(shell cups-config --serverbin 2>/dev/null || echo /usr/lib/cups)

MAN_PAGES := packaging/man/guest-tray.1 packaging/man/printredir.conf.5 \
	packaging/man/host-broker.8 packaging/man/guest-agent.8

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/xdg/autostart \
		$(DESTDIR)$(CUPS_SERVERBIN)/backend $(DESTDIR)$(CUPS_SERVERBIN)/notifier \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/host-broker $(BUILD)/guest-agent $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/guest-tray $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/printredir-backend $(DESTDIR)$(CUPS_SERVERBIN)/backend/printredir
	install -m 0755 $(BUILD)/printredir-notifier $(DESTDIR)$(CUPS_SERVERBIN)/notifier/printredir
	install -m 0644 guest-agent/printredir-tray.desktop $(DESTDIR)$(SYSCONFDIR)/xdg/autostart/
	install -m 0644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/

# What a system install needs around the programs (packaging/): the units
# (their paths follow SBINDIR and BINDIR), the udev rule that starts the
# agent for its virtio-serial port, the broker's system user and the
# daemons' folders, and the configuration files, every key commented at its
# default (an existing one is left alone unless DESTDIR is set).
pkgvar = $(or $(shell pkg-config --variable=$(2) $(1) 2>/dev/null),$(3))
SYSTEMDUNITDIR ?= $(call pkgvar,systemd,systemdsystemunitdir,/lib/systemd/system)
SYSTEMDUSERUNITDIR ?= $(call pkgvar,systemd,systemduserunitdir,/usr/lib/systemd/user)
SYSUSERSDIR ?= $(call pkgvar,systemd,sysusersdir,/usr/lib/sysusers.d)
TMPFILESDIR ?= $(call pkgvar,systemd,tmpfilesdir,/usr/lib/tmpfiles.d)
UDEVRULESDIR ?= $(call pkgvar,udev,udevdir,/lib/udev)/rules.d

install-system:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSTEMDUSERUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(UDEVRULESDIR) \
		$(DESTDIR)$(SYSCONFDIR)/printredir
	for u in printredir-broker printredir-agent; do \
		sed 's|/usr/sbin/|$(SBINDIR)/|' packaging/systemd/$$u.service \
			>$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service || exit 1; \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service; done
	sed 's|/usr/bin/|$(BINDIR)/|' packaging/systemd/printredir-tray.service \
		>$(DESTDIR)$(SYSTEMDUSERUNITDIR)/printredir-tray.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUSERUNITDIR)/printredir-tray.service
	install -m 0644 packaging/systemd/printredir-broker.sysusers \
		$(DESTDIR)$(SYSUSERSDIR)/printredir-broker.conf
	install -m 0644 packaging/systemd/printredir-broker.tmpfiles \
		$(DESTDIR)$(TMPFILESDIR)/printredir-broker.conf
	install -m 0644 packaging/systemd/printredir-agent.tmpfiles \
		$(DESTDIR)$(TMPFILESDIR)/printredir-agent.conf
	install -m 0644 packaging/udev/60-printredir-agent.rules $(DESTDIR)$(UDEVRULESDIR)/
	for c in broker agent; do f=$(DESTDIR)$(SYSCONFDIR)/printredir/$$c.conf; \
		if [ -n "$(DESTDIR)" ] || [ ! -e $$f ]; then \
			install -m 0644 packaging/conf/$$c.conf $$f || exit 1; \
		else echo "install-system: $$f exists, left alone"; fi; done

# The Debian packages (packaging/debian, debhelper compat 13): the tree and
# packaging/debian (as debian/) are copied under build/deb/, whose parent
# folder dpkg-buildpackage fills with the .deb files.  The version is the
# changelog's, plus the commit's time and hash when there is one.
DEB_DIR := $(BUILD)/deb
DEB_BASE := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' packaging/debian/changelog 2>/dev/null)
DEB_GIT := $(shell git log -1 --format='%cd.%h' --date=format:%Y%m%d%H%M%S 2>/dev/null)
DEB_VERSION ?= $(DEB_BASE)$(if $(DEB_GIT),+git$(DEB_GIT))

deb:
	@$(MAKE) --no-print-directory deps DEB=1
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	$(call say,COPY,$(DEB_DIR)/src)
	$(Q)tar -cf - --exclude=./build --exclude-vcs --exclude-vcs-ignores . | tar -xf - -C $(DEB_DIR)/src
	$(Q)cp -r packaging/debian $(DEB_DIR)/src/debian
	$(Q)sed -i '1s/(\([^)]*\))/($(DEB_VERSION))/' $(DEB_DIR)/src/debian/changelog
	$(call say,DPKG,printredir_$(DEB_VERSION))
	@# The copy builds on its own: nothing of this make's command line (BUILD...).
	$(Q)cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -40 ../build.log; echo "deb: dpkg-buildpackage failed, see $(DEB_DIR)/build.log" >&2; exit 1; }
	@# The debug symbols apart, so that ./build/deb/*.deb is what IT installs.
	@mkdir -p $(DEB_DIR)/dbgsym && mv $(DEB_DIR)/*-dbgsym_*.deb $(DEB_DIR)/dbgsym/
	@ls -1 $(DEB_DIR)/*.deb

# Installs, runs and purges the packages on this machine: see tests/deb/run.sh.
deb-check:
	@BUILD=$(BUILD) tests/deb/run.sh

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/host-broker $(DESTDIR)$(SBINDIR)/guest-agent \
		$(DESTDIR)$(BINDIR)/guest-tray $(DESTDIR)$(CUPS_SERVERBIN)/backend/printredir \
		$(DESTDIR)$(SYSCONFDIR)/xdg/autostart/printredir-tray.desktop \
		$(DESTDIR)$(MANDIR)/man1/guest-tray.1 $(DESTDIR)$(MANDIR)/man5/printredir.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/host-broker.8 $(DESTDIR)$(MANDIR)/man8/guest-agent.8

# Every module but the programs' entry points (main.c, status.c) may be fuzzed.
FUZZ_LIB_SRC := $(filter-out %/main.c %/status.c,$(AGENT_SRC) $(BROKER_SRC))

fuzz: $(GEN_H)
	@command -v clang >/dev/null || { echo "fuzz: needs clang (apt-get install clang)" >&2; exit 1; }
	@mkdir -p $(BUILD)/fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); echo "  CLANG   $$f"; \
		clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -o $(BUILD)/fuzz/$$n $$f \
			$(COMMON_SRC) $(FUZZ_LIB_SRC) $(GEN_C) $(LIBS) || exit 1; done
	@echo "fuzz: run e.g. $(BUILD)/fuzz/fuzz_frame tests/fuzz/corpus/frame"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
