/* tests/unit/check.h: the small harness the unit tests share.
 *
 * begin("name"); CHECK(cond, "printf-style why", ...); ...; end(); prints "ok name", or "FAIL name:
 * why" (and further failures of the same test indented), and counts failed tests in
 * unit_failures, which main returns as its exit status (non-zero on any failure).
 */
#ifndef WEFT_UNIT_CHECK_H
#define WEFT_UNIT_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int unit_failures;
static const char *test_name;
static bool test_failed;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s %s: ", test_failed ? "    " : "FAIL", test_name);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	test_failed = true;
}

#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fail(__VA_ARGS__); \
	} while (0)

static void begin(const char *name) __attribute__((unused));
static void begin(const char *name)
{
	test_name = name;
	test_failed = false;
}

static void end(void) __attribute__((unused));
static void end(void)
{
	if (test_failed)
		unit_failures++;
	else
		printf("ok %s\n", test_name);
	fflush(stdout);
}

#endif
