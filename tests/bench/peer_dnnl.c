/* tests/bench/peer_dnnl.c: oneDNN as a peer: convolution forward (inference) and matmul.
 *
 * "best": every operand's layout is format_tag_any, so oneDNN picks its blocked layouts; the
 * input and weights are reordered into them once when the peer is made, and only the primitive
 * is timed (the output is reordered back to NCHW only to check it). "plain": NCHW/OIHW in and
 * out (row-major for matmul), no reorders at all. Threads follow OpenMP (OMP_NUM_THREADS, set
 * before the first primitive is made). Written for the oneDNN 2.x C API (Debian 12 ships 2.6)
 * with a thin shim for 3.x. Built with -DHAVE_DNNL; otherwise every call says it is skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef HAVE_DNNL
#include <dnnl.h>
#include <dnnl_debug.h>
#include <stdbool.h>

/* Memory descriptors are structs in 2.x and handles in 3.x; MD is what we hold, CMD what
   queries return, P(m) turns the first into the second. */
#if DNNL_VERSION_MAJOR >= 3
typedef dnnl_memory_desc_t MD;
typedef const_dnnl_memory_desc_t CMD;
#define P(m) (m)
#else
typedef dnnl_memory_desc_t MD;
typedef const dnnl_memory_desc_t *CMD;
#define P(m) (&(m))
#endif

typedef struct Dnnl {
	Layer L;
	dnnl_primitive_t prim;
	dnnl_memory_t src, wei, dst; /* in the primitive's layouts */
	dnnl_memory_t user_src, user_wei, user_dst; /* in the logical layouts */
	float *user_x, *user_w, *user_y;
} Dnnl;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

const char *dnnl_describe(void)
{
	static char s[128];
	const dnnl_version_t *v = dnnl_version();
	snprintf(s, sizeof s, "oneDNN %d.%d.%d (%s runtime)", v->major, v->minor, v->patch,
		 v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "non-OpenMP");
	return s;
}

#define CHECK(call)                                                                          \
	do {                                                                                 \
		dnnl_status_t st_ = (call);                                                  \
		if (st_ != dnnl_success) {                                                   \
			snprintf(why, n, "oneDNN: %s failed (status %d)", #call, (int)st_);  \
			return false;                                                        \
		}                                                                            \
	} while (0)

static bool md_make(MD *md, int nd, const dnnl_dims_t dims, dnnl_format_tag_t tag, char *why,
		    size_t n)
{
#if DNNL_VERSION_MAJOR >= 3
	CHECK(dnnl_memory_desc_create_with_tag(md, nd, dims, dnnl_f32, tag));
#else
	CHECK(dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag));
#endif
	return true;
}

static float *alloc_floats(size_t elems)
{
	return aligned_alloc(64, (elems * sizeof(float) + 63) / 64 * 64);
}

/* Copy src into dst through a reorder primitive, once (not timed). */
static bool reorder(dnnl_memory_t from, dnnl_memory_t to, char *why, size_t n)
{
	CMD fmd, tmd;
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t r;
	CHECK(dnnl_memory_get_memory_desc(from, &fmd));
	CHECK(dnnl_memory_get_memory_desc(to, &tmd));
	CHECK(dnnl_reorder_primitive_desc_create(&pd, fmd, engine, tmd, engine, NULL));
	CHECK(dnnl_primitive_create(&r, pd));
	dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
	CHECK(dnnl_primitive_execute(r, stream, 2, args));
	CHECK(dnnl_stream_wait(stream));
	dnnl_primitive_destroy(r);
	dnnl_primitive_desc_destroy(pd);
	return true;
}

/* The primitive's operand `what` in its own layout: the user's memory itself when the layouts
   agree, else a new memory filled by one reorder (copy_in) or left for output() to reorder. */
static bool operand(dnnl_primitive_desc_t pd, dnnl_query_t what, dnnl_memory_t user, bool copy_in,
		    dnnl_memory_t *out, char *why, size_t n)
{
	CMD want = dnnl_primitive_desc_query_md(pd, what, 0), have;
	CHECK(dnnl_memory_get_memory_desc(user, &have));
	if (dnnl_memory_desc_equal(want, have)) {
		*out = user;
		return true;
	}
	CHECK(dnnl_memory_create(out, want, engine, DNNL_MEMORY_ALLOCATE));
	return !copy_in || reorder(user, *out, why, n);
}

/* The user's (logical layout) descriptors and the primitive descriptor for layer L. */
static bool make_pd(const Layer *L, bool best, MD *ux, MD *uw, MD *uy, dnnl_primitive_desc_t *pd,
		    char *why, size_t n)
{
	MD ax, aw, ay;
	if (L->kind == K_CONV) {
		int g = L->groups, o = conv_out(L);
		dnnl_dims_t xd = {1, L->c, L->h, L->w}, yd = {1, L->k, o, o};
		dnnl_dims_t wd = {L->k, L->c, L->r, L->r}, gwd = {g, L->k / g, L->c / g, L->r, L->r};
		dnnl_dims_t strides = {L->stride, L->stride}, dil = {0, 0};
		dnnl_dims_t pl = {L->pad, L->pad}, pr = {L->pad, L->pad};
		int wnd = g > 1 ? 5 : 4;
		if (!md_make(ux, 4, xd, dnnl_nchw, why, n) || !md_make(uy, 4, yd, dnnl_nchw, why, n) ||
		    !md_make(uw, wnd, g > 1 ? gwd : wd, g > 1 ? dnnl_goihw : dnnl_oihw, why, n))
			return false;
		if (!best) {
			ax = *ux, aw = *uw, ay = *uy;
		} else if (!md_make(&ax, 4, xd, dnnl_format_tag_any, why, n) ||
			   !md_make(&ay, 4, yd, dnnl_format_tag_any, why, n) ||
			   !md_make(&aw, wnd, g > 1 ? gwd : wd, dnnl_format_tag_any, why, n))
			return false;
		dnnl_alg_kind_t alg = best ? dnnl_convolution_auto : dnnl_convolution_direct;
#if DNNL_VERSION_MAJOR >= 3
		CHECK(dnnl_convolution_forward_primitive_desc_create(pd, engine, dnnl_forward_inference,
			alg, ax, aw, NULL, ay, strides, dil, pl, pr, NULL));
#else
		dnnl_convolution_desc_t cd;
		CHECK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, &ax,
			&aw, NULL, &ay, strides, dil, pl, pr));
		CHECK(dnnl_primitive_desc_create(pd, &cd, NULL, engine, NULL));
#endif
		return true;
	}
	/* matmul: gemm weights are w[N,K] = a [K,N] matrix in column-major order (tag ba) */
	int nd = L->kind == K_GEMM ? 2 : 3;
	dnnl_dims_t xd2 = {L->m, L->kk}, wd2 = {L->kk, L->n}, yd2 = {L->m, L->n};
	dnnl_dims_t xd3 = {L->b, L->m, L->kk}, wd3 = {L->b, L->kk, L->n}, yd3 = {L->b, L->m, L->n};
	dnnl_format_tag_t plain = nd == 2 ? dnnl_ab : dnnl_abc;
	if (!md_make(ux, nd, nd == 2 ? xd2 : xd3, plain, why, n) ||
	    !md_make(uw, nd, nd == 2 ? wd2 : wd3, nd == 2 ? dnnl_ba : dnnl_abc, why, n) ||
	    !md_make(uy, nd, nd == 2 ? yd2 : yd3, plain, why, n))
		return false;
	if (!best) {
		ax = *ux, aw = *uw, ay = *uy;
	} else if (!md_make(&ax, nd, nd == 2 ? xd2 : xd3, dnnl_format_tag_any, why, n) ||
		   !md_make(&aw, nd, nd == 2 ? wd2 : wd3, dnnl_format_tag_any, why, n) ||
		   !md_make(&ay, nd, nd == 2 ? yd2 : yd3, dnnl_format_tag_any, why, n))
		return false;
#if DNNL_VERSION_MAJOR >= 3
	CHECK(dnnl_matmul_primitive_desc_create(pd, engine, ax, aw, NULL, ay, NULL));
#else
	dnnl_matmul_desc_t md;
	CHECK(dnnl_matmul_desc_init(&md, &ax, &aw, NULL, &ay));
	CHECK(dnnl_primitive_desc_create(pd, &md, NULL, engine, NULL));
#endif
	return true;
}

/* A blocked layout in oneDNN's notation (aBcd16b: dims by falling stride, upper case for a
   blocked one, then the inner blocks); 2.x only, where the descriptor is a plain struct. */
static void fmt_layout(CMD md, char *s, size_t n)
{
#if DNNL_VERSION_MAJOR >= 3
	(void)md;
	snprintf(s, n, "-");
#else
	const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
	int order[DNNL_MAX_NDIMS], len = 0;
	if (md->format_kind != dnnl_blocked) {
		snprintf(s, n, "%s", dnnl_fmt_kind2str(md->format_kind));
		return;
	}
	for (int i = 0; i < md->ndims; i++)
		order[i] = i;
	for (int i = 1; i < md->ndims; i++) /* insertion sort by falling stride, stable */
		for (int j = i; j > 0 && b->strides[order[j]] > b->strides[order[j - 1]]; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < md->ndims && len + 1 < (int)n; i++) {
		bool blocked = false;
		for (int k = 0; k < b->inner_nblks; k++)
			blocked |= b->inner_idxs[k] == order[i];
		s[len++] = (char)((blocked ? 'A' : 'a') + order[i]);
	}
	s[len] = 0;
	for (int k = 0; k < b->inner_nblks && len + 1 < (int)n; k++)
		len += snprintf(s + len, n - len, "%d%c", (int)b->inner_blks[k], 'a' + (int)b->inner_idxs[k]);
#endif
}

/* The implementation oneDNN chose and its layouts, e.g. "brgconv:avx512_core aBcd16b ...". */
static void describe(dnnl_primitive_desc_t pd, char *s, size_t n)
{
	const char *impl = "?";
	char f[3][32];
	dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
	dnnl_query_t q[3] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md};
	for (int i = 0; i < 3; i++)
		fmt_layout(dnnl_primitive_desc_query_md(pd, q[i], 0), f[i], sizeof f[i]);
	snprintf(s, n, "%s %s/%s/%s", impl, f[0], f[1], f[2]);
}

static bool build(Dnnl *d, bool best, const float *x, const float *w, char *layout, size_t ln,
		  char *why, size_t n)
{
	const Layer *L = &d->L;
	MD ux, uw, uy;
	dnnl_primitive_desc_t pd;
	if (!engine) {
		CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
		CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
	}
	if (!make_pd(L, best, &ux, &uw, &uy, &pd, why, n))
		return false;
	describe(pd, layout, ln);
	d->user_x = alloc_floats(layer_x_elems(L));
	d->user_w = alloc_floats(layer_w_elems(L));
	d->user_y = alloc_floats(layer_y_elems(L));
	if (!d->user_x || !d->user_w || !d->user_y) {
		snprintf(why, n, "out of memory");
		return false;
	}
	memcpy(d->user_x, x, layer_x_elems(L) * sizeof *x);
	memcpy(d->user_w, w, layer_w_elems(L) * sizeof *w);
	CHECK(dnnl_memory_create(&d->user_src, P(ux), engine, d->user_x));
	CHECK(dnnl_memory_create(&d->user_wei, P(uw), engine, d->user_w));
	CHECK(dnnl_memory_create(&d->user_dst, P(uy), engine, d->user_y));
	if (!operand(pd, dnnl_query_src_md, d->user_src, true, &d->src, why, n) ||
	    !operand(pd, dnnl_query_weights_md, d->user_wei, true, &d->wei, why, n) ||
	    !operand(pd, dnnl_query_dst_md, d->user_dst, false, &d->dst, why, n))
		return false;
	CHECK(dnnl_primitive_create(&d->prim, pd));
	dnnl_primitive_desc_destroy(pd);
	return true;
}

static int dnnl_run(Peer *p)
{
	Dnnl *d = p->impl;
	dnnl_exec_arg_t args[] = {
		{DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->wei}, {DNNL_ARG_DST, d->dst}};
	if (dnnl_primitive_execute(d->prim, stream, 3, args) != dnnl_success)
		return 1;
	return dnnl_stream_wait(stream) != dnnl_success;
}

static void dnnl_output(Peer *p, float *y)
{
	Dnnl *d = p->impl;
	char why[160];
	size_t ny = layer_y_elems(&d->L);
	if (d->dst != d->user_dst && !reorder(d->dst, d->user_dst, why, sizeof why)) {
		fprintf(stderr, "bench: %s\n", why);
		for (size_t i = 0; i < ny; i++)
			y[i] = 0.0f / 0.0f; /* fails the check */
		return;
	}
	memcpy(y, d->user_y, ny * sizeof *y);
}

static void dnnl_destroy(Peer *p)
{
	Dnnl *d = p->impl;
	dnnl_primitive_destroy(d->prim);
	dnnl_memory_t own[] = {d->src, d->wei, d->dst}, user[] = {d->user_src, d->user_wei, d->user_dst};
	for (int i = 0; i < 3; i++) {
		if (own[i] != user[i])
			dnnl_memory_destroy(own[i]);
		dnnl_memory_destroy(user[i]);
	}
	free(d->user_x);
	free(d->user_w);
	free(d->user_y);
	free(d);
	free(p);
}

Peer *dnnl_layer(const Layer *L, bool best, const float *x, const float *w, char *why, size_t n)
{
	Dnnl *d = calloc(1, sizeof *d);
	Peer *p = calloc(1, sizeof *p);
	if (!d || !p) {
		snprintf(why, n, "out of memory");
		return NULL;
	}
	d->L = *L;
	if (!build(d, best, x, w, p->layout, sizeof p->layout, why, n))
		return NULL; /* leaks what was made: only on a failure, once per layer */
	p->run = dnnl_run;
	p->output = dnnl_output;
	p->destroy = dnnl_destroy;
	p->impl = d;
	return p;
}

#else

const char *dnnl_describe(void) { return NULL; }

Peer *dnnl_layer(const Layer *L, bool best, const float *x, const float *w, char *why, size_t n)
{
	(void)L, (void)best, (void)x, (void)w;
	snprintf(why, n, "skipped: oneDNN not installed");
	return NULL;
}

#endif
