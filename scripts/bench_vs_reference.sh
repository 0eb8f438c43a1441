#!/bin/sh
# sonotok vs the PyTorch reference EnCodec, same machine, same run, same model
# file (the full-size 24 kHz architecture; random weights unless MODEL points at
# a real checkpoint with a CONFIG). Model loading included on both sides.
#
#   scripts/bench_vs_reference.sh ENCODEC_CHECKOUT [SECONDS] [THREADS] [KBPS]
#
# Needs /usr/bin/python3 with python3-torch (Debian) and a built build/.
set -eu
cd "$(dirname "$0")/.."
ref=$1
secs=${2:-10}
threads=${3:-2}
kbps=${4:-6}
work=${BENCH_DIR:-/tmp/sonotok-bench}
mkdir -p "$work"
if [ -z "${MODEL:-}" ]; then
    if [ ! -f "$work/full24.th" ]; then
        /usr/bin/python3 tests/ref/make_codec_fixtures.py --encodec "$ref" --full --out "$work" --seconds 1 >/dev/null
    fi
    MODEL=$work/full24.th
    CONFIG=$work/full24.json
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "model: $MODEL, $secs s of audio, $kbps kbps, $threads threads"
build/tools/sonotok bench -m "$MODEL" -t "$threads" -s "$secs" -b "$kbps"
/usr/bin/python3 tests/ref/bench_reference.py --encodec "$ref" --model "$MODEL" --config "$CONFIG" \
    --seconds "$secs" --threads "$threads" --bandwidth "$kbps"
