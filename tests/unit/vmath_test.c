/* tests/unit/vmath_test.c: the SIMD targets' exp, sigmoid, tanh and gelu (the entries of
 * templates/TARGET.tpl and the helper functions they call), and how the generator defines those
 * helpers in a generated file.
 *
 * Accuracy: for each target this CPU (or qemu-aarch64, for neon) can run, a checker program is
 * written from the table exactly as the generator reads it (the guard, the include, the
 * helpers that the four entries name, the entries applied to one vector), with
 * tests/unit/vmath_sweep.h as its body: a dense sweep against libm in double, failing above
 * 1e-6 relative error (absolute below 2^-120). It must also compile cleanly with strict
 * warnings (and with clang when installed). The measured errors are printed. The sweep takes
 * every 257th float (2053rd under qemu); WEFT_VMATH_STEP=N sets another stride (1: every float).
 * Generation: helpers only when the file calls them, each once, before their callers, inside
 * the target's guard; none when a stage's SIMD branch is dropped or the target is scalar.
 * Build: cc -std=c11 -I. tests/unit/vmath_test.c <weft objects but gen/main.o> -lm (from the
 * repository root, which the checkers' #include of tests/unit/vmath_sweep.h needs).
 */
#define _POSIX_C_SOURCE 200809L
#include "gen/gen.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char dir[] = "/tmp/weft-vmath.XXXXXX";

static bool have(const char *tool)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

/* Can this CPU run target's code (x86: __builtin_cpu_supports needs literal names)? */
static bool cpu_runs(const char *target)
{
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	if (!strcmp(target, "sse"))
		return __builtin_cpu_supports("sse2");
	if (!strcmp(target, "avx2"))
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	if (!strcmp(target, "avx512"))
		return __builtin_cpu_supports("avx512f");
	return false;
#elif defined(__aarch64__)
	return !strcmp(target, "neon");
#else
	(void)target;
	return false;
#endif
}

static const char *expand(const Templates *t, const char *key, const char *a1, const char *a2)
{
	const char *tpl = gen_template_find(t, key);
	if (!tpl) {
		fail("no @%s entry", key);
		return "0";
	}
	Buf b = {0};
	gen_expand(&b, tpl, a1, a2, NULL);
	const char *s = ir_strdup(b.data ? b.data : "");
	buf_free(&b);
	return s;
}

static const char *const fns[] = {"exp", "sigmoid", "tanh", "gelu"};

/* The checker program of target t, or NULL. */
static char *checker(const Templates *t, const char *target)
{
	Buf calls = {0}, c = {0};
	for (int i = 0; i < 4; i++)
		emitf(&calls, "%s\n", expand(t, fns[i], "weft_x", NULL));
	emitf(&c, "/* the vmath checker of %s, written by tests/unit/vmath_test.c */\n", target);
	emitf(&c, "#if !(%s)\n#error \"the target's guard does not hold\"\n#endif\n", gen_template(t, "guard"));
	emitf(&c, "%s\n", gen_template(t, "include"));
	gen_template_helpers(&c, t, calls.data);
	emitf(&c, "\n#define WEFT_W %s\n#define WEFT_TARGET \"%s\"\n", gen_template(t, "width"), target);
	for (int i = 0; i < 4; i++) {
		emitf(&c, "static void weft_t_%s(const float *in, float *out)\n{\n", fns[i]);
		emitf(&c, "\t%s weft_x = %s;\n", gen_template(t, "vtype"), expand(t, "load", "in", NULL));
		emitf(&c, "\t%s;\n}\n", expand(t, "store", "out", expand(t, fns[i], "weft_x", NULL)));
	}
	emitf(&c, "#include \"tests/unit/vmath_sweep.h\"\n");
	buf_free(&calls);
	return c.data;
}

static bool write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

/* Print a file's lines, indented. */
static void show(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	while (f && fgets(line, sizeof line, f))
		printf("    %s", line);
	if (f)
		fclose(f);
}

static const char *strict = "-std=c99 -O2 -Wall -Wextra -pedantic -Werror";

static void check_target(const char *target, const char *flags)
{
	char name[64];
	snprintf(name, sizeof name, "vmath/%s", target);
	begin(name);
	bool neon = !strcmp(target, "neon");
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	const char *exec = "", *link = "", *step = "257";
	if (!cpu_runs(target)) {
		if (!neon) {
			printf("skipped: %s: this CPU lacks it\n", name);
			return;
		}
		if (!have("aarch64-linux-gnu-gcc") || !have("qemu-aarch64")) {
			printf("skipped: %s: %s not installed\n", name,
			       have("qemu-aarch64") ? "aarch64-linux-gnu-gcc" : "qemu-aarch64");
			return;
		}
		cc = "aarch64-linux-gnu-gcc", link = "-static", exec = "qemu-aarch64 ", step = "2053";
	}
	const Templates *t = gen_load_templates(target);
	for (int i = 0; i < 4; i++)
		CHECK(gen_template_find(t, fns[i]), "%s.tpl has no @%s entry", target, fns[i]);
	if (test_failed) {
		end();
		return;
	}
	char *src = checker(t, target);
	char path[256], exe[256], log[256], cmd[2048];
	snprintf(path, sizeof path, "%s/%s.c", dir, target);
	snprintf(exe, sizeof exe, "%s/%s", dir, target);
	snprintf(log, sizeof log, "%s/%s.log", dir, target);
	CHECK(src && write_file(path, src), "cannot write %s", path);
	free(src);
	snprintf(cmd, sizeof cmd, "%s %s %s %s -I. %s -o %s -lm >%s 2>&1", cc, strict, flags, link, path, exe, log);
	if (system(cmd) != 0) {
		fail("the checker does not compile cleanly: %s", cmd);
		show(log);
		end();
		return;
	}
	if (!neon && have("clang")) {
		snprintf(cmd, sizeof cmd, "clang %s %s -I. -c %s -o %s.o >%s 2>&1", strict, flags, path, exe, log);
		if (system(cmd) != 0) {
			fail("the checker does not compile cleanly with clang: %s", cmd);
			show(log);
		}
	}
	if (getenv("WEFT_VMATH_STEP") && *getenv("WEFT_VMATH_STEP"))
		step = getenv("WEFT_VMATH_STEP");
	snprintf(cmd, sizeof cmd, "%s%s %s >%s 2>&1", exec, exe, step, log);
	int st = system(cmd);
	show(log);
	CHECK(st == 0, "errors above the bound (%s)", cmd);
	end();
}

/* ---- the helpers in generated files ---- */

static int count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s ? strstr(s, what) : NULL; p; p = strstr(p + 1, what))
		n++;
	return n;
}

static void test_helpers_named(void)
{
	begin("vmath/helpers-named");
	const Templates *t = gen_load_templates("avx512");
	Buf b = {0};
	gen_template_helpers(&b, t, "y = weft_v_sigmoid(x);");
	const char *s = b.data ? b.data : "";
	const char *hl = strstr(s, "weft_v_exp_hl("), *e = strstr(s, "weft_v_exp(");
	const char *sg = strstr(s, "weft_v_sigmoid(");
	CHECK(hl && e && sg && hl < e && e < sg, "sigmoid's helpers missing or out of order:\n%s", s);
	CHECK(!strstr(s, "weft_v_tanh") && !strstr(s, "weft_v_gelu"), "helpers that were not named:\n%s", s);
	CHECK(count(s, "static inline") == 3, "want 3 definitions, got %d", count(s, "static inline"));
	buf_free(&b);
	gen_template_helpers(&b, t, "aweft_v_exp(x) + weft_v_expo(x) + weft_i");
	CHECK(!b.data, "helpers for names that are not whole helper names:\n%s", b.data);
	buf_free(&b);
	end();
}

/* Generate model (with the default schedule of target) as weft gen would; the .c, malloc'd. */
static char *generate(const char *model, const char *target)
{
	static Schedule S; /* the program refers to it: kept until the next call */
	Source *src = ir_read_source(model);
	Graph *g = src ? ir_parse(src) : NULL;
	if (!g || !ir_infer(g) || !ir_load_weights(g, NULL) || !ir_fold(g))
		return NULL;
	Prog *P = ir_lower(g);
	free(S.d);
	S = (Schedule){0};
	ir_sched_target(target);
	ir_sched_default(P, &S);
	if (!P || !ir_sched_apply(P, &S))
		return NULL;
	ir_plan_prog(P);
	GenOptions go = {.target = target};
	Buf h = {0}, c = {0};
	gen_model(g, P, &go, &h, &c);
	buf_free(&h);
	return c.data;
}

static void test_generated(void)
{
	begin("vmath/generated");
	const char *m = "tests/run/vec_dense_act.weft";
	char *c = generate(m, "avx512");
	CHECK(c, "cannot generate %s", m);
	if (c) {
		static const char *const defs[] = {"weft_v_exp_hl", "weft_v_exp", "weft_v_sigmoid", "weft_v_tanh",
			"weft_v_gelu"};
		for (int i = 0; i < 5; i++)
			CHECK(count(c, ir_fmt("static inline __m512 %s(", defs[i])) == 1, "%s is not defined once", defs[i]);
		const char *run = strstr(c, "int vec_dense_act_run(");
		CHECK(run && strstr(run, "weft_v_gelu(") && strstr(run, "weft_v_sigmoid(") && strstr(run, "weft_v_tanh(") &&
		      strstr(run, "weft_v_exp("), "a call missing in the SIMD branch");
		CHECK(!strstr(c, "scalar code"), "a stage kept its scalar code");
		CHECK(strstr(c, "#if defined(__AVX512F__)\n#include <immintrin.h>\n\n/*") != NULL,
		      "the helpers are not right after the include, under the guard");
		char *again = generate(m, "avx512");
		CHECK(again && !strcmp(c, again), "two generations differ");
		free(again);
	}
	free(c);
	/* No vectorized stage (unary_gelu's rows are 20 long): no helper, no unused function. */
	c = generate("tests/run/unary_gelu.weft", "avx512");
	CHECK(c && !strstr(c, "weft_v_"), "helpers in a file with no SIMD branch that calls them");
	free(c);
	c = generate(m, "scalar");
	CHECK(c && !strstr(c, "weft_v_"), "helpers on the scalar target");
	free(c);
	end();
}

int main(void)
{
	if (!mkdtemp(dir)) {
		printf("FAIL vmath: cannot make a temporary directory\n");
		return 1;
	}
	test_helpers_named();
	test_generated();
	check_target("sse", "-msse2");
	check_target("avx2", "-mavx2 -mfma");
	check_target("avx512", "-mavx512f");
	check_target("neon", "");
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("note: cannot remove %s\n", dir);
	return unit_failures != 0;
}
