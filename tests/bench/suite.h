/* tests/bench/suite.h: the benchmark's layer suite, the one table both mkmodels.c (which writes a
 * one-op weft model per layer) and bench.c (which times weft and its peers on it) read.
 *
 * Shapes are the unique conv layers of ResNet-18 and ResNet-50 (v1.5, 224x224, batch 1; a
 * ResNet-50 layer with the same shape as a ResNet-18 one is listed once), MobileNet v1's
 * depthwise and pointwise layers, BERT-base's GEMMs at sequence length 128 and a square
 * 512x512x512 GEMM. Data is
 * deterministic: the same seed gives the same bytes in both programs.
 */
#ifndef BENCH_SUITE_H
#define BENCH_SUITE_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum { K_CONV, K_GEMM, K_BMM } Kind;

/* One workload. conv: x[1,c,h,w] * w[k,c/groups,r,r] (square kernel, same stride and pad on
   both axes, no bias). gemm: y[m,n] = x[m,kk] * w[n,kk]^T (weft's dense, a Linear layer).
   bmm: y[b,m,n] = x[b,m,kk] @ w[b,kk,n] (weft's matmul, attention heads). */
typedef struct Layer {
	const char *name;  /* weft model name, C identifier */
	const char *net;   /* the network it comes from */
	Kind kind;
	bool quick;        /* in the QUICK=1 subset */
	int c, h, w, k, r, stride, pad, groups; /* conv */
	int b, m, n, kk;                         /* gemm and bmm (b = 1 for gemm) */
} Layer;

#define CONV(nm, net, q, c, h, k, r, s, p, g) \
	{ #nm, net, K_CONV, q, c, h, h, k, r, s, p, g, 1, 0, 0, 0 }
#define GEMM(nm, net, q, m, n, kk) { #nm, net, K_GEMM, q, 0, 0, 0, 0, 0, 0, 0, 0, 1, m, n, kk }
#define BMM(nm, net, q, b, m, n, kk) { #nm, net, K_BMM, q, 0, 0, 0, 0, 0, 0, 0, 0, b, m, n, kk }

/* name, net, quick, C, H=W, K, R=S, stride, pad, groups */
static const Layer suite[] = {
	CONV(r18_conv1, "resnet18", 0, 3, 224, 64, 7, 2, 3, 1),
	CONV(r18_c2, "resnet18", 1, 64, 56, 64, 3, 1, 1, 1),
	CONV(r18_c3a, "resnet18", 0, 64, 56, 128, 3, 2, 1, 1),
	CONV(r18_c3d, "resnet18", 0, 64, 56, 128, 1, 2, 0, 1),
	CONV(r18_c3, "resnet18", 0, 128, 28, 128, 3, 1, 1, 1),
	CONV(r18_c4a, "resnet18", 0, 128, 28, 256, 3, 2, 1, 1),
	CONV(r18_c4d, "resnet18", 0, 128, 28, 256, 1, 2, 0, 1),
	CONV(r18_c4, "resnet18", 0, 256, 14, 256, 3, 1, 1, 1),
	CONV(r18_c5a, "resnet18", 0, 256, 14, 512, 3, 2, 1, 1),
	CONV(r18_c5d, "resnet18", 0, 256, 14, 512, 1, 2, 0, 1),
	CONV(r18_c5, "resnet18", 1, 512, 7, 512, 3, 1, 1, 1),

	CONV(r50_c2_1x1a, "resnet50", 0, 64, 56, 64, 1, 1, 0, 1),
	CONV(r50_c2_1x1b, "resnet50", 0, 64, 56, 256, 1, 1, 0, 1),
	CONV(r50_c2_1x1c, "resnet50", 1, 256, 56, 64, 1, 1, 0, 1),
	CONV(r50_c3_1x1a, "resnet50", 0, 256, 56, 128, 1, 1, 0, 1),
	CONV(r50_c3_3x3s2, "resnet50", 0, 128, 56, 128, 3, 2, 1, 1),
	CONV(r50_c3_1x1b, "resnet50", 0, 128, 28, 512, 1, 1, 0, 1),
	CONV(r50_c3_1x1c, "resnet50", 0, 512, 28, 128, 1, 1, 0, 1),
	CONV(r50_c3_ds, "resnet50", 0, 256, 56, 512, 1, 2, 0, 1),
	CONV(r50_c4_1x1a, "resnet50", 0, 512, 28, 256, 1, 1, 0, 1),
	CONV(r50_c4_3x3s2, "resnet50", 0, 256, 28, 256, 3, 2, 1, 1),
	CONV(r50_c4_1x1b, "resnet50", 0, 256, 14, 1024, 1, 1, 0, 1),
	CONV(r50_c4_1x1c, "resnet50", 0, 1024, 14, 256, 1, 1, 0, 1),
	CONV(r50_c4_ds, "resnet50", 0, 512, 28, 1024, 1, 2, 0, 1),
	CONV(r50_c5_1x1a, "resnet50", 0, 1024, 14, 512, 1, 1, 0, 1),
	CONV(r50_c5_3x3s2, "resnet50", 0, 512, 14, 512, 3, 2, 1, 1),
	CONV(r50_c5_1x1b, "resnet50", 0, 512, 7, 2048, 1, 1, 0, 1),
	CONV(r50_c5_1x1c, "resnet50", 0, 2048, 7, 512, 1, 1, 0, 1),
	CONV(r50_c5_ds, "resnet50", 0, 1024, 14, 2048, 1, 2, 0, 1),

	CONV(mb_dw1, "mobilenet", 0, 32, 112, 32, 3, 1, 1, 32),
	CONV(mb_dw2, "mobilenet", 0, 64, 112, 64, 3, 2, 1, 64),
	CONV(mb_dw3, "mobilenet", 1, 128, 56, 128, 3, 1, 1, 128),
	CONV(mb_dw4, "mobilenet", 0, 128, 56, 128, 3, 2, 1, 128),
	CONV(mb_dw5, "mobilenet", 0, 256, 28, 256, 3, 1, 1, 256),
	CONV(mb_dw6, "mobilenet", 0, 256, 28, 256, 3, 2, 1, 256),
	CONV(mb_dw7, "mobilenet", 0, 512, 14, 512, 3, 1, 1, 512),
	CONV(mb_dw8, "mobilenet", 0, 512, 14, 512, 3, 2, 1, 512),
	CONV(mb_dw9, "mobilenet", 0, 1024, 7, 1024, 3, 1, 1, 1024),
	CONV(mb_pw1, "mobilenet", 0, 32, 112, 64, 1, 1, 0, 1),
	CONV(mb_pw2, "mobilenet", 0, 64, 56, 128, 1, 1, 0, 1),
	CONV(mb_pw3, "mobilenet", 0, 128, 56, 128, 1, 1, 0, 1),
	CONV(mb_pw4, "mobilenet", 0, 128, 28, 256, 1, 1, 0, 1),
	CONV(mb_pw5, "mobilenet", 1, 256, 28, 256, 1, 1, 0, 1),
	CONV(mb_pw6, "mobilenet", 0, 256, 14, 512, 1, 1, 0, 1),
	CONV(mb_pw7, "mobilenet", 0, 512, 14, 512, 1, 1, 0, 1),
	CONV(mb_pw8, "mobilenet", 0, 512, 7, 1024, 1, 1, 0, 1),
	CONV(mb_pw9, "mobilenet", 0, 1024, 7, 1024, 1, 1, 0, 1),

	/* name, net, quick, M, N, K (y[M,N] = x[M,K] w[N,K]^T) */
	GEMM(bert_qkv, "bert-base", 1, 128, 768, 768),
	GEMM(bert_ffn1, "bert-base", 1, 128, 3072, 768),
	GEMM(bert_ffn2, "bert-base", 0, 128, 768, 3072),
	GEMM(gemm_512, "square", 0, 512, 512, 512), /* the square case */
	/* name, net, quick, heads, M, N, K: scores = Q K^T, then context = P V */
	BMM(bert_qk, "bert-base", 1, 12, 128, 128, 64),
	BMM(bert_pv, "bert-base", 0, 12, 128, 64, 128),
};
enum { NSUITE = sizeof suite / sizeof suite[0] };

static inline int conv_out(const Layer *L)
{
	return (L->h + 2 * L->pad - L->r) / L->stride + 1;
}

/* Element counts of the input x, the weight w and the output y. */
static inline size_t layer_x_elems(const Layer *L)
{
	if (L->kind == K_CONV)
		return (size_t)L->c * L->h * L->w;
	return (size_t)L->b * L->m * L->kk;
}

static inline size_t layer_w_elems(const Layer *L)
{
	if (L->kind == K_CONV)
		return (size_t)L->k * (L->c / L->groups) * L->r * L->r;
	return (size_t)L->b * L->n * L->kk;
}

static inline size_t layer_y_elems(const Layer *L)
{
	if (L->kind == K_CONV)
		return (size_t)L->k * conv_out(L) * conv_out(L);
	return (size_t)L->b * L->m * L->n;
}

/* Multiply-adds count two flops each. */
static inline double layer_flops(const Layer *L)
{
	if (L->kind == K_CONV)
		return 2.0 * L->k * conv_out(L) * conv_out(L) * (L->c / L->groups) * L->r * L->r;
	return 2.0 * L->b * L->m * L->n * L->kk;
}

static inline uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Uniform values in [-scale, scale) from a splitmix64 stream: which == 0 for x, 1 for w.
   Weights are scaled by 1/sqrt(fan-in) so every output is of order 1. */
static inline void layer_fill(const Layer *L, int which, float *p, size_t n)
{
	uint64_t s = ((uint64_t)name_hash(L->name) << 8) | (uint64_t)which;
	double fan = L->kind == K_CONV ? (double)(L->c / L->groups) * L->r * L->r : (double)L->kk;
	double scale = which == 0 ? 1.0 : 1.0 / sqrt(fan);
	for (size_t i = 0; i < n; i++) {
		uint64_t z = (s += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		double u = (double)(z >> 11) * (1.0 / 9007199254740992.0); /* [0,1) */
		p[i] = (float)((2.0 * u - 1.0) * scale);
	}
}

#endif
