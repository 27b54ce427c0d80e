/* See LICENSE file for copyright and license details. */
/*
 * augraph: the augmentation graph that a tokenizer induces between
 * images, and the downstream error bound it implies.
 *
 * Reads a stream of groups (tensor-stream(5)) that each hold
 *
 *	tokens  integers [n, ...]   a token per patch (tokenize)
 *	labels  integers [n]        the class of each image (patchify)
 *
 * checked as tcas checks them (lib/toklab.c).  In one pass it keeps a
 * uniform sample of N images (-n; reservoir sampling seeded by -S, so
 * memory holds the sample only), each as the bag of its patches'
 * tokens, then builds the graph w(i, j) = sum_t c_i(t) c_j(t) / n_t on
 * the sample (lib/augraph.c) and prints, as "key value" lines or with
 * -J one JSON object:
 *
 *	alpha    the share of edge weight between images of different classes
 *	lambda   lambda_{C+1}, the (C+1)-th smallest eigenvalue of the
 *	         normalised Laplacian, C the classes in the sample
 *	bound    alpha / lambda_{C+1} (HaoChen et al., 2021)
 *
 * then the sample's sizes and the smallest eigenvalues eig.1 .. eig.m
 * (-e).  The sampled images keep their stream order.
 */
#include <cblas.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augraph.h"
#include "tensor.h"
#include "toklab.h"
#include "util.h"

/* streams of the random generator (util.h rng_seed), one per use */
enum { RNG_SAMPLE = 1 };

struct opts {
	int json;          /* -J */
	int verbose;       /* -v */
	size_t eigs;       /* -e: eigenvalues to print */
	int threads;       /* -j */
	const char *lname; /* -l: the labels record */
	size_t images;     /* -n: the sample's size, 0 for all */
	uint64_t seed;     /* -S */
	const char *tname; /* -t: the tokens record */
	const char *in;    /* operand, NULL for stdin */
};

/* a sampled image: the distinct tokens of its patches and their counts */
struct image {
	uint64_t index;     /* its place among the images of the stream */
	int32_t label;
	uint32_t *tok;      /* (e) increasing */
	uint32_t *cnt;      /* (e) */
	size_t e;
};

struct sample {
	struct image *im;   /* (cap) the slots; n in use */
	size_t n, cap;
	uint64_t seen;      /* images with patches read so far */
	uint32_t *scratch;  /* (scap) one image's tokens, sorted */
	size_t scap;
	struct rng rng;
};

/* ------------------------------------------------------------------ */
/* sampling                                                            */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int
cmp_index(const void *a, const void *b)
{
	uint64_t x = ((const struct image *)a)->index;
	uint64_t y = ((const struct image *)b)->index;

	return (x > y) - (x < y);
}

/* image i of tok (per tokens) as a bag in im, replacing what it held */
static void
take(struct sample *s, struct image *im, const struct tensor *tok,
     uint64_t i, uint64_t per, int32_t label)
{
	size_t j, e = 0;

	if (per > s->scap) {
		s->scratch = ereallocarray(s->scratch, per, sizeof(*s->scratch));
		s->scap = per;
	}
	for (j = 0; j < per; j++)
		s->scratch[j] = toklab_ival(tok, i * per + j);
	qsort(s->scratch, per, sizeof(*s->scratch), cmp_u32);
	im->tok = ereallocarray(im->tok, per, sizeof(*im->tok));
	im->cnt = ereallocarray(im->cnt, per, sizeof(*im->cnt));
	for (j = 0; j < per; j++) {
		if (e && im->tok[e - 1] == s->scratch[j]) {
			im->cnt[e - 1]++;
		} else {
			im->tok[e] = s->scratch[j];
			im->cnt[e++] = 1;
		}
	}
	im->e = e;
	im->index = s->seen;
	im->label = label;
}

/* offer every image of one group to the reservoir (Algorithm R) */
static void
sample_group(struct sample *s, const struct opts *o, const struct tensor *tok,
             const struct tensor *lab, uint64_t per)
{
	uint64_t i, j;
	struct image *im;

	if (!per)
		return; /* images without patches have no place in the graph */
	for (i = 0; i < lab->dims[0]; i++, s->seen++) {
		if (!o->images || s->n < o->images) {
			if (s->n == s->cap) {
				s->cap = s->cap ? 2 * s->cap : 256;
				s->im = ereallocarray(s->im, s->cap, sizeof(*s->im));
			}
			im = &s->im[s->n++];
			memset(im, 0, sizeof(*im));
		} else {
			/* keep it with probability N / (seen + 1), in place of a
			 * uniform slot; the modulo's bias is below seen / 2^64 */
			if ((j = rng_u64(&s->rng) % (s->seen + 1)) >= o->images)
				continue;
			im = &s->im[j];
		}
		take(s, im, tok, i, per, toklab_ival(lab, i));
	}
}

/* ------------------------------------------------------------------ */
/* the graph                                                           */

/*
 * The bags of the sample, tokens renumbered 0 .. K-1 in increasing
 * order of their values (so each image's stay increasing), and the
 * labels.  Frees the images' own arrays.
 */
static void
bags(struct sample *s, struct augraph_bags *b, size_t **offp, uint32_t **tokp,
     uint32_t **cntp, int32_t **yp)
{
	size_t i, j, e = 0, k = 0, *off;
	uint32_t *all, *tok, *cnt, *hit;
	int32_t *y;

	qsort(s->im, s->n, sizeof(*s->im), cmp_index);
	off = ecalloc(s->n + 1, sizeof(*off));
	for (i = 0; i < s->n; i++)
		off[i + 1] = off[i] + s->im[i].e;
	all = ereallocarray(NULL, off[s->n] ? off[s->n] : 1, sizeof(*all));
	tok = ereallocarray(NULL, off[s->n] ? off[s->n] : 1, sizeof(*tok));
	cnt = ereallocarray(NULL, off[s->n] ? off[s->n] : 1, sizeof(*cnt));
	y = ereallocarray(NULL, s->n, sizeof(*y));
	for (i = 0; i < s->n; i++)
		for (j = 0; j < s->im[i].e; j++)
			all[e++] = s->im[i].tok[j];
	qsort(all, e, sizeof(*all), cmp_u32);
	for (j = 0; j < e; j++)
		if (!k || all[k - 1] != all[j])
			all[k++] = all[j];
	for (i = 0; i < s->n; i++) {
		for (j = 0; j < s->im[i].e; j++) {
			hit = bsearch(&s->im[i].tok[j], all, k, sizeof(*all), cmp_u32);
			tok[off[i] + j] = hit - all;
			cnt[off[i] + j] = s->im[i].cnt[j];
		}
		y[i] = s->im[i].label;
		free(s->im[i].tok);
		free(s->im[i].cnt);
	}
	free(all);
	*b = (struct augraph_bags){ s->n, k, off, tok, cnt };
	*offp = off;
	*tokp = tok;
	*cntp = cnt;
	*yp = y;
}

/* ------------------------------------------------------------------ */
/* output                                                              */

/*
 * One "key value" line, or one member of the JSON object (the first
 * opens it); reals with %.9g, and in JSON a value that is not finite
 * as null.
 */
static void
put(const struct opts *o, const char *key, double v, int integer)
{
	static int members;

	if (o->json)
		printf("%s\"%s\": ", members++ ? ", " : "{", key);
	else
		printf("%s ", key);
	if (integer)
		printf("%.0f", v);
	else if (o->json && !isfinite(v))
		printf("null");
	else
		printf("%.9g", v);
	if (!o->json)
		putchar('\n');
}

static void
usage(FILE *fp, int status)
{
	fprintf(fp, "usage: %s [-Jv] [-e count] [-j threads] [-l name] "
	            "[-n images] [-S seed] [-t name] [file]\n", argv0);
	exit(status);
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "eigenvalues", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "images", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'J' },
		{ "labels", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 'j' },
		{ "tokens", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->eigs = 20;
	o->threads = 1;
	o->images = 4000;
	o->lname = "labels";
	o->tname = "tokens";
	opterr = 0; /* our own messages, without the full argv[0] */
	while ((c = getopt_long(argc, argv, ":e:hJj:l:n:S:t:Vv", longopts,
	                        NULL)) != -1) {
		switch (c) {
		case 'e': o->eigs = estrtonum(optarg, 0, AUGRAPH_MAXORDER, "-e"); break;
		case 'h': usage(stdout, 0); break;
		case 'J': o->json = 1; break;
		case 'j': o->threads = estrtonum(optarg, 1, 1024, "-j"); break;
		case 'l':
		case 't':
			if (!tsr_name_ok(optarg) || !strcmp(optarg, TSR_END_NAME)) {
				warn("-%c %s: not a tensor name", c, optarg);
				usage(stderr, 2);
			}
			*(c == 'l' ? &o->lname : &o->tname) = optarg;
			break;
		case 'n': o->images = estrtonum(optarg, 0, INT32_MAX, "-n"); break;
		case 'S': o->seed = estrtonum(optarg, 0, INT64_MAX, "-S"); break;
		case 'V':
			printf("augraph %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
		case 'v': o->verbose = 1; break;
		default:
			badopt(c, argv);
			usage(stderr, 2);
		}
	}
	if (argc - optind > 1) {
		warn("%s: one input file at most", argv[optind + 1]);
		usage(stderr, 2);
	}
	if (!strcmp(o->lname, o->tname)) {
		warn("-l and -t name the same record '%s'", o->lname);
		usage(stderr, 2);
	}
	o->in = optind < argc ? argv[optind] : NULL;
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct toklab tl;
	struct sample s = { 0 };
	struct tsr_reader r;
	struct tsr_group g;
	struct tensor *tok, *lab;
	struct augraph_bags b;
	const char *inname;
	char msg[1024];
	size_t *off, i, classes = 0, m, shown;
	uint32_t *btok, *bcnt;
	int32_t *y;
	uint64_t per, patches = 0;
	unsigned char *present;
	double alpha, *lam, lambda, bound, t0;
	FILE *in;
	int rc, side;

	/* arguments */
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare */
	openblas_set_num_threads(o.threads);
	inname = ifile_name(o.in);
	in = ifile_open(o.in);
	tsr_reader_init(&r, in, inname);
	tsr_group_init(&g);
	toklab_init(&tl, inname, o.tname, o.lname);
	rng_seed(&s.rng, o.seed, RNG_SAMPLE);

	/* process: the sample */
	while ((rc = tsr_group_read(&r, &g)) > 0) {
		rc = toklab_group(&tl, &g, r.index - g.n - g.havenext, &tok, &lab,
		                  &per, msg, sizeof(msg));
		if (rc < 0)
			die("%s", msg);
		if (rc > 0)
			sample_group(&s, &o, tok, lab, per);
	}
	if (rc < 0)
		die("%s", r.msg);
	if (toklab_finish(&tl, msg, sizeof(msg)) < 0)
		die("%s", msg);

	/* the graph and its spectrum */
	t0 = monotonic();
	bags(&s, &b, &off, &btok, &bcnt, &y);
	present = ecalloc((size_t)tl.maxlab + 1, 1);
	for (i = 0; i < b.n; i++) {
		classes += !present[y[i]];
		present[y[i]] = 1;
	}
	for (i = 0; i < b.off[b.n]; i++)
		patches += bcnt[i];
	if (classes < 2)
		die("%s: need at least two classes, the %zu sampled images have %zu",
		    inname, b.n, classes);
	if (b.n <= classes)
		die("%s: %zu images and %zu classes: lambda_{C+1} needs more "
		    "images than classes (-n)", inname, b.n, classes);
	shown = MIN(o.eigs, b.n);
	m = MAX(shown, classes + 1);
	lam = ereallocarray(NULL, m, sizeof(*lam));
	alpha = augraph_alpha(&b, y, (size_t)tl.maxlab + 1);
	if (isnan(alpha))
		die("out of memory for alpha (%zu tokens)", b.k);
	if ((side = augraph_spectrum(&b, m, AUGRAPH_AUTO, lam, msg,
	                             sizeof(msg))) < 0)
		die("%s: %s", inname, msg);
	if (o.verbose)
		warn("%zu of %" PRIu64 " images, %zu classes, %zu tokens; "
		     "eigenvalues of the %s side, %zu x %zu: %.3f s",
		     b.n, s.seen, classes, b.k,
		     side == AUGRAPH_TOKENS ? "tokens" : "images",
		     side == AUGRAPH_TOKENS ? b.k : b.n,
		     side == AUGRAPH_TOKENS ? b.k : b.n, monotonic() - t0);
	lambda = lam[classes];
	bound = alpha == 0 ? 0 : lambda > 0 ? alpha / lambda : INFINITY;

	/* output */
	put(&o, "alpha", alpha, 0);
	put(&o, "lambda", lambda, 0);
	put(&o, "bound", bound, 0);
	put(&o, "images", b.n, 1);
	put(&o, "classes", classes, 1);
	put(&o, "used", b.k, 1);
	put(&o, "patches", patches, 1);
	for (i = 0; i < shown; i++) {
		snprintf(msg, sizeof(msg), "eig.%zu", i + 1);
		put(&o, msg, lam[i], 0);
	}
	if (o.json)
		puts("}");

	/* clean up */
	free(lam);
	free(present);
	free(off);
	free(btok);
	free(bcnt);
	free(y);
	free(s.im);
	free(s.scratch);
	tsr_group_free(&g);
	tsr_reader_free(&r);
	if (in != stdin)
		fclose(in);
	return fshut(stdout, "<stdout>");
}
