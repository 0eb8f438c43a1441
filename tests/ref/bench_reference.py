#!/usr/bin/env python3
"""Time the reference EnCodec (PyTorch, CPU) the way `sonotok bench` times
sonotok: model loading from a checkpoint file, then encode and decode of a
deterministic test signal, at one bandwidth, on N threads.

usage: /usr/bin/python3 tests/ref/bench_reference.py --encodec CHECKOUT --model FILE.th --config FILE.json
           [--seconds 10] [--bandwidth 6] [--threads 2] [--json]

FILE.th is a state_dict (e.g. written by make_codec_fixtures.py --full, or the
official encodec_24khz-d7cc33bc.th with the matching config)."""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encodec_ref as R  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--encodec", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bandwidth", type=float, default=6.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    encodec = R.import_encodec(a.encodec)
    cfg = json.load(open(a.config))
    sr, ch = cfg["sample_rate"], cfg["channels"]
    n = int(a.seconds * sr)
    t = np.arange(n) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * np.sin(2 * np.pi * 3000 * t * t / a.seconds)
                  for c in range(ch)]).astype(np.float32)
    x = torch.from_numpy(x)[None]

    def load():
        m = R.build_model(encodec, cfg)
        m.load_state_dict(torch.load(a.model, map_location="cpu"))
        m.set_target_bandwidth(a.bandwidth)
        return m.eval()

    t0 = time.perf_counter()
    model = load()
    t1 = time.perf_counter()
    with torch.no_grad():
        frames = model.encode(x)
    t2 = time.perf_counter()
    model2 = load()
    t3 = time.perf_counter()
    with torch.no_grad():
        y = model2.decode(frames)
    t4 = time.perf_counter()
    enc = (t1 - t0) + (t2 - t1)
    dec = (t3 - t2) + (t4 - t3)
    r = {"impl": "pytorch-reference", "torch": torch.__version__, "threads": a.threads, "seconds": a.seconds,
         "bandwidth": a.bandwidth, "load_s": t1 - t0, "encode_s": t2 - t1, "decode_s": t4 - t3,
         "encode_x_realtime": a.seconds / enc, "decode_x_realtime": a.seconds / dec, "out_samples": y.shape[-1]}
    if a.json:
        print(json.dumps(r))
    else:
        print("reference (PyTorch %s, %d threads): load %.3f s, encode %.3f s, decode %.3f s; "
              "tokenize %.1fx realtime, detokenize %.1fx realtime (model loading included)"
              % (torch.__version__, a.threads, r["load_s"], r["encode_s"], r["decode_s"],
                 r["encode_x_realtime"], r["decode_x_realtime"]))


if __name__ == "__main__":
    main()
