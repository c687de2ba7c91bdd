# faultline build.  `make` builds into build/, `make check` runs the quick
# test tier, `make check-slow` the sanitizer tier, `make bench` the
# side-by-side benchmarks.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
comma := ,
LDFLAGS ?=

WARN := -Wall -Wextra -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -g -O2 $(WARN) -Iinclude -Icommon -pthread -D_GNU_SOURCE
CFLAGS ?=
ALL_CFLAGS := $(BASE_CFLAGS) $(CFLAGS)
SHIM_CFLAGS := $(ALL_CFLAGS) -fPIC -fvisibility=hidden
# The pager library's own libraries (the shim, the tests and the benches link them).
LIBS := -llz4 -lzstd -lunwind -lpthread

# common/: code that more than one program links (the wire codec, the
# settings table, names, the id map, the fault log's schema version and
# views).  Built position-independent, as one archive: each program, the
# shim included, takes only the members it uses (the shim encodes and
# never decodes, so wire_decode.o stays out of it).
COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(patsubst common/%.c,$(BUILD)/obj/common/%.o,$(COMMON_SRC))
COMMON_A := $(BUILD)/lib/libfaultline_common.a

# The shim's entry points (constructor, interposed functions) go only into
# libfaultline.so; the core archive is the pager as a library, for tests.
SHIM_SRC := preload/shim.c preload/interpose.c preload/fdguard.c preload/sigguard.c preload/malloc.c
CORE_SRC := $(filter-out $(SHIM_SRC),$(wildcard preload/*.c))
CORE_OBJ := $(patsubst preload/%.c,$(BUILD)/obj/preload/%.o,$(CORE_SRC))
SHIM_OBJ := $(patsubst preload/%.c,$(BUILD)/obj/preload/%.o,$(SHIM_SRC))
TEST_SRC := tests/wait.c $(wildcard tests/unit/*.c tests/integration/*.c)
TEST_OBJ := $(patsubst tests/%.c,$(BUILD)/obj/tests/%.o,$(TEST_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

LIB_SO := $(BUILD)/lib/libfaultline.so
LIB_A := $(BUILD)/lib/libfaultline_core.a
DEMO := $(BUILD)/bin/faultline-demo
CLI := $(BUILD)/bin/faultline
CLI_SRC := $(wildcard viewer/*.c)
# faultlined: daemon/faultlined.c is its main; the rest is a library the
# tests link too.
DAEMON := $(BUILD)/bin/faultlined
DAEMON_LIB_SRC := $(filter-out daemon/faultlined.c,$(wildcard daemon/*.c))
DAEMON_OBJ := $(patsubst daemon/%.c,$(BUILD)/obj/daemon/%.o,$(DAEMON_LIB_SRC))
DAEMON_A := $(BUILD)/lib/libfaultlined.a
DAEMON_LIBS := -lsqlite3 -ldw -lelf -lpthread
# The wire decoder's fuzz target, and the driver that replays its corpus.
FUZZ_REPLAY := $(BUILD)/tests/fuzz_replay
# (Each is built once its main source exists.)
DAEMON_ALL := $(if $(wildcard daemon/faultlined.c),$(DAEMON))
FUZZ_ALL := $(if $(wildcard tests/fuzz/replay.c),$(FUZZ_REPLAY))
TESTS := $(BUILD)/tests/faultline-tests
STRESS := $(BUILD)/tests/stress_pager
PROGS := $(patsubst tests/progs/%.c,$(BUILD)/tests/progs/%,$(wildcard tests/progs/*.c))

.PHONY: all check check-slow bench install clean readme-settings
all: $(LIB_SO) $(LIB_A) $(DEMO) $(CLI) $(DAEMON_ALL) $(TESTS) $(STRESS) $(PROGS) $(BENCH_BIN) $(FUZZ_ALL)

$(BUILD)/obj/preload/%.o: preload/%.c $(wildcard preload/*.h common/*.h include/faultline/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -Ipreload -c $< -o $@

$(BUILD)/obj/common/%.o: common/%.c $(wildcard common/*.h include/faultline/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c $< -o $@

$(COMMON_A): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

# jemalloc inside the shim: Debian's PIC archive with its mmap, munmap,
# madvise and mprotect calls renamed to the shim's (preload/malloc.c), and
# its pthread_atfork to the shim's, which orders its fork handlers around
# the pager's (preload/shim.c).  The
# C++ operators stay out (they would pull in libstdc++); C++ programs' new
# and delete reach malloc through libstdc++.
JEMALLOC_A := /usr/lib/x86_64-linux-gnu/libjemalloc_pic.a
# The functions preload/malloc.c wraps (allocation sampling): jemalloc's
# become fl__je_NAME.
JE_WRAPPED := malloc free calloc realloc posix_memalign aligned_alloc memalign valloc
JE_A := $(BUILD)/obj/jemalloc/libjemalloc_fl.a
$(JE_A): $(JEMALLOC_A) Makefile
	@rm -rf $(BUILD)/obj/jemalloc && mkdir -p $(BUILD)/obj/jemalloc
	cd $(BUILD)/obj/jemalloc && ar x $(JEMALLOC_A) && rm -f jemalloc_cpp.pic.o && \
	objcopy --redefine-sym mmap=fl__je_mmap --redefine-sym munmap=fl__shim_munmap \
		--redefine-sym madvise=fl__shim_madvise --redefine-sym mprotect=fl__shim_mprotect pages.pic.o && \
	objcopy --redefine-sym pthread_atfork=fl__je_pthread_atfork \
		$(foreach f,$(JE_WRAPPED),--redefine-sym $(f)=fl__je_$(f)) jemalloc.pic.o && \
	ar rcs libjemalloc_fl.a *.pic.o

JE_SYMS := $(addprefix fl__je_,$(JE_WRAPPED)) \
	malloc_usable_size mallocx rallocx xallocx sallocx dallocx sdallocx nallocx \
	mallctl mallctlnametomib mallctlbymib malloc_stats_print
$(LIB_SO): $(CORE_OBJ) $(SHIM_OBJ) $(JE_A) $(COMMON_A) preload/shim.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-z,nodelete -Wl,--version-script=preload/shim.map \
		$(addprefix -Wl$(comma)-u$(comma),$(JE_SYMS)) -o $@ $(CORE_OBJ) $(SHIM_OBJ) $(JE_A) $(COMMON_A) $(LIBS)

$(LIB_A): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

$(DEMO): demo/demo.c $(LIB_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ipreload $(LDFLAGS) -o $@ $< $(LIB_A) $(COMMON_A) $(LIBS)

# The faultline command: its subcommands and common/ (the settings table,
# the views, the schema check); not the pager.  faultline top reads the
# fault log (SQLite) and draws with ncurses.
CLI_LIBS := -lsqlite3 $(shell pkg-config --libs ncursesw)
$(CLI): $(CLI_SRC) $(wildcard viewer/*.h common/*.h include/faultline/*.h) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iviewer $(LDFLAGS) -o $@ $(CLI_SRC) $(COMMON_A) $(CLI_LIBS)

# The viewer's modules as a library (faultline.c is the main), for the
# unit tests of their gathering and layout.
VIEWER_OBJ := $(patsubst viewer/%.c,$(BUILD)/obj/viewer/%.o,$(filter-out viewer/faultline.c,$(CLI_SRC)))
VIEWER_A := $(BUILD)/lib/libfaultline_viewer.a
$(BUILD)/obj/viewer/%.o: viewer/%.c $(wildcard viewer/*.h common/*.h include/faultline/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iviewer -c $< -o $@

$(VIEWER_A): $(VIEWER_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

$(BUILD)/obj/daemon/%.o: daemon/%.c $(wildcard daemon/*.h common/*.h include/faultline/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Idaemon -c $< -o $@

$(DAEMON_A): $(DAEMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@; ar rcs $@ $^

# faultlined: its own code and common/; not the pager.
$(DAEMON): daemon/faultlined.c $(DAEMON_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Idaemon $(LDFLAGS) -o $@ $< $(DAEMON_A) $(COMMON_A) $(DAEMON_LIBS)

$(FUZZ_REPLAY): tests/fuzz/fuzz_wire.c tests/fuzz/replay.c $(DAEMON_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Idaemon $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

# The same target under libFuzzer, for the slow tier (clang only: gcc has no
# -fsanitize=fuzzer).  Everything it runs is compiled in, instrumented.
FUZZ_WIRE := $(BUILD)/fuzz/fuzz_wire
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Iinclude -Icommon -Idaemon -pthread -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
$(FUZZ_WIRE): tests/fuzz/fuzz_wire.c $(DAEMON_LIB_SRC) $(COMMON_SRC) $(wildcard daemon/*.h common/*.h include/faultline/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_wire.c $(DAEMON_LIB_SRC) $(COMMON_SRC) $(DAEMON_LIBS)

# Writes the seed corpus (tests/fuzz/corpus/wire); run by hand after a protocol change.
$(BUILD)/tests/fuzz_gen_corpus: tests/fuzz/gen_corpus.c $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(COMMON_A)

# The tests reach into every component.
$(BUILD)/obj/tests/%.o: tests/%.c $(wildcard preload/*.h common/*.h daemon/*.h include/faultline/*.h tests/*.h viewer/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -Ipreload -Idaemon -Iviewer -c $< -o $@

$(TESTS): $(TEST_OBJ) $(VIEWER_A) $(DAEMON_A) $(LIB_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(VIEWER_A) $(DAEMON_A) $(LIB_A) $(COMMON_A) -lcriterion $(DAEMON_LIBS) $(CLI_LIBS) $(LIBS)

# Programs the integration tests run under the shim: plain programs
# (movecheck takes the kernel's userfaultfd definitions from preload/uffd_compat.h).
$(BUILD)/tests/progs/%: tests/progs/%.c $(wildcard preload/uffd_compat.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ipreload $(LDFLAGS) -o $@ $<

$(BUILD)/bench/%: bench/%.c $(LIB_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ipreload $(LDFLAGS) -o $@ $< $(LIB_A) $(COMMON_A) $(LIBS) -lm

# The post-mortem benchmark's generator writes a fault log with the daemon's schema code.
$(BUILD)/bench/gendb: bench/gendb.c $(DAEMON_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Idaemon $(LDFLAGS) -o $@ $< $(DAEMON_A) $(COMMON_A) $(DAEMON_LIBS) -lm

# The daemon's ingest benchmark reads the database it fills, and needs the daemon.
$(BUILD)/bench/ingest: bench/ingest.c $(COMMON_A) $(DAEMON_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(COMMON_A) -lsqlite3 -lm

check: $(TESTS) $(LIB_SO) $(PROGS) $(CLI) $(DAEMON_ALL) $(FUZZ_ALL)
	./scripts/run-tests.sh quick

$(STRESS): tests/stress/stress_pager.c $(LIB_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ipreload $(LDFLAGS) -o $@ $< $(LIB_A) $(COMMON_A) $(LIBS)

# The slow tier: the stress program under ThreadSanitizer (where the
# shim's threads meet the program's), then the whole suite under
# AddressSanitizer + UndefinedBehaviorSanitizer.
SAN_CFLAGS := -O1 -fno-omit-frame-pointer -DFL_ASSERTS=1
check-slow:
	$(MAKE) BUILD=build/tsan CFLAGS="$(SAN_CFLAGS) -fsanitize=thread" LDFLAGS="-fsanitize=thread" build/tsan/tests/stress_pager
	$(MAKE) BUILD=build/asan CFLAGS="$(SAN_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined" LDFLAGS="-fsanitize=address,undefined" build/asan/tests/faultline-tests build/asan/bin/faultline $(patsubst $(BUILD)/%,build/asan/%,$(DAEMON_ALL) $(FUZZ_ALL))
	$(MAKE) build/fuzz/fuzz_wire
	./scripts/run-tests.sh slow

# README.md's settings table, from the settings table (common/options.c).
readme-settings: $(CLI)
	./scripts/readme-settings.sh $(CLI)

bench: all
	./bench/run.sh

install: $(LIB_SO) $(DEMO) $(CLI) $(DAEMON_ALL)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/faultline
	install -m 0755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(DEMO) $(CLI) $(DAEMON_ALL) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 include/faultline/*.h $(DESTDIR)$(PREFIX)/include/faultline/

clean:
	rm -rf $(BUILD)
