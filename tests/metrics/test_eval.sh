#!/bin/sh
# Smoke test for `sonotok eval`: file pairs, folder pairs with categories,
# mismatched rates/lengths/channels, silent, empty, zero-byte, missing and
# non-audio files, the codec (-m, tests/codec/data/tiny24.th), the Opus
# baseline, and the spectrogram images of --plot.
#
#   test_eval.sh SONOTOK FIXTURE SOURCE_ROOT
#
# Inputs are made by FIXTURE (tests/cli/cli_fixture.c) and, for the silent
# WAV, by printf below.
TEST_NAME=eval
. "$(dirname "$0")/../sh_common.sh"
SONOTOK=$(abs "$1")
FIX=$(abs "$2")
SRC=$(abs "$3")
MODEL=${SONO_TEST_MODEL:-$SRC/tests/codec/data/tiny24.th}

cd "$W" || exit 1

fail() {
    FAILS=$((FAILS + 1))
    echo "FAIL: $*"
    sed 's/^/    stdout: /' out 2>/dev/null | head -8
    sed 's/^/    stderr: /' err 2>/dev/null | head -5
}
# run EXPECTED_RC DESCRIPTION ARGS...  (stdout -> out, stderr -> err)
run() {
    exp=$1
    desc=$2
    shift 2
    CHECKS=$((CHECKS + 1))
    "$SONOTOK" eval "$@" >out 2>err
    rc=$?
    [ "$rc" -eq "$exp" ] || fail "$desc: exit $rc, expected $exp  [eval $*]"
}
# expect DESCRIPTION COMMAND...
expect() {
    CHECKS=$((CHECKS + 1))
    desc=$1
    shift
    "$@" || fail "$desc"
}
has() { grep -q -- "$1" "$2"; }
row() { grep -- "$1" out | grep -q -- "$2"; }  # a stdout line with both strings

# 16-bit mono WAV of N zero samples at 16 kHz
le16() { printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $((($1 >> 8) & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $((($1 >> 16) & 65535)); }
silent_wav() {
    n=$(($2 * 2))
    { printf RIFF; le32 $((36 + n)); printf 'WAVEfmt '; le32 16; le16 1; le16 1; le32 16000; le32 32000
      le16 2; le16 16; printf data; le32 $n; head -c $n /dev/zero; } >"$1"
}

mkdir -p ref/speech ref/music est/speech est/music
"$FIX" wav ref/speech/a.wav 1.5 16000 1 >/dev/null || exit 1
"$FIX" wav ref/speech/b.wav 1.0 16000 1 300 >/dev/null || exit 1
"$FIX" wav ref/music/c.wav 1.2 24000 2 330 >/dev/null || exit 1
"$FIX" wav est/speech/a.wav 1.4 16000 1 >/dev/null || exit 1      # shorter
"$FIX" wav est/music/c.wav 1.2 48000 1 330 >/dev/null || exit 1   # other rate and channels
silent_wav silent.wav 16000

# usage and help
run 0 "help" -h
expect "help names the metrics" has "STOI" out
run 1 "no operands"
run 1 "one operand without -m"
run 1 "-b without a system" -b 6 ref/speech/a.wav est/speech/a.wav
run 1 "--baseline without -b" --baseline opus ref/speech/a.wav
run 1 "unknown baseline" --baseline mp3 -b 6 ref/speech/a.wav
run 1 "file and folder" ref est/speech/a.wav

# PNG checks: signature, and IHDR width/height (big-endian at bytes 16..23)
png_sig() { [ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
png_dims() { od -An -tu1 -j16 -N8 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4, $5 * 16777216 + $6 * 65536 + $7 * 256 + $8 }'; }
# png_ok FILE MIN_W MAX_W: a PNG, MIN_W..MAX_W wide, three 256-row panels + two 3-row separators high
png_ok() {
    [ -s "$1" ] && png_sig "$1" || return 1
    set -- "$1" "$2" "$3" $(png_dims "$1")
    [ "$4" -ge "$2" ] && [ "$4" -le "$3" ] && [ "$5" -eq 774 ]
}

# one pair of identical files
run 0 "identical pair" ref/speech/a.wav ref/speech/a.wav
expect "identical: 120 dB and STOI 1" row "ref/speech/a.wav" "120.00 *0.000 *1.0000"

# a link back to a folder above it is skipped, not followed round the loop
mkdir -p loop/speech
cp ref/speech/a.wav loop/speech/a.wav
ln -s .. loop/speech/up
run 0 "folder with a link loop" loop loop
expect "link loop: the file scored once" test "$(grep -c 'speech/a.wav' out)" -eq 1

# folders: categories, shorter estimate, rate/channel mismatch, missing estimate
run 2 "folders with one estimate missing" ref est
expect "missing file named on stderr" has "speech/b.wav" err
expect "missing file: one error line" test "$(grep -c 'no such file' err)" -eq 1
expect "speech row" row "speech/a.wav" "file"
expect "music row" row "music/c.wav" "file"
expect "per-category means" row "music *mean of 1" "file"
expect "speech mean" row "speech *mean of 1" "file"
expect "length mismatch noted" has "lengths differ" err
expect "rate mismatch noted" has "resampled" err
expect "trimmed prefix is identical" row "speech/a.wav" "120.00"
run 0 "forced category" --category mine ref/speech/a.wav est/speech/a.wav
expect "forced category used" row "^mine " "mean of 1"

# a reference and an estimate that are pipes (read twice: eval reads them into memory first)
if mkfifo fifo-ref fifo-est 2>/dev/null; then
    run 0 "regular files, for the pipes" ref/speech/a.wav est/speech/a.wav
    awk 'NR == 2 { print $3, $4, $5, $6, $7 }' out > want-fifo
    cat ref/speech/a.wav > fifo-ref &
    cat est/speech/a.wav > fifo-est &
    # a second open of a pipe would wait for a writer for ever: bound it
    T=; command -v timeout >/dev/null 2>&1 && T="timeout 30"
    CHECKS=$((CHECKS + 1))
    $T "$SONOTOK" eval fifo-ref fifo-est >out 2>err || fail "pipes: exit $?"
    kill %1 %2 2>/dev/null
    wait
    expect "pipes: the same scores" sh -c "awk 'NR == 2 { print \$3, \$4, \$5, \$6, \$7 }' out | cmp -s - want-fifo"
fi

# silent reference: STOI and SI-SNR n/a, no crash
run 0 "silent reference" silent.wav ref/speech/b.wav
expect "silent: STOI n/a" row "silent.wav" "n/a *n/a$"

# mismatched pairs of single files
"$FIX" wav st24.wav 1.0 24000 2 440 >/dev/null || exit 1
"$FIX" wav mono16.wav 1.0 16000 1 440 >/dev/null || exit 1
"$FIX" wav tiny.wav 0.01 16000 1 >/dev/null || exit 1
run 0 "stereo 24 kHz reference, mono 16 kHz estimate" st24.wav mono16.wav
expect "channels: noted" has "mixed to mono" err
expect "rate: noted" has "resampled" err
expect "stereo/mono row has numbers" awk '$2 == "st24.wav" { exit !($4 + 0 == $4 && $5 + 0 > 0) }' out
run 0 "mono 16 kHz reference, stereo 24 kHz estimate" mono16.wav st24.wav
expect "and the other way round" row "mono16.wav" "file"
run 2 "a 10 ms estimate of a 1 s reference is refused" mono16.wav tiny.wav
expect "refused with a reason" has "lengths differ too much" err
expect "refused: no row" test "$(grep -c 'mono16.wav' out)" -eq 0
run 2 "a 1 s estimate of a 10 ms reference is refused" tiny.wav mono16.wav
expect "refused the other way" has "lengths differ too much" err

# silent, empty, zero-byte and non-audio files
silent_wav empty.wav 0
: >zero-bytes.wav
echo "this is not audio" >text.wav
run 0 "silent estimate" mono16.wav silent.wav
expect "silent estimate: a row" row "mono16.wav" "file"
run 0 "silent reference and estimate" silent.wav silent.wav
expect "silent pair: SI-SNR n/a, mel 0" row "silent.wav" "n/a *0.000 *n/a"
for f in empty.wav zero-bytes.wav text.wav; do
    run 2 "$f as reference" "$f" mono16.wav
    expect "$f as reference: named on stderr" has "$f" err
    run 2 "$f as estimate" mono16.wav "$f"
    expect "$f as estimate: named on stderr" has "$f" err
    run 2 "$f through opus" --baseline opus -b 12 "$f" mono16.wav
    expect "$f through opus: the other file scored" row "mono16.wav" "opus"
done
expect "empty WAV: says why" sh -c "'$SONOTOK' eval empty.wav mono16.wav 2>&1 | grep -q 'no audio'"
expect "zero bytes: says why" sh -c "'$SONOTOK' eval zero-bytes.wav mono16.wav 2>&1 | grep -q 'empty file'"
expect "text: says why" sh -c "'$SONOTOK' eval text.wav mono16.wav 2>&1 | grep -q 'not an audio file'"

# a missing reference among others
run 2 "missing reference" --baseline opus -b 12 nope.wav ref/speech/a.wav
expect "others still scored" row "ref/speech/a.wav" "opus"

# Opus baseline: numbers, and a bitrate near the one asked for
run 0 "opus baseline" --baseline opus -b 16 ref/speech/a.wav ref/music/c.wav silent.wav
expect "opus rows: 3 files and a mean" test "$(grep -c ' opus ' out)" -eq 4
expect "opus kbps near 16" awk '$2 == "ref/speech/a.wav" { k = $NF + 0; exit !(k > 10 && k < 24) }' out
expect "opus SI-SNR positive" awk '$2 == "ref/speech/a.wav" { exit !($4 + 0 > 3) }' out
run 1 "opus bitrate out of range" --baseline opus -b 1000 ref/speech/a.wav

# --plot: one PNG per row, named after the file label and the system
run 0 "plot a pair" --plot plots ref/speech/a.wav est/speech/a.wav
expect "pair image written" png_ok plots/ref_speech_a.wav.file.png 200 2000
run 2 "plot folders" --plot plots ref est
expect "folder images, named by relative path" png_ok plots/music_c.wav.file.png 200 2000
expect "no image for the missing estimate" test ! -e plots/speech_b.wav.file.png
run 0 "plot silence" --plot plots silent.wav silent.wav
expect "silent pair: image written" png_ok plots/silent.wav.file.png 200 2000
run 0 "plot opus" --plot plots --baseline opus -b 12 ref/speech/a.wav
expect "opus image written" png_ok plots/ref_speech_a.wav.opus.png 200 2000
"$FIX" wav long.wav 30 24000 1 >/dev/null || exit 1
run 0 "plot a long file" --plot plots long.wav long.wav
expect "long file: width capped at 2000" png_ok plots/long.wav.file.png 2000 2000
expect "no temporary files left" test "$(ls plots | grep -vc '\.png$')" -eq 0
run 3 "plot into a file" --plot mono16.wav mono16.wav mono16.wav

# the codec
run 4 "model not found" -m "$W/no-such-model.th" ref/speech/a.wav
if [ -f "$MODEL" ]; then
    run 0 "codec and opus" -m "$MODEL" -b 6 --baseline opus ref silent.wav
    expect "codec rows per file" test "$(grep ' codec ' out | grep -vc 'mean of')" -eq 4
    expect "codec means per category" row "speech *mean of 2" "codec"
    expect "opus next to the codec" row "music *mean of 1" "opus"
    expect "codec kbps from the token file" awk '$3 == "codec" && $2 !~ /mean/ { if ($NF + 0 <= 0) bad = 1 } END { exit bad }' out
    run 0 "codec on a silent file" -m "$MODEL" silent.wav
    expect "codec, silent: a row" row "silent.wav" "codec"
    run 2 "codec on an empty and a non-audio file" -m "$MODEL" empty.wav text.wav ref/speech/a.wav
    expect "codec: the good file still scored" row "ref/speech/a.wav" "codec"
    run 0 "plot the codec" --plot plots -m "$MODEL" ref/speech/a.wav
    expect "codec image written" png_ok plots/ref_speech_a.wav.codec.png 200 2000
else
    echo "no model at $MODEL: codec checks skipped"
fi

echo "eval smoke test: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
