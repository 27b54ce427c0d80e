#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""finetune_torch.py: the peer of the finetune-vs-torch benchmark.

usage: finetune_torch.py patches.tsr steps batch threads

Fine-tunes mim-train's tiny encoder (128 wide, 4 blocks, 4 heads, MLP
ratio 4; every patch visible) as finetune(1) does, in PyTorch float32
with torch.set_num_threads(threads), for the given steps on the first
batch of images of patches.tsr (with their labels): per step a mixup of
the batch with its flip (timm's batch mode) and soft targets smoothed by
0.1, drop path 0.1 (timm's rule: rising linearly over the blocks, per
image and branch), MAE's global pool with fc_norm, a linear head, the
soft-target cross-entropy, and AdamW over MAE's layer-decay parameter
groups (decay 0.75).  The model code is the parity tests'
(tests/parity/parity.py and ft_parity.py), so both sides run the same
computation.  The weights are random (the time does not depend on
them).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "parity"))
import ft_parity  # noqa: E402
import parity  # noqa: E402
import tsrio  # noqa: E402


def main(path, steps, batch, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    recs = tsrio.read(path)
    x = np.concatenate([a for n, _, a in recs if n == "patches"])[:batch]
    y = np.concatenate([a for n, _, a in recs if n == "labels"])[:batch]
    x = torch.from_numpy(x.astype(np.float32))
    y = torch.from_numpy(y.astype(np.int64))
    B, L, P = x.shape
    D, depth, K, rate, eps, decay = 128, 4, 10, 0.1, 0.1, 0.75
    g = int(round(L ** .5))
    cfg = {"dim": str(D), "depth": str(depth), "heads": "4", "pool": "mean"}
    p = parity.init_params(P, D, depth)
    del p["enc.norm.weight"], p["enc.norm.bias"]  # the mean pool has fc_norm
    p["enc.pos_embed"] = torch.from_numpy(parity.sincos_2d(D, g, g)).float()
    p["fc_norm.weight"], p["fc_norm.bias"] = torch.ones(D), torch.zeros(D)
    p["head.weight"] = torch.randn(K, D) * 2e-5
    p["head.bias"] = torch.zeros(K)
    groups = {}
    for n, t in p.items():
        t.requires_grad_()
        tn = ft_parity.timm_name(n)
        scale = decay ** (depth + 1 - ft_parity.mae_layer(tn, depth))
        wd = 0.0 if t.dim() == 1 or tn == "pos_embed" else 0.05
        groups.setdefault((scale, wd), []).append(t)
    lr = 1e-3 * B / 256
    opt = torch.optim.AdamW([{"params": v, "lr": lr * k[0],
                              "weight_decay": k[1]}
                             for k, v in groups.items()],
                            betas=(0.9, 0.999), eps=1e-8)
    onehot = torch.full((B, K), eps / K)
    onehot[torch.arange(B), y] += 1 - eps
    rates = [rate * i / (depth - 1) for i in range(depth)]
    for _ in range(steps):
        lam = float(np.random.beta(0.8, 0.8))
        xm = x * lam + x.flip(0) * (1 - lam)
        tgt = onehot * lam + onehot.flip(0) * (1 - lam)
        dp = torch.stack([(torch.rand(2, B) >= r).float() / (1 - r)
                          for r in rates])
        logits = ft_parity.forward(cfg, p, xm, dp)
        loss = torch.sum(-tgt * torch.log_softmax(logits, dim=-1),
                         dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return 0 if np.isfinite(loss.item()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                  int(sys.argv[4])))
