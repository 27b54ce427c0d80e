/* See LICENSE file for copyright and license details. */
/*
 * vit: the MAE model for masked image modeling (vit.h), built from the
 * layers of layers.h.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "layers.h"
#include "vit.h"

#ifdef _OPENMP
#include <omp.h>
#define OMP_FOR _Pragma("omp parallel for schedule(static)")
#define OMP_PARALLEL _Pragma("omp parallel")
#define OMP_BARRIER _Pragma("omp barrier")
#define NTHREADS omp_get_num_threads()
#define THREAD omp_get_thread_num()
#else
#define OMP_FOR
#define OMP_PARALLEL
#define OMP_BARRIER
#define NTHREADS 1
#define THREAD 0
#endif

int
vit_preset(struct vit_config *c, const char *name)
{
	static const struct {
		const char *name;
		int dim, depth, heads, ddim, ddepth, dheads;
	} p[] = {
		{ "tiny", 128, 4, 4, 64, 2, 4 },
		{ "vit-s", 384, 12, 6, 256, 8, 8 },
		{ "vit-b", 768, 12, 12, 512, 8, 16 },
	};
	size_t i;

	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (!strcmp(name, p[i].name)) {
			c->dim = p[i].dim;
			c->depth = p[i].depth;
			c->heads = p[i].heads;
			c->ddim = p[i].ddim;
			c->ddepth = p[i].ddepth;
			c->dheads = p[i].dheads;
			c->mlp = 4;
			return 0;
		}
	return -1;
}

/* ------------------------------------------------------------------ */
/* name tables                                                         */

static int
add(struct vit_tensor **tab, int *n, size_t *total, void *base,
    float **member, int decay, int rank, int d0, int d1, int d2, int d3,
    const char *fmt, ...)
	__attribute__((format(printf, 12, 13)));

static int
add(struct vit_tensor **tab, int *n, size_t *total, void *base,
    float **member, int decay, int rank, int d0, int d1, int d2, int d3,
    const char *fmt, ...)
{
	struct vit_tensor *t, *nt;
	va_list ap;
	int i;

	if (!(*n & (*n - 1)) || !*n) {
		if (!(nt = realloc(*tab, (size_t)(*n ? 2 * *n : 16) * sizeof(*nt))))
			return -1;
		*tab = nt;
	}
	t = &(*tab)[(*n)++];
	memset(t, 0, sizeof(*t));
	va_start(ap, fmt);
	vsnprintf(t->name, sizeof(t->name), fmt, ap);
	va_end(ap);
	t->rank = rank;
	t->dims[0] = d0;
	t->dims[1] = d1;
	t->dims[2] = d2;
	t->dims[3] = d3;
	t->n = 1;
	for (i = 0; i < rank; i++)
		t->n *= (size_t)t->dims[i];
	t->off = *total;
	/* 16-float (64-byte) alignment of every tensor */
	*total += (t->n + 15) & ~(size_t)15;
	t->decay = decay;
	t->member = (size_t)((char *)member - (char *)base);
	return 0;
}

#define P_(m, dec, r, x0, x1, ...) \
	rc |= add(&v->pt, &v->npt, &v->nparams, &v->w, &v->w.m, dec, r, x0, x1, \
	          0, 0, __VA_ARGS__)

static int
param_table(struct vit *v)
{
	const struct vit_config *c = &v->c;
	int rc = 0, i, D = c->dim, E = c->ddim;

	P_(pew, 1, 2, D, v->P, "enc.patch_embed.weight");
	P_(peb, 0, 1, D, 0, "enc.patch_embed.bias");
	P_(cls, 0, 1, D, 0, "enc.cls_token");
	for (i = 0; i < c->depth; i++) {
		P_(enc[i].ln1w, 0, 1, D, 0, "enc.blk.%d.norm1.weight", i);
		P_(enc[i].ln1b, 0, 1, D, 0, "enc.blk.%d.norm1.bias", i);
		P_(enc[i].qkvw, 1, 2, 3 * D, D, "enc.blk.%d.attn.qkv.weight", i);
		P_(enc[i].qkvb, 0, 1, 3 * D, 0, "enc.blk.%d.attn.qkv.bias", i);
		P_(enc[i].projw, 1, 2, D, D, "enc.blk.%d.attn.proj.weight", i);
		P_(enc[i].projb, 0, 1, D, 0, "enc.blk.%d.attn.proj.bias", i);
		P_(enc[i].ln2w, 0, 1, D, 0, "enc.blk.%d.norm2.weight", i);
		P_(enc[i].ln2b, 0, 1, D, 0, "enc.blk.%d.norm2.bias", i);
		P_(enc[i].fc1w, 1, 2, c->mlp * D, D, "enc.blk.%d.mlp.fc1.weight", i);
		P_(enc[i].fc1b, 0, 1, c->mlp * D, 0, "enc.blk.%d.mlp.fc1.bias", i);
		P_(enc[i].fc2w, 1, 2, D, c->mlp * D, "enc.blk.%d.mlp.fc2.weight", i);
		P_(enc[i].fc2b, 0, 1, D, 0, "enc.blk.%d.mlp.fc2.bias", i);
	}
	P_(enw, 0, 1, D, 0, "enc.norm.weight");
	P_(enb, 0, 1, D, 0, "enc.norm.bias");
	P_(dew, 1, 2, E, D, "dec.embed.weight");
	P_(deb, 0, 1, E, 0, "dec.embed.bias");
	P_(masktok, 0, 1, E, 0, "dec.mask_token");
	for (i = 0; i < c->ddepth; i++) {
		P_(dec[i].ln1w, 0, 1, E, 0, "dec.blk.%d.norm1.weight", i);
		P_(dec[i].ln1b, 0, 1, E, 0, "dec.blk.%d.norm1.bias", i);
		P_(dec[i].qkvw, 1, 2, 3 * E, E, "dec.blk.%d.attn.qkv.weight", i);
		P_(dec[i].qkvb, 0, 1, 3 * E, 0, "dec.blk.%d.attn.qkv.bias", i);
		P_(dec[i].projw, 1, 2, E, E, "dec.blk.%d.attn.proj.weight", i);
		P_(dec[i].projb, 0, 1, E, 0, "dec.blk.%d.attn.proj.bias", i);
		P_(dec[i].ln2w, 0, 1, E, 0, "dec.blk.%d.norm2.weight", i);
		P_(dec[i].ln2b, 0, 1, E, 0, "dec.blk.%d.norm2.bias", i);
		P_(dec[i].fc1w, 1, 2, c->mlp * E, E, "dec.blk.%d.mlp.fc1.weight", i);
		P_(dec[i].fc1b, 0, 1, c->mlp * E, 0, "dec.blk.%d.mlp.fc1.bias", i);
		P_(dec[i].fc2w, 1, 2, E, c->mlp * E, "dec.blk.%d.mlp.fc2.weight", i);
		P_(dec[i].fc2b, 0, 1, E, 0, "dec.blk.%d.mlp.fc2.bias", i);
	}
	P_(dnw, 0, 1, E, 0, "dec.norm.weight");
	P_(dnb, 0, 1, E, 0, "dec.norm.bias");
	P_(hw, 1, 2, v->O, E, "dec.pred.weight");
	P_(hb, 0, 1, v->O, 0, "dec.pred.bias");
	return rc;
}

#define A_(m, r, x0, x1, x2, ...) \
	rc |= add(&v->at, &v->nat, &v->nacts, &v->a, &v->a.m, 0, r, x0, x1, x2, \
	          0, __VA_ARGS__)

/* block activations for B x T tokens of C channels */
static int
block_acts(struct vit *v, struct vit_blocka *ba, const char *pre, int i,
           int B, int T, int C, int NH)
{
	int rc = 0, h = v->c.mlp * C;
	float **m = (float **)ba;
	const char *nm[] = { "ln1", "ln1_mean", "ln1_rstd", "qkv", "att",
	                     "atty", "res1", "ln2", "ln2_mean", "ln2_rstd",
	                     "fc1", "gelu" };
	int d1[] = { C, 0, 0, 3 * C, 0, C, C, C, 0, 0, h, h };
	int j;

	for (j = 0; j < 12; j++) {
		if (j == 4)
			rc |= add(&v->at, &v->nat, &v->nacts, &v->a, m + j, 0, 4, B, NH,
			          T, T, "%s.blk.%d.%s", pre, i, nm[j]);
		else
			rc |= add(&v->at, &v->nat, &v->nacts, &v->a, m + j, 0,
			          d1[j] ? 3 : 2, B, T, d1[j], 0, "%s.blk.%d.%s", pre, i,
			          nm[j]);
	}
	return rc;
}

static int
act_table(struct vit *v)
{
	const struct vit_config *c = &v->c;
	int rc = 0, i, B = v->maxB, D = c->dim, E = c->ddim;
	int Te = 1 + v->V, Td = 1 + v->L;
	size_t big, att;
	int bigc, attt;

	A_(xv, 3, B, v->V, v->P, "enc.visible");
	A_(pe, 3, B, v->V, D, "enc.patch_embed");
	for (i = 0; i <= c->depth; i++)
		A_(ex[i], 3, B, Te, D, "enc.x.%d", i);
	for (i = 0; i < c->depth; i++)
		rc |= block_acts(v, &v->a.enc[i], "enc", i, B, Te, D, c->heads);
	A_(eln, 3, B, Te, D, "enc.norm");
	A_(elnm, 2, B, Te, 0, "enc.norm_mean");
	A_(elnr, 2, B, Te, 0, "enc.norm_rstd");
	A_(demb, 3, B, Te, E, "dec.embed");
	for (i = 0; i <= c->ddepth; i++)
		A_(dx[i], 3, B, Td, E, "dec.x.%d", i);
	for (i = 0; i < c->ddepth; i++)
		rc |= block_acts(v, &v->a.dec[i], "dec", i, B, Td, E, c->dheads);
	A_(dln, 3, B, Td, E, "dec.norm");
	A_(dlnm, 2, B, Td, 0, "dec.norm_mean");
	A_(dlnr, 2, B, Td, 0, "dec.norm_rstd");
	A_(pred, 3, B, Td, v->O, "dec.pred");
	if (c->target == VIT_TOKENS)
		A_(probs, 3, B, Td, v->O, "dec.probs");
	else
		A_(tgt, 3, B, Td, v->P, "dec.target");
	A_(lmask, 2, B, Td, 0, "dec.loss_mask");
	/* backward scratch, sized for the larger of encoder and decoder */
	bigc = (size_t)Te * D > (size_t)Td * E ? D : E;
	big = (size_t)Te * D > (size_t)Td * E ? (size_t)Te : (size_t)Td;
	A_(g0, 3, B, (int)big, bigc, "grad.x0");
	A_(g1, 3, B, (int)big, bigc, "grad.x1");
	A_(gr1, 3, B, (int)big, bigc, "grad.res1");
	A_(gln, 3, B, (int)big, bigc, "grad.ln");
	A_(gatty, 3, B, (int)big, bigc, "grad.atty");
	A_(gqkv, 3, B, (int)big, 3 * bigc, "grad.qkv");
	{
		size_t h = MAX((size_t)Te * c->mlp * D, (size_t)Td * c->mlp * E);

		A_(gfch, 2, B, (int)h, 0, "grad.fc1");
		A_(gfcg, 2, B, (int)h, 0, "grad.gelu");
	}
	att = MAX((size_t)c->heads * Te * Te, (size_t)c->dheads * Td * Td);
	attt = (int)(att > 0 ? att : 1);
	A_(gatt, 2, B, attt, 0, "grad.att");
	A_(gpred, 3, B, Td, v->O, "grad.pred");
	A_(gdemb, 3, B, Te, E, "grad.dec_embed");
	A_(gpe, 3, B, v->V, D, "grad.patch_embed");
	return rc;
}

/* point the members of the struct at base (size) through the table */
static void
bind(void *s, float *base, const struct vit_tensor *t, int n)
{
	int i;

	for (i = 0; i < n; i++)
		*(float **)((char *)s + t[i].member) = base + t[i].off;
}

/* ------------------------------------------------------------------ */
/* build                                                               */

/*
 * The three big blocks come straight from mmap: zeroed without a
 * memset, and, where the kernel has transparent huge pages on request
 * (Linux, "madvise" mode), in 2 MiB pages.  The activations of the
 * tiny model at batch 256 are 330 MB: in 4 KiB pages that is 80000
 * page faults, half a second of system time before the first step, and
 * a TLB miss every few rows afterwards.
 */
static float *
bigalloc(size_t n)
{
	size_t len = (n ? n : 1) * sizeof(float);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (len >= (size_t)4 << 20)
		madvise(p, len, MADV_HUGEPAGE); /* advice: failure is harmless */
#endif
	return p;
}

static void
bigfree(float *p, size_t n)
{
	if (p)
		munmap(p, (n ? n : 1) * sizeof(float));
}

void
vit_sincos(float *out, int d, int gh, int gw)
{
	int half = d / 2, q = d / 4, i, j, k;

	memset(out, 0, (size_t)d * sizeof(*out));
	for (i = 0; i < gh; i++)
		for (j = 0; j < gw; j++) {
			float *o = out + (size_t)(1 + i * gw + j) * d;

			/* MAE: the first half from the column, the second the row */
			for (k = 0; k < q; k++) {
				double om = 1.0 / pow(10000.0, (double)k / q);

				o[k] = (float)sin(j * om);
				o[q + k] = (float)cos(j * om);
				o[half + k] = (float)sin(i * om);
				o[half + q + k] = (float)cos(i * om);
			}
		}
}

int
vit_build(struct vit *v, const struct vit_config *c, int maxB, char *msg,
          size_t len)
{
	memset(v, 0, sizeof(*v));
	v->c = *c;
	v->L = c->gh * c->gw;
	v->P = c->patch * c->patch * c->channels;
	v->V = (int)(v->L * (1.0 - c->ratio));
	v->O = c->target == VIT_TOKENS ? c->k : v->P;
	v->maxB = maxB;
	if (!(v->c.lneps > 0))
		v->c.lneps = 1e-5f;
	if (c->depth < 1 || c->depth > VIT_MAXDEPTH || c->ddepth < 1 ||
	    c->ddepth > VIT_MAXDEPTH) {
		snprintf(msg, len, "depths %d and %d: expected 1 to %d", c->depth,
		         c->ddepth, VIT_MAXDEPTH);
		return -1;
	}
	if (c->heads < 1 || c->dim % c->heads || c->dheads < 1 ||
	    c->ddim % c->dheads) {
		snprintf(msg, len, "widths %d and %d are not multiples of the "
		         "heads %d and %d", c->dim, c->ddim, c->heads, c->dheads);
		return -1;
	}
	if (c->dim % 4 || c->ddim % 4) {
		snprintf(msg, len, "widths %d and %d: expected multiples of 4 "
		         "(2-D sin-cos position embedding)", c->dim, c->ddim);
		return -1;
	}
	if (v->V < 1 || v->V > v->L) {
		snprintf(msg, len, "mask ratio %g leaves %d of %d patches visible",
		         c->ratio, v->V, v->L);
		return -1;
	}
	if (v->O < 1) {
		snprintf(msg, len, "head of %d outputs", v->O);
		return -1;
	}
	if (param_table(v) < 0 || act_table(v) < 0 ||
	    !(v->params = bigalloc(v->nparams)) ||
	    !(v->grads = bigalloc(v->nparams)) ||
	    !(v->acts = bigalloc(v->nacts)) ||
	    !(v->pos = calloc((size_t)(1 + v->L) * c->dim, sizeof(float))) ||
	    !(v->dpos = calloc((size_t)(1 + v->L) * c->ddim, sizeof(float))) ||
	    !(v->noise = calloc((size_t)maxB * v->L, sizeof(float))) ||
	    !(v->keep = calloc((size_t)maxB * v->V, sizeof(int))) ||
	    !(v->restore = calloc((size_t)maxB * v->L, sizeof(int))) ||
	    !(v->tok = calloc((size_t)maxB * (1 + v->L), sizeof(int32_t)))) {
		snprintf(msg, len, "out of memory for %zu parameters and %zu "
		         "activations (batch %d)", v->nparams, v->nacts, maxB);
		vit_free(v);
		return -1;
	}
	bind(&v->w, v->params, v->pt, v->npt);
	bind(&v->g, v->grads, v->pt, v->npt);
	bind(&v->a, v->acts, v->at, v->nat);
	vit_sincos(v->pos, c->dim, c->gh, c->gw);
	vit_sincos(v->dpos, c->ddim, c->gh, c->gw);
	return 0;
}

void
vit_free(struct vit *v)
{
	free(v->pt);
	free(v->at);
	bigfree(v->params, v->nparams);
	bigfree(v->grads, v->nparams);
	bigfree(v->acts, v->nacts);
	free(v->pos);
	free(v->dpos);
	free(v->noise);
	free(v->keep);
	free(v->restore);
	free(v->tok);
	memset(v, 0, sizeof(*v));
}

const struct vit_tensor *
vit_param(const struct vit *v, const char *name)
{
	int i;

	for (i = 0; i < v->npt; i++)
		if (!strcmp(v->pt[i].name, name))
			return &v->pt[i];
	return NULL;
}

static double
normal(struct rng *r)
{
	double u1 = 1.0 - rng_uniform(r), u2 = rng_uniform(r);

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void
vit_init(struct vit *v, uint64_t seed)
{
	struct rng r;
	int i;
	size_t j;

	rng_seed(&r, seed, 1);
	memset(v->params, 0, v->nparams * sizeof(float));
	for (i = 0; i < v->npt; i++) {
		const struct vit_tensor *t = &v->pt[i];
		float *p = v->params + t->off;
		const char *s = strrchr(t->name, '.') + 1;

		if (!strcmp(s, "cls_token") || !strcmp(s, "mask_token")) {
			for (j = 0; j < t->n; j++)
				p[j] = (float)(0.02 * normal(&r));
		} else if (t->rank == 2) {
			/* xavier_uniform: fan_out dims[0], fan_in dims[1] */
			double b = sqrt(6.0 / (t->dims[0] + t->dims[1]));

			for (j = 0; j < t->n; j++)
				p[j] = (float)(b * (2.0 * rng_uniform(&r) - 1.0));
		} else if (strstr(t->name, "norm") && !strcmp(s, "weight")) {
			for (j = 0; j < t->n; j++)
				p[j] = 1.0f;
		}
	}
}

/* ------------------------------------------------------------------ */
/* masking                                                             */

static const float *sortkey;

static int
bynoise(const void *a, const void *b)
{
	int i = *(const int *)a, j = *(const int *)b;

	if (sortkey[i] != sortkey[j])
		return sortkey[i] < sortkey[j] ? -1 : 1;
	return (i > j) - (i < j);
}

void
vit_mask(struct vit *v, int B, struct rng *rng, const float *noise)
{
	int b, l, L = v->L, V = v->V;

	v->B = B;
	for (b = 0; b < B; b++) {
		float *nz = v->noise + (size_t)b * L;
		int *rs = v->restore + (size_t)b * L, shuffle[L];

		for (l = 0; l < L; l++) {
			nz[l] = noise ? noise[(size_t)b * L + l] :
			                (float)rng_uniform(rng);
			shuffle[l] = l;
		}
		sortkey = nz;
		qsort(shuffle, L, sizeof(int), bynoise);
		for (l = 0; l < L; l++)
			rs[shuffle[l]] = l;
		memcpy(v->keep + (size_t)b * V, shuffle, V * sizeof(int));
	}
}

/* ------------------------------------------------------------------ */
/* forward and backward                                                */

/*
 * The forward pass of a block in one parallel region: rows cut as the
 * layers cut them (layers_cut), samples for the attention, which mixes
 * the tokens of a sample, with a barrier on either side of it.
 */
static void
block_forward(const struct vit_blockw *w, const struct vit_blocka *a,
              const float *x, float *out, int B, int T, int C, int NH,
              int H, float eps)
{
	OMP_PARALLEL
	{
		int nt = NTHREADS, id = THREAD;
		int b0 = (int)((long)B * id / nt), b1 = (int)((long)B * (id + 1) / nt);
		long N = (long)B * T;
		long r0 = layers_cut(N, id, nt), r1 = layers_cut(N, id + 1, nt);

		layernorm_forward_slab(a->ln1, a->ln1m, a->ln1r, x, w->ln1w, w->ln1b,
		                       r0, r1, C, eps);
		linear_forward_slab(a->qkv, a->ln1, w->qkvw, w->qkvb, NULL, r0, r1, C,
		                    3 * C);
		OMP_BARRIER
		attention_forward_slab(a->atty, a->att, a->qkv, b0, b1, T, C, NH);
		OMP_BARRIER
		/* r1 = x + proj(atty) */
		linear_forward_slab(a->r1, a->atty, w->projw, w->projb, x, r0, r1, C,
		                    C);
		layernorm_forward_slab(a->ln2, a->ln2m, a->ln2r, a->r1, w->ln2w,
		                       w->ln2b, r0, r1, C, eps);
		linear_forward_slab(a->fch, a->ln2, w->fc1w, w->fc1b, NULL, r0, r1, C,
		                    H);
		gelu_forward_slab(a->fcg, a->fch, (size_t)r0 * H, (size_t)r1 * H);
		/* out = r1 + fc2(gelu) */
		linear_forward_slab(out, a->fcg, w->fc2w, w->fc2b, a->r1, r0, r1, H,
		                    C);
	}
}

/* dx (B,T,C) = the gradient of x through the block, given dout */
static void
block_backward(struct vit *v, const struct vit_blockw *w,
               const struct vit_blockw *g, const struct vit_blocka *a,
               const float *x, const float *dout, float *dx, int B, int T,
               int C, int NH, int H)
{
	struct vit_a *s = &v->a;
	size_t N = (size_t)B * T;

	/* every scratch gradient is written whole, so none needs zeroing
	 * first; the residual stream's joins in the layer norms' */
	linear_backward(s->gfcg, g->fc2w, g->fc2b, dout, a->fcg, w->fc2w, N, H,
	                C);
	gelu_backward(s->gfch, a->fch, s->gfcg, N * H);
	linear_backward(s->gln, g->fc1w, g->fc1b, s->gfch, a->ln2, w->fc1w, N,
	                C, H);
	layernorm_backward(s->gr1, dout, g->ln2w, g->ln2b, s->gln, a->r1,
	                   w->ln2w, a->ln2m, a->ln2r, N, C);
	linear_backward(s->gatty, g->projw, g->projb, s->gr1, a->atty, w->projw,
	                N, C, C);
	attention_backward(s->gqkv, s->gatt, s->gatty, a->qkv, a->att, B, T, C,
	                   NH);
	linear_backward(s->gln, g->qkvw, g->qkvb, s->gqkv, a->ln1, w->qkvw, N,
	                C, 3 * C);
	layernorm_backward(dx, s->gr1, g->ln1w, g->ln1b, s->gln, x, w->ln1w,
	                   a->ln1m, a->ln1r, N, C);
}

/*
 * The encoder on the B samples' visible patches v->keep of patches
 * (B,L,P): gathered into a.xv, embedded, CLS and positions added, the
 * blocks, then the final norm into a.eln (B,1+V,D).
 */
static void
encoder_forward(struct vit *v, const float *patches)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	int B = v->B, L = v->L, V = v->V, P = v->P, D = c->dim, Te = 1 + V;
	int b, i;

	OMP_FOR
	for (b = 0; b < B; b++) {
		int j;

		for (j = 0; j < V; j++)
			memcpy(a->xv + ((size_t)b * V + j) * P,
			       patches + ((size_t)b * L + v->keep[b * V + j]) * P,
			       P * sizeof(float));
	}
	linear_forward(a->pe, a->xv, w->pew, w->peb, B * V, P, D);
	OMP_FOR
	for (b = 0; b < B; b++) {
		float *x = a->ex[0] + (size_t)b * Te * D;
		int j, d;

		for (d = 0; d < D; d++)
			x[d] = w->cls[d] + v->pos[d];
		for (j = 0; j < V; j++) {
			const float *pe = a->pe + ((size_t)b * V + j) * D;
			const float *pos = v->pos + (size_t)(1 + v->keep[b * V + j]) * D;

			for (d = 0; d < D; d++)
				x[(1 + j) * D + d] = pe[d] + pos[d];
		}
	}
	for (i = 0; i < c->depth; i++)
		block_forward(&w->enc[i], &a->enc[i], a->ex[i], a->ex[i + 1], B, Te,
		              D, c->heads, c->mlp * D, c->lneps);
	layernorm_forward(a->eln, a->elnm, a->elnr, a->ex[c->depth], w->enw,
	                  w->enb, B * Te, D, c->lneps);
}

float
vit_forward(struct vit *v, const float *patches, const int32_t *tokens)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	int B = v->B, L = v->L, V = v->V, P = v->P, D = c->dim, E = c->ddim;
	int Te = 1 + V, Td = 1 + L, b, i;

	encoder_forward(v, patches);

	/* decoder: embed, mask tokens in the masked places, positions */
	linear_forward(a->demb, a->eln, w->dew, w->deb, B * Te, D, E);
	OMP_FOR
	for (b = 0; b < B; b++) {
		float *x = a->dx[0] + (size_t)b * Td * E;
		const float *em = a->demb + (size_t)b * Te * E;
		int l, d;

		memcpy(x, em, E * sizeof(float)); /* CLS; its position is 0 */
		for (l = 0; l < L; l++) {
			int r = v->restore[b * L + l];
			const float *src = r < V ? em + (size_t)(1 + r) * E : w->masktok;
			const float *pos = v->dpos + (size_t)(1 + l) * E;

			for (d = 0; d < E; d++)
				x[(1 + l) * E + d] = src[d] + pos[d];
		}
	}
	for (i = 0; i < c->ddepth; i++)
		block_forward(&w->dec[i], &a->dec[i], a->dx[i], a->dx[i + 1], B, Td,
		              E, c->dheads, c->mlp * E, c->lneps);
	layernorm_forward(a->dln, a->dlnm, a->dlnr, a->dx[c->ddepth], w->dnw,
	                  w->dnb, B * Td, E, c->lneps);
	linear_forward(a->pred, a->dln, w->hw, w->hb, B * Td, E, v->O);

	/* the loss on the masked patches; row 0 of each sample is CLS */
	for (b = 0; b < B; b++) {
		int l;

		a->lmask[b * Td] = 0.0f;
		for (l = 0; l < L; l++)
			a->lmask[b * Td + 1 + l] = v->restore[b * L + l] >= V;
	}
	if (c->target == VIT_TOKENS) {
		for (b = 0; b < B; b++) {
			v->tok[b * Td] = 0;
			memcpy(v->tok + b * Td + 1, tokens + (size_t)b * L,
			       L * sizeof(int32_t));
		}
		v->loss = xent_masked_forward(a->probs, a->pred, v->tok, a->lmask,
		                              B * Td, v->O, c->smoothing);
	} else {
		for (b = 0; b < B; b++) {
			memset(a->tgt + (size_t)b * Td * P, 0, P * sizeof(float));
			memcpy(a->tgt + ((size_t)b * Td + 1) * P,
			       patches + (size_t)b * L * P, (size_t)L * P * sizeof(float));
		}
		v->loss = mse_masked_forward(a->pred, a->tgt, a->lmask, B * Td, P,
		                             c->normpix);
	}
	return v->loss;
}

void
vit_zero_grad(struct vit *v)
{
	memset(v->grads, 0, v->nparams * sizeof(float));
}

void
vit_backward(struct vit *v)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	const struct vit_w *g = &v->g;
	int B = v->B, L = v->L, V = v->V, P = v->P, D = c->dim, E = c->ddim;
	int Te = 1 + V, Td = 1 + L, b, i, d;
	float *dy, *dx, *t;

	/* loss and head */
	memset(a->gpred, 0, (size_t)B * Td * v->O * sizeof(float));
	if (c->target == VIT_TOKENS)
		xent_masked_backward(a->gpred, a->probs, v->tok, a->lmask, B * Td,
		                     v->O, c->smoothing, 1.0f);
	else
		mse_masked_backward(a->gpred, a->pred, a->tgt, a->lmask, B * Td, P,
		                    c->normpix, 1.0f);
	dy = a->g0;
	dx = a->g1;
	linear_backward(a->gln, g->hw, g->hb, a->gpred, a->dln, w->hw, B * Td, E,
	                v->O);
	layernorm_backward(dy, NULL, g->dnw, g->dnb, a->gln, a->dx[c->ddepth],
	                   w->dnw, a->dlnm, a->dlnr, B * Td, E);
	for (i = c->ddepth - 1; i >= 0; i--) {
		block_backward(v, &w->dec[i], &g->dec[i], &a->dec[i], a->dx[i], dy,
		               dx, B, Td, E, c->dheads, c->mlp * E);
		t = dy, dy = dx, dx = t;
	}
	/* un-place: visible rows back to the embedding, the rest to the
	 * mask token, summed in a fixed order */
	OMP_FOR
	for (b = 0; b < B; b++) {
		const float *gx = dy + (size_t)b * Td * E;
		float *ge = a->gdemb + (size_t)b * Te * E;
		int l;

		memcpy(ge, gx, E * sizeof(float));
		for (l = 0; l < L; l++) {
			int r = v->restore[b * L + l];

			if (r < V)
				memcpy(ge + (size_t)(1 + r) * E, gx + (size_t)(1 + l) * E,
				       E * sizeof(float));
		}
	}
	for (b = 0; b < B; b++) {
		int l;

		for (l = 0; l < L; l++)
			if (v->restore[b * L + l] >= V)
				for (d = 0; d < E; d++)
					g->masktok[d] += dy[((size_t)b * Td + 1 + l) * E + d];
	}
	linear_backward(a->gln, g->dew, g->deb, a->gdemb, a->eln, w->dew, B * Te,
	                D, E);
	layernorm_backward(dy, NULL, g->enw, g->enb, a->gln, a->ex[c->depth],
	                   w->enw, a->elnm, a->elnr, B * Te, D);
	for (i = c->depth - 1; i >= 0; i--) {
		block_backward(v, &w->enc[i], &g->enc[i], &a->enc[i], a->ex[i], dy,
		               dx, B, Te, D, c->heads, c->mlp * D);
		t = dy, dy = dx, dx = t;
	}
	/* CLS and patch embedding */
	for (b = 0; b < B; b++) {
		for (d = 0; d < D; d++)
			g->cls[d] += dy[(size_t)b * Te * D + d];
		memcpy(a->gpe + (size_t)b * V * D, dy + ((size_t)b * Te + 1) * D,
		       (size_t)V * D * sizeof(float));
	}
	linear_backward(NULL, g->pew, g->peb, a->gpe, a->xv, w->pew, B * V, P, D);
}

/* ------------------------------------------------------------------ */
/* encoder only (vit.h)                                                */

int
vit_encode(struct vit *v, const float *patches, int B)
{
	int L = v->L, b, i;

	if (v->V != L || B < 1 || B > v->maxB)
		return -1;
	v->B = B;
	for (b = 0; b < B; b++)
		for (i = 0; i < L; i++) {
			v->keep[b * L + i] = i;
			v->restore[b * L + i] = i;
		}
	encoder_forward(v, patches);
	return 0;
}
