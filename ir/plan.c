/* ir/plan.c: static memory planning.
 *
 * Decides where every tensor's bytes live in the generated code: the caller's input and output
 * pointers, the static parameter arrays, or an offset into the one workspace the caller provides.
 * Intermediates that are never live at the same op share workspace bytes (greedy interval
 * packing, biggest first); reshape/flatten outputs are views of their input's bytes, and
 * elementwise ops write in place over an argument that dies at them.
 * Assumes ir_infer succeeded: every tensor has its shape, ops are in topological order.
 */
#include "ir.h"

#include <stdlib.h>

/* A buffer: workspace bytes shared by one or more tensors (views and in-place results). */
typedef struct Buffer {
	int64_t size;   /* bytes, rounded up to IR_ALIGN */
	int start, end; /* ops from the first write to the last read, inclusive */
	int64_t offset; /* bytes into the workspace */
} Buffer;

typedef struct Planner {
	Graph *g;
	int *buf_of;    /* tensor id -> buffer index, or -1 when not in the workspace */
	Buffer *bufs;
	int nbufs;
} Planner;

static int64_t align_up(int64_t n) { return (n + IR_ALIGN - 1) / IR_ALIGN * IR_ALIGN; }

static int64_t tensor_bytes(const Tensor *t) { return ir_numel(t) * (int64_t)sizeof(float); }

static bool is_output(const Tensor *t) { return t->output_index >= 0; }

/* Every tensor's last reader. Inputs and params get theirs too (the dump shows them). */
static void compute_last_use(Graph *g)
{
	for (int i = 0; i < g->ntensors; i++)
		g->tensors[i].last_use = -1;
	for (int i = 0; i < g->nops; i++)
		for (int a = 0; a < g->ops[i].nargs; a++)
			g->tensors[g->ops[i].args[a]].last_use = i;
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

static int new_buffer(Planner *pl, int t, int op)
{
	Buffer *b = &pl->bufs[pl->nbufs];
	const Tensor *tt = &pl->g->tensors[t];
	b->size = align_up(tensor_bytes(tt));
	b->start = op;
	b->end = tt->last_use > op ? tt->last_use : op;
	b->offset = -1;
	pl->buf_of[t] = pl->nbufs;
	return pl->nbufs++;
}

/* Tensor t (the result of op) shares the bytes of tensor src, a workspace tensor. */
static void join_buffer(Planner *pl, int t, int src, int op)
{
	Tensor *tt = &pl->g->tensors[t];
	Buffer *b = &pl->bufs[pl->buf_of[src]];
	pl->buf_of[t] = pl->buf_of[src];
	tt->store = STORE_WORKSPACE;
	tt->view_of = src;
	if (tt->last_use > b->end)
		b->end = tt->last_use;
	if (op > b->end)
		b->end = op;
	int64_t size = align_up(tensor_bytes(tt));
	if (size > b->size)
		b->size = size;
}

/* Can op write its result over argument a? The argument must be a workspace tensor of the
   result's size whose buffer nobody reads after this op, and no other argument of the op may
   live in that buffer unless the op is elementwise-binary (then that argument has the result's
   element count too, so it is read at the same index it is written: safe). */
static bool can_overwrite(const Planner *pl, const Op *op, int opid, int a)
{
	const Graph *g = pl->g;
	int src = op->args[a];
	const Tensor *s = &g->tensors[src];
	if (s->store != STORE_WORKSPACE || pl->buf_of[src] < 0)
		return false;
	if (ir_numel(s) != ir_numel(&g->tensors[op->out]))
		return false;
	if (pl->bufs[pl->buf_of[src]].end > opid)
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

/* Decide the store of the result of op opid: a view, in place, or a fresh buffer. */
static void plan_result(Planner *pl, int opid)
{
	Graph *g = pl->g;
	const Op *op = &g->ops[opid];
	Tensor *out = &g->tensors[op->out];
	int flags = ir_ops[op->kind].flags;
	if (is_output(out))
		return;
	if (flags & OPF_VIEW) {
		int src = op->args[0];
		Tensor *s = &g->tensors[src];
		if (s->store == STORE_WORKSPACE) {
			join_buffer(pl, op->out, src, opid);
			return;
		}
		if (s->store == STORE_INPUT || s->store == STORE_PARAM) {
			/* The generator reads the input's (or param's) pointer: no bytes at all. */
			out->store = s->store;
			out->view_of = src;
			return;
		}
	}
	if (flags & OPF_INPLACE) {
		int a = -1;
		if (can_overwrite(pl, op, opid, 0))
			a = 0;
		else if ((flags & OPF_BINARY) && can_overwrite(pl, op, opid, 1))
			a = 1;
		if (a >= 0) {
			join_buffer(pl, op->out, op->args[a], opid);
			return;
		}
	}
	out->store = STORE_WORKSPACE;
	new_buffer(pl, op->out, opid);
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
	for (int i = 0; i < pl->nbufs; i++) {
		int64_t end = pl->bufs[i].offset + pl->bufs[i].size;
		if (end > g->workspace_bytes)
			g->workspace_bytes = end;
	}
	g->workspace_bytes = align_up(g->workspace_bytes);
	for (int op = 0; op < g->nops; op++) {
		int64_t live = 0;
		for (int i = 0; i < pl->nbufs; i++)
			if (pl->bufs[i].start <= op && op <= pl->bufs[i].end)
				live += pl->bufs[i].size;
		if (live > g->peak_bytes)
			g->peak_bytes = live;
	}
	for (int i = 0; i < g->ntensors; i++) {
		const Tensor *t = &g->tensors[i];
		if (t->kind == TENSOR_VALUE && !is_output(t))
			g->intermediate_bytes += tensor_bytes(t);
	}
}

void ir_plan(Graph *g)
{
	Planner pl = {.g = g};
	pl.buf_of = ir_xrealloc(NULL, sizeof(int) * (size_t)(g->ntensors + 1));
	pl.bufs = ir_xrealloc(NULL, sizeof(Buffer) * (size_t)(g->nops + 1));
	for (int i = 0; i < g->ntensors; i++)
		pl.buf_of[i] = -1;
	compute_last_use(g);
	assign_fixed_stores(g);
	for (int i = 0; i < g->nops; i++)
		plan_result(&pl, i);
	assign_offsets(&pl);
	check_plan(&pl);
	for (int i = 0; i < g->ntensors; i++)
		if (pl.buf_of[i] >= 0)
			g->tensors[i].ws_offset = pl.bufs[pl.buf_of[i]].offset;
	fill_totals(&pl);
	free(pl.buf_of);
	free(pl.bufs);
}
