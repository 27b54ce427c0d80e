#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""timm_vit.py: encode's timm loader against timm's ViT forward in PyTorch.

usage: timm_vit.py make out.safetensors [drop NAME | reshape NAME]
       timm_vit.py patches N out.tsr
       timm_vit.py check model.safetensors encoded.tsr

make writes a small random VisionTransformer in timm's tensor names and
layout (patch 4, 3 channels, 32x32 images: an 8x8 grid; width 32, depth 2,
4 heads in __metadata__ num_heads, MLP ratio 4, learned pos_embed),
as a .safetensors file written here byte by byte (no safetensors
package needed); 'drop' leaves a tensor out, 'reshape' gives it a wrong
shape, for the error tests.  patches writes N random images of that
geometry as a patchify-like stream (two groups of 'patches' f32).

check rebuilds each group's images from encode's 'patches' ((row,
column, channel) order within a patch), runs timm's
VisionTransformer.forward_features in float64 -- Conv2d patch
embedding, class token, pos_embed, pre-norm blocks (LayerNorm eps 1e-6,
exact GELU), final norm -- and compares encode's 'features', 'pooled'
and 'cls': |c - torch| / |torch| <= 1e-4 (L2 norms).  TAP; exit 1 on
any mismatch.  Needs python3-torch: without it, it fails.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

import tsrio

TOL = 1e-4
P, C, IMG, D, DEPTH, HEADS, MLP = 4, 3, 32, 32, 2, 4, 4


def make(path, how=None, which=None):
    rng = np.random.RandomState(7)
    g = IMG // P
    t = {}

    def n(*shape, s=0.1):
        return (rng.randn(*shape) * s).astype(np.float32)

    t["patch_embed.proj.weight"] = n(D, C, P, P, s=0.2)
    t["patch_embed.proj.bias"] = n(D)
    t["cls_token"] = n(1, 1, D, s=0.5)
    t["pos_embed"] = n(1, 1 + g * g, D, s=0.5)
    for i in range(DEPTH):
        b = "blocks.%d." % i
        t[b + "norm1.weight"] = 1 + n(D)
        t[b + "norm1.bias"] = n(D)
        t[b + "attn.qkv.weight"] = n(3 * D, D, s=0.2)
        t[b + "attn.qkv.bias"] = n(3 * D)
        t[b + "attn.proj.weight"] = n(D, D, s=0.2)
        t[b + "attn.proj.bias"] = n(D)
        t[b + "norm2.weight"] = 1 + n(D)
        t[b + "norm2.bias"] = n(D)
        t[b + "mlp.fc1.weight"] = n(MLP * D, D, s=0.2)
        t[b + "mlp.fc1.bias"] = n(MLP * D)
        t[b + "mlp.fc2.weight"] = n(D, MLP * D, s=0.1)
        t[b + "mlp.fc2.bias"] = n(D)
    t["norm.weight"] = 1 + n(D)
    t["norm.bias"] = n(D)
    t["head.weight"] = n(10, D)
    t["head.bias"] = n(10)
    if how == "drop":
        del t[which]
    elif how == "reshape":
        t[which] = np.concatenate([t[which], t[which][:1]])
    header = {"__metadata__": {"format": "pt", "num_heads": str(HEADS)}}
    data = b""
    for k in sorted(t):
        a = np.ascontiguousarray(t[k])
        header[k] = {"dtype": "F32", "shape": list(a.shape),
                     "data_offsets": [len(data), len(data) + a.nbytes]}
        data += a.tobytes()
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def patches(n, path):
    rng = np.random.RandomState(8)
    g = IMG // P
    x = rng.rand(n, g * g, P * P * C).astype(np.float32)
    h = n // 2
    with open(path, "wb") as f:
        for b, (lo, hi) in enumerate([(0, h), (h, n)]):
            f.write(tsrio.record("patches", x[lo:hi], {
                "batch": b, "dims": "n,l,d", "patch_size": P,
                "grid": "%dx%d" % (g, g), "channels": C}))
        f.write(tsrio.end(2))


def load(path):
    with open(path, "rb") as f:
        b = f.read()
    n, = struct.unpack_from("<Q", b)
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    out = {}
    for k, v in h.items():
        s, e = v["data_offsets"]
        out[k] = torch.tensor(np.frombuffer(b[8 + n + s:8 + n + e], np.float32)
                              .reshape(v["shape"]).astype(np.float64))
    return out, int(meta.get("num_heads", D // 64))


# timm's vision_transformer.Block (no layer scale, no drop path)
def block(x, p, pre, nh):
    B, T, Cc = x.shape
    h = F.layer_norm(x, (Cc,), p[pre + "norm1.weight"], p[pre + "norm1.bias"],
                     1e-6)
    qkv = F.linear(h, p[pre + "attn.qkv.weight"], p[pre + "attn.qkv.bias"])
    qkv = qkv.reshape(B, T, 3, nh, Cc // nh).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = ((q * (Cc // nh) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, Cc)
    x = x + F.linear(y, p[pre + "attn.proj.weight"], p[pre + "attn.proj.bias"])
    h = F.layer_norm(x, (Cc,), p[pre + "norm2.weight"], p[pre + "norm2.bias"],
                     1e-6)
    h = F.gelu(F.linear(h, p[pre + "mlp.fc1.weight"], p[pre + "mlp.fc1.bias"]))
    return x + F.linear(h, p[pre + "mlp.fc2.weight"], p[pre + "mlp.fc2.bias"])


def forward_features(p, nh, img):
    x = F.conv2d(img, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"],
                 stride=p["patch_embed.proj.weight"].shape[-1])
    x = x.flatten(2).transpose(1, 2)
    cls = p["cls_token"].expand(x.shape[0], -1, -1)
    x = torch.cat([cls, x], 1) + p["pos_embed"]
    depth = len([k for k in p if k.endswith(".norm1.weight")])
    for i in range(depth):
        x = block(x, p, "blocks.%d." % i, nh)
    w = p["norm.weight"]
    return F.layer_norm(x, (w.shape[0],), w, p["norm.bias"], 1e-6)


def images(patches, meta):
    n, L, _ = patches.shape
    p, ch = int(meta["patch_size"]), int(meta["channels"])
    gh, gw = map(int, meta["grid"].split("x"))
    x = patches.reshape(n, gh, gw, p, p, ch).transpose(0, 5, 1, 3, 2, 4)
    return torch.tensor(x.reshape(n, ch, gh * p, gw * p).astype(np.float64))


def check(model, enc):
    p, nh = load(model)
    recs = tsrio.read(enc)
    n = bad = 0
    for i, (name, meta, a) in enumerate(recs):
        if name != "patches":
            continue
        out = {}
        for r in recs[i + 1:]:
            if r[0] == "patches":
                break
            out[r[0]] = r[2]
        h = forward_features(p, nh, images(a, meta))
        ref = {"features": h[:, 1:], "pooled": h[:, 1:].mean(1),
               "cls": h[:, 0]}
        for k, t in ref.items():
            if k not in out:
                continue
            t = t.numpy()
            err = np.linalg.norm(out[k] - t) / np.linalg.norm(t)
            n += 1
            ok = err <= TOL
            bad += not ok
            print("%sok %d - %s batch %s: rel err %.2e" %
                  ("" if ok else "not ", n, k, meta.get("batch"), err))
    print("1..%d" % n)
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2], *sys.argv[3:5])
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "patches":
        patches(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    sys.exit(__doc__)
