/* ir/attrs.c: reading an op's attributes, as written, into numbers, for infer.c.
 *
 * The parser has already checked that every attribute name is allowed for its op and given at
 * most once; here each value is checked for its type and range. Every reader reports its own
 * mistakes ("OP: NAME: expected ..., saw ...") at the most precise position (a list item's own
 * position where one item is wrong), marks the op as failed, and leaves the default in place so
 * that the other attributes of the op are still checked.
 */
#include "ir.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

void ir_op_error(InferCtx *c, Loc loc, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	error_at(loc, "%s: %s", ir_ops[c->op->kind].name, buf);
	c->failed = true;
}

/* "[64, 32, 3, 3]" */
const char *ir_shape_str(int rank, const int64_t *dims)
{
	char buf[IR_MAX_RANK * 24 + 8];
	int n = snprintf(buf, sizeof buf, "[");
	for (int i = 0; i < rank && i < IR_MAX_RANK; i++)
		n += snprintf(buf + n, sizeof buf - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
	snprintf(buf + n, sizeof buf - n, "]");
	return ir_strdup(buf);
}

/* The text of the token at loc in its source, e.g. "1.5" or "1e-5", so that messages show a
   number as the user wrote it; NULL without a source. */
static const char *token_text(Loc loc)
{
	if (!loc.src)
		return NULL;
	const char *p = loc.src->text;
	for (int line = 1; line < loc.line && *p; p++)
		if (*p == '\n')
			line++;
	for (int i = 1; i < loc.col && *p && *p != '\n'; i++)
		p++;
	const char *end = p;
	while (*end && !strchr(" \t\r\n,)]#", *end))
		end++;
	if (end == p)
		return NULL;
	return ir_strndup(p, (size_t)(end - p));
}

/* Was item i of a list written as an integer? The parser records this only for the whole
   list (all_int), so look at the item's text: a decimal integer is an optional '-' and digits. */
static bool item_is_int(const Attr *a, int i)
{
	if (a->all_int)
		return true;
	const char *s = token_text(a->item_locs[i]);
	if (!s)
		return a->items[i] == floor(a->items[i]);
	if (*s == '-')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static const char *number_str(Loc loc, double v)
{
	const char *s = token_text(loc);
	return s ? s : ir_fmt("%g", v);
}

/* What the user wrote, for "saw ...": the value, or "a list of 3 items". */
const char *ir_attr_seen(const Attr *a)
{
	switch (a->kind) {
	case ATTR_INT:
		return ir_fmt("%lld", (long long)a->i);
	case ATTR_FLOAT:
		return number_str(a->vloc, a->f);
	case ATTR_LIST:
		return ir_fmt("a list of %d item%s", a->n, a->n == 1 ? "" : "s");
	case ATTR_IDENT:
		return ir_fmt("'%s'", a->ident);
	}
	return "?";
}

/* Item i of a list attribute (or the attribute itself when i < 0) as an integer in [lo, hi]. */
bool ir_attr_int_at(InferCtx *c, const Attr *a, int i, int64_t lo, int64_t hi, int64_t *out)
{
	Loc loc = i < 0 ? a->vloc : a->item_locs[i];
	bool is_int = i < 0 ? a->kind == ATTR_INT : item_is_int(a, i);
	if (!is_int) {
		const char *seen = i < 0 ? ir_attr_seen(a) : number_str(loc, a->items[i]);
		ir_op_error(c, loc, "%s: expected an integer, saw %s", a->name, seen);
		return false;
	}
	double v = i < 0 ? (double)a->i : a->items[i];
	if (v >= lo && v <= hi) {
		*out = i < 0 ? a->i : (int64_t)v;
		return true;
	}
	const char *seen = i < 0 ? ir_fmt("%lld", (long long)a->i) : number_str(loc, v);
	if (lo == 0 && hi == 1)
		ir_op_error(c, loc, "%s: expected 0 or 1, saw %s", a->name, seen);
	else if (v < lo && hi == IR_ATTR_MAX)
		ir_op_error(c, loc, "%s: expected an integer >= %lld, saw %s", a->name, (long long)lo, seen);
	else if (hi == IR_ATTR_MAX)
		ir_op_error(c, loc, "%s: %s is too large (at most %lld)", a->name, seen, (long long)hi);
	else
		ir_op_error(c, loc, "%s: expected an integer from %lld to %lld, saw %s", a->name,
			(long long)lo, (long long)hi, seen);
	return false;
}

/* An integer attribute in [lo, hi]; def when not given. */
int64_t ir_get_int(InferCtx *c, const char *name, int64_t def, int64_t lo, int64_t hi)
{
	const Attr *a = ir_attr(c->op, name);
	int64_t v;
	if (a && ir_attr_int_at(c, a, -1, lo, hi, &v))
		return v;
	return def;
}

bool ir_get_bool(InferCtx *c, const char *name)
{
	return ir_get_int(c, name, 0, 0, 1) != 0;
}

/* A number (an integer is accepted where a float is expected); def when not given. */
double ir_get_float(InferCtx *c, const char *name, double def)
{
	const Attr *a = ir_attr(c->op, name);
	if (!a)
		return def;
	if (a->kind == ATTR_INT || a->kind == ATTR_FLOAT)
		return a->f;
	ir_op_error(c, a->vloc, "%s: expected a number, saw %s", a->name, ir_attr_seen(a));
	return def;
}

/* An integer or [h, w], each >= lo (stride, dilation, kernel); out untouched when not given.
   locs (if not NULL) receive the position of each value. Returns whether it was given and valid. */
bool ir_get_pair(InferCtx *c, const char *name, int64_t lo, int out[2], Loc locs[2])
{
	const Attr *a = ir_attr(c->op, name);
	if (!a)
		return false;
	int64_t v[2];
	if (a->kind == ATTR_LIST) {
		if (a->n != 2) {
			ir_op_error(c, a->vloc, "%s: expected an integer or a list of 2 integers [h, w], saw %s",
				name, ir_attr_seen(a));
			return false;
		}
		bool ok0 = ir_attr_int_at(c, a, 0, lo, IR_ATTR_MAX, &v[0]);
		bool ok1 = ir_attr_int_at(c, a, 1, lo, IR_ATTR_MAX, &v[1]);
		if (!ok0 || !ok1)
			return false;
		if (locs)
			locs[0] = a->item_locs[0], locs[1] = a->item_locs[1];
	} else {
		if (!ir_attr_int_at(c, a, -1, lo, IR_ATTR_MAX, &v[0]))
			return false;
		v[1] = v[0];
		if (locs)
			locs[0] = locs[1] = a->vloc;
	}
	out[0] = (int)v[0];
	out[1] = (int)v[1];
	return true;
}

/* Padding of conv and pools: an integer (all four sides), [ph, pw] or [top, left, bottom, right],
   each >= 0; zero when not given. locs receive the position of each side's value. */
void ir_get_pad4(InferCtx *c, const char *name, int out[4], Loc locs[4])
{
	const Attr *a = ir_attr(c->op, name);
	for (int i = 0; i < 4; i++) {
		out[i] = 0;
		locs[i] = a ? a->vloc : c->op->loc;
	}
	if (!a)
		return;
	int64_t v[4] = {0, 0, 0, 0};
	if (a->kind == ATTR_LIST) {
		if (a->n != 2 && a->n != 4) {
			ir_op_error(c, a->vloc,
				"%s: expected an integer, [ph, pw] or [top, left, bottom, right], saw %s",
				name, ir_attr_seen(a));
			return;
		}
		bool ok = true;
		for (int i = 0; i < a->n; i++)
			ok &= ir_attr_int_at(c, a, i, 0, IR_ATTR_MAX, &v[i]);
		if (!ok)
			return;
		for (int i = 0; i < 4; i++) {
			int j = a->n == 2 ? i % 2 : i;
			out[i] = (int)v[j];
			locs[i] = a->item_locs[j];
		}
		return;
	}
	if (!ir_attr_int_at(c, a, -1, 0, IR_ATTR_MAX, &v[0]))
		return;
	for (int i = 0; i < 4; i++)
		out[i] = (int)v[0];
}

/* A list attribute of exactly n integers in [lo, hi] (n < 0: any length from 1 to
   IR_MAX_RANK; what says what the list is, for the message). Returns the length, or -1. */
int ir_get_int_list(InferCtx *c, const Attr *a, int n, const char *what, int64_t lo, int64_t hi,
	int64_t *out)
{
	if (a->kind != ATTR_LIST) {
		ir_op_error(c, a->vloc, "%s: expected %s, saw %s", a->name, what, ir_attr_seen(a));
		return -1;
	}
	if ((n >= 0 && a->n != n) || (n < 0 && (a->n < 1 || a->n > IR_MAX_RANK))) {
		ir_op_error(c, a->vloc, "%s: expected %s, saw %s", a->name, what, ir_attr_seen(a));
		return -1;
	}
	bool ok = true;
	for (int i = 0; i < a->n; i++)
		ok &= ir_attr_int_at(c, a, i, lo, hi, &out[i]);
	return ok ? a->n : -1;
}
