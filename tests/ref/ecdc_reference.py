#!/usr/bin/env python3
"""Write the .ecdc interoperability fixtures under tests/codec/data/ecdc/ with
the reference implementation (facebookresearch/encodec), and the .ecdc seeds
and known-bad files of tests/fuzz/.

usage: /usr/bin/python3 tests/ref/ecdc_reference.py --encodec-src PATH/TO/encodec-checkout
           [--out tests/codec/data/ecdc] [--fuzz tests/fuzz]

(--encodec-src is put on sys.path; setting PYTHONPATH to the checkout works
too.) Runs with Debian's python3-torch; needs no network: the models are the
reference's own constructors, EncodecModel.encodec_model_24khz and
encodec_model_48khz(pretrained=False), with random weights and codebooks
(a fresh model's codebooks are all zero). Random weights give nearly constant
codes, so the codes the model's encode returns are replaced by uniform random
ones of the same shape; segments and scales stay the model's. The reference
names a model built so 'unset' and refuses to compress with it, so the script
gives it the official name.

For each case NAME it writes
  NAME.ecdc          the reference's bytes: encodec.compress.compress(model, wav, use_lm=False)
  NAME.safetensors   the codes that call packed ("codes", int64 [nc, frames], the
                     segments' frames one after another), the segment scales
                     ("scales", float32, only for the 48 kHz model), and in the
                     metadata m, al, nc and the frames of each segment
and checks that the reference reads the file back (decompress, with the
random model standing in for the download) to the same codes and scales.
sonotok's test (tests/formats/test_ecdc.c) writes the same codes and must
get the same bytes, and reads the bytes and must get the same codes.
"""
import argparse
import importlib
import os
import struct
import sys
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encodec_ref as R  # noqa: E402

# name, model, bandwidth (kbps), audio length (samples per channel), seed.
# The lengths give a last byte with padding bits (24 kHz, 1.5 kbps: 77 frames
# x 2 codebooks x 10 bits), and for 48 kHz (segments of 48000 samples every
# 47520) two short segments at the end (95100: 150, 149 and 1 frames) or one
# (100000: 150, 150, 16); 95040 is two strides exactly, two segments (150
# and 149 frames), where a stride one sample short would make three.
CASES = [
    ("e24_1k5", "encodec_24khz", 1.5, 24500, 1),
    ("e24_6k", "encodec_24khz", 6.0, 16000, 2),
    ("e48_3k", "encodec_48khz", 3.0, 95100, 3),
    ("e48_6k", "encodec_48khz", 6.0, 100000, 4),
    ("e48_two", "encodec_48khz", 3.0, 95040, 5),
]


def install_torchaudio_stub():
    """encodec/utils.py imports torchaudio (not packaged for Debian 12) for its
    audio file helpers, which nothing here calls: an empty module will do."""
    try:
        import torchaudio  # noqa: F401
    except ImportError:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")


def make_model(encodec, name, seed):
    ctor = {"encodec_24khz": encodec.EncodecModel.encodec_model_24khz,
            "encodec_48khz": encodec.EncodecModel.encodec_model_48khz}[name]
    model = R.randomize(ctor(pretrained=False), seed)
    model.name = name
    return model.eval()


def make_audio(model, n_samples, seed):
    """Noise whose loudness rises over the signal, so each 48 kHz segment gets its own scale."""
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn(model.channels, n_samples, generator=g)
    return x * torch.linspace(0.02, 0.5, n_samples)


def write_case(encodec, out, name, model_name, kbps, n_samples, seed):
    compress = importlib.import_module("encodec.compress")  # encodec.compress is the function
    model = make_model(encodec, model_name, seed)
    model.set_target_bandwidth(kbps)
    wav = make_audio(model, n_samples, seed)

    # The model's own frames (segments, shapes, dtype, the 48 kHz scales),
    # with the codes replaced by uniform random ones: random weights give
    # nearly constant codes (the 24 kHz model: one code per codebook), which
    # would test little. The first code is the largest, the second 0.
    encoded = []
    encode = model.encode
    g = torch.Generator().manual_seed(2000 + seed)

    def encode_random(x):
        frames = []
        for c, scale in encode(x):
            r = torch.randint(0, model.quantizer.bins, c.shape, generator=g, dtype=c.dtype)
            frames.append((r, scale))
        frames[0][0][0, 0, 0] = model.quantizer.bins - 1
        frames[0][0][0, 0, 1] = 0
        encoded.append(frames)
        return frames

    model.encode = encode_random
    with torch.no_grad():
        data = compress.compress(model, wav, use_lm=False)
    model.encode = encode
    frames = encoded[0]

    # The reference reads it back: decompress builds MODELS[m](); give it this model
    # and catch the frames it hands to decode.
    decoded = []
    saved = dict(compress.MODELS)
    compress.MODELS[model_name] = lambda: model
    model.decode = lambda fr: decoded.append(fr) or torch.zeros(1, model.channels, n_samples)
    try:
        compress.decompress(data)
    finally:
        compress.MODELS.clear()
        compress.MODELS.update(saved)
    back = decoded[0]
    assert len(back) == len(frames), (len(back), len(frames))
    for (c0, s0), (c1, s1) in zip(frames, back):
        assert torch.equal(c0, c1)
        assert (s0 is None) == (s1 is None)
        if s0 is not None:
            assert struct.pack("!f", s0.item()) == struct.pack("!f", s1.item())

    codes = torch.cat([c[0] for c, _ in frames], dim=1).to(torch.int64)  # [nc, frames]
    tensors = {"codes": codes}
    if frames[0][1] is not None:
        tensors["scales"] = torch.tensor([s.item() for _, s in frames], dtype=torch.float32)
    meta = {"m": model_name, "al": str(n_samples), "nc": str(codes.shape[0]),
            "segment_frames": ",".join(str(c.shape[-1]) for c, _ in frames),
            "bandwidth": str(kbps)}
    R.save_safetensors(os.path.join(out, name + ".safetensors"), tensors, meta)
    with open(os.path.join(out, name + ".ecdc"), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes, {codes.shape[0]} codebooks x {codes.shape[1]} frames "
          f"in {len(frames)} segment(s)")
    return data


def with_meta(data, text):
    """data with its metadata replaced by text (the codes kept)."""
    n = struct.unpack("!I", data[5:9])[0]
    raw = text.encode("utf-8")
    return data[:5] + struct.pack("!I", len(raw)) + raw + data[9 + n:]


def write_fuzz(fuzz, made):
    """Seeds: the reference's files. Known-bad files: edits of them, each named
    by the error sonotok must give (tests/fuzz/README.md)."""
    corpus = os.path.join(fuzz, "corpus", "ecdc")
    bad = os.path.join(fuzz, "bad", "ecdc")
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(bad, exist_ok=True)
    for name, data in made.items():
        with open(os.path.join(corpus, name + ".ecdc"), "wb") as f:
            f.write(data)
    a, b = made["e24_1k5"], made["e48_3k"]
    n24 = struct.unpack("!I", a[5:9])[0]
    n48 = struct.unpack("!I", b[5:9])[0]
    cases = {
        "TRUNCATED_half": a[:len(a) // 2],
        "TRUNCATED_preamble": a[:7],
        "TRUNCATED_meta": a[:9 + n24 - 3],
        "TRUNCATED_last_byte": a[:-1],
        "FORMAT_magic": b"ECDX" + a[4:],
        "FORMAT_trailing": a + b"\0",
        "FORMAT_padding": a[:-1] + bytes([a[-1] | 0x80]),
        "FORMAT_not_json": with_meta(a, '{"m": "encodec_24khz", "al": 24500,'),
        "FORMAT_no_al": with_meta(a, '{"m": "encodec_24khz", "nc": 2, "lm": false}'),
        "FORMAT_al_float": with_meta(a, '{"m": "encodec_24khz", "al": 24500.0, "nc": 2, "lm": false}'),
        "FORMAT_al_negative": with_meta(a, '{"m": "encodec_24khz", "al": -5, "nc": 2, "lm": false}'),
        "FORMAT_nc_zero": with_meta(a, '{"m": "encodec_24khz", "al": 24500, "nc": 0, "lm": false}'),
        "FORMAT_lm_string": with_meta(a, '{"m": "encodec_24khz", "al": 24500, "nc": 2, "lm": "no"}'),
        "FORMAT_meta_empty": a[:5] + b"\0\0\0\0" + a[9 + n24:],
        "FORMAT_not_utf8": with_meta(a, '{"m": "encodec_24khz", "al": 24500, "nc": 2, "lm": false}')
        .replace(b"encodec_24khz", b"encodec_\xff4khz"),
        "UNSUPPORTED_lm": with_meta(a, '{"m": "encodec_24khz", "al": 24500, "nc": 2, "lm": true}'),
        "UNSUPPORTED_version": a[:4] + b"\x01" + a[5:],
        "LIMIT_al": with_meta(a, '{"m": "encodec_24khz", "al": 99999999999999999999, "nc": 2, "lm": false}'),
        "LIMIT_al_frames": with_meta(a, '{"m": "encodec_24khz", "al": 4000000000000000, "nc": 2, "lm": false}'),
        "LIMIT_al_segments": with_meta(b, '{"m": "encodec_48khz", "al": 4000000000000000, "nc": 2, "lm": false}'),
        "LIMIT_nc": with_meta(a, '{"m": "encodec_24khz", "al": 24500, "nc": 5000, "lm": false}'),
        "LIMIT_meta": a[:5] + b"\x00\x10\x00\x01" + a[9:],
        "LIMIT_name": with_meta(a, '{"m": "%s", "al": 24500, "nc": 2, "lm": false}' % ("x" * 64)),
        "EMPTY_al": with_meta(a, '{"m": "encodec_24khz", "al": 0, "nc": 2, "lm": false}'),
        "TRUNCATED_al_longer": with_meta(a, '{"m": "encodec_24khz", "al": 30000, "nc": 2, "lm": false}'),
        "FORMAT_al_shorter": with_meta(a, '{"m": "encodec_24khz", "al": 20000, "nc": 2, "lm": false}'),
        "RANGE_nc_above_model": with_meta(b, '{"m": "encodec_48khz", "al": 95100, "nc": 17, "lm": false}'),
        "RANGE_scale_nan": b[:9 + n48] + b"\x7f\xc0\x00\x00" + b[9 + n48 + 4:],
        "RANGE_scale_negative": b[:9 + n48] + b"\xbf\x80\x00\x00" + b[9 + n48 + 4:],
    }
    for name, data in cases.items():
        with open(os.path.join(bad, name + ".ecdc"), "wb") as f:
            f.write(data)
    print(f"fuzz: {len(made)} seeds in {corpus}, {len(cases)} known-bad files in {bad}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encodec-src", required=True, help="a checkout of facebookresearch/encodec")
    ap.add_argument("--out", default=os.path.join(here, "..", "codec", "data", "ecdc"))
    ap.add_argument("--fuzz", default=os.path.join(here, "..", "fuzz"))
    args = ap.parse_args()
    install_torchaudio_stub()
    encodec = R.import_encodec(args.encodec_src)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    made = {}
    for case in CASES:
        made[case[0]] = write_case(encodec, args.out, *case)
    write_fuzz(args.fuzz, made)


if __name__ == "__main__":
    main()
