/* See LICENSE file for copyright and license details. */
/*
 * vit: the MAE encoder/decoder for masked image modeling, with a pixel
 * head (MAE) or a K-way token head (ClusterMIM).
 *
 * Dimension legend:
 *	N (B here) batch      L patches = gh * gw     V visible = L (1 - ratio)
 *	D encoder width       Dd decoder width        H heads
 *	P = p * p * C patch values, (pixel row, pixel column, channel) order
 *	K token classes       O head outputs: P (pixel) or K (tokens)
 *	Te = 1 + V encoder sequence (CLS first), Td = 1 + L decoder sequence
 *
 * Parameters live in one contiguous float block, their gradients in a
 * second block of the same layout, and both are reached through structs
 * of pointers (struct vit_w); a table parallel to the pointers gives each
 * tensor its name (enc.blk.3.attn.qkv.weight ...), shape, offset and
 * whether weight decay applies, so checkpoints are self-describing.
 * Activations (for one batch of at most maxB images) live in a third
 * block, with their own name table.  The fixed sin-cos position
 * embeddings are not parameters: they follow from the config.
 *
 * A step is vit_mask() (draw the per-sample masks), vit_forward()
 * (returns the loss), vit_zero_grad(), vit_backward().  Nothing here
 * exits or prints; vit_build returns -1 with a message.
 */
#ifndef MIM_VIT_H
#define MIM_VIT_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "util.h"

enum { VIT_MAXDEPTH = 48, VIT_PIXEL = 0, VIT_TOKENS = 1 };

struct vit_config {
	int patch, channels, gh, gw; /* geometry: P = patch^2 channels */
	int dim, depth, heads;        /* encoder */
	int ddim, ddepth, dheads;     /* decoder */
	int mlp;                      /* MLP hidden = mlp x width */
	int target;                   /* VIT_PIXEL or VIT_TOKENS */
	int k;                        /* token classes (tokens) */
	int normpix;                  /* per-patch normalised pixel targets */
	float smoothing;              /* label smoothing (tokens) */
	float ratio;                  /* mask ratio */
	float lneps;                  /* layer-norm eps; 0: 1e-5, PyTorch's */
};

/* fills the sizes of a preset (tiny, vit-s, vit-b); -1 if unknown */
int vit_preset(struct vit_config *, const char *name);

/* the weights of one pre-norm transformer block */
struct vit_blockw {
	float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb;
	float *ln2w, *ln2b, *fc1w, *fc1b, *fc2w, *fc2b;
};

/* all parameters (or all gradients): pointers into one block */
struct vit_w {
	float *pew, *peb, *cls;                 /* patch embed, CLS token */
	struct vit_blockw enc[VIT_MAXDEPTH];
	float *enw, *enb;                       /* encoder final norm */
	float *dew, *deb, *masktok;             /* decoder embed, mask token */
	struct vit_blockw dec[VIT_MAXDEPTH];
	float *dnw, *dnb;                       /* decoder final norm */
	float *hw, *hb;                         /* head: (O, Dd), (O) */
};

/* the activations of one block (T tokens of C channels) */
struct vit_blocka {
	float *ln1, *ln1m, *ln1r, *qkv, *att, *atty, *r1;
	float *ln2, *ln2m, *ln2r, *fcd, *fcg;   /* fcd: GELU's derivative */
};

struct vit_a {
	float *xv;                              /* (B,V,P) visible patches */
	float *pe;                              /* (B,V,D) their embedding */
	float *ex[VIT_MAXDEPTH + 1];            /* (B,Te,D) block inputs */
	struct vit_blocka enc[VIT_MAXDEPTH];
	float *eln, *elnm, *elnr;               /* encoder final norm */
	float *demb;                            /* (B,Te,Dd) */
	float *dx[VIT_MAXDEPTH + 1];            /* (B,Td,Dd) block inputs */
	struct vit_blocka dec[VIT_MAXDEPTH];
	float *dln, *dlnm, *dlnr;               /* decoder final norm */
	float *pred;                            /* (B,Td,O) */
	float *probs;                           /* (B,Td,K) tokens only */
	float *tgt;                             /* (B,Td,P) pixel targets */
	float *lmask;                           /* (B,Td) 1 on masked rows */
	/* scratch for the backward pass */
	float *g0, *g1;                         /* (B,T,C) ping-pong */
	float *gpred, *gdemb, *gpe;
};

/* one entry of a name table */
struct vit_tensor {
	char name[64];
	int rank;
	int dims[4];
	size_t off, n;   /* in floats, within the block */
	int decay;       /* parameters: weight decay applies */
	size_t member;   /* byte offset of its pointer in struct vit_w/_a */
	size_t pack;     /* a weight: offset of its packed copy (wpack) */
};

struct vit {
	struct vit_config c;
	int L, V, P, O, maxB, B;
	struct vit_tensor *pt, *at;  /* name tables: parameters, activations */
	int npt, nat;
	size_t nparams, nacts;
	float *params, *grads, *acts;
	struct vit_w w, g;
	float *wpack;                /* the weights packed for a pass */
	size_t npack;
	struct vit_w wp;             /* in wpack, the weights (rank 2) only */
	struct vit_a a;
	float *pos, *dpos;           /* (1+L, D), (1+L, Dd) fixed */
	float *noise;                /* (B,L) the last masking noise */
	int *keep;                   /* (B,V) visible patches, MAE order */
	int *restore;                /* (B,L) rank of each patch */
	int32_t *tok;                /* (B,Td) token targets */
	double *rowloss;             /* (B,Td) the loss of each row */
	double count;                /* rows the loss averages over */
	float loss;
	/* NULL, or drop-path scales (depth, 2, B) for vit_encode_train
	 * and vit_encode_backward: block i's attention and MLP branches of
	 * sample b are scaled by dpath[(2i + 0 or 1) B + b], 0 or 1/keep */
	const float *dpath;
	/* the threads (layers_threads at vit_build), and theirs: */
	int nthr;
	size_t nwork, nslab;         /* floats each */
	float *work;                 /* (nthr, nwork) backward scratch */
	float *slab;                 /* (nthr, 2, nslab) gradients */
	int gzero;                   /* vit_zero_grad since vit_backward */
	int packed;                  /* vit_packed since the last pass */
};

int vit_build(struct vit *, const struct vit_config *, int maxB, char *msg,
              size_t msglen);
/*
 * The scratch of nthr threads (vit_build makes it for the threads of
 * layers_threads); a pass uses at most nthr threads.  -1 if out of
 * memory (the model is then unusable until a call succeeds).
 */
int vit_threads(struct vit *, int nthr);
void vit_free(struct vit *);
/* MAE's initialisation, from (seed, stream 1) */
void vit_init(struct vit *, uint64_t seed);
/* MAE's fixed 2-D sin-cos embedding: out (1+gh*gw, d), row 0 zeros */
void vit_sincos(float *out, int d, int gh, int gw);

/*
 * Per-sample random masking, MAE's scheme: noise uniform in [0,1) per
 * patch; the V patches of least noise are visible (ties to the lower
 * index), in order of increasing noise.  With noise NULL it is drawn from
 * rng, else taken from noise (B,L).
 */
void vit_mask(struct vit *, int B, struct rng *rng, const float *noise);
/* patches (B,L,P); tokens (B,L) in [0,K) for the token target */
float vit_forward(struct vit *, const float *patches, const int32_t *tokens);
/* the gradients are zero for the next vit_backward, which writes them
 * instead of adding to them (v->grads keeps its old values till then) */
void vit_zero_grad(struct vit *);
/* v->grads += the gradients of the last vit_forward's loss */
void vit_backward(struct vit *);
/*
 * The encoder alone, every patch visible in order (no masking): for a
 * model built with ratio 0 (V == L), patches (B,L,P) with B <= maxB
 * give a.eln (B,1+L,D), the final norm's output, CLS row first; the
 * same values as vit_forward's encoder with the identity mask.  -1 if
 * V != L or B is out of range.
 */
int vit_encode(struct vit *, const float *patches, int B);
/*
 * vit_encode for training it (finetune): the same output, keeping every
 * activation (a.ex[0..depth] (B,1+L,D), the blocks') for
 * vit_encode_backward, with drop path v->dpath.
 */
int vit_encode_train(struct vit *, const float *patches, int B);
/*
 * The backward pass of the last vit_encode_train: the caller writes the
 * gradient of the loss into a.g0 (B,1+L,D), at the final norm's output
 * a.eln if norm, else at the last block's output a.ex[depth] (the final
 * norm unused: its gradient is zero).  The gradients of the encoder's
 * parameters (enc.*) are added into v->grads as vit_backward adds them
 * (after vit_zero_grad they replace what was there); the decoder's are
 * not the loss's.  The return value is the gradient at the blocks'
 * input a.ex[0] (B,1+L,D), in a.g0 or a.g1 (for a learned position
 * embedding).
 */
float *vit_encode_backward(struct vit *, int norm);
/* a parameter by name, or NULL */
const struct vit_tensor *vit_param(const struct vit *, const char *name);
/*
 * The optimizer's parts of the parameters (v->npt of them, in order):
 * weight decay wd where it applies; with pack, each weight (rank 2)
 * with its forward pass's pack in wpack, for adamw_update_norm to pack
 * as it updates.  After such an update, vit_packed(v) lets the next
 * pass (vit_forward, vit_encode, vit_encode_train) use those packs
 * instead of packing the weights again: the parameters must not change
 * in between.
 */
void vit_adamw_parts(const struct vit *, struct adamw_part *parts, float wd,
                     int pack);
void vit_packed(struct vit *);

#endif
