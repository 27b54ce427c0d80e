/* See LICENSE file for copyright and license details. */
/*
 * tensor: the tensor stream format (formats/tensor-stream.md).
 *
 * A stream is a sequence of records, each one named tensor with its
 * dtype, dims (row-major, dims[0] outermost), key=value metadata, a
 * CRC-32 of its payload and (version 1.1) a CRC-32 of its header, ended
 * by an end record that carries the record count.  The writer writes
 * version 1.1; the reader reads 1.0 and 1.1.  Several streams may follow each other (cat a.tsr b.tsr); a
 * reader sees one sequence of records and returns 0 only at EOF right
 * after an end record.  Anything else -- EOF elsewhere, a bad header, a
 * CRC mismatch -- is an error with its own code and a message naming
 * the input, the record index and the record name.
 *
 * Records that belong together (one batch of patches with its labels)
 * form a group: consecutive records with the same "batch" meta value.
 * Filters pass through the records they do not consume.
 *
 * Nothing here exits or prints: functions return -1 and fill msg.
 */
#ifndef MIM_TENSOR_H
#define MIM_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mimtools payloads are little-endian; this host is not"
#endif

enum tsr_dtype {
	TSR_INVALID = 0, /* catches zeroed memory */
	TSR_U8 = 1,
	TSR_I8 = 2,
	TSR_U16 = 3,
	TSR_I16 = 4,
	TSR_U32 = 5,
	TSR_I32 = 6,
	TSR_U64 = 7,
	TSR_I64 = 8,
	TSR_F16 = 9,  /* reserved: readers accept, tools may refuse */
	TSR_F32 = 10,
	TSR_F64 = 11,
	TSR_BF16 = 12, /* reserved, as f16 */
	TSR_NDTYPE
};

enum {
	TSR_MAJOR = 1,
	TSR_MINOR = 1,            /* what the writer writes */
	TSR_ALIGN = 64,           /* header and payload alignment */
	TSR_FIXED = 40,           /* fixed part of the header */
	TSR_HCRC_AT = 36,         /* 1.1: offset of the header CRC */
	TSR_ZCRC_LEN = 4,         /* 1.1: zlib records end their header
	                             with a CRC-32 of the stored payload */
	TSR_MAXRANK = 8,
	TSR_MAXNAME = 255,
	TSR_MAXMETA = 65536,
	TSR_MAXHDR = 1 << 20,     /* cap on hdr_len */
	TSR_FLAG_ZLIB = 1u << 0,  /* payload is one zlib stream */
	TSR_FLAG_HCRC = 1u << 1,  /* 1.1: the header carries its CRC-32;
	                             set in every record of minor >= 1 */
	TSR_FLAGS_KNOWN = TSR_FLAG_ZLIB | TSR_FLAG_HCRC
};

#define TSR_END_NAME "end" /* reserved: the end record */

/* error codes, one per way a stream can be wrong (tsr_strerror) */
enum tsr_err {
	TSR_OK = 0,
	TSR_EIO,       /* read or write error from the system */
	TSR_EEMPTY,    /* no bytes at all */
	TSR_ETRUNC,    /* EOF inside a record */
	TSR_ENOEND,    /* EOF between records without an end record */
	TSR_EMAGIC,    /* not 0x93 'T' 'S' 'R' */
	TSR_EVERSION,  /* major version not 1 */
	TSR_EDTYPE,    /* unknown dtype code */
	TSR_EFLAGS,    /* unknown flag bit */
	TSR_ERANK,     /* rank above 8 */
	TSR_EHDRLEN,   /* hdr_len too small, too large or unaligned */
	TSR_ERESERVED, /* a reserved field is not 0 */
	TSR_ENAME,     /* name empty, too long or with bad characters */
	TSR_EMETA,     /* meta too long or malformed */
	TSR_EDIMS,     /* element count or byte size overflows */
	TSR_EPAYLOAD,  /* payload_len inconsistent with dims and dtype */
	TSR_EZLIB,     /* compressed payload does not inflate to nbytes */
	TSR_ECRC,      /* CRC-32 mismatch */
	TSR_EEND,      /* end record malformed or its count is wrong */
	TSR_ENOMEM,    /* cannot allocate the payload */
	TSR_EUSAGE,    /* caller error: bad tensor handed to the writer */
	TSR_EHCRC,     /* 1.1: header CRC-32 mismatch, or no HCRC flag */
	TSR_EPAD       /* padding that must be zero is not */
};

struct tensor {
	char name[TSR_MAXNAME + 1];
	int dtype;                  /* enum tsr_dtype */
	int rank;                   /* 0..8; rank 0 has one element */
	uint64_t dims[TSR_MAXRANK]; /* dims[0] outermost */
	uint32_t flags;             /* TSR_FLAG_ZLIB as read; the writer's
	                               -z decides what it writes */
	uint32_t crc;               /* CRC-32 of the payload, set by read */
	char *meta;                 /* "key=value\n"..., NUL-terminated */
	size_t metalen;             /* strlen(meta) */
	void *data;                 /* nbytes, row-major, little-endian */
	size_t nbytes;
	size_t datacap, metacap;    /* allocations, reused across reads */
};

/* dtypes */
size_t tsr_dtype_size(int dtype);        /* 0 for unknown */
const char *tsr_dtype_name(int dtype);   /* "f32"; "?" for unknown */
int tsr_dtype_parse(const char *);       /* TSR_INVALID if unknown */

/* tensors */
void tensor_init(struct tensor *);
void tensor_free(struct tensor *);
uint64_t tensor_count(const struct tensor *);
/*
 * The element count of rank dims (0 if any dim is 0, whatever the
 * others) in *count: 0; -1 if it overflows 2^64; -2 if count elements
 * of size bytes overflow a size_t.
 */
int tsr_count(int rank, const uint64_t *dims, size_t size, uint64_t *count);
/* set name, dtype and dims and size data (contents undefined) */
int tensor_shape(struct tensor *, const char *name, int dtype, int rank,
                 const uint64_t *dims, char *msg, size_t msglen);
int tensor_copy(struct tensor *dst, const struct tensor *src);
int tsr_name_ok(const char *name);
/* zlib CRC-32 of any length */
uint32_t tsr_crc32(const void *, size_t);
/* 1.1: CRC-32 of a header of hdrlen bytes, its bytes 36-39 taken as 0 */
uint32_t tsr_header_crc(const unsigned char *hdr, size_t hdrlen);

/* metadata: keys are names ([a-z0-9_] segments joined by '.') */
const char *tensor_meta_get(const struct tensor *, const char *key,
                            char *buf, size_t buflen);
int tensor_meta_set(struct tensor *, const char *key, const char *value);
int tensor_meta_setf(struct tensor *, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int tensor_meta_copy(struct tensor *dst, const struct tensor *src);
/* dims as "[a,b,c]" or, with a "dims" meta key, "[n=a,l=b,d=c]" */
void tensor_shape_str(const struct tensor *, char *buf, size_t buflen);

/* reading */
struct tsr_reader {
	FILE *fp;
	const char *name;    /* input name for messages */
	uint64_t index;      /* records returned so far */
	uint64_t inseg;      /* records since the last end record */
	uint64_t offset;     /* bytes consumed */
	uint64_t nend;       /* end records seen */
	int state;           /* 0 nothing read, 1 in a stream, 2 after end */
	int err;             /* enum tsr_err of the last failure */
	char msg[512];       /* its message: "name: record N 'x': ..." */
	unsigned char *zbuf; /* compressed payload buffer */
	size_t zcap;
};

void tsr_reader_init(struct tsr_reader *, FILE *, const char *name);
void tsr_reader_free(struct tsr_reader *);
/* 1: a record in t; 0: clean end of input; -1: error in r->msg */
int tsr_read(struct tsr_reader *, struct tensor *t);
const char *tsr_strerror(int err);

/* writing */
struct tsr_writer {
	FILE *fp;
	const char *name;
	uint64_t count;      /* records written since the last end record */
	int compress;        /* zlib level, 0 for none */
	char msg[512];
	unsigned char *zbuf;
	size_t zcap;
};

void tsr_writer_init(struct tsr_writer *, FILE *, const char *name,
                     int compress);
void tsr_writer_free(struct tsr_writer *);
/* t->crc is recomputed unless crcok says it matches t->data already */
int tsr_write(struct tsr_writer *, const struct tensor *t, int crcok);
/* the end record; the stream is complete after this */
int tsr_finish(struct tsr_writer *);

/* groups: consecutive records sharing the "batch" meta value */
struct tsr_group {
	struct tensor *t;    /* n records of this group */
	size_t n, cap;
	struct tensor next;  /* read ahead: first record of the next group */
	int havenext, eof;
	uint64_t nend;       /* r->nend when next was read */
};

void tsr_group_init(struct tsr_group *);
void tsr_group_free(struct tsr_group *);
/* 1: a group; 0: clean end; -1: error in r->msg */
int tsr_group_read(struct tsr_reader *, struct tsr_group *);
struct tensor *tsr_group_find(struct tsr_group *, const char *name);
/* write all records of g in order, then tensors added by the caller */
int tsr_group_write(struct tsr_writer *, const struct tsr_group *);

#endif
