/* See LICENSE file for copyright and license details. */
/*
 * avx512: what the AVX-512 kernels (gemm.c, attn.c) share.  Each
 * function that uses these is marked AVX512 and is only called where
 * gemm_native() says the CPU has AVX-512.
 */
#ifndef MIM_AVX512_H
#define MIM_AVX512_H

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

/* the first n of 16 lanes */
INLINE __mmask16
lanes(long n)
{
	return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 :
	       (__mmask16)((1u << n) - 1);
}

/*
 * r[0..15] transposed in place: r[i] lane j becomes r[j] lane i.  Four
 * rounds of shuffles, each swapping blocks of 1, 2, 4 and 8 floats
 * between pairs of rows.
 */
INLINE AVX512 void
transpose16(__m512 r[16])
{
	__m512 t[16];
	int i;

	for (i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
	}
	for (i = 0; i < 16; i += 4) {
		r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
		r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
		r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
		r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
	}
	for (i = 0; i < 4; i++) {
		t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
		t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
		t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
		t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
	}
	for (i = 0; i < 4; i++) {
		r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
		r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
		r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
		r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
	}
}

#endif
