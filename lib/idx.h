/* See LICENSE file for copyright and license details. */
/*
 * idx: IDX files, the format of MNIST and Fashion-MNIST.
 *
 * Layout (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type
 * byte (0x08 unsigned byte; 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32 and
 * 0x0E f64 exist but are not supported here), a rank byte, rank
 * big-endian u32 dims (dims[0] outermost), then the data, row-major.
 * Files are read through zlib's gzread, so gzip-compressed and raw files
 * both work; "-" (or NULL) is stdin.
 *
 * idx_load() reads the whole file and checks the magic, the type, the
 * rank (1..4), the dims product for overflow and that the data length is
 * exactly the product: a short file gives "truncated: got X of Y bytes",
 * extra bytes an error too.  Memory is allocated as the data arrives
 * (1 MiB first, then doubling), so a lying header costs no memory.
 *
 * Messages say what was expected and what was found, and do not name
 * the file: the caller prefixes it.  Nothing here exits or prints.
 */
#ifndef MIM_IDX_H
#define MIM_IDX_H

#include <stddef.h>
#include <stdint.h>

enum { IDX_MAXRANK = 4 };

struct idx {
	int rank;                  /* 1..IDX_MAXRANK */
	uint32_t dims[IDX_MAXRANK]; /* dims[0] outermost; unused ones 0 */
	uint32_t whole;            /* dims[0] in the file's header */
	unsigned char *data;       /* n bytes, u8 elements; NULL if n == 0 */
	size_t n;                  /* bytes = product of dims */
};

/* 0, or -1 with msg and *x zeroed */
int idx_load(const char *path, struct idx *x, char *msg, size_t msglen);

/*
 * The same, but with limit (0: no limit) below the header's dims[0],
 * only the first limit items (along dims[0]) are read, and dims[0] is
 * limit: the rest of the file is neither read nor checked (a short file
 * is still an error if it ends before them).  whole keeps the header's
 * count.
 */
int idx_load_first(const char *path, struct idx *x, uint64_t limit,
                   char *msg, size_t msglen);

/* free x->data and zero *x */
void idx_free(struct idx *x);

/*
 * The label file beside an image file, by name: in the last path
 * component, "images" becomes "labels" and "idx3" becomes "idx1" (first
 * occurrence of each): "train-images-idx3-ubyte.gz" ->
 * "train-labels-idx1-ubyte.gz".  0, or -1 if the last component has no
 * "images" or out is too small.
 */
int idx_label_path(const char *images, char *out, size_t outlen);

/*
 * 1 if the file (gzip or raw) starts with the IDX magic 00 00 08 0x,
 * x = 1..4; 0 if it does not (short files included); -1 with msg on an
 * I/O error.  Standard input ("-" or NULL) is never read, since that
 * would consume it: the answer is 0.
 */
int idx_sniff(const char *path, char *msg, size_t msglen);

#endif
