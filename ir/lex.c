/* ir/lex.c: tokens of the model format (spec/model-format.md, "Lexical rules").
 *
 * The whole file is tokenized at once. A newline ends a statement unless a '(' or '[' is open,
 * so continuation lines need no marker. Lexical errors are reported and the bad bytes skipped,
 * so the parser still sees the rest of the file and every error of a file comes out in one run.
 */
#include "ir.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct Lexer {
	const Source *src;
	const char *p;      /* next byte */
	int line;
	const char *bol;    /* beginning of the current line */
	int depth;          /* open ( and [ */
	bool ended;         /* the final TK_NEWLINE has been given */
	bool sched;         /* a schedule file: '.' and ';' are punctuation too */
	Token *tok;         /* the token being made by the current call */
};

static Loc here(const Lexer *L, const char *at)
{
	return (Loc){L->src, L->line, (int)(at - L->bol) + 1};
}

static Token *push(Lexer *L, TokKind kind, const char *start, const char *end)
{
	Token *t = ir_alloc(sizeof *t);
	L->tok = t;
	t->kind = kind;
	t->loc = here(L, start);
	t->start = start;
	t->len = (int)(end - start);
	return t;
}

static bool is_ident_start(int c) { return isalpha(c) || c == '_'; }
static bool is_ident_char(int c) { return isalnum(c) || c == '_'; }

static const char *lex_ident(Lexer *L, const char *s)
{
	const char *e = s;
	while (is_ident_char((unsigned char)*e))
		e++;
	Token *t = push(L, TK_IDENT, s, e);
	t->str = ir_strndup(s, (size_t)(e - s));
	if (e - s > IR_MAX_NAME)
		error_at(t->loc, "name is %d characters long; at most %d are allowed", (int)(e - s), IR_MAX_NAME);
	return e;
}

/* The end of a number's body: digits (hex digits when hex), an optional '.' and more digits, an
   optional exponent ('e' for decimal, 'p' for C99 hex floats) whose digits are always decimal. */
static const char *scan_number(const char *e, bool hex, bool *has_point, bool *has_exp)
{
	int (*is_digit)(int) = hex ? isxdigit : isdigit;
	char exp = hex ? 'p' : 'e';
	while (is_digit((unsigned char)*e))
		e++;
	if (*e == '.') {
		*has_point = true;
		e++;
		while (is_digit((unsigned char)*e))
			e++;
	}
	if (tolower((unsigned char)*e) == exp) {
		const char *q = e + 1;
		if (*q == '+' || *q == '-')
			q++;
		if (isdigit((unsigned char)*q)) {
			*has_exp = true;
			e = q;
			while (isdigit((unsigned char)*e))
				e++;
		}
	}
	return e;
}

/* s points at a digit, a '.', or a '-' followed by one of them. */
static const char *lex_number(Lexer *L, const char *s)
{
	const char *d = *s == '-' ? s + 1 : s;
	bool hex = d[0] == '0' && (d[1] == 'x' || d[1] == 'X');
	bool has_point = false, has_exp = false;
	const char *e = scan_number(hex ? d + 2 : d, hex, &has_point, &has_exp);
	bool bad_tail = is_ident_char((unsigned char)*e) || *e == '.';
	while (is_ident_char((unsigned char)*e) || *e == '.')
		e++;
	char *text = ir_strndup(s, (size_t)(e - s));
	Token *t = push(L, TK_FLOAT, s, e);
	if (bad_tail || (hex && !has_exp))
		t->kind = TK_ERROR;
	if (bad_tail) {
		error_at(t->loc, "malformed number '%s'", text);
		return e;
	}
	if (hex && !has_exp) {
		error_at(t->loc, "hex number '%s' needs a 'p' exponent: integers are decimal, hex is only for floats (0x1.8p+1)", text);
		return e;
	}
	if (!hex && !has_point && !has_exp) {
		t->kind = TK_INT;
		errno = 0;
		t->ival = strtoll(text, NULL, 10);
		if (errno == ERANGE) {
			error_at(t->loc, "integer %s is out of range", text);
			t->kind = TK_ERROR;
		}
		t->fval = (double)t->ival;
		return e;
	}
	t->fval = strtod(text, NULL); /* weft never calls setlocale: "C" decimal point */
	return e;
}

static const char *lex_string(Lexer *L, const char *s)
{
	size_t cap = 64, n = 0;
	char *buf = ir_xrealloc(NULL, cap);
	const char *e = s + 1;
	bool ok = true;
	for (;;) {
		if (*e == '\0' || *e == '\n' || *e == '\r') {
			error_at(here(L, s), "unterminated string: expected a closing '\"' before the end of the line");
			ok = false;
			break;
		}
		if (*e == '"') {
			e++;
			break;
		}
		char c = *e++;
		if (c == '\\') {
			if (*e == '"' || *e == '\\') {
				c = *e++;
			} else {
				error_at(here(L, e - 1), "unknown escape '\\%c' in string: only \\\" and \\\\ are allowed", *e ? *e : ' ');
				ok = false;
				if (*e && *e != '\n')
					e++;
				continue;
			}
		}
		if (n + 2 > cap)
			buf = ir_xrealloc(buf, cap *= 2);
		buf[n++] = c;
	}
	Token *t = push(L, ok ? TK_STRING : TK_ERROR, s, e);
	t->str = ir_strndup(buf, n);
	free(buf);
	return e;
}

/* Report an unexpected byte; for a UTF-8 sequence, report it whole and skip it whole. */
static const char *lex_bad_char(Lexer *L, const char *s)
{
	unsigned char c = (unsigned char)*s;
	int len = 1;
	push(L, TK_ERROR, s, s + 1);
	if (c >= 0xC0)
		while ((s[len] & 0xC0) == 0x80 && len < 4)
			len++;
	if (c >= 0x80)
		error_at(here(L, s), "unexpected character '%.*s': expected a name, a number or one of = : , ( ) [ ]", len, s);
	else if (isprint(c))
		error_at(here(L, s), "unexpected character '%c': expected a name, a number or one of = : , ( ) [ ]", c);
	else
		error_at(here(L, s), "unexpected control byte 0x%02x", c);
	return s + len;
}

/* Does the line at s start a new statement? Only asked inside an open bracket: a line that begins
   "NAME NAME", "NAME \"..." (input, param, output, model, weights) or "NAME = NAME (" cannot
   continue an argument list, so the bracket before it was left open by mistake. */
static bool starts_statement(const char *s)
{
	if (!is_ident_start((unsigned char)*s))
		return false;
	while (is_ident_char((unsigned char)*s))
		s++;
	while (*s == ' ' || *s == '\t')
		s++;
	if (is_ident_start((unsigned char)*s) || *s == '"')
		return true;
	if (*s != '=')
		return false;
	for (s++; *s == ' ' || *s == '\t'; s++)
		;
	if (!is_ident_start((unsigned char)*s))
		return false;
	while (is_ident_char((unsigned char)*s))
		s++;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '(';
}

/* A line break at s: ends the statement unless a bracket is open. */
static bool newline(Lexer *L, const char *s)
{
	const char *next = s + 1 + (*s == '\r' && s[1] == '\n');
	if (L->depth > 0 && (L->sched || starts_statement(next)))
		L->depth = 0; /* the parser reports the missing ')' or ']' at this newline */
	bool ends = L->depth == 0;
	if (ends)
		push(L, TK_NEWLINE, s, s);
	L->line++;
	L->bol = next;
	L->p = next;
	return ends;
}

Lexer *ir_lexer(const Source *src)
{
	Lexer *L = ir_alloc(sizeof *L);
	L->src = src;
	L->p = src->text;
	L->line = 1;
	L->bol = src->text;
	return L;
}

/* Schedule files (schedtext.c) share the model's lexical rules, plus '.' between a tensor and
   its stage ("t1.update") and ';' between directives on one line. */
Lexer *ir_lexer_sched(const Source *src)
{
	Lexer *L = ir_lexer(src);
	L->sched = true;
	return L;
}

/* Lex one token at L->p; false if there was only blank space or a comment. */
static bool lex_one(Lexer *L)
{
	const char *s = L->p;
	unsigned char c = (unsigned char)*s;
	if (c == '\n' || c == '\r')
		return newline(L, s);
	if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
		L->p = s + 1;
		return false;
	}
	if (c == '#') {
		while (*s && *s != '\n' && *s != '\r')
			s++;
		L->p = s;
		return false;
	}
	if (is_ident_start(c)) {
		L->p = lex_ident(L, s);
	} else if (isdigit(c) || (c == '.' && isdigit((unsigned char)s[1])) ||
	           (c == '-' && (isdigit((unsigned char)s[1]) || (s[1] == '.' && isdigit((unsigned char)s[2]))))) {
		L->p = lex_number(L, s);
	} else if (c == '-' && strncmp(s + 1, "inf", 3) == 0 && !is_ident_char((unsigned char)s[4])) {
		Token *t = push(L, TK_FLOAT, s, s + 4);
		t->fval = -HUGE_VAL;
		L->p = s + 4;
	} else if (c == '"') {
		L->p = lex_string(L, s);
	} else if (strchr("=:,()[]", c) || (L->sched && (c == '.' || c == ';'))) {
		Token *t = push(L, TK_PUNCT, s, s + 1);
		t->punct = (char)c;
		if (c == '(' || c == '[')
			L->depth++;
		else if ((c == ')' || c == ']') && L->depth > 0)
			L->depth--;
		else if (c == ';')
			L->depth = 0; /* a ';' ends a schedule directive even after a missing ')' */
		L->p = s + 1;
	} else {
		L->p = lex_bad_char(L, s);
	}
	return true;
}

Token *ir_lex_next(Lexer *L)
{
	while (*L->p)
		if (lex_one(L))
			return L->tok;
	/* End of file: end the last statement once, then TK_EOF forever. */
	Token *t = push(L, L->ended ? TK_EOF : TK_NEWLINE, L->p, L->p);
	L->ended = true;
	return t;
}

/* How a token reads in "expected X, saw Y" (the model and schedule parsers). */
const char *ir_tok_describe(const Token *t)
{
	switch (t->kind) {
	case TK_NEWLINE: return "end of line";
	case TK_EOF: return "end of file";
	case TK_STRING: return "a string";
	default: return ir_fmt("'%.*s'", t->len, t->start);
	}
}

bool ir_unexpected(const Token *t, const char *fmt, ...)
{
	if (t->kind == TK_ERROR) /* bad text the lexer has already reported */
		return false;
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	error_at(t->loc, "%s, saw %s", msg, ir_tok_describe(t));
	return false;
}
