"""Write tests/train/data/spec_loss.safetensors: the high-resolution
log-spectrum loss of codec/train/spec_loss.h computed with PyTorch in
float64, with its autograd gradient w.r.t. the reconstruction, for
tests/train/test_spec_loss.c. Needs only torch and numpy (Debian's
python3-torch; no torchaudio).

    /usr/bin/python3 tests/ref/make_spec_fixture.py [--out tests/train/data]

Per scale (n_fft = 2^i): reflect padding of (n_fft - hop)/2, zeros up to a
full last frame (audiocraft pad_for_conv1d), torch.stft(center=False,
onesided, return_complex) with a periodic Hann window, divided by
sqrt(sum w^2) (torchaudio's normalized=True), bins 0..K with
K = min(floor(top_hz * n_fft / sr), n_fft / 2), and
  L = (1/S) sum_s mean_{frames, bins <= K} |ln clamp(|X|, 1e-4) - ln clamp(|Y|, 1e-4)|.

Tensors (float32): x, y [2][N] (reference, reconstruction: a gliding
harmonic voice with noise; the reconstruction has smeared harmonics, and
pair 1 a silent stretch, below eps), for two settings a and b:
loss_a [2], grad_a [2][N] (dL/dy), loss_b, grad_b; config [7] = sample_rate,
n_samples, then log2_min, log2_max, top_hz of a, then of b (b's log2 range
is config[5], config[5], top config[6]). Deterministic (seeded)."""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encodec_ref as R  # noqa: E402  (save_safetensors)

SR, N, EPS = 24000, 6000, 1e-4
SET_A = (11, 12, 4000.0)   # the trainer's 2048 and the optional 4096, speech band
SET_B = (10, 10, 20000.0)  # one scale, every bin (top above sr/2)


def spectrum(x, n_fft):
    hop = n_fft // 4
    p = (n_fft - hop) // 2
    xp = Fn.pad(x.view(1, 1, -1), (p, p), mode="reflect").view(-1)
    frames = math.ceil((xp.shape[-1] - n_fft) / hop) + 1
    xp = Fn.pad(xp, (0, (frames - 1) * hop + n_fft - xp.shape[-1]))
    w = torch.hann_window(n_fft, dtype=torch.float64)
    return torch.stft(xp, n_fft, hop, n_fft, window=w, center=False, normalized=False, onesided=True,
                      return_complex=True) / w.pow(2).sum().sqrt()  # [bins][frames]


def loss(x, y, setting):
    lo, hi, top = setting
    total, S = 0, 0
    for i in range(lo, hi + 1):
        n_fft = 1 << i
        if n_fft > N:
            continue
        K = min(int(math.floor(top * n_fft / SR)), n_fft // 2)
        mx, my = spectrum(x, n_fft).abs()[:K + 1], spectrum(y, n_fft).abs()[:K + 1]
        lx, ly = torch.log(torch.clamp(mx, min=EPS)), torch.log(torch.clamp(my, min=EPS))
        total = total + (lx - ly).abs().mean()
        S += 1
    return total / S


def signals(rng):
    t = np.arange(N) / SR
    f0 = 110 + 15 * t / t[-1]                      # a glide, 110 -> 125 Hz
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = np.zeros(N)
    for h in range(1, 40):
        x += 0.2 / h * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    x += 0.01 * rng.standard_normal(N)
    x *= np.linspace(0.4, 1.0, N)
    # reconstruction: smeared harmonics (the harmonics' amplitudes and a little noise between them)
    y = np.zeros(N)
    for h in range(1, 40):
        y += 0.18 / h * np.sin(h * phase * (1 + 0.004 * rng.standard_normal()) + rng.uniform(0, 2 * np.pi))
    y = y * np.linspace(0.4, 1.0, N) + np.convolve(rng.standard_normal(N), np.ones(7) / 7, mode="same") * 0.02
    return x.astype(np.float32), y.astype(np.float32)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "train", "data"), help="folder for spec_loss.safetensors")
    out_dir = ap.parse_args().out
    rng = np.random.default_rng(20261208)
    out = {"x": [], "y": [], "loss_a": [], "grad_a": [], "loss_b": [], "grad_b": []}
    for k in range(2):
        x, y = signals(rng)
        if k == 1:
            x[4000:4300] = 0.0
            y[2500:5200] = 0.0  # silent stretch: frames with |Y| = 0 and bins below eps
        out["x"].append(x)
        out["y"].append(y)
        xt = torch.tensor(x, dtype=torch.float64)
        for name, setting in (("a", SET_A), ("b", SET_B)):
            yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
            L = loss(xt, yt, setting)
            L.backward()
            out["loss_" + name].append(L.item())
            out["grad_" + name].append(yt.grad.numpy().astype(np.float32))
            print(f"pair {k} setting {name}: loss {L.item():.9g}, |grad|max {yt.grad.abs().max().item():.3g}")
    t = {k: (np.array(v, dtype=np.float32) if k.startswith("loss") else np.stack(v)) for k, v in out.items()}
    t["config"] = np.array([SR, N, *SET_A, *SET_B[1:]], dtype=np.float32)
    path = os.path.join(out_dir, "spec_loss.safetensors")
    R.save_safetensors(path, t, {"torch": torch.__version__})
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
