/* tests/unit/fold_test.c: unit tests of the rewrites before lowering: batchnorm folding
 * (ir/fold.c) and the unit-stride subsample (ir/unitstride.c).
 *
 * Parses small models from strings, loads pseudo-random weights, and checks:
 * - folding: the folded graph's reference output equals the unfolded graph's within 1e-5
 *   relative, the batchnorms are gone where they may fold, and the fold is skipped where it may
 *   not (the conv's result has another reader, or is a model output);
 * - unit stride: the rewritten graph's reference output equals the original's bit for bit (a
 *   max over one element is that element), each strided 1x1 conv gained a subsample and runs
 *   at stride 1, convs the rewrite must leave alone (padding, a 3x3 window, groups, stride 1)
 *   are left alone, and the memory plan gives each new tensor one buffer (workspace within the
 *   sum of the intermediates).
 * Prints `ok NAME` or `FAIL NAME: details` per check and exits 1 if any failed.
 * Build: cc -std=c11 -I. tests/unit/fold_test.c <weft objects but gen/main.o> -lm
 */
#define _POSIX_C_SOURCE 200809L
#include "ir/ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int nfailed;

static void check(bool ok, const char *name, const char *detail)
{
	if (ok)
		printf("ok %s\n", name);
	else {
		printf("FAIL %s: %s\n", name, detail);
		nfailed++;
	}
}

static Graph *load(const char *name, const char *text)
{
	Source *src = ir_alloc(sizeof *src);
	src->path = name;
	src->text = text;
	src->len = strlen(text);
	Graph *g = ir_parse(src);
	if (!g || !ir_infer(g) || !ir_load_weights(g, NULL) || ir_nerrors) {
		printf("FAIL %s: does not load\n", name);
		exit(1);
	}
	return g;
}

static int count_ops(const Graph *g, OpKind k)
{
	int n = 0;
	for (int i = 0; i < g->nops; i++)
		n += g->ops[i].kind == k;
	return n;
}

/* Reference outputs of g on deterministic inputs (malloc'd, output order). */
static float **outputs(const Graph *g)
{
	const float **in = calloc((size_t)g->ninputs + 1, sizeof *in);
	float **out = calloc((size_t)g->noutputs + 1, sizeof *out);
	for (int i = 0; i < g->ninputs; i++) {
		int64_t n = ir_numel(&g->tensors[g->inputs[i]]);
		float *v = malloc((size_t)n * sizeof *v);
		for (int64_t j = 0; j < n; j++)
			v[j] = ir_random_value(7 + (uint64_t)i, (uint64_t)j);
		in[i] = v;
	}
	for (int i = 0; i < g->noutputs; i++)
		out[i] = malloc((size_t)ir_numel(&g->tensors[g->outputs[i]]) * sizeof(float));
	ir_reference(g, in, out);
	for (int i = 0; i < g->ninputs; i++)
		free((void *)in[i]);
	free(in);
	return out;
}

static void free_outputs(float **out, int n)
{
	for (int i = 0; i < n; i++)
		free(out[i]);
	free(out);
}

/* Fold a second copy of the model; the outputs must agree within 1e-5 relative. */
static void same_result(const char *name, const char *text, int want_bn_left)
{
	Graph *a = load(name, text), *b = load(name, text);
	int bn_before = count_ops(b, OP_BATCHNORM), nops = b->nops;
	check(ir_fold(b), name, "ir_fold returned false");
	char *why = ir_fmt("%d batchnorms left of %d (ops %d -> %d), want %d", count_ops(b, OP_BATCHNORM),
		bn_before, nops, b->nops, want_bn_left);
	check(count_ops(b, OP_BATCHNORM) == want_bn_left && b->nops == nops - (bn_before - want_bn_left),
		ir_fmt("%s: batchnorms folded", name), why);
	float **x = outputs(a), **y = outputs(b);
	for (int i = 0; i < a->noutputs; i++) {
		const Tensor *t = &a->tensors[a->outputs[i]];
		const Tensor *u = &b->tensors[b->outputs[i]];
		check(!strcmp(t->name, u->name), ir_fmt("%s: output %d keeps its name", name, i), u->name);
		int64_t n = ir_numel(t), bad = -1;
		double worst = 0;
		for (int64_t j = 0; j < n; j++) {
			double d = fabs((double)x[i][j] - y[i][j]), tol = 1e-5 * fmax(fabs(x[i][j]), 1e-2); /* floats near 0 */
			if (d > tol && bad < 0)
				bad = j;
			worst = fmax(worst, d);
		}
		check(bad < 0, ir_fmt("%s: output %s matches", name, t->name),
			bad < 0 ? "" : ir_fmt("element %lld: %g vs %g (max abs diff %g)", (long long)bad,
				x[i][bad], y[i][bad], worst));
	}
	free_outputs(x, a->noutputs);
	free_outputs(y, b->noutputs);
}

static const char conv_bn[] =
	"model conv_bn\n"
	"input  x : f32[2, 4, 7, 7]\n"
	"param  w1 : f32[8, 4, 3, 3]\n"
	"param  b1 : f32[8]\n"
	"param  s1 : f32[8]\n"
	"param  o1 : f32[8]\n"
	"param  m1 : f32[8]\n"
	"param  v1 : f32[8]\n"
	"param  w2 : f32[8, 1, 3, 3]\n"
	"param  s2 : f32[8]\n"
	"param  o2 : f32[8]\n"
	"param  m2 : f32[8]\n"
	"param  v2 : f32[8]\n"
	"c1 = conv2d(x, w1, b1, pad=1, stride=2)\n"
	"n1 = batchnorm(c1, s1, o1, m1, v1, eps=1e-3)\n"
	"r1 = relu(n1)\n"
	"c2 = conv2d(r1, w2, pad=1, groups=8)\n"
	"n2 = batchnorm(c2, s2, o2, m2, v2)\n"
	"y = relu6(n2)\n"
	"output y\n"
	"output n1\n";

/* c1 is also read by the add: its batchnorm stays; c2 is a model output: its batchnorm stays. */
static const char no_fold[] =
	"model no_fold\n"
	"input  x : f32[1, 4, 5, 5]\n"
	"param  w1 : f32[4, 4, 3, 3]\n"
	"param  s1 : f32[4]\n"
	"param  o1 : f32[4]\n"
	"param  m1 : f32[4]\n"
	"param  v1 : f32[4]\n"
	"c1 = conv2d(x, w1, pad=1)\n"
	"n1 = batchnorm(c1, s1, o1, m1, v1)\n"
	"y = add(n1, c1)\n"
	"c2 = conv2d(y, w1, pad=1)\n"
	"n2 = batchnorm(c2, s1, o1, m1, v1)\n"
	"output n2\n"
	"output c2\n";

/* the same weights shared by two folded convs: each gets its own folded copy */
static const char shared[] =
	"model shared\n"
	"input  x : f32[1, 4, 5, 5]\n"
	"param  w : f32[4, 4, 1, 1]\n"
	"param  b : f32[4]\n"
	"param  s1 : f32[4]\n"
	"param  o1 : f32[4]\n"
	"param  m1 : f32[4]\n"
	"param  v1 : f32[4]\n"
	"param  s2 : f32[4]\n"
	"c1 = conv2d(x, w, b)\n"
	"n1 = batchnorm(c1, s1, o1, m1, v1)\n"
	"c2 = conv2d(n1, w, b)\n"
	"n2 = batchnorm(c2, s2, o1, m1, v1)\n"
	"y = add(n2, n1)\n"
	"output y\n";

/* ---- unit stride ---- */

/* Convs of g at a stride above 1. */
static int strided_convs(const Graph *g)
{
	int n = 0;
	for (int i = 0; i < g->nops; i++)
		n += g->ops[i].kind == OP_CONV2D && (g->ops[i].p.stride[0] > 1 || g->ops[i].p.stride[1] > 1);
	return n;
}

/* Rewrite a second copy of the model: want_sub subsamples added, no strided conv left of those,
   the same outputs bit for bit, and a plan with one buffer per tensor. */
static void unit_stride_result(const char *name, const char *text, int want_sub, int want_strided_left)
{
	Graph *a = load(name, text), *b = load(name, text);
	int nops = b->nops;
	check(ir_unit_stride(b), name, "ir_unit_stride returned false");
	check(count_ops(b, OP_MAXPOOL2D) - count_ops(a, OP_MAXPOOL2D) == want_sub && b->nops == nops + want_sub &&
			strided_convs(b) == want_strided_left,
		ir_fmt("%s: %d subsamples, %d strided convs left", name, want_sub, want_strided_left),
		ir_fmt("ops %d -> %d, maxpools %d -> %d, strided convs %d -> %d", nops, b->nops,
			count_ops(a, OP_MAXPOOL2D), count_ops(b, OP_MAXPOOL2D), strided_convs(a), strided_convs(b)));
	float **x = outputs(a), **y = outputs(b);
	for (int i = 0; i < a->noutputs; i++) {
		const Tensor *t = &a->tensors[a->outputs[i]];
		int64_t n = ir_numel(t), bad = -1;
		for (int64_t j = 0; j < n && bad < 0; j++)
			if (memcmp(&x[i][j], &y[i][j], sizeof(float)))
				bad = j;
		check(bad < 0, ir_fmt("%s: output %s bit for bit", name, t->name),
			bad < 0 ? "" : ir_fmt("element %lld: %.9g vs %.9g", (long long)bad, x[i][bad], y[i][bad]));
		free(x[i]);
		free(y[i]);
	}
	free(x);
	free(y);
	ir_plan(b);
	check(b->workspace_bytes <= b->intermediate_bytes, ir_fmt("%s: one buffer per tensor", name),
		ir_fmt("workspace %lld bytes, intermediates %lld", (long long)b->workspace_bytes,
			(long long)b->intermediate_bytes));
}

/* Strides [2, 3], a bias, a relu after, batch 2, odd sizes. */
static const char strided[] =
	"model strided\n"
	"input  x : f32[2, 20, 11, 13]\n"
	"param  w : f32[24, 20, 1, 1]\n"
	"param  b : f32[24]\n"
	"t = conv2d(x, w, b, stride=[2, 3])\n"
	"y = relu(t)\n"
	"output y\n";

/* Five strided convs in a chain, one weight (more new tensors than the model had values). */
static const char chain[] =
	"model chain\n"
	"input  x : f32[1, 16, 64, 64]\n"
	"param  w : f32[16, 16, 1, 1]\n"
	"a1 = conv2d(x, w, stride=2)\n"
	"a2 = conv2d(a1, w, stride=2)\n"
	"a3 = conv2d(a2, w, stride=2)\n"
	"a4 = conv2d(a3, w, stride=2)\n"
	"y = conv2d(a4, w, stride=2)\n"
	"output y\n";

/* Left alone: padding, a 3x3 window, groups, stride 1; the name t__sub taken by the model. */
static const char others[] =
	"model others\n"
	"input  x : f32[1, 8, 12, 12]\n"
	"param  w1 : f32[8, 8, 1, 1]\n"
	"param  w2 : f32[8, 8, 3, 3]\n"
	"param  w3 : f32[8, 4, 1, 1]\n"
	"t__sub = conv2d(x, w1, stride=2, pad=1)\n"
	"c2 = conv2d(x, w2, stride=2, pad=1)\n"
	"c3 = conv2d(x, w3, stride=2, groups=2)\n"
	"c4 = conv2d(x, w1)\n"
	"t = conv2d(x, w1, stride=2)\n"
	"output t__sub\n"
	"output c2\n"
	"output c3\n"
	"output c4\n"
	"output t\n";

int main(void)
{
	same_result("conv_bn", conv_bn, 0);
	same_result("no_fold", no_fold, 2);
	same_result("shared", shared, 0);
	unit_stride_result("strided", strided, 1, 0);
	unit_stride_result("chain", chain, 5, 0);
	unit_stride_result("others", others, 1, 3);
	return nfailed ? 1 : 0;
}
