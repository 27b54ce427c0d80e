/* See LICENSE file for copyright and license details. */
/*
 * tcas: score a tokenizer against image classes, without training.
 *
 * Reads a stream of groups (tensor-stream(5)) that each hold
 *
 *	tokens  integers [n, ...]   a token in [0, K) per patch (tokenize)
 *	labels  integers [n]        the class of each image (patchify)
 *
 * where every patch takes its image's label, and counts the joint matrix
 * n[t][y] (K x C) in one pass, in O(K C) memory.  From it, lib/metrics.c
 * computes TCAS as defined in shared/docs/tcas.md (lower is better: 0
 * when no token is shared by two classes, 1 when the tokens carry no
 * class information), and the standard partition scores beside it.
 * Prints one "key value" line per score in a fixed order, or with -J
 * one JSON object.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "tensor.h"
#include "toklab.h"
#include "util.h"

struct opts {
	int json;          /* -J */
	const char *lname; /* -l: the labels record */
	const char *tname; /* -t: the tokens record */
	const char *in;    /* operand, NULL for stdin */
};

/* the joint counts so far, grown as larger tokens and labels appear */
struct counts {
	int64_t *n;         /* (kcap, ccap): n[t * ccap + y] */
	size_t kcap, ccap;
	struct toklab tl;   /* the records' checks, the largest token, label,
	                       the tokens counted */
};

/* ------------------------------------------------------------------ */
/* counting                                                            */

static void
grow(struct counts *cn, size_t k, size_t c)
{
	int64_t *n;
	size_t nk = MAX(cn->kcap, 1), nc = MAX(cn->ccap, 1), t;

	if (k <= cn->kcap && c <= cn->ccap)
		return;
	while (nk < k)
		nk = nk > SIZE_MAX / 2 ? k : 2 * nk;
	while (nc < c)
		nc = nc > SIZE_MAX / 2 ? c : 2 * nc;
	if (nc && nk > SIZE_MAX / sizeof(*n) / nc)
		die("a %zu x %zu count matrix is too large", nk, nc);
	n = ecalloc(nk * nc, sizeof(*n));
	for (t = 0; t < cn->kcap; t++)
		memcpy(n + t * nc, cn->n + t * cn->ccap, cn->ccap * sizeof(*n));
	free(cn->n);
	cn->n = n;
	cn->kcap = nk;
	cn->ccap = nc;
}

static void
count_group(struct counts *cn, struct tsr_group *g, uint64_t base)
{
	struct tensor *tok, *lab;
	char msg[1024];
	uint64_t per, i, m;
	size_t j;
	int r;

	if ((r = toklab_group(&cn->tl, g, base, &tok, &lab, &per, msg,
	                      sizeof(msg))) < 0)
		die("%s", msg);
	if (!r || !(m = lab->dims[0]) || !per)
		return;
	grow(cn, cn->tl.maxtok + 1, cn->tl.maxlab + 1);

	/* count: patch p of image i takes label i */
	for (i = 0; i < m; i++) {
		int64_t *col = cn->n + toklab_ival(lab, i);

		if (tok->dtype == TSR_I32) {
			const int32_t *t = (const int32_t *)tok->data + i * per;

			for (j = 0; j < per; j++)
				col[(size_t)t[j] * cn->ccap]++;
		} else {
			for (j = 0; j < per; j++)
				col[(size_t)toklab_ival(tok, i * per + j) * cn->ccap]++;
		}
	}
}

/* ------------------------------------------------------------------ */
/* output                                                              */

enum { INT, DBL };

struct result {
	const char *key;
	int type;
	double d;
	uint64_t u;
};

static void
print(const struct result *res, size_t n, int json)
{
	size_t i;

	if (json)
		putchar('{');
	for (i = 0; i < n; i++) {
		if (json)
			printf("%s\"%s\": ", i ? ", " : "", res[i].key);
		else
			printf("%s ", res[i].key);
		if (res[i].type == INT)
			printf("%" PRIu64, res[i].u);
		else
			printf("%.9g", res[i].d);
		if (!json)
			putchar('\n');
	}
	if (json)
		puts("}");
}

static void
usage(FILE *fp, int status)
{
	fprintf(fp, "usage: %s [-J] [-l name] [-t name] [file]\n", argv0);
	exit(status);
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'J' },
		{ "labels", required_argument, NULL, 'l' },
		{ "tokens", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->lname = "labels";
	o->tname = "tokens";
	opterr = 0; /* our own messages, without the full argv[0] */
	while ((c = getopt_long(argc, argv, ":hJl:t:V", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout, 0); break;
		case 'J': o->json = 1; break;
		case 'l':
		case 't':
			if (!tsr_name_ok(optarg) || !strcmp(optarg, TSR_END_NAME)) {
				warn("-%c %s: not a tensor name", c, optarg);
				usage(stderr, 2);
			}
			*(c == 'l' ? &o->lname : &o->tname) = optarg;
			break;
		case 'V':
			printf("tcas %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
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
	struct counts cn = { 0 };
	struct tsr_reader r;
	struct tsr_group g;
	struct result res[9];
	const char *inname;
	char msg[1024];
	double *n;
	size_t k, c, i, classes;
	FILE *in;
	int rc;

	/* arguments */
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare */
	inname = ifile_name(o.in);
	in = ifile_open(o.in);
	tsr_reader_init(&r, in, inname);
	tsr_group_init(&g);
	toklab_init(&cn.tl, inname, o.tname, o.lname);

	/* process */
	while ((rc = tsr_group_read(&r, &g)) > 0)
		count_group(&cn, &g, r.index - g.n - g.havenext);
	if (rc < 0)
		die("%s", r.msg);
	if (toklab_finish(&cn.tl, msg, sizeof(msg)) < 0)
		die("%s", msg);
	k = cn.tl.maxtok + 1;
	c = cn.tl.maxlab + 1;
	n = ereallocarray(NULL, k * c, sizeof(*n));
	for (i = 0; i < k * c; i++)
		n[i] = cn.n[i / c * cn.ccap + i % c];
	if ((classes = metrics_classes(n, k, c)) < 2)
		die("%s: need at least two classes, the labels have %zu", inname,
		    classes);
	res[0] = (struct result){ "tcas", DBL, metrics_tcas(n, k, c), 0 };
	res[1] = (struct result){ "collision", DBL, metrics_collision(n, k, c), 0 };
	res[2] = (struct result){ "nmi", DBL, metrics_nmi(n, k, c), 0 };
	res[3] = (struct result){ "purity", DBL, metrics_purity(n, k, c), 0 };
	res[4] = (struct result){ "used", INT, 0, metrics_used(n, k, c) };
	res[5] = (struct result){ "perplexity", DBL, metrics_perplexity(n, k, c), 0 };
	res[6] = (struct result){ "k", INT, 0, cn.tl.k ? (uint64_t)cn.tl.k
	                                               : (uint64_t)k };
	res[7] = (struct result){ "classes", INT, 0, classes };
	res[8] = (struct result){ "patches", INT, 0, cn.tl.patches };
	for (i = 0; i < LEN(res); i++)
		if (res[i].type == DBL && !isfinite(res[i].d))
			die("%s: %s is %g (out of memory?)", inname, res[i].key,
			    res[i].d);
	print(res, LEN(res), o.json);

	/* clean up */
	free(n);
	free(cn.n);
	tsr_group_free(&g);
	tsr_reader_free(&r);
	if (in != stdin)
		fclose(in);
	return fshut(stdout, "<stdout>");
}
