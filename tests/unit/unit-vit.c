/* See LICENSE file for copyright and license details. */
/*
 * unit-vit: tests for lib/vit.c and lib/optim.c, printed as TAP.
 *
 * A whole small model (2 samples, 3x2 grid of 2x2x2 patches, widths 8,
 * one block each side), for both targets: every parameter gradient of
 * vit_backward against central differences of vit_forward's loss under a
 * fixed mask (Richardson-extrapolated central differences).  Also: the masking keeps V patches per sample, the sin-cos
 * table matches MAE's formula, AdamW's first step and the schedule,
 * AdamW with the gradient norm and the weights' packs in its pass.
 *
 * Output: TAP, "1..N" last; exit status 1 if any check failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "optim.h"
#include "vit.h"
#include "tap.h"

#ifdef _OPENMP
#include <omp.h>
#endif


static void
model_gradcheck(int target, int normpix, float smoothing)
{
	struct vit_config c = { .patch = 2, .channels = 2, .gh = 3, .gw = 2,
	                        .dim = 8, .depth = 1, .heads = 2, .ddim = 8,
	                        .ddepth = 1, .dheads = 2, .mlp = 2,
	                        .target = target, .k = 5, .normpix = normpix,
	                        .smoothing = smoothing, .ratio = 0.5f };
	struct vit v;
	struct rng r;
	char msg[256];
	int B = 2, i, bad = 0, checked = 0;
	float *x, *grad;
	int32_t tok[12];
	size_t j, n;

	if (vit_build(&v, &c, B, msg, sizeof(msg)) < 0) {
		ok(0, "vit_build: %s", msg);
		return;
	}
	vit_init(&v, 3);
	rng_seed(&r, 5, 0);
	n = (size_t)B * v.L * v.P;
	x = malloc(n * sizeof(float));
	for (j = 0; j < n; j++)
		x[j] = (float)(2.0 * rng_uniform(&r) - 1.0);
	for (j = 0; j < 12; j++)
		tok[j] = rng_below(&r, c.k);
	/* cls and mask token and all biases away from 0 */
	for (j = 0; j < v.nparams; j++)
		v.params[j] += (float)(0.2 * (rng_uniform(&r) - 0.5));
	vit_mask(&v, B, &r, NULL);
	vit_forward(&v, x, tok);
	vit_zero_grad(&v);
	vit_backward(&v);
	grad = malloc(v.nparams * sizeof(float));
	memcpy(grad, v.grads, v.nparams * sizeof(float));
	for (i = 0; i < v.npt; i++) {
		const struct vit_tensor *t = &v.pt[i];
		size_t step = t->n > 8 ? t->n / 8 : 1;

		for (j = 0; j < t->n; j += step) {
			float *p = v.params + t->off + j, p0 = *p, h = 1e-2f;
			double fp, fm, num, a = grad[t->off + j];

			double d1, d2;

			/* Richardson: two central differences, h and h/2 */
			*p = p0 + h;
			fp = vit_forward(&v, x, tok);
			*p = p0 - h;
			fm = vit_forward(&v, x, tok);
			d1 = (fp - fm) / (2.0 * h);
			*p = p0 + h / 2;
			fp = vit_forward(&v, x, tok);
			*p = p0 - h / 2;
			fm = vit_forward(&v, x, tok);
			d2 = (fp - fm) / h;
			*p = p0;
			num = (4.0 * d2 - d1) / 3.0;
			checked++;
			if (fabs(num - a) > 1e-3 + 2e-2 * fmax(fabs(num), fabs(a))) {
				if (bad++ < 5)
					printf("# %s[%zu]: analytic %.6g numeric %.6g\n",
					       t->name, j, a, num);
			}
		}
	}
	ok(!bad, "whole model, %s target%s: %d parameter gradients match "
	   "central differences", target == VIT_TOKENS ? "token" : "pixel",
	   normpix ? " (norm-pix)" : smoothing > 0 ? " (smoothing 0.1)" : "",
	   checked);
	free(grad);
	free(x);
	vit_free(&v);
}

static void
test_mask(void)
{
	struct vit_config c = { .patch = 1, .channels = 1, .gh = 7, .gw = 7,
	                        .dim = 8, .depth = 1, .heads = 2, .ddim = 8,
	                        .ddepth = 1, .dheads = 2, .mlp = 1,
	                        .target = VIT_PIXEL, .ratio = 0.75f };
	struct vit v;
	struct rng r;
	char msg[256];
	int b, l, good = 1, same = 1;

	vit_build(&v, &c, 4, msg, sizeof(msg));
	rng_seed(&r, 1, 2);
	vit_mask(&v, 4, &r, NULL);
	good &= v.V == 12;
	for (b = 0; b < 4; b++) {
		int vis = 0;

		for (l = 0; l < v.L; l++)
			vis += v.restore[b * v.L + l] < v.V;
		good &= vis == v.V;
		for (l = 0; l < v.V; l++)
			good &= v.restore[b * v.L + v.keep[b * v.V + l]] == l;
		if (b)
			same &= !memcmp(v.keep, v.keep + b * v.V, v.V * sizeof(int));
	}
	ok(good && !same, "masking keeps int(49 x 0.25) = 12 patches per "
	   "sample, different per sample");
	vit_free(&v);
}

static void
test_sincos(void)
{
	float pe[(1 + 6) * 8];
	int good = 1;

	vit_sincos(pe, 8, 2, 3);
	/* patch (row 1, column 2), index 5: MAE's omega = 1/10000^(k/2) */
	good &= pe[0] == 0.0f && pe[7] == 0.0f;
	good &= fabsf(pe[6 * 8 + 0] - sinf(2.0f)) < 1e-6;
	good &= fabsf(pe[6 * 8 + 1] - sinf(2.0f / 100.0f)) < 1e-6;
	good &= fabsf(pe[6 * 8 + 2] - cosf(2.0f)) < 1e-6;
	good &= fabsf(pe[6 * 8 + 4] - sinf(1.0f)) < 1e-6;
	good &= fabsf(pe[6 * 8 + 7] - cosf(1.0f / 100.0f)) < 1e-6;
	ok(good, "2-D sin-cos position embedding: CLS row 0, column then row");
}

/*
 * The norm read in AdamW's pass: the same bytes as grad_norm and then
 * adamw_update_parts, over parts that cross the norm's chunks (of 80
 * floats for n = 300000), with a gap between two of them, three steps,
 * on 1 to 4 threads; and the weights packed in that pass (1000 = 40 x
 * 25, 150000 = 300 x 500, 148960 = 140 x 1064: bands of 32 rows that
 * cross chunks and the threads' boundaries) = linear_pack of the
 * updated weights.
 */
static void
test_update_norm(void)
{
	enum { N = 300000 };
	struct adamw_part parts[] = {
		{ 0, 37, 0.05f, NULL, 37, 1 }, { 37, 1000, 0.0f, NULL, 40, 25 },
		{ 1040, 150000, 0.05f, NULL, 300, 500 },
		{ 151040, N - 151040, 0.0f, NULL, 140, 1064 },
	};
	float *p1 = malloc(N * sizeof(*p1)), *p2 = malloc(N * sizeof(*p2));
	float *g = malloc(N * sizeof(*g)), *pk[4] = { NULL }, *ref = NULL;
	struct adamw a1, a2;
	int s, k, nt, same = 1, packs = 1;
	size_t i, psz = linear_packsize(1064, 300);

	for (k = 1; k < 4; k++)
		pk[k] = calloc(psz, sizeof(float));
	ref = calloc(psz, sizeof(float));
	if (!p1 || !p2 || !g || !pk[1] || !pk[2] || !pk[3] || !ref) {
		ok(0, "AdamW with the gradient norm: out of memory");
		return;
	}
	for (nt = 1; nt <= 4; nt++) {
		if (adamw_init(&a1, N, 0.9f, 0.95f, 1e-8f) < 0 ||
		    adamw_init(&a2, N, 0.9f, 0.95f, 1e-8f) < 0) {
			ok(0, "AdamW with the gradient norm: out of memory");
			return;
		}
#ifdef _OPENMP
		omp_set_num_threads(nt);
#endif
		for (i = 0; i < N; i++) {
			p1[i] = p2[i] = (float)sin(0.1 * (double)i);
			g[i] = (float)cos(0.37 * (double)i) * (i % 7 ? 1.0f : 1e-3f);
		}
		for (s = 0; s < 3; s++) {
			double n1, n2;

			adamw_tick(&a1);
			adamw_tick(&a2);
			n1 = grad_norm(g, N);
			for (k = 0; k < 4; k++)
				parts[k].pack = NULL;
			adamw_update_parts(&a1, p1, g, parts, 4, 1e-2f);
			for (k = 1; k < 4; k++)
				parts[k].pack = pk[k];
			n2 = adamw_update_norm(&a2, p2, g, N, parts, 4, 1e-2f);
			same &= n1 == n2;
			for (k = 1; k < 4; k++) {
				const struct adamw_part *q = &parts[k];

				/* zeros where neither writes (half of a last panel
				 * of 16 rows or fewer) */
				memset(ref, 0, psz * sizeof(float));
				linear_pack(ref, p2 + q->off, q->cols, q->rows, 0);
				packs &= !memcmp(ref, pk[k],
				                 linear_packsize(q->cols, q->rows) *
				                 sizeof(float));
			}
		}
		same &= !memcmp(p1, p2, N * sizeof(*p1)) &&
		        !memcmp(a1.m, a2.m, N * sizeof(*p1)) &&
		        !memcmp(a1.v, a2.v, N * sizeof(*p1));
		adamw_free(&a1);
		adamw_free(&a2);
	}
#ifdef _OPENMP
	omp_set_num_threads(omp_get_num_procs());
#endif
	ok(same, "AdamW reading the gradient norm in its pass: the same norm and "
	   "bytes as the norm and then the update (1 to 4 threads)");
	ok(packs, "AdamW packing the weights in its pass: linear_pack's bytes "
	   "(1 to 4 threads)");
	free(p1), free(p2), free(g), free(ref);
	for (k = 1; k < 4; k++)
		free(pk[k]);
}

/*
 * Training steps whose forward passes use the weights AdamW packed
 * (vit_adamw_parts with pack, vit_packed) against steps that pack them
 * in vit_forward: the same losses and parameters, to the byte.  Widths
 * 64 and MLP 128, so that weights have bands of 32 rows.
 */
static void
test_packed_steps(void)
{
	struct vit_config c = { .patch = 2, .channels = 2, .gh = 4, .gw = 4,
	                        .dim = 64, .depth = 2, .heads = 2, .ddim = 64,
	                        .ddepth = 1, .dheads = 2, .mlp = 2,
	                        .target = VIT_PIXEL, .ratio = 0.5f };
	struct vit v[2];
	struct adamw a[2];
	struct adamw_part *parts = NULL;
	char msg[256];
	int B = 3, m, st, same = 1;
	float *x = NULL;
	size_t j, n;

	for (m = 0; m < 2; m++) {
		if (vit_build(&v[m], &c, B, msg, sizeof(msg)) < 0 ||
		    adamw_init(&a[m], v[m].nparams, 0.9f, 0.95f, 1e-8f) < 0) {
			ok(0, "packed steps: %s", msg);
			return;
		}
		vit_init(&v[m], 7);
	}
	n = (size_t)B * v[0].L * v[0].P;
	x = malloc(n * sizeof(float));
	parts = malloc(v[0].npt * sizeof(*parts));
	for (j = 0; x && j < n; j++)
		x[j] = (float)sin(0.7 * (double)j);
	for (st = 0; x && parts && st < 4; st++) {
		float loss[2];

		for (m = 0; m < 2; m++) {
			struct rng r;

			rng_seed(&r, 11, (uint64_t)st);
			vit_mask(&v[m], B, &r, NULL);
			loss[m] = vit_forward(&v[m], x, NULL);
			vit_zero_grad(&v[m]);
			vit_backward(&v[m]);
			adamw_tick(&a[m]);
			vit_adamw_parts(&v[m], parts, 0.05f, m == 0);
			adamw_update_norm(&a[m], v[m].params, v[m].grads,
			                  v[m].nparams, parts, v[m].npt, 1e-3f);
			if (m == 0)
				vit_packed(&v[m]);
		}
		same &= !memcmp(&loss[0], &loss[1], sizeof(float));
	}
	same &= x && parts && !memcmp(v[0].params, v[1].params,
	                              v[0].nparams * sizeof(float));
	ok(same, "training steps on the weights AdamW packed: the same losses "
	   "and parameters as packing them in the forward pass");
	free(x), free(parts);
	for (m = 0; m < 2; m++) {
		adamw_free(&a[m]);
		vit_free(&v[m]);
	}
}

static void
test_optim(void)
{
	struct adamw a;
	struct adamw_part part = { 0, 2, 0.05f, NULL, 2, 1 };
	float p[2] = { 1.0f, -2.0f }, g[2] = { 0.5f, -0.25f };

	adamw_init(&a, 2, 0.9f, 0.95f, 1e-8f);
	adamw_tick(&a);
	adamw_update_parts(&a, p, g, &part, 1, 0.1f);
	/* first step: m/bc1 = g, sqrt(v/bc2) = |g|, so p = p(1-lr wd) - lr sgn g */
	ok(fabsf(p[0] - (1.0f * 0.995f - 0.1f)) < 1e-6 &&
	   fabsf(p[1] - (-2.0f * 0.995f + 0.1f)) < 1e-6,
	   "AdamW first step moves by lr against the gradient sign");
	adamw_free(&a);
	ok(lr_schedule(0, 100, 10, 1.0f, 0.0f) == 0.0f &&
	   fabsf(lr_schedule(5, 100, 10, 1.0f, 0.0f) - 0.5f) < 1e-6 &&
	   lr_schedule(10, 100, 10, 1.0f, 0.0f) == 1.0f &&
	   fabsf(lr_schedule(55, 100, 10, 1.0f, 0.0f) - 0.5f) < 1e-6,
	   "schedule: linear warmup, then half-cycle cosine");
	{
		float v[2] = { 3.0f, 4.0f };

		ok(fabs(grad_clip(v, 2, 1.0) - 5.0) < 1e-9 &&
		   fabsf(v[0] - 0.6f) < 1e-5 && fabsf(v[1] - 0.8f) < 1e-5,
		   "gradient clipping to norm 1");
	}
	test_update_norm();
	test_packed_steps();
}

int
main(void)
{
	model_gradcheck(VIT_PIXEL, 0, 0.0f);
	model_gradcheck(VIT_PIXEL, 1, 0.0f);
	model_gradcheck(VIT_TOKENS, 0, 0.0f);
	model_gradcheck(VIT_TOKENS, 0, 0.1f);
	test_mask();
	test_sincos();
	test_optim();
	return tap_done();
}
