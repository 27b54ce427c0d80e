/* See LICENSE file for copyright and license details. */
/*
 * fuzz-ckpt: the checkpoint loader of encode, probe and finetune
 * (encoder_load_ckpt in lib/encoder.c: the config in the 'step'
 * record's meta, then every parameter record checked against the model
 * it describes) on any bytes.
 */
#include "fuzz.h"

#include "encoder.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vit v;
	char msg[512];
	FILE *fp = memstream(data, size);

	if (!fp)
		return 0;
	if (encoder_load_ckpt(&v, fp, "fuzz", 1, NULL, NULL, msg,
	                      sizeof(msg)) == 0)
		vit_free(&v);
	fclose(fp);
	return 0;
}
