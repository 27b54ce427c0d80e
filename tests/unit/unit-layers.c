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

#ifdef _OPENMP
#include <omp.h>
#endif

#include "attn.h"
#include "gemm.h"
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

	linear_forward(op->out, l->inp, l->w, NULL, l->b, NULL, l->N, l->C,
	               l->OC);
}

/* the product path under test, for the messages */
static const char *
path(void)
{
	return gemm_native() ? "AVX-512 kernel" : "OpenBLAS";
}

/* forward (bias, residual) and backward of an N x C -> OC layer against
 * the naive loops, to tol */
static void
linear_vs_naive(int N, int C, int OC, double tol)
{
	float *x = randn((size_t)N * C, 1), *w = randn((size_t)OC * C, 1);
	float *b = randn(OC, 1), *res = randn((size_t)N * OC, 1);
	float *dy = randn((size_t)N * OC, 1);
	float *o1 = zeros((size_t)N * OC), *o2 = zeros((size_t)N * OC);
	float *di = zeros((size_t)N * C), *dw = zeros((size_t)OC * C);
	float *db = zeros(OC), *di2 = zeros((size_t)N * C);
	float *dw2 = zeros((size_t)OC * C), *db2 = zeros(OC);
	size_t i;

	linear_forward(o1, x, w, NULL, b, NULL, N, C, OC);
	linear_naive(o2, x, w, b, N, C, OC);
	ok(maxdiff(o1, o2, (size_t)N * OC) < tol,
	   "linear forward %dx%dx%d = naive loops (%s)", N, C, OC, path());
	linear_forward(o1, x, w, NULL, NULL, res, N, C, OC);
	linear_naive(o2, x, w, NULL, N, C, OC);
	for (i = 0; i < (size_t)N * OC; i++)
		o2[i] += res[i];
	ok(maxdiff(o1, o2, (size_t)N * OC) < tol,
	   "linear forward %dx%dx%d without bias, with a residual = naive loops "
	   "(%s)", N, C, OC, path());
	/* the input's gradient is written, the parameters' set (acc 0,
	 * over what was there) and then added to: after two calls, once
	 * and twice the naive gradients */
	for (i = 0; i < (size_t)OC * C; i++)
		dw[i] = 1e6f;
	for (i = 0; i < (size_t)OC; i++)
		db[i] = 1e6f;
	linear_backward(di, dw, db, dy, x, w, NULL, NULL, N, C, OC, 0);
	linear_backward(di, dw, db, dy, x, w, NULL, NULL, N, C, OC, 1);
	linear_naive_backward(di2, dw2, db2, dy, x, w, N, C, OC);
	linear_naive_backward(di2, dw2, db2, dy, x, w, N, C, OC);
	ok(maxdiff(di, di2, (size_t)N * C) < tol &&
	   maxdiff(dw, dw2, (size_t)OC * C) < 2 * tol &&
	   maxdiff(db, db2, OC) < 2 * tol,
	   "linear backward %dx%dx%d writes dinp, sets and then accumulates dw "
	   "and db = naive loops (%s)", N, C, OC, path());
	/* setting is adding to zeros, to the byte */
	memset(dw2, 0, (size_t)OC * C * sizeof(float));
	memset(db2, 0, (size_t)OC * sizeof(float));
	linear_backward(di2, dw2, db2, dy, x, w, NULL, NULL, N, C, OC, 1);
	linear_backward(di, dw, db, dy, x, w, NULL, NULL, N, C, OC, 0);
	ok(!memcmp(dw, dw2, (size_t)OC * C * sizeof(float)) &&
	   !memcmp(db, db2, (size_t)OC * sizeof(float)),
	   "linear backward %dx%dx%d: dw and db set = added to zeros, to the "
	   "byte (%s)", N, C, OC, path());
	/* the weight packed beforehand: the same bytes */
	{
		float *wp = zeros(linear_packsize(C, OC));

		linear_forward(o1, x, w, NULL, b, res, N, C, OC);
		linear_pack(wp, w, C, OC, 0);
		linear_forward(o2, x, w, wp, b, res, N, C, OC);
		i = memcmp(o1, o2, (size_t)N * OC * sizeof(float));
		linear_pack(wp, w, C, OC, 1);
		linear_backward(di2, NULL, NULL, dy, x, w, wp, NULL, N, C, OC, 0);
		ok(!i && !memcmp(di, di2, (size_t)N * C * sizeof(float)),
		   "linear %dx%dx%d with its weight packed first: the same bytes "
		   "(%s)", N, C, OC, path());
		free(wp);
	}
	/* GELU on the product's blocks as they are done: the same bytes as
	 * after it, forward (with and without the derivatives) and
	 * backward (weights packed or not) */
	{
		float *wp = zeros(linear_packsize(C, OC));
		float *g1 = zeros((size_t)N * OC), *g2 = zeros((size_t)N * OC);
		float *gx = randn((size_t)N * C, 1);
		int same;

		linear_pack(wp, w, C, OC, 0);
		linear_forward(o1, x, w, NULL, b, NULL, N, C, OC);
		gelu_forward(o1, g1, o1, (size_t)N * OC);
		linear_gelu_forward(o2, g2, x, w, wp, b, N, C, OC);
		same = !memcmp(o1, o2, (size_t)N * OC * sizeof(float)) &&
		       !memcmp(g1, g2, (size_t)N * OC * sizeof(float));
		linear_gelu_forward(o2, NULL, x, w, NULL, b, N, C, OC);
		same &= !memcmp(o1, o2, (size_t)N * OC * sizeof(float));
		ok(same, "linear then GELU %dx%dx%d, fused: the same bytes (%s)", N,
		   C, OC, path());
		linear_pack(wp, w, C, OC, 1);
		linear_backward(di, NULL, NULL, dy, x, w, NULL, NULL, N, C, OC, 0);
		gelu_backward(di, gx, di, (size_t)N * C);
		linear_backward(di2, NULL, NULL, dy, x, w, wp, gx, N, C, OC, 0);
		same = !memcmp(di, di2, (size_t)N * C * sizeof(float));
		linear_backward(di2, NULL, NULL, dy, x, w, NULL, gx, N, C, OC, 0);
		ok(same && !memcmp(di, di2, (size_t)N * C * sizeof(float)),
		   "linear backward %dx%dx%d then GELU's, fused: the same bytes (%s)",
		   N, C, OC, path());
		free(wp), free(g1), free(g2), free(gx);
	}
	free(x), free(w), free(b), free(res), free(dy), free(o1), free(o2);
	free(di), free(dw), free(db), free(di2), free(dw2), free(db2);
}

static void
test_linear(void)
{
	int N = 7, C = 5, OC = 6;
	struct lin l = { randn(N * C, 1), randn(OC * C, 1), randn(OC, 1), N, C,
	                 OC };
	struct op op = { lin_fwd, zeros(N * OC), randn(N * OC, 1), N * OC, &l,
	                 0 };
	float *di = zeros(N * C), *dw = zeros(OC * C), *db = zeros(OC);

	linear_vs_naive(N, C, OC, 1e-5);
	/* products across the kernel's tiles (12 x 32) and blocks of k
	 * (GEMM_KC), in both directions, with last groups of 2 to 10 rows;
	 * wider than a block of columns (NC = 512; NCPRE = 768 with the
	 * weight packed first), with the weight read in place (fewer rows
	 * than 96) and packed */
	linear_vs_naive(300, 130, 70, 1e-3);
	linear_vs_naive(29, 300, 33, 1e-3);
	linear_vs_naive(50, 40, 28, 1e-3);
	linear_vs_naive(40, 20, 600, 1e-3);
	linear_vs_naive(130, 20, 600, 1e-3);
	linear_vs_naive(100, 20, 1600, 1e-3);
	linear_backward(di, dw, db, op.R, l.inp, l.w, NULL, NULL, N, C, OC, 0);
	gradcheck(&op, l.inp, di, N * C, 1e-2f, 1e-3, 1e-3, "linear input");
	gradcheck(&op, l.w, dw, OC * C, 1e-2f, 1e-3, 1e-3, "linear weight");
	gradcheck(&op, l.b, db, OC, 1e-2f, 1e-3, 1e-3, "linear bias");
	free(l.inp), free(l.w), free(l.b), free(op.out), free(op.R);
	free(di), free(dw), free(db);
}

/*
 * What lets threads share a batch by samples (vit.c): a row's output
 * does not depend on the other rows in the same call, so 300 rows in
 * one call and in calls of 13 and 287 give the same bytes.
 */
static void
test_rows(void)
{
	int N = 300, C = 130, OC = 70, n1 = 13;
	float *x = randn((size_t)N * C, 1), *w = randn((size_t)OC * C, 1);
	float *b = randn(OC, 1), *o1 = zeros((size_t)N * OC);
	float *o2 = zeros((size_t)N * OC);

	linear_forward(o1, x, w, NULL, b, NULL, N, C, OC);
	linear_forward(o2, x, w, NULL, b, NULL, n1, C, OC);
	linear_forward(o2 + (size_t)n1 * OC, x + (size_t)n1 * C, w, NULL, b,
	               NULL, N - n1, C, OC);
	ok(!memcmp(o1, o2, (size_t)N * OC * sizeof(float)),
	   "a row's linear output does not depend on the rows around it (%s)",
	   path());
	free(x), free(w), free(b), free(o1), free(o2);
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
	/* dw and db set over what was there */
	for (i = 0; i < C; i++)
		dw[i] = db[i] = 1e6f;
	layernorm_backward(di, op.R + N * C, dw, db, op.R, l.inp, l.w, l.mean,
	                   l.rstd, N, C, 0);
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

/*
 * The AVX-512 kernel of short sequences (attn.c), where the CPU has it:
 * the same bytes as the products and softmax of the other path, forward
 * and backward, for T across its vectors' edges and each head size;
 * and its gradient against finite differences.
 */
static int
attention_paths_agree(int B, int T, int C, int NH)
{
	size_t nq = (size_t)B * T * 3 * C, na = (size_t)B * NH * T * T;
	size_t no = (size_t)B * T * C;
	float *qkv = randn(nq, 2), *dout = randn(no, 1);
	float *out[2], *att[2], *dqkv[2], *datt[2];
	int i, same;

	for (i = 0; i < 2; i++) {
		out[i] = zeros(no), att[i] = zeros(na);
		dqkv[i] = zeros(nq), datt[i] = zeros(na);
		attn_force(i == 0 ? 0 : -1);
		attention_forward(out[i], att[i], qkv, B, T, C, NH);
		attention_backward(dqkv[i], datt[i], dout, qkv, att[i], B, T, C,
		                   NH);
	}
	same = !memcmp(out[0], out[1], no * sizeof(float)) &&
	       !memcmp(att[0], att[1], na * sizeof(float)) &&
	       !memcmp(dqkv[0], dqkv[1], nq * sizeof(float)) &&
	       !memcmp(datt[0], datt[1], na * sizeof(float));
	for (i = 0; i < 2; i++)
		free(out[i]), free(att[i]), free(dqkv[i]), free(datt[i]);
	free(qkv), free(dout);
	return same;
}

static void
test_attention_native(void)
{
	static const int Ts[] = { 8, 13, 16, 17, 33, 50, 64, 65, 197, 256 };
	int B = 1, T = 13, C = 32, NH = 2, i, hs, same = 1;
	struct attn a = { randn(B * T * 3 * C, 1), zeros(B * NH * T * T), B, T,
	                  C, NH };
	struct op op = { attn_fwd, zeros(B * T * C), randn(B * T * C, 1),
	                 B * T * C, &a, 0 };
	float *dqkv = zeros(B * T * 3 * C), *datt = zeros(B * NH * T * T);

	if (!attn_native(T, C / NH)) {
		printf("ok %d - attention kernel # SKIP no AVX-512 here\n",
		       ++ntest);
		free(a.qkv), free(a.att), free(op.out), free(op.R), free(dqkv);
		free(datt);
		return;
	}
	for (i = 0; i < (int)(sizeof(Ts) / sizeof(Ts[0])); i++)
		for (hs = 16; hs <= 64; hs += 16)
			same &= attention_paths_agree(2, Ts[i], 2 * hs, 2);
	ok(same, "attention kernel (T 8 to 256, heads of 16 to 64) = products "
	   "and softmax, byte for byte");
	attn_fwd(&op);
	attention_backward(dqkv, datt, op.R, a.qkv, a.att, B, T, C, NH);
	gradcheck(&op, a.qkv, dqkv, B * T * 3 * C, 1e-2f, 1e-3, 2e-3,
	          "attention kernel qkv");
	free(a.qkv), free(a.att), free(op.out), free(op.R), free(dqkv);
	free(datt);
}

/* ------------------------------------------------------------------ */
/* GELU                                                                */

struct ew { float *a, *grad; size_t n; };

static void
gelu_fwd(struct op *op)
{
	struct ew *e = op->ctx;

	gelu_forward(op->out, e->grad, e->a, e->n);
}

static void
test_elementwise(void)
{
	size_t n = 40;
	struct ew e = { randn(n, 2), zeros(n), n };
	struct op op = { gelu_fwd, zeros(n), randn(n, 1), n, &e, 0 };
	float *da = zeros(n), *y2 = zeros(n);
	float x[3] = { -1.0f, 0.0f, 2.0f }, y[3];

	e.a[0] = 0.0f, e.a[1] = 0.005f, e.a[2] = -0.003f; /* near 0 */

	/* values of x Phi(x) */
	gelu_forward(y, NULL, x, 3);
	ok(fabs(y[0] + 0.15865525f) < 1e-6 && y[1] == 0.0f &&
	   fabs(y[2] - 1.95449974f) < 1e-6,
	   "gelu(-1), gelu(0), gelu(2) are exact-erf values");
	gelu_forward(op.out, e.grad, e.a, n);
	gelu_forward(y2, NULL, e.a, n);
	ok(!memcmp(op.out, y2, n * sizeof(float)),
	   "gelu's output is the same with and without its derivative");
	gelu_backward(da, e.grad, op.R, n);
	gradcheck(&op, e.a, da, n, 1e-2f, 1e-3, 1e-3, "gelu input");
	free(e.a), free(e.grad), free(op.out), free(op.R), free(da), free(y2);
}

/* ------------------------------------------------------------------ */
/* losses                                                              */

struct mse { float *pred, *target, *mask; int N, P, normpix; };

/* the mean loss of rows loss (N) under mask (N), as vit.c takes it */
static float
mean_loss(const double *loss, const float *mask, int N)
{
	return loss_mean(loss, masked_count(mask, N), N);
}

static void
mse_fwd(struct op *op)
{
	struct mse *m = op->ctx;
	double loss[m->N];

	mse_masked_forward(loss, m->pred, m->target, m->mask, m->N, m->P,
	                   m->normpix);
	op->out[0] = mean_loss(loss, m->mask, m->N);
}

struct xent { float *probs, *logits, *mask; int32_t *tgt; int N, K; float eps; };

static void
xent_fwd(struct op *op)
{
	struct xent *x = op->ctx;
	double loss[x->N];

	xent_masked_forward(loss, x->probs, x->logits, x->tgt, x->mask, x->N,
	                    x->K, x->eps);
	op->out[0] = mean_loss(loss, x->mask, x->N);
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
		double loss[2];

		mse_masked_forward(loss, p, t, mk, 2, 2, 0);
		ok(loss[0] == 0.0 && fabs(mean_loss(loss, mk, 2) - 12.5f) < 1e-6,
		   "masked MSE of a hand example is 12.5 (unmasked row ignored)");
	}
	for (np = 0; np < 2; np++) {
		m.normpix = np;
		mse_masked_backward(dp, m.pred, m.target, m.mask, N, P, np,
		                    masked_count(m.mask, N), 1.0f);
		snprintf(what, sizeof(what), "masked MSE%s prediction",
		         np ? " (normalised targets)" : "");
		gradcheck(&op, m.pred, dp, N * P, 1e-2f, 1e-4, 1e-3, what);
	}
	/* cross-entropy: without and with label smoothing */
	{
		float z[3] = { 0, 0, 0 }, pr[3], mk[1] = { 1 };
		int32_t t[1] = { 1 };
		double loss[1];

		xent_masked_forward(loss, pr, z, t, mk, 1, 3, 0.1f);
		ok(fabs(mean_loss(loss, mk, 1) - logf(3)) < 1e-6,
		   "cross-entropy of uniform logits is log K");
	}
	op.fwd = xent_fwd;
	op.ctx = &x;
	for (np = 0; np < 2; np++) {
		x.eps = np ? 0.1f : 0.0f;
		xent_fwd(&op);
		xent_masked_backward(dz, x.probs, x.tgt, x.mask, N, K, x.eps,
		                     masked_count(x.mask, N), 1.0f);
		snprintf(what, sizeof(what), "masked cross-entropy logits%s",
		         np ? " (label smoothing 0.1)" : "");
		gradcheck(&op, x.logits, dz, N * K, 1e-2f, 1e-4, 1e-3, what);
	}
	free(m.pred), free(m.target), free(m.mask), free(dp);
	free(x.probs), free(x.logits), free(x.mask), free(x.tgt), free(dz);
}

/* layers_threads: every thread of the team flushes subnormals to zero,
 * and so does a thread a larger team starts later (it inherits the
 * flags; vit.c's and optim.c's teams are made after the call) */
static void
test_threads(void)
{
	static volatile float tiny = 1e-30f, scale = 1e-10f, sub = 1e-40f, big = 1e30f;
	int i, k, nt = 0;

#ifdef _OPENMP
	/* a team that exists before the call keeps its threads */
#pragma omp parallel num_threads(2)
	nt = omp_get_num_threads();
#endif
	layers_threads(2);
	for (k = 2; k <= 4; k += 2) {
		float out[4] = { -1, -1, -1, -1 }, in[4] = { -1, -1, -1, -1 };

#ifdef _OPENMP
#pragma omp parallel num_threads(k) reduction(max : nt)
		{
			int t = omp_get_thread_num();

			out[t] = tiny * scale; /* a subnormal result */
			in[t] = sub * big;     /* a subnormal input, a normal product */
			nt = omp_get_num_threads();
		}
#else
		out[0] = tiny * scale;
		in[0] = sub * big;
		nt = 1;
#endif
		/* the bits, since this thread reads subnormals as zero too */
		for (i = 0; i < nt; i++) {
			uint32_t o, n;

			memcpy(&o, &out[i], 4);
			memcpy(&n, &in[i], 4);
			ok(o == 0, "thread %d of %d flushes a subnormal result to zero",
			   i, nt);
			ok(n == 0, "thread %d of %d reads a subnormal input as zero", i,
			   nt);
		}
	}
}

int
main(void)
{
	rng_seed(&rng, 1, 0);
	test_threads();
	test_linear();
	test_rows();
	if (gemm_native()) {
		/* and the OpenBLAS path of other CPUs */
		gemm_force(0);
		test_linear();
		gemm_force(-1);
	}
	test_layernorm();
	test_attention();
	test_attention_native();
	test_elementwise();
	test_losses();
	return tap_done();
}
