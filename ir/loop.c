/* ir/loop.c: the loop IR's builders and its text form.
 *
 * A Prog holds loop variables and stages in growable arrays (ids, not pointers, refer to them,
 * so growing never invalidates a reference kept by a caller other than the Stage pointer that
 * ir_new_stage returns, which is valid until the next ir_new_stage). Vals are immutable trees in
 * the arena. ir_prog_dump prints one block per stage, stable and deterministic, for
 * `weft -d lower` / `-d sched` and for tests that compare text.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

/* ---- variables and stages ---- */

int ir_new_var(Prog *P, const char *name, int64_t extent, bool reduction, int stage)
{
	if (extent < 1)
		die("loop %s: extent %lld < 1", name, (long long)extent);
	if (strlen(name) >= sizeof P->vars[0].name)
		die("loop name %s too long", name);
	if (P->nvars == P->capvars) {
		P->capvars = P->capvars ? 2 * P->capvars : 64;
		P->vars = ir_xrealloc(P->vars, (size_t)P->capvars * sizeof *P->vars);
	}
	Var *v = &P->vars[P->nvars];
	memset(v, 0, sizeof *v);
	snprintf(v->name, sizeof v->name, "%s", name);
	v->extent = extent;
	v->reduction = reduction;
	v->kind = LOOP_SERIAL;
	v->stage = stage;
	return P->nvars++;
}

Stage *ir_new_stage(Prog *P, int op, const char *name)
{
	if (strlen(name) >= sizeof P->stages[0].name)
		die("stage name %s too long", name);
	if (P->nstages == P->capstages) {
		P->capstages = P->capstages ? 2 * P->capstages : 32;
		P->stages = ir_xrealloc(P->stages, (size_t)P->capstages * sizeof *P->stages);
	}
	Stage *s = &P->stages[P->nstages++];
	memset(s, 0, sizeof *s);
	s->op = op;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->tensor = -1;
	s->accum = BIN_NONE;
	s->init_stage = -1;
	s->cache_at = -1;
	s->at_stage = -1;
	s->at_loop = -1;
	return s;
}

/* ---- float expressions ---- */

static Val *new_val(ValKind kind)
{
	Val *v = ir_alloc(sizeof *v);
	v->kind = kind;
	v->tensor = -1;
	return v;
}

const Val *val_const(double c)
{
	Val *v = new_val(V_CONST);
	v->c = c;
	return v;
}

const Val *val_load(int tensor, int rank, const Ix *const *idx)
{
	if (rank < 0 || rank > IR_MAX_RANK)
		die("val_load: rank %d", rank);
	Val *v = new_val(V_LOAD);
	v->tensor = tensor;
	for (int d = 0; d < rank; d++)
		v->idx[d] = idx[d];
	return v;
}

const Val *val_index(const Ix *ix)
{
	Val *v = new_val(V_INDEX);
	v->ix = ix;
	return v;
}

const Val *val_un(Fn fn, const Val *a, double p1, double p2)
{
	Val *v = new_val(V_UN);
	v->fn = fn;
	v->a = a;
	v->p1 = p1;
	v->p2 = p2;
	return v;
}

const Val *val_bin(Bin bin, const Val *a, const Val *b)
{
	if (bin == BIN_NONE)
		die("val_bin: BIN_NONE");
	Val *v = new_val(V_BIN);
	v->bin = bin;
	v->a = a;
	v->b = b;
	return v;
}

const Val *val_subst(const Val *v, int var, const Ix *with)
{
	Val *n;
	switch (v->kind) {
	case V_CONST:
		return v;
	case V_LOAD:
		n = new_val(V_LOAD);
		*n = *v;
		for (int d = 0; d < IR_MAX_RANK; d++)
			if (v->idx[d])
				n->idx[d] = ix_subst(v->idx[d], var, with);
		return n;
	case V_INDEX:
		return val_index(ix_subst(v->ix, var, with));
	case V_UN:
		return val_un(v->fn, val_subst(v->a, var, with), v->p1, v->p2);
	case V_BIN:
		return val_bin(v->bin, val_subst(v->a, var, with), val_subst(v->b, var, with));
	}
	die("val_subst: kind %d", (int)v->kind);
}

/* ---- the text form ---- */

static const char *fn_names[FN_COUNT] = {
#define X(e) #e,
	IR_FNS(X)
#undef X
};

static const char *plain_var(int var, void *ctx)
{
	const Prog *P = ctx;
	return var >= 0 && var < P->nvars ? P->vars[var].name : "?";
}

static char *ix_text(const Prog *P, const Ix *e)
{
	return ix_str(e, plain_var, (void *)P);
}

static void print_lower(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s, f);
}

static void print_num(FILE *f, double c)
{
	if (isinf(c))
		fputs(c < 0 ? "-inf" : "inf", f);
	else
		fprintf(f, "%.9g", c);
}

static void print_access(const Prog *P, FILE *f, int tensor, const Ix *const *idx)
{
	const Tensor *t = &P->g->tensors[tensor];
	fprintf(f, "%s[", t->name);
	for (int d = 0; d < t->rank; d++)
		fprintf(f, "%s%s", d ? ", " : "", idx[d] ? ix_text(P, idx[d]) : "?");
	fputc(']', f);
}

static void print_val(const Prog *P, FILE *f, const Val *v)
{
	static const char *infix[] = {[BIN_ADD] = "+", [BIN_SUB] = "-", [BIN_MUL] = "*", [BIN_DIV] = "/"};
	switch (v->kind) {
	case V_CONST:
		print_num(f, v->c);
		return;
	case V_LOAD:
		print_access(P, f, v->tensor, v->idx);
		return;
	case V_INDEX:
		fprintf(f, "float(%s)", ix_text(P, v->ix));
		return;
	case V_UN:
		print_lower(f, fn_names[v->fn]);
		fputc('(', f);
		print_val(P, f, v->a);
		if (v->fn == FN_CLIP || v->fn == FN_LEAKY_RELU) {
			fputs(", ", f);
			print_num(f, v->p1);
		}
		if (v->fn == FN_CLIP) {
			fputs(", ", f);
			print_num(f, v->p2);
		}
		fputc(')', f);
		return;
	case V_BIN:
		if (v->bin == BIN_MAX || v->bin == BIN_MIN) {
			fputs(v->bin == BIN_MAX ? "max(" : "min(", f);
			print_val(P, f, v->a);
			fputs(", ", f);
			print_val(P, f, v->b);
			fputc(')', f);
		} else {
			fputc('(', f);
			print_val(P, f, v->a);
			fprintf(f, " %s ", infix[v->bin]);
			print_val(P, f, v->b);
			fputc(')', f);
		}
		return;
	}
}

static const char *kind_word[] = {
	[LOOP_SERIAL] = "", [LOOP_PARALLEL] = " parallel", [LOOP_VECTOR] = " vector", [LOOP_UNROLL] = " unroll",
};

/* Loops outer to inner; a "|" wherever the nest switches between spatial and reduction loops,
   so the groups alternate spatial | reduction | spatial ... (a leading "|" if the outermost
   loop is a reduction). */
static void print_loops(const Prog *P, FILE *f, const Stage *s)
{
	fputs("for", f);
	bool red = false;
	for (int i = 0; i < s->nloops; i++) {
		const Var *v = &P->vars[s->loops[i]];
		if (v->reduction != red) {
			fputs(" |", f);
			red = v->reduction;
		}
		fprintf(f, " %s<%lld%s", v->name, (long long)v->extent, kind_word[v->kind]);
	}
}

static void print_stage(const Prog *P, FILE *f, int si)
{
	const Stage *s = &P->stages[si];
	const Graph *g = P->g;
	const Op *op = &g->ops[s->op];
	fprintf(f, "stage %d %s.%s (op %d: %s", si, g->tensors[op->out].name, s->name, s->op,
		ir_ops[op->kind].name);
	if (s->init_stage >= 0)
		fprintf(f, ", init stage %d", s->init_stage);
	fputs("):\n\t", f);
	print_loops(P, f, s);
	fputc('\n', f);
	if (s->nguards) {
		fputs("\tguards:", f);
		for (int i = 0; i < s->nguards; i++)
			fprintf(f, "%s %lld <= %s < %lld", i ? "," : "", (long long)s->guards[i].lo,
				ix_text(P, s->guards[i].e), (long long)s->guards[i].hi);
		fputc('\n', f);
	}
	fputc('\t', f);
	print_access(P, f, s->tensor, s->idx);
	switch (s->accum) {
	case BIN_NONE: fputs(" = ", f); break;
	case BIN_ADD: fputs(" += ", f); break;
	case BIN_MUL: fputs(" *= ", f); break;
	case BIN_MAX: fputs(" max= ", f); break;
	case BIN_MIN: fputs(" min= ", f); break;
	default: fprintf(f, " accum%d= ", (int)s->accum); break;
	}
	print_val(P, f, s->val);
	fputc('\n', f);
	bool any = s->cache_at >= 0 || s->at_stage >= 0 || s->folded || s->dead || s->npf;
	if (any) {
		fputs("\tschedule:", f);
		if (s->cache_at >= 0 && s->cache_at < s->nloops)
			fprintf(f, " cache_write(%s)", P->vars[s->loops[s->cache_at]].name);
		if (s->at_stage >= 0) {
			const Stage *h = &P->stages[s->at_stage];
			const char *lv = s->at_loop >= 0 && s->at_loop < h->nloops ? P->vars[h->loops[s->at_loop]].name : "?";
			fprintf(f, " compute_at(%s.%s, %s)", g->tensors[g->ops[h->op].out].name, h->name, lv);
		}
		for (int i = 0; i < s->npf; i++)
			fprintf(f, " prefetch(%s, %s)", g->tensors[s->pf_tensor[i]].name, P->vars[s->pf_var[i]].name);
		if (s->folded)
			fputs(" folded", f);
		if (s->dead)
			fputs(" dead", f);
		fputc('\n', f);
	}
}

void ir_prog_dump(const Prog *P, FILE *f)
{
	for (int i = 0; i < P->nstages; i++)
		print_stage(P, f, i);
}
