/* See LICENSE file for copyright and license details. */
/*
 * kmeans_simd: register-blocked argmin kernels for AVX2+FMA and AVX-512,
 * compiled for their ISA with target attributes and chosen at run time
 * (kmeans.c), so the library still runs on any x86-64 or other CPU.
 *
 * A micro-tile is KM_R rows by one group of G centroids: R*V vector
 * accumulators fed by one broadcast of x[r][k] and V loads of the packed
 * centroids per k.  After the d steps the tile's values are compared with
 * each row's running minimum (one vector of W lanes a row, with the index
 * of the first j that reached it): lane l of row r only ever sees
 * j = l (mod W) in increasing order, so a strict < keeps the lowest j, and
 * the final reduction takes the lowest index among the lanes holding the
 * least value.  The group loop runs over cache blocks of gblock groups;
 * the row state lives in mstate/istate between blocks.
 *
 * Rows past the end of x in the last tile repeat the last row: they
 * compute the same values and their updates of its state are no-ops.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "kmeans_simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define HAVE_X86 1
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

int
km_have_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int
km_have_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && km_have_avx2();
}

/* ------------------------------------------------------------------ */
/* AVX2: W = 8, V = 2                                                  */

AVX2 void
km_argmin_avx2(const float *x, size_t n, int d, const float *pack,
               const float *bias, int ngroups, int gblock, float mul,
               float *mstate, int32_t *istate, int32_t *labels)
{
	enum { W = 8, V = 2, G = KM_G_AVX2, R = KM_R };
	const __m256 vmul = _mm256_set1_ps(mul), inf = _mm256_set1_ps(INFINITY);
	const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	const float *xr[R], *p;
	size_t r0, i, row[R];
	int b0, b1, g, k, r, v, l;

	if (!n)
		return;
	for (i = 0; i < n; i++) {
		_mm256_storeu_ps(mstate + i * W, inf);
		_mm256_storeu_si256((__m256i *)(istate + i * W),
		                    _mm256_setzero_si256());
	}
	for (b0 = 0; b0 < ngroups; b0 = b1) {
		b1 = b0 + gblock < ngroups ? b0 + gblock : ngroups;
		for (r0 = 0; r0 < n; r0 += R) {
			for (r = 0; r < R; r++) {
				row[r] = r0 + r < n ? r0 + r : n - 1;
				xr[r] = x + row[r] * d;
			}
			for (g = b0; g < b1; g++) {
				__m256 acc[R][V], c[V], bx, val, m;
				__m256i id, jv;

				p = pack + (size_t)g * d * G;
#pragma GCC unroll 8
				for (r = 0; r < R; r++)
#pragma GCC unroll 4
					for (v = 0; v < V; v++)
						acc[r][v] = _mm256_setzero_ps();
				for (k = 0; k < d; k++, p += G) {
#pragma GCC unroll 4
					for (v = 0; v < V; v++)
						c[v] = _mm256_load_ps(p + v * W);
#pragma GCC unroll 8
					for (r = 0; r < R; r++) {
						bx = _mm256_broadcast_ss(xr[r] + k);
#pragma GCC unroll 4
						for (v = 0; v < V; v++)
							acc[r][v] = _mm256_fmadd_ps(bx, c[v],
							                            acc[r][v]);
					}
				}
#pragma GCC unroll 8
				for (r = 0; r < R; r++) {
					m = _mm256_loadu_ps(mstate + row[r] * W);
					id = _mm256_loadu_si256(
						(const __m256i *)(istate + row[r] * W));
#pragma GCC unroll 4
					for (v = 0; v < V; v++) {
						__m256 lt;

						val = _mm256_fmadd_ps(
							acc[r][v], vmul,
							_mm256_load_ps(bias + g * G + v * W));
						lt = _mm256_cmp_ps(val, m, _CMP_LT_OQ);
						m = _mm256_blendv_ps(m, val, lt);
						jv = _mm256_add_epi32(
							_mm256_set1_epi32(g * G + v * W), iota);
						id = _mm256_castps_si256(_mm256_blendv_ps(
							_mm256_castsi256_ps(id),
							_mm256_castsi256_ps(jv), lt));
					}
					_mm256_storeu_ps(mstate + row[r] * W, m);
					_mm256_storeu_si256(
						(__m256i *)(istate + row[r] * W), id);
				}
			}
		}
	}
	for (i = 0; i < n; i++) {
		const float *mv = mstate + i * W;
		const int32_t *iv = istate + i * W;
		float best = mv[0];
		int32_t bi = iv[0];

		for (l = 1; l < W; l++)
			if (mv[l] < best || (mv[l] == best && iv[l] < bi)) {
				best = mv[l];
				bi = iv[l];
			}
		labels[i] = bi;
	}
}

AVX2 void
km_dots16_avx2(const float *x, size_t n, int d, const float *ct, float *out)
{
	enum { R = KM_R };
	const float *xr[R];
	size_t r0, row[R];
	int k, r;

	for (r0 = 0; r0 < n; r0 += R) {
		__m256 acc[R][2], c0, c1, bx;

		for (r = 0; r < R; r++) {
			row[r] = r0 + r < n ? r0 + r : n - 1;
			xr[r] = x + row[r] * d;
		}
#pragma GCC unroll 8
		for (r = 0; r < R; r++)
			acc[r][0] = acc[r][1] = _mm256_setzero_ps();
		for (k = 0; k < d; k++) {
			c0 = _mm256_loadu_ps(ct + k * 16);
			c1 = _mm256_loadu_ps(ct + k * 16 + 8);
#pragma GCC unroll 8
			for (r = 0; r < R; r++) {
				bx = _mm256_broadcast_ss(xr[r] + k);
				acc[r][0] = _mm256_fmadd_ps(bx, c0, acc[r][0]);
				acc[r][1] = _mm256_fmadd_ps(bx, c1, acc[r][1]);
			}
		}
#pragma GCC unroll 8
		for (r = 0; r < R; r++) {
			_mm256_storeu_ps(out + row[r] * 16, acc[r][0]);
			_mm256_storeu_ps(out + row[r] * 16 + 8, acc[r][1]);
		}
	}
}

/* lanes 0..d-k-1 of a partial vector, the rest 0 */
AVX2 static __m256
load_part_avx2(const float *p, int left)
{
	const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i mask;

	if (left >= 8)
		return _mm256_loadu_ps(p);
	if (left <= 0)
		return _mm256_setzero_ps();
	mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), idx);
	return _mm256_maskload_ps(p, mask);
}

/* (s0 lanes 0..7, s1 lanes 8..15) by the pairwise tree */
AVX2 static float
reduce16_avx2(__m256 s0, __m256 s1)
{
	__m256 s8 = _mm256_add_ps(s0, s1);
	__m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8),
	                       _mm256_extractf128_ps(s8, 1));
	__m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
	__m128 s1x = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));

	return _mm_cvtss_f32(s1x);
}

AVX2 float
km_dist2_avx2(const float *a, const float *b, int d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), t;
	int k;

	for (k = 0; k + 16 <= d; k += 16) {
		t = _mm256_sub_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k));
		s0 = _mm256_add_ps(s0, _mm256_mul_ps(t, t));
		t = _mm256_sub_ps(_mm256_loadu_ps(a + k + 8),
		                  _mm256_loadu_ps(b + k + 8));
		s1 = _mm256_add_ps(s1, _mm256_mul_ps(t, t));
	}
	if (k < d) {
		t = _mm256_sub_ps(load_part_avx2(a + k, d - k),
		                  load_part_avx2(b + k, d - k));
		s0 = _mm256_add_ps(s0, _mm256_mul_ps(t, t));
		if (d - k > 8) {
			t = _mm256_sub_ps(load_part_avx2(a + k + 8, d - k - 8),
			                  load_part_avx2(b + k + 8, d - k - 8));
			s1 = _mm256_add_ps(s1, _mm256_mul_ps(t, t));
		}
	}
	return reduce16_avx2(s0, s1);
}

AVX2 float
km_dot_avx2(const float *a, const float *b, int d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	int k;

	for (k = 0; k + 16 <= d; k += 16) {
		s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(a + k),
		                                     _mm256_loadu_ps(b + k)));
		s1 = _mm256_add_ps(s1, _mm256_mul_ps(_mm256_loadu_ps(a + k + 8),
		                                     _mm256_loadu_ps(b + k + 8)));
	}
	if (k < d) {
		s0 = _mm256_add_ps(s0, _mm256_mul_ps(load_part_avx2(a + k, d - k),
		                                     load_part_avx2(b + k, d - k)));
		if (d - k > 8)
			s1 = _mm256_add_ps(
				s1, _mm256_mul_ps(load_part_avx2(a + k + 8, d - k - 8),
				                  load_part_avx2(b + k + 8, d - k - 8)));
	}
	return reduce16_avx2(s0, s1);
}

AVX2 void
km_addrow_avx2(double *s, const float *x, int d)
{
	int k;

	for (k = 0; k + 4 <= d; k += 4)
		_mm256_storeu_pd(s + k,
		                 _mm256_add_pd(_mm256_loadu_pd(s + k),
		                               _mm256_cvtps_pd(_mm_loadu_ps(x + k))));
	for (; k < d; k++)
		s[k] += x[k];
}

/* ------------------------------------------------------------------ */
/* AVX-512: W = 16, V = 4                                              */

AVX512 void
km_argmin_avx512(const float *x, size_t n, int d, const float *pack,
                 const float *bias, int ngroups, int gblock, float mul,
                 float *mstate, int32_t *istate, int32_t *labels)
{
	enum { W = 16, V = 4, G = KM_G_AVX512, R = KM_R };
	const __m512 vmul = _mm512_set1_ps(mul), inf = _mm512_set1_ps(INFINITY);
	const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
	                                       10, 11, 12, 13, 14, 15);
	const float *xr[R], *p;
	size_t r0, i, row[R];
	int b0, b1, g, k, r, v;

	if (!n)
		return;
	for (i = 0; i < n; i++) {
		_mm512_storeu_ps(mstate + i * W, inf);
		_mm512_storeu_si512(istate + i * W, _mm512_setzero_si512());
	}
	for (b0 = 0; b0 < ngroups; b0 = b1) {
		b1 = b0 + gblock < ngroups ? b0 + gblock : ngroups;
		for (r0 = 0; r0 < n; r0 += R) {
			for (r = 0; r < R; r++) {
				row[r] = r0 + r < n ? r0 + r : n - 1;
				xr[r] = x + row[r] * d;
			}
			for (g = b0; g < b1; g++) {
				__m512 acc[R][V], c[V], bx, val, m;
				__m512i id;
				__mmask16 lt;

				p = pack + (size_t)g * d * G;
#pragma GCC unroll 8
				for (r = 0; r < R; r++)
#pragma GCC unroll 4
					for (v = 0; v < V; v++)
						acc[r][v] = _mm512_setzero_ps();
				for (k = 0; k < d; k++, p += G) {
#pragma GCC unroll 4
					for (v = 0; v < V; v++)
						c[v] = _mm512_load_ps(p + v * W);
#pragma GCC unroll 8
					for (r = 0; r < R; r++) {
						bx = _mm512_set1_ps(xr[r][k]);
#pragma GCC unroll 4
						for (v = 0; v < V; v++)
							acc[r][v] = _mm512_fmadd_ps(bx, c[v],
							                            acc[r][v]);
					}
				}
#pragma GCC unroll 8
				for (r = 0; r < R; r++) {
					m = _mm512_loadu_ps(mstate + row[r] * W);
					id = _mm512_loadu_si512(istate + row[r] * W);
#pragma GCC unroll 4
					for (v = 0; v < V; v++) {
						val = _mm512_fmadd_ps(
							acc[r][v], vmul,
							_mm512_load_ps(bias + g * G + v * W));
						lt = _mm512_cmp_ps_mask(val, m, _CMP_LT_OQ);
						m = _mm512_mask_mov_ps(m, lt, val);
						id = _mm512_mask_mov_epi32(
							id, lt,
							_mm512_add_epi32(
								_mm512_set1_epi32(g * G + v * W),
								iota));
					}
					_mm512_storeu_ps(mstate + row[r] * W, m);
					_mm512_storeu_si512(istate + row[r] * W, id);
				}
			}
		}
	}
	for (i = 0; i < n; i++) {
		__m512 m = _mm512_loadu_ps(mstate + i * W);
		__m512i id = _mm512_loadu_si512(istate + i * W);
		float best = _mm512_reduce_min_ps(m);
		__mmask16 eq = _mm512_cmp_ps_mask(m, _mm512_set1_ps(best),
		                                  _CMP_EQ_OQ);

		labels[i] = _mm512_mask_reduce_min_epi32(eq, id);
	}
}

AVX512 void
km_dots16_avx512(const float *x, size_t n, int d, const float *ct, float *out)
{
	enum { R = 8 };
	const float *xr[R];
	size_t r0, row[R];
	int k, r;

	for (r0 = 0; r0 < n; r0 += R) {
		__m512 acc[R], c;

		for (r = 0; r < R; r++) {
			row[r] = r0 + r < n ? r0 + r : n - 1;
			xr[r] = x + row[r] * d;
		}
#pragma GCC unroll 8
		for (r = 0; r < R; r++)
			acc[r] = _mm512_setzero_ps();
		for (k = 0; k < d; k++) {
			c = _mm512_loadu_ps(ct + k * 16);
#pragma GCC unroll 8
			for (r = 0; r < R; r++)
				acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(xr[r][k]), c,
				                         acc[r]);
		}
#pragma GCC unroll 8
		for (r = 0; r < R; r++)
			_mm512_storeu_ps(out + row[r] * 16, acc[r]);
	}
}

AVX512 static float
reduce16_avx512(__m512 s)
{
	__m256 lo = _mm512_castps512_ps256(s);
	__m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1));
	__m256 s8 = _mm256_add_ps(lo, hi);
	__m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8),
	                       _mm256_extractf128_ps(s8, 1));
	__m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
	__m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));

	return _mm_cvtss_f32(s1);
}

AVX512 float
km_dist2_avx512(const float *a, const float *b, int d)
{
	__m512 s = _mm512_setzero_ps(), t;
	__mmask16 mask;
	int k;

	for (k = 0; k + 16 <= d; k += 16) {
		t = _mm512_sub_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k));
		s = _mm512_add_ps(s, _mm512_mul_ps(t, t));
	}
	if (k < d) {
		mask = (__mmask16)((1u << (d - k)) - 1);
		t = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + k),
		                  _mm512_maskz_loadu_ps(mask, b + k));
		s = _mm512_add_ps(s, _mm512_mul_ps(t, t));
	}
	return reduce16_avx512(s);
}

AVX512 float
km_dot_avx512(const float *a, const float *b, int d)
{
	__m512 s = _mm512_setzero_ps();
	__mmask16 mask;
	int k;

	for (k = 0; k + 16 <= d; k += 16)
		s = _mm512_add_ps(s, _mm512_mul_ps(_mm512_loadu_ps(a + k),
		                                   _mm512_loadu_ps(b + k)));
	if (k < d) {
		mask = (__mmask16)((1u << (d - k)) - 1);
		s = _mm512_add_ps(s, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, a + k),
		                                   _mm512_maskz_loadu_ps(mask, b + k)));
	}
	return reduce16_avx512(s);
}

AVX512 void
km_addrow_avx512(double *s, const float *x, int d)
{
	int k;

	for (k = 0; k + 8 <= d; k += 8)
		_mm512_storeu_pd(s + k,
		                 _mm512_add_pd(_mm512_loadu_pd(s + k),
		                               _mm512_cvtps_pd(_mm256_loadu_ps(x + k))));
	for (; k < d; k++)
		s[k] += x[k];
}

#else /* not x86-64 with GCC or Clang: the portable code only */

int
km_have_avx2(void)
{
	return 0;
}

int
km_have_avx512(void)
{
	return 0;
}

/* never called: kmeans.c asks km_have_* first */
void
km_argmin_avx2(const float *x, size_t n, int d, const float *pack,
               const float *bias, int ngroups, int gblock, float mul,
               float *mstate, int32_t *istate, int32_t *labels)
{
	(void)x, (void)n, (void)d, (void)pack, (void)bias, (void)ngroups;
	(void)gblock, (void)mul, (void)mstate, (void)istate, (void)labels;
}

void
km_argmin_avx512(const float *x, size_t n, int d, const float *pack,
                 const float *bias, int ngroups, int gblock, float mul,
                 float *mstate, int32_t *istate, int32_t *labels)
{
	km_argmin_avx2(x, n, d, pack, bias, ngroups, gblock, mul, mstate,
	               istate, labels);
}

void km_dots16_avx2(const float *x, size_t n, int d, const float *ct, float *out) { (void)x, (void)n, (void)d, (void)ct, (void)out; }
void km_dots16_avx512(const float *x, size_t n, int d, const float *ct, float *out) { (void)x, (void)n, (void)d, (void)ct, (void)out; }
float km_dist2_avx2(const float *a, const float *b, int d) { (void)a, (void)b, (void)d; return 0; }
float km_dot_avx2(const float *a, const float *b, int d) { (void)a, (void)b, (void)d; return 0; }
float km_dist2_avx512(const float *a, const float *b, int d) { (void)a, (void)b, (void)d; return 0; }
float km_dot_avx512(const float *a, const float *b, int d) { (void)a, (void)b, (void)d; return 0; }
void km_addrow_avx2(double *s, const float *x, int d) { (void)s, (void)x, (void)d; }
void km_addrow_avx512(double *s, const float *x, int d) { (void)s, (void)x, (void)d; }

#endif
