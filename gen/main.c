/* gen/main.c: the weft command line (spec: "The command line, version 1" in model-format.md).
 *
 * Parses the arguments, runs the one flat pass list (parse -> infer -> weights -> plan) and then
 * the command: check prints a summary, gen writes the C files, run and verify compile the
 * generated C with a harness in a private temporary directory and run it, ref runs the reference
 * interpreter. Exit status: 0 success, 1 a user error (bad model, bad files), 2 bad usage.
 * Data files are raw little-endian f32, read and written portably whatever the host byte order.
 */
#include "gen.h"
#include "../tune/tune.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_USER = 1, EXIT_USAGE = 2 };

static const char *const targets[] = {"native", "avx512", "avx2", "sse", "neon", "scalar"};

/* NAME=FILE from --in or --out. */
typedef struct Binding {
	const char *name;
	const char *path;
	int tensor; /* tensor id, once checked against the model */
} Binding;

typedef struct Options {
	const char *command;
	const char *model;
	const char *outdir;   /* gen: -o DIR */
	const char *target;   /* default native */
	const char *schedule; /* --schedule LOG (not supported yet) */
	const char *weights;  /* --weights FILE */
	const char *log;      /* tune: --log LOG */
	bool print_schedule;
	uint64_t seed;        /* verify: --seed N */
	Binding *ins, *outs;
	int nins, nouts;
	unsigned dump;        /* bit i: dump the graph after passes[i] */
} Options;

/* ---- usage ---- */

static const char usage_text[] =
	"usage: weft check MODEL [--weights FILE]\n"
	"       weft gen MODEL -o DIR [--target T] [--weights FILE]\n"
	"       weft run MODEL --in NAME=FILE ... --out NAME=FILE ... [--target T] [--weights FILE]\n"
	"       weft verify MODEL [--seed N] [--target T] [--weights FILE]\n"
	"       weft ref MODEL --in NAME=FILE ... --out NAME=FILE ... [--weights FILE]\n"
	"       weft --help | --version\n";

static const char help_text[] =
	"weft: compiles a neural network model (.weft) into self-contained C99.\n"
	"\n"
	"commands:\n"
	"  check MODEL         parse the model, infer shapes, load weights and plan memory; report\n"
	"                      every error, or print a summary (ops, params, FLOPs, workspace)\n"
	"  gen MODEL -o DIR    write DIR/NAME.h and DIR/NAME.c (DIR must exist); nothing is written\n"
	"                      when there is any error\n"
	"  run MODEL --in NAME=FILE ... --out NAME=FILE ...\n"
	"                      generate, compile with $CC (default cc; extra flags from $WEFT_CFLAGS),\n"
	"                      run once on the inputs, write the chosen outputs; every input must be\n"
	"                      given; files are raw little-endian f32 of the declared size\n"
	"  verify MODEL        run the generated code on pseudo-random inputs and compare every output\n"
	"                      with the reference interpreter (|got-want| <= 1e-4 + 1e-4*|want|)\n"
	"  ref MODEL --in NAME=FILE ... --out NAME=FILE ...\n"
	"                      like run, with the reference interpreter instead of generated code\n"
	"  tune MODEL --log LOG [--trials N] [--time SECONDS]\n"
	"                      measure schedules (not implemented yet)\n"
	"  help                this text\n"
	"\n"
	"options:\n"
	"  -o DIR              gen: the output directory\n"
	"  --target T          native (default), avx512, avx2, sse, neon or scalar; for now every\n"
	"                      target gets portable scalar code\n"
	"  --weights FILE      the params' values (raw little-endian f32, declaration order), instead\n"
	"                      of the model's weights statement\n"
	"  --seed N            verify: the seed of the random inputs (default 1)\n"
	"  --schedule LOG, --print-schedule\n"
	"                      not supported yet\n"
	"  -d PASS             dump the graph on stderr after PASS: parse, infer, weights or plan\n"
	"  --help, --version\n"
	"\n"
	"environment: CC, WEFT_CFLAGS, TMPDIR; WEFT_KEEP=1 keeps run's and verify's temporary directory.\n"
	"exit status: 0 success, 1 an error in the model or the files, 2 bad usage.\n";

static _Noreturn void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("weft: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	fputs("try 'weft --help' for more\n", stderr);
	exit(EXIT_USAGE);
}

/* ---- the pass list ---- */

typedef struct Pass {
	const char *name;
	bool (*run)(Graph **g, const Options *o); /* false when it reported errors */
} Pass;

static bool pass_parse(Graph **g, const Options *o)
{
	Source *src = ir_read_source(o->model);
	if (!src)
		return false;
	*g = ir_parse(src);
	return *g != NULL;
}

static bool pass_infer(Graph **g, const Options *o) { return ir_infer(*g); }
static bool pass_weights(Graph **g, const Options *o) { return ir_load_weights(*g, o->weights); }
static bool pass_plan(Graph **g, const Options *o) { ir_plan(*g); return true; }

static const Pass passes[] = {
	{"parse", pass_parse},
	{"infer", pass_infer},
	{"weights", pass_weights},
	{"plan", pass_plan},
};
enum { NPASSES = sizeof passes / sizeof passes[0] };

/* Run every pass; stop at the first that reported an error. NULL then. */
static Graph *compile_model(const Options *o)
{
	Graph *g = NULL;
	for (int i = 0; i < NPASSES; i++) {
		if (!passes[i].run(&g, o) || ir_nerrors > 0)
			return NULL;
		if (o->dump & (1u << i)) {
			fprintf(stderr, "## after %s\n", passes[i].name);
			ir_dump(g, stderr);
		}
	}
	return g;
}

/* ---- small helpers ---- */

static void format_shape(const Tensor *t, char *buf, size_t size)
{
	int n = snprintf(buf, size, "f32[");
	for (int i = 0; i < t->rank && n < (int)size; i++)
		n += snprintf(buf + n, size - (size_t)n, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
	if (n < (int)size)
		snprintf(buf + n, size - (size_t)n, "]");
}

static int64_t tensor_bytes(const Tensor *t) { return ir_numel(t) * 4; }

static char *path_join(const char *dir, const char *name) { return ir_fmt("%s/%s", dir, name); }

static void write_le_floats(unsigned char *dst, const float *src, int64_t n)
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

/* Read a raw f32 file of exactly n floats; NULL (with an error) otherwise. */
static float *read_f32_file(const char *path, int64_t n, const char *what)
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
	float *v = ir_xrealloc(NULL, (size_t)n * sizeof(float));
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

/* Write every output file at once: each to a temporary name beside it, then all renamed into
   place, so an error leaves no partial output. */
static bool publish_outputs(int n, Binding *outs, float *const *data, const int64_t *numel)
{
	char **tmp = ir_alloc(sizeof(char *) * (size_t)(n + 1));
	bool ok = true;
	mode_t mask = umask(0);
	umask(mask);
	for (int i = 0; i < n && ok; i++) {
		tmp[i] = ir_fmt("%s.weft-XXXXXX", outs[i].path);
		int fd = mkstemp(tmp[i]);
		if (fd < 0) {
			error_plain("--out %s: cannot write %s: %s", outs[i].name, outs[i].path, strerror(errno));
			tmp[i] = NULL;
			ok = false;
			break;
		}
		fchmod(fd, 0666 & ~mask); /* what fopen would have made, not mkstemp's 0600 */
		close(fd);
		size_t len = (size_t)numel[i] * 4;
		unsigned char *bytes = ir_xrealloc(NULL, len);
		write_le_floats(bytes, data[i], numel[i]);
		if (!write_whole_file(tmp[i], bytes, len)) {
			error_plain("--out %s: cannot write %s: %s", outs[i].name, outs[i].path, strerror(errno));
			ok = false;
		}
		free(bytes);
	}
	for (int i = 0; i < n && ok; i++)
		if (rename(tmp[i], outs[i].path) != 0) {
			error_plain("--out %s: cannot write %s: %s", outs[i].name, outs[i].path, strerror(errno));
			ok = false;
		}
	if (!ok)
		for (int i = 0; i < n; i++)
			if (tmp[i])
				unlink(tmp[i]);
	return ok;
}

/* ---- checking --in and --out against the model ---- */

static const char *tensor_list(const Graph *g, const int *ids, int n)
{
	char *s = "";
	for (int i = 0; i < n; i++)
		s = ir_fmt("%s%s%s", s, i ? ", " : "", g->tensors[ids[i]].name);
	return s;
}

/* Each input bound exactly once, to a file of the right size. */
static bool bind_inputs(const Graph *g, Options *o)
{
	bool ok = true;
	int *given = ir_alloc(sizeof(int) * (size_t)(g->ntensors + 1));
	for (int i = 0; i < o->nins; i++) {
		Binding *b = &o->ins[i];
		int t = ir_find_tensor(g, b->name);
		if (t < 0 || g->tensors[t].kind != TENSOR_INPUT) {
			error_plain("--in %s: the model has no input %s (inputs: %s)", b->name, b->name,
			            tensor_list(g, g->inputs, g->ninputs));
			ok = false;
			continue;
		}
		b->tensor = t;
		if (given[t]++) {
			error_plain("--in %s: given more than once", b->name);
			ok = false;
			continue;
		}
		const Tensor *tt = &g->tensors[t];
		char shape[160];
		format_shape(tt, shape, sizeof shape);
		struct stat st;
		if (stat(b->path, &st) != 0) {
			error_plain("--in %s: cannot read %s: %s", b->name, b->path, strerror(errno));
			ok = false;
		} else if (!S_ISREG(st.st_mode) || st.st_size != tensor_bytes(tt)) {
			error_plain("--in %s: %s must hold %lld bytes (%s %s, raw f32) but has %lld", b->name,
			            b->path, (long long)tensor_bytes(tt), tt->name, shape,
			            (long long)st.st_size);
			ok = false;
		}
	}
	for (int i = 0; i < g->ninputs; i++) {
		const Tensor *tt = &g->tensors[g->inputs[i]];
		if (!given[g->inputs[i]]) {
			char shape[160];
			format_shape(tt, shape, sizeof shape);
			error_plain("input %s (%s) is not given: add --in %s=FILE", tt->name, shape, tt->name);
			ok = false;
		}
	}
	return ok;
}

static bool bind_outputs(const Graph *g, Options *o)
{
	bool ok = true;
	int *given = ir_alloc(sizeof(int) * (size_t)(g->ntensors + 1));
	for (int i = 0; i < o->nouts; i++) {
		Binding *b = &o->outs[i];
		int t = ir_find_tensor(g, b->name);
		if (t < 0 || g->tensors[t].output_index < 0) {
			error_plain("--out %s: the model has no output %s (outputs: %s)", b->name, b->name,
			            tensor_list(g, g->outputs, g->noutputs));
			ok = false;
			continue;
		}
		b->tensor = t;
		if (given[t]++) {
			error_plain("--out %s: given more than once", b->name);
			ok = false;
		}
	}
	return ok;
}

/* ---- check ---- */

static void print_tensors(const Graph *g, const char *what, const int *ids, int n)
{
	for (int i = 0; i < n; i++) {
		char shape[160];
		format_shape(&g->tensors[ids[i]], shape, sizeof shape);
		printf("%-7s %s: %s\n", what, g->tensors[ids[i]].name, shape);
	}
}

static void print_workspace(const Graph *g)
{
	printf("workspace: %lld bytes", (long long)g->workspace_bytes);
	if (g->intermediate_bytes == 0)
		printf(" (no intermediates)\n");
	else if (g->workspace_bytes == 0)
		printf(" (peak 0, all intermediates %lld: all views of inputs or params)\n",
		       (long long)g->intermediate_bytes);
	else
		printf(" (peak %lld, all intermediates %lld: %.1fx saved)\n", (long long)g->peak_bytes,
		       (long long)g->intermediate_bytes,
		       (double)g->intermediate_bytes / (double)g->workspace_bytes);
}

static int cmd_check(Options *o)
{
	Graph *g = compile_model(o);
	if (!g)
		return EXIT_USER;
	printf("model %s\n", g->name);
	print_tensors(g, "input", g->inputs, g->ninputs);
	print_tensors(g, "output", g->outputs, g->noutputs);
	int count[OP_COUNT] = {0};
	for (int i = 0; i < g->nops; i++)
		count[g->ops[i].kind]++;
	printf("ops: %d", g->nops);
	const char *sep = " (";
	for (int k = 0; k < OP_COUNT; k++)
		if (count[k]) {
			printf("%s%s %d", sep, ir_ops[k].name, count[k]);
			sep = ", ";
		}
	printf("%s\n", g->nops ? ")" : "");
	int64_t nvalues = 0;
	for (int i = 0; i < g->nparams; i++)
		nvalues += ir_numel(&g->tensors[g->params[i]]);
	printf("params: %d tensors, %lld values, %lld bytes%s\n", g->nparams, (long long)nvalues,
	       (long long)(nvalues * 4), g->random_weights ? " (pseudo-random values)" : "");
	printf("flops: %.3f GFLOP (%.0f)\n", ir_graph_flops(g) / 1e9, ir_graph_flops(g));
	print_workspace(g);
	return 0;
}

/* ---- generating and building ---- */

static bool check_schedule_options(const Options *o)
{
	if (o->schedule) {
		error_plain("--schedule: schedules are not supported yet");
		return false;
	}
	if (o->print_schedule) {
		error_plain("--print-schedule: schedules are not supported yet");
		return false;
	}
	return true;
}

/* For now every target gets the portable scalar code; say so instead of pretending. */
static GenOptions gen_options(const Options *o)
{
	if (strcmp(o->target, "scalar") != 0)
		fprintf(stderr,
		        "weft: note: target %s: SIMD kernels are not implemented yet; writing portable "
		        "scalar code\n",
		        o->target);
	return (GenOptions){.target = "scalar"};
}

static int cmd_gen(Options *o)
{
	struct stat st;
	if (stat(o->outdir, &st) != 0) {
		error_plain("-o %s: %s (the output directory must exist)", o->outdir, strerror(errno));
		return EXIT_USER;
	}
	if (!S_ISDIR(st.st_mode)) {
		error_plain("-o %s: not a directory", o->outdir);
		return EXIT_USER;
	}
	if (!check_schedule_options(o))
		return EXIT_USER;
	Graph *g = compile_model(o);
	if (!g)
		return EXIT_USER;
	GenOptions go = gen_options(o);
	Buf h = {0}, c = {0};
	gen_model(g, NULL, &go, &h, &c);
	if (ir_nerrors > 0)
		return EXIT_USER;
	const char *names[] = {ir_fmt("%s.h", g->name), ir_fmt("%s.c", g->name)};
	const Buf *bufs[] = {&h, &c};
	bool ok = gen_write_files(o->outdir, 2, names, bufs);
	buf_free(&h);
	buf_free(&c);
	return ok ? 0 : EXIT_USER;
}

/* Append the blank-separated words of s to argv. */
static void append_words(char ***argv, int *n, int *cap, const char *s)
{
	while (s && *s) {
		while (*s == ' ' || *s == '\t')
			s++;
		const char *start = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (s == start)
			break;
		if (*n + 1 >= *cap)
			*argv = ir_xrealloc(*argv, sizeof(char *) * (size_t)(*cap *= 2));
		(*argv)[(*n)++] = ir_strndup(start, (size_t)(s - start));
	}
}

static void show_file(const char *path)
{
	char *data;
	size_t len;
	if (ir_read_file(path, &data, &len)) {
		fwrite(data, 1, len, stderr);
		free(data);
	}
}

/* Write NAME.h, NAME.c and a harness into dir and compile them; the program's path or NULL. */
static char *build_program(const Graph *g, const Options *o, const char *dir)
{
	GenOptions go = gen_options(o);
	Buf h = {0}, c = {0}, hc = {0};
	gen_model(g, NULL, &go, &h, &c);
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

	int n, ncc, cap = 64;
	char **cc = tune_cc_argv(&ncc);
	n = ncc;
	char **argv = ir_xrealloc(NULL, sizeof(char *) * (size_t)cap);
	for (int i = 0; i < n; i++)
		argv[i] = cc[i];
	append_words(&argv, &n, &cap, "-O2 -std=c99");
	append_words(&argv, &n, &cap, getenv("WEFT_CFLAGS"));
	char *prog = path_join(dir, "weft_prog");
	const char *rest[] = {"-I", dir, "-o", prog, path_join(dir, names[1]),
	                      path_join(dir, "weft_harness.c"), "-lm"};
	for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
		if (n + 1 >= cap)
			argv = ir_xrealloc(argv, sizeof(char *) * (size_t)(cap *= 2));
		argv[n++] = (char *)rest[i];
	}
	argv[n] = NULL;
	char *log = path_join(dir, "weft_cc.log");
	int rc = tune_run_log(argv, 0, log); /* no limit: a big model compiles for minutes */
	if (rc != 0) {
		if (rc > 0) {
			show_file(log);
			error_plain("the C compiler (%s) failed on the generated code (exit status %d)",
			            argv[0], rc);
		}
		prog = NULL;
	}
	free(argv);
	for (int i = 0; i < ncc; i++)
		free(cc[i]);
	free(cc);
	return prog;
}

/* Run the program with the inputs' and then the outputs' paths. */
static bool run_program(const Graph *g, const char *prog, char **in_paths, char **out_paths)
{
	int n = 0;
	char **argv = ir_alloc(sizeof(char *) * (size_t)(g->ninputs + g->noutputs + 2));
	argv[n++] = (char *)prog;
	for (int i = 0; i < g->ninputs; i++)
		argv[n++] = in_paths[i];
	for (int i = 0; i < g->noutputs; i++)
		argv[n++] = out_paths[i];
	argv[n] = NULL;
	int rc = tune_run(argv, 0, false);
	if (rc != 0) {
		if (rc > 0)
			error_plain("the generated program failed (exit status %d)", rc);
		return false;
	}
	return true;
}

/* The temporary directory of run or verify, removed at the end (or on an interrupt while a
   child runs) unless WEFT_KEEP=1. */
static char *active_tmpdir;

static void finish_tmpdir(void)
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

static char *make_tmpdir(void)
{
	active_tmpdir = tune_make_tmpdir();
	tune_on_interrupt = finish_tmpdir;
	return active_tmpdir;
}

/* Build and run the generated code in dir: inputs from in_paths (declaration order); the
   outputs are read back into out (declaration order, each malloc'd). */
static bool run_generated(const Graph *g, const Options *o, const char *dir, char **in_paths,
                          float **out)
{
	char **out_paths = ir_alloc(sizeof(char *) * (size_t)(g->noutputs + 1));
	for (int i = 0; i < g->noutputs; i++)
		out_paths[i] = path_join(dir, ir_fmt("weft_out%d.bin", i));
	char *prog = build_program(g, o, dir);
	if (!prog || !run_program(g, prog, in_paths, out_paths))
		return false;
	for (int i = 0; i < g->noutputs; i++) {
		const Tensor *t = &g->tensors[g->outputs[i]];
		out[i] = read_f32_file(out_paths[i], ir_numel(t), ir_fmt("output %s", t->name));
		if (!out[i])
			return false;
	}
	return true;
}

/* The output buffers of the bound --out names, in the order they were given. */
static bool publish_bound(const Graph *g, Options *o, float **out)
{
	float **data = ir_alloc(sizeof(float *) * (size_t)(o->nouts + 1));
	int64_t *numel = ir_alloc(sizeof(int64_t) * (size_t)(o->nouts + 1));
	for (int i = 0; i < o->nouts; i++) {
		const Tensor *t = &g->tensors[o->outs[i].tensor];
		data[i] = out[t->output_index];
		numel[i] = ir_numel(t);
	}
	return publish_outputs(o->nouts, o->outs, data, numel);
}

/* ---- run, ref, verify ---- */

static int cmd_run(Options *o)
{
	if (!check_schedule_options(o))
		return EXIT_USER;
	Graph *g = compile_model(o);
	if (!g)
		return EXIT_USER;
	bool ok = bind_inputs(g, o);
	ok &= bind_outputs(g, o);
	if (!ok)
		return EXIT_USER;
	char **in_paths = ir_alloc(sizeof(char *) * (size_t)(g->ninputs + 1));
	for (int i = 0; i < o->nins; i++)
		in_paths[g->tensors[o->ins[i].tensor].input_index] = (char *)o->ins[i].path;
	float **out = ir_alloc(sizeof(float *) * (size_t)(g->noutputs + 1));
	char *dir = make_tmpdir();
	if (!dir)
		return EXIT_USER;
	bool ran = run_generated(g, o, dir, in_paths, out);
	finish_tmpdir();
	return ran && publish_bound(g, o, out) ? 0 : EXIT_USER;
}

static int cmd_ref(Options *o)
{
	Graph *g = compile_model(o);
	if (!g)
		return EXIT_USER;
	bool ok = bind_inputs(g, o);
	ok &= bind_outputs(g, o);
	if (!ok)
		return EXIT_USER;
	const float **in = ir_alloc(sizeof(float *) * (size_t)(g->ninputs + 1));
	for (int i = 0; i < o->nins; i++) {
		const Tensor *t = &g->tensors[o->ins[i].tensor];
		in[t->input_index] = read_f32_file(o->ins[i].path, ir_numel(t), ir_fmt("--in %s", t->name));
		if (!in[t->input_index])
			return EXIT_USER;
	}
	float **out = ir_alloc(sizeof(float *) * (size_t)(g->noutputs + 1));
	for (int i = 0; i < g->noutputs; i++)
		out[i] = ir_xrealloc(NULL, sizeof(float) * (size_t)ir_numel(&g->tensors[g->outputs[i]]));
	ir_reference(g, (const float *const *)in, out);
	return publish_bound(g, o, out) ? 0 : EXIT_USER;
}

enum { MAX_SHOWN_MISMATCHES = 5 };

/* Compare one output with the reference; print its line; true when every element is close. */
static bool compare_output(const Tensor *t, const float *got, const float *want)
{
	int64_t n = ir_numel(t), bad = 0;
	double max_abs = 0, max_rel = 0;
	for (int64_t i = 0; i < n; i++) {
		double gv = got[i], wv = want[i], d = fabs(gv - wv);
		bool close = !isnan(gv) && !isnan(wv) && d <= 1e-4 + 1e-4 * fabs(wv);
		if (!isnan(d)) {
			if (d > max_abs)
				max_abs = d;
			if (wv != 0 && d / fabs(wv) > max_rel)
				max_rel = d / fabs(wv);
		}
		if (!close && bad++ < MAX_SHOWN_MISMATCHES) {
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

static int cmd_verify(Options *o)
{
	if (!check_schedule_options(o))
		return EXIT_USER;
	Graph *g = compile_model(o);
	if (!g)
		return EXIT_USER;
	char *dir = make_tmpdir();
	if (!dir)
		return EXIT_USER;
	const float **in = ir_alloc(sizeof(float *) * (size_t)(g->ninputs + 1));
	char **in_paths = ir_alloc(sizeof(char *) * (size_t)(g->ninputs + 1));
	bool ok = true;
	for (int i = 0; i < g->ninputs && ok; i++) {
		int64_t n = ir_numel(&g->tensors[g->inputs[i]]);
		float *v = ir_xrealloc(NULL, sizeof(float) * (size_t)n);
		for (int64_t j = 0; j < n; j++)
			v[j] = ir_random_value(o->seed * 1000003u + (uint64_t)i, (uint64_t)j);
		in[i] = v;
		unsigned char *bytes = ir_xrealloc(NULL, (size_t)n * 4);
		write_le_floats(bytes, v, n);
		in_paths[i] = path_join(dir, ir_fmt("weft_in%d.bin", i));
		if (!write_whole_file(in_paths[i], bytes, (size_t)n * 4)) {
			error_plain("cannot write %s: %s", in_paths[i], strerror(errno));
			ok = false;
		}
		free(bytes);
	}
	float **got = ir_alloc(sizeof(float *) * (size_t)(g->noutputs + 1));
	ok = ok && run_generated(g, o, dir, in_paths, got);
	finish_tmpdir();
	if (!ok)
		return EXIT_USER;
	float **want = ir_alloc(sizeof(float *) * (size_t)(g->noutputs + 1));
	for (int i = 0; i < g->noutputs; i++)
		want[i] = ir_xrealloc(NULL, sizeof(float) * (size_t)ir_numel(&g->tensors[g->outputs[i]]));
	ir_reference(g, (const float *const *)in, want);
	bool same = true;
	for (int i = 0; i < g->noutputs; i++)
		same &= compare_output(&g->tensors[g->outputs[i]], got[i], want[i]);
	return same ? 0 : EXIT_USER;
}

static int cmd_tune(Options *o)
{
	if (!compile_model(o))
		return EXIT_USER;
	error_plain("tune: the tuner is not implemented yet");
	return EXIT_USER;
}

/* ---- the command line ---- */

typedef struct Command {
	const char *name;
	int (*run)(Options *o);
	const char *options; /* allowed options besides -d, blank separated */
} Command;

static const Command commands[] = {
	{"check", cmd_check, "--weights"},
	{"gen", cmd_gen, "-o --target --schedule --weights --print-schedule"},
	{"run", cmd_run, "--in --out --target --schedule --weights"},
	{"verify", cmd_verify, "--seed --target --schedule --weights"},
	{"ref", cmd_ref, "--in --out --weights"},
	{"tune", cmd_tune, "--log --trials --time --target --weights"},
};

static const char *const options_with_arg[] = {"-o", "--target", "--schedule", "--weights", "--in",
                                               "--out", "--seed", "-d", "--log", "--trials", "--time"};
static const char *const options_without_arg[] = {"--print-schedule"};

static bool word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
			return true;
	return false;
}

static bool in_table(const char *s, const char *const *table, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, table[i]))
			return true;
	return false;
}

static Binding parse_binding(const char *opt, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1])
		usage_error("%s wants NAME=FILE, saw '%s'", opt, arg);
	return (Binding){ir_strndup(arg, (size_t)(eq - arg)), eq + 1, -1};
}

static void set_once(const char **slot, const char *opt, const char *arg)
{
	if (*slot)
		usage_error("%s given twice", opt);
	*slot = arg;
}

static bool is_number(const char *s, bool integer)
{
	char *end;
	errno = 0;
	if (integer) {
		if (*s < '0' || *s > '9')
			return false;
		strtoull(s, &end, 10);
	} else {
		strtod(s, &end);
	}
	return *s && !*end && errno == 0;
}

/* One option and its argument (NULL for a flag). */
static void apply_option(Options *o, const char *opt, const char *arg, const char **trials,
                         const char **time_s)
{
	if (!strcmp(opt, "-o"))
		set_once(&o->outdir, opt, arg);
	else if (!strcmp(opt, "--target")) {
		set_once(&o->target, opt, arg);
		if (!in_table(arg, targets, sizeof targets / sizeof targets[0]))
			usage_error("unknown target '%s' (targets: native, avx512, avx2, sse, neon, scalar)",
			            arg);
	} else if (!strcmp(opt, "--schedule"))
		set_once(&o->schedule, opt, arg);
	else if (!strcmp(opt, "--weights"))
		set_once(&o->weights, opt, arg);
	else if (!strcmp(opt, "--log"))
		set_once(&o->log, opt, arg);
	else if (!strcmp(opt, "--print-schedule"))
		o->print_schedule = true;
	else if (!strcmp(opt, "--in"))
		o->ins[o->nins++] = parse_binding(opt, arg);
	else if (!strcmp(opt, "--out"))
		o->outs[o->nouts++] = parse_binding(opt, arg);
	else if (!strcmp(opt, "--seed")) {
		if (!is_number(arg, true))
			usage_error("--seed wants a non-negative integer, saw '%s'", arg);
		o->seed = strtoull(arg, NULL, 10);
	} else if (!strcmp(opt, "--trials")) {
		set_once(trials, opt, arg);
		if (!is_number(arg, true) || atoi(arg) < 1)
			usage_error("--trials wants a positive integer, saw '%s'", arg);
	} else if (!strcmp(opt, "--time")) {
		set_once(time_s, opt, arg);
		if (!is_number(arg, false) || strtod(arg, NULL) <= 0)
			usage_error("--time wants a positive number of seconds, saw '%s'", arg);
	} else if (!strcmp(opt, "-d")) {
		for (int i = 0; i < NPASSES; i++)
			if (!strcmp(arg, passes[i].name)) {
				o->dump |= 1u << i;
				return;
			}
		usage_error("-d: unknown pass '%s' (passes: parse, infer, weights, plan)", arg);
	} else
		die("option %s has no handler", opt);
}

static const Command *parse_args(int argc, char **argv, Options *o)
{
	const char **used = ir_alloc(sizeof(char *) * (size_t)argc);
	int nused = 0;
	const char *trials = NULL, *time_s = NULL;
	o->ins = ir_alloc(sizeof(Binding) * (size_t)argc);
	o->outs = ir_alloc(sizeof(Binding) * (size_t)argc);
	o->seed = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (!o->command)
				o->command = a;
			else if (!o->model)
				o->model = a;
			else
				usage_error("unexpected argument '%s'", a);
			continue;
		}
		const char *opt = a, *arg = NULL;
		const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		if (eq) {
			opt = ir_strndup(a, (size_t)(eq - a));
			arg = eq + 1;
		}
		if (in_table(opt, options_with_arg, sizeof options_with_arg / sizeof options_with_arg[0])) {
			if (!arg && i + 1 >= argc)
				usage_error("option %s needs an argument", opt);
			if (!arg)
				arg = argv[++i];
		} else if (in_table(opt, options_without_arg,
		                    sizeof options_without_arg / sizeof options_without_arg[0])) {
			if (arg)
				usage_error("option %s takes no argument", opt);
		} else {
			usage_error("unknown option '%s'", a);
		}
		used[nused++] = opt;
		apply_option(o, opt, arg, &trials, &time_s);
	}
	if (!o->command)
		usage_error("no command given");
	const Command *cmd = NULL;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(o->command, commands[i].name))
			cmd = &commands[i];
	if (!cmd)
		usage_error("unknown command '%s'", o->command);
	for (int i = 0; i < nused; i++)
		if (strcmp(used[i], "-d") != 0 && !word_in(used[i], cmd->options))
			usage_error("option %s does not apply to weft %s", used[i], cmd->name);
	if (!o->model)
		usage_error("weft %s: no model given", cmd->name);
	if (!strcmp(o->model, "-"))
		usage_error("reading a model from standard input ('-') is not supported; give its path");
	if (!strcmp(cmd->name, "gen") && !o->outdir)
		usage_error("weft gen: -o DIR is required");
	if (!strcmp(cmd->name, "tune") && !o->log)
		usage_error("weft tune: --log LOG is required");
	if (!o->target)
		o->target = "native";
	return cmd;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ||
		    (i == 1 && !strcmp(argv[i], "help"))) {
			fputs(usage_text, stdout);
			fputc('\n', stdout);
			fputs(help_text, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			puts("weft 0.1");
			return 0;
		}
	}
	Options o = {0};
	const Command *cmd = parse_args(argc, argv, &o);
	int rc = cmd->run(&o);
	if (fflush(stdout) != 0 && rc == 0) {
		error_plain("cannot write the standard output: %s", strerror(errno));
		rc = EXIT_USER;
	}
	return rc;
}
