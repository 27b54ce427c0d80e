/* See LICENSE file for copyright and license details. */
/*
 * fuzz-idx: the IDX reader (lib/idx.c), raw or gzip, on any bytes: the
 * magic sniffer and the loader.
 */
#include "fuzz.h"

#include "idx.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idx x;
	char msg[256];
	const char *path = memfile(data, size);

	if (!path)
		return 0;
	idx_sniff(path, msg, sizeof(msg));
	if (idx_load(path, &x, msg, sizeof(msg)) == 0) {
		/* the sanitizers see the first and the last byte read */
		if (x.n && (volatile unsigned char)(x.data[0] ^ x.data[x.n - 1]))
			msg[0] = '\0';
		idx_free(&x);
	}
	return 0;
}
