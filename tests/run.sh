#!/usr/bin/env bash
# tests/run.sh: weft's one test driver. Runs every kind of test in sequence and prints one line
# per test (`ok   KIND/NAME`, or `FAIL KIND/NAME: reason` and a few indented lines of detail),
# then exactly one last line `N passed, N failed` (`, N skipped` when any were skipped).
# Exit status is non-zero iff a test failed.
#
# Kinds, in order: unit, error, sched-error, run, fuzz, golden, warnings, cross, cli,
# examples-large (cross: AArch64 under qemu and Cortex-M4; skipped where the tools are missing).
# Environment:
#   WEFT=PATH       the weft binary (default ./weft); its directory holds the object files
#                   (ir/*.o gen/*.o tune/*.o) that unit tests link against
#   CC              C compiler for unit tests and helpers (default cc); weft itself also uses it
#   FILTER=TEXT     run only the tests whose KIND/NAME contains TEXT
#   SLOW=0          skip the slow tests (ResNet-18 and MobileNetV2: verify, strict warnings)
#   JOBS=N          parallel compiles in the warnings kind (default: the number of CPUs)
# Work files go to a temporary directory that is removed at the end.

set -u
cd "$(dirname "$0")/.." || exit 2 # the repository root: tests name files relative to it

WEFT=${WEFT:-./weft}
case $WEFT in /*) ;; *) WEFT=$PWD/$WEFT ;; esac
CC=${CC:-cc}
FILTER=${FILTER:-}
SLOW=${SLOW:-1}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/weft-test.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

npass=0
nfail=0
nskip=0

# ---- reporting ----

selected() { [[ -z $FILTER || $1 == *"$FILTER"* ]]; }

pass() {
	npass=$((npass + 1))
	echo "ok   $1"
}

# fail NAME REASON [DETAIL_FILE [head|tail]]: the detail file's first (or last) lines, indented.
fail() {
	nfail=$((nfail + 1))
	echo "FAIL $1: $2"
	if [[ $# -ge 3 && -s $3 ]]; then
		if [[ ${4:-head} == tail ]]; then tail -n 12 "$3"; else head -n 12 "$3"; fi | sed 's/^/    /'
	fi
}

# skip COUNT REASON: a group of COUNT tests that cannot run here, reported on one line.
skip() {
	nskip=$((nskip + $1))
	echo "skipped: $2"
}

# limited SECONDS CMD...: run CMD with a time limit where timeout(1) exists (exit 124 on expiry).
limited() {
	local secs=$1
	shift
	if command -v timeout >/dev/null 2>&1; then
		timeout "$secs" "$@"
	else
		"$@"
	fi
}

# why STATUS: a short reason for a command's non-zero exit status.
why() {
	case $1 in
	124) echo "timed out" ;;
	134) echo "aborted (exit 134)" ;;
	139) echo "crashed (segmentation fault)" ;;
	*) echo "exit $1" ;;
	esac
}

# The directory of the real weft binary (following a ./weft symlink into build/).
objdir() { dirname "$(readlink -f "$WEFT")"; }

# ---- 1. unit: tests/unit/*.c linked with weft's objects (all but gen/main.o) ----

test_unit() {
	local dir files objs=() san=() f name exe log
	files=(tests/unit/*.c)
	[[ -e ${files[0]} ]] || return 0
	dir=$(objdir)
	for f in "$dir"/ir/*.o "$dir"/gen/*.o "$dir"/tune/*.o; do
		[[ -e $f && $f != */gen/main.o ]] && objs+=("$f")
	done
	[[ $dir == *build-san ]] && san=("-fsanitize=address,undefined")
	for f in "${files[@]}"; do
		name=unit/$(basename "$f" .c)
		selected "$name" || continue
		exe=$TMP/unit_$(basename "$f" .c)
		log=$TMP/unit.log
		if ! "$CC" -std=c11 -I. "${san[@]}" "$f" "${objs[@]}" -lm -o "$exe" >"$log" 2>&1; then
			fail "$name" "does not compile" "$log"
			continue
		fi
		local st=0
		limited 120 "$exe" >"$log" 2>&1 || st=$?
		if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "$(why $st)" "$log" tail; fi
	done
}

# ---- 2. error: tests/errors/*.weft must be rejected with exactly the expected messages ----

# check_errors FILE STDERR: empty output if the errors are exactly those of the `# expect:` lines,
# else a description of the difference.
check_errors() {
	local file=$1 err=$2 want=$TMP/want.txt got=$TMP/got.txt
	sed -n "s|^# expect: \(.*\)$|$file:\1|p" "$file" | sed 's|^\([^:]*:[0-9]*:[0-9]*:\) |\1 error: |' >"$want"
	if [[ ! -s $want ]]; then
		echo "the file has no '# expect: LINE:COL: MESSAGE' line"
		return
	fi
	grep -F ': error: ' "$err" >"$got"
	local line
	while IFS= read -r line; do
		grep -Fxq -- "$line" "$got" || echo "missing: $line"
	done <"$want"
	while IFS= read -r line; do
		grep -Fxq -- "$line" "$want" || echo "unexpected: $line"
	done <"$got"
}

test_error() {
	local f name st out diffs
	for f in tests/errors/*.weft; do
		[[ -e $f ]] || continue
		name=error/$(basename "$f" .weft)
		selected "$name" || continue
		st=0
		limited 30 "$WEFT" check "$f" >"$TMP/out.txt" 2>"$TMP/err.txt" || st=$?
		if [[ $st -ne 1 ]]; then
			fail "$name" "weft check exited $st, want 1" "$TMP/err.txt"
			continue
		fi
		diffs=$(check_errors "$f" "$TMP/err.txt")
		if [[ -n $diffs ]]; then
			{ echo "$diffs"; echo "--- stderr:"; cat "$TMP/err.txt"; } >"$TMP/detail.txt"
			fail "$name" "wrong error messages" "$TMP/detail.txt"
			continue
		fi
		out=$TMP/gen_error
		rm -rf "$out" && mkdir "$out"
		st=0
		limited 30 "$WEFT" gen "$f" -o "$out" >"$TMP/out.txt" 2>&1 || st=$?
		if [[ $st -ne 1 ]]; then
			fail "$name" "weft gen exited $st, want 1" "$TMP/out.txt"
		elif [[ -n $(ls -A "$out") ]]; then
			ls -A "$out" >"$TMP/detail.txt"
			fail "$name" "weft gen failed but left files in the output directory" "$TMP/detail.txt"
		else
			pass "$name"
		fi
	done
}

# ---- 2b. sched-error: tests/sched_errors/*.sched, illegal schedules of the model named by their
# `# model: PATH` line, must be rejected by `weft gen MODEL --schedule FILE` with exactly the
# `# expect:` errors and nothing written ----

sched_error_tests() {
	local f name model st out diffs
	for f in tests/sched_errors/*.sched; do
		[[ -e $f ]] || continue
		name=sched-error/$(basename "$f" .sched)
		selected "$name" || continue
		model=$(sed -n 's|^# model: *||p' "$f" | head -n 1)
		if [[ -z $model || ! -e $model ]]; then
			fail "$name" "no '# model: PATH' line naming an existing model"
			continue
		fi
		out=$TMP/gen_sched_error
		rm -rf "$out" && mkdir "$out"
		st=0
		limited 60 "$WEFT" gen "$model" --schedule "$f" -o "$out" >"$TMP/out.txt" 2>"$TMP/err.txt" || st=$?
		if [[ $st -ne 1 ]]; then
			fail "$name" "weft gen --schedule exited $st, want 1" "$TMP/err.txt"
			continue
		fi
		diffs=$(check_errors "$f" "$TMP/err.txt")
		if [[ -n $diffs ]]; then
			{ echo "$diffs"; echo "--- stderr:"; cat "$TMP/err.txt"; } >"$TMP/detail.txt"
			fail "$name" "wrong error messages" "$TMP/detail.txt"
		elif [[ -n $(ls -A "$out") ]]; then
			ls -A "$out" >"$TMP/detail.txt"
			fail "$name" "weft gen failed but left files in the output directory" "$TMP/detail.txt"
		else
			pass "$name"
		fi
	done
}

# ---- 3. run: generated C vs the reference interpreter on random inputs ----

run_models() { ls tests/run/*.weft examples/block.weft examples/dwsep.weft examples/mlp.weft 2>/dev/null; }

# test_name FILE: run/NAME for the corpus, run/examples/NAME for the examples.
run_name() {
	case $1 in
	examples/*) echo "examples/$(basename "$1" .weft)" ;;
	*) basename "$1" .weft ;;
	esac
}

# verify KIND/NAME FILE SECONDS
verify() {
	local name=$1 f=$2 st=0
	limited "$3" "$WEFT" verify "$f" >"$TMP/verify.txt" 2>&1 || st=$?
	if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "weft verify $f: $(why $st)" "$TMP/verify.txt" tail; fi
}

test_run() {
	local f name
	for f in $(run_models); do
		name=run/$(run_name "$f")
		selected "$name" && verify "$name" "$f" 120
	done
}

# ---- 3a. targets: the SIMD branches (sse, avx2, avx512) against the reference ----

# A dozen corpus models that cover the vector statements: convolutions, pools, dense, matmul,
# broadcasts, activations (vec_dense_act: the tables' exp, sigmoid, tanh, gelu) and fused blocks.
target_models() {
	local m
	ls examples/block.weft examples/dwsep.weft examples/mlp.weft 2>/dev/null
	for m in conv_1x1 conv_depthwise conv_bn_relu dense_bias matmul_rank3_bcast_rhs bcast_param_channel \
		leaky_relu_alpha clip_min_max unary_chain maxpool_pad avgpool_pad_include mini_resnet_block \
		vec_dense_act dw_plain_tails pw_pixels pw_prefetch dw_small_map dw_taps_7x7 dw_narrow_rows dw_row_blocks; do
		[[ -e tests/run/$m.weft ]] && echo "tests/run/$m.weft"
	done
}

# gen_count T PATTERN MODEL [ARGS...]: the lines of MODEL's generated .c (weft gen --target T
# ARGS) that match PATTERN, or "none" if weft gen failed.
gen_count() {
	local t=$1 pat=$2 model=$3 out=$TMP/target-gen
	shift 3
	rm -rf "$out" && mkdir "$out"
	if ! "$WEFT" gen "$model" --target "$t" -o "$out" "$@" >/dev/null 2>&1; then
		echo none
		return
	fi
	grep -c -- "$pat" "$out/$(basename "$model" .weft).c"
}

# target_flags T: the compiler flags that enable T's branch, or nothing if this CPU lacks it.
target_flags() {
	local fl
	fl=$(grep -m 1 '^flags' /proc/cpuinfo 2>/dev/null)
	case $1 in
	sse) [[ $fl == *" sse2"* ]] && echo "-msse2" ;;
	avx2) [[ $fl == *" avx2"* && $fl == *" fma"* ]] && echo "-mavx2 -mfma" ;;
	avx512) [[ $fl == *" avx512f"* ]] && echo "-mavx512f" ;;
	esac
}

test_targets() {
	local t flags f name st out s
	for t in sse avx2 avx512; do
		flags=$(target_flags "$t")
		if [[ -z $flags ]]; then
			local masked=1
			[[ $t == sse ]] && masked=0
			case $t in sse) t=SSE2 ;; avx2) t="AVX2 with FMA" ;; avx512) t=AVX-512 ;; esac
			skip "$(($(target_models | wc -l) + $(ls tests/schedules/vec_*.sched 2>/dev/null | wc -l) + 4 + masked))" "no $t on this CPU"
			continue
		fi
		for f in $(target_models); do
			name=targets/$t/$(run_name "$f")
			selected "$name" || continue
			st=0
			WEFT_CFLAGS="$flags" limited 120 "$WEFT" verify "$f" --target "$t" >"$TMP/verify.txt" 2>&1 || st=$?
			if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "WEFT_CFLAGS='$flags' weft verify $f --target $t: $(why $st)" "$TMP/verify.txt" tail; fi
		done
		# The hand-written register-blocked conv: its SIMD branch must be there and be right.
		name=targets/$t/conv16c-sched
		if selected "$name"; then
			out=$TMP/target-gen && rm -rf "$out" && mkdir "$out"
			st=0
			"$WEFT" gen examples/conv16c.weft --schedule examples/conv16c.sched --target "$t" -o "$out" >/dev/null 2>&1 || st=$?
			if [[ $st -ne 0 ]] || ! stage_code "$out/conv16c.c" t3.update | grep -q "^[[:space:]]*#if defined"; then
				fail "$name" "no SIMD branch in the t3.update block of conv16c.c (--target $t)"
			else
				WEFT_CFLAGS="$flags" limited 120 "$WEFT" verify examples/conv16c.weft --schedule examples/conv16c.sched \
					--target "$t" >"$TMP/verify.txt" 2>&1 || st=$?
				if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "weft verify conv16c --target $t: $(why $st)" "$TMP/verify.txt" tail; fi
			fi
		fi
		# Masked lanes (tails, padding columns) and gathers: every nest of these models has its
		# SIMD branch on the targets whose tables have masks.
		name=targets/$t/masked-lanes
		if [[ $t != sse ]] && selected "$name"; then
			out=$TMP/target-gen && rm -rf "$out" && mkdir "$out"
			local m scalar=""
			for m in dw_plain_tails pw_pixels pw_pixels_s2 dw_small_map dw_s2_rows; do
				"$WEFT" gen tests/run/$m.weft --target "$t" -o "$out" >/dev/null 2>&1 || scalar="$scalar $m(gen failed)"
				grep -q "scalar code" "$out/$m.c" 2>/dev/null && scalar="$scalar $m"
			done
			if [[ -n $scalar ]]; then
				fail "$name" "a nest kept only its scalar code (--target $t):$scalar"
			else
				pass "$name"
			fi
		fi
		# Padded tails peeled: a loop whose last iteration alone fails a tail guard prints its
		# body twice, and the first copy (every iteration but the last) has no mask at all.
		name=targets/$t/peeled-tails
		if [[ $t != sse ]] && selected "$name"; then
			out=$TMP/target-gen && rm -rf "$out" && mkdir "$out"
			local peel
			"$WEFT" gen tests/run/pw_pixels.weft --target "$t" -o "$out" >/dev/null 2>&1
			peel=$(awk '/if \(weft_[a-z_]+ < [0-9]+\) \{$/ { inside = 1; n++; next }
				/its tail \*\/$/ { inside = 0 }
				inside && /mask/ { m++ }
				END { printf "%d %d", n, m }' "$out/pw_pixels.c" 2>/dev/null)
			if [[ ${peel% *} -ge 2 && ${peel#* } -eq 0 ]]; then
				pass "$name"
			else
				fail "$name" "pw_pixels (--target $t): expected 2 peeled nests without masks, got (nests, masks) = ($peel)"
			fi
		fi
		# Channel vectors into a plain NCHW output go out transposed (@tstore), not lane by lane.
		name=targets/$t/transposed-stores
		if selected "$name"; then
			local nt
			nt=$(gen_count "$t" 'weft_v_tstore(&' tests/run/conv_tstore.weft --schedule tests/schedules/vec_tstore.sched)
			if [[ $nt != none && $nt -gt 0 ]]; then
				pass "$name"
			else
				fail "$name" "conv_tstore with vec_tstore.sched (--target $t): weft_v_tstore calls: $nt"
			fi
		fi
		# A stencil's taps at distances that are not multiples of W: shared through shifts
		# (gen/vshift.c) on a table with @alignr, loaded one by one on the others.
		name=targets/$t/shifted-loads
		if selected "$name"; then
			local ns want=0
			ns=$(gen_count "$t" alignr tests/run/dw_taps_7x7.weft)
			grep -q '^@alignr' "templates/$t.tpl" && want=1
			if [[ $ns != none && $(( ns > 0 )) -eq $want ]]; then
				pass "$name"
			else
				fail "$name" "dw_taps_7x7 (--target $t): lines with alignr: $ns, table has @alignr: $want"
			fi
		fi
		# A stride-2 row's taps: vectors loaded once and permuted (@perm2) where the table can,
		# each tap's own pair of loads on the others; the same for two short rows in one vector
		# (irregular lanes, dw_s2_rows).
		name=targets/$t/strided-shared-loads
		if selected "$name"; then
			local np nr want=0
			np=$(gen_count "$t" 'permutex2var_ps(weft_v' tests/run/dw_s2_wide.weft)
			nr=$(gen_count "$t" 'permutex2var_ps(weft_v' tests/run/dw_s2_rows.weft)
			grep -q '^@perm2' "templates/$t.tpl" && grep -q '^@maskbits' "templates/$t.tpl" && want=1
			if [[ $np != none && $nr != none && $(( np > 0 )) -eq $want && $(( nr > 0 )) -eq $want ]]; then
				pass "$name"
			else
				fail "$name" "permutations of shared vectors (--target $t): dw_s2_wide $np, dw_s2_rows $nr; table has @perm2: $want"
			fi
		fi
		# Schedules that vectorize stages calling exp, sigmoid, tanh or gelu (the tables' helpers).
		for s in tests/schedules/vec_*.sched; do
			name=targets/$t/sched/$(basename "$s" .sched)
			[[ -e $s ]] && selected "$name" || continue
			f=$(sed -n 's/^# model: //p' "$s")
			st=0
			# built strict: a schedule's code must be warning-free too (an unused local, say)
			WEFT_CFLAGS="$flags -Wall -Wextra -pedantic -Werror" limited 120 "$WEFT" verify "$f" --schedule "$s" --target "$t" >"$TMP/verify.txt" 2>&1 || st=$?
			if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "weft verify $f --schedule $s --target $t: $(why $st)" "$TMP/verify.txt" tail; fi
		done
		# Random schedules on this target (the SIMD branch where a schedule vectorizes).
		name=targets/$t/fuzz
		if selected "$name"; then
			st=0
			WEFT_CFLAGS="$flags" limited 300 "$WEFT" fuzz examples/block.weft --count 3 --target "$t" >"$TMP/fuzz.txt" 2>&1 || st=$?
			if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "weft fuzz examples/block.weft --target $t: $(why $st)" "$TMP/fuzz.txt"; fi
		fi
	done
}

# ---- 3b. fuzz: a few random legal schedules per model (`make fuzz` runs 200 of each) ----

fuzz_tests() {
	local f name n st
	for f in $(run_models); do
		name=fuzz/$(run_name "$f")
		selected "$name" || continue
		case $f in examples/*) n=2 ;; *) n=4 ;; esac
		st=0
		limited 300 "$WEFT" fuzz "$f" --count "$n" >"$TMP/fuzz.txt" 2>&1 || st=$?
		if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "weft fuzz $f --count $n: $(why $st)" "$TMP/fuzz.txt"; fi
	done
}

# ---- 3c. hand-written schedules: examples/NAME.sched with examples/NAME.weft ----

# The block of code after a stage's provenance comment (up to the block's closing "\t}" line),
# comments removed.
stage_code() {
	awk -v stage="$2" 'index($0, "-- " stage ":") { on = 1; next } on && $0 == "\t}" { exit } on' "$1" |
		sed 's|/\*.*\*/||g'
}

test_schedules() {
	local s m name st out
	for s in examples/*.sched tests/schedules/*.sched; do
		[[ -e $s ]] || continue
		m=${s%.sched}.weft
		[[ $s == tests/* ]] && m=$(sed -n 's/^# model: //p' "$s")
		name=sched/$(basename "$s" .sched)
		selected "$name" || continue
		st=0
		limited 120 "$WEFT" verify "$m" --schedule "$s" >"$TMP/verify.txt" 2>&1 || st=$?
		if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "weft verify $m --schedule $s: $(why $st)" "$TMP/verify.txt" tail; fi
	done
	# The hand-written conv's loops line up with its layouts: no division or modulo in its code.
	name=sched/conv16c-no-divmod
	selected "$name" || return 0
	out=$TMP/sched-gen && rm -rf "$out" && mkdir "$out"
	"$WEFT" gen examples/conv16c.weft --schedule examples/conv16c.sched -o "$out" >/dev/null 2>&1
	stage_code "$out/conv16c.c" t3.update >"$TMP/stage.txt"
	if [[ ! -s $TMP/stage.txt ]]; then
		fail "$name" "no code found for stage t3.update in the generated conv16c.c"
	elif grep -n '[/%]' "$TMP/stage.txt" >"$TMP/detail.txt"; then
		fail "$name" "division or modulo in the t3.update nest" "$TMP/detail.txt"
	else
		pass "$name"
	fi
}

# A strided 1x1 conv reads its input subsampled (ir/unitstride.c): a maxpool2d stage of
# kernel 1 before it, the conv itself at stride 1 (its results: run/conv_1x1_unit_stride).
test_unit_stride() {
	local name=sched/unit-stride m=tests/run/conv_1x1_unit_stride.weft
	selected "$name" || return 0
	"$WEFT" check "$m" >"$TMP/check.txt" 2>&1
	"$WEFT" sched "$m" >"$TMP/sched.txt" 2>&1
	if ! grep -q 'ops: 3 (conv2d 1, relu 1, maxpool2d 1)' "$TMP/check.txt"; then
		fail "$name" "weft check $m: expected the conv, the relu and the subsample" "$TMP/check.txt"
	elif ! grep -q '^t__sub\.' "$TMP/sched.txt"; then
		fail "$name" "weft sched $m: no schedule for the subsample stage t__sub" "$TMP/sched.txt"
	else
		pass "$name"
	fi
}

# ---- 4. golden: tests/golden/NAME.weft -> NAME.h.expected and NAME.c.expected, byte for byte
# (target scalar: the same text on every machine) ----

test_golden() {
	local f base name out st ext got
	for f in tests/golden/*.weft; do
		[[ -e $f ]] || continue
		base=${f%.weft}
		[[ -e $base.h.expected && -e $base.c.expected ]] || continue
		name=golden/$(basename "$base")
		selected "$name" || continue
		out=$TMP/golden
		rm -rf "$out" && mkdir "$out"
		st=0
		limited 60 "$WEFT" gen "$f" --target scalar -o "$out" >"$TMP/out.txt" 2>&1 || st=$?
		if [[ $st -ne 0 ]]; then
			fail "$name" "weft gen $f: $(why $st)" "$TMP/out.txt"
			continue
		fi
		local bad=
		for ext in h c; do
			got=$(ls "$out"/*."$ext" 2>/dev/null | head -n 1)
			if [[ -z $got ]]; then
				echo "weft gen wrote no .$ext file" >"$TMP/detail.txt"
				bad=$ext
				break
			fi
			if ! cmp -s "$got" "$base.$ext.expected"; then
				diff -u "$base.$ext.expected" "$got" >"$TMP/detail.txt"
				bad=$ext
				break
			fi
		done
		if [[ -n $bad ]]; then fail "$name" "generated .$bad differs from $base.$bad.expected" "$TMP/detail.txt"; else pass "$name"; fi
	done
}

# ---- 5. warnings: the generated C compiles cleanly with strict warnings on every compiler ----

# The compiler configurations: NAME|COMMAND (the command gets the warning flags and the file).
warn_configs() {
	echo "gcc|gcc"
	echo "gcc-openmp|gcc -fopenmp"
	echo "clang|clang"
	echo "clang-openmp|clang -fopenmp"
	# The SIMD branches of the generated code are compiled only when the target enables them.
	if [[ $(uname -m) == x86_64 ]]; then
		echo "gcc-avx512|gcc -fopenmp -march=x86-64-v4"
		echo "clang-avx2|clang -march=x86-64-v3"
	fi
}

# Every example and corpus model except the two large networks: their generated files hold
# their weights as text (ResNet-18: 186 MB, a minute per compile), so examples-large checks them
# with one configuration instead.
warn_models() {
	local f
	for f in examples/*.weft tests/run/*.weft; do
		[[ -e $f && $f != examples/resnet18.weft && $f != examples/mobilenetv2.weft ]] && echo "$f"
	done
}

# Can `clang -fopenmp` compile a file that includes <omp.h>?
clang_has_openmp() {
	printf '#include <omp.h>\nint f(void) { return omp_get_max_threads(); }\n' >"$TMP/omp.c"
	clang -fopenmp -c "$TMP/omp.c" -o "$TMP/omp.o" >/dev/null 2>&1
}

# strict_compile CMD FILE LOG: compile FILE with the strict flags; false (and the messages in
# LOG) if there is any warning.
strict_compile() {
	# shellcheck disable=SC2086 # CMD is a command with its options
	limited 600 $1 -std=c99 -Wall -Wextra -pedantic -Werror -O2 -c "$2" -o /dev/null >"$3" 2>&1
}

# gen_all DIR: weft gen every warn_models model into DIR/NAME/; a failure leaves DIR/NAME/FAILED.
gen_all() {
	local f m dir st
	for f in $(warn_models); do
		m=$(basename "$f" .weft)
		dir=$1/$m
		mkdir -p "$dir"
		st=0
		limited 300 "$WEFT" gen "$f" -o "$dir" >"$dir/gen.log" 2>&1 || st=$?
		[[ $st -eq 0 ]] || echo "weft gen $f: $(why $st)" >"$dir/FAILED"
	done
}

# warn_config NAME CMD GENDIR: one test: every generated model compiles cleanly with CMD.
# Compiles run $JOBS at a time; the report is assembled in model order afterwards.
warn_config() {
	local cname=$1 cmd=$2 gendir=$3 f m dir running=0 nbad=0 bad=() log=$TMP/warn_$1.log
	for f in $(warn_models); do
		m=$(basename "$f" .weft)
		dir=$gendir/$m
		[[ -e $dir/FAILED ]] && continue
		strict_compile "$cmd" "$dir/$m.c" "$dir/$cname.log" || touch "$dir/$cname.bad" &
		running=$((running + 1))
		if [[ $running -ge $JOBS ]]; then
			wait -n
			running=$((running - 1))
		fi
	done
	wait
	: >"$log"
	for f in $(warn_models); do
		m=$(basename "$f" .weft)
		dir=$gendir/$m
		if [[ -e $dir/FAILED ]]; then
			{ echo "== $f: gen failed"; cat "$dir/FAILED" "$dir/gen.log"; } >>"$log"
		elif [[ -e $dir/$cname.bad ]]; then
			{ echo "== $f:"; head -n 20 "$dir/$cname.log"; } >>"$log"
		else
			continue
		fi
		nbad=$((nbad + 1))
		bad+=("$m")
	done
	if [[ $nbad -eq 0 ]]; then
		pass "warnings/$cname"
	else
		local list="${bad[*]:0:8}"
		[[ $nbad -gt 8 ]] && list="$list ..."
		fail "warnings/$cname" "$nbad model(s) do not compile cleanly with '$cmd': $list" "$log"
	fi
}

test_warnings() {
	local configs=() c cmd
	while IFS= read -r c; do
		selected "warnings/${c%%|*}" && configs+=("$c")
	done < <(warn_configs)
	[[ ${#configs[@]} -gt 0 ]] || return 0

	local gendir=$TMP/warn
	rm -rf "$gendir" && mkdir -p "$gendir"
	gen_all "$gendir"

	local have_clang=1 have_omp=1 said_clang=0 said_omp=0
	command -v clang >/dev/null 2>&1 || have_clang=0
	[[ $have_clang -eq 1 ]] && { clang_has_openmp || have_omp=0; }
	for c in "${configs[@]}"; do
		cmd=${c#*|}
		if [[ $cmd == clang* && $have_clang -eq 0 ]]; then
			[[ $said_clang -eq 0 ]] && echo "skipped: clang not installed"
			said_clang=1 nskip=$((nskip + 1))
		elif [[ $cmd == "clang -fopenmp"* && $have_omp -eq 0 ]]; then
			[[ $said_omp -eq 0 ]] && echo "skipped: clang -fopenmp (libomp-dev) not installed"
			said_omp=1 nskip=$((nskip + 1))
		else
			warn_config "${c%%|*}" "$cmd" "$gendir"
		fi
	done
}

# ---- 5b. cross: AArch64 under qemu-aarch64, and a Cortex-M4 firmware build ----

# The examples and a spread of the corpus (every op kind, odd shapes, broadcasting, pooling
# modes, whole small networks); all of tests/run passes too, this keeps the kind short.
cross_run_models() {
	local m
	for m in conv_depthwise_stride2 conv_groups3_stride conv_pad_asym conv_dilation2 \
		conv_channel_tails dense_bias matmul_rank4_bcast maxpool_ceil avgpool_pad_include \
		softmax_large layernorm_axis_neg2 unary_gelu unary_tanh transpose_rank5 concat_axis1 \
		pad_then_conv mini_attention mini_mobilenet mini_resnet_block vec_dense_act; do
		echo "tests/run/$m.weft"
	done
}

# Firmware-sized models only: resnet18 and mobilenetv2 hold tens of MB of weights, far more than
# a Cortex-M4's flash, and their generated files take minutes to compile.
cross_m4_models() {
	echo examples/block.weft examples/dwsep.weft examples/mlp.weft examples/conv16c.weft
	echo tests/run/mini_mobilenet.weft tests/run/mini_attention.weft tests/run/mini_resnet_block.weft
	echo tests/run/unary_gelu.weft tests/run/softmax_large.weft tests/run/layernorm_last.weft
	echo tests/run/maxpool_ceil.weft tests/run/avgpool_pad_include.weft
}

# cross_verify NAME TARGET FILE [ARGS...]: weft verify, cross-compiled for AArch64 (static, so
# qemu needs no sysroot) and run under qemu-aarch64.
cross_verify() {
	local name=$1 target=$2 f=$3 st=0
	shift 3
	CC=aarch64-linux-gnu-gcc WEFT_CFLAGS=-static WEFT_EXEC=qemu-aarch64 \
		limited 300 "$WEFT" verify "$f" --target "$target" "$@" >"$TMP/cross.txt" 2>&1 || st=$?
	if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "weft verify $f --target $target $*: $(why $st)" "$TMP/cross.txt" tail; fi
}

cross_aarch64() {
	local f name todo=() st target=neon
	for f in examples/block.weft examples/dwsep.weft examples/mlp.weft examples/conv16c.weft \
		$(cross_run_models); do
		selected "cross/aarch64/$(run_name "$f")" && todo+=("$f")
	done
	selected cross/aarch64/sched/conv16c && todo+=(sched)
	selected cross/aarch64/sched/vec_tstore && todo+=(sched-tstore)
	selected cross/aarch64/sched/vec_prefetch && todo+=(sched-prefetch)
	local fuzz=()
	for f in examples/mlp.weft examples/dwsep.weft tests/run/mini_resnet_block.weft; do
		selected "cross/aarch64-fuzz/$(run_name "$f")" && fuzz+=("$f")
	done
	local n=$((${#todo[@]} + ${#fuzz[@]}))
	[[ $n -gt 0 ]] || return 0
	if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
		skip "$n" "aarch64-linux-gnu-gcc not installed"
		return
	elif ! command -v qemu-aarch64 >/dev/null 2>&1; then
		skip "$n" "qemu-aarch64 not installed"
		return
	fi
	# neon, or scalar where a weft without the neon target is tested
	mkdir -p "$TMP/cross-neon"
	"$WEFT" gen examples/mlp.weft --target neon -o "$TMP/cross-neon" >/dev/null 2>&1 || target=scalar
	for f in "${todo[@]}"; do
		if [[ $f == sched ]]; then
			cross_verify cross/aarch64/sched/conv16c "$target" examples/conv16c.weft \
				--schedule examples/conv16c.sched
		elif [[ $f == sched-tstore ]]; then # NEON's transposed stores (@tstore)
			cross_verify cross/aarch64/sched/vec_tstore "$target" tests/run/conv_tstore.weft \
				--schedule tests/schedules/vec_tstore.sched
		elif [[ $f == sched-prefetch ]]; then # NEON's @prefetch (__builtin_prefetch)
			cross_verify cross/aarch64/sched/vec_prefetch "$target" examples/block.weft \
				--schedule tests/schedules/vec_prefetch.sched
		else
			cross_verify "cross/aarch64/$(run_name "$f")" "$target" "$f"
		fi
	done
	# random schedules too (fuzz honours CC, WEFT_CFLAGS and WEFT_EXEC like verify)
	for f in "${fuzz[@]}"; do
		name=cross/aarch64-fuzz/$(run_name "$f")
		st=0
		CC=aarch64-linux-gnu-gcc WEFT_CFLAGS=-static WEFT_EXEC=qemu-aarch64 \
			limited 300 "$WEFT" fuzz "$f" --count 2 --target "$target" >"$TMP/cross.txt" 2>&1 || st=$?
		if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "weft fuzz $f --count 2 --target $target (AArch64): $(why $st)" "$TMP/cross.txt"; fi
	done
}

# The scalar target for a Cortex-M4 with its single-precision FPU: strict warnings, no OpenMP.
cross_cortex_m4() {
	local f m name todo=() dir st
	for f in $(cross_m4_models); do
		selected "cross/cortex-m4/$(run_name "$f")" && todo+=("$f")
	done
	[[ ${#todo[@]} -gt 0 ]] || return 0
	if ! command -v arm-none-eabi-gcc >/dev/null 2>&1; then
		skip "${#todo[@]}" "arm-none-eabi-gcc not installed"
		return
	fi
	for f in "${todo[@]}"; do
		m=$(basename "$f" .weft)
		name=cross/cortex-m4/$(run_name "$f")
		dir=$TMP/m4/$m
		rm -rf "$dir" && mkdir -p "$dir"
		st=0
		limited 120 "$WEFT" gen "$f" --target scalar -o "$dir" >"$TMP/cross.txt" 2>&1 || st=$?
		if [[ $st -ne 0 ]]; then
			fail "$name" "weft gen $f --target scalar: $(why $st)" "$TMP/cross.txt"
			continue
		fi
		st=0
		limited 300 arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 \
			-O2 -std=c99 -Wall -Wextra -pedantic -Werror -c "$dir/$m.c" -o "$dir/$m.o" \
			>"$TMP/cross.txt" 2>&1 || st=$?
		if [[ $st -eq 0 ]]; then pass "$name"; else fail "$name" "arm-none-eabi-gcc (Cortex-M4) on $m.c: $(why $st)" "$TMP/cross.txt"; fi
		rm -rf "$dir"
	done
}

test_cross() {
	cross_aarch64
	cross_cortex_m4
}

# ---- 6. cli: exit codes and the run/ref/gen commands end to end ----

# expect_status NAME WANT CMD...: the command must exit with status WANT.
expect_status() {
	local name=$1 want=$2 st=0
	shift 2
	selected "$name" || return 0
	limited 60 "$@" >"$TMP/cli.txt" 2>&1 || st=$?
	if [[ $st -eq $want ]]; then pass "$name"; else fail "$name" "'${*#"$WEFT"}' exited $st, want $want" "$TMP/cli.txt"; fi
}

# build_helper NAME: compile tests/cli/NAME.c into the temp dir (once); prints its path.
build_helper() {
	local exe=$TMP/$1
	[[ -x $exe ]] || "$CC" -std=c99 -O1 "tests/cli/$1.c" -o "$exe" -lm >"$TMP/helper.log" 2>&1 || return 1
	echo "$exe"
}

test_cli() {
	local model=examples/mlp.weft
	expect_status cli/no-arguments 2 "$WEFT"
	expect_status cli/unknown-command 2 "$WEFT" frobnicate "$model"
	expect_status cli/unknown-option 2 "$WEFT" check --no-such-option "$model"
	expect_status cli/help 0 "$WEFT" --help
	expect_status cli/check-ok 0 "$WEFT" check "$model"
	expect_status cli/check-missing-file 1 "$WEFT" check "$TMP/no-such-model.weft"

	local mk cmpf
	if selected cli/run-bad-input || selected cli/run-matches-ref; then
		if ! mk=$(build_helper mkfloats) || ! cmpf=$(build_helper cmpf); then
			fail cli/helpers "tests/cli/*.c do not compile" "$TMP/helper.log"
			return
		fi
	fi

	if selected cli/run-bad-input; then
		"$mk" 100 "$TMP/short.bin" # mlp's x is [8, 784]: 6272 floats, not 100
		rm -f "$TMP/bad_y.bin"
		local st=0
		limited 60 "$WEFT" run "$model" --in "x=$TMP/short.bin" --out "y=$TMP/bad_y.bin" >"$TMP/cli.txt" 2>&1 || st=$?
		if [[ $st -ne 1 ]]; then
			fail cli/run-bad-input "weft run with a wrong-size input exited $st, want 1" "$TMP/cli.txt"
		elif [[ -e $TMP/bad_y.bin ]]; then
			fail cli/run-bad-input "weft run failed but wrote the output file"
		else
			pass cli/run-bad-input
		fi
	fi

	if selected cli/run-matches-ref; then
		"$mk" 6272 "$TMP/x.bin" 7
		rm -f "$TMP/run_y.bin" "$TMP/ref_y.bin"
		local st1=0 st2=0
		limited 120 "$WEFT" run "$model" --in "x=$TMP/x.bin" --out "y=$TMP/run_y.bin" >"$TMP/run.txt" 2>&1 || st1=$?
		limited 120 "$WEFT" ref "$model" --in "x=$TMP/x.bin" --out "y=$TMP/ref_y.bin" >"$TMP/ref.txt" 2>&1 || st2=$?
		if [[ $st1 -ne 0 ]]; then
			fail cli/run-matches-ref "weft run: $(why $st1)" "$TMP/run.txt"
		elif [[ $st2 -ne 0 ]]; then
			fail cli/run-matches-ref "weft ref: $(why $st2)" "$TMP/ref.txt"
		elif ! "$cmpf" "$TMP/run_y.bin" "$TMP/ref_y.bin" >"$TMP/cmp.txt" 2>&1; then
			fail cli/run-matches-ref "weft run and weft ref disagree" "$TMP/cmp.txt"
		else
			pass cli/run-matches-ref
		fi
	fi

	# verify compiles the generated code with its target's flags, so that the SIMD branch that
	# runs on the target is the one checked (plain -O2 would keep only the scalar one on x86)
	if selected cli/verify-target-flags; then
		local logcc=$TMP/logcc args=$TMP/cc-args.txt st=0 want
		printf '#!/bin/sh\necho "$*" >>"%s"\nexec %s "$@"\n' "$args" "$CC" >"$logcc" && chmod +x "$logcc"
		rm -f "$args"
		CC=$logcc limited 120 "$WEFT" verify "$model" >"$TMP/cli.txt" 2>&1 || st=$?
		CC=$logcc limited 120 "$WEFT" verify "$model" --target scalar >>"$TMP/cli.txt" 2>&1 || st=$?
		want="-march=native"
		if [[ $st -ne 0 ]]; then
			fail cli/verify-target-flags "weft verify with a logging CC: $(why $st)" "$TMP/cli.txt"
		elif [[ $(grep -c -- "$want" "$args") -ne 1 || $(wc -l <"$args") -ne 2 ]]; then
			fail cli/verify-target-flags "want $want in the native build only; the compiler was called with:" "$args"
		else
			pass cli/verify-target-flags
		fi
	fi

	# The default rule's unrolled shapes of a depthwise conv (ir/plainrules.c): a 3x3 window
	# takes row blocks (dw_rows_per_block); a 13x13 one on wide rows and a 17x17 one on a small
	# map do not (their unrolled taps would be thousands).
	if selected cli/dw-row-blocks; then
		local small=$TMP/sched-small.txt big=$TMP/sched-big.txt m
		limited 60 "$WEFT" sched tests/run/dw_row_blocks.weft >"$small" 2>&1
		: >"$big"
		for m in dw_big_kernel dw_big_kernel_map; do
			limited 60 "$WEFT" sched tests/run/$m.weft >>"$big" 2>&1
		done
		if ! grep -q "^t1.update: unroll(oh_i)" "$small"; then
			fail cli/dw-row-blocks "want t1's rows in unrolled blocks (unroll(oh_i)) in dw_row_blocks; weft sched says:" "$small"
		elif [[ $(grep -c "^y.update: vectorize(ow)" "$big") -ne 2 ]] || grep -q "unroll" "$big"; then
			fail cli/dw-row-blocks "want no unrolled window or rows in dw_big_kernel and dw_big_kernel_map; weft sched says:" "$big"
		else
			pass cli/dw-row-blocks
		fi
	fi

	# The default rule's GEMM of pixel blocks fetches the next block's input ahead from 64 to 128
	# input channels (ir/plainrules.c PREFETCH_MIN_C), not below; on AVX-512 pw_prefetch's blocks
	# of 64 pixels read 4 lines a channel, each fetched once per iteration of c and none in the
	# guarded last block, whose nest has no prefetch to print. Blocked convs with big weights
	# read by few pixel blocks fetch the next channel block's weights (ir/defaults.c
	# PREFETCH_MAX_BLOCKS): ResNet-18's four 7x7x512 convs, and none of its others, where
	# weft sched schedules for AVX-512 (it uses the host's width; AVX2's blocks are not rows).
	if selected cli/prefetch; then
		local pf=$TMP/sched-pf.txt r18=$TMP/sched-r18.txt npf
		{ limited 60 "$WEFT" sched tests/run/pw_prefetch.weft; limited 60 "$WEFT" sched tests/run/pw_pixels.weft; } >"$pf" 2>&1
		: >"$r18"
		grep -qw avx512f /proc/cpuinfo 2>/dev/null && limited 60 "$WEFT" sched examples/resnet18.weft >"$r18" 2>&1
		npf=$(gen_count avx512 '_mm_prefetch(' tests/run/pw_prefetch.weft)
		local nb
		nb=$(gen_count avx512 '_mm_prefetch((const char \*)(&b\[' tests/run/add_rows.weft --schedule tests/schedules/vec_prefetch_two.sched)
		if [[ $(grep -c "prefetch(" "$pf") -ne 1 ]] || ! grep -q "^t.update: prefetch(x, oh_ow_o)$" "$pf"; then
			fail cli/prefetch "want prefetch(x, oh_ow_o) in pw_prefetch's default schedule and none in pw_pixels'; weft sched says:" "$pf"
		elif [[ -s $r18 ]] && [[ $(grep -c "prefetch(" "$r18") -ne 4 || $(grep -Ec '^l4_[01]_n[12]\.update: prefetch\(l4_[01]_n[12]__w, k_o\)$' "$r18") -ne 4 ]]; then
			grep "prefetch(" "$r18" >"$TMP/detail.txt"
			fail cli/prefetch "want prefetch(W, k_o) on ResNet-18's four l4 3x3 convs only; weft sched examples/resnet18.weft says:" "$TMP/detail.txt"
		elif [[ $npf != 4 ]]; then
			fail cli/prefetch "pw_prefetch (--target avx512): want 4 lines with _mm_prefetch, got $npf"
		elif [[ $nb == none || $nb -eq 0 ]]; then
			fail cli/prefetch "add_rows with vec_prefetch_two.sched (--target avx512): no prefetch of b ($nb lines)"
		else
			pass cli/prefetch
		fi
	fi

	if selected cli/gen-deterministic; then
		local d1=$TMP/gen1 d2=$TMP/gen2 st1=0 st2=0
		rm -rf "$d1" "$d2" && mkdir "$d1" "$d2"
		limited 60 "$WEFT" gen examples/block.weft -o "$d1" >"$TMP/gen.txt" 2>&1 || st1=$?
		limited 60 "$WEFT" gen examples/block.weft -o "$d2" >>"$TMP/gen.txt" 2>&1 || st2=$?
		if [[ $st1 -ne 0 || $st2 -ne 0 ]]; then
			fail cli/gen-deterministic "weft gen examples/block.weft failed" "$TMP/gen.txt"
		elif [[ -z $(ls -A "$d1") ]]; then
			fail cli/gen-deterministic "weft gen wrote no files"
		elif ! diff -r "$d1" "$d2" >"$TMP/diff.txt" 2>&1; then
			fail cli/gen-deterministic "two runs of weft gen wrote different files" "$TMP/diff.txt"
		else
			pass cli/gen-deterministic
		fi
	fi
}

# ---- 7. examples-large: full networks (tens of seconds each) ----

test_examples_large() {
	local f name todo=()
	for f in examples/resnet18.weft examples/mobilenetv2.weft; do
		name=examples-large/$(basename "$f" .weft)
		selected "$name" && todo+=("$f")
	done
	[[ ${#todo[@]} -gt 0 ]] || return 0
	if [[ $SLOW == 0 ]]; then
		skip $((2 * ${#todo[@]})) "slow tests (SLOW=0)"
		return
	fi
	local m dir st
	for f in "${todo[@]}"; do
		m=$(basename "$f" .weft)
		verify "examples-large/$m" "$f" 600
		# The strict-warnings check of the warnings kind, with one configuration (a minute each).
		dir=$TMP/large_$m
		rm -rf "$dir" && mkdir "$dir"
		st=0
		limited 300 "$WEFT" gen "$f" -o "$dir" >"$TMP/gen.txt" 2>&1 || st=$?
		if [[ $st -ne 0 ]]; then
			fail "examples-large/$m-warnings" "weft gen $f: $(why $st)" "$TMP/gen.txt"
		elif ! strict_compile "gcc -fopenmp" "$dir/$m.c" "$TMP/cc.txt"; then
			fail "examples-large/$m-warnings" "does not compile cleanly with 'gcc -fopenmp'" "$TMP/cc.txt"
		else
			pass "examples-large/$m-warnings"
		fi
		rm -rf "$dir"
	done
}

# ---- tune: weft tune's log, resume and failure handling (tests/tune/tests.sh) ----

test_tune() {
	# shellcheck source=tune/tests.sh
	source tests/tune/tests.sh
	tune_tests
}

if [[ ! -x $WEFT ]]; then
	echo "FAIL setup: no weft binary at $WEFT (set WEFT=PATH or run make)"
	echo "0 passed, 1 failed"
	exit 1
fi

test_unit
test_error
sched_error_tests
test_run
test_targets
fuzz_tests
test_schedules
test_unit_stride
test_golden
test_warnings
test_cross
test_cli
test_tune
test_examples_large

summary="$npass passed, $nfail failed"
[[ $nskip -gt 0 ]] && summary="$summary, $nskip skipped"
echo "$summary"
[[ $nfail -eq 0 ]]
