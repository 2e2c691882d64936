/* ir/schedcheck.c: the loop directives of a schedule, each checked, then applied.
 *
 * ir_sched_loop_directive takes one stage directive (split, reorder, fuse, unroll, vectorize,
 * parallel, cache_write, compute_at, prefetch), resolves its stage and loop names against the program as
 * scheduled so far (a split's k_o exists only after the split), checks every rule of
 * ir/loopir.md "Schedules" and either applies it or reports why not, as
 * `STAGE: DIRECTIVE(args): why`, and changes nothing. Rules are judged on the current state
 * only (no side tables): a stage "has its own schedule" when a loop has a kind, when a loop was
 * made by a directive (var id >= nvars0: lowering made every var below it) or when its loops
 * are out of their lowered order (lowering creates a stage's vars outer to inner).
 * Assumes layouts are final (sched.c applies layout directives and conversions first) and that
 * the stage array no longer changes, so stage ids kept in at_stage/init_stage stay valid.
 */
#include "ir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
	MAX_UNROLL = 64,      /* unroll and vector loops have at most this extent */
	MAX_CACHE = 1 << 16,  /* cache_write: floats of accumulators, on the stack of one thread */
};

typedef struct Chk {
	Prog *P;
	const Directive *d;
	const char *text;     /* the directive as written, prefix of every message */
	int nvars0;           /* vars below this id were made by lowering */
} Chk;

/* error_at(the directive, "TEXT: why"); false, so that checks read `return bad(...)`. */
static bool bad(Chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool bad(Chk *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	error_at(c->d->loc, "%s: %s", c->text, msg);
	return false;
}

/* ---- names ---- */

static const char *tname(const Prog *P, int t) { return P->g->tensors[t].name; }

/* "t1.update" */
static const char *sname(const Prog *P, int si)
{
	const Stage *s = &P->stages[si];
	return ir_fmt("%s.%s", tname(P, P->g->ops[s->op].out), s->name);
}

static const char *lname(const Prog *P, const Stage *s, int pos)
{
	return P->vars[s->loops[pos]].name;
}

/* "n, k, oh, ow, c, r, s" */
static const char *loop_list(const Prog *P, const Stage *s)
{
	char *list = "";
	for (int i = 0; i < s->nloops; i++)
		list = ir_fmt("%s%s%s", list, i ? ", " : "", lname(P, s, i));
	return list;
}

/* "init, update" */
static const char *stage_list(const Prog *P, int op)
{
	char *list = "";
	for (int i = 0; i < P->nstages; i++)
		if (P->stages[i].op == op)
			list = ir_fmt("%s%s%s", list, *list ? ", " : "", P->stages[i].name);
	return list;
}

/* The stage named name, or -1 after saying what exists. */
static int resolve_stage(Chk *c, const char *name)
{
	int si = ir_find_stage(c->P, name);
	if (si >= 0)
		return si;
	const Graph *g = c->P->g;
	const char *dot = strchr(name, '.');
	if (!dot) {
		bad(c, "'%s' is not a stage: stages are named TENSOR.STAGE (t1.update)", name);
		return -1;
	}
	const char *tn = ir_strndup(name, (size_t)(dot - name));
	int t = ir_find_tensor(g, tn);
	if (t < 0) {
		bad(c, "there is no tensor %s in model %s", tn, g->name);
		return -1;
	}
	const Tensor *T = &g->tensors[t];
	if (T->kind == TENSOR_INPUT)
		bad(c, "%s is a model input: only the results of ops have stages", tn);
	else if (T->kind == TENSOR_PARAM)
		bad(c, "%s is a param: only the results of ops have stages", tn);
	else if (T->producer < 0 || g->ops[T->producer].out != t)
		bad(c, "%s is internal to %s: name its op's stages by the op's result (%s: %s)", tn,
			tname(c->P, g->ops[T->producer].out), tname(c->P, g->ops[T->producer].out),
			stage_list(c->P, T->producer));
	else
		bad(c, "%s has no stage '%s' (stages: %s)", tn, dot + 1, stage_list(c->P, T->producer));
	return -1;
}

static int find_loop(const Prog *P, const Stage *s, const char *name)
{
	for (int i = 0; i < s->nloops; i++)
		if (strcmp(lname(P, s, i), name) == 0)
			return i;
	return -1;
}

/* The position of loop name in stage si, or -1 after listing the stage's loops. */
static int resolve_loop(Chk *c, int si, const char *name)
{
	const Prog *P = c->P;
	const Stage *s = &P->stages[si];
	int pos = find_loop(P, s, name);
	if (pos >= 0)
		return pos;
	for (int v = 0; v < P->nvars; v++)
		if (P->vars[v].stage == si && strcmp(P->vars[v].name, name) == 0) {
			bad(c, "%s has no loop '%s' any more: an earlier split or fuse replaced it (loops: %s)",
				sname(P, si), name, loop_list(P, s));
			return -1;
		}
	for (int j = 0; j < P->nstages; j++)
		if (j != si && find_loop(P, &P->stages[j], name) >= 0) {
			bad(c, "%s has no loop '%s' (loops: %s); %s is a loop of %s, and a directive "
				"names loops of its own stage", sname(P, si), name, loop_list(P, s), name, sname(P, j));
			return -1;
		}
	bad(c, "%s has no loop '%s' (loops: %s)", sname(P, si), name, loop_list(P, s));
	return -1;
}

/* ---- state of a stage ---- */

static const char *kind_word(LoopKind k)
{
	return k == LOOP_PARALLEL ? "parallel" : k == LOOP_VECTOR ? "vectorized" : k == LOOP_UNROLL ? "unrolled" : "serial";
}

/* The first stage computed at si, or -1. */
static int first_guest(const Prog *P, int si)
{
	for (int j = 0; j < P->nstages; j++)
		if (P->stages[j].at_stage == si)
			return j;
	return -1;
}

/* The update stage whose cache_write folded init stage si. */
static int folder_of(const Prog *P, int si)
{
	for (int j = 0; j < P->nstages; j++)
		if (P->stages[j].init_stage == si && P->stages[j].cache_at >= 0)
			return j;
	return -1;
}

/* NULL if stage si still has its lowered loops (no directive changed them), else what changed. */
static const char *own_schedule(const Chk *c, int si)
{
	const Prog *P = c->P;
	const Stage *s = &P->stages[si];
	for (int i = 0; i < s->nloops; i++) {
		const Var *v = &P->vars[s->loops[i]];
		if (v->kind != LOOP_SERIAL)
			return ir_fmt("loop %s is %s", v->name, kind_word(v->kind));
		if (s->loops[i] >= c->nvars0)
			return ir_fmt("loop %s was made by a split or fuse", v->name);
		if (i > 0 && s->loops[i] < s->loops[i - 1])
			return ir_fmt("its loops were reordered (%s)", loop_list(P, s));
	}
	if (s->cache_at >= 0)
		return ir_fmt("it has cache_write(%s)", lname(P, s, s->cache_at));
	if (s->npf > 0)
		return ir_fmt("it has prefetch(%s, %s)", tname(P, s->pf_tensor[0]), P->vars[s->pf_var[0]].name);
	int g = first_guest(P, si);
	if (g >= 0)
		return ir_fmt("%s is computed at it", sname(P, g));
	return NULL;
}

/* Every directive on a stage's loops: not on a folded init stage or a stage computed at another. */
static bool stage_has_loops(Chk *c, int si)
{
	const Prog *P = c->P;
	const Stage *s = &P->stages[si];
	if (s->folded) {
		int u = folder_of(P, si);
		return bad(c, "%s is folded into the accumulators of %s's cache_write(%s); it has no loops "
			"of its own", sname(P, si), sname(P, u), lname(P, &P->stages[u], P->stages[u].cache_at));
	}
	if (s->at_stage >= 0) {
		const Stage *h = &P->stages[s->at_stage];
		return bad(c, "%s is computed at %s (compute_at(%s, %s)) and runs in its host's loops; "
			"schedule %s instead", sname(P, si), sname(P, s->at_stage), sname(P, s->at_stage),
			lname(P, h, s->at_loop), sname(P, s->at_stage));
	}
	return true;
}

/* split, reorder and fuse: only before the stage's cache_write and compute_at at it, whose loop
   positions they would move. */
static bool loops_not_fixed(Chk *c, int si)
{
	const Prog *P = c->P;
	const Stage *s = &P->stages[si];
	if (s->cache_at >= 0)
		return bad(c, "%s already has cache_write(%s): split, reorder and fuse of a stage must come "
			"before its cache_write", sname(P, si), lname(P, s, s->cache_at));
	int g = first_guest(P, si);
	if (g >= 0)
		return bad(c, "%s is already computed at %s (compute_at(%s, %s)): split, reorder and fuse "
			"of a stage must come before compute_at at it", sname(P, g), sname(P, si), sname(P, si),
			lname(P, s, P->stages[g].at_loop));
	if (s->npf > 0)
		return bad(c, "%s already has prefetch(%s, %s): split, reorder and fuse of a stage must "
			"come before its prefetch", sname(P, si), tname(P, s->pf_tensor[0]),
			P->vars[s->pf_var[0]].name);
	return true;
}

/* ---- expressions of a stage ---- */

static void subst_stage(Stage *s, int var, const Ix *with)
{
	for (int d = 0; d < IR_MAX_RANK; d++)
		if (s->idx[d])
			s->idx[d] = ix_subst(s->idx[d], var, with);
	s->val = val_subst(s->val, var, with);
	for (int i = 0; i < s->nguards; i++)
		s->guards[i].e = ix_subst(s->guards[i].e, var, with);
}

/* Extents of every var, and of extra vars nvars.. given after the existing ones (malloc'd). */
static int64_t *extents(const Prog *P, int nextra, const int64_t *extra)
{
	int64_t *ext = malloc((size_t)(P->nvars + nextra + 1) * sizeof *ext);
	if (!ext)
		die("out of memory");
	for (int v = 0; v < P->nvars; v++)
		ext[v] = P->vars[v].extent;
	for (int i = 0; i < nextra; i++)
		ext[P->nvars + i] = extra[i];
	return ext;
}

/* Calls fn on every load of a value; stops at the first false. */
typedef bool AccessFn(void *ctx, int tensor, const Ix *const *idx);

static bool each_load(const Val *v, AccessFn *fn, void *ctx)
{
	switch (v->kind) {
	case V_LOAD: return fn(ctx, v->tensor, v->idx);
	case V_UN: return each_load(v->a, fn, ctx);
	case V_BIN: return each_load(v->a, fn, ctx) && each_load(v->b, fn, ctx);
	default: return true;
	}
}


/* The advice when tensor t has no room for a padded loop's tail in dim d. */
/* Does every iteration of the stage's spatial loops store to a different element? A padded
   tail adds iterations; when the loop is the inner part of an earlier split, those land on the
   next block's elements instead of on padding, and an in-place or accumulating stage then
   applies itself twice there. The room check has already put every index within the tensor's
   capacity, where its layout keeps distinct logical indices apart, so it is enough that the
   logical index differs. Sufficient test (guards ignored, so conservative): each loop feeds one
   dimension's index, affinely, and within a dimension the coefficients, sorted, form a mixed
   radix (each larger than the span of the smaller ones). */
static bool store_injective(const Prog *P, const Stage *s, const int64_t *ext, int split, int o, int i)
{
	const Tensor *t = &P->g->tensors[s->tensor];
	int vars[IR_MAX_LOOPS + 1], nv = 0; /* the stage's spatial loops, the split one in its parts */
	for (int l = 0; l < s->nloops; l++) {
		int v = s->loops[l];
		if (P->vars[v].reduction)
			continue;
		if (v != split) {
			vars[nv++] = v;
		} else {
			vars[nv++] = o;
			vars[nv++] = i;
		}
	}
	bool used[IR_MAX_LOOPS + 1] = {false};
	for (int d = 0; d < t->rank; d++) {
		int64_t coef[IR_MAX_LOOPS + 1], span[IR_MAX_LOOPS + 1];
		int n = 0;
		for (int l = 0; l < nv; l++) {
			int64_t k;
			if (ext[vars[l]] == 1)
				continue;
			if (!ix_coeff(s->idx[d], vars[l], &k))
				return false;
			if (k == 0)
				continue;
			if (used[l])
				return false; /* one loop in two dimensions: not judged here */
			used[l] = true;
			coef[n] = k < 0 ? -k : k;
			span[n++] = ext[vars[l]] - 1;
		}
		for (int a = 1; a < n; a++) /* insertion sort by coefficient */
			for (int b = a; b > 0 && coef[b] < coef[b - 1]; b--) {
				int64_t tc = coef[b], ts = span[b];
				coef[b] = coef[b - 1], span[b] = span[b - 1];
				coef[b - 1] = tc, span[b - 1] = ts;
			}
		int64_t reach = 0;
		for (int a = 0; a < n; a++) {
			if (coef[a] <= reach)
				return false;
			reach += coef[a] * span[a];
		}
	}
	for (int l = 0; l < nv; l++)
		if (!used[l] && ext[vars[l]] > 1)
			return false; /* a loop the store does not depend on stores every element again */
	return true;
}

static const char *room_advice(const Prog *P, int t, int d, int64_t factor)
{
	const Tensor *T = &P->g->tensors[t];
	if (T->kind == TENSOR_INPUT || T->output_index >= 0)
		return ir_fmt("use tail guard: %s is a model %s and keeps the logical layout", T->name,
			T->kind == TENSOR_INPUT ? "input" : "output");
	if (T->internal)
		return "use tail guard";
	if (factor <= 1)
		return ir_fmt("use tail guard, or give %s a layout that pads dim %d", T->name, d);
	return ir_fmt("use tail guard, or give %s a layout that pads dim %d, e.g. split(%d, %lld)",
		T->name, d, d, (long long)factor);
}

/* ---- split ---- */

static bool new_names_ok(Chk *c, const Stage *s, const char *a, const char *b)
{
	const char *names[2] = {a, b};
	for (int i = 0; i < 2 && names[i]; i++) {
		if (strlen(names[i]) >= sizeof c->P->vars[0].name)
			return bad(c, "the new loop name %s would be longer than %d characters",
				names[i], (int)sizeof c->P->vars[0].name - 1);
		if (find_loop(c->P, s, names[i]) >= 0)
			return bad(c, "the stage already has a loop named %s (loops: %s)", names[i],
				loop_list(c->P, s));
	}
	return true;
}

static bool split(Chk *c, int si)
{
	Prog *P = c->P;
	const Directive *d = c->d;
	if (!loops_not_fixed(c, si))
		return false;
	int pos = resolve_loop(c, si, d->loops[0]);
	if (pos < 0)
		return false;
	Stage *s = &P->stages[si];
	int v = s->loops[pos];
	Var V = P->vars[v];
	int64_t f = d->factor, n = V.extent;
	if (f < 1)
		return bad(c, "factor must be >= 1");
	if (d->tail == TAIL_EXACT && n % f)
		return bad(c, "%lld does not divide the extent %lld of %s (use tail guard or pad)",
			(long long)f, (long long)n, V.name);
	if (d->tail == TAIL_PAD && V.reduction)
		return bad(c, "%s is a reduction loop: a padded tail would add elements from outside the "
			"tensors into the %s (use tail guard)", V.name, s->accum == BIN_ADD ? "sum" : "reduction");
	if (s->nloops == IR_MAX_LOOPS)
		return bad(c, "%s already has %d loops, the most a stage can have", sname(P, si), IR_MAX_LOOPS);
	bool guard = d->tail == TAIL_GUARD && n % f;
	if (guard && s->nguards == IR_MAX_GUARDS)
		return bad(c, "%s already has %d guards, the most a stage can have", sname(P, si), IR_MAX_GUARDS);
	if ((V.kind == LOOP_VECTOR || V.kind == LOOP_UNROLL) && f > MAX_UNROLL)
		return bad(c, "%s is %s: its inner part would have extent %lld > %d", V.name,
			kind_word(V.kind), (long long)f, MAX_UNROLL);
	const char *on = ir_fmt("%s_o", V.name), *in = ir_fmt("%s_i", V.name);
	if (!new_names_ok(c, s, on, in))
		return false;

	int64_t ext2[2] = {(n + f - 1) / f, f};
	int o = P->nvars, i = P->nvars + 1; /* the ids ir_new_var gives them below */
	const Ix *with = ix_add(ix_mul(ix_var(o), f), ix_var(i));
	if (d->tail == TAIL_PAD && n % f) {
		Stage t = *s;
		subst_stage(&t, v, with);
		int64_t *ext = extents(P, 2, ext2);
		AccessMiss r;
		bool ok = ir_stage_accesses_fit(P, &t, ext, P->nvars + 2, true, o, i, &r);
		bool distinct = ok && store_injective(P, &t, ext, v, o, i);
		free(ext);
		if (!ok)
			return bad(c, "the padded tail reaches index %lld of dim %d of %s, which has room for "
				"%lld there (%s)", (long long)r.at, r.dim, tname(P, r.tensor), (long long)r.cap,
				room_advice(P, r.tensor, r.dim, f));
		if (!distinct)
			return bad(c, "the padded tail would store some elements of %s twice: the extra "
				"iterations of %s land on elements that another iteration of an outer loop "
				"stores (use tail guard)", tname(P, s->tensor), V.name);
	}

	if (ir_new_var(P, on, ext2[0], V.reduction, si) != o || ir_new_var(P, in, f, V.reduction, si) != i)
		die("split: unexpected var ids");
	P->vars[o].kind = V.kind == LOOP_PARALLEL ? LOOP_PARALLEL : LOOP_SERIAL;
	P->vars[i].kind = V.kind == LOOP_VECTOR || V.kind == LOOP_UNROLL ? V.kind : LOOP_SERIAL;
	memmove(&s->loops[pos + 2], &s->loops[pos + 1], (size_t)(s->nloops - pos - 1) * sizeof s->loops[0]);
	s->loops[pos] = o;
	s->loops[pos + 1] = i;
	s->nloops++;
	subst_stage(s, v, with);
	if (guard)
		s->guards[s->nguards++] = (Guard){with, 0, n};
	return true;
}

/* ---- reorder and fuse ---- */

static bool reorder(Chk *c, int si)
{
	Prog *P = c->P;
	const Directive *d = c->d;
	if (!loops_not_fixed(c, si))
		return false;
	if (d->nloops < 2)
		return bad(c, "reorder names at least two loops");
	int pos[IR_MAX_LOOPS], sorted[IR_MAX_LOOPS];
	for (int j = 0; j < d->nloops; j++) {
		if ((pos[j] = resolve_loop(c, si, d->loops[j])) < 0)
			return false;
		for (int k = 0; k < j; k++)
			if (pos[k] == pos[j])
				return bad(c, "%s appears twice", d->loops[j]);
	}
	/* Halide style: the named loops take the positions they occupied, in the order given. */
	memcpy(sorted, pos, sizeof pos);
	for (int j = 1; j < d->nloops; j++)
		for (int k = j; k > 0 && sorted[k - 1] > sorted[k]; k--) {
			int tmp = sorted[k];
			sorted[k] = sorted[k - 1];
			sorted[k - 1] = tmp;
		}
	Stage *s = &P->stages[si];
	int loops[IR_MAX_LOOPS];
	memcpy(loops, s->loops, sizeof loops);
	for (int j = 0; j < d->nloops; j++)
		loops[sorted[j]] = s->loops[pos[j]];
	for (int j = 0; j + 1 < s->nloops; j++)
		if (P->vars[loops[j]].kind == LOOP_VECTOR)
			return bad(c, "the vectorized loop %s would no longer be innermost (reorder before "
				"vectorize)", P->vars[loops[j]].name);
	memcpy(s->loops, loops, sizeof loops);
	return true;
}

static bool fuse(Chk *c, int si)
{
	Prog *P = c->P;
	const Directive *d = c->d;
	if (!loops_not_fixed(c, si))
		return false;
	int po = resolve_loop(c, si, d->loops[0]);
	if (po < 0)
		return false;
	int pi = resolve_loop(c, si, d->loops[1]);
	if (pi < 0)
		return false;
	Stage *s = &P->stages[si];
	Var O = P->vars[s->loops[po]], I = P->vars[s->loops[pi]];
	if (po == pi)
		return bad(c, "a loop cannot be fused with itself");
	if (pi != po + 1)
		return bad(c, "%s is not directly inside %s (loops: %s): fuse joins a loop and the one "
			"right inside it (reorder first)", I.name, O.name, loop_list(P, s));
	if (O.reduction != I.reduction)
		return bad(c, "%s is a %s loop and %s a %s loop: fused loops must be both spatial or both "
			"reductions", O.name, O.reduction ? "reduction" : "spatial", I.name,
			I.reduction ? "reduction" : "spatial");
	if (O.kind != LOOP_SERIAL && I.kind != LOOP_SERIAL)
		return bad(c, "%s is %s and %s is %s: at most one of two fused loops may have a kind",
			O.name, kind_word(O.kind), I.name, kind_word(I.kind));
	LoopKind kind = O.kind != LOOP_SERIAL ? O.kind : I.kind;
	int64_t n = O.extent * I.extent;
	if ((kind == LOOP_VECTOR || kind == LOOP_UNROLL) && n > MAX_UNROLL)
		return bad(c, "the fused loop would be %s with extent %lld > %d", kind_word(kind),
			(long long)n, MAX_UNROLL);
	const char *name = ir_fmt("%s_%s", O.name, I.name);
	if (!new_names_ok(c, s, name, NULL))
		return false;

	int f = ir_new_var(P, name, n, O.reduction, si);
	P->vars[f].kind = kind;
	int vo = s->loops[po], vi = s->loops[pi];
	s->loops[po] = f;
	memmove(&s->loops[pi], &s->loops[pi + 1], (size_t)(s->nloops - pi - 1) * sizeof s->loops[0]);
	s->nloops--;
	subst_stage(s, vo, ix_div(ix_var(f), I.extent));
	subst_stage(s, vi, ix_mod(ix_var(f), I.extent));
	return true;
}

/* ---- loop kinds ---- */

/* The loop of a kind-setting directive, which must still be serial (or already kind). */
static int kind_loop(Chk *c, int si, LoopKind want)
{
	int pos = resolve_loop(c, si, c->d->loops[0]);
	if (pos < 0)
		return -1;
	const Stage *s = &c->P->stages[si];
	const Var *v = &c->P->vars[s->loops[pos]];
	if (v->kind != LOOP_SERIAL) {
		if (v->kind == want)
			bad(c, "%s is already %s", v->name, kind_word(v->kind));
		else
			bad(c, "%s is already %s; a loop has one kind", v->name, kind_word(v->kind));
		return -1;
	}
	for (int i = 0; i < s->npf && want != LOOP_PARALLEL; i++)
		if (s->pf_var[i] == s->loops[pos]) {
			bad(c, "%s has prefetch(%s, %s), which names a loop printed as a loop; %s it before "
				"the prefetch or prefetch at another loop", v->name, tname(c->P, s->pf_tensor[i]),
				v->name, want == LOOP_UNROLL ? "unroll" : "vectorize");
			return -1;
		}
	return pos;
}

static bool unroll(Chk *c, int si)
{
	int pos = kind_loop(c, si, LOOP_UNROLL);
	if (pos < 0)
		return false;
	Var *v = &c->P->vars[c->P->stages[si].loops[pos]];
	if (v->extent > MAX_UNROLL)
		return bad(c, "%s has extent %lld; unroll takes loops of extent <= %d (split it first)",
			v->name, (long long)v->extent, MAX_UNROLL);
	v->kind = LOOP_UNROLL;
	return true;
}

static bool vectorize(Chk *c, int si)
{
	int pos = kind_loop(c, si, LOOP_VECTOR);
	if (pos < 0)
		return false;
	const Stage *s = &c->P->stages[si];
	Var *v = &c->P->vars[s->loops[pos]];
	if (v->reduction)
		return bad(c, "%s is a reduction loop; its lanes would race on one accumulator (vectorize "
			"a spatial loop)", v->name);
	if (pos != s->nloops - 1)
		return bad(c, "%s is not the innermost loop of %s (loops: %s): vectorize the innermost "
			"loop (reorder first)", v->name, sname(c->P, si), loop_list(c->P, s));
	if (v->extent > MAX_UNROLL)
		return bad(c, "%s has extent %lld; a vector loop has extent <= %d (split it first)",
			v->name, (long long)v->extent, MAX_UNROLL);
	v->kind = LOOP_VECTOR;
	return true;
}

static bool parallel(Chk *c, int si)
{
	int pos = kind_loop(c, si, LOOP_PARALLEL);
	if (pos < 0)
		return false;
	const Stage *s = &c->P->stages[si];
	Var *v = &c->P->vars[s->loops[pos]];
	if (v->reduction)
		return bad(c, "%s is a reduction loop; a parallel reduction would race (parallelise a "
			"spatial loop)", v->name);
	for (int j = 0; j < s->nloops; j++)
		if (c->P->vars[s->loops[j]].kind == LOOP_PARALLEL)
			return bad(c, "%s already has a parallel loop (%s); at most one loop of a stage runs "
				"in parallel", sname(c->P, si), lname(c->P, s, j));
	if (s->cache_at >= 0 && pos > s->cache_at)
		return bad(c, "%s is inside cache_write(%s), whose accumulators belong to one iteration "
			"of %s (parallelise %s or a loop outside it)", v->name, lname(c->P, s, s->cache_at),
			lname(c->P, s, s->cache_at), lname(c->P, s, s->cache_at));
	v->kind = LOOP_PARALLEL;
	return true;
}

/* ---- cache_write ---- */

static bool cache_write(Chk *c, int si)
{
	Prog *P = c->P;
	int pos = resolve_loop(c, si, c->d->loops[0]);
	if (pos < 0)
		return false;
	Stage *s = &P->stages[si];
	const Var *v = &P->vars[s->loops[pos]];
	if (s->accum == BIN_NONE || s->init_stage < 0)
		return bad(c, "%s has no init stage: cache_write keeps the accumulators of a reduction "
			"(an update stage after its init stage) in locals", sname(P, si));
	if (s->cache_at >= 0)
		return bad(c, "%s already has cache_write(%s)", sname(P, si), lname(P, s, s->cache_at));
	if (v->reduction)
		return bad(c, "%s is a reduction loop; cache_write needs a spatial loop with every "
			"reduction loop inside it", v->name);
	int64_t box = 1;
	bool outer_reduction = false;
	for (int j = 0; j < s->nloops; j++) {
		const Var *u = &P->vars[s->loops[j]];
		outer_reduction |= j < pos && u->reduction;
		if (j > pos && u->kind == LOOP_PARALLEL)
			return bad(c, "the parallel loop %s is inside %s; accumulators in locals cannot be "
				"shared between threads (parallelise %s or a loop outside it)", u->name, v->name,
				v->name);
		if (j > pos && !u->reduction)
			box *= u->extent;
	}
	if (box > MAX_CACHE)
		return bad(c, "the accumulators would hold %lld floats (the spatial loops inside %s); "
			"at most %d (cache_write at an inner loop)", (long long)box, v->name, MAX_CACHE);
	for (int j = 0; j < P->nstages; j++)
		if (P->stages[j].at_stage == si && P->stages[j].at_loop > pos)
			return bad(c, "%s is computed at loop %s of %s, inside %s: a stage computed at a "
				"cache_write stage runs at the cache_write loop or outside it", sname(P, j),
				lname(P, s, P->stages[j].at_loop), sname(P, si), v->name);
	/* A reduction loop outside the cache loop (the reduction blocked, as a GEMM blocks K for
	   L1): each visit of the box adds a part of the sum, so the init stage keeps its own nest
	   and the accumulators start from the tensor and go back to it. */
	if (outer_reduction) {
		s->cache_at = pos;
		return true;
	}
	int init = s->init_stage;
	const Stage *is = &P->stages[init];
	const char *why = own_schedule(c, init);
	if (!why && is->at_stage >= 0)
		why = ir_fmt("it is computed at %s", sname(P, is->at_stage));
	if (why)
		return bad(c, "the init stage %s has its own schedule (%s); cache_write folds it into "
			"the accumulators of %s, so it must keep its lowered loops", sname(P, init), why,
			sname(P, si));
	/* The folded init runs over this stage's spatial box, padded tails included: its loads
	   (a bias b[k]) must have room there too. Its loop var at dim d stands for our index d. */
	Stage t = *is;
	for (int d = 0; d < P->g->tensors[is->tensor].rank; d++)
		if (is->idx[d]->kind == IX_VAR)
			subst_stage(&t, is->idx[d]->var, s->idx[d]);
	t.nguards = s->nguards;
	memcpy(t.guards, s->guards, sizeof t.guards);
	int64_t *ext = extents(P, 0, NULL);
	AccessMiss r;
	bool fits = ir_stage_accesses_fit(P, &t, ext, P->nvars, false, -1, -1, &r);
	free(ext);
	if (!fits)
		return bad(c, "%s pads its loops' tails, and its folded init stage %s would then reach "
			"index %lld of dim %d of %s, which has room for %lld there (%s)", sname(P, si),
			sname(P, init), (long long)r.at, r.dim, tname(P, r.tensor), (long long)r.cap,
			room_advice(P, r.tensor, r.dim, 0));
	s->cache_at = pos;
	P->stages[init].folded = true;
	return true;
}

/* ---- compute_at ---- */

static bool pointwise_op(const Op *op)
{
	return (ir_ops[op->kind].flags & (OPF_UNARY | OPF_BINARY)) || op->kind == OP_BATCHNORM;
}

/* Does stage s load tensor t at exactly its own loop variables, in order? */
typedef struct OwnLoad {
	const Stage *s;
	int tensor;
	bool found;
} OwnLoad;

static bool find_own_load(void *ctx, int t, const Ix *const *idx)
{
	OwnLoad *o = ctx;
	if (t != o->tensor)
		return true;
	for (int d = 0; d < o->s->nloops; d++)
		if (!idx[d] || !ix_equal(idx[d], ix_var(o->s->loops[d])))
			return true;
	o->found = true;
	return false;
}

/* The first tensor stage s loads that stage `before` does not come after every writer of,
   other than the tensors in chain; -1 if none. */
typedef struct Ready {
	const Prog *P;
	int before;
	const int *chain;
	int nchain;
	int late, writer;
} Ready;

static bool is_ready(void *ctx, int t, const Ix *const *idx)
{
	Ready *r = ctx;
	for (int i = 0; i < r->nchain; i++)
		if (r->chain[i] == t)
			return true;
	for (int j = r->before; j < r->P->nstages; j++)
		if (r->P->stages[j].tensor == t && r->P->stages[j].at_stage < 0) {
			r->late = t;
			r->writer = j;
			return false;
		}
	return true;
}

/* The guest g becomes part of host h's chain at loop L: after h's work inside L, over h's
   spatial loops inside L, with g's loop j standing for h's store index j. */
static bool compute_at(Chk *c, int gi)
{
	Prog *P = c->P;
	const Graph *g = P->g;
	Stage *G = &P->stages[gi];
	const Op *gop = &g->ops[G->op];
	const Tensor *GT = &g->tensors[G->tensor];
	if (!pointwise_op(gop) || strcmp(G->name, "main") != 0)
		return bad(c, "%s is not pointwise: compute_at takes the main stage of an elementwise op "
			"or batchnorm (%s is %s)", sname(P, gi), tname(P, gop->out), ir_ops[gop->kind].name);
	int hi = resolve_stage(c, c->d->host);
	if (hi < 0)
		return false;
	Stage *H = &P->stages[hi];
	if (first_guest(P, gi) >= 0)
		return bad(c, "%s is already a host (of %s): compute the whole chain at %s, in order",
			sname(P, gi), sname(P, first_guest(P, gi)), c->d->host);
	const char *why = own_schedule(c, gi);
	if (why)
		return bad(c, "%s has its own schedule (%s); a stage computed at another runs in its "
			"host's loops, so schedule the host", sname(P, gi), why);
	if (G->nloops != GT->rank)
		die("compute_at: %s has %d loops for rank %d", sname(P, gi), G->nloops, GT->rank);
	for (int d = 0; d < GT->rank; d++)
		if (!ix_equal(G->idx[d], ix_var(G->loops[d])))
			return bad(c, "%s does not store at its own loop index", sname(P, gi));
	if (hi == gi)
		return bad(c, "a stage cannot be computed at itself");
	if (H->folded)
		return bad(c, "%s is folded into a cache_write and has no loops of its own", sname(P, hi));
	if (H->at_stage >= 0)
		return bad(c, "%s is itself computed at %s: compute both at %s (in order)", sname(P, hi),
			sname(P, H->at_stage), sname(P, H->at_stage));
	const Op *hop = &g->ops[H->op];
	if (hop->kind == OP_CONCAT || hop->kind == OP_PAD || (ir_ops[hop->kind].flags & OPF_VIEW))
		return bad(c, "%s writes only part of %s (or is a view): a host must compute its whole "
			"tensor", sname(P, hi), tname(P, H->tensor));
	for (int j = hi + 1; j < P->nstages; j++)
		if (P->stages[j].tensor == H->tensor)
			return bad(c, "%s is not the last stage to write %s (%s comes after it): compute at %s",
				sname(P, hi), tname(P, H->tensor), sname(P, j), sname(P, j));

	int L = resolve_loop(c, hi, c->d->loops[0]);
	if (L < 0)
		return false;
	const Var *lv = &P->vars[H->loops[L]];
	if (lv->reduction)
		return bad(c, "%s is a reduction loop of %s: its values are final only after every "
			"reduction loop, which must be inside the compute_at loop", lv->name, sname(P, hi));
	for (int j = 0; j < L; j++)
		if (P->vars[H->loops[j]].reduction)
			return bad(c, "%s is inside the reduction loop %s of %s: every reduction loop of the "
				"host must be inside the compute_at loop", lv->name, lname(P, H, j), sname(P, hi));
	if (H->cache_at >= 0 && L > H->cache_at)
		return bad(c, "%s is inside %s's cache_write(%s): compute at %s or a loop outside it",
			lv->name, sname(P, hi), lname(P, H, H->cache_at), lname(P, H, H->cache_at));

	/* The chain: the host's tensor and those of the stages already computed there. */
	int chain[64], nchain = 0, prev_op = H->op;
	chain[nchain++] = H->tensor;
	for (int j = 0; j < P->nstages; j++) {
		const Stage *o = &P->stages[j];
		if (o->at_stage != hi)
			continue;
		if (o->at_loop != L)
			return bad(c, "%s is computed at loop %s of %s: compute the chain at one loop",
				sname(P, j), lname(P, H, o->at_loop), sname(P, hi));
		if (nchain < 64)
			chain[nchain++] = o->tensor;
		if (o->op > prev_op)
			prev_op = o->op;
	}
	if (G->op != prev_op + 1)
		return bad(c, "%s is not the op right after %s (line %d): compute_at fuses the next op "
			"into its host, after any already computed there", tname(P, gop->out),
			tname(P, g->ops[prev_op].out), g->ops[prev_op].loc.line);
	int from = -1;
	for (int k = 0; k < nchain && from < 0; k++) {
		const Tensor *CT = &g->tensors[chain[k]];
		OwnLoad ol = {G, chain[k], false};
		each_load(G->val, find_own_load, &ol);
		if (ol.found && CT->rank == GT->rank &&
		    memcmp(CT->dims, GT->dims, (size_t)GT->rank * sizeof GT->dims[0]) == 0)
			from = chain[k];
	}
	if (from < 0)
		return bad(c, "%s does not read %s (or a stage computed there) at its own index, with the "
			"same shape", sname(P, gi), tname(P, H->tensor));
	Ready rd = {P, hi, chain, nchain, -1, -1};
	if (!each_load(G->val, is_ready, &rd))
		return bad(c, "%s reads %s, which %s computes after %s: a stage computed at a host reads "
			"only what is ready before the host", sname(P, gi), tname(P, rd.late),
			sname(P, rd.writer), sname(P, hi));

	/* Over the host's iterations, padded tails included: g's loop d is the host's index d. */
	const Stage *HS = H;
	Stage t = *G;
	int64_t *ext = extents(P, 0, NULL);
	for (int d = 0; d < GT->rank; d++)
		subst_stage(&t, G->loops[d], HS->idx[d]);
	t.nguards = 0;
	for (int i = 0; i < HS->nguards; i++)
		t.guards[t.nguards++] = HS->guards[i];
	AccessMiss r;
	bool ok = ir_stage_accesses_fit(P, &t, ext, P->nvars, false, -1, -1, &r);
	free(ext);
	if (!ok)
		return bad(c, "%s pads its loops' tails, and %s would then reach index %lld of dim %d "
			"of %s, which has room for %lld there (%s)", sname(P, hi), sname(P, gi),
			(long long)r.at, r.dim, tname(P, r.tensor), (long long)r.cap,
			room_advice(P, r.tensor, r.dim, 0));
	G->at_stage = hi;
	G->at_loop = L;
	return true;
}

/* ---- prefetch ---- */

static bool reads_tensor(void *ctx, int t, const Ix *const *idx)
{
	(void)idx;
	return t != *(const int *)ctx; /* false stops the walk: found */
}

/* Each iteration of loop L also fetches what the next one reads of tensor T (gen/kernel.c). */
static bool prefetch(Chk *c, int si)
{
	Prog *P = c->P;
	int pos = resolve_loop(c, si, c->d->loops[0]);
	if (pos < 0)
		return false;
	Stage *s = &P->stages[si];
	int v = s->loops[pos], t = ir_find_tensor(P->g, c->d->tensor);
	const Var *V = &P->vars[v];
	if (V->kind == LOOP_VECTOR || V->kind == LOOP_UNROLL)
		return bad(c, "%s is %s: prefetch names a loop printed as a loop (serial or parallel), "
			"whose next iteration it fetches ahead", V->name, kind_word(V->kind));
	if (V->extent < 2)
		return bad(c, "%s has extent %lld: it has no next iteration to fetch ahead", V->name,
			(long long)V->extent);
	if (t < 0 || each_load(s->val, reads_tensor, &t))
		return bad(c, "%s does not read %s", sname(P, si), c->d->tensor);
	for (int i = 0; i < s->npf; i++)
		if (s->pf_tensor[i] == t && s->pf_var[i] == v)
			return bad(c, "%s already has this prefetch", sname(P, si));
	if (s->npf == IR_MAX_PREFETCH)
		return bad(c, "%s already has %d prefetch directives, the most a stage can have",
			sname(P, si), IR_MAX_PREFETCH);
	s->pf_tensor[s->npf] = t;
	s->pf_var[s->npf++] = v;
	return true;
}

/* ---- the entry ---- */

bool ir_sched_loop_directive(Prog *P, const Directive *d, int nvars0)
{
	if (d->kind == SD_LAYOUT)
		die("ir_sched_loop_directive: a layout directive");
	Chk c = {P, d, ir_directive_str(d), nvars0};
	int si = resolve_stage(&c, d->stage);
	if (si < 0 || !stage_has_loops(&c, si))
		return false;
	switch (d->kind) {
	case SD_SPLIT: return split(&c, si);
	case SD_REORDER: return reorder(&c, si);
	case SD_FUSE: return fuse(&c, si);
	case SD_UNROLL: return unroll(&c, si);
	case SD_VECTORIZE: return vectorize(&c, si);
	case SD_PARALLEL: return parallel(&c, si);
	case SD_CACHE_WRITE: return cache_write(&c, si);
	case SD_COMPUTE_AT: return compute_at(&c, si);
	case SD_PREFETCH: return prefetch(&c, si);
	case SD_LAYOUT: break;
	}
	die("directive kind %d", (int)d->kind);
}
