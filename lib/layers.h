/* See LICENSE file for copyright and license details. */
/*
 * layers: the forward and backward passes of the ViT's layers, as
 * op_forward/op_backward pairs in llm.c's argument order (outputs first,
 * then inputs, then parameters, then sizes).
 *
 * The backward functions WRITE (=) the gradient of their input, which
 * the caller need not clear (a residual branch joins in layernorm's
 * backward pass, dres), and ACCUMULATE (+=) into the gradients of the
 * parameters, which the caller zeroes once per step.  A gradient
 * pointer may be NULL where that gradient is not wanted.
 *
 * Shapes are in the comments: N rows (tokens, = batch x sequence),
 * B batch, T sequence length, C channels, OC output channels, NH heads,
 * K classes.  Weights are PyTorch's nn.Linear layout, (OC, C), so that
 * out = inp w^T + b.
 *
 * Every function runs on the calling thread: the caller (vit.c) spreads
 * the samples of a batch over threads, so a layer sees only its own
 * thread's rows.  The products are gemm.h's: on a CPU with AVX-512 a
 * row's values do not depend on the other rows given, so the forward
 * passes give the same bytes for any number of threads; the parameters'
 * gradients, summed over rows, depend on how the rows were cut.
 *
 * Nothing here allocates (beyond the stack), exits or prints.
 */
#ifndef MIM_LAYERS_H
#define MIM_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The threads of the model: n OpenMP threads, each calling a
 * single-threaded OpenBLAS where it is used.  Without OpenMP, OpenBLAS
 * gets the n threads.  Tools call this rather than omp_set_num_threads:
 * only the training code is compiled with -fopenmp, so _OPENMP is not
 * defined in a tool.
 *
 * It also makes every one of those threads flush subnormal floats
 * (below 1.2e-38) to zero, on x86-64 (MXCSR's FTZ and DAZ): a network
 * whose softmax or GELU underflows would otherwise run every product
 * touching them through the CPU's microcode assist, three times slower
 * (seen with mim-train at a base learning rate of 1e-2), for values
 * that change no result at float precision.
 */
void layers_threads(int n);

/*
 * linear: out (N,OC) = inp (N,C) w^T (OC,C) + b (OC) + res (N,OC): a
 * residual connection in the same pass.  b and res may be NULL; res
 * may be out itself.  wp, if not NULL, is w as linear_pack(wp, w, C,
 * OC, 0) left it, for a caller that computes many slabs of rows with
 * the same w: the same bytes, without copying w for each.
 */
void linear_forward(float *out, const float *inp, const float *w,
                    const float *wp, const float *b, const float *res, int N,
                    int C, int OC);
/* linear_forward without res, then gelu_forward(out, grad, out, N OC),
 * each block of out while it is in the cache: the same bytes */
void linear_gelu_forward(float *out, float *grad, const float *inp,
                         const float *w, const float *wp, const float *b,
                         int N, int C, int OC);
/*
 * dinp (N,C) = dout w, then, if dact is not NULL, gelu_backward(dinp,
 * dact, dinp, N C) (dact the derivatives gelu_forward left for inp),
 * each block while it is in the cache; dw (OC,C) = dout^T inp and db
 * (OC) = sum dout, or, acc 1, added to them (the same bytes as acc 1 on
 * zeros); wp NULL or w packed by linear_pack(wp, w, C, OC, 1)
 */
void linear_backward(float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, const float *wp,
                     const float *dact, int N, int C, int OC, int acc);
/* w (OC,C) packed for the products of the forward pass (backward 0) or
 * of the backward pass into wp, of linear_packsize(C, OC) floats */
size_t linear_packsize(int C, int OC);
void linear_pack(float *wp, const float *w, int C, int OC, int backward);
/* rows [r0, r1) of w only, for the forward pass (r0 a multiple of
 * LINEAR_PACK_ROWS, r1 one or OC): w packed in parts of rows, each row
 * once, is linear_pack(wp, w, C, OC, 0)'s bytes */
enum { LINEAR_PACK_ROWS = 32 };
void linear_pack_rows(float *wp, const float *w, int C, int OC, int r0,
                      int r1);

/*
 * layernorm over the last dim with eps (nn.LayerNorm's default is
 * 1e-5): out (N,C), mean (N) and rstd (N) kept for the backward pass.
 */
void layernorm_forward(float *out, float *mean, float *rstd,
                       const float *inp, const float *w, const float *b,
                       int N, int C, float eps);
/* dinp (N,C) = dres + the gradient of inp: a residual branch's gradient
 * joins in the same pass (dres (N,C) may not be dinp; NULL for none);
 * dw (C) and db (C) theirs, or, acc 1, added to them (as
 * linear_backward) */
void layernorm_backward(float *dinp, const float *dres, float *dw, float *db,
                        const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int N, int C,
                        int acc);

/*
 * multi-head self-attention without a mask: qkv (B,T,3C) holds q, k, v
 * side by side (as timm's qkv linear), each split into NH heads of
 * C/NH channels; att (B,NH,T,T) keeps the softmax probabilities for the
 * backward pass; out (B,T,C) the heads side by side again.  Scale
 * 1/sqrt(C/NH).  datt (B,NH,T,T) is scratch for the backward pass.
 */
void attention_forward(float *out, float *att, const float *qkv, int B,
                       int T, int C, int NH);
/* dqkv (B,T,3C) = the gradient of qkv */
void attention_backward(float *dqkv, float *datt, const float *dout,
                        const float *qkv, const float *att, int B, int T,
                        int C, int NH);

/*
 * exact GELU, x Phi(x) (nn.GELU's default): out (N) of inp (N), which
 * may be the same array; grad (N), for the backward pass, the
 * derivative Phi(x) + x phi(x) (NULL when there is no backward pass).
 * dinp (N) = the gradient of inp, grad dout (dinp may be dout).
 */
void gelu_forward(float *out, float *grad, const float *inp, size_t N);
void gelu_backward(float *dinp, const float *grad, const float *dout,
                   size_t N);

/*
 * The losses, row by row so that threads can share the rows, then
 * summed in row order (loss_mean): the same loss for any number of
 * threads.  mask (N) is 1 on the rows that count; count, the number of
 * such rows in the whole batch, scales the gradients.
 */
double masked_count(const float *mask, int N);
/* sum over rows of loss (N) / count, in row order; 0 if count is 0 */
float loss_mean(const double *loss, double count, int N);

/*
 * Masked mean squared error, MAE's loss: loss (N) of each row with mask
 * 1 (of N rows of P values) is the mean over P of (pred - target)^2, 0
 * for the others.  With normpix the target row is first normalised by
 * its own mean and unbiased variance, (t - mean) / sqrt(var + 1e-6).
 * dpred (N,P) = the gradient of the mean loss times dloss.
 */
void mse_masked_forward(double *loss, const float *pred, const float *target,
                        const float *mask, int N, int P, int normpix);
void mse_masked_backward(float *dpred, const float *pred,
                         const float *target, const float *mask, int N,
                         int P, int normpix, double count, float dloss);

/*
 * Masked softmax cross-entropy with label smoothing eps, as PyTorch's
 * cross_entropy(logits[mask], targets[mask], label_smoothing=eps): loss
 * (N) of each row with mask 1 is (1 - eps)(-log p_y) + eps/K
 * sum_k(-log p_k).  logits (N,K), targets (N) in [0,K), mask (N).
 * probs (N,K) receives the softmax of the masked rows, for the backward
 * pass; dlogits (N,K) = the gradient of the mean loss times dloss.
 */
void xent_masked_forward(double *loss, float *probs, const float *logits,
                         const int32_t *targets, const float *mask, int N,
                         int K, float eps);
void xent_masked_backward(float *dlogits, const float *probs,
                          const int32_t *targets, const float *mask, int N,
                          int K, float eps, double count, float dloss);

#endif
