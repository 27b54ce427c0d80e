/* See LICENSE file for copyright and license details. */
/*
 * augraph: the augmentation graph that discrete tokens induce between
 * images, and the spectrum of its normalised Laplacian.
 *
 * Dimension legend: N images, K tokens, C classes, E entries (an entry
 * is one token of one image with its count).
 *
 * Each image is the bag of the tokens of its patches: c_i(t) of image
 * i's patches have token t, and n_t = sum_i c_i(t).  The tokens link
 * two images when a masked patch of one and a masked patch of the other
 * share a token (Du, Wang and Wang, ICLR 2024, Figure 1), with weight
 *
 *	w(i, j) = sum_t c_i(t) c_j(t) / n_t
 *
 * the probability, up to the constant 1 / sum_t n_t, that a patch drawn
 * from the whole sample and a second patch drawn from among those with
 * its token belong to images i and j.  W = X S^-1 X^T, with X the
 * (N, K) counts and S = diag(n_t), is symmetric and positive
 * semidefinite.  Self-loops w(i, i) are kept (augraph(1) says why), so
 * the degree d_i = sum_j w(i, j) = sum_t c_i(t) is the number of
 * patches of image i, never 0.  The normalised Laplacian
 *
 *	L = I - D^-1/2 W D^-1/2
 *
 * has eigenvalues 0 = lambda_1 <= ... <= lambda_N <= 1, as many zeros
 * as the graph has connected components.
 *
 * The spectrum is computed on the smaller of two matrices with the
 * same non-zero eigenvalues: A = Y Y^T (N x N, the "images" side) or
 * Y^T Y (K x K, the "tokens" side), Y = D^-1/2 X S^-1/2; the
 * eigenvalues of L are 1 - those of A, and A has N - K more zeros than
 * Y^T Y.  LAPACK's dsyevr computes only the m largest.  All in double.
 *
 * The naive twin builds W, alpha and L with explicit loops from dense
 * counts and finds all N eigenvalues by cyclic Jacobi rotations, for
 * the tests (small N and K only).
 *
 * Nothing here exits or prints: functions return -1 and fill msg.
 */
#ifndef MIM_AUGRAPH_H
#define MIM_AUGRAPH_H

#include <stddef.h>
#include <stdint.h>

/* N images as sparse bags of tokens, by image (CSR) */
struct augraph_bags {
	size_t n;             /* N, images */
	size_t k;             /* K, tokens: 0 .. k-1, each in some image */
	const size_t *off;    /* (n + 1) image i's entries: off[i] .. off[i+1]-1 */
	const uint32_t *tok;  /* (E) an entry's token, increasing within an image */
	const uint32_t *cnt;  /* (E) its count c_i(t), at least 1 */
};

/* which matrix the spectrum is computed on */
enum {
	AUGRAPH_AUTO,   /* the smaller: tokens when K <= N */
	AUGRAPH_IMAGES, /* A, N x N, from W */
	AUGRAPH_TOKENS  /* Y^T Y, K x K */
};

/*
 * The largest order of matrix that LAPACK's 32-bit indices allow:
 * 46340^2 < 2^31.
 */
#define AUGRAPH_MAXORDER 46340

/*
 * The labelling error: the share of the edge weight (self-loops
 * included) between images of different classes,
 *
 *	alpha = sum_{y_i != y_j} w(i, j) / sum_{i,j} w(i, j)
 *	      = 1 - sum_t sum_y n_ty^2 / (n_t sum_t n_t)
 *
 * with n_ty the patches of class-y images with token t.  y (N) holds
 * labels from 0 to c-1.  O(C (E + K)) time, O(K) memory; NaN if out of
 * memory.
 */
double augraph_alpha(const struct augraph_bags *b, const int32_t *y, size_t c);

/*
 * The weights: w (N, N) row-major gets w(i, j) in its lower triangle
 * (j <= i); the upper triangle is left alone.  Tokens held by many
 * images are summed by BLAS dsyrk, the others pair by pair.
 */
int augraph_weights(const struct augraph_bags *b, double *w, char *msg,
                    size_t msglen);

/*
 * The m smallest eigenvalues of L in lam (m), ascending, 1 <= m <= N;
 * values below 8 n DBL_EPSILON (n the order of the matrix solved) are
 * set to 0, as within rounding of it.  side is AUGRAPH_AUTO, _IMAGES or
 * _TOKENS.  Returns the side used, or -1 with msg.
 */
int augraph_spectrum(const struct augraph_bags *b, size_t m, int side,
                     double *lam, char *msg, size_t msglen);

/*
 * The naive twin: w (N, N), all of it, *alpha, and all N eigenvalues of
 * L in lam (N), ascending, from explicit loops over dense counts
 * (O(N^2 K) time, O(N K) memory) and Jacobi rotations.  0 or -1 (out
 * of memory, or the rotations did not converge).
 */
int augraph_naive(const struct augraph_bags *b, const int32_t *y, double *w,
                  double *alpha, double *lam);

#endif
