/* See LICENSE file for copyright and license details. */
/*
 * layers: forward and backward passes (layers.h).  The linear layers go
 * through cblas_sgemm; each has a naive twin that the unit test compares
 * against.  Element-wise loops use OpenMP when compiled with -fopenmp.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "layers.h"

#ifdef _OPENMP
#include <omp.h>
#define OMP_FOR _Pragma("omp parallel for schedule(static)")
#define OMP_PARALLEL _Pragma("omp parallel")
#define NTHREADS omp_get_num_threads()
#define THREAD omp_get_thread_num()
#else
#define OMP_FOR
#define OMP_PARALLEL
#define NTHREADS 1
#define THREAD 0
#endif

/*
 * With OpenMP, every product is cut into one slab of rows per thread,
 * each an sgemm of its own (OpenBLAS then runs with one thread, set by
 * the tool), so the cut depends only on the number of threads.
 */

/* ------------------------------------------------------------------ */
/* linear                                                              */

void
linear_forward(float *out, const float *inp, const float *w, const float *b,
               int N, int C, int OC)
{
	int i;

	if (N <= 0 || OC <= 0)
		return;
	if (b) {
		OMP_FOR
		for (i = 0; i < N; i++)
			memcpy(out + (size_t)i * OC, b, OC * sizeof(*out));
	}
	/* out (N,OC) = inp (N,C) w^T */
	OMP_PARALLEL
	{
		int nt = NTHREADS, id = THREAD;
		int r0 = (int)((long)N * id / nt), r1 = (int)((long)N * (id + 1) / nt);

		if (r1 > r0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, OC,
			            C, 1.0f, inp + (size_t)r0 * C, C, w, C,
			            b ? 1.0f : 0.0f, out + (size_t)r0 * OC, OC);
	}
}

void
linear_forward_naive(float *out, const float *inp, const float *w,
                     const float *b, int N, int C, int OC)
{
	int i, o, c;

	for (i = 0; i < N; i++)
		for (o = 0; o < OC; o++) {
			float s = b ? b[o] : 0.0f;

			for (c = 0; c < C; c++)
				s += inp[(size_t)i * C + c] * w[(size_t)o * C + c];
			out[(size_t)i * OC + o] = s;
		}
}

/* db (OC) += column sums of dout (N,OC), in row order */
static void
colsum(float *db, const float *dout, int N, int OC)
{
	enum { BLK = 64 };
	int cb;

	OMP_FOR
	for (cb = 0; cb < OC; cb += BLK) {
		int e = cb + BLK < OC ? cb + BLK : OC, i, o;

		for (i = 0; i < N; i++)
			for (o = cb; o < e; o++)
				db[o] += dout[(size_t)i * OC + o];
	}
}

void
linear_backward(float *dinp, float *dw, float *db, const float *dout,
                const float *inp, const float *w, int N, int C, int OC)
{
	if (N <= 0 || OC <= 0)
		return;
	OMP_PARALLEL
	{
		int nt = NTHREADS, id = THREAD;
		int r0 = (int)((long)N * id / nt), r1 = (int)((long)N * (id + 1) / nt);
		int o0 = (int)((long)OC * id / nt), o1 = (int)((long)OC * (id + 1) / nt);

		/* dinp (N,C) += dout (N,OC) w (OC,C), by rows of dinp */
		if (dinp && r1 > r0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, C,
			            OC, 1.0f, dout + (size_t)r0 * OC, OC, w, C, 1.0f,
			            dinp + (size_t)r0 * C, C);
		/* dw (OC,C) += dout^T inp (N,C), by rows of dw */
		if (dw && o1 > o0)
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, C, N,
			            1.0f, dout + o0, OC, inp, C, 1.0f,
			            dw + (size_t)o0 * C, C);
	}
	if (db)
		colsum(db, dout, N, OC);
}

void
linear_backward_naive(float *dinp, float *dw, float *db, const float *dout,
                      const float *inp, const float *w, int N, int C, int OC)
{
	int i, o, c;

	for (i = 0; i < N; i++)
		for (o = 0; o < OC; o++) {
			float d = dout[(size_t)i * OC + o];

			for (c = 0; c < C; c++) {
				if (dinp)
					dinp[(size_t)i * C + c] += d * w[(size_t)o * C + c];
				if (dw)
					dw[(size_t)o * C + c] += d * inp[(size_t)i * C + c];
			}
			if (db)
				db[o] += d;
		}
}

/* ------------------------------------------------------------------ */
/* layernorm                                                           */

void
layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                  const float *w, const float *b, int N, int C)
{
	int i;

	OMP_FOR
	for (i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * C;
		float *y = out + (size_t)i * C, m = 0.0f, v = 0.0f, s;
		int c;

		for (c = 0; c < C; c++)
			m += x[c];
		m /= C;
		for (c = 0; c < C; c++)
			v += (x[c] - m) * (x[c] - m);
		v /= C;
		s = 1.0f / sqrtf(v + 1e-5f);
		for (c = 0; c < C; c++)
			y[c] = (x[c] - m) * s * w[c] + b[c];
		mean[i] = m;
		rstd[i] = s;
	}
}

void
layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                   const float *inp, const float *w, const float *mean,
                   const float *rstd, int N, int C)
{
	enum { BLK = 64 };
	int i, cb;

	if (dinp) {
		OMP_FOR
		for (i = 0; i < N; i++) {
			const float *x = inp + (size_t)i * C, *dy = dout + (size_t)i * C;
			float *dx = dinp + (size_t)i * C, m = mean[i], s = rstd[i];
			float dn_mean = 0.0f, dn_norm = 0.0f;
			int c;

			for (c = 0; c < C; c++) {
				float n = (x[c] - m) * s, dn = w[c] * dy[c];

				dn_mean += dn;
				dn_norm += dn * n;
			}
			dn_mean /= C;
			dn_norm /= C;
			for (c = 0; c < C; c++) {
				float n = (x[c] - m) * s, dn = w[c] * dy[c];

				dx[c] += (dn - dn_mean - n * dn_norm) * s;
			}
		}
	}
	if (!dw && !db)
		return;
	OMP_FOR
	for (cb = 0; cb < C; cb += BLK) {
		int e = cb + BLK < C ? cb + BLK : C, r, c;

		for (r = 0; r < N; r++) {
			const float *x = inp + (size_t)r * C, *dy = dout + (size_t)r * C;

			for (c = cb; c < e; c++) {
				if (dw)
					dw[c] += dy[c] * (x[c] - mean[r]) * rstd[r];
				if (db)
					db[c] += dy[c];
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* attention                                                           */

/*
 * Per (sample, head), the keys and values are first copied transposed,
 * (hs, T), so that every inner loop runs over t2 without a reduction and
 * vectorises.
 */
void
attention_forward(float *out, float *att, const float *qkv, int B, int T,
                  int C, int NH)
{
	int hs = C / NH, bh;
	float scale = 1.0f / sqrtf(hs);

	OMP_FOR
	for (bh = 0; bh < B * NH; bh++) {
		int b = bh / NH, h = bh % NH, t, t2, i;
		const float *base = qkv + (size_t)b * T * 3 * C + h * hs;
		float *a = att + (size_t)bh * T * T, kt[hs * T];

		for (t2 = 0; t2 < T; t2++)
			for (i = 0; i < hs; i++)
				kt[i * T + t2] = base[(size_t)t2 * 3 * C + C + i];
		for (t = 0; t < T; t++) {
			const float *q = base + (size_t)t * 3 * C;
			float *at = a + (size_t)t * T, *o, mx = -INFINITY, sum = 0.0f;

			for (t2 = 0; t2 < T; t2++)
				at[t2] = 0.0f;
			for (i = 0; i < hs; i++) {
				float qi = q[i] * scale;

				for (t2 = 0; t2 < T; t2++)
					at[t2] += qi * kt[i * T + t2];
			}
			for (t2 = 0; t2 < T; t2++)
				if (at[t2] > mx)
					mx = at[t2];
			for (t2 = 0; t2 < T; t2++) {
				at[t2] = expf(at[t2] - mx);
				sum += at[t2];
			}
			sum = 1.0f / sum;
			for (t2 = 0; t2 < T; t2++)
				at[t2] *= sum;
			o = out + ((size_t)b * T + t) * C + h * hs;
			for (i = 0; i < hs; i++)
				o[i] = 0.0f;
			for (t2 = 0; t2 < T; t2++) {
				const float *v = base + (size_t)t2 * 3 * C + 2 * C;
				float p = at[t2];

				for (i = 0; i < hs; i++)
					o[i] += p * v[i];
			}
		}
	}
}

void
attention_backward(float *dqkv, float *datt, const float *dout,
                   const float *qkv, const float *att, int B, int T, int C,
                   int NH)
{
	int hs = C / NH, bh;
	float scale = 1.0f / sqrtf(hs);

	OMP_FOR
	for (bh = 0; bh < B * NH; bh++) {
		int b = bh / NH, h = bh % NH, t, t2, i;
		const float *base = qkv + (size_t)b * T * 3 * C + h * hs;
		float *dbase = dqkv + (size_t)b * T * 3 * C + h * hs;
		const float *a = att + (size_t)bh * T * T;
		float *da = datt + (size_t)bh * T * T, vt[hs * T];

		for (t2 = 0; t2 < T; t2++)
			for (i = 0; i < hs; i++)
				vt[i * T + t2] = base[(size_t)t2 * 3 * C + 2 * C + i];
		for (t = 0; t < T; t++) {
			const float *at = a + (size_t)t * T;
			const float *dy = dout + ((size_t)b * T + t) * C + h * hs;
			const float *q = base + (size_t)t * 3 * C;
			float *dq = dbase + (size_t)t * 3 * C, *dat = da + (size_t)t * T;
			float dot = 0.0f;

			/* through out = att v: datt = dy v^T, dv += att^T dy */
			for (t2 = 0; t2 < T; t2++)
				dat[t2] = 0.0f;
			for (i = 0; i < hs; i++) {
				float d = dy[i];

				for (t2 = 0; t2 < T; t2++)
					dat[t2] += d * vt[i * T + t2];
			}
			for (t2 = 0; t2 < T; t2++) {
				float *dv = dbase + (size_t)t2 * 3 * C + 2 * C, p = at[t2];

				for (i = 0; i < hs; i++)
					dv[i] += p * dy[i];
				dot += dat[t2] * p;
			}
			/* through the softmax, then preatt = q k^T scale */
			for (t2 = 0; t2 < T; t2++) {
				const float *k = base + (size_t)t2 * 3 * C + C;
				float *dk = dbase + (size_t)t2 * 3 * C + C;
				float dp = at[t2] * (dat[t2] - dot) * scale;

				for (i = 0; i < hs; i++) {
					dq[i] += dp * k[i];
					dk[i] += dp * q[i];
				}
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* element-wise                                                        */

#define INV_SQRT2   0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

void
gelu_forward(float *out, const float *inp, size_t N)
{
	long i, n = N;

	OMP_FOR
	for (i = 0; i < n; i++) {
		float x = inp[i];

		out[i] = 0.5f * x * (1.0f + erff(x * INV_SQRT2));
	}
}

void
gelu_backward(float *dinp, const float *inp, const float *out,
              const float *dout, size_t N)
{
	long i, n = N;

	OMP_FOR
	for (i = 0; i < n; i++) {
		float x = inp[i], cdf, pdf;

		/* Phi(x) = out / x saves an erff, except near 0 */
		if (fabsf(x) > 1e-2f)
			cdf = out[i] / x;
		else
			cdf = 0.5f * (1.0f + erff(x * INV_SQRT2));
		pdf = INV_SQRT2PI * expf(-0.5f * x * x);
		dinp[i] += (cdf + x * pdf) * dout[i];
	}
}

void
residual_forward(float *out, const float *a, const float *b, size_t N)
{
	size_t i;

	for (i = 0; i < N; i++)
		out[i] = a[i] + b[i];
}

void
residual_backward(float *da, float *db, const float *dout, size_t N)
{
	size_t i;

	for (i = 0; i < N; i++) {
		if (da)
			da[i] += dout[i];
		if (db)
			db[i] += dout[i];
	}
}

/* ------------------------------------------------------------------ */
/* losses                                                              */

/* the normalised target row t (P) into tn, as MAE's norm_pix_loss */
static void
normrow(float *tn, const float *t, int P)
{
	double m = 0.0, v = 0.0, s;
	int p;

	for (p = 0; p < P; p++)
		m += t[p];
	m /= P;
	for (p = 0; p < P; p++)
		v += (t[p] - m) * (t[p] - m);
	v = P > 1 ? v / (P - 1) : 0.0;
	s = 1.0 / sqrt(v + 1e-6);
	for (p = 0; p < P; p++)
		tn[p] = (float)((t[p] - m) * s);
}

static double
masked_count(const float *mask, int N)
{
	double n = 0.0;
	int i;

	for (i = 0; i < N; i++)
		n += mask[i];
	return n;
}

float
mse_masked_forward(const float *pred, const float *target, const float *mask,
                   int N, int P, int normpix)
{
	double loss = 0.0, n = masked_count(mask, N);
	float tn[P > 0 ? P : 1];
	int i, p;

	if (n == 0.0)
		return 0.0f;
	for (i = 0; i < N; i++) {
		const float *x = pred + (size_t)i * P, *t = target + (size_t)i * P;
		double s = 0.0;

		if (mask[i] == 0.0f)
			continue;
		if (normpix) {
			normrow(tn, t, P);
			t = tn;
		}
		for (p = 0; p < P; p++)
			s += (double)(x[p] - t[p]) * (x[p] - t[p]);
		loss += mask[i] * s / P;
	}
	return (float)(loss / n);
}

void
mse_masked_backward(float *dpred, const float *pred, const float *target,
                    const float *mask, int N, int P, int normpix, float dloss)
{
	double n = masked_count(mask, N);
	float g;
	int i;

	if (n == 0.0)
		return;
	g = (float)(2.0 * dloss / (n * P));
	OMP_FOR
	for (i = 0; i < N; i++) {
		const float *x = pred + (size_t)i * P, *t = target + (size_t)i * P;
		float *dx = dpred + (size_t)i * P, tn[P > 0 ? P : 1], gi;
		int p;

		if (mask[i] == 0.0f)
			continue;
		if (normpix) {
			normrow(tn, t, P);
			t = tn;
		}
		gi = g * mask[i];
		for (p = 0; p < P; p++)
			dx[p] += gi * (x[p] - t[p]);
	}
}

float
xent_masked_forward(float *probs, const float *logits, const int32_t *targets,
                    const float *mask, int N, int K, float eps)
{
	double loss = 0.0, n = masked_count(mask, N);
	int i;

	if (n == 0.0)
		return 0.0f;
	for (i = 0; i < N; i++) {
		const float *z = logits + (size_t)i * K;
		float *pr = probs + (size_t)i * K, mx = -INFINITY;
		double sum = 0.0, lse, sz = 0.0;
		int k;

		if (mask[i] == 0.0f)
			continue;
		for (k = 0; k < K; k++)
			if (z[k] > mx)
				mx = z[k];
		for (k = 0; k < K; k++) {
			pr[k] = expf(z[k] - mx);
			sum += pr[k];
			sz += z[k];
		}
		for (k = 0; k < K; k++)
			pr[k] = (float)(pr[k] / sum);
		lse = mx + log(sum);
		loss += mask[i] * ((1.0 - eps) * (lse - z[targets[i]]) +
		                   eps * (lse - sz / K));
	}
	return (float)(loss / n);
}

void
xent_masked_backward(float *dlogits, const float *probs,
                     const int32_t *targets, const float *mask, int N, int K,
                     float eps, float dloss)
{
	double n = masked_count(mask, N);
	float g;
	int i;

	if (n == 0.0)
		return;
	g = (float)(dloss / n);
	OMP_FOR
	for (i = 0; i < N; i++) {
		const float *pr = probs + (size_t)i * K;
		float *dz = dlogits + (size_t)i * K, gi = g * mask[i];
		int k;

		if (mask[i] == 0.0f)
			continue;
		for (k = 0; k < K; k++)
			dz[k] += gi * (pr[k] - eps / K);
		dz[targets[i]] -= gi * (1.0f - eps);
	}
}
