/* ir/unitstride.c: a strided 1x1 conv reads its input through a subsample, at generation time.
 *
 * A conv2d with a 1x1 kernel, no padding, one group and a stride above 1 reads one input pixel
 * in stride[0] * stride[1]. On plain NCHW its pixels are not contiguous, so a GEMM whose vectors
 * are pixels must load two vectors and permute them into one (a shuffle per vector and per
 * input channel, on the port the FMAs need) or gather; with channels as the vectors instead,
 * the plain output was stored lane by lane. Both ran at 0.62-0.73 of oneDNN (make bench,
 * 56x56x256 -> 28x28x512). Since the stores go out transposed (gen/vector.c), channel vectors
 * reading the strided input directly measured 0.80-0.83 there against 0.91-0.96 with this
 * copy, and better only on ResNet-18's 7x7 one (0.98 vs 0.93). oneDNN's answer is the same as this one ("reduce to unit stride"):
 *   t = maxpool2d(x, kernel=[1, 1], stride=S)     (every S-th pixel: a copy, 1/4 of x at S=2)
 *   y = conv2d(t, w[, b], stride=1)
 * so the conv is a stride-1 1x1 conv over contiguous pixels. A max over a window of one
 * element is that element, so results are bit for bit those of the strided conv for finite
 * inputs (a NaN pixel: the scalar max, fmaxf, gives -inf where the SIMD one passes the NaN on,
 * as with any maxpool). The copy
 * costs about 4% of the conv at 56x56x256; on blocked activations (ResNet's downsample convs
 * inside the network) it is a copy of whole vectors.
 * The new tensor is "<conv output>__sub" (a number after it if a model name took that), a value
 * like any other (not internal: internal tensors are an op's scratch, planned with it), written
 * by a new op placed right before the conv; the op carries the conv's statement for comments.
 * After ir_fold, before ir_lower; assumes an inferred graph.
 */
#include "ir.h"

#include <string.h>

/* Is op i a conv that this rewrite applies to? */
static bool strided_1x1(const Graph *g, const Op *op)
{
	if (op->kind != OP_CONV2D || op->p.groups != 1)
		return false;
	const Tensor *w = &g->tensors[op->args[1]];
	if (w->rank != 4 || w->dims[2] != 1 || w->dims[3] != 1)
		return false;
	for (int k = 0; k < 4; k++)
		if (op->p.pad[k])
			return false;
	return op->p.stride[0] > 1 || op->p.stride[1] > 1;
}

/* A new internal value tensor: the conv's input subsampled to the conv's output size. */
static int new_subsample(Graph *g, const Op *conv)
{
	const Tensor *x = &g->tensors[conv->args[0]], *y = &g->tensors[conv->out];
	int64_t dims[4] = {x->dims[0], x->dims[1], y->dims[2], y->dims[3]};
	char base[IR_MAX_NAME + 1];
	memcpy(base, y->name, sizeof base);
	return ir_new_tensor(g, base, "sub", TENSOR_VALUE, 4, dims, y->loc);
}

/* Op ci becomes two ops: the subsample at ci, the conv (stride 1) at ci + 1. */
static void split_conv(Graph *g, int ci)
{
	int t = new_subsample(g, &g->ops[ci]);
	g->ops = ir_xrealloc(g->ops, (size_t)(g->nops + 1) * sizeof *g->ops);
	memmove(&g->ops[ci + 1], &g->ops[ci], (size_t)(g->nops - ci) * sizeof *g->ops);
	g->nops++;
	Op *sub = &g->ops[ci], *conv = &g->ops[ci + 1];
	memset(sub, 0, sizeof *sub);
	sub->kind = OP_MAXPOOL2D;
	sub->loc = conv->loc;
	sub->stmt_loc = conv->stmt_loc;
	sub->text = ir_fmt("%s (its input subsampled)", conv->text);
	sub->out = t;
	sub->nargs = 1;
	sub->args[0] = conv->args[0];
	sub->argloc[0] = conv->argloc[0];
	sub->p.kernel[0] = sub->p.kernel[1] = 1;
	sub->p.stride[0] = conv->p.stride[0];
	sub->p.stride[1] = conv->p.stride[1];
	conv->args[0] = t;
	conv->p.stride[0] = conv->p.stride[1] = 1;
	for (int k = 0; k < g->ntensors; k++)
		if (g->tensors[k].producer >= ci)
			g->tensors[k].producer++;
	g->tensors[t].producer = ci;
}

bool ir_rewrite(Graph *g) { return ir_fold(g) && ir_unit_stride(g); }

bool ir_unit_stride(Graph *g)
{
	for (int i = 0; i < g->nops; i++)
		if (strided_1x1(g, &g->ops[i])) {
			split_conv(g, i);
			i++; /* the conv, now at stride 1 */
		}
	return true;
}
