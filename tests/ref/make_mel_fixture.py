"""Write tests/train/data/mel_loss.safetensors: the multi-scale mel loss of
codec/train/mel_loss.h computed with PyTorch/torchaudio in float64, with its autograd
gradient w.r.t. the reconstruction, for tests/train/test_mel_loss.c.

    /usr/bin/python3 tests/ref/make_mel_fixture.py [--out tests/train/data]

Per scale (n_fft = 2^i, i in 5..11): reflect padding of (n_fft - hop)/2, zeros
up to a full last frame (audiocraft pad_for_conv1d), torch.stft(center=False,
onesided, return_complex) with a periodic Hann window, divided by
sqrt(sum w^2), i.e. torchaudio's normalized=True, which is also checked against
torchaudio.transforms.MelSpectrogram(power=1, normalized=True, center=False)
as audiocraft's MelSpectrogramWrapper calls it. (torch.stft(normalized=True)
would scale by 1/sqrt(n_fft) instead.) Then abs, melscale_fbanks(norm=None,
mel_scale='htk'), and
  L = (1/S) sum_s [ mean|Mx - My| + mean|ln clamp(Mx, 1e-5) - ln clamp(My, 1e-5)| ].

Tensors (float32): x, y [2][4800] (reference, reconstruction), loss [2],
grad [2][4800] (dL/dy per pair), loss_scaled and grad_scaled (the same
with n_fft * 5 / 32 bands per scale, mel_loss_new's n_mels = 0), mel_x_512 [2][64][F] (the n_fft = 512 mel
spectrogram of x, an intermediate), config [5] = sample_rate, n_samples,
log2_min, log2_max, n_mels. Deterministic (seeded)."""
import argparse
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as Fn
import torchaudio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encodec_ref as R  # noqa: E402  (save_safetensors)

warnings.filterwarnings("ignore", message="At least one mel filterbank")  # small n_fft, 64 mels
SR, N, LOG2_MIN, LOG2_MAX, N_MELS, FLOOR = 24000, 4800, 5, 11, 64, 1e-5


def pad_for_frames(x, n_fft, hop):
    length = x.shape[-1]
    n_frames = (length - n_fft) / hop + 1
    ideal = (math.ceil(n_frames) - 1) * hop + n_fft
    return Fn.pad(x, (0, ideal - length))


def bands(n_fft, scaled):
    return max(1, n_fft * 5 // 32) if scaled else N_MELS


def mel(x, n_fft, check=False, scaled=False):
    hop = n_fft // 4
    p = (n_fft - hop) // 2
    xp = Fn.pad(x.view(1, 1, -1), (p, p), mode="reflect")
    xp = pad_for_frames(xp, n_fft, hop).view(-1)
    w = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(xp, n_fft, hop, n_fft, window=w, center=False, normalized=False, onesided=True,
                      return_complex=True) / w.pow(2).sum().sqrt()
    fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, SR / 2, bands(n_fft, scaled), SR, None,
                                               "htk").double()
    m = fb.t() @ spec.abs()  # [n_mels][F]
    if check:
        t = torchaudio.transforms.MelSpectrogram(sample_rate=SR, n_fft=n_fft, win_length=n_fft, hop_length=hop,
                                                 n_mels=bands(n_fft, scaled), power=1.0, normalized=True, center=False,
                                                 window_fn=torch.hann_window).double()
        ref = t(xp.detach())
        err = (ref - m.detach()).abs().max().item() / ref.abs().max().item()
        assert err < 1e-6, f"torchaudio MelSpectrogram differs: {err}"  # its window is float32
    return m


def loss(x, y, scaled=False):
    total = 0
    S = 0
    for i in range(LOG2_MIN, LOG2_MAX + 1):
        n_fft = 1 << i
        if n_fft > N:
            continue
        mx, my = mel(x, n_fft, check=True, scaled=scaled), mel(y, n_fft, scaled=scaled)
        lx, ly = torch.log(torch.clamp(mx, min=FLOOR)), torch.log(torch.clamp(my, min=FLOOR))
        total = total + (mx - my).abs().mean() + (lx - ly).abs().mean()
        S += 1
    return total / S


def signals(rng):
    t = np.arange(N) / SR
    x = np.zeros(N)
    for _ in range(6):
        f, a, ph = rng.uniform(60, 9000), rng.uniform(0.05, 0.3), rng.uniform(0, 2 * np.pi)
        x += a * np.sin(2 * np.pi * f * t + ph)
    x += 0.05 * rng.standard_normal(N)
    x *= np.linspace(0.3, 1.0, N)
    # reconstruction: gain change, low-passed noise, a dropout to exercise the clamp
    noise = np.convolve(rng.standard_normal(N), np.ones(5) / 5, mode="same")
    y = 0.9 * x + 0.03 * noise
    return x.astype(np.float32), y.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train", "data"))
    args = ap.parse_args()
    rng = np.random.default_rng(20261126)
    xs, ys, ls, gs, ms, lss, gss = [], [], [], [], [], [], []
    for k in range(2):
        x, y = signals(rng)
        if k == 1:
            y[3000:3700] = 0.0  # silent stretch: mel bands below the floor, |X| = 0 frames
        xt = torch.tensor(x, dtype=torch.float64)
        yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        L = loss(xt, yt)
        L.backward()
        xs.append(x)
        ys.append(y)
        ls.append(L.item())
        gs.append(yt.grad.numpy().astype(np.float32))
        ms.append(mel(xt, 512).numpy().astype(np.float32))
        print(f"pair {k}: loss {L.item():.9g}, |grad|max {yt.grad.abs().max().item():.3g}")
        ys2 = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        L2 = loss(xt, ys2, scaled=True)
        L2.backward()
        lss.append(L2.item())
        gss.append(ys2.grad.numpy().astype(np.float32))
        print(f"pair {k}, bands per scale: loss {L2.item():.9g}, |grad|max {ys2.grad.abs().max().item():.3g}")
    t = {"x": np.stack(xs), "y": np.stack(ys), "loss": np.array(ls, dtype=np.float32), "grad": np.stack(gs),
         "mel_x_512": np.stack(ms),
         "loss_scaled": np.array(lss, dtype=np.float32), "grad_scaled": np.stack(gss),
         "config": np.array([SR, N, LOG2_MIN, LOG2_MAX, N_MELS], dtype=np.float32)}
    path = os.path.join(args.out, "mel_loss.safetensors")
    R.save_safetensors(path, t, {"torch": torch.__version__, "torchaudio": torchaudio.__version__})
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
