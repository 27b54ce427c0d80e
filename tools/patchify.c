/* See LICENSE file for copyright and license details. */
/*
 * patchify: images to patch tensors.
 *
 * Reads labelled images -- an IDX image file with its label file (MNIST,
 * Fashion-MNIST), an archive or a directory in ImageFolder layout -- and
 * writes a tensor stream of groups, one per batch of n images:
 *
 *	patches  u8 or f32 [n, L, P]   L = (H/p)(W/p) patches in row-major
 *	                               grid order, P = p*p*C values in
 *	                               (pixel row, pixel column, channel) order
 *	labels   i32 [n]               class ids (sorted class folder names)
 *
 * Each image is decoded, brought to the output size (random-resized-crop
 * and flip with -a, else resize of the shorter side and centre crop with
 * -s, else left at its native size), cut into patches and normalised.
 * The same seed gives the same bytes: the randomness of image i in epoch
 * e depends only on (seed, e, i), the order of epoch e only on (seed, e).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "imgsrc.h"
#include "tensor.h"
#include "util.h"

enum norm { NORM_NONE, NORM_UNIT, NORM_IMAGENET, NORM_CUSTOM };
static const char *normname[] = { "none", "unit", "imagenet", "custom" };

/* the streams of the random generator: one per use (util.h rng_seed) */
enum { RNG_SHUFFLE = 1, RNG_AUGMENT = 2, RNG_BUFFER = 3 };

struct opts {
	int augment, shuffle, verbose, compress;
	long batch, buffer, epochs, limit;
	long shard, nshard;
	int exclude;       /* -x: every image but shard i of n */
	int channels;      /* 0: native */
	int patch;
	long resize, size; /* 0: none */
	unsigned long long seed;
	enum norm norm;
	float mean[3], std[3];
	int nmean;
	const char *labels, *out, *prefix, *in;
};

/* one image waiting in the archive shuffle buffer */
struct held {
	int label;
	uint64_t index;
	char *name;
	unsigned char *data;
	size_t len;
};

struct state {
	struct opts *o;
	struct imgsrc src;
	const char *inname;
	int H, W, C, L, P;        /* output geometry */
	struct tensor patches, labels;
	long nbatch;              /* images in the current batch */
	long batchno;             /* groups written */
	long epoch;
	uint64_t images;          /* per epoch, after limit and shard */
	struct tsr_writer w;
	struct image img;         /* the image as decoded */
	struct image conv;        /* IDX pixels in other channels */
	struct image tmp;         /* resampled */
	char *classes;            /* escaped, comma-joined */
};

static char spool[64];

static void
unspool(void)
{
	if (spool[0])
		unlink(spool);
}

/* copy stdin to a temporary file: archives are read twice */
static const char *
spool_stdin(void)
{
	const char *dir = getenv("TMPDIR");
	char buf[1 << 16];
	size_t n;
	FILE *fp;
	int fd;

	snprintf(spool, sizeof(spool), "%s/patchify.XXXXXX",
	         dir && strlen(dir) < 40 ? dir : "/tmp");
	if ((fd = mkstemp(spool)) < 0) {
		spool[0] = '\0';
		die("mkstemp:");
	}
	atexit(unspool);
	if (!(fp = fdopen(fd, "wb")))
		die("%s:", spool);
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		efwrite(buf, n, fp, spool);
	if (ferror(stdin))
		die("<stdin>: read:");
	if (fshut(fp, spool))
		die("%s: cannot write the copy of <stdin>", spool);
	return spool;
}

static void
parse_norm(struct opts *o, const char *s)
{
	char *copy, *m, *sd, *tok, *save;
	int i, n;

	if (!strcmp(s, "none"))
		o->norm = NORM_NONE;
	else if (!strcmp(s, "unit"))
		o->norm = NORM_UNIT;
	else if (!strcmp(s, "imagenet"))
		o->norm = NORM_IMAGENET;
	else {
		copy = estrdup(s);
		if (!(sd = strchr(copy, '/')))
			udie("-N %s: expected none, unit, imagenet or MEAN/STD", s);
		*sd++ = '\0';
		m = copy;
		for (i = 0; i < 2; i++) {
			n = 0;
			for (tok = strtok_r(i ? sd : m, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (n == 3)
					udie("-N %s: at most 3 values each", s);
				(i ? o->std : o->mean)[n++] =
					estrtod(tok, i ? 1e-9 : -1e9, 1e9, "-N");
			}
			if (!n || (i && n != o->nmean))
				udie("-N %s: as many STD values as MEAN values", s);
			o->nmean = n;
		}
		free(copy);
		o->norm = NORM_CUSTOM;
	}
}

/* -k i/n or -x i/n (opt): shard i of n, or every image but those */
static void
parse_shard(struct opts *o, const char *s, int opt)
{
	char *copy = estrdup(s), *sl = strchr(copy, '/');

	if (o->nshard > 1)
		udie("-%c %s: only one of -k and -x, once", opt, s);
	if (!sl)
		udie("-%c %s: expected i/n", opt, s);
	*sl = '\0';
	o->nshard = estrtonum(sl + 1, opt == 'x' ? 2 : 1, 1 << 20,
	                      opt == 'x' ? "-x n" : "-k n");
	o->shard = estrtonum(copy, 0, o->nshard - 1, opt == 'x' ? "-x i" : "-k i");
	o->exclude = opt == 'x';
	free(copy);
}

/* whether the image at position k of the input is taken (-k, -x) */
static int
taken(const struct opts *o, uint64_t k)
{
	return ((long)(k % o->nshard) == o->shard) != o->exclude;
}

/* "a,b%2Cc": names joined by commas with % , and newline escaped */
static char *
escape_classes(char **names, size_t n)
{
	size_t i, len = 1;
	char *s, *p;
	const char *q;

	for (i = 0; i < n; i++)
		len += 3 * strlen(names[i]) + 1;
	p = s = emalloc(len);
	for (i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		for (q = names[i]; *q; q++) {
			if (*q == '%' || *q == ',' || *q == '\n') {
				sprintf(p, "%%%02X", (unsigned char)*q);
				p += 3;
			} else {
				*p++ = *q;
			}
		}
	}
	*p = '\0';
	return s;
}

/* ------------------------------------------------------------------ */
/* one image to patches                                                */

/* the IDX pixels as an image of the wanted channels, without a copy */
static void
idx_image(struct state *st, const struct srcitem *it)
{
	int i, n = it->w * it->h;
	unsigned char *d;
	const unsigned char *s = it->px;

	if (it->c == st->C) {
		st->img.w = it->w;
		st->img.h = it->h;
		st->img.c = it->c;
		st->img.px = (unsigned char *)it->px; /* borrowed, see emit */
		return;
	}
	st->conv.px = ereallocarray(st->conv.px, n, st->C);
	d = st->conv.px;
	if (st->C == 3) /* grey to RGB */
		for (i = 0; i < n; i++)
			d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
	else /* RGB to grey, ITU-R 601 luma as image_decode */
		for (i = 0; i < n; i++)
			d[i] = (299 * s[3 * i] + 587 * s[3 * i + 1] +
			        114 * s[3 * i + 2] + 500) / 1000;
	st->conv.w = it->w;
	st->conv.h = it->h;
	st->conv.c = st->C;
	st->img = st->conv; /* borrowed as well */
}

static void
write_batch(struct state *st)
{
	struct opts *o = st->o;
	char msg[256];
	uint64_t pd[3] = { st->nbatch, st->L, st->P }, ld[1] = { st->nbatch };
	int dtype = o->norm == NORM_NONE ? TSR_U8 : TSR_F32;

	if (!st->nbatch)
		return;
	/* shrinking the shape keeps the buffers and their contents */
	if (tensor_shape(&st->patches, "patches", dtype, 3, pd, msg,
	                 sizeof(msg)) < 0 ||
	    tensor_shape(&st->labels, "labels", TSR_I32, 1, ld, msg,
	                 sizeof(msg)) < 0)
		die("%s", msg);
	tensor_meta_setf(&st->patches, "tool", "patchify/%s", VERSION);
	tensor_meta_setf(&st->patches, "batch", "%ld", st->batchno);
	tensor_meta_set(&st->patches, "dims", "n,l,d");
	tensor_meta_setf(&st->patches, "patch_size", "%d", o->patch);
	tensor_meta_setf(&st->patches, "grid", "%dx%d", st->H / o->patch,
	                 st->W / o->patch);
	tensor_meta_setf(&st->patches, "channels", "%d", st->C);
	tensor_meta_setf(&st->patches, "image_size", "%dx%d", st->H, st->W);
	tensor_meta_set(&st->patches, "norm", normname[o->norm]);
	if (o->norm == NORM_IMAGENET || o->norm == NORM_CUSTOM) {
		char m[64], s[64];
		int c, nm = 0, ns = 0;

		for (c = 0; c < st->C; c++) {
			nm += snprintf(m + nm, sizeof(m) - nm, "%s%.6g", c ? "," : "",
			               o->mean[c]);
			ns += snprintf(s + ns, sizeof(s) - ns, "%s%.6g", c ? "," : "",
			               o->std[c]);
		}
		tensor_meta_set(&st->patches, "mean", m);
		tensor_meta_set(&st->patches, "std", s);
	}
	tensor_meta_set(&st->patches, "source", st->inname);
	tensor_meta_setf(&st->patches, "epoch", "%ld", st->epoch);
	tensor_meta_setf(&st->patches, "epochs", "%ld", o->epochs);
	tensor_meta_setf(&st->patches, "images", "%llu",
	                 (unsigned long long)st->images);
	tensor_meta_setf(&st->patches, "augment", "%d", o->augment);
	tensor_meta_setf(&st->patches, "seed", "%llu", o->seed);
	if (o->nshard > 1)
		tensor_meta_setf(&st->patches, o->exclude ? "exclude" : "shard",
		                 "%ld/%ld", o->shard, o->nshard);
	tensor_meta_setf(&st->labels, "batch", "%ld", st->batchno);
	tensor_meta_set(&st->labels, "dims", "n");
	tensor_meta_setf(&st->labels, "nclasses", "%zu", st->src.nclasses);
	if (tensor_meta_set(&st->labels, "classes", st->classes) < 0)
		die("%s: class names too long for the metadata (over %d bytes)",
		    st->inname, TSR_MAXMETA);
	if (tsr_write(&st->w, &st->patches, 0) < 0 ||
	    tsr_write(&st->w, &st->labels, 0) < 0)
		die("%s", st->w.msg);
	st->batchno++;
	st->nbatch = 0;
}

/* the batch buffers, once the geometry is known */
static void
alloc_batch(struct state *st)
{
	struct opts *o = st->o;
	char msg[256];
	uint64_t pd[3], ld[1] = { o->batch };

	pd[0] = o->batch;
	pd[1] = st->L;
	pd[2] = st->P = o->patch * o->patch * st->C;
	if (tensor_shape(&st->patches, "patches",
	                 o->norm == NORM_NONE ? TSR_U8 : TSR_F32, 3, pd, msg,
	                 sizeof(msg)) < 0 ||
	    tensor_shape(&st->labels, "labels", TSR_I32, 1, ld, msg,
	                 sizeof(msg)) < 0)
		die("%s", msg);
}

/* decode, transform and patchify one image into the current batch */
static void
emit(struct state *st, const struct srcitem *it, uint64_t index)
{
	struct opts *o = st->o;
	struct image *src = &st->img;
	double box[4];
	char msg[512];
	struct rng rng;
	size_t off;
	int flip = 0, r;

	image_free(&st->img); /* decode and resample allocate anew */
	if (it->px) {
		idx_image(st, it);
	} else if (image_decode(it->data, it->len, st->C, &st->img, msg,
	                        sizeof(msg)) < 0) {
		die("%s: %s: %s", st->inname, it->name, msg);
	}
	if (!st->H) { /* native size: the first image decides */
		st->H = src->h;
		st->W = src->w;
		if (st->H % o->patch || st->W % o->patch)
			die("%s: images are %dx%d, not a multiple of the patch size "
			    "%d (give -s)", st->inname, st->H, st->W, o->patch);
		st->L = (st->H / o->patch) * (st->W / o->patch);
	}
	if (!st->P)
		alloc_batch(st);
	if (o->augment) {
		rng_seed(&rng, o->seed,
		         (uint64_t)RNG_AUGMENT << 56 ^ (uint64_t)st->epoch << 36 ^
		                 index);
		image_rrc_box(src->w, src->h, &rng, 0.2, 1.0, box);
		flip = rng_uniform(&rng) < 0.5;
	} else if (o->size) {
		image_eval_box(src->w, src->h, o->resize, o->size, box);
	} else if (src->w != st->W || src->h != st->H) {
		die("%s: %s%sis %dx%d, the first image was %dx%d (give -s)",
		    st->inname, it->name, *it->name ? " " : "", src->h, src->w,
		    st->H, st->W);
	}
	if (o->augment || o->size) {
		image_free(&st->tmp);
		if (image_resample(src, box[0], box[1], box[2], box[3], st->W,
		                   st->H, flip, &st->tmp, msg, sizeof(msg)) < 0)
			die("%s: %s: %s", st->inname, it->name, msg);
		src = &st->tmp;
	}

	off = (size_t)st->nbatch * st->L * st->P;
	if (o->norm == NORM_NONE)
		r = image_patchify_u8(src, o->patch,
		                      (unsigned char *)st->patches.data + off);
	else
		r = image_patchify_f32(src, o->patch, 1.0f / 255, o->mean, o->std,
		                       (float *)st->patches.data + off);
	if (r < 0)
		die("%s: %s: cannot cut %dx%d into %d-pixel patches", st->inname,
		    it->name, src->h, src->w, o->patch);
	((int32_t *)st->labels.data)[st->nbatch] = it->label;
	if (++st->nbatch == o->batch)
		write_batch(st);
	if (it->px)
		st->img.px = NULL; /* borrowed from the IDX data */
}

/* ------------------------------------------------------------------ */
/* the passes                                                          */

static void
progress(struct state *st, uint64_t done, double t0)
{
	double s;

	if (!st->o->verbose)
		return;
	s = monotonic() - t0;
	fprintf(stderr, "patchify: epoch %ld/%ld: %llu images, %.0f images/s\n",
	        st->epoch + 1, st->o->epochs, (unsigned long long)done,
	        s > 0 ? done / s : 0.0);
}

/* IDX and directories: a permutation of the selected indices */
static void
epoch_random(struct state *st, uint64_t *order, uint64_t n)
{
	struct srcitem it;
	struct rng rng;
	double t0;
	char msg[512];
	uint64_t i, j, t;

	t0 = monotonic();
	if (st->o->shuffle) {
		rng_seed(&rng, st->o->seed,
		         (uint64_t)RNG_SHUFFLE << 56 ^ (uint64_t)st->epoch);
		for (i = n; i > 1; i--) {
			j = rng_u64(&rng) % i;
			t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
	}
	for (i = 0; i < n; i++) {
		if (imgsrc_get(&st->src, order[i], &it, msg, sizeof(msg)) < 0)
			die("%s", msg);
		emit(st, &it, order[i]);
		if (st->o->verbose && (i + 1) % 100000 == 0)
			progress(st, i + 1, t0);
	}
	write_batch(st);
	progress(st, n, t0);
}

static void
emit_held(struct state *st, struct held *h)
{
	struct srcitem it = { .label = h->label, .name = h->name,
	                      .data = h->data, .len = h->len };

	emit(st, &it, h->index);
	free(h->name);
	free(h->data);
}

/* archives: in order, or through a bounded shuffle buffer */
static void
epoch_archive(struct state *st)
{
	struct opts *o = st->o;
	struct held *buf = NULL;
	struct srcitem it;
	double t0;
	struct rng rng = { 0 };
	char msg[512];
	uint64_t k = 0, done = 0;
	long nheld = 0, j;
	int r = 0;

	t0 = monotonic();
	if (st->epoch > 0 && imgsrc_rewind(&st->src, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (o->shuffle) {
		buf = ecalloc(o->buffer, sizeof(*buf));
		rng_seed(&rng, o->seed,
		         (uint64_t)RNG_BUFFER << 56 ^ (uint64_t)st->epoch);
	}
	for (; (!o->limit || k < (uint64_t)o->limit) &&
	       (r = imgsrc_next(&st->src, &it, msg, sizeof(msg))) == 1;
	     k++) {
		if (!taken(o, k))
			continue;
		if (!o->shuffle) {
			emit(st, &it, k);
		} else {
			struct held h = { it.label, k, estrdup(it.name),
			                  emalloc(it.len), it.len };

			memcpy(h.data, it.data, it.len);
			if (nheld < o->buffer) {
				buf[nheld++] = h;
				continue;
			}
			j = rng_below(&rng, nheld);
			emit_held(st, &buf[j]);
			buf[j] = h;
		}
		if (o->verbose && ++done % 10000 == 0)
			progress(st, done, t0);
	}
	if (r < 0)
		die("%s: %s", st->inname, msg);
	/* drain the buffer in random order */
	while (nheld > 0) {
		j = rng_below(&rng, nheld);
		emit_held(st, &buf[j]);
		buf[j] = buf[--nheld];
	}
	free(buf);
	write_batch(st);
	progress(st, st->images, t0);
}

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: %s [-auvz] [-B buffer] [-b batch] [-c channels] "
	        "[-e epochs] [-k i/n] [-l labels] [-N norm] [-n limit] "
	        "[-o file] [-P prefix] [-p patch] [-r resize] [-S seed] "
	        "[-s size] [-x i/n] [file]\n",
	        argv0);
	exit(status);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "augment", no_argument, NULL, 'a' },
		{ "buffer", required_argument, NULL, 'B' },
		{ "batch", required_argument, NULL, 'b' },
		{ "channels", required_argument, NULL, 'c' },
		{ "epochs", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "shard", required_argument, NULL, 'k' },
		{ "labels", required_argument, NULL, 'l' },
		{ "norm", required_argument, NULL, 'N' },
		{ "limit", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "patch", required_argument, NULL, 'p' },
		{ "resize", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'S' },
		{ "size", required_argument, NULL, 's' },
		{ "shuffle", no_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "compress", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .batch = 256, .buffer = 1024, .epochs = 1,
	                  .nshard = 1, .patch = 16, .norm = NORM_UNIT };
	struct state st;
	char msg[512];
	uint64_t *order = NULL, n, i;
	FILE *out;
	int ch, c;

	/* arguments */
	setargv0(argv[0]);
	while ((ch = getopt_long(argc, argv, ":aB:b:c:e:hk:l:N:n:o:P:p:r:S:s:uvVx:z",
	                         longopts, NULL)) != -1) {
		switch (ch) {
		case 'a': o.augment = 1; break;
		case 'B': o.buffer = estrtonum(optarg, 1, 1 << 24, "-B"); break;
		case 'b': o.batch = estrtonum(optarg, 1, 1 << 20, "-b"); break;
		case 'c': o.channels = estrtonum(optarg, 1, 3, "-c");
			if (o.channels == 2)
				udie("-c 2: expected 1 or 3");
			break;
		case 'e': o.epochs = estrtonum(optarg, 1, 1 << 20, "-e"); break;
		case 'h': usage(0); break;
		case 'k': parse_shard(&o, optarg, 'k'); break;
		case 'l': o.labels = optarg; break;
		case 'N': parse_norm(&o, optarg); break;
		case 'n': o.limit = estrtonum(optarg, 1, INT64_MAX, "-n"); break;
		case 'o': o.out = optarg; break;
		case 'P': o.prefix = optarg; break;
		case 'p': o.patch = estrtonum(optarg, 1, 1024, "-p"); break;
		case 'r': o.resize = estrtonum(optarg, 1, 1 << 16, "-r"); break;
		case 'S':
			o.seed = estrtonum(optarg, 0, INT64_MAX, "-S");
			break;
		case 's': o.size = estrtonum(optarg, 1, 1 << 16, "-s"); break;
		case 'u': o.shuffle = 1; break;
		case 'v': o.verbose = 1; break;
		case 'V': printf("patchify %s\n", VERSION); return 0;
		case 'x': parse_shard(&o, optarg, 'x'); break;
		case 'z': o.compress = 6; break;
		default:
			badopt(ch, argv);
			usage(2);
		}
	}
	if (argc - optind > 1)
		usage(2);
	o.in = optind < argc ? argv[optind] : NULL;
	if (o.resize && !o.size)
		udie("-r %ld: needs -s, the size of the centre crop", o.resize);
	if (o.size && !o.resize)
		o.resize = o.size;
	if (o.size && o.resize < o.size)
		udie("-r %ld: smaller than -s %ld", o.resize, o.size);
	if (o.size && o.size % o.patch)
		udie("-s %ld: not a multiple of the patch size %d", o.size, o.patch);

	/* prepare */
	memset(&st, 0, sizeof(st));
	st.o = &o;
	st.inname = ifile_name(o.in);
	if (imgsrc_open(&st.src, o.in && strcmp(o.in, "-") ? o.in : spool_stdin(),
	                o.labels, o.prefix, (uint64_t)o.limit, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (spool[0])
		st.src.path = st.inname; /* messages name <stdin> */
	if (st.src.outside)
		warn("%s: %llu images outside a class folder ignored", st.inname,
		     (unsigned long long)st.src.outside);
	if (st.src.kind == SRC_IDX)
		st.C = o.channels ? o.channels
		                  : st.src.images.rank == 4 ? (int)st.src.images.dims[3]
		                                            : 1;
	else
		st.C = o.channels ? o.channels : 3;
	if (st.C != 1 && st.C != 3)
		die("%s: %d channels, expected 1 or 3 (give -c)", st.inname, st.C);
	if (o.norm == NORM_IMAGENET) {
		static const float m[3] = { 0.485f, 0.456f, 0.406f };
		static const float s[3] = { 0.229f, 0.224f, 0.225f };

		for (c = 0; c < 3; c++) {
			o.mean[c] = st.C == 3 ? m[c]
			                      : 0.299f * m[0] + 0.587f * m[1] + 0.114f * m[2];
			o.std[c] = st.C == 3 ? s[c]
			                     : 0.299f * s[0] + 0.587f * s[1] + 0.114f * s[2];
		}
	} else if (o.norm == NORM_CUSTOM) {
		if (o.nmean != 1 && o.nmean != st.C)
			udie("-N: %d mean values for %d channels", o.nmean, st.C);
		for (c = o.nmean; c < 3; c++) {
			o.mean[c] = o.mean[0];
			o.std[c] = o.std[0];
		}
	} else {
		for (c = 0; c < 3; c++) {
			o.mean[c] = 0;
			o.std[c] = 1;
		}
	}
	if (o.size) {
		st.H = st.W = o.size;
		st.L = (st.H / o.patch) * (st.W / o.patch);
	} else if (st.src.kind == SRC_IDX) {
		st.H = st.src.images.dims[1];
		st.W = st.src.images.dims[2];
		if (st.H % o.patch || st.W % o.patch)
			die("%s: images are %dx%d, not a multiple of the patch size %d "
			    "(give -s)", st.inname, st.H, st.W, o.patch);
		st.L = (st.H / o.patch) * (st.W / o.patch);
	}
	st.P = 0;
	n = st.src.n;
	if (o.limit && (uint64_t)o.limit < n)
		n = o.limit;
	st.images = n / o.nshard + ((uint64_t)o.shard < n % o.nshard);
	if (o.exclude)
		st.images = n - st.images;
	st.classes = escape_classes(st.src.classes, st.src.nclasses);
	out = ofile_open(o.out, 1);
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	tsr_writer_init(&st.w, out, o.out ? o.out : "<stdout>", o.compress);
	tensor_init(&st.patches);
	tensor_init(&st.labels);
	if (st.H)
		alloc_batch(&st);

	/* process */
	if (imgsrc_random_access(&st.src)) {
		order = ecalloc(st.images ? st.images : 1, sizeof(*order));
		for (i = 0, n = 0; n < st.images; i++)
			if (taken(&o, i))
				order[n++] = i;
	}
	for (st.epoch = 0; st.epoch < o.epochs; st.epoch++) {
		if (order)
			epoch_random(&st, order, st.images);
		else
			epoch_archive(&st);
	}
	if (tsr_finish(&st.w) < 0)
		die("%s", st.w.msg);

	/* clean up */
	ofile_close(out);
	free(order);
	free(st.classes);
	tensor_free(&st.patches);
	tensor_free(&st.labels);
	tsr_writer_free(&st.w);
	image_free(&st.tmp);
	image_free(&st.conv);
	image_free(&st.img);
	imgsrc_close(&st.src);
	return 0;
}
