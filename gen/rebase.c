/* gen/rebase.c: another stage's statement in the variables of the stage whose block prints it
 * (kernel.c): a folded init, or a stage computed at the block's stage, stores the same logical
 * element as the block's stage, so its loop variables are replaced by the block's index
 * expressions of the same dimensions.
 */
#include "kernel.h"

static const Var *var_of(const Emit *E, int v) { return &E->P->vars[v]; }
static const Tensor *T(const Emit *E, int t) { return &E->g->tensors[t]; }

static bool ix_foreign(const Emit *E, const Ix *e, int host)
{
	switch (e->kind) {
	case IX_CONST: return false;
	case IX_VAR: return var_of(E, e->var)->stage != host;
	case IX_ADD: return ix_foreign(E, e->a, host) || ix_foreign(E, e->b, host);
	default: return ix_foreign(E, e->a, host);
	}
}

static bool val_foreign(const Emit *E, const Val *v, int host)
{
	switch (v->kind) {
	case V_CONST: return false;
	case V_LOAD:
		for (int d = 0; d < T(E, v->tensor)->rank; d++)
			if (ix_foreign(E, v->idx[d], host))
				return true;
		return false;
	case V_INDEX: return ix_foreign(E, v->ix, host);
	case V_UN: return val_foreign(E, v->a, host);
	case V_BIN: return val_foreign(E, v->a, host) || val_foreign(E, v->b, host);
	}
	return true;
}

/* Stage from (an init stage, or a stage computed at the block's stage) stores the same logical
   element as the block's stage: its value and index with each of its variables replaced by the
   block's stage's index expression of the same dimension. Unchanged when the scheduler already
   wrote it in the host's variables. */
void kernel_rebase(const Emit *E, const Stage *from, const Val **val, const Ix **idx)
{
	const Stage *s = E->s;
	int rank = T(E, from->tensor)->rank;
	const Val *v = from->val;
	for (int d = 0; d < rank; d++)
		idx[d] = from->idx[d];
	bool foreign = val_foreign(E, v, E->si);
	for (int d = 0; d < rank; d++)
		foreign |= ix_foreign(E, idx[d], E->si);
	if (foreign) {
		if (T(E, s->tensor)->rank != rank)
			die("stage %s of %s: rank differs from its host's", from->name, T(E, from->tensor)->name);
		for (int d = 0; d < rank; d++) {
			const Ix *e = from->idx[d];
			if (e->kind == IX_VAR) {
				v = val_subst(v, e->var, s->idx[d]);
				for (int j = 0; j < rank; j++)
					idx[j] = ix_subst(idx[j], e->var, s->idx[d]);
			} else if (e->kind != IX_CONST) {
				die("stage %s of %s: index %d is no loop variable", from->name, T(E, from->tensor)->name, d);
			}
		}
		bool still = val_foreign(E, v, E->si);
		for (int d = 0; d < rank; d++)
			still |= ix_foreign(E, idx[d], E->si);
		if (still)
			die("stage %s of %s reads loops that are not its host's", from->name, T(E, from->tensor)->name);
	}
	*val = v;
}
