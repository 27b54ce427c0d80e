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
#include "simd.h"
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
	                     "gelu_grad", "gelu" };
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
	size_t big;
	int bigc;

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
	/* the residual stream's gradient, sized for the larger of encoder
	 * and decoder; the blocks' other gradients are per thread (work) */
	bigc = (size_t)Te * D > (size_t)Td * E ? D : E;
	big = (size_t)Te * D > (size_t)Td * E ? (size_t)Te : (size_t)Td;
	A_(g0, 3, B, (int)big, bigc, "grad.x0");
	A_(g1, 3, B, (int)big, bigc, "grad.x1");
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

/* the threads layers_threads asked for */
static int
team_max(void)
{
#ifdef _OPENMP
	return omp_get_max_threads();
#else
	return 1;
#endif
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
	int i;

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
	    !(v->tok = calloc((size_t)maxB * (1 + v->L), sizeof(int32_t))) ||
	    !(v->rowloss = calloc((size_t)maxB * (1 + v->L), sizeof(double)))) {
		snprintf(msg, len, "out of memory for %zu parameters and %zu "
		         "activations (batch %d)", v->nparams, v->nacts, maxB);
		vit_free(v);
		return -1;
	}
	bind(&v->w, v->params, v->pt, v->npt);
	bind(&v->g, v->grads, v->pt, v->npt);
	bind(&v->a, v->acts, v->at, v->nat);
	/* the weights' packed copies, in their own block */
	for (i = 0; i < v->npt; i++) {
		struct vit_tensor *t = &v->pt[i];

		t->pack = v->npack;
		if (t->rank == 2)
			v->npack += (linear_packsize(t->dims[1], t->dims[0]) + 15) &
			            ~(size_t)15;
	}
	if (!(v->wpack = bigalloc(v->npack))) {
		snprintf(msg, len, "out of memory for the packed weights (%zu "
		         "floats)", v->npack);
		vit_free(v);
		return -1;
	}
	for (i = 0; i < v->npt; i++)
		*(float **)((char *)&v->wp + v->pt[i].member) =
		    v->pt[i].rank == 2 ? v->wpack + v->pt[i].pack : NULL;
	if (vit_threads(v, team_max()) < 0) {
		snprintf(msg, len, "out of memory for the scratch of %d threads",
		         team_max());
		vit_free(v);
		return -1;
	}
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
	free(v->rowloss);
	bigfree(v->wpack, v->npack);
	bigfree(v->work, (size_t)v->nthr * v->nwork);
	bigfree(v->slab, (size_t)v->nthr * 2 * v->nslab);
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
				p[j] = (float)(0.02 * rng_normal(&r));
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
/* threads                                                             */

/*
 * The threads share a batch by samples: thread t of nt takes samples
 * [B t / nt, B (t + 1) / nt) through the whole forward pass and the
 * whole backward pass, CHUNK rows at a time (a chunk's data stay in
 * the core's cache from one layer to the next), with no barrier in the
 * forward pass: attention mixes tokens only within a sample.  Every row
 * is computed the same way whichever thread takes it (gemm.h), so the
 * forward pass does not depend on the number of threads.
 *
 * In the backward pass each thread sums its samples' contributions to
 * the parameters' gradients into a slab of its own.  The parameters
 * come in ranges, contiguous in the flat block and in the order the
 * backward pass finishes them (the head, the decoder's blocks from the
 * last, the middle, the encoder's blocks, the embedding); when every
 * thread is through a range, the threads add the slabs into v->grads,
 * thread by thread in order, each taking a part of the range, and clear
 * them.  A slab is a range long and stays in the cache; after
 * vit_zero_grad the first slab is copied rather than added, so the
 * gradients are never cleared in memory.  Slabs alternate between two
 * buffers, so a thread can go on to the next range while the others
 * still read the last one: one barrier a range.  The gradients depend
 * on the number of threads, not on anything else.
 */
enum { CHUNK = 384 };  /* rows a thread takes at a time */

#ifdef _OPENMP
#define OMP_TEAM _Pragma("omp parallel num_threads(nthr)")
#else
#define OMP_TEAM
#endif

/* samples of T tokens in a chunk */
static int
chunk_samples(int T)
{
	return T >= CHUNK ? 1 : CHUNK / T;
}

/* this thread's samples of B */
static void
my_samples(int B, int *b0, int *b1)
{
	int nt = NTHREADS, id = THREAD;

	*b0 = (int)((long)B * id / nt);
	*b1 = (int)((long)B * (id + 1) / nt);
}

static size_t
align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* a chunk's backward scratch in a thread's work: the gradients of
 * fc1's output, of a layer norm's input, of r1, of atty, of qkv and of
 * att (scratch for attention_backward) */
struct chunkg {
	float *fc, *ln, *r1, *atty, *qkv, *att;
};

/* the floats of a chunk's scratch for blocks of T tokens, C channels,
 * NH heads; with base, g points into it */
static size_t
chunk_scratch(const struct vit *v, int T, int C, int NH, struct chunkg *g,
              float *base)
{
	size_t ns = chunk_samples(T), n = ns * T, H = (size_t)v->c.mlp * C;
	size_t sz[6], off = 0;
	float **m = (float **)g;
	int i;

	sz[0] = n * H;
	sz[1] = sz[2] = sz[3] = n * C;
	sz[4] = n * 3 * C;
	sz[5] = ns * NH * T * T;
	for (i = 0; i < 6; i++) {
		if (base)
			m[i] = base + off;
		off += align16(sz[i]);
	}
	return off;
}

/* the parameter ranges: range r starts at lo[r] of the flat block and
 * ends where range r - 1 starts (range 0 at the end of the block) */
static int
ranges(const struct vit *v, size_t *lo)
{
	const struct vit_config *c = &v->c;
	const struct vit_w *g = &v->g;
	int n = 0, i;

	lo[n++] = (size_t)(g->dnw - v->grads);
	for (i = c->ddepth - 1; i >= 0; i--)
		lo[n++] = (size_t)(g->dec[i].ln1w - v->grads);
	lo[n++] = (size_t)(g->enw - v->grads);
	for (i = c->depth - 1; i >= 0; i--)
		lo[n++] = (size_t)(g->enc[i].ln1w - v->grads);
	lo[n++] = 0;
	return n;
}

int
vit_threads(struct vit *v, int nthr)
{
	const struct vit_config *c = &v->c;
	size_t lo[2 * VIT_MAXDEPTH + 3], hi, nwork, nslab = 0;
	int n, r;

	if (nthr < 1)
		nthr = 1;
	nwork = MAX(chunk_scratch(v, 1 + v->V, c->dim, c->heads, NULL, NULL),
	            chunk_scratch(v, 1 + v->L, c->ddim, c->dheads, NULL, NULL));
	n = ranges(v, lo);
	for (r = 0, hi = v->nparams; r < n; hi = lo[r++])
		nslab = MAX(nslab, hi - lo[r]);
	nslab = align16(nslab);
	if (nthr == v->nthr && v->work)
		return 0;
	bigfree(v->work, (size_t)v->nthr * v->nwork);
	bigfree(v->slab, (size_t)v->nthr * 2 * v->nslab);
	v->work = v->slab = NULL;
	v->nthr = 0;
	if (!(v->work = bigalloc((size_t)nthr * nwork)) ||
	    !(v->slab = bigalloc((size_t)nthr * 2 * nslab))) {
		bigfree(v->work, (size_t)nthr * nwork);
		v->work = NULL;
		return -1;
	}
	v->nthr = nthr;
	v->nwork = nwork;
	v->nslab = nslab;
	return 0;
}

/* the team: the threads asked for, at most those the scratch is for */
static int
team(const struct vit *v)
{
#ifdef _OPENMP
	int n = omp_get_max_threads();

	return n < v->nthr ? n : v->nthr;
#else
	(void)v;
	return 1;
#endif
}

/*
 * The weights of table entries [t0, t1) packed into wpack for the
 * products of the forward pass (backward 0) or of the backward pass,
 * the threads sharing them by size; then all wait for all.
 */
static void
pack_weights(struct vit *v, int t0, int t1, int backward)
{
	int nt = NTHREADS, id = THREAD, i;
	size_t total = 0, at = 0;

	for (i = t0; i < t1; i++)
		if (v->pt[i].rank == 2)
			total += v->pt[i].n;
	for (i = t0; i < t1; i++) {
		const struct vit_tensor *t = &v->pt[i];

		if (t->rank != 2)
			continue;
		if ((int)(at * nt / total) == id)
			linear_pack(v->wpack + t->pack, v->params + t->off, t->dims[1],
			            t->dims[0], backward);
		at += t->n;
	}
	OMP_BARRIER
}

void
vit_adamw_parts(const struct vit *v, struct adamw_part *parts, float wd,
                int pack)
{
	int i;

	for (i = 0; i < v->npt; i++) {
		const struct vit_tensor *t = &v->pt[i];

		parts[i].off = t->off;
		parts[i].n = t->n;
		parts[i].wd = t->decay ? wd : 0.0f;
		parts[i].pack = pack && t->rank == 2 ? v->wpack + t->pack : NULL;
		parts[i].rows = t->dims[0];
		parts[i].cols = t->rank == 2 ? t->dims[1] : 1;
	}
}

void
vit_packed(struct vit *v)
{
	v->packed = 1;
}

/* the table entries of the encoder: [0, enc_end(v)) */
static int
enc_end(const struct vit *v)
{
	return (int)(vit_param(v, "enc.norm.bias") - v->pt) + 1;
}

/* ------------------------------------------------------------------ */
/* forward                                                             */

/*
 * Drop path (stochastic depth) on the rows of ns samples of T tokens, C
 * wide: out = x + s[b] out, s[b] the scale of sample b's branch, 0
 * (dropped) or 1 / (1 - rate) (kept).  scale_rows is its backward:
 * out = s[b] g.
 */
static void
droppath_rows(float *out, const float *x, const float *s, int ns, int T,
              int C)
{
	size_t r, n = (size_t)ns * T;
	int c;

	for (r = 0; r < n; r++) {
		float *o = out + r * C, sb = s[r / T];
		const float *xr = x + r * C;

		for (c = 0; c < C; c++)
			o[c] = xr[c] + sb * o[c];
	}
}

static void
scale_rows(float *out, const float *g, const float *s, int ns, int T, int C)
{
	size_t r, n = (size_t)ns * T;
	int c;

	for (r = 0; r < n; r++) {
		float *o = out + r * C, sb = s[r / T];
		const float *gr = g + r * C;

		for (c = 0; c < C; c++)
			o[c] = sb * gr[c];
	}
}

/*
 * The forward pass of a block on ns samples of T tokens: x (their rows,
 * C wide) in, out out; the activations at sample sb of a's tensors (the
 * samples' own, or a thread's scratch in vit_encode); train: keep
 * GELU's derivative for the backward pass; dp NULL, or the drop-path
 * scales of the samples' attention branches, dp + B their MLP
 * branches'.
 */
static void
block_forward(const struct vit *v, const struct vit_blockw *w,
              const struct vit_blockw *wp, const struct vit_blocka *a,
              int sb, int ns, const float *x, float *out, int T, int C,
              int NH, int train, const float *dp)
{
	int H = v->c.mlp * C, n = ns * T;
	long ar = (long)sb * T;
	float eps = v->c.lneps;
	float *ln1 = a->ln1 + ar * C, *qkv = a->qkv + ar * 3 * C;
	float *atty = a->atty + ar * C, *r1 = a->r1 + ar * C;
	float *ln2 = a->ln2 + ar * C, *fcd = a->fcd + ar * H;
	float *fcg = a->fcg + ar * H;

	layernorm_forward(ln1, a->ln1m + ar, a->ln1r + ar, x, w->ln1w, w->ln1b,
	                  n, C, eps);
	linear_forward(qkv, ln1, w->qkvw, wp->qkvw, w->qkvb, NULL, n, C, 3 * C);
	attention_forward(atty, a->att + (size_t)sb * NH * T * T, qkv, ns, T, C,
	                  NH);
	/* r1 = x + proj(atty) */
	if (dp) {
		linear_forward(r1, atty, w->projw, wp->projw, w->projb, NULL, n, C,
		               C);
		droppath_rows(r1, x, dp, ns, T, C);
	} else
		linear_forward(r1, atty, w->projw, wp->projw, w->projb, x, n, C, C);
	layernorm_forward(ln2, a->ln2m + ar, a->ln2r + ar, r1, w->ln2w, w->ln2b,
	                  n, C, eps);
	linear_gelu_forward(fcg, train ? fcd : NULL, ln2, w->fc1w, wp->fc1w,
	                    w->fc1b, n, C, H);
	/* out = r1 + fc2(gelu) */
	if (dp) {
		linear_forward(out, fcg, w->fc2w, wp->fc2w, w->fc2b, NULL, n, H, C);
		droppath_rows(out, r1, dp + v->B, ns, T, C);
	} else
		linear_forward(out, fcg, w->fc2w, wp->fc2w, w->fc2b, r1, n, H, C);
}

/*
 * The encoder on samples [s0, s1) of the visible patches v->keep of
 * patches (B,L,P): gathered into a.xv, embedded, CLS and positions
 * added, the blocks, the final norm into a.eln.  keep: every activation
 * at the samples' rows, for the backward pass; else (vit_encode) the
 * blocks' at those of sample sb, where this thread's samples start and
 * which only it uses, block after block.  dpath NULL, or drop-path
 * scales as v->dpath (with keep only).
 */
static void
encoder_chunk(struct vit *v, const float *patches, int s0, int s1,
              int keep, int sb, const float *dpath)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	int L = v->L, V = v->V, P = v->P, D = c->dim, Te = 1 + V;
	int ns = s1 - s0, b, j, d, i;
	long ar;
	float *x;

	if (keep)
		sb = s0;
	ar = (long)sb * Te;
	for (b = s0; b < s1; b++)
		for (j = 0; j < V; j++)
			memcpy(a->xv + ((size_t)(b - s0 + sb) * V + j) * P,
			       patches + ((size_t)b * L + v->keep[b * V + j]) * P,
			       P * sizeof(float));
	linear_forward(a->pe + (size_t)sb * V * D, a->xv + (size_t)sb * V * P,
	               w->pew, v->wp.pew, w->peb, NULL, ns * V, P, D);
	for (b = s0; b < s1; b++) {
		const float *pe = a->pe + (size_t)(b - s0 + sb) * V * D;

		x = a->ex[0] + ((size_t)(b - s0) * Te + ar) * D;
		for (d = 0; d < D; d++)
			x[d] = w->cls[d] + v->pos[d];
		for (j = 0; j < V; j++) {
			const float *pos = v->pos + (size_t)(1 + v->keep[b * V + j]) * D;

			for (d = 0; d < D; d++)
				x[(1 + j) * D + d] = pe[(size_t)j * D + d] + pos[d];
		}
	}
	for (i = 0; i < c->depth; i++)
		block_forward(v, &w->enc[i], &v->wp.enc[i], &a->enc[keep ? i : 0],
		              sb, ns,
		              a->ex[keep ? i : i % 2] + ar * D,
		              a->ex[keep ? i + 1 : (i + 1) % 2] + ar * D, Te, D,
		              c->heads, keep,
		              dpath ? dpath + (size_t)2 * i * v->B + s0 : NULL);
	x = a->ex[keep ? c->depth : c->depth % 2] + ar * D;
	ar = (long)s0 * Te;
	layernorm_forward(a->eln + ar * D, a->elnm + ar, a->elnr + ar, x, w->enw,
	                  w->enb, ns * Te, D, c->lneps);
}

/*
 * The decoder on samples [s0, s1): the encoder's output embedded, mask
 * tokens in the masked places, positions, the blocks, the final norm,
 * the head into a.pred, and each row's loss into v->rowloss.
 */
static void
decoder_chunk(struct vit *v, const float *patches, const int32_t *tokens,
              int s0, int s1)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	int L = v->L, V = v->V, P = v->P, D = c->dim, E = c->ddim, O = v->O;
	int Te = 1 + V, Td = 1 + L, ns = s1 - s0, b, l, d, i;
	long re = (long)s0 * Te, rd = (long)s0 * Td, n = (long)ns * Td;

	linear_forward(a->demb + re * E, a->eln + re * D, w->dew, v->wp.dew,
	               w->deb, NULL, ns * Te, D, E);
	for (b = s0; b < s1; b++) {
		float *x = a->dx[0] + (size_t)b * Td * E;
		const float *em = a->demb + (size_t)b * Te * E;

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
		block_forward(v, &w->dec[i], &v->wp.dec[i], &a->dec[i], s0, ns,
		              a->dx[i] + rd * E, a->dx[i + 1] + rd * E, Td, E,
		              c->dheads, 1, NULL);
	layernorm_forward(a->dln + rd * E, a->dlnm + rd, a->dlnr + rd,
	                  a->dx[c->ddepth] + rd * E, w->dnw, w->dnb, n, E,
	                  c->lneps);
	linear_forward(a->pred + rd * O, a->dln + rd * E, w->hw, v->wp.hw, w->hb,
	               NULL, n, E, O);

	/* the loss on the masked patches; row 0 of each sample is CLS */
	for (b = s0; b < s1; b++) {
		a->lmask[b * Td] = 0.0f;
		for (l = 0; l < L; l++)
			a->lmask[b * Td + 1 + l] = v->restore[b * L + l] >= V;
	}
	if (c->target == VIT_TOKENS) {
		for (b = s0; b < s1; b++) {
			v->tok[b * Td] = 0;
			memcpy(v->tok + b * Td + 1, tokens + (size_t)b * L,
			       L * sizeof(int32_t));
		}
		xent_masked_forward(v->rowloss + rd, a->probs + rd * O,
		                    a->pred + rd * O, v->tok + rd, a->lmask + rd, n, O,
		                    c->smoothing);
	} else {
		for (b = s0; b < s1; b++) {
			memset(a->tgt + (size_t)b * Td * P, 0, P * sizeof(float));
			memcpy(a->tgt + ((size_t)b * Td + 1) * P,
			       patches + (size_t)b * L * P, (size_t)L * P * sizeof(float));
		}
		mse_masked_forward(v->rowloss + rd, a->pred + rd * O, a->tgt + rd * P,
		                   a->lmask + rd, n, P, c->normpix);
	}
}

float
vit_forward(struct vit *v, const float *patches, const int32_t *tokens)
{
	int B = v->B, Td = 1 + v->L, nthr = team(v), pack = !v->packed;

	v->packed = 0;
	OMP_TEAM
	{
		int b0, b1, s, ce = chunk_samples(1 + v->V), cd = chunk_samples(Td);

		if (pack)
			pack_weights(v, 0, v->npt, 0);
		my_samples(B, &b0, &b1);
		for (s = b0; s < b1; s += ce)
			encoder_chunk(v, patches, s, MIN(s + ce, b1), 1, 0, NULL);
		for (s = b0; s < b1; s += cd)
			decoder_chunk(v, patches, tokens, s, MIN(s + cd, b1));
	}
	/* the rows' losses in order: the same for any number of threads */
	v->count = masked_count(v->a.lmask, B * Td);
	v->loss = loss_mean(v->rowloss, v->count, B * Td);
	return v->loss;
}

/* vit_encode, keeping every activation with keep */
static int
encode(struct vit *v, const float *patches, int B, int keep)
{
	int L = v->L, b, i, nthr = team(v), pack = !v->packed;

	if (v->V != L || B < 1 || B > v->maxB)
		return -1;
	v->B = B;
	for (b = 0; b < B; b++)
		for (i = 0; i < L; i++) {
			v->keep[b * L + i] = i;
			v->restore[b * L + i] = i;
		}
	v->packed = 0;
	OMP_TEAM
	{
		int b0, b1, s, ce = chunk_samples(1 + L);

		if (pack)
			pack_weights(v, 0, enc_end(v), 0);
		my_samples(B, &b0, &b1);
		for (s = b0; s < b1; s += ce)
			encoder_chunk(v, patches, s, MIN(s + ce, b1), keep, b0,
			              keep ? v->dpath : NULL);
	}
	return 0;
}

int
vit_encode(struct vit *v, const float *patches, int B)
{
	return encode(v, patches, B, 0);
}

int
vit_encode_train(struct vit *v, const float *patches, int B)
{
	return encode(v, patches, B, 1);
}

/* ------------------------------------------------------------------ */
/* backward                                                            */

void
vit_zero_grad(struct vit *v)
{
	v->gzero = 1;
}

/*
 * Where a thread puts its part of the gradients of the range starting
 * at lo: its slab, at the same place relative to lo; thread 0 after
 * vit_zero_grad, v->grads itself, which the slabs are then added to.
 * Every thread writes the whole of its part before range_done adds it:
 * a block's layers set their gradients from the thread's first chunk of
 * samples on (acc 0), the other ranges start from sink_zeroed's zeros,
 * and a thread without samples zeroes its part.  (Setting is adding to
 * zeros, to the byte: layers.h.)
 */
struct sink {
	const float *grads;
	float *slab;
	size_t lo;
};

static float *
sunk(const struct sink *k, float *g)
{
	return k->slab + (g - k->grads - k->lo);
}

static struct vit_blockw
sunk_block(const struct sink *k, const struct vit_blockw *g)
{
	struct vit_blockw s;
	float *const *from = (float *const *)g;
	float **to = (float **)&s;
	size_t i;

	for (i = 0; i < sizeof(s) / sizeof(float *); i++)
		to[i] = sunk(k, from[i]);
	return s;
}

/* thread t's slab for range r */
static float *
slab(const struct vit *v, int t, int r)
{
	return v->slab + ((size_t)t * 2 + r % 2) * v->nslab;
}

/* thread 0 writes into v->grads itself */
static int
direct(const struct vit *v, int t)
{
	return t == 0 && v->gzero;
}

/* this thread's sink for range r, which starts at lo */
static struct sink
sink(const struct vit *v, int r, size_t lo)
{
	struct sink k = { v->grads, direct(v, THREAD) ? v->grads + lo :
	                            slab(v, THREAD, r), lo };

	return k;
}

/* the same, its part of the range [lo, hi) zeroed first */
static struct sink
sink_zeroed(const struct vit *v, int r, size_t lo, size_t hi)
{
	struct sink k = sink(v, r, lo);

	memset(k.slab, 0, (hi - lo) * sizeof(float));
	return k;
}

/* the same for a block's range, whose layers set every tensor: only
 * the floats that align each tensor's end, which no layer writes,
 * zeroed (a slab holds other ranges' gradients there) */
static struct sink
sink_set(const struct vit *v, int r, size_t lo, size_t hi)
{
	struct sink k = sink(v, r, lo);
	int i;

	for (i = 0; i < v->npt; i++) {
		const struct vit_tensor *t = &v->pt[i];

		if (t->off >= lo && t->off < hi)
			memset(k.slab + (t->off - lo) + t->n, 0,
			       (align16(t->n) - t->n) * sizeof(float));
	}
	return k;
}

/* dst (n) += src */
KERNEL static void
reduce_k(float *restrict dst, const float *restrict src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] += src[i];
}

/* the end of range r, [lo, hi): when every thread is through it, each
 * takes its part of the range and adds the slabs into v->grads, thread
 * by thread (after vit_zero_grad, to thread 0's, already there),
 * RBLOCK floats at a time, so that the part of v->grads stays in the
 * cache while every slab is added to it */
static void
range_done(struct vit *v, int r, size_t lo, size_t hi)
{
	enum { RBLOCK = 4096 };
	int nt = NTHREADS, id = THREAD, t;
	size_t n = hi - lo, p0 = n * id / nt, p1 = n * (id + 1) / nt, i, b;

	if (nt > 1) {
		OMP_BARRIER
	}
	for (i = p0; i < p1; i += b) {
		b = MIN(RBLOCK, p1 - i);
		for (t = 0; t < nt; t++)
			if (!direct(v, t))
				reduce_k(v->grads + lo + i, slab(v, t, r) + i, b);
	}
}

/*
 * The backward pass of a block on ns samples from s0 of T tokens: dy
 * (their rows) the gradient of its output, dx that of its input x; the
 * parameters' gradients into g (set, or added to with acc), the scratch
 * of sc; dp as block_forward's.
 */
static void
block_backward(const struct vit *v, const struct vit_blockw *w,
               const struct vit_blockw *wp, const struct vit_blockw *g,
               const struct vit_blocka *a, const struct chunkg *sc, int s0,
               int ns, const float *x, const float *dy, float *dx, int T,
               int C, int NH, const float *dp, int acc)
{
	int H = v->c.mlp * C, n = ns * T;
	long ar = (long)s0 * T;
	const float *db = dy;

	/* every scratch gradient is written whole, so none needs zeroing
	 * first; the residual stream's joins in the layer norms'; with drop
	 * path a branch's gradient is scaled into sc->ln, free until fc1's
	 * and qkv's backward write it */
	if (dp) {
		scale_rows(sc->ln, dy, dp + v->B, ns, T, C);
		db = sc->ln;
	}
	linear_backward(sc->fc, g->fc2w, g->fc2b, db, a->fcg + ar * H, w->fc2w,
	                wp->fc2w, a->fcd + ar * H, n, H, C, acc);
	linear_backward(sc->ln, g->fc1w, g->fc1b, sc->fc, a->ln2 + ar * C,
	                w->fc1w, wp->fc1w, NULL, n, C, H, acc);
	layernorm_backward(sc->r1, dy, g->ln2w, g->ln2b, sc->ln, a->r1 + ar * C,
	                   w->ln2w, a->ln2m + ar, a->ln2r + ar, n, C, acc);
	db = sc->r1;
	if (dp) {
		scale_rows(sc->ln, sc->r1, dp, ns, T, C);
		db = sc->ln;
	}
	linear_backward(sc->atty, g->projw, g->projb, db, a->atty + ar * C,
	                w->projw, wp->projw, NULL, n, C, C, acc);
	attention_backward(sc->qkv, sc->att, sc->atty, a->qkv + ar * 3 * C,
	                   a->att + (size_t)s0 * NH * T * T, ns, T, C, NH);
	linear_backward(sc->ln, g->qkvw, g->qkvb, sc->qkv, a->ln1 + ar * C,
	                w->qkvw, wp->qkvw, NULL, n, C, 3 * C, acc);
	layernorm_backward(dx, sc->r1, g->ln1w, g->ln1b, sc->ln, x, w->ln1w,
	                   a->ln1m + ar, a->ln1r + ar, n, C, acc);
}

/* the backward pass of the blocks of a stack (enc or dec), from the
 * last, on this thread's samples [b0, b1); the gradient of the stack's
 * output in *dy, that of its input there at the end; dpath NULL or
 * v->dpath */
static void
stack_backward(struct vit *v, const struct vit_blockw *w,
               const struct vit_blockw *wp, const struct vit_blockw *g,
               const struct vit_blocka *a,
               float *const *x, int depth, float **dy, float **dx, int b0,
               int b1, int T, int C, int NH, int *r, size_t *lo,
               const float *dpath)
{
	struct chunkg sc;
	int cs = chunk_samples(T), i, s;
	float *t;

	chunk_scratch(v, T, C, NH, &sc, v->work + (size_t)THREAD * v->nwork);
	for (i = depth - 1; i >= 0; i--, (*r)++) {
		/* the first chunk sets the gradients, the others add */
		struct sink k = b1 > b0 ? sink_set(v, *r, lo[*r], lo[*r - 1]) :
		                sink_zeroed(v, *r, lo[*r], lo[*r - 1]);
		struct vit_blockw gs = sunk_block(&k, &g[i]);

		for (s = b0; s < b1; s += cs) {
			int ns = MIN(s + cs, b1) - s;
			size_t o = (size_t)s * T * C;

			block_backward(v, &w[i], &wp[i], &gs, &a[i], &sc, s, ns,
			               x[i] + o, *dy + o, *dx + o, T, C, NH,
			               dpath ? dpath + (size_t)2 * i * v->B + s : NULL,
			               s > b0);
		}
		range_done(v, *r, lo[*r], lo[*r - 1]);
		t = *dy, *dy = *dx, *dx = t;
	}
}

/*
 * The gradients of the CLS token and the patch embedding, into the
 * thread's slab k, for its samples [b0, b1): dy (B, 1 + n, D) is the
 * gradient of the encoder's input, CLS first, n patches a sample whose
 * pixels are a->xv (B, n, P).
 */
static void
embed_backward(struct vit *v, const struct sink *k, const float *dy, int b0,
               int b1, int n)
{
	struct vit_a *a = &v->a;
	int D = v->c.dim, P = v->P, Te = 1 + n, b, d;

	for (b = b0; b < b1; b++) {
		float *gc = sunk(k, v->g.cls);

		for (d = 0; d < D; d++)
			gc[d] += dy[(size_t)b * Te * D + d];
		memcpy(a->gpe + (size_t)b * n * D, dy + ((size_t)b * Te + 1) * D,
		       (size_t)n * D * sizeof(float));
	}
	linear_backward(NULL, sunk(k, v->g.pew), sunk(k, v->g.peb),
	                a->gpe + (long)b0 * n * D, a->xv + (long)b0 * n * P,
	                v->w.pew, NULL, NULL, (b1 - b0) * n, P, D, 1);
}

void
vit_backward(struct vit *v)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	const struct vit_w *g = &v->g;
	int B = v->B, L = v->L, V = v->V, P = v->P, D = c->dim, E = c->ddim;
	int O = v->O, Te = 1 + V, Td = 1 + L, nthr = team(v);
	size_t lo[2 * VIT_MAXDEPTH + 4];

	ranges(v, lo + 1);
	lo[0] = v->nparams; /* range r is [lo[r + 1], lo[r]) */
	v->packed = 0;
	OMP_TEAM
	{
		int b0, b1, b, l, d, nb, r = 0;
		float *dy = a->g0, *dx = a->g1;
		struct sink k;
		long rd, re;

		/* the weights but the patch embedding's, whose input has no
		 * gradient */
		pack_weights(v, 1, v->npt, 1);
		my_samples(B, &b0, &b1);
		nb = b1 - b0;
		rd = (long)b0 * Td, re = (long)b0 * Te;

		/* loss and head; dx is scratch for the norm's output */
		if (c->target == VIT_TOKENS)
			xent_masked_backward(a->gpred + rd * O, a->probs + rd * O,
			                     v->tok + rd, a->lmask + rd, nb * Td, O,
			                     c->smoothing, v->count, 1.0f);
		else
			mse_masked_backward(a->gpred + rd * O, a->pred + rd * O,
			                    a->tgt + rd * P, a->lmask + rd, nb * Td, P,
			                    c->normpix, v->count, 1.0f);
		k = sink_zeroed(v, r, lo[r + 1], lo[r]);
		linear_backward(dx + rd * E, sunk(&k, g->hw), sunk(&k, g->hb),
		                a->gpred + rd * O, a->dln + rd * E, w->hw, v->wp.hw,
		                NULL, nb * Td, E, O, 1);
		layernorm_backward(dy + rd * E, NULL, sunk(&k, g->dnw),
		                   sunk(&k, g->dnb), dx + rd * E,
		                   a->dx[c->ddepth] + rd * E, w->dnw, a->dlnm + rd,
		                   a->dlnr + rd, nb * Td, E, 1);
		range_done(v, r, lo[r + 1], lo[r]);
		r++;

		stack_backward(v, w->dec, v->wp.dec, g->dec, a->dec, a->dx,
		               c->ddepth, &dy, &dx, b0, b1, Td, E, c->dheads, &r,
		               lo + 1, NULL);

		/* un-place: visible rows back to the embedding, the rest to
		 * the mask token, summed in a fixed order */
		k = sink_zeroed(v, r, lo[r + 1], lo[r]);
		for (b = b0; b < b1; b++) {
			const float *gx = dy + (size_t)b * Td * E;
			float *ge = a->gdemb + (size_t)b * Te * E;
			float *gm = sunk(&k, g->masktok);

			memcpy(ge, gx, E * sizeof(float));
			for (l = 0; l < L; l++) {
				int rk = v->restore[b * L + l];

				if (rk < V)
					memcpy(ge + (size_t)(1 + rk) * E, gx + (size_t)(1 + l) * E,
					       E * sizeof(float));
				else
					for (d = 0; d < E; d++)
						gm[d] += gx[(size_t)(1 + l) * E + d];
			}
		}
		/* the encoder's rows are laid out otherwise: no thread may
		 * write them over another's decoder rows still being read */
		if (NTHREADS > 1) {
			OMP_BARRIER
		}
		linear_backward(dx + re * D, sunk(&k, g->dew), sunk(&k, g->deb),
		                a->gdemb + re * E, a->eln + re * D, w->dew, v->wp.dew,
		                NULL, nb * Te, D, E, 1);
		layernorm_backward(dy + re * D, NULL, sunk(&k, g->enw),
		                   sunk(&k, g->enb), dx + re * D,
		                   a->ex[c->depth] + re * D, w->enw, a->elnm + re,
		                   a->elnr + re, nb * Te, D, 1);
		range_done(v, r, lo[r + 1], lo[r]);
		r++;

		stack_backward(v, w->enc, v->wp.enc, g->enc, a->enc, a->ex, c->depth,
		               &dy, &dx, b0, b1, Te, D, c->heads, &r, lo + 1, NULL);

		k = sink_zeroed(v, r, lo[r + 1], lo[r]);
		embed_backward(v, &k, dy, b0, b1, V);
		range_done(v, r, lo[r + 1], lo[r]);
	}
	v->gzero = 0;
}

float *
vit_encode_backward(struct vit *v, int norm)
{
	const struct vit_config *c = &v->c;
	struct vit_a *a = &v->a;
	const struct vit_w *w = &v->w;
	const struct vit_w *g = &v->g;
	int B = v->B, L = v->L, D = c->dim, Te = 1 + L;
	int nthr = team(v), r0 = 1 + c->ddepth;
	size_t lo[2 * VIT_MAXDEPTH + 4];
	float *in = a->g0, *out = a->g1;

	ranges(v, lo + 1);
	lo[0] = v->nparams; /* range r is [lo[r + 1], lo[r]) */
	if (norm)
		in = a->g1, out = a->g0;
	v->packed = 0;
	OMP_TEAM
	{
		int b0, b1, nb, r = r0;
		float *dy = in, *dx = out;
		struct sink k;
		long re;

		pack_weights(v, 1, enc_end(v), 1);
		my_samples(B, &b0, &b1);
		nb = b1 - b0;
		re = (long)b0 * Te;

		/* the final norm (or, unused, its gradient zero) and the
		 * rest of its range, the decoder's embedding and mask token,
		 * whose gradients are not the loss's */
		k = sink_zeroed(v, r, lo[r + 1], lo[r]);
		if (norm)
			layernorm_backward(dy + re * D, NULL, sunk(&k, g->enw),
			                   sunk(&k, g->enb), dx + re * D,
			                   a->ex[c->depth] + re * D, w->enw,
			                   a->elnm + re, a->elnr + re, nb * Te, D, 1);
		range_done(v, r, lo[r + 1], lo[r]);
		r++;

		stack_backward(v, w->enc, v->wp.enc, g->enc, a->enc, a->ex, c->depth,
		               &dy, &dx, b0, b1, Te, D, c->heads, &r, lo + 1,
		               v->dpath);

		k = sink_zeroed(v, r, lo[r + 1], lo[r]);
		embed_backward(v, &k, dy, b0, b1, L);
		range_done(v, r, lo[r + 1], lo[r]);
	}
	v->gzero = 0;
	/* the stack swaps the two depth times */
	return c->depth % 2 ? out : in;
}
