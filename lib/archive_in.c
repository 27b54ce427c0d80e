/* See LICENSE file for copyright and license details. */
/*
 * archive_in: the libarchive read loop of examples/untar.c, turned into
 * an iterator over regular files.  See archive_in.h for the contract.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "archive_in.h"
#include "util.h"

enum {
	BLOCKSIZE = 64 * 1024,  /* read size handed to libarchive */
	MINBUF = 64 * 1024,     /* first data buffer */
	MAXHINT = 64 << 20,     /* believe header sizes up to this much */
	MAXRETRY = 64           /* ARCHIVE_RETRY in a row before giving up */
};

enum { READING, ATEND, FAILED };

struct ain {
	struct archive *a;
	int headers_only;
	int state;
	unsigned long nheaders; /* headers read, of any type */
	unsigned char *buf;     /* entry data, reused */
	size_t cap;
	int (*want)(void *, const char *); /* ain_filter */
	void *wantarg;
	char err[512];          /* repeated once FAILED */
};

/* ------------------------------------------------------------ helpers */

static const char *
aerr(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s && *s ? s : "unknown libarchive error";
}

/* record the failure in r->err and copy it to msg */
static int
fail(struct ain *r, char *msg, size_t msglen, const char *entry,
     const char *what)
{
	if (entry)
		snprintf(r->err, sizeof(r->err), "%s: %s", entry, what);
	else
		snprintf(r->err, sizeof(r->err), "%s", what);
	r->state = FAILED;
	errf(msg, msglen, "%s", r->err);
	return -1;
}

/* strip leading "/" and "./" (any number, in any mix) */
static const char *
normpath(const char *p)
{
	const char *q = p;

	for (;;) {
		if (q[0] == '/')
			q++;
		else if (q[0] == '.' && q[1] == '/')
			q += 2;
		else
			break;
	}
	return *q ? q : p;
}

/* 1 if path has a ".." component */
static int
dotdot(const char *path)
{
	const char *p;

	for (p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return 1;
	return 0;
}

/* make room for at least need bytes in r->buf; 0 or -1 */
static int
reserve(struct ain *r, size_t need)
{
	size_t ncap;
	unsigned char *p;

	if (need <= r->cap)
		return 0;
	ncap = r->cap ? r->cap : MINBUF;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -1;
		ncap *= 2;
	}
	if (!(p = realloc(r->buf, ncap)))
		return -1;
	r->buf = p;
	r->cap = ncap;
	return 0;
}

/*
 * Read the current entry's data into r->buf until libarchive says it is
 * done.  The header size is a hint for the first allocation and a bound:
 * more data than it declares (or than AIN_MAXENTRY) is refused.
 */
static int
readdata(struct ain *r, struct archive_entry *ent, const char *path,
         size_t *lenp, char *msg, size_t msglen)
{
	char what[128];
	size_t len = 0, limit = AIN_MAXENTRY, room;
	la_int64_t hint = -1;
	la_ssize_t got;

	if (archive_entry_size_is_set(ent))
		hint = archive_entry_size(ent);
	if (hint > (la_int64_t)AIN_MAXENTRY) {
		snprintf(what, sizeof(what), "its header declares %lld bytes, "
		         "more than the %d an entry may have", (long long)hint,
		         AIN_MAXENTRY);
		return fail(r, msg, msglen, path, what);
	}
	if (hint >= 0)
		limit = (size_t)hint;
	if (hint > 0 && hint <= MAXHINT &&
	    reserve(r, (size_t)hint + MINBUF / 4 + 1) < 0)
		goto nomem;
	for (;;) {
		/* keep room for a useful read plus the final 0 byte */
		if (r->cap - len < MINBUF / 4 + 1 &&
		    (len > SIZE_MAX - MINBUF || reserve(r, len + MINBUF) < 0))
			goto nomem;
		/* never more than one byte past the limit */
		room = r->cap - len - 1;
		if (room > limit + 1 - len)
			room = limit + 1 - len;
		got = archive_read_data(r->a, r->buf + len, room);
		if (got < 0)
			return fail(r, msg, msglen, path, aerr(r->a));
		if (got == 0)
			break;
		len += (size_t)got;
		if (len > limit) {
			if (hint >= 0)
				snprintf(what, sizeof(what), "more data than the %lld "
				         "bytes its header declares", (long long)hint);
			else
				snprintf(what, sizeof(what), "more than the %d bytes "
				         "an entry may have", AIN_MAXENTRY);
			return fail(r, msg, msglen, path, what);
		}
	}
	r->buf[len] = 0;
	*lenp = len;
	return 0;
nomem:
	snprintf(what, sizeof(what),
	         "out of memory (entry larger than %zu bytes)", len);
	return fail(r, msg, msglen, path, what);
}

/* ---------------------------------------------------------------- API */

struct ain *
ain_open(const char *path, int headers_only, char *msg, size_t msglen)
{
	struct ain *r;
	const char *s;
	int e;

	if (path && strcmp(path, "-") == 0)
		path = NULL;
	if (!(r = calloc(1, sizeof(*r)))) {
		errf(msg, msglen, "out of memory");
		return NULL;
	}
	if (!(r->a = archive_read_new())) {
		free(r);
		errf(msg, msglen, "out of memory");
		return NULL;
	}
	r->headers_only = headers_only;
	r->state = READING;
	archive_read_support_filter_all(r->a);
	archive_read_support_format_all(r->a);
	/* mtree: names only, never the local files they name */
	archive_read_set_format_option(r->a, "mtree", "checkfs", NULL);
	if (archive_read_open_filename(r->a, path, BLOCKSIZE) != ARCHIVE_OK) {
		/*
		 * libarchive says "Failed to open 'x'" without the reason;
		 * the errno it keeps says why.
		 */
		s = aerr(r->a);
		e = archive_errno(r->a);
		if (e > 0 && strncmp(s, "Failed to open", 14) == 0)
			errf(msg, msglen, "%s", strerror(e));
		else
			errf(msg, msglen, "%s", s);
		archive_read_free(r->a);
		free(r);
		return NULL;
	}
	return r;
}

int
ain_next(struct ain *r, struct ain_entry *e, char *msg, size_t msglen)
{
	struct archive_entry *ent;
	const char *path;
	size_t len;
	int rc, retries = 0;

	e->path = NULL;
	e->data = NULL;
	e->len = 0;
	if (r->state == ATEND)
		return 0;
	if (r->state == FAILED) {
		errf(msg, msglen, "%s", r->err);
		return -1;
	}
	for (;;) {
		rc = archive_read_next_header(r->a, &ent);
		if (rc == ARCHIVE_EOF) {
			if (r->nheaders == 0 &&
			    archive_format(r->a) == ARCHIVE_FORMAT_EMPTY)
				return fail(r, msg, msglen, NULL,
				            "empty input, not an archive");
			r->state = ATEND;
			return 0;
		}
		if (rc == ARCHIVE_RETRY && ++retries < MAXRETRY)
			continue;
		if (rc < ARCHIVE_WARN || rc == ARCHIVE_RETRY)
			return fail(r, msg, msglen, NULL, aerr(r->a));
		/* ARCHIVE_OK, or ARCHIVE_WARN (e.g. a name charset issue) */
		retries = 0;
		r->nheaders++;
		if (archive_entry_filetype(ent) != AE_IFREG)
			continue; /* the next header skips its data */
		if (!(path = archive_entry_pathname(ent)) &&
		    !(path = archive_entry_pathname_utf8(ent)))
			path = "?";
		path = normpath(path);
		if (dotdot(path))
			return fail(r, msg, msglen, path, "a '..' in the path "
			            "(refused: an archive may not point outside)");
		if (r->want && !r->want(r->wantarg, path))
			continue; /* the next header skips its data */
		if (r->headers_only) {
			if (archive_read_data_skip(r->a) < ARCHIVE_WARN)
				return fail(r, msg, msglen, path, aerr(r->a));
			e->path = path;
			return 1;
		}
		if (readdata(r, ent, path, &len, msg, msglen) < 0)
			return -1;
		e->path = path;
		e->data = r->buf;
		e->len = len;
		return 1;
	}
}

void
ain_filter(struct ain *r, int (*want)(void *arg, const char *path),
           void *arg)
{
	r->want = want;
	r->wantarg = arg;
}

void
ain_close(struct ain *r)
{
	if (!r)
		return;
	archive_read_free(r->a); /* closes too */
	free(r->buf);
	free(r);
}
