# weft templates: target scalar (portable C99). Read by gen/templates.c at run time.
# An entry is "@key" on its own line, then its text up to the next "@" line; trailing newlines
# are dropped. $1, $2, $3 are the generator's arguments: for an elementwise entry, $1 (and $2)
# are float operands (a local or an array element), $2/$3 of clip and leaky_relu float literals.
#
# The prelude opens every generated .c after its own header. Keep it free of anything that a
# strict -std=c99 -Wall -Wextra -pedantic build would warn about when unused.
@prelude
#include <math.h>
#include <stdint.h>

/* WEFT_PARALLEL_FOR before a loop whose iterations run on all cores, WEFT_SIMD before one
   whose iterations are independent (vectorized); nothing without -fopenmp, so that compilers
   without OpenMP see no unknown pragma. */
#ifdef _OPENMP
#define WEFT_PARALLEL_FOR _Pragma("omp parallel for")
#define WEFT_SIMD _Pragma("omp simd")
/* clang warns where it cannot vectorize a loop marked simd (a hint, not a requirement here). */
#if defined(__clang__) && defined(__has_warning)
#if __has_warning("-Wpass-failed")
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#endif
#else
#define WEFT_PARALLEL_FOR
#define WEFT_SIMD
#endif
@parallel_for
WEFT_PARALLEL_FOR
@simd
WEFT_SIMD
@relu
($1 > 0.0f ? $1 : 0.0f)
@sigmoid
(1.0f / (1.0f + expf(-$1)))
@tanh
tanhf($1)
@exp
expf($1)
@relu6
fminf(fmaxf($1, 0.0f), 6.0f)
@clip
fminf(fmaxf($1, $2), $3)
@leaky_relu
($1 >= 0.0f ? $1 : $2 * $1)
@gelu
(0.5f * $1 * (1.0f + erff($1 * 0.707106781f)))
@add
($1 + $2)
@sub
($1 - $2)
@mul
($1 * $2)
@div
($1 / $2)
@max
fmaxf($1, $2)
@min
fminf($1, $2)
@sqrt
sqrtf($1)
@neg
(-$1)
@recip
(1.0f / $1)
@rsqrt
(1.0f / sqrtf($1))
