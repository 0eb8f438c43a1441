#!/usr/bin/env python3
"""Write tests/train/data/disc_tiny.safetensors: the MS-STFT discriminator
(codec/train/disc.c) on a tiny configuration, computed by a plain-PyTorch model
that follows audiocraft's adversarial/discriminators/msstftd.py
(DiscriminatorSTFT, MultiScaleSTFTDiscriminator) and the losses of
adversarial/losses.py (AdversarialLoss with normalize=True, hinge losses,
FeatureMatchingLoss with L1), in float64.

Configuration: channels 2 (stereo: exercises the [re(ch), im(ch)] channel
order), filters 4, n_ffts 256, 512, 128 with hop n_fft/4 and window n_fft,
LeakyReLU slope 0.2, B = 2 crops of T = 2400 samples.

Weights: PyTorch's default Conv2d init under a fixed seed, then torch weight
norm (all convs but convs.0, as audiocraft: convs.0 is built with norm='none');
each scale's conv_post weight_g is rescaled so that its logits on y have a
standard deviation of 1.5, and its bias shifted so that they average 0.25, so
that both sides of every hinge are exercised.

Writes (float32; names as codec/train/disc.c's parameter table):
  x, y [B, C, T]                     real and fake crops
  param.<name>                       every parameter, PyTorch's shapes
  loss_d                             mean_s [mean relu(1 - D(x)) + mean relu(1 + D(y))]
  grad_d.<name>                      d loss_d / d param
  adv_hinge2, dy_adv_hinge2          mean_s mean relu(1 - D(y)) and d/dy
  adv_hinge, dy_adv_hinge            mean_s -mean D(y) (audiocraft 'hinge') and d/dy
  feat_rel, dy_feat_rel              mean_s mean_l mean|f(x) - f(y)| / mean|f(x)| and d/dy
  feat_abs, dy_feat_abs              mean_s mean_l mean|f(x) - f(y)| (audiocraft's value) and d/dy

usage: /usr/bin/python3 tests/ref/make_disc_fixture.py [--out DIR]"""
import argparse
import json
import os
import struct

import numpy as np
import torch
import torchaudio
from torch import nn
from torch.nn.utils import weight_norm

C, FILTERS, B, T, SEED, SLOPE = 2, 4, 2, 2400, 11, 0.2
N_FFTS = [256, 512, 128]


def get_2d_padding(kernel_size, dilation=(1, 1)):
    return (((kernel_size[0] - 1) * dilation[0]) // 2, ((kernel_size[1] - 1) * dilation[1]) // 2)


class DiscriminatorSTFT(nn.Module):
    def __init__(self, filters, in_channels, n_fft, hop_length, win_length, kernel_size=(3, 9),
                 dilations=(1, 2, 4), stride=(1, 2)):
        super().__init__()
        self.activation = nn.LeakyReLU(SLOPE)
        self.spec_transform = torchaudio.transforms.Spectrogram(
            n_fft=n_fft, hop_length=hop_length, win_length=win_length, window_fn=torch.hann_window,
            normalized=True, center=False, pad_mode=None, power=None)
        self.convs = nn.ModuleList()
        # audiocraft: NormConv2d(...) without norm= -> plain conv
        self.convs.append(nn.Conv2d(2 * in_channels, filters, kernel_size=kernel_size,
                                    padding=get_2d_padding(kernel_size)))
        for d in dilations:
            self.convs.append(weight_norm(nn.Conv2d(filters, filters, kernel_size=kernel_size, stride=stride,
                                                    dilation=(d, 1),
                                                    padding=get_2d_padding(kernel_size, (d, 1)))))
        k = (kernel_size[0], kernel_size[0])
        self.convs.append(weight_norm(nn.Conv2d(filters, filters, kernel_size=k, padding=get_2d_padding(k))))
        self.conv_post = weight_norm(nn.Conv2d(filters, 1, kernel_size=k, padding=get_2d_padding(k)))

    def forward(self, x):
        fmap = []
        z = self.spec_transform(x)                 # [B, C, Freq, Frames] complex
        z = torch.cat([z.real, z.imag], dim=1)     # [B, 2C, Freq, Frames]
        z = z.transpose(2, 3)                      # 'b c w t -> b c t w'
        for layer in self.convs:
            z = self.activation(layer(z))
            fmap.append(z)
        return self.conv_post(z), fmap


def hinge_real(l):
    return -torch.mean(torch.clamp(l - 1, max=0))


def hinge_fake(l):
    return -torch.mean(torch.clamp(-l - 1, max=0))


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def named_params(discs):
    out = {}
    for s, d in enumerate(discs):
        for i, conv in enumerate(d.convs):
            for n, p in conv.named_parameters():
                out[f"disc.{s}.convs.{i}.{n}"] = p
        for n, p in d.conv_post.named_parameters():
            out[f"disc.{s}.conv_post.{n}"] = p
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train", "data"))
    args = ap.parse_args()
    torch.manual_seed(SEED)
    discs = nn.ModuleList([DiscriminatorSTFT(FILTERS, C, n, n // 4, n) for n in N_FFTS])
    t = torch.arange(T, dtype=torch.float64) / 24000.0
    x = torch.zeros(B, C, T, dtype=torch.float64)
    for b in range(B):
        for c in range(C):
            f0 = 110.0 * (1 + b + 2 * c)
            x[b, c] = 0.3 * torch.sin(2 * np.pi * f0 * t) + 0.1 * torch.sin(2 * np.pi * 3.1 * f0 * t)
    x += 0.05 * torch.randn(B, C, T, dtype=torch.float64)
    y = x + 0.1 * torch.randn(B, C, T, dtype=torch.float64)
    x = x.float().double()
    y = y.float().double()
    discs = discs.double()
    with torch.no_grad():
        for d in discs:
            l, _ = d(y)
            d.conv_post.weight_g.mul_(1.5 / float(l.std()))
            l, _ = d(y)
            d.conv_post.bias.sub_(float(l.mean()) - 0.25)
        for p in discs.parameters():   # round to float32: the C side sees the same weights
            p.copy_(p.float().double())
    params = named_params(discs)

    # discriminator loss and its parameter gradients
    loss_d = 0
    for d in discs:
        lx, _ = d(x)
        ly, _ = d(y)
        loss_d = loss_d + hinge_real(lx) + hinge_fake(ly)
    loss_d = loss_d / len(discs)
    grads = torch.autograd.grad(loss_d, list(params.values()))
    out = {"x": x, "y": y}
    for n, p in params.items():
        out["param." + n] = p
    out["loss_d"] = loss_d.reshape(1)
    for (n, _), g in zip(params.items(), grads):
        out["grad_d." + n] = g

    # generator side, each loss separately with its gradient w.r.t. y
    yv = y.clone().requires_grad_(True)
    res_x = [d(x) for d in discs]
    res_y = [d(yv) for d in discs]
    S = len(discs)
    adv2 = sum(torch.mean(torch.relu(1 - ly)) for ly, _ in res_y) / S
    adv1 = sum(-torch.mean(ly) for ly, _ in res_y) / S
    feat_rel, feat_abs = 0, 0
    for (_, fx), (_, fy) in zip(res_x, res_y):
        fx = [f.detach() for f in fx]
        feat_abs = feat_abs + sum(torch.mean(torch.abs(a - b)) for a, b in zip(fy, fx)) / len(fx)
        feat_rel = feat_rel + sum(torch.mean(torch.abs(a - b)) / torch.mean(torch.abs(b))
                                  for a, b in zip(fy, fx)) / len(fx)
    feat_abs, feat_rel = feat_abs / S, feat_rel / S
    for name, v in [("adv_hinge2", adv2), ("adv_hinge", adv1), ("feat_rel", feat_rel), ("feat_abs", feat_abs)]:
        (g,) = torch.autograd.grad(v, yv, retain_graph=True)
        out[name] = v.detach().reshape(1)
        out["dy_" + name] = g
    meta = {"channels": str(C), "filters": str(FILTERS), "B": str(B), "T": str(T), "slope": str(SLOPE),
            "n_ffts": ",".join(str(n) for n in N_FFTS), "seed": str(SEED),
            "torch": torch.__version__, "torchaudio": torchaudio.__version__}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "disc_tiny.safetensors")
    save_safetensors(path, out, meta)
    print(f"wrote {path}: loss_d {float(loss_d):.6f} adv2 {float(adv2):.6f} adv {float(adv1):.6f} "
          f"feat_rel {float(feat_rel):.6f} feat_abs {float(feat_abs):.6f}")


if __name__ == "__main__":
    main()
