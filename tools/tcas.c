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
	int64_t maxtok;     /* the largest token and label seen, -1 none */
	int64_t maxlab;
	int64_t k;          /* meta k of the tokens, 0 if none yet */
	int64_t nclasses;   /* meta nclasses of the labels, 0 if none yet */
	uint64_t patches;   /* tokens counted */
	uint64_t records;   /* tokens records seen */
};

/* ------------------------------------------------------------------ */
/* integer elements                                                    */

static int
int_dtype(int dtype)
{
	switch (dtype) {
	case TSR_U8: case TSR_I8: case TSR_U16: case TSR_I16:
	case TSR_U32: case TSR_I32: case TSR_I64:
		return 1;
	}
	return 0;
}

static int64_t
ival(const struct tensor *t, size_t i)
{
	switch (t->dtype) {
	case TSR_U8: return ((const uint8_t *)t->data)[i];
	case TSR_I8: return ((const int8_t *)t->data)[i];
	case TSR_U16: return ((const uint16_t *)t->data)[i];
	case TSR_I16: return ((const int16_t *)t->data)[i];
	case TSR_U32: return ((const uint32_t *)t->data)[i];
	case TSR_I32: return ((const int32_t *)t->data)[i];
	default: return ((const int64_t *)t->data)[i];
	}
}

/* "[a,b,c]" of element i of t */
static void
index_str(const struct tensor *t, uint64_t i, char *s, size_t len)
{
	uint64_t ix[TSR_MAXRANK];
	size_t n = 0;
	int j;

	for (j = t->rank - 1; j >= 0; j--) {
		ix[j] = t->dims[j] ? i % t->dims[j] : 0;
		i = t->dims[j] ? i / t->dims[j] : 0;
	}
	for (j = 0; j < t->rank && n < len; j++)
		n += snprintf(s + n, len - n, "%s%" PRIu64, j ? "," : "[", ix[j]);
	if (n < len)
		snprintf(s + n, len - n, "]");
}

/*
 * The meta key of t as a count from 1 to INT32_MAX, 0 if absent; it
 * must agree with *seen, the value of the earlier records.
 */
static int64_t
meta_count(const char *where, const struct tensor *t, const char *key,
           int64_t *seen)
{
	char buf[64], *end;
	long long v;

	if (!tensor_meta_get(t, key, buf, sizeof(buf)))
		return 0;
	v = strtoll(buf, &end, 10);
	if (end == buf || *end || v < 1 || v > INT32_MAX)
		die("%s: meta %s=%s, expected an integer from 1 to %d", where, key,
		    buf, INT32_MAX);
	if (*seen && *seen != v)
		die("%s: meta %s=%lld, but earlier records have %s=%" PRId64
		    " (streams of different tokenizers or datasets?)",
		    where, key, v, key, *seen);
	return *seen = v;
}

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
count_group(struct counts *cn, const struct opts *o, const char *inname,
            struct tsr_group *g, uint64_t base)
{
	struct tensor *tok = NULL, *lab = NULL;
	char tw[320], lw[320], s1[256], s2[256], ix[160];
	uint64_t ti = 0, li = 0, per = 1, i, m, ntok;
	int64_t v, k, c, hi, y;
	size_t j;
	int r;

	for (j = 0; j < g->n; j++) {
		if (!tok && !strcmp(g->t[j].name, o->tname)) {
			tok = &g->t[j];
			ti = base + j;
		} else if (!lab && !strcmp(g->t[j].name, o->lname)) {
			lab = &g->t[j];
			li = base + j;
		}
	}
	if (!tok && !lab)
		return; /* a group of other records */
	snprintf(tw, sizeof(tw), "%s: record %" PRIu64 " '%s'", inname, ti,
	         o->tname);
	snprintf(lw, sizeof(lw), "%s: record %" PRIu64 " '%s'", inname, li,
	         o->lname);
	if (!lab)
		die("%s: no '%s' record in its group (each group needs the labels "
		    "of its images)", tw, o->lname);
	if (!tok)
		die("%s: no '%s' record in its group (tokenize the stream first?)",
		    lw, o->tname);
	if (!int_dtype(tok->dtype))
		die("%s: dtype %s, expected integers (i32)", tw,
		    tsr_dtype_name(tok->dtype));
	if (!int_dtype(lab->dtype))
		die("%s: dtype %s, expected integers (i32)", lw,
		    tsr_dtype_name(lab->dtype));
	tensor_shape_str(tok, s1, sizeof(s1));
	tensor_shape_str(lab, s2, sizeof(s2));
	if (lab->rank != 1 || tok->rank < 1 || tok->dims[0] != lab->dims[0])
		die("%s: shape %s does not match record %" PRIu64 " '%s' %s "
		    "(expected tokens [n, ...] and labels [n])",
		    tw, s1, li, o->lname, s2);
	meta_count(tw, tok, "k", &cn->k);
	meta_count(lw, lab, "nclasses", &cn->nclasses);
	k = cn->k;
	c = cn->nclasses;
	cn->records++;
	for (r = 1; r < tok->rank; r++)
		per *= tok->dims[r];
	m = lab->dims[0];
	ntok = m * per;

	/* check the ranges, so that the matrix grows once */
	hi = -1;
	for (i = 0; i < ntok; i++) {
		v = ival(tok, i);
		if (v < 0 || v > INT32_MAX || (k && v >= k)) {
			index_str(tok, i, ix, sizeof(ix));
			if (k)
				die("%s: element %" PRIu64 " %s is %" PRId64 ", outside "
				    "[0,%" PRId64 ") (meta k=%" PRId64 ")",
				    tw, i, ix, v, k, k);
			die("%s: element %" PRIu64 " %s is %" PRId64 ", tokens must "
			    "be from 0 to %d", tw, i, ix, v, INT32_MAX);
		}
		hi = MAX(hi, v);
	}
	cn->maxtok = MAX(cn->maxtok, hi);
	hi = -1;
	for (i = 0; i < m; i++) {
		v = ival(lab, i);
		if (v < 0 || v > INT32_MAX || (c && v >= c)) {
			if (c)
				die("%s: element %" PRIu64 " is %" PRId64 ", outside "
				    "[0,%" PRId64 ") (meta nclasses=%" PRId64 ")",
				    lw, i, v, c, c);
			die("%s: element %" PRIu64 " is %" PRId64 ", labels must be "
			    "from 0 to %d", lw, i, v, INT32_MAX);
		}
		hi = MAX(hi, v);
	}
	cn->maxlab = MAX(cn->maxlab, hi);
	if (!ntok)
		return;
	grow(cn, cn->maxtok + 1, cn->maxlab + 1);

	/* count: patch p of image i takes label i */
	for (i = 0; i < m; i++) {
		int64_t *col = cn->n + ival(lab, i);

		if (tok->dtype == TSR_I32) {
			const int32_t *t = (const int32_t *)tok->data + i * per;

			for (j = 0; j < per; j++)
				col[(size_t)t[j] * cn->ccap]++;
		} else {
			for (j = 0; j < per; j++) {
				y = ival(tok, i * per + j);
				col[(size_t)y * cn->ccap]++;
			}
		}
	}
	cn->patches += ntok;
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
	struct counts cn = { .maxtok = -1, .maxlab = -1 };
	struct tsr_reader r;
	struct tsr_group g;
	struct result res[9];
	const char *inname;
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

	/* process */
	while ((rc = tsr_group_read(&r, &g)) > 0)
		count_group(&cn, &o, inname, &g, r.index - g.n - g.havenext);
	if (rc < 0)
		die("%s", r.msg);
	if (!cn.patches)
		die("%s: no tokens (%s)", inname,
		    cn.records ? "the tokens records are empty"
		               : "no tokens record in the stream");
	/* meta k or nclasses may first appear after larger values */
	if (cn.k && cn.maxtok >= cn.k)
		die("%s: a token is %" PRId64 ", but the tokens meta says k=%" PRId64,
		    inname, cn.maxtok, cn.k);
	if (cn.nclasses && cn.maxlab >= cn.nclasses)
		die("%s: a label is %" PRId64 ", but the labels meta says "
		    "nclasses=%" PRId64, inname, cn.maxlab, cn.nclasses);
	k = cn.maxtok + 1;
	c = cn.maxlab + 1;
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
	res[6] = (struct result){ "k", INT, 0, cn.k ? (uint64_t)cn.k
	                                            : (uint64_t)cn.maxtok + 1 };
	res[7] = (struct result){ "classes", INT, 0, classes };
	res[8] = (struct result){ "patches", INT, 0, cn.patches };
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
