# libFuzzer harnesses (clang, with ASan and UBSan): `make fuzz` builds them
# into build/fuzz/; docs/internals/testing.md says how to run them. Not part
# of `make test`: fuzzing is open-ended, run by hand for as long as it pays.
FUZZ_CC    := clang
FUZZ_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
FUZZ_BUILD := build/fuzz
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -pthread $(FUZZ_FLAGS) \
              -fsanitize=fuzzer-no-link
FUZZ_OBJ   := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out src/main.c,$(SRC)))
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

fuzz: deps $(FUZZ_BIN)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)
.SECONDARY: $(FUZZ_OBJ)
