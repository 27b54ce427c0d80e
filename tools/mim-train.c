/* See LICENSE file for copyright and license details. */
/*
 * mim-train: masked image modeling, MAE (pixel targets) or ClusterMIM
 * (token targets).
 *
 * Reads a stream of groups (tensor-stream(5)), each with
 *
 *	patches  u8 or f32 [n, L, P]  meta patch_size, grid (HxW in
 *	                              patches), channels; epochs, images
 *	tokens   i32 [n, L]           meta k (for --target tokens)
 *
 * and trains the MAE encoder/decoder of lib/vit.h on batches of -b
 * images taken in stream order (a batch never spans two epochs), with
 * per-sample random masking, AdamW and a warmup + cosine schedule.  It
 * writes a checkpoint stream (formats/checkpoint.md): the scalar `step`
 * (i64, with the config in its meta), `rng` (u64 [1], the masking
 * generator), every parameter by name, then opt.m.NAME and opt.v.NAME.
 * Checkpoints are written every -k steps, at the end, at --stop and on
 * SIGINT or SIGTERM (at the next step boundary).  --resume restores
 * everything and passes over the steps the checkpoint had taken, so a
 * resumed run gives the same bytes as an uninterrupted one.
 *
 * A step of -b images may be computed in -A micro-batches: each one's
 * gradient, weighted by its share of the step's images, is summed into
 * the step's gradient, so the step is the one a single batch would
 * take (to float rounding) with the activations of one micro-batch.
 *
 * Under MPI (make MPI=1; mpirun -n N, srun) every rank runs this
 * program on its own input: a shard of the data, such as patchify -k
 * RANK/N, or, for a stream that is not a shard, every N-th image of
 * each epoch.  A step takes b/N images on each rank, the ranks' i-th
 * images being the step's images i*N .. i*N+N-1, as patchify -k deals
 * them out, so N ranks train on the batches one process would see.
 * Each step the ranks agree on its epoch, sum their weighted gradients
 * with one all-reduce of the gradient block, and apply the same AdamW
 * update; rank 0 writes the checkpoints and the log.  The masks are
 * drawn from one generator that every rank runs through, each keeping
 * its images' rows, so they are the masks one process would draw.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "crc32.h"
#include "dist.h"
#include "layers.h"
#include "optim.h"
#include "tensor.h"
#include "util.h"
#include "vit.h"

/* the streams of the random generator */
enum { RNG_MASK = 2 };
/* the epoch key of a rank at the end of its input: after every other */
#define KEY_END INT64_MAX

struct opts {
	struct vit_config c;
	const char *preset, *in, *out, *resume, *log;
	long accum, batch, every, steps, stop, warmup, epochs;
	double blr, wd, clip;
	unsigned long long seed;
	int threads, quiet;
	int setmodel;  /* a model or schedule option was given */
};

struct train {
	struct opts *o;
	struct dist d;        /* the ranks of the job */
	struct vit v;
	struct adamw opt;
	struct adamw_part *parts; /* (npt) the parameters for AdamW */
	struct rng rng;       /* the masking generator between steps */
	long step, total, warmup, batch;
	long share;           /* images of a step on this rank: batch / ranks */
	long micro;           /* images of a micro-batch (B below) */
	uint64_t seen;        /* images of the steps taken, for --resume */
	long replay;          /* steps to pass over without training (resume) */
	uint64_t ckseen;      /* the checkpoint's seen, checked after them */
	float *xb;            /* (B,L,P) the micro-batch being filled */
	int32_t *tb;          /* (B,L) its tokens */
	int nb;               /* images in it */
	float *noise;         /* (B,L) their masks' noise */
	/*
	 * The step's gradient (nparams): the sum over micro-batches (and
	 * ranks) of images x gradient, then divided by the images.  NULL
	 * for one rank and one micro-batch: v.grads as it is; v.grads for
	 * one micro-batch on several ranks; else a block of its own.
	 */
	float *acc;
	/* the step under way */
	int open;
	int64_t stepkey;      /* its epoch key, the same on every rank */
	long nstep;           /* this rank's images in it */
	double lsum;          /* the sum of images x loss of its micro-batches */
	double busy;          /* seconds spent computing it */
	struct rng start;     /* the masking generator at its start */
	struct rng cursor;    /* ... and after cpos images' noise */
	uint64_t cpos;
	/* an input that is not a shard: images of the current epoch key */
	int filter;
	int64_t idxkey;
	uint64_t epidx;
	double blr, lr, wd, clip;
	FILE *log;
	int geom;             /* geometry known */
	int done;
	const char *lastck;   /* the last complete checkpoint file, or NULL */
	long lastckstep;      /* and its step */
};

static volatile sig_atomic_t stopsig;

static void
onsignal(int sig)
{
	stopsig = sig;
}

/*
 * This rank's part of a step of tr->batch images (batch / ranks: the
 * ranks take equal parts) and the size of its micro-batches (-A of them).
 */
static void
split_batch(struct train *tr)
{
	if (tr->batch % tr->d.size)
		die("batch %ld: not a multiple of the %d ranks (each takes an equal "
		    "part of a step)", tr->batch, tr->d.size);
	tr->share = tr->batch / tr->d.size;
	if (tr->o->accum > tr->share)
		die("-A %ld: more micro-batches than the %ld images of %s step",
		    tr->o->accum, tr->share, tr->d.size > 1 ? "a rank's part of a" :
		    "a");
	tr->micro = (tr->share + tr->o->accum - 1) / tr->o->accum;
}

/* ------------------------------------------------------------------ */
/* checkpoints                                                         */

static void
config_meta(void *ctx, struct tensor *t)
{
	struct train *tr = ctx;
	const struct vit_config *c = &tr->v.c;
	int r = 0;

	r |= tensor_meta_setf(t, "tool", "mim-train/%s", VERSION);
	r |= ckpt_model_meta(t, c);
	r |= tensor_meta_setf(t, "smoothing", "%.9g", c->smoothing);
	r |= tensor_meta_setf(t, "mask_ratio", "%.9g", c->ratio);
	r |= tensor_meta_setf(t, "batch_size", "%ld", tr->batch);
	r |= tensor_meta_setf(t, "steps", "%ld", tr->total);
	r |= tensor_meta_setf(t, "warmup", "%ld", tr->warmup);
	r |= tensor_meta_setf(t, "blr", "%.17g", tr->blr);
	r |= tensor_meta_setf(t, "weight_decay", "%.17g", tr->wd);
	r |= tensor_meta_setf(t, "clip", "%.17g", tr->clip);
	r |= tensor_meta_setf(t, "seed", "%llu", tr->o->seed);
	r |= tensor_meta_setf(t, "seen", "%" PRIu64, tr->seen);
	if (r < 0)
		die("cannot store the checkpoint metadata");
}

/*
 * Every rank must hold the same parameters and moments (the same
 * gradients, the same updates): checked before each checkpoint, at the
 * cost of a CRC of the blocks and one small all-reduce.
 */
static void
check_replicas(struct train *tr)
{
	size_t n = tr->v.nparams * sizeof(float);
	int64_t c[2];
	char msg[256];
	uint32_t crc;

	if (tr->d.size == 1)
		return;
	crc = crc32_fast(0, tr->v.params, n);
	crc = crc32_fast(crc, tr->opt.m, n);
	crc = crc32_fast(crc, tr->opt.v, n);
	c[0] = crc;
	c[1] = -(int64_t)crc;
	if (dist_min_i64(&tr->d, c, 2, msg, sizeof(msg)) < 0)
		die("step %ld: comparing the ranks' parameters: %s", tr->step, msg);
	if (c[0] != -c[1])
		die("step %ld: the ranks' parameters differ (CRC %08" PRIx32 " "
		    "here); no checkpoint written", tr->step, crc);
}

/* the checkpoint, written by rank 0 */
static void
save(struct train *tr, const char *why)
{
	struct tsr_writer w;
	char msg[256];
	const struct vit *v = &tr->v;
	FILE *fp;

	check_replicas(tr);
	if (tr->d.rank)
		return;
	fp = ofile_open(tr->o->out, 1);
	tsr_writer_init(&w, fp, tr->o->out ? tr->o->out : "<stdout>", 0);
	if (ckpt_write_start(&w, tr->step, config_meta, tr, tr->rng.s, "mask",
	                     msg, sizeof(msg)) < 0 ||
	    ckpt_write_table(&w, v->pt, v->npt, v->params, "", NULL, msg,
	                     sizeof(msg)) < 0 ||
	    ckpt_write_table(&w, v->pt, v->npt, tr->opt.m, "opt.m.", NULL, msg,
	                     sizeof(msg)) < 0 ||
	    ckpt_write_table(&w, v->pt, v->npt, tr->opt.v, "opt.v.", NULL, msg,
	                     sizeof(msg)) < 0)
		die("%s", msg);
	if (tsr_finish(&w) < 0)
		die("%s", w.msg);
	ofile_close(fp);
	if (tr->o->out) {
		tr->lastck = tr->o->out;
		tr->lastckstep = tr->step;
	}
	tsr_writer_free(&w);
	if (!tr->o->quiet && why)
		fprintf(stderr, "mim-train: step %ld: checkpoint %s (%s)\n",
		        tr->step, tr->o->out ? tr->o->out : "<stdout>", why);
}

static long
meta_long(const struct tensor *t, const char *key, const char *where)
{
	char buf[64], *end;
	long v;

	if (!tensor_meta_get(t, key, buf, sizeof(buf)))
		die("%s: record 'step': no '%s' in the config", where, key);
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || end == buf)
		die("%s: record 'step': %s=%s is not an integer", where, key, buf);
	return v;
}

static double
meta_double(const struct tensor *t, const char *key, const char *where)
{
	char buf[64], *end;
	double v;

	if (!tensor_meta_get(t, key, buf, sizeof(buf)))
		die("%s: record 'step': no '%s' in the config", where, key);
	v = strtod(buf, &end);
	if (*end || end == buf)
		die("%s: record 'step': %s=%s is not a number", where, key, buf);
	return v;
}

/* the checkpoint's config, model and optimiser state */
static void
load(struct train *tr, const char *path)
{
	struct opts *o = tr->o;
	struct vit_config c;
	struct tsr_reader r;
	struct tensor t, st;
	FILE *fp = ifile_open(path);
	const char *name = ifile_name(path);
	char buf[64], msg[256];
	int rc, haverng = 0, i, j, *seen;
	int64_t step;

	tsr_reader_init(&r, fp, name);
	tensor_init(&t);
	tensor_init(&st);
	if ((rc = tsr_read(&r, &st)) < 0)
		die("%s", r.msg);
	if (rc == 0 || strcmp(st.name, "step") || st.dtype != TSR_I64 ||
	    st.rank != 0)
		die("%s: not a mim-train checkpoint (expected an i64 scalar "
		    "'step' first)", name);
	memset(&c, 0, sizeof(c));
	if (!tensor_meta_get(&st, "target", buf, sizeof(buf)))
		die("%s: record 'step': no 'target' in the config", name);
	c.target = !strcmp(buf, "tokens") ? VIT_TOKENS : VIT_PIXEL;
	c.patch = meta_long(&st, "patch_size", name);
	c.channels = meta_long(&st, "channels", name);
	if (!tensor_meta_get(&st, "grid", buf, sizeof(buf)) ||
	    sscanf(buf, "%dx%d", &c.gh, &c.gw) != 2)
		die("%s: record 'step': no grid HxW in the config", name);
	c.k = meta_long(&st, "k", name);
	c.dim = meta_long(&st, "dim", name);
	c.depth = meta_long(&st, "depth", name);
	c.heads = meta_long(&st, "heads", name);
	c.ddim = meta_long(&st, "dec_dim", name);
	c.ddepth = meta_long(&st, "dec_depth", name);
	c.dheads = meta_long(&st, "dec_heads", name);
	c.mlp = meta_long(&st, "mlp_ratio", name);
	c.normpix = meta_long(&st, "norm_pix", name);
	c.smoothing = meta_double(&st, "smoothing", name);
	c.ratio = meta_double(&st, "mask_ratio", name);
	tr->batch = meta_long(&st, "batch_size", name);
	tr->total = meta_long(&st, "steps", name);
	tr->warmup = meta_long(&st, "warmup", name);
	tr->blr = meta_double(&st, "blr", name);
	tr->wd = meta_double(&st, "weight_decay", name);
	tr->clip = meta_double(&st, "clip", name);
	o->seed = meta_long(&st, "seed", name);
	tr->ckseen = meta_long(&st, "seen", name);
	memcpy(&step, st.data, sizeof(step));
	if (step < 0 || tr->batch < 1 || tr->total < 1)
		die("%s: record 'step': step %" PRId64 ", batch %ld, steps %ld out "
		    "of range", name, step, tr->batch, tr->total);
	tr->step = tr->replay = step;
	if (fp != stdin) {
		tr->lastck = path;
		tr->lastckstep = step;
	}
	split_batch(tr);
	if (vit_build(&tr->v, &c, tr->micro, msg, sizeof(msg)) < 0)
		die("%s: %s", name, msg);
	seen = ecalloc(3 * tr->v.npt, sizeof(int));
	while ((rc = tsr_read(&r, &t)) > 0) {
		const struct vit_tensor *p;
		float *base;
		int which = 0;
		const char *pn = t.name;

		if (!strcmp(t.name, "rng")) {
			if (t.dtype != TSR_U64 || t.rank != 1 || t.dims[0] != 1)
				die("%s: record %" PRIu64 " 'rng': expected u64 [1]", name,
				    r.index - 1);
			memcpy(&tr->rng.s, t.data, sizeof(uint64_t));
			haverng = 1;
			continue;
		}
		if (!strncmp(pn, "opt.m.", 6))
			which = 1, pn += 6;
		else if (!strncmp(pn, "opt.v.", 6))
			which = 2, pn += 6;
		/* the optimiser state once the records show it is needed */
		if (which && !tr->opt.m) {
			if (adamw_init(&tr->opt, tr->v.nparams, 0.9f, 0.95f,
			               1e-8f) < 0)
				die("out of memory for the optimiser state");
			tr->opt.t = step;
		}
		if (!(p = vit_param(&tr->v, pn)))
			die("%s: record %" PRIu64 " '%s': not a tensor of this model",
			    name, r.index - 1, t.name);
		if (t.dtype != TSR_F32 || (uint64_t)t.rank != (uint64_t)p->rank)
			die("%s: record %" PRIu64 " '%s': expected f32 of rank %d",
			    name, r.index - 1, t.name, p->rank);
		for (j = 0; j < p->rank; j++)
			if (t.dims[j] != (uint64_t)p->dims[j])
				die("%s: record %" PRIu64 " '%s': dim %d is %" PRIu64
				    ", the config says %d", name, r.index - 1, t.name, j,
				    t.dims[j], p->dims[j]);
		base = which == 0 ? tr->v.params : which == 1 ? tr->opt.m :
		       tr->opt.v;
		memcpy(base + p->off, t.data, p->n * sizeof(float));
		seen[which * tr->v.npt + (p - tr->v.pt)] = 1;
	}
	if (rc < 0)
		die("%s", r.msg);
	for (i = 0; i < 3 * tr->v.npt; i++)
		if (!seen[i])
			die("%s: no record '%s%s' (truncated or not a checkpoint?)",
			    name, i < tr->v.npt ? "" : i < 2 * tr->v.npt ? "opt.m." :
			    "opt.v.", tr->v.pt[i % tr->v.npt].name);
	if (!haverng)
		die("%s: no record 'rng'", name);
	free(seen);
	tensor_free(&t);
	tensor_free(&st);
	tsr_reader_free(&r);
	if (fp != stdin)
		fclose(fp);
}

/* ------------------------------------------------------------------ */
/* training                                                            */

/*
 * Where this rank's k-th image of a step stands among the step's images
 * on every rank: the ranks take turns, image by image, as patchify -k
 * deals out the images of an epoch, so rank r's k-th is image k N + r.
 */
static uint64_t
position(const struct train *tr, long k)
{
	return (uint64_t)k * tr->d.size + tr->d.rank;
}

/* move the step's masking generator on to the noise of image p (back to
 * the step's start first if it is past it) */
static void
noise_seek(struct train *tr, uint64_t p)
{
	uint64_t n;

	if (p < tr->cpos) {
		tr->cursor = tr->start;
		tr->cpos = 0;
	}
	for (n = (p - tr->cpos) * tr->v.L; n > 0; n--)
		rng_u64(&tr->cursor);
	tr->cpos = p;
}

/*
 * One micro-batch, the nb images in xb, which are this rank's images
 * nstep - nb .. nstep - 1 of the step: their masks from the step's
 * generator (the rows one process would draw for them), the forward
 * and backward passes, and the gradient into the step's, weighted by
 * the micro-batch's images.
 */
static void
run_micro(struct train *tr)
{
	struct vit *v = &tr->v;
	double t0;
	size_t i, L = v->L, n = v->nparams;
	float loss, w = (float)tr->nb;
	int b;

	t0 = monotonic();
	for (b = 0; b < tr->nb; b++) {
		noise_seek(tr, position(tr, tr->nstep - tr->nb + b));
		for (i = 0; i < L; i++)
			tr->noise[b * L + i] = (float)rng_uniform(&tr->cursor);
		tr->cpos++;
	}
	vit_mask(v, tr->nb, NULL, tr->noise);
	loss = vit_forward(v, tr->xb, tr->tb);
	if (!isfinite(loss))
		die_nonfinite(tr->step, isnan(loss) ? "loss is NaN" :
		              "loss is infinite", tr->lastck, tr->lastckstep);
	vit_zero_grad(v);
	vit_backward(v);
	if (tr->acc == v->grads)
		for (i = 0; i < n; i++)
			v->grads[i] *= w;
	else if (tr->acc)
		for (i = 0; i < n; i++)
			tr->acc[i] += w * v->grads[i];
	tr->lsum += (double)tr->nb * loss;
	tr->nb = 0;
	tr->busy += monotonic() - t0;
}

/*
 * Start a step.  Its epoch key is the least of the ranks' next keys
 * (key is this rank's, KEY_END at the end of its input): a rank whose
 * next image is of a later epoch has no images in it.  Returns 0, and
 * starts nothing, when every rank is at the end of its input.
 */
static int
open_step(struct train *tr, int64_t key)
{
	char msg[256];

	if (dist_min_i64(&tr->d, &key, 1, msg, sizeof(msg)) < 0)
		die("step %ld: %s", tr->step + 1, msg);
	if (key == KEY_END)
		return 0;
	tr->open = 1;
	tr->stepkey = key;
	tr->nstep = 0;
	tr->lsum = 0;
	tr->busy = 0;
	tr->start = tr->cursor = tr->rng;
	tr->cpos = 0;
	if (tr->acc && !tr->replay)
		memset(tr->acc, 0, tr->v.nparams * sizeof(float));
	return 1;
}

/*
 * End the step: its last micro-batch; the sums over the ranks of the
 * images, the losses and the stop signals, and of the gradients; then
 * clipping and the AdamW update, the same on every rank.  The first
 * steps of a resumed run are only counted: the checkpoint has them.
 */
static void
close_step(struct train *tr)
{
	struct vit *v = &tr->v;
	double t0;
	const char *sig;
	char msg[256];
	double s[3], gn, dt, loss;
	float *g, lr;
	uint64_t m;
	size_t j;

	if (tr->nb)
		run_micro(tr);
	tr->open = 0;
	t0 = monotonic();
	s[0] = tr->lsum;
	s[1] = (double)tr->nstep;
	s[2] = stopsig != 0;
	if (dist_sum_f64_ordered(&tr->d, s, 3, msg, sizeof(msg)) < 0)
		die("step %ld: %s", tr->step + 1, msg);
	m = (uint64_t)s[1];
	if (tr->replay) {
		tr->seen += m;
		if (--tr->replay == 0 && tr->seen != tr->ckseen)
			die("the input does not match the checkpoint: its first %ld "
			    "steps hold %" PRIu64 " images, the checkpoint's held %"
			    PRIu64 " (other data, or shards of another size?)",
			    tr->step, tr->seen, tr->ckseen);
		return;
	}
	g = tr->acc ? tr->acc : v->grads;
	if (tr->acc) {
		if (dist_sum_f32(&tr->d, g, v->nparams, msg, sizeof(msg)) < 0)
			die("step %ld: summing the gradients: %s", tr->step + 1, msg);
		for (j = 0; j < v->nparams; j++)
			g[j] /= (float)m;
	}
	if (!tr->parts)
		tr->parts = ereallocarray(NULL, v->npt, sizeof(*tr->parts));
	lr = lr_schedule(tr->step, tr->total, tr->warmup, (float)tr->lr, 0.0f);
	adamw_tick(&tr->opt);
	vit_adamw_parts(v, tr->parts, (float)tr->wd, tr->clip <= 0.0);
	if (tr->clip > 0.0) {
		gn = grad_clip(g, v->nparams, tr->clip);
		adamw_update_parts(&tr->opt, v->params, g, tr->parts, v->npt, lr);
	} else {
		/* the norm, for the log, read in the update's pass, which
		 * also packs the weights for the next forward pass */
		gn = adamw_update_norm(&tr->opt, v->params, g, v->nparams,
		                       tr->parts, v->npt, lr);
		vit_packed(v);
	}
	if (!isfinite(gn)) /* nothing of this step is saved */
		die_nonfinite(tr->step, "gradient norm is not finite",
		              tr->lastck, tr->lastckstep);
	noise_seek(tr, m); /* past the noise of the step's m images */
	tr->rng = tr->cursor;
	tr->step++;
	tr->seen += m;
	loss = s[0] / (double)m;
	dt = tr->busy + (monotonic() - t0);
	if (!tr->o->quiet)
		fprintf(stderr, "step %ld loss %.6f lr %.4e img/s %.1f\n", tr->step,
		        loss, lr, dt > 0 ? m / dt : 0.0);
	if (tr->log)
		fprintf(tr->log, "%ld\t%.6f\t%.6e\t%.1f\t%.6f\n", tr->step, loss, lr,
		        dt > 0 ? m / dt : 0.0, gn);
	if (tr->step >= tr->total || (tr->o->stop && tr->step >= tr->o->stop))
		tr->done = 1;
	if (s[2] > 0) {
		sig = stopsig == SIGINT ? "SIGINT" : stopsig ? "SIGTERM" :
		      "a signal to another rank";
		save(tr, stopsig == SIGINT ? "interrupted" : "terminated");
		die("step %ld: stopped by %s; resume with --resume", tr->step, sig);
	}
	if (!tr->done && tr->o->every && tr->step % tr->o->every == 0)
		save(tr, "periodic");
}

/*
 * Image i of the group's patches x (and tokens tok, or NULL), of epoch
 * key key, into the step: a step ends when this rank has its share of
 * it, or when the next image is of another epoch (a step never spans
 * two), and a micro-batch when it is full.
 */
static void
take_image(struct train *tr, int64_t key, const struct tensor *x,
           const struct tensor *tok, uint64_t i)
{
	size_t L = tr->v.L, P = tr->v.P, j;
	float *dst;

	if (tr->open && key != tr->stepkey)
		close_step(tr);
	while (!tr->open && !tr->done)
		if (open_step(tr, key) && tr->stepkey != key)
			close_step(tr); /* a step of an earlier epoch, on other ranks */
	if (tr->done)
		return;
	if (!tr->replay) {
		dst = tr->xb + tr->nb * L * P;
		if (x->dtype == TSR_F32)
			memcpy(dst, (float *)x->data + i * L * P, L * P * sizeof(float));
		else
			for (j = 0; j < L * P; j++)
				dst[j] = ((unsigned char *)x->data)[i * L * P + j] / 255.0f;
		if (tok)
			memcpy(tr->tb + tr->nb * L, (int32_t *)tok->data + i * L,
			       L * sizeof(int32_t));
		tr->nb++;
	}
	tr->nstep++;
	if (tr->nb == tr->micro)
		run_micro(tr);
	if (tr->nstep == tr->share)
		close_step(tr);
}

/* the end of this rank's input: its last step, then its part (none) of
 * the steps that other ranks still have images for */
static void
finish_input(struct train *tr)
{
	if (tr->open)
		close_step(tr);
	while (!tr->done && open_step(tr, KEY_END))
		close_step(tr);
}

static long
group_meta(const struct tensor *x, const char *key, long dflt,
           const char *where)
{
	char buf[64], *end;
	long v;

	if (!tensor_meta_get(x, key, buf, sizeof(buf)))
		return dflt;
	v = strtol(buf, &end, 10);
	if (*end || end == buf || v < 0)
		die("%s: %s=%s is not a count", where, key, buf);
	return v;
}

/* the buffers of a step, once the model is known */
static void
alloc_step(struct train *tr)
{
	struct vit *v = &tr->v;

	tr->xb = ecalloc((size_t)tr->micro * v->L * v->P, sizeof(float));
	tr->tb = ecalloc((size_t)tr->micro * v->L, sizeof(int32_t));
	tr->noise = ecalloc((size_t)tr->micro * v->L, sizeof(float));
	if (tr->micro < tr->share)
		tr->acc = ecalloc(v->nparams, sizeof(float));
	else if (tr->d.size > 1)
		tr->acc = v->grads;
}

/* what the first group of an input says about the data */
struct shape {
	int64_t have;            /* this rank's input has a group */
	int64_t p, ch, gh, gw;   /* patch size, channels, grid */
	int64_t k;               /* token classes (--target tokens) */
	int64_t epochs, images;  /* -1 where not said */
	int64_t shard;           /* the input is a shard (meta shard=i/n) */
};

/* the shape of this rank's first group x, checked */
static void
read_shape(struct train *tr, const struct tensor *x, const struct tensor *tok,
           const char *where, struct shape *s)
{
	char buf[64];
	int i, n;

	s->have = 1;
	if (!tensor_meta_get(x, "patch_size", buf, sizeof(buf)) ||
	    (s->p = atoi(buf)) < 1)
		die("%s: no patch_size in the meta (expected a patchify stream)",
		    where);
	if (!tensor_meta_get(x, "channels", buf, sizeof(buf)) ||
	    (s->ch = atoi(buf)) < 1)
		die("%s: no channels in the meta (expected a patchify stream)",
		    where);
	if (!tensor_meta_get(x, "grid", buf, sizeof(buf)) ||
	    sscanf(buf, "%dx%d", &i, &n) != 2 || i < 1 || n < 1)
		die("%s: no grid HxW in the meta (expected a patchify stream)",
		    where);
	s->gh = i;
	s->gw = n;
	if (x->dims[1] != (uint64_t)(s->gh * s->gw) ||
	    x->dims[2] != (uint64_t)(s->p * s->p * s->ch))
		die("%s: shape [%" PRIu64 ",%" PRIu64 ",%" PRIu64 "] does not match "
		    "grid %dx%d and patch %dx%dx%d", where, x->dims[0], x->dims[1],
		    x->dims[2], (int)s->gh, (int)s->gw, (int)s->p, (int)s->p,
		    (int)s->ch);
	if (tr->o->c.target == VIT_TOKENS && !tr->geom &&
	    (!tensor_meta_get(tok, "k", buf, sizeof(buf)) ||
	     (s->k = atoi(buf)) < 1))
		die("%s: record 'tokens' has no k in its meta (expected a "
		    "tokenize stream)", where);
	s->epochs = group_meta(x, "epochs", -1, where);
	s->images = group_meta(x, "images", -1, where);
	if (tensor_meta_get(x, "shard", buf, sizeof(buf))) {
		s->shard = 1;
		if (tr->d.size > 1 && (sscanf(buf, "%d/%d", &i, &n) != 2 ||
		                       i != tr->d.rank || n != tr->d.size))
			die("%s: shard=%s, but this is rank %d of %d (rank R reads "
			    "patchify -k R/%d)", where, buf, tr->d.rank, tr->d.size,
			    tr->d.size);
	}
}

/*
 * The geometry of the input, from this rank's first group x (NULL where
 * its input is empty): the lowest rank with a group tells the others,
 * which check theirs against it.  Then the model is checked against the
 * checkpoint's, or built, and the steps are counted over the images of
 * every rank.
 */
static void
geometry(struct train *tr, const struct tensor *x, const struct tensor *tok,
         const char *where, int fromckpt, int filepasses)
{
	struct vit_config *c = &tr->o->c;
	struct shape my, s;
	char msg[256];
	int64_t owner, im[2];

	memset(&my, 0, sizeof(my));
	if (x)
		read_shape(tr, x, tok, where, &my);
	owner = my.have ? tr->d.rank : INT64_MAX;
	if (dist_min_i64(&tr->d, &owner, 1, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (owner == INT64_MAX)
		die("%s: no groups in the input%s", where,
		    tr->d.size > 1 ? " of any rank" : "");
	s = my;
	if (dist_bcast(&tr->d, &s, sizeof(s), (int)owner, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (x && (my.p != s.p || my.ch != s.ch || my.gh != s.gh ||
	          my.gw != s.gw || my.k != s.k || my.shard != s.shard))
		die("%s: patch %d, grid %dx%d, %d channels, k %d, %s, but rank "
		    "%d's input has patch %d, grid %dx%d, %d channels, k %d, %s",
		    where, (int)my.p, (int)my.gh, (int)my.gw, (int)my.ch,
		    (int)my.k, my.shard ? "a shard" : "not a shard", (int)owner,
		    (int)s.p, (int)s.gh, (int)s.gw, (int)s.ch, (int)s.k,
		    s.shard ? "a shard" : "not a shard");
	/* the images of an epoch: the sum of the shards' */
	im[0] = x && my.images > 0 ? my.images : 0;
	im[1] = x && my.images < 0;
	if (s.shard && dist_sum_i64(&tr->d, im, 2, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (!s.shard) {
		im[0] = s.images;
		im[1] = s.images < 0;
	}
	tr->filter = tr->d.size > 1 && !s.shard;
	if (fromckpt) {
		const struct vit_config *k = &tr->v.c;

		if (k->patch != s.p || k->channels != s.ch || k->gh != s.gh ||
		    k->gw != s.gw)
			die("%s: patch %d, grid %dx%d, %d channels, but the "
			    "checkpoint was trained on patch %d, grid %dx%d, %d "
			    "channels", where, (int)s.p, (int)s.gh, (int)s.gw,
			    (int)s.ch, k->patch, k->gh, k->gw, k->channels);
		tr->geom = 1;
		alloc_step(tr);
		return;
	}
	c->patch = s.p;
	c->channels = s.ch;
	c->gh = s.gh;
	c->gw = s.gw;
	if (c->target == VIT_TOKENS)
		c->k = s.k;
	if (vit_build(&tr->v, c, tr->micro, msg, sizeof(msg)) < 0)
		die("%s", msg);
	vit_init(&tr->v, tr->o->seed);
	if (adamw_init(&tr->opt, tr->v.nparams, 0.9f, 0.95f, 1e-8f) < 0)
		die("out of memory for the optimiser state");
	rng_seed(&tr->rng, tr->o->seed, RNG_MASK);
	if (tr->o->steps)
		tr->total = tr->o->steps;
	else {
		if (s.epochs < 1 || im[0] < 1 || im[1])
			die("%s: no epochs and images in the meta to count the steps; "
			    "give --steps", where);
		tr->total = s.epochs * ((im[0] + tr->batch - 1) / tr->batch) *
		            filepasses;
	}
	tr->warmup = tr->o->warmup >= 0 ? tr->o->warmup : tr->total / 20;
	tr->geom = 1;
	alloc_step(tr);
}

/* take the images of one group into steps */
static void
take_group(struct train *tr, struct tsr_group *g, const char *inname,
           uint64_t base, long pass, int fromckpt, int filepasses)
{
	struct opts *o = tr->o;
	struct tensor *x = tsr_group_find(g, "patches");
	struct tensor *tok = tsr_group_find(g, "tokens");
	struct vit *v = &tr->v;
	char where[320], shape[128];
	uint64_t n, i;
	int64_t key;

	snprintf(where, sizeof(where), "%s: record %" PRIu64 " 'patches'",
	         inname, base + (x ? (uint64_t)(x - g->t) : 0));
	if (!x)
		die("%s: records %" PRIu64 "-%" PRIu64 ": no 'patches' record in "
		    "the group", inname, base, base + g->n - 1);
	tensor_shape_str(x, shape, sizeof(shape));
	if ((x->dtype != TSR_F32 && x->dtype != TSR_U8) || x->rank != 3)
		die("%s: %s %s, expected u8 or f32 [n, L, P]", where,
		    tsr_dtype_name(x->dtype), shape);
	if (o->c.target == VIT_TOKENS && !tok)
		die("%s: records %" PRIu64 "-%" PRIu64 ": no 'tokens' record in the "
		    "group (--target tokens needs tokenize's output)", inname, base,
		    base + g->n - 1);
	if (tok && o->c.target == VIT_TOKENS &&
	    (tok->dtype != TSR_I32 || tok->rank != 2 ||
	     tok->dims[0] != x->dims[0] || tok->dims[1] != x->dims[1]))
		die("%s: record %" PRIu64 " 'tokens': expected i32 [%" PRIu64
		    ",%" PRIu64 "]", inname, base + (uint64_t)(tok - g->t),
		    x->dims[0], x->dims[1]);
	if (!tr->geom)
		geometry(tr, x, tok, where, fromckpt, filepasses);
	if (x->dims[1] != (uint64_t)v->L || x->dims[2] != (uint64_t)v->P)
		die("%s: shape %s, expected [n,%d,%d] as the first group", where,
		    shape, v->L, v->P);
	if (o->c.target == VIT_TOKENS) {
		const int32_t *t = tok->data;
		char buf[32];

		if (tensor_meta_get(tok, "k", buf, sizeof(buf)) &&
		    atoi(buf) != v->c.k)
			die("%s: record %" PRIu64 " 'tokens': k=%s, but the model has "
			    "K=%d", inname, base + (uint64_t)(tok - g->t), buf, v->c.k);
		for (i = 0; i < tensor_count(tok); i++)
			if (t[i] < 0 || t[i] >= v->c.k)
				die("%s: record %" PRIu64 " 'tokens': element %" PRIu64
				    " [%" PRIu64 ",%" PRIu64 "] is %" PRId32 ", outside "
				    "[0,%d)", inname, base + (uint64_t)(tok - g->t), i,
				    i / v->L, i % v->L, t[i], v->c.k);
	} else {
		tok = NULL;
	}
	key = pass * 1000000L + group_meta(x, "epoch", 0, where);
	n = x->dims[0];
	for (i = 0; i < n && !tr->done; i++) {
		if (tr->filter) { /* every N-th image of each epoch */
			if (key != tr->idxkey) {
				tr->idxkey = key;
				tr->epidx = 0;
			}
			if (tr->epidx++ % tr->d.size != (uint64_t)tr->d.rank)
				continue;
		}
		take_image(tr, key, x, tok, i);
	}
}

/* ------------------------------------------------------------------ */

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: %s [-nq] [-A accum] [-b batch] [-c clip] [-e epochs] [-j threads] "
	        "[-k every] [-L log] [-l blr] [-m ratio] [-o ckpt] [-r ckpt] "
	        "[-S seed] [-s steps] [-T stop] [-t target] [-w warmup] "
	        "[--preset name] [--dim n] [--depth n] [--heads n] "
	        "[--dec-dim n] [--dec-depth n] [--dec-heads n] [--mlp-ratio n] "
	        "[--smoothing eps] [--weight-decay wd] [file]\n",
	        argv0);
	exit(status);
}

enum {
	OPT_PRESET = 256, OPT_DIM, OPT_DEPTH, OPT_HEADS, OPT_DDIM, OPT_DDEPTH,
	OPT_DHEADS, OPT_MLP, OPT_SMOOTH, OPT_WD
};

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "accum", required_argument, NULL, 'A' },
		{ "batch", required_argument, NULL, 'b' },
		{ "clip", required_argument, NULL, 'c' },
		{ "epochs", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "threads", required_argument, NULL, 'j' },
		{ "every", required_argument, NULL, 'k' },
		{ "log", required_argument, NULL, 'L' },
		{ "blr", required_argument, NULL, 'l' },
		{ "mask-ratio", required_argument, NULL, 'm' },
		{ "norm-pix", no_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "resume", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'S' },
		{ "steps", required_argument, NULL, 's' },
		{ "stop", required_argument, NULL, 'T' },
		{ "target", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "preset", required_argument, NULL, OPT_PRESET },
		{ "dim", required_argument, NULL, OPT_DIM },
		{ "depth", required_argument, NULL, OPT_DEPTH },
		{ "heads", required_argument, NULL, OPT_HEADS },
		{ "dec-dim", required_argument, NULL, OPT_DDIM },
		{ "dec-depth", required_argument, NULL, OPT_DDEPTH },
		{ "dec-heads", required_argument, NULL, OPT_DHEADS },
		{ "mlp-ratio", required_argument, NULL, OPT_MLP },
		{ "smoothing", required_argument, NULL, OPT_SMOOTH },
		{ "weight-decay", required_argument, NULL, OPT_WD },
		{ NULL, 0, NULL, 0 }
	};
	struct vit_config sizes;
	int ch, setsize[7] = { 0 }, i;
	int *dst[7];

	memset(o, 0, sizeof(*o));
	memset(&sizes, 0, sizeof(sizes));
	o->accum = 1;
	o->batch = 256;
	o->epochs = 1;
	o->warmup = -1;
	o->blr = -1.0;
	o->wd = 0.05;
	o->threads = 1;
	o->c.ratio = 0.75f;
	o->preset = "tiny";
	dst[0] = &sizes.dim, dst[1] = &sizes.depth, dst[2] = &sizes.heads;
	dst[3] = &sizes.ddim, dst[4] = &sizes.ddepth, dst[5] = &sizes.dheads;
	dst[6] = &sizes.mlp;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":A:b:c:e:hj:k:L:l:m:no:qr:S:s:T:t:Vw:",
	                         longopts, NULL)) != -1) {
		switch (ch) {
		case 'A': o->accum = estrtonum(optarg, 1, 1 << 20, "-A"); break;
		case 'b': o->batch = estrtonum(optarg, 1, 1 << 20, "-b");
			o->setmodel = 1; break;
		case 'c': o->clip = estrtod(optarg, 0, 1e30, "-c");
			o->setmodel = 1; break;
		case 'e': o->epochs = estrtonum(optarg, 1, 1 << 20, "-e"); break;
		case 'h': usage(0); break;
		case 'j': o->threads = estrtonum(optarg, 1, 1024, "-j"); break;
		case 'k': o->every = estrtonum(optarg, 0, INT64_MAX, "-k"); break;
		case 'L': o->log = optarg; break;
		case 'l': o->blr = estrtod(optarg, 0, 1e3, "-l");
			o->setmodel = 1; break;
		case 'm': o->c.ratio = estrtod(optarg, 0, 0.999, "-m");
			o->setmodel = 1; break;
		case 'n': o->c.normpix = 1; o->setmodel = 1; break;
		case 'o': o->out = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'r': o->resume = optarg; break;
		case 'S': o->seed = estrtonum(optarg, 0, INT64_MAX, "-S");
			o->setmodel = 1; break;
		case 's': o->steps = estrtonum(optarg, 1, INT64_MAX, "-s");
			o->setmodel = 1; break;
		case 'T': o->stop = estrtonum(optarg, 1, INT64_MAX, "-T"); break;
		case 't':
			if (!strcmp(optarg, "pixel"))
				o->c.target = VIT_PIXEL;
			else if (!strcmp(optarg, "tokens"))
				o->c.target = VIT_TOKENS;
			else
				udie("-t %s: expected pixel or tokens", optarg);
			o->setmodel = 1;
			break;
		case 'V':
			printf("mim-train %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
		case 'w': o->warmup = estrtonum(optarg, 0, INT64_MAX, "-w");
			o->setmodel = 1; break;
		case OPT_PRESET: o->preset = optarg; o->setmodel = 1; break;
		case OPT_DIM: case OPT_DEPTH: case OPT_HEADS: case OPT_DDIM:
		case OPT_DDEPTH: case OPT_DHEADS: case OPT_MLP:
			i = ch - OPT_DIM;
			*dst[i] = estrtonum(optarg, 1, i == 1 || i == 4 ? VIT_MAXDEPTH :
			                    65536, argv[optind - 1]);
			setsize[i] = 1;
			o->setmodel = 1;
			break;
		case OPT_SMOOTH: o->c.smoothing = estrtod(optarg, 0, 1, "--smoothing");
			o->setmodel = 1; break;
		case OPT_WD: o->wd = estrtod(optarg, 0, 1e3, "--weight-decay");
			o->setmodel = 1; break;
		default:
			badopt(ch, argv);
			usage(2);
		}
	}
	if (argc - optind > 1) {
		warn("%s: one input file at most", argv[optind + 1]);
		usage(2);
	}
	o->in = optind < argc ? argv[optind] : NULL;
	if (vit_preset(&o->c, o->preset) < 0)
		udie("--preset %s: expected tiny, vit-s or vit-b", o->preset);
	for (i = 0; i < 7; i++) {
		int *d = i == 0 ? &o->c.dim : i == 1 ? &o->c.depth :
		         i == 2 ? &o->c.heads : i == 3 ? &o->c.ddim :
		         i == 4 ? &o->c.ddepth : i == 5 ? &o->c.dheads : &o->c.mlp;

		if (setsize[i])
			*d = *dst[i];
	}
	if (o->blr < 0)
		o->blr = o->c.target == VIT_TOKENS ? 1e-3 : 1.5e-4;
	if (o->resume && o->setmodel)
		udie("--resume: the checkpoint holds the model and training "
		     "options; give only -A, -e, -j, -k, -L, -o, -q, -T and the "
		     "input");
	if (o->out && strcmp(o->out, "-")) {
		struct stat sb;

		/* ofile_open renames a temporary file over the target: never
		 * over a device or a FIFO such as /dev/null */
		if (stat(o->out, &sb) == 0 && !S_ISREG(sb.st_mode))
			udie("-o %s: not a regular file (a checkpoint is written to "
			     "%s.tmp and renamed; leave out -o for standard output)",
			     o->out, o->out);
	}
	if (o->every && (!o->out || !strcmp(o->out, "-")))
		udie("-k %ld: periodic checkpoints need -o file", o->every);
	if (o->c.normpix && o->c.target == VIT_TOKENS)
		udie("-n: --norm-pix is for the pixel target");
	if (o->c.smoothing > 0 && o->c.target == VIT_PIXEL)
		udie("--smoothing: label smoothing is for the token target");
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct train tr;
	struct tsr_reader r;
	struct tsr_group g;
	struct sigaction sa;
	const char *inname;
	char msg[256];
	FILE *in;
	long pass;
	int rc = 0, fromckpt;

	/* arguments */
	omp_passive(argv);
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare: the ranks (one without MPI); rank 0 writes */
	memset(&tr, 0, sizeof(tr));
	if (dist_init(&tr.d, &argc, &argv, msg, sizeof(msg)) < 0)
		die("%s", msg);
	dist_name(&tr.d);
	if (tr.d.size > 1 && (!o.out || !strcmp(o.out, "-")))
		udie("-o: %d ranks write their checkpoint to a file; give -o",
		     tr.d.size);
	if (tr.d.rank) {
		o.quiet = 1;
		o.log = NULL;
	}
	if ((!o.out || !strcmp(o.out, "-")) && isatty(1))
		die("refusing to write binary tensor stream to a terminal");
	layers_threads(o.threads);
	tr.o = &o;
	tr.batch = o.batch;
	tr.blr = o.blr;
	tr.wd = o.wd;
	tr.clip = o.clip;
	tr.idxkey = -1;
	fromckpt = o.resume != NULL;
	if (fromckpt) {
		load(&tr, o.resume);
		o.c.target = tr.v.c.target;
		if (tr.step >= tr.total)
			die("%s: already at step %ld of %ld", ifile_name(o.resume),
			    tr.step, tr.total);
	} else {
		split_batch(&tr);
	}
	tr.lr = tr.blr * tr.batch / 256.0;
	if (o.log && !(tr.log = fopen(o.log, fromckpt ? "a" : "w")))
		die("%s:", o.log);
	if (tr.log && !fromckpt)
		fprintf(tr.log, "step\tloss\tlr\timg_s\tgrad_norm\n");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsignal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	inname = ifile_name(o.in);
	in = ifile_open(o.in);
	if (o.epochs > 1 && in == stdin)
		udie("-e %ld: a pipe cannot be re-read; give a file, or "
		     "patchify -e", o.epochs);
	tsr_group_init(&g);

	/* process: the input once per -e pass */
	for (pass = 0; pass < o.epochs && !tr.done; pass++) {
		if (pass && fseek(in, 0, SEEK_SET) < 0)
			die("%s: cannot re-read:", inname);
		tsr_reader_init(&r, in, inname);
		while (!tr.done && (rc = tsr_group_read(&r, &g)) > 0) {
			take_group(&tr, &g, inname, r.index - g.n - g.havenext, pass,
			           fromckpt, (int)o.epochs);
		}
		if (!tr.done && rc < 0 && stopsig && tr.geom && !tr.replay &&
		    tr.d.size == 1) {
			/* the signal came while a read of a slow producer
			 * waited: the steps taken are what is saved */
			save(&tr, stopsig == SIGINT ? "interrupted" : "terminated");
			die("step %ld: stopped by %s; resume with --resume", tr.step,
			    stopsig == SIGINT ? "SIGINT" : "SIGTERM");
		}
		if (!tr.done && rc < 0)
			die("%s", r.msg);
		tsr_reader_free(&r);
		tsr_group_free(&g);
		tsr_group_init(&g);
	}
	if (!tr.geom) /* this rank's input is empty */
		geometry(&tr, NULL, NULL, inname, fromckpt, (int)o.epochs);
	finish_input(&tr); /* the last, partial step */
	if (tr.replay)
		die("%s: the input ended %ld steps short of the checkpoint's %ld",
		    inname, tr.replay, tr.step);
	if (!tr.done && !o.quiet)
		warn("%s: the input ended at step %ld of %ld", inname, tr.step,
		     tr.total);
	save(&tr, tr.step < tr.total ? "stopped" : "final");

	/* clean up */
	if (tr.log && fclose(tr.log))
		die("%s:", o.log);
	free(tr.xb);
	free(tr.tb);
	free(tr.noise);
	if (tr.acc != tr.v.grads)
		free(tr.acc);
	free(tr.parts);
	adamw_free(&tr.opt);
	vit_free(&tr.v);
	tsr_group_free(&g);
	if (in != stdin)
		fclose(in);
	if (dist_finalize(&tr.d) < 0)
		die("MPI_Finalize failed");
	return 0;
}
