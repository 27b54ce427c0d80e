/* See LICENSE file for copyright and license details. */
/*
 * layers: forward and backward passes (layers.h).  The linear layers
 * are gemm.h's products; the other loops are KERNELs (simd.h).
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "attn.h"
#include "gemm.h"
#include "layers.h"
#include "simd.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* flush subnormal results to zero and read subnormal inputs as zero,
 * in the calling thread (MXCSR's FTZ and DAZ bits) */
static void
flush_subnormals(void)
{
#if defined(__x86_64__) || defined(__SSE2__)
	_mm_setcsr(_mm_getcsr() | 0x8040);
#endif
}

void
layers_threads(int n)
{
	flush_subnormals();
#ifdef _OPENMP
	/* each OpenMP thread computes its own products: OpenBLAS, where it
	 * is used, runs on the calling thread */
	openblas_set_num_threads(1);
	omp_set_num_threads(n);
	/* the team's threads; a thread started later (a larger team)
	 * inherits the flag from the thread that starts it */
#pragma omp parallel
	flush_subnormals();
#else
	openblas_set_num_threads(n);
#endif
}

/* ------------------------------------------------------------------ */
/* vector kernels                                                      */

enum { VEC = 8 };  /* the lanes of max_lanes */

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
 * bits.  The steps are fused multiply-adds (fmaf, exactly rounded: one
 * instruction in the x86-64-v3 and v4 kernels, the same result in the
 * baseline one).  n comes from the 1.5 * 2^23 rounding trick, so no
 * float to int conversion is needed.  Within 2 ulp of expf; inputs are
 * clamped to [-87, 87], where exp is a normal float (the attention and
 * GELU callers only pass x <= 0).
 */
INLINE float
exp_fast(float x)
{
	const float magic = 12582912.0f; /* 1.5 * 2^23 */
	float t, n, r, p, sc;
	uint32_t ti, e;

	x = clampabs(x, 87.0f);
	t = fmaf(x, 1.44269504088896341f, magic);
	n = t - magic;
	memcpy(&ti, &t, sizeof(ti));
	e = (ti - 0x4b400000u + 127u) << 23; /* (n + 127) << 23 */
	memcpy(&sc, &e, sizeof(sc));
	r = fmaf(n, -0.693359375f, x);
	r = fmaf(n, 2.12194440e-4f, r);
	p = 1.9875691500e-4f;
	p = fmaf(p, r, 1.3981999507e-3f);
	p = fmaf(p, r, 8.3334519073e-3f);
	p = fmaf(p, r, 4.1665795894e-2f);
	p = fmaf(p, r, 1.6666665459e-1f);
	p = fmaf(p, r, 5.0000001201e-1f);
	p = fmaf(p, r * r, r) + 1.0f;
	return p * sc;
}

/*
 * erf(x) in float: the rational approximation x P(x^2) / Q(x^2) on
 * [-4, 4] (outside, erf is +-1 in float) that Eigen and TensorFlow use
 * for float erf, its polynomials in fused multiply-adds; within a few
 * ulp of erff, and no branch.
 */
INLINE float
erf_fast(float x)
{
	float x2, p, q;

	x = clampabs(x, 4.0f);
	x2 = x * x;
	p = -2.72614225801306e-10f;
	p = fmaf(p, x2, 2.77068142495902e-08f);
	p = fmaf(p, x2, -2.10102402082508e-06f);
	p = fmaf(p, x2, -5.69250639462346e-05f);
	p = fmaf(p, x2, -7.34990630326855e-04f);
	p = fmaf(p, x2, -2.95459980854025e-03f);
	p = fmaf(p, x2, -1.60960333262415e-02f);
	q = -1.45660718464996e-05f;
	q = fmaf(q, x2, -2.13374055278905e-04f);
	q = fmaf(q, x2, -1.68282697438203e-03f);
	q = fmaf(q, x2, -7.37332916720468e-03f);
	q = fmaf(q, x2, -1.42647390514189e-02f);
	return x * p / q;
}

/*
 * The sum of x (n) in the 16 lanes of a vf16, 16 values at a time, the
 * last n % 16 with zeros after them, then the lanes added as hsum adds
 * them: a fixed order, the same in every kernel (and in attn.c's).
 * sum_lanes2 is the same for x y.
 */
INLINE float
sum_lanes(const float *x, int n)
{
	vf16 s = { 0 }, v;
	int i, m = n / 16 * 16;

	for (i = 0; i < m; i += 16) {
		VLOAD(v, x + i);
		s += v;
	}
	if (m < n) {
		vf16 t = { 0 };

		memcpy(&t, x + m, (size_t)(n - m) * sizeof(float));
		s += t;
	}
	return hsum(&s);
}

INLINE float
sum_lanes2(const float *x, const float *y, int n)
{
	vf16 s = { 0 }, u, v;
	int i, m = n / 16 * 16;

	for (i = 0; i < m; i += 16) {
		VLOAD(u, x + i);
		VLOAD(v, y + i);
		s += u * v;
	}
	if (m < n) {
		vf16 tu = { 0 }, tv = { 0 };

		memcpy(&tu, x + m, (size_t)(n - m) * sizeof(float));
		memcpy(&tv, y + m, (size_t)(n - m) * sizeof(float));
		s += tu * tv;
	}
	return hsum(&s);
}

/* the largest of x (n >= 1), in VEC lanes: one chain of comparisons
 * would wait on each other (the order does not change a maximum) */
INLINE float
max_lanes(const float *x, int n)
{
	float s[VEC], t;
	int i, j, m = n / VEC * VEC;

	for (j = 0; j < VEC; j++)
		s[j] = x[0];
	for (i = 0; i < m; i += VEC)
		for (j = 0; j < VEC; j++)
			s[j] = x[i + j] > s[j] ? x[i + j] : s[j];
	t = s[0];
	for (j = 1; j < VEC; j++)
		t = s[j] > t ? s[j] : t;
	for (i = m; i < n; i++)
		t = x[i] > t ? x[i] : t;
	return t;
}

/* ------------------------------------------------------------------ */
/* linear                                                              */

size_t
linear_packsize(int C, int OC)
{
	size_t f = gemm_packsize(OC, C), b = gemm_packsize(C, OC);

	return f > b ? f : b;
}

void
linear_pack(float *wp, const float *w, int C, int OC, int backward)
{
	if (backward)
		gemm_pack(wp, C, OC, w, C, 1);
	else
		gemm_pack(wp, OC, C, w, 1, C);
}

void
linear_pack_rows(float *wp, const float *w, int C, int OC, int r0, int r1)
{
	_Static_assert((int)LINEAR_PACK_ROWS == (int)GEMM_NR, "a panel of gemm");
	gemm_pack_part(wp, OC, C, w, 1, C, r0, r1);
}

void
linear_forward(float *out, const float *inp, const float *w, const float *wp,
               const float *b, const float *res, int N, int C, int OC)
{
	/* out (N,OC) = inp (N,C) w^T: b(k,j) = w[j C + k] */
	gemm(N, OC, C, inp, C, 1, w, 1, C, wp, out, OC, 0, b, res, NULL);
}

static void gelu_epi(const struct gemm_epi *, float *, long, long, long,
                     long);
static void dgelu_epi(const struct gemm_epi *, float *, long, long, long,
                      long);

void
linear_gelu_forward(float *out, float *grad, const float *inp,
                    const float *w, const float *wp, const float *b, int N,
                    int C, int OC)
{
	struct gemm_epi e = { gelu_epi, grad, NULL };

	gemm(N, OC, C, inp, C, 1, w, 1, C, wp, out, OC, 0, b, NULL, &e);
}

/* db (n) = [db +] the column sums of dout (N, stride OC), in row order
 * (from 0 without acc: the same bytes as adding to zeros) */
KERNEL static void
colsum(float *restrict db, const float *restrict dout, long N, int OC,
       int n, int acc)
{
	long i;
	int o;

	if (!acc)
		for (o = 0; o < n; o++)
			db[o] = 0.0f;
	for (i = 0; i < N; i++)
		for (o = 0; o < n; o++)
			db[o] += dout[i * OC + o];
}

void
linear_backward(float *dinp, float *dw, float *db, const float *dout,
                const float *inp, const float *w, const float *wp,
                const float *dact, int N, int C, int OC, int acc)
{
	struct gemm_epi e = { dgelu_epi, NULL, dact };

	/* no rows: dw and db are sums of nothing */
	if (OC <= 0 || N < 0)
		return;
	/* dinp (N,C) = dout (N,OC) w (OC,C) [times dact] */
	if (dinp)
		gemm(N, C, OC, dout, OC, 1, w, C, 1, wp, dinp, C, 0, NULL, NULL,
		     dact ? &e : NULL);
	/* dw (OC,C) [+]= dout^T inp (N,C): a(o,n) = dout[n OC + o]; gemm's
	 * sums start from +0, so adding them to zeros changes nothing */
	if (dw)
		gemm(OC, C, N, dout, 1, OC, inp, C, 1, NULL, dw, C, acc, NULL, NULL,
		     NULL);
	if (db)
		colsum(db, dout, N, OC, OC, acc);
}

/* ------------------------------------------------------------------ */
/* layernorm                                                           */

/* rows [0, n) of the forward pass, 16 channels at a time (vf16), the
 * last C % 16 one by one */
KERNEL static void
ln_fwd_k(float *restrict out, float *restrict mean, float *restrict rstd,
         const float *restrict inp, const float *restrict w,
         const float *restrict b, long n, int C, float eps)
{
	int c, m16 = C / 16 * 16;
	long i;

	for (i = 0; i < n; i++) {
		const float *x = inp + (size_t)i * C;
		float *y = out + (size_t)i * C, m, v, s;
		vf16 acc = { 0 }, xv, wv, bv, d;

		m = sum_lanes(x, C) / C;
		for (c = 0; c < m16; c += 16) {
			VLOAD(xv, x + c);
			d = xv - m;
			acc += d * d;
		}
		v = hsum(&acc);
		for (c = m16; c < C; c++)
			v += (x[c] - m) * (x[c] - m);
		s = 1.0f / sqrtf(v / C + eps);
		for (c = 0; c < m16; c += 16) {
			VLOAD(xv, x + c);
			VLOAD(wv, w + c);
			VLOAD(bv, b + c);
			d = (xv - m) * s * wv + bv;
			VSTORE(y + c, d);
		}
		for (c = m16; c < C; c++)
			y[c] = (x[c] - m) * s * w[c] + b[c];
		mean[i] = m;
		rstd[i] = s;
	}
}

void
layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                  const float *w, const float *b, int N, int C, float eps)
{
	if (N > 0)
		ln_fwd_k(out, mean, rstd, inp, w, b, N, C, eps);
}

/*
 * rows [0, n) of dinp = dres + the gradient, or = it (dres NULL); dw and
 * db += theirs (if not NULL), rows in order.  Per channel: the
 * normalised input nrm = (x - mean) rstd, dn = w dout; the row's means
 * of dn and of dn nrm; then dinp.  16 channels at a time (vf16), the
 * last C % 16 one by one; tmp (2C) keeps nrm and dn between the passes.
 */
KERNEL static void
ln_bwd_k(float *restrict dinp, const float *restrict dres,
         float *restrict dw, float *restrict db, const float *restrict dout,
         const float *restrict inp, const float *restrict w,
         const float *restrict mean, const float *restrict rstd, long n,
         int C, int acc, float *restrict tmp)
{
	float *nrm = tmp, *dn = tmp + C;
	int c, m16 = C / 16 * 16;
	long i;

	/* without acc, dw and db sum from zeros: the same bytes as adding
	 * to zeros */
	for (c = 0; c < C && !acc; c++) {
		if (dw)
			dw[c] = 0.0f;
		if (db)
			db[c] = 0.0f;
	}
	for (i = 0; i < n; i++) {
		const float *x = inp + (size_t)i * C, *dy = dout + (size_t)i * C;
		const float *dr = dres ? dres + (size_t)i * C : NULL;
		float *dx = dinp + (size_t)i * C, m = mean[i], s = rstd[i];
		float dn_mean, dn_norm;
		vf16 a1 = { 0 }, a2 = { 0 }, xv, yv, wv, nv, dv, t;

		for (c = 0; c < m16; c += 16) {
			VLOAD(xv, x + c);
			VLOAD(yv, dy + c);
			VLOAD(wv, w + c);
			nv = (xv - m) * s;
			dv = wv * yv;
			a1 += dv;
			a2 += dv * nv;
			VSTORE(nrm + c, nv);
			VSTORE(dn + c, dv);
			if (dw) {
				VLOAD(t, dw + c);
				t += yv * nv;
				VSTORE(dw + c, t);
			}
			if (db) {
				VLOAD(t, db + c);
				t += yv;
				VSTORE(db + c, t);
			}
		}
		dn_mean = hsum(&a1);
		dn_norm = hsum(&a2);
		for (c = m16; c < C; c++) {
			nrm[c] = (x[c] - m) * s;
			dn[c] = w[c] * dy[c];
			dn_mean += dn[c];
			dn_norm += dn[c] * nrm[c];
			if (dw)
				dw[c] += dy[c] * nrm[c];
			if (db)
				db[c] += dy[c];
		}
		dn_mean /= C;
		dn_norm /= C;
		for (c = 0; c < m16; c += 16) {
			VLOAD(nv, nrm + c);
			VLOAD(dv, dn + c);
			t = (dv - dn_mean - nv * dn_norm) * s;
			if (dr) {
				VLOAD(xv, dr + c);
				t = xv + t;
			}
			VSTORE(dx + c, t);
		}
		for (c = m16; c < C; c++) {
			float g = (dn[c] - dn_mean - nrm[c] * dn_norm) * s;

			dx[c] = dr ? dr[c] + g : g;
		}
	}
}

void
layernorm_backward(float *dinp, const float *dres, float *dw, float *db,
                   const float *dout, const float *inp, const float *w,
                   const float *mean, const float *rstd, int N, int C,
                   int acc)
{
	float tmp[2 * C];

	if (N >= 0)
		ln_bwd_k(dinp, dres, dw, db, dout, inp, w, mean, rstd, N, C, acc,
		         tmp);
}

/* ------------------------------------------------------------------ */
/* attention                                                           */

/*
 * Per (sample, head), the products are gemm's: scores s = q k^T, then
 * each row's softmax of s scale in place, out = att v; backward, datt =
 * dout v^T, the softmax's gradient in place, dq = ds k, dk = ds^T q, dv
 * = att^T dout.  q, k and v are the head's columns of the qkv rows
 * (stride 3C), out and dout those of rows of stride C.  Where
 * attn_native says so (short sequences, AVX-512), attn.c computes the
 * same, to the byte, in one kernel.
 */

/*
 * n rows of T scores: p = softmax(s scale), in place.  Three passes, so
 * that the exponentials run as one loop over all n T values, which
 * vectorises whatever T is (a row of 13 or 50 scores is too short for
 * the vectoriser): each row less its maximum, times scale; exp of all;
 * each row over its sum.
 */
KERNEL static void
softmax_k(float *restrict s, long n, int T, float scale)
{
	long r, i;
	int t;

	for (r = 0; r < n; r++) {
		float *x = s + r * T, mx = max_lanes(x, T);

		for (t = 0; t < T; t++)
			x[t] = (x[t] - mx) * scale;
	}
	for (i = 0; i < n * T; i++)
		s[i] = exp_fast(s[i]);
	for (r = 0; r < n; r++) {
		float *x = s + r * T, sum = 1.0f / sum_lanes(x, T);

		for (t = 0; t < T; t++)
			x[t] *= sum;
	}
}

/* n rows of T: d (datt in, the gradient of the scores out) = p (d -
 * sum(p d)) scale, in place */
KERNEL static void
softmax_grad_k(float *restrict d, const float *restrict p, long n, int T,
               float scale)
{
	long r;
	int t;

	for (r = 0; r < n; r++) {
		float *x = d + r * T, dot;
		const float *pr = p + r * T;

		dot = sum_lanes2(pr, x, T);
		for (t = 0; t < T; t++)
			x[t] = pr[t] * (x[t] - dot) * scale;
	}
}

/* the T rows of n floats of x (stride ld) on their way into the L2
 * cache */
static void
prefetch_rows(const float *x, long ld, int T, int n)
{
	int t, j;

	for (t = 0; t < T; t++)
		for (j = 0; j < n; j += 16)
			__builtin_prefetch(x + t * ld + j, 0, 2);
}

/* the rows of head bh (of B NH) of q, k and v and, if not NULL, dout,
 * far apart in memory, which the hardware would fetch only as they are
 * read: the next head's, while attn.c computes this one's */
static void
prefetch_head(long bh, const float *qkv, const float *dout, int B, int T,
              int C, int NH)
{
	long b = bh / NH, h = bh % NH;
	int hs = C / NH, ld = 3 * C, i;

	if (bh >= (long)B * NH)
		return;
	for (i = 0; i < 3; i++)
		prefetch_rows(qkv + (size_t)b * T * ld + i * C + h * hs, ld, T, hs);
	if (dout)
		prefetch_rows(dout + (size_t)b * T * C + h * hs, C, T, hs);
}

void
attention_forward(float *out, float *att, const float *qkv, int B, int T,
                  int C, int NH)
{
	int hs = C / NH, ld = 3 * C, native = attn_native(T, hs);
	float scale = 1.0f / sqrtf(hs);
	long bh;

	for (bh = 0; bh < (long)B * NH; bh++) {
		int b = bh / NH, h = bh % NH;
		const float *q = qkv + (size_t)b * T * ld + h * hs;
		float *a = att + (size_t)bh * T * T;

		if (native) {
			prefetch_head(bh + 1, qkv, NULL, B, T, C, NH);
			attn_forward(out + (size_t)b * T * C + h * hs, C, a, q, q + C,
			             q + 2 * C, ld, T, hs, scale);
			continue;
		}
		/* s (T,T) = q (T,hs) k^T: b(i,t) = k[t ld + i] */
		gemm(T, T, hs, q, ld, 1, q + C, 1, ld, NULL, a, T, 0, NULL, NULL,
		     NULL);
		softmax_k(a, T, T, scale);
		/* out (T,hs) = att (T,T) v (T,hs) */
		gemm(T, hs, T, a, T, 1, q + 2 * C, ld, 1, NULL,
		     out + (size_t)b * T * C + h * hs, C, 0, NULL, NULL, NULL);
	}
}

void
attention_backward(float *dqkv, float *datt, const float *dout,
                   const float *qkv, const float *att, int B, int T, int C,
                   int NH)
{
	int hs = C / NH, ld = 3 * C, native = attn_native(T, hs);
	float scale = 1.0f / sqrtf(hs);
	long bh;

	for (bh = 0; bh < (long)B * NH; bh++) {
		int b = bh / NH, h = bh % NH;
		size_t off = (size_t)b * T * ld + h * hs;
		const float *q = qkv + off, *a = att + (size_t)bh * T * T;
		const float *dy = dout + (size_t)b * T * C + h * hs;
		float *dq = dqkv + off, *ds = datt + (size_t)bh * T * T;

		if (native) {
			prefetch_head(bh + 1, qkv, dout, B, T, C, NH);
			attn_backward(dq, dq + C, dq + 2 * C, ds, dy, C, q, q + C,
			              q + 2 * C, ld, a, T, hs, scale);
			continue;
		}
		/* datt (T,T) = dy (T,hs) v^T, then the scores' gradient */
		gemm(T, T, hs, dy, C, 1, q + 2 * C, 1, ld, NULL, ds, T, 0, NULL,
		     NULL, NULL);
		softmax_grad_k(ds, a, T, T, scale);
		/* dq = ds k, dk = ds^T q, dv = att^T dy, each (T,hs) */
		gemm(T, hs, T, ds, T, 1, q + C, ld, 1, NULL, dq, ld, 0, NULL, NULL,
		     NULL);
		gemm(T, hs, T, ds, 1, T, q, ld, 1, NULL, dq + C, ld, 0, NULL, NULL,
		     NULL);
		gemm(T, hs, T, a, 1, T, dy, C, 1, NULL, dq + 2 * C, ld, 0, NULL,
		     NULL, NULL);
	}
}

/* ------------------------------------------------------------------ */
/* element-wise                                                        */

#define INV_SQRT2   0.70710678118654752440f
#define INV_SQRT2PI 0.39894228040143267794f

/* Phi(x), the normal distribution function */
INLINE float
normal_cdf(float x)
{
	return fmaf(0.5f, erf_fast(x * INV_SQRT2), 0.5f);
}

/* out = x Phi(x) of inp, in place or not */
KERNEL static void
gelu_fwd_k(float *out, const float *inp, long n)
{
	long i;

	for (i = 0; i < n; i++)
		out[i] = inp[i] * normal_cdf(inp[i]);
}

/* the same, and grad = Phi(x) + x phi(x), its derivative */
KERNEL static void
gelu_fwd_grad_k(float *out, float *restrict grad, const float *inp, long n)
{
	long i;

	for (i = 0; i < n; i++) {
		float x = inp[i], cdf = normal_cdf(x);
		float pdf = INV_SQRT2PI * exp_fast(-0.5f * x * x);

		out[i] = x * cdf;
		grad[i] = fmaf(x, pdf, cdf);
	}
}

/* dinp = grad dout; dinp may be dout */
KERNEL static void
gelu_bwd_k(float *dinp, const float *restrict grad, const float *dout, long n)
{
	long i;

	for (i = 0; i < n; i++)
		dinp[i] = grad[i] * dout[i];
}

void
gelu_forward(float *out, float *grad, const float *inp, size_t N)
{
	if (N > 0 && grad)
		gelu_fwd_grad_k(out, grad, inp, N);
	else if (N > 0)
		gelu_fwd_k(out, inp, N);
}

void
gelu_backward(float *dinp, const float *grad, const float *dout, size_t N)
{
	if (N > 0)
		gelu_bwd_k(dinp, grad, dout, N);
}

/* gelu_forward on a block of rows of a product, in place, the
 * derivatives into e->out (NULL: none) */
static void
gelu_epi(const struct gemm_epi *e, float *c, long off, long ld, long m,
         long n)
{
	long r;

	for (r = 0; r < m; r++)
		gelu_forward(c + r * ld, e->out ? e->out + off + r * ld : NULL,
		             c + r * ld, (size_t)n);
}

/* gelu_backward on a block of rows of a product, in place, with the
 * derivatives of e->in */
static void
dgelu_epi(const struct gemm_epi *e, float *c, long off, long ld, long m,
          long n)
{
	long r;

	for (r = 0; r < m; r++)
		gelu_backward(c + r * ld, e->in + off + r * ld, c + r * ld,
		              (size_t)n);
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

double
masked_count(const float *mask, int N)
{
	double n = 0.0;
	int i;

	for (i = 0; i < N; i++)
		n += mask[i];
	return n;
}

float
loss_mean(const double *loss, double count, int N)
{
	double s = 0.0;
	int i;

	if (count == 0.0)
		return 0.0f;
	for (i = 0; i < N; i++)
		s += loss[i];
	return (float)(s / count);
}

void
mse_masked_forward(double *loss, const float *pred, const float *target,
                   const float *mask, int N, int P, int normpix)
{
	float tn[P > 0 ? P : 1];
	int i, p;

	for (i = 0; i < N; i++) {
		const float *x = pred + (size_t)i * P, *t = target + (size_t)i * P;
		double s = 0.0;

		loss[i] = 0.0;
		if (mask[i] == 0.0f)
			continue;
		if (normpix) {
			normrow(tn, t, P);
			t = tn;
		}
		for (p = 0; p < P; p++)
			s += (double)(x[p] - t[p]) * (x[p] - t[p]);
		loss[i] = mask[i] * s / P;
	}
}

void
mse_masked_backward(float *dpred, const float *pred, const float *target,
                    const float *mask, int N, int P, int normpix,
                    double count, float dloss)
{
	float g = count > 0.0 ? (float)(2.0 * dloss / (count * P)) : 0.0f;
	float tn[P > 0 ? P : 1];
	int i, p;

	for (i = 0; i < N; i++) {
		const float *x = pred + (size_t)i * P, *t = target + (size_t)i * P;
		float *dx = dpred + (size_t)i * P, gi;

		if (mask[i] == 0.0f || g == 0.0f) {
			memset(dx, 0, P * sizeof(*dx));
			continue;
		}
		if (normpix) {
			normrow(tn, t, P);
			t = tn;
		}
		gi = g * mask[i];
		for (p = 0; p < P; p++)
			dx[p] = gi * (x[p] - t[p]);
	}
}

void
xent_masked_forward(double *loss, float *probs, const float *logits,
                    const int32_t *targets, const float *mask, int N, int K,
                    float eps)
{
	int i;

	for (i = 0; i < N; i++) {
		const float *z = logits + (size_t)i * K;
		float *pr = probs + (size_t)i * K, mx = -INFINITY;
		double sum = 0.0, lse, sz = 0.0;
		int k;

		loss[i] = 0.0;
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
		loss[i] = mask[i] * ((1.0 - eps) * (lse - z[targets[i]]) +
		                     eps * (lse - sz / K));
	}
}

void
xent_masked_backward(float *dlogits, const float *probs,
                     const int32_t *targets, const float *mask, int N, int K,
                     float eps, double count, float dloss)
{
	float g = count > 0.0 ? (float)(dloss / count) : 0.0f;
	int i, k;

	for (i = 0; i < N; i++) {
		const float *pr = probs + (size_t)i * K;
		float *dz = dlogits + (size_t)i * K, gi = g * mask[i];

		if (mask[i] == 0.0f || g == 0.0f) {
			memset(dz, 0, K * sizeof(*dz));
			continue;
		}
		for (k = 0; k < K; k++)
			dz[k] = gi * (pr[k] - eps / K);
		dz[targets[i]] -= gi * (1.0f - eps);
	}
}
