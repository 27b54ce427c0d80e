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

#endif
