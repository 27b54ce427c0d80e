/* See LICENSE file for copyright and license details. */
/*
 * mkfixture: write a small deterministic ImageFolder tree for the tests.
 *
 *   mkfixture DIR
 *
 * DIR/train/{cat,dog,emu}/00{0,1,2,3}.{png,jpg,ppm}: 4 images a class,
 * 32x24 RGB (w 32, h 24), cat as PNG (lossless; cat/000.png has pixel
 * (row r, col c, channel k) = (r*7 + c*3 + k*50) % 256 exactly), dog as
 * JPEG quality 95 (smooth gradients), emu as binary P6 PPM.  Non-image
 * entries: DIR/train/README.txt and DIR/train/cat/notes.txt.
 * DIR/bad/broken/x.png is a PNG with a damaged IDAT byte and
 * DIR/bad/broken/y.jpg a JPEG cut in half, kept apart so that tests can
 * archive train/ alone.
 *
 *   mkfixture -i DIR
 *
 * writes instead a miniature ImageNet in its own layout:
 * DIR/train/WNID/WNID_I.JPEG, 24 a class, and
 * DIR/val/WNID/ILSVRC2012_val_0000000I.JPEG, 8 a class, for the 3 WNIDs
 * n01440764, n01443537 and n01484850; 32x24 RGB JPEGs whose class is
 * plain to see (horizontal bands, vertical bands, a checkerboard, each
 * in its own colour) and whose images differ in phase and brightness.
 * Prints nothing on success; exits 1 on error, 2 on a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <png.h>
#include <jpeglib.h>

#include "util.h"

enum { W = 32, H = 24, N = 4 };

struct membuf {
	unsigned char *p;
	size_t n, cap;
};

static void
mb_write(png_structp png, png_bytep data, size_t n)
{
	struct membuf *m = png_get_io_ptr(png);

	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2;
		m->p = ereallocarray(m->p, m->cap, 1);
	}
	memcpy(m->p + m->n, data, n);
	m->n += n;
}

static void
mb_flush(png_structp png)
{
	(void)png;
}

static void
png_die(png_structp png, png_const_charp s)
{
	(void)png;
	die("libpng: %s", s);
}

/* px (H, W, 3) as an RGB PNG in memory */
static unsigned char *
png_encode(const unsigned char *px, size_t *len)
{
	struct membuf m = { 0 };
	png_structp png;
	png_infop info;
	int y;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_die,
	    NULL);
	if (!png || !(info = png_create_info_struct(png)))
		die("libpng: cannot create write struct");
	png_set_write_fn(png, &m, mb_write, mb_flush);
	png_set_IHDR(png, info, W, H, 8, PNG_COLOR_TYPE_RGB,
	    PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
	    PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (y = 0; y < H; y++)
		png_write_row(png, px + y * W * 3);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	*len = m.n;
	return m.p;
}

/* px (H, W, 3) as a JPEG in memory, allocated by libjpeg (free()) */
static unsigned char *
jpeg_encode(unsigned char *px, size_t *len)
{
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr jerr;
	unsigned char *out = NULL;
	unsigned long n = 0;
	JSAMPROW row;

	ci.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&ci);
	jpeg_mem_dest(&ci, &out, &n);
	ci.image_width = W;
	ci.image_height = H;
	ci.input_components = 3;
	ci.in_color_space = JCS_RGB;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, 95, TRUE);
	jpeg_start_compress(&ci, TRUE);
	while (ci.next_scanline < ci.image_height) {
		row = px + ci.next_scanline * W * 3;
		jpeg_write_scanlines(&ci, &row, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	*len = n;
	return out;
}

/* mkdir -p */
static void
mkdirp(const char *path)
{
	char *p = estrdup(path), *s;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			die("mkdir %s:", p);
		*s = '/';
	}
	if (mkdir(p, 0777) < 0 && errno != EEXIST)
		die("mkdir %s:", p);
	free(p);
}

static void
writefile(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *fp;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		die("%s/%s: path too long", dir, name);
	if (!(fp = fopen(path, "wb")))
		die("open %s:", path);
	efwrite(buf, len, fp, path);
	if (fclose(fp) == EOF)
		die("close %s:", path);
}

static unsigned char
clamp(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* image i of a class: (H, W, 3) */
static void
fill(unsigned char *px, char cls, int i)
{
	int r, c, k, v;

	for (r = 0; r < H; r++)
		for (c = 0; c < W; c++)
			for (k = 0; k < 3; k++) {
				switch (cls) {
				case 'c': /* cat: wrapping diagonal ramp */
					v = (r * 7 + c * 3 + k * 50 +
					    i * 60) % 256;
					break;
				case 'd': /* dog: smooth, for JPEG */
					v = clamp(20 + i * 20 + r * 3 +
					    c * 2 + k * 30);
					break;
				default: /* emu: vertical bands */
					v = (i * 40 + r * 9 + c * 5 +
					    k * 70) % 256;
					break;
				}
				px[(r * W + c) * 3 + k] = v;
			}
}

/* px (H, W, 3): image i of class cls of the miniature ImageNet */
static void
fill_imagenet(unsigned char *px, int cls, int i)
{
	int r, c, k, on;

	for (r = 0; r < H; r++)
		for (c = 0; c < W; c++) {
			on = cls == 0 ? (r + i) / 4 % 2 :
			     cls == 1 ? (c + i) / 4 % 2 :
			     ((r + i) / 4 + (c + i) / 4) % 2;
			for (k = 0; k < 3; k++)
				px[(r * W + c) * 3 + k] = clamp(30 + 5 * (i % 8) +
				    on * (k == cls ? 180 : 60));
		}
}

/* mkfixture -i: the miniature ImageNet under root */
static void
imagenet(const char *root)
{
	static const char *const wnid[] = { "n01440764", "n01443537",
	                                    "n01484850" };
	unsigned char px[H * W * 3], *buf;
	char dir[4096], name[64];
	size_t len;
	int c, i;

	for (c = 0; c < 3; c++) {
		snprintf(dir, sizeof(dir), "%s/train/%s", root, wnid[c]);
		mkdirp(dir);
		for (i = 0; i < 24; i++) {
			fill_imagenet(px, c, i);
			buf = jpeg_encode(px, &len);
			snprintf(name, sizeof(name), "%s_%d.JPEG", wnid[c], i);
			writefile(dir, name, buf, len);
			free(buf);
		}
		snprintf(dir, sizeof(dir), "%s/val/%s", root, wnid[c]);
		mkdirp(dir);
		for (i = 0; i < 8; i++) {
			fill_imagenet(px, c, 24 + i);
			buf = jpeg_encode(px, &len);
			snprintf(name, sizeof(name), "ILSVRC2012_val_%08d.JPEG",
			         c * 8 + i + 1);
			writefile(dir, name, buf, len);
			free(buf);
		}
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-i] dir\n", argv0);
	exit(2);
}

int
main(int argc, char *argv[])
{
	unsigned char px[H * W * 3], *buf;
	char dir[4096], name[64], hdr[32];
	size_t len, n, i;
	long at;
	const char *root, *readme = "not an image: the tools skip it\n";
	const char *notes = "cats\n";
	int k;

	/* arguments */
	setargv0(argv[0]);
	if (argc == 3 && !strcmp(argv[1], "-i") && argv[2][0]) {
		imagenet(argv[2]);
		return fshut(stdout, "<stdout>");
	}
	if (argc != 2 || !argv[1][0])
		usage();
	root = argv[1];

	/* prepare */
	snprintf(dir, sizeof(dir), "%s/train/cat", root);
	mkdirp(dir);
	snprintf(dir, sizeof(dir), "%s/train/dog", root);
	mkdirp(dir);
	snprintf(dir, sizeof(dir), "%s/train/emu", root);
	mkdirp(dir);
	snprintf(dir, sizeof(dir), "%s/bad/broken", root);
	mkdirp(dir);

	/* process */
	for (k = 0; k < N; k++) {
		snprintf(dir, sizeof(dir), "%s/train/cat", root);
		fill(px, 'c', k);
		buf = png_encode(px, &len);
		snprintf(name, sizeof(name), "%03d.png", k);
		writefile(dir, name, buf, len);
		free(buf);

		snprintf(dir, sizeof(dir), "%s/train/dog", root);
		fill(px, 'd', k);
		buf = jpeg_encode(px, &len);
		snprintf(name, sizeof(name), "%03d.jpg", k);
		writefile(dir, name, buf, len);
		free(buf);

		snprintf(dir, sizeof(dir), "%s/train/emu", root);
		fill(px, 'e', k);
		n = snprintf(hdr, sizeof(hdr), "P6\n%d %d\n255\n", W, H);
		buf = emalloc(n + sizeof(px));
		memcpy(buf, hdr, n);
		memcpy(buf + n, px, sizeof(px));
		snprintf(name, sizeof(name), "%03d.ppm", k);
		writefile(dir, name, buf, n + sizeof(px));
		free(buf);
	}
	snprintf(dir, sizeof(dir), "%s/train", root);
	writefile(dir, "README.txt", readme, strlen(readme));
	snprintf(dir, sizeof(dir), "%s/train/cat", root);
	writefile(dir, "notes.txt", notes, strlen(notes));

	/* the broken ones: a damaged IDAT byte, a JPEG cut in half */
	snprintf(dir, sizeof(dir), "%s/bad/broken", root);
	fill(px, 'c', 0);
	buf = png_encode(px, &len);
	for (at = -1, i = 8; i + 4 <= len; i++)
		if (!memcmp(buf + i, "IDAT", 4)) {
			at = i;
			break;
		}
	if (at < 0)
		die("no IDAT chunk in the PNG just written");
	buf[at + 4 + 5] ^= 0x55;
	writefile(dir, "x.png", buf, len);
	free(buf);
	fill(px, 'd', 0);
	buf = jpeg_encode(px, &len);
	writefile(dir, "y.jpg", buf, len / 2);
	free(buf);

	/* clean up */
	return fshut(stdout, "<stdout>");
}
