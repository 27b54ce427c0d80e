/* See LICENSE file for copyright and license details. */
/*
 * unit-input: tests for the input modules archive_in, dirwalk and idx.
 *
 * Prints TAP lines ("ok N - what", "not ok N - what", then "1..N") and
 * exits 1 if any test failed.  Fixtures are made in a fresh mkdtemp(3)
 * directory, removed at the end: files with stdio and zlib, archives
 * with tar(1), bsdtar(1) and, when present, zip(1).  Standard input is
 * not used: the stdin tests dup2(2) a fixture onto descriptor 0 and put
 * the original back.  When Fashion-MNIST is installed under
 * /usr/share/datasets/fashion-mnist, its training set is loaded too.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "archive_in.h"
#include "dirwalk.h"
#include "idx.h"
#include "util.h"
#include "tap.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
#define BIGLEN 300000 /* more than libarchive's blocks and our first buffer */
#define U(s)   ((const unsigned char *)(s))

struct file {
	const char *path;
	const unsigned char *data;
	size_t len;
};

static char tmp[256];
static unsigned char big[BIGLEN];

/* ---------------------------------------------------------------- TAP */

static void
skip(const char *why)
{
	printf("ok %d # skip %s\n", ++ntest, why);
}

/* ------------------------------------------------------------ fixtures */

/* tmp + "/" + name, in a static buffer (rotating, so two may coexist) */
static const char *
tp(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmp, name);
	return buf[i];
}

static void
writefile(const char *name, const void *data, size_t len)
{
	FILE *fp;

	if (!(fp = fopen(tp(name), "wb")))
		die("fopen %s:", tp(name));
	if (len)
		efwrite(data, len, fp, tp(name));
	if (fclose(fp) == EOF)
		die("fclose %s:", tp(name));
}

static void
writegz(const char *name, const void *data, size_t len)
{
	gzFile gz;

	if (!(gz = gzopen(tp(name), "wb")))
		die("gzopen %s:", tp(name));
	if (len && gzwrite(gz, data, (unsigned)len) != (int)len)
		die("gzwrite %s", tp(name));
	if (gzclose(gz) != Z_OK)
		die("gzclose %s", tp(name));
}

static unsigned char *
readfile(const char *path, size_t *len)
{
	FILE *fp;
	unsigned char *p;
	long n;

	if (!(fp = fopen(path, "rb")))
		die("fopen %s:", path);
	if (fseek(fp, 0, SEEK_END) < 0 || (n = ftell(fp)) < 0)
		die("seek %s:", path);
	rewind(fp);
	p = emalloc(n + 1);
	efread(p, n, fp, path);
	fclose(fp);
	*len = n;
	return p;
}

static void
mkdirs(const char *name)
{
	if (mkdir(tp(name), 0755) < 0)
		die("mkdir %s:", tp(name));
}

static void
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		die("command failed: %s", cmd);
}

static int
have(const char *prog)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/*
 * src/ holds regular files (some hidden, one empty, one big), symbolic
 * links to a file, to a directory and to nothing.
 */
static void
mktree(void)
{
	size_t i;

	for (i = 0; i < BIGLEN; i++)
		big[i] = (unsigned char)(i * 7 + i / 251);
	mkdirs("src");
	mkdirs("src/sub");
	mkdirs("src/sub/deeper");
	mkdirs("src/.hiddendir");
	writefile("src/a.txt", "alpha\n", 6);
	writefile("src/sub/b.bin", big, BIGLEN);
	writefile("src/sub/empty", "", 0);
	writefile("src/sub/deeper/c.txt", "gamma\n", 6);
	writefile("src/.hidden", "h", 1);
	writefile("src/.hiddendir/x.txt", "x", 1);
	if (symlink("../a.txt", tp("src/sub/link.txt")) < 0 ||
	    symlink("sub", tp("src/dirlink")) < 0 ||
	    symlink("nowhere", tp("src/sub/dangling")) < 0)
		die("symlink:");
	mkdirs("emptydir");
}

/* the regular files of src/ as an archive holds them, sorted by path */
static const struct file archived[] = {
	{ ".hidden", U("h"), 1 },
	{ ".hiddendir/x.txt", U("x"), 1 },
	{ "a.txt", U("alpha\n"), 6 },
	{ "sub/b.bin", big, BIGLEN },
	{ "sub/deeper/c.txt", U("gamma\n"), 6 },
	{ "sub/empty", U(""), 0 },
};

/* ---------------------------------------------------------- archive_in */

static int
cmpfile(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->path,
	              ((const struct file *)b)->path);
}

/*
 * Read every entry of an archive into got (copies); returns the entry
 * count, or -1 with msg.
 */
static int
readall(const char *path, int headers_only, struct file *got, int max,
        int *nulldata, char *msg, size_t msglen)
{
	struct ain *a;
	struct ain_entry e;
	unsigned char *d;
	int n = 0, r;

	*nulldata = 1;
	if (!(a = ain_open(path, headers_only, msg, msglen)))
		return -1;
	while ((r = ain_next(a, &e, msg, msglen)) == 1) {
		if (n == max) {
			snprintf(msg, msglen, "more than %d entries", max);
			r = -1;
			break;
		}
		if (e.data) {
			*nulldata = 0;
			d = emalloc(e.len + 1);
			memcpy(d, e.data, e.len + 1); /* with the final 0 */
		} else {
			d = NULL;
		}
		got[n].path = estrdup(e.path);
		got[n].data = d;
		got[n].len = e.len;
		n++;
	}
	ain_close(a);
	if (r < 0) {
		while (n-- > 0) {
			free((char *)got[n].path);
			free((unsigned char *)got[n].data);
		}
		return -1;
	}
	qsort(got, n, sizeof(*got), cmpfile);
	return n;
}

static void
freeall(struct file *got, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free((char *)got[i].path);
		free((unsigned char *)got[i].data);
	}
}

/* compare an archive's entries with the expected list */
static void
checkarchive(const char *label, const char *path, int headers_only,
             const struct file *want, int nwant)
{
	struct file got[32];
	char msg[256];
	int i, n, nulldata, pathsok = 1, dataok = 1;

	n = readall(path, headers_only, got, 32, &nulldata, msg, sizeof(msg));
	if (!ok(n >= 0, "%s: read%s", label, headers_only ? " headers" : "")) {
		diag("%s", msg);
		return;
	}
	ok(n == nwant, "%s: %d regular entries, directories and links skipped",
	   label, nwant);
	for (i = 0; i < n && i < nwant; i++) {
		if (strcmp(got[i].path, want[i].path) != 0) {
			diag("entry %d: got '%s', want '%s'", i, got[i].path,
			     want[i].path);
			pathsok = 0;
		}
		if (headers_only)
			continue;
		if (got[i].len != want[i].len ||
		    memcmp(got[i].data, want[i].data, want[i].len) != 0 ||
		    got[i].data[got[i].len] != 0) {
			diag("entry %s: %zu bytes, want %zu", got[i].path, got[i].len,
			     want[i].len);
			dataok = 0;
		}
	}
	ok(pathsok && n == nwant, "%s: paths, \"./\" stripped", label);
	if (headers_only) {
		int lens = 1;

		for (i = 0; i < n; i++)
			lens &= got[i].len == 0;
		ok(nulldata && lens, "%s: headers only: data NULL, len 0", label);
	} else {
		ok(dataok && n == nwant, "%s: contents", label);
	}
	freeall(got, n);
}

/* expect ain to fail on path, at open or at the first entries */
static void
checkfail(const char *label, const char *path, const char *want)
{
	struct file got[32];
	char msg[256] = "";
	int n, nulldata;

	n = readall(path, 0, got, 32, &nulldata, msg, sizeof(msg));
	if (n >= 0)
		freeall(got, n);
	if (!ok(n < 0 && strstr(msg, want), "%s: error '%s'", label, want))
		diag("got %d, msg '%s'", n, msg);
	else
		diag("%s", msg);
}

static void
test_archive(void)
{
	static const struct file one[] = { { "a.txt", U("alpha\n"), 6 } };
	static const struct file bigone[] = { { "sub/b.bin", big, BIGLEN } };
	struct ain *a;
	struct ain_entry e;
	unsigned char *p;
	char msg[256], want[512];
	size_t len;
	int r, r2, fd, saved;

	sh("tar -C '%s' -cf '%s' .", tp("src"), tp("x.tar"));
	sh("tar -C '%s' -czf '%s' .", tp("src"), tp("x.tar.gz"));
	sh("tar -C '%s' -cJf '%s' .", tp("src"), tp("x.tar.xz"));
	sh("cd '%s' && bsdtar -a -cf ../x.zip .", tp("src"));
	sh("bsdtar -C '%s' -cf - . | bzip2 > '%s'", tp("src"), tp("x.tar.bz2"));

	checkarchive("tar", tp("x.tar"), 0, archived, LEN(archived));
	checkarchive("tar.gz", tp("x.tar.gz"), 0, archived, LEN(archived));
	checkarchive("tar.xz", tp("x.tar.xz"), 0, archived, LEN(archived));
	checkarchive("tar.bz2", tp("x.tar.bz2"), 0, archived, LEN(archived));
	checkarchive("zip", tp("x.zip"), 0, archived, LEN(archived));
	checkarchive("tar.gz", tp("x.tar.gz"), 1, archived, LEN(archived));
	checkarchive("zip", tp("x.zip"), 1, archived, LEN(archived));

	/* names without "./", and absolute ones */
	sh("tar -C '%s' -cf '%s' a.txt", tp("src"), tp("plain.tar"));
	checkarchive("tar without ./", tp("plain.tar"), 0, one, 1);
	sh("bsdtar -P -cf '%s' '%s'", tp("abs.tar"), tp("src/a.txt"));
	{
		struct file absone = { want, U("alpha\n"), 6 };

		snprintf(want, sizeof(want), "%s", tp("src/a.txt") + 1);
		checkarchive("absolute names", tp("abs.tar"), 0, &absone, 1);
	}

	/*
	 * Entries whose header has no size: zip(1) compressing a pipe into a
	 * pipe puts the sizes after the data, and libarchive reading a pipe
	 * cannot look them up in the central directory.
	 */
	if (have("zip")) {
		static const struct file dash[] = { { "-", big, BIGLEN } };
		FILE *pp;
		char cmd[600];

		sh("cat '%s' | zip -q - - | cat > '%s'", tp("src/sub/b.bin"),
		   tp("stream.zip"));
		checkarchive("streamed zip", tp("stream.zip"), 0, dash, 1);
		snprintf(cmd, sizeof(cmd), "cat '%s'", tp("stream.zip"));
		saved = dup(0);
		if (!(pp = popen(cmd, "r")) || dup2(fileno(pp), 0) < 0)
			die("popen %s:", cmd);
		checkarchive("streamed zip through a pipe", "-", 0, dash, 1);
		if (dup2(saved, 0) < 0)
			die("dup2:");
		close(saved);
		pclose(pp);
	} else {
		skip("zip(1) not installed");
	}

	/* archives without regular files */
	sh("tar -cf '%s' -T /dev/null", tp("empty.tar"));
	sh("tar -C '%s' -czf '%s' .", tp("emptydir"), tp("emptydir.tar.gz"));
	checkarchive("0-entry tar", tp("empty.tar"), 0, NULL, 0);
	checkarchive("tar of an empty directory", tp("emptydir.tar.gz"), 0, NULL,
	             0);
	if ((a = ain_open(tp("empty.tar"), 0, msg, sizeof(msg)))) {
		r = ain_next(a, &e, msg, sizeof(msg));
		r2 = ain_next(a, &e, msg, sizeof(msg));
		ok(r == 0 && r2 == 0 && !e.path, "end of archive is sticky");
		ain_close(a);
	} else {
		ok(0, "open empty.tar: %s", msg);
	}

	/* not archives */
	writefile("garbage.txt", "this is not an archive, only some text\n",
	          39);
	writefile("empty", "", 0);
	writefile("binary", big, 100);
	checkfail("text file", tp("garbage.txt"), "Unrecognized archive format");
	checkfail("binary file", tp("binary"), "Unrecognized archive format");
	checkfail("empty file", tp("empty"), "empty input, not an archive");
	checkfail("missing file", tp("nonexistent.tar"),
	          "No such file or directory");
	sh("gzip -c < '%s' > '%s'", tp("garbage.txt"), tp("garbage.gz"));
	checkfail("gzipped text", tp("garbage.gz"), "Unrecognized archive format");

	/* a truncated archive: the message names the entry */
	sh("tar -C '%s' -cf '%s' sub/b.bin", tp("src"), tp("big.tar"));
	checkarchive("one big entry", tp("big.tar"), 0, bigone, 1);
	p = readfile(tp("big.tar"), &len);
	writefile("cut.tar", p, 512 + 100000);
	free(p);
	checkfail("truncated tar", tp("cut.tar"), "sub/b.bin: ");
	p = readfile(tp("x.tar.gz"), &len);
	writefile("cut.tar.gz", p, len / 2);
	free(p);
	checkfail("truncated tar.gz", tp("cut.tar.gz"), "");
	if ((a = ain_open(tp("cut.tar"), 0, msg, sizeof(msg)))) {
		while ((r = ain_next(a, &e, msg, sizeof(msg))) == 1)
			;
		msg[0] = 0;
		r2 = ain_next(a, &e, msg, sizeof(msg));
		ok(r == -1 && r2 == -1 && strstr(msg, "sub/b.bin: "),
		   "errors are sticky, with their message");
		ain_close(a);
	} else {
		ok(0, "open cut.tar: %s", msg);
	}

	/* stdin, as "-" and NULL, without touching the real one */
	saved = dup(0);
	if ((fd = open(tp("x.tar.xz"), O_RDONLY)) < 0 || dup2(fd, 0) < 0)
		die("dup2:");
	close(fd);
	checkarchive("stdin \"-\"", "-", 0, archived, LEN(archived));
	if ((fd = open(tp("x.zip"), O_RDONLY)) < 0 || dup2(fd, 0) < 0)
		die("dup2:");
	close(fd);
	checkarchive("stdin NULL", NULL, 1, archived, LEN(archived));
	if (dup2(saved, 0) < 0)
		die("dup2:");
	close(saved);
}

/* ------------------------------------------------------------- dirwalk */

static int
samelist(char **got, size_t n, const char *const *want, size_t nwant)
{
	size_t i;

	if (n != nwant) {
		diag("%zu paths, want %zu", n, nwant);
		for (i = 0; i < n; i++)
			diag("  %s", got[i]);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(got[i], want[i]) != 0) {
			diag("path %zu: got '%s', want '%s'", i, got[i], want[i]);
			return 0;
		}
	}
	return 1;
}

static void
test_dirwalk(void)
{
	static const char *const want[] = {
		"a.txt", "sub/b.bin", "sub/deeper/c.txt", "sub/empty",
		"sub/link.txt",
	};
	static const char *const wantsort[] = {
		"10", "9", "B", "a-b/x", "a.c", "a/x", "a/y/z",
	};
	char **paths, msg[512], root[512];
	size_t n;
	int r;

	r = dir_list(tp("src"), &paths, &n, msg, sizeof(msg));
	if (ok(r == 0, "dir_list src")) {
		ok(samelist(paths, n, want, LEN(want)),
		   "hidden and link-to-directory skipped, link-to-file kept");
		dir_list_free(paths, n);
	} else {
		diag("%s", msg);
	}

	snprintf(root, sizeof(root), "%s/", tp("src"));
	r = dir_list(root, &paths, &n, msg, sizeof(msg));
	ok(r == 0 && samelist(paths, n, want, LEN(want)),
	   "root with a trailing slash");
	if (r == 0)
		dir_list_free(paths, n);

	mkdirs("sort");
	mkdirs("sort/a");
	mkdirs("sort/a/y");
	mkdirs("sort/a-b");
	writefile("sort/10", "", 0);
	writefile("sort/9", "", 0);
	writefile("sort/B", "", 0);
	writefile("sort/a.c", "", 0);
	writefile("sort/a/x", "", 0);
	writefile("sort/a/y/z", "", 0);
	writefile("sort/a-b/x", "", 0);
	r = dir_list(tp("sort"), &paths, &n, msg, sizeof(msg));
	ok(r == 0 && samelist(paths, n, wantsort, LEN(wantsort)),
	   "sorted by strcmp over the whole path");
	if (r == 0)
		dir_list_free(paths, n);

	paths = (char **)1;
	r = dir_list(tp("emptydir"), &paths, &n, msg, sizeof(msg));
	ok(r == 0 && n == 0 && paths == NULL, "empty directory: no paths");
	dir_list_free(paths, n);

	r = dir_list(tp("nonexistent"), &paths, &n, msg, sizeof(msg));
	ok(r == -1 && paths == NULL && n == 0 &&
	   strstr(msg, tp("nonexistent")) &&
	   strstr(msg, "No such file or directory"),
	   "missing root: path and strerror");
	diag("%s", msg);
	r = dir_list(tp("src/a.txt"), &paths, &n, msg, sizeof(msg));
	ok(r == -1 && strstr(msg, "Not a directory"), "root is a file");

	if (geteuid() != 0) {
		mkdirs("locked");
		mkdirs("locked/sub");
		chmod(tp("locked/sub"), 0);
		r = dir_list(tp("locked"), &paths, &n, msg, sizeof(msg));
		ok(r == -1 && strstr(msg, tp("locked/sub")) &&
		   strstr(msg, "Permission denied"),
		   "unreadable subdirectory named");
		chmod(tp("locked/sub"), 0755);
	} else {
		skip("running as root: permissions are not enforced");
	}
}

/* ----------------------------------------------------------------- idx */

/* header bytes + data into a raw and a gzipped file */
static void
writeidx(const char *name, int gz, const unsigned char *hdr, size_t hlen,
         const unsigned char *data, size_t len)
{
	unsigned char *p = emalloc(hlen + len + 1);

	memcpy(p, hdr, hlen);
	if (len)
		memcpy(p + hlen, data, len);
	if (gz)
		writegz(name, p, hlen + len);
	else
		writefile(name, p, hlen + len);
	free(p);
}

static void
idxfail(const char *label, const char *name, const char *want)
{
	struct idx x;
	char msg[256] = "";
	int r;

	r = idx_load(tp(name), &x, msg, sizeof(msg));
	if (!ok(r == -1 && x.data == NULL && strstr(msg, want), "idx %s: '%s'",
	        label, want))
		diag("got %d, msg '%s'", r, msg);
}

static void
test_idx(void)
{
	static const unsigned char h3[] = {
		0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2
	};
	static const unsigned char h1[] = { 0, 0, 8, 1, 0, 0, 0, 5 };
	static const unsigned char hf[] = { 0, 0, 0x0d, 1, 0, 0, 0, 1 };
	static const unsigned char h5[] = { 0, 0, 8, 5, 0, 0, 0, 1 };
	static const unsigned char h0[] = { 0, 0, 8, 0 };
	static const unsigned char hover[] = {
		0, 0, 8, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
	};
	static const unsigned char hlie[] = { 0, 0, 8, 1, 0xff, 0xff, 0xff,
	                                      0xff };
	static const unsigned char hzero[] = {
		0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28
	};
	static const unsigned char zip[] = { 'P', 'K', 3, 4, 0, 0, 0, 0 };
	unsigned char data[13], *p;
	char msg[256], out[256];
	struct idx x;
	size_t i, len;
	int r, fd, saved;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 20);

	writeidx("i3", 0, h3, sizeof(h3), data, 12);
	writeidx("i3.gz", 1, h3, sizeof(h3), data, 12);
	writeidx("l1.gz", 1, h1, sizeof(h1), data, 5);
	r = idx_load(tp("i3"), &x, msg, sizeof(msg));
	ok(r == 0 && x.rank == 3 && x.dims[0] == 3 && x.dims[1] == 2 &&
	   x.dims[2] == 2 && x.dims[3] == 0 && x.n == 12 &&
	   memcmp(x.data, data, 12) == 0, "idx raw 3x2x2");
	idx_free(&x);
	r = idx_load(tp("i3.gz"), &x, msg, sizeof(msg));
	ok(r == 0 && x.rank == 3 && x.n == 12 && memcmp(x.data, data, 12) == 0,
	   "idx gzip 3x2x2");
	idx_free(&x);
	ok(x.data == NULL && x.n == 0 && x.rank == 0, "idx_free zeroes");
	r = idx_load(tp("l1.gz"), &x, msg, sizeof(msg));
	ok(r == 0 && x.rank == 1 && x.dims[0] == 5 && x.n == 5, "idx rank 1");
	idx_free(&x);
	writeidx("zero", 0, hzero, sizeof(hzero), NULL, 0);
	r = idx_load(tp("zero"), &x, msg, sizeof(msg));
	ok(r == 0 && x.n == 0 && x.dims[1] == 28 && x.data == NULL,
	   "idx with a 0 dim is empty");
	idx_free(&x);

	/* the first items only: the rest neither read nor checked */
	r = idx_load_first(tp("i3.gz"), &x, 2, msg, sizeof(msg));
	ok(r == 0 && x.dims[0] == 2 && x.whole == 3 && x.dims[1] == 2 &&
	   x.n == 8 && memcmp(x.data, data, 8) == 0,
	   "idx_load_first 2 of 3: dims[0] 2, whole 3, the first 8 bytes");
	idx_free(&x);
	writeidx("long", 0, h3, sizeof(h3), data, 13);
	r = idx_load_first(tp("long"), &x, 1, msg, sizeof(msg));
	ok(r == 0 && x.dims[0] == 1 && x.n == 4, "idx_load_first 1 of 3 "
	   "leaves trailing bytes unread");
	idx_free(&x);
	r = idx_load_first(tp("i3"), &x, 3, msg, sizeof(msg));
	ok(r == 0 && x.dims[0] == 3 && x.whole == 3 && x.n == 12,
	   "idx_load_first at the count reads it all");
	idx_free(&x);
	r = idx_load_first(tp("long"), &x, 5, msg, sizeof(msg));
	ok(r == -1 && strstr(msg, "trailing data after 12 bytes"),
	   "idx_load_first past the count checks the end as idx_load");
	writeidx("short", 0, h3, sizeof(h3), data, 10);
	r = idx_load_first(tp("short"), &x, 2, msg, sizeof(msg));
	ok(r == 0 && x.n == 8, "idx_load_first 2 of 3 of a file short of "
	   "the third");
	idx_free(&x);
	r = idx_load_first(tp("short"), &x, 3, msg, sizeof(msg));
	ok(r == -1 && strstr(msg, "truncated: got 10 of 12 bytes"),
	   "idx_load_first: a file short of the items asked is truncated");
	idx_free(&x);

	/* errors */
	writeidx("short", 0, h3, sizeof(h3), data, 10);
	idxfail("truncated", "short", "truncated: got 10 of 12 bytes");
	writeidx("short.gz", 1, h3, sizeof(h3), data, 10);
	idxfail("truncated gzip", "short.gz", "truncated: got 10 of 12 bytes");
	writeidx("long", 0, h3, sizeof(h3), data, 13);
	idxfail("trailing bytes", "long", "trailing data after 12 bytes");
	writeidx("long.gz", 1, h3, sizeof(h3), data, 13);
	idxfail("trailing bytes gzip", "long.gz", "trailing data");
	writeidx("pk", 0, zip, sizeof(zip), NULL, 0);
	idxfail("bad magic", "pk",
	        "bad IDX magic 50 4b 03 04, expected 00 00 08 0N");
	p = readfile(tp("i3.gz"), &len);
	writegz("i3.gz.gz", p, len);
	idxfail("gzip twice", "i3.gz.gz",
	        "bad IDX magic 1f 8b 08 00, expected 00 00 08 0N");
	/* the gzip stream cut: first the trailer, then the data */
	writefile("cut.gz", p, len - 4);
	idxfail("gzip without trailer", "cut.gz", "unexpected end of file");
	writefile("cut2.gz", p, 20);
	idxfail("gzip cut in the data", "cut2.gz", "truncated");
	free(p);
	writeidx("f32", 0, hf, sizeof(hf), data, 4);
	idxfail("float type", "f32",
	        "unsupported IDX type 0x0d (f32), expected 0x08 (u8)");
	writeidx("r5", 0, h5, sizeof(h5), data, 1);
	idxfail("rank 5", "r5", "unsupported IDX rank 5, expected 1..4");
	writeidx("r0", 0, h0, sizeof(h0), data, 1);
	idxfail("rank 0", "r0", "unsupported IDX rank 0, expected 1..4");
	writeidx("hshort", 0, h3, 6, NULL, 0);
	idxfail("truncated header", "hshort",
	        "truncated header: got 6 of 16 bytes");
	writeidx("mshort", 0, h3, 2, NULL, 0);
	idxfail("truncated magic", "mshort", "truncated header: got 2 of 4 bytes");
	writefile("empty.idx", "", 0);
	idxfail("empty", "empty.idx", "empty input, expected 00 00 08 0N");
	writeidx("over", 0, hover, sizeof(hover), data, 1);
	idxfail("dims overflow", "over", "size overflows");
	writeidx("lie", 0, hlie, sizeof(hlie), data, 10);
	idxfail("huge dims, small file", "lie",
	        "truncated: got 10 of 4294967295 bytes");
	idxfail("missing", "nonexistent", "No such file or directory");
	idxfail("directory", "src", "Is a directory");

	/* sniff */
	ok(idx_sniff(tp("i3"), msg, sizeof(msg)) == 1, "sniff raw idx");
	ok(idx_sniff(tp("l1.gz"), msg, sizeof(msg)) == 1, "sniff gzip idx");
	ok(idx_sniff(tp("short"), msg, sizeof(msg)) == 1,
	   "sniff looks at the magic only");
	ok(idx_sniff(tp("x.tar.gz"), msg, sizeof(msg)) == 0, "sniff tar.gz");
	ok(idx_sniff(tp("pk"), msg, sizeof(msg)) == 0, "sniff zip magic");
	ok(idx_sniff(tp("r5"), msg, sizeof(msg)) == 0, "sniff rank 5");
	ok(idx_sniff(tp("f32"), msg, sizeof(msg)) == 0, "sniff float type");
	ok(idx_sniff(tp("mshort"), msg, sizeof(msg)) == 0, "sniff short file");
	ok(idx_sniff(tp("empty.idx"), msg, sizeof(msg)) == 0, "sniff empty file");
	ok(idx_sniff("-", msg, sizeof(msg)) == 0, "sniff stdin: 0, unread");
	msg[0] = 0;
	ok(idx_sniff(tp("nonexistent"), msg, sizeof(msg)) == -1 &&
	   strstr(msg, "No such file"), "sniff missing file: -1");

	/* stdin */
	saved = dup(0);
	if ((fd = open(tp("i3.gz"), O_RDONLY)) < 0 || dup2(fd, 0) < 0)
		die("dup2:");
	close(fd);
	r = idx_load("-", &x, msg, sizeof(msg));
	ok(r == 0 && x.n == 12 && memcmp(x.data, data, 12) == 0,
	   "idx from stdin");
	idx_free(&x);
	ok(fcntl(0, F_GETFD) != -1, "stdin still open after idx_load");
	if (dup2(saved, 0) < 0)
		die("dup2:");
	close(saved);

	/* label names */
	ok(idx_label_path("train-images-idx3-ubyte.gz", out, sizeof(out)) == 0 &&
	   strcmp(out, "train-labels-idx1-ubyte.gz") == 0,
	   "label path of train-images-idx3-ubyte.gz");
	ok(idx_label_path("t10k-images.idx3-ubyte", out, sizeof(out)) == 0 &&
	   strcmp(out, "t10k-labels.idx1-ubyte") == 0,
	   "label path of t10k-images.idx3-ubyte");
	ok(idx_label_path("/d/images/idx3/train-images-idx3-ubyte", out,
	                  sizeof(out)) == 0 &&
	   strcmp(out, "/d/images/idx3/train-labels-idx1-ubyte") == 0,
	   "label path: only the last component changes");
	ok(idx_label_path("/d/images/foo.gz", out, sizeof(out)) == -1,
	   "label path: no images in the basename");
	ok(idx_label_path("train-labels-idx1-ubyte", out, sizeof(out)) == -1,
	   "label path of a label file");
	ok(idx_label_path("train-images-idx3-ubyte.gz", out, 26) == -1 &&
	   idx_label_path("train-images-idx3-ubyte.gz", out, 27) == 0,
	   "label path: output buffer too small");
}

static void
test_fmnist(void)
{
	struct idx im, lb;
	char msg[256], lpath[512];
	size_t i;
	int max = 0, r;

	if (access(FMNIST, R_OK) != 0) {
		skip(FMNIST " not installed");
		return;
	}
	ok(idx_sniff(FMNIST, msg, sizeof(msg)) == 1, "Fashion-MNIST sniffed");
	r = idx_load(FMNIST, &im, msg, sizeof(msg));
	if (!ok(r == 0 && im.rank == 3 && im.dims[0] == 60000 &&
	        im.dims[1] == 28 && im.dims[2] == 28 && im.n == 47040000,
	        "Fashion-MNIST images 60000x28x28"))
		diag("%s", r ? msg : "wrong dims");
	idx_free(&im);
	ok(idx_label_path(FMNIST, lpath, sizeof(lpath)) == 0, "label path");
	r = idx_load(lpath, &lb, msg, sizeof(msg));
	if (r == 0)
		for (i = 0; i < lb.n; i++)
			max = MAX(max, lb.data[i]);
	if (!ok(r == 0 && lb.rank == 1 && lb.dims[0] == 60000 && max == 9,
	        "Fashion-MNIST labels: 60000, max 9"))
		diag("%s", r ? msg : "wrong labels");
	idx_free(&lb);
}

/* ---------------------------------------------------------------- main */

int
main(int argc, char *argv[])
{
	const char *t;

	(void)argc;
	setargv0(argv[0]);
	t = getenv("TMPDIR");
	snprintf(tmp, sizeof(tmp), "%s/unit-input.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp))
		die("mkdtemp %s:", tmp);
	mktree();

	test_archive();
	test_dirwalk();
	test_idx();
	test_fmnist();

	sh("rm -rf '%s'", tmp);
	tap_done();
	if (nfail)
		diag("%d of %d tests failed", nfail, ntest);
	return nfail != 0;
}
