/* See LICENSE file for copyright and license details. */
/*
 * unit-classifier: lib/classifier.c, lib/mixup.c and the drop path of
 * lib/vit.c, printed as TAP.
 *
 *   unit-classifier
 *
 * Finite differences (Richardson-extrapolated central differences, f in
 * double): the soft-target cross-entropy against its logits with mixup
 * targets (smoothing 0.1, a mixup and a cutmix draw); the whole
 * fine-tuning model -- every parameter of the encoder, the position
 * embedding, fc_norm and the head -- under a fixed drop-path mask with
 * dropped and kept branches, for both poolings.  Drop path: all branches
 * kept at scale 1 is the plain block to rounding, a dropped branch adds
 * nothing, the draw follows timm's linear rule.  Mixup: targets by hand,
 * rows summing to 1; mixup and cutmix on patches equal the same mixing
 * of the images; cutmix's lam is 1 - box area / image area; Beta
 * variates have the right mean and variance.  Layer-decay scales by
 * name.
 *
 * Output: TAP, "1..N" last; exit status 1 if any check failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "mixup.h"
#include "util.h"
#include "vit.h"
#include "tap.h"

/* a small model: 3 images, a 3x2 grid of 2x2x2 patches, width 8, two
 * blocks, built with mask ratio 0 as finetune builds it */
static int
small(struct vit *v, int B, int depth)
{
	struct vit_config c = { .patch = 2, .channels = 2, .gh = 3, .gw = 2,
	                        .dim = 8, .depth = depth, .heads = 2, .ddim = 8,
	                        .ddepth = 1, .dheads = 2, .mlp = 2,
	                        .target = VIT_PIXEL, .ratio = 0.0f };
	char msg[256];

	if (vit_build(v, &c, B, msg, sizeof(msg)) < 0) {
		ok(0, "vit_build: %s", msg);
		return -1;
	}
	vit_init(v, 3);
	return 0;
}

static float *
uniform(struct rng *r, size_t n, double lo, double hi)
{
	float *x = malloc(n * sizeof(float));
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = (float)(lo + (hi - lo) * rng_uniform(r));
	return x;
}

/* Richardson: two central differences of f around *p, h and h/2 */
static double
numgrad(float *p, double (*f)(void *), void *ctx, float h)
{
	float p0 = *p;
	double fp, fm, d1, d2;

	*p = p0 + h;
	fp = f(ctx);
	*p = p0 - h;
	fm = f(ctx);
	d1 = (fp - fm) / (2.0 * h);
	*p = p0 + h / 2;
	fp = f(ctx);
	*p = p0 - h / 2;
	fm = f(ctx);
	d2 = (fp - fm) / h;
	*p = p0;
	return (4.0 * d2 - d1) / 3.0;
}

static int
close_to(double a, double n, double atol, double rtol)
{
	return fabs(a - n) <= atol + rtol * fmax(fabs(a), fabs(n));
}

/* ------------------------------------------------------------------ */
/* the loss with mixup targets                                         */

struct xe { float *z, *t, *p; int B, K; };

static double
xe_loss(void *ctx)
{
	struct xe *e = ctx;

	return softxent_forward(e->p, e->z, e->t, e->B, e->K);
}

static void
test_softxent(int kind)
{
	struct mixup m = { 0.8, 1.0, 1.0, kind == MIX_CUTMIX ? 1.0 : 0.0, 0.1 };
	struct mixup_draw d;
	struct rng r;
	struct xe e = { NULL, NULL, NULL, 5, 4 };
	int32_t y[5] = { 0, 3, 1, 1, 2 };
	float *dz;
	int i, bad = 0;

	rng_seed(&r, 11, kind);
	mixup_draw(&m, 6, 4, &r, &d);
	e.z = uniform(&r, 20, -2, 2);
	e.t = malloc(20 * sizeof(float));
	e.p = malloc(20 * sizeof(float));
	dz = malloc(20 * sizeof(float));
	mixup_targets(&d, y, 5, 4, 0.1, e.t);
	softxent_forward(e.p, e.z, e.t, 5, 4);
	softxent_backward(dz, e.p, e.t, 5, 4, 1.0f);
	for (i = 0; i < 20; i++) {
		double n = numgrad(&e.z[i], xe_loss, &e, 5e-2f);

		if (!close_to(dz[i], n, 1e-5, 1e-3) && bad++ < 3)
			diag("logit %d: analytic %.7g numeric %.7g\n", i, dz[i], n);
	}
	ok(d.kind == kind && !bad, "soft-target cross-entropy: gradient of 20 "
	   "logits = finite differences, %s targets (lam %.3f), smoothing 0.1",
	   kind == MIX_CUTMIX ? "cutmix" : "mixup", d.lam);
	free(e.z), free(e.t), free(e.p), free(dz);
}

/* ------------------------------------------------------------------ */
/* the whole model                                                     */

struct whole { struct classifier *c; float *x, *dp, *t; int B; };

static double
whole_loss(void *ctx)
{
	struct whole *w = ctx;

	return classifier_forward(w->c, w->x, w->B, w->dp, w->t);
}

static void
test_whole(int pool)
{
	struct vit v;
	struct classifier c;
	struct whole w;
	struct mixup m = { 0.8, 0.0, 1.0, 0.0, 0.1 };
	struct mixup_draw d;
	struct rng r;
	int32_t y[3] = { 2, 0, 1 };
	char msg[256];
	int B = 3, depth = 2, K = 3, i, bad = 0, checked = 0, drop = 0, k;
	int same;
	float *gv, *gc, dp[2 * 2 * 3];
	size_t j, n;

	if (small(&v, B, depth) < 0)
		return;
	if (classifier_build(&c, &v, K, pool, msg, sizeof(msg)) < 0) {
		ok(0, "classifier_build: %s", msg);
		vit_free(&v);
		return;
	}
	rng_seed(&r, 5, pool);
	classifier_init(&c, &r);
	/* every parameter away from 0 and the head not at 2e-5 */
	for (j = 0; j < v.nparams; j++)
		v.params[j] += (float)(0.2 * (rng_uniform(&r) - 0.5));
	for (j = 0; j < c.nparams; j++)
		c.params[j] += (float)(0.4 * (rng_uniform(&r) - 0.5));
	n = (size_t)B * v.L * v.P;
	w.c = &c;
	w.x = uniform(&r, n, -1, 1);
	w.B = B;
	w.t = malloc((size_t)B * K * sizeof(float));
	mixup_draw(&m, 6, 4, &r, &d);
	mixup_targets(&d, y, B, K, 0.1, w.t);
	/* a fixed mask: block 0's MLP dropped for image 1, block 1's
	 * attention for images 0 and 2; the others kept at 1/keep */
	for (k = 0; k < 12; k++)
		dp[k] = 1.25f;
	dp[0 * 3 + 1 + 3] = 0.0f;
	dp[2 * 3 + 0] = dp[2 * 3 + 2] = 0.0f;
	for (k = 0; k < 12; k++)
		drop += dp[k] == 0.0f;
	w.dp = dp;
	classifier_forward(&c, w.x, B, dp, w.t);
	classifier_zero_grad(&c);
	classifier_backward(&c);
	gv = malloc(v.nparams * sizeof(float));
	gc = malloc(c.nparams * sizeof(float));
	memcpy(gv, v.grads, v.nparams * sizeof(float));
	memcpy(gc, c.grads, c.nparams * sizeof(float));
	for (i = 0; i < v.npt + c.npt; i++) {
		int own = i >= v.npt;
		const struct vit_tensor *t = own ? &c.pt[i - v.npt] : &v.pt[i];
		float *base = own ? c.params : v.params, *g = own ? gc : gv;
		size_t step = t->n > 8 ? t->n / 8 : 1;

		if (!strncmp(t->name, "dec.", 4))
			continue;
		for (j = 0; j < t->n; j += step) {
			double num = numgrad(base + t->off + j, whole_loss, &w, 1e-2f);
			double a = g[t->off + j];

			checked++;
			if (!close_to(a, num, 1e-4, 2e-2) && bad++ < 5)
				diag("%s[%zu]: analytic %.6g numeric %.6g\n", t->name, j, a,
				     num);
		}
	}
	ok(!bad, "fine-tuning model, pool %s, drop path with %d of 12 branches "
	   "dropped: %d gradients (encoder, position embedding, %shead) = "
	   "finite differences", pool == POOL_MEAN ? "mean" : "cls", drop,
	   checked, pool == POOL_MEAN ? "fc_norm, " : "");
	/* the final norm is unused by the mean pool: no gradient */
	if (pool == POOL_MEAN) {
		const struct vit_tensor *t = vit_param(&v, "enc.norm.weight");
		int zero = 1;

		for (j = 0; j < t->n; j++)
			zero &= gv[t->off + j] == 0.0f;
		ok(zero, "pool mean: the encoder's final norm gets no gradient");
	}
	/* vit_zero_grad only marks the gradients: the next backward pass
	 * writes them, whatever the block held, and the one after adds */
	for (j = 0; j < v.nparams; j++)
		v.grads[j] = 7.0f;
	classifier_forward(&c, w.x, B, dp, w.t);
	classifier_zero_grad(&c);
	classifier_backward(&c);
	same = 1;
	for (i = 0; i < v.npt; i++)
		if (!strncmp(v.pt[i].name, "enc.", 4))
			same &= !memcmp(v.grads + v.pt[i].off, gv + v.pt[i].off,
			                v.pt[i].n * sizeof(float));
	classifier_backward(&c);
	for (i = 0; i < v.npt; i++)
		for (j = 0; !strncmp(v.pt[i].name, "enc.", 4) && j < v.pt[i].n; j++)
			same &= close_to(v.grads[v.pt[i].off + j],
			                 2.0 * gv[v.pt[i].off + j], 1e-6, 1e-5);
	ok(same, "pool %s: after zero_grad a backward pass writes the encoder's "
	   "gradients (old values gone), a second one adds to them",
	   pool == POOL_MEAN ? "mean" : "cls");
	free(gv), free(gc), free(w.x), free(w.t);
	classifier_free(&c);
	vit_free(&v);
}

/* ------------------------------------------------------------------ */
/* drop path                                                           */

static void
test_droppath(void)
{
	struct vit v;
	struct rng r;
	int B = 3, depth = 2, T, D, i, same = 1, b;
	float *x, *ref, dp[12];
	double md = 0;
	size_t j, n;

	if (small(&v, B, depth) < 0)
		return;
	T = 1 + v.L;
	D = v.c.dim;
	rng_seed(&r, 9, 0);
	n = (size_t)B * v.L * v.P;
	x = uniform(&r, n, -1, 1);
	ref = malloc((size_t)B * T * D * sizeof(float));
	vit_encode_train(&v, x, B);
	memcpy(ref, v.a.ex[depth], (size_t)B * T * D * sizeof(float));
	for (i = 0; i < 12; i++)
		dp[i] = 1.0f;
	v.dpath = dp;
	vit_encode_train(&v, x, B);
	for (j = 0; j < (size_t)B * T * D; j++)
		md = fmax(md, fabs(v.a.ex[depth][j] - ref[j]));
	ok(md < 1e-5, "drop path with every branch kept at scale 1 = no drop "
	   "path (max diff %.2g)", md);
	/* both branches of block 1 dropped for image 2: its output is its
	 * input; the other images unchanged */
	dp[2 * 3 + 2] = dp[3 * 3 + 2] = 0.0f;
	vit_encode_train(&v, x, B);
	for (j = 0; j < (size_t)T * D; j++)
		same &= v.a.ex[2][(size_t)2 * T * D + j] ==
		        v.a.ex[1][(size_t)2 * T * D + j];
	for (b = 0; b < 2; b++)
		for (j = 0; j < (size_t)T * D; j++)
			same &= fabsf(v.a.ex[2][(size_t)b * T * D + j] -
			              ref[(size_t)b * T * D + j]) < 1e-5f;
	ok(same, "a dropped block passes its image through; the others keep "
	   "theirs");
	v.dpath = NULL;
	free(x), free(ref);
	vit_free(&v);

	/* the draw: block 0 never dropped, block depth-1 at the rate */
	{
		int dd = 4, BB = 5000, k, drop0 = 0, dropl = 0, scale = 1;
		float *m = malloc((size_t)dd * 2 * BB * sizeof(float));
		double rate = 0.3, keep = 1.0 - rate * 2 / 3;

		rng_seed(&r, 1, 0);
		classifier_droppath(m, dd, BB, rate, &r);
		for (k = 0; k < 2 * BB; k++) {
			drop0 += m[k] == 0.0f;
			dropl += m[(size_t)6 * BB + k] == 0.0f;
			scale &= m[(size_t)4 * BB + k] == 0.0f ||
			         fabs(m[(size_t)4 * BB + k] - 1.0 / keep) < 1e-6;
		}
		ok(drop0 == 0 && fabs(dropl / (2.0 * BB) - rate) < 0.02 && scale,
		   "drop-path draw: rate i/(depth-1) x 0.3 (block 3 dropped %.3f), "
		   "kept branches scaled by 1/keep", dropl / (2.0 * BB));
		free(m);
	}
}

/* ------------------------------------------------------------------ */
/* mixup and cutmix                                                    */

/* pixel (y, x, c) of image i of patches (B,L,P), grid gw, patch p */
static float
pix(const float *x, int i, int L, int p, int C, int gw, int y, int xx, int c)
{
	return x[(size_t)i * L * p * p * C +
	         ((size_t)(y / p) * gw + xx / p) * p * p * C +
	         ((size_t)(y % p) * p + xx % p) * C + c];
}

static void
test_mixup(void)
{
	struct mixup m = { 0.8, 1.0, 1.0, 0.5, 0.1 };
	struct mixup_draw d;
	struct rng r;
	int B = 5, gh = 3, gw = 2, p = 3, C = 2, L = gh * gw, H = gh * p;
	int W = gw * p, K = 4, i, y, xx, c, k, good, kinds = 0, tries;
	int32_t lab[5] = { 0, 3, 1, 1, 2 };
	size_t n = (size_t)B * L * p * p * C;
	float *x0, *x, t[20];

	rng_seed(&r, 21, 0);
	x0 = uniform(&r, n, 0, 1);
	x = malloc(n * sizeof(float));
	/* one mixup and one cutmix draw */
	for (tries = 0; tries < 100 && kinds != 3; tries++) {
		mixup_draw(&m, H, W, &r, &d);
		if (d.kind == MIX_NONE || kinds & (1 << (d.kind - 1)))
			continue;
		kinds |= 1 << (d.kind - 1);
		memcpy(x, x0, n * sizeof(float));
		mixup_apply(&d, x, B, L, p, C, gw);
		good = 1;
		for (i = 0; i < B; i++)
			for (y = 0; y < H; y++)
				for (xx = 0; xx < W; xx++)
					for (c = 0; c < C; c++) {
						float a = pix(x0, i, L, p, C, gw, y, xx, c);
						float b = pix(x0, B - 1 - i, L, p, C, gw, y, xx, c);
						float got = pix(x, i, L, p, C, gw, y, xx, c), want;
						int in = y >= d.y0 && y < d.y1 && xx >= d.x0 &&
						         xx < d.x1;

						if (d.kind == MIX_MIXUP)
							want = (float)(d.lam * a + (1 - d.lam) * b);
						else
							want = in ? b : a;
						good &= fabsf(got - want) < 1e-6f;
					}
		if (d.kind == MIX_CUTMIX)
			good &= fabs(d.lam - (1.0 - (double)(d.y1 - d.y0) *
			                      (d.x1 - d.x0) / (H * W))) < 1e-12 &&
			        d.y0 >= 0 && d.y1 <= H && d.x0 >= 0 && d.x1 <= W;
		ok(good, "%s on patches = the same on the images, image i with "
		   "image B-1-i (lam %.3f%s)", d.kind == MIX_MIXUP ? "mixup" :
		   "cutmix", d.lam, d.kind == MIX_CUTMIX ? ", = 1 - box/image" : "");
		/* the targets by hand */
		mixup_targets(&d, lab, B, K, 0.1, t);
		good = 1;
		for (i = 0; i < B; i++) {
			double s = 0;

			for (k = 0; k < K; k++) {
				double want = 0.025 + (k == lab[i]) * d.lam * 0.9 +
				              (k == lab[B - 1 - i]) * (1 - d.lam) * 0.9;

				good &= fabs(t[i * K + k] - want) < 1e-6;
				s += t[i * K + k];
			}
			good &= fabs(s - 1.0) < 1e-6;
		}
		ok(good, "%s targets: lam t(y_i) + (1 - lam) t(y_B-1-i), t "
		   "smoothed by 0.1, rows summing to 1",
		   d.kind == MIX_MIXUP ? "mixup" : "cutmix");
	}
	ok(kinds == 3, "both mixup and cutmix were drawn at switch prob 0.5");
	/* no mixing: the one-hot smoothed targets */
	m.prob = 0.0;
	mixup_draw(&m, H, W, &r, &d);
	mixup_targets(&d, lab, B, K, 0.0, t);
	good = d.kind == MIX_NONE && d.lam == 1.0;
	for (i = 0; i < B; i++)
		for (k = 0; k < K; k++)
			good &= t[i * K + k] == (k == lab[i]);
	ok(good, "probability 0: no mixing, one-hot targets");
	free(x0), free(x);

	/* Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) */
	{
		double as[] = { 0.8, 1.0, 2.5 }, s, s2, mean, var, want;
		int j, N = 40000;

		for (j = 0; j < 3; j++) {
			s = s2 = 0;
			for (i = 0; i < N; i++) {
				double v = beta_sample(&r, as[j], as[j]);

				s += v;
				s2 += v * v;
			}
			mean = s / N;
			var = s2 / N - mean * mean;
			want = 1.0 / (4.0 * (2.0 * as[j] + 1.0));
			ok(fabs(mean - 0.5) < 0.01 && fabs(var - want) < 0.01 * 0.5 +
			   0.05 * want, "Beta(%.1f, %.1f): mean %.4f, variance %.4f "
			   "(expected %.4f)", as[j], as[j], mean, var, want);
		}
	}
}

static void
test_layers(void)
{
	double d = 0.75;
	int good;

	good = classifier_layer("enc.patch_embed.weight", 4) == 0 &&
	       classifier_layer("enc.cls_token", 4) == 0 &&
	       classifier_layer("enc.pos_embed", 4) == 0 &&
	       classifier_layer("enc.blk.0.norm1.weight", 4) == 1 &&
	       classifier_layer("enc.blk.3.mlp.fc2.bias", 4) == 4 &&
	       classifier_layer("enc.norm.weight", 4) == 5 &&
	       classifier_layer("fc_norm.bias", 4) == 5 &&
	       classifier_layer("head.weight", 4) == 5;
	good &= fabs(classifier_lr_scale("head.bias", 4, d) - 1.0) < 1e-12 &&
	        fabs(classifier_lr_scale("enc.blk.3.attn.qkv.weight", 4, d) -
	             0.75) < 1e-12 &&
	        fabs(classifier_lr_scale("enc.patch_embed.bias", 4, d) -
	             pow(0.75, 5)) < 1e-12;
	ok(good, "layer decay: patch embedding, CLS, positions layer 0 "
	   "(0.75^5), block i layer i+1, head layer depth+1 (1)");
}

int
main(void)
{
	test_softxent(MIX_MIXUP);
	test_softxent(MIX_CUTMIX);
	test_whole(POOL_MEAN);
	test_whole(POOL_CLS);
	test_droppath();
	test_mixup();
	test_layers();
	return tap_done();
}
