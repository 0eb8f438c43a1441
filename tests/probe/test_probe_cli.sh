#!/bin/sh
# The train-probe and probe commands on generated audio through the tiny
# test codec (8 kHz): two trivially separable classes (a loud sine vs a
# quiet chirp),
# trained from a manifest, scored on held-out clips in a folder-per-class
# layout; the same inputs give the same probe file; another codec's probe is
# refused; bad input gets one line and the documented exit code; nothing is
# left behind.
#
#   test_probe_cli.sh SONOTOK FIXTURE SOURCE_ROOT
TEST_NAME=probe-cli
. "$(dirname "$0")/../sh_common.sh"
SONOTOK=$(abs "$1")
FIX=$(abs "$2")
SRC=$(abs "$3")
M24=$SRC/tests/codec/data/tiny24.th
M48=$SRC/tests/codec/data/tiny48.th
MIN_ACCURACY=0.9

differ() { ! cmp -s "$1" "$2"; }
err_has() { grep -q -- "$1" "$W/err"; }
no_temps() { [ -z "$(find "$1" -name '*.sonotok-*' 2>/dev/null)" ]; }
# the accuracy printed in $W/out is at least $1
accuracy_at_least() { awk -v min="$1" '/^accuracy / { found = 1; ok = ($2 + 0 >= min) } END { exit !(found && ok) }' "$W/out"; }

# training clips (manifest) and held-out clips (folders named after the
# classes): "tone" is a 0.3 sine of 110-3120 Hz (plus the fixture's quiet
# chirp), "quiet" the chirp alone, of several lengths
mkdir -p "$W/train/a" "$W/held/tone" "$W/held/quiet"
: >"$W/train/m.jsonl"
for f in 110 150 190 230 270 310 350 390; do
    "$FIX" wav "$W/train/a/tone$f.wav" 0.3 8000 1 "$f" || exit 1
    "$FIX" wav "$W/train/a/tone${f}b.wav" 0.3 8000 1 "$((f * 8))" || exit 1
    "$FIX" wav "$W/train/a/quiet$f.wav" "0.$((f / 10))" 8000 1 0 || exit 1
    echo "{\"path\": \"a/tone$f.wav\", \"category\": \"tone\"}" >>"$W/train/m.jsonl"
    echo "{\"path\": \"a/tone${f}b.wav\", \"category\": \"tone\"}" >>"$W/train/m.jsonl"
    echo "{\"path\": \"a/quiet$f.wav\", \"category\": \"quiet\"}" >>"$W/train/m.jsonl"
done
for f in 130 170 250 330 370; do
    "$FIX" wav "$W/held/tone/$f.wav" 0.3 8000 1 "$((f * 3))" || exit 1
    "$FIX" wav "$W/held/quiet/$f.wav" "0.$((f / 10 + 1))" 8000 1 0 || exit 1
done

run 0 "train-probe" "$SONOTOK" train-probe -q -t 1 -m "$M24" --min-class 2 -o "$W/p.probe" "$W/train/m.jsonl"
run 0 "train-probe again" "$SONOTOK" train-probe -q -t 1 -m "$M24" --min-class 2 -o "$W/p2.probe" "$W/train/m.jsonl"
expect "the same inputs give the same probe" cmp -s "$W/p.probe" "$W/p2.probe"
run 0 "probe on held-out folders" "$SONOTOK" probe -q -t 1 -p "$W/p.probe" -m "$M24" "$W/held"
expect "held-out accuracy >= $MIN_ACCURACY on separable classes" accuracy_at_least "$MIN_ACCURACY"
expect "one line per file" [ "$(grep -c '\.wav	' "$W/out")" -eq 10 ]
run 0 "probe --csv from a manifest" "$SONOTOK" probe -q -t 1 -p "$W/p.probe" -m "$M24" --csv --manifest "$W/train/m.jsonl"
expect "csv header with every class" grep -q '^path,truth,class,p_quiet,p_tone$' "$W/out"
expect "csv has a row per clip" [ "$(grep -c '\.wav"' "$W/out")" -eq 24 ]
expect "csv accuracy report on stderr" grep -q '^accuracy ' "$W/err"
cp "$W/held/tone/130.wav" "$W/say\"hi\".wav"
run 0 "probe --csv of a name with quotes" "$SONOTOK" probe -q -t 1 -p "$W/p.probe" -m "$M24" --csv "$W/say\"hi\".wav"
expect "csv doubles the quotes in a path" grep -q 'say""hi"".wav",,tone,' "$W/out"
run 0 "training with mean features" "$SONOTOK" train-probe -q -t 1 -m "$M24" --features mean --min-class 2 -o "$W/pm.probe" "$W/train/m.jsonl"
expect "mean and mean_std probes differ" differ "$W/p.probe" "$W/pm.probe"

# another codec's probe is refused
run 4 "probe with another codec" "$SONOTOK" probe -q -t 1 -p "$W/p.probe" -m "$M48" "$W/held"
expect "one line: trained on another codec" one_line_err
expect "the refusal names the codec" err_has "trained on codec"

# bad input: one line, documented exit codes, nothing left behind
run 1 "probe without -p" "$SONOTOK" probe -m "$M24" "$W/held"
run 1 "train-probe without -o" "$SONOTOK" train-probe -m "$M24" "$W/train/m.jsonl"
run 1 "train-probe with a bad --labels" "$SONOTOK" train-probe -m "$M24" --labels colour -o "$W/x.probe" "$W/train/m.jsonl"
run 1 "train-probe with a bad --features" "$SONOTOK" train-probe -m "$M24" --features median -o "$W/x.probe" "$W/train/m.jsonl"
printf 'not a probe at all\n' >"$W/garbage.probe"
run 4 "a file that is not a probe" "$SONOTOK" probe -q -p "$W/garbage.probe" -m "$M24" "$W/held"
expect "one line for a bad probe file" one_line_err
run 4 "a codec file as the probe" "$SONOTOK" probe -q -p "$M24" -m "$M24" "$W/held"
expect "one line for a codec as probe" one_line_err
head -c 200 "$W/p.probe" >"$W/trunc.probe"
run 4 "a truncated probe" "$SONOTOK" probe -q -p "$W/trunc.probe" -m "$M24" "$W/held"
expect "one line for a truncated probe" one_line_err
printf 'RIFF????WAVEjunk' >"$W/notaudio.wav"
run 2 "a file that is not audio" "$SONOTOK" probe -q -p "$W/p.probe" -m "$M24" "$W/notaudio.wav"
expect "one line for a non-audio file" one_line_err
printf '{"path": "a/quiet110.wav"}\n' >"$W/train/nocat.jsonl"
run 2 "a manifest line without a category" "$SONOTOK" train-probe -q -m "$M24" -o "$W/x.probe" "$W/train/nocat.jsonl"
expect "one line for a bad manifest" one_line_err
expect "no probe written on failure" [ ! -e "$W/x.probe" ]
grep quiet "$W/train/m.jsonl" >"$W/train/one.jsonl"
run 2 "a manifest of one class" "$SONOTOK" train-probe -q -m "$M24" --min-class 2 -o "$W/x.probe" "$W/train/one.jsonl"
expect "one line for one class" one_line_err
run 2 "the probe written over its manifest" "$SONOTOK" train-probe -q -m "$M24" -o "$W/train/m.jsonl" "$W/train/m.jsonl"
expect "the manifest is untouched" grep -q 'quiet110' "$W/train/m.jsonl"
cp "$W/train/m.jsonl" "$W/train/gap.jsonl"
echo '{"path": "a/gone.wav", "category": "tone"}' >>"$W/train/gap.jsonl"
run 2 "a manifest naming a missing clip" "$SONOTOK" train-probe -q -t 1 -m "$M24" --min-class 2 -o "$W/x.probe" "$W/train/gap.jsonl"
expect "one line for a missing clip" one_line_err
expect "no probe written when a clip is missing" [ ! -e "$W/x.probe" ]
run 0 "--skip-bad goes past a missing clip" "$SONOTOK" train-probe -t 1 -m "$M24" --min-class 2 --skip-bad -o "$W/x.probe" "$W/train/gap.jsonl"
expect "the skip is noted" err_has "1 clips skipped"
expect "skipping the missing clip gives the probe of the others" cmp -s "$W/x.probe" "$W/p.probe"
rm -f "$W/x.probe"
run 2 "a missing manifest" "$SONOTOK" train-probe -q -m "$M24" -o "$W/x.probe" "$W/train/absent.jsonl"
expect "no temporaries left" no_temps "$W"

echo "probe-cli: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
