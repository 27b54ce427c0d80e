#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""parity.py: mim-train's model against the same model in PyTorch.

usage: parity.py dump.tsr

dump.tsr is written by tests/unit/vitdump (mim-train's model after one
forward and backward pass): the config, the batch, the masking noise,
the loss, every parameter and its gradient.  This script builds MAE's
model in PyTorch (float64) from those parameters -- timm's pre-norm
blocks, MAE's random_masking on the same noise, MAE's 2-D sin-cos
position embeddings computed here from MAE's own formula -- and checks
the loss and every gradient: |c - torch| / |torch| <= 1e-4 (L2 norms
per tensor).  Prints TAP; exit status 1 on any mismatch.  Needs
python3-torch: without it the script fails, it does not skip.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

import tsrio

TOL = 1e-4


# MAE's util/pos_embed.py
def sincos_1d(d, pos):
    omega = np.arange(d // 2, dtype=np.float64) / (d / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(d, gh, gw):
    grid = np.meshgrid(np.arange(gw, dtype=np.float64),
                       np.arange(gh, dtype=np.float64))
    grid = np.stack(grid, axis=0).reshape([2, 1, gh, gw])
    emb = np.concatenate([sincos_1d(d // 2, grid[0]),
                          sincos_1d(d // 2, grid[1])], axis=1)
    return np.concatenate([np.zeros([1, d]), emb], axis=0)


def init_params(P, D, depth, E=0, dec_depth=0, O=0):
    """mim-train's parameters in float32 with MAE's initialisation
    (xavier_uniform weights, zero biases, LayerNorms 1 and 0, CLS and
    mask token normal with deviation 0.02): the encoder of width D and
    depth blocks on patches of P values, and with E a decoder of width
    E, dec_depth blocks and O outputs; for the benchmarks' peers."""
    p = {}

    def lin(n, o, i):
        w = torch.empty(o, i, dtype=torch.float32)
        torch.nn.init.xavier_uniform_(w)
        p[n + ".weight"], p[n + ".bias"] = w, torch.zeros(o)

    def ln(n, d):
        p[n + ".weight"], p[n + ".bias"] = torch.ones(d), torch.zeros(d)

    def blk(pre, d):
        ln(pre + "norm1", d)
        lin(pre + "attn.qkv", 3 * d, d)
        lin(pre + "attn.proj", d, d)
        ln(pre + "norm2", d)
        lin(pre + "mlp.fc1", 4 * d, d)
        lin(pre + "mlp.fc2", d, 4 * d)

    lin("enc.patch_embed", D, P)
    p["enc.cls_token"] = torch.randn(D) * .02
    for i in range(depth):
        blk("enc.blk.%d." % i, D)
    ln("enc.norm", D)
    if E:
        lin("dec.embed", E, D)
        p["dec.mask_token"] = torch.randn(E) * .02
        for i in range(dec_depth):
            blk("dec.blk.%d." % i, E)
        ln("dec.norm", E)
        lin("dec.pred", O, E)
    return p


def block(x, p, pre, nh, dp=None):
    """timm's pre-norm block; dp (2, B): drop path's scales of the
    attention and MLP branches of each sample, or None."""
    B, T, C = x.shape
    s1, s2 = (1, 1) if dp is None else (dp[0].reshape(B, 1, 1),
                                        dp[1].reshape(B, 1, 1))
    hs = C // nh
    h = F.layer_norm(x, (C,), p[pre + "norm1.weight"], p[pre + "norm1.bias"],
                     1e-5)
    qkv = F.linear(h, p[pre + "attn.qkv.weight"], p[pre + "attn.qkv.bias"])
    qkv = qkv.reshape(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = (q @ k.transpose(-2, -1)) * hs ** -0.5
    y = (att.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
    x = x + s1 * F.linear(y, p[pre + "attn.proj.weight"],
                          p[pre + "attn.proj.bias"])
    h = F.layer_norm(x, (C,), p[pre + "norm2.weight"], p[pre + "norm2.bias"],
                     1e-5)
    h = F.gelu(F.linear(h, p[pre + "mlp.fc1.weight"], p[pre + "mlp.fc1.bias"]))
    return x + s2 * F.linear(h, p[pre + "mlp.fc2.weight"],
                             p[pre + "mlp.fc2.bias"])


def forward(cfg, p, x, noise, tokens):
    B, L, P = x.shape
    gh, gw = map(int, cfg["grid"].split("x"))
    D, E = int(cfg["dim"]), int(cfg["dec_dim"])
    pos = torch.from_numpy(sincos_2d(D, gh, gw)).to(x.dtype)
    dpos = torch.from_numpy(sincos_2d(E, gh, gw)).to(x.dtype)
    # encoder: MAE's forward_encoder with random_masking on given noise
    h = F.linear(x, p["enc.patch_embed.weight"], p["enc.patch_embed.bias"])
    h = h + pos[1:]
    V = int(L * (1 - float(cfg["mask_ratio"])))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :V]
    h = torch.gather(h, 1, ids_keep.unsqueeze(-1).repeat(1, 1, D))
    mask = torch.ones(B, L, dtype=x.dtype)
    mask[:, :V] = 0
    mask = torch.gather(mask, 1, ids_restore)
    cls = (p["enc.cls_token"] + pos[0]).expand(B, 1, D)
    h = torch.cat([cls, h], dim=1)
    for i in range(int(cfg["depth"])):
        h = block(h, p, "enc.blk.%d." % i, int(cfg["heads"]))
    h = F.layer_norm(h, (D,), p["enc.norm.weight"], p["enc.norm.bias"], 1e-5)
    # decoder
    h = F.linear(h, p["dec.embed.weight"], p["dec.embed.bias"])
    mt = p["dec.mask_token"].reshape(1, 1, E).repeat(B, L + 1 - h.shape[1], 1)
    h_ = torch.cat([h[:, 1:, :], mt], dim=1)
    h_ = torch.gather(h_, 1, ids_restore.unsqueeze(-1).repeat(1, 1, E))
    h = torch.cat([h[:, :1, :], h_], dim=1) + dpos
    for i in range(int(cfg["dec_depth"])):
        h = block(h, p, "dec.blk.%d." % i, int(cfg["dec_heads"]))
    h = F.layer_norm(h, (E,), p["dec.norm.weight"], p["dec.norm.bias"], 1e-5)
    pred = F.linear(h, p["dec.pred.weight"], p["dec.pred.bias"])[:, 1:, :]
    if cfg["target"] == "tokens":
        m = mask.bool()
        return F.cross_entropy(pred[m], tokens[m].long(),
                               label_smoothing=float(cfg["smoothing"]))
    t = x
    if cfg["norm_pix"] == "1":
        mean = t.mean(dim=-1, keepdim=True)
        var = t.var(dim=-1, keepdim=True)
        t = (t - mean) / (var + 1.0e-6) ** .5
    loss = ((pred - t) ** 2).mean(dim=-1)
    return (loss * mask).sum() / mask.sum()


def main(path):
    torch.set_default_dtype(torch.float64)
    recs = tsrio.read(path)
    cfg = recs[0][1]
    arr = {n: a for n, _, a in recs}
    t64 = lambda a: torch.from_numpy(a.astype(np.float64))
    p = {n: t64(a).requires_grad_() for n, a in arr.items()
         if n.startswith(("enc.", "dec."))}
    x = t64(arr["patches"])
    tokens = torch.from_numpy(arr["tokens"].astype(np.int64)) \
        if "tokens" in arr else None
    loss = forward(cfg, p, x, t64(arr["noise"]), tokens)
    loss.backward()
    n, bad = 0, 0
    what = "%s target%s%s" % (cfg["target"],
                              " norm-pix" if cfg["norm_pix"] == "1" else "",
                              " smoothing " + cfg["smoothing"]
                              if float(cfg["smoothing"]) > 0 else "")
    cl = float(arr["loss"])
    rel = abs(cl - loss.item()) / abs(loss.item())
    n += 1
    bad += rel > TOL
    print("%sok %d - %s: loss C %.7g torch %.7g (rel %.1e)" %
          ("not " if rel > TOL else "", n, what, cl, loss.item(), rel))
    worst, wname = 0.0, ""
    for name, t in p.items():
        g = t.grad if t.grad is not None else torch.zeros_like(t)
        c = t64(arr["grad." + name])
        den = g.norm().item()
        r = (c - g).norm().item() / den if den > 0 else c.norm().item()
        n += 1
        if r > TOL:
            bad += 1
            print("not ok %d - %s: gradient of %s (rel %.1e)" %
                  (n, what, name, r))
        if r > worst:
            worst, wname = r, name
    print("ok %d - %s: %d gradients checked, worst %s rel %.1e" %
          (n + 1, what, len(p), wname, worst))
    print("1..%d" % (n + 1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
