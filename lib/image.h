/* See LICENSE file for copyright and license details. */
/*
 * image: decode, resample and cut 8-bit images into patches.
 *
 * An image is h rows of w pixels of c channels (1 grey or 3 RGB), one
 * byte per sample, row-major: px[(row * w + col) * c + channel].
 *
 * image_decode() reads PNG (libpng), JPEG (libjpeg-turbo) or binary PNM
 * (P5/P6, maxval 255) from a memory buffer, choosing the decoder by the
 * magic bytes, never by a file name.  Alpha is dropped, palettes are
 * expanded, 16-bit samples keep their high byte (as Pillow does for RGB),
 * CMYK JPEGs are converted to RGB.  Corrupt data is an error, including
 * libjpeg's "corrupt data" and "premature end" warnings, so a truncated
 * JPEG fails instead of decoding grey; the only warnings accepted are an
 * unknown Adobe transform or JFIF revision, a bad ICC marker, and
 * extraneous bytes before the final EOI marker (no pixel is affected).
 *
 * image_resample() is Pillow's antialiased BILINEAR resize with a float
 * source box: a separable triangle filter (horizontal pass, then
 * vertical) whose support grows by the scale factor when reducing,
 * coefficients normalised to sum 1 over the pixels inside the image,
 * 22-bit fixed-point accumulation and an 8-bit intermediate image.  With
 * image_eval_box() and image_rrc_box() it gives torchvision's
 * Resize+CenterCrop and RandomResizedCrop in one pass.
 *
 * Nothing here exits or prints: functions return -1 and fill msg, except
 * image_patchify_*(), which return -1 without a message when the image
 * is not a whole number of patches (the caller knows how to say it).
 */
#ifndef MIM_IMAGE_H
#define MIM_IMAGE_H

#include <stddef.h>

#include "util.h"

enum {
	IMAGE_MAXPIXELS = 1 << 28 /* w * h cap: refuse before allocating */
};

struct image {
	int w, h, c;
	unsigned char *px; /* (h, w, c) */
};

/*
 * Decode buf[0..len) into img, with channels 1 (grey: RGB becomes
 * (299 R + 587 G + 114 B) / 1000 rounded), 3 (grey is replicated), or
 * 0 for the image's own: 1 for grey images, 3 for all others.  On error
 * img is zeroed and msg says why: "libpng: IHDR: CRC error",
 * "libjpeg: Premature end of JPEG file", "pnm: truncated pixel data ...",
 * "not a PNG, JPEG or binary PNM image".
 */
int image_decode(const void *buf, size_t len, int channels,
                 struct image *img, char *msg, size_t msglen);

/* free img->px and zero img; NULL and zeroed images are fine */
void image_free(struct image *img);

/* which decoder image_decode() would use: "png", "jpeg", "pnm" or NULL */
const char *image_format(const void *buf, size_t len);

/*
 * Resample the source box (x0, y0) + (bw, bh), in source pixels, to an
 * ow x oh image in dst (allocated here, free with image_free), mirrored
 * left-right when flip is set.  The box must lie inside the image (to
 * 1e-6 pixel).  The whole image at its own size is copied bit for bit.
 */
int image_resample(const struct image *src, double x0, double y0,
                   double bw, double bh, int ow, int oh, int flip,
                   struct image *dst, char *msg, size_t msglen);

/*
 * The evaluation box: torchvision Resize(resize) (shorter side to
 * resize, longer side int(resize * long / short)) then
 * CenterCrop(size) (offset int(round((resized - size) / 2.0)), Python's
 * round half to even), as box[4] = {x0, y0, bw, bh} in source pixels for
 * image_resample(src, box..., size, size).  Needs size <= resize.
 */
void image_eval_box(int w, int h, int resize, int size, double box[4]);

/*
 * torchvision RandomResizedCrop.get_params with scale (smin, smax) and
 * ratio (3/4, 4/3): up to 10 tries of a crop with area U(smin, smax) *
 * w * h and log-uniform aspect ratio, else the centre crop clamped to
 * the ratio range.  Integer box[4] = {x0, y0, bw, bh}.  The result
 * depends only on the rng state.
 */
void image_rrc_box(int w, int h, struct rng *rng, double smin, double smax,
                   double box[4]);

/*
 * Cut img (h and w multiples of p, 1 <= c <= 4) into L = (h/p)*(w/p)
 * patches in row-major grid order, each patch (pixel row, pixel column,
 * channel), MAE's nchpwq->nhwpqc order, so P = p*p*c.
 *   out (L, P)
 * The f32 form writes (px * scale - mean[ch]) / std[ch]; mean NULL means
 * 0 and std NULL means 1.  Return -1 if the size does not divide.
 */
int image_patchify_u8(const struct image *img, int p, unsigned char *out);
int image_patchify_f32(const struct image *img, int p, float scale,
                       const float *mean, const float *std, float *out);

#endif
