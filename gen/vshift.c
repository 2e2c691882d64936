/* gen/vshift.c: vector loads at small constant distances from one another, read once and
 * shifted in registers.
 *
 * A stencil's unrolled taps load one tensor at offsets that differ by constants which are not
 * multiples of the width W: a depthwise conv over a small map with its pixels fused into the
 * vector (r and s unrolled) reads p + 7r + s for every tap r, s of a 7x7 map. No alignment can
 * hold for all of them, and most cross a cache line: on the 7x7 x 1024 depthwise conv of
 * MobileNetV2 (AVX-512) those split loads bounded the kernel (16.2 us; the same code with every
 * load at an aligned address, wrong results, 12.6 us).
 *
 * With the table's @alignr, such a group of loads (one tensor, offsets a constant apart) reads
 * vectors V_q at origin + q*W (origin: the group's first load): a load at origin + q*W is V_q,
 * loaded there if it is the first; a load at origin + q*W + r (0 < r < W) is
 * alignr(V_q+1, V_q, r) when both are loaded already (never loading two vectors to save one).
 * The shift runs on the port that also takes FMAs, so deriving every shifted load trades one
 * bottleneck for another: on that layer all of them derived took 14.7 us, about a third of them
 * 12.9-13.1 (the rest stay loads; half: 13.1-13.2, none: 15.4-15.7): at most one shift for two
 * loads (the V_q and the shifted loads left as loads). On 14x14 rows of 4 (ir/plainrules.c
 * small_map_rows) 29.4 -> 22.5 us.
 *
 * Stride 2 (vshift_load2): a row's taps at stride 2 (a depthwise conv's vector of output
 * pixels) read every other element at distances 1 apart; with the table's @perm2, a tap whose
 * lanes fall in V_q and V_q+1 is one permutation of the two (elements r, r + 2, ...) instead of
 * two loads and a permutation, and taps s and s + 1 read the same pair. AVX-512 on AMD EPYC,
 * where a split load takes two load slots: mb_dw4 (56x56x128, stride 2; a harness, warm)
 * 40.8 -> 34.6 us, 0.51 -> 0.89 of oneDNN in `make bench`. A tap whose last lane reaches into
 * V_q+2 reads as before, a pair of loads (under a mask of irregular lanes, a gather); two
 * permutations of three shared vectors instead measured no better.
 *
 * Which groups: the SIMD branch is first rendered as a probe (E->vprobe, output dropped) that
 * records each group and whether two of its offsets differ by a non-multiple of W; the real
 * rendering pools only those, so every other nest prints as before.
 *
 * Safety: V_q reads the lanes that stay inside the tensor for every value of the loop variables
 * (ix_bounds), plus those the load that needed it reads (inside the tensor, as that load was);
 * the others are 0. A use that needs a lane V_q does not hold loads for itself. Outside a
 * chunk's mask a shared vector may hold anything (a masked load would read 0 there): those
 * lanes never reach memory nor another lane, since a masked chunk's stores are masked and its
 * accumulations blended, and nothing in a chunk moves lanes but the loads' own permutations
 * (zeroing them cost 6% on that layer). Tensors the block writes are never pooled.
 * V_q lives in the block where it was declared (a guard's block inside the group's, say): it is
 * loaded again once a "}" has closed that block (Gen.closes), and a group dies with the block
 * it was made in.
 */
#include "kernel.h"

#include <string.h>

/* "}" lines printed below indentation ind so far. */
static unsigned closes_below(const Gen *G, int ind)
{
	unsigned n = 0;
	for (int i = 0; i < ind && i < (int)(sizeof G->closes / sizeof G->closes[0]); i++)
		n += G->closes[i];
	return n;
}

/* Is a local declared at indentation ind, when closes_below(ind) was snap, still in scope? Yes
   while lines print at ind or deeper and no "}" has closed its block. */
static bool in_scope(const Gen *G, int ind, unsigned snap)
{
	return G->ind >= ind && closes_below(G, ind) == snap;
}

/* Does the block write tensor t (or bytes it shares)? Its own stage's tensor and those of the
   stages printed in its block. */
static bool written_here(const Emit *E, int t)
{
	for (int i = 0; i < E->P->nstages; i++)
		if (gen_stage_slot(E->P, i) == E->si && kernel_overlap(E, t, E->P->stages[i].tensor))
			return true;
	return false;
}

/* off minus the group's origin, if a constant. */
static bool group_dist(const Emit *E, const VGroup *v, int t, const char *p, const Ix *off, int64_t *d)
{
	if (v->t != t || strcmp(v->p, p) != 0)
		return false;
	const Ix *e = kernel_fold(E, ix_add(off, ix_mul(v->origin, -1)));
	if (e->kind != IX_CONST)
		return false;
	*d = e->c;
	return true;
}

/* floor(d / W), and d minus W times it. */
static int64_t lane_split(int64_t d, int64_t W, int64_t *r)
{
	int64_t q = d >= 0 ? d / W : -((-d + W - 1) / W);
	*r = d - q * W;
	return q;
}

/* The probe: record the group of the load, marked shifty once two offsets differ by a
   non-multiple of W. */
static void probe_load(Emit *E, int t, const char *p, const Ix *off)
{
	int64_t d, r;
	for (int i = 0; i < E->nprobe; i++)
		if (group_dist(E, &E->probe[i], t, p, off, &d)) {
			lane_split(d, E->W, &r);
			E->probe[i].shifty |= r != 0;
			return;
		}
	if (E->nprobe < MAX_VGROUP)
		E->probe[E->nprobe++] = (VGroup){.t = t, .p = p, .origin = off};
}

static bool probed_shifty(const Emit *E, int t, const char *p, const Ix *off)
{
	int64_t d;
	for (int i = 0; i < E->nprobe; i++)
		if (group_dist(E, &E->probe[i], t, p, off, &d))
			return E->probe[i].shifty;
	return false;
}

/* The group of the load among those still in scope, made if none; NULL if the load is not at
   a constant distance from one and there is no room. */
static VGroup *find_group(Emit *E, int t, const char *p, const Ix *off, int64_t *d)
{
	Gen *G = E->G;
	int n = 0;
	for (int i = 0; i < E->nvgroup; i++) { /* drop the groups whose block closed */
		VGroup *v = &E->vgroup[i];
		if (in_scope(G, v->ind, v->snap))
			E->vgroup[n++] = *v;
	}
	E->nvgroup = n;
	for (int i = 0; i < n; i++)
		if (group_dist(E, &E->vgroup[i], t, p, off, d))
			return &E->vgroup[i];
	if (n == MAX_VGROUP)
		return NULL;
	VGroup *v = &E->vgroup[E->nvgroup++];
	*v = (VGroup){.t = t, .p = p, .origin = off, .ind = G->ind, .snap = closes_below(G, G->ind)};
	*d = 0;
	return v;
}

/* The lanes of a vector at folded offset off that stay inside tensor t whatever the loop
   variables left free. */
static uint64_t lanes_inside(const Emit *E, int t, const Ix *off)
{
	const Tensor *x = &E->g->tensors[t];
	int64_t n = ir_layout_numel(&x->layout, x->rank, x->dims), lo, hi;
	ix_bounds(off, E->extent, &lo, &hi);
	uint64_t bits = 0;
	for (int64_t l = 0; l < E->W; l++)
		if (lo + l >= 0 && hi + l < n)
			bits |= (uint64_t)1 << l;
	return bits;
}

static uint64_t all_lanes(const Emit *E) { return E->W >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << E->W) - 1; }

/* Can V_q of group v serve lanes need: in range, and either held in scope with those lanes or
   not held (then it would be loaded)? */
static bool vq_ready(const Emit *E, const VGroup *v, int64_t q, uint64_t need)
{
	if (q < VQ_MIN || q >= VQ_MIN + VQ_N)
		return false;
	int i = (int)(q - VQ_MIN);
	return !v->v[i] || !in_scope(E->G, v->vind[i], v->vsnap[i]) || (need & ~v->valid[i]) == 0;
}

/* V_q of group v holding at least lanes need; if it is not held (never loaded, or declared in a
   block that has closed since: a guard's, a loop's) and make, loaded here (need's lanes are
   inside the tensor); else NULL. */
static const char *vq(Emit *E, VGroup *v, int64_t q, uint64_t need, bool make)
{
	if (!vq_ready(E, v, q, need))
		return NULL;
	int i = (int)(q - VQ_MIN);
	Gen *G = E->G;
	if (v->v[i] && in_scope(G, v->vind[i], v->vsnap[i]))
		return v->v[i];
	if (!make)
		return NULL;
	const Ix *off = kernel_fold(E, ix_addc(v->origin, q * E->W));
	uint64_t bits = lanes_inside(E, v->t, off) | need;
	const char *a = ir_fmt("&%s[%s]", v->p, kernel_ix_c(E, off));
	const char *text = bits == all_lanes(E)
		? vec_tpl4(E, "load", a, NULL, NULL, NULL)
		: vec_tpl4(E, "maskload", a, vec_tpl4(E, "maskbits", ir_fmt("0x%llxu", (unsigned long long)bits), NULL, NULL, NULL), NULL, NULL);
	v->v[i] = ir_fmt("weft_v%d", ++E->nextv);
	v->valid[i] = bits;
	v->vind[i] = G->ind;
	v->vsnap[i] = closes_below(G, G->ind);
	gen_line(E->G, "const %s %s = %s;", vec_type(E), v->v[i], text);
	v->nload++;
	return v->v[i];
}

/* The group whose vectors a load may share (its group shifty, the tensor not written in the
   block), at distance *d from the group's origin; NULL if none. The probe records the load and
   gives NULL. */
static VGroup *sharing_group(Emit *E, int t, const char *p, const Ix *off, int64_t *d)
{
	if (E->vprobe) {
		probe_load(E, t, p, off);
		return NULL;
	}
	/* only shifty groups ask whether the block writes the tensor (a walk of its stages) */
	if (!probed_shifty(E, t, p, off) || written_here(E, t))
		return NULL;
	return find_group(E, t, p, off, d);
}

const char *vshift_load(Emit *E, int t, const char *p, const Ix *off, uint64_t lanes)
{
	if (!gen_template_find(E->G->vt, "alignr") || !gen_template_find(E->G->vt, "maskbits") || E->W > 64)
		return NULL;
	int64_t d, r;
	VGroup *v = sharing_group(E, t, p, off, &d);
	if (!v)
		return NULL;
	int64_t q = lane_split(d, E->W, &r), W = E->W;
	uint64_t all = all_lanes(E);
	/* the lanes of V_q and V_q+1 that the load's lanes read */
	uint64_t need_lo = r == 0 ? lanes : (lanes & (all >> r)) << r;
	uint64_t need_hi = r == 0 ? 0 : lanes >> (W - r);
	if (r == 0) /* V_q itself, loaded here if this is its first use */
		return vq(E, v, q, need_lo, true);
	/* a shift of two vectors already loaded, for at most one load in three */
	const char *lo = 2 * v->nshift <= v->nload ? vq(E, v, q, need_lo, false) : NULL;
	const char *hi = lo && need_hi ? vq(E, v, q + 1, need_hi, false) : lo;
	if (!lo || !hi) {
		v->nload++;
		return NULL;
	}
	v->nshift++;
	return vec_tpl4(E, "alignr", hi, lo, ir_fmt("%lld", (long long)r), NULL);
}

/* A stride-2 load (lane j reads off + 2j) from the group's vectors: one permutation of V_q and
   V_q+1 instead of two loads and one. Only where the lanes' elements fall in those two (a tap
   whose last lane reaches into V_q+2 reads as it would without the group). */
const char *vshift_load2(Emit *E, int t, const char *p, const Ix *off, uint64_t lanes)
{
	int64_t W = E->W;
	if (!gen_template_find(E->G->vt, "perm2") || !gen_template_find(E->G->vt, "maskbits") || W > 32)
		return NULL;
	int64_t d, r;
	VGroup *v = sharing_group(E, t, p, off, &d);
	if (!v)
		return NULL;
	int64_t q = lane_split(d, W, &r);
	uint64_t need[2] = {0, 0}; /* the elements of V_q and V_q+1 read */
	for (int64_t j = 0; j < W; j++)
		if (lanes >> j & 1) {
			int64_t e = r + 2 * j;
			if (e >= 2 * W)
				return NULL;
			need[e / W] |= (uint64_t)1 << (e % W);
		}
	if (!need[0] && need[1]) { /* the lanes read only V_q+1 (the first ones masked off) */
		q++, r -= W;
		need[0] = need[1], need[1] = 0;
	}
	/* both or neither: a vector loaded here and then not used would be an unused local */
	if (!vq_ready(E, v, q, need[0]) || (need[1] && !vq_ready(E, v, q + 1, need[1])))
		return NULL;
	const char *lo = vq(E, v, q, need[0], true);
	const char *hi = need[1] ? vq(E, v, q + 1, need[1], true) : lo;
	if (!lo || !hi)
		die("vshift_load2: a vector found ready was not given");
	char *list = "";
	for (int64_t j = 0; j < W; j++) /* a lane not read takes element 0 (any would do) */
		list = ir_fmt("%s%s%lld", list, j ? ", " : "", (lanes >> j & 1) ? (long long)(r + 2 * j) : 0LL);
	return vec_tpl4(E, "perm2", lo, list, hi, NULL);
}
