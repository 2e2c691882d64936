/* tests/unit/lower_test.c: lowering (ir/lower.c) checked against the reference interpreter.
 *
 * For every model in tests/run/ (*.weft) and examples/{dwsep,mlp}.weft: parse, infer, load
 * (pseudo-random) weights, lower, run the loop IR with ir_prog_eval and compare its outputs with
 * ir_reference on pseudo-random inputs. Also checks the Prog's structural invariants, that
 * lowering twice adds no tensors and dumps the same text (internal tensors are reused, the dump
 * is deterministic), and the dump of one known stage. Prints `ok FILE` or `FAIL FILE: ...` per model; exits 1 if any failed.
 * Runs from the repository root. Build: cc -std=c11 -I. tests/unit/lower_test.c <weft objects
 * but gen/main.o> -lm
 */
#define _POSIX_C_SOURCE 200809L
#include "ir/ir.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int nfailed;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The text of ir_prog_dump (malloc'd). */
static char *dump_text(const Prog *P)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		perror("open_memstream");
		exit(2);
	}
	ir_prog_dump(P, f);
	fclose(f);
	return buf;
}

static float **alloc_tensors(const Graph *g, const int *ids, int n)
{
	float **v = calloc((size_t)(n ? n : 1), sizeof *v);
	for (int i = 0; i < n; i++)
		v[i] = calloc((size_t)ir_numel(&g->tensors[ids[i]]) + 1, sizeof(float));
	return v;
}

static void free_tensors(float **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Whether e uses a variable that is not a loop of stage s. */
static bool uses_foreign(const Prog *P, const Stage *s, const Ix *e)
{
	for (int v = 0; v < P->nvars; v++) {
		bool mine = false;
		for (int i = 0; i < s->nloops; i++)
			mine |= s->loops[i] == v;
		if (!mine && ix_uses(e, v))
			return true;
	}
	return false;
}

static bool val_foreign(const Prog *P, const Stage *s, const Val *v)
{
	if (!v)
		return false;
	if (v->kind == V_LOAD)
		for (int d = 0; d < P->g->tensors[v->tensor].rank; d++)
			if (uses_foreign(P, s, v->idx[d]))
				return true;
	if (v->kind == V_INDEX && uses_foreign(P, s, v->ix))
		return true;
	return val_foreign(P, s, v->a) || val_foreign(P, s, v->b);
}

/* The invariants of an unscheduled Prog, or NULL: every loop's var belongs to its stage, names
   are unique within a stage, spatial loops come before reduction loops, only a stage's own
   loops appear in its indices, a store never uses a reduction var, and an update's init stage
   comes before it and stores the same tensor. */
static char *check_structure(const Prog *P)
{
	const Graph *g = P->g;
	for (int si = 0; si < P->nstages; si++) {
		const Stage *s = &P->stages[si];
		const char *sn = ir_fmt("%s.%s", g->tensors[g->ops[s->op].out].name, s->name);
		if (s->tensor < 0 || s->tensor >= g->ntensors || !s->val)
			return ir_fmt("%s: no store", sn);
		bool red = false;
		for (int i = 0; i < s->nloops; i++) {
			const Var *v = &P->vars[s->loops[i]];
			if (v->stage != si)
				return ir_fmt("%s: loop %s belongs to stage %d", sn, v->name, v->stage);
			if (red && !v->reduction)
				return ir_fmt("%s: spatial loop %s inside a reduction loop", sn, v->name);
			red |= v->reduction;
			for (int j = 0; j < i; j++)
				if (strcmp(P->vars[s->loops[j]].name, v->name) == 0)
					return ir_fmt("%s: two loops named %s", sn, v->name);
		}
		for (int d = 0; d < g->tensors[s->tensor].rank; d++) {
			if (!s->idx[d] || uses_foreign(P, s, s->idx[d]))
				return ir_fmt("%s: bad store index %d", sn, d);
			for (int i = 0; i < s->nloops; i++)
				if (P->vars[s->loops[i]].reduction && ix_uses(s->idx[d], s->loops[i]))
					return ir_fmt("%s: the store uses reduction loop %s", sn, P->vars[s->loops[i]].name);
		}
		for (int i = 0; i < s->nguards; i++)
			if (uses_foreign(P, s, s->guards[i].e))
				return ir_fmt("%s: guard %d uses another stage's var", sn, i);
		if (val_foreign(P, s, s->val))
			return ir_fmt("%s: the value uses another stage's var", sn);
		if ((s->accum != BIN_NONE) != (s->init_stage >= 0))
			return ir_fmt("%s: accumulates but has no init stage, or the reverse", sn);
		if (s->init_stage >= 0 && (s->init_stage >= si || P->stages[s->init_stage].tensor != s->tensor))
			return ir_fmt("%s: bad init stage %d", sn, s->init_stage);
		if (s->cache_at != -1 || s->at_stage != -1 || s->at_loop != -1 || s->folded || s->dead)
			return ir_fmt("%s: schedule state set by lowering", sn);
	}
	return NULL;
}

/* The failure message of model path, or NULL if it passes. */
static char *check_model(const char *path, char **dump)
{
	Source *src = ir_read_source(path);
	if (!src)
		return ir_fmt("cannot read");
	Graph *g = ir_parse(src);
	if (!g || !ir_infer(g) || !ir_load_weights(g, NULL))
		return ir_fmt("does not parse, infer or load");

	Prog *P = ir_lower(g);
	int ntensors = g->ntensors;
	char *bad = check_structure(P);
	if (bad)
		return bad;
	char *text = dump_text(P);
	Prog *P2 = ir_lower(g);
	char *text2 = dump_text(P2);
	char *err = NULL;
	if (g->ntensors != ntensors)
		err = ir_fmt("lowering again added %d tensors", g->ntensors - ntensors);
	else if (strcmp(text, text2) != 0)
		err = ir_fmt("lowering again dumps different text");
	free(text2);
	if (err) {
		free(text);
		return err;
	}
	*dump = text;

	float **in = alloc_tensors(g, g->inputs, g->ninputs);
	float **want = alloc_tensors(g, g->outputs, g->noutputs);
	float **got = alloc_tensors(g, g->outputs, g->noutputs);
	for (int i = 0; i < g->ninputs; i++)
		for (int64_t j = 0; j < ir_numel(&g->tensors[g->inputs[i]]); j++)
			in[i][j] = ir_random_value(1000 + (uint64_t)i, (uint64_t)j);
	ir_reference(g, (const float *const *)in, want);
	if (!ir_prog_eval(P, (const float *const *)in, got))
		err = ir_fmt("ir_prog_eval failed (see stderr)");
	for (int i = 0; i < g->noutputs && !err; i++) {
		const Tensor *t = &g->tensors[g->outputs[i]];
		for (int64_t j = 0; j < ir_numel(t); j++) {
			double w = want[i][j], v = got[i][j];
			if (!(fabs(v - w) <= 1e-6 + 1e-6 * fabs(w)) && !(isnan(v) && isnan(w))) {
				err = ir_fmt("output %s element %lld: got %.9g, want %.9g", t->name, (long long)j, v, w);
				break;
			}
		}
	}
	free_tensors(in, g->ninputs);
	free_tensors(want, g->noutputs);
	free_tensors(got, g->noutputs);
	return err;
}

static void run_model(const char *path)
{
	char *dump = NULL;
	char *err = check_model(path, &dump);
	/* One stage's text, as a check on the dump's form. */
	if (!err && strcmp(path, "examples/mlp.weft") == 0) {
		const char *want = "stage 1 h.update (op 0: dense, init stage 0):\n"
			"\tfor m<8 n<256 | k<784\n";
		if (!strstr(dump, want))
			err = ir_fmt("dump lacks \"%s\"; dump:\n%s", want, dump);
	}
	free(dump);
	if (err) {
		printf("FAIL %s: %s\n", path, err);
		nfailed++;
	} else {
		printf("ok %s\n", path);
	}
	fflush(stdout);
}

int main(void)
{
	char *paths[1024];
	int n = 0;
	DIR *d = opendir("tests/run");
	if (!d) {
		perror("tests/run");
		return 2;
	}
	struct dirent *e;
	while ((e = readdir(d)) && n < 1024) {
		size_t len = strlen(e->d_name);
		if (len > 5 && strcmp(e->d_name + len - 5, ".weft") == 0)
			paths[n++] = ir_fmt("tests/run/%s", e->d_name);
	}
	closedir(d);
	qsort(paths, (size_t)n, sizeof *paths, cmp_str);
	paths[n++] = "examples/mlp.weft";
	paths[n++] = "examples/dwsep.weft";
	/* Not examples/block.weft: its 0.46 GFLOP take minutes in this double interpreter under the
	   sanitizers; the run tests verify it. */
	for (int i = 0; i < n; i++)
		run_model(paths[i]);
	if (nfailed)
		printf("%d of %d models failed\n", nfailed, n);
	return nfailed ? 1 : 0;
}
