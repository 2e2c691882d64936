/* ir/infer.c: shape inference and the semantic checks of a model.
 *
 * Runs after ir_parse, which has checked the op names, the number of tensor arguments, the
 * attribute names and that every name is defined before use; inputs and params have their
 * declared shapes, values have rank 0. Here, for each op in order: its attributes become
 * OpParams (defaults applied, axes normalised), its arguments' shapes are checked against the
 * operator semantics (notes in spec/model-format.md), and its result gets its shape.
 *
 * Every independent mistake is reported in one run. An op with an error leaves its result
 * unknown (rank 0), and ops that read an unknown tensor are skipped silently, so one mistake
 * gives one message, not a cascade.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

#define MAX_ELEMS ((int64_t)1 << 31) /* a tensor has at most 2^31 elements */

static Tensor *arg(InferCtx *c, int i) { return &c->g->tensors[c->op->args[i]]; }
static Loc argloc(InferCtx *c, int i) { return c->op->argloc[i]; }
static const char *shape(const Tensor *t) { return ir_shape_str(t->rank, t->dims); }

/* "x [1, 64, 56, 56]": how messages name a tensor. */
static const char *tdesc(const Tensor *t) { return ir_fmt("%s %s", t->name, shape(t)); }

/* Product of dims, or -1 when it is over MAX_ELEMS (checked at each step: no overflow). */
static int64_t checked_numel(int rank, const int64_t *dims)
{
	int64_t n = 1;
	for (int i = 0; i < rank; i++) {
		if (dims[i] > MAX_ELEMS || n * dims[i] > MAX_ELEMS)
			return -1;
		n *= dims[i];
	}
	return n;
}

/* Give the op's result its shape, unless the op failed. */
static void set_result(InferCtx *c, int rank, const int64_t *dims)
{
	if (c->failed)
		return;
	if (rank < 1 || rank > IR_MAX_RANK)
		die("set_result: rank %d", rank);
	if (checked_numel(rank, dims) < 0) {
		double n = 1;
		for (int i = 0; i < rank; i++)
			n *= (double)dims[i];
		ir_op_error(c, c->op->loc, "tensor too large: the result would be %s, %.0f elements (at most 2^31)",
			ir_shape_str(rank, dims), n);
		return;
	}
	Tensor *t = &c->g->tensors[c->op->out];
	t->rank = rank;
	memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
}

static bool need_rank(InferCtx *c, int i, int rank, const char *role, const char *form)
{
	Tensor *t = arg(c, i);
	if (t->rank == rank)
		return true;
	ir_op_error(c, argloc(c, i), "%s %s must be %d-d %s, but is %s", role, t->name, rank, form, shape(t));
	return false;
}

/* An axis attribute in [-rank, rank + extra), normalised to [0, rank + extra). */
static int get_axis(InferCtx *c, const char *name, int def, const Tensor *x, int extra)
{
	const Attr *a = ir_attr(c->op, name);
	int64_t v = def;
	if (a && !ir_attr_int_at(c, a, -1, -IR_ATTR_MAX, IR_ATTR_MAX, &v))
		return 0;
	int hi = x->rank + extra - 1;
	if (v < -x->rank || v > hi) {
		ir_op_error(c, a ? a->vloc : c->op->loc, "%s %lld%s is out of range for %s (expected %d to %d)",
			name, (long long)v, a ? "" : " (the default)", tdesc(x), -x->rank, hi);
		return 0;
	}
	return (int)(v < 0 ? v + x->rank : v);
}

/* ---- conv2d ---- */

/* One output size of a conv: floor((H + top + bottom - dil*(R-1) - 1) / stride) + 1, which
   must be at least 1. dim is "height" or "width". */
static int64_t conv_out_size(InferCtx *c, const char *dim, int64_t in, int64_t k, int pre, int post,
	int dil, int stride)
{
	int64_t padded = in + pre + post;
	int64_t span = (int64_t)dil * (k - 1) + 1;
	if (span > padded) {
		ir_op_error(c, c->op->loc,
			"output %s would be < 1: the kernel spans %lld (size %lld, dilation %d) but the padded input %s is %lld (%lld + pad %d + %d)",
			dim, (long long)span, (long long)k, dil, dim, (long long)padded, (long long)in, pre, post);
		return 0;
	}
	return (padded - span) / stride + 1;
}

static void infer_conv(InferCtx *c)
{
	OpParams *p = &c->op->p;
	Loc padlocs[4];
	p->stride[0] = p->stride[1] = 1;
	p->dil[0] = p->dil[1] = 1;
	ir_get_pair(c, "stride", 1, p->stride, NULL);
	ir_get_pad4(c, "pad", p->pad, padlocs);
	ir_get_pair(c, "dilation", 1, p->dil, NULL);
	p->groups = (int)ir_get_int(c, "groups", 1, 1, IR_ATTR_MAX);
	const Attr *ga = ir_attr(c->op, "groups");
	Loc gloc = ga ? ga->vloc : c->op->loc;

	bool has_bias = c->op->nargs > 2;
	need_rank(c, 0, 4, "input", "[N, C, H, W]");
	need_rank(c, 1, 4, "weight", "[K, C/groups, R, S]");
	if (has_bias)
		need_rank(c, 2, 1, "bias", "[K]");
	if (c->failed)
		return;

	Tensor *x = arg(c, 0), *w = arg(c, 1);
	int64_t C = x->dims[1], K = w->dims[0], g = p->groups;
	if (C % g != 0)
		ir_op_error(c, gloc, "groups=%lld does not divide the %lld channels of input %s",
			(long long)g, (long long)C, tdesc(x));
	else if (K % g != 0)
		ir_op_error(c, gloc, "groups=%lld does not divide the %lld output channels of weight %s",
			(long long)g, (long long)K, tdesc(w));
	else if (w->dims[1] * g != C)
		ir_op_error(c, argloc(c, 1), "input has %lld channels but weight %s expects %lld (%s is %s, groups=%lld)",
			(long long)C, w->name, (long long)(w->dims[1] * g), w->name, shape(w), (long long)g);
	if (has_bias && arg(c, 2)->dims[0] != K)
		ir_op_error(c, argloc(c, 2), "bias %s must be [%lld] (one per output channel of weight %s), but is %s",
			arg(c, 2)->name, (long long)K, tdesc(w), shape(arg(c, 2)));
	if (c->failed)
		return;

	int64_t oh = conv_out_size(c, "height", x->dims[2], w->dims[2], p->pad[0], p->pad[2], p->dil[0], p->stride[0]);
	int64_t ow = conv_out_size(c, "width", x->dims[3], w->dims[3], p->pad[1], p->pad[3], p->dil[1], p->stride[1]);
	int64_t out[4] = {x->dims[0], K, oh, ow};
	set_result(c, 4, out);
}

/* ---- dense, matmul, elementwise ---- */

static void infer_dense(InferCtx *c)
{
	bool has_bias = c->op->nargs > 2;
	need_rank(c, 0, 2, "input", "[M, K] (flatten it first)");
	need_rank(c, 1, 2, "weight", "[N, K]");
	if (has_bias)
		need_rank(c, 2, 1, "bias", "[N]");
	if (c->failed)
		return;
	Tensor *x = arg(c, 0), *w = arg(c, 1);
	if (x->dims[1] != w->dims[1])
		ir_op_error(c, argloc(c, 1), "input has %lld features but weight %s expects %lld (%s is %s)",
			(long long)x->dims[1], w->name, (long long)w->dims[1], w->name, shape(w));
	if (has_bias && arg(c, 2)->dims[0] != w->dims[0])
		ir_op_error(c, argloc(c, 2), "bias %s must be [%lld] (one per output of weight %s), but is %s",
			arg(c, 2)->name, (long long)w->dims[0], tdesc(w), shape(arg(c, 2)));
	int64_t out[2] = {x->dims[0], w->dims[0]};
	set_result(c, 2, out);
}

/* The first pair of dims (aligned from the end) that do not broadcast, for messages. */
static void broadcast_clash(int ra, const int64_t *a, int rb, const int64_t *b, int64_t *da, int64_t *db)
{
	for (int i = 1; i <= ra && i <= rb; i++) {
		*da = a[ra - i];
		*db = b[rb - i];
		if (*da != *db && *da != 1 && *db != 1)
			return;
	}
	die("broadcast_clash: shapes broadcast");
}

static void infer_matmul(InferCtx *c)
{
	Tensor *a = arg(c, 0), *b = arg(c, 1);
	for (int i = 0; i < 2; i++) {
		Tensor *t = arg(c, i);
		if (t->rank < 2)
			ir_op_error(c, argloc(c, i), "%s must have rank >= 2 %s, but is %s (write a vector as [1, n] or [n, 1])",
				t->name, i == 0 ? "[..., M, K]" : "[..., K, N]", shape(t));
	}
	if (c->failed)
		return;
	int64_t ka = a->dims[a->rank - 1], kb = b->dims[b->rank - 2];
	if (ka != kb) {
		ir_op_error(c, argloc(c, 1), "inner dimensions differ: %s has K=%lld but %s has K=%lld",
			tdesc(a), (long long)ka, tdesc(b), (long long)kb);
		return;
	}
	int r;
	int64_t out[IR_MAX_RANK];
	if (!ir_broadcast(a->rank - 2, a->dims, b->rank - 2, b->dims, &r, out)) {
		int64_t da, db;
		broadcast_clash(a->rank - 2, a->dims, b->rank - 2, b->dims, &da, &db);
		ir_op_error(c, argloc(c, 1), "batch dimensions of %s and %s do not broadcast (%lld vs %lld)",
			tdesc(a), tdesc(b), (long long)da, (long long)db);
		return;
	}
	out[r] = a->dims[a->rank - 2];
	out[r + 1] = b->dims[b->rank - 1];
	set_result(c, r + 2, out);
}

static void infer_binary(InferCtx *c)
{
	Tensor *a = arg(c, 0), *b = arg(c, 1);
	int r;
	int64_t out[IR_MAX_RANK];
	if (!ir_broadcast(a->rank, a->dims, b->rank, b->dims, &r, out)) {
		int64_t da, db;
		broadcast_clash(a->rank, a->dims, b->rank, b->dims, &da, &db);
		ir_op_error(c, argloc(c, 1), "cannot broadcast %s with %s (%lld vs %lld, dims aligned from the last)",
			tdesc(a), tdesc(b), (long long)da, (long long)db);
		return;
	}
	set_result(c, r, out);
}

static void infer_unary(InferCtx *c)
{
	OpParams *p = &c->op->p;
	if (c->op->kind == OP_CLIP) {
		p->lo = ir_get_float(c, "min", -INFINITY);
		p->hi = ir_get_float(c, "max", INFINITY);
		const Attr *lo = ir_attr(c->op, "min"), *hi = ir_attr(c->op, "max");
		if (!c->failed && !(p->lo <= p->hi))
			ir_op_error(c, hi->vloc, "expected min <= max, saw min=%s and max=%s",
				ir_attr_seen(lo), ir_attr_seen(hi));
	}
	if (c->op->kind == OP_LEAKY_RELU)
		p->alpha = ir_get_float(c, "alpha", 0.01);
	Tensor *x = arg(c, 0);
	set_result(c, x->rank, x->dims);
}

/* ---- normalisations ---- */

/* eps: a number >= 0, default 1e-5. */
static double get_eps(InferCtx *c)
{
	double eps = ir_get_float(c, "eps", 1e-5);
	const Attr *a = ir_attr(c->op, "eps");
	if (a && (a->kind == ATTR_INT || a->kind == ATTR_FLOAT) && !(a->f >= 0))
		ir_op_error(c, a->vloc, "eps: expected a number >= 0, saw %s", ir_attr_seen(a));
	return eps;
}

static void infer_batchnorm(InferCtx *c)
{
	static const char *role[] = {"input", "scale", "bias", "mean", "variance"};
	Tensor *x = arg(c, 0);
	if (x->rank < 2) {
		ir_op_error(c, argloc(c, 0), "input %s must have rank >= 2 [N, C, ...], but is %s", x->name, shape(x));
		return;
	}
	int64_t C = x->dims[1];
	for (int i = 1; i < 5; i++) {
		Tensor *t = arg(c, i);
		if (t->rank != 1 || t->dims[0] != C)
			ir_op_error(c, argloc(c, i), "%s (the %s) must be [%lld] (one per channel of %s), but is %s",
				t->name, role[i], (long long)C, tdesc(x), shape(t));
	}
	c->op->p.eps = get_eps(c);
	set_result(c, x->rank, x->dims);
}

static void infer_layernorm(InferCtx *c)
{
	static const char *role[] = {"input", "gamma", "beta"};
	Tensor *x = arg(c, 0);
	int axis = c->op->p.axis = get_axis(c, "axis", -1, x, 0);
	c->op->p.eps = get_eps(c);
	if (c->failed)
		return;
	int n = x->rank - axis;
	const int64_t *want = x->dims + axis;
	for (int i = 1; i < 3; i++) {
		Tensor *t = arg(c, i);
		if (t->rank != n || memcmp(t->dims, want, sizeof(int64_t) * (size_t)n) != 0)
			ir_op_error(c, argloc(c, i), "%s %s must be %s (the dims of %s from axis %d on), but is %s",
				role[i], t->name, ir_shape_str(n, want), tdesc(x), axis, shape(t));
	}
	set_result(c, x->rank, x->dims);
}

static void infer_softmax(InferCtx *c)
{
	Tensor *x = arg(c, 0);
	c->op->p.axis = get_axis(c, "axis", -1, x, 0);
	set_result(c, x->rank, x->dims);
}

/* ---- pools ---- */

/* One output size of a pool (see the pool semantics: floor or ceil, and in ceil mode no window
   may start inside the bottom/right padding). */
static int64_t pool_out_size(int64_t in, int k, int pre, int post, int stride, bool ceil_mode)
{
	int64_t span = in + pre + post - k;
	int64_t o = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
	if (ceil_mode && (o - 1) * stride >= in + pre)
		o--;
	return o;
}

static void infer_pool(InferCtx *c)
{
	OpParams *p = &c->op->p;
	static const char *side[] = {"top", "left", "bottom", "right"};
	static const char *dim[] = {"height", "width"};
	Loc klocs[2], padlocs[4];
	bool have_kernel = ir_get_pair(c, "kernel", 1, p->kernel, klocs);
	if (!ir_attr(c->op, "kernel"))
		ir_op_error(c, c->op->loc, "missing attribute kernel (the window size, e.g. kernel=2)");
	if (!ir_get_pair(c, "stride", 1, p->stride, NULL)) {
		p->stride[0] = p->kernel[0];
		p->stride[1] = p->kernel[1];
	}
	ir_get_pad4(c, "pad", p->pad, padlocs);
	p->ceil_mode = ir_get_bool(c, "ceil_mode");
	if (c->op->kind == OP_AVGPOOL2D)
		p->count_include_pad = ir_get_bool(c, "count_include_pad");
	need_rank(c, 0, 4, "input", "[N, C, H, W]");
	if (c->failed || !have_kernel)
		return;

	for (int i = 0; i < 4; i++) {
		if (p->pad[i] >= p->kernel[i % 2]) {
			ir_op_error(c, padlocs[i], "%s pad %d must be smaller than the kernel %s %d",
				side[i], p->pad[i], dim[i % 2], p->kernel[i % 2]);
			return; /* one message: an integer pad stands for all four sides */
		}
	}
	Tensor *x = arg(c, 0);
	int64_t out[4] = {x->dims[0], x->dims[1], 0, 0};
	for (int d = 0; d < 2; d++) {
		int64_t in = x->dims[2 + d];
		int pre = p->pad[d], post = p->pad[d + 2];
		if (p->kernel[d] > in + pre + post) {
			ir_op_error(c, klocs[d], "kernel %s %d is larger than the padded input %s %lld (%lld + pad %d + %d)",
				dim[d], p->kernel[d], dim[d], (long long)(in + pre + post), (long long)in, pre, post);
			continue;
		}
		out[2 + d] = pool_out_size(in, p->kernel[d], pre, post, p->stride[d], p->ceil_mode);
	}
	set_result(c, 4, out);
}

static void infer_global_avgpool(InferCtx *c)
{
	if (!need_rank(c, 0, 4, "input", "[N, C, H, W]"))
		return;
	Tensor *x = arg(c, 0);
	int64_t out[4] = {x->dims[0], x->dims[1], 1, 1};
	set_result(c, 4, out);
}

/* ---- shape changes ---- */

static void infer_reshape(InferCtx *c)
{
	const Attr *a = ir_attr(c->op, "shape");
	if (!a) {
		ir_op_error(c, c->op->loc, "missing attribute shape (the new shape, e.g. shape=[1, -1])");
		return;
	}
	int64_t dims[IR_MAX_RANK];
	int n = ir_get_int_list(c, a, -1, "a list of 1 to 6 integers", -MAX_ELEMS, MAX_ELEMS, dims);
	if (n < 0)
		return;
	int infer_at = -1;
	int64_t known = 1;
	double count = 1; /* the product of the given entries, for the message */
	for (int i = 0; i < n; i++) {
		if (dims[i] == -1 && infer_at < 0) {
			infer_at = i;
		} else if (dims[i] == -1) {
			ir_op_error(c, a->item_locs[i], "shape: only one entry may be -1, saw a second one");
		} else if (dims[i] < 1) {
			ir_op_error(c, a->item_locs[i], "shape: expected an integer >= 1 or -1, saw %lld",
				(long long)dims[i]);
		} else {
			count *= (double)dims[i];
			if (known <= MAX_ELEMS)
				known *= dims[i]; /* both <= 2^31: no overflow */
		}
	}
	if (c->failed)
		return;
	Tensor *x = arg(c, 0);
	int64_t total = ir_numel(x);
	if (infer_at >= 0 && (known > total || total % known != 0)) {
		ir_op_error(c, a->vloc, "cannot reshape %s (%lld elements) into %s: %lld is not a multiple of %lld",
			tdesc(x), (long long)total, ir_shape_str(n, dims), (long long)total, (long long)known);
		return;
	}
	if (infer_at < 0 && known != total) {
		ir_op_error(c, a->vloc, "cannot reshape %s (%lld elements) into %s (%.0f elements)",
			tdesc(x), (long long)total, ir_shape_str(n, dims), count);
		return;
	}
	if (infer_at >= 0)
		dims[infer_at] = total / known;
	set_result(c, n, dims);
}

/* flatten: p.axis is normalised to [0, rank] (rank included: [total, 1]). */
static void infer_flatten(InferCtx *c)
{
	Tensor *x = arg(c, 0);
	int axis = c->op->p.axis = get_axis(c, "axis", 1, x, 1);
	if (c->failed)
		return;
	int64_t out[2] = {1, 1};
	for (int i = 0; i < x->rank; i++)
		out[i >= axis] *= x->dims[i];
	set_result(c, 2, out);
}

static void infer_transpose(InferCtx *c)
{
	Tensor *x = arg(c, 0);
	int *perm = c->op->p.perm;
	const Attr *a = ir_attr(c->op, "perm");
	for (int i = 0; i < x->rank; i++)
		perm[i] = x->rank - 1 - i;
	if (a) {
		int64_t v[IR_MAX_RANK];
		const char *what = ir_fmt("a list of %d axes (one per dim of %s)", x->rank, tdesc(x));
		if (ir_get_int_list(c, a, x->rank, what, -x->rank, x->rank - 1, v) < 0)
			return;
		bool seen[IR_MAX_RANK] = {false};
		for (int i = 0; i < x->rank; i++) {
			int j = (int)(v[i] < 0 ? v[i] + x->rank : v[i]);
			if (seen[j]) {
				ir_op_error(c, a->item_locs[i], "perm: expected a permutation of 0..%d, but axis %d appears twice",
					x->rank - 1, j);
				return;
			}
			seen[j] = true;
			perm[i] = j;
		}
	}
	int64_t out[IR_MAX_RANK];
	for (int i = 0; i < x->rank; i++)
		out[i] = x->dims[perm[i]];
	set_result(c, x->rank, out);
}

static void infer_concat(InferCtx *c)
{
	Tensor *x = arg(c, 0);
	int axis = c->op->p.axis = get_axis(c, "axis", 1, x, 0);
	if (c->failed)
		return;
	int64_t out[IR_MAX_RANK];
	memcpy(out, x->dims, sizeof out);
	for (int i = 1; i < c->op->nargs; i++) {
		Tensor *t = arg(c, i);
		if (t->rank != x->rank) {
			ir_op_error(c, argloc(c, i), "%s has rank %d but %s has rank %d", tdesc(t), t->rank,
				tdesc(x), x->rank);
			continue;
		}
		for (int d = 0; d < x->rank; d++) {
			if (d != axis && t->dims[d] != x->dims[d]) {
				ir_op_error(c, argloc(c, i), "%s does not match %s in dim %d (%lld vs %lld); only dim %d (the axis) may differ",
					tdesc(t), tdesc(x), d, (long long)t->dims[d], (long long)x->dims[d], axis);
				break;
			}
		}
		out[axis] += t->dims[axis];
		if (out[axis] > MAX_ELEMS)
			out[axis] = MAX_ELEMS + 1; /* no overflow; set_result reports it */
	}
	set_result(c, x->rank, out);
}

static void infer_pad(InferCtx *c)
{
	Tensor *x = arg(c, 0);
	OpParams *p = &c->op->p;
	p->value = ir_get_float(c, "value", 0.0);
	const Attr *a = ir_attr(c->op, "pads");
	if (!a) {
		ir_op_error(c, c->op->loc, "missing attribute pads ([begin of each dim..., end of each dim...])");
		return;
	}
	const char *what = ir_fmt("a list of %d integers (begin and end of each dim of %s)", 2 * x->rank, tdesc(x));
	if (ir_get_int_list(c, a, 2 * x->rank, what, 0, IR_ATTR_MAX, p->pads) < 0)
		return;
	int64_t out[IR_MAX_RANK];
	for (int i = 0; i < x->rank; i++)
		out[i] = x->dims[i] + p->pads[i] + p->pads[x->rank + i];
	set_result(c, x->rank, out);
}

/* ---- the pass ---- */

static void infer_op(InferCtx *c)
{
	int flags = ir_ops[c->op->kind].flags;
	if (flags & OPF_UNARY) {
		infer_unary(c);
		return;
	}
	if (flags & OPF_BINARY) {
		infer_binary(c);
		return;
	}
	switch (c->op->kind) {
	case OP_CONV2D: infer_conv(c); break;
	case OP_DENSE: infer_dense(c); break;
	case OP_MATMUL: infer_matmul(c); break;
	case OP_BATCHNORM: infer_batchnorm(c); break;
	case OP_MAXPOOL2D:
	case OP_AVGPOOL2D: infer_pool(c); break;
	case OP_GLOBAL_AVGPOOL: infer_global_avgpool(c); break;
	case OP_SOFTMAX: infer_softmax(c); break;
	case OP_LAYERNORM: infer_layernorm(c); break;
	case OP_RESHAPE: infer_reshape(c); break;
	case OP_FLATTEN: infer_flatten(c); break;
	case OP_TRANSPOSE: infer_transpose(c); break;
	case OP_CONCAT: infer_concat(c); break;
	case OP_PAD: infer_pad(c); break;
	default: die("infer_op: op %s has no shape rule", ir_ops[c->op->kind].name);
	}
}

bool ir_infer(Graph *g)
{
	int before = ir_nerrors;
	for (int i = 0; i < g->ntensors; i++) {
		Tensor *t = &g->tensors[i];
		if (t->kind != TENSOR_VALUE && t->rank > 0 && checked_numel(t->rank, t->dims) < 0) {
			error_at(t->loc, "tensor too large: %s is %s, more than 2^31 elements", t->name, shape(t));
			t->rank = 0; /* unknown: ops that read it are skipped */
		}
	}
	for (int i = 0; i < g->nops; i++) {
		Op *op = &g->ops[i];
		InferCtx c = {g, op, false};
		memset(&op->p, 0, sizeof op->p);
		bool args_known = true;
		for (int j = 0; j < op->nargs; j++)
			args_known &= g->tensors[op->args[j]].rank > 0;
		g->tensors[op->out].rank = 0;
		if (args_known)
			infer_op(&c);
	}
	return ir_nerrors == before;
}

/* ---- sizes and costs ---- */

int64_t ir_numel(const Tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->rank; i++)
		n *= t->dims[i];
	return n;
}

bool ir_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *rout, int64_t *out)
{
	int r = ra > rb ? ra : rb;
	int64_t tmp[IR_MAX_RANK];
	if (r > IR_MAX_RANK)
		die("ir_broadcast: rank %d", r);
	for (int i = 0; i < r; i++) {
		int64_t da = i < r - ra ? 1 : a[i - (r - ra)];
		int64_t db = i < r - rb ? 1 : b[i - (r - rb)];
		if (da != db && da != 1 && db != 1)
			return false;
		tmp[i] = da == 1 ? db : da;
	}
	*rout = r;
	memcpy(out, tmp, sizeof(int64_t) * (size_t)r); /* out may alias a or b */
	return true;
}

/* Floating-point operations, a multiply-add counting 2:
   conv2d 2*numel(out)*(C/g)*R*S; dense and matmul 2*numel(out)*K (bias adds ignored);
   pools numel(out)*window (global_avgpool: numel(in)); reshape and flatten 0 (views);
   every other op numel(out). */
double ir_op_flops(const Graph *g, const Op *op)
{
	const Tensor *out = &g->tensors[op->out];
	const Tensor *x = &g->tensors[op->args[0]];
	double n = (double)ir_numel(out);
	if (out->rank == 0)
		return 0;
	switch (op->kind) {
	case OP_CONV2D: {
		const Tensor *w = &g->tensors[op->args[1]];
		return 2 * n * (double)(w->dims[1] * w->dims[2] * w->dims[3]);
	}
	case OP_DENSE: return 2 * n * (double)x->dims[1];
	case OP_MATMUL: return 2 * n * (double)x->dims[x->rank - 1];
	case OP_MAXPOOL2D:
	case OP_AVGPOOL2D: return n * op->p.kernel[0] * op->p.kernel[1];
	case OP_GLOBAL_AVGPOOL: return (double)ir_numel(x);
	case OP_RESHAPE:
	case OP_FLATTEN: return 0;
	default: return n;
	}
}

double ir_graph_flops(const Graph *g)
{
	double sum = 0;
	for (int i = 0; i < g->nops; i++)
		sum += ir_op_flops(g, &g->ops[i]);
	return sum;
}
