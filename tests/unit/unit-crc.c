/* See LICENSE file for copyright and license details. */
/*
 * unit-crc: lib/crc32.c against zlib, printed as TAP.
 *
 *   unit-crc
 *
 * For every implementation this CPU can run (the slicing-by-8 table,
 * PCLMULQDQ, VPCLMULQDQ with AVX2 or AVX-512) crc32_fast() must equal
 * zlib's crc32_z():
 * every length 0..4096 at every offset 0..63 of a random buffer, from a
 * zero and from a random start CRC; 1 MB and 100 MB buffers and odd
 * sizes around them; and incremental use, the buffer split at every
 * point and in random pieces.  The constants of the folding code are
 * derived again here by long division of explicit bit arrays, and
 * MIM_CRC_GENERIC=1 must force the table path.  Last, the throughput of
 * each path on a 1 MB buffer is printed on "# " lines; it never fails.
 *
 * Output: "ok N - ..." or "not ok N - ..." per check, diagnostics on
 * "# " lines, the plan "1..N" last.  The exit status is 1 if any check
 * failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "crc32.h"
#include "tap.h"


/* ------------------------------------------------------------------ */
/* helpers                                                             */

static uint64_t rngs = 0x9e3779b97f4a7c15u;

static uint64_t
rnd(void)
{
	rngs ^= rngs >> 12;
	rngs ^= rngs << 25;
	rngs ^= rngs >> 27;
	return rngs * 0x2545f4914f6cdd1du;
}

static void
fill(unsigned char *p, size_t n)
{
	uint64_t r = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0)
			r = rnd();
		p[i] = r & 0xff;
		r >>= 8;
	}
}

static uint32_t
zcrc(uint32_t crc, const unsigned char *p, size_t n)
{
	return (uint32_t)crc32_z(crc, p, n);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ */
/* constants from first principles                                     */

/*
 * Polynomials over GF(2) as arrays of bits, a[d] the coefficient of x^d.
 * P = x^32 + x^26 + x^23 + x^22 + x^16 + x^12 + x^11 + x^10 + x^8 + x^7
 *     + x^5 + x^4 + x^2 + x + 1, written out term by term.
 */
static const int pterms[] = {
	32, 26, 23, 22, 16, 12, 11, 10, 8, 7, 5, 4, 2, 1, 0
};

/*
 * Divide x^n by P by schoolbook long division on n + 1 explicit bits:
 * rem gets the 32 remainder bits, quot (if not NULL, n + 1 bits) the
 * quotient bits.
 */
static void
xpow_divmod(int n, unsigned char rem[32], unsigned char *quot)
{
	unsigned char *a = calloc(n + 1 > 33 ? n + 1 : 33, 1);
	size_t t;
	int d;

	if (!a)
		abort();
	a[n] = 1;
	if (quot)
		memset(quot, 0, n + 1);
	for (d = n; d >= 32; d--) {
		if (!a[d])
			continue;
		if (quot)
			quot[d - 32] = 1;
		for (t = 0; t < sizeof(pterms) / sizeof(pterms[0]); t++)
			a[d - 32 + pterms[t]] ^= 1;
	}
	memcpy(rem, a, 32);
	free(a);
}

/* bits c[0..32] (c[d] = coefficient of x^d) at "top 32": bit i = x^(32-i) */
static uint64_t
top32(const unsigned char *c, int ncoef)
{
	uint64_t k = 0;
	int d;

	for (d = 0; d < ncoef; d++)
		if (c[d])
			k |= (uint64_t)1 << (32 - d);
	return k;
}

static uint64_t
derive(int n)
{
	unsigned char rem[32], quot[65], pc[33];
	size_t t;

	if (n > 0) {
		xpow_divmod(n, rem, NULL);
		return top32(rem, 32);
	}
	if (n == CRC32_K_MU) {
		xpow_divmod(64, rem, quot);
		return top32(quot, 33);
	}
	memset(pc, 0, sizeof(pc));
	for (t = 0; t < sizeof(pterms) / sizeof(pterms[0]); t++)
		pc[pterms[t]] = 1;
	return top32(pc, 33);
}

static void
test_constants(void)
{
	const struct crc32_const *kc;
	uint64_t want;
	size_t n, i;
	int bad = 0, havemu = 0, havep = 0;

	kc = crc32_constants(&n);
	for (i = 0; i < n; i++) {
		want = derive(kc[i].n);
		if (kc[i].n == CRC32_K_MU)
			havemu = 1;
		if (kc[i].n == CRC32_K_P)
			havep = 1;
		if (kc[i].k != want) {
			bad++;
			printf("# constant %d: table 0x%09llx, "
			       "derived 0x%09llx\n",
			       kc[i].n, (unsigned long long)kc[i].k,
			       (unsigned long long)want);
		}
	}
	ok(!bad && n >= 9 && havemu && havep,
	   "%zu constants derived again by long division", n);
	/* the table polynomial is the reflected 0xEDB88320 */
	ok(derive(CRC32_K_P) == ((uint64_t)0xedb88320u << 1 | 1),
	   "P reflected is 0xEDB88320");
}

/* ------------------------------------------------------------------ */
/* against zlib                                                        */

#define SMALL 4096
#define ALIGNS 64

static void
test_small(int impl, const unsigned char *buf)
{
	size_t len, a, bad = 0;
	uint32_t start, got, want;

	for (len = 0; len <= SMALL; len++) {
		for (a = 0; a < ALIGNS; a++) {
			start = (a & 1) ? (uint32_t)rnd() : 0;
			got = crc32_fast(start, buf + a, len);
			want = zcrc(start, buf + a, len);
			if (got != want && bad++ < 5)
				printf("# len %zu offset %zu start %08x: "
				       "%08x, zlib %08x\n",
				       len, a, (unsigned)start, (unsigned)got,
				       (unsigned)want);
		}
	}
	ok(!bad, "%s: lengths 0..%d at offsets 0..%d equal zlib",
	   crc32_impl_name(impl), SMALL, ALIGNS - 1);
}

static void
test_large(int impl, const unsigned char *big, size_t bigsz)
{
	static const size_t sz[] = {
		15999, 16000, 16001, 32008, 48005, 1 << 20, (1 << 20) - 1,
		(1 << 20) + 1, (1 << 20) + 255, (1 << 20) + 257,
		3 * 1000 * 1000 + 7, 100 << 20, (100 << 20) + 13,
		(100 << 20) + 63,
	};
	size_t i, bad = 0;
	uint32_t start, got, want;

	for (i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		if (sz[i] + 3 > bigsz)
			continue;
		start = (i & 1) ? (uint32_t)rnd() : 0;
		got = crc32_fast(start, big + (i % 4), sz[i]);
		want = zcrc(start, big + (i % 4), sz[i]);
		if (got != want) {
			bad++;
			printf("# size %zu: %08x, zlib %08x\n", sz[i],
			       (unsigned)got, (unsigned)want);
		}
	}
	ok(!bad, "%s: 16 kB, 1 MB, 100 MB and odd sizes equal zlib",
	   crc32_impl_name(impl));
}

static void
test_incremental(int impl, const unsigned char *buf, size_t n)
{
	size_t i, k, off, piece, bad = 0;
	uint32_t whole, c;

	whole = zcrc(0, buf, n);
	for (i = 0; i <= n; i++) {
		c = crc32_fast(crc32_fast(0, buf, i), buf + i, n - i);
		if (c != whole && bad++ < 5)
			printf("# split at %zu: %08x, want %08x\n", i,
			       (unsigned)c, (unsigned)whole);
	}
	ok(!bad, "%s: %zu bytes split at every point",
	   crc32_impl_name(impl), n);

	/* past the table path's lanes (16000 bytes), with a coarser step */
	bad = 0;
	whole = zcrc(0, buf, n * 5);
	for (i = 0; i <= n * 5; i += i < 64 || n * 5 - i < 64 ? 1 : 97) {
		c = crc32_fast(crc32_fast(0, buf, i), buf + i, n * 5 - i);
		if (c != whole && bad++ < 5)
			printf("# split at %zu: %08x, want %08x\n", i,
			       (unsigned)c, (unsigned)whole);
	}
	ok(!bad, "%s: %zu bytes split at every 97th point",
	   crc32_impl_name(impl), n * 5);
	whole = zcrc(0, buf, n);

	bad = 0;
	for (k = 0; k < 2000; k++) {
		c = 0;
		for (off = 0; off < n; off += piece) {
			piece = rnd() % (k % 2 ? 70 : 700);
			if (piece > n - off)
				piece = n - off;
			c = crc32_fast(c, buf + off, piece);
		}
		if (c != whole && bad++ < 5)
			printf("# random pieces, round %zu: %08x, want %08x\n",
			       k, (unsigned)c, (unsigned)whole);
	}
	ok(!bad, "%s: 2000 random splits into pieces",
	   crc32_impl_name(impl));
}

static void
test_misc(int impl)
{
	static const char check[] = "123456789";
	unsigned char zero[1] = {0};

	ok(crc32_fast(0, check, 9) == 0xcbf43926u,
	   "%s: check value of \"123456789\" is cbf43926",
	   crc32_impl_name(impl));
	ok(crc32_fast(0x12345678u, NULL, 0) == 0x12345678u &&
	       crc32_fast(0x12345678u, zero, 0) == 0x12345678u,
	   "%s: empty input leaves the CRC unchanged",
	   crc32_impl_name(impl));
}

/* ------------------------------------------------------------------ */
/* throughput (informational)                                          */

static double
gbps(uint32_t (*f)(uint32_t, const void *, size_t), const unsigned char *p,
     size_t n)
{
	double t0, t, best = 0;
	uint32_t sink = 0;
	int i, reps = 0;

	/* best of a few rounds of at least 0.1 s each */
	for (i = 0; i < 3; i++) {
		t0 = now();
		reps = 0;
		do {
			sink ^= f(sink, p, n);
			reps++;
		} while ((t = now() - t0) < 0.1);
		if ((double)n * reps / t > best)
			best = (double)n * reps / t;
	}
	if (sink == 0x5eed)
		putchar(' '); /* keep the calls */
	return best / 1e9;
}

static uint32_t
zlib_fn(uint32_t crc, const void *p, size_t n)
{
	return zcrc(crc, p, n);
}

/* ------------------------------------------------------------------ */

int
main(void)
{
	static const int impls[] = {
		CRC32_GENERIC, CRC32_PCLMUL, CRC32_AVX2, CRC32_AVX512
	};
	const size_t bigsz = (100 << 20) + 64;
	unsigned char *buf, *big;
	size_t i;
	int best, impl;

	buf = malloc(SMALL + ALIGNS);
	big = malloc(bigsz);
	if (!buf || !big) {
		printf("Bail out! out of memory\n");
		return 1;
	}
	fill(buf, SMALL + ALIGNS);
	fill(big, bigsz);

	test_constants();

	/* the environment variable, read again by CRC32_AUTO */
	setenv("MIM_CRC_GENERIC", "1", 1);
	ok(crc32_select(CRC32_AUTO) == CRC32_GENERIC &&
	       crc32_chosen() == CRC32_GENERIC,
	   "MIM_CRC_GENERIC=1 selects the generic path");
	unsetenv("MIM_CRC_GENERIC");
	best = crc32_select(CRC32_AUTO);
	ok(best > CRC32_AUTO && crc32_chosen() == best,
	   "without MIM_CRC_GENERIC the best path is %s",
	   crc32_impl_name(best));
	ok(crc32_select(42) == -1 && crc32_chosen() == best,
	   "an unknown implementation is refused");

	for (i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		impl = impls[i];
		if (crc32_select(impl) != impl) {
			printf("ok %d - %s # SKIP not supported here\n",
			       ++ntest, crc32_impl_name(impl));
			continue;
		}
		test_misc(impl);
		test_small(impl, buf);
		test_large(impl, big, bigsz);
		test_incremental(impl, big + 1, 10007);
	}
	crc32_select(CRC32_AUTO);
	ok(crc32_generic(0, big, bigsz) == zcrc(0, big, bigsz),
	   "crc32_generic equals zlib on %zu bytes", bigsz);

	printf("# throughput on 1 MB:\n");
	printf("#   zlib crc32_z  %6.2f GB/s\n", gbps(zlib_fn, big, 1 << 20));
	for (i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		impl = impls[i];
		if (crc32_select(impl) != impl)
			continue;
		printf("#   %-12s  %6.2f GB/s\n", crc32_impl_name(impl),
		       gbps(crc32_fast, big, 1 << 20));
	}
	crc32_select(CRC32_AUTO);

	free(buf);
	free(big);
	return tap_done();
}
