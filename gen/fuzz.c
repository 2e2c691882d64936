/* gen/fuzz.c: weft fuzz: many random legal schedules of one model, each checked against the
 * reference interpreter.
 *
 * Compiling one program per schedule would be far too slow, so the variants share programs:
 *   1. parse, infer and load weights once; random inputs and the reference outputs, written
 *      into a private directory;
 *   2. each variant in a child process (up to --jobs at a time), so that a weft bug in one
 *      (a rejected schedule, an internal error) costs only that variant: lower, draw the
 *      schedule of seed S+K, print it to vK.sched and read it back (the text form is fuzzed
 *      too), apply, plan, and generate NAME_vK.{h,c} (model name suffixed, so symbols differ;
 *      big models get runtime_params, so their weights are not compiled 200 times);
 *   3. the variants compiled (-O1) in --jobs groups of one compiler call each (a group that
 *      fails is compiled file by file to find the culprits), and linked with one harness;
 *   4. the harness runs every variant on the same inputs (outputs and workspace pre-filled with
 *      NaN, so a read of anything not written shows; an alarm per variant) and prints one line
 *      each; a crash or timeout costs that variant and the
 *      harness is restarted after it.
 * One line per failing variant names its seed and schedule file; the directory is kept when
 * any failed. Exit status 1 if any variant failed.
 */
#include "gen.h"
#include "../tune/tune.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	BIG_PARAMS = 1 << 14, /* floats of params above which variants fill them at run time */
	VARIANT_SECONDS = 120, /* the harness's alarm per variant */
};

typedef struct Variant {
	uint64_t seed;
	const char *name;  /* NAME_vK */
	char *failure;     /* why it failed, or NULL */
	bool generated;    /* its .c and .h exist */
	bool compiled;
	bool init_params;  /* its header declares NAME_vK_init_params */
	bool ran;          /* the harness reported on it */
} Variant;

typedef struct Fuzz {
	const FuzzOptions *fo;
	Graph *g;
	const char *dir;
	bool big;
	Variant *v;
	int n;
} Fuzz;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static Graph *load_graph(const FuzzOptions *fo)
{
	Source *src = ir_read_source(fo->model);
	if (!src)
		return NULL;
	Graph *g = ir_parse(src);
	if (!g || !ir_infer(g) || !ir_load_weights(g, fo->weights) || !ir_rewrite(g) || ir_nerrors > 0)
		return NULL;
	return g;
}

/* ---- 2. generating the variants, each in a child ---- */

/* In the child: everything for variant k; the exit status says how far it got. */
static _Noreturn void generate_child(Fuzz *F, int k)
{
	Variant *v = &F->v[k];
	const char *log = ir_fmt("%s/v%d.log", F->dir, k);
	FILE *lf = freopen(log, "w", stderr);
	(void)lf;
	Graph *g = F->g;
	Prog *P = ir_lower(g);
	Schedule S = {0};
	ir_sched_random(P, v->seed, &S);
	const char *path = ir_fmt("%s/v%d.sched", F->dir, k);
	FILE *f = fopen(path, "w");
	if (!f)
		_exit(10);
	ir_sched_print(g, &S, f);
	fclose(f);
	Source *src = ir_read_source(path);
	Schedule S2 = {0};
	if (!src || !ir_sched_parse(src, g, &S2)) {
		fflush(NULL);
		_exit(11);
	}
	if (!ir_sched_apply(P, &S2)) {
		fflush(NULL);
		_exit(12);
	}
	ir_plan_prog(P);
	snprintf(g->name, sizeof g->name, "%s", v->name);
	GenOptions go = {.target = F->fo->target ? F->fo->target : "native", .runtime_params = F->big};
	Buf h = {0}, c = {0};
	gen_model(g, P, &go, &h, &c);
	if (ir_nerrors > 0) {
		fflush(NULL);
		_exit(13);
	}
	const char *names[] = {ir_fmt("%s.h", v->name), ir_fmt("%s.c", v->name)};
	const Buf *bufs[] = {&h, &c};
	bool ok = gen_write_files(F->dir, 2, names, bufs);
	fflush(NULL);
	_exit(ok ? 0 : 10);
}

static char *last_lines(const char *path)
{
	char *data;
	size_t len;
	if (!ir_read_file(path, &data, &len))
		return "";
	/* the first error line is the most telling */
	char *e = strstr(data, "error: ");
	char *s = e ? e : data;
	char *nl = strchr(s, '\n');
	char *r = ir_strndup(s, nl ? (size_t)(nl - s) : strlen(s));
	free(data);
	return r;
}

static void generated(Fuzz *F, int k, int status)
{
	Variant *v = &F->v[k];
	const char *log = ir_fmt("%s/v%d.log", F->dir, k);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		char *h;
		size_t len;
		v->generated = true;
		if (ir_read_file(ir_fmt("%s/%s.h", F->dir, v->name), &h, &len)) {
			v->init_params = strstr(h, ir_fmt("%s_init_params(", v->name)) != NULL;
			free(h);
		}
		return;
	}
	const char *stage = "weft failed";
	if (WIFEXITED(status))
		switch (WEXITSTATUS(status)) {
		case 11: stage = "its printed schedule does not parse back"; break;
		case 12: stage = "the schedule was rejected"; break;
		case 13: stage = "the generator reported an error"; break;
		default: stage = ir_fmt("weft failed (exit %d)", WEXITSTATUS(status)); break;
		}
	else if (WIFSIGNALED(status))
		stage = ir_fmt("weft crashed (signal %d)", WTERMSIG(status));
	v->failure = ir_fmt("%s: %s", stage, last_lines(log));
}

static void generate_all(Fuzz *F)
{
	int jobs = F->fo->jobs, running = 0;
	pid_t *pid = ir_alloc(sizeof(pid_t) * (size_t)(F->n + 1));
	for (int k = 0; k < F->n || running > 0;) {
		if (k < F->n && running < jobs) {
			fflush(NULL);
			pid[k] = fork();
			if (pid[k] == 0)
				generate_child(F, k);
			if (pid[k] < 0) {
				F->v[k].failure = ir_fmt("cannot fork: %s", strerror(errno));
				pid[k] = 0;
			} else {
				running++;
			}
			k++;
			continue;
		}
		int status;
		pid_t done = wait(&status);
		if (done < 0)
			die("fuzz: wait: %s", strerror(errno));
		for (int j = 0; j < k; j++)
			if (pid[j] == done) {
				pid[j] = 0;
				running--;
				generated(F, j, status);
			}
	}
}

/* ---- 3. compiling ---- */

/* Run argv in dir (a child chdirs there, so that `cc -c` leaves its objects in dir). */
static pid_t start_in_dir(char **argv, const char *dir, const char *log)
{
	fflush(NULL);
	pid_t p = fork();
	if (p == 0) {
		if (chdir(dir) != 0)
			_exit(126);
		int rc = tune_run_log(argv, 0, log);
		_exit(rc < 0 ? 127 : rc > 255 ? 255 : rc);
	}
	return p;
}

static char **compile_argv(const Fuzz *F, int *n, int *cap)
{
	const char *tf = tune_target_flags(F->fo->target ? F->fo->target : "native");
	return gen_cc_argv(ir_fmt("-O1 -std=c99 -w -c %s", tf ? tf : ""), n, cap);
}

static void push_arg(char ***argv, int *n, int *cap, const char *s)
{
	if (*n + 2 >= *cap)
		*argv = ir_xrealloc(*argv, sizeof(char *) * (size_t)(*cap *= 2));
	(*argv)[(*n)++] = (char *)s;
	(*argv)[*n] = NULL;
}

/* Compile the generated variants in --jobs groups; a failed group is redone file by file. */
static void compile_all(Fuzz *F)
{
	int jobs = F->fo->jobs, ngroups = 0;
	int *group = ir_alloc(sizeof(int) * (size_t)(F->n + 1));
	int ngen = 0;
	for (int k = 0; k < F->n; k++)
		if (F->v[k].generated)
			group[k] = ngen++ % jobs;
	ngroups = ngen < jobs ? ngen : jobs;
	pid_t *pid = ir_alloc(sizeof(pid_t) * (size_t)(ngroups + 1));
	for (int gi = 0; gi < ngroups; gi++) {
		int n, cap;
		char **argv = compile_argv(F, &n, &cap);
		for (int k = 0; k < F->n; k++)
			if (F->v[k].generated && group[k] == gi)
				push_arg(&argv, &n, &cap, ir_fmt("%s.c", F->v[k].name));
		pid[gi] = start_in_dir(argv, F->dir, ir_fmt("%s/cc%d.log", F->dir, gi));
		free(argv);
	}
	for (int gi = 0; gi < ngroups; gi++) {
		int status;
		bool ok = pid[gi] > 0 && waitpid(pid[gi], &status, 0) == pid[gi] && WIFEXITED(status) &&
		          WEXITSTATUS(status) == 0;
		for (int k = 0; k < F->n; k++) {
			if (!F->v[k].generated || group[k] != gi)
				continue;
			if (ok) {
				F->v[k].compiled = true;
				continue;
			}
			int n, cap, st;
			char **argv = compile_argv(F, &n, &cap);
			push_arg(&argv, &n, &cap, ir_fmt("%s.c", F->v[k].name));
			const char *log = ir_fmt("%s/v%d.cc.log", F->dir, k);
			pid_t p = start_in_dir(argv, F->dir, log);
			free(argv);
			if (p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0)
				F->v[k].compiled = true;
			else
				F->v[k].failure = ir_fmt("the generated C does not compile: %s", last_lines(log));
		}
	}
}

/* ---- the harness: runs variants FIRST.. of its table, one line each ---- */

static void emit_harness(Fuzz *F, Buf *b)
{
	const Graph *g = F->g;
	emitf(b, "/* weft fuzz harness for %s: usage: harness DIR FIRST */\n", g->name);
	emitf(b, "#define _POSIX_C_SOURCE 200809L\n#include <math.h>\n#include <signal.h>\n"
	         "#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
	         "#include <unistd.h>\n");
	for (int k = 0; k < F->n; k++)
		if (F->v[k].compiled)
			emitf(b, "#include \"%s.h\"\n", F->v[k].name);
	emitf(b, "\nstatic float *weft_load(const char *dir, const char *name, size_t n)\n{\n"
	         "\tchar path[4096];\n\tsnprintf(path, sizeof path, \"%%s/%%s\", dir, name);\n"
	         "\tFILE *f = fopen(path, \"rb\");\n\tfloat *v = malloc(n * sizeof(float) + 4);\n"
	         "\tif (!f || !v || fread(v, sizeof(float), n, f) != n) {\n"
	         "\t\tfprintf(stderr, \"harness: cannot read %%s\\n\", path);\n\t\texit(2);\n\t}\n"
	         "\tfclose(f);\n\treturn v;\n}\n\n");
	int nin = g->ninputs, nout = g->noutputs;
	emitf(b, "static const size_t weft_in_n[] = {");
	for (int i = 0; i < nin; i++)
		emitf(b, "%lld, ", (long long)ir_numel(&g->tensors[g->inputs[i]]));
	emitf(b, "0};\nstatic const size_t weft_out_n[] = {");
	for (int i = 0; i < nout; i++)
		emitf(b, "%lld, ", (long long)ir_numel(&g->tensors[g->outputs[i]]));
	emitf(b, "0};\nstatic const char *const weft_out_name[] = {");
	for (int i = 0; i < nout; i++)
		emitf(b, "\"%s\", ", g->tensors[g->outputs[i]].name);
	emitf(b, "0};\n\n");
	/* one variant: fresh inputs, NaN outputs, an aligned workspace */
	emitf(b, "static int weft_variant(int k, float **in, float **out, const float *weights)\n{\n");
	emitf(b, "\tint rc = -1;\n\tunsigned char *raw;\n\tvoid *ws;\n\t(void)in; (void)out; (void)weights;\n"
	         "\tswitch (k) {\n");
	int idx = 0;
	for (int k = 0; k < F->n; k++) {
		Variant *v = &F->v[k];
		if (!v->compiled)
			continue;
		const char *M = ir_strdup(v->name);
		for (char *p = (char *)M; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		emitf(b, "\tcase %d:\n\t\traw = malloc((size_t)%s_WORKSPACE_BYTES + 64);\n", idx, M);
		emitf(b, "\t\tmemset(raw, 0xff, (size_t)%s_WORKSPACE_BYTES + 64); /* NaN: no stale values */\n", M);
		emitf(b, "\t\tws = raw + (64 - (uintptr_t)raw %% 64) %% 64;\n");
		if (v->init_params)
			emitf(b, "\t\t%s_init_params(weights);\n", v->name);
		emitf(b, "\t\trc = %s_run(", v->name);
		for (int i = 0; i < nin; i++)
			emitf(b, "in[%d], ", i);
		for (int i = 0; i < nout; i++)
			emitf(b, "out[%d], ", i);
		emitf(b, "ws);\n\t\tfree(raw);\n\t\tbreak;\n");
		idx++;
	}
	emitf(b, "\t}\n\treturn rc;\n}\n\n");
	emitf(b, "int main(int argc, char **argv)\n{\n\tint nv = %d, nin = %d, nout = %d;\n", idx, nin, nout);
	emitf(b, "\tif (argc != 3)\n\t\treturn 2;\n\tconst char *dir = argv[1];\n"
	         "\tfloat *in0[%d], *in[%d], *want[%d], *out[%d], *weights = NULL;\n",
	      nin + 1, nin + 1, nout + 1, nout + 1);
	emitf(b, "\tchar name[64];\n\tfor (int i = 0; i < nin; i++) {\n"
	         "\t\tsnprintf(name, sizeof name, \"in%%d.bin\", i);\n"
	         "\t\tin0[i] = weft_load(dir, name, weft_in_n[i]);\n"
	         "\t\tin[i] = malloc(weft_in_n[i] * sizeof(float) + 4);\n\t}\n");
	emitf(b, "\tfor (int i = 0; i < nout; i++) {\n\t\tsnprintf(name, sizeof name, \"want%%d.bin\", i);\n"
	         "\t\twant[i] = weft_load(dir, name, weft_out_n[i]);\n"
	         "\t\tout[i] = malloc(weft_out_n[i] * sizeof(float) + 4);\n\t}\n");
	if (F->big)
		emitf(b, "\tweights = weft_load(dir, \"weights.bin\", %lldu);\n", (long long)g->nweights);
	emitf(b, "\tfor (int k = atoi(argv[2]); k < nv; k++) {\n"
	         "\t\tfor (int i = 0; i < nin; i++)\n"
	         "\t\t\tmemcpy(in[i], in0[i], weft_in_n[i] * sizeof(float));\n"
	         "\t\tfor (int i = 0; i < nout; i++)\n"
	         "\t\t\tfor (size_t j = 0; j < weft_out_n[i]; j++)\n\t\t\t\tout[i][j] = NAN;\n"
	         "\t\talarm(%d);\n\t\tint rc = weft_variant(k, in, out, weights);\n\t\talarm(0);\n"
	         "\t\tif (rc != 0) {\n\t\t\tprintf(\"%%d FAIL its run function returned %%d\\n\", k, rc);\n"
	         "\t\t\tfflush(stdout);\n\t\t\tcontinue;\n\t\t}\n"
	         "\t\tint bad = 0;\n"
	         "\t\tfor (int i = 0; i < nout && !bad; i++) {\n"
	         "\t\t\tsize_t nbad = 0, first = 0;\n"
	         "\t\t\tfor (size_t j = 0; j < weft_out_n[i]; j++) {\n"
	         "\t\t\t\tdouble g = out[i][j], w = want[i][j];\n"
	         "\t\t\t\tint same = g == w || fabs(g - w) <= 1e-4 + 1e-4 * fabs(w) || (isnan(g) && isnan(w));\n"
	         "\t\t\t\tif (!same && nbad++ == 0) /* as gen_close: infinities and NaNs match their own */\n"
	         "\t\t\t\t\tfirst = j;\n\t\t\t}\n"
	         "\t\t\tif (nbad) {\n\t\t\t\tbad = 1;\n"
	         "\t\t\t\tprintf(\"%%d FAIL %%s[%%lu]: got %%.9g, want %%.9g (%%lu of %%lu elements differ)\\n\",\n"
	         "\t\t\t\t       k, weft_out_name[i], (unsigned long)first, out[i][first], want[i][first],\n"
	         "\t\t\t\t       (unsigned long)nbad, (unsigned long)weft_out_n[i]);\n\t\t\t}\n\t\t}\n"
	         "\t\tif (!bad)\n\t\t\tprintf(\"%%d ok\\n\", k);\n\t\tfflush(stdout);\n\t}\n\treturn 0;\n}\n",
	      VARIANT_SECONDS);
}

static bool build_harness(Fuzz *F, const char **prog)
{
	Buf b = {0};
	emit_harness(F, &b);
	const char *names[] = {"weft_fuzz.c"};
	const Buf *bufs[] = {&b};
	bool ok = gen_write_files(F->dir, 1, names, bufs);
	buf_free(&b);
	if (!ok)
		return false;
	int n, cap;
	char **argv = gen_cc_argv("-O1 -std=c99 -w", &n, &cap);
	*prog = ir_fmt("%s/weft_fuzz", F->dir);
	push_arg(&argv, &n, &cap, "-o");
	push_arg(&argv, &n, &cap, *prog);
	push_arg(&argv, &n, &cap, "weft_fuzz.c");
	for (int k = 0; k < F->n; k++)
		if (F->v[k].compiled)
			push_arg(&argv, &n, &cap, ir_fmt("%s.o", F->v[k].name));
	push_arg(&argv, &n, &cap, "-lm");
	const char *log = ir_fmt("%s/link.log", F->dir);
	int st;
	pid_t p = start_in_dir(argv, F->dir, log);
	free(argv);
	if (p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return true;
	gen_show_file(log);
	error_plain("fuzz: the harness does not build (see %s)", log);
	return false;
}

/* ---- 4. running ---- */

static void run_all(Fuzz *F, const char *prog)
{
	int nv = 0;
	int *index = ir_alloc(sizeof(int) * (size_t)(F->n + 1)); /* harness slot -> variant */
	for (int k = 0; k < F->n; k++)
		if (F->v[k].compiled)
			index[nv++] = k;
	int first = 0;
	for (int round = 0; first < nv; round++) {
		const char *log = ir_fmt("%s/run%d.log", F->dir, round);
		char *prog_argv[] = {(char *)prog, (char *)F->dir, ir_fmt("%d", first), NULL};
		char **argv = gen_exec_argv(prog_argv); /* under $WEFT_EXEC, as run and verify */
		int rc = tune_run_log(argv, 0, log);
		free(argv);
		if (rc < 0) { /* it could not be started (a wrong $WEFT_EXEC): no variant can run */
			for (int j = first; j < nv; j++) {
				F->v[index[j]].failure = "the harness could not be started";
				F->v[index[j]].ran = true;
			}
			break;
		}
		char *data;
		size_t len;
		int next = first;
		if (ir_read_file(log, &data, &len)) {
			for (char *line = data; line && *line;) {
				char *nl = strchr(line, '\n');
				if (nl)
					*nl = 0;
				char *rest;
				long slot = strtol(line, &rest, 10);
				if (rest != line && slot >= first && slot < nv) {
					Variant *v = &F->v[index[slot]];
					v->ran = true;
					if (strncmp(rest, " ok", 3) != 0)
						v->failure = ir_fmt("wrong result: %s", rest + (*rest == ' ') + 5);
					if (slot + 1 > next)
						next = (int)slot + 1;
				}
				line = nl ? nl + 1 : NULL;
			}
			free(data);
		}
		if (rc == 0 && next >= nv)
			break;
		if (next >= nv)
			break;
		/* the variant at `next` crashed, timed out or made the harness fail */
		Variant *v = &F->v[index[next]];
		v->ran = true;
		v->failure = rc == 128 + SIGALRM ? ir_fmt("timed out (over %d s)", VARIANT_SECONDS)
		           : rc > 128 ? ir_fmt("crashed (signal %d)", rc - 128)
		                      : ir_fmt("the harness failed (exit %d): %s", rc, last_lines(log));
		first = next + 1;
	}
}

/* ---- the command ---- */

int gen_fuzz(const FuzzOptions *fo)
{
	double t0 = now();
	Graph *g = load_graph(fo);
	if (!g)
		return 1;
	/* WEFT_FUZZ_RUNTIME_PARAMS=1 forces runtime params on small models too (tests the option) */
	const char *force = getenv("WEFT_FUZZ_RUNTIME_PARAMS");
	Fuzz F = {.fo = fo, .g = g, .n = fo->count,
	          .big = g->nweights > BIG_PARAMS || (force && !strcmp(force, "1"))};
	char base[IR_MAX_NAME + 1];
	snprintf(base, sizeof base, "%s", g->name);
	F.v = ir_alloc(sizeof(Variant) * (size_t)(F.n + 1));
	for (int k = 0; k < F.n; k++) {
		F.v[k].seed = fo->seed + (uint64_t)k;
		F.v[k].name = ir_fmt("%.50s_v%d", base, k);
	}
	F.dir = gen_make_tmpdir();
	if (!F.dir)
		return 1;
	float **in = gen_random_inputs(g, 1);
	float **want = gen_reference_outputs(g, (const float *const *)in);
	bool ok = true;
	for (int i = 0; i < g->ninputs && ok; i++)
		ok = gen_write_host_floats(ir_fmt("%s/in%d.bin", F.dir, i), in[i], ir_numel(&g->tensors[g->inputs[i]]));
	for (int i = 0; i < g->noutputs && ok; i++)
		ok = gen_write_host_floats(ir_fmt("%s/want%d.bin", F.dir, i), want[i], ir_numel(&g->tensors[g->outputs[i]]));
	if (ok && F.big)
		ok = gen_write_host_floats(ir_fmt("%s/weights.bin", F.dir), g->weights, g->nweights);
	if (!ok) {
		gen_finish_tmpdir();
		return 1;
	}

	generate_all(&F);
	compile_all(&F);
	const char *prog;
	int nok = 0, nfail = 0;
	bool any = false;
	for (int k = 0; k < F.n; k++)
		any |= F.v[k].compiled;
	if (any && !build_harness(&F, &prog)) {
		fprintf(stderr, "weft: note: kept %s\n", F.dir);
		return 1;
	}
	if (any)
		run_all(&F, prog);
	for (int k = 0; k < F.n; k++) {
		Variant *v = &F.v[k];
		if (!v->failure && v->compiled && !v->ran)
			v->failure = "the harness never reported on it";
		if (!v->failure) {
			nok++;
			continue;
		}
		nfail++;
		printf("FAIL %s seed %llu: %s (schedule %s/v%d.sched)\n", base, (unsigned long long)v->seed,
		       v->failure, F.dir, k);
	}
	printf("fuzz %s: %d schedules, %d ok\n", base, F.n, nok);
	(void)t0;
	if (nfail) {
		printf("  reproduce one: weft verify %s --schedule %s/vK.sched (the directory is kept)\n",
		       fo->model, F.dir);
		fflush(stdout);
		return 1;
	}
	gen_finish_tmpdir();
	return 0;
}
