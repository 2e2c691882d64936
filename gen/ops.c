/* gen/ops.c: one scalar kernel per operator, printed inside the op's block by cgen.c.
 *
 * Each kernel declares its operand pointers (gen_decl_in/out: where the plan put the bytes),
 * then a loop nest whose bounds, strides and padding limits are constants computed here, so the
 * innermost loops have no branches and compilers can vectorize them. Sums accumulate in float.
 * Loop orders: conv2d fills an output plane with the bias and adds one weight times a shifted
 * input plane at a time; dense is a dot product over contiguous rows; matmul adds scaled rows of
 * b into a row of the output. WEFT_PARALLEL_FOR goes on the outermost independent loop of conv2d,
 * dense, matmul and the pools. Operator semantics: /work/notes/common.md and the model spec.
 */
#include "gen.h"

#include <string.h>

#define LL(x) ((long long)(x))

/* ---- index expressions, simplified so that generated code reads like hand-written code ---- */

static bool is_zero(const char *e) { return strcmp(e, "0") == 0; }

/* e * k, with e "0" or k 1 or 0 folded; e parenthesised when it is a sum. */
static const char *s_mul(const char *e, int64_t k)
{
	if (is_zero(e) || k == 0)
		return "0";
	if (k == 1)
		return e;
	bool sum = strchr(e, '+') || strchr(e, '-');
	return sum ? ir_fmt("(%s) * %lld", e, LL(k)) : ir_fmt("%s * %lld", e, LL(k));
}

static const char *s_add(const char *a, const char *b)
{
	if (is_zero(a))
		return b;
	if (is_zero(b))
		return a;
	return ir_fmt("%s + %s", a, b);
}

static const char *s_addk(const char *a, int64_t k)
{
	if (k == 0)
		return a;
	if (is_zero(a))
		return ir_fmt("%lld", LL(k));
	return k > 0 ? ir_fmt("%s + %lld", a, LL(k)) : ir_fmt("%s - %lld", a, LL(-k));
}

/* v / d for v in [0, n): "0" when the quotient is always 0. */
static const char *s_div(const char *v, int64_t d, int64_t n)
{
	if (d >= n)
		return "0";
	return d == 1 ? v : ir_fmt("%s / %lld", v, LL(d));
}

/* v % d for v in [0, n). */
static const char *s_mod(const char *v, int64_t d, int64_t n)
{
	if (d == 1)
		return "0";
	return d >= n ? v : ir_fmt("%s %% %lld", v, LL(d));
}

static const char *ptr_plus(const char *p, const char *off)
{
	return is_zero(off) ? p : ir_fmt("%s + %s", p, off);
}

static const Tensor *T(Gen *G, int id) { return &G->g->tensors[id]; }

static int64_t prod(const int64_t *d, int lo, int hi)
{
	int64_t p = 1;
	for (int i = lo; i < hi; i++)
		p *= d[i];
	return p;
}

/* ---- loop nests over up to three arrays with per-loop strides ---- */

typedef struct Nest {
	int n;                          /* loops, outermost first */
	int64_t ext[IR_MAX_RANK];
	int narr;                       /* arrays indexed in the body */
	int64_t str[3][IR_MAX_RANK];    /* element stride of each array for each loop */
} Nest;

/* Drop loops of extent 1; merge a loop into the next when every array walks both as one. */
static void nest_simplify(Nest *ns)
{
	Nest s = {.narr = ns->narr};
	for (int d = 0; d < ns->n; d++) {
		if (ns->ext[d] == 1)
			continue;
		bool merge = s.n > 0;
		for (int a = 0; a < ns->narr && merge; a++)
			merge = s.str[a][s.n - 1] == ns->str[a][d] * ns->ext[d];
		if (merge) {
			s.ext[s.n - 1] *= ns->ext[d];
			for (int a = 0; a < ns->narr; a++)
				s.str[a][s.n - 1] = ns->str[a][d];
			continue;
		}
		s.ext[s.n] = ns->ext[d];
		for (int a = 0; a < ns->narr; a++)
			s.str[a][s.n] = ns->str[a][d];
		s.n++;
	}
	if (s.n == 0) /* a single element */
		s.ext[s.n++] = 1;
	*ns = s;
}

static const char *nest_var(const Nest *ns, int d)
{
	return ns->n == 1 ? "i" : ir_fmt("i%d", d);
}

static void nest_open(Gen *G, const Nest *ns)
{
	for (int d = 0; d < ns->n; d++)
		gen_forn(G, nest_var(ns, d), ns->ext[d], false);
}

static void nest_close(Gen *G, const Nest *ns)
{
	for (int d = ns->n - 1; d >= 0; d--)
		gen_end(G, nest_var(ns, d));
}

/* The element index of array a in the nest's body, plus base. */
static const char *nest_index(const Nest *ns, int a, int64_t base)
{
	const char *e = "0";
	for (int d = 0; d < ns->n; d++)
		if (ns->ext[d] > 1)
			e = s_add(e, s_mul(ir_fmt("weft_%s", nest_var(ns, d)), ns->str[a][d]));
	return s_addk(e, base);
}

static void contiguous_strides(const Tensor *t, int64_t *st)
{
	int64_t s = 1;
	for (int d = t->rank - 1; d >= 0; d--) {
		st[d] = s;
		s *= t->dims[d];
	}
}

/* ---- elementwise ---- */

static void kernel_unary(Gen *G, const Op *op)
{
	gen_decl_in(G, "weft_x", op->args[0], false);
	gen_decl_out(G, "weft_y", op->out, false);
	const char *a2 = NULL, *a3 = NULL;
	if (op->kind == OP_CLIP) {
		a2 = gen_flit(op->p.lo);
		a3 = gen_flit(op->p.hi);
	} else if (op->kind == OP_LEAKY_RELU) {
		a2 = gen_flit(op->p.alpha);
	}
	Buf e = {0};
	gen_expand(&e, gen_template(G->t, ir_ops[op->kind].name), "weft_v", a2, a3);
	gen_forn(G, "i", ir_numel(T(G, op->out)), false);
	gen_line(G, "const float weft_v = weft_x[weft_i];");
	gen_line(G, "weft_y[weft_i] = %s;", e.data);
	gen_end(G, "i");
	buf_free(&e);
}

/* Align a's dims to y's rank (NumPy): the stride of each of y's dims in a, 0 where broadcast. */
static void broadcast_strides(const Tensor *a, const Tensor *y, int64_t *st)
{
	int64_t ast[IR_MAX_RANK];
	contiguous_strides(a, ast);
	int off = y->rank - a->rank;
	for (int d = 0; d < y->rank; d++) {
		int ad = d - off;
		st[d] = ad < 0 || a->dims[ad] == 1 ? 0 : ast[ad];
	}
}

static void kernel_binary(Gen *G, const Op *op)
{
	const Tensor *y = T(G, op->out);
	gen_decl_in(G, "weft_a", op->args[0], false);
	gen_decl_in(G, "weft_b", op->args[1], false);
	gen_decl_out(G, "weft_y", op->out, false);
	Nest ns = {.n = y->rank, .narr = 3};
	memcpy(ns.ext, y->dims, sizeof ns.ext);
	contiguous_strides(y, ns.str[0]);
	broadcast_strides(T(G, op->args[0]), y, ns.str[1]);
	broadcast_strides(T(G, op->args[1]), y, ns.str[2]);
	nest_simplify(&ns);
	Buf e = {0};
	gen_expand(&e, gen_template(G->t, ir_ops[op->kind].name), ir_fmt("weft_a[%s]", nest_index(&ns, 1, 0)),
	           ir_fmt("weft_b[%s]", nest_index(&ns, 2, 0)), NULL);
	nest_open(G, &ns);
	gen_line(G, "weft_y[%s] = %s;", nest_index(&ns, 0, 0), e.data);
	nest_close(G, &ns);
	buf_free(&e);
}

static void kernel_batchnorm(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]);
	int64_t N = x->dims[0], C = x->dims[1], I = prod(x->dims, 2, x->rank);
	static const char *names[] = {"weft_x", "weft_scale", "weft_bias", "weft_mean", "weft_var"};
	for (int i = 0; i < 5; i++)
		gen_decl_in(G, names[i], op->args[i], false);
	gen_decl_out(G, "weft_y", op->out, false);
	gen_forn(G, "c", C, false);
	Buf e = {0};
	gen_expand(&e, gen_template(G->t, "rsqrt"), ir_fmt("weft_var[weft_c] + %s", gen_flit(op->p.eps)), NULL, NULL);
	gen_line(G, "const float weft_k = weft_scale[weft_c] * %s;", e.data);
	gen_line(G, "const float weft_m = weft_mean[weft_c], weft_o = weft_bias[weft_c];");
	buf_free(&e);
	gen_forn(G, "n", N, false);
	const char *base = s_mul(s_add(s_mul("weft_n", C), "weft_c"), I);
	gen_line(G, "const %s weft_base = %s;", G->idx, base);
	gen_forn(G, "i", I, false);
	gen_line(G, "weft_y[weft_base + weft_i] = (weft_x[weft_base + weft_i] - weft_m) * weft_k + weft_o;");
	gen_end(G, "i");
	gen_end(G, "n");
	gen_end(G, "c");
}

/* ---- conv2d ---- */

/* The range [lo, hi) of output positions o in [0, n) whose input o*stride - pad + k*dil lies in
   [0, size). */
static void valid_range(int64_t n, int64_t stride, int64_t pad, int64_t kd, int64_t size,
                        int64_t *lo, int64_t *hi)
{
	int64_t l = 0, h = n;
	while (l < n && l * stride - pad + kd < 0)
		l++;
	while (h > l && (h - 1) * stride - pad + kd >= size)
		h--;
	*lo = l;
	*hi = h;
}

/* The loop bounds of output rows (or columns) for each kernel row (or column): constants when
   no padding ever cuts in, else a static table indexed by the kernel position. */
static void bounds(Gen *G, const char *name, int64_t n, int64_t stride, int64_t pad, int64_t dil,
                   int64_t R, int64_t size, const char **lo, const char **hi, const char *kvar)
{
	int64_t *l = ir_alloc(sizeof *l * (size_t)R), *h = ir_alloc(sizeof *h * (size_t)R);
	bool uniform = true;
	for (int64_t r = 0; r < R; r++) {
		valid_range(n, stride, pad, r * dil, size, &l[r], &h[r]);
		uniform &= l[r] == 0 && h[r] == n;
	}
	if (uniform) {
		*lo = "0";
		*hi = ir_fmt("%lld", LL(n));
		return;
	}
	Buf b = {0};
	emitf(&b, "static const int weft_%s_lo[%lld] = {", name, LL(R));
	for (int64_t r = 0; r < R; r++)
		emitf(&b, "%s%lld", r ? ", " : "", LL(l[r]));
	emitf(&b, "}, weft_%s_hi[%lld] = {", name, LL(R));
	for (int64_t r = 0; r < R; r++)
		emitf(&b, "%s%lld", r ? ", " : "", LL(h[r]));
	emitf(&b, "};");
	gen_line(G, "%s", b.data);
	buf_free(&b);
	*lo = ir_fmt("weft_%s_lo[weft_%s]", name, kvar);
	*hi = ir_fmt("weft_%s_hi[weft_%s]", name, kvar);
}

static void kernel_conv2d(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]), *w = T(G, op->args[1]), *y = T(G, op->out);
	int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
	int64_t K = w->dims[0], CG = w->dims[1], R = w->dims[2], S = w->dims[3];
	int64_t OH = y->dims[2], OW = y->dims[3];
	int64_t KG = K / op->p.groups;
	int64_t sh = op->p.stride[0], sw = op->p.stride[1], dh = op->p.dil[0], dw = op->p.dil[1];
	int64_t top = op->p.pad[0], left = op->p.pad[1];
	bool bias = op->nargs > 2;

	gen_decl_in(G, "weft_x", op->args[0], true);
	gen_decl_in(G, "weft_w", op->args[1], true);
	if (bias)
		gen_decl_in(G, "weft_b", op->args[2], true);
	gen_decl_out(G, "weft_y", op->out, true);
	const char *hlo, *hhi, *wlo, *whi;
	bounds(G, "oh", OH, sh, top, dh, R, H, &hlo, &hhi, "r");
	bounds(G, "ow", OW, sw, left, dw, S, W, &wlo, &whi, "s");

	/* One iteration per output plane y[n, k]. */
	const char *nk = N > 1 ? "nk" : "k";
	gen_forn(G, nk, N * K, true);
	const char *vnk = ir_fmt("weft_%s", nk);
	const char *n = s_div(vnk, K, N * K), *k = s_mod(vnk, K, N * K);
	if (N > 1) {
		gen_line(G, "const %s weft_n = %s, weft_k = %s;", G->idx, n, k);
		n = "weft_n";
		k = "weft_k";
	}
	gen_line(G, "float *weft_o = %s; /* the plane y[n, k] */", ptr_plus("weft_y", s_mul(vnk, OH * OW)));
	const char *chan = s_add(s_mul(n, C), s_mul(s_div(k, KG, K), CG)); /* first input channel */
	gen_line(G, "const float *weft_xg = %s;%s", ptr_plus("weft_x", s_mul(chan, H * W)),
	         op->p.groups > 1 ? " /* the input channels of k's group */" : "");
	gen_line(G, "const float *weft_wk = %s;", ptr_plus("weft_w", s_mul(k, CG * R * S)));
	gen_line(G, "for (%s weft_i = 0; weft_i < %lld; weft_i++)", G->idx, LL(OH * OW));
	gen_line(G, "\tweft_o[weft_i] = %s;", bias ? ir_fmt("weft_b[%s]", k) : "0.0f");
	gen_forn(G, "c", CG, false);
	gen_forn(G, "r", R, false);
	gen_forn(G, "s", S, false);
	gen_line(G, "const float weft_wv = weft_wk[%s];",
	         s_add(s_mul(s_add(s_mul("weft_c", R), "weft_r"), S), "weft_s"));
	gen_for(G, "oh", hlo, hhi, false);
	gen_line(G, "float *weft_orow = %s;", ptr_plus("weft_o", s_mul("weft_oh", OW)));
	const char *ih = s_addk(s_add(s_mul("weft_oh", sh), s_mul("weft_r", dh)), -top);
	gen_line(G, "const float *weft_xrow = weft_xg + %s;", s_add(s_mul("weft_c", H * W), s_mul(ih, W)));
	gen_line(G, "for (%s weft_ow = %s; weft_ow < %s; weft_ow++)", G->idx, wlo, whi);
	const char *iw = s_addk(s_add(s_mul("weft_ow", sw), s_mul("weft_s", dw)), -left);
	gen_line(G, "\tweft_orow[weft_ow] += weft_wv * weft_xrow[%s];", iw);
	gen_end(G, "oh");
	gen_end(G, "s");
	gen_end(G, "r");
	gen_end(G, "c");
	gen_end(G, nk);
}

/* ---- dense and matmul ---- */

static void kernel_dense(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]), *w = T(G, op->args[1]);
	int64_t M = x->dims[0], K = x->dims[1], N = w->dims[0];
	bool bias = op->nargs > 2;
	gen_decl_in(G, "weft_x", op->args[0], true);
	gen_decl_in(G, "weft_w", op->args[1], true);
	if (bias)
		gen_decl_in(G, "weft_b", op->args[2], true);
	gen_decl_out(G, "weft_y", op->out, true);
	gen_forn(G, "mn", M * N, true);
	const char *m = s_div("weft_mn", N, M * N), *n = s_mod("weft_mn", N, M * N);
	gen_line(G, "const float *weft_xr = %s;", ptr_plus("weft_x", s_mul(m, K)));
	gen_line(G, "const float *weft_wr = %s;", ptr_plus("weft_w", s_mul(n, K)));
	gen_line(G, "float weft_acc = %s;", bias ? ir_fmt("weft_b[%s]", n) : "0.0f");
	gen_line(G, "for (%s weft_k = 0; weft_k < %lld; weft_k++)", G->idx, LL(K));
	gen_line(G, "\tweft_acc += weft_xr[weft_k] * weft_wr[weft_k];");
	gen_line(G, "weft_y[weft_mn] = weft_acc;");
	gen_end(G, "mn");
}

/* Offset of a's batch for output batch index bt (a string) under NumPy broadcasting. */
static const char *batch_offset(const Tensor *a, const Tensor *y, const char *bt, int64_t B)
{
	int nb = y->rank - 2, na = a->rank - 2;
	int64_t mat = a->dims[a->rank - 2] * a->dims[a->rank - 1];
	const char *e = "0";
	int64_t astride = mat, ystride = 1;
	for (int d = nb - 1; d >= 0; d--) {
		int ad = d - (nb - na);
		int64_t yd = y->dims[d];
		if (ad >= 0 && a->dims[ad] != 1)
			e = s_add(s_mul(s_mod(s_div(bt, ystride, B), yd, B / ystride), astride), e);
		if (ad >= 0)
			astride *= a->dims[ad];
		ystride *= yd;
	}
	return e;
}

static void kernel_matmul(Gen *G, const Op *op)
{
	const Tensor *a = T(G, op->args[0]), *b = T(G, op->args[1]), *y = T(G, op->out);
	int64_t M = a->dims[a->rank - 2], K = a->dims[a->rank - 1], N = b->dims[b->rank - 1];
	int64_t B = prod(y->dims, 0, y->rank - 2);
	gen_decl_in(G, "weft_a", op->args[0], true);
	gen_decl_in(G, "weft_b", op->args[1], true);
	gen_decl_out(G, "weft_y", op->out, true);
	gen_forn(G, "bm", B * M, true);
	const char *bt = "0";
	if (B > 1) {
		gen_line(G, "const %s weft_bt = %s;", G->idx, s_div("weft_bm", M, B * M));
		bt = "weft_bt";
	}
	const char *m = s_mod("weft_bm", M, B * M);
	gen_line(G, "const float *weft_ar = %s;", ptr_plus("weft_a", s_add(batch_offset(a, y, bt, B), s_mul(m, K))));
	gen_line(G, "const float *weft_bb = %s;", ptr_plus("weft_b", batch_offset(b, y, bt, B)));
	gen_line(G, "float *weft_yr = %s;", ptr_plus("weft_y", s_mul("weft_bm", N)));
	gen_line(G, "for (%s weft_n = 0; weft_n < %lld; weft_n++)", G->idx, LL(N));
	gen_line(G, "\tweft_yr[weft_n] = 0.0f;");
	gen_forn(G, "k", K, false);
	gen_line(G, "const float weft_av = weft_ar[weft_k];");
	gen_line(G, "const float *weft_br = %s;", ptr_plus("weft_bb", s_mul("weft_k", N)));
	gen_line(G, "for (%s weft_n = 0; weft_n < %lld; weft_n++)", G->idx, LL(N));
	gen_line(G, "\tweft_yr[weft_n] += weft_av * weft_br[weft_n];");
	gen_end(G, "k");
	gen_end(G, "bm");
}

/* ---- pools ---- */

/* Declare weft_<v>0 (window start), weft_<v>s, weft_<v>e (its cells inside [0, size)). */
static void window(Gen *G, const char *v, const char *o, int64_t stride, int64_t pad, int64_t k, int64_t size)
{
	gen_line(G, "const %s weft_%s0 = %s;", G->idx, v, s_addk(s_mul(o, stride), -pad));
	if (pad > 0)
		gen_line(G, "const %s weft_%ss = weft_%s0 > 0 ? weft_%s0 : 0;", G->idx, v, v, v);
	else
		gen_line(G, "const %s weft_%ss = weft_%s0;", G->idx, v, v);
	gen_line(G, "const %s weft_%se = weft_%s0 + %lld < %lld ? weft_%s0 + %lld : %lld;", G->idx, v, v, LL(k),
	         LL(size), v, LL(k), LL(size));
}

static void kernel_pool(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]), *y = T(G, op->out);
	int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
	int64_t OH = y->dims[2], OW = y->dims[3];
	int64_t kh = op->p.kernel[0], kw = op->p.kernel[1];
	bool is_max = op->kind == OP_MAXPOOL2D;
	gen_decl_in(G, "weft_x", op->args[0], true);
	gen_decl_out(G, "weft_y", op->out, true);
	gen_forn(G, "nc", N * C, true);
	gen_line(G, "const float *weft_xp = %s;", ptr_plus("weft_x", s_mul("weft_nc", H * W)));
	gen_line(G, "float *weft_yp = %s;", ptr_plus("weft_y", s_mul("weft_nc", OH * OW)));
	gen_forn(G, "oh", OH, false);
	window(G, "h", "weft_oh", op->p.stride[0], op->p.pad[0], kh, H);
	gen_forn(G, "ow", OW, false);
	window(G, "w", "weft_ow", op->p.stride[1], op->p.pad[1], kw, W);
	gen_line(G, "float weft_acc = %s;", is_max ? "-HUGE_VALF" : "0.0f");
	gen_for(G, "ih", "weft_hs", "weft_he", false);
	gen_line(G, "for (%s weft_iw = weft_ws; weft_iw < weft_we; weft_iw++)", G->idx);
	if (is_max) {
		Buf e = {0};
		gen_expand(&e, gen_template(G->t, "max"), "weft_acc", ir_fmt("weft_xp[%s + weft_iw]", s_mul("weft_ih", W)), NULL);
		gen_line(G, "\tweft_acc = %s;", e.data);
		buf_free(&e);
	} else {
		gen_line(G, "\tweft_acc += weft_xp[%s + weft_iw];", s_mul("weft_ih", W));
	}
	gen_end(G, "ih");
	const char *out = "weft_acc";
	if (!is_max) {
		const char *cnt;
		if (op->p.count_include_pad) {
			int64_t hmax = H + op->p.pad[2], wmax = W + op->p.pad[3];
			cnt = ir_fmt("(weft_h0 + %lld < %lld ? %lld : %lld - weft_h0) * (weft_w0 + %lld < %lld ? %lld : %lld - weft_w0)",
			             LL(kh), LL(hmax), LL(kh), LL(hmax), LL(kw), LL(wmax), LL(kw), LL(wmax));
		} else {
			cnt = "(weft_he - weft_hs) * (weft_we - weft_ws)";
		}
		out = ir_fmt("weft_acc / (float)(%s)", cnt);
	}
	gen_line(G, "weft_yp[%s] = %s;", s_add(s_mul("weft_oh", OW), "weft_ow"), out);
	gen_end(G, "ow");
	gen_end(G, "oh");
	gen_end(G, "nc");
}

static void kernel_global_avgpool(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]);
	int64_t NC = x->dims[0] * x->dims[1], HW = x->dims[2] * x->dims[3];
	gen_decl_in(G, "weft_x", op->args[0], true);
	gen_decl_out(G, "weft_y", op->out, true);
	gen_forn(G, "nc", NC, true);
	gen_line(G, "const float *weft_xp = %s;", ptr_plus("weft_x", s_mul("weft_nc", HW)));
	gen_line(G, "float weft_acc = 0.0f;");
	gen_line(G, "for (%s weft_i = 0; weft_i < %lld; weft_i++)", G->idx, LL(HW));
	gen_line(G, "\tweft_acc += weft_xp[weft_i];");
	gen_line(G, "weft_y[weft_nc] = weft_acc / %s;", gen_flit((double)HW));
	gen_end(G, "nc");
}

/* ---- normalisations ---- */

static void kernel_softmax(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]);
	int ax = op->p.axis;
	int64_t outer = prod(x->dims, 0, ax), len = x->dims[ax], inner = prod(x->dims, ax + 1, x->rank);
	gen_decl_in(G, "weft_x", op->args[0], true);
	gen_decl_out(G, "weft_y", op->out, true);
	gen_forn(G, "o", outer * inner, false);
	const char *base = s_add(s_mul(s_div("weft_o", inner, outer * inner), len * inner),
	                         s_mod("weft_o", inner, outer * inner));
	gen_line(G, "const float *weft_xs = %s;", ptr_plus("weft_x", base));
	gen_line(G, "float *weft_ys = %s;", ptr_plus("weft_y", base));
	const char *at = s_mul("weft_j", inner);
	Buf mx = {0}, ex = {0};
	gen_expand(&mx, gen_template(G->t, "max"), "weft_m", ir_fmt("weft_xs[%s]", at), NULL);
	gen_expand(&ex, gen_template(G->t, "exp"), ir_fmt("weft_xs[%s] - weft_m", at), NULL, NULL);
	gen_line(G, "float weft_m = weft_xs[0], weft_sum = 0.0f;");
	gen_line(G, "for (%s weft_j = 1; weft_j < %lld; weft_j++)", G->idx, LL(len));
	gen_line(G, "\tweft_m = %s;", mx.data);
	gen_forn(G, "j", len, false);
	gen_line(G, "const float weft_e = %s;", ex.data);
	gen_line(G, "weft_ys[%s] = weft_e;", at);
	gen_line(G, "weft_sum += weft_e;");
	gen_end(G, "j");
	gen_line(G, "for (%s weft_j = 0; weft_j < %lld; weft_j++)", G->idx, LL(len));
	gen_line(G, "\tweft_ys[%s] /= weft_sum;", at);
	gen_end(G, "o");
	buf_free(&mx);
	buf_free(&ex);
}

static void kernel_layernorm(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]);
	int64_t outer = prod(x->dims, 0, op->p.axis), len = prod(x->dims, op->p.axis, x->rank);
	gen_decl_in(G, "weft_x", op->args[0], true);
	gen_decl_in(G, "weft_g", op->args[1], true);
	gen_decl_in(G, "weft_b", op->args[2], true);
	gen_decl_out(G, "weft_y", op->out, true);
	gen_forn(G, "o", outer, false);
	gen_line(G, "const float *weft_xs = %s;", ptr_plus("weft_x", s_mul("weft_o", len)));
	gen_line(G, "float *weft_ys = %s;", ptr_plus("weft_y", s_mul("weft_o", len)));
	gen_line(G, "float weft_mean = 0.0f, weft_var = 0.0f;");
	gen_line(G, "for (%s weft_j = 0; weft_j < %lld; weft_j++)", G->idx, LL(len));
	gen_line(G, "\tweft_mean += weft_xs[weft_j];");
	gen_line(G, "weft_mean /= %s;", gen_flit((double)len));
	gen_forn(G, "j", len, false);
	gen_line(G, "const float weft_d = weft_xs[weft_j] - weft_mean;");
	gen_line(G, "weft_var += weft_d * weft_d;");
	gen_end(G, "j");
	Buf e = {0};
	gen_expand(&e, gen_template(G->t, "rsqrt"), ir_fmt("weft_var / %s + %s", gen_flit((double)len), gen_flit(op->p.eps)),
	           NULL, NULL);
	gen_line(G, "const float weft_rstd = %s;", e.data);
	buf_free(&e);
	gen_line(G, "for (%s weft_j = 0; weft_j < %lld; weft_j++)", G->idx, LL(len));
	gen_line(G, "\tweft_ys[weft_j] = (weft_xs[weft_j] - weft_mean) * weft_rstd * weft_g[weft_j] + weft_b[weft_j];");
	gen_end(G, "o");
}

/* ---- data movement ---- */

static void kernel_transpose(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]), *y = T(G, op->out);
	int64_t xs[IR_MAX_RANK];
	contiguous_strides(x, xs);
	Nest ns = {.n = y->rank, .narr = 2};
	memcpy(ns.ext, y->dims, sizeof ns.ext);
	contiguous_strides(y, ns.str[0]);
	for (int d = 0; d < y->rank; d++)
		ns.str[1][d] = xs[op->p.perm[d]];
	nest_simplify(&ns);
	gen_decl_in(G, "weft_x", op->args[0], true);
	gen_decl_out(G, "weft_y", op->out, true);
	nest_open(G, &ns);
	gen_line(G, "weft_y[%s] = weft_x[%s];", nest_index(&ns, 0, 0), nest_index(&ns, 1, 0));
	nest_close(G, &ns);
}

static void kernel_concat(Gen *G, const Op *op)
{
	const Tensor *y = T(G, op->out);
	int64_t ys[IR_MAX_RANK];
	contiguous_strides(y, ys);
	gen_decl_out(G, "weft_y", op->out, true);
	int64_t at = 0;
	for (int a = 0; a < op->nargs; a++) {
		const Tensor *x = T(G, op->args[a]);
		gen_line(G, "/* %s: indices [%lld, %lld) of dim %d */", x->name, LL(at), LL(at + x->dims[op->p.axis]), op->p.axis);
		gen_line(G, "{");
		G->ind++;
		gen_decl_in(G, "weft_x", op->args[a], true);
		Nest ns = {.n = x->rank, .narr = 2};
		memcpy(ns.ext, x->dims, sizeof ns.ext);
		memcpy(ns.str[0], ys, sizeof ys);
		contiguous_strides(x, ns.str[1]);
		nest_simplify(&ns);
		nest_open(G, &ns);
		gen_line(G, "weft_y[%s] = weft_x[%s];", nest_index(&ns, 0, at * ys[op->p.axis]), nest_index(&ns, 1, 0));
		nest_close(G, &ns);
		G->ind--;
		gen_line(G, "}");
		at += x->dims[op->p.axis];
	}
}

static void kernel_pad(Gen *G, const Op *op)
{
	const Tensor *x = T(G, op->args[0]), *y = T(G, op->out);
	gen_decl_in(G, "weft_x", op->args[0], true);
	gen_decl_out(G, "weft_y", op->out, true);
	gen_line(G, "for (%s weft_i = 0; weft_i < %lld; weft_i++)", G->idx, LL(ir_numel(y)));
	gen_line(G, "\tweft_y[weft_i] = %s;", gen_flit(op->p.value));
	Nest ns = {.n = x->rank, .narr = 2};
	memcpy(ns.ext, x->dims, sizeof ns.ext);
	contiguous_strides(y, ns.str[0]);
	contiguous_strides(x, ns.str[1]);
	int64_t base = 0;
	for (int d = 0; d < x->rank; d++)
		base += op->p.pads[d] * ns.str[0][d];
	nest_simplify(&ns);
	nest_open(G, &ns);
	gen_line(G, "weft_y[%s] = weft_x[%s];", nest_index(&ns, 0, base), nest_index(&ns, 1, 0));
	nest_close(G, &ns);
}

void gen_op_kernel(Gen *G, const Op *op)
{
	int flags = ir_ops[op->kind].flags;
	if (flags & OPF_UNARY) {
		kernel_unary(G, op);
		return;
	}
	if (flags & OPF_BINARY) {
		kernel_binary(G, op);
		return;
	}
	switch (op->kind) {
	case OP_CONV2D: kernel_conv2d(G, op); return;
	case OP_DENSE: kernel_dense(G, op); return;
	case OP_MATMUL: kernel_matmul(G, op); return;
	case OP_BATCHNORM: kernel_batchnorm(G, op); return;
	case OP_MAXPOOL2D:
	case OP_AVGPOOL2D: kernel_pool(G, op); return;
	case OP_GLOBAL_AVGPOOL: kernel_global_avgpool(G, op); return;
	case OP_SOFTMAX: kernel_softmax(G, op); return;
	case OP_LAYERNORM: kernel_layernorm(G, op); return;
	case OP_TRANSPOSE: kernel_transpose(G, op); return;
	case OP_CONCAT: kernel_concat(G, op); return;
	case OP_PAD: kernel_pad(G, op); return;
	default: die("no scalar kernel for %s", ir_ops[op->kind].name);
	}
}
