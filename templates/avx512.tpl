# weft templates: target avx512 (AVX-512F, 16 floats per vector). Read by gen/templates.c.
# Same format as scalar.tpl. The generator keeps the scalar table for the portable branch and
# reads this one for the SIMD branch of every vectorized nest: a vector statement of the loop
# IR (a load, a store, an elementwise op, an accumulation) becomes the entry of the same name.
# Operands: $1, $2, $3 are vectors (a local, an accumulator, or another entry's expression),
# except for load/store, whose $1 is an address (const float * / float *; no alignment
# assumed), and broadcast, whose $1 is a float. An op with no entry here makes its stage keep
# its scalar nest.
#
# Helpers: an entry whose key starts with weft_ is the C definition of the static function of
# that name, which other entries (and the helpers after it) call; a generated file defines the
# helpers its code calls, and only those, after @include under @guard (gen/templates.c).
# exp, sigmoid, tanh and gelu are such calls: polynomial approximations, the same algorithms on
# every target (each helper's comment says how), from AVX-512F alone (integer logic for the
# float bit tricks: and/or/xor on floats are AVX-512DQ).
# Accuracy against libm in double, measured by tests/unit/vmath_test.c (every 13th float up
# to |x| = 110 (tanh 20, gelu 30), both signs, 1e6 random ones, special values): max relative
# error where the result is a normal float (absolute, in units of 2^-120, below)
#   exp 8.4e-8, sigmoid 2.0e-7, tanh 1.4e-7, gelu 4.5e-7 (the spec asks 1e-6);
# max absolute error where |f(x)| <= 1: exp 5e-8, sigmoid 9e-8, tanh 8e-8, gelu 1.2e-7.
# exp is inf from 88.73 (its float overflow), denormal below -87.34, 0 below -103.98; the
# limits at +-inf are exact (gelu(-inf) = -0); NaN gives NaN.
# Partial vectors (a tail past the loop's end, a guard on the vectorized loop such as a
# padding column): @mtype is the mask's type, @mask the bits of $1 <= lane < $2 (ints, any range); @maskload
# ($1 address, $2 mask) reads only the mask's lanes (0 elsewhere, no fault), @maskstore ($1
# address, $2 mask, $3 vector) writes only them, @blend ($1 mask, $2 old, $3 new) takes new in
# the mask's lanes; @maskbits: the mask of the lanes whose bits are set in $1 (an unsigned
# constant). Strided reads: @gather/@maskgather ($1 address of lane 0, $2 the stride in
# elements, $3 mask); @load2/@maskload2 (stride 2: two loads of W, every other element; $2, $3
# the masks of the two halves). A table without @mask keeps such nests scalar.
# Lanes in two windows (irregular distances, such as two rows of a small map at stride 2):
# @loadbits ($1 address, $2 an unsigned constant: the elements to read, 0 elsewhere, no fault),
# @perm2 (lane i of the result: element $2[i] of $1 then $3, a list of W ints), @maskz ($1
# mask: its lanes of $2, 0 elsewhere). A table without them gathers such lanes. @perm2 also
# serves a stride-2 tap from two vectors shared with its neighbours (gen/vshift.c).
# Strided stores of a register block, transposed: @tstore ($1 address of row 0's lane 0, $2 the
# distance between lanes in elements, $3 the number of rows n, 1 to @tstore_rows, $4 an array of
# @tstore_rows vectors, those from n on unused) stores lane l of row j at $1[l * $2 + j]: for an
# NCHW output written from channel vectors, one transpose of the block's pixels instead of a
# store per lane. A table without it stores such lanes one by one.
# Loads at constant distances that are not multiples of W (a stencil's unrolled taps), read as
# vectors loaded once and shifted (gen/vshift.c): @alignr ($1 the upper vector, $2 the lower,
# $3 a lane count from 1 to W - 1): lanes $3 .. W - 1 of $2, then lanes 0 .. $3 - 1 of $1.
# A table without @alignr loads each.
# Fetching ahead (a stage's prefetch directive): @prefetch ($1 an address) asks for the line
# holding it in the L2 cache, without a fault for any address; a table without it fetches nothing.
@width
16
@guard
defined(__AVX512F__)
@include
#include <immintrin.h>
@vtype
__m512
@load
_mm512_loadu_ps($1)
@prefetch
_mm_prefetch((const char *)($1), _MM_HINT_T1)
@store
_mm512_storeu_ps($1, $2)
@broadcast
_mm512_set1_ps($1)
@zero
_mm512_setzero_ps()
@add
_mm512_add_ps($1, $2)
@sub
_mm512_sub_ps($1, $2)
@mul
_mm512_mul_ps($1, $2)
@div
_mm512_div_ps($1, $2)
@fma
_mm512_fmadd_ps($1, $2, $3)
@max
_mm512_max_ps($1, $2)
@min
_mm512_min_ps($1, $2)
@sqrt
_mm512_sqrt_ps($1)
@neg
_mm512_sub_ps(_mm512_setzero_ps(), $1)
@recip
_mm512_div_ps(_mm512_set1_ps(1.0f), $1)
@relu
_mm512_max_ps($1, _mm512_setzero_ps())
@relu6
_mm512_min_ps(_mm512_max_ps($1, _mm512_setzero_ps()), _mm512_set1_ps(6.0f))
@clip
_mm512_min_ps(_mm512_max_ps($1, $2), $3)
@leaky_relu
_mm512_mask_blend_ps(_mm512_cmp_ps_mask($1, _mm512_setzero_ps(), _CMP_GE_OQ), _mm512_mul_ps($1, $2), $1)
@mtype
__mmask16
@mask
((__mmask16)(_mm512_cmpge_epi32_mask(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32($1)) & _mm512_cmplt_epi32_mask(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32($2))))
@maskload
_mm512_maskz_loadu_ps($2, $1)
@maskstore
_mm512_mask_storeu_ps($1, $2, $3)
@blend
_mm512_mask_blend_ps($1, $2, $3)
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
static inline __m512 weft_v_exp_hl(__m512 hi, __m512 lo)
{
	__m512 x = _mm512_min_ps(_mm512_set1_ps(88.8f), _mm512_max_ps(_mm512_set1_ps(-104.0f), hi));
	__m512i ni = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_add_ps(x, lo), _mm512_set1_ps(1.44269504f)));
	__m512 n = _mm512_cvtepi32_ps(ni);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_add_ps(_mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r), lo);
	__m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.9875691500e-4f), r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
	__m512i h = _mm512_srai_epi32(ni, 1);
	__m512i bias = _mm512_set1_epi32(127);
	__m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(h, bias), 23));
	__m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(ni, h), bias), 23));
	return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}
@weft_v_exp
static inline __m512 weft_v_exp(__m512 x) { return weft_v_exp_hl(x, _mm512_setzero_ps()); }
@weft_v_sigmoid
/* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: e = e^-|x| never overflows, and the result keeps
   its relative accuracy down to where it leaves the normal range. */
static inline __m512 weft_v_sigmoid(__m512 x)
{
	__m512 e = weft_v_exp(_mm512_min_ps(x, _mm512_sub_ps(_mm512_setzero_ps(), x)));
	__m512 s = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), s, _mm512_mul_ps(e, s));
}
@weft_v_tanh
/* |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf), where 1 - 2/(e^2|x| + 1) would cancel; else that
   with x's sign. */
static inline __m512 weft_v_tanh(__m512 x)
{
	__m512 a = _mm512_abs_ps(x);
	__m512 e = weft_v_exp(_mm512_add_ps(a, a));
	__m512 big = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
	big = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(big), _mm512_xor_si512(_mm512_castps_si512(x), _mm512_castps_si512(a))));
	__m512 z = _mm512_mul_ps(x, x);
	__m512 p = _mm512_fmadd_ps(_mm512_set1_ps(-5.70498872745e-3f), z, _mm512_set1_ps(2.06390887954e-2f));
	p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
	p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
	p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
	__m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ), big, small);
}
@weft_v_gelu
/* 0.5 x erfc(-x/sqrt 2), so that negative x does not cancel in 1 + erf. erfc(y) = t e^(-y^2 +
   P(t)), t = 2/(2 + y) (Numerical Recipes' erfcc), y = |x|/sqrt 2, x clamped to [-20, 20]
   (erfc is 0 beyond). -y^2 = -x^2/2 is split into hi + lo, hi exact (x's top 12 bits squared),
   since e^(-y^2) would lose y^2 float roundings (1e-5 at x = -13). */
static inline __m512 weft_v_gelu(__m512 x)
{
	__m512 xc = _mm512_min_ps(_mm512_set1_ps(20.0f), _mm512_max_ps(_mm512_set1_ps(-20.0f), x));
	__m512 a = _mm512_abs_ps(xc);
	__m512 t = _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.707106781f), _mm512_set1_ps(2.0f)));
	__m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0.17087277f), t, _mm512_set1_ps(-0.82215223f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
	__m512 ah = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(-4096)));
	__m512 hi = _mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(ah, ah));
	__m512 lo = _mm512_fmadd_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(_mm512_sub_ps(a, ah), _mm512_add_ps(a, ah)), p);
	__m512 c = _mm512_mul_ps(t, weft_v_exp_hl(hi, lo));
	__m512 pos = _mm512_mul_ps(x, _mm512_fnmadd_ps(_mm512_set1_ps(0.5f), c, _mm512_set1_ps(1.0f)));
	__m512 neg = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), xc), c);
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(xc, _mm512_setzero_ps(), _CMP_LT_OQ), pos, neg);
}
@gather
_mm512_i32gather_ps(_mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32($2)), $1, 4)
@maskgather
_mm512_mask_i32gather_ps(_mm512_setzero_ps(), $3, _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32($2)), $1, 4)
@load2
_mm512_permutex2var_ps(_mm512_loadu_ps($1), _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), _mm512_maskz_loadu_ps((__mmask16)0x7FFF, $1 + 16))
@maskload2
_mm512_permutex2var_ps(_mm512_maskz_loadu_ps($2, $1), _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), _mm512_maskz_loadu_ps($3, $1 + 16))
@maskbits
((__mmask16)$1)
@gatherat
_mm512_i32gather_ps(_mm512_setr_epi32($2), $1, 4)
@maskgatherat
_mm512_mask_i32gather_ps(_mm512_setzero_ps(), $3, _mm512_setr_epi32($2), $1, 4)
@loadbits
_mm512_maskz_loadu_ps((__mmask16)$2, $1)
@perm2
_mm512_permutex2var_ps($1, _mm512_setr_epi32($2), $3)
@maskz
_mm512_maskz_mov_ps($1, $2)
@alignr
_mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512($1), _mm512_castps_si512($2), $3))
@tstore_rows
8
@tstore
weft_v_tstore($1, $2, $3, $4)
@weft_v_tstore
/* Lane l of r[j] (j < n <= 8) to p[l * k + j]: an 8 x 16 transpose in registers (pairs, then
   quads within 128-bit lanes, then 128-bit lanes of rows 0-3 and 4-7 side by side), then one
   store of n floats per lane: 24 shuffles, 8 extracts and 16 stores, against 16 n single
   stores. */
static inline void weft_v_tstore(float *p, long k, int n, const __m512 *r)
{
	const __m512 t0 = _mm512_unpacklo_ps(r[0], r[1]), t1 = _mm512_unpackhi_ps(r[0], r[1]);
	const __m512 t2 = _mm512_unpacklo_ps(r[2], r[3]), t3 = _mm512_unpackhi_ps(r[2], r[3]);
	const __m512 t4 = _mm512_unpacklo_ps(r[4], r[5]), t5 = _mm512_unpackhi_ps(r[4], r[5]);
	const __m512 t6 = _mm512_unpacklo_ps(r[6], r[7]), t7 = _mm512_unpackhi_ps(r[6], r[7]);
	const __m512 u[8] = {_mm512_shuffle_ps(t0, t2, 0x44), _mm512_shuffle_ps(t0, t2, 0xee),
		_mm512_shuffle_ps(t1, t3, 0x44), _mm512_shuffle_ps(t1, t3, 0xee),
		_mm512_shuffle_ps(t4, t6, 0x44), _mm512_shuffle_ps(t4, t6, 0xee),
		_mm512_shuffle_ps(t5, t7, 0x44), _mm512_shuffle_ps(t5, t7, 0xee)};
	const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
	const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
	const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	int i;
	for (i = 0; i < 8; i++) { /* v: lanes l and l + 4 of rows 0..7 */
		const int l = (i & 3) + (i >> 2) * 8;
		const __m512 v = _mm512_permutex2var_ps(u[i & 3], i < 4 ? lo : hi, u[4 + (i & 3)]);
		const __m256 a = _mm512_castps512_ps256(v);
		const __m256 b = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
		if (n == 8) {
			_mm256_storeu_ps(p + l * k, a);
			_mm256_storeu_ps(p + (l + 4) * k, b);
		} else {
			_mm256_maskstore_ps(p + l * k, m, a);
			_mm256_maskstore_ps(p + (l + 4) * k, m, b);
		}
	}
}
