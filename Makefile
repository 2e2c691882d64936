# weft: build, test, install. `make` builds ./weft; `make run` runs it on an example;
# `make test` runs the test suite (SAN=1: weft built with address and undefined sanitizers).
# O=DIR puts objects and the binary in DIR (default build/, linked to ./weft).

CC      ?= cc
O       ?= build
PREFIX  ?= /usr/local
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wno-unused-parameter
ifeq ($(SAN),1)
  O       := build-san
  CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif
DEFS    := -D_POSIX_C_SOURCE=200809L -DWEFT_SOURCE_TEMPLATES='"$(CURDIR)/templates"'

SRCS    := $(sort $(wildcard ir/*.c gen/*.c tune/*.c))
HDRS    := $(wildcard ir/*.h gen/*.h tune/*.h)
OBJS    := $(SRCS:%.c=$(O)/%.o)
BIN     := $(O)/weft

.PHONY: all run test fuzz bench bench-tune install clean
all: weft

weft: $(BIN)
ifeq ($(O),build)
	@ln -sf $(BIN) weft
endif

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) -lm

$(O)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(DEFS) -c -o $@ $<

# The main job on an example: check it, generate C into out/, then compile and run that C on
# random inputs and compare it with weft's reference interpreter.
run: $(BIN)
	$(BIN) check examples/block.weft
	$(BIN) gen examples/block.weft -o out
	$(BIN) verify examples/block.weft

test: $(BIN)
	WEFT=$(abspath $(BIN)) bash tests/run.sh

# 200 random legal schedules of every corpus model and example, each checked against the
# reference (COUNT=N, SEED=S, FILTER=TEXT); `make test` runs a few of each.
fuzz: $(BIN)
	WEFT=$(abspath $(BIN)) COUNT="$(COUNT)" SEED="$(SEED)" FILTER="$(FILTER)" bash tests/fuzz.sh

# weft's kernels against oneDNN and OpenBLAS (peers from tests/bench/setup): a table on stdout,
# $(O)/bench/results.{md,csv,svg}. THREADS="1 all", FILTER=REGEX, LOG=TUNING-LOG, QUICK=1.
bench: $(BIN)
	WEFT=$(abspath $(BIN)) BENCH_DIR=$(abspath $(O))/bench CC="$(CC)" THREADS="$(THREADS)" \
		FILTER="$(FILTER)" LOG="$(LOG)" QUICK="$(QUICK)" bash tests/bench/run.sh

# Tune every layer of the bench suite into one log ($(O)/bench/tuned.log; TRIALS=N per layer,
# timed with weft tune --cold unless WARM=1,
# FILTER, QUICK=1), for `make bench LOG=$(O)/bench/tuned.log`.
bench-tune: $(BIN)
	WEFT=$(abspath $(BIN)) BENCH_DIR=$(abspath $(O))/bench CC="$(CC)" TRIALS="$(TRIALS)" \
		FILTER="$(FILTER)" QUICK="$(QUICK)" WARM="$(WARM)" bash tests/bench/tune.sh

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/weft/templates
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/weft
	install -m 644 templates/*.tpl $(DESTDIR)$(PREFIX)/share/weft/templates/

clean:
	rm -rf build build-san weft
