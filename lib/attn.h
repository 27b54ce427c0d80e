/* See LICENSE file for copyright and license details. */
/*
 * attn: the attention of one (sample, head) over a short sequence, in
 * one AVX-512 kernel; layers.c's attention_forward and
 * attention_backward call it where attn_native says it applies (else
 * they compute the same with gemm.h's products and their own softmax).
 *
 * For T tokens, 8 <= T <= 256, and a head of hs channels, a multiple
 * of 16 up to 64, on a CPU with AVX-512 (gemm_native): a row of scores
 * (at most 16 vectors) stays in registers from its product to its
 * softmax, and no product is a gemm call packing small operands.
 *
 * The arithmetic is the other path's, operation for operation: each
 * element of a product a chain of fused multiply-adds over k in order,
 * from zero, as gemm.c's kernel sums; exp as layers.c's exp_fast; the
 * sums as its sum_lanes (16 lanes, the last vector padded with zeros,
 * then added as simd.h's hsum).  Both paths give the same bytes.
 *
 * q, k, v and dq, dk, dv: the head's columns of T rows of stride ld
 * (qkv rows: ld = 3C); out and dout: of rows of stride ldo (C); att and
 * ds: T x T, row-major.  Forward: att = softmax(q k^T scale), out = att
 * v.  Backward, from dout and att: ds = the scores' gradient (scratch,
 * times scale), dq = ds k, dk = ds^T q, dv = att^T dout, written.
 *
 * Nothing here allocates, exits or prints.
 */
#ifndef MIM_ATTN_H
#define MIM_ATTN_H

int attn_native(int T, int hs);
void attn_forward(float *out, long ldo, float *att, const float *q,
                  const float *k, const float *v, long ld, int T, int hs,
                  float scale);
void attn_backward(float *dq, float *dk, float *dv, float *ds,
                   const float *dout, long ldo, const float *q,
                   const float *k, const float *v, long ld, const float *att,
                   int T, int hs, float scale);

/* attn_force(0) turns the kernel off (for the tests), attn_force(-1)
 * restores it */
void attn_force(int on);

#endif
