# volley — build, test, demo, bench, fuzz.
# `make` builds ./volley; `make test` runs unit tests (plain and ASan+UBSan)
# and integration tests; `make demo` is the README's main job.
# Missing Debian packages are installed by scripts/setup-deps.sh.

PKGS     := openssl lua5.4 jansson cairo
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
CFLAGS  += -std=gnu11 $(WARN) -Isrc $(PKG_CFLAGS) -D_GNU_SOURCE -pthread -MMD -MP
LDLIBS  := $(PKG_LIBS) -lm -pthread

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/cmd/%,$(SRC))
CMD_SRC  := $(filter src/cmd/%,$(SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

OBJ_REL  := $(SRC:%.c=build/rel/%.o)
OBJ_ASAN := $(SRC:%.c=build/asan/%.o)
LIBOBJ_REL  := $(LIB_SRC:%.c=build/rel/%.o)
LIBOBJ_ASAN := $(LIB_SRC:%.c=build/asan/%.o)
UNIT_REL  := $(UNIT_SRC:%.c=build/rel/%.o)
UNIT_ASAN := $(UNIT_SRC:%.c=build/asan/%.o)

.PHONY: all clean test unit unit-asan integration demo bench fuzz deps-test asan

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

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC/san  $<"
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

build/rel/unit-tests: $(UNIT_REL) $(LIBOBJ_REL)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

build/asan/unit-tests: $(UNIT_ASAN) $(LIBOBJ_ASAN)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS) -lcriterion

deps-test:
	@./scripts/setup-deps.sh test

unit: deps-test build/rel/unit-tests
	build/rel/unit-tests --jobs 2

unit-asan: deps-test build/asan/unit-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		build/asan/unit-tests --jobs 2

integration: deps-test volley build/asan/volley
	$(PYTHON) -m pytest -q tests/integration

# Unit tests, the same under ASan+UBSan, then the integration tests; the last
# line printed is pytest's summary.
test: deps-test
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory unit-asan
	$(MAKE) --no-print-directory integration

demo: volley
	@./scripts/setup-deps.sh test
	./scripts/demo.sh

bench: volley
	./scripts/setup-deps.sh bench
	./bench/serve-vs-nginx.sh
	./bench/vs-peers.sh

clean:
	rm -rf build volley

-include $(OBJ_REL:.o=.d) $(OBJ_ASAN:.o=.d) $(UNIT_REL:.o=.d) $(UNIT_ASAN:.o=.d)
