/*
 * tap.h: the TAP reporting shared by the unit tests (header-only).
 *
 * Contract: TAP 13 on standard output.  ok() prints one line per check,
 * "ok N - what" or "not ok N - what", N counting from 1; diag() prints a
 * "# " diagnostic line; tap_done() prints the plan "1..N" last and
 * returns the exit status for main(): 0 if every check passed, 1 if any
 * failed.  Each line is flushed as it is written, so a test that forks
 * or dies part way leaves no duplicated or lost lines behind.
 *
 * ntest and nfail are the counts so far; a test may print a line of its
 * own (a skip) after incrementing ntest.  The functions are static, so
 * each test program has its own copy and its own counts.
 */
#ifndef MIM_TAP_H
#define MIM_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int ntest, nfail;

/* one check: pass non-zero for "ok"; returns pass */
static inline int
ok(int pass, const char *fmt, ...)
{
	va_list ap;

	ntest++;
	if (!pass)
		nfail++;
	printf("%sok %d - ", pass ? "" : "not ", ntest);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return pass;
}

/* a "# " diagnostic line */
static inline void
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* the plan, last; the exit status for main() */
static inline int
tap_done(void)
{
	printf("1..%d\n", ntest);
	fflush(stdout);
	return nfail != 0;
}

#endif
