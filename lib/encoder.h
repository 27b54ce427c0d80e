/* See LICENSE file for copyright and license details. */
/*
 * encoder: a pretrained ViT encoder for the tools that judge or reuse
 * one (encode, probe, finetune): loading it from a checkpoint of
 * mim-train or finetune (formats/checkpoint.md) or from a timm ViT in a
 * .safetensors file (safetensors.h), checking patches against it, and
 * running it on every patch (no masking).
 *
 * Dimensions: n images, L patches, P patch values, D width.
 * Nothing here exits or prints: functions return -1 with a message.
 */
#ifndef MIM_ENCODER_H
#define MIM_ENCODER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vit.h"

struct tensor;

/*
 * A record of a checkpoint that the loader does not take itself (every
 * record but the model's parameters and enc.pos_embed), and the scalar
 * 'step' (index 0) once v is built: 0 if the callback took it, 1 if it
 * does not know it either (the loader then refuses the checkpoint), -1
 * with msg filled to stop.
 */
typedef int (*encoder_rec_fn)(void *ctx, struct vit *v,
                              const struct tensor *t, uint64_t index,
                              char *msg, size_t msglen);

/*
 * Reads a checkpoint from fp (named name in messages) and builds v with
 * its configuration, but mask ratio 0 (every patch visible) and room for
 * maxB images (maxB 0: the batch_size of the configuration).  The encoder's parameters (enc.*) must all be there with
 * their shapes; the decoder's are loaded if present; enc.pos_embed f32
 * [1+L, D], a learned position embedding (finetune's), replaces the
 * sin-cos one.  Every other record goes to rec; with rec NULL, rng,
 * opt.*, and finetune's head.* and fc_norm.* are skipped and anything
 * else is refused.
 */
int encoder_load_ckpt(struct vit *v, FILE *fp, const char *name, int maxB,
                      encoder_rec_fn rec, void *ctx, char *msg,
                      size_t msglen);

/*
 * 0 if record t (number index of the stream name) is an f32 tensor of
 * p's shape; else -1 and msg names the record and what differs.
 */
int encoder_check_record(const struct tensor *t, const struct vit_tensor *p,
                         const char *name, uint64_t index, char *msg,
                         size_t msglen);

/*
 * Loads path: a timm ViT if its name ends in ".safetensors"
 * (safetensors.h; its layer norms' eps in v->c.lneps), else a
 * checkpoint.  NULL or "-" is stdin, a checkpoint.
 */
int encoder_load(struct vit *v, const char *path, int maxB, char *msg,
                 size_t msglen);

/*
 * 0 if x, u8 or f32 patches (n, L, P) with the patch_size, channels and
 * grid meta where given, fit the encoder of v; else -1 and msg says what
 * differs from what the checkpoint was trained on.
 */
int encoder_check_patches(const struct vit *v, const struct tensor *x,
                          char *msg, size_t msglen);

/*
 * Runs the encoder (vit_encode) on n images, maxB at a time: x (n,L,P);
 * any output may be NULL.  feat (n,L,D) the final norm's output for
 * every patch, pooled (n,D) its mean over the L patches, cls (n,D) the
 * CLS row.
 */
void encoder_run(struct vit *v, const float *x, size_t n, float *feat,
                 float *pooled, float *cls);

#endif
