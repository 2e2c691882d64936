/* ir/lower.c: ops -> stages of the loop IR (unscheduled).
 *
 * Each op becomes one or more stages, each a perfect loop nest storing one value, computing
 * exactly the semantics of ir/ref.c: spatial loops outer in dimension order, reduction loops
 * inner. Loop names per op (ir/loopir.md "Stages"): conv2d n,k,oh,ow | c,r,s; dense m,n | k;
 * matmul b0..,m,n | k; pools n,c,oh,ow | r,s; global_avgpool n,c | h,w; every other op d0..d{r-1}.
 * Guards are added only where an index can actually leave its tensor (conv and pool padding,
 * partial windows), judged by ix_bounds over the loop extents.
 * Per-row temporaries (softmax, layernorm) become internal tensors appended to the graph, named
 * "<out>__what" (never a valid model name); lowering the same graph again reuses them.
 * Assumes ir_infer has run: op->p is filled, axes normalised, every shape known and valid.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Low {
	Prog *P;
	Graph *g;
	int op;            /* the op being lowered */
	int64_t *extent;   /* extent of each var so far, for ix_bounds */
	int capext;
} Low;

/* ---- building stages ---- */

static int new_stage(Low *L, const char *name, int tensor)
{
	Stage *s = ir_new_stage(L->P, L->op, name);
	s->tensor = tensor;
	return L->P->nstages - 1;
}

static Stage *st(Low *L, int si) { return &L->P->stages[si]; }

/* A new loop, innermost so far, of stage si; its variable as an index expression. */
static const Ix *loop(Low *L, int si, const char *name, int64_t extent, bool reduction)
{
	Stage *s = st(L, si);
	if (s->nloops == IR_MAX_LOOPS)
		die("lower: stage %s has too many loops", s->name);
	int v = ir_new_var(L->P, name, extent, reduction, si);
	s->loops[s->nloops++] = v;
	if (v >= L->capext) {
		L->capext = 2 * v + 64;
		L->extent = ir_xrealloc(L->extent, (size_t)L->capext * sizeof *L->extent);
	}
	L->extent[v] = extent;
	return ix_var(v);
}

static char *dname(const char *prefix, int d) { return ir_fmt("%s%d", prefix, d); }

/* Loops d0..d{rank-1} over dims (spatial); their variables in iv. */
static void loops_over(Low *L, int si, int rank, const int64_t *dims, const Ix **iv)
{
	for (int d = 0; d < rank; d++)
		iv[d] = loop(L, si, dname("d", d), dims[d], false);
}

/* Guard lo <= e < hi on stage si, unless it always holds over the loop extents. */
static void guard(Low *L, int si, const Ix *e, int64_t lo, int64_t hi)
{
	int64_t elo, ehi;
	ix_bounds(e, L->extent, &elo, &ehi);
	if (elo >= lo && ehi < hi)
		return;
	Stage *s = st(L, si);
	if (s->nguards == IR_MAX_GUARDS)
		die("lower: stage %s has too many guards", s->name);
	s->guards[s->nguards++] = (Guard){e, lo, hi};
}

static void store(Low *L, int si, Bin accum, const Ix *const *idx, const Val *v)
{
	Stage *s = st(L, si);
	for (int d = 0; d < L->g->tensors[s->tensor].rank; d++)
		s->idx[d] = idx[d];
	s->accum = accum;
	s->val = v;
}

static const Tensor *T(Low *L, int t) { return &L->g->tensors[t]; }
static const Op *O(Low *L) { return &L->g->ops[L->op]; }
static int arg(Low *L, int i) { return O(L)->args[i]; }
static int out(Low *L) { return O(L)->out; }

static const Val *load(Low *L, int t, const Ix *const *idx) { return val_load(t, T(L, t)->rank, idx); }

static const Val *load1(Low *L, int t, const Ix *i)
{
	const Ix *idx[1] = {i};
	return val_load(t, 1, idx);
}

/* Read of tensor t broadcast (NumPy) to an index iv of the output shape (rank orank, dims
   odims): trailing dims aligned; a dim of 1 facing a larger one is indexed by 0. */
static const Val *load_bcast(Low *L, int t, int orank, const int64_t *odims, const Ix *const *iv)
{
	const Tensor *x = T(L, t);
	const Ix *idx[IR_MAX_RANK];
	int shift = orank - x->rank;
	for (int d = 0; d < x->rank; d++)
		idx[d] = x->dims[d] == 1 && odims[d + shift] != 1 ? ix_const(0) : iv[d + shift];
	return load(L, t, idx);
}

static const Ix *sub(const Ix *a, const Ix *b) { return ix_add(a, ix_mul(b, -1)); }

/* An internal tensor of the current op: "<out>__what" with the given shape. An existing one of
   that name (the graph lowered before) is reused. Tensor pointers are invalid afterwards. */
static int internal_tensor(Low *L, const char *what, int rank, const int64_t *dims)
{
	Graph *g = L->g;
	const char *oname = g->tensors[out(L)].name;
	char *name = ir_fmt("%s__%s", oname, what);
	if (strlen(name) > IR_MAX_NAME) { /* keep it unique: a prefix of the name and the op id */
		char *tail = ir_fmt("__%d_%s", L->op, what);
		name = ir_fmt("%.*s%s", (int)(IR_MAX_NAME - strlen(tail)), oname, tail);
	}
	int id = ir_find_tensor(g, name);
	if (id < 0) {
		g->tensors = ir_xrealloc(g->tensors, (size_t)(g->ntensors + 1) * sizeof *g->tensors);
		id = g->ntensors++;
	}
	Tensor *t = &g->tensors[id];
	memset(t, 0, sizeof *t);
	memcpy(t->name, name, strlen(name) + 1);
	t->kind = TENSOR_VALUE;
	t->loc = g->ops[L->op].stmt_loc;
	t->rank = rank;
	memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
	t->producer = L->op;
	t->input_index = t->output_index = -1;
	t->view_of = t->last_use = -1;
	t->internal = true;
	return id;
}

/* ---- convolution and matrix products ---- */

static void lower_conv2d(Low *L)
{
	const Op *op = O(L);
	int x = arg(L, 0), w = arg(L, 1), b = op->nargs > 2 ? arg(L, 2) : -1, y = out(L);
	int64_t H = T(L, x)->dims[2], W = T(L, x)->dims[3];
	int64_t K = T(L, w)->dims[0], Cg = T(L, w)->dims[1], R = T(L, w)->dims[2], S = T(L, w)->dims[3];
	const int64_t *od = T(L, y)->dims;
	int G = op->p.groups;

	int si = new_stage(L, "init", y);
	const Ix *n = loop(L, si, "n", od[0], false), *k = loop(L, si, "k", od[1], false);
	const Ix *oh = loop(L, si, "oh", od[2], false), *ow = loop(L, si, "ow", od[3], false);
	const Ix *oi[4] = {n, k, oh, ow};
	store(L, si, BIN_NONE, oi, b >= 0 ? load1(L, b, k) : val_const(0));

	int init = si;
	si = new_stage(L, "update", y);
	st(L, si)->init_stage = init;
	n = loop(L, si, "n", od[0], false);
	k = loop(L, si, "k", od[1], false);
	oh = loop(L, si, "oh", od[2], false);
	ow = loop(L, si, "ow", od[3], false);
	const Ix *c = loop(L, si, "c", Cg, true);
	const Ix *r = loop(L, si, "r", R, true), *s = loop(L, si, "s", S, true);
	const Ix *ci = G == 1 ? c : ix_add(ix_mul(ix_div(k, K / G), Cg), c);
	const Ix *ih = ix_add(ix_addc(ix_mul(oh, op->p.stride[0]), -op->p.pad[0]), ix_mul(r, op->p.dil[0]));
	const Ix *iw = ix_add(ix_addc(ix_mul(ow, op->p.stride[1]), -op->p.pad[1]), ix_mul(s, op->p.dil[1]));
	guard(L, si, ih, 0, H);
	guard(L, si, iw, 0, W);
	const Ix *xi[4] = {n, ci, ih, iw}, *wi[4] = {k, c, r, s}, *yi[4] = {n, k, oh, ow};
	store(L, si, BIN_ADD, yi, val_bin(BIN_MUL, load(L, x, xi), load(L, w, wi)));
}

static void lower_dense(Low *L)
{
	int x = arg(L, 0), w = arg(L, 1), b = O(L)->nargs > 2 ? arg(L, 2) : -1, y = out(L);
	int64_t M = T(L, x)->dims[0], K = T(L, x)->dims[1], N = T(L, w)->dims[0];

	int si = new_stage(L, "init", y);
	const Ix *m = loop(L, si, "m", M, false), *n = loop(L, si, "n", N, false);
	const Ix *yi[2] = {m, n};
	store(L, si, BIN_NONE, yi, b >= 0 ? load1(L, b, n) : val_const(0));

	int init = si;
	si = new_stage(L, "update", y);
	st(L, si)->init_stage = init;
	m = loop(L, si, "m", M, false);
	n = loop(L, si, "n", N, false);
	const Ix *k = loop(L, si, "k", K, true);
	const Ix *xi[2] = {m, k}, *wi[2] = {n, k}, *yi2[2] = {m, n};
	store(L, si, BIN_ADD, yi2, val_bin(BIN_MUL, load(L, x, xi), load(L, w, wi)));
}

/* The batch dims of operand t (all but its last two) indexed from the output's batch vars. */
static void matmul_batch(Low *L, int t, int orank, const int64_t *od, const Ix *const *bv, const Ix **idx)
{
	const Tensor *x = T(L, t);
	int shift = orank - x->rank;
	for (int d = 0; d < x->rank - 2; d++)
		idx[d] = x->dims[d] == 1 && od[d + shift] != 1 ? ix_const(0) : bv[d + shift];
}

static void lower_matmul(Low *L)
{
	int a = arg(L, 0), b = arg(L, 1), y = out(L);
	int R = T(L, y)->rank, ra = T(L, a)->rank, rb = T(L, b)->rank;
	int64_t od[IR_MAX_RANK];
	memcpy(od, T(L, y)->dims, sizeof od);
	int64_t K = T(L, a)->dims[ra - 1];
	const Ix *iv[IR_MAX_RANK];

	int si = new_stage(L, "init", y);
	for (int d = 0; d < R - 2; d++)
		iv[d] = loop(L, si, dname("b", d), od[d], false);
	iv[R - 2] = loop(L, si, "m", od[R - 2], false);
	iv[R - 1] = loop(L, si, "n", od[R - 1], false);
	store(L, si, BIN_NONE, iv, val_const(0));

	int init = si;
	si = new_stage(L, "update", y);
	st(L, si)->init_stage = init;
	for (int d = 0; d < R - 2; d++)
		iv[d] = loop(L, si, dname("b", d), od[d], false);
	const Ix *m = iv[R - 2] = loop(L, si, "m", od[R - 2], false);
	const Ix *n = iv[R - 1] = loop(L, si, "n", od[R - 1], false);
	const Ix *k = loop(L, si, "k", K, true);
	const Ix *ai[IR_MAX_RANK], *bi[IR_MAX_RANK];
	matmul_batch(L, a, R, od, iv, ai);
	matmul_batch(L, b, R, od, iv, bi);
	ai[ra - 2] = m;
	ai[ra - 1] = k;
	bi[rb - 2] = k;
	bi[rb - 1] = n;
	store(L, si, BIN_ADD, iv, val_bin(BIN_MUL, load(L, a, ai), load(L, b, bi)));
}

/* ---- pooling ---- */

/* Number of the integers of [first, first+len) inside [lo, hi): min(first+len, hi) -
   max(first, lo), simplified over the loop extents (constant when no window is clipped). */
static const Ix *clipped_count(Low *L, const Ix *first, int64_t len, int64_t lo, int64_t hi)
{
	const Ix *e = sub(ix_min(ix_addc(first, len), hi), ix_max(first, lo));
	return ix_simplify(e, L->extent);
}

static const Val *count_val(const Ix *a, const Ix *b)
{
	if (a->kind == IX_CONST && b->kind == IX_CONST)
		return val_const((double)(a->c * b->c));
	return val_bin(BIN_MUL, val_index(a), val_index(b));
}

static void lower_pool(Low *L)
{
	const Op *op = O(L);
	bool is_max = op->kind == OP_MAXPOOL2D;
	int x = arg(L, 0), y = out(L);
	int64_t H = T(L, x)->dims[2], W = T(L, x)->dims[3];
	const int64_t *od = T(L, y)->dims;
	int64_t kh = op->p.kernel[0], kw = op->p.kernel[1], sh = op->p.stride[0], sw = op->p.stride[1];
	int64_t top = op->p.pad[0], left = op->p.pad[1], bottom = op->p.pad[2], right = op->p.pad[3];

	int si = new_stage(L, "init", y);
	const Ix *yi[4];
	yi[0] = loop(L, si, "n", od[0], false);
	yi[1] = loop(L, si, "c", od[1], false);
	yi[2] = loop(L, si, "oh", od[2], false);
	yi[3] = loop(L, si, "ow", od[3], false);
	store(L, si, BIN_NONE, yi, val_const(is_max ? -HUGE_VAL : 0.0));

	int init = si;
	si = new_stage(L, "update", y);
	st(L, si)->init_stage = init;
	yi[0] = loop(L, si, "n", od[0], false);
	yi[1] = loop(L, si, "c", od[1], false);
	const Ix *oh = yi[2] = loop(L, si, "oh", od[2], false);
	const Ix *ow = yi[3] = loop(L, si, "ow", od[3], false);
	const Ix *r = loop(L, si, "r", kh, true), *s = loop(L, si, "s", kw, true);
	const Ix *ih = ix_add(ix_addc(ix_mul(oh, sh), -top), r);
	const Ix *iw = ix_add(ix_addc(ix_mul(ow, sw), -left), s);
	guard(L, si, ih, 0, H);
	guard(L, si, iw, 0, W);
	const Ix *xi[4] = {yi[0], yi[1], ih, iw};
	store(L, si, is_max ? BIN_MAX : BIN_ADD, yi, load(L, x, xi));
	if (is_max)
		return;

	/* out / count, count = (rows of the window inside the box) * (columns inside it), the
	   box being the padded image (count_include_pad) or the image. */
	si = new_stage(L, "scale", y);
	yi[0] = loop(L, si, "n", od[0], false);
	yi[1] = loop(L, si, "c", od[1], false);
	oh = yi[2] = loop(L, si, "oh", od[2], false);
	ow = yi[3] = loop(L, si, "ow", od[3], false);
	const Ix *h0 = ix_addc(ix_mul(oh, sh), -top), *w0 = ix_addc(ix_mul(ow, sw), -left);
	const Ix *ch, *cw;
	if (op->p.count_include_pad) {
		ch = clipped_count(L, h0, kh, -top, H + bottom);
		cw = clipped_count(L, w0, kw, -left, W + right);
	} else {
		ch = clipped_count(L, h0, kh, 0, H);
		cw = clipped_count(L, w0, kw, 0, W);
	}
	store(L, si, BIN_NONE, yi, val_bin(BIN_DIV, load(L, y, yi), count_val(ch, cw)));
}

static void lower_global_avgpool(Low *L)
{
	int x = arg(L, 0), y = out(L);
	const int64_t *xd = T(L, x)->dims;
	int64_t N = xd[0], C = xd[1], H = xd[2], W = xd[3];

	int si = new_stage(L, "init", y);
	const Ix *n = loop(L, si, "n", N, false), *c = loop(L, si, "c", C, false);
	const Ix *yi[4] = {n, c, ix_const(0), ix_const(0)};
	store(L, si, BIN_NONE, yi, val_const(0));

	int init = si;
	si = new_stage(L, "update", y);
	st(L, si)->init_stage = init;
	yi[0] = n = loop(L, si, "n", N, false);
	yi[1] = c = loop(L, si, "c", C, false);
	const Ix *h = loop(L, si, "h", H, true), *w = loop(L, si, "w", W, true);
	const Ix *xi[4] = {n, c, h, w};
	store(L, si, BIN_ADD, yi, load(L, x, xi));

	si = new_stage(L, "scale", y);
	yi[0] = loop(L, si, "n", N, false);
	yi[1] = loop(L, si, "c", C, false);
	store(L, si, BIN_NONE, yi, val_bin(BIN_DIV, load(L, y, yi), val_const((double)(H * W))));
}

/* ---- elementwise ---- */

static Fn unary_fn(OpKind k)
{
	switch (k) {
	case OP_RELU: return FN_RELU;
	case OP_SIGMOID: return FN_SIGMOID;
	case OP_TANH: return FN_TANH;
	case OP_EXP: return FN_EXP;
	case OP_RELU6: return FN_RELU6;
	case OP_CLIP: return FN_CLIP;
	case OP_LEAKY_RELU: return FN_LEAKY_RELU;
	case OP_GELU: return FN_GELU;
	default: die("lower: op %s is not unary", ir_ops[k].name);
	}
}

static Bin binary_bin(OpKind k)
{
	switch (k) {
	case OP_ADD: return BIN_ADD;
	case OP_SUB: return BIN_SUB;
	case OP_MUL: return BIN_MUL;
	case OP_DIV: return BIN_DIV;
	default: die("lower: op %s is not binary", ir_ops[k].name);
	}
}

/* "main" over the output dims; the stage index, its variables in iv. */
static int main_stage(Low *L, const Ix **iv)
{
	int y = out(L);
	int si = new_stage(L, "main", y);
	loops_over(L, si, T(L, y)->rank, T(L, y)->dims, iv);
	return si;
}

static void lower_unary(Low *L)
{
	const Op *op = O(L);
	const Ix *iv[IR_MAX_RANK];
	int si = main_stage(L, iv);
	double p1 = 0, p2 = 0;
	if (op->kind == OP_CLIP)
		p1 = op->p.lo, p2 = op->p.hi;
	if (op->kind == OP_LEAKY_RELU)
		p1 = op->p.alpha;
	store(L, si, BIN_NONE, iv, val_un(unary_fn(op->kind), load(L, arg(L, 0), iv), p1, p2));
}

static void lower_binary(Low *L)
{
	const Ix *iv[IR_MAX_RANK];
	int si = main_stage(L, iv);
	const Tensor *y = T(L, out(L));
	const Val *a = load_bcast(L, arg(L, 0), y->rank, y->dims, iv);
	const Val *b = load_bcast(L, arg(L, 1), y->rank, y->dims, iv);
	store(L, si, BIN_NONE, iv, val_bin(binary_bin(O(L)->kind), a, b));
}

/* y = (x - mean[c]) * (1 / sqrt(var[c] + eps)) * scale[c] + bias[c], c = dim 1. */
static void lower_batchnorm(Low *L)
{
	const Ix *iv[IR_MAX_RANK];
	int si = main_stage(L, iv);
	const Ix *c = iv[1];
	const Val *x = load(L, arg(L, 0), iv);
	const Val *scale = load1(L, arg(L, 1), c), *bias = load1(L, arg(L, 2), c);
	const Val *mean = load1(L, arg(L, 3), c), *var = load1(L, arg(L, 4), c);
	const Val *inv = val_un(FN_RECIP, val_un(FN_SQRT, val_bin(BIN_ADD, var, val_const(O(L)->p.eps)), 0, 0), 0, 0);
	const Val *v = val_bin(BIN_MUL, val_bin(BIN_MUL, val_bin(BIN_SUB, x, mean), inv), scale);
	store(L, si, BIN_NONE, iv, val_bin(BIN_ADD, v, bias));
}

/* ---- normalisations ---- */

/* Loops for a per-row temporary of shape dims (rank >= 1) with kept dims names (the output
   dim numbers they come from); a temp of shape [1] standing for no dims gets loop "u". */
static void row_loops(Low *L, int si, int nkept, const int *kept, const int64_t *odims, const Ix **ti)
{
	if (nkept == 0) {
		ti[0] = loop(L, si, "u", 1, false);
		return;
	}
	for (int i = 0; i < nkept; i++)
		ti[i] = loop(L, si, dname("d", kept[i]), odims[kept[i]], false);
}

/* A stage over every output dim, the row's dims (inrow[d]) outer in order, then the others
   (reductions when red is set). iv gets every var, ti the index of the row temporary (a loop
   "u" of extent 1 when the row has no dims, as in row_loops, so init and update agree). */
static int row_stage(Low *L, const char *name, int tensor, bool red, const bool *inrow, const Ix **iv,
	const Ix **ti)
{
	const Tensor *y = T(L, out(L));
	int rank = y->rank;
	int64_t dims[IR_MAX_RANK];
	memcpy(dims, y->dims, sizeof dims);
	int si = new_stage(L, name, tensor);
	int nt = 0;
	for (int d = 0; d < rank; d++)
		if (inrow[d])
			iv[d] = ti[nt++] = loop(L, si, dname("d", d), dims[d], false);
	if (nt == 0) /* the temp's single element, stored as by row_loops */
		ti[0] = loop(L, si, "u", 1, false);
	for (int d = 0; d < rank; d++)
		if (!inrow[d])
			iv[d] = loop(L, si, dname("d", d), dims[d], red);
	return si;
}

/* Softmax along axis a: max over a, sum of exp(x - max) over a, then exp(x - max) / sum. */
static void lower_softmax(Low *L)
{
	int x = arg(L, 0), y = out(L);
	int rank = T(L, y)->rank, ax = O(L)->p.axis;
	int64_t od[IR_MAX_RANK], td[IR_MAX_RANK];
	memcpy(od, T(L, y)->dims, sizeof od);
	int kept[IR_MAX_RANK], nk = 0;
	bool inrow[IR_MAX_RANK];
	for (int d = 0; d < rank; d++) {
		inrow[d] = d != ax;
		if (d != ax)
			td[nk] = od[d], kept[nk++] = d;
	}
	int trank = nk ? nk : 1;
	if (!nk)
		td[0] = 1;
	int tmax = internal_tensor(L, "max", trank, td);
	int tsum = internal_tensor(L, "sum", trank, td);
	const Ix *iv[IR_MAX_RANK], *ti[IR_MAX_RANK];

	int si = new_stage(L, "max_init", tmax);
	row_loops(L, si, nk, kept, od, ti);
	store(L, si, BIN_NONE, ti, val_const(-HUGE_VAL));
	int init = si;
	si = row_stage(L, "max", tmax, true, inrow, iv, ti);
	st(L, si)->init_stage = init;
	store(L, si, BIN_MAX, ti, load(L, x, iv));

	si = new_stage(L, "sum_init", tsum);
	row_loops(L, si, nk, kept, od, ti);
	store(L, si, BIN_NONE, ti, val_const(0));
	init = si;
	si = row_stage(L, "sum", tsum, true, inrow, iv, ti);
	st(L, si)->init_stage = init;
	const Val *e = val_un(FN_EXP, val_bin(BIN_SUB, load(L, x, iv), load(L, tmax, ti)), 0, 0);
	store(L, si, BIN_ADD, ti, e);

	si = new_stage(L, "main", y);
	loops_over(L, si, rank, od, iv);
	for (int i = 0; i < nk; i++)
		ti[i] = iv[kept[i]];
	if (!nk)
		ti[0] = ix_const(0);
	e = val_un(FN_EXP, val_bin(BIN_SUB, load(L, x, iv), load(L, tmax, ti)), 0, 0);
	store(L, si, BIN_NONE, iv, val_bin(BIN_DIV, e, load(L, tsum, ti)));
}

/* Layernorm over dims axis..rank-1: mean (sum, then / n), rstd (sum of squares of x - mean,
   then 1 / sqrt(. / n + eps)), then (x - mean) * rstd * gamma + beta. */
static void lower_layernorm(Low *L)
{
	int x = arg(L, 0), gamma = arg(L, 1), beta = arg(L, 2), y = out(L);
	int rank = T(L, y)->rank, ax = O(L)->p.axis;
	double eps = O(L)->p.eps;
	int64_t od[IR_MAX_RANK], td[IR_MAX_RANK], n = 1;
	memcpy(od, T(L, y)->dims, sizeof od);
	int kept[IR_MAX_RANK];
	bool inrow[IR_MAX_RANK];
	for (int d = 0; d < rank; d++) {
		inrow[d] = d < ax;
		if (d < ax)
			td[d] = od[d], kept[d] = d;
		else
			n *= od[d];
	}
	int nk = ax, trank = nk ? nk : 1;
	if (!nk)
		td[0] = 1;
	int tmean = internal_tensor(L, "mean", trank, td);
	int trstd = internal_tensor(L, "rstd", trank, td);
	const Ix *iv[IR_MAX_RANK], *ti[IR_MAX_RANK];

	int si = new_stage(L, "mean_init", tmean);
	row_loops(L, si, nk, kept, od, ti);
	store(L, si, BIN_NONE, ti, val_const(0));
	int init = si;
	si = row_stage(L, "mean", tmean, true, inrow, iv, ti);
	st(L, si)->init_stage = init;
	store(L, si, BIN_ADD, ti, load(L, x, iv));
	si = new_stage(L, "mean_scale", tmean);
	row_loops(L, si, nk, kept, od, ti);
	store(L, si, BIN_NONE, ti, val_bin(BIN_DIV, load(L, tmean, ti), val_const((double)n)));

	si = new_stage(L, "var_init", trstd);
	row_loops(L, si, nk, kept, od, ti);
	store(L, si, BIN_NONE, ti, val_const(0));
	init = si;
	si = row_stage(L, "var", trstd, true, inrow, iv, ti);
	st(L, si)->init_stage = init;
	const Val *dev = val_bin(BIN_SUB, load(L, x, iv), load(L, tmean, ti));
	store(L, si, BIN_ADD, ti, val_bin(BIN_MUL, dev, dev));
	si = new_stage(L, "rstd", trstd);
	row_loops(L, si, nk, kept, od, ti);
	const Val *var = val_bin(BIN_DIV, load(L, trstd, ti), val_const((double)n));
	const Val *r = val_un(FN_RECIP, val_un(FN_SQRT, val_bin(BIN_ADD, var, val_const(eps)), 0, 0), 0, 0);
	store(L, si, BIN_NONE, ti, r);

	si = new_stage(L, "main", y);
	loops_over(L, si, rank, od, iv);
	for (int i = 0; i < nk; i++)
		ti[i] = iv[i];
	if (!nk)
		ti[0] = ix_const(0);
	const Ix *pi[IR_MAX_RANK];
	for (int d = ax; d < rank; d++)
		pi[d - ax] = iv[d];
	dev = val_bin(BIN_SUB, load(L, x, iv), load(L, tmean, ti));
	const Val *v = val_bin(BIN_MUL, val_bin(BIN_MUL, dev, load(L, trstd, ti)), load(L, gamma, pi));
	store(L, si, BIN_NONE, iv, val_bin(BIN_ADD, v, load(L, beta, pi)));
}

/* ---- data movement ---- */

/* reshape, flatten: out[i] = x[unravel_x(ravel_out(i))]. */
static void lower_reshape(Low *L)
{
	const Ix *iv[IR_MAX_RANK];
	int si = main_stage(L, iv);
	const Tensor *y = T(L, out(L)), *x = T(L, arg(L, 0));
	const Ix *lin = ix_const(0);
	for (int d = 0; d < y->rank; d++)
		lin = ix_add(ix_mul(lin, y->dims[d]), iv[d]);
	const Ix *xi[IR_MAX_RANK];
	int64_t stride = 1;
	for (int d = x->rank - 1; d >= 0; d--) {
		const Ix *e = ix_div(lin, stride);
		if (d > 0)
			e = ix_mod(e, x->dims[d]);
		xi[d] = ix_simplify(e, L->extent);
		stride *= x->dims[d];
	}
	store(L, si, BIN_NONE, iv, load(L, arg(L, 0), xi));
}

/* out[i] = x[j], j[perm[d]] = i[d]. */
static void lower_transpose(Low *L)
{
	const Ix *iv[IR_MAX_RANK], *xi[IR_MAX_RANK];
	int si = main_stage(L, iv);
	const Op *op = O(L);
	for (int d = 0; d < T(L, out(L))->rank; d++)
		xi[op->p.perm[d]] = iv[d];
	store(L, si, BIN_NONE, iv, load(L, arg(L, 0), xi));
}

/* One stage per argument: out[..., off + i, ...] = xk[..., i, ...], off the sum of the earlier
   arguments' dims along axis. */
static void lower_concat(Low *L)
{
	int ax = O(L)->p.axis, y = out(L);
	int64_t off = 0;
	for (int a = 0; a < O(L)->nargs; a++) {
		int x = arg(L, a);
		int64_t xd[IR_MAX_RANK];
		memcpy(xd, T(L, x)->dims, sizeof xd);
		const Ix *iv[IR_MAX_RANK], *yi[IR_MAX_RANK];
		int si = new_stage(L, ir_fmt("part%d", a), y);
		loops_over(L, si, T(L, x)->rank, xd, iv);
		for (int d = 0; d < T(L, x)->rank; d++)
			yi[d] = d == ax ? ix_addc(iv[d], off) : iv[d];
		store(L, si, BIN_NONE, yi, load(L, x, iv));
		off += xd[ax];
	}
}

/* "fill": out = value everywhere; "copy": out[i + begin] = x[i] over x's box. */
static void lower_pad(Low *L)
{
	const Op *op = O(L);
	int x = arg(L, 0), y = out(L);
	const Ix *iv[IR_MAX_RANK], *yi[IR_MAX_RANK];
	int si = new_stage(L, "fill", y);
	int64_t dims[IR_MAX_RANK];
	memcpy(dims, T(L, y)->dims, sizeof dims);
	loops_over(L, si, T(L, y)->rank, dims, iv);
	store(L, si, BIN_NONE, iv, val_const(op->p.value));

	si = new_stage(L, "copy", y);
	memcpy(dims, T(L, x)->dims, sizeof dims);
	int rank = T(L, x)->rank;
	loops_over(L, si, rank, dims, iv);
	for (int d = 0; d < rank; d++)
		yi[d] = ix_addc(iv[d], op->p.pads[d]);
	store(L, si, BIN_NONE, yi, load(L, x, iv));
}

/* ---- the pass ---- */

static void lower_op(Low *L)
{
	switch (O(L)->kind) {
	case OP_CONV2D: lower_conv2d(L); break;
	case OP_DENSE: lower_dense(L); break;
	case OP_MATMUL: lower_matmul(L); break;
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: lower_binary(L); break;
	case OP_RELU: case OP_SIGMOID: case OP_TANH: case OP_EXP: case OP_RELU6:
	case OP_CLIP: case OP_LEAKY_RELU: case OP_GELU: lower_unary(L); break;
	case OP_BATCHNORM: lower_batchnorm(L); break;
	case OP_MAXPOOL2D: case OP_AVGPOOL2D: lower_pool(L); break;
	case OP_GLOBAL_AVGPOOL: lower_global_avgpool(L); break;
	case OP_SOFTMAX: lower_softmax(L); break;
	case OP_LAYERNORM: lower_layernorm(L); break;
	case OP_RESHAPE: case OP_FLATTEN: lower_reshape(L); break;
	case OP_TRANSPOSE: lower_transpose(L); break;
	case OP_CONCAT: lower_concat(L); break;
	case OP_PAD: lower_pad(L); break;
	default: die("lower: unknown op kind %d", (int)O(L)->kind);
	}
}

Prog *ir_lower(Graph *g)
{
	Prog *P = ir_alloc(sizeof *P);
	P->g = g;
	Low L = {.P = P, .g = g};
	for (int i = 0; i < g->nops; i++) {
		L.op = i;
		lower_op(&L);
	}
	free(L.extent);
	return P;
}
