#!/usr/bin/python3
# See LICENSE file for copyright and license details.
"""ft_parity.py: finetune's training steps against the same in PyTorch.

usage: ft_parity.py dump.tsr

dump.tsr is written by tests/unit/ftdump: a few fine-tuning steps of
finetune's model on one batch.  This script rebuilds, in float64,

- each step's mixup or cutmix from the raw images (timm's Mixup,
  'batch' mode: the batch flipped, the box in image coordinates) and
  its targets (timm's mixup_target with label smoothing), and checks
  them against the C ones;
- MAE's fine-tuning model (models_vit.py: timm blocks with the given
  drop-path scales, global pool with fc_norm or the CLS token after the
  final norm, a linear head), from the C model's initial parameters,
  with the soft-target cross-entropy;
- MAE's optimiser: torch.optim.AdamW over parameter groups built by
  MAE's layer-decay rule (lr_decay.py: cls_token, pos_embed,
  patch_embed layer 0, blocks.i layer i + 1, the rest depth + 1; scale
  decay^(depth + 1 - layer); no weight decay on 1-D tensors and
  pos_embed), applied here to timm's names of our tensors;

and checks the loss of every step, the gradients of the first (relative
L2 error per tensor <= 1e-4) and the parameters after the last (their
change, relative error <= 1e-3).  Prints TAP; exit status 1 on any
mismatch.  Needs python3-torch: without it the script fails.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

import parity
import tsrio

TOL, TOL_STEP = 1e-4, 1e-3


def timm_name(n):
    """our name in timm's VisionTransformer"""
    if n.startswith("enc.blk."):
        return "blocks." + n[len("enc.blk."):]
    if n.startswith("enc."):
        return n[len("enc."):]
    return n


def mae_layer(name, depth):
    """MAE's lr_decay.get_layer_id_for_vit on a timm name"""
    if name in ("cls_token", "pos_embed") or name.startswith("patch_embed"):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return depth + 1


def unpatchify(x, gh, gw, p, c):
    B = x.shape[0]
    return x.reshape(B, gh, gw, p, p, c).transpose(0, 1, 3, 2, 4, 5) \
            .reshape(B, gh * p, gw * p, c)


def patchify(img, gh, gw, p, c):
    B = img.shape[0]
    return img.reshape(B, gh, p, gw, p, c).transpose(0, 1, 3, 2, 4, 5) \
              .reshape(B, gh * gw, p * p * c)


def forward(cfg, p, x, dp):
    B = x.shape[0]
    D, depth, nh = int(cfg["dim"]), int(cfg["depth"]), int(cfg["heads"])
    pos = p["enc.pos_embed"]
    h = F.linear(x, p["enc.patch_embed.weight"],
                 p["enc.patch_embed.bias"]) + pos[1:]
    cls = (p["enc.cls_token"] + pos[0]).expand(B, 1, D)
    h = torch.cat([cls, h], dim=1)
    for i in range(depth):
        h = parity.block(h, p, "enc.blk.%d." % i, nh, dp[i])
    if cfg["pool"] == "mean":
        f = F.layer_norm(h[:, 1:, :].mean(dim=1), (D,), p["fc_norm.weight"],
                         p["fc_norm.bias"], 1e-5)
    else:
        f = F.layer_norm(h, (D,), p["enc.norm.weight"], p["enc.norm.bias"],
                         1e-5)[:, 0]
    return F.linear(f, p["head.weight"], p["head.bias"])


def main(path):
    torch.set_default_dtype(torch.float64)
    recs = tsrio.read(path)
    cfg = recs[0][1]
    arr = {n: a for n, _, a in recs}
    t64 = lambda a: torch.from_numpy(np.array(a, dtype=np.float64))
    names = [n[len("init."):] for n, _, _ in recs if n.startswith("init.")]
    p = {n: t64(arr["init." + n]).requires_grad_() for n in names}
    depth, K = int(cfg["depth"]), int(cfg["classes"])
    gh, gw = map(int, cfg["grid"].split("x"))
    ps, ch = int(cfg["patch_size"]), int(cfg["channels"])
    eps, decay = float(cfg["smoothing"]), float(cfg["layer_decay"])
    wd = float(cfg["weight_decay"])
    groups = {}
    for n in names:
        tn = timm_name(n)
        scale = decay ** (depth + 1 - mae_layer(tn, depth))
        nodecay = p[n].dim() == 1 or tn in ("pos_embed", "cls_token")
        key = (scale, 0.0 if nodecay else wd)
        groups.setdefault(key, []).append(p[n])
    opt = torch.optim.AdamW([{"params": v, "lr_scale": k[0],
                              "weight_decay": k[1]}
                             for k, v in groups.items()],
                            betas=(0.9, 0.999), eps=1e-8)
    raw = arr["patches"].astype(np.float64)
    y = arr["labels"].astype(np.int64)
    B = raw.shape[0]
    n, bad = 0, 0
    what = "pool %s" % cfg["pool"]

    def check(good, msg):
        nonlocal n, bad
        n += 1
        bad += not good
        print("%sok %d - %s: %s" % ("" if good else "not ", n, what, msg))

    for t in range(int(cfg["steps"])):
        kind, lam, y0, y1, x0, x1 = arr["step.%d.mix" % t]
        y0, y1, x0, x1 = int(y0), int(y1), int(x0), int(x1)
        # timm's Mixup, batch mode, on the images
        img = unpatchify(raw, gh, gw, ps, ch)
        ref = img.copy()
        if kind == 1:
            ref = lam * img + (1 - lam) * img[::-1]
        elif kind == 2:
            ref[:, y0:y1, x0:x1] = img[::-1][:, y0:y1, x0:x1]
            H, W = gh * ps, gw * ps
            check(abs(lam - (1 - (y1 - y0) * (x1 - x0) / (H * W))) < 1e-12,
                  "step %d: cutmix lam = 1 - box / image" % t)
        xm = arr["step.%d.patches" % t]
        err = np.abs(patchify(ref, gh, gw, ps, ch) - xm).max()
        check(err < 1e-6, "step %d: %s of the images (max err %.1e)" %
              (t, ["no mixing", "mixup", "cutmix"][int(kind)], err))
        off = eps / K
        oh = np.full((B, K), off)
        oh[np.arange(B), y] = 1 - eps + off
        tref = lam * oh + (1 - lam) * oh[::-1]
        tgt = arr["step.%d.targets" % t]
        err = np.abs(tref - tgt).max()
        check(err < 1e-6, "step %d: smoothed mixed targets (max err %.1e)" %
              (t, err))
        # the step
        dp = t64(arr["step.%d.dpath" % t])
        logits = forward(cfg, p, t64(xm), dp)
        loss = torch.sum(-t64(tgt) * F.log_softmax(logits, dim=-1),
                         dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        cl = float(arr["step.%d.loss" % t])
        rel = abs(cl - loss.item()) / abs(loss.item())
        check(rel <= TOL, "step %d: loss C %.7g torch %.7g (rel %.1e)" %
              (t, cl, loss.item(), rel))
        if t == 0:
            worst, wname = 0.0, ""
            for name in names:
                g = p[name].grad if p[name].grad is not None \
                    else torch.zeros_like(p[name])
                c = t64(arr["grad." + name])
                den = g.norm().item()
                r = (c - g).norm().item() / den if den > 0 else c.norm().item()
                if r > TOL:
                    check(False, "gradient of %s (rel %.1e)" % (name, r))
                if r > worst:
                    worst, wname = r, name
            check(worst <= TOL, "%d gradients of step 0, worst %s rel %.1e" %
                  (len(names), wname, worst))
        lr = float(arr["step.%d.lr" % t])
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_scale"]
        opt.step()
    worst, wname = 0.0, ""
    for name in names:
        d = (p[name].detach() - t64(arr["init." + name])).norm().item()
        c = (t64(arr["final." + name]) - p[name].detach()).norm().item()
        r = c / d if d > 0 else c
        if r > TOL_STEP:
            check(False, "%s after the steps (rel %.1e)" % (name, r))
        if r > worst:
            worst, wname = r, name
    check(worst <= TOL_STEP, "%d parameters after %s AdamW steps with layer "
          "decay %g, worst %s rel %.1e" % (len(names), cfg["steps"], decay,
                                          wname, worst))
    print("1..%d" % n)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
