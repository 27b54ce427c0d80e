/* See LICENSE file for copyright and license details. */
/*
 * mkfeatures: synthetic features for the kmeans-features benchmark.
 *
 *	mkfeatures out.tsr out.npy n d
 *
 * Writes n rows of d f32 values, a Gaussian mixture: 2048 centres drawn
 * from N(0, 1) in every coordinate, each row one centre (drawn
 * uniformly) plus N(0, 0.7^2) noise.  The same rows go to out.tsr as
 * `features' records of 10000 rows [n, d] (meta batch=i), for
 * kmeans-fit -f features, and to out.npy as one f32 array [n, d], for
 * the peers.  A fixed-seed xorshift generator makes the output the same
 * on every run.  Built by bench/run against libmim.a; not installed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

#define NCENTRES 2048
#define BATCH 10000

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* uniform in (0, 1) */
static double
unif(void)
{
	return ((next() >> 11) + 0.5) / 9007199254740992.0;
}

static double
gauss(void)
{
	return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif());
}

static int
npy_header(FILE *fp, long n, long d)
{
	char h[128];
	int len;

	memset(h, ' ', sizeof h);
	memcpy(h, "\x93NUMPY\x01\x00", 8);
	len = snprintf(h + 10, sizeof h - 10,
	    "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %ld), }",
	    n, d);
	if (len < 0 || len >= (int)sizeof h - 11)
		return -1;
	h[10 + len] = ' ';
	h[8] = (sizeof h - 10) & 0xff;
	h[9] = (sizeof h - 10) >> 8;
	h[sizeof h - 1] = '\n';
	return fwrite(h, 1, sizeof h, fp) == sizeof h ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct tsr_writer w;
	struct tensor t;
	FILE *ft, *fn;
	float *centre, *row;
	long n, d, i, j, b, m;
	char msg[256];
	uint64_t dims[2];

	if (argc != 5 || (n = atol(argv[3])) <= 0 || (d = atol(argv[4])) <= 0) {
		fprintf(stderr, "usage: mkfeatures out.tsr out.npy n d\n");
		return 2;
	}
	if (!(ft = fopen(argv[1], "wb")) || !(fn = fopen(argv[2], "wb"))) {
		perror("mkfeatures");
		return 1;
	}
	if (!(centre = malloc(sizeof *centre * NCENTRES * d))) {
		perror("mkfeatures");
		return 1;
	}
	for (i = 0; i < NCENTRES * d; i++)
		centre[i] = (float)gauss();
	if (npy_header(fn, n, d) < 0) {
		perror(argv[2]);
		return 1;
	}
	tsr_writer_init(&w, ft, argv[1], 0);
	tensor_init(&t);
	for (b = 0; b * BATCH < n; b++) {
		m = n - b * BATCH < BATCH ? n - b * BATCH : BATCH;
		dims[0] = m;
		dims[1] = d;
		if (tensor_shape(&t, "features", TSR_F32, 2, dims, msg,
		    sizeof msg) < 0 ||
		    tensor_meta_setf(&t, "batch", "%ld", b) < 0 ||
		    tensor_meta_set(&t, "dims", "n,d") < 0) {
			fprintf(stderr, "mkfeatures: %s\n", msg);
			return 1;
		}
		row = t.data;
		for (i = 0; i < m; i++) {
			const float *c = centre + (next() % NCENTRES) * d;

			for (j = 0; j < d; j++)
				row[i * d + j] = c[j] + 0.7f * (float)gauss();
		}
		if (tsr_write(&w, &t, 0) < 0) {
			fprintf(stderr, "mkfeatures: %s\n", w.msg);
			return 1;
		}
		if (fwrite(t.data, sizeof(float), m * d, fn) != (size_t)(m * d)) {
			perror(argv[2]);
			return 1;
		}
	}
	if (tsr_finish(&w) < 0 || fclose(ft) != 0 || fclose(fn) != 0) {
		fprintf(stderr, "mkfeatures: cannot finish the output\n");
		return 1;
	}
	tensor_free(&t);
	tsr_writer_free(&w);
	free(centre);
	return 0;
}
