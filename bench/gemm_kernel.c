/* See LICENSE file for copyright and license details. */
/*
 * gemm_kernel: our gemm (lib/gemm.c) against OpenBLAS's cblas_sgemm on
 * one thread, for the gemm-vs-openblas benchmark.
 *
 *	gemm_kernel reps
 *
 * Times the products of a vit-s training step as one thread of two
 * computes them (its slab of rows): for the encoder (dim 384, MLP 1536,
 * 8 images x 50 visible tokens / 2 = 200 rows) and the decoder (dim
 * 256, MLP 1024, 8 x 197 / 2 = 788 rows), the forward product x W, the
 * weight gradient x^T dy and the input gradient dy W^T of each linear
 * layer shape; each product `reps' times after one untimed call, the
 * best of each kept.  Our side gets b packed beforehand (gemm_pack), as
 * the layers pack their weights once a step, except for the weight
 * gradient, whose b is the activations.  Prints one line:
 *
 *	ours_s=S blas_s=S ours_gflops=G blas_gflops=G gflop=F
 *
 * (the sums over the products of the best times).  OpenBLAS runs on
 * one thread (openblas_set_num_threads(1)); the pin of OPENBLAS_CORETYPE
 * picks its kernel, ours is AVX-512 wherever the CPU has it.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "gemm.h"
#include "util.h"

void openblas_set_num_threads(int);

enum { FWD, DW, DX };

static float *
randoms(long n)
{
	float *p = malloc((size_t)n * sizeof(*p));
	long i;

	for (i = 0; p && i < n; i++)
		p[i] = (float)rand() / RAND_MAX - 0.5f;
	return p;
}

/*
 * c (M,N) = a (M,K) b (K,N), the layout of `form': FWD a, b row-major;
 * DW a transposed (stored K x M); DX b transposed (stored N x K).  The
 * best of reps seconds of each side in *ours, *blas; 0 on success.
 */
static int
product(long M, long N, long K, int form, int reps, double *ours,
        double *blas)
{
	float *a = randoms(M * K), *b = randoms(K * N), *c = randoms(M * N);
	float *bp = malloc(gemm_packsize(N, K) * sizeof(*bp));
	long ai = K, ak = 1, bk = N, bj = 1;
	const float *pre = form == DW ? NULL : bp;
	double t;
	int r;

	if (!a || !b || !c || !bp)
		return -1;
	if (form == DW)
		ai = 1, ak = M;
	if (form == DX)
		bk = 1, bj = K;
	*ours = *blas = 1e30;
	gemm_pack(bp, N, K, b, bk, bj);
	for (r = -1; r < reps; r++) {
		t = monotonic();
		gemm(M, N, K, a, ai, ak, b, bk, bj, gemm_native() ? pre : NULL,
		     c, N, 0, NULL, NULL, NULL);
		t = monotonic() - t;
		if (r >= 0 && t < *ours)
			*ours = t;
		t = monotonic();
		cblas_sgemm(CblasRowMajor, ak == 1 ? CblasNoTrans : CblasTrans,
		            bj == 1 ? CblasNoTrans : CblasTrans, M, N, K, 1.0f, a,
		            ak == 1 ? ai : ak, b, bj == 1 ? bk : bj, 0.0f, c, N);
		t = monotonic() - t;
		if (r >= 0 && t < *blas)
			*blas = t;
	}
	free(a), free(b), free(c), free(bp);
	return 0;
}

int
main(int argc, char **argv)
{
	/* rows, width, MLP width of the encoder and decoder slabs */
	static const long part[2][3] = { { 200, 384, 1536 }, { 788, 256, 1024 } };
	double os = 0, bs = 0, o, b, flop = 0;
	int reps, p, f, s;

	if (argc != 2 || (reps = atoi(argv[1])) < 1) {
		fprintf(stderr, "usage: gemm_kernel reps\n");
		return 2;
	}
	openblas_set_num_threads(1);
	for (p = 0; p < 2; p++) {
		long m = part[p][0], d = part[p][1], h = part[p][2];
		/* qkv, attention projection, MLP in, MLP out: (in, out) */
		long shape[4][2] = { { d, 3 * d }, { d, d }, { d, h }, { h, d } };

		for (s = 0; s < 4; s++)
			for (f = FWD; f <= DX; f++) {
				long in = shape[s][0], out = shape[s][1];
				long M = f == DW ? in : m, N = f == DX ? in : out;
				long K = f == DW ? m : f == DX ? out : in;

				if (product(M, N, K, f, reps, &o, &b) < 0) {
					fprintf(stderr, "gemm_kernel: out of memory\n");
					return 1;
				}
				os += o, bs += b, flop += 2.0 * M * N * K;
			}
	}
	printf("ours_s=%.6f blas_s=%.6f ours_gflops=%.1f blas_gflops=%.1f "
	       "gflop=%.3f\n", os, bs, flop / os / 1e9, flop / bs / 1e9,
	       flop / 1e9);
	return 0;
}
