# weft templates: target sse (SSE2, 4 floats per vector). Read by gen/templates.c.
# Same format and operands as avx512.tpl (see there). SSE2 has no fused multiply-add: fma is a
# multiply then an add. Helpers as in avx512.tpl: exp, sigmoid, tanh and gelu are the same
# algorithms as there, from SSE2 alone (no fma, no round, no blendv: selects by and/andnot/or).
# Accuracy against libm in double, measured by tests/unit/vmath_test.c (every 13th float up
# to |x| = 110 (tanh 20, gelu 30), both signs, 1e6 random ones, special values): max relative
# error where the result is a normal float (absolute, in units of 2^-120, below)
#   exp 8.2e-8, sigmoid 2.0e-7, tanh 1.4e-7, gelu 5.5e-7 (the spec asks 1e-6);
# max absolute error where |f(x)| <= 1: exp 5e-8, sigmoid 9e-8, tanh 8e-8, gelu 1.2e-7.
# exp is inf from 88.73 (its float overflow), denormal below -87.34, 0 below -103.98; the
# limits at +-inf are exact (gelu(-inf) = -0); NaN gives NaN.
# Fetching ahead (a stage's prefetch directive): @prefetch ($1 an address) asks for the line
# holding it in the L2 cache, without a fault for any address; a table without it fetches nothing.
@width
4
@guard
defined(__SSE2__)
@include
#include <emmintrin.h>
@vtype
__m128
@load
_mm_loadu_ps($1)
@prefetch
_mm_prefetch((const char *)($1), _MM_HINT_T1)
@store
_mm_storeu_ps($1, $2)
@broadcast
_mm_set1_ps($1)
@zero
_mm_setzero_ps()
@add
_mm_add_ps($1, $2)
@sub
_mm_sub_ps($1, $2)
@mul
_mm_mul_ps($1, $2)
@div
_mm_div_ps($1, $2)
@fma
_mm_add_ps(_mm_mul_ps($1, $2), $3)
@max
_mm_max_ps($1, $2)
@min
_mm_min_ps($1, $2)
@sqrt
_mm_sqrt_ps($1)
@neg
_mm_sub_ps(_mm_setzero_ps(), $1)
@recip
_mm_div_ps(_mm_set1_ps(1.0f), $1)
@relu
_mm_max_ps($1, _mm_setzero_ps())
@relu6
_mm_min_ps(_mm_max_ps($1, _mm_setzero_ps()), _mm_set1_ps(6.0f))
@clip
_mm_min_ps(_mm_max_ps($1, $2), $3)
@leaky_relu
_mm_or_ps(_mm_and_ps(_mm_cmpge_ps($1, _mm_setzero_ps()), $1), _mm_andnot_ps(_mm_cmpge_ps($1, _mm_setzero_ps()), _mm_mul_ps($1, $2)))
@exp
weft_v_exp($1)
@sigmoid
weft_v_sigmoid($1)
@tanh
weft_v_tanh($1)
@gelu
weft_v_gelu($1)
@weft_v_exp_hl
/* exp(hi + lo), lo small beside hi (or 0): n = round((hi+lo)/ln 2), r = hi - n ln 2 + lo (ln 2
   in two parts, Cody-Waite), e^r by a degree-7 polynomial on |r| <= ln2/2 (Cephes expf), times
   2^n in two factors so that n from -150 to 128 needs no special case: 0 below -104, inf above
   88.72 (hi clamped to [-104, 88.8] first), NaN stays NaN. */
static inline __m128 weft_v_exp_hl(__m128 hi, __m128 lo)
{
	__m128 x = _mm_min_ps(_mm_set1_ps(88.8f), _mm_max_ps(_mm_set1_ps(-104.0f), hi));
	__m128i ni = _mm_cvtps_epi32(_mm_mul_ps(_mm_add_ps(x, lo), _mm_set1_ps(1.44269504f)));
	__m128 n = _mm_cvtepi32_ps(ni);
	__m128 r = _mm_sub_ps(x, _mm_mul_ps(n, _mm_set1_ps(0.693359375f)));
	r = _mm_add_ps(_mm_sub_ps(r, _mm_mul_ps(n, _mm_set1_ps(-2.12194440e-4f))), lo);
	__m128 p = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(1.9875691500e-4f), r), _mm_set1_ps(1.3981999507e-3f));
	p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(8.3334519073e-3f));
	p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(4.1665795894e-2f));
	p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.6666665459e-1f));
	p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(5.0000001201e-1f));
	p = _mm_add_ps(_mm_add_ps(_mm_mul_ps(p, _mm_mul_ps(r, r)), r), _mm_set1_ps(1.0f));
	__m128i h = _mm_srai_epi32(ni, 1);
	__m128i bias = _mm_set1_epi32(127);
	__m128 s1 = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(h, bias), 23));
	__m128 s2 = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(_mm_sub_epi32(ni, h), bias), 23));
	return _mm_mul_ps(_mm_mul_ps(p, s1), s2);
}
@weft_v_exp
static inline __m128 weft_v_exp(__m128 x) { return weft_v_exp_hl(x, _mm_setzero_ps()); }
@weft_v_sigmoid
/* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: e = e^-|x| never overflows, and the result keeps
   its relative accuracy down to where it leaves the normal range. */
static inline __m128 weft_v_sigmoid(__m128 x)
{
	__m128 e = weft_v_exp(_mm_min_ps(x, _mm_sub_ps(_mm_setzero_ps(), x)));
	__m128 s = _mm_div_ps(_mm_set1_ps(1.0f), _mm_add_ps(_mm_set1_ps(1.0f), e));
	__m128 neg = _mm_cmplt_ps(x, _mm_setzero_ps());
	return _mm_or_ps(_mm_andnot_ps(neg, s), _mm_and_ps(neg, _mm_mul_ps(e, s)));
}
@weft_v_tanh
/* |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf), where 1 - 2/(e^2|x| + 1) would cancel; else that
   with x's sign. */
static inline __m128 weft_v_tanh(__m128 x)
{
	__m128 a = _mm_andnot_ps(_mm_set1_ps(-0.0f), x);
	__m128 e = weft_v_exp(_mm_add_ps(a, a));
	__m128 big = _mm_sub_ps(_mm_set1_ps(1.0f), _mm_div_ps(_mm_set1_ps(2.0f), _mm_add_ps(e, _mm_set1_ps(1.0f))));
	big = _mm_or_ps(big, _mm_and_ps(_mm_set1_ps(-0.0f), x));
	__m128 z = _mm_mul_ps(x, x);
	__m128 p = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(-5.70498872745e-3f), z), _mm_set1_ps(2.06390887954e-2f));
	p = _mm_add_ps(_mm_mul_ps(p, z), _mm_set1_ps(-5.37397155531e-2f));
	p = _mm_add_ps(_mm_mul_ps(p, z), _mm_set1_ps(1.33314422036e-1f));
	p = _mm_add_ps(_mm_mul_ps(p, z), _mm_set1_ps(-3.33332819422e-1f));
	__m128 small = _mm_add_ps(_mm_mul_ps(_mm_mul_ps(p, z), x), x);
	__m128 m = _mm_cmplt_ps(a, _mm_set1_ps(0.625f));
	return _mm_or_ps(_mm_andnot_ps(m, big), _mm_and_ps(m, small));
}
@weft_v_gelu
/* 0.5 x erfc(-x/sqrt 2), so that negative x does not cancel in 1 + erf. erfc(y) = t e^(-y^2 +
   P(t)), t = 2/(2 + y) (Numerical Recipes' erfcc), y = |x|/sqrt 2, x clamped to [-20, 20]
   (erfc is 0 beyond). -y^2 = -x^2/2 is split into hi + lo, hi exact (x's top 12 bits squared),
   since e^(-y^2) would lose y^2 float roundings (1e-5 at x = -13). */
static inline __m128 weft_v_gelu(__m128 x)
{
	__m128 xc = _mm_min_ps(_mm_set1_ps(20.0f), _mm_max_ps(_mm_set1_ps(-20.0f), x));
	__m128 a = _mm_andnot_ps(_mm_set1_ps(-0.0f), xc);
	__m128 t = _mm_div_ps(_mm_set1_ps(2.0f), _mm_add_ps(_mm_mul_ps(a, _mm_set1_ps(0.707106781f)), _mm_set1_ps(2.0f)));
	__m128 p = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(0.17087277f), t), _mm_set1_ps(-0.82215223f));
	p = _mm_add_ps(_mm_mul_ps(p, t), _mm_set1_ps(1.48851587f));
	p = _mm_add_ps(_mm_mul_ps(p, t), _mm_set1_ps(-1.13520398f));
	p = _mm_add_ps(_mm_mul_ps(p, t), _mm_set1_ps(0.27886807f));
	p = _mm_add_ps(_mm_mul_ps(p, t), _mm_set1_ps(-0.18628806f));
	p = _mm_add_ps(_mm_mul_ps(p, t), _mm_set1_ps(0.09678418f));
	p = _mm_add_ps(_mm_mul_ps(p, t), _mm_set1_ps(0.37409196f));
	p = _mm_add_ps(_mm_mul_ps(p, t), _mm_set1_ps(1.00002368f));
	p = _mm_add_ps(_mm_mul_ps(p, t), _mm_set1_ps(-1.26551223f));
	__m128 ah = _mm_and_ps(a, _mm_castsi128_ps(_mm_set1_epi32(-4096)));
	__m128 hi = _mm_mul_ps(_mm_set1_ps(-0.5f), _mm_mul_ps(ah, ah));
	__m128 lo = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(-0.5f), _mm_mul_ps(_mm_sub_ps(a, ah), _mm_add_ps(a, ah))), p);
	__m128 c = _mm_mul_ps(t, weft_v_exp_hl(hi, lo));
	__m128 pos = _mm_mul_ps(x, _mm_sub_ps(_mm_set1_ps(1.0f), _mm_mul_ps(_mm_set1_ps(0.5f), c)));
	__m128 neg = _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(0.5f), xc), c);
	__m128 m = _mm_cmplt_ps(xc, _mm_setzero_ps());
	return _mm_or_ps(_mm_andnot_ps(m, pos), _mm_and_ps(m, neg));
}
@tstore_rows
4
@tstore
weft_v_tstore($1, $2, $3, $4)
@weft_v_tstore
/* Lane l of r[j] (j < n <= 4) to p[l * k + j]: a 4 x 4 transpose (SSE's own macro), then one
   store of n floats per lane (4: one vector store). */
static inline void weft_v_tstore(float *p, long k, int n, const __m128 *r)
{
	__m128 v0 = r[0], v1 = r[1], v2 = r[2], v3 = r[3];
	_MM_TRANSPOSE4_PS(v0, v1, v2, v3);
	{
		const __m128 v[4] = {v0, v1, v2, v3};
		int l, j;
		for (l = 0; l < 4; l++) {
			float t[4];
			if (n == 4) {
				_mm_storeu_ps(p + l * k, v[l]);
				continue;
			}
			_mm_storeu_ps(t, v[l]);
			for (j = 0; j < n; j++)
				p[l * k + j] = t[j];
		}
	}
}
