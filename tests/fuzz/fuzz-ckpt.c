/* See LICENSE file for copyright and license details. */
/*
 * fuzz-ckpt: the checkpoint loader of encode and probe (probe_load_ckpt
 * in lib/probe.c: the config in the 'step' record's meta, then every
 * parameter record checked against the model it describes) on any
 * bytes.
 */
#include "fuzz.h"

#include "probe.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vit v;
	char msg[512];
	FILE *fp = memstream(data, size);

	if (!fp)
		return 0;
	if (probe_load_ckpt(&v, fp, "fuzz", 1, msg, sizeof(msg)) == 0)
		vit_free(&v);
	fclose(fp);
	return 0;
}
