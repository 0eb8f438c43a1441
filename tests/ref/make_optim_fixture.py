#!/usr/bin/env python3
"""Fixtures for the training helpers, from PyTorch and the reference EnCodec:
 - torch.optim.AdamW over 6 steps (lr, betas, eps, weight decay) and
   torch.nn.utils.clip_grad_norm_;
 - one EMA update of EnCodec's EuclideanCodebook in training mode with dead-code
   replacement off (threshold 0), on a small batch.
usage: /usr/bin/python3 tests/ref/make_optim_fixture.py --encodec CHECKOUT [--out tests/optim/data]
Writes plain text: one "name count v1 v2 ..." line per array."""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encodec_ref as R  # noqa: E402


def line(f, name, t):
    v = t.detach().reshape(-1).tolist()
    f.write("%s %d %s\n" % (name, len(v), " ".join(repr(float(x)) for x in v)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--encodec", required=True)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "optim", "data"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    g = torch.Generator().manual_seed(5)
    with open(os.path.join(a.out, "optim_ref.txt"), "w") as f:
        p = torch.nn.Parameter(torch.randn(37, generator=g))
        line(f, "adamw_p0", p)
        opt = torch.optim.AdamW([p], lr=3e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)
        for s in range(6):
            grad = torch.randn(37, generator=g) * (0.1 + s)
            line(f, "adamw_g%d" % s, grad)
            p.grad = grad.clone()
            opt.step()
            line(f, "adamw_p%d" % (s + 1), p)
        q = torch.nn.Parameter(torch.zeros(50))
        q.grad = torch.randn(50, generator=g) * 3
        line(f, "clip_g", q.grad)
        norm = torch.nn.utils.clip_grad_norm_([q], 1.5)
        line(f, "clip_norm", norm.reshape(1))
        line(f, "clip_out", q.grad)
        # EnCodec EMA codebook, one training step, no dead-code replacement
        encodec = R.import_encodec(a.encodec)
        from encodec.quantization.core_vq import EuclideanCodebook
        cb = EuclideanCodebook(dim=4, codebook_size=6, kmeans_init=False, decay=0.9, epsilon=1e-5,
                               threshold_ema_dead_code=0)
        with torch.no_grad():
            cb.embed.copy_(torch.randn(6, 4, generator=g))
            cb.embed_avg.copy_(cb.embed * 1.5)
            cb.cluster_size.copy_(torch.rand(6, generator=g) + 0.5)
        line(f, "ema_embed0", cb.embed)
        line(f, "ema_avg0", cb.embed_avg)
        line(f, "ema_size0", cb.cluster_size)
        x = torch.randn(20, 4, generator=g)
        line(f, "ema_x", x)
        cb.train()
        _, ind = cb(x)
        line(f, "ema_idx", ind.float())
        line(f, "ema_embed1", cb.embed)
        line(f, "ema_avg1", cb.embed_avg)
        line(f, "ema_size1", cb.cluster_size)
    print("wrote", os.path.join(a.out, "optim_ref.txt"))


if __name__ == "__main__":
    main()
