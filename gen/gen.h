/* gen/gen.h: weft's code generator and command line: the types and functions of the gen/ folder.
 *
 * gen/ prints C from a planned Graph through one writer (emitf) and the target tables of
 * templates/. Sections follow the files: emit.c, templates.c, cgen.c, harness.c, main.c.
 */
#ifndef WEFT_GEN_H
#define WEFT_GEN_H

#include "../ir/ir.h"

/* ---- emit.c: the one writer of generated text ---- */

typedef struct Buf {
	char *data; /* NUL-terminated, malloc'd */
	size_t len;
	size_t cap;
} Buf;

void emitf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(Buf *b);
void buf_puts(Buf *b, const char *s);
void buf_putn(Buf *b, const char *s, size_t n);
void buf_putc(Buf *b, char ch);
/* A C99 float literal that reads back exactly as v ("1.0f", "-HUGE_VALF"); fast enough for
   millions of weights. */
void gen_float(Buf *b, float v);
/* Write files atomically: each goes to a temporary name in dir, then all are renamed into place,
   so a failure leaves no partial output. false (with error_plain) on failure. */
bool gen_write_files(const char *dir, int n, const char *const *names, const Buf *const *bufs);

/* ---- templates.c: per-target tables of C text, read from templates/TARGET.tpl ---- */

typedef struct Templates Templates;
/* Load templates/<target>.tpl from the template directory (see gen_template_dir). */
Templates *gen_load_templates(const char *target);
/* The text of entry key; dies if the table has no such entry (a weft bug). */
const char *gen_template(const Templates *t, const char *key);
/* Append tpl to b with $1, $2, $3 replaced by a1, a2, a3. */
void gen_expand(Buf *b, const char *tpl, const char *a1, const char *a2, const char *a3);
/* The directory templates are read from: $WEFT_TEMPLATES, else <dir of weft>/templates, else
   <dir of weft>/../share/weft/templates, else the source tree's templates/ (set at build time). */
const char *gen_template_dir(void);

/* ---- cgen.c: the C generator ---- */

typedef struct GenOptions {
	const char *target;   /* native avx512 avx2 sse neon scalar */
	bool runtime_params;  /* fuzzing only: params are mutable statics filled at run time from the
	                         logical blob by NAME_init_params(const float *), so that many
	                         variants of a big model compile fast; never for users' code */
} GenOptions;

/* Generate NAME.h into h and NAME.c into c for a planned graph with weights loaded, from its
   lowered and scheduled program P (P NULL: the v1 per-op scalar kernels of ops.c, while the
   loop-IR emitter replaces them). */
void gen_model(const Graph *g, const Prog *P, const GenOptions *o, Buf *h, Buf *c);

/* Shared by cgen.c (the file, the entry point, where tensors live) and ops.c (one kernel per op). */
typedef struct Gen {
	const Graph *g;
	const Templates *t;  /* the target's table */
	Buf *c;              /* the .c being written */
	int ind;             /* tabs before the next line */
	const char *idx;     /* C type of loop indices: "int", or "long long" for huge tensors */
} Gen;
void gen_line(Gen *G, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "for (IDX weft_VAR = LO; weft_VAR < HI; weft_VAR++) {", after WEFT_PARALLEL_FOR if parallel. */
void gen_for(Gen *G, const char *var, const char *lo, const char *hi, bool parallel);
void gen_forn(Gen *G, const char *var, int64_t n, bool parallel);
void gen_end(Gen *G, const char *var); /* closes a loop: "}" and a comment naming VAR */
/* C expression of a tensor's first element (through views); dies if it has no storage. */
const char *gen_home(Gen *G, int tensor);
/* "const float *restrict NAME = HOME;" (or "float *" for the written one). */
void gen_decl_in(Gen *G, const char *name, int tensor, bool restr);
void gen_decl_out(Gen *G, const char *name, int tensor, bool restr);
const char *gen_flit(double v); /* a float literal (arena string) */
void gen_op_kernel(Gen *G, const Op *op); /* ops.c: the statements of one op inside its block */

/* ---- harness.c: a main() that runs the generated model on raw f32 files ---- */

/* A C file with main(argc, argv): argv = input files in declaration order, then output files.
   Reads each input (exact size checked), runs NAME_run, writes each output. Exit 0 on success. */
void gen_harness(const Graph *g, Buf *c);

#endif
