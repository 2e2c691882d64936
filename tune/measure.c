/* tune/measure.c: building, checking and timing candidates (a task's one-op model + a schedule).
 *
 * A task's directory holds its pseudo-random inputs, the reference interpreter's outputs for
 * them and (for big params) the logical weights, written once (tune_bench_init). A batch of
 * candidates is built in parallel, each by a forked child in its own subdirectory (so a weft
 * bug or a rejected schedule costs only that candidate): lower, apply the schedule, plan,
 * generate task.c with a timing harness, compile with $CC and the recorded flags under a
 * timeout. The built programs then run one at a time, each under a timeout: the harness fills
 * outputs and workspace with NaN, runs once and compares every output with the reference
 * (weft's tolerance) before timing anything; then a warm-up, then repeats (batched so that a
 * sample lasts about a millisecond) until at least 100 ms and 3 samples; it prints the median.
 * With --cold (TuneMachine.timing), each sample is one run (at most 100) after a buffer twice
 * L2's size was written and the big params were flushed from every cache (emit_flush): its
 * input comes from L3, its weights from memory, as in a model.
 * A profiled whole model (the graph pass) also times each op between the marks its NAME_run
 * makes (gen's profile option), over at least 9 samples and 0.3 s, and prints each op's median.
 * Test hook: a candidate's inject field (crash, hang, wrong, compile) makes its harness crash,
 * spin, perturb an output or fail to compile.
 */
#include "tune.h"
#include "../gen/gen.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Candidates are built as a release build would be (the flags go into the log). */
#define CC_OPT "-O3 -std=c99"

enum {
	BIG_PARAMS = 1 << 14, /* floats of params above which they are filled at run time */
	EXIT_BUILT = 0,
	EXIT_INVALID = 20,
	EXIT_CC_ERROR = 21,
	EXIT_CC_TIMEOUT = 22,
	EXIT_WRONG = 3,
};

const char *tune_target_flags(const char *target)
{
	static const char *const table[][2] = {
		{"native", "-march=native"},
		{"avx512", "-mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma"},
		{"avx2", "-mavx2 -mfma"},
		{"sse", "-msse4.2"},
		{"scalar", ""},
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(table[i][0], target))
			return table[i][1];
	return NULL;
}

/* Does $CC take -fopenmp? (gcc does; clang needs libomp.) Candidates are built as generated
   code is deployed, OpenMP pragmas live when the compiler has them (threads: OMP_NUM_THREADS
   as the environment sets it). */
static bool cc_has_openmp(void)
{
	char *dir = tune_make_tmpdir();
	if (!dir)
		return false;
	const char *src = ir_fmt("%s/omp.c", dir), *exe = ir_fmt("%s/omp", dir);
	Buf b = {0};
	buf_puts(&b, "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n");
	const char *names[] = {"omp.c"};
	const Buf *bufs[] = {&b};
	bool ok = gen_write_files(dir, 1, names, bufs);
	buf_free(&b);
	int n, cap;
	char **argv = gen_cc_argv("-fopenmp", &n, &cap);
	if (n + 4 >= cap)
		argv = ir_xrealloc(argv, sizeof(char *) * (size_t)(cap = n + 8));
	argv[n++] = (char *)src;
	argv[n++] = "-o";
	argv[n++] = (char *)exe;
	argv[n] = NULL;
	ok = ok && tune_run(argv, 60, true) == 0;
	free(argv);
	unlink(exe);
	unlink(src);
	tune_remove_tmpdir(dir);
	free(dir);
	return ok;
}

/* Bytes --cold writes before each timed run: twice the L2 cache (at least 4 MB), so that what
   the run reads comes from L3 or memory, as a layer's input does in a model (the layer before
   wrote it, other work ran since); its params are flushed from every cache besides (see
   emit_flush). */
static long evict_bytes(void)
{
	long l2 = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
	l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
	return l2 > 2L * 1024 * 1024 ? 2 * l2 : 4L * 1024 * 1024;
}

bool tune_machine(const char *target, bool cold, TuneMachine *m)
{
	const char *tf = tune_target_flags(target);
	if (!tf) {
		error_plain("tune: target %s cannot run on this machine; tune on the target itself", target);
		return false;
	}
	const char *extra = getenv("WEFT_CFLAGS");
	m->target = target;
	m->openmp = cc_has_openmp();
	m->flags = ir_fmt(CC_OPT "%s%s%s%s%s", m->openmp ? " -fopenmp" : "", *tf ? " " : "", tf,
	                  extra && *extra ? " " : "", extra ? extra : "");
	m->cc = tune_cc_version();
	m->cpu = tune_cpu_model();
	m->timing = cold ? "cold" : "warm";
	m->evict_bytes = cold ? evict_bytes() : 0;
	return true;
}

/* The generator's target: native (resolved by the generator) or one with a template table. */
static const char *gen_target(const char *target)
{
	const char *path = ir_fmt("%s/%s.tpl", gen_template_dir(), target);
	return !strcmp(target, "native") || access(path, R_OK) == 0 ? target : "scalar";
}

/* Load weights without the note about pseudo-random values (a task has no blob). */
static bool quiet_weights(Graph *g)
{
	fflush(stderr);
	int saved = dup(2);
	FILE *f = freopen("/dev/null", "w", stderr);
	(void)f;
	bool ok = ir_load_weights(g, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return ok;
}

static bool bench_files(TuneBench *b, Graph *g);

bool tune_bench_init(TuneBench *b, const char *key, const char *dir, const TuneMachine *m)
{
	Graph *g = tune_task_graph(key);
	if (!g || !quiet_weights(g))
		die("tune: the workload of a model op does not build:\n%s", key);
	*b = (TuneBench){.key = key, .dir = dir, .m = m, .runtime_params = g->nweights > BIG_PARAMS,
	                 .compile_timeout = 120, .run_timeout = 10};
	return bench_files(b, g);
}

bool tune_bench_init_model(TuneBench *b, Graph *g, const char *dir, const TuneMachine *m)
{
	if (!g->weights && !quiet_weights(g))
		return false;
	*b = (TuneBench){.key = g->name, .model = g, .dir = dir, .m = m, .runtime_params = g->nweights > BIG_PARAMS,
	                 .compile_timeout = 600, .run_timeout = 60};
	return bench_files(b, g);
}

/* The task's (or model's) directory: inputs, reference outputs, big weights. */
static bool bench_files(TuneBench *b, Graph *g)
{
	const char *dir = b->dir;
	const char *t = getenv("WEFT_TUNE_TIMEOUT");
	if (t && atof(t) > 0)
		b->run_timeout = atof(t);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		error_plain("cannot make %s: %s", dir, strerror(errno));
		return false;
	}
	float **in = gen_random_inputs(g, 1);
	float **want = gen_reference_outputs(g, (const float *const *)in);
	bool ok = true;
	for (int i = 0; i < g->ninputs && ok; i++)
		ok = gen_write_host_floats(ir_fmt("%s/in%d.bin", dir, i), in[i], ir_numel(&g->tensors[g->inputs[i]]));
	for (int i = 0; i < g->noutputs && ok; i++)
		ok = gen_write_host_floats(ir_fmt("%s/want%d.bin", dir, i), want[i], ir_numel(&g->tensors[g->outputs[i]]));
	if (ok && b->runtime_params)
		ok = gen_write_host_floats(ir_fmt("%s/weights.bin", dir), g->weights, g->nweights);
	return ok;
}

/* ---- the timing harness ---- */

static const char harness_head[] =
	"#define _POSIX_C_SOURCE 200809L\n"
	"#include <math.h>\n#include <signal.h>\n#include <stdint.h>\n#include <stdio.h>\n"
	"#include <stdlib.h>\n#include <string.h>\n#include <time.h>\n"
	"#include \"task.h\"\n"
	"#ifdef WEFT_TUNE_INJECT_COMPILE\n#error \"injected compile error (WEFT_TUNE_INJECT)\"\n#endif\n"
	"static double weft_now(void)\n{\n\tstruct timespec ts;\n\tclock_gettime(CLOCK_MONOTONIC, &ts);\n"
	"\treturn (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;\n}\n"
	"static float *weft_load(const char *dir, const char *name, size_t n)\n{\n"
	"\tchar path[4096];\n\tsnprintf(path, sizeof path, \"%s/%s\", dir, name);\n"
	"\tFILE *f = fopen(path, \"rb\");\n\tfloat *v = malloc(n * sizeof(float) + 4);\n"
	"\tif (!f || !v || fread(v, sizeof(float), n, f) != n) {\n"
	"\t\tfprintf(stderr, \"harness: cannot read %s\\n\", path);\n\t\texit(2);\n\t}\n"
	"\tfclose(f);\n\treturn v;\n}\n"
	"static int weft_cmp(const void *a, const void *b)\n{\n"
	"\tdouble x = *(const double *)a, y = *(const double *)b;\n\treturn (x > y) - (x < y);\n}\n";

/* A profiled model's NAME_run marks each op's start (gen's profile option): the time between two
   marks is the op's. */
static void emit_profiler(const Graph *g, Buf *b)
{
	emitf(b, "enum { NOPS = %d };\nstatic double weft_prof_acc[NOPS], weft_prof_last;\n"
	         "static int weft_prof_cur = -1;\nvoid weft_prof_mark(int op);\n"
	         "void weft_prof_mark(int op)\n{\n\tdouble t = weft_now();\n"
	         "\tif (weft_prof_cur >= 0)\n\t\tweft_prof_acc[weft_prof_cur] += t - weft_prof_last;\n"
	         "\tweft_prof_cur = op;\n\tweft_prof_last = t;\n}\n", g->nops);
}

/* --cold: a store into every cache line of a buffer bigger than L2 before each timed run. */
static void emit_evict(long floats, Buf *b)
{
	emitf(b, "static volatile float weft_evict_sink;\n"
	         "static void weft_evict(float *buf)\n{\n\tfloat s = 0;\n"
	         "\tfor (long i = 0; i < %ld; i += 16) {\n\t\tbuf[i] += 1.0f;\n\t\ts += buf[i];\n\t}\n"
	         "\tweft_evict_sink = s;\n}\n", floats);
}

/* --cold with params filled at run time (big ones: task_params_each lists them): each line of
   them flushed from every cache level before each timed run, as a model finds a layer's
   weights (read once per inference, evicted by the other layers' since). Evicting L2 alone
   (session 10) kept schedules that re-read 4 MB of weights from L3, 25% slower once L3 was
   shared; writing a buffer twice L3's size instead made small layers' inputs come from
   memory too, and on them the tuner kept scalar schedules 5x slower from cache. Small params
   (compiled in) stay where L2's eviction leaves them. Only x86 has a flush a C program can
   issue (clflush); elsewhere the params stay in L3. */
static void emit_flush(Buf *b)
{
	emitf(b, "#if defined(__SSE2__)\n#include <emmintrin.h>\n"
	         "static void weft_flush(const void *p, unsigned long bytes)\n{\n"
	         "\tconst char *c = p;\n\tfor (unsigned long i = 0; i < bytes; i += 64)\n"
	         "\t\t_mm_clflush(c + i);\n\t_mm_mfence();\n}\n#endif\n");
}

/* "NAME_run(in[0], ..., OUT[0], ..., WS)" */
static const char *run_call(const char *name, int nin, int nout, const char *out, const char *ws)
{
	char *call = ir_fmt("%s_run(", name);
	for (int i = 0; i < nin; i++)
		call = ir_fmt("%sin[%d], ", call, i);
	for (int i = 0; i < nout; i++)
		call = ir_fmt("%s%s[%d], ", call, out, i);
	return ir_fmt("%s%s)", call, ws);
}

/* The harness: checks the output against the reference, then times task_run (median over
   samples). With versus, vs_run (the versus schedule, built beside it as vs.c) too: each
   sample times both, in turn (order alternating), and the median of the ratios is printed on
   a line "vs RATIO": two runs side by side see the host in the same phase, where two
   processes a second apart differ by 10% on a shared host. */
static void emit_harness(const Graph *g, bool runtime_params, bool profile, bool versus, long evict_floats, Buf *b)
{
	int nin = g->ninputs, nout = g->noutputs;
	buf_puts(b, harness_head);
	if (versus)
		buf_puts(b, "#include \"vs.h\"\n");
	if (profile)
		emit_profiler(g, b);
	if (evict_floats)
		emit_evict(evict_floats, b);
	if (evict_floats && runtime_params)
		emit_flush(b);
	emitf(b, "int main(int argc, char **argv)\n{\n\tconst char *dir = argv[1];\n"
	         "\tconst char *mode = argc > 2 ? argv[2] : \"\";\n\tchar name[64];\n");
	emitf(b, "\tfloat *in[%d], *want[%d], *out[%d];\n", nin + 1, nout + 1, nout + 1);
	for (int i = 0; i < nin; i++)
		emitf(b, "\tin[%d] = weft_load(dir, \"in%d.bin\", %lld);\n", i, i,
		      (long long)ir_numel(&g->tensors[g->inputs[i]]));
	for (int i = 0; i < nout; i++) {
		long long n = (long long)ir_numel(&g->tensors[g->outputs[i]]);
		emitf(b, "\twant[%d] = weft_load(dir, \"want%d.bin\", %lld);\n", i, i, n);
		emitf(b, "\tout[%d] = malloc(%lld * sizeof(float) + 4);\n", i, n);
		emitf(b, "\tfor (long i = 0; i < %lld; i++)\n\t\tout[%d][i] = NAN;\n", n, i);
	}
	emitf(b, "\t(void)name;\n\tunsigned char *raw = malloc((size_t)TASK_WORKSPACE_BYTES + 64);\n"
	         "\tmemset(raw, 0xff, (size_t)TASK_WORKSPACE_BYTES + 64); /* NaN: no stale values */\n"
	         "\tvoid *ws = raw + (64 - (uintptr_t)raw %% 64) %% 64;\n");
	if (runtime_params)
		emitf(b, "\ttask_init_params(weft_load(dir, \"weights.bin\", %lld));\n", (long long)g->nweights);
	if (versus) {
		emitf(b, "\tunsigned char *vs_raw = malloc((size_t)VS_WORKSPACE_BYTES + 64);\n"
		         "\tmemset(vs_raw, 0xff, (size_t)VS_WORKSPACE_BYTES + 64);\n"
		         "\tvoid *vs_ws = vs_raw + (64 - (uintptr_t)vs_raw %% 64) %% 64;\n");
		if (runtime_params)
			emitf(b, "\tvs_init_params(weft_load(dir, \"weights.bin\", %lld));\n", (long long)g->nweights);
	}
	emitf(b, "\tif (!strcmp(mode, \"crash\"))\n\t\traise(SIGSEGV);\n"
	         "\tif (!strcmp(mode, \"hang\"))\n\t\tfor (volatile int z = 0;; z++)\n\t\t\t;\n");
	const char *call = run_call("task", nin, nout, "out", "ws"), *vcall = run_call("vs", nin, nout, "vout", "vs_ws");
	if (versus) { /* its own outputs: task_run's are checked, NaN where it wrote nothing */
		emitf(b, "\tfloat *vout[%d];\n", nout + 1);
		for (int i = 0; i < nout; i++)
			emitf(b, "\tvout[%d] = malloc(%lld * sizeof(float) + 4);\n", i,
			      (long long)ir_numel(&g->tensors[g->outputs[i]]));
		emitf(b, "\tif (%s != 0) {\n\t\tprintf(\"error vs_run failed\\n\");\n\t\treturn 4;\n\t}\n", vcall);
	}
	emitf(b, "\tint rc = %s;\n\tif (rc != 0) {\n\t\tprintf(\"error task_run returned %%d\\n\", rc);\n"
	         "\t\treturn 4;\n\t}\n", call);
	emitf(b, "\tif (!strcmp(mode, \"wrong\"))\n\t\tout[0][0] += 1.0f;\n");
	for (int i = 0; i < nout; i++) {
		long long n = (long long)ir_numel(&g->tensors[g->outputs[i]]);
		emitf(b, "\tfor (long i = 0; i < %lld; i++) {\n\t\tdouble gv = out[%d][i], wv = want[%d][i];\n"
		         "\t\tif (!(fabs(gv - wv) <= 1e-4 + 1e-4 * fabs(wv)) && !(isnan(gv) && isnan(wv))) {\n"
		         "\t\t\tprintf(\"wrong y[%%ld]: got %%.9g, want %%.9g\\n\", i, gv, wv);\n"
		         "\t\t\treturn %d;\n\t\t}\n\t}\n", n, i, i, EXIT_WRONG);
	}
	emitf(b, "\tdouble t0 = weft_now();\n\t%s;\n\tdouble t1 = weft_now() - t0;\n", call);
	/* a profiled model: at least 9 samples and 0.3 s, each op's median printed too; cold: one
	   run per sample, the buffer written before it (not timed) */
	if (evict_floats)
		emitf(b, "\t(void)t1;\n\tlong batch = 1;\n\tfloat *evict = calloc(%ld, sizeof(float));\n"
		         "\tif (!evict) {\n\t\tfprintf(stderr, \"harness: out of memory\\n\");\n\t\treturn 2;\n\t}\n",
		      evict_floats);
	else
		emitf(b, "\tlong batch = t1 < 1e-3 ? (long)(1e-3 / (t1 + 1e-9)) + 1 : 1;\n");
	emitf(b, "\tstatic double samples[1000]%s;\n\tint n = 0;\n\tdouble total = 0;\n", versus ? ", ratios[1000]" : "");
	if (profile)
		emitf(b, "\tstatic double ops[1000][NOPS];\n");
	/* cold: at most 100 samples, each after a write of 4 MB or more (and a flush) */
	emitf(b, "\twhile ((n < %d || total < %s) && n < %d) {\n", profile ? 9 : 3, profile ? "0.3" : "0.1",
	      evict_floats ? 100 : 1000);
	const char *in = versus ? "\t\t\t" : "\t\t"; /* versus: a loop over the two */
	if (versus)
		emitf(b, "\t\tdouble d = 0, vd = 0;\n\t\tfor (int j = 0; j < 2; j++) {\n"
		         "\t\t\tint v = (n + j) %% 2; /* which runs first alternates */\n");
	if (profile)
		emitf(b, "\t\tmemset(weft_prof_acc, 0, sizeof weft_prof_acc);\n");
	if (evict_floats)
		emitf(b, "%sweft_evict(evict);\n", in);
	if (evict_floats && runtime_params)
		emitf(b, "#if defined(__SSE2__)\n%stask_params_each(weft_flush);\n%s#endif\n", in,
		      versus ? ir_fmt("%svs_params_each(weft_flush);\n", in) : "");
	if (versus)
		emitf(b, "\t\t\tdouble s = weft_now();\n\t\t\tfor (long k = 0; k < batch; k++)\n"
		         "\t\t\t\tif (v)\n\t\t\t\t\t%s;\n\t\t\t\telse\n\t\t\t\t\t%s;\n"
		         "\t\t\t*(v ? &vd : &d) = weft_now() - s;\n\t\t}\n\t\tratios[n] = d / vd;\n", vcall, call);
	else
		emitf(b, "\t\tdouble s = weft_now();\n\t\tfor (long k = 0; k < batch; k++)\n\t\t\t%s;\n"
		         "\t\tdouble d = weft_now() - s;\n", call);
	if (profile)
		emitf(b, "\t\tfor (int i = 0; i < NOPS; i++)\n\t\t\tops[n][i] = weft_prof_acc[i] / (double)batch;\n");
	emitf(b, "\t\ttotal += d;\n\t\tsamples[n++] = d / (double)batch;\n\t}\n"
	         "\tqsort(samples, (size_t)n, sizeof samples[0], weft_cmp);\n"
	         "\tdouble med = n %% 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);\n"
	         "\tprintf(\"ok %%.1f %%d %%ld\\n\", med * 1e9, n, batch);\n");
	if (versus)
		emitf(b, "\tqsort(ratios, (size_t)n, sizeof ratios[0], weft_cmp);\n"
		         "\tprintf(\"vs %%.5f\\n\", n %% 2 ? ratios[n / 2] : 0.5 * (ratios[n / 2 - 1] + ratios[n / 2]));\n");
	if (profile)
		emitf(b, "\tfor (int i = 0; i < NOPS; i++) {\n\t\tdouble v[1000];\n"
		         "\t\tfor (int k = 0; k < n; k++)\n\t\t\tv[k] = ops[k][i];\n"
		         "\t\tqsort(v, (size_t)n, sizeof v[0], weft_cmp);\n"
		         "\t\tdouble m = n %% 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);\n"
		         "\t\tif (m > 0)\n\t\t\tprintf(\"op %%d %%.1f\\n\", i, m * 1e9);\n\t}\n");
	emitf(b, "\treturn 0;\n}\n");
}

/* ---- building one candidate (in a forked child) ---- */

static _Noreturn void build_child(const TuneBench *b, TuneCand *c, const char *cdir)
{
	const char *log = ir_fmt("%s/build.log", cdir);
	if (!freopen(log, "w", stderr))
		_exit(EXIT_INVALID);
	Graph *g = b->model ? b->model : tune_task_graph(b->key);
	Schedule S = {0};
	if (!g || (!b->model && !ir_load_weights(g, NULL)))
		_exit(EXIT_INVALID);
	if (b->model) /* this child's copy: the harness calls task_run */
		snprintf(g->name, sizeof g->name, "task");
	Prog *P = ir_lower(g);
	if (!P || !tune_parse_sched(g, c->sched, &S, false) || !ir_sched_apply(P, &S) || ir_nerrors)
		_exit(EXIT_INVALID);
	ir_plan_prog(P);
	bool profile = b->profile && !c->versus; /* timed beside another: the whole run only */
	GenOptions go = {.target = gen_target(b->m->target), .runtime_params = b->runtime_params,
	                 .profile = profile};
	Buf h = {0}, cc = {0}, hc = {0}, vh = {0}, vc = {0};
	gen_model(g, P, &go, &h, &cc);
	if (ir_nerrors)
		_exit(EXIT_INVALID);
	if (c->versus) { /* the same graph as "vs" (vs_run) with the versus schedule; gen is done
	                    with task's, so applying another changes nothing of it */
		snprintf(g->name, sizeof g->name, "vs");
		Prog *Q = ir_lower(g);
		Schedule V = {0};
		if (!Q || !tune_parse_sched(g, c->versus, &V, false) || !ir_sched_apply(Q, &V) || ir_nerrors)
			_exit(EXIT_INVALID);
		ir_plan_prog(Q);
		gen_model(g, Q, &go, &vh, &vc);
		snprintf(g->name, sizeof g->name, "task");
		if (ir_nerrors)
			_exit(EXIT_INVALID);
	}
	emit_harness(g, b->runtime_params, profile, c->versus != NULL, b->m->evict_bytes / 4, &hc);
	const char *names[] = {"task.h", "task.c", "harness.c", "vs.h", "vs.c"};
	const Buf *bufs[] = {&h, &cc, &hc, &vh, &vc};
	if (!gen_write_files(cdir, c->versus ? 5 : 3, names, bufs))
		_exit(EXIT_INVALID);
	int n, cap;
	char **argv = gen_cc_argv(ir_fmt(CC_OPT "%s %s", b->m->openmp ? " -fopenmp" : "", tune_target_flags(b->m->target)),
	                          &n, &cap);
	const char *rest[] = {"-I", cdir, "-o", ir_fmt("%s/prog", cdir), ir_fmt("%s/task.c", cdir),
	                      ir_fmt("%s/harness.c", cdir), c->versus ? ir_fmt("%s/vs.c", cdir) : "", "-lm",
	                      c->inject && !strcmp(c->inject, "compile") ? "-DWEFT_TUNE_INJECT_COMPILE" : ""};
	for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
		if (!*rest[i])
			continue;
		if (n + 2 >= cap)
			argv = ir_xrealloc(argv, sizeof(char *) * (size_t)(cap *= 2));
		argv[n++] = (char *)rest[i];
	}
	argv[n] = NULL;
	int rc = tune_run_log(argv, b->compile_timeout, ir_fmt("%s/cc.log", cdir));
	fflush(NULL);
	_exit(rc == 0 ? EXIT_BUILT : tune_timed_out ? EXIT_CC_TIMEOUT : EXIT_CC_ERROR);
}

/* The first line of a file (for details), or "". */
static char *first_line(const char *path, const char *prefer)
{
	char *data;
	size_t len;
	if (!ir_read_file(path, &data, &len))
		return "";
	char *s = prefer ? strstr(data, prefer) : NULL;
	if (!s)
		s = data;
	char *nl = strchr(s, '\n');
	char *r = ir_strndup(s, nl ? (size_t)(nl - s) : strlen(s));
	free(data);
	return r;
}

static void built(TuneCand *c, const char *cdir, int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_BUILT) {
		c->status = NULL; /* to be run */
		return;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (code == EXIT_CC_ERROR) {
		c->status = "compile_error";
		c->detail = first_line(ir_fmt("%s/cc.log", cdir), "error");
	} else if (code == EXIT_CC_TIMEOUT) {
		c->status = "compile_timeout";
	} else {
		c->status = "invalid";
		c->detail = WIFSIGNALED(status) ? ir_fmt("weft crashed (signal %d)", WTERMSIG(status))
		                                : first_line(ir_fmt("%s/build.log", cdir), "error");
	}
}

/* Build every candidate of the batch whose first[k] is k, jobs at a time; the others are
   copies of an earlier one (first[k] < k) and share its build. */
static void build_all(const TuneBench *b, TuneCand *c, int n, int jobs, const int *first, char **cdir)
{
	pid_t *pid = ir_alloc(sizeof(pid_t) * (size_t)(n + 1));
	int running = 0;
	for (int k = 0; k < n || running > 0;) {
		if (k < n && first[k] != k) {
			cdir[k] = cdir[first[k]];
			k++;
			continue;
		}
		if (k < n && running < jobs) {
			cdir[k] = ir_fmt("%s/c%d", b->dir, k);
			mkdir(cdir[k], 0700);
			fflush(NULL);
			pid[k] = fork();
			if (pid[k] == 0)
				build_child(b, &c[k], cdir[k]);
			if (pid[k] < 0) {
				c[k].status = "invalid";
				c[k].detail = ir_fmt("cannot fork: %s", strerror(errno));
				pid[k] = 0;
			} else {
				running++;
			}
			k++;
			continue;
		}
		int status;
		pid_t done = wait(&status);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			die("tune: wait: %s", strerror(errno));
		}
		for (int j = 0; j < k; j++)
			if (pid[j] == done) {
				pid[j] = 0;
				running--;
				built(&c[j], cdir[j], status);
			}
	}
	for (int k = 0; k < n; k++)
		if (first[k] != k && c[first[k]].status) /* its build failed */
			c[k].status = c[first[k]].status, c[k].detail = c[first[k]].detail;
}

/* A profiled run's "op I NS" lines: per op, its time (0 where none). */
static double *read_op_times(const char *path, int nops)
{
	double *t = ir_alloc(sizeof(double) * (size_t)(nops + 1));
	char *data;
	size_t len;
	if (!ir_read_file(path, &data, &len))
		return t;
	for (char *s = data; (s = strstr(s, "\nop ")) != NULL;) {
		char *end;
		long i = strtol(s + 4, &end, 10);
		if (i >= 0 && i < nops)
			t[i] = strtod(end, &end);
		s = end;
	}
	free(data);
	return t;
}

static void tune_measure_one(const TuneBench *b, TuneCand *c, const char *cdir)
{
	const char *mode = c->inject && strcmp(c->inject, "compile") != 0 ? c->inject : "";
	char *argv[] = {ir_fmt("%s/prog", cdir), (char *)b->dir, (char *)mode, NULL};
	const char *out = ir_fmt("%s/run.log", cdir);
	int rc = tune_run_log(argv, b->run_timeout, out);
	char *line = first_line(out, NULL);
	if (rc == 0 && !strncmp(line, "ok ", 3)) {
		c->status = "ok";
		c->median_ns = atof(line + 3);
		if (b->profile && !c->versus)
			c->op_ns = read_op_times(out, b->model->nops);
		const char *vs = c->versus ? first_line(out, "vs ") : "";
		if (!strncmp(vs, "vs ", 3))
			c->vs_ratio = atof(vs + 3);
		else if (c->versus) {
			c->status = "run_error";
			c->detail = "no vs line";
		}
	} else if (rc == EXIT_WRONG) {
		c->status = "wrong";
		c->detail = line;
	} else if (tune_timed_out) {
		c->status = "timeout";
		c->detail = ir_fmt("over %g s", b->run_timeout);
	} else if (rc > 128) {
		c->status = "crash";
		c->detail = ir_fmt("signal %d", rc - 128);
	} else {
		c->status = "run_error";
		c->detail = ir_fmt("exit %d: %s", rc, line);
	}
}

/* The first candidate of c[0..k] with c[k]'s schedule, injection and versus: a batch may time one
   schedule several times (the rounds of a confirmation), built once. */
static bool same_text(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static int first_copy(const TuneCand *c, int k)
{
	for (int j = 0; j < k; j++)
		if (!strcmp(c[j].sched, c[k].sched) && same_text(c[j].inject, c[k].inject) &&
		    same_text(c[j].versus, c[k].versus))
			return j;
	return k;
}

void tune_measure(const TuneBench *b, TuneCand *c, int n, int jobs,
                  void (*done)(void *ctx, TuneCand *c), void *ctx)
{
	char **cdir = ir_alloc(sizeof(char *) * (size_t)(n + 1));
	int *first = ir_alloc(sizeof(int) * (size_t)(n + 1));
	for (int k = 0; k < n; k++) {
		c[k].status = NULL, c[k].detail = "", c[k].median_ns = 0, c[k].op_ns = NULL, c[k].vs_ratio = NAN;
		first[k] = first_copy(c, k);
	}
	build_all(b, c, n, jobs < 1 ? 1 : jobs, first, cdir);
	for (int k = 0; k < n; k++) {
		if (!c[k].status)
			tune_measure_one(b, &c[k], cdir[k]);
		done(ctx, &c[k]);
		bool last = true; /* its build's last use */
		for (int j = k + 1; j < n; j++)
			last &= first[j] != first[k];
		if (last)
			tune_remove_tmpdir(cdir[k]);
	}
}
