/* ir/ixtext.c: an index expression (ir/ix.c) as C text, ix_str.
 *
 * Sums print as their terms with the signs folded into the operators, products by constants as
 * `x * c`, IX_DIV and IX_MOD as C's truncating `/` and `%` (equal to the floor semantics of
 * ix.c only for non-negative operands: the emitter asks only for such expressions, see ix.c),
 * min and max as conditional expressions, constants beyond int with LL; parentheses only where
 * C's precedence needs them. Split from ix.c.
 */
#include "ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Buf {
	char *s;
	size_t n, cap;
} Buf;

static void put(Buf *b, const char *s)
{
	size_t len = strlen(s);
	if (b->n + len + 1 > b->cap) {
		b->cap = (b->n + len + 1) * 2;
		b->s = ir_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, len + 1);
	b->n += len;
}

static void put_int(Buf *b, int64_t c)
{
	char tmp[32];
	/* Generated code indexes with int-typed variables; wider constants carry LL. */
	if (c > 2147483647LL || c < -2147483647LL)
		snprintf(tmp, sizeof tmp, "%lldLL", (long long)c);
	else
		snprintf(tmp, sizeof tmp, "%lld", (long long)c);
	put(b, tmp);
}

typedef struct Printer {
	Buf b;
	const char *(*name)(int var, void *ctx);
	void *ctx;
} Printer;

/* Precedence of C text: 1 additive, 2 multiplicative, 3 primary (no parentheses ever needed). */
enum { PREC_ADD = 1, PREC_MUL = 2, PREC_ATOM = 3 };

static void print_ix(Printer *P, const Ix *e, int prec);

/* A term of a sum, after the first one, with its sign folded into the operator. */
static void print_signed_term(Printer *P, const Ix *t)
{
	if (t->kind == IX_CONST && t->c < 0 && t->c != INT64_MIN) {
		put(&P->b, " - ");
		put_int(&P->b, -t->c);
	} else if (t->kind == IX_MUL && t->c < 0 && t->c != INT64_MIN) {
		put(&P->b, " - ");
		print_ix(P, t->a, PREC_MUL); /* a - x / 4 * 2 reads a - ((x / 4) * 2) */
		if (t->c != -1) {
			put(&P->b, " * ");
			put_int(&P->b, -t->c);
		}
	} else {
		put(&P->b, " + ");
		print_ix(P, t, PREC_MUL); /* a + (b + c) keeps its parentheses */
	}
}

static void print_sum(Printer *P, const Ix *e)
{
	/* The chain leans left: walk down e->a and print the terms in order. */
	const Ix *terms[64];
	int n = 0;
	const Ix *head = e;
	while (head->kind == IX_ADD && n < 63) {
		terms[n++] = head->b;
		head = head->a;
	}
	print_ix(P, head, PREC_ADD);
	while (n > 0)
		print_signed_term(P, terms[--n]);
}

static void print_ix(Printer *P, const Ix *e, int prec)
{
	int mine = e->kind == IX_ADD ? PREC_ADD
		: (e->kind == IX_MUL || e->kind == IX_DIV || e->kind == IX_MOD) ? PREC_MUL
		: (e->kind == IX_CONST && e->c < 0) ? PREC_ADD : PREC_ATOM;
	bool paren = mine < prec;
	if (paren)
		put(&P->b, "(");
	switch (e->kind) {
	case IX_CONST:
		put_int(&P->b, e->c);
		break;
	case IX_VAR:
		if (P->name) {
			put(&P->b, P->name(e->var, P->ctx));
		} else {
			char tmp[24];
			snprintf(tmp, sizeof tmp, "v%d", e->var);
			put(&P->b, tmp);
		}
		break;
	case IX_ADD:
		print_sum(P, e);
		break;
	case IX_MUL:
		if (e->c < 0 && e->c != INT64_MIN) { /* -x * 2 reads (-x) * 2 */
			put(&P->b, "-");
			print_ix(P, e->a, PREC_ATOM);
			if (e->c != -1) {
				put(&P->b, " * ");
				put_int(&P->b, -e->c);
			}
			break;
		}
		/* fall through */
	case IX_DIV:
	case IX_MOD:
		print_ix(P, e->a, PREC_MUL); /* left-associative: a * b / c needs none */
		put(&P->b, e->kind == IX_MUL ? " * " : e->kind == IX_DIV ? " / " : " % ");
		if (e->c < 0) {
			put(&P->b, "(");
			put_int(&P->b, e->c);
			put(&P->b, ")");
		} else {
			put_int(&P->b, e->c);
		}
		break;
	case IX_MIN:
	case IX_MAX:
		put(&P->b, "(");
		print_ix(P, e->a, PREC_ADD);
		put(&P->b, e->kind == IX_MIN ? " < " : " > ");
		put_int(&P->b, e->c);
		put(&P->b, " ? ");
		print_ix(P, e->a, PREC_ADD);
		put(&P->b, " : ");
		put_int(&P->b, e->c);
		put(&P->b, ")");
		break;
	}
	if (paren)
		put(&P->b, ")");
}

char *ix_str(const Ix *e, const char *(*var_name)(int var, void *ctx), void *ctx)
{
	Printer P = {{0}, var_name, ctx};
	put(&P.b, "");
	print_ix(&P, e, PREC_ADD);
	char *s = ir_strdup(P.b.s);
	free(P.b.s);
	return s;
}
