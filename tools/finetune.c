/* See LICENSE file for copyright and license details. */
/*
 * finetune: fine-tune a pretrained encoder end to end as an image
 * classifier, following MAE's fine-tuning recipe.
 *
 * Reads the encoder (-m: a mim-train or finetune checkpoint, or a timm
 * ViT in a .safetensors file; lib/encoder.h) and a stream of groups
 * (tensor-stream(5)), each with
 *
 *	patches  u8 or f32 [n, L, P]  the encoder's geometry; meta epoch,
 *	                              epochs and images count the steps
 *	labels   i32 [n]              classes in [0, K); meta nclasses
 *
 * augmented and reshuffled upstream (patchify -a -u -e N), and trains
 * lib/classifier.h's model on batches of -b images in stream order (a
 * batch never spans two epochs): mixup or cutmix with label-smoothed
 * soft targets (lib/mixup.h), drop path, AdamW with layer-wise
 * learning-rate decay, linear warmup and a cosine to --min-lr.  With -t
 * it evaluates on a test stream at the end (-E: after every epoch too),
 * and prints one "key value" line each (-J: a JSON object).
 *
 * With -o it writes a checkpoint (formats/checkpoint.md): the scalar
 * `step' with the configuration in its meta, `rng', the encoder's
 * parameters, enc.pos_embed, fc_norm.* (pool mean), head.*, then
 * AdamW's opt.m.NAME and opt.v.NAME of each; every -k steps, at the end,
 * at -T and on SIGINT or SIGTERM (at the next step boundary).  -r
 * restores everything and skips the images the checkpoint consumed, so
 * a resumed run gives the same bytes as an uninterrupted one.  encode(1)
 * and probe(1) take the checkpoint as a model.
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

#include "ckpt.h"
#include "classifier.h"
#include "encoder.h"
#include "layers.h"
#include "mixup.h"
#include "optim.h"
#include "report.h"
#include "tensor.h"
#include "util.h"
#include "vit.h"

/* the streams of the random generator: the head's initialisation, and
 * mixup and drop path (saved in the checkpoint) */
enum { RNG_HEAD = 3, RNG_TRAIN = 4 };

struct opts {
	const char *model, *in, *out, *resume, *log, *test;
	long batch, every, steps, stop, warmup, epochs, classes;
	double blr, minlr, wd, clip, decay, droppath;
	struct mixup mix;
	unsigned long long seed;
	int pool, threads, quiet, json, confusion, evalepochs;
	int setmodel;  /* a model or training option was given */
};

struct ft {
	struct opts *o;
	struct vit v;
	struct classifier c;
	struct classifier_opt opt;
	struct rng rng;
	long step, total, warmup, batch;
	uint64_t seen, skip;  /* images consumed; still to skip (resume) */
	float *xb, *tb, *dp;  /* (B,L,P) batch, (B,K) targets, drop path */
	int32_t *yb;          /* (B) labels */
	int nb;               /* images in the batch */
	long epochkey;        /* the epoch of the batch's images */
	int havekey;
	long epochs;          /* epochs finished */
	double eloss;         /* the loss summed over this epoch's steps */
	long esteps;
	double lastloss;      /* the mean loss of the last epoch ended */
	int K, pool, started, done, headed;
	double blr, lr, minlr, wd, clip, decay, droppath;
	struct mixup mix;
	char pretrained[256];
	FILE *log;
	struct report out;
	uint8_t *seen_rec;    /* resume: records found, 3 per parameter */
	int haverng;
	const char *lastck;   /* the last complete checkpoint file, or NULL */
	long lastckstep;      /* and its step */
	/* the last evaluation */
	long evalstep;
	size_t *cm;           /* (K,K) confusion counts */
	double evalloss;
	uint64_t evaln;
};

static volatile sig_atomic_t stopsig;

static void
onsignal(int sig)
{
	stopsig = sig;
}

/* ------------------------------------------------------------------ */
/* the model                                                           */

/* the optimiser state, once v and c are built */
static void
setup_optimizer(struct ft *f)
{
	char msg[256];

	if (classifier_opt_init(&f->opt, &f->c, f->wd, f->decay, msg,
	                        sizeof(msg)) < 0)
		die("%s", msg);
}

/* a fresh model from the pretrained encoder of -m */
static void
pretrained(struct ft *f, int K)
{
	struct opts *o = f->o;
	char msg[512];
	struct rng r;

	if (encoder_load(&f->v, o->model, (int)f->batch, msg, sizeof(msg)) < 0)
		die("%s", msg);
	/* a timm model's layer norms (eps 1e-6) train with mim-train's
	 * 1e-5, like every model here: the checkpoint, which does not
	 * carry the eps, is then read as it was trained */
	f->v.c.lneps = 1e-5f;
	if (classifier_build(&f->c, &f->v, K, f->pool, msg, sizeof(msg)) < 0)
		die("%s", msg);
	rng_seed(&r, o->seed, RNG_HEAD);
	classifier_init(&f->c, &r);
	rng_seed(&f->rng, o->seed, RNG_TRAIN);
	snprintf(f->pretrained, sizeof(f->pretrained), "%s",
	         ifile_name(o->model));
	setup_optimizer(f);
}

/* ------------------------------------------------------------------ */
/* checkpoints                                                         */

static void
config_meta(void *ctx, struct tensor *t)
{
	struct ft *f = ctx;
	int r = 0;

	r |= tensor_meta_setf(t, "tool", "finetune/%s", VERSION);
	/* the encoder's configuration, as mim-train writes it */
	r |= ckpt_model_meta(t, &f->v.c);
	/* the fine-tuning */
	r |= tensor_meta_set(t, "pretrained", f->pretrained);
	r |= tensor_meta_setf(t, "nclasses", "%d", f->K);
	r |= tensor_meta_set(t, "pool", f->pool == POOL_MEAN ? "mean" : "cls");
	r |= tensor_meta_setf(t, "batch_size", "%ld", f->batch);
	r |= tensor_meta_setf(t, "steps", "%ld", f->total);
	r |= tensor_meta_setf(t, "warmup", "%ld", f->warmup);
	r |= tensor_meta_setf(t, "blr", "%.17g", f->blr);
	r |= tensor_meta_setf(t, "min_lr", "%.17g", f->minlr);
	r |= tensor_meta_setf(t, "weight_decay", "%.17g", f->wd);
	r |= tensor_meta_setf(t, "layer_decay", "%.17g", f->decay);
	r |= tensor_meta_setf(t, "drop_path", "%.17g", f->droppath);
	r |= tensor_meta_setf(t, "label_smoothing", "%.17g", f->mix.smoothing);
	r |= tensor_meta_setf(t, "mixup", "%.17g", f->mix.mixup_alpha);
	r |= tensor_meta_setf(t, "cutmix", "%.17g", f->mix.cutmix_alpha);
	r |= tensor_meta_setf(t, "mix_prob", "%.17g", f->mix.prob);
	r |= tensor_meta_setf(t, "switch_prob", "%.17g", f->mix.switch_prob);
	r |= tensor_meta_setf(t, "clip", "%.17g", f->clip);
	r |= tensor_meta_setf(t, "seed", "%llu", f->o->seed);
	r |= tensor_meta_setf(t, "seen", "%" PRIu64, f->seen);
	r |= tensor_meta_setf(t, "epochs_done", "%ld", f->epochs);
	r |= tensor_meta_setf(t, "epoch_loss", "%.17g", f->eloss);
	r |= tensor_meta_setf(t, "epoch_steps", "%ld", f->esteps);
	if (r < 0)
		die("cannot store the checkpoint metadata (a model file name "
		    "with a newline?)");
}

static void
save(struct ft *f, const char *why)
{
	struct tsr_writer w;
	char msg[256];
	FILE *fp = ofile_open(f->o->out, 1);
	const char *pre[3] = { "", "opt.m.", "opt.v." };
	const float *eb[3] = { f->v.params, f->opt.enc.m, f->opt.enc.v };
	const float *cb[3] = { f->c.params, f->opt.cls.m, f->opt.cls.v };
	int k;

	tsr_writer_init(&w, fp, f->o->out, 0);
	if (ckpt_write_start(&w, f->step, config_meta, f, f->rng.s, "finetune",
	                     msg, sizeof(msg)) < 0)
		die("%s", msg);
	for (k = 0; k < 3; k++)
		if (ckpt_write_table(&w, f->v.pt, f->v.npt, eb[k], pre[k], "enc.",
		                     msg, sizeof(msg)) < 0 ||
		    ckpt_write_table(&w, f->c.pt, f->c.npt, cb[k], pre[k], NULL, msg,
		                     sizeof(msg)) < 0)
			die("%s", msg);
	if (tsr_finish(&w) < 0)
		die("%s", w.msg);
	ofile_close(fp);
	f->lastck = f->o->out;
	f->lastckstep = f->step;
	tsr_writer_free(&w);
	if (!f->o->quiet && why)
		fprintf(stderr, "finetune: step %ld: checkpoint %s (%s)\n", f->step,
		        f->o->out, why);
}

/* a count or a number of the configuration in the meta of 'step' */
static uint64_t
cfg_count(const struct tensor *t, const char *key, const char *where)
{
	char buf[64], *end;
	unsigned long long v;

	if (!tensor_meta_get(t, key, buf, sizeof(buf)))
		die("%s: record 0 'step': no '%s' in the configuration", where, key);
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || *end || end == buf || *buf == '-' || v > INT64_MAX)
		die("%s: record 0 'step': %s=%s is not a count", where, key, buf);
	return v;
}

static double
cfg_num(const struct tensor *t, const char *key, const char *where)
{
	char buf[64], *end;
	double v;

	if (!tensor_meta_get(t, key, buf, sizeof(buf)))
		die("%s: record 0 'step': no '%s' in the configuration", where, key);
	v = strtod(buf, &end);
	if (*end || end == buf || !isfinite(v))
		die("%s: record 0 'step': %s=%s is not a number", where, key, buf);
	return v;
}

/* the records of a finetune checkpoint beside the encoder (encoder.h) */
static int
resume_rec(void *ctx, struct vit *v, const struct tensor *t, uint64_t index,
           char *msg, size_t len)
{
	struct ft *f = ctx;
	const char *where = ifile_name(f->o->resume), *pn = t->name;
	const struct vit_tensor *p;
	char buf[64];
	int which = 0, own;
	int64_t step;
	float *base;

	if (index == 0) {
		/* the configuration: v is built; the classifier follows */
		if (!tensor_meta_get(t, "tool", buf, sizeof(buf)) ||
		    strncmp(buf, "finetune/", 9))
			die("%s: not a finetune checkpoint (tool=%s; give it with -m "
			    "to fine-tune from it)", where,
			    tensor_meta_get(t, "tool", buf, sizeof(buf)) ? buf : "?");
		memcpy(&step, t->data, sizeof(step));
		f->step = step;
		f->K = (int)MIN(cfg_count(t, "nclasses", where), 1 << 20);
		if (!tensor_meta_get(t, "pool", buf, sizeof(buf)) ||
		    (strcmp(buf, "mean") && strcmp(buf, "cls")))
			die("%s: record 0 'step': pool=%s, expected mean or cls",
			    where, buf);
		f->pool = !strcmp(buf, "mean") ? POOL_MEAN : POOL_CLS;
		f->batch = (long)cfg_count(t, "batch_size", where);
		f->total = (long)cfg_count(t, "steps", where);
		f->warmup = (long)cfg_count(t, "warmup", where);
		f->blr = cfg_num(t, "blr", where);
		f->minlr = cfg_num(t, "min_lr", where);
		f->wd = cfg_num(t, "weight_decay", where);
		f->decay = cfg_num(t, "layer_decay", where);
		f->droppath = cfg_num(t, "drop_path", where);
		f->mix.smoothing = cfg_num(t, "label_smoothing", where);
		f->mix.mixup_alpha = cfg_num(t, "mixup", where);
		f->mix.cutmix_alpha = cfg_num(t, "cutmix", where);
		f->mix.prob = cfg_num(t, "mix_prob", where);
		f->mix.switch_prob = cfg_num(t, "switch_prob", where);
		f->clip = cfg_num(t, "clip", where);
		f->o->seed = cfg_count(t, "seed", where);
		f->seen = f->skip = cfg_count(t, "seen", where);
		f->epochs = (long)cfg_count(t, "epochs_done", where);
		f->eloss = cfg_num(t, "epoch_loss", where);
		f->esteps = (long)cfg_count(t, "epoch_steps", where);
		if (!tensor_meta_get(t, "pretrained", f->pretrained,
		                     sizeof(f->pretrained)))
			snprintf(f->pretrained, sizeof(f->pretrained), "?");
		if (step < 0 || f->batch != v->maxB || f->K < 1 || f->total < 1)
			die("%s: record 0 'step': step %" PRId64 ", batch %ld, classes "
			    "%d, steps %ld out of range", where, step, f->batch, f->K,
			    f->total);
		if (classifier_build(&f->c, v, f->K, f->pool, msg, len) < 0)
			die("%s: %s", where, msg);
		f->seen_rec = ecalloc(3 * (size_t)(v->npt + f->c.npt), 1);
		return 0;
	}
	if (!strcmp(t->name, "rng")) {
		if (t->dtype != TSR_U64 || t->rank != 1 || t->dims[0] != 1)
			die("%s: record %" PRIu64 " 'rng': expected u64 [1]", where,
			    index);
		memcpy(&f->rng.s, t->data, sizeof(uint64_t));
		f->haverng = 1;
		return 0;
	}
	if (!strncmp(pn, "opt.m.", 6))
		which = 1, pn += 6;
	else if (!strncmp(pn, "opt.v.", 6))
		which = 2, pn += 6;
	/* the optimiser state once the records show it is needed (a
	 * checkpoint that only claims a big model costs no memory) */
	if (which && !f->opt.enc.m) {
		setup_optimizer(f);
		f->opt.enc.t = f->opt.cls.t = f->step;
	}
	own = (p = classifier_param(&f->c, pn)) != NULL;
	if (!own && (which == 0 || strncmp(pn, "enc.", 4) ||
	             !(p = vit_param(v, pn))))
		return 1;
	if (encoder_check_record(t, p, where, index, msg, len) < 0)
		return -1;
	if (own)
		base = which == 0 ? f->c.params : which == 1 ? f->opt.cls.m :
		       f->opt.cls.v;
	else
		base = which == 1 ? f->opt.enc.m : f->opt.enc.v;
	memcpy(base + p->off, t->data, p->n * sizeof(float));
	f->seen_rec[3 * (own ? v->npt + (p - f->c.pt) : p - v->pt) + which] = 1;
	return 0;
}

static void
resume(struct ft *f)
{
	struct opts *o = f->o;
	const char *name = ifile_name(o->resume);
	FILE *fp = ifile_open(o->resume);
	char msg[512];
	int i, k, n;

	if (encoder_load_ckpt(&f->v, fp, name, 0, resume_rec, f, msg,
	                      sizeof(msg)) < 0)
		die("%s", msg);
	if (fp != stdin) {
		fclose(fp);
		f->lastck = o->resume;  /* complete once its records check out */
		f->lastckstep = f->step;
	}
	/* the loader put enc.pos_embed into the vit */
	memcpy(f->c.pos, f->v.pos, (size_t)(1 + f->v.L) * f->v.c.dim *
	       sizeof(float));
	f->seen_rec[3 * (f->v.npt + (classifier_param(&f->c, "enc.pos_embed") -
	                             f->c.pt))] = 1;
	n = f->v.npt + f->c.npt;
	for (i = 0; i < n; i++) {
		const struct vit_tensor *t = i < f->v.npt ? &f->v.pt[i] :
		                             &f->c.pt[i - f->v.npt];

		if (strncmp(t->name, "enc.", 4) && i < f->v.npt)
			continue;
		for (k = i < f->v.npt; k < 3; k++)
			if (!f->seen_rec[3 * i + k])
				die("%s: no record '%s%s' (truncated or not a finetune "
				    "checkpoint?)", name, k == 0 ? "" : k == 1 ? "opt.m." :
				    "opt.v.", t->name);
	}
	if (!f->haverng)
		die("%s: no record 'rng'", name);
}

/* ------------------------------------------------------------------ */
/* evaluation                                                          */

/* u8 or f32 patches (n, L, P) as floats: x itself, or buf */
static const float *
floats(const struct tensor *x, float **buf, size_t *cap)
{
	size_t cnt = tensor_count(x), j;

	if (x->dtype == TSR_F32)
		return x->data;
	if (cnt > *cap) {
		free(*buf);
		*buf = ereallocarray(NULL, cnt, sizeof(float));
		*cap = cnt;
	}
	for (j = 0; j < cnt; j++)
		(*buf)[j] = ((unsigned char *)x->data)[j] / 255.0f;
	return *buf;
}

/* labels i32 [n] in [0,K), or die naming the record */
static void
check_labels(const struct tensor *lab, uint64_t n, int K, const char *name,
             uint64_t index)
{
	char shape[128];
	uint64_t i;

	tensor_shape_str(lab, shape, sizeof(shape));
	if (lab->dtype != TSR_I32 || lab->rank != 1 || lab->dims[0] != n)
		die("%s: record %" PRIu64 " 'labels': %s %s, expected i32 [%" PRIu64
		    "]", name, index, tsr_dtype_name(lab->dtype), shape, n);
	for (i = 0; i < n; i++) {
		int32_t y = ((const int32_t *)lab->data)[i];

		if (y < 0 || y >= K)
			die("%s: record %" PRIu64 " 'labels': element %" PRIu64 " is %"
			    PRId32 ", outside [0,%d) (--classes?)", name, index, i, y, K);
	}
}

/* the model on the test stream: confusion counts, loss, images */
static void
evaluate(struct ft *f)
{
	struct tsr_reader r;
	struct tsr_group g;
	struct tensor *x, *lab;
	const char *name = ifile_name(f->o->test);
	FILE *fp = ifile_open(f->o->test);
	float *buf = NULL;
	size_t cap = 0;
	char msg[256];
	int rc, K = f->K;

	if (f->evalstep == f->step)
		return;
	memset(f->cm, 0, (size_t)K * K * sizeof(size_t));
	f->evalloss = 0.0;
	f->evaln = 0;
	tsr_reader_init(&r, fp, name);
	tsr_group_init(&g);
	while ((rc = tsr_group_read(&r, &g)) > 0) {
		uint64_t base = r.index - g.n - g.havenext, n, i0;
		const float *xf;

		if (!(lab = tsr_group_find(&g, "labels")))
			continue;
		if (!(x = tsr_group_find(&g, "patches")))
			die("%s: records %" PRIu64 "-%" PRIu64 ": no 'patches' record "
			    "in the group", name, base, base + g.n - 1);
		if (encoder_check_patches(&f->v, x, msg, sizeof(msg)) < 0)
			die("%s: record %" PRIu64 " 'patches': %s", name,
			    base + (uint64_t)(x - g.t), msg);
		n = x->dims[0];
		check_labels(lab, n, K, name, base + (uint64_t)(lab - g.t));
		xf = floats(x, &buf, &cap);
		for (i0 = 0; i0 < n; i0 += f->batch) {
			int B = (int)MIN((uint64_t)f->batch, n - i0), b, k;

			classifier_forward(&f->c, xf + i0 * f->v.L * f->v.P, B, NULL,
			                   NULL);
			for (b = 0; b < B; b++) {
				const float *z = f->c.logits + (size_t)b * K;
				int32_t y = ((const int32_t *)lab->data)[i0 + b];
				double s = 0.0, mx;
				int best = 0;

				for (k = 1; k < K; k++)
					if (z[k] > z[best])
						best = k;
				mx = z[best];
				for (k = 0; k < K; k++)
					s += exp(z[k] - mx);
				if (!isfinite(mx) || !isfinite(s))
					die("%s: image %" PRIu64 ": the logits are not finite",
					    name, f->evaln + b);
				f->evalloss += mx + log(s) - z[y];
				f->cm[(size_t)y * K + best]++;
			}
			f->evaln += B;
		}
	}
	if (rc < 0)
		die("%s", r.msg);
	if (!f->evaln)
		die("%s: no labelled images (an empty stream, or no 'labels' "
		    "records?)", name);
	tsr_group_free(&g);
	tsr_reader_free(&r);
	if (fp != stdin)
		fclose(fp);
	free(buf);
	f->evalstep = f->step;
}

/* the first keys, before the first results (not before an error in
 * the input) */
static void
header(struct ft *f)
{
	if (f->headed++)
		return;
	report_int(&f->out, "classes", f->K);
	report_str(&f->out, "pool", f->pool == POOL_MEAN ? "mean" : "cls");
	report_int(&f->out, "steps", f->total);
}

/* the test results under prefix pre ("test" or "epoch.N.test") */
static void
report_test(struct ft *f, const char *pre, int confusion)
{
	char k[64];

	snprintf(k, sizeof(k), "%s.images", pre);
	report_int(&f->out, k, (long long)f->evaln);
	snprintf(k, sizeof(k), "%s.loss", pre);
	report_num(&f->out, k, "%.6f", f->evalloss / f->evaln);
	report_accuracy(&f->out, pre, f->cm, f->K, confusion);
}

static double
accuracy(const struct ft *f)
{
	size_t right = 0;
	int k;

	for (k = 0; k < f->K; k++)
		right += f->cm[(size_t)k * f->K + k];
	return 100.0 * right / f->evaln;
}

/* the end of an epoch: with -E, its loss and test results */
static void
end_epoch(struct ft *f)
{
	char k[64], pre[48];

	f->epochs++;
	f->lastloss = f->esteps ? f->eloss / f->esteps : 0.0;
	if (f->o->evalepochs && f->o->test) {
		evaluate(f);
		header(f);
		snprintf(pre, sizeof(pre), "epoch.%ld", f->epochs);
		snprintf(k, sizeof(k), "%s.step", pre);
		report_int(&f->out, k, f->step);
		snprintf(k, sizeof(k), "%s.train.loss", pre);
		report_num(&f->out, k, "%.6f", f->lastloss);
		snprintf(pre, sizeof(pre), "epoch.%ld.test", f->epochs);
		report_test(f, pre, 0);
		fflush(stdout);
		if (!f->o->quiet)
			fprintf(stderr, "finetune: epoch %ld: test.acc %.4f test.loss "
			        "%.6f\n", f->epochs, accuracy(f),
			        f->evalloss / f->evaln);
	}
	f->eloss = 0.0;
	f->esteps = 0;
}

/* ------------------------------------------------------------------ */
/* training                                                            */

/* SIGINT or SIGTERM: the steps taken are saved (not while a resumed
 * run still skips the checkpoint's images), and the run ends */
static void
stop(struct ft *f)
{
	if (f->o->out && !f->skip)
		save(f, stopsig == SIGINT ? "interrupted" : "terminated");
	die("step %ld: stopped by %s; %s", f->step,
	    stopsig == SIGINT ? "SIGINT" : "SIGTERM", f->o->out ?
	    "resume with --resume" : "nothing saved (no -o)");
}

static void
train_step(struct ft *f)
{
	struct vit *v = &f->v;
	struct classifier *c = &f->c;
	struct mixup_draw d;
	double t0;
	double gn, dt;
	float loss, lr;

	if (!f->nb)
		return;
	t0 = monotonic();
	mixup_draw(&f->mix, v->c.gh * v->c.patch, v->c.gw * v->c.patch, &f->rng,
	           &d);
	mixup_apply(&d, f->xb, f->nb, v->L, v->c.patch, v->c.channels, v->c.gw);
	mixup_targets(&d, f->yb, f->nb, f->K, f->mix.smoothing, f->tb);
	if (f->droppath > 0)
		classifier_droppath(f->dp, v->c.depth, f->nb, f->droppath, &f->rng);
	loss = classifier_forward(c, f->xb, f->nb, f->droppath > 0 ? f->dp :
	                          NULL, f->tb);
	if (!isfinite(loss))
		die_nonfinite(f->step, isnan(loss) ? "loss is NaN" :
		              "loss is infinite", f->lastck, f->lastckstep);
	classifier_zero_grad(c);
	classifier_backward(c);
	gn = classifier_clip(&f->opt, c, f->clip);
	if (!isfinite(gn))
		die_nonfinite(f->step, "gradient norm is not finite",
		              f->lastck, f->lastckstep);
	lr = lr_schedule(f->step, f->total, f->warmup, (float)f->lr,
	                 (float)f->minlr);
	classifier_opt_step(&f->opt, c, lr);
	f->step++;
	f->seen += f->nb;
	f->eloss += loss;
	f->esteps++;
	dt = monotonic() - t0;
	if (!f->o->quiet)
		fprintf(stderr, "step %ld loss %.6f lr %.4e img/s %.1f\n", f->step,
		        loss, lr, dt > 0 ? f->nb / dt : 0.0);
	if (f->log)
		fprintf(f->log, "%ld\t%.6f\t%.6e\t%.1f\t%.6f\n", f->step, loss, lr,
		        dt > 0 ? f->nb / dt : 0.0, gn);
	f->nb = 0;
	if (f->step >= f->total || (f->o->stop && f->step >= f->o->stop))
		f->done = 1;
	if (stopsig)
		stop(f);
	if (!f->done && f->o->every && f->step % f->o->every == 0)
		save(f, "periodic");
}

static long
group_count(const struct tensor *x, const char *key, const char *where)
{
	char buf[64], *end;
	long v;

	if (!tensor_meta_get(x, key, buf, sizeof(buf)))
		return -1;
	v = strtol(buf, &end, 10);
	if (*end || end == buf || v < 0)
		die("%s: %s=%s is not a count", where, key, buf);
	return v;
}

/* the first group: the classes, the model, the number of steps */
static void
start(struct ft *f, const struct tensor *x, const struct tensor *lab,
      const char *where, int filepasses)
{
	struct opts *o = f->o;
	char buf[64];
	long ep, im;

	if (!o->resume) {
		f->K = (int)o->classes;
		if (!f->K && (!tensor_meta_get(lab, "nclasses", buf, sizeof(buf)) ||
		              (f->K = atoi(buf)) < 1))
			die("%s: no nclasses in the meta of 'labels' (give --classes)",
			    where);
		pretrained(f, f->K);
		if (o->steps)
			f->total = o->steps;
		else {
			ep = group_count(x, "epochs", where);
			im = group_count(x, "images", where);
			if (ep < 1 || im < 1)
				die("%s: no epochs and images in the meta to count the "
				    "steps; give --steps", where);
			f->total = ep * ((im + f->batch - 1) / f->batch) * filepasses;
		}
		f->warmup = o->warmup >= 0 ? o->warmup : f->total / 20;
	}
	f->xb = ecalloc((size_t)f->batch * f->v.L * f->v.P, sizeof(float));
	f->tb = ecalloc((size_t)f->batch * f->K, sizeof(float));
	f->yb = ecalloc(f->batch, sizeof(int32_t));
	f->dp = ecalloc((size_t)2 * f->v.c.depth * f->batch, sizeof(float));
	f->cm = ecalloc((size_t)f->K * f->K, sizeof(size_t));
	f->started = 1;
}

/* take the images of one group into batches */
static void
take_group(struct ft *f, struct tsr_group *g, const char *inname,
           uint64_t base, long pass, int filepasses)
{
	struct tensor *x = tsr_group_find(g, "patches");
	struct tensor *lab = tsr_group_find(g, "labels");
	struct vit *v = &f->v;
	char where[320], msg[256];
	uint64_t n, i, j;
	size_t L, P;
	long key;

	if (!x || !lab)
		die("%s: records %" PRIu64 "-%" PRIu64 ": no '%s' record in the "
		    "group", inname, base, base + g->n - 1, x ? "labels" : "patches");
	snprintf(where, sizeof(where), "%s: record %" PRIu64 " 'patches'",
	         inname, base + (uint64_t)(x - g->t));
	if (!f->started) {
		/* the encoder decides the geometry: check it first */
		if ((x->dtype != TSR_F32 && x->dtype != TSR_U8) || x->rank != 3) {
			tensor_shape_str(x, msg, sizeof(msg));
			die("%s: %s %s, expected u8 or f32 [n, L, P]", where,
			    tsr_dtype_name(x->dtype), msg);
		}
		start(f, x, lab, where, filepasses);
	}
	if (encoder_check_patches(v, x, msg, sizeof(msg)) < 0)
		die("%s: %s", where, msg);
	n = x->dims[0];
	check_labels(lab, n, f->K, inname, base + (uint64_t)(lab - g->t));
	key = pass * 1000000L + group_count(x, "epoch", where);
	L = v->L;
	P = v->P;
	for (i = 0; i < n && !f->done; i++) {
		if (f->havekey && key != f->epochkey) {
			train_step(f); /* a batch never spans two epochs */
			if (!f->skip)
				end_epoch(f);
		}
		f->epochkey = key;
		f->havekey = 1;
		if (f->done)
			break;
		if (f->skip) {
			f->skip--;
			continue;
		}
		if (x->dtype == TSR_F32)
			memcpy(f->xb + f->nb * L * P, (float *)x->data + i * L * P,
			       L * P * sizeof(float));
		else
			for (j = 0; j < L * P; j++)
				f->xb[f->nb * L * P + j] =
				    ((unsigned char *)x->data)[i * L * P + j] / 255.0f;
		f->yb[f->nb] = ((int32_t *)lab->data)[i];
		if (++f->nb == f->batch)
			train_step(f);
	}
}

/* ------------------------------------------------------------------ */

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: %s [-cEJq] [-b batch] [-d decay] [-e epochs] "
	        "[-j threads] [-k every] [-L log] [-l blr] [-m model] "
	        "[-o ckpt] [-p pool] [-r ckpt] [-S seed] [-s steps] [-T stop] "
	        "[-t test] [-w warmup] [--classes n] [--clip norm] "
	        "[--cutmix alpha] [--drop-path rate] [--min-lr lr] "
	        "[--mix-prob p] [--mixup alpha] [--smoothing eps] "
	        "[--switch-prob p] [--weight-decay wd] [file]\n", argv0);
	exit(status);
}

enum {
	OPT_CLASSES = 256, OPT_CLIP, OPT_CUTMIX, OPT_DROPPATH, OPT_MINLR,
	OPT_MIXPROB, OPT_MIXUP, OPT_SMOOTH, OPT_SWITCH, OPT_WD
};

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "confusion", no_argument, NULL, 'c' },
		{ "layer-decay", required_argument, NULL, 'd' },
		{ "eval-epochs", no_argument, NULL, 'E' },
		{ "epochs", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'J' },
		{ "threads", required_argument, NULL, 'j' },
		{ "every", required_argument, NULL, 'k' },
		{ "log", required_argument, NULL, 'L' },
		{ "blr", required_argument, NULL, 'l' },
		{ "model", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "pool", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "resume", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'S' },
		{ "steps", required_argument, NULL, 's' },
		{ "stop", required_argument, NULL, 'T' },
		{ "test", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "classes", required_argument, NULL, OPT_CLASSES },
		{ "clip", required_argument, NULL, OPT_CLIP },
		{ "cutmix", required_argument, NULL, OPT_CUTMIX },
		{ "drop-path", required_argument, NULL, OPT_DROPPATH },
		{ "min-lr", required_argument, NULL, OPT_MINLR },
		{ "mix-prob", required_argument, NULL, OPT_MIXPROB },
		{ "mixup", required_argument, NULL, OPT_MIXUP },
		{ "smoothing", required_argument, NULL, OPT_SMOOTH },
		{ "switch-prob", required_argument, NULL, OPT_SWITCH },
		{ "weight-decay", required_argument, NULL, OPT_WD },
		{ NULL, 0, NULL, 0 }
	};
	int ch, set = 1;

	memset(o, 0, sizeof(*o));
	o->batch = 256;
	o->epochs = 1;
	o->warmup = -1;
	o->blr = 1e-3;
	o->minlr = 1e-6;
	o->wd = 0.05;
	o->decay = 0.75;
	o->droppath = 0.1;
	o->mix.mixup_alpha = 0.8;
	o->mix.cutmix_alpha = 1.0;
	o->mix.prob = 1.0;
	o->mix.switch_prob = 0.5;
	o->mix.smoothing = 0.1;
	o->threads = 1;
	o->pool = POOL_MEAN;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":b:cd:Ee:hJj:k:L:l:m:o:p:qr:S:s:"
	                         "T:t:Vw:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b': o->batch = estrtonum(optarg, 1, 1 << 16, "-b"); break;
		case 'c': o->confusion = 1; set = 0; break;
		case 'd': o->decay = estrtod(optarg, 1e-6, 1, "-d"); break;
		case 'E': o->evalepochs = 1; set = 0; break;
		case 'e': o->epochs = estrtonum(optarg, 1, 1 << 20, "-e"); set = 0;
			break;
		case 'h': usage(0); break;
		case 'J': o->json = 1; set = 0; break;
		case 'j': o->threads = estrtonum(optarg, 1, 1024, "-j"); set = 0;
			break;
		case 'k': o->every = estrtonum(optarg, 0, INT64_MAX, "-k"); set = 0;
			break;
		case 'L': o->log = optarg; set = 0; break;
		case 'l': o->blr = estrtod(optarg, 0, 1e3, "-l"); break;
		case 'm': o->model = optarg; break;
		case 'o': o->out = optarg; set = 0; break;
		case 'p':
			if (!strcmp(optarg, "mean"))
				o->pool = POOL_MEAN;
			else if (!strcmp(optarg, "cls"))
				o->pool = POOL_CLS;
			else
				udie("-p %s: expected mean or cls", optarg);
			break;
		case 'q': o->quiet = 1; set = 0; break;
		case 'r': o->resume = optarg; set = 0; break;
		case 'S': o->seed = estrtonum(optarg, 0, INT64_MAX, "-S"); break;
		case 's': o->steps = estrtonum(optarg, 1, INT64_MAX, "-s"); break;
		case 'T': o->stop = estrtonum(optarg, 1, INT64_MAX, "-T"); set = 0;
			break;
		case 't': o->test = optarg; set = 0; break;
		case 'V':
			printf("finetune %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
		case 'w': o->warmup = estrtonum(optarg, 0, INT64_MAX, "-w"); break;
		case OPT_CLASSES:
			o->classes = estrtonum(optarg, 1, 1 << 20, "--classes"); break;
		case OPT_CLIP: o->clip = estrtod(optarg, 0, 1e30, "--clip"); break;
		case OPT_CUTMIX:
			o->mix.cutmix_alpha = estrtod(optarg, 0, 100, "--cutmix"); break;
		case OPT_DROPPATH:
			o->droppath = estrtod(optarg, 0, 0.99, "--drop-path"); break;
		case OPT_MINLR: o->minlr = estrtod(optarg, 0, 1e3, "--min-lr"); break;
		case OPT_MIXPROB:
			o->mix.prob = estrtod(optarg, 0, 1, "--mix-prob"); break;
		case OPT_MIXUP:
			o->mix.mixup_alpha = estrtod(optarg, 0, 100, "--mixup"); break;
		case OPT_SMOOTH:
			o->mix.smoothing = estrtod(optarg, 0, 1, "--smoothing"); break;
		case OPT_SWITCH:
			o->mix.switch_prob = estrtod(optarg, 0, 1, "--switch-prob");
			break;
		case OPT_WD:
			o->wd = estrtod(optarg, 0, 1e3, "--weight-decay"); break;
		default:
			badopt(ch, argv);
			usage(2);
		}
		/* every option not cleared above shapes the model or the run */
		o->setmodel |= set;
		set = 1;
	}
	if (argc - optind > 1) {
		warn("%s: one input file at most", argv[optind + 1]);
		usage(2);
	}
	o->in = optind < argc ? argv[optind] : NULL;
	if (o->resume && (o->setmodel || o->model))
		udie("--resume: the checkpoint holds the model and training "
		     "options; give only -c, -E, -e, -J, -j, -k, -L, -o, -q, -T, "
		     "-t and the input");
	if (!o->resume && !o->model)
		udie("-m model is required (or -r checkpoint)");
	if (o->out && !strcmp(o->out, "-"))
		udie("-o -: standard output carries the results; give a file");
	if (o->out) {
		struct stat sb;

		/* never rename a temporary file over a device or a FIFO */
		if (stat(o->out, &sb) == 0 && !S_ISREG(sb.st_mode))
			udie("-o %s: not a regular file (a checkpoint is written to "
			     "%s.tmp and renamed)", o->out, o->out);
	}
	if (o->every && !o->out)
		udie("-k %ld: periodic checkpoints need -o file", o->every);
	if (o->evalepochs && !o->test)
		udie("-E: evaluating every epoch needs a test stream, -t");
	if (o->test && !strcmp(o->test, "-") &&
	    (o->evalepochs || !o->in || !strcmp(o->in, "-")))
		udie("-t -: the test stream is read %s; give a file",
		     o->evalepochs ? "after every epoch" : "while stdin is the "
		     "training stream");
	if (o->model && !strcmp(o->model, "-") && (!o->in || !strcmp(o->in, "-")))
		udie("-m -: the input is already stdin");
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct ft f;
	struct tsr_reader r;
	struct tsr_group g;
	struct sigaction sa;
	const char *inname;
	FILE *in;
	long pass;
	int rc = 0;

	/* arguments */
	omp_passive(argv);
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare */
	layers_threads(o.threads);
	memset(&f, 0, sizeof(f));
	f.o = &o;
	f.evalstep = -1;
	f.batch = o.batch;
	f.pool = o.pool;
	f.blr = o.blr;
	f.minlr = o.minlr;
	f.wd = o.wd;
	f.clip = o.clip;
	f.decay = o.decay;
	f.droppath = o.droppath;
	f.mix = o.mix;
	report_init(&f.out, stdout, o.json);
	if (o.resume) {
		resume(&f);
		if (f.step >= f.total)
			die("%s: already at step %ld of %ld", ifile_name(o.resume),
			    f.step, f.total);
	}
	f.lr = f.blr * f.batch / 256.0;
	if (o.log && !(f.log = fopen(o.log, o.resume ? "a" : "w")))
		die("%s:", o.log);
	if (f.log)
		setvbuf(f.log, NULL, _IOLBF, 0); /* to watch it as it grows */
	if (f.log && !o.resume)
		fprintf(f.log, "step\tloss\tlr\timg_s\tgrad_norm\n");
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
	for (pass = 0; pass < o.epochs && !f.done; pass++) {
		if (pass && fseek(in, 0, SEEK_SET) < 0)
			die("%s: cannot re-read:", inname);
		tsr_reader_init(&r, in, inname);
		while (!f.done && (rc = tsr_group_read(&r, &g)) > 0)
			take_group(&f, &g, inname, r.index - g.n - g.havenext, pass,
			           (int)o.epochs);
		/* a signal that came while a read of a slow producer waited
		 * (EINTR) stops the run as one between steps does */
		if (!f.done && rc < 0 && stopsig && f.started)
			stop(&f);
		if (!f.done && rc < 0)
			die("%s", r.msg);
		tsr_reader_free(&r);
		tsr_group_free(&g);
		tsr_group_init(&g);
	}
	if (!f.started)
		die("%s: no groups in the input", inname);
	if (!f.done)
		train_step(&f); /* the last, partial batch */
	if (f.step < f.total && (!o.stop || f.step < o.stop) && !o.quiet)
		warn("%s: the input ended at step %ld of %ld", inname, f.step,
		     f.total);
	/* the last epoch ends with the input or the schedule, not at -T */
	if (!o.stop || f.step < o.stop || f.step >= f.total)
		end_epoch(&f);
	if (o.out)
		save(&f, f.step < f.total ? "stopped" : "final");

	/* the results: the loss of the last epoch, or of the steps of the
	 * one a stop cut */
	if (o.test)
		evaluate(&f);
	header(&f);
	report_int(&f.out, "train.steps", f.step);
	report_int(&f.out, "train.images", (long long)f.seen);
	report_num(&f.out, "train.loss", "%.6f", f.esteps ? f.eloss / f.esteps :
	           f.lastloss);
	if (o.test) {
		report_test(&f, "test", o.confusion);
		if (!o.quiet)
			fprintf(stderr, "finetune: test.acc %.4f test.loss %.6f\n",
			        accuracy(&f), f.evalloss / f.evaln);
	}
	report_end(&f.out);

	/* clean up */
	if (f.log && fclose(f.log))
		die("%s:", o.log);
	free(f.xb), free(f.tb), free(f.yb), free(f.dp), free(f.cm);
	free(f.seen_rec);
	classifier_opt_free(&f.opt);
	classifier_free(&f.c);
	vit_free(&f.v);
	tsr_group_free(&g);
	if (in != stdin)
		fclose(in);
	return fshut(stdout, "<stdout>");
}
