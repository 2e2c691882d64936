/* tune/search.c: the tuner's candidates and its cost model.
 *
 * Candidates of a task are the default rule's schedule, random legal schedules
 * (ir_sched_random on the task's lowered program) and mutations of the best ones so far:
 * crossover with a random schedule (each tensor's layout and each stage's directives taken
 * from one parent or the other), dropping a directive, or doubling or halving a split factor.
 * A mutation may be illegal, so every candidate is applied first in a forked child (quiet; a
 * weft bug costs only that candidate), which also reports the scheduled program's features.
 * Features describe the heaviest stage as scheduled: loop counts and extents, the kind of the
 * innermost loop, the accumulator box of cache_write, unrolling, parallelism and the memory
 * strides of the innermost loop through every access's layout. The cost model is ridge
 * regression of log(median ns) on those features, ranked against measurements by Spearman's
 * correlation.
 */
#include "tune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- features of a scheduled program ---- */

static double log2p(double x) { return log2(1 + fabs(x)); }

/* Stride (elements) of var v in tensor t's physical offset at logical index idx; large when
   the index is not affine in v. */
static double access_stride(const Prog *P, int t, const Ix *const *idx, int v)
{
	const Tensor *T = &P->g->tensors[t];
	const Ix *off = ir_layout_offset(&T->layout, T->rank, T->dims, idx);
	int64_t k;
	if (!ix_coeff(off, v, &k))
		return 1 << 20;
	return (double)k;
}

typedef struct Acc {
	double sum, n, unit;
} Acc;

static void load_strides(const Prog *P, const Val *v, int var, Acc *a)
{
	if (!v)
		return;
	if (v->kind == V_LOAD) {
		double s = access_stride(P, v->tensor, v->idx, var);
		a->sum += log2p(s);
		a->n++;
		a->unit += fabs(s) <= 1;
	}
	load_strides(P, v->a, var, a);
	load_strides(P, v->b, var, a);
}

static double iterations(const Prog *P, const Stage *s)
{
	double n = 1;
	for (int i = 0; i < s->nloops; i++)
		n *= (double)P->vars[s->loops[i]].extent;
	return n;
}

static void prog_features(const Prog *P, double *f)
{
	int heavy = -1;
	for (int s = 0; s < P->nstages; s++)
		if (!P->stages[s].folded && (heavy < 0 || iterations(P, &P->stages[s]) > iterations(P, &P->stages[heavy])))
			heavy = s;
	memset(f, 0, sizeof(double) * TUNE_NF);
	f[0] = 1;
	if (heavy < 0)
		return;
	const Stage *s = &P->stages[heavy];
	int inner = s->loops[s->nloops - 1];
	const Var *iv = &P->vars[inner];
	double unroll = 1, par = 0, box = 0;
	for (int i = 0; i < s->nloops; i++) {
		const Var *v = &P->vars[s->loops[i]];
		if (v->kind == LOOP_UNROLL)
			unroll *= (double)v->extent;
		if (v->kind == LOOP_PARALLEL)
			par = log2p((double)v->extent);
	}
	if (s->cache_at >= 0) {
		box = 1;
		for (int i = s->cache_at + 1; i < s->nloops; i++)
			if (!P->vars[s->loops[i]].reduction)
				box *= (double)P->vars[s->loops[i]].extent;
	}
	Acc a = {0};
	load_strides(P, s->val, inner, &a);
	f[1] = s->nloops;
	f[2] = log2p((double)iv->extent);
	f[3] = iv->kind == LOOP_VECTOR;
	f[4] = iv->reduction;
	f[5] = log2(unroll);
	f[6] = par;
	f[7] = s->cache_at >= 0;
	f[8] = log2p(box);
	f[9] = log2p(access_stride(P, s->tensor, s->idx, inner));
	f[10] = a.n ? a.sum / a.n : 0;
	f[11] = a.unit;
	f[12] = s->nguards;
}

bool tune_features(const char *key, const char *sched, double *f)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return false;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (!freopen("/dev/null", "w", stderr))
			_exit(1);
		Graph *g = tune_task_graph(key);
		Schedule S = {0};
		if (!g)
			_exit(1);
		Prog *P = ir_lower(g);
		if (!P || !tune_parse_sched(g, sched, &S, false) || !ir_sched_apply(P, &S) || ir_nerrors)
			_exit(1);
		double out[TUNE_NF];
		prog_features(P, out);
		_exit(write(pfd[1], out, sizeof out) == (ssize_t)sizeof out ? 0 : 1);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return false;
	}
	size_t got = 0;
	while (got < sizeof(double) * TUNE_NF) {
		ssize_t r = read(pfd[0], (char *)f + got, sizeof(double) * TUNE_NF - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		;
	return got == sizeof(double) * TUNE_NF && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- candidates ---- */

char *tune_default_sched(const Prog *P)
{
	Schedule S = {0};
	ir_sched_default(P, &S);
	char *s = tune_sched_text(P->g, &S);
	free(S.d);
	return s;
}

/* The rule's variations, best first by the rule's own measure of a block (FMAs per load,
   nv*rb / (nv+rb)), each with the rule's and the two forced channel-block orders. */
typedef struct Variant {
	int nv, rb, order;
	double score;
} Variant;

static int by_score(const void *a, const void *b)
{
	const Variant *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	if (x->nv != y->nv)
		return x->nv - y->nv;
	if (x->rb != y->rb)
		return x->rb - y->rb;
	return x->order - y->order;
}

bool tune_variant_knobs(int i, SchedKnobs *k)
{
	int width, regs;
	ir_sched_target_get(&width, &regs);
	int budget = regs - 4 < 4 ? 4 : regs - 4, n = 0;
	Variant v[4 * 32 * 3];
	for (int nv = 1; nv <= 4; nv++)
		for (int rb = 1; nv * rb <= budget && rb <= 32; rb++)
			for (int order = 0; order < 3 && nv * rb >= budget / 4; order++)
				v[n++] = (Variant){nv, rb, order, (double)(nv * rb) / (double)(nv + rb)};
	if (i < 0 || i >= n)
		return false;
	qsort(v, (size_t)n, sizeof v[0], by_score);
	k->nv = v[i].nv;
	k->rb = v[i].rb;
	k->order = v[i].order;
	return true;
}

char *tune_default_variant(const Prog *P, int op, int i)
{
	SchedKnobs k = {.op = op};
	if (!tune_variant_knobs(i, &k))
		return NULL;
	ir_sched_default_knobs(&k);
	Schedule S = {0};
	ir_sched_default(P, &S);
	ir_sched_default_knobs(NULL);
	char *s = tune_sched_text(P->g, &S);
	free(S.d);
	return s;
}

char *tune_random_sched(const Prog *P, uint64_t seed)
{
	Schedule S = {0};
	ir_sched_random(P, seed, &S);
	char *s = tune_sched_text(P->g, &S);
	free(S.d);
	return s;
}

static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* The group a directive belongs to: its tensor's layout or its stage. */
static const char *group_of(const Directive *d)
{
	return d->kind == SD_LAYOUT ? ir_fmt("layout %s", d->tensor) : d->stage;
}

static bool has_group(const Schedule *S, const char *grp)
{
	for (int i = 0; i < S->n; i++)
		if (!strcmp(group_of(&S->d[i]), grp))
			return true;
	return false;
}

/* Each group from A or B (chosen by the random stream); compute_at directives last. */
static void crossover(const Schedule *A, const Schedule *B, uint64_t *rng, Schedule *out)
{
	const Schedule *both[2] = {A, B};
	const char **seen = ir_alloc(sizeof(char *) * (size_t)(A->n + B->n + 1));
	int nseen = 0;
	Schedule late = {0};
	for (int p = 0; p < 2; p++)
		for (int i = 0; i < both[p]->n; i++) {
			const char *grp = group_of(&both[p]->d[i]);
			bool dup = false;
			for (int k = 0; k < nseen; k++)
				dup |= !strcmp(seen[k], grp);
			if (dup)
				continue;
			seen[nseen++] = grp;
			const Schedule *from = both[mix(rng) & 1];
			if (!has_group(from, grp))
				from = both[p] == A ? (mix(rng) % 3 ? B : A) : (mix(rng) % 3 ? A : B);
			for (int j = 0; j < from->n; j++)
				if (!strcmp(group_of(&from->d[j]), grp))
					ir_sched_add(from->d[j].kind == SD_COMPUTE_AT ? &late : out, &from->d[j]);
		}
	for (int j = 0; j < late.n; j++)
		ir_sched_add(out, &late.d[j]);
	free(late.d);
}

/* A prefetch directive for S (appended, after the stage's loops are final): of an argument of
   a stage's op, at a loop that one of its reorders names, not the innermost (vectorized, as a
   rule); false if S has no reorder. Illegal picks are measured as invalid, like any. */
static bool add_prefetch(const Prog *P, const Schedule *S, uint64_t *rng, Directive *d)
{
	int nre = 0;
	for (int i = 0; i < S->n; i++)
		nre += S->d[i].kind == SD_REORDER && S->d[i].nloops > 1;
	if (nre == 0)
		return false;
	int pick = (int)(mix(rng) % (uint64_t)nre);
	const Directive *re = NULL;
	for (int i = 0; i < S->n && !re; i++)
		if (S->d[i].kind == SD_REORDER && S->d[i].nloops > 1 && pick-- == 0)
			re = &S->d[i];
	int si = ir_find_stage(P, re->stage);
	if (si < 0)
		return false;
	const Op *op = &P->g->ops[P->stages[si].op];
	*d = (Directive){.kind = SD_PREFETCH};
	snprintf(d->stage, sizeof d->stage, "%s", re->stage);
	snprintf(d->tensor, sizeof d->tensor, "%s", P->g->tensors[op->args[mix(rng) % (uint64_t)op->nargs]].name);
	snprintf(d->loops[0], sizeof d->loops[0], "%s", re->loops[mix(rng) % (uint64_t)(re->nloops - 1)]);
	d->nloops = 1;
	return true;
}

/* A mutation of best: crossover with a random schedule (only when cross is set), a directive
   dropped, a split factor doubled or halved, or a prefetch added. */
static char *mutate(const Prog *P, const char *best, uint64_t seed, bool cross)
{
	Schedule B = {0}, out = {0};
	if (!tune_parse_sched(P->g, best, &B, true))
		return NULL;
	uint64_t rng = seed;
	int how = cross ? (int)(mix(&rng) % 5) : 2 + (int)(mix(&rng) % 3);
	Directive pf;
	if (how == 4 && !add_prefetch(P, &B, &rng, &pf))
		how = 3;
	if (how == 4) {
		for (int i = 0; i < B.n; i++)
			ir_sched_add(&out, &B.d[i]);
		ir_sched_add(&out, &pf);
	} else if (how <= 1 || B.n == 0) {
		Schedule R = {0};
		ir_sched_random(P, mix(&rng), &R);
		crossover(&B, &R, &rng, &out);
		free(R.d);
	} else if (how == 2) {
		/* locally, not a split, fuse or layout: later directives name the loops they make */
		int drop = (int)(mix(&rng) % (uint64_t)B.n);
		DirKind k = B.d[drop].kind;
		if (!cross && (k == SD_SPLIT || k == SD_FUSE || k == SD_LAYOUT))
			drop = -1;
		for (int i = 0; i < B.n; i++)
			if (i != drop)
				ir_sched_add(&out, &B.d[i]);
	} else {
		int nsplit = 0;
		for (int i = 0; i < B.n; i++)
			nsplit += B.d[i].kind == SD_SPLIT;
		int pick = nsplit ? (int)(mix(&rng) % (uint64_t)nsplit) : -1;
		for (int i = 0; i < B.n; i++) {
			Directive d = B.d[i];
			if (d.kind == SD_SPLIT && pick-- == 0) {
				if (mix(&rng) & 1 || d.factor < 4)
					d.factor *= 2;
				else
					d.factor /= 2;
				if (!cross && d.tail == TAIL_EXACT)
					d.tail = TAIL_GUARD; /* the new factor may not divide: a guard, never wrong */
			}
			ir_sched_add(&out, &d);
		}
	}
	char *s = tune_sched_text(P->g, &out);
	free(B.d);
	free(out.d);
	return s;
}

char *tune_mutate(const Prog *P, const char *best, uint64_t seed) { return mutate(P, best, seed, true); }

char *tune_mutate_local(const Prog *P, const char *best, uint64_t seed) { return mutate(P, best, seed, false); }

/* ---- the cost model: ridge regression of log(ns) on the features ---- */

void tune_model_fit(TuneModel *m, double (*X)[TUNE_NF], const double *y, int n)
{
	m->fitted = false;
	if (n < TUNE_MIN_FIT)
		return;
	double A[TUNE_NF][TUNE_NF + 1];
	memset(A, 0, sizeof A);
	double lambda = 1e-2 * n;
	for (int r = 0; r < n; r++)
		for (int i = 0; i < TUNE_NF; i++) {
			for (int j = 0; j < TUNE_NF; j++)
				A[i][j] += X[r][i] * X[r][j];
			A[i][TUNE_NF] += X[r][i] * y[r];
		}
	for (int i = 1; i < TUNE_NF; i++) /* no penalty on the intercept */
		A[i][i] += lambda;
	A[0][0] += 1e-9;
	for (int c = 0; c < TUNE_NF; c++) { /* Gauss-Jordan with partial pivoting */
		int piv = c;
		for (int r = c + 1; r < TUNE_NF; r++)
			if (fabs(A[r][c]) > fabs(A[piv][c]))
				piv = r;
		if (fabs(A[piv][c]) < 1e-12)
			return;
		for (int j = 0; j <= TUNE_NF; j++) {
			double t = A[c][j];
			A[c][j] = A[piv][j];
			A[piv][j] = t;
		}
		for (int r = 0; r < TUNE_NF; r++) {
			if (r == c)
				continue;
			double k = A[r][c] / A[c][c];
			for (int j = c; j <= TUNE_NF; j++)
				A[r][j] -= k * A[c][j];
		}
	}
	for (int i = 0; i < TUNE_NF; i++)
		m->w[i] = A[i][TUNE_NF] / A[i][i];
	m->fitted = true;
}

double tune_model_predict(const TuneModel *m, const double *f)
{
	double s = 0;
	for (int i = 0; i < TUNE_NF; i++)
		s += m->w[i] * f[i];
	return s;
}

/* Ranks (1-based, ties averaged) of v into r. */
static void ranks(const double *v, int n, double *r)
{
	for (int i = 0; i < n; i++) {
		double less = 0, same = 0;
		for (int j = 0; j < n; j++) {
			less += v[j] < v[i];
			same += v[j] == v[i];
		}
		r[i] = less + (same + 1) / 2;
	}
}

double tune_spearman(const double *a, const double *b, int n)
{
	if (n < 3)
		return NAN;
	double *ra = malloc(sizeof(double) * (size_t)n * 2), *rb = ra + n;
	ranks(a, n, ra);
	ranks(b, n, rb);
	double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
	for (int i = 0; i < n; i++)
		ma += ra[i] / n, mb += rb[i] / n;
	for (int i = 0; i < n; i++) {
		sab += (ra[i] - ma) * (rb[i] - mb);
		saa += (ra[i] - ma) * (ra[i] - ma);
		sbb += (rb[i] - mb) * (rb[i] - mb);
	}
	free(ra);
	return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}
