/* See LICENSE file for copyright and license details. */
/*
 * safetensors: read a .safetensors file (an 8-byte little-endian header
 * length, a JSON header naming each tensor's dtype, shape and byte
 * range, then the data) and load a timm VisionTransformer from it into
 * lib/vit's encoder.
 *
 * timm names (vit_small_patch16_224.dino and the like):
 *	patch_embed.proj.weight [D,C,p,p]  -> enc.patch_embed.weight [D,P],
 *	                                      P in (row, column, channel) order
 *	patch_embed.proj.bias [D], cls_token [1,1,D],
 *	pos_embed [1,1+L,D]                -> the position embedding (learned;
 *	                                      it replaces the sin-cos one)
 *	blocks.I.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.{weight,bias}
 *	norm.weight, norm.bias
 * head.* and fc_norm.* are ignored.  The heads come from the metadata
 * key num_heads, else D/64 (timm's ViT-Ti/S/B/L).  Layer norms of timm
 * use eps 1e-6 (ST_TIMM_EPS), which the model's config carries (lneps).
 *
 * Nothing here exits or prints: functions return -1 with a message.
 */
#ifndef MIM_SAFETENSORS_H
#define MIM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vit.h"

#define ST_TIMM_EPS 1e-6

struct st_tensor {
	char name[256];
	char dtype[8];        /* "F32", "F16", "BF16", ... as in the file */
	int rank;
	uint64_t dims[8];
	uint64_t begin, end;  /* byte range within the data */
};

struct st_file {
	unsigned char *buf;   /* the whole file */
	size_t len;
	size_t data;          /* offset of the data section */
	struct st_tensor *t;
	int n;
	char heads[32];       /* __metadata__ num_heads, or "" */
};

/* reads and checks the whole file (name for messages) */
int st_read(struct st_file *, FILE *fp, const char *name, char *msg,
            size_t msglen);
const struct st_tensor *st_find(const struct st_file *, const char *name);
/* the tensor's elements as f32 (F32, F16 or BF16) */
int st_get_f32(const struct st_file *, const struct st_tensor *, float *out,
               char *msg, size_t msglen);
void st_free(struct st_file *);

/*
 * Builds v (ratio 0, maxB images) from a timm ViT in f: geometry from
 * the shapes (a square grid), every tensor checked by name and shape.
 */
int st_load_timm(struct vit *v, const struct st_file *f, const char *name,
                 int maxB, char *msg, size_t msglen);

#endif
