# volley — build, test, demo, bench, fuzz.
# `make` builds ./volley; `make test` runs unit tests (plain and ASan+UBSan)
# and integration tests; `make demo` is the README's main job.
# Missing Debian packages are installed by scripts/setup-deps.sh.

PKGS     := openssl lua5.4 jansson cairo libnghttp2 zlib libbrotlidec libzstd
CC       ?= cc
PYTHON   := /usr/bin/python3

# Install build packages first when pkg-config cannot find them (fresh machine).
ifneq ($(MAKECMDGOALS),clean)
DEPS_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
ifneq ($(DEPS_OK),yes)
$(info make: build libraries missing; running scripts/setup-deps.sh)
$(shell ./scripts/setup-deps.sh build >&2)
endif
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -Isrc -Ibuild/gen $(PKG_CFLAGS) -D_GNU_SOURCE -pthread -MMD -MP
LDLIBS  := $(PKG_LIBS) -lm -pthread

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# EXCLUDE=dir1 dir2 leaves source folders out (for bisecting a broken build).
SRC      := $(filter-out $(EXCLUDE) $(addsuffix /%,$(EXCLUDE)),$(shell find src -name '*.c' | sort))
LIB_SRC  := $(filter-out src/cmd/%,$(SRC))
CMD_SRC  := $(filter src/cmd/%,$(SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

OBJ_REL  := $(SRC:%.c=build/rel/%.o)
OBJ_ASAN := $(SRC:%.c=build/asan/%.o)
LIBOBJ_REL  := $(LIB_SRC:%.c=build/rel/%.o)
LIBOBJ_ASAN := $(LIB_SRC:%.c=build/asan/%.o)
UNIT_REL  := $(UNIT_SRC:%.c=build/rel/%.o)
UNIT_ASAN := $(UNIT_SRC:%.c=build/asan/%.o)

.PHONY: readme-flags all clean test unit unit-asan integration integration-parallel \
	integration-serial itest-parallel-now integration-asan demo bench fuzz \
	deps-test asan mutate coverage

all: volley

# Quiet by default; `make V=1` shows the commands.
Q := $(if $(V),,@)

volley: $(OBJ_REL)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/asan/volley: $(OBJ_ASAN)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

asan: build/asan/volley

# The builds (release, sanitizers, coverage): an object that includes a
# generated header depends on it in each of them.
BUILDS := rel asan cov

# The Lua prelude is a .lua file compiled in as a byte array (od + sed:
# no tool beyond coreutils).
build/gen/prelude_lua.h: src/script/prelude.lua
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q){ echo '/* generated from $< by the Makefile */'; \
	  echo 'static const unsigned char prelude_lua[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '};'; } > $@.tmp && mv $@.tmp $@

$(BUILDS:%=build/%/src/script/lua_api.o): build/gen/prelude_lua.h

# wrk's scripting API, the Lua half (script/lua_wrk.c), the same way.
build/gen/wrk_lua.h: src/script/wrk.lua
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q){ echo '/* generated from $< by the Makefile */'; \
	  echo 'static const unsigned char wrk_lua[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '};'; } > $@.tmp && mv $@.tmp $@

$(BUILDS:%=build/%/src/script/lua_wrk.o): build/gen/wrk_lua.h

# The dashboard page is edited as HTML and compiled in the same way (a NUL
# ends it: it is served as a C string).
build/gen/dash_page_html.h: src/output/page.html
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q){ echo '/* generated from $< by the Makefile */'; \
	  echo 'static const unsigned char dash_page_html[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0x00};'; } > $@.tmp && mv $@.tmp $@

$(BUILDS:%=build/%/src/output/dash.o): build/gen/dash_page_html.h

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC/san  $<"
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

# The unit tests also compress (to test the decoders): brotli's encoder.
UNIT_LIBS := -lcriterion $(shell pkg-config --libs libbrotlienc 2>/dev/null)

build/rel/unit-tests: $(UNIT_REL) $(LIBOBJ_REL)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(UNIT_LIBS)

build/asan/unit-tests: $(UNIT_ASAN) $(LIBOBJ_ASAN)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS) $(UNIT_LIBS)

deps-test:
	@./scripts/setup-deps.sh test

unit: deps-test build/rel/unit-tests
	build/rel/unit-tests --jobs 2

unit-asan: deps-test build/asan/unit-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		build/asan/unit-tests --jobs 2

# The integration tests run in two passes: the tests not marked `serial` on
# ITEST_JOBS xdist workers (each worker starts its own servers, on its own
# ports), then the `serial` ones (they measure time or need the CPU:
# tests/integration/pytest.ini) alone, one at a time. `make integration`
# runs both and fails if either failed; the last line printed is the serial
# pass's pytest summary. A pass with no test to run (pytest's exit 5, a
# file without serial tests in ITESTS) is not a failure.
ITEST_JOBS ?= 4
ITESTS     ?= tests/integration
ITEST_PAR   = $(PYTHON) -m pytest -q -n $(ITEST_JOBS) -m 'not serial'
ITEST_SER   = $(PYTHON) -m pytest -q -m serial
NONE_IS_OK  = || { r=$$?; [ $$r = 5 ] || exit $$r; }

integration-parallel: deps-test volley
	$(ITEST_PAR) $(ITESTS) $(NONE_IS_OK)

# The same without prerequisites, for make test (which has them ready): in
# `make -j2 itest-parallel-now fuzz` it must take its slot at once, or make
# fills both slots with fuzz targets while deps-test runs (seen: the fuzzing
# ran before the pass instead of beside it).
itest-parallel-now:
	$(ITEST_PAR) $(ITESTS) $(NONE_IS_OK)

integration-serial: deps-test volley
	@echo "== serial pass: the tests marked serial, one at a time, nothing beside them"
	$(ITEST_SER) $(ITESTS) $(NONE_IS_OK)

integration: deps-test volley
	@rc=0; $(MAKE) --no-print-directory integration-parallel || rc=$$?; \
	$(MAKE) --no-print-directory integration-serial || rc=$$?; exit $$rc

# The real binary built with ASan+UBSan against real servers, on the tests
# that exercise the most code in little time; the same two passes.
ASAN_ITESTS := tests/integration/test_serve.py tests/integration/test_run_cli.py \
	tests/integration/test_hostile.py tests/integration/test_tls.py
ASAN_ENV    := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 VOLLEY_BIN=build/asan/volley VOLLEY_SANITIZED=1
integration-asan: deps-test build/asan/volley
	@rc=0; $(ASAN_ENV) $(ITEST_PAR) $(ASAN_ITESTS) || rc=$$?; \
	echo "== serial pass (ASan): the tests marked serial, one at a time"; \
	$(ASAN_ENV) $(ITEST_SER) $(ASAN_ITESTS) || rc=$$?; exit $$rc

# Every binary built first on all cores; then the unit tests, the same under
# ASan+UBSan, every fuzz target over its corpus, the sanitized binary on a
# subset of the integration tests; then 8 s of fuzzing each target (`make
# fuzz` runs 60 s) beside the integration tests' parallel pass (neither
# measures time; -O prints each one's output whole when it ends), and last
# the serial pass alone. The integration passes both run whatever the other
# did; the last line printed is pytest's summary.
test: deps-test
	$(PYTHON) scripts/mutate.py --check
	$(MAKE) --no-print-directory -j$(shell nproc) volley build/rel/unit-tests build/asan/unit-tests \
		build/asan/volley fuzz-build
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory unit-asan
	$(MAKE) --no-print-directory fuzz-regress
	$(MAKE) --no-print-directory integration-asan
	@rc=0; $(MAKE) --no-print-directory -O -j2 itest-parallel-now fuzz FUZZ_SECONDS=8 || rc=$$?; \
	$(MAKE) --no-print-directory integration-serial || rc=$$?; exit $$rc

demo: volley
	./volley demo

# ---- coverage ------------------------------------------------------------
# `make coverage`: everything built with gcov instrumentation (-O0) into
# build/cov, the unit tests and the integration tests (COV_ITESTS, default
# all of them) run against it, and lcov's line counts printed per module.
COV_FLAGS   := -O0 -g --coverage
COV_ITESTS  ?= tests/integration
OBJ_COV     := $(SRC:%.c=build/cov/%.o)
LIBOBJ_COV  := $(LIB_SRC:%.c=build/cov/%.o)
UNIT_COV    := $(UNIT_SRC:%.c=build/cov/%.o)

build/cov/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC/cov  $<"
	$(Q)$(CC) $(CFLAGS) $(COV_FLAGS) -c -o $@ $<

build/cov/volley: $(OBJ_COV)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(COV_FLAGS) -o $@ $^ $(LDLIBS)

build/cov/unit-tests: $(UNIT_COV) $(LIBOBJ_COV)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(COV_FLAGS) -o $@ $^ $(LDLIBS) $(UNIT_LIBS)

coverage: deps-test build/cov/volley build/cov/unit-tests
	@find build/cov -name '*.gcda' -delete
	-build/cov/unit-tests --jobs 2
	-VOLLEY_BIN=build/cov/volley $(PYTHON) -m pytest -q $(COV_ITESTS)
	$(Q)lcov --quiet --capture --directory build/cov --output-file build/cov/all.info
	$(Q)lcov --quiet --extract build/cov/all.info '*/src/*' --output-file build/cov/src.info
	$(Q)$(PYTHON) scripts/coverage_table.py build/cov/src.info

# Single-line mutants, one at a time, each against the tests that should
# catch it (scripts/mutate.py lists them); fails if any survives.
mutate: deps-test
	$(PYTHON) scripts/mutate.py

bench: volley
	./scripts/setup-deps.sh bench
	./bench/serve-vs-nginx.sh
	./bench/vs-peers.sh

# The README's `volley run` flag table is made from the flag table in
# src/cmd/run.c; tests/integration/test_flags.py fails when they differ.
readme-flags: volley
	$(PYTHON) scripts/readme-flags.py

clean:
	rm -rf build volley

-include $(OBJ_REL:.o=.d) $(OBJ_ASAN:.o=.d) $(UNIT_REL:.o=.d) $(UNIT_ASAN:.o=.d) \
	$(OBJ_COV:.o=.d) $(UNIT_COV:.o=.d)

# ---- fuzzing -------------------------------------------------------------
# libFuzzer targets in tests/fuzz/fuzz_NAME.c, each linked with only the
# sources it tests plus src/core, built with clang into build/fuzz/NAME.
# `make fuzz` runs each for FUZZ_SECONDS on tests/fuzz/corpus/NAME (new
# inputs go to build/fuzz/corpus/NAME, so the checked-in seeds stay small);
# `make fuzz-regress` runs each once over its seeds (a quick regression pass).
FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 60
FUZZ_FLAGS    := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                 -std=gnu11 -Isrc -D_GNU_SOURCE -pthread $(PKG_CFLAGS)
FUZZ_CORE     := $(wildcard src/core/*.c)
FUZZ_TARGETS  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SRC_http1       := src/proto/http1.c
FUZZ_SRC_hist_decode := src/metrics/hist.c
FUZZ_SRC_duration    :=
FUZZ_SRC_reqparse    := src/server/reqparse.c
FUZZ_SRC_ws          := src/proto/ws.c src/proto/http1.c
FUZZ_SRC_h2          := src/proto/h2.c
FUZZ_LIBS_h2         := -lnghttp2
FUZZ_SRC_h2_req      := src/proto/h2.c
FUZZ_LIBS_h2_req     := -lnghttp2
FUZZ_SRC_decode      := src/proto/decode.c
FUZZ_LIBS_decode     := -lz -lbrotlidec -lzstd
FUZZ_SRC_threshold   := src/metrics/threshold.c src/metrics/hist.c src/metrics/metrics.c
FUZZ_RESULTS         := src/results/results.c src/results/results_script.c $(wildcard src/metrics/*.c)
FUZZ_SRC_results_read := src/results/results_read.c src/results/results_json.c $(FUZZ_RESULTS)
FUZZ_SRC_requests_csv := src/results/csv.c $(FUZZ_RESULTS)
FUZZ_PLAN            := src/load/plan.c src/load/executor.c src/net/addr.c src/net/route.c src/net/tls.c \
                        src/proto/http1.c
FUZZ_SRC_targets     := $(FUZZ_PLAN)
FUZZ_SRC_openapi     := src/load/openapi.c $(FUZZ_PLAN)
FUZZ_BINS     := $(FUZZ_TARGETS:%=build/fuzz/%)

.PHONY: fuzz-build fuzz-regress

.SECONDEXPANSION:
build/fuzz/%: tests/fuzz/fuzz_%.c $$(FUZZ_SRC_$$*) $(FUZZ_CORE) tests/fuzz/memfile.h
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) $(PKG_LIBS) -lm $(FUZZ_LIBS_$*)

fuzz-build: $(FUZZ_BINS)

# One target after another; `make -j2 -O fuzz` runs two at a time, each for
# its FUZZ_SECONDS (-O keeps each target's lines together). `make test`
# fuzzes one at a time beside the integration tests' parallel pass.
fuzz: fuzz-build $(FUZZ_TARGETS:%=fuzz-run-%)
fuzz-run-%: build/fuzz/%
	@mkdir -p build/fuzz/corpus/$* tests/fuzz/corpus/$*
	@echo "== fuzz $* for $(FUZZ_SECONDS)s"; \
	build/fuzz/$* -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=build/fuzz/$*- build/fuzz/corpus/$* tests/fuzz/corpus/$* \
		2>build/fuzz/$*.log || { tail -40 build/fuzz/$*.log; exit 1; }; \
	grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' build/fuzz/$*.log

fuzz-regress: fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
		n=$$(ls tests/fuzz/corpus/$$t 2>/dev/null | wc -l); \
		if build/fuzz/$$t -runs=0 tests/fuzz/corpus/$$t >build/fuzz/$$t.regress.log 2>&1; \
		then echo "fuzz-regress: $$t ok ($$n inputs)"; \
		else echo "fuzz-regress: $$t FAILED ($$n inputs)"; tail -30 build/fuzz/$$t.regress.log; fail=1; fi; \
	done; exit $$fail
