/* gen/stagetext.c: what the generator says about a stage outside its nest: which block prints
 * it (a stage computed at another, or a folded init, is printed in its host's block), whether
 * it is a view that prints nothing, and the comment above its block (the model file and line,
 * the statement, the stage's loops as scheduled).
 */
#include "gen.h"

#include <string.h>

int gen_stage_slot(const Prog *P, int si)
{
	for (int steps = 0; steps <= P->nstages; steps++) {
		const Stage *s = &P->stages[si];
		if (s->at_stage >= 0) {
			si = s->at_stage;
			continue;
		}
		if (s->folded) {
			int u = -1;
			for (int i = 0; i < P->nstages && u < 0; i++)
				if (P->stages[i].init_stage == si && P->stages[i].cache_at >= 0)
					u = i;
			if (u < 0)
				die("stage %d is folded into no update", si);
			si = u;
			continue;
		}
		return si;
	}
	die("compute_at of stage %d forms a cycle", si);
}

bool gen_stage_is_view(const Graph *g, const Prog *P, int si)
{
	const Stage *s = &P->stages[si];
	const Op *op = &g->ops[s->op];
	return (ir_ops[op->kind].flags & OPF_VIEW) && s->tensor == op->out &&
	       gen_root(g, op->out) == gen_root(g, op->args[0]);
}

static const char *kind_word(LoopKind k)
{
	switch (k) {
	case LOOP_PARALLEL: return " parallel";
	case LOOP_VECTOR: return " vector";
	case LOOP_UNROLL: return " unroll";
	case LOOP_SERIAL: break;
	}
	return "";
}

/* "t1.update: n[1], k[64] parallel, ..., c[64] reduce; cache_write(ow)" */
static const char *schedule_text(const Prog *P, int si)
{
	const Stage *s = &P->stages[si];
	const Graph *g = P->g;
	Buf b = {0};
	emitf(&b, "%s.%s: ", g->tensors[s->tensor].name, s->name);
	if (s->at_stage >= 0) {
		/* It runs over its host's loops. */
		const Stage *h = &P->stages[s->at_stage];
		emitf(&b, "compute_at(%s.%s, %s)%s", g->tensors[h->tensor].name, h->name,
		      P->vars[h->loops[s->at_loop]].name, s->dead ? "; not stored" : "");
		char *r = ir_strdup(b.data);
		buf_free(&b);
		return r;
	}
	for (int i = 0; i < s->nloops; i++) {
		const Var *x = &P->vars[s->loops[i]];
		emitf(&b, "%s%s[%lld]%s%s", i ? ", " : "", x->name, (long long)x->extent, kind_word(x->kind),
		      x->reduction ? " reduce" : "");
	}
	if (s->nloops == 0)
		emitf(&b, "no loops");
	if (s->cache_at >= 0)
		emitf(&b, "; cache_write(%s)", P->vars[s->loops[s->cache_at]].name);
	for (int i = 0; i < s->npf; i++)
		emitf(&b, "; prefetch(%s, %s)", g->tensors[s->pf_tensor[i]].name, P->vars[s->pf_var[i]].name);
	if (s->init_stage >= 0 && P->stages[s->init_stage].folded)
		emitf(&b, "; %s folded in", P->stages[s->init_stage].name);
	if (s->dead)
		emitf(&b, "; not stored");
	char *r = ir_strdup(b.data);
	buf_free(&b);
	return r;
}

static const char *file_of(const Graph *g)
{
	const char *path = g->src ? g->src->path : "model";
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

void gen_provenance(Gen *G, int si)
{
	const Prog *P = G->P;
	const Op *op = &G->g->ops[P->stages[si].op];
	gen_line(G, "/* %s:%d: %s -- %s */", file_of(G->g), op->stmt_loc.line,
	         gen_comment_text(op->text ? op->text : ir_ops[op->kind].name), schedule_text(P, si));
}
