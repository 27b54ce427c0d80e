/* See LICENSE file for copyright and license details. */
/*
 * optim: AdamW, the learning-rate schedule and gradient clipping
 * (optim.h).
 */
#include <math.h>
#include <string.h>

#include "layers.h"
#include "optim.h"
#include "simd.h"
#include "util.h"

#ifdef _OPENMP
#include <omp.h>
#define OMP_PARALLEL _Pragma("omp parallel")
#define OMP_FOR _Pragma("omp parallel for schedule(static)")
#define NTHREADS omp_get_num_threads()
#define THREAD omp_get_thread_num()
#else
#define OMP_PARALLEL
#define OMP_FOR
#define NTHREADS 1
#define THREAD 0
#endif

int
adamw_init(struct adamw *a, size_t n, float b1, float b2, float eps)
{
	a->n = n;
	a->b1 = b1;
	a->b2 = b2;
	a->eps = eps;
	a->t = 0;
	/* in huge pages where the kernel gives them: each update streams
	 * through both */
	a->m = bigmap(n * sizeof(float));
	a->v = bigmap(n * sizeof(float));
	if (!a->m || !a->v) {
		adamw_free(a);
		return -1;
	}
	/* written, not left to the mapping's zero pages: the first update
	 * would read those and then write them, a copy-on-write fault for
	 * each page that stops every other thread of the process to flush
	 * its TLB */
	memset(a->m, 0, n * sizeof(float));
	memset(a->v, 0, n * sizeof(float));
	return 0;
}

void
adamw_free(struct adamw *a)
{
	bigunmap(a->m, a->n * sizeof(float));
	bigunmap(a->v, a->n * sizeof(float));
	a->m = a->v = NULL;
}

void
adamw_tick(struct adamw *a)
{
	a->t++;
}

enum { NORM_LANES = 8, NORM_CHUNKS = 4096 };

/*
 * n elements, each on its own (so the split between threads does not
 * change the result), in vectors; and the sum of squares of g into s
 * as sumsq_k sums it, the first element in lane 0: element i into
 * s[i mod NORM_LANES], in order, in double.
 */
KERNEL static void
update_k(float *restrict p, float *restrict m, float *restrict v,
         const float *restrict g, size_t n, float b1, float b2, float eps,
         float step, float bc2s, float decay, double *restrict s)
{
	size_t i, n8 = n / NORM_LANES * NORM_LANES;
	int j;

	for (i = 0; i < n8; i += NORM_LANES)
		for (j = 0; j < NORM_LANES; j++) {
			float gi = g[i + j];

			s[j] += (double)gi * gi;
			m[i + j] = b1 * m[i + j] + (1.0f - b1) * gi;
			v[i + j] = b2 * v[i + j] + (1.0f - b2) * gi * gi;
			p[i + j] = p[i + j] * decay -
			           step * m[i + j] / (sqrtf(v[i + j]) / bc2s + eps);
		}
	for (i = n8; i < n; i++) {
		float gi = g[i];

		s[i - n8] += (double)gi * gi;
		m[i] = b1 * m[i] + (1.0f - b1) * gi;
		v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
		p[i] = p[i] * decay - step * m[i] / (sqrtf(v[i]) / bc2s + eps);
	}
}

/* the constants of update_k for step a->t */
struct consts {
	float step, bc2s;
};

static struct consts
consts(const struct adamw *a, float lr)
{
	struct consts k;

	k.step = lr / (1.0f - powf(a->b1, (float)a->t));
	k.bc2s = sqrtf(1.0f - powf(a->b2, (float)a->t));
	return k;
}

/* elements [lo, hi) of one tensor at offset off, their sum of squares
 * into sq from lane 0 */
static void
update(struct adamw *a, float *p, const float *g, size_t off, size_t lo,
       size_t hi, struct consts k, float lr, float wd, double *sq)
{
	if (hi > lo)
		update_k(p + lo, a->m + off + lo, a->v + off + lo, g + lo, hi - lo,
		         a->b1, a->b2, a->eps, k.step, k.bc2s, 1.0f - lr * wd, sq);
}

void
adamw_update_parts(struct adamw *a, float *p, const float *g,
                   const struct adamw_part *parts, int nparts, float lr)
{
	struct consts c = consts(a, lr);

	OMP_PARALLEL
	{
		int k, nt = NTHREADS, id = THREAD;
		double unused[NORM_LANES] = { 0 };

		for (k = 0; k < nparts; k++) {
			size_t n = parts[k].n, off = parts[k].off;

			update(a, p + off, g + off, off, n * id / nt, n * (id + 1) / nt,
			       c, lr, parts[k].wd, unused);
		}
	}
}

float
lr_schedule(long s, long total, long warmup, float peak, float lrmin)
{
	if (s < warmup)
		return peak * (float)s / (float)warmup;
	if (total <= warmup)
		return peak;
	return lrmin + (peak - lrmin) * 0.5f *
	       (1.0f + (float)cos(M_PI * (double)(s - warmup) / (total - warmup)));
}

/*
 * The sum of squares of g (n) in NORM_LANES double lanes (element i
 * into lane i mod NORM_LANES, in order), then the lanes in order: a
 * fixed order that vectorises.
 */
KERNEL static double
sumsq_k(const float *restrict g, size_t n)
{
	double s[NORM_LANES] = { 0 }, t = 0.0;
	size_t i, m = n / NORM_LANES * NORM_LANES;
	int j;

	for (i = 0; i < m; i += NORM_LANES)
		for (j = 0; j < NORM_LANES; j++)
			s[j] += (double)g[i + j] * g[i + j];
	for (i = m; i < n; i++)
		s[i - m] += (double)g[i] * g[i];
	for (j = 0; j < NORM_LANES; j++)
		t += s[j];
	return t;
}

/* the size of the chunks of an n-element norm: at most NORM_CHUNKS
 * chunks, of a size that depends only on n, summed in parallel and
 * then added in order, the same for any number of threads */
static size_t
norm_chunk(size_t n)
{
	return (n / NORM_CHUNKS + 16) & ~(size_t)15;
}

double
grad_norm(const float *g, size_t n)
{
	size_t cs = norm_chunk(n), nc = (n + cs - 1) / cs;
	double part[NORM_CHUNKS], s = 0.0;
	size_t c;

	OMP_PARALLEL
	{
		int nt = NTHREADS, id = THREAD;
		size_t i;

		for (i = nc * id / nt; i < nc * (id + 1) / nt; i++)
			part[i] = sumsq_k(g + i * cs, i + 1 < nc ? cs : n - i * cs);
	}
	for (c = 0; c < nc; c++)
		s += part[c];
	return sqrt(s);
}

/*
 * The bands of LINEAR_PACK_ROWS rows of part q (with a pack) that end
 * in its elements [lo, hi), just updated, and begin at or after first,
 * where this thread's updates in it began: packed.
 */
static void
pack_bands(const float *p, const struct adamw_part *q, size_t lo,
           size_t hi, size_t first)
{
	size_t band = (size_t)LINEAR_PACK_ROWS * q->cols, b0, end;

	for (b0 = lo / band * band; b0 < hi; b0 += band) {
		end = MIN(b0 + band, q->n);
		if (end > lo && end <= hi && b0 >= first)
			linear_pack_rows(q->pack, p + q->off, q->cols, q->rows,
			                 (int)(b0 / q->cols), (int)(end / q->cols));
	}
}

/* the band of a part with a pack that element x is inside of, not at
 * its start: packed (threads met there) */
static void
pack_across(const float *p, const struct adamw_part *parts, int nparts,
            size_t x)
{
	int k;

	for (k = 0; k < nparts; k++) {
		const struct adamw_part *q = &parts[k];
		size_t band = (size_t)LINEAR_PACK_ROWS * q->cols, r0;

		if (!q->pack || x <= q->off || x >= q->off + q->n ||
		    (x - q->off) % band == 0)
			continue;
		r0 = (x - q->off) / band * LINEAR_PACK_ROWS;
		linear_pack_rows(q->pack, p + q->off, q->cols, q->rows, (int)r0,
		                 (int)MIN(r0 + LINEAR_PACK_ROWS, (size_t)q->rows));
	}
}

/* the squares of g's elements [from, to) into the lanes of the chunk
 * that starts at c0, one by one, in order */
static void
squares(double *sq, const float *g, size_t c0, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		sq[(i - c0) % NORM_LANES] += (double)g[i] * g[i];
}

double
adamw_update_norm(struct adamw *a, float *p, const float *g, size_t n,
                  const struct adamw_part *parts, int nparts, float lr)
{
	size_t cs = norm_chunk(n), nc = (n + cs - 1) / cs;
	double part[NORM_CHUNKS], s = 0.0;
	struct consts cn = consts(a, lr);
	int nthr = 1, t;
	size_t c;

	OMP_PARALLEL
	{
		int nt = NTHREADS, id = THREAD, k = 0;
		size_t i, start = nc * id / nt * cs;

		if (id == 0)
			nthr = nt;
		for (i = nc * id / nt; i < nc * (id + 1) / nt; i++) {
			size_t c0 = i * cs, c1 = i + 1 < nc ? c0 + cs : n, at = c0;
			double sq[NORM_LANES] = { 0 }, sum = 0.0;
			double unused[NORM_LANES] = { 0 };
			int j;

			/* the chunk's sum of squares as sumsq_k's, its parts'
			 * elements summed as they are updated: the elements
			 * between parts, and those of a part before lane 0,
			 * one by one, in order */
			while (k < nparts && parts[k].off + parts[k].n <= c0)
				k++;
			for (; k < nparts && parts[k].off < c1; k++) {
				const struct adamw_part *q = &parts[k];
				size_t off = q->off, e = off + q->n;
				size_t lo = MAX(c0, off) - off, hi = MIN(c1, e) - off;
				size_t mid = MIN(hi, lo + (NORM_LANES - (off + lo - c0) %
				                           NORM_LANES) % NORM_LANES);

				squares(sq, g, c0, at, off + lo);
				update(a, p + off, g + off, off, lo, mid, cn, lr, q->wd,
				       unused);
				squares(sq, g, c0, off + lo, off + mid);
				update(a, p + off, g + off, off, mid, hi, cn, lr, q->wd, sq);
				at = off + hi;
				if (q->pack)
					pack_bands(p, q, lo, hi, MAX(start, off) - off);
				if (e > c1)
					break; /* it goes on in the next chunk */
			}
			squares(sq, g, c0, at, c1);
			for (j = 0; j < NORM_LANES; j++)
				sum += sq[j];
			part[i] = sum;
		}
	}
	/* the bands two threads updated, at their boundaries */
	for (t = 1; t < nthr; t++)
		pack_across(p, parts, nparts, nc * (size_t)t / (size_t)nthr * cs);
	for (c = 0; c < nc; c++)
		s += part[c];
	return sqrt(s);
}

double
grad_clip(float *g, size_t n, double maxnorm)
{
	double norm = grad_norm(g, n);
	float c;
	size_t i;

	if (maxnorm > 0.0 && norm > maxnorm) {
		c = (float)(maxnorm / (norm + 1e-6));
		OMP_FOR
		for (i = 0; i < n; i++)
			g[i] *= c;
	}
	return norm;
}
