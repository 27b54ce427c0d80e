/* See LICENSE file for copyright and license details. */
/*
 * fuzz-safetensors: the safetensors reader (lib/safetensors.c) on any
 * bytes: the header's JSON, every tensor's elements as f32, and the
 * timm ViT loader.
 */
#include "fuzz.h"

#include "safetensors.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_file f;
	struct vit v;
	char msg[512];
	float *buf;
	uint64_t count;
	int i, k;
	FILE *fp = memstream(data, size);

	if (!fp)
		return 0;
	if (st_read(&f, fp, "fuzz", msg, sizeof(msg)) == 0) {
		for (i = 0; i < f.n; i++) {
			st_find(&f, f.t[i].name);
			for (count = 1, k = 0; k < f.t[i].rank; k++)
				count *= f.t[i].dims[k];
			if (count > 1 << 20 || !(buf = malloc(4 * count + 4)))
				continue;
			st_get_f32(&f, &f.t[i], buf, msg, sizeof(msg));
			free(buf);
		}
		if (st_load_timm(&v, &f, "fuzz", 1, msg, sizeof(msg)) == 0)
			vit_free(&v);
		st_free(&f);
	}
	fclose(fp);
	return 0;
}
