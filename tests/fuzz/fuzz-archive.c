/* See LICENSE file for copyright and license details. */
/*
 * fuzz-archive: archive input (lib/archive_in.c through libarchive, and
 * the ImageFolder classification of lib/imgsrc.c), on any bytes: every
 * regular entry with its data, then the images and classes patchify
 * would take from it.
 */
#include "fuzz.h"

#include <string.h>

#include "archive_in.h"
#include "imgsrc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ain *a;
	struct ain_entry e;
	struct imgsrc s;
	struct srcitem it;
	char msg[512];
	const char *path = memfile(data, size);
	int n;

	if (!path)
		return 0;
	if ((a = ain_open(path, 0, msg, sizeof(msg)))) {
		for (n = 0; n < 10000 && ain_next(a, &e, msg, sizeof(msg)) == 1; n++)
			if (!e.path || (e.len && !e.data) ||
			    (e.data && e.data[e.len] != 0))
				abort();
		ain_close(a);
	}
	if (imgsrc_open(&s, path, NULL, NULL, msg, sizeof(msg)) == 0) {
		for (n = 0; n < 10000 && imgsrc_next(&s, &it, msg, sizeof(msg)) == 1;
		     n++)
			if (it.label < 0 || (size_t)it.label >= s.nclasses)
				abort();
		imgsrc_close(&s);
	}
	return 0;
}
