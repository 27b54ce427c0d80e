/* See LICENSE file for copyright and license details. */
/*
 * fuzz-image: PNG, JPEG and PNM decoding (lib/image.c) on any bytes,
 * into 0 (native), 1 or 3 channels as the input's length says; a
 * decoded image is then resampled to 16x16 and cut into 4x4 patches, as
 * patchify does with every image it decodes.
 */
#include "fuzz.h"

#include "image.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int want[3] = { 0, 1, 3 };
	struct image img, out;
	unsigned char patches[16 * 16 * 3];
	double box[4];
	char msg[256];

	image_format(data, size);
	if (image_decode(data, size, want[size % 3], &img, msg, sizeof(msg)))
		return 0;
	if (img.w < 1 || img.h < 1 || !img.px || (img.c != 1 && img.c != 3))
		abort();
	if ((size_t)img.w * img.h <= 1 << 20) {
		image_eval_box(img.w, img.h, 16, 16, box);
		if (image_resample(&img, box[0], box[1], box[2], box[3], 16, 16, 0,
		                   &out, msg, sizeof(msg)) == 0) {
			if (image_patchify_u8(&out, 4, patches) < 0)
				abort();
			image_free(&out);
		}
	}
	image_free(&img);
	return 0;
}
