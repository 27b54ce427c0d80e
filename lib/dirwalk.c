/* See LICENSE file for copyright and license details. */
/*
 * dirwalk: opendir/readdir/lstat recursion; see dirwalk.h for the
 * contract.  Each directory is read completely and closed before its
 * subdirectories are entered, so the walk holds one descriptor at a
 * time however deep the tree is.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirwalk.h"
#include "util.h"

struct list {
	char **v;
	size_t n, cap;
};

/* ------------------------------------------------------------ helpers */

/* append s (owned by the list from now on, freed on failure); 0 or -1 */
static int
push(struct list *l, char *s)
{
	char **v;
	size_t ncap;

	if (!s)
		return -1;
	if (l->n == l->cap) {
		ncap = l->cap ? l->cap * 2 : 16;
		if (ncap > SIZE_MAX / sizeof(*v) ||
		    !(v = realloc(l->v, ncap * sizeof(*v)))) {
			free(s);
			return -1;
		}
		l->v = v;
		l->cap = ncap;
	}
	l->v[l->n++] = s;
	return 0;
}

static void
clear(struct list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* "a" + "b" -> "a/b", without doubling a trailing '/' of a */
static char *
join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int slash = la > 0 && a[la - 1] != '/';
	char *s;

	if (!(s = malloc(la + slash + lb + 1)))
		return NULL;
	memcpy(s, a, la);
	if (slash)
		s[la] = '/';
	memcpy(s + la + slash, b, lb + 1);
	return s;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --------------------------------------------------------------- walk */

/*
 * Add the regular files under dir (whose path relative to the root is
 * rel, NULL for the root itself) to out.
 */
static int
walk(const char *dir, const char *rel, struct list *out, char *msg,
     size_t msglen)
{
	struct list names = { 0 };
	struct dirent *de;
	struct stat st;
	DIR *d;
	char *path = NULL, *relpath = NULL;
	size_t i;
	int ret = -1;

	if (!(d = opendir(dir))) {
		errf(msg, msglen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (de->d_name[0] == '.')
			continue; /* hidden, and "." and ".." */
		if (push(&names, strdup(de->d_name)) < 0) {
			closedir(d);
			errf(msg, msglen, "%s: out of memory", dir);
			goto out;
		}
	}
	if (errno) {
		errf(msg, msglen, "%s: %s", dir, strerror(errno));
		closedir(d);
		goto out;
	}
	closedir(d);

	for (i = 0; i < names.n; i++) {
		path = join(dir, names.v[i]);
		relpath = rel ? join(rel, names.v[i]) : strdup(names.v[i]);
		if (!path || !relpath) {
			errf(msg, msglen, "%s: out of memory", dir);
			goto out;
		}
		if (lstat(path, &st) < 0) {
			errf(msg, msglen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			if (walk(path, relpath, out, msg, msglen) < 0)
				goto out;
		} else if (S_ISREG(st.st_mode) ||
		           (S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
		            S_ISREG(st.st_mode))) {
			if (push(out, relpath) < 0) {
				relpath = NULL; /* push freed it */
				errf(msg, msglen, "%s: out of memory", dir);
				goto out;
			}
			relpath = NULL; /* owned by out */
		}
		free(path);
		free(relpath);
		path = relpath = NULL;
	}
	ret = 0;
out:
	free(path);
	free(relpath);
	clear(&names);
	return ret;
}

/* ---------------------------------------------------------------- API */

int
dir_list(const char *root, char ***paths, size_t *n, char *msg, size_t msglen)
{
	struct list out = { 0 };

	*paths = NULL;
	*n = 0;
	if (walk(root, NULL, &out, msg, msglen) < 0) {
		clear(&out);
		return -1;
	}
	if (out.n > 1)
		qsort(out.v, out.n, sizeof(*out.v), cmp);
	*paths = out.v;
	*n = out.n;
	return 0;
}

void
dir_list_free(char **paths, size_t n)
{
	size_t i;

	if (!paths)
		return;
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}
