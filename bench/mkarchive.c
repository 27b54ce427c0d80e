/* See LICENSE file for copyright and license details. */
/*
 * mkarchive: a tar of PNG images in ImageFolder layout, for the benchmarks.
 *
 *	mkarchive [-i images] out.tar n [size]
 *
 * Writes n grey PNG images as class/NNNNN.png (class = the Fashion-MNIST
 * class name of the image's label) into a pax-restricted tar; "-" is
 * standard output.  The pixels cycle through the IDX image file (default
 * the Debian dataset-fashion-mnist train set; the labels come from the
 * matching labels file, idx_label_path) and are upscaled by nearest
 * neighbour to size x size (default: native, 28).  Entries have fixed
 * owner, mode and mtime, so the same arguments give the same bytes.
 * Built by bench/run against libmim.a; not installed.
 */
#include <archive.h>
#include <archive_entry.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idx.h"
#include "util.h"

#define DEFAULT_IMAGES "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

static const char *classname[] = {
	"T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot",
};

/* nearest-neighbour scale of a grey h x w image to size x size */
static void
upscale(unsigned char *dst, long size, const unsigned char *src, long h,
        long w)
{
	long y, x;

	for (y = 0; y < size; y++)
		for (x = 0; x < size; x++)
			dst[y * size + x] = src[(y * h / size) * w + x * w / size];
}

/* encode a grey size x size image as PNG into *buf (grown as needed) */
static size_t
encode_png(unsigned char **buf, size_t *cap, const unsigned char *pix,
           long size)
{
	png_image img;
	png_alloc_size_t len = 0;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = size;
	img.height = size;
	img.format = PNG_FORMAT_GRAY;
	if (!png_image_write_to_memory(&img, NULL, &len, 0, pix, size, NULL))
		die("libpng: %s", img.message);
	if (len > *cap) {
		*buf = ereallocarray(*buf, len, 1);
		*cap = len;
	}
	if (!png_image_write_to_memory(&img, *buf, &len, 0, pix, size, NULL))
		die("libpng: %s", img.message);
	return len;
}

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-i images] out.tar n [size]\n", argv0);
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *images = DEFAULT_IMAGES, *out;
	char lpath[4096], path[64], msg[512];
	struct idx im, lb;
	struct archive *a;
	struct archive_entry *e;
	unsigned char *pix, *png = NULL;
	size_t cap = 0, len;
	long n, size = 28, h, w, i, k, count;
	int ch, label;

	/* arguments */
	setargv0(argv[0]);
	while ((ch = getopt(argc, argv, "i:")) != -1) {
		switch (ch) {
		case 'i': images = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc > 3)
		usage();
	out = argv[0];
	n = estrtonum(argv[1], 1, 100000000, "n");
	if (argc == 3)
		size = estrtonum(argv[2], 1, 4096, "size");

	/* prepare */
	if (idx_load(images, &im, msg, sizeof(msg)) < 0)
		die("%s: %s", images, msg);
	if (im.rank != 3 || im.dims[0] == 0)
		die("%s: expected images [n, h, w], got rank %d", images, im.rank);
	count = im.dims[0];
	h = im.dims[1];
	w = im.dims[2];
	if (idx_label_path(images, lpath, sizeof(lpath)) < 0)
		die("%s: no labels file name (expected 'images' in the name)",
		    images);
	if (idx_load(lpath, &lb, msg, sizeof(msg)) < 0)
		die("%s: %s", lpath, msg);
	if (lb.rank != 1 || (long)lb.dims[0] != count)
		die("%s: expected %ld labels, got rank %d with %lu", lpath, count,
		    lb.rank, (unsigned long)lb.dims[0]);
	pix = emalloc((size_t)size * size);
	if (!(a = archive_write_new()) || !(e = archive_entry_new()))
		die("libarchive: out of memory");
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, strcmp(out, "-") ? out : NULL) !=
	    ARCHIVE_OK)
		die("%s: %s", out, archive_error_string(a));

	/* process */
	for (i = 0; i < n; i++) {
		k = i % count;
		label = lb.data[k];
		if (label >= (int)LEN(classname))
			die("%s: label %d of image %ld, expected 0..9", lpath, label, k);
		upscale(pix, size, im.data + (size_t)k * h * w, h, w);
		len = encode_png(&png, &cap, pix, size);
		snprintf(path, sizeof(path), "%s/%05ld.png", classname[label], i);
		archive_entry_clear(e);
		archive_entry_set_pathname(e, path);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, len);
		archive_entry_set_mtime(e, 0, 0);
		archive_entry_set_uname(e, "root");
		archive_entry_set_gname(e, "root");
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    archive_write_data(a, png, len) != (la_ssize_t)len)
			die("%s: %s: %s", out, path, archive_error_string(a));
	}

	/* clean up */
	if (archive_write_close(a) != ARCHIVE_OK)
		die("%s: %s", out, archive_error_string(a));
	archive_entry_free(e);
	archive_write_free(a);
	free(png);
	free(pix);
	idx_free(&im);
	idx_free(&lb);
	return 0;
}
