/* gen/kernel.c: prints a scheduled loop-IR stage as C: one block per stage nest.
 *
 * A block opens with a comment naming the model line and the stage's schedule, then declares a
 * pointer for every workspace or output tensor it touches (restrict where no other tensor of
 * the block shares its bytes), then the nest. Loops of extent 1 and unrolled loops print no
 * `for`: their variable is bound to a constant and the body printed once per value, so every
 * index folds. Guards go at the shallowest depth where their variables are bound; a guard that
 * always holds is dropped, one that never holds drops its subtree. Every access is the tensor's
 * pointer indexed by its layout's offset of the logical index, simplified over the loop
 * extents (so loops split like the layout index it with no division or modulo).
 * cache_write at loop c: inside c, accumulators for the box of spatial loops inside c, an init
 * nest (the folded init stage), the accumulating nest and a writeback nest that also computes
 * the stages computed at (stage, c), passing values in locals. compute_at at another loop: after
 * the host's loops inside it close, a nest over the host's spatial loops inside it.
 * On a SIMD target, a stage whose innermost loop is vectorized is printed twice from the same
 * schedule: the SIMD branch under the table's #if guard (the vectorized loop unrolled by
 * vectors, its statements printed by vector.c) and this scalar nest under #else.
 * Assumes the Prog was scheduled by ir_sched_apply and planned by ir_plan_prog; ir/loopir.md.
 */
#include "kernel.h"

#include <string.h>

typedef void BodyFn(Emit *E, const void *arg);

/* A loop nest over some of the stage's loops (positions in s->loops), with the guards to place. */
typedef struct Nest {
	int n;
	int pos[IR_MAX_LOOPS];
	int ng;
	const Guard *gd[IR_MAX_GUARDS];
	int glevel[IR_MAX_GUARDS];
	bool hooks;             /* after the loops inside each loop, the stages computed at it */
	BodyFn *body;
	const void *arg;
} Nest;

static const Var *var_of(const Emit *E, int v) { return &E->P->vars[v]; }
static int loop_var(const Emit *E, int pos) { return E->s->loops[pos]; }

/* ---- index expressions ---- */

static const char *var_name(int v, void *ctx)
{
	const Emit *E = ctx;
	return ir_fmt("weft_%s", E->P->vars[v].name);
}

/* e with every bound variable replaced by its constant. */
static const Ix *bind(const Emit *E, const Ix *e)
{
	switch (e->kind) {
	case IX_CONST: return e;
	case IX_VAR: return E->bound[e->var] ? ix_const(E->value[e->var]) : e;
	case IX_ADD: return ix_add(bind(E, e->a), bind(E, e->b));
	case IX_MUL: return ix_mul(bind(E, e->a), e->c);
	case IX_DIV: return ix_div(bind(E, e->a), e->c);
	case IX_MOD: return ix_mod(bind(E, e->a), e->c);
	case IX_MIN: return ix_min(bind(E, e->a), e->c);
	case IX_MAX: return ix_max(bind(E, e->a), e->c);
	}
	die("bad index kind %d", (int)e->kind);
}

static const Ix *fold(const Emit *E, const Ix *e) { return ix_simplify(bind(E, e), E->extent); }
static const char *ix_c(const Emit *E, const Ix *e) { return ix_str(e, var_name, (void *)E); }
const Ix *kernel_fold(const Emit *E, const Ix *e) { return fold(E, e); }
const char *kernel_ix_c(const Emit *E, const Ix *e) { return ix_c(E, e); }

/* ---- tensors ---- */

static const Tensor *T(const Emit *E, int t) { return &E->g->tensors[t]; }

/* The C name of tensor t's first element: inputs and params by their own names, the others by
   a pointer declared at the top of the block. */
static const char *ptr_name(Emit *E, int t)
{
	const Tensor *r = T(E, gen_root(E->g, t));
	E->used[t] = true;
	switch (r->store) {
	case STORE_INPUT: return r->name;
	case STORE_PARAM: return ir_fmt("weft_p_%s", r->name);
	case STORE_OUTPUT:
	case STORE_WORKSPACE: return ir_fmt("weft_t_%s", T(E, t)->name);
	case STORE_NONE: break;
	}
	die("%s is accessed but the plan gave it no storage", T(E, t)->name);
}

const char *kernel_ptr(Emit *E, int t) { return ptr_name(E, t); }

static const char *access(Emit *E, int t, const Ix *const *idx)
{
	const Tensor *x = T(E, t);
	const Ix *off = ir_layout_offset(&x->layout, x->rank, x->dims, idx);
	const char *p = ptr_name(E, t);
	return ir_fmt("%s[%s]", p, ix_c(E, fold(E, off)));
}

static int64_t tensor_bytes(const Tensor *t) { return ir_layout_numel(&t->layout, t->rank, t->dims) * 4; }

/* Do tensors a and b share any byte? */
static bool overlap(const Graph *g, int a, int b)
{
	int ra = gen_root(g, a), rb = gen_root(g, b);
	if (ra == rb)
		return true;
	const Tensor *x = &g->tensors[ra], *y = &g->tensors[rb];
	if (x->store != STORE_WORKSPACE || y->store != STORE_WORKSPACE)
		return false;
	return x->ws_offset < y->ws_offset + tensor_bytes(y) && y->ws_offset < x->ws_offset + tensor_bytes(x);
}

bool kernel_overlap(const Emit *E, int a, int b) { return overlap(E->g, a, b); }

static void declare_pointers(Emit *E)
{
	const Graph *g = E->g;
	for (int t = 0; t < g->ntensors; t++) {
		if (!E->used[t])
			continue;
		StoreKind sk = g->tensors[gen_root(g, t)].store;
		if (sk != STORE_OUTPUT && sk != STORE_WORKSPACE)
			continue;
		bool alone = true;
		for (int u = 0; u < g->ntensors && alone; u++)
			if (u != t && E->used[u] && overlap(g, t, u))
				alone = false;
		const Tensor *x = &g->tensors[t];
		const char *lay = x->layout.n ? ir_fmt(" /* layout %s */", ir_layout_str(&x->layout)) : "";
		gen_line(E->G, "%sfloat *%sweft_t_%s = %s;%s", E->written[t] ? "" : "const ", alone ? "restrict " : "",
		         x->name, gen_home(E->G, t), lay);
	}
}

/* ---- float expressions ---- */

static const char *tpl(const Emit *E, const char *key, const char *a1, const char *a2, const char *a3)
{
	Buf b = {0};
	gen_expand(&b, gen_template(E->G->t, key), a1, a2, a3);
	char *s = ir_strdup(b.data ? b.data : "");
	buf_free(&b);
	return s;
}

static const char *fn_key[FN_COUNT] = {
	[FN_RELU] = "relu", [FN_RELU6] = "relu6", [FN_SIGMOID] = "sigmoid", [FN_TANH] = "tanh",
	[FN_EXP] = "exp", [FN_GELU] = "gelu", [FN_SQRT] = "sqrt", [FN_NEG] = "neg",
	[FN_RECIP] = "recip", [FN_CLIP] = "clip", [FN_LEAKY_RELU] = "leaky_relu",
};

static const char *bin_key(Bin b)
{
	switch (b) {
	case BIN_ADD: return "add";
	case BIN_SUB: return "sub";
	case BIN_MUL: return "mul";
	case BIN_DIV: return "div";
	case BIN_MAX: return "max";
	case BIN_MIN: return "min";
	case BIN_NONE: break;
	}
	die("bad binary operator %d", (int)b);
}

const char *kernel_fn_key(Fn fn) { return fn_key[fn]; }
const char *kernel_bin_key(Bin b) { return bin_key(b); }

static const char *local_of(const Emit *E, int t)
{
	for (int i = E->nloc - 1; i >= 0; i--)
		if (E->loc_tensor[i] == t)
			return E->loc_text[i];
	return NULL;
}

const char *kernel_local(const Emit *E, int t) { return local_of(E, t); }

static const char *val_c(Emit *E, const Val *v)
{
	if (E->vec)
		return vec_val(E, v);
	switch (v->kind) {
	case V_CONST:
		return gen_flit(v->c);
	case V_LOAD: {
		const char *l = local_of(E, v->tensor);
		return l ? l : access(E, v->tensor, v->idx);
	}
	case V_INDEX: {
		const Ix *e = fold(E, v->ix);
		if (e->kind == IX_CONST)
			return gen_flit((double)e->c);
		return ir_fmt("(float)(%s)", ix_c(E, e));
	}
	case V_UN: {
		const char *a = val_c(E, v->a);
		if (v->fn == FN_CLIP)
			return tpl(E, "clip", a, gen_flit(v->p1), gen_flit(v->p2));
		if (v->fn == FN_LEAKY_RELU)
			return tpl(E, "leaky_relu", a, gen_flit(v->p1), NULL);
		return tpl(E, fn_key[v->fn], a, NULL, NULL);
	}
	case V_BIN:
		return tpl(E, bin_key(v->bin), val_c(E, v->a), val_c(E, v->b), NULL);
	}
	die("bad value kind %d", (int)v->kind);
}

/* "dst op= val;" for an accumulating store. */
static void accumulate(Emit *E, Bin accum, const char *dst, const char *val)
{
	switch (accum) {
	case BIN_NONE: gen_line(E->G, "%s = %s;", dst, val); return;
	case BIN_ADD: gen_line(E->G, "%s += %s;", dst, val); return;
	case BIN_SUB: gen_line(E->G, "%s -= %s;", dst, val); return;
	case BIN_MUL: gen_line(E->G, "%s *= %s;", dst, val); return;
	case BIN_DIV: gen_line(E->G, "%s /= %s;", dst, val); return;
	case BIN_MAX:
	case BIN_MIN: gen_line(E->G, "%s = %s;", dst, tpl(E, bin_key(accum), dst, val, NULL)); return;
	}
	die("bad accumulation %d", (int)accum);
}

/* ---- nests ---- */

static void bind_var(Emit *E, int v, int64_t c)
{
	E->bound[v] = true;
	E->value[v] = c;
}

/* Open the `if` of the guards placed at level i: 1 when opened, 0 when none is needed, -1 when
   a guard can never hold here (the subtree is not printed). */
static int place_guards(Emit *E, const Nest *N, int level)
{
	Buf cond = {0};
	int res = 0;
	const Guard *mg[IR_MAX_GUARDS];
	int nmg = 0;
	for (int k = 0; k < N->ng && res >= 0; k++) {
		if (N->glevel[k] != level)
			continue;
		const Guard *gd = N->gd[k];
		if (E->vlive && ix_uses(gd->e, E->vvar)) { /* per lane: a mask */
			mg[nmg++] = gd;
			continue;
		}
		const Ix *e = fold(E, gd->e);
		int64_t lo, hi;
		ix_bounds(e, E->extent, &lo, &hi);
		if (hi < gd->lo || lo >= gd->hi) {
			res = -1;
			break;
		}
		bool need_lo = lo < gd->lo, need_hi = hi >= gd->hi;
		if (!need_lo && !need_hi)
			continue;
		const char *t = ix_c(E, e);
		if (cond.len)
			buf_puts(&cond, " && ");
		if (need_lo && need_hi)
			emitf(&cond, "%lld <= %s && %s < %lld", (long long)gd->lo, t, t, (long long)gd->hi);
		else if (need_lo)
			emitf(&cond, "%s >= %lld", t, (long long)gd->lo);
		else
			emitf(&cond, "%s < %lld", t, (long long)gd->hi);
		res = 1;
	}
	if (res == 1) {
		gen_line(E->G, "if (%s) {", cond.data);
		E->G->ind++;
	}
	buf_free(&cond);
	if (res >= 0 && E->vmask_pending) {
		E->vmask_pending = false;
		if (!vec_open_mask(E, mg, nmg)) {
			if (res == 1) {
				E->G->ind--;
				gen_line(E->G, "}");
			}
			return -1;
		}
	} else if (nmg > 0) {
		die("a guard on the vectorized loop below its chunk's first level");
	}
	return res;
}

static void run_hooks(Emit *E, int pos);
static void nest_level(Emit *E, const Nest *N, int i);

/* Does guard gd hold at every point of the loops' current ranges? */
static bool guard_always(const Emit *E, const Guard *gd)
{
	int64_t lo, hi;
	ix_bounds(fold(E, gd->e), E->extent, &lo, &hi);
	return lo >= gd->lo && hi < gd->hi;
}

/* Should the SIMD branch print loop pos's body twice, for its iterations but the last and for
   the last? Yes when a guard of the stage (the tail of a padded split: lanes past the end of
   the tensor) fails only in the last iteration: the first body then has no test and no mask
   at all, where masked loads cost issue slots in every iteration of the hot loop (a 1x1 conv
   256 -> 128 channels over 56x56 pixels in blocks of 48: 1.40 -> 1.30 ms). Once per nest, and
   only at or outside the cache_write loop: the accumulators' box (the loops inside it) must
   not change between the nests that fill and drain it. */
static bool peel_helps(Emit *E, int pos)
{
	int v = loop_var(E, pos);
	int64_t ext = E->extent[v];
	if (!E->vec || E->peeled || ext < 2 || (E->s->cache_at >= 0 && pos > E->s->cache_at))
		return false;
	bool helps = false;
	for (int k = 0; k < E->s->nguards && !helps; k++) {
		const Guard *gd = &E->s->guards[k];
		if (!ix_uses(gd->e, v) || guard_always(E, gd))
			continue;
		E->extent[v] = ext - 1;
		helps = guard_always(E, gd);
		E->extent[v] = ext;
	}
	return helps;
}

/* Level i + 1 inside loop N->pos[i] twice: `if (v < extent - 1)` over the narrower range,
   else with v bound to its last value. */
static void nest_peeled(Emit *E, const Nest *N, int i)
{
	int v = loop_var(E, N->pos[i]);
	int64_t ext = E->extent[v];
	E->peeled = true;
	gen_line(E->G, "if (weft_%s < %lld) {", var_of(E, v)->name, (long long)(ext - 1));
	E->G->ind++;
	E->extent[v] = ext - 1;
	nest_level(E, N, i + 1);
	E->extent[v] = ext;
	E->G->ind--;
	gen_line(E->G, "} else { /* the last %s: its tail */", var_of(E, v)->name);
	E->G->ind++;
	bind_var(E, v, ext - 1);
	nest_level(E, N, i + 1);
	E->bound[v] = false;
	E->G->ind--;
	gen_line(E->G, "}");
	E->peeled = false;
}

/* Level i of the nest: its guards, then loop N->pos[i] around level i + 1 (or the body). The
   stages computed at loop N->pos[i - 1] come last, inside the guards of level i: those guards
   use no loop deeper than it, so they hold for the stages' iterations too. */
static void nest_level(Emit *E, const Nest *N, int i)
{
	int opened = place_guards(E, N, i);
	if (opened < 0)
		return;
	if (i == N->n) {
		N->body(E, N->arg);
	} else {
		int v = loop_var(E, N->pos[i]);
		const Var *x = var_of(E, v);
		if (E->vec && v == E->vvar) {
			/* One chunk of W lanes at a time: vector statements at lane j*W. */
			for (int64_t c = 0; c < x->extent; c += E->W) {
				bind_var(E, v, c);
				E->vlive = true;
				E->vtail = x->extent - c < E->W ? x->extent - c : E->W;
				E->vmask_pending = true;
				E->vmask = E->vlo = E->vhi = E->vbits = NULL;
				E->vlanes_known = false;
				nest_level(E, N, i + 1);
			}
			E->bound[v] = false;
			E->vlive = false;
			E->vmask_pending = false;
			E->vmask = E->vlo = E->vhi = E->vbits = NULL;
		} else if (x->extent == 1 || x->kind == LOOP_UNROLL) {
			for (int64_t c = 0; c < x->extent; c++) {
				bind_var(E, v, c);
				nest_level(E, N, i + 1);
			}
			E->bound[v] = false;
		} else {
			if (x->kind == LOOP_PARALLEL)
				gen_line(E->G, "%s", gen_template(E->G->t, "parallel_for"));
			else if (x->kind == LOOP_VECTOR)
				gen_line(E->G, "%s", gen_template(E->G->t, "simd"));
			gen_line(E->G, "for (%s weft_%s = 0; weft_%s < %lld; weft_%s++) {", E->G->idx, x->name, x->name,
			         (long long)x->extent, x->name);
			E->G->ind++;
			E->npfline = 0;
			if (peel_helps(E, N->pos[i]))
				nest_peeled(E, N, i);
			else
				nest_level(E, N, i + 1);
			gen_end(E->G, x->name);
		}
	}
	if (N->hooks && i > 0)
		run_hooks(E, N->pos[i - 1]);
	if (opened) {
		E->G->ind--;
		gen_line(E->G, "}");
	}
}

static bool guard_uses_pos(const Emit *E, const Guard *gd, const Nest *N, int *level)
{
	int lv = 0;
	for (int i = 0; i < N->n; i++)
		if (ix_uses(gd->e, loop_var(E, N->pos[i])))
			lv = i + 1;
	*level = lv;
	return lv > 0;
}

static bool guard_spatial(const Emit *E, const Guard *gd)
{
	for (int i = 0; i < E->s->nloops; i++) {
		int v = loop_var(E, i);
		if (var_of(E, v)->reduction && ix_uses(gd->e, v))
			return false;
	}
	return true;
}

/* Add the stage's guards that use one of N's loops to N (only the spatial ones when spatial is
   set); the others are placed outside N. */
static void nest_guards(const Emit *E, Nest *N, bool spatial)
{
	for (int k = 0; k < E->s->nguards; k++) {
		const Guard *gd = &E->s->guards[k];
		int level;
		bool uses = guard_uses_pos(E, gd, N, &level);
		if (!uses || (spatial && !guard_spatial(E, gd)))
			continue;
		N->gd[N->ng] = gd;
		N->glevel[N->ng++] = level;
	}
}

/* The positions of the stage's loops in [from, to), the spatial ones only if spatial is set. */
static void nest_loops(const Emit *E, Nest *N, int from, int to, bool spatial)
{
	for (int p = from; p < to; p++)
		if (!spatial || !var_of(E, loop_var(E, p))->reduction)
			N->pos[N->n++] = p;
}

/* ---- the accumulators of cache_write ---- */

/* Row-major index of the box of spatial loops inside the cache loop. */
static const Ix *acc_index(const Emit *E, int64_t *size)
{
	const Ix *e = ix_const(0);
	int64_t n = 1;
	for (int p = E->s->cache_at + 1; p < E->s->nloops; p++) {
		const Var *x = var_of(E, loop_var(E, p));
		if (x->reduction)
			continue;
		e = ix_add(ix_mul(e, x->extent), ix_var(loop_var(E, p)));
		n *= x->extent;
	}
	*size = n;
	return e;
}

static const char *acc_ref(Emit *E)
{
	if (E->vec)
		return vec_acc_ref(E);
	int64_t n;
	const Ix *e = acc_index(E, &n);
	if (n == 1)
		return "weft_acc";
	return ir_fmt("weft_acc[%s]", ix_c(E, fold(E, e)));
}

/* The accumulator's initial value: the folded init stage's, else the tensor's. */
static const char *acc_init_text(Emit *E)
{
	const Stage *s = E->s;
	if (s->init_stage >= 0 && E->P->stages[s->init_stage].folded) {
		const Val *iv;
		const Ix *idx[IR_MAX_RANK];
		kernel_rebase(E, &E->P->stages[s->init_stage], &iv, idx);
		return val_c(E, iv);
	}
	return val_c(E, val_load(s->tensor, T(E, s->tensor)->rank, s->idx));
}

static void body_acc_init(Emit *E, const void *arg)
{
	(void)arg;
	gen_line(E->G, "%s = %s;", acc_ref(E), acc_init_text(E));
}

static void body_acc_update(Emit *E, const void *arg)
{
	(void)arg;
	if (E->vec) {
		const char *acc = acc_ref(E);
		const char *x = vec_combine(E, E->s->accum, acc, E->s->val);
		if (E->vmask)
			x = vec_masked_update(E, acc, x);
		gen_line(E->G, "%s = %s;", acc, x);
		return;
	}
	accumulate(E, E->s->accum, acc_ref(E), val_c(E, E->s->val));
}

/* ---- stages computed at the block's stage ---- */

/* The stages computed at (block's stage, loop pos), in order. */
static int chain_at(const Emit *E, int pos, int *out)
{
	int n = 0;
	for (int i = 0; i < E->P->nstages; i++) {
		const Stage *c = &E->P->stages[i];
		if (c->at_stage == E->si && c->at_loop == pos) {
			if (n == MAX_CHAIN)
				die("more than %d stages computed at %s.%s", MAX_CHAIN, T(E, E->s->tensor)->name, E->s->name);
			out[n++] = i;
		}
	}
	return n;
}

static bool val_reads(const Val *v, int t)
{
	switch (v->kind) {
	case V_LOAD: return v->tensor == t;
	case V_UN: return val_reads(v->a, t);
	case V_BIN: return val_reads(v->a, t) || val_reads(v->b, t);
	default: return false;
	}
}

/* The chain's statements at the current point: each stage's value into a local when a later
   one reads it, stored unless the stage is dead. host_local: the host's value (accumulators). */
static void chain_body(Emit *E, const int *chain, int n, const char *host_local)
{
	int saved = E->nloc;
	if (host_local) {
		E->loc_tensor[E->nloc] = E->s->tensor;
		E->loc_text[E->nloc++] = host_local;
	}
	for (int k = 0; k < n; k++) {
		const Stage *c = &E->P->stages[chain[k]];
		if (c->accum != BIN_NONE || c->nguards > 0)
			die("stage %s of %s is computed at a host but accumulates or has guards", c->name,
			    T(E, c->tensor)->name);
		const Val *v;
		const Ix *idx[IR_MAX_RANK];
		kernel_rebase(E, c, &v, idx);
		bool read_later = false;
		for (int j = k + 1; j < n; j++)
			read_later |= val_reads(E->P->stages[chain[j]].val, c->tensor);
		if (!read_later && c->dead)
			continue; /* nobody needs it */
		const char *text = val_c(E, v);
		if (read_later) {
			const char *name = ir_fmt("weft_v%d", ++E->nextv);
			gen_line(E->G, "const %s %s = %s;", E->vec ? vec_type(E) : "float", name, text);
			E->loc_tensor[E->nloc] = c->tensor;
			E->loc_text[E->nloc++] = name;
			text = name;
		}
		if (!c->dead && E->vec) {
			vec_store(E, c->tensor, idx, text);
		} else if (!c->dead) {
			E->written[c->tensor] = true;
			gen_line(E->G, "%s = %s;", access(E, c->tensor, idx), text);
		}
	}
	E->nloc = saved;
}

static void body_writeback(Emit *E, const void *arg)
{
	const Nest *chain = arg; /* n: count, pos[]: stage ids (reused as a list) */
	const char *acc = acc_ref(E);
	if (!E->s->dead && E->vec) {
		vec_store(E, E->s->tensor, E->s->idx, acc);
	} else if (!E->s->dead) {
		E->written[E->s->tensor] = true;
		gen_line(E->G, "%s = %s;", access(E, E->s->tensor, E->s->idx), acc);
	}
	chain_body(E, chain->pos, chain->n, acc);
}

static void body_chain_mem(Emit *E, const void *arg)
{
	const Nest *chain = arg;
	chain_body(E, chain->pos, chain->n, NULL);
}

/* After the host's loops inside loop pos close: the stages computed at pos (unless they are in
   the writeback of accumulators there), over the host's spatial loops inside pos. */
static void run_hooks(Emit *E, int pos)
{
	if (E->s->cache_at == pos)
		return;
	Nest chain = {0};
	chain.n = chain_at(E, pos, chain.pos);
	if (chain.n == 0)
		return;
	Nest N = {.body = body_chain_mem, .arg = &chain};
	nest_loops(E, &N, pos + 1, E->s->nloops, true);
	nest_guards(E, &N, true);
	nest_level(E, &N, 0);
}

/* Inside the cache loop: accumulators, init nest, accumulating nest, writeback nest. */
static void body_cache(Emit *E, const void *arg)
{
	(void)arg;
	const Stage *s = E->s;
	int64_t n;
	acc_index(E, &n);
	/* Unless the cache loop prints a real `for { }`, this body shares its scope with whatever
	   repeats it (the cache loop unrolled, or an unrolled loop outside a cache loop of extent 1,
	   which prints no `for`): each copy of the accumulators gets a scope of its own. */
	const Var *cv = var_of(E, loop_var(E, s->cache_at));
	bool unrolled_outside = false;
	for (int l = 0; l < s->cache_at; l++)
		if (var_of(E, loop_var(E, l))->extent > 1 && E->bound[loop_var(E, l)])
			unrolled_outside = true;
	bool scope = cv->extent > 1 ? E->bound[loop_var(E, s->cache_at)] : unrolled_outside;
	if (scope) {
		gen_line(E->G, "{");
		E->G->ind++;
	}
	if (E->vec) {
		vec_declare_acc(E);
		Nest init = {.body = body_acc_init};
		nest_loops(E, &init, s->cache_at + 1, s->nloops, true);
		nest_guards(E, &init, true);
		nest_level(E, &init, 0);
	} else if (n == 1) {
		/* No spatial loop inside: one scalar, initialised where it is declared. */
		gen_line(E->G, "float weft_acc = %s;", acc_init_text(E));
	} else {
		gen_line(E->G, "float weft_acc[%lld];", (long long)n);
		Nest init = {.body = body_acc_init};
		nest_loops(E, &init, s->cache_at + 1, s->nloops, true);
		nest_guards(E, &init, true);
		nest_level(E, &init, 0);
	}

	Nest upd = {.body = body_acc_update};
	nest_loops(E, &upd, s->cache_at + 1, s->nloops, false);
	nest_guards(E, &upd, false);
	nest_level(E, &upd, 0);

	Nest chain = {0};
	chain.n = chain_at(E, s->cache_at, chain.pos);
	Nest wb = {.body = body_writeback, .arg = &chain};
	nest_loops(E, &wb, s->cache_at + 1, s->nloops, true);
	nest_guards(E, &wb, true);
	E->tdefer = E->vec && gen_template_find(E->G->vt, "tstore");
	E->tind = E->G->ind;
	nest_level(E, &wb, 0);
	if (E->vec)
		vec_flush_tstores(E);
	E->tdefer = false;
	if (scope) {
		E->G->ind--;
		gen_line(E->G, "}");
	}
}

static void body_store(Emit *E, const void *arg)
{
	(void)arg;
	if (E->vec) {
		vec_store_val(E, E->s->tensor, E->s->idx, E->s->accum, E->s->val);
		return;
	}
	E->written[E->s->tensor] = true;
	accumulate(E, E->s->accum, access(E, E->s->tensor, E->s->idx), val_c(E, E->s->val));
}

/* ---- the block ---- */

/* The stage's nest into body and the pointers it uses into decl, scalar or (E->vec) SIMD. */
static void render(Emit *E, Buf *decl, Buf *body)
{
	Gen *G = E->G;
	const Prog *P = E->P;
	const Stage *s = E->s;
	memset(E->used, 0, sizeof(bool) * (size_t)(E->g->ntensors + 1));
	memset(E->written, 0, sizeof(bool) * (size_t)(E->g->ntensors + 1));
	memset(E->bound, 0, sizeof(bool) * (size_t)(P->nvars + 1));
	E->nextv = 0;
	E->nloc = 0;
	E->nvgroup = 0;
	E->vlive = false;
	E->npfline = 0;
	Buf *out = G->c;
	int ind = G->ind;
	G->c = body;
	G->ind = ind + 1;
	Nest N = {.hooks = true};
	if (s->cache_at >= 0) {
		N.body = body_cache;
		nest_loops(E, &N, 0, s->cache_at + 1, false);
	} else {
		N.body = body_store;
		nest_loops(E, &N, 0, s->nloops, false);
	}
	/* Guards of the outer part; in the cache case, those using a loop inside it go inside. */
	for (int k = 0; k < s->nguards; k++) {
		const Guard *gd = &s->guards[k];
		int level;
		bool inner = false;
		for (int p = s->cache_at + 1; s->cache_at >= 0 && p < s->nloops; p++)
			inner |= ix_uses(gd->e, loop_var(E, p));
		if (inner)
			continue;
		guard_uses_pos(E, gd, &N, &level);
		N.gd[N.ng] = gd;
		N.glevel[N.ng++] = level;
	}
	nest_level(E, &N, 0);
	G->c = decl;
	declare_pointers(E);
	G->c = out;
	G->ind = ind;
}

static void put(Buf *out, Buf *b)
{
	if (b->data)
		buf_puts(out, b->data);
	buf_free(b);
}

void gen_stage(Gen *G, int si)
{
	const Prog *P = G->P;
	const Graph *g = G->g;
	Emit E = {.G = G, .P = P, .g = g, .si = si, .s = &P->stages[si], .vvar = -1};
	E.extent = ir_alloc(sizeof(int64_t) * (size_t)(P->nvars + 1));
	E.value = ir_alloc(sizeof(int64_t) * (size_t)(P->nvars + 1));
	E.bound = ir_alloc(sizeof(bool) * (size_t)(P->nvars + 1));
	E.used = ir_alloc(sizeof(bool) * (size_t)(g->ntensors + 1));
	E.written = ir_alloc(sizeof(bool) * (size_t)(g->ntensors + 1));
	for (int v = 0; v < P->nvars; v++)
		E.extent[v] = P->vars[v].extent;
	const Stage *s = E.s;
	if (s->cache_at >= s->nloops || (s->cache_at >= 0 && var_of(&E, loop_var(&E, s->cache_at))->reduction))
		die("stage %s: bad cache_write loop %d", s->name, s->cache_at);

	/* Each nest goes into a buffer of its own first: the pointers it uses are declared above it.
	   The SIMD branch is tried first; anything it cannot express leaves the scalar nest alone. */
	Buf vdecl = {0}, vbody = {0}, decl = {0}, body = {0};
	bool simd = false;
	if (G->vt && vec_candidate(&E)) {
		E.vec = true;
		if (gen_template_find(G->vt, "alignr")) { /* find the loads worth sharing (vshift.c) */
			Buf pdecl = {0}, pbody = {0};
			E.vprobe = true;
			render(&E, &pdecl, &pbody);
			E.vprobe = false;
			E.vfail = false;
			E.vwhy = NULL;
			buf_free(&pdecl);
			buf_free(&pbody);
		}
		render(&E, &vdecl, &vbody);
		E.vec = false;
		simd = !E.vfail;
	}
	render(&E, &decl, &body);

	gen_provenance(G, si);
	for (int i = 0; i < P->nstages; i++)
		if (P->stages[i].at_stage == si)
			gen_provenance(G, i);
	gen_line(G, "{");
	if (simd) {
		gen_line(G, "#if %s /* %s: %lld floats per vector */", gen_template(G->vt, "guard"), G->vtarget,
		         (long long)E.W);
		put(G->c, &vdecl);
		put(G->c, &vbody);
		gen_line(G, "#else");
	} else {
		buf_free(&vdecl);
		buf_free(&vbody);
		if (E.vwhy) {
			/* Honest about it: the schedule asked for vectors, the target gets scalar code. */
			G->ind++;
			gen_line(G, "/* %s: scalar code: %s */", G->vtarget, gen_comment_text(E.vwhy));
			G->ind--;
		}
	}
	put(G->c, &decl);
	put(G->c, &body);
	if (simd)
		gen_line(G, "#endif");
	gen_line(G, "}");
}
