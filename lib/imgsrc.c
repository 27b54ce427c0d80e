/* See LICENSE file for copyright and license details. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "archive_in.h"
#include "dirwalk.h"
#include "idx.h"
#include "imgsrc.h"

static const char *imgext[] = { "png", "jpg", "jpeg", "ppm", "pgm", "pnm" };

/*
 * Decide what an entry path is.  Returns 0 to ignore it (not under the
 * prefix, not an image), 1 for an image of class cls (cls, clslen
 * point into path), 2 for an image outside any class folder.
 */
static int
classify(const char *path, const char *prefix, const char **cls,
         size_t *clslen)
{
	const char *base, *dot, *dir;
	size_t i, plen;

	if (prefix) {
		plen = strlen(prefix);
		while (plen && prefix[plen - 1] == '/')
			plen--;
		if (strncmp(path, prefix, plen) || path[plen] != '/')
			return 0;
		path += plen + 1;
	}
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!(dot = strrchr(base, '.')))
		return 0;
	for (i = 0; i < sizeof(imgext) / sizeof(imgext[0]); i++)
		if (!strcasecmp(dot + 1, imgext[i]))
			break;
	if (i == sizeof(imgext) / sizeof(imgext[0]))
		return 0;
	if (base == path)
		return 2;
	for (dir = base - 1; dir > path && dir[-1] != '/'; dir--)
		;
	*cls = dir;
	*clslen = base - 1 - dir;
	return *clslen ? 1 : 2;
}

/* index of class (cls, len) in the sorted class list, or -1 */
static long
class_find(const struct imgsrc *s, const char *cls, size_t len, size_t *at)
{
	size_t lo = 0, hi = s->nclasses;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(s->classes[mid], cls, len);

		if (!c && s->classes[mid][len])
			c = 1;
		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (at)
		*at = lo;
	return -1;
}

static int
class_add(struct imgsrc *s, const char *cls, size_t len)
{
	size_t at;
	char **p, *name;

	if (class_find(s, cls, len, &at) >= 0)
		return 0;
	if (!(name = strndup(cls, len)))
		return -1;
	if (!(p = realloc(s->classes, (s->nclasses + 1) * sizeof(*p)))) {
		free(name);
		return -1;
	}
	s->classes = p;
	memmove(p + at + 1, p + at, (s->nclasses - at) * sizeof(*p));
	p[at] = name;
	s->nclasses++;
	return 0;
}

/* the images (the first limit, if not 0) and every label: the classes
 * are those of the whole file, whatever the limit */
static int
open_idx(struct imgsrc *s, const char *labelpath, uint64_t limit, char *msg,
         size_t msglen)
{
	char lp[4096], sub[256];
	uint64_t i;
	int max = -1;

	if (!labelpath) {
		if (idx_label_path(s->path, lp, sizeof(lp)) < 0) {
			snprintf(msg, msglen, "%s: cannot name the label file "
			         "beside it (no \"images\" in the name): give -l",
			         s->path);
			return -1;
		}
		labelpath = lp;
	}
	if (idx_load_first(s->path, &s->images, limit, sub, sizeof(sub)) < 0) {
		snprintf(msg, msglen, "%s: %s", s->path, sub);
		return -1;
	}
	if (s->images.rank != 3 && s->images.rank != 4) {
		snprintf(msg, msglen, "%s: IDX rank %d, expected 3 (n,h,w) or 4 "
		         "(n,h,w,c)", s->path, s->images.rank);
		return -1;
	}
	if (idx_load(labelpath, &s->labels, sub, sizeof(sub)) < 0) {
		snprintf(msg, msglen, "%s: %s", labelpath, sub);
		return -1;
	}
	if (s->labels.rank != 1) {
		snprintf(msg, msglen, "%s: IDX rank %d, expected 1 for labels",
		         labelpath, s->labels.rank);
		return -1;
	}
	if (s->labels.dims[0] != s->images.whole) {
		snprintf(msg, msglen, "%s: label count %u differs from image "
		         "count %u in %s", labelpath, (unsigned)s->labels.dims[0],
		         (unsigned)s->images.whole, s->path);
		return -1;
	}
	s->n = s->images.dims[0];
	for (i = 0; i < s->labels.dims[0]; i++)
		if (s->labels.data[i] > max)
			max = s->labels.data[i];
	for (i = 0; (int)i <= max; i++) {
		snprintf(sub, sizeof(sub), "%d", (int)i);
		if (class_add(s, sub, strlen(sub)) < 0)
			goto nomem;
	}
	/* "10" sorts before "2": put the numeric names back in order */
	for (i = 0; (int)i <= max; i++) {
		snprintf(sub, sizeof(sub), "%d", (int)i);
		free(s->classes[i]);
		if (!(s->classes[i] = strdup(sub)))
			goto nomem;
	}
	return 0;
nomem:
	snprintf(msg, msglen, "%s: out of memory", s->path);
	return -1;
}

static int
open_dir(struct imgsrc *s, char *msg, size_t msglen)
{
	char **all;
	size_t nall, i, len;
	const char *cls;
	long k;
	int r;

	if (dir_list(s->path, &all, &nall, msg, msglen) < 0)
		return -1;
	if (!(s->files = calloc(nall ? nall : 1, sizeof(*s->files))) ||
	    !(s->filelabel = calloc(nall ? nall : 1, sizeof(int))))
		goto nomem;
	for (i = 0; i < nall; i++) {
		r = classify(all[i], s->prefix, &cls, &len);
		if (r == 2)
			s->outside++;
		if (r == 1 && class_add(s, cls, len) < 0)
			goto nomem;
	}
	for (i = 0; i < nall; i++) {
		if (classify(all[i], s->prefix, &cls, &len) != 1) {
			free(all[i]);
			continue;
		}
		k = class_find(s, cls, len, NULL);
		s->filelabel[s->n] = k;
		s->files[s->n++] = all[i];
	}
	free(all);
	return 0;
nomem:
	dir_list_free(all, nall);
	snprintf(msg, msglen, "%s: out of memory", s->path);
	return -1;
}

/* the header pass: classes and count, without reading any data */
static int
scan_archive(struct imgsrc *s, char *msg, size_t msglen)
{
	struct ain_entry e;
	const char *cls;
	size_t len;
	int r;

	if (!(s->ain = ain_open(s->path, 1, msg, msglen)))
		return -1;
	while ((r = ain_next(s->ain, &e, msg, msglen)) == 1) {
		switch (classify(e.path, s->prefix, &cls, &len)) {
		case 1:
			if (class_add(s, cls, len) < 0) {
				snprintf(msg, msglen, "%s: out of memory", s->path);
				return -1;
			}
			s->n++;
			break;
		case 2:
			s->outside++;
			break;
		}
	}
	ain_close(s->ain);
	s->ain = NULL;
	return r;
}

int
imgsrc_open(struct imgsrc *s, const char *path, const char *labelpath,
            const char *prefix, uint64_t limit, char *msg, size_t msglen)
{
	struct stat st;
	char sub[256];
	int r;

	memset(s, 0, sizeof(*s));
	s->path = path;
	s->prefix = prefix;
	if (stat(path, &st) < 0) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		s->kind = SRC_DIR;
		r = open_dir(s, msg, msglen);
	} else if ((r = idx_sniff(path, sub, sizeof(sub))) < 0) {
		snprintf(msg, msglen, "%s: %s", path, sub);
	} else if (r == 1) {
		s->kind = SRC_IDX;
		r = open_idx(s, labelpath, limit, msg, msglen);
	} else {
		s->kind = SRC_ARCHIVE;
		if ((r = scan_archive(s, sub, sizeof(sub))) < 0)
			snprintf(msg, msglen, "%s: %s", path, sub);
		else
			r = imgsrc_rewind(s, msg, msglen);
	}
	if (r < 0) {
		imgsrc_close(s);
		return -1;
	}
	if (s->kind != SRC_IDX && s->nclasses == 0) {
		snprintf(msg, msglen, "%s: no images in class folders%s%s%s", path,
		         prefix ? " under '" : "", prefix ? prefix : "",
		         prefix ? "/'" : "");
		imgsrc_close(s);
		return -1;
	}
	return 0;
}

void
imgsrc_close(struct imgsrc *s)
{
	size_t i;

	for (i = 0; i < s->nclasses; i++)
		free(s->classes[i]);
	free(s->classes);
	idx_free(&s->images);
	idx_free(&s->labels);
	for (i = 0; s->files && i < s->n; i++)
		free(s->files[i]);
	free(s->files);
	free(s->filelabel);
	if (s->ain)
		ain_close(s->ain);
	free(s->buf);
	free(s->namebuf);
	memset(s, 0, sizeof(*s));
}

int
imgsrc_random_access(const struct imgsrc *s)
{
	return s->kind != SRC_ARCHIVE;
}

static int
read_file(struct imgsrc *s, const char *name, char *msg, size_t msglen,
          size_t *len)
{
	size_t need = strlen(s->path) + strlen(name) + 2, n;
	FILE *fp;

	if (need > s->namecap) {
		char *p = realloc(s->namebuf, need);

		if (!p)
			goto nomem;
		s->namebuf = p;
		s->namecap = need;
	}
	snprintf(s->namebuf, need, "%s/%s", s->path, name);
	if (!(fp = fopen(s->namebuf, "rb"))) {
		snprintf(msg, msglen, "%s: %s", s->namebuf, strerror(errno));
		return -1;
	}
	*len = 0;
	for (;;) {
		if (*len == s->bufcap) {
			size_t cap = s->bufcap ? 2 * s->bufcap : 1 << 16;
			unsigned char *p = realloc(s->buf, cap);

			if (!p) {
				fclose(fp);
				goto nomem;
			}
			s->buf = p;
			s->bufcap = cap;
		}
		n = fread(s->buf + *len, 1, s->bufcap - *len, fp);
		*len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		snprintf(msg, msglen, "%s: %s", s->namebuf, strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
nomem:
	snprintf(msg, msglen, "%s: out of memory", name);
	return -1;
}

int
imgsrc_get(struct imgsrc *s, uint64_t i, struct srcitem *it, char *msg,
           size_t msglen)
{
	memset(it, 0, sizeof(*it));
	if (s->kind == SRC_IDX) {
		size_t sz;

		it->h = s->images.dims[1];
		it->w = s->images.dims[2];
		it->c = s->images.rank == 4 ? (int)s->images.dims[3] : 1;
		sz = (size_t)it->h * it->w * it->c;
		it->px = s->images.data + i * sz;
		it->label = s->labels.data[i];
		it->name = "";
		return 0;
	}
	if (read_file(s, s->files[i], msg, msglen, &it->len) < 0)
		return -1;
	it->data = s->buf;
	it->name = s->files[i];
	it->label = s->filelabel[i];
	return 0;
}

int
imgsrc_next(struct imgsrc *s, struct srcitem *it, char *msg, size_t msglen)
{
	struct ain_entry e;
	const char *cls;
	size_t len;
	long k;
	int r;

	memset(it, 0, sizeof(*it));
	while ((r = ain_next(s->ain, &e, msg, msglen)) == 1) {
		if (classify(e.path, s->prefix, &cls, &len) != 1)
			continue;
		if ((k = class_find(s, cls, len, NULL)) < 0) {
			snprintf(msg, msglen, "%s: class '%.*s' was not in the "
			         "archive's first pass (did it change?)", e.path,
			         (int)len, cls);
			return -1;
		}
		it->label = k;
		it->name = e.path;
		it->data = e.data;
		it->len = e.len;
		return 1;
	}
	return r;
}

/* ain_filter: only images in class folders are read */
static int
want_image(void *arg, const char *path)
{
	const struct imgsrc *s = arg;
	const char *cls;
	size_t len;

	return classify(path, s->prefix, &cls, &len) == 1;
}

int
imgsrc_rewind(struct imgsrc *s, char *msg, size_t msglen)
{
	char sub[512];

	if (s->ain)
		ain_close(s->ain);
	if (!(s->ain = ain_open(s->path, 0, sub, sizeof(sub)))) {
		snprintf(msg, msglen, "%s: %s", s->path, sub);
		return -1;
	}
	ain_filter(s->ain, want_image, s);
	return 0;
}
