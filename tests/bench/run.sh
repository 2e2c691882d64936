#!/usr/bin/env bash
# tests/bench/run.sh: `make bench`. Builds one benchmark program from weft's generated kernels
# and the peers (oneDNN, OpenBLAS, when tests/bench/setup installed them) and runs it once per
# thread count; then draws the chart.
#
# Steps: mkmodels writes a one-op model per layer of suite.h (the one table of the suite);
# `weft gen` turns each into C (and again with --schedule LOG when LOG is set); the kernels are
# compiled with KFLAGS, the tuned ones get their symbols renamed; kernels.c lists them all for
# bench.c; the example models are added for the end-to-end times.
#
# Environment (the Makefile passes its variables through):
#   WEFT     weft binary (default ./weft)       BENCH_DIR  build directory (default build/bench)
#   THREADS  thread counts, e.g. "1 2"; "all" = every core (default "1 all")
#   FILTER   extended regex on layer or network names (e.g. "bert|r18_c2")
#   LOG      tuning log, passed to `weft gen --schedule`     QUICK=1  ~2-minute subset
#   CC       C compiler (default cc)            KFLAGS  flags for weft's kernels
# shellcheck disable=SC2086 # $CC, $KFLAGS, $BFLAGS and the pkg-config output are word lists
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
WEFT=${WEFT:-$root/weft}
B=${BENCH_DIR:-$root/build/bench}
CC=${CC:-cc}
KFLAGS=${KFLAGS:--O3 -march=native -fopenmp}
BFLAGS="-std=c11 -O2 -march=native -fopenmp -D_POSIX_C_SOURCE=200809L -Wall -Wextra"
QUICK=${QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=
FILTER=${FILTER:-}
LOG=${LOG:-}
ncpu=$(nproc 2>/dev/null || echo 1)
THREADS=${THREADS:-"1 all"}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
trap 'say "error: tests/bench/run.sh line $LINENO failed (status $?)"' ERR

# ---- options ----
threads=()
for t in $THREADS; do
	[ "$t" = all ] && t=$ncpu
	[[ "$t" =~ ^[1-9][0-9]*$ ]] || die "THREADS: expected numbers or 'all', saw '$t'"
	[[ " ${threads[*]:-} " == *" $t "* ]] || threads+=("$t")
done
[ -x "$WEFT" ] || die "no weft binary at $WEFT (run make first, or set WEFT=)"
if [ -n "$LOG" ]; then
	[ -r "$LOG" ] || die "LOG=$LOG: cannot read the tuning log"
	LOG=$(cd "$(dirname "$LOG")" && pwd)/$(basename "$LOG")
fi
mkdir -p "$B"/models "$B"/obj
rm -rf "$B"/gen "$B"/tuned "$B"/e2e
mkdir -p "$B"/gen "$B"/tuned "$B"/e2e
start=$(date +%s)

# ---- peers: found by compiling and linking a two-line program against each ----
peer_cflags=() peer_libs=()
try_link() { # CFLAGS... -- LIBS... with the program on stdin
	local cf=()
	while [ "$1" != -- ]; do cf+=("$1"); shift; done
	shift
	$CC "${cf[@]}" -x c - -o "$B/obj/try" "$@" >/dev/null 2>&1
}
if printf '#include <dnnl.h>\nint main(void){return dnnl_version()->major < 2;}\n' |
	try_link -- -ldnnl; then
	peer_cflags+=(-DHAVE_DNNL) peer_libs+=(-ldnnl)
else
	say "oneDNN not installed (tests/bench/setup installs it): its columns are skipped"
fi
blas_cf=$(pkg-config --cflags openblas 2>/dev/null || echo "-I/usr/include/x86_64-linux-gnu/openblas-pthread")
blas_lf=$(pkg-config --libs openblas 2>/dev/null || echo "-lopenblas")
if printf '#include <cblas.h>\nint main(void){openblas_set_num_threads(1);return 0;}\n' |
	try_link $blas_cf -- $blas_lf; then
	# shellcheck disable=SC2206
	peer_cflags+=(-DHAVE_OPENBLAS $blas_cf) peer_libs+=($blas_lf)
	# OpenBLAS 0.3.21 (Debian 12) does not know CPUs newer than it and falls back to its generic
	# Prescott (SSE3) kernels, a tenth of its real speed; name the nearest core it knows instead.
	if [ -z "${OPENBLAS_CORETYPE:-}" ] &&
		printf '#include <cblas.h>\n#include <stdio.h>\nint main(void){puts(openblas_get_corename());return 0;}\n' |
		try_link $blas_cf -- $blas_lf && [ "$("$B/obj/try")" = Prescott ]; then
		if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
		elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
		if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
			say "OpenBLAS does not recognise this CPU; using OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
		fi
	fi
else
	say "OpenBLAS not installed (tests/bench/setup installs it): its columns are skipped"
fi

# ---- compiling, a few at a time; a kernel whose C has not changed is not compiled again ----
running=0 failed=0
compile_kernel() { # SRC OBJ [RENAME-PREFIX]
	local src=$1 obj=$2 prefix=${3:-}
	local stamp="$CC $KFLAGS $prefix"
	if [ -f "$obj" ] && cmp -s "$src" "$obj.c" && [ "$(cat "$obj.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	rm -f "$obj" "$obj.c"
	if ! $CC $KFLAGS -c "$src" -o "$obj.tmp" 2>"$obj.log"; then
		say "compiling $src failed:"; cat "$obj.log" >&2; return 1
	fi
	if [ -n "$prefix" ]; then # the tuned build: same C symbols, so rename every global one
		local args=()
		for s in $(nm -g --defined-only "$obj.tmp" | awk '{print $NF}'); do
			args+=(--redefine-sym "$s=$prefix$s")
		done
		objcopy "${args[@]}" "$obj.tmp"
	fi
	mv "$obj.tmp" "$obj"
	cp "$src" "$obj.c"
	echo "$stamp" >"$obj.stamp"
}
spawn() {
	"$@" &
	running=$((running + 1))
	if [ "$running" -ge "$ncpu" ]; then wait -n || failed=1; running=$((running - 1)); fi
}
wait_all() {
	while [ "$running" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
}

# ---- the layers ----
$CC $BFLAGS "$here/mkmodels.c" -o "$B/obj/mkmodels" -lm
mapfile -t names < <("$B/obj/mkmodels" "$B/models" ${QUICK:+--quick} --filter "$FILTER")
[ "${#names[@]}" -gt 0 ] || say "FILTER='$FILTER' matches no layer"
objs=() kernels=() gen_failed=()
for n in "${names[@]}"; do
	mkdir -p "$B/gen/$n" "$B/tuned/$n"
	if ! "$WEFT" gen "$B/models/$n.weft" -o "$B/gen/$n" 2>"$B/gen/$n.log"; then
		say "weft gen failed on layer $n; the layer is left out:"; cat "$B/gen/$n.log" >&2
		gen_failed+=("$n"); continue
	fi
	spawn compile_kernel "$B/gen/$n/$n.c" "$B/obj/$n.o"
	objs+=("$B/obj/$n.o") kernels+=("$n default")
	if [ -n "$LOG" ]; then
		if ! "$WEFT" gen "$B/models/$n.weft" -o "$B/tuned/$n" --schedule "$LOG" 2>"$B/tuned/$n.log"; then
			cat "$B/tuned/$n.log" >&2
			die "weft rejected --schedule $LOG for layer $n (message above)"
		fi
		spawn compile_kernel "$B/tuned/$n/$n.c" "$B/obj/$n.tuned.o" tuned_
		objs+=("$B/obj/$n.tuned.o") kernels+=("$n tuned")
	fi
done

# ---- the example models, end to end ----
# Inputs and outputs in declaration order, from the model text: "input NAME : ..." and
# "output NAME, NAME".
model_io() { # FILE input|output
	sed 's/#.*//' "$1" | awk -v kw="$2" '$1 == kw {
		sub("^[ \t]*" kw "[ \t]+", ""); sub(":.*", ""); gsub("[ \t]", "")
		n = split($0, a, ","); for (i = 1; i <= n; i++) if (a[i] != "") print a[i] }'
}
e2e=()
for ex in resnet18 mobilenetv2; do
	f=$root/examples/$ex.weft
	if [ -n "$FILTER" ] && ! grep -Eq -- "$FILTER" <<<"$ex e2e"; then
		say "end to end: $ex left out by FILTER"; continue
	fi
	if [ ! -f "$f" ]; then say "end to end: examples/$ex.weft is missing; skipped"; continue; fi
	m=$(sed 's/#.*//' "$f" | awk '$1 == "model" && m == "" {m = $2} END {print m}')
	mkdir -p "$B/e2e/$ex"
	if ! "$WEFT" gen "$f" -o "$B/e2e/$ex" 2>"$B/e2e/$ex.log"; then
		say "end to end: weft gen failed on examples/$ex.weft; skipped:"; cat "$B/e2e/$ex.log" >&2
		continue
	fi
	spawn compile_kernel "$B/e2e/$ex/$m.c" "$B/obj/e2e_$ex.o"
	objs+=("$B/obj/e2e_$ex.o") e2e+=("$ex $m $ex")
	if [ -n "$LOG" ]; then # the same model with the log's schedules (its symbols renamed tuned_)
		mkdir -p "$B/e2e/${ex}_tuned"
		if ! "$WEFT" gen "$f" -o "$B/e2e/${ex}_tuned" --schedule "$LOG" 2>"$B/e2e/${ex}_tuned.log"; then
			cat "$B/e2e/${ex}_tuned.log" >&2
			die "weft rejected --schedule $LOG for examples/$ex.weft (message above)"
		fi
		spawn compile_kernel "$B/e2e/${ex}_tuned/$m.c" "$B/obj/e2e_${ex}_tuned.o" tuned_
		objs+=("$B/obj/e2e_${ex}_tuned.o") e2e+=("${ex}_tuned tuned_$m $ex")
	fi
done
wait_all
[ "$failed" = 0 ] || die "a generated kernel did not compile (message above)"

# ---- kernels.c: the table bench.c runs (prototypes from the generated headers) ----
{
	echo "/* generated by tests/bench/run.sh: the weft kernels linked into this bench */"
	echo "#include \"bench.h\""
	for k in "${kernels[@]}"; do
		read -r n v <<<"$k"
		[ "$v" = default ] && echo "#include \"$B/gen/$n/$n.h\""
	done
	for e in "${e2e[@]}"; do
		read -r ex m src <<<"$e"
		[ "$ex" = "$src" ] && echo "#include \"$B/e2e/$ex/$m.h\""
	done
	for k in "${kernels[@]}"; do
		read -r n v <<<"$k"
		if [ "$v" = default ]; then
			echo "static int k_$n(const float *const *in, float *const *out, void *ws) { return ${n}_run(in[0], out[0], ws); }"
		else
			ws=$(sed -n "s/^#define ${n^^}_WORKSPACE_BYTES \([0-9]*\).*/\1/p" "$B/tuned/$n/$n.h")
			echo "int tuned_${n}_run(const float *x, float *y, void *ws);"
			echo "enum { TUNED_${n^^}_WORKSPACE_BYTES = ${ws:-0} };"
			echo "static int t_$n(const float *const *in, float *const *out, void *ws) { return tuned_${n}_run(in[0], out[0], ws); }"
		fi
	done
	for e in "${e2e[@]}"; do
		read -r ex m src <<<"$e"
		mapfile -t ins < <(model_io "$root/examples/$src.weft" input)
		mapfile -t outs < <(model_io "$root/examples/$src.weft" output)
		args=() params=()
		for i in "${!ins[@]}"; do args+=("in[$i]") params+=("const float *"); done
		for i in "${!outs[@]}"; do args+=("out[$i]") params+=("float *"); done
		if [ "$ex" != "$src" ]; then # tuned: declared here, its header names the untuned symbols
			ws=$(sed -n "s/^#define ${m#tuned_}_WORKSPACE_BYTES \([0-9]*\).*/\1/Ip" "$B/e2e/$ex/${m#tuned_}.h")
			echo "int ${m}_run($(IFS=,; echo "${params[*]}"), void *ws);"
			echo "enum { ${m^^}_WORKSPACE_BYTES = ${ws:-0} };"
		fi
		echo "static int e_$ex(const float *const *in, float *const *out, void *ws) { return ${m}_run($(IFS=,; echo "${args[*]}"), ws); }"
	done
	echo "const WeftKernel weft_kernels[] = {"
	for k in "${kernels[@]}"; do
		read -r n v <<<"$k"
		N=${n^^}
		if [ "$v" = default ]; then
			echo "	{\"$n\", \"default\", k_$n, ${N}_WORKSPACE_BYTES, 1, 1, {${N}_X_ELEMS}, {${N}_Y_ELEMS}},"
		else
			echo "	{\"$n\", \"tuned\", t_$n, TUNED_${N}_WORKSPACE_BYTES, 1, 1, {${N}_X_ELEMS}, {${N}_Y_ELEMS}},"
		fi
	done
	for e in "${e2e[@]}"; do
		read -r ex m src <<<"$e"
		M=${m^^} E=${m#tuned_}
		E=${E^^}
		mapfile -t ins < <(model_io "$root/examples/$src.weft" input)
		mapfile -t outs < <(model_io "$root/examples/$src.weft" output)
		ie=() oe=()
		for i in "${ins[@]}"; do ie+=("${E}_${i^^}_ELEMS"); done
		for o in "${outs[@]}"; do oe+=("${E}_${o^^}_ELEMS"); done
		echo "	{\"$ex\", \"e2e\", e_$ex, ${M}_WORKSPACE_BYTES, ${#ins[@]}, ${#outs[@]}, {$(IFS=,; echo "${ie[*]}")}, {$(IFS=,; echo "${oe[*]}")}},"
	done
	echo "	{0}"
	echo "};"
	echo "const int weft_nkernels = $(( ${#kernels[@]} + ${#e2e[@]} ));"
} >"$B/kernels.c"

# ---- the bench program: weft's kernels, the peers, the peak loop ----
$CC $BFLAGS -I"$here" -c "$B/kernels.c" -o "$B/obj/kernels.o"
$CC $BFLAGS -c "$here/peak.c" -o "$B/obj/peak.o"
$CC $BFLAGS "${peer_cflags[@]}" -c "$here/peer_dnnl.c" -o "$B/obj/peer_dnnl.o"
$CC $BFLAGS "${peer_cflags[@]}" -c "$here/peer_blas.c" -o "$B/obj/peer_blas.o"
$CC $BFLAGS -c "$here/bench.c" -o "$B/obj/bench.o"
$CC -fopenmp -o "$B/bench" "$B/obj/bench.o" "$B/obj/kernels.o" "$B/obj/peak.o" \
	"$B/obj/peer_dnnl.o" "$B/obj/peer_blas.o" "${objs[@]}" "${peer_libs[@]}" -lm
say "built $B/bench in $(( $(date +%s) - start )) s: ${#names[@]} layers, ${#e2e[@]} example models"

# ---- run: one process per thread count, so each peer sets its threads up from scratch ----
ccver=$($CC --version 2>/dev/null | sed -n 1p)
csv=$B/results.csv
rm -f "$csv"
{
	echo "## weft vs oneDNN and OpenBLAS${QUICK:+ (quick mode)}"
	echo
	# shellcheck disable=SC2016 # the quotes are text here
	echo "\`make bench${QUICK:+ QUICK=1}${FILTER:+ FILTER='$FILTER'}${LOG:+ LOG=$LOG} THREADS='${threads[*]}'\`; GFLOP/s (fraction of the measured peak); weft/X = X's time / weft's time (above 1: weft is faster)."
	echo
	for t in "${threads[@]}"; do
		OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$B/bench" --threads "$t" ${QUICK:+--quick} \
			--csv "$csv" --cc "$ccver" --flags "$KFLAGS" --log "$LOG"
	done
} | tee "$B/results.md"
awk -f "$here/chart.awk" "$csv" >"$B/results.svg"
say "done in $(( $(date +%s) - start )) s: $B/results.md, $csv, $B/results.svg"
if [ "${#gen_failed[@]}" -gt 0 ]; then
	die "weft gen failed on ${#gen_failed[@]} layer(s): ${gen_failed[*]}"
fi
