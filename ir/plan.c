/* ir/plan.c: static memory planning.
 *
 * Decides where every tensor's bytes live in the generated code: the caller's input and output
 * pointers, the static parameter arrays, or an offset into the one workspace the caller provides.
 * Intermediates that are never live at the same op share workspace bytes (greedy interval
 * packing, biggest first); reshape/flatten outputs are views of their input's bytes (when both
 * have the logical layout), and elementwise ops write in place over an argument that dies at
 * them (same shape and layout). A tensor's bytes are its layout's, padding included.
 * With the scheduled program (ir_plan_prog), lifetimes are counted in the blocks the generator
 * prints (a stage computed at another runs inside its host's block, so its tensor is live there)
 * and dead values passed in locals get no bytes; without it (ir_plan), in ops, and a tensor made
 * by lowering lives during its op only.
 * Assumes ir_infer succeeded: every tensor has its shape, ops are in topological order.
 */
#include "ir.h"

#include <stdlib.h>

/* A buffer: workspace bytes shared by one or more tensors (views and in-place results). */
typedef struct Buffer {
	int64_t size;   /* bytes, rounded up to IR_ALIGN */
	int start, end; /* times from the first write to the last read, inclusive */
	int64_t offset; /* bytes into the workspace */
} Buffer;

/* Times: without a program, op ids; with one, the top-level stage in whose block a stage is
   printed (a stage computed at a host, or a folded init, takes its host's time). */
typedef struct Planner {
	Graph *g;
	const Prog *P;  /* or NULL */
	int *first;     /* tensor id -> time of its first write, or -1 */
	int *last;      /* tensor id -> time of its last read (or accumulating write), or -1 */
	bool *nobytes;  /* tensor id -> never in memory (dead values passed in locals) */
	int *buf_of;    /* tensor id -> buffer index, or -1 when not in the workspace */
	Buffer *bufs;
	int nbufs;
} Planner;

static int64_t align_up(int64_t n) { return (n + IR_ALIGN - 1) / IR_ALIGN * IR_ALIGN; }

/* Bytes of a tensor in its layout, padding included. */
static int64_t tensor_bytes(const Tensor *t)
{
	return ir_layout_numel(&t->layout, t->rank, t->dims) * (int64_t)sizeof(float);
}

static bool is_output(const Tensor *t) { return t->output_index >= 0; }
static bool is_logical(const Tensor *t) { return t->layout.n == 0; }

/* Every tensor's last reading op. Inputs and params get theirs too (the dump shows them). */
static void compute_last_use(Graph *g)
{
	for (int i = 0; i < g->ntensors; i++)
		g->tensors[i].last_use = -1;
	for (int i = 0; i < g->nops; i++)
		for (int a = 0; a < g->ops[i].nargs; a++)
			g->tensors[g->ops[i].args[a]].last_use = i;
}

static void see(int *first, int *last, int t, int time, bool write)
{
	if (write && (first[t] < 0 || time < first[t]))
		first[t] = time;
	if (!write && time > last[t])
		last[t] = time;
}

/* The stage in whose block stage si is printed (gen_stage_slot). */
static int stage_time(const Prog *P, int si)
{
	for (int steps = 0; steps <= P->nstages; steps++) {
		const Stage *s = &P->stages[si];
		if (s->at_stage >= 0) {
			si = s->at_stage;
		} else if (s->folded) {
			int u = -1;
			for (int i = 0; i < P->nstages && u < 0; i++)
				if (P->stages[i].init_stage == si && P->stages[i].cache_at >= 0)
					u = i;
			if (u < 0)
				die("plan: stage %d is folded into no update", si);
			si = u;
		} else {
			return si;
		}
	}
	die("plan: compute_at of stage %d forms a cycle", si);
}

static void see_reads(Planner *pl, const Val *v, int time)
{
	switch (v->kind) {
	case V_LOAD: see(pl->first, pl->last, v->tensor, time, false); break;
	case V_UN: see_reads(pl, v->a, time); break;
	case V_BIN:
		see_reads(pl, v->a, time);
		see_reads(pl, v->b, time);
		break;
	default: break;
	}
}

/* Is stage s's store only ever in locals (a dead stage computed at a host or caching)? */
static bool store_in_locals(const Stage *s)
{
	return s->folded || (s->dead && (s->at_stage >= 0 || s->cache_at >= 0));
}

/* First write and last read of every tensor, in op ids or in stage times. */
static void compute_times(Planner *pl)
{
	Graph *g = pl->g;
	for (int i = 0; i < g->ntensors; i++) {
		pl->first[i] = pl->last[i] = -1;
		pl->nobytes[i] = false;
	}
	if (!pl->P) {
		for (int i = 0; i < g->nops; i++) {
			see(pl->first, pl->last, g->ops[i].out, i, true);
			for (int a = 0; a < g->ops[i].nargs; a++)
				see(pl->first, pl->last, g->ops[i].args[a], i, false);
		}
		/* Internal tensors (made by lowering) live during their op only. */
		for (int t = 0; t < g->ntensors; t++)
			if (g->tensors[t].internal && g->tensors[t].producer >= 0) {
				see(pl->first, pl->last, t, g->tensors[t].producer, true);
				see(pl->first, pl->last, t, g->tensors[t].producer, false);
			}
		return;
	}
	const Prog *P = pl->P;
	bool *in_memory = ir_alloc(sizeof(bool) * (size_t)(g->ntensors + 1));
	bool *stored = ir_alloc(sizeof(bool) * (size_t)(g->ntensors + 1));
	for (int si = 0; si < P->nstages; si++) {
		const Stage *s = &P->stages[si];
		int time = stage_time(P, si);
		see(pl->first, pl->last, s->tensor, time, true);
		if (s->accum != BIN_NONE)
			see(pl->first, pl->last, s->tensor, time, false);
		see_reads(pl, s->val, time);
		stored[s->tensor] = true;
		in_memory[s->tensor] |= !store_in_locals(s);
	}
	for (int t = 0; t < g->ntensors; t++)
		pl->nobytes[t] = stored[t] && !in_memory[t] && !is_output(&g->tensors[t]);
}

/* Stores that follow from a tensor's kind alone; workspace values are decided op by op. */
static void assign_fixed_stores(Graph *g)
{
	for (int i = 0; i < g->ntensors; i++) {
		Tensor *t = &g->tensors[i];
		t->view_of = -1;
		t->ws_offset = 0;
		switch (t->kind) {
		case TENSOR_INPUT: t->store = STORE_INPUT; break;
		case TENSOR_PARAM: t->store = STORE_PARAM; break;
		/* An output has the caller's buffer, even when later ops read it. */
		case TENSOR_VALUE: t->store = is_output(t) ? STORE_OUTPUT : STORE_NONE; break;
		}
	}
}

static int new_buffer(Planner *pl, int t)
{
	Buffer *b = &pl->bufs[pl->nbufs];
	const Tensor *tt = &pl->g->tensors[t];
	b->size = align_up(tensor_bytes(tt));
	b->start = pl->first[t];
	b->end = pl->last[t] > b->start ? pl->last[t] : b->start;
	b->offset = -1;
	pl->buf_of[t] = pl->nbufs;
	return pl->nbufs++;
}

/* Tensor t shares the bytes of tensor src, a workspace tensor. */
static void join_buffer(Planner *pl, int t, int src)
{
	Tensor *tt = &pl->g->tensors[t];
	Buffer *b = &pl->bufs[pl->buf_of[src]];
	pl->buf_of[t] = pl->buf_of[src];
	tt->store = STORE_WORKSPACE;
	tt->view_of = src;
	if (pl->first[t] >= 0 && pl->first[t] < b->start)
		b->start = pl->first[t];
	if (pl->last[t] > b->end)
		b->end = pl->last[t];
	if (pl->first[t] > b->end)
		b->end = pl->first[t];
	int64_t size = align_up(tensor_bytes(tt));
	if (size > b->size)
		b->size = size;
}

/* With a program: the time of op's one stage when it has exactly one, printed in a block of
   its own that holds no other stage; else -1 (no in-place result then). */
static int lone_stage_time(const Planner *pl, int opid)
{
	const Prog *P = pl->P;
	int found = -1;
	for (int si = 0; si < P->nstages; si++) {
		if (P->stages[si].op != opid)
			continue;
		if (found >= 0)
			return -1;
		found = si;
	}
	if (found < 0 || P->stages[found].at_stage >= 0 || P->stages[found].tensor != pl->g->ops[opid].out)
		return -1;
	for (int si = 0; si < P->nstages; si++)
		if (si != found && stage_time(P, si) == found)
			return -1;
	return found;
}

/* Can op write its result over argument a? The argument must be a workspace tensor of the
   result's shape and layout whose buffer nobody reads after this op, and no other argument of
   the op may live in that buffer unless the op is elementwise-binary (then that argument has the
   result's element count too, so it is read at the same index it is written: safe). */
static bool can_overwrite(const Planner *pl, const Op *op, int opid, int a)
{
	const Graph *g = pl->g;
	int src = op->args[a];
	const Tensor *s = &g->tensors[src], *out = &g->tensors[op->out];
	if (s->store != STORE_WORKSPACE || pl->buf_of[src] < 0)
		return false;
	if (ir_numel(s) != ir_numel(out) || !ir_layout_equal(&s->layout, &out->layout))
		return false;
	int time = pl->P ? lone_stage_time(pl, opid) : opid;
	if (time < 0 || pl->bufs[pl->buf_of[src]].end > time)
		return false;
	for (int i = 0; i < op->nargs; i++) {
		int other = op->args[i];
		if (i == a || pl->buf_of[other] != pl->buf_of[src])
			continue;
		if (!(ir_ops[op->kind].flags & OPF_BINARY))
			return false;
	}
	return true;
}

/* A workspace tensor of its own, unless it is never in memory. */
static void plan_fresh(Planner *pl, int t)
{
	Tensor *tt = &pl->g->tensors[t];
	if (pl->nobytes[t] || (pl->P && pl->first[t] < 0 && pl->last[t] < 0))
		return; /* STORE_NONE: the generator never touches it */
	if (pl->first[t] < 0)
		die("plan: %s is read but never written", tt->name);
	tt->store = STORE_WORKSPACE;
	new_buffer(pl, t);
}

/* Decide the store of the result of op opid: a view, in place, or a fresh buffer. */
static void plan_result(Planner *pl, int opid)
{
	Graph *g = pl->g;
	const Op *op = &g->ops[opid];
	Tensor *out = &g->tensors[op->out];
	int flags = ir_ops[op->kind].flags;
	if (is_output(out))
		return;
	if ((flags & OPF_VIEW) && is_logical(out) && is_logical(&g->tensors[op->args[0]])) {
		int src = op->args[0];
		Tensor *s = &g->tensors[src];
		if (s->store == STORE_WORKSPACE) {
			join_buffer(pl, op->out, src);
			return;
		}
		if (s->store == STORE_INPUT || s->store == STORE_PARAM) {
			/* The generator reads the input's (or param's) pointer: no bytes at all. */
			out->store = s->store;
			out->view_of = src;
			return;
		}
	}
	if ((flags & OPF_INPLACE) && !pl->nobytes[op->out]) {
		int a = -1;
		if (can_overwrite(pl, op, opid, 0))
			a = 0;
		else if ((flags & OPF_BINARY) && can_overwrite(pl, op, opid, 1))
			a = 1;
		if (a >= 0) {
			join_buffer(pl, op->out, op->args[a]);
			return;
		}
	}
	plan_fresh(pl, op->out);
}

static bool lifetimes_overlap(const Buffer *a, const Buffer *b)
{
	return a->start <= b->end && b->start <= a->end;
}

static bool bytes_overlap(const Buffer *a, const Buffer *b)
{
	return a->offset < b->offset + b->size && b->offset < a->offset + a->size;
}

/* Biggest first; equal sizes by first op, then by index, so the order is total. */
static const Buffer *sort_base;
static int by_size_desc(const void *pa, const void *pb)
{
	const Buffer *a = &sort_base[*(const int *)pa], *b = &sort_base[*(const int *)pb];
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return *(const int *)pa - *(const int *)pb;
}

static int by_offset(const void *pa, const void *pb)
{
	const Buffer *a = &sort_base[*(const int *)pa], *b = &sort_base[*(const int *)pb];
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return *(const int *)pa - *(const int *)pb;
}

/* Greedy interval packing: each buffer, biggest first, goes at the lowest aligned offset
   where it overlaps no placed buffer that is live at the same time. */
static void assign_offsets(Planner *pl)
{
	int n = pl->nbufs;
	int *order = ir_xrealloc(NULL, sizeof(int) * (size_t)n);
	int *live = ir_xrealloc(NULL, sizeof(int) * (size_t)n);
	for (int i = 0; i < n; i++)
		order[i] = i;
	sort_base = pl->bufs;
	qsort(order, (size_t)n, sizeof *order, by_size_desc);
	for (int k = 0; k < n; k++) {
		Buffer *b = &pl->bufs[order[k]];
		int nlive = 0;
		for (int j = 0; j < k; j++)
			if (lifetimes_overlap(b, &pl->bufs[order[j]]))
				live[nlive++] = order[j];
		qsort(live, (size_t)nlive, sizeof *live, by_offset);
		int64_t off = 0;
		for (int j = 0; j < nlive; j++) {
			const Buffer *o = &pl->bufs[live[j]];
			if (off + b->size <= o->offset)
				break; /* fits in the gap below o */
			if (o->offset + o->size > off)
				off = align_up(o->offset + o->size);
		}
		b->offset = off;
	}
	free(order);
	free(live);
}

/* The plan's invariant: buffers live at the same op never share a byte. */
static void check_plan(const Planner *pl)
{
	for (int i = 0; i < pl->nbufs; i++) {
		const Buffer *a = &pl->bufs[i];
		if (a->offset < 0 || a->offset % IR_ALIGN)
			die("plan: buffer %d has offset %lld", i, (long long)a->offset);
		for (int j = i + 1; j < pl->nbufs; j++) {
			const Buffer *b = &pl->bufs[j];
			if (lifetimes_overlap(a, b) && bytes_overlap(a, b))
				die("plan: buffers %d [%d, %d] and %d [%d, %d] overlap in bytes", i, a->start,
				    a->end, j, b->start, b->end);
		}
	}
}

static void fill_totals(Planner *pl)
{
	Graph *g = pl->g;
	g->workspace_bytes = 0;
	g->peak_bytes = 0;
	g->intermediate_bytes = 0;
	int tmax = 0;
	for (int i = 0; i < pl->nbufs; i++) {
		int64_t end = pl->bufs[i].offset + pl->bufs[i].size;
		if (end > g->workspace_bytes)
			g->workspace_bytes = end;
		if (pl->bufs[i].end > tmax)
			tmax = pl->bufs[i].end;
	}
	g->workspace_bytes = align_up(g->workspace_bytes);
	for (int time = 0; time <= tmax; time++) {
		int64_t live = 0;
		for (int i = 0; i < pl->nbufs; i++)
			if (pl->bufs[i].start <= time && time <= pl->bufs[i].end)
				live += pl->bufs[i].size;
		if (live > g->peak_bytes)
			g->peak_bytes = live;
	}
	for (int i = 0; i < g->ntensors; i++) {
		const Tensor *t = &g->tensors[i];
		if (t->kind == TENSOR_VALUE && !is_output(t) && !pl->nobytes[i])
			g->intermediate_bytes += tensor_bytes(t);
	}
}

static void plan(Graph *g, const Prog *P)
{
	Planner pl = {.g = g, .P = P};
	size_t nt = (size_t)g->ntensors + 1;
	pl.buf_of = ir_xrealloc(NULL, sizeof(int) * nt);
	pl.first = ir_xrealloc(NULL, sizeof(int) * nt);
	pl.last = ir_xrealloc(NULL, sizeof(int) * nt);
	pl.nobytes = ir_xrealloc(NULL, sizeof(bool) * nt);
	pl.bufs = ir_xrealloc(NULL, sizeof(Buffer) * nt);
	for (int i = 0; i < g->ntensors; i++)
		pl.buf_of[i] = -1;
	compute_last_use(g);
	compute_times(&pl);
	assign_fixed_stores(g);
	for (int i = 0; i < g->nops; i++) {
		/* The op's internal tensors (row maxima, conversions...) first: they are written
		   before its result. */
		for (int t = 0; t < g->ntensors; t++) {
			Tensor *tt = &g->tensors[t];
			if (tt->internal && tt->producer == i && tt->kind == TENSOR_VALUE && !is_output(tt)) {
				if (tt->last_use < 0)
					tt->last_use = i;
				plan_fresh(&pl, t);
			}
		}
		plan_result(&pl, i);
	}
	assign_offsets(&pl);
	check_plan(&pl);
	for (int i = 0; i < g->ntensors; i++)
		if (pl.buf_of[i] >= 0)
			g->tensors[i].ws_offset = pl.bufs[pl.buf_of[i]].offset;
	fill_totals(&pl);
	free(pl.buf_of);
	free(pl.first);
	free(pl.last);
	free(pl.nobytes);
	free(pl.bufs);
}

void ir_plan(Graph *g) { plan(g, NULL); }

void ir_plan_prog(const Prog *P) { plan(P->g, P); }
