/* See LICENSE file for copyright and license details. */
/*
 * attn: the attention of one (sample, head) over a short sequence, in
 * AVX-512 (attn.h).
 *
 * The scores: k (or v) transposed once (hs x TMAX, zeros past T), then
 * R rows of q at a time times that, in R x ceil(T / 16)
 * registers (R 4, 3, 2 or 1 as T grows), each row's softmax (forward) or
 * softmax gradient (backward) taken there and the row stored.  The
 * products with the stored rows (att v, ds k, ds^T q, att^T dout): RR
 * output rows at a time, a broadcast of a(i,t) times row t of the other
 * operand, in RR x hs / 16 registers.  A last group of rows short of R
 * (RR) is the last R (RR) rows, those before it computed again: the
 * same values written again.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "attn.h"
#include "gemm.h"
#include "simd.h"

static int off;

void
attn_force(int on)
{
	off = on == 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include "avx512.h"

enum { TMAX = 256, NVMAX = TMAX / 16 };  /* tokens at most; vectors */

#define UNROLL4 _Pragma("GCC unroll 4")
#define UNROLL16 _Pragma("GCC unroll 16")
#define UNROLL8 _Pragma("GCC unroll 8")

int
attn_native(int T, int hs)
{
	return !off && gemm_native() && T >= 8 && T <= TMAX && hs >= 16 &&
	       hs <= 64 && hs % 16 == 0;
}

/* xt (hs x TMAX): the T rows of x (hs floats, stride ld) transposed,
 * zeros in the columns from T to the next multiple of 16 */
AVX512 static void
transpose_rows(float *restrict xt, const float *restrict x, long ld, int T,
               int hs)
{
	int tb, db, j;

	for (tb = 0; tb < T; tb += 16)
		for (db = 0; db < hs; db += 16) {
			const float *row = x + (long)tb * ld + db;
			float *col = xt + (long)db * TMAX + tb;
			__m512 r[16];

			for (j = 0; j < 16; j++)
				r[j] = tb + j < T ? _mm512_loadu_ps(row + j * ld) :
				       _mm512_setzero_ps();
			transpose16(r);
			for (j = 0; j < 16; j++)
				_mm512_store_ps(col + j * TMAX, r[j]);
		}
}

/* exp of each lane, as layers.c's exp_fast computes it */
INLINE AVX512 __m512
exp16(__m512 x)
{
	const __m512 magic = _mm512_set1_ps(12582912.0f);
	const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
	__m512i u = _mm512_castps_si512(x), a, e;
	__m512 t, n, r, p;

	/* |x| clamped to 87 (bits 0x42ae0000) */
	a = _mm512_andnot_si512(sign, u);
	a = _mm512_min_epu32(a, _mm512_set1_epi32(0x42ae0000));
	u = _mm512_or_si512(_mm512_and_si512(u, sign), a);
	x = _mm512_castsi512_ps(u);
	t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
	n = _mm512_sub_ps(t, magic);
	/* (n + 127) << 23 */
	e = _mm512_sub_epi32(_mm512_castps_si512(t),
	                     _mm512_set1_epi32(0x4b400000));
	e = _mm512_slli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(127)), 23);
	r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
	r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
	p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r),
	                  _mm512_set1_ps(1.0f));
	return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* the lanes of s added as simd.h's hsum adds them */
INLINE AVX512 float
hsum16(__m512 s)
{
	vf16 v = (vf16)s;

	return hsum(&v);
}

/* p (T) = the softmax of s scale, s a row of NV vectors of scores, as
 * layers.c's softmax_k: less the maximum, times scale, exp, over the
 * sum (sum_lanes's order: the lanes past T are zeros) */
INLINE AVX512 void
softmax_row(float *p, const __m512 *s, int T, int NV, float scale)
{
	__m512 m = _mm512_set1_ps(-INFINITY), acc = _mm512_setzero_ps();
	__m512 e[NVMAX];
	float mx, t;
	int v;

	UNROLL16
	for (v = 0; v < NV; v++)
		m = _mm512_mask_max_ps(m, lanes(T - 16 * v), m, s[v]);
	mx = _mm512_reduce_max_ps(m);
	UNROLL16
	for (v = 0; v < NV; v++) {
		__m512 x = _mm512_sub_ps(s[v], _mm512_set1_ps(mx));

		e[v] = exp16(_mm512_mul_ps(x, _mm512_set1_ps(scale)));
		acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(lanes(T - 16 * v),
		                                             e[v]));
	}
	t = 1.0f / hsum16(acc);
	UNROLL16
	for (v = 0; v < NV; v++)
		_mm512_mask_storeu_ps(p + 16 * v, lanes(T - 16 * v),
		                      _mm512_mul_ps(e[v], _mm512_set1_ps(t)));
}

/* d (T) = the scores' gradient from datt's row s (NV vectors) and the
 * probabilities p, as layers.c's softmax_grad_k: p (s - sum(p s))
 * scale, the sum in sum_lanes2's order */
INLINE AVX512 void
softmax_grad_row(float *d, const float *p, const __m512 *s, int T, int NV,
                 float scale)
{
	__m512 acc = _mm512_setzero_ps(), pv[NVMAX];
	float t;
	int v;

	UNROLL16
	for (v = 0; v < NV; v++) {
		__mmask16 k = lanes(T - 16 * v);

		pv[v] = _mm512_maskz_loadu_ps(k, p + 16 * v);
		acc = _mm512_add_ps(acc, _mm512_maskz_mul_ps(k, pv[v], s[v]));
	}
	t = hsum16(acc);
	UNROLL16
	for (v = 0; v < NV; v++) {
		__m512 g = _mm512_mul_ps(pv[v],
		                         _mm512_sub_ps(s[v], _mm512_set1_ps(t)));

		_mm512_mask_storeu_ps(d + 16 * v, lanes(T - 16 * v),
		                      _mm512_mul_ps(g, _mm512_set1_ps(scale)));
	}
}

/*
 * acc[r][u], r < RR, u < NV: the sum over k < K of a(i0 + r, k) times
 * vector u of row k of y, a(i,k) at a[i ai + k ak], y's rows of stride
 * ldy; each element a chain of fused multiply-adds over k in order,
 * from zero, as gemm.c's kernel sums.  RR and NV are constants in each
 * caller, so that acc stays in registers.
 */
INLINE AVX512 void
tile(__m512 acc[8][NVMAX], const float *a, long ai, long ak, int i0,
     const float *y, long ldy, int K, int RR, int NV)
{
	int r, u, k;

	UNROLL8
	for (r = 0; r < RR; r++)
		UNROLL16
		for (u = 0; u < NV; u++)
			acc[r][u] = _mm512_setzero_ps();
	for (k = 0; k < K; k++) {
		__m512 b[8];

		/* the broadcasts, then a vector of y at a time: RR NV + RR +
		 * 1 registers */
		UNROLL8
		for (r = 0; r < RR; r++)
			b[r] = _mm512_set1_ps(a[(long)(i0 + r) * ai + (long)k * ak]);
		UNROLL16
		for (u = 0; u < NV; u++) {
			__m512 yv = _mm512_loadu_ps(y + (long)k * ldy + 16 * u);

			UNROLL8
			for (r = 0; r < RR; r++)
				acc[r][u] = _mm512_fmadd_ps(b[r], yv, acc[r][u]);
		}
	}
}

/*
 * The T rows of dst (T x T): row i of x (hs floats, stride ld) times
 * yt, then, p NULL, its softmax; else its softmax gradient with row i
 * of p.  NV = ceil(T / 16) and R, the rows a pass, are constants in
 * each caller.
 */
INLINE AVX512 void
score_rows(float *dst, const float *x, long ld, const float *yt,
           const float *p, int T, int hs, float scale, int NV, int R)
{
	int i, r;

	for (i = 0; i < T; i += R) {
		int i0 = i + R <= T ? i : T - R;
		__m512 s[8][NVMAX];

		tile(s, x, ld, 1, i0, yt, TMAX, hs, R, NV);
		UNROLL4
		for (r = 0; r < R; r++) {
			float *row = dst + (long)(i0 + r) * T;

			if (p)
				softmax_grad_row(row, p + (row - dst), s[r], T, NV,
				                 scale);
			else
				softmax_row(row, s[r], T, NV, scale);
		}
	}
}

/* as many rows a pass as keep R NV sums, R broadcasts and a vector of
 * kt within the 32 registers */
#define SCORES(name, NV) \
__attribute__((noinline)) AVX512 static void \
name(float *dst, const float *x, long ld, const float *yt, const float *p, \
     int T, int hs, float scale) \
{ \
	score_rows(dst, x, ld, yt, p, T, hs, scale, NV, \
	           NV <= 4 ? 4 : NV <= 7 ? 3 : NV <= 14 ? 2 : 1); \
}
SCORES(scores1, 1)
SCORES(scores2, 2)
SCORES(scores3, 3)
SCORES(scores4, 4)
SCORES(scores5, 5)
SCORES(scores6, 6)
SCORES(scores7, 7)
SCORES(scores8, 8)
SCORES(scores9, 9)
SCORES(scores10, 10)
SCORES(scores11, 11)
SCORES(scores12, 12)
SCORES(scores13, 13)
SCORES(scores14, 14)
SCORES(scores15, 15)
SCORES(scores16, 16)

/* by ceil(T / 16) */
static void (*const scores[NVMAX])(float *, const float *, long,
                                   const float *, const float *, int, int,
                                   float) = {
	scores1, scores2, scores3, scores4, scores5, scores6, scores7, scores8,
	scores9, scores10, scores11, scores12, scores13, scores14, scores15,
	scores16
};

/*
 * o (T x hs, stride ldo) = a y over t < T: a(i,t) at a[i ai + t at], y
 * T rows of hs = 16 NH floats, stride ldy.  RR output rows at a time.
 */
INLINE AVX512 void
product_rows(float *o, long ldo, const float *a, long ai, long at,
             const float *y, long ldy, int T, int NH, int RR)
{
	int i, r, u;

	for (i = 0; i < T; i += RR) {
		int i0 = i + RR <= T ? i : T - RR;
		__m512 acc[8][NVMAX];

		tile(acc, a, ai, at, i0, y, ldy, T, RR, NH);
		UNROLL8
		for (r = 0; r < RR; r++) {
			float *orow = o + (long)(i0 + r) * ldo;

			UNROLL4
			for (u = 0; u < NH; u++)
				_mm512_storeu_ps(orow + 16 * u, acc[r][u]);
		}
	}
}

/* 8 rows a pass while they and a row of y fit the registers, else 4 */
#define PRODUCT(name, NH) \
__attribute__((noinline)) AVX512 static void \
name(float *o, long ldo, const float *a, long ai, long at, const float *y, \
     long ldy, int T) \
{ \
	product_rows(o, ldo, a, ai, at, y, ldy, T, NH, NH <= 2 ? 8 : 4); \
}
PRODUCT(product1, 1)
PRODUCT(product2, 2)
PRODUCT(product3, 3)
PRODUCT(product4, 4)

/* by hs / 16 */
static void (*const product[4])(float *, long, const float *, long, long,
                                const float *, long, int) = {
	product1, product2, product3, product4
};

/* per thread: a transposed operand; the rows of a product's second
 * operand, gathered when they are many (a long sequence's rows, far
 * apart, would evict each other from the cache between passes) */
static _Thread_local _Alignas(64) float trans[64 * TMAX];
static _Thread_local _Alignas(64) float gathered[TMAX * 64];

/* o = a times the T rows (hs) of y, stride ldy, as product[] */
static void
product_of(float *o, long ldo, const float *a, long ai, long at,
           const float *y, long ldy, int T, int hs)
{
	int t;

	if (T > 64) {
		for (t = 0; t < T; t++)
			memcpy(gathered + (long)t * hs, y + (long)t * ldy,
			       (size_t)hs * sizeof(float));
		y = gathered, ldy = hs;
	}
	product[hs / 16 - 1](o, ldo, a, ai, at, y, ldy, T);
}

void
attn_forward(float *out, long ldo, float *att, const float *q,
             const float *k, const float *v, long ld, int T, int hs,
             float scale)
{
	transpose_rows(trans, k, ld, T, hs);
	scores[(T + 15) / 16 - 1](att, q, ld, trans, NULL, T, hs, scale);
	product_of(out, ldo, att, T, 1, v, ld, T, hs);
}

void
attn_backward(float *dq, float *dk, float *dv, float *ds,
              const float *dout, long ldo, const float *q, const float *k,
              const float *v, long ld, const float *att, int T, int hs,
              float scale)
{
	transpose_rows(trans, v, ld, T, hs);
	scores[(T + 15) / 16 - 1](ds, dout, ldo, trans, att, T, hs, scale);
	product_of(dq, ld, ds, T, 1, k, ld, T, hs);
	product_of(dk, ld, ds, 1, T, q, ld, T, hs);
	product_of(dv, ld, att, 1, T, dout, ldo, T, hs);
}
#else
int
attn_native(int T, int hs)
{
	(void)T, (void)hs;
	return 0;
}

/* never called: attn_native is 0 */
void
attn_forward(float *out, long ldo, float *att, const float *q,
             const float *k, const float *v, long ld, int T, int hs,
             float scale)
{
	(void)out, (void)ldo, (void)att, (void)q, (void)k, (void)v, (void)ld;
	(void)T, (void)hs, (void)scale;
}

void
attn_backward(float *dq, float *dk, float *dv, float *ds,
              const float *dout, long ldo, const float *q, const float *k,
              const float *v, long ld, const float *att, int T, int hs,
              float scale)
{
	(void)dq, (void)dk, (void)dv, (void)ds, (void)dout, (void)ldo, (void)q;
	(void)k, (void)v, (void)ld, (void)att, (void)T, (void)hs, (void)scale;
}
#endif
