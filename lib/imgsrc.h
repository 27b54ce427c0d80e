/* See LICENSE file for copyright and license details. */
/*
 * imgsrc: labelled images from an IDX pair, an archive or a directory.
 *
 * The kind is found from the input: a directory is walked; a file that
 * starts with the IDX magic (raw or gzip) is an IDX image file whose
 * labels are read from the file beside it (or the one given); anything
 * else is opened as an archive by libarchive.  Archives and directories
 * use the ImageFolder layout: an image's class is the name of its parent
 * folder, class names are sorted (strcmp) to label ids, and entries that
 * are not images by extension (.png .jpg .jpeg .ppm .pgm .pnm) are
 * ignored.  With a prefix, only entries under "prefix/" are taken.
 *
 * IDX and directory sources are random access (imgsrc_get).  Archives
 * are read entry by entry (imgsrc_next, imgsrc_rewind); a first pass
 * over the headers alone finds the classes and the image count, so
 * memory never grows with the size of the archive.
 */
#ifndef MIM_IMGSRC_H
#define MIM_IMGSRC_H

#include <stddef.h>
#include <stdint.h>

#include "idx.h"

enum { SRC_IDX, SRC_ARCHIVE, SRC_DIR };

struct imgsrc {
	int kind;
	const char *path;     /* as given; for messages */
	const char *prefix;   /* NULL: every entry */
	char **classes;       /* sorted class names */
	size_t nclasses;
	uint64_t n;           /* number of images */
	uint64_t outside;     /* images ignored: not inside a class folder */
	/* SRC_IDX */
	struct idx images, labels;
	/* SRC_DIR: the image paths relative to path, and their labels */
	char **files;
	int *filelabel;
	/* SRC_ARCHIVE */
	struct ain *ain;
	/* a read buffer for directory files */
	unsigned char *buf;
	size_t bufcap;
	char *namebuf;
	size_t namecap;
};

/* one image: raw pixels (IDX) or the bytes of an encoded file */
struct srcitem {
	int label;
	const char *name;          /* entry name, for messages */
	const unsigned char *px;   /* IDX: h*w*c pixels, else NULL */
	int w, h, c;
	const unsigned char *data; /* archive, directory: file bytes */
	size_t len;
};

/* limit (0: none): an IDX source reads only its first limit images, and
 * n is at most limit; archives and directories are listed whole, their
 * caller stopping where it likes */
int imgsrc_open(struct imgsrc *, const char *path, const char *labelpath,
                const char *prefix, uint64_t limit, char *msg,
                size_t msglen);
void imgsrc_close(struct imgsrc *);
int imgsrc_random_access(const struct imgsrc *);
/* random access, 0 <= i < n: 0 or -1 */
int imgsrc_get(struct imgsrc *, uint64_t i, struct srcitem *, char *msg,
               size_t msglen);
/* sequential (archives): 1 an image, 0 end, -1 error; rewind restarts */
int imgsrc_next(struct imgsrc *, struct srcitem *, char *msg,
                size_t msglen);
int imgsrc_rewind(struct imgsrc *, char *msg, size_t msglen);

#endif
