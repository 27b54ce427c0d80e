#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""vit_model.py: sizes and FLOPs of mim-train's MAE (lib/vit.c), and a
synthetic patch stream, for the vit-s-gflops and mim-train-memory
benchmarks.

usage: vit_model.py data OUT N        N random images of 14x14 patches
                                      of 16x16x3 (f32 [N,196,768]),
                                      meta as patchify writes it
       vit_model.py flops PRESET B L P [MASK]
                                      FLOPs of one training step
       vit_model.py memory PRESET B L P [MASK [THREADS]]
                                      bytes of parameters, gradients,
                                      AdamW m and v, activations and
                                      the scratch of THREADS threads
                                      (default 2)

The formulas (bench/README has them too), with V = int(L (1 - MASK))
visible patches (MASK default 0.75), Te = V + 1 encoder tokens (CLS),
Td = L + 1 decoder tokens, width C, T tokens, MLP ratio 4:
  one block, forward: 24 T C^2 (qkv 6, proj 2, fc1 8, fc2 8: 2 per
    multiply-add) + 4 T^2 C (q k^T and att v over all heads)
  forward = 2 V P D (patch embed of the visible patches)
    + depth blocks (T=Te, C=D) + 2 Te D E (decoder embed)
    + dec_depth blocks (T=Td, C=E) + 2 Td E P (pixel head)
  step = 3 x forward (backward = 2 x forward) x B.
LayerNorm, GELU, softmax, the loss and AdamW are left out (a few %).
The activations are lib/vit.c's act_table() for B images, in floats;
the scratch is vit_build's other blocks: the packed weights, each
thread's backward scratch for a chunk of rows and its gradient slabs
(vit_threads), each row's loss.
"""
import sys

import numpy as np

PRESETS = {"tiny": (128, 4, 4, 64, 2, 4), "vit-s": (384, 12, 6, 256, 8, 8),
           "vit-b": (768, 12, 12, 512, 8, 16)}
MLP = 4


def cfg(preset, L, P, mask):
    D, depth, heads, E, ddepth, dheads = PRESETS[preset]
    V = int(L * (1.0 - mask))
    return dict(D=D, depth=depth, heads=heads, E=E, ddepth=ddepth,
                dheads=dheads, L=L, P=P, V=V, Te=V + 1, Td=L + 1)


def params(c):
    D, E, P, h = c["D"], c["E"], c["P"], MLP

    def blk(C):
        return (2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C
                + h * C * C + h * C + h * C * C + C)
    return (D * P + D + D + c["depth"] * blk(D) + 2 * D + E * D + E + E
            + c["ddepth"] * blk(E) + 2 * E + P * E + P)


def block_flops(T, C):
    return 24 * T * C * C + 4 * T * T * C


def flops(c, B):
    D, E, P = c["D"], c["E"], c["P"]
    fwd = (2 * c["V"] * P * D + c["depth"] * block_flops(c["Te"], D)
           + 2 * c["Te"] * D * E + c["ddepth"] * block_flops(c["Td"], E)
           + 2 * c["Td"] * E * P)
    return 3 * fwd * B


def acts(c, B):
    """floats of act_table() (lib/vit.c), pixel target"""
    D, E, P, V, Te, Td = c["D"], c["E"], c["P"], c["V"], c["Te"], c["Td"]

    def blk(T, C, NH):
        h = MLP * C
        return B * (T * C + T + T + T * 3 * C + NH * T * T + T * C + T * C
                    + T * C + T + T + T * h + T * h)
    n = B * V * P + B * V * D + (c["depth"] + 1) * B * Te * D
    n += c["depth"] * blk(Te, D, c["heads"])
    n += B * Te * D + 2 * B * Te + B * Te * E
    n += (c["ddepth"] + 1) * B * Td * E
    n += c["ddepth"] * blk(Td, E, c["dheads"])
    n += B * Td * E + 2 * B * Td + B * Td * P + B * Td * P + B * Td
    if Te * D > Td * E:
        big, bigc = Te, D
    else:
        big, bigc = Td, E
    n += 2 * B * big * bigc
    n += B * Td * P + B * Te * E + B * V * D
    return n


CHUNK = 384  # rows a thread takes at a time (lib/vit.c)


def a16(n):
    return (n + 15) // 16 * 16


def scratch(c, B, threads):
    """floats of vit_build's other blocks (lib/vit.c), pixel target"""
    D, E, P = c["D"], c["E"], c["P"]

    def pad32(n):
        return (n + 31) // 32 * 32

    def packed(OC, C):
        return a16(max(C * pad32(OC), OC * pad32(C)))

    def blkw(C):
        return (packed(3 * C, C) + packed(C, C) + packed(MLP * C, C)
                + packed(C, MLP * C))

    def chunk(T, C, NH):
        ns = max(1, CHUNK // T)
        n = ns * T
        return (a16(n * MLP * C) + 3 * a16(n * C) + a16(n * 3 * C)
                + a16(ns * NH * T * T))

    def blkp(C):
        return (2 * a16(C) + a16(3 * C * C) + a16(3 * C) + a16(C * C)
                + a16(C) + 2 * a16(C) + a16(MLP * C * C) + a16(MLP * C)
                + a16(MLP * C * C) + a16(C))
    pack = (packed(D, P) + c["depth"] * blkw(D) + packed(E, D)
            + c["ddepth"] * blkw(E) + packed(P, E))
    work = max(chunk(c["Te"], D, c["heads"]), chunk(c["Td"], E, c["dheads"]))
    head = 2 * a16(E) + a16(P * E) + a16(P)
    mid = 2 * a16(D) + a16(E * D) + 2 * a16(E)
    emb = a16(D * P) + 2 * a16(D)
    slab = a16(max(head, blkp(E), mid, blkp(D), emb))
    return pack + threads * (work + 2 * slab) + 2 * B * c["Td"]


def main(argv):
    if argv[1] == "data":
        import os
        sys.path.insert(0, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "..", "tests", "parity"))
        import tsrio
        n = int(argv[3])
        x = np.random.default_rng(1).random((n, 196, 768), dtype=np.float32)
        meta = {"batch": 0, "dims": "n,l,d", "patch_size": 16,
                "grid": "14x14", "channels": 3, "image_size": "224x224",
                "norm": "unit", "epoch": 0, "epochs": 1, "images": n}
        with open(argv[2], "wb") as f:
            f.write(tsrio.record("patches", x, meta))
            f.write(tsrio.end(1))
        return 0
    c = cfg(argv[2], int(argv[4]), int(argv[5]),
            float(argv[6]) if len(argv) > 6 else 0.75)
    threads = int(argv[7]) if len(argv) > 7 else 2
    B = int(argv[3])
    if argv[1] == "flops":
        print(flops(c, B))
    elif argv[1] == "memory":
        p = params(c)
        a = acts(c, B)
        w = scratch(c, B, threads)
        print("params=%d acts=%d scratch=%d bytes=%d"
              % (p, a, w, 4 * (4 * p + a + w)))
    else:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
