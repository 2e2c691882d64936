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
 * Stride 2 and irregular lanes (vshift_load2, vshift_loadx): a row's taps at stride 2 (a
 * depthwise conv's vector of output pixels) read every other element at distances 1 apart;
 * with the table's @perm2 each tap is one permutation of two vectors of the group. Those are
 * free vectors, loaded where a tap's lanes begin (one element before, under a padding column),
 * not on the grid of the V_q: taps s, s + 1, s + 2 of a row then read the same two, and
 * irregular lanes (two rows of a small map in one vector) one vector per row. AVX-512 on AMD
 * EPYC, where a split load takes two load slots, in `make bench` against oneDNN: mb_dw4
 * (56x56x128) 0.51 -> 0.89 with the grid (taps whose last lane reached into V_q+2 kept two
 * loads each), 0.92-0.97 with free vectors; mb_dw6 (28x28) 0.88 -> 1.02; mb_dw8 (14x14,
 * irregular lanes) 0.82 -> 1.11.
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

/* Free vector i of group v, if still in scope. */
static bool free_live(const Emit *E, const VGroup *v, int i)
{
	return in_scope(E->G, v->find[i], v->fsnap[i]);
}

/* The lanes (of those held) whose elements, at distances el from the group's origin, a vector
   at distance at holding lanes valid has. */
static uint64_t covers(int64_t W, int64_t at, uint64_t valid, const int64_t *el, uint64_t held)
{
	uint64_t c = 0;
	for (int64_t j = 0; j < W; j++)
		if ((held >> j & 1) && el[j] >= at && el[j] < at + W && (valid >> (el[j] - at) & 1))
			c |= (uint64_t)1 << j;
	return c;
}

/* The lanes of held whose elements fall in [at, at + W). */
static uint64_t in_window(int64_t W, int64_t at, const int64_t *el, uint64_t held)
{
	return covers(W, at, ~(uint64_t)0, el, held);
}

/* Where a new vector for lanes rest starts: at the first lane's element, or the one before
   when the lane in front of it is not held (a padding column: the row's next tap starts
   there) and the lanes the window would hold stay the same. */
static int64_t window_start(int64_t W, const int64_t *el, uint64_t held, uint64_t rest)
{
	int64_t j0 = 0;
	while (!(rest >> j0 & 1))
		j0++;
	int64_t m = el[j0];
	for (int64_t j = j0; j < W; j++)
		if ((rest >> j & 1) && el[j] < m)
			m = el[j];
	bool gap = j0 > 0 && !(held >> (j0 - 1) & 1);
	if (gap && (in_window(W, m - 1, el, rest) & in_window(W, m, el, rest)) == in_window(W, m, el, rest))
		return m - 1;
	return m;
}

/* A new free vector of group v at distance at, holding at least the elements of lanes need
   (the others it can: lanes_inside the tensor, else 0), declared here; its slot, or -1. */
static int load_free(Emit *E, VGroup *v, int64_t at, const int64_t *el, uint64_t need)
{
	int i = 0;
	while (i < v->nfree && free_live(E, v, i))
		i++;
	if (i == VF_N)
		return -1;
	uint64_t bits = 0;
	for (int64_t j = 0; j < E->W; j++)
		if (need >> j & 1)
			bits |= (uint64_t)1 << (el[j] - at);
	const Ix *off = kernel_fold(E, ix_addc(v->origin, at));
	bits |= lanes_inside(E, v->t, off);
	const char *a = ir_fmt("&%s[%s]", v->p, kernel_ix_c(E, off));
	const char *text = bits == all_lanes(E)
		? vec_tpl4(E, "load", a, NULL, NULL, NULL)
		: vec_tpl4(E, "maskload", a, vec_tpl4(E, "maskbits", ir_fmt("0x%llxu", (unsigned long long)bits), NULL, NULL, NULL), NULL, NULL);
	v->fv[i] = ir_fmt("weft_v%d", ++E->nextv);
	gen_line(E->G, "const %s %s = %s;", vec_type(E), v->fv[i], text);
	v->fd[i] = at;
	v->fvalid[i] = bits;
	v->find[i] = E->G->ind;
	v->fsnap[i] = closes_below(E->G, E->G->ind);
	v->nfree += i == v->nfree;
	return i;
}

/* Lanes held, whose elements lie at distances el from group v's origin, as one permutation
   of two vectors of the group: two live ones that hold them all, else one live one and one
   new, else two new (each at window_start of the lanes left); NULL if two cannot hold them
   or there is no room. A row's taps s, s + 1, s + 2 (distances 1 apart) so read the vectors
   loaded at the first of them. */
static const char *free_perm(Emit *E, VGroup *v, const int64_t *el, uint64_t held)
{
	int64_t W = E->W;
	int a = -1, b = -1;
	uint64_t best = 0;
	for (int i = 0; i < v->nfree && b < 0; i++) {
		if (!free_live(E, v, i))
			continue;
		uint64_t ci = covers(W, v->fd[i], v->fvalid[i], el, held);
		if (ci == held)
			a = b = i;
		for (int k = 0; k < v->nfree && b < 0 && ci; k++)
			if (k != i && free_live(E, v, k) && (ci | covers(W, v->fd[k], v->fvalid[k], el, held)) == held)
				a = i, b = k;
		if (b < 0 && __builtin_popcountll(ci) > __builtin_popcountll(best))
			best = ci, a = i;
	}
	if (b < 0) { /* new vectors: one beside live a when a window holds the rest, else two */
		uint64_t rest = a >= 0 ? held & ~best : held;
		int64_t s0 = window_start(W, el, held, rest);
		if (a >= 0 && (rest & ~in_window(W, v->fd[a] + W, el, rest)) == 0)
			s0 = v->fd[a] + W; /* right after a: the row's next taps read it too */
		uint64_t left = rest & ~in_window(W, s0, el, rest);
		if (a >= 0 && left) { /* two new ones instead */
			a = -1, rest = held;
			s0 = window_start(W, el, held, rest);
			left = rest & ~in_window(W, s0, el, rest);
		}
		int64_t s1 = 0;
		if (left) { /* right after the first window (a row's taps then read one pair), else
			       where the lanes left begin (a second row) */
			s1 = s0 + W;
			if (left & ~in_window(W, s1, el, left))
				s1 = window_start(W, el, held, left);
			if (left & ~in_window(W, s1, el, left))
				return NULL;
		}
		int first = load_free(E, v, s0, el, rest & ~left);
		if (first < 0)
			return NULL;
		if (a < 0)
			a = first, b = left ? load_free(E, v, s1, el, left) : first;
		else
			b = first;
		if (b < 0)
			return NULL;
	}
	char *list = "";
	for (int64_t j = 0; j < W; j++) { /* a lane not held takes element 0 (any would do) */
		int64_t e = 0;
		if ((held >> j & 1) && el[j] >= v->fd[a] && el[j] < v->fd[a] + W && (v->fvalid[a] >> (el[j] - v->fd[a]) & 1))
			e = el[j] - v->fd[a];
		else if (held >> j & 1)
			e = W + el[j] - v->fd[b];
		list = ir_fmt("%s%s%lld", list, j ? ", " : "", (long long)e);
	}
	return vec_tpl4(E, "perm2", v->fv[a], list, v->fv[b], NULL);
}

/* A load whose lane j reads off + delta[j] (delta NULL: 2j) from free vectors of its group. */
static const char *free_load(Emit *E, int t, const char *p, const Ix *off, uint64_t lanes, const int64_t *delta)
{
	int64_t W = E->W;
	if (!gen_template_find(E->G->vt, "perm2") || !gen_template_find(E->G->vt, "maskbits") || W > 32 || !lanes)
		return NULL;
	int64_t d;
	VGroup *v = sharing_group(E, t, p, off, &d);
	if (!v)
		return NULL;
	int64_t el[32];
	for (int64_t j = 0; j < W; j++)
		el[j] = d + (delta ? delta[j] : 2 * j);
	return free_perm(E, v, el, lanes);
}

/* A stride-2 load (lane j reads off + 2j) as one permutation of two vectors of its group
   (free_perm) instead of two loads and one. (A grid of V_q from the group's origin, as
   vshift_load, shares less: rows 28 floats apart start at every fourth lane, and a row whose
   taps reach into a third V_q took two loads of their own per tap; mb_dw6, AVX-512 on AMD
   EPYC: 74 loads for 63 FMAs, 15.5 us; free vectors: 50 loads, 12.2 us, warm.) */
const char *vshift_load2(Emit *E, int t, const char *p, const Ix *off, uint64_t lanes)
{
	return free_load(E, t, p, off, lanes, NULL);
}

/* A load of irregular lanes (E->vdelta: pixels of two rows of a small map in one vector) as
   one permutation of two vectors of its group (free_perm), shared by the taps of a row
   (mb_dw8, 14x14 at stride 2: 72 loads for 36 FMAs, 7.9 us; 21 loads, 5.4 us, warm). */
const char *vshift_loadx(Emit *E, int t, const char *p, const Ix *off, uint64_t lanes)
{
	return free_load(E, t, p, off, lanes, E->vdelta);
}
