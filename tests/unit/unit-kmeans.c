/* See LICENSE file for copyright and license details. */
/*
 * unit-kmeans: lib/kmeans.c against its naive twins, printed as TAP.
 *
 *   unit-kmeans
 *
 * Every kernel this CPU runs (blas, avx2, avx512) is compared with
 * kmeans_assign_naive on random data over many (N, D, K) -- D = 1, K = 1,
 * N not a multiple of any block, several centroid blocks -- where a label
 * may differ only on a near-tie, and the reported distance must be the
 * exact kmeans_dist2 (kmeans_dot) of the chosen centroid.  Then: exact
 * ties go to the lowest index; spherical assignment; accumulation equals
 * a plain row-order loop bit for bit; thread counts 1, 2 and 3 give the
 * same bits; the mini-batch update equals a hand computation; k-means++
 * and random seeding are deterministic and pick rows of the data.
 *
 * Output: "ok N - ..." or "not ok N - ..." per check, diagnostics on
 * "# " lines, the plan "1..N" last; the exit status is 1 if any failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"
#include "util.h"
#include "tap.h"


static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "unit-kmeans: out of memory\n");
		exit(2);
	}
	return p;
}

static void
fill(float *x, size_t n, struct rng *r, float lo, float hi)
{
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = lo + (hi - lo) * (float)rng_uniform(r);
}

static int
reldiff(double a, double b, double tol)
{
	return fabs(a - b) > tol * (1 + fabs(b));
}

/* ------------------------------------------------------------------ */

/*
 * kernel vs naive on one shape: 0 if all agree; counts near-ties.
 * A label may differ only if both centroids are within tol of the
 * nearest (the kernels round ||c||^2 - 2x.c, not (x-c)^2).
 */
static int
assign_case(struct kmeans_ws *ws, size_t n, int d, int k, int spherical,
            struct rng *r, int *nties, char *why, size_t whylen)
{
	float *x = xmalloc(n * d * sizeof(float));
	float *c = xmalloc((size_t)k * d * sizeof(float));
	float *cn = xmalloc(k * sizeof(float));
	float *df = xmalloc(n * sizeof(float)), *dn = xmalloc(n * sizeof(float));
	int32_t *lf = xmalloc(n * sizeof(int32_t));
	int32_t *ln = xmalloc(n * sizeof(int32_t));
	double sf, sn, a, b;
	size_t i;
	int bad = 0;

	fill(x, n * d, r, -1, 1);
	fill(c, (size_t)k * d, r, -1, 1);
	if (spherical) {
		kmeans_normalize(x, n, d);
		kmeans_normalize(c, k, d);
	}
	kmeans_norms(c, k, d, cn);
	sf = kmeans_assign(ws, x, n, c, cn, spherical, lf, df);
	sn = kmeans_assign_naive(x, n, d, c, k, spherical, ln, dn);
	for (i = 0; i < n && !bad; i++) {
		const float *xi = x + i * d;

		if (lf[i] < 0 || lf[i] >= k) {
			snprintf(why, whylen, "row %zu: label %d out of [0,%d)", i,
			         (int)lf[i], k);
			bad = 1;
			break;
		}
		a = spherical ? kmeans_dot(xi, c + (size_t)lf[i] * d, d)
		              : kmeans_dist2(xi, c + (size_t)lf[i] * d, d);
		if (a != df[i]) {
			snprintf(why, whylen, "row %zu: dist %.9g, kmeans_dist2 %.9g",
			         i, df[i], a);
			bad = 1;
			break;
		}
		if (lf[i] == ln[i])
			continue;
		b = dn[i];
		if (fabs(a - b) > 1e-5 * (1 + fabs(b))) {
			snprintf(why, whylen, "row %zu: label %d (%.9g) vs naive %d "
			         "(%.9g)", i, (int)lf[i], a, (int)ln[i], b);
			bad = 1;
			break;
		}
		(*nties)++;
	}
	if (!bad && reldiff(sf, sn, 1e-5)) {
		snprintf(why, whylen, "inertia %.17g vs naive %.17g", sf, sn);
		bad = 1;
	}
	free(x);
	free(c);
	free(cn);
	free(df);
	free(dn);
	free(lf);
	free(ln);
	return bad;
}

static void
test_assign(int kernel)
{
	static const int ds[] = { 1, 2, 3, 5, 8, 15, 16, 17, 33, 64, 100 };
	static const int ks[] = { 1, 2, 3, 16, 17, 63, 64, 65, 130 };
	static const size_t ns[] = { 1, 7, 1031 };
	struct rng r;
	char why[256] = "";
	size_t di, ki, ni;
	int bad, ties, sph;

	for (sph = 0; sph < 2; sph++)
		for (di = 0; di < LEN(ds); di++) {
			bad = 0;
			ties = 0;
			rng_seed(&r, 42, ds[di]);
			for (ki = 0; ki < LEN(ks) && !bad; ki++) {
				struct kmeans_ws *ws = kmeans_ws_new(ks[ki], ds[di], 1);

				if (!ws || kmeans_ws_set_kernel(ws, kernel) < 0) {
					snprintf(why, sizeof(why), "no workspace");
					bad = 1;
				}
				for (ni = 0; ni < LEN(ns) && !bad; ni++)
					if (assign_case(ws, ns[ni], ds[di], ks[ki], sph, &r,
					                &ties, why, sizeof(why))) {
						diag("N=%zu D=%d K=%d: %s", ns[ni], ds[di],
						     ks[ki], why);
						bad = 1;
					}
				kmeans_ws_free(ws);
			}
			ok(!bad, "assign %s%s, D=%d: labels as naive (%d near-ties), "
			   "dist exact, for N in 1 7 1031, K in 1..130",
			   kmeans_kernel_name(kernel), sph ? " spherical" : "",
			   ds[di], ties);
		}
}

/* shapes with several cache blocks of centroids and of rows */
static void
test_assign_blocks(int kernel)
{
	static const struct { size_t n; int d, k; } cs[] = {
		{ 3001, 384, 200 }, { 777, 3, 1100 }, { 5000, 16, 256 },
		{ 100, 1, 1500 },
	};
	struct rng r;
	char why[256] = "";
	size_t i;
	int bad, ties;

	rng_seed(&r, 7, 7);
	for (i = 0; i < LEN(cs); i++) {
		struct kmeans_ws *ws = kmeans_ws_new(cs[i].k, cs[i].d, 1);

		ties = 0;
		bad = !ws || kmeans_ws_set_kernel(ws, kernel) < 0 ||
		      assign_case(ws, cs[i].n, cs[i].d, cs[i].k, 0, &r, &ties, why,
		                  sizeof(why));
		if (bad)
			diag("%s", why);
		ok(!bad, "assign %s, N=%zu D=%d K=%d: labels as naive (%d "
		   "near-ties)",
		   kmeans_kernel_name(kernel), cs[i].n, cs[i].d, cs[i].k, ties);
		kmeans_ws_free(ws);
	}
}

/* exact ties go to the lowest index */
static void
test_ties(int kernel)
{
	float c1[] = { -1, 1, 3 }, x1[] = { 0, 2, 1 }, cn1[3];
	int32_t l1[3];
	struct kmeans_ws *ws;
	struct rng r;
	float *x, *c, *cn;
	int32_t *lab;
	int k = 70, d = 16, i, bad = 0;

	/* D=1: 0 is as near -1 as 1; 2 as near 1 as 3; 1 is on centroid 1 */
	ws = kmeans_ws_new(3, 1, 1);
	kmeans_ws_set_kernel(ws, kernel);
	kmeans_norms(c1, 3, 1, cn1);
	kmeans_assign(ws, x1, 3, c1, cn1, 0, l1, NULL);
	ok(l1[0] == 0 && l1[1] == 1 && l1[2] == 1,
	   "ties %s: equidistant rows go to the lowest centroid (%d %d %d)",
	   kmeans_kernel_name(kernel), (int)l1[0], (int)l1[1], (int)l1[2]);
	kmeans_ws_free(ws);

	/*
	 * centroid 5 repeated as 21, 37 and 69: the same SIMD lane (j mod 8
	 * and mod 16), later vectors and another group of 64
	 */
	rng_seed(&r, 3, 3);
	x = xmalloc(100 * d * sizeof(float));
	c = xmalloc(k * d * sizeof(float));
	cn = xmalloc(k * sizeof(float));
	lab = xmalloc(100 * sizeof(int32_t));
	fill(c, (size_t)k * d, &r, -1, 1);
	kmeans_normalize(c, k, d); /* for the dot product too */
	memcpy(c + 21 * d, c + 5 * d, d * sizeof(float));
	memcpy(c + 37 * d, c + 5 * d, d * sizeof(float));
	memcpy(c + 69 * d, c + 5 * d, d * sizeof(float));
	for (i = 0; i < 100; i++)
		memcpy(x + i * d, c + 69 * d, d * sizeof(float));
	ws = kmeans_ws_new(k, d, 2);
	kmeans_ws_set_kernel(ws, kernel);
	kmeans_norms(c, k, d, cn);
	kmeans_assign(ws, x, 100, c, cn, 0, lab, NULL);
	for (i = 0; i < 100; i++)
		bad |= lab[i] != 5;
	kmeans_assign(ws, x, 100, c, cn, 1, lab, NULL); /* dot: a tie too */
	for (i = 0; i < 100; i++)
		bad |= lab[i] != 5;
	ok(!bad, "ties %s: rows on four equal centroids take the first, "
	   "L2 and dot", kmeans_kernel_name(kernel));
	kmeans_ws_free(ws);
	free(x);
	free(c);
	free(cn);
	free(lab);
}

/* the same bits whatever the thread count */
static void
test_threads(int kernel)
{
	size_t n = 20011;
	int d = 24, k = 77, t, same = 1, sums_same = 1;
	float *x = xmalloc(n * d * sizeof(float));
	float *c = xmalloc((size_t)k * d * sizeof(float));
	float *cn = xmalloc(k * sizeof(float));
	float *dist[3];
	int32_t *lab[3];
	double s[3], *sums[3];
	int64_t *cnt[3];
	struct rng r;

	rng_seed(&r, 11, 0);
	fill(x, n * d, &r, -3, 3);
	fill(c, (size_t)k * d, &r, -3, 3);
	kmeans_norms(c, k, d, cn);
	for (t = 0; t < 3; t++) {
		struct kmeans_ws *ws = kmeans_ws_new(k, d, t + 1);

		kmeans_ws_set_kernel(ws, kernel);
		dist[t] = xmalloc(n * sizeof(float));
		lab[t] = xmalloc(n * sizeof(int32_t));
		sums[t] = calloc((size_t)k * d, sizeof(double));
		cnt[t] = calloc(k, sizeof(int64_t));
		s[t] = kmeans_assign(ws, x, n, c, cn, 0, lab[t], dist[t]);
		kmeans_accumulate(ws, x, n, lab[t], sums[t], cnt[t]);
		kmeans_ws_free(ws);
	}
	for (t = 1; t < 3; t++) {
		same &= !memcmp(lab[0], lab[t], n * sizeof(int32_t)) &&
		        !memcmp(dist[0], dist[t], n * sizeof(float)) &&
		        !memcmp(&s[0], &s[t], sizeof(double));
		sums_same &= !memcmp(sums[0], sums[t], (size_t)k * d * sizeof(double)) &&
		             !memcmp(cnt[0], cnt[t], k * sizeof(int64_t));
	}
	ok(same, "threads %s: 1, 2 and 3 threads give identical labels, "
	   "distances and inertia", kmeans_kernel_name(kernel));
	ok(sums_same, "threads %s: 1, 2 and 3 threads give identical sums "
	   "and counts", kmeans_kernel_name(kernel));
	for (t = 0; t < 3; t++) {
		free(dist[t]);
		free(lab[t]);
		free(sums[t]);
		free(cnt[t]);
	}
	free(x);
	free(c);
	free(cn);
}

static void
test_accumulate(void)
{
	size_t n = 5003, i;
	int d = 13, k = 9, j, t;
	float *x = xmalloc(n * d * sizeof(float));
	int32_t *lab = xmalloc(n * sizeof(int32_t));
	double *want = calloc((size_t)k * d, sizeof(double));
	double *got = calloc((size_t)k * d, sizeof(double));
	int64_t wc[9] = { 0 }, gc[9] = { 0 };
	struct rng r;
	int good = 1;

	rng_seed(&r, 5, 5);
	fill(x, n * d, &r, -100, 100);
	for (i = 0; i < n; i++) {
		/* uneven: cluster 3 gets most rows, 7 none */
		lab[i] = rng_below(&r, 4) ? 3 : (int32_t)rng_below(&r, 7);
		wc[lab[i]]++;
		for (j = 0; j < d; j++)
			want[(size_t)lab[i] * d + j] += x[i * d + j];
	}
	for (t = 1; t <= 4; t++) {
		struct kmeans_ws *ws = kmeans_ws_new(k, d, t);

		memset(got, 0, (size_t)k * d * sizeof(double));
		memset(gc, 0, sizeof(gc));
		kmeans_accumulate(ws, x, n, lab, got, gc);
		good &= !memcmp(got, want, (size_t)k * d * sizeof(double)) &&
		      !memcmp(gc, wc, sizeof(gc));
		/* it adds to what is there */
		kmeans_accumulate(ws, x, 1, lab, got, gc);
		good &= gc[lab[0]] == wc[lab[0]] + 1;
		kmeans_ws_free(ws);
	}
	ok(good, "accumulate: sums equal a row-order double loop bit for bit, "
	   "1 to 4 threads, uneven clusters");
	free(x);
	free(lab);
	free(want);
	free(got);
}

/* a batch's sums and counts by hand, then kmeans_minibatch_apply */
static void
minibatch_update(const float *x, size_t n, int d, int k,
                 const int32_t *labels, float *c, int64_t *counts)
{
	double sums[16] = { 0 };
	int64_t b[8] = { 0 };
	size_t i;
	int kk;

	for (i = 0; i < n; i++) {
		b[labels[i]]++;
		for (kk = 0; kk < d; kk++)
			sums[labels[i] * d + kk] += x[i * d + kk];
	}
	kmeans_minibatch_apply(sums, b, k, d, c, counts);
}

static void
test_minibatch(void)
{
	float c[] = { 0, 0, 10, 10, 5, 5 };
	float x[] = { 1, 1, 3, 3, 9, 9.5f };
	int32_t lab[] = { 0, 0, 1 };
	int64_t cnt[] = { 2, 0, 7 };
	float c2[] = { 1, 2 }, x2[] = { 4, 0, 2, 5, 3, 3 };
	int32_t lab2[] = { 0, 0, 0 };
	int64_t cnt2[] = { 5 };
	double w0, w1;

	minibatch_update(x, 3, 2, 3, lab, c, cnt);
	/* (0*2 + 1+3) / 4 = 1; (10*0 + 9) / 1 = 9; centroid 2 untouched */
	ok(c[0] == 1 && c[1] == 1 && c[2] == 9 && c[3] == 9.5f &&
	   c[4] == 5 && c[5] == 5 && cnt[0] == 4 && cnt[1] == 1 &&
	   cnt[2] == 7,
	   "minibatch: centroid moves to (c*n + sum) / (n + b), counts add");
	minibatch_update(x2, 3, 2, 1, lab2, c2, cnt2);
	/* (1*5 + 9) / 8 = 1.75; (2*5 + 8) / 8 = 2.25 */
	w0 = (1.0 * 5 + 4 + 2 + 3) / 8;
	w1 = (2.0 * 5 + 0 + 5 + 3) / 8;
	ok(c2[0] == (float)w0 && c2[1] == (float)w1 && cnt2[0] == 8,
	   "minibatch: learning rate b/(n+b) with history (%g %g)", c2[0],
	   c2[1]);
}

static void
test_seeding(void)
{
	/* 4 tight blobs far apart, 50 rows each, in a shuffled order */
	size_t n = 200, i;
	int d = 3, k = 4, j, blob[4], good, isrow;
	float *x = xmalloc(n * d * sizeof(float)), c1[12], c2[12], c3[12];
	char msg[128];
	struct rng r, a;

	rng_seed(&r, 9, 9);
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			x[i * d + j] = 100.0f * ((i % 4) == (size_t)j) +
			               (float)rng_uniform(&r);
	rng_seed(&a, 1, 1);
	good = !kmeans_plusplus(x, n, d, k, &a, c1, msg, sizeof(msg));
	rng_seed(&a, 1, 1);
	good &= !kmeans_plusplus(x, n, d, k, &a, c2, msg, sizeof(msg));
	ok(good && !memcmp(c1, c2, sizeof(c1)),
	   "k-means++: the same seed gives the same centroids");
	rng_seed(&a, 2, 1);
	kmeans_plusplus(x, n, d, k, &a, c3, msg, sizeof(msg));
	ok(memcmp(c1, c3, sizeof(c1)) != 0,
	   "k-means++: another seed gives other centroids");
	memset(blob, 0, sizeof(blob));
	good = 1;
	for (j = 0; j < k; j++) {
		int b = 3;

		for (isrow = 0, i = 0; i < n; i++)
			isrow |= !memcmp(c1 + j * d, x + i * d, d * sizeof(float));
		good &= isrow;
		if (c1[j * d] > 50)
			b = 1;
		else if (c1[j * d + 1] > 50)
			b = 2;
		else if (c1[j * d + 2] > 50)
			b = 3;
		else
			b = 0;
		blob[b]++;
	}
	ok(good && blob[0] == 1 && blob[1] == 1 && blob[2] == 1 && blob[3] == 1,
	   "k-means++: picks rows of x, one in each of 4 separated blobs");
	ok(kmeans_plusplus(x, 3, d, k, &a, c1, msg, sizeof(msg)) < 0 &&
	   strstr(msg, "4 centroids from 3 rows"),
	   "k-means++: fewer rows than K is an error (%s)", msg);

	rng_seed(&a, 4, 4);
	good = !kmeans_random_init(x, n, d, k, &a, c1, msg, sizeof(msg));
	rng_seed(&a, 4, 4);
	good &= !kmeans_random_init(x, n, d, k, &a, c2, msg, sizeof(msg));
	for (j = 0; j < k; j++) {
		int l;

		for (isrow = 0, i = 0; i < n; i++)
			isrow |= !memcmp(c1 + j * d, x + i * d, d * sizeof(float));
		good &= isrow;
		for (l = 0; l < j; l++)
			good &= memcmp(c1 + j * d, c1 + l * d, d * sizeof(float)) != 0;
	}
	ok(good && !memcmp(c1, c2, sizeof(c1)),
	   "random init: k distinct rows, the same for the same seed");
	ok(kmeans_random_init(x, 3, d, k, &a, c1, msg, sizeof(msg)) < 0,
	   "random init: fewer rows than K is an error");
	free(x);
}

static void
test_misc(void)
{
	float x[] = { 3, 4, 0, 0, 0, 0, 1, 2, 2 }, nrm[3];
	float a[40], b[40];
	struct rng r;
	int d, good = 1;

	kmeans_norms(x, 3, 3, nrm);
	ok(nrm[0] == 25 && nrm[1] == 0 && nrm[2] == 9,
	   "norms: squared L2 norms of rows");
	kmeans_normalize(x, 3, 3);
	ok(x[0] == 0.6f && x[1] == 0.8f && x[3] == 0 && x[4] == 0 &&
	   fabsf(x[6] * x[6] + x[7] * x[7] + x[8] * x[8] - 1) < 1e-6,
	   "normalize: unit rows, a zero row stays zero");
	rng_seed(&r, 1, 2);
	for (d = 1; d <= 40; d++) {
		double s = 0, p = 0;
		int i;

		fill(a, d, &r, -1, 1);
		fill(b, d, &r, -1, 1);
		for (i = 0; i < d; i++) {
			s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
			p += (double)a[i] * b[i];
		}
		good &= !reldiff(kmeans_dist2(a, b, d), s, 1e-5) &&
		      fabs(kmeans_dot(a, b, d) - p) < 1e-5 * (1 + d);
	}
	ok(good, "dist2 and dot agree with double sums for D = 1..40");
	ok(!kmeans_ws_new(0, 4, 1) && !kmeans_ws_new(4, 0, 1) &&
	   !kmeans_ws_new(4, 4, 0),
	   "workspace: K, D or threads below 1 are refused");
	ok(kmeans_kernel_parse("blas") == KMEANS_KERNEL_BLAS &&
	   kmeans_kernel_parse("avx512") == KMEANS_KERNEL_AVX512 &&
	   kmeans_kernel_parse("sse") == -1 &&
	   !strcmp(kmeans_kernel_name(KMEANS_KERNEL_AVX2), "avx2"),
	   "kernel names parse and print");
}

int
main(void)
{
	int kernels[] = { KMEANS_KERNEL_BLAS, KMEANS_KERNEL_AVX2,
	                  KMEANS_KERNEL_AVX512 };
	struct kmeans_ws *ws = kmeans_ws_new(1, 1, 1);
	size_t i;

	for (i = 0; i < LEN(kernels); i++) {
		if (kmeans_ws_set_kernel(ws, kernels[i]) < 0) {
			diag("kernel %s: this CPU cannot run it; skipped",
			     kmeans_kernel_name(kernels[i]));
			continue;
		}
		test_assign(kernels[i]);
		test_assign_blocks(kernels[i]);
		test_ties(kernels[i]);
		test_threads(kernels[i]);
	}
	kmeans_ws_set_kernel(ws, KMEANS_KERNEL_AUTO);
	diag("auto kernel: %s", kmeans_kernel_name(kmeans_ws_kernel(ws)));
	kmeans_ws_free(ws);
	test_accumulate();
	test_minibatch();
	test_seeding();
	test_misc();
	return tap_done();
}
