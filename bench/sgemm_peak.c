/* See LICENSE file for copyright and license details. */
/*
 * sgemm_peak: OpenBLAS single-precision peak of this machine, for the
 * vit-s-gflops benchmark.
 *
 *	sgemm_peak N threads reps
 *
 * Times cblas_sgemm of two N x N matrices (row-major, no transpose,
 * C = A B) `reps' times after one untimed warm-up call, with
 * openblas_set_num_threads(threads), and prints the best rate as
 * "gflops=G seconds=S" (2 N^3 flops per call).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
	int n, t, reps, r;
	size_t i, nn;
	float *a, *b, *c;
	double best = 0, t0, s;

	if (argc != 4 || (n = atoi(argv[1])) < 1 || (t = atoi(argv[2])) < 1 ||
	    (reps = atoi(argv[3])) < 1) {
		fprintf(stderr, "usage: sgemm_peak N threads reps\n");
		return 2;
	}
	nn = (size_t)n * n;
	a = malloc(nn * sizeof(*a));
	b = malloc(nn * sizeof(*b));
	c = malloc(nn * sizeof(*c));
	if (!a || !b || !c) {
		fprintf(stderr, "sgemm_peak: out of memory\n");
		return 1;
	}
	srand(1);
	for (i = 0; i < nn; i++) {
		a[i] = (float)rand() / RAND_MAX - 0.5f;
		b[i] = (float)rand() / RAND_MAX - 0.5f;
	}
	openblas_set_num_threads(t);
	for (r = -1; r < reps; r++) {
		t0 = now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
		            1.0f, a, n, b, n, 0.0f, c, n);
		s = now() - t0;
		if (r >= 0 && (best == 0 || s < best))
			best = s;
	}
	printf("gflops=%.2f seconds=%.6f\n", 2.0 * n * n * n / best / 1e9, best);
	free(a);
	free(b);
	free(c);
	return 0;
}
