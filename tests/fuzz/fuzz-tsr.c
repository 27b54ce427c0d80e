/* See LICENSE file for copyright and license details. */
/*
 * fuzz-tsr: the tensor stream reader (lib/tensor_read.c, the group
 * reader of lib/tensor_group.c), on any bytes.
 *
 * Every group read is written again through the library writer, with
 * the CRCs it was read with, and read back: the round trip must give
 * the same records (an abort() otherwise), so the fuzzer also checks
 * that whatever the reader accepts, the writer can write.
 */
#include "fuzz.h"

#include <string.h>

#include "tensor.h"

static int
same(const struct tensor *a, const struct tensor *b)
{
	return !strcmp(a->name, b->name) && a->dtype == b->dtype &&
	       a->rank == b->rank && a->crc == b->crc &&
	       !memcmp(a->dims, b->dims, sizeof(a->dims)) &&
	       a->nbytes == b->nbytes && a->metalen == b->metalen &&
	       (!a->nbytes || !memcmp(a->data, b->data, a->nbytes)) &&
	       (!a->metalen || !memcmp(a->meta, b->meta, a->metalen));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsr_reader r, back;
	struct tsr_writer w;
	struct tsr_group g;
	struct tensor t, u;
	char shape[256], val[64];
	char *out = NULL;
	size_t outlen = 0, i, n = 0;
	FILE *fp, *wp;

	/* groups, written again as they come */
	if (!(fp = memstream(data, size)))
		return 0;
	if (!(wp = open_memstream(&out, &outlen)))
		abort();
	tsr_reader_init(&r, fp, "fuzz");
	tsr_writer_init(&w, wp, "out", size % 2);
	tsr_group_init(&g);
	while (tsr_group_read(&r, &g) == 1) {
		for (i = 0; i < g.n; i++) {
			tensor_shape_str(&g.t[i], shape, sizeof(shape));
			tensor_meta_get(&g.t[i], "batch", val, sizeof(val));
		}
		tsr_group_find(&g, "patches");
		if (tsr_group_write(&w, &g) < 0)
			abort();
		n += g.n;
	}
	if (tsr_finish(&w) < 0 || fclose(wp) != 0)
		abort();
	tsr_group_free(&g);
	tsr_reader_free(&r);
	tsr_writer_free(&w);
	fclose(fp);

	/* the n records of those groups, and what was written, agree */
	tensor_init(&t);
	tensor_init(&u);
	if (!(fp = memstream(data, size)) || !(wp = fmemopen(out, outlen, "r")))
		abort();
	tsr_reader_init(&r, fp, "fuzz");
	tsr_reader_init(&back, wp, "back");
	for (i = 0; i < n; i++)
		if (tsr_read(&r, &t) != 1 || tsr_read(&back, &u) != 1 ||
		    !same(&t, &u))
			abort();
	if (tsr_read(&back, &u) != 0)
		abort();
	tensor_free(&t);
	tensor_free(&u);
	tsr_reader_free(&r);
	tsr_reader_free(&back);
	fclose(fp);
	fclose(wp);
	free(out);
	return 0;
}
