# weft templates: target avx2 (AVX2 with FMA, 8 floats per vector). Read by gen/templates.c.
# Same format and operands as avx512.tpl (see there). Ops with no entry keep the scalar nest.
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
