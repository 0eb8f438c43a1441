#!/bin/sh
# sonotok phonemize through the program: its phonemes against the espeak-ng
# program's own (`espeak-ng -q -x --sep=_`, when installed), ids and json
# forms, --speak (the same file twice from fresh processes, spans covering
# it), the inventory listing, and each bad input's one-line error and exit.
#
#   test_phonemize_cli.sh SONOTOK
TEST_NAME=phonemize-cli
. "$(dirname "$0")/../sh_common.sh"
S=$(abs "$1")
cd "$W" || exit 1

# Phonemes without pauses, one per line, as the espeak-ng program writes them.
flat() { tr ' _\n' '\n\n\n' | grep -v -e '^$' -e '^|' -e '^!$' -e '^:*$' ; }
if command -v espeak-ng >/dev/null 2>&1; then
    for lang in en fr es de; do
        case $lang in
        en) t="The farmer's 3 dogs barked at 7:30, then slept. Did you hear them?" ;;
        fr) t="Le petit chat dort sur le canapé." ;;
        es) t="El perro come carne todos los días." ;;
        de) t="Der Hund schläft im Garten." ;;
        esac
        run 0 "phonemize $lang" "$S" phonemize --lang "$lang" "$t" || continue
        flat < out > mine
        espeak-ng -v "$lang" -q -x --sep=_ "$t" | flat > ref
        expect "$lang: the espeak-ng program's phonemes" cmp -s mine ref
    done
fi

run 0 "text" "$S" phonemize "Hello, world. Bye"
expect "text form" [ "$(cat out)" = "h_@_l_'oU | w_'3:_l_d ||
b_'aI ||" ]
run 0 "ids" "$S" phonemize --format ids "Bye"
expect "ids: one line of numbers" grep -qx '[0-9][0-9 ]*' out
run 0 "inventory" "$S" phonemize --inventory
expect "inventory: 1239 tokens and the JSON line" [ "$(grep -c '	' out)" -eq 1239 ]
expect "inventory: JSON" grep -q '^{"version":1,"n_tokens":1239,"hash":"' out

# --speak: a 24 kHz WAV, the same bytes from a fresh process; spans to its end
run 0 "speak" "$S" phonemize --format json --speak a.wav -o a.json "Cats sleep. Dogs bark!"
run 0 "speak again" "$S" phonemize --format json --speak b.wav -o b.json "Cats sleep. Dogs bark!"
expect "speak: same audio" cmp -s a.wav b.wav
expect "speak: same json" cmp -s a.json b.json
expect "speak: two sentences" [ "$(wc -l < a.json)" -eq 2 ]
# the second line's last end sample equals the two sentences' n_samples
last_end=$(sed -n 2p a.json | sed 's/.*"end":\[\([0-9,]*\)\].*/\1/' | tr ',' '\n' | tail -1)
total=$(sed 's/.*"n_samples":\([0-9]*\).*/\1/' a.json | awk '{ s += $1 } END { print s }')
expect "speak: spans cover the speech ($last_end of $total)" [ "$last_end" = "$total" ]
bytes=$(wc -c < a.wav)
expect "speak: WAV at 24 kHz holds the speech" [ $((bytes - 44)) -ge $((total * 24000 / 22050 * 2 - 200)) ]
run 0 "speak variant" "$S" phonemize --speak c.wav --variant f2 --rate 250 --pitch 70 "Cats sleep."

# bad input: one line, exit codes
run 2 "empty" "$S" phonemize "  " && expect "empty: one line" one_line_err
run 2 "nothing to say" "$S" phonemize "..." && expect "nothing: one line" one_line_err
run 2 "unknown language" "$S" phonemize --lang xx-nope "hello" && expect "language: one line" one_line_err
expect "unknown language named" grep -q "xx-nope" err
run 2 "unknown variant" "$S" phonemize --speak d.wav --variant nope "hello" && expect "variant: one line" one_line_err
printf 'bad \377 text' > bad.txt
run 2 "invalid UTF-8" "$S" phonemize -f bad.txt && expect "utf-8: one line" one_line_err
awk 'BEGIN { for (i = 0; i < 1100; i++) printf "word"; print "" }' > long.txt
run 2 "over-long sentence, unsplit" "$S" phonemize --no-split -f long.txt && expect "limit: one line" one_line_err
run 0 "over-long sentence, split" "$S" phonemize -f long.txt
run 1 "no text" "$S" phonemize
run 1 "text twice" "$S" phonemize -f bad.txt "hello"
run 1 "--rate without --speak" "$S" phonemize --rate 200 "hello"
run 1 "bad format" "$S" phonemize --format xml "hello"
run 1 "same file twice" "$S" phonemize --speak x.wav -o x.wav "hello"
expect "no file made by failures" [ ! -e d.wav ] && [ ! -e x.wav ]
expect "no temporaries left" [ -z "$(ls -a | grep -e '\.tmp' -e '^\.sonotok')" ]

echo "phonemize-cli: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
