/* See LICENSE file for copyright and license details. */
/*
 * unit-augraph: tests for lib/augraph.c, printed as TAP.
 *
 * The weights, alpha and the spectrum against the naive twin (explicit
 * loops in double, Jacobi rotations) on random bags of tokens: with
 * fewer tokens than images and more, tokens in one image only and
 * tokens in most (the dsyrk path), both sides of the spectrum.  And
 * graphs whose spectrum is known: class-wise tokens (C zeros, then 1),
 * tokens every image holds once (a complete graph: 0, then 1), tokens
 * no two images share (no edges but self-loops: all 0).
 *
 * Output: "ok N - ..." or "not ok N - ..." per check, diagnostics on
 * "# " lines, the plan "1..N" last.  Exit status 1 if any check failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augraph.h"
#include "util.h"
#include "tap.h"

/* bags built from dense counts, with storage */
struct bags {
	struct augraph_bags b;
	size_t *off;
	uint32_t *tok, *cnt;
};

/* counts (n, k) row-major to CSR bags; every token must be used */
static void
bags_from(struct bags *s, const uint32_t *counts, size_t n, size_t k)
{
	size_t i, t, e = 0;

	s->off = ecalloc(n + 1, sizeof(*s->off));
	s->tok = ecalloc(n * k + 1, sizeof(*s->tok));
	s->cnt = ecalloc(n * k + 1, sizeof(*s->cnt));
	for (i = 0; i < n; i++) {
		for (t = 0; t < k; t++)
			if (counts[i * k + t]) {
				s->tok[e] = t;
				s->cnt[e++] = counts[i * k + t];
			}
		s->off[i + 1] = e;
	}
	s->b = (struct augraph_bags){ n, k, s->off, s->tok, s->cnt };
}

static void
bags_free(struct bags *s)
{
	free(s->off);
	free(s->tok);
	free(s->cnt);
}

/*
 * Random counts (n, k): image i has l patches, each with a token drawn
 * from a few common ones (share `common` of the patches) or from all k;
 * then every unused token is given to a random image.  Labels in y.
 */
static uint32_t *
random_counts(struct rng *r, size_t n, size_t k, size_t l, double common,
              int32_t *y, size_t c)
{
	uint32_t *counts = ecalloc(n * k, sizeof(*counts));
	size_t i, j, t;

	for (i = 0; i < n; i++) {
		y[i] = rng_below(r, c);
		for (j = 0; j < l; j++) {
			t = rng_uniform(r) < common ? rng_below(r, MIN(k, 4))
			                            : rng_below(r, k);
			counts[i * k + t]++;
		}
	}
	for (t = 0; t < k; t++) {
		for (i = 0; i < n && !counts[i * k + t]; i++)
			;
		if (i == n)
			counts[rng_below(r, n) * k + t] = 1;
	}
	return counts;
}

static double
max_abs_diff(const double *a, const double *b, size_t n)
{
	double m = 0;
	size_t i;

	for (i = 0; i < n; i++)
		m = MAX(m, fabs(a[i] - b[i]));
	return m;
}

/* ------------------------------------------------------------------ */

/* fast against naive on one random case */
static void
test_random(struct rng *r, size_t n, size_t k, size_t l, double common,
            const char *what)
{
	struct bags s;
	int32_t *y = ecalloc(n, sizeof(*y));
	uint32_t *counts = random_counts(r, n, k, l, common, y, 3);
	double *w = ecalloc(n * n, sizeof(*w)), *wn = ecalloc(n * n, sizeof(*wn));
	double *lam = ecalloc(n, sizeof(*lam)), *ln = ecalloc(n, sizeof(*ln));
	double alpha, fa, dw = 0;
	char msg[256] = "";
	size_t i, j, m = MIN(n, 12);
	int side;

	bags_from(&s, counts, n, k);
	if (!ok(augraph_naive(&s.b, y, wn, &alpha, ln) == 0, "%s: naive twin runs",
	        what))
		goto out;
	ok(augraph_weights(&s.b, w, msg, sizeof(msg)) == 0,
	   "%s: the weights are built%s%s", what, *msg ? ": " : "", msg);
	for (i = 0; i < n; i++)
		for (j = 0; j <= i; j++)
			dw = MAX(dw, fabs(w[i * n + j] - wn[i * n + j]) /
			                 MAX(1e-300, fabs(wn[i * n + j])));
	if (!ok(dw < 1e-13, "%s: weights equal the naive twin's", what))
		diag("largest relative difference %g", dw);
	fa = augraph_alpha(&s.b, y, 3);
	if (!ok(fabs(fa - alpha) <= 1e-13 * fabs(alpha) + 1e-15,
	        "%s: alpha equals the naive twin's", what))
		diag("naive %.17g, fast %.17g", alpha, fa);
	for (side = AUGRAPH_AUTO; side <= AUGRAPH_TOKENS; side++) {
		memset(lam, 0, n * sizeof(*lam));
		if (augraph_spectrum(&s.b, m, side, lam, msg, sizeof(msg)) < 0) {
			ok(0, "%s: spectrum, side %d: %s", what, side, msg);
			continue;
		}
		if (!ok(max_abs_diff(lam, ln, m) < 1e-10,
		        "%s: the %zu smallest eigenvalues, side %s, equal Jacobi's",
		        what, m, side == AUGRAPH_AUTO ? "auto" :
		        side == AUGRAPH_IMAGES ? "images" : "tokens"))
			for (i = 0; i < m; i++)
				diag("lambda_%zu %.15g, naive %.15g", i + 1, lam[i], ln[i]);
	}
	ok(ln[0] > -1e-12 && ln[n - 1] < 1 + 1e-12,
	   "%s: eigenvalues in [0, 1] (W is positive semidefinite)", what);
out:
	bags_free(&s);
	free(y);
	free(counts);
	free(w);
	free(wn);
	free(lam);
	free(ln);
}

static void
test_known(void)
{
	/* 6 images, 3 classes, 4 patches each */
	static const uint32_t classwise[] = { 4, 0, 0, 0, 4, 0, 0, 0, 4,
	                                      4, 0, 0, 0, 4, 0, 0, 0, 4 };
	static const int32_t y[] = { 0, 1, 2, 0, 1, 2 };
	uint32_t same[6 * 4], unique[6 * 6];
	struct bags s;
	double lam[6], want[6];
	char msg[256] = "";
	size_t i;

	bags_from(&s, classwise, 6, 3);
	ok(augraph_alpha(&s.b, y, 3) == 0, "class-wise tokens: alpha 0");
	ok(augraph_spectrum(&s.b, 6, AUGRAPH_AUTO, lam, msg, sizeof(msg)) ==
	   AUGRAPH_TOKENS, "class-wise tokens: K <= N takes the tokens side");
	memcpy(want, (double[]){ 0, 0, 0, 1, 1, 1 }, sizeof(want));
	if (!ok(max_abs_diff(lam, want, 6) == 0,
	        "class-wise tokens: 3 zeros (one per class), then 1"))
		for (i = 0; i < 6; i++)
			diag("lambda_%zu %.17g", i + 1, lam[i]);
	augraph_spectrum(&s.b, 6, AUGRAPH_IMAGES, lam, msg, sizeof(msg));
	ok(max_abs_diff(lam, want, 6) < 1e-15,
	   "class-wise tokens: the same on the images side");
	bags_free(&s);

	/* every image holds tokens 0..3 once: a complete graph */
	for (i = 0; i < LEN(same); i++)
		same[i] = 1;
	bags_from(&s, same, 6, 4);
	ok(fabs(augraph_alpha(&s.b, y, 3) - 2.0 / 3) < 1e-15,
	   "tokens every image holds: alpha 1 - sum_y p_y^2 = 2/3");
	augraph_spectrum(&s.b, 6, AUGRAPH_AUTO, lam, msg, sizeof(msg));
	memcpy(want, (double[]){ 0, 1, 1, 1, 1, 1 }, sizeof(want));
	ok(max_abs_diff(lam, want, 6) < 1e-15,
	   "tokens every image holds: one zero, then 1");

	/* no token shared: only self-loops, 6 components */
	bags_free(&s);
	memset(unique, 0, sizeof(unique));
	for (i = 0; i < 6; i++)
		unique[i * 6 + i] = 4;
	bags_from(&s, unique, 6, 6);
	ok(augraph_alpha(&s.b, y, 3) == 0, "no token shared: alpha 0");
	augraph_spectrum(&s.b, 6, AUGRAPH_AUTO, lam, msg, sizeof(msg));
	memset(want, 0, sizeof(want));
	ok(max_abs_diff(lam, want, 6) == 0, "no token shared: all zeros");
	ok(augraph_spectrum(&s.b, 7, AUGRAPH_AUTO, lam, msg, sizeof(msg)) == -1 &&
	   strstr(msg, "7 eigenvalues of a graph of 6 images"),
	   "more eigenvalues than images: an error (%s)", msg);
	bags_free(&s);
}

int
main(void)
{
	struct rng r;

	rng_seed(&r, 15, 0);
	test_known();
	/* K < N: tokens side in auto */
	test_random(&r, 40, 12, 9, 0.3, "40 images, 12 tokens");
	/* K > N, most tokens in one image: images side */
	test_random(&r, 30, 200, 7, 0.2, "30 images, 200 tokens");
	/* common tokens in most images: dsyrk for them (N/16 = 4) */
	test_random(&r, 70, 90, 16, 0.6, "70 images, 90 tokens, 4 common");
	/* one image, one token */
	test_random(&r, 1, 1, 3, 0, "1 image, 1 token");
	return tap_done();
}
