/* See LICENSE file for copyright and license details. */
/*
 * fuzz.h: what the fuzz harnesses share.
 *
 * Each tests/fuzz/fuzz-NAME.c defines the libFuzzer entry point
 *
 *	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
 *
 * which hands data to one reader of untrusted input and returns 0.  A
 * harness must not leak, exit or print: a crash, a sanitizer report or
 * an abort() is a finding.  Each is linked twice: with clang's libFuzzer
 * for `make fuzz' (build/fuzz/), and with tests/fuzz/replay.c, a plain
 * main() that feeds it the files of its committed corpus, for
 * `make check' on the normal and the sanitizer builds.
 *
 * memfile() gives readers that want a path (IDX through gzopen, archives
 * through libarchive) one: an anonymous in-memory file holding data,
 * named /proc/self/fd/N, reused from call to call.
 */
#ifndef MIM_FUZZ_H
#define MIM_FUZZ_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a path whose file holds data[0..size), or NULL */
static inline const char *
memfile(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	size_t off = 0;
	ssize_t n;

	if (fd < 0) {
		if ((fd = memfd_create("fuzz", 0)) < 0)
			return NULL;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0)
		return NULL;
	while (off < size) {
		if ((n = pwrite(fd, data + off, size - off, off)) <= 0)
			return NULL;
		off += n;
	}
	return path;
}

/* a FILE reading data[0..size) (fmemopen refuses size 0), or NULL */
static inline FILE *
memstream(const uint8_t *data, size_t size)
{
	return size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
}

#endif
