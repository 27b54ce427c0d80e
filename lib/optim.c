/* See LICENSE file for copyright and license details. */
/*
 * optim: AdamW, the learning-rate schedule and gradient clipping
 * (optim.h).
 */
#include <math.h>
#include <stdlib.h>

#include "optim.h"

#ifdef _OPENMP
#include <omp.h>
#define OMP_PARALLEL _Pragma("omp parallel")
#define NTHREADS omp_get_num_threads()
#define THREAD omp_get_thread_num()
#else
#define OMP_PARALLEL
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
	a->m = calloc(n ? n : 1, sizeof(float));
	a->v = calloc(n ? n : 1, sizeof(float));
	if (!a->m || !a->v) {
		adamw_free(a);
		return -1;
	}
	return 0;
}

void
adamw_free(struct adamw *a)
{
	free(a->m);
	free(a->v);
	a->m = a->v = NULL;
}

void
adamw_tick(struct adamw *a)
{
	a->t++;
}

/* elements [lo, hi) of one tensor; each element on its own, so the
 * split between threads does not change the result */
static void
update(struct adamw *a, float *p, const float *g, size_t off, size_t lo,
       size_t hi, float lr, float wd)
{
	float *m = a->m + off, *v = a->v + off;
	float b1 = a->b1, b2 = a->b2, eps = a->eps;
	float bc1 = 1.0f - powf(b1, (float)a->t), bc2 = 1.0f - powf(b2, (float)a->t);
	float step = lr / bc1, bc2s = sqrtf(bc2), decay = 1.0f - lr * wd;
	size_t i;

	for (i = lo; i < hi; i++) {
		float gi = g[i];

		m[i] = b1 * m[i] + (1.0f - b1) * gi;
		v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
		p[i] = p[i] * decay - step * m[i] / (sqrtf(v[i]) / bc2s + eps);
	}
}

void
adamw_update(struct adamw *a, float *p, const float *g, size_t off, size_t n,
             float lr, float wd)
{
	OMP_PARALLEL
	{
		int nt = NTHREADS, id = THREAD;

		update(a, p, g, off, n * id / nt, n * (id + 1) / nt, lr, wd);
	}
}

void
adamw_update_parts(struct adamw *a, float *p, const float *g,
                   const struct adamw_part *parts, int nparts, float lr)
{
	OMP_PARALLEL
	{
		int k, nt = NTHREADS, id = THREAD;

		for (k = 0; k < nparts; k++) {
			size_t n = parts[k].n, off = parts[k].off;

			update(a, p + off, g + off, off, n * id / nt, n * (id + 1) / nt,
			       lr, parts[k].wd);
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

double
grad_norm(const float *g, size_t n)
{
	double s = 0.0;
	size_t i;

	for (i = 0; i < n; i++)
		s += (double)g[i] * g[i];
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
		for (i = 0; i < n; i++)
			g[i] *= c;
	}
	return norm;
}
