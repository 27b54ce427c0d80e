/* See LICENSE file for copyright and license details. */
/*
 * image_resample: antialiased bilinear resampling, the torchvision crop
 * boxes, and patchify (see image.h).  Plain C and libm only, so a tool
 * that never decodes need not link libpng or libjpeg.
 *
 * The resampler follows Pillow's approach.  For each axis and each
 * output pixel i, the centre in source pixels is
 *     centre = in0 + (i + 0.5) * scale,  scale = box length / out size,
 * the support of the triangle filter is max(scale, 1), the source
 * pixels j with centres j + 0.5 within the support (clamped to the
 * image) get weights tri((j + 0.5 - centre) / max(scale, 1)), normalised
 * to sum 1 and stored as 22-bit fixed point.  The horizontal pass runs
 * first, on the source rows the vertical pass needs, into an 8-bit
 * intermediate image; both passes round to nearest and clamp.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

enum {
	PREC = 22 /* fraction bits of a coefficient: 32 - 8 - 2, as Pillow */
};

#define BOX_EPS 1e-6 /* slack on the box edges, in source pixels */

/*
 * Coefficients of one axis: output i reads n[i] source pixels from
 * first[i] on, with weights k[i * ksize + j].
 */
struct axis {
	int *first, *n;
	int32_t *k; /* (out, ksize) */
	int ksize;
};

static void
axis_free(struct axis *a)
{
	free(a->first);
	free(a->n);
	free(a->k);
}

static double
triangle(double x)
{
	if (x < 0)
		x = -x;
	return x < 1 ? 1 - x : 0;
}

static int
axis_init(struct axis *a, int insize, double in0, double len, int outsize)
{
	double scale = len / outsize, fscale, ss, support, centre, sum, *w;
	int i, j, lo, hi;

	memset(a, 0, sizeof(*a));
	fscale = scale < 1 ? 1 : scale;
	ss = 1 / fscale;
	support = fscale; /* the triangle's support is 1 */
	a->ksize = (int)ceil(support) * 2 + 1;
	a->first = malloc(outsize * sizeof(*a->first));
	a->n = malloc(outsize * sizeof(*a->n));
	a->k = malloc((size_t)outsize * a->ksize * sizeof(*a->k));
	w = malloc(a->ksize * sizeof(*w));
	if (!a->first || !a->n || !a->k || !w) {
		free(w);
		axis_free(a);
		return -1;
	}
	for (i = 0; i < outsize; i++) {
		centre = in0 + (i + 0.5) * scale;
		lo = (int)(centre - support + 0.5);
		hi = (int)(centre + support + 0.5);
		lo = lo < 0 ? 0 : lo;
		hi = hi > insize ? insize : hi;
		hi = hi - lo > a->ksize ? lo + a->ksize : hi;
		hi = hi < lo ? lo : hi;
		sum = 0;
		for (j = 0; j < hi - lo; j++)
			sum += w[j] = triangle((j + lo - centre + 0.5) * ss);
		for (j = 0; j < hi - lo; j++)
			a->k[i * a->ksize + j] = (int32_t)(sum > 0 ?
			    w[j] / sum * (1 << PREC) + 0.5 : 0);
		a->first[i] = lo;
		a->n[i] = hi - lo;
	}
	free(w);
	return 0;
}

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

static unsigned char
clip8(int32_t acc)
{
	if (acc < 0)
		return 0;
	acc >>= PREC;
	return acc > 255 ? 255 : acc;
}

/*
 * Horizontal pass over nrows rows of src starting at row y0.
 *   src (h, w, c), tmp (nrows, ow, c)
 */
static void
pass_h(const struct image *src, int y0, int nrows, const struct axis *ax,
       int ow, int flip, unsigned char *tmp)
{
	const unsigned char *s;
	const int32_t *k;
	unsigned char *d;
	int32_t a0, a1, a2;
	int c = src->c, ksize = ax->ksize, y, i, j, n, ch;

	for (y = 0; y < nrows; y++) {
		for (i = 0; i < ow; i++) {
			/* locals: stores through d may alias anything */
			n = ax->n[i];
			s = src->px + ((size_t)(y0 + y) * src->w +
			    ax->first[i]) * c;
			k = ax->k + (size_t)i * ksize;
			d = tmp + ((size_t)y * ow + (flip ? ow - 1 - i : i)) *
			    c;
			if (c == 3) {
				a0 = a1 = a2 = 1 << (PREC - 1);
				for (j = 0; j < n; j++, s += 3) {
					a0 += s[0] * k[j];
					a1 += s[1] * k[j];
					a2 += s[2] * k[j];
				}
				d[0] = clip8(a0);
				d[1] = clip8(a1);
				d[2] = clip8(a2);
				continue;
			}
			for (ch = 0; ch < c; ch++) {
				a0 = 1 << (PREC - 1);
				for (j = 0; j < n; j++)
					a0 += s[j * c + ch] * k[j];
				d[ch] = clip8(a0);
			}
		}
	}
}

/*
 * Vertical pass; row r of tmp is source row y0 + r.
 *   tmp (rows, rowlen), dst (oh, rowlen), acc (rowlen)
 */
static void
pass_v(const unsigned char *restrict tmp, int y0, size_t rowlen,
       const struct axis *ay, int oh, unsigned char *restrict dst,
       int32_t *restrict acc)
{
	const unsigned char *restrict t;
	int32_t kk;
	size_t x;
	int i, j;

	for (i = 0; i < oh; i++) {
		for (x = 0; x < rowlen; x++)
			acc[x] = 1 << (PREC - 1);
		for (j = 0; j < ay->n[i]; j++) {
			t = tmp + (size_t)(ay->first[i] - y0 + j) * rowlen;
			kk = ay->k[(size_t)i * ay->ksize + j];
			for (x = 0; x < rowlen; x++)
				acc[x] += t[x] * kk;
		}
		for (x = 0; x < rowlen; x++)
			dst[(size_t)i * rowlen + x] = clip8(acc[x]);
	}
}

int
image_resample(const struct image *src, double x0, double y0, double bw,
               double bh, int ow, int oh, int flip, struct image *dst,
               char *msg, size_t msglen)
{
	struct axis ax, ay;
	unsigned char *tmp = NULL;
	int32_t *acc = NULL;
	int needh, needv, ylo, yhi, i, r = -1;
	size_t rowlen;

	memset(dst, 0, sizeof(*dst));
	if (!src->px || src->w < 1 || src->h < 1 || src->c < 1 || src->c > 4)
		return fail(msg, msglen, "resample: bad source image");
	if (!(bw > 0) || !(bh > 0) || !(x0 >= -BOX_EPS) ||
	    !(y0 >= -BOX_EPS) || !(x0 + bw <= src->w + BOX_EPS) ||
	    !(y0 + bh <= src->h + BOX_EPS))
		return fail(msg, msglen, "resample: box (%g,%g)+(%gx%g) is not "
		    "inside the %dx%d image", x0, y0, bw, bh, src->w, src->h);
	if (ow < 1 || oh < 1 || ow > IMAGE_MAXPIXELS / oh)
		return fail(msg, msglen, "resample: bad output size %dx%d", ow,
		    oh);
	if (axis_init(&ax, src->w, x0, bw, ow) < 0)
		return fail(msg, msglen, "resample: out of memory");
	if (axis_init(&ay, src->h, y0, bh, oh) < 0) {
		axis_free(&ax);
		return fail(msg, msglen, "resample: out of memory");
	}
	needh = flip || !(x0 == 0 && bw == src->w && ow == src->w);
	needv = !(y0 == 0 && bh == src->h && oh == src->h);
	rowlen = (size_t)ow * src->c;

	/* the source rows the vertical pass reads */
	ylo = src->h;
	yhi = 0;
	for (i = 0; i < oh; i++) {
		if (ay.n[i] && ay.first[i] < ylo)
			ylo = ay.first[i];
		if (ay.n[i] && ay.first[i] + ay.n[i] > yhi)
			yhi = ay.first[i] + ay.n[i];
	}
	if (!needv)
		ylo = 0, yhi = src->h;
	if (yhi < ylo)
		yhi = ylo;

	dst->px = malloc(rowlen * oh);
	if (needh && needv)
		tmp = malloc(rowlen * (yhi - ylo) + 1);
	if (needv)
		acc = malloc(rowlen * sizeof(*acc));
	if (!dst->px || (needh && needv && !tmp) || (needv && !acc)) {
		fail(msg, msglen, "resample: out of memory");
		free(dst->px);
		dst->px = NULL;
		goto out;
	}
	dst->w = ow;
	dst->h = oh;
	dst->c = src->c;
	if (needh && needv) {
		pass_h(src, ylo, yhi - ylo, &ax, ow, flip, tmp);
		pass_v(tmp, ylo, rowlen, &ay, oh, dst->px, acc);
	} else if (needh) {
		pass_h(src, 0, src->h, &ax, ow, flip, dst->px);
	} else if (needv) {
		pass_v(src->px, 0, rowlen, &ay, oh, dst->px, acc);
	} else {
		memcpy(dst->px, src->px, rowlen * oh);
	}
	r = 0;
out:
	free(tmp);
	free(acc);
	axis_free(&ax);
	axis_free(&ay);
	return r;
}

void
image_free(struct image *img)
{
	if (!img)
		return;
	free(img->px);
	memset(img, 0, sizeof(*img));
}

/* ---------------------------------------------------------- crop boxes */

/* Python's round(): halves go to the even neighbour */
static double
pyround(double x)
{
	double f = floor(x), d = x - f;

	if (d != 0.5)
		return d < 0.5 ? f : f + 1;
	return fmod(f, 2) == 0 ? f : f + 1;
}

void
image_eval_box(int w, int h, int resize, int size, double box[4])
{
	int rw, rh, left, top;

	if (w <= h) {
		rw = resize;
		rh = (int)((double)resize * h / w);
	} else {
		rh = resize;
		rw = (int)((double)resize * w / h);
	}
	left = (int)pyround((rw - size) / 2.0);
	top = (int)pyround((rh - size) / 2.0);
	box[0] = left * (double)w / rw;
	box[1] = top * (double)h / rh;
	box[2] = size * (double)w / rw;
	box[3] = size * (double)h / rh;
}

void
image_rrc_box(int w, int h, struct rng *rng, double smin, double smax,
              double box[4])
{
	const double rmin = 3.0 / 4.0, rmax = 4.0 / 3.0;
	double area = (double)w * h, lr0 = log(rmin), lr1 = log(rmax);
	double target, ratio;
	int i, cw, ch, x, y;

	for (i = 0; i < 10; i++) {
		target = area * (smin + (smax - smin) * rng_uniform(rng));
		ratio = exp(lr0 + (lr1 - lr0) * rng_uniform(rng));
		cw = (int)pyround(sqrt(target * ratio));
		ch = (int)pyround(sqrt(target / ratio));
		if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
			y = rng_below(rng, h - ch + 1);
			x = rng_below(rng, w - cw + 1);
			goto done;
		}
	}
	/* fall back to the centre crop, clamped to the ratio range */
	ratio = (double)w / h;
	cw = w;
	ch = h;
	if (ratio < rmin)
		ch = (int)pyround(w / rmin);
	else if (ratio > rmax)
		cw = (int)pyround(h * rmax);
	y = (h - ch) / 2;
	x = (w - cw) / 2;
done:
	box[0] = x;
	box[1] = y;
	box[2] = cw;
	box[3] = ch;
}

/* ------------------------------------------------------------ patchify */

int
image_patchify_u8(const struct image *img, int p, unsigned char *out)
{
	const unsigned char *s;
	size_t rowlen;
	int gx, gy, r;

	if (p < 1 || img->w % p || img->h % p)
		return -1;
	rowlen = (size_t)p * img->c;
	for (gy = 0; gy < img->h / p; gy++)
		for (gx = 0; gx < img->w / p; gx++)
			for (r = 0; r < p; r++, out += rowlen) {
				s = img->px + ((size_t)(gy * p + r) * img->w +
				    gx * p) * img->c;
				memcpy(out, s, rowlen);
			}
	return 0;
}

int
image_patchify_f32(const struct image *img, int p, float scale,
                   const float *mean, const float *std, float *out)
{
	const unsigned char *s;
	float a[4], b[4];
	double m, sd;
	int c = img->c, gx, gy, r, x, k;

	if (p < 1 || img->w % p || img->h % p || c < 1 || c > 4)
		return -1;
	/* (v * scale - mean) / std as one multiply-add */
	for (k = 0; k < c; k++) {
		m = mean ? mean[k] : 0;
		sd = std ? std[k] : 1;
		a[k] = scale / sd;
		b[k] = -m / sd;
	}
	for (gy = 0; gy < img->h / p; gy++)
		for (gx = 0; gx < img->w / p; gx++)
			for (r = 0; r < p; r++, out += p * c) {
				s = img->px + ((size_t)(gy * p + r) * img->w +
				    gx * p) * c;
				if (c == 1) {
					for (x = 0; x < p; x++)
						out[x] = s[x] * a[0] + b[0];
				} else if (c == 3) {
					for (x = 0; x < 3 * p; x += 3) {
						out[x] = s[x] * a[0] + b[0];
						out[x + 1] = s[x + 1] * a[1] +
						    b[1];
						out[x + 2] = s[x + 2] * a[2] +
						    b[2];
					}
				} else {
					for (x = 0; x < p * c; x++)
						out[x] = s[x] * a[x % c] +
						    b[x % c];
				}
			}
	return 0;
}
