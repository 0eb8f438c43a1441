"""Shared helpers for the fixture scripts: import the reference EnCodec from a
checkout the user points at, build random-weight models from a sonotok config,
and write safetensors files. Runs with Debian's python3-torch; nothing here is
needed by sonotok at run time."""
import json
import os
import struct
import sys
import types

import numpy as np
import torch


def _install_einops_shim():
    """The reference imports einops (not packaged for Debian 12). It only uses
    a few rearrange/repeat patterns at inference; provide exactly those."""
    if "einops" in sys.modules:
        return
    try:
        import einops  # noqa: F401
        return
    except ImportError:
        pass
    m = types.ModuleType("einops")

    def rearrange(x, pattern, **kw):
        p = " ".join(pattern.split())
        if p == "b d n -> b n d" or p == "b n d -> b d n":
            return x.transpose(1, 2)
        if p == "... d -> (...) d":
            return x.reshape(-1, x.shape[-1])
        if p == "n d -> n () d":
            return x.unsqueeze(1)
        if p == "c d -> () c d":
            return x.unsqueeze(0)
        if p == "b ... t -> b t ...":
            return x.movedim(-1, 1)
        if p == "b t ... -> b ... t":
            return x.movedim(1, -1)
        raise NotImplementedError(pattern)

    def repeat(x, pattern, **kw):
        p = " ".join(pattern.split())
        if p == "n -> n d":
            return x.unsqueeze(1).expand(-1, kw["d"])
        raise NotImplementedError(pattern)

    m.rearrange = rearrange
    m.repeat = repeat
    sys.modules["einops"] = m


def import_encodec(path):
    _install_einops_shim()
    sys.path.insert(0, os.path.abspath(path))
    import encodec  # noqa: E402
    return encodec


def build_model(encodec, cfg):
    """An EncodecModel with the architecture of a sonotok config dict."""
    m = encodec.modules
    norm = cfg["norm"]
    common = dict(channels=cfg["channels"], dimension=cfg["dimension"], n_filters=cfg["n_filters"],
                  n_residual_layers=cfg["n_residual_layers"], ratios=cfg["ratios"], norm=norm,
                  kernel_size=cfg["kernel_size"], last_kernel_size=cfg["last_kernel_size"],
                  residual_kernel_size=cfg["residual_kernel_size"], dilation_base=cfg["dilation_base"],
                  causal=bool(cfg["causal"]), pad_mode=cfg["pad_mode"], true_skip=bool(cfg["true_skip"]),
                  compress=cfg["compress"], lstm=cfg["lstm"])
    enc = m.SEANetEncoder(**common)
    dec = m.SEANetDecoder(trim_right_ratio=cfg["trim_right_ratio"], **common)
    q = encodec.quantization.ResidualVectorQuantizer(dimension=cfg["dimension"], n_q=cfg["n_q"],
                                                     bins=cfg["codebook_size"])
    seg = cfg["segment"] if cfg["segment"] > 0 else None
    model = encodec.EncodecModel(enc, dec, q, cfg["bandwidths"], cfg["sample_rate"], cfg["channels"],
                                 normalize=bool(cfg["normalize"]), segment=seg, overlap=cfg["overlap"],
                                 name=cfg["name"])
    return model.eval()


def randomize(model, seed):
    """Random weights everywhere, including weight-norm gains, group-norm
    affines and the codebooks (a fresh model has all-zero codebooks)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.copy_(p * (0.5 + torch.rand(p.shape, generator=g)))
            elif ".norm." in name:
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g) if name.endswith("weight")
                        else 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("embed"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.5)
            elif name.endswith("inited"):
                b.fill_(1.0)
    return model


def save_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer (the safetensors package is not in Debian 12)."""
    header = {}
    blobs = []
    off = 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t)
        dt = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int64"): "I64",
              np.dtype("int32"): "I32"}[a.dtype]
        raw = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


HF_RULES = [("encoder.model.", "encoder.layers."), ("decoder.model.", "decoder.layers."),
            (".conv.conv.", ".conv."), (".convtr.convtr.", ".conv."), (".conv.norm.", ".norm."),
            (".convtr.norm.", ".norm."), ("quantizer.vq.layers.", "quantizer.layers."),
            ("._codebook.", ".codebook.")]


def hf_state_dict(sd, parametrizations=False):
    """Rename an original state_dict the way transformers' conversion script does."""
    out = {}
    for k, v in sd.items():
        n = k
        for a, b in HF_RULES:
            n = n.replace(a, b)
        if parametrizations:
            n = n.replace(".weight_g", ".parametrizations.weight.original0")
            n = n.replace(".weight_v", ".parametrizations.weight.original1")
        out[n] = v
    return out


def hf_config(cfg):
    return {
        "model_type": "encodec", "sampling_rate": cfg["sample_rate"], "audio_channels": cfg["channels"],
        "num_filters": cfg["n_filters"], "hidden_size": cfg["dimension"], "upsampling_ratios": cfg["ratios"],
        "norm_type": cfg["norm"], "kernel_size": cfg["kernel_size"], "last_kernel_size": cfg["last_kernel_size"],
        "residual_kernel_size": cfg["residual_kernel_size"], "dilation_growth_rate": cfg["dilation_base"],
        "use_causal_conv": bool(cfg["causal"]), "pad_mode": cfg["pad_mode"], "compress": cfg["compress"],
        "num_lstm_layers": cfg["lstm"], "trim_right_ratio": cfg["trim_right_ratio"],
        "codebook_size": cfg["codebook_size"], "codebook_dim": cfg["dimension"],
        "use_conv_shortcut": not cfg["true_skip"], "target_bandwidths": cfg["bandwidths"],
        "chunk_length_s": cfg["segment"] if cfg["segment"] > 0 else None, "overlap": cfg["overlap"],
        "normalize": bool(cfg["normalize"]), "num_residual_layers": cfg["n_residual_layers"],
    }


def reference_run(model, x, bandwidth):
    """Codes (segments concatenated along frames), scales, decoded audio
    trimmed to the input length, as the reference computes them."""
    model.set_target_bandwidth(bandwidth)
    with torch.no_grad():
        frames = model.encode(x)
        codes = torch.cat([f[0] for f in frames], dim=-1)[0]
        scales = [float(f[1].reshape(-1)[0]) if f[1] is not None else 1.0 for f in frames]
        y = model.decode(frames)[0, :, :x.shape[-1]]
    return codes, scales, y


def test_signal(n, channels, seed, sr):
    g = np.random.default_rng(seed)
    t = np.arange(n) / sr
    x = np.zeros((channels, n), np.float32)
    for c in range(channels):
        f0 = 220 * (c + 1)
        x[c] = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.1 * g.standard_normal(n)
        x[c] *= np.linspace(0.2, 1.0, n)
    return torch.from_numpy(x)
