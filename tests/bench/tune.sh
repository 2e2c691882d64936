#!/usr/bin/env bash
# tests/bench/tune.sh: `make bench-tune`. Tunes every layer of the bench suite with weft tune,
# all into one log, so that `make bench LOG=that-log` compares tuned kernels with the peers.
#
# Each layer is a one-op model (tests/bench/mkmodels), so its task is the layer's workload; the
# log's records apply to any model with that layer. Resumable: weft tune skips what the log
# already holds (TRIALS is the number of trials per layer in all).
#
# Environment (the Makefile passes its variables through):
#   WEFT    weft binary            BENCH_DIR  build directory (default build/bench)
#   TUNE_LOG  the log (default $BENCH_DIR/tuned.log)   TRIALS  per layer (default 32)
#   FILTER  extended regex on layer or network names   QUICK=1  the bench's quick subset
#   JOBS    parallel compiles (default: every core)
#   WARM=1  time candidates warm (back to back) instead of with --cold
set -euo pipefail
# The bench's layer table is one thread: tune for one (weft tune builds with -fopenmp when $CC
# has it, and its candidates then run on OMP_NUM_THREADS threads).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
WEFT=${WEFT:-$root/weft}
B=${BENCH_DIR:-$root/build/bench}
LOG=${TUNE_LOG:-$B/tuned.log}
TRIALS=${TRIALS:-32}
QUICK=${QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=
FILTER=${FILTER:-}
CC=${CC:-cc}
jobs=()
[ -n "${JOBS:-}" ] && jobs=(--jobs "$JOBS")
# The bench interleaves weft with its peers, and on a shared host other tenants share L3: --cold
# times each candidate with L2 written over and the layer's weights flushed before the run, so
# the tuner's best is the bench's best. (Timed warm, it kept schedules that lost up to 8% in the
# bench; with L2 evicted only, a 1x1 conv's schedule that re-read its 4 MB of weights from L3
# lost 25%.)
[ "${WARM:-0}" = 1 ] || jobs+=(--cold)

say() { printf 'bench-tune: %s\n' "$*" >&2; }
[ -x "$WEFT" ] || { say "error: no weft binary at $WEFT (run make first)"; exit 1; }
[[ "$TRIALS" =~ ^[1-9][0-9]*$ ]] || { say "error: TRIALS: expected a positive number, saw '$TRIALS'"; exit 1; }
mkdir -p "$B/models" "$B/obj"
$CC -std=c11 -O2 -Wall -Wextra "$here/mkmodels.c" -o "$B/obj/mkmodels" -lm
mapfile -t names < <("$B/obj/mkmodels" "$B/models" ${QUICK:+--quick} --filter "$FILTER")
start=$(date +%s)
i=0
for n in "${names[@]}"; do
	i=$((i + 1))
	say "$i/${#names[@]}: $n ($(( $(date +%s) - start )) s so far)"
	"$WEFT" tune "$B/models/$n.weft" --log "$LOG" --trials "$TRIALS" "${jobs[@]}" 2>"$B/models/$n.tune.txt" ||
		{ say "weft tune failed on $n:"; tail -5 "$B/models/$n.tune.txt" >&2; exit 1; }
	tail -1 "$B/models/$n.tune.txt" >&2
done
say "done in $(( $(date +%s) - start )) s: $LOG (then: make bench LOG=$LOG)"
