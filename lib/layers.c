/* See LICENSE file for copyright and license details. */
/*
 * layers: forward and backward passes (layers.h).  The linear layers go
 * through cblas_sgemm.  Element-wise loops use OpenMP when compiled with
 * -fopenmp.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "layers.h"
#include "simd.h"

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
 * layers_threads), so the cut depends only on the number of threads.
 */

void
layers_threads(int n)
{
#ifdef _OPENMP
	/* two OpenMP threads each asking two OpenBLAS threads for their
	 * slab queue on the one idle BLAS thread and spin: keep it at 1 */
	openblas_set_num_threads(1);
	omp_set_num_threads(n);
#else
	openblas_set_num_threads(n);
#endif
}

/* ------------------------------------------------------------------ */
/* vector kernels                                                      */

/* the inner loops are KERNELs (simd.h), rows padded to VEC floats */

/*
 * Rows of a product are cut between threads at multiples of LAYERS_ROWS
 * (layers.h): OpenBLAS's Haswell sgemm rounds a row differently when an
 * M block starts elsewhere, so a cut anywhere else would make the
 * results depend on the number of threads.
 */
long
layers_cut(long n, int i, int nt)
{
	if (i >= nt)
		return n;
	return n * i / nt / LAYERS_ROWS * LAYERS_ROWS;
}

#define ROWSLAB(n, lo, hi) \
	long lo = layers_cut((n), THREAD, NTHREADS), \
	     hi = layers_cut((n), THREAD + 1, NTHREADS)

/* the part [lo, hi) of n items that this thread of the team takes */
#define SLAB(n, lo, hi) \
	long lo = (long)(n) * THREAD / NTHREADS, \
	     hi = (long)(n) * (THREAD + 1) / NTHREADS

enum { VEC = 8 };  /* row padding, in floats */

/*
 * x with |x| clamped to lim, in integer operations on the bits: a float
 * compare in a loop keeps GCC from vectorising it unless
 * -fno-trapping-math.  A NaN becomes +-lim.
 */
INLINE float
clampabs(float x, float lim)
{
	uint32_t u, l, a;

	memcpy(&u, &x, sizeof(u));
	memcpy(&l, &lim, sizeof(l));
	a = u & 0x7fffffffu;
	a = a < l ? a : l;
	u = (u & 0x80000000u) | a;
	memcpy(&x, &u, sizeof(x));
	return x;
}

/*
 * exp(x) in float without libm, so that loops of it vectorise: x =
 * n ln2 + r with |r| <= ln2/2 (ln2 in two parts, as Cephes expf), the
 * degree-6 polynomial of Cephes for exp(r), then 2^n put in the exponent
 * bits.  n comes from the 1.5 * 2^23 rounding trick, so no float to int
 * conversion is needed.  Within 2 ulp of expf; inputs are clamped to
 * [-87, 87], where exp is a normal float (the attention and GELU
 * callers only pass x <= 0).
 */
INLINE float
exp_fast(float x)
{
	const float magic = 12582912.0f; /* 1.5 * 2^23 */
	float t, n, r, p, sc;
	uint32_t ti, e;

	x = clampabs(x, 87.0f);
	t = x * 1.44269504088896341f + magic;
	n = t - magic;
	memcpy(&ti, &t, sizeof(ti));
	e = (ti - 0x4b400000u + 127u) << 23; /* (n + 127) << 23 */
	memcpy(&sc, &e, sizeof(sc));
	r = x - n * 0.693359375f;
	r = r - n * -2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	return p * sc;
}

/*
 * erf(x) in float: the rational approximation x P(x^2) / Q(x^2) on
 * [-4, 4] (outside, erf is +-1 in float) that Eigen and TensorFlow use
 * for float erf; within a few ulp of erff, and no branch.
 */
INLINE float
erf_fast(float x)
{
	float x2, p, q;

	x = clampabs(x, 4.0f);
	x2 = x * x;
	p = -2.72614225801306e-10f;
	p = p * x2 + 2.77068142495902e-08f;
	p = p * x2 + -2.10102402082508e-06f;
	p = p * x2 + -5.69250639462346e-05f;
	p = p * x2 + -7.34990630326855e-04f;
	p = p * x2 + -2.95459980854025e-03f;
	p = p * x2 + -1.60960333262415e-02f;
	q = -1.45660718464996e-05f;
	q = q * x2 + -2.13374055278905e-04f;
	q = q * x2 + -1.68282697438203e-03f;
	q = q * x2 + -7.37332916720468e-03f;
	q = q * x2 + -1.42647390514189e-02f;
	return x * p / q;
}

/*
 * The sum of x (n) in VEC lanes, then the lanes in order, then the
 * tail: a fixed order, that the vectoriser keeps (it may not reorder a
 * plain running sum).  sum_lanes2 is the same for x y.
 */
INLINE float
sum_lanes(const float *x, int n)
{
	float s[VEC] = { 0 }, t = 0.0f;
	int i, j, m = n / VEC * VEC;

	for (i = 0; i < m; i += VEC)
		for (j = 0; j < VEC; j++)
			s[j] += x[i + j];
	for (j = 0; j < VEC; j++)
		t += s[j];
	for (i = m; i < n; i++)
		t += x[i];
	return t;
}

INLINE float
sum_lanes2(const float *x, const float *y, int n)
{
	float s[VEC] = { 0 }, t = 0.0f;
	int i, j, m = n / VEC * VEC;

	for (i = 0; i < m; i += VEC)
		for (j = 0; j < VEC; j++)
			s[j] += x[i + j] * y[i + j];
	for (j = 0; j < VEC; j++)
		t += s[j];
	for (i = m; i < n; i++)
		t += x[i] * y[i];
	return t;
}

/* ------------------------------------------------------------------ */
/* linear                                                              */

void
linear_forward_slab(float *out, const float *inp, const float *w,
                    const float *b, const float *res, long r0, long r1, int C,
                    int OC)
{
	float *o = out + (size_t)r0 * OC;
	long n = r1 - r0, i;
	int j;

	if (n <= 0 || OC <= 0)
		return;
	for (i = 0; i < n && (b || res); i++) {
		float *oi = o + (size_t)i * OC;
		const float *ri = res ? res + (size_t)(r0 + i) * OC : NULL;

		if (b && ri)
			for (j = 0; j < OC; j++)
				oi[j] = ri[j] + b[j];
		else
			memcpy(oi, ri ? ri : b, OC * sizeof(*oi));
	}
	/* out (n,OC) += inp (n,C) w^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, OC, C, 1.0f,
	            inp + (size_t)r0 * C, C, w, C, b || res ? 1.0f : 0.0f, o, OC);
}

void
linear_forward(float *out, const float *inp, const float *w, const float *b,
               int N, int C, int OC)
{
	/* by slabs of rows */
	OMP_PARALLEL
	{
		ROWSLAB(N, r0, r1);

		linear_forward_slab(out, inp, w, b, NULL, r0, r1, C, OC);
	}
}

/* db (o1 - o0) += the column sums of dout (N, stride OC), in row order */
KERNEL static void
colsum(float *restrict db, const float *restrict dout, long N, int OC,
       int n)
{
	long i;
	int o;

	for (i = 0; i < N; i++)
		for (o = 0; o < n; o++)
			db[o] += dout[i * OC + o];
}

void
linear_backward(float *dinp, float *dw, float *db, const float *dout,
                const float *inp, const float *w, int N, int C, int OC)
{
	if (N <= 0 || OC <= 0)
		return;
	OMP_PARALLEL
	{
		ROWSLAB(N, r0, r1);
		SLAB(OC, o0, o1);

		/* dinp (N,C) = dout (N,OC) w (OC,C), by rows */
		if (dinp && r1 > r0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, C,
			            OC, 1.0f, dout + (size_t)r0 * OC, OC, w, C, 0.0f,
			            dinp + (size_t)r0 * C, C);
		/* dw (OC,C) += dout^T inp (N,C), db += column sums of dout,
		 * by rows of dw: no sum is cut between threads */
		if (dw && o1 > o0)
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, C, N,
			            1.0f, dout + o0, OC, inp, C, 1.0f,
			            dw + (size_t)o0 * C, C);
		if (db && o1 > o0)
			colsum(db + o0, dout + o0, N, OC, o1 - o0);
	}
}


/* ------------------------------------------------------------------ */
/* layernorm                                                           */

/* rows [0, n) of the forward pass */
KERNEL static void
ln_fwd_k(float *restrict out, float *restrict mean, float *restrict rstd,
         const float *restrict inp, const float *restrict w,
         const float *restrict b, long n, int C, float eps,
         float *restrict tmp)
{
	long i;
	int c;

	for (i = 0; i < n; i++) {
		const float *x = inp + (size_t)i * C;
		float *y = out + (size_t)i * C, m, v, s;

		m = sum_lanes(x, C) / C;
		for (c = 0; c < C; c++)
			tmp[c] = x[c] - m;
		v = sum_lanes2(tmp, tmp, C) / C;
		s = 1.0f / sqrtf(v + eps);
		for (c = 0; c < C; c++)
			y[c] = tmp[c] * s * w[c] + b[c];
		mean[i] = m;
		rstd[i] = s;
	}
}

void
layernorm_forward_slab(float *out, float *mean, float *rstd,
                       const float *inp, const float *w, const float *b,
                       long r0, long r1, int C, float eps)
{
	float tmp[C];

	if (r1 > r0)
		ln_fwd_k(out + (size_t)r0 * C, mean + r0, rstd + r0,
		         inp + (size_t)r0 * C, w, b, r1 - r0, C, eps, tmp);
}

void
layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                  const float *w, const float *b, int N, int C, float eps)
{
	OMP_PARALLEL
	{
		SLAB(N, r0, r1);

		layernorm_forward_slab(out, mean, rstd, inp, w, b, r0, r1, C, eps);
	}
}

/* rows [0, n) of dinp: = dres + the gradient, or = it (dres NULL); tmp
 * (2C) scratch */
KERNEL static void
ln_bwd_k(float *restrict dinp, const float *restrict dres,
         const float *restrict dout, const float *restrict inp,
         const float *restrict w, const float *restrict mean,
         const float *restrict rstd, long n, int C, float *restrict tmp)
{
	float *nrm = tmp, *dn = tmp + C;
	long i;
	int c;

	for (i = 0; i < n; i++) {
		const float *x = inp + (size_t)i * C, *dy = dout + (size_t)i * C;
		float *dx = dinp + (size_t)i * C, m = mean[i], s = rstd[i];
		float dn_mean, dn_norm;

		for (c = 0; c < C; c++) {
			nrm[c] = (x[c] - m) * s;
			dn[c] = w[c] * dy[c];
		}
		dn_mean = sum_lanes(dn, C) / C;
		dn_norm = sum_lanes2(dn, nrm, C) / C;
		if (dres) {
			const float *dr = dres + (size_t)i * C;

			for (c = 0; c < C; c++)
				dx[c] = dr[c] + (dn[c] - dn_mean - nrm[c] * dn_norm) * s;
		} else {
			for (c = 0; c < C; c++)
				dx[c] = (dn[c] - dn_mean - nrm[c] * dn_norm) * s;
		}
	}
}

/* columns [0, n) of dw and db, over all N rows in order */
KERNEL static void
ln_bwd_w_k(float *restrict dw, float *restrict db, const float *restrict dout,
           const float *restrict inp, const float *restrict mean,
           const float *restrict rstd, long N, int C, int n)
{
	long r;
	int c;

	for (r = 0; r < N; r++) {
		const float *x = inp + (size_t)r * C, *dy = dout + (size_t)r * C;
		float m = mean[r], s = rstd[r];

		if (dw)
			for (c = 0; c < n; c++)
				dw[c] += dy[c] * ((x[c] - m) * s);
		if (db)
			for (c = 0; c < n; c++)
				db[c] += dy[c];
	}
}

void
layernorm_backward(float *dinp, const float *dres, float *dw, float *db,
                   const float *dout, const float *inp, const float *w,
                   const float *mean, const float *rstd, int N, int C)
{
	OMP_PARALLEL
	{
		float tmp[2 * C];
		SLAB(N, r0, r1);
		SLAB(C, c0, c1);

		if (dinp)
			ln_bwd_k(dinp + (size_t)r0 * C, dres ? dres + (size_t)r0 * C :
			         NULL, dout + (size_t)r0 * C, inp + (size_t)r0 * C, w,
			         mean + r0, rstd + r0, r1 - r0, C, tmp);
		/* by columns: no sum is cut between threads */
		if ((dw || db) && c1 > c0)
			ln_bwd_w_k(dw ? dw + c0 : NULL, db ? db + c0 : NULL, dout + c0,
			           inp + c0, mean, rstd, N, C, c1 - c0);
	}
}

/* ------------------------------------------------------------------ */
/* attention                                                           */

/*
 * rows[c] = sum over i < hs of x[i] m[i][c] for c < Tp (a multiple of
 * VEC): m (hs, Tp).  One VEC-wide block of the result at a time, which
 * the compiler keeps in a register over the whole sum.
 */
INLINE void
rowvec(float *restrict row, const float *restrict x, const float *restrict m,
       int hs, int Tp)
{
	int c, i, j;

	for (c = 0; c < Tp; c += VEC) {
		float s[VEC] = { 0 };

		for (i = 0; i < hs; i++) {
			const float *mi = m + (size_t)i * Tp + c;
			float xi = x[i];

			for (j = 0; j < VEC; j++)
				s[j] += xi * mi[j];
		}
		memcpy(row + c, s, sizeof(s));
	}
}

/*
 * One (sample, head) of the forward pass.  base points at its q in the
 * qkv rows (stride ld = 3C; k at +C, v at +2C); o at its slice of out
 * (stride C); a (T,T) its probabilities.  kt (hs,Tp) and row (Tp) are
 * scratch, Tp = T rounded up to VEC: every loop over keys runs over the
 * padded Tp, with zeros in the padding, so it vectorises whole.
 */
INLINE void
attn_fwd_body(float *restrict o, float *restrict a,
              const float *restrict base, float *restrict kt,
              float *restrict row, int T, int Tp, int hs, int ld, int C,
              float scale)
{
	float qs[hs], acc[hs];
	int t, t2, i;

	for (i = 0; i < hs; i++) {
		for (t2 = 0; t2 < T; t2++)
			kt[i * Tp + t2] = base[(size_t)t2 * ld + C + i];
		for (; t2 < Tp; t2++)
			kt[i * Tp + t2] = 0.0f;
	}
	for (t = 0; t < T; t++) {
		const float *q = base + (size_t)t * ld;
		float mx, sum;

		/* preatt = q k^T scale */
		for (i = 0; i < hs; i++)
			qs[i] = q[i] * scale;
		rowvec(row, qs, kt, hs, Tp);
		mx = row[0];
		for (t2 = 1; t2 < T; t2++)
			mx = row[t2] > mx ? row[t2] : mx;
		SIMD
		for (t2 = 0; t2 < Tp; t2++)
			row[t2] = t2 < T ? exp_fast(row[t2] - mx) : 0.0f;
		sum = 1.0f / sum_lanes(row, Tp);
		SIMD
		for (t2 = 0; t2 < Tp; t2++)
			row[t2] *= sum;
		memcpy(a + (size_t)t * T, row, T * sizeof(*row));
		/* out = att v: the row of out stays in registers */
		for (i = 0; i < hs; i++)
			acc[i] = 0.0f;
		for (t2 = 0; t2 < T; t2++) {
			const float *v = base + (size_t)t2 * ld + 2 * C;
			float p = row[t2];

			SIMD
			for (i = 0; i < hs; i++)
				acc[i] += p * v[i];
		}
		memcpy(o + (size_t)t * C, acc, hs * sizeof(*o));
	}
}

/*
 * The kernels proper: the common head sizes get a copy each, in which
 * the loops over the head's channels have a known length and unroll.
 */
KERNEL static void
attn_fwd_one(float *restrict o, float *restrict a,
             const float *restrict base, float *restrict kt,
             float *restrict row, int T, int Tp, int hs, int ld, int C,
             float scale)
{
	switch (hs) {
	case 16:
		attn_fwd_body(o, a, base, kt, row, T, Tp, 16, ld, C, scale);
		break;
	case 32:
		attn_fwd_body(o, a, base, kt, row, T, Tp, 32, ld, C, scale);
		break;
	case 64:
		attn_fwd_body(o, a, base, kt, row, T, Tp, 64, ld, C, scale);
		break;
	default:
		attn_fwd_body(o, a, base, kt, row, T, Tp, hs, ld, C, scale);
	}
}

void
attention_forward_slab(float *out, float *att, const float *qkv, int b0,
                       int b1, int T, int C, int NH)
{
	int hs = C / NH, Tp = (T + VEC - 1) / VEC * VEC;
	float scale = 1.0f / sqrtf(hs), kt[hs * Tp], row[Tp];
	long bh;

	for (bh = (long)b0 * NH; bh < (long)b1 * NH; bh++) {
		int b = bh / NH, h = bh % NH;

		attn_fwd_one(out + (size_t)b * T * C + h * hs, att + (size_t)bh * T * T,
		             qkv + (size_t)b * T * 3 * C + h * hs, kt, row, T, Tp, hs,
		             3 * C, C, scale);
	}
}

void
attention_forward(float *out, float *att, const float *qkv, int B, int T,
                  int C, int NH)
{
	OMP_PARALLEL
	{
		SLAB(B, b0, b1);

		attention_forward_slab(out, att, qkv, b0, b1, T, C, NH);
	}
}

/*
 * One (sample, head) of the backward pass, into its slice of dqkv (db,
 * the same layout as base).  ds (T,T) receives the
 * gradient of the scaled scores; vt (hs,Tp), p, dat (Tp) are scratch.
 * By rows of the scores first (dq), then by columns (dk, dv), so that
 * each row of dq, dk and dv is summed in registers and written once.
 */
INLINE void
attn_bwd_body(float *restrict db, float *restrict ds,
              const float *restrict dout, const float *restrict base,
              const float *restrict a, float *restrict vt, float *restrict p,
              float *restrict dat, int T, int Tp, int hs, int ld, int C,
              float scale)
{
	float g[hs], gk[hs];
	int t, t2, i;

	for (i = 0; i < hs; i++) {
		for (t2 = 0; t2 < T; t2++)
			vt[i * Tp + t2] = base[(size_t)t2 * ld + 2 * C + i];
		for (; t2 < Tp; t2++)
			vt[i * Tp + t2] = 0.0f;
	}
	for (t2 = T; t2 < Tp; t2++)
		p[t2] = 0.0f;
	for (t = 0; t < T; t++) {
		const float *dy = dout + (size_t)t * C;
		float dot;

		/* datt = dy v^T; through the softmax (the padding has p = 0) */
		memcpy(p, a + (size_t)t * T, T * sizeof(*p));
		rowvec(dat, dy, vt, hs, Tp);
		SIMD
		for (t2 = 0; t2 < Tp; t2++)
			dat[t2] *= p[t2];
		dot = sum_lanes(dat, Tp);
		SIMD
		for (t2 = 0; t2 < Tp; t2++)
			dat[t2] = (dat[t2] - p[t2] * dot) * scale;
		memcpy(ds + (size_t)t * T, dat, T * sizeof(*ds));
		/* dq = ds k */
		for (i = 0; i < hs; i++)
			g[i] = 0.0f;
		for (t2 = 0; t2 < T; t2++) {
			const float *k = base + (size_t)t2 * ld + C;
			float d = dat[t2];

			SIMD
			for (i = 0; i < hs; i++)
				g[i] += d * k[i];
		}
		memcpy(db + (size_t)t * ld, g, hs * sizeof(*db));
	}
	/* dv = att^T dy, dk = ds^T q */
	for (t2 = 0; t2 < T; t2++) {
		for (i = 0; i < hs; i++)
			g[i] = gk[i] = 0.0f;
		for (t = 0; t < T; t++) {
			const float *dy = dout + (size_t)t * C;
			const float *q = base + (size_t)t * ld;
			float pt = a[(size_t)t * T + t2], d = ds[(size_t)t * T + t2];

			SIMD
			for (i = 0; i < hs; i++) {
				g[i] += pt * dy[i];
				gk[i] += d * q[i];
			}
		}
		memcpy(db + (size_t)t2 * ld + C, gk, hs * sizeof(*db));
		memcpy(db + (size_t)t2 * ld + 2 * C, g, hs * sizeof(*db));
	}
}

KERNEL static void
attn_bwd_one(float *restrict db, float *restrict ds,
             const float *restrict dout, const float *restrict base,
             const float *restrict a, float *restrict vt, float *restrict p,
             float *restrict dat, int T, int Tp, int hs, int ld, int C,
             float scale)
{
	switch (hs) {
	case 16:
		attn_bwd_body(db, ds, dout, base, a, vt, p, dat, T, Tp, 16, ld, C,
		              scale);
		break;
	case 32:
		attn_bwd_body(db, ds, dout, base, a, vt, p, dat, T, Tp, 32, ld, C,
		              scale);
		break;
	case 64:
		attn_bwd_body(db, ds, dout, base, a, vt, p, dat, T, Tp, 64, ld, C,
		              scale);
		break;
	default:
		attn_bwd_body(db, ds, dout, base, a, vt, p, dat, T, Tp, hs, ld, C,
		              scale);
	}
}

void
attention_backward(float *dqkv, float *datt, const float *dout,
                   const float *qkv, const float *att, int B, int T, int C,
                   int NH)
{
	int hs = C / NH, Tp = (T + VEC - 1) / VEC * VEC;
	float scale = 1.0f / sqrtf(hs);

	OMP_PARALLEL
	{
		float vt[hs * Tp], p[Tp], dat[Tp];
		SLAB(B * NH, lo, hi);
		long bh;

		for (bh = lo; bh < hi; bh++) {
			int b = bh / NH, h = bh % NH;
			size_t off = (size_t)b * T * 3 * C + h * hs;

			attn_bwd_one(dqkv + off, datt + (size_t)bh * T * T,
			             dout + (size_t)b * T * C + h * hs, qkv + off,
			             att + (size_t)bh * T * T, vt, p, dat, T, Tp, hs,
			             3 * C, C, scale);
		}
	}
}

/* ------------------------------------------------------------------ */
/* element-wise                                                        */

#define INV_SQRT2   0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

KERNEL static void
gelu_fwd_k(float *restrict out, const float *restrict inp, long n)
{
	long i;

	for (i = 0; i < n; i++) {
		float x = inp[i];

		out[i] = 0.5f * x * (1.0f + erf_fast(x * INV_SQRT2));
	}
}

/* Phi(x) again costs less than the division of out / x */
KERNEL static void
gelu_bwd_k(float *restrict dinp, const float *restrict inp,
           const float *restrict dout, long n)
{
	long i;

	for (i = 0; i < n; i++) {
		float x = inp[i];
		float cdf = 0.5f * (1.0f + erf_fast(x * INV_SQRT2));
		float pdf = INV_SQRT2PI * exp_fast(-0.5f * x * x);

		dinp[i] = (cdf + x * pdf) * dout[i];
	}
}

void
gelu_forward_slab(float *out, const float *inp, size_t lo, size_t hi)
{
	if (hi > lo)
		gelu_fwd_k(out + lo, inp + lo, hi - lo);
}

void
gelu_forward(float *out, const float *inp, size_t N)
{
	OMP_PARALLEL
	{
		SLAB(N, lo, hi);

		gelu_forward_slab(out, inp, lo, hi);
	}
}

void
gelu_backward(float *dinp, const float *inp, const float *dout, size_t N)
{
	OMP_PARALLEL
	{
		SLAB(N, lo, hi);

		gelu_bwd_k(dinp + lo, inp + lo, dout + lo, hi - lo);
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
