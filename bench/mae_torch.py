#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""mae_torch.py: the peer of the mim-train benchmark.

usage: mae_torch.py patches.tsr steps batch threads

Trains mim-train's tiny model (MAE: encoder 128/4/4, decoder 64/2/4,
MLP ratio 4, mask ratio 0.75, pixel target) in PyTorch float32 for the
given steps on the first batch of images of patches.tsr, with AdamW,
torch.set_num_threads(threads).  The model code is the parity test's
(tests/parity/parity.py), so both sides run the same computation.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "parity"))
import parity  # noqa: E402
import tsrio  # noqa: E402


def main(path, steps, batch, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = np.concatenate([a for n, _, a in tsrio.read(path) if n == "patches"])
    x = torch.from_numpy(x[:batch].astype(np.float32))
    B, L, P = x.shape
    D, E = 128, 64
    cfg = {"grid": "%dx%d" % (int(L ** .5), int(L ** .5)), "dim": str(D),
           "dec_dim": str(E), "depth": "4", "heads": "4", "dec_depth": "2",
           "dec_heads": "4", "mask_ratio": "0.75", "target": "pixel",
           "norm_pix": "0", "smoothing": "0"}
    p = parity.init_params(P, D, 4, E, 2, P)
    for t in p.values():
        t.requires_grad_()
    opt = torch.optim.AdamW(p.values(), lr=1.5e-4 * B / 256,
                            betas=(0.9, 0.95), weight_decay=0.05)
    for _ in range(steps):
        loss = parity.forward(cfg, p, x, torch.rand(B, L), None)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return 0 if np.isfinite(loss.item()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                  int(sys.argv[4])))
