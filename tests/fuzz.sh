#!/usr/bin/env bash
# tests/fuzz.sh: `make fuzz`: random legal schedules (random layouts included) of every corpus
# model (tests/run) and every example through `weft fuzz`, each variant's outputs compared with
# the reference interpreter. Prints weft fuzz's lines per model (one per failing schedule, with
# the schedule file kept for reproduction, then `fuzz MODEL: N schedules, N ok`), then the
# totals and the time taken. Exit status is non-zero iff a schedule failed.
# Environment:
#   WEFT=PATH     the weft binary (default ./weft)
#   COUNT=N       schedules per model (default 200)
#   SEED=S        the first schedule's seed (default 1): variant k uses seed S+k
#   JOBS=N        parallel jobs of weft fuzz (default: the number of CPUs)
#   FILTER=TEXT   only the models whose path contains TEXT
#   WEFT_CFLAGS   extra flags for the compiler (e.g. -fopenmp to run parallel loops threaded)

set -u
cd "$(dirname "$0")/.." || exit 2

WEFT=${WEFT:-./weft}
COUNT=${COUNT:-200}
SEED=${SEED:-1}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FILTER=${FILTER:-}

if [[ ! -x $WEFT ]]; then
	echo "fuzz: no weft binary at $WEFT (set WEFT=PATH or run make)"
	exit 2
fi

start=$(date +%s)
nmodels=0 nbad=0 nsched=0 nok=0
bad=()
# Each model's schedules run in chunks of CHUNK consecutive seeds, one `weft fuzz` (one program)
# per chunk: 200 variants of a big model in one program overflow the 2 GB its statics may take
# on x86-64 (MobileNetV2's params are 14 MB a variant).
CHUNK=${CHUNK:-20}
for f in tests/run/*.weft examples/*.weft; do
	[[ -e $f && ( -z $FILTER || $f == *"$FILTER"* ) ]] || continue
	nmodels=$((nmodels + 1))
	model_bad=0
	for ((first = 0; first < COUNT; first += CHUNK)); do
		n=$((COUNT - first < CHUNK ? COUNT - first : CHUNK))
		out=$("$WEFT" fuzz "$f" --count "$n" --seed "$((SEED + first))" --jobs "$JOBS" 2>&1)
		st=$?
		echo "$out" | grep -v '^weft: note: .* has no weights' | grep -v '^fuzz [^ ]*: [0-9]* schedules, [0-9]* ok$'
		line=$(echo "$out" | grep -E '^fuzz [^ ]+: [0-9]+ schedules, [0-9]+ ok$' | tail -n 1)
		if [[ -n $line ]]; then
			k=${line#*: }
			nsched=$((nsched + ${k%% *}))
			ok=${line%% ok}
			nok=$((nok + ${ok##* }))
		fi
		[[ $st -ne 0 || -z $line ]] && model_bad=1
	done
	echo "fuzz $f: done"
	if [[ $model_bad -ne 0 ]]; then
		nbad=$((nbad + 1))
		bad+=("$f")
	fi
done
secs=$(($(date +%s) - start))
echo "fuzz: $nmodels models, $nsched schedules, $nok ok, $((nsched - nok)) failed; $nbad model(s) with failures; $((secs / 60))m$((secs % 60))s"
[[ $nbad -eq 0 ]] || { echo "models with failures: ${bad[*]}"; exit 1; }
