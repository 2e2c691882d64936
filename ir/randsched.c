/* ir/randsched.c: random legal schedules (fuzzing, the tuner's seeds) and the default schedule.
 *
 * ir_sched_random draws a schedule for a lowered, unscheduled Prog, reproducible from its seed
 * (splitmix64, never rand()). It never asks sched.c: it keeps its own copy of each stage's loops
 * and accesses, applies each directive it draws to that copy (substituting split and fused
 * variables into the indices the way sched.c does) and draws only what ir/loopir.md says is
 * legal. Where a rule is subtle it stays on the safe side: a pad tail only when every access
 * provably stays within the buffer (guards ignored), no pad tail on a stage whose accumulators
 * or consumers would see the padded range (cache_write, compute_at hosts), parallel only outside
 * every reduction loop, at most 1024 accumulators per cache_write, unrolled extents of at most
 * 32 per stage. Decisions that constrain several stages (cache_write, compute_at) are drawn
 * first, then each stage's loops, then the compute_at directives.
 * (The default schedule, ir_sched_default, is in defaults.c.)
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

enum {
	MAX_ACC_BOX = 1024, /* accumulators of one cache_write */
	MAX_UNROLL = 32,    /* product of the unrolled extents of one stage */
	MAX_LOOP_NAME = 31,
};

/* ---- reading the lowered program ---- */


/* The last stage of op (the one that finishes its result); -1 if it has none. */
static int final_stage(const Prog *P, int op)
{
	int last = -1;
	for (int s = 0; s < P->nstages; s++)
		if (P->stages[s].op == op)
			last = s;
	return last;
}

static int count_stages(const Prog *P, int op)
{
	int n = 0;
	for (int s = 0; s < P->nstages; s++)
		n += P->stages[s].op == op;
	return n;
}

/* ---- random numbers: splitmix64 ---- */

typedef struct Rng {
	uint64_t s;
} Rng;

static uint64_t next_u64(Rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int rnd(Rng *r, int n) { return n <= 1 ? 0 : (int)(next_u64(r) % (uint64_t)n); }
static bool chance(Rng *r, int percent) { return rnd(r, 100) < percent; }

static void shuffle(Rng *r, int *a, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = rnd(r, i + 1), t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

/* ---- the simulated stages ---- */

typedef struct Access {
	int tensor;
	int rank;
	const Ix *idx[IR_MAX_RANK];
} Access;

typedef struct SimLoop {
	char name[32];
	int var;
	int64_t ext;
	bool red;
	LoopKind kind;
} SimLoop;

typedef struct Sim {
	int n;
	SimLoop l[IR_MAX_LOOPS];
	Access *acc;
	int nacc, capacc;
	int nguards;
	int cache;       /* cache_write position or -1 */
	int64_t unrolled; /* product of unrolled extents */
} Sim;

typedef struct R {
	const Prog *P;
	const Graph *g;
	Schedule *S;
	Rng rng;
	int64_t *ext;     /* extent of every var, the program's and the simulated ones */
	int next_var, capvar;
	Layout *layout;   /* explicit layout drawn for each tensor (n == 0: logical) */
	Layout *flayout;  /* each tensor's layout after sched.c's propagation */
	bool *converts;   /* per op: sched.c inserts a conversion of an operand */
	Sim *sim;         /* per stage */
	bool *want_cache; /* per stage: cache_write will be drawn */
	bool *no_pad;     /* per stage: no pad tails (accumulators or consumers see the tails) */
	int *host;        /* per stage: the host stage it is computed at, or -1 */
	bool *is_host;
} R;

static int new_var(R *r, int64_t extent)
{
	if (r->next_var == r->capvar) {
		r->capvar *= 2;
		r->ext = ir_xrealloc(r->ext, (size_t)r->capvar * sizeof *r->ext);
	}
	r->ext[r->next_var] = extent;
	return r->next_var++;
}

static void add_access(Sim *s, int tensor, int rank, const Ix *const *idx)
{
	if (s->nacc == s->capacc) {
		s->capacc = s->capacc ? 2 * s->capacc : 8;
		Access *a = ir_alloc((size_t)s->capacc * sizeof *a);
		if (s->nacc)
			memcpy(a, s->acc, (size_t)s->nacc * sizeof *a);
		s->acc = a;
	}
	Access *a = &s->acc[s->nacc++];
	a->tensor = tensor;
	a->rank = rank;
	for (int d = 0; d < rank; d++)
		a->idx[d] = idx[d];
}

static void add_loads(Sim *s, const Graph *g, const Val *v)
{
	if (!v)
		return;
	if (v->kind == V_LOAD)
		add_access(s, v->tensor, g->tensors[v->tensor].rank, v->idx);
	add_loads(s, g, v->a);
	add_loads(s, g, v->b);
}

static void sim_init(R *r, int si)
{
	const Stage *st = &r->P->stages[si];
	Sim *s = &r->sim[si];
	s->n = st->nloops;
	for (int i = 0; i < st->nloops; i++) {
		const Var *v = &r->P->vars[st->loops[i]];
		SimLoop *l = &s->l[i];
		snprintf(l->name, sizeof l->name, "%s", v->name);
		l->var = st->loops[i];
		l->ext = v->extent;
		l->red = v->reduction;
		l->kind = LOOP_SERIAL;
	}
	add_access(s, st->tensor, r->g->tensors[st->tensor].rank, st->idx);
	add_loads(s, r->g, st->val);
	s->nguards = st->nguards;
	s->cache = -1;
	s->unrolled = 1;
}

static void subst_all(Sim *s, int var, const Ix *with)
{
	for (int a = 0; a < s->nacc; a++)
		for (int d = 0; d < s->acc[a].rank; d++)
			s->acc[a].idx[d] = ix_subst(s->acc[a].idx[d], var, with);
}

static bool name_taken(const Sim *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->l[i].name, name))
			return true;
	return false;
}

/* Does every access that uses var v1 or v2 stay inside its tensor's buffer? */
static bool accesses_fit(R *r, int si, int v1, int v2)
{
	const Sim *s = &r->sim[si];
	const Op *op = &r->g->ops[r->P->stages[si].op];
	for (int a = 0; a < s->nacc; a++) {
		const Access *x = &s->acc[a];
		const Tensor *t = &r->g->tensors[x->tensor];
		/* a converted operand is read from a copy in the output's layout */
		const Layout *L = &r->flayout[r->converts[op - r->g->ops] ? op->out : x->tensor];
		for (int d = 0; d < x->rank; d++) {
			if (!ix_uses(x->idx[d], v1) && !ix_uses(x->idx[d], v2))
				continue;
			int64_t lo, hi;
			ix_bounds(x->idx[d], r->ext, &lo, &hi);
			if (lo < 0 || hi >= ir_layout_capacity(L, t->rank, t->dims, d) ||
			    hi >= ir_layout_capacity(&r->flayout[x->tensor], t->rank, t->dims, d))
				return false;
		}
	}
	return true;
}

/* ---- emitting directives (and applying them to the simulation) ---- */

static Directive *add_dir(R *r, int si, DirKind kind)
{
	Directive d = {.kind = kind, .tail = TAIL_GUARD};
	snprintf(d.stage, sizeof d.stage, "%s", ir_stage_label(r->P, si));
	ir_sched_add(r->S, &d);
	return &r->S->d[r->S->n - 1];
}

static void dir_loop(Directive *d, const char *name)
{
	snprintf(d->loops[d->nloops++], sizeof d->loops[0], "%s", name);
}

/* Split loop pos by factor f; false (nothing drawn) when it would be illegal. */
static bool try_split(R *r, int si, int pos, int64_t f, Tail tail)
{
	Sim *s = &r->sim[si];
	SimLoop L = s->l[pos];
	if (s->n >= IR_MAX_LOOPS || f < 2 || f >= L.ext)
		return false;
	if (tail == TAIL_EXACT && L.ext % f != 0)
		return false;
	if (tail == TAIL_GUARD && L.ext % f != 0 && s->nguards >= IR_MAX_GUARDS)
		return false;
	/* a pad tail only on a loop straight from lowering: on the inner part of a split its extra
	   iterations would store to the next block's elements (sched.c rejects that) */
	if (tail == TAIL_PAD && (L.red || r->no_pad[si] || L.var >= r->P->nvars))
		return false;
	/* ... and only while every loop of the stage is as lowered: after a fuse, one loop indexes
	   two dimensions, and sched.c cannot then prove that the tail stores no element twice */
	for (int k = 0; tail == TAIL_PAD && k < s->n; k++)
		if (s->l[k].var >= r->P->nvars)
			return false;
	/* a host's consumers run over its tails: sched.c bounds their accesses by guards that are
	   the host's own indices, so a host guards only loops that are still lowered ones */
	if (tail == TAIL_GUARD && L.ext % f != 0 && r->is_host[si] && L.var >= r->P->nvars)
		return false;
	char on[48], in[48];
	snprintf(on, sizeof on, "%s_o", L.name);
	snprintf(in, sizeof in, "%s_i", L.name);
	if (strlen(on) > MAX_LOOP_NAME || name_taken(s, on) || name_taken(s, in))
		return false;
	int o = new_var(r, (L.ext + f - 1) / f), i = new_var(r, f);
	Sim saved = *s;
	Access *acc = ir_alloc((size_t)s->nacc * sizeof *acc + 1);
	memcpy(acc, s->acc, (size_t)s->nacc * sizeof *acc);
	subst_all(s, L.var, ix_add(ix_mul(ix_var(o), f), ix_var(i)));
	if (tail == TAIL_PAD && !accesses_fit(r, si, o, i)) {
		*s = saved;
		s->acc = acc;
		return false;
	}
	memmove(&s->l[pos + 2], &s->l[pos + 1], (size_t)(s->n - pos - 1) * sizeof s->l[0]);
	s->n++;
	s->l[pos] = (SimLoop){.var = o, .ext = r->ext[o], .red = L.red};
	s->l[pos + 1] = (SimLoop){.var = i, .ext = f, .red = L.red};
	snprintf(s->l[pos].name, sizeof s->l[pos].name, "%.31s", on);
	snprintf(s->l[pos + 1].name, sizeof s->l[pos + 1].name, "%.31s", in);
	if (tail == TAIL_GUARD && L.ext % f != 0)
		s->nguards++;
	Directive *d = add_dir(r, si, SD_SPLIT);
	dir_loop(d, L.name);
	d->factor = f;
	d->tail = tail;
	return true;
}

/* A factor for a loop of extent n (2 <= f < n): small powers of two, odd sizes, divisors. */
static int64_t draw_factor(R *r, int64_t n)
{
	static const int64_t some[] = {2, 3, 4, 5, 7, 8, 16, 32};
	int64_t divs[16];
	int nd = 0;
	for (int64_t f = 2; f < n && nd < 16; f++)
		if (n % f == 0)
			divs[nd++] = f;
	if (nd && chance(&r->rng, 50))
		return divs[rnd(&r->rng, nd)];
	return some[rnd(&r->rng, (int)(sizeof some / sizeof some[0]))];
}

static void draw_split(R *r, int si)
{
	Sim *s = &r->sim[si];
	int cand[IR_MAX_LOOPS], nc = 0;
	for (int i = 0; i < s->n; i++)
		if (s->l[i].ext >= 3)
			cand[nc++] = i;
	if (!nc)
		return;
	int pos = cand[rnd(&r->rng, nc)];
	int64_t f = draw_factor(r, s->l[pos].ext);
	Tail tail;
	int k = rnd(&r->rng, 10);
	if (s->l[pos].ext % f == 0)
		tail = k < 5 ? TAIL_EXACT : k < 9 ? TAIL_GUARD : TAIL_PAD;
	else
		tail = k < 7 ? TAIL_GUARD : TAIL_PAD;
	if (!try_split(r, si, pos, f, tail) && tail == TAIL_PAD)
		try_split(r, si, pos, f, TAIL_GUARD);
}

static void draw_fuse(R *r, int si)
{
	Sim *s = &r->sim[si];
	int cand[IR_MAX_LOOPS], nc = 0;
	for (int i = 0; i + 1 < s->n; i++)
		if (s->l[i].red == s->l[i + 1].red && s->l[i].ext * s->l[i + 1].ext < (1 << 24))
			cand[nc++] = i;
	if (!nc)
		return;
	int pos = cand[rnd(&r->rng, nc)];
	SimLoop a = s->l[pos], b = s->l[pos + 1];
	char name[80];
	snprintf(name, sizeof name, "%s_%s", a.name, b.name);
	if (strlen(name) > MAX_LOOP_NAME || name_taken(s, name))
		return;
	int f = new_var(r, a.ext * b.ext);
	subst_all(s, a.var, ix_div(ix_var(f), b.ext));
	subst_all(s, b.var, ix_mod(ix_var(f), b.ext));
	s->l[pos] = (SimLoop){.var = f, .ext = a.ext * b.ext, .red = a.red};
	snprintf(s->l[pos].name, sizeof s->l[pos].name, "%.31s", name);
	memmove(&s->l[pos + 1], &s->l[pos + 2], (size_t)(s->n - pos - 2) * sizeof s->l[0]);
	s->n--;
	Directive *d = add_dir(r, si, SD_FUSE);
	dir_loop(d, a.name);
	dir_loop(d, b.name);
}

/* A position where cache_write is legal: spatial, every reduction loop inside it, and at most
   MAX_ACC_BOX accumulators; the innermost such when inner, else a random one. -1 if none. */
static int cache_position(R *r, const Sim *s, bool random)
{
	int cand[IR_MAX_LOOPS], nc = 0;
	for (int c = 0; c < s->n; c++) {
		if (s->l[c].red)
			break; /* a reduction at or above c */
		int64_t box = 1;
		for (int i = c + 1; i < s->n; i++)
			if (!s->l[i].red)
				box *= s->l[i].ext;
		if (box <= MAX_ACC_BOX)
			cand[nc++] = c;
	}
	if (!nc)
		return -1;
	return random ? cand[rnd(&r->rng, nc)] : cand[nc - 1];
}

static void draw_reorder(R *r, int si)
{
	Sim *s = &r->sim[si];
	if (s->n < 2)
		return;
	int m = 2 + rnd(&r->rng, s->n - 1); /* how many loops take part */
	int pos[IR_MAX_LOOPS], order[IR_MAX_LOOPS];
	for (int i = 0; i < s->n; i++)
		pos[i] = i;
	shuffle(&r->rng, pos, s->n);
	/* positions in increasing order, and the loops that go there in a random order */
	for (int i = 0; i < m; i++)
		for (int j = i + 1; j < m; j++)
			if (pos[j] < pos[i]) {
				int t = pos[i];
				pos[i] = pos[j];
				pos[j] = t;
			}
	for (int i = 0; i < m; i++)
		order[i] = pos[i];
	shuffle(&r->rng, order, m);
	Sim next = *s;
	for (int i = 0; i < m; i++)
		next.l[pos[i]] = s->l[order[i]];
	if (r->want_cache[si] && cache_position(r, &next, false) < 0)
		return; /* keep the loops cache_write needs */
	memcpy(s->l, next.l, sizeof s->l);
	Directive *d = add_dir(r, si, SD_REORDER);
	for (int i = 0; i < m; i++)
		dir_loop(d, s->l[pos[i]].name);
}

/* ---- loop kinds ---- */

static int first_reduction(const Sim *s)
{
	for (int i = 0; i < s->n; i++)
		if (s->l[i].red)
			return i;
	return s->n;
}

static void set_kind(R *r, int si, int pos, LoopKind kind, DirKind dk)
{
	Sim *s = &r->sim[si];
	s->l[pos].kind = kind;
	Directive *d = add_dir(r, si, dk);
	dir_loop(d, s->l[pos].name);
}

static void draw_kinds(R *r, int si, int cache)
{
	Sim *s = &r->sim[si];
	if (chance(&r->rng, 50)) { /* parallel: spatial, outside every reduction and the accumulators */
		int lim = first_reduction(s), cand[IR_MAX_LOOPS], nc = 0;
		if (cache >= 0 && cache + 1 < lim)
			lim = cache + 1;
		for (int i = 0; i < lim; i++)
			if (s->l[i].ext > 1)
				cand[nc++] = i;
		if (nc)
			set_kind(r, si, cand[rnd(&r->rng, nc)], LOOP_PARALLEL, SD_PARALLEL);
	}
	int in = s->n - 1;
	if (in >= 0 && !s->l[in].red && s->l[in].kind == LOOP_SERIAL && s->l[in].ext >= 2 &&
	    s->l[in].ext <= 64 && chance(&r->rng, 50))
		set_kind(r, si, in, LOOP_VECTOR, SD_VECTORIZE);
	int tries = rnd(&r->rng, 3);
	for (int t = 0; t < tries; t++) {
		int lo = s->n > 3 ? s->n - 3 : 0;
		int pos = lo + rnd(&r->rng, s->n - lo);
		SimLoop *l = &s->l[pos];
		if (l->kind != LOOP_SERIAL || l->ext < 2 || l->ext > 16 || s->unrolled * l->ext > MAX_UNROLL)
			continue;
		s->unrolled *= l->ext;
		set_kind(r, si, pos, LOOP_UNROLL, SD_UNROLL);
	}
}

/* ---- one stage ---- */

static void draw_stage(R *r, int si)
{
	Sim *s = &r->sim[si];
	int steps = rnd(&r->rng, 5);
	for (int k = 0; k < steps; k++) {
		int w = rnd(&r->rng, 100);
		if (w < 50)
			draw_split(r, si);
		else if (w < 65)
			draw_fuse(r, si);
		else
			draw_reorder(r, si);
	}
	int cache = r->want_cache[si] ? cache_position(r, s, true) : -1;
	draw_kinds(r, si, cache);
	if (cache >= 0) {
		s->cache = cache;
		Directive *d = add_dir(r, si, SD_CACHE_WRITE);
		dir_loop(d, s->l[cache].name);
	}
}

/* ---- compute_at ---- */

static bool same_shape(const Tensor *a, const Tensor *b)
{
	if (a->rank != b->rank)
		return false;
	for (int d = 0; d < a->rank; d++)
		if (a->dims[d] != b->dims[d])
			return false;
	return true;
}

/* Can stage s host consumers: it finishes its op's result, storing element (i0, i1, ...) at
   spatial loops i0, i1, ... that cover the whole tensor? */
static bool can_host(const Prog *P, int s)
{
	const Stage *st = &P->stages[s];
	const Op *op = &P->g->ops[st->op];
	const Tensor *t = &P->g->tensors[op->out];
	if (st->tensor != op->out || final_stage(P, st->op) != s || (ir_ops[op->kind].flags & OPF_VIEW))
		return false;
	int nspatial = 0;
	for (int i = 0; i < st->nloops; i++)
		nspatial += !P->vars[st->loops[i]].reduction;
	if (nspatial != t->rank)
		return false;
	for (int d = 0; d < t->rank; d++) {
		const Ix *e = st->idx[d];
		if (e->kind != IX_VAR || P->vars[e->var].reduction || P->vars[e->var].extent != t->dims[d])
			return false;
		for (int j = 0; j < d; j++)
			if (st->idx[j]->var == e->var)
				return false;
	}
	return true;
}

/* A single-stage pointwise op (elementwise, batchnorm): its stage, else -1. */
static int pointwise_stage(const Prog *P, int op)
{
	const Op *o = &P->g->ops[op];
	if (!(ir_ops[o->kind].flags & (OPF_UNARY | OPF_BINARY)) && o->kind != OP_BATCHNORM)
		return -1;
	if (count_stages(P, op) != 1)
		return -1;
	int s = final_stage(P, op);
	return s >= 0 && P->stages[s].tensor == o->out && can_host(P, s) ? s : -1;
}

/* Compute_at fuses the op right after a host (or after the last op already computed at it),
   reading the host's tensor or a chain member's at its own index: such chains are contiguous
   in op order, so whatever else the consumer reads was computed before the host. */
static void plan_compute_at(R *r)
{
	const Prog *P = r->P;
	for (int op = 1; op < r->g->nops; op++) {
		int cs = pointwise_stage(P, op);
		if (cs < 0 || r->converts[op] || !chance(&r->rng, 40))
			continue;
		int prev = final_stage(P, op - 1);
		if (prev < 0)
			continue;
		int h = r->host[prev] >= 0 ? r->host[prev] : can_host(P, prev) ? prev : -1;
		if (h < 0)
			continue;
		const Op *o = &r->g->ops[op];
		const Tensor *out = &r->g->tensors[o->out];
		bool reads_chain = false;
		for (int a = 0; a < o->nargs; a++) {
			int t = o->args[a], fs;
			const Tensor *x = &r->g->tensors[t];
			if (x->producer < 0 || !same_shape(x, out) || (fs = final_stage(P, x->producer)) < 0)
				continue;
			reads_chain |= fs == h || r->host[fs] == h;
		}
		if (!reads_chain)
			continue;
		r->host[cs] = h;
		r->is_host[h] = true;
		r->no_pad[h] = true;
	}
}

/* The loop of host h that its consumers are computed at. */
static int host_loop(R *r, int h)
{
	const Sim *s = &r->sim[h];
	int lim = first_reduction(s) - 1; /* every reduction inside the loop */
	if (lim >= s->n)
		lim = s->n - 1;
	if (s->cache >= 0 && s->cache < lim)
		lim = s->cache;
	return lim < 0 ? -1 : rnd(&r->rng, lim + 1);
}

static void draw_compute_at(R *r)
{
	const Prog *P = r->P;
	int *loop = ir_alloc(sizeof(int) * (size_t)(P->nstages + 1));
	for (int s = 0; s < P->nstages; s++)
		loop[s] = r->is_host[s] ? host_loop(r, s) : -1;
	for (int s = 0; s < P->nstages; s++) {
		int h = r->host[s];
		if (h < 0 || loop[h] < 0)
			continue;
		Directive *d = add_dir(r, s, SD_COMPUTE_AT);
		snprintf(d->host, sizeof d->host, "%s", ir_stage_label(P, h));
		dir_loop(d, r->sim[h].l[loop[h]].name);
	}
}

/* ---- layouts ---- */

/* A random layout for a tensor of these dims (may fail: n == 0). */
static Layout draw_layout(R *r, int rank, const int64_t *dims, bool param)
{
	static const int64_t factors[] = {2, 4, 8, 16};
	Layout L = {0};
	int k = rnd(&r->rng, 10);
	int64_t f1 = factors[rnd(&r->rng, 4)], f2 = factors[rnd(&r->rng, 4)];
	if (rank == 4 && !param && k < 3) { /* NCHWc */
		L.n = 2;
		L.p[0] = (LayoutPrim){.kind = LP_SPLIT, .dim = 1, .factor = f1};
		L.p[1] = (LayoutPrim){.kind = LP_REORDER, .n = 5, .perm = {0, 1, 3, 4, 2}};
	} else if (rank == 4 && param && k < 3) { /* OIHWio */
		L.n = 3;
		L.p[0] = (LayoutPrim){.kind = LP_SPLIT, .dim = 0, .factor = f1};
		L.p[1] = (LayoutPrim){.kind = LP_SPLIT, .dim = 2, .factor = f2};
		L.p[2] = (LayoutPrim){.kind = LP_REORDER, .n = 6, .perm = {0, 2, 4, 5, 3, 1}};
	} else if (rank == 2 && param && k < 3) { /* packed rows: [N/f, K, f] */
		L.n = 2;
		L.p[0] = (LayoutPrim){.kind = LP_SPLIT, .dim = 0, .factor = f1};
		L.p[1] = (LayoutPrim){.kind = LP_REORDER, .n = 3, .perm = {0, 2, 1}};
	} else {
		int pr = rank, nprims = 1 + rnd(&r->rng, 3);
		for (int i = 0; i < nprims && L.n < IR_MAX_PRIMS; i++) {
			LayoutPrim *p = &L.p[L.n];
			int w = rnd(&r->rng, 10);
			if (w < 4 && pr < IR_MAX_PHYS) {
				*p = (LayoutPrim){.kind = LP_SPLIT, .dim = rnd(&r->rng, pr), .factor = factors[rnd(&r->rng, 4)]};
				pr++;
			} else if (w < 7 && pr >= 2) {
				*p = (LayoutPrim){.kind = LP_REORDER, .n = pr};
				for (int j = 0; j < pr; j++)
					p->perm[j] = j;
				shuffle(&r->rng, p->perm, pr);
			} else if (w < 8 && pr >= 2) {
				*p = (LayoutPrim){.kind = LP_FUSE, .dim = rnd(&r->rng, pr - 1)};
				pr--;
			} else {
				*p = (LayoutPrim){.kind = LP_PAD, .dim = rnd(&r->rng, pr), .before = rnd(&r->rng, 3),
				                  .after = rnd(&r->rng, 3)};
			}
			L.n++;
		}
	}
	int prank;
	int64_t pd[IR_MAX_PHYS];
	char err[160];
	if (!ir_layout_shape(&L, rank, dims, &prank, pd, err, sizeof err))
		L.n = 0;
	return L;
}

static void draw_layouts(R *r)
{
	const Graph *g = r->g;
	for (int t = 0; t < g->ntensors; t++) {
		const Tensor *x = &g->tensors[t];
		if (x->kind == TENSOR_INPUT || x->output_index >= 0 || x->rank < 1 || x->internal)
			continue; /* inputs, outputs and weft's own tensors keep the logical layout */
		if (!chance(&r->rng, 30))
			continue;
		Layout L = draw_layout(r, x->rank, x->dims, x->kind == TENSOR_PARAM);
		if (L.n == 0)
			continue;
		r->layout[t] = L;
		Directive d = {.kind = SD_LAYOUT, .layout = L};
		snprintf(d.tensor, sizeof d.tensor, "%s", x->name);
		ir_sched_add(r->S, &d);
	}
}

/* The layouts sched.c will give every tensor: the explicit ones, then, op by op, an
   elementwise op's or pool's result without one takes the layout of its first argument that
   has one, the same shape (pools: the same rank) and a layout that applies to it; a binary op
   whose same-shaped operands then disagree gets conversions (mirrors sched.c's propagate). */
static bool is_elementwise(OpKind k) { return (ir_ops[k].flags & (OPF_UNARY | OPF_BINARY)) || k == OP_BATCHNORM; }
static bool is_pool(OpKind k) { return k == OP_MAXPOOL2D || k == OP_AVGPOOL2D || k == OP_GLOBAL_AVGPOOL; }

static void simulate_layouts(R *r)
{
	const Graph *g = r->g;
	for (int t = 0; t < g->ntensors; t++)
		r->flayout[t] = r->layout[t];
	for (int i = 0; i < g->nops; i++) {
		const Op *op = &g->ops[i];
		const Tensor *out = &g->tensors[op->out];
		if (r->layout[op->out].n == 0 && out->output_index < 0 &&
		    (is_elementwise(op->kind) || is_pool(op->kind)))
			for (int a = 0; a < op->nargs; a++) {
				const Tensor *x = &g->tensors[op->args[a]];
				const Layout *xl = &r->flayout[op->args[a]];
				if (xl->n == 0 || (is_pool(op->kind) ? x->rank != out->rank : !same_shape(x, out)))
					continue;
				int prank;
				int64_t pd[IR_MAX_PHYS];
				if (ir_layout_shape(xl, out->rank, out->dims, &prank, pd, NULL, 0)) {
					r->flayout[op->out] = *xl;
					break;
				}
			}
		if ((ir_ops[op->kind].flags & OPF_BINARY) && same_shape(&g->tensors[op->args[0]], out) &&
		    same_shape(&g->tensors[op->args[1]], out) &&
		    !ir_layout_equal(&r->flayout[op->args[0]], &r->flayout[op->args[1]]))
			r->converts[i] = true;
	}
}

/* ---- the whole schedule ---- */

void ir_sched_random(const Prog *P, uint64_t seed, Schedule *S)
{
	int ns = P->nstages;
	R r = {.P = P, .g = P->g, .S = S, .rng = {seed}};
	next_u64(&r.rng);
	r.capvar = P->nvars + 64;
	r.ext = ir_xrealloc(NULL, (size_t)r.capvar * sizeof *r.ext);
	for (int v = 0; v < P->nvars; v++)
		r.ext[v] = P->vars[v].extent;
	r.next_var = P->nvars;
	r.layout = ir_alloc(sizeof(Layout) * (size_t)(r.g->ntensors + 1));
	r.sim = ir_alloc(sizeof(Sim) * (size_t)(ns + 1));
	r.want_cache = ir_alloc((size_t)ns + 1);
	r.no_pad = ir_alloc((size_t)ns + 1);
	r.is_host = ir_alloc((size_t)ns + 1);
	r.host = ir_alloc(sizeof(int) * (size_t)(ns + 1));
	for (int s = 0; s < ns; s++)
		r.host[s] = -1;

	r.flayout = ir_alloc(sizeof(Layout) * (size_t)(r.g->ntensors + 1));
	r.converts = ir_alloc((size_t)r.g->nops + 1);
	draw_layouts(&r);
	simulate_layouts(&r);
	for (int s = 0; s < ns; s++) {
		sim_init(&r, s);
		if (ir_stage_accumulates(P, s) && chance(&r.rng, 60)) {
			r.want_cache[s] = true;
			r.no_pad[s] = true;
		}
	}
	plan_compute_at(&r);
	for (int s = 0; s < ns; s++) {
		const Stage *st = &P->stages[s];
		if (r.host[s] >= 0)
			continue; /* computed at its host, over the host's loops */
		bool folded = false; /* the init of an update that will cache_write */
		for (int u = s + 1; u < ns; u++)
			if (P->stages[u].init_stage == s && r.want_cache[u])
				folded = true;
		if (folded || st->tensor < 0)
			continue;
		draw_stage(&r, s);
	}
	draw_compute_at(&r);
	free(r.ext);
}
