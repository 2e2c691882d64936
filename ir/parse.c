/* ir/parse.c: model text -> Graph (spec/model-format.md, "Statements").
 *
 * A recursive-descent parser over the token array of lex.c. It checks what the text alone can
 * tell: statement forms, names (defined once, before use, valid as C identifiers), operator
 * names, argument counts and attribute names. Shapes and attribute values are infer.c's.
 * On an error it reports, skips to the end of the statement and goes on, so that every error of
 * a file comes out in one run; a name whose statement failed is still defined (with an unknown
 * shape) so that its later uses do not cascade into more messages.
 */
#include "ir.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const OpInfo ir_ops[OP_COUNT] = {
#define X(e, name, lo, hi, flags, attrs) [OP_##e] = {name, lo, hi, flags, attrs},
	IR_OPS(X)
#undef X
};

typedef struct Parser {
	Graph *g;
	Lexer *lex;
	Token *cur;                         /* the next token */
	Token *prev;                        /* the last token taken */
	int tcap, ocap, icap, pcap, outcap; /* capacities of the Graph's growable arrays */
	const Token *model_tok;             /* the model statement, once seen */
	bool saw_statement;                 /* any statement before (to place 'model' first) */
} Parser;

/* ---- tokens ---- */

static Token *peek(Parser *P) { return P->cur; }
static Token *next(Parser *P)
{
	Token *t = P->cur;
	P->prev = t;
	P->cur = ir_lex_next(P->lex);
	return t;
}

static bool is_punct(const Token *t, char c) { return t->kind == TK_PUNCT && t->punct == c; }
static bool is_word(const Token *t, const char *w) { return t->kind == TK_IDENT && strcmp(t->str, w) == 0; }

static bool expect_punct(Parser *P, char c, const char *what)
{
	if (is_punct(peek(P), c)) {
		next(P);
		return true;
	}
	ir_unexpected(peek(P), "expected '%c' %s", c, what);
	return false;
}

/* ---- names ---- */

bool ir_is_c_keyword(const char *s)
{
	static const char *const kw[] = {
		"auto", "break", "case", "char", "const", "continue", "default", "do", "double",
		"else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
		"register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
		"switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Alignas",
		"_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
		"_Static_assert", "_Thread_local",
	};
	for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
		if (strcmp(s, kw[i]) == 0)
			return true;
	return false;
}

/* A name becomes a C identifier in the output: reject what could clash with C or with weft's
   own generated identifiers. The lexer has already reported names that are too long. */
static bool check_name(const Token *t, const char *what)
{
	if (ir_is_c_keyword(t->str)) {
		error_at(t->loc, "%s name '%s' is a C keyword; names become C identifiers, choose another", what, t->str);
		return false;
	}
	if (strncmp(t->str, "weft_", 5) == 0) {
		error_at(t->loc, "%s name '%s' starts with 'weft_', which is reserved for generated code", what, t->str);
		return false;
	}
	return strlen(t->str) <= IR_MAX_NAME;
}

int ir_find_tensor(const Graph *g, const char *name)
{
	for (int i = 0; i < g->ntensors; i++)
		if (strcmp(g->tensors[i].name, name) == 0)
			return i;
	return -1;
}

/* Define a tensor named by t. Returns its id, or -1 (reported) if the name is taken or bad. */
static int define_tensor(Parser *P, const Token *t, TensorKind kind)
{
	Graph *g = P->g;
	if (!check_name(t, "tensor"))
		return -1;
	int old = ir_find_tensor(g, t->str);
	if (old >= 0) {
		error_at(t->loc, "'%s' is already defined on line %d; every name is defined once", t->str,
		         g->tensors[old].loc.line);
		return -1;
	}
	if (g->ntensors == P->tcap) {
		P->tcap = P->tcap ? 2 * P->tcap : 64;
		g->tensors = ir_xrealloc(g->tensors, (size_t)P->tcap * sizeof *g->tensors);
	}
	Tensor *x = &g->tensors[g->ntensors];
	memset(x, 0, sizeof *x);
	snprintf(x->name, sizeof x->name, "%s", t->str);
	x->kind = kind;
	x->loc = t->loc;
	x->producer = -1;
	x->input_index = -1;
	x->output_index = -1;
	x->view_of = -1;
	x->last_use = -1;
	return g->ntensors++;
}

static void push_id(int **arr, int *n, int *cap, int id)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		*arr = ir_xrealloc(*arr, (size_t)*cap * sizeof **arr);
	}
	(*arr)[(*n)++] = id;
}

/* Edit distance, for "did you mean" on unknown operators. */
static int distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b), row[64];
	if (la > 62 || lb > 62)
		return 99;
	for (int j = 0; j <= lb; j++)
		row[j] = j;
	for (int i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = i;
		for (int j = 1; j <= lb; j++) {
			int up = row[j];
			int best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* ---- statements ---- */

static bool parse_model(Parser *P, const Token *kw)
{
	if (P->model_tok) {
		error_at(kw->loc, "a second 'model' statement: the model is already named '%s' on line %d",
		         P->g->name, P->model_tok->loc.line);
		return false;
	}
	if (P->saw_statement)
		error_at(kw->loc, "'model NAME' must be the first statement of the file");
	Token *t = next(P);
	if (t->kind != TK_IDENT) {
		ir_unexpected(t, "expected the model's name after 'model'");
		return false;
	}
	P->model_tok = kw;
	if (!check_name(t, "model"))
		return false;
	snprintf(P->g->name, sizeof P->g->name, "%s", t->str);
	return true;
}

static bool parse_weights(Parser *P, const Token *kw)
{
	Graph *g = P->g;
	Token *t = next(P);
	if (t->kind != TK_STRING) {
		ir_unexpected(t, "expected a file path in double quotes after 'weights'");
		return false;
	}
	if (!t->str) /* a bad string, already reported */
		return false;
	if (g->weights_path) {
		error_at(kw->loc, "a second 'weights' statement: weights already come from line %d", g->weights_loc.line);
		return false;
	}
	if (t->str[0] == '\0') {
		error_at(t->loc, "expected a file path, saw an empty string");
		return false;
	}
	const char *model = g->src->path, *slash = strrchr(model, '/');
	if (t->str[0] == '/' || !slash)
		g->weights_path = t->str;
	else
		g->weights_path = ir_fmt("%.*s/%s", (int)(slash - model), model, t->str);
	g->weights_loc = t->loc;
	return true;
}

/* ": f32[D0, D1, ...]" of an input or param declaration, into tensor id (or nowhere if -1). */
static bool parse_type(Parser *P, int id)
{
	if (!expect_punct(P, ':', "and a type after the tensor's name (name : f32[dims])"))
		return false;
	Token *ty = next(P);
	if (ty->kind != TK_IDENT) {
		ir_unexpected(ty, "expected the element type f32");
		return false;
	}
	if (strcmp(ty->str, "f32") != 0) {
		error_at(ty->loc, "unsupported element type '%s': version 1 of the format has only f32", ty->str);
		return false;
	}
	if (!expect_punct(P, '[', "and the dimensions after f32"))
		return false;
	int64_t dims[IR_MAX_RANK];
	int rank = 0;
	bool ok = true;
	for (;;) {
		Token *d = next(P);
		if (d->kind != TK_INT) {
			ir_unexpected(d, "expected a dimension (a positive integer)");
			return false;
		}
		if (d->ival <= 0) {
			error_at(d->loc, "dimensions are positive integers, saw %lld", (long long)d->ival);
			ok = false;
		} else if (d->ival > (int64_t)1 << 31) {
			error_at(d->loc, "dimension %lld is too large (at most 2^31)", (long long)d->ival);
			ok = false;
		}
		if (rank == IR_MAX_RANK) {
			error_at(d->loc, "too many dimensions: tensors have rank 1 to %d", IR_MAX_RANK);
			return false;
		}
		dims[rank++] = d->ival;
		if (is_punct(peek(P), ']')) {
			next(P);
			break;
		}
		if (!expect_punct(P, ',', "or ']' after a dimension"))
			return false;
	}
	if (ok && id >= 0) {
		P->g->tensors[id].rank = rank;
		memcpy(P->g->tensors[id].dims, dims, sizeof dims);
	}
	return ok;
}

static bool parse_declaration(Parser *P, const Token *kw, TensorKind kind)
{
	Graph *g = P->g;
	Token *t = next(P);
	if (t->kind != TK_IDENT) {
		ir_unexpected(t, "expected a tensor name after '%s'", kw->str);
		return false;
	}
	int id = define_tensor(P, t, kind);
	if (id >= 0) {
		if (kind == TENSOR_INPUT) {
			g->tensors[id].input_index = g->ninputs;
			push_id(&g->inputs, &g->ninputs, &P->icap, id);
		} else {
			push_id(&g->params, &g->nparams, &P->pcap, id);
		}
	}
	return parse_type(P, id) && id >= 0;
}

static bool parse_output(Parser *P, const Token *kw)
{
	Graph *g = P->g;
	bool ok = true;
	for (bool first = true;; first = false) {
		Token *t = next(P);
		if (t->kind != TK_IDENT) {
			ir_unexpected(t, "expected a tensor name after '%s'", first ? "output" : ",");
			return false;
		}
		int id = ir_find_tensor(g, t->str);
		if (id < 0) {
			error_at(t->loc, "undefined tensor '%s': an output must be defined before the output statement", t->str);
			ok = false;
		} else if (g->tensors[id].output_index >= 0) {
			error_at(t->loc, "'%s' is already an output", t->str);
			ok = false;
		} else {
			g->tensors[id].output_index = g->noutputs;
			int cap = P->outcap;
			push_id(&g->outputs, &g->noutputs, &P->outcap, id);
			if (cap != P->outcap)
				g->output_locs = ir_xrealloc(g->output_locs, (size_t)P->outcap * sizeof *g->output_locs);
			g->output_locs[g->noutputs - 1] = t->loc;
		}
		if (!is_punct(peek(P), ','))
			return ok;
		next(P);
	}
}

/* One attribute value: an integer, a float, an identifier or a list of numbers. */
static bool parse_value(Parser *P, Attr *a)
{
	Token *t = next(P);
	a->vloc = t->loc;
	if (t->kind == TK_INT) {
		a->kind = ATTR_INT;
		a->i = t->ival;
		a->f = t->fval;
		return true;
	}
	if (t->kind == TK_FLOAT || is_word(t, "inf")) {
		a->kind = ATTR_FLOAT;
		a->f = t->kind == TK_FLOAT ? t->fval : HUGE_VAL;
		return true;
	}
	if (t->kind == TK_IDENT) {
		a->kind = ATTR_IDENT;
		a->ident = t->str;
		return true;
	}
	if (!is_punct(t, '[')) {
		ir_unexpected(t, "expected an attribute value (a number, a name or a list [...])");
		return false;
	}
	a->kind = ATTR_LIST;
	a->all_int = true;
	int cap = 0;
	if (is_punct(peek(P), ']')) {
		next(P);
		return true;
	}
	for (;;) {
		Token *v = next(P);
		bool isnum = v->kind == TK_INT || v->kind == TK_FLOAT || is_word(v, "inf");
		if (!isnum) {
			ir_unexpected(v, "expected a number in the list");
			return false;
		}
		if (a->n == cap) {
			cap = cap ? 2 * cap : 8;
			double *items = ir_alloc((size_t)cap * sizeof *items);
			Loc *locs = ir_alloc((size_t)cap * sizeof *locs);
			if (a->n) {
				memcpy(items, a->items, (size_t)a->n * sizeof *items);
				memcpy(locs, a->item_locs, (size_t)a->n * sizeof *locs);
			}
			a->items = items;
			a->item_locs = locs;
		}
		a->items[a->n] = v->kind == TK_IDENT ? HUGE_VAL : v->fval;
		a->item_locs[a->n++] = v->loc;
		a->all_int &= v->kind == TK_INT;
		if (is_punct(peek(P), ']')) {
			next(P);
			return true;
		}
		if (!expect_punct(P, ',', "or ']' in the list"))
			return false;
	}
}

static bool attr_allowed(OpKind kind, const char *name)
{
	const char *list = ir_ops[kind].attrs;
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static bool add_attr(Parser *P, Op *op, const Token *key)
{
	if (!attr_allowed(op->kind, key->str)) {
		const char *allowed = ir_ops[op->kind].attrs;
		if (*allowed)
			error_at(key->loc, "%s has no attribute '%s' (it takes: %s)", ir_ops[op->kind].name, key->str, allowed);
		else
			error_at(key->loc, "%s takes no attributes, saw '%s'", ir_ops[op->kind].name, key->str);
		return false;
	}
	const Attr *old = ir_attr(op, key->str);
	if (old) {
		error_at(key->loc, "attribute '%s' is given twice (first at column %d)", key->str, old->loc.col);
		return false;
	}
	Attr *a = &op->attrs[op->nattrs++];
	snprintf(a->name, sizeof a->name, "%s", key->str);
	a->loc = key->loc;
	return true;
}

/* The "(ARG, ..., key=VALUE, ...)" of an op. */
static bool parse_arguments(Parser *P, Op *op)
{
	Graph *g = P->g;
	bool ok = true;
	if (!expect_punct(P, '(', ir_fmt("after the operator name '%s'", ir_ops[op->kind].name)))
		return false;
	if (is_punct(peek(P), ')')) {
		next(P);
		return true;
	}
	for (;;) {
		Token *t = next(P);
		if (t->kind == TK_IDENT && is_punct(peek(P), '=')) {
			next(P);
			if (op->nattrs == IR_MAX_ARGS) {
				error_at(t->loc, "too many attributes");
				return false;
			}
			bool added = add_attr(P, op, t);
			Attr scratch = {0};
			if (!parse_value(P, added ? &op->attrs[op->nattrs - 1] : &scratch))
				return false;
			ok &= added;
		} else if (t->kind == TK_IDENT) {
			if (op->nattrs > 0) {
				error_at(t->loc, "tensor argument '%s' after attributes: tensor arguments come first", t->str);
				ok = false;
			} else if (op->nargs == IR_MAX_ARGS) {
				error_at(t->loc, "too many tensor arguments: at most %d", IR_MAX_ARGS);
				return false;
			} else {
				int id = ir_find_tensor(g, t->str);
				if (id < 0) {
					error_at(t->loc, "undefined tensor '%s': names must be defined before they are used", t->str);
					ok = false;
				}
				op->argloc[op->nargs] = t->loc;
				op->args[op->nargs++] = id;
			}
		} else {
			ir_unexpected(t, "expected a tensor name or key=value");
			return false;
		}
		if (is_punct(peek(P), ')')) {
			next(P);
			return ok;
		}
		if (!expect_punct(P, ',', "or ')' after an argument"))
			return false;
	}
}

static bool check_arg_count(const Op *op)
{
	const OpInfo *info = &ir_ops[op->kind];
	if (op->nargs >= info->min_args && op->nargs <= info->max_args)
		return true;
	if (info->min_args == info->max_args)
		error_at(op->loc, "%s takes %d tensor argument%s, saw %d", info->name, info->min_args,
		         info->min_args == 1 ? "" : "s", op->nargs);
	else if (info->max_args == IR_MAX_ARGS)
		error_at(op->loc, "%s takes at least %d tensor argument%s, saw %d", info->name, info->min_args,
		         info->min_args == 1 ? "" : "s", op->nargs);
	else
		error_at(op->loc, "%s takes %d to %d tensor arguments, saw %d", info->name, info->min_args,
		         info->max_args, op->nargs);
	return false;
}

static int find_op(const char *name)
{
	for (int k = 0; k < OP_COUNT; k++)
		if (strcmp(ir_ops[k].name, name) == 0)
			return k;
	return -1;
}

static void report_unknown_op(const Token *t)
{
	int best = -1, bestd = 3;
	for (int k = 0; k < OP_COUNT; k++) {
		int d = distance(t->str, ir_ops[k].name);
		if (d < bestd)
			bestd = d, best = k;
	}
	if (best >= 0)
		error_at(t->loc, "unknown operator '%s' (did you mean '%s'?)", t->str, ir_ops[best].name);
	else
		error_at(t->loc, "unknown operator '%s'", t->str);
}

/* The statement as written, on one line, without comments: for provenance comments. */
static char *statement_text(const Token *first, const Token *last)
{
	const char *s = first->start, *e = last->start + last->len;
	char *out = ir_alloc((size_t)(e - s) + 1), *o = out;
	bool space = false;
	for (const char *p = s; p < e; p++) {
		if (*p == '#') {
			while (p < e && *p != '\n')
				p++;
			space = true;
			continue;
		}
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			space = true;
			continue;
		}
		if (space && o > out && o[-1] != '(' && o[-1] != '[' && *p != ')' && *p != ']')
			*o++ = ' ';
		space = false;
		*o++ = *p;
	}
	*o = 0;
	return out;
}

/* NAME = OP(ARG, ..., key=VALUE, ...) */
static bool parse_assignment(Parser *P, Token *name)
{
	Graph *g = P->g;
	next(P); /* '=' */
	int id = define_tensor(P, name, TENSOR_VALUE);
	Token *optok = next(P);
	if (optok->kind != TK_IDENT) {
		ir_unexpected(optok, "expected an operator name after '='");
		return false;
	}
	int kind = find_op(optok->str);
	if (kind < 0) {
		report_unknown_op(optok);
		return false;
	}
	Op op = {.kind = kind, .loc = optok->loc, .stmt_loc = name->loc, .out = id};
	op.attrs = ir_alloc(IR_MAX_ARGS * sizeof *op.attrs);
	if (!parse_arguments(P, &op) || !check_arg_count(&op) || id < 0)
		return false;
	op.text = statement_text(name, P->prev);
	if (g->nops == P->ocap) {
		P->ocap = P->ocap ? 2 * P->ocap : 64;
		g->ops = ir_xrealloc(g->ops, (size_t)P->ocap * sizeof *g->ops);
	}
	g->tensors[id].producer = g->nops;
	g->ops[g->nops++] = op;
	return true;
}

static bool parse_statement(Parser *P)
{
	Token *t = next(P);
	bool first = !P->saw_statement;
	bool ok;
	if (t->kind == TK_IDENT && is_punct(peek(P), '='))
		ok = parse_assignment(P, t);
	else if (is_word(t, "model"))
		ok = parse_model(P, t);
	else if (is_word(t, "weights"))
		ok = parse_weights(P, t);
	else if (is_word(t, "input"))
		ok = parse_declaration(P, t, TENSOR_INPUT);
	else if (is_word(t, "param"))
		ok = parse_declaration(P, t, TENSOR_PARAM);
	else if (is_word(t, "output"))
		ok = parse_output(P, t);
	else {
		ir_unexpected(t, "expected a statement (model, weights, input, param, output, or NAME = OP(...))");
		ok = false;
	}
	P->saw_statement = true;
	if (first && !P->model_tok && !is_word(t, "model"))
		ir_unexpected(t, "expected 'model NAME' as the first statement");
	return ok;
}

/* After a failed statement: skip to the end of its line (the lexer drops newlines in brackets). */
static void skip_statement(Parser *P)
{
	while (peek(P)->kind != TK_NEWLINE && peek(P)->kind != TK_EOF)
		next(P);
}

static bool same_upper(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (toupper((unsigned char)*a) != toupper((unsigned char)*b))
			return false;
	return *a == *b;
}

static const char *upper(const char *s)
{
	char *u = ir_strdup(s);
	for (char *p = u; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

/* Two boundary tensors whose macro names would be the same (x and X -> M_X_ELEMS). */
static void check_macro_names(Parser *P)
{
	Graph *g = P->g;
	for (int i = 0; i < g->ntensors; i++) {
		const Tensor *a = &g->tensors[i];
		if (a->input_index < 0 && a->output_index < 0)
			continue;
		for (int j = 0; j < i; j++) {
			const Tensor *b = &g->tensors[j];
			if ((b->input_index < 0 && b->output_index < 0) || !same_upper(a->name, b->name))
				continue;
			error_at(a->loc, "'%s' and '%s' (line %d) would both give the macro %s_%s_ELEMS in the generated header; rename one",
			         a->name, b->name, b->loc.line, upper(g->name), upper(a->name));
		}
	}
}

Graph *ir_parse(const Source *src)
{
	int errors_before = ir_nerrors;
	Graph *g = ir_alloc(sizeof *g);
	g->src = src;
	Parser P = {.g = g};
	P.lex = ir_lexer(src);
	P.cur = ir_lex_next(P.lex);
	while (peek(&P)->kind != TK_EOF) {
		if (peek(&P)->kind == TK_NEWLINE) {
			next(&P);
			continue;
		}
		if (!parse_statement(&P)) {
			skip_statement(&P);
			continue;
		}
		if (peek(&P)->kind != TK_NEWLINE) {
			ir_unexpected(peek(&P), "expected the end of the statement");
			skip_statement(&P);
		}
	}
	Loc start = {src, 1, 1};
	if (!P.model_tok && !P.saw_statement)
		error_at(start, "expected 'model NAME' as the first statement, saw an empty file");
	Loc at = P.model_tok ? P.model_tok->loc : start;
	if (P.saw_statement && g->ninputs == 0)
		error_at(at, "the model has no input: expected at least one 'input NAME : f32[...]'");
	if (P.saw_statement && g->noutputs == 0)
		error_at(at, "the model has no output: expected an 'output NAME' statement");
	check_macro_names(&P);
	return ir_nerrors > errors_before ? NULL : g;
}

const Attr *ir_attr(const Op *op, const char *name)
{
	for (int i = 0; i < op->nattrs; i++)
		if (strcmp(op->attrs[i].name, name) == 0)
			return &op->attrs[i];
	return NULL;
}
