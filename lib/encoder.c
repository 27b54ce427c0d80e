/* See LICENSE file for copyright and license details. */
/*
 * encoder: loading, checking and running a pretrained encoder
 * (encoder.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "safetensors.h"
#include "tensor.h"

static int
cfg_long(const struct tensor *t, const char *key, long *v, const char *name,
         char *msg, size_t len)
{
	char buf[64], *end;

	if (!tensor_meta_get(t, key, buf, sizeof(buf))) {
		snprintf(msg, len, "%s: record 0 'step': no '%s' in the config",
		         name, key);
		return -1;
	}
	errno = 0;
	*v = strtol(buf, &end, 10);
	if (errno || *end || end == buf || *v < 0 || *v > 1L << 30) {
		snprintf(msg, len, "%s: record 0 'step': %s=%s is not a count",
		         name, key, buf);
		return -1;
	}
	return 0;
}

/* the records a checkpoint may hold beside the encoder, that no
 * caller of encoder_load_ckpt without a callback needs */
static int
skipped(const char *name)
{
	return !strcmp(name, "rng") || !strncmp(name, "opt.", 4) ||
	       !strncmp(name, "head.", 5) || !strncmp(name, "fc_norm.", 8);
}

/* enc.pos_embed f32 [1+L, D] into v->pos */
static int
pos_embed(struct vit *v, const struct tensor *t, const char *name,
          uint64_t index, char *msg, size_t len)
{
	if (t->dtype != TSR_F32 || t->rank != 2 ||
	    t->dims[0] != (uint64_t)v->L + 1 ||
	    t->dims[1] != (uint64_t)v->c.dim) {
		char shape[128];

		tensor_shape_str(t, shape, sizeof(shape));
		snprintf(msg, len, "%s: record %" PRIu64 " 'enc.pos_embed': %s %s, "
		         "expected f32 [%d,%d]", name, index,
		         tsr_dtype_name(t->dtype), shape, v->L + 1, v->c.dim);
		return -1;
	}
	memcpy(v->pos, t->data, (size_t)(v->L + 1) * v->c.dim * sizeof(float));
	return 0;
}

int
encoder_check_record(const struct tensor *t, const struct vit_tensor *p,
                     const char *name, uint64_t index, char *msg, size_t len)
{
	int j;

	if (t->dtype != TSR_F32 || t->rank != p->rank) {
		snprintf(msg, len, "%s: record %" PRIu64 " '%s': %s of rank %d, "
		         "expected f32 of rank %d", name, index, t->name,
		         tsr_dtype_name(t->dtype), t->rank, p->rank);
		return -1;
	}
	for (j = 0; j < p->rank; j++)
		if (t->dims[j] != (uint64_t)p->dims[j]) {
			snprintf(msg, len, "%s: record %" PRIu64 " '%s': dim %d is "
			         "%" PRIu64 ", the config says %d", name, index, t->name,
			         j, t->dims[j], p->dims[j]);
			return -1;
		}
	return 0;
}

int
encoder_load_ckpt(struct vit *v, FILE *fp, const char *name, int maxB,
                  encoder_rec_fn rec, void *ctx, char *msg, size_t len)
{
	static const char *keys[] = { "patch_size", "channels", "k", "dim",
	                              "depth", "heads", "dec_dim", "dec_depth",
	                              "dec_heads", "mlp_ratio", "norm_pix" };
	struct vit_config c;
	struct tsr_reader r;
	struct tensor t, st;
	char buf[64], bmsg[256];
	long val[11];
	int rc, i, ret = -1, built = 0;
	unsigned char *seen = NULL;

	tsr_reader_init(&r, fp, name);
	tensor_init(&t);
	tensor_init(&st);
	memset(v, 0, sizeof(*v));
	if ((rc = tsr_read(&r, &st)) < 0) {
		snprintf(msg, len, "%s", r.msg);
		goto out;
	}
	if (rc == 0 || strcmp(st.name, "step") || st.dtype != TSR_I64 ||
	    st.rank != 0) {
		snprintf(msg, len, "%s: not a mim-train checkpoint (expected an i64 "
		         "scalar 'step' first)", name);
		goto out;
	}
	for (i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
		if (cfg_long(&st, keys[i], &val[i], name, msg, len) < 0)
			goto out;
	memset(&c, 0, sizeof(c));
	if (!tensor_meta_get(&st, "target", buf, sizeof(buf))) {
		snprintf(msg, len, "%s: record 0 'step': no 'target' in the config",
		         name);
		goto out;
	}
	c.target = !strcmp(buf, "tokens") ? VIT_TOKENS : VIT_PIXEL;
	if (!tensor_meta_get(&st, "grid", buf, sizeof(buf)) ||
	    sscanf(buf, "%dx%d", &c.gh, &c.gw) != 2 || c.gh < 1 || c.gw < 1) {
		snprintf(msg, len, "%s: record 0 'step': no grid HxW in the config",
		         name);
		goto out;
	}
	c.patch = val[0];
	c.channels = val[1];
	c.k = val[2];
	c.dim = val[3];
	c.depth = val[4];
	c.heads = val[5];
	c.ddim = val[6];
	c.ddepth = val[7];
	c.dheads = val[8];
	c.mlp = val[9];
	c.normpix = val[10];
	c.ratio = 0.0f;
	if (c.patch < 1 || c.channels < 1 || c.mlp < 1) {
		snprintf(msg, len, "%s: record 0 'step': patch_size %d, channels "
		         "%d, mlp_ratio %d: expected at least 1", name, c.patch,
		         c.channels, c.mlp);
		goto out;
	}
	if (maxB <= 0) {
		if (cfg_long(&st, "batch_size", &val[0], name, msg, len) < 0)
			goto out;
		maxB = val[0] >= 1 && val[0] <= 1 << 20 ? (int)val[0] : 1;
	}
	if (vit_build(v, &c, maxB, bmsg, sizeof(bmsg)) < 0) {
		snprintf(msg, len, "%s: %s", name, bmsg);
		goto out;
	}
	built = 1;
	if (!(seen = calloc(v->npt, 1))) {
		snprintf(msg, len, "%s: out of memory", name);
		goto out;
	}
	if (rec && rec(ctx, v, &st, 0, msg, len) != 0)
		goto out;
	while ((rc = tsr_read(&r, &t)) > 0) {
		const struct vit_tensor *p;

		if (!strcmp(t.name, "enc.pos_embed")) {
			if (pos_embed(v, &t, name, r.index - 1, msg, len) < 0)
				goto out;
			continue;
		}
		if (!(p = vit_param(v, t.name))) {
			int took = rec ? rec(ctx, v, &t, r.index - 1, msg, len) :
			           skipped(t.name) ? 0 : 1;

			if (took < 0)
				goto out;
			if (took == 0)
				continue;
			snprintf(msg, len, "%s: record %" PRIu64 " '%s': not a tensor "
			         "of this model", name, r.index - 1, t.name);
			goto out;
		}
		if (encoder_check_record(&t, p, name, r.index - 1, msg, len) < 0)
			goto out;
		memcpy(v->params + p->off, t.data, p->n * sizeof(float));
		seen[p - v->pt] = 1;
	}
	if (rc < 0) {
		snprintf(msg, len, "%s", r.msg);
		goto out;
	}
	for (i = 0; i < v->npt; i++)
		if (!seen[i] && !strncmp(v->pt[i].name, "enc.", 4)) {
			snprintf(msg, len, "%s: no record '%s' (truncated or not a "
			         "checkpoint?)", name, v->pt[i].name);
			goto out;
		}
	ret = 0;
out:
	if (ret < 0 && built)
		vit_free(v);
	free(seen);
	tensor_free(&t);
	tensor_free(&st);
	tsr_reader_free(&r);
	return ret;
}

int
encoder_load(struct vit *v, const char *path, int maxB, char *msg,
             size_t len)
{
	size_t n = path ? strlen(path) : 0;
	const char *name = path && strcmp(path, "-") ? path : "<stdin>";
	FILE *fp = path && strcmp(path, "-") ? fopen(path, "rb") : stdin;
	int rc;

	if (!fp) {
		snprintf(msg, len, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (n > 12 && !strcmp(path + n - 12, ".safetensors")) {
		struct st_file f;

		rc = st_read(&f, fp, name, msg, len);
		if (rc == 0) {
			rc = st_load_timm(v, &f, name, maxB, msg, len);
			st_free(&f);
		}
	} else {
		rc = encoder_load_ckpt(v, fp, name, maxB, NULL, NULL, msg, len);
	}
	if (fp != stdin)
		fclose(fp);
	return rc;
}

void
encoder_run(struct vit *v, const float *x, size_t n, float *feat,
            float *pooled, float *cls)
{
	size_t L = v->L, P = v->P, D = v->c.dim, i0, b, l, d;

	for (i0 = 0; i0 < n; i0 += v->maxB) {
		int B = n - i0 < (size_t)v->maxB ? (int)(n - i0) : v->maxB;

		vit_encode(v, x + i0 * L * P, B);
		for (b = 0; b < (size_t)B; b++) {
			const float *e = v->a.eln + b * (1 + L) * D;

			if (cls)
				memcpy(cls + (i0 + b) * D, e, D * sizeof(float));
			if (feat)
				memcpy(feat + (i0 + b) * L * D, e + D,
				       L * D * sizeof(float));
			if (pooled) {
				float *o = pooled + (i0 + b) * D;

				/* summed in patch order, in double */
				for (d = 0; d < D; d++) {
					double s = 0;

					for (l = 0; l < L; l++)
						s += e[(1 + l) * D + d];
					o[d] = (float)(s / L);
				}
			}
		}
	}
}


int
encoder_check_patches(const struct vit *v, const struct tensor *x,
                      char *msg, size_t msglen)
{
	const struct vit_config *c = &v->c;
	char buf[64], shape[256];
	int p = c->patch, ch = c->channels, gh = c->gh, gw = c->gw;

	tensor_shape_str(x, shape, sizeof(shape));
	if ((x->dtype != TSR_F32 && x->dtype != TSR_U8) || x->rank != 3) {
		snprintf(msg, msglen, "%s %s, expected u8 or f32 [n, L, P]",
		         tsr_dtype_name(x->dtype), shape);
		return -1;
	}
	if (tensor_meta_get(x, "patch_size", buf, sizeof(buf)))
		p = atoi(buf);
	if (tensor_meta_get(x, "channels", buf, sizeof(buf)))
		ch = atoi(buf);
	if (tensor_meta_get(x, "grid", buf, sizeof(buf)) &&
	    sscanf(buf, "%dx%d", &gh, &gw) != 2) {
		snprintf(msg, msglen, "grid=%s, expected HxW", buf);
		return -1;
	}
	if (p != c->patch || ch != c->channels || gh != c->gh || gw != c->gw) {
		snprintf(msg, msglen, "patch %d, grid %dx%d, %d channels, but the "
		         "checkpoint was trained on patch %d, grid %dx%d, %d "
		         "channels", p, gh, gw, ch, c->patch, c->gh, c->gw,
		         c->channels);
		return -1;
	}
	if (x->dims[1] != (uint64_t)v->L || x->dims[2] != (uint64_t)v->P) {
		snprintf(msg, msglen, "shape %s, but the checkpoint expects "
		         "[n,%d,%d] (patch %d, grid %dx%d, %d channels)", shape,
		         v->L, v->P, c->patch, c->gh, c->gw, c->channels);
		return -1;
	}
	return 0;
}
