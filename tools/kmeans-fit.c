/* See LICENSE file for copyright and license details. */
/*
 * kmeans-fit: K-means centroids of the rows of a tensor stream.
 *
 * Reads a tensor stream (tensor-stream(5)) and clusters the rows of every
 * record named NAME (-f, default "patches"): u8 or f32, leading dims
 * flattened, the last dim is D.  Writes one stream of two records:
 *
 *	centroids  f32 [K, D]   meta tool k d rows algorithm iters|epochs
 *	                        seed init inertia spherical tensor source
 *	counts     i64 [K]      rows nearest to each centroid at the end
 *
 * Algorithms: exact Lloyd passes over all rows (default), stopping when
 * the centroids stop moving or the inertia improves by less than -t
 * relative; or scikit-learn's mini-batch update over epochs of shuffled
 * batches.
 * Seeding: greedy k-means++ or k distinct rows, both on a reservoir
 * sample, or centroids from a file.  The first pass reads, checks and
 * counts the rows, and keeps them in memory while they fit in -m MiB;
 * a regular file that does not fit is read again on every pass, in
 * chunks, so memory does not grow with the number of rows.  Results do
 * not depend on -j, nor on whether the rows were cached or streamed.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmeans.h"
#include "tensor.h"
#include "util.h"

enum algo { LLOYD, MINIBATCH };
enum init { INIT_PLUSPLUS, INIT_RANDOM, INIT_FILE };
/* streams of the random generator (util.h rng_seed), one per use */
enum { RNG_INIT = 1, RNG_SAMPLE = 2, RNG_SHUFFLE = 3 };

#define SAMPLE_MIN 4096      /* k-means++ sample: 100 K rows in */
#define SAMPLE_MAX 262144    /* [SAMPLE_MIN, SAMPLE_MAX], at least K, */
#define SAMPLE_BYTES (512 << 20) /* and at most this, as f32 */
#define CHUNK_BYTES (4 << 20) /* rows a chunk, as f32 */

struct opts {
	enum algo algo;
	enum init init;
	const char *initfile;
	const char *field;
	const char *out;
	const char *in;
	long long batch;
	long epochs, iters;
	long k;          /* 0: from -i FILE */
	long threads;
	long long mib;
	unsigned long long seed;
	double tol;
	int spherical, stream, verbose, compress;
};

/* the farthest rows of a pass, for re-seeding empty clusters */
struct far {
	double key;      /* larger is farther */
	uint64_t index;  /* row, in stream order */
	int32_t label;
};

struct state {
	struct opts *o;
	const char *name;    /* input name for messages */
	FILE *fp;
	int seekable;
	int d, k;
	uint64_t nrows, nrec;

	/* rows kept in memory, or NULL when streaming */
	float *cache;
	size_t cachecap;     /* rows */
	size_t cachemap;     /* bytes mapped by bigmap, or 0: malloc */
	int caching;

	/* the chunk buffer of a streaming pass */
	float *chunk;
	size_t chunkrows;

	/* reservoir sample for seeding */
	float *sample;
	size_t samplecap, nsample;
	uint64_t nseen;
	struct rng srng;

	/* the model */
	struct kmeans_ws *ws;
	float *c, *cnorm;
	double *sums;
	int64_t *counts;
	int32_t *lab, *labels; /* chunk labels; all labels when cached */
	float *dist;
	FILE *labf;            /* previous labels when streaming */

	/* a pass */
	double inertia;
	uint64_t changed;
	int pass;
	struct far *far;
	float *farrow;         /* K x D, the rows of far[] */
	int nfar;
	struct tensor t;
	struct tsr_reader r;
};

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ */
/* reading rows                                                        */

/* rows of a record: leading dims flattened; the last dim is D */
static uint64_t
record_rows(const struct tensor *t)
{
	uint64_t n = 1;
	int i;

	for (i = 0; i + 1 < t->rank; i++)
		n *= t->dims[i];
	return n;
}

/* check a record named -f and learn or check D */
static void
check_record(struct state *st, const struct tensor *t, uint64_t index)
{
	int d;

	if (t->dtype != TSR_U8 && t->dtype != TSR_F32)
		die("%s: record %" PRIu64 " '%s': dtype %s, expected u8 or f32",
		    st->name, index, t->name, tsr_dtype_name(t->dtype));
	if (t->rank == 0)
		die("%s: record %" PRIu64 " '%s': a scalar has no rows (rank 0)",
		    st->name, index, t->name);
	if (t->dims[t->rank - 1] > INT_MAX / 64 || t->dims[t->rank - 1] == 0)
		die("%s: record %" PRIu64 " '%s': last dim %" PRIu64
		    " is not a usable row length",
		    st->name, index, t->name, t->dims[t->rank - 1]);
	d = (int)t->dims[t->rank - 1];
	if (!st->d) {
		st->d = d;
	} else if (d != st->d) {
		die("%s: record %" PRIu64 " '%s': rows of D=%d, but earlier rows "
		    "have D=%d",
		    st->name, index, t->name, d, st->d);
	}
}

/* rows [r0, r0+n) of record t as f32 into dst, checked finite */
static void
convert(struct state *st, const struct tensor *t, uint64_t index,
        uint64_t r0, size_t n, float *dst)
{
	size_t i, m = n * st->d, off = r0 * st->d;

	if (t->dtype == TSR_U8) {
		const unsigned char *s = (const unsigned char *)t->data + off;

		for (i = 0; i < m; i++)
			dst[i] = s[i];
		return;
	}
	memcpy(dst, (const float *)t->data + off, m * sizeof(*dst));
	for (i = 0; i < m; i++)
		if (!isfinite(dst[i]))
			die("%s: record %" PRIu64 " '%s': %s at row %" PRIu64
			    ", column %zu (K-means needs finite values)",
			    st->name, index, t->name,
			    isnan(dst[i]) ? "NaN" : dst[i] > 0 ? "+Inf" : "-Inf",
			    r0 + i / st->d, i % st->d);
}

/*
 * Anonymous memory for the big arrays, in transparent huge pages where
 * the kernel gives them: faulting in 4 KiB pages one at a time costs more
 * than filling them.  Pages are only taken when touched, so the row cache
 * can reserve all of -m at once and never move.  NULL on failure.
 */
static void *
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

static void *
ebigmap(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		die("%zu x %zu bytes: too large", n, size);
	if (!(p = bigmap(n * size)))
		die("mmap %zu bytes:", n * size);
	return p;
}

static void
drop_cache(struct state *st)
{
	if (st->cachemap)
		munmap(st->cache, st->cachemap);
	else
		free(st->cache);
	st->cache = NULL;
	st->cachemap = 0;
	st->cachecap = 0;
}

static int
zero_row(const float *x, int d)
{
	int k;

	for (k = 0; k < d; k++)
		if (x[k] != 0)
			return 0;
	return 1;
}

/*
 * Algorithm R over the rows offered so far (st->nseen).  With -p, rows
 * of zeros are not offered: no unit centroid can stand for them.
 */
static void
reservoir(struct state *st, const float *rows, size_t n)
{
	size_t i;
	uint64_t j;

	for (i = 0; i < n; i++) {
		if (st->o->spherical && zero_row(rows + i * st->d, st->d))
			continue;
		if (st->nseen < st->samplecap) {
			j = st->nseen;
		} else {
			j = rng_u64(&st->srng) % (st->nseen + 1);
		}
		st->nseen++;
		if (j < st->samplecap)
			memcpy(st->sample + j * st->d, rows + i * st->d,
			       st->d * sizeof(*rows));
	}
	st->nsample = MIN(st->samplecap, st->nseen);
}

static void
open_input(struct state *st)
{
	struct stat sb;

	st->fp = ifile_open(st->o->in);
	st->seekable = fstat(fileno(st->fp), &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * The first pass: read and check every row, count them, fill the
 * reservoir sample, and keep them in st->cache while they fit.
 */
static void
first_pass(struct state *st)
{
	struct opts *o = st->o;
	uint64_t index, n, limit = (uint64_t)o->mib << 20;
	float *buf = NULL, *rows = NULL;
	size_t cap = 0;
	int rc;

	st->caching = !o->stream;
	if (o->stream && !st->seekable)
		die("%s: -s needs a regular file, not a pipe or terminal",
		    st->name);
	tsr_reader_init(&st->r, st->fp, st->name);
	while ((rc = tsr_read(&st->r, &st->t)) > 0) {
		index = st->r.index - 1;
		if (strcmp(st->t.name, o->field))
			continue;
		check_record(st, &st->t, index);
		st->nrec++;
		if (st->samplecap && !st->sample) {
			st->samplecap = MAX((size_t)st->k,
			                    MIN(st->samplecap,
			                        SAMPLE_BYTES / (st->d * sizeof(float))));
			st->sample = ebigmap(st->samplecap * st->d, sizeof(float));
		}
		if (!(n = record_rows(&st->t)))
			continue;
		if (st->caching) {
			if ((st->nrows + n) * st->d * sizeof(float) > limit) {
				if (!st->seekable)
					die("%s: more than %lld MiB of rows: give a file, or "
					    "raise -m",
					    st->name, o->mib);
				drop_cache(st);
				st->caching = 0;
			} else {
				if (!st->cache && (st->cache = bigmap(limit))) {
					st->cachemap = limit;
					st->cachecap = limit / (st->d * sizeof(float));
				}
				if (st->nrows + n > st->cachecap) {
					st->cachecap = MAX(st->nrows + n, 2 * st->cachecap);
					if ((uint64_t)st->cachecap * st->d * sizeof(float) >
					    limit)
						st->cachecap = limit / (st->d * sizeof(float));
					st->cache = ereallocarray(st->cache,
					                          st->cachecap * st->d,
					                          sizeof(float));
				}
				rows = st->cache + st->nrows * st->d;
			}
		}
		if (!st->caching) {
			if (n * st->d > cap)
				buf = ereallocarray(buf, cap = n * st->d, sizeof(float));
			rows = buf;
		}
		convert(st, &st->t, index, 0, n, rows);
		if (o->spherical)
			kmeans_normalize(rows, n, st->d);
		if (st->sample)
			reservoir(st, rows, n);
		st->nrows += n;
	}
	if (rc < 0)
		die("%s", st->r.msg);
	free(buf);
	tsr_reader_free(&st->r);

	if (!st->r.index)
		die("%s: empty stream: no rows to cluster", st->name);
	if (!st->nrec)
		die("%s: no record named '%s' in %" PRIu64 " records (-f names the "
		    "tensor)",
		    st->name, o->field, st->r.index);
	if (!st->nrows)
		die("%s: no rows: every '%s' record is empty", st->name, o->field);
}

/* rewind a file for another pass */
static void
rewind_input(struct state *st)
{
	if (fseeko(st->fp, 0, SEEK_SET) < 0)
		die("%s: seek:", st->name);
	clearerr(st->fp);
	tsr_reader_init(&st->r, st->fp, st->name);
}

/*
 * One pass over all rows in chunks of st->chunkrows (the last shorter):
 * fn(st, rows, n, first) with first the index of rows[0].  The chunks
 * are the same whether the rows are cached or read again.
 */
static void
each_chunk(struct state *st, size_t chunkrows,
           void (*fn)(struct state *, const float *, size_t, uint64_t))
{
	uint64_t index, n, r0, first = 0;
	size_t fill = 0, m;
	int rc;

	if (st->cache) {
		for (first = 0; first < st->nrows; first += m) {
			m = MIN(chunkrows, st->nrows - first);
			fn(st, st->cache + first * st->d, m, first);
		}
		return;
	}
	rewind_input(st);
	while ((rc = tsr_read(&st->r, &st->t)) > 0) {
		index = st->r.index - 1;
		if (strcmp(st->t.name, st->o->field))
			continue;
		check_record(st, &st->t, index);
		n = record_rows(&st->t);
		for (r0 = 0; r0 < n; r0 += m) {
			m = MIN(n - r0, chunkrows - fill);
			if (first + fill + m > st->nrows)
				die("%s: changed while being read: more than %" PRIu64
				    " rows", st->name, st->nrows);
			convert(st, &st->t, index, r0, m, st->chunk + fill * st->d);
			if (st->o->spherical)
				kmeans_normalize(st->chunk + fill * st->d, m, st->d);
			fill += m;
			if (fill == chunkrows) {
				fn(st, st->chunk, fill, first);
				first += fill;
				fill = 0;
			}
		}
	}
	if (rc < 0)
		die("%s", st->r.msg);
	tsr_reader_free(&st->r);
	if (first + fill != st->nrows)
		die("%s: changed while being read: %" PRIu64 " rows, then %" PRIu64,
		    st->name, st->nrows, first + fill);
	if (fill)
		fn(st, st->chunk, fill, first);
}

/* ------------------------------------------------------------------ */
/* the model                                                           */

/* far[0] is the nearest of the kept rows (a min-heap on key, index) */
static int
far_less(const struct far *a, const struct far *b)
{
	return a->key < b->key || (a->key == b->key && a->index > b->index);
}

static void
far_swap(struct state *st, int a, int b)
{
	struct far t = st->far[a];
	float *ra = st->farrow + (size_t)a * st->d;
	float *rb = st->farrow + (size_t)b * st->d, x;
	int i;

	st->far[a] = st->far[b];
	st->far[b] = t;
	for (i = 0; i < st->d; i++) {
		x = ra[i];
		ra[i] = rb[i];
		rb[i] = x;
	}
}

static void
far_add(struct state *st, double key, uint64_t index, int32_t label,
        const float *row)
{
	int i, j, m;

	if (st->nfar == st->k) {
		if (!(key > st->far[0].key))
			return;
		i = 0; /* replace the root, sift down */
		st->far[0] = (struct far){ key, index, label };
		memcpy(st->farrow, row, st->d * sizeof(*row));
		for (;;) {
			j = 2 * i + 1;
			if (j >= st->nfar)
				break;
			m = j + 1 < st->nfar && far_less(&st->far[j + 1], &st->far[j])
			            ? j + 1
			            : j;
			if (!far_less(&st->far[m], &st->far[i]))
				break;
			far_swap(st, i, m);
			i = m;
		}
		return;
	}
	i = st->nfar++;
	st->far[i] = (struct far){ key, index, label };
	memcpy(st->farrow + (size_t)i * st->d, row, st->d * sizeof(*row));
	while (i > 0 && far_less(&st->far[i], &st->far[(i - 1) / 2])) {
		far_swap(st, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* the kept rows, farthest first (key down, then index up) */
static void
far_sort(struct state *st)
{
	int n = st->nfar;

	/* heap sort: popping the nearest to the end leaves farthest first */
	while (n > 1) {
		int i = 0, j, m;

		far_swap(st, 0, --n);
		for (;;) {
			j = 2 * i + 1;
			if (j >= n)
				break;
			m = j + 1 < n && far_less(&st->far[j + 1], &st->far[j]) ? j + 1
			                                                           : j;
			if (!far_less(&st->far[m], &st->far[i]))
				break;
			far_swap(st, i, m);
			i = m;
		}
	}
}

/* how badly a row fits its centroid: squared distance or 1 - cosine */
static double
badness(const struct state *st, float dist)
{
	return st->o->spherical ? 1.0 - dist : dist;
}

/* assign a chunk; returns its inertia and fills st->lab and st->dist */
static double
assign(struct state *st, const float *rows, size_t n, uint64_t first,
       int track)
{
	double s;
	size_t i;

	s = kmeans_assign(st->ws, rows, n, st->c, st->cnorm, st->o->spherical,
	                  st->lab, st->dist);
	if (isnan(s))
		die("out of memory");
	if (st->o->spherical)
		for (s = 0, i = 0; i < n; i++)
			s += 1.0 - st->dist[i];
	if (track)
		for (i = 0; i < n; i++) {
			double key = badness(st, st->dist[i]);

			if (st->nfar == st->k && !(key > st->far[0].key))
				continue;
			if (st->o->spherical && zero_row(rows + i * st->d, st->d))
				continue;
			far_add(st, key, first + i, st->lab[i], rows + i * st->d);
		}
	return s;
}

static void
prepare_centroids(struct state *st)
{
	if (!st->o->spherical)
		kmeans_norms(st->c, st->k, st->d, st->cnorm);
}

/* count the labels that differ from the last pass; keep the new ones */
static void
count_changed(struct state *st, size_t n, uint64_t first)
{
	int32_t *old;
	size_t i;

	if (st->labels) {
		old = st->labels + first;
		if (st->pass == 1)
			st->changed += n; /* no labels before */
		else
			for (i = 0; i < n; i++)
				st->changed += old[i] != st->lab[i];
		memcpy(old, st->lab, n * sizeof(*old));
		return;
	}
	if (st->pass == 1) {
		st->changed += n;
	} else {
		old = st->lab + st->chunkrows; /* room after the chunk's labels */
		if (fseeko(st->labf, (off_t)(first * sizeof(*old)), SEEK_SET) < 0 ||
		    fread(old, sizeof(*old), n, st->labf) != n)
			die("temporary label file: read:");
		for (i = 0; i < n; i++)
			st->changed += old[i] != st->lab[i];
	}
	if (fseeko(st->labf, (off_t)(first * sizeof(*old)), SEEK_SET) < 0 ||
	    fwrite(st->lab, sizeof(*st->lab), n, st->labf) != n)
		die("temporary label file: write:");
}

static void
lloyd_chunk(struct state *st, const float *rows, size_t n, uint64_t first)
{
	st->inertia += assign(st, rows, n, first, 1);
	count_changed(st, n, first);
	kmeans_accumulate(st->ws, rows, n, st->lab, st->sums, st->counts);
}

static void
final_chunk(struct state *st, const float *rows, size_t n, uint64_t first)
{
	size_t i;

	st->inertia += assign(st, rows, n, first, 0);
	for (i = 0; i < n; i++)
		st->counts[st->lab[i]]++;
}

/* Lloyd's update, re-seeding empty clusters from the farthest rows as
 * scikit-learn does; returns the number re-seeded */
static int
lloyd_update(struct state *st)
{
	int d = st->d, j, kk, e = 0, nempty = 0;
	double *s;

	far_sort(st);
	for (j = 0; j < st->k; j++) {
		if (st->counts[j] || e >= st->nfar)
			continue;
		/* the row leaves its cluster for this one */
		s = st->sums + (size_t)st->far[e].label * d;
		for (kk = 0; kk < d; kk++) {
			s[kk] -= st->farrow[(size_t)e * d + kk];
			st->sums[(size_t)j * d + kk] = st->farrow[(size_t)e * d + kk];
		}
		st->counts[st->far[e].label]--;
		st->counts[j] = 1;
		e++;
		nempty++;
	}
	for (j = 0; j < st->k; j++) {
		if (!st->counts[j])
			continue; /* emptied by a re-seed: keep the old centroid */
		for (kk = 0; kk < d; kk++)
			st->c[(size_t)j * d + kk] =
				(float)(st->sums[(size_t)j * d + kk] / st->counts[j]);
	}
	if (st->o->spherical)
		kmeans_normalize(st->c, st->k, d);
	return nempty;
}

static void
final_pass(struct state *st)
{
	st->inertia = 0;
	memset(st->counts, 0, st->k * sizeof(*st->counts));
	prepare_centroids(st);
	each_chunk(st, st->chunkrows, final_chunk);
}

/* returns the iterations run; *converged set */
static long
lloyd(struct state *st, int *converged)
{
	struct opts *o = st->o;
	double t0, prev = 0;
	float *old = ereallocarray(NULL, (size_t)st->k * st->d, sizeof(*old));
	long it;
	int nempty, stop = 0;

	*converged = 0;
	for (it = 1; it <= o->iters && !stop; it++) {
		t0 = seconds();
		st->pass = it;
		st->inertia = 0;
		st->changed = 0;
		st->nfar = 0;
		memset(st->sums, 0, (size_t)st->k * st->d * sizeof(*st->sums));
		memset(st->counts, 0, st->k * sizeof(*st->counts));
		prepare_centroids(st);
		each_chunk(st, st->chunkrows, lloyd_chunk);
		memcpy(old, st->c, (size_t)st->k * st->d * sizeof(*old));
		nempty = lloyd_update(st);
		if (o->verbose)
			fprintf(stderr,
			        "kmeans-fit: iteration %ld: inertia %.17g, %" PRIu64
			        " labels changed, %.3f s\n",
			        it, st->inertia, st->changed, seconds() - t0);
		if (nempty && o->verbose)
			fprintf(stderr, "kmeans-fit: iteration %ld: %d empty clusters "
			        "re-seeded with the farthest rows\n", it, nempty);
		if (!memcmp(old, st->c, (size_t)st->k * st->d * sizeof(*old))) {
			/* a fixed point: this pass's assignment is the final one */
			*converged = 1;
			free(old);
			return it;
		}
		if (it > 1 && prev > 0 && fabs(prev - st->inertia) / prev < o->tol)
			stop = *converged = 1;
		prev = st->inertia;
	}
	free(old);
	final_pass(st);
	return it - 1;
}

/* ------------------------------------------------------------------ */
/* mini-batch                                                          */

static void
batch_step(struct state *st, const float *rows, size_t n, uint64_t first)
{
	prepare_centroids(st);
	st->inertia += assign(st, rows, n, first, 1);
	kmeans_minibatch_update(rows, n, st->d, st->k, st->lab, st->c,
	                        st->counts);
	if (st->o->spherical)
		kmeans_normalize(st->c, st->k, st->d);
}

static void
minibatch(struct state *st)
{
	struct opts *o = st->o;
	size_t b = (size_t)MIN((uint64_t)o->batch, st->nrows), s, m, i, j;
	uint32_t *perm = NULL, t;
	float *batch = NULL;
	struct rng rng;
	double t0;
	long e;
	int kk, nre;

	memset(st->counts, 0, st->k * sizeof(*st->counts));
	if (st->cache) {
		perm = ebigmap(st->nrows, sizeof(*perm));
		batch = ereallocarray(NULL, b * st->d, sizeof(*batch));
		for (i = 0; i < st->nrows; i++)
			perm[i] = i;
	}
	for (e = 1; e <= o->epochs; e++) {
		t0 = seconds();
		st->inertia = 0; /* over the epoch's batches */
		st->nfar = 0;
		if (st->cache) {
			/* a fresh permutation of all rows each epoch */
			rng_seed(&rng, o->seed, (uint64_t)RNG_SHUFFLE << 56 ^ e);
			for (i = st->nrows; i > 1; i--) {
				j = rng_u64(&rng) % i;
				t = perm[i - 1];
				perm[i - 1] = perm[j];
				perm[j] = t;
			}
			for (s = 0; s < st->nrows; s += m) {
				m = MIN(b, st->nrows - s);
				for (i = 0; i < m; i++)
					memcpy(batch + i * st->d,
					       st->cache + (size_t)perm[s + i] * st->d,
					       st->d * sizeof(*batch));
				batch_step(st, batch, m, s);
			}
		} else {
			each_chunk(st, b, batch_step); /* stream order */
		}
		/* clusters no row has reached yet move onto the farthest rows */
		far_sort(st);
		for (kk = 0, nre = 0; kk < st->k && nre < st->nfar; kk++)
			if (!st->counts[kk]) {
				memcpy(st->c + (size_t)kk * st->d,
				       st->farrow + (size_t)nre * st->d,
				       st->d * sizeof(*st->c));
				nre++;
			}
		if (o->verbose) {
			fprintf(stderr,
			        "kmeans-fit: epoch %ld: inertia %.17g (over the "
			        "batches), %.3f s\n",
			        e, st->inertia, seconds() - t0);
			if (nre)
				fprintf(stderr, "kmeans-fit: epoch %ld: %d empty clusters "
				        "re-seeded with the farthest rows\n", e, nre);
		}
	}
	if (perm)
		munmap(perm, st->nrows * sizeof(*perm));
	free(batch);
	final_pass(st);
}

/* ------------------------------------------------------------------ */
/* seeding and output                                                  */

/* read the centroids of -i FILE into st->c; sets st->k */
static void
read_init(struct state *st)
{
	const char *path = st->o->initfile;
	struct tsr_reader r;
	struct tensor t;
	FILE *fp;
	uint64_t index;
	size_t i, m;
	int rc;

	fp = ifile_open(path);
	tensor_init(&t);
	tsr_reader_init(&r, fp, ifile_name(path));
	while ((rc = tsr_read(&r, &t)) > 0)
		if (!strcmp(t.name, "centroids"))
			break;
	if (rc < 0)
		die("%s", r.msg);
	if (rc == 0)
		die("%s: no record named 'centroids'", ifile_name(path));
	index = r.index - 1;
	if (t.dtype != TSR_F32 || t.rank != 2 || !t.dims[0] || !t.dims[1] ||
	    t.dims[0] > INT_MAX || t.dims[1] > INT_MAX)
		die("%s: record %" PRIu64 " 'centroids': expected f32 [K, D], K "
		    "and D at least 1",
		    ifile_name(path), index);
	if (st->o->k && (uint64_t)st->o->k != t.dims[0])
		die("%s: record %" PRIu64 " 'centroids': %" PRIu64 " centroids, "
		    "but -k %ld",
		    ifile_name(path), index, t.dims[0], st->o->k);
	st->k = (int)t.dims[0];
	st->d = (int)t.dims[1]; /* checked against the rows later */
	m = (size_t)st->k * st->d;
	st->c = ereallocarray(NULL, m, sizeof(float));
	memcpy(st->c, t.data, m * sizeof(float));
	for (i = 0; i < m; i++)
		if (!isfinite(st->c[i]))
			die("%s: record %" PRIu64 " 'centroids': %s at row %zu, column "
			    "%zu",
			    ifile_name(path), index, isnan(st->c[i]) ? "NaN" : "Inf",
			    i / st->d, i % st->d);
	tsr_reader_free(&r);
	tensor_free(&t);
	if (fp != stdin)
		fclose(fp);
}

static void
seed_centroids(struct state *st)
{
	struct rng rng;
	char msg[256];
	int rc;

	rng_seed(&rng, st->o->seed, RNG_INIT);
	if (st->nsample < (size_t)st->k)
		die("-k %d: only %zu rows that are not all zeros to seed from "
		    "(with -p)", st->k, st->nsample);
	if (st->o->init == INIT_PLUSPLUS)
		rc = kmeans_plusplus(st->sample, st->nsample, st->d, st->k, &rng,
		                     st->c, msg, sizeof(msg));
	else
		rc = kmeans_random_init(st->sample, st->nsample, st->d, st->k, &rng,
		                        st->c, msg, sizeof(msg));
	if (rc < 0)
		die("%s", msg);
}

static void
write_output(struct state *st, long iters, int converged)
{
	struct opts *o = st->o;
	struct tsr_writer w;
	struct tensor c, n;
	uint64_t cd[2] = { st->k, st->d }, nd[1] = { st->k };
	char msg[256];
	FILE *fp;

	tensor_init(&c);
	tensor_init(&n);
	if (tensor_shape(&c, "centroids", TSR_F32, 2, cd, msg, sizeof(msg)) < 0 ||
	    tensor_shape(&n, "counts", TSR_I64, 1, nd, msg, sizeof(msg)) < 0)
		die("%s", msg);
	memcpy(c.data, st->c, c.nbytes);
	memcpy(n.data, st->counts, n.nbytes);
	tensor_meta_setf(&c, "tool", "kmeans-fit/%s", VERSION);
	tensor_meta_set(&c, "dims", "k,d");
	tensor_meta_setf(&c, "k", "%d", st->k);
	tensor_meta_setf(&c, "d", "%d", st->d);
	tensor_meta_setf(&c, "rows", "%" PRIu64, st->nrows);
	tensor_meta_set(&c, "algorithm", o->algo == LLOYD ? "lloyd" : "minibatch");
	if (o->algo == LLOYD) {
		tensor_meta_setf(&c, "iters", "%ld", iters);
		tensor_meta_setf(&c, "converged", "%d", converged);
	} else {
		tensor_meta_setf(&c, "epochs", "%ld", o->epochs);
		tensor_meta_setf(&c, "batch_size", "%lld", o->batch);
	}
	tensor_meta_setf(&c, "seed", "%llu", o->seed);
	if (o->init == INIT_FILE) {
		if (tensor_meta_set(&c, "init", o->initfile) < 0)
			tensor_meta_set(&c, "init", "file");
	} else {
		tensor_meta_set(&c, "init",
		                o->init == INIT_PLUSPLUS ? "plusplus" : "random");
	}
	tensor_meta_setf(&c, "inertia", "%.17g", st->inertia);
	tensor_meta_setf(&c, "spherical", "%d", o->spherical);
	tensor_meta_set(&c, "tensor", o->field);
	if (tensor_meta_set(&c, "source", st->name) < 0)
		tensor_meta_set(&c, "source", "?");
	tensor_meta_set(&n, "dims", "k");

	fp = ofile_open(o->out, 1);
	tsr_writer_init(&w, fp, o->out ? o->out : "<stdout>", o->compress);
	if (tsr_write(&w, &c, 0) < 0 || tsr_write(&w, &n, 0) < 0 ||
	    tsr_finish(&w) < 0)
		die("%s", w.msg);
	ofile_close(fp);
	tsr_writer_free(&w);
	tensor_free(&c);
	tensor_free(&n);
}

/* ------------------------------------------------------------------ */

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: %s [-psvz] [-a algorithm] [-b batch] [-e epochs] "
	        "[-f name] [-i init] [-j threads] [-k clusters] [-m MiB] "
	        "[-n iters] [-o file] [-S seed] [-t tol] [file]\n",
	        argv0);
	exit(status);
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "algorithm", required_argument, NULL, 'a' },
		{ "batch", required_argument, NULL, 'b' },
		{ "epochs", required_argument, NULL, 'e' },
		{ "field", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "init", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 'j' },
		{ "clusters", required_argument, NULL, 'k' },
		{ "memory", required_argument, NULL, 'm' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "spherical", no_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'S' },
		{ "stream", no_argument, NULL, 's' },
		{ "tolerance", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "compress", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	long ncpu;
	int ch, bset = 0, eset = 0, nset = 0, tset = 0;

	memset(o, 0, sizeof(*o));
	o->algo = LLOYD;
	o->init = INIT_PLUSPLUS;
	o->field = "patches";
	o->batch = 256 * 196;
	o->epochs = 10;
	o->iters = 100;
	o->tol = 1e-4;
	o->mib = 4096;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = ncpu < 1 ? 1 : ncpu > 256 ? 256 : ncpu;
	opterr = 0; /* our own messages, without the full argv[0] */
	while ((ch = getopt_long(argc, argv, ":a:b:e:f:hi:j:k:m:n:o:pS:st:vVz",
	                         longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (!strcmp(optarg, "lloyd"))
				o->algo = LLOYD;
			else if (!strcmp(optarg, "minibatch"))
				o->algo = MINIBATCH;
			else
				udie("-a %s: expected lloyd or minibatch", optarg);
			break;
		case 'b':
			o->batch = estrtonum(optarg, 1, 1 << 24, "-b");
			bset = 1;
			break;
		case 'e':
			o->epochs = estrtonum(optarg, 1, 1 << 20, "-e");
			eset = 1;
			break;
		case 'f':
			if (!tsr_name_ok(optarg))
				udie("-f %s: not a tensor name", optarg);
			o->field = optarg;
			break;
		case 'h':
			usage(0);
			break;
		case 'i':
			if (!strcmp(optarg, "plusplus")) {
				o->init = INIT_PLUSPLUS;
			} else if (!strcmp(optarg, "random")) {
				o->init = INIT_RANDOM;
			} else {
				o->init = INIT_FILE;
				o->initfile = optarg;
			}
			break;
		case 'j':
			o->threads = estrtonum(optarg, 1, 256, "-j");
			break;
		case 'k':
			o->k = estrtonum(optarg, 1, 1 << 24, "-k");
			break;
		case 'm':
			o->mib = estrtonum(optarg, 0, 1LL << 40, "-m");
			break;
		case 'n':
			o->iters = estrtonum(optarg, 0, 1 << 24, "-n");
			nset = 1;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'p':
			o->spherical = 1;
			break;
		case 'S':
			o->seed = estrtonum(optarg, 0, LLONG_MAX, "-S");
			break;
		case 's':
			o->stream = 1;
			break;
		case 't':
			o->tol = estrtod(optarg, 0, 1, "-t");
			tset = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'V':
			printf("kmeans-fit %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
		case 'z':
			o->compress = 6;
			break;
		default:
			badopt(ch, argv);
			usage(2);
		}
	}
	if (argc - optind > 1) {
		warn("%s: one input at most", argv[optind + 1]);
		usage(2);
	}
	o->in = optind < argc ? argv[optind] : NULL;
	if (!o->k && o->init != INIT_FILE) {
		warn("-k: the number of clusters is required (or -i FILE)");
		usage(2);
	}
	if (o->algo == LLOYD && (bset || eset))
		udie("-b and -e are for -a minibatch (Lloyd takes -n)");
	if (o->algo == MINIBATCH && (nset || tset))
		udie("-n and -t are for -a lloyd (mini-batch takes -e)");
	if (o->init == INIT_FILE && o->in && !strcmp(o->initfile, o->in) &&
	    !strcmp(o->in, "-"))
		udie("-i -: the input is already stdin");
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct state st;
	const char *env;
	double t0 = seconds();
	long iters = 0;
	int converged = 0, kernel, dinit = 0;

	/* arguments */
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare */
	memset(&st, 0, sizeof(st));
	st.o = &o;
	st.name = ifile_name(o.in);
	tensor_init(&st.t);
	if (!o.out && isatty(1))
		die("refusing to write binary tensor stream to a terminal");
	if (o.init == INIT_FILE) {
		read_init(&st);
		dinit = st.d;
		st.d = 0;
	} else {
		st.k = o.k;
		st.samplecap = MAX((size_t)st.k,
		                   MIN(MAX((size_t)100 * st.k, (size_t)SAMPLE_MIN),
		                       (size_t)SAMPLE_MAX));
		rng_seed(&st.srng, o.seed, RNG_SAMPLE);
	}
	open_input(&st);

	/* the first pass: check, count, sample, cache */
	first_pass(&st);
	if ((uint64_t)st.k > st.nrows)
		die("-k %d: more than the %" PRIu64 " rows of '%s'", st.k, st.nrows,
		    o.field);
	if (dinit && dinit != st.d)
		die("%s: centroids of D=%d, but the rows of '%s' have D=%d",
		    ifile_name(o.initfile), dinit, o.field, st.d);
	if (o.verbose)
		fprintf(stderr, "kmeans-fit: %s: %" PRIu64 " rows of D=%d in %" PRIu64
		        " records, %s, %.3f s\n",
		        st.name, st.nrows, st.d, st.nrec,
		        st.cache ? "kept in memory" : "read again each pass",
		        seconds() - t0);

	st.chunkrows = MIN(MAX(CHUNK_BYTES / (st.d * sizeof(float)), (size_t)256),
	                   (size_t)65536);
	if (o.algo == MINIBATCH)
		st.chunkrows = MIN((uint64_t)o.batch, st.nrows);
	if (!(st.ws = kmeans_ws_new(st.k, st.d, (int)o.threads)))
		die("cannot set up K-means for K=%d, D=%d, %ld threads", st.k, st.d,
		    o.threads);
	if ((env = getenv("MIM_KMEANS_KERNEL")) && *env) {
		if ((kernel = kmeans_kernel_parse(env)) < 0 ||
		    kmeans_ws_set_kernel(st.ws, kernel) < 0)
			die("MIM_KMEANS_KERNEL=%s: expected auto, blas, avx2 or avx512 "
			    "(one this CPU runs)", env);
	}
	if (!st.cache)
		st.chunk = ereallocarray(NULL, st.chunkrows * st.d, sizeof(float));
	if (!st.c)
		st.c = ereallocarray(NULL, (size_t)st.k * st.d, sizeof(float));
	st.cnorm = ereallocarray(NULL, st.k, sizeof(float));
	st.sums = ereallocarray(NULL, (size_t)st.k * st.d, sizeof(double));
	st.counts = ecalloc(st.k, sizeof(*st.counts));
	/* chunk labels, then room for the previous ones when streaming */
	st.lab = ereallocarray(NULL, 2 * st.chunkrows, sizeof(*st.lab));
	st.dist = ereallocarray(NULL, st.chunkrows, sizeof(*st.dist));
	st.far = ereallocarray(NULL, st.k, sizeof(*st.far));
	st.farrow = ereallocarray(NULL, (size_t)st.k * st.d, sizeof(float));
	if (o.algo == LLOYD) {
		if (st.cache)
			st.labels = ebigmap(st.nrows, sizeof(*st.labels));
		else if (!(st.labf = tmpfile()))
			die("temporary label file:");
	}

	/* process */
	if (o.init == INIT_FILE) {
		if (o.spherical)
			kmeans_normalize(st.c, st.k, st.d);
	} else {
		seed_centroids(&st);
		munmap(st.sample, st.samplecap * st.d * sizeof(float));
		st.sample = NULL;
		if (o.verbose)
			fprintf(stderr, "kmeans-fit: %s init on %zu rows, %.3f s\n",
			        o.init == INIT_PLUSPLUS ? "k-means++" : "random",
			        st.nsample, seconds() - t0);
	}
	if (o.algo == LLOYD)
		iters = lloyd(&st, &converged);
	else
		minibatch(&st);
	if (o.verbose)
		fprintf(stderr, "kmeans-fit: final inertia %.17g, %.3f s (%s kernel, "
		        "%ld thread%s)\n",
		        st.inertia, seconds() - t0,
		        kmeans_kernel_name(kmeans_ws_kernel(st.ws)), o.threads,
		        o.threads > 1 ? "s" : "");
	write_output(&st, iters, converged);

	/* clean up */
	kmeans_ws_free(st.ws);
	if (st.labf)
		fclose(st.labf);
	if (st.fp != stdin)
		fclose(st.fp);
	drop_cache(&st);
	free(st.chunk);
	free(st.c);
	free(st.cnorm);
	free(st.sums);
	free(st.counts);
	free(st.lab);
	if (st.labels)
		munmap(st.labels, st.nrows * sizeof(*st.labels));
	free(st.dist);
	free(st.far);
	free(st.farrow);
	tensor_free(&st.t);
	return fshut(stdout, "<stdout>");
}
