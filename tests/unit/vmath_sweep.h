/* tests/unit/vmath_sweep.h: the body of the checker programs that tests/unit/vmath_test.c
 * writes, one per SIMD target: the target's exp, sigmoid, tanh and gelu (the table's entries and
 * helpers, through weft_t_NAME, which applies the entry to WEFT_W floats) against libm in
 * double.
 *
 * The points: every STEP-th float bit pattern from 0 to the function's limit, both signs (so
 * every binade, down to denormals, is covered alike), a million uniform random floats over
 * [-limit, limit], and special values (0, -0, the infinities, NaN, FLT_MAX, denormals, the
 * approximations' branch points). The error of a point is |got - want| / max(|want|, 2^-120):
 * relative where the result is a normal float, absolute (in units of 2^-120) where it is tiny
 * or 0. Results beyond the float range must be infinite, NaN must give NaN. Prints one line
 * per function; exits 1 when an error exceeds BOUND (argv[2], default 1e-6).
 * Usage: checker [STEP [BOUND]].
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double ref_exp(double x) { return exp(x); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_tanh(double x) { return tanh(x); }
/* 0.5 x (1 + erf(x/sqrt 2)) without the cancellation of 1 + erf for negative x (and 0 at -inf,
   where the product would be -inf * 0). */
static double ref_gelu(double x) { return x == -INFINITY ? -0.0 : 0.5 * x * erfc(-x / sqrt(2.0)); }

typedef struct Fn {
	const char *name;
	void (*v)(const float *, float *);
	double (*ref)(double);
	float limit;
} Fn;

static const Fn fns[] = {
	{"exp", weft_t_exp, ref_exp, 110.0f},
	{"sigmoid", weft_t_sigmoid, ref_sigmoid, 110.0f},
	{"tanh", weft_t_tanh, ref_tanh, 20.0f},
	{"gelu", weft_t_gelu, ref_gelu, 30.0f},
};

enum { BATCH = 4096 };

typedef struct Stats {
	double max_err, at_err;     /* the worst error and its x */
	double max_abs, at_abs;     /* the worst |got - want| where |want| <= 1 */
	long points, bad_special;   /* points; wrong infinities or NaNs */
	double bad_x;
} Stats;

static void check_batch(const Fn *f, const float *x, int n, Stats *s)
{
	float y[BATCH];
	for (int i = 0; i < n; i += WEFT_W)
		f->v(x + i, y + i);
	for (int i = 0; i < n; i++) {
		double want = f->ref((double)x[i]), got = y[i];
		s->points++;
		if (isinf((float)want)) /* beyond FLT_MAX: rounds to infinity */
			want = (float)want;
		if (isnan(want) || isinf(want)) {
			if (isnan(want) ? !isnan(got) : got != want) {
				s->bad_special++;
				s->bad_x = x[i];
			}
			continue;
		}
		if (isnan(got) || isinf(got)) {
			s->bad_special++;
			s->bad_x = x[i];
			continue;
		}
		double d = fabs(got - want), err = d / fmax(fabs(want), 0x1p-120);
		if (err > s->max_err) {
			s->max_err = err;
			s->at_err = x[i];
		}
		if (fabs(want) <= 1 && d > s->max_abs) {
			s->max_abs = d;
			s->at_abs = x[i];
		}
	}
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static uint32_t to_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static void sweep(const Fn *f, uint32_t step, Stats *s)
{
	float x[BATCH];
	int n = 0;
#define PUT(v) \
	do { \
		x[n++] = (v); \
		if (n == BATCH) { \
			check_batch(f, x, n, s); \
			n = 0; \
		} \
	} while (0)
	static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, FLT_MIN,
		-FLT_MIN, 1e-45f, -1e-45f, 1e-30f, -1e-30f, 1e10f, -1e10f, 88.72283f, 88.7228394f, 88.8f, 89.0f,
		-87.33654f, -87.3365479f, -103.9720840f, -104.0f, -105.0f, 0.625f, -0.625f, 0.62499994f,
		-0.62499994f, 20.0f, -20.0f, 44.0f, -44.0f, 13.0f, -13.0f, 13.5f, -13.5f, 14.2f, -14.2f, 9.0f,
		-9.0f, 1.0f, -1.0f, 0.5f, -0.5f};
	for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
		PUT(special[i]);
	uint32_t top = to_bits(f->limit);
	for (uint32_t u = 0; u <= top; u += step) {
		PUT(from_bits(u));
		PUT(from_bits(u | 0x80000000u));
		if (top - u < step)
			break;
	}
	for (int i = 0; i < 1000000; i++)
		PUT(f->limit * (float)((double)next_rand() / 2147483648.0 - 1.0));
	while (n % WEFT_W)
		PUT(0.0f);
	check_batch(f, x, n, s);
#undef PUT
}

int main(int argc, char **argv)
{
	uint32_t step = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 257;
	double bound = argc > 2 ? strtod(argv[2], NULL) : 1e-6;
	int bad = 0;
	for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
		Stats s = {0};
		sweep(&fns[i], step ? step : 1, &s);
		bool ok = s.max_err <= bound && s.bad_special == 0;
		printf("%s %-7s %s: max rel err %.3g at x = %.9g, max abs err (|f| <= 1) %.3g at x = %.9g, %ld points",
		       WEFT_TARGET, fns[i].name, ok ? "ok" : "FAIL", s.max_err, s.at_err, s.max_abs, s.at_abs,
		       s.points);
		if (s.bad_special)
			printf(", %ld wrong infinities or NaNs (one at x = %.9g)", s.bad_special, s.bad_x);
		printf("\n");
		bad |= !ok;
	}
	return bad;
}
