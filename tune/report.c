/* tune/report.c: weft tune --report LOG: per task its trials, default and best times, the
 * cost model's rank correlation, and the schedule weft gen takes; per model measured whole by
 * the graph pass, the same for the whole model.
 */
#include "tune.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { EXIT_USER = 1 };

const char *tune_ms(double ns)
{
	return ns <= 0 ? "-" : ns >= 1e6 ? ir_fmt("%.3f ms", ns / 1e6)
	     : ns >= 1e3 ? ir_fmt("%.2f us", ns / 1e3) : ir_fmt("%.0f ns", ns);
}

typedef struct Group {
	const TuneRecord *first;
	int trials, ok;
	const TuneRecord *best, *def;
	double *pred, *meas;
	int npred;
} Group;

static const char *key_op_line(const char *key)
{
	const char *y = strstr(key, "y = ");
	if (!y)
		return key;
	const char *nl = strchr(y, '\n');
	return ir_strndup(y + 4, nl ? (size_t)(nl - y - 4) : strlen(y + 4));
}

/* Which of a task's records weft gen takes (tune_best_task) and why. */
static void print_task_choice(const TuneRecord *r, int n, const Group *gr)
{
	const TuneRecord *f = gr->first, *use = tune_best_task(r, n, f->workload, f->target, f->cpu);
	int nconfirm = 0;
	for (int i = 0; i < n; i++)
		nconfirm += !strcmp(r[i].workload, f->workload) && tune_same_machine(&r[i], f->target, f->cpu) &&
		            !strcmp(r[i].origin, "confirm");
	if (!use)
		return;
	if (!nconfirm && gr->def && !strcmp(use->sched, gr->def->sched))
		printf("  weft gen uses: the default rule (nothing measured was faster)\n");
	else if (!nconfirm)
		printf("  weft gen uses: the best schedule (not timed again beside the default)\n");
	else if (gr->def && !strcmp(use->sched, gr->def->sched))
		printf("  weft gen uses: the default rule (no finalist beat it every time in %d confirming runs)\n",
		       nconfirm);
	else
		printf("  weft gen uses: %s (it beat the default every time in %d confirming runs)\n",
		       gr->best && !strcmp(use->sched, gr->best->sched) ? "the best schedule" : use->sched, nconfirm);
}

int tune_report(const char *path)
{
	TuneRecord *r;
	int n;
	if (!tune_log_read(path, &r, &n))
		return EXIT_USER;
	if (n == 0) {
		error_plain("%s holds no records", path);
		return EXIT_USER;
	}
	Group *G = ir_alloc(sizeof(Group) * (size_t)(n + 1));
	int ng = 0;
	for (int i = 0; i < n; i++) {
		int k = 0;
		while (k < ng && !(strcmp(G[k].first->workload, r[i].workload) == 0 &&
		                   tune_same_machine(G[k].first, r[i].target, r[i].cpu)))
			k++;
		if (k == ng) {
			G[ng].first = &r[i];
			G[ng].pred = ir_alloc(sizeof(double) * (size_t)(n + 1));
			G[ng++].meas = ir_alloc(sizeof(double) * (size_t)(n + 1));
		}
		Group *gr = &G[k];
		gr->trials++;
		if (strcmp(r[i].status, "ok") != 0)
			continue;
		gr->ok++;
		if (!gr->best || r[i].median_ns < gr->best->median_ns)
			gr->best = &r[i];
		if (!strcmp(r[i].origin, "default") && (!gr->def || r[i].median_ns < gr->def->median_ns))
			gr->def = &r[i];
		if (!isnan(r[i].predicted)) {
			gr->pred[gr->npred] = r[i].predicted;
			gr->meas[gr->npred++] = log(r[i].median_ns);
		}
	}
	for (int k = 0; k < ng; k++) {
		Group *gr = &G[k];
		if (!strncmp(gr->first->workload, "graph ", 6)) { /* a graph pass: whole-model times */
			printf("model %s: the whole model (graph pass), target %s on %s, timed %s\n", gr->first->workload + 6,
			       gr->first->target, gr->first->cpu, gr->first->timing);
			printf("  measurements %d (%d ok); default rule %s; fastest single measurement %s\n", gr->trials,
			       gr->ok, gr->def ? tune_ms(gr->def->median_ns) : "-", gr->best ? tune_ms(gr->best->median_ns) : "-");
			double worst;
			const TuneRecord *use = tune_best_whole(r, n, gr->first->workload, gr->first->target,
			                                        gr->first->cpu, &worst);
			int nd = 0;
			for (const char *q = use ? use->sched : ""; *q; q++)
				nd += *q == ';';
			if (use)
				printf("  weft gen uses (if it still applies): %s, %s at its slowest, %d directives\n",
				       !strcmp(use->origin, "default") ? "the default rule (nothing beat it every time)"
				       : *use->origin                  ? ir_fmt("a whole schedule (%s)", use->origin)
				                                       : "a whole schedule",
				       tune_ms(worst), nd + 1);
			continue;
		}
		printf("task %d: %s\n", k + 1, key_op_line(gr->first->workload));
		const char *shapes = gr->first->workload;
		for (const char *p = shapes; *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			if (!strncmp(p, "input ", 6) || !strncmp(p, "param ", 6))
				printf("  %.*s\n", (int)len, p);
			p += len + (nl != NULL);
		}
		printf("  target %s on %s (%s), timed %s\n", gr->first->target, gr->first->cpu, gr->first->cc,
		       gr->first->timing);
		double rho = tune_spearman(gr->pred, gr->meas, gr->npred);
		printf("  trials %d (%d ok); default %s; best %s", gr->trials, gr->ok,
		       gr->def ? tune_ms(gr->def->median_ns) : "-", gr->best ? tune_ms(gr->best->median_ns) : "-");
		if (gr->def && gr->best)
			printf(" (%.2fx)", gr->def->median_ns / gr->best->median_ns);
		if (!isnan(rho))
			printf("; cost model rho %.2f over %d", rho, gr->npred);
		printf("\n  best schedule: %s\n", gr->best ? (*gr->best->sched ? gr->best->sched : "(none)") : "-");
		print_task_choice(r, n, gr);
	}
	return 0;
}
