/* See LICENSE file for copyright and license details. */
/*
 * unit-metrics: tests for lib/metrics.c, printed as TAP.
 *
 * TCAS against the properties shared/docs/tcas.md lists (class-wise
 * tokens give 0, class-independent tokens give 1, the 2x2 reference
 * example gives 0.6, invariance to renaming tokens and classes and to
 * scaling, 0 <= TCAS <= 1, empty classes dropped), the O(K C) form
 * against the naive twin, and the other scores against values worked
 * out by hand.
 *
 * Output: "ok N - ..." or "not ok N - ..." per check, diagnostics on
 * "# " lines, the plan "1..N" last.  Exit status 1 if any check failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"
#include "tap.h"


/* |got - want| <= tol, with a diagnostic line when not */
static int
near(double got, double want, double tol, const char *what)
{
	int pass = fabs(got - want) <= tol;

	if (!ok(pass, "%s", what))
		printf("# got %.17g, want %.17g (tolerance %g)\n", got, want, tol);
	return pass;
}

/* a random count matrix (K, C): entries 0..max, about a third zero */
static void
random_counts(struct rng *r, double *n, size_t k, size_t c, uint32_t max)
{
	size_t i;

	for (i = 0; i < k * c; i++)
		n[i] = rng_below(r, 3) ? rng_below(r, max + 1) : 0;
}

/* ------------------------------------------------------------------ */

static void
test_reference(void)
{
	static const double n[] = { 3, 1, 1, 3 }; /* rows tokens, cols classes */
	static const double m[] = { 2, 0, 1, 1, 0, 2 };
	double h;

	near(metrics_tcas(n, 2, 2), 0.6, 1e-12,
	     "tcas: n = [[3,1],[1,3]] gives 0.6 (tcas.md)");
	near(metrics_tcas_naive(n, 2, 2), 0.6, 1e-12,
	     "tcas naive: n = [[3,1],[1,3]] gives 0.6");
	/* collision 1 - (9+1)/(4*8) - (1+9)/(4*8) */
	near(metrics_collision(n, 2, 2), 0.375, 1e-15,
	     "collision: [[3,1],[1,3]] gives 3/8");
	near(metrics_purity(n, 2, 2), 0.75, 1e-15,
	     "purity: [[3,1],[1,3]] gives 3/4");
	ok(metrics_used(n, 2, 2) == 2, "used: [[3,1],[1,3]] uses 2 tokens");
	near(metrics_perplexity(n, 2, 2), 2, 1e-14,
	     "perplexity: two equally used tokens give 2");
	/*
	 * NMI by hand.  [[3,1],[1,3]]: both marginals uniform on two, so
	 * H(T) = H(Y) = 1 bit and MI = 1 - h(1/4) bits, h the binary
	 * entropy: NMI = 1 - h(1/4) = 1 - (2 - (3/4) log2 3).
	 */
	h = -(0.25 * log2(0.25) + 0.75 * log2(0.75));
	near(metrics_nmi(n, 2, 2), 1 - h, 1e-14,
	     "nmi: [[3,1],[1,3]] gives 1 - h2(1/4)");
	near(metrics_nmi(n, 2, 2), (3.0 / 4) * log2(3) - 1, 1e-14,
	     "nmi: [[3,1],[1,3]] gives (3/4) log2 3 - 1");
	/*
	 * [[2,0],[1,1],[0,2]]: N = 6, n_t = 2 each, n_y = 3 each.  Only the
	 * cells 2 contribute: MI = 2 (1/3) ln(2*6 / (2*3)) = (2/3) ln 2;
	 * H(T) = ln 3, H(Y) = ln 2: NMI = (4/3) ln 2 / ln 6.
	 */
	near(metrics_nmi(m, 3, 2), 4.0 / 3 * log(2) / log(6), 1e-14,
	     "nmi: [[2,0],[1,1],[0,2]] gives (4/3) ln 2 / ln 6");
	/* D00 = (4+1)/9, D11 = (1+4)/9, D01 = (0+1+0)/9: 2/9 / (10/9) */
	near(metrics_tcas(m, 3, 2), 0.2, 1e-14,
	     "tcas: [[2,0],[1,1],[0,2]] gives 1/5");
	near(metrics_collision(m, 3, 2), 1 - (4 + 2 + 4) / 12.0, 1e-15,
	     "collision: [[2,0],[1,1],[0,2]] gives 1/6");
	near(metrics_purity(m, 3, 2), 5.0 / 6, 1e-15,
	     "purity: [[2,0],[1,1],[0,2]] gives 5/6");
	near(metrics_perplexity(m, 3, 2), 3, 1e-14,
	     "perplexity: three equally used tokens give 3");
}

/* tcas.md's closed form for two tokens and two classes */
static void
test_two_by_two(struct rng *r)
{
	double n[4], a, b, c, d, d00, d11, d01, want, worst = 0;
	int i;

	for (i = 0; i < 1000; i++) {
		a = n[0] = 1 + rng_below(r, 50);
		b = n[1] = rng_below(r, 50);
		c = n[2] = rng_below(r, 50);
		d = n[3] = 1 + rng_below(r, 50);
		d00 = (a * a + c * c) / ((a + c) * (a + c));
		d11 = (b * b + d * d) / ((b + d) * (b + d));
		d01 = (a * b + c * d) / ((a + c) * (b + d));
		want = 2 * d01 / (d00 + d11);
		worst = fmax(worst, fabs(metrics_tcas(n, 2, 2) - want));
	}
	if (!ok(worst <= 1e-14, "tcas: 1000 random 2x2 matrices match the "
	                        "closed form of tcas.md"))
		printf("# worst difference %g\n", worst);
}

static void
test_extremes(struct rng *r)
{
	double n[12 * 5], v;
	size_t t, y, k, c;
	int i, pass;

	/* class-wise: token = class */
	memset(n, 0, sizeof(n));
	for (y = 0; y < 5; y++)
		n[y * 5 + y] = 10 + y;
	ok(metrics_tcas(n, 5, 5) == 0, "tcas: class-wise tokens (K = C) give 0");
	ok(metrics_collision(n, 5, 5) == 0, "collision: class-wise tokens give 0");
	near(metrics_nmi(n, 5, 5), 1, 1e-14, "nmi: class-wise tokens give 1");
	ok(metrics_purity(n, 5, 5) == 1, "purity: class-wise tokens give 1");

	/* each token inside one class, several tokens per class */
	pass = 1;
	for (i = 0; i < 200; i++) {
		memset(n, 0, sizeof(n));
		for (t = 0; t < 12; t++)
			n[t * 5 + rng_below(r, 5)] = 1 + rng_below(r, 20);
		v = metrics_tcas(n, 12, 5);
		pass &= v == 0 || (isnan(v) && metrics_classes(n, 12, 5) < 2);
	}
	ok(pass, "tcas: tokens that never cross classes give 0 (200 random)");

	/* class-independent: every class has the same q (scaled columns) */
	pass = 1;
	for (i = 0; i < 200; i++) {
		k = 1 + rng_below(r, 12);
		c = 2 + rng_below(r, 4);
		for (t = 0; t < k; t++)
			n[t * c] = 1 + rng_below(r, 9);
		for (y = 1; y < c; y++)
			for (t = 0; t < k; t++)
				n[t * c + y] = n[t * c] * (y + 1);
		v = metrics_tcas(n, k, c);
		if (fabs(v - 1) > 1e-12) {
			printf("# K=%zu C=%zu: %.17g\n", k, c, v);
			pass = 0;
		}
		v = metrics_tcas_naive(n, k, c);
		pass &= fabs(v - 1) <= 1e-12;
	}
	ok(pass, "tcas: class-independent tokens give 1 (200 random, both forms)");
	/* one token for everything: independent too, and NMI 0 */
	n[0] = 4;
	n[1] = 7;
	n[2] = 1;
	near(metrics_tcas(n, 1, 3), 1, 1e-15, "tcas: a single token gives 1");
	ok(metrics_nmi(n, 1, 3) == 0, "nmi: a single token gives 0");
	near(metrics_perplexity(n, 1, 3), 1, 0, "perplexity: a single token gives 1");
}

static void
test_invariance(struct rng *r)
{
	enum { K = 9, C = 6 };
	double n[K * C], p[K * C], s[K * C], base, worst[3] = { 0, 0, 0 };
	size_t pt[K], pc[C], i, j, t, y;
	int it;

	for (it = 0; it < 300; it++) {
		random_counts(r, n, K, C, 30);
		if (metrics_classes(n, K, C) < 2)
			continue;
		base = metrics_tcas(n, K, C);
		for (i = 0; i < K; i++)
			pt[i] = i;
		for (i = 0; i < C; i++)
			pc[i] = i;
		for (i = K; i > 1; i--) { /* Fisher-Yates */
			j = rng_below(r, i);
			t = pt[i - 1], pt[i - 1] = pt[j], pt[j] = t;
		}
		for (i = C; i > 1; i--) {
			j = rng_below(r, i);
			y = pc[i - 1], pc[i - 1] = pc[j], pc[j] = y;
		}
		for (t = 0; t < K; t++)
			for (y = 0; y < C; y++) {
				p[t * C + y] = n[pt[t] * C + y];
				s[t * C + y] = n[t * C + pc[y]];
			}
		worst[0] = fmax(worst[0], fabs(metrics_tcas(p, K, C) - base));
		worst[1] = fmax(worst[1], fabs(metrics_tcas(s, K, C) - base));
		for (i = 0; i < K * C; i++)
			s[i] = n[i] * (it % 2 ? 1000 : 0.125);
		worst[2] = fmax(worst[2], fabs(metrics_tcas(s, K, C) - base));
	}
	if (!ok(worst[0] <= 1e-14, "tcas: invariant to renaming tokens"))
		printf("# worst %g\n", worst[0]);
	if (!ok(worst[1] <= 1e-14, "tcas: invariant to renaming classes"))
		printf("# worst %g\n", worst[1]);
	if (!ok(worst[2] <= 1e-14, "tcas: invariant to scaling all counts"))
		printf("# worst %g\n", worst[2]);
}

static void
test_random(struct rng *r)
{
	enum { KMAX = 40, CMAX = 12 };
	double n[KMAX * CMAX], f, g, lo = 1, hi = 0, worst = 0;
	double nlo = 1, nhi = 0, clo = 1, chi = 0;
	size_t k, c;
	int it, bad = 0, runs = 0;

	for (it = 0; it < 2000; it++) {
		k = 1 + rng_below(r, KMAX);
		c = 2 + rng_below(r, CMAX - 1);
		random_counts(r, n, k, c, it % 3 ? 20 : 1000000);
		if (metrics_classes(n, k, c) < 2)
			continue;
		runs++;
		f = metrics_tcas(n, k, c);
		g = metrics_tcas_naive(n, k, c);
		bad += !(f >= 0 && f <= 1 + 1e-12) || isnan(f);
		lo = fmin(lo, f);
		hi = fmax(hi, f);
		worst = fmax(worst, fabs(f - g) / fmax(g, 1e-300));
		f = metrics_nmi(n, k, c);
		nlo = fmin(nlo, f);
		nhi = fmax(nhi, f);
		f = metrics_collision(n, k, c);
		clo = fmin(clo, f);
		chi = fmax(chi, f);
	}
	if (!ok(!bad, "tcas: 0 <= TCAS <= 1 on %d random matrices", runs))
		printf("# range [%.17g, %.17g], %d outside\n", lo, hi, bad);
	if (!ok(worst <= 1e-12, "tcas: fast form equals the naive one "
	                        "(relative 1e-12) on %d random matrices", runs))
		printf("# worst relative difference %g\n", worst);
	ok(nlo >= 0 && nhi <= 1 + 1e-12, "nmi: within [0, 1] on random matrices");
	ok(clo >= -1e-15 && chi < 1, "collision: within [0, 1) on random matrices");
}

static void
test_empty_classes(struct rng *r)
{
	enum { K = 7, C = 4 };
	double n[K * C], w[K * (C + 3)], z[K * 2], a, b;
	size_t t, y, pass = 1;
	int it;

	for (it = 0; it < 100; it++) {
		random_counts(r, n, K, C, 50);
		/* wide: zero columns 0, 3 and 6 around the real ones */
		memset(w, 0, sizeof(w));
		for (t = 0; t < K; t++)
			for (y = 0; y < C; y++)
				w[t * (C + 3) + (y < 2 ? y + 1 : y + 2)] = n[t * C + y];
		if (metrics_classes(n, K, C) < 2)
			continue;
		a = metrics_tcas(n, K, C);
		b = metrics_tcas(w, K, C + 3);
		pass &= fabs(a - b) <= 1e-15;
		pass &= fabs(metrics_tcas_naive(w, K, C + 3) - a) <= 1e-13;
		pass &= fabs(metrics_nmi(w, K, C + 3) - metrics_nmi(n, K, C)) <=
		        1e-15;
		pass &= metrics_classes(w, K, C + 3) == metrics_classes(n, K, C);
	}
	ok(pass, "tcas, nmi: classes with no patches are dropped");

	/* one class present out of two: no TCAS */
	for (t = 0; t < K; t++) {
		z[t * 2] = t + 1;
		z[t * 2 + 1] = 0;
	}
	ok(metrics_classes(z, K, 2) == 1, "classes: an empty class is not counted");
	ok(isnan(metrics_tcas(z, K, 2)) && isnan(metrics_tcas_naive(z, K, 2)),
	   "tcas: fewer than two classes present gives NaN");
	memset(z, 0, sizeof(z));
	ok(isnan(metrics_purity(z, K, 2)) && isnan(metrics_perplexity(z, K, 2)) &&
	           metrics_used(z, K, 2) == 0 && metrics_total(z, K, 2) == 0,
	   "purity, perplexity: no patches gives NaN, used 0");
}

int
main(void)
{
	struct rng r;

	rng_seed(&r, 42, 0);
	test_reference();
	test_two_by_two(&r);
	test_extremes(&r);
	test_invariance(&r);
	test_random(&r);
	test_empty_classes(&r);
	return tap_done();
}
