/* tune/tune.h: building and running programs, and (later) the tuner: the tune/ folder.
 *
 * Every child process is started with an argument vector (fork + execvp), never through a shell,
 * so nothing from a model or the command line is ever interpreted as shell text.
 * Sections follow the files: exec.c.
 */
#ifndef WEFT_TUNE_H
#define WEFT_TUNE_H

#include "../ir/ir.h"

/* ---- exec.c ---- */

/* Run argv (argv[0] looked up in PATH) and wait for it, killing it after timeout_s seconds
   (0: no limit). Returns its exit status, 128+signal if it was killed by a signal, or -1 if it
   could not be started (with error_plain). When quiet, its stdout and stderr go to /dev/null. */
int tune_run(char *const argv[], double timeout_s, bool quiet);
/* The compiler flags that enable a target's SIMD branch ("-march=native" for native), or NULL
   for a target this host's compiler is not asked about (neon: its compiler's default). Every
   build of generated code that runs here (tune's candidates, run, verify, fuzz) uses them, so
   what is checked is the branch that runs. */
const char *tune_target_flags(const char *target);
/* The C compiler as an argument vector: $CC split on blanks (default "cc"); *n is its length.
   The array has room for extra arguments appended by the caller up to 64 in all. */
char **tune_cc_argv(int *n);
/* A fresh private directory under $TMPDIR (or /tmp); NULL with error_plain on failure. */
char *tune_make_tmpdir(void);
/* Remove a directory made by tune_make_tmpdir and the files in it (not recursive). */
void tune_remove_tmpdir(const char *dir);
/* Like tune_run (never quiet), with the child's stdout and stderr written to the file log_path
   (created or truncated), e.g. a compiler's messages, shown by the caller only on failure. */
int tune_run_log(char *const argv[], double timeout_s, const char *log_path);
/* Set by tune_run and tune_run_log: the last child was killed because it ran past its timeout. */
extern bool tune_timed_out;
/* A SIGINT, SIGTERM or SIGHUP that arrives while a child runs kills the child's process group
   and is then re-raised; this hook, when set, runs just before (e.g. to remove a temp dir). */
extern void (*tune_on_interrupt)(void);

/* ---- the tuner: task.c, log.c, measure.c, search.c, tune.c ---- */

/* task.c: a tuning task is one distinct operator workload; layers with equal workloads share it.
   Its key is the text of a one-op model (without the model line) with canonical names: the
   op's result is "y", argument i is "x<i>" (an input) or "w<i>" (a param), so a schedule
   written for the task renames onto every layer with that workload. */
typedef struct TuneTask {
	char *key;    /* the workload (malloc'd) */
	char *title;  /* "conv2d f32[1, 64, 56, 56] -> f32[1, 64, 56, 56]" (malloc'd) */
	int *ops;     /* the ops of the model with this workload (malloc'd) */
	int nops;
	double flops; /* of one op */
} TuneTask;
/* The workload key of op of g, or NULL for an op that is not tuned (reshape, flatten). */
char *tune_workload_key(const Graph *g, int op);
/* The distinct workloads of g's ops, in model order. */
TuneTask *tune_tasks(const Graph *g, int *ntasks);
/* The model text of a key ("model task\n" KEY "\n") and its parsed, inferred graph (NULL after
   errors; weights not loaded). */
char *tune_task_text(const char *key);
Graph *tune_task_graph(const char *key);
/* Parse a one-line schedule of a task (directives separated by ';', no header) against the
   task's graph; false if it does not parse (quiet when quiet: errors go nowhere). */
bool tune_parse_sched(const Graph *tg, const char *text, Schedule *S, bool quiet);
/* The one-line text of a task schedule. */
char *tune_sched_text(const Graph *tg, const Schedule *S);
/* Append S (a task schedule) renamed onto op of g to out. */
void tune_rename_schedule(const Graph *g, int op, const Schedule *S, Schedule *out);

/* log.c: the tuning log, one JSON object per line (see the file's comment). */
typedef struct TuneRecord {
	char *workload, *target, *cc, *flags, *cpu, *sched, *status, *origin;
	char *timing;      /* "warm" or "cold" (TuneMachine.timing); old logs: "warm" */
	double median_ns;  /* status "ok" only; else 0 */
	double predicted;  /* the cost model's prediction (log ns) when it proposed it, or NAN */
	double vs_default; /* timed beside the default in one process: the median of its time over
	                      the default's, run by run; else NAN */
	int trial;
} TuneRecord;
typedef struct TuneMachine {
	const char *target, *cc, *flags, *cpu;
	bool openmp; /* candidates built with -fopenmp ($CC takes it) */
	/* "warm": repeats back to back, caches as the last run left them; "cold" (--cold):
	   evict_bytes (twice L2) written and the big params flushed from every cache before each
	   timed run, so its input comes from L3 and its weights from memory, as in a model. A log
	   holds trials of one timing only ("cold-l2", L2 evicted only, was session 10's --cold). */
	const char *timing;
	long evict_bytes;
} TuneMachine;
/* Every valid record of the log (a missing log: none); corrupt lines are skipped with a
   warning. false only if the file exists but cannot be read. */
bool tune_log_read(const char *path, TuneRecord **recs, int *n);
/* Append one record as one line under an exclusive lock, flushed to the file. */
bool tune_log_append(const char *path, const TuneRecord *r);
/* The CPU model (/proc/cpuinfo) and the compiler's first --version line. */
const char *tune_cpu_model(void);
const char *tune_cc_version(void);
/* Is the file a log (its first non-blank character is '{')? */
bool tune_is_log(const char *path);

/* measure.c: building, checking and timing candidates. */
/* The machine record for target: flags, compiler, CPU; false (with an error) for a target that
   cannot run here (neon). */
bool tune_machine(const char *target, bool cold, TuneMachine *m);
typedef struct TuneBench {
	const char *key;         /* the task's workload (a whole model: its name) */
	Graph *model;            /* a whole model (the graph pass), or NULL for a task */
	const char *dir;         /* its inputs, reference outputs and weights; candidates below */
	const TuneMachine *m;
	bool runtime_params;     /* big params: filled at run time, so candidates compile fast */
	double compile_timeout;  /* seconds */
	double run_timeout;      /* seconds ($WEFT_TUNE_TIMEOUT, default 10) */
	bool profile;            /* a whole model: time each op too (TuneCand.op_ns) */
} TuneBench;
typedef struct TuneCand {
	char *sched;       /* the task schedule's one-line text */
	const char *inject; /* test hook: crash, hang, wrong, compile, or NULL */
	const char *origin; /* default, random, mutation, model */
	const char *versus; /* a schedule to time beside it run by run in one process, or NULL */
	double predicted;  /* the cost model's prediction (log ns) or NAN */
	const char *status; /* set by tune_measure (see log.c) */
	double median_ns;
	const char *detail; /* why it failed, for the progress lines */
	double *op_ns;      /* a profiled whole model: per op, the median time of its nests (0: none) */
	double vs_ratio;    /* with versus: the median of its time over versus's, run by run; else NAN */
} TuneCand;
/* Write the task's directory; false after an error. */
bool tune_bench_init(TuneBench *b, const char *key, const char *dir, const TuneMachine *m);
/* The same for a whole model (inferred; weights are loaded here, pseudo-random if it names
   none). Candidates are schedules of the whole model. */
bool tune_bench_init_model(TuneBench *b, Graph *g, const char *dir, const TuneMachine *m);
/* Build the n candidates jobs at a time, then run each alone; done(ctx, c) after each. */
void tune_measure(const TuneBench *b, TuneCand *c, int n, int jobs,
	void (*done)(void *ctx, TuneCand *c), void *ctx);

/* search.c: candidates and the cost model. */
enum { TUNE_NF = 13, TUNE_MIN_FIT = 6 }; /* features; measurements before the model is used */
/* Apply sched to the task's program in a child; false if it is illegal, else its features. */
bool tune_features(const char *key, const char *sched, double *f);
/* Schedules of a task's lowered, unscheduled program P, as one-line texts. */
char *tune_default_sched(const Prog *P);
char *tune_random_sched(const Prog *P, uint64_t seed);
/* The default rule with the i-th variation of its knobs (register block, order) for op (-1:
   every op), i from 0; NULL past the last. Often the rule's own schedule (a knob that does not
   fit the shape is ignored): callers skip what they have seen. */
char *tune_default_variant(const Prog *P, int op, int i);
/* The knobs (nv, rb, order) of the i-th variation; false past the last. */
bool tune_variant_knobs(int i, SchedKnobs *k);
char *tune_mutate(const Prog *P, const char *best, uint64_t seed); /* NULL if best is unreadable */
/* The same without crossover: one directive dropped or one split factor changed (whole models,
   where half a random schedule is never an improvement). */
char *tune_mutate_local(const Prog *P, const char *best, uint64_t seed);
typedef struct TuneModel {
	bool fitted;
	double w[TUNE_NF];
} TuneModel;
void tune_model_fit(TuneModel *m, double (*X)[TUNE_NF], const double *y, int n);
double tune_model_predict(const TuneModel *m, const double *f);
double tune_spearman(const double *a, const double *b, int n); /* NAN if n < 3 */

/* graph.c: the graph-level pass and the composition of a model's schedule. */
/* The workload key of a whole model's records: "graph NAME HASH" (its ops, shapes, names). */
char *tune_graph_key(const Graph *g);
/* P's schedule: for each op with op_sched[op] (a schedule of the op's task, one-line text),
   that schedule renamed onto the op; the default rule for the other ops' stages and tensors.
   Layout directives first, then loop directives, then compute_at. false if a text does not
   parse against its task. */
bool tune_compose(const Prog *P, const char *target, char *const *op_sched, Schedule *S);
/* The whole-model record of key that gen uses (see graph.c): a schedule that beat the default
   measured beside it every time, MIN_PAIRS times at least; else the default's record.
   *worst_ns its slowest time. NULL if none. */
const TuneRecord *tune_best_whole(const TuneRecord *r, int n, const char *key, const char *target,
	const char *cpu, double *worst_ns);
/* The record of a task's workload that gen uses: by tune_best_whole's rule once weft tune has
   timed the task's finalists again (origin "confirm"), else the fastest. NULL if none. */
const TuneRecord *tune_best_task(const TuneRecord *r, int n, const char *key, const char *target, const char *cpu);
typedef struct TuneGraphPass {
	Graph *g;                /* the model, inferred */
	const char *target, *log, *dir;
	const TuneMachine *m;
	int jobs;
	double deadline;         /* CLOCK_MONOTONIC seconds; 0: none */
	const TuneTask *tasks;
	int ntasks;
	char *const *best;       /* per task: its best schedule text, or NULL */
} TuneGraphPass;
/* Measure the whole model, op by op: the default rule, the rule's variations on every op, each
   op on its fastest option (default, variation, its task's best), mutations (see graph.c);
   append each to the log under the model's graph key (origin default, graph, variant, mix,
   context). */
void tune_graph_pass(const TuneGraphPass *in);

/* tune.c */
/* Was r measured for this target on this CPU? */
bool tune_same_machine(const TuneRecord *r, const char *target, const char *cpu);
/* weft tune ...: argv[0] is "tune". Exit status as the other commands. */
int tune_main(int argc, char **argv);

/* report.c */
/* weft tune --report LOG; the exit status. */
int tune_report(const char *log);
/* A time for people: "1.234 ms", "12.34 us", "123 ns"; "-" if not positive. */
const char *tune_ms(double ns);
/* The schedule of P (lowered, unscheduled) from a log: per workload the best record for this
   target and machine, the default rule for the rest (with a note naming them). false after an
   error (unreadable log). */
bool tune_log_schedule(const Prog *P, const char *log, const char *target, Schedule *S);

#endif
