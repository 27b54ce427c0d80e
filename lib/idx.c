/* See LICENSE file for copyright and license details. */
/*
 * idx: read IDX files through zlib's gzread; see idx.h for the contract.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"
#include "util.h"

enum {
	GZBUF = 128 * 1024,       /* zlib's input buffer */
	/*
	 * The first data allocation: the whole size the header gives, up to
	 * this; larger sizes double from here as the data arrives (glibc
	 * moves large blocks by remapping, not copying), so a lying header
	 * costs neither memory nor address space.
	 */
	FIRSTBUF = 1 << 20,
	MAXCHUNK = 1 << 30        /* gzread takes an unsigned, returns an int */
};

#define MAGIC_WANT "expected 00 00 08 0N"

struct gzin {
	gzFile gz;
	char name[32]; /* the name zlib puts in front of its messages */
	const char *path;
};

/* ------------------------------------------------------------ helpers */

static int
isstdin(const char *path)
{
	return !path || strcmp(path, "-") == 0;
}

static int
gzin_open(struct gzin *in, const char *path, char *msg, size_t msglen)
{
	int fd;

	memset(in, 0, sizeof(*in));
	errno = 0;
	if (isstdin(path)) {
		/* a copy, so that gzclose leaves the caller's stdin open */
		if ((fd = dup(0)) < 0) {
			errf(msg, msglen, "%s", strerror(errno));
			return -1;
		}
		snprintf(in->name, sizeof(in->name), "<fd:%d>", fd);
		in->path = in->name;
		if (!(in->gz = gzdopen(fd, "rb")))
			close(fd);
	} else {
		in->path = path;
		in->gz = gzopen(path, "rb");
	}
	if (!in->gz) {
		errf(msg, msglen, "%s",
		     errno ? strerror(errno) : "out of memory");
		return -1;
	}
	gzbuffer(in->gz, GZBUF);
	return 0;
}

/* zlib's message for the last error, without the "path: " it prepends */
static const char *
gzin_error(struct gzin *in, int *errp)
{
	const char *s;
	size_t n = strlen(in->path);
	int err;

	s = gzerror(in->gz, &err);
	if (errp)
		*errp = err;
	if (err == Z_ERRNO)
		return strerror(errno);
	if (strncmp(s, in->path, n) == 0 && strncmp(s + n, ": ", 2) == 0)
		s += n + 2;
	return *s ? s : "unknown zlib error";
}

/* read up to len bytes into buf; *got says how many; 0, or -1 on error */
static int
gzin_read(struct gzin *in, unsigned char *buf, size_t len, size_t *got)
{
	size_t want;
	int r;

	*got = 0;
	while (*got < len) {
		want = len - *got;
		if (want > MAXCHUNK)
			want = MAXCHUNK;
		if ((r = gzread(in->gz, buf + *got, (unsigned)want)) < 0)
			return -1;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static const char *
tname(int t)
{
	switch (t) {
	case 0x08: return "u8";
	case 0x09: return "i8";
	case 0x0B: return "i16";
	case 0x0C: return "i32";
	case 0x0D: return "f32";
	case 0x0E: return "f64";
	}
	return NULL;
}

/* "60000x28x28" */
static void
fmtdims(char *s, size_t len, const struct idx *x)
{
	size_t off = 0;
	int i, k;

	s[0] = 0;
	for (i = 0; i < x->rank && off < len; i++) {
		k = snprintf(s + off, len - off, "%s%lu", i ? "x" : "",
		             (unsigned long)x->dims[i]);
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

/* ---------------------------------------------------------------- load */

static int
load(struct gzin *in, struct idx *x, uint64_t limit, char *msg,
     size_t msglen)
{
	unsigned char hdr[4 + 4 * IDX_MAXRANK], *p, c;
	char dims[64];
	const char *s;
	size_t got, hlen, total, cap, n;
	int i, err, part = 0;

	/* magic: 00 00 type rank */
	if (gzin_read(in, hdr, 4, &got) < 0)
		goto ioerr;
	if (got == 0) {
		errf(msg, msglen, "empty input, " MAGIC_WANT);
		return -1;
	}
	if (got < 4) {
		errf(msg, msglen, "truncated header: got %zu of 4 bytes",
		     got);
		return -1;
	}
	if (hdr[0] != 0 || hdr[1] != 0 || !tname(hdr[2])) {
		errf(msg, msglen,
		     "bad IDX magic %02x %02x %02x %02x, " MAGIC_WANT, hdr[0],
		     hdr[1], hdr[2], hdr[3]);
		return -1;
	}
	if (hdr[2] != 0x08) {
		errf(msg, msglen,
		     "unsupported IDX type 0x%02x (%s), expected 0x08 (u8)",
		     hdr[2], tname(hdr[2]));
		return -1;
	}
	if (hdr[3] < 1 || hdr[3] > IDX_MAXRANK) {
		errf(msg, msglen, "unsupported IDX rank %d, expected 1..%d",
		     hdr[3], IDX_MAXRANK);
		return -1;
	}
	x->rank = hdr[3];

	/* dims, big-endian */
	hlen = 4 + 4 * (size_t)x->rank;
	if (gzin_read(in, hdr + 4, hlen - 4, &got) < 0)
		goto ioerr;
	if (got < hlen - 4) {
		errf(msg, msglen, "truncated header: got %zu of %zu bytes",
		     4 + got, hlen);
		return -1;
	}
	total = 1;
	for (i = 0; i < x->rank; i++)
		x->dims[i] = be32(hdr + 4 + 4 * i);
	fmtdims(dims, sizeof(dims), x);
	for (i = 0; i < x->rank; i++) {
		if (x->dims[i] && total > SIZE_MAX / x->dims[i]) {
			errf(msg, msglen, "IDX dims %s: size overflows",
			     dims);
			return -1;
		}
		total *= x->dims[i];
	}
	x->whole = x->dims[0];
	if (limit && limit < x->dims[0]) {
		/* the first limit items only: the rest is never read */
		total = total / x->dims[0] * limit;
		x->dims[0] = (uint32_t)limit;
		part = 1;
	}

	/* data: grow as it arrives (see FIRSTBUF), never beyond the header */
	n = 0;
	cap = 0;
	while (n < total) {
		if (n == cap) {
			cap = cap ? (cap > total / 2 ? total : cap * 2) :
			            (total < FIRSTBUF ? total : FIRSTBUF);
			if (!(p = realloc(x->data, cap))) {
				errf(msg, msglen, "out of memory (%zu bytes)",
				     cap);
				return -1;
			}
			x->data = p;
		}
		if (gzin_read(in, x->data + n, cap - n, &got) < 0)
			goto ioerr;
		n += got;
		if (n < cap)
			break; /* end of input */
	}
	if (n < total) {
		s = gzin_error(in, &err);
		if (err != Z_OK)
			errf(msg, msglen,
			     "truncated: got %zu of %zu bytes for dims %s (%s)",
			     n, total, dims, s);
		else
			errf(msg, msglen,
			     "truncated: got %zu of %zu bytes for dims %s", n,
			     total, dims);
		return -1;
	}
	if (part) {
		x->n = total;
		return 0;
	}
	if (gzin_read(in, &c, 1, &got) < 0)
		goto ioerr;
	if (got) {
		errf(msg, msglen,
		     "trailing data after %zu bytes, expected exactly %zu "
		     "for dims %s", total, total, dims);
		return -1;
	}
	/* all data there, but a gzip stream may still lack its trailer */
	s = gzin_error(in, &err);
	if (err != Z_OK) {
		errf(msg, msglen, "%s", s);
		return -1;
	}
	x->n = total;
	return 0;
ioerr:
	errf(msg, msglen, "%s", gzin_error(in, NULL));
	return -1;
}

int
idx_load(const char *path, struct idx *x, char *msg, size_t msglen)
{
	return idx_load_first(path, x, 0, msg, msglen);
}

int
idx_load_first(const char *path, struct idx *x, uint64_t limit, char *msg,
               size_t msglen)
{
	struct gzin in;
	int ret;

	memset(x, 0, sizeof(*x));
	if (gzin_open(&in, path, msg, msglen) < 0)
		return -1;
	ret = load(&in, x, limit, msg, msglen);
	gzclose(in.gz); /* read errors are all known by now */
	if (ret < 0)
		idx_free(x);
	return ret;
}

void
idx_free(struct idx *x)
{
	free(x->data);
	memset(x, 0, sizeof(*x));
}

/* ---------------------------------------------------------- file names */

static void
replace(char *s, const char *from, const char *to)
{
	char *p;

	if ((p = strstr(s, from)))
		memcpy(p, to, strlen(to)); /* same length */
}

int
idx_label_path(const char *images, char *out, size_t outlen)
{
	const char *base;
	size_t len = strlen(images);

	base = strrchr(images, '/');
	base = base ? base + 1 : images;
	if (!strstr(base, "images") || len >= outlen)
		return -1;
	memcpy(out, images, len + 1);
	replace(out + (base - images), "images", "labels");
	replace(out + (base - images), "idx3", "idx1");
	return 0;
}

int
idx_sniff(const char *path, char *msg, size_t msglen)
{
	struct gzin in;
	unsigned char m[4];
	size_t got;
	int ret;

	if (isstdin(path))
		return 0;
	if (gzin_open(&in, path, msg, msglen) < 0)
		return -1;
	if (gzin_read(&in, m, 4, &got) < 0) {
		errf(msg, msglen, "%s", gzin_error(&in, NULL));
		ret = -1;
	} else {
		ret = got == 4 && m[0] == 0 && m[1] == 0 && m[2] == 0x08 &&
		      m[3] >= 1 && m[3] <= IDX_MAXRANK;
	}
	gzclose(in.gz);
	return ret;
}
