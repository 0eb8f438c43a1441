#!/bin/sh
# CLI test of the model coder (token-file coder 3) with the tiny test codec
# tiny24 (8 codebooks of 64): train-coder makes a coder model for it (a run
# with held-out bits, resume, the export); tokenize --coder with the model
# found by the codec's name (SONOTOK_MODEL_PATH), files and archives, the
# summary line's nominal rate; detokenize and archives with and without the
# model (missing: one line naming it, exit 4); a model of other weights; bad
# options. Inputs are never changed, no temporary file is left.
#
#   test_coder.sh SONOTOK FIXTURE SOURCE_ROOT
TEST_NAME=cli-coder
. "$(dirname "$0")/../sh_common.sh"
SONOTOK=$(abs "$1")
FIX=$(abs "$2")
SRC=$(abs "$3")
C24=$SRC/tests/codec/data/tiny24.th

present() { [ -s "$1" ]; }
absent() { [ ! -e "$1" ]; }
err_has() { grep -q -- "$1" "$W/err"; }
out_has() { grep -q -- "$1" "$W/out"; }
no_temps() { [ -z "$(find "$1" -name '*.sonotok-*' -o -name '*.tmp.*' 2>/dev/null)" ]; }
F() { "$FIX" "$@" || { echo "fixture failed: $*"; exit 1; }; }
# the coder byte (offset 20) and minor version (offset 6) of a token file
coder_of() { od -An -tu1 -j20 -N1 "$1" | tr -d ' '; }
minor_of() { od -An -tu1 -j6 -N1 "$1" | tr -d ' '; }

cd "$W" || exit 1
F wav a.wav 1 8000 1 300
F wav b.wav 1.5 8000 1 500
F wav c.wav 1 8000 1 900
F wav d.wav 0.7 8000 1 700
printf '{"path":"a.wav","category":"speech","duration":1}\n{"path":"b.wav","category":"music","duration":1.5}\n{"path":"c.wav","category":"effects","duration":1}\n' >m.jsonl
printf '{"path":"d.wav","category":"speech","duration":0.7}\n' >h.jsonl
cp m.jsonl m.keep

T="$SONOTOK train-coder -o run --manifest m.jsonl --heldout h.jsonl --codec $C24 -t 1 --log-every 1 --lags 2 --emb 16 --hidden 16 --hidden2 16 --batch 32 --steps 40"
run 0 "train-coder: a new tiny run" $T --run-steps 4 --eval-every 2
expect "start line" err_has "model for tiny24: 8 codebooks of 64, 2 past frames, embeddings 16, hidden 16 and 16"
expect "checkpoint and shards" present run/checkpoint.safetensors
expect "held-out shards" present run/heldout.shard
expect "a CSV row per step" [ "$(wc -l <run/train.csv)" -eq 5 ]
expect "bits per codebook in the CSV" grep -q '^step,bits,bits_cb0,bits_cb1,.*,bits_cb7,grad_norm,lr,frames_per_s,cpu_hours' run/train.csv
expect "eval.csv: float and int rows every 2 steps" [ "$(grep -c ',int,' run/eval.csv)" -eq 2 ]
expect "eval.csv: per category" grep -q '^step,model,bits,bits_cb0,.*,speech,music,effects,other,codes' run/eval.csv
mkdir cm
run 0 "resume and export" $T --run-steps 40 --export cm/tiny24.coder
expect "resume: noted" err_has "resuming from run/checkpoint.safetensors"
expect "resume: at step 4" err_has "(at 4)"
expect "the export" present cm/tiny24.coder
expect "the manifest is unchanged" cmp -s m.jsonl m.keep
run 0 "done: nothing more to train" $T --export cm/again.coder
expect "the same weights export the same file" cmp -s cm/tiny24.coder cm/again.coder
rm cm/again.coder

export SONOTOK_MODEL_PATH="$W/cm"
K="$SONOTOK tokenize -m $C24 -b 48"
run 0 "tokenize --coder model" $K --coder model a.wav -o am.tok
expect "coder 3" [ "$(coder_of am.tok)" = 3 ]
expect "version 1.1" [ "$(minor_of am.tok)" = 1 ]
expect "summary: kbps on disk and nominal" err_has "kbps on disk (48.00 nominal)"
run 0 "tokenize --coder range" $K --coder range a.wav -o ar.tok
expect "coder 2, version 1.0" [ "$(coder_of ar.tok)$(minor_of ar.tok)" = 20 ]
run 0 "tokenize --coder packed" $K --coder packed a.wav -o ap.tok
expect "coder 0" [ "$(coder_of ap.tok)" = 0 ]
run 0 "tokenize (auto)" $K a.wav -o aa.tok
sz() { wc -c <"$1"; }
smallest=$(for f in am.tok ar.tok ap.tok; do sz $f; done | sort -n | head -n 1)
expect "auto: no larger than the smallest of model, range, packed" [ "$(sz aa.tok)" -le "$smallest" ]
run 0 "detokenize a model-coded file" "$SONOTOK" detokenize -m $C24 am.tok -o am.wav
run 0 "the range-coded one" "$SONOTOK" detokenize -m $C24 ar.tok -o ar.wav
expect "the same audio from both" cmp -s am.wav ar.wav
run 0 "--list reads it" "$SONOTOK" detokenize --list am.tok
run 0 "a folder into an archive, model coder" "$SONOTOK" tokenize -m $C24 --coder model -b 48 . -o all.sta
run 0 "the archive restores" "$SONOTOK" detokenize -m $C24 all.sta -o restored
expect "restored: an entry" present restored/a.wav
expect "restored: the same audio" cmp -s restored/a.wav am.wav

unset SONOTOK_MODEL_PATH
run 4 "detokenize without the model" "$SONOTOK" detokenize -m $C24 am.tok -o x.wav
expect "missing model: one line" one_line_err
expect "missing model: names the codec and the hash" err_has 'coded with coder model [0-9a-f]* of codec "tiny24", which is not present'
expect "missing model: no output" absent x.wav
run 4 "--verify without the model" "$SONOTOK" detokenize --verify am.tok
run 4 "--coder model for a codec without a coder model" $K --coder model a.wav -o y.tok
expect "no coder model: one line" one_line_err
expect "no coder model: names the codec" err_has "codec tiny24 has no coder model"
expect "no coder model: no output" absent y.tok
run 0 "auto falls back to the other coders" $K a.wav -o ab.tok
expect "auto without a model: not coder 3" [ "$(coder_of ab.tok)" != 3 ]
run 4 "the archive: the model-coded entries fail, exit 4" "$SONOTOK" detokenize -m $C24 all.sta -o restored2

# a coder model of another codec's weights under the same name: not used by auto, refused by --coder model
mkdir other
cp "$SRC/tests/codec/data/tiny24.json" other.json
run 0 "another codec of the same name" "$SONOTOK" train-codec -q -o orun --manifest m.jsonl --config other.json -t 1 --run-steps 0 --export other/tiny24.safetensors
run 0 "its coder model" "$SONOTOK" train-coder -q -o orun2 --manifest m.jsonl --codec other/tiny24.safetensors -t 1 --lags 1 --emb 16 --hidden 16 --hidden2 16 --batch 8 --steps 1 --export other/tiny24.coder
export SONOTOK_MODEL_PATH="$W/other"
run 4 "--coder model: made for other weights" $K --coder model a.wav -o z.tok
expect "other weights: named" err_has "made for other weights of codec tiny24"
run 0 "auto: not used, said" $K a.wav -o az.tok
expect "auto: noted" err_has "made for other weights of codec tiny24, not used"
run 4 "a file coded with the first model, another model beside the codec" "$SONOTOK" detokenize -m $C24 am.tok -o x.wav
expect "another model: names the file found" err_has "other/tiny24.coder is"
unset SONOTOK_MODEL_PATH

run 1 "--coder with an unknown name" $K --coder arithmetic a.wav -o u.tok
expect "unknown coder: named" err_has "--coder is auto, model, range, zstd or packed, not 'arithmetic'"
run 1 "--coder with --format npy" $K --coder model -f npy a.wav -o u.npy
run 1 "train-coder: widths not multiples of 16" $T -o r2 --hidden 20
run 2 "train-coder: an empty manifest" "$SONOTOK" train-coder -o r3 --manifest /dev/null --codec $C24
run 4 "train-coder: no such codec" "$SONOTOK" train-coder -o r4 --manifest m.jsonl --codec nosuch.th
expect "no temporary files" no_temps "$W"

echo "cli-coder: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
