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
 * everything and skips the images the checkpoint had consumed, so a
 * resumed run gives the same bytes as an uninterrupted one.
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
#include <time.h>
#include <unistd.h>

#include "layers.h"
#include "optim.h"
#include "tensor.h"
#include "util.h"
#include "vit.h"

/* the streams of the random generator */
enum { RNG_MASK = 2 };

struct opts {
	struct vit_config c;
	const char *preset, *in, *out, *resume, *log;
	long batch, every, steps, stop, warmup, epochs;
	double blr, wd, clip;
	unsigned long long seed;
	int threads, quiet;
	int setmodel;  /* a model or schedule option was given */
};

struct train {
	struct opts *o;
	struct vit v;
	struct adamw opt;
	struct adamw_part *parts; /* (npt) the parameters for AdamW */
	struct rng rng;
	long step, total, warmup, batch;
	uint64_t seen;        /* images consumed, for --resume */
	uint64_t skip;        /* images still to skip (resume) */
	float *xb;            /* (B,L,P) the batch being filled */
	int32_t *tb;          /* (B,L) its tokens */
	int nb;               /* images in it */
	long epochkey;        /* epoch of the images in it */
	int havekey;
	double blr, lr, wd, clip;
	FILE *log;
	struct timespec t0;
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

/* ------------------------------------------------------------------ */
/* checkpoints                                                         */

static void
config_meta(struct train *tr, struct tensor *t)
{
	const struct vit_config *c = &tr->v.c;
	int r = 0;

	r |= tensor_meta_setf(t, "tool", "mim-train/%s", VERSION);
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

static void
write_block(struct tsr_writer *w, struct tensor *t, const struct vit *v,
            const float *base, const char *prefix)
{
	char name[128], msg[256];
	uint64_t d[4];
	int i, j;

	for (i = 0; i < v->npt; i++) {
		const struct vit_tensor *p = &v->pt[i];
		void *keep;

		for (j = 0; j < p->rank; j++)
			d[j] = p->dims[j];
		snprintf(name, sizeof(name), "%s%s", prefix, p->name);
		if (tensor_shape(t, name, TSR_F32, p->rank, d, msg, sizeof(msg)) < 0)
			die("%s", msg);
		if (t->meta)
			t->meta[0] = '\0';
		t->metalen = 0;
		keep = t->data; /* the payload is the block itself */
		t->data = (void *)(base + p->off);
		if (tsr_write(w, t, 0) < 0)
			die("%s", w->msg);
		t->data = keep;
	}
}

static void
save(struct train *tr, const char *why)
{
	struct tsr_writer w;
	struct tensor t;
	char msg[256];
	uint64_t one = 1;
	FILE *fp = ofile_open(tr->o->out, 1);
	int64_t step = tr->step;

	tsr_writer_init(&w, fp, tr->o->out ? tr->o->out : "<stdout>", 0);
	tensor_init(&t);
	if (tensor_shape(&t, "step", TSR_I64, 0, &one, msg, sizeof(msg)) < 0)
		die("%s", msg);
	memcpy(t.data, &step, sizeof(step));
	config_meta(tr, &t);
	if (tsr_write(&w, &t, 0) < 0)
		die("%s", w.msg);
	tensor_free(&t);
	tensor_init(&t);
	if (tensor_shape(&t, "rng", TSR_U64, 1, &one, msg, sizeof(msg)) < 0)
		die("%s", msg);
	memcpy(t.data, &tr->rng.s, sizeof(uint64_t));
	tensor_meta_set(&t, "stream", "mask");
	if (tsr_write(&w, &t, 0) < 0)
		die("%s", w.msg);
	tensor_free(&t);
	tensor_init(&t);
	write_block(&w, &t, &tr->v, tr->v.params, "");
	write_block(&w, &t, &tr->v, tr->opt.m, "opt.m.");
	write_block(&w, &t, &tr->v, tr->opt.v, "opt.v.");
	if (tsr_finish(&w) < 0)
		die("%s", w.msg);
	ofile_close(fp);
	if (tr->o->out) {
		tr->lastck = tr->o->out;
		tr->lastckstep = tr->step;
	}
	tensor_free(&t);
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
	tr->seen = tr->skip = meta_long(&st, "seen", name);
	memcpy(&step, st.data, sizeof(step));
	if (step < 0 || tr->batch < 1 || tr->total < 1)
		die("%s: record 'step': step %" PRId64 ", batch %ld, steps %ld out "
		    "of range", name, step, tr->batch, tr->total);
	tr->step = step;
	if (fp != stdin) {
		tr->lastck = path;
		tr->lastckstep = step;
	}
	if (vit_build(&tr->v, &c, tr->batch, msg, sizeof(msg)) < 0)
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

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* a loss or gradient that is not finite: stop, saying what is left */
static void
nonfinite(struct train *tr, const char *what)
{
	if (tr->lastck)
		die("step %ld: %s; stopping (the last good checkpoint is %s, "
		    "step %ld)", tr->step + 1, what, tr->lastck, tr->lastckstep);
	die("step %ld: %s; stopping (no checkpoint written yet)", tr->step + 1,
	    what);
}

static void
train_step(struct train *tr)
{
	struct vit *v = &tr->v;
	float loss, lr;
	double gn, dt;
	int i;

	if (!tr->nb)
		return;
	if (!tr->parts)
		tr->parts = ereallocarray(NULL, v->npt, sizeof(*tr->parts));
	clock_gettime(CLOCK_MONOTONIC, &tr->t0);
	vit_mask(v, tr->nb, &tr->rng, NULL);
	loss = vit_forward(v, tr->xb, tr->tb);
	if (!isfinite(loss))
		nonfinite(tr, isnan(loss) ? "loss is NaN" : "loss is infinite");
	vit_zero_grad(v);
	vit_backward(v);
	gn = grad_clip(v->grads, v->nparams, tr->clip);
	if (!isfinite(gn))
		nonfinite(tr, "gradient norm is not finite");
	lr = lr_schedule(tr->step, tr->total, tr->warmup, (float)tr->lr, 0.0f);
	adamw_tick(&tr->opt);
	for (i = 0; i < v->npt; i++) {
		tr->parts[i].off = v->pt[i].off;
		tr->parts[i].n = v->pt[i].n;
		tr->parts[i].wd = v->pt[i].decay ? (float)tr->wd : 0.0f;
	}
	adamw_update_parts(&tr->opt, v->params, v->grads, tr->parts, v->npt, lr);
	tr->step++;
	tr->seen += tr->nb;
	dt = elapsed(&tr->t0);
	if (!tr->o->quiet)
		fprintf(stderr, "step %ld loss %.6f lr %.4e img/s %.1f\n", tr->step,
		        loss, lr, dt > 0 ? tr->nb / dt : 0.0);
	if (tr->log)
		fprintf(tr->log, "%ld\t%.6f\t%.6e\t%.1f\t%.6f\n", tr->step, loss, lr,
		        dt > 0 ? tr->nb / dt : 0.0, gn);
	tr->nb = 0;
	if (tr->step >= tr->total || (tr->o->stop && tr->step >= tr->o->stop))
		tr->done = 1;
	if (stopsig) {
		save(tr, stopsig == SIGINT ? "interrupted" : "terminated");
		die("step %ld: stopped by %s; resume with --resume",
		    tr->step, stopsig == SIGINT ? "SIGINT" : "SIGTERM");
	}
	if (!tr->done && tr->o->every && tr->step % tr->o->every == 0)
		save(tr, "periodic");
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

/* check the stream's geometry against the model, or set it */
static void
geometry(struct train *tr, const struct tensor *x, const struct tensor *tok,
         const char *where, int fromckpt, int filepasses)
{
	struct vit_config *c = &tr->o->c;
	char buf[64], msg[256];
	int p, ch, gh, gw;
	long ep, im;

	if (!tensor_meta_get(x, "patch_size", buf, sizeof(buf)) ||
	    (p = atoi(buf)) < 1)
		die("%s: no patch_size in the meta (expected a patchify stream)",
		    where);
	if (!tensor_meta_get(x, "channels", buf, sizeof(buf)) ||
	    (ch = atoi(buf)) < 1)
		die("%s: no channels in the meta (expected a patchify stream)",
		    where);
	if (!tensor_meta_get(x, "grid", buf, sizeof(buf)) ||
	    sscanf(buf, "%dx%d", &gh, &gw) != 2 || gh < 1 || gw < 1)
		die("%s: no grid HxW in the meta (expected a patchify stream)",
		    where);
	if (x->dims[1] != (uint64_t)gh * gw ||
	    x->dims[2] != (uint64_t)p * p * ch)
		die("%s: shape [%" PRIu64 ",%" PRIu64 ",%" PRIu64 "] does not match "
		    "grid %dx%d and patch %dx%dx%d", where, x->dims[0], x->dims[1],
		    x->dims[2], gh, gw, p, p, ch);
	if (fromckpt) {
		const struct vit_config *k = &tr->v.c;

		if (k->patch != p || k->channels != ch || k->gh != gh ||
		    k->gw != gw)
			die("%s: patch %d, grid %dx%d, %d channels, but the "
			    "checkpoint was trained on patch %d, grid %dx%d, %d "
			    "channels", where, p, gh, gw, ch, k->patch, k->gh, k->gw,
			    k->channels);
		tr->geom = 1;
		return;
	}
	c->patch = p;
	c->channels = ch;
	c->gh = gh;
	c->gw = gw;
	if (c->target == VIT_TOKENS) {
		if (!tensor_meta_get(tok, "k", buf, sizeof(buf)) ||
		    (c->k = atoi(buf)) < 1)
			die("%s: record 'tokens' has no k in its meta (expected a "
			    "tokenize stream)", where);
	}
	if (vit_build(&tr->v, c, tr->batch, msg, sizeof(msg)) < 0)
		die("%s", msg);
	vit_init(&tr->v, tr->o->seed);
	if (adamw_init(&tr->opt, tr->v.nparams, 0.9f, 0.95f, 1e-8f) < 0)
		die("out of memory for the optimiser state");
	rng_seed(&tr->rng, tr->o->seed, RNG_MASK);
	if (tr->o->steps)
		tr->total = tr->o->steps;
	else {
		ep = group_meta(x, "epochs", -1, where);
		im = group_meta(x, "images", -1, where);
		if (ep < 1 || im < 1)
			die("%s: no epochs and images in the meta to count the steps; "
			    "give --steps", where);
		tr->total = ep * ((im + tr->batch - 1) / tr->batch) * filepasses;
	}
	tr->warmup = tr->o->warmup >= 0 ? tr->o->warmup : tr->total / 20;
	tr->geom = 1;
}

/* take the images of one group into batches */
static void
take_group(struct train *tr, struct tsr_group *g, const char *inname,
           uint64_t base, long pass, int fromckpt, int filepasses)
{
	struct opts *o = tr->o;
	struct tensor *x = tsr_group_find(g, "patches");
	struct tensor *tok = tsr_group_find(g, "tokens");
	struct vit *v = &tr->v;
	char where[320], shape[128];
	uint64_t n, i, j;
	long key;
	size_t L, P;

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
	if (!tr->xb) {
		tr->xb = ecalloc((size_t)tr->batch * v->L * v->P, sizeof(float));
		tr->tb = ecalloc((size_t)tr->batch * v->L, sizeof(int32_t));
	}
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
	}
	key = pass * 1000000L + group_meta(x, "epoch", 0, where);
	L = v->L;
	P = v->P;
	n = x->dims[0];
	for (i = 0; i < n && !tr->done; i++) {
		if (tr->skip) {
			tr->skip--;
			tr->epochkey = key;
			tr->havekey = 1;
			continue;
		}
		if (tr->havekey && key != tr->epochkey)
			train_step(tr); /* a batch never spans two epochs */
		if (tr->done)
			break;
		tr->epochkey = key;
		tr->havekey = 1;
		if (x->dtype == TSR_F32)
			memcpy(tr->xb + tr->nb * L * P, (float *)x->data + i * L * P,
			       L * P * sizeof(float));
		else
			for (j = 0; j < L * P; j++)
				tr->xb[tr->nb * L * P + j] =
				    ((unsigned char *)x->data)[i * L * P + j] / 255.0f;
		if (o->c.target == VIT_TOKENS)
			memcpy(tr->tb + tr->nb * L, (int32_t *)tok->data + i * L,
			       L * sizeof(int32_t));
		if (++tr->nb == tr->batch)
			train_step(tr);
	}
}

/* ------------------------------------------------------------------ */

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: %s [-nq] [-b batch] [-c clip] [-e epochs] [-j threads] "
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
	while ((ch = getopt_long(argc, argv, ":b:c:e:hj:k:L:l:m:no:qr:S:s:T:t:Vw:",
	                         longopts, NULL)) != -1) {
		switch (ch) {
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
		     "options; give only -e, -j, -k, -L, -o, -q, -T and the input");
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
	FILE *in;
	long pass;
	int rc, fromckpt;

	/* arguments */
	omp_passive(argv);
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare */
	if ((!o.out || !strcmp(o.out, "-")) && isatty(1))
		die("refusing to write binary tensor stream to a terminal");
	layers_threads(o.threads);
	memset(&tr, 0, sizeof(tr));
	tr.o = &o;
	tr.batch = o.batch;
	tr.blr = o.blr;
	tr.wd = o.wd;
	tr.clip = o.clip;
	fromckpt = o.resume != NULL;
	if (fromckpt) {
		load(&tr, o.resume);
		o.c.target = tr.v.c.target;
		if (tr.step >= tr.total)
			die("%s: already at step %ld of %ld", ifile_name(o.resume),
			    tr.step, tr.total);
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
		if (!tr.done && rc < 0)
			die("%s", r.msg);
		tsr_reader_free(&r);
		tsr_group_free(&g);
		tsr_group_init(&g);
	}
	if (!tr.done)
		train_step(&tr); /* the last, partial batch */
	if (!tr.geom)
		die("%s: no groups in the input", inname);
	if (!tr.done && !o.quiet)
		warn("%s: the input ended at step %ld of %ld", inname, tr.step,
		     tr.total);
	save(&tr, tr.step < tr.total ? "stopped" : "final");

	/* clean up */
	if (tr.log && fclose(tr.log))
		die("%s:", o.log);
	free(tr.xb);
	free(tr.tb);
	free(tr.parts);
	adamw_free(&tr.opt);
	vit_free(&tr.v);
	tsr_group_free(&g);
	if (in != stdin)
		fclose(in);
	return 0;
}
