/* ir/plainrules.c: the default rule on plain NCHW tensors: depthwise convs and pools as rows
 * of pixel vectors (dw_plain_loops, small maps as fused vectors with constant masks), and 1x1
 * convs between plain tensors as GEMMs whose vectors are pixels (pixels_*). Split from
 * ir/defaults.c, whose building blocks (Def, split, fuse, reorder, on_loop, epilogue...) it
 * uses through ir.h; the overview of the whole rule is at the top of defaults.c.
 */
#include "ir.h"

#include <string.h>

/* A GEMM of pixels needs at least PIXELS_MIN vectors of them; on smaller maps channels are the
   vectors, the stores transposed by blocks of pixels (gen/vector.c, @tstore). 14x14 (12.25
   vectors), one thread, pixels vs channels: 256 -> 1024 716 vs 630 us, 256 -> 512 351 vs
   304 us; 28x28 (49 vectors) stays pixels: 128 -> 512 596 vs 751 us, 128 -> 256 297 vs 334 us.
   (With stores lane by lane, channels lost on 14x14 up to 256 input channels.) */
enum { PIXELS_MIN = 16 };
/* A GEMM of pixels with PREFETCH_MIN_C to PREFETCH_MAX_C input channels fetches the next pixel
   block's input into L2 while it computes one (prefetch(x, oh_ow_o)): its rows are C streams,
   one per channel plane, too many for the hardware prefetcher to follow from L3. make bench,
   one thread, weft's time with / without, two runs each: 56x56 64 -> 64 0.89, 64 -> 128 0.95,
   64 -> 256 0.98, 128 -> 128 0.97, 28x28 128 -> 256 0.97 (and the harness on the generated
   code, 56x56 64 -> 64 with L2 evicted before each run: 177 -> 164 us); but from 256 channels
   it lost: 56x56 256 -> 128 1.02, 28x28 256 -> 256 1.04, 512 -> 128 1.02, 512 -> 256 1.04
   (and at 56x56 256 -> 64 it gained 1.4%); 112x112 32 -> 64 lost 3% warm in the harness. */
enum { PREFETCH_MIN_C = 64, PREFETCH_MAX_C = 128 };
/* Accumulators of a narrow depthwise map in blocks of rows (small_map_rows), at most. */
enum { ROWS_ACC_MAX = 24 };
/* Vector statements (taps x vectors) that a small map's unrolled window may print, at most:
   a 7x7 window on 14x14 (784) and a 31x31 one on 7x7 (3844, 0.5 s of gcc) unroll; a 31x31
   one on 14x14 (15376: 28,000 lines, 7.8 s of gcc) loops over its window. */
enum { SMALL_MAP_TAPS = 4096 };
/* A block of whole rows of a depthwise conv (dw_rows_per_block): at most this many
   accumulators, and at most this many vector statements in its unrolled window and rows (a
   3x3 window's; a 31x31 one unrolled with 8 rows printed 100,000 lines that took gcc 41 s). */
enum { ROW_BLOCK_ACC = 8, ROW_BLOCK_TAPS = 72 };

/* A small depthwise map whose fused pixels are the vectors (order ends with vec): the window
   (and the vectors down the map, oh_o) unrolled, so that every padding test is a constant mask
   per lane; accumulators for the whole map in registers, channels in parallel. */
static void small_map_loops(Def *D, int op, int s, const char *const *order, const char *vec, bool oh_o)
{
	const Tensor *y = &D->P->g->tensors[D->P->g->ops[op].out];
	def_reorder(D, s, order);
	def_on_loop(D, s, SD_UNROLL, "r");
	def_on_loop(D, s, SD_UNROLL, "s");
	if (oh_o)
		def_on_loop(D, s, SD_UNROLL, "oh_o");
	def_on_loop(D, s, SD_VECTORIZE, vec);
	def_on_loop(D, s, SD_PARALLEL, y->dims[0] >= 8 ? "n" : "k");
	def_on_loop(D, s, SD_CACHE_WRITE, "k");
	def_epilogue(D, op, s, "k");
}

/* R rows of a small depthwise map as the vectors: oh split by R, its inner loop fused with ow,
   the blocks of rows (oh_o) unrolled with the window. */
static void small_map_rows(Def *D, int op, int s, int64_t R, int64_t OH)
{
	static const char *const rows[] = {"n", "k", "c", "r", "s", "oh_o", "oh_i_ow", NULL};
	def_split(D, s, "oh", R, OH % R ? TAIL_GUARD : TAIL_EXACT);
	def_fuse(D, s, "oh_i", "ow");
	small_map_loops(D, op, s, rows, "oh_i_ow", true);
}

/* The rows of a depthwise conv's block (its output rows in unrolled blocks of B, with the
   window of taps = R*S, nvec vectors a row): the most rows within ROW_BLOCK_ACC accumulators
   and ROW_BLOCK_TAPS statements, the largest that divides OH unless that halves the block
   (then a guard on the last block). Unrolled, the taps of neighbouring rows read the same input
   rows (at stride 2 the same permuted pairs), which the C compiler loads once, and a weight's
   broadcast serves B rows. make bench, AVX-512, one thread, weft / oneDNN best before ->
   after: 112x112x64 s2 0.90-0.96 -> 1.02 (B = 2), 56x56x128 s1 1.02 -> 1.16 (2), s2 0.99 ->
   1.07 (4), 28x28x256 s1 0.93 -> 1.11 (4), s2 0.94 -> 1.06-1.09 (7). With 16 accumulators
   56x56x128 s1 lost its gain (cold L2 75-78 us against 66-67 with 8). */
static int64_t dw_rows_per_block(int64_t OH, int64_t nvec, int64_t taps)
{
	nvec = nvec > 0 ? nvec : 1;
	taps = taps > 0 ? taps : 1;
	int64_t most = ROW_BLOCK_ACC / nvec;
	if (most > ROW_BLOCK_TAPS / (nvec * taps))
		most = ROW_BLOCK_TAPS / (nvec * taps);
	if (most > OH)
		most = OH;
	if (most < 2)
		return 1;
	int64_t B = most;
	while (OH % B)
		B--;
	return B > 1 && 2 * B >= most ? B : most;
}

/* A depthwise conv (or a pool: chan "c") on plain NCHW: each output row a few vectors of
   pixels (the last one masked), accumulated in registers over the window, the weight a
   broadcast; the input row loads are contiguous at stride 1 (gathered at stride 2). A conv's
   rows go in unrolled blocks with the window (dw_rows_per_block; pools keep one row at a time:
   not measured). Channels in parallel. */
void def_dw_plain_loops(Def *D, int op, int s, const char *chan)
{
	enum { MAX_VEC = 64 }; /* the checker's limit on a vector loop */
	const Op *o = &D->P->g->ops[op];
	const Tensor *y = &D->P->g->tensors[o->out];
	int64_t OW = y->dims[3], OH = y->dims[2], W = D->W;
	int64_t taps = 0; /* a conv's window; pools (chan "c") take none of the unrolled shapes */
	if (!strcmp(chan, "k")) {
		const Tensor *w = &D->P->g->tensors[o->args[1]];
		taps = w->dims[2] * w->dims[3];
	}
	if (taps && o->p.stride[0] == 1 && o->p.stride[1] == 1 && OW < W && OH * OW <= MAX_VEC &&
	    taps * ((OH * OW + W - 1) / W) <= SMALL_MAP_TAPS) {
		/* a small map (7x7): rows would leave most lanes empty, so the whole map is the vector
		   (oh, ow fused; the input at stride 1 is then contiguous in it too) */
		static const char *const fused[] = {"n", "k", "c", "r", "s", "oh_ow", NULL};
		def_fuse(D, s, "oh", "ow");
		small_map_loops(D, op, s, fused, "oh_ow", false);
		return;
	}
	int64_t R = W / (OW > 0 ? OW : 1);
	if (taps && o->p.stride[0] == 2 && o->p.stride[1] == 2 && R >= 2 && OH > 1 &&
	    taps * ((OH + R - 1) / R) <= SMALL_MAP_TAPS) {
		/* a small map at stride 2 (14x14 to 7x7): R rows of it are a vector (oh split by R, its
		   inner loop fused with ow), so each input window is R rows, every other element: two
		   loads and a permutation where it is two rows (gen: windows_load), not R gathers
		   (measured on 14x14x512: 0.67 of oneDNN; the whole map as one gathered vector 0.21,
		   rows of 7 lanes 0.36) */
		small_map_rows(D, op, s, R, OH);
		return;
	}
	R = MAX_VEC / (OW > 0 ? OW : 1);
	R = R < OH ? R : OH;
	int64_t nacc = R >= 1 ? (OH + R - 1) / R * ((R * OW + W - 1) / W) : 0;
	if (taps && o->p.stride[0] == 1 && o->p.stride[1] == 1 && OW < W && R >= 2 && nacc <= ROWS_ACC_MAX &&
	    taps * nacc <= SMALL_MAP_TAPS) {
		/* a narrow map at stride 1 too big to be one vector (14x14): blocks of R rows as
		   vectors, as many as fit the vector loop, the whole map's accumulators in registers
		   and the window unrolled, so the taps' loads are a constant distance apart (shared
		   through shifts where the target can: gen/vshift.c). On 14x14x512 (AVX-512): R = 4,
		   22.2 us; R = 3 22.3, R = 2 25.5; rows of one vector each, looping over the window,
		   42.1. */
		small_map_rows(D, op, s, R, OH);
		return;
	}
	const char *ow = "ow";
	int64_t f = OW;
	if (OW > MAX_VEC) { /* rows in equal blocks of whole vectors, at most MAX_VEC */
		int64_t nvec = (OW + W - 1) / W, nblk = (OW + MAX_VEC - 1) / MAX_VEC;
		f = (nvec + nblk - 1) / nblk * W;
		def_split(D, s, "ow", f, OW % f ? TAIL_GUARD : TAIL_EXACT);
		ow = "ow_i";
	}
	int64_t B = taps ? dw_rows_per_block(OH, (f + W - 1) / W, taps) : 1;
	if (B > 1)
		def_split(D, s, "oh", B, OH % B ? TAIL_GUARD : TAIL_EXACT);
	const char *oh = B > 1 ? "oh_o" : "oh", *cw = OW > MAX_VEC ? "ow_o" : oh;
	/* conv: n k oh [ow_o] | c r s ow (c has extent 1), or in blocks of rows
	   n k oh_o [ow_o] | c r s oh_i ow; pools: n c oh [ow_o] | r s ow */
	const char *order[12];
	int n = 0;
	order[n++] = "n";
	order[n++] = chan;
	order[n++] = oh;
	if (OW > MAX_VEC)
		order[n++] = "ow_o";
	if (!strcmp(chan, "k"))
		order[n++] = "c";
	order[n++] = "r";
	order[n++] = "s";
	if (B > 1)
		order[n++] = "oh_i";
	order[n++] = ow;
	order[n] = NULL;
	def_reorder(D, s, order);
	if (B > 1) {
		def_on_loop(D, s, SD_UNROLL, "r");
		def_on_loop(D, s, SD_UNROLL, "s");
		def_on_loop(D, s, SD_UNROLL, "oh_i");
	}
	def_on_loop(D, s, SD_VECTORIZE, ow);
	def_on_loop(D, s, SD_PARALLEL, y->dims[0] >= 8 ? "n" : chan);
	def_on_loop(D, s, SD_CACHE_WRITE, cw);
	def_epilogue(D, op, s, cw);
}

/* A 1x1 conv at stride 1 without padding whose input and result are plain NCHW is a GEMM
   with the pixels contiguous: y[k, p] = sum_c w[k, c] x[c, p]. Pixels (oh, ow fused) are the
   vectors, nv of them by rb output channels in registers; each step over c loads nv vectors
   of x and broadcasts rb weights, packed [K/rb][C][rb] so they are adjacent. A block of
   pixels stays in cache while the channel blocks go by. */
bool def_pixels_gemm(const Def *D, const Op *o)
{
	const Graph *g = D->P->g;
	const Tensor *w = &g->tensors[o->args[1]];
	const OpParams *p = &o->p;
	if (D->W < 2 || o->p.groups != 1 || w->dims[2] != 1 || w->dims[3] != 1)
		return false;
	/* strided 1x1 convs read a subsample at stride 1 (ir/unitstride.c) */
	if (p->stride[0] != 1 || p->stride[1] != 1 || p->pad[0] || p->pad[1] || p->pad[2] || p->pad[3])
		return false;
	const Tensor *y = &g->tensors[o->out];
	int64_t P = y->dims[2] * y->dims[3];
	if (P < PIXELS_MIN * D->W)
		return false;
	return !def_planned_blocked(D, o->args[0]) && !def_planned_blocked(D, o->out);
}

/* The pixel block: nv vectors of the H*W pixels by rb output channels (rb divides K: no
   guarded channels), nv*rb accumulators, maximising FMAs per load. The last block is peeled
   (gen/kernel.c): only its vectors that hold a pixel run, so no choice of nv wastes lanes. */
static RegBlock pixels_block(const Def *D, const Op *o)
{
	const Tensor *y = &D->P->g->tensors[o->out];
	int64_t K = y->dims[1], P = y->dims[2] * y->dims[3];
	int64_t budget = def_reg_budget(D);
	RegBlock best = {1, 1, TAIL_EXACT, 0};
	double best_score = 0;
	for (int64_t nv = 1; nv <= 4 && nv * D->W <= 64; nv++) {
		int64_t f = nv * D->W;
		for (int64_t rb = 1; rb * nv <= budget && rb <= K; rb++) {
			if (K % rb)
				continue;
			double score = (double)(nv * rb) / (double)(nv + rb);
			if (score > best_score + 1e-9) {
				best_score = score;
				best = (RegBlock){nv, rb, P % f ? TAIL_GUARD : TAIL_EXACT, 0};
			}
		}
	}
	const SchedKnobs *k = def_knobs_for(D, o);
	if (k && k->nv > 0 && k->nv <= 4 && k->nv * D->W <= 64) {
		best.nv = k->nv;
		best.tail = P % (k->nv * D->W) ? TAIL_GUARD : TAIL_EXACT;
	}
	if (k && k->rb > 0 && K % k->rb == 0)
		best.rb = k->rb;
	return best;
}

void def_pixels_weight_layout(Def *D, int op)
{
	const Op *o = &D->P->g->ops[op];
	int64_t rb = pixels_block(D, o).rb;
	if (rb < 2)
		return;
	LayoutPrim p[2] = { /* [K/rb, C, 1, 1, rb] */
		{.kind = LP_SPLIT, .dim = 0, .factor = rb},
		{.kind = LP_REORDER, .n = 5, .perm = {0, 2, 3, 4, 1}},
	};
	def_add_layout(D, o->args[1], 2, p);
}

void def_pixels_loops(Def *D, int op, int s)
{
	const Op *o = &D->P->g->ops[op];
	const Tensor *y = &D->P->g->tensors[o->out];
	int64_t P = y->dims[2] * y->dims[3];
	RegBlock b = pixels_block(D, o);
	int64_t f = b.nv * D->W;
	def_fuse(D, s, "oh", "ow");
	const char *po = "oh_ow", *pi = po;
	if (f < P) {
		def_split(D, s, po, f, P % f ? TAIL_GUARD : TAIL_EXACT);
		po = "oh_ow_o", pi = "oh_ow_i";
	}
	const char *ko = NULL, *ki = "k";
	if (b.rb < y->dims[1]) {
		def_split(D, s, "k", b.rb, TAIL_EXACT);
		ko = "k_o", ki = "k_i";
	}
	const char *order[12];
	int n = 0;
	order[n++] = "n";
	if (f < P)
		order[n++] = po;
	if (ko)
		order[n++] = ko;
	order[n++] = "c";
	order[n++] = "r";
	order[n++] = "s";
	order[n++] = ki;
	order[n++] = pi;
	order[n] = NULL;
	def_reorder(D, s, order);
	if (b.rb > 1)
		def_on_loop(D, s, SD_UNROLL, ki);
	def_on_loop(D, s, SD_VECTORIZE, pi);
	const char *pn[4];
	int64_t pe[4];
	int np = 0;
	pn[np] = "n", pe[np++] = y->dims[0];
	if (f < P)
		pn[np] = po, pe[np++] = (P + f - 1) / f;
	if (ko)
		pn[np] = ko, pe[np++] = y->dims[1] / b.rb;
	const char *par = def_parallel_loop(np, pn, pe);
	if (par)
		def_on_loop(D, s, SD_PARALLEL, par);
	const char *cw = ko ? ko : f < P ? po : "n";
	def_on_loop(D, s, SD_CACHE_WRITE, cw);
	int64_t C = D->P->g->tensors[o->args[0]].dims[1];
	if (f < P && C >= PREFETCH_MIN_C && C <= PREFETCH_MAX_C)
		def_prefetch(D, s, o->args[0], po);
	def_epilogue(D, op, s, cw);
}
