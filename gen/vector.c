/* gen/vector.c: the SIMD statements of a vectorized stage nest, by table lookup.
 *
 * kernel.c prints the nest; in vector mode it unrolls the vectorized loop (innermost, spatial,
 * extent E = k*W for the target's width W) into k chunks and calls here for every statement of
 * a chunk. A statement of the loop IR maps onto the target's table (templates/TARGET.tpl) entry
 * by entry: each tensor access whose simplified physical offset has coefficient 1 on the vector
 * variable is a vector load or store at the chunk's first lane, coefficient 0 a broadcast, any
 * other coefficient a gather (or scatter) through a small array of lanes, except that the
 * scatters of a cache_write's writeback (channel vectors into an NCHW output) are held back and
 * go out as transposes of runs of pixels (@tstore, vec_flush_tstores); constants and index
 * values are broadcasts; functions and operators are the entries of the same name; += a*b is
 * fma. A function with no entry makes the stage keep only its scalar nest (vec_fail). exp,
 * sigmoid, tanh and gelu are entries like the others, whose text calls the table's helper
 * functions (weft_v_exp...: polynomial approximations within 1e-6 relative error of libm);
 * cgen.c defines, once per file, the helpers its code calls. Nothing here knows any target's
 * instructions.
 */
#include "kernel.h"

#include <stdlib.h>
#include <string.h>

void vec_fail(Emit *E, const char *why)
{
	if (!E->vfail)
		E->vwhy = why;
	E->vfail = true;
}

const char *vec_type(const Emit *E) { return gen_template(E->G->vt, "vtype"); }

/* The table's entry key expanded; a missing entry fails the SIMD branch. */
const char *vec_tpl4(Emit *E, const char *key, const char *a1, const char *a2, const char *a3,
                     const char *a4)
{
	const char *t = gen_template_find(E->G->vt, key);
	if (!t) {
		vec_fail(E, ir_fmt("%s has no vector form on %s", key, E->G->vtarget));
		return "0";
	}
	Buf b = {0};
	gen_expand4(&b, t, a1, a2, a3, a4);
	char *s = ir_strdup(b.data ? b.data : "");
	buf_free(&b);
	return s;
}

static const char *vtpl(Emit *E, const char *key, const char *a1, const char *a2, const char *a3)
{
	return vec_tpl4(E, key, a1, a2, a3, NULL);
}

static const char *broadcast(Emit *E, const char *scalar) { return vtpl(E, "broadcast", scalar, NULL, NULL); }

/* The chunk's lane bounds (vlo, vhi), declared here if this is their first use: every line of
   the mask's declaration but the last, which makes the mask. */
static void use_lanes(Emit *E)
{
	for (int i = 0; i < E->nvmask_decl - 1; i++)
		gen_line(E->G, "%s", E->vmask_decl[i]);
	if (E->nvmask_decl > 1) {
		E->vmask_decl[0] = E->vmask_decl[E->nvmask_decl - 1];
		E->nvmask_decl = 1;
	}
}

/* The chunk's mask, declared here if this is its first use. */
const char *vec_use_mask(Emit *E)
{
	use_lanes(E);
	for (int i = 0; i < E->nvmask_decl; i++)
		gen_line(E->G, "%s", E->vmask_decl[i]);
	E->nvmask_decl = 0;
	return E->vmask;
}

/* The C condition that lane weft_lane of the current chunk holds (under a mask). */
static const char *lane_holds(const Emit *E)
{
	if (E->vbits)
		return ir_fmt("(%s >> weft_lane) & 1u", E->vbits);
	return ir_fmt("weft_lane >= %s && weft_lane < %s", E->vlo, E->vhi);
}

/* Can the table mask lanes (a chunk's tail, a guard on the vectorized loop)? */
static bool has_masks(const Emit *E) { return gen_template_find(E->G->vt, "mask") != NULL; }

bool vec_candidate(Emit *E)
{
	const Stage *s = E->s;
	E->vvar = -1;
	int pos = -1;
	for (int p = 0; p < s->nloops; p++)
		if (E->P->vars[s->loops[p]].kind == LOOP_VECTOR)
			pos = p;
	if (pos < 0)
		return false;
	const Var *x = &E->P->vars[s->loops[pos]];
	const char *w = gen_template(E->G->vt, "width");
	E->W = strtoll(w, NULL, 10);
	if (E->W < 2)
		die("%s.tpl: bad @width \"%s\"", E->G->vtarget, w);
	bool masks = has_masks(E);
	if (pos != s->nloops - 1)
		E->vwhy = ir_fmt("%s is not the innermost loop", x->name);
	else if (x->reduction)
		E->vwhy = ir_fmt("%s is a reduction", x->name);
	else if (x->extent % E->W != 0 && !masks)
		E->vwhy = ir_fmt("%s's extent %lld is not a multiple of %lld", x->name, (long long)x->extent,
		                 (long long)E->W);
	else if (s->cache_at >= pos)
		E->vwhy = ir_fmt("the accumulators are inside %s", x->name);
	for (int k = 0; k < s->nguards && !E->vwhy && !masks; k++)
		if (ix_uses(s->guards[k].e, s->loops[pos]))
			E->vwhy = ir_fmt("a guard depends on %s", x->name);
	if (E->vwhy)
		return false;
	E->vvar = s->loops[pos];
	return true;
}

/* The physical offset of tensor t at idx, with the vector variable free (its coefficient
   tells the access pattern) and at the chunk's first lane (folded, and as C text). */
static bool vec_offset(Emit *E, int t, const Ix *const *idx, int64_t *coef, const Ix **off0, const char **at)
{
	const Tensor *x = &E->g->tensors[t];
	const Ix *off = ir_layout_offset(&x->layout, x->rank, x->dims, idx);
	if (!E->vlive || E->vvar < 0) {
		vec_fail(E, "a statement outside the vectorized loop");
		return false;
	}
	E->bound[E->vvar] = false;
	const Ix *free_off = kernel_fold(E, off);
	E->bound[E->vvar] = true;
	*off0 = kernel_fold(E, off);
	*at = kernel_ix_c(E, *off0);
	if (ix_coeff(free_off, E->vvar, coef))
		return true;
	/* Not affine (a fused loop's div and mod), but each lane may still be a constant distance
	   from lane 0 once the chunk is bound: a gather at those distances (*coef = -1). */
	const Ix *base = kernel_fold(E, off);
	int64_t c = E->value[E->vvar];
	bool ok = E->W <= 32;
	for (int64_t l = 0; l < E->W && ok; l++) {
		E->value[E->vvar] = c + l;
		const Ix *d = l < E->vtail ? kernel_fold(E, ix_add(off, ix_mul(base, -1))) : ix_const(0);
		ok = d->kind == IX_CONST && d->c > INT32_MIN && d->c < INT32_MAX;
		E->vdelta[l] = ok ? d->c : 0;
	}
	E->value[E->vvar] = c;
	if (!ok) {
		vec_fail(E, ir_fmt("%s's offset is not affine in the vectorized loop", x->name));
		return false;
	}
	*coef = -1;
	return true;
}

/* The lanes' distances from lane 0 of an irregular access, as a C list. */
static const char *delta_list(const Emit *E)
{
	char *s = "";
	for (int64_t l = 0; l < E->W; l++)
		s = ir_fmt("%s%s%lld", s, l ? ", " : "", (long long)E->vdelta[l]);
	return s;
}

/* The lanes of the current chunk that hold, when they are known here: all of the chunk's, a
   constant mask's, or (affine) those of a mask printed from bounds that are constants; false
   under a mask computed at run time. Unit-stride taps ask without affine: under such a mask
   gcc folds each tap's masked load, FMA and blend into one masked FMA from memory, and shared
   vectors slowed mb_dw5 (28x28) from 25-28 to 30-34 us. */
static bool known_lanes(const Emit *E, uint64_t *lanes, bool affine)
{
	if (!E->vmask) {
		*lanes = E->vtail >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << E->vtail) - 1;
		return true;
	}
	if (!E->vbits) {
		*lanes = E->vlanes;
		return affine && E->vlanes_known;
	}
	*lanes = strtoull(E->vbits, NULL, 16);
	return true;
}

/* Irregular lanes that fall in two windows of W elements (rows of a small map at stride 2:
   two rows, every other element): each window one load of only the elements the lanes read
   (no read outside the tensor), then a permutation of the two, instead of a gather of every
   lane. NULL where the lanes do not fit or the table cannot. */
static const char *windows_load(Emit *E, const char *p, const char *at)
{
	uint64_t lanes;
	int64_t W = E->W, start[2] = {0, 0};
	if (!gen_template_find(E->G->vt, "perm2") || !gen_template_find(E->G->vt, "loadbits") ||
	    W > 32 || !known_lanes(E, &lanes, false) || lanes == 0)
		return NULL;
	uint64_t elems[2] = {0, 0};
	int win[64];
	for (int w = 0; w < 2; w++) { /* window w starts at the least distance left */
		bool any = false;
		for (int64_t l = 0; l < W; l++)
			if ((lanes >> l & 1) && (w == 0 || win[l] < 0) && (!any || E->vdelta[l] < start[w]))
				start[w] = E->vdelta[l], any = true;
		for (int64_t l = 0; l < W && any; l++) {
			if (!(lanes >> l & 1) || (w == 1 && win[l] >= 0))
				continue;
			bool in = E->vdelta[l] >= start[w] && E->vdelta[l] < start[w] + W;
			win[l] = in ? w : -1;
			if (in)
				elems[w] |= (uint64_t)1 << (E->vdelta[l] - start[w]);
		}
	}
	int64_t zero = -1; /* an element of window 0 not loaded: 0.0f, for the lanes that do not hold */
	for (int64_t e = 0; e < W && zero < 0; e++)
		if (!(elems[0] >> e & 1))
			zero = e;
	char *idx = "";
	for (int64_t l = 0; l < W; l++) {
		bool holds = lanes >> l & 1;
		if (holds && win[l] < 0)
			return NULL; /* a third window */
		int64_t i = !holds ? (zero < 0 ? 0 : zero) : E->vdelta[l] - start[win[l]] + (win[l] ? W : 0);
		idx = ir_fmt("%s%s%lld", idx, l ? ", " : "", (long long)i);
	}
	const char *v[2];
	for (int w = 0; w < 2; w++)
		v[w] = elems[w] ? vtpl(E, "loadbits", ir_fmt("&%s[%s + %lld]", p, at, (long long)start[w]),
		                       ir_fmt("0x%llxu", (unsigned long long)elems[w]), NULL)
		                : vtpl(E, "zero", NULL, NULL, NULL);
	const char *r = vtpl(E, "perm2", v[0], idx, v[1]);
	if (zero < 0 && lanes != ((uint64_t)1 << W) - 1)
		r = vtpl(E, "maskz", vec_use_mask(E), r, NULL);
	return r;
}

/* The constant term of a folded offset, and the rest. */
static int64_t split_const(const Ix *off, const Ix **rest)
{
	if (off->kind == IX_CONST) {
		*rest = NULL;
		return off->c;
	}
	if (off->kind == IX_ADD && off->b->kind == IX_CONST) {
		*rest = off->a;
		return off->b->c;
	}
	*rest = off;
	return 0;
}

/* The cache line (16 floats) of element offset e, rounded down (e may be negative). */
static int64_t line_of(int64_t e) { return e >= 0 ? e / 16 : -((15 - e) / 16); }

/* The stage's prefetch(t, L) directives, before a load of t whose lane 0 is at idx and whose
   lanes are k elements apart: the same load in L's next iteration, one @prefetch per cache line
   (16 floats) it reads, each line once in the body of the innermost loop printed (so a loop
   inside L spreads the next iteration's lines over its own iterations). Nothing in L's last
   iteration when it is printed apart; elsewhere an address outside the tensor is clamped to its
   first or last element (a prefetch never faults, but C pointers must stay inside their array). */
static void prefetch_next(Emit *E, int t, const Ix *const *idx, int64_t k)
{
	const Stage *s = E->s;
	if (E->vprobe || !gen_template_find(E->G->vt, "prefetch"))
		return;
	const Tensor *x = &E->g->tensors[t];
	int64_t n = ir_layout_numel(&x->layout, x->rank, x->dims);
	int64_t span = k >= 0 && k <= 2 ? k * (E->W - 1) + 1 : 1;
	for (int i = 0; i < s->npf; i++) {
		int L = s->pf_var[i];
		if (s->pf_tensor[i] != t || (E->bound[L] && E->value[L] + 1 >= E->P->vars[L].extent))
			continue;
		const Ix *next[IR_MAX_RANK];
		for (int d = 0; d < x->rank; d++)
			next[d] = ix_subst(idx[d], L, ix_addc(ix_var(L), 1));
		const Ix *off = kernel_fold(E, ir_layout_offset(&x->layout, x->rank, x->dims, next)), *rest;
		int64_t c = split_const(off, &rest), lo, hi;
		ix_bounds(off, E->extent, &lo, &hi);
		const char *rtext = rest ? kernel_ix_c(E, rest) : "";
		const char *p = kernel_ptr(E, t);
		int64_t l0 = line_of(c), l1 = line_of(c + span - 1);
		for (int64_t line = l0; line <= l1 && line < l0 + 4; line++) {
			const char *key = ir_fmt("%d|%s|%lld", t, rtext, (long long)line);
			bool seen = false;
			for (int j = 0; j < E->npfline && !seen; j++)
				seen = !strcmp(E->pfline[j], key);
			if (seen || E->npfline == MAX_PFLINES)
				continue;
			E->pfline[E->npfline++] = key;
			int64_t at = line == l0 ? c : line * 16; /* the line's first element read */
			const char *o = !rest ? ir_fmt("%lld", (long long)at)
			                : at ? ir_fmt("%s %c %lld", rtext, at < 0 ? '-' : '+', (long long)(at < 0 ? -at : at))
			                     : rtext;
			bool past = hi + (at - c) > n - 1;  /* past the end somewhere in L's range */
			bool before = lo + (at - c) < 0;    /* before the start (a padded window's taps) */
			if (!past && !before) {
				gen_line(E->G, "%s;", vtpl(E, "prefetch", ir_fmt("&%s[%s]", p, o), NULL, NULL));
				continue;
			}
			const char *clamped = past ? ir_fmt("weft_pf < %lld ? weft_pf : %lld", (long long)(n - 1), (long long)(n - 1))
			                           : "weft_pf";
			if (before)
				clamped = ir_fmt("weft_pf < 0 ? 0 : %s", clamped);
			gen_line(E->G, "{");
			E->G->ind++;
			gen_line(E->G, "%s weft_pf = %s;", E->G->idx, o);
			gen_line(E->G, "%s;", vtpl(E, "prefetch", ir_fmt("&%s[%s]", p, clamped), NULL, NULL));
			E->G->ind--;
			gen_line(E->G, "}");
		}
	}
}

static const char *vec_load(Emit *E, int t, const Ix *const *idx)
{
	int64_t k;
	const char *at;
	const Ix *off0;
	for (int i = 0; i < E->ntpend; i++)
		if (kernel_overlap(E, E->tpend[i].t, t)) { /* it reads what is held back */
			if (E->G->ind != E->tind) /* the stores would print conditional or repeated */
				die("a load of %s inside a guard or loop of a writeback with stores held back",
				    E->g->tensors[t].name);
			vec_flush_tstores(E);
			break;
		}
	if (!vec_offset(E, t, idx, &k, &off0, &at))
		return "0";
	if (E->s->npf)
		prefetch_next(E, t, idx, k);
	const char *p = kernel_ptr(E, t);
	uint64_t lanes;
	const char *shared = k == 1 && known_lanes(E, &lanes, false) ? vshift_load(E, t, p, off0, lanes)
	                   : k == 2 && known_lanes(E, &lanes, true) ? vshift_load2(E, t, p, off0, lanes) : NULL;
	if (shared)
		return shared;
	if (k == 0)
		return broadcast(E, ir_fmt("%s[%s]", p, at));
	if (k < 0) { /* irregular lanes: a gather at constant distances, else lane by lane */
		const char *w = known_lanes(E, &lanes, false) ? vshift_loadx(E, t, p, off0, lanes) : NULL;
		if (!w)
			w = windows_load(E, p, at);
		if (w)
			return w;
		const char *a = ir_fmt("&%s[%s]", p, at);
		if (gen_template_find(E->G->vt, "gatherat"))
			return E->vmask ? vtpl(E, "maskgatherat", a, delta_list(E), vec_use_mask(E))
			                : vtpl(E, "gatherat", a, delta_list(E), NULL);
		if (E->vmask)
			use_lanes(E);
		const char *g = ir_fmt("weft_g%d", ++E->nextv);
		gen_line(E->G, "static const int %s_d[%lld] = {%s};", g, (long long)E->W, delta_list(E));
		gen_line(E->G, "float %s[%lld];", g, (long long)E->W);
		gen_line(E->G, "for (%s weft_lane = 0; weft_lane < %lld; weft_lane++)", E->G->idx, (long long)E->W);
		gen_line(E->G, "\t%s[weft_lane] = %s%s[%s + %s_d[weft_lane]]%s;", g, E->vmask ? ir_fmt("%s ? ", lane_holds(E)) : "",
		         p, at, g, E->vmask ? " : 0.0f" : "");
		return vtpl(E, "load", g, NULL, NULL);
	}
	if (k == 2 && gen_template_find(E->G->vt, "load2") && !E->vbits) { /* stride 2: two loads, every other lane */
		const char *a = ir_fmt("&%s[%s]", p, at);
		if (!E->vmask)
			return vtpl(E, "load2", a, NULL, NULL);
		/* lanes [lo, hi) read elements 2*lo .. 2*hi - 2 of the 2W loaded */
		use_lanes(E);
		long long w = (long long)E->W;
		const char *m1 = vtpl(E, "mask", ir_fmt("2 * %s", E->vlo), ir_fmt("2 * %s - 1", E->vhi), NULL);
		const char *m2 = vtpl(E, "mask", ir_fmt("2 * %s - %lld", E->vlo, w), ir_fmt("2 * %s - %lld", E->vhi, w + 1), NULL);
		return vtpl(E, "maskload2", a, m1, m2);
	}
	if (k == 1 && E->vmask)
		return vtpl(E, "maskload", ir_fmt("&%s[%s]", p, at), vec_use_mask(E), NULL);
	if (k == 1)
		return vtpl(E, "load", ir_fmt("&%s[%s]", p, at), NULL, NULL);
	/* A strided access: the table's gather when it has one (the lanes' offsets must fit in
	   32 bits), else the lanes gathered into an array, then loaded (masked-off lanes 0). */
	if (gen_template_find(E->G->vt, "gather") && k > 0 && k * (E->W - 1) < (int64_t)1 << 30) {
		const char *base = ir_fmt("&%s[%s]", p, at), *stride = ir_fmt("%lld", (long long)k);
		if (E->vmask)
			return vtpl(E, "maskgather", base, stride, vec_use_mask(E));
		return vtpl(E, "gather", base, stride, NULL);
	}
	if (E->vmask)
		use_lanes(E);
	const char *g = ir_fmt("weft_g%d", ++E->nextv);
	gen_line(E->G, "float %s[%lld];", g, (long long)E->W);
	gen_line(E->G, "for (%s weft_lane = 0; weft_lane < %lld; weft_lane++)", E->G->idx, (long long)E->W);
	if (E->vmask)
		gen_line(E->G, "\t%s[weft_lane] = %s ? %s[%s + weft_lane * %lld] : 0.0f;", g, lane_holds(E), p, at,
		         (long long)k);
	else
		gen_line(E->G, "\t%s[weft_lane] = %s[%s + weft_lane * %lld];", g, p, at, (long long)k);
	return vtpl(E, "load", g, NULL, NULL);
}

static void store_lanes(Emit *E, const char *p, const char *at, int64_t k, const char *val);

void vec_store(Emit *E, int t, const Ix *const *idx, const char *val)
{
	int64_t k;
	const char *at;
	const Ix *off0;
	if (!vec_offset(E, t, idx, &k, &off0, &at))
		return;
	const char *p = kernel_ptr(E, t);
	E->written[t] = true;
	if (k < 0) { /* irregular lanes: one by one */
		store_lanes(E, p, at, k, val);
		return;
	}
	if (k == 1 && E->vmask) {
		gen_line(E->G, "%s;", vtpl(E, "maskstore", ir_fmt("&%s[%s]", p, at), vec_use_mask(E), val));
		return;
	}
	if (k == 1) {
		gen_line(E->G, "%s;", vtpl(E, "store", ir_fmt("&%s[%s]", p, at), val, NULL));
		return;
	}
	if (k == 0) {
		vec_fail(E, ir_fmt("every lane stores the same element of %s", E->g->tensors[t].name));
		return;
	}
	/* Not contiguous in the vectorized loop (an NCHW output written from a channel vector). */
	if (E->tdefer && !E->vmask && E->vtail == E->W && E->G->ind == E->tind) {
		if (E->ntpend == MAX_TPEND)
			vec_flush_tstores(E);
		bool named = strspn(val, "abcdefghijklmnopqrstuvwxyz_0123456789[]") == strlen(val);
		if (!named) { /* computed here, stored at the flush */
			const char *v = ir_fmt("weft_v%d", ++E->nextv);
			gen_line(E->G, "const %s %s = %s;", vec_type(E), v, val);
			val = v;
		}
		const Tensor *x = &E->g->tensors[t];
		const Ix *off = kernel_fold(E, ir_layout_offset(&x->layout, x->rank, x->dims, idx));
		E->tpend[E->ntpend++] = (struct TPend){.t = t, .p = p, .val = val, .off = off, .k = k};
		return;
	}
	store_lanes(E, p, at, k, val);
}

/* The lanes through a small array, then out one by one: lane l at l * k, or (k < 0) at the
   irregular distances of E->vdelta. */
static void store_lanes(Emit *E, const char *p, const char *at, int64_t k, const char *val)
{
	if (E->vmask)
		use_lanes(E);
	gen_line(E->G, "{");
	E->G->ind++;
	if (k < 0)
		gen_line(E->G, "static const int weft_d[%lld] = {%s};", (long long)E->W, delta_list(E));
	gen_line(E->G, "float weft_lanes[%lld];", (long long)E->W);
	gen_line(E->G, "%s;", vtpl(E, "store", "weft_lanes", val, NULL));
	gen_line(E->G, "for (%s weft_lane = 0; weft_lane < %lld; weft_lane++)", E->G->idx, (long long)E->W);
	if (E->vmask)
		gen_line(E->G, "\tif (%s)", lane_holds(E));
	else if (k < 0 && E->vtail < E->W)
		die("an irregular store in a tail chunk without a mask");
	const char *lane = k < 0 ? "weft_d[weft_lane]" : ir_fmt("weft_lane * %lld", (long long)k);
	gen_line(E->G, "%s%s[%s + %s] = weft_lanes[weft_lane];", E->vmask ? "\t\t" : "\t", p, at, lane);
	E->G->ind--;
	gen_line(E->G, "}");
}

/* Held-back store j's offset minus i's, if a constant (the same outer variables). */
static bool tpend_dist(const Emit *E, int i, int j, int64_t *d)
{
	const struct TPend *a = &E->tpend[i], *b = &E->tpend[j];
	if (a->t != b->t || a->k != b->k || strcmp(a->p, b->p) != 0)
		return false;
	const Ix *e = kernel_fold(E, ix_add(b->off, ix_mul(a->off, -1)));
	if (e->kind != IX_CONST)
		return false;
	*d = e->c;
	return true;
}

/* The held-back store at distance d from store i, not printed yet; -1 if none. */
static int tpend_at(const Emit *E, int n, int i, int64_t d, const bool *done)
{
	int64_t e;
	for (int j = 0; j < n; j++)
		if (!done[j] && tpend_dist(E, i, j, &e) && e == d)
			return j;
	return -1;
}

/* One run of held-back stores at consecutive offsets: from the lowest not yet printed that
   store i reaches going down (i itself if none), up to rows of them; a run of one goes out
   lane by lane, a longer one as one @tstore. */
static void flush_run(Emit *E, int n, int i, int rows, bool *done)
{
	int first = i, j;
	while ((j = tpend_at(E, n, first, -1, done)) >= 0)
		first = j;
	int run[MAX_TPEND], m = 0;
	run[m++] = first;
	done[first] = true;
	while (m < rows && (j = tpend_at(E, n, first, m, done)) >= 0) {
		run[m++] = j;
		done[j] = true;
	}
	const struct TPend *a = &E->tpend[first];
	const char *at = kernel_ix_c(E, a->off);
	if (m == 1) {
		store_lanes(E, a->p, at, a->k, a->val);
		return;
	}
	const char *arr = ir_fmt("weft_tr%d", ++E->nextv), *list = "";
	for (int r = 0; r < rows; r++)
		list = ir_fmt("%s%s%s", list, r ? ", " : "", r < m ? E->tpend[run[r]].val : vtpl(E, "zero", NULL, NULL, NULL));
	gen_line(E->G, "{");
	E->G->ind++;
	gen_line(E->G, "const %s %s[%d] = {%s};", vec_type(E), arr, rows, list);
	gen_line(E->G, "%s;", vec_tpl4(E, "tstore", ir_fmt("&%s[%s]", a->p, at), ir_fmt("%lld", (long long)a->k),
	                            ir_fmt("%d", m), arr));
	E->G->ind--;
	gen_line(E->G, "}");
}

void vec_flush_tstores(Emit *E)
{
	int n = E->ntpend;
	E->ntpend = 0; /* the stores below print, not hold back (tpend[0..n) stays as it is) */
	if (n == 0)
		return;
	const char *rows_text = gen_template_find(E->G->vt, "tstore_rows");
	int rows = rows_text ? atoi(rows_text) : 1;
	if (rows < 1 || rows > MAX_TPEND)
		die("%s.tpl: bad @tstore_rows \"%s\"", E->G->vtarget, rows_text);
	bool done[MAX_TPEND] = {false};
	const char *mask = E->vmask; /* held-back stores are whole vectors, whatever the chunk now */
	E->vmask = NULL;
	for (int i = 0; i < n; i++) {
		/* runs through store i until it is printed (a run from far below may stop short of it) */
		while (!done[i])
			flush_run(E, n, i, rows, done);
	}
	E->vmask = mask;
}

const char *vec_val(Emit *E, const Val *v)
{
	if (!E->vlive || E->vvar < 0) {
		vec_fail(E, "a statement outside the vectorized loop");
		return "0";
	}
	switch (v->kind) {
	case V_CONST:
		if (v->c == 0)
			return vtpl(E, "zero", NULL, NULL, NULL);
		return broadcast(E, gen_flit(v->c));
	case V_LOAD: {
		const char *l = kernel_local(E, v->tensor);
		return l ? l : vec_load(E, v->tensor, v->idx);
	}
	case V_INDEX: {
		E->bound[E->vvar] = false;
		const Ix *free_ix = kernel_fold(E, v->ix);
		E->bound[E->vvar] = true;
		if (ix_uses(free_ix, E->vvar)) {
			vec_fail(E, "an index value depends on the vectorized loop");
			return "0";
		}
		const Ix *e = kernel_fold(E, v->ix);
		if (e->kind == IX_CONST)
			return broadcast(E, gen_flit((double)e->c));
		return broadcast(E, ir_fmt("(float)(%s)", kernel_ix_c(E, e)));
	}
	case V_UN: {
		const char *a = vec_val(E, v->a);
		if (v->fn == FN_CLIP)
			return vtpl(E, "clip", a, broadcast(E, gen_flit(v->p1)), broadcast(E, gen_flit(v->p2)));
		if (v->fn == FN_LEAKY_RELU)
			return vtpl(E, "leaky_relu", a, broadcast(E, gen_flit(v->p1)), NULL);
		return vtpl(E, kernel_fn_key(v->fn), a, NULL, NULL);
	}
	case V_BIN: {
		const char *a = vec_val(E, v->a);
		const char *b = vec_val(E, v->b);
		return vtpl(E, kernel_bin_key(v->bin), a, b, NULL);
	}
	}
	die("bad value kind %d", (int)v->kind);
}

const char *vec_combine(Emit *E, Bin accum, const char *old, const Val *v)
{
	if (accum == BIN_NONE)
		return vec_val(E, v);
	if (accum == BIN_ADD && v->kind == V_BIN && v->bin == BIN_MUL) {
		const char *a = vec_val(E, v->a);
		const char *b = vec_val(E, v->b);
		return vtpl(E, "fma", a, b, old);
	}
	const char *x = vec_val(E, v);
	return vtpl(E, kernel_bin_key(accum), old, x, NULL);
}

void vec_store_val(Emit *E, int t, const Ix *const *idx, Bin accum, const Val *v)
{
	const char *old = accum == BIN_NONE ? NULL : vec_load(E, t, idx);
	const char *x = vec_combine(E, accum, old, v);
	vec_store(E, t, idx, x);
}

/* Accumulators: an array of vector registers over the box of spatial loops inside the cache
   loop, row-major, the vectorized loop (innermost) counting chunks. Every index is a constant
   once the box's loops are unrolled, so compilers keep them in registers. */
static int64_t chunks(const Emit *E, int64_t extent) { return (extent + E->W - 1) / E->W; }

void vec_declare_acc(Emit *E)
{
	const Stage *s = E->s; /* a tail chunk is a whole register */
	int64_t regs = 1;
	for (int p = s->cache_at + 1; p < s->nloops; p++) {
		const Var *x = &E->P->vars[s->loops[p]];
		if (!x->reduction)
			regs *= s->loops[p] == E->vvar ? chunks(E, x->extent) : x->extent;
	}
	gen_line(E->G, "%s weft_vacc[%lld];", vec_type(E), (long long)regs);
}

const char *vec_acc_ref(Emit *E)
{
	const Stage *s = E->s;
	const Ix *e = ix_const(0);
	for (int p = s->cache_at + 1; p < s->nloops; p++) {
		int v = s->loops[p];
		const Var *x = &E->P->vars[v];
		if (x->reduction)
			continue;
		if (v == E->vvar)
			e = ix_addc(ix_mul(e, chunks(E, x->extent)), E->value[v] / E->W);
		else
			e = ix_add(ix_mul(e, x->extent), ix_var(v));
	}
	return ir_fmt("weft_vacc[%s]", kernel_ix_c(E, kernel_fold(E, e)));
}

/* ---- masked lanes ---- */

/* Lanes [lo, hi) of the chunk hold: a guard g.lo <= e0 + k*lane < g.hi (e0 its index at the
   chunk's first lane, k > 0 its coefficient on the vectorized loop) holds for lanes from
   ceil((g.lo - e0) / k) to below ceil((g.hi - e0) / k); lo and hi are the tightest over the
   guards and the tail. Only the bounds that can fail here are tested. In C, (t + k - 1) / k
   is that ceiling for t > 0 and at most 0 for t <= 0, which is all a bound needs. */
/* Every guard a constant at every lane of the chunk (its other variables bound: unrolled, as
   r and s of a small fused pixel loop): the lanes that hold, as bits. */
static bool lane_bits(Emit *E, const Guard *const *mg, int n, uint64_t *bits)
{
	int64_t c = E->value[E->vvar];
	bool ok = true;
	*bits = 0;
	for (int64_t l = 0; l < E->vtail && ok; l++) {
		E->value[E->vvar] = c + l;
		bool hold = true;
		for (int i = 0; i < n && ok; i++) {
			const Ix *e = kernel_fold(E, mg[i]->e);
			ok = e->kind == IX_CONST;
			hold = hold && ok && mg[i]->lo <= e->c && e->c < mg[i]->hi;
		}
		if (hold)
			*bits |= (uint64_t)1 << l;
	}
	E->value[E->vvar] = c;
	return ok;
}

/* Are the guards' expressions constants (no loop variable free)? */
static bool all_const(const Emit *E, const Ix *const *e, int n)
{
	for (int i = 0; i < n; i++) {
		int64_t lo, hi;
		ix_bounds(e[i], E->extent, &lo, &hi);
		if (lo != hi)
			return false;
	}
	return true;
}

/* The mask of a constant set of lanes; false if none holds. */
static bool const_mask(Emit *E, uint64_t bits)
{
	if (bits == 0)
		return false;
	if (bits == ((uint64_t)1 << E->W) - 1)
		return true; /* every lane */
	if (!gen_template_find(E->G->vt, "maskbits")) {
		vec_fail(E, ir_fmt("%s has no masks of constant lanes", E->G->vtarget));
		return true;
	}
	int id = ++E->nextv;
	E->vbits = ir_fmt("0x%llxu", (unsigned long long)bits);
	E->vlo = E->vhi = NULL;
	E->vmask = ir_fmt("weft_m%d", id);
	E->nvmask_decl = 0;
	E->vmask_decl[E->nvmask_decl++] = ir_fmt("const %s %s = %s;", gen_template(E->G->vt, "mtype"), E->vmask,
		vtpl(E, "maskbits", E->vbits, NULL, NULL));
	return true;
}

bool vec_open_mask(Emit *E, const Guard *const *mg, int n)
{
	const Ix *e0[IR_MAX_GUARDS];
	int64_t kk[IR_MAX_GUARDS];
	bool nlo[IR_MAX_GUARDS], nhi[IR_MAX_GUARDS];
	bool need = E->vtail < E->W;
	for (int i = 0; i < n; i++) {
		E->bound[E->vvar] = false;
		const Ix *free_e = kernel_fold(E, mg[i]->e);
		E->bound[E->vvar] = true;
		if (!ix_coeff(free_e, E->vvar, &kk[i]) || kk[i] < 1) {
			uint64_t bits;
			if (E->W <= 32 && lane_bits(E, mg, n, &bits))
				return const_mask(E, bits);
			vec_fail(E, "a guard on the vectorized loop is not affine in it, increasing");
			return true;
		}
		e0[i] = kernel_fold(E, mg[i]->e);
		int64_t lo, hi;
		ix_bounds(e0[i], E->extent, &lo, &hi);
		int64_t last = hi + kk[i] * (E->vtail - 1);
		if (last < mg[i]->lo || lo >= mg[i]->hi)
			return false; /* no lane of the chunk holds */
		nlo[i] = lo < mg[i]->lo;
		nhi[i] = last >= mg[i]->hi;
		need |= nlo[i] || nhi[i];
	}
	if (!need)
		return true;
	if (!has_masks(E)) {
		vec_fail(E, ir_fmt("%s has no masks for partial vectors", E->G->vtarget));
		return true;
	}
	/* guards that do not move with the loops left (a padding column of an unrolled tap, a
	   tail): the chunk's lanes are known here, so stride-2 loads can share vectors
	   (gen/vshift.c). The mask still prints from vlo, vhi: gcc 12 compiled the same kernels
	   with constant masks into more loads and spills (mb_dw5, AVX-512: 25-28 -> 38 us). */
	E->vlanes_known = all_const(E, e0, n) && E->W <= 32 && lane_bits(E, mg, n, &E->vlanes);
	/* printed at the mask's first use (a chunk may not need it: unused locals warn) */
	int id = ++E->nextv;
	E->vlo = ir_fmt("weft_lo%d", id);
	E->vhi = ir_fmt("weft_hi%d", id);
	E->nvmask_decl = 0;
	E->vmask_decl[E->nvmask_decl++] = ir_fmt("int %s = 0, %s = %lld;", E->vlo, E->vhi, (long long)E->vtail);
	for (int i = 0; i < n; i++) {
		const char *t = kernel_ix_c(E, e0[i]);
		const char *lo = ir_fmt("%lld - (%s)", (long long)mg[i]->lo, t);
		const char *hi = ir_fmt("%lld - (%s)", (long long)mg[i]->hi, t);
		if (kk[i] > 1) {
			lo = ir_fmt("(%s + %lld) / %lld", lo, (long long)(kk[i] - 1), (long long)kk[i]);
			hi = ir_fmt("(%s + %lld) / %lld", hi, (long long)(kk[i] - 1), (long long)kk[i]);
		}
		if (nlo[i])
			E->vmask_decl[E->nvmask_decl++] = ir_fmt("if (%s < %s) %s = (int)(%s);", E->vlo, lo, E->vlo, lo);
		if (nhi[i])
			E->vmask_decl[E->nvmask_decl++] = ir_fmt("if (%s > %s) %s = (int)(%s);", E->vhi, hi, E->vhi, hi);
	}
	const char *m = ir_fmt("weft_m%d", id);
	E->vmask_decl[E->nvmask_decl++] = ir_fmt("const %s %s = %s;", gen_template(E->G->vt, "mtype"), m,
		vtpl(E, "mask", E->vlo, E->vhi, NULL));
	E->vmask = m;
	return true;
}

const char *vec_masked_update(Emit *E, const char *acc, const char *new_val)
{
	return vtpl(E, "blend", vec_use_mask(E), acc, new_val);
}
