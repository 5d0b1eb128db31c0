# spojit - one binary, one Makefile.
#
#   make              build build/spojit
#   make run          install deps, build, serve the demo on 127.0.0.1:8080
#   make test         install deps, unit + end-to-end tests, then again under ASan+UBSan
#   make bench        the benchmark (HITL cycle against a real server)
#   make fuzz         libFuzzer harnesses (clang) in build/fuzz; see docs/internals/testing.md
#   make SANITIZE=address ...   any target with ASan+UBSan (outputs in build/asan)

CC      ?= cc
PKGS    := libmicrohttpd jansson libfyaml libcurl sqlite3 libpq libsodium libseccomp
CFLAGS  ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
           -Wshadow -Wstrict-prototypes -Werror=implicit-function-declaration \
           -Isrc $(PKG_CFLAGS) -pthread
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ljq -lonig -lm -pthread

ifeq ($(SANITIZE),address)
BUILD   := build/asan
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   := build
endif

SRC      := $(shell find src -name '*.c' | sort)
OBJ      := $(SRC:%.c=$(BUILD)/obj/%.o)
LIB_OBJ  := $(filter-out $(BUILD)/obj/src/main.o,$(OBJ))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/spojit-bench
# Fuzz harnesses whose committed inputs `make unit` replays (tests/fuzz/replay.c):
# the example workflows' corpus, and what the fuzzers found (tests/fuzz/repro/).
REPLAY_BIN := $(patsubst %,$(BUILD)/tests/replay_%,example_inputs expr workflow_load json_api)

.PHONY: all deps test-deps run test unit e2e check bench clean leakcheck-expr fuzz soak
all: $(BUILD)/spojit

$(BUILD)/spojit: $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS) -lcmocka

# A fuzz harness's committed inputs, replayed without libFuzzer (tests/fuzz/replay.c).
$(BUILD)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB_OBJ) $(LDLIBS)

# The benchmark is a black-box HTTP client of build/spojit: no server code.
$(BENCH_BIN): $(wildcard tests/bench/*.c tests/bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)

-include $(OBJ:.o=.d)

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

run: deps
	$(MAKE) all
	$(BUILD)/spojit serve --demo

# SPOJIT_BIN: test_expr_isolation starts the binary as its evaluators.
unit: $(UNIT_BIN) $(BUILD)/spojit $(REPLAY_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; SPOJIT_BIN=$(abspath $(BUILD)/spojit) $$t; done
	SPOJIT_BIN=$(abspath $(BUILD)/spojit) $(BUILD)/tests/replay_example_inputs tests/fuzz/corpus/example_inputs
	@set -e; for h in expr workflow_load json_api; do \
	  SPOJIT_BIN=$(abspath $(BUILD)/spojit) $(BUILD)/tests/replay_$$h tests/fuzz/repro/$$h; done

e2e: $(BUILD)/spojit
	SPOJIT_BIN=$(abspath $(BUILD)/spojit) node --test --test-concurrency=1 tests/e2e/

# One pass of everything at one build flavour.
check: unit e2e

test: test-deps
	$(MAKE) check leakcheck-expr
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	  UBSAN_OPTIONS=print_stacktrace=1 $(MAKE) SANITIZE=address check

# Our jq values under valgrind, which (unlike ASan's fast unwinder) sees
# through libjq's frames; see tests/lsan.supp.
leakcheck-expr: $(BUILD)/tests/test_expr
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 \
	  --suppressions=tests/valgrind.supp $<

bench: deps
	$(MAKE) all $(BENCH_BIN)
	$(BENCH_BIN) --server $(abspath $(BUILD)/spojit)

# A long steady load, sampled: tests/soak/soak.mjs, docs/operations/soak.md.
SOAK_MINUTES ?= 30
soak: $(BUILD)/spojit
	SPOJIT_BIN=$(abspath $(BUILD)/spojit) SOAK_MINUTES=$(SOAK_MINUTES) node tests/soak/soak.mjs

include tests/fuzz/fuzz.mk

clean:
	rm -rf build
