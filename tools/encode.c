/* See LICENSE file for copyright and license details. */
/*
 * encode: run a trained encoder on every patch of every image.
 *
 * Reads a mim-train checkpoint (-m, formats/checkpoint.md; or a timm
 * ViT in a .safetensors file, lib/safetensors.h) and a stream
 * of groups (tensor-stream(5)).  To every group that has the tensor
 * NAME (-f, default 'patches'), u8 (scaled by 1/255, as mim-train) or
 * f32 [n, L, P] of the checkpoint's geometry, it appends, as -e asks
 * (default all three, in this order):
 *
 *	features  f32 [n, L, D]  the encoder's output (after its final
 *	                         norm) for every patch, in patch order
 *	pooled    f32 [n, D]     their mean over the L patches
 *	cls       f32 [n, D]     the CLS token's output
 *
 * and passes every other record through unchanged.  Groups without
 * NAME pass through whole.  The encoder is lib/vit's, with mask ratio 0
 * (no masking, every patch in order): the values are those of
 * mim-train's encoder forward, bit for bit at the same thread count.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "layers.h"
#include "tensor.h"
#include "util.h"
#include "vit.h"

enum { OUT_FEATURES = 1, OUT_POOLED = 2, OUT_CLS = 4 };

struct opts {
	const char *model;     /* -m */
	const char *name;      /* -f */
	const char *out;       /* -o */
	const char *in;        /* operand */
	int outputs;           /* -e: OUT_* bits */
	int batch;             /* -b */
	int threads;           /* -j */
	int verbose;           /* -v */
	int compress;          /* -z */
};

struct state {
	struct opts *o;
	struct vit v;
	const char *inname;
	struct tsr_writer w;
	struct tensor feat, pooled, cls;
	float *buf;
	size_t bufcap;
	uint64_t groups, images;
};

/* ------------------------------------------------------------------ */
/* one group                                                           */

static void
set_meta(struct state *st, struct tensor *t, const struct tensor *x,
         const char *dims, const char *where)
{
	char val[512];
	int r;

	r = tensor_meta_setf(t, "tool", "encode/%s", VERSION);
	if (tensor_meta_get(x, "batch", val, sizeof(val)))
		r |= tensor_meta_set(t, "batch", val);
	r |= tensor_meta_set(t, "dims", dims);
	r |= tensor_meta_set(t, "model", ifile_name(st->o->model));
	r |= tensor_meta_setf(t, "dim", "%d", st->v.c.dim);
	if (r < 0)
		die("%s: cannot store the metadata (model file name with a "
		    "newline or too long?)", where);
}

static void
encode_group(struct state *st, struct tsr_group *g, uint64_t base)
{
	struct opts *o = st->o;
	struct vit *v = &st->v;
	struct tensor *x = NULL;
	const struct vit_config *c = &v->c;
	char where[320], msg[256];
	uint64_t n, i, d3[3], d2[2];
	size_t j, count;
	const float *xf;

	for (j = 0; j < g->n; j++) {
		if (!strcmp(g->t[j].name, o->name) && !x) {
			x = &g->t[j];
			base += j;
		} else if ((o->outputs & OUT_FEATURES &&
		            !strcmp(g->t[j].name, "features")) ||
		           (o->outputs & OUT_POOLED &&
		            !strcmp(g->t[j].name, "pooled")) ||
		           (o->outputs & OUT_CLS && !strcmp(g->t[j].name, "cls")))
			die("%s: record %" PRIu64 " '%s': the group has it already "
			    "(encoded twice?)", st->inname, base + j, g->t[j].name);
	}
	if (!x) {
		for (j = 0; j < g->n; j++)
			if (tsr_write(&st->w, &g->t[j], 1) < 0)
				die("%s", st->w.msg);
		return;
	}
	snprintf(where, sizeof(where), "%s: record %" PRIu64 " '%s'",
	         st->inname, base, x->name);
	if (encoder_check_patches(v, x, msg, sizeof(msg)) < 0)
		die("%s: %s", where, msg);
	n = x->dims[0];
	count = (size_t)n * v->L * v->P;
	if (x->dtype == TSR_U8) {
		const unsigned char *u = x->data;

		if (count > st->bufcap) {
			free(st->buf);
			st->buf = ereallocarray(NULL, count, sizeof(float));
			st->bufcap = count;
		}
		for (j = 0; j < count; j++)
			st->buf[j] = u[j] / 255.0f;
		xf = st->buf;
	} else {
		xf = x->data;
		for (j = 0; j < count; j++)
			if (!isfinite(xf[j]))
				die("%s: element %zu is %s", where, j,
				    isnan(xf[j]) ? "NaN" : xf[j] > 0 ? "Inf" : "-Inf");
	}

	d3[0] = d2[0] = n;
	d3[1] = v->L;
	d3[2] = d2[1] = c->dim;
	if (o->outputs & OUT_FEATURES) {
		if (tensor_shape(&st->feat, "features", TSR_F32, 3, d3, msg,
		                 sizeof(msg)) < 0)
			die("%s: %s", where, msg);
		set_meta(st, &st->feat, x, "n,l,d", where);
	}
	if (o->outputs & OUT_POOLED) {
		if (tensor_shape(&st->pooled, "pooled", TSR_F32, 2, d2, msg,
		                 sizeof(msg)) < 0)
			die("%s: %s", where, msg);
		set_meta(st, &st->pooled, x, "n,d", where);
	}
	if (o->outputs & OUT_CLS) {
		if (tensor_shape(&st->cls, "cls", TSR_F32, 2, d2, msg,
		                 sizeof(msg)) < 0)
			die("%s: %s", where, msg);
		set_meta(st, &st->cls, x, "n,d", where);
	}
	encoder_run(v, xf, n,
	             o->outputs & OUT_FEATURES ? st->feat.data : NULL,
	             o->outputs & OUT_POOLED ? st->pooled.data : NULL,
	             o->outputs & OUT_CLS ? st->cls.data : NULL);
	for (i = 0; i < n * (uint64_t)c->dim && o->outputs & OUT_POOLED; i++)
		if (!isfinite(((float *)st->pooled.data)[i]))
			die("%s: the encoder's output is not finite (image %" PRIu64
			    ")", where, i / c->dim);

	for (j = 0; j < g->n; j++)
		if (tsr_write(&st->w, &g->t[j], 1) < 0)
			die("%s", st->w.msg);
	if ((o->outputs & OUT_FEATURES && tsr_write(&st->w, &st->feat, 0) < 0) ||
	    (o->outputs & OUT_POOLED && tsr_write(&st->w, &st->pooled, 0) < 0) ||
	    (o->outputs & OUT_CLS && tsr_write(&st->w, &st->cls, 0) < 0))
		die("%s", st->w.msg);
	st->groups++;
	st->images += n;
}

/* ------------------------------------------------------------------ */

static void
usage(FILE *fp, int status)
{
	fprintf(fp, "usage: %s [-vz] -m model [-b batch] [-e outputs] [-f name] "
	            "[-j threads] [-o file] [file]\n",
	        argv0);
	exit(status);
}

static int
parse_outputs(const char *s)
{
	char buf[128], *tok, *save;
	int bits = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "features"))
			bits |= OUT_FEATURES;
		else if (!strcmp(tok, "pooled"))
			bits |= OUT_POOLED;
		else if (!strcmp(tok, "cls"))
			bits |= OUT_CLS;
		else if (!strcmp(tok, "all"))
			bits |= OUT_FEATURES | OUT_POOLED | OUT_CLS;
		else
			return -1;
	}
	return bits ? bits : -1;
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "emit", required_argument, NULL, 'e' },
		{ "field", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "threads", required_argument, NULL, 'j' },
		{ "model", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "compress", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->name = "patches";
	o->outputs = OUT_FEATURES | OUT_POOLED | OUT_CLS;
	o->batch = 64;
	o->threads = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:e:f:hj:m:o:Vvz", longopts,
	                        NULL)) != -1) {
		switch (c) {
		case 'b': o->batch = estrtonum(optarg, 1, 1 << 16, "-b"); break;
		case 'e':
			if ((o->outputs = parse_outputs(optarg)) < 0) {
				warn("-e %s: expected a comma-separated list of features, "
				     "pooled, cls (or all)", optarg);
				usage(stderr, 2);
			}
			break;
		case 'f':
			if (!tsr_name_ok(optarg) || !strcmp(optarg, TSR_END_NAME)) {
				warn("-f %s: not a tensor name", optarg);
				usage(stderr, 2);
			}
			o->name = optarg;
			break;
		case 'h': usage(stdout, 0); break;
		case 'j': o->threads = estrtonum(optarg, 1, 1024, "-j"); break;
		case 'm': o->model = optarg; break;
		case 'o': o->out = optarg; break;
		case 'V':
			printf("encode %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
		case 'v': o->verbose = 1; break;
		case 'z': o->compress = 6; break;
		default:
			badopt(c, argv);
			usage(stderr, 2);
		}
	}
	if (argc - optind > 1) {
		warn("%s: one input file at most", argv[optind + 1]);
		usage(stderr, 2);
	}
	o->in = optind < argc ? argv[optind] : NULL;
	if (!o->model) {
		warn("-m model is required");
		usage(stderr, 2);
	}
	if (!strcmp(o->model, "-") && (!o->in || !strcmp(o->in, "-"))) {
		warn("-m -: the input is already stdin");
		usage(stderr, 2);
	}
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct state st;
	struct tsr_reader r;
	struct tsr_group g;
	FILE *in, *out;
	char msg[512];
	double t0, s;
	int rc;

	/* arguments */
	omp_passive(argv);
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare: threads as mim-train sets them */
	layers_threads(o.threads);
	memset(&st, 0, sizeof(st));
	st.o = &o;
	t0 = monotonic();
	if (encoder_load(&st.v, o.model, o.batch, msg, sizeof(msg)) < 0)
		die("%s", msg);
	st.inname = ifile_name(o.in);
	in = ifile_open(o.in);
	tsr_reader_init(&r, in, st.inname);
	tsr_group_init(&g);
	tensor_init(&st.feat);
	tensor_init(&st.pooled);
	tensor_init(&st.cls);
	out = ofile_open(o.out, 1);
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	tsr_writer_init(&st.w, out, o.out ? o.out : "<stdout>", o.compress);

	/* process */
	while ((rc = tsr_group_read(&r, &g)) > 0)
		encode_group(&st, &g, r.index - g.n - g.havenext);
	if (rc < 0)
		die("%s", r.msg);
	if (tsr_finish(&st.w) < 0)
		die("%s", st.w.msg);
	ofile_close(out);
	if (o.verbose) {
		s = monotonic() - t0;
		fprintf(stderr, "encode: %" PRIu64 " groups, %" PRIu64 " images, "
		        "D=%d, %.1f images/s\n", st.groups, st.images, st.v.c.dim,
		        s > 0 ? st.images / s : 0.0);
	}

	/* clean up */
	tsr_writer_free(&st.w);
	tsr_group_free(&g);
	tsr_reader_free(&r);
	tensor_free(&st.feat);
	tensor_free(&st.pooled);
	tensor_free(&st.cls);
	vit_free(&st.v);
	free(st.buf);
	if (in != stdin)
		fclose(in);
	return 0;
}
