/* See LICENSE file for copyright and license details. */
/*
 * ckpt: the records of a checkpoint (ckpt.h).
 */
#include <stdio.h>
#include <string.h>

#include "ckpt.h"

int
ckpt_model_meta(struct tensor *t, const struct vit_config *c)
{
	int r = 0;

	r |= tensor_meta_set(t, "target", c->target == VIT_TOKENS ? "tokens" :
	                     "pixel");
	r |= tensor_meta_setf(t, "patch_size", "%d", c->patch);
	r |= tensor_meta_setf(t, "grid", "%dx%d", c->gh, c->gw);
	r |= tensor_meta_setf(t, "channels", "%d", c->channels);
	r |= tensor_meta_setf(t, "k", "%d", c->k);
	r |= tensor_meta_setf(t, "dim", "%d", c->dim);
	r |= tensor_meta_setf(t, "depth", "%d", c->depth);
	r |= tensor_meta_setf(t, "heads", "%d", c->heads);
	r |= tensor_meta_setf(t, "dec_dim", "%d", c->ddim);
	r |= tensor_meta_setf(t, "dec_depth", "%d", c->ddepth);
	r |= tensor_meta_setf(t, "dec_heads", "%d", c->dheads);
	r |= tensor_meta_setf(t, "mlp_ratio", "%d", c->mlp);
	r |= tensor_meta_setf(t, "norm_pix", "%d", c->normpix);
	return r < 0 ? -1 : 0;
}

int
ckpt_write_start(struct tsr_writer *w, int64_t step,
                 void (*meta)(void *ctx, struct tensor *t), void *ctx,
                 uint64_t rng, const char *stream, char *msg, size_t len)
{
	struct tensor t;
	uint64_t one = 1;
	int rc = -1;

	tensor_init(&t);
	if (tensor_shape(&t, "step", TSR_I64, 0, &one, msg, len) < 0)
		goto out;
	memcpy(t.data, &step, sizeof(step));
	meta(ctx, &t);
	if (tsr_write(w, &t, 0) < 0)
		goto werr;
	tensor_free(&t);
	tensor_init(&t);
	if (tensor_shape(&t, "rng", TSR_U64, 1, &one, msg, len) < 0)
		goto out;
	memcpy(t.data, &rng, sizeof(rng));
	if (tensor_meta_set(&t, "stream", stream) < 0) {
		snprintf(msg, len, "rng: cannot store stream=%s", stream);
		goto out;
	}
	if (tsr_write(w, &t, 0) < 0)
		goto werr;
	rc = 0;
	goto out;
werr:
	snprintf(msg, len, "%s", w->msg);
out:
	tensor_free(&t);
	return rc;
}

int
ckpt_write_table(struct tsr_writer *w, const struct vit_tensor *tab, int n,
                 const float *base, const char *prefix, const char *only,
                 char *msg, size_t len)
{
	struct tensor t;
	char name[128];
	uint64_t d[4];
	void *keep;
	int i, j, rc = 0;

	tensor_init(&t);
	for (i = 0; i < n && rc == 0; i++) {
		const struct vit_tensor *p = &tab[i];

		if (only && strncmp(p->name, only, strlen(only)))
			continue;
		for (j = 0; j < p->rank; j++)
			d[j] = p->dims[j];
		snprintf(name, sizeof(name), "%s%s", prefix, p->name);
		if (tensor_shape(&t, name, TSR_F32, p->rank, d, msg, len) < 0) {
			rc = -1;
			break;
		}
		keep = t.data; /* the payload is the block itself */
		t.data = (void *)(base + p->off);
		if (tsr_write(w, &t, 0) < 0) {
			snprintf(msg, len, "%s", w->msg);
			rc = -1;
		}
		t.data = keep;
	}
	tensor_free(&t);
	return rc;
}
