/* tests/unit/ix_test.c: index expressions (ir/ix.c).
 *
 * Folding and normal forms of the builders, floor semantics of ix_eval, the simplifications that
 * make split layouts cheap in split loops, and randomized properties over thousands of random
 * expressions in three variables with small extents: the builders compute what the expression
 * means (checked against an independent evaluator of the random tree), ix_simplify never changes a
 * value anywhere in the box, ix_bounds contains every value, ix_subst is substitution, and the C
 * text of ix_str, read back by a small C expression evaluator, computes the same value wherever
 * every division and modulo operand is non-negative (the condition under which the emitter prints);
 * simplifying twice changes nothing, so emitted text is stable.
 * Prints `ok NAME` or `FAIL NAME: ...`; exits non-zero on any failure.
 * Built by tests/run.sh: cc -std=c11 -I. tests/unit/ix_test.c <weft objects but main.o> -lm
 */
#include "ir/ir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char *names[] = {"weft_k", "weft_k_o", "weft_k_i", "weft_n", "weft_c", "weft_h"};

static const char *name_of(int v, void *ctx)
{
	(void)ctx;
	return v < 6 ? names[v] : "weft_other";
}

static const char *str(const Ix *e)
{
	return ix_str(e, name_of, NULL);
}

static void check_str(const Ix *e, const char *want)
{
	const char *got = str(e);
	CHECK(strcmp(got, want) == 0, "expected `%s`, got `%s`", want, got);
}

/* ---- fixed cases ---- */

static void test_folding(void)
{
	begin("folding");
	const Ix *x = ix_var(0), *y = ix_var(3);
	const Ix *e = ix_add(ix_const(2), ix_const(3));
	CHECK(e->kind == IX_CONST && e->c == 5, "2 + 3 is not the constant 5");
	CHECK(ix_add(x, ix_const(0)) == x, "x + 0 is not x");
	CHECK(ix_add(ix_const(0), x) == x, "0 + x is not x");
	CHECK(ix_addc(x, 0) == x, "addc(x, 0) is not x");
	CHECK(ix_mul(x, 1) == x, "x * 1 is not x");
	e = ix_mul(x, 0);
	CHECK(e->kind == IX_CONST && e->c == 0, "x * 0 is not 0");
	e = ix_mul(ix_const(6), 7);
	CHECK(e->kind == IX_CONST && e->c == 42, "6 * 7 is not 42");
	check_str(ix_addc(ix_addc(x, 3), 4), "weft_k + 7");
	check_str(ix_mul(ix_mul(x, 2), 3), "weft_k * 6");
	check_str(ix_add(ix_const(3), x), "weft_k + 3");
	check_str(ix_add(ix_addc(y, 1), ix_addc(x, 2)), "weft_k + weft_n + 3");
	check_str(ix_add(ix_mul(y, 5), ix_mul(ix_addc(x, 1), 2)), "weft_k * 2 + weft_n * 5 + 2");
	check_str(ix_add(x, ix_mul(x, -1)), "0");
	check_str(ix_add(ix_mul(y, -2), ix_addc(x, -3)), "weft_k - weft_n * 2 - 3");
	check_str(ix_add(ix_mul(x, -1), y), "-weft_k + weft_n");
	check_str(ix_addc(ix_mul(ix_var(1), 16), 0), "weft_k_o * 16");
	check_str(ix_add(ix_mul(ix_var(1), 16), ix_var(2)), "weft_k_o * 16 + weft_k_i");
	/* division and modulo fold and keep only what does not divide */
	e = ix_div(ix_const(-7), 2);
	CHECK(e->kind == IX_CONST && e->c == -4, "floor(-7 / 2) folded to %s", str(e));
	e = ix_mod(ix_const(-7), 2);
	CHECK(e->kind == IX_CONST && e->c == 1, "-7 mod 2 folded to %s", str(e));
	CHECK(ix_div(x, 1) == x, "x / 1 is not x");
	e = ix_mod(x, 1);
	CHECK(e->kind == IX_CONST && e->c == 0, "x mod 1 is not 0");
	check_str(ix_div(ix_div(x, 4), 4), "weft_k / 16");
	check_str(ix_div(ix_add(ix_mul(y, 32), ix_addc(x, 35)), 16), "(weft_k + 3) / 16 + weft_n * 2 + 2");
	check_str(ix_mod(ix_add(ix_mul(y, 32), ix_addc(x, 35)), 16), "(weft_k + 3) % 16");
	check_str(ix_div(ix_mul(x, 4), 8), "weft_k / 2");
	check_str(ix_mod(ix_mul(x, 4), 8), "weft_k % 2 * 4");
	check_str(ix_mod(ix_mod(x, 32), 8), "weft_k % 8");
	check_str(ix_min(ix_min(x, 5), 3), "(weft_k < 3 ? weft_k : 3)");
	check_str(ix_max(ix_addc(x, -2), 0), "(weft_k - 2 > 0 ? weft_k - 2 : 0)");
	check_str(ix_mul(ix_div(ix_addc(x, 1), 3), 2), "(weft_k + 1) / 3 * 2");
	e = ix_min(ix_const(9), 4);
	CHECK(e->kind == IX_CONST && e->c == 4, "min(9, 4) is not 4");
	end();
}

static void test_floor(void)
{
	begin("floor_semantics");
	const Ix *d = ix_div(ix_var(0), 4), *m = ix_mod(ix_var(0), 4);
	for (int64_t v = -9; v <= 9; v++) {
		int64_t vals[1] = {v};
		int64_t q = ix_eval(d, vals), r = ix_eval(m, vals);
		CHECK(r >= 0 && r < 4 && q * 4 + r == v, "%lld: div %lld mod %lld", (long long)v,
			(long long)q, (long long)r);
	}
	int64_t vals[1] = {-5};
	CHECK(ix_eval(d, vals) == -2 && ix_eval(m, vals) == 3, "-5 div/mod 4");
	/* bounds of division and modulo */
	int64_t ext[1] = {10}, lo, hi;
	ix_bounds(ix_mod(ix_addc(ix_var(0), -3), 4), ext, &lo, &hi);
	CHECK(lo == 0 && hi == 3, "mod over several periods: [%lld, %lld]", (long long)lo, (long long)hi);
	ix_bounds(ix_mod(ix_addc(ix_var(0), 20), 32), ext, &lo, &hi);
	CHECK(lo == 20 && hi == 29, "mod within one period: [%lld, %lld]", (long long)lo, (long long)hi);
	ix_bounds(ix_div(ix_addc(ix_var(0), -3), 4), ext, &lo, &hi);
	CHECK(lo == -1 && hi == 1, "div: [%lld, %lld]", (long long)lo, (long long)hi);
	ix_bounds(ix_add(ix_mul(ix_var(0), -2), ix_const(5)), ext, &lo, &hi);
	CHECK(lo == -13 && hi == 5, "negative coefficient: [%lld, %lld]", (long long)lo, (long long)hi);
	end();
}

/* The key use: a loop k split by 16 into k_o, k_i meets a layout split(.., 16). */
static void test_split_aligned(void)
{
	begin("simplify_split_aligned");
	enum { K = 0, KO = 1, KI = 2, N = 3 };
	int64_t ext[6] = {40, 3, 16, 2, 1, 1};
	const Ix *k = ix_add(ix_mul(ix_var(KO), 16), ix_var(KI));
	const Ix *d = ix_simplify(ix_div(k, 16), ext), *m = ix_simplify(ix_mod(k, 16), ext);
	CHECK(ix_equal(d, ix_var(KO)), "(k_o*16 + k_i) / 16 simplified to %s", str(d));
	CHECK(ix_equal(m, ix_var(KI)), "(k_o*16 + k_i) %% 16 simplified to %s", str(m));
	/* an NCHW16c-like offset after substituting the split loop */
	const Ix *off = ix_add(ix_mul(ix_var(N), 720),
		ix_add(ix_mul(ix_div(ix_var(K), 16), 240), ix_mod(ix_var(K), 16)));
	off = ix_simplify(ix_subst(off, K, k), ext);
	check_str(off, "weft_k_o * 240 + weft_k_i + weft_n * 720");
	CHECK(!ix_has_divmod(off), "divmod left in %s", str(off));
	/* loop split by 32, layout by 16: k_o*2 + k_i/16 and k_i%16 */
	int64_t ext32[6] = {64, 2, 32, 2, 1, 1};
	check_str(ix_simplify(ix_div(k, 16), ext32), "weft_k_o + weft_k_i / 16");
	k = ix_add(ix_mul(ix_var(KO), 32), ix_var(KI));
	check_str(ix_simplify(ix_div(k, 16), ext32), "weft_k_o * 2 + weft_k_i / 16");
	check_str(ix_simplify(ix_mod(k, 16), ext32), "weft_k_i % 16");
	/* a split in two steps: (4*y + z) / 16 = y / 4 when 0 <= z < 4 */
	int64_t ext4[6] = {1, 8, 4, 1, 1, 1};
	const Ix *yz = ix_add(ix_mul(ix_var(KO), 4), ix_var(KI));
	check_str(ix_simplify(ix_div(yz, 16), ext4), "weft_k_o / 4");
	check_str(ix_simplify(ix_mod(yz, 16), ext4), "weft_k_o % 4 * 4 + weft_k_i");
	/* within one period */
	check_str(ix_simplify(ix_div(ix_addc(ix_var(KI), 16), 16), ext), "1");
	check_str(ix_simplify(ix_mod(ix_addc(ix_var(KI), 16), 16), ext), "weft_k_i");
	check_str(ix_simplify(ix_div(ix_var(KI), 16), ext), "0");
	check_str(ix_simplify(ix_div(ix_div(ix_var(K), 2), 8), ext), "weft_k / 16");
	/* min and max against the ranges */
	check_str(ix_simplify(ix_min(ix_var(KI), 16), ext), "weft_k_i");
	check_str(ix_simplify(ix_min(ix_var(KI), 15), ext), "weft_k_i");
	check_str(ix_simplify(ix_min(ix_var(KI), 0), ext), "0");
	check_str(ix_simplify(ix_min(ix_var(KI), 7), ext), "(weft_k_i < 7 ? weft_k_i : 7)");
	check_str(ix_simplify(ix_max(ix_var(KI), 0), ext), "weft_k_i");
	check_str(ix_simplify(ix_max(ix_addc(ix_var(KI), -20), 0), ext), "0");
	/* a split then fused back: floor(k/16)*16 + k%16 = k */
	check_str(ix_simplify(ix_add(ix_mul(ix_div(ix_var(K), 16), 16), ix_mod(ix_var(K), 16)), ext),
		"weft_k");
	end();
}

static void test_queries(void)
{
	begin("queries");
	const Ix *x = ix_var(0), *y = ix_var(3);
	int64_t k = -1;
	const Ix *e = ix_add(ix_mul(x, 3), ix_div(y, 2));
	CHECK(ix_coeff(e, 0, &k) && k == 3, "coefficient of x in 3x + y/2: %lld", (long long)k);
	CHECK(!ix_coeff(e, 3, &k), "y/2 is not affine in y");
	CHECK(ix_coeff(e, 5, &k) && k == 0, "coefficient of an unused var");
	CHECK(ix_uses(e, 0) && ix_uses(e, 3) && !ix_uses(e, 1), "ix_uses");
	CHECK(ix_has_divmod(e) && !ix_has_divmod(ix_mul(x, 3)), "ix_has_divmod");
	CHECK(ix_equal(ix_add(x, y), ix_add(y, x)), "x + y and y + x differ");
	CHECK(!ix_equal(ix_add(x, y), ix_add(x, x)), "x + y equals x + x");
	e = ix_subst(ix_add(ix_mul(x, 2), ix_mod(x, 4)), 0, ix_addc(y, 1));
	check_str(e, "weft_n * 2 + (weft_n + 1) % 4 + 2");
	CHECK(ix_subst(e, 0, y) == e, "substituting an unused variable rebuilt the tree");
	end();
}

/* ---- randomized ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int64_t pick(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1));
}

/* A random tree of our own, evaluated independently of ix.c. */
typedef struct Node {
	IxKind kind;
	int64_t c;
	int var;
	struct Node *a, *b;
} Node;

static Node pool[1 << 16];
static int npool;

static Node *node(IxKind kind, Node *a, Node *b, int64_t c, int var)
{
	if (npool == (int)(sizeof pool / sizeof pool[0]))
		npool = 0;
	Node *n = &pool[npool++];
	*n = (Node){kind, c, var, a, b};
	return n;
}

static const int64_t divisors[] = {1, 2, 3, 4, 8, 16};
static const int64_t coefs[] = {-3, -1, 1, 2, 3, 4, 8, 16};

static Node *gen(int depth)
{
	int r = (int)pick(0, depth <= 0 ? 1 : 9);
	switch (r) {
	case 0: return node(IX_CONST, NULL, NULL, pick(-20, 20), 0);
	case 1: case 2: return node(IX_VAR, NULL, NULL, 0, (int)pick(0, 2));
	case 3: case 4: return node(IX_ADD, gen(depth - 1), gen(depth - 1), 0, 0);
	case 5: return node(IX_MUL, gen(depth - 1), NULL, coefs[pick(0, 7)], 0);
	case 6: return node(IX_DIV, gen(depth - 1), NULL, divisors[pick(0, 5)], 0);
	case 7: return node(IX_MOD, gen(depth - 1), NULL, divisors[pick(0, 5)], 0);
	case 8: return node(IX_MIN, gen(depth - 1), NULL, pick(-4, 20), 0);
	default: return node(IX_MAX, gen(depth - 1), NULL, pick(-4, 20), 0);
	}
}

/* Split-shaped: (a*f + b + c) / g or % g with f, g from the divisors. */
static Node *gen_split(void)
{
	Node *a = node(IX_VAR, NULL, NULL, 0, (int)pick(0, 2));
	Node *b = node(IX_VAR, NULL, NULL, 0, (int)pick(0, 2));
	Node *s = node(IX_ADD, node(IX_MUL, a, NULL, divisors[pick(0, 5)], 0), b, 0, 0);
	if (next() & 1)
		s = node(IX_ADD, s, node(IX_CONST, NULL, NULL, pick(-4, 20), 0), 0, 0);
	if (next() & 1)
		s = node(IX_ADD, s, node(IX_MUL, gen(1), NULL, coefs[pick(0, 7)], 0), 0, 0);
	return node(next() & 1 ? IX_DIV : IX_MOD, s, NULL, divisors[pick(0, 5)], 0);
}

static int64_t fdiv(int64_t a, int64_t c)
{
	int64_t q = a / c;
	return (a % c != 0 && a < 0) ? q - 1 : q;
}

static int64_t eval_node(const Node *n, const int64_t *v)
{
	int64_t x;
	switch (n->kind) {
	case IX_CONST: return n->c;
	case IX_VAR: return v[n->var];
	case IX_ADD: return eval_node(n->a, v) + eval_node(n->b, v);
	case IX_MUL: return eval_node(n->a, v) * n->c;
	case IX_DIV: return fdiv(eval_node(n->a, v), n->c);
	case IX_MOD: x = eval_node(n->a, v); return x - n->c * fdiv(x, n->c);
	case IX_MIN: x = eval_node(n->a, v); return x < n->c ? x : n->c;
	case IX_MAX: x = eval_node(n->a, v); return x > n->c ? x : n->c;
	}
	abort();
}

static const Ix *build(const Node *n)
{
	switch (n->kind) {
	case IX_CONST: return ix_const(n->c);
	case IX_VAR: return ix_var(n->var);
	case IX_ADD: return ix_add(build(n->a), build(n->b));
	case IX_MUL: return ix_mul(build(n->a), n->c);
	case IX_DIV: return ix_div(build(n->a), n->c);
	case IX_MOD: return ix_mod(build(n->a), n->c);
	case IX_MIN: return ix_min(build(n->a), n->c);
	case IX_MAX: return ix_max(build(n->a), n->c);
	}
	abort();
}

/* Are all division and modulo operands of e non-negative at this point? */
static bool divmod_nonneg(const Ix *e, const int64_t *v)
{
	if (!e || e->kind == IX_CONST || e->kind == IX_VAR)
		return true;
	if ((e->kind == IX_DIV || e->kind == IX_MOD) && ix_eval(e->a, v) < 0)
		return false;
	return divmod_nonneg(e->a, v) && divmod_nonneg(e->b, v);
}

/* A small evaluator of the C text ix_str prints, with C's truncating / and %. */
typedef struct CRead {
	const char *p;
	const int64_t *v;
	bool bad;
} CRead;

static int64_t c_ternary(CRead *r);

static void c_skip(CRead *r)
{
	while (*r->p == ' ')
		r->p++;
}

static bool c_eat(CRead *r, char ch)
{
	c_skip(r);
	if (*r->p != ch)
		return false;
	r->p++;
	return true;
}

static int64_t c_primary(CRead *r)
{
	c_skip(r);
	if (c_eat(r, '(')) {
		int64_t x = c_ternary(r);
		if (!c_eat(r, ')'))
			r->bad = true;
		return x;
	}
	if (c_eat(r, '-'))
		return -c_primary(r);
	if (*r->p >= '0' && *r->p <= '9') {
		char *end;
		int64_t x = strtoll(r->p, &end, 10);
		r->p = end;
		if (strncmp(r->p, "LL", 2) == 0)
			r->p += 2;
		return x;
	}
	for (int i = 0; i < 3; i++) {
		size_t len = strlen(names[i]);
		if (strncmp(r->p, names[i], len) == 0 && !(r->p[len] == '_' || (r->p[len] >= 'a' && r->p[len] <= 'z'))) {
			r->p += len;
			return r->v[i];
		}
	}
	r->bad = true;
	return 0;
}

static int64_t c_mul(CRead *r)
{
	int64_t x = c_primary(r);
	for (;;) {
		c_skip(r);
		char op = *r->p;
		if (op != '*' && op != '/' && op != '%')
			return x;
		r->p++;
		int64_t y = c_primary(r);
		if (op != '*' && y == 0) {
			r->bad = true;
			return 0;
		}
		x = op == '*' ? x * y : op == '/' ? x / y : x % y;
	}
}

static int64_t c_add(CRead *r)
{
	int64_t x = c_mul(r);
	for (;;) {
		c_skip(r);
		char op = *r->p;
		if (op != '+' && op != '-')
			return x;
		r->p++;
		int64_t y = c_mul(r);
		x = op == '+' ? x + y : x - y;
	}
}

static int64_t c_ternary(CRead *r)
{
	int64_t x = c_add(r);
	c_skip(r);
	if (*r->p != '<' && *r->p != '>')
		return x;
	char op = *r->p++;
	int64_t y = c_add(r);
	bool cond = op == '<' ? x < y : x > y;
	if (!c_eat(r, '?'))
		r->bad = true;
	int64_t t = c_ternary(r);
	if (!c_eat(r, ':'))
		r->bad = true;
	int64_t f = c_ternary(r);
	return cond ? t : f;
}

static int64_t eval_c(const char *text, const int64_t *v, bool *ok)
{
	CRead r = {text, v, false};
	int64_t x = c_ternary(&r);
	c_skip(&r);
	*ok = !r.bad && *r.p == 0;
	return x;
}

static void test_random(void)
{
	begin("random_expressions");
	int nfail = 0, nsimpler = 0, nchecked_c = 0;
	for (int iter = 0; iter < 6000 && nfail < 5; iter++) {
		npool = 0;
		Node *n = iter % 3 == 2 ? gen_split() : gen((int)pick(1, 5));
		int64_t ext[3] = {pick(1, 7), pick(1, 7), pick(1, 20)};
		if (iter % 4 == 0)
			ext[2] = 16;
		const Ix *e = build(n);
		const Ix *s = ix_simplify(e, ext);
		const Ix *sub = ix_subst(e, 0, ix_add(ix_mul(ix_var(1), 2), ix_var(2)));
		int64_t elo, ehi, slo, shi;
		ix_bounds(e, ext, &elo, &ehi);
		ix_bounds(s, ext, &slo, &shi);
		const char *etext = str(e), *stext = str(s);
		if (strlen(stext) < strlen(etext))
			nsimpler++;
		bool bad = false;
		const Ix *s2 = ix_simplify(s, ext);
		if (!ix_equal(s2, s)) {
			fail("simplifying %s twice: %s then %s", etext, stext, str(s2));
			bad = true;
		}
		int64_t v[3];
		for (v[0] = 0; v[0] < ext[0] && !bad; v[0]++)
		for (v[1] = 0; v[1] < ext[1] && !bad; v[1]++)
		for (v[2] = 0; v[2] < ext[2] && !bad; v[2]++) {
			int64_t want = eval_node(n, v), got = ix_eval(e, v), simp = ix_eval(s, v);
			int64_t w[3] = {v[1] * 2 + v[2], v[1], v[2]};
			if (got != want) {
				fail("built %s = %lld but the tree means %lld at (%lld, %lld, %lld)", etext,
					(long long)got, (long long)want, (long long)v[0], (long long)v[1], (long long)v[2]);
				bad = true;
			} else if (simp != want) {
				fail("extents [%lld, %lld, %lld]: %s simplified to %s: %lld instead of %lld at (%lld, %lld, %lld)",
					(long long)ext[0], (long long)ext[1], (long long)ext[2], etext, stext,
					(long long)simp, (long long)want, (long long)v[0], (long long)v[1], (long long)v[2]);
				bad = true;
			} else if (want < elo || want > ehi || want < slo || want > shi) {
				fail("value %lld of %s outside its bounds [%lld, %lld] or [%lld, %lld] of %s",
					(long long)want, etext, (long long)elo, (long long)ehi, (long long)slo,
					(long long)shi, stext);
				bad = true;
			} else if (ix_eval(sub, v) != eval_node(n, w)) {
				fail("subst of %s gave %s, wrong at (%lld, %lld, %lld)", etext, str(sub),
					(long long)v[0], (long long)v[1], (long long)v[2]);
				bad = true;
			}
			for (int k = 0; k < 2 && !bad; k++) {
				const Ix *x = k ? s : e;
				const char *text = k ? stext : etext;
				if (!divmod_nonneg(x, v))
					continue;
				bool ok;
				int64_t c = eval_c(text, v, &ok);
				nchecked_c++;
				if (!ok || c != want) {
					fail("C text `%s` %s %lld at (%lld, %lld, %lld), want %lld", text,
						ok ? "computes" : "does not parse, reads", (long long)c, (long long)v[0],
						(long long)v[1], (long long)v[2], (long long)want);
					bad = true;
				}
			}
		}
		if (bad)
			nfail++;
	}
	CHECK(nsimpler > 100, "only %d of the random expressions got shorter", nsimpler);
	CHECK(nchecked_c > 10000, "only %d C texts checked", nchecked_c);
	end();
}

int main(void)
{
	test_folding();
	test_floor();
	test_split_aligned();
	test_queries();
	test_random();
	return unit_failures ? 1 : 0;
}
