# weft templates: target sse (SSE2, 4 floats per vector). Read by gen/templates.c.
# Same format and operands as avx512.tpl (see there). SSE2 has no fused multiply-add: fma is a
# multiply then an add. Ops with no entry keep the scalar nest.
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
