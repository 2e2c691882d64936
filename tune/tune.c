/* tune/tune.c: weft tune: measured, resumable search for each workload's schedule; its report;
 * and the schedule of a model from a log (weft gen/run/verify --schedule LOG).
 *
 * The model's ops are grouped into tasks (task.c). The log is read first: records for this
 * target and CPU count as done (resume), others are ignored with a note. Each round picks the
 * task with the most to gain (its share of the model's time, count x best time, over the trials
 * it has had; a task never measured comes first, starting with the default rule), proposes a
 * batch of new legal candidates (search.c: the cost model's best predictions plus random ones,
 * or random and mutations until the model has enough measurements), builds and measures them
 * (measure.c) and appends each result to the log as it comes. A line per round on stderr.
 * --trials N is the number of trials the log should hold for this model, target and machine,
 * so a rerun after a kill finishes the job; --time S limits this run's wall time.
 */
#include "tune.h"
#include "../gen/gen.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_USER = 1, EXIT_USAGE = 2, DEFAULT_TRIALS = 64 };

typedef struct Point {
	char *sched;
	bool ok;
	double ns;
	bool has_f;
	bool bad_f;      /* features could not be computed */
	double f[TUNE_NF];
	double predicted; /* NAN when the model did not propose it */
} Point;

typedef struct TaskState {
	TuneTask *t;
	Graph *tg;       /* the one-op model */
	Prog *P;         /* lowered, never scheduled: for drawing candidates */
	TuneBench b;
	bool bench_ready;
	Point *pt;
	int npt, cappt;
	uint64_t draws;  /* candidates drawn so far (seeds) */
	int variants;    /* the rule's variations drawn so far */
	bool exhausted;
	TuneModel model;
	bool confirmed;  /* the log has confirming runs after its last trial */
	double spent;    /* seconds building and timing its trials this run */
	int measured;    /* ... and how many */
} TaskState;

typedef struct Tuner {
	const char *model, *log, *target;
	int trials, jobs;
	double time_s, t0;
	TuneMachine m;
	TaskState *ts;
	int nts;
	int done;        /* trials in the log for this model, target and machine */
	int nconfirm;    /* confirming runs (not trials) in it */
	const char *dir;
	const char *inject;
	TaskState *cur;
	bool graph;      /* run the graph-level pass (not --no-graph) */
	char *graph_key;
	bool graph_done; /* the log's last record of this model is from a graph pass */
} Tuner;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- points of a task ---- */

static Point *add_point(TaskState *s, const char *sched, bool ok, double ns, double pred)
{
	if (s->npt == s->cappt)
		s->pt = ir_xrealloc(s->pt, sizeof(Point) * (size_t)(s->cappt = s->cappt ? 2 * s->cappt : 16));
	Point *p = &s->pt[s->npt++];
	*p = (Point){.sched = ir_strdup(sched), .ok = ok, .ns = ns, .predicted = pred};
	return p;
}

static bool seen(const TaskState *s, const char *sched)
{
	for (int i = 0; i < s->npt; i++)
		if (!strcmp(s->pt[i].sched, sched))
			return true;
	return false;
}

static const Point *best_point(const TaskState *s)
{
	const Point *b = NULL;
	for (int i = 0; i < s->npt; i++)
		if (s->pt[i].ok && (!b || s->pt[i].ns < b->ns))
			b = &s->pt[i];
	return b;
}

/* Spearman's correlation of the model's predictions with the measurements of one task. */
static double task_rho(const TaskState *s)
{
	double *a = ir_alloc(sizeof(double) * (size_t)(s->npt + 1)), *b = ir_alloc(sizeof(double) * (size_t)(s->npt + 1));
	int n = 0;
	for (int i = 0; i < s->npt; i++)
		if (s->pt[i].ok && !isnan(s->pt[i].predicted)) {
			a[n] = s->pt[i].predicted;
			b[n++] = log(s->pt[i].ns);
		}
	return tune_spearman(a, b, n);
}

static void fit_model(TaskState *s)
{
	double (*X)[TUNE_NF] = ir_alloc(sizeof(double) * TUNE_NF * (size_t)(s->npt + 1));
	double *y = ir_alloc(sizeof(double) * (size_t)(s->npt + 1));
	int n = 0;
	for (int i = 0; i < s->npt; i++) {
		Point *p = &s->pt[i];
		if (!p->ok)
			continue;
		if (!p->has_f && !p->bad_f) {
			p->has_f = tune_features(s->t->key, p->sched, p->f);
			p->bad_f = !p->has_f;
		}
		if (!p->has_f)
			continue;
		memcpy(X[n], p->f, sizeof p->f);
		y[n++] = log(p->ns);
	}
	tune_model_fit(&s->model, X, y, n);
}

/* ---- proposing a batch ---- */

typedef struct Prop {
	char *sched;
	const char *origin;
	double f[TUNE_NF];
	double pred;
} Prop;

static bool in_props(const Prop *p, int n, const char *sched)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(p[i].sched, sched))
			return true;
	return false;
}

static uint64_t key_hash(const char *s)
{
	uint64_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static int by_pred(const void *a, const void *b)
{
	double x = ((const Prop *)a)->pred, y = ((const Prop *)b)->pred;
	return (x > y) - (x < y);
}

/* Up to want new legal candidates for s into c; the number found. */
static int propose(TaskState *s, int want, TuneCand *c)
{
	int cap = want * 4 + 4, n = 0;
	Prop *p = ir_alloc(sizeof(Prop) * (size_t)cap);
	fit_model(s);
	int pool = s->model.fitted ? want * 4 : want;
	const char *def = tune_default_sched(s->P);
	if (!seen(s, def) && tune_features(s->t->key, def, p[n].f))
		p[n].sched = (char *)def, p[n++].origin = "default";
	/* the rule's variations first, half of each batch, until they run out */
	int nvar = 0;
	while (nvar < (want + 1) / 2 && n < pool) {
		char *text = tune_default_variant(s->P, -1, s->variants);
		if (!text)
			break;
		s->variants++;
		if (seen(s, text) || in_props(p, n, text) || !tune_features(s->t->key, text, p[n].f))
			continue;
		p[n].sched = text;
		p[n++].origin = "variant";
		nvar++;
	}
	const Point *best = best_point(s);
	for (int tries = 0; n < pool && tries < pool * 6 + 8; tries++) {
		uint64_t seed = key_hash(s->t->key) + s->draws++;
		bool mutate = best && (tries & 1);
		char *text;
		if (mutate) {
			/* a mutation of one of the best three */
			const Point *top[3] = {best, NULL, NULL};
			for (int i = 0; i < s->npt; i++) {
				const Point *q = &s->pt[i];
				if (!q->ok || q == top[0])
					continue;
				if (!top[1] || q->ns < top[1]->ns)
					top[2] = top[1], top[1] = q;
				else if (!top[2] || q->ns < top[2]->ns)
					top[2] = q;
			}
			const Point *from = top[seed % 3] ? top[seed % 3] : best;
			text = tune_mutate(s->P, from->sched, seed);
		} else {
			text = tune_random_sched(s->P, seed);
		}
		if (!text || seen(s, text) || in_props(p, n, text))
			continue;
		if (!tune_features(s->t->key, text, p[n].f))
			continue;
		p[n].sched = text;
		p[n++].origin = mutate ? "mutation" : "random";
	}
	for (int i = 0; i < n; i++)
		p[i].pred = s->model.fitted ? tune_model_predict(&s->model, p[i].f) : NAN;
	/* the default and the rule's variations go as they are; the model ranks the rest */
	int first = 0;
	while (first < n && (!strcmp(p[first].origin, "default") || !strcmp(p[first].origin, "variant")))
		first++;
	if (s->model.fitted) {
		qsort(p + first, (size_t)(n - first), sizeof *p, by_pred);
		int left = want - first > 0 ? want - first : 0;
		int nrand = left >= 4 ? left / 4 : left >= 2 ? 1 : 0, nmodel = left - nrand;
		for (int i = first; i < n && i < first + nmodel; i++)
			p[i].origin = "model";
		/* the rest of the batch: random picks among the others, predictions kept for rho */
		uint64_t r = key_hash(s->t->key) ^ s->draws;
		for (int i = first + nmodel; i < n; i++) {
			int j = i + (int)((r = r * 6364136223846793005u + 1442695040888963407u) >> 33) % (n - i);
			Prop t = p[i];
			p[i] = p[j];
			p[j] = t;
		}
	}
	int m = n < want ? n : want;
	for (int i = 0; i < m; i++)
		c[i] = (TuneCand){.sched = p[i].sched, .origin = p[i].origin, .predicted = p[i].pred};
	if (m == 0)
		s->exhausted = true;
	return m;
}

/* ---- the injection hook: WEFT_TUNE_INJECT=crash:2,hang:3,wrong:4 (trial numbers) ---- */

static const char *injected(const char *spec, int trial)
{
	if (!spec)
		return NULL;
	const char *kinds[] = {"crash", "hang", "wrong", "compile"};
	for (const char *p = spec; *p;) {
		const char *colon = strchr(p, ':');
		if (!colon)
			break;
		int t = atoi(colon + 1);
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
			if (t == trial && (size_t)(colon - p) == strlen(kinds[k]) && !strncmp(p, kinds[k], strlen(kinds[k])))
				return kinds[k];
		const char *comma = strchr(colon, ',');
		if (!comma)
			break;
		p = comma + 1;
	}
	return NULL;
}

/* ---- one round ---- */

static void record(void *ctx, TuneCand *c)
{
	Tuner *T = ctx;
	TaskState *s = T->cur;
	bool ok = !strcmp(c->status, "ok"), confirming = !strcmp(c->origin, "confirm");
	TuneRecord r = {
		.workload = s->t->key, .cc = (char *)T->m.cc,
		.flags = (char *)T->m.flags, .cpu = (char *)T->m.cpu, .timing = (char *)T->m.timing,
		.sched = c->sched,
		.status = (char *)c->status, .median_ns = ok ? c->median_ns : 0,
		.trial = confirming ? T->nconfirm + 1 : T->done + 1, /* numbered apart */
		.origin = (char *)c->origin, .predicted = c->predicted, .vs_default = c->vs_ratio,
	};
	r.target = (char *)T->m.target;
	if (!tune_log_append(T->log, &r))
		exit(EXIT_USER);
	if (confirming) { /* a schedule timed again: not a trial, not a new point */
		T->nconfirm++;
		s->confirmed = true;
		if (ok)
			fprintf(stderr, "tune: %s: confirming: %.3fx the default's time\n", s->t->title, c->vs_ratio);
		else
			fprintf(stderr, "tune: %s: confirming: %s%s%s\n", s->t->title, c->status,
			        c->detail && *c->detail ? ": " : "", c->detail ? c->detail : "");
		return;
	}
	T->done++;
	add_point(s, c->sched, ok, c->median_ns, c->predicted);
	if (!ok)
		fprintf(stderr, "tune: trial %d (%s): %s%s%s\n", T->done, s->t->title, c->status,
		        c->detail && *c->detail ? ": " : "", c->detail ? c->detail : "");
}

static TaskState *pick_task(Tuner *T)
{
	TaskState *pick = NULL;
	double best = -1;
	for (int i = 0; i < T->nts; i++) {
		TaskState *s = &T->ts[i];
		if (s->exhausted)
			continue;
		const Point *b = best_point(s);
		if (!b)
			return s; /* never measured: its default first */
		double gain = (double)s->t->nops * b->ns / (double)(s->npt + 1);
		if (gain > best)
			best = gain, pick = s;
	}
	return pick;
}

static void progress(Tuner *T, int round)
{
	char *line = ir_fmt("tune: round %d: %d", round, T->done);
	if (T->trials < INT32_MAX)
		line = ir_fmt("%s/%d", line, T->trials);
	line = ir_fmt("%s trials;", line);
	for (int i = 0; i < T->nts; i++) {
		const Point *b = best_point(&T->ts[i]);
		double rho = task_rho(&T->ts[i]);
		line = ir_fmt("%s %s%s %s%s", line, i ? "| " : "", ir_ops[T->ts[i].tg->ops[0].kind].name,
		              b ? tune_ms(b->ns) : "-", isnan(rho) ? "" : ir_fmt(" (rho %.2f)", rho));
	}
	if (T->time_s > 0)
		line = ir_fmt("%s; %.0f s left", line, T->time_s - (now() - T->t0));
	fprintf(stderr, "%s\n", line);
}

static bool round_once(Tuner *T, int round)
{
	TaskState *s = pick_task(T);
	if (!s)
		return false;
	if (!s->bench_ready) {
		const char *dir = ir_fmt("%s/t%d", T->dir, (int)(s - T->ts));
		if (!tune_bench_init(&s->b, s->t->key, dir, &T->m))
			exit(EXIT_USER);
		s->bench_ready = true;
	}
	int want = !best_point(s) && s->npt == 0 ? 1 : T->jobs < 4 ? 4 : T->jobs; /* its default first */
	if (want > T->trials - T->done)
		want = T->trials - T->done;
	TuneCand *c = ir_alloc(sizeof(TuneCand) * (size_t)(want + 1));
	int n = propose(s, want, c);
	for (int k = 0; k < n; k++)
		c[k].inject = injected(T->inject, T->done + 1 + k);
	T->cur = s;
	double t = now();
	if (n > 0)
		tune_measure(&s->b, c, n, T->jobs, record, T);
	s->spent += now() - t;
	s->measured += n;
	s->confirmed &= n == 0;
	progress(T, round);
	return true;
}

/* ---- confirming each task's choice ---- */

enum { FINALISTS = 3, CONFIRM_ROUNDS = 3 };

/* The task's FINALISTS fastest schedules faster than the default rule's, into fin; how many. */
static int finalists(const TaskState *s, const char *def, const Point **fin)
{
	const Point *d = NULL;
	for (int i = 0; i < s->npt && !d; i++)
		if (s->pt[i].ok && !strcmp(s->pt[i].sched, def))
			d = &s->pt[i];
	int nf = 0;
	for (; d && nf < FINALISTS; nf++) {
		const Point *best = NULL;
		for (int i = 0; i < s->npt; i++) {
			const Point *q = &s->pt[i];
			bool taken = false;
			for (int k = 0; k < nf; k++)
				taken |= fin[k] == q;
			if (!taken && q->ok && q->ns < d->ns && (!best || q->ns < best->ns))
				best = q;
		}
		if (!best)
			break;
		fin[nf] = best;
	}
	return nf;
}

/* Time the task's finalists again, CONFIRM_ROUNDS times each, each beside the default rule in
   one process, run by run (its record's vs_default: the median ratio), recorded with origin
   "confirm": gen then takes a finalist only if it beat the default every time
   (tune_best_task). Each is built once. */
static void confirm_task(Tuner *T, TaskState *s)
{
	const char *def = tune_default_sched(s->P);
	const Point *fin[FINALISTS];
	int nf = finalists(s, def, fin), n = 0;
	if (nf == 0)
		return; /* the default rule is the fastest */
	TuneCand c[CONFIRM_ROUNDS * FINALISTS];
	for (int round = 0; round < CONFIRM_ROUNDS; round++)
		for (int k = 0; k < nf; k++)
			c[n++] = (TuneCand){.sched = fin[k]->sched, .origin = "confirm", .versus = def, .predicted = NAN};
	fprintf(stderr, "tune: %s: timing its %s beside the default, %d rounds\n", s->t->title,
	        nf == 1 ? "fastest schedule" : ir_fmt("%d fastest schedules", nf), CONFIRM_ROUNDS);
	T->cur = s;
	tune_measure(&s->b, c, n, T->jobs, record, T);
}

/* Confirm each task not confirmed since its last trial (in the log or this run): the heaviest
   first (its count x best time), while its estimated cost fits before end (0: no limit). */
static void confirm_tasks(Tuner *T, double end)
{
	bool *done = ir_alloc((size_t)T->nts + 1);
	for (;;) {
		TaskState *pick = NULL;
		double weight = -1;
		for (int i = 0; i < T->nts; i++) {
			TaskState *s = &T->ts[i];
			const Point *b = best_point(s);
			if (done[i] || !b || s->confirmed)
				continue;
			double w = (double)s->t->nops * b->ns;
			if (w > weight)
				weight = w, pick = s;
		}
		if (!pick)
			return;
		done[pick - T->ts] = true;
		double per = pick->measured ? pick->spent / pick->measured : 0;
		if (end > 0 && now() + 2 * CONFIRM_ROUNDS * FINALISTS * per > end) /* each times two */
			continue;
		if (!pick->bench_ready) {
			const char *dir = ir_fmt("%s/t%d", T->dir, (int)(pick - T->ts));
			if (!tune_bench_init(&pick->b, pick->t->key, dir, &T->m))
				exit(EXIT_USER);
			pick->bench_ready = true;
		}
		confirm_task(T, pick);
	}
}

/* ---- reading the log ---- */

bool tune_same_machine(const TuneRecord *r, const char *target, const char *cpu)
{
	return !strcmp(r->target, target) && !strcmp(r->cpu, cpu);
}

/* The log's records of this model's tasks for this machine into the task states. */
static bool load_log(Tuner *T)
{
	TuneRecord *recs;
	int n, ignored = 0;
	if (!tune_log_read(T->log, &recs, &n))
		return false;
	/* times taken warm and cold do not compare: weft gen would pick across them */
	for (int i = 0; i < n; i++)
		if (strcmp(recs[i].timing, T->m.timing) != 0) {
			error_plain("%s holds trials timed %s; trials timed %s (%s) need a log of their own", T->log,
			            recs[i].timing, T->m.timing, strcmp(T->m.timing, "warm") ? "--cold" : "without --cold");
			free(recs);
			return false;
		}
	const char *other = NULL;
	for (int i = 0; i < n; i++) {
		TaskState *s = NULL;
		for (int k = 0; k < T->nts && !s; k++)
			if (!strcmp(recs[i].workload, T->ts[k].t->key))
				s = &T->ts[k];
		if (!strcmp(recs[i].workload, T->graph_key) && tune_same_machine(&recs[i], T->m.target, T->m.cpu))
			T->graph_done = true;
		if (!s)
			continue;
		if (tune_same_machine(&recs[i], T->m.target, T->m.cpu))
			T->graph_done = false;
		if (!tune_same_machine(&recs[i], T->m.target, T->m.cpu)) {
			ignored++;
			other = ir_fmt("target %s on %s", recs[i].target, recs[i].cpu);
			continue;
		}
		s->confirmed = !strcmp(recs[i].origin, "confirm");
		if (s->confirmed) {
			T->nconfirm++;
			continue;
		}
		T->done++;
		add_point(s, recs[i].sched, !strcmp(recs[i].status, "ok"), recs[i].median_ns, recs[i].predicted);
	}
	free(recs);
	if (ignored)
		fprintf(stderr, "weft: note: %s: ignored %d records of this model measured for another "
		                "target or machine (%s; this is target %s on %s)\n",
		        T->log, ignored, other, T->m.target, T->m.cpu);
	if (T->done)
		fprintf(stderr, "tune: resuming: %s already holds %d trials of this model for target %s\n",
		        T->log, T->done, T->m.target);
	return true;
}

/* ---- the graph-level pass (graph.c) with each task's best so far ---- */

static void graph_pass(Tuner *T, Graph *g)
{
	int nt = T->nts;
	TuneTask *tasks = ir_alloc(sizeof(TuneTask) * (size_t)(nt + 1));
	for (int i = 0; i < nt; i++)
		tasks[i] = *T->ts[i].t;
	/* each task's schedule as gen takes it from the log (confirmed, or its fastest) */
	char **best = ir_alloc(sizeof(char *) * (size_t)(nt + 1));
	TuneRecord *r;
	int n;
	if (!tune_log_read(T->log, &r, &n))
		exit(EXIT_USER);
	for (int i = 0; i < nt; i++) {
		const TuneRecord *b = tune_best_task(r, n, T->ts[i].t->key, T->m.target, T->m.cpu);
		best[i] = b ? ir_strdup(b->sched) : NULL;
	}
	free(r);
	TuneGraphPass in = {.g = g, .target = T->target, .log = T->log, .dir = T->dir, .m = &T->m,
	                    .jobs = T->jobs, .deadline = T->time_s > 0 ? T->t0 + T->time_s : 0,
	                    .tasks = tasks, .ntasks = nt, .best = best};
	tune_graph_pass(&in);
}

/* ---- the private directory: tasks and their candidates below it ---- */

static const char *work_dir;

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
				char sub[4096];
				snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
				struct stat st;
				if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
					remove_tree(sub);
				else
					unlink(sub);
			}
		closedir(d);
	}
	rmdir(path);
}

/* Also run on an interrupt that arrives while a child runs (tune/exec.c). */
static void remove_work_dir(void)
{
	if (work_dir)
		remove_tree(work_dir);
	work_dir = NULL;
}

/* ---- the command line ---- */

static const char tune_usage[] =
	"usage: weft tune MODEL --log LOG [--trials N] [--time SECONDS] [--jobs J] [--target T] [--no-graph]\n"
	"                 [--cold]\n"
	"       weft tune --report LOG\n";

static _Noreturn void usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "weft: error: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", tune_usage);
	exit(EXIT_USAGE);
}

static int positive(const char *opt, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || v < 1 || v > 100000000)
		usage(ir_fmt("%s wants a positive integer, saw '%%s'", opt), arg);
	return (int)v;
}

int tune_main(int argc, char **argv)
{
	Tuner T = {.target = "native", .trials = -1, .jobs = 0, .graph = true};
	const char *report = NULL, *weights = NULL;
	bool cold = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-') {
			if (T.model)
				usage("unexpected argument '%s'", a);
			T.model = a;
			continue;
		}
		if (!strcmp(a, "--no-graph")) { /* the options without an argument */
			T.graph = false;
			continue;
		}
		if (!strcmp(a, "--cold")) {
			cold = true;
			continue;
		}
		if (i + 1 >= argc)
			usage("option %s needs an argument", a);
		const char *v = argv[++i];
		if (!strcmp(a, "--log"))
			T.log = v;
		else if (!strcmp(a, "--report"))
			report = v;
		else if (!strcmp(a, "--trials"))
			T.trials = positive(a, v);
		else if (!strcmp(a, "--jobs"))
			T.jobs = positive(a, v);
		else if (!strcmp(a, "--target"))
			T.target = v;
		else if (!strcmp(a, "--weights"))
			weights = v; /* for the batchnorms folded into convs; tasks use pseudo-random values */
		else if (!strcmp(a, "--time")) {
			char *end;
			T.time_s = strtod(v, &end);
			if (*end || !(T.time_s > 0))
				usage("--time wants a positive number of seconds, saw '%s'", v);
		} else
			usage("unknown option '%s' for weft tune", a);
	}
	if (report)
		return tune_report(report);
	if (!T.model)
		usage("weft tune: no model given%s", "");
	if (!T.log)
		usage("weft tune: --log LOG is required%s", "");
	if (T.trials < 0)
		T.trials = T.time_s > 0 ? INT32_MAX : DEFAULT_TRIALS;
	if (T.jobs <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		T.jobs = cpus > 0 ? (int)cpus : 1;
	}
	T.inject = getenv("WEFT_TUNE_INJECT");
	T.t0 = now();

	Source *src = ir_read_source(T.model);
	Graph *g = src ? ir_parse(src) : NULL;
	if (!g || !ir_infer(g) || ir_nerrors)
		return EXIT_USER;
	/* the graph weft gen schedules (batchnorms folded into convs, which needs the values;
	   strided 1x1 convs subsampled), so the tasks' keys are those of the ops gen will look up */
	if (!ir_load_weights(g, weights) || !ir_rewrite(g))
		return EXIT_USER;
	if (!tune_machine(T.target, cold, &T.m))
		return EXIT_USER;
	ir_sched_target(T.target); /* the default rule reads the target's vector width */
	int nt;
	TuneTask *tasks = tune_tasks(g, &nt);
	T.ts = ir_alloc(sizeof(TaskState) * (size_t)(nt + 1));
	for (int i = 0; i < nt; i++) {
		TaskState *s = &T.ts[T.nts++];
		s->t = &tasks[i];
		s->tg = tune_task_graph(tasks[i].key);
		if (!s->tg)
			die("tune: the workload of %s does not parse:\n%s", tasks[i].title, tasks[i].key);
		s->P = ir_lower(s->tg);
	}
	fprintf(stderr, "tune: %s: %d tasks (", g->name, nt);
	for (int i = 0; i < nt; i++)
		fprintf(stderr, "%s%s x%d", i ? ", " : "", ir_ops[g->ops[tasks[i].ops[0]].kind].name, tasks[i].nops);
	fprintf(stderr, "), target %s, %s, %s %s, %d jobs\n", T.target, T.m.cpu, T.m.cc, T.m.flags, T.jobs);
	T.graph_key = tune_graph_key(g);
	if (!load_log(&T))
		return EXIT_USER;
	char *dir = tune_make_tmpdir();
	if (!dir)
		return EXIT_USER;
	T.dir = work_dir = dir;
	tune_on_interrupt = remove_work_dir;
	/* half the time for the graph pass, which measures the model itself (a model of one op
	   has nothing to combine) */
	bool graph = T.graph && g->nops > 1;
	double task_time = T.time_s * (graph ? 0.5 : 1);
	bool more = false;
	for (int round = 1; T.done < T.trials; round++) {
		/* the last fifth of the tasks' time for confirming their choices */
		if (T.time_s > 0 && now() - T.t0 >= 0.8 * task_time)
			break;
		if (!round_once(&T, round))
			break;
		more = true;
	}
	confirm_tasks(&T, T.time_s > 0 ? T.t0 + task_time : 0);
	if (graph && (more || !T.graph_done) && !(T.time_s > 0 && now() - T.t0 >= T.time_s))
		graph_pass(&T, g);
	remove_work_dir();
	free(dir);
	fprintf(stderr, "tune: done: %d trials in %s\n", T.done, T.log);
	return 0;
}
