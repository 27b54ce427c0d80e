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
 * Loops over independent rows are spread over OpenMP threads when the
 * file is compiled with -fopenmp.  No loop reduces across threads, and
 * rows are cut at multiples of LAYERS_ROWS, so the forward passes do not
 * depend on the number of threads.  The weight gradients are cut by
 * their rows, which the Haswell sgemm of OpenBLAS may round differently
 * for a different cut: they are the same for the same thread count.
 *
 * Nothing here allocates, exits or prints.
 */
#ifndef MIM_LAYERS_H
#define MIM_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The threads of the layers: n OpenMP threads, each calling a
 * single-threaded OpenBLAS (the layers cut every product into one slab
 * per thread themselves).  Without OpenMP, OpenBLAS gets the n threads.
 * Tools call this rather than omp_set_num_threads: only the layers are
 * compiled with -fopenmp, so _OPENMP is not defined in a tool.
 */
void layers_threads(int n);

/*
 * Where thread i of nt starts in n rows of a product: a multiple of
 * LAYERS_ROWS (a multiple of the M blocking of OpenBLAS's sgemm kernels:
 * 24 Haswell, 16 SkylakeX), so that a row's result does not depend on
 * the number of threads.  layers_cut(n, nt, nt) is n.
 */
enum { LAYERS_ROWS = 96 };
long layers_cut(long n, int i, int nt);

/* linear: out (N,OC) = inp (N,C) w^T (OC,C) + b (OC); b may be NULL */
void linear_forward(float *out, const float *inp, const float *w,
                    const float *b, int N, int C, int OC);
/* dinp (N,C) = dout w; dw (OC,C) += dout^T inp; db (OC) += sum dout */
void linear_backward(float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, int N, int C, int OC);

/*
 * layernorm over the last dim with eps (nn.LayerNorm's default is
 * 1e-5): out (N,C), mean (N) and rstd (N) kept for the backward pass.
 */
void layernorm_forward(float *out, float *mean, float *rstd,
                       const float *inp, const float *w, const float *b,
                       int N, int C, float eps);
/* dinp (N,C) = dres + the gradient of inp: a residual branch's gradient
 * joins in the same pass (dres (N,C) may not be dinp; NULL for none);
 * dw (C) and db (C) += theirs */
void layernorm_backward(float *dinp, const float *dres, float *dw, float *db,
                        const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int N, int C);

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
 * Slabs of the forward passes: rows [r0, r1) of N (elements [lo, hi) for
 * GELU, samples [b0, b1) for attention), computed by the calling thread
 * alone, for a caller that runs a whole block in one parallel region
 * (vit.c).  linear_forward_slab adds res (N,OC) as well, if not NULL:
 * out = res + b + inp w^T, a residual connection in the same pass.
 */
void linear_forward_slab(float *out, const float *inp, const float *w,
                         const float *b, const float *res, long r0, long r1,
                         int C, int OC);
void layernorm_forward_slab(float *out, float *mean, float *rstd,
                            const float *inp, const float *w, const float *b,
                            long r0, long r1, int C, float eps);
void attention_forward_slab(float *out, float *att, const float *qkv, int b0,
                            int b1, int T, int C, int NH);
void gelu_forward_slab(float *out, const float *inp, size_t lo, size_t hi);

/* exact GELU, x Phi(x) (nn.GELU's default): out (N), inp (N); dinp
 * (N) = the gradient of inp */
void gelu_forward(float *out, const float *inp, size_t N);
void gelu_backward(float *dinp, const float *inp, const float *dout,
                   size_t N);

/*
 * Masked mean squared error, MAE's loss: for rows with mask 1 (of N rows
 * of P values), the mean over P of (pred - target)^2, averaged over
 * those rows.  With normpix the target row is first normalised by its
 * own mean and unbiased variance, (t - mean) / sqrt(var + 1e-6).
 * Returns the loss (0 if no row is masked); dpred (N,P) += its gradient
 * times dloss, if dpred is not NULL.
 */
float mse_masked_forward(const float *pred, const float *target,
                         const float *mask, int N, int P, int normpix);
void mse_masked_backward(float *dpred, const float *pred,
                         const float *target, const float *mask, int N,
                         int P, int normpix, float dloss);

/*
 * Masked softmax cross-entropy with label smoothing eps, as PyTorch's
 * cross_entropy(logits[mask], targets[mask], label_smoothing=eps):
 * per row, (1 - eps)(-log p_y) + eps/K sum_k(-log p_k), averaged over
 * rows with mask 1.  logits (N,K), targets (N) in [0,K), mask (N).
 * probs (N,K) receives the softmax of the masked rows, for the backward
 * pass.  Returns the loss; dlogits (N,K) += its gradient times dloss.
 */
float xent_masked_forward(float *probs, const float *logits,
                          const int32_t *targets, const float *mask, int N,
                          int K, float eps);
void xent_masked_backward(float *dlogits, const float *probs,
                          const int32_t *targets, const float *mask, int N,
                          int K, float eps, float dloss);

#endif
