/* See LICENSE file for copyright and license details. */
/*
 * vitdump: one forward and backward pass of the mim-train model, dumped
 * for tests/parity/parity.py.
 *
 *   vitdump [-n] [-b batch] [-e smoothing] [-S seed] [-t pixel|tokens]
 *           in.tsr out.tsr
 *
 * Takes the first -b images (default 8) of the first group of in.tsr
 * (patches, and tokens for -t tokens), builds the tiny preset for its
 * geometry, initialises it from -S as mim-train does, draws the masks
 * and writes to out.tsr: the scalar config record 'config' (meta),
 * 'patches' f32 [B,L,P], 'tokens' i32 [B,L] (tokens only), 'noise' f32
 * [B,L], 'loss' f32 [], every parameter by name and its gradient as
 * 'grad.NAME'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor.h"
#include "util.h"
#include "vit.h"
#include "dump.h"

int
main(int argc, char *argv[])
{
	struct vit_config c;
	struct vit v;
	struct tsr_reader r;
	struct tsr_group g;
	struct tsr_writer w;
	struct tensor *x, *tok, cfg;
	struct rng rng;
	char buf[64], gname[80], msg[256];
	long B = 8, seed = 0;
	int ch, i, j;
	float *xf, loss;
	uint64_t d[4];
	FILE *in, *out;

	setargv0(argv[0]);
	memset(&c, 0, sizeof(c));
	vit_preset(&c, "tiny");
	c.ratio = 0.75f;
	while ((ch = getopt(argc, argv, "b:e:nS:t:")) != -1) {
		switch (ch) {
		case 'b': B = estrtonum(optarg, 1, 1 << 16, "-b"); break;
		case 'e': c.smoothing = estrtod(optarg, 0, 1, "-e"); break;
		case 'n': c.normpix = 1; break;
		case 'S': seed = estrtonum(optarg, 0, 1L << 40, "-S"); break;
		case 't': c.target = !strcmp(optarg, "tokens"); break;
		default:
			udie("usage: vitdump [-n] [-b batch] [-e smoothing] [-S seed] "
			     "[-t target] in out");
		}
	}
	if (argc - optind != 2)
		udie("usage: vitdump [-n] [-b batch] [-e smoothing] [-S seed] "
		     "[-t target] in out");
	in = ifile_open(argv[optind]);
	tsr_reader_init(&r, in, argv[optind]);
	tsr_group_init(&g);
	if (tsr_group_read(&r, &g) <= 0)
		die("%s: no group", argv[optind]);
	if (!(x = tsr_group_find(&g, "patches")) || x->dtype != TSR_F32)
		die("no f32 patches");
	tok = tsr_group_find(&g, "tokens");
	if (c.target && !tok)
		die("no tokens");
	c.patch = atoi(tensor_meta_get(x, "patch_size", buf, sizeof(buf)));
	c.channels = atoi(tensor_meta_get(x, "channels", buf, sizeof(buf)));
	sscanf(tensor_meta_get(x, "grid", buf, sizeof(buf)), "%dx%d", &c.gh,
	       &c.gw);
	if (c.target)
		c.k = atoi(tensor_meta_get(tok, "k", buf, sizeof(buf)));
	if ((uint64_t)B > x->dims[0])
		B = x->dims[0];
	if (vit_build(&v, &c, B, msg, sizeof(msg)) < 0)
		die("%s", msg);
	vit_init(&v, seed);
	rng_seed(&rng, seed, 2);
	vit_mask(&v, B, &rng, NULL);
	xf = x->data;
	loss = vit_forward(&v, xf, tok ? tok->data : NULL);
	vit_zero_grad(&v);
	vit_backward(&v);

	out = ofile_open(argv[optind + 1], 1);
	tsr_writer_init(&w, out, argv[optind + 1], 0);
	tensor_init(&cfg);
	tensor_shape(&cfg, "config", TSR_F32, 0, d, msg, sizeof(msg));
	memcpy(cfg.data, &loss, sizeof(loss));
	tensor_meta_set(&cfg, "target", c.target ? "tokens" : "pixel");
	tensor_meta_setf(&cfg, "dim", "%d", c.dim);
	tensor_meta_setf(&cfg, "depth", "%d", c.depth);
	tensor_meta_setf(&cfg, "heads", "%d", c.heads);
	tensor_meta_setf(&cfg, "dec_dim", "%d", c.ddim);
	tensor_meta_setf(&cfg, "dec_depth", "%d", c.ddepth);
	tensor_meta_setf(&cfg, "dec_heads", "%d", c.dheads);
	tensor_meta_setf(&cfg, "mlp_ratio", "%d", c.mlp);
	tensor_meta_setf(&cfg, "grid", "%dx%d", c.gh, c.gw);
	tensor_meta_setf(&cfg, "norm_pix", "%d", c.normpix);
	tensor_meta_setf(&cfg, "smoothing", "%.9g", c.smoothing);
	tensor_meta_setf(&cfg, "mask_ratio", "%.9g", c.ratio);
	tensor_meta_setf(&cfg, "k", "%d", c.k);
	if (tsr_write(&w, &cfg, 0) < 0)
		die("%s", w.msg);
	d[0] = B, d[1] = v.L, d[2] = v.P;
	dump_put(&w, "patches", TSR_F32, 3, d, xf);
	if (c.target)
		dump_put(&w, "tokens", TSR_I32, 2, d, tok->data);
	dump_put(&w, "noise", TSR_F32, 2, d, v.noise);
	dump_put(&w, "loss", TSR_F32, 0, d, &loss);
	for (i = 0; i < v.npt; i++) {
		const struct vit_tensor *p = &v.pt[i];

		for (j = 0; j < p->rank; j++)
			d[j] = p->dims[j];
		dump_put(&w, p->name, TSR_F32, p->rank, d, v.params + p->off);
		snprintf(gname, sizeof(gname), "grad.%s", p->name);
		dump_put(&w, gname, TSR_F32, p->rank, d, v.grads + p->off);
	}
	if (tsr_finish(&w) < 0)
		die("%s", w.msg);
	ofile_close(out);
	tensor_free(&cfg);
	tsr_writer_free(&w);
	tsr_group_free(&g);
	tsr_reader_free(&r);
	vit_free(&v);
	return 0;
}
