#!/usr/bin/python3
"""Reference STOI values for tests/metrics/test_metrics.c.

Writes short generated signals (raw 16-bit little-endian PCM, mono, < 1 s)
and the STOI the reference implementation gives for each (reference,
estimate) pair to tests/metrics/data/: the C test reads the same samples
(int16 / 32768) and compares its STOI with these values.

The reference is pystoi (github.com/mpariente/pystoi, v0.4.1), a port of
Taal's MATLAB code; it is not vendored. Run, with Debian's python3
(python3-numpy, python3-scipy):

    git clone https://github.com/mpariente/pystoi /tmp/pystoi-src
    /usr/bin/python3 tests/ref/make_metric_fixtures.py --pystoi /tmp/pystoi-src

Signals are deterministic (fixed seed), so rerunning rewrites the same files.
"""
import argparse
import os
import sys

import numpy as np


def speech_like(n, rate, rng, lead_silence_s=0.1):
    """Voiced-speech stand-in: harmonics of a gliding pitch with formant-like
    weights, syllable-rate (4 Hz) amplitude modulation, a near-silent start."""
    t = np.arange(n) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = np.zeros(n)
    for h in range(1, 25):
        fh = h * f0
        weight = np.exp(-((fh - 500) / 300) ** 2) + 0.6 * np.exp(-((fh - 1500) / 400) ** 2) \
            + 0.3 * np.exp(-((fh - 2500) / 500) ** 2) + 0.02
        x += weight * np.sin(h * phase) * (fh < rate / 2)
    env = 0.5 - 0.5 * np.cos(2 * np.pi * 4 * t)
    x = x * (0.1 + 0.9 * env)
    x += 0.01 * rng.standard_normal(n)  # a little breath noise
    x[: int(lead_silence_s * rate)] = 1e-4 * rng.standard_normal(int(lead_silence_s * rate))
    return 0.3 * x / np.max(np.abs(x))


def am_noise(n, rate, rng):
    """Noise-like source: white noise, 3 Hz amplitude modulation, tilt."""
    t = np.arange(n) / rate
    w = rng.standard_normal(n)
    w = np.convolve(w, [0.5, 0.3, 0.2], mode="same")
    x = w * (0.2 + 0.8 * (0.5 - 0.5 * np.cos(2 * np.pi * 3 * t)))
    return 0.25 * x / np.max(np.abs(x))


def add_noise(x, snr_db, rng):
    noise = rng.standard_normal(len(x))
    gain = np.sqrt(np.sum(x ** 2) / (np.sum(noise ** 2) * 10 ** (snr_db / 10)))
    return x + gain * noise


def lowpass(x, rate, cutoff):
    from scipy.signal import butter, lfilter
    b, a = butter(4, cutoff / (rate / 2))
    return lfilter(b, a, x)


def quantise(x):
    return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pystoi", required=True, help="folder holding the pystoi package (a checkout)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "metrics", "data"))
    args = ap.parse_args()
    sys.path.insert(0, args.pystoi)
    from pystoi import stoi  # noqa: E402

    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20111)
    signals = {}
    r16 = 16000
    n16 = int(0.75 * r16)
    a = speech_like(n16, r16, rng)
    signals["a"] = (a, r16)
    signals["a_n5"] = (add_noise(a, 5, rng), r16)
    signals["a_nm5"] = (add_noise(a, -5, rng), r16)
    signals["a_lp"] = (lowpass(a, r16, 1000), r16)
    b = am_noise(n16, r16, rng)
    signals["b"] = (b, r16)
    signals["b_n0"] = (add_noise(b, 0, rng), r16)
    r22 = 22050  # an awkward ratio for the resampler: 10000/22050 = 200/441
    n22 = int(0.5 * r22)
    c = speech_like(n22, r22, rng, lead_silence_s=0.02)
    signals["c22"] = (c, r22)
    signals["c22_n0"] = (add_noise(c, 0, rng), r22)

    pcm = {}
    for name, (x, rate) in signals.items():
        q = quantise(x)
        q.tofile(os.path.join(args.out, name + ".s16"))
        pcm[name] = (q.astype(np.float64) / 32768.0, rate)

    pairs = [("a", "a"), ("a", "a_n5"), ("a", "a_nm5"), ("a", "a_lp"),
             ("b", "b_n0"), ("b_n0", "b"), ("c22", "c22_n0")]
    lines = ["# STOI reference values from pystoi 0.4.1 (tests/ref/make_metric_fixtures.py)",
             "# ref est rate n_samples stoi   (files NAME.s16: mono int16 little-endian)"]
    for ref, est in pairs:
        x, rate = pcm[ref]
        y, _ = pcm[est]
        d = stoi(x, y, rate, extended=False)
        lines.append("%s %s %d %d %.10f" % (ref, est, rate, len(x), d))
        print(lines[-1])
    with open(os.path.join(args.out, "stoi_ref.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
