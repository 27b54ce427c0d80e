/* See LICENSE file for copyright and license details. */
/*
 * tensorinfo: inspect, compare and export tensor streams.
 *
 * Reads one or more tensor streams (tensor-stream(5)), any records.
 * Default: one text line per record on stdout,
 *   INDEX NAME DTYPE SHAPE CRC FLAGS META...
 * and with -s a statistics line after each (min, max, mean, std over
 * all elements in double; NaN are counted, not summed).
 * -c ref: compares the input with ref record by record (names, dtypes,
 * dims, values within |a-b| <= tol + tol*|b|, meta with -m) and prints
 * the first difference, exiting 1 as cmp(1) does.
 * -x name / -i index: writes the records called name (concatenated
 * along dim 0) or the record at index to -o file as a NumPy .npy file
 * (format 1.0); the header has room for any dim 0 and is rewritten at
 * the end, when the total is known.
 */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "util.h"

#define CHUNK 4096 /* elements converted to double at a time */

struct opts {
	const char *ref;   /* -c: compare with this stream */
	double tol;        /* -t: tolerance for -c */
	int meta;          /* -m: -c compares meta too */
	int stats;         /* -s: a statistics line per record */
	const char *xname; /* -x: export records with this name */
	long long index;   /* -i: export the record at this index; -1 none */
	const char *out;   /* -o: the .npy file for -x and -i */
	char **files;      /* operands; none means stdin */
	int nfiles;
};

/* ------------------------------------------------------------------ */
/* elements as doubles                                                 */

static float half_table[1 << 16];
static int half_ready;

static double
half_to_double(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v;

	if (e == 0)
		v = ldexp(m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexp(m | 0x400, e - 25);
	return (h & 0x8000) ? -v : v;
}

static void
half_init(void)
{
	uint32_t i;

	if (half_ready)
		return;
	for (i = 0; i < LEN(half_table); i++)
		half_table[i] = half_to_double(i);
	half_ready = 1;
}

static int
is_float(int dtype)
{
	return dtype == TSR_F16 || dtype == TSR_BF16 || dtype == TSR_F32 ||
	       dtype == TSR_F64;
}

/* dst[k] = element off + k of data, for k < n */
static void
to_double(const void *data, int dtype, size_t off, size_t n, double *dst)
{
	size_t k;

#define CONV(type)                                                \
	do {                                                      \
		const type *s = (const type *)data + off;         \
		for (k = 0; k < n; k++)                           \
			dst[k] = s[k];                            \
	} while (0)
	switch (dtype) {
	case TSR_U8: CONV(uint8_t); break;
	case TSR_I8: CONV(int8_t); break;
	case TSR_U16: CONV(uint16_t); break;
	case TSR_I16: CONV(int16_t); break;
	case TSR_U32: CONV(uint32_t); break;
	case TSR_I32: CONV(int32_t); break;
	case TSR_U64: CONV(uint64_t); break;
	case TSR_I64: CONV(int64_t); break;
	case TSR_F32: CONV(float); break;
	case TSR_F64: CONV(double); break;
	case TSR_F16: {
		const uint16_t *s = (const uint16_t *)data + off;

		half_init();
		for (k = 0; k < n; k++)
			dst[k] = half_table[s[k]];
		break;
	}
	case TSR_BF16: {
		const uint16_t *s = (const uint16_t *)data + off;
		uint32_t x;
		float f;

		for (k = 0; k < n; k++) {
			x = (uint32_t)s[k] << 16;
			memcpy(&f, &x, sizeof(f));
			dst[k] = f;
		}
		break;
	}
	default:
		for (k = 0; k < n; k++)
			dst[k] = NAN;
	}
#undef CONV
}

/* a double as %.9g (or %.17g for f64), with "nan" never "-nan" */
static const char *
fmt_double(double v, int prec, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "nan");
	else
		snprintf(buf, len, "%.*g", prec, v);
	return buf;
}

/* element i of t, exactly for integers */
static const char *
fmt_elem(const struct tensor *t, size_t i, char *buf, size_t len)
{
	double v;

	switch (t->dtype) {
	case TSR_U64:
		snprintf(buf, len, "%" PRIu64, ((const uint64_t *)t->data)[i]);
		return buf;
	case TSR_I64:
		snprintf(buf, len, "%" PRId64, ((const int64_t *)t->data)[i]);
		return buf;
	}
	to_double(t->data, t->dtype, i, 1, &v);
	return fmt_double(v, t->dtype == TSR_F64 ? 17 : 9, buf, len);
}

/* ------------------------------------------------------------------ */
/* listing                                                             */

static void
print_stats(const struct tensor *t)
{
	double buf[CHUNK], mean = 0, m2 = 0, min = INFINITY, max = -INFINITY;
	double cmean, cm2, sum, d, x;
	uint64_t nnan = 0, ninf = 0, n = 0, cn;
	size_t count = t->nbytes / tsr_dtype_size(t->dtype), off, k, m;
	char s[4][64];

	/* chunks of Welford: each chunk's mean and M2, merged (Chan) */
	for (off = 0; off < count; off += m) {
		m = MIN(count - off, (size_t)CHUNK);
		to_double(t->data, t->dtype, off, m, buf);
		sum = 0;
		cn = 0;
		for (k = 0; k < m; k++) {
			x = buf[k];
			if (isnan(x)) {
				nnan++;
				continue;
			}
			if (isinf(x))
				ninf++;
			if (x < min)
				min = x;
			if (x > max)
				max = x;
			sum += x;
			cn++;
		}
		if (!cn)
			continue;
		cmean = sum / cn;
		cm2 = 0;
		for (k = 0; k < m; k++)
			if (!isnan(buf[k]))
				cm2 += (buf[k] - cmean) * (buf[k] - cmean);
		d = cmean - mean;
		mean += d * cn / (n + cn);
		m2 += cm2 + d * d * ((double)n * cn / (n + cn));
		n += cn;
	}
	if (!n)
		min = max = mean = m2 = NAN;
	printf("  min=%s max=%s mean=%s std=%s nan=%" PRIu64 " inf=%" PRIu64
	       "\n",
	       fmt_double(min, 9, s[0], sizeof(s[0])),
	       fmt_double(max, 9, s[1], sizeof(s[1])),
	       fmt_double(mean, 9, s[2], sizeof(s[2])),
	       fmt_double(n ? sqrt(m2 / n) : NAN, 9, s[3], sizeof(s[3])),
	       nnan, ninf);
}

static void
print_record(uint64_t index, const struct tensor *t, int stats)
{
	char shape[4096];
	const char *p, *nl;

	tensor_shape_str(t, shape, sizeof(shape));
	printf("%" PRIu64 " %s %s %s %08" PRIx32 " %c", index, t->name,
	       tsr_dtype_name(t->dtype), shape, t->crc,
	       (t->flags & TSR_FLAG_ZLIB) ? 'z' : '-');
	for (p = t->meta; p && *p; p = nl + 1) {
		if (!(nl = strchr(p, '\n')))
			nl = p + strlen(p);
		putchar(' ');
		fwrite(p, 1, nl - p, stdout);
		if (!*nl)
			break;
	}
	putchar('\n');
	if (stats)
		print_stats(t);
}

/* list one input; 0 ok, 1 after an error (already reported) */
static int
list(const char *path, const struct opts *o, struct tensor *t)
{
	struct tsr_reader r;
	FILE *fp;
	int ret = 0, n;

	if (!path || !strcmp(path, "-")) {
		fp = stdin;
	} else if (!(fp = fopen(path, "rb"))) {
		fflush(stdout);
		warn("%s:", path);
		return 1;
	}
	tsr_reader_init(&r, fp, ifile_name(path));
	while ((n = tsr_read(&r, t)) > 0)
		print_record(r.index - 1, t, o->stats);
	if (n < 0) {
		fflush(stdout);
		warn("%s", r.msg);
		ret = 1;
	}
	tsr_reader_free(&r);
	if (fp != stdin)
		fclose(fp);
	return ret;
}

/* ------------------------------------------------------------------ */
/* comparing                                                           */

static void
dims_str(int rank, const uint64_t *dims, char *buf, size_t len)
{
	size_t n;
	int i;

	n = snprintf(buf, len, "[");
	for (i = 0; i < rank && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%" PRIu64, i ? "," : "",
		              dims[i]);
	if (n < len)
		snprintf(buf + n, len - n, "]");
}

/* the multi-index of element i, as "[a,b,c]" */
static void
index_str(const struct tensor *t, uint64_t i, char *buf, size_t len)
{
	uint64_t idx[TSR_MAXRANK];
	size_t n;
	int d;

	for (d = t->rank - 1; d >= 0; d--) {
		idx[d] = t->dims[d] ? i % t->dims[d] : 0;
		i = t->dims[d] ? i / t->dims[d] : 0;
	}
	n = snprintf(buf, len, "[");
	for (d = 0; d < t->rank && n < len; d++)
		n += snprintf(buf + n, len - n, "%s%" PRIu64, d ? "," : "",
		              idx[d]);
	if (n < len)
		snprintf(buf + n, len - n, "]");
}

/* index of the first element of a that differs from b, or -1 */
static long long
first_diff(const struct tensor *a, const struct tensor *b, double tol)
{
	double x[CHUNK], y[CHUNK], av, bv;
	size_t size = tsr_dtype_size(a->dtype), count, off, k, m;
	const unsigned char *p = a->data, *q = b->data;

	if (!a->nbytes || !memcmp(a->data, b->data, a->nbytes))
		return -1;
	count = a->nbytes / size;
	if (!is_float(a->dtype) && tol == 0) {
		/* exact: the first differing byte names the element */
		for (k = 0; p[k] == q[k]; k++)
			;
		return k / size;
	}
	for (off = 0; off < count; off += m) {
		m = MIN(count - off, (size_t)CHUNK);
		if (!memcmp(p + off * size, q + off * size, m * size))
			continue;
		to_double(a->data, a->dtype, off, m, x);
		to_double(b->data, b->dtype, off, m, y);
		for (k = 0; k < m; k++) {
			av = x[k];
			bv = y[k];
			if (av == bv || (isnan(av) && isnan(bv)))
				continue;
			if (tol > 0 && fabs(av - bv) <= tol + tol * fabs(bv))
				continue;
			return off + k;
		}
	}
	return -1;
}

/* meta line "key=value" of t for key, or NULL; sets *len */
static const char *
meta_line(const struct tensor *t, const char *key, size_t klen, size_t *len)
{
	const char *p, *nl;

	for (p = t->meta; p && *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			*len = nl - p;
			return p;
		}
		if (!*nl)
			break;
	}
	return NULL;
}

/* print the first meta difference of a from b, 1 if any */
static int
meta_diff(uint64_t i, const struct tensor *a, const struct tensor *b)
{
	const struct tensor *x = a, *y = b;
	const char *p, *nl, *q;
	size_t klen, plen, qlen;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (p = x->meta; p && *p; p = nl + 1) {
			if (!(nl = strchr(p, '\n')))
				nl = p + strlen(p);
			plen = nl - p;
			klen = strcspn(p, "=");
			q = meta_line(y, p, klen, &qlen);
			if (!q || qlen != plen || memcmp(p, q, plen)) {
				printf("record %" PRIu64 " '%s': meta ", i, a->name);
				if (pass == 0)
					printf("%.*s vs %.*s\n", (int)plen, p,
					       q ? (int)qlen : 6, q ? q : "(none)");
				else
					printf("(none) vs %.*s\n", (int)plen, p);
				return 1;
			}
			if (!*nl)
				break;
		}
		x = b;
		y = a;
	}
	return 0;
}

/* count the remaining records of r; -1 on error */
static long long
count_rest(struct tsr_reader *r, struct tensor *t)
{
	int n;

	while ((n = tsr_read(r, t)) > 0)
		;
	return n < 0 ? -1 : (long long)r->index;
}

/* 0 same, 1 different or error */
static int
compare(const char *path, const struct opts *o)
{
	struct tsr_reader ra, rb;
	struct tensor a, b;
	FILE *fa, *fb;
	char s1[4096], s2[4096];
	long long k;
	int na, nb, ret = 1;
	uint64_t i;

	fa = ifile_open(path);
	fb = ifile_open(o->ref);
	tensor_init(&a);
	tensor_init(&b);
	tsr_reader_init(&ra, fa, ifile_name(path));
	tsr_reader_init(&rb, fb, ifile_name(o->ref));
	for (i = 0;; i++) {
		if ((na = tsr_read(&ra, &a)) < 0) {
			warn("%s", ra.msg);
			goto out;
		}
		if ((nb = tsr_read(&rb, &b)) < 0) {
			warn("%s", rb.msg);
			goto out;
		}
		if (!na || !nb) {
			if (na == nb) {
				ret = 0;
				goto out;
			}
			if (na && count_rest(&ra, &a) < 0) {
				warn("%s", ra.msg);
				goto out;
			}
			if (nb && count_rest(&rb, &b) < 0) {
				warn("%s", rb.msg);
				goto out;
			}
			printf("record count: %" PRIu64 " vs %" PRIu64 "\n",
			       ra.index, rb.index);
			goto out;
		}
		if (strcmp(a.name, b.name)) {
			printf("record %" PRIu64 ": name '%s' vs '%s'\n", i, a.name,
			       b.name);
			goto out;
		}
		if (a.dtype != b.dtype) {
			printf("record %" PRIu64 " '%s': dtype %s vs %s\n", i, a.name,
			       tsr_dtype_name(a.dtype), tsr_dtype_name(b.dtype));
			goto out;
		}
		if (a.rank != b.rank ||
		    memcmp(a.dims, b.dims, a.rank * sizeof(a.dims[0]))) {
			dims_str(a.rank, a.dims, s1, sizeof(s1));
			dims_str(b.rank, b.dims, s2, sizeof(s2));
			printf("record %" PRIu64 " '%s': shape %s vs %s\n", i, a.name,
			       s1, s2);
			goto out;
		}
		if ((k = first_diff(&a, &b, o->tol)) >= 0) {
			char idx[256], ts[64];

			index_str(&a, k, idx, sizeof(idx));
			fmt_elem(&a, k, s1, sizeof(s1));
			fmt_elem(&b, k, s2, sizeof(s2));
			printf("record %" PRIu64 " '%s': element %lld %s: %s vs %s "
			       "(tolerance %s)\n",
			       i, a.name, k, idx, s1, s2,
			       fmt_double(o->tol, 9, ts, sizeof(ts)));
			goto out;
		}
		if (o->meta && meta_diff(i, &a, &b))
			goto out;
	}
out:
	tsr_reader_free(&ra);
	tsr_reader_free(&rb);
	tensor_free(&a);
	tensor_free(&b);
	if (fa != stdin)
		fclose(fa);
	if (fb != stdin)
		fclose(fb);
	return ret;
}

/* ------------------------------------------------------------------ */
/* exporting to .npy                                                   */

static const char *
npy_descr(int dtype)
{
	switch (dtype) {
	case TSR_U8: return "|u1";
	case TSR_I8: return "|i1";
	case TSR_U16: return "<u2";
	case TSR_I16: return "<i2";
	case TSR_U32: return "<u4";
	case TSR_I32: return "<i4";
	case TSR_U64: return "<u8";
	case TSR_I64: return "<i8";
	case TSR_F16: return "<f2";
	case TSR_F32: return "<f4";
	case TSR_F64: return "<f8";
	}
	return NULL;
}

/*
 * The NPY 1.0 header for shape (dims[0..n-1]) in buf, padded with
 * spaces to total bytes (magic included) and ended by '\n'; total 0
 * means the smallest multiple of 64.  Returns the length, 0 if it does
 * not fit.
 */
static size_t
npy_header(char *buf, size_t cap, const char *descr, int n,
           const uint64_t *dims, size_t total)
{
	char dict[1024];
	size_t len, hlen;
	int i;

	len = snprintf(dict, sizeof(dict),
	               "{'descr': '%s', 'fortran_order': False, 'shape': (",
	               descr);
	for (i = 0; i < n; i++)
		len += snprintf(dict + len, sizeof(dict) - len, "%s%" PRIu64,
		                i ? ", " : "", dims[i]);
	len += snprintf(dict + len, sizeof(dict) - len, "%s), }",
	                n == 1 ? "," : "");
	if (!total)
		total = (10 + len + 1 + TSR_ALIGN - 1) / TSR_ALIGN * TSR_ALIGN;
	if (total > cap || 10 + len + 1 > total || total - 10 > 65535)
		return 0;
	hlen = total - 10;
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = hlen & 0xff;
	buf[9] = hlen >> 8;
	memcpy(buf + 10, dict, len);
	memset(buf + 10 + len, ' ', hlen - len - 1);
	buf[total - 1] = '\n';
	return total;
}

static void
write_npy_header(FILE *fp, const char *out, int dtype, int n,
                 const uint64_t *dims, size_t total)
{
	char buf[2048];

	if (npy_header(buf, sizeof(buf), npy_descr(dtype), n, dims, total) !=
	    total)
		die("%s: npy header does not fit", out);
	efwrite(buf, total, fp, out);
}

static int
export(const char *path, const struct opts *o)
{
	struct tsr_reader r;
	struct tensor t;
	struct { /* the first exported record */
		char name[TSR_MAXNAME + 1];
		int dtype, rank;
		uint64_t dims[TSR_MAXRANK];
	} first;
	FILE *in, *fp = NULL;
	uint64_t shape[TSR_MAXRANK], dim0 = 0, nrec = 0, big[TSR_MAXRANK];
	size_t hsize = 0;
	char s1[4096], s2[4096], buf[2048];
	const char *what;
	int n, nshape = 0;

	in = ifile_open(path);
	tensor_init(&t);
	memset(&first, 0, sizeof(first));
	tsr_reader_init(&r, in, ifile_name(path));
	while ((n = tsr_read(&r, &t)) > 0) {
		uint64_t idx = r.index - 1;

		if (o->index >= 0) {
			if (idx != (uint64_t)o->index)
				continue;
			if (o->xname && strcmp(t.name, o->xname))
				die("%s: record %" PRIu64 " is '%s', not '%s'", r.name,
				    idx, t.name, o->xname);
		} else if (strcmp(t.name, o->xname)) {
			continue;
		}
		if (!nrec) {
			if (!npy_descr(t.dtype))
				die("%s: record %" PRIu64 " '%s': dtype %s has no NumPy "
				    "equivalent (convert it to f32 first)",
				    r.name, idx, t.name, tsr_dtype_name(t.dtype));
			memcpy(first.name, t.name, sizeof(first.name));
			first.dtype = t.dtype;
			first.rank = t.rank;
			memcpy(first.dims, t.dims, sizeof(first.dims));
			/* room for any dim 0, and for () turning into (k,) */
			nshape = MAX(t.rank, 1);
			memcpy(big, t.dims, sizeof(big));
			big[0] = UINT64_MAX;
			hsize = npy_header(buf, sizeof(buf), npy_descr(t.dtype),
			                   nshape, big, 0);
			if (!hsize)
				die("%s: npy header does not fit", o->out);
			fp = ofile_open(o->out, 1);
			memcpy(shape, t.dims, sizeof(shape));
			write_npy_header(fp, o->out, t.dtype, t.rank, shape, hsize);
		} else {
			if (t.dtype != first.dtype) {
				what = "dtype";
				snprintf(s1, sizeof(s1), "%s", tsr_dtype_name(t.dtype));
				snprintf(s2, sizeof(s2), "%s",
				         tsr_dtype_name(first.dtype));
				goto mismatch;
			}
			if (t.rank != first.rank ||
			    (t.rank && memcmp(t.dims + 1, first.dims + 1,
			                      (t.rank - 1) * sizeof(t.dims[0])))) {
				what = "shape";
				dims_str(t.rank, t.dims, s1, sizeof(s1));
				dims_str(first.rank, first.dims, s2, sizeof(s2));
				goto mismatch;
			}
		}
		if (t.rank) {
			if (dim0 > UINT64_MAX - t.dims[0])
				die("%s: record %" PRIu64 " '%s': dim 0 overflows",
				    r.name, idx, t.name);
			dim0 += t.dims[0];
		}
		nrec++;
		if (t.nbytes)
			efwrite(t.data, t.nbytes, fp, o->out);
		if (o->index >= 0)
			break;
	}
	if (n < 0)
		die("%s", r.msg);
	if (!nrec) {
		if (o->index >= 0)
			die("%s: no record %lld (the input has %" PRIu64 ")", r.name,
			    o->index, r.index);
		die("%s: no record named '%s'", r.name, o->xname);
	}
	/* the real shape: dim 0 summed, or k scalars stacked */
	if (first.rank) {
		shape[0] = dim0;
		nshape = first.rank;
	} else if (nrec > 1) {
		shape[0] = nrec;
		nshape = 1;
	} else {
		nshape = 0;
	}
	if (fseek(fp, 0, SEEK_SET) < 0)
		die("%s: seek:", o->out);
	write_npy_header(fp, o->out, first.dtype, nshape, shape, hsize);
	ofile_close(fp);
	tsr_reader_free(&r);
	tensor_free(&t);
	if (in != stdin)
		fclose(in);
	return 0;
mismatch:
	die("%s: record %" PRIu64 " '%s': %s %s differs from %s of the first "
	    "'%s' record%s",
	    r.name, r.index - 1, t.name, what, s1, s2, first.name,
	    !strcmp(what, "shape") ? " (only dim 0 may differ)" : "");
}

/* ------------------------------------------------------------------ */

static void
usage(FILE *fp, int status)
{
	fprintf(fp, "usage: %s [-hmsV] [-c ref] [-i index] [-o file] "
	            "[-t tol] [-x name] [file ...]\n",
	        argv0);
	exit(status);
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "compare", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "index", required_argument, NULL, 'i' },
		{ "meta", no_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "stats", no_argument, NULL, 's' },
		{ "tolerance", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "export", required_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 }
	};
	int c, tset = 0;

	memset(o, 0, sizeof(*o));
	o->index = -1;
	opterr = 0; /* our own messages, without the full argv[0] */
	while ((c = getopt_long(argc, argv, ":c:hi:mo:st:Vx:", longopts,
	                        NULL)) != -1) {
		switch (c) {
		case 'c':
			o->ref = optarg;
			break;
		case 'h':
			usage(stdout, 0);
			break;
		case 'i':
			o->index = estrtonum(optarg, 0, LLONG_MAX, "-i");
			break;
		case 'm':
			o->meta = 1;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 's':
			o->stats = 1;
			break;
		case 't':
			o->tol = estrtod(optarg, 0, DBL_MAX, "-t");
			tset = 1;
			break;
		case 'V':
			printf("tensorinfo %s\n", VERSION);
			exit(fshut(stdout, "<stdout>"));
		case 'x':
			if (!tsr_name_ok(optarg)) {
				warn("-x %s: not a tensor name", optarg);
				usage(stderr, 2);
			}
			o->xname = optarg;
			break;
		default:
			badopt(c, argv);
			usage(stderr, 2);
		}
	}
	o->files = argv + optind;
	o->nfiles = argc - optind;

	/* modes: list (-s), compare (-c -t -m), export (-x -i -o) */
	if (o->ref && (o->xname || o->index >= 0 || o->out)) {
		warn("-c cannot be combined with -x, -i or -o");
		usage(stderr, 2);
	}
	if ((tset || o->meta) && !o->ref) {
		warn("-t and -m need -c");
		usage(stderr, 2);
	}
	if (o->stats && (o->ref || o->xname || o->index >= 0)) {
		warn("-s only applies to the listing");
		usage(stderr, 2);
	}
	if ((o->xname || o->index >= 0) && !o->out) {
		warn("-x and -i need -o file");
		usage(stderr, 2);
	}
	if (o->out && !o->xname && o->index < 0) {
		warn("-o needs -x or -i");
		usage(stderr, 2);
	}
	if (o->out && !strcmp(o->out, "-")) {
		warn("-o -: an export needs a regular file (its header is "
		     "rewritten at the end)");
		usage(stderr, 2);
	}
	if ((o->ref || o->out) && o->nfiles > 1) {
		warn("-c, -x and -i take at most one input file");
		usage(stderr, 2);
	}
	if (o->ref && !strcmp(o->ref, "-") &&
	    (!o->nfiles || !strcmp(o->files[0], "-"))) {
		warn("-c -: the input is already stdin");
		usage(stderr, 2);
	}
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct tensor t;
	int i, ret = 0;

	/* arguments */
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare */
	tensor_init(&t);

	/* process */
	if (o.ref) {
		ret = compare(o.nfiles ? o.files[0] : NULL, &o);
	} else if (o.out) {
		ret = export(o.nfiles ? o.files[0] : NULL, &o);
	} else if (!o.nfiles) {
		ret = list(NULL, &o, &t);
	} else {
		for (i = 0; i < o.nfiles; i++) {
			if (o.nfiles > 1)
				printf("==> %s <==\n", ifile_name(o.files[i]));
			ret |= list(o.files[i], &o, &t);
		}
	}

	/* clean up */
	tensor_free(&t);
	return fshut(stdout, "<stdout>") | ret;
}
