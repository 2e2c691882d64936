/* tests/bench/peak.c: the machine's measured fp32 peak, the denominator of every "% of peak".
 *
 * Each thread runs a loop of fused multiply-adds on 16 independent vector accumulators of the
 * native width (AVX-512, else AVX2+FMA, else scalar fmaf), enough to cover the FMA latency times
 * the number of FMA pipes on current x86 cores. Compiled on its own with -O2 -march=native
 * -fopenmp (not -ffast-math: the chains must stay as written).
 */
#include <math.h>
#include <omp.h>
#include <time.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "bench.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

#if defined(__AVX512F__)
enum { LANES = 16 };
#define VEC __m512
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
static float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }
const char *peak_isa = "AVX-512 (16 zmm accumulators of vfmadd)";
#elif defined(__AVX2__) && defined(__FMA__)
enum { LANES = 8 };
#define VEC __m256
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float hsum(__m256 v)
{
	float t[8];
	_mm256_storeu_ps(t, v);
	return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
const char *peak_isa = "AVX2 (16 ymm accumulators of vfmadd)";
#else
enum { LANES = 1 };
#define VEC float
#define SET1(v) (v)
#define FMA(a, b, c) fmaf(a, b, c)
#define ADD(a, b) ((a) + (b))
static float hsum(float v) { return v; }
const char *peak_isa = "scalar fmaf (16 accumulators)";
#endif

/* iters iterations of 16 FMAs on LANES lanes; returns a value that depends on all of them. */
static float fma_loop(long iters, float seed)
{
	VEC a0 = SET1(seed), a1 = SET1(seed + 1), a2 = SET1(seed + 2), a3 = SET1(seed + 3);
	VEC a4 = SET1(seed + 4), a5 = SET1(seed + 5), a6 = SET1(seed + 6), a7 = SET1(seed + 7);
	VEC a8 = SET1(seed + 8), a9 = SET1(seed + 9), a10 = SET1(seed + 10), a11 = SET1(seed + 11);
	VEC a12 = SET1(seed + 12), a13 = SET1(seed + 13), a14 = SET1(seed + 14), a15 = SET1(seed + 15);
	VEC m = SET1(0.999999f), c = SET1(1e-7f);
	for (long i = 0; i < iters; i++) {
		a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);
		a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);
		a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);
		a12 = FMA(a12, m, c); a13 = FMA(a13, m, c); a14 = FMA(a14, m, c); a15 = FMA(a15, m, c);
		__asm__ volatile("" ::: "memory"); /* keep the loop a loop */
	}
	VEC s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
	s = ADD(s, ADD(ADD(ADD(a8, a9), ADD(a10, a11)), ADD(ADD(a12, a13), ADD(a14, a15))));
	return hsum(s);
}

static volatile float sink;

/* GFLOP/s of `threads` threads each running iters iterations at once. */
static double run_once(int threads, long iters)
{
	double t0 = now();
	float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
	total += fma_loop(iters, (float)omp_get_thread_num());
	double t = now() - t0;
	sink = total;
	return 2.0 * 16 * LANES * (double)iters * threads / t * 1e-9;
}

/* Best of twenty runs of about seconds/20 each, after a calibration run: short runs, so that
   one of them is likely to find the cores free of other work. */
double peak_gflops(int threads, double seconds)
{
	long iters = 100000;
	double g = run_once(threads, iters); /* also wakes the threads and the clocks */
	double per_iter = 2.0 * 16 * LANES * threads / (g * 1e9);
	iters = (long)(seconds / 20 / per_iter);
	if (iters < 10000)
		iters = 10000;
	double best = 0;
	for (int i = 0; i < 20; i++) {
		g = run_once(threads, iters);
		if (g > best)
			best = g;
	}
	return best;
}
