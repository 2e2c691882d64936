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

#endif
