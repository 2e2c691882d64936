/* gen/templates.c: per-target tables of C text, read from templates/TARGET.tpl.
 *
 * A table is a text file: "#" comment lines before the first entry, then entries. An entry is
 * "@key" on a line of its own, followed by its text up to the next line starting with "@" (or
 * the end of the file); the text's trailing newlines are dropped. In the text, $1, $2 and $3
 * stand for the generator's arguments (see gen_expand). A missing or malformed table is an
 * install problem or a weft bug, never the user's: it dies naming the path.
 *
 * An entry whose key starts with "weft_" is a helper: the C definition of the static function
 * of that name, which other entries' text calls (a vector exp is a few dozen instructions, too
 * many for one expression). The generator defines, once per file, exactly the helpers its code
 * names (gen_template_helpers): an unused static function is a warning.
 */
#include "gen.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Entry {
	char *key;
	char *text;
} Entry;

struct Templates {
	char *target;
	char *path;
	Entry *e;
	int n;
	Templates *next; /* loaded tables are kept for the life of the process */
};

static Templates *loaded;

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory of the running weft binary, or NULL. */
static char *exe_dir(void)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	char *slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	return buf;
}

const char *gen_template_dir(void)
{
	static char *dir;
	if (dir)
		return dir;
	const char *env = getenv("WEFT_TEMPLATES");
	if (env && *env)
		return dir = strdup(env);
	const char *exe = exe_dir();
	if (exe) {
		static char buf[PATH_MAX + 64];
		snprintf(buf, sizeof buf, "%s/templates", exe);
		if (is_dir(buf))
			return dir = strdup(buf);
		snprintf(buf, sizeof buf, "%s/../share/weft/templates", exe);
		if (is_dir(buf))
			return dir = strdup(buf);
	}
#ifdef WEFT_SOURCE_TEMPLATES
	return dir = strdup(WEFT_SOURCE_TEMPLATES);
#else
	return dir = strdup("templates");
#endif
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = ir_xrealloc(NULL, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/* Split a table's text into entries. */
static void parse_table(Templates *t, const char *text)
{
	const char *p = text;
	int cap = 0;
	Entry *cur = NULL;
	const char *body = NULL;
	for (;;) {
		const char *eol = strchr(p, '\n');
		const char *next = eol ? eol + 1 : p + strlen(p);
		bool at_end = *p == 0;
		if (at_end || *p == '@') {
			if (cur) {
				const char *end = p;
				while (end > body && (end[-1] == '\n' || end[-1] == '\r'))
					end--;
				cur->text = xstrndup(body, (size_t)(end - body));
			}
			if (at_end)
				break;
			const char *k = p + 1, *ke = eol ? eol : next;
			while (ke > k && (ke[-1] == '\r' || ke[-1] == ' ' || ke[-1] == '\t'))
				ke--;
			if (ke == k)
				die("%s: an entry with no key (\"@\" alone on a line)", t->path);
			if (t->n == cap)
				t->e = ir_xrealloc(t->e, sizeof *t->e * (size_t)(cap = cap ? 2 * cap : 32));
			cur = &t->e[t->n++];
			cur->key = xstrndup(k, (size_t)(ke - k));
			cur->text = NULL;
			body = next;
		} else if (!cur && *p != '#' && *p != '\n' && *p != '\r') {
			die("%s: text before the first \"@key\" line", t->path);
		}
		p = next;
	}
	if (t->n == 0)
		die("%s: no entries", t->path);
}

Templates *gen_load_templates(const char *target)
{
	for (Templates *t = loaded; t; t = t->next)
		if (strcmp(t->target, target) == 0)
			return t;
	Templates *t = ir_xrealloc(NULL, sizeof *t);
	*t = (Templates){0};
	t->target = strdup(target);
	size_t len = strlen(gen_template_dir()) + strlen(target) + 8;
	t->path = ir_xrealloc(NULL, len);
	snprintf(t->path, len, "%s/%s.tpl", gen_template_dir(), target);
	char *text;
	size_t n;
	if (!ir_read_file(t->path, &text, &n))
		die("cannot read the template table %s: %s (is weft installed? set WEFT_TEMPLATES to its templates directory)",
		    t->path, strerror(errno));
	parse_table(t, text);
	free(text);
	t->next = loaded;
	loaded = t;
	return t;
}

const char *gen_template_find(const Templates *t, const char *key)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->e[i].key, key) == 0)
			return t->e[i].text;
	return NULL;
}

const char *gen_template(const Templates *t, const char *key)
{
	const char *s = gen_template_find(t, key);
	if (!s)
		die("%s: no entry \"@%s\"", t->path, key);
	return s;
}

void gen_expand(Buf *b, const char *tpl, const char *a1, const char *a2, const char *a3)
{
	gen_expand4(b, tpl, a1, a2, a3, NULL);
}

void gen_expand4(Buf *b, const char *tpl, const char *a1, const char *a2, const char *a3, const char *a4)
{
	const char *args[4] = {a1, a2, a3, a4};
	const char *p = tpl;
	for (;;) {
		const char *d = strchr(p, '$');
		if (!d) {
			buf_puts(b, p);
			return;
		}
		buf_putn(b, p, (size_t)(d - p));
		if (d[1] >= '1' && d[1] <= '4') {
			const char *a = args[d[1] - '1'];
			if (!a)
				die("template \"%s\" uses $%c but no argument was given", tpl, d[1]);
			buf_puts(b, a);
			p = d + 2;
		} else {
			buf_putc(b, '$');
			p = d + 1;
		}
	}
}

/* ---- helper functions ---- */

static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Mark the helpers that text names (whole identifiers), and those they name in turn. text is
   helper `from`'s own, or the generated code's (from < 0). A helper may call only helpers above
   it in the table, so that table order defines every helper before its callers. */
static void mark_helpers(const Templates *t, const char *text, bool *used, int from)
{
	for (const char *p = strstr(text, "weft_"); p; p = strstr(p, "weft_")) {
		const char *e = p;
		while (ident_char(*e))
			e++;
		size_t len = (size_t)(e - p);
		bool whole = p == text || !ident_char(p[-1]);
		for (int i = 0; i < t->n && whole; i++) {
			if (i == from || strncmp(t->e[i].key, p, len) != 0 || t->e[i].key[len])
				continue;
			if (from >= 0 && i > from)
				die("%s: helper %s calls %s, which comes after it", t->path, t->e[from].key, t->e[i].key);
			if (!used[i]) {
				used[i] = true;
				mark_helpers(t, t->e[i].text, used, i);
			}
		}
		p = e;
	}
}

void gen_template_helpers(Buf *b, const Templates *t, const char *text)
{
	bool *used = ir_xrealloc(NULL, sizeof(bool) * (size_t)t->n);
	memset(used, 0, sizeof(bool) * (size_t)t->n);
	mark_helpers(t, text ? text : "", used, -1);
	for (int i = 0; i < t->n; i++)
		if (used[i])
			emitf(b, "\n%s\n", t->e[i].text);
	free(used);
}
