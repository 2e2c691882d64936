/* ir/fold.c: batchnorm folded into the convolution before it, at generation time.
 *
 * A conv2d whose result is read by exactly one op, a batchnorm (as its input, once), and is not a
 * model output, with the conv's weights and bias and the batchnorm's four params all params,
 * becomes one conv2d with new weights and bias (computed in double from the loaded values):
 *   inv[k] = scale[k] / sqrt(var[k] + eps)
 *   w'[k, ...] = w[k, ...] * inv[k]
 *   b'[k] = (b[k] - mean[k]) * inv[k] + bias[k]       (b = 0 for a conv without bias)
 * The new params are appended to g->params and g->weights as tensors named "<bn output>__w"
 * and "<bn output>__b" (no model name has "__"), so a weight shared by several convs is never
 * changed in place. They are not marked internal: schedules (the default one first) give them
 * layouts, packed weights being the point of folding at generation time. The conv then writes the batchnorm's output tensor: later ops, model outputs and
 * schedules that name it keep working; the conv's old result disappears (so a schedule naming
 * its stages, "t1.update" for a conv t1 followed by t2 = batchnorm(t1...), must name
 * "t2.update"). The batchnorm ops are removed and the op and tensor arrays rebuilt (ids
 * renumbered). Params left unread (the old w, b and the batchnorm's) stay in the graph; the
 * generator emits only params that some op reads.
 * Runs after ir_load_weights and before ir_lower; assumes an inferred graph.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

static bool is_param(const Graph *g, int t) { return g->tensors[t].kind == TENSOR_PARAM; }

/* How many times ops read tensor t (an op reading it twice counts twice). */
static int readers(const Graph *g, int t, int *only_op)
{
	int n = 0;
	for (int i = 0; i < g->nops; i++)
		for (int a = 0; a < g->ops[i].nargs; a++)
			if (g->ops[i].args[a] == t) {
				n++;
				*only_op = i;
			}
	return n;
}

/* The batchnorm op that conv op ci can absorb, or -1. */
static int foldable_bn(const Graph *g, int ci)
{
	const Op *conv = &g->ops[ci];
	if (conv->kind != OP_CONV2D || !is_param(g, conv->args[1]))
		return -1;
	if (conv->nargs == 3 && !is_param(g, conv->args[2]))
		return -1;
	const Tensor *out = &g->tensors[conv->out];
	int bi = -1;
	if (out->output_index >= 0 || readers(g, conv->out, &bi) != 1)
		return -1;
	const Op *bn = &g->ops[bi];
	if (bn->kind != OP_BATCHNORM || bn->args[0] != conv->out)
		return -1;
	for (int a = 1; a < 5; a++)
		if (!is_param(g, bn->args[a]))
			return -1;
	return bi;
}

int ir_new_tensor(Graph *g, const char *base, const char *what, TensorKind kind, int rank,
	const int64_t *dims, Loc loc)
{
	char *name = ir_fmt("%s__%s", base, what);
	for (int k = 2; strlen(name) > IR_MAX_NAME || ir_find_tensor(g, name) >= 0; k++)
		name = ir_fmt("%.40s__%s%d", base, what, k);
	g->tensors = ir_xrealloc(g->tensors, (size_t)(g->ntensors + 1) * sizeof *g->tensors);
	int id = g->ntensors++;
	Tensor *t = &g->tensors[id];
	memset(t, 0, sizeof *t);
	memcpy(t->name, name, strlen(name) + 1);
	t->kind = kind;
	t->loc = loc;
	t->rank = rank;
	memcpy(t->dims, dims, (size_t)rank * sizeof dims[0]);
	t->producer = -1;
	t->input_index = t->output_index = -1;
	t->view_of = t->last_use = -1;
	return id;
}

/* A new param "<base>__<what>" of the given dims; its values are left to the caller. */
static int new_param(Graph *g, const char *base, const char *what, int rank, const int64_t *dims,
	Loc loc)
{
	int id = ir_new_tensor(g, base, what, TENSOR_PARAM, rank, dims, loc);
	Tensor *t = &g->tensors[id];
	/* not internal: schedules may give it a layout (packed weights); "__" keeps it apart from
	   model names */
	t->internal = false;
	int64_t n = ir_numel(t);
	t->param_offset = g->nweights;
	if (g->weights) {
		g->weights = ir_xrealloc(g->weights, (size_t)(g->nweights + n) * sizeof *g->weights);
		g->nweights += n;
	}
	g->params = ir_xrealloc(g->params, (size_t)(g->nparams + 1) * sizeof *g->params);
	g->params[g->nparams++] = id;
	return id;
}

/* The new params' values: w' = w * inv, b' = (b - mean) * inv + bias, in double. */
static void fold_values(Graph *g, const Op *conv, const Op *bn, int nw, int nb)
{
	const Tensor *W = &g->tensors[conv->args[1]];
	int64_t K = W->dims[0], per_k = ir_numel(W) / K;
	const float *v = g->weights;
	const float *w = v + W->param_offset;
	const float *b = conv->nargs == 3 ? v + g->tensors[conv->args[2]].param_offset : NULL;
	const float *scale = v + g->tensors[bn->args[1]].param_offset;
	const float *shift = v + g->tensors[bn->args[2]].param_offset;
	const float *mean = v + g->tensors[bn->args[3]].param_offset;
	const float *var = v + g->tensors[bn->args[4]].param_offset;
	float *w2 = g->weights + g->tensors[nw].param_offset;
	float *b2 = g->weights + g->tensors[nb].param_offset;
	for (int64_t k = 0; k < K; k++) {
		double inv = (double)scale[k] / sqrt((double)var[k] + bn->p.eps);
		for (int64_t j = 0; j < per_k; j++)
			w2[k * per_k + j] = (float)((double)w[k * per_k + j] * inv);
		double bk = b ? (double)b[k] : 0.0;
		b2[k] = (float)((bk - (double)mean[k]) * inv + (double)shift[k]);
	}
}

/* Conv op ci absorbs batchnorm op bi: new weights and bias, and it writes bi's output. Without
   loaded weights (weft sched) only the graph changes. */
static void fold_pair(Graph *g, int ci, int bi)
{
	const Op *bn = &g->ops[bi];
	const Tensor *W = &g->tensors[g->ops[ci].args[1]];
	int64_t K = W->dims[0], wdims[IR_MAX_RANK];
	int wrank = W->rank;
	Loc wloc = W->loc;
	memcpy(wdims, W->dims, sizeof wdims);
	char base[IR_MAX_NAME + 1];
	memcpy(base, g->tensors[bn->out].name, sizeof base);
	/* new_param moves g->tensors and g->weights: ids and offsets only across it */
	int nw = new_param(g, base, "w", wrank, wdims, wloc);
	int nb = new_param(g, base, "b", 1, &K, wloc);
	Op *conv = &g->ops[ci];
	if (g->weights)
		fold_values(g, conv, bn, nw, nb);
	conv->args[1] = nw;
	if (conv->nargs == 2)
		conv->argloc[2] = conv->argloc[1];
	conv->args[2] = nb;
	conv->nargs = 3;
	conv->out = bn->out;
	conv->text = ir_fmt("%s; %s (folded)", conv->text, bn->text);
}

/* Remove the ops marked in drop and the tensors no op writes or reads that were values;
   renumber every reference. */
static void rebuild(Graph *g, const bool *drop_op, const bool *drop_tensor)
{
	int *opmap = ir_alloc(sizeof(int) * (size_t)(g->nops + 1));
	int *tmap = ir_alloc(sizeof(int) * (size_t)(g->ntensors + 1));
	int nops = 0, nt = 0;
	for (int i = 0; i < g->nops; i++) {
		opmap[i] = drop_op[i] ? -1 : nops;
		if (!drop_op[i])
			g->ops[nops++] = g->ops[i];
	}
	for (int t = 0; t < g->ntensors; t++) {
		tmap[t] = drop_tensor[t] ? -1 : nt;
		if (!drop_tensor[t])
			g->tensors[nt++] = g->tensors[t];
	}
	g->nops = nops;
	g->ntensors = nt;
	for (int i = 0; i < nops; i++) {
		Op *op = &g->ops[i];
		op->out = tmap[op->out];
		for (int a = 0; a < op->nargs; a++)
			op->args[a] = tmap[op->args[a]];
	}
	for (int t = 0; t < nt; t++) {
		Tensor *T = &g->tensors[t];
		if (T->producer >= 0)
			T->producer = opmap[T->producer];
	}
	for (int i = 0; i < nops; i++)
		g->tensors[g->ops[i].out].producer = i;
	for (int i = 0; i < g->ninputs; i++)
		g->inputs[i] = tmap[g->inputs[i]];
	for (int i = 0; i < g->nparams; i++)
		g->params[i] = tmap[g->params[i]];
	for (int i = 0; i < g->noutputs; i++)
		g->outputs[i] = tmap[g->outputs[i]];
}

bool ir_fold(Graph *g)
{
	bool *drop_op = ir_alloc((size_t)g->nops + 1);
	int n = 0;
	for (int i = 0; i < g->nops; i++) {
		int bi = foldable_bn(g, i);
		if (bi < 0)
			continue;
		drop_op[bi] = true;
		n++;
	}
	if (!n)
		return true;
	/* the conv's old result: nobody reads it once its batchnorm is gone */
	bool *drop_tensor = ir_alloc((size_t)g->ntensors + 2 * (size_t)n + 1);
	for (int i = 0; i < g->nops; i++) {
		if (drop_op[i] || g->ops[i].kind != OP_CONV2D)
			continue;
		int bi = foldable_bn(g, i);
		if (bi < 0 || !drop_op[bi])
			continue;
		drop_tensor[g->ops[i].out] = true;
		fold_pair(g, i, bi);
	}
	rebuild(g, drop_op, drop_tensor);
	return true;
}
