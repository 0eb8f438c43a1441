#!/bin/sh
# Training speed: sonotok train-codec vs the PyTorch reference (EnCodec's
# SEANet + RVQ, tests/ref/train_step_ref.py), same machine, same run, same
# small config (24 kHz mono, 16 filters, no LSTM, 8 x 1024 codes, all 8 used),
# same batch (8 x 1 s crops of a noise-and-tones signal), same losses
# (0.1 L1 + multi-scale mel + commitment), AdamW, no discriminator.
#
#   scripts/bench_train_vs_reference.sh ENCODEC_CHECKOUT [STEPS] [THREADS]
#
# Prints audio seconds trained per wall second for each side
# (`sonotok bench --train` for sonotok). The first 2 steps (codebook init,
# warm-up) are not timed on either side. Needs
# /usr/bin/python3 with python3-torch and python3-torchaudio, and build/.
set -eu
cd "$(dirname "$0")/.."
ref=$1
steps=${2:-20}
threads=${3:-2}
work=${BENCH_DIR:-/tmp/sonotok-train-bench}
mkdir -p "$work"
if [ ! -f "$work/signal.wav" ]; then
    /usr/bin/python3 - "$work/signal.wav" <<'PY'
import sys, wave
import numpy as np
rng = np.random.default_rng(1)
sr, n = 24000, 24000 * 60
t = np.arange(n) / sr
x = 0.1 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * (220 + 200 * np.sin(t)) * t)
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(sr)
    w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
PY
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "config: 24 kHz mono, 16 filters, no LSTM, 8 x 1024 codes (no dropout), batch 8 x 1 s, $threads threads, $steps timed steps"
build/tools/sonotok bench --train --steps "$steps" -t "$threads"
/usr/bin/python3 tests/ref/train_step_ref.py --encodec "$ref" --threads "$threads" --steps $((steps + 2)) \
    --batch 8 --seconds 1.0 --wav "$work/signal.wav"
