/* See LICENSE file for copyright and license details. */
/*
 * simd: how the vector loops of the training code are compiled.
 *
 * A loop written for the vectoriser (no reduction it must reorder, no
 * libm call) goes in a function of its own marked KERNEL: with GCC or
 * Clang on x86-64 the function is built three times, for x86-64-v4
 * (AVX-512), x86-64-v3 (AVX2, FMA) and the baseline, and the loader
 * picks one for the machine it runs on.  The choice depends only on the
 * CPU, so a given machine always computes the same bytes.  An OpenMP
 * body cannot be cloned itself: it calls such a kernel.
 *
 * The files that use these are compiled with -O3 -fno-math-errno
 * (sqrtf vectorises) and in ISO C mode, so no a * b + c is contracted
 * into an FMA behind the code's back: where a kernel wants an FMA it
 * says so.
 */
#ifndef MIM_SIMD_H
#define MIM_SIMD_H

#include <string.h>

#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define KERNEL __attribute__((target_clones("arch=x86-64-v4", \
                                            "arch=x86-64-v3", "default")))
#endif
#endif
#ifndef KERNEL
#define KERNEL
#endif

/*
 * SIMD before an inner loop of a kernel: its iterations are independent
 * (the compiler cannot always prove it through the pointers); it allows
 * no reordering of a sum.
 */
#ifdef _OPENMP
#define SIMD _Pragma("omp simd")
#else
#define SIMD
#endif

/* for what the kernels call: a separate copy would lose their target */
#ifdef __GNUC__
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/*
 * vf16: 16 floats as one value (the GCC and Clang vector extension), an
 * AVX-512 register in the x86-64-v4 kernel, two AVX or four SSE ones in
 * the others: for a row's reductions, whose lanes the vectoriser will
 * not lay out by itself.  Element-wise + - * on vf16 and a float are
 * those of each lane; VLOAD and VSTORE move 16 floats at any address;
 * hsum adds the lanes as a tree (lane j + lane j + 8, then j + 4, j +
 * 2, j + 1), the same order in every kernel.  Vectors go by pointer,
 * so no function's ABI depends on the target.
 */
typedef float vf16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));

#define VLOAD(v, p) memcpy(&(v), (p), sizeof(vf16))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(vf16))
#ifdef __clang__
#define VSHUF(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define VSHUF(v, ...) __builtin_shuffle(v, (vi16){ __VA_ARGS__ })
#endif

INLINE float
hsum(const vf16 *v)
{
	vf16 s = *v;

	s += VSHUF(s, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
	s += VSHUF(s, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7);
	s += VSHUF(s, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
	s += VSHUF(s, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
	return s[0];
}

#endif
