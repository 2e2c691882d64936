/* ir/dump.c: the graph as readable text (weft -d PASS).
 *
 * One line per tensor, then one per op, in id order, so two dumps diff cleanly. It works after
 * any pass: shapes print as "?" before ir_infer, stores are left out before ir_plan, and an op
 * shows its attributes as written until ir_infer has turned them into OpParams.
 */
#include "ir.h"

static const char *kind_name(TensorKind k)
{
	switch (k) {
	case TENSOR_INPUT: return "input";
	case TENSOR_PARAM: return "param";
	case TENSOR_VALUE: return "value";
	}
	return "?";
}

static const char *store_name(StoreKind s)
{
	switch (s) {
	case STORE_NONE: return "none";
	case STORE_INPUT: return "input";
	case STORE_PARAM: return "param";
	case STORE_OUTPUT: return "output";
	case STORE_WORKSPACE: return "workspace";
	}
	return "?";
}

static void dump_shape(const Tensor *t, FILE *f)
{
	if (t->rank == 0) {
		fputs("f32[?]", f);
		return;
	}
	fputs("f32[", f);
	for (int i = 0; i < t->rank; i++)
		fprintf(f, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
	fputc(']', f);
}

static void dump_tensor(const Graph *g, int id, FILE *f)
{
	const Tensor *t = &g->tensors[id];
	fprintf(f, "tensor %d %s %s ", id, t->name, kind_name(t->kind));
	dump_shape(t, f);
	if (t->kind == TENSOR_VALUE && t->producer >= 0)
		fprintf(f, " producer=%d", t->producer);
	if (t->input_index >= 0)
		fprintf(f, " input_index=%d", t->input_index);
	if (t->output_index >= 0)
		fprintf(f, " output_index=%d", t->output_index);
	if (t->kind == TENSOR_PARAM && g->weights) /* offsets are known once weights are loaded */
		fprintf(f, " param_offset=%lld", (long long)t->param_offset);
	if (t->store != STORE_NONE) {
		fprintf(f, " store=%s", store_name(t->store));
		if (t->store == STORE_WORKSPACE)
			fprintf(f, " offset=%lld", (long long)t->ws_offset);
		if (t->view_of >= 0)
			fprintf(f, " view_of=%s", g->tensors[t->view_of].name);
		fprintf(f, " last_use=%d", t->last_use);
	}
	fputc('\n', f);
}

static void dump_ints(FILE *f, const char *key, const int *v, int n)
{
	fprintf(f, " %s=[", key);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%d", i ? ", " : "", v[i]);
	fputc(']', f);
}

/* The OpParams that matter for this kind of op (after ir_infer). */
static void dump_params(const Graph *g, const Op *op, FILE *f)
{
	const OpParams *p = &op->p;
	const Tensor *x = &g->tensors[op->args[0]];
	switch (op->kind) {
	case OP_CONV2D:
		dump_ints(f, "stride", p->stride, 2);
		dump_ints(f, "pad", p->pad, 4);
		dump_ints(f, "dilation", p->dil, 2);
		fprintf(f, " groups=%d", p->groups);
		break;
	case OP_MAXPOOL2D:
	case OP_AVGPOOL2D:
		dump_ints(f, "kernel", p->kernel, 2);
		dump_ints(f, "stride", p->stride, 2);
		dump_ints(f, "pad", p->pad, 4);
		fprintf(f, " ceil_mode=%d", p->ceil_mode);
		if (op->kind == OP_AVGPOOL2D)
			fprintf(f, " count_include_pad=%d", p->count_include_pad);
		break;
	case OP_CLIP: fprintf(f, " min=%g max=%g", p->lo, p->hi); break;
	case OP_LEAKY_RELU: fprintf(f, " alpha=%g", p->alpha); break;
	case OP_BATCHNORM: fprintf(f, " eps=%g", p->eps); break;
	case OP_LAYERNORM: fprintf(f, " axis=%d eps=%g", p->axis, p->eps); break;
	case OP_SOFTMAX:
	case OP_FLATTEN:
	case OP_CONCAT: fprintf(f, " axis=%d", p->axis); break;
	case OP_TRANSPOSE: dump_ints(f, "perm", p->perm, x->rank); break;
	case OP_PAD:
		fputs(" pads=[", f);
		for (int i = 0; i < 2 * x->rank; i++)
			fprintf(f, "%s%lld", i ? ", " : "", (long long)p->pads[i]);
		fprintf(f, "] value=%g", p->value);
		break;
	default: break; /* reshape: the shape is the result's */
	}
}

/* Attributes as written (before ir_infer). */
static void dump_attrs(const Op *op, FILE *f)
{
	for (int i = 0; i < op->nattrs; i++) {
		const Attr *a = &op->attrs[i];
		fprintf(f, " %s=", a->name);
		switch (a->kind) {
		case ATTR_INT: fprintf(f, "%lld", (long long)a->i); break;
		case ATTR_FLOAT: fprintf(f, "%g", a->f); break;
		case ATTR_IDENT: fputs(a->ident ? a->ident : "?", f); break;
		case ATTR_LIST:
			fputc('[', f);
			for (int k = 0; k < a->n; k++)
				fprintf(f, "%s%g", k ? ", " : "", a->items[k]);
			fputc(']', f);
			break;
		}
	}
}

static void dump_op(const Graph *g, int id, FILE *f)
{
	const Op *op = &g->ops[id];
	fprintf(f, "op %d %s(", id, ir_ops[op->kind].name);
	for (int a = 0; a < op->nargs; a++)
		fprintf(f, "%s%s", a ? ", " : "", g->tensors[op->args[a]].name);
	fprintf(f, ") -> %s", g->tensors[op->out].name);
	if (g->tensors[op->out].rank > 0)
		dump_params(g, op, f);
	else
		dump_attrs(op, f);
	fputc('\n', f);
}

void ir_dump(const Graph *g, FILE *f)
{
	fprintf(f, "graph %s: %d tensors, %d ops", g->name, g->ntensors, g->nops);
	if (g->weights_path)
		fprintf(f, ", weights \"%s\"", g->weights_path);
	fputc('\n', f);
	fputs("inputs:", f);
	for (int i = 0; i < g->ninputs; i++)
		fprintf(f, " %s", g->tensors[g->inputs[i]].name);
	fputs("\noutputs:", f);
	for (int i = 0; i < g->noutputs; i++)
		fprintf(f, " %s", g->tensors[g->outputs[i]].name);
	fputc('\n', f);
	for (int i = 0; i < g->ntensors; i++)
		dump_tensor(g, i, f);
	for (int i = 0; i < g->nops; i++)
		dump_op(g, i, f);
	bool planned = g->ntensors > 0 && g->tensors[0].store != STORE_NONE;
	if (planned)
		fprintf(f, "workspace %lld bytes, peak %lld, intermediates %lld\n",
		        (long long)g->workspace_bytes, (long long)g->peak_bytes,
		        (long long)g->intermediate_bytes);
}
