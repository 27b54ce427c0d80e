/* See LICENSE file for copyright and license details. */
/*
 * probe: L-BFGS logistic regression and weighted k-NN (probe.h).
 */
#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* L-BFGS                                                              */

static double
dot(const double *a, const double *b, size_t n)
{
	double s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static double
amax(const double *a, size_t n)
{
	double m = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (fabs(a[i]) > m)
			m = fabs(a[i]);
	return m;
}

int
lbfgs_minimize(double *x, size_t n, lbfgs_fn fn, void *ctx, int m,
               double tol, int maxit, struct lbfgs_result *res)
{
	double *g, *d, *xn, *gn, *S, *Y, *rho, *alpha, f, fnew, step, gd;
	int k, head = 0, cnt = 0, j, idx;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (m < 1 || !(g = malloc(((4 + 2 * (size_t)m) * n + 2 * m) *
	                          sizeof(double))))
		return -1;
	d = g + n;
	xn = d + n;
	gn = xn + n;
	S = gn + n;
	Y = S + (size_t)m * n;
	rho = Y + (size_t)m * n;
	alpha = rho + m;

	f = fn(ctx, x, g);
	res->evals = 1;
	for (k = 0; k < maxit; k++) {
		if (amax(g, n) <= tol) {
			res->converged = 1;
			break;
		}
		/* two-loop recursion: d = -H g */
		for (i = 0; i < n; i++)
			d[i] = -g[i];
		for (j = 0; j < cnt; j++) {
			idx = (head - 1 - j + m) % m;
			alpha[idx] = rho[idx] * dot(S + (size_t)idx * n, d, n);
			for (i = 0; i < n; i++)
				d[i] -= alpha[idx] * Y[(size_t)idx * n + i];
		}
		if (cnt) {
			idx = (head - 1 + m) % m;
			double gam = dot(S + (size_t)idx * n, Y + (size_t)idx * n, n) /
			             dot(Y + (size_t)idx * n, Y + (size_t)idx * n, n);

			for (i = 0; i < n; i++)
				d[i] *= gam;
		}
		for (j = cnt - 1; j >= 0; j--) {
			double beta;

			idx = (head - 1 - j + m) % m;
			beta = rho[idx] * dot(Y + (size_t)idx * n, d, n);
			for (i = 0; i < n; i++)
				d[i] += (alpha[idx] - beta) * S[(size_t)idx * n + i];
		}
		gd = dot(g, d, n);
		if (!(gd < 0)) { /* not a descent direction: restart */
			cnt = 0;
			for (i = 0; i < n; i++)
				d[i] = -g[i];
			gd = dot(g, d, n);
		}
		/* backtracking line search, Armijo c1 = 1e-4 */
		step = cnt ? 1.0 : fmin(1.0, 1.0 / sqrt(-gd));
		for (;;) {
			for (i = 0; i < n; i++)
				xn[i] = x[i] + step * d[i];
			fnew = fn(ctx, xn, gn);
			res->evals++;
			if (isfinite(fnew) && fnew <= f + 1e-4 * step * gd)
				break;
			step *= 0.5;
			if (step < 1e-20)
				break;
		}
		if (step < 1e-20)
			break; /* no progress possible: not converged */
		/* the new pair */
		idx = head;
		for (i = 0; i < n; i++) {
			S[(size_t)idx * n + i] = xn[i] - x[i];
			Y[(size_t)idx * n + i] = gn[i] - g[i];
		}
		{
			double sy = dot(S + (size_t)idx * n, Y + (size_t)idx * n, n);

			if (sy > 1e-12 * dot(Y + (size_t)idx * n, Y + (size_t)idx * n,
			                     n) && sy > 0) {
				rho[idx] = 1.0 / sy;
				head = (head + 1) % m;
				if (cnt < m)
					cnt++;
			}
		}
		memcpy(x, xn, n * sizeof(double));
		memcpy(g, gn, n * sizeof(double));
		f = fnew;
	}
	if (!res->converged && amax(g, n) <= tol)
		res->converged = 1;
	res->iters = k;
	res->f = f;
	res->gmax = amax(g, n);
	free(g);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the linear probe                                                    */

void
probe_std_fit(const float *x, size_t n, int D, double *mean, double *sd)
{
	size_t i;
	int d;

	for (d = 0; d < D; d++)
		mean[d] = sd[d] = 0;
	for (i = 0; i < n; i++)
		for (d = 0; d < D; d++)
			mean[d] += x[i * D + d];
	for (d = 0; d < D; d++)
		mean[d] /= n ? (double)n : 1.0;
	for (i = 0; i < n; i++)
		for (d = 0; d < D; d++) {
			double e = x[i * D + d] - mean[d];

			sd[d] += e * e;
		}
	for (d = 0; d < D; d++)
		sd[d] = sqrt(sd[d] / (n ? (double)n : 1.0) + 1e-6);
}

void
probe_std_apply(const float *x, size_t n, int D, const double *mean,
                const double *sd, float *out)
{
	size_t i;
	int d;

	for (i = 0; i < n; i++)
		for (d = 0; d < D; d++)
			out[i * D + d] = (float)((x[i * D + d] - mean[d]) / sd[d]);
}

/*
 * The objective in one pass over x.  Each thread takes a fixed range of
 * rows (n t/nt to n (t+1)/nt) and walks it in blocks of LR_RB rows: the
 * block widened to doubles (xb, rows padded with zeros to Dp, a multiple
 * of 8), its logits z = xb W' + b, softmax and loss, z turned into
 * p - onehot(y), then G += z' xb.  The block is still in cache for the
 * second product, so x is read from memory once an evaluation (the two
 * dgemms read it twice, in double).  All arithmetic is double; the
 * threads' partial sums are added in thread order, so the result
 * depends on the thread count and the kernel (AVX2+FMA or portable),
 * never on timing.
 */
enum { LR_RB = 64 };

struct lrpart {
	struct lrctx *c;
	size_t lo, hi;      /* its rows */
	double *xb;         /* (LR_RB,Dp) */
	double *z;          /* (LR_RB,Kp) */
	double *G;          /* (Kp,Dp) sum of (p - onehot) x */
	double *gb;         /* (K) sum of (p - onehot) */
	double loss;        /* sum of -log p[y] */
};

/* D padded to Dp (a multiple of 8), K to Kp (of 4) with zeros */
struct lrctx {
	const float *x;     /* (n,D) */
	const int32_t *y;   /* (n) */
	size_t n;
	int D, Dp, K, Kp, nt, avx2;
	double lambda;
	double *Wp;         /* (Kp,Dp) the weights */
	double *bp;         /* (Kp) the biases */
	struct lrpart *part;
	double *mem;        /* everything above, one block */
};

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LR_AVX2 __attribute__((target("avx2,fma")))

static int
lr_have_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* the four lanes' sums of a, b, c, d as one vector */
LR_AVX2 static inline __m256d
hsum4(__m256d a, __m256d b, __m256d c, __m256d d)
{
	__m256d ab = _mm256_hadd_pd(a, b), cd = _mm256_hadd_pd(c, d);

	return _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20),
	                     _mm256_permute2f128_pd(ab, cd, 0x31));
}

/* xb (nb,Dp) = x (nb,D) as doubles; the padding columns stay 0 */
LR_AVX2 static void
widen_avx2(double *xb, const float *x, int nb, int D, int Dp)
{
	int r, d;

	for (r = 0; r < nb; r++) {
		const float *s = x + (size_t)r * D;
		double *o = xb + (size_t)r * Dp;

		for (d = 0; d + 4 <= D; d += 4)
			_mm256_storeu_pd(o + d, _mm256_cvtps_pd(_mm_loadu_ps(s + d)));
		for (; d < D; d++)
			o[d] = s[d];
	}
}

/*
 * z (nb,Kp) = xb (nb,Dp) W' + b, Kp a multiple of 4 (padding classes
 * are rows of zeros in W and b); a tile is two rows by four classes:
 * eight independent accumulators
 */
LR_AVX2 static void
logits_avx2(double *z, const double *xb, int nb, int Dp, const double *W,
            const double *b, int Kp)
{
	int r, k, d, r1;

	/* named accumulators: arrays would live on the stack at -O2 */
	for (r = 0; r < nb; r += 2) {
		const double *x0 = xb + (size_t)r * Dp, *x1;

		r1 = r + 1 < nb ? r + 1 : r;
		x1 = xb + (size_t)r1 * Dp;
		for (k = 0; k < Kp; k += 4) {
			const double *w0 = W + (size_t)k * Dp, *w1 = w0 + Dp;
			const double *w2 = w1 + Dp, *w3 = w2 + Dp;
			__m256d a00 = _mm256_setzero_pd(), a01 = a00, a02 = a00;
			__m256d a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
			__m256d v0, v1, w, bb;

			for (d = 0; d < Dp; d += 4) {
				v0 = _mm256_loadu_pd(x0 + d);
				v1 = _mm256_loadu_pd(x1 + d);
				w = _mm256_loadu_pd(w0 + d);
				a00 = _mm256_fmadd_pd(w, v0, a00);
				a10 = _mm256_fmadd_pd(w, v1, a10);
				w = _mm256_loadu_pd(w1 + d);
				a01 = _mm256_fmadd_pd(w, v0, a01);
				a11 = _mm256_fmadd_pd(w, v1, a11);
				w = _mm256_loadu_pd(w2 + d);
				a02 = _mm256_fmadd_pd(w, v0, a02);
				a12 = _mm256_fmadd_pd(w, v1, a12);
				w = _mm256_loadu_pd(w3 + d);
				a03 = _mm256_fmadd_pd(w, v0, a03);
				a13 = _mm256_fmadd_pd(w, v1, a13);
			}
			bb = _mm256_loadu_pd(b + k);
			/* row r1 first: it is row r itself when nb is odd */
			_mm256_storeu_pd(z + (size_t)r1 * Kp + k,
			                 _mm256_add_pd(hsum4(a10, a11, a12, a13), bb));
			_mm256_storeu_pd(z + (size_t)r * Kp + k,
			                 _mm256_add_pd(hsum4(a00, a01, a02, a03), bb));
		}
	}
}

/* G (Kp,Dp) += z' (Kp,nb) xb (nb,Dp); a tile is four classes by eight
 * columns */
LR_AVX2 static void
gradacc_avx2(double *G, const double *xb, int nb, int Dp, const double *z,
             int Kp)
{
	int r, k, d;

	for (k = 0; k < Kp; k += 4) {
		double *g0 = G + (size_t)k * Dp, *g1 = g0 + Dp, *g2 = g1 + Dp;
		double *g3 = g2 + Dp;

		for (d = 0; d < Dp; d += 8) {
			__m256d a00 = _mm256_loadu_pd(g0 + d);
			__m256d a01 = _mm256_loadu_pd(g0 + d + 4);
			__m256d a10 = _mm256_loadu_pd(g1 + d);
			__m256d a11 = _mm256_loadu_pd(g1 + d + 4);
			__m256d a20 = _mm256_loadu_pd(g2 + d);
			__m256d a21 = _mm256_loadu_pd(g2 + d + 4);
			__m256d a30 = _mm256_loadu_pd(g3 + d);
			__m256d a31 = _mm256_loadu_pd(g3 + d + 4), v0, v1, p;
			const double *x = xb + d, *zr = z + k;

			for (r = 0; r < nb; r++, x += Dp, zr += Kp) {
				v0 = _mm256_loadu_pd(x);
				v1 = _mm256_loadu_pd(x + 4);
				p = _mm256_broadcast_sd(zr);
				a00 = _mm256_fmadd_pd(p, v0, a00);
				a01 = _mm256_fmadd_pd(p, v1, a01);
				p = _mm256_broadcast_sd(zr + 1);
				a10 = _mm256_fmadd_pd(p, v0, a10);
				a11 = _mm256_fmadd_pd(p, v1, a11);
				p = _mm256_broadcast_sd(zr + 2);
				a20 = _mm256_fmadd_pd(p, v0, a20);
				a21 = _mm256_fmadd_pd(p, v1, a21);
				p = _mm256_broadcast_sd(zr + 3);
				a30 = _mm256_fmadd_pd(p, v0, a30);
				a31 = _mm256_fmadd_pd(p, v1, a31);
			}
			_mm256_storeu_pd(g0 + d, a00);
			_mm256_storeu_pd(g0 + d + 4, a01);
			_mm256_storeu_pd(g1 + d, a10);
			_mm256_storeu_pd(g1 + d + 4, a11);
			_mm256_storeu_pd(g2 + d, a20);
			_mm256_storeu_pd(g2 + d + 4, a21);
			_mm256_storeu_pd(g3 + d, a30);
			_mm256_storeu_pd(g3 + d + 4, a31);
		}
	}
}
#else
static int
lr_have_avx2(void)
{
	return 0;
}

static void
widen_avx2(double *xb, const float *x, int nb, int D, int Dp)
{
	(void)xb, (void)x, (void)nb, (void)D, (void)Dp;
}

static void
logits_avx2(double *z, const double *xb, int nb, int Dp, const double *W,
            const double *b, int K)
{
	(void)z, (void)xb, (void)nb, (void)Dp, (void)W, (void)b, (void)K;
}

static void
gradacc_avx2(double *G, const double *xb, int nb, int Dp, const double *z,
             int K)
{
	(void)G, (void)xb, (void)nb, (void)Dp, (void)z, (void)K;
}
#endif

/* the portable twins: z (nb,Kp) = xb W' + b; G (Kp,Dp) += z' xb */
static void
logits_c(double *z, const double *xb, int nb, int Dp, const double *W,
         const double *b, int K)
{
	int r, k, d;

	for (r = 0; r < nb; r++)
		for (k = 0; k < K; k++) {
			const double *x = xb + (size_t)r * Dp, *w = W + (size_t)k * Dp;
			double s0 = 0, s1 = 0, s2 = 0, s3 = 0;

			for (d = 0; d < Dp; d += 4) {
				s0 += w[d] * x[d];
				s1 += w[d + 1] * x[d + 1];
				s2 += w[d + 2] * x[d + 2];
				s3 += w[d + 3] * x[d + 3];
			}
			z[(size_t)r * K + k] = (s0 + s1) + (s2 + s3) + b[k];
		}
}

static void
gradacc_c(double *G, const double *xb, int nb, int Dp, const double *z,
          int K)
{
	int r, k, d;

	for (r = 0; r < nb; r++)
		for (k = 0; k < K; k++) {
			const double *x = xb + (size_t)r * Dp;
			double p = z[(size_t)r * K + k], *g = G + (size_t)k * Dp;

			for (d = 0; d < Dp; d++)
				g[d] += p * x[d];
		}
}

/* logits of rows i0 .. i0+nb-1 of x into z (nb,Kp), through xb */
static void
lr_block(const struct lrctx *c, double *xb, double *z, size_t i0, int nb)
{
	const float *x = c->x + i0 * c->D;
	int r, d;

	if (c->avx2) {
		widen_avx2(xb, x, nb, c->D, c->Dp);
		logits_avx2(z, xb, nb, c->Dp, c->Wp, c->bp, c->Kp);
		return;
	}
	for (r = 0; r < nb; r++)
		for (d = 0; d < c->D; d++)
			xb[(size_t)r * c->Dp + d] = x[(size_t)r * c->D + d];
	logits_c(z, xb, nb, c->Dp, c->Wp, c->bp, c->Kp);
}

static void *
lr_rows(void *arg)
{
	struct lrpart *p = arg;
	const struct lrctx *c = p->c;
	size_t i0, kd = (size_t)c->Kp * c->Dp;
	int K = c->K, Kp = c->Kp, nb, r, k;

	memset(p->G, 0, kd * sizeof(double));
	memset(p->gb, 0, K * sizeof(double));
	p->loss = 0;
	for (i0 = p->lo; i0 < p->hi; i0 += nb) {
		nb = (int)MIN((size_t)LR_RB, p->hi - i0);
		lr_block(c, p->xb, p->z, i0, nb);
		for (r = 0; r < nb; r++) {
			double *z = p->z + (size_t)r * Kp, mx = z[0], s = 0;
			int y = c->y[i0 + r];

			for (k = 1; k < K; k++)
				if (z[k] > mx)
					mx = z[k];
			p->loss += mx - z[y];
			for (k = 0; k < K; k++)
				s += z[k] = exp(z[k] - mx);
			p->loss += log(s);
			s = 1.0 / s;
			for (k = 0; k < K; k++) {
				z[k] *= s;
				p->gb[k] += z[k] - (k == y);
			}
			z[y] -= 1.0;
			for (; k < Kp; k++)
				z[k] = 0; /* the padding classes: no gradient */
		}
		(c->avx2 ? gradacc_avx2 : gradacc_c)(p->G, p->xb, nb, c->Dp, p->z,
		                                     Kp);
	}
	return NULL;
}

/* theta = W (K,D) then b (K) */
static double
lr_loss(void *ctx, const double *th, double *g)
{
	struct lrctx *c = ctx;
	const double *W = th;
	double *gW = g, *gb = g + (size_t)c->K * c->D, loss = 0, reg = 0;
	double rn = 1.0 / c->n;
	pthread_t th_[64];
	int started[64], k, d, t, nt = c->nt;

	for (k = 0; k < c->K; k++)
		memcpy(c->Wp + (size_t)k * c->Dp, W + (size_t)k * c->D,
		       c->D * sizeof(double));
	memcpy(c->bp, th + (size_t)c->K * c->D, c->K * sizeof(double));
	for (t = 1; t < nt; t++)
		started[t] = !pthread_create(&th_[t], NULL, lr_rows, &c->part[t]);
	lr_rows(&c->part[0]);
	for (t = 1; t < nt; t++) {
		if (started[t])
			pthread_join(th_[t], NULL);
		else
			lr_rows(&c->part[t]); /* the same sums, in this thread */
	}
	/* the threads' sums in order: part 0's, then part 1's added, ... */
	for (t = 1; t < nt; t++) {
		size_t i, kd = (size_t)c->Kp * c->Dp;

		for (i = 0; i < kd; i++)
			c->part[0].G[i] += c->part[t].G[i];
		for (k = 0; k < c->K; k++)
			c->part[0].gb[k] += c->part[t].gb[k];
		c->part[0].loss += c->part[t].loss;
	}
	for (k = 0; k < c->K; k++) {
		for (d = 0; d < c->D; d++) {
			double w = W[(size_t)k * c->D + d];

			reg += w * w;
			gW[(size_t)k * c->D + d] =
			    c->part[0].G[(size_t)k * c->Dp + d] * rn + c->lambda * w;
		}
		gb[k] = c->part[0].gb[k] * rn;
	}
	loss = c->part[0].loss * rn;
	return loss + 0.5 * c->lambda * reg;
}

/* the buffers of c for nt threads (at most 64); -1 if out of memory */
static int
lr_ctx_init(struct lrctx *c, const float *x, const int32_t *y, size_t n,
            int D, int K, double lambda, int nt)
{
	size_t Dp = ((size_t)D + 7) / 8 * 8, Kp = ((size_t)K + 3) / 4 * 4, per;
	size_t tot;
	double *m;
	int t;

	memset(c, 0, sizeof(*c));
	nt = nt < 1 ? 1 : nt > 64 ? 64 : nt;
	if ((size_t)nt > n / LR_RB + 1)
		nt = (int)(n / LR_RB + 1); /* a block at least for each */
	c->x = x, c->y = y, c->n = n, c->D = D, c->Dp = (int)Dp, c->K = K;
	c->Kp = (int)Kp, c->nt = nt, c->lambda = lambda;
	c->avx2 = lr_have_avx2();
	per = LR_RB * Dp + LR_RB * Kp + Kp * Dp + K;
	tot = Kp * Dp + Kp + nt * per;
	c->part = calloc(nt, sizeof(*c->part));
	c->mem = m = calloc(tot, sizeof(double)); /* the padding stays 0 */
	if (!c->part || !m) {
		free(c->part), free(c->mem);
		return -1;
	}
	c->Wp = m, m += Kp * Dp;
	c->bp = m, m += Kp;
	for (t = 0; t < nt; t++) {
		struct lrpart *p = &c->part[t];

		p->c = c;
		p->lo = n * t / nt;
		p->hi = n * (t + 1) / nt;
		p->xb = m, m += LR_RB * Dp;
		p->z = m, m += LR_RB * Kp;
		p->G = m, m += Kp * Dp;
		p->gb = m, m += K;
	}
	return 0;
}

static void
lr_ctx_free(struct lrctx *c)
{
	free(c->part);
	free(c->mem);
}

int
probe_lr_fit(struct probe_lr *m, const float *x, const int32_t *y, size_t n,
             int D, int K, double lambda, double tol, int maxit, int threads,
             char *msg, size_t len)
{
	struct lrctx c;
	double *th;
	size_t np = (size_t)K * D + K, i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < n; i++)
		if (y[i] < 0 || y[i] >= K) {
			snprintf(msg, len, "label %" PRId32 " of row %zu outside [0,%d)",
			         y[i], i, K);
			return -1;
		}
	if (n < 1 || D < 1 || K < 1) {
		snprintf(msg, len, "%zu rows of %d features, %d classes: nothing "
		         "to fit", n, D, K);
		return -1;
	}
	th = calloc(np, sizeof(double));
	if (!th || lr_ctx_init(&c, x, y, n, D, K, lambda, threads) < 0) {
		free(th);
		snprintf(msg, len, "out of memory for %d x %d weights", K, D);
		return -1;
	}
	if (lbfgs_minimize(th, np, lr_loss, &c, 10, tol, maxit, &m->res) < 0) {
		free(th);
		lr_ctx_free(&c);
		snprintf(msg, len, "out of memory for L-BFGS");
		return -1;
	}
	lr_ctx_free(&c);
	m->K = K;
	m->D = D;
	m->W = th;
	m->b = th + (size_t)K * D;
	return 0;
}

int
probe_lr_predict(const struct probe_lr *m, const float *x, size_t n,
                 int32_t *pred)
{
	struct lrctx c;
	size_t i0;
	int k, r, nb;

	if (lr_ctx_init(&c, x, NULL, n, m->D, m->K, 0, 1) < 0)
		return -1;
	for (k = 0; k < m->K; k++)
		memcpy(c.Wp + (size_t)k * c.Dp, m->W + (size_t)k * m->D,
		       m->D * sizeof(double));
	memcpy(c.bp, m->b, m->K * sizeof(double));
	for (i0 = 0; i0 < n; i0 += nb) {
		nb = (int)MIN((size_t)LR_RB, n - i0);
		lr_block(&c, c.part[0].xb, c.part[0].z, i0, nb);
		for (r = 0; r < nb; r++) {
			const double *z = c.part[0].z + (size_t)r * c.Kp;
			int best = 0;

			for (k = 1; k < m->K; k++)
				if (z[k] > z[best])
					best = k;
			pred[i0 + r] = best;
		}
	}
	lr_ctx_free(&c);
	return 0;
}

void
probe_lr_free(struct probe_lr *m)
{
	free(m->W);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* k-NN                                                                */

static void
l2rows(float *x, size_t n, int D)
{
	size_t i;
	int d;

	for (i = 0; i < n; i++) {
		double s = 0;

		for (d = 0; d < D; d++)
			s += (double)x[i * D + d] * x[i * D + d];
		if (s > 0) {
			float r = (float)(1.0 / sqrt(s));

			for (d = 0; d < D; d++)
				x[i * D + d] *= r;
		}
	}
}

int
probe_knn(const float *train, const int32_t *ytrain, size_t n,
          const float *test, size_t m, int D, int K, int k, double T,
          int32_t *pred)
{
	float *tr, *te, *sim;
	double *votes;
	int *top, nt, j, c;
	float *topv;
	size_t i, i0, blk = 256, ix;

	if (k > (int)MIN(n, (size_t)1 << 30))
		k = (int)n;
	tr = malloc(n * D * sizeof(float));
	te = malloc(blk * D * sizeof(float));
	sim = malloc(blk * n * sizeof(float));
	votes = malloc((size_t)K * sizeof(double));
	top = malloc((size_t)(k + 1) * sizeof(int));
	topv = malloc((size_t)(k + 1) * sizeof(float));
	if (!tr || !te || !sim || !votes || !top || !topv) {
		free(tr), free(te), free(sim), free(votes), free(top), free(topv);
		return -1;
	}
	memcpy(tr, train, n * D * sizeof(float));
	l2rows(tr, n, D);
	for (i0 = 0; i0 < m; i0 += blk) {
		size_t nb = MIN(blk, m - i0);

		memcpy(te, test + i0 * D, nb * D * sizeof(float));
		l2rows(te, nb, D);
		if (n)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb,
			            (int)n, D, 1.0f, te, D, tr, D, 0.0f, sim, (int)n);
		for (i = 0; i < nb; i++) {
			const float *s = sim + i * n;
			int best = 0;

			/* the k greatest, sorted, earlier index first on ties */
			nt = 0;
			for (ix = 0; ix < n; ix++) {
				if (nt == k && !(s[ix] > topv[k - 1]))
					continue;
				j = nt < k ? nt++ : k - 1;
				while (j > 0 && s[ix] > topv[j - 1]) {
					topv[j] = topv[j - 1];
					top[j] = top[j - 1];
					j--;
				}
				topv[j] = s[ix];
				top[j] = (int)ix;
			}
			for (c = 0; c < K; c++)
				votes[c] = 0;
			for (j = 0; j < nt; j++)
				votes[ytrain[top[j]]] += exp(topv[j] / T);
			for (c = 1; c < K; c++)
				if (votes[c] > votes[best])
					best = c;
			pred[i0 + i] = best;
		}
	}
	free(tr), free(te), free(sim), free(votes), free(top), free(topv);
	return 0;
}
