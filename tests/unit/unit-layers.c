/* See LICENSE file for copyright and license details. */
/*
 * unit-layers: tests for lib/layers.c, printed as TAP.
 *
 * The linear layers against naive loops here, then a finite-difference
 * gradient check of every backward function: the loss is
 * f = sum(out * R) for a fixed random R, so dout = R, and every input
 * and parameter element is nudged by +-h (central differences, f summed
 * in double).  The losses are checked directly.  Each check passes when
 * |analytic - numeric| <= atol + rtol max(|analytic|, |numeric|) for
 * every element.
 *
 * Output: "ok N - ..." or "not ok N - ..." per check, diagnostics on
 * "# " lines, the plan "1..N" last.  Exit status 1 if any check failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "util.h"
#include "tap.h"


static struct rng rng;

static float *
randn(size_t n, float scale)
{
	float *v = calloc(n ? n : 1, sizeof(*v));
	size_t i;

	for (i = 0; i < n; i++) {
		double u1 = rng_uniform(&rng) + 1e-12, u2 = rng_uniform(&rng);

		v[i] = scale * (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307 * u2));
	}
	return v;
}

static float *
zeros(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

static double
maxdiff(const float *a, const float *b, size_t n)
{
	double m = 0.0;
	size_t i;

	for (i = 0; i < n; i++)
		if (fabs((double)a[i] - b[i]) > m)
			m = fabs((double)a[i] - b[i]);
	return m;
}

/* ------------------------------------------------------------------ */
/* the finite-difference machinery                                     */

/* the op under test: recompute out from the current inputs */
struct op {
	void (*fwd)(struct op *);
	float *out, *R; /* out and the weights of the loss sum(out R) */
	size_t nout;
	void *ctx;
	float scalar; /* for the losses: out is this single value */
};

static double
lossof(struct op *op)
{
	double s = 0.0;
	size_t i;

	op->fwd(op);
	for (i = 0; i < op->nout; i++)
		s += (double)op->out[i] * op->R[i];
	return s;
}

/* compare grad (n) with central differences of x (n) */
static int
gradcheck(struct op *op, float *x, const float *grad, size_t n, float h,
          double atol, double rtol, const char *what)
{
	double worst = 0.0, wa = 0.0, wn = 0.0;
	size_t i, wi = 0;
	int pass = 1;

	for (i = 0; i < n; i++) {
		float x0 = x[i];
		double fp, fm, num, a = grad[i], err, tol;

		x[i] = x0 + h;
		fp = lossof(op);
		x[i] = x0 - h;
		fm = lossof(op);
		x[i] = x0;
		num = (fp - fm) / (2.0 * h);
		err = fabs(a - num);
		tol = atol + rtol * fmax(fabs(a), fabs(num));
		if (err > tol)
			pass = 0;
		if (err / tol > worst) {
			worst = err / tol;
			wi = i;
			wa = a;
			wn = num;
		}
	}
	op->fwd(op);
	if (!ok(pass, "gradient of %s (%zu elements)", what, n) || worst > 0.5)
		printf("# worst element %zu: analytic %.7g numeric %.7g (%.2f of "
		       "tolerance)\n", wi, wa, wn, worst);
	return pass;
}

/* ------------------------------------------------------------------ */
/* linear                                                              */

/* the reference: out (N,OC) = inp (N,C) w^T + b, one dot at a time */
static void
linear_naive(float *out, const float *inp, const float *w, const float *b,
             int N, int C, int OC)
{
	int i, o, c;

	for (i = 0; i < N; i++)
		for (o = 0; o < OC; o++) {
			double s = b ? b[o] : 0.0;

			for (c = 0; c < C; c++)
				s += (double)inp[(size_t)i * C + c] * w[(size_t)o * C + c];
			out[(size_t)i * OC + o] = (float)s;
		}
}

/* its gradients: dinp = dout w, dw += dout^T inp, db += sum dout */
static void
linear_naive_backward(float *dinp, float *dw, float *db, const float *dout,
                      const float *inp, const float *w, int N, int C, int OC)
{
	int i, o, c;

	memset(dinp, 0, (size_t)N * C * sizeof(float));
	for (i = 0; i < N; i++)
		for (o = 0; o < OC; o++) {
			float d = dout[(size_t)i * OC + o];

			for (c = 0; c < C; c++) {
				dinp[(size_t)i * C + c] += d * w[(size_t)o * C + c];
				dw[(size_t)o * C + c] += d * inp[(size_t)i * C + c];
			}
			db[o] += d;
		}
}

struct lin { float *inp, *w, *b; int N, C, OC; };

static void
lin_fwd(struct op *op)
{
	struct lin *l = op->ctx;

	linear_forward(op->out, l->inp, l->w, l->b, l->N, l->C, l->OC);
}

static void
test_linear(void)
{
	int N = 7, C = 5, OC = 6;
	struct lin l = { randn(N * C, 1), randn(OC * C, 1), randn(OC, 1), N, C,
	                 OC };
	struct op op = { lin_fwd, zeros(N * OC), randn(N * OC, 1), N * OC, &l,
	                 0 };
	float *ref = zeros(N * OC), *di = zeros(N * C), *dw = zeros(OC * C);
	float *db = zeros(OC), *di2 = zeros(N * C), *dw2 = zeros(OC * C);
	float *db2 = zeros(OC);

	/* against the naive loops, forward and backward */
	linear_forward(op.out, l.inp, l.w, l.b, N, C, OC);
	linear_naive(ref, l.inp, l.w, l.b, N, C, OC);
	ok(maxdiff(op.out, ref, N * OC) < 1e-5, "linear forward = naive loops");
	linear_forward(op.out, l.inp, l.w, NULL, N, C, OC);
	linear_naive(ref, l.inp, l.w, NULL, N, C, OC);
	ok(maxdiff(op.out, ref, N * OC) < 1e-5,
	   "linear forward without bias = naive loops");
	/* the input's gradient is written, the parameters' accumulate:
	 * after two calls, once and twice the naive gradients */
	linear_backward(di, dw, db, op.R, l.inp, l.w, N, C, OC);
	linear_backward(di, dw, db, op.R, l.inp, l.w, N, C, OC);
	linear_naive_backward(di2, dw2, db2, op.R, l.inp, l.w, N, C, OC);
	linear_naive_backward(di2, dw2, db2, op.R, l.inp, l.w, N, C, OC);
	ok(maxdiff(di, di2, N * C) < 1e-4 && maxdiff(dw, dw2, OC * C) < 1e-4 &&
	   maxdiff(db, db2, OC) < 1e-4,
	   "linear backward writes dinp, accumulates dw and db = naive loops");
	memset(dw, 0, OC * C * sizeof(float));
	memset(db, 0, OC * sizeof(float));
	linear_backward(di, dw, db, op.R, l.inp, l.w, N, C, OC);
	gradcheck(&op, l.inp, di, N * C, 1e-2f, 1e-3, 1e-3, "linear input");
	gradcheck(&op, l.w, dw, OC * C, 1e-2f, 1e-3, 1e-3, "linear weight");
	gradcheck(&op, l.b, db, OC, 1e-2f, 1e-3, 1e-3, "linear bias");
	/* a larger product through the threaded sgemm */
	{
		int n = 300, c = 130, oc = 70;
		float *x = randn(n * c, 1), *w = randn(oc * c, 1), *b = randn(oc, 1);
		float *o1 = zeros(n * oc), *o2 = zeros(n * oc);

		linear_forward(o1, x, w, b, n, c, oc);
		linear_naive(o2, x, w, b, n, c, oc);
		ok(maxdiff(o1, o2, n * oc) < 1e-3,
		   "linear forward 300x130x70 = naive loops");
		free(x), free(w), free(b), free(o1), free(o2);
	}
	free(l.inp), free(l.w), free(l.b), free(op.out), free(op.R), free(ref);
	free(di), free(dw), free(db), free(di2), free(dw2), free(db2);
}

/* ------------------------------------------------------------------ */
/* layernorm                                                           */

struct ln { float *inp, *w, *b, *mean, *rstd; int N, C; };

/* out (2,N,C): the layer norm of inp, then inp itself, a residual
 * branch beside it */
static void
ln_fwd(struct op *op)
{
	struct ln *l = op->ctx;
	size_t n = (size_t)l->N * l->C;

	layernorm_forward(op->out, l->mean, l->rstd, l->inp, l->w, l->b, l->N,
	                  l->C, 1e-5f);
	memcpy(op->out + n, l->inp, n * sizeof(float));
}

static void
test_layernorm(void)
{
	int N = 6, C = 8, i;
	struct ln l = { randn(N * C, 1), randn(C, 1), randn(C, 1), zeros(N),
	                zeros(N), N, C };
	struct op op = { ln_fwd, zeros(2 * N * C), randn(2 * N * C, 1),
	                 2 * N * C, &l, 0 };
	float *di = zeros(N * C), *dw = zeros(C), *db = zeros(C);
	double m = 0, v = 0;

	/* with w = 1, b = 0 each row has mean 0 and variance 1 */
	{
		float *one = zeros(C), *zero = zeros(C);

		for (i = 0; i < C; i++)
			one[i] = 1.0f;
		layernorm_forward(op.out, l.mean, l.rstd, l.inp, one, zero, N, C,
		                  1e-5f);
		for (i = 0; i < C; i++) {
			m += op.out[i];
			v += (double)op.out[i] * op.out[i];
		}
		ok(fabs(m / C) < 1e-5 && fabs(v / C - 1.0) < 1e-3,
		   "layernorm rows have mean 0 and variance 1");
		free(one), free(zero);
	}
	/* the residual branch's gradient (R's second half) joins in dres */
	ln_fwd(&op);
	layernorm_backward(di, op.R + N * C, dw, db, op.R, l.inp, l.w, l.mean,
	                   l.rstd, N, C);
	gradcheck(&op, l.inp, di, N * C, 1e-2f, 2e-3, 2e-3,
	          "layernorm input, with a residual branch");
	gradcheck(&op, l.w, dw, C, 1e-2f, 1e-3, 1e-3, "layernorm weight");
	gradcheck(&op, l.b, db, C, 1e-2f, 1e-3, 1e-3, "layernorm bias");
	free(l.inp), free(l.w), free(l.b), free(l.mean), free(l.rstd);
	free(op.out), free(op.R), free(di), free(dw), free(db);
}

/* ------------------------------------------------------------------ */
/* attention                                                           */

struct attn { float *qkv, *att; int B, T, C, NH; };

static void
attn_fwd(struct op *op)
{
	struct attn *a = op->ctx;

	attention_forward(op->out, a->att, a->qkv, a->B, a->T, a->C, a->NH);
}

static void
test_attention(void)
{
	int B = 2, T = 5, C = 8, NH = 2, t, s;
	struct attn a = { randn(B * T * 3 * C, 1), zeros(B * NH * T * T), B, T,
	                  C, NH };
	struct op op = { attn_fwd, zeros(B * T * C), randn(B * T * C, 1),
	                 B * T * C, &a, 0 };
	float *dqkv = zeros(B * T * 3 * C), *datt = zeros(B * NH * T * T);
	int rows = 1;

	attn_fwd(&op);
	for (t = 0; t < B * NH * T; t++) {
		double sum = 0.0;

		for (s = 0; s < T; s++)
			sum += a.att[t * T + s];
		rows &= fabs(sum - 1.0) < 1e-5;
	}
	ok(rows, "attention probabilities sum to 1 over keys");
	attention_backward(dqkv, datt, op.R, a.qkv, a.att, B, T, C, NH);
	gradcheck(&op, a.qkv, dqkv, B * T * 3 * C, 1e-2f, 1e-3, 2e-3,
	          "attention qkv");
	free(a.qkv), free(a.att), free(op.out), free(op.R), free(dqkv);
	free(datt);
}

/* ------------------------------------------------------------------ */
/* GELU                                                                */

struct ew { float *a; size_t n; };

static void
gelu_fwd(struct op *op)
{
	struct ew *e = op->ctx;

	gelu_forward(op->out, e->a, e->n);
}

static void
test_elementwise(void)
{
	size_t n = 40;
	struct ew e = { randn(n, 2), n };
	struct op op = { gelu_fwd, zeros(n), randn(n, 1), n, &e, 0 };
	float *da = zeros(n), x[3] = { -1.0f, 0.0f, 2.0f }, y[3];

	e.a[0] = 0.0f, e.a[1] = 0.005f, e.a[2] = -0.003f; /* the erff branch */

	/* values of x Phi(x) */
	gelu_forward(y, x, 3);
	ok(fabs(y[0] + 0.15865525f) < 1e-6 && y[1] == 0.0f &&
	   fabs(y[2] - 1.95449974f) < 1e-6,
	   "gelu(-1), gelu(0), gelu(2) are exact-erf values");
	gelu_forward(op.out, e.a, n);
	gelu_backward(da, e.a, op.R, n);
	gradcheck(&op, e.a, da, n, 1e-2f, 1e-3, 1e-3, "gelu input");
	free(e.a), free(op.out), free(op.R), free(da);
}

/* ------------------------------------------------------------------ */
/* losses                                                              */

struct mse { float *pred, *target, *mask; int N, P, normpix; };

static void
mse_fwd(struct op *op)
{
	struct mse *m = op->ctx;

	op->out[0] = mse_masked_forward(m->pred, m->target, m->mask, m->N,
	                                m->P, m->normpix);
}

struct xent { float *probs, *logits, *mask; int32_t *tgt; int N, K; float eps; };

static void
xent_fwd(struct op *op)
{
	struct xent *x = op->ctx;

	op->out[0] = xent_masked_forward(x->probs, x->logits, x->tgt, x->mask,
	                                 x->N, x->K, x->eps);
}

static void
test_losses(void)
{
	int N = 6, P = 5, K = 7, i, np;
	float R[1] = { 1.0f }, out[1];
	struct mse m = { randn(N * P, 1), randn(N * P, 1), zeros(N), N, P, 0 };
	struct op op = { mse_fwd, out, R, 1, &m, 0 };
	float *dp = zeros(N * P);
	struct xent x = { zeros(N * K), randn(N * K, 2), zeros(N),
	                  calloc(N, sizeof(int32_t)), N, K, 0.0f };
	float *dz = zeros(N * K);
	char what[64];

	for (i = 0; i < N; i++) {
		m.mask[i] = x.mask[i] = i % 3 != 0;
		x.tgt[i] = (i * 5) % K;
	}
	/* by hand: one masked row */
	{
		float p[4] = { 1, 2, 3, 4 }, t[4] = { 0, 0, 0, 0 };
		float mk[2] = { 0, 1 };

		ok(fabs(mse_masked_forward(p, t, mk, 2, 2, 0) - 12.5f) < 1e-6,
		   "masked MSE of a hand example is 12.5 (unmasked row ignored)");
	}
	for (np = 0; np < 2; np++) {
		m.normpix = np;
		memset(dp, 0, N * P * sizeof(float));
		mse_masked_backward(dp, m.pred, m.target, m.mask, N, P, np, 1.0f);
		snprintf(what, sizeof(what), "masked MSE%s prediction",
		         np ? " (normalised targets)" : "");
		gradcheck(&op, m.pred, dp, N * P, 1e-2f, 1e-4, 1e-3, what);
	}
	/* cross-entropy: without and with label smoothing */
	{
		float z[3] = { 0, 0, 0 }, pr[3], mk[1] = { 1 };
		int32_t t[1] = { 1 };

		ok(fabs(xent_masked_forward(pr, z, t, mk, 1, 3, 0.1f) - logf(3)) <
		   1e-6, "cross-entropy of uniform logits is log K");
	}
	op.fwd = xent_fwd;
	op.ctx = &x;
	for (np = 0; np < 2; np++) {
		x.eps = np ? 0.1f : 0.0f;
		xent_fwd(&op);
		memset(dz, 0, N * K * sizeof(float));
		xent_masked_backward(dz, x.probs, x.tgt, x.mask, N, K, x.eps, 1.0f);
		snprintf(what, sizeof(what), "masked cross-entropy logits%s",
		         np ? " (label smoothing 0.1)" : "");
		gradcheck(&op, x.logits, dz, N * K, 1e-2f, 1e-4, 1e-3, what);
	}
	free(m.pred), free(m.target), free(m.mask), free(dp);
	free(x.probs), free(x.logits), free(x.mask), free(x.tgt), free(dz);
}

int
main(void)
{
	rng_seed(&rng, 1, 0);
	test_linear();
	test_layernorm();
	test_attention();
	test_elementwise();
	test_losses();
	return tap_done();
}
