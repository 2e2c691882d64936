/* gen/cgen.c: the C generator: NAME.h and NAME.c for a graph with weights loaded and its
 * scheduled loop program.
 *
 * This file writes the frame of the output: the header, the params as static arrays (packed
 * into their layouts here, at generation time; or, for fuzzing and tuning, mutable arrays that
 * NAME_init_params fills from the logical blob and NAME_params_each lists), and NAME_run
 * (argument checks, then one block per stage nest in program order, then return 0). It knows
 * where each tensor's bytes live from the memory plan (Tensor.store, ws_offset, view_of), which
 * it remakes from the program first, and inserts the copies the plan leaves to it: an output
 * whose bytes are not the caller's output buffer (an input or param that is also an output, a
 * repeated output). The nests
 * themselves are printed by kernel.c. Every internal C identifier starts with weft_, which
 * model names cannot, so tensor names can be used as parameter names unchanged.
 */
#include "gen.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

/* ---- small writers shared with kernel.c ---- */

void gen_line(Gen *G, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	for (int i = 0; i < G->ind; i++)
		buf_putc(G->c, '\t');
	if (small[0] == '}' && G->ind < (int)(sizeof G->closes / sizeof G->closes[0]))
		G->closes[G->ind]++;
	if (n < (int)sizeof small) {
		buf_putn(G->c, small, (size_t)n);
	} else {
		va_start(ap, fmt);
		char *big = ir_alloc((size_t)n + 1);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		buf_putn(G->c, big, (size_t)n);
	}
	buf_putc(G->c, '\n');
}

void gen_forn(Gen *G, const char *var, int64_t n, bool parallel)
{
	if (parallel)
		gen_line(G, "%s", gen_template(G->t, "parallel_for"));
	gen_line(G, "for (%s weft_%s = 0; weft_%s < %lld; weft_%s++) {", G->idx, var, var, (long long)n, var);
	G->ind++;
}

void gen_end(Gen *G, const char *var)
{
	G->ind--;
	gen_line(G, "} /* for %s */", var);
}

const char *gen_flit(double v)
{
	Buf b = {0};
	gen_float(&b, (float)v);
	char *s = ir_strdup(b.data);
	buf_free(&b);
	return s;
}

static const char *upper(const char *s)
{
	char *u = ir_strdup(s);
	for (char *p = u; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* ---- names of the function's parameters ---- */

static const char *in_param(const Graph *g, int i) { return g->tensors[g->inputs[i]].name; }

/* Output i's parameter: the tensor's name; weft_out_NAME when the tensor is also an input (the
   input parameter has its name); weft_outI_NAME for a second listing of the same tensor. */
static const char *out_param(const Graph *g, int i)
{
	const Tensor *t = &g->tensors[g->outputs[i]];
	for (int j = 0; j < i; j++)
		if (g->outputs[j] == g->outputs[i])
			return ir_fmt("weft_out%d_%s", i, t->name);
	return t->input_index >= 0 ? ir_fmt("weft_out_%s", t->name) : t->name;
}

int gen_root(const Graph *g, int id)
{
	for (int steps = 0; g->tensors[id].view_of >= 0; steps++) {
		if (steps > g->ntensors)
			die("view_of of %s forms a cycle", g->tensors[id].name);
		id = g->tensors[id].view_of;
	}
	return id;
}

/* The output position whose buffer holds the bytes of root tensor r (STORE_OUTPUT). */
static int output_holding(const Graph *g, int r)
{
	for (int i = 0; i < g->noutputs; i++)
		if (g->outputs[i] == r)
			return i;
	for (int i = 0; i < g->noutputs; i++)
		if (gen_root(g, g->outputs[i]) == r)
			return i;
	die("%s is planned into an output buffer but is no output and no output is a view of it",
	    g->tensors[r].name);
}

/* Elements of a tensor's bytes in its layout, padding included. */
static int64_t physical_numel(const Tensor *t) { return ir_layout_numel(&t->layout, t->rank, t->dims); }

static const char *home_or_null(const Graph *g, int id)
{
	const Tensor *r = &g->tensors[gen_root(g, id)];
	switch (r->store) {
	case STORE_NONE:
		return NULL;
	case STORE_INPUT:
		if (r->input_index < 0)
			die("%s is planned as an input but is none", r->name);
		return r->name;
	case STORE_PARAM:
		return ir_fmt("weft_p_%s", r->name);
	case STORE_OUTPUT:
		return out_param(g, output_holding(g, (int)(r - g->tensors)));
	case STORE_WORKSPACE:
		if (r->ws_offset % IR_ALIGN || r->ws_offset < 0 ||
		    r->ws_offset + physical_numel(r) * 4 > g->workspace_bytes)
			die("%s: bad workspace offset %lld", r->name, (long long)r->ws_offset);
		if (r->ws_offset == 0)
			return "(float *)weft_workspace";
		return ir_fmt("(float *)weft_workspace + %lld", (long long)(r->ws_offset / 4));
	}
	die("bad store kind %d", (int)r->store);
}

const char *gen_home(Gen *G, int tensor)
{
	const char *h = home_or_null(G->g, tensor);
	if (!h)
		die("%s is read or written but the plan gave it no storage", G->g->tensors[tensor].name);
	return h;
}

/* ---- the header ---- */

static void emit_shape(Buf *b, const Tensor *t)
{
	emitf(b, "f32[");
	for (int d = 0; d < t->rank; d++)
		emitf(b, "%s%lld", d ? ", " : "", (long long)t->dims[d]);
	emitf(b, "]");
}

static const char *usuffix(int64_t v) { return v > (int64_t)UINT_MAX ? "ull" : "u"; }

/* The workspace parameter's name in the header: "workspace" unless a tensor has that name. */
static const char *ws_param(const Graph *g)
{
	for (int i = 0; i < g->ninputs; i++)
		if (strcmp(in_param(g, i), "workspace") == 0)
			return "weft_workspace";
	for (int i = 0; i < g->noutputs; i++)
		if (strcmp(out_param(g, i), "workspace") == 0)
			return "weft_workspace";
	return "workspace";
}

static void emit_signature(Buf *b, const Graph *g, const char *ws)
{
	emitf(b, "int %s_run(", g->name);
	for (int i = 0; i < g->ninputs; i++)
		emitf(b, "const float *%s, ", in_param(g, i));
	for (int i = 0; i < g->noutputs; i++)
		emitf(b, "float *%s, ", out_param(g, i));
	emitf(b, "void *%s)", ws);
}

static void emit_header(const Graph *g, bool runtime, Buf *h)
{
	const char *M = upper(g->name);
	emitf(h, "/* %s.h: generated by weft from %s. Do not edit. */\n", g->name,
	      basename_of(g->src ? g->src->path : "model"));
	emitf(h, "#ifndef %s_H\n#define %s_H\n\n#include <stddef.h>\n\n", M, M);
	emitf(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
	emitf(h, "#define %s_WORKSPACE_BYTES %lld%s /* scratch the caller provides, 64-byte aligned */\n", M,
	      (long long)g->workspace_bytes, usuffix(g->workspace_bytes));
	emitf(h, "\n/* Element count of every input and output (f32, row-major in the declared shape). */\n");
	for (int i = 0; i < g->ninputs; i++) {
		const Tensor *t = &g->tensors[g->inputs[i]];
		emitf(h, "#define %s_%s_ELEMS %lld%s /* input ", M, upper(t->name), (long long)ir_numel(t),
		      usuffix(ir_numel(t)));
		emit_shape(h, t);
		emitf(h, " */\n");
	}
	for (int i = 0; i < g->noutputs; i++) {
		const Tensor *t = &g->tensors[g->outputs[i]];
		if (t->input_index >= 0)
			continue; /* its macro is above */
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= g->outputs[j] == g->outputs[i];
		if (seen)
			continue;
		emitf(h, "#define %s_%s_ELEMS %lld%s /* output ", M, upper(t->name), (long long)ir_numel(t),
		      usuffix(ir_numel(t)));
		emit_shape(h, t);
		emitf(h, " */\n");
	}
	emitf(h, "\n/* The workspace size in bytes (%s_WORKSPACE_BYTES). */\n", M);
	emitf(h, "size_t %s_workspace_size(void);\n\n", g->name);
	emitf(h, "/* Run the model: inputs in declaration order, then outputs, then the workspace.\n"
	         "   Returns 0 on success, non-zero (and writes nothing) on a NULL or misaligned argument:\n"
	         "   inputs and outputs need float alignment, the workspace 64 bytes (it may be NULL only\n"
	         "   when %s_WORKSPACE_BYTES is 0). Reentrant: no heap, no global state, no I/O. */\n", M);
	emit_signature(h, g, ws_param(g));
	emitf(h, ";\n");
	if (runtime)
		emitf(h, "\n/* Fill the params from their logical values, in declaration order, row-major (once,\n"
		         "   before %s_run; not reentrant). */\nvoid %s_init_params(const float *logical);\n"
		         "/* Call f on each param array's bytes (the tuner's harness flushes them from the caches). */\n"
		         "void %s_params_each(void (*f)(const void *p, unsigned long bytes));\n",
		      g->name, g->name, g->name);
	emitf(h, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s_H */\n", M);
}

/* ---- the source ---- */

/* Is param p read by some op (directly or through a view) or copied to an output? */
static bool param_used(const Graph *g, int p)
{
	for (int i = 0; i < g->nops; i++)
		for (int a = 0; a < g->ops[i].nargs; a++)
			if (gen_root(g, g->ops[i].args[a]) == p)
				return true;
	for (int i = 0; i < g->noutputs; i++)
		if (gen_root(g, g->outputs[i]) == p)
			return true;
	return false;
}

static void emit_param_comment(Buf *c, const Tensor *t)
{
	emitf(c, "/* param %s : ", t->name);
	emit_shape(c, t);
	if (t->layout.n)
		emitf(c, " in layout %s", ir_layout_str(&t->layout));
	emitf(c, " */\n");
}

/* The param's values in its layout: the logical values moved to their physical offsets, the
   padding 0. The logical values themselves when the layout is the logical one. */
static const float *packed_param(const Graph *g, const Tensor *t, int64_t *n)
{
	int64_t ln = ir_numel(t);
	if (!g->weights || t->param_offset < 0 || t->param_offset + ln > g->nweights)
		die("param %s has no loaded weights", t->name);
	const float *v = g->weights + t->param_offset;
	*n = physical_numel(t);
	if (t->layout.n == 0)
		return v;
	float *p = ir_alloc(sizeof(float) * (size_t)*n);
	int64_t idx[IR_MAX_RANK] = {0};
	for (int64_t j = 0; j < ln; j++) {
		int64_t off = ir_layout_offset_at(&t->layout, t->rank, t->dims, idx);
		if (off < 0 || off >= *n)
			die("layout of %s maps an element outside its %lld elements", t->name, (long long)*n);
		p[off] = v[j];
		for (int d = t->rank - 1; d >= 0 && ++idx[d] == t->dims[d]; d--)
			idx[d] = 0;
	}
	return p;
}

static void emit_params(Gen *G, bool runtime)
{
	const Graph *g = G->g;
	Buf *c = G->c;
	for (int i = 0; i < g->nparams; i++) {
		const Tensor *t = &g->tensors[g->params[i]];
		if (t->store != STORE_PARAM || !param_used(g, g->params[i]))
			continue;
		emit_param_comment(c, t);
		if (runtime) {
			emitf(c, "static float weft_p_%s[%lld];\n\n", t->name, (long long)physical_numel(t));
			continue;
		}
		int64_t n;
		const float *v = packed_param(g, t, &n);
		emitf(c, "static const float weft_p_%s[%lld] = {\n", t->name, (long long)n);
		for (int64_t j = 0; j < n; j++) {
			buf_puts(c, j % 8 == 0 ? "\t" : " ");
			gen_float(c, v[j]);
			buf_puts(c, j + 1 == n ? "\n" : j % 8 == 7 ? ",\n" : ",");
		}
		buf_puts(c, "};\n\n");
	}
}

static const char *init_var(int v, void *ctx)
{
	(void)ctx;
	return ir_fmt("weft_i%d", v);
}

/* runtime_params: NAME_init_params packs the logical blob into the param arrays with loops
   through each layout's index map. */
static void emit_init_params(Gen *G)
{
	const Graph *g = G->g;
	emitf(G->c, "void %s_init_params(const float *weft_logical)\n{\n", g->name);
	G->ind = 1;
	for (int i = 0; i < g->nparams; i++) {
		const Tensor *t = &g->tensors[g->params[i]];
		if (t->store != STORE_PARAM || !param_used(g, g->params[i]))
			continue;
		int64_t n = physical_numel(t), off = t->param_offset;
		gen_line(G, "/* %s */", t->name);
		const char *base = off ? ir_fmt("%lld + ", (long long)off) : "";
		if (t->layout.n == 0) {
			gen_line(G, "for (%s weft_i = 0; weft_i < %lld; weft_i++)", G->idx, (long long)n);
			gen_line(G, "\tweft_p_%s[weft_i] = weft_logical[%sweft_i];", t->name, base);
			continue;
		}
		gen_line(G, "for (%s weft_i = 0; weft_i < %lld; weft_i++)", G->idx, (long long)n);
		gen_line(G, "\tweft_p_%s[weft_i] = 0.0f;", t->name);
		const Ix *idx[IR_MAX_RANK];
		const Ix *lin = ix_const(0);
		for (int d = 0; d < t->rank; d++) {
			idx[d] = ix_var(d);
			lin = ix_add(ix_mul(lin, t->dims[d]), idx[d]);
		}
		const Ix *poff = ix_simplify(ir_layout_offset(&t->layout, t->rank, t->dims, idx), t->dims);
		for (int d = 0; d < t->rank; d++)
			gen_forn(G, ir_fmt("i%d", d), t->dims[d], false);
		gen_line(G, "weft_p_%s[%s] = weft_logical[%s%s];", t->name, ix_str(poff, init_var, NULL), base,
		         ix_str(ix_simplify(lin, t->dims), init_var, NULL));
		for (int d = t->rank - 1; d >= 0; d--)
			gen_end(G, ir_fmt("i%d", d));
	}
	G->ind = 0;
	emitf(G->c, "}\n\n");
	emitf(G->c, "void %s_params_each(void (*f)(const void *p, unsigned long bytes))\n{\n", g->name);
	for (int i = 0; i < g->nparams; i++) {
		const Tensor *t = &g->tensors[g->params[i]];
		if (t->store == STORE_PARAM && param_used(g, g->params[i]))
			emitf(G->c, "\tf(weft_p_%s, sizeof weft_p_%s);\n", t->name, t->name);
	}
	emitf(G->c, "\t(void)f;\n}\n\n");
}

/* One line of the model, safe inside a C comment. */
const char *gen_comment_text(const char *s)
{
	Buf b = {0};
	for (; *s; s++) {
		buf_putc(&b, *s);
		if ((*s == '*' && s[1] == '/') || (*s == '/' && s[1] == '*'))
			buf_putc(&b, ' ');
	}
	char *r = ir_strdup(b.data ? b.data : "");
	buf_free(&b);
	return r;
}

static void emit_copy(Gen *G, const char *why, const char *src, const char *dst, int64_t n)
{
	gen_line(G, "/* %s */", why);
	gen_line(G, "{");
	G->ind++;
	gen_line(G, "const float *weft_x = %s;", src);
	gen_line(G, "float *weft_y = %s;", dst);
	gen_line(G, "for (%s weft_i = 0; weft_i < %lld; weft_i++)", G->idx, (long long)n);
	gen_line(G, "\tweft_y[weft_i] = weft_x[weft_i];");
	G->ind--;
	gen_line(G, "}");
}

/* Copy tensor id into every output slot that lists it but whose buffer does not hold it. */
static void emit_output_copies(Gen *G, int id)
{
	const Graph *g = G->g;
	for (int i = 0; i < g->noutputs; i++) {
		if (g->outputs[i] != id)
			continue;
		const char *src = gen_home(G, id), *dst = out_param(g, i);
		if (strcmp(src, dst) == 0)
			continue;
		emit_copy(G, ir_fmt("output %s: copy its bytes into %s", g->tensors[id].name, dst), src, dst,
		          ir_numel(&g->tensors[id]));
	}
}

/* Every stage of the scheduled program in order, each op's output copies after its last. */
static void emit_stages(Gen *G, const char *file)
{
	const Graph *g = G->g;
	const Prog *P = G->P;
	int *last = ir_alloc(sizeof(int) * (size_t)(g->nops + 1));
	for (int i = 0; i < g->nops; i++)
		last[i] = -1;
	for (int si = 0; si < P->nstages; si++) {
		int op = P->stages[si].op, slot = gen_stage_slot(P, si);
		if (slot > last[op])
			last[op] = slot;
	}
	for (int i = 0; i < g->nops; i++)
		if (last[i] < 0)
			die("op %d (%s) has no stage", i, g->tensors[g->ops[i].out].name);
	int marked = -1;
	for (int si = 0; si < P->nstages; si++) {
		const Op *op = &g->ops[P->stages[si].op];
		if (G->profile && P->stages[si].op != marked && !gen_stage_is_view(g, P, si) &&
		    gen_stage_slot(P, si) == si)
			gen_line(G, "weft_prof_mark(%d);", marked = P->stages[si].op);
		if (gen_stage_is_view(g, P, si))
			gen_line(G, "/* %s:%d: %s -- a view of %s's bytes, nothing to compute */", file,
			         op->stmt_loc.line, gen_comment_text(op->text ? op->text : ir_ops[op->kind].name),
			         g->tensors[op->args[0]].name);
		else if (gen_stage_slot(P, si) == si)
			gen_stage(G, si);
		for (int i = 0; i < g->nops; i++)
			if (last[i] == si)
				emit_output_copies(G, g->ops[i].out);
	}
}

static void emit_check(Gen *G, const char *name, const char *align)
{
	gen_line(G, "if (%s == NULL || (uintptr_t)(const void *)%s %% %s != 0)", name, name, align);
	gen_line(G, "\treturn 1;");
}

static void emit_run(Gen *G)
{
	const Graph *g = G->g;
	const char *M = upper(g->name);
	const char *file = basename_of(g->src ? g->src->path : "model");
	Buf *c = G->c;
	emitf(c, "size_t %s_workspace_size(void)\n{\n\treturn %s_WORKSPACE_BYTES;\n}\n\n", g->name, M);
	emit_signature(c, g, "weft_workspace");
	emitf(c, "\n{\n");
	G->ind = 1;
	for (int i = 0; i < g->ninputs; i++)
		emit_check(G, in_param(g, i), "sizeof(float)");
	for (int i = 0; i < g->noutputs; i++)
		emit_check(G, out_param(g, i), "sizeof(float)");
	if (g->workspace_bytes > 0) {
		emit_check(G, "weft_workspace", "64");
	} else {
		gen_line(G, "if ((uintptr_t)weft_workspace %% 64 != 0)");
		gen_line(G, "\treturn 1;");
	}
	buf_putc(G->c, '\n');
	/* Outputs that are inputs or params are ready before any op runs. */
	for (int i = 0; i < g->ninputs; i++)
		emit_output_copies(G, g->inputs[i]);
	for (int i = 0; i < g->nparams; i++)
		emit_output_copies(G, g->params[i]);
	emit_stages(G, file);
	if (G->profile)
		gen_line(G, "weft_prof_mark(-1);");
	gen_line(G, "return 0;");
	G->ind = 0;
	emitf(c, "}\n");
}

/* The index type: int unless some tensor or the workspace is too large for it. */
static const char *index_type(const Graph *g)
{
	int64_t big = g->workspace_bytes / 4;
	for (int i = 0; i < g->ntensors; i++)
		if (physical_numel(&g->tensors[i]) > big)
			big = physical_numel(&g->tensors[i]);
	return big < INT_MAX / 2 ? "int" : "long long";
}

const char *gen_resolve_target(const char *target)
{
	if (!target || strcmp(target, "native") != 0)
		return target ? target : "scalar";
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return "avx512";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "avx2";
	if (__builtin_cpu_supports("sse2"))
		return "sse";
	return "scalar";
#elif defined(__aarch64__)
	return "neon";
#else
	return "scalar";
#endif
}

/* The opening of the .c: the scalar table's prelude, then the SIMD target's header under its
   guard (a compiler without the target's extensions never sees it), with the target's helper
   functions that the code (run, the text of NAME_run) calls: only those, as an unused static
   function is a warning. */
static void emit_prelude(const Gen *G, const char *run)
{
	emitf(G->c, "%s\n", gen_template(G->t, "prelude"));
	if (G->vt) {
		Buf helpers = {0};
		gen_template_helpers(&helpers, G->vt, run);
		emitf(G->c, "#if %s\n%s\n%s#endif\n", gen_template(G->vt, "guard"), gen_template(G->vt, "include"),
		      helpers.data ? helpers.data : "");
		buf_free(&helpers);
	}
	emitf(G->c, "\n");
}

void gen_model(const Graph *g, const Prog *P, const GenOptions *o, Buf *h, Buf *c)
{
	/* The scalar table prints every nest's portable branch; a SIMD target's table adds the
	   vector branch of vectorized nests (kernel.c, vector.c). */
	Gen G = {.g = g, .t = gen_load_templates("scalar"), .c = c, .idx = index_type(g), .P = P};
	const char *asked = o && o->target ? o->target : "scalar";
	const char *target = gen_resolve_target(asked);
	if (strcmp(target, "scalar") != 0) {
		G.vt = gen_load_templates(target);
		G.vtarget = target;
	}
	bool runtime = o && o->runtime_params;
	G.profile = o && o->profile;
	if (!P || P->g != g)
		die("gen_model: no scheduled program of this graph");
	emit_header(g, runtime, h);
	/* NAME_run first, into a buffer of its own: the prelude defines the helpers it calls. */
	Buf run = {0};
	G.c = &run;
	emit_run(&G);
	G.c = c;
	const char *file = basename_of(g->src ? g->src->path : "model");
	const char *tname = strcmp(asked, target) == 0 ? target : ir_fmt("%s: %s", asked, target);
	emitf(c, "/* %s.c: generated by weft from %s (target %s). Do not edit.\n", g->name, file, tname);
	emitf(c, " * Each loop nest below is one block, in order, headed by its line in %s and its schedule. */\n",
	      file);
	emitf(c, "#include \"%s.h\"\n\n", g->name);
	emit_prelude(&G, run.data);
	if (G.profile)
		emitf(c, "void weft_prof_mark(int op); /* the tuner's harness: time each op */\n\n");
	emit_params(&G, runtime);
	if (runtime)
		emit_init_params(&G);
	if (run.data)
		buf_puts(c, run.data);
	buf_free(&run);
}
