/* tests/bench/peer_blas.c: OpenBLAS as a peer for the GEMM workloads (cblas_sgemm).
 *
 * Built with -DHAVE_OPENBLAS and OpenBLAS's include path when libopenblas-dev is installed
 * (tests/bench/setup); otherwise every call says it is skipped. Attention heads are one sgemm
 * per head (OpenBLAS 0.3.21 has no batched sgemm), each using all threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef HAVE_OPENBLAS
#include <cblas.h>

typedef struct Blas {
	Layer L;
	float *x, *w, *y;
} Blas;

const char *blas_describe(void)
{
	static char s[300];
	const char *forced = getenv("OPENBLAS_CORETYPE");
	snprintf(s, sizeof s, "%s; core %s%s", openblas_get_config(), openblas_get_corename(),
		 forced && *forced ? " (set by OPENBLAS_CORETYPE)" : "");
	return s;
}

void blas_set_threads(int threads)
{
	openblas_set_num_threads(threads);
}

static int blas_run(Peer *p)
{
	Blas *b = p->impl;
	const Layer *L = &b->L;
	if (L->kind == K_GEMM) /* y = x w^T, w stored [N,K] */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L->m, L->n, L->kk, 1.0f, b->x,
			    L->kk, b->w, L->kk, 0.0f, b->y, L->n);
	else /* per head: y = x w, w stored [K,N] */
		for (int h = 0; h < L->b; h++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L->m, L->n, L->kk, 1.0f,
				    b->x + (size_t)h * L->m * L->kk, L->kk, b->w + (size_t)h * L->kk * L->n,
				    L->n, 0.0f, b->y + (size_t)h * L->m * L->n, L->n);
	return 0;
}

static void blas_output(Peer *p, float *y)
{
	Blas *b = p->impl;
	memcpy(y, b->y, layer_y_elems(&b->L) * sizeof *y);
}

static void blas_destroy(Peer *p)
{
	Blas *b = p->impl;
	free(b->x);
	free(b->w);
	free(b->y);
	free(b);
	free(p);
}

static float *copy_aligned(const float *src, size_t n)
{
	float *p = aligned_alloc(64, (n * sizeof *p + 63) / 64 * 64);
	if (p && src)
		memcpy(p, src, n * sizeof *p);
	return p;
}

Peer *blas_layer(const Layer *L, const float *x, const float *w, char *why, size_t n)
{
	if (L->kind == K_CONV) {
		snprintf(why, n, "n/a");
		return NULL;
	}
	Blas *b = calloc(1, sizeof *b);
	Peer *p = calloc(1, sizeof *p);
	if (!b || !p) {
		snprintf(why, n, "out of memory");
		return NULL;
	}
	b->L = *L;
	b->x = copy_aligned(x, layer_x_elems(L));
	b->w = copy_aligned(w, layer_w_elems(L));
	b->y = copy_aligned(NULL, layer_y_elems(L));
	p->run = blas_run;
	p->output = blas_output;
	p->destroy = blas_destroy;
	p->impl = b;
	snprintf(p->layout, sizeof p->layout, "row-major");
	return p;
}

#else

const char *blas_describe(void) { return NULL; }
void blas_set_threads(int threads) { (void)threads; }

Peer *blas_layer(const Layer *L, const float *x, const float *w, char *why, size_t n)
{
	(void)x, (void)w;
	snprintf(why, n, L->kind == K_CONV ? "n/a" : "skipped: OpenBLAS not installed");
	return NULL;
}

#endif
