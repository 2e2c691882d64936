/* ir/defaults.c: the schedule used without a schedule file, a rule reading the shapes and the
 * target (vector width W, vector registers).
 *
 * Register-blocked micro-kernels are written as schedules (see examples/conv16c.sched). A block
 * is nv vectors of W output channels (columns) by rb output pixels (rows), nv * rb accumulators
 * in registers across the whole reduction; pick_block maximises the FMAs per load,
 * nv*rb / (nv+rb), within regs - 4 accumulators (avx512: 4 x 7; avx2: 3 x 4); a conv of at
 * most 3x3 between plain tensors within 3/4 of 32 registers (def_pick_window_block).
 *  - conv2d, groups 1 (3x3, 1x1 alike) and depthwise (groups == C == K): the result, when an
 *    intermediate whose epilogue chain does not end in a model output or meet a logical model
 *    input (blocking_pays), in NCHW[Wc], so the next conv and the ops between read it blocked;
 *    the weights with the block's nv*W output channels innermost ([K/f][C][R][S][f], or
 *    [K/f][C/W][R][S][Wi][f] with c split by W too when the input is blocked); k split by
 *    nv*W then W, ow by rb; the reduction (c, r, s) inside the pixel block, the block innermost
 *    (ow_i, k_i_o unrolled, k_i_i vectorized), kept in registers by cache_write (the bias is
 *    the accumulators' initial value); the channel-block loop inside the pixel block when the
 *    weights fit in L2 (each input pixel read once), else outermost; parallel on the first of
 *    n, k_o, oh with enough iterations;
 *  - a depthwise conv keeps its input's layout: on a blocked input as above (vectors of
 *    channels); on plain NCHW the pixels of an output row are the vectors (the last one masked,
 *    the padding columns masked), accumulated in registers over the window (dw_plain_loops,
 *    in plainrules.c, with the small-map variants);
 *  - a 1x1 conv between plain NCHW tensors with enough pixels is a GEMM whose vectors are
 *    pixels (oh and ow fused; a row at stride 2) by a block of output channels (pixels_loops,
 *    plainrules.c);
 *  - dense and matmul: the same with n for k and m for ow (dense weights packed [N/f][K][f]),
 *    column blocks outside row blocks (a K x f panel stays in cache), k inside;
 *  - pools on a blocked input: channels split by W and vectorized;
 *  - the pointwise ops right after a conv/dense/matmul (relu, relu6, a residual add, ...) are
 *    computed at the producer's cache_write loop: epilogues on the accumulators;
 *  - every other update stage with an init, and every stage on the scalar target: the old rule
 *    (cache_write at the innermost spatial loop, parallel on the outermost spatial loop of a
 *    reduction op).
 * The rule never guesses legality: the layouts are applied to a scratch lowering of the graph
 * and each loop directive is tried there in order (ir_sched_loop_directive, quietly); only the
 * directives accepted are kept, so the schedule is legal by construction and ir_sched_apply on
 * the real program makes the same decisions.
 */
#include "ir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- reading the program ---- */

const char *ir_stage_label(const Prog *P, int s)
{
	const Stage *st = &P->stages[s];
	return ir_fmt("%s.%s", P->g->tensors[P->g->ops[st->op].out].name, st->name);
}

bool ir_stage_accumulates(const Prog *P, int s)
{
	const Stage *st = &P->stages[s];
	return st->init_stage >= 0 && st->accum != BIN_NONE;
}

/* The stage of op named name, or -1. */
static int op_stage(const Prog *P, int op, const char *name)
{
	for (int s = 0; s < P->nstages; s++)
		if (P->stages[s].op == op && !strcmp(P->stages[s].name, name))
			return s;
	return -1;
}

static bool pointwise(OpKind k)
{
	return (ir_ops[k].flags & (OPF_UNARY | OPF_BINARY)) || k == OP_BATCHNORM;
}

/* An intermediate the schedule may lay out. */
static bool free_layout(const Tensor *t)
{
	return t->kind != TENSOR_INPUT && t->output_index < 0 && !t->internal;
}

/* ---- building the candidate schedule ---- */

void def_add_layout(Def *D, int t, int n, const LayoutPrim *p)
{
	const Tensor *T = &D->P->g->tensors[t];
	if (D->laid[t] || !free_layout(T))
		return;
	Directive d = {.kind = SD_LAYOUT};
	snprintf(d.tensor, sizeof d.tensor, "%s", T->name);
	d.layout.n = n;
	memcpy(d.layout.p, p, (size_t)n * sizeof *p);
	int prank;
	int64_t pd[IR_MAX_PHYS];
	if (!ir_layout_shape(&d.layout, T->rank, T->dims, &prank, pd, NULL, 0))
		return;
	D->laid[t] = true;
	ir_sched_add(&D->layouts, &d);
}

static Directive *loop_dir(Def *D, int s, DirKind kind)
{
	Directive d = {.kind = kind, .tail = TAIL_GUARD};
	snprintf(d.stage, sizeof d.stage, "%s", ir_stage_label(D->P, s));
	ir_sched_add(&D->loops, &d);
	return &D->loops.d[D->loops.n - 1];
}

void def_on_loop(Def *D, int s, DirKind kind, const char *loop)
{
	Directive *d = loop_dir(D, s, kind);
	d->nloops = 1;
	snprintf(d->loops[0], sizeof d->loops[0], "%s", loop);
}

void def_split(Def *D, int s, const char *loop, int64_t f, Tail tail)
{
	Directive *d = loop_dir(D, s, SD_SPLIT);
	d->nloops = 1;
	snprintf(d->loops[0], sizeof d->loops[0], "%s", loop);
	d->factor = f;
	d->tail = tail;
}

void def_prefetch(Def *D, int s, int t, const char *loop)
{
	Directive *d = loop_dir(D, s, SD_PREFETCH);
	d->nloops = 1;
	snprintf(d->loops[0], sizeof d->loops[0], "%s", loop);
	snprintf(d->tensor, sizeof d->tensor, "%s", D->P->g->tensors[t].name);
}

/* def_fuse(outer, inner) -> loop "outer_inner" */
void def_fuse(Def *D, int s, const char *outer, const char *inner)
{
	Directive *d = loop_dir(D, s, SD_FUSE);
	d->nloops = 2;
	snprintf(d->loops[0], sizeof d->loops[0], "%s", outer);
	snprintf(d->loops[1], sizeof d->loops[1], "%s", inner);
}

/* def_reorder(names...), a NULL-terminated list */
void def_reorder(Def *D, int s, const char *const *names)
{
	Directive *d = loop_dir(D, s, SD_REORDER);
	for (int i = 0; names[i] && d->nloops < IR_MAX_LOOPS; i++)
		snprintf(d->loops[d->nloops++], sizeof d->loops[0], "%s", names[i]);
}

/* The pointwise ops right after op, computed at stage s's loop: the epilogue chain. */
/* Is tensor t the result of op `from` or of one of the ops chain[0..n)? */
static bool chain_result(const Graph *g, int t, int from, const int *chain, int n)
{
	if (t == g->ops[from].out)
		return true;
	for (int i = 0; i < n; i++)
		if (t == g->ops[chain[i]].out)
			return true;
	return false;
}

/* Does op o read such a result (as compute_at requires of a stage computed at a host)? */
static bool reads_chain(const Graph *g, const Op *o, int from, const int *chain, int n)
{
	for (int a = 0; a < o->nargs; a++)
		if (chain_result(g, o->args[a], from, chain, n))
			return true;
	return false;
}

int ir_epilogue_chain(const Graph *g, int op, int *chain)
{
	int n = 0;
	for (int next = op + 1; next < g->nops && pointwise(g->ops[next].kind); next++) {
		if (!reads_chain(g, &g->ops[next], op, chain, n))
			break;
		chain[n++] = next;
	}
	return n;
}

void def_epilogue(Def *D, int op, int s, const char *loop)
{
	const Graph *g = D->P->g;
	int *chain = ir_alloc(sizeof(int) * (size_t)(g->nops + 1));
	int n = ir_epilogue_chain(g, op, chain);
	for (int i = 0; i < n; i++) {
		int gs = op_stage(D->P, chain[i], "main");
		if (gs < 0)
			break;
		Directive *d = loop_dir(D, gs, SD_COMPUTE_AT);
		snprintf(d->host, sizeof d->host, "%s", ir_stage_label(D->P, s));
		d->nloops = 1;
		snprintf(d->loops[0], sizeof d->loops[0], "%s", loop);
	}
}

/* The first of the named loops (extents given) with at least `enough` iterations, else the
   largest; NULL if every extent is 1. */
const char *def_parallel_loop(int n, const char *const *names, const int64_t *ext)
{
	enum { ENOUGH = 8 };
	int best = -1;
	for (int i = 0; i < n; i++) {
		if (ext[i] >= ENOUGH)
			return names[i];
		if (ext[i] > 1 && (best < 0 || ext[i] > ext[best]))
			best = i;
	}
	return best < 0 ? NULL : names[best];
}

/* NCHW[Wc]: def_split(1, W) def_reorder(0, 1, 3, 4, 2) */
static void blocked_layout(Def *D, int t)
{
	LayoutPrim p[2] = {
		{.kind = LP_SPLIT, .dim = 1, .factor = D->W},
		{.kind = LP_REORDER, .n = 5, .perm = {0, 1, 3, 4, 2}},
	};
	def_add_layout(D, t, 2, p);
}

static bool is_blocked(const Def *D, const Tensor *t)
{
	const Layout *L = &t->layout;
	return t->rank == 4 && L->n == 2 && L->p[0].kind == LP_SPLIT && L->p[0].dim == 1 &&
	       L->p[0].factor == D->W;
}

/* ---- register blocks (the block itself: regblock.c) ---- */

/* Lay out the vectorised dim of a block: split it by nv * W and put that innermost. */
static void vector_splits(Def *D, int s, const char *loop, int64_t extent, int64_t nv,
	const char **outer, const char **vo, const char **vi)
{
	int64_t f = nv * D->W;
	*outer = NULL;
	*vo = NULL;
	*vi = loop;
	if (f < extent) {
		def_split(D, s, loop, f, extent % f ? TAIL_GUARD : TAIL_EXACT);
		*outer = ir_fmt("%s_o", loop);
		*vi = ir_fmt("%s_i", loop);
	}
	if (nv > 1) {
		int64_t inner = f < extent ? f : extent; /* a short last vector is masked */
		def_split(D, s, *vi, D->W, inner % D->W ? TAIL_GUARD : TAIL_EXACT);
		*vo = ir_fmt("%s_o", *vi);
		*vi = ir_fmt("%s_i", *vi);
	}
}

/* Bytes of a tensor (logical). */
static int64_t bytes_of(const Tensor *t) { return ir_numel(t) * 4; }

/* Under this, the weights stay in the L2 cache while the spatial loops go around them. */
enum { L2_BYTES = 512 * 1024 };
/* Big weights (channel blocks outermost) read by at most this many pixel blocks per channel
   block: the next block's weights are fetched into L2 while one computes (prefetch(w, k_o));
   the weight stream dominates there. ResNet-18's four 7x7x512 3x3 convs (2 blocks of rows
   each), make bench end to end, one thread, three runs: 24.35 -> 22.52, 23.94 -> 22.82,
   23.64 -> 22.65 ms; its 14x14x256 ones too (14 blocks each) were 0.4 ms slower than those. */
enum { PREFETCH_MAX_BLOCKS = 4 };

/* ---- conv2d ---- */

static bool conv_vectorizable(const Graph *g, const Op *o)
{
	const Tensor *x = &g->tensors[o->args[0]], *y = &g->tensors[o->out];
	int G = o->p.groups;
	return G == 1 || (G == x->dims[1] && G == y->dims[1]);
}

/* The conv's block: vectors of output channels (when K % W == 0) by output pixels of a row. */
static RegBlock conv_block(const Def *D, const Op *o)
{
	const Graph *g = D->P->g;
	const Tensor *y = &g->tensors[o->out], *w = &g->tensors[o->args[1]];
	int64_t K = y->dims[1], OW = y->dims[3];
	if (D->W < 2 || K < D->W || (K % D->W && o->p.groups > 1))
		return def_knobbed(D, o, def_pick_block(D, 1, OW, 1), 1, OW, y->dims[2]);
	/* output channels not a multiple of W (MobileNetV2's 24): vectors of them, the last one
	   masked, packed weights with holes; blocks of them as for whole vectors */
	int64_t nvec = (K + D->W - 1) / D->W;
	/* A conv with a window between blocked activations (inside a model) reads its weights from
	   L2 at every step, its pixels from L1: measured in ResNet-18 op by op (weft tune's graph
	   pass, one thread), 2 x 14 blocks beat 4 x 7 on every 3x3 conv with 14 or more output
	   columns (e.g. 1.59 -> 1.41 ms at 14x14x256), which a weight load costing 4 broadcasts
	   predicts; on plain NCHW results 4 x 7 measured faster (make bench). */
	double wcost = o->p.groups == 1 && w->dims[2] * w->dims[3] > 1 && is_blocked(D, y) ? 4 : 1;
	bool plain_window = o->p.groups == 1 && w->dims[2] * w->dims[3] > 1 && w->dims[2] <= 3 &&
	                    w->dims[3] <= 3 && wcost == 1 && !is_blocked(D, &g->tensors[o->args[0]]);
	RegBlock b = plain_window ? def_pick_window_block(D, nvec, OW) : def_pick_block(D, nvec, OW, wcost);
	/* Such a conv on a map so narrow that a row is at most a quarter of the registers, with
	   weights that do not stay in L2 (ResNet's last stage: 7 columns, 2.4-9.4 MB): one vector
	   of channels by whole rows, so each weight vector loaded serves up to 28 pixels. The
	   score above (loads per FMA) prefers 4 vectors x 7; measured in ResNet-18 (weft gen,
	   one thread, alternating runs of the whole model), rows on its four 7x7 convs: 23.17-23.43
	   ms against 23.84-24.12. */
	int64_t budget = def_reg_budget(D), OH = y->dims[2];
	if (wcost > 1 && OW * 4 <= budget && OH > 1 && bytes_of(w) > L2_BYTES)
		b = def_row_block(D, 1, budget, OW, OH);
	return def_knobbed(D, o, b, nvec, OW, OH);
}

/* Is a blocked result worth it? Not when the epilogue chain (the pointwise ops right after,
   each reading the previous result) ends in a model output, which is logical anyway, or meets
   an operand that is logical for good (a model input or param of the same shape): that
   operand would be converted, and a conversion cannot join the epilogue. */
static bool blocking_pays(const Graph *g, int op)
{
	int t = g->ops[op].out;
	int *chain = ir_alloc(sizeof(int) * (size_t)(g->nops + 1));
	int n = ir_epilogue_chain(g, op, chain);
	for (int i = 0; i < n; i++) {
		const Op *c = &g->ops[chain[i]];
		for (int a = 0; a < c->nargs; a++) {
			const Tensor *x = &g->tensors[c->args[a]];
			if (!chain_result(g, c->args[a], op, chain, i) &&
			    x->kind != TENSOR_VALUE && x->rank == 4 &&
			    !memcmp(x->dims, g->tensors[t].dims, sizeof x->dims[0] * 4))
				return false;
		}
		t = c->out;
	}
	return g->tensors[t].output_index < 0;
}

static bool depthwise(const Graph *g, const Op *o) { return o->p.groups > 1; }

/* A maxpool2d of kernel 1 (ir_unit_stride's subsample): its result takes its input's layout. */
static bool subsample(const Op *o)
{
	return o->kind == OP_MAXPOOL2D && o->p.kernel[0] == 1 && o->p.kernel[1] == 1;
}

/* Will tensor t be blocked: laid out blocked here, or the result of pointwise ops (or a
   subsample) on one? */
bool def_planned_blocked(const Def *D, int t)
{
	const Graph *g = D->P->g;
	for (;;) {
		if (D->laid[t])
			return true;
		int op = -1;
		for (int i = 0; i < g->nops; i++)
			if (g->ops[i].out == t)
				op = i;
		if (op < 0 || !(pointwise(g->ops[op].kind) || subsample(&g->ops[op])))
			return false;
		t = g->ops[op].args[0];
	}
}

static void conv_layouts(Def *D, int op)
{
	const Graph *g = D->P->g;
	const Op *o = &g->ops[op];
	const Tensor *y = &g->tensors[o->out];
	int64_t K = y->dims[1];
	/* a depthwise conv keeps its input's layout: channels blocked in and out, or pixels in rows
	   (a blocked result from a plain input would be stored lane by lane) */
	if (depthwise(g, o) && !def_planned_blocked(D, o->args[0]))
		return;
	if (D->W > 1 && K % D->W == 0 && blocking_pays(g, op))
		blocked_layout(D, o->out);
}

static bool conv_csplit(const Def *D, const Op *o)
{
	const Graph *g = D->P->g;
	const Tensor *x = &g->tensors[o->args[0]];
	return o->p.groups == 1 && D->W > 1 && x->dims[1] % D->W == 0 && is_blocked(D, x);
}


/* Weights once the activations' layouts are known (g's tensors carry them): the block's
   nv * W output channels innermost, then (with c split) W input channels. */
static void conv_weight_layout(Def *D, int op)
{
	const Graph *g = D->P->g;
	const Op *o = &g->ops[op];
	int64_t K = g->tensors[o->out].dims[1];
	if (def_pixels_gemm(D, o)) {
		def_pixels_weight_layout(D, op);
		return;
	}
	if (D->W < 2 || K < D->W || (depthwise(g, o) && (K % D->W || !is_blocked(D, &g->tensors[o->args[0]]))))
		return;
	int64_t f = conv_block(D, o).nv * D->W;
	if (conv_csplit(D, o)) { /* [K/f, C/W, R, S, Wi, f] */
		LayoutPrim p[3] = {
			{.kind = LP_SPLIT, .dim = 0, .factor = f},
			{.kind = LP_SPLIT, .dim = 2, .factor = D->W},
			{.kind = LP_REORDER, .n = 6, .perm = {0, 2, 4, 5, 3, 1}},
		};
		def_add_layout(D, o->args[1], 3, p);
	} else { /* [K/f, C, R, S, f] */
		LayoutPrim p[2] = {
			{.kind = LP_SPLIT, .dim = 0, .factor = f},
			{.kind = LP_REORDER, .n = 5, .perm = {0, 2, 3, 4, 1}},
		};
		def_add_layout(D, o->args[1], 2, p);
	}
}

static void conv_loops(Def *D, int op, int s)
{
	const Graph *g = D->P->g;
	const Op *o = &g->ops[op];
	const Tensor *y = &g->tensors[o->out];
	int64_t N = y->dims[0], K = y->dims[1], OH = y->dims[2];
	bool csplit = conv_csplit(D, o);
	RegBlock b = conv_block(D, o);
	const char *ko, *kvo, *ki;
	if (K < D->W)
		ko = NULL, kvo = NULL, ki = "k"; /* one short vector (the emitter may go scalar) */
	else
		vector_splits(D, s, "k", K, b.nv, &ko, &kvo, &ki);
	if (csplit)
		def_split(D, s, "c", D->W, TAIL_EXACT);
	/* the pixel block: rb columns of a row (ow_o, ow_i), or whole rows (oh_o, oh_i x ow) */
	bool rows = b.rows > 1;
	if (rows)
		def_split(D, s, "oh", b.rows, b.tail);
	else if (b.rb > 1)
		def_split(D, s, "ow", b.rb, b.tail);
	const char *owo = rows ? "oh_o" : b.rb > 1 ? "ow_o" : "ow";
	const char *oh = rows ? NULL : "oh"; /* the row loop outside the block, if any */
	/* small weights stay in cache while every pixel block reads them: the channel blocks go
	   inside the pixel blocks, so each input pixel is read once; big weights: one channel
	   block's weights at a time, outermost */
	bool k_inner = bytes_of(&g->tensors[o->args[1]]) <= L2_BYTES;
	const SchedKnobs *kn = def_knobs_for(D, o);
	if (kn && kn->order)
		k_inner = kn->order == 1;
	const char *order[20];
	int n = 0;
	order[n++] = "n";
	if (ko && !k_inner)
		order[n++] = ko;
	if (oh)
		order[n++] = oh;
	order[n++] = owo;
	if (ko && k_inner)
		order[n++] = ko;
	order[n++] = csplit ? "c_o" : "c";
	order[n++] = "r";
	order[n++] = "s";
	if (csplit)
		order[n++] = "c_i";
	if (rows) {
		order[n++] = "oh_i";
		order[n++] = "ow";
	} else if (b.rb > 1) {
		order[n++] = "ow_i";
	}
	if (kvo)
		order[n++] = kvo;
	order[n++] = ki;
	order[n] = NULL;
	def_reorder(D, s, order);
	if (rows) {
		def_on_loop(D, s, SD_UNROLL, "oh_i");
		def_on_loop(D, s, SD_UNROLL, "ow");
	} else if (b.rb > 1) {
		def_on_loop(D, s, SD_UNROLL, "ow_i");
	}
	if (kvo)
		def_on_loop(D, s, SD_UNROLL, kvo);
	if (K >= 2)
		def_on_loop(D, s, SD_VECTORIZE, ki);
	const char *pn[3];
	int64_t pe[3];
	int np = 0;
	pn[np] = "n", pe[np++] = N;
	if (ko && !k_inner)
		pn[np] = ko, pe[np++] = (K + b.nv * D->W - 1) / (b.nv * D->W);
	if (rows)
		pn[np] = owo, pe[np++] = (OH + b.rows - 1) / b.rows;
	else
		pn[np] = "oh", pe[np++] = OH;
	const char *par = def_parallel_loop(np, pn, pe);
	if (par)
		def_on_loop(D, s, SD_PARALLEL, par);
	const char *cw = ko && k_inner ? ko : owo;
	def_on_loop(D, s, SD_CACHE_WRITE, cw);
	int64_t blocks = rows ? (OH + b.rows - 1) / b.rows : OH * ((y->dims[3] + b.rb - 1) / b.rb);
	if (ko && !k_inner && blocks <= PREFETCH_MAX_BLOCKS)
		def_prefetch(D, s, o->args[1], ko);
	def_epilogue(D, op, s, cw);
}

/* ---- dense and matmul ---- */

/* Vectors of output columns (n) by rows (m). */
static RegBlock gemm_block(const Def *D, const Op *o)
{
	const Tensor *y = &D->P->g->tensors[o->out];
	int64_t M = y->dims[y->rank - 2], N = y->dims[y->rank - 1];
	if (D->W < 2 || N % D->W)
		return def_knobbed(D, o, def_pick_block(D, 1, M, 1), 1, M, 1);
	return def_knobbed(D, o, def_pick_block(D, N / D->W, M, 1), N / D->W, M, 1);
}

/* dense's weights w[N, K] packed as [N/f, K, f], f = the block's columns */
static void gemm_layouts(Def *D, int op)
{
	const Graph *g = D->P->g;
	const Op *o = &g->ops[op];
	if (o->kind != OP_DENSE || D->W < 2)
		return;
	const Tensor *w = &g->tensors[o->args[1]];
	if (w->dims[0] % D->W)
		return;
	LayoutPrim p[2] = {
		{.kind = LP_SPLIT, .dim = 0, .factor = gemm_block(D, o).nv * D->W},
		{.kind = LP_REORDER, .n = 3, .perm = {0, 2, 1}},
	};
	def_add_layout(D, o->args[1], 2, p);
}

static void gemm_loops(Def *D, int op, int s)
{
	const Graph *g = D->P->g;
	const Op *o = &g->ops[op];
	const Tensor *y = &g->tensors[o->out];
	int R = y->rank;
	int64_t M = y->dims[R - 2], N = y->dims[R - 1];
	RegBlock b = gemm_block(D, o);
	const char *no, *nvo, *ni;
	if (N % D->W == 0)
		vector_splits(D, s, "n", N, b.nv, &no, &nvo, &ni);
	else if (N < D->W)
		no = NULL, nvo = NULL, ni = "n";
	else
		vector_splits(D, s, "n", N, 1, &no, &nvo, &ni);
	if (b.rb > 1)
		def_split(D, s, "m", b.rb, b.tail);
	const char *mo = b.rb > 1 ? "m_o" : "m";
	/* a panel of the second operand (K x the block's columns) stays in cache while the row
	   blocks go by: columns outside rows */
	const char *order[20], *pn[10];
	int64_t pe[10];
	int n = 0, np = 0;
	for (int d = 0; d < R - 2; d++) {
		order[n++] = ir_fmt("b%d", d);
		pn[np] = order[n - 1], pe[np++] = y->dims[d];
	}
	if (no) {
		order[n++] = no;
		pn[np] = no, pe[np++] = (N + b.nv * D->W - 1) / (b.nv * D->W);
	}
	order[n++] = mo;
	pn[np] = mo, pe[np++] = (M + b.rb - 1) / b.rb;
	order[n++] = "k";
	if (b.rb > 1)
		order[n++] = "m_i";
	if (nvo)
		order[n++] = nvo;
	order[n++] = ni;
	order[n] = NULL;
	def_reorder(D, s, order);
	if (b.rb > 1)
		def_on_loop(D, s, SD_UNROLL, "m_i");
	if (nvo)
		def_on_loop(D, s, SD_UNROLL, nvo);
	if (N >= 2)
		def_on_loop(D, s, SD_VECTORIZE, ni);
	const char *par = def_parallel_loop(np, pn, pe);
	if (par)
		def_on_loop(D, s, SD_PARALLEL, par);
	def_on_loop(D, s, SD_CACHE_WRITE, mo);
	def_epilogue(D, op, s, mo);
}

/* ---- pools on blocked inputs ---- */

static void pool_loops(Def *D, int op, int s)
{
	const Graph *g = D->P->g;
	const Op *o = &g->ops[op];
	const Tensor *x = &g->tensors[o->args[0]];
	int64_t C = x->dims[1];
	bool global = o->kind == OP_GLOBAL_AVGPOOL;
	def_split(D, s, "c", D->W, TAIL_EXACT);
	static const char *const local[] = {"n", "c_o", "oh", "ow", "r", "s", "c_i", NULL};
	static const char *const glob[] = {"n", "c_o", "h", "w", "c_i", NULL};
	def_reorder(D, s, global ? glob : local);
	def_on_loop(D, s, SD_VECTORIZE, "c_i");
	const char *pn[3] = {"n", "c_o", "oh"};
	int64_t pe[3] = {x->dims[0], C / D->W, global ? 1 : g->tensors[o->out].dims[2]};
	const char *par = def_parallel_loop(3, pn, pe);
	if (par)
		def_on_loop(D, s, SD_PARALLEL, par);
	def_on_loop(D, s, SD_CACHE_WRITE, global ? "c_o" : "ow");
}

/* ---- the old rule, for every other update stage with an init ---- */

/* Position of the innermost spatial loop outside every reduction loop; -1 if none. */
static int innermost_spatial(const Prog *P, const Stage *st)
{
	int c = -1;
	for (int i = 0; i < st->nloops; i++) {
		if (P->vars[st->loops[i]].reduction)
			break;
		c = i;
	}
	return c;
}

static bool is_reduction_op(OpKind k)
{
	return k == OP_CONV2D || k == OP_DENSE || k == OP_MATMUL || k == OP_MAXPOOL2D ||
	       k == OP_AVGPOOL2D || k == OP_GLOBAL_AVGPOOL;
}

/* On the stage as it is now in Q (after whatever of its directives were accepted). */
static void basic_stage(Def *D, const Prog *Q, int s, bool want_parallel)
{
	const Stage *st = &Q->stages[s];
	int c = innermost_spatial(Q, st);
	if (c < 0 || st->cache_at >= 0)
		return;
	bool has_par = false;
	for (int i = 0; i < st->nloops; i++)
		has_par |= Q->vars[st->loops[i]].kind == LOOP_PARALLEL;
	if (want_parallel && !has_par)
		for (int i = 0; i <= c; i++)
			if (Q->vars[st->loops[i]].extent > 1) {
				def_on_loop(D, s, SD_PARALLEL, Q->vars[st->loops[i]].name);
				break;
			}
	def_on_loop(D, s, SD_CACHE_WRITE, Q->vars[st->loops[c]].name);
}

/* ---- trying directives on a scratch program ---- */

/* Error messages of rejected trials go to /dev/null; ir_nerrors is restored. */
typedef struct Quiet {
	int fd, nerrors;
} Quiet;

static Quiet quiet_begin(void)
{
	fflush(stderr);
	Quiet q = {dup(2), ir_nerrors};
	int nul = open("/dev/null", O_WRONLY);
	if (nul >= 0) {
		dup2(nul, 2);
		close(nul);
	}
	return q;
}

static void quiet_end(Quiet q)
{
	fflush(stderr);
	if (q.fd >= 0) {
		dup2(q.fd, 2);
		close(q.fd);
	}
	ir_nerrors = q.nerrors;
}

/* A fresh lowering of P's graph with the layouts applied; NULL if they were rejected. */
static Prog *scratch(const Prog *P, const Schedule *layouts)
{
	Prog *Q = ir_lower(P->g);
	Quiet q = quiet_begin();
	bool ok = Q && ir_sched_apply(Q, layouts);
	quiet_end(q);
	return ok ? Q : NULL;
}

/* Try D->loops[from..] on Q in order; the accepted ones go to S. */
static void keep_accepted(Def *D, Prog *Q, int nvars0, int from, Schedule *S)
{
	for (int i = from; i < D->loops.n; i++) {
		Quiet q = quiet_begin();
		bool ok = ir_sched_loop_directive(Q, &D->loops.d[i], nvars0);
		quiet_end(q);
		if (ok)
			ir_sched_add(S, &D->loops.d[i]);
	}
	D->loops.n = from;
}

/* ---- the whole schedule ---- */

void ir_sched_default(const Prog *P, Schedule *S)
{
	int width, regs;
	ir_sched_target_get(&width, &regs);
	const Graph *g = P->g;
	Def D = {.P = P, .W = width, .regs = regs};
	D.laid = ir_alloc((size_t)g->ntensors + 64);
	/* activations first: the weights' layouts depend on what the convs read after propagation */
	for (int op = 0; op < g->nops; op++)
		if (g->ops[op].kind == OP_CONV2D && conv_vectorizable(g, &g->ops[op]))
			conv_layouts(&D, op);
	Prog *Q = scratch(P, &D.layouts);
	if (!Q) {
		D.layouts.n = 0;
		memset(D.laid, 0, (size_t)g->ntensors);
	}
	for (int op = 0; op < g->nops; op++) {
		const Op *o = &g->ops[op];
		if (o->kind == OP_CONV2D && conv_vectorizable(g, o))
			conv_weight_layout(&D, op);
		else if (o->kind == OP_DENSE)
			gemm_layouts(&D, op);
	}
	Q = scratch(P, &D.layouts);
	if (!Q) { /* should not happen: every layout was checked against its tensor */
		D.layouts.n = 0;
		Q = scratch(P, &D.layouts);
		if (!Q)
			die("default schedule: the program does not take an empty schedule");
	}
	D.P = Q; /* stage ids: Q's (conversion stages may have moved them) */
	for (int i = 0; i < D.layouts.n; i++)
		ir_sched_add(S, &D.layouts.d[i]);
	int nvars0 = Q->nvars;
	bool *done = ir_alloc((size_t)Q->nstages + 1);
	for (int s = 0; s < Q->nstages; s++) {
		const Stage *st = &Q->stages[s];
		const Op *o = &g->ops[st->op];
		if (!ir_stage_accumulates(Q, s) || st->at_stage >= 0 || done[s])
			continue;
		const Tensor *x = &g->tensors[o->args[0]];
		if (o->kind == OP_CONV2D && depthwise(g, o) && conv_vectorizable(g, o) && D.W > 1 &&
		    !is_blocked(&D, x))
			def_dw_plain_loops(&D, st->op, s, "k");
		else if (o->kind == OP_CONV2D && def_pixels_gemm(&D, o))
			def_pixels_loops(&D, st->op, s);
		else if (o->kind == OP_CONV2D && conv_vectorizable(g, o) && D.W > 1)
			conv_loops(&D, st->op, s);
		else if ((o->kind == OP_DENSE || o->kind == OP_MATMUL) && D.W > 1)
			gemm_loops(&D, st->op, s);
		else if ((o->kind == OP_MAXPOOL2D || o->kind == OP_AVGPOOL2D ||
		          o->kind == OP_GLOBAL_AVGPOOL) && !strcmp(st->name, "update") &&
		         is_blocked(&D, x) && D.W > 1)
			pool_loops(&D, st->op, s);
		else if ((o->kind == OP_MAXPOOL2D || o->kind == OP_AVGPOOL2D) && !strcmp(st->name, "update") &&
		         D.W > 1)
			def_dw_plain_loops(&D, st->op, s, "c"); /* a window over plain rows, like depthwise */
		keep_accepted(&D, Q, nvars0, 0, S);
		/* whatever did not take: the old rule on the stage as it now is */
		basic_stage(&D, Q, s, is_reduction_op(o->kind));
		keep_accepted(&D, Q, nvars0, 0, S);
		done[s] = true;
	}
	free(D.layouts.d);
	free(D.loops.d);
}
