/* See LICENSE file for copyright and license details. */
/*
 * classifier: the fine-tuning model on a vit encoder (classifier.h),
 * from the layers of layers.h and vit.c's encoder passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "layers.h"

/* ------------------------------------------------------------------ */
/* build                                                               */

/* one entry of the name table, 16-float aligned as vit.c's */
static void
entry(struct classifier *c, const char *name, int rank, int d0, int d1,
      int decay)
{
	struct vit_tensor *t = &c->pt[c->npt++];

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->rank = rank;
	t->dims[0] = d0;
	t->dims[1] = d1;
	t->n = (size_t)d0 * (rank > 1 ? d1 : 1);
	t->off = c->nparams;
	t->decay = decay;
	c->nparams += (t->n + 15) & ~(size_t)15;
}

int
classifier_build(struct classifier *c, struct vit *v, int K, int pool,
                 char *msg, size_t len)
{
	int D = v->c.dim, T = 1 + v->L, B = v->maxB;
	size_t bd = (size_t)B * D, bk = (size_t)B * K;
	float **p[] = { &c->feat, &c->fcn, &c->dh, &c->dfeat };
	float **q[] = { &c->logits, &c->probs, &c->dlogits };
	float **r[] = { &c->fcm, &c->fcr };
	size_t i;

	memset(c, 0, sizeof(*c));
	c->v = v;
	c->K = K;
	c->pool = pool;
	c->maxB = B;
	if (v->V != v->L || K < 1 || (pool != POOL_MEAN && pool != POOL_CLS)) {
		snprintf(msg, len, "classifier of %d classes, pool %d, on an "
		         "encoder with %d of %d patches visible", K, pool, v->V,
		         v->L);
		return -1;
	}
	if (!(c->pt = calloc(5, sizeof(*c->pt))))
		goto nomem;
	entry(c, "enc.pos_embed", 2, T, D, 0);
	if (pool == POOL_MEAN) {
		entry(c, "fc_norm.weight", 1, D, 0, 0);
		entry(c, "fc_norm.bias", 1, D, 0, 0);
	}
	entry(c, "head.weight", 2, K, D, 1);
	entry(c, "head.bias", 1, K, 0, 0);
	if (!(c->params = calloc(c->nparams, sizeof(float))) ||
	    !(c->grads = calloc(c->nparams, sizeof(float))))
		goto nomem;
	for (i = 0; i < LEN(p); i++)
		if (!(*p[i] = calloc(bd, sizeof(float))))
			goto nomem;
	for (i = 0; i < LEN(q); i++)
		if (!(*q[i] = calloc(bk, sizeof(float))))
			goto nomem;
	for (i = 0; i < LEN(r); i++)
		if (!(*r[i] = calloc(B, sizeof(float))))
			goto nomem;
	c->pos = c->params + classifier_param(c, "enc.pos_embed")->off;
	c->hw = c->params + classifier_param(c, "head.weight")->off;
	c->hb = c->params + classifier_param(c, "head.bias")->off;
	c->gpos = c->grads + classifier_param(c, "enc.pos_embed")->off;
	c->ghw = c->grads + classifier_param(c, "head.weight")->off;
	c->ghb = c->grads + classifier_param(c, "head.bias")->off;
	if (pool == POOL_MEAN) {
		c->fcw = c->params + classifier_param(c, "fc_norm.weight")->off;
		c->fcb = c->params + classifier_param(c, "fc_norm.bias")->off;
		c->gfcw = c->grads + classifier_param(c, "fc_norm.weight")->off;
		c->gfcb = c->grads + classifier_param(c, "fc_norm.bias")->off;
		for (i = 0; i < (size_t)D; i++)
			c->fcw[i] = 1.0f;
	}
	memcpy(c->pos, v->pos, (size_t)T * D * sizeof(float));
	return 0;
nomem:
	snprintf(msg, len, "out of memory for a classifier of %d classes "
	         "(batch %d)", K, B);
	classifier_free(c);
	return -1;
}

void
classifier_free(struct classifier *c)
{
	free(c->pt);
	free(c->params);
	free(c->grads);
	free(c->feat);
	free(c->fcn);
	free(c->fcm);
	free(c->fcr);
	free(c->logits);
	free(c->probs);
	free(c->dlogits);
	free(c->dh);
	free(c->dfeat);
	memset(c, 0, sizeof(*c));
}

void
classifier_init(struct classifier *c, struct rng *r)
{
	size_t i, n = (size_t)c->K * c->v->c.dim;

	/* MAE: trunc_normal_(head.weight, std=2e-5), whose bounds +-2 are
	 * 10^5 standard deviations away */
	for (i = 0; i < n; i++)
		c->hw[i] = (float)(2e-5 * rng_normal(r));
	memset(c->hb, 0, c->K * sizeof(float));
}

const struct vit_tensor *
classifier_param(const struct classifier *c, const char *name)
{
	int i;

	for (i = 0; i < c->npt; i++)
		if (!strcmp(c->pt[i].name, name))
			return &c->pt[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* drop path and layer decay                                           */

void
classifier_droppath(float *dp, int depth, int B, double rate, struct rng *r)
{
	int i, j, b;

	for (i = 0; i < depth; i++) {
		double p = depth > 1 ? rate * i / (depth - 1) : 0.0;
		float keep = (float)(1.0 / (1.0 - p));

		for (j = 0; j < 2; j++)
			for (b = 0; b < B; b++)
				dp[((size_t)2 * i + j) * B + b] =
				    rng_uniform(r) >= p ? keep : 0.0f;
	}
}

int
classifier_layer(const char *name, int depth)
{
	int i;

	if (!strncmp(name, "enc.patch_embed.", 16) ||
	    !strcmp(name, "enc.cls_token") || !strcmp(name, "enc.pos_embed"))
		return 0;
	if (sscanf(name, "enc.blk.%d.", &i) == 1 && i >= 0 && i < depth)
		return i + 1;
	return depth + 1;
}

double
classifier_lr_scale(const char *name, int depth, double decay)
{
	return pow(decay, depth + 1 - classifier_layer(name, depth));
}

/* ------------------------------------------------------------------ */
/* the loss                                                            */

float
softxent_forward(float *probs, const float *logits, const float *targets,
                 int B, int K)
{
	double loss = 0.0;
	int i, k;

	for (i = 0; i < B; i++) {
		const float *z = logits + (size_t)i * K, *t = targets + (size_t)i * K;
		float *pr = probs + (size_t)i * K, mx = z[0];
		double sum = 0.0, lse, l = 0.0;

		for (k = 1; k < K; k++)
			mx = z[k] > mx ? z[k] : mx;
		for (k = 0; k < K; k++) {
			pr[k] = expf(z[k] - mx);
			sum += pr[k];
		}
		lse = mx + log(sum);
		for (k = 0; k < K; k++) {
			pr[k] = (float)(pr[k] / sum);
			l += t[k] * (lse - z[k]);
		}
		loss += l;
	}
	return B ? (float)(loss / B) : 0.0f;
}

void
softxent_backward(float *dlogits, const float *probs, const float *targets,
                  int B, int K, float dloss)
{
	float g = B ? dloss / B : 0.0f;
	int i, k;

	for (i = 0; i < B; i++) {
		const float *p = probs + (size_t)i * K, *t = targets + (size_t)i * K;
		float *dz = dlogits + (size_t)i * K, st = 0.0f;

		for (k = 0; k < K; k++)
			st += t[k];
		for (k = 0; k < K; k++)
			dz[k] = g * (st * p[k] - t[k]);
	}
}

/* ------------------------------------------------------------------ */
/* forward and backward                                                */

float
classifier_forward(struct classifier *c, const float *x, int B,
                   const float *dp, const float *targets)
{
	struct vit *v = c->v;
	const struct vit_a *a = &v->a;
	int D = v->c.dim, L = v->L, T = 1 + L, b, l, d;
	const float *h;

	c->B = B;
	c->targets = targets;
	memcpy(v->pos, c->pos, (size_t)T * D * sizeof(float));
	v->dpath = dp;
	vit_encode_train(v, x, B);
	if (c->pool == POOL_MEAN) {
		/* the mean of the patch tokens, summed in patch order */
		for (b = 0; b < B; b++) {
			const float *e = a->ex[v->c.depth] + (size_t)b * T * D;
			float *f = c->feat + (size_t)b * D;

			memcpy(f, e + D, D * sizeof(float));
			for (l = 2; l <= L; l++)
				for (d = 0; d < D; d++)
					f[d] += e[(size_t)l * D + d];
			for (d = 0; d < D; d++)
				f[d] /= L;
		}
		layernorm_forward(c->fcn, c->fcm, c->fcr, c->feat, c->fcw, c->fcb, B,
		                  D, v->c.lneps);
		h = c->fcn;
	} else {
		for (b = 0; b < B; b++)
			memcpy(c->feat + (size_t)b * D, a->eln + (size_t)b * T * D,
			       D * sizeof(float));
		h = c->feat;
	}
	linear_forward(c->logits, h, c->hw, NULL, c->hb, NULL, B, D, c->K);
	c->loss = targets ? softxent_forward(c->probs, c->logits, targets, B,
	                                     c->K) : 0.0f;
	return c->loss;
}

void
classifier_zero_grad(struct classifier *c)
{
	vit_zero_grad(c->v);
	memset(c->grads, 0, c->nparams * sizeof(float));
}

void
classifier_backward(struct classifier *c)
{
	struct vit *v = c->v;
	struct vit_a *a = &v->a;
	int B = c->B, D = v->c.dim, L = v->L, T = 1 + L, b, l, d;
	float *g0 = a->g0, *dx0;

	softxent_backward(c->dlogits, c->probs, c->targets, B, c->K, 1.0f);
	linear_backward(c->dh, c->ghw, c->ghb, c->dlogits,
	                c->pool == POOL_MEAN ? c->fcn : c->feat, c->hw, NULL, NULL,
	                B, D, c->K, 1);
	/* the gradient at the last block's output (pool mean) or at the
	 * final norm's (pool cls), into a.g0 */
	if (c->pool == POOL_MEAN) {
		layernorm_backward(c->dfeat, NULL, c->gfcw, c->gfcb, c->dh, c->feat,
		                   c->fcw, c->fcm, c->fcr, B, D, 1);
		for (b = 0; b < B; b++) {
			float *gb = g0 + (size_t)b * T * D;

			memset(gb, 0, D * sizeof(float));
			for (d = 0; d < D; d++)
				gb[D + d] = c->dfeat[(size_t)b * D + d] / L;
			for (l = 2; l <= L; l++)
				memcpy(gb + (size_t)l * D, gb + D, D * sizeof(float));
		}
	} else {
		/* the gradient at the final norm's CLS rows */
		memset(g0, 0, (size_t)B * T * D * sizeof(float));
		for (b = 0; b < B; b++)
			memcpy(g0 + (size_t)b * T * D, c->dh + (size_t)b * D,
			       D * sizeof(float));
	}
	dx0 = vit_encode_backward(v, c->pool == POOL_CLS);
	/* the position embedding: the sum over the batch */
	for (b = 0; b < B; b++)
		for (l = 0; l < T * D; l++)
			c->gpos[l] += dx0[(size_t)b * T * D + l];
}

/* ------------------------------------------------------------------ */
/* the optimiser                                                       */

/* the parameters of one learning rate: a layer of the decay */
struct classifier_group {
	struct adamw_part *enc, *cls;
	int nenc, ncls;
	double scale;
};

int
classifier_opt_init(struct classifier_opt *o, const struct classifier *c,
                    double wd, double decay, char *msg, size_t len)
{
	const struct vit *v = c->v;
	int depth = v->c.depth, i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < v->npt; i++)
		if (!strncmp(v->pt[i].name, "enc.", 4) &&
		    v->pt[i].off + v->pt[i].n > o->nenc)
			o->nenc = v->pt[i].off + v->pt[i].n;
	o->ngroups = depth + 2;
	if (adamw_init(&o->enc, o->nenc, 0.9f, 0.999f, 1e-8f) < 0 ||
	    adamw_init(&o->cls, c->nparams, 0.9f, 0.999f, 1e-8f) < 0 ||
	    !(o->groups = calloc(o->ngroups, sizeof(*o->groups))))
		goto nomem;
	for (i = 0; i < o->ngroups; i++) {
		struct classifier_group *g = &o->groups[i];

		if (!(g->enc = calloc(v->npt, sizeof(*g->enc))) ||
		    !(g->cls = calloc(c->npt, sizeof(*g->cls))))
			goto nomem;
		g->scale = pow(decay, depth + 1 - i);
	}
	for (i = 0; i < v->npt + c->npt; i++) {
		int own = i >= v->npt;
		const struct vit_tensor *t = own ? &c->pt[i - v->npt] : &v->pt[i];
		struct classifier_group *g;
		struct adamw_part *pa;

		if (!own && strncmp(t->name, "enc.", 4))
			continue;
		g = &o->groups[classifier_layer(t->name, depth)];
		pa = own ? &g->cls[g->ncls++] : &g->enc[g->nenc++];
		pa->off = t->off;
		pa->n = t->n;
		pa->wd = t->decay ? (float)wd : 0.0f;
	}
	return 0;
nomem:
	snprintf(msg, len, "out of memory for the optimiser state");
	classifier_opt_free(o);
	return -1;
}

void
classifier_opt_free(struct classifier_opt *o)
{
	int i;

	for (i = 0; i < o->ngroups && o->groups; i++) {
		free(o->groups[i].enc);
		free(o->groups[i].cls);
	}
	free(o->groups);
	adamw_free(&o->enc);
	adamw_free(&o->cls);
	memset(o, 0, sizeof(*o));
}

double
classifier_clip(const struct classifier_opt *o, struct classifier *c,
                double clip)
{
	double gn = hypot(grad_norm(c->v->grads, o->nenc),
	                  grad_norm(c->grads, c->nparams));
	float sc;
	size_t i;

	if (clip > 0.0 && gn > clip) {
		sc = (float)(clip / (gn + 1e-6));
		for (i = 0; i < o->nenc; i++)
			c->v->grads[i] *= sc;
		for (i = 0; i < c->nparams; i++)
			c->grads[i] *= sc;
	}
	return gn;
}

void
classifier_opt_step(struct classifier_opt *o, struct classifier *c, float lr)
{
	int i;

	adamw_tick(&o->enc);
	adamw_tick(&o->cls);
	for (i = 0; i < o->ngroups; i++) {
		const struct classifier_group *g = &o->groups[i];
		float glr = (float)(lr * g->scale);

		adamw_update_parts(&o->enc, c->v->params, c->v->grads, g->enc,
		                   g->nenc, glr);
		adamw_update_parts(&o->cls, c->params, c->grads, g->cls, g->ncls,
		                   glr);
	}
}
