/* See LICENSE file for copyright and license details. */
/*
 * mktsr: write a small tensor stream from specs on the command line,
 * for tests.
 *
 *   mktsr [-nz] out [spec | key=value ...]
 *
 * out is a file ("-" for stdout).  Each spec adds one record:
 *
 *   name:dtype:dims[:fill]
 *
 * dtype is u8 i8 u16 i16 u32 i32 u64 i64 f16 bf16 f32 f64; dims is a
 * comma-separated list (empty for a rank-0 scalar, e.g. "s:f32:"); fill
 * is one of
 *
 *   iota          0, 1, 2, ... (the default; integers wrap)
 *   const=V       every element V (V may be nan, inf, -inf)
 *   nan           every element NaN (float dtypes only)
 *   vals=A,B,...  the listed values, repeated as needed
 *   rand=SEED     uniform in [0, 1) (integers: random bits), seeded
 *
 * A key=value argument (the '=' before any ':') adds a meta line to the
 * record before it.  -z compresses every payload; -n leaves out the end
 * record, so the stream looks like one whose producer died.  Values are
 * converted to the dtype with C rules; integer values out of range are
 * an error.  Examples:
 *
 *   mktsr a.tsr patches:f32:2,3,4 batch=0 dims=n,l,d labels:i32:2:vals=3,7
 *   mktsr -z b.tsr x:f16:5:const=0.5 y:u8:300
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor.h"
#include "util.h"

struct opts {
	int compress; /* -z */
	int noend;    /* -n */
	const char *out;
	char **specs;
	int nspecs;
};

static uint16_t
to_half(double d)
{
	float f = d, a;
	uint32_t x, ax, sign, e, m, h, rem;

	memcpy(&x, &f, sizeof(x));
	sign = (x >> 16) & 0x8000;
	ax = x & 0x7fffffff;
	if (ax > 0x7f800000)
		return sign | 0x7e00; /* NaN */
	if (ax >= 0x477ff000)
		return sign | 0x7c00; /* at least 65520 rounds to inf */
	if (ax < 0x38800000) {        /* below 2^-14: subnormal */
		memcpy(&a, &ax, sizeof(a));
		return sign | (uint32_t)lrintf(a * 16777216.0f);
	}
	e = (ax >> 23) - 127 + 15;
	m = ax & 0x7fffff;
	h = e << 10 | m >> 13;
	rem = m & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;
	return sign | h;
}

static uint16_t
to_bf16(double d)
{
	float f = d;
	uint32_t x;

	memcpy(&x, &f, sizeof(x));
	if ((x & 0x7fffffff) > 0x7f800000)
		return (x >> 16) | 0x40;
	return (x + 0x7fff + ((x >> 16) & 1)) >> 16;
}

/* store v as element i of t; -1 if an integer dtype cannot hold it */
static int
store(struct tensor *t, size_t i, double v)
{
	static const double lo[] = {
		[TSR_U8] = 0, [TSR_I8] = -128, [TSR_U16] = 0, [TSR_I16] = -32768,
		[TSR_U32] = 0, [TSR_I32] = -2147483648.0, [TSR_U64] = 0,
		[TSR_I64] = -9223372036854775808.0,
	};
	static const double hi[] = {
		[TSR_U8] = 256, [TSR_I8] = 128, [TSR_U16] = 65536,
		[TSR_I16] = 32768, [TSR_U32] = 4294967296.0,
		[TSR_I32] = 2147483648.0, [TSR_U64] = 18446744073709551616.0,
		[TSR_I64] = 9223372036854775808.0,
	};

	switch (t->dtype) {
	case TSR_F16: ((uint16_t *)t->data)[i] = to_half(v); return 0;
	case TSR_BF16: ((uint16_t *)t->data)[i] = to_bf16(v); return 0;
	case TSR_F32: ((float *)t->data)[i] = v; return 0;
	case TSR_F64: ((double *)t->data)[i] = v; return 0;
	}
	if (!(v >= lo[t->dtype] && v < hi[t->dtype]))
		return -1;
	switch (t->dtype) {
	case TSR_U8: ((uint8_t *)t->data)[i] = v; break;
	case TSR_I8: ((int8_t *)t->data)[i] = v; break;
	case TSR_U16: ((uint16_t *)t->data)[i] = v; break;
	case TSR_I16: ((int16_t *)t->data)[i] = v; break;
	case TSR_U32: ((uint32_t *)t->data)[i] = v; break;
	case TSR_I32: ((int32_t *)t->data)[i] = v; break;
	case TSR_U64: ((uint64_t *)t->data)[i] = v; break;
	case TSR_I64: ((int64_t *)t->data)[i] = v; break;
	}
	return 0;
}

static int
is_float(int dtype)
{
	return dtype == TSR_F16 || dtype == TSR_BF16 || dtype == TSR_F32 ||
	       dtype == TSR_F64;
}

static double
number(const char *s, const char *spec)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || (*end && *end != ','))
		die("%s: '%s' is not a number", spec, s);
	return v;
}

static void
fill(struct tensor *t, const char *how, const char *spec)
{
	size_t n = tensor_count(t), size = tsr_dtype_size(t->dtype), i;
	const char *p;
	struct rng rng;
	uint64_t x;
	double v;

	if (!strcmp(how, "iota")) {
		for (i = 0; i < n; i++) {
			if (is_float(t->dtype)) {
				store(t, i, i);
			} else {
				x = i; /* wraps to the dtype's width */
				memcpy((char *)t->data + i * size, &x, size);
			}
		}
	} else if (!strcmp(how, "nan") || !strncmp(how, "const=", 6)) {
		v = how[0] == 'n' ? NAN : number(how + 6, spec);
		for (i = 0; i < n; i++)
			if (store(t, i, v) < 0)
				die("%s: %s does not fit %s", spec, how,
				    tsr_dtype_name(t->dtype));
	} else if (!strncmp(how, "vals=", 5)) {
		for (p = how + 5, i = 0; i < n; i++) {
			if (store(t, i, number(p, spec)) < 0)
				die("%s: %s does not fit %s", spec, p,
				    tsr_dtype_name(t->dtype));
			p = strchr(p, ',');
			p = p ? p + 1 : how + 5;
		}
	} else if (!strncmp(how, "rand=", 5)) {
		rng_seed(&rng, estrtonum(how + 5, 0, LLONG_MAX, "rand="), 0);
		for (i = 0; i < n; i++) {
			if (is_float(t->dtype)) {
				store(t, i, rng_uniform(&rng));
			} else {
				x = rng_u64(&rng);
				memcpy((char *)t->data + i * size, &x, size);
			}
		}
	} else {
		die("%s: unknown fill '%s' (iota, const=V, nan, vals=A,B,..., "
		    "rand=SEED)", spec, how);
	}
}

/* parse "name:dtype:dims[:fill]" into t */
static void
parse_spec(struct tensor *t, const char *spec)
{
	char buf[1024], *name, *dtype, *dims, *how, *p, *end, msg[256];
	uint64_t d[TSR_MAXRANK];
	int rank = 0, dt;

	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf))
		die("%s: spec too long", spec);
	name = buf;
	if (!(dtype = strchr(name, ':')))
		die("%s: expected name:dtype:dims[:fill]", spec);
	*dtype++ = '\0';
	if (!(dims = strchr(dtype, ':')))
		die("%s: expected name:dtype:dims[:fill]", spec);
	*dims++ = '\0';
	if ((how = strchr(dims, ':')))
		*how++ = '\0';
	else
		how = "iota";
	if (!(dt = tsr_dtype_parse(dtype)))
		die("%s: unknown dtype '%s'", spec, dtype);
	for (p = dims; *p; p = *end ? end + 1 : end) {
		if (rank == TSR_MAXRANK)
			die("%s: more than %d dims", spec, TSR_MAXRANK);
		errno = 0;
		d[rank++] = strtoull(p, &end, 10);
		if (end == p || errno || (*end && *end != ','))
			die("%s: bad dims '%s'", spec, dims);
	}
	if (tensor_shape(t, name, dt, rank, d, msg, sizeof(msg)) < 0)
		die("%s: %s", spec, msg);
	if (!is_float(dt) && !strcmp(how, "nan"))
		die("%s: nan needs a float dtype", spec);
	fill(t, how, spec);
}

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-nz] out [name:dtype:dims[:fill] | "
	                "key=value ...]\n",
	        argv0);
	exit(2);
}

static void
parseargs(int argc, char *argv[], struct opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt(argc, argv, "nz")) != -1) {
		switch (c) {
		case 'n':
			o->noend = 1;
			break;
		case 'z':
			o->compress = 6;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	o->out = argv[optind];
	o->specs = argv + optind + 1;
	o->nspecs = argc - optind - 1;
}

/* a meta argument: "key=value" with the '=' before any ':' */
static int
is_meta(const char *s)
{
	size_t eq = strcspn(s, "="), colon = strcspn(s, ":");

	return s[eq] && eq < colon;
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct tsr_writer w;
	struct tensor t;
	FILE *fp;
	char key[TSR_MAXNAME + 1];
	size_t klen;
	int i, have = 0;

	/* arguments */
	setargv0(argv[0]);
	parseargs(argc, argv, &o);

	/* prepare */
	tensor_init(&t);
	fp = ofile_open(o.out, 1);
	tsr_writer_init(&w, fp, o.out, o.compress);

	/* process: a record is written when the next spec starts */
	for (i = 0; i <= o.nspecs; i++) {
		const char *s = i < o.nspecs ? o.specs[i] : NULL;

		if (s && is_meta(s)) {
			if (!have)
				die("%s: meta before the first record", s);
			klen = strcspn(s, "=");
			if (klen > TSR_MAXNAME)
				die("%s: key too long", s);
			memcpy(key, s, klen);
			key[klen] = '\0';
			if (tensor_meta_set(&t, key, s + klen + 1) < 0)
				die("%s: bad meta (keys are names, values one line)",
				    s);
			continue;
		}
		if (have && tsr_write(&w, &t, 0) < 0)
			die("%s", w.msg);
		if (s)
			parse_spec(&t, s);
		have = 1;
	}
	if (!o.noend && tsr_finish(&w) < 0)
		die("%s", w.msg);

	/* clean up */
	tsr_writer_free(&w);
	tensor_free(&t);
	ofile_close(fp);
	return 0;
}
