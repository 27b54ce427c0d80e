/* See LICENSE file for copyright and license details. */
/*
 * kmeans: assignment, accumulation, mini-batch update and seeding for
 * K-means on f32 rows (the contract is in kmeans.h).
 *
 * Assignment runs on fixed blocks of rows (a "task"), handed to the
 * threads through an atomic counter: a task is always computed the same
 * way, whichever thread takes it, and its partial inertia lands in its
 * own slot, summed in task order at the end.  Inside a task one of three
 * kernels finds the nearest centroids:
 *
 *   avx512, avx2   kmeans_simd.c: register-blocked dot products over the
 *                  packed centroids with the argmin fused into the tile
 *                  epilogue, cache-blocked over centroid groups;
 *   blas           cblas_sgemm of the task's rows against a block of
 *                  centroids into a buffer that stays in L2, then the
 *                  argmin over it while it is hot.
 *
 * None of them forms the N x K distance matrix or needs ||x||^2: the
 * argmin of ||c||^2 - 2 x.c is the argmin of the distance, and the
 * distance reported for the chosen centroid is computed directly as
 * sum (x - c)^2 (kmeans_dist2), which is also more accurate.
 *
 * Accumulation gives each thread a range of centroids holding about
 * n/T rows; it scans all labels and adds its own rows in row order, so
 * every sum is the same, in double, for any thread count.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"
#include "kmeans_simd.h"

enum {
	SIMD_XBYTES = 48 << 10,  /* a task's rows: about L1 */
	SIMD_CBYTES = 256 << 10, /* a block of packed centroids: in L2 */
	SIMD_MAXTB = 1536,       /* rows a task at most */
	BLAS_TB = 64,            /* rows a BLAS task */
	BLAS_KB = 1024,          /* centroids a BLAS block */
	PP_BLOCK = 2048          /* rows a k-means++ block */
};

struct scratch {
	float *mstate;   /* SIMD row state, tb x 16 */
	int32_t *istate;
	float *ip;       /* BLAS block, BLAS_TB x min(K, BLAS_KB) */
	float *bm;       /* BLAS running minimum and index, BLAS_TB */
	int32_t *bi;
};

struct kmeans_ws {
	int k, d, nthreads, kernel;

	/* packed centroids for the SIMD kernels (kmeans_simd.h) */
	float *pack, *bias;
	int G, ngroups, gblock;
	float *cprev;  /* what pack holds, to skip packing it again */
	int packed;    /* -1: nothing; else the spherical flag packed */
	size_t tb; /* rows a task for the current kernel */

	float (*dist2)(const float *, const float *, int);
	float (*dot)(const float *, const float *, int);
	void (*addrow)(double *, const float *, int);

	struct scratch *sc; /* one a thread */
	int nsc;
	double *part;       /* partial sums, one a task */
	size_t partcap;
	int64_t *hist;      /* K, accumulate */
	int *krange;        /* nthreads + 1, accumulate */

	/* the job the threads run */
	struct {
		const float *x, *c, *cnorm;
		size_t n, ntasks;
		int spherical;
		int32_t *labels;
		const int32_t *clabels;
		float *dist;
		double *sums;
		atomic_size_t next;
	} job;

	/* the thread pool: nthreads - 1 workers, the caller is thread 0 */
	pthread_t *th;
	int nth;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	unsigned long gen;
	int busy, quit;
	void (*fn)(struct kmeans_ws *, int);
};

static const char *kernel_names[] = { "auto", "blas", "avx2", "avx512" };

/* ------------------------------------------------------------------ */
/* portable row helpers: the fixed order of kmeans_simd.h              */

static float
reduce16(float *s)
{
	int w, l;

	for (w = 8; w; w >>= 1)
		for (l = 0; l < w; l++)
			s[l] += s[l + w];
	return s[0];
}

float
kmeans_dist2(const float *a, const float *b, int d)
{
	float s[16] = { 0 }, t;
	int k, l;

	for (k = 0; k + 16 <= d; k += 16)
		for (l = 0; l < 16; l++) {
			t = a[k + l] - b[k + l];
			s[l] += t * t;
		}
	for (l = 0; k + l < d; l++) {
		t = a[k + l] - b[k + l];
		s[l] += t * t;
	}
	return reduce16(s);
}

float
kmeans_dot(const float *a, const float *b, int d)
{
	float s[16] = { 0 };
	int k, l;

	for (k = 0; k + 16 <= d; k += 16)
		for (l = 0; l < 16; l++)
			s[l] += a[k + l] * b[k + l];
	for (l = 0; k + l < d; l++)
		s[l] += a[k + l] * b[k + l];
	return reduce16(s);
}

static void
addrow(double *s, const float *x, int d)
{
	int k;

	for (k = 0; k < d; k++)
		s[k] += x[k];
}

void
kmeans_norms(const float *x, size_t n, int d, float *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = kmeans_dot(x + i * d, x + i * d, d);
}

void
kmeans_normalize(float *x, size_t n, int d)
{
	double s, nrm;
	size_t i;
	int k;

	for (i = 0; i < n; i++, x += d) {
		for (s = 0, k = 0; k < d; k++)
			s += (double)x[k] * x[k];
		if (s == 0)
			continue;
		nrm = sqrt(s);
		for (k = 0; k < d; k++)
			x[k] = (float)(x[k] / nrm);
	}
}

/* ------------------------------------------------------------------ */
/* thread pool                                                         */

static void *
worker(void *arg)
{
	struct kmeans_ws *ws = arg;
	unsigned long seen = 0;
	int tid;

	pthread_mutex_lock(&ws->mu);
	tid = ++ws->nth; /* 1, 2, ... in start order; only labels scratch */
	for (;;) {
		while (ws->gen == seen && !ws->quit)
			pthread_cond_wait(&ws->go, &ws->mu);
		if (ws->quit)
			break;
		seen = ws->gen;
		pthread_mutex_unlock(&ws->mu);
		ws->fn(ws, tid);
		pthread_mutex_lock(&ws->mu);
		if (--ws->busy == 0)
			pthread_cond_signal(&ws->done);
	}
	pthread_mutex_unlock(&ws->mu);
	return NULL;
}

/* fn(ws, tid) on every thread, the caller as tid 0; returns when done */
static void
run(struct kmeans_ws *ws, void (*fn)(struct kmeans_ws *, int))
{
	if (ws->nthreads == 1) {
		fn(ws, 0);
		return;
	}
	pthread_mutex_lock(&ws->mu);
	ws->fn = fn;
	ws->gen++;
	ws->busy = ws->nthreads - 1;
	pthread_cond_broadcast(&ws->go);
	pthread_mutex_unlock(&ws->mu);
	fn(ws, 0);
	pthread_mutex_lock(&ws->mu);
	while (ws->busy)
		pthread_cond_wait(&ws->done, &ws->mu);
	pthread_mutex_unlock(&ws->mu);
}

/* ------------------------------------------------------------------ */
/* workspace                                                           */

static void *
amalloc(size_t n)
{
	void *p;

	n = (n + 63) / 64 * 64;
	if (posix_memalign(&p, 64, n ? n : 64))
		return NULL;
	return p;
}

static size_t
simd_tb(int d)
{
	size_t tb = SIMD_XBYTES / ((size_t)KM_R * d * sizeof(float));

	tb = tb ? tb * KM_R : KM_R;
	return tb > SIMD_MAXTB ? SIMD_MAXTB / KM_R * KM_R : tb;
}

static int
kernel_ok(int kernel)
{
	switch (kernel) {
	case KMEANS_KERNEL_BLAS: return 1;
	case KMEANS_KERNEL_AVX2: return km_have_avx2();
	case KMEANS_KERNEL_AVX512: return km_have_avx512();
	}
	return 0;
}

int
kmeans_ws_set_kernel(struct kmeans_ws *ws, int kernel)
{
	if (kernel == KMEANS_KERNEL_AUTO)
		kernel = km_have_avx512() ? KMEANS_KERNEL_AVX512
		         : km_have_avx2() ? KMEANS_KERNEL_AVX2
		                          : KMEANS_KERNEL_BLAS;
	if (!kernel_ok(kernel))
		return -1;
	ws->kernel = kernel;
	ws->packed = -1;
	ws->G = kernel == KMEANS_KERNEL_AVX512 ? KM_G_AVX512 : KM_G_AVX2;
	ws->ngroups = (ws->k + ws->G - 1) / ws->G;
	ws->gblock = SIMD_CBYTES / ((size_t)ws->d * ws->G * sizeof(float));
	if (ws->gblock < 1)
		ws->gblock = 1;
	ws->tb = kernel == KMEANS_KERNEL_BLAS ? BLAS_TB : simd_tb(ws->d);
	return 0;
}

int
kmeans_ws_kernel(const struct kmeans_ws *ws)
{
	return ws->kernel;
}

const char *
kmeans_kernel_name(int kernel)
{
	return kernel >= 0 && kernel < (int)LEN(kernel_names)
	               ? kernel_names[kernel]
	               : "?";
}

int
kmeans_kernel_parse(const char *s)
{
	int i;

	for (i = 0; i < (int)LEN(kernel_names); i++)
		if (!strcmp(s, kernel_names[i]))
			return i;
	return -1;
}

struct kmeans_ws *
kmeans_ws_new(int k, int d, int nthreads)
{
	struct kmeans_ws *ws;
	size_t gmax, tbmax, kb;
	int i;

	if (k < 1 || d < 1 || nthreads < 1)
		return NULL;
	if (!(ws = calloc(1, sizeof(*ws))))
		return NULL;
	ws->k = k;
	ws->d = d;
	ws->nthreads = nthreads;
	/* K padded to whole groups of either kernel (64 is a multiple of 16) */
	gmax = ((size_t)k + KM_G_AVX512 - 1) / KM_G_AVX512 * KM_G_AVX512;
	tbmax = simd_tb(d) > BLAS_TB ? simd_tb(d) : BLAS_TB;
	kb = k < BLAS_KB ? k : BLAS_KB;
	ws->pack = amalloc(gmax * d * sizeof(float));
	ws->bias = amalloc(gmax * sizeof(float));
	ws->cprev = malloc((size_t)k * d * sizeof(float));
	ws->packed = -1;
	if ((ws->sc = calloc(nthreads, sizeof(*ws->sc))))
		ws->nsc = nthreads;
	ws->hist = calloc(k, sizeof(*ws->hist));
	ws->krange = calloc(nthreads + 1, sizeof(*ws->krange));
	if (!ws->pack || !ws->bias || !ws->cprev || !ws->sc || !ws->hist ||
	    !ws->krange)
		goto fail;
	for (i = 0; i < nthreads; i++) {
		struct scratch *s = &ws->sc[i];

		s->mstate = amalloc(tbmax * 16 * sizeof(float));
		s->istate = amalloc(tbmax * 16 * sizeof(int32_t));
		s->ip = amalloc((size_t)BLAS_TB * kb * sizeof(float));
		s->bm = amalloc(BLAS_TB * sizeof(float));
		s->bi = amalloc(BLAS_TB * sizeof(int32_t));
		if (!s->mstate || !s->istate || !s->ip || !s->bm || !s->bi)
			goto fail;
	}
	if (km_have_avx512()) {
		ws->dist2 = km_dist2_avx512;
		ws->dot = km_dot_avx512;
		ws->addrow = km_addrow_avx512;
	} else if (km_have_avx2()) {
		ws->dist2 = km_dist2_avx2;
		ws->dot = km_dot_avx2;
		ws->addrow = km_addrow_avx2;
	} else {
		ws->dist2 = kmeans_dist2;
		ws->dot = kmeans_dot;
		ws->addrow = addrow;
	}
	kmeans_ws_set_kernel(ws, KMEANS_KERNEL_AUTO);
	/* our threads own the parallelism; sgemm runs inside them */
	openblas_set_num_threads(1);
	if (nthreads > 1) {
		if (pthread_mutex_init(&ws->mu, NULL) ||
		    pthread_cond_init(&ws->go, NULL) ||
		    pthread_cond_init(&ws->done, NULL))
			goto fail;
		if (!(ws->th = calloc(nthreads - 1, sizeof(*ws->th))))
			goto fail;
		for (i = 0; i < nthreads - 1; i++)
			if (pthread_create(&ws->th[i], NULL, worker, ws)) {
				ws->nthreads = i + 1; /* the ones running */
				kmeans_ws_free(ws);
				return NULL;
			}
	}
	return ws;
fail:
	ws->nthreads = 1; /* no threads were started */
	kmeans_ws_free(ws);
	return NULL;
}

void
kmeans_ws_free(struct kmeans_ws *ws)
{
	int i;

	if (!ws)
		return;
	if (ws->th) {
		pthread_mutex_lock(&ws->mu);
		ws->quit = 1;
		pthread_cond_broadcast(&ws->go);
		pthread_mutex_unlock(&ws->mu);
		for (i = 0; i < ws->nthreads - 1; i++)
			pthread_join(ws->th[i], NULL);
		free(ws->th);
		pthread_mutex_destroy(&ws->mu);
		pthread_cond_destroy(&ws->go);
		pthread_cond_destroy(&ws->done);
	}
	if (ws->sc)
		for (i = 0; i < ws->nsc; i++) {
			free(ws->sc[i].mstate);
			free(ws->sc[i].istate);
			free(ws->sc[i].ip);
			free(ws->sc[i].bm);
			free(ws->sc[i].bi);
		}
	free(ws->sc);
	free(ws->pack);
	free(ws->bias);
	free(ws->cprev);
	free(ws->part);
	free(ws->hist);
	free(ws->krange);
	free(ws);
}

/* ------------------------------------------------------------------ */
/* assignment                                                          */

/*
 * c (K, D) into ws->pack [ngroups][D][G], bias[j] = cnorm or 0 or +inf;
 * nothing to do if the same centroids are packed already (the tools
 * assign chunk after chunk to the same centroids)
 */
static void
pack_centroids(struct kmeans_ws *ws, const float *c, const float *cnorm,
               int spherical)
{
	int G = ws->G, d = ws->d, k = ws->k, g, kk, l, j;
	size_t kd = (size_t)k * d;
	float *p;

	for (j = 0; j < ws->ngroups * G; j++)
		ws->bias[j] = j >= k ? INFINITY : spherical ? 0.0f : cnorm[j];
	if (ws->packed == spherical && !memcmp(ws->cprev, c, kd * sizeof(*c)))
		return;
	for (j = 0; j < k; j++) {
		g = j / G;
		l = j % G;
		p = ws->pack + (size_t)g * d * G + l;
		for (kk = 0; kk < d; kk++)
			p[(size_t)kk * G] = c[(size_t)j * d + kk];
	}
	for (j = k; j < ws->ngroups * G; j++) {
		p = ws->pack + (size_t)(j / G) * d * G + j % G;
		for (kk = 0; kk < d; kk++)
			p[(size_t)kk * G] = 0.0f;
	}
	memcpy(ws->cprev, c, kd * sizeof(*c));
	ws->packed = spherical;
}

/* the BLAS kernel on rows x (n <= BLAS_TB) */
static void
argmin_blas(struct kmeans_ws *ws, struct scratch *s, const float *x,
            size_t n, const float *c, int32_t *labels)
{
	int k = ws->k, d = ws->d, j0, kb, j;
	float mul = ws->job.spherical ? -1.0f : -2.0f, v, *ip;
	size_t i;

	for (i = 0; i < n; i++) {
		s->bm[i] = INFINITY;
		s->bi[i] = 0;
	}
	for (j0 = 0; j0 < k; j0 += kb) {
		kb = k - j0 < BLAS_KB ? k - j0 : BLAS_KB;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, kb, d,
		            1.0f, x, d, c + (size_t)j0 * d, d, 0.0f, s->ip, kb);
		for (i = 0; i < n; i++) {
			float m = s->bm[i];
			int32_t id = s->bi[i];
			const float *b = ws->bias + j0;

			ip = s->ip + i * kb;
			for (j = 0; j < kb; j++) {
				/* mul * ip is exact: one rounding, as fma */
				v = b[j] + mul * ip[j];
				if (v < m) {
					m = v;
					id = j0 + j;
				}
			}
			s->bm[i] = m;
			s->bi[i] = id;
		}
	}
	for (i = 0; i < n; i++)
		labels[i] = s->bi[i];
}

static void
assign_job(struct kmeans_ws *ws, int tid)
{
	struct scratch *s = &ws->sc[tid];
	const float *x, *c = ws->job.c;
	size_t t, r0, n, i;
	int32_t *lab;
	double sum;
	float dv;
	int d = ws->d;

	while ((t = atomic_fetch_add(&ws->job.next, 1)) < ws->job.ntasks) {
		r0 = t * ws->tb;
		n = ws->job.n - r0 < ws->tb ? ws->job.n - r0 : ws->tb;
		x = ws->job.x + r0 * d;
		lab = ws->job.labels + r0;
		switch (ws->kernel) {
		case KMEANS_KERNEL_AVX512:
			km_argmin_avx512(x, n, d, ws->pack, ws->bias, ws->ngroups,
			                 ws->gblock, ws->job.spherical ? -1.0f : -2.0f,
			                 s->mstate, s->istate, lab);
			break;
		case KMEANS_KERNEL_AVX2:
			km_argmin_avx2(x, n, d, ws->pack, ws->bias, ws->ngroups,
			               ws->gblock, ws->job.spherical ? -1.0f : -2.0f,
			               s->mstate, s->istate, lab);
			break;
		default:
			argmin_blas(ws, s, x, n, c, lab);
		}
		sum = 0;
		for (i = 0; i < n; i++) {
			const float *ci = c + (size_t)lab[i] * d;

			dv = ws->job.spherical ? ws->dot(x + i * d, ci, d)
			                       : ws->dist2(x + i * d, ci, d);
			if (ws->job.dist)
				ws->job.dist[r0 + i] = dv;
			sum += dv;
		}
		ws->part[t] = sum;
	}
}

double
kmeans_assign(struct kmeans_ws *ws, const float *x, size_t n, const float *c,
              const float *cnorm, int spherical, int32_t *labels, float *dist)
{
	size_t t, ntasks;
	double sum = 0;

	if (!n)
		return 0;
	ntasks = (n + ws->tb - 1) / ws->tb;
	if (ntasks > ws->partcap) {
		double *p = realloc(ws->part, ntasks * sizeof(*p));

		if (!p)
			return NAN;
		ws->part = p;
		ws->partcap = ntasks;
	}
	if (ws->kernel == KMEANS_KERNEL_BLAS) {
		int j;

		for (j = 0; j < ws->k; j++)
			ws->bias[j] = spherical ? 0.0f : cnorm[j];
	} else {
		pack_centroids(ws, c, cnorm, spherical);
	}
	ws->job.x = x;
	ws->job.n = n;
	ws->job.c = c;
	ws->job.spherical = spherical;
	ws->job.labels = labels;
	ws->job.dist = dist;
	ws->job.ntasks = ntasks;
	atomic_store(&ws->job.next, 0);
	run(ws, assign_job);
	for (t = 0; t < ntasks; t++)
		sum += ws->part[t];
	return sum;
}

double
kmeans_assign_naive(const float *x, size_t n, int d, const float *c, int k,
                    int spherical, int32_t *labels, float *dist)
{
	double sum = 0;
	float best, v;
	size_t i;
	int j, bl;

	for (i = 0; i < n; i++, x += d) {
		best = INFINITY;
		bl = 0;
		for (j = 0; j < k; j++) {
			v = spherical ? -kmeans_dot(x, c + (size_t)j * d, d)
			              : kmeans_dist2(x, c + (size_t)j * d, d);
			if (v < best) {
				best = v;
				bl = j;
			}
		}
		labels[i] = bl;
		v = spherical ? -best : best;
		if (dist)
			dist[i] = v;
		sum += v;
	}
	return sum;
}

/* ------------------------------------------------------------------ */
/* accumulation                                                        */

static void
accumulate_job(struct kmeans_ws *ws, int tid)
{
	int lo = ws->krange[tid], hi = ws->krange[tid + 1], d = ws->d;
	const int32_t *lab = ws->job.clabels;
	const float *x = ws->job.x;
	double *sums = ws->job.sums;
	size_t i, n = ws->job.n;

	if (lo == hi)
		return;
	for (i = 0; i < n; i++)
		if (lab[i] >= lo && lab[i] < hi)
			ws->addrow(sums + (size_t)lab[i] * d, x + i * d, d);
}

void
kmeans_accumulate(struct kmeans_ws *ws, const float *x, size_t n,
                  const int32_t *labels, double *sums, int64_t *counts)
{
	int64_t acc, want;
	size_t i;
	int j, t;

	memset(ws->hist, 0, ws->k * sizeof(*ws->hist));
	for (i = 0; i < n; i++)
		ws->hist[labels[i]]++;
	/* thread t takes the centroids holding rows [t n/T, (t+1) n/T) */
	ws->krange[0] = 0;
	for (t = 1, j = 0, acc = 0; t < ws->nthreads; t++) {
		want = (int64_t)(n * (double)t / ws->nthreads);
		while (j < ws->k && acc + ws->hist[j] <= want)
			acc += ws->hist[j++];
		ws->krange[t] = j;
	}
	ws->krange[ws->nthreads] = ws->k;
	ws->job.x = x;
	ws->job.n = n;
	ws->job.clabels = labels;
	ws->job.sums = sums;
	run(ws, accumulate_job);
	for (j = 0; j < ws->k; j++)
		counts[j] += ws->hist[j];
}

/* ------------------------------------------------------------------ */
/* mini-batch                                                          */

void
kmeans_minibatch_apply(const double *sums, const int64_t *b, int k, int d,
                       float *c, int64_t *counts)
{
	double old;
	int j, kk;

	/* sklearn's _minibatch_update_dense: (c * counts + sum) / (counts + b) */
	for (j = 0; j < k; j++) {
		if (!b[j])
			continue;
		for (kk = 0; kk < d; kk++) {
			old = c[(size_t)j * d + kk];
			c[(size_t)j * d + kk] =
				(float)((old * (double)counts[j] +
				         sums[(size_t)j * d + kk]) /
				        (double)(counts[j] + b[j]));
		}
		counts[j] += b[j];
	}
}

/* ------------------------------------------------------------------ */
/* seeding                                                             */

static size_t
rand_index(struct rng *rng, size_t n)
{
	return n <= UINT32_MAX ? rng_below(rng, (uint32_t)n)
	                       : (size_t)(rng_u64(rng) % n);
}

/*
 * scikit-learn's greedy k-means++ (_kmeans_plusplus): the first centre
 * uniformly, then each step draws 2 + floor(ln K) candidates with
 * probability proportional to the squared distance to the nearest
 * centre so far and keeps the one that leaves the least potential.
 * Distances are ||x||^2 + ||y||^2 - 2 x.y (clamped at 0) through sgemm.
 */
int
kmeans_plusplus(const float *x, size_t n, int d, int k, struct rng *rng,
                float *c, char *msg, size_t msglen)
{
	int L = 2 + (int)log(k), l, best, step, kk, ld;
	float *xn = NULL, *closest = NULL, *cd = NULL, *cand = NULL, *ip = NULL;
	double *cum = NULL, *pot = NULL, r, total;
	size_t *cid = NULL, i, i0, nb, lo, hi, mid;
	void (*dots)(const float *, size_t, int, const float *, float *) =
		km_have_avx512() ? km_dots16_avx512
		: km_have_avx2() ? km_dots16_avx2
		                 : NULL;
	int ret = -1;

	if (k < 1 || d < 1 || n < (size_t)k) {
		snprintf(msg, msglen, "k-means++: %d centroids from %zu rows", k, n);
		return -1;
	}
	if (L > 16)
		L = 16; /* K over 1.2 million */
	xn = malloc(n * sizeof(*xn));
	closest = malloc(n * sizeof(*closest));
	cd = malloc(n * L * sizeof(*cd));
	cand = malloc((size_t)16 * d * sizeof(*cand));
	ip = malloc((size_t)PP_BLOCK * 16 * sizeof(*ip));
	cum = malloc(n * sizeof(*cum));
	pot = malloc(L * sizeof(*pot));
	cid = malloc(L * sizeof(*cid));
	if (!xn || !closest || !cd || !cand || !ip || !cum || !pot || !cid) {
		snprintf(msg, msglen, "k-means++: out of memory for %zu rows", n);
		goto out;
	}
	kmeans_norms(x, n, d, xn);

	cid[0] = rand_index(rng, n);
	for (step = 0; step < k; step++) {
		int nc = step ? L : 1;

		/*
		 * distances of every row to the nc candidates: cd (n, nc),
		 * the dot products by the SIMD kernel (candidates packed
		 * [d][16]) or by sgemm (candidates as rows)
		 */
		if (dots) {
			memset(cand, 0, (size_t)16 * d * sizeof(*cand));
			for (l = 0; l < nc; l++)
				for (kk = 0; kk < d; kk++)
					cand[kk * 16 + l] = x[cid[l] * d + kk];
			ld = 16;
		} else {
			for (l = 0; l < nc; l++)
				memcpy(cand + (size_t)l * d, x + cid[l] * d,
				       d * sizeof(*x));
			ld = nc;
		}
		for (l = 0; l < nc; l++)
			pot[l] = 0;
		for (i0 = 0; i0 < n; i0 += nb) {
			nb = n - i0 < PP_BLOCK ? n - i0 : PP_BLOCK;
			if (dots)
				dots(x + i0 * d, nb, d, cand, ip);
			else
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
				            (int)nb, nc, d, 1.0f, x + i0 * d, d, cand, d,
				            0.0f, ip, nc);
			for (i = 0; i < nb; i++)
				for (l = 0; l < nc; l++) {
					float v = xn[i0 + i] + xn[cid[l]] - 2 * ip[i * ld + l];

					if (!(v > 0))
						v = 0;
					if (step && closest[i0 + i] < v)
						v = closest[i0 + i];
					cd[(i0 + i) * nc + l] = v;
				}
		}
		/* the potentials in row order, in double */
		for (i = 0; i < n; i++)
			for (l = 0; l < nc; l++)
				pot[l] += cd[i * nc + l];
		for (best = 0, l = 1; l < nc; l++)
			if (pot[l] < pot[best])
				best = l;
		memcpy(c + (size_t)step * d, x + cid[best] * d, d * sizeof(*x));
		for (i = 0; i < n; i++)
			closest[i] = cd[i * nc + best];
		if (step + 1 == k)
			break;

		/* the next candidates: searchsorted(cumsum, u * pot, 'left') */
		total = 0;
		for (i = 0; i < n; i++)
			cum[i] = total += closest[i];
		for (l = 0; l < L; l++) {
			r = rng_uniform(rng) * pot[best];
			lo = 0;
			hi = n;
			while (lo < hi) {
				mid = lo + (hi - lo) / 2;
				if (cum[mid] < r)
					lo = mid + 1;
				else
					hi = mid;
			}
			cid[l] = lo < n ? lo : n - 1;
		}
	}
	ret = 0;
out:
	free(xn);
	free(closest);
	free(cd);
	free(cand);
	free(ip);
	free(cum);
	free(pot);
	free(cid);
	return ret;
}

int
kmeans_random_init(const float *x, size_t n, int d, int k, struct rng *rng,
                   float *c, char *msg, size_t msglen)
{
	size_t *idx, i, j, t;

	if (k < 1 || d < 1 || n < (size_t)k) {
		snprintf(msg, msglen, "random init: %d centroids from %zu rows", k,
		         n);
		return -1;
	}
	if (!(idx = malloc(n * sizeof(*idx)))) {
		snprintf(msg, msglen, "random init: out of memory for %zu rows", n);
		return -1;
	}
	for (i = 0; i < n; i++)
		idx[i] = i;
	/* the first k steps of a Fisher-Yates shuffle */
	for (i = 0; i < (size_t)k; i++) {
		j = i + rand_index(rng, n - i);
		t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
		memcpy(c + i * d, x + idx[i] * d, d * sizeof(*x));
	}
	free(idx);
	return 0;
}
