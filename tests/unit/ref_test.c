/* tests/unit/ref_test.c: unit tests of the reference interpreter (ir/ref.c) and of
 * ir_load_weights (ir/weights.c).
 *
 * Builds tiny graphs by hand (no parser, no shape inference: Graph, Tensor, Op and OpParams are
 * filled directly) and checks every result against values worked out by hand. Prints one line
 * per check, `ok NAME` or `FAIL NAME: details`, and exits 1 if any failed.
 * Build: cc -std=c11 -I. tests/unit/ref_test.c <weft objects but gen/main.o> -lm
 */
#define _POSIX_C_SOURCE 200809L
#include "ir/ir.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int nfailed;

/* ---- building graphs by hand ---- */

enum { MAXT = 16, MAXOPS = 8 };

typedef struct Test {
	Graph g;
	Tensor tensors[MAXT];
	Op ops[MAXOPS];
	int inputs[MAXT], params[MAXT], outputs[MAXT];
	float data[MAXT][64]; /* input values, by input position */
	float *weights;
} Test;

static void test_init(Test *t, const char *name)
{
	memset(t, 0, sizeof *t);
	snprintf(t->g.name, sizeof t->g.name, "%s", name);
	t->g.tensors = t->tensors;
	t->g.ops = t->ops;
	t->g.inputs = t->inputs;
	t->g.params = t->params;
	t->g.outputs = t->outputs;
}

/* A tensor of the given kind and shape (rank dims, then the dims). Returns its id. */
static int tensor(Test *t, TensorKind kind, const char *name, int rank, ...)
{
	int id = t->g.ntensors++;
	Tensor *x = &t->tensors[id];
	snprintf(x->name, sizeof x->name, "%s", name);
	x->kind = kind;
	x->rank = rank;
	x->producer = -1;
	x->input_index = x->output_index = -1;
	x->view_of = -1;
	va_list ap;
	va_start(ap, rank);
	for (int d = 0; d < rank; d++)
		x->dims[d] = va_arg(ap, int);
	va_end(ap);
	if (kind == TENSOR_INPUT)
		t->inputs[x->input_index = t->g.ninputs++] = id;
	if (kind == TENSOR_PARAM)
		t->params[t->g.nparams++] = id;
	return id;
}

static int64_t count(const Tensor *x)
{
	int64_t n = 1;
	for (int d = 0; d < x->rank; d++)
		n *= x->dims[d];
	return n;
}

/* An op writing tensor out from nargs arguments; returns it so the caller can set op->p. */
static Op *op(Test *t, OpKind kind, int out, int nargs, ...)
{
	Op *o = &t->ops[t->g.nops];
	o->kind = kind;
	o->out = out;
	o->nargs = nargs;
	t->tensors[out].producer = t->g.nops++;
	va_list ap;
	va_start(ap, nargs);
	for (int a = 0; a < nargs; a++)
		o->args[a] = va_arg(ap, int);
	va_end(ap);
	return o;
}

static void output(Test *t, int id) { t->outputs[t->g.noutputs++] = id; }

/* Values of input number i. */
static void set_input(Test *t, int i, int n, const double *v)
{
	for (int j = 0; j < n; j++)
		t->data[i][j] = (float)v[j];
}

/* Param values, concatenated in declaration order. */
static void set_weights(Test *t, int n, const double *v)
{
	t->weights = malloc((size_t)n * sizeof(float));
	for (int j = 0; j < n; j++)
		t->weights[j] = (float)v[j];
	int64_t off = 0;
	for (int i = 0; i < t->g.nparams; i++) {
		t->tensors[t->params[i]].param_offset = off;
		off += count(&t->tensors[t->params[i]]);
	}
	if (off != n) {
		fprintf(stderr, "ref_test: bad test: %d weights given, %lld needed\n", n, (long long)off);
		exit(2);
	}
	t->g.weights = t->weights;
	t->g.nweights = n;
}

/* Run the reference and compare output 0 with want (n values, tolerance 1e-6 relative). */
static void check(Test *t, const char *name, int n, const double *want)
{
	const float *in[MAXT];
	for (int i = 0; i < t->g.ninputs; i++)
		in[i] = t->data[i];
	int oid = t->outputs[0];
	if (count(&t->tensors[oid]) != n) {
		printf("FAIL %s: output has %lld elements, expected %d\n", name, (long long)count(&t->tensors[oid]), n);
		nfailed++;
		return;
	}
	float *got = calloc((size_t)n, sizeof *got);
	float *outs[1] = {got};
	ir_reference(&t->g, in, outs);
	for (int i = 0; i < n; i++)
		if (!(fabs(got[i] - want[i]) <= 1e-6 + 1e-6 * fabs(want[i]))) {
			printf("FAIL %s: element %d is %.9g, expected %.9g\n", name, i, got[i], want[i]);
			nfailed++;
			free(got);
			free(t->weights);
			return;
		}
	printf("ok %s\n", name);
	free(got);
	free(t->weights);
}

static void expect(bool cond, const char *name, const char *details)
{
	if (cond) {
		printf("ok %s\n", name);
	} else {
		printf("FAIL %s: %s\n", name, details);
		nfailed++;
	}
}

static const double x3x3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

/* ---- convolution ---- */

/* 1 channel, 3x3 input 1..9, 3x3 kernel, pad 1. */
static void test_conv_pad1(void)
{
	Test t;
	test_init(&t, "conv");
	int x = tensor(&t, TENSOR_INPUT, "x", 4, 1, 1, 3, 3);
	tensor(&t, TENSOR_PARAM, "w", 4, 1, 1, 3, 3);
	tensor(&t, TENSOR_PARAM, "b", 1, 1);
	int y = tensor(&t, TENSOR_VALUE, "y", 4, 1, 1, 3, 3);
	Op *o = op(&t, OP_CONV2D, y, 3, x, 1, 2);
	o->p = (OpParams){.stride = {1, 1}, .dil = {1, 1}, .pad = {1, 1, 1, 1}, .groups = 1};
	output(&t, y);
	set_input(&t, 0, 9, x3x3);
	/* all-ones kernel, bias 1: 1 + the sum of each 3x3 neighbourhood */
	set_weights(&t, 10, (double[]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
	check(&t, "conv2d 3x3 pad 1, ones", 9, (double[]){13, 22, 17, 28, 46, 34, 25, 40, 29});

	/* kernel with w[0,0]=1 and w[2,2]=2, bias 0: out[i,j] = x[i-1,j-1] + 2*x[i+1,j+1] */
	set_weights(&t, 10, (double[]){1, 0, 0, 0, 0, 0, 0, 0, 2, 0});
	check(&t, "conv2d 3x3 pad 1, corner taps", 9, (double[]){10, 12, 0, 16, 19, 2, 0, 4, 5});

	/* stride 2: the corners of the ones result, without the bias */
	t.tensors[y].dims[2] = t.tensors[y].dims[3] = 2;
	o->p.stride[0] = o->p.stride[1] = 2;
	set_weights(&t, 10, (double[]){1, 1, 1, 1, 1, 1, 1, 1, 1, 0});
	check(&t, "conv2d 3x3 pad 1 stride 2", 4, (double[]){12, 16, 24, 28});
}

/* x[1,4,1,2], groups 2, w[2,2,1,1]: output 0 reads channels 0-1, output 1 channels 2-3. */
static void test_conv_grouped(void)
{
	Test t;
	test_init(&t, "gconv");
	int x = tensor(&t, TENSOR_INPUT, "x", 4, 1, 4, 1, 2);
	int w = tensor(&t, TENSOR_PARAM, "w", 4, 2, 2, 1, 1);
	int y = tensor(&t, TENSOR_VALUE, "y", 4, 1, 2, 1, 2);
	Op *o = op(&t, OP_CONV2D, y, 2, x, w);
	o->p = (OpParams){.stride = {1, 1}, .dil = {1, 1}, .groups = 2};
	output(&t, y);
	set_input(&t, 0, 8, (double[]){1, 2, 3, 4, 5, 6, 7, 8});
	set_weights(&t, 4, (double[]){1, 10, 100, 1000});
	/* k0 = 1*[1,2] + 10*[3,4]; k1 = 100*[5,6] + 1000*[7,8] */
	check(&t, "conv2d groups=2", 4, (double[]){31, 42, 7500, 8600});

	/* depthwise: groups = C = K = 4, w[4,1,1,1] */
	t.tensors[w].dims[0] = 4;
	t.tensors[w].dims[1] = 1;
	t.tensors[y].dims[1] = 4;
	o->p.groups = 4;
	set_weights(&t, 4, (double[]){1, 2, 3, 4});
	check(&t, "conv2d depthwise", 8, (double[]){1, 2, 6, 8, 15, 18, 28, 32});
}

/* x[1,1,1,5] = 1..5, w = [1, 10] with dilation 2 and one column of left padding:
   out[j] = x[j-1] + 10*x[j+1], OW = (5+1 - 2*1 - 1)/1 + 1 = 4. */
static void test_conv_dilated(void)
{
	Test t;
	test_init(&t, "dconv");
	int x = tensor(&t, TENSOR_INPUT, "x", 4, 1, 1, 1, 5);
	int w = tensor(&t, TENSOR_PARAM, "w", 4, 1, 1, 1, 2);
	int y = tensor(&t, TENSOR_VALUE, "y", 4, 1, 1, 1, 4);
	Op *o = op(&t, OP_CONV2D, y, 2, x, w);
	o->p = (OpParams){.stride = {1, 1}, .dil = {1, 2}, .pad = {0, 1, 0, 0}, .groups = 1};
	output(&t, y);
	set_input(&t, 0, 5, (double[]){1, 2, 3, 4, 5});
	set_weights(&t, 2, (double[]){1, 10});
	check(&t, "conv2d dilation 2, asymmetric pad", 4, (double[]){20, 31, 42, 53});

	/* the same along H: x[1,1,5,1], w[1,1,2,1], dilation [2,1], one row of top padding */
	t.tensors[x].dims[2] = 5, t.tensors[x].dims[3] = 1;
	t.tensors[w].dims[2] = 2, t.tensors[w].dims[3] = 1;
	t.tensors[y].dims[2] = 4, t.tensors[y].dims[3] = 1;
	o->p = (OpParams){.stride = {1, 1}, .dil = {2, 1}, .pad = {1, 0, 0, 0}, .groups = 1};
	set_input(&t, 0, 5, (double[]){1, 2, 3, 4, 5});
	set_weights(&t, 2, (double[]){1, 10});
	check(&t, "conv2d dilation 2 along H, top pad", 4, (double[]){20, 31, 42, 53});
}

/* ---- pooling ---- */

/* t is x[1,1,h,w] -> y[1,1,oh,ow]. (A Test points into itself: built in place, never copied.) */
static void pool_graph(Test *t, OpKind kind, int h, int w, int oh, int ow, OpParams p)
{
	test_init(t, "pool");
	int x = tensor(t, TENSOR_INPUT, "x", 4, 1, 1, h, w);
	int y = tensor(t, TENSOR_VALUE, "y", 4, 1, 1, oh, ow);
	op(t, kind, y, 1, x)->p = p;
	output(t, y);
}

static void test_maxpool(void)
{
	/* W=5, kernel 2, stride 2, pad 1, ceil_mode: ceil((5+2-2)/2)+1 = 4 windows, but the 4th
	   would start at column 5, inside the right padding, so PyTorch drops it: 3 windows over
	   columns [-1,0], [1,2], [3,4]. */
	OpParams p = {.kernel = {1, 2}, .stride = {1, 2}, .pad = {0, 1, 0, 1}, .ceil_mode = true};
	Test t;
	pool_graph(&t, OP_MAXPOOL2D, 1, 5, 1, 3, p);
	set_input(&t, 0, 5, (double[]){1, 2, 3, 4, 5});
	check(&t, "maxpool2d ceil_mode drop rule", 3, (double[]){1, 3, 5});

	/* ceil_mode keeps a last window that runs past the end: [1,2] [3,4] [5] */
	p = (OpParams){.kernel = {1, 2}, .stride = {1, 2}, .ceil_mode = true};
	pool_graph(&t, OP_MAXPOOL2D, 1, 5, 1, 3, p);
	set_input(&t, 0, 5, (double[]){1, 2, 3, 4, 5});
	check(&t, "maxpool2d ceil_mode partial window", 3, (double[]){2, 4, 5});

	/* negative values, kernel 2, stride 1, pad 1: padding (0) never wins */
	p = (OpParams){.kernel = {2, 2}, .stride = {1, 1}, .pad = {1, 1, 1, 1}};
	pool_graph(&t, OP_MAXPOOL2D, 2, 2, 3, 3, p);
	set_input(&t, 0, 4, (double[]){-1, -2, -3, -4});
	check(&t, "maxpool2d padding never wins", 9, (double[]){-1, -1, -2, -1, -1, -2, -3, -3, -4});
}

static void test_avgpool(void)
{
	/* 2x2 input 1..4, kernel 2, stride 1, pad 1: 3x3 windows */
	OpParams p = {.kernel = {2, 2}, .stride = {1, 1}, .pad = {1, 1, 1, 1}};
	Test t;
	pool_graph(&t, OP_AVGPOOL2D, 2, 2, 3, 3, p);
	set_input(&t, 0, 4, (double[]){1, 2, 3, 4});
	check(&t, "avgpool2d pad 1, count_include_pad=0", 9,
	      (double[]){1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4});
	pool_graph(&t, OP_AVGPOOL2D, 2, 2, 3, 3, (p.count_include_pad = true, p));
	set_input(&t, 0, 4, (double[]){1, 2, 3, 4});
	check(&t, "avgpool2d pad 1, count_include_pad=1", 9,
	      (double[]){0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1});

	/* W=5, kernel 3, stride 2, right pad 1, ceil_mode: windows [0..2] [2..4] [4..6]; the last
	   holds x[4]=5, one padded cell (5) and one cell past the padding (6): count_include_pad
	   divides by 2, not 3 */
	p = (OpParams){.kernel = {1, 3}, .stride = {1, 2}, .pad = {0, 0, 0, 1}, .ceil_mode = true};
	pool_graph(&t, OP_AVGPOOL2D, 1, 5, 1, 3, p);
	set_input(&t, 0, 5, (double[]){1, 2, 3, 4, 5});
	check(&t, "avgpool2d ceil_mode, count_include_pad=0", 3, (double[]){2, 4, 5});
	pool_graph(&t, OP_AVGPOOL2D, 1, 5, 1, 3, (p.count_include_pad = true, p));
	set_input(&t, 0, 5, (double[]){1, 2, 3, 4, 5});
	check(&t, "avgpool2d ceil_mode, count_include_pad=1", 3, (double[]){2, 4, 2.5});

	pool_graph(&t, OP_GLOBAL_AVGPOOL, 2, 2, 1, 1, (OpParams){0});
	set_input(&t, 0, 4, (double[]){1, 2, 3, 6});
	check(&t, "global_avgpool", 1, (double[]){3});
}

/* ---- elementwise and matrix products ---- */

static void test_broadcast(void)
{
	Test t;
	test_init(&t, "bcast");
	int a = tensor(&t, TENSOR_INPUT, "a", 3, 2, 1, 3);
	int b = tensor(&t, TENSOR_INPUT, "b", 2, 4, 1);
	int y = tensor(&t, TENSOR_VALUE, "y", 3, 2, 4, 3);
	op(&t, OP_ADD, y, 2, a, b);
	output(&t, y);
	set_input(&t, 0, 6, (double[]){0, 1, 2, 10, 11, 12}); /* a[i,0,k] = 10i + k */
	set_input(&t, 1, 4, (double[]){0, 100, 200, 300});    /* b[j,0] = 100j */
	double want[24];
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 4; j++)
			for (int k = 0; k < 3; k++)
				want[(i * 4 + j) * 3 + k] = 10 * i + k + 100 * j;
	check(&t, "add [2,1,3]+[4,1]", 24, want);

	t.ops[0].kind = OP_SUB;
	set_input(&t, 0, 6, (double[]){0, 1, 2, 10, 11, 12});
	set_input(&t, 1, 4, (double[]){0, 100, 200, 300});
	for (int i = 0; i < 24; i++)
		want[i] = want[i] - 2 * 100 * (i / 3 % 4);
	check(&t, "sub [2,1,3]-[4,1]", 24, want);
}

static void test_unary(void)
{
	static const struct { OpKind kind; const char *name; OpParams p; double want[5]; } cases[] = {
		{OP_RELU, "relu", {.alpha = 0}, {0, 0, 0, 0.5, 7}},
		{OP_RELU6, "relu6", {.alpha = 0}, {0, 0, 0, 0.5, 6}},
		{OP_CLIP, "clip", {.lo = -1, .hi = 1}, {-1, -0.5, 0, 0.5, 1}},
		{OP_LEAKY_RELU, "leaky_relu", {.alpha = 0.5}, {-1, -0.25, 0, 0.5, 7}},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		Test t;
		test_init(&t, "unary");
		int x = tensor(&t, TENSOR_INPUT, "x", 1, 5);
		int y = tensor(&t, TENSOR_VALUE, "y", 1, 5);
		op(&t, cases[c].kind, y, 1, x)->p = cases[c].p;
		output(&t, y);
		set_input(&t, 0, 5, (double[]){-2, -0.5, 0, 0.5, 7});
		check(&t, cases[c].name, 5, cases[c].want);
	}
}

static void test_dense_matmul(void)
{
	Test t;
	test_init(&t, "dense");
	int x = tensor(&t, TENSOR_INPUT, "x", 2, 2, 2);
	tensor(&t, TENSOR_PARAM, "w", 2, 3, 2);
	tensor(&t, TENSOR_PARAM, "b", 1, 3);
	int y = tensor(&t, TENSOR_VALUE, "y", 2, 2, 3);
	op(&t, OP_DENSE, y, 3, x, 1, 2);
	output(&t, y);
	set_input(&t, 0, 4, (double[]){1, 2, 3, 4});
	set_weights(&t, 9, (double[]){1, 1, 3, 4, 0, 1, 10, 20, 30});
	check(&t, "dense x*w^T+b", 6, (double[]){13, 31, 32, 17, 45, 34});

	/* a[2,1,2] @ b[2,1] (batch dims [2] and []: b broadcasts) */
	test_init(&t, "matmul");
	int a = tensor(&t, TENSOR_INPUT, "a", 3, 2, 1, 2);
	int b = tensor(&t, TENSOR_INPUT, "b", 2, 2, 1);
	y = tensor(&t, TENSOR_VALUE, "y", 3, 2, 1, 1);
	op(&t, OP_MATMUL, y, 2, a, b);
	output(&t, y);
	set_input(&t, 0, 4, (double[]){1, 2, 3, 4});
	set_input(&t, 1, 2, (double[]){10, 100});
	check(&t, "matmul batch broadcast", 2, (double[]){210, 430});
}

/* ---- normalisations ---- */

static void test_batchnorm(void)
{
	Test t;
	test_init(&t, "bn");
	int x = tensor(&t, TENSOR_INPUT, "x", 4, 1, 2, 1, 2);
	for (int i = 0; i < 4; i++)
		tensor(&t, TENSOR_PARAM, "p", 1, 2);
	int y = tensor(&t, TENSOR_VALUE, "y", 4, 1, 2, 1, 2);
	op(&t, OP_BATCHNORM, y, 5, x, 1, 2, 3, 4)->p.eps = 0;
	output(&t, y);
	set_input(&t, 0, 4, (double[]){5, 1, 7, 11});
	/* scale [2,3], bias [1,1], mean [1,3], var [4,16] */
	set_weights(&t, 8, (double[]){2, 3, 1, 1, 1, 3, 4, 16});
	check(&t, "batchnorm", 4, (double[]){5, 1, 4, 7});
}

static void test_softmax(void)
{
	Test t;
	test_init(&t, "softmax");
	int x = tensor(&t, TENSOR_INPUT, "x", 2, 2, 3);
	int y = tensor(&t, TENSOR_VALUE, "y", 2, 2, 3);
	op(&t, OP_SOFTMAX, y, 1, x)->p.axis = 1;
	output(&t, y);
	set_input(&t, 0, 6, (double[]){1, 2, 3, 1000, 1000, 1000});
	const float *in[1] = {t.data[0]};
	float got[6];
	float *outs[1] = {got};
	ir_reference(&t.g, in, outs);
	double s0 = got[0] + got[1] + got[2], s1 = got[3] + got[4] + got[5];
	char why[200];
	snprintf(why, sizeof why, "row sums %.9g %.9g, row 0 = %g %g %g, row 1 = %g %g %g", s0, s1,
	         got[0], got[1], got[2], got[3], got[4], got[5]);
	expect(fabs(s0 - 1) < 1e-6 && fabs(s1 - 1) < 1e-6 && got[0] < got[1] && got[1] < got[2] &&
	       fabs(got[3] - 1.0 / 3) < 1e-7 && fabs(got[5] - 1.0 / 3) < 1e-7,
	       "softmax rows sum to 1, stable at 1000", why);

	/* along axis 0 of [2,2]: each column is [1,7] or [7,7] */
	test_init(&t, "softmax0");
	x = tensor(&t, TENSOR_INPUT, "x", 2, 2, 2);
	y = tensor(&t, TENSOR_VALUE, "y", 2, 2, 2);
	op(&t, OP_SOFTMAX, y, 1, x)->p.axis = 0;
	output(&t, y);
	set_input(&t, 0, 4, (double[]){7, 1, 7, 1});
	check(&t, "softmax axis 0", 4, (double[]){0.5, 0.5, 0.5, 0.5});
}

static void test_layernorm(void)
{
	/* rows [1,3] and [4,0], eps 0: mean 2, variance 1 and 4 -> [-1,1] and [1,-1];
	   gamma [2,3], beta [10,20] */
	Test t;
	test_init(&t, "ln");
	int x = tensor(&t, TENSOR_INPUT, "x", 2, 2, 2);
	tensor(&t, TENSOR_PARAM, "gamma", 1, 2);
	tensor(&t, TENSOR_PARAM, "beta", 1, 2);
	int y = tensor(&t, TENSOR_VALUE, "y", 2, 2, 2);
	Op *o = op(&t, OP_LAYERNORM, y, 3, x, 1, 2);
	o->p.axis = 1;
	o->p.eps = 0;
	output(&t, y);
	set_input(&t, 0, 4, (double[]){1, 3, 4, 0});
	set_weights(&t, 4, (double[]){2, 3, 10, 20});
	check(&t, "layernorm last axis", 4, (double[]){8, 23, 12, 17});

	/* x[1,2,2] over axes 1..2 together: [1,3,1,3] -> [-1,1,-1,1]; gamma [[1,2],[3,4]], beta 0 */
	test_init(&t, "ln2");
	x = tensor(&t, TENSOR_INPUT, "x", 3, 1, 2, 2);
	tensor(&t, TENSOR_PARAM, "gamma", 2, 2, 2);
	tensor(&t, TENSOR_PARAM, "beta", 2, 2, 2);
	y = tensor(&t, TENSOR_VALUE, "y", 3, 1, 2, 2);
	o = op(&t, OP_LAYERNORM, y, 3, x, 1, 2);
	o->p.axis = 1;
	o->p.eps = 0;
	output(&t, y);
	set_input(&t, 0, 4, (double[]){1, 3, 1, 3});
	set_weights(&t, 8, (double[]){1, 2, 3, 4, 0, 0, 0, 0});
	check(&t, "layernorm over two axes", 4, (double[]){-1, 2, -3, 4});
}

/* ---- data movement ---- */

static void test_transpose(void)
{
	Test t;
	test_init(&t, "tr");
	int x = tensor(&t, TENSOR_INPUT, "x", 2, 2, 3);
	int y = tensor(&t, TENSOR_VALUE, "y", 2, 3, 2);
	op(&t, OP_TRANSPOSE, y, 1, x)->p.perm[0] = 1; /* perm [1, 0] */
	output(&t, y);
	set_input(&t, 0, 6, (double[]){0, 1, 2, 3, 4, 5});
	check(&t, "transpose [1,0]", 6, (double[]){0, 3, 1, 4, 2, 5});

	/* x[2,3,4] with perm [2,0,1] -> y[4,2,3], y[i,j,k] = x[j,k,i] = 12j + 4k + i */
	test_init(&t, "tr3");
	x = tensor(&t, TENSOR_INPUT, "x", 3, 2, 3, 4);
	y = tensor(&t, TENSOR_VALUE, "y", 3, 4, 2, 3);
	Op *o = op(&t, OP_TRANSPOSE, y, 1, x);
	o->p.perm[0] = 2, o->p.perm[1] = 0, o->p.perm[2] = 1;
	output(&t, y);
	double in[24], want[24];
	for (int i = 0; i < 24; i++)
		in[i] = i;
	set_input(&t, 0, 24, in);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 2; j++)
			for (int k = 0; k < 3; k++)
				want[(i * 2 + j) * 3 + k] = 12 * j + 4 * k + i;
	check(&t, "transpose [2,0,1]", 24, want);
}

static void test_concat_pad_reshape(void)
{
	Test t;
	test_init(&t, "cat");
	int a = tensor(&t, TENSOR_INPUT, "a", 2, 2, 1);
	int b = tensor(&t, TENSOR_INPUT, "b", 2, 2, 2);
	int y = tensor(&t, TENSOR_VALUE, "y", 2, 2, 3);
	op(&t, OP_CONCAT, y, 2, a, b)->p.axis = 1;
	output(&t, y);
	set_input(&t, 0, 2, (double[]){1, 2});
	set_input(&t, 1, 4, (double[]){3, 4, 5, 6});
	check(&t, "concat axis 1", 6, (double[]){1, 3, 4, 2, 5, 6});

	/* x[2,2] = 1..4, pads [1,0, 0,2] (one row before, two columns after), value 9 */
	test_init(&t, "pad");
	int x = tensor(&t, TENSOR_INPUT, "x", 2, 2, 2);
	y = tensor(&t, TENSOR_VALUE, "y", 2, 3, 4);
	Op *o = op(&t, OP_PAD, y, 1, x);
	o->p.pads[0] = 1, o->p.pads[3] = 2, o->p.value = 9;
	output(&t, y);
	set_input(&t, 0, 4, (double[]){1, 2, 3, 4});
	check(&t, "pad", 12, (double[]){9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9});

	/* flatten then an input that is also an output (copied) */
	test_init(&t, "flat");
	x = tensor(&t, TENSOR_INPUT, "x", 3, 1, 2, 2);
	y = tensor(&t, TENSOR_VALUE, "y", 2, 1, 4);
	op(&t, OP_FLATTEN, y, 1, x)->p.axis = 1;
	output(&t, y);
	set_input(&t, 0, 4, (double[]){1, 2, 3, 4});
	check(&t, "flatten", 4, (double[]){1, 2, 3, 4});
	t.outputs[0] = x;
	check(&t, "output that is an input", 4, (double[]){1, 2, 3, 4});
}

/* ---- weights ---- */

/* Run fn with stderr going to a temporary file; the text it wrote is returned (malloc'd). */
static char *capture_stderr(bool (*fn)(Graph *, const char *), Graph *g, const char *path, bool *ret)
{
	fflush(stderr);
	FILE *tmp = tmpfile();
	int saved = dup(fileno(stderr));
	dup2(fileno(tmp), fileno(stderr));
	*ret = fn(g, path);
	fflush(stderr);
	dup2(saved, fileno(stderr));
	close(saved);
	long n = ftell(tmp);
	char *text = calloc((size_t)n + 1, 1);
	rewind(tmp);
	if (fread(text, 1, (size_t)n, tmp) != (size_t)n)
		text[0] = 0;
	fclose(tmp);
	return text;
}

/* conv x[1,2,1,1] with w[2,2,1,1], then batchnorm with s, bb, m, v: 12 floats, 48 bytes. */
static void weights_graph(Test *t)
{
	test_init(t, "wmodel");
	int x = tensor(t, TENSOR_INPUT, "x", 4, 1, 2, 1, 1);
	int w = tensor(t, TENSOR_PARAM, "w", 4, 2, 2, 1, 1);
	int s = tensor(t, TENSOR_PARAM, "s", 1, 2);
	int bb = tensor(t, TENSOR_PARAM, "bb", 1, 2);
	int m = tensor(t, TENSOR_PARAM, "m", 1, 2);
	int v = tensor(t, TENSOR_PARAM, "v", 1, 2);
	int c = tensor(t, TENSOR_VALUE, "c", 4, 1, 2, 1, 1);
	int y = tensor(t, TENSOR_VALUE, "y", 4, 1, 2, 1, 1);
	op(t, OP_CONV2D, c, 2, x, w);
	op(t, OP_BATCHNORM, y, 5, c, s, bb, m, v);
	output(t, y);
}

static void write_file(const char *path, const unsigned char *bytes, size_t n)
{
	FILE *f = fopen(path, "wb");
	fwrite(bytes, 1, n, f);
	fclose(f);
}

static void test_weights(void)
{
	char path[] = "/tmp/weft_ref_test_XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	bool ok;

	/* 12 little-endian floats whose bit patterns are easy to write by hand: 0.5 = 0x3f000000,
	   1 = 0x3f800000, 2 = 0x40000000, -2 = 0xc0000000, then zeros */
	unsigned char blob[52] = {0}; /* 48 bytes of floats, 4 spare for the too-long case */
	const uint32_t vals[12] = {0x3f000000, 0x3f800000, 0x40000000, 0xc0000000};
	for (int i = 0; i < 12; i++)
		for (int b = 0; b < 4; b++)
			blob[4 * i + b] = (unsigned char)(vals[i] >> (8 * b));
	Test t;
	weights_graph(&t);
	write_file(path, blob, 48);
	char *msg = capture_stderr(ir_load_weights, &t.g, path, &ok);
	expect(ok && t.g.nweights == 12 && t.g.weights[0] == 0.5f && t.g.weights[1] == 1.0f &&
	       t.g.weights[2] == 2.0f && t.g.weights[3] == -2.0f && t.g.weights[4] == 0.0f &&
	       t.tensors[2].param_offset == 4 && t.tensors[5].param_offset == 10 && !t.g.random_weights,
	       "weights blob little-endian, offsets", msg);
	free(msg);
	free(t.g.weights);

	int errors = ir_nerrors;
	weights_graph(&t);
	write_file(path, blob, 20);
	msg = capture_stderr(ir_load_weights, &t.g, path, &ok);
	char why[600];
	snprintf(why, sizeof why, "returned %d, message: %s", ok, msg);
	expect(!ok && ir_nerrors == errors + 1 && strstr(msg, "20 bytes") && strstr(msg, "5 floats") &&
	       strstr(msg, "48 bytes") && strstr(msg, "12 floats") && strstr(msg, path),
	       "weights blob of the wrong size", why);
	free(msg);

	weights_graph(&t);
	write_file(path, blob, 50);
	msg = capture_stderr(ir_load_weights, &t.g, path, &ok);
	snprintf(why, sizeof why, "returned %d, message: %s", ok, msg);
	expect(!ok && strstr(msg, "50 bytes") && strstr(msg, "48 bytes"), "weights blob 2 bytes too long", why);
	free(msg);

	remove(path);
	weights_graph(&t);
	msg = capture_stderr(ir_load_weights, &t.g, path, &ok);
	snprintf(why, sizeof why, "returned %d, message: %s", ok, msg);
	expect(!ok && strstr(msg, path) && strstr(msg, "No such file"), "weights file missing", why);
	free(msg);

	/* random: deterministic, one note, role-aware ranges */
	Test t1, t2;
	weights_graph(&t1);
	weights_graph(&t2);
	char *msg1 = capture_stderr(ir_load_weights, &t1.g, NULL, &ok);
	bool ok2;
	char *msg2 = capture_stderr(ir_load_weights, &t2.g, NULL, &ok2);
	bool same = ok && ok2 && t1.g.nweights == 12 && t2.g.nweights == 12 &&
	            memcmp(t1.g.weights, t2.g.weights, 12 * sizeof(float)) == 0;
	expect(same && t1.g.random_weights, "random weights are deterministic", "two loads differ");
	expect(strstr(msg1, "weft: note: wmodel has no weights; using deterministic pseudo-random values") &&
	       strchr(msg1, '\n') == msg1 + strlen(msg1) - 1,
	       "random weights print one note", msg1);
	const float *wv = t1.g.weights;
	bool ranges = true, distinct = false;
	for (int i = 0; i < 4; i++) /* conv weight, fan_in 2: |v| <= sqrt(3/2) */
		ranges &= fabsf(wv[i]) <= 1.2248f;
	for (int i = 4; i < 6; i++) /* batchnorm scale */
		ranges &= wv[i] >= 0.5f && wv[i] <= 1.5f;
	for (int i = 6; i < 10; i++) /* bias and mean */
		ranges &= fabsf(wv[i]) <= 0.1f;
	for (int i = 10; i < 12; i++) /* var */
		ranges &= wv[i] >= 0.5f && wv[i] <= 1.5f;
	for (int i = 1; i < 12; i++)
		distinct |= wv[i] != wv[0];
	expect(ranges && distinct, "random weights in their role's range", "a value is out of range");
	free(msg1);
	free(msg2);
	free(t1.g.weights);
	free(t2.g.weights);

	bool rv = ir_random_value(7, 3) == ir_random_value(7, 3) && ir_random_value(7, 3) != ir_random_value(7, 4) &&
	          ir_random_value(7, 3) != ir_random_value(8, 3);
	for (uint64_t i = 0; i < 100000; i++) {
		float f = ir_random_value(1, i);
		rv &= f >= -1.0f && f < 1.0f;
	}
	expect(rv, "ir_random_value pure, in [-1, 1)", "repeat differs or out of range");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_conv_pad1();
	test_conv_grouped();
	test_conv_dilated();
	test_maxpool();
	test_avgpool();
	test_broadcast();
	test_unary();
	test_dense_matmul();
	test_batchnorm();
	test_softmax();
	test_layernorm();
	test_transpose();
	test_concat_pad_reshape();
	test_weights();
	printf("%d failed\n", nfailed);
	return nfailed != 0;
}
