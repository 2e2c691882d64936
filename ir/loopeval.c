/* ir/loopeval.c: an interpreter of the loop IR, the test oracle for lowering and scheduling.
 *
 * Runs every stage's nest in stage order, in double, evaluating indices with ix_eval. Schedule
 * state is ignored: cache_write, compute_at and folding change when a value is computed, not
 * what it is, so stage order gives the same results. Layouts are ignored too (they move values,
 * never change them): each tensor is a row-major double array over its logical dims, widened to
 * ir_layout_capacity where a layout pads a dim so that loops split with a padded tail may write
 * the padding. Every access is bounds-checked: an index outside its tensor is reported on
 * stderr and makes ir_prog_eval return false (a lowering or scheduling bug, never a crash).
 * For speed (a ResNet block is 10^8 multiply-adds) each stage is first compiled: every affine
 * index becomes a constant plus coefficients of variables, evaluated without walking its tree.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An index expression: c + sum k[i] * vals[var[i]] when lin, else evaluated from e. */
typedef struct Aff {
	const Ix *e;
	bool lin;
	int n;
	int64_t c;
	int var[IR_MAX_LOOPS];
	int64_t k[IR_MAX_LOOPS];
} Aff;

/* An access tensor[idx]: fast when every index is affine and provably inside its dim (by its
   range over the loop extents, or because a guard of the stage bounds the same expression), so
   that the element offset is one affine expression and needs no check. */
typedef struct Acc {
	int t;
	double *base;
	bool fast;
	Aff off;              /* fast: element offset */
	Aff idx[IR_MAX_RANK]; /* else: each index, checked */
} Acc;

/* A Val with its accesses and indices compiled. */
typedef struct CVal {
	const Val *v;
	struct CVal *a, *b;
	Acc acc;              /* V_LOAD */
	Aff ix;               /* V_INDEX */
} CVal;

typedef struct Eval {
	const Prog *P;
	double **val;          /* per tensor, NULL if never touched */
	int64_t (*cap)[IR_MAX_RANK]; /* per tensor: the extent of each dim in val */
	int64_t *vals;         /* current value of every loop variable */
	const Stage *s;
	CVal *val_c;           /* the current stage's value, compiled */
	Acc store_c;
	Aff guard_c[IR_MAX_GUARDS];
	int gdepth[IR_MAX_GUARDS]; /* guard i is tested once loops[0..gdepth[i]) are bound */
	bool ok;
} Eval;

/* ---- compiled indices ---- */

static bool aff_add(Aff *A, const Ix *e, int64_t mul)
{
	switch (e->kind) {
	case IX_CONST:
		A->c += e->c * mul;
		return true;
	case IX_VAR:
		for (int i = 0; i < A->n; i++)
			if (A->var[i] == e->var) {
				A->k[i] += mul;
				return true;
			}
		if (A->n == IR_MAX_LOOPS)
			return false;
		A->var[A->n] = e->var;
		A->k[A->n++] = mul;
		return true;
	case IX_ADD:
		return aff_add(A, e->a, mul) && aff_add(A, e->b, mul);
	case IX_MUL:
		return aff_add(A, e->a, mul * e->c);
	default:
		return false;
	}
}

static Aff aff_of(const Ix *e)
{
	Aff A = {.e = e};
	A.lin = aff_add(&A, e, 1);
	return A;
}

static inline int64_t aff_eval(const Aff *A, const int64_t *vals)
{
	if (!A->lin)
		return ix_eval(A->e, vals);
	int64_t x = A->c;
	for (int i = 0; i < A->n; i++)
		x += A->k[i] * vals[A->var[i]];
	return x;
}

static void aff_term(Aff *A, int var, int64_t k)
{
	for (int i = 0; i < A->n; i++)
		if (A->var[i] == var) {
			A->k[i] += k;
			return;
		}
	if (A->n == IR_MAX_LOOPS) {
		A->lin = false;
		return;
	}
	A->var[A->n] = var;
	A->k[A->n++] = k;
}

/* Whether index A of a dim of size cap is inside [0, cap) wherever the stage's body runs. */
static bool index_safe(const Eval *E, const Aff *A, int64_t cap)
{
	if (!A->lin)
		return false;
	int64_t lo = A->c, hi = A->c;
	for (int i = 0; i < A->n; i++) {
		int64_t span = A->k[i] * (E->P->vars[A->var[i]].extent - 1);
		if (span < 0)
			lo += span;
		else
			hi += span;
	}
	if (lo >= 0 && hi < cap)
		return true;
	const Stage *s = E->s;
	for (int i = 0; i < s->nguards; i++)
		if (s->guards[i].lo >= 0 && s->guards[i].hi <= cap && ix_equal(s->guards[i].e, A->e))
			return true;
	return false;
}

static double *storage(Eval *E, int t);

static Acc compile_acc(Eval *E, int t, const Ix *const *idx)
{
	Acc a = {.t = t, .base = storage(E, t), .fast = true};
	int rank = E->P->g->tensors[t].rank;
	a.off.lin = true;
	for (int d = 0; d < rank; d++) {
		a.idx[d] = aff_of(idx[d]);
		if (!index_safe(E, &a.idx[d], E->cap[t][d]))
			a.fast = false;
	}
	if (!a.fast)
		return a;
	/* off = sum over d of idx[d] * (product of the caps after d) */
	int64_t stride = 1;
	for (int d = rank - 1; d >= 0; d--) {
		a.off.c += a.idx[d].c * stride;
		for (int i = 0; i < a.idx[d].n; i++)
			aff_term(&a.off, a.idx[d].var[i], a.idx[d].k[i] * stride);
		stride *= E->cap[t][d];
	}
	a.fast = a.off.lin;
	return a;
}

static CVal *compile_val(Eval *E, const Val *v)
{
	CVal *c = calloc(1, sizeof *c);
	if (!c)
		die("loopeval: out of memory");
	c->v = v;
	if (v->kind == V_LOAD)
		c->acc = compile_acc(E, v->tensor, v->idx);
	if (v->kind == V_INDEX)
		c->ix = aff_of(v->ix);
	if (v->a)
		c->a = compile_val(E, v->a);
	if (v->b)
		c->b = compile_val(E, v->b);
	return c;
}

static void free_cval(CVal *c)
{
	if (!c)
		return;
	free_cval(c->a);
	free_cval(c->b);
	free(c);
}

/* ---- tensors ---- */

static int64_t tensor_numel(const Eval *E, int t)
{
	int64_t n = 1;
	for (int d = 0; d < E->P->g->tensors[t].rank; d++)
		n *= E->cap[t][d];
	return n;
}

static double *storage(Eval *E, int t)
{
	if (!E->val[t]) {
		E->val[t] = calloc((size_t)tensor_numel(E, t) + 1, sizeof(double));
		if (!E->val[t])
			die("loopeval: out of memory");
	}
	return E->val[t];
}

/* The element of an access, or NULL (reported once) when its index is outside the tensor. */
static double *elem(Eval *E, const Acc *a)
{
	if (a->fast)
		return a->base + aff_eval(&a->off, E->vals);
	int t = a->t;
	const Aff *idx = a->idx;
	const Tensor *T = &E->P->g->tensors[t];
	int64_t off = 0;
	for (int d = 0; d < T->rank; d++) {
		int64_t i = aff_eval(&idx[d], E->vals);
		if (i < 0 || i >= E->cap[t][d]) {
			if (E->ok) {
				const Graph *g = E->P->g;
				fprintf(stderr, "loopeval: stage %s.%s: index %lld of dim %d of %s is outside [0, %lld)\n",
					g->tensors[g->ops[E->s->op].out].name, E->s->name, (long long)i, d, T->name,
					(long long)E->cap[t][d]);
			}
			E->ok = false;
			return NULL;
		}
		off = off * E->cap[t][d] + i;
	}
	return a->base + off;
}

static double max_of(double cur, double v) { return v > cur || isnan(v) ? v : cur; }
static double min_of(double cur, double v) { return v < cur || isnan(v) ? v : cur; }

static double apply_bin(Bin b, double x, double y)
{
	switch (b) {
	case BIN_ADD: return x + y;
	case BIN_SUB: return x - y;
	case BIN_MUL: return x * y;
	case BIN_DIV: return x / y;
	case BIN_MAX: return max_of(x, y);
	case BIN_MIN: return min_of(x, y);
	default: die("loopeval: bin %d", (int)b);
	}
}

static double apply_fn(const Val *v, double x)
{
	switch (v->fn) {
	case FN_RELU: return x > 0 ? x : 0.0;
	case FN_RELU6: return x < 0 ? 0.0 : x > 6 ? 6.0 : x;
	case FN_SIGMOID: return 1.0 / (1.0 + exp(-x));
	case FN_TANH: return tanh(x);
	case FN_EXP: return exp(x);
	case FN_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
	case FN_SQRT: return sqrt(x);
	case FN_NEG: return -x;
	case FN_RECIP: return 1.0 / x;
	case FN_CLIP: return fmin(fmax(x, v->p1), v->p2);
	case FN_LEAKY_RELU: return x >= 0 ? x : v->p1 * x;
	default: die("loopeval: fn %d", (int)v->fn);
	}
}

static double eval_val(Eval *E, const CVal *c)
{
	const Val *v = c->v;
	switch (v->kind) {
	case V_CONST:
		return v->c;
	case V_LOAD: {
		double *p = elem(E, &c->acc);
		return p ? *p : 0.0;
	}
	case V_INDEX:
		return (double)aff_eval(&c->ix, E->vals);
	case V_UN:
		return apply_fn(v, eval_val(E, c->a));
	case V_BIN:
		return apply_bin(v->bin, eval_val(E, c->a), eval_val(E, c->b));
	}
	die("loopeval: val kind %d", (int)v->kind);
}

static bool guards_hold(Eval *E, int depth)
{
	const Stage *s = E->s;
	for (int i = 0; i < s->nguards; i++)
		if (E->gdepth[i] == depth) {
			int64_t e = aff_eval(&E->guard_c[i], E->vals);
			if (e < s->guards[i].lo || e >= s->guards[i].hi)
				return false;
		}
	return true;
}

static void body(Eval *E)
{
	const Stage *s = E->s;
	double v = eval_val(E, E->val_c);
	double *p = elem(E, &E->store_c);
	if (!p)
		return;
	if (s->accum == BIN_NONE)
		*p = v;
	else
		*p = apply_bin(s->accum, *p, v);
}

/* Loops depth.. of the current stage, loops[0..depth) bound. */
static void nest(Eval *E, int depth)
{
	if (!guards_hold(E, depth))
		return;
	const Stage *s = E->s;
	if (depth == s->nloops) {
		body(E);
		return;
	}
	int var = s->loops[depth];
	int64_t n = E->P->vars[var].extent;
	for (int64_t i = 0; i < n && E->ok; i++) {
		E->vals[var] = i;
		nest(E, depth + 1);
	}
}

static bool ix_uses_any_after(const Ix *e, const Stage *s, int depth)
{
	for (int i = depth; i < s->nloops; i++)
		if (ix_uses(e, s->loops[i]))
			return true;
	return false;
}

static void run_stage(Eval *E, const Stage *s)
{
	E->s = s;
	/* A guard is tested at the shallowest depth where every variable it uses is bound. */
	for (int i = 0; i < s->nguards; i++) {
		int d = 0;
		while (d < s->nloops && ix_uses_any_after(s->guards[i].e, s, d))
			d++;
		E->gdepth[i] = d;
		E->guard_c[i] = aff_of(s->guards[i].e);
	}
	E->store_c = compile_acc(E, s->tensor, s->idx);
	E->val_c = compile_val(E, s->val);
	nest(E, 0);
	free_cval(E->val_c);
}

static void fill(Eval *E, int t, const float *src)
{
	const Tensor *T = &E->P->g->tensors[t];
	double *dst = storage(E, t);
	int64_t idx[IR_MAX_RANK] = {0}, n = ir_numel(T);
	for (int64_t i = 0; i < n; i++) {
		int64_t off = 0;
		for (int d = 0; d < T->rank; d++)
			off = off * E->cap[t][d] + idx[d];
		dst[off] = src[i];
		for (int d = T->rank - 1; d >= 0 && ++idx[d] == T->dims[d]; d--)
			idx[d] = 0;
	}
}

static void drain(Eval *E, int t, float *out)
{
	const Tensor *T = &E->P->g->tensors[t];
	double *src = storage(E, t);
	int64_t idx[IR_MAX_RANK] = {0}, n = ir_numel(T);
	for (int64_t i = 0; i < n; i++) {
		int64_t off = 0;
		for (int d = 0; d < T->rank; d++)
			off = off * E->cap[t][d] + idx[d];
		out[i] = (float)src[off];
		for (int d = T->rank - 1; d >= 0 && ++idx[d] == T->dims[d]; d--)
			idx[d] = 0;
	}
}

bool ir_prog_eval(const Prog *P, const float *const *inputs, float *const *outputs)
{
	const Graph *g = P->g;
	int nt = g->ntensors ? g->ntensors : 1;
	Eval E = {.P = P, .ok = true};
	E.val = calloc((size_t)nt, sizeof *E.val);
	E.cap = calloc((size_t)nt, sizeof *E.cap);
	E.vals = calloc((size_t)(P->nvars ? P->nvars : 1), sizeof *E.vals);
	if (!E.val || !E.cap || !E.vals)
		die("loopeval: out of memory");
	for (int t = 0; t < g->ntensors; t++) {
		const Tensor *T = &g->tensors[t];
		for (int d = 0; d < T->rank; d++) {
			E.cap[t][d] = T->dims[d];
			if (T->layout.n > 0) {
				int64_t c = ir_layout_capacity(&T->layout, T->rank, T->dims, d);
				if (c > E.cap[t][d])
					E.cap[t][d] = c;
			}
		}
	}

	for (int i = 0; i < g->ninputs; i++)
		fill(&E, g->inputs[i], inputs[i]);
	for (int i = 0; i < g->nparams; i++) {
		int t = g->params[i];
		if (!g->weights || g->tensors[t].param_offset + ir_numel(&g->tensors[t]) > g->nweights)
			die("loopeval: param %s has no weights loaded", g->tensors[t].name);
		fill(&E, t, g->weights + g->tensors[t].param_offset);
	}

	for (int i = 0; i < P->nstages && E.ok; i++)
		run_stage(&E, &P->stages[i]);

	if (E.ok)
		for (int i = 0; i < g->noutputs; i++)
			drain(&E, g->outputs[i], outputs[i]);
	for (int t = 0; t < g->ntensors; t++)
		free(E.val[t]);
	free(E.val);
	free(E.cap);
	free(E.vals);
	return E.ok;
}
