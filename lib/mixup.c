/* See LICENSE file for copyright and license details. */
/*
 * mixup: mixup, cutmix and their soft targets (mixup.h).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "mixup.h"

/* Gamma(a, 1), a > 0: Marsaglia and Tsang's squeeze for a >= 1, and
 * Gamma(a + 1) U^(1/a) below */
static double
gamma_sample(struct rng *r, double a)
{
	double d, c, x, v, u;

	if (a < 1.0) {
		u = rng_uniform(r);
		return gamma_sample(r, a + 1.0) * pow(1.0 - u, 1.0 / a);
	}
	d = a - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		do {
			x = rng_normal(r);
			v = 1.0 + c * x;
		} while (v <= 0.0);
		v = v * v * v;
		u = 1.0 - rng_uniform(r);
		if (u < 1.0 - 0.0331 * x * x * x * x ||
		    log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return d * v;
	}
}

double
beta_sample(struct rng *r, double a, double b)
{
	double x = gamma_sample(r, a), y = gamma_sample(r, b);

	return x + y > 0.0 ? x / (x + y) : 0.5;
}

static int
clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void
mixup_draw(const struct mixup *m, int H, int W, struct rng *r,
           struct mixup_draw *d)
{
	double a;
	int ch, cw, cy, cx;

	memset(d, 0, sizeof(*d));
	d->kind = MIX_NONE;
	d->lam = 1.0;
	if (m->mixup_alpha <= 0.0 && m->cutmix_alpha <= 0.0)
		return;
	if (!(rng_uniform(r) < m->prob))
		return;
	if (m->mixup_alpha > 0.0 && m->cutmix_alpha > 0.0)
		d->kind = rng_uniform(r) < m->switch_prob ? MIX_CUTMIX : MIX_MIXUP;
	else
		d->kind = m->cutmix_alpha > 0.0 ? MIX_CUTMIX : MIX_MIXUP;
	a = d->kind == MIX_CUTMIX ? m->cutmix_alpha : m->mixup_alpha;
	d->lam = beta_sample(r, a, a);
	if (d->kind == MIX_MIXUP)
		return;
	/* the box: sides sqrt(1 - lam) of the image's, centre uniform */
	ch = (int)(H * sqrt(1.0 - d->lam));
	cw = (int)(W * sqrt(1.0 - d->lam));
	cy = (int)rng_below(r, (uint32_t)H);
	cx = (int)rng_below(r, (uint32_t)W);
	d->y0 = clampi(cy - ch / 2, 0, H);
	d->y1 = clampi(cy + ch / 2, 0, H);
	d->x0 = clampi(cx - cw / 2, 0, W);
	d->x1 = clampi(cx + cw / 2, 0, W);
	d->lam = 1.0 - (double)(d->y1 - d->y0) * (d->x1 - d->x0) /
	         ((double)H * W);
}

void
mixup_apply(const struct mixup_draw *d, float *x, int B, int L, int p, int C,
            int gw)
{
	size_t n = (size_t)L * p * p * C, k;
	float lam = (float)d->lam, rest = (float)(1.0 - d->lam);
	int i, y, xx, c;

	if (d->kind == MIX_NONE)
		return;
	/* the pairs (i, B-1-i), each from both originals */
	for (i = 0; i < B / 2; i++) {
		float *a = x + (size_t)i * n, *b = x + (size_t)(B - 1 - i) * n;

		if (d->kind == MIX_MIXUP) {
			for (k = 0; k < n; k++) {
				float ak = a[k], bk = b[k];

				a[k] = lam * ak + rest * bk;
				b[k] = lam * bk + rest * ak;
			}
			continue;
		}
		for (y = d->y0; y < d->y1; y++)
			for (xx = d->x0; xx < d->x1; xx++) {
				size_t l = (size_t)(y / p) * gw + xx / p;
				size_t o = l * p * p * C + ((size_t)(y % p) * p + xx % p) * C;

				for (c = 0; c < C; c++) {
					float t = a[o + c];

					a[o + c] = b[o + c];
					b[o + c] = t;
				}
			}
	}
	/* the middle image of an odd batch is its own partner */
	if (B % 2 && d->kind == MIX_MIXUP) {
		float *a = x + (size_t)(B / 2) * n;

		for (k = 0; k < n; k++)
			a[k] = lam * a[k] + rest * a[k];
	}
}

void
mixup_targets(const struct mixup_draw *d, const int32_t *y, int B, int K,
              double smoothing, float *t)
{
	double off = smoothing / K, on = 1.0 - smoothing + off;
	int i, k;

	for (i = 0; i < B; i++)
		for (k = 0; k < K; k++)
			t[(size_t)i * K + k] = (float)(off +
			    (k == y[i] ? d->lam * (on - off) : 0.0) +
			    (k == y[B - 1 - i] ? (1.0 - d->lam) * (on - off) : 0.0));
}
