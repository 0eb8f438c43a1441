#!/usr/bin/python3
"""Are harmonics rendered as harmonics? For voiced frames of reference speech,
the mean power at the harmonics of the reference's pitch over the mean power
half-way between them, in dB, per band (0-1, 1-2, 2-4 kHz), for the reference
and for decoded versions of it.

    scripts/harmonics.py REF_DIR [NAME=DEC_DIR ...]

REF_DIR and every DEC_DIR hold WAV files of the same names (16-bit PCM, mono,
one rate; a decoded file is trimmed to its reference's length). Voiced
frames: 64 ms Hann frames, hop 32 ms, normalised autocorrelation peak above
0.6 at a lag of 90-400 Hz in the reference, and the frame within 30 dB of the
clip's loudest. The pitch is the reference's (parabolic peak), so a decoder
whose pitch drifts loses too. A diagnostic for the model card (issue 13);
needs numpy and scipy (Debian: python3-numpy, python3-scipy), not part of the
program.
"""
import os
import sys

import numpy as np
from scipy.io import wavfile

BANDS = ((0, 1000), (1000, 2000), (2000, 4000))


def read(path):
    rate, x = wavfile.read(path)
    scale = 32768.0 if x.dtype == np.int16 else 2147483648.0 if x.dtype == np.int32 else 1.0
    x = x.astype(np.float64) / scale
    if x.ndim > 1:
        x = x.mean(axis=1)
    return rate, x


def voiced_frames(x, rate):
    """(start, f0) of every voiced frame of x."""
    n = int(0.064 * rate)
    hop = n // 2
    win = np.hanning(n)
    out = []
    if len(x) < n:
        return out, n
    energies = [np.sum((x[s:s + n] * win) ** 2) for s in range(0, len(x) - n + 1, hop)]
    emax = max(energies) if energies else 0
    lo, hi = int(rate / 400), int(rate / 90)
    for i, s in enumerate(range(0, len(x) - n + 1, hop)):
        if energies[i] < emax * 1e-3 or energies[i] <= 0:
            continue
        f = x[s:s + n] - np.mean(x[s:s + n])
        ac = np.correlate(f, f, mode="full")[n - 1:]
        if ac[0] <= 0:
            continue
        ac = ac / ac[0]
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] < 0.6 or k <= lo or k >= hi - 1:
            continue
        a, b, c = ac[k - 1], ac[k], ac[k + 1]
        d = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        out.append((s, rate / (k + d)))
    return out, n


def band_ratios(x, rate, frames, n):
    """Per band: (sum of power at harmonics, sum half-way between)."""
    nfft = 8 * n
    win = np.hanning(n)
    acc = np.zeros((len(BANDS), 2))
    for s, f0 in frames:
        seg = x[s:s + n]
        if len(seg) < n:
            continue
        p = np.abs(np.fft.rfft(seg * win, nfft)) ** 2
        hz = rate / nfft
        for bi, (lo, hi) in enumerate(BANDS):
            h = np.arange(max(1, int(np.ceil(lo / f0))), int(hi / f0) + 1)
            h = h[(h * f0 >= lo) & (h * f0 < hi) & ((h + 0.5) * f0 < rate / 2)]
            if not len(h):
                continue
            acc[bi, 0] += p[np.round(h * f0 / hz).astype(int)].sum()
            acc[bi, 1] += p[np.round((h + 0.5) * f0 / hz).astype(int)].sum()
    return acc


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    ref_dir = argv[1]
    systems = [("original", ref_dir)] + [tuple(a.split("=", 1)) for a in argv[2:]]
    names = sorted(f for f in os.listdir(ref_dir) if f.endswith(".wav"))
    totals = {s: np.zeros((len(BANDS), 2)) for s, _ in systems}
    n_frames = 0
    for name in names:
        rate, ref = read(os.path.join(ref_dir, name))
        frames, n = voiced_frames(ref, rate)
        if not frames:
            continue
        n_frames += len(frames)
        for s, d in systems:
            r2, y = read(os.path.join(d, name))
            if r2 != rate:
                sys.exit("%s: rate %d, reference %d" % (os.path.join(d, name), r2, rate))
            y = np.pad(y[:len(ref)], (0, max(0, len(ref) - len(y))))
            totals[s] += band_ratios(y, rate, frames, n)
    print("%d files, %d voiced frames" % (len(names), n_frames))
    print("%-24s %s" % ("system", "  ".join("%4d-%-4d Hz" % b for b in BANDS)))
    for s, _ in systems:
        t = totals[s]
        print("%-24s %s" % (s, "  ".join("%9.1f dB" % (10 * np.log10(a / b)) if b > 0 else "        -"
                                           for a, b in t)))


if __name__ == "__main__":
    main(sys.argv)
