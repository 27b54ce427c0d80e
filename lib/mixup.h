/* See LICENSE file for copyright and license details. */
/*
 * mixup: the batch augmentations of MAE's fine-tuning recipe (timm's
 * Mixup in its 'batch' mode) and the soft targets they call for.
 *
 * Per batch, with probability prob, one of
 *	mixup   lam ~ Beta(a, a), a = mixup_alpha: image i becomes
 *	        lam x_i + (1 - lam) x_{B-1-i} (the batch flipped)
 *	cutmix  lam ~ Beta(a, a), a = cutmix_alpha: a box of the image, of
 *	        side sqrt(1 - lam) times the image's and a uniform centre,
 *	        clipped to the image, is taken from image B-1-i; lam is then
 *	        1 - (the box's area) / (the image's)
 * (cutmix with probability switch_prob when both alphas are > 0), and
 * the target of image i is lam t(y_i) + (1 - lam) t(y_{B-1-i}), t the
 * label-smoothed one-hot vector: 1 - eps + eps/K on the class, eps/K
 * elsewhere.  Without mixing lam is 1.
 *
 * Patches are (B, L, P) in patchify's order: L = gh x gw patches of
 * p x p pixels of C channels, (row, column, channel) inside a patch.
 * Nothing here allocates, exits or prints.
 */
#ifndef MIM_MIXUP_H
#define MIM_MIXUP_H

#include <stdint.h>

#include "util.h"

struct mixup {
	double mixup_alpha, cutmix_alpha;  /* 0: that kind is off */
	double prob, switch_prob;
	double smoothing;                  /* label smoothing eps */
};

/* what a batch got */
enum { MIX_NONE, MIX_MIXUP, MIX_CUTMIX };

struct mixup_draw {
	int kind;
	double lam;
	int y0, y1, x0, x1;   /* cutmix: the box, rows [y0,y1), columns [x0,x1) */
};

/*
 * Draws a batch's mixing from r, for an H x W image, in timm's order:
 * the mixing probability, the kind, lam, then the box's centre row and
 * column.
 */
void mixup_draw(const struct mixup *, int H, int W, struct rng *r,
                struct mixup_draw *d);
/* applies d to x (B,L,P) in place: p the patch side, C the channels,
 * gw the patches in a row */
void mixup_apply(const struct mixup_draw *d, float *x, int B, int L, int p,
                 int C, int gw);
/* targets t (B,K) for labels y (B) in [0,K) */
void mixup_targets(const struct mixup_draw *d, const int32_t *y, int B,
                   int K, double smoothing, float *t);

/* a Beta(a, b) variate (a, b > 0), from two Gamma variates
 * (Marsaglia and Tsang) */
double beta_sample(struct rng *r, double a, double b);

#endif
