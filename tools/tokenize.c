/* See LICENSE file for copyright and license details. */
/*
 * tokenize: the nearest centroid of every patch, as a token.
 *
 * Reads a centroids stream (-c: a record 'centroids' f32 [K, D], as
 * kmeans-fit writes) and a stream of groups (tensor-stream(5)).  To
 * every group that has the tensor NAME (-f, default 'patches'), u8 or
 * f32 [n, ..., D], it appends
 *
 *	tokens  i32 [n, ...]   the index of the nearest centroid of each
 *	                       row of D values (the input's shape without
 *	                       its last dim)
 *
 * right after the group's last record, and passes every other record
 * through unchanged (payload and CRC kept).  Nearest is the least
 * squared L2 distance, or with -p the greatest dot product of the
 * L2-normalised row and centroid (cosine); ties go to the lowest index.
 * The rows of each group go through kmeans_assign() (the same kernel as
 * kmeans-fit's assignment step) with one workspace for the whole stream.
 *
 * With -R KIND instead of -c, the tokens come from a reference
 * tokenizer that ignores the patch values (the yardsticks of the
 * paper's Figure 3), the shape still from NAME:
 *
 *	class     every patch of an image gets the image's label (the
 *	          group's 'labels' i32 [n]): the class-wise oracle, K the
 *	          labels' meta nclasses or -k
 *	random    uniform in [0, K) (-k, default 64), a hash of the seed
 *	          (-S), the group's place in the stream and the element:
 *	          no information at all
 *	position  the patch's index within its image (row-major over the
 *	          dims between n and D), modulo K (-k, default their
 *	          count): every class uses every token alike, so the
 *	          tokens are orthogonal to the classes (the cross-class
 *	          tokenizer; TCAS exactly 1)
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"
#include "tensor.h"
#include "util.h"

struct opts {
	const char *centroids; /* -c */
	const char *name;      /* -f: the tensor to tokenize */
	const char *out;       /* -o */
	const char *in;        /* operand, NULL for stdin */
	int threads;           /* -j */
	int spherical;         /* -p */
	int replace;           /* -r: replace existing tokens */
	int verbose;           /* -v */
	int compress;          /* -z: zlib level */
	int reference;         /* -R: REF_* */
	int k;                 /* -k: K of a reference tokenizer, 0 unset */
	uint64_t seed;         /* -S */
};

enum { REF_NONE, REF_CLASS, REF_RANDOM, REF_POSITION };
static const char *const refname[] = { "", "class", "random", "position" };

/* the centroids, ready for kmeans_assign */
struct codebook {
	float *c;      /* (K, D), L2-normalised if spherical */
	float *cnorm;  /* (K) squared norms, for L2 */
	int k, d;
	int fitted;    /* the file's meta spherical: -1 absent, 0 or 1 */
};

/* ------------------------------------------------------------------ */
/* centroids                                                           */

static void
load_centroids(const char *path, struct codebook *cb)
{
	struct tsr_reader r;
	struct tensor t, c;
	const char *name = ifile_name(path);
	char buf[32], shape[256];
	uint64_t at = 0, i;
	FILE *fp = ifile_open(path);
	const float *v;
	int rc, found = 0;

	tsr_reader_init(&r, fp, name);
	tensor_init(&t);
	tensor_init(&c);
	/* the whole stream is read, so a damaged file fails here */
	while ((rc = tsr_read(&r, &t)) > 0) {
		if (strcmp(t.name, "centroids"))
			continue;
		if (found++)
			die("%s: record %" PRIu64 " 'centroids': a second centroids "
			    "record (the first is record %" PRIu64 ")",
			    name, r.index - 1, at);
		at = r.index - 1;
		if (tensor_copy(&c, &t) < 0)
			die("%s: out of memory", name);
	}
	if (rc < 0)
		die("%s", r.msg);
	if (!found)
		die("%s: no 'centroids' record (expected a kmeans-fit output)",
		    name);
	tensor_shape_str(&c, shape, sizeof(shape));
	if (c.dtype != TSR_F32 || c.rank != 2)
		die("%s: record %" PRIu64 " 'centroids': %s %s, expected f32 "
		    "[K, D]", name, at, tsr_dtype_name(c.dtype), shape);
	if (c.dims[0] < 1 || c.dims[1] < 1 || c.dims[0] > INT32_MAX ||
	    c.dims[1] > INT32_MAX)
		die("%s: record %" PRIu64 " 'centroids': shape %s, expected "
		    "K and D from 1 to %d", name, at, shape, INT32_MAX);
	cb->k = c.dims[0];
	cb->d = c.dims[1];
	v = c.data;
	for (i = 0; i < (uint64_t)cb->k * cb->d; i++)
		if (!isfinite(v[i]))
			die("%s: record %" PRIu64 " 'centroids': element %" PRIu64
			    " [%" PRIu64 ",%" PRIu64 "] is %s",
			    name, at, i, i / cb->d, i % cb->d,
			    isnan(v[i]) ? "NaN" : v[i] > 0 ? "Inf" : "-Inf");
	cb->fitted = -1;
	if (tensor_meta_get(&c, "spherical", buf, sizeof(buf)))
		cb->fitted = strcmp(buf, "0") != 0;
	/* the payload becomes the codebook */
	cb->c = c.data;
	c.data = NULL;
	c.datacap = 0;
	cb->cnorm = ecalloc(cb->k, sizeof(*cb->cnorm));
	tensor_free(&c);
	tensor_free(&t);
	tsr_reader_free(&r);
	if (fp != stdin)
		fclose(fp);
}

/* ------------------------------------------------------------------ */
/* one group                                                           */

struct state {
	struct opts *o;
	struct codebook cb;
	struct kmeans_ws *ws;
	const char *inname;
	struct tsr_writer w;
	struct tensor tok;
	float *buf;           /* rows converted or normalised */
	size_t bufcap;        /* in floats */
	uint64_t groups, rows;
};

/*
 * tok (rows) from the reference tokenizer -R, for x [n, ..., D] of the
 * group g: rows / n per image.  Returns K.
 */
static int
reference_tokens(struct state *st, struct tsr_group *g, uint64_t base,
                 const struct tensor *x, int32_t *tok, uint64_t rows)
{
	struct opts *o = st->o;
	const struct tensor *lab = NULL;
	const int32_t *y;
	uint64_t per = x->dims[0] ? rows / x->dims[0] : 0, i, at = 0, key;
	char val[64];
	size_t j;
	long long v;
	int k = o->k;

	switch (o->reference) {
	case REF_CLASS:
		for (j = 0; j < g->n && !lab; j++)
			if (!strcmp(g->t[j].name, "labels")) {
				lab = &g->t[j];
				at = base + j;
			}
		if (!lab)
			die("%s: records %" PRIu64 "-%" PRIu64 ": no 'labels' record "
			    "in the group (-R class needs the image labels)",
			    st->inname, base, base + g->n - 1);
		if (lab->dtype != TSR_I32 || lab->rank != 1 ||
		    lab->dims[0] != x->dims[0])
			die("%s: record %" PRIu64 " 'labels': expected i32 [%" PRIu64
			    "], one per image of '%s'", st->inname, at, x->dims[0],
			    x->name);
		if (!k) {
			if (!tensor_meta_get(lab, "nclasses", val, sizeof(val)) ||
			    (v = atoll(val)) < 1 || v > INT32_MAX)
				die("%s: record %" PRIu64 " 'labels': no meta nclasses "
				    "(give -k)", st->inname, at);
			k = v;
		}
		/* each image's label, checked once, on all its patches */
		y = lab->data;
		for (i = 0; per && i < x->dims[0]; i++) {
			if (y[i] < 0 || y[i] >= k)
				die("%s: record %" PRIu64 " 'labels': element %" PRIu64
				    " is %" PRId32 ", expected 0 to %d", st->inname, at,
				    i, y[i], k - 1);
			for (j = 0; j < per; j++)
				tok[i * per + j] = y[i];
		}
		break;
	case REF_RANDOM:
		k = k ? k : 64;
		key = mix64(o->seed ^ mix64(st->groups + 1));
		for (i = 0; i < rows; i++)
			tok[i] = mix64(key + i) % (uint64_t)k;
		break;
	case REF_POSITION:
		if (!k)
			k = per < 1 ? 1 : per > INT32_MAX ? INT32_MAX : (int)per;
		for (i = 0; i < rows; i++)
			tok[i] = (i % per) % (uint64_t)k;
		break;
	}
	return k;
}

/* "[a,b,c]" of element i of a tensor of dims d (rank) */
static void
index_str(uint64_t i, const uint64_t *d, int rank, char *s, size_t len)
{
	uint64_t ix[TSR_MAXRANK];
	size_t n = 0;
	int j;

	for (j = rank - 1; j >= 0; j--) {
		ix[j] = d[j] ? i % d[j] : 0;
		i = d[j] ? i / d[j] : 0;
	}
	for (j = 0; j < rank && n < len; j++)
		n += snprintf(s + n, len - n, "%s%" PRIu64, j ? "," : "[", ix[j]);
	if (n < len)
		snprintf(s + n, len - n, "]");
}

/*
 * The index of the first NaN or infinity in v (n), or n.  Exponent bits
 * all set means NaN or infinity; the branch-free OR over fixed blocks
 * lets the compiler vectorise the common case, a block without any.
 */
enum { SCAN = 4096 };

static int
block_bad(const float *v)
{
	uint32_t u, bad = 0;
	int j;

	for (j = 0; j < SCAN; j++) {
		memcpy(&u, v + j, sizeof(u));
		bad |= (u & 0x7f800000) == 0x7f800000;
	}
	return bad;
}

static uint64_t
first_nonfinite(const float *v, uint64_t n)
{
	uint64_t i = 0;

	while (i + SCAN <= n && !block_bad(v + i))
		i += SCAN;
	for (; i < n; i++)
		if (!isfinite(v[i]))
			return i;
	return n;
}

/* the dims names of x without the last one, if x names all its dims */
static int
token_dims(const struct tensor *x, char *out, size_t len)
{
	char names[512], *p;
	int n = 1;

	if (!tensor_meta_get(x, "dims", names, sizeof(names)))
		return 0;
	for (p = names; *p; p++)
		n += *p == ',';
	if (n != x->rank || !(p = strrchr(names, ',')))
		return 0;
	*p = '\0';
	snprintf(out, len, "%s", names);
	return 1;
}

/*
 * tok (rows) from the codebook -c: the nearest centroid of each row of
 * x [n, ..., D] (where names it in messages).  Returns K.
 */
static int
nearest_tokens(struct state *st, const struct tensor *x, const char *where,
               int32_t *tok, uint64_t rows)
{
	struct opts *o = st->o;
	size_t d = st->cb.d;
	uint64_t count = rows * d, i;
	const float *rowsp;
	char at[160];

	if (x->dims[x->rank - 1] != d)
		die("%s: centroids D=%d but %s D=%" PRIu64 "%s", where, st->cb.d,
		    x->name, x->dims[x->rank - 1],
		    !strcmp(x->name, "patches") ? " (different -p?)" : "");

	/* rows as f32, checked and, for -p, normalised */
	if (x->dtype == TSR_F32 &&
	    (i = first_nonfinite(x->data, count)) < count) {
		const float *v = x->data;

		index_str(i, x->dims, x->rank, at, sizeof(at));
		die("%s: element %" PRIu64 " %s is %s", where, i, at,
		    isnan(v[i]) ? "NaN" : v[i] > 0 ? "Inf" : "-Inf");
	}
	if (x->dtype == TSR_F32 && !o->spherical) {
		rowsp = x->data;
	} else {
		if (count > st->bufcap) {
			free(st->buf);
			st->buf = ereallocarray(NULL, count, sizeof(float));
			st->bufcap = count;
		}
		if (x->dtype == TSR_U8) {
			const unsigned char *u = x->data;

			for (i = 0; i < count; i++)
				st->buf[i] = u[i];
		} else {
			memcpy(st->buf, x->data, count * sizeof(float));
		}
		if (o->spherical)
			kmeans_normalize(st->buf, rows, d);
		rowsp = st->buf;
	}
	if (rows)
		kmeans_assign(st->ws, rowsp, rows, st->cb.c, st->cb.cnorm,
		              o->spherical, tok, NULL);
	return st->cb.k;
}

static void
tokenize_group(struct state *st, struct tsr_group *g, uint64_t base)
{
	struct opts *o = st->o;
	struct tensor *x = NULL, *old = NULL;
	char shape[256], where[320], val[512];
	uint64_t xi = 0, rows = 1;
	size_t j;
	int r, k;

	for (j = 0; j < g->n; j++) {
		if (!x && !strcmp(g->t[j].name, o->name)) {
			x = &g->t[j];
			xi = base + j;
		} else if (!old && !strcmp(g->t[j].name, "tokens")) {
			old = &g->t[j];
			if (!o->replace)
				die("%s: record %" PRIu64 " 'tokens': the group already "
				    "has tokens (give -r to replace them)",
				    st->inname, base + j);
		}
	}
	if (!x) {
		if (!tensor_meta_get(&g->t[0], "batch", val, sizeof(val)))
			snprintf(val, sizeof(val), "none");
		die("%s: records %" PRIu64 "-%" PRIu64 " (batch %s): no '%s' "
		    "record in the group", st->inname, base, base + g->n - 1, val,
		    o->name);
	}
	snprintf(where, sizeof(where), "%s: record %" PRIu64 " '%s'", st->inname,
	         xi, x->name);
	tensor_shape_str(x, shape, sizeof(shape));
	if (x->dtype != TSR_F32 && x->dtype != TSR_U8)
		die("%s: dtype %s, expected u8 or f32", where,
		    tsr_dtype_name(x->dtype));
	if (x->rank < 2)
		die("%s: shape %s, expected [n, ..., D]", where, shape);
	for (r = 0; r < x->rank - 1; r++)
		rows *= x->dims[r];

	/* the tokens */
	if (tensor_shape(&st->tok, "tokens", TSR_I32, x->rank - 1, x->dims, val,
	                 sizeof(val)) < 0)
		die("%s: %s", where, val);
	k = o->reference ? reference_tokens(st, g, base, x, st->tok.data, rows) :
	                   nearest_tokens(st, x, where, st->tok.data, rows);
	r = tensor_meta_setf(&st->tok, "tool", "tokenize/%s", VERSION);
	if (tensor_meta_get(x, "batch", val, sizeof(val)))
		r |= tensor_meta_set(&st->tok, "batch", val);
	if (token_dims(x, val, sizeof(val)))
		r |= tensor_meta_set(&st->tok, "dims", val);
	r |= tensor_meta_setf(&st->tok, "k", "%d", k);
	if (o->reference) {
		r |= tensor_meta_set(&st->tok, "tokenizer", refname[o->reference]);
		if (o->reference == REF_RANDOM)
			r |= tensor_meta_setf(&st->tok, "seed", "%" PRIu64, o->seed);
	} else {
		r |= tensor_meta_set(&st->tok, "centroids", ifile_name(o->centroids));
		r |= tensor_meta_setf(&st->tok, "spherical", "%d", o->spherical);
	}
	if (r < 0)
		die("%s: cannot store the tokens metadata (centroids file name "
		    "with a newline or too long?)", where);

	/* out: the group as it came, less old tokens, then the tokens */
	for (j = 0; j < g->n; j++)
		if (&g->t[j] != old && tsr_write(&st->w, &g->t[j], 1) < 0)
			die("%s", st->w.msg);
	if (tsr_write(&st->w, &st->tok, 0) < 0)
		die("%s", st->w.msg);
	st->groups++;
	st->rows += rows;
}

/* the centroids of -c, ready for the assignment of every group */
static void
prepare_codebook(struct opts *o, struct state *st)
{
	load_centroids(o->centroids, &st->cb);
	if (o->spherical && st->cb.fitted == 0)
		warn("%s: the centroids were fitted with L2 (spherical=0); -p "
		     "assigns by dot product anyway", ifile_name(o->centroids));
	if (st->cb.fitted == 1)
		o->spherical = 1;
	if (o->spherical)
		kmeans_normalize(st->cb.c, st->cb.k, st->cb.d);
	else
		kmeans_norms(st->cb.c, st->cb.k, st->cb.d, st->cb.cnorm);
	if (!(st->ws = kmeans_ws_new(st->cb.k, st->cb.d, o->threads)))
		die("cannot allocate the workspace for K=%d D=%d", st->cb.k,
		    st->cb.d);
}

/* ------------------------------------------------------------------ */

static void
usage(FILE *fp, int status)
{
	fprintf(fp, "usage: %s [-prvz] -c centroids [-f name] [-j threads] "
	            "[-o file] [file]\n"
	            "       %s [-rvz] -R class|random|position [-f name] [-k K] "
	            "[-o file] [-S seed] [file]\n",
	        argv0, argv0);
	exit(status);
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "centroids", required_argument, NULL, 'c' },
		{ "field", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "threads", required_argument, NULL, 'j' },
		{ "clusters", required_argument, NULL, 'k' },
		{ "reference", required_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 'S' },
		{ "output", required_argument, NULL, 'o' },
		{ "spherical", no_argument, NULL, 'p' },
		{ "replace", no_argument, NULL, 'r' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "compress", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	int c, i;

	memset(o, 0, sizeof(*o));
	o->name = "patches";
	o->threads = 1;
	opterr = 0; /* our own messages, without the full argv[0] */
	while ((c = getopt_long(argc, argv, ":c:f:hj:k:o:pR:rS:Vvz", longopts,
	                        NULL)) != -1) {
		switch (c) {
		case 'c': o->centroids = optarg; break;
		case 'f':
			if (!tsr_name_ok(optarg) || !strcmp(optarg, "tokens") ||
			    !strcmp(optarg, TSR_END_NAME)) {
				warn("-f %s: not a tensor name to tokenize", optarg);
				usage(stderr, 2);
			}
			o->name = optarg;
			break;
		case 'h': usage(stdout, 0); break;
		case 'j': o->threads = estrtonum(optarg, 1, 1024, "-j"); break;
		case 'k': o->k = estrtonum(optarg, 1, INT32_MAX, "-k"); break;
		case 'o': o->out = optarg; break;
		case 'p': o->spherical = 1; break;
		case 'R':
			for (i = REF_CLASS; i <= REF_POSITION; i++)
				if (!strcmp(optarg, refname[i]))
					o->reference = i;
			if (!o->reference) {
				warn("-R %s: expected class, random or position", optarg);
				usage(stderr, 2);
			}
			break;
		case 'r': o->replace = 1; break;
		case 'S':
			o->seed = estrtonum(optarg, 0, LLONG_MAX, "-S");
			break;
		case 'V':
			printf("tokenize %s\n", VERSION);
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
	if (!o->centroids == !o->reference) {
		warn(o->reference ? "-c and -R: one tokenizer at a time" :
		                    "-c centroids or -R kind is required");
		usage(stderr, 2);
	}
	if (o->centroids && o->k) {
		warn("-k: the centroids give K (-k is for -R)");
		usage(stderr, 2);
	}
	if (o->spherical && o->reference) {
		warn("-p: for centroids, not -R");
		usage(stderr, 2);
	}
	if (o->centroids && !strcmp(o->centroids, "-") && (!o->in || !strcmp(o->in, "-"))) {
		warn("-c -: the input is already stdin");
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
	double t0, s;
	int rc;

	/* arguments */
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare */
	memset(&st, 0, sizeof(st));
	st.o = &o;
	t0 = monotonic();
	if (o.centroids)
		prepare_codebook(&o, &st);
	st.inname = ifile_name(o.in);
	in = ifile_open(o.in);
	tsr_reader_init(&r, in, st.inname);
	tsr_group_init(&g);
	tensor_init(&st.tok);
	out = ofile_open(o.out, 1);
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	tsr_writer_init(&st.w, out, o.out ? o.out : "<stdout>", o.compress);

	/* process */
	while ((rc = tsr_group_read(&r, &g)) > 0)
		tokenize_group(&st, &g, r.index - g.n - g.havenext);
	if (rc < 0)
		die("%s", r.msg);
	if (tsr_finish(&st.w) < 0)
		die("%s", st.w.msg);
	ofile_close(out);
	if (o.verbose) {
		s = monotonic() - t0;
		if (o.reference)
			fprintf(stderr, "tokenize: %" PRIu64 " groups, %" PRIu64
			        " rows, reference tokenizer %s, %.0f rows/s\n",
			        st.groups, st.rows, refname[o.reference],
			        s > 0 ? st.rows / s : 0.0);
		else
			fprintf(stderr, "tokenize: %" PRIu64 " groups, %" PRIu64
			        " rows, K=%d D=%d%s, %.0f rows/s\n", st.groups,
			        st.rows, st.cb.k, st.cb.d,
			        o.spherical ? " spherical" : "",
			        s > 0 ? st.rows / s : 0.0);
	}

	/* clean up */
	tsr_writer_free(&st.w);
	tsr_group_free(&g);
	tsr_reader_free(&r);
	tensor_free(&st.tok);
	kmeans_ws_free(st.ws);
	free(st.cb.c);
	free(st.cb.cnorm);
	free(st.buf);
	if (in != stdin)
		fclose(in);
	return 0;
}
