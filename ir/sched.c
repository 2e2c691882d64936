/* ir/sched.c: applying a schedule to a lowered program.
 *
 * ir_sched_apply works in five steps, in this order:
 *  1. layouts: every tensor starts logical; the layout directives are checked and applied in
 *     file order, all of them before any loop directive wherever they appear in the file, so
 *     that a split with a padded tail is judged against the final layouts;
 *  2. propagation and conversions (ir/loopir.md "Layout propagation"): ops in order, each
 *     elementwise op or pool without a layout of its own takes its input's; where the two
 *     operands of a binary op disagree, a copy stage "convert" into an internal tensor in the
 *     output's layout goes right before the op's stages. Stage ids change here and never later;
 *  3. every update stage gets its init stage (the stage right before it storing the same
 *     tensor with accum BIN_NONE);
 *  4. the loop directives, in file order, each checked against the program as scheduled so far
 *     and applied if legal (schedcheck.c); an illegal one is reported and skipped, so that one
 *     run reports every mistake of a schedule;
 *  5. dead flags: tensors that a compute_at chain passes in locals are never stored.
 * Also here: ir_stage_accesses_fit, the range analysis schedcheck.c uses to judge padded tails
 * (exact ranges by enumerating an index's variables under the guards, when small enough).
 * Assumes P comes straight from ir_lower (no schedule state yet) and the graph is inferred.
 * Reapplying to a new lowering of the same graph reuses the conversion tensors it made.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

void ir_sched_add(Schedule *S, const Directive *d)
{
	if (S->n == S->cap) {
		S->cap = S->cap ? 2 * S->cap : 16;
		S->d = ir_xrealloc(S->d, (size_t)S->cap * sizeof *S->d);
	}
	S->d[S->n++] = *d;
}

/* ---- names ---- */

static const char *tail_word(Tail t)
{
	return t == TAIL_EXACT ? "exact" : t == TAIL_GUARD ? "guard" : "pad";
}

char *ir_directive_str(const Directive *d)
{
	switch (d->kind) {
	case SD_LAYOUT:
		return ir_fmt("layout %s = %s", d->tensor, d->layout.n ? ir_layout_str(&d->layout) : "logical");
	case SD_SPLIT:
		return ir_fmt("%s: split(%s, %lld, %s)", d->stage, d->loops[0], (long long)d->factor,
			tail_word(d->tail));
	case SD_REORDER: {
		char *s = ir_fmt("%s: reorder(", d->stage);
		for (int i = 0; i < d->nloops; i++)
			s = ir_fmt("%s%s%s", s, i ? ", " : "", d->loops[i]);
		return ir_fmt("%s)", s);
	}
	case SD_FUSE:
		return ir_fmt("%s: fuse(%s, %s)", d->stage, d->loops[0], d->loops[1]);
	case SD_UNROLL:
		return ir_fmt("%s: unroll(%s)", d->stage, d->loops[0]);
	case SD_VECTORIZE:
		return ir_fmt("%s: vectorize(%s)", d->stage, d->loops[0]);
	case SD_PARALLEL:
		return ir_fmt("%s: parallel(%s)", d->stage, d->loops[0]);
	case SD_CACHE_WRITE:
		return ir_fmt("%s: cache_write(%s)", d->stage, d->loops[0]);
	case SD_COMPUTE_AT:
		return ir_fmt("%s: compute_at(%s, %s)", d->stage, d->host, d->loops[0]);
	case SD_PREFETCH:
		return ir_fmt("%s: prefetch(%s, %s)", d->stage, d->tensor, d->loops[0]);
	}
	die("directive kind %d", (int)d->kind);
}

int ir_find_stage(const Prog *P, const char *name)
{
	const char *dot = strchr(name, '.');
	if (!dot || dot - name > IR_MAX_NAME)
		return -1;
	int t = ir_find_tensor(P->g, ir_strndup(name, (size_t)(dot - name)));
	if (t < 0)
		return -1;
	const Tensor *T = &P->g->tensors[t];
	if (T->kind != TENSOR_VALUE || T->producer < 0 || P->g->ops[T->producer].out != t)
		return -1;
	for (int i = 0; i < P->nstages; i++)
		if (P->stages[i].op == T->producer && strcmp(P->stages[i].name, dot + 1) == 0)
			return i;
	return -1;
}

/* ---- 1. layout directives ---- */

/* Checks and applies every layout directive; explicit[t] becomes the directive index. */
static void apply_layouts(Prog *P, const Schedule *S, int *explicit)
{
	Graph *g = P->g;
	for (int i = 0; i < S->n; i++) {
		const Directive *d = &S->d[i];
		if (d->kind != SD_LAYOUT)
			continue;
		const char *text = ir_directive_str(d);
		int t = ir_find_tensor(g, d->tensor);
		if (t < 0) {
			error_at(d->loc, "%s: there is no tensor %s in model %s", text, d->tensor, g->name);
			continue;
		}
		Tensor *T = &g->tensors[t];
		char err[512];
		int prank;
		int64_t pdims[IR_MAX_PHYS];
		if (T->kind == TENSOR_INPUT || T->output_index >= 0)
			error_at(d->loc, "%s: %s is a model %s; inputs and outputs keep the logical layout",
				text, T->name, T->kind == TENSOR_INPUT ? "input" : "output");
		else if (T->internal)
			error_at(d->loc, "%s: %s is internal to %s (made by weft); only the model's params "
				"and intermediates take a layout", text, T->name,
				g->tensors[g->ops[T->producer].out].name);
		else if (explicit[t] >= 0)
			error_at(d->loc, "%s: %s already has a layout (line %d)", text, T->name,
				S->d[explicit[t]].loc.line);
		else if (!ir_layout_shape(&d->layout, T->rank, T->dims, &prank, pdims, err, sizeof err)) {
			/* err starts with the failing primitive; it says nothing new when it is the only one */
			const char *why = err, *prim = ir_layout_str(&d->layout);
			size_t n = strlen(prim);
			if (strncmp(err, prim, n) == 0 && strncmp(err + n, ": ", 2) == 0)
				why = err + n + 2;
			error_at(d->loc, "%s: %s (%s is %s)", text, why, T->name, ir_shape_str(T->rank, T->dims));
		}
		else {
			T->layout = d->layout;
			explicit[t] = i;
		}
	}
}

/* ---- 2. propagation and conversions ---- */

static bool same_shape(const Tensor *a, const Tensor *b)
{
	return a->rank == b->rank && memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) == 0;
}

static bool is_pool(OpKind k)
{
	return k == OP_MAXPOOL2D || k == OP_AVGPOOL2D || k == OP_GLOBAL_AVGPOOL;
}

static bool is_elementwise(OpKind k)
{
	return (ir_ops[k].flags & (OPF_UNARY | OPF_BINARY)) || k == OP_BATCHNORM;
}

/* The output of op i takes the layout of the first argument that has one, the same shape
   (pools: the same rank), and a layout that applies to the output's dims. */
static void propagate(Graph *g, int i, const int *explicit)
{
	const Op *op = &g->ops[i];
	Tensor *out = &g->tensors[op->out];
	if (explicit[op->out] >= 0 || out->output_index >= 0 || out->layout.n > 0)
		return;
	if (!is_elementwise(op->kind) && !is_pool(op->kind))
		return;
	for (int a = 0; a < op->nargs; a++) {
		const Tensor *x = &g->tensors[op->args[a]];
		if (x->layout.n == 0 || (is_pool(op->kind) ? x->rank != out->rank : !same_shape(x, out)))
			continue;
		int prank;
		int64_t pdims[IR_MAX_PHYS];
		if (ir_layout_shape(&x->layout, out->rank, out->dims, &prank, pdims, NULL, 0)) {
			out->layout = x->layout;
			return;
		}
	}
}

static const char *layout_name(const Layout *L, int rank)
{
	if (L->n > 0)
		return ir_layout_str(L);
	return rank == 4 ? "NCHW" : "the row-major layout";
}

/* Tensor "<x>__as_<out>" (a shorter unique name when that is too long), reused if it exists. */
static int conversion_tensor(Graph *g, int op, int x)
{
	const char *xn = g->tensors[x].name, *on = g->tensors[g->ops[op].out].name;
	char *name = ir_fmt("%s__as_%s", xn, on);
	if (strlen(name) > IR_MAX_NAME)
		name = ir_fmt("%.40s__as_%d_%d", xn, op, x);
	int id = ir_find_tensor(g, name);
	if (id < 0) {
		g->tensors = ir_xrealloc(g->tensors, (size_t)(g->ntensors + 1) * sizeof *g->tensors);
		id = g->ntensors++;
	}
	Tensor *t = &g->tensors[id], *src = &g->tensors[x];
	memset(t, 0, sizeof *t);
	memcpy(t->name, name, strlen(name) + 1);
	t->kind = TENSOR_VALUE;
	t->loc = g->ops[op].stmt_loc;
	t->rank = src->rank;
	memcpy(t->dims, src->dims, sizeof t->dims);
	t->producer = op;
	t->input_index = t->output_index = -1;
	t->view_of = t->last_use = -1;
	t->internal = true;
	t->layout = g->tensors[g->ops[op].out].layout;
	return id;
}

/* A new stage at position at of the stage array; ids stored in stages and vars are moved along. */
static Stage *insert_stage(Prog *P, int at, int op, const char *name)
{
	ir_new_stage(P, op, name);
	Stage s = P->stages[P->nstages - 1];
	memmove(&P->stages[at + 1], &P->stages[at], (size_t)(P->nstages - 1 - at) * sizeof s);
	P->stages[at] = s;
	for (int j = 0; j < P->nstages; j++) {
		Stage *o = &P->stages[j];
		if (j != at && o->init_stage >= at)
			o->init_stage++;
		if (j != at && o->at_stage >= at)
			o->at_stage++;
	}
	for (int v = 0; v < P->nvars; v++)
		if (P->vars[v].stage >= at)
			P->vars[v].stage++;
	return &P->stages[at];
}

static const Val *retensor(const Val *v, int from, int to)
{
	switch (v->kind) {
	case V_LOAD:
		if (v->tensor == from) {
			Val *n = ir_alloc(sizeof *n);
			*n = *v;
			n->tensor = to;
			return n;
		}
		return v;
	case V_UN:
		return val_un(v->fn, retensor(v->a, from, to), v->p1, v->p2);
	case V_BIN:
		return val_bin(v->bin, retensor(v->a, from, to), retensor(v->b, from, to));
	default:
		return v;
	}
}

/* Operand a of op i becomes a copy in the output's layout, made right before the op's stages. */
static void convert(Prog *P, int i, int a, int nth)
{
	Graph *g = P->g;
	int x = g->ops[i].args[a];
	int t = conversion_tensor(g, i, x);
	const Tensor *X = &g->tensors[x], *Out = &g->tensors[g->ops[i].out];
	note_at(g->ops[i].loc, "%s %s: converting %s from %s to %s, the layout of %s",
		ir_ops[g->ops[i].kind].name, Out->name, X->name, layout_name(&X->layout, X->rank),
		layout_name(&Out->layout, Out->rank), Out->name);
	int at = 0;
	while (at < P->nstages && P->stages[at].op != i)
		at++;
	Stage *s = insert_stage(P, at, i, nth ? ir_fmt("convert%d", nth) : "convert");
	s->tensor = t;
	int rank = g->tensors[t].rank;
	const Ix *iv[IR_MAX_RANK];
	for (int d = 0; d < rank; d++) {
		iv[d] = ix_var(ir_new_var(P, ir_fmt("d%d", d), g->tensors[t].dims[d], false, at));
		s = &P->stages[at];
		s->loops[s->nloops++] = iv[d]->var;
		s->idx[d] = iv[d];
	}
	s->val = val_load(x, rank, iv);
	for (int j = at + 1; j < P->nstages; j++)
		if (P->stages[j].op == i)
			P->stages[j].val = retensor(P->stages[j].val, x, t);
}

/* A binary op whose same-shaped operands have different layouts: each operand not in the
   output's layout is converted. */
static void conversions(Prog *P, int i)
{
	Graph *g = P->g;
	const Op *op = &g->ops[i];
	if (!(ir_ops[op->kind].flags & OPF_BINARY))
		return;
	const Tensor *out = &g->tensors[op->out];
	const Tensor *a = &g->tensors[op->args[0]], *b = &g->tensors[op->args[1]];
	if (!same_shape(a, out) || !same_shape(b, out) || ir_layout_equal(&a->layout, &b->layout))
		return;
	int nth = 0, o = op->out; /* convert() adds a tensor: no Tensor pointers across it */
	for (int k = 0; k < 2; k++)
		if (!ir_layout_equal(&g->tensors[g->ops[i].args[k]].layout, &g->tensors[o].layout))
			convert(P, i, k, nth++);
}

/* ---- 3. init stages ---- */

static void find_init_stages(Prog *P)
{
	for (int i = 0; i < P->nstages; i++) {
		Stage *s = &P->stages[i];
		s->init_stage = -1;
		if (s->accum == BIN_NONE)
			continue;
		for (int j = i - 1; j >= 0 && P->stages[j].op == s->op; j--)
			if (P->stages[j].tensor == s->tensor) {
				if (P->stages[j].accum == BIN_NONE)
					s->init_stage = j;
				break;
			}
	}
}

/* ---- 5. dead tensors ---- */

static bool reads(const Val *v, int t)
{
	switch (v->kind) {
	case V_LOAD: return v->tensor == t;
	case V_UN: return reads(v->a, t);
	case V_BIN: return reads(v->a, t) || reads(v->b, t);
	default: return false;
	}
}

/* Is tensor of stage si read only by later stages of the chain computed at (host, loop), and
   written only by si (and its folded init stage)? */
static bool only_chain_reads(const Prog *P, int si, int host, int loop)
{
	const Stage *s = &P->stages[si];
	if (P->g->tensors[s->tensor].output_index >= 0)
		return false;
	for (int j = 0; j < P->nstages; j++) {
		const Stage *r = &P->stages[j];
		if (j == si || (j == s->init_stage && r->folded))
			continue;
		if (r->tensor == s->tensor)
			return false;
		if (reads(r->val, s->tensor) && (r->at_stage != host || r->at_loop != loop || j < si))
			return false;
	}
	return true;
}

static void mark_dead(Prog *P)
{
	for (int i = 0; i < P->nstages; i++) {
		Stage *s = &P->stages[i];
		if (s->at_stage >= 0) {
			s->dead = only_chain_reads(P, i, s->at_stage, s->at_loop);
			continue;
		}
		if (s->cache_at < 0)
			continue;
		bool hosts = false; /* chain members at the cache_write loop read the accumulators */
		for (int j = 0; j < P->nstages; j++)
			hosts |= P->stages[j].at_stage == i && P->stages[j].at_loop == s->cache_at;
		s->dead = hosts && only_chain_reads(P, i, i, s->cache_at);
	}
}

/* ---- the room of accesses (for schedcheck.c: padded tails) ---- */

static bool only_spatial(const Prog *P, const Ix *e)
{
	switch (e->kind) {
	case IX_CONST: return true;
	case IX_VAR: return e->var < P->nvars && !P->vars[e->var].reduction;
	default: return only_spatial(P, e->a) && (!e->b || only_spatial(P, e->b));
	}
}

/* The values e takes in stage s: its bounds over the loop extents, narrowed by a guard of s on
   the same expression (guards with reduction variables only when with_reduction_guards). */
static void guarded_range(const Prog *P, const Stage *s, const Ix *e, const int64_t *ext,
	bool with_reduction_guards, int64_t *lo, int64_t *hi)
{
	ix_bounds(e, ext, lo, hi);
	for (int i = 0; i < s->nguards; i++) {
		const Guard *g = &s->guards[i];
		if (!ix_equal(g->e, e) || (!with_reduction_guards && !only_spatial(P, g->e)))
			continue;
		if (g->lo > *lo)
			*lo = g->lo;
		if (g->hi - 1 < *hi)
			*hi = g->hi - 1;
	}
}

enum { MAX_VARS_OF = 16, MAX_ENUM = 1 << 20 };

/* The distinct variables of e into vars (at most MAX_VARS_OF; false if more). */
static bool vars_of(const Ix *e, int *vars, int *n)
{
	if (e->kind == IX_CONST)
		return true;
	if (e->kind == IX_VAR) {
		for (int i = 0; i < *n; i++)
			if (vars[i] == e->var)
				return true;
		if (*n == MAX_VARS_OF)
			return false;
		vars[(*n)++] = e->var;
		return true;
	}
	return vars_of(e->a, vars, n) && (!e->b || vars_of(e->b, vars, n));
}

/* The exact values e takes in stage s where every guard that uses only e's variables holds,
   by enumerating those variables (guards with reduction variables only when
   with_reduction_guards); ranges too large to enumerate fall back to guarded_range, which may
   be wider, never narrower. nvals: entries of ext. lo > hi when e is never reached. */
static void exact_range(const Prog *P, const Stage *s, const Ix *e, const int64_t *ext, int nvals,
	bool with_reduction_guards, int64_t *lo, int64_t *hi)
{
	int vars[MAX_VARS_OF], nv = 0;
	int64_t count = 1;
	bool ok = vars_of(e, vars, &nv);
	for (int i = 0; ok && i < nv; i++)
		if ((count *= ext[vars[i]]) > MAX_ENUM)
			ok = false;
	if (!ok) {
		guarded_range(P, s, e, ext, with_reduction_guards, lo, hi);
		return;
	}
	const Guard *gs[IR_MAX_GUARDS];
	int ng = 0;
	for (int i = 0; i < s->nguards; i++) {
		int gv[MAX_VARS_OF], ngv = 0;
		bool inside = vars_of(s->guards[i].e, gv, &ngv);
		for (int j = 0; inside && j < ngv; j++) {
			bool found = false;
			for (int k = 0; k < nv; k++)
				found |= gv[j] == vars[k];
			inside = found;
		}
		if (inside && (with_reduction_guards || only_spatial(P, s->guards[i].e)))
			gs[ng++] = &s->guards[i];
	}
	int64_t *vals = calloc((size_t)nvals + 1, sizeof *vals);
	if (!vals)
		die("out of memory");
	*lo = INT64_MAX;
	*hi = INT64_MIN;
	for (int64_t n = 0; n < count; n++) {
		bool hold = true;
		for (int i = 0; i < ng && hold; i++) {
			int64_t v = ix_eval(gs[i]->e, vals);
			hold = v >= gs[i]->lo && v < gs[i]->hi;
		}
		if (hold) {
			int64_t v = ix_eval(e, vals);
			*lo = v < *lo ? v : *lo;
			*hi = v > *hi ? v : *hi;
		}
		for (int i = nv - 1; i >= 0 && ++vals[vars[i]] == ext[vars[i]]; i--)
			vals[vars[i]] = 0;
	}
	free(vals);
}

typedef struct Room {
	const Prog *P;
	const Stage *s;          /* whose guards narrow the ranges */
	const int64_t *ext;
	int nvals;               /* entries of ext */
	bool reduction_guards;
	int var1, var2;          /* only dims using one of these (-1: every dim) */
	AccessMiss *miss;
} Room;

static bool access_fits(Room *r, int t, const Ix *const *idx)
{
	const Tensor *T = &r->P->g->tensors[t];
	for (int d = 0; d < T->rank; d++) {
		if (r->var1 >= 0 && !ix_uses(idx[d], r->var1) && !ix_uses(idx[d], r->var2))
			continue;
		int64_t lo, hi, cap = ir_layout_capacity(&T->layout, T->rank, T->dims, d);
		exact_range(r->P, r->s, idx[d], r->ext, r->nvals, r->reduction_guards, &lo, &hi);
		if (lo <= hi && (lo < 0 || hi >= cap)) {
			*r->miss = (AccessMiss){t, d, lo < 0 ? lo : hi, cap};
			return false;
		}
	}
	return true;
}

static bool loads_fit(Room *r, const Val *v)
{
	switch (v->kind) {
	case V_LOAD: return access_fits(r, v->tensor, v->idx);
	case V_UN: return loads_fit(r, v->a);
	case V_BIN: return loads_fit(r, v->a) && loads_fit(r, v->b);
	default: return true;
	}
}

bool ir_stage_accesses_fit(const Prog *P, const Stage *s, const int64_t *ext, int nvals,
	bool reduction_guards, int var1, int var2, AccessMiss *miss)
{
	Room r = {P, s, ext, nvals, reduction_guards, var1, var2, miss};
	return access_fits(&r, s->tensor, s->idx) && loads_fit(&r, s->val);
}

/* ---- the driver ---- */

bool ir_sched_apply(Prog *P, const Schedule *S)
{
	Graph *g = P->g;
	int nerrors = ir_nerrors;
	int *explicit = malloc((size_t)(g->ntensors + 1) * sizeof *explicit);
	if (!explicit)
		die("out of memory");
	for (int t = 0; t < g->ntensors; t++) {
		explicit[t] = -1;
		g->tensors[t].layout = (Layout){0};
	}
	apply_layouts(P, S, explicit);
	int nops = g->nops;
	for (int i = 0; i < nops; i++) {
		propagate(g, i, explicit);
		conversions(P, i);
	}
	free(explicit);
	find_init_stages(P);

	int nvars0 = P->nvars;
	for (int i = 0; i < S->n; i++)
		if (S->d[i].kind != SD_LAYOUT)
			ir_sched_loop_directive(P, &S->d[i], nvars0);
	mark_dead(P);
	return ir_nerrors == nerrors;
}
