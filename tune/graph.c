/* tune/graph.c: a whole model's schedule: composed from per-op choices and chosen by
 * measuring the whole model (weft tune's graph-level pass); choose.c reads it back from a log
 * (weft gen/run/verify --schedule LOG).
 *
 * Tasks are tuned alone, as one-op models whose input and output are plain NCHW; inside the
 * model the default rule may lay activations out blocked, fuse epilogues, and an op's best
 * schedule alone is often not its best there. So the pass measures the model itself, with a
 * profiling hook (gen's profile option: NAME_run marks the start of each op's nests; the
 * harness times the gaps), which gives every op's time in its own context from one run. Each
 * op has options: the default rule, its task's best schedule, and the rule's variations
 * (register block nv x rb, whole rows when rb spans two or more, channel-block order;
 * SchedKnobs). Variation v on every op at once is one candidate, so a sweep over the
 * variations times every op under each; then each op takes its fastest option (3% better than
 * the default's time for it, or the default), and that mix is measured against the default in
 * paired runs, where an op that is not 2% faster than by default goes back to the default
 * (refine_mix: the sweep's minimum over ~140 profiles is low by luck); then local mutations of
 * the fastest whole schedule; finally the fastest and the default are measured again, in
 * rounds. Every whole-model measurement is appended to the log under the model's graph key;
 * when the model's key matches, `--schedule LOG` uses the schedule that beat the default
 * measured beside it every time (three times at least; tune_best_whole), else the default, and
 * the per-workload records only when the model was never measured as a whole.
 */
#include "tune.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

char *tune_graph_key(const Graph *g)
{
	uint64_t h = 1469598103934665603u;
	for (int op = 0; op < g->nops; op++) {
		char *k = tune_workload_key(g, op);
		h = hash_str(h, k ? k : "-");
		free(k);
		h = hash_str(h, g->tensors[g->ops[op].out].name);
		for (int a = 0; a < g->ops[op].nargs; a++)
			h = hash_str(h, g->tensors[g->ops[op].args[a]].name);
	}
	return ir_fmt("graph %s %016llx", g->name, (unsigned long long)h);
}

static int stage_op(const Prog *P, const char *stage)
{
	int s = ir_find_stage(P, stage);
	return s < 0 ? -1 : P->stages[s].op;
}

/* ---- composing ---- */

/* The ops in the epilogue chain of a conv, dense or matmul (ir_epilogue_chain): what the
   default rule computes on the producer's accumulators. */
static bool *epilogue_ops(const Graph *g)
{
	bool *epi = ir_alloc((size_t)g->nops + 1);
	int *chain = ir_alloc(sizeof(int) * (size_t)(g->nops + 1));
	for (int op = 0; op < g->nops; op++) {
		OpKind k = g->ops[op].kind;
		if (k != OP_CONV2D && k != OP_DENSE && k != OP_MATMUL)
			continue;
		int n = ir_epilogue_chain(g, op, chain);
		for (int i = 0; i < n; i++)
			epi[chain[i]] = true;
	}
	return epi;
}

/* A tuned op's schedule replaces the default's directives on its stages, the compute_at of its
   epilogue included: put its epilogue chain back on its accumulators, at the loop of its
   cache_write (the chain's own tuned schedules are never used: fused is what they are for). */
static void epilogues(const Graph *g, const bool *tuned, const bool *epi, Schedule *T)
{
	for (int op = 0; op < g->nops; op++) {
		if (!tuned[op] || epi[op])
			continue;
		const char *host = ir_fmt("%s.update", g->tensors[g->ops[op].out].name);
		char loop[sizeof T->d[0].loops[0]] = "";
		for (int i = 0; i < T->n; i++)
			if (T->d[i].kind == SD_CACHE_WRITE && !strcmp(T->d[i].stage, host))
				snprintf(loop, sizeof loop, "%s", T->d[i].loops[0]);
		int *chain = ir_alloc(sizeof(int) * (size_t)(g->nops + 1));
		int n = *loop ? ir_epilogue_chain(g, op, chain) : 0;
		for (int i = 0; i < n; i++) {
			Directive d = {.kind = SD_COMPUTE_AT, .nloops = 1};
			snprintf(d.stage, sizeof d.stage, "%s.main", g->tensors[g->ops[chain[i]].out].name);
			snprintf(d.host, sizeof d.host, "%s", host);
			snprintf(d.loops[0], sizeof d.loops[0], "%s", loop);
			ir_sched_add(T, &d);
		}
	}
}

bool tune_compose(const Prog *P, const char *target, char *const *op_sched, Schedule *S)
{
	const Graph *g = P->g;
	bool *tuned = ir_alloc((size_t)g->nops + 1);
	bool *laid = ir_alloc((size_t)g->ntensors + 1);
	Schedule T = {0}, D = {0}, rest = {0};
	bool ok = true, *epi = epilogue_ops(g);
	for (int op = 0; op < g->nops && ok; op++) {
		if (!op_sched[op] || epi[op])
			continue;
		char *key = tune_workload_key(g, op);
		Graph *tg = key ? tune_task_graph(key) : NULL;
		Schedule ts = {0};
		ok = tg && tune_parse_sched(tg, op_sched[op], &ts, true);
		if (ok) {
			tune_rename_schedule(g, op, &ts, &T);
			tuned[op] = true;
		}
		free(key);
		free(ts.d);
	}
	for (int i = 0; i < T.n; i++)
		if (T.d[i].kind == SD_LAYOUT) {
			int t = ir_find_tensor(g, T.d[i].tensor);
			if (t >= 0)
				laid[t] = true;
		}
	/* the default rule for the rest: nothing on a tuned op's stages or tensors */
	ir_sched_target(target);
	ir_sched_default(P, &D);
	for (int i = 0; i < D.n && ok; i++) {
		const Directive *d = &D.d[i];
		if (d->kind == SD_LAYOUT) {
			int t = ir_find_tensor(g, d->tensor);
			if (t >= 0 && laid[t])
				continue;
		} else {
			int op = stage_op(P, d->stage);
			if (op >= 0 && tuned[op])
				continue;
			if (d->kind == SD_COMPUTE_AT && (op = stage_op(P, d->host)) >= 0 && tuned[op])
				continue;
		}
		ir_sched_add(&rest, d);
	}
	if (ok)
		epilogues(g, tuned, epi, &T);
	/* layouts, then loop directives, then compute_at */
	for (int pass = 0; pass < 3 && ok; pass++)
		for (int k = 0; k < 2; k++) {
			const Schedule *from = k ? &rest : &T;
			for (int i = 0; i < from->n; i++) {
				DirKind kind = from->d[i].kind;
				int want = kind == SD_LAYOUT ? 0 : kind == SD_COMPUTE_AT ? 2 : 1;
				if (want == pass)
					ir_sched_add(S, &from->d[i]);
			}
		}
	free(D.d);
	free(rest.d);
	free(T.d);
	return ok;
}

/* ---- the graph-level pass ---- */

/* Each op's choice in a whole-model candidate. */
enum { OPT_DEFAULT = 0, OPT_TUNED = 1, OPT_VARIANT = 2 /* + the variant's index */ };
enum { FINALISTS = 3 }; /* schedules measured again against the default at the end */
enum { CONFIRM_ROUNDS = 3 }; /* ... in this many rounds */

typedef struct Pass {
	const TuneGraphPass *in;
	Prog *P;
	TuneBench b;
	char **op_sched;  /* per op, for tune_compose */
	char **tuned;     /* per op: its task's best schedule, or NULL */
	bool *knobbed;    /* per op: the rule's knobs apply (a conv, dense or matmul, not an epilogue) */
	int trial;
	double t0;        /* when the pass began */
	char **seen;      /* schedules measured, their times and per-op times */
	double *seen_ns;
	double **seen_ops;
	int nseen;
	double **op_best; /* [op][option]: the fastest time of op's nests with that option */
	int nopt;
} Pass;

/* The one-line whole-model schedule for opt (per op, OPT_*); NULL if it does not compose. */
static char *assignment(Pass *p, const int *opt)
{
	const Graph *g = p->in->g;
	SchedKnobs *k = ir_alloc(sizeof(SchedKnobs) * (size_t)(g->nops + 1));
	int nk = 0;
	for (int op = 0; op < g->nops; op++) {
		p->op_sched[op] = opt[op] == OPT_TUNED ? p->tuned[op] : NULL;
		k[nk].op = op;
		if (opt[op] >= OPT_VARIANT && tune_variant_knobs(opt[op] - OPT_VARIANT, &k[nk]))
			nk++;
	}
	ir_sched_default_knobs_list(k, nk);
	Schedule S = {0};
	char *text = tune_compose(p->P, p->in->target, p->op_sched, &S) ? tune_sched_text(g, &S) : NULL;
	ir_sched_default_knobs(NULL);
	free(S.d);
	return text;
}

static void record(void *ctx, TuneCand *c)
{
	Pass *p = ctx;
	const TuneGraphPass *in = p->in;
	bool ok = !strcmp(c->status, "ok");
	TuneRecord r = {
		.workload = tune_graph_key(in->g), .target = (char *)in->m->target, .cc = (char *)in->m->cc,
		.flags = (char *)in->m->flags, .cpu = (char *)in->m->cpu, .timing = (char *)in->m->timing,
		.sched = c->sched,
		.status = (char *)c->status, .median_ns = ok ? c->median_ns : 0, .trial = ++p->trial,
		.origin = (char *)c->origin, .predicted = NAN, .vs_default = c->vs_ratio,
	};
	if (!tune_log_append(in->log, &r))
		exit(1);
	fprintf(stderr, "tune: graph: %s: %s%s%s\n", c->origin, ok ? "" : c->status,
	        !ok ? "" : isnan(c->vs_ratio) ? ir_fmt("%.3f ms", c->median_ns / 1e6)
	        : ir_fmt("%.3f ms, %.3fx the default's time beside it", c->median_ns / 1e6, c->vs_ratio), c->detail && *c->detail ? ir_fmt(": %s", c->detail) : "");
}

static bool out_of_time(const TuneGraphPass *in) { return in->deadline > 0 && now() >= in->deadline; }

/* The average cost of one whole-model measurement so far (its build included). */
static double per_measurement(const Pass *p) { return p->nseen ? (now() - p->t0) / p->nseen : 0; }

/* Before the deadline with room left for k more measurements and confirm's. */
static bool room_for(const Pass *p, int k)
{
	/* a confirming run times a finalist and the default: two measurements */
	return p->in->deadline <= 0 || now() + (2 * CONFIRM_ROUNDS * FINALISTS + k) * per_measurement(p) < p->in->deadline;
}

/* Measure n whole-model schedules (NULL: does not compose); times[i] their medians
   (INFINITY if not ok), ops[i] their per-op times (NULL if none). A schedule measured before
   is not measured again. */
static void measure_texts(Pass *p, char **texts, const char **origin, int n, double *times, double **ops)
{
	TuneCand *c = ir_alloc(sizeof(TuneCand) * (size_t)(n + 1));
	int m = 0, *which = ir_alloc(sizeof(int) * (size_t)(n + 1));
	for (int i = 0; i < n; i++) {
		times[i] = INFINITY;
		if (ops)
			ops[i] = NULL;
		char *text = texts[i];
		int j = 0;
		while (text && j < p->nseen && strcmp(p->seen[j], text) != 0)
			j++;
		for (int k = 0; k < m && text && j == p->nseen; k++)
			if (!strcmp(c[k].sched, text))
				text = NULL; /* twice in this batch: measured once */
		if (!text || j < p->nseen) { /* the same schedule as one measured: its time */
			times[i] = text ? p->seen_ns[j] : INFINITY;
			if (ops && text)
				ops[i] = p->seen_ops[j];
			continue;
		}
		which[m] = i;
		c[m++] = (TuneCand){.sched = text, .origin = origin[i], .predicted = NAN};
	}
	tune_measure(&p->b, c, m, p->in->jobs, record, p);
	p->seen = ir_xrealloc(p->seen, sizeof(char *) * (size_t)(p->nseen + m + 1));
	p->seen_ns = ir_xrealloc(p->seen_ns, sizeof(double) * (size_t)(p->nseen + m + 1));
	p->seen_ops = ir_xrealloc(p->seen_ops, sizeof(double *) * (size_t)(p->nseen + m + 1));
	for (int k = 0; k < m; k++) {
		bool ok = !strcmp(c[k].status, "ok");
		times[which[k]] = ok ? c[k].median_ns : INFINITY;
		if (ops)
			ops[which[k]] = ok ? c[k].op_ns : NULL;
		p->seen[p->nseen] = c[k].sched;
		p->seen_ops[p->nseen] = ok ? c[k].op_ns : NULL;
		p->seen_ns[p->nseen++] = times[which[k]];
	}
}

/* Measure n assignments; each op's time goes to its option's best. */
static void measure(Pass *p, int **opt, const char **origin, int n, double *times)
{
	char **texts = ir_alloc(sizeof(char *) * (size_t)(n + 1));
	double **ops = ir_alloc(sizeof(double *) * (size_t)(n + 1));
	for (int i = 0; i < n; i++)
		texts[i] = assignment(p, opt[i]);
	measure_texts(p, texts, origin, n, times, ops);
	for (int i = 0; i < n; i++)
		for (int op = 0; op < p->in->g->nops && ops[i]; op++) {
			double *best = &p->op_best[op][opt[i][op]];
			if (ops[i][op] > 0 && ops[i][op] < *best)
				*best = ops[i][op];
		}
}

/* The fastest schedule measured so far (index into seen), or -1. */
static int fastest(const Pass *p)
{
	int best = -1;
	for (int i = 0; i < p->nseen; i++)
		if (!isinf(p->seen_ns[i]) && (best < 0 || p->seen_ns[i] < p->seen_ns[best]))
			best = i;
	return best;
}

/* The rule's variations in the model, timed op by op: variation v on every op at once is one
   whole-model candidate whose profile times each op in its own layouts, neighbours and fused
   epilogues (alone, on plain NCHW, an op meets none of those). Until the time for the rest is
   all that is left. */
static void sweep_variants(Pass *p, int **opt, const char **origin, double *times)
{
	const Graph *g = p->in->g;
	int jobs = p->in->jobs < 1 ? 1 : p->in->jobs, v = 0, nv = p->nopt - OPT_VARIANT;
	while (v < nv && room_for(p, jobs + 2) && (p->in->deadline > 0 || v < 2 * jobs)) {
		int n = 0;
		for (; n < jobs && v < nv; n++, v++) {
			for (int op = 0; op < g->nops; op++)
				opt[n][op] = p->knobbed[op] ? OPT_VARIANT + v : OPT_DEFAULT;
			origin[n] = "variant";
		}
		measure(p, opt, origin, n, times);
	}
	fprintf(stderr, "tune: graph: %d of %d variations of the rule timed op by op in the model\n", v, nv);
}

/* What option o of an op is, for the progress lines. */
static const char *option_name(int o)
{
	SchedKnobs k;
	if (o == OPT_DEFAULT)
		return "default rule";
	if (o == OPT_TUNED)
		return "task's best";
	if (!tune_variant_knobs(o - OPT_VARIANT, &k))
		return "?";
	static const char *const order[] = {"", ", channel blocks inside", ", channel blocks outermost"};
	return ir_fmt("block %dx%d%s", k.nv, k.rb, order[k.order]);
}

/* Each op on its fastest option when that beat the default rule's time for it by 3% (the
   margin keeps noise from choosing); false if nothing did. */
static bool mix(const Pass *p, int *opt, bool with_tuned)
{
	const Graph *g = p->in->g;
	int changed = 0;
	double before = 0, after = 0;
	for (int op = 0; op < g->nops; op++) {
		double *t = p->op_best[op];
		opt[op] = OPT_DEFAULT;
		for (int o = 1; o < p->nopt; o++)
			if ((o != OPT_TUNED || with_tuned) && t[o] < 0.97 * t[OPT_DEFAULT] && t[o] < t[opt[op]])
				opt[op] = o;
		if (opt[op] == OPT_DEFAULT)
			continue;
		changed++;
		before += t[OPT_DEFAULT];
		after += t[opt[op]];
		fprintf(stderr, "tune: graph: %s (%s): %.3f -> %.3f ms, %s\n", g->tensors[g->ops[op].out].name,
		        ir_ops[g->ops[op].kind].name, t[OPT_DEFAULT] / 1e6, t[opt[op]] / 1e6, option_name(opt[op]));
	}
	fprintf(stderr, "tune: graph: %d ops faster on a variation%s than by the default rule (%.3f -> %.3f ms)\n",
	        changed, with_tuned ? " or their task's best" : "", before / 1e6, after / 1e6);
	return changed > 0;
}

/* The schedule text and the default's measured alternately, twice each, profiled and logged:
   per op the faster of each one's two times (mix_ops, def_ops), and each one's slower whole
   time. false if a run failed. */
static bool paired(Pass *p, char *text, double *mix_ops, double *def_ops, double *mix_ns, double *def_ns)
{
	int nops = p->in->g->nops;
	TuneCand c[4];
	for (int k = 0; k < 4; k++)
		c[k] = (TuneCand){.sched = k % 2 ? p->seen[0] : text, .origin = k % 2 ? "default" : "mix",
		                  .predicted = NAN};
	tune_measure(&p->b, c, 4, p->in->jobs, record, p);
	*mix_ns = *def_ns = 0;
	for (int op = 0; op < nops; op++)
		mix_ops[op] = def_ops[op] = INFINITY;
	for (int k = 0; k < 4; k++) {
		if (strcmp(c[k].status, "ok") != 0 || !c[k].op_ns)
			return false;
		double *whole = k % 2 ? def_ns : mix_ns, *ops = k % 2 ? def_ops : mix_ops;
		if (c[k].median_ns > *whole)
			*whole = c[k].median_ns;
		for (int op = 0; op < nops; op++)
			if (c[k].op_ns[op] > 0 && c[k].op_ns[op] < ops[op])
				ops[op] = c[k].op_ns[op];
	}
	return true;
}

/* Add text to the schedules measured (once: a text seen before keeps its slower time). */
static void add_seen(Pass *p, char *text, double ns)
{
	for (int i = 0; i < p->nseen; i++)
		if (!strcmp(p->seen[i], text)) {
			p->seen_ns[i] = fmax(p->seen_ns[i], ns);
			return;
		}
	p->seen = ir_xrealloc(p->seen, sizeof(char *) * (size_t)(p->nseen + 1));
	p->seen_ns = ir_xrealloc(p->seen_ns, sizeof(double) * (size_t)(p->nseen + 1));
	p->seen_ops = ir_xrealloc(p->seen_ops, sizeof(double *) * (size_t)(p->nseen + 1));
	p->seen[p->nseen] = text;
	p->seen_ops[p->nseen] = NULL;
	p->seen_ns[p->nseen++] = ns;
}

/* The mix measured against the default in paired runs, then every op whose option did not
   beat the default's time for it there (by 2%) goes back to the default rule, and the rest is
   measured again, for up to three rounds. Why: an op's option won the sweep as the fastest of
   up to 140 profiles, each a little noisy, while the default was timed once or twice; the
   minimum of many noisy samples is low by luck, and such wins vanish in the mix. Paired runs
   time both sides alike. false if the mix did not run. */
static bool refine_mix(Pass *p, int *opt)
{
	const Graph *g = p->in->g;
	double *mix_ops = ir_alloc(sizeof(double) * (size_t)(g->nops + 1));
	double *def_ops = ir_alloc(sizeof(double) * (size_t)(g->nops + 1));
	bool ran = false;
	for (int round = 0; round < 3 && room_for(p, 4); round++) {
		char *text = assignment(p, opt);
		double mix_ns, def_ns;
		if (!text || !paired(p, text, mix_ops, def_ops, &mix_ns, &def_ns))
			break;
		ran = true;
		add_seen(p, text, mix_ns);
		int kept = 0, back = 0;
		for (int op = 0; op < g->nops; op++) {
			if (opt[op] == OPT_DEFAULT)
				continue;
			const char *name = g->tensors[g->ops[op].out].name;
			if (mix_ops[op] < 0.98 * def_ops[op]) {
				kept++;
				continue;
			}
			fprintf(stderr, "tune: graph: %s: %.3f ms in the mix, %.3f by default: back to the default rule\n",
			        name, mix_ops[op] / 1e6, def_ops[op] / 1e6);
			opt[op] = OPT_DEFAULT;
			back++;
		}
		fprintf(stderr, "tune: graph: the mix took %.3f ms, the default %.3f (paired runs, the slower of two each); "
		        "%d ops keep their option\n", mix_ns / 1e6, def_ns / 1e6, kept);
		if (back == 0 || kept == 0)
			break;
	}
	return ran;
}

/* The default rule's whole model, op by op (the heaviest first, at most 8). */
static void print_ops(const Pass *p)
{
	const Graph *g = p->in->g;
	double total = 0;
	int *order = ir_alloc(sizeof(int) * (size_t)(g->nops + 1)), n = 0;
	for (int op = 0; op < g->nops; op++) {
		double t = p->op_best[op][OPT_DEFAULT];
		if (isinf(t))
			continue;
		total += t;
		int at = n++;
		for (; at > 0 && p->op_best[order[at - 1]][OPT_DEFAULT] < t; at--)
			order[at] = order[at - 1];
		order[at] = op;
	}
	char *s = "";
	for (int i = 0; i < n && i < 8; i++)
		s = ir_fmt("%s%s %s %.3f", s, i ? "," : "", g->tensors[g->ops[order[i]].out].name,
		           p->op_best[order[i]][OPT_DEFAULT] / 1e6);
	fprintf(stderr, "tune: graph: the default rule op by op (ms):%s%s; %d ops timed, %.3f ms in all\n", s,
	        n > 8 ? ", ..." : "", n, total / 1e6);
}

/* Local mutations of the fastest whole-model schedule so far (a split factor doubled or halved,
   a directive dropped), jobs at a time, while there is room; without a deadline, a few rounds. */
static void mutate_whole(Pass *p)
{
	const TuneGraphPass *in = p->in;
	int jobs = in->jobs < 1 ? 1 : in->jobs, rounds = 0;
	char **texts = ir_alloc(sizeof(char *) * (size_t)(jobs + 1));
	const char **origin = ir_alloc(sizeof(char *) * (size_t)(jobs + 1));
	double *times = ir_alloc(sizeof(double) * (size_t)(jobs + 1));
	uint64_t seed = 1;
	for (;;) {
		if (in->deadline > 0 ? !room_for(p, jobs) : rounds >= 2)
			break;
		int best = fastest(p);
		if (best < 0)
			break;
		const char *from = p->seen[best];
		int n = 0;
		for (int tries = 0; n < jobs && tries < 64; tries++) {
			char *t = tune_mutate_local(p->P, from, seed++);
			bool dup = !t;
			for (int j = 0; j < p->nseen && !dup; j++)
				dup = !strcmp(p->seen[j], t);
			for (int j = 0; j < n && !dup; j++)
				dup = !strcmp(texts[j], t);
			if (!dup) {
				texts[n] = t;
				origin[n++] = "context";
			}
		}
		if (n == 0)
			break;
		measure_texts(p, texts, origin, n, times, NULL);
		rounds++;
	}
	if (rounds)
		fprintf(stderr, "tune: graph: %d rounds of whole-model mutations\n", rounds);
}

/* The few fastest schedules and the default rule measured again, in CONFIRM_ROUNDS rounds of
   each finalist then the default: gen takes a schedule only if it beat the default it was
   paired with every time (tune_best_whole). */
static void confirm(Pass *p)
{
	int fin[FINALISTS], nf = 0, def = 0;
	for (; nf < FINALISTS; nf++) { /* the fastest not yet chosen */
		int best = -1;
		for (int i = 1; i < p->nseen; i++) {
			bool taken = false;
			for (int k = 0; k < nf; k++)
				taken |= fin[k] == i;
			if (!taken && !isinf(p->seen_ns[i]) && p->seen_ns[i] < p->seen_ns[def] &&
			    (best < 0 || p->seen_ns[i] < p->seen_ns[best]))
				best = i;
		}
		if (best < 0)
			break;
		fin[nf] = best;
	}
	if (nf == 0)
		return; /* the default is the fastest (or nothing ran) */
	TuneCand c[CONFIRM_ROUNDS * FINALISTS];
	int n = 0;
	for (int round = 0; round < CONFIRM_ROUNDS; round++)
		for (int k = 0; k < nf; k++)
			c[n++] = (TuneCand){.sched = p->seen[fin[k]], .origin = "graph", .versus = p->seen[def],
			                    .predicted = NAN};
	fprintf(stderr, "tune: graph: timing the %d fastest whole schedules beside the default, %d rounds\n", nf,
	        CONFIRM_ROUNDS);
	tune_measure(&p->b, c, n, p->in->jobs, record, p);
}

static void pass_init(Pass *p)
{
	const TuneGraphPass *in = p->in;
	const Graph *g = in->g;
	bool *epi = epilogue_ops(g);
	SchedKnobs k;
	p->nopt = OPT_VARIANT;
	while (tune_variant_knobs(p->nopt - OPT_VARIANT, &k))
		p->nopt++;
	p->op_sched = ir_alloc(sizeof(char *) * (size_t)(g->nops + 1));
	p->tuned = ir_alloc(sizeof(char *) * (size_t)(g->nops + 1));
	p->knobbed = ir_alloc((size_t)g->nops + 1);
	p->op_best = ir_alloc(sizeof(double *) * (size_t)(g->nops + 1));
	for (int t = 0; t < in->ntasks; t++)
		for (int i = 0; i < in->tasks[t].nops; i++) {
			int op = in->tasks[t].ops[i];
			p->tuned[op] = epi[op] ? NULL : in->best[t];
		}
	for (int op = 0; op < g->nops; op++) {
		OpKind kind = g->ops[op].kind;
		p->knobbed[op] = !epi[op] && (kind == OP_CONV2D || kind == OP_DENSE || kind == OP_MATMUL);
		p->op_best[op] = ir_alloc(sizeof(double) * (size_t)p->nopt);
		for (int o = 0; o < p->nopt; o++)
			p->op_best[op][o] = INFINITY;
	}
}

/* After the default (and all-tuned) model: the variations op by op, the mix of each op's
   fastest, mutations, the final comparison. */
static void whole_model_search(Pass *p, int **opt, const char **origin, double *times, int ntuned)
{
	const TuneGraphPass *in = p->in;
	print_ops(p);
	sweep_variants(p, opt, origin, times);
	/* each op on its fastest option; without the tasks' schedules if they do not compose */
	for (int with_tuned = ntuned > 0; with_tuned >= 0 && !out_of_time(in); with_tuned--)
		if (mix(p, opt[0], with_tuned) && refine_mix(p, opt[0]))
			break;
	mutate_whole(p);
	confirm(p);
}

void tune_graph_pass(const TuneGraphPass *in)
{
	const Graph *g = in->g;
	Pass p = {.in = in, .P = ir_lower(in->g), .t0 = now()};
	if (!p.P)
		return;
	pass_init(&p);
	int ntuned = 0;
	for (int op = 0; op < g->nops; op++)
		ntuned += p.tuned[op] != NULL;
	fprintf(stderr, "tune: graph: measuring %s as a whole, op by op (%d ops with a tuned task)\n", g->name,
	        ntuned);
	if (!tune_bench_init_model(&p.b, in->g, ir_fmt("%s/graph", in->dir), in->m))
		return;
	p.b.profile = true;
	int jobs = in->jobs < 1 ? 1 : in->jobs, nrows = jobs + 2;
	int **opt = ir_alloc(sizeof(int *) * (size_t)nrows);
	for (int i = 0; i < nrows; i++)
		opt[i] = ir_alloc(sizeof(int) * (size_t)(g->nops + 1));
	const char **origin = ir_alloc(sizeof(char *) * (size_t)nrows);
	double *times = ir_alloc(sizeof(double) * (size_t)nrows);
	/* all default (seen[0]: confirm's reference), all tuned */
	for (int op = 0; op < g->nops; op++)
		opt[1][op] = p.tuned[op] ? OPT_TUNED : OPT_DEFAULT;
	origin[0] = "default", origin[1] = "graph";
	measure(&p, opt, origin, ntuned ? 2 : 1, times);
	if (!isinf(times[0]))
		whole_model_search(&p, opt, origin, times, ntuned);
	free(p.seen);
	free(p.seen_ns);
	free(p.seen_ops);
}
