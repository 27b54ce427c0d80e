/* See LICENSE file for copyright and license details. */
/*
 * kmeans_simd: the x86 kernels behind kmeans.c (private to it and to
 * tests/unit/unit-kmeans.c).
 *
 * The argmin kernels read the centroids packed in groups of G = W*V
 * (W floats a vector, V vectors a group):
 *
 *	pack  [ngroups][d][G]  pack[(g*d + k)*G + l] = c[g*G + l][k]
 *	bias  [ngroups*G]      ||c||^2 (L2), 0 (dot), +inf for padding
 *
 * and give every row the least v_j = fma(acc_j, mul, bias_j), acc_j the
 * dot product x.c_j summed by fused multiply-adds in the order k = 0, 1,
 * ..., d-1 (so both ISAs give the same bits), the lowest j on ties.
 * mul is -2 (squared L2 up to ||x||^2) or -1 (greatest dot product).
 *
 * The row helpers (dist2, dot, addrow) compute exactly what their
 * portable twins in kmeans.c compute: 16 lanes, lane l summing the
 * elements l, l+16, ... with a multiply then an add, then the pairwise
 * tree (l, l+8), (l, l+4), (l, l+2), (l, l+1).
 */
#ifndef MIM_KMEANS_SIMD_H
#define MIM_KMEANS_SIMD_H

#include <stddef.h>
#include <stdint.h>

enum {
	KM_R = 6,        /* rows a micro-tile, both ISAs */
	KM_G_AVX2 = 16,  /* 2 vectors of 8 */
	KM_G_AVX512 = 64 /* 4 vectors of 16 */
};

/*
 * n rows of x (n, d); gblock groups at a time (the cache block);
 * mstate, istate: n*16 floats and n*16 int32 of scratch (n*W used).
 * pack and bias must be 64-byte aligned.
 */
void km_argmin_avx2(const float *x, size_t n, int d, const float *pack,
                    const float *bias, int ngroups, int gblock, float mul,
                    float *mstate, int32_t *istate, int32_t *labels);
void km_argmin_avx512(const float *x, size_t n, int d, const float *pack,
                      const float *bias, int ngroups, int gblock, float mul,
                      float *mstate, int32_t *istate, int32_t *labels);

/*
 * Dot products of n rows of x (n, d) with up to 16 rows packed as
 * ct [d][16] (unused lanes 0): out (n, 16), FMA chains in k order.
 */
void km_dots16_avx2(const float *x, size_t n, int d, const float *ct,
                    float *out);
void km_dots16_avx512(const float *x, size_t n, int d, const float *ct,
                      float *out);

float km_dist2_avx2(const float *a, const float *b, int d);
float km_dot_avx2(const float *a, const float *b, int d);
float km_dist2_avx512(const float *a, const float *b, int d);
float km_dot_avx512(const float *a, const float *b, int d);
/* s[k] += (double)x[k] */
void km_addrow_avx2(double *s, const float *x, int d);
void km_addrow_avx512(double *s, const float *x, int d);

int km_have_avx2(void);   /* avx2 and fma */
int km_have_avx512(void); /* avx512f */

#endif
