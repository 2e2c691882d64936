/* ir/ix.c: index expressions: integer trees of constants, loop variables, sums, products by
 * constants, and floor division, floor modulo, min and max by positive constants.
 *
 * Builders keep every tree in a canonical linear form: a sum is a left-leaning chain of terms
 * coef*atom (atoms: variables and div/mod/min/max nodes) ordered by the smallest variable id in
 * the atom, then structurally, with like terms merged and the constant last; products by a
 * constant distribute over sums. They also apply the identities that hold for every integer
 * (floor((q*c + r) / c) = q + floor(r / c), (q*c + r) mod c = r mod c, gcd reduction, nested
 * division), so a builder never changes a value anywhere. ix_simplify adds what holds only
 * inside the loop ranges (a remainder in [0, c) vanishes from a quotient), which is how the
 * division and modulo of a split layout disappear in loops split the same way.
 *
 * Semantics are mathematical: IX_DIV is floor division and IX_MOD is in [0, c), and ix_eval
 * computes exactly that. ix_str prints C's truncating `/` and `%`, which agree with them only for
 * non-negative operands: the emitter asks for C text only of expressions whose division and
 * modulo operands are non-negative wherever they are evaluated (a padded access that could go
 * negative sits under a guard, and offsets are simplified first). min/max print as conditional
 * expressions, so the text needs no helper.
 *
 * ix_bounds and ix_simplify read extent[v] for every variable v of the expression (indexed by
 * var id, like Prog.vars): v ranges over [0, extent[v]). The C text (ix_str) is in ir/ixtext.c.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

/* ---- integer helpers ---- */

static int64_t floordiv(int64_t a, int64_t c)
{
	int64_t q = a / c;
	if ((a % c != 0) && ((a < 0) != (c < 0)))
		q--;
	return q;
}

static int64_t floormod(int64_t a, int64_t c)
{
	return a - floordiv(a, c) * c;
}

static int64_t gcd64(int64_t a, int64_t b)
{
	if (a < 0)
		a = -a;
	if (b < 0)
		b = -b;
	while (b) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Saturating arithmetic for bounds: an overflowing bound becomes the widest one. */
static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t sat_mul(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
	return r;
}

/* ---- raw nodes ---- */

static const Ix *mk(IxKind kind, const Ix *a, int64_t c)
{
	Ix *e = ir_alloc(sizeof *e);
	e->kind = kind;
	e->a = a;
	e->c = c;
	e->var = -1;
	return e;
}

const Ix *ix_const(int64_t c)
{
	return mk(IX_CONST, NULL, c);
}

const Ix *ix_var(int var)
{
	if (var < 0)
		die("ix_var: variable %d", var);
	Ix *e = ir_alloc(sizeof *e);
	e->kind = IX_VAR;
	e->var = var;
	return e;
}

static bool is_const(const Ix *e, int64_t c)
{
	return e->kind == IX_CONST && e->c == c;
}

/* Smallest variable id in e (INT_MAX-like when none). */
static int min_var(const Ix *e)
{
	if (!e)
		return 1 << 30;
	if (e->kind == IX_VAR)
		return e->var;
	int a = min_var(e->a), b = min_var(e->b);
	return a < b ? a : b;
}

/* A total structural order. */
static int ix_cmp(const Ix *a, const Ix *b)
{
	if (a == b)
		return 0;
	if (!a || !b)
		return a ? 1 : -1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == IX_VAR && a->var != b->var)
		return a->var < b->var ? -1 : 1;
	if (a->c != b->c)
		return a->c < b->c ? -1 : 1;
	int r = ix_cmp(a->a, b->a);
	return r ? r : ix_cmp(a->b, b->b);
}

/* How terms of a sum are ordered: by the first variable they use, then structurally. */
static int atom_cmp(const Ix *a, const Ix *b)
{
	int va = min_var(a), vb = min_var(b);
	if (va != vb)
		return va < vb ? -1 : 1;
	return ix_cmp(a, b);
}

/* ---- linear forms: c + sum coef[i] * atom[i] ---- */

typedef struct Term {
	int64_t coef;
	const Ix *atom;
} Term;

typedef struct Lin {
	int n, cap;
	Term *t;
	int64_t c;
} Lin;

static void lin_free(Lin *L)
{
	free(L->t);
	memset(L, 0, sizeof *L);
}

static void lin_term(Lin *L, int64_t coef, const Ix *atom)
{
	if (coef == 0)
		return;
	for (int i = 0; i < L->n; i++) {
		if (ix_equal(L->t[i].atom, atom)) {
			L->t[i].coef += coef;
			return;
		}
	}
	if (L->n == L->cap) {
		L->cap = L->cap ? 2 * L->cap : 8;
		L->t = ir_xrealloc(L->t, (size_t)L->cap * sizeof *L->t);
	}
	L->t[L->n++] = (Term){coef, atom};
}

/* Add mul * e to L. */
static void lin_add(Lin *L, const Ix *e, int64_t mul)
{
	switch (e->kind) {
	case IX_CONST:
		L->c += mul * e->c;
		break;
	case IX_ADD:
		lin_add(L, e->a, mul);
		lin_add(L, e->b, mul);
		break;
	case IX_MUL:
		lin_add(L, e->a, mul * e->c);
		break;
	default:
		lin_term(L, mul, e);
		break;
	}
}

static int term_cmp(const void *x, const void *y)
{
	return atom_cmp(((const Term *)x)->atom, ((const Term *)y)->atom);
}

static const Ix *scaled(const Ix *atom, int64_t coef)
{
	return coef == 1 ? atom : mk(IX_MUL, atom, coef);
}

/* The canonical tree of L: sorted terms, left-leaning, constant last. */
static const Ix *lin_build(Lin *L)
{
	int n = 0;
	for (int i = 0; i < L->n; i++)
		if (L->t[i].coef != 0)
			L->t[n++] = L->t[i];
	L->n = n;
	if (n > 1)
		qsort(L->t, (size_t)n, sizeof *L->t, term_cmp);
	if (n == 0)
		return ix_const(L->c);
	const Ix *e = scaled(L->t[0].atom, L->t[0].coef);
	for (int i = 1; i < n; i++) {
		Ix *s = (Ix *)mk(IX_ADD, e, 0);
		s->b = scaled(L->t[i].atom, L->t[i].coef);
		e = s;
	}
	if (L->c != 0) {
		Ix *s = (Ix *)mk(IX_ADD, e, 0);
		s->b = ix_const(L->c);
		e = s;
	}
	return e;
}

/* ---- builders ---- */

const Ix *ix_add(const Ix *a, const Ix *b)
{
	if (a->kind == IX_CONST && b->kind == IX_CONST)
		return ix_const(a->c + b->c);
	if (is_const(b, 0))
		return a;
	if (is_const(a, 0))
		return b;
	Lin L = {0};
	lin_add(&L, a, 1);
	lin_add(&L, b, 1);
	const Ix *e = lin_build(&L);
	lin_free(&L);
	return e;
}

const Ix *ix_addc(const Ix *a, int64_t c)
{
	return c == 0 ? a : ix_add(a, ix_const(c));
}

const Ix *ix_mul(const Ix *a, int64_t c)
{
	if (c == 0)
		return ix_const(0);
	if (c == 1)
		return a;
	if (a->kind == IX_CONST)
		return ix_const(a->c * c);
	Lin L = {0};
	lin_add(&L, a, c);
	const Ix *e = lin_build(&L);
	lin_free(&L);
	return e;
}

/* Split L into q*c + r: terms whose coefficient is a multiple of c (and the constant's floor
   quotient) go to Q divided by c; the rest, with a constant in [0, c), stays in R. */
static void lin_divide(const Lin *L, int64_t c, Lin *Q, Lin *R)
{
	for (int i = 0; i < L->n; i++) {
		if (L->t[i].coef % c == 0)
			lin_term(Q, L->t[i].coef / c, L->t[i].atom);
		else
			lin_term(R, L->t[i].coef, L->t[i].atom);
	}
	Q->c += floordiv(L->c, c);
	R->c += floormod(L->c, c);
}

static int64_t lin_gcd(const Lin *L, int64_t g)
{
	for (int i = 0; i < L->n; i++)
		g = gcd64(g, L->t[i].coef);
	return gcd64(g, L->c);
}

static void lin_scale_down(Lin *L, int64_t g)
{
	for (int i = 0; i < L->n; i++)
		L->t[i].coef /= g;
	L->c /= g;
}

/* floor(e / c) or e mod c using only identities valid for every integer value of e. */
static const Ix *divmod(IxKind kind, const Ix *a, int64_t c)
{
	Lin L = {0}, Q = {0}, R = {0};
	lin_add(&L, a, 1);
	lin_divide(&L, c, &Q, &R);
	const Ix *e;
	int64_t g = lin_gcd(&R, c);
	lin_scale_down(&R, g); /* floor(g*x / (g*c')) = floor(x / c'); g*x mod g*c' = g*(x mod c') */
	int64_t cg = c / g;
	if (R.n == 0) { /* R is a constant in [0, c) */
		e = kind == IX_DIV ? lin_build(&Q) : ix_const(R.c * g);
	} else if (cg == 1) {
		e = kind == IX_DIV ? ix_add(lin_build(&Q), lin_build(&R)) : ix_const(0);
	} else {
		const Ix *r = lin_build(&R);
		if (kind == IX_DIV)
			e = ix_add(lin_build(&Q), mk(IX_DIV, r, cg));
		else
			e = ix_mul(mk(IX_MOD, r, cg), g);
	}
	lin_free(&L);
	lin_free(&Q);
	lin_free(&R);
	return e;
}

const Ix *ix_div(const Ix *a, int64_t c)
{
	if (c <= 0)
		die("ix_div: divisor %lld", (long long)c);
	if (c == 1)
		return a;
	if (a->kind == IX_CONST)
		return ix_const(floordiv(a->c, c));
	if (a->kind == IX_DIV) /* floor(floor(x/a)/c) = floor(x/(a*c)) for every integer x */
		return ix_div(a->a, a->c * c);
	return divmod(IX_DIV, a, c);
}

const Ix *ix_mod(const Ix *a, int64_t c)
{
	if (c <= 0)
		die("ix_mod: divisor %lld", (long long)c);
	if (c == 1)
		return ix_const(0);
	if (a->kind == IX_CONST)
		return ix_const(floormod(a->c, c));
	if (a->kind == IX_MOD && a->c % c == 0) /* (x mod k*c) mod c = x mod c */
		return ix_mod(a->a, c);
	return divmod(IX_MOD, a, c);
}

const Ix *ix_min(const Ix *a, int64_t c)
{
	if (a->kind == IX_CONST)
		return ix_const(a->c < c ? a->c : c);
	if (a->kind == IX_MIN)
		return ix_min(a->a, a->c < c ? a->c : c);
	return mk(IX_MIN, a, c);
}

const Ix *ix_max(const Ix *a, int64_t c)
{
	if (a->kind == IX_CONST)
		return ix_const(a->c > c ? a->c : c);
	if (a->kind == IX_MAX)
		return ix_max(a->a, a->c > c ? a->c : c);
	return mk(IX_MAX, a, c);
}

/* Rebuild node e's kind over new operands (through the builders). */
static const Ix *rebuild(const Ix *e, const Ix *a, const Ix *b)
{
	switch (e->kind) {
	case IX_ADD: return ix_add(a, b);
	case IX_MUL: return ix_mul(a, e->c);
	case IX_DIV: return ix_div(a, e->c);
	case IX_MOD: return ix_mod(a, e->c);
	case IX_MIN: return ix_min(a, e->c);
	case IX_MAX: return ix_max(a, e->c);
	default: return e;
	}
}

const Ix *ix_subst(const Ix *e, int var, const Ix *with)
{
	switch (e->kind) {
	case IX_CONST:
		return e;
	case IX_VAR:
		return e->var == var ? with : e;
	default:
		if (!ix_uses(e, var))
			return e;
		return rebuild(e, ix_subst(e->a, var, with), e->b ? ix_subst(e->b, var, with) : NULL);
	}
}

/* ---- evaluation and bounds ---- */

int64_t ix_eval(const Ix *e, const int64_t *vals)
{
	switch (e->kind) {
	case IX_CONST: return e->c;
	case IX_VAR: return vals[e->var];
	case IX_ADD: return ix_eval(e->a, vals) + ix_eval(e->b, vals);
	case IX_MUL: return ix_eval(e->a, vals) * e->c;
	case IX_DIV: return floordiv(ix_eval(e->a, vals), e->c);
	case IX_MOD: return floormod(ix_eval(e->a, vals), e->c);
	case IX_MIN: {
		int64_t v = ix_eval(e->a, vals);
		return v < e->c ? v : e->c;
	}
	case IX_MAX: {
		int64_t v = ix_eval(e->a, vals);
		return v > e->c ? v : e->c;
	}
	}
	die("ix_eval: kind %d", (int)e->kind);
}

void ix_bounds(const Ix *e, const int64_t *extent, int64_t *lo, int64_t *hi)
{
	int64_t al, ah, bl, bh;
	switch (e->kind) {
	case IX_CONST:
		*lo = *hi = e->c;
		return;
	case IX_VAR:
		*lo = 0;
		*hi = extent[e->var] > 0 ? extent[e->var] - 1 : 0;
		return;
	case IX_ADD:
		ix_bounds(e->a, extent, &al, &ah);
		ix_bounds(e->b, extent, &bl, &bh);
		*lo = sat_add(al, bl);
		*hi = sat_add(ah, bh);
		return;
	case IX_MUL:
		ix_bounds(e->a, extent, &al, &ah);
		if (e->c >= 0) {
			*lo = sat_mul(al, e->c);
			*hi = sat_mul(ah, e->c);
		} else {
			*lo = sat_mul(ah, e->c);
			*hi = sat_mul(al, e->c);
		}
		return;
	case IX_DIV:
		ix_bounds(e->a, extent, &al, &ah);
		*lo = floordiv(al, e->c);
		*hi = floordiv(ah, e->c);
		return;
	case IX_MOD:
		ix_bounds(e->a, extent, &al, &ah);
		if (floordiv(al, e->c) == floordiv(ah, e->c)) {
			*lo = floormod(al, e->c);
			*hi = floormod(ah, e->c);
		} else {
			*lo = 0;
			*hi = e->c - 1;
		}
		return;
	case IX_MIN:
		ix_bounds(e->a, extent, &al, &ah);
		*lo = al < e->c ? al : e->c;
		*hi = ah < e->c ? ah : e->c;
		return;
	case IX_MAX:
		ix_bounds(e->a, extent, &al, &ah);
		*lo = al > e->c ? al : e->c;
		*hi = ah > e->c ? ah : e->c;
		return;
	}
	die("ix_bounds: kind %d", (int)e->kind);
}

/* ---- simplification within the loop ranges ---- */

/* Bounds of the linear form's terms from index `from` on, plus its constant. */
static void lin_bounds(const Lin *L, int from, const int64_t *extent, int64_t *lo, int64_t *hi)
{
	*lo = *hi = L->c;
	for (int i = from; i < L->n; i++) {
		int64_t al, ah;
		ix_bounds(scaled(L->t[i].atom, L->t[i].coef), extent, &al, &ah);
		*lo = sat_add(*lo, al);
		*hi = sat_add(*hi, ah);
	}
}

static int term_mag_cmp(const void *x, const void *y)
{
	int64_t a = llabs(((const Term *)x)->coef), b = llabs(((const Term *)y)->coef);
	if (a != b)
		return a > b ? -1 : 1;
	return term_cmp(x, y);
}

/* floor(x / c) or x mod c for x already simplified, using the ranges of the variables. */
static const Ix *simp_divmod_lin(IxKind kind, Lin *L, int64_t c, const int64_t *extent)
{
	Lin Q = {0}, R = {0};
	lin_divide(L, c, &Q, &R);
	const Ix *q = lin_build(&Q), *e = NULL;
	int64_t lo, hi;
	lin_bounds(&R, 0, extent, &lo, &hi);
	if (floordiv(lo, c) == floordiv(hi, c)) {
		/* The remainder part stays within one period: its quotient is a constant. */
		int64_t k = floordiv(lo, c);
		e = kind == IX_DIV ? ix_addc(q, k) : ix_addc(lin_build(&R), -k * c);
		goto done;
	}
	/* x = B + S with every coefficient of B a multiple of g | c and S in [0, g): then
	   floor(x / c) = floor((B/g) / (c/g)) and x mod c = g * ((B/g) mod (c/g)) + S. */
	qsort(R.t, (size_t)R.n, sizeof *R.t, term_mag_cmp);
	int64_t g = c;
	for (int p = 1; p <= R.n; p++) {
		g = gcd64(g, R.t[p - 1].coef);
		if (g <= 1)
			break;
		int64_t slo, shi;
		lin_bounds(&R, p, extent, &slo, &shi);
		if (slo < 0 || shi >= g)
			continue;
		Lin B = {0};
		for (int i = 0; i < p; i++)
			lin_term(&B, R.t[i].coef / g, R.t[i].atom);
		const Ix *inner = simp_divmod_lin(kind, &B, c / g, extent);
		lin_free(&B);
		if (kind == IX_DIV) {
			e = ix_add(q, inner);
		} else {
			Lin S = {0};
			S.c = R.c;
			for (int i = p; i < R.n; i++)
				lin_term(&S, R.t[i].coef, R.t[i].atom);
			e = ix_add(ix_mul(inner, g), lin_build(&S));
			lin_free(&S);
		}
		goto done;
	}
	e = kind == IX_DIV ? ix_add(q, ix_div(lin_build(&R), c)) : ix_mod(lin_build(&R), c);
done:
	lin_free(&Q);
	lin_free(&R);
	return e;
}

static const Ix *simp_divmod(IxKind kind, const Ix *x, int64_t c, const int64_t *extent)
{
	if (c == 1)
		return kind == IX_DIV ? x : ix_const(0);
	if (kind == IX_DIV && x->kind == IX_DIV)
		return simp_divmod(kind, x->a, x->c * c, extent);
	Lin L = {0};
	lin_add(&L, x, 1);
	const Ix *e = simp_divmod_lin(kind, &L, c, extent);
	lin_free(&L);
	return e;
}

/* a*m*floor(X/m) + a*(X mod m) = a*X: put back together what a split and a fuse took apart. */
static bool recombine(Lin *L)
{
	for (int i = 0; i < L->n; i++) {
		const Ix *md = L->t[i].atom;
		if (md->kind != IX_MOD || L->t[i].coef == 0)
			continue;
		for (int j = 0; j < L->n; j++) {
			const Ix *dv = L->t[j].atom;
			if (dv->kind != IX_DIV || dv->c != md->c || !ix_equal(dv->a, md->a))
				continue;
			int64_t a = L->t[i].coef;
			if (L->t[j].coef != a * md->c)
				continue;
			L->t[i].coef = 0;
			L->t[j].coef = 0;
			lin_add(L, md->a, a);
			return true;
		}
	}
	return false;
}

const Ix *ix_simplify(const Ix *e, const int64_t *extent)
{
	switch (e->kind) {
	case IX_CONST:
	case IX_VAR:
		return e;
	case IX_ADD:
	case IX_MUL: {
		Lin raw = {0}, L = {0};
		lin_add(&raw, e, 1);
		L.c = raw.c;
		for (int i = 0; i < raw.n; i++)
			lin_add(&L, ix_simplify(raw.t[i].atom, extent), raw.t[i].coef);
		while (recombine(&L))
			;
		const Ix *r = lin_build(&L);
		lin_free(&raw);
		lin_free(&L);
		return r;
	}
	case IX_DIV:
	case IX_MOD:
		return simp_divmod(e->kind, ix_simplify(e->a, extent), e->c, extent);
	case IX_MIN:
	case IX_MAX: {
		const Ix *a = ix_simplify(e->a, extent);
		int64_t lo, hi;
		ix_bounds(a, extent, &lo, &hi);
		if (e->kind == IX_MIN)
			return hi <= e->c ? a : lo >= e->c ? ix_const(e->c) : ix_min(a, e->c);
		return lo >= e->c ? a : hi <= e->c ? ix_const(e->c) : ix_max(a, e->c);
	}
	}
	die("ix_simplify: kind %d", (int)e->kind);
}

/* ---- queries ---- */

bool ix_uses(const Ix *e, int var)
{
	if (!e)
		return false;
	if (e->kind == IX_VAR)
		return e->var == var;
	return ix_uses(e->a, var) || ix_uses(e->b, var);
}

bool ix_has_divmod(const Ix *e)
{
	if (!e)
		return false;
	if (e->kind == IX_DIV || e->kind == IX_MOD)
		return true;
	return ix_has_divmod(e->a) || ix_has_divmod(e->b);
}

bool ix_coeff(const Ix *e, int var, int64_t *k)
{
	int64_t ka, kb;
	switch (e->kind) {
	case IX_CONST:
		*k = 0;
		return true;
	case IX_VAR:
		*k = e->var == var;
		return true;
	case IX_ADD:
		if (!ix_coeff(e->a, var, &ka) || !ix_coeff(e->b, var, &kb))
			return false;
		*k = ka + kb;
		return true;
	case IX_MUL:
		if (!ix_coeff(e->a, var, &ka))
			return false;
		*k = ka * e->c;
		return true;
	default:
		*k = 0;
		return !ix_uses(e, var);
	}
}

bool ix_equal(const Ix *a, const Ix *b)
{
	return ix_cmp(a, b) == 0;
}
