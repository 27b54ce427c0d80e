#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""encode_torch.py: the peer of the encode-vs-torch benchmark.

usage: encode_torch.py patches.tsr batch threads

The forward pass of encode(1) -e pooled in PyTorch 1.13 float32 under
torch.no_grad(), torch.set_num_threads(threads): mim-train's tiny
encoder (128 wide, 4 blocks, 4 heads, MLP ratio 4; the block code of
tests/parity/parity.py, as bench/mae_torch.py uses), no masking (every
patch visible, plus the CLS token), final LayerNorm, the mean over the
patch tokens; on every image of patches.tsr, `batch' images at a time.
The weights are random (the time does not depend on them).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "parity"))
import parity  # noqa: E402
import tsrio  # noqa: E402


def main(path, batch, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = np.concatenate([a for n, _, a in tsrio.read(path) if n == "patches"])
    x = torch.from_numpy(x.astype(np.float32))
    N, L, P = x.shape
    D, depth, heads = 128, 4, 4
    g = int(round(L ** .5))
    p = parity.init_params(P, D, depth)
    pos = torch.from_numpy(parity.sincos_2d(D, g, g)).float()
    s = 0.0
    with torch.no_grad():
        for b0 in range(0, N, batch):
            xb = x[b0:b0 + batch]
            B = xb.shape[0]
            h = F.linear(xb, p["enc.patch_embed.weight"],
                         p["enc.patch_embed.bias"]) + pos[1:]
            cls = (p["enc.cls_token"] + pos[0]).expand(B, 1, D)
            h = torch.cat([cls, h], dim=1)
            for i in range(depth):
                h = parity.block(h, p, "enc.blk.%d." % i, heads)
            h = F.layer_norm(h, (D,), p["enc.norm.weight"], p["enc.norm.bias"],
                             1e-5)
            pooled = h[:, 1:, :].mean(dim=1)
            s += float(pooled.sum())
    return 0 if np.isfinite(s) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
