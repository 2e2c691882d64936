/* ir/schedtext.c: the text form of schedules: parsing a schedule file and printing one.
 *
 *     schedule block                       # first: the model it is for
 *     layout w1 = split(0, 16) reorder(0, 2, 3, 4, 1, 5)
 *     t1.update: split(k, 16, guard)       # tail exact, guard (the default) or pad
 *     t1.update: reorder(k_o, oh, ow, c, r, s, k_i); t1.update: cache_write(ow)
 *     t2.main: compute_at(t1.update, ow)
 *     t1.update: prefetch(x, ow)           # each ow fetches what the next reads of x
 *
 * One directive per line, or several separated by ';' (a whole schedule fits on one line of the
 * tuner's log); after one "TENSOR.STAGE:" several stage directives may follow on the same line.
 * The model's lexer is reused (ir_lexer_sched adds '.' and ';'). This file checks only what the
 * text alone and the graph's names tell (forms, numbers, the tensors named); whether a directive
 * is legal for the lowered program is sched.c's. Errors are reported in the model format's form,
 * all of a file's errors in one run; each directive keeps the position of its keyword.
 */
#include "ir.h"

#include <stdarg.h>
#include <string.h>

typedef struct SP {
	const Graph *g;
	Lexer *lex;
	Token *cur;
	Schedule *S;
	int nerrors_before;
} SP;

static Token *peek(SP *P) { return P->cur; }
static Token *next(SP *P)
{
	Token *t = P->cur;
	P->cur = ir_lex_next(P->lex);
	return t;
}

static bool is_punct(const Token *t, char c) { return t->kind == TK_PUNCT && t->punct == c; }
static bool is_word(const Token *t, const char *w) { return t->kind == TK_IDENT && !strcmp(t->str, w); }
static bool at_end(const Token *t) { return t->kind == TK_NEWLINE || t->kind == TK_EOF || is_punct(t, ';'); }

static bool expect(SP *P, char c, const char *what)
{
	if (is_punct(peek(P), c)) {
		next(P);
		return true;
	}
	return ir_unexpected(peek(P), "expected '%c' %s", c, what);
}

/* A name of at most max-1 characters into buf. */
static bool name(SP *P, char *buf, size_t max, const char *what)
{
	Token *t = peek(P);
	if (t->kind != TK_IDENT)
		return ir_unexpected(t, "expected %s", what);
	next(P);
	if (strlen(t->str) >= max) {
		error_at(t->loc, "%s '%s' is too long (at most %zu characters)", what, t->str, max - 1);
		return false;
	}
	strcpy(buf, t->str);
	return true;
}

static bool integer(SP *P, int64_t lo, int64_t hi, int64_t *out, const char *what)
{
	Token *t = peek(P);
	if (t->kind == TK_FLOAT)
		return ir_unexpected(t, "expected an integer (%s)", what);
	if (t->kind != TK_INT)
		return ir_unexpected(t, "expected %s", what);
	next(P);
	if (t->ival < lo || t->ival > hi) {
		error_at(t->loc, "%s must be in [%lld, %lld], saw %lld", what, (long long)lo, (long long)hi,
		         (long long)t->ival);
		return false;
	}
	*out = t->ival;
	return true;
}

/* ---- layouts: split(d, f) reorder(p, ...) fuse(d) pad(d, before, after), or "logical" ---- */

static bool layout_prim(SP *P, Layout *L)
{
	Token *kw = peek(P);
	if (kw->kind != TK_IDENT)
		return ir_unexpected(kw, "expected a layout primitive (split, reorder, fuse or pad)");
	if (L->n == IR_MAX_PRIMS) {
		error_at(kw->loc, "a layout has at most %d primitives", IR_MAX_PRIMS);
		return false;
	}
	LayoutPrim *p = &L->p[L->n];
	memset(p, 0, sizeof *p);
	int64_t v;
	next(P);
	if (is_word(kw, "split"))
		p->kind = LP_SPLIT;
	else if (is_word(kw, "reorder"))
		p->kind = LP_REORDER;
	else if (is_word(kw, "fuse"))
		p->kind = LP_FUSE;
	else if (is_word(kw, "pad"))
		p->kind = LP_PAD;
	else {
		error_at(kw->loc, "unknown layout primitive '%s': expected split, reorder, fuse or pad", kw->str);
		return false;
	}
	if (!expect(P, '(', ir_fmt("after '%s'", kw->str)))
		return false;
	if (p->kind == LP_REORDER) {
		for (;;) {
			if (p->n == IR_MAX_PHYS) {
				error_at(peek(P)->loc, "reorder: a layout has at most %d dimensions", IR_MAX_PHYS);
				return false;
			}
			if (!integer(P, 0, IR_MAX_PHYS - 1, &v, "a dimension number"))
				return false;
			p->perm[p->n++] = (int)v;
			if (!is_punct(peek(P), ','))
				break;
			next(P);
		}
	} else {
		if (!integer(P, 0, IR_MAX_PHYS - 1, &v, "a dimension number"))
			return false;
		p->dim = (int)v;
		if (p->kind == LP_SPLIT) {
			if (!expect(P, ',', "between split's dimension and factor") ||
			    !integer(P, 1, (int64_t)1 << 30, &p->factor, "split's factor"))
				return false;
		} else if (p->kind == LP_PAD) {
			if (!expect(P, ',', "after pad's dimension") ||
			    !integer(P, 0, (int64_t)1 << 30, &p->before, "pad's 'before'") ||
			    !expect(P, ',', "after pad's 'before'") ||
			    !integer(P, 0, (int64_t)1 << 30, &p->after, "pad's 'after'"))
				return false;
		}
	}
	if (!expect(P, ')', ir_fmt("to close '%s('", kw->str)))
		return false;
	L->n++;
	return true;
}

static bool parse_layout(SP *P, Token *kw)
{
	Directive d = {.kind = SD_LAYOUT, .loc = kw->loc};
	Token *t = peek(P);
	if (!name(P, d.tensor, sizeof d.tensor, "a tensor name after 'layout'"))
		return false;
	int id = ir_find_tensor(P->g, d.tensor);
	if (id < 0) {
		error_at(t->loc, "layout: model %s has no tensor '%s'", P->g->name, d.tensor);
		return false;
	}
	if (!expect(P, '=', ir_fmt("after 'layout %s'", d.tensor)))
		return false;
	if (is_word(peek(P), "logical")) {
		next(P);
	} else {
		if (at_end(peek(P)))
			return ir_unexpected(peek(P), "expected the layout's primitives (or 'logical')");
		while (!at_end(peek(P)))
			if (!layout_prim(P, &d.layout))
				return false;
	}
	ir_sched_add(P->S, &d);
	return true;
}

/* ---- stage directives ---- */

static const char *const dir_names[] = {
	[SD_LAYOUT] = "layout",       [SD_SPLIT] = "split",         [SD_REORDER] = "reorder",
	[SD_FUSE] = "fuse",           [SD_UNROLL] = "unroll",       [SD_VECTORIZE] = "vectorize",
	[SD_PARALLEL] = "parallel",   [SD_CACHE_WRITE] = "cache_write", [SD_COMPUTE_AT] = "compute_at",
	[SD_PREFETCH] = "prefetch",
};
static const char *const tail_names[] = {[TAIL_EXACT] = "exact", [TAIL_GUARD] = "guard", [TAIL_PAD] = "pad"};

/* TENSOR.STAGE into buf ("t1.update"); the tensor must be an op's result. */
static bool stage_name(SP *P, char *buf, size_t max, const char *what)
{
	Token *t = peek(P);
	char tensor[IR_MAX_NAME + 1], stage[16];
	if (!name(P, tensor, sizeof tensor, what))
		return false;
	if (!expect(P, '.', ir_fmt("between the tensor and its stage (%s.update)", tensor)) ||
	    !name(P, stage, sizeof stage, "a stage name (update, main, init...)"))
		return false;
	int id = ir_find_tensor(P->g, tensor);
	if (id < 0 || P->g->tensors[id].producer < 0) {
		error_at(t->loc, "model %s has no op whose result is '%s' (%s: TENSOR.STAGE, e.g. t1.update)", P->g->name, tensor, what);
		return false;
	}
	snprintf(buf, max, "%s.%s", tensor, stage);
	return true;
}

static bool loop_name(SP *P, Directive *d)
{
	if (d->nloops == IR_MAX_LOOPS) {
		error_at(peek(P)->loc, "%s: at most %d loops", dir_names[d->kind], IR_MAX_LOOPS);
		return false;
	}
	return name(P, d->loops[d->nloops++], sizeof d->loops[0], "a loop name");
}

static int dir_kind(const char *s)
{
	for (int k = SD_SPLIT; k <= SD_PREFETCH; k++)
		if (!strcmp(s, dir_names[k]))
			return k;
	return -1;
}

/* One of split(...) reorder(...) ... after "TENSOR.STAGE:". */
static bool stage_directive(SP *P, const char *stage)
{
	Token *kw = peek(P);
	if (kw->kind != TK_IDENT)
		return ir_unexpected(kw, "expected a directive (split, reorder, fuse, unroll, vectorize, "
		                      "parallel, cache_write, compute_at or prefetch)");
	int k = dir_kind(kw->str);
	if (k < 0) {
		error_at(kw->loc, "unknown directive '%s': expected split, reorder, fuse, unroll, "
		                  "vectorize, parallel, cache_write, compute_at or prefetch", kw->str);
		return false;
	}
	next(P);
	Directive d = {.kind = (DirKind)k, .loc = kw->loc, .tail = TAIL_GUARD};
	snprintf(d.stage, sizeof d.stage, "%s", stage);
	if (!expect(P, '(', ir_fmt("after '%s'", kw->str)))
		return false;
	switch (d.kind) {
	case SD_SPLIT:
		if (!loop_name(P, &d) || !expect(P, ',', "between split's loop and factor") ||
		    !integer(P, 1, (int64_t)1 << 30, &d.factor, "split's factor"))
			return false;
		if (is_punct(peek(P), ',')) {
			next(P);
			Token *t = peek(P);
			int tail = -1;
			for (int i = 0; i < 3 && t->kind == TK_IDENT; i++)
				if (!strcmp(t->str, tail_names[i]))
					tail = i;
			if (tail < 0)
				return ir_unexpected(t, "expected split's tail: exact, guard or pad");
			next(P);
			d.tail = (Tail)tail;
		}
		break;
	case SD_REORDER:
		do {
			if (d.nloops && !is_punct(next(P), ','))
				die("reorder: lost a comma");
			if (!loop_name(P, &d))
				return false;
		} while (is_punct(peek(P), ','));
		break;
	case SD_FUSE:
		if (!loop_name(P, &d) || !expect(P, ',', "between fuse's two loops") || !loop_name(P, &d))
			return false;
		break;
	case SD_COMPUTE_AT:
		if (!stage_name(P, d.host, sizeof d.host, "compute_at's host stage") ||
		    !expect(P, ',', "between compute_at's host stage and loop") || !loop_name(P, &d))
			return false;
		break;
	case SD_PREFETCH: {
		Token *t = peek(P);
		if (!name(P, d.tensor, sizeof d.tensor, "the tensor to prefetch"))
			return false;
		if (ir_find_tensor(P->g, d.tensor) < 0) {
			error_at(t->loc, "model %s has no tensor '%s' (prefetch's first argument: a tensor "
			                 "the stage reads)", P->g->name, d.tensor);
			return false;
		}
		if (!expect(P, ',', "between prefetch's tensor and loop") || !loop_name(P, &d))
			return false;
		break;
	}
	default:
		if (!loop_name(P, &d))
			return false;
		break;
	}
	if (!expect(P, ')', ir_fmt("to close '%s('", kw->str)))
		return false;
	ir_sched_add(P->S, &d);
	return true;
}

static bool parse_stage_directives(SP *P)
{
	char stage[IR_MAX_NAME + 20];
	if (!stage_name(P, stage, sizeof stage, "a directive's stage") ||
	    !expect(P, ':', ir_fmt("after the stage %s", stage)))
		return false;
	do
		if (!stage_directive(P, stage))
			return false;
	while (!at_end(peek(P)));
	return true;
}

/* ---- statements ---- */

static bool parse_header(SP *P, Token *kw)
{
	Token *t = peek(P);
	char model[IR_MAX_NAME + 1];
	if (!name(P, model, sizeof model, "the model's name after 'schedule'"))
		return false;
	if (strcmp(model, P->g->name) != 0) {
		error_at(t->loc, "this schedule is for model '%s', but the model is '%s'", model, P->g->name);
		return false;
	}
	(void)kw;
	return true;
}

/* One statement; on an error, skip to its end. */
static void statement(SP *P, bool first)
{
	Token *t = peek(P);
	bool ok;
	if (first && !is_word(t, "schedule")) {
		ir_unexpected(t, "expected 'schedule %s' as the first statement", P->g->name);
		ok = false;
	} else if (is_word(t, "schedule")) {
		next(P);
		if (!first) {
			error_at(t->loc, "a second 'schedule' statement: 'schedule MODEL' comes once, first");
			ok = false;
		} else {
			ok = parse_header(P, t);
		}
	} else if (is_word(t, "layout")) {
		next(P);
		ok = parse_layout(P, t);
	} else if (t->kind == TK_IDENT) {
		ok = parse_stage_directives(P);
	} else {
		ok = ir_unexpected(t, "expected a directive ('layout TENSOR = ...' or 'TENSOR.STAGE: ...')");
	}
	if (ok && !at_end(peek(P)))
		ir_unexpected(peek(P), "expected the end of the directive (a new line or ';')");
	while (!at_end(peek(P)))
		next(P);
}

bool ir_sched_parse(const Source *src, const Graph *g, Schedule *S)
{
	SP P = {.g = g, .lex = ir_lexer_sched(src), .S = S, .nerrors_before = ir_nerrors};
	next(&P);
	bool first = true;
	for (;;) {
		Token *t = peek(&P);
		if (t->kind == TK_EOF)
			break;
		if (t->kind == TK_NEWLINE || is_punct(t, ';')) {
			next(&P);
			continue;
		}
		statement(&P, first);
		first = false;
	}
	if (first)
		error_at((Loc){src, 1, 1}, "expected 'schedule %s' as the first statement, saw an empty file",
		         g->name);
	return ir_nerrors == P.nerrors_before;
}

/* ---- printing ---- */

void ir_sched_print(const Graph *g, const Schedule *S, FILE *f)
{
	fprintf(f, "schedule %s\n", g->name);
	for (int i = 0; i < S->n; i++) {
		fprintf(f, "%s\n", ir_directive_str(&S->d[i]));
	}
}
