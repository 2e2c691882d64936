/* ir/ir.h: weft's graph IR: the types and functions of the ir/ folder.
 *
 * A model is a Graph: tensors and ops in arrays, referred to by small integer ids (QBE style).
 * The pipeline over it, in order: ir_parse -> ir_infer -> ir_load_weights -> ir_plan, then gen/.
 * ir_reference is the oracle: a plain interpreter in double, independent of the code generator.
 *
 * Sections follow the files: util.c, lex.c, parse.c, infer.c, weights.c, ref.c, plan.c, dump.c.
 */
#ifndef WEFT_IR_H
#define WEFT_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
	IR_MAX_RANK = 6,  /* tensors have rank 1 to 6 */
	IR_MAX_NAME = 63, /* identifiers are at most 63 characters */
	IR_MAX_ARGS = 32, /* tensor arguments of one op (concat is the only one with many) */
	IR_ALIGN = 64,    /* byte alignment of every workspace buffer */
};

/* ---- util.c: diagnostics, arena, files ---- */

typedef struct Source {
	const char *path; /* as given on the command line (used in messages) */
	const char *text; /* whole file, NUL-terminated */
	size_t len;       /* bytes of text, without the NUL */
} Source;

/* A position in a source file. line and col are 1-based; col counts bytes. */
typedef struct Loc {
	const Source *src; /* NULL for "no position" */
	int line;
	int col;
} Loc;

extern int ir_nerrors; /* user errors reported so far (error_at, error_plain) */

/* A user's mistake: "file:line:col: error: MSG", then the source line and a caret under col. */
void error_at(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A user's mistake with no position in a model (bad command line, unreadable file): "weft: error: MSG". */
void error_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A note attached to the previous error or a warning, same form as error_at but "note"/"warning". */
void note_at(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warn_at(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* weft's own bug: "weft: internal error: MSG" and abort(). Never for a user's mistake. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *ir_alloc(size_t n);          /* zeroed memory from the arena; freed only by ir_arena_reset */
char *ir_strdup(const char *s);
char *ir_strndup(const char *s, size_t n);
char *ir_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* arena sprintf */
void ir_arena_reset(void);
void *ir_xrealloc(void *p, size_t n); /* realloc that dies on failure (for growable arrays) */

/* Read a whole file. NULL (and an error_plain naming the path and strerror) on failure. */
Source *ir_read_source(const char *path);
/* Read a whole binary file into malloc'd memory; false with errno set on failure. */
bool ir_read_file(const char *path, char **data, size_t *len);

/* ---- lex.c: tokens of the model format ---- */

typedef enum {
	TK_IDENT,   /* [A-Za-z_][A-Za-z0-9_]* */
	TK_INT,     /* decimal integer, optional leading '-' */
	TK_FLOAT,   /* C float syntax, hex floats, inf, -inf */
	TK_STRING,  /* "..." with \" and \\ escapes; str holds the unescaped text */
	TK_PUNCT,   /* one of = : , ( ) [ ] */
	TK_NEWLINE, /* end of a statement (newlines inside ( or [ are not reported) */
	TK_ERROR,   /* bad text, already reported: the parser gives up on the statement quietly */
	TK_EOF,
} TokKind;

typedef struct Token {
	TokKind kind;
	Loc loc;
	const char *start; /* into the source text */
	int len;           /* bytes of source text */
	int64_t ival;      /* TK_INT */
	double fval;       /* TK_FLOAT (and TK_INT's value) */
	char *str;         /* TK_STRING: unescaped; TK_IDENT: the name */
	char punct;        /* TK_PUNCT */
} Token;

/* The lexer is pulled by the parser one token at a time, so that lexical and syntax errors come
   out in the order of the file. Lexical errors are reported with error_at and give a TK_ERROR. */
typedef struct Lexer Lexer;
Lexer *ir_lexer(const Source *src);
Token *ir_lex_next(Lexer *L); /* arena-allocated, stays valid; TK_EOF forever at the end */

/* ---- The graph ---- */

/* Op flags. */
enum {
	OPF_UNARY = 1,    /* elementwise function of one tensor */
	OPF_BINARY = 2,   /* elementwise with NumPy broadcasting of two tensors */
	OPF_INPLACE = 4,  /* output may share bytes with argument 0 when that dies here (same shape) */
	OPF_VIEW = 8,     /* output is the input's bytes, reinterpreted (reshape, flatten) */
};

/* The operators, version 1 of the model format.
   X(ENUM, "name", min args, max args, flags, "allowed attribute names, space separated") */
#define IR_OPS(X) \
	X(CONV2D,         "conv2d",         2, 3, 0,                                "stride pad dilation groups") \
	X(DENSE,          "dense",          2, 3, 0,                                "") \
	X(MATMUL,         "matmul",         2, 2, 0,                                "") \
	X(ADD,            "add",            2, 2, OPF_BINARY | OPF_INPLACE,         "") \
	X(SUB,            "sub",            2, 2, OPF_BINARY | OPF_INPLACE,         "") \
	X(MUL,            "mul",            2, 2, OPF_BINARY | OPF_INPLACE,         "") \
	X(DIV,            "div",            2, 2, OPF_BINARY | OPF_INPLACE,         "") \
	X(RELU,           "relu",           1, 1, OPF_UNARY | OPF_INPLACE,          "") \
	X(SIGMOID,        "sigmoid",        1, 1, OPF_UNARY | OPF_INPLACE,          "") \
	X(TANH,           "tanh",           1, 1, OPF_UNARY | OPF_INPLACE,          "") \
	X(EXP,            "exp",            1, 1, OPF_UNARY | OPF_INPLACE,          "") \
	X(RELU6,          "relu6",          1, 1, OPF_UNARY | OPF_INPLACE,          "") \
	X(CLIP,           "clip",           1, 1, OPF_UNARY | OPF_INPLACE,          "min max") \
	X(LEAKY_RELU,     "leaky_relu",     1, 1, OPF_UNARY | OPF_INPLACE,          "alpha") \
	X(GELU,           "gelu",           1, 1, OPF_UNARY | OPF_INPLACE,          "") \
	X(BATCHNORM,      "batchnorm",      5, 5, OPF_INPLACE,                      "eps") \
	X(MAXPOOL2D,      "maxpool2d",      1, 1, 0,                                "kernel stride pad ceil_mode") \
	X(AVGPOOL2D,      "avgpool2d",      1, 1, 0,                                "kernel stride pad ceil_mode count_include_pad") \
	X(GLOBAL_AVGPOOL, "global_avgpool", 1, 1, 0,                                "") \
	X(SOFTMAX,        "softmax",        1, 1, 0,                                "axis") \
	X(LAYERNORM,      "layernorm",      3, 3, 0,                                "axis eps") \
	X(RESHAPE,        "reshape",        1, 1, OPF_VIEW,                         "shape") \
	X(FLATTEN,        "flatten",        1, 1, OPF_VIEW,                         "axis") \
	X(TRANSPOSE,      "transpose",      1, 1, 0,                                "perm") \
	X(CONCAT,         "concat",         1, IR_MAX_ARGS, 0,                      "axis") \
	X(PAD,            "pad",            1, 1, 0,                                "pads value")

typedef enum {
#define X(e, name, lo, hi, flags, attrs) OP_##e,
	IR_OPS(X)
#undef X
	OP_COUNT
} OpKind;

typedef struct OpInfo {
	const char *name;  /* as written in models */
	int min_args;      /* tensor arguments */
	int max_args;
	int flags;         /* OPF_* */
	const char *attrs; /* allowed attribute names, space separated */
} OpInfo;

extern const OpInfo ir_ops[OP_COUNT]; /* indexed by OpKind; defined in parse.c */

typedef enum { ATTR_INT, ATTR_FLOAT, ATTR_LIST, ATTR_IDENT } AttrKind;

/* An attribute as written: key=VALUE. infer.c interprets it into OpParams. */
typedef struct Attr {
	char name[IR_MAX_NAME + 1];
	AttrKind kind;
	Loc loc;        /* of the key */
	Loc vloc;       /* of the value */
	int64_t i;      /* ATTR_INT */
	double f;       /* ATTR_FLOAT; for ATTR_INT the same value as a double */
	int n;          /* ATTR_LIST: number of items */
	double *items;  /* ATTR_LIST: the items (numbers only) */
	bool all_int;   /* ATTR_LIST: every item was written as an integer */
	Loc *item_locs; /* ATTR_LIST: position of each item */
	char *ident;    /* ATTR_IDENT */
} Attr;

/* What infer.c makes of an op's attributes, defaults applied. Fields unused by an op stay 0. */
typedef struct OpParams {
	int stride[2];               /* conv, pools: [h, w] */
	int dil[2];                  /* conv: [h, w] */
	int pad[4];                  /* conv, pools: top, left, bottom, right */
	int kernel[2];               /* pools: window [h, w] */
	int groups;                  /* conv */
	bool ceil_mode;              /* pools */
	bool count_include_pad;      /* avgpool */
	double alpha;                /* leaky_relu */
	double lo, hi;               /* clip: min, max */
	double eps;                  /* batchnorm, layernorm */
	double value;                /* pad: the constant */
	int axis;                    /* softmax, layernorm, flatten, concat: normalised to [0, rank) */
	int perm[IR_MAX_RANK];       /* transpose */
	int64_t pads[2 * IR_MAX_RANK]; /* pad: begin of each dim, then end of each dim (>= 0) */
} OpParams;

typedef struct Op {
	OpKind kind;
	Loc loc;                     /* the op name in its statement */
	Loc stmt_loc;                /* the result name: start of the statement */
	char *text;                  /* the statement as written, on one line (for comments) */
	int out;                     /* tensor id of the result */
	int nargs;
	int args[IR_MAX_ARGS];       /* tensor ids */
	Loc argloc[IR_MAX_ARGS];     /* position of each argument */
	int nattrs;
	Attr *attrs;
	OpParams p;                  /* infer.c */
} Op;

typedef enum { TENSOR_INPUT, TENSOR_PARAM, TENSOR_VALUE } TensorKind;

/* Where a tensor's bytes live in the generated code (plan.c). */
typedef enum {
	STORE_NONE,      /* not planned yet */
	STORE_INPUT,     /* the caller's input pointer */
	STORE_PARAM,     /* a static const array in the generated file */
	STORE_OUTPUT,    /* the caller's output pointer */
	STORE_WORKSPACE, /* ws_offset bytes into the caller's workspace */
} StoreKind;

typedef struct Tensor {
	char name[IR_MAX_NAME + 1];
	TensorKind kind;
	Loc loc;                 /* the name where it is defined */
	int rank;                /* 0 until known (values before infer) */
	int64_t dims[IR_MAX_RANK];
	int producer;            /* TENSOR_VALUE: op id; else -1 */
	int input_index;         /* position in the input list, or -1 */
	int output_index;        /* first position in the output list, or -1 */
	int64_t param_offset;    /* TENSOR_PARAM: element offset into Graph.weights */
	/* plan.c */
	StoreKind store;
	int64_t ws_offset;       /* STORE_WORKSPACE: byte offset, a multiple of IR_ALIGN */
	int view_of;             /* bytes are those of this tensor (reshape view or in-place), or -1 */
	int last_use;            /* op id of the last op that reads it (-1 if none) */
} Tensor;

typedef struct Graph {
	char name[IR_MAX_NAME + 1]; /* model name: prefixes every C symbol */
	const Source *src;
	char *weights_path;      /* from the weights statement, resolved relative to the model; or NULL */
	Loc weights_loc;
	Tensor *tensors;
	int ntensors;
	Op *ops;
	int nops;
	int *inputs;             /* tensor ids, in declaration order */
	int ninputs;
	int *params;
	int nparams;
	int *outputs;            /* tensor ids, in the order of the output statements */
	int noutputs;
	Loc *output_locs;
	/* weights.c */
	float *weights;          /* every param, declaration order, row-major (malloc'd) */
	int64_t nweights;
	bool random_weights;     /* no blob: deterministic pseudo-random values */
	/* plan.c */
	int64_t workspace_bytes; /* what the caller provides; a multiple of IR_ALIGN */
	int64_t peak_bytes;      /* largest sum of live intermediate bytes at one op */
	int64_t intermediate_bytes; /* sum of all intermediates if none shared */
} Graph;

/* ---- parse.c ---- */

/* Parse a model. Reports every error it can find; returns NULL when there was any. */
Graph *ir_parse(const Source *src);
int ir_find_tensor(const Graph *g, const char *name); /* tensor id or -1 */
const Attr *ir_attr(const Op *op, const char *name);  /* NULL when not given */
bool ir_is_c_keyword(const char *s);

/* ---- infer.c ---- */

/* Interpret attributes (defaults applied) into OpParams and compute every result's shape, in
   order. Reports every error with the offending statement's position; false if any. */
bool ir_infer(Graph *g);
int64_t ir_numel(const Tensor *t);
/* Floating-point operations of one op (a multiply-add counts 2) and of a whole graph. */
double ir_op_flops(const Graph *g, const Op *op);
double ir_graph_flops(const Graph *g);
/* NumPy broadcast of two shapes into out; false if they do not broadcast. */
bool ir_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *rout, int64_t *out);

/* ---- attrs.c: attribute readers for infer.c (each reports its own mistakes) ---- */

enum { IR_ATTR_MAX = 1 << 30 }; /* largest integer attribute (strides, pads, kernels...) */

typedef struct InferCtx {
	Graph *g;
	Op *op;      /* the op being checked */
	bool failed; /* an error was reported for it */
} InferCtx;

/* error_at(loc, "OPNAME: MSG") and mark the op as failed. */
void ir_op_error(InferCtx *c, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *ir_shape_str(int rank, const int64_t *dims); /* "[64, 32, 3, 3]" (arena) */
const char *ir_attr_seen(const Attr *a);                 /* "1.5", "a list of 3 items" */
bool ir_attr_int_at(InferCtx *c, const Attr *a, int i, int64_t lo, int64_t hi, int64_t *out);
int64_t ir_get_int(InferCtx *c, const char *name, int64_t def, int64_t lo, int64_t hi);
bool ir_get_bool(InferCtx *c, const char *name);
double ir_get_float(InferCtx *c, const char *name, double def);
bool ir_get_pair(InferCtx *c, const char *name, int64_t lo, int out[2], Loc locs[2]);
void ir_get_pad4(InferCtx *c, const char *name, int out[4], Loc locs[4]);
int ir_get_int_list(InferCtx *c, const Attr *a, int n, const char *what, int64_t lo, int64_t hi,
	int64_t *out);

/* ---- weights.c ---- */

/* Fill g->weights: from path_override if not NULL, else from the model's weights statement,
   else deterministic pseudo-random values (with a note on stderr). False on a user error
   (missing file, wrong size). */
bool ir_load_weights(Graph *g, const char *path_override);
/* Deterministic pseudo-random floats in [-1, 1) for test inputs: value i of stream seed. */
float ir_random_value(uint64_t seed, uint64_t i);

/* ---- ref.c ---- */

/* The reference interpreter: computes every output from the inputs, accumulating in double.
   inputs[i] has ir_numel(input i) floats in the logical row-major layout; same for outputs. */
void ir_reference(const Graph *g, const float *const *inputs, float *const *outputs);

/* ---- plan.c ---- */

/* Static memory plan: decides Tensor.store/ws_offset/view_of for every tensor, with
   intermediates sharing workspace bytes when their lifetimes do not overlap, and in-place
   elementwise ops where safe. Fills the Graph's workspace_bytes, peak_bytes, intermediate_bytes. */
void ir_plan(Graph *g);

/* ---- dump.c ---- */

/* Text form of the graph after a pass (weft -d graph): one line per tensor and op. */
void ir_dump(const Graph *g, FILE *f);

#endif
