/* tune/choose.c: which measured schedule weft gen takes from a log (weft gen/run/verify
 * --schedule LOG), for a whole model and for each task.
 *
 * A log holds many noisy times of each schedule's run. The fastest single time of a workload
 * is biased low (the minimum of many draws), so wherever weft tune has timed its finalists and
 * the default again side by side (the graph pass's confirm; each task's confirming rounds),
 * a schedule is taken only if it beat the default beside it every time (tune_best_whole).
 */
#include "tune.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Would S apply to g's program? Checked in a child on its own lowering (quiet). */
static bool applies(const Graph *g, const Schedule *S)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(1);
		Prog *Q = ir_lower((Graph *)g);
		_exit(Q && ir_sched_apply(Q, S) && ir_nerrors == 0 ? 0 : 1);
	}
	int st;
	if (pid < 0)
		return false;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The fastest ok record of key for this target and CPU, or NULL. */
static const TuneRecord *fastest_record(const TuneRecord *r, int n, const char *key, const char *target,
	const char *cpu)
{
	const TuneRecord *best = NULL;
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].workload, key) && tune_same_machine(&r[i], target, cpu) &&
		    !strcmp(r[i].status, "ok") && (!best || r[i].median_ns < best->median_ns))
			best = &r[i];
	return best;
}

/* How far apart in the log (records of the model's key) a measurement and the default's may be
   to count as a pair: the graph pass measures the mix and the default one after the other, and
   its finalists and the default in rounds (FINALISTS + 1 records). */
enum { PAIR_SPAN = 4 };

/* r[i]'s time over the default's: its vs_default where it was timed beside the default in one
   process; else over that of the default's measurement nearest it in the log among the
   records of its key and machine (within PAIR_SPAN of them), or NAN when there is none. Two runs side by
   side see the host in the same phase: on a shared machine one schedule's time moves by 10-20%
   between phases, the ratio of two neighbours by a few percent. */
static double paired_ratio(const TuneRecord *r, int n, int i, const char *def_sched)
{
	if (!isnan(r[i].vs_default)) /* timed beside the default in its own process */
		return r[i].vs_default;
	int near[2] = {-1, -1}, dist[2] = {0, 0};
	for (int k = 0; k < 2; k++)
		for (int j = i + (k ? 1 : -1); j >= 0 && j < n && dist[k] < PAIR_SPAN; j += k ? 1 : -1) {
			/* a log may hold several machines' records */
			if (strcmp(r[j].workload, r[i].workload) != 0 || !tune_same_machine(&r[j], r[i].target, r[i].cpu))
				continue;
			dist[k]++;
			if (!strcmp(r[j].status, "ok") && !strcmp(r[j].sched, def_sched)) {
				near[k] = j;
				break;
			}
		}
	if (near[0] < 0 && near[1] < 0)
		return NAN;
	double def; /* the nearer one's time; both's mean when it sits between them */
	if (near[0] >= 0 && near[1] >= 0 && dist[0] == dist[1])
		def = 0.5 * (r[near[0]].median_ns + r[near[1]].median_ns);
	else if (near[1] < 0 || (near[0] >= 0 && dist[0] < dist[1]))
		def = r[near[0]].median_ns;
	else
		def = r[near[1]].median_ns;
	return r[i].median_ns / def;
}

/* The whole-model record to use. A schedule other than the default rule's must be faster than
   the default in every pairing with it in the log (paired_ratio), in MIN_PAIRS pairings at
   least, by MAX_RATIO at the median: the graph pass pairs its mixes with the default, and
   weft tune times the finalists beside the default in one process (vs_default; where a
   schedule has such records, only they count). Among those, the lowest median ratio
   wins; else the default's record. Why so strict: in ResNet-18 (session 11) the finalists
   and the default took turns being faster by 1-15% round by round, and an op-by-op mix won
   its two pairings by 5% and 3%, then lost in the bench; two coin flips are won one time in
   four. (Until session 11 a schedule had to beat the default's fastest measurement with its
   slowest: on a shared host whose phases move a model's time by 10%, a real 3% gain never
   did.) NULL if no record fits; *worst_ns: the chosen schedule's slowest measurement. */
enum { MIN_PAIRS = 3 };
#define MAX_RATIO 0.99
const TuneRecord *tune_best_whole(const TuneRecord *r, int n, const char *key, const char *target,
	const char *cpu, double *worst_ns)
{
	const TuneRecord *best = NULL, *def = NULL;
	double best_median = INFINITY, best_worst = 0, def_worst = 0;
	/* the default rule's schedule: its latest record's (an older weft's rule may differ) */
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].workload, key) && tune_same_machine(&r[i], target, cpu) &&
		    !strcmp(r[i].status, "ok") && !strcmp(r[i].origin, "default"))
			def = &r[i];
	double *ratios = ir_alloc(sizeof(double) * (size_t)(n + 1));
	for (int i = 0; i < n; i++) {
		if (strcmp(r[i].workload, key) != 0 || !tune_same_machine(&r[i], target, cpu) || strcmp(r[i].status, "ok") != 0)
			continue;
		if (def && !strcmp(r[i].sched, def->sched)) {
			def_worst = fmax(def_worst, r[i].median_ns);
			continue;
		}
		int k = 0;
		bool wins = def != NULL, seen = false, beside = false;
		double worst = 0;
		for (int j = 0; j < n; j++) {
			if (strcmp(r[j].workload, key) != 0 || !tune_same_machine(&r[j], target, cpu) ||
			    strcmp(r[j].sched, r[i].sched) != 0)
				continue;
			seen |= j < i && !strcmp(r[j].status, "ok"); /* each schedule once, at its first record */
			beside |= !isnan(r[j].vs_default);
		}
		/* timed beside the default in one process (vs_default): those times only */
		for (int j = 0; j < n && !seen; j++)
			if (!strcmp(r[j].workload, key) && tune_same_machine(&r[j], target, cpu) &&
			    !strcmp(r[j].sched, r[i].sched) && !strcmp(r[j].status, "ok") &&
			    (!beside || !isnan(r[j].vs_default))) {
				worst = fmax(worst, r[j].median_ns);
				double q = def ? paired_ratio(r, n, j, def->sched) : NAN;
				if (!isnan(q))
					ratios[k++] = q;
				wins &= isnan(q) || q < 1;
			}
		if (seen || !wins || k < MIN_PAIRS)
			continue;
		qsort(ratios, (size_t)k, sizeof ratios[0], cmp_double);
		double median = k % 2 ? ratios[k / 2] : 0.5 * (ratios[k / 2 - 1] + ratios[k / 2]);
		if (median <= MAX_RATIO && median < best_median)
			best_median = median, best = &r[i], best_worst = worst;
	}
	if (def && !best) {
		*worst_ns = def_worst;
		return def;
	}
	*worst_ns = best_worst;
	return best;
}

/* The record of a task's workload to use. Once weft tune has confirmed the task's finalists
   (records of origin "confirm": each finalist and the default timed again in rounds), the
   paired rule of tune_best_whole: a finalist only if it beat the default beside it every time.
   Else (a log of an older weft, or a task never confirmed) the fastest record. Why: the
   fastest of 32 noisy times is often a lucky one; in session 11 five layers' fastest records
   lost 5-15% to the default in the bench. NULL if no record fits. */
const TuneRecord *tune_best_task(const TuneRecord *r, int n, const char *key, const char *target, const char *cpu)
{
	bool confirmed = false;
	for (int i = 0; i < n && !confirmed; i++)
		confirmed = !strcmp(r[i].workload, key) && tune_same_machine(&r[i], target, cpu) &&
		            !strcmp(r[i].origin, "confirm");
	double worst;
	const TuneRecord *use = confirmed ? tune_best_whole(r, n, key, target, cpu, &worst) : NULL;
	return use ? use : fastest_record(r, n, key, target, cpu);
}

bool tune_log_schedule(const Prog *P, const char *path, const char *target, Schedule *S)
{
	const Graph *g = P->g;
	TuneRecord *r;
	int n;
	if (!tune_log_read(path, &r, &n))
		return false;
	const char *cpu = tune_cpu_model();
	/* a whole-model record of this very model: measured as a whole, used as it is */
	double worst;
	const TuneRecord *whole = tune_best_whole(r, n, tune_graph_key(g), target, cpu, &worst);
	if (whole && !strcmp(whole->origin, "default")) {
		/* the default rule won: today's rule, which may be newer than the log's record of it */
		fprintf(stderr, "weft: note: %s: using the whole-model schedule of weft tune's graph pass "
		                "(the default rule: nothing measured beat it, %.3f ms at its slowest)\n",
		        path, worst / 1e6);
		free(r);
		S->n = 0;
		ir_sched_target(target);
		ir_sched_default(P, S);
		return true;
	}
	if (whole && tune_parse_sched(g, whole->sched, S, true) && applies(g, S)) {
		fprintf(stderr, "weft: note: %s: using the whole-model schedule of weft tune's graph pass "
		                "(%s, %.3f ms when measured)\n", path, whole->origin, worst / 1e6);
		free(r);
		return true;
	}
	S->n = 0;
	char **op_sched = ir_alloc(sizeof(char *) * (size_t)(g->nops + 1));
	char **keys = ir_alloc(sizeof(char *) * (size_t)(g->nops + 1));
	char *missing = "";
	int ignored = 0, ntuned = 0;
	for (int op = 0; op < g->nops; op++)
		keys[op] = tune_workload_key(g, op);
	for (int i = 0; i < n; i++) /* records of this model's workloads for another machine */
		for (int op = 0; op < g->nops; op++)
			if (keys[op] && !strcmp(r[i].workload, keys[op])) {
				ignored += !tune_same_machine(&r[i], target, cpu);
				break;
			}
	for (int op = 0; op < g->nops; op++) {
		char *key = keys[op];
		if (!key)
			continue;
		const TuneRecord *best = tune_best_task(r, n, key, target, cpu);
		if (best) {
			op_sched[op] = best->sched;
			ntuned++;
		} else {
			missing = ir_fmt("%s%s%s", missing, *missing ? ", " : "", g->tensors[g->ops[op].out].name);
		}
	}
	if (ignored)
		fprintf(stderr, "weft: note: %s: ignored %d records of this model's workloads measured for "
		                "another target or machine (this is target %s on %s)\n", path, ignored, target, cpu);
	if (*missing)
		fprintf(stderr, "weft: note: %s has no record for the workload of %s (target %s): using the "
		                "default rule there\n", path, missing, target);
	if (!tune_compose(P, target, op_sched, S) || (ntuned > 0 && !applies(g, S))) {
		fprintf(stderr, "weft: warning: %s: the tuned schedules do not combine into a legal schedule "
		                "of this model; using the default rule\n", path);
		S->n = 0;
		ir_sched_target(target);
		ir_sched_default(P, S);
	}
	for (int op = 0; op < g->nops; op++)
		free(keys[op]);
	free(r);
	return true;
}
