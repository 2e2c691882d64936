/* tune/exec.c: running child processes and private temporary directories.
 *
 * Every child is started with fork + execvp from an argument vector, never through a shell. A
 * child runs in its own process group so that a timeout kills it with everything it started
 * (a compiler driver's cc1 and as). Assumes a POSIX system.
 */
#include "tune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool tune_timed_out;
void (*tune_on_interrupt)(void);

enum { CC_ARGV_CAP = 64 };

/* A malloc'd copy of n bytes of s (not the arena: the tuner resets that between candidates). */
static char *copy_word(const char *s, size_t n)
{
	char *p = ir_xrealloc(NULL, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* In the child: point stdout and stderr at path (opened for writing) or leave them alone. */
static void redirect_output(const char *path, bool truncate)
{
	int fd = open(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), 0600);
	if (fd < 0)
		return;
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* In the child: exec argv; on failure send errno up the close-on-exec pipe and exit. */
static _Noreturn void exec_child(char *const argv[], int errfd, const char *out_path, bool quiet)
{
	setpgid(0, 0);
	if (quiet)
		redirect_output("/dev/null", false);
	else if (out_path)
		redirect_output(out_path, true);
	execvp(argv[0], argv);
	int err = errno;
	ssize_t w = write(errfd, &err, sizeof err);
	(void)w;
	_exit(127);
}

/* While a child runs, an interrupt (Ctrl-C reaches only our process group) or a termination
   request is caught, passed on to the child's group as SIGKILL, and then re-raised here. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP};
enum { NFORWARDED = sizeof forwarded / sizeof forwarded[0] };
static volatile sig_atomic_t caught_signal;

static void catch_signal(int sig) { caught_signal = sig; }

static void catch_signals(struct sigaction *old)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = catch_signal;
	sigemptyset(&sa.sa_mask);
	caught_signal = 0;
	for (int i = 0; i < NFORWARDED; i++) {
		sigaction(forwarded[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN) /* nohup'ed: stay deaf to it */
			sigaction(forwarded[i], &sa, NULL);
	}
}

static void restore_signals(const struct sigaction *old)
{
	for (int i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &old[i], NULL);
}

static void kill_child(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Wait for pid, polling; after timeout_s seconds (0: never) kill its process group. */
static int wait_child(pid_t pid, double timeout_s, const char *what, bool quiet)
{
	double deadline = now_seconds() + timeout_s;
	long nap_ns = 1000000; /* 1 ms, growing to 20 ms: quick children return quickly */
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			die("waitpid: %s", strerror(errno));
		if (caught_signal) {
			kill_child(pid);
			return -2;
		}
		if (timeout_s > 0 && now_seconds() >= deadline) {
			kill_child(pid);
			tune_timed_out = true;
			if (!quiet)
				fprintf(stderr, "weft: warning: %s ran longer than %g seconds; killed it\n", what,
				        timeout_s);
			return 128 + SIGKILL;
		}
		struct timespec ts = {0, nap_ns};
		nanosleep(&ts, NULL);
		if (nap_ns < 20000000)
			nap_ns *= 2;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* Start argv; -1 (with an error) if it could not be. */
static pid_t start_child(char *const argv[], bool quiet, const char *out_path)
{
	int pfd[2];
	if (pipe(pfd) < 0) {
		error_plain("cannot run %s: pipe: %s", argv[0], strerror(errno));
		return -1;
	}
	fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
	fflush(NULL); /* keep our buffered output ahead of the child's */
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		error_plain("cannot run %s: fork: %s", argv[0], strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(pfd[0]);
		exec_child(argv, pfd[1], out_path, quiet);
	}
	close(pfd[1]);
	int err = 0;
	ssize_t got;
	while ((got = read(pfd[0], &err, sizeof err)) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (got == (ssize_t)sizeof err) { /* exec failed: the child reported errno and exited */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		error_plain("cannot run %s: %s", argv[0], strerror(err));
		return -1;
	}
	return pid;
}

static int run_child(char *const argv[], double timeout_s, bool quiet, const char *out_path)
{
	struct sigaction old[NFORWARDED];
	tune_timed_out = false;
	catch_signals(old);
	pid_t pid = start_child(argv, quiet, out_path);
	int rc = pid < 0 ? -1 : wait_child(pid, timeout_s, argv[0], quiet);
	restore_signals(old);
	if (rc == -2) { /* we were interrupted: the child is gone; now go the way we were asked to */
		if (tune_on_interrupt)
			tune_on_interrupt();
		raise(caught_signal);
	}
	return rc;
}

int tune_run(char *const argv[], double timeout_s, bool quiet)
{
	return run_child(argv, timeout_s, quiet, NULL);
}

int tune_run_log(char *const argv[], double timeout_s, const char *log_path)
{
	return run_child(argv, timeout_s, false, log_path);
}

char **tune_cc_argv(int *n)
{
	char **argv = ir_xrealloc(NULL, sizeof(char *) * CC_ARGV_CAP);
	const char *cc = getenv("CC");
	*n = 0;
	if (cc) {
		for (const char *p = cc; *p;) {
			while (*p == ' ' || *p == '\t')
				p++;
			const char *start = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
			if (p > start && *n < CC_ARGV_CAP - 8)
				argv[(*n)++] = copy_word(start, (size_t)(p - start));
		}
	}
	if (*n == 0)
		argv[(*n)++] = copy_word("cc", 2);
	argv[*n] = NULL;
	return argv;
}

char *tune_make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	size_t len = strlen(base) + sizeof "/weft-XXXXXX";
	char *path = ir_xrealloc(NULL, len);
	snprintf(path, len, "%s/weft-XXXXXX", base);
	if (!mkdtemp(path)) {
		error_plain("cannot make a temporary directory under %s: %s", base, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

void tune_remove_tmpdir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			size_t len = strlen(dir) + strlen(e->d_name) + 2;
			char *path = ir_xrealloc(NULL, len);
			snprintf(path, len, "%s/%s", dir, e->d_name);
			unlink(path);
			free(path);
		}
		closedir(d);
	}
	rmdir(dir);
}
