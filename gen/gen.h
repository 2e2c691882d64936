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
/* The text of entry key, or NULL when the table has none (vector tables leave ops out). */
const char *gen_template_find(const Templates *t, const char *key);
/* Append tpl to b with $1, $2, $3 (and $4) replaced by a1, a2, a3 (and a4). */
void gen_expand(Buf *b, const char *tpl, const char *a1, const char *a2, const char *a3);
void gen_expand4(Buf *b, const char *tpl, const char *a1, const char *a2, const char *a3, const char *a4);
/* The directory templates are read from: $WEFT_TEMPLATES, else <dir of weft>/templates, else
   <dir of weft>/../share/weft/templates, else the source tree's templates/ (set at build time). */
const char *gen_template_dir(void);
/* Append to b the definitions of the helper entries (keys starting "weft_": static functions
   that other entries call) that text names, and of the helpers they call, in table order, each
   after a blank line; nothing when text names none. */
void gen_template_helpers(Buf *b, const Templates *t, const char *text);

/* ---- cgen.c: the C generator ---- */

typedef struct GenOptions {
	const char *target;   /* native avx512 avx2 sse neon scalar */
	bool runtime_params;  /* fuzzing only: params are mutable statics filled at run time from the
	                         logical blob by NAME_init_params(const float *), so that many
	                         variants of a big model compile fast; never for users' code */
	bool profile;         /* the tuner's graph pass only: NAME_run calls weft_prof_mark(op)
	                         before each op's nests and weft_prof_mark(-1) at the end, which
	                         the tuner's harness defines, to time every op in its model */
} GenOptions;

/* Generate NAME.h into h and NAME.c into c for a graph with weights loaded, from its lowered
   and scheduled program P (P->g == g), printed stage by stage by kernel.c. The memory plan must
   be P's (ir_plan_prog after scheduling): a stage computed at another writes its tensor inside
   the host's block, and dead values have no bytes. */
void gen_model(const Graph *g, const Prog *P, const GenOptions *o, Buf *h, Buf *c);

/* Shared by cgen.c (the file, the entry point, where tensors live) and kernel.c (the nests). */
typedef struct Gen {
	const Graph *g;
	const Templates *t;  /* the target's table */
	Buf *c;              /* the .c being written */
	int ind;             /* tabs before the next line */
	const char *idx;     /* C type of loop indices: "int", or "long long" for huge tensors */
	const Prog *P;       /* the scheduled program */
	/* The SIMD target (templates/TARGET.tpl with @width, @guard, @vtype...), or NULL for
	   scalar: vectorized nests get a SIMD branch under its @guard (vector.c). */
	const Templates *vt;
	const char *vtarget; /* its name ("avx512") */
	bool profile;        /* GenOptions.profile */
	/* "}" lines printed at each indentation so far: a local declared at indentation d is out
	   of scope once one is printed at an indentation below d (vshift.c) */
	unsigned closes[64];
} Gen;
/* The target a --target name means here: "native" resolved by the generating host's CPU
   (avx512, avx2 with fma, sse, neon, else scalar); the others unchanged. */
const char *gen_resolve_target(const char *target);
void gen_line(Gen *G, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "for (IDX weft_VAR = 0; weft_VAR < N; weft_VAR++) {", after WEFT_PARALLEL_FOR if parallel. */
void gen_forn(Gen *G, const char *var, int64_t n, bool parallel);
void gen_end(Gen *G, const char *var); /* closes a loop: "}" and a comment naming VAR */
/* C expression of a tensor's first element (through views); dies if it has no storage. */
const char *gen_home(Gen *G, int tensor);
const char *gen_flit(double v); /* a float literal (arena string) */
/* The tensor whose bytes tensor id's are (following view_of). */
int gen_root(const Graph *g, int id);
/* A model line (Op.text) made safe inside a C comment (arena). */
const char *gen_comment_text(const char *s);

/* stagetext.c: a stage's block, whether it prints, and the comment above it. */
/* The stage in whose block stage si is printed: its update for a folded init stage, its host
   for a stage computed at another, else si itself. */
int gen_stage_slot(const Prog *P, int si);
/* Is stage si the copy stage of a reshape/flatten that the plan made a view (nothing to print)? */
bool gen_stage_is_view(const Graph *g, const Prog *P, int si);
/* The comment above stage si's block: its model file and line, statement and loops. */
void gen_provenance(Gen *G, int si);

/* kernel.c: the loop nests of a scheduled Prog (G->P), one block per stage printed on its own. */
/* Print stage si (gen_stage_slot(si) == si, not a view) as a block headed by its provenance
   comment: its nest, its folded init, and the stages computed inside it. */
void gen_stage(Gen *G, int si);

/* ---- harness.c: a main() that runs the generated model on raw f32 files ---- */

/* A C file with main(argc, argv): argv = input files in declaration order, then output files.
   Reads each input (exact size checked), runs NAME_run, writes each output. Exit 0 on success. */
void gen_harness(const Graph *g, Buf *c);

/* ---- runner.c: raw f32 files, building and running generated code (run, verify, fuzz) ---- */

/* Raw little-endian f32 files, whatever the host's byte order. */
void gen_write_le_floats(unsigned char *dst, const float *src, int64_t n);
float *gen_read_f32_file(const char *path, int64_t n, const char *what); /* exactly n, or NULL */
bool gen_write_f32_file(const char *path, const float *v, int64_t n);
/* The same in this machine's byte order, for the harnesses weft itself builds and runs here
   (weft fuzz, weft tune), which read them with fread. */
bool gen_write_host_floats(const char *path, const float *v, int64_t n);
/* Write n files at once (each to a temporary name, then all renamed), so that an error leaves
   none; what[i] names file i in messages ("--out y"). */
bool gen_publish_outputs(int n, const char *const *what, const char *const *paths,
	float *const *data, const int64_t *numel);
/* verify's inputs (stream seed) and the reference's outputs for them, malloc'd. */
float **gen_random_inputs(const Graph *g, uint64_t seed);
float **gen_reference_outputs(const Graph *g, const float *const *in);
/* $CC, then flags, then $WEFT_CFLAGS, as an argument vector (*n used, *cap allocated). */
char **gen_cc_argv(const char *flags, int *n, int *cap);
void gen_append_words(char ***argv, int *n, int *cap, const char *s);
void gen_show_file(const char *path); /* a file's text on stderr */
/* $WEFT_EXEC's words (an emulator such as "qemu-aarch64 -L /usr/aarch64-linux-gnu"; none when
   unset), then prog_argv's, NULL-terminated: how a generated program is run. Free the vector. */
char **gen_exec_argv(char *const *prog_argv);
/* run/verify's private directory: made, and removed at the end (or on an interrupt) unless
   WEFT_KEEP=1. */
char *gen_make_tmpdir(void);
void gen_finish_tmpdir(void);
/* Generate the code of g and P with a harness into dir, compile it, run it on in_paths (raw f32,
   declaration order) and read the outputs back into out (declaration order, malloc'd). */
bool gen_run_generated(const Graph *g, const Prog *P, const GenOptions *go, const char *dir,
	char **in_paths, float **out);
/* weft's result tolerance: |got - want| <= 1e-4 + 1e-4 * |want|, NaN never close. */
bool gen_close(double got, double want);
/* Compare one output with the reference and print its line (and a few mismatches). */
bool gen_compare_output(const Tensor *t, const float *got, const float *want);

/* ---- fuzz.c: weft fuzz ---- */

typedef struct FuzzOptions {
	const char *model;
	const char *weights; /* --weights, or NULL */
	int count;           /* schedules */
	uint64_t seed;       /* variant k uses the random schedule of seed + k */
	int jobs;            /* parallel generation and compiler calls */
	const char *target;  /* --target (native when NULL) */
} FuzzOptions;

/* Check count random legal schedules of the model against the reference; prints one line per
   failing variant and a summary. Exit status: 0 all ok, 1 otherwise. */
int gen_fuzz(const FuzzOptions *fo);

#endif
