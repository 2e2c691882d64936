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

/* One pragma on the outermost independent loop of a kernel; nothing without -fopenmp, so that
   compilers without OpenMP see no unknown pragma. */
#ifdef _OPENMP
#define WEFT_PARALLEL_FOR _Pragma("omp parallel for")
#else
#define WEFT_PARALLEL_FOR
#endif
@parallel_for
WEFT_PARALLEL_FOR
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
@rsqrt
(1.0f / sqrtf($1))
