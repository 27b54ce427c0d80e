/* See LICENSE file for copyright and license details. */
/*
 * ftdump: a few steps of finetune's training, dumped for
 * tests/parity/ft_parity.py.
 *
 *   ftdump [-p mean|cls] [-b batch] [-c cutmix] [-d decay] [-e smoothing]
 *          [-l lr] [-n steps] [-r droppath] [-S seed] [-s switch]
 *          [-w wd] [-x mixup] model in.tsr out.tsr
 *
 * Loads the encoder of model (encoder.h), builds the classifier on it
 * for the classes of the first group of in.tsr (labels meta nclasses),
 * takes that group's first -b images (default 6), and runs -n steps
 * (default 3) on them as finetune does: a mixup draw, its targets, a
 * drop-path draw, the forward and backward passes, AdamW with layer
 * decay at learning rate lr (t + 1) / n for step t.  It writes the
 * scalar 'config' (meta), 'patches' [B,L,P] and 'labels' [B]; for each
 * step T 'step.T.patches' (mixed), 'step.T.targets' [B,K],
 * 'step.T.dpath' [depth,2,B], 'step.T.mix' f64 [6] (kind, lam, y0,
 * y1, x0, x1), 'step.T.loss', 'step.T.lr'; the trained parameters
 * before the first step as 'init.NAME', their gradients of step 0 as
 * 'grad.NAME', and after the last step as 'final.NAME'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"
#include "encoder.h"
#include "mixup.h"
#include "tensor.h"
#include "util.h"
#include "vit.h"
#include "dump.h"

/* every trained parameter (of param, or of grad with grad) as PRE.NAME */
static void
put_params(struct tsr_writer *w, const struct classifier *c, const char *pre,
           int grad)
{
	const struct vit *v = c->v;
	char name[128];
	uint64_t d[4];
	int i, j;

	for (i = 0; i < v->npt + c->npt; i++) {
		int own = i >= v->npt;
		const struct vit_tensor *t = own ? &c->pt[i - v->npt] : &v->pt[i];
		const float *base = own ? (grad ? c->grads : c->params) :
		                    (grad ? v->grads : v->params);

		if (!own && strncmp(t->name, "enc.", 4))
			continue;
		for (j = 0; j < t->rank; j++)
			d[j] = t->dims[j];
		snprintf(name, sizeof(name), "%s.%s", pre, t->name);
		dump_put(w, name, TSR_F32, t->rank, d, base + t->off);
	}
}

int
main(int argc, char *argv[])
{
	struct vit v;
	struct classifier c;
	struct classifier_opt opt;
	struct mixup m = { 0.8, 1.0, 1.0, 0.5, 0.1 };
	struct mixup_draw dr;
	struct tsr_reader r;
	struct tsr_group g;
	struct tsr_writer w;
	struct tensor *x, *lab, cfg;
	struct rng rng;
	char buf[64], name[64], msg[512];
	long B = 6, seed = 0, steps = 3;
	double decay = 0.75, rate = 0.1, lr0 = 1e-3, wd = 0.05;
	int ch, pool = POOL_MEAN, K, t, depth;
	float *xb, *tb, *dp, loss, lr;
	double mix[6];
	uint64_t d[4];
	size_t n;
	FILE *in, *out;

	setargv0(argv[0]);
	while ((ch = getopt(argc, argv, "b:c:d:e:l:n:p:r:S:s:w:x:")) != -1) {
		switch (ch) {
		case 'b': B = estrtonum(optarg, 1, 1 << 16, "-b"); break;
		case 'c': m.cutmix_alpha = estrtod(optarg, 0, 100, "-c"); break;
		case 'd': decay = estrtod(optarg, 1e-6, 1, "-d"); break;
		case 'e': m.smoothing = estrtod(optarg, 0, 1, "-e"); break;
		case 'l': lr0 = estrtod(optarg, 0, 1, "-l"); break;
		case 'n': steps = estrtonum(optarg, 1, 100, "-n"); break;
		case 'p': pool = !strcmp(optarg, "cls") ? POOL_CLS : POOL_MEAN; break;
		case 'r': rate = estrtod(optarg, 0, 0.99, "-r"); break;
		case 'S': seed = estrtonum(optarg, 0, 1L << 40, "-S"); break;
		case 's': m.switch_prob = estrtod(optarg, 0, 1, "-s"); break;
		case 'w': wd = estrtod(optarg, 0, 10, "-w"); break;
		case 'x': m.mixup_alpha = estrtod(optarg, 0, 100, "-x"); break;
		default:
			udie("usage: ftdump [options] model in out");
		}
	}
	if (argc - optind != 3)
		udie("usage: ftdump [options] model in out");
	in = ifile_open(argv[optind + 1]);
	tsr_reader_init(&r, in, argv[optind + 1]);
	tsr_group_init(&g);
	if (tsr_group_read(&r, &g) <= 0)
		die("%s: no group", argv[optind + 1]);
	if (!(x = tsr_group_find(&g, "patches")) || x->dtype != TSR_F32 ||
	    !(lab = tsr_group_find(&g, "labels")))
		die("no f32 patches and labels");
	K = atoi(tensor_meta_get(lab, "nclasses", buf, sizeof(buf)) ? buf : "0");
	if ((uint64_t)B > x->dims[0])
		B = x->dims[0];
	if (encoder_load(&v, argv[optind], B, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (classifier_build(&c, &v, K, pool, msg, sizeof(msg)) < 0 ||
	    classifier_opt_init(&opt, &c, wd, decay, msg, sizeof(msg)) < 0)
		die("%s", msg);
	depth = v.c.depth;
	rng_seed(&rng, seed, 3);
	classifier_init(&c, &rng);
	rng_seed(&rng, seed, 4);
	n = (size_t)B * v.L * v.P;
	xb = malloc(n * sizeof(float));
	tb = malloc((size_t)B * K * sizeof(float));
	dp = malloc((size_t)2 * depth * B * sizeof(float));

	out = ofile_open(argv[optind + 2], 1);
	tsr_writer_init(&w, out, argv[optind + 2], 0);
	tensor_init(&cfg);
	tensor_shape(&cfg, "config", TSR_F32, 0, d, msg, sizeof(msg));
	tensor_meta_setf(&cfg, "dim", "%d", v.c.dim);
	tensor_meta_setf(&cfg, "depth", "%d", depth);
	tensor_meta_setf(&cfg, "heads", "%d", v.c.heads);
	tensor_meta_setf(&cfg, "grid", "%dx%d", v.c.gh, v.c.gw);
	tensor_meta_setf(&cfg, "patch_size", "%d", v.c.patch);
	tensor_meta_setf(&cfg, "channels", "%d", v.c.channels);
	tensor_meta_set(&cfg, "pool", pool == POOL_MEAN ? "mean" : "cls");
	tensor_meta_setf(&cfg, "classes", "%d", K);
	tensor_meta_setf(&cfg, "steps", "%ld", steps);
	tensor_meta_setf(&cfg, "layer_decay", "%.17g", decay);
	tensor_meta_setf(&cfg, "weight_decay", "%.17g", wd);
	tensor_meta_setf(&cfg, "smoothing", "%.17g", m.smoothing);
	if (tsr_write(&w, &cfg, 0) < 0)
		die("%s", w.msg);
	d[0] = B, d[1] = v.L, d[2] = v.P;
	dump_put(&w, "patches", TSR_F32, 3, d, x->data);
	dump_put(&w, "labels", TSR_I32, 1, d, lab->data);
	put_params(&w, &c, "init", 0);
	for (t = 0; t < steps; t++) {
		memcpy(xb, x->data, n * sizeof(float));
		mixup_draw(&m, v.c.gh * v.c.patch, v.c.gw * v.c.patch, &rng, &dr);
		mixup_apply(&dr, xb, B, v.L, v.c.patch, v.c.channels, v.c.gw);
		mixup_targets(&dr, lab->data, B, K, m.smoothing, tb);
		classifier_droppath(dp, depth, B, rate, &rng);
		loss = classifier_forward(&c, xb, B, rate > 0 ? dp : NULL, tb);
		classifier_zero_grad(&c);
		classifier_backward(&c);
		if (t == 0)
			put_params(&w, &c, "grad", 1);
		lr = (float)(lr0 * (t + 1) / steps);
		classifier_opt_step(&opt, &c, lr);
		mix[0] = dr.kind, mix[1] = dr.lam, mix[2] = dr.y0, mix[3] = dr.y1;
		mix[4] = dr.x0, mix[5] = dr.x1;
		snprintf(name, sizeof(name), "step.%d.patches", t);
		dump_put(&w, name, TSR_F32, 3, d, xb);
		snprintf(name, sizeof(name), "step.%d.targets", t);
		d[1] = K;
		dump_put(&w, name, TSR_F32, 2, d, tb);
		snprintf(name, sizeof(name), "step.%d.dpath", t);
		{
			uint64_t dd[3] = { depth, 2, B };

			dump_put(&w, name, TSR_F32, 3, dd, dp);
		}
		snprintf(name, sizeof(name), "step.%d.mix", t);
		d[1] = 6;
		dump_put(&w, name, TSR_F64, 1, d + 1, mix);
		snprintf(name, sizeof(name), "step.%d.loss", t);
		dump_put(&w, name, TSR_F32, 0, d, &loss);
		snprintf(name, sizeof(name), "step.%d.lr", t);
		dump_put(&w, name, TSR_F32, 0, d, &lr);
		d[1] = v.L;
	}
	put_params(&w, &c, "final", 0);
	if (tsr_finish(&w) < 0)
		die("%s", w.msg);
	ofile_close(out);
	tensor_free(&cfg);
	tsr_writer_free(&w);
	tsr_group_free(&g);
	tsr_reader_free(&r);
	free(xb), free(tb), free(dp);
	classifier_opt_free(&opt);
	classifier_free(&c);
	vit_free(&v);
	return 0;
}
