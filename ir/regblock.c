/* ir/regblock.c: the default rule's register blocks and the tuner's knobs that change them.
 *
 * A block is nv vectors by rb pixels (or rows) of accumulators held in registers across a
 * whole reduction (RegBlock, ir.h). The rule scores the candidates (def_pick_block); the tuner's
 * variations (SchedKnobs: tune/search.c, the graph pass) override nv, rb and a conv's channel
 * block order per op (def_knobbed, def_knobs_for).
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

/* ---- the tuner's knobs ---- */

static SchedKnobs *knobs; /* per op, or one with op -1 for every op */
static int nknobs;

void ir_sched_default_knobs(const SchedKnobs *k) { ir_sched_default_knobs_list(k, k ? 1 : 0); }

void ir_sched_default_knobs_list(const SchedKnobs *k, int n)
{
	free(knobs);
	knobs = n > 0 ? ir_xrealloc(NULL, sizeof *knobs * (size_t)n) : NULL;
	if (n > 0)
		memcpy(knobs, k, sizeof *knobs * (size_t)n);
	nknobs = n;
}

const SchedKnobs *def_knobs_for(const Def *D, const Op *o)
{
	int op = (int)(o - D->P->g->ops);
	for (int i = 0; i < nknobs; i++)
		if (knobs[i].op == -1 || knobs[i].op == op)
			return &knobs[i];
	return NULL;
}

/* ---- register blocks ---- */

/* The block for nvec vectors of W (nv must divide it) by a loop of extent n: each step of the
   reduction loads nv vectors and rb broadcasts for nv * rb FMAs, so the block maximises
   nv*rb / (wcost*nv + rb) with nv*rb accumulators in at most budget registers (the rest hold
   the loads), times the fraction of the rb loop that is not guarded-off tail, times guard
   where there is a tail; rb from rb_min. wcost is what a vector load costs against a
   broadcast: 1, except where the vectors are weights that stream from L2 (see conv_block in
   defaults.c). */
static RegBlock pick_block(const Def *D, int64_t nvec, int64_t n, double wcost, int64_t budget, double guard,
                           int64_t rb_min)
{
	RegBlock best = {1, 1, TAIL_EXACT, 0};
	double best_score = 0;
	for (int64_t nv = 1; nv <= 4 && nv <= nvec; nv++) {
		if (nvec % nv)
			continue;
		for (int64_t rb = rb_min < n ? rb_min : n; rb * nv <= budget && rb <= n; rb++) {
			int64_t steps = (n + rb - 1) / rb;
			double use = (double)n / (double)(steps * rb);
			double score = (double)(nv * rb) / (wcost * (double)nv + (double)rb) * use;
			if (n % rb)
				score *= guard; /* guards inside the unrolled block cost: exact wins near ties */
			if (score > best_score + 1e-9) {
				best_score = score;
				best = (RegBlock){nv, rb, n % rb ? TAIL_GUARD : TAIL_EXACT, 0};
			}
		}
	}
	return best;
}

/* Guards inside the unrolled block cost: exact wins near ties. */
RegBlock def_pick_block(const Def *D, int64_t nvec, int64_t n, double wcost)
{
	return pick_block(D, nvec, n, wcost, def_reg_budget(D), 0.75, 1);
}

/* A conv with a window of at most 3x3 reading plain NCHW by broadcasts, its (c, r, s) steps
   innermost: gcc unrolls r and s and keeps the broadcasts that neighbouring pixels share at the
   next s in registers, so 28 accumulators (4 x 7, 2 x 14) spill inside the loop (18-22 stack
   loads and stores in its assembly). With 32 registers: at most 3/4 of them, at least 5 pixels per weight load, and a guarded
   tail costs only its idle lanes (the last block is peeled). Default schedules, one thread,
   alternating runs, 4 x 7 before: 56x56x64 1578 -> 1413 us (4 x 6), 28x28x128 1496 -> 1325
   (4 x 6), 14x14x256 1438 -> 1330-1375 (4 x 5), 7x7x512 1467 -> 1354 (2 x 7); stride 2:
   56x56 to 28x28 789 -> 690, 28x28 to 14x14 748 -> 687, 14x14 to 7x7 770 -> 725. (At 7x7,
   2 x 7 and 4 x 5 tie at 14/9; nv = 2, scored first, keeps it: 2 x 7 is the one measured.) */
RegBlock def_pick_window_block(const Def *D, int64_t nvec, int64_t n)
{
	if (D->regs < 32) /* measured on AVX-512 only; 16 registers keep the rule above */
		return def_pick_block(D, nvec, n, 1);
	RegBlock b = pick_block(D, nvec, n, 1, D->regs * 3 / 4, 1, 5);
	return b.nv * b.rb > 1 ? b : def_pick_block(D, nvec, n, 1);
}

/* The rule's block b for op o, changed by the knobs where they fit: nv must divide nvec
   (vectors across the dim), rb at most n (a guarded tail if it does not divide). A conv's rb
   of two rows or more (n its output width, at most rows_max rows) blocks whole rows: a
   narrow map (7 columns at ResNet's last stage) cannot otherwise hold enough pixels per
   weight load. Measured there (one 512-channel 3x3 conv at 7x7, blocked activations, one
   thread): 4 rows x 1 vector 4.04-4.18 ms for the 3-conv model, 2 x 2 4.15-4.21, the rule's
   1 x 4 4.23-4.36. The rule picks rows itself only where weights stream from memory
   (conv_block in defaults.c); elsewhere the tuner's variations do. */
RegBlock def_knobbed(const Def *D, const Op *o, RegBlock b, int64_t nvec, int64_t n, int64_t rows_max)
{
	const SchedKnobs *k = def_knobs_for(D, o);
	if (!k)
		return b;
	if (k->nv > 0 && nvec % k->nv == 0)
		b.nv = k->nv;
	/* the rule's rows (or the knob's) under the knob's nv: within the register budget */
	int64_t rb = k->rb > 0 ? k->rb : b.rows > 1 ? b.rb : 0;
	return rb > 0 ? def_row_block(D, b.nv, rb, n, rows_max) : b;
}

int64_t def_reg_budget(const Def *D) { return D->regs - 4 < 4 ? 4 : D->regs - 4; }

RegBlock def_row_block(const Def *D, int64_t nv, int64_t rb, int64_t n, int64_t rows_max)
{
	RegBlock b = {nv, rb < n ? rb : n, TAIL_EXACT, 0};
	b.tail = n % b.rb ? TAIL_GUARD : TAIL_EXACT;
	int64_t rows = rb / n < rows_max ? rb / n : rows_max, fit = def_reg_budget(D) / (nv * n);
	if (rows > fit)
		rows = fit;
	if (rows >= 2)
		b = (RegBlock){nv, rows * n, rows_max % rows ? TAIL_GUARD : TAIL_EXACT, rows};
	return b;
}
