/* ir/weights.c: the values of a model's params.
 *
 * Every param gets an element offset into one float array, in declaration order (g->params),
 * each row-major with nothing between: the layout of the blob a `weights "PATH"` statement or
 * `--weights FILE` names (raw little-endian f32, read portably whatever the host's byte order).
 * Without a blob the params get deterministic pseudo-random values from integer hashing, the same
 * on every machine, scaled so that deep networks stay numerically sane (see init_range).
 * Assumes ir_infer has run (params have their dims; op arguments are known).
 */
#include "ir.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { WEIGHT_SEED = 0x77656674 }; /* "weft": the stream of pseudo-random param values */

/* splitmix64's finaliser: a bijective mix of 64 bits with good avalanche. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Value i of stream seed: the top 24 bits of a hash, so every value is exactly k/2^23 - 1,
   a float in [-1, 1), independent of the host's floating-point rounding. */
float ir_random_value(uint64_t seed, uint64_t i)
{
	uint64_t h = mix64(mix64(seed + 0x9e3779b97f4a7c15ull) + i * 0x9e3779b97f4a7c15ull);
	int32_t k = (int32_t)(h >> 40); /* 0 .. 2^24-1 */
	return (float)(k - (1 << 23)) / (float)(1 << 23);
}

static int64_t tensor_numel(const Tensor *t)
{
	int64_t n = 1;
	for (int d = 0; d < t->rank; d++)
		n *= t->dims[d];
	return n;
}

/* Offsets in declaration order; returns the total number of floats. */
static int64_t assign_offsets(Graph *g)
{
	int64_t off = 0;
	for (int i = 0; i < g->nparams; i++) {
		Tensor *t = &g->tensors[g->params[i]];
		t->param_offset = off;
		off += tensor_numel(t);
	}
	return off;
}

/* ---- the blob ---- */

static float load_le_f32(const unsigned char *p)
{
	uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static bool load_blob(Graph *g, const char *path, bool from_model, int64_t nfloats)
{
	char *data;
	size_t len;
	if (!ir_read_file(path, &data, &len)) {
		if (from_model)
			error_at(g->weights_loc, "cannot read weights %s: %s", path, strerror(errno));
		else
			error_plain("cannot read weights %s: %s", path, strerror(errno));
		return false;
	}
	uint64_t want = (uint64_t)nfloats * 4;
	if ((uint64_t)len != want) {
		const char *extra = len % 4 ? ir_fmt(" and %zu byte%s", len % 4, len % 4 == 1 ? "" : "s") : "";
		const char *msg = ir_fmt("weights %s has %zu bytes (%zu floats%s) but the %d params of "
		                         "model %s need exactly %llu bytes (%lld floats)",
		                         path, len, len / 4, extra, g->nparams, g->name,
		                         (unsigned long long)want, (long long)nfloats);
		if (from_model)
			error_at(g->weights_loc, "%s", msg);
		else
			error_plain("%s", msg);
		free(data);
		return false;
	}
	g->weights = malloc((size_t)(nfloats ? nfloats : 1) * sizeof(float));
	if (!g->weights)
		die("out of memory (%lld weights)", (long long)nfloats);
	for (int64_t i = 0; i < nfloats; i++)
		g->weights[i] = load_le_f32((const unsigned char *)data + 4 * i);
	free(data);
	g->nweights = nfloats;
	g->random_weights = false;
	return true;
}

/* ---- pseudo-random values ---- */

/* The rule for pseudo-random params. Deep networks must neither explode nor vanish, and above
   all their outputs must still depend on their inputs, or comparing generated code with the
   reference would pass whatever the early layers compute:
   - a param used as batchnorm scale (argument 1) or var (argument 4), or as layernorm gamma
     (argument 1): uniform in [0.5, 1.5] (a var must be positive; a scale near 1 keeps the
     normalised values at unit size);
   - otherwise rank >= 2 (conv and dense weights): uniform in [-a, a], a = sqrt(3/fan_in) with
     fan_in = the product of dims[1:]: variance 1/fan_in, so a layer keeps its input's variance
     (LeCun). With a = 1/sqrt(fan_in) (a third of that variance) every conv shrinks the signal
     by ~1/sqrt(3); through MobileNetV2's 52 convs the logits for two different random inputs
     then agree to 1e-8, and through ResNet-18's 20 convs they differ by 2% only;
     with sqrt(3/fan_in) they differ by 4-5% and stay of order 0.1 to 10;
   - otherwise (biases, batchnorm bias and mean, rank-1 params): uniform in [-0.1, 0.1].
   Value j of a param is drawn from stream WEIGHT_SEED at index param_offset + j, so each value
   depends only on its position in the blob layout. */
typedef struct Range {
	double center, half; /* values are center + half * u, u uniform in [-1, 1) */
} Range;

static bool near_one_role(const Graph *g, int tid)
{
	for (int i = 0; i < g->nops; i++) {
		const Op *op = &g->ops[i];
		if (op->kind == OP_BATCHNORM && op->nargs == 5 && (op->args[1] == tid || op->args[4] == tid))
			return true;
		if (op->kind == OP_LAYERNORM && op->nargs == 3 && op->args[1] == tid)
			return true;
	}
	return false;
}

static Range init_range(const Graph *g, int tid)
{
	const Tensor *t = &g->tensors[tid];
	if (near_one_role(g, tid))
		return (Range){1.0, 0.5};
	if (t->rank >= 2) {
		int64_t fan_in = 1;
		for (int d = 1; d < t->rank; d++)
			fan_in *= t->dims[d];
		return (Range){0.0, sqrt(3.0 / (double)fan_in)};
	}
	return (Range){0.0, 0.1};
}

static void fill_random(Graph *g, int64_t nfloats)
{
	g->weights = malloc((size_t)(nfloats ? nfloats : 1) * sizeof(float));
	if (!g->weights)
		die("out of memory (%lld weights)", (long long)nfloats);
	for (int i = 0; i < g->nparams; i++) {
		int tid = g->params[i];
		const Tensor *t = &g->tensors[tid];
		Range r = init_range(g, tid);
		int64_t n = tensor_numel(t);
		for (int64_t j = 0; j < n; j++) {
			uint64_t at = (uint64_t)(t->param_offset + j);
			g->weights[t->param_offset + j] = (float)(r.center + r.half * ir_random_value(WEIGHT_SEED, at));
		}
	}
	g->nweights = nfloats;
	g->random_weights = g->nparams > 0;
	if (g->nparams > 0)
		fprintf(stderr, "weft: note: %s has no weights; using deterministic pseudo-random values "
		                "(for benchmarking and tuning only)\n", g->name);
}

bool ir_load_weights(Graph *g, const char *path_override)
{
	free(g->weights);
	g->weights = NULL;
	g->nweights = 0;
	int64_t nfloats = assign_offsets(g);
	if (path_override)
		return load_blob(g, path_override, false, nfloats);
	if (g->weights_path)
		return load_blob(g, g->weights_path, true, nfloats);
	fill_random(g, nfloats);
	return true;
}
