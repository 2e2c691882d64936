# weft templates: target avx512 (AVX-512F, 16 floats per vector). Read by gen/templates.c.
# Same format as scalar.tpl. The generator keeps the scalar table for the portable branch and
# reads this one for the SIMD branch of every vectorized nest: a vector statement of the loop
# IR (a load, a store, an elementwise op, an accumulation) becomes the entry of the same name.
# Operands: $1, $2, $3 are vectors (a local, an accumulator, or another entry's expression),
# except for load/store, whose $1 is an address (const float * / float *; no alignment
# assumed), and broadcast, whose $1 is a float. Ops with no entry here (exp, tanh, sigmoid,
# gelu...) make their stage keep its scalar nest.
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
