/* See LICENSE file for copyright and license details. */
/*
 * util: what every tool needs and nothing more.
 *
 * Errors follow one convention: "tool: message", where a format that ends
 * in ':' gets ": strerror(errno)" appended (the sbase/farbfeld rule).
 * die() exits 1; udie(), for a bad option or operand, exits 2, as does
 * the tool's own usage().  estrtonum() and estrtod() check arguments, so
 * they fail through udie().
 * The e* wrappers die on failure, so only tools/ call them; lib/ code
 * returns -1 and fills an error buffer instead.
 */
#ifndef MIM_UTIL_H
#define MIM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LEN(a)    (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

extern const char *argv0;

/*
 * The tool's name for messages, from argv[0].  Every tool calls it
 * first; it also makes a file size limit (ulimit -f) a write error
 * (EFBIG) that is reported and cleaned up like a full disk, rather than
 * a death by SIGXFSZ that leaves a temporary file behind.
 */
void setargv0(const char *);
void warn(const char *, ...);
_Noreturn void die(const char *, ...);
_Noreturn void udie(const char *, ...); /* a usage error: exit 2 */
/*
 * For lib/: format into msg (msglen bytes, truncated, NUL-terminated), an
 * error buffer the caller passes; a NULL msg or a msglen of 0 is allowed
 * and leaves nothing.  It never prints or exits.
 */
void errf(char *msg, size_t msglen, const char *fmt, ...);

void *emalloc(size_t);
void *ecalloc(size_t, size_t);
void *ereallocarray(void *, size_t, size_t);
char *estrdup(const char *);
void efread(void *, size_t, FILE *, const char *);
void efwrite(const void *, size_t, FILE *, const char *);
/*
 * Say what getopt_long() refused, c being what it returned (':' for a
 * missing argument, '?' otherwise; give getopt a leading ':' in its
 * option string); the caller then prints usage and exits 2.
 */
void badopt(int c, char *argv[]);
long long estrtonum(const char *, long long, long long, const char *);
double estrtod(const char *, double, double, const char *);
int fshut(FILE *, const char *);

/*
 * Output files.  ofile_open(path) returns stdout for NULL or "-", after
 * refusing a terminal when binary is set; otherwise it opens "path.tmp"
 * that ofile_close() flushes, syncs to the disk (fsync) and renames over
 * path, so that path holds the old contents or the whole new ones, even
 * after a crash of the machine.  If the tool dies first, the temporary
 * file is removed, so a failed run leaves no partial output; if it is
 * killed (SIGKILL), path is untouched and only "path.tmp" is left.
 * A path that exists and is not a regular file (/dev/null, a FIFO) is
 * written in place.
 */
FILE *ofile_open(const char *path, int binary);
void ofile_close(FILE *);

/*
 * OpenMP threads that spin while they wait (libgomp's default) fight
 * OpenBLAS and the other stages of a pipeline for a few cores: on 2
 * cores a step of mim-train takes 3x longer.  libgomp reads
 * OMP_WAIT_POLICY before main(), so a tool that uses OpenMP calls this
 * first: unless the user set it, it sets PASSIVE and executes itself
 * again.  It returns only if there is nothing to do or exec failed.
 */
void omp_passive(char *argv[]);

/*
 * Anonymous memory for big arrays, in transparent huge pages where the
 * kernel gives them: faulting in 4 KiB pages one at a time costs more
 * than filling them.  Pages are only taken when touched, so a caller can
 * reserve a bound at once and never move.  NULL on failure; free with
 * bigunmap(p, the same bytes).
 */
void *bigmap(size_t bytes);
void bigunmap(void *, size_t bytes);

/* Seconds on the monotonic clock: the difference of two is an interval. */
double monotonic(void);

/*
 * A loss or gradient of step+1 that is not finite, what: the run stops,
 * naming the last good checkpoint (lastck, of step lastckstep) or saying
 * there is none (lastck NULL).  For the training tools.
 */
_Noreturn void die_nonfinite(long step, const char *what, const char *lastck,
                             long lastckstep);

/* Input: NULL or "-" is stdin; the name for messages is "<stdin>".
 * Both grow a pipe they get to 1 MiB where Linux allows (util.c). */
FILE *ifile_open(const char *path);
const char *ifile_name(const char *path);

/*
 * Deterministic random numbers: xorshift64* seeded through splitmix64,
 * so any (seed, stream) pair gives an independent, well-mixed state.
 */
struct rng {
	uint64_t s;
};

void rng_seed(struct rng *, uint64_t seed, uint64_t stream);
uint64_t rng_u64(struct rng *);
uint32_t rng_below(struct rng *, uint32_t n); /* uniform in [0, n) */
double rng_uniform(struct rng *);             /* uniform in [0, 1) */
/* standard normal (Box-Muller, the cosine branch): two uniforms a draw */
double rng_normal(struct rng *);
/* splitmix64's finaliser: a bijection of 64 bits that mixes them well */
uint64_t mix64(uint64_t);

#endif
