/* gen/cgen.c: the C generator: NAME.h and NAME.c for a planned graph with weights loaded.
 *
 * This file writes the frame of the output: the header, the params as static arrays, and
 * NAME_run (argument checks, then one block per op in model order, then return 0). It knows
 * where each tensor's bytes live from the memory plan (Tensor.store, ws_offset, view_of) and
 * inserts the copies the plan leaves to it: an output whose bytes are not the caller's output
 * buffer (an input or param that is also an output, a view of something else, a repeated
 * output). The kernels themselves are in ops.c. Every internal C identifier starts with weft_,
 * which model names cannot, so tensor names can be used as parameter names unchanged.
 */
#include "gen.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

/* ---- small writers shared with ops.c ---- */

void gen_line(Gen *G, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	for (int i = 0; i < G->ind; i++)
		buf_putc(G->c, '\t');
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

void gen_for(Gen *G, const char *var, const char *lo, const char *hi, bool parallel)
{
	if (parallel)
		gen_line(G, "%s", gen_template(G->t, "parallel_for"));
	gen_line(G, "for (%s weft_%s = %s; weft_%s < %s; weft_%s++) {", G->idx, var, lo, var, hi, var);
	G->ind++;
}

void gen_forn(Gen *G, const char *var, int64_t n, bool parallel)
{
	gen_for(G, var, "0", ir_fmt("%lld", (long long)n), parallel);
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

static int root_of(const Graph *g, int id)
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
		if (root_of(g, g->outputs[i]) == r)
			return i;
	die("%s is planned into an output buffer but is no output and no output is a view of it",
	    g->tensors[r].name);
}

static bool is_readonly(const Graph *g, int id)
{
	StoreKind s = g->tensors[root_of(g, id)].store;
	return s == STORE_INPUT || s == STORE_PARAM;
}

static const char *home_or_null(const Graph *g, int id)
{
	const Tensor *r = &g->tensors[root_of(g, id)];
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
		    r->ws_offset + ir_numel(r) * 4 > g->workspace_bytes)
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

void gen_decl_in(Gen *G, const char *name, int tensor, bool restr)
{
	gen_line(G, "const float *%s%s = %s;", restr ? "restrict " : "", name, gen_home(G, tensor));
}

void gen_decl_out(Gen *G, const char *name, int tensor, bool restr)
{
	if (is_readonly(G->g, tensor))
		die("the plan writes %s into an input or param", G->g->tensors[tensor].name);
	gen_line(G, "float *%s%s = %s;", restr ? "restrict " : "", name, gen_home(G, tensor));
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

static void emit_header(const Graph *g, Buf *h)
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
	emitf(h, ";\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s_H */\n", M);
}

/* ---- the source ---- */

/* Is param p read by some op (directly or through a view) or copied to an output? */
static bool param_used(const Graph *g, int p)
{
	for (int i = 0; i < g->nops; i++)
		for (int a = 0; a < g->ops[i].nargs; a++)
			if (root_of(g, g->ops[i].args[a]) == p)
				return true;
	for (int i = 0; i < g->noutputs; i++)
		if (root_of(g, g->outputs[i]) == p)
			return true;
	return false;
}

static void emit_params(Gen *G)
{
	const Graph *g = G->g;
	Buf *c = G->c;
	for (int i = 0; i < g->nparams; i++) {
		const Tensor *t = &g->tensors[g->params[i]];
		if (t->store != STORE_PARAM || !param_used(g, g->params[i]))
			continue;
		int64_t n = ir_numel(t);
		if (!g->weights || t->param_offset < 0 || t->param_offset + n > g->nweights)
			die("param %s has no loaded weights", t->name);
		const float *v = g->weights + t->param_offset;
		emitf(c, "/* param %s : ", t->name);
		emit_shape(c, t);
		emitf(c, " */\nstatic const float weft_p_%s[%lld] = {\n", t->name, (long long)n);
		for (int64_t j = 0; j < n; j++) {
			buf_puts(c, j % 8 == 0 ? "\t" : " ");
			gen_float(c, v[j]);
			buf_puts(c, j + 1 == n ? "\n" : j % 8 == 7 ? ",\n" : ",");
		}
		buf_puts(c, "};\n\n");
	}
}

/* One line of the model, safe inside a C comment. */
static const char *comment_text(const char *s)
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

static void emit_op(Gen *G, const char *file, const Op *op)
{
	const Graph *g = G->g;
	const Tensor *out = &g->tensors[op->out];
	const char *text = comment_text(op->text ? op->text : ir_ops[op->kind].name);
	if (!home_or_null(g, op->out)) {
		gen_line(G, "/* %s:%d: %s -- result unused, not computed */", file, op->stmt_loc.line, text);
		return;
	}
	if (ir_ops[op->kind].flags & OPF_VIEW) {
		if (root_of(g, op->out) == root_of(g, op->args[0])) {
			gen_line(G, "/* %s:%d: %s -- a view of %s's bytes, nothing to compute */", file,
			         op->stmt_loc.line, text, g->tensors[op->args[0]].name);
		} else {
			if (is_readonly(g, op->out))
				die("the plan writes %s into an input or param", out->name);
			emit_copy(G, ir_fmt("%s:%d: %s -- a copy of %s's bytes", file, op->stmt_loc.line, text,
			                    g->tensors[op->args[0]].name),
			          gen_home(G, op->args[0]), gen_home(G, op->out), ir_numel(out));
		}
	} else {
		gen_line(G, "/* %s:%d: %s -- schedule: default scalar */", file, op->stmt_loc.line, text);
		gen_line(G, "{");
		G->ind++;
		gen_op_kernel(G, op);
		G->ind--;
		gen_line(G, "}");
	}
	emit_output_copies(G, op->out);
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
	for (int i = 0; i < g->nops; i++)
		emit_op(G, file, &g->ops[i]);
	gen_line(G, "return 0;");
	G->ind = 0;
	emitf(c, "}\n");
}

/* The index type: int unless some tensor or the workspace is too large for it. */
static const char *index_type(const Graph *g)
{
	int64_t big = g->workspace_bytes / 4;
	for (int i = 0; i < g->ntensors; i++)
		if (ir_numel(&g->tensors[i]) > big)
			big = ir_numel(&g->tensors[i]);
	return big < INT_MAX / 2 ? "int" : "long long";
}

void gen_model(const Graph *g, const Prog *P, const GenOptions *o, Buf *h, Buf *c)
{
	/* Only the scalar table exists so far; every target gets it (the driver says so). */
	Gen G = {.g = g, .t = gen_load_templates("scalar"), .c = c, .idx = index_type(g)};
	(void)o;
	emit_header(g, h);
	const char *file = basename_of(g->src ? g->src->path : "model");
	emitf(c, "/* %s.c: generated by weft from %s (target scalar). Do not edit.\n", g->name, file);
	emitf(c, " * Each op below is one block, in model order, headed by its line in %s. */\n", file);
	emitf(c, "#include \"%s.h\"\n\n", g->name);
	emitf(c, "%s\n\n", gen_template(G.t, "prelude"));
	emit_params(&G);
	emit_run(&G);
}
