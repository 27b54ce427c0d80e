/* See LICENSE file for copyright and license details. */
/*
 * probe: judge an encoder by a linear probe and a k-NN classifier.
 *
 * Reads a training stream and a test stream of groups
 * (tensor-stream(5)), each group with
 *
 *	FEATURE  f32 [n, D]  -e, default 'pooled' (encode's output), or
 *	patches  u8/f32 [n, L, P] with -m model: encoded here, FEATURE
 *	                     then 'pooled' or 'cls'
 *	labels   i32 [n]     class ids, 0 or more
 *
 * (groups without labels are skipped), and writes text: one "key
 * value" line each (or with -J one JSON object), in a fixed order.
 *
 * Linear probe (MAE's protocol): every feature standardised with the
 * training set's mean and standard deviation (a BatchNorm without
 * affine, eps 1e-6), then multinomial logistic regression minimising
 * mean cross-entropy + lambda/2 |W|^2 (bias not penalised) by L-BFGS
 * (memory 10) until max |gradient| <= tol: scikit-learn's
 * LogisticRegression(solver='lbfgs') with C = 1 / (lambda n_train).
 * The standardised features are kept as floats, the fit is in double,
 * its objective evaluated on -j threads in one pass over the rows.
 * k-NN (DINO's evaluation): raw features L2-normalised, the k training
 * rows of greatest cosine similarity vote with weight exp(sim / T).
 * Both are deterministic for a fixed thread count.
 */
#include <cblas.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "layers.h"
#include "probe.h"
#include "report.h"
#include "tensor.h"
#include "util.h"
#include "vit.h"

struct opts {
	const char *feature;   /* -e */
	const char *model;     /* -m */
	const char *train, *test;
	double lambda;         /* -l */
	double tol;            /* -t */
	double temp;           /* -T */
	int iters;             /* -i */
	int knn;               /* -k, 0 for none */
	int batch;             /* -b */
	int threads;           /* -j */
	int confusion;         /* -c */
	int json;              /* -J */
	int verbose;           /* -v */
};

/* the features and labels of one stream */
struct set {
	const char *name;
	float *x;              /* (n,D) */
	int32_t *y;            /* (n) */
	size_t n, cap;
	int D;
	int32_t maxy;
};

/* ------------------------------------------------------------------ */
/* input                                                               */

static void
grow(struct set *s, size_t add)
{
	size_t cap = s->cap ? s->cap : 1024;

	if (s->n + add <= s->cap)
		return;
	while (cap < s->n + add)
		cap *= 2;
	s->x = ereallocarray(s->x, cap, (size_t)s->D * sizeof(float));
	s->y = ereallocarray(s->y, cap, sizeof(int32_t));
	s->cap = cap;
}

static void
read_set(struct set *s, const char *path, const struct opts *o,
         struct vit *v)
{
	struct tsr_reader r;
	struct tsr_group g;
	struct tensor *f, *lab;
	FILE *fp = ifile_open(path);
	char where[320], shape[256], msg[256];
	float *xf = NULL, *out;
	size_t xcap = 0, i, n, j;
	int rc, cls = o->model && !strcmp(o->feature, "cls");

	s->name = ifile_name(path);
	s->maxy = -1;
	tsr_reader_init(&r, fp, s->name);
	tsr_group_init(&g);
	while ((rc = tsr_group_read(&r, &g)) > 0) {
		uint64_t base = r.index - g.n - g.havenext;
		const char *fname = o->model ? "patches" : o->feature;

		if (!(lab = tsr_group_find(&g, "labels")))
			continue;
		if (!(f = tsr_group_find(&g, fname))) {
			if (!o->model && tsr_group_find(&g, "patches"))
				die("%s: records %" PRIu64 "-%" PRIu64 ": no '%s' record "
				    "in the group (give -m model to encode the patches)",
				    s->name, base, base + g.n - 1, fname);
			die("%s: records %" PRIu64 "-%" PRIu64 ": no '%s' record in "
			    "the group", s->name, base, base + g.n - 1, fname);
		}
		snprintf(where, sizeof(where), "%s: record %" PRIu64 " '%s'",
		         s->name, base + (uint64_t)(f - g.t), f->name);
		tensor_shape_str(f, shape, sizeof(shape));
		if (o->model) {
			if (encoder_check_patches(v, f, msg, sizeof(msg)) < 0)
				die("%s: %s", where, msg);
			n = f->dims[0];
			if (!s->D)
				s->D = v->c.dim;
		} else {
			if (f->dtype != TSR_F32 || f->rank != 2)
				die("%s: %s %s, expected f32 [n, D]%s", where,
				    tsr_dtype_name(f->dtype), shape,
				    f->rank == 3 ? " (per-patch features: pool them, or "
				    "-e pooled)" : "");
			n = f->dims[0];
			if (f->dims[1] < 1 || f->dims[1] > 1 << 24)
				die("%s: shape %s, expected D from 1 to %d", where, shape,
				    1 << 24);
			if (!s->D)
				s->D = f->dims[1];
			if (f->dims[1] != (uint64_t)s->D)
				die("%s: shape %s, but the first group has D=%d", where,
				    shape, s->D);
		}
		if (lab->dtype != TSR_I32 || lab->rank != 1 || lab->dims[0] != n) {
			tensor_shape_str(lab, shape, sizeof(shape));
			die("%s: record %" PRIu64 " 'labels': %s %s, expected i32 "
			    "[%zu]", s->name, base + (uint64_t)(lab - g.t),
			    tsr_dtype_name(lab->dtype), shape, n);
		}
		grow(s, n);
		out = s->x + s->n * s->D;
		if (o->model) {
			size_t cnt = n * v->L * v->P;

			if (f->dtype == TSR_U8) {
				if (cnt > xcap) {
					free(xf);
					xf = ereallocarray(NULL, cnt, sizeof(float));
					xcap = cnt;
				}
				for (j = 0; j < cnt; j++)
					xf[j] = ((unsigned char *)f->data)[j] / 255.0f;
				encoder_run(v, xf, n, NULL,
				             cls ? NULL : out, cls ? out : NULL);
			} else {
				encoder_run(v, f->data, n, NULL,
				             cls ? NULL : out, cls ? out : NULL);
			}
		} else {
			memcpy(out, f->data, n * s->D * sizeof(float));
		}
		for (i = 0; i < n * s->D; i++)
			if (!isfinite(out[i]))
				die("%s: element %zu [%zu,%zu] is %s%s", where, i,
				    i / s->D, i % s->D, isnan(out[i]) ? "NaN" : "infinite",
				    o->model ? " (encoder output)" : "");
		for (i = 0; i < n; i++) {
			int32_t y = ((int32_t *)lab->data)[i];

			if (y < 0 || y > (1 << 20))
				die("%s: record %" PRIu64 " 'labels': element %zu is %" PRId32
				    ", expected a class id from 0 to %d", s->name,
				    base + (uint64_t)(lab - g.t), i, y, 1 << 20);
			s->y[s->n + i] = y;
			if (y > s->maxy)
				s->maxy = y;
		}
		s->n += n;
	}
	if (rc < 0)
		die("%s", r.msg);
	if (!s->n)
		die("%s: no labelled images (an empty stream, or no 'labels' "
		    "records?)", s->name);
	free(xf);
	tsr_group_free(&g);
	tsr_reader_free(&r);
	if (fp != stdin)
		fclose(fp);
}

/* ------------------------------------------------------------------ */
/* output                                                              */

static struct report out;

/* accuracy, per-class accuracy and the confusion matrix of pred */
static void
accuracy(const char *pre, const struct set *s, const int32_t *pred, int K,
         int confusion)
{
	size_t *cm = ecalloc((size_t)K * K, sizeof(size_t)), i;

	for (i = 0; i < s->n; i++)
		cm[(size_t)s->y[i] * K + pred[i]]++;
	report_accuracy(&out, pre, cm, K, confusion);
	free(cm);
}

/* ------------------------------------------------------------------ */

static void
usage(FILE *fp, int status)
{
	fprintf(fp, "usage: %s [-cJv] [-b batch] [-e feature] [-i iters] "
	            "[-j threads] [-k neighbours] [-l lambda] [-m model] "
	            "[-T temperature] [-t tol] train test\n",
	        argv0);
	exit(status);
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "confusion", no_argument, NULL, 'c' },
		{ "feature", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "iters", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'J' },
		{ "threads", required_argument, NULL, 'j' },
		{ "neighbours", required_argument, NULL, 'k' },
		{ "lambda", required_argument, NULL, 'l' },
		{ "model", required_argument, NULL, 'm' },
		{ "temperature", required_argument, NULL, 'T' },
		{ "tol", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->feature = "pooled";
	o->lambda = 1e-4;
	o->tol = 1e-5;
	o->temp = 0.07;
	o->iters = 1000;
	o->knn = 20;
	o->batch = 64;
	o->threads = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:ce:hi:Jj:k:l:m:T:t:Vv",
	                        longopts, NULL)) != -1) {
		switch (c) {
		case 'b': o->batch = estrtonum(optarg, 1, 1 << 16, "-b"); break;
		case 'c': o->confusion = 1; break;
		case 'e':
			if (!tsr_name_ok(optarg) || !strcmp(optarg, TSR_END_NAME)) {
				warn("-e %s: not a tensor name", optarg);
				usage(stderr, 2);
			}
			o->feature = optarg;
			break;
		case 'h': usage(stdout, 0); break;
		case 'i': o->iters = estrtonum(optarg, 1, 1000000, "-i"); break;
		case 'J': o->json = 1; break;
		case 'j': o->threads = estrtonum(optarg, 1, 1024, "-j"); break;
		case 'k': o->knn = estrtonum(optarg, 0, 1 << 20, "-k"); break;
		case 'l': o->lambda = estrtod(optarg, 0, 1e6, "-l"); break;
		case 'm': o->model = optarg; break;
		case 'T': o->temp = estrtod(optarg, 1e-6, 1e6, "-T"); break;
		case 't': o->tol = estrtod(optarg, 1e-15, 1, "-t"); break;
		case 'V':
			printf("probe %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
		case 'v': o->verbose = 1; break;
		default:
			badopt(c, argv);
			usage(stderr, 2);
		}
	}
	if (argc - optind != 2) {
		warn("expected two operands, the training and the test stream");
		usage(stderr, 2);
	}
	o->train = argv[optind];
	o->test = argv[optind + 1];
	if (!strcmp(o->train, "-") && !strcmp(o->test, "-")) {
		warn("train and test cannot both be stdin");
		usage(stderr, 2);
	}
	if (o->model && strcmp(o->feature, "pooled") &&
	    strcmp(o->feature, "cls")) {
		warn("-e %s: with -m the feature is pooled or cls", o->feature);
		usage(stderr, 2);
	}
	if (o->model && !strcmp(o->model, "-") &&
	    (!strcmp(o->train, "-") || !strcmp(o->test, "-"))) {
		warn("-m -: an input is already stdin");
		usage(stderr, 2);
	}
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct vit v;
	struct set tr, te;
	struct probe_lr lr;
	double *mean, *sd;
	float *xs;
	int32_t *pred;
	char msg[512], miss[512];
	size_t nmiss = 0, i, len = 0;
	int K, c, *intrain;

	/* arguments */
	omp_passive(argv);
	setargv0(argv[0]);
	parseargs(argc, argv, &o);
	report_init(&out, stdout, o.json);

	/* prepare: the encoder's threads as mim-train sets them */
	layers_threads(o.threads);
	memset(&v, 0, sizeof(v));
	if (o.model && encoder_load(&v, o.model, o.batch, msg,
	                                sizeof(msg)) < 0)
		die("%s", msg);
	memset(&tr, 0, sizeof(tr));
	memset(&te, 0, sizeof(te));
	read_set(&tr, o.train, &o, &v);
	read_set(&te, o.test, &o, &v);
	/* then OpenBLAS's own threads for the k-NN similarities */
	openblas_set_num_threads(o.threads);
	if (tr.D != te.D)
		die("%s: features of D=%d, but the training stream's have D=%d",
		    te.name, te.D, tr.D);
	K = MAX(tr.maxy, te.maxy) + 1;
	intrain = ecalloc(K, sizeof(int));
	for (i = 0; i < tr.n; i++)
		intrain[tr.y[i]] = 1;
	miss[0] = '\0';
	for (c = 0; c < K; c++) {
		int seen = 0;

		if (intrain[c])
			continue;
		for (i = 0; i < te.n && !seen; i++)
			seen = te.y[i] == c;
		if (seen && len < sizeof(miss) - 16)
			len += snprintf(miss + len, sizeof(miss) - len, "%s%d",
			                nmiss ? "," : "", c);
		nmiss += seen;
	}
	if (nmiss)
		warn("%s: class%s %s not in the training stream %s (their test "
		     "images count as errors)", te.name, nmiss > 1 ? "es" : "", miss,
		     tr.name);

	/* process */
	report_str(&out, "feature", o.feature);
	report_int(&out, "dim", tr.D);
	report_int(&out, "classes", K);
	report_int(&out, "train.images", (long long)tr.n);
	report_int(&out, "test.images", (long long)te.n);
	if (nmiss)
		report_str(&out, "test.classes_not_in_train", miss);

	mean = ecalloc(tr.D, sizeof(double));
	sd = ecalloc(tr.D, sizeof(double));
	probe_std_fit(tr.x, tr.n, tr.D, mean, sd);
	xs = ereallocarray(NULL, MAX(tr.n, te.n) * tr.D, sizeof(float));
	pred = ereallocarray(NULL, MAX(tr.n, te.n), sizeof(int32_t));
	probe_std_apply(tr.x, tr.n, tr.D, mean, sd, xs);
	if (probe_lr_fit(&lr, xs, tr.y, tr.n, tr.D, K, o.lambda, o.tol, o.iters,
	                 MIN(o.threads, 64), msg, sizeof(msg)) < 0)
		die("linear probe: %s", msg);
	if (!lr.res.converged)
		warn("linear probe: not converged after %d iterations (max "
		     "|gradient| %.3g > -t %g)", lr.res.iters, lr.res.gmax, o.tol);
	if (o.verbose)
		fprintf(stderr, "probe: L-BFGS %d iterations, %d evaluations, loss "
		        "%.6f, max |g| %.3g\n", lr.res.iters, lr.res.evals, lr.res.f,
		        lr.res.gmax);
	report_num(&out, "linear.lambda", "%g", o.lambda);
	report_num(&out, "linear.sklearn_c", "%.9g", 1.0 / (o.lambda * tr.n));
	report_int(&out, "linear.iters", lr.res.iters);
	report_int(&out, "linear.converged", lr.res.converged);
	report_num(&out, "linear.loss", "%.6f", lr.res.f);
	if (probe_lr_predict(&lr, xs, tr.n, pred) < 0)
		die("out of memory");
	accuracy("linear.train", &tr, pred, K, 0);
	probe_std_apply(te.x, te.n, te.D, mean, sd, xs);
	if (probe_lr_predict(&lr, xs, te.n, pred) < 0)
		die("out of memory");
	accuracy("linear.test", &te, pred, K, o.confusion);
	if (o.knn) {
		report_int(&out, "knn.k", MIN((size_t)o.knn, tr.n));
		report_num(&out, "knn.temperature", "%g", o.temp);
		if (probe_knn(tr.x, tr.y, tr.n, te.x, te.n, tr.D, K, o.knn, o.temp,
		              pred) < 0)
			die("k-NN: out of memory for %zu x %zu similarities", te.n,
			    tr.n);
		accuracy("knn.test", &te, pred, K, o.confusion);
	}
	report_end(&out);

	/* clean up */
	probe_lr_free(&lr);
	free(mean), free(sd), free(xs), free(pred), free(intrain);
	free(tr.x), free(tr.y), free(te.x), free(te.y);
	if (o.model)
		vit_free(&v);
	return fshut(stdout, "<stdout>");
}
