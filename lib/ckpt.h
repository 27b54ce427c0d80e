/* See LICENSE file for copyright and license details. */
/*
 * ckpt: writing the checkpoints of mim-train and finetune
 * (formats/checkpoint.md), which lib/encoder.h reads as models: the
 * scalar 'step' with the configuration in its meta, 'rng', then tensors
 * by their names in a table (vit.h's struct vit_tensor).
 *
 * Nothing here exits or prints: functions return -1 with a message.
 */
#ifndef MIM_CKPT_H
#define MIM_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"
#include "vit.h"

/*
 * The model's keys in the meta of t, in checkpoint.md's order: target,
 * patch_size, grid, channels, k, dim, depth, heads, dec_dim, dec_depth,
 * dec_heads, mlp_ratio, norm_pix.  -1 if the meta is full.
 */
int ckpt_model_meta(struct tensor *t, const struct vit_config *c);

/*
 * The first two records: 'step' (i64 scalar), its meta written by
 * meta(ctx, t), and 'rng' (u64 [1], the generator's state) with meta
 * stream=stream.
 */
int ckpt_write_start(struct tsr_writer *w, int64_t step,
                     void (*meta)(void *ctx, struct tensor *t), void *ctx,
                     uint64_t rng, const char *stream, char *msg,
                     size_t msglen);

/*
 * The n tensors of table tab from base (each at its offset), named
 * prefix + its name; with only not NULL, those whose names begin with
 * it.
 */
int ckpt_write_table(struct tsr_writer *w, const struct vit_tensor *tab,
                     int n, const float *base, const char *prefix,
                     const char *only, char *msg, size_t msglen);

#endif
