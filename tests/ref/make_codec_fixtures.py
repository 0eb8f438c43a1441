#!/usr/bin/env python3
"""Write the small codec fixtures under tests/codec/data/ by running the
reference EnCodec implementation on tiny random-weight configurations.

usage: /usr/bin/python3 tests/ref/make_codec_fixtures.py --encodec PATH/TO/encodec-checkout [--out DIR]

For each tiny config it writes:
  NAME.th, NAME.json       the state_dict exactly as torch.save writes it, and
                           its sonotok config (sidecar JSON)
  NAME_hf/                 the same weights in Hugging Face's spelling
                           (config.json + model.safetensors)
  NAME_ref.safetensors     input audio, and per bandwidth the reference codes,
                           segment scales and decoded audio (float32), with the
                           config in the metadata
The full-size variant (--full, used by the slow test) writes the EnCodec 24 kHz
and 48 kHz architectures with random weights to --out (about 200 MB)."""
import argparse
import copy
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encodec_ref as R  # noqa: E402

TINY = {
    # 24 kHz-like: causal, weight norm, LSTM, two residual layers (dilation 1 and 2)
    "tiny24": dict(name="tiny24", sample_rate=8000, channels=1, causal=1, norm="weight_norm",
                   pad_mode="reflect", n_filters=4, dimension=16, ratios=[4, 2], kernel_size=7,
                   last_kernel_size=7, residual_kernel_size=3, n_residual_layers=2, dilation_base=2,
                   compress=2, lstm=2, true_skip=0, trim_right_ratio=1.0, codebook_size=64, n_q=8,
                   bandwidths=[6.0, 12.0, 24.0, 48.0], normalize=0, segment=0.0, overlap=0.01),
    # 48 kHz-like: stereo, non-causal, time group norm, segments with RMS scale, identity skips
    "tiny48": dict(name="tiny48", sample_rate=8000, channels=2, causal=0, norm="time_group_norm",
                   pad_mode="reflect", n_filters=4, dimension=16, ratios=[5, 2], kernel_size=7,
                   last_kernel_size=5, residual_kernel_size=3, n_residual_layers=1, dilation_base=2,
                   compress=2, lstm=1, true_skip=1, trim_right_ratio=1.0, codebook_size=64, n_q=6,
                   bandwidths=[4.8, 9.6, 19.2, 28.8], normalize=1, segment=0.05, overlap=0.01),
}

FULL = {
    "full24": dict(name="full24", sample_rate=24000, channels=1, causal=1, norm="weight_norm",
                   pad_mode="reflect", n_filters=32, dimension=128, ratios=[8, 5, 4, 2], kernel_size=7,
                   last_kernel_size=7, residual_kernel_size=3, n_residual_layers=1, dilation_base=2,
                   compress=2, lstm=2, true_skip=0, trim_right_ratio=1.0, codebook_size=1024, n_q=32,
                   bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0], normalize=0, segment=0.0, overlap=0.01),
    "full48": dict(name="full48", sample_rate=48000, channels=2, causal=0, norm="time_group_norm",
                   pad_mode="reflect", n_filters=32, dimension=128, ratios=[8, 5, 4, 2], kernel_size=7,
                   last_kernel_size=7, residual_kernel_size=3, n_residual_layers=1, dilation_base=2,
                   compress=2, lstm=2, true_skip=0, trim_right_ratio=1.0, codebook_size=1024, n_q=16,
                   bandwidths=[3.0, 6.0, 12.0, 24.0], normalize=1, segment=1.0, overlap=0.01),
}


def write_one(encodec, cfg, out, n_samples, seed):
    name = cfg["name"]
    torch.manual_seed(seed)
    model = R.randomize(R.build_model(encodec, cfg), seed)
    sd = model.state_dict()
    torch.save(sd, os.path.join(out, name + ".th"))
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(cfg, f, indent=1)
    hf = os.path.join(out, name + "_hf")
    os.makedirs(hf, exist_ok=True)
    R.save_safetensors(os.path.join(hf, "model.safetensors"),
                       R.hf_state_dict(sd, parametrizations=(seed % 2 == 1)))
    with open(os.path.join(hf, "config.json"), "w") as f:
        json.dump(R.hf_config(cfg), f, indent=1)
    x = R.test_signal(n_samples, cfg["channels"], seed, cfg["sample_rate"])
    tensors = {"input": x}
    for bw in cfg["bandwidths"]:
        codes, scales, y = R.reference_run(model, x[None], bw)
        tag = "%g" % bw
        tensors["codes_" + tag] = codes.to(torch.int32)
        tensors["scales_" + tag] = torch.tensor(scales, dtype=torch.float32)
        tensors["decoded_" + tag] = y.contiguous()
    with torch.no_grad():
        tensors["latents"] = torch.cat([model.encoder(x[None, :, o:o + (model.segment_length or n_samples)])[0]
                                        for o in range(0, n_samples, model.segment_stride or n_samples)], dim=-1)
    R.save_safetensors(os.path.join(out, name + "_ref.safetensors"), tensors,
                       {"config": json.dumps(cfg), "bandwidths": json.dumps(cfg["bandwidths"])})
    print("wrote", name, "codes", {k: tuple(v.shape) for k, v in tensors.items() if k.startswith("codes")})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encodec", required=True, help="path to a facebookresearch/encodec checkout")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "codec", "data"))
    ap.add_argument("--full", action="store_true", help="full-size EnCodec architectures (slow test)")
    ap.add_argument("--seconds", type=float, default=3.0, help="input length for --full")
    a = ap.parse_args()
    encodec = R.import_encodec(a.encodec)
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(2)
    if a.full:
        for i, cfg in enumerate(FULL.values()):
            write_one(encodec, copy.deepcopy(cfg), a.out, int(a.seconds * cfg["sample_rate"]), 100 + i)
    else:
        write_one(encodec, TINY["tiny24"], a.out, 1003, 1)
        write_one(encodec, TINY["tiny48"], a.out, 1510, 2)


if __name__ == "__main__":
    main()
