#!/usr/bin/env python3
"""Time codec training steps with the reference EnCodec (PyTorch), as the
other side of a training-speed comparison with sonotok's trainer.

The model is the "small" codec: 24 kHz mono, SEANet n_filters 16, ratios
[8, 5, 4, 2] (hop 320, 75 frames/s), no LSTM, dimension 128, weight norm,
non-causal, reflect padding, true_skip off, the other SEANet fields at the
values of codec/codec_config.c (kernel 7, last kernel 7, residual kernel 3,
one residual layer, dilation base 2, compress 2), and a residual VQ of
8 codebooks x 1024 used in full (6 kbps).

One step, as codec/train/trainer.c without the adversarial part:
    forward (encoder, RVQ with EMA codebooks, decoder),
    loss = 0.1 * L1(wave) + multi-scale mel + 1.0 * commitment,
    backward, global grad-norm clip 1.0, AdamW (lr 3e-4, betas 0.5/0.9,
    weight decay 0).
The mel loss is the one codec/train/mel_loss.h describes: n_fft 2^5..2^11,
hop n_fft/4, periodic Hann, reflect pad (n_fft - hop)/2 both sides then
zeros to a whole frame, normalized STFT magnitude, 64 HTK mels 0..rate/2,
mean |M(x) - M(y)| + mean |ln max(M(x), 1e-5) - ln max(M(y), 1e-5)|,
averaged over scales.

The batch is --batch random --seconds crops of random noise (or of --wav).
The first 2 steps (k-means codebook init, allocator warm-up) are not timed.

    /usr/bin/python3 tests/ref/train_step_ref.py --encodec /work/ref/encodec --threads 2
    ... --steps 20 --batch 8 --seconds 1.0 --json

Prints audio seconds trained per wall second and ms per step (--json: one
JSON object on stdout instead).
"""
import argparse
import json
import math
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from encodec_ref import import_encodec  # noqa: E402  (installs the einops shim)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SMALL = dict(sample_rate=24000, channels=1, n_filters=16, ratios=[8, 5, 4, 2], lstm=0, dimension=128,
             n_q=8, codebook_size=1024, bandwidth=6.0, norm="weight_norm", causal=False, pad_mode="reflect",
             true_skip=False, kernel_size=7, last_kernel_size=7, residual_kernel_size=3, n_residual_layers=1,
             dilation_base=2, compress=2, trim_right_ratio=1.0)
WARMUP_STEPS = 2


def build(encodec, cfg):
    m = encodec.modules
    common = dict(channels=cfg["channels"], dimension=cfg["dimension"], n_filters=cfg["n_filters"],
                  n_residual_layers=cfg["n_residual_layers"], ratios=cfg["ratios"], norm=cfg["norm"],
                  kernel_size=cfg["kernel_size"], last_kernel_size=cfg["last_kernel_size"],
                  residual_kernel_size=cfg["residual_kernel_size"], dilation_base=cfg["dilation_base"],
                  causal=cfg["causal"], pad_mode=cfg["pad_mode"], true_skip=cfg["true_skip"],
                  compress=cfg["compress"], lstm=cfg["lstm"])
    enc = m.SEANetEncoder(**common)
    dec = m.SEANetDecoder(trim_right_ratio=cfg["trim_right_ratio"], **common)
    rvq = encodec.quantization.ResidualVectorQuantizer(dimension=cfg["dimension"], n_q=cfg["n_q"],
                                                       bins=cfg["codebook_size"])
    return enc, dec, rvq


class MelLoss(torch.nn.Module):
    """Multi-scale mel loss of codec/train/mel_loss.h (audiocraft's MelSpectrogramWrapper per scale)."""

    def __init__(self, rate, log2_min=5, log2_max=11, n_mels=64):
        super().__init__()
        import torchaudio
        self.scales = []
        for i in range(log2_min, log2_max + 1):
            n = 2 ** i
            spec = torchaudio.transforms.Spectrogram(n_fft=n, hop_length=n // 4, win_length=n, power=1,
                                                     normalized=True, center=False,
                                                     window_fn=torch.hann_window)
            fb = torchaudio.functional.melscale_fbanks(n // 2 + 1, 0.0, rate / 2, n_mels, rate, norm=None,
                                                       mel_scale="htk")
            self.add_module(f"spec{i}", spec)
            self.register_buffer(f"fb{i}", fb)
            self.scales.append((n, n // 4, spec, f"fb{i}"))

    def mel(self, x, n, hop, spec, fb):
        p = (n - hop) // 2
        x = F.pad(x, (p, p), mode="reflect")
        length = x.shape[-1]  # pad_for_conv1d: zeros to a whole number of frames
        frames = max(0, math.ceil((length - n) / hop))
        extra = frames * hop + n - length
        x = F.pad(x, (0, extra))
        s = spec(x)  # [B, 1, n/2+1, T]
        return torch.matmul(s.transpose(-1, -2), getattr(self, fb)).transpose(-1, -2)

    def forward(self, y, x):
        total = 0.0
        used = 0
        for n, hop, spec, fb in self.scales:
            if n > x.shape[-1]:
                continue
            mx, my = self.mel(x, n, hop, spec, fb), self.mel(y, n, hop, spec, fb)
            total = total + F.l1_loss(my, mx) + F.l1_loss(torch.log(my.clamp(min=1e-5)),
                                                          torch.log(mx.clamp(min=1e-5)))
            used += 1
        return total / used


def load_wav(path, rate):
    import torchaudio
    w, sr = torchaudio.load(path)
    w = w.mean(0, keepdim=True)
    if sr != rate:
        w = torchaudio.functional.resample(w, sr, rate)
    return w[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encodec", default="/work/ref/encodec", help="reference EnCodec checkout")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--steps", type=int, default=10, help=f"steps, the first {WARMUP_STEPS} untimed (default 10)")
    ap.add_argument("--batch", type=int, default=8, help="crops per step (default 8)")
    ap.add_argument("--seconds", type=float, default=1.0, help="crop length in seconds (default 1.0)")
    ap.add_argument("--wav", help="take crops from this audio file instead of random noise")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    a = ap.parse_args()
    if a.steps <= WARMUP_STEPS or a.batch < 1 or a.seconds <= 0 or a.threads < 1:
        ap.error(f"need --steps > {WARMUP_STEPS}, --batch >= 1, --seconds > 0, --threads >= 1")

    # Expected, and said once here: the smallest mel scales have more bands
    # than FFT bins (some bands are empty, as on the C side), and the
    # reference warns about its RVQ training bug (issue #25) on every step.
    warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")
    warnings.filterwarnings("ignore", message="When using RVQ in training model")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    encodec = import_encodec(a.encodec)
    cfg = SMALL
    rate = cfg["sample_rate"]
    hop = 1
    for r in cfg["ratios"]:
        hop *= r
    frame_rate = rate // hop
    crop = math.ceil(a.seconds * rate / hop) * hop  # as the trainer: a whole number of frames

    enc, dec, rvq = build(encodec, cfg)
    for mod in (enc, dec, rvq):
        mod.train()
    mel_loss = MelLoss(rate)
    params = list(enc.parameters()) + list(dec.parameters())  # codebooks are EMA buffers
    opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.5, 0.9), weight_decay=0.0)
    n_params = sum(p.numel() for p in params)

    source = load_wav(a.wav, rate) if a.wav else None
    if source is not None and source.numel() < crop:
        source = F.pad(source, (0, crop - source.numel()))
    g = torch.Generator().manual_seed(a.seed)

    def batch():
        if source is None:
            return 0.1 * torch.randn(a.batch, 1, crop, generator=g)
        starts = torch.randint(0, source.numel() - crop + 1, (a.batch,), generator=g).tolist()
        return torch.stack([source[s:s + crop] for s in starts]).unsqueeze(1)

    times = []
    last = {}
    for step in range(a.steps):
        x = batch()
        t0 = time.perf_counter()
        z = enc(x)
        q = rvq(z, frame_rate, cfg["bandwidth"])
        y = dec(q.quantized)[..., :crop]
        l1 = F.l1_loss(y, x)
        mel = mel_loss(y, x)
        commit = q.penalty
        loss = 0.1 * l1 + mel + 1.0 * commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if step >= WARMUP_STEPS:
            times.append(dt)
        last = dict(loss=loss.item(), l1=l1.item(), mel=mel.item(), commit=commit.item())

    timed = sum(times)
    audio = len(times) * a.batch * crop / rate
    res = dict(impl="pytorch-encodec", torch=torch.__version__, threads=a.threads, batch=a.batch,
               crop_samples=crop, rate=rate, steps_timed=len(times), params=n_params,
               ms_per_step=1000.0 * timed / len(times), ms_per_step_min=1000.0 * min(times),
               audio_seconds_per_second=audio / timed, last=last)
    if a.json:
        print(json.dumps(res))
    else:
        print(f"pytorch {torch.__version__} reference EnCodec small ({n_params / 1e6:.2f} M params), "
              f"{a.threads} threads, batch {a.batch} x {crop / rate:.3f} s: "
              f"{res['ms_per_step']:.1f} ms/step (best {res['ms_per_step_min']:.1f}), "
              f"{res['audio_seconds_per_second']:.2f} audio s per wall s over {len(times)} steps; "
              f"last loss {last['loss']:.4f} (l1 {last['l1']:.4f} mel {last['mel']:.4f} "
              f"commit {last['commit']:.4f})")


if __name__ == "__main__":
    main()
