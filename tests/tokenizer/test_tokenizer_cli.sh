#!/bin/sh
# train-tokenizer and tokenize-text through the program: training from a
# text file, a manifest and standard input; the same file from the same
# texts (in another order, too); encode | decode gives the input back byte
# for byte (NULs and invalid UTF-8 included); specials by name only with
# --specials; one-line errors and exit codes for bad ids, bad and damaged
# tokenizer files, bad usage; no temporary left, no input overwritten.
#
#   test_tokenizer_cli.sh SONOTOK
TEST_NAME=tokenizer-cli
. "$(dirname "$0")/../sh_common.sh"
S=$(abs "$1")
cd "$W" || exit 1

# check DESCRIPTION EXPECTED_RC CMD... (stdout -> out, stderr -> err)
check() {
    desc=$1
    exp=$2
    shift 2
    CHECKS=$((CHECKS + 1))
    "$@" >out 2>err
    rc=$?
    [ "$rc" -eq "$exp" ] || fail "$desc: exit $rc, expected $exp"
}
# the error is one line starting "sonotok: "
one_line() {
    CHECKS=$((CHECKS + 1))
    [ "$(wc -l <err)" -eq 1 ] && grep -q '^sonotok: ' err || fail "$1: not one error line"
}

# a small corpus: a text file and a manifest
i=0
: >words.txt
while [ $i -lt 400 ]; do
    echo "the dog barks $i times, the cat sleeps; rain on the roof of car number $((i % 7))" >>words.txt
    i=$((i + 1))
done
printf '%s\n' '{"path":"a.flac","text":"sound of monkeys screaming"}' '{"path":"b.flac","caption":"a dog barks"}' \
    '{"path":"c.flac","transcript":"hello world","text":null}' '{"path":"d.flac"}' >m.jsonl

check "train from a text file and a manifest" 0 "$S" train-tokenizer --vocab 400 -o tok.sntok words.txt m.jsonl
[ -s tok.sntok ] || fail "no tokenizer written"
check "the same again, inputs in another order" 0 "$S" train-tokenizer --vocab 400 -o tok2.sntok m.jsonl words.txt
CHECKS=$((CHECKS + 1))
cmp -s tok.sntok tok2.sntok || fail "another order of the inputs gave another file"
check "train from standard input to standard output" 0 sh -c "\"$S\" train-tokenizer --vocab 400 - m.jsonl <words.txt >tok3.sntok"
CHECKS=$((CHECKS + 1))
cmp -s tok.sntok tok3.sntok || fail "standard input gave another file"
check "the manifest alone" 0 "$S" train-tokenizer --min-count 1 -o tokm.sntok m.jsonl
# its "caption" and "transcript" count: "hello" and " barks" are one token each
for w in hello " barks" " screaming"; do
    check "encode '$w'" 0 sh -c "printf '%s' '$w' | \"$S\" tokenize-text -m tokm.sntok"
    CHECKS=$((CHECKS + 1))
    [ "$(wc -w <out)" -eq 1 ] || fail "'$w' is not one token of the manifest's tokenizer: $(cat out)"
done

# round trips: the corpus, random bytes, text that spells special names
head -c 3000 /dev/urandom >rand.bin 2>/dev/null || fail "no /dev/urandom"
printf 'a\000b\377\376 <end> <pad><sep>caf\303\251 \200\n\n' >odd.bin
for f in words.txt rand.bin odd.bin m.jsonl; do
    check "encode $f" 0 "$S" tokenize-text -m tok.sntok "$f" -o "$f.ids"
    check "decode $f" 0 "$S" tokenize-text -m tok.sntok --decode "$f.ids" -o "$f.back"
    CHECKS=$((CHECKS + 1))
    cmp -s "$f" "$f.back" || fail "$f: decode(encode(x)) differs from x"
done
check "encode through pipes" 0 sh -c "\"$S\" tokenize-text -m tok.sntok <odd.bin | \"$S\" tokenize-text -m tok.sntok --decode >odd.pipe"
CHECKS=$((CHECKS + 1))
cmp -s odd.bin odd.pipe || fail "pipe round trip differs"
# plain text never encodes to a special (ids 0-15)
CHECKS=$((CHECKS + 1))
tr ' ' '\n' <odd.bin.ids | awk '$1 < 16 { bad = 1 } END { exit bad }' || fail "text encoded to a special id"
# specials: left out, or by name with --specials
echo "4 2 1" >sp.ids
check "decode specials, left out" 0 "$S" tokenize-text -m tok.sntok --decode sp.ids
CHECKS=$((CHECKS + 1))
[ ! -s out ] || fail "specials were written without --specials"
check "decode specials by name" 0 "$S" tokenize-text -m tok.sntok --decode --specials sp.ids
CHECKS=$((CHECKS + 1))
[ "$(cat out)" = "<task:tta><sep><end>" ] || fail "specials by name: '$(cat out)'"

# bad ids
echo "12 abc 5" >bad.ids
check "a word among the ids" 2 "$S" tokenize-text -m tok.sntok --decode bad.ids
one_line "a word among the ids"
echo "400" >big.ids
check "an id past the vocabulary" 2 "$S" tokenize-text -m tok.sntok --decode big.ids
one_line "an id past the vocabulary"
echo "99999999999" >huge.ids
check "an id past int32" 2 "$S" tokenize-text -m tok.sntok --decode huge.ids
one_line "an id past int32"

# bad tokenizer files: missing, not one, truncated, damaged
check "a missing tokenizer" 4 "$S" tokenize-text -m none.sntok words.txt
one_line "a missing tokenizer"
check "a text file as tokenizer" 4 "$S" tokenize-text -m words.txt words.txt
one_line "a text file as tokenizer"
head -c 100 tok.sntok >cut.sntok
check "a truncated tokenizer" 4 "$S" tokenize-text -m cut.sntok words.txt
one_line "a truncated tokenizer"
grep -q 'ends early' err || fail "truncated: $(cat err)"
cp tok.sntok flip.sntok
printf 'Z' | dd of=flip.sntok bs=1 seek=300 conv=notrunc 2>/dev/null
check "a damaged tokenizer" 4 "$S" tokenize-text -m flip.sntok words.txt
one_line "a damaged tokenizer"
grep -q 'checksum' err || fail "damaged: $(cat err)"

# bad usage and bad inputs
check "no -m" 1 "$S" tokenize-text words.txt
check "--specials without --decode" 1 "$S" tokenize-text -m tok.sntok --specials words.txt
check "no input" 1 "$S" train-tokenizer -o x.sntok
check "--vocab too small" 1 "$S" train-tokenizer --vocab 100 -o x.sntok words.txt
check "a missing input" 3 "$S" train-tokenizer -o x.sntok nothing.txt
one_line "a missing input"
: >empty.txt
check "no text at all" 2 "$S" train-tokenizer -o x.sntok empty.txt
one_line "no text at all"
echo 'not json' >bad.jsonl
check "a manifest line that is not JSON" 2 "$S" train-tokenizer -o x.sntok bad.jsonl
one_line "a manifest line that is not JSON"
CHECKS=$((CHECKS + 1))
[ ! -e x.sntok ] || fail "a failed run left x.sntok"
cp words.txt keep.txt
check "output over its input" 2 "$S" train-tokenizer -o words.txt words.txt
CHECKS=$((CHECKS + 1))
cmp -s words.txt keep.txt || fail "train-tokenizer wrote over its input"
check "tokenize-text output over its input" 2 "$S" tokenize-text -m tok.sntok words.txt -o words.txt
CHECKS=$((CHECKS + 1))
cmp -s words.txt keep.txt || fail "tokenize-text wrote over its input"
CHECKS=$((CHECKS + 1))
[ -z "$(find . -name '*.sonotok-*')" ] || fail "temporary files left behind"

echo "tokenizer-cli: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
