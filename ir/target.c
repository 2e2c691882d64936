/* ir/target.c: the vector unit the default schedule is made for: lanes of a vector and vector
 * registers, named (avx512, avx2, sse, neon, scalar) or detected on the host (native).
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

static int vec_width, vec_regs; /* 0 until set or detected */

/* The host's vector unit, from /proc/cpuinfo (Linux), else what weft itself was built for. */
static void detect_host(int *width, int *regs)
{
	*width = 1;
	*regs = 16;
#if defined(__x86_64__)
	*width = 4; /* SSE2 is baseline there */
#elif defined(__aarch64__)
	*width = 4, *regs = 32; /* and NEON here */
#endif
	char *data;
	size_t len;
	if (!ir_read_file("/proc/cpuinfo", &data, &len))
		return;
	char *text = ir_strndup(data, len);
	free(data);
	char *line = strstr(text, "\nflags");
	if (!line)
		line = strstr(text, "\nFeatures");
	if (!line)
		return;
	char *end = strchr(line + 1, '\n');
	if (end)
		*end = 0;
	if (strstr(line, " avx512f"))
		*width = 16, *regs = 32;
	else if (strstr(line, " avx2") && strstr(line, " fma"))
		*width = 8, *regs = 16;
	else if (strstr(line, " sse2"))
		*width = 4, *regs = 16;
	else if (strstr(line, " asimd"))
		*width = 4, *regs = 32;
}

void ir_sched_target(const char *target)
{
	if (!target || !strcmp(target, "native"))
		detect_host(&vec_width, &vec_regs);
	else if (!strcmp(target, "avx512"))
		vec_width = 16, vec_regs = 32;
	else if (!strcmp(target, "avx2"))
		vec_width = 8, vec_regs = 16;
	else if (!strcmp(target, "sse"))
		vec_width = 4, vec_regs = 16;
	else if (!strcmp(target, "neon"))
		vec_width = 4, vec_regs = 32;
	else
		vec_width = 1, vec_regs = 16;
}

void ir_sched_target_get(int *width, int *regs)
{
	if (!vec_width)
		ir_sched_target("native");
	*width = vec_width;
	*regs = vec_regs;
}
