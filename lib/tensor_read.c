/* See LICENSE file for copyright and license details. */
/*
 * tensor_read: parse and verify records of a tensor stream.
 *
 * The reader never seeks, so it works on pipes.  Every field is checked
 * before it is trusted: the header length is capped before it is read,
 * a version 1.1 header is checked against its CRC-32 before any other
 * field is used, the element count and byte size are checked for
 * overflow before anything is allocated, a compressed payload is checked
 * against the CRC of its stored bytes before zlib sees it, padding must
 * be zeros, and the payload CRC is always verified.  Version 1.0 records
 * (no header CRC) are read with the rules they were written under.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tensor.h"

enum {
	ZLIB_MAXRATIO = 1032, /* deflate's largest expansion */
	FIRSTBUF = 1 << 20    /* a payload buffer starts at most this big */
};

static const char *errstr[] = {
	[TSR_OK] = "no error",
	[TSR_EIO] = "read error",
	[TSR_EEMPTY] = "empty input",
	[TSR_ETRUNC] = "truncated record",
	[TSR_ENOEND] = "stream ended without end record",
	[TSR_EMAGIC] = "bad magic",
	[TSR_EVERSION] = "unsupported version",
	[TSR_EDTYPE] = "unknown dtype",
	[TSR_EFLAGS] = "unknown flags",
	[TSR_ERANK] = "rank too large",
	[TSR_EHDRLEN] = "bad header length",
	[TSR_ERESERVED] = "reserved field not zero",
	[TSR_ENAME] = "bad name",
	[TSR_EMETA] = "bad meta",
	[TSR_EDIMS] = "dims overflow",
	[TSR_EPAYLOAD] = "payload size mismatch",
	[TSR_EZLIB] = "invalid or incomplete zlib data",
	[TSR_ECRC] = "crc mismatch",
	[TSR_EEND] = "bad end record",
	[TSR_ENOMEM] = "out of memory",
	[TSR_EUSAGE] = "invalid tensor",
	[TSR_EHCRC] = "header crc mismatch",
	[TSR_EPAD] = "padding not zero",
};

const char *
tsr_strerror(int err)
{
	if (err < 0 || err >= (int)(sizeof(errstr) / sizeof(errstr[0])))
		return "unknown error";
	return errstr[err];
}

static uint16_t
le16(const unsigned char *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* fail with code err: "input: record N 'name': <errstr>: detail" */
static int
fail(struct tsr_reader *r, const struct tensor *t, int err, const char *fmt,
     ...)
{
	size_t n;
	va_list ap;

	r->err = err;
	n = snprintf(r->msg, sizeof(r->msg), "%s: ", r->name);
	if (r->state != 0 || err != TSR_EEMPTY) {
		if (n < sizeof(r->msg))
			n += snprintf(r->msg + n, sizeof(r->msg) - n, "record %llu",
			              (unsigned long long)r->index);
		if (t && t->name[0] && n < sizeof(r->msg))
			n += snprintf(r->msg + n, sizeof(r->msg) - n, " '%s'",
			              t->name);
		if (n < sizeof(r->msg))
			n += snprintf(r->msg + n, sizeof(r->msg) - n, ": ");
	}
	if (n < sizeof(r->msg))
		n += snprintf(r->msg + n, sizeof(r->msg) - n, "%s",
		              tsr_strerror(err));
	if (fmt && n < sizeof(r->msg)) {
		n += snprintf(r->msg + n, sizeof(r->msg) - n, " (");
		va_start(ap, fmt);
		if (n < sizeof(r->msg))
			n += vsnprintf(r->msg + n, sizeof(r->msg) - n, fmt, ap);
		va_end(ap);
		if (n < sizeof(r->msg))
			snprintf(r->msg + n, sizeof(r->msg) - n, ")");
	}
	return -1;
}

void
tsr_reader_init(struct tsr_reader *r, FILE *fp, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->fp = fp;
	r->name = name;
}

void
tsr_reader_free(struct tsr_reader *r)
{
	free(r->zbuf);
	r->zbuf = NULL;
	r->zcap = 0;
}

/* read n bytes; returns the count actually read (short only at EOF) */
static size_t
readn(struct tsr_reader *r, void *buf, size_t n)
{
	size_t got = fread(buf, 1, n, r->fp);

	r->offset += got;
	return got;
}

static int
ioerr(struct tsr_reader *r, const struct tensor *t)
{
	return fail(r, t, TSR_EIO, "%s", strerror(errno));
}

/* the index of the first non-zero byte of p[0..n), or n */
static size_t
nonzero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !p[i]; i++)
		;
	return i;
}

/*
 * Check the fixed fields of a header read whole (and for minor 1 on
 * found intact by its CRC), in the order of formats/tensor-stream.md
 * section 11: sets t's dtype, rank and flags, *size and *namelen.
 */
static int
check_fixed(struct tsr_reader *r, struct tensor *t, const unsigned char *h,
            size_t *size, size_t *namelen)
{
	uint32_t flags = le32(h + 8), hdrlen = le32(h + 12);
	uint32_t metalen = le32(h + 32);
	int minor = h[5], zcrc = minor && (flags & TSR_FLAG_ZLIB);
	size_t need, want;

	t->dtype = h[6];
	t->rank = h[7];
	*namelen = le16(h + 28);
	if (!(*size = tsr_dtype_size(t->dtype)))
		return fail(r, NULL, TSR_EDTYPE, "code %d", t->dtype);
	if (flags & ~(uint32_t)(minor ? TSR_FLAGS_KNOWN : TSR_FLAG_ZLIB))
		return fail(r, NULL, TSR_EFLAGS, "0x%08x", (unsigned)flags);
	t->flags = flags & TSR_FLAG_ZLIB;
	if (t->rank > TSR_MAXRANK)
		return fail(r, NULL, TSR_ERANK, "%d, at most %d", t->rank,
		            TSR_MAXRANK);
	if (!minor && (le16(h + 30) || le32(h + TSR_HCRC_AT)))
		return fail(r, NULL, TSR_ERESERVED, "bytes 30-31 and 36-39");
	if (minor && le16(h + 30))
		return fail(r, NULL, TSR_ERESERVED, "bytes 30-31");
	if (*namelen < 1 || *namelen > TSR_MAXNAME)
		return fail(r, NULL, TSR_ENAME, "length %zu, expected 1 to %d",
		            *namelen, TSR_MAXNAME);
	if (metalen > TSR_MAXMETA)
		return fail(r, NULL, TSR_EMETA, "length %u, at most %d",
		            (unsigned)metalen, TSR_MAXMETA);
	need = TSR_FIXED + 8 * (size_t)t->rank + *namelen + metalen +
	       (zcrc ? TSR_ZCRC_LEN : 0);
	want = (need + TSR_ALIGN - 1) / TSR_ALIGN * TSR_ALIGN;
	/* 1.1: the length follows from fields that the CRC covers */
	if (minor == 1 && hdrlen != want)
		return fail(r, NULL, TSR_EHDRLEN,
		            "%u, expected %zu for %zu header bytes",
		            (unsigned)hdrlen, want, need);
	if (hdrlen < need)
		return fail(r, NULL, TSR_EHDRLEN,
		            "%u, expected a multiple of %d from %zu to %d",
		            (unsigned)hdrlen, TSR_ALIGN, need, TSR_MAXHDR);
	return 0;
}

/* 1.1: the header padding after meta is zeros (other minors: ignored) */
static int
check_hdrpad(struct tsr_reader *r, struct tensor *t, const unsigned char *h)
{
	size_t end, n, at;

	if (h[5] != 1)
		return 0;
	end = TSR_FIXED + 8 * (size_t)t->rank + le16(h + 28) + le32(h + 32);
	n = le32(h + 12) - end - ((t->flags & TSR_FLAG_ZLIB) ? TSR_ZCRC_LEN : 0);
	if ((at = nonzero(h + end, n)) < n)
		return fail(r, t, TSR_EPAD, "header byte %zu", end + at);
	return 0;
}

/* parse dims, name and meta from the variable part of the header */
static int
parse_header(struct tsr_reader *r, struct tensor *t, const unsigned char *h,
             size_t namelen, size_t metalen)
{
	const unsigned char *p = h + TSR_FIXED;
	size_t i;

	for (i = 0; i < (size_t)t->rank; i++, p += 8)
		t->dims[i] = le64(p);
	for (; i < TSR_MAXRANK; i++)
		t->dims[i] = 0;
	memcpy(t->name, p, namelen);
	t->name[namelen] = '\0';
	if (memchr(p, '\0', namelen) || !tsr_name_ok(t->name)) {
		t->name[0] = '\0';
		return fail(r, t, TSR_ENAME,
		            "names are [a-z0-9_] segments joined by '.'");
	}
	p += namelen;
	if (metalen + 1 > t->metacap) {
		char *m = realloc(t->meta, metalen + 1);

		if (!m)
			return fail(r, t, TSR_ENOMEM, NULL);
		t->meta = m;
		t->metacap = metalen + 1;
	}
	memcpy(t->meta, p, metalen);
	t->meta[metalen] = '\0';
	t->metalen = metalen;
	/* meta: key=value lines, each ending in '\n' */
	for (i = 0; i < metalen;) {
		char *line = t->meta + i, *nl, *eq;

		nl = memchr(line, '\n', metalen - i);
		if (!nl || memchr(line, '\0', nl - line))
			return fail(r, t, TSR_EMETA, "line %zu not ended by a newline",
			            i);
		eq = memchr(line, '=', nl - line);
		if (!eq)
			return fail(r, t, TSR_EMETA, "line without '='");
		*eq = '\0';
		if (!tsr_name_ok(line)) {
			*eq = '=';
			return fail(r, t, TSR_EMETA, "bad key");
		}
		*eq = '=';
		i = nl - t->meta + 1;
	}
	return 0;
}

/*
 * Read n bytes into *buf, whose capacity *cap grows (from FIRSTBUF,
 * doubling) as they arrive: a header that claims more bytes than the
 * input holds costs no memory, only a truncated record.
 */
static int
read_grow(struct tsr_reader *r, struct tensor *t, void **buf, size_t *cap,
          uint64_t n)
{
	size_t got = 0, want, k, ncap;
	void *p;

	while (got < n) {
		if (got == *cap) {
			ncap = *cap < FIRSTBUF   ? FIRSTBUF
			       : *cap > SIZE_MAX / 2 ? SIZE_MAX
			                           : 2 * *cap;
			if (ncap > n)
				ncap = n;
			if (!(p = realloc(*buf, ncap)))
				return fail(r, t, TSR_ENOMEM, "%llu payload bytes",
				            (unsigned long long)n);
			*buf = p;
			*cap = ncap;
		}
		want = (n < *cap ? n : *cap) - got;
		k = readn(r, (char *)*buf + got, want);
		got += k;
		if (k < want) {
			if (ferror(r->fp))
				return ioerr(r, t);
			return fail(r, t, TSR_ETRUNC, "got %zu of %llu payload bytes",
			            got, (unsigned long long)n);
		}
	}
	return 0;
}

/*
 * Read the stored payload into t->data, inflating it if it is zlib
 * data; zcrc, if not NULL, is the CRC-32 the stored bytes must have.
 */
static int
read_payload(struct tsr_reader *r, struct tensor *t, uint64_t plen,
             const uint32_t *zcrc)
{
	uLongf outlen;
	uint32_t crc;
	void *zbuf = r->zbuf;
	int zerr;

	if (!(t->flags & TSR_FLAG_ZLIB))
		return read_grow(r, t, &t->data, &t->datacap, t->nbytes);
	zerr = read_grow(r, t, &zbuf, &r->zcap, plen);
	r->zbuf = zbuf;
	if (zerr < 0)
		return -1;
	/* 1.1: the stored bytes are checked before zlib sees them */
	if (zcrc && (crc = tsr_crc32(r->zbuf, plen)) != *zcrc)
		return fail(r, t, TSR_ECRC,
		            "stored %08x, computed %08x over the %llu compressed "
		            "bytes", (unsigned)*zcrc, (unsigned)crc,
		            (unsigned long long)plen);
	/* at most 1032 bytes for each stored byte, all of them there */
	if (t->nbytes > t->datacap) {
		void *d = realloc(t->data, t->nbytes);

		if (!d)
			return fail(r, t, TSR_ENOMEM, "%zu payload bytes", t->nbytes);
		t->data = d;
		t->datacap = t->nbytes;
	}
	outlen = t->nbytes;
	zerr = uncompress(t->data, &outlen, r->zbuf, plen);
	if (zerr != Z_OK || outlen != t->nbytes)
		return fail(r, t, TSR_EZLIB, "%s, %lu of %zu bytes",
		            zerr == Z_OK ? "short" : zError(zerr),
		            (unsigned long)outlen, t->nbytes);
	return 0;
}

/* read and check the padding after a payload of plen bytes */
static int
read_padding(struct tsr_reader *r, struct tensor *t, uint64_t plen)
{
	unsigned char pad[TSR_ALIGN];
	size_t padlen = (TSR_ALIGN - plen % TSR_ALIGN) % TSR_ALIGN, got, at;

	got = readn(r, pad, padlen);
	if (got != padlen) {
		if (ferror(r->fp))
			return ioerr(r, t);
		return fail(r, t, TSR_ETRUNC, "got %zu of %zu padding bytes", got,
		            padlen);
	}
	if ((at = nonzero(pad, padlen)) < padlen)
		return fail(r, t, TSR_EPAD, "payload padding byte %zu of %zu", at,
		            padlen);
	return 0;
}

/* the end record: a u64 scalar counting the records of its stream */
static int
check_end(struct tsr_reader *r, struct tensor *t)
{
	uint64_t end;

	if (t->dtype != TSR_U64 || t->rank != 0)
		return fail(r, t, TSR_EEND, "expected a u64 scalar");
	memcpy(&end, t->data, 8);
	if (end != r->inseg)
		return fail(r, t, TSR_EEND,
		            "it counts %llu records, the stream had %llu",
		            (unsigned long long)end, (unsigned long long)r->inseg);
	return 0;
}

/*
 * Read the header of a record whose first byte is there: the fixed 40
 * bytes, then -- once hdr_len is known to be sane -- the rest, then for
 * minor 1 on its CRC, then every field.  *hp is the header (free it).
 */
static int
read_header(struct tsr_reader *r, struct tensor *t, unsigned char **hp,
            size_t *size, size_t *namelen)
{
	unsigned char fixed[TSR_FIXED], *hdr;
	uint32_t hdrlen, stored, crc;
	size_t got;

	*hp = NULL;
	got = readn(r, fixed, TSR_FIXED);
	if (got != TSR_FIXED) {
		if (ferror(r->fp))
			return ioerr(r, NULL);
		return fail(r, NULL, TSR_ETRUNC, "got %zu of %d header bytes", got,
		            TSR_FIXED);
	}
	if (memcmp(fixed, "\x93TSR", 4))
		return fail(r, NULL, TSR_EMAGIC,
		            "expected 93 54 53 52, got %02x %02x %02x %02x",
		            fixed[0], fixed[1], fixed[2], fixed[3]);
	if (fixed[4] != TSR_MAJOR)
		return fail(r, NULL, TSR_EVERSION, "major %d, this reader knows %d",
		            fixed[4], TSR_MAJOR);
	/* only the length is used before the CRC: bound it, then read */
	hdrlen = le32(fixed + 12);
	if (hdrlen < TSR_ALIGN || hdrlen > TSR_MAXHDR || hdrlen % TSR_ALIGN)
		return fail(r, NULL, TSR_EHDRLEN,
		            "%u, expected a multiple of %d from %d to %d",
		            (unsigned)hdrlen, TSR_ALIGN, TSR_ALIGN, TSR_MAXHDR);
	if (!(hdr = malloc(hdrlen)))
		return fail(r, NULL, TSR_ENOMEM, "%u header bytes",
		            (unsigned)hdrlen);
	*hp = hdr;
	memcpy(hdr, fixed, TSR_FIXED);
	got = readn(r, hdr + TSR_FIXED, hdrlen - TSR_FIXED);
	if (got != hdrlen - TSR_FIXED) {
		if (ferror(r->fp))
			return ioerr(r, NULL);
		return fail(r, NULL, TSR_ETRUNC, "got %zu of %u header bytes",
		            got + TSR_FIXED, (unsigned)hdrlen);
	}
	if (hdr[5] >= 1) {
		if (!(le32(hdr + 8) & TSR_FLAG_HCRC))
			return fail(r, NULL, TSR_EHCRC,
			            "minor %d without the HCRC flag", hdr[5]);
		stored = le32(hdr + TSR_HCRC_AT);
		if ((crc = tsr_header_crc(hdr, hdrlen)) != stored)
			return fail(r, NULL, TSR_EHCRC, "stored %08x, computed %08x",
			            (unsigned)stored, (unsigned)crc);
	}
	return check_fixed(r, t, hdr, size, namelen);
}

/* 1 a record, 2 an end record, 0 clean EOF, -1 an error */
static int
read_record(struct tsr_reader *r, struct tensor *t)
{
	unsigned char *hdr;
	uint64_t plen, count;
	uint32_t hdrlen, crc, zcrc;
	size_t namelen = 0, size = 0;
	int c, rc, haszcrc;

	t->name[0] = '\0';
	/* EOF here is clean only right after an end record */
	if ((c = getc(r->fp)) == EOF) {
		if (ferror(r->fp))
			return ioerr(r, NULL);
		if (r->state == 2)
			return 0;
		if (r->state == 0)
			return fail(r, NULL, TSR_EEMPTY,
			            "no records and no end record");
		return fail(r, NULL, TSR_ENOEND, "did the producer fail?");
	}
	ungetc(c, r->fp);

	rc = read_header(r, t, &hdr, &size, &namelen);
	if (rc == 0)
		rc = parse_header(r, t, hdr, namelen, le32(hdr + 32));
	if (rc == 0)
		rc = check_hdrpad(r, t, hdr);
	if (rc < 0) {
		free(hdr);
		return -1;
	}
	hdrlen = le32(hdr + 12);
	plen = le64(hdr + 16);
	crc = le32(hdr + 24);
	haszcrc = hdr[5] && (t->flags & TSR_FLAG_ZLIB);
	zcrc = haszcrc ? le32(hdr + hdrlen - TSR_ZCRC_LEN) : 0;
	free(hdr);

	switch (tsr_count(t->rank, t->dims, size, &count)) {
	case -1:
		return fail(r, t, TSR_EDIMS, "element count above 2^64");
	case -2:
		return fail(r, t, TSR_EDIMS, "%llu elements of %zu bytes",
		            (unsigned long long)count, size);
	}
	t->nbytes = count * size;
	if (!t->nbytes && (t->flags & TSR_FLAG_ZLIB))
		return fail(r, t, TSR_EPAYLOAD,
		            "an empty tensor cannot be compressed");
	if (!(t->flags & TSR_FLAG_ZLIB) ? plen != t->nbytes
	                                : plen > compressBound(t->nbytes) ||
	                                          (t->nbytes && !plen))
		return fail(r, t, TSR_EPAYLOAD, "payload_len %llu for %zu bytes%s",
		            (unsigned long long)plen, t->nbytes,
		            (t->flags & TSR_FLAG_ZLIB) ? " compressed" : "");
	/* deflate cannot expand more than 1032:1: refuse before allocating */
	if ((t->flags & TSR_FLAG_ZLIB) && t->nbytes / ZLIB_MAXRATIO > plen)
		return fail(r, t, TSR_EPAYLOAD,
		            "payload_len %llu cannot inflate to %zu bytes",
		            (unsigned long long)plen, t->nbytes);

	if (read_payload(r, t, plen, haszcrc ? &zcrc : NULL) < 0 ||
	    read_padding(r, t, plen) < 0)
		return -1;
	t->crc = tsr_crc32(t->data, t->nbytes);
	if (t->crc != crc)
		return fail(r, t, TSR_ECRC, "stored %08x, computed %08x",
		            (unsigned)crc, (unsigned)t->crc);

	if (!strcmp(t->name, TSR_END_NAME)) {
		if (check_end(r, t) < 0)
			return -1;
		r->state = 2;
		r->inseg = 0;
		r->nend++;
		return 2;
	}
	r->state = 1;
	r->inseg++;
	r->index++;
	return 1;
}

int
tsr_read(struct tsr_reader *r, struct tensor *t)
{
	int rc;

	/* after an end record another stream may follow (cat a.tsr b.tsr) */
	while ((rc = read_record(r, t)) == 2)
		;
	return rc;
}
