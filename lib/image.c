/* See LICENSE file for copyright and license details. */
/*
 * image: decode PNG, JPEG and binary PNM from memory (see image.h).
 *
 * Each decoder fills pixels in the image's own channel count (1 or 3),
 * into a buffer big enough for the requested count, and convert() then
 * turns grey into RGB or RGB into grey in place.
 *
 * libpng and libjpeg report errors through callbacks that longjmp back
 * into the decoder.  Everything changed after setjmp() lives in a
 * context struct reached through a pointer, so it keeps its value
 * across the jump and the caller can free it.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

#include "image.h"

static int
fail(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Allocate room for w x h pixels of max(native, want) channels, after
 * refusing sizes that would overflow or exhaust memory.
 */
static unsigned char *
alloc_px(long w, long h, int native, int want, char *msg, size_t msglen)
{
	unsigned char *px;
	size_t c = want > native ? want : native;

	if (w <= 0 || h <= 0 || w > IMAGE_MAXPIXELS / h) {
		fail(msg, msglen, "image too large or empty (%ldx%ld)", w, h);
		return NULL;
	}
	if (!(px = malloc((size_t)w * h * c)))
		fail(msg, msglen, "out of memory for a %ldx%ld image", w, h);
	return px;
}

/* turn img from native channels into want (0: keep), in place */
static void
convert(struct image *img, int native, int want)
{
	unsigned char *p = img->px, v;
	size_t n = (size_t)img->w * img->h, i;

	img->c = native;
	if (want == 0 || want == native)
		return;
	if (want == 1) {
		/* ITU-R 601 luma, rounded; writes never overtake reads */
		for (i = 0; i < n; i++)
			p[i] = (299 * p[3 * i] + 587 * p[3 * i + 1] +
			        114 * p[3 * i + 2] + 500) / 1000;
		if ((p = realloc(img->px, n)))
			img->px = p;
	} else {
		/* backwards, so that no grey byte is overwritten unread */
		for (i = n; i-- > 0;) {
			v = p[i];
			p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = v;
		}
	}
	img->c = want;
}

/* ---------------------------------------------------------------- PNG */

struct pngctx {
	const unsigned char *buf;
	size_t len, pos;
	png_structp png;
	png_infop info;
	unsigned char *px;
	png_bytep *rows;
	int w, h, native;
	char *msg;
	size_t msglen;
};

static void
png_fatal(png_structp png, png_const_charp s)
{
	struct pngctx *ctx = png_get_error_ptr(png);

	fail(ctx->msg, ctx->msglen, "libpng: %s", s);
	png_longjmp(png, 1);
}

static void
png_ignore(png_structp png, png_const_charp s)
{
	(void)png;
	(void)s;
}

static void
png_readmem(png_structp png, png_bytep out, size_t n)
{
	struct pngctx *ctx = png_get_io_ptr(png);

	if (n > ctx->len - ctx->pos)
		png_error(png, "unexpected end of data");
	memcpy(out, ctx->buf + ctx->pos, n);
	ctx->pos += n;
}

static int
png_run(struct pngctx *ctx, int want)
{
	png_structp png = ctx->png;
	png_infop info = ctx->info;
	png_uint_32 w, h, i;
	int depth, type;

	if (setjmp(png_jmpbuf(png)))
		return -1;
	png_set_read_fn(png, ctx, png_readmem);
	png_read_info(png, info);
	png_get_IHDR(png, info, &w, &h, &depth, &type, NULL, NULL, NULL);

	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (depth == 16)
		png_set_strip_16(png);
	if ((type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info,
	    PNG_INFO_tRNS))
		png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);

	ctx->native = (type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
	if (png_get_bit_depth(png, info) != 8 ||
	    png_get_channels(png, info) != ctx->native ||
	    png_get_rowbytes(png, info) != (size_t)w * ctx->native)
		png_error(png, "unexpected row layout after transforms");
	if (!(ctx->px = alloc_px(w, h, ctx->native, want, ctx->msg,
	    ctx->msglen)))
		return -1;
	if (!(ctx->rows = malloc(h * sizeof(*ctx->rows))))
		return fail(ctx->msg, ctx->msglen, "out of memory");
	for (i = 0; i < h; i++)
		ctx->rows[i] = ctx->px + (size_t)i * w * ctx->native;
	png_read_image(png, ctx->rows);
	png_read_end(png, NULL);
	ctx->w = w;
	ctx->h = h;
	return 0;
}

static int
decode_png(const unsigned char *buf, size_t len, int want, struct image *img,
           char *msg, size_t msglen)
{
	struct pngctx ctx;
	int r = -1;

	memset(&ctx, 0, sizeof(ctx));
	ctx.buf = buf;
	ctx.len = len;
	ctx.msg = msg;
	ctx.msglen = msglen;
	ctx.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx,
	    png_fatal, png_ignore);
	if (!ctx.png)
		return fail(msg, msglen, "libpng: cannot create read struct");
	if (!(ctx.info = png_create_info_struct(ctx.png)))
		fail(msg, msglen, "libpng: cannot create info struct");
	else
		r = png_run(&ctx, want);
	png_destroy_read_struct(&ctx.png, &ctx.info, NULL);
	free(ctx.rows);
	if (r < 0) {
		free(ctx.px);
		return -1;
	}
	img->w = ctx.w;
	img->h = ctx.h;
	img->px = ctx.px;
	convert(img, ctx.native, want);
	return 0;
}

/* --------------------------------------------------------------- JPEG */

struct jpgerr {
	struct jpeg_error_mgr pub; /* first: libjpeg casts cinfo->err */
	jmp_buf jb;
	char *msg;
	size_t msglen;
};

struct jpgctx {
	struct jpeg_decompress_struct cinfo;
	struct jpgerr err;
	unsigned char *px, *row;
	int native, cmyk;
};

static void
jpg_fatal(j_common_ptr cinfo)
{
	struct jpgerr *e = (struct jpgerr *)cinfo->err;
	char buf[JMSG_LENGTH_MAX];

	cinfo->err->format_message(cinfo, buf);
	fail(e->msg, e->msglen, "libjpeg: %s", buf);
	longjmp(e->jb, 1);
}

/* warnings (level -1) are errors, except those that spare the pixels */
static void
jpg_emit(j_common_ptr cinfo, int level)
{
	struct jpeg_error_mgr *err = cinfo->err;

	if (level >= 0)
		return;
	switch (err->msg_code) {
	case JWRN_ADOBE_XFORM:
	case JWRN_JFIF_MAJOR:
	case JWRN_BOGUS_ICC:
		err->num_warnings++;
		return;
	case JWRN_EXTRANEOUS_DATA:
		if (err->msg_parm.i[1] == JPEG_EOI) {
			err->num_warnings++;
			return;
		}
		break;
	}
	jpg_fatal(cinfo);
}

/* CMYK (Adobe files store it inverted) to RGB as Pillow does */
static void
cmyk_row(const unsigned char *in, unsigned char *out, size_t w, int adobe)
{
	unsigned c, m, y, k;
	size_t i;

	for (i = 0; i < w; i++, in += 4, out += 3) {
		c = in[0], m = in[1], y = in[2], k = in[3];
		if (!adobe)
			c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
		out[0] = (c * k + 127) / 255;
		out[1] = (m * k + 127) / 255;
		out[2] = (y * k + 127) / 255;
	}
}

static int
jpg_run(struct jpgctx *ctx, const unsigned char *buf, size_t len, int want)
{
	struct jpeg_decompress_struct *ci = &ctx->cinfo;
	JSAMPROW row;
	size_t stride, y;

	if (setjmp(ctx->err.jb))
		return -1;
	jpeg_create_decompress(ci);
	jpeg_mem_src(ci, buf, len);
	jpeg_read_header(ci, TRUE);
	/* refuse before start_decompress allocates whole-image buffers */
	if (!ci->image_height ||
	    ci->image_width > IMAGE_MAXPIXELS / ci->image_height)
		return fail(ctx->err.msg, ctx->err.msglen,
		    "image too large (%ux%u)", ci->image_width,
		    ci->image_height);
	switch (ci->jpeg_color_space) {
	case JCS_GRAYSCALE:
		ci->out_color_space = JCS_GRAYSCALE;
		ctx->native = 1;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		ci->out_color_space = JCS_CMYK;
		ctx->native = 3;
		ctx->cmyk = 1;
		break;
	default:
		ci->out_color_space = JCS_RGB;
		ctx->native = 3;
		break;
	}
	jpeg_start_decompress(ci);
	if (ci->output_components != (ctx->cmyk ? 4 : ctx->native))
		return fail(ctx->err.msg, ctx->err.msglen,
		    "libjpeg: unexpected output components %d",
		    ci->output_components);
	if (!(ctx->px = alloc_px(ci->output_width, ci->output_height,
	    ctx->native, want, ctx->err.msg, ctx->err.msglen)))
		return -1;
	stride = (size_t)ci->output_width * ctx->native;
	if (ctx->cmyk && !(ctx->row = malloc((size_t)ci->output_width * 4)))
		return fail(ctx->err.msg, ctx->err.msglen, "out of memory");
	while ((y = ci->output_scanline) < ci->output_height) {
		row = ctx->cmyk ? ctx->row : ctx->px + y * stride;
		if (jpeg_read_scanlines(ci, &row, 1) != 1)
			return fail(ctx->err.msg, ctx->err.msglen,
			    "libjpeg: no scanline read");
		if (ctx->cmyk)
			cmyk_row(ctx->row, ctx->px + y * stride,
			    ci->output_width, ci->saw_Adobe_marker);
	}
	jpeg_finish_decompress(ci);
	return 0;
}

static int
decode_jpeg(const unsigned char *buf, size_t len, int want,
            struct image *img, char *msg, size_t msglen)
{
	struct jpgctx ctx;
	int r;

#if SIZE_MAX > ULONG_MAX
	if (len > ULONG_MAX)
		return fail(msg, msglen, "libjpeg: input too large");
#endif
	memset(&ctx, 0, sizeof(ctx));
	ctx.cinfo.err = jpeg_std_error(&ctx.err.pub);
	ctx.err.pub.error_exit = jpg_fatal;
	ctx.err.pub.emit_message = jpg_emit;
	ctx.err.msg = msg;
	ctx.err.msglen = msglen;
	r = jpg_run(&ctx, buf, len, want);
	img->w = ctx.cinfo.output_width;
	img->h = ctx.cinfo.output_height;
	jpeg_destroy_decompress(&ctx.cinfo);
	free(ctx.row);
	if (r < 0) {
		free(ctx.px);
		memset(img, 0, sizeof(*img));
		return -1;
	}
	img->px = ctx.px;
	convert(img, ctx.native, want);
	return 0;
}

/* ---------------------------------------------------------------- PNM */

static int
pnm_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\v' || ch == '\f';
}

/* whitespace and comments, at least one; then a decimal number */
static int
pnm_field(const unsigned char *b, size_t len, size_t *pos, long *v)
{
	size_t p = *pos, start = p;

	while (p < len && (pnm_space(b[p]) || b[p] == '#')) {
		if (b[p] == '#')
			while (p < len && b[p] != '\n' && b[p] != '\r')
				p++;
		else
			p++;
	}
	if (p == start || p >= len || b[p] < '0' || b[p] > '9')
		return -1;
	for (*v = 0; p < len && b[p] >= '0' && b[p] <= '9'; p++)
		if ((*v = *v * 10 + (b[p] - '0')) > 1000000000L)
			return -1;
	*pos = p;
	return 0;
}

static int
decode_pnm(const unsigned char *buf, size_t len, int want, struct image *img,
           char *msg, size_t msglen)
{
	long w, h, maxval;
	size_t pos = 2, need;
	int native = buf[1] == '5' ? 1 : 3;

	if (pnm_field(buf, len, &pos, &w) < 0 ||
	    pnm_field(buf, len, &pos, &h) < 0 ||
	    pnm_field(buf, len, &pos, &maxval) < 0 ||
	    pos >= len || !pnm_space(buf[pos]))
		return fail(msg, msglen, "pnm: bad P%c header", buf[1]);
	pos++;
	if (maxval != 255)
		return fail(msg, msglen,
		    "pnm: maxval %ld not supported (only 255)", maxval);
	if (!(img->px = alloc_px(w, h, native, want, msg, msglen)))
		return -1;
	need = (size_t)w * h * native;
	if (len - pos < need) {
		free(img->px);
		img->px = NULL;
		return fail(msg, msglen,
		    "pnm: truncated pixel data (got %zu of %zu bytes)",
		    len - pos, need);
	}
	memcpy(img->px, buf + pos, need);
	img->w = w;
	img->h = h;
	convert(img, native, want);
	return 0;
}

/* -------------------------------------------------------------- entry */

const char *
image_format(const void *buf, size_t len)
{
	const unsigned char *b = buf;

	if (len >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
		return "png";
	if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
		return "jpeg";
	if (len >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6') &&
	    (pnm_space(b[2]) || b[2] == '#'))
		return "pnm";
	return NULL;
}

int
image_decode(const void *buf, size_t len, int channels, struct image *img,
             char *msg, size_t msglen)
{
	const unsigned char *b = buf;
	const char *fmt = image_format(buf, len);

	memset(img, 0, sizeof(*img));
	if (channels != 0 && channels != 1 && channels != 3)
		return fail(msg, msglen,
		    "bad channel count %d (want 0, 1 or 3)", channels);
	if (!fmt) {
		if (len >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '4')
			return fail(msg, msglen, "pnm: P%c not supported "
			    "(only binary P5 and P6)", b[1]);
		return fail(msg, msglen, "not a PNG, JPEG or binary PNM image");
	}
	if (!strcmp(fmt, "png"))
		return decode_png(b, len, channels, img, msg, msglen);
	if (!strcmp(fmt, "jpeg"))
		return decode_jpeg(b, len, channels, img, msg, msglen);
	return decode_pnm(b, len, channels, img, msg, msglen);
}
