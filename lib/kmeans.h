/* See LICENSE file for copyright and license details. */
/*
 * kmeans: the kernels of K-means clustering on f32 rows.
 *
 * Dimension legend: N rows, D values per row, K centroids.
 *   x (N, D), c (K, D), row-major f32.
 *
 * Assignment finds for every row the centroid with the least squared L2
 * distance, as the least ||c||^2 - 2 x.c (a register-blocked AVX-512 or
 * AVX2 kernel with the argmin fused in, or one sgemm per cache-sized
 * block of rows through OpenBLAS: see enum kmeans_kernel), or with
 * --spherical the greatest dot product x.c (rows and centroids
 * L2-normalised by the caller).  Ties go to the lowest centroid index.
 * Sums that decide a result (inertia, centroid sums) are accumulated in
 * double.  Every kernel has a naive twin (kmeans_*_naive) that the tests
 * compare against.
 *
 * Threads: nthreads > 1 splits rows among threads in fixed blocks;
 * partial sums are reduced in a fixed order, so any thread count gives
 * the same bytes (see the end of this file).  Nothing here exits or
 * prints.
 */
#ifndef MIM_KMEANS_H
#define MIM_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct kmeans_ws; /* scratch space sized for (K, D); reuse across calls */

struct kmeans_ws *kmeans_ws_new(int k, int d, int nthreads);
void kmeans_ws_free(struct kmeans_ws *);

/*
 * Assign rows to centroids.  Must be given the centroids' squared norms
 * cnorm (K), from kmeans_norms(), unless spherical.
 *   x (N, D)  c (K, D)  labels (N)  dist (N) or NULL: the squared
 *   distance to the chosen centroid, kmeans_dist2() (L2), or the dot
 *   product with it, kmeans_dot() (spherical).
 * Returns the sum of dist in double (the inertia for L2); NaN if out of
 * memory.  The workspace must be for this K and D.
 */
double kmeans_assign(struct kmeans_ws *, const float *x, size_t n,
                     const float *c, const float *cnorm, int spherical,
                     int32_t *labels, float *dist);
double kmeans_assign_naive(const float *x, size_t n, int d, const float *c,
                           int k, int spherical, int32_t *labels,
                           float *dist);

/* squared L2 norms of n rows of x (N, D) into out (N) */
void kmeans_norms(const float *x, size_t n, int d, float *out);
/* L2-normalise n rows in place (zero rows stay zero) */
void kmeans_normalize(float *x, size_t n, int d);

/*
 * Lloyd: add each row to its centroid's sum.
 *   sums (K, D) double  counts (K)
 */
void kmeans_accumulate(struct kmeans_ws *, const float *x, size_t n,
                       const int32_t *labels, double *sums,
                       int64_t *counts);

/*
 * Mini-batch K-means update (scikit-learn's MiniBatchKMeans): each
 * centroid moves towards the mean of its rows in the batch with
 * learning rate b / (counts + b), where b is its row count in the batch;
 * counts (K) accumulates.  The batch comes as its sums (K, D) and row
 * counts b (K), from kmeans_accumulate (and a sum over ranks).
 */
void kmeans_minibatch_apply(const double *sums, const int64_t *b, int k,
                            int d, float *c, int64_t *counts);

/* k-means++ seeding (greedy: 2 + log K candidates a step) from x */
int kmeans_plusplus(const float *x, size_t n, int d, int k, struct rng *,
                    float *c, char *msg, size_t msglen);
/* k distinct rows of x chosen uniformly */
int kmeans_random_init(const float *x, size_t n, int d, int k, struct rng *,
                       float *c, char *msg, size_t msglen);

/*
 * Added with the implementation (lib/kmeans.c, lib/kmeans_simd.c).
 *
 * Kernels.  kmeans_assign runs one of these; the workspace starts with
 * the fastest one this CPU has (AVX-512, else AVX2+FMA, else BLAS).  The
 * two x86 kernels give the same bits as each other: the dot products are
 * fused multiply-add chains in the order k = 0..D-1.  BLAS rounds
 * differently, so on a near-tie it may pick another centroid.
 */
enum kmeans_kernel {
	KMEANS_KERNEL_AUTO = 0, /* the fastest this CPU runs */
	KMEANS_KERNEL_BLAS,     /* cblas_sgemm blocks + a portable argmin */
	KMEANS_KERNEL_AVX2,     /* register-blocked, AVX2 and FMA */
	KMEANS_KERNEL_AVX512    /* the same with AVX-512 */
};

/* 0, or -1 when this CPU cannot run kernel */
int kmeans_ws_set_kernel(struct kmeans_ws *, int kernel);
int kmeans_ws_kernel(const struct kmeans_ws *); /* the one in use */
const char *kmeans_kernel_name(int kernel);     /* "blas", "avx2", ... */
int kmeans_kernel_parse(const char *);          /* -1 if unknown */

/*
 * The squared L2 distance and the dot product of two rows (D), summed in
 * one fixed order by every kernel: kmeans_assign's dist is the one of
 * these for the chosen centroid, so it never depends on the kernel.
 */
float kmeans_dist2(const float *a, const float *b, int d);
float kmeans_dot(const float *a, const float *b, int d);

/*
 * Threads: kmeans_ws_new(.., nthreads) starts nthreads - 1 workers that
 * sleep between calls, and sets OpenBLAS to one thread (this module's
 * threads share out the rows).  Results never depend on nthreads: rows
 * go in fixed blocks whatever the thread count, partial sums are added
 * in block order, and kmeans_accumulate gives each thread whole
 * centroids, summed in row order.
 */

#endif
