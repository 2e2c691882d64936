/* tune/log.c: the tuning log: one JSON object per line, one line per trial.
 *
 *   {"workload": KEY, "target": "native", "cc": "gcc (Debian 12.2.0-14) 12.2.0",
 *    "flags": "-O3 -std=c99 -march=native", "cpu": "Intel(R) Xeon(R) ...", "timing": "warm",
 *    "sched": "y.update: split(k, 16, guard); ...", "status": "ok", "median_ns": 1234.5,
 *    "trial": 7, "origin": "model", "predicted": 7.1}
 *
 * A record of a schedule timed beside the default in one process, run by run (weft tune's
 * confirming runs), also holds "vs_default": the median of its time over the default's,
 * before "predicted".
 *
 * status is ok, invalid (weft rejected the schedule or failed generating it), compile_error,
 * compile_timeout, crash, timeout, wrong or run_error; median_ns counts only for ok. Appending
 * takes an exclusive flock on the log and writes the whole line with one write(), after a
 * newline if the file does not end with one (a torn line from a killed writer), so two tuners
 * on one log never interleave and a kill loses at most the trial in flight. Reading skips every
 * line that is not a complete record, with a warning naming its line.
 */
#include "tune.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writing ---- */

static char *json_string(const char *s)
{
	size_t n = strlen(s ? s : "");
	char *out = ir_alloc(n * 6 + 3), *p = out;
	*p++ = '"';
	for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
		if (*c == '"' || *c == '\\') {
			*p++ = '\\';
			*p++ = (char)*c;
		} else if (*c == '\n') {
			*p++ = '\\', *p++ = 'n';
		} else if (*c == '\t') {
			*p++ = '\\', *p++ = 't';
		} else if (*c < 0x20) {
			p += sprintf(p, "\\u%04x", *c);
		} else {
			*p++ = (char)*c;
		}
	}
	*p++ = '"';
	*p = 0;
	return out;
}

static char *record_line(const TuneRecord *r)
{
	return ir_fmt("{\"workload\": %s, \"target\": %s, \"cc\": %s, \"flags\": %s, \"cpu\": %s, "
	              "\"timing\": %s, \"sched\": %s, \"status\": %s, \"median_ns\": %.1f, \"trial\": %d, "
	              "\"origin\": %s, %s\"predicted\": %s}\n",
	              json_string(r->workload), json_string(r->target), json_string(r->cc),
	              json_string(r->flags), json_string(r->cpu),
	              json_string(r->timing ? r->timing : "warm"), json_string(r->sched),
	              json_string(r->status), r->median_ns, r->trial, json_string(r->origin),
	              isnan(r->vs_default) ? "" : ir_fmt("\"vs_default\": %.5f, ", r->vs_default),
	              isnan(r->predicted) ? "null" : ir_fmt("%.4f", r->predicted));
}

static bool write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

bool tune_log_append(const char *path, const TuneRecord *r)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT, 0644);
	if (fd < 0) {
		error_plain("cannot open the log %s: %s", path, strerror(errno));
		return false;
	}
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	struct stat st;
	char last = '\n';
	if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	const char *line = record_line(r);
	bool ok = (last == '\n' || write_all(fd, "\n", 1)) && write_all(fd, line, strlen(line));
	if (ok)
		fdatasync(fd);
	flock(fd, LOCK_UN);
	close(fd);
	if (!ok)
		error_plain("cannot write the log %s: %s", path, strerror(errno));
	return ok;
}

/* ---- reading: a small JSON object parser (strings, numbers, true, false, null) ---- */

typedef struct J {
	const char *p;
} J;

static void ws(J *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\r')
		j->p++;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static char *parse_string(J *j)
{
	if (*j->p != '"')
		return NULL;
	j->p++;
	size_t cap = 64, n = 0;
	char *s = malloc(cap);
	for (;;) {
		char c = *j->p++;
		if (c == 0 || c == '\n') {
			free(s);
			return NULL;
		}
		if (c == '"')
			break;
		if (c == '\\') {
			char e = *j->p++;
			switch (e) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case '"': case '\\': case '/': c = e; break;
			case 'u': {
				int v = 0;
				for (int k = 0; k < 4; k++) {
					int h = hexval(*j->p++);
					if (h < 0) {
						free(s);
						return NULL;
					}
					v = v * 16 + h;
				}
				c = v < 0x80 ? (char)v : '?';
				break;
			}
			default: free(s); return NULL;
			}
		}
		if (n + 2 > cap)
			s = ir_xrealloc(s, cap *= 2);
		s[n++] = c;
	}
	s[n] = 0;
	char *r = ir_strdup(s);
	free(s);
	return r;
}

/* One "key": value pair into r; unknown keys are skipped. */
static bool parse_member(J *j, TuneRecord *r)
{
	char *key = parse_string(j);
	if (!key)
		return false;
	ws(j);
	if (*j->p++ != ':')
		return false;
	ws(j);
	char *str = NULL;
	double num = NAN;
	if (*j->p == '"') {
		if (!(str = parse_string(j)))
			return false;
	} else if (!strncmp(j->p, "null", 4)) {
		j->p += 4;
	} else if (!strncmp(j->p, "true", 4) || !strncmp(j->p, "false", 5)) {
		j->p += *j->p == 't' ? 4 : 5;
	} else {
		char *end;
		num = strtod(j->p, &end);
		if (end == j->p)
			return false;
		j->p = end;
	}
	struct { const char *name; char **slot; } strs[] = {
		{"workload", &r->workload}, {"target", &r->target}, {"cc", &r->cc}, {"flags", &r->flags},
		{"cpu", &r->cpu}, {"sched", &r->sched}, {"status", &r->status}, {"origin", &r->origin},
		{"timing", &r->timing},
	};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		if (!strcmp(key, strs[i].name)) {
			if (!str)
				return false;
			*strs[i].slot = str;
		}
	if (!strcmp(key, "median_ns"))
		r->median_ns = num;
	else if (!strcmp(key, "trial"))
		r->trial = isnan(num) ? 0 : (int)num;
	else if (!strcmp(key, "predicted"))
		r->predicted = num;
	else if (!strcmp(key, "vs_default"))
		r->vs_default = num;
	return true;
}

static bool parse_record(const char *line, TuneRecord *r)
{
	J j = {line};
	*r = (TuneRecord){.predicted = NAN, .vs_default = NAN};
	ws(&j);
	if (*j.p++ != '{')
		return false;
	ws(&j);
	if (*j.p == '}')
		return false;
	for (;;) {
		ws(&j);
		if (!parse_member(&j, r))
			return false;
		ws(&j);
		if (*j.p == ',') {
			j.p++;
			continue;
		}
		if (*j.p++ != '}')
			return false;
		break;
	}
	ws(&j);
	if (*j.p != 0 && *j.p != '\n')
		return false;
	if (!r->workload || !r->target || !r->cpu || !r->sched || !r->status)
		return false;
	if (!r->cc)
		r->cc = "";
	if (!r->flags)
		r->flags = "";
	if (!r->origin)
		r->origin = "";
	if (!r->timing)
		r->timing = "warm"; /* logs from before --cold */
	if (isnan(r->median_ns))
		r->median_ns = 0;
	return true;
}

bool tune_log_read(const char *path, TuneRecord **recs, int *n)
{
	*recs = NULL;
	*n = 0;
	char *data;
	size_t len;
	if (!ir_read_file(path, &data, &len)) {
		if (errno == ENOENT)
			return true;
		error_plain("cannot read the log %s: %s", path, strerror(errno));
		return false;
	}
	int cap = 64, lineno = 0;
	*recs = ir_xrealloc(NULL, sizeof(TuneRecord) * (size_t)cap);
	for (char *line = data; line < data + len;) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line));
		char *end = nl ? nl : data + len;
		lineno++;
		*end = 0;
		const char *p = line;
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p) {
			TuneRecord r;
			if (!parse_record(line, &r)) {
				fprintf(stderr, "weft: warning: %s:%d: %s (skipped)\n", path, lineno,
				        nl ? "not a valid record" : "an incomplete last line");
			} else {
				if (*n == cap)
					*recs = ir_xrealloc(*recs, sizeof(TuneRecord) * (size_t)(cap *= 2));
				(*recs)[(*n)++] = r;
			}
		}
		line = end + 1;
	}
	free(data);
	return true;
}

bool tune_is_log(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	int c;
	while ((c = fgetc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		;
	fclose(f);
	return c == '{';
}

/* ---- the machine ---- */

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
		s[--n] = 0;
	return s;
}

const char *tune_cpu_model(void)
{
	static char *cpu;
	if (cpu)
		return cpu;
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (colon && (!strncmp(line, "model name", 10) || !strncmp(line, "Processor", 9) ||
		              !strncmp(line, "cpu model", 9))) {
			cpu = strdup(trim(colon + 1));
			break;
		}
	}
	if (f)
		fclose(f);
	if (!cpu)
		cpu = "unknown";
	return cpu;
}

const char *tune_cc_version(void)
{
	static char *ver;
	if (ver)
		return ver;
	int n;
	char **argv = tune_cc_argv(&n);
	argv[n++] = "--version";
	argv[n] = NULL;
	char *dir = tune_make_tmpdir();
	ver = "unknown";
	if (dir) {
		char *log = ir_fmt("%s/version.txt", dir);
		char *data;
		size_t len;
		if (tune_run_log(argv, 30, log) == 0 && ir_read_file(log, &data, &len)) {
			char *nl = strchr(data, '\n');
			if (nl)
				*nl = 0;
			ver = strdup(trim(data));
			free(data);
		}
		tune_remove_tmpdir(dir);
		free(dir);
	}
	for (int i = 0; i < n - 1; i++) /* the compiler's words; "--version" is not ours to free */
		free(argv[i]);
	free(argv);
	return ver;
}
