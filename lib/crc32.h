/* See LICENSE file for copyright and license details. */
/*
 * crc32: the CRC-32 of zlib, gzip, PNG and the tensor stream (the
 * reflected polynomial 0xEDB88320, initial value and final XOR
 * 0xFFFFFFFF), computed fast.
 *
 * crc32_fast(crc, buf, len) returns the CRC of buf[0..len) continued from
 * crc, the CRC of whatever came before, so that
 *
 *	crc32_fast(crc32_fast(0, a, n), b, m) == crc32_fast(0, a || b, n + m)
 *
 * and every result equals zlib's crc32_z(crc, buf, len).  The start
 * value is 0.  buf may be NULL only when len is 0; then crc comes back
 * unchanged (zlib would return 0 for a NULL buf).
 *
 * On x86 with PCLMULQDQ the buffer is folded 64 bytes at a time with
 * carry-less multiplications; with VPCLMULQDQ, 128 bytes at a time in
 * AVX2 registers or 256 bytes in AVX-512 ones.  Elsewhere, for inputs
 * under 64 bytes, and for the last few bytes, a slicing-by-8 table does
 * the work (four chains side by side from 16000 bytes on).  The choice
 * is made on the first call and kept.  Setting MIM_CRC_GENERIC=1 (any
 * value but empty or "0") in the environment before that call forces
 * the table path.
 * The functions are thread-safe, crc32_select() included.
 *
 * Building with -DMIM_CRC_NO_SIMD leaves only the table path.
 *
 * Nothing here allocates, exits or prints.
 */
#ifndef MIM_CRC32_H
#define MIM_CRC32_H

#include <stddef.h>
#include <stdint.h>

enum crc32_impl {
	CRC32_AUTO = 0,    /* crc32_select(): detect again */
	CRC32_GENERIC = 1, /* portable slicing-by-8, about 1.5 GB/s */
	CRC32_PCLMUL = 2,  /* x86 PCLMULQDQ + SSE4.1, 4 x 128-bit folding */
	CRC32_AVX2 = 3,    /* x86 VPCLMULQDQ + AVX2, 8 x 128-bit folding */
	CRC32_AVX512 = 4,  /* x86 VPCLMULQDQ + AVX-512F, 16 x 128-bit folding */
};

uint32_t crc32_fast(uint32_t crc, const void *buf, size_t len);

/* the table path alone, whatever the CPU; same contract as crc32_fast */
uint32_t crc32_generic(uint32_t crc, const void *buf, size_t len);

/*
 * For tests and benchmarks.  crc32_chosen() returns the enum crc32_impl
 * that crc32_fast() uses (choosing it if it has not yet).
 * crc32_select(impl) makes crc32_fast() use impl from now on, or, for
 * CRC32_AUTO, reads MIM_CRC_GENERIC and the CPU again; it returns the
 * implementation now in use, or -1 (changing nothing) when impl is
 * unknown or this CPU or build cannot run it.  crc32_impl_name() gives
 * "auto", "generic", "pclmul", "avx2", "avx512" or "?".
 */
int crc32_chosen(void);
int crc32_select(int impl);
const char *crc32_impl_name(int impl);

/*
 * The constants of the folding code, as it loads them, so that the unit
 * test can derive them again.  Every constant is a polynomial over GF(2)
 * stored bit-reflected in 33 bits: bit i holds the coefficient of
 * x^(32-i).  For n > 0, k = x^n mod P (degree < 32, so bit 0 is 0);
 * n = CRC32_K_MU marks mu = floor(x^64 / P) and n = CRC32_K_P the
 * polynomial P itself (both of degree 32, so bit 0 is 1).
 */
#define CRC32_K_MU (-1)
#define CRC32_K_P  (-2)

struct crc32_const {
	int n;
	uint64_t k;
};

const struct crc32_const *crc32_constants(size_t *count);

#endif
