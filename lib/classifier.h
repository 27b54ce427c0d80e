/* See LICENSE file for copyright and license details. */
/*
 * classifier: a pretrained ViT encoder fine-tuned end to end as an image
 * classifier, MAE's models_vit.py: every patch visible, the encoder's
 * blocks (vit_encode_train, with drop path while training), then
 *
 *	pool mean   fc_norm(the mean of the last block's L patch tokens)
 *	            (MAE's global_pool: the encoder's final norm is unused)
 *	pool cls    the encoder's final norm, its CLS row
 *
 * and a linear head to K logits; the loss is the cross-entropy with soft
 * targets (mixup.h makes them: label smoothing, mixup, cutmix).
 *
 * Parameters: the encoder's, in the vit's block (the decoder's are not
 * used), and the classifier's own, in a second block of the same kind
 * with its own name table:
 *
 *	enc.pos_embed   (1+L, D)  the position embedding, learned from the
 *	                          encoder's (sin-cos, or timm's) on
 *	fc_norm.weight  (D)       pool mean only; ones
 *	fc_norm.bias    (D)       zeros
 *	head.weight     (K, D)    normal, std 2e-5 (MAE)
 *	head.bias       (K)       zeros
 *
 * Layer-wise learning-rate decay (MAE's lr_decay.py): parameter NAME
 * of an encoder of depth blocks gets lr x decay^(depth + 1 - layer),
 * layer 0 for the patch embedding, CLS and the position embedding,
 * i + 1 for block i, depth + 1 for the rest (final norm, fc_norm, head).
 *
 * Shapes: B images, L patches, P patch values, D width, K classes.
 * Nothing here exits or prints: classifier_build returns -1 with a
 * message.
 */
#ifndef MIM_CLASSIFIER_H
#define MIM_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "util.h"
#include "vit.h"

enum { POOL_MEAN, POOL_CLS };

struct classifier {
	struct vit *v;              /* the encoder, ratio 0; not owned */
	int K, pool, maxB, B;
	struct vit_tensor *pt;      /* the classifier's parameters */
	int npt;
	size_t nparams;
	float *params, *grads;
	float *pos, *fcw, *fcb, *hw, *hb;       /* into params (fc_norm */
	float *gpos, *gfcw, *gfcb, *ghw, *ghb;  /* NULL for pool cls) */
	/* activations of the last forward pass, for maxB images */
	float *feat;                /* (B,D) pooled, or CLS after the norm */
	float *fcn, *fcm, *fcr;     /* (B,D), (B), (B) fc_norm */
	float *logits, *probs;      /* (B,K) */
	const float *targets;       /* (B,K) soft targets, or NULL */
	float *dlogits, *dh, *dfeat; /* backward scratch: (B,K), (B,D), (B,D) */
	float loss;
};

/*
 * A classifier of K classes on v (built with mask ratio 0, room for
 * v->maxB images), pool POOL_MEAN or POOL_CLS; the position embedding
 * starts as v's, fc_norm as the identity, the head at zero (see
 * classifier_init).
 */
int classifier_build(struct classifier *, struct vit *v, int K, int pool,
                     char *msg, size_t msglen);
void classifier_free(struct classifier *);
/* MAE's head initialisation, from r */
void classifier_init(struct classifier *, struct rng *r);
/* a parameter of the classifier's own block by name, or NULL */
const struct vit_tensor *classifier_param(const struct classifier *,
                                          const char *name);

/*
 * Drop path: dp (depth, 2, B) the scales of each block's attention and
 * MLP branch per image, drawn from r in that order: block i drops a
 * branch with probability rate i / (depth - 1) (timm's linear rule; 0
 * for one block), else scales it by 1 / (1 - that).
 */
void classifier_droppath(float *dp, int depth, int B, double rate,
                         struct rng *r);

/*
 * x (B,L,P), B <= maxB: the logits into c->logits (B,K).  dp NULL (no
 * drop path: evaluation) or as classifier_droppath's.  With targets
 * (B,K) it returns the mean soft-target cross-entropy (and keeps what
 * classifier_backward needs, targets included), else 0.
 */
float classifier_forward(struct classifier *, const float *x, int B,
                         const float *dp, const float *targets);
/* zero both blocks of gradients */
void classifier_zero_grad(struct classifier *);
/* the gradients of the last forward pass's loss, accumulated into the
 * vit's and the classifier's gradient blocks */
void classifier_backward(struct classifier *);

/* the layer of a parameter (above) and its learning-rate scale */
int classifier_layer(const char *name, int depth);
double classifier_lr_scale(const char *name, int depth, double decay);

/*
 * The optimiser: AdamW (betas 0.9, 0.999, eps 1e-8, PyTorch's defaults
 * and MAE's) over the encoder's parameters and the classifier's, the
 * learning rate of each scaled by its layer's decay, weight decay wd on
 * the weight matrices (MAE: none on biases, norms, CLS and positions).
 * The moments have the layouts of the two blocks: enc.m and enc.v the
 * encoder's span of the vit's block (nenc floats), cls.m and cls.v the
 * classifier's, so that a checkpoint can store them by name.
 */
struct classifier_group;

struct classifier_opt {
	struct adamw enc, cls;
	size_t nenc;
	struct classifier_group *groups;  /* depth + 2 layers */
	int ngroups;
};

int classifier_opt_init(struct classifier_opt *, const struct classifier *,
                        double wd, double decay, char *msg, size_t msglen);
void classifier_opt_free(struct classifier_opt *);
/* the global L2 norm of every trained gradient; with clip > 0 the
 * gradients are scaled to a norm of at most clip (clip_grad_norm_) */
double classifier_clip(const struct classifier_opt *, struct classifier *,
                       double clip);
/* one AdamW step at learning rate lr (before the layer scales) */
void classifier_opt_step(struct classifier_opt *, struct classifier *,
                         float lr);

/*
 * Cross-entropy with soft targets (timm's SoftTargetCrossEntropy): the
 * mean over B rows of sum_k t_k (-log softmax(z)_k).  logits, probs,
 * targets (B,K); probs receives the softmax for the backward pass,
 * which writes (not +=) dlogits (B,K) = dloss / B ((sum t) p - t).
 */
float softxent_forward(float *probs, const float *logits,
                       const float *targets, int B, int K);
void softxent_backward(float *dlogits, const float *probs,
                       const float *targets, int B, int K, float dloss);

#endif
