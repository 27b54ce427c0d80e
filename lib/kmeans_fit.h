/* See LICENSE file for copyright and license details. */
/*
 * kmeans_fit: the K-means algorithms, over rows the caller holds: exact
 * Lloyd passes, stopping when the centroids stop moving or the inertia
 * improves by less than tol relative; or scikit-learn's mini-batch
 * update over epochs of batches.  Seeding by greedy k-means++ or k
 * distinct rows, both on a uniform sample of the rows (Algorithm R), or
 * centroids the caller gives.  Clusters left empty are re-seeded with
 * the rows farthest from their centroids, as scikit-learn does.  The
 * kernels are kmeans.h's.
 *
 * Dimension legend: N rows, D values a row, K centroids.
 *
 * The rows may be spread over the ranks of a job (dist.h): each rank
 * passes its own, and the fit is the one a single process makes of
 * all of them in rank order (rank 0's rows, then rank 1's, ...):
 * every rank assigns its rows, and the per-cluster sums, counts and
 * inertia are summed over the ranks in rank order, so every rank holds
 * the same centroids.  The seeding sample, the mini-batch permutation
 * and the farthest rows are drawn over the row numbers of that order,
 * so they are the single process's too; the sums differ from its sums
 * in the last bits only (partial sums per rank), and so do the
 * centroids.  Every rank must call kmeans_fit.
 *
 * Rows come in memory (all of them) or through a function that passes
 * over them in chunks, in the same order each time (a file read again
 * each pass); the results are the same either way.  Mini-batch K-means
 * over several ranks needs the rows in memory: its batches are drawn
 * from all rows.
 *
 * Nothing here exits or prints: -1 with a message in msg; progress goes
 * to an optional callback.
 */
#ifndef MIM_KMEANS_FIT_H
#define MIM_KMEANS_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "kmeans.h"

enum kmeans_algo { KMEANS_LLOYD, KMEANS_MINIBATCH };
enum kmeans_init { KMEANS_PLUSPLUS, KMEANS_RANDOM, KMEANS_GIVEN };

/* a chunk of m rows (m, D), the first being row first of this rank's;
 * returns 0, or -1 with a message in msg to stop the pass */
typedef int kmeans_chunk_fn(void *arg, const float *rows, size_t m,
                            uint64_t first, char *msg, size_t msglen);

/* this rank's rows */
struct kmeans_rows {
	uint64_t n;          /* rows (may be 0 on a rank) */
	int d;
	const float *all;    /* (n, D), or NULL: call each */
	/* pass over rows 0..n-1 in order, in chunks of chunk rows (the last
	 * shorter), calling fn; 0, or -1 with a message */
	int (*each)(void *src, size_t chunk, kmeans_chunk_fn *fn, void *arg,
	            char *msg, size_t msglen);
	void *src;
};

/* what a fit reports as it goes (kmeans_fit_opts.report) */
enum kmeans_event {
	KMEANS_SEEDED,       /* nsample rows sampled, centroids seeded */
	KMEANS_ITERATION,    /* a Lloyd pass: it, inertia, changed, reseeded */
	KMEANS_EPOCH         /* a mini-batch epoch: it, inertia over the
	                      * batches, reseeded */
};

struct kmeans_progress {
	enum kmeans_event event;
	long it;
	double inertia;
	uint64_t changed;    /* labels that changed, over all ranks */
	int reseeded;        /* empty clusters given far rows */
	size_t nsample;
	double seconds;      /* of this pass or epoch */
};

struct kmeans_fit_opts {
	int k;
	enum kmeans_algo algo;
	enum kmeans_init init;
	int spherical;       /* rows and centroids L2-normalised by the
	                      * caller; zero rows never seed */
	long iters;          /* Lloyd: at most (0: the given centroids) */
	double tol;
	long epochs;         /* mini-batch */
	uint64_t batch;      /* rows a batch, over all ranks */
	uint64_t seed;
	struct kmeans_ws *ws;        /* the caller's, for (K, D) */
	const struct dist *dist;     /* NULL: one process */
	void (*report)(void *arg, const struct kmeans_progress *);
	void *arg;
};

struct kmeans_fit_result {
	uint64_t rows;       /* over all ranks */
	long iters;          /* Lloyd passes made */
	int converged;
	double inertia;      /* at the final centroids */
};

/*
 * Fit o->k centroids c (K, D) to the rows (with KMEANS_GIVEN, c holds
 * the start); counts (K) gets the rows nearest to each final centroid.
 * The rows of every rank together must number at least K.
 */
int kmeans_fit(const struct kmeans_fit_opts *o, const struct kmeans_rows *,
               float *c, int64_t *counts, struct kmeans_fit_result *,
               char *msg, size_t msglen);

#endif
