/* ir/util.c: diagnostics, the arena, and reading files.
 *
 * Two error channels (DESIGN.md): error_at for the user's mistakes, with the file, line, column,
 * the source line and a caret; die() for weft's own bugs. Everything weft allocates for a model
 * comes from one arena, released at once by ir_arena_reset.
 */
#include "ir.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int ir_nerrors;

/* Print the line of loc and a caret under its column. Tabs are kept so the caret lines up. */
static void print_caret(Loc loc)
{
	const char *text = loc.src->text;
	const char *p = text;
	for (int line = 1; line < loc.line && *p; p++)
		if (*p == '\n')
			line++;
	const char *end = p;
	while (*end && *end != '\n' && *end != '\r')
		end++;
	fprintf(stderr, "%.*s\n", (int)(end - p), p);
	for (int i = 0; i < loc.col - 1 && p + i < end; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '\t')
			fputc('\t', stderr);
		else if ((ch & 0xC0) != 0x80) /* one column per UTF-8 character, not per byte */
			fputc(' ', stderr);
	}
	fputs("^\n", stderr);
}

static void vdiag(Loc loc, const char *kind, const char *fmt, va_list ap)
{
	if (loc.src)
		fprintf(stderr, "%s:%d:%d: %s: ", loc.src->path, loc.line, loc.col, kind);
	else
		fprintf(stderr, "weft: %s: ", kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (loc.src)
		print_caret(loc);
}

void error_at(Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(loc, "error", fmt, ap);
	va_end(ap);
	ir_nerrors++;
}

void error_plain(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag((Loc){0}, "error", fmt, ap);
	va_end(ap);
	ir_nerrors++;
}

void note_at(Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(loc, "note", fmt, ap);
	va_end(ap);
}

void warn_at(Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdiag(loc, "warning", fmt, ap);
	va_end(ap);
}

_Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("weft: internal error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* ---- the arena: a list of large blocks, bump-allocated ---- */

typedef struct Block {
	struct Block *next;
	size_t used, size;
	_Alignas(max_align_t) unsigned char data[];
} Block;

static Block *arena;

void *ir_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (!arena || arena->size - arena->used < n) {
		size_t size = n > (1u << 20) ? n : (1u << 20);
		Block *b = malloc(sizeof *b + size);
		if (!b)
			die("out of memory (%zu bytes)", n);
		b->next = arena;
		b->used = 0;
		b->size = size;
		arena = b;
	}
	void *p = arena->data + arena->used;
	arena->used += n;
	memset(p, 0, n);
	return p;
}

void ir_arena_reset(void)
{
	while (arena) {
		Block *next = arena->next;
		free(arena);
		arena = next;
	}
}

char *ir_strndup(const char *s, size_t n)
{
	char *p = ir_alloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *ir_strdup(const char *s) { return ir_strndup(s, strlen(s)); }

char *ir_fmt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = ir_alloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void *ir_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* ---- files ---- */

bool ir_read_file(const char *path, char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	size_t cap = 1 << 16, n = 0;
	char *buf = ir_xrealloc(NULL, cap);
	for (;;) {
		if (n + 1 >= cap)
			buf = ir_xrealloc(buf, cap *= 2);
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	int err = ferror(f) ? errno : 0;
	fclose(f);
	if (err) {
		free(buf);
		errno = err;
		return false;
	}
	buf[n] = 0;
	*data = buf;
	*len = n;
	return true;
}

Source *ir_read_source(const char *path)
{
	char *text;
	size_t len;
	if (!ir_read_file(path, &text, &len)) {
		error_plain("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (strlen(text) != len) {
		error_plain("%s: contains a NUL byte; a model is UTF-8 text", path);
		free(text);
		return NULL;
	}
	Source *s = ir_alloc(sizeof *s);
	s->path = ir_strdup(path);
	s->text = text;
	s->len = len;
	return s;
}
