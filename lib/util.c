/* See LICENSE file for copyright and license details. */
#define _GNU_SOURCE /* F_SETPIPE_SZ, where Linux has it */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "util.h"

const char *argv0 = "mimtools";

/* the output files still open as temporaries, removed if we die */
static struct {
	FILE *fp;
	char *path, *tmp;
} ofiles[8];

void
setargv0(const char *s)
{
	const char *p = strrchr(s, '/');

	argv0 = p ? p + 1 : s;
	signal(SIGXFSZ, SIG_IGN);
}

static void
verr(const char *fmt, va_list ap)
{
	int saved = errno;

	fprintf(stderr, "%s: ", argv0);
	vfprintf(stderr, fmt, ap);
	if (fmt[0] && fmt[strlen(fmt) - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
}

void
warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
}

static void
ofile_abort_all(void)
{
	size_t i;

	for (i = 0; i < LEN(ofiles); i++)
		if (ofiles[i].tmp)
			unlink(ofiles[i].tmp);
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
	ofile_abort_all();
	exit(1);
}

void
udie(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
	ofile_abort_all();
	exit(2);
}

void
errf(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (!msg || msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

void *
emalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("malloc %zu bytes:", n);
	return p;
}

void *
ecalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (!p)
		die("calloc %zu x %zu bytes:", n, m);
	return p;
}

void *
ereallocarray(void *p, size_t n, size_t m)
{
	if (m && n > SIZE_MAX / m) {
		errno = ENOMEM;
		die("reallocarray %zu x %zu bytes:", n, m);
	}
	p = realloc(p, (n && m) ? n * m : 1);
	if (!p)
		die("realloc %zu x %zu bytes:", n, m);
	return p;
}

char *
estrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die("strdup:");
	return p;
}

void
efread(void *p, size_t n, FILE *fp, const char *name)
{
	if (fread(p, 1, n, fp) != n) {
		if (ferror(fp))
			die("%s: read:", name);
		die("%s: unexpected end of file", name);
	}
}

void
efwrite(const void *p, size_t n, FILE *fp, const char *name)
{
	if (fwrite(p, 1, n, fp) != n)
		die("%s: write:", name);
}

void
badopt(int c, char *argv[])
{
	const char *arg = argv[optind - 1];
	int isl = !strncmp(arg, "--", 2);

	if (c == ':' && isl)
		warn("%s: missing argument", arg);
	else if (c == ':')
		warn("-%c: missing argument", optopt);
	else if (isl)
		warn("%s: unknown option or bad argument", arg);
	else
		warn("-%c: unknown option", optopt);
}

long long
estrtonum(const char *s, long long min, long long max, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end || errno == ERANGE)
		udie("%s %s: not an integer", what, s);
	if (v < min)
		udie("%s %s: too small (min %lld)", what, s, min);
	if (v > max)
		udie("%s %s: too large (max %lld)", what, s, max);
	return v;
}

double
estrtod(const char *s, double min, double max, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno == ERANGE || !isfinite(v))
		udie("%s %s: not a number", what, s);
	if (v < min)
		udie("%s %s: too small (min %g)", what, s, min);
	if (v > max)
		udie("%s %s: too large (max %g)", what, s, max);
	return v;
}

int
fshut(FILE *fp, const char *name)
{
	int ret = 0;

	if (fflush(fp) == EOF || ferror(fp)) {
		warn("%s: write:", name);
		ret = 1;
	}
	if (fp != stdout && fp != stderr && fp != stdin && fclose(fp) == EOF) {
		warn("%s: close:", name);
		ret = 1;
	}
	return ret;
}

/*
 * A pipe between two stages holds 64 KiB by default: a stage that
 * writes a batch of a megabyte then waits on the next one, chunk by
 * chunk, instead of running beside it.  Where Linux allows (up to
 * /proc/sys/fs/pipe-max-size, 1 MiB unless raised), both ends ask for
 * PIPE_BYTES; failure changes nothing but the speed.
 */
enum { PIPE_BYTES = 1 << 20 };

static void
pipe_grow(FILE *fp)
{
#ifdef F_SETPIPE_SZ
	struct stat st;
	int fd = fileno(fp);

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
	    fcntl(fd, F_GETPIPE_SZ) < PIPE_BYTES)
		fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES);
#else
	(void)fp;
#endif
}

FILE *
ofile_open(const char *path, int binary)
{
	struct stat st;
	size_t i, n;
	FILE *fp;

	if (!path || !strcmp(path, "-")) {
		if (binary && isatty(1))
			die("refusing to write binary tensor stream to a terminal");
		pipe_grow(stdout);
		return stdout;
	}
	for (i = 0; i < LEN(ofiles) && ofiles[i].fp; i++)
		;
	if (i == LEN(ofiles))
		die("%s: too many output files", path);
	/* a device or a pipe (-o /dev/null) is written in place */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (!(fp = fopen(path, "wb")))
			die("%s:", path);
		if (binary && isatty(fileno(fp)))
			die("refusing to write binary tensor stream to a terminal");
		pipe_grow(fp);
		ofiles[i].path = estrdup(path);
		ofiles[i].fp = fp;
		return fp;
	}
	n = strlen(path) + 5;
	ofiles[i].path = estrdup(path);
	ofiles[i].tmp = emalloc(n);
	snprintf(ofiles[i].tmp, n, "%s.tmp", path);
	if (!(fp = fopen(ofiles[i].tmp, "wb")))
		die("%s:", ofiles[i].tmp);
	ofiles[i].fp = fp;
	return fp;
}

/* make a rename in path's directory durable; best effort */
static void
syncdir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!(dir = strdup(slash ? path : ".")))
		return;
	if (slash)
		dir[slash - path + (slash == path)] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

void
ofile_close(FILE *fp)
{
	size_t i;

	/* one line for a full disk: "tool: out.tsr: write: No space..." */
	if (fp == stdout) {
		if (fflush(fp) == EOF || ferror(fp))
			die("<stdout>: write:");
		return;
	}
	for (i = 0; i < LEN(ofiles) && ofiles[i].fp != fp; i++)
		;
	if (i == LEN(ofiles) || !ofiles[i].tmp) { /* written in place */
		if (fflush(fp) == EOF || ferror(fp) || fclose(fp) == EOF)
			die("%s: write:", i < LEN(ofiles) ? ofiles[i].path : "output");
		if (i < LEN(ofiles)) {
			free(ofiles[i].path);
			memset(&ofiles[i], 0, sizeof(ofiles[i]));
		}
		return;
	}
	if (fflush(fp) == EOF || ferror(fp) || fsync(fileno(fp)) < 0 ||
	    fclose(fp) == EOF) {
		ofiles[i].fp = NULL;
		die("%s: write:", ofiles[i].path);
	}
	if (rename(ofiles[i].tmp, ofiles[i].path) < 0)
		die("rename %s to %s:", ofiles[i].tmp, ofiles[i].path);
	syncdir(ofiles[i].path);
	free(ofiles[i].tmp);
	free(ofiles[i].path);
	memset(&ofiles[i], 0, sizeof(ofiles[i]));
}

void
omp_passive(char *argv[])
{
	if (getenv("OMP_WAIT_POLICY"))
		return;
	if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) < 0)
		return;
	execv("/proc/self/exe", argv);
	/* no /proc: go on as we are */
}

void *
bigmap(size_t bytes)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	void *p;

#ifdef MAP_NORESERVE
	flags |= MAP_NORESERVE;
#endif
	p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
}

void
bigunmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes ? bytes : 1);
}

FILE *
ifile_open(const char *path)
{
	FILE *fp;

	if (!path || !strcmp(path, "-")) {
		pipe_grow(stdin);
		return stdin;
	}
	if (!(fp = fopen(path, "rb")))
		die("%s:", path);
	pipe_grow(fp);
	return fp;
}

const char *
ifile_name(const char *path)
{
	return (!path || !strcmp(path, "-")) ? "<stdin>" : path;
}

/* ------------------------------------------------------------------ */
/* random numbers                                                      */

uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
splitmix64(uint64_t *x)
{
	return mix64(*x += 0x9e3779b97f4a7c15ULL);
}

void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed;

	x = splitmix64(&x) ^ stream;
	r->s = splitmix64(&x);
	if (!r->s)
		r->s = 0x2545f4914f6cdd1dULL;
}

uint64_t
rng_u64(struct rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

uint32_t
rng_below(struct rng *r, uint32_t n)
{
	/* Lemire's multiply-shift; the bias is below 2^-32 */
	return (uint32_t)(((rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

double
rng_uniform(struct rng *r)
{
	return (rng_u64(r) >> 11) * 0x1.0p-53;
}

double
rng_normal(struct rng *r)
{
	double u1 = 1.0 - rng_uniform(r), u2 = rng_uniform(r);

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double
monotonic(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

void
die_nonfinite(long step, const char *what, const char *lastck,
              long lastckstep)
{
	if (lastck)
		die("step %ld: %s; stopping (the last good checkpoint is %s, "
		    "step %ld)", step + 1, what, lastck, lastckstep);
	die("step %ld: %s; stopping (no checkpoint written yet)", step + 1, what);
}
