/* See LICENSE file for copyright and license details. */
/*
 * tensor_write: emit records of a tensor stream.
 *
 * The writer never seeks and needs no record count in advance: each
 * record is self-contained, and tsr_finish() appends the end record
 * (name "end", u64 scalar = records since the previous end record).
 * It writes version 1.1: every header carries the HCRC flag and its own
 * CRC-32 at offset 36, and a compressed record's header ends with the
 * CRC-32 of its stored (zlib) bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "crc32.h"
#include "tensor.h"

static int
fail(struct tsr_writer *w, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = snprintf(w->msg, sizeof(w->msg), "%s: record %llu: ", w->name,
	             (unsigned long long)w->count);
	va_start(ap, fmt);
	if (n < sizeof(w->msg))
		vsnprintf(w->msg + n, sizeof(w->msg) - n, fmt, ap);
	va_end(ap);
	return -1;
}

void
tsr_writer_init(struct tsr_writer *w, FILE *fp, const char *name,
                int compress)
{
	memset(w, 0, sizeof(*w));
	w->fp = fp;
	w->name = name;
	w->compress = compress;
}

void
tsr_writer_free(struct tsr_writer *w)
{
	free(w->zbuf);
	w->zbuf = NULL;
	w->zcap = 0;
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void
put32(unsigned char *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

uint32_t
tsr_crc32(const void *data, size_t n)
{
	return crc32_fast(0, data, n);
}

uint32_t
tsr_header_crc(const unsigned char *hdr, size_t hdrlen)
{
	static const unsigned char zero[4];
	uint32_t crc;

	crc = crc32_fast(0, hdr, TSR_HCRC_AT);
	crc = crc32_fast(crc, zero, sizeof(zero));
	return crc32_fast(crc, hdr + TSR_HCRC_AT + 4, hdrlen - TSR_HCRC_AT - 4);
}

static int
write_record(struct tsr_writer *w, const struct tensor *t, int crcok,
             int internal)
{
	static const unsigned char zeros[TSR_ALIGN];
	unsigned char *hdr;
	const void *payload = t->data;
	size_t namelen = strlen(t->name), need, hdrlen, i;
	uint64_t plen = t->nbytes, count;
	uLongf zlen;
	int zlib;

	if (!tsr_name_ok(t->name))
		return fail(w, "bad tensor name '%s'", t->name);
	if (!internal && !strcmp(t->name, TSR_END_NAME))
		return fail(w, "the name '%s' is reserved", TSR_END_NAME);
	if (!tsr_dtype_size(t->dtype) || t->rank < 0 || t->rank > TSR_MAXRANK)
		return fail(w, "'%s': bad dtype %d or rank %d", t->name, t->dtype,
		            t->rank);
	if (tsr_count(t->rank, t->dims, tsr_dtype_size(t->dtype), &count) < 0)
		return fail(w, "'%s': dims overflow", t->name);
	if (count * tsr_dtype_size(t->dtype) != t->nbytes)
		return fail(w, "'%s': %zu bytes for %llu elements", t->name,
		            t->nbytes, (unsigned long long)count);
	if (t->metalen > TSR_MAXMETA)
		return fail(w, "'%s': meta of %zu bytes, at most %d", t->name,
		            t->metalen, TSR_MAXMETA);

	if (w->compress && t->nbytes) {
		zlen = compressBound(t->nbytes);
		if (zlen > w->zcap) {
			unsigned char *z = realloc(w->zbuf, zlen);

			if (!z)
				return fail(w, "'%s': out of memory", t->name);
			w->zbuf = z;
			w->zcap = zlen;
		}
		if (compress2(w->zbuf, &zlen, t->data, t->nbytes, w->compress) !=
		    Z_OK)
			return fail(w, "'%s': zlib compression failed", t->name);
		payload = w->zbuf;
		plen = zlen;
	}

	zlib = w->compress && t->nbytes;
	need = TSR_FIXED + 8 * t->rank + namelen + t->metalen +
	       (zlib ? TSR_ZCRC_LEN : 0);
	hdrlen = (need + TSR_ALIGN - 1) / TSR_ALIGN * TSR_ALIGN;
	if (!(hdr = calloc(1, hdrlen)))
		return fail(w, "'%s': out of memory", t->name);
	memcpy(hdr, "\x93TSR", 4);
	hdr[4] = TSR_MAJOR;
	hdr[5] = TSR_MINOR;
	hdr[6] = t->dtype;
	hdr[7] = t->rank;
	put32(hdr + 8, TSR_FLAG_HCRC | (zlib ? TSR_FLAG_ZLIB : 0));
	put32(hdr + 12, hdrlen);
	put64(hdr + 16, plen);
	put32(hdr + 24, crcok ? t->crc : tsr_crc32(t->data, t->nbytes));
	put16(hdr + 28, namelen);
	put32(hdr + 32, t->metalen);
	for (i = 0; i < (size_t)t->rank; i++)
		put64(hdr + TSR_FIXED + 8 * i, t->dims[i]);
	memcpy(hdr + TSR_FIXED + 8 * t->rank, t->name, namelen);
	if (t->metalen)
		memcpy(hdr + TSR_FIXED + 8 * t->rank + namelen, t->meta,
		       t->metalen);
	if (zlib)
		put32(hdr + hdrlen - TSR_ZCRC_LEN, tsr_crc32(payload, plen));
	put32(hdr + TSR_HCRC_AT, tsr_header_crc(hdr, hdrlen));

	if (fwrite(hdr, 1, hdrlen, w->fp) != hdrlen ||
	    (plen && fwrite(payload, 1, plen, w->fp) != plen) ||
	    fwrite(zeros, 1, (TSR_ALIGN - plen % TSR_ALIGN) % TSR_ALIGN,
	           w->fp) != (TSR_ALIGN - plen % TSR_ALIGN) % TSR_ALIGN) {
		free(hdr);
		return fail(w, "'%s': write: %s", t->name, strerror(errno));
	}
	free(hdr);
	w->count++;
	return 0;
}

int
tsr_write(struct tsr_writer *w, const struct tensor *t, int crcok)
{
	return write_record(w, t, crcok, 0);
}

int
tsr_finish(struct tsr_writer *w)
{
	struct tensor end;
	uint64_t n = w->count;
	int compress = w->compress, r;

	tensor_init(&end);
	snprintf(end.name, sizeof(end.name), "%s", TSR_END_NAME);
	end.dtype = TSR_U64;
	end.rank = 0;
	end.data = &n;
	end.nbytes = sizeof(n);
	w->compress = 0;
	r = write_record(w, &end, 0, 1);
	w->compress = compress;
	if (r == 0)
		w->count = 0;
	if (r == 0 && fflush(w->fp) == EOF)
		return fail(w, "write: %s", strerror(errno));
	return r;
}
