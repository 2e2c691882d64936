/* ir/ref.c: the reference interpreter, weft's oracle.
 *
 * Computes a graph's outputs op by op, straight from the formulas of the operator semantics,
 * with every tensor held in a malloc'd array of double in its logical row-major layout. It shares
 * nothing with the code generator (no layouts, no schedules), so the two check each other.
 * Clear rather than fast, but the big loops (conv, dense, matmul) keep index arithmetic out of
 * their innermost loop so that a ResNet-18 takes seconds, not minutes.
 * Assumes ir_infer has run (op->p filled, every shape known and valid) and ir_load_weights too.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- N-d index helpers ---- */

typedef struct Shape {
	int rank;
	int64_t dims[IR_MAX_RANK];
} Shape;

static Shape shape_of(const Tensor *t)
{
	Shape s = {t->rank, {0}};
	memcpy(s.dims, t->dims, sizeof s.dims);
	return s;
}

static int64_t numel(const Tensor *t)
{
	int64_t n = 1;
	for (int d = 0; d < t->rank; d++)
		n *= t->dims[d];
	return n;
}

/* Product of dims[lo..hi). */
static int64_t prod(const int64_t *dims, int lo, int hi)
{
	int64_t n = 1;
	for (int d = lo; d < hi; d++)
		n *= dims[d];
	return n;
}

/* Row-major element strides of a shape. */
static void strides_of(const Shape *s, int64_t *strides)
{
	int64_t st = 1;
	for (int d = s->rank - 1; d >= 0; d--) {
		strides[d] = st;
		st *= s->dims[d];
	}
}

/* The multi-index of linear element i of a row-major shape. */
static void unravel(const Shape *s, int64_t i, int64_t *idx)
{
	for (int d = s->rank - 1; d >= 0; d--) {
		idx[d] = i % s->dims[d];
		i /= s->dims[d];
	}
}

/* Strides with which an operand of shape `in` is read at an index of the broadcast shape `out`
   (NumPy: trailing dims aligned; a dim of 1 stretches, so its stride is 0). */
static void broadcast_strides(const Tensor *in, const Shape *out, int64_t *bst)
{
	Shape s = shape_of(in);
	int64_t st[IR_MAX_RANK];
	strides_of(&s, st);
	int shift = out->rank - s.rank;
	for (int d = 0; d < out->rank; d++) {
		int di = d - shift;
		bst[d] = di < 0 || s.dims[di] == 1 ? 0 : st[di];
	}
}

static int64_t dot_idx(int rank, const int64_t *idx, const int64_t *strides)
{
	int64_t off = 0;
	for (int d = 0; d < rank; d++)
		off += idx[d] * strides[d];
	return off;
}

static double *new_values(int64_t n)
{
	double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
	if (!v)
		die("reference: out of memory (%lld doubles)", (long long)n);
	return v;
}

/* ---- convolution and matrix products ---- */

/* out[n,k,oh,ow] = b[k] + sum_{c,r,s} x[n, g*Cg+c, oh*sh-top+r*dh, ow*sw-left+s*dw] * w[k,c,r,s].
   Accumulated one (c, r, s) at a time over a whole output plane, over the ow range whose input
   column is inside [0, W), so the inner loop has no test. */
static void ref_conv2d(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *xt = &g->tensors[op->args[0]], *wt = &g->tensors[op->args[1]];
	const Tensor *ot = &g->tensors[op->out];
	const double *x = val[op->args[0]], *w = val[op->args[1]];
	const double *b = op->nargs > 2 ? val[op->args[2]] : NULL;
	int64_t N = xt->dims[0], C = xt->dims[1], H = xt->dims[2], W = xt->dims[3];
	int64_t K = wt->dims[0], Cg = wt->dims[1], R = wt->dims[2], S = wt->dims[3];
	int64_t OH = ot->dims[2], OW = ot->dims[3];
	int64_t sh = op->p.stride[0], sw = op->p.stride[1], dh = op->p.dil[0], dw = op->p.dil[1];
	int64_t top = op->p.pad[0], left = op->p.pad[1];
	int64_t Kg = K / op->p.groups;
	for (int64_t n = 0; n < N; n++)
		for (int64_t k = 0; k < K; k++) {
			double *o = out + (n * K + k) * OH * OW;
			for (int64_t i = 0; i < OH * OW; i++)
				o[i] = b ? b[k] : 0.0;
			int64_t c0 = k / Kg * Cg;
			for (int64_t c = 0; c < Cg; c++)
				for (int64_t r = 0; r < R; r++)
					for (int64_t s = 0; s < S; s++) {
						double wv = w[((k * Cg + c) * R + r) * S + s];
						const double *xp = x + (n * C + c0 + c) * H * W;
						/* ow such that 0 <= ow*sw - left + s*dw < W */
						int64_t col0 = s * dw - left;
						int64_t ow_lo = col0 >= 0 ? 0 : (-col0 + sw - 1) / sw;
						int64_t ow_hi = W - col0 <= 0 ? 0 : (W - col0 - 1) / sw + 1;
						if (ow_hi > OW)
							ow_hi = OW;
						for (int64_t oh = 0; oh < OH; oh++) {
							int64_t ih = oh * sh - top + r * dh;
							if (ih < 0 || ih >= H)
								continue;
							const double *row = xp + ih * W;
							double *orow = o + oh * OW;
							for (int64_t ow = ow_lo; ow < ow_hi; ow++)
								orow[ow] += row[ow * sw + col0] * wv;
						}
					}
		}
}

/* out[m,n] = b[n] + sum_k x[m,k] * w[n,k]. */
static void ref_dense(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *xt = &g->tensors[op->args[0]], *wt = &g->tensors[op->args[1]];
	const double *x = val[op->args[0]], *w = val[op->args[1]];
	const double *b = op->nargs > 2 ? val[op->args[2]] : NULL;
	int64_t M = xt->dims[0], K = xt->dims[1], N = wt->dims[0];
	for (int64_t m = 0; m < M; m++)
		for (int64_t n = 0; n < N; n++) {
			const double *xr = x + m * K, *wr = w + n * K;
			double acc = b ? b[n] : 0.0;
			for (int64_t k = 0; k < K; k++)
				acc += xr[k] * wr[k];
			out[m * N + n] = acc;
		}
}

/* out[...,m,n] = sum_k a[...,m,k] * b[...,k,n], the batch dims (all but the last two) broadcast. */
static void ref_matmul(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *at = &g->tensors[op->args[0]], *bt = &g->tensors[op->args[1]];
	const Tensor *ot = &g->tensors[op->out];
	const double *a = val[op->args[0]], *b = val[op->args[1]];
	int64_t M = at->dims[at->rank - 2], K = at->dims[at->rank - 1], N = bt->dims[bt->rank - 1];

	/* The batch dims as shapes of their own: a batch index of the output maps to matrix
	   number dot(idx, broadcast strides) of each operand. */
	Shape ob = {ot->rank - 2, {0}};
	memcpy(ob.dims, ot->dims, sizeof(int64_t) * (size_t)ob.rank);
	Tensor ab = {.rank = at->rank - 2}, bb = {.rank = bt->rank - 2};
	memcpy(ab.dims, at->dims, sizeof(int64_t) * (size_t)ab.rank);
	memcpy(bb.dims, bt->dims, sizeof(int64_t) * (size_t)bb.rank);
	int64_t ast[IR_MAX_RANK], bst[IR_MAX_RANK], idx[IR_MAX_RANK];
	broadcast_strides(&ab, &ob, ast);
	broadcast_strides(&bb, &ob, bst);

	int64_t nbatch = prod(ob.dims, 0, ob.rank);
	for (int64_t i = 0; i < nbatch; i++) {
		unravel(&ob, i, idx);
		const double *am = a + dot_idx(ob.rank, idx, ast) * M * K;
		const double *bm = b + dot_idx(ob.rank, idx, bst) * K * N;
		double *om = out + i * M * N;
		for (int64_t m = 0; m < M; m++) {
			double *orow = om + m * N;
			for (int64_t n = 0; n < N; n++)
				orow[n] = 0.0;
			for (int64_t k = 0; k < K; k++) {
				double av = am[m * K + k];
				const double *brow = bm + k * N;
				for (int64_t n = 0; n < N; n++)
					orow[n] += av * brow[n];
			}
		}
	}
}

/* ---- elementwise ---- */

static double binary(OpKind kind, double a, double b)
{
	switch (kind) {
	case OP_ADD: return a + b;
	case OP_SUB: return a - b;
	case OP_MUL: return a * b;
	case OP_DIV: return a / b;
	default: die("reference: op %d is not binary", (int)kind);
	}
}

static void ref_binary(const Graph *g, const Op *op, double *const *val, double *out)
{
	Shape os = shape_of(&g->tensors[op->out]);
	int64_t ast[IR_MAX_RANK], bst[IR_MAX_RANK], idx[IR_MAX_RANK];
	broadcast_strides(&g->tensors[op->args[0]], &os, ast);
	broadcast_strides(&g->tensors[op->args[1]], &os, bst);
	const double *a = val[op->args[0]], *b = val[op->args[1]];
	int64_t n = numel(&g->tensors[op->out]);
	for (int64_t i = 0; i < n; i++) {
		unravel(&os, i, idx);
		out[i] = binary(op->kind, a[dot_idx(os.rank, idx, ast)], b[dot_idx(os.rank, idx, bst)]);
	}
}

static double unary(const Op *op, double x)
{
	switch (op->kind) {
	case OP_RELU: return x > 0 ? x : 0.0;
	case OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
	case OP_TANH: return tanh(x);
	case OP_EXP: return exp(x);
	case OP_RELU6: return x < 0 ? 0.0 : x > 6 ? 6.0 : x;
	case OP_CLIP: return fmin(fmax(x, op->p.lo), op->p.hi);
	case OP_LEAKY_RELU: return x >= 0 ? x : op->p.alpha * x;
	case OP_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
	default: die("reference: op %d is not unary", (int)op->kind);
	}
}

static void ref_unary(const Graph *g, const Op *op, double *const *val, double *out)
{
	const double *x = val[op->args[0]];
	int64_t n = numel(&g->tensors[op->out]);
	for (int64_t i = 0; i < n; i++)
		out[i] = unary(op, x[i]);
}

/* y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c], c = dim 1 of x. */
static void ref_batchnorm(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *xt = &g->tensors[op->args[0]];
	const double *x = val[op->args[0]], *scale = val[op->args[1]], *bias = val[op->args[2]];
	const double *mean = val[op->args[3]], *var = val[op->args[4]];
	int64_t N = xt->dims[0], C = xt->dims[1], inner = prod(xt->dims, 2, xt->rank);
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++) {
			double inv = 1.0 / sqrt(var[c] + op->p.eps);
			int64_t base = (n * C + c) * inner;
			for (int64_t i = 0; i < inner; i++)
				out[base + i] = (x[base + i] - mean[c]) * inv * scale[c] + bias[c];
		}
}

/* ---- pooling ---- */

static void ref_pool(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *xt = &g->tensors[op->args[0]], *ot = &g->tensors[op->out];
	const double *x = val[op->args[0]];
	int64_t NC = xt->dims[0] * xt->dims[1], H = xt->dims[2], W = xt->dims[3];
	int64_t OH = ot->dims[2], OW = ot->dims[3];
	int64_t kh = op->p.kernel[0], kw = op->p.kernel[1], sh = op->p.stride[0], sw = op->p.stride[1];
	int64_t top = op->p.pad[0], left = op->p.pad[1], bottom = op->p.pad[2], right = op->p.pad[3];
	bool is_max = op->kind == OP_MAXPOOL2D;
	for (int64_t nc = 0; nc < NC; nc++) {
		const double *xp = x + nc * H * W;
		for (int64_t oh = 0; oh < OH; oh++)
			for (int64_t ow = 0; ow < OW; ow++) {
				int64_t h0 = oh * sh - top, w0 = ow * sw - left;
				double max = -INFINITY, sum = 0.0;
				int64_t inside = 0, inside_padded = 0;
				for (int64_t h = h0; h < h0 + kh; h++)
					for (int64_t w = w0; w < w0 + kw; w++) {
						if (h >= -top && h < H + bottom && w >= -left && w < W + right)
							inside_padded++;
						if (h < 0 || h >= H || w < 0 || w >= W)
							continue;
						double v = xp[h * W + w];
						inside++;
						sum += v;
						if (v > max || isnan(v))
							max = v;
					}
				double r;
				if (is_max)
					r = max;
				else
					r = sum / (double)(op->p.count_include_pad ? inside_padded : inside);
				out[(nc * OH + oh) * OW + ow] = r;
			}
	}
}

static void ref_global_avgpool(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *xt = &g->tensors[op->args[0]];
	const double *x = val[op->args[0]];
	int64_t NC = xt->dims[0] * xt->dims[1], HW = xt->dims[2] * xt->dims[3];
	for (int64_t nc = 0; nc < NC; nc++) {
		double sum = 0.0;
		for (int64_t i = 0; i < HW; i++)
			sum += x[nc * HW + i];
		out[nc] = sum / (double)HW;
	}
}

/* ---- normalisations ---- */

/* Along axis: y = exp(x - max) / sum(exp(x - max)). */
static void ref_softmax(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *xt = &g->tensors[op->args[0]];
	const double *x = val[op->args[0]];
	int ax = op->p.axis;
	int64_t outer = prod(xt->dims, 0, ax), n = xt->dims[ax], inner = prod(xt->dims, ax + 1, xt->rank);
	for (int64_t o = 0; o < outer; o++)
		for (int64_t in = 0; in < inner; in++) {
			int64_t base = o * n * inner + in;
			double max = -INFINITY, sum = 0.0;
			for (int64_t i = 0; i < n; i++)
				max = fmax(max, x[base + i * inner]);
			for (int64_t i = 0; i < n; i++) {
				double e = exp(x[base + i * inner] - max);
				out[base + i * inner] = e;
				sum += e;
			}
			for (int64_t i = 0; i < n; i++)
				out[base + i * inner] /= sum;
		}
}

/* Over dims axis..rank-1 together: y = (x - mean) / sqrt(var + eps) * gamma + beta. */
static void ref_layernorm(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *xt = &g->tensors[op->args[0]];
	const double *x = val[op->args[0]], *gamma = val[op->args[1]], *beta = val[op->args[2]];
	int ax = op->p.axis;
	int64_t outer = prod(xt->dims, 0, ax), n = prod(xt->dims, ax, xt->rank);
	for (int64_t o = 0; o < outer; o++) {
		const double *xr = x + o * n;
		double mean = 0.0, var = 0.0;
		for (int64_t i = 0; i < n; i++)
			mean += xr[i];
		mean /= (double)n;
		for (int64_t i = 0; i < n; i++)
			var += (xr[i] - mean) * (xr[i] - mean);
		var /= (double)n;
		double inv = 1.0 / sqrt(var + op->p.eps);
		for (int64_t i = 0; i < n; i++)
			out[o * n + i] = (xr[i] - mean) * inv * gamma[i] + beta[i];
	}
}

/* ---- data movement ---- */

/* reshape, flatten: the same row-major elements. */
static void ref_copy(const Graph *g, const Op *op, double *const *val, double *out)
{
	memcpy(out, val[op->args[0]], (size_t)numel(&g->tensors[op->out]) * sizeof *out);
}

/* out[i] = x[j] where j[perm[d]] = i[d]. */
static void ref_transpose(const Graph *g, const Op *op, double *const *val, double *out)
{
	Shape xs = shape_of(&g->tensors[op->args[0]]), os = shape_of(&g->tensors[op->out]);
	int64_t xst[IR_MAX_RANK], pst[IR_MAX_RANK], idx[IR_MAX_RANK];
	strides_of(&xs, xst);
	for (int d = 0; d < os.rank; d++)
		pst[d] = xst[op->p.perm[d]];
	const double *x = val[op->args[0]];
	int64_t n = numel(&g->tensors[op->out]);
	for (int64_t i = 0; i < n; i++) {
		unravel(&os, i, idx);
		out[i] = x[dot_idx(os.rank, idx, pst)];
	}
}

/* Each outer index (dims before axis) holds the arguments' blocks one after another. */
static void ref_concat(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *ot = &g->tensors[op->out];
	int ax = op->p.axis;
	int64_t outer = prod(ot->dims, 0, ax), inner = prod(ot->dims, ax + 1, ot->rank);
	int64_t oblock = ot->dims[ax] * inner, at = 0;
	for (int a = 0; a < op->nargs; a++) {
		const Tensor *xt = &g->tensors[op->args[a]];
		int64_t block = xt->dims[ax] * inner;
		for (int64_t o = 0; o < outer; o++)
			memcpy(out + o * oblock + at, val[op->args[a]] + o * block, (size_t)block * sizeof *out);
		at += block;
	}
}

/* out[i] = x[i - begin] where that is inside x, else value. */
static void ref_pad(const Graph *g, const Op *op, double *const *val, double *out)
{
	const Tensor *xt = &g->tensors[op->args[0]];
	Shape xs = shape_of(xt), os = shape_of(&g->tensors[op->out]);
	int64_t xst[IR_MAX_RANK], idx[IR_MAX_RANK];
	strides_of(&xs, xst);
	const double *x = val[op->args[0]];
	int64_t n = numel(&g->tensors[op->out]);
	for (int64_t i = 0; i < n; i++) {
		unravel(&os, i, idx);
		int64_t off = 0;
		bool inside = true;
		for (int d = 0; d < os.rank; d++) {
			int64_t j = idx[d] - op->p.pads[d];
			if (j < 0 || j >= xs.dims[d])
				inside = false;
			off += j * xst[d];
		}
		out[i] = inside ? x[off] : op->p.value;
	}
}

/* ---- the interpreter ---- */

static void run_op(const Graph *g, const Op *op, double *const *val, double *out)
{
	switch (op->kind) {
	case OP_CONV2D: ref_conv2d(g, op, val, out); break;
	case OP_DENSE: ref_dense(g, op, val, out); break;
	case OP_MATMUL: ref_matmul(g, op, val, out); break;
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: ref_binary(g, op, val, out); break;
	case OP_RELU: case OP_SIGMOID: case OP_TANH: case OP_EXP: case OP_RELU6:
	case OP_CLIP: case OP_LEAKY_RELU: case OP_GELU: ref_unary(g, op, val, out); break;
	case OP_BATCHNORM: ref_batchnorm(g, op, val, out); break;
	case OP_MAXPOOL2D: case OP_AVGPOOL2D: ref_pool(g, op, val, out); break;
	case OP_GLOBAL_AVGPOOL: ref_global_avgpool(g, op, val, out); break;
	case OP_SOFTMAX: ref_softmax(g, op, val, out); break;
	case OP_LAYERNORM: ref_layernorm(g, op, val, out); break;
	case OP_RESHAPE: case OP_FLATTEN: ref_copy(g, op, val, out); break;
	case OP_TRANSPOSE: ref_transpose(g, op, val, out); break;
	case OP_CONCAT: ref_concat(g, op, val, out); break;
	case OP_PAD: ref_pad(g, op, val, out); break;
	default: die("reference: unknown op kind %d", (int)op->kind);
	}
}

static bool is_output(const Graph *g, int tid)
{
	for (int i = 0; i < g->noutputs; i++)
		if (g->outputs[i] == tid)
			return true;
	return false;
}

void ir_reference(const Graph *g, const float *const *inputs, float *const *outputs)
{
	double **val = calloc((size_t)(g->ntensors ? g->ntensors : 1), sizeof *val);
	int *last = malloc((size_t)(g->ntensors ? g->ntensors : 1) * sizeof *last);
	if (!val || !last)
		die("reference: out of memory");

	/* The last op that reads each tensor, so intermediates are freed as soon as they die;
	   outputs are kept to the end (INT32_MAX). */
	for (int t = 0; t < g->ntensors; t++)
		last[t] = is_output(g, t) ? INT32_MAX : -1;
	for (int i = 0; i < g->nops; i++)
		for (int a = 0; a < g->ops[i].nargs; a++)
			if (last[g->ops[i].args[a]] < i)
				last[g->ops[i].args[a]] = i;

	for (int i = 0; i < g->ninputs; i++) {
		int tid = g->inputs[i];
		int64_t n = numel(&g->tensors[tid]);
		val[tid] = new_values(n);
		for (int64_t j = 0; j < n; j++)
			val[tid][j] = inputs[i][j];
	}
	for (int i = 0; i < g->nparams; i++) {
		const Tensor *t = &g->tensors[g->params[i]];
		int64_t n = numel(t);
		if (!g->weights || t->param_offset + n > g->nweights)
			die("reference: param %s has no weights loaded", t->name);
		val[g->params[i]] = new_values(n);
		for (int64_t j = 0; j < n; j++)
			val[g->params[i]][j] = g->weights[t->param_offset + j];
	}

	for (int i = 0; i < g->nops; i++) {
		const Op *op = &g->ops[i];
		for (int a = 0; a < op->nargs; a++)
			if (!val[op->args[a]])
				die("reference: op %d reads %s before it is computed", i, g->tensors[op->args[a]].name);
		double *out = new_values(numel(&g->tensors[op->out]));
		run_op(g, op, val, out);
		val[op->out] = out;
		for (int a = 0; a < op->nargs; a++) {
			int t = op->args[a];
			if (last[t] == i && g->tensors[t].kind == TENSOR_VALUE) {
				free(val[t]);
				val[t] = NULL;
			}
		}
		if (last[op->out] < 0) { /* computed but never used: not kept */
			free(val[op->out]);
			val[op->out] = NULL;
		}
	}

	for (int i = 0; i < g->noutputs; i++) {
		int tid = g->outputs[i];
		if (!val[tid])
			die("reference: output %s was never computed", g->tensors[tid].name);
		int64_t n = numel(&g->tensors[tid]);
		for (int64_t j = 0; j < n; j++)
			outputs[i][j] = (float)val[tid][j];
	}
	for (int t = 0; t < g->ntensors; t++)
		free(val[t]);
	free(val);
	free(last);
}
