#!/usr/bin/python3
"""Reference STOI and mel-distance values for tests/metrics/test_metrics.c.

Writes short generated signals (raw 16-bit little-endian PCM, mono, < 1 s)
and the STOI the reference implementation gives for each (reference,
estimate) pair to tests/metrics/data/: the C test reads the same samples
(int16 / 32768) and compares its STOI with these values.

It also writes the mel distance of those pairs, and of a full-level speech
clip against itself plus white noise at -90 and -80 dBFS and against a
4 kHz low-pass (raw float32 files, since 16-bit samples would drown noise
that quiet), computed here with numpy from the definition in
include/sonotok/metrics.h (torchaudio's MelSpectrogram(power=1,
center=False, norm=None, mel_scale="htk") framing and filterbank, each mel
value floored 80 dB below the reference's largest), to mel_ref.txt.

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


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_filterbank(size, rate, n_mels=64):
    """torchaudio.functional.melscale_fbanks(size // 2 + 1, 0, rate / 2, n_mels,
    rate, norm=None, mel_scale="htk"), transposed to [n_mels, n_freqs]."""
    freqs = np.linspace(0, rate // 2, size // 2 + 1)
    m_pts = np.linspace(hz_to_mel(0.0), hz_to_mel(rate / 2.0), n_mels + 2)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).T


def mel_magnitudes(x, size, rate):
    """Mel magnitude spectrogram [frames, 64]: periodic Hann, hop size / 4,
    frames from 0 while they fit (one zero-padded frame if none does)."""
    hop = size // 4
    n_frames = 1 + (len(x) - size) // hop if len(x) >= size else 1
    frames = np.zeros((n_frames, size))
    for i in range(n_frames):
        seg = x[i * hop: i * hop + size]
        frames[i, :len(seg)] = seg
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)
    mag = np.abs(np.fft.rfft(frames * window, axis=1))
    return mag @ mel_filterbank(size, rate).T


def mel_distance(ref, est, rate, range_db=80.0, eps=1e-5):
    total = 0.0
    for size in (512, 1024, 2048):
        a = mel_magnitudes(ref, size, rate)
        b = mel_magnitudes(est, size, rate)
        floor = a.max() * 10.0 ** (-range_db / 20.0)  # magnitudes: 80 dB is a factor 1e4
        a = np.maximum(a, floor)
        b = np.maximum(b, floor)
        total += np.mean(np.abs(np.log(a + eps) - np.log(b + eps)))
    return total / 3.0


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

    # Full-level speech (peak -1 dBFS) plus white noise far below it, and a
    # real degradation; float32 files.
    x = pcm["a"][0]
    x = (x / np.max(np.abs(x)) * 10 ** (-1 / 20)).astype("<f4")
    floats = {"afs": x}
    for db in (90, 80):
        noise = rng.uniform(-1, 1, len(x))
        noise *= 10 ** (-db / 20) / np.sqrt(np.mean(noise ** 2))  # RMS re full scale
        floats["afs_n%d" % db] = (x + noise).astype("<f4")
    taps = np.arange(127) - 63  # 127-tap Hann-windowed sinc, cut-off 4 kHz
    h = 0.5 * np.sinc(0.5 * taps) * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(127) / 126))
    floats["afs_lp4k"] = np.convolve(x, h / h.sum(), mode="same").astype("<f4")
    for name, v in floats.items():
        v.tofile(os.path.join(args.out, name + ".f32"))
        pcm[name] = (v.astype(np.float64), r16)

    mel_pairs = pairs + [("afs", "afs_n90"), ("afs", "afs_n80"), ("afs", "afs_lp4k")]
    lines = ["# mel distance from the numpy reference in tests/ref/make_metric_fixtures.py",
             "# ref est rate n_samples mel   (NAME.s16: int16; NAME.f32: float32; mono, little-endian)"]
    for ref, est in mel_pairs:
        x, rate = pcm[ref]
        y, _ = pcm[est]
        lines.append("%s %s %d %d %.10f" % (ref, est, rate, len(x), mel_distance(x, y, rate)))
        print(lines[-1])
    with open(os.path.join(args.out, "mel_ref.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
