/* See LICENSE file for copyright and license details. */
/*
 * gemm: the matrix products of the layers, on the calling thread.
 *
 *	c (M,N) = a (M,K) b (K,N)  [+ c]  [+ bias (N)]  [+ res (M,N)]
 *
 * with a(i,k) at a[i ai + k ak] (a row-major array: ai = K, ak = 1; the
 * transpose of one: ai = 1, ak = M), likewise b(k,j) at b[k bk + j bj],
 * and c and res row-major with row stride ldc.  acc keeps c's old
 * value; bias and res may be NULL.  Then, if epi is not NULL, an
 * element-wise layer on c, a block at a time (struct gemm_epi).
 *
 * On a CPU with AVX-512 the product is our own kernel (gemm.c): every
 * c(i,j) is summed over k in the same order, in blocks of GEMM_KC, with
 * fused multiply-adds, so a row's result does not depend on M, on the
 * other rows or on which thread computes it.  Elsewhere it is
 * OpenBLAS's cblas_sgemm (single-threaded: layers_threads), whose
 * rounding may depend on where a row falls in its blocking.
 *
 * Nothing here allocates (beyond the stack), exits or prints.
 */
#ifndef MIM_GEMM_H
#define MIM_GEMM_H

#include <stddef.h>

enum { GEMM_KC = 256, GEMM_NR = 32 };

/*
 * An epilogue, epi (NULL for none): epi->fn(epi, c + off, off, ldc, m,
 * n) is called on each m x n block of c (at offset off in c's layout)
 * as soon as the block is final, so that an element-wise layer after
 * the product finds it in the cache; out and in are arrays of c's
 * layout for it to write and to read (NULL where it needs none).  The
 * blocks cover c once.
 */
struct gemm_epi {
	void (*fn)(const struct gemm_epi *, float *c, long off, long ldc,
	           long m, long n);
	float *out;
	const float *in;
};

void gemm(long M, long N, long K, const float *a, long ai, long ak,
          const float *b, long bk, long bj, const float *bp, float *c,
          long ldc, int acc, const float *bias, const float *res,
          const struct gemm_epi *epi);

/*
 * bp, if not NULL, is b as gemm_pack left it, in gemm_packsize(N, K)
 * floats: for a b used in many products (a layer's weight, which every
 * slab of rows uses), copied into the kernel's layout once instead of
 * for each product.  The same bytes either way.  OpenBLAS packs for
 * itself: gemm_pack then leaves bp alone, and gemm reads b.
 */
size_t gemm_packsize(long N, long K);
void gemm_pack(float *bp, long N, long K, const float *b, long bk, long bj);
/* columns [j0, j1) of b only (j0 a multiple of GEMM_NR, j1 one or N),
 * where gemm_pack puts them: b packed in parts, each column once, is
 * gemm_pack's bytes */
void gemm_pack_part(float *bp, long N, long K, const float *b, long bk,
                    long bj, long j0, long j1);

/* 1 if gemm uses its own AVX-512 kernel on this CPU; gemm_force(0)
 * makes it use OpenBLAS (for the tests), gemm_force(-1) restores */
int gemm_native(void);
void gemm_force(int native);

#endif
