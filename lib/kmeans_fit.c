/* See LICENSE file for copyright and license details. */
/*
 * kmeans_fit: Lloyd and mini-batch K-means over rows in memory or in
 * chunks, on one rank or several (kmeans_fit.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "kmeans_fit.h"
#include "util.h"

/* streams of the random generator (util.h rng_seed), one per use */
enum { RNG_INIT = 1, RNG_SAMPLE = 2, RNG_SHUFFLE = 3 };

#define SAMPLE_MIN 4096      /* k-means++ sample: 100 K rows in */
#define SAMPLE_MAX 262144    /* [SAMPLE_MIN, SAMPLE_MAX], at least K, */
#define SAMPLE_BYTES (512 << 20) /* and at most this, as f32 */
#define CHUNK_BYTES (4 << 20) /* rows a chunk, as f32 */

/* one of the farthest rows of a pass, for re-seeding empty clusters */
struct far {
	double key;      /* larger is farther */
	uint64_t index;  /* row, in the order of all ranks' rows */
	int32_t label;
	int32_t rank;    /* whose row it is */
};

struct fit {
	const struct kmeans_fit_opts *o;
	const struct kmeans_rows *r;
	struct dist one;         /* o->dist, or this for one process */
	const struct dist *dist;
	int d, k;
	uint64_t n;              /* rows here */
	uint64_t off;            /* the number of row 0 here among all */
	uint64_t total;          /* rows of every rank */
	size_t chunk;            /* rows a chunk */
	float *c, *cnorm;
	double *sums;            /* (K D + 2): the sums, inertia, changed */
	int64_t *counts;
	int32_t *lab;            /* (2 chunk): a chunk's labels, old labels */
	float *dist2;            /* (chunk) distances */
	int32_t *labels;         /* (n) all labels when in memory, or */
	FILE *labf;              /* a temporary file of them */
	double inertia;
	uint64_t changed;
	int pass;
	struct far *far;         /* (K) */
	float *farrow;           /* (K, D) their rows */
	int nfar;
	/* the seeding sample */
	float *sample;
	size_t samplecap, nsample;
	uint64_t nseen;
	struct rng srng;
	int64_t *writer;         /* (samplecap) the last rank to fill a slot */
	char *msg;
	size_t msglen;
};

static int
zero_row(const float *x, int d)
{
	int k;

	for (k = 0; k < d; k++)
		if (x[k] != 0)
			return 0;
	return 1;
}

/* a collective's failure, as the fit's message */
static int
collective(struct fit *f, int rc, const char *what)
{
	char m[256];

	if (rc == 0)
		return 0;
	snprintf(m, sizeof(m), "%s", f->msg);
	errf(f->msg, f->msglen, "%s: %s", what, m);
	return -1;
}

/*
 * Pass over this rank's rows in chunks of chunk rows (the last shorter):
 * fn(f, rows, m, first).  The chunks are the same whether the rows are
 * in memory or read again.
 */
static int
each_chunk(struct fit *f, size_t chunk, kmeans_chunk_fn *fn)
{
	uint64_t first;
	size_t m;

	if (!f->r->all)
		return f->r->n ? f->r->each(f->r->src, chunk, fn, f, f->msg,
		                            f->msglen) : 0;
	for (first = 0; first < f->n; first += m) {
		m = MIN(chunk, f->n - first);
		if (fn(f, f->r->all + first * f->d, m, first, f->msg, f->msglen) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the farthest rows                                                   */

/* far[0] is the nearest of the kept rows (a min-heap on key, index) */
static int
far_less(const struct far *a, const struct far *b)
{
	return a->key < b->key || (a->key == b->key && a->index > b->index);
}

static void
far_swap(struct fit *f, int a, int b)
{
	struct far t = f->far[a];
	float *ra = f->farrow + (size_t)a * f->d;
	float *rb = f->farrow + (size_t)b * f->d, x;
	int i;

	f->far[a] = f->far[b];
	f->far[b] = t;
	for (i = 0; i < f->d; i++) {
		x = ra[i];
		ra[i] = rb[i];
		rb[i] = x;
	}
}

static void
far_add(struct fit *f, double key, uint64_t index, int32_t label,
        const float *row)
{
	struct far e = { key, index, label, f->dist->rank };
	int i, j, m;

	if (f->nfar == f->k) {
		if (!(key > f->far[0].key))
			return;
		i = 0; /* replace the root, sift down */
		f->far[0] = e;
		memcpy(f->farrow, row, f->d * sizeof(*row));
		for (;;) {
			j = 2 * i + 1;
			if (j >= f->nfar)
				break;
			m = j + 1 < f->nfar && far_less(&f->far[j + 1], &f->far[j])
			            ? j + 1
			            : j;
			if (!far_less(&f->far[m], &f->far[i]))
				break;
			far_swap(f, i, m);
			i = m;
		}
		return;
	}
	i = f->nfar++;
	f->far[i] = e;
	memcpy(f->farrow + (size_t)i * f->d, row, f->d * sizeof(*row));
	while (i > 0 && far_less(&f->far[i], &f->far[(i - 1) / 2])) {
		far_swap(f, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

/* the kept rows, farthest first (key down, then index up) */
static void
far_sort(struct fit *f)
{
	int n = f->nfar;

	/* heap sort: popping the nearest to the end leaves farthest first */
	while (n > 1) {
		int i = 0, j, m;

		far_swap(f, 0, --n);
		for (;;) {
			j = 2 * i + 1;
			if (j >= n)
				break;
			m = j + 1 < n && far_less(&f->far[j + 1], &f->far[j]) ? j + 1
			                                                       : j;
			if (!far_less(&f->far[m], &f->far[i]))
				break;
			far_swap(f, i, m);
			i = m;
		}
	}
}

static int
far_cmp(const void *a, const void *b)
{
	const struct far *x = a, *y = b;

	return far_less(y, x) ? -1 : far_less(x, y) ? 1 : 0;
}

/*
 * The farthest rows, farthest first: this rank's (far_sort), or, over
 * several ranks, the first want of all ranks' (want of each, gathered
 * and sorted, then the rows sent by their ranks).  Sets f->nfar.
 */
static int
far_gather(struct fit *f, int want)
{
	const struct dist *d = f->dist;
	struct far *all, none = { -INFINITY, UINT64_MAX, -1, -1 };
	float *rows;
	int i, j, n = d->size * want;

	far_sort(f);
	if (d->size == 1 || want == 0)
		return 0;
	all = calloc(n, sizeof(*all));
	rows = calloc((size_t)want * f->d, sizeof(*rows));
	if (!all || !rows) {
		free(all);
		free(rows);
		errf(f->msg, f->msglen, "out of memory for the farthest rows");
		return -1;
	}
	for (i = f->nfar; i < want; i++)
		f->far[i] = none;
	if (collective(f, dist_allgather(d, f->far, want * sizeof(*all), all,
	                                 f->msg, f->msglen),
	               "the farthest rows") < 0)
		goto fail;
	qsort(all, n, sizeof(*all), far_cmp);
	for (i = 0; i < want && all[i].rank >= 0; i++)
		if (all[i].rank == d->rank)
			for (j = 0; j < f->nfar; j++)
				if (f->far[j].index == all[i].index)
					memcpy(rows + (size_t)i * f->d,
					       f->farrow + (size_t)j * f->d,
					       f->d * sizeof(*rows));
	f->nfar = i;
	if (collective(f, dist_or(d, rows, (size_t)want * f->d * sizeof(*rows),
	                          f->msg, f->msglen),
	               "the farthest rows") < 0)
		goto fail;
	memcpy(f->far, all, f->nfar * sizeof(*all));
	memcpy(f->farrow, rows, (size_t)f->nfar * f->d * sizeof(*rows));
	free(all);
	free(rows);
	return 0;
fail:
	free(all);
	free(rows);
	return -1;
}

/* ------------------------------------------------------------------ */
/* assignment                                                          */

/* how badly a row fits its centroid: squared distance or 1 - cosine */
static double
badness(const struct fit *f, float dist)
{
	return f->o->spherical ? 1.0 - dist : dist;
}

/*
 * Assign a chunk; returns its inertia and fills f->lab and f->dist2, NaN
 * if out of memory.  With track, the farthest rows are kept, row i
 * numbered idx[i], or f->off + first + i without idx.
 */
static double
assign(struct fit *f, const float *rows, size_t n, uint64_t first,
       const uint64_t *idx, int track)
{
	double s;
	size_t i;

	s = kmeans_assign(f->o->ws, rows, n, f->c, f->cnorm, f->o->spherical,
	                  f->lab, f->dist2);
	if (isnan(s)) {
		errf(f->msg, f->msglen, "out of memory");
		return s;
	}
	if (f->o->spherical)
		for (s = 0, i = 0; i < n; i++)
			s += 1.0 - f->dist2[i];
	if (track)
		for (i = 0; i < n; i++) {
			double key = badness(f, f->dist2[i]);

			if (f->nfar == f->k && !(key > f->far[0].key))
				continue;
			if (f->o->spherical && zero_row(rows + i * f->d, f->d))
				continue;
			far_add(f, key, idx ? idx[i] : f->off + first + i, f->lab[i],
			        rows + i * f->d);
		}
	return s;
}

static void
prepare_centroids(struct fit *f)
{
	if (!f->o->spherical)
		kmeans_norms(f->c, f->k, f->d, f->cnorm);
}

/* ------------------------------------------------------------------ */
/* seeding                                                             */

/* spherical: the rows that are not all zeros, the rows offered to the
 * sample */
static int
count_chunk(void *arg, const float *rows, size_t n, uint64_t first,
            char *msg, size_t msglen)
{
	struct fit *f = arg;
	size_t i;

	(void)first, (void)msg, (void)msglen;
	for (i = 0; i < n; i++)
		f->nseen += !zero_row(rows + i * f->d, f->d);
	return 0;
}

/*
 * Algorithm R over the rows offered so far (f->nseen, counted over the
 * ranks before this one too).  With spherical, rows of zeros are not
 * offered: no unit centroid can stand for them.
 */
static int
sample_chunk(void *arg, const float *rows, size_t n, uint64_t first,
             char *msg, size_t msglen)
{
	struct fit *f = arg;
	size_t i;
	uint64_t j;

	(void)first, (void)msg, (void)msglen;
	for (i = 0; i < n; i++) {
		if (f->o->spherical && zero_row(rows + i * f->d, f->d))
			continue;
		if (f->nseen < f->samplecap)
			j = f->nseen;
		else
			j = rng_u64(&f->srng) % (f->nseen + 1);
		f->nseen++;
		if (j < f->samplecap) {
			memcpy(f->sample + j * f->d, rows + i * f->d,
			       f->d * sizeof(*rows));
			f->writer[j] = f->dist->rank;
		}
	}
	return 0;
}

/*
 * The sample of every rank's rows that one process would draw: rank r
 * starts where the ranks before it left Algorithm R (the count of rows
 * offered, and one draw of the generator for each past the sample's
 * size), and a slot holds the row of the last rank that filled it.
 */
static int
draw_sample(struct fit *f)
{
	const struct dist *d = f->dist;
	int64_t *all, before = 0, mine;
	uint64_t skip;
	size_t j;
	int i;

	f->samplecap = MAX((size_t)f->k,
	                   MIN(MAX((size_t)100 * f->k, (size_t)SAMPLE_MIN),
	                       (size_t)SAMPLE_MAX));
	f->samplecap = MAX((size_t)f->k,
	                   MIN(f->samplecap, SAMPLE_BYTES / (f->d * sizeof(float))));
	f->sample = bigmap(f->samplecap * f->d * sizeof(float));
	f->writer = malloc(f->samplecap * sizeof(*f->writer));
	if (!f->sample || !f->writer) {
		errf(f->msg, f->msglen, "out of memory for a sample of %zu rows",
		     f->samplecap);
		return -1;
	}
	for (j = 0; j < f->samplecap; j++)
		f->writer[j] = -1;
	rng_seed(&f->srng, f->o->seed, RNG_SAMPLE);
	if (d->size > 1) {
		/* the rows offered before this rank's */
		f->nseen = 0;
		if (!f->o->spherical)
			f->nseen = f->n;
		else if (each_chunk(f, f->chunk, count_chunk) < 0)
			return -1;
		mine = (int64_t)f->nseen;
		if (!(all = malloc(d->size * sizeof(*all)))) {
			errf(f->msg, f->msglen, "out of memory");
			return -1;
		}
		if (collective(f, dist_allgather(d, &mine, sizeof(mine), all,
		                                 f->msg, f->msglen),
		               "the sample") < 0) {
			free(all);
			return -1;
		}
		for (i = 0; i < d->rank; i++)
			before += all[i];
		free(all);
		f->nseen = before;
		for (skip = before > (int64_t)f->samplecap ? before - f->samplecap :
		            0; skip > 0; skip--)
			rng_u64(&f->srng);
	}
	if (each_chunk(f, f->chunk, sample_chunk) < 0)
		return -1;
	if (d->size > 1) {
		/* the last writer of each slot; the others' rows give way */
		if (collective(f, dist_max_i64(d, f->writer, f->samplecap, f->msg,
		                               f->msglen), "the sample") < 0)
			return -1;
		for (j = 0; j < f->samplecap; j++)
			if (f->writer[j] != d->rank)
				memset(f->sample + j * f->d, 0, f->d * sizeof(float));
		if (collective(f, dist_or(d, f->sample,
		                          f->samplecap * f->d * sizeof(float),
		                          f->msg, f->msglen), "the sample") < 0)
			return -1;
		for (j = 0; j < f->samplecap && f->writer[j] >= 0; j++)
			;
		f->nseen = j; /* the slots filled */
	}
	f->nsample = MIN(f->samplecap, f->nseen);
	return 0;
}

/* k-means++ or random rows of the sample, on rank 0, then sent to all */
static int
seed_centroids(struct fit *f)
{
	struct rng rng;
	int rc = 0;

	if (draw_sample(f) < 0)
		return -1;
	if (f->nsample < (size_t)f->k) {
		errf(f->msg, f->msglen, "%d clusters, but only %zu rows that are "
		     "not all zeros to seed them from (spherical)", f->k,
		     f->nsample);
		return -1;
	}
	if (f->dist->rank == 0) {
		rng_seed(&rng, f->o->seed, RNG_INIT);
		if (f->o->init == KMEANS_PLUSPLUS)
			rc = kmeans_plusplus(f->sample, f->nsample, f->d, f->k, &rng,
			                     f->c, f->msg, f->msglen);
		else
			rc = kmeans_random_init(f->sample, f->nsample, f->d, f->k, &rng,
			                        f->c, f->msg, f->msglen);
	}
	if (rc < 0)
		return -1;
	return collective(f, dist_bcast(f->dist, f->c,
	                                (size_t)f->k * f->d * sizeof(float), 0,
	                                f->msg, f->msglen), "the centroids");
}

/* ------------------------------------------------------------------ */
/* Lloyd                                                               */

/* count the labels that differ from the last pass; keep the new ones */
static int
count_changed(struct fit *f, size_t n, uint64_t first)
{
	int32_t *old;
	size_t i;

	if (f->labels) {
		old = f->labels + first;
		if (f->pass == 1)
			f->changed += n; /* no labels before */
		else
			for (i = 0; i < n; i++)
				f->changed += old[i] != f->lab[i];
		memcpy(old, f->lab, n * sizeof(*old));
		return 0;
	}
	if (f->pass == 1) {
		f->changed += n;
	} else {
		old = f->lab + f->chunk; /* room after the chunk's labels */
		if (fseeko(f->labf, (off_t)(first * sizeof(*old)), SEEK_SET) < 0 ||
		    fread(old, sizeof(*old), n, f->labf) != n)
			goto fail;
		for (i = 0; i < n; i++)
			f->changed += old[i] != f->lab[i];
	}
	if (fseeko(f->labf, (off_t)(first * sizeof(*old)), SEEK_SET) < 0 ||
	    fwrite(f->lab, sizeof(*f->lab), n, f->labf) != n)
		goto fail;
	return 0;
fail:
	errf(f->msg, f->msglen, "temporary label file: %s",
	     ferror(f->labf) ? "I/O error" : "short read");
	return -1;
}

static int
lloyd_chunk(void *arg, const float *rows, size_t n, uint64_t first,
            char *msg, size_t msglen)
{
	struct fit *f = arg;
	double s = assign(f, rows, n, first, NULL, 1);

	(void)msg, (void)msglen;
	if (isnan(s))
		return -1;
	f->inertia += s;
	if (count_changed(f, n, first) < 0)
		return -1;
	kmeans_accumulate(f->o->ws, rows, n, f->lab, f->sums, f->counts);
	return 0;
}

static int
final_chunk(void *arg, const float *rows, size_t n, uint64_t first,
            char *msg, size_t msglen)
{
	struct fit *f = arg;
	double s = assign(f, rows, n, first, NULL, 0);
	size_t i;

	(void)msg, (void)msglen;
	if (isnan(s))
		return -1;
	f->inertia += s;
	for (i = 0; i < n; i++)
		f->counts[f->lab[i]]++;
	return 0;
}

/* the sums (K D), inertia and changed labels, and the counts, over the
 * ranks */
static int
reduce(struct fit *f, int withsums)
{
	size_t kd = (size_t)f->k * f->d;
	double *s = f->sums + (withsums ? 0 : kd);

	if (f->dist->size == 1)
		return 0;
	f->sums[kd] = f->inertia;
	f->sums[kd + 1] = (double)f->changed;
	if (collective(f, dist_sum_f64_ordered(f->dist, s, f->sums + kd + 2 - s,
	                                       f->msg, f->msglen),
	               "the sums of a pass") < 0 ||
	    collective(f, dist_sum_i64(f->dist, f->counts, f->k, f->msg,
	                               f->msglen), "the counts of a pass") < 0)
		return -1;
	f->inertia = f->sums[kd];
	f->changed = (uint64_t)f->sums[kd + 1];
	return 0;
}

static int
empty_clusters(const struct fit *f)
{
	int j, n = 0;

	for (j = 0; j < f->k; j++)
		n += !f->counts[j];
	return n;
}

/* Lloyd's update, re-seeding empty clusters from the farthest rows as
 * scikit-learn does; returns the number re-seeded, -1 on error */
static int
lloyd_update(struct fit *f)
{
	int d = f->d, j, kk, e = 0, nempty = 0;
	double *s;

	if (far_gather(f, MIN(empty_clusters(f), f->k)) < 0)
		return -1;
	for (j = 0; j < f->k; j++) {
		if (f->counts[j] || e >= f->nfar)
			continue;
		/* the row leaves its cluster for this one */
		s = f->sums + (size_t)f->far[e].label * d;
		for (kk = 0; kk < d; kk++) {
			s[kk] -= f->farrow[(size_t)e * d + kk];
			f->sums[(size_t)j * d + kk] = f->farrow[(size_t)e * d + kk];
		}
		f->counts[f->far[e].label]--;
		f->counts[j] = 1;
		e++;
		nempty++;
	}
	for (j = 0; j < f->k; j++) {
		if (!f->counts[j])
			continue; /* emptied by a re-seed: keep the old centroid */
		for (kk = 0; kk < d; kk++)
			f->c[(size_t)j * d + kk] =
				(float)(f->sums[(size_t)j * d + kk] / f->counts[j]);
	}
	if (f->o->spherical)
		kmeans_normalize(f->c, f->k, d);
	return nempty;
}

/* the final assignment: counts and inertia at the final centroids */
static int
final_pass(struct fit *f)
{
	f->inertia = 0;
	f->changed = 0;
	memset(f->counts, 0, f->k * sizeof(*f->counts));
	prepare_centroids(f);
	if (each_chunk(f, f->chunk, final_chunk) < 0)
		return -1;
	return reduce(f, 0);
}

static void
report(struct fit *f, enum kmeans_event ev, long it, int reseeded, double t0)
{
	struct kmeans_progress p;

	if (!f->o->report)
		return;
	memset(&p, 0, sizeof(p));
	p.event = ev;
	p.it = it;
	p.inertia = f->inertia;
	p.changed = f->changed;
	p.reseeded = reseeded;
	p.nsample = f->nsample;
	p.seconds = monotonic() - t0;
	f->o->report(f->o->arg, &p);
}

static int
lloyd(struct fit *f, struct kmeans_fit_result *res)
{
	const struct kmeans_fit_opts *o = f->o;
	size_t kd = (size_t)f->k * f->d;
	double t0, prev = 0;
	float *old = malloc(kd * sizeof(*old) + 1);
	long it;
	int nempty, stop = 0;

	if (!old) {
		errf(f->msg, f->msglen, "out of memory");
		return -1;
	}
	res->converged = 0;
	for (it = 1; it <= o->iters && !stop; it++) {
		t0 = monotonic();
		f->pass = it;
		f->inertia = 0;
		f->changed = 0;
		f->nfar = 0;
		memset(f->sums, 0, kd * sizeof(*f->sums));
		memset(f->counts, 0, f->k * sizeof(*f->counts));
		prepare_centroids(f);
		if (each_chunk(f, f->chunk, lloyd_chunk) < 0 || reduce(f, 1) < 0)
			goto fail;
		memcpy(old, f->c, kd * sizeof(*old));
		if ((nempty = lloyd_update(f)) < 0)
			goto fail;
		report(f, KMEANS_ITERATION, it, nempty, t0);
		if (!memcmp(old, f->c, kd * sizeof(*old))) {
			/* a fixed point: this pass's assignment is the final one */
			res->converged = 1;
			res->iters = it;
			free(old);
			return 0;
		}
		if (it > 1 && prev > 0 && fabs(prev - f->inertia) / prev < o->tol)
			stop = res->converged = 1;
		prev = f->inertia;
	}
	free(old);
	res->iters = it - 1;
	return final_pass(f);
fail:
	free(old);
	return -1;
}

/* ------------------------------------------------------------------ */
/* mini-batch                                                          */

/*
 * This rank's n rows of a batch (idx numbers them for the farthest
 * rows, as assign): assign them, then move the centroids by the batch's
 * sums over the ranks.
 */
static int
batch_step(struct fit *f, const float *rows, size_t n, uint64_t first,
           const uint64_t *idx)
{
	size_t kd = (size_t)f->k * f->d;
	int64_t *b = f->counts + f->k; /* the batch's counts */
	double s = 0, inertia = f->inertia;

	prepare_centroids(f);
	if (n && isnan(s = assign(f, rows, n, first, idx, 1)))
		return -1;
	memset(f->sums, 0, kd * sizeof(*f->sums));
	memset(b, 0, f->k * sizeof(*b));
	if (n)
		kmeans_accumulate(f->o->ws, rows, n, f->lab, f->sums, b);
	if (f->dist->size > 1) {
		f->sums[kd] = s;
		if (collective(f, dist_sum_f64_ordered(f->dist, f->sums, kd + 1,
		                                       f->msg, f->msglen),
		               "the sums of a batch") < 0 ||
		    collective(f, dist_sum_i64(f->dist, b, f->k, f->msg, f->msglen),
		               "the counts of a batch") < 0)
			return -1;
		s = f->sums[kd];
	}
	f->inertia = inertia + s;
	kmeans_minibatch_apply(f->sums, b, f->k, f->d, f->c, f->counts);
	if (f->o->spherical)
		kmeans_normalize(f->c, f->k, f->d);
	return 0;
}

/* a batch of consecutive rows (one process, rows read in stream order) */
static int
batch_chunk(void *arg, const float *rows, size_t n, uint64_t first,
            char *msg, size_t msglen)
{
	(void)msg, (void)msglen;
	return batch_step(arg, rows, n, first, NULL);
}

static int
minibatch(struct fit *f)
{
	const struct kmeans_fit_opts *o = f->o;
	size_t b = (size_t)MIN(o->batch, f->total), s, m, i, j, t;
	uint32_t *perm = NULL, u;
	uint64_t *idx = NULL;
	float *batch = NULL;
	struct rng rng;
	double t0;
	long e;
	int kk, nre, rc = -1;

	memset(f->counts, 0, f->k * sizeof(*f->counts));
	if (f->r->all || (!f->n && f->dist->size > 1)) {
		perm = bigmap(f->total * sizeof(*perm));
		batch = malloc(MIN(b, f->n) * f->d * sizeof(*batch) + 1);
		idx = malloc(MIN(b, f->n) * sizeof(*idx) + 1);
		if (!perm || !batch || !idx) {
			errf(f->msg, f->msglen, "out of memory for the batches");
			goto out;
		}
		for (i = 0; i < f->total; i++)
			perm[i] = i;
	} else if (f->dist->size > 1) {
		errf(f->msg, f->msglen, "mini-batch K-means on %d ranks needs each "
		     "rank's rows in memory (its batches are drawn from all rows)",
		     f->dist->size);
		goto out;
	}
	for (e = 1; e <= o->epochs; e++) {
		t0 = monotonic();
		f->inertia = 0; /* over the epoch's batches */
		f->nfar = 0;
		if (perm) {
			/* a fresh permutation of all rows each epoch */
			rng_seed(&rng, o->seed, (uint64_t)RNG_SHUFFLE << 56 ^ e);
			for (i = f->total; i > 1; i--) {
				j = rng_u64(&rng) % i;
				u = perm[i - 1];
				perm[i - 1] = perm[j];
				perm[j] = u;
			}
			for (s = 0; s < f->total; s += m) {
				m = MIN(b, f->total - s);
				for (i = t = 0; i < m; i++) {
					uint64_t row = perm[s + i];

					if (row < f->off || row >= f->off + f->n)
						continue; /* another rank's */
					memcpy(batch + t * f->d,
					       f->r->all + (row - f->off) * f->d,
					       f->d * sizeof(*batch));
					idx[t++] = s + i; /* its place in the permutation */
				}
				if (batch_step(f, batch, t, s, idx) < 0)
					goto out;
			}
		} else if (each_chunk(f, b, batch_chunk) < 0) { /* stream order */
			goto out;
		}
		/* clusters no row has reached yet move onto the farthest rows */
		if (far_gather(f, MIN(empty_clusters(f), f->k)) < 0)
			goto out;
		for (kk = 0, nre = 0; kk < f->k && nre < f->nfar; kk++)
			if (!f->counts[kk]) {
				memcpy(f->c + (size_t)kk * f->d,
				       f->farrow + (size_t)nre * f->d,
				       f->d * sizeof(*f->c));
				nre++;
			}
		report(f, KMEANS_EPOCH, e, nre, t0);
	}
	rc = final_pass(f);
out:
	if (perm)
		bigunmap(perm, f->total * sizeof(*perm));
	free(batch);
	free(idx);
	return rc;
}

/* ------------------------------------------------------------------ */

static void
fit_free(struct fit *f)
{
	free(f->cnorm);
	free(f->sums);
	free(f->counts);
	free(f->lab);
	free(f->dist2);
	if (f->labels)
		bigunmap(f->labels, f->n * sizeof(*f->labels));
	if (f->labf)
		fclose(f->labf);
	free(f->far);
	free(f->farrow);
	if (f->sample)
		bigunmap(f->sample, f->samplecap * f->d * sizeof(float));
	free(f->writer);
}

int
kmeans_fit(const struct kmeans_fit_opts *o, const struct kmeans_rows *rows,
           float *c, int64_t *counts, struct kmeans_fit_result *res,
           char *msg, size_t msglen)
{
	struct fit f;
	int64_t *all = NULL, n;
	double t0 = monotonic();
	size_t kd;
	int i, rc = -1;

	memset(&f, 0, sizeof(f));
	memset(res, 0, sizeof(*res));
	f.o = o;
	f.r = rows;
	f.one.size = 1;
	f.dist = o->dist ? o->dist : &f.one;
	f.d = rows->d;
	f.k = o->k;
	f.n = rows->n;
	f.c = c;
	f.msg = msg;
	f.msglen = msglen;
	kd = (size_t)f.k * f.d;
	/* this rank's place among the rows of all */
	n = (int64_t)f.n;
	if (!(all = malloc(f.dist->size * sizeof(*all)))) {
		errf(msg, msglen, "out of memory");
		return -1;
	}
	if (collective(&f, dist_allgather(f.dist, &n, sizeof(n), all, msg,
	                                  msglen), "the rows of the ranks") < 0)
		goto out;
	for (i = 0; i < f.dist->size; i++) {
		f.off += i < f.dist->rank ? all[i] : 0;
		f.total += all[i];
	}
	res->rows = f.total;
	if (f.total < (uint64_t)f.k) {
		errf(msg, msglen, "%d clusters for %llu rows", f.k,
		     (unsigned long long)f.total);
		goto out;
	}
	f.chunk = MIN(MAX(CHUNK_BYTES / (f.d * sizeof(float)), (size_t)256),
	              (size_t)65536);
	if (o->algo == KMEANS_MINIBATCH)
		f.chunk = MIN(o->batch, MAX(f.total, 1));
	f.cnorm = malloc(f.k * sizeof(*f.cnorm));
	f.sums = calloc(kd + 2, sizeof(*f.sums));
	f.counts = calloc(2 * (size_t)f.k, sizeof(*f.counts));
	/* chunk labels, then room for the previous ones when streaming */
	f.lab = malloc(2 * f.chunk * sizeof(*f.lab));
	f.dist2 = malloc(f.chunk * sizeof(*f.dist2));
	f.far = calloc(MAX(f.k, 1), sizeof(*f.far));
	f.farrow = malloc(kd * sizeof(*f.farrow));
	if (!f.cnorm || !f.sums || !f.counts || !f.lab || !f.dist2 || !f.far ||
	    !f.farrow) {
		errf(msg, msglen, "out of memory for K=%d, D=%d", f.k, f.d);
		goto out;
	}
	if (o->algo == KMEANS_LLOYD && f.n) {
		if (rows->all)
			f.labels = bigmap(f.n * sizeof(*f.labels));
		else
			f.labf = tmpfile();
		if (!f.labels && !f.labf) {
			errf(msg, msglen, "%s", rows->all ? "out of memory for labels" :
			     "temporary label file: cannot create");
			goto out;
		}
	}
	if (o->init != KMEANS_GIVEN) {
		if (seed_centroids(&f) < 0)
			goto out;
		bigunmap(f.sample, f.samplecap * f.d * sizeof(float));
		f.sample = NULL;
		f.inertia = 0;
		report(&f, KMEANS_SEEDED, 0, 0, t0);
	}
	if (o->algo == KMEANS_LLOYD)
		rc = lloyd(&f, res);
	else
		rc = minibatch(&f);
	if (rc == 0) {
		memcpy(counts, f.counts, f.k * sizeof(*counts));
		res->inertia = f.inertia;
	}
out:
	free(all);
	fit_free(&f);
	return rc;
}
