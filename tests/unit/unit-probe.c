/* See LICENSE file for copyright and license details. */
/*
 * unit-probe: lib/probe.c, lib/encoder.c and vit_encode, printed as TAP.
 *
 *   unit-probe
 *
 * vit_encode equals the encoder inside vit_forward (mask ratio 0, the
 * identity mask) bit for bit, for both targets, and encoder_run's
 * chunks give the same bits as one batch; pooled is the mean of the
 * patch rows and cls row 0.  L-BFGS finds the minimum of Rosenbrock's
 * function and of a quadratic; the logistic regression's optimum has a
 * zero gradient (checked by finite differences of the objective around
 * it), separates separable data and is deterministic, and gives the same
 * fit on 1 and 3 threads with K and D off the kernels' tiles; standardisation
 * gives mean 0 and variance 1; the k-NN vote equals a hand computation.
 *
 * Output: "ok N - ..." or "not ok N - ..." per check, "# " diagnostics,
 * the plan "1..N" last; the exit status is 1 if any failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "probe.h"
#include "util.h"
#include "vit.h"
#include "tap.h"


/* ------------------------------------------------------------------ */

static void
test_encode(int target)
{
	struct vit_config c;
	struct vit a, b, s;
	struct rng r;
	char msg[256];
	int B = 5, L, P, D, i, same, sameb;
	double dmax;
	float *x, *noise, *feat, *pooled, *cls, *feat1;
	int32_t *tok;
	size_t j;

	memset(&c, 0, sizeof(c));
	vit_preset(&c, "tiny");
	c.dim = 32, c.heads = 2, c.depth = 2, c.ddim = 16, c.dheads = 2;
	c.ddepth = 1, c.patch = 2, c.channels = 3, c.gh = 3, c.gw = 4;
	c.target = target, c.k = 7, c.ratio = 0.0f;
	if (vit_build(&a, &c, B, msg, sizeof(msg)) < 0 ||
	    vit_build(&b, &c, B, msg, sizeof(msg)) < 0 ||
	    vit_build(&s, &c, 2, msg, sizeof(msg)) < 0) {
		ok(0, "vit_build: %s", msg);
		return;
	}
	vit_init(&a, 7);
	memcpy(b.params, a.params, a.nparams * sizeof(float));
	memcpy(s.params, a.params, a.nparams * sizeof(float));
	L = a.L, P = a.P, D = c.dim;
	x = ecalloc((size_t)B * L * P, sizeof(float));
	noise = ecalloc((size_t)B * L, sizeof(float));
	tok = ecalloc((size_t)B * L, sizeof(int32_t));
	rng_seed(&r, 11, 0);
	for (j = 0; j < (size_t)B * L * P; j++)
		x[j] = (float)rng_uniform(&r);
	for (j = 0; j < (size_t)B * L; j++)
		tok[j] = rng_below(&r, 7);
	/* all-equal noise: ties go to the lower index, the identity */
	vit_mask(&a, B, NULL, noise);
	vit_forward(&a, x, tok);
	same = 1;
	for (i = 0; i < B * L; i++)
		same &= a.keep[i] == i % L;
	ok(same, "%s: ratio 0 with constant noise keeps every patch in order",
	   target ? "tokens" : "pixel");
	ok(vit_encode(&b, x, B) == 0 &&
	   !memcmp(a.a.eln, b.a.eln, (size_t)B * (1 + L) * D * sizeof(float)),
	   "%s: vit_encode equals vit_forward's encoder bit for bit",
	   target ? "tokens" : "pixel");

	feat = ecalloc((size_t)B * L * D, sizeof(float));
	feat1 = ecalloc((size_t)B * L * D, sizeof(float));
	pooled = ecalloc((size_t)B * D, sizeof(float));
	cls = ecalloc((size_t)B * D, sizeof(float));
	/* sgemm's rounding may depend on the rows of the batch: close */
	encoder_run(&s, x, B, feat, NULL, NULL);
	encoder_run(&b, x, B, feat1, pooled, cls);
	dmax = 0;
	for (j = 0; j < (size_t)B * L * D; j++)
		dmax = fmax(dmax, fabs(feat[j] - feat1[j]));
	ok(dmax < 1e-5, "%s: encoder_run in chunks of 2 is within 1e-5 of "
	   "one batch of 5 (%.2g)", target ? "tokens" : "pixel", dmax);
	sameb = 1;
	for (i = 0; i < B; i++)
		sameb &= !memcmp(feat1 + (size_t)i * L * D,
		                 a.a.eln + ((size_t)i * (1 + L) + 1) * D,
		                 (size_t)L * D * sizeof(float));
	ok(sameb, "%s: encoder_run's features are vit_forward's patch rows",
	   target ? "tokens" : "pixel");
	same = 1;
	for (i = 0; i < B; i++) {
		int d, l;

		for (d = 0; d < D; d++) {
			double m = 0;

			for (l = 0; l < L; l++)
				m += a.a.eln[((size_t)i * (1 + L) + 1 + l) * D + d];
			same &= fabs(m / L - pooled[i * D + d]) <= 1e-6;
			same &= cls[i * D + d] == a.a.eln[(size_t)i * (1 + L) * D + d];
		}
	}
	ok(same, "%s: pooled is the mean of the patch rows, cls row 0",
	   target ? "tokens" : "pixel");
	ok(vit_encode(&b, x, B + 1) < 0, "vit_encode refuses B > maxB");
	free(x), free(noise), free(tok), free(feat), free(feat1), free(pooled);
	free(cls);
	vit_free(&a), vit_free(&b), vit_free(&s);
	c.ratio = 0.5f;
	if (vit_build(&a, &c, B, msg, sizeof(msg)) == 0) {
		x = ecalloc((size_t)B * a.L * a.P, sizeof(float));
		ok(vit_encode(&a, x, 1) < 0, "vit_encode refuses ratio > 0");
		free(x);
		vit_free(&a);
	}
}

/* ------------------------------------------------------------------ */

static double
rosen(void *ctx, const double *x, double *g)
{
	(void)ctx;
	g[0] = -400 * x[0] * (x[1] - x[0] * x[0]) - 2 * (1 - x[0]);
	g[1] = 200 * (x[1] - x[0] * x[0]);
	return 100 * pow(x[1] - x[0] * x[0], 2) + pow(1 - x[0], 2);
}

static double
quad(void *ctx, const double *x, double *g)
{
	double f = 0;
	int i;

	(void)ctx;
	for (i = 0; i < 50; i++) {
		g[i] = (i + 1) * (x[i] - 1.0 / (i + 1));
		f += 0.5 * (i + 1) * pow(x[i] - 1.0 / (i + 1), 2);
	}
	return f;
}

static void
test_lbfgs(void)
{
	struct lbfgs_result res;
	double x[50] = { -1.2, 1.0 };
	int i, good;

	lbfgs_minimize(x, 2, rosen, NULL, 10, 1e-8, 1000, &res);
	ok(res.converged && fabs(x[0] - 1) < 1e-6 && fabs(x[1] - 1) < 1e-6,
	   "L-BFGS: Rosenbrock from (-1.2, 1) to (1, 1) in %d iterations "
	   "(%.9f, %.9f)", res.iters, x[0], x[1]);
	memset(x, 0, sizeof(x));
	lbfgs_minimize(x, 50, quad, NULL, 5, 1e-10, 1000, &res);
	good = res.converged;
	for (i = 0; i < 50; i++)
		good &= fabs(x[i] - 1.0 / (i + 1)) < 1e-9;
	ok(good, "L-BFGS: a 50-dim quadratic in %d iterations", res.iters);
}

/* the objective of probe_lr_fit, computed plainly */
static double
lr_obj(const double *W, const double *b, const float *x, const int32_t *y,
       int n, int D, int K, double lambda)
{
	double f = 0, reg = 0;
	int i, k, d;

	for (i = 0; i < n; i++) {
		double z[16], mx = -1e300, s = 0;

		for (k = 0; k < K; k++) {
			z[k] = b[k];
			for (d = 0; d < D; d++)
				z[k] += W[k * D + d] * x[i * D + d];
			mx = fmax(mx, z[k]);
		}
		for (k = 0; k < K; k++)
			s += exp(z[k] - mx);
		f += mx + log(s) - z[y[i]];
	}
	for (k = 0; k < K * D; k++)
		reg += W[k] * W[k];
	return f / n + 0.5 * lambda * reg;
}

static void
test_lr(void)
{
	enum { N = 300, D = 5, K = 3 };
	struct probe_lr m, m2;
	struct rng r;
	static float xf[N * D], x[N * D];
	double mean[D], sd[D], f0, h = 1e-5, gmax = 0;
	int32_t y[N], pred[N];
	char msg[256];
	int i, d, good, right = 0;

	rng_seed(&r, 5, 0);
	for (i = 0; i < N; i++) {
		y[i] = i % K;
		for (d = 0; d < D; d++)
			xf[i * D + d] = (float)(3.0 * rng_uniform(&r) + 10.0 +
			                        (d == y[i] ? 2.5 : 0.0));
	}
	probe_std_fit(xf, N, D, mean, sd);
	probe_std_apply(xf, N, D, mean, sd, x);
	good = 1;
	for (d = 0; d < D; d++) {
		double s = 0, s2 = 0;

		for (i = 0; i < N; i++)
			s += x[i * D + d], s2 += x[i * D + d] * x[i * D + d];
		/* floats: each value rounded to 24 bits */
		good &= fabs(s / N) < 1e-6 && fabs(s2 / N - 1) < 1e-4;
	}
	ok(good, "standardised features have mean 0 and variance 1");

	/* overlapping classes: an interior optimum */
	if (probe_lr_fit(&m, x, y, N, D, K, 1e-2, 1e-9, 1000, 1, msg,
	                 sizeof(msg)) < 0) {
		ok(0, "probe_lr_fit: %s", msg);
		return;
	}
	ok(m.res.converged, "logistic regression converges (%d iterations, "
	   "max |g| %.2g)", m.res.iters, m.res.gmax);
	f0 = lr_obj(m.W, m.b, x, y, N, D, K, 1e-2);
	ok(fabs(f0 - m.res.f) < 1e-12, "the objective is mean log loss + "
	   "lambda/2 |W|^2 (%.12f, %.12f)", f0, m.res.f);
	for (i = 0; i < K * D + K; i++) {
		double *p = i < K * D ? &m.W[i] : &m.b[i - K * D], keep = *p, fp,
		       fm;

		*p = keep + h;
		fp = lr_obj(m.W, m.b, x, y, N, D, K, 1e-2);
		*p = keep - h;
		fm = lr_obj(m.W, m.b, x, y, N, D, K, 1e-2);
		*p = keep;
		gmax = fmax(gmax, fabs((fp - fm) / (2 * h)));
	}
	ok(gmax < 1e-6, "the optimum's gradient by finite differences is "
	   "0 (max %.2g)", gmax);
	probe_lr_predict(&m, x, N, pred);
	for (i = 0; i < N; i++)
		right += pred[i] == y[i];
	ok(right > N * 0.8, "it classifies %d of %d", right, N);
	probe_lr_fit(&m2, x, y, N, D, K, 1e-2, 1e-9, 1000, 1, msg, sizeof(msg));
	ok(!memcmp(m.W, m2.W, (K * D + K) * sizeof(double)),
	   "two fits give the same bits");
	probe_lr_free(&m);
	probe_lr_free(&m2);

	/* separable: 100% */
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++)
			xf[i * D + d] = (float)(rng_uniform(&r) +
			                        (d == y[i] ? 3.0 : 0.0));
	probe_std_fit(xf, N, D, mean, sd);
	probe_std_apply(xf, N, D, mean, sd, x);
	probe_lr_fit(&m, x, y, N, D, K, 1e-4, 1e-6, 1000, 1, msg, sizeof(msg));
	probe_lr_predict(&m, x, N, pred);
	right = 0;
	for (i = 0; i < N; i++)
		right += pred[i] == y[i];
	ok(right == N, "separable classes: %d of %d right", right, N);
	probe_lr_free(&m);
	y[3] = K;
	ok(probe_lr_fit(&m, x, y, N, D, K, 1e-4, 1e-6, 10, 1, msg,
	                sizeof(msg)) < 0 && strstr(msg, "outside"),
	   "a label outside [0,K) is refused: %s", msg);
}

/*
 * K and D that are not multiples of the kernels' tiles (K = 6: one
 * group of four classes and two padding ones; D = 13 of 16), on 1 and 3
 * threads (blocks of 64 rows split unevenly): the objective is still
 * lr_obj's, and the fits agree to rounding.
 */
static void
test_lr_threads(void)
{
	enum { N = 1000, D = 13, K = 6 };
	struct probe_lr m1, m3;
	struct rng r;
	static float xf[N * D], x[N * D];
	double mean[D], sd[D], f1, f3, dw = 0;
	int32_t y[N];
	char msg[256];
	int i, d;

	rng_seed(&r, 9, 0);
	for (i = 0; i < N; i++) {
		y[i] = rng_below(&r, K);
		for (d = 0; d < D; d++)
			xf[i * D + d] = (float)(rng_uniform(&r) +
			                        (d % K == y[i] ? 0.8 : 0.0));
	}
	probe_std_fit(xf, N, D, mean, sd);
	probe_std_apply(xf, N, D, mean, sd, x);
	if (probe_lr_fit(&m1, x, y, N, D, K, 1e-3, 1e-9, 1000, 1, msg,
	                 sizeof(msg)) < 0 ||
	    probe_lr_fit(&m3, x, y, N, D, K, 1e-3, 1e-9, 1000, 3, msg,
	                 sizeof(msg)) < 0) {
		ok(0, "probe_lr_fit: %s", msg);
		return;
	}
	f1 = lr_obj(m1.W, m1.b, x, y, N, D, K, 1e-3);
	f3 = lr_obj(m3.W, m3.b, x, y, N, D, K, 1e-3);
	ok(m1.res.converged && m3.res.converged && fabs(f1 - m1.res.f) < 1e-12 &&
	   fabs(f3 - m3.res.f) < 1e-12, "K=6, D=13 on 1 and 3 threads: "
	   "converged, the objective is lr_obj's (%.12f, %.12f)", m1.res.f,
	   m3.res.f);
	for (i = 0; i < K * D + K; i++)
		dw = fmax(dw, fabs(m1.W[i] - m3.W[i]));
	ok(dw < 1e-6, "1 and 3 threads fit the same weights (max diff %.2g)",
	   dw);
	probe_lr_free(&m1);
	probe_lr_free(&m3);
}

/* ------------------------------------------------------------------ */

static void
test_knn(void)
{
	/* training rows at angles 0, 10, 20, 90, 100 degrees; classes 0 0 1 1 1 */
	float tr[5 * 2], te[2 * 2] = { 2, 0.2f, 0, 0 };
	int32_t ytr[5] = { 0, 0, 1, 1, 1 }, pred[2];
	double deg[5] = { 0, 10, 20, 90, 100 }, a = atan2(0.2, 2), w0, w1;
	int i;

	for (i = 0; i < 5; i++) {
		tr[2 * i] = (float)(3 * cos(deg[i] * M_PI / 180));
		tr[2 * i + 1] = (float)(3 * sin(deg[i] * M_PI / 180));
	}
	/*
	 * test 0 at angle a ~ 5.7 degrees; k = 3: rows 0, 1, 2 (class 0, 0,
	 * 1).  T = 0.07: class 0 weighs exp(cos(a)/T) + exp(cos(10-a)/T),
	 * class 1 exp(cos(20-a)/T): class 0.
	 */
	w0 = exp(cos(a) / 0.07) + exp(cos(10 * M_PI / 180 - a) / 0.07);
	w1 = exp(cos(20 * M_PI / 180 - a) / 0.07);
	probe_knn(tr, ytr, 5, te, 2, 2, 2, 3, 0.07, pred);
	ok(pred[0] == (w0 > w1 ? 0 : 1) && pred[0] == 0,
	   "k-NN k=3 T=0.07: class 0 (weights %.4g vs %.4g)", w0, w1);
	/* k = 5, T = 1: all vote; class 1 has three rows */
	w0 = exp(cos(a)) + exp(cos(10 * M_PI / 180 - a));
	w1 = exp(cos(20 * M_PI / 180 - a)) + exp(cos(90 * M_PI / 180 - a)) +
	     exp(cos(100 * M_PI / 180 - a));
	probe_knn(tr, ytr, 5, te, 2, 2, 2, 5, 1.0, pred);
	ok(pred[0] == (w0 > w1 ? 0 : 1), "k-NN k=5 T=1: class %d (weights "
	   "%.4g vs %.4g)", w0 > w1 ? 0 : 1, w0, w1);
	/* T = 0.07, k = 5 the near ones win again */
	probe_knn(tr, ytr, 5, te, 2, 2, 2, 5, 0.07, pred);
	ok(pred[0] == 0, "k-NN k=5 T=0.07: class 0");
	/* k above n is cut to n; the zero test row: all similarities 0,
	 * equal weights, class 1 has more rows */
	probe_knn(tr, ytr, 5, te, 2, 2, 2, 50, 0.07, pred);
	ok(pred[1] == 1, "k-NN: k > n is cut, a zero row votes by counts");
	/* a tie in the vote goes to the lower class */
	{
		float t2[4] = { 1, 0, 0, 1 }, q[2] = { 1, 1 };
		int32_t y2[2] = { 1, 0 }, p;

		probe_knn(t2, y2, 2, q, 1, 2, 2, 2, 0.07, &p);
		ok(p == 0, "k-NN: a tied vote goes to the lower class");
	}
}

int
main(int argc, char *argv[])
{
	(void)argc;
	setargv0(argv[0]);
	test_encode(VIT_PIXEL);
	test_encode(VIT_TOKENS);
	test_lbfgs();
	test_lr();
	test_lr_threads();
	test_knn();
	return tap_done();
}
