#!/bin/sh
# Tests for `sonotok wer` and tools/intelligibility.sh.
#
#   test_wer.sh wer|intelligibility SONOTOK SOURCE_ROOT
#
# "wer": word error rates worked out by hand (the alignments are written
# beside each case). "intelligibility": the whole check on two sentences
# (and one left out for a word the dictionary lacks); exits 77 (skipped)
# when flite, pocketsphinx_batch, sox or the en-us model is missing. It uses
# the default codec when models/default.safetensors exists and Opus when
# opusenc/opusdec do.
TEST_NAME=wer
. "$(dirname "$0")/../sh_common.sh"
MODE=$1
SONOTOK=$2
SRC=$3
SONOTOK=$(abs "$SONOTOK")
SRC=$(abs "$SRC")



# wer_case DESCRIPTION EXPECTED_LINE REF_TEXT HYP_TEXT  (texts through printf %b)
wer_case() {
    CHECKS=$((CHECKS + 1))
    printf '%b' "$3" > "$W/ref"
    printf '%b' "$4" > "$W/hyp"
    got=$("$SONOTOK" wer "$W/ref" "$W/hyp" 2> "$W/err")
    rc=$?
    if [ $rc -ne 0 ]; then fail "$1: exit $rc"; return; fi
    [ "$got" = "$2" ] || fail "$1: got '$got', expected '$2'"
}

# rc_case DESCRIPTION EXPECTED_RC ARGS...
rc_case() {
    CHECKS=$((CHECKS + 1))
    d=$1 want=$2
    shift 2
    "$SONOTOK" wer "$@" > "$W/out" 2> "$W/err"
    rc=$?
    [ $rc -eq "$want" ] || fail "$d: exit $rc, expected $want"
    if [ "$want" -ne 0 ]; then
        [ "$(wc -l < "$W/err")" -ge 1 ] || fail "$d: no error message"
        [ ! -s "$W/out" ] || fail "$d: wrote a result"
    fi
}

if [ "$MODE" = wer ]; then
    # equal: no edits
    wer_case "identical" "wer=0.00% sub=0 del=0 ins=0 words=9 lines=1" \
        'the quick brown fox jumps over the lazy dog\n' 'the quick brown fox jumps over the lazy dog\n'
    # "the" missing before "mat": 1 deletion of 6 words; case and punctuation ignored
    wer_case "deletion" "wer=16.67% sub=0 del=1 ins=0 words=6 lines=1" \
        'The cat sat on the mat.\n' 'the cat sat on mat\n'
    # b -> x: 1 substitution of 3
    wer_case "substitution" "wer=33.33% sub=1 del=0 ins=0 words=3 lines=1" 'a b c\n' 'a x c\n'
    # x between a and b: 1 insertion over 2 words
    wer_case "insertion" "wer=50.00% sub=0 del=0 ins=1 words=2 lines=1" 'a b\n' 'a x b\n'
    # nothing recognised: every word deleted
    wer_case "empty hypothesis" "wer=100.00% sub=0 del=3 ins=0 words=3 lines=1" 'one two three\n' '\n'
    # one reference word, three hypothesis words: a -> b, then c and d inserted
    wer_case "above 100%" "wer=300.00% sub=1 del=0 ins=2 words=1 lines=1" 'a\n' 'b c d\n'
    # apostrophes inside words kept, at the ends dropped; commas, '!', '-' separate
    wer_case "normalisation" "wer=0.00% sub=0 del=0 ins=0 words=5 lines=1" \
        "Don't STOP, 'now'! well-done\n" "don't stop now well done\n"
    wer_case "apostrophe matters" "wer=50.00% sub=1 del=0 ins=0 words=2 lines=1" "the ship's\n" "the ships\n"
    # two lines summed: line 1 one substitution (4 words), line 2 one
    # deletion and one insertion ("b" gone, "f" after "e"; 5 words: 2 edits,
    # where substituting along the shift would take 4); CRLF, no final newline
    wer_case "lines summed" "wer=33.33% sub=1 del=1 ins=1 words=9 lines=2" \
        'w x y z\r\na b c d e' 'w x q z\r\na c d e f'
    # the shortest edit distance, not a greedy walk: box, jumped, dogs for
    # fox, jumps, dog, "the" before lazy gone, "today" added: 5 edits of 9
    # (the split between kinds has ties; the total has none)
    CHECKS=$((CHECKS + 1))
    printf 'the quick brown fox jumps over the lazy dog\n' > "$W/ref"
    printf 'the quick brown box jumped over lazy dogs today\n' > "$W/hyp"
    got=$("$SONOTOK" wer "$W/ref" "$W/hyp" 2> "$W/err")
    case $got in "wer=55.56% "*" words=9 lines=1") ;; *) fail "edit distance: got '$got'" ;; esac
    # --per-line: LINE ERRORS WORDS, then the total
    CHECKS=$((CHECKS + 1))
    printf 'a b c\nd e\n' > "$W/ref"
    printf 'a b c\nx\n' > "$W/hyp"
    got=$("$SONOTOK" wer --per-line "$W/ref" "$W/hyp" 2> "$W/err" | tr '\n' '|')
    [ "$got" = "1 0 3|2 2 2|wer=40.00% sub=1 del=1 ins=0 words=5 lines=2|" ] || fail "--per-line: got '$got'"
    # stdin as REF
    CHECKS=$((CHECKS + 1))
    got=$(printf 'a b\n' | "$SONOTOK" wer - "$W/hyp" 2>&1)
    [ $? -eq 2 ] || fail "stdin REF with 2 HYP lines: not refused"

    printf 'a b\nc\n' > "$W/ref2"
    printf 'a b\n' > "$W/hyp1"
    printf '\n \n' > "$W/blank"
    rc_case "line counts differ" 2 "$W/ref2" "$W/hyp1"
    rc_case "no reference words" 2 "$W/blank" "$W/blank"
    rc_case "missing file" 3 "$W/nonexistent" "$W/hyp1"
    rc_case "one operand" 1 "$W/ref2"
    rc_case "both stdin" 1 - -
    rc_case "unknown option" 1 --bogus "$W/ref2" "$W/ref2"
elif [ "$MODE" = intelligibility ]; then
    HMM=/usr/share/pocketsphinx/model/en-us/en-us
    for t in flite pocketsphinx_batch sox; do
        command -v $t > /dev/null 2>&1 || { echo "skipped: $t not installed"; exit 77; }
    done
    [ -f "$HMM/mdef" ] || { echo "skipped: no pocketsphinx en-us model"; exit 77; }
    # the first and third lines are in the dictionary, the second is not
    printf 'The old clock in the hallway struck nine.\nThe zorbleflax quivered.\n\nBring the shovel and the rope from the shed.\n' \
        > "$W/list.txt"
    opus=
    command -v opusenc > /dev/null 2>&1 && command -v opusdec > /dev/null 2>&1 && opus=12
    bands=
    model=$SRC/models/default.safetensors
    [ -f "$model" ] && bands=6
    mkdir "$W/tmp"
    CHECKS=$((CHECKS + 1))
    TMPDIR=$W/tmp sh "$SRC/tools/intelligibility.sh" -S "$SONOTOK" -s "$W/list.txt" -m "$model" -b "$bands" \
        -O "$opus" -V rms,slt -t 2 -c "$W/t.csv" > "$W/out" 2> "$W/err"
    rc=$?
    cat "$W/out"
    if [ $rc -ne 0 ]; then
        fail "intelligibility.sh: exit $rc"
    else
        grep -q 'line 2 left out, not in the dictionary: zorbleflax' "$W/err" || fail "no note for the left-out line"
        grep -q '^intelligibility: 2 sentences x 2 voices' "$W/err" || fail "not 2 sentences x 2 voices"
        head -1 "$W/out" | grep -q '^system  *rms  *slt  *mean  *x raw$' || fail "header: $(head -1 "$W/out")"
        # flite speech of two plain sentences is mostly recognised
        raw=$(awk '$1 == "raw" { sub(/%/, "", $4); print $4 }' "$W/out")
        case $raw in '') fail "no raw row" ;; *) awk -v r="$raw" 'BEGIN { exit !(r < 50) }' || fail "raw WER $raw% >= 50%" ;; esac
        rows=$((1 + 2 * (1 + $(echo "$bands $opus" | wc -w))))
        [ "$(wc -l < "$W/t.csv")" -eq $rows ] || fail "CSV: $(wc -l < "$W/t.csv") lines, expected $rows"
        [ -z "$bands" ] || grep -q '^sonotok 6k ' "$W/out" || fail "no sonotok 6k row"
        [ -z "$opus" ] || grep -q '^opus 12k ' "$W/out" || fail "no opus 12k row"
        [ -z "$(ls -A "$W/tmp")" ] || fail "work files left in TMPDIR: $(ls -A "$W/tmp")"
    fi
    CHECKS=$((CHECKS + 1))
    printf 'zorbleflax\n' > "$W/none.txt"
    sh "$SRC/tools/intelligibility.sh" -S "$SONOTOK" -s "$W/none.txt" -b '' -O '' > "$W/out" 2> "$W/err"
    rc=$?
    [ $rc -eq 2 ] || fail "no usable sentence: exit $rc, expected 2"
    CHECKS=$((CHECKS + 1))
    mkdir "$W/kept"
    sh "$SRC/tools/intelligibility.sh" -S "$SONOTOK" -s "$W/list.txt" -b '' -O '' -k "$W/kept" > "$W/out" 2> "$W/err"
    rc=$?
    [ $rc -eq 1 ] || fail "-k on an existing folder: exit $rc, expected 1"
    [ -z "$(ls -A "$W/kept")" ] || fail "-k wrote into an existing folder"
    CHECKS=$((CHECKS + 1))
    cp "$W/list.txt" "$W/list.bak"
    sh "$SRC/tools/intelligibility.sh" -S "$SONOTOK" -s "$W/list.txt" -b '' -O '' -c "$W/list.txt" > "$W/out" 2> "$W/err"
    rc=$?
    [ $rc -eq 1 ] || fail "-c naming the sentence list: exit $rc, expected 1"
    cmp -s "$W/list.txt" "$W/list.bak" || fail "-c overwrote the sentence list"
    # TTS mode: "the TTS system" is flite's rms voice itself, for line 1 only
    # (line 4's file is missing): its row must equal raw rms's, line 4 counts
    # as nothing recognised.
    CHECKS=$((CHECKS + 1))
    mkdir "$W/ttswav"
    flite -voice rms -t "$(sed -n 1p "$W/list.txt")" -o "$W/ttswav/1.wav"
    sh "$SRC/tools/intelligibility.sh" -S "$SONOTOK" -s "$W/list.txt" -T "$W/ttswav" -b '' -V rms -t 2 \
        -p "$W/sent.tsv" > "$W/out" 2> "$W/err"
    rc=$?
    if [ $rc -ne 0 ]; then
        fail "TTS mode: exit $rc"
    else
        [ "$(wc -l < "$W/sent.tsv")" -eq 4 ] || fail "TTS table: $(wc -l < "$W/sent.tsv") lines, expected 4"
        awk -F '\t' '$1 == 1 { exit !($3 == $5 && $2 == $6) }' "$W/sent.tsv" || fail "TTS = raw rms on line 1: $(sed -n 2p "$W/sent.tsv")"
        awk -F '\t' '$1 == 4 { exit !($3 == $2 && $4 == 1) }' "$W/sent.tsv" || fail "missing line 4 not all errors"
        grep -q '^total.*2 sentences, 1 missing$' "$W/sent.tsv" || fail "TTS total row"
        grep -q 'no .*/4.wav: counted as nothing recognised' "$W/err" || fail "no note for the missing file"
        grep -q '^tts: 2 sentences: WER tts ' "$W/out" || fail "no tts summary line"
    fi
    CHECKS=$((CHECKS + 1))
    sh "$SRC/tools/intelligibility.sh" -S "$SONOTOK" -s "$W/list.txt" -b '' -O '' -p "$W/x.tsv" > "$W/out" 2> "$W/err"
    [ $? -eq 1 ] || fail "-p without -T: not a usage error"
    CHECKS=$((CHECKS + 1))
    sh "$SRC/tools/intelligibility.sh" -S "$SONOTOK" -s "$W/list.txt" -T "$W/nonexistent" > "$W/out" 2> "$W/err"
    [ $? -eq 1 ] || fail "-T on a missing folder: not a usage error"
else
    echo "unknown mode $MODE"
    exit 1
fi

echo "$CHECKS checks, $FAILS failed"
[ $FAILS -eq 0 ]
