/* gen/emit.c: the one writer of generated text, and writing the output files.
 *
 * Every byte weft generates goes through a Buf (a growable string): emitf for formatted text,
 * buf_puts/buf_putn for plain text, gen_float for float literals. Growth doubles, so emitting
 * a model with millions of weights is linear. gen_write_files puts a set of Bufs on disk so that
 * either all files appear or none does.
 */
#include "gen.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Make room for n more bytes plus the NUL. */
static void reserve(Buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	b->data = ir_xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_putn(Buf *b, const char *s, size_t n)
{
	reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

void buf_puts(Buf *b, const char *s) { buf_putn(b, s, strlen(s)); }

void buf_putc(Buf *b, char ch) { buf_putn(b, &ch, 1); }

void emitf(Buf *b, const char *fmt, ...)
{
	va_list ap;
	reserve(b, 128);
	va_start(ap, fmt);
	int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("emitf: bad format \"%s\"", fmt);
	if ((size_t)n >= b->cap - b->len) {
		reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void buf_free(Buf *b)
{
	free(b->data);
	*b = (Buf){0};
}

/* A C99 float literal that reads back as exactly v: "%.9g" always round-trips a float; ".0" is
   added where the digits alone would be an integer constant, then the "f" suffix. Infinities
   are written with HUGE_VALF (math.h); a NaN as HUGE_VALF-HUGE_VALF, a constant expression gcc
   and clang accept in a static initializer under -pedantic. */
void gen_float(Buf *b, float v)
{
	if (isnan(v)) {
		buf_puts(b, "(HUGE_VALF-HUGE_VALF)");
		return;
	}
	if (isinf(v)) {
		buf_puts(b, v < 0 ? "-HUGE_VALF" : "HUGE_VALF");
		return;
	}
	char tmp[48];
	int n = snprintf(tmp, sizeof tmp, "%.9g", (double)v);
	bool is_int = true;
	for (int i = 0; i < n; i++)
		if (tmp[i] == '.' || tmp[i] == 'e' || tmp[i] == 'E')
			is_int = false;
	if (is_int) {
		tmp[n++] = '.';
		tmp[n++] = '0';
	}
	tmp[n++] = 'f';
	buf_putn(b, tmp, (size_t)n);
}

/* Write each buffer to a temporary file in dir, then rename them all into place. */
bool gen_write_files(const char *dir, int n, const char *const *names, const Buf *const *bufs)
{
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		error_plain("cannot create directory %s: %s", dir, strerror(errno));
		return false;
	}
	char **tmp = ir_alloc(sizeof *tmp * (size_t)(n > 0 ? n : 1));
	char **dst = ir_alloc(sizeof *dst * (size_t)(n > 0 ? n : 1));
	int written = 0;
	bool ok = true;
	for (int i = 0; i < n && ok; i++) {
		dst[i] = ir_fmt("%s/%s", dir, names[i]);
		tmp[i] = ir_fmt("%s/.%s.tmp%ld", dir, names[i], (long)getpid());
		FILE *f = fopen(tmp[i], "wb");
		if (!f) {
			error_plain("cannot write %s: %s", tmp[i], strerror(errno));
			ok = false;
			break;
		}
		written = i + 1;
		size_t len = bufs[i]->len;
		if ((len && fwrite(bufs[i]->data, 1, len, f) != len) || fflush(f) != 0) {
			error_plain("cannot write %s: %s", tmp[i], strerror(errno));
			ok = false;
		}
		if (fclose(f) != 0 && ok) {
			error_plain("cannot write %s: %s", tmp[i], strerror(errno));
			ok = false;
		}
	}
	for (int i = 0; i < n && ok; i++) {
		if (rename(tmp[i], dst[i]) != 0) {
			error_plain("cannot write %s: %s", dst[i], strerror(errno));
			ok = false;
		}
	}
	if (!ok)
		for (int i = 0; i < written; i++)
			unlink(tmp[i]); /* those already renamed are gone under this name: harmless */
	return ok;
}
