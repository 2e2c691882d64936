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
Token *ir_lex_next(Lexer *L);
/* "expected ..., saw X" at t (error_at); quiet when t is a TK_ERROR. Always false. */
bool ir_unexpected(const Token *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ir_tok_describe(const Token *t); /* "end of line", "'foo'"... */ /* arena-allocated, stays valid; TK_EOF forever at the end */
/* The same lexer for schedule files: '.' and ';' are TK_PUNCT too, and a ';' or a newline
   always ends a directive (even after a missing ')'), so one error never swallows the next. */
Lexer *ir_lexer_sched(const Source *src);

/* ---- ix.c: index expressions (integer, affine plus division and modulo by constants) ---- */

enum {
	IR_MAX_PHYS = 12,  /* physical dimensions of a laid-out tensor */
	IR_MAX_PRIMS = 8,  /* primitives in one layout */
	IR_MAX_LOOPS = 16, /* loops of one stage's nest */
	IR_MAX_GUARDS = 12,
	IR_MAX_PREFETCH = 4, /* prefetch directives of one stage */
};

typedef enum {
	IX_CONST, /* c */
	IX_VAR,   /* loop variable var (an id into Prog.vars) */
	IX_ADD,   /* a + b */
	IX_MUL,   /* a * c */
	IX_DIV,   /* floor(a / c), c > 0 */
	IX_MOD,   /* a - c * floor(a / c), c > 0 */
	IX_MIN,   /* min(a, c) */
	IX_MAX,   /* max(a, c) */
} IxKind;

/* Immutable once built (arena); builders fold constants, so trees stay small. */
typedef struct Ix {
	IxKind kind;
	int64_t c;
	int var;
	const struct Ix *a, *b;
} Ix;

const Ix *ix_const(int64_t c);
const Ix *ix_var(int var);
const Ix *ix_add(const Ix *a, const Ix *b);
const Ix *ix_addc(const Ix *a, int64_t c);
const Ix *ix_mul(const Ix *a, int64_t c);
const Ix *ix_div(const Ix *a, int64_t c);
const Ix *ix_mod(const Ix *a, int64_t c);
const Ix *ix_min(const Ix *a, int64_t c);
const Ix *ix_max(const Ix *a, int64_t c);
/* e with variable var replaced by with. */
const Ix *ix_subst(const Ix *e, int var, const Ix *with);
/* Smallest and largest value of e when each variable v ranges over [0, extent[v]). */
void ix_bounds(const Ix *e, const int64_t *extent, int64_t *lo, int64_t *hi);
/* An equivalent expression, simpler where the ranges allow: (o*16 + i) / 16 -> o and
   (o*16 + i) % 16 -> i when i is in [0, 16). This is how index maps of split layouts lose their
   division and modulo in loops split the same way. */
const Ix *ix_simplify(const Ix *e, const int64_t *extent);
int64_t ix_eval(const Ix *e, const int64_t *vals);
bool ix_uses(const Ix *e, int var);
bool ix_has_divmod(const Ix *e);
/* If e is affine in var (e = k*var + rest, rest free of var), true and *k; else false. */
bool ix_coeff(const Ix *e, int var, int64_t *k);
bool ix_equal(const Ix *a, const Ix *b);
/* ixtext.c: C text of e; var_name gives a variable's C name. */
char *ix_str(const Ix *e, const char *(*var_name)(int var, void *ctx), void *ctx);

/* ---- layout.c: physical layouts of tensors ---- */

/* A layout is a list of primitives applied in order to a tensor's logical dims (row-major at
   the start). NCHW16c = split(1, 16) reorder(0, 1, 3, 4, 2): [N, C/16, 16, H, W] -> [N, C/16, H,
   W, 16]. Dimension numbers refer to the shape as transformed by the primitives before. */
typedef enum {
	LP_SPLIT,   /* split(dim, factor): dim n -> [ceil(n/factor), factor]; the tail is padding */
	LP_REORDER, /* reorder(p0, p1, ...): new dim i is old dim perm[i] (a permutation of all) */
	LP_FUSE,    /* fuse(dim): dims dim and dim+1 -> one of their product */
	LP_PAD,     /* pad(dim, before, after): dim n -> n + before + after, index + before */
} LayoutPrimKind;

typedef struct LayoutPrim {
	LayoutPrimKind kind;
	int dim;
	int64_t factor;         /* split */
	int64_t before, after;  /* pad */
	int n;                  /* reorder: number of entries in perm */
	int perm[IR_MAX_PHYS];  /* reorder */
} LayoutPrim;

typedef struct Layout {
	int n;                  /* 0: the logical row-major layout */
	LayoutPrim p[IR_MAX_PRIMS];
} Layout;

/* Physical shape of logical dims under L. false and a message in err if a primitive does not
   apply (dimension out of range, factor < 1, not a permutation, too many dims). */
bool ir_layout_shape(const Layout *L, int rank, const int64_t *dims, int *prank, int64_t *pdims,
	char *err, size_t errlen);
int64_t ir_layout_numel(const Layout *L, int rank, const int64_t *dims); /* padding included */
/* Physical element offset (row-major over the physical shape) of a logical index; concrete and
   symbolic versions. The layout must apply (ir_layout_shape true). */
int64_t ir_layout_offset_at(const Layout *L, int rank, const int64_t *dims, const int64_t *logical);
const Ix *ir_layout_offset(const Layout *L, int rank, const int64_t *dims, const Ix *const *logical);
/* How far logical dim d may be indexed without leaving the buffer or aliasing another element:
   dims[d], or more when the layout pads it (split(d, 16) of 20 -> 32). */
int64_t ir_layout_capacity(const Layout *L, int rank, const int64_t *dims, int d);
bool ir_layout_equal(const Layout *a, const Layout *b);
/* Text form, the one schedules use: "split(1, 16) reorder(0, 1, 3, 4, 2)"; "" for logical. */
char *ir_layout_str(const Layout *L);

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
	Layout layout;           /* physical layout (sched.c); n == 0 for the logical one */
	bool internal;           /* made by lowering (a softmax's row maxima...), not in the model */
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

/* ---- fold.c: batchnorm folded into the conv before it ---- */

/* Each conv2d whose result only a batchnorm reads (not a model output; conv weights, bias and
   the batchnorm's params all params) becomes one conv2d with new params
   "<bn out>__w" and "<bn out>__b" (appended to g->weights, computed in double), writing the
   batchnorm's output tensor; the batchnorm op and the conv's old result are removed (op and
   tensor ids renumbered). After ir_load_weights, before ir_lower. Always true (no user errors). */
bool ir_fold(Graph *g);
/* A new tensor "<base>__<what>" (a number after it if that is taken or too long) appended to
   g->tensors (which moves), no producer, not an input or output; its id. */
int ir_new_tensor(Graph *g, const char *base, const char *what, TensorKind kind, int rank,
	const int64_t *dims, Loc loc);
/* unitstride.c: each conv2d with a 1x1 kernel, no padding, one group and a stride above 1
   reads a new tensor "<conv out>__sub" = maxpool2d(x, kernel 1, the conv's stride),
   an op inserted right before it (op ids after it shift by one), at stride 1: the same
   results, over contiguous pixels. After ir_fold, before ir_lower. Always true. */
bool ir_unit_stride(Graph *g);
/* Every rewrite before lowering, in order (ir_fold, then ir_unit_stride): what gen, fuzz and
   tune all run, so that the tuner's task keys are those of the ops gen looks up. */
bool ir_rewrite(Graph *g);

/* ---- ref.c ---- */

/* The reference interpreter: computes every output from the inputs, accumulating in double.
   inputs[i] has ir_numel(input i) floats in the logical row-major layout; same for outputs. */
void ir_reference(const Graph *g, const float *const *inputs, float *const *outputs);

/* ---- plan.c ---- */

/* Static memory plan: decides Tensor.store/ws_offset/view_of for every tensor, with
   intermediates sharing workspace bytes when their lifetimes do not overlap, and in-place
   elementwise ops where safe. Fills the Graph's workspace_bytes, peak_bytes, intermediate_bytes. */
void ir_plan(Graph *g);
/* The same for the scheduled program's graph (P->g), with lifetimes in the order the generator
   prints stages (a stage computed at another lives in its host's block) and no bytes for dead
   values passed in locals. The one to call before gen_model(g, P, ...) once a schedule applies
   compute_at; ir_plan's op-order lifetimes can overlap bytes that such a schedule uses at once. */
struct Prog;
void ir_plan_prog(const struct Prog *P);

/* ---- dump.c ---- */

/* Text form of the graph after a pass (weft -d graph): one line per tensor and op. */
void ir_dump(const Graph *g, FILE *f);

/* ==== The loop IR: ops lowered to stages, stages scheduled ==== */

/* ---- loop.c: the loop IR ---- */

typedef enum { LOOP_SERIAL, LOOP_PARALLEL, LOOP_VECTOR, LOOP_UNROLL } LoopKind;

/* A loop variable. Splitting or fusing makes new ones; the old ones become expressions of them
   (substituted into every index of the stage), so a stage always reads in its current loops. */
typedef struct Var {
	char name[32];     /* in C: weft_NAME; "k", then "k_o"/"k_i" after a split, "n_k" after fuse */
	int64_t extent;    /* iterates 0 .. extent-1 */
	bool reduction;    /* a reduction dimension of its stage (order-free sum or max) */
	LoopKind kind;
	int stage;         /* the stage whose nest it belongs to */
} Var;

/* Float expressions of a stage's body. */
#define IR_FNS(X) X(RELU) X(RELU6) X(SIGMOID) X(TANH) X(EXP) X(GELU) X(SQRT) X(NEG) X(RECIP) \
	X(CLIP) X(LEAKY_RELU)
typedef enum {
#define X(e) FN_##e,
	IR_FNS(X)
#undef X
	FN_COUNT
} Fn;
typedef enum { BIN_NONE, BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_MAX, BIN_MIN } Bin;

typedef enum {
	V_CONST, /* c */
	V_LOAD,  /* tensor[idx...] (logical index; the tensor's layout maps it) */
	V_INDEX, /* (float) of the integer expression ix (avgpool divisors) */
	V_UN,    /* fn(a), with parameters p1, p2 (clip bounds, leaky alpha) */
	V_BIN,   /* bin(a, b) */
} ValKind;

typedef struct Val {
	ValKind kind;
	double c;
	int tensor;
	const Ix *idx[IR_MAX_RANK];
	const Ix *ix;
	Fn fn;
	Bin bin;
	double p1, p2;
	const struct Val *a, *b;
} Val;

/* lo <= e < hi */
typedef struct Guard {
	const Ix *e;
	int64_t lo, hi;
} Guard;

/* A stage: a perfect loop nest whose body stores one value:
     for loops...: if (guards) tensor[idx] = val        (accum BIN_NONE)
                                tensor[idx] += val       (accum BIN_ADD)
                                tensor[idx] = max(...)   (accum BIN_MAX)
   An op lowers to one or more stages in order (conv2d: "init" stores the bias, "update"
   accumulates). Every stage of every op is in one Prog, so fusion across ops is a relation
   between stages. */
typedef struct Stage {
	int op;                     /* the op it computes part of */
	char name[16];              /* "init", "update", "main", "max"...; unique within the op */
	int nloops;
	int loops[IR_MAX_LOOPS];    /* var ids, outer to inner */
	int tensor;                 /* the store */
	const Ix *idx[IR_MAX_RANK];
	Bin accum;
	const Val *val;
	int nguards;
	Guard guards[IR_MAX_GUARDS];
	/* schedule state (sched.c) */
	int init_stage;             /* update stages: the stage that initialises tensor, else -1 */
	int cache_at;               /* cache_write: accumulate in locals inside loops[cache_at]
	                               (-1: in memory); the init stage is then folded in */
	int at_stage, at_loop;      /* compute_at: emitted inside loop at_loop (a position in the
	                               host's loops) of stage at_stage; -1 when on its own */
	int npf;                    /* prefetch: in each iteration of var pf_var[i], what its next
	                               iteration reads of tensor pf_tensor[i] (SIMD branch only) */
	int pf_var[IR_MAX_PREFETCH], pf_tensor[IR_MAX_PREFETCH];
	bool folded;                /* an init stage folded into its update's cache_write */
	bool dead;                  /* its tensor is never stored: consumers read the locals */
} Stage;

typedef struct Prog {
	Graph *g;
	Var *vars;
	int nvars, capvars;
	Stage *stages;
	int nstages, capstages;
} Prog;

int ir_new_var(Prog *P, const char *name, int64_t extent, bool reduction, int stage);
Stage *ir_new_stage(Prog *P, int op, const char *name);
/* Builders of float expressions (arena). */
const Val *val_const(double c);
const Val *val_load(int tensor, int rank, const Ix *const *idx);
const Val *val_index(const Ix *ix);
const Val *val_un(Fn fn, const Val *a, double p1, double p2);
const Val *val_bin(Bin bin, const Val *a, const Val *b);
/* v with variable var replaced by with in every index. */
const Val *val_subst(const Val *v, int var, const Ix *with);
/* Text of the loop IR (weft -d lower / -d sched). */
void ir_prog_dump(const Prog *P, FILE *f);

/* ---- lower.c: ops -> stages ---- */

/* Lower every op of an inferred graph into stages of default (unscheduled) loop nests over the
   logical shapes: spatial loops outer in dimension order, reduction loops inner. May add
   internal tensors (Tensor.internal) for per-row temporaries (softmax maxima and sums,
   layernorm means...). Views (reshape/flatten whose output the plan makes a view) still get a
   copy stage; the generator skips stages whose tensor is a view of their input. */
Prog *ir_lower(Graph *g);

/* ---- loopeval.c: an interpreter of the loop IR (test oracle) ---- */

/* Run every stage of P (scheduled or not) in stage order, in double, each tensor a logical
   row-major array; inputs and outputs as for ir_reference. false (and a message on stderr) if
   an access falls outside its tensor. */
bool ir_prog_eval(const Prog *P, const float *const *inputs, float *const *outputs);

/* ---- sched.c: schedules ---- */

typedef enum {
	SD_LAYOUT,     /* layout(TENSOR, prims) */
	SD_SPLIT,      /* STAGE: split(loop, factor, tail) */
	SD_REORDER,    /* STAGE: reorder(loop, loop, ...) */
	SD_FUSE,       /* STAGE: fuse(outer, inner) */
	SD_UNROLL,     /* STAGE: unroll(loop) */
	SD_VECTORIZE,  /* STAGE: vectorize(loop) */
	SD_PARALLEL,   /* STAGE: parallel(loop) */
	SD_CACHE_WRITE,/* STAGE: cache_write(loop) */
	SD_COMPUTE_AT, /* STAGE: compute_at(HOST_STAGE, loop) */
	SD_PREFETCH,   /* STAGE: prefetch(TENSOR, loop) */
} DirKind;

typedef enum { TAIL_EXACT, TAIL_GUARD, TAIL_PAD } Tail;

typedef struct Directive {
	DirKind kind;
	Loc loc;                    /* in the schedule file (or none) */
	char stage[IR_MAX_NAME + 20]; /* "t1.update" (TENSOR.STAGE) for stage directives */
	char tensor[IR_MAX_NAME + 1]; /* SD_LAYOUT, SD_PREFETCH */
	Layout layout;              /* SD_LAYOUT */
	int nloops;
	char loops[IR_MAX_LOOPS][32]; /* loop names as in Var.name */
	int64_t factor;             /* SD_SPLIT */
	Tail tail;                  /* SD_SPLIT */
	char host[IR_MAX_NAME + 20];  /* SD_COMPUTE_AT: host stage */
} Directive;

typedef struct Schedule {
	int n;
	Directive *d;               /* malloc'd */
	int cap;
} Schedule;

void ir_sched_add(Schedule *S, const Directive *d);
/* Apply a schedule to a lowered program: every directive is checked first (error_at the
   directive's loc, naming it and saying why), then applied in order. Layouts propagate from
   a tensor to the results of elementwise ops and pools that read it and have none of their own;
   where an elementwise op's operands have different layouts, a conversion is inserted and
   reported as a note. false if any directive was illegal. */
bool ir_sched_apply(Prog *P, const Schedule *S);
/* Stage by "TENSOR.NAME" or -1. */
int ir_find_stage(const Prog *P, const char *name);
/* The order ir_sched_apply works in (sched.c): every tensor's layout reset to logical; all
   layout directives (wherever they are in the file, so a pad tail is judged against the final
   layouts); propagation and conversion stages (the last time stage ids change); init stages;
   the loop directives in file order, each checked against the program as scheduled so far and
   skipped if illegal (so every mistake is reported in one run); dead flags. */
/* schedcheck.c: one loop directive (split ... compute_at) checked, then applied; false after
   error_at if illegal (nothing changed). Vars with id < nvars0 were made by lowering. */
bool ir_sched_loop_directive(Prog *P, const Directive *d, int nvars0);
/* A directive as a schedule file writes it: "t1.update: split(k, 16, guard)",
   "layout w1 = split(0, 16)" (arena). */
char *ir_directive_str(const Directive *d);
/* sched.c, for schedcheck.c (padded tails): do the store and loads of s stay inside their
   tensors' ir_layout_capacity? Ranges are over ext[0..nvals) (extents by var id), narrowed by
   the guards of s that use only the index's variables (guards with reduction variables only
   when reduction_guards); only dims whose index uses var1 or var2 are checked (var1 = -1: all).
   false, and the first access that does not fit in *miss. */
typedef struct AccessMiss {
	int tensor, dim;
	int64_t at, cap; /* the index it reaches; the room there */
} AccessMiss;
bool ir_stage_accesses_fit(const Prog *P, const Stage *s, const int64_t *ext, int nvals,
	bool reduction_guards, int var1, int var2, AccessMiss *miss);

/* ---- schedtext.c: the text form of schedules ---- */

/* Parse a schedule file for graph g (errors in the model format's form). */
bool ir_sched_parse(const Source *src, const Graph *g, Schedule *S);
/* Print a schedule in the text form ir_sched_parse reads. */
void ir_sched_print(const Graph *g, const Schedule *S, FILE *f);

/* ---- randsched.c: random legal schedules (fuzzing, the tuner's seeds) ---- */

/* A random schedule for the lowered program P (not modified), reproducible from seed. */
void ir_sched_random(const Prog *P, uint64_t seed, Schedule *S);
/* The schedule used without a schedule file (defaults.c): register-blocked kernels by a rule
   reading the shapes and the target set by ir_sched_target (native when never set); legal by
   construction (each directive is tried on a scratch lowering of P->g and kept if accepted). */
void ir_sched_default(const Prog *P, Schedule *S);
/* Variations of the rule for the tuner: for op (-1: every op) a register block of nv vectors
   by rb rows/pixels instead of the rule's (0: the rule's; ignored where it does not fit the
   shape) and the order of a conv's channel blocks (0: the rule's, 1: inside the pixel block,
   2: outermost). Until reset with NULL, every ir_sched_default uses them. */
/* The epilogue chain of op: the pointwise ops (elementwise, batchnorm) right after it, each
   reading op's result or an earlier one of the chain's, which the rule computes on op's
   accumulators (compute_at's condition). Their ids into chain (room for g->nops); the count. */
int ir_epilogue_chain(const Graph *g, int op, int *chain);
/* "TENSOR.STAGE" of stage s, as schedules name it. */
const char *ir_stage_label(const Prog *P, int s);
/* Is stage s an update with an init (an accumulation that cache_write can keep in locals)? */
bool ir_stage_accumulates(const Prog *P, int s);
typedef struct SchedKnobs {
	int op, nv, rb, order;
} SchedKnobs;
void ir_sched_default_knobs(const SchedKnobs *k);
/* The same for several ops at once (n entries, each for its op; the first that matches wins). */
void ir_sched_default_knobs_list(const SchedKnobs *k, int n);

/* ---- defaults.c and plainrules.c: the default rule's building blocks (internal to ir/) ---- */

/* The schedule under construction: layouts first, then loop directives tried in order. */
typedef struct Def {
	const Prog *P;
	Schedule layouts; /* layout directives */
	Schedule loops;   /* loop directives, in order; tried one by one later */
	bool *laid;       /* per tensor: a layout directive was given */
	int W, regs;      /* the target's lanes per vector and vector registers */
} Def;
/* A register block: nv vectors of W channels (or columns) by rb pixels (or rows), rb * nv
   accumulators held in registers across the whole reduction. */
typedef struct RegBlock {
	int64_t nv, rb;
	Tail tail;    /* of the rb split */
	int64_t rows; /* a conv's block of whole rows: rb = rows x the output width (0: one row) */
} RegBlock;
/* Directives of the candidate (defaults.c): a layout for tensor t (unless it has one or is
   not free to take one), a loop directive on stage s, split, fuse, reorder (a NULL-ended list
   of loop names). */
void def_add_layout(Def *D, int t, int n, const LayoutPrim *p);
void def_on_loop(Def *D, int s, DirKind kind, const char *loop);
/* prefetch(tensor t, loop) on stage s (after its split, reorder and fuse). */
void def_prefetch(Def *D, int s, int t, const char *loop);
void def_split(Def *D, int s, const char *loop, int64_t f, Tail tail);
void def_fuse(Def *D, int s, const char *outer, const char *inner);
void def_reorder(Def *D, int s, const char *const *names);
/* op's epilogue chain computed at loop of its stage s. */
void def_epilogue(Def *D, int op, int s, const char *loop);
/* The loop to run in parallel among n candidates (outermost first, with their extents), or
   NULL. */
const char *def_parallel_loop(int n, const char *const *names, const int64_t *ext);
/* regblock.c: the tuner's knobs for op o, or NULL; the rule's block for nvec vectors by a loop
   of extent n (wcost: a vector load's cost against a broadcast; the window variant for a 3x3
   conv reading plain NCHW, within fewer registers), and that block changed by op o's knobs
   where they fit (rows_max: the rows a conv's block may span, 1 elsewhere). */
const SchedKnobs *def_knobs_for(const Def *D, const Op *o);
RegBlock def_pick_block(const Def *D, int64_t nvec, int64_t n, double wcost);
RegBlock def_pick_window_block(const Def *D, int64_t nvec, int64_t n);
RegBlock def_knobbed(const Def *D, const Op *o, RegBlock b, int64_t nvec, int64_t n, int64_t rows_max);
/* The accumulator registers a block may take; nv vectors by rb pixels of rows of n pixels: within
   a row (rb at most n) below two rows, else whole rows, as many as fit the budget and rows_max. */
int64_t def_reg_budget(const Def *D);
RegBlock def_row_block(const Def *D, int64_t nv, int64_t rb, int64_t n, int64_t rows_max);
/* Will tensor t be blocked (laid out blocked, or the result of pointwise ops on one)? */
bool def_planned_blocked(const Def *D, int t);
/* plainrules.c: depthwise convs and pools (chan "k" or "c") on plain NCHW; 1x1 convs between
   plain tensors as GEMMs whose vectors are pixels (pixels_gemm says when). */
void def_dw_plain_loops(Def *D, int op, int s, const char *chan);
bool def_pixels_gemm(const Def *D, const Op *o);
void def_pixels_weight_layout(Def *D, int op);
void def_pixels_loops(Def *D, int op, int s);

/* ---- target.c: the target the default schedule is made for ---- */

/* "avx512" (16 floats a vector, 32 registers), "avx2" (8, 16), "sse" (4, 16), "neon" (4, 32),
   "scalar" (1), "native" or NULL (the host's, from /proc/cpuinfo). */
void ir_sched_target(const char *target);
/* The target's lanes per vector and vector registers (native when never set). */
void ir_sched_target_get(int *width, int *regs);

#endif
