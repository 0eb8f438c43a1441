#!/bin/sh
# Slow suite: the full-size EnCodec 24 kHz and 48 kHz architectures with random
# weights against the reference implementation. Needs Debian's python3-torch
# and a facebookresearch/encodec checkout named by SONO_ENCODEC_REF; skips
# (exit 77) when either is missing.
# usage: full_ref.sh TEST_CODEC_REF_BINARY FIXTURE_SCRIPT
set -eu
bin=$1
script=$2
py=/usr/bin/python3
if [ -z "${SONO_ENCODEC_REF:-}" ] || [ ! -d "${SONO_ENCODEC_REF}/encodec" ]; then
    echo "SONO_ENCODEC_REF does not point at an encodec checkout: skipped"
    exit 77
fi
if ! $py -c 'import torch' 2>/dev/null; then
    echo "python3-torch is not installed: skipped"
    exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
$py "$script" --encodec "$SONO_ENCODEC_REF" --full --out "$dir" --seconds "${SONO_FULL_SECONDS:-2.5}"
rc=0
"$bin" "$dir" full24 "${SONO_FULL_TOL:-1e-4}" || rc=1
"$bin" "$dir" full48 "${SONO_FULL_TOL:-1e-4}" || rc=1
exit $rc
