#!/usr/bin/env python3
"""PyTorch reference of sonotok's token LM (lm/lm_model.h) on a tiny config.

Builds the same architecture (pre-norm RMSNorm, no biases, causal attention
with rotary or learned positions, tanh GELU MLP, K summed audio embeddings
and K heads), fills it with weights made from a fixed seed, runs a fixed
batch in float64 and writes a safetensors fixture that tests/lm/test_lm.c
checks the C code against:

  param.<name>   the weights (float32; the reference computes with exactly these)
  in.text        [B][T] int32, token id or -1 for an audio frame
  in.audio       [B][T][K] int32
  in.targets     [B][T][K] int32, -1 = masked
  out.logits     [B][T][K][V_audio]
  out.loss       [1]
  grad.<name>    d loss / d param for every parameter
  gen.text, gen.audio  a prompt of P positions (one sequence)
  gen.tokens     [8][K] greedy ids: each step feeds its argmax ids back as the next audio frame

Usage: lm_reference.py OUT.safetensors [--pos rope|learned]
Needs only torch (Debian: apt-get install python3-torch). Not used at run time.
"""
import argparse
import json
import math
import struct

import torch
import torch.nn.functional as F

CFG = dict(V_text=11, K=3, codebook_size=13, C=16, n_layer=2, n_head=2, T_max=16,
           rope_theta=10000.0, norm_eps=1e-5)
B, T = 2, 12


def param_table(cfg, pos):
    C, K, Va = cfg["C"], cfg["K"], cfg["codebook_size"] + 2
    t = [("tok_emb.weight", (cfg["V_text"], C)), ("audio_emb.weight", (K, Va, C))]
    if pos == "learned":
        t.append(("pos_emb.weight", (cfg["T_max"], C)))
    for l in range(cfg["n_layer"]):
        p = f"blocks.{l}."
        t += [(p + "ln1.weight", (C,)), (p + "attn.qkv.weight", (3 * C, C)), (p + "attn.proj.weight", (C, C)),
              (p + "ln2.weight", (C,)), (p + "mlp.fc.weight", (4 * C, C)), (p + "mlp.proj.weight", (C, 4 * C))]
    t += [("ln_f.weight", (C,)), ("heads.weight", (K, Va, C))]
    return t


def make_params(cfg, pos, seed):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in param_table(cfg, pos):
        if len(shape) == 1:
            w = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            w = 0.3 * torch.randn(shape, generator=g)
        out[name] = w.float().double().requires_grad_(True)  # float32 values, float64 arithmetic
    return out


def rope_tables(cfg):
    hs = cfg["C"] // cfg["n_head"]
    half = hs // 2
    t = torch.arange(cfg["T_max"], dtype=torch.float64)[:, None]
    i = torch.arange(half, dtype=torch.float64)[None, :]
    ang = t * cfg["rope_theta"] ** (-2.0 * i / hs)
    return torch.cos(ang).float().double(), torch.sin(ang).float().double()  # rounded to float32, as the C tables


def rms(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope(x, cos, sin):  # x [B, NH, T, hs], pairs (2i, 2i+1)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), -1).flatten(-2)


def forward(P, cfg, pos, text, audio):
    Bn, Tn = text.shape
    C, K, NH = cfg["C"], cfg["K"], cfg["n_head"]
    hs, Va = C // NH, cfg["codebook_size"] + 2
    is_text = text >= 0
    tok = P["tok_emb.weight"][text.clamp(min=0)]
    aud = sum(P["audio_emb.weight"][k][audio[..., k]] for k in range(K))
    x = torch.where(is_text[..., None], tok, aud)
    if pos == "learned":
        x = x + P["pos_emb.weight"][:Tn]
    cos, sin = rope_tables(cfg)
    cos, sin = cos[:Tn], sin[:Tn]
    mask = torch.ones(Tn, Tn, dtype=torch.bool).tril()
    for l in range(cfg["n_layer"]):
        p = f"blocks.{l}."
        h = rms(x, P[p + "ln1.weight"], cfg["norm_eps"])
        qkv = h @ P[p + "attn.qkv.weight"].T
        q, k, v = (z.view(Bn, Tn, NH, hs).transpose(1, 2) for z in qkv.split(C, -1))
        if pos == "rope":
            q, k = rope(q, cos, sin), rope(k, cos, sin)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(Bn, Tn, C)
        x = x + y @ P[p + "attn.proj.weight"].T
        h = rms(x, P[p + "ln2.weight"], cfg["norm_eps"])
        h = F.gelu(h @ P[p + "mlp.fc.weight"].T, approximate="tanh")
        x = x + h @ P[p + "mlp.proj.weight"].T
    x = rms(x, P["ln_f.weight"], cfg["norm_eps"])
    return (x @ P["heads.weight"].reshape(K * Va, C).T).view(Bn, Tn, K, Va)


def save_safetensors(path, tensors, meta):
    header, blobs, off = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        arr = arr.detach().contiguous()
        fmt = "<%d%s" % (arr.numel(), "f" if dtype == "F32" else "i")
        data = struct.pack(fmt, *arr.flatten().tolist())
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--pos", choices=["rope", "learned"], default="rope")
    args = ap.parse_args()
    cfg = CFG
    K, Va = cfg["K"], cfg["codebook_size"] + 2
    P = make_params(cfg, args.pos, 1234)
    g = torch.Generator().manual_seed(99)
    text = torch.full((B, T), -1, dtype=torch.int64)
    text[0, :3] = torch.tensor([2, 7, 10])
    text[1, :1] = torch.tensor([5])
    audio = torch.randint(0, Va, (B, T, K), generator=g)
    audio[text >= 0] = 0
    targets = torch.randint(0, Va, (B, T, K), generator=g)
    targets[torch.rand(B, T, K, generator=g) < 0.25] = -1

    logits = forward(P, cfg, args.pos, text, audio)
    loss = F.cross_entropy(logits.reshape(-1, Va), targets.reshape(-1), ignore_index=-1)
    loss.backward()

    # greedy generation from a prompt of 3 tokens and 2 audio frames
    gtext = torch.tensor([[1, 4, 9, -1, -1]])
    gaudio = torch.zeros(1, 5, K, dtype=torch.int64)
    gaudio[0, 3] = torch.tensor([3, 13, 13])[:K]
    gaudio[0, 4] = torch.tensor([8, 1, 13])[:K]
    toks, margin = [], float("inf")
    with torch.no_grad():
        st, sa = gtext.clone(), gaudio.clone()
        for _ in range(8):
            lg = forward(P, cfg, args.pos, st, sa)[0, -1]  # [K][Va]
            top2 = lg.topk(2, -1).values
            margin = min(margin, float((top2[:, 0] - top2[:, 1]).min()))
            nxt = lg.argmax(-1)
            toks.append(nxt)
            st = torch.cat([st, torch.tensor([[-1]])], 1)
            sa = torch.cat([sa, nxt.view(1, 1, K)], 1)
    print(f"loss {loss.item():.6f}, greedy margin {margin:.3g} (smallest top-1 minus top-2 logit)")

    out = {}
    for name, p in P.items():
        out["param." + name] = ("F32", p.float())
    out["in.text"] = ("I32", text.int())
    out["in.audio"] = ("I32", audio.int())
    out["in.targets"] = ("I32", targets.int())
    out["out.logits"] = ("F32", logits.float())
    out["out.loss"] = ("F32", loss.detach().float().view(1))
    for name, p in P.items():
        out["grad." + name] = ("F32", p.grad.float())
    out["gen.text"] = ("I32", gtext[0].int())
    out["gen.audio"] = ("I32", gaudio[0].int())
    out["gen.tokens"] = ("I32", torch.stack(toks).int())
    meta = {k: str(v) for k, v in cfg.items()}
    meta.update(pos=args.pos, B=str(B), T=str(T), margin=f"{margin:.4g}", torch=torch.__version__)
    save_safetensors(args.out, out, meta)


if __name__ == "__main__":
    main()
