# weft templates: target neon (AArch64 Advanced SIMD, 4 floats per vector). Read by
# gen/templates.c. Same format and operands as avx512.tpl (see there). Ops with no entry keep
# the scalar nest. vfmaq_f32(c, a, b) is c + a*b: the operands of fma are reordered here.
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
