#!/usr/bin/env python3
"""Time sonotok's token LM architecture in PyTorch on the CPU, next to
`sonotok bench --generate` (generation) and build/tests/lm/bench-lm
(training), for the README's side-by-side numbers.

The model is tests/ref/lm_reference.py's (imported, not copied: the same
parameter table, RMSNorm, rotary turn and forward), in float32 with random
weights of the given sizes:

  generation  KV-cached steps at batch 2 (CFG: a conditioned and an
              unconditioned sequence), each step: the K summed embeddings of
              the last frame, every layer against the cache, the K heads,
              then uncond + 3 (cond - uncond) and a top-250 draw per codebook
              -- the work of one sono_lm_generate step with CFG; after a
              prefill of --prefix positions. Steps/s = frames/s.
  training    forward, cross-entropy over every (position, codebook),
              backward and an AdamW step on --batch x --train-context
              positions; tokens/s = positions per second.

usage: /usr/bin/python3 tests/ref/lm_speed.py [--width 512 --layers 8 --heads 8 --context 1024
           --codebooks 8 --codebook-size 1024] [--threads 2] [--gen-steps 256] [--batch 2
           --train-context 512 --train-steps 2] [--no-train] [--json]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm_reference as R  # noqa: E402

# lm_reference rounds its rotary tables to float32 and computes in float64
# (a numerics fixture); for speed the whole model stays float32
_rope_tables64 = R.rope_tables
R.rope_tables = lambda cfg: tuple(t.float() for t in _rope_tables64(cfg))


def make_params(cfg, seed=1):
    g = torch.Generator().manual_seed(seed)
    P = {}
    for name, shape in R.param_table(cfg, "rope"):
        P[name] = torch.ones(shape) if len(shape) == 1 else 0.02 * torch.randn(shape, generator=g)
    return P


class KVCache:
    """Keys (rotated) and values per layer, [B, NH, T, hs]."""

    def __init__(self, cfg, B, T):
        NH, hs = cfg["n_head"], cfg["C"] // cfg["n_head"]
        self.k = [torch.zeros(B, NH, T, hs) for _ in range(cfg["n_layer"])]
        self.v = [torch.zeros(B, NH, T, hs) for _ in range(cfg["n_layer"])]
        self.n = 0


def step(P, cfg, cache, text, audio):
    """Append positions text [B, n] / audio [B, n, K] (the reference's input
    layout) and return the logits [B, K, Va] of the last one."""
    Bn, n = text.shape
    C, K, NH = cfg["C"], cfg["K"], cfg["n_head"]
    hs = C // NH
    p0 = cache.n
    tok = P["tok_emb.weight"][text.clamp(min=0)]
    aud = sum(P["audio_emb.weight"][k][audio[..., k]] for k in range(K))
    x = torch.where((text >= 0)[..., None], tok, aud)
    cos, sin = R.rope_tables(cfg)
    cos, sin = cos[p0:p0 + n], sin[p0:p0 + n]
    mask = torch.ones(n, p0 + n, dtype=torch.bool).tril(diagonal=p0)
    for l in range(cfg["n_layer"]):
        p = f"blocks.{l}."
        h = R.rms(x, P[p + "ln1.weight"], cfg["norm_eps"])
        qkv = h @ P[p + "attn.qkv.weight"].T
        q, k, v = (z.view(Bn, n, NH, hs).transpose(1, 2) for z in qkv.split(C, -1))
        q, k = R.rope(q, cos, sin), R.rope(k, cos, sin)
        cache.k[l][:, :, p0:p0 + n] = k
        cache.v[l][:, :, p0:p0 + n] = v
        kk, vv = cache.k[l][:, :, :p0 + n], cache.v[l][:, :, :p0 + n]
        att = (q @ kk.transpose(-1, -2)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ vv).transpose(1, 2).reshape(Bn, n, C)
        x = x + y @ P[p + "attn.proj.weight"].T
        h = R.rms(x, P[p + "ln2.weight"], cfg["norm_eps"])
        x = x + F.gelu(h @ P[p + "mlp.fc.weight"].T, approximate="tanh") @ P[p + "mlp.proj.weight"].T
    cache.n += n
    x = R.rms(x[:, -1], P["ln_f.weight"], cfg["norm_eps"])
    Va = cfg["codebook_size"] + 2
    return (x @ P["heads.weight"].reshape(K * Va, C).T).view(Bn, K, Va)


def time_generation(P, cfg, steps, prefix):
    K, cb = cfg["K"], cfg["codebook_size"]
    g = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        cache = KVCache(cfg, 2, prefix + steps + 1)
        text = torch.full((2, prefix), -1, dtype=torch.long)
        text[:, :8] = torch.arange(8)
        audio = torch.randint(0, cb, (2, prefix, K), generator=g)
        t0 = time.perf_counter()
        logits = step(P, cfg, cache, text, audio)
        t_pre = time.perf_counter() - t0
        one = torch.full((2, 1), -1, dtype=torch.long)
        t0 = time.perf_counter()
        for _ in range(steps):
            mix = logits[1] + 3.0 * (logits[0] - logits[1])  # [K, Va]
            top = mix[:, :cb].topk(250, -1)
            pick = torch.multinomial(top.values.softmax(-1), 1, generator=g)
            ids = top.indices.gather(-1, pick).view(1, 1, K).expand(2, 1, K)
            logits = step(P, cfg, cache, one, ids)
        return steps / (time.perf_counter() - t0), t_pre


def time_training(P, cfg, B, T, steps):
    K, Va = cfg["K"], cfg["codebook_size"] + 2
    g = torch.Generator().manual_seed(2)
    text = torch.full((B, T), -1, dtype=torch.long)
    text[:, :8] = torch.arange(8)
    audio = torch.randint(0, cfg["codebook_size"], (B, T, K), generator=g)
    targets = torch.randint(0, Va, (B, T, K), generator=g)
    params = [p.requires_grad_(True) for p in P.values()]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    best = float("inf")
    for i in range(steps + 1):  # the first step warms up
        t0 = time.perf_counter()
        logits = R.forward(P, cfg, "rope", text, audio)
        loss = F.cross_entropy(logits.reshape(-1, Va), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if i > 0:
            best = min(best, dt)
    return B * T / best, best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--codebooks", type=int, default=8)
    ap.add_argument("--codebook-size", type=int, default=1024)
    ap.add_argument("--vtext", type=int, default=272, help="token ids (sono_lm_random's byte tokenizer: 272)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gen-steps", type=int, default=256)
    ap.add_argument("--prefix", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--train-context", type=int, default=512)
    ap.add_argument("--train-steps", type=int, default=2)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = dict(R.CFG, V_text=a.vtext, K=a.codebooks, codebook_size=a.codebook_size, C=a.width, n_layer=a.layers,
               n_head=a.heads, T_max=a.context)
    P = make_params(cfg)
    n_params = sum(p.numel() for p in P.values())
    steps = min(a.gen_steps, a.context - a.prefix - 1)
    gen_fps, t_pre = time_generation(P, cfg, steps, a.prefix)
    train_tps, train_s = (0.0, 0.0) if a.no_train else time_training(P, cfg, a.batch, a.train_context, a.train_steps)
    r = dict(torch=torch.__version__, threads=a.threads, params_m=n_params / 1e6, width=a.width, layers=a.layers,
             heads=a.heads, context=a.context, codebooks=a.codebooks, codebook_size=a.codebook_size,
             gen_steps=steps, gen_frames_per_s_cfg=gen_fps, train_batch=a.batch, train_context=a.train_context,
             train_s_per_step=train_s, train_tokens_per_s=train_tps)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"pytorch {torch.__version__}, {a.threads} threads: {n_params / 1e6:.2f} M parameters (width {a.width}, "
              f"{a.layers} layers, {a.heads} heads, context {a.context}, {a.codebooks} x {a.codebook_size} codes)")
        print(f"generate    CFG, batch 2: {gen_fps:.1f} frames/s ({steps} steps after a prefill of {a.prefix}, "
              f"{t_pre:.3f} s)")
        if not a.no_train:
            print(f"train       batch {a.batch} x {a.train_context}: {train_s:.2f} s/step (forward, backward, AdamW; "
                  f"best of {a.train_steps}): {train_tps:.0f} tokens/s")


if __name__ == "__main__":
    main()
