/* See LICENSE file for copyright and license details. */
/*
 * archive_in: read the regular files of an archive one at a time.
 *
 * Any format and compression filter that libarchive reads will do (tar,
 * tar.gz, tar.xz, tar.bz2, tar.zst, zip, cpio, 7z, ...), from a file or
 * from stdin.  The archive is read as a stream, never seeked, and each
 * entry's data lands in one buffer that is reused and grown as needed,
 * so memory stays bounded by the largest entry whatever the size of the
 * archive.  The size recorded in an entry's header is never trusted to
 * be right, only to be a bound: the data is read until libarchive
 * reports its end, and an entry is refused, before its data is read, if
 * its header declares more than AIN_MAXENTRY bytes, and as soon as its
 * data outgrows what the header declared (or AIN_MAXENTRY where it
 * declared nothing).  A zip bomb thus costs at most its declared size.
 *
 * Nothing is read from the file system but the archive itself: entries
 * that are not regular files (directories, symbolic links, devices,
 * fifos) are skipped, their targets never looked at; so are hard links
 * (libarchive gives tar's no file type: their data is another entry's
 * or a file's outside); an mtree "archive" is a list of names, not of
 * local files to read.  An entry whose path has a
 * ".." component is refused: a well-formed archive has none (tar strips
 * them), and the ImageFolder layout would take ".." for a class.  Hidden
 * names are not filtered: that is the caller's policy.
 *
 * A file that is no archive fails at the first ain_next() with
 * libarchive's "Unrecognized archive format"; an empty input fails with
 * "empty input, not an archive".  An archive with no regular files (a
 * tar of an empty directory, or tar's 10240 zero bytes) is valid and
 * simply has no entries.
 *
 * Messages do not name the archive: the caller prefixes it.  Nothing
 * here exits or prints: functions return -1 (or NULL) and fill msg.
 */
#ifndef MIM_ARCHIVE_IN_H
#define MIM_ARCHIVE_IN_H

#include <stddef.h>

enum {
	/*
	 * The largest entry read: more than any image image_decode()
	 * accepts (2^28 pixels of 3 bytes is 768 MiB).
	 */
	AIN_MAXENTRY = 1 << 30
};

struct ain; /* opaque */

struct ain_entry {
	const char *path;          /* normalised: no leading "./" or "/" */
	const unsigned char *data; /* len bytes and a 0 byte, or NULL */
	size_t len;                /* 0 with headers_only */
};

/*
 * Open path (NULL or "-" is stdin).  With headers_only set, entries come
 * without their data, which libarchive skips (cheap for listing).
 * Returns NULL and fills msg on failure ("No such file or directory").
 */
struct ain *ain_open(const char *path, int headers_only, char *msg,
                     size_t msglen);

/*
 * Next regular-file entry into e.  Returns 1 with e filled (e->path and
 * e->data stay valid until the next call or ain_close), 0 at the end of
 * the archive, -1 on error with msg "ENTRY: libarchive message", or just
 * the libarchive message when no entry is concerned.  After 0 or -1
 * every further call returns the same without reading.
 */
int ain_next(struct ain *, struct ain_entry *e, char *msg, size_t msglen);

/*
 * From now on, return (and read the data of) only the entries whose
 * normalised path want(arg, path) accepts with a non-zero value; the
 * others are skipped without reading their data.  want NULL: all.
 */
void ain_filter(struct ain *, int (*want)(void *arg, const char *path),
                void *arg);

/* close and free; NULL is allowed */
void ain_close(struct ain *);

#endif
