/* See LICENSE file for copyright and license details. */
/*
 * encoder: loading, checking and running a pretrained encoder
 * (encoder.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "layers.h"
#include "safetensors.h"
#include "tensor.h"

#ifdef _OPENMP
#define OMP_FOR _Pragma("omp parallel for schedule(static)")
#else
#define OMP_FOR
#endif

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
encoder_load(struct vit *v, double *lneps, const char *path, int maxB,
             char *msg, size_t len)
{
	size_t n = path ? strlen(path) : 0;
	const char *name = path && strcmp(path, "-") ? path : "<stdin>";
	FILE *fp = path && strcmp(path, "-") ? fopen(path, "rb") : stdin;
	int rc;

	*lneps = 0;
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
		*lneps = ST_TIMM_EPS;
	} else {
		rc = encoder_load_ckpt(v, fp, name, maxB, NULL, NULL, msg, len);
	}
	if (fp != stdin)
		fclose(fp);
	return rc;
}

/* layer norm with eps: out (N,C) */
static void
lnorm(float *out, const float *inp, const float *w, const float *b, int N,
      int C, float eps)
{
	int i;

	OMP_FOR
	for (i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * C;
		float *y = out + (size_t)i * C, m = 0.0f, var = 0.0f, s;
		int c;

		for (c = 0; c < C; c++)
			m += x[c];
		m /= C;
		for (c = 0; c < C; c++)
			var += (x[c] - m) * (x[c] - m);
		var /= C;
		s = 1.0f / sqrtf(var + eps);
		for (c = 0; c < C; c++)
			y[c] = (x[c] - m) * s * w[c] + b[c];
	}
}

/* vit_encode with layer-norm eps: a.eln (B,1+L,D) */
static void
encode_eps(struct vit *v, const float *patches, int B, float eps)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	int L = v->L, P = v->P, D = c->dim, Te = 1 + L, H = c->mlp * D, b, i;
	int N = B * Te;

	v->B = B;
	memcpy(a->xv, patches, (size_t)B * L * P * sizeof(float));
	linear_forward(a->pe, a->xv, w->pew, w->peb, B * L, P, D);
	for (b = 0; b < B; b++) {
		float *x = a->ex[0] + (size_t)b * Te * D;
		int j, d;

		for (d = 0; d < D; d++)
			x[d] = w->cls[d] + v->pos[d];
		for (j = 0; j < L; j++)
			for (d = 0; d < D; d++)
				x[(1 + j) * D + d] = a->pe[((size_t)b * L + j) * D + d] +
				                     v->pos[(size_t)(1 + j) * D + d];
	}
	for (i = 0; i < c->depth; i++) {
		const struct vit_blockw *bw = &w->enc[i];
		const struct vit_blocka *ba = &a->enc[i];
		const float *x = a->ex[i];
		float *out = a->ex[i + 1];

		lnorm(ba->ln1, x, bw->ln1w, bw->ln1b, N, D, eps);
		linear_forward(ba->qkv, ba->ln1, bw->qkvw, bw->qkvb, N, D, 3 * D);
		attention_forward(ba->atty, ba->att, ba->qkv, B, Te, D, c->heads);
		linear_forward(ba->r1, ba->atty, bw->projw, bw->projb, N, D, D);
		residual_forward(ba->r1, ba->r1, x, (size_t)N * D);
		lnorm(ba->ln2, ba->r1, bw->ln2w, bw->ln2b, N, D, eps);
		linear_forward(ba->fch, ba->ln2, bw->fc1w, bw->fc1b, N, D, H);
		gelu_forward(ba->fcg, ba->fch, (size_t)N * H);
		linear_forward(out, ba->fcg, bw->fc2w, bw->fc2b, N, H, D);
		residual_forward(out, out, ba->r1, (size_t)N * D);
	}
	lnorm(a->eln, a->ex[c->depth], w->enw, w->enb, N, D, eps);
}

void
encoder_run(struct vit *v, double lneps, const float *x, size_t n,
            float *feat, float *pooled, float *cls)
{
	size_t L = v->L, P = v->P, D = v->c.dim, i0, b, l, d;

	for (i0 = 0; i0 < n; i0 += v->maxB) {
		int B = n - i0 < (size_t)v->maxB ? (int)(n - i0) : v->maxB;

		if (lneps > 0)
			encode_eps(v, x + i0 * L * P, B, (float)lneps);
		else
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
