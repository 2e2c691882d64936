/* tests/unit/plan_test.c: the memory planner (ir/plan.c) on graphs built by hand.
 *
 * Each test builds a small graph with shapes already set (no parser, no ir_infer), runs ir_plan
 * and checks stores, views, offsets and sizes; every test also checks the planner's invariant
 * from scratch: tensors live at the same op never share a byte unless one is a view or in-place
 * result of the other. Prints `ok NAME` or `FAIL NAME: ...`; exits non-zero on any failure.
 * Built by tests/run.sh: cc -std=c11 -I. tests/unit/plan_test.c <weft objects but main.o> -lm
 */
#include "ir/ir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { MAXT = 256, MAXO = 256 };

static int failures;
static const char *test_name;
static bool test_failed;

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (!test_failed)
		printf("FAIL %s: ", test_name);
	else
		printf("     %s: ", test_name);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	test_failed = true;
}

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fail(__VA_ARGS__); \
	} while (0)

/* ---- building graphs ---- */

static Graph *current; /* the graph of the running test, freed by end() or the next new_graph */

static void free_graph(Graph *g)
{
	if (!g)
		return;
	free(g->tensors);
	free(g->ops);
	free(g->inputs);
	free(g->params);
	free(g->outputs);
	free(g);
}

static Graph *new_graph(const char *name)
{
	free_graph(current);
	Graph *g = current = calloc(1, sizeof *g);
	snprintf(g->name, sizeof g->name, "%s", name);
	g->tensors = calloc(MAXT, sizeof(Tensor));
	g->ops = calloc(MAXO, sizeof(Op));
	g->inputs = calloc(MAXT, sizeof(int));
	g->params = calloc(MAXT, sizeof(int));
	g->outputs = calloc(MAXT, sizeof(int));
	return g;
}

static int add_tensor(Graph *g, const char *name, TensorKind kind, int rank, const int64_t *dims)
{
	int id = g->ntensors++;
	Tensor *t = &g->tensors[id];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->kind = kind;
	t->rank = rank;
	memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
	t->producer = -1;
	t->input_index = -1;
	t->output_index = -1;
	if (kind == TENSOR_INPUT) {
		t->input_index = g->ninputs;
		g->inputs[g->ninputs++] = id;
	} else if (kind == TENSOR_PARAM) {
		g->params[g->nparams++] = id;
	}
	return id;
}

/* An image-shaped tensor [1, c, h, w]. */
static int input4(Graph *g, const char *name, int64_t c, int64_t h, int64_t w)
{
	return add_tensor(g, name, TENSOR_INPUT, 4, (int64_t[]){1, c, h, w});
}

static int param(Graph *g, const char *name, int rank, const int64_t *dims)
{
	return add_tensor(g, name, TENSOR_PARAM, rank, dims);
}

/* name = kind(args...) with the result's shape given. */
static int op(Graph *g, OpKind kind, const char *name, int rank, const int64_t *dims, int nargs, ...)
{
	int out = add_tensor(g, name, TENSOR_VALUE, rank, dims);
	int id = g->nops++;
	Op *o = &g->ops[id];
	o->kind = kind;
	o->out = out;
	o->nargs = nargs;
	va_list ap;
	va_start(ap, nargs);
	for (int i = 0; i < nargs; i++)
		o->args[i] = va_arg(ap, int);
	va_end(ap);
	g->tensors[out].producer = id;
	return out;
}

/* An op whose result has the shape of tensor like. */
static int op_like(Graph *g, OpKind kind, const char *name, int like, int nargs, int a, int b)
{
	const Tensor *t = &g->tensors[like];
	int64_t dims[IR_MAX_RANK];
	memcpy(dims, t->dims, sizeof dims);
	return nargs == 1 ? op(g, kind, name, t->rank, dims, 1, a) : op(g, kind, name, t->rank, dims, 2, a, b);
}

static void set_output(Graph *g, int t)
{
	g->tensors[t].output_index = g->noutputs;
	g->outputs[g->noutputs++] = t;
}

/* ---- checking a plan from scratch ---- */

static int64_t bytes_of(const Graph *g, int t)
{
	const Tensor *x = &g->tensors[t];
	return ir_layout_numel(&x->layout, x->rank, x->dims) * 4;
}
static int64_t rounded(int64_t n) { return (n + 63) / 64 * 64; }

/* The tensor whose buffer t uses: follow view_of. */
static int root_of(const Graph *g, int t)
{
	for (int n = 0; g->tensors[t].view_of >= 0 && n < MAXT; n++)
		t = g->tensors[t].view_of;
	return t;
}

/* Every workspace tensor's lifetime, computed here independently of the planner (ops; a
   tensor made by lowering lives during its op). */
static void lifetime(const Graph *g, int t, int *start, int *end)
{
	*start = g->tensors[t].producer;
	*end = *start;
	if (g->tensors[t].internal)
		return;
	for (int i = 0; i < g->nops; i++)
		for (int a = 0; a < g->ops[i].nargs; a++)
			if (g->ops[i].args[a] == t && i > *end)
				*end = i;
}

static void check_invariants(const Graph *g)
{
	int64_t sum = 0, top = 0;
	for (int t = 0; t < g->ntensors; t++) {
		const Tensor *tt = &g->tensors[t];
		switch (tt->kind) {
		case TENSOR_INPUT: CHECK(tt->store == STORE_INPUT, "%s: input not STORE_INPUT", tt->name); break;
		case TENSOR_PARAM: CHECK(tt->store == STORE_PARAM, "%s: param not STORE_PARAM", tt->name); break;
		case TENSOR_VALUE:
			if (tt->output_index >= 0)
				CHECK(tt->store == STORE_OUTPUT, "%s: output not STORE_OUTPUT", tt->name);
			else
				CHECK(tt->store != STORE_NONE && tt->store != STORE_OUTPUT, "%s: store %d", tt->name, tt->store);
			if (tt->output_index < 0)
				sum += bytes_of(g, t);
			break;
		}
		if (tt->store != STORE_WORKSPACE)
			continue;
		CHECK(tt->ws_offset % 64 == 0, "%s: offset %lld not aligned", tt->name, (long long)tt->ws_offset);
		if (tt->ws_offset + bytes_of(g, t) > top)
			top = tt->ws_offset + bytes_of(g, t);
		if (tt->view_of >= 0)
			CHECK(g->tensors[tt->view_of].ws_offset == tt->ws_offset, "%s: view at another offset", tt->name);
	}
	CHECK(g->intermediate_bytes == sum, "intermediate_bytes %lld, want %lld", (long long)g->intermediate_bytes, (long long)sum);
	CHECK(g->workspace_bytes == rounded(top), "workspace_bytes %lld, want %lld", (long long)g->workspace_bytes, (long long)rounded(top));
	CHECK(g->peak_bytes <= g->workspace_bytes, "peak %lld > workspace %lld", (long long)g->peak_bytes, (long long)g->workspace_bytes);
	for (int a = 0; a < g->ntensors; a++) {
		for (int b = a + 1; b < g->ntensors; b++) {
			const Tensor *ta = &g->tensors[a], *tb = &g->tensors[b];
			if (ta->store != STORE_WORKSPACE || tb->store != STORE_WORKSPACE || root_of(g, a) == root_of(g, b))
				continue;
			int sa, ea, sb, eb;
			lifetime(g, a, &sa, &ea);
			lifetime(g, b, &sb, &eb);
			bool live = sa <= eb && sb <= ea;
			bool overlap = ta->ws_offset < tb->ws_offset + bytes_of(g, b) && tb->ws_offset < ta->ws_offset + bytes_of(g, a);
			CHECK(!(live && overlap), "%s [%d,%d] and %s [%d,%d] overlap in bytes", ta->name, sa, ea, tb->name, sb, eb);
		}
	}
}

static void begin(const char *name)
{
	test_name = name;
	test_failed = false;
}

static void end(void)
{
	free_graph(current);
	current = NULL;
	if (test_failed)
		failures++;
	else
		printf("ok %s\n", test_name);
}

static int conv(Graph *g, const char *name, int x, int w, int64_t k, int64_t h)
{
	return op(g, OP_CONV2D, name, 4, (int64_t[]){1, k, h, h}, 2, x, w);
}

/* ---- the tests ---- */

/* x -> c1 -> c2 -> c3 -> y: two buffers suffice, alternating. */
static void test_conv_chain(void)
{
	begin("conv_chain");
	Graph *g = new_graph("chain");
	int x = input4(g, "x", 8, 16, 16);
	int w = param(g, "w", 4, (int64_t[]){8, 8, 3, 3});
	int c1 = conv(g, "c1", x, w, 8, 16);
	int c2 = conv(g, "c2", c1, w, 8, 16);
	int c3 = conv(g, "c3", c2, w, 8, 16);
	int y = conv(g, "y", c3, w, 8, 16);
	set_output(g, y);
	ir_plan(g);
	int64_t sz = 8 * 16 * 16 * 4;
	CHECK(g->workspace_bytes == 2 * sz, "workspace %lld, want %lld", (long long)g->workspace_bytes, (long long)(2 * sz));
	CHECK(g->peak_bytes == 2 * sz, "peak %lld", (long long)g->peak_bytes);
	CHECK(g->intermediate_bytes == 3 * sz, "intermediates %lld", (long long)g->intermediate_bytes);
	CHECK(g->tensors[c1].ws_offset == g->tensors[c3].ws_offset, "c1 and c3 should share bytes");
	CHECK(g->tensors[c1].ws_offset != g->tensors[c2].ws_offset, "c1 and c2 must not share bytes");
	CHECK(g->tensors[c1].last_use == 1 && g->tensors[c3].last_use == 3, "last_use wrong");
	CHECK(g->tensors[y].store == STORE_OUTPUT && g->tensors[y].last_use == -1, "y");
	CHECK(g->tensors[w].last_use == 3, "w last_use %d", g->tensors[w].last_use);
	check_invariants(g);
	end();
}

/* t1 = conv(x); t2 = conv(t1); t3 = add(t2, t1); y = relu(t3): t1 lives across t2's conv. */
static void test_residual(void)
{
	begin("residual");
	Graph *g = new_graph("res");
	int x = input4(g, "x", 4, 8, 8);
	int w = param(g, "w", 4, (int64_t[]){4, 4, 3, 3});
	int t1 = conv(g, "t1", x, w, 4, 8);
	int t2 = conv(g, "t2", t1, w, 4, 8);
	int t3 = op_like(g, OP_ADD, "t3", t2, 2, t2, t1);
	int y = op_like(g, OP_RELU, "y", t3, 1, t3, 0);
	set_output(g, y);
	ir_plan(g);
	CHECK(g->tensors[t3].view_of == t2, "t3 should be in place over t2 (view_of %d)", g->tensors[t3].view_of);
	CHECK(g->tensors[t1].ws_offset != g->tensors[t2].ws_offset, "t1 and t2 share bytes");
	CHECK(g->workspace_bytes == 2 * 4 * 8 * 8 * 4, "workspace %lld", (long long)g->workspace_bytes);
	check_invariants(g);
	end();
}

/* a = conv(x); b = relu(a); y = conv(b): b overwrites a. */
static void test_inplace_relu(void)
{
	begin("inplace_relu");
	Graph *g = new_graph("inplace");
	int x = input4(g, "x", 4, 8, 8);
	int w = param(g, "w", 4, (int64_t[]){4, 4, 3, 3});
	int a = conv(g, "a", x, w, 4, 8);
	int b = op_like(g, OP_RELU, "b", a, 1, a, 0);
	int y = conv(g, "y", b, w, 4, 8);
	set_output(g, y);
	ir_plan(g);
	CHECK(g->tensors[b].store == STORE_WORKSPACE && g->tensors[b].view_of == a, "b not in place over a");
	CHECK(g->tensors[b].ws_offset == g->tensors[a].ws_offset, "b at another offset");
	CHECK(g->workspace_bytes == 4 * 8 * 8 * 4, "workspace %lld", (long long)g->workspace_bytes);
	CHECK(g->peak_bytes == 4 * 8 * 8 * 4, "peak %lld", (long long)g->peak_bytes);
	CHECK(g->intermediate_bytes == 2 * 4 * 8 * 8 * 4, "intermediates %lld", (long long)g->intermediate_bytes);
	check_invariants(g);
	end();
}

/* a = conv(x); b = relu(a); c = add(b, a): a is read after relu, so relu must NOT overwrite it;
   add may overwrite b (arg 0). */
static void test_not_inplace(void)
{
	begin("not_inplace_when_read_later");
	Graph *g = new_graph("notinplace");
	int x = input4(g, "x", 4, 8, 8);
	int w = param(g, "w", 4, (int64_t[]){4, 4, 3, 3});
	int a = conv(g, "a", x, w, 4, 8);
	int b = op_like(g, OP_RELU, "b", a, 1, a, 0);
	int c = op_like(g, OP_ADD, "c", b, 2, b, a);
	int y = conv(g, "y", c, w, 4, 8);
	set_output(g, y);
	ir_plan(g);
	CHECK(g->tensors[b].view_of == -1, "b must not be in place over a");
	CHECK(g->tensors[b].ws_offset != g->tensors[a].ws_offset, "a and b share bytes");
	CHECK(g->tensors[c].view_of == b, "c should be in place over b (view_of %d)", g->tensors[c].view_of);
	check_invariants(g);
	end();
}

/* y = add(x, a) with x an input and a dying: the result goes over argument 1. An output is
   never in place, and a view of a workspace tensor read later keeps the pair alive. */
static void test_inplace_arg1_and_outputs(void)
{
	begin("inplace_arg1_and_outputs");
	Graph *g = new_graph("arg1");
	int x = input4(g, "x", 4, 8, 8);
	int w = param(g, "w", 4, (int64_t[]){4, 4, 3, 3});
	int a = conv(g, "a", x, w, 4, 8);
	int s = op_like(g, OP_ADD, "s", a, 2, x, a);
	int y = op_like(g, OP_RELU, "y", s, 1, s, 0);
	int z = op_like(g, OP_SIGMOID, "z", y, 1, y, 0);
	set_output(g, y);
	set_output(g, z);
	ir_plan(g);
	CHECK(g->tensors[s].view_of == a, "s should be in place over argument 1 (view_of %d)", g->tensors[s].view_of);
	CHECK(g->tensors[y].store == STORE_OUTPUT && g->tensors[y].view_of == -1, "y must be an output");
	CHECK(g->tensors[z].store == STORE_OUTPUT, "z must be an output");
	CHECK(g->tensors[y].last_use == 3, "y is read by z: last_use %d", g->tensors[y].last_use);
	check_invariants(g);
	end();
}

/* a = conv(x); r = reshape(a); d = dense(r, wd); and a reshape of an input. */
static void test_reshape_view(void)
{
	begin("reshape_view");
	Graph *g = new_graph("view");
	int x = input4(g, "x", 4, 8, 8);
	int w = param(g, "w", 4, (int64_t[]){4, 4, 3, 3});
	int wd = param(g, "wd", 2, (int64_t[]){10, 256});
	int a = conv(g, "a", x, w, 4, 8);
	int r = op(g, OP_RESHAPE, "r", 2, (int64_t[]){1, 256}, 1, a);
	int d = op(g, OP_DENSE, "d", 2, (int64_t[]){1, 10}, 2, r, wd);
	int xr = op(g, OP_FLATTEN, "xr", 2, (int64_t[]){1, 256}, 1, x);
	int e = op(g, OP_DENSE, "e", 2, (int64_t[]){1, 10}, 2, xr, wd);
	int y = op_like(g, OP_ADD, "y", d, 2, d, e);
	int rv = op(g, OP_RESHAPE, "rv", 2, (int64_t[]){4, 64}, 1, a); /* keeps a alive to the end */
	int z = op(g, OP_RESHAPE, "z", 2, (int64_t[]){1, 256}, 1, rv);
	set_output(g, y);
	set_output(g, z);
	ir_plan(g);
	CHECK(g->tensors[r].store == STORE_WORKSPACE && g->tensors[r].view_of == a, "r not a view of a");
	CHECK(g->tensors[r].ws_offset == g->tensors[a].ws_offset, "r at another offset");
	CHECK(g->tensors[xr].store == STORE_INPUT && g->tensors[xr].view_of == x, "xr not a view of input x");
	CHECK(g->tensors[rv].view_of == a, "rv not a view of a");
	CHECK(g->tensors[z].store == STORE_OUTPUT && g->tensors[z].view_of == -1, "z is an output, not a view");
	/* a's buffer lives to op 7 (z reads rv), so d and e (ops 1 and 3) need their own bytes. */
	CHECK(g->tensors[d].ws_offset != g->tensors[a].ws_offset, "d over a live view");
	CHECK(g->tensors[e].ws_offset != g->tensors[a].ws_offset, "e over a live view");
	check_invariants(g);
	end();
}

/* relu over a buffer still read through a view later must not be in place. */
static void test_view_blocks_inplace(void)
{
	begin("view_blocks_inplace");
	Graph *g = new_graph("viewblock");
	int x = input4(g, "x", 4, 8, 8);
	int w = param(g, "w", 4, (int64_t[]){4, 4, 3, 3});
	int a = conv(g, "a", x, w, 4, 8);
	int v = op(g, OP_RESHAPE, "v", 2, (int64_t[]){16, 16}, 1, a);
	int b = op_like(g, OP_RELU, "b", a, 1, a, 0);
	int c = op(g, OP_RESHAPE, "c", 4, (int64_t[]){1, 4, 8, 8}, 1, v);
	int y = op_like(g, OP_ADD, "y", b, 2, b, c);
	set_output(g, y);
	ir_plan(g);
	CHECK(g->tensors[b].view_of == -1, "b overwrote a while v (a view of a) is still read");
	CHECK(g->tensors[c].view_of == v && g->tensors[c].ws_offset == g->tensors[a].ws_offset, "c not a view of v");
	check_invariants(g);

	/* batchnorm reads its per-channel params at other indices than it writes: it must not
	   overwrite x when a param is a view of x's bytes. */
	g = new_graph("bnview");
	x = add_tensor(g, "x", TENSOR_INPUT, 2, (int64_t[]){1, 4});
	a = op(g, OP_RELU6, "a", 2, (int64_t[]){1, 4}, 1, x);
	v = op(g, OP_RESHAPE, "v", 1, (int64_t[]){4}, 1, a);
	int n = op(g, OP_BATCHNORM, "n", 2, (int64_t[]){1, 4}, 5, a, v, v, v, v);
	y = op(g, OP_TANH, "y", 2, (int64_t[]){1, 4}, 1, n);
	set_output(g, y);
	ir_plan(g);
	CHECK(g->tensors[n].view_of == -1, "batchnorm overwrote x while reading its params from x's bytes");
	check_invariants(g);
	end();
}

/* Dead values, no workspace, and different sizes packed into holes. */
static void test_sizes_and_empty(void)
{
	begin("sizes_and_empty");
	Graph *g = new_graph("empty");
	int x = input4(g, "x", 4, 8, 8);
	int y = op_like(g, OP_RELU, "y", x, 1, x, 0);
	set_output(g, y);
	ir_plan(g);
	CHECK(g->workspace_bytes == 0 && g->peak_bytes == 0 && g->intermediate_bytes == 0, "no workspace expected");
	check_invariants(g);

	g = new_graph("holes");
	x = add_tensor(g, "x", TENSOR_INPUT, 1, (int64_t[]){100});
	int big = op(g, OP_EXP, "big", 1, (int64_t[]){100}, 1, x);          /* 400 -> 448 bytes */
	int small = op(g, OP_TANH, "small", 1, (int64_t[]){10}, 1, x);      /* dead: 40 -> 64 */
	int m = op(g, OP_MATMUL, "m", 1, (int64_t[]){30}, 2, big, big);     /* 120 -> 128 */
	int n = op(g, OP_MATMUL, "n", 1, (int64_t[]){30}, 2, m, m);
	y = op(g, OP_MATMUL, "y", 1, (int64_t[]){5}, 2, n, m);
	set_output(g, y);
	ir_plan(g);
	CHECK(g->tensors[small].store == STORE_WORKSPACE, "a dead value still needs bytes");
	CHECK(g->tensors[big].ws_offset == 0, "biggest first at 0");
	CHECK(g->tensors[small].ws_offset == 448, "small at %lld", (long long)g->tensors[small].ws_offset);
	CHECK(g->tensors[m].ws_offset == 448, "m at %lld", (long long)g->tensors[m].ws_offset);
	CHECK(g->tensors[n].ws_offset == 0, "n at %lld (big is dead by then)", (long long)g->tensors[n].ws_offset);
	CHECK(g->workspace_bytes == 448 + 128, "workspace %lld", (long long)g->workspace_bytes);
	CHECK(g->peak_bytes == 448 + 128, "peak %lld", (long long)g->peak_bytes);
	check_invariants(g);
	end();
}

/* Random graphs of elementwise, view and reducing ops: the invariants must always hold, and
   planning twice gives the same offsets. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void test_random(void)
{
	begin("random_graphs");
	for (int iter = 0; iter < 300 && !test_failed; iter++) {
		Graph *g = new_graph("rand");
		int64_t len[3] = {16, 48, 256};
		int nin = 1 + (int)(next_rand() % 2);
		for (int i = 0; i < nin; i++)
			add_tensor(g, i ? "x1" : "x0", TENSOR_INPUT, 1, (int64_t[]){len[next_rand() % 3]});
		int nops = 2 + (int)(next_rand() % 40);
		for (int i = 0; i < nops; i++) {
			char name[16];
			snprintf(name, sizeof name, "t%d", i);
			int a = (int)(next_rand() % (unsigned)g->ntensors);
			int b = (int)(next_rand() % (unsigned)g->ntensors);
			int64_t na = ir_numel(&g->tensors[a]);
			switch (next_rand() % 5) {
			case 0: op(g, OP_RELU, name, 1, (int64_t[]){na}, 1, a); break;
			case 1: op(g, OP_RESHAPE, name, 2, (int64_t[]){1, na}, 1, a); break;
			case 2:
				if (ir_numel(&g->tensors[b]) == na)
					op(g, OP_ADD, name, 1, (int64_t[]){na}, 2, a, b);
				else
					op(g, OP_MUL, name, 1, (int64_t[]){na}, 2, a, a);
				break;
			case 3: op(g, OP_BATCHNORM, name, 1, (int64_t[]){na}, 1, a); break;
			default: op(g, OP_MATMUL, name, 1, (int64_t[]){len[next_rand() % 3]}, 2, a, b); break;
			}
			if (next_rand() % 8 == 0)
				set_output(g, g->ntensors - 1);
		}
		if (g->tensors[g->ntensors - 1].output_index < 0)
			set_output(g, g->ntensors - 1);
		ir_plan(g);
		check_invariants(g);
		int64_t first[MAXT];
		for (int t = 0; t < g->ntensors; t++)
			first[t] = g->tensors[t].ws_offset;
		int64_t ws = g->workspace_bytes;
		ir_plan(g);
		for (int t = 0; t < g->ntensors; t++)
			CHECK(first[t] == g->tensors[t].ws_offset, "iteration %d: planning twice moved %s", iter, g->tensors[t].name);
		CHECK(ws == g->workspace_bytes, "iteration %d: workspace changed", iter);
	}
	end();
}

/* ---- layouts and tensors made by lowering ---- */

static void set_layout(Graph *g, int t, const char *what, LayoutPrim p)
{
	(void)what;
	Layout *L = &g->tensors[t].layout;
	L->p[L->n++] = p;
}

static LayoutPrim split(int dim, int64_t f) { return (LayoutPrim){.kind = LP_SPLIT, .dim = dim, .factor = f}; }

/* A tensor in a padded layout takes its padded bytes; views and in-place results need the
   logical layout (views) or the same layout (in place). */
static void test_layouts(void)
{
	begin("layouts");
	Graph *g = new_graph("lay");
	int x = input4(g, "x", 20, 4, 4);
	int w = param(g, "w", 4, (int64_t[]){20, 20, 3, 3});
	int a = conv(g, "a", x, w, 20, 4);
	set_layout(g, a, "NCHW16c", split(1, 16)); /* 20 channels -> 2 x 16: 32 * 16 floats */
	int b = op_like(g, OP_RELU, "b", a, 1, a, 0);     /* logical: not in place over a */
	int c = op_like(g, OP_RELU, "c", b, 1, b, 0);     /* same layout: in place over b */
	int r = op(g, OP_RESHAPE, "r", 2, (int64_t[]){1, 320}, 1, c); /* logical both: a view */
	int d = op_like(g, OP_SIGMOID, "d", a, 1, a, 0);
	set_layout(g, d, "split", split(1, 16));
	int e = op(g, OP_FLATTEN, "e", 2, (int64_t[]){1, 320}, 1, d); /* d is laid out: a copy */
	int y = op_like(g, OP_ADD, "y", r, 2, r, e);
	set_output(g, y);
	ir_plan(g);
	CHECK(bytes_of(g, a) == 32 * 16 * 4, "a's bytes %lld", (long long)bytes_of(g, a));
	CHECK(g->tensors[b].view_of == -1, "b in place over a of another layout");
	CHECK(g->tensors[c].view_of == b, "c not in place over b (view_of %d)", g->tensors[c].view_of);
	CHECK(g->tensors[r].view_of == c, "r not a view of c");
	CHECK(g->tensors[e].view_of == -1 && g->tensors[e].store == STORE_WORKSPACE, "e a view of a laid-out tensor");
	check_invariants(g);
	end();
}

static int internal(Graph *g, const char *name, int producer, int rank, const int64_t *dims)
{
	int t = add_tensor(g, name, TENSOR_VALUE, rank, dims);
	g->tensors[t].internal = true;
	g->tensors[t].producer = producer;
	return t;
}

/* Softmax-like ops with row temporaries: each lives during its op only, so the next op's
   temporaries may take the same bytes, and they never share with what the op reads or writes. */
static void test_internal(void)
{
	begin("internal_tensors");
	Graph *g = new_graph("internal");
	int x = add_tensor(g, "x", TENSOR_INPUT, 2, (int64_t[]){8, 100});
	int s1 = op(g, OP_SOFTMAX, "s1", 2, (int64_t[]){8, 100}, 1, x);
	int m1 = internal(g, "s1__max", 0, 1, (int64_t[]){8});
	int u1 = internal(g, "s1__sum", 0, 1, (int64_t[]){8});
	int s2 = op(g, OP_SOFTMAX, "s2", 2, (int64_t[]){8, 100}, 1, s1);
	int m2 = internal(g, "s2__max", 1, 1, (int64_t[]){8});
	set_output(g, s2);
	ir_plan(g);
	CHECK(g->tensors[m1].store == STORE_WORKSPACE && g->tensors[u1].store == STORE_WORKSPACE &&
	      g->tensors[m2].store == STORE_WORKSPACE, "internal tensors not in the workspace");
	CHECK(g->tensors[m1].ws_offset != g->tensors[u1].ws_offset, "two temporaries of one op share bytes");
	CHECK(g->tensors[m1].ws_offset != g->tensors[s1].ws_offset && g->tensors[m2].ws_offset != g->tensors[s1].ws_offset,
	      "a temporary over s1");
	CHECK(g->tensors[m1].last_use == 0 && g->tensors[m2].last_use == 1, "last_use of temporaries");
	CHECK(g->intermediate_bytes == 8 * 100 * 4 + 3 * 8 * 4, "intermediates %lld", (long long)g->intermediate_bytes);
	check_invariants(g);
	end();
}

/* ---- with the scheduled program ---- */

/* The one "main" stage of an elementwise rank-1 op: out[d0] = fn(args[d0]...). */
static int main_stage(Prog *P, int opid)
{
	Graph *g = P->g;
	const Op *o = &g->ops[opid];
	int si = P->nstages;
	Stage *st = ir_new_stage(P, opid, "main");
	int v = ir_new_var(P, "d0", g->tensors[o->out].dims[0], false, si);
	st = &P->stages[si];
	st->tensor = o->out;
	st->loops[st->nloops++] = v;
	st->idx[0] = ix_var(v);
	const Ix *idx[1] = {ix_var(v)};
	const Val *val = val_load(o->args[0], 1, idx);
	if (o->nargs == 2)
		val = val_bin(BIN_ADD, val, val_load(o->args[1], 1, idx));
	else
		val = val_un(FN_TANH, val, 0, 0);
	st->val = val;
	return si;
}

/* b's block also computes c (compute_at): c is written while a is still read there, so c may
   not take a's bytes although ops-wise a dies before c's op; c may not be in place over b; a
   dead value passed in locals gets no bytes. */
static void test_prog_compute_at(void)
{
	begin("prog_compute_at");
	Graph *g = new_graph("chain");
	int64_t n[1] = {64};
	int x = add_tensor(g, "x", TENSOR_INPUT, 1, n);
	int a = op(g, OP_TANH, "a", 1, n, 1, x);
	int b = op(g, OP_TANH, "b", 1, n, 1, a);
	int c = op(g, OP_TANH, "c", 1, n, 1, b);
	int d = op(g, OP_TANH, "d", 1, n, 1, c);
	int y = op(g, OP_ADD, "y", 1, n, 2, d, c);
	set_output(g, y);
	Prog *P = calloc(1, sizeof *P);
	P->g = g;
	for (int i = 0; i < g->nops; i++)
		main_stage(P, i);
	/* Plain plan first: c goes over a (a dies at b's op), in place. */
	ir_plan_prog(P);
	CHECK(g->tensors[b].view_of == a, "b should be in place over a when nothing is computed at b");
	check_invariants(g);
	/* c computed at b.main, loop d0. */
	P->stages[2].at_stage = 1;
	P->stages[2].at_loop = 0;
	ir_plan_prog(P);
	CHECK(g->tensors[c].view_of == -1, "c in place over b while computed at b");
	CHECK(g->tensors[b].view_of == -1, "b in place over a while c is written in b's block");
	bool share = g->tensors[c].ws_offset < g->tensors[a].ws_offset + 256 &&
	             g->tensors[a].ws_offset < g->tensors[c].ws_offset + 256;
	CHECK(!share, "c shares a's bytes although b's block reads a while writing c");
	/* d computed at b too, and c dead: c gets no bytes, d lives in b's block. */
	P->stages[3].at_stage = 1;
	P->stages[3].at_loop = 0;
	P->stages[2].dead = true;
	P->stages[4].val = val_load(d, 1, P->stages[4].idx); /* y reads d only, so c is dead */
	ir_plan_prog(P);
	CHECK(g->tensors[c].store == STORE_NONE, "a dead c still has bytes (store %d)", g->tensors[c].store);
	CHECK(g->tensors[d].store == STORE_WORKSPACE, "d needs bytes");
	CHECK(g->tensors[d].ws_offset != g->tensors[a].ws_offset && g->tensors[d].ws_offset != g->tensors[b].ws_offset,
	      "d shares bytes with a tensor of its block");
	free(P->stages);
	free(P->vars);
	free(P);
	end();
}

int main(void)
{
	test_conv_chain();
	test_residual();
	test_inplace_relu();
	test_not_inplace();
	test_inplace_arg1_and_outputs();
	test_reshape_view();
	test_view_blocks_inplace();
	test_sizes_and_empty();
	test_random();
	test_layouts();
	test_internal();
	test_prog_compute_at();
	if (failures)
		printf("%d plan tests failed\n", failures);
	return failures != 0;
}
