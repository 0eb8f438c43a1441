#!/bin/sh
# CLI test of the codes hash: a tiny train-codec run exported before an
# unfrozen step (early/), at the freeze (freeze/) and after frozen steps
# (final/), all as tc.safetensors. Token files, a coder model and an LM made
# with the export at the freeze work with the final one (detokenize,
# tokenize --coder model, generate, train-lm and train-coder resumes); the
# export with another encoder is refused by each, with one line.
#
#   test_codeshash.sh SONOTOK FIXTURE SOURCE_ROOT
TEST_NAME=cli-codeshash
. "$(dirname "$0")/../sh_common.sh"
SONOTOK=$(abs "$1")
FIX=$(abs "$2")

present() { [ -s "$1" ]; }
err_has() { grep -q -- "$1" "$W/err"; }
no_temps() { [ -z "$(find "$1" -name '*.sonotok-*' -o -name '*.tmp.*' 2>/dev/null)" ]; }
F() { "$FIX" "$@" || { echo "fixture failed: $*"; exit 1; }; }
coder_of() { od -An -tu1 -j20 -N1 "$1" | tr -d ' '; }

cd "$W" || exit 1
F wav a.wav 1 8000 1 300
F wav b.wav 1.5 8000 1 500
F wav c.wav 1 8000 1 900
F wav p.wav 0.0125 8000 1 440   # 100 samples: 12 whole frames
printf '{"path":"a.wav","category":"speech","duration":1,"text":"one two"}\n{"path":"b.wav","category":"music","duration":1.5,"caption":"a low hum"}\n{"path":"c.wav","category":"effects","duration":1,"caption":"a beep"}\n' >m.jsonl
mkdir early freeze final cm || exit 1
T="$SONOTOK train-codec -q -o run --manifest m.jsonl -t 1 --crop 0.3 --batch 2 --steps 20 --adv-start -1"
X="$SONOTOK train-codec -q -o run --manifest m.jsonl --run-steps 0 --export"
run 0 "a tiny codec: 2 steps" $T --rate 8000 --filters 2 --ratios 4,2 --dimension 8 --codebooks 4 \
    --codebook-size 32 --bandwidths 5,10,20 --run-steps 2 || exit 1
run 0 "export before an unfrozen step" $X early/tc.safetensors || exit 1
run 0 "an unfrozen step" $T --run-steps 1 || exit 1
run 0 "export at the freeze" $X freeze/tc.safetensors || exit 1
run 0 "frozen steps" $T --run-steps 2 --freeze-encoder || exit 1
run 0 "export after them" $X final/tc.safetensors || exit 1
expect "the decoder trained" sh -c '! cmp -s freeze/tc.safetensors final/tc.safetensors'

# token files
run 0 "tokens at the freeze" "$SONOTOK" tokenize -q -m freeze/tc.safetensors -b 20 a.wav -o a.tok
run 0 "decode with the final export" "$SONOTOK" detokenize -q -m final/tc.safetensors a.tok -o a-final.wav
expect "decoded" present a-final.wav
run 0 "and with the export at the freeze" "$SONOTOK" detokenize -q -m freeze/tc.safetensors a.tok -o a-freeze.wav
expect "the two decoders differ" sh -c '! cmp -s a-final.wav a-freeze.wav'
run 2 "another encoder refuses them" "$SONOTOK" detokenize -q -m early/tc.safetensors a.tok -o x.wav
expect "another encoder: one line" one_line_err
expect "another encoder: names both models" err_has 'made by model "tc" (hash [0-9a-f]*...), not by "tc"'

# a coder model made for the export at the freeze, found by name beside the codec
run 0 "train-coder for the export at the freeze" "$SONOTOK" train-coder -q -o crun --manifest m.jsonl \
    --codec freeze/tc.safetensors -t 1 --lags 1 --emb 16 --hidden 16 --hidden2 16 --batch 8 --steps 2 --run-steps 1
run 0 "train-coder resumes with the final export" "$SONOTOK" train-coder -q -o crun --manifest m.jsonl \
    --codec final/tc.safetensors -t 1 --export cm/tc.coder
run 2 "train-coder refuses another encoder" "$SONOTOK" train-coder -q -o crun --manifest m.jsonl \
    --codec early/tc.safetensors -t 1
expect "train-coder, another encoder: one line" one_line_err
export SONOTOK_MODEL_PATH="$W/cm"
run 0 "tokenize --coder model with the final export" "$SONOTOK" tokenize -q -m final/tc.safetensors --coder model \
    -b 20 a.wav -o am.tok
expect "model-coded" [ "$(coder_of am.tok)" = 3 ]
run 0 "which decodes" "$SONOTOK" detokenize -q -m final/tc.safetensors am.tok -o am.wav
expect "the same audio as the other coders'" cmp -s am.wav a-final.wav
run 4 "--coder model with another encoder" "$SONOTOK" tokenize -q -m early/tc.safetensors --coder model \
    -b 20 a.wav -o x.tok
expect "--coder model, another encoder: named" err_has "made for other weights of codec tc"
unset SONOTOK_MODEL_PATH

# an LM made for the export at the freeze
L="$SONOTOK train-lm -q -o lrun --manifest m.jsonl -t 1"
run 0 "train-lm for the export at the freeze" $L --codec freeze/tc.safetensors --vocab 300 --layers 1 --width 16 \
    --heads 2 --context 32 --batch 2 --steps 3 --run-steps 1 --export lm.safetensors
G="$SONOTOK generate -q -m lm.safetensors --task continue --prompt p.wav -d 0.01 --min-duration 0.01 -t 1"
run 0 "generate with the final export" $G --codec final/tc.safetensors -o g.wav
expect "generated" present g.wav
run 4 "generate with another encoder" $G --codec early/tc.safetensors -o x.wav
expect "generate, another encoder: one line" one_line_err
expect "generate, another encoder: names both" err_has 'trained for codec "tc" (hash [0-9a-f]*...), not codec "tc"'
run 0 "train-lm resumes with the final export" $L --codec final/tc.safetensors --run-steps 1
run 2 "train-lm refuses another encoder" $L --codec early/tc.safetensors --run-steps 1
expect "train-lm, another encoder: one line" one_line_err
expect "nothing refused wrote anything" sh -c '[ ! -e x.wav ] && [ ! -e x.tok ]'
expect "no temporary files" no_temps "$W"

echo "cli-codeshash: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
