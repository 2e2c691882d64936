# tests/tune/tests.sh: the tuner's tests, sourced by tests/run.sh (test_tune), which provides
# WEFT, TMP, selected, pass, fail and limited. Tiny model, a few trials each; only statuses and
# the log's structure are checked, never times.

TUNE_MODEL=tests/tune/tiny.weft

# tune_run LOG ARGS...: weft tune on the tiny model with temp files under $TMP; output in tune.txt.
# Without the graph pass (its whole-model records would change the counts), except where asked.
tune_run() {
	local log=$1
	shift
	[[ ${1:-} == --graph ]] && shift || set -- --no-graph "$@"
	TMPDIR=$TMP WEFT_TUNE_TIMEOUT=${WEFT_TUNE_TIMEOUT:-5} limited 120 "$WEFT" tune "$TUNE_MODEL" \
		--log "$log" --jobs 2 "$@" >>"$TMP/tune.txt" 2>&1
}

# log_check LOG N: empty if LOG holds exactly N trials besides its confirming runs (origin
# confirm: finalists timed again on purpose), each a whole record, no trial twice (same
# workload, machine and schedule); else what is wrong.
log_check() {
	local log=$1 n=$2 lines bad dups
	lines=$(grep -vc '"origin": "confirm"' "$log")
	bad=$(grep -cv '^{"workload": .*"predicted": [^,]*}$' "$log")
	dups=$(grep -v '"origin": "confirm"' "$log" | sed 's/, "status".*//' | sort | uniq -d | wc -l)
	[[ $lines -eq $n ]] || echo "the log has $lines lines, want $n"
	[[ $bad -eq 0 ]] || echo "$bad lines are not whole records"
	[[ $dups -eq 0 ]] || echo "$dups trials were measured twice"
}

# status_of LOG TRIAL: the status of trial number TRIAL.
status_of() { grep -v '"origin": "confirm"' "$1" | grep "\"trial\": $2," | sed 's/.*"status": "\([a-z_]*\)".*/\1/'; }

tune_tests() {
	local log st why

	if selected tune/injected-failures; then
		log=$TMP/inject.log
		: >"$TMP/tune.txt"
		st=0
		WEFT_TUNE_INJECT=crash:2,hang:3,wrong:4,compile:5 WEFT_TUNE_TIMEOUT=1 tune_run "$log" --trials 7 || st=$?
		why=$(log_check "$log" 7)
		local got
		got="$(status_of "$log" 2) $(status_of "$log" 3) $(status_of "$log" 4) $(status_of "$log" 5) $(status_of "$log" 1)"
		if [[ $st -ne 0 ]]; then
			fail tune/injected-failures "weft tune exited $st" "$TMP/tune.txt" tail
		elif [[ -n $why ]]; then
			fail tune/injected-failures "$why" "$log"
		elif [[ $got != "crash timeout wrong compile_error ok" ]]; then
			fail tune/injected-failures "statuses of trials 2-5, 1: '$got', want 'crash timeout wrong compile_error ok'" "$TMP/tune.txt"
		else
			pass tune/injected-failures
		fi
	fi

	if selected tune/resume-after-kill; then
		log=$TMP/kill.log
		: >"$TMP/tune.txt"
		TMPDIR=$TMP WEFT_TUNE_TIMEOUT=5 "$WEFT" tune "$TUNE_MODEL" --log "$log" --jobs 2 --trials 10 --no-graph >>"$TMP/tune.txt" 2>&1 &
		local pid=$! i
		for ((i = 0; i < 300; i++)); do # until two trials are in (at most 30 s)
			[[ -f $log && $(wc -l <"$log") -ge 2 ]] && break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		local before
		before=$(wc -l <"$log")
		st=0
		tune_run "$log" --trials 10 || st=$?
		why=$(log_check "$log" 10)
		if [[ $st -ne 0 ]]; then
			fail tune/resume-after-kill "the second weft tune exited $st" "$TMP/tune.txt" tail
		elif [[ -n $why ]]; then
			fail tune/resume-after-kill "$why (killed after $before trials)" "$log"
		elif ! grep -q "resuming" "$TMP/tune.txt"; then
			fail tune/resume-after-kill "the second run did not say it resumed" "$TMP/tune.txt"
		else
			pass tune/resume-after-kill
		fi
	fi

	if selected tune/corrupt-last-line; then
		log=$TMP/corrupt.log
		: >"$TMP/tune.txt"
		tune_run "$log" --trials 3
		local torn=$(($(wc -l <"$log") + 1)) # 3 trials and any confirming runs before it
		printf '{"workload": "input x0 : f3' >>"$log" # a torn write: no newline
		st=0
		tune_run "$log" --trials 5 || st=$?
		if [[ $st -ne 0 ]]; then
			fail tune/corrupt-last-line "weft tune exited $st" "$TMP/tune.txt" tail
		elif ! grep -q "corrupt.log:$torn: an incomplete last line (skipped)" "$TMP/tune.txt"; then
			fail tune/corrupt-last-line "no warning about line $torn" "$TMP/tune.txt"
		elif [[ $(grep -v '"origin": "confirm"' "$log" | grep -c '^{"workload": .*}$') -ne 5 ||
			$(grep -c '^{"workload": .*}$' "$log") -ne $(($(wc -l <"$log") - 1)) ]]; then
			fail tune/corrupt-last-line "want 5 whole trials and the torn line on its own" "$log"
		elif ! "$WEFT" tune --report "$log" >"$TMP/report.txt" 2>&1 || ! grep -q "best schedule" "$TMP/report.txt"; then
			fail tune/corrupt-last-line "weft tune --report failed" "$TMP/report.txt"
		else
			pass tune/corrupt-last-line
		fi
	fi

	if selected tune/schedule-from-log; then
		log=$TMP/sched.log
		: >"$TMP/tune.txt"
		tune_run "$log" --trials 6
		grep 'ny = conv2d' "$log" >"$TMP/conv.log" # only the conv workload
		st=0
		limited 60 "$WEFT" verify "$TUNE_MODEL" --schedule "$TMP/conv.log" >"$TMP/v.txt" 2>&1 || st=$?
		if [[ $st -ne 0 ]]; then
			fail tune/schedule-from-log "weft verify --schedule LOG exited $st" "$TMP/v.txt"
		elif ! grep -q "has no record for the workload of t2, t4, y" "$TMP/v.txt"; then
			fail tune/schedule-from-log "no note naming the untuned ops" "$TMP/v.txt"
		else
			pass tune/schedule-from-log
		fi
	fi

	if selected tune/graph-pass; then
		log=$TMP/graph.log
		: >"$TMP/tune.txt"
		st=0
		tune_run "$log" --graph --trials 6 || st=$?
		local ngraph ndef st2=0
		ngraph=$(grep -c '^{"workload": "graph tiny [0-9a-f]*",' "$log")
		ndef=$(grep '^{"workload": "graph tiny' "$log" | grep -c '"origin": "default"')
		limited 60 "$WEFT" verify "$TUNE_MODEL" --schedule "$log" >"$TMP/v.txt" 2>&1 || st2=$?
		"$WEFT" tune --report "$log" >"$TMP/report.txt" 2>&1
		if [[ $st -ne 0 ]]; then
			fail tune/graph-pass "weft tune exited $st" "$TMP/tune.txt" tail
		elif [[ $ngraph -lt 2 || $ndef -lt 1 ]]; then
			fail tune/graph-pass "want the default and at least one combination measured whole, saw $ngraph records ($ndef default)" "$log"
		elif ! grep -Eq 'the default rule op by op \(ms\): [a-z0-9_]+ [0-9.]+.*; [1-9][0-9]* ops timed' "$TMP/tune.txt"; then
			fail tune/graph-pass "no time per op from the profiled whole model" "$TMP/tune.txt" tail
		elif grep -v '"workload": "graph ' "$log" >"$TMP/tasks.log" && [[ -n $(log_check "$TMP/tasks.log" 6) ]]; then
			fail tune/graph-pass "$(log_check "$TMP/tasks.log" 6)" "$log"
		elif [[ $st2 -ne 0 ]] || ! grep -q "using the whole-model schedule of weft tune's graph pass" "$TMP/v.txt"; then
			fail tune/graph-pass "weft verify --schedule LOG did not use the whole-model record (exit $st2)" "$TMP/v.txt"
		elif ! grep -q "the whole model (graph pass)" "$TMP/report.txt"; then
			fail tune/graph-pass "weft tune --report does not show the whole model" "$TMP/report.txt"
		else
			pass tune/graph-pass
		fi
	fi

	# which whole schedule gen takes: one that beat the default measured beside it every time,
	# three times at least, by 1% or more at the median; else the default (records of the graph
	# pass's log, their times set by hand)
	if selected tune/graph-choice; then
		log=$TMP/graph.log
		[[ -s $log ]] || tune_run "$log" --graph --trials 6 >/dev/null 2>&1 || true
		local d x why=""
		d=$(grep '^{"workload": "graph tiny' "$log" | grep '"origin": "default"' | grep '"status": "ok"' | head -1)
		x=$(grep '^{"workload": "graph tiny' "$log" | grep -v '"origin": "default"' | grep '"status": "ok"' |
			grep -vF "$(sed 's/.*"sched": \("[^"]*"\).*/\1/' <<<"$d")" | head -1)
		at() { sed -E "s/\"median_ns\": [0-9.]+/\"median_ns\": $2/" <<<"$1"; }
		choice() { # the times of D X D X D ...: what --report says gen uses
			local i=0 t
			: >"$TMP/choice.log"
			for t in "$@"; do
				if ((i % 2 == 0)); then at "$d" "$t"; else at "$x" "$t"; fi >>"$TMP/choice.log"
				i=$((i + 1))
			done
			"$WEFT" tune --report "$TMP/choice.log" 2>&1 | grep 'weft gen uses'
		}
		if [[ -z $d || -z $x ]]; then
			why="the graph pass's log has no default and other whole schedule to pair"
		elif ! choice 1000 950 1010 960 1000 955 1000 | grep -q 'a whole schedule'; then
			why="a schedule faster than the default beside it three times was not taken"
		elif ! choice 1000 950 1010 1030 1000 955 1000 | grep -q 'the default rule'; then
			why="a schedule slower than the default beside it once was taken"
		elif ! choice 1000 900 1000 900 1000 | grep -q 'the default rule'; then
			why="a schedule that beat the default only twice was taken"
		elif ! choice 1000 996 1000 995 1000 996 1000 | grep -q 'the default rule'; then
			why="a schedule faster than the default by less than 1% was taken"
		elif ! { at "$d" 1000; at "$x" 950; at "$d" 500 | sed -E 's/"cpu": "[^"]*"/"cpu": "another CPU"/'
			at "$x" 960; at "$d" 1000; at "$x" 955; at "$d" 1000; } >"$TMP/choice.log" ||
			! "$WEFT" tune --report "$TMP/choice.log" 2>&1 | grep 'weft gen uses' | grep -q 'a whole schedule'; then
			why="a measurement was paired with another machine's default"
		elif ! { at "$d" 1000; at "$x" 950; at "$d" 1000
			for q in 1.02 0.97 0.96; do at "$x" 950 | sed "s/\"predicted\"/\"vs_default\": $q, \"predicted\"/"; done
			} >"$TMP/choice.log" ||
			! "$WEFT" tune --report "$TMP/choice.log" 2>&1 | grep 'weft gen uses' | grep -q 'the default rule'; then
			why="a schedule that lost to the default beside it in one process (vs_default 1.02) was taken"
		fi
		if [[ -n $why ]]; then
			fail tune/graph-choice "$why" "$TMP/choice.log"
		else
			pass tune/graph-choice
		fi
	fi

	# after the search, each task's finalists are timed again beside its default, in one process
	# run by run (origin confirm, with vs_default), once: a log whose conv task has three
	# schedules faster than its default (times set by hand) gets 3 rounds of the 3 when tuning
	# resumes, and no more after
	if selected tune/confirm; then
		log=$TMP/confirm.log
		: >"$TMP/tune.txt"
		tune_run "$log" --trials 6
		local conv=0 n1 n2 nfin
		grep -v '"origin": "confirm"' "$log" | while IFS= read -r line; do
			if [[ $line == *'y = conv2d'* && $line == *'"status": "ok"'* ]]; then
				conv=$((conv + 1))
				# the default 9 us, the others 1-5 us
				if [[ $line == *'"origin": "default"'* ]]; then t=9000; else t=$((conv * 1000)); fi
				line=$(sed -E "s/\"median_ns\": [0-9.]+/\"median_ns\": $t/" <<<"$line")
			fi
			printf '%s\n' "$line"
		done >"$TMP/confirm2.log"
		mv "$TMP/confirm2.log" "$log"
		st=0
		tune_run "$log" --trials 6 || st=$?
		n1=$(grep '"origin": "confirm"' "$log" | grep -c '"vs_default": [0-9.]*, "predicted"')
		nfin=$(grep '"origin": "confirm"' "$log" | sed 's/.*"sched": //; s/, "status".*//' | sort -u | wc -l)
		tune_run "$log" --trials 6
		n2=$(grep -c '"origin": "confirm"' "$log")
		if [[ $st -ne 0 ]]; then
			fail tune/confirm "weft tune exited $st" "$TMP/tune.txt" tail
		elif [[ $n1 -ne 9 || $nfin -ne 3 ]]; then
			fail tune/confirm "want 9 confirming runs of 3 schedules with their ratio to the default (3 rounds of 3 finalists), saw $n1 of $nfin" "$log"
		elif [[ $n2 -ne 9 ]]; then
			fail tune/confirm "a rerun with nothing new timed them again ($n2 confirming runs)" "$log"
		elif ! grep -q "timing its 3 fastest schedules beside the default" "$TMP/tune.txt" ||
			! grep -q "confirming: [0-9.]*x the default's time" "$TMP/tune.txt"; then
			fail tune/confirm "no progress line for the confirming rounds" "$TMP/tune.txt" tail
		else
			pass tune/confirm
		fi
	fi

	# which task schedule gen takes once confirmed: one that beat the default beside it every
	# time, by 1% at the median; else the default (a default record, then X's confirming runs,
	# their ratios to the default set by hand)
	if selected tune/task-choice; then
		log=$TMP/sched.log
		[[ -s $log ]] || tune_run "$log" --trials 6 >/dev/null 2>&1 || true
		local d x why=""
		d=$(grep 'y = conv2d' "$log" | grep '"origin": "default"' | grep '"status": "ok"' | head -1)
		x=$(grep 'y = conv2d' "$log" | grep -v '"origin": "default"' | grep '"status": "ok"' | head -1)
		at() { sed -E "s/\"median_ns\": [0-9.]+/\"median_ns\": $2/; s/\"origin\": \"[a-z]*\"/\"origin\": \"$3\"/" <<<"$1"; }
		task_choice() { # D at 1000, X at 500, then X confirming at these ratios: what --report says gen uses
			local q
			{ at "$d" 1000 default; at "$x" 500 model; } >"$TMP/tchoice.log"
			for q in "$@"; do
				at "$x" 950 confirm | sed "s/\"predicted\"/\"vs_default\": $q, \"predicted\"/" >>"$TMP/tchoice.log"
			done
			"$WEFT" tune --report "$TMP/tchoice.log" 2>&1 | grep 'weft gen uses'
		}
		if [[ -z $d || -z $x ]]; then
			why="the log has no default and other conv schedule"
		elif ! task_choice | grep -q 'the best schedule (not timed again'; then
			why="without confirming runs, the fastest record was not taken"
		elif ! task_choice 0.95 0.96 0.955 | grep -q 'the best schedule (it beat the default every time'; then
			why="a finalist faster than the default beside it three times was not taken"
		elif ! task_choice 0.95 1.02 0.955 | grep -q 'the default rule (no finalist beat it'; then
			why="a finalist slower than the default beside it once was taken (its fastest, 500, is a lucky record)"
		elif ! task_choice 0.95 0.96 | grep -q 'the default rule (no finalist beat it'; then
			why="a finalist timed beside the default only twice was taken"
		elif ! task_choice 0.995 0.993 0.996 | grep -q 'the default rule (no finalist beat it'; then
			why="a finalist faster than the default by less than 1% was taken"
		fi
		if [[ -n $why ]]; then
			fail tune/task-choice "$why" "$TMP/tchoice.log"
		else
			pass tune/task-choice
		fi
	fi

	if selected tune/other-target; then
		log=$TMP/other.log
		: >"$TMP/tune.txt"
		tune_run "$log" --trials 2
		sed 's/"cpu": "[^"]*"/"cpu": "Some Other CPU"/' "$log" >"$TMP/other2.log"
		st=0
		tune_run "$TMP/other2.log" --trials 1 --target scalar || st=$?
		local st2=0
		limited 60 "$WEFT" verify "$TUNE_MODEL" --schedule "$TMP/other2.log" >"$TMP/v.txt" 2>&1 || st2=$?
		if [[ $st -ne 0 ]]; then
			fail tune/other-target "weft tune exited $st" "$TMP/tune.txt" tail
		elif ! grep -q "ignored 2 records of this model measured for another target or machine" "$TMP/tune.txt"; then
			fail tune/other-target "weft tune did not say it ignored the records" "$TMP/tune.txt"
		elif [[ $st2 -ne 0 ]] || ! grep -q "ignored 3 records" "$TMP/v.txt"; then
			fail tune/other-target "weft verify --schedule did not ignore them (exit $st2)" "$TMP/v.txt"
		else
			pass tune/other-target
		fi
	fi

	# --cold: records say how they were timed; a log holds one timing (times taken warm and cold
	# do not compare); records from before the field count as warm
	if selected tune/cold; then
		log=$TMP/cold.log
		: >"$TMP/tune.txt"
		st=0
		tune_run "$log" --trials 2 --cold || st=$?
		why=$(log_check "$log" 2)
		local cold warm_st=0 old_st=0
		cold=$(grep -v '"origin": "confirm"' "$log" | grep -c '"timing": "cold"')
		cp "$log" "$TMP/cold_before.log"
		tune_run "$log" --trials 3 || warm_st=$?
		sed 's/"timing": "cold", //' "$log" >"$TMP/cold_old.log"
		tune_run "$TMP/cold_old.log" --trials 3 || old_st=$?
		# session 10's --cold evicted L2 only: its "cold-l2" trials are another kind
		local l2_st=0
		sed 's/"timing": "cold"/"timing": "cold-l2"/' "$log" >"$TMP/cold_l2.log"
		tune_run "$TMP/cold_l2.log" --trials 3 --cold || l2_st=$?
		if [[ $st -ne 0 ]]; then
			fail tune/cold "weft tune --cold exited $st" "$TMP/tune.txt" tail
		elif [[ -n $why || $cold -ne 2 ]]; then
			fail tune/cold "${why:-$cold of 2 records say \"timing\": \"cold\"}" "$log"
		elif [[ $warm_st -ne 1 ]] || ! grep -q "cold.log holds trials timed cold; trials timed warm (without --cold) need a log of their own" "$TMP/tune.txt"; then
			fail tune/cold "tuning warm on a cold log: exit $warm_st, want 1 and a message" "$TMP/tune.txt" tail
		elif ! cmp -s "$log" "$TMP/cold_before.log"; then
			fail tune/cold "the refused run changed the log" "$log"
		elif ! "$WEFT" tune --report "$log" 2>&1 | grep -q "timed cold"; then
			fail tune/cold "weft tune --report does not say the trials were timed cold" "$log"
		elif [[ $old_st -ne 0 ]] || ! grep -q "already holds 2 trials" "$TMP/tune.txt" ||
			[[ $(grep -v '"origin": "confirm"' "$TMP/cold_old.log" | grep -c '"timing": "warm"') -ne 1 ]]; then
			fail tune/cold "a log without timing fields was not resumed as warm (exit $old_st)" "$TMP/tune.txt" tail
		elif [[ $l2_st -ne 1 ]] || ! grep -q "cold_l2.log holds trials timed cold-l2; trials timed cold (--cold) need a log of their own" "$TMP/tune.txt"; then
			fail tune/cold "tuning --cold on a cold-l2 log: exit $l2_st, want 1 and a message" "$TMP/tune.txt" tail
		else
			pass tune/cold
		fi
	fi
}
