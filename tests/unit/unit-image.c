/* See LICENSE file for copyright and license details. */
/*
 * unit-image: TAP tests for lib/image.h.
 *
 * Decoding is checked on PNG and JPEG files encoded here in memory with
 * libpng and libjpeg, and on hand-written PNM; resampling against a
 * naive double-precision triangle-filter sum; the crop boxes against
 * numbers worked out from torchvision's code; patchify against a
 * hand-built image.  Prints "ok N - ..." lines, exits 1 on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <png.h>
#include <jpeglib.h>

#include "image.h"
#include "util.h"
#include "tap.h"


/* ------------------------------------------------------------ encoders */

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
	die("png encode: %s", s);
}

struct pngspec {
	int w, h, type, depth, interlace;
	const unsigned char *rows; /* (h, stride) raw PNG row bytes */
	size_t stride;
	const png_color *pal;
	int npal;
	const unsigned char *trns;
	int ntrns;
};

static unsigned char *
png_encode(const struct pngspec *s, size_t *len)
{
	struct membuf m = { 0 };
	png_structp png;
	png_infop info;
	int y;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_die,
	    NULL);
	if (!png || !(info = png_create_info_struct(png)))
		die("png_create_write_struct failed");
	png_set_write_fn(png, &m, mb_write, mb_flush);
	png_set_IHDR(png, info, s->w, s->h, s->depth, s->type,
	    s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
	    PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (s->pal)
		png_set_PLTE(png, info, s->pal, s->npal);
	if (s->trns)
		png_set_tRNS(png, info, s->trns, s->ntrns, NULL);
	png_write_info(png, info);
	if (s->interlace) {
		png_bytep *rows = emalloc(s->h * sizeof(*rows));

		for (y = 0; y < s->h; y++)
			rows[y] = (png_bytep)s->rows + y * s->stride;
		png_write_image(png, rows);
		free(rows);
	} else {
		for (y = 0; y < s->h; y++)
			png_write_row(png, s->rows + y * s->stride);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	*len = m.n;
	return m.p;
}

/* encode px (h, w, comps) in colour space cs; 4:4:4 unless sub */
static unsigned char *
jpeg_encode(unsigned char *px, int w, int h, int comps, J_COLOR_SPACE cs,
            int quality, int sub, size_t *len)
{
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr jerr;
	unsigned char *out = NULL;
	unsigned long n = 0;
	JSAMPROW row;
	int i;

	ci.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&ci);
	jpeg_mem_dest(&ci, &out, &n);
	ci.image_width = w;
	ci.image_height = h;
	ci.input_components = comps;
	ci.in_color_space = cs;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, quality, TRUE);
	if (!sub)
		for (i = 0; i < ci.num_components; i++)
			ci.comp_info[i].h_samp_factor =
			    ci.comp_info[i].v_samp_factor = 1;
	jpeg_start_compress(&ci, TRUE);
	while (ci.next_scanline < ci.image_height) {
		row = px + (size_t)ci.next_scanline * w * comps;
		jpeg_write_scanlines(&ci, &row, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	*len = n;
	return out;
}

/* ------------------------------------------------------------- helpers */

static unsigned char *
pattern(int w, int h, int c, int seed)
{
	unsigned char *p = emalloc((size_t)w * h * c);
	int y, x, k;

	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++)
			for (k = 0; k < c; k++)
				p[(y * w + x) * c + k] = (y * 7 + x * 13 +
				    k * 50 + seed * 31 + (x * y) % 17) & 255;
	return p;
}

static int
same(const struct image *img, int w, int h, int c, const unsigned char *px)
{
	return img->w == w && img->h == h && img->c == c && img->px &&
	    !memcmp(img->px, px, (size_t)w * h * c);
}

static int
maxdiff(const unsigned char *a, const unsigned char *b, size_t n)
{
	size_t i;
	int d, m = 0;

	for (i = 0; i < n; i++) {
		d = abs(a[i] - b[i]);
		m = d > m ? d : m;
	}
	return m;
}

static unsigned char
luma(const unsigned char *p)
{
	return (unsigned char)floor(0.299 * p[0] + 0.587 * p[1] +
	    0.114 * p[2] + 0.5);
}

static int
failswith(const void *buf, size_t len, int ch, const char *want)
{
	struct image img;
	char msg[256] = "";
	int r = image_decode(buf, len, ch, &img, msg, sizeof(msg));

	if (r != -1 || img.px || !strstr(msg, want)) {
		printf("# r=%d msg='%s' (want '%s')\n", r, msg, want);
		image_free(&img);
		return 0;
	}
	return 1;
}

static long
findchunk(const unsigned char *b, size_t n, const char *type)
{
	size_t i;

	for (i = 8; i + 4 <= n; i++)
		if (!memcmp(b + i, type, 4))
			return i;
	return -1;
}

/* -------------------------------------------------------------- decode */

static void
test_png(void)
{
	struct pngspec s;
	struct image img;
	unsigned char *rgb, *grey, *buf, *raw, *want;
	char msg[256];
	size_t len, i, clen;
	long at;
	int r, x, y;
	png_color pal[4] = {
		{ 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 12, 34, 56 }
	};
	unsigned char trns[4] = { 255, 0, 128, 255 };

	rgb = pattern(13, 9, 3, 1);
	memset(&s, 0, sizeof(s));
	s = (struct pngspec){ 13, 9, PNG_COLOR_TYPE_RGB, 8, 0, rgb, 13 * 3,
	    NULL, 0, NULL, 0 };
	buf = png_encode(&s, &len);
	ok(image_format(buf, len) && !strcmp(image_format(buf, len), "png"),
	    "image_format says png");
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 13, 9, 3, rgb), "png rgb8 native round trip");
	image_free(&img);
	r = image_decode(buf, len, 3, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 13, 9, 3, rgb), "png rgb8 as 3 channels");
	image_free(&img);

	/* RGB to grey with 601 luma */
	want = emalloc(13 * 9);
	for (i = 0; i < 13 * 9; i++)
		want[i] = luma(rgb + 3 * i);
	r = image_decode(buf, len, 1, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 13, 9, 1, want), "png rgb8 as grey: luma");
	image_free(&img);

	/* a flipped byte in IDAT, a bad IHDR, truncation */
	at = findchunk(buf, len, "IDAT");
	buf[at + 4 + 5] ^= 0x55;
	ok(failswith(buf, len, 0, "libpng: IDAT: "),
	    "png: flipped IDAT data byte fails");
	buf[at + 4 + 5] ^= 0x55;
	clen = (size_t)buf[at - 4] << 24 | buf[at - 3] << 16 |
	    buf[at - 2] << 8 | buf[at - 1];
	buf[at + 4 + clen] ^= 0x10;
	ok(failswith(buf, len, 0, "libpng: IDAT: CRC error"),
	    "png: flipped IDAT CRC byte: CRC error");
	buf[at + 4 + clen] ^= 0x10;
	buf[19] ^= 1; /* low byte of the width */
	ok(failswith(buf, len, 0, "libpng: IHDR: CRC error"),
	    "png: IHDR CRC error message");
	buf[19] ^= 1;
	for (r = 1, i = 0; i < len; i++) {
		struct image t;

		if (image_decode(buf, i, 0, &t, msg, sizeof(msg)) != -1 ||
		    t.px)
			r = 0;
	}
	ok(r, "png: every truncation fails");
	ok(failswith(buf, len / 2, 0, "libpng: "), "png: truncated msg");
	free(buf);

	/* interlaced */
	s.interlace = 1;
	buf = png_encode(&s, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 13, 9, 3, rgb), "png adam7 interlaced");
	image_free(&img);
	free(buf);

	/* grey, and grey replicated to RGB */
	grey = pattern(7, 5, 1, 2);
	s = (struct pngspec){ 7, 5, PNG_COLOR_TYPE_GRAY, 8, 0, grey, 7,
	    NULL, 0, NULL, 0 };
	buf = png_encode(&s, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 7, 5, 1, grey), "png grey8 native is 1 ch");
	image_free(&img);
	r = image_decode(buf, len, 3, &img, msg, sizeof(msg));
	for (i = 0; r == 0 && i < 35; i++)
		if (img.px[3 * i] != grey[i] || img.px[3 * i + 1] != grey[i] ||
		    img.px[3 * i + 2] != grey[i])
			r = 1;
	ok(r == 0 && img.c == 3, "png grey8 as 3 channels: replicated");
	image_free(&img);
	free(buf);

	/* 16-bit RGB: the high byte survives */
	raw = emalloc(6 * 4 * 6);
	want = ereallocarray(want, 6 * 4 * 3, 1);
	for (i = 0; i < 6 * 4 * 3; i++) {
		raw[2 * i] = rgb[i];
		raw[2 * i + 1] = (unsigned char)(i * 37);
		want[i] = rgb[i];
	}
	s = (struct pngspec){ 6, 4, PNG_COLOR_TYPE_RGB, 16, 0, raw, 6 * 6,
	    NULL, 0, NULL, 0 };
	buf = png_encode(&s, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 6, 4, 3, want), "png rgb16: high bytes");
	image_free(&img);
	free(buf);

	/* 16-bit grey + alpha: alpha dropped */
	for (i = 0; i < 6 * 4; i++) {
		raw[4 * i] = grey[i];
		raw[4 * i + 1] = 0xff;
		raw[4 * i + 2] = (unsigned char)(i * 11);
		raw[4 * i + 3] = 0;
	}
	s = (struct pngspec){ 6, 4, PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, raw,
	    6 * 4, NULL, 0, NULL, 0 };
	buf = png_encode(&s, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 6, 4, 1, grey), "png grey+alpha16: grey");
	image_free(&img);
	free(buf);

	/* 8-bit grey + alpha, to RGB */
	for (i = 0; i < 6 * 4; i++) {
		raw[2 * i] = grey[i];
		raw[2 * i + 1] = (unsigned char)(i * 9);
	}
	s = (struct pngspec){ 6, 4, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, raw,
	    6 * 2, NULL, 0, NULL, 0 };
	buf = png_encode(&s, &len);
	r = image_decode(buf, len, 3, &img, msg, sizeof(msg));
	for (i = 0; r == 0 && i < 24; i++)
		if (img.px[3 * i] != grey[i] || img.px[3 * i + 2] != grey[i])
			r = 1;
	ok(r == 0 && img.c == 3 && img.w == 6,
	    "png grey+alpha8 as RGB: alpha dropped, grey replicated");
	image_free(&img);
	free(buf);

	/* RGBA: alpha dropped */
	for (i = 0; i < 6 * 4; i++) {
		memcpy(raw + 4 * i, rgb + 3 * i, 3);
		raw[4 * i + 3] = (unsigned char)i;
		memcpy(want + 3 * i, rgb + 3 * i, 3);
	}
	s = (struct pngspec){ 6, 4, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, raw,
	    6 * 4, NULL, 0, NULL, 0 };
	buf = png_encode(&s, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 6, 4, 3, want), "png rgba8: alpha dropped");
	image_free(&img);
	free(buf);

	/* palette with tRNS */
	for (i = 0; i < 6 * 4; i++) {
		raw[i] = (i * 7 + i / 6) % 4;
		want[3 * i] = pal[raw[i]].red;
		want[3 * i + 1] = pal[raw[i]].green;
		want[3 * i + 2] = pal[raw[i]].blue;
	}
	s = (struct pngspec){ 6, 4, PNG_COLOR_TYPE_PALETTE, 8, 0, raw, 6,
	    pal, 4, trns, 4 };
	buf = png_encode(&s, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 6, 4, 3, want),
	    "png palette+tRNS: expanded to RGB");
	image_free(&img);
	free(buf);

	/* colour-key tRNS on grey and on RGB: ignored */
	{
		png_color_16 key = { 0, 0, 0, 0, 0 };
		png_structp png;
		png_infop info;
		struct membuf m = { 0 };

		for (x = 0; x < 2; x++) {
			png = png_create_write_struct(PNG_LIBPNG_VER_STRING,
			    NULL, png_die, NULL);
			if (!png || !(info = png_create_info_struct(png)))
				die("png_create_write_struct failed");
			png_set_write_fn(png, &m, mb_write, mb_flush);
			png_set_IHDR(png, info, 6, 4, 8,
			    x ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
			    PNG_INTERLACE_NONE,
			    PNG_COMPRESSION_TYPE_DEFAULT,
			    PNG_FILTER_TYPE_DEFAULT);
			key.gray = key.red = grey[0];
			png_set_tRNS(png, info, NULL, 0, &key);
			png_write_info(png, info);
			for (y = 0; y < 4; y++)
				png_write_row(png, (x ? rgb : grey) +
				    y * 6 * (x ? 3 : 1));
			png_write_end(png, NULL);
			png_destroy_write_struct(&png, &info);
			r = image_decode(m.p, m.n, 0, &img, msg, sizeof(msg));
			for (i = 0; r == 0 && i < 4; i++)
				if (memcmp(img.px + i * 6 * img.c, (x ? rgb :
				    grey) + i * 6 * img.c, 6 * img.c))
					r = 1;
			ok(r == 0 && img.c == (x ? 3 : 1),
			    "png %s with a tRNS colour key",
			    x ? "rgb8" : "grey8");
			image_free(&img);
			free(m.p);
			m = (struct membuf){ 0 };
		}
	}

	/* 1-bit grey */
	raw[0] = 0xb2; /* 1011 0010 */
	raw[1] = 0x0f;
	s = (struct pngspec){ 8, 2, PNG_COLOR_TYPE_GRAY, 1, 0, raw, 1,
	    NULL, 0, NULL, 0 };
	buf = png_encode(&s, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	{
		unsigned char w1[16] = { 255, 0, 255, 255, 0, 0, 255, 0,
			0, 0, 0, 0, 255, 255, 255, 255 };

		ok(r == 0 && same(&img, 8, 2, 1, w1), "png grey1: 0 and 255");
	}
	image_free(&img);
	free(buf);

	/* RGB to grey: known values */
	{
		unsigned char px[15] = { 255, 0, 0, 0, 255, 0, 0, 0, 255,
			255, 255, 255, 10, 20, 30 };
		unsigned char w5[5] = { 76, 150, 29, 255, 18 };

		s = (struct pngspec){ 5, 1, PNG_COLOR_TYPE_RGB, 8, 0, px, 15,
		    NULL, 0, NULL, 0 };
		buf = png_encode(&s, &len);
		r = image_decode(buf, len, 1, &img, msg, sizeof(msg));
		ok(r == 0 && same(&img, 5, 1, 1, w5),
		    "rgb->grey: red 76, green 150, blue 29, white 255, "
		    "(10,20,30) 18");
		image_free(&img);
		free(buf);
	}
	free(raw);
	free(want);
	free(grey);
	free(rgb);
}

static void
test_jpeg(void)
{
	struct image img, img2;
	unsigned char *rgb, *buf, *grey, *cmyk, *want, *junk;
	char msg[256];
	size_t len, i;
	int r, y, x, bad;

	/* a smooth image, quality 100, 4:4:4 */
	rgb = emalloc(40 * 24 * 3);
	for (y = 0; y < 24; y++)
		for (x = 0; x < 40; x++) {
			rgb[(y * 40 + x) * 3] = 40 + x * 3;
			rgb[(y * 40 + x) * 3 + 1] = 200 - y * 4;
			rgb[(y * 40 + x) * 3 + 2] = 100 + x + y;
		}
	buf = jpeg_encode(rgb, 40, 24, 3, JCS_RGB, 100, 0, &len);
	ok(image_format(buf, len) && !strcmp(image_format(buf, len), "jpeg"),
	    "image_format says jpeg");
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	if (r)
		printf("# %s\n", msg);
	ok(r == 0 && img.w == 40 && img.h == 24 && img.c == 3 &&
	    maxdiff(img.px, rgb, 40 * 24 * 3) <= 4,
	    "jpeg rgb q100 round trip within 4 (max diff %d)",
	    r ? -1 : maxdiff(img.px, rgb, 40 * 24 * 3));
	image_free(&img);

	want = emalloc(40 * 24);
	for (i = 0; i < 40 * 24; i++)
		want[i] = luma(rgb + 3 * i);
	r = image_decode(buf, len, 1, &img, msg, sizeof(msg));
	ok(r == 0 && img.c == 1 && maxdiff(img.px, want, 40 * 24) <= 4,
	    "jpeg rgb as grey within 4 of luma");
	image_free(&img);

	/* junk before the final EOI spares the pixels: accepted */
	junk = emalloc(len + 20);
	memcpy(junk, buf, len - 2);
	memcpy(junk + len - 2, "abcdefghijklmnopqrst", 20);
	memcpy(junk + len + 18, buf + len - 2, 2);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	r |= image_decode(junk, len + 20, 0, &img2, msg, sizeof(msg));
	ok(r == 0 && same(&img2, 40, 24, 3, img.px),
	    "jpeg: extraneous bytes before EOI accepted");
	image_free(&img);
	image_free(&img2);
	/* ... but not before another marker (here the first DQT) */
	for (i = 2; i + 1 < len && !(buf[i] == 0xff && buf[i + 1] == 0xdb);)
		i++;
	memcpy(junk, buf, i);
	memcpy(junk + i, "abcdefghijklmnopqrst", 20);
	memcpy(junk + i + 20, buf + i, len - i);
	ok(failswith(junk, len + 20, 0, "libjpeg: Corrupt JPEG data: 20 "
	    "extraneous bytes before marker 0xdb"),
	    "jpeg: extraneous bytes before DQT refused");
	free(junk);

	/* truncations: every prefix fails, with a libjpeg message */
	ok(failswith(buf, len / 2, 0, "libjpeg: Premature end of JPEG file"),
	    "jpeg truncated to half: libjpeg premature end");
	for (bad = 0, i = 0; i < len; i++) {
		if (image_decode(buf, i, 0, &img, msg, sizeof(msg)) != -1 ||
		    img.px)
			bad++;
		image_free(&img);
	}
	ok(bad == 0, "jpeg: every truncation fails (%d decoded)", bad);
	free(buf);

	/* default 4:2:0 subsampling, quality 95: still close */
	buf = jpeg_encode(rgb, 40, 24, 3, JCS_RGB, 95, 1, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && maxdiff(img.px, rgb, 40 * 24 * 3) <= 8,
	    "jpeg rgb q95 4:2:0 within 8");
	image_free(&img);
	free(buf);

	/* grey */
	grey = emalloc(16 * 16);
	for (i = 0; i < 256; i++)
		grey[i] = 60 + (i % 16) * 4 + (i / 16) * 2;
	buf = jpeg_encode(grey, 16, 16, 1, JCS_GRAYSCALE, 100, 0, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	ok(r == 0 && img.c == 1 && img.w == 16 &&
	    maxdiff(img.px, grey, 256) <= 2, "jpeg grey native is 1 ch");
	image_free(&img);
	r = image_decode(buf, len, 3, &img, msg, sizeof(msg));
	for (i = 0; r == 0 && i < 256; i++)
		if (img.px[3 * i] != img.px[3 * i + 1] ||
		    img.px[3 * i] != img.px[3 * i + 2] ||
		    abs(img.px[3 * i] - grey[i]) > 2)
			r = 1;
	ok(r == 0 && img.c == 3, "jpeg grey as 3 channels");
	image_free(&img);
	free(buf);

	/* CMYK with an Adobe marker: stored inverted, R = C' K' / 255 */
	cmyk = emalloc(16 * 16 * 4);
	want = ereallocarray(want, 16 * 16 * 3, 1);
	for (i = 0; i < 256; i++) {
		cmyk[4 * i] = 100 + i % 16;
		cmyk[4 * i + 1] = 200;
		cmyk[4 * i + 2] = 50 + i / 16;
		cmyk[4 * i + 3] = 230;
		for (x = 0; x < 3; x++)
			want[3 * i + x] = (cmyk[4 * i + x] * 230 + 127) / 255;
	}
	buf = jpeg_encode(cmyk, 16, 16, 4, JCS_CMYK, 100, 0, &len);
	r = image_decode(buf, len, 0, &img, msg, sizeof(msg));
	if (r)
		printf("# %s\n", msg);
	ok(r == 0 && img.c == 3 && maxdiff(img.px, want, 768) <= 3,
	    "jpeg cmyk (Adobe) to RGB within 3");
	image_free(&img);
	free(buf);
	free(cmyk);
	free(grey);
	free(want);
	free(rgb);
}

static void
test_pnm(void)
{
	struct image img;
	unsigned char buf[256], *px;
	char msg[256];
	int n, r;

	px = pattern(5, 3, 3, 4);
	n = sprintf((char *)buf, "P6\n# a comment\n5 3\n255\n");
	memcpy(buf + n, px, 45);
	ok(image_format(buf, n + 45) && !strcmp(image_format(buf, n + 45),
	    "pnm"), "image_format says pnm");
	r = image_decode(buf, n + 45, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 5, 3, 3, px), "pnm P6 round trip");
	image_free(&img);
	ok(failswith(buf, n + 44, 0, "pnm: truncated pixel data (got 44 of "
	    "45 bytes)"), "pnm P6 truncated");
	n = sprintf((char *)buf, "P6 5 3 65535\n");
	ok(failswith(buf, n + 90, 0, "maxval 65535 not supported"),
	    "pnm maxval 65535 refused");
	n = sprintf((char *)buf, "P6 5 x 255\n");
	ok(failswith(buf, n, 0, "pnm: bad P6 header"), "pnm bad header");
	n = sprintf((char *)buf, "P3 1 1 255\n1 2 3\n");
	ok(failswith(buf, n, 0, "pnm: P3 not supported"), "pnm P3 refused");
	free(px);

	px = pattern(4, 6, 1, 5);
	n = sprintf((char *)buf, "P5 4 6 255 ");
	memcpy(buf + n, px, 24);
	r = image_decode(buf, n + 24, 0, &img, msg, sizeof(msg));
	ok(r == 0 && same(&img, 4, 6, 1, px), "pnm P5 round trip");
	image_free(&img);
	r = image_decode(buf, n + 24, 3, &img, msg, sizeof(msg));
	ok(r == 0 && img.c == 3 && img.px[3 * 23 + 2] == px[23] &&
	    img.px[0] == px[0] && img.px[1] == px[0],
	    "pnm P5 as 3 channels");
	image_free(&img);
	free(px);
}

static void
test_garbage(void)
{
	const char junk[] = "GIF89a this is not an image at all";
	unsigned char zero[64] = { 0 };
	struct image img;
	char msg[64];

	ok(failswith(junk, sizeof(junk), 0,
	    "not a PNG, JPEG or binary PNM image"), "garbage refused");
	ok(failswith(zero, 0, 0, "not a PNG"), "empty buffer refused");
	ok(failswith(zero, sizeof(zero), 0, "not a PNG"), "zeros refused");
	ok(image_decode(junk, sizeof(junk), 2, &img, msg, sizeof(msg)) == -1,
	    "channels 2 refused");
	ok(failswith("\xff\xd8\xff\xe0garbage", 11, 0, "libjpeg: "),
	    "jpeg magic then garbage: libjpeg error");
	ok(failswith("\x89PNG\r\n\x1a\nxxxxxxxxxxxxxxxxxxxx", 28, 0,
	    "libpng: "), "png magic then garbage: libpng error");
	/* the decoder must survive a tiny buffer */
	ok(image_decode(junk, 5, 0, &img, NULL, 0) == -1,
	    "NULL message buffer is fine");
}

/* random byte flips: no crash, no leak, either result */
static void
test_fuzz(void)
{
	struct rng g;
	struct image img;
	unsigned char *rgb, *png, *jpg, *b;
	size_t np, nj, i;
	char msg[256];
	int k, n, fails = 0;

	struct pngspec s;

	rgb = pattern(24, 16, 3, 9);
	s = (struct pngspec){ 24, 16, PNG_COLOR_TYPE_RGB, 8, 0, rgb, 72,
	    NULL, 0, NULL, 0 };
	png = png_encode(&s, &np);
	jpg = jpeg_encode(rgb, 24, 16, 3, JCS_RGB, 90, 1, &nj);
	b = emalloc(np > nj ? np : nj);
	rng_seed(&g, 1, 0);
	for (k = 0; k < 400; k++) {
		size_t len = k & 1 ? nj : np;

		memcpy(b, k & 1 ? jpg : png, len);
		for (n = 1 + rng_below(&g, 4); n > 0; n--) {
			i = rng_below(&g, len);
			b[i] ^= 1 + rng_below(&g, 255);
		}
		if (image_decode(b, len, 0, &img, msg, sizeof(msg)) < 0)
			fails++;
		image_free(&img);
	}
	ok(1, "fuzz: 400 damaged files decoded or refused (%d refused)",
	    fails);
	free(b);
	free(png);
	free(jpg);
	free(rgb);
}

/* ------------------------------------------------------------ resample */

static double
tri(double x)
{
	x = fabs(x);
	return x < 1 ? 1 - x : 0;
}

/* weights of every source pixel for each output pixel, one axis */
static double *
naive_weights(int in, double x0, double bw, int out)
{
	double *w = ecalloc((size_t)in * out, sizeof(*w));
	double scale = bw / out, fs = scale < 1 ? 1 : scale, c;
	int i, j;

	for (i = 0; i < out; i++) {
		c = x0 + (i + 0.5) * scale;
		for (j = 0; j < in; j++)
			w[i * in + j] = tri((j + 0.5 - c) / fs);
	}
	return w;
}

/* direct double-precision sum of the separable triangle filter */
static unsigned char *
naive_resample(const struct image *s, double x0, double y0, double bw,
               double bh, int ow, int oh)
{
	unsigned char *out = emalloc((size_t)ow * oh * s->c);
	double *wx = naive_weights(s->w, x0, bw, ow);
	double *wy = naive_weights(s->h, y0, bh, oh);
	double num, den, w;
	int yy, xx, k, i, j;

	for (yy = 0; yy < oh; yy++)
		for (xx = 0; xx < ow; xx++)
			for (k = 0; k < s->c; k++) {
				num = den = 0;
				for (i = 0; i < s->h; i++) {
					if (!wy[yy * s->h + i])
						continue;
					for (j = 0; j < s->w; j++) {
						w = wy[yy * s->h + i] *
						    wx[xx * s->w + j];
						num += w * s->px[(i * s->w +
						    j) * s->c + k];
						den += w;
					}
				}
				num = floor(num / den + 0.5);
				out[(yy * ow + xx) * s->c + k] =
				    num < 0 ? 0 : num > 255 ? 255 : num;
			}
	free(wx);
	free(wy);
	return out;
}

static void
test_resample(void)
{
	struct image src, dst, dst2;
	struct rng g;
	unsigned char *ref;
	double x0, y0, bw, bh;
	char msg[256];
	int t, ow, oh, r, d, worst, bad, ndown = 0, nup = 0, x, y, k;

	/* identity */
	src = (struct image){ 37, 23, 3, pattern(37, 23, 3, 6) };
	r = image_resample(&src, 0, 0, 37, 23, 37, 23, 0, &dst, msg,
	    sizeof(msg));
	ok(r == 0 && same(&dst, 37, 23, 3, src.px), "resample identity rgb");
	image_free(&dst);
	/* identity through the filter (flip forces the horizontal pass) */
	r = image_resample(&src, 0, 0, 37, 23, 37, 23, 1, &dst, msg,
	    sizeof(msg));
	for (bad = 0, y = 0; r == 0 && y < 23; y++)
		for (x = 0; x < 37; x++)
			for (k = 0; k < 3; k++)
				bad += dst.px[(y * 37 + x) * 3 + k] !=
				    src.px[(y * 37 + 36 - x) * 3 + k];
	ok(r == 0 && !bad, "resample identity flipped is the mirror image");
	image_free(&dst);
	/* an integer crop at scale 1 is a copy */
	r = image_resample(&src, 5, 3, 20, 11, 20, 11, 0, &dst, msg,
	    sizeof(msg));
	for (bad = 0, y = 0; r == 0 && y < 11; y++)
		bad += memcmp(dst.px + y * 20 * 3,
		    src.px + ((y + 3) * 37 + 5) * 3, 60) != 0;
	ok(r == 0 && !bad, "resample integer crop at scale 1 is a copy");
	image_free(&dst);
	free(src.px);
	src = (struct image){ 16, 9, 1, pattern(16, 9, 1, 7) };
	r = image_resample(&src, 0, 0, 16, 9, 16, 9, 0, &dst, msg,
	    sizeof(msg));
	ok(r == 0 && same(&dst, 16, 9, 1, src.px), "resample identity grey");
	image_free(&dst);
	free(src.px);

	/* against the naive sum */
	rng_seed(&g, 2024, 1);
	for (worst = 0, bad = 0, t = 0; t < 300; t++) {
		int w = 1 + rng_below(&g, 40), h = 1 + rng_below(&g, 40);
		int c = rng_below(&g, 2) ? 3 : 1;
		size_t n = (size_t)w * h * c, i;

		src = (struct image){ w, h, c, emalloc(n) };
		for (i = 0; i < n; i++)
			src.px[i] = rng_below(&g, 256);
		x0 = rng_uniform(&g) * w * 0.5;
		y0 = rng_uniform(&g) * h * 0.5;
		bw = (w - x0) * (0.05 + 0.95 * rng_uniform(&g));
		bh = (h - y0) * (0.05 + 0.95 * rng_uniform(&g));
		if (t % 3 == 0) /* the whole image */
			x0 = y0 = 0, bw = w, bh = h;
		if (t & 1) { /* reduce */
			ow = 1 + rng_below(&g, (int)ceil(bw));
			oh = 1 + rng_below(&g, (int)ceil(bh));
		} else {
			ow = 1 + (int)bw + rng_below(&g, 48);
			oh = 1 + (int)bh + rng_below(&g, 48);
		}
		ndown += bw / ow > 1 && bh / oh > 1;
		nup += bw / ow < 1 && bh / oh < 1;
		r = image_resample(&src, x0, y0, bw, bh, ow, oh, 0, &dst, msg,
		    sizeof(msg));
		if (r < 0) {
			printf("# %s\n", msg);
			bad++;
		} else {
			ref = naive_resample(&src, x0, y0, bw, bh, ow, oh);
			d = maxdiff(ref, dst.px, (size_t)ow * oh * c);
			worst = d > worst ? d : worst;
			free(ref);
		}
		image_free(&dst);
		free(src.px);
	}
	ok(!bad && worst <= 1, "resample = naive triangle sum +-1 on 300 "
	    "random boxes (%d down, %d up, worst %d)", ndown, nup, worst);

	/* flip is the mirror of the unflipped output */
	src = (struct image){ 31, 17, 3, pattern(31, 17, 3, 8) };
	r = image_resample(&src, 2.5, 1.25, 21.7, 13.1, 9, 7, 0, &dst, msg,
	    sizeof(msg));
	r |= image_resample(&src, 2.5, 1.25, 21.7, 13.1, 9, 7, 1, &dst2, msg,
	    sizeof(msg));
	for (bad = 0, y = 0; r == 0 && y < 7; y++)
		for (x = 0; x < 9; x++)
			bad += memcmp(dst.px + (y * 9 + x) * 3,
			    dst2.px + (y * 9 + 8 - x) * 3, 3) != 0;
	ok(r == 0 && !bad, "resample flip mirrors the output");
	image_free(&dst);
	image_free(&dst2);

	/* bad arguments */
	ok(image_resample(&src, 0, 0, 32, 17, 8, 8, 0, &dst, msg,
	    sizeof(msg)) == -1 && strstr(msg, "not inside") && !dst.px,
	    "resample: box past the right edge refused");
	ok(image_resample(&src, -1, 0, 10, 10, 8, 8, 0, &dst, msg,
	    sizeof(msg)) == -1, "resample: negative x0 refused");
	ok(image_resample(&src, 0, 0, 0, 10, 8, 8, 0, &dst, msg,
	    sizeof(msg)) == -1, "resample: empty box refused");
	ok(image_resample(&src, 0, 0, 10, 10, 0, 8, 0, &dst, msg,
	    sizeof(msg)) == -1, "resample: zero output width refused");
	free(src.px);
}

/* ----------------------------------------------------------- crop boxes */

static int
near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

static void
test_eval_box(void)
{
	struct image src, full, crop, one;
	double b[4];
	char msg[256];
	int r, y, d;

	/* 500x375: resized 341x256 (int(256*500/375) = int(341.33)),
	 * left = round(58.5) = 58 (half to even), top = 16 */
	image_eval_box(500, 375, 256, 224, b);
	ok(near(b[0], 58 * 500.0 / 341) && near(b[1], 16 * 375.0 / 256) &&
	    near(b[2], 224 * 500.0 / 341) && near(b[3], 224 * 375.0 / 256),
	    "eval box 500x375: %.6f %.6f %.6f %.6f", b[0], b[1], b[2], b[3]);
	ok(near(b[0], 85.043988269795) && near(b[1], 23.4375) &&
	    near(b[2], 328.445747800587) && near(b[3], 328.125),
	    "eval box 500x375 numbers");
	image_eval_box(375, 500, 256, 224, b);
	ok(near(b[0], 16 * 375.0 / 256) && near(b[1], 58 * 500.0 / 341) &&
	    near(b[2], 328.125) && near(b[3], 224 * 500.0 / 341),
	    "eval box 375x500 (portrait) is the transpose");
	/* 1340x1000: resized 343x256, left = round(59.5) = 60 */
	image_eval_box(1340, 1000, 256, 224, b);
	ok(near(b[0], 60 * 1340.0 / 343) && near(b[1], 16 * 1000.0 / 256),
	    "eval box 1340x1000: offset 59.5 rounds to 60");
	image_eval_box(256, 256, 256, 224, b);
	ok(near(b[0], 16) && near(b[1], 16) && near(b[2], 224) &&
	    near(b[3], 224), "eval box 256x256: plain 16,16 crop");
	image_eval_box(28, 28, 28, 28, b);
	ok(near(b[0], 0) && near(b[1], 0) && near(b[2], 28) &&
	    near(b[3], 28), "eval box 28x28 -> 28: whole image");

	/* one pass with the box = resize, then crop (torchvision's way) */
	src = (struct image){ 100, 75, 3, pattern(100, 75, 3, 10) };
	image_eval_box(100, 75, 64, 56, b);
	r = image_resample(&src, 0, 0, 100, 75, 85, 64, 0, &full, msg,
	    sizeof(msg));
	r |= image_resample(&src, b[0], b[1], b[2], b[3], 56, 56, 0, &one,
	    msg, sizeof(msg));
	/* int(64 * 100 / 75) = 85, left = round(14.5) = 14, top = 4 */
	crop = (struct image){ 56, 56, 3, emalloc(56 * 56 * 3) };
	for (y = 0; r == 0 && y < 56; y++)
		memcpy(crop.px + y * 56 * 3, full.px + ((y + 4) * 85 + 14) * 3,
		    56 * 3);
	d = r ? 99 : maxdiff(crop.px, one.px, 56 * 56 * 3);
	ok(r == 0 && d <= 1, "eval box in one pass = resize then crop (max "
	    "diff %d)", d);
	image_free(&full);
	image_free(&one);
	image_free(&crop);
	free(src.px);
}

static void
rrc_fallback(int w, int h, double b[4])
{
	int cw = w, ch = h;

	if ((double)w / h < 0.75)
		ch = (int)floor(w / 0.75 + 0.5);
	else if ((double)w / h > 4.0 / 3)
		cw = (int)floor(h * 4.0 / 3 + 0.5);
	b[0] = (w - cw) / 2;
	b[1] = (h - ch) / 2;
	b[2] = cw;
	b[3] = ch;
}

static void
test_rrc(void)
{
	struct rng g, r1, r2;
	double b[4], fb[4], b2[4], frac, lo;
	int t, w, h, inside = 1, area = 1, integral = 1, nfall = 0, det = 1;
	int diff = 0, i;

	rng_seed(&g, 5, 0);
	for (t = 0; t < 5000; t++) {
		w = 1 + rng_below(&g, t < 2500 ? 20 : 600);
		h = 1 + rng_below(&g, t < 2500 ? 20 : 600);
		rng_seed(&r1, t, 3);
		image_rrc_box(w, h, &r1, 0.2, 1.0, b);
		for (i = 0; i < 4; i++)
			integral &= b[i] == floor(b[i]);
		inside &= b[0] >= 0 && b[1] >= 0 && b[2] >= 1 && b[3] >= 1 &&
		    b[0] + b[2] <= w && b[1] + b[3] <= h;
		rrc_fallback(w, h, fb);
		if (!memcmp(b, fb, sizeof(b))) {
			nfall++;
			continue;
		}
		/* area >= 0.2 wh, less the rounding of both sides */
		frac = b[2] * b[3] / ((double)w * h);
		lo = 0.2 - (b[2] + b[3] + 1) / (2.0 * w * h);
		if (frac < lo || frac > 1) {
			printf("# %dx%d: box %g %g %g %g\n", w, h, b[0], b[1],
			    b[2], b[3]);
			area = 0;
		}
	}
	ok(integral, "rrc boxes are integers");
	ok(inside, "rrc boxes lie inside the image");
	ok(area, "rrc area fraction in [0.2, 1] unless falling back (%d "
	    "fell back)", nfall);

	rng_seed(&r1, 42, 0);
	rng_seed(&r2, 42, 0);
	for (t = 0; t < 200; t++) {
		image_rrc_box(300, 200, &r1, 0.08, 1.0, b);
		image_rrc_box(300, 200, &r2, 0.08, 1.0, b2);
		det &= !memcmp(b, b2, sizeof(b));
	}
	ok(det, "rrc is deterministic for a seed");
	rng_seed(&r1, 42, 0);
	rng_seed(&r2, 43, 0);
	for (t = 0; t < 20; t++) {
		image_rrc_box(300, 200, &r1, 0.08, 1.0, b);
		image_rrc_box(300, 200, &r2, 0.08, 1.0, b2);
		diff |= memcmp(b, b2, sizeof(b)) != 0;
	}
	ok(diff, "rrc differs between seeds");

	/* impossible areas fall back to the clamped centre crop */
	rng_seed(&r1, 1, 0);
	image_rrc_box(10, 200, &r1, 0.9, 1.0, b);
	ok(b[0] == 0 && b[1] == 93 && b[2] == 10 && b[3] == 13,
	    "rrc fallback tall 10x200: 0 93 10 13 (got %g %g %g %g)", b[0],
	    b[1], b[2], b[3]);
	image_rrc_box(200, 10, &r1, 0.9, 1.0, b);
	ok(b[0] == 93 && b[1] == 0 && b[2] == 13 && b[3] == 10,
	    "rrc fallback wide 200x10: 93 0 13 10");
}

/* ------------------------------------------------------------ patchify */

static void
test_patchify(void)
{
	/* pixel (r, c, k) = r*40 + c*10 + k; patches 2x2, grid 2x2 */
	static const unsigned char want[48] = {
		0, 1, 2, 10, 11, 12, 40, 41, 42, 50, 51, 52,
		20, 21, 22, 30, 31, 32, 60, 61, 62, 70, 71, 72,
		80, 81, 82, 90, 91, 92, 120, 121, 122, 130, 131, 132,
		100, 101, 102, 110, 111, 112, 140, 141, 142, 150, 151, 152
	};
	const float mean[3] = { 0.485f, 0.456f, 0.406f };
	const float sd[3] = { 0.229f, 0.224f, 0.225f };
	unsigned char px[48], out[48];
	float f[48], *big;
	struct image img = { 4, 4, 3, px }, g;
	double e, worst = 0;
	clock_t t0;
	int i, r, c, k, bad = 0;

	for (r = 0; r < 4; r++)
		for (c = 0; c < 4; c++)
			for (k = 0; k < 3; k++)
				px[(r * 4 + c) * 3 + k] = r * 40 + c * 10 + k;
	ok(image_patchify_u8(&img, 2, out) == 0, "patchify u8 4x4x3 p=2");
	for (i = 0; i < 48; i++)
		if (out[i] != want[i]) {
			printf("# element %d: %d, want %d\n", i, out[i],
			    want[i]);
			bad++;
		}
	ok(!bad, "patchify u8 order (row, col, channel), 48 elements");
	ok(image_patchify_u8(&img, 3, out) == -1 &&
	    image_patchify_f32(&img, 3, 1, NULL, NULL, f) == -1,
	    "patchify refuses p not dividing the size");
	ok(image_patchify_u8(&img, 4, out) == 0 && !memcmp(out, px, 48),
	    "patchify p = size is the image");
	ok(image_patchify_u8(&img, 1, out) == 0 && !memcmp(out, px, 48),
	    "patchify p = 1 is the image");

	ok(image_patchify_f32(&img, 2, 1.0f / 255, mean, sd, f) == 0,
	    "patchify f32 normalised");
	for (i = 0; i < 48; i++) {
		e = fabs(f[i] - (want[i] / 255.0 - mean[i % 3]) / sd[i % 3]);
		worst = e > worst ? e : worst;
	}
	ok(worst < 1e-5, "patchify f32 = (v/255 - mean) / std (err %.2g)",
	    worst);
	image_patchify_f32(&img, 2, 1.0f / 255, NULL, NULL, f);
	for (bad = 0, i = 0; i < 48; i++)
		bad += fabs(f[i] - want[i] / 255.0) > 1e-6;
	ok(!bad, "patchify f32 without mean and std: v/255");
	image_patchify_f32(&img, 2, 1, NULL, NULL, f);
	for (bad = 0, i = 0; i < 48; i++)
		bad += f[i] != want[i];
	ok(!bad, "patchify f32 scale 1: the bytes exactly");

	/* grey; and the speed on 60000 28x28 images */
	g = (struct image){ 28, 28, 1, pattern(28, 28, 1, 11) };
	big = emalloc(28 * 28 * sizeof(*big));
	ok(image_patchify_f32(&g, 7, 1.0f / 255, mean, sd, big) == 0 &&
	    fabs(big[7] - (g.px[28] / 255.0 - mean[0]) / sd[0]) < 1e-5 &&
	    fabs(big[49] - (g.px[7] / 255.0 - mean[0]) / sd[0]) < 1e-5,
	    "patchify f32 grey 28x28 p=7 layout");
	t0 = clock();
	for (i = 0; i < 60000; i++)
		image_patchify_f32(&g, 7, 1.0f / 255, mean, sd, big);
	printf("# patchify_f32: 60000 28x28 grey images in %.1f ms\n",
	    (clock() - t0) * 1000.0 / CLOCKS_PER_SEC);
	free(big);
	free(g.px);
}

int
main(int argc, char *argv[])
{
	(void)argc;
	setargv0(argv[0]);
	test_png();
	test_jpeg();
	test_pnm();
	test_garbage();
	test_fuzz();
	test_resample();
	test_eval_box();
	test_rrc();
	test_patchify();
	return tap_done();
}
