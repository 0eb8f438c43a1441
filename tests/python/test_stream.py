"""Ten minutes of audio through the Python streams in bounded memory: a
codec's StreamEncoder takes 600 one-second blocks made here (a chirp with
noise; never held whole), then a StreamDecoder gives them back block by
block. The process's peak RSS (resource.getrusage) may grow by at most
LIMIT_MIB after the first minute, well under what the ten minutes take as
float32 (18 MiB at 8 kHz, 55 MiB at 24 kHz): a stream that kept its input
or output, or an array per block that was never freed, fails.

    python3 tests/python/test_stream.py [MODEL [SECONDS]]   (environment: see pycommon.py)

MODEL: default "tiny24" (tests/codec/data/tiny24.th: 8 kHz, 1000 frames/s,
fast enough for the default suite); "default" is the slow suite's run.
With SONOTOK_SANITIZED=1 (a sanitizer build: ASan's allocator holds freed
memory in quarantine, so RSS says nothing) the RSS bound is not checked."""

import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pycommon  # noqa: E402,F401  (skips without numpy)

import numpy as np  # noqa: E402

import sonotok  # noqa: E402

MODEL = sys.argv[1] if len(sys.argv) > 1 else "tiny24"
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 600
WARMUP = 60        # seconds of audio before the baseline is taken
LIMIT_MIB = 8


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


def block(codec, i, rng):
    """Second i of the signal: a chirp sweeping from 100 Hz to 0.4 x the rate each minute, plus noise."""
    sr = codec.sample_rate
    t = (np.arange(sr) + i * sr) / sr
    f = 100 + (0.4 * sr - 100) * ((t % 60) / 60)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.02 * rng.standard_normal(sr)
    return np.repeat(x.astype(np.float32)[np.newaxis, :], codec.channels, axis=0)


def main():
    codec = sonotok.Codec.load(pycommon.TINY24 if MODEL == "tiny24" else MODEL, n_threads=1)
    rng = np.random.default_rng(17)
    t0 = time.time()
    enc = codec.encoder()
    base = None
    for i in range(SECONDS):
        if i == WARMUP:
            base = peak_mib()
        enc.push(block(codec, i, rng))
    tokens = enc.finish()
    enc_peak = peak_mib()
    t1 = time.time()
    want_frames = codec.max_frames(SECONDS * codec.sample_rate)
    n, n_blocks, energy = 0, 0, 0.0
    for out in codec.decode_stream(tokens):
        n += out.shape[1]
        n_blocks += 1
        energy += float(np.dot(out[0], out[0]))
    dec_peak = peak_mib()
    t2 = time.time()
    print("%s, %d s of audio: encode %.1f s (%.1fx realtime), decode %.1f s (%.1fx), %d frames; peak RSS %.1f MiB "
          "after %d s, %.1f after encoding, %.1f after decoding (limit: +%d MiB)"
          % (codec.name, SECONDS, t1 - t0, SECONDS / (t1 - t0), t2 - t1, SECONDS / (t2 - t1), tokens.n_frames,
             base or 0, WARMUP, enc_peak, dec_peak, LIMIT_MIB))
    failures = 0

    def check(ok, what):
        nonlocal failures
        if not ok:
            failures += 1
            print("FAIL: " + what)

    check(tokens.n_samples == SECONDS * codec.sample_rate, "tokens hold %d samples" % tokens.n_samples)
    check(0 < tokens.n_frames <= want_frames, "%d frames (at most %d)" % (tokens.n_frames, want_frames))
    check(n == SECONDS * codec.sample_rate, "decoded %d samples, expected %d" % (n, SECONDS * codec.sample_rate))
    check(n_blocks >= SECONDS, "decoded in %d blocks" % n_blocks)
    check(energy / n > 1e-4, "decoded audio is silent (mean square %g)" % (energy / n))
    if os.environ.get("SONOTOK_SANITIZED") == "1":
        print("peak RSS not checked: a sanitizer build (its allocator keeps freed memory)")
    elif base is not None:
        check(enc_peak - base <= LIMIT_MIB, "encoding grew the peak RSS by %.1f MiB" % (enc_peak - base))
        check(dec_peak - base <= LIMIT_MIB, "decoding grew the peak RSS by %.1f MiB" % (dec_peak - base))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
