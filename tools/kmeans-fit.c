/* See LICENSE file for copyright and license details. */
/*
 * kmeans-fit: K-means centroids of the rows of a tensor stream.
 *
 * Reads a tensor stream (tensor-stream(5)) and clusters the rows of every
 * record named NAME (-f, default "patches"): u8 or f32, leading dims
 * flattened, the last dim is D.  Writes one stream of two records:
 *
 *	centroids  f32 [K, D]   meta tool k d rows algorithm iters|epochs
 *	                        seed init inertia spherical tensor source
 *	counts     i64 [K]      rows nearest to each centroid at the end
 *
 * The algorithms are lib/kmeans_fit.h's: exact Lloyd passes over all
 * rows (default), stopping when the centroids stop moving or the inertia
 * improves by less than -t relative; or scikit-learn's mini-batch update
 * over epochs of shuffled batches.  Seeding: greedy k-means++ or k
 * distinct rows, both on a reservoir sample, or centroids from a file.
 *
 * This file reads the rows.  The first pass reads, checks and counts
 * them, and keeps them in memory while they fit in -m MiB; a regular
 * file that does not fit is read again on every pass, in chunks, so
 * memory does not grow with the number of rows.  Results do not depend
 * on -j, nor on whether the rows were cached or streamed.
 *
 * Under MPI (make MPI=1; mpirun -n N, srun) every rank reads its own
 * input, a shard of the rows (patchify -k RANK/N, or a file each), and
 * the ranks make the fit of all rows in rank order together; rank 0
 * writes the output (-o).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist.h"
#include "kmeans.h"
#include "kmeans_fit.h"
#include "tensor.h"
#include "util.h"

struct opts {
	enum kmeans_algo algo;
	enum kmeans_init init;
	const char *initfile;
	const char *field;
	const char *out;
	const char *in;
	long long batch;
	long epochs, iters;
	long k;          /* 0: from -i FILE */
	long threads;
	long long mib;
	unsigned long long seed;
	double tol;
	int spherical, stream, verbose, compress;
};

struct state {
	struct opts *o;
	struct dist dist;    /* the ranks of the job */
	const char *name;    /* input name for messages */
	FILE *fp;
	int seekable;
	int d, k;
	uint64_t nrows, nrec;

	/* rows kept in memory, or NULL when streaming */
	float *cache;
	size_t cachecap;     /* rows */
	size_t cachemap;     /* bytes mapped by bigmap, or 0: malloc */
	int caching;

	/* the chunk buffer of a streaming pass */
	float *chunk;
	size_t chunkcap;     /* rows */

	float *c;            /* (K, D) the centroids */
	int64_t *counts;     /* (K) */
	double t0;           /* when the tool started */
	struct tensor t;
	struct tsr_reader r;
};

/* ------------------------------------------------------------------ */
/* reading rows                                                        */

/* rows of a record: leading dims flattened; the last dim is D */
static uint64_t
record_rows(const struct tensor *t)
{
	uint64_t n = 1;
	int i;

	for (i = 0; i + 1 < t->rank; i++)
		n *= t->dims[i];
	return n;
}

/* check a record named -f and learn or check D */
static void
check_record(struct state *st, const struct tensor *t, uint64_t index)
{
	int d;

	if (t->dtype != TSR_U8 && t->dtype != TSR_F32)
		die("%s: record %" PRIu64 " '%s': dtype %s, expected u8 or f32",
		    st->name, index, t->name, tsr_dtype_name(t->dtype));
	if (t->rank == 0)
		die("%s: record %" PRIu64 " '%s': a scalar has no rows (rank 0)",
		    st->name, index, t->name);
	if (t->dims[t->rank - 1] > INT_MAX / 64 || t->dims[t->rank - 1] == 0)
		die("%s: record %" PRIu64 " '%s': last dim %" PRIu64
		    " is not a usable row length",
		    st->name, index, t->name, t->dims[t->rank - 1]);
	d = (int)t->dims[t->rank - 1];
	if (!st->d) {
		st->d = d;
	} else if (d != st->d) {
		die("%s: record %" PRIu64 " '%s': rows of D=%d, but earlier rows "
		    "have D=%d",
		    st->name, index, t->name, d, st->d);
	}
}

/* rows [r0, r0+n) of record t as f32 into dst, checked finite */
static void
convert(struct state *st, const struct tensor *t, uint64_t index,
        uint64_t r0, size_t n, float *dst)
{
	size_t i, m = n * st->d, off = r0 * st->d;

	if (t->dtype == TSR_U8) {
		const unsigned char *s = (const unsigned char *)t->data + off;

		for (i = 0; i < m; i++)
			dst[i] = s[i];
		return;
	}
	memcpy(dst, (const float *)t->data + off, m * sizeof(*dst));
	for (i = 0; i < m; i++)
		if (!isfinite(dst[i]))
			die("%s: record %" PRIu64 " '%s': %s at row %" PRIu64
			    ", column %zu (K-means needs finite values)",
			    st->name, index, t->name,
			    isnan(dst[i]) ? "NaN" : dst[i] > 0 ? "+Inf" : "-Inf",
			    r0 + i / st->d, i % st->d);
}

static void
drop_cache(struct state *st)
{
	if (st->cachemap)
		bigunmap(st->cache, st->cachemap);
	else
		free(st->cache);
	st->cache = NULL;
	st->cachemap = 0;
	st->cachecap = 0;
}

static void
open_input(struct state *st)
{
	struct stat sb;

	st->fp = ifile_open(st->o->in);
	st->seekable = fstat(fileno(st->fp), &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * The first pass: read and check every row, count them, and keep them
 * in st->cache while they fit.  Over several ranks, a rank's input may
 * hold no rows (an empty shard).
 */
static void
first_pass(struct state *st)
{
	struct opts *o = st->o;
	uint64_t index, n, limit = (uint64_t)o->mib << 20;
	float *buf = NULL, *rows = NULL;
	size_t cap = 0;
	int rc;

	st->caching = !o->stream;
	if (o->stream && !st->seekable)
		die("%s: -s needs a regular file, not a pipe or terminal",
		    st->name);
	tsr_reader_init(&st->r, st->fp, st->name);
	while ((rc = tsr_read(&st->r, &st->t)) > 0) {
		index = st->r.index - 1;
		if (strcmp(st->t.name, o->field))
			continue;
		check_record(st, &st->t, index);
		st->nrec++;
		if (!(n = record_rows(&st->t)))
			continue;
		if (st->caching) {
			if ((st->nrows + n) * st->d * sizeof(float) > limit) {
				if (!st->seekable)
					die("%s: more than %lld MiB of rows: give a file, or "
					    "raise -m",
					    st->name, o->mib);
				drop_cache(st);
				st->caching = 0;
			} else {
				if (!st->cache && (st->cache = bigmap(limit))) {
					st->cachemap = limit;
					st->cachecap = limit / (st->d * sizeof(float));
				}
				if (st->nrows + n > st->cachecap) {
					st->cachecap = MAX(st->nrows + n, 2 * st->cachecap);
					if ((uint64_t)st->cachecap * st->d * sizeof(float) >
					    limit)
						st->cachecap = limit / (st->d * sizeof(float));
					st->cache = ereallocarray(st->cache,
					                          st->cachecap * st->d,
					                          sizeof(float));
				}
				rows = st->cache + st->nrows * st->d;
			}
		}
		if (!st->caching) {
			if (n * st->d > cap)
				buf = ereallocarray(buf, cap = n * st->d, sizeof(float));
			rows = buf;
		}
		convert(st, &st->t, index, 0, n, rows);
		if (o->spherical)
			kmeans_normalize(rows, n, st->d);
		st->nrows += n;
	}
	if (rc < 0)
		die("%s", st->r.msg);
	free(buf);
	tsr_reader_free(&st->r);

	if (!st->r.index && st->dist.size == 1)
		die("%s: empty stream: no rows to cluster", st->name);
	if (!st->nrec && st->r.index)
		die("%s: no record named '%s' in %" PRIu64 " records (-f names the "
		    "tensor)",
		    st->name, o->field, st->r.index);
	if (!st->nrows && st->dist.size == 1)
		die("%s: no rows: every '%s' record is empty", st->name, o->field);
}

/*
 * The rows of every rank: their number, and one D (a rank without rows
 * takes the others').  Returns the rows of all ranks.
 */
static uint64_t
agree(struct state *st)
{
	int64_t v[2] = { (int64_t)st->nrows, st->d }, dmin = st->nrows ? st->d :
	                 INT_MAX;
	char msg[256];

	if (dist_sum_i64(&st->dist, v, 1, msg, sizeof(msg)) < 0 ||
	    dist_max_i64(&st->dist, v + 1, 1, msg, sizeof(msg)) < 0 ||
	    dist_min_i64(&st->dist, &dmin, 1, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (!v[0])
		die("no rows to cluster in the inputs of the %d ranks",
		    st->dist.size);
	if (dmin != v[1])
		die("%s: rows of D=%d, but another rank's rows have D=%d", st->name,
		    st->d == (int)dmin ? (int)dmin : (int)v[1],
		    st->d == (int)dmin ? (int)v[1] : (int)dmin);
	st->d = (int)v[1];
	return (uint64_t)v[0];
}

/* rewind a file for another pass */
static void
rewind_input(struct state *st)
{
	if (fseeko(st->fp, 0, SEEK_SET) < 0)
		die("%s: seek:", st->name);
	clearerr(st->fp);
	tsr_reader_init(&st->r, st->fp, st->name);
}

/*
 * A pass over the rows of a file read again (struct kmeans_rows): in
 * chunks of chunkrows (the last shorter), fn(arg, rows, n, first) with
 * first the index of rows[0]; -1 if fn says stop.
 */
static int
each_chunk(void *src, size_t chunkrows, kmeans_chunk_fn *fn, void *arg,
           char *msg, size_t msglen)
{
	struct state *st = src;
	uint64_t index, n, r0, first = 0;
	size_t fill = 0, m;
	int rc;

	if (chunkrows > st->chunkcap)
		st->chunk = ereallocarray(st->chunk, (st->chunkcap = chunkrows) *
		                          st->d, sizeof(float));
	rewind_input(st);
	while ((rc = tsr_read(&st->r, &st->t)) > 0) {
		index = st->r.index - 1;
		if (strcmp(st->t.name, st->o->field))
			continue;
		check_record(st, &st->t, index);
		n = record_rows(&st->t);
		for (r0 = 0; r0 < n; r0 += m) {
			m = MIN(n - r0, chunkrows - fill);
			if (first + fill + m > st->nrows)
				die("%s: changed while being read: more than %" PRIu64
				    " rows", st->name, st->nrows);
			convert(st, &st->t, index, r0, m, st->chunk + fill * st->d);
			if (st->o->spherical)
				kmeans_normalize(st->chunk + fill * st->d, m, st->d);
			fill += m;
			if (fill == chunkrows) {
				if (fn(arg, st->chunk, fill, first, msg, msglen) < 0)
					return -1;
				first += fill;
				fill = 0;
			}
		}
	}
	if (rc < 0)
		die("%s", st->r.msg);
	tsr_reader_free(&st->r);
	if (first + fill != st->nrows)
		die("%s: changed while being read: %" PRIu64 " rows, then %" PRIu64,
		    st->name, st->nrows, first + fill);
	return fill ? fn(arg, st->chunk, fill, first, msg, msglen) : 0;
}

/* ------------------------------------------------------------------ */
/* the centroids                                                       */

/* read the centroids of -i FILE into st->c; sets st->k */
static void
read_init(struct state *st)
{
	const char *path = st->o->initfile;
	struct tsr_reader r;
	struct tensor t;
	FILE *fp;
	uint64_t index;
	size_t i, m;
	int rc;

	fp = ifile_open(path);
	tensor_init(&t);
	tsr_reader_init(&r, fp, ifile_name(path));
	while ((rc = tsr_read(&r, &t)) > 0)
		if (!strcmp(t.name, "centroids"))
			break;
	if (rc < 0)
		die("%s", r.msg);
	if (rc == 0)
		die("%s: no record named 'centroids'", ifile_name(path));
	index = r.index - 1;
	if (t.dtype != TSR_F32 || t.rank != 2 || !t.dims[0] || !t.dims[1] ||
	    t.dims[0] > INT_MAX || t.dims[1] > INT_MAX)
		die("%s: record %" PRIu64 " 'centroids': expected f32 [K, D], K "
		    "and D at least 1",
		    ifile_name(path), index);
	if (st->o->k && (uint64_t)st->o->k != t.dims[0])
		die("%s: record %" PRIu64 " 'centroids': %" PRIu64 " centroids, "
		    "but -k %ld",
		    ifile_name(path), index, t.dims[0], st->o->k);
	st->k = (int)t.dims[0];
	st->d = (int)t.dims[1]; /* checked against the rows later */
	m = (size_t)st->k * st->d;
	st->c = ereallocarray(NULL, m, sizeof(float));
	memcpy(st->c, t.data, m * sizeof(float));
	for (i = 0; i < m; i++)
		if (!isfinite(st->c[i]))
			die("%s: record %" PRIu64 " 'centroids': %s at row %zu, column "
			    "%zu",
			    ifile_name(path), index, isnan(st->c[i]) ? "NaN" : "Inf",
			    i / st->d, i % st->d);
	tsr_reader_free(&r);
	tensor_free(&t);
	if (fp != stdin)
		fclose(fp);
}

static void
write_output(struct state *st, const struct kmeans_fit_result *res)
{
	struct opts *o = st->o;
	struct tsr_writer w;
	struct tensor c, n;
	uint64_t cd[2] = { st->k, st->d }, nd[1] = { st->k };
	char msg[256];
	FILE *fp;

	tensor_init(&c);
	tensor_init(&n);
	if (tensor_shape(&c, "centroids", TSR_F32, 2, cd, msg, sizeof(msg)) < 0 ||
	    tensor_shape(&n, "counts", TSR_I64, 1, nd, msg, sizeof(msg)) < 0)
		die("%s", msg);
	memcpy(c.data, st->c, c.nbytes);
	memcpy(n.data, st->counts, n.nbytes);
	tensor_meta_setf(&c, "tool", "kmeans-fit/%s", VERSION);
	tensor_meta_set(&c, "dims", "k,d");
	tensor_meta_setf(&c, "k", "%d", st->k);
	tensor_meta_setf(&c, "d", "%d", st->d);
	tensor_meta_setf(&c, "rows", "%" PRIu64, res->rows);
	tensor_meta_set(&c, "algorithm", o->algo == KMEANS_LLOYD ? "lloyd" :
	                "minibatch");
	if (o->algo == KMEANS_LLOYD) {
		tensor_meta_setf(&c, "iters", "%ld", res->iters);
		tensor_meta_setf(&c, "converged", "%d", res->converged);
	} else {
		tensor_meta_setf(&c, "epochs", "%ld", o->epochs);
		tensor_meta_setf(&c, "batch_size", "%lld", o->batch);
	}
	tensor_meta_setf(&c, "seed", "%llu", o->seed);
	if (o->init == KMEANS_GIVEN) {
		if (tensor_meta_set(&c, "init", o->initfile) < 0)
			tensor_meta_set(&c, "init", "file");
	} else {
		tensor_meta_set(&c, "init",
		                o->init == KMEANS_PLUSPLUS ? "plusplus" : "random");
	}
	tensor_meta_setf(&c, "inertia", "%.17g", res->inertia);
	tensor_meta_setf(&c, "spherical", "%d", o->spherical);
	tensor_meta_set(&c, "tensor", o->field);
	if (tensor_meta_set(&c, "source", st->name) < 0)
		tensor_meta_set(&c, "source", "?");
	tensor_meta_set(&n, "dims", "k");

	fp = ofile_open(o->out, 1);
	tsr_writer_init(&w, fp, o->out ? o->out : "<stdout>", o->compress);
	if (tsr_write(&w, &c, 0) < 0 || tsr_write(&w, &n, 0) < 0 ||
	    tsr_finish(&w) < 0)
		die("%s", w.msg);
	ofile_close(fp);
	tsr_writer_free(&w);
	tensor_free(&c);
	tensor_free(&n);
}

/* ------------------------------------------------------------------ */

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: %s [-psvz] [-a algorithm] [-b batch] [-e epochs] "
	        "[-f name] [-i init] [-j threads] [-k clusters] [-m MiB] "
	        "[-n iters] [-o file] [-S seed] [-t tol] [file]\n",
	        argv0);
	exit(status);
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "algorithm", required_argument, NULL, 'a' },
		{ "batch", required_argument, NULL, 'b' },
		{ "epochs", required_argument, NULL, 'e' },
		{ "field", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "init", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 'j' },
		{ "clusters", required_argument, NULL, 'k' },
		{ "memory", required_argument, NULL, 'm' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "spherical", no_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'S' },
		{ "stream", no_argument, NULL, 's' },
		{ "tolerance", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "compress", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	long ncpu;
	int ch, bset = 0, eset = 0, nset = 0, tset = 0;

	memset(o, 0, sizeof(*o));
	o->algo = KMEANS_LLOYD;
	o->init = KMEANS_PLUSPLUS;
	o->field = "patches";
	o->batch = 256 * 196;
	o->epochs = 10;
	o->iters = 100;
	o->tol = 1e-4;
	o->mib = 4096;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = ncpu < 1 ? 1 : ncpu > 256 ? 256 : ncpu;
	opterr = 0; /* our own messages, without the full argv[0] */
	while ((ch = getopt_long(argc, argv, ":a:b:e:f:hi:j:k:m:n:o:pS:st:vVz",
	                         longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (!strcmp(optarg, "lloyd"))
				o->algo = KMEANS_LLOYD;
			else if (!strcmp(optarg, "minibatch"))
				o->algo = KMEANS_MINIBATCH;
			else
				udie("-a %s: expected lloyd or minibatch", optarg);
			break;
		case 'b':
			o->batch = estrtonum(optarg, 1, 1 << 24, "-b");
			bset = 1;
			break;
		case 'e':
			o->epochs = estrtonum(optarg, 1, 1 << 20, "-e");
			eset = 1;
			break;
		case 'f':
			if (!tsr_name_ok(optarg))
				udie("-f %s: not a tensor name", optarg);
			o->field = optarg;
			break;
		case 'h':
			usage(0);
			break;
		case 'i':
			if (!strcmp(optarg, "plusplus")) {
				o->init = KMEANS_PLUSPLUS;
			} else if (!strcmp(optarg, "random")) {
				o->init = KMEANS_RANDOM;
			} else {
				o->init = KMEANS_GIVEN;
				o->initfile = optarg;
			}
			break;
		case 'j':
			o->threads = estrtonum(optarg, 1, 256, "-j");
			break;
		case 'k':
			o->k = estrtonum(optarg, 1, 1 << 24, "-k");
			break;
		case 'm':
			o->mib = estrtonum(optarg, 0, 1LL << 40, "-m");
			break;
		case 'n':
			o->iters = estrtonum(optarg, 0, 1 << 24, "-n");
			nset = 1;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'p':
			o->spherical = 1;
			break;
		case 'S':
			o->seed = estrtonum(optarg, 0, LLONG_MAX, "-S");
			break;
		case 's':
			o->stream = 1;
			break;
		case 't':
			o->tol = estrtod(optarg, 0, 1, "-t");
			tset = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'V':
			printf("kmeans-fit %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
		case 'z':
			o->compress = 6;
			break;
		default:
			badopt(ch, argv);
			usage(2);
		}
	}
	if (argc - optind > 1) {
		warn("%s: one input at most", argv[optind + 1]);
		usage(2);
	}
	o->in = optind < argc ? argv[optind] : NULL;
	if (!o->k && o->init != KMEANS_GIVEN) {
		warn("-k: the number of clusters is required (or -i FILE)");
		usage(2);
	}
	if (o->algo == KMEANS_LLOYD && (bset || eset))
		udie("-b and -e are for -a minibatch (Lloyd takes -n)");
	if (o->algo == KMEANS_MINIBATCH && (nset || tset))
		udie("-n and -t are for -a lloyd (mini-batch takes -e)");
	if (o->init == KMEANS_GIVEN && o->in && !strcmp(o->initfile, o->in) &&
	    !strcmp(o->in, "-"))
		udie("-i -: the input is already stdin");
}

/* -v: the fit's progress, from rank 0 */
static void
progress(void *arg, const struct kmeans_progress *p)
{
	const struct state *st = arg;
	const char *what = p->event == KMEANS_EPOCH ? "epoch" : "iteration";

	switch (p->event) {
	case KMEANS_SEEDED:
		fprintf(stderr, "kmeans-fit: %s init on %zu rows, %.3f s\n",
		        st->o->init == KMEANS_PLUSPLUS ? "k-means++" : "random",
		        p->nsample, monotonic() - st->t0);
		return;
	case KMEANS_ITERATION:
		fprintf(stderr, "kmeans-fit: iteration %ld: inertia %.17g, %" PRIu64
		        " labels changed, %.3f s\n", p->it, p->inertia, p->changed,
		        p->seconds);
		break;
	case KMEANS_EPOCH:
		fprintf(stderr, "kmeans-fit: epoch %ld: inertia %.17g (over the "
		        "batches), %.3f s\n", p->it, p->inertia, p->seconds);
		break;
	}
	if (p->reseeded)
		fprintf(stderr, "kmeans-fit: %s %ld: %d empty clusters re-seeded "
		        "with the farthest rows\n", what, p->it, p->reseeded);
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct state st;
	struct kmeans_fit_opts fo;
	struct kmeans_fit_result res;
	struct kmeans_rows rows;
	struct kmeans_ws *ws;
	const char *env;
	char msg[256];
	uint64_t total;
	int kernel, dinit = 0;

	/* arguments */
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare: the ranks (one without MPI); rank 0 writes */
	memset(&st, 0, sizeof(st));
	st.t0 = monotonic();
	if (dist_init(&st.dist, &argc, &argv, msg, sizeof(msg)) < 0)
		die("%s", msg);
	dist_name(&st.dist);
	if (st.dist.size > 1 && (!o.out || !strcmp(o.out, "-")))
		udie("-o: %d ranks write their centroids to a file; give -o",
		     st.dist.size);
	st.o = &o;
	st.name = ifile_name(o.in);
	tensor_init(&st.t);
	if (!o.out && isatty(1))
		die("refusing to write binary tensor stream to a terminal");
	if (o.init == KMEANS_GIVEN) {
		read_init(&st);
		dinit = st.d;
		st.d = 0;
	} else {
		st.k = o.k;
	}
	open_input(&st);

	/* the first pass: check, count, cache */
	first_pass(&st);
	total = agree(&st);
	if ((uint64_t)st.k > total)
		die("-k %d: more than the %" PRIu64 " rows of '%s'%s", st.k, total,
		    o.field, st.dist.size > 1 ? " on all ranks" : "");
	if (dinit && dinit != st.d)
		die("%s: centroids of D=%d, but the rows of '%s' have D=%d",
		    ifile_name(o.initfile), dinit, o.field, st.d);
	if (o.verbose) /* every rank's input */
		fprintf(stderr, "%s: %s: %" PRIu64 " rows of D=%d in %" PRIu64
		        " records, %s, %.3f s\n", argv0,
		        st.name, st.nrows, st.d, st.nrec,
		        st.cache ? "kept in memory" : "read again each pass",
		        monotonic() - st.t0);
	if (!(ws = kmeans_ws_new(st.k, st.d, (int)o.threads)))
		die("cannot set up K-means for K=%d, D=%d, %ld threads", st.k, st.d,
		    o.threads);
	if ((env = getenv("MIM_KMEANS_KERNEL")) && *env) {
		if ((kernel = kmeans_kernel_parse(env)) < 0 ||
		    kmeans_ws_set_kernel(ws, kernel) < 0)
			die("MIM_KMEANS_KERNEL=%s: expected auto, blas, avx2 or avx512 "
			    "(one this CPU runs)", env);
	}
	if (!st.c)
		st.c = ereallocarray(NULL, (size_t)st.k * st.d, sizeof(float));
	st.counts = ecalloc(st.k, sizeof(*st.counts));
	if (o.init == KMEANS_GIVEN && o.spherical)
		kmeans_normalize(st.c, st.k, st.d);

	/* process */
	memset(&fo, 0, sizeof(fo));
	fo.k = st.k;
	fo.algo = o.algo;
	fo.init = o.init;
	fo.spherical = o.spherical;
	fo.iters = o.iters;
	fo.tol = o.tol;
	fo.epochs = o.epochs;
	fo.batch = o.batch;
	fo.seed = o.seed;
	fo.ws = ws;
	fo.dist = &st.dist;
	fo.report = o.verbose && st.dist.rank == 0 ? progress : NULL;
	fo.arg = &st;
	memset(&rows, 0, sizeof(rows));
	rows.n = st.nrows;
	rows.d = st.d;
	rows.all = st.cache;
	rows.each = each_chunk;
	rows.src = &st;
	if (kmeans_fit(&fo, &rows, st.c, st.counts, &res, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (o.verbose && st.dist.rank == 0)
		fprintf(stderr, "kmeans-fit: final inertia %.17g, %.3f s (%s kernel, "
		        "%ld thread%s)\n",
		        res.inertia, monotonic() - st.t0,
		        kmeans_kernel_name(kmeans_ws_kernel(ws)), o.threads,
		        o.threads > 1 ? "s" : "");
	if (st.dist.rank == 0)
		write_output(&st, &res);

	/* clean up */
	kmeans_ws_free(ws);
	if (st.fp != stdin)
		fclose(st.fp);
	drop_cache(&st);
	free(st.chunk);
	free(st.c);
	free(st.counts);
	tensor_free(&st.t);
	if (dist_finalize(&st.dist) < 0)
		die("MPI_Finalize failed");
	return fshut(stdout, "<stdout>");
}
