/* tests/unit/layout_test.c: physical layouts (ir/layout.c).
 *
 * Every primitive alone and the compositions schedules use (NCHW16c, OIHW16i16o, NHWC, packed
 * matrices, fuse, pad, split then fuse back), each over every index of a small tensor: offsets of
 * distinct logical indices are distinct and inside [0, numel), the padding is numel minus the
 * logical count, the symbolic offset (ir_layout_offset over one variable per dim, as built and
 * after ix_simplify) evaluates to ir_layout_offset_at everywhere, and ir_layout_capacity is both
 * safe (indexing the dim up to it keeps offsets in range and distinct) and the largest such
 * extent. Also the text form, equality, rejection messages, and that a loop split like the layout
 * loses its division and modulo.
 * Prints `ok NAME` or `FAIL NAME: ...`; exits non-zero on any failure.
 * Built by tests/run.sh: cc -std=c11 -I. tests/unit/layout_test.c <weft objects but main.o> -lm
 */
#include "ir/ir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- layout builders ---- */

static LayoutPrim split(int dim, int64_t f)
{
	return (LayoutPrim){.kind = LP_SPLIT, .dim = dim, .factor = f};
}

static LayoutPrim fuse(int dim)
{
	return (LayoutPrim){.kind = LP_FUSE, .dim = dim};
}

static LayoutPrim pad(int dim, int64_t before, int64_t after)
{
	return (LayoutPrim){.kind = LP_PAD, .dim = dim, .before = before, .after = after};
}

static LayoutPrim reorder(int n, const int *perm)
{
	LayoutPrim p = {.kind = LP_REORDER, .n = n};
	memcpy(p.perm, perm, (size_t)n * sizeof *perm);
	return p;
}

static Layout layout(int n, const LayoutPrim *p)
{
	Layout L = {.n = n};
	memcpy(L.p, p, (size_t)n * sizeof *p);
	return L;
}

static const char *shape(int r, const int64_t *d)
{
	return ir_shape_str(r, d);
}

/* ---- checks over every index ---- */

static int64_t count(int rank, const int64_t *dims)
{
	int64_t n = 1;
	for (int i = 0; i < rank; i++)
		n *= dims[i];
	return n;
}

/* Next index in row-major order within dims; false after the last. */
static bool next_index(int rank, const int64_t *dims, int64_t *idx)
{
	for (int i = rank - 1; i >= 0; i--) {
		if (++idx[i] < dims[i])
			return true;
		idx[i] = 0;
	}
	return false;
}

/* Offsets of every index of `ext` (dims, possibly one extended) in range and distinct? */
static bool all_distinct(const Layout *L, int rank, const int64_t *dims, const int64_t *ext,
	int64_t numel, char *why, size_t whylen)
{
	unsigned char *seen = calloc((size_t)numel, 1);
	int64_t idx[IR_MAX_PHYS] = {0};
	bool ok = true;
	do {
		int64_t off = ir_layout_offset_at(L, rank, dims, idx);
		if (off < 0 || off >= numel) {
			snprintf(why, whylen, "offset %lld out of [0, %lld)", (long long)off, (long long)numel);
			ok = false;
			break;
		}
		if (seen[off]) {
			snprintf(why, whylen, "offset %lld reached twice", (long long)off);
			ok = false;
			break;
		}
		seen[off] = 1;
	} while (next_index(rank, ext, idx));
	free(seen);
	return ok;
}

static void check_capacity(const Layout *L, int rank, const int64_t *dims, int64_t numel,
	const int64_t *want_cap)
{
	for (int d = 0; d < rank; d++) {
		int64_t cap = ir_layout_capacity(L, rank, dims, d);
		if (want_cap)
			CHECK(cap == want_cap[d], "capacity of dim %d: %lld, expected %lld", d, (long long)cap,
				(long long)want_cap[d]);
		CHECK(cap >= dims[d], "capacity of dim %d: %lld < %lld", d, (long long)cap, (long long)dims[d]);
		int64_t ext[IR_MAX_PHYS];
		memcpy(ext, dims, (size_t)rank * sizeof *ext);
		char why[128];
		ext[d] = cap;
		CHECK(all_distinct(L, rank, dims, ext, numel, why, sizeof why),
			"indexing dim %d up to its capacity %lld: %s", d, (long long)cap, why);
		ext[d] = cap + 1;
		CHECK(!all_distinct(L, rank, dims, ext, numel, why, sizeof why),
			"dim %d could be indexed beyond its capacity %lld", d, (long long)cap);
	}
}

static const char *var_name(int v, void *ctx)
{
	(void)ctx;
	static const char *n[] = {"i0", "i1", "i2", "i3", "i4", "i5"};
	return n[v];
}

/* Everything about one layout on one shape. want_cap may be NULL (only safety and maximality). */
static void check_layout(const char *name, const Layout *L, int rank, const int64_t *dims,
	int want_prank, const int64_t *want_pdims, const char *want_str, const int64_t *want_cap)
{
	begin(name);
	char err[256];
	int prank = -1;
	int64_t pdims[IR_MAX_PHYS];
	if (!ir_layout_shape(L, rank, dims, &prank, pdims, err, sizeof err)) {
		fail("rejected: %s", err);
		end();
		return;
	}
	CHECK(prank == want_prank && memcmp(pdims, want_pdims, (size_t)prank * sizeof *pdims) == 0,
		"physical shape %s, expected %s", shape(prank, pdims), shape(want_prank, want_pdims));
	const char *s = ir_layout_str(L);
	CHECK(strcmp(s, want_str) == 0, "text `%s`, expected `%s`", s, want_str);
	int64_t numel = ir_layout_numel(L, rank, dims);
	CHECK(numel == count(prank, pdims), "numel %lld is not the product of %s", (long long)numel,
		shape(prank, pdims));
	int64_t logical = count(rank, dims);
	CHECK(numel >= logical, "numel %lld < %lld elements", (long long)numel, (long long)logical);

	/* concrete: distinct, in range; padding = numel - logical count */
	unsigned char *seen = calloc((size_t)numel, 1);
	int64_t idx[IR_MAX_PHYS] = {0}, reached = 0;
	const Ix *vars[IR_MAX_PHYS];
	for (int i = 0; i < rank; i++)
		vars[i] = ix_var(i);
	const Ix *off = ir_layout_offset(L, rank, dims, vars);
	const Ix *soff = ix_simplify(off, dims);
	int bad = 0;
	do {
		int64_t o = ir_layout_offset_at(L, rank, dims, idx);
		if (o < 0 || o >= numel) {
			if (bad++ < 3)
				fail("offset %lld out of [0, %lld)", (long long)o, (long long)numel);
			continue;
		}
		if (seen[o] && bad++ < 3)
			fail("offset %lld reached twice", (long long)o);
		if (!seen[o])
			reached++;
		seen[o] = 1;
		int64_t so = ix_eval(off, idx), ss = ix_eval(soff, idx);
		if ((so != o || ss != o) && bad++ < 3)
			fail("symbolic offset %s = %lld (simplified %s = %lld), concrete %lld",
				ix_str(off, var_name, NULL), (long long)so, ix_str(soff, var_name, NULL),
				(long long)ss, (long long)o);
	} while (next_index(rank, dims, idx));
	free(seen);
	CHECK(reached == logical, "%lld distinct offsets for %lld elements", (long long)reached,
		(long long)logical);
	CHECK(numel - reached == numel - logical, "padding");
	check_capacity(L, rank, dims, numel, want_cap);
	end();
}

/* ---- the cases ---- */

static void test_primitives(void)
{
	{
		Layout L = {0};
		int64_t d[] = {2, 3, 4};
		check_layout("logical", &L, 3, d, 3, d, "", d);
	}
	{
		LayoutPrim p[] = {split(1, 4)};
		Layout L = layout(1, p);
		int64_t d[] = {3, 10}, pd[] = {3, 3, 4}, cap[] = {3, 12};
		check_layout("split", &L, 2, d, 3, pd, "split(1, 4)", cap);
	}
	{
		LayoutPrim p[] = {split(0, 1)};
		Layout L = layout(1, p);
		int64_t d[] = {3, 5}, pd[] = {3, 1, 5}, cap[] = {3, 5};
		check_layout("split_by_1", &L, 2, d, 3, pd, "split(0, 1)", cap);
	}
	{
		int perm[] = {1, 0};
		LayoutPrim p[] = {reorder(2, perm)};
		Layout L = layout(1, p);
		int64_t d[] = {3, 5}, pd[] = {5, 3}, cap[] = {3, 5};
		check_layout("reorder", &L, 2, d, 2, pd, "reorder(1, 0)", cap);
	}
	{
		LayoutPrim p[] = {fuse(0)};
		Layout L = layout(1, p);
		int64_t d[] = {3, 5, 2}, pd[] = {15, 2}, cap[] = {3, 5, 2};
		check_layout("fuse", &L, 3, d, 2, pd, "fuse(0)", cap);
	}
	{
		LayoutPrim p[] = {pad(1, 1, 2)};
		Layout L = layout(1, p);
		int64_t d[] = {3, 4}, pd[] = {3, 7}, cap[] = {3, 6};
		check_layout("pad", &L, 2, d, 2, pd, "pad(1, 1, 2)", cap);
	}
}

static void test_compositions(void)
{
	{
		int perm[] = {0, 1, 3, 4, 2};
		LayoutPrim p[] = {split(1, 16), reorder(5, perm)};
		Layout L = layout(2, p);
		int64_t d[] = {2, 40, 5, 3}, pd[] = {2, 3, 5, 3, 16}, cap[] = {2, 48, 5, 3};
		check_layout("nchw16c", &L, 4, d, 5, pd, "split(1, 16) reorder(0, 1, 3, 4, 2)", cap);
		begin("nchw16c_padding");
		CHECK(ir_layout_numel(&L, 4, d) - 2 * 40 * 5 * 3 == 240, "padding of [2, 40, 5, 3] is not 240");
		end();
	}
	{
		int perm[] = {0, 2, 4, 5, 3, 1};
		LayoutPrim p[] = {split(0, 16), split(2, 16), reorder(6, perm)};
		Layout L = layout(3, p);
		int64_t d[] = {40, 24, 3, 3}, pd[] = {3, 2, 3, 3, 16, 16}, cap[] = {48, 32, 3, 3};
		check_layout("oihw16i16o", &L, 4, d, 6, pd, "split(0, 16) split(2, 16) reorder(0, 2, 4, 5, 3, 1)",
			cap);
	}
	{
		int perm[] = {0, 2, 3, 1};
		LayoutPrim p[] = {reorder(4, perm)};
		Layout L = layout(1, p);
		int64_t d[] = {2, 3, 4, 5}, pd[] = {2, 4, 5, 3};
		check_layout("nhwc", &L, 4, d, 4, pd, "reorder(0, 2, 3, 1)", d);
	}
	{
		/* w[K=40][N=7] packed as [K/16][N][16] */
		int perm[] = {0, 2, 1};
		LayoutPrim p[] = {split(0, 16), reorder(3, perm)};
		Layout L = layout(2, p);
		int64_t d[] = {40, 7}, pd[] = {3, 7, 16}, cap[] = {48, 7};
		check_layout("pack_k16", &L, 2, d, 3, pd, "split(0, 16) reorder(0, 2, 1)", cap);
	}
	{
		LayoutPrim p[] = {split(1, 16), fuse(1)};
		Layout L = layout(2, p);
		int64_t d[] = {2, 40}, pd[] = {2, 48}, cap[] = {2, 48};
		check_layout("split_fuse_back", &L, 2, d, 2, pd, "split(1, 16) fuse(1)", cap);
		begin("split_fuse_back_simplifies");
		const Ix *v[2] = {ix_var(0), ix_var(1)};
		const Ix *off = ix_simplify(ir_layout_offset(&L, 2, d, v), d);
		const char *s = ix_str(off, var_name, NULL);
		CHECK(strcmp(s, "i0 * 48 + i1") == 0, "offset %s, expected i0 * 48 + i1", s);
		end();
	}
	{
		int perm[] = {2, 0, 1};
		LayoutPrim p[] = {pad(0, 1, 0), split(1, 3), reorder(3, perm), fuse(1)};
		Layout L = layout(4, p);
		int64_t d[] = {3, 7}, pd[] = {3, 12};
		check_layout("pad_split_reorder_fuse", &L, 2, d, 2, pd, "pad(0, 1, 0) split(1, 3) reorder(2, 0, 1) fuse(1)",
			NULL);
	}
	{
		int perm[] = {0, 1, 3, 4, 2};
		LayoutPrim p[] = {split(1, 16), reorder(5, perm), fuse(2), pad(3, 1, 1)};
		Layout L = layout(4, p);
		int64_t d[] = {1, 20, 3, 2}, pd[] = {1, 2, 6, 18};
		check_layout("text_form_example", &L, 4, d, 4, pd,
			"split(1, 16) reorder(0, 1, 3, 4, 2) fuse(2) pad(3, 1, 1)", NULL);
	}
	{
		LayoutPrim p[] = {split(0, 4), split(0, 2), fuse(1), pad(2, 0, 3)};
		Layout L = layout(4, p);
		int64_t d[] = {10, 3}, pd[] = {2, 8, 6};
		check_layout("double_split", &L, 2, d, 3, pd, "split(0, 4) split(0, 2) fuse(1) pad(2, 0, 3)", NULL);
	}
}

/* A loop split like the layout: the offset has no division or modulo, and it is right. */
static void test_split_loops(void)
{
	begin("split_loop_offsets");
	int perm[] = {0, 1, 3, 4, 2};
	LayoutPrim p[] = {split(1, 16), reorder(5, perm)};
	Layout L = layout(2, p);
	int64_t d[] = {2, 40, 5, 3};
	/* vars 0..3 = n, c, h, w; c := c_o * 16 + c_i with c_o = var 4 (extent 3), c_i = var 5 (16) */
	int64_t ext[6] = {2, 40, 5, 3, 3, 16};
	const Ix *idx[4] = {ix_var(0), ix_add(ix_mul(ix_var(4), 16), ix_var(5)), ix_var(2), ix_var(3)};
	const Ix *off = ix_simplify(ir_layout_offset(&L, 4, d, idx), ext);
	const char *s = ix_str(off, var_name, NULL);
	CHECK(!ix_has_divmod(off) && !strchr(s, '/') && !strchr(s, '%'), "offset %s", s);
	CHECK(strcmp(s, "i0 * 720 + i2 * 48 + i3 * 16 + i4 * 240 + i5") == 0, "offset text %s", s);
	int64_t v[6] = {0};
	for (v[0] = 0; v[0] < 2; v[0]++)
	for (v[4] = 0; v[4] < 3; v[4]++)
	for (v[5] = 0; v[5] < 16; v[5]++)
	for (v[2] = 0; v[2] < 5; v[2]++)
	for (v[3] = 0; v[3] < 3; v[3]++) {
		int64_t logical[4] = {v[0], v[4] * 16 + v[5], v[2], v[3]};
		int64_t want = ir_layout_offset_at(&L, 4, d, logical), got = ix_eval(off, v);
		if (want != got) {
			fail("at c = %lld: %lld, expected %lld", (long long)logical[1], (long long)got,
				(long long)want);
			goto done;
		}
	}
done:
	end();
}

static void expect_reject(const char *name, const Layout *L, int rank, const int64_t *dims,
	const char *want)
{
	begin(name);
	char err[256];
	int prank;
	int64_t pdims[IR_MAX_PHYS];
	bool ok = ir_layout_shape(L, rank, dims, &prank, pdims, err, sizeof err);
	CHECK(!ok, "accepted");
	CHECK(!ok && strstr(err, want), "message `%s` does not contain `%s`", err, want);
	end();
}

static void test_rejections(void)
{
	int64_t d2[] = {4, 6}, d3[] = {2, 3, 4};
	{
		int perm[] = {0, 0};
		LayoutPrim p[] = {reorder(2, perm)};
		Layout L = layout(1, p);
		expect_reject("reject_reorder_duplicate", &L, 2, d2, "reorder(0, 0): not a permutation (0 appears twice)");
	}
	{
		int perm[] = {1, 0};
		LayoutPrim p[] = {reorder(2, perm)};
		Layout L = layout(1, p);
		expect_reject("reject_reorder_length", &L, 3, d3,
			"reorder(1, 0): expected a permutation of all 3 dims of [2, 3, 4], saw 2 entries");
	}
	{
		int perm[] = {0, 2};
		LayoutPrim p[] = {reorder(2, perm)};
		Layout L = layout(1, p);
		expect_reject("reject_reorder_range", &L, 2, d2, "reorder(0, 2): dimension 2 out of range");
	}
	{
		LayoutPrim p[] = {split(2, 4)};
		Layout L = layout(1, p);
		expect_reject("reject_split_dim", &L, 2, d2, "split(2, 4): dimension 2 out of range (the shape [4, 6] has 2 dims)");
	}
	{
		LayoutPrim p[] = {split(0, 0)};
		Layout L = layout(1, p);
		expect_reject("reject_split_factor", &L, 2, d2, "split(0, 0): factor must be >= 1");
	}
	{
		LayoutPrim p[] = {split(0, 2), fuse(2)};
		Layout L = layout(2, p);
		expect_reject("reject_fuse_dim", &L, 2, d2, "fuse(2): needs dims 2 and 3, but the shape [2, 2, 6] has 3 dims");
	}
	{
		LayoutPrim p[] = {pad(0, -1, 0)};
		Layout L = layout(1, p);
		expect_reject("reject_pad_negative", &L, 2, d2, "pad(0, -1, 0): padding must be >= 0");
	}
	{
		LayoutPrim p[] = {pad(-1, 1, 0)};
		Layout L = layout(1, p);
		expect_reject("reject_pad_dim", &L, 2, d2, "pad(-1, 1, 0): dimension -1 out of range");
	}
	{
		LayoutPrim p[8];
		for (int i = 0; i < 8; i++)
			p[i] = split(0, 1);
		Layout L = layout(8, p);
		int64_t d6[] = {1, 1, 1, 1, 1, 1};
		expect_reject("reject_too_many_dims", &L, 6, d6, "more than 12 physical dimensions");
	}
}

static void test_equal_and_text(void)
{
	begin("equal_and_text");
	int perm[] = {0, 1, 3, 4, 2}, perm2[] = {0, 1, 4, 3, 2};
	LayoutPrim a[] = {split(1, 16), reorder(5, perm)};
	LayoutPrim b[] = {split(1, 16), reorder(5, perm2)};
	LayoutPrim c[] = {split(1, 8), reorder(5, perm)};
	Layout La = layout(2, a), La2 = layout(2, a), Lb = layout(2, b), Lc = layout(2, c), L0 = {0};
	CHECK(ir_layout_equal(&La, &La2), "equal layouts differ");
	CHECK(!ir_layout_equal(&La, &Lb), "different permutations are equal");
	CHECK(!ir_layout_equal(&La, &Lc), "different factors are equal");
	CHECK(!ir_layout_equal(&La, &L0), "a layout equals the logical one");
	CHECK(ir_layout_equal(&L0, NULL), "NULL is not the logical layout");
	CHECK(strcmp(ir_layout_str(&L0), "") == 0, "logical text is not empty");
	CHECK(strcmp(ir_layout_str(&Lb), "split(1, 16) reorder(0, 1, 4, 3, 2)") == 0, "text %s",
		ir_layout_str(&Lb));
	end();
}

int main(void)
{
	test_primitives();
	test_compositions();
	test_split_loops();
	test_rejections();
	test_equal_and_text();
	return unit_failures ? 1 : 0;
}
