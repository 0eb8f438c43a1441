#!/bin/sh
# CLI test of EnCodec's .ecdc: tokenize -f ecdc (or a .ecdc OUTPUT) and
# detokenize of a .ecdc (found by its magic) give the audio the .tok path
# gives, with the tiny 24 kHz-like model (one segment) and the tiny 48 kHz-like
# one (segments with scales); the model comes from the file's name or -m;
# damaged, LM-coded and absurd files fail with one line, exit 2, and leave
# nothing behind; an unknown model name is exit 4.
#
#   test_ecdc.sh SONOTOK FIXTURE SOURCE_ROOT
TEST_NAME=cli-ecdc
. "$(dirname "$0")/../sh_common.sh"
SONOTOK=$(abs "$1")
FIX=$(abs "$2")
SRC=$(abs "$3")
DATA=$SRC/tests/codec/data
if [ ! -f "$DATA/tiny24.th" ] || [ ! -f "$DATA/tiny48.th" ]; then
    echo "no tests/codec/data/tiny24.th or tiny48.th: skipped"
    exit 77
fi
S=$SONOTOK
F() { "$FIX" "$@" || { echo "fixture failed: $*"; exit 1; }; }
absent() { [ ! -e "$1" ]; }
err_has() { grep -q -- "$1" "$W/err"; }
no_temps() { [ -z "$(find "$1" -name '*.sonotok-*' 2>/dev/null)" ]; }
magic_is() { [ "$(head -c 4 "$1")" = "ECDC" ]; }
# No model folder but the ones given: a name in a file finds nothing by chance.
NOMODELS="env -u SONOTOK_MODEL_PATH HOME=$W/home XDG_DATA_HOME=$W/home"

# mk_ecdc OUT JSON FROM: a .ecdc with metadata JSON (under 256 bytes) and
# the codes of the .ecdc FROM (whose metadata is under 256 bytes too)
mk_ecdc() {
    skip=$(od -An -tu1 -j8 -N1 "$3" | tr -d ' ')
    {
        printf 'ECDC\000\000\000\000'
        printf "\\$(printf '%03o' "${#2}")"
        printf '%s' "$2"
        tail -c +$((10 + skip)) "$3"
    } > "$1"
}
# bad EXIT DESC FILE: detokenize FILE with tiny24 fails with EXIT, one line, no output
bad() {
    run "$1" "$2" "$S" detokenize -m "$DATA/tiny24.th" "$3" -o bad.wav
    expect "$2: one line" one_line_err
    expect "$2: no output" absent bad.wav
}

cd "$W" || exit 1
F wav mono.wav 1.3 8000 1
F wav stereo.wav 0.77 8000 2

for m in 24 48; do
    M=$DATA/tiny$m.th
    if [ $m = 24 ]; then IN=mono.wav; BW=24; else IN=stereo.wav; BW=19.2; fi
    run 0 "tiny$m: tokenize -f ecdc" "$S" tokenize -q -m "$M" -b $BW -f ecdc $IN -o t$m.bin
    expect "tiny$m: ECDC magic" magic_is t$m.bin
    run 0 "tiny$m: tokenize to .ecdc by extension" "$S" tokenize -q -m "$M" -b $BW $IN -o t$m.ecdc
    expect "tiny$m: same bytes" cmp -s t$m.ecdc t$m.bin
    run 0 "tiny$m: tokenize -f ecdc -o -" "$S" tokenize -q -m "$M" -b $BW -f ecdc $IN -o -
    expect "tiny$m: stdout equals the file" cmp -s "$W/out" t$m.ecdc
    run 0 "tiny$m: tokenize -f ecdc to /dev/null" "$S" tokenize -q -m "$M" -b $BW -f ecdc $IN -o /dev/null
    run 0 "tiny$m: tokenize .tok" "$S" tokenize -q -m "$M" -b $BW $IN -o t$m.tok
    run 0 "tiny$m: detokenize .tok" "$S" detokenize -q -m "$M" t$m.tok -o tok$m.wav
    run 0 "tiny$m: detokenize .ecdc" "$S" detokenize -q -m "$M" t$m.ecdc -o ecdc$m.wav
    expect "tiny$m: .ecdc decodes to the .tok's audio" cmp -s ecdc$m.wav tok$m.wav
    run 0 "tiny$m: detokenize by magic (.bin)" "$S" detokenize -q -m "$M" t$m.bin -o bin$m.wav
    expect "tiny$m: same audio by magic" cmp -s bin$m.wav tok$m.wav
    run 0 "tiny$m: detokenize from stdin" sh -c "'$S' detokenize -q -m '$M' - -o stdin$m.wav < t$m.ecdc"
    expect "tiny$m: same audio from stdin" cmp -s stdin$m.wav tok$m.wav
    run 0 "tiny$m: the model named in the file" env SONOTOK_MODEL_PATH="$DATA" "$S" detokenize -q t$m.ecdc -o named$m.wav
    expect "tiny$m: same audio by the file's model name" cmp -s named$m.wav tok$m.wav
    run 4 "tiny$m: the file's model is nowhere" $NOMODELS "$S" detokenize t$m.ecdc -o none$m.wav
    expect "tiny$m: unknown model: one line" one_line_err
    expect "tiny$m: unknown model named" err_has "model \"tiny$m\""
    expect "tiny$m: unknown model: suggests -m" err_has "with -m"
    expect "tiny$m: unknown model: no output" absent none$m.wav
done
expect "tiny48 .ecdc: 4 codebooks in the header" grep -q '"nc": 4' t48.ecdc
expect "tiny24 .ecdc: 4 codebooks in the header" grep -q '"nc": 4' t24.ecdc

# damaged and refused files (tiny24's layout)
N=$(wc -c < t24.ecdc)
for cut in 0 3 8 12 60 $((N / 2)) $((N - 1)); do
    head -c $cut t24.ecdc > cut.ecdc
    bad 2 "cut at $cut bytes" cut.ecdc
done
expect "a cut says it ends early" err_has "ends"
{ printf 'ECDX'; tail -c +5 t24.ecdc; } > magic.ecdc
bad 2 "wrong magic (.ecdc name)" magic.ecdc
expect "wrong magic: named" err_has "not an .ecdc file"
{ printf 'ECDC\001'; tail -c +6 t24.ecdc; } > v1.ecdc
bad 2 "version 1" v1.ecdc
mk_ecdc lm.ecdc '{"m": "tiny24", "al": 10400, "nc": 4, "lm": true}' t24.ecdc
bad 2 "coded with the LM" lm.ecdc
expect "LM: the message" err_has "ecdc with the entropy-coded LM is not supported"
mk_ecdc lmx.ecdc '{"m": "unset", "al": 10400, "nc": 4, "lm": true}' t24.ecdc
run 2 "LM and an unknown model: the LM is the error" $NOMODELS "$S" detokenize lmx.ecdc -o bad.wav
expect "LM before the model" err_has "entropy-coded LM"
mk_ecdc same.ecdc '{"m": "tiny24", "al": 10400, "nc": 4, "lm": false}' t24.ecdc
expect "mk_ecdc remakes the file" cmp -s same.ecdc t24.ecdc
# metadata that does not fit the codes or the model, or is not JSON
while IFS='|' read -r desc json; do
    mk_ecdc meta.ecdc "$json" t24.ecdc
    bad 2 "$desc" meta.ecdc
done <<'EOF'
absurd al|{"m": "tiny24", "al": 99999999999999999999, "nc": 4, "lm": false}
al beyond 2^32 frames|{"m": "tiny24", "al": 4000000000000000, "nc": 4, "lm": false}
al longer than the codes|{"m": "tiny24", "al": 100000000, "nc": 4, "lm": false}
al 0|{"m": "tiny24", "al": 0, "nc": 4, "lm": false}
negative al|{"m": "tiny24", "al": -10400, "nc": 4, "lm": false}
more codebooks than the model|{"m": "tiny24", "al": 10400, "nc": 9, "lm": false}
metadata not JSON|{"m": "tiny24", "al": 10400, "nc": 4, "lm": false
EOF
{ cat t24.ecdc; printf 'x'; } > trailing.ecdc
bad 2 "a byte after the codes" trailing.ecdc
mk_ecdc path.ecdc '{"m": "../tiny24", "al": 10400, "nc": 4, "lm": false}' t24.ecdc
run 4 "a path for a model name" env SONOTOK_MODEL_PATH="$DATA" "$S" detokenize path.ecdc -o bad.wav
expect "a path is not a model name" err_has "not a model name"
run 1 "--list of a .ecdc" "$S" detokenize --list t24.ecdc
run 1 "--verify of a .ecdc" "$S" detokenize --verify t24.ecdc

# outputs: never over the input; a link is written through
mkdir -p dir && cp mono.wav dir/a.wav
run 1 "a folder with -f ecdc" "$S" tokenize -m "$DATA/tiny24.th" -f ecdc dir -o dir.sta
expect "folder: no archive" absent dir.sta
cp mono.wav keep.wav
run 2 "-f ecdc over the input" "$S" tokenize -m "$DATA/tiny24.th" -f ecdc keep.wav -o keep.wav
expect "the input is kept" cmp -s keep.wav mono.wav
ln -s real.ecdc link.ecdc
run 0 "-o a link" "$S" tokenize -q -m "$DATA/tiny24.th" -b 24 mono.wav -o link.ecdc
expect "the link stays a link" [ -L link.ecdc ]
expect "the file it names holds the .ecdc" cmp -s real.ecdc t24.ecdc
expect "no temporary files" no_temps "$W"

echo "cli-ecdc: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
