/* tune/task.c: tuning tasks: the distinct operator workloads of a model.
 *
 * Each op becomes a one-op model with canonical names (result "y", argument i "x<i>" when it is
 * an input or an intermediate, "w<i>" when it is a param, so params can get layouts); its text,
 * without the model line, is the workload key. Attributes are written from their normalised
 * values (pad=1 and pad=[1, 1, 1, 1] are one workload) where infer.c normalises them. Layers
 * with equal keys are one task, tuned once; a task's schedule renames onto each of them.
 * Reshape and flatten (views) and ops that read only params are not tuned.
 */
#include "tune.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(char **s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	*s = ir_fmt("%s%s", *s, buf);
}

static const char *shape_text(const Tensor *t)
{
	char *s = "f32[";
	for (int i = 0; i < t->rank; i++)
		s = ir_fmt("%s%s%lld", s, i ? ", " : "", (long long)t->dims[i]);
	return ir_fmt("%s]", s);
}

static const char *pair(const int *v) { return ir_fmt("[%d, %d]", v[0], v[1]); }

/* The attributes of op from their normalised values. */
static const char *attrs_text(const Op *op)
{
	const OpParams *p = &op->p;
	switch (op->kind) {
	case OP_CONV2D:
		return ir_fmt(", stride=%s, pad=[%d, %d, %d, %d], dilation=%s, groups=%d", pair(p->stride),
		              p->pad[0], p->pad[1], p->pad[2], p->pad[3], pair(p->dil), p->groups);
	case OP_MAXPOOL2D:
	case OP_AVGPOOL2D:
		return ir_fmt(", kernel=%s, stride=%s, pad=[%d, %d, %d, %d], ceil_mode=%d%s", pair(p->kernel),
		              pair(p->stride), p->pad[0], p->pad[1], p->pad[2], p->pad[3], p->ceil_mode,
		              op->kind == OP_AVGPOOL2D ? ir_fmt(", count_include_pad=%d", p->count_include_pad) : "");
	case OP_SOFTMAX: return ir_fmt(", axis=%d", p->axis);
	case OP_LAYERNORM: return ir_fmt(", axis=%d, eps=%.17g", p->axis, p->eps);
	case OP_BATCHNORM: return ir_fmt(", eps=%.17g", p->eps);
	case OP_LEAKY_RELU: return ir_fmt(", alpha=%.17g", p->alpha);
	case OP_CLIP: return ir_fmt(", min=%.17g, max=%.17g", p->lo, p->hi);
	case OP_CONCAT: return ir_fmt(", axis=%d", p->axis);
	case OP_PAD: return ir_fmt(", value=%.17g", p->value);
	default: return "";
	}
}

char *tune_workload_key(const Graph *g, int opi)
{
	const Op *op = &g->ops[opi];
	if (ir_ops[op->kind].flags & OPF_VIEW)
		return NULL;
	char *s = "";
	const char **name = ir_alloc(sizeof(char *) * (size_t)(op->nargs + 1));
	bool any_input = false;
	for (int i = 0; i < op->nargs; i++) {
		const Tensor *t = &g->tensors[op->args[i]];
		for (int j = 0; j < i; j++)
			if (op->args[j] == op->args[i])
				name[i] = name[j];
		if (name[i])
			continue;
		bool param = t->kind == TENSOR_PARAM;
		any_input |= !param;
		name[i] = ir_fmt("%c%d", param ? 'w' : 'x', i);
		put(&s, "%s %s : %s\n", param ? "param" : "input", name[i], shape_text(t));
	}
	if (!any_input)
		return NULL;
	put(&s, "y = %s(", ir_ops[op->kind].name);
	for (int i = 0; i < op->nargs; i++)
		put(&s, "%s%s", i ? ", " : "", name[i]);
	if (op->kind == OP_TRANSPOSE) {
		int rank = g->tensors[op->out].rank;
		put(&s, ", perm=[");
		for (int i = 0; i < rank; i++)
			put(&s, "%s%d", i ? ", " : "", op->p.perm[i]);
		put(&s, "]");
	} else if (op->kind == OP_PAD) {
		int rank = g->tensors[op->args[0]].rank;
		put(&s, ", pads=[");
		for (int i = 0; i < 2 * rank; i++)
			put(&s, "%s%lld", i ? ", " : "", (long long)op->p.pads[i]);
		put(&s, "]");
		put(&s, "%s", attrs_text(op));
	} else {
		put(&s, "%s", attrs_text(op));
	}
	put(&s, ")\noutput y");
	return strdup(s);
}

static char *task_title(const Graph *g, int opi)
{
	const Op *op = &g->ops[opi];
	char *s = ir_fmt("%s(", ir_ops[op->kind].name);
	for (int i = 0; i < op->nargs; i++)
		s = ir_fmt("%s%s%s", s, i ? ", " : "", shape_text(&g->tensors[op->args[i]]));
	return strdup(ir_fmt("%s) -> %s", s, shape_text(&g->tensors[op->out])));
}

TuneTask *tune_tasks(const Graph *g, int *ntasks)
{
	TuneTask *T = ir_xrealloc(NULL, sizeof(TuneTask) * (size_t)(g->nops + 1));
	int n = 0;
	for (int i = 0; i < g->nops; i++) {
		char *key = tune_workload_key(g, i);
		if (!key)
			continue;
		int k = 0;
		while (k < n && strcmp(T[k].key, key) != 0)
			k++;
		if (k == n) {
			T[n++] = (TuneTask){.key = key, .title = task_title(g, i),
			                    .ops = ir_xrealloc(NULL, sizeof(int) * (size_t)g->nops),
			                    .flops = ir_op_flops(g, &g->ops[i])};
		} else {
			free(key);
		}
		T[k].ops[T[k].nops++] = i;
	}
	*ntasks = n;
	return T;
}

char *tune_task_text(const char *key) { return ir_fmt("model task\n%s\n", key); }

/* Point stderr at /dev/null until quiet_end, which also restores the error count. */
static int quiet_begin(void)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	int null = open("/dev/null", O_WRONLY);
	if (null >= 0) {
		dup2(null, STDERR_FILENO);
		close(null);
	}
	return saved;
}

static void quiet_end(int saved, int nerrors)
{
	fflush(stderr);
	if (saved >= 0) {
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	ir_nerrors = nerrors;
}

static Source *text_source(const char *path, const char *text)
{
	Source *src = ir_alloc(sizeof *src);
	src->path = path;
	src->text = text;
	src->len = strlen(text);
	return src;
}

Graph *tune_task_graph(const char *key)
{
	int nerr = ir_nerrors;
	Graph *g = ir_parse(text_source("<workload>", tune_task_text(key)));
	if (!g || !ir_infer(g) || ir_nerrors > nerr)
		return NULL;
	return g;
}

bool tune_parse_sched(const Graph *tg, const char *text, Schedule *S, bool quiet)
{
	int nerr = ir_nerrors, saved = quiet ? quiet_begin() : -1;
	const char *body = ir_fmt("schedule %s; %s\n", tg->name, text); /* tasks are "task" */
	bool ok = ir_sched_parse(text_source("<schedule>", body), tg, S) && ir_nerrors == nerr;
	if (quiet)
		quiet_end(saved, nerr);
	return ok;
}

char *tune_sched_text(const Graph *tg, const Schedule *S)
{
	char *s = "";
	for (int i = 0; i < S->n; i++)
		s = ir_fmt("%s%s%s", s, i ? "; " : "", ir_directive_str(&S->d[i]));
	(void)tg;
	return s;
}

/* A task tensor name as the layer's name. */
static const char *rename_tensor(const Graph *g, const Op *op, const char *name)
{
	if ((name[0] == 'x' || name[0] == 'w') && name[1] >= '0' && name[1] <= '9') {
		int i = atoi(name + 1);
		if (i < op->nargs)
			return g->tensors[op->args[i]].name;
	}
	if (name[0] == 'y') /* y, or an internal tensor y__sum */
		return ir_fmt("%s%s", g->tensors[op->out].name, name + 1);
	return name;
}

static void rename_stage(const Graph *g, const Op *op, char *stage, size_t size)
{
	char *dot = strchr(stage, '.');
	if (!dot)
		return;
	char *t = ir_strndup(stage, (size_t)(dot - stage));
	snprintf(stage, size, "%s%s", rename_tensor(g, op, t), ir_strdup(dot));
}

void tune_rename_schedule(const Graph *g, int opi, const Schedule *S, Schedule *out)
{
	const Op *op = &g->ops[opi];
	for (int i = 0; i < S->n; i++) {
		Directive d = S->d[i];
		if (d.kind == SD_LAYOUT || d.kind == SD_PREFETCH)
			snprintf(d.tensor, sizeof d.tensor, "%s", rename_tensor(g, op, S->d[i].tensor));
		if (d.stage[0])
			rename_stage(g, op, d.stage, sizeof d.stage);
		if (d.host[0])
			rename_stage(g, op, d.host, sizeof d.host);
		ir_sched_add(out, &d);
	}
}
