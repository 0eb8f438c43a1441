#!/usr/bin/env bash
# A held-out evaluation set for `sonotok eval` from a split corpus:
#
#   tools/corpus/make-eval-set.sh CORPUS_DIR OUT_DIR [N_SPEECH]
#
# Reads CORPUS_DIR/heldout.jsonl (tools/corpus/split.sh) and writes WAVs to
# OUT_DIR/speech, OUT_DIR/music and OUT_DIR/effects (the folder is eval's
# category):
#   speech   N_SPEECH (default 100) clips of at least 1 s, evenly spaced over
#            the held-out speech in manifest order (every k-th, k = count / N);
#   music    20 s of every held-out track, from 30 s in;
#   effects  every held-out effect.
# Files are named NNN_<clip name>.wav. Needs jq and sox.
set -eu -o pipefail
src=${1:?usage: make-eval-set.sh CORPUS_DIR OUT_DIR [N_SPEECH]}
out=${2:?usage: make-eval-set.sh CORPUS_DIR OUT_DIR [N_SPEECH]}
n_speech=${3:-100}
man="$src/heldout.jsonl"
[[ -f $man ]] || { echo "make-eval-set.sh: no $man (run split.sh first)" >&2; exit 2; }
mkdir -p "$out/speech" "$out/music" "$out/effects"
take() { # category, jq filter for the entries, then: every STEP-th, at most MAX
    local cat=$1 filter=$2 max=$3 i=0 k=0 step
    local n; n=$(jq -r "select(.category == \"$cat\") | select($filter) | .path" "$man" | wc -l)
    step=$(( n / max )); (( step >= 1 )) || step=1
    jq -r "select(.category == \"$cat\") | select($filter) | .path" "$man" | while IFS= read -r p; do
        if (( k % step == 0 && i < max )); then
            local base; base=$(basename "$p"); base=${base%.*}
            local dst; dst=$(printf '%s/%s/%03d_%s.wav' "$out" "$cat" "$i" "$base")
            if [[ $cat == music ]]; then sox "$src/$p" "$dst" trim 30 20; else sox "$src/$p" "$dst"; fi
            i=$((i + 1))
        fi
        k=$((k + 1))
    done
}
take speech '.duration >= 1.0' "$n_speech"
take music 'true' 1000000
take effects 'true' 1000000
for c in speech music effects; do echo "make-eval-set.sh: $c: $(ls "$out/$c" | wc -l) files" >&2; done
