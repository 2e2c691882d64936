/* tests/bench/bench.c: times weft's generated kernels against oneDNN and OpenBLAS, one thread
 * count per process.
 *
 * usage: bench --threads T [--quick] [--budget S] [--csv FILE] [--cc TEXT] [--flags TEXT]
 *              [--log PATH]
 * For every layer of suite.h that run.sh generated a weft kernel for (kernels.c), it makes the
 * same input and weights for everyone, computes a reference in double with naive loops, runs
 * each implementation once and checks it (|got-want| <= 1e-3*max(|want|,1)), then times them
 * interleaved (one run of each per round, so drift hits all alike) and reports the median. An
 * implementation whose first run already exceeds the time budget is not repeated. Then the
 * example models (variant "e2e"), each with its tuned build interleaved run by run. The peak
 * is measured before and after and the higher one is used. Output, once everything is
 * measured: a Markdown table on stdout (progress goes to stderr) and one CSV row per
 * measurement appended to FILE.
 */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

enum { MAXREPS = 200, NIMPL = 5, KMAX_E2E = 16 };

typedef struct Opts {
	int threads;
	bool quick;
	double budget; /* seconds of repeats per measurement */
	const char *csv, *cc, *flags, *log;
} Opts;

/* One implementation of one workload, and its measurements. */
typedef struct Impl {
	const char *label;    /* column title */
	const char *id;       /* CSV name */
	char status[160];     /* empty when it runs; else why not ("skipped: ...", "n/a", an error) */
	const WeftKernel *k;  /* weft, or NULL */
	Peer *peer;           /* a peer, or NULL */
	float *in[KMAX_IO], *out[KMAX_IO];
	void *ws;
	int reps;             /* timed repeats after the first run */
	int ntimes;
	double times[MAXREPS + 1];
	double median;        /* seconds */
	double err;           /* max relative error of the first run against the reference */
	bool checked, wrong;
	char note[160];       /* a peer's choice of implementation and layouts, for the notes */
} Impl;

/* One measured workload, kept until the end so every fraction uses the final peak. */
typedef struct Row {
	const Layer *L;        /* NULL for an example model */
	const WeftKernel *k;   /* the example model */
	int n;
	Impl im[NIMPL];
} Row;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *xalloc(size_t bytes)
{
	void *p = aligned_alloc(64, bytes < 64 ? 64 : (bytes + 63) / 64 * 64);
	if (!p) {
		fprintf(stderr, "bench: out of memory (%zu bytes)\n", bytes);
		exit(1);
	}
	return p;
}

static const WeftKernel *find_kernel(const char *name, const char *variant)
{
	for (int i = 0; i < weft_nkernels; i++)
		if (!strcmp(weft_kernels[i].name, name) && !strcmp(weft_kernels[i].variant, variant))
			return &weft_kernels[i];
	return NULL;
}

/* ---- the reference: naive loops in double ---- */

static void reference(const Layer *L, const float *x, const float *w, float *y)
{
	if (L->kind == K_CONV) {
		int o = conv_out(L), cg = L->c / L->groups, kg = L->k / L->groups, R = L->r;
#pragma omp parallel for schedule(dynamic)
		for (int k = 0; k < L->k; k++)
			for (int oh = 0; oh < o; oh++)
				for (int ow = 0; ow < o; ow++) {
					double s = 0;
					int g = k / kg;
					for (int c = 0; c < cg; c++)
						for (int r = 0; r < R; r++) {
							int ih = oh * L->stride - L->pad + r;
							if (ih < 0 || ih >= L->h)
								continue;
							for (int q = 0; q < R; q++) {
								int iw = ow * L->stride - L->pad + q;
								if (iw < 0 || iw >= L->w)
									continue;
								s += (double)x[((size_t)(g * cg + c) * L->h + ih) * L->w + iw] *
								     w[(((size_t)k * cg + c) * R + r) * R + q];
							}
						}
					y[((size_t)k * o + oh) * o + ow] = (float)s;
				}
		return;
	}
#pragma omp parallel for collapse(2)
	for (int b = 0; b < L->b; b++)
		for (int m = 0; m < L->m; m++)
			for (int n = 0; n < L->n; n++) {
				double s = 0;
				const float *xr = x + ((size_t)b * L->m + m) * L->kk;
				for (int k = 0; k < L->kk; k++)
					s += (double)xr[k] * (L->kind == K_GEMM ? w[(size_t)n * L->kk + k]
							: w[((size_t)b * L->kk + k) * L->n + n]);
				y[((size_t)b * L->m + m) * L->n + n] = (float)s;
			}
}

static double max_rel_err(const float *got, const float *want, size_t n)
{
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		double d = got[i] - (double)want[i], a = want[i] < 0 ? -want[i] : want[i];
		double e = (d < 0 ? -d : d) / (a > 1 ? a : 1);
		if (!(e <= worst)) /* NaN sticks */
			worst = e;
	}
	return worst;
}

/* ---- running and timing ---- */

static int impl_run(Impl *m)
{
	if (m->peer)
		return m->peer->run(m->peer);
	return m->k->run((const float *const *)m->in, m->out, m->ws);
}

static void impl_output(Impl *m, float *y)
{
	if (m->peer)
		m->peer->output(m->peer, y);
	else
		memcpy(y, m->out[0], m->k->out_elems[0] * sizeof *y);
}

/* Free what running needed; the measurements stay. */
static void impl_free(Impl *m)
{
	if (m->peer) {
		snprintf(m->note, sizeof m->note, "%s", m->peer->layout);
		m->peer->destroy(m->peer);
	}
	for (int i = 0; i < KMAX_IO; i++) {
		free(m->in[i]);
		free(m->out[i]);
		m->in[i] = m->out[i] = NULL;
	}
	free(m->ws);
	m->peer = NULL, m->ws = NULL;
}

/* Buffers for a weft kernel; inputs filled from src (or pseudo-random when src is NULL). */
static void weft_setup(Impl *m, const WeftKernel *k, const float *x)
{
	m->k = k;
	for (int i = 0; i < k->nin; i++) {
		m->in[i] = xalloc(k->in_elems[i] * sizeof(float));
		if (x)
			memcpy(m->in[i], x, k->in_elems[i] * sizeof(float));
		else
			for (size_t j = 0; j < k->in_elems[i]; j++)
				m->in[i][j] = (float)((j * 7919 + i * 104729) % 2001) / 1000.0f - 1.0f;
	}
	for (int i = 0; i < k->nout; i++)
		m->out[i] = xalloc(k->out_elems[i] * sizeof(float));
	m->ws = xalloc(k->ws_bytes);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* First run of each (checked against ref when ref is not NULL), then interleaved repeats. */
static void measure(Impl *im, int n, const Opts *o, const float *ref, size_t ny)
{
	float *y = ref ? xalloc(ny * sizeof *y) : NULL;
	int rounds = 0;
	for (int i = 0; i < n; i++) {
		Impl *m = &im[i];
		if (m->status[0])
			continue;
		double t = now();
		int rc = impl_run(m);
		t = now() - t;
		if (rc != 0) {
			snprintf(m->status, sizeof m->status, "failed: run returned %d", rc);
			continue;
		}
		m->times[m->ntimes++] = t;
		if (ref) {
			impl_output(m, y);
			m->err = max_rel_err(y, ref, ny);
			m->checked = true;
			m->wrong = !(m->err <= 1e-3);
		}
		m->reps = t >= o->budget ? 0 : (int)(o->budget / t);
		if (m->reps < 1 && t < o->budget)
			m->reps = 1;
		if (m->reps > MAXREPS)
			m->reps = MAXREPS;
		if (m->reps > 0)
			m->ntimes = 0; /* the first run warms caches; it counts only when it is the only one */
		if (m->reps > rounds)
			rounds = m->reps;
	}
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++) {
			Impl *m = &im[i];
			if (m->status[0] || r >= m->reps)
				continue;
			double t = now();
			impl_run(m);
			m->times[m->ntimes++] = now() - t;
		}
	for (int i = 0; i < n; i++)
		if (!im[i].status[0]) {
			qsort(im[i].times, im[i].ntimes, sizeof(double), cmp_double);
			im[i].median = im[i].times[im[i].ntimes / 2];
		}
	free(y);
}

/* ---- output ---- */

static FILE *csv;
static double peak;

/* A CSV field: commas and newlines in free text become semicolons and blanks. */
static void csv_text(const char *s)
{
	for (; *s; s++)
		fputc(*s == ',' ? ';' : *s == '\n' ? ' ' : *s, csv);
}

static void csv_row(const Opts *o, const char *name, const char *net, const char *kind,
		    const char *shape, double flops, const Impl *m)
{
	if (!csv)
		return;
	bool ok = !m->status[0];
	fprintf(csv, "%d,%s,%s,%s,%s,%.3f,%s,", o->threads, name, net, kind, shape, flops * 1e-6, m->id);
	csv_text(ok ? "ok" : m->status);
	fprintf(csv, ",%d,", ok ? m->ntimes : 0);
	if (ok)
		fprintf(csv, "%.4f,%.3f,%.5f,", m->median * 1e3, flops > 0 ? flops / m->median * 1e-9 : 0,
			flops > 0 ? flops / m->median * 1e-9 / peak : 0);
	else
		fprintf(csv, ",,,");
	if (m->checked)
		fprintf(csv, "%.2e,%s,", m->err, m->wrong ? "WRONG" : "ok");
	else
		fprintf(csv, ",unchecked,");
	csv_text(m->note);
	fputc('\n', csv);
}

static void shape_text(const Layer *L, char *s, size_t n)
{
	if (L->kind == K_CONV)
		snprintf(s, n, "%dx%d %d->%d k%d s%d%s", L->h, L->w, L->c, L->k, L->r, L->stride,
			 L->groups > 1 ? " dw" : "");
	else if (L->kind == K_GEMM)
		snprintf(s, n, "%dx%dx%d", L->m, L->n, L->kk);
	else
		snprintf(s, n, "%dx(%dx%dx%d)", L->b, L->m, L->n, L->kk);
}

/* "12.3 (4.3%)", with a mark for a single (over-budget) run or a wrong result. */
static void cell(const Impl *m, double flops, char *s, size_t n)
{
	if (m->status[0]) {
		snprintf(s, n, "%s", m->status);
		return;
	}
	double g = flops / m->median * 1e-9;
	snprintf(s, n, "%s%.1f (%.1f%%)%s", m->wrong ? "**WRONG** " : "", g, 100 * g / peak,
		 m->ntimes == 1 ? " ¹" : "");
}

static void ratio(const Impl *a, const Impl *b, char *s, size_t n)
{
	if (a->status[0] || b->status[0])
		snprintf(s, n, "-");
	else
		snprintf(s, n, "%.3g", b->median / a->median);
}

static void print_header(const Opts *o, int nimpl, Impl *cols)
{
	printf("| layer | shape | MFLOP |");
	for (int i = 0; i < nimpl; i++)
		printf(" %s GFLOP/s (%% peak) |", cols[i].label);
	for (int i = 1; i < nimpl; i++)
		if (strcmp(cols[i].id, "weft_tuned"))
			printf(" weft/%s |", cols[i].label);
	printf(" check |\n|---|---|--:|");
	for (int i = 0; i < 2 * nimpl - 1 - (o->log ? 1 : 0); i++)
		printf("--:|");
	printf("---|\n");
}

/* The implementations of one layer, in column order: weft, [weft tuned], oneDNN best, oneDNN
   plain, OpenBLAS. Returns how many. */
static int setup_layer(const Layer *L, const Opts *o, const float *x, const float *w, Impl *im)
{
	int n = 0;
	memset(im, 0, NIMPL * sizeof *im);
	im[n].label = "weft", im[n].id = "weft";
	weft_setup(&im[n++], find_kernel(L->name, "default"), x);
	if (o->log) {
		const WeftKernel *k = find_kernel(L->name, "tuned");
		im[n].label = "weft tuned", im[n].id = "weft_tuned";
		if (k)
			weft_setup(&im[n], k, x);
		else
			snprintf(im[n].status, sizeof im[n].status, "no tuned kernel");
		n++;
	}
	im[n].label = "oneDNN best", im[n].id = "onednn_best";
	im[n].peer = dnnl_layer(L, true, x, w, im[n].status, sizeof im[n].status);
	n++;
	im[n].label = "oneDNN plain", im[n].id = "onednn_plain";
	im[n].peer = dnnl_layer(L, false, x, w, im[n].status, sizeof im[n].status);
	n++;
	im[n].label = "OpenBLAS", im[n].id = "openblas";
	im[n].peer = blas_layer(L, x, w, im[n].status, sizeof im[n].status);
	n++;
	return n;
}

/* What oneDNN chose per layer, grouped by choice, printed under the table. */
enum { MAXCHOICE = 32 };
static struct {
	char what[160];
	char layers[2048];
} choice[MAXCHOICE];
static int nchoice;

static void note_choice(const char *what, const char *layer)
{
	int i = 0;
	while (i < nchoice && strcmp(choice[i].what, what))
		i++;
	if (i == nchoice) {
		if (nchoice == MAXCHOICE)
			return;
		snprintf(choice[nchoice++].what, sizeof choice[0].what, "%s", what);
	}
	size_t len = strlen(choice[i].layers);
	snprintf(choice[i].layers + len, sizeof choice[i].layers - len, "%s%s", len ? ", " : "", layer);
}

/* A pause long enough for a threading runtime's idle threads to stop spinning (OpenBLAS's
   wait about 2^28 cycles, OpenMP's less). */
static void settle(const Opts *o)
{
	struct timespec q = {0, 150000000};
	if (o->threads > 1)
		nanosleep(&q, NULL);
}

static Row rows[NSUITE + KMAX_E2E];
static int nrows;

static void run_layer(const Layer *L, const Opts *o)
{
	Row *row = &rows[nrows++];
	size_t nx = layer_x_elems(L), nw = layer_w_elems(L), ny = layer_y_elems(L);
	float *x = xalloc(nx * sizeof *x), *w = xalloc(nw * sizeof *w), *ref = xalloc(ny * sizeof *ref);
	fprintf(stderr, "bench: %d thread%s: %s\n", o->threads, o->threads > 1 ? "s" : "", L->name);
	layer_fill(L, 0, x, nx);
	layer_fill(L, 1, w, nw);
	reference(L, x, w, ref);
	row->L = L;
	row->n = setup_layer(L, o, x, w, row->im);
	/* OpenBLAS (last) runs its own pthread pool, the others OpenMP's: interleaved, each one's
	   idle threads spin and take the cores from the other's, so it is timed in a block of its
	   own, after a pause that lets OpenMP's threads go to sleep, and followed by one for its. */
	measure(row->im, row->n - 1, o, ref, ny);
	if (!row->im[row->n - 1].status[0]) {
		settle(o);
		measure(&row->im[row->n - 1], 1, o, ref, ny);
		settle(o);
	}
	for (int i = 0; i < row->n; i++)
		impl_free(&row->im[i]);
	free(x);
	free(w);
	free(ref);
}

/* The e2e kernel named NAME_tuned (the --schedule LOG build of model NAME), or NULL. */
static const WeftKernel *tuned_e2e(const char *name)
{
	for (int i = 0; i < weft_nkernels; i++) {
		const WeftKernel *k = &weft_kernels[i];
		size_t n = strlen(name);
		if (!strcmp(k->variant, "e2e") && !strncmp(k->name, name, n) && !strcmp(k->name + n, "_tuned"))
			return k;
	}
	return NULL;
}

/* Each example model, and its tuned build when there is one, timed interleaved in one row: the
   two alternate run by run, so the host's slow and fast phases fall on both alike and their
   ratio holds where either time alone moves by 10%. */
static void run_e2e(const Opts *o)
{
	for (int i = 0; i < weft_nkernels && nrows < NSUITE + KMAX_E2E; i++) {
		const WeftKernel *k = &weft_kernels[i];
		size_t len = strlen(k->name);
		if (strcmp(k->variant, "e2e") || (len > 6 && !strcmp(k->name + len - 6, "_tuned")))
			continue;
		const WeftKernel *t = tuned_e2e(k->name);
		fprintf(stderr, "bench: %d thread%s: %s end to end%s\n", o->threads, o->threads > 1 ? "s" : "",
		        k->name, t ? ", default and tuned interleaved" : "");
		Row *row = &rows[nrows++];
		row->k = k;
		row->n = t ? 2 : 1;
		row->im[0].label = "weft", row->im[0].id = "weft";
		weft_setup(&row->im[0], k, NULL);
		if (t) {
			row->im[1].label = "weft tuned", row->im[1].id = "weft";
			weft_setup(&row->im[1], t, NULL);
		}
		measure(row->im, row->n, o, NULL, 0);
		for (int j = 0; j < row->n; j++)
			impl_free(&row->im[j]);
	}
}

static const char *kind_name(Kind k)
{
	return k == K_CONV ? "conv" : k == K_GEMM ? "gemm" : "bmm";
}

static void print_layer(const Row *row, const Opts *o)
{
	const Layer *L = row->L;
	const Impl *im = row->im;
	int n = row->n;
	double flops = layer_flops(L);
	char shape[64], c[200];
	shape_text(L, shape, sizeof shape);
	printf("| %s | %s | %.1f |", L->name, shape, flops * 1e-6);
	for (int i = 0; i < n; i++) {
		cell(&im[i], flops, c, sizeof c);
		printf(" %s |", c);
	}
	for (int i = 1; i < n; i++)
		if (strcmp(im[i].id, "weft_tuned")) {
			ratio(&im[0], &im[i], c, sizeof c);
			printf(" %s |", c);
		}
	int wrong = 0;
	for (int i = 0; i < n; i++)
		wrong += im[i].checked && im[i].wrong;
	if (!wrong) {
		printf(" ok |\n");
	} else {
		printf(" **MISMATCH**:");
		for (int i = 0; i < n; i++)
			if (im[i].checked && im[i].wrong)
				printf(" %s err %.2g;", im[i].label, im[i].err);
		printf(" |\n");
	}
	for (int i = 0; i < n; i++) {
		csv_row(o, L->name, L->net, kind_name(L->kind), shape, flops, &im[i]);
		if (!strcmp(im[i].id, "onednn_best") && im[i].note[0])
			note_choice(im[i].note, L->name);
	}
}

static void print_results(const Opts *o)
{
	bool header = false, e2e = false;
	for (int i = 0; i < nrows; i++)
		if (rows[i].L) {
			if (!header)
				print_header(o, rows[i].n, rows[i].im);
			header = true;
			print_layer(&rows[i], o);
		}
	if (!header)
		printf("no layers to run (none selected, or weft gen failed on them: see above)\n");
	if (nchoice)
		printf("\noneDNN best chose (implementation, src/weights/dst layouts):\n");
	for (int i = 0; i < nchoice; i++)
		printf("- %s: %s\n", choice[i].what, choice[i].layers);
	for (int i = 0; i < nrows; i++) {
		const Row *row = &rows[i];
		if (!row->k)
			continue;
		if (!e2e)
			printf("\n| model (end to end) | weft ms / inference | tuned ms / inference | default/tuned | runs |\n"
			       "|---|--:|--:|--:|--:|\n");
		e2e = true;
		char c[2][64], r[64] = "-";
		for (int j = 0; j < 2; j++) {
			const Impl *m = &row->im[j];
			if (j >= row->n)
				snprintf(c[j], sizeof c[j], "-");
			else if (m->status[0])
				snprintf(c[j], sizeof c[j], "%s", m->status);
			else
				snprintf(c[j], sizeof c[j], "%.2f", m->median * 1e3);
		}
		if (row->n == 2 && !row->im[0].status[0] && !row->im[1].status[0])
			snprintf(r, sizeof r, "%.3f", row->im[0].median / row->im[1].median);
		printf("| %s | %s | %s | %s | %d |\n", row->k->name, c[0], c[1], r, row->im[0].ntimes);
		for (int j = 0; j < row->n; j++)
			csv_row(o, row->im[j].k->name, row->im[j].k->name, "e2e", "", 0, &row->im[j]);
	}
	if (!e2e)
		printf("\nend to end: no example model was built (run.sh said why)\n");
}

static bool cpu_times(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return false;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		       &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 4)
		return false;
	*total = 0;
	for (int i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4]; /* all but idle and iowait */
	return true;
}

static double self_cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Percent of all CPUs busy with other processes over a quarter second while this one sleeps
   (its libraries' idle threads may still spin; their time is not counted): other work on the
   machine makes timings noisy, multi-threaded ones most. -1 when unknown. */
static double machine_busy(void)
{
	unsigned long long b0, t0, b1, t1;
	struct timespec q = {0, 250000000};
	double self0 = self_cpu();
	if (!cpu_times(&b0, &t0))
		return -1;
	nanosleep(&q, NULL);
	if (!cpu_times(&b1, &t1) || t1 <= t0)
		return -1;
	double hz = (double)sysconf(_SC_CLK_TCK);
	double other = (double)(b1 - b0) / hz - (self_cpu() - self0);
	double busy = 100.0 * other / ((double)(t1 - t0) / hz);
	return busy < 0 ? 0 : busy;
}

static const char *cpu_model(void)
{
	static char s[256] = "unknown CPU";
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return s;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(s, sizeof s, "%s", strchr(line, ':') + 2);
			s[strcspn(s, "\n")] = 0;
			break;
		}
	fclose(f);
	return s;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench --threads T [--quick] [--budget S] [--csv FILE] [--cc TEXT] "
			"[--flags TEXT] [--log PATH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	Opts o = {.threads = 1, .budget = 1.0, .cc = "cc", .flags = "?"};
	bool budget_set = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--quick"))
			o.quick = true;
		else if (!v)
			usage();
		else if (!strcmp(a, "--threads"))
			o.threads = atoi(v), i++;
		else if (!strcmp(a, "--budget"))
			o.budget = atof(v), budget_set = true, i++;
		else if (!strcmp(a, "--csv"))
			o.csv = v, i++;
		else if (!strcmp(a, "--cc"))
			o.cc = v, i++;
		else if (!strcmp(a, "--flags"))
			o.flags = v, i++;
		else if (!strcmp(a, "--log"))
			o.log = *v ? v : NULL, i++;
		else
			usage();
	}
	if (o.threads < 1)
		usage();
	if (o.quick && !budget_set)
		o.budget = 0.2;
	omp_set_num_threads(o.threads);
	blas_set_threads(o.threads);
	if (o.csv) {
		csv = fopen(o.csv, "a");
		if (!csv) {
			fprintf(stderr, "bench: cannot open %s: %s\n", o.csv, strerror(errno));
			return 1;
		}
	}

	/* Everything is measured first and printed at the end, so that every fraction uses the
	   higher of two peak measurements (before and after): on a busy machine one of them may
	   have found the cores taken by other work. */
	double busy0 = machine_busy();
	double peak0 = peak_gflops(o.threads, o.quick ? 0.3 : 1.0);
	for (int i = 0; i < NSUITE; i++)
		if (find_kernel(suite[i].name, "default"))
			run_layer(&suite[i], &o);
	run_e2e(&o);
	double busy1 = machine_busy();
	double peak1 = peak_gflops(o.threads, o.quick ? 0.3 : 1.0);
	peak = peak0 > peak1 ? peak0 : peak1;

	const char *dn = dnnl_describe(), *bl = blas_describe();
	printf("### %d thread%s\n\n", o.threads, o.threads > 1 ? "s" : "");
	printf("- CPU: %s; %d thread%s (OMP_NUM_THREADS)\n", cpu_model(), o.threads,
	       o.threads > 1 ? "s" : "");
	printf("- peak: %.1f GFLOP/s fp32 (measured %.1f before the run and %.1f after), by an FMA "
	       "loop: %s\n", peak, peak0, peak1, peak_isa);
	printf("- weft kernels: %s %s%s%s\n", o.cc, o.flags, o.log ? "; tuned with --schedule " : "",
	       o.log ? o.log : "");
	printf("- peers: %s; %s\n", dn ? dn : "oneDNN not installed", bl ? bl : "OpenBLAS not installed");
	if (busy0 >= 0 && busy1 >= 0)
		printf("- other work on the machine: %.0f%% of its %ld CPUs busy before the run, %.0f%% "
		       "after%s\n", busy0, sysconf(_SC_NPROCESSORS_ONLN), busy1,
		       busy0 > 10 || busy1 > 10 ? " (so these timings are noisy)" : "");
	printf("- %s: median of repeats interleaved across implementations (OpenBLAS, with its own "
	       "thread pool, in a block of its own), %.2g s of repeats each; ¹ = a single timed run "
	       "(it took most of the budget)\n\n", o.quick ? "quick mode" : "full suite", o.budget);
	if (csv) {
		fseek(csv, 0, SEEK_END);
		if (ftell(csv) == 0)
			fprintf(csv, "threads,layer,net,kind,shape,mflop,impl,status,runs,median_ms,gflops,"
				     "frac_peak,max_rel_err,check,note\n");
		fprintf(csv, "%d,peak,,peak,,,fma_peak,ok,1,,%.3f,1,,unchecked,%s\n", o.threads, peak,
			peak_isa);
	}
	print_results(&o);
	printf("\n");
	if (csv)
		fclose(csv);
	return 0;
}
