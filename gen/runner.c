/* gen/runner.c: raw f32 files, and building and running generated code (run, verify, fuzz).
 *
 * Data files are raw little-endian f32, read and written portably whatever the host byte order.
 * run and verify write NAME.h, NAME.c and a harness into a private temporary directory, compile
 * them with $CC (plus $WEFT_CFLAGS) and run the program there; the directory is removed at the
 * end, or on an interrupt while a child runs, unless WEFT_KEEP=1.
 * Cross checks need no shell: $CC may name a cross compiler ("aarch64-linux-gnu-gcc"), and
 * $WEFT_EXEC, split on blanks like $CC ("qemu-aarch64 -L /usr/aarch64-linux-gnu"), is put in
 * front of every generated program's argument vector (run, verify and fuzz).
 */
#include "gen.h"
#include "../tune/tune.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- raw f32 files ---- */

void gen_write_le_floats(unsigned char *dst, const float *src, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &src[i], 4);
		for (int k = 0; k < 4; k++)
			dst[4 * i + k] = (unsigned char)(u >> (8 * k));
	}
}

static void read_le_floats(float *dst, const unsigned char *src, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		uint32_t u = 0;
		for (int k = 0; k < 4; k++)
			u |= (uint32_t)src[4 * i + k] << (8 * k);
		memcpy(&dst[i], &u, 4);
	}
}

float *gen_read_f32_file(const char *path, int64_t n, const char *what)
{
	char *data;
	size_t len;
	if (!ir_read_file(path, &data, &len)) {
		error_plain("%s: cannot read %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if ((int64_t)len != n * 4) {
		error_plain("%s: %s has %zu bytes, expected %lld (%lld f32 values)", what, path, len,
		            (long long)(n * 4), (long long)n);
		free(data);
		return NULL;
	}
	float *v = ir_xrealloc(NULL, (size_t)n * sizeof(float) + 1);
	read_le_floats(v, (const unsigned char *)data, n);
	free(data);
	return v;
}

static bool write_whole_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	bool ok = fwrite(data, 1, len, f) == len;
	ok &= fclose(f) == 0;
	return ok;
}

bool gen_write_f32_file(const char *path, const float *v, int64_t n)
{
	unsigned char *bytes = ir_xrealloc(NULL, (size_t)n * 4 + 1);
	gen_write_le_floats(bytes, v, n);
	bool ok = write_whole_file(path, bytes, (size_t)n * 4);
	free(bytes);
	if (!ok)
		error_plain("cannot write %s: %s", path, strerror(errno));
	return ok;
}

bool gen_write_host_floats(const char *path, const float *v, int64_t n)
{
	bool ok = write_whole_file(path, v, (size_t)n * sizeof *v);
	if (!ok)
		error_plain("cannot write %s: %s", path, strerror(errno));
	return ok;
}

bool gen_publish_outputs(int n, const char *const *what, const char *const *paths,
                         float *const *data, const int64_t *numel)
{
	char **tmp = ir_alloc(sizeof(char *) * (size_t)(n + 1));
	bool ok = true;
	mode_t mask = umask(0);
	umask(mask);
	for (int i = 0; i < n && ok; i++) {
		tmp[i] = ir_fmt("%s.weft-XXXXXX", paths[i]);
		int fd = mkstemp(tmp[i]);
		if (fd < 0) {
			error_plain("%s: cannot write %s: %s", what[i], paths[i], strerror(errno));
			tmp[i] = NULL;
			ok = false;
			break;
		}
		fchmod(fd, 0666 & ~mask); /* what fopen would have made, not mkstemp's 0600 */
		close(fd);
		size_t len = (size_t)numel[i] * 4;
		unsigned char *bytes = ir_xrealloc(NULL, len + 1);
		gen_write_le_floats(bytes, data[i], numel[i]);
		if (!write_whole_file(tmp[i], bytes, len)) {
			error_plain("%s: cannot write %s: %s", what[i], paths[i], strerror(errno));
			ok = false;
		}
		free(bytes);
	}
	for (int i = 0; i < n && ok; i++)
		if (rename(tmp[i], paths[i]) != 0) {
			error_plain("%s: cannot write %s: %s", what[i], paths[i], strerror(errno));
			ok = false;
		}
	if (!ok)
		for (int i = 0; i < n; i++)
			if (tmp[i])
				unlink(tmp[i]);
	return ok;
}

float **gen_random_inputs(const Graph *g, uint64_t seed)
{
	float **in = ir_alloc(sizeof(float *) * (size_t)(g->ninputs + 1));
	for (int i = 0; i < g->ninputs; i++) {
		int64_t n = ir_numel(&g->tensors[g->inputs[i]]);
		in[i] = ir_xrealloc(NULL, sizeof(float) * (size_t)n + 1);
		for (int64_t j = 0; j < n; j++)
			in[i][j] = ir_random_value(seed * 1000003u + (uint64_t)i, (uint64_t)j);
	}
	return in;
}

float **gen_reference_outputs(const Graph *g, const float *const *in)
{
	float **want = ir_alloc(sizeof(float *) * (size_t)(g->noutputs + 1));
	for (int i = 0; i < g->noutputs; i++)
		want[i] = ir_xrealloc(NULL, sizeof(float) * (size_t)ir_numel(&g->tensors[g->outputs[i]]) + 1);
	ir_reference(g, in, want);
	return want;
}

/* ---- the C compiler ---- */

void gen_append_words(char ***argv, int *n, int *cap, const char *s)
{
	while (s && *s) {
		while (*s == ' ' || *s == '\t')
			s++;
		const char *start = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (s == start)
			break;
		if (*n + 2 >= *cap)
			*argv = ir_xrealloc(*argv, sizeof(char *) * (size_t)(*cap *= 2));
		(*argv)[(*n)++] = ir_strndup(start, (size_t)(s - start));
	}
}

char **gen_cc_argv(const char *flags, int *n, int *cap)
{
	int ncc;
	char **cc = tune_cc_argv(&ncc);
	*cap = 64;
	char **argv = ir_xrealloc(NULL, sizeof(char *) * (size_t)*cap);
	for (int i = 0; i < ncc; i++)
		argv[i] = ir_strdup(cc[i]), free(cc[i]);
	free(cc);
	*n = ncc;
	gen_append_words(&argv, n, cap, flags);
	gen_append_words(&argv, n, cap, getenv("WEFT_CFLAGS"));
	return argv;
}

void gen_show_file(const char *path)
{
	char *data;
	size_t len;
	if (ir_read_file(path, &data, &len)) {
		fwrite(data, 1, len, stderr);
		free(data);
	}
}

/* Write NAME.h, NAME.c and a harness into dir and compile them; the program's path or NULL. */
static char *build_program(const Graph *g, const Prog *P, const GenOptions *go, const char *dir)
{
	Buf h = {0}, c = {0}, hc = {0};
	gen_model(g, P, go, &h, &c);
	if (ir_nerrors > 0)
		return NULL;
	gen_harness(g, &hc);
	const char *names[] = {ir_fmt("%s.h", g->name), ir_fmt("%s.c", g->name), "weft_harness.c"};
	const Buf *bufs[] = {&h, &c, &hc};
	bool ok = gen_write_files(dir, 3, names, bufs);
	buf_free(&h);
	buf_free(&c);
	buf_free(&hc);
	if (!ok)
		return NULL;

	int n, cap;
	const char *tf = tune_target_flags(go->target ? go->target : "native");
	char **argv = gen_cc_argv(ir_fmt("-O2 -std=c99 %s", tf ? tf : ""), &n, &cap);
	char *prog = ir_fmt("%s/weft_prog", dir);
	const char *rest[] = {"-I", dir, "-o", prog, ir_fmt("%s/%s", dir, names[1]),
	                      ir_fmt("%s/weft_harness.c", dir), "-lm"};
	for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
		if (n + 2 >= cap)
			argv = ir_xrealloc(argv, sizeof(char *) * (size_t)(cap *= 2));
		argv[n++] = (char *)rest[i];
	}
	argv[n] = NULL;
	char *log = ir_fmt("%s/weft_cc.log", dir);
	int rc = tune_run_log(argv, 0, log); /* no limit: a big model compiles for minutes */
	if (rc != 0) {
		if (rc > 0) {
			gen_show_file(log);
			error_plain("the C compiler (%s) failed on the generated code (exit status %d)",
			            argv[0], rc);
		}
		prog = NULL;
	}
	free(argv);
	return prog;
}

char **gen_exec_argv(char *const *prog_argv)
{
	int n = 0, cap = 16;
	char **argv = ir_xrealloc(NULL, sizeof(char *) * (size_t)cap);
	gen_append_words(&argv, &n, &cap, getenv("WEFT_EXEC"));
	for (int i = 0; prog_argv[i]; i++) {
		if (n + 2 >= cap)
			argv = ir_xrealloc(argv, sizeof(char *) * (size_t)(cap *= 2));
		argv[n++] = prog_argv[i];
	}
	argv[n] = NULL;
	return argv;
}

/* Run the program with the inputs' and then the outputs' paths. */
static bool run_program(const Graph *g, const char *prog, char **in_paths, char **out_paths)
{
	int n = 0;
	char **prog_argv = ir_alloc(sizeof(char *) * (size_t)(g->ninputs + g->noutputs + 2));
	prog_argv[n++] = (char *)prog;
	for (int i = 0; i < g->ninputs; i++)
		prog_argv[n++] = in_paths[i];
	for (int i = 0; i < g->noutputs; i++)
		prog_argv[n++] = out_paths[i];
	prog_argv[n] = NULL;
	char **argv = gen_exec_argv(prog_argv);
	int rc = tune_run(argv, 0, false);
	free(argv);
	if (rc != 0) {
		if (rc > 0)
			error_plain("the generated program failed (exit status %d)", rc);
		return false;
	}
	return true;
}

/* ---- the temporary directory ---- */

static char *active_tmpdir;

void gen_finish_tmpdir(void)
{
	const char *keep = getenv("WEFT_KEEP");
	if (!active_tmpdir)
		return;
	if (keep && !strcmp(keep, "1"))
		fprintf(stderr, "weft: note: kept the temporary directory %s\n", active_tmpdir);
	else
		tune_remove_tmpdir(active_tmpdir);
	free(active_tmpdir);
	active_tmpdir = NULL;
}

char *gen_make_tmpdir(void)
{
	active_tmpdir = tune_make_tmpdir();
	tune_on_interrupt = gen_finish_tmpdir;
	return active_tmpdir;
}

bool gen_run_generated(const Graph *g, const Prog *P, const GenOptions *go, const char *dir,
                       char **in_paths, float **out)
{
	char **out_paths = ir_alloc(sizeof(char *) * (size_t)(g->noutputs + 1));
	for (int i = 0; i < g->noutputs; i++)
		out_paths[i] = ir_fmt("%s/weft_out%d.bin", dir, i);
	char *prog = build_program(g, P, go, dir);
	if (!prog || !run_program(g, prog, in_paths, out_paths))
		return false;
	for (int i = 0; i < g->noutputs; i++) {
		const Tensor *t = &g->tensors[g->outputs[i]];
		out[i] = gen_read_f32_file(out_paths[i], ir_numel(t), ir_fmt("output %s", t->name));
		if (!out[i])
			return false;
	}
	return true;
}

/* ---- comparing with the reference ---- */

enum { MAX_SHOWN_MISMATCHES = 5 };

/* Within tolerance; equal infinities match, and NaN matches only NaN (a model that divides zero
   by zero gives NaN in the reference too). */
bool gen_close(double got, double want)
{
	if (isnan(want) || isnan(got))
		return isnan(want) && isnan(got);
	return got == want || fabs(got - want) <= 1e-4 + 1e-4 * fabs(want);
}

bool gen_compare_output(const Tensor *t, const float *got, const float *want)
{
	int64_t n = ir_numel(t), bad = 0;
	double max_abs = 0, max_rel = 0;
	for (int64_t i = 0; i < n; i++) {
		double gv = got[i], wv = want[i], d = fabs(gv - wv);
		if (!isnan(d)) {
			if (d > max_abs)
				max_abs = d;
			if (wv != 0 && d / fabs(wv) > max_rel)
				max_rel = d / fabs(wv);
		}
		if (!gen_close(gv, wv) && bad++ < MAX_SHOWN_MISMATCHES) {
			if (bad == 1)
				printf("%s: mismatches (index: got, want):\n", t->name);
			printf("  %s[%lld]: got %.9g, want %.9g\n", t->name, (long long)i, gv, wv);
		}
	}
	printf("%s: %lld elements, max abs err %.2g, max rel err %.2g: ", t->name, (long long)n,
	       max_abs, max_rel);
	if (bad)
		printf("FAIL (%lld mismatches)\n", (long long)bad);
	else
		printf("ok\n");
	return bad == 0;
}
