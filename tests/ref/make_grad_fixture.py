#!/usr/bin/env python3
"""Write tests/train/data/NAME_grad.safetensors for NAME in tiny24, tiny48:
whole-model gradients of the reference EnCodec (config and weights from
tests/codec/data/NAME.json and NAME.th) in train mode, for the loss the C
training graph computes:

    L = mean|x_hat - x| + COMMIT_WEIGHT * penalty

x_hat = decoder(quantized)[..., :T], quantized = the reference RVQ's
straight-through output at a fixed bandwidth (n_q fixed), penalty = the
reference's torch.mean of the per-codebook commitment losses. Codebooks are
already initialised in the checkpoint (inited = 1, so no kmeans); the EMA
updates and dead-code expiry the reference does in train mode run after each
codebook has been used, so they do not touch the values or gradients here.
There is no quantizer dropout in the reference's forward. The training graph
has no per-segment normalisation (tiny48's `normalize` is an inference-time
wrapper in EncodecModel.encode), so encoder, quantizer and decoder are called
directly, on one whole crop each.

usage: /usr/bin/python3 tests/ref/make_grad_fixture.py --encodec PATH/TO/encodec-checkout [--out DIR]

Writes: input [B,C,T], loss_l1, loss_commit, loss_total, commit_q [n_q],
codes [n_q,B,F] (int32), and grad.<canonical name> for every parameter."""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encodec_ref as R  # noqa: E402

B, COMMIT_WEIGHT, SEED = 2, 1.0, 7
RUNS = {"tiny24": dict(T=320, bandwidth=24.0),   # hop 8, 6 kbps per codebook: n_q 4
        "tiny48": dict(T=300, bandwidth=19.2)}   # hop 10, 4.8 kbps per codebook: n_q 4


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encodec", required=True, help="path to a facebookresearch/encodec checkout")
    ap.add_argument("--data", default=os.path.join(here, "..", "codec", "data"))
    ap.add_argument("--out", default=os.path.join(here, "..", "train", "data"))
    a = ap.parse_args()
    encodec = R.import_encodec(a.encodec)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    for name, run in RUNS.items():
        write_one(encodec, a.data, a.out, name, run["T"], run["bandwidth"])


def write_one(encodec, data, out, name, T, BANDWIDTH):
    torch.manual_seed(SEED)
    with open(os.path.join(data, name + ".json")) as f:
        cfg = json.load(f)
    model = R.build_model(encodec, cfg)
    model.load_state_dict(torch.load(os.path.join(data, name + ".th")))
    model.train()
    g = np.random.default_rng(SEED)
    x = np.stack([R.test_signal(T, cfg["channels"], SEED + b, cfg["sample_rate"]).numpy() for b in range(B)])
    x = x + 0.05 * g.standard_normal(x.shape).astype(np.float32)
    x = torch.from_numpy(x.astype(np.float32))
    emb = model.encoder(x)
    qr = model.quantizer(emb, model.frame_rate, BANDWIDTH)
    y = model.decoder(qr.quantized)[..., :T]
    l1 = Fn.l1_loss(y, x)
    loss = l1 + COMMIT_WEIGHT * qr.penalty
    model.zero_grad()
    loss.backward()
    n_q = qr.codes.shape[0]
    # per-codebook commitment, recomputed from the codes on the pre-update codebooks
    sd = torch.load(os.path.join(data, name + ".th"))
    res = emb.detach()
    cq = []
    for q in range(n_q):
        E = sd["quantizer.vq.layers.%d._codebook.embed" % q]
        e = E[qr.codes[q]].permute(0, 2, 1)  # [B, D, F]
        cq.append(float(((res - e) ** 2).mean()))
        res = res - e
    t = {"input": x, "loss_l1": torch.tensor([float(l1)]), "loss_commit": torch.tensor([float(qr.penalty)]),
         "loss_total": torch.tensor([float(loss)]), "commit_q": torch.tensor(cq, dtype=torch.float32),
         "codes": qr.codes.to(torch.int32)}
    for pname, p in model.named_parameters():
        t["grad." + pname] = p.grad.detach().clone().float()
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name + "_grad.safetensors")
    R.save_safetensors(path, t, {"B": str(B), "T": str(T), "n_q": str(n_q), "commit_weight": str(COMMIT_WEIGHT),
                                 "bandwidth": str(BANDWIDTH)})
    print("wrote", path, os.path.getsize(path), "bytes; n_q", n_q, "l1 %.6f penalty %.6f" % (float(l1), float(qr.penalty)))


if __name__ == "__main__":
    main()
