/* See LICENSE file for copyright and license details. */
/*
 * optim: AdamW over flat float arrays, the MAE learning-rate schedule
 * and gradient clipping.
 *
 * AdamW is PyTorch's torch.optim.AdamW: with t the step (from 1),
 *	m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
 *	p = p (1 - lr wd) - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * The moments m and v have the layout of the parameters, so a
 * checkpoint saves them under the parameters' names (opt.m.NAME,
 * opt.v.NAME) with the step t, and a resume is exact.
 * Nothing here exits or prints.
 */
#ifndef MIM_OPTIM_H
#define MIM_OPTIM_H

#include <stddef.h>

struct adamw {
	float *m, *v;   /* (n) moments */
	size_t n;
	float b1, b2, eps;
	long t;         /* updates done */
};

/* allocates zero moments; -1 if out of memory */
int adamw_init(struct adamw *, size_t n, float b1, float b2, float eps);
void adamw_free(struct adamw *);
/* t += 1: call once per step, before the adamw_update calls */
void adamw_tick(struct adamw *);
/* one tensor of a flat layout: at offset off, n elements, weight decay;
 * for adamw_update_norm, a layer's weight of rows x cols (n = rows cols)
 * to pack for the forward pass as it is updated, into pack (NULL: not
 * one) */
struct adamw_part {
	size_t off, n;
	float wd;
	float *pack;
	int rows, cols;
};

/*
 * Updates the parameters p and moments of each of the nparts parts with
 * the gradient g (both in the flat layout), learning rate lr and the
 * part's weight decay, in one parallel pass: a model has hundreds of
 * small tensors, and a parallel loop for each would cost more than its
 * update.  Each element on its own: any number of threads gives the
 * same result.
 */
void adamw_update_parts(struct adamw *, float *p, const float *g,
                        const struct adamw_part *parts, int nparts,
                        float lr);

/*
 * adamw_update_parts and grad_norm(g, n) in one pass over g, which
 * returns the norm: chunk after chunk of grad_norm's, the chunk's sum of
 * squares and then the updates of the parts' elements in it, while it
 * is in the cache.  The parts in order of their offsets, not
 * overlapping, inside [0, n).  The same results as the two calls; and
 * each part with a pack, LINEAR_PACK_ROWS rows at a time as soon as
 * they are updated, packed as linear_pack(pack, p + off, cols, rows, 0)
 * would pack it then.
 */
double adamw_update_norm(struct adamw *, float *p, const float *g, size_t n,
                         const struct adamw_part *parts, int nparts,
                         float lr);

/*
 * MAE's schedule for step s (from 0) of total: linear warmup from 0 to
 * peak over warmup steps, then a half-cycle cosine down to lrmin.
 */
float lr_schedule(long s, long total, long warmup, float peak, float lrmin);

/* the global L2 norm of g (n), in double, in a fixed order (the same
 * for any number of threads) */
double grad_norm(const float *g, size_t n);
/* scale g so its norm is at most maxnorm (as clip_grad_norm_); returns
 * the norm before clipping */
double grad_clip(float *g, size_t n, double maxnorm);

#endif
