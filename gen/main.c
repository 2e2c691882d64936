/* gen/main.c: the weft command line (spec: "The command line, version 1" in model-format.md).
 *
 * Parses the arguments, runs the one flat pass list (parse -> infer -> weights -> lower ->
 * sched -> plan) and then the command: check prints a summary, gen writes the C files, run and
 * verify build and run the generated C (runner.c), ref runs the reference interpreter, sched
 * prints a schedule (the default one or a random legal one), fuzz checks many random schedules
 * (fuzz.c). Exit status: 0 success, 1 a user error (bad model, bad files), 2 bad usage.
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
	const char *schedule; /* --schedule FILE: a schedule in text form */
	const char *weights;  /* --weights FILE */
	const char *log;      /* tune: --log LOG */
	bool print_schedule;
	uint64_t seed;        /* verify: --seed N (inputs); fuzz: the first schedule's seed */
	bool seed_given;
	const char *random;   /* sched: --random SEED */
	int count, jobs;      /* fuzz: --count N, --jobs J */
	Binding *ins, *outs;
	int nins, nouts;
	unsigned dump;        /* bit i: dump the graph (or the loop IR) after passes[i] */
} Options;

/* ---- usage ---- */

static const char usage_text[] =
	"usage: weft check MODEL [--weights FILE]\n"
	"       weft gen MODEL -o DIR [--target T] [--schedule FILE] [--print-schedule] [--weights FILE]\n"
	"       weft run MODEL --in NAME=FILE ... --out NAME=FILE ... [--target T] [--schedule FILE]\n"
	"                [--weights FILE]\n"
	"       weft verify MODEL [--seed N] [--target T] [--schedule FILE] [--weights FILE]\n"
	"       weft ref MODEL --in NAME=FILE ... --out NAME=FILE ... [--weights FILE]\n"
	"       weft sched MODEL [--random SEED]\n"
	"       weft fuzz MODEL [--count N] [--seed S] [--jobs J] [--target T] [--weights FILE]\n"
	"       weft --help | --version\n";

static const char help_text[] =
	"weft: compiles a neural network model (.weft) into self-contained C99.\n"
	"\n"
	"commands:\n"
	"  check MODEL         parse the model, infer shapes, load weights, lower, schedule and plan\n"
	"                      memory; report every error, or print a summary (ops, params, FLOPs,\n"
	"                      workspace)\n"
	"  gen MODEL -o DIR    write DIR/NAME.h and DIR/NAME.c (DIR must exist); nothing is written\n"
	"                      when there is any error\n"
	"  run MODEL --in NAME=FILE ... --out NAME=FILE ...\n"
	"                      generate, compile with $CC (default cc) and the target's flags\n"
	"                      (-march=native for native; extra flags from $WEFT_CFLAGS), run once on\n"
	"                      the inputs, write the chosen outputs; every input must be given; files\n"
	"                      are raw little-endian f32 of the declared size\n"
	"  verify MODEL        run the generated code on pseudo-random inputs and compare every output\n"
	"                      with the reference interpreter (|got-want| <= 1e-4 + 1e-4*|want|)\n"
	"  ref MODEL --in NAME=FILE ... --out NAME=FILE ...\n"
	"                      like run, with the reference interpreter instead of generated code\n"
	"  sched MODEL         print the schedule used when none is given; with --random SEED, a\n"
	"                      random legal one (reproducible from SEED)\n"
	"  fuzz MODEL          check --count random legal schedules (default 200; seeds S, S+1, ...)\n"
	"                      against the reference: one line per failing schedule (its file is\n"
	"                      kept), then 'fuzz MODEL: N schedules, N ok'\n"
	"  tune MODEL --log LOG [--trials N] [--time SECONDS] [--jobs J] [--target T]\n"
	"                      measure schedules of each distinct op workload on this machine and\n"
	"                      append every trial to LOG (JSON lines; resumable); --schedule LOG\n"
	"                      then uses the best per workload. tune --report LOG: best vs default\n"
	"  help                this text\n"
	"\n"
	"options:\n"
	"  -o DIR              gen: the output directory\n"
	"  --target T          native (default: this CPU's), avx512, avx2, sse, neon or scalar; the\n"
	"                      code has the SIMD branch under #if and a scalar one under #else\n"
	"  --weights FILE      the params' values (raw little-endian f32, declaration order), instead\n"
	"                      of the model's weights statement\n"
	"  --seed N            verify: the seed of the random inputs (default 1); fuzz: the seed of\n"
	"                      the first schedule (default 1)\n"
	"  --schedule FILE     the schedule (text form: 'schedule MODEL', then directives such as\n"
	"                      't1.update: split(k, 16, guard)'), instead of the default one\n"
	"  --print-schedule    gen: print the schedule in use on stdout\n"
	"  --random SEED       sched: a random legal schedule\n"
	"  --count N, --jobs J fuzz: how many schedules; parallel jobs (default: the CPUs)\n"
	"  -d PASS             dump the graph on stderr after PASS: parse, infer, weights, fold or\n"
	"                      plan; or the loop IR after lower or sched\n"
	"  --help, --version\n"
	"\n"
	"environment: CC, WEFT_CFLAGS, TMPDIR; WEFT_KEEP=1 keeps run's and verify's temporary directory;\n"
	"  WEFT_EXEC (split on blanks) runs run's, verify's and fuzz's program under an emulator, e.g.\n"
	"  CC=aarch64-linux-gnu-gcc WEFT_CFLAGS=-static WEFT_EXEC=qemu-aarch64 weft verify MODEL\n"
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

/* What the passes build. */
typedef struct Ctx {
	const Options *o;
	Graph *g;
	Prog *P;
	Schedule S;     /* the schedule in use (sched) */
	bool no_sched;  /* stop after lower (weft sched draws its own) */
	bool no_weights; /* skip weights (weft sched needs none) */
} Ctx;

typedef struct Pass {
	const char *name;
	bool (*run)(Ctx *c); /* false when it reported errors */
	bool prog;           /* -d dumps the loop IR, not the graph */
} Pass;

static bool pass_parse(Ctx *c)
{
	Source *src = ir_read_source(c->o->model);
	if (!src)
		return false;
	c->g = ir_parse(src);
	return c->g != NULL;
}

static bool pass_infer(Ctx *c) { return ir_infer(c->g); }
static bool pass_weights(Ctx *c) { return ir_load_weights(c->g, c->o->weights); }
static bool pass_fold(Ctx *c) { return ir_rewrite(c->g); }
static bool pass_lower(Ctx *c) { return (c->P = ir_lower(c->g)) != NULL; }

/* The driver's schedule lives as long as the rest of the model's data: in the arena. (Schedules
   grow by realloc, so that the tuner can make and free many.) */
static void keep_in_arena(Schedule *S)
{
	Directive *d = ir_alloc(sizeof *d * (size_t)(S->n ? S->n : 1));
	if (S->n)
		memcpy(d, S->d, sizeof *d * (size_t)S->n);
	free(S->d);
	S->d = d;
	S->cap = S->n;
}

/* The schedule file's directives, or the default schedule; applied to the program. */
static bool pass_sched(Ctx *c)
{
	if (c->o->schedule && tune_is_log(c->o->schedule)) { /* a tuning log: its best records */
		if (!tune_log_schedule(c->P, c->o->schedule, c->o->target, &c->S))
			return false;
	} else if (c->o->schedule) {
		Source *src = ir_read_source(c->o->schedule);
		if (!src || !ir_sched_parse(src, c->g, &c->S))
			return false;
	} else {
		ir_sched_target(c->o->target);
		ir_sched_default(c->P, &c->S);
	}
	keep_in_arena(&c->S);
	return ir_sched_apply(c->P, &c->S);
}

static bool pass_plan(Ctx *c) { ir_plan_prog(c->P); return true; }

static const Pass passes[] = {
	{"parse", pass_parse, false},
	{"infer", pass_infer, false},
	{"weights", pass_weights, false},
	{"fold", pass_fold, false},
	{"lower", pass_lower, true},
	{"sched", pass_sched, true},
	{"plan", pass_plan, false},
};
enum { NPASSES = sizeof passes / sizeof passes[0], PASS_SCHED = 5 };

/* Run every pass (up to lower when c->no_sched); stop at the first that reported an error.
   false then. */
static bool compile_model(Ctx *c, const Options *o)
{
	c->o = o;
	for (int i = 0; i < NPASSES; i++) {
		if (c->no_sched && i >= PASS_SCHED)
			break;
		if (c->no_weights && passes[i].run == pass_weights)
			continue;
		if (!passes[i].run(c) || ir_nerrors > 0)
			return false;
		if (o->dump & (1u << i)) {
			fprintf(stderr, "## after %s\n", passes[i].name);
			if (passes[i].prog)
				ir_prog_dump(c->P, stderr);
			else
				ir_dump(c->g, stderr);
		}
	}
	return true;
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
	Ctx c = {0};
	if (!compile_model(&c, o))
		return EXIT_USER;
	Graph *g = c.g;
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


/* ---- generating ---- */

/* Every target's code is portable: vectorized nests get their SIMD branch under the target's
   #if and the scalar nest under #else (gen/kernel.c). */
static GenOptions gen_options(const Options *o) { return (GenOptions){.target = o->target}; }

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
	Ctx c = {0};
	if (!compile_model(&c, o))
		return EXIT_USER;
	if (o->print_schedule)
		ir_sched_print(c.g, &c.S, stdout);
	GenOptions go = gen_options(o);
	Buf h = {0}, cb = {0};
	gen_model(c.g, c.P, &go, &h, &cb);
	if (ir_nerrors > 0)
		return EXIT_USER;
	const char *names[] = {ir_fmt("%s.h", c.g->name), ir_fmt("%s.c", c.g->name)};
	const Buf *bufs[] = {&h, &cb};
	bool ok = gen_write_files(o->outdir, 2, names, bufs);
	buf_free(&h);
	buf_free(&cb);
	return ok ? 0 : EXIT_USER;
}

/* The output buffers of the bound --out names, in the order they were given. */
static bool publish_bound(const Graph *g, Options *o, float **out)
{
	float **data = ir_alloc(sizeof(float *) * (size_t)(o->nouts + 1));
	int64_t *numel = ir_alloc(sizeof(int64_t) * (size_t)(o->nouts + 1));
	const char **what = ir_alloc(sizeof(char *) * (size_t)(o->nouts + 1));
	const char **paths = ir_alloc(sizeof(char *) * (size_t)(o->nouts + 1));
	for (int i = 0; i < o->nouts; i++) {
		const Tensor *t = &g->tensors[o->outs[i].tensor];
		data[i] = out[t->output_index];
		numel[i] = ir_numel(t);
		what[i] = ir_fmt("--out %s", o->outs[i].name);
		paths[i] = o->outs[i].path;
	}
	return gen_publish_outputs(o->nouts, what, paths, data, numel);
}

/* ---- run, ref, verify ---- */

static int cmd_run(Options *o)
{
	Ctx c = {0};
	if (!compile_model(&c, o))
		return EXIT_USER;
	Graph *g = c.g;
	bool ok = bind_inputs(g, o);
	ok &= bind_outputs(g, o);
	if (!ok)
		return EXIT_USER;
	char **in_paths = ir_alloc(sizeof(char *) * (size_t)(g->ninputs + 1));
	for (int i = 0; i < o->nins; i++)
		in_paths[g->tensors[o->ins[i].tensor].input_index] = (char *)o->ins[i].path;
	float **out = ir_alloc(sizeof(float *) * (size_t)(g->noutputs + 1));
	char *dir = gen_make_tmpdir();
	if (!dir)
		return EXIT_USER;
	GenOptions go = gen_options(o);
	bool ran = gen_run_generated(g, c.P, &go, dir, in_paths, out);
	gen_finish_tmpdir();
	return ran && publish_bound(g, o, out) ? 0 : EXIT_USER;
}

static int cmd_ref(Options *o)
{
	Ctx c = {.no_sched = true};
	if (!compile_model(&c, o))
		return EXIT_USER;
	Graph *g = c.g;
	bool ok = bind_inputs(g, o);
	ok &= bind_outputs(g, o);
	if (!ok)
		return EXIT_USER;
	const float **in = ir_alloc(sizeof(float *) * (size_t)(g->ninputs + 1));
	for (int i = 0; i < o->nins; i++) {
		const Tensor *t = &g->tensors[o->ins[i].tensor];
		in[t->input_index] = gen_read_f32_file(o->ins[i].path, ir_numel(t), ir_fmt("--in %s", t->name));
		if (!in[t->input_index])
			return EXIT_USER;
	}
	float **out = gen_reference_outputs(g, in);
	return publish_bound(g, o, out) ? 0 : EXIT_USER;
}

static int cmd_verify(Options *o)
{
	Ctx c = {0};
	if (!compile_model(&c, o))
		return EXIT_USER;
	Graph *g = c.g;
	char *dir = gen_make_tmpdir();
	if (!dir)
		return EXIT_USER;
	float **in = gen_random_inputs(g, o->seed);
	char **in_paths = ir_alloc(sizeof(char *) * (size_t)(g->ninputs + 1));
	bool ok = true;
	for (int i = 0; i < g->ninputs && ok; i++) {
		in_paths[i] = ir_fmt("%s/weft_in%d.bin", dir, i);
		ok = gen_write_f32_file(in_paths[i], in[i], ir_numel(&g->tensors[g->inputs[i]]));
	}
	float **got = ir_alloc(sizeof(float *) * (size_t)(g->noutputs + 1));
	GenOptions go = gen_options(o);
	ok = ok && gen_run_generated(g, c.P, &go, dir, in_paths, got);
	gen_finish_tmpdir();
	if (!ok)
		return EXIT_USER;
	float **want = gen_reference_outputs(g, (const float *const *)in);
	bool same = true;
	for (int i = 0; i < g->noutputs; i++)
		same &= gen_compare_output(&g->tensors[g->outputs[i]], got[i], want[i]);
	return same ? 0 : EXIT_USER;
}

/* ---- sched, fuzz, tune ---- */

/* Print the default schedule, or the random one of --random SEED; it is applied first, as a
   check: weft's own schedules are legal by construction, so a rejection is a weft bug. */
static int cmd_sched(Options *o)
{
	Ctx c = {.no_sched = true, .no_weights = true};
	if (!compile_model(&c, o))
		return EXIT_USER;
	Schedule S = {0};
	if (o->random)
		ir_sched_random(c.P, strtoull(o->random, NULL, 10), &S);
	else
		ir_sched_default(c.P, &S);
	keep_in_arena(&S);
	if (!ir_sched_apply(c.P, &S)) {
		ir_sched_print(c.g, &S, stderr);
		die("the %s schedule above is illegal", o->random ? "random" : "default");
	}
	ir_sched_print(c.g, &S, stdout);
	return 0;
}

static int cmd_fuzz(Options *o)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	FuzzOptions fo = {
		.model = o->model,
		.weights = o->weights,
		.count = o->count > 0 ? o->count : 200,
		.seed = o->seed_given ? o->seed : 1,
		.jobs = o->jobs > 0 ? o->jobs : cpus > 0 ? (int)cpus : 1,
		.target = o->target,
	};
	return gen_fuzz(&fo);
}

static int cmd_tune(Options *o)
{
	Ctx c = {0};
	if (!compile_model(&c, o))
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
	{"sched", cmd_sched, "--random"},
	{"fuzz", cmd_fuzz, "--count --seed --jobs --weights --target"},
	{"tune", cmd_tune, "--log --trials --time --target --weights"},
};

static const char *const options_with_arg[] = {"-o", "--target", "--schedule", "--weights", "--in",
                                               "--out", "--seed", "-d", "--log", "--trials", "--time",
                                               "--random", "--count", "--jobs"};
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
		o->seed_given = true;
	} else if (!strcmp(opt, "--random")) {
		set_once(&o->random, opt, arg);
		if (!is_number(arg, true))
			usage_error("--random wants a non-negative integer seed, saw '%s'", arg);
	} else if (!strcmp(opt, "--count") || !strcmp(opt, "--jobs")) {
		if (!is_number(arg, true) || atoi(arg) < 1 || strlen(arg) > 7)
			usage_error("%s wants a positive integer, saw '%s'", opt, arg);
		*(!strcmp(opt, "--count") ? &o->count : &o->jobs) = atoi(arg);
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
		usage_error("-d: unknown pass '%s' (passes: parse, infer, weights, fold, lower, sched, plan)", arg);
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
	if (argc > 1 && !strcmp(argv[1], "tune"))
		return tune_main(argc - 1, argv + 1); /* tune/tune.c parses its own options */
	Options o = {0};
	const Command *cmd = parse_args(argc, argv, &o);
	int rc = cmd->run(&o);
	if (fflush(stdout) != 0 && rc == 0) {
		error_plain("cannot write the standard output: %s", strerror(errno));
		rc = EXIT_USER;
	}
	return rc;
}

