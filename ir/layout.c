/* ir/layout.c: physical layouts of tensors.
 *
 * A layout is a list of primitives (split, reorder, fuse, pad) applied in order to the logical
 * shape; the bytes are row-major over the resulting physical shape. A logical index is carried
 * through the same primitives to a physical index (split: i -> [i / f, i % f]; reorder: permute;
 * fuse: [a, b] -> a * nb + b; pad: i -> i + before), concretely or as index expressions, and its
 * offset is the row-major sum. Every step is a bijection between in-range indices, so distinct
 * logical indices get distinct offsets, and the offsets of a padded layout leave holes (the
 * padding) that no logical index reaches. Layouts come from users' schedules: ir_layout_shape
 * checks that each primitive applies and says why not.
 */
#include "ir.h"

#include <string.h>

/* Shape after each primitive. */
static bool apply_prim(const LayoutPrim *p, int *prank, int64_t *pd, char *err, size_t errlen)
{
	int r = *prank;
	switch (p->kind) {
	case LP_SPLIT:
		if (p->dim < 0 || p->dim >= r) {
			snprintf(err, errlen, "split(%d, %lld): dimension %d out of range (the shape %s has %d dims)",
				p->dim, (long long)p->factor, p->dim, ir_shape_str(r, pd), r);
			return false;
		}
		if (p->factor < 1) {
			snprintf(err, errlen, "split(%d, %lld): factor must be >= 1", p->dim, (long long)p->factor);
			return false;
		}
		if (r + 1 > IR_MAX_PHYS) {
			snprintf(err, errlen, "split(%d, %lld): more than %d physical dimensions", p->dim,
				(long long)p->factor, IR_MAX_PHYS);
			return false;
		}
		memmove(pd + p->dim + 2, pd + p->dim + 1, (size_t)(r - p->dim - 1) * sizeof *pd);
		pd[p->dim + 1] = p->factor;
		pd[p->dim] = (pd[p->dim] + p->factor - 1) / p->factor;
		*prank = r + 1;
		return true;
	case LP_REORDER: {
		char text[160];
		int n = 0;
		n += snprintf(text + n, sizeof text - (size_t)n, "reorder(");
		for (int i = 0; i < p->n && i < IR_MAX_PHYS && n < (int)sizeof text - 8; i++)
			n += snprintf(text + n, sizeof text - (size_t)n, "%s%d", i ? ", " : "", p->perm[i]);
		snprintf(text + n, sizeof text - (size_t)n, ")");
		if (p->n != r) {
			snprintf(err, errlen, "%s: expected a permutation of all %d dims of %s, saw %d entries",
				text, r, ir_shape_str(r, pd), p->n);
			return false;
		}
		bool seen[IR_MAX_PHYS] = {false};
		for (int i = 0; i < r; i++) {
			int q = p->perm[i];
			if (q < 0 || q >= r) {
				snprintf(err, errlen, "%s: dimension %d out of range (the shape %s has %d dims)",
					text, q, ir_shape_str(r, pd), r);
				return false;
			}
			if (seen[q]) {
				snprintf(err, errlen, "%s: not a permutation (%d appears twice)", text, q);
				return false;
			}
			seen[q] = true;
		}
		int64_t old[IR_MAX_PHYS];
		memcpy(old, pd, (size_t)r * sizeof *pd);
		for (int i = 0; i < r; i++)
			pd[i] = old[p->perm[i]];
		return true;
	}
	case LP_FUSE:
		if (p->dim < 0 || p->dim + 1 >= r) {
			snprintf(err, errlen, "fuse(%d): needs dims %d and %d, but the shape %s has %d dims",
				p->dim, p->dim, p->dim + 1, ir_shape_str(r, pd), r);
			return false;
		}
		pd[p->dim] *= pd[p->dim + 1];
		memmove(pd + p->dim + 1, pd + p->dim + 2, (size_t)(r - p->dim - 2) * sizeof *pd);
		*prank = r - 1;
		return true;
	case LP_PAD:
		if (p->dim < 0 || p->dim >= r) {
			snprintf(err, errlen, "pad(%d, %lld, %lld): dimension %d out of range (the shape %s has %d dims)",
				p->dim, (long long)p->before, (long long)p->after, p->dim, ir_shape_str(r, pd), r);
			return false;
		}
		if (p->before < 0 || p->after < 0) {
			snprintf(err, errlen, "pad(%d, %lld, %lld): padding must be >= 0", p->dim,
				(long long)p->before, (long long)p->after);
			return false;
		}
		pd[p->dim] += p->before + p->after;
		return true;
	}
	snprintf(err, errlen, "unknown layout primitive %d", (int)p->kind);
	return false;
}

bool ir_layout_shape(const Layout *L, int rank, const int64_t *dims, int *prank, int64_t *pdims,
	char *err, size_t errlen)
{
	char dummy[8];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = 0;
	if (rank < 1 || rank > IR_MAX_PHYS)
		die("ir_layout_shape: rank %d", rank);
	int64_t pd[IR_MAX_PHYS];
	int r = rank;
	memcpy(pd, dims, (size_t)rank * sizeof *pd);
	int n = L ? L->n : 0;
	if (n < 0 || n > IR_MAX_PRIMS) {
		snprintf(err, errlen, "a layout has at most %d primitives, saw %d", IR_MAX_PRIMS, n);
		return false;
	}
	for (int i = 0; i < n; i++)
		if (!apply_prim(&L->p[i], &r, pd, err, errlen))
			return false;
	if (prank)
		*prank = r;
	if (pdims)
		memcpy(pdims, pd, (size_t)r * sizeof *pd);
	return true;
}

/* The physical shape of a layout its caller has already checked. */
static int must_shape(const Layout *L, int rank, const int64_t *dims, int64_t *pdims)
{
	char err[256];
	int r;
	if (!ir_layout_shape(L, rank, dims, &r, pdims, err, sizeof err))
		die("layout %s on %s: %s", ir_layout_str(L), ir_shape_str(rank, dims), err);
	return r;
}

int64_t ir_layout_numel(const Layout *L, int rank, const int64_t *dims)
{
	int64_t pd[IR_MAX_PHYS];
	int r = must_shape(L, rank, dims, pd);
	int64_t n = 1;
	for (int i = 0; i < r; i++)
		n *= pd[i];
	return n;
}

/* ---- offsets ---- */

/* One primitive on a concrete index; cur holds the shape before it (updated after). */
static void step_at(const LayoutPrim *p, int *r, int64_t *cur, int64_t *idx)
{
	int d = p->dim, n = *r;
	switch (p->kind) {
	case LP_SPLIT: {
		int64_t i = idx[d];
		memmove(idx + d + 2, idx + d + 1, (size_t)(n - d - 1) * sizeof *idx);
		idx[d] = i / p->factor; /* logical indices are non-negative */
		idx[d + 1] = i % p->factor;
		break;
	}
	case LP_REORDER: {
		int64_t old[IR_MAX_PHYS];
		memcpy(old, idx, (size_t)n * sizeof *idx);
		for (int i = 0; i < n; i++)
			idx[i] = old[p->perm[i]];
		break;
	}
	case LP_FUSE:
		idx[d] = idx[d] * cur[d + 1] + idx[d + 1];
		memmove(idx + d + 1, idx + d + 2, (size_t)(n - d - 2) * sizeof *idx);
		break;
	case LP_PAD:
		idx[d] += p->before;
		break;
	}
	char err[8];
	apply_prim(p, r, cur, err, sizeof err);
}

int64_t ir_layout_offset_at(const Layout *L, int rank, const int64_t *dims, const int64_t *logical)
{
	int64_t cur[IR_MAX_PHYS], idx[IR_MAX_PHYS];
	int r = rank;
	memcpy(cur, dims, (size_t)rank * sizeof *cur);
	memcpy(idx, logical, (size_t)rank * sizeof *idx);
	for (int i = 0; L && i < L->n; i++)
		step_at(&L->p[i], &r, cur, idx);
	int64_t off = 0;
	for (int i = 0; i < r; i++)
		off = off * cur[i] + idx[i];
	return off;
}

static void step_ix(const LayoutPrim *p, int *r, int64_t *cur, const Ix **idx)
{
	int d = p->dim, n = *r;
	switch (p->kind) {
	case LP_SPLIT: {
		const Ix *i = idx[d];
		memmove(idx + d + 2, idx + d + 1, (size_t)(n - d - 1) * sizeof *idx);
		idx[d] = ix_div(i, p->factor);
		idx[d + 1] = ix_mod(i, p->factor);
		break;
	}
	case LP_REORDER: {
		const Ix *old[IR_MAX_PHYS];
		memcpy(old, idx, (size_t)n * sizeof *idx);
		for (int i = 0; i < n; i++)
			idx[i] = old[p->perm[i]];
		break;
	}
	case LP_FUSE:
		idx[d] = ix_add(ix_mul(idx[d], cur[d + 1]), idx[d + 1]);
		memmove(idx + d + 1, idx + d + 2, (size_t)(n - d - 2) * sizeof *idx);
		break;
	case LP_PAD:
		idx[d] = ix_addc(idx[d], p->before);
		break;
	}
	char err[8];
	apply_prim(p, r, cur, err, sizeof err);
}

const Ix *ir_layout_offset(const Layout *L, int rank, const int64_t *dims, const Ix *const *logical)
{
	int64_t cur[IR_MAX_PHYS];
	const Ix *idx[IR_MAX_PHYS];
	must_shape(L, rank, dims, cur);
	int r = rank;
	memcpy(cur, dims, (size_t)rank * sizeof *cur);
	memcpy(idx, logical, (size_t)rank * sizeof *idx);
	for (int i = 0; L && i < L->n; i++)
		step_ix(&L->p[i], &r, cur, idx);
	/* sum of idx[i] * stride[i], strides row-major over the physical shape */
	const Ix *off = ix_const(0);
	int64_t stride = 1;
	for (int i = r - 1; i >= 0; i--) {
		off = ix_add(ix_mul(idx[i], stride), off);
		stride *= cur[i];
	}
	return off;
}

/* ---- capacity ---- */

/* When logical dim d is indexed up to e - 1 (the others within their extents), does every
   physical index stay within its dimension, and every inner operand of a fuse within its own?
   Split, reorder and pad are injective on all non-negative indices and fuse is when its inner
   operand is in range, so then distinct indices keep distinct offsets inside the buffer. */
static bool fits(const Layout *L, int rank, const int64_t *dims, int d, int64_t e)
{
	int64_t cur[IR_MAX_PHYS], hi[IR_MAX_PHYS];
	int r = rank;
	memcpy(cur, dims, (size_t)rank * sizeof *cur);
	for (int i = 0; i < rank; i++)
		hi[i] = dims[i] - 1;
	hi[d] = e - 1;
	for (int k = 0; L && k < L->n; k++) {
		const LayoutPrim *p = &L->p[k];
		int q = p->dim, n = r;
		switch (p->kind) {
		case LP_SPLIT: {
			int64_t h = hi[q];
			memmove(hi + q + 2, hi + q + 1, (size_t)(n - q - 1) * sizeof *hi);
			hi[q] = h / p->factor;
			hi[q + 1] = h < p->factor - 1 ? h : p->factor - 1;
			break;
		}
		case LP_REORDER: {
			int64_t old[IR_MAX_PHYS];
			memcpy(old, hi, (size_t)n * sizeof *hi);
			for (int i = 0; i < n; i++)
				hi[i] = old[p->perm[i]];
			break;
		}
		case LP_FUSE:
			if (hi[q + 1] >= cur[q + 1]) /* a * nb + b aliases (a + 1) * nb + b - nb */
				return false;
			hi[q] = hi[q] * cur[q + 1] + hi[q + 1];
			memmove(hi + q + 1, hi + q + 2, (size_t)(n - q - 2) * sizeof *hi);
			break;
		case LP_PAD:
			hi[q] += p->before;
			break;
		}
		char err[8];
		apply_prim(p, &r, cur, err, sizeof err);
	}
	for (int i = 0; i < r; i++)
		if (hi[i] >= cur[i])
			return false;
	return true;
}

int64_t ir_layout_capacity(const Layout *L, int rank, const int64_t *dims, int d)
{
	if (d < 0 || d >= rank)
		die("ir_layout_capacity: dim %d of rank %d", d, rank);
	int64_t lo = dims[d], hi = ir_layout_numel(L, rank, dims); /* lo fits; hi + 1 cannot */
	if (!fits(L, rank, dims, d, lo))
		die("ir_layout_capacity: the logical extent does not fit");
	while (lo < hi) {
		int64_t mid = lo + (hi - lo + 1) / 2;
		if (fits(L, rank, dims, d, mid))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* ---- comparison and text ---- */

static bool prim_equal(const LayoutPrim *a, const LayoutPrim *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case LP_SPLIT:
		return a->dim == b->dim && a->factor == b->factor;
	case LP_REORDER:
		return a->n == b->n && memcmp(a->perm, b->perm, (size_t)a->n * sizeof a->perm[0]) == 0;
	case LP_FUSE:
		return a->dim == b->dim;
	case LP_PAD:
		return a->dim == b->dim && a->before == b->before && a->after == b->after;
	}
	return false;
}

bool ir_layout_equal(const Layout *a, const Layout *b)
{
	int na = a ? a->n : 0, nb = b ? b->n : 0;
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (!prim_equal(&a->p[i], &b->p[i]))
			return false;
	return true;
}

char *ir_layout_str(const Layout *L)
{
	char buf[1024];
	size_t n = 0;
	buf[0] = 0;
	for (int i = 0; L && i < L->n && n < sizeof buf - 64; i++) {
		const LayoutPrim *p = &L->p[i];
		const char *sep = i ? " " : "";
		switch (p->kind) {
		case LP_SPLIT:
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%ssplit(%d, %lld)", sep, p->dim,
				(long long)p->factor);
			break;
		case LP_REORDER:
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%sreorder(", sep);
			for (int j = 0; j < p->n && j < IR_MAX_PHYS; j++)
				n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%d", j ? ", " : "", p->perm[j]);
			n += (size_t)snprintf(buf + n, sizeof buf - n, ")");
			break;
		case LP_FUSE:
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%sfuse(%d)", sep, p->dim);
			break;
		case LP_PAD:
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%spad(%d, %lld, %lld)", sep, p->dim,
				(long long)p->before, (long long)p->after);
			break;
		}
	}
	return ir_strdup(buf);
}
