/* See LICENSE file for copyright and license details. */
/*
 * replay: run a fuzz harness on files, without libFuzzer.
 *
 *   fuzz-NAME file|dir ...
 *
 * Each file, and each file directly in a directory (in sorted order), is
 * read whole and handed to LLVMFuzzerTestOneInput once.  With gcc's
 * -fsanitize=address,undefined this replays a committed corpus, and the
 * inputs of past findings, in `make check'.  Prints "N inputs" and
 * exits 0; a finding aborts (sanitizer report, or the harness's own
 * abort()); exit 2 on a usage error, 1 if a file cannot be read.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int
one(const char *path)
{
	unsigned char *buf = NULL, *nb;
	size_t len = 0, cap = 0, got;
	FILE *fp;

	if (!(fp = fopen(path, "rb"))) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 65536;
			if (!(nb = realloc(buf, cap))) {
				fprintf(stderr, "replay: %s: out of memory\n", path);
				free(buf);
				fclose(fp);
				return -1;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, fp);
		len += got;
	} while (got > 0);
	if (ferror(fp)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct dirent **ents;
	struct stat st;
	char path[4096];
	long n = 0;
	int i, k, m, bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s file|dir ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= one(argv[i]) < 0;
			n++;
			continue;
		}
		if ((m = scandir(argv[i], &ents, NULL, alphasort)) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			bad = 1;
			continue;
		}
		for (k = 0; k < m; k++) {
			snprintf(path, sizeof(path), "%s/%s", argv[i], ents[k]->d_name);
			if (ents[k]->d_name[0] != '.' && stat(path, &st) == 0 &&
			    S_ISREG(st.st_mode)) {
				bad |= one(path) < 0;
				n++;
			}
			free(ents[k]);
		}
		free(ents);
	}
	printf("%ld inputs\n", n);
	return bad;
}
