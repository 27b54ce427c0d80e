/* See LICENSE file for copyright and license details. */
/*
 * fuzz-archive: archive input (lib/archive_in.c through libarchive, all
 * its formats and filters, and the ImageFolder classification of
 * lib/imgsrc.c), on any bytes: the first pass over the headers that
 * finds the classes, then the data of every image, as patchify takes
 * them.
 */
#include "fuzz.h"

#include "imgsrc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imgsrc s;
	struct srcitem it;
	char msg[512];
	const char *path = memfile(data, size);
	int n;

	if (!path || imgsrc_open(&s, path, NULL, NULL, 0, msg, sizeof(msg)) < 0)
		return 0;
	for (n = 0; n < 100000 && imgsrc_next(&s, &it, msg, sizeof(msg)) == 1;
	     n++)
		if (it.label < 0 || (size_t)it.label >= s.nclasses || !it.name ||
		    (it.len && !it.data) || (it.data && it.data[it.len] != 0))
			abort();
	imgsrc_close(&s);
	return 0;
}
