# weft templates: target neon (AArch64 Advanced SIMD, 4 floats per vector). Read by
# gen/templates.c. Same format and operands as avx512.tpl (see there). vfmaq_f32(c, a, b) is
# c + a*b: the operands of fma are reordered here. Helpers as in avx512.tpl: exp, sigmoid, tanh
# and gelu are the same algorithms as there.
# Accuracy against libm in double, measured by tests/unit/vmath_test.c (every 13th float up
# to |x| = 110 (tanh 20, gelu 30), both signs, 1e6 random ones, special values): max relative
# error where the result is a normal float (absolute, in units of 2^-120, below)
#   exp 8.4e-8, sigmoid 2.0e-7, tanh 1.4e-7, gelu 4.5e-7 (the spec asks 1e-6);
# max absolute error where |f(x)| <= 1: exp 5e-8, sigmoid 9e-8, tanh 8e-8, gelu 1.2e-7.
# exp is inf from 88.73 (its float overflow), denormal below -87.34, 0 below -103.98; the
# limits at +-inf are exact (gelu(-inf) = -0); NaN gives NaN.
# Fetching ahead (a stage's prefetch directive): @prefetch ($1 an address) asks for the line
# holding it in the L2 cache, without a fault for any address; a table without it fetches nothing.
@width
4
@guard
defined(__ARM_NEON) && defined(__aarch64__)
@include
#include <arm_neon.h>
@vtype
float32x4_t
@load
vld1q_f32($1)
@prefetch
__builtin_prefetch($1, 0, 2)
@store
vst1q_f32($1, $2)
@broadcast
vdupq_n_f32($1)
@zero
vdupq_n_f32(0.0f)
@add
vaddq_f32($1, $2)
@sub
vsubq_f32($1, $2)
@mul
vmulq_f32($1, $2)
@div
vdivq_f32($1, $2)
@fma
vfmaq_f32($3, $1, $2)
@max
vmaxq_f32($1, $2)
@min
vminq_f32($1, $2)
@sqrt
vsqrtq_f32($1)
@neg
vnegq_f32($1)
@recip
vdivq_f32(vdupq_n_f32(1.0f), $1)
@relu
vmaxq_f32($1, vdupq_n_f32(0.0f))
@relu6
vminq_f32(vmaxq_f32($1, vdupq_n_f32(0.0f)), vdupq_n_f32(6.0f))
@clip
vminq_f32(vmaxq_f32($1, $2), $3)
@leaky_relu
vbslq_f32(vcgeq_f32($1, vdupq_n_f32(0.0f)), $1, vmulq_f32($1, $2))
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
static inline float32x4_t weft_v_exp_hl(float32x4_t hi, float32x4_t lo)
{
	float32x4_t x = vminq_f32(vdupq_n_f32(88.8f), vmaxq_f32(vdupq_n_f32(-104.0f), hi));
	int32x4_t ni = vcvtnq_s32_f32(vmulq_f32(vaddq_f32(x, lo), vdupq_n_f32(1.44269504f)));
	float32x4_t n = vcvtq_f32_s32(ni);
	float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
	r = vaddq_f32(vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f)), lo);
	float32x4_t p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), vdupq_n_f32(1.9875691500e-4f), r);
	p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
	p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
	p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
	p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
	p = vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), vdupq_n_f32(1.0f));
	int32x4_t h = vshrq_n_s32(ni, 1);
	int32x4_t bias = vdupq_n_s32(127);
	float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h, bias), 23));
	float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vsubq_s32(ni, h), bias), 23));
	return vmulq_f32(vmulq_f32(p, s1), s2);
}
@weft_v_exp
static inline float32x4_t weft_v_exp(float32x4_t x) { return weft_v_exp_hl(x, vdupq_n_f32(0.0f)); }
@weft_v_sigmoid
/* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: e = e^-|x| never overflows, and the result keeps
   its relative accuracy down to where it leaves the normal range. */
static inline float32x4_t weft_v_sigmoid(float32x4_t x)
{
	float32x4_t e = weft_v_exp(vnegq_f32(vabsq_f32(x)));
	float32x4_t s = vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), e));
	return vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), vmulq_f32(e, s), s);
}
@weft_v_tanh
/* |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf), where 1 - 2/(e^2|x| + 1) would cancel; else that
   with x's sign. */
static inline float32x4_t weft_v_tanh(float32x4_t x)
{
	float32x4_t a = vabsq_f32(x);
	float32x4_t e = weft_v_exp(vaddq_f32(a, a));
	float32x4_t big = vsubq_f32(vdupq_n_f32(1.0f), vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, vdupq_n_f32(1.0f))));
	big = vbslq_f32(vdupq_n_u32(0x80000000u), x, big);
	float32x4_t z = vmulq_f32(x, x);
	float32x4_t p = vfmaq_f32(vdupq_n_f32(2.06390887954e-2f), vdupq_n_f32(-5.70498872745e-3f), z);
	p = vfmaq_f32(vdupq_n_f32(-5.37397155531e-2f), p, z);
	p = vfmaq_f32(vdupq_n_f32(1.33314422036e-1f), p, z);
	p = vfmaq_f32(vdupq_n_f32(-3.33332819422e-1f), p, z);
	float32x4_t small = vfmaq_f32(x, vmulq_f32(p, z), x);
	return vbslq_f32(vcltq_f32(a, vdupq_n_f32(0.625f)), small, big);
}
@weft_v_gelu
/* 0.5 x erfc(-x/sqrt 2), so that negative x does not cancel in 1 + erf. erfc(y) = t e^(-y^2 +
   P(t)), t = 2/(2 + y) (Numerical Recipes' erfcc), y = |x|/sqrt 2, x clamped to [-20, 20]
   (erfc is 0 beyond). -y^2 = -x^2/2 is split into hi + lo, hi exact (x's top 12 bits squared),
   since e^(-y^2) would lose y^2 float roundings (1e-5 at x = -13). */
static inline float32x4_t weft_v_gelu(float32x4_t x)
{
	float32x4_t xc = vminq_f32(vdupq_n_f32(20.0f), vmaxq_f32(vdupq_n_f32(-20.0f), x));
	float32x4_t a = vabsq_f32(xc);
	float32x4_t t = vdivq_f32(vdupq_n_f32(2.0f), vfmaq_f32(vdupq_n_f32(2.0f), a, vdupq_n_f32(0.707106781f)));
	float32x4_t p = vfmaq_f32(vdupq_n_f32(-0.82215223f), vdupq_n_f32(0.17087277f), t);
	p = vfmaq_f32(vdupq_n_f32(1.48851587f), p, t);
	p = vfmaq_f32(vdupq_n_f32(-1.13520398f), p, t);
	p = vfmaq_f32(vdupq_n_f32(0.27886807f), p, t);
	p = vfmaq_f32(vdupq_n_f32(-0.18628806f), p, t);
	p = vfmaq_f32(vdupq_n_f32(0.09678418f), p, t);
	p = vfmaq_f32(vdupq_n_f32(0.37409196f), p, t);
	p = vfmaq_f32(vdupq_n_f32(1.00002368f), p, t);
	p = vfmaq_f32(vdupq_n_f32(-1.26551223f), p, t);
	float32x4_t ah = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0xfffff000u)));
	float32x4_t hi = vmulq_f32(vdupq_n_f32(-0.5f), vmulq_f32(ah, ah));
	float32x4_t lo = vfmaq_f32(p, vdupq_n_f32(-0.5f), vmulq_f32(vsubq_f32(a, ah), vaddq_f32(a, ah)));
	float32x4_t c = vmulq_f32(t, weft_v_exp_hl(hi, lo));
	float32x4_t pos = vmulq_f32(x, vfmsq_f32(vdupq_n_f32(1.0f), vdupq_n_f32(0.5f), c));
	float32x4_t neg = vmulq_f32(vmulq_f32(vdupq_n_f32(0.5f), xc), c);
	return vbslq_f32(vcltq_f32(xc, vdupq_n_f32(0.0f)), neg, pos);
}
@tstore_rows
4
@tstore
weft_v_tstore($1, $2, $3, $4)
@weft_v_tstore
/* Lane l of r[j] (j < n <= 4) to p[l * k + j]: a 4 x 4 transpose (pairs by vtrn, then halves),
   then one store of n floats per lane (4: one vector store). */
static inline void weft_v_tstore(float *p, long k, int n, const float32x4_t *r)
{
	const float32x4x2_t a = vtrnq_f32(r[0], r[1]), b = vtrnq_f32(r[2], r[3]);
	const float32x4_t v[4] = {vcombine_f32(vget_low_f32(a.val[0]), vget_low_f32(b.val[0])),
		vcombine_f32(vget_low_f32(a.val[1]), vget_low_f32(b.val[1])),
		vcombine_f32(vget_high_f32(a.val[0]), vget_high_f32(b.val[0])),
		vcombine_f32(vget_high_f32(a.val[1]), vget_high_f32(b.val[1]))};
	int l, j;
	for (l = 0; l < 4; l++) {
		float t[4];
		if (n == 4) {
			vst1q_f32(p + l * k, v[l]);
			continue;
		}
		vst1q_f32(t, v[l]);
		for (j = 0; j < n; j++)
			p[l * k + j] = t[j];
	}
}
