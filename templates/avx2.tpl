# weft templates: target avx2 (AVX2 with FMA, 8 floats per vector). Read by gen/templates.c.
# Same format and operands as avx512.tpl (see there), helpers too: exp, sigmoid, tanh and gelu
# are the same algorithms as there.
# Accuracy against libm in double, measured by tests/unit/vmath_test.c (every 13th float up
# to |x| = 110 (tanh 20, gelu 30), both signs, 1e6 random ones, special values): max relative
# error where the result is a normal float (absolute, in units of 2^-120, below)
#   exp 8.4e-8, sigmoid 2.0e-7, tanh 1.4e-7, gelu 4.5e-7 (the spec asks 1e-6);
# max absolute error where |f(x)| <= 1: exp 5e-8, sigmoid 9e-8, tanh 8e-8, gelu 1.2e-7.
# exp is inf from 88.73 (its float overflow), denormal below -87.34, 0 below -103.98; the
# limits at +-inf are exact (gelu(-inf) = -0); NaN gives NaN.
# Partial vectors (a tail past the loop's end, a guard on the vectorized loop such as a
# padding column): @mtype is the mask's type, @mask all-ones lanes where $1 <= lane < $2 (ints, any range); @maskload
# ($1 address, $2 mask) reads only the mask's lanes (0 elsewhere, no fault), @maskstore ($1
# address, $2 mask, $3 vector) writes only them, @blend ($1 mask, $2 old, $3 new) takes new in
# the mask's lanes; @maskbits: the mask of the lanes whose bits are set in $1 (an unsigned
# constant). Strided reads: @gather/@maskgather ($1 address of lane 0, $2 the stride in
# elements, $3 mask); @load2/@maskload2 (stride 2: two loads of W, every other element; $2, $3
# the masks of the two halves). A table without @mask keeps such nests scalar.
# Strided stores of a register block, transposed: @tstore ($1 address of row 0's lane 0, $2 the
# distance between lanes in elements, $3 the number of rows n, 1 to @tstore_rows, $4 an array of
# @tstore_rows vectors, those from n on unused) stores lane l of row j at $1[l * $2 + j]. A
# table without it stores such lanes one by one.
# Fetching ahead (a stage's prefetch directive): @prefetch ($1 an address) asks for the line
# holding it in the L2 cache, without a fault for any address; a table without it fetches nothing.
@width
8
@guard
defined(__AVX2__) && defined(__FMA__)
@include
#include <immintrin.h>
@vtype
__m256
@load
_mm256_loadu_ps($1)
@prefetch
_mm_prefetch((const char *)($1), _MM_HINT_T1)
@store
_mm256_storeu_ps($1, $2)
@broadcast
_mm256_set1_ps($1)
@zero
_mm256_setzero_ps()
@add
_mm256_add_ps($1, $2)
@sub
_mm256_sub_ps($1, $2)
@mul
_mm256_mul_ps($1, $2)
@div
_mm256_div_ps($1, $2)
@fma
_mm256_fmadd_ps($1, $2, $3)
@max
_mm256_max_ps($1, $2)
@min
_mm256_min_ps($1, $2)
@sqrt
_mm256_sqrt_ps($1)
@neg
_mm256_sub_ps(_mm256_setzero_ps(), $1)
@recip
_mm256_div_ps(_mm256_set1_ps(1.0f), $1)
@relu
_mm256_max_ps($1, _mm256_setzero_ps())
@relu6
_mm256_min_ps(_mm256_max_ps($1, _mm256_setzero_ps()), _mm256_set1_ps(6.0f))
@clip
_mm256_min_ps(_mm256_max_ps($1, $2), $3)
@leaky_relu
_mm256_blendv_ps(_mm256_mul_ps($1, $2), $1, _mm256_cmp_ps($1, _mm256_setzero_ps(), _CMP_GE_OQ))
@mtype
__m256
@mask
_mm256_castsi256_ps(_mm256_and_si256(_mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(($1) - 1)), _mm256_cmpgt_epi32(_mm256_set1_epi32($2), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))))
@maskload
_mm256_maskload_ps($1, _mm256_castps_si256($2))
@maskstore
_mm256_maskstore_ps($1, _mm256_castps_si256($2), $3)
@blend
_mm256_blendv_ps($2, $3, $1)
@gather
_mm256_i32gather_ps($1, _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32($2)), 4)
@maskgather
_mm256_mask_i32gather_ps(_mm256_setzero_ps(), $1, _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32($2)), $3, 4)
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
static inline __m256 weft_v_exp_hl(__m256 hi, __m256 lo)
{
	__m256 x = _mm256_min_ps(_mm256_set1_ps(88.8f), _mm256_max_ps(_mm256_set1_ps(-104.0f), hi));
	__m256i ni = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_add_ps(x, lo), _mm256_set1_ps(1.44269504f)));
	__m256 n = _mm256_cvtepi32_ps(ni);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_add_ps(_mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r), lo);
	__m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
	__m256i h = _mm256_srai_epi32(ni, 1);
	__m256i bias = _mm256_set1_epi32(127);
	__m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
	__m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
	return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
@weft_v_exp
static inline __m256 weft_v_exp(__m256 x) { return weft_v_exp_hl(x, _mm256_setzero_ps()); }
@weft_v_sigmoid
/* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: e = e^-|x| never overflows, and the result keeps
   its relative accuracy down to where it leaves the normal range. */
static inline __m256 weft_v_sigmoid(__m256 x)
{
	__m256 e = weft_v_exp(_mm256_min_ps(x, _mm256_sub_ps(_mm256_setzero_ps(), x)));
	__m256 s = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
	return _mm256_blendv_ps(s, _mm256_mul_ps(e, s), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}
@weft_v_tanh
/* |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf), where 1 - 2/(e^2|x| + 1) would cancel; else that
   with x's sign. */
static inline __m256 weft_v_tanh(__m256 x)
{
	__m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
	__m256 e = weft_v_exp(_mm256_add_ps(a, a));
	__m256 big = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
	big = _mm256_or_ps(big, _mm256_and_ps(_mm256_set1_ps(-0.0f), x));
	__m256 z = _mm256_mul_ps(x, x);
	__m256 p = _mm256_fmadd_ps(_mm256_set1_ps(-5.70498872745e-3f), z, _mm256_set1_ps(2.06390887954e-2f));
	p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
	p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
	p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
	__m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
	return _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}
@weft_v_gelu
/* 0.5 x erfc(-x/sqrt 2), so that negative x does not cancel in 1 + erf. erfc(y) = t e^(-y^2 +
   P(t)), t = 2/(2 + y) (Numerical Recipes' erfcc), y = |x|/sqrt 2, x clamped to [-20, 20]
   (erfc is 0 beyond). -y^2 = -x^2/2 is split into hi + lo, hi exact (x's top 12 bits squared),
   since e^(-y^2) would lose y^2 float roundings (1e-5 at x = -13). */
static inline __m256 weft_v_gelu(__m256 x)
{
	__m256 xc = _mm256_min_ps(_mm256_set1_ps(20.0f), _mm256_max_ps(_mm256_set1_ps(-20.0f), x));
	__m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), xc);
	__m256 t = _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_fmadd_ps(a, _mm256_set1_ps(0.707106781f), _mm256_set1_ps(2.0f)));
	__m256 p = _mm256_fmadd_ps(_mm256_set1_ps(0.17087277f), t, _mm256_set1_ps(-0.82215223f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
	__m256 ah = _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(-4096)));
	__m256 hi = _mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(ah, ah));
	__m256 lo = _mm256_fmadd_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(_mm256_sub_ps(a, ah), _mm256_add_ps(a, ah)), p);
	__m256 c = _mm256_mul_ps(t, weft_v_exp_hl(hi, lo));
	__m256 pos = _mm256_mul_ps(x, _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), c, _mm256_set1_ps(1.0f)));
	__m256 neg = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), xc), c);
	return _mm256_blendv_ps(pos, neg, _mm256_cmp_ps(xc, _mm256_setzero_ps(), _CMP_LT_OQ));
}
@load2
_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(_mm256_loadu_ps($1), _mm256_maskload_ps($1 + 8, _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0)), 0x88)), 0xD8))
@maskload2
_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(_mm256_maskload_ps($1, _mm256_castps_si256($2)), _mm256_maskload_ps($1 + 8, _mm256_castps_si256($3)), 0x88)), 0xD8))
@maskbits
_mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_and_si256(_mm256_set1_epi32((int)($1)), _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128)), _mm256_setzero_si256()))
@gatherat
_mm256_i32gather_ps($1, _mm256_setr_epi32($2), 4)
@maskgatherat
_mm256_mask_i32gather_ps(_mm256_setzero_ps(), $1, _mm256_setr_epi32($2), $3, 4)
@tstore_rows
8
@tstore
weft_v_tstore($1, $2, $3, $4)
@weft_v_tstore
/* Lane l of r[j] (j < n <= 8) to p[l * k + j]: an 8 x 8 transpose in registers (pairs, quads
   within 128-bit halves, then halves), then one store of n floats per lane. */
static inline void weft_v_tstore(float *p, long k, int n, const __m256 *r)
{
	const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
	const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
	const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
	const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
	const __m256 u[8] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xee),
		_mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xee),
		_mm256_shuffle_ps(t4, t6, 0x44), _mm256_shuffle_ps(t4, t6, 0xee),
		_mm256_shuffle_ps(t5, t7, 0x44), _mm256_shuffle_ps(t5, t7, 0xee)};
	const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	int l;
	for (l = 0; l < 8; l++) { /* lane l of rows 0..7: lanes l & 3 of u (rows 0-3, 4-7), half l >> 2 */
		const __m256 v = (l & 4) ? _mm256_permute2f128_ps(u[l & 3], u[4 + (l & 3)], 0x31)
		                         : _mm256_permute2f128_ps(u[l & 3], u[4 + (l & 3)], 0x20);
		if (n == 8)
			_mm256_storeu_ps(p + l * k, v);
		else
			_mm256_maskstore_ps(p + l * k, m, v);
	}
}
