#!/bin/sh
# CLI test for the sonotok program: exit codes, error paths, outputs never
# left behind, archives (list, entry, verify, damage, shards, merge).
#
#   test_cli.sh basic|model|default|train|trainlm|outputs SONOTOK FIXTURE SOURCE_ROOT
#
# "default" runs the shipped default codec (skipped without models/);
# "train" trains a tiny codec for a few steps; "outputs" checks where
# outputs go (devices, FIFOs, links, an input as output, interrupted runs)
# with the test model.
# "basic" needs no model. "model" needs a codec checkpoint: $SONO_TEST_MODEL,
# else tests/data/tiny24.th, else tests/codec/data/tiny24.th; without one it
# exits 77 (skipped). Inputs are made by FIXTURE (cli_fixture.c).
TEST_NAME=cli
. "$(dirname "$0")/../sh_common.sh"
MODE=$1
SONOTOK=$2
FIX=$3
SRC=$4
SONOTOK=$(abs "$SONOTOK")
FIX=$(abs "$FIX")
SRC=$(abs "$SRC")





absent() { [ ! -e "$1" ]; }
present() { [ -s "$1" ]; }
err_has() { grep -q -- "$1" "$W/err"; }
not_err_has() { ! grep -q -- "$1" "$W/err"; }
out_has() { grep -q -- "$1" "$W/out"; }
# no temporary outputs (.NAME.sonotok-XXXXXXXX) anywhere under a folder
no_temps() { [ -z "$(find "$1" -name '*.sonotok-*' 2>/dev/null)" ]; }
# duration of an audio file in whole milliseconds, then its rate and channels
audio_info() { "$FIX" samples "$1" | { read -r n r c && echo "$((n * 1000 / r)) $r $c"; }; }
info_is() { [ "$(audio_info "$1")" = "$2" ]; }
one_error_line() { [ "$(grep -c '^sonotok: ' "$W/err")" -ge 1 ]; }

F() { "$FIX" "$@" || { echo "fixture failed: $*"; exit 1; }; }

# ---------------------------------------------------------------- basic ---
basic() {
    mkdir -p "$W/b"
    cd "$W/b" || exit 1
    # sonotok runs its commands with libgomp's passive waiting (spin count 0)
    # unless the user chose a policy; libgomp prints its settings at start-up
    # with OMP_DISPLAY_ENV=verbose (checked only where it is libgomp)
    run 0 "bench --help, no wait policy set" env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose "$SONOTOK" bench --help
    if err_has "GOMP_SPINCOUNT"; then
        expect "passive OpenMP waiting by default" err_has "GOMP_SPINCOUNT = '0'"
        run 0 "bench --help, OMP_WAIT_POLICY=active" env OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose "$SONOTOK" bench --help
        expect "the user's wait policy is kept" not_err_has "GOMP_SPINCOUNT = '0'"
    fi
    F wav tone.wav 0.5 24000 1
    F wav empty.wav 0 24000 1
    echo "just some text" > notes.txt

    # help, version, usage
    run 1 "no command" "$SONOTOK"
    expect "no command prints usage on stderr" err_has "Usage"
    run 0 "-h" "$SONOTOK" -h && expect "-h lists commands" out_has "detokenize"
    run 0 "--help" "$SONOTOK" --help
    run 0 "--version" "$SONOTOK" --version && expect "--version prints it" out_has "^sonotok [0-9]"
    run 0 "help" "$SONOTOK" help
    run 0 "help tokenize" "$SONOTOK" help tokenize && expect "help tokenize" out_has "Usage: sonotok tokenize"
    run 1 "help for unknown command" "$SONOTOK" help nosuch
    run 1 "unknown command" "$SONOTOK" nosuch
    for c in tokenize detokenize archive-merge bench; do
        run 0 "$c -h" "$SONOTOK" $c -h && expect "$c -h usage on stdout" out_has "Usage: sonotok $c"
        expect "$c -h: nothing on stderr" [ ! -s "$W/err" ]
        run 0 "$c --help" "$SONOTOK" $c --help
        run 1 "$c unknown option" "$SONOTOK" $c --no-such-option
        expect "$c unknown option says so" err_has "unknown option"
    done
    run 1 "tokenize without input" "$SONOTOK" tokenize -o x.tok
    run 1 "tokenize without -o" "$SONOTOK" tokenize tone.wav
    run 1 "tokenize two inputs" "$SONOTOK" tokenize tone.wav tone.wav -o x.tok
    run 1 "tokenize -f wav (wrong format)" "$SONOTOK" tokenize -f wav tone.wav -o x.tok
    expect "wrong -f names the choices" err_has "tok, npy or ecdc"
    run 1 "tokenize -b not a number" "$SONOTOK" tokenize -b fast tone.wav -o x.tok
    run 1 "tokenize -t 0" "$SONOTOK" tokenize -t 0 tone.wav -o x.tok
    run 1 "tokenize -t missing value" "$SONOTOK" tokenize tone.wav -o x.tok -t
    run 1 "tokenize --shard 3/2" "$SONOTOK" tokenize --shard 3/2 . -o x.sta
    run 1 "tokenize --shard 0/2" "$SONOTOK" tokenize --shard 0/2 . -o x.sta
    run 1 "tokenize --shard on a file" "$SONOTOK" tokenize --shard 1/2 tone.wav -o x.tok
    run 1 "detokenize without -o" "$SONOTOK" detokenize x.tok
    run 1 "detokenize -r abc" "$SONOTOK" detokenize -r abc x.tok -o x.wav
    run 1 "detokenize -f mp3" "$SONOTOK" detokenize -f mp3 x.tok -o x.wav
    run 1 "detokenize --list with -o" "$SONOTOK" detokenize --list x.sta -o y
    run 1 "detokenize --list --verify" "$SONOTOK" detokenize --list --verify x.sta
    run 1 "bench stray operand" "$SONOTOK" bench extra
    run 1 "bench -s 0" "$SONOTOK" bench -s 0
    run 1 "archive-merge without inputs" "$SONOTOK" archive-merge out.sta
    expect "usage errors write no output" absent x.tok

    # missing and bad inputs: reported in one line, nothing written
    run 3 "missing input" "$SONOTOK" tokenize nosuch.wav -o x.tok
    expect "missing input: 'sonotok: nosuch.wav: ...'" err_has "^sonotok: nosuch.wav: "
    run 2 "non-audio input" "$SONOTOK" tokenize notes.txt -o x.tok
    expect "non-audio input: error line" one_error_line
    run 2 "zero-length WAV" "$SONOTOK" tokenize empty.wav -o x.tok
    run 4 "model not found" "$SONOTOK" tokenize -m "$W/no/such/model.th" tone.wav -o x.tok
    expect "model not found: names the model" err_has "no/such/model.th"
    run 3 "detokenize missing input" "$SONOTOK" detokenize nosuch.tok -o x.wav
    expect "no output after failures" absent x.tok
    expect "no output after failures (wav)" absent x.wav

    # token files: damaged ones are refused before any model is needed
    F tok good.tok 30
    cp good.tok flipped.tok && F flip flipped.tok -7
    cp good.tok flipmid.tok && F flip flipmid.tok 40
    cp good.tok trunc.tok && F truncate trunc.tok 5
    head -c 12 good.tok > short.tok 2>/dev/null || cp notes.txt short.tok
    run 0 "verify a good token file" "$SONOTOK" detokenize --verify good.tok
    run 0 "list a token file" "$SONOTOK" detokenize --list good.tok && expect "list shows 30 frames" out_has "	30	"
    run 2 "bit-flipped token file (end)" "$SONOTOK" detokenize flipped.tok -o x.wav
    expect "flipped: one error line" one_error_line
    run 2 "bit-flipped token file (header)" "$SONOTOK" detokenize flipmid.tok -o x.wav
    run 2 "truncated token file" "$SONOTOK" detokenize trunc.tok -o x.wav
    run 2 "very short token file" "$SONOTOK" detokenize short.tok -o x.wav
    run 2 "text as token file" "$SONOTOK" detokenize notes.txt -o x.wav
    run 2 "verify flipped token file" "$SONOTOK" detokenize --verify flipped.tok
    run 4 "token file of an unknown model" "$SONOTOK" detokenize good.tok -o x.wav
    expect "no output after bad token files" absent x.wav

    # .npy: wrong dtype refused before the model loads; no -m is a usage error
    F npy float.npy '<f4' 2 10 1000
    F npy good.npy '<i8' 2 10 1000
    run 1 ".npy without -m" "$SONOTOK" detokenize good.npy -o x.wav
    run 2 ".npy of float32" "$SONOTOK" detokenize -m "$W/no/model.th" float.npy -o x.wav
    run 4 ".npy with a missing model" "$SONOTOK" detokenize -m "$W/no/model.th" good.npy -o x.wav
    expect "no output after bad .npy" absent x.wav

    # archives made directly through the library (no model needed)
    F archive a1.sta a/one.wav a/two.flac b/three.mp3
    F archive a2.sta c/four.wav d/five.ogg
    run 0 "--list" "$SONOTOK" detokenize --list a1.sta
    expect "--list: one line per entry" [ "$(wc -l < "$W/out")" -eq 3 ]
    expect "--list: names" out_has "^b/three.mp3	"
    run 0 "-l (short)" "$SONOTOK" detokenize -l a1.sta
    run 0 "--verify" "$SONOTOK" detokenize --verify a1.sta
    run 2 "--entry not in archive" "$SONOTOK" detokenize a1.sta --entry nope.wav -o x.wav
    expect "--entry not found: message" err_has "nope.wav"
    run 2 "--entry on a token file" "$SONOTOK" detokenize good.tok --entry a/one.wav -o x.wav
    run 4 "extract archive of an unknown model" "$SONOTOK" detokenize a1.sta -o outdir
    run 1 "archive to stdout" "$SONOTOK" detokenize a1.sta -o -

    run 0 "archive-merge OUT IN..." "$SONOTOK" archive-merge m.sta a1.sta a2.sta
    run 0 "--list merged" "$SONOTOK" detokenize --list m.sta
    expect "merged: 5 entries" [ "$(wc -l < "$W/out")" -eq 5 ]
    run 0 "archive-merge -o" "$SONOTOK" archive-merge -q a1.sta -o m2.sta a2.sta
    expect "-q: quiet" [ ! -s "$W/err" ]
    F archive dup.sta x/other.wav a/one.wav
    run 2 "merge with a conflicting duplicate" "$SONOTOK" archive-merge m3.sta a1.sta dup.sta
    expect "failed merge leaves nothing" absent m3.sta
    run 3 "merge with a missing input" "$SONOTOK" archive-merge m3.sta a1.sta nosuch.sta
    expect "failed merge leaves nothing (2)" absent m3.sta

    cp a1.sta dmg.sta
    if "$FIX" damage dmg.sta a/two.flac 2>"$W/err"; then
        run 2 "--verify damaged archive" "$SONOTOK" detokenize --verify dmg.sta
        expect "--verify names the bad entry" err_has "a/two.flac"
        run 2 "--list damaged archive" "$SONOTOK" detokenize --list dmg.sta
        expect "--list still lists all" [ "$(wc -l < "$W/out")" -eq 3 ]
        run 0 "--verify of the source still fine" "$SONOTOK" detokenize --verify a1.sta
    else
        echo "note: archive entries are not stored verbatim; damaged-entry checks skipped"
    fi
    cp a1.sta cut.sta && F truncate cut.sta 3
    run 2 "truncated archive" "$SONOTOK" detokenize --list cut.sta
    expect "truncated archive: the archive error" err_has "archive: .*truncated"

    # folder walking and shards (--dry-run needs no model)
    mkdir -p tree/a/b tree/c "tree/d e"
    F wav tree/a/b/x.wav 0.2 24000 1
    F wav tree/a/y.wav 0.2 16000 2
    F wav tree/c/z.wav 0.2 24000 1
    F wav "tree/d e/w.wav" 0.2 8000 1
    F wav tree/top.wav 0.2 24000 1
    F wav tree/c/empty.wav 0 24000 1
    for i in 1 2 3 4 5 6 7 8 9; do F wav tree/c/n$i.wav 0.1 24000 1; done
    echo "readme" > tree/a/readme.txt
    ln -s .. tree/a/b/loop 2>/dev/null || true
    ln -s ../c tree/a/cc 2>/dev/null || true
    run 0 "--dry-run tree" "$SONOTOK" tokenize --dry-run tree
    sort "$W/out" > all.list
    # 14 audio files, plus c/'s 10 again through the link a/cc
    expect "dry-run: 24 audio files" [ "$(wc -l < all.list)" -eq 24 ]
    expect "dry-run: followed a folder link" grep -qx "a/cc/n1.wav" all.list
    expect "dry-run: nested path kept" grep -qx "a/b/x.wav" all.list
    expect "dry-run: space in a name" grep -qx "d e/w.wav" all.list
    expect "dry-run: text file skipped" err_has "skipped: a/readme.txt"
    expect "dry-run: empty audio skipped" err_has "skipped: c/empty.wav"
    expect "dry-run: loop reported" err_has "skipped: a/b/loop"
    expect "dry-run: sorted output" sort -c "$W/out"
    : > shards.list
    for k in 1 2 3; do
        run 0 "--dry-run --shard $k/3" "$SONOTOK" tokenize --dry-run --shard $k/3 tree
        cat "$W/out" >> shards.list
    done
    sort shards.list > shards.sorted
    expect "shards cover every file exactly once" cmp -s all.list shards.sorted
    run 0 "--dry-run --shard 1/1" "$SONOTOK" tokenize --dry-run --shard 1/1 tree
    expect "shard 1/1 is everything" [ "$(wc -l < "$W/out")" -eq 24 ]
    run 4 "tokenize tree with a missing model" "$SONOTOK" tokenize -m "$W/no/model.th" tree -o t.sta
    expect "no archive after failure" absent t.sta
    expect "no temporary files anywhere" no_temps "$W/b"
}

# ---------------------------------------------------------------- model ---
# M: the test model, else skip (exit 77)
find_model() {
    M=${SONO_TEST_MODEL:-}
    if [ -z "$M" ]; then
        for c in "$SRC/tests/data/tiny24.th" "$SRC/tests/codec/data/tiny24.th"; do
            if [ -f "$c" ]; then M=$c; break; fi
        done
    fi
    if [ -z "$M" ] || [ ! -e "$M" ]; then
        echo "no test model (set SONO_TEST_MODEL or add tests/data/tiny24.th): skipped"
        exit 77
    fi
    echo "model: $M"
}

model() {
    find_model
    mkdir -p "$W/m"
    cd "$W/m" || exit 1
    F wav in.wav 1.3 24000 1
    F wav in44.wav 0.7 44100 2
    echo "not audio" > notes.txt

    # file round trip, formats, stdout
    run 0 "tokenize" "$SONOTOK" tokenize -m "$M" -t 1 in.wav -o in.tok && expect "summary line" err_has "realtime"
    expect "token file written" present in.tok
    run 0 "detokenize" "$SONOTOK" detokenize -m "$M" in.tok -o out.wav
    expect "audio written" present out.wav
    RATE=$("$FIX" samples out.wav | cut -d' ' -f2)
    expect "decoded: same length as the input, at the model rate" info_is out.wav "1300 $RATE 1"
    run 0 "tokenize resampled stereo" "$SONOTOK" tokenize -q -m "$M" in44.wav -o in44.tok
    expect "-q: no summary" [ ! -s "$W/err" ]
    run 0 "detokenize -r 16000 to flac" "$SONOTOK" detokenize -m "$M" -r 16000 in44.tok -o out16.flac
    expect "flac: 16 kHz, 0.7 s" info_is out16.flac "700 16000 1"
    run 0 "tokenize -o -" "$SONOTOK" tokenize -q -m "$M" in.wav -o -
    expect "stdout equals the file" cmp -s "$W/out" in.tok
    run 0 "tokenize from stdin" sh -c "'$SONOTOK' tokenize -q -m '$M' - -o stdin.tok < in.wav"
    expect "stdin equals the file" cmp -s stdin.tok in.tok
    # a pipe is copied to an unlinked temporary file in TMPDIR: same tokens, nothing left there
    mkdir -p "$W/spool"
    run 0 "tokenize from a pipe" sh -c "cat in.wav | TMPDIR='$W/spool' '$SONOTOK' tokenize -q -m '$M' - -o pipe.tok"
    expect "pipe equals the file" cmp -s pipe.tok in.tok
    expect "no spool file left" [ -z "$(ls -A "$W/spool")" ]
    run 2 "text from a pipe" sh -c "echo not audio | TMPDIR='$W/spool' '$SONOTOK' tokenize -q -m '$M' - -o bad.tok"
    expect "text from a pipe: named as -" grep -q "^sonotok: -: not an audio file" "$W/err"
    expect "no spool file left after an error" [ -z "$(ls -A "$W/spool")" ]
    run 3 "no room for the spool" sh -c "cat in.wav | TMPDIR='$W/no-such-dir' '$SONOTOK' tokenize -q -m '$M' - -o x.tok"
    expect "spool failure says where" grep -q "no-such-dir" "$W/err"
    run 0 "detokenize -o -" "$SONOTOK" detokenize -q -m "$M" in.tok -o -
    expect "wav on stdout" out_has "RIFF"
    # a damaged entry of an archive: the others restore, it is named, the exit code says data was lost
    mkdir -p dm/in && F wav dm/in/a.wav 0.5 24000 1 && F wav dm/in/b.wav 0.6 24000 1 && F wav dm/in/c.wav 0.7 24000 1
    run 0 "tokenize a folder to an archive" "$SONOTOK" tokenize -q -m "$M" dm/in -o dm/x.sta
    if "$FIX" damage dm/x.sta b.wav 2>"$W/err"; then
        run 2 "extract a damaged archive" "$SONOTOK" detokenize -q -m "$M" dm/x.sta -o dm/out
        expect "damaged entry named" err_has "'b.wav' is damaged"
        expect "loss counted" err_has "entries not restored: 1 of 3"
        expect "the others restored" [ -s dm/out/a.wav ] && expect "the others restored (2)" [ -s dm/out/c.wav ]
        expect "nothing written for the damaged one" absent dm/out/b.wav
    else
        echo "note: archive entries are not stored verbatim; damaged extraction skipped"
    fi
    run 0 "tokenize -f npy" "$SONOTOK" tokenize -m "$M" -f npy in.wav -o codes.bin
    expect ".npy magic" sh -c "head -c 6 codes.bin | grep -q NUMPY"
    run 0 "tokenize to .npy by extension" "$SONOTOK" tokenize -m "$M" in.wav -o codes.npy
    expect "same .npy" cmp -s codes.npy codes.bin
    run 0 "detokenize .npy" "$SONOTOK" detokenize -m "$M" codes.npy -o npy.wav
    expect "audio from .npy" present npy.wav
    # Without -m the model is the one the token file names, found by name.
    CHECKS=$((CHECKS + 1))
    SONOTOK_MODEL_PATH=$(dirname "$M") "$SONOTOK" detokenize in.tok -o hdr.wav >"$W/out" 2>"$W/err"
    rc=$?
    if [ $rc -eq 4 ]; then
        echo "note: the model's own name does not resolve to $M; header lookup not checked"
    elif [ $rc -ne 0 ]; then
        fail "detokenize with the model from the token header: exit $rc"
    fi

    # errors with a model
    run 1 "unknown bandwidth" "$SONOTOK" tokenize -m "$M" -b 7.77 in.wav -o bw.tok
    expect "unknown bandwidth lists the choices" err_has "choose one of"
    expect "no output for unknown bandwidth" absent bw.tok
    run 2 "non-audio with a model" "$SONOTOK" tokenize -m "$M" notes.txt -o x.tok
    F npy big.npy '<i8' 2 10 1000 99999
    run 2 ".npy code out of range" "$SONOTOK" detokenize -m "$M" big.npy -o x.wav
    F npy neg.npy '<i4' 2 10 1000 -1
    run 2 ".npy negative code" "$SONOTOK" detokenize -m "$M" neg.npy -o x.wav
    F npy i16.npy '<i2' 2 10 16
    run 0 ".npy int16 accepted" "$SONOTOK" detokenize -m "$M" i16.npy -o i16.wav
    F tok fake.tok 30
    run 2 "tokens of another model" "$SONOTOK" detokenize -m "$M" fake.tok -o x.wav
    expect "mismatch message" err_has "model"
    run 3 "output folder missing" "$SONOTOK" tokenize -m "$M" in.wav -o nosuch/dir/x.tok
    expect "no output after errors" absent x.tok
    expect "no output after errors (wav)" absent x.wav
    expect "no temporary files" no_temps "$W/m"

    # folder -> archive -> folder
    mkdir -p tree/a/b tree/c
    F wav tree/a/b/x.wav 0.3 24000 1
    F wav tree/a/y.flac.wav 0.2 16000 1
    F wav tree/c/z.wav 0.25 24000 1
    F wav tree/top.wav 0.2 24000 1
    F wav tree/c/z.mp3 0.2 24000 1 330   # an extension we cannot write: restored as .mp3.wav
    echo "readme" > tree/a/readme.txt
    ln -s .. tree/a/b/loop 2>/dev/null || true
    run 0 "tokenize tree" "$SONOTOK" tokenize -m "$M" tree -o t.sta
    expect "skipped text file reported" err_has "skipped: a/readme.txt"
    run 0 "--list" "$SONOTOK" detokenize --list t.sta
    expect "5 entries" [ "$(wc -l < "$W/out")" -eq 5 ]
    cut -f1 "$W/out" | sort > t.names
    run 0 "--verify" "$SONOTOK" detokenize --verify t.sta
    run 0 "restore tree" "$SONOTOK" detokenize -m "$M" t.sta -o restored
    for f in a/b/x.wav a/y.flac.wav c/z.wav top.wav c/z.mp3.wav; do
        expect "restored $f" present "restored/$f"
    done
    expect "restored x.wav: 0.3 s" info_is restored/a/b/x.wav "300 $RATE 1"
    mkdir -p esc elsewhere && ln -s "$W/m/elsewhere" esc/a
    run 3 "restore refuses to write through a folder link" "$SONOTOK" detokenize -m "$M" t.sta -o esc
    expect "nothing written through the link" [ -z "$(ls elsewhere)" ]
    expect "entries beside the link restored" present esc/top.wav
    : > afile
    run 3 "restore into a file" "$SONOTOK" detokenize -m "$M" t.sta -o afile
    run 0 "--entry" "$SONOTOK" detokenize -m "$M" t.sta --entry c/z.wav -o one.flac
    expect "--entry output" present one.flac

    cp t.sta dmg.sta
    if "$FIX" damage dmg.sta c/z.wav 2>"$W/err"; then
        run 2 "restore with a damaged entry" "$SONOTOK" detokenize -m "$M" dmg.sta -o partial
        expect "damaged entry reported" err_has "c/z.wav"
        expect "damaged entry not written" absent partial/c/z.wav
        expect "other entries restored" present partial/a/b/x.wav
        expect "other entries restored (2)" present partial/top.wav
        run 2 "--entry of the damaged entry" "$SONOTOK" detokenize -m "$M" dmg.sta --entry c/z.wav -o bad.wav
        expect "no output for a damaged entry" absent bad.wav
    fi

    # shards: every file once; merged == unsharded
    : > shard.names
    for k in 1 2 3; do
        run 0 "tokenize --shard $k/3" "$SONOTOK" tokenize -q -m "$M" --shard $k/3 tree -o s$k.sta
        run 0 "list shard $k" "$SONOTOK" detokenize --list s$k.sta
        cut -f1 "$W/out" >> shard.names
    done
    sort shard.names > shard.sorted
    expect "shards partition the tree" cmp -s shard.sorted t.names
    run 0 "archive-merge shards" "$SONOTOK" archive-merge merged.sta s1.sta s2.sta s3.sta
    run 0 "list merged" "$SONOTOK" detokenize --list merged.sta
    cut -f1 "$W/out" | sort > merged.names
    expect "merged entry set == unsharded" cmp -s merged.names t.names

    # an interrupted run leaves nothing behind
    F wav long.wav 20 24000 1
    "$SONOTOK" tokenize -q -m "$M" -t 1 long.wav -o long.tok 2>/dev/null &
    pid=$!
    sleep 1
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    expect "no temporary file after SIGTERM" no_temps "$W/m"

    # corrupt or truncated models: one-line error, exit 4, no output
    F wav m.wav 1 24000 1
    head -c 5000 "$M" > cut_model.th
    run 4 "truncated .th model" "$SONOTOK" tokenize -m cut_model.th m.wav -o m.tok
    expect "truncated .th: one line" one_line_err
    expect "truncated .th: no output" absent m.tok
    cp "$M" flip_model.th && F flip flip_model.th 3000
    run 4 "bit-flipped .th model" "$SONOTOK" tokenize -m flip_model.th m.wav -o m.tok
    expect "bit-flipped .th: no output" absent m.tok
    printf 'not a model at all' > junk.safetensors
    run 4 "garbage safetensors model" "$SONOTOK" tokenize -m junk.safetensors m.wav -o m.tok
    expect "garbage safetensors: one line" one_line_err
    run 4 "missing official model names the URL" env SONOTOK_MODEL_PATH=/nonexistent XDG_DATA_HOME=/nonexistent \
        "$SONOTOK" tokenize -m encodec_24khz m.wav -o m.tok
    expect "missing official model: file name and URL" err_has "encodec_24khz-d7cc33bc.th from https://dl.fbaipublicfiles.com/encodec/v0/"

    run 0 "bench --json" "$SONOTOK" bench -m "$M" -t 1 -s 1 --json
    expect "bench json" out_has '"encode_x_realtime"'
    run 0 "bench" "$SONOTOK" bench -q -m "$M" -t 1 -s 0.5
    expect "bench text" out_has "sgemm"
}

# The shipped default codec (models/default.safetensors, a link to the model
# file): the README's main job, then tokens found again by the model's name.
default_model() {
    [ -f "$SRC/models/default.safetensors" ] || { echo "no models/default.safetensors: skipped"; exit 77; }
    cd "$W" || exit 1
    run 0 "tokenize with the default codec" "$SONOTOK" tokenize "$SRC/tests/data/speech-cs.ogg" -o speech.tok
    expect "default codec: summary line" err_has "tokenized 1 file"
    run 0 "detokenize finds the model by name" env SONOTOK_MODEL_PATH=/nonexistent "$SONOTOK" detokenize speech.tok -o speech.wav
    run 0 "decoded audio scores against the original" "$SONOTOK" eval "$SRC/tests/data/speech-cs.ogg" speech.wav
    expect "eval table" out_has "speech-cs.ogg"
    run 0 "-m default at 1.5 kbps, npy" "$SONOTOK" tokenize -m default -b 1.5 "$SRC/tests/data/speech-cs.ogg" -o s.npy
    run 0 "npy back with -m default" "$SONOTOK" detokenize -m default s.npy -o s.wav
    # a token file made with sonotok-24k (the default before codec v2)
    # decodes by the name it records, whatever the default is now
    run 0 "an earlier default's token file decodes" env SONOTOK_MODEL_PATH=/nonexistent \
        "$SONOTOK" detokenize "$SRC/tests/data/hello-sonotok-24k.tok" -o old.wav
    run 0 "and scores against its original" "$SONOTOK" eval "$SRC/tests/data/hello.wav" old.wav
    expect "sonotok-24k at 6 kbps: STOI above 0.85 on hello.wav" \
        [ "$(awk '$2 == "mean" { print ($(NF - 1) > 0.85) }' out)" = 1 ]
}

# train-codec from the command line, on a tiny model and two generated
# clips: a run, phases on resume (--mix, --bandwidth-mix, --adv-start,
# --disc-filters, --disc-reset, --mpd-filters) seen in the start line and in the codebooks used, bad
# weights refused with the checkpoint left as it was, and the export read
# back by tokenize.
train() {
    cd "$W" || exit 1
    F wav a.wav 1 8000 1 300
    F wav b.wav 1.5 8000 1 500
    printf '{"path":"a.wav","category":"speech","duration":1}\n{"path":"b.wav","category":"music","duration":1.5}\n' >m.jsonl
    T="$SONOTOK train-codec -o run --manifest m.jsonl -t 1 --log-every 1"
    run 0 "train-codec: new tiny run" $T --rate 8000 --filters 2 --ratios 4,2 --dimension 8 --codebooks 4 \
        --codebook-size 32 --bandwidths 5,10,20 --crop 0.3 --batch 2 --steps 20 --run-steps 4 --adv-start -1
    expect "train-codec: checkpoint written" present run/checkpoint.safetensors
    expect "train-codec: start line shows the mixes" err_has "mix 0.5,0.35,0.15; bandwidth mix equal"
    expect "train-codec: a CSV row per step" [ "$(wc -l <run/train.csv)" -eq 5 ]
    run 0 "train-codec: resume with --bandwidth-mix 0,0,1 --mix 1,0,0" $T --run-steps 3 --bandwidth-mix 0,0,1 --mix 1,0,0
    expect "resume: start line shows the new mixes" err_has "mix 1,0,0; bandwidth mix 0,0,1"
    expect "resume: every new step used all 4 codebooks" \
        [ "$(tail -n 3 run/train.csv | awk -F, '$10 == 4 && $11 == 4' | wc -l)" -eq 3 ]
    run 0 "train-codec: resume keeps the checkpoint's mixes" $T --run-steps 1
    expect "resume: mixes kept" err_has "mix 1,0,0; bandwidth mix 0,0,1"
    cp run/checkpoint.safetensors before.safetensors
    run 1 "--bandwidth-mix with a negative weight" $T --run-steps 1 --bandwidth-mix 1,-1,0
    expect "negative weight: named" err_has "bandwidth-mix needs one weight per bandwidth"
    run 1 "--bandwidth-mix all 0" $T --run-steps 1 --bandwidth-mix 0,0,0
    run 1 "--mix with 2 weights" $T --run-steps 1 --mix 1,1
    run 2 "--bandwidth-mix: 2 weights for 3 bandwidths" $T --run-steps 1 --bandwidth-mix 1,1
    expect "2 weights for 3 bandwidths: named" err_has "2 bandwidth weights for the model's 3 bandwidths"
    run 2 "--mix weighing only effects, which the corpus lacks" $T --run-steps 1 --mix 0,0,1
    expect "mix with no weight on the corpus: named" err_has "gives no weight to the corpus's clips (speech 1, music 1, effects 0)"
    expect "refused runs leave the checkpoint as it was" cmp -s before.safetensors run/checkpoint.safetensors
    run 0 "--disc-reset on a run without a discriminator" $T --run-steps 1 --disc-reset
    expect "nothing to reset: warned" err_has "no discriminator to reset"
    run 0 "resume: discriminator on at 4 filters" $T --run-steps 1 --adv-start 8 --disc-filters 4
    expect "start line: discriminator and its width" err_has "discriminator from step 8, 4 filters"
    run 0 "resume: --disc-filters 6 starts a new discriminator" $T --run-steps 1 --disc-filters 6
    expect "start line: the new width" err_has "discriminator from step 8, 6 filters"
    run 0 "resume: --disc-reset starts a new discriminator of the same width" $T --run-steps 1 --disc-reset
    expect "--disc-reset: noted" err_has "discriminator from step 8, 6 filters, new"
    run 0 "resume: --mpd-filters 2 adds a multi-period discriminator" $T --run-steps 2 --mpd-filters 2
    expect "start line: the multi-period discriminator" err_has "discriminator from step 8, 6 filters + multi-period"
    expect "the CSV's mpd_disc column has its loss" \
        [ "$(tail -n 1 run/train.csv | awk -F, 'NR == 1 && $26 > 0 { print "y" }')" = y ]
    run 0 "resume keeps it" $T --run-steps 1
    expect "kept: start line" err_has "6 filters + multi-period"
    run 0 "resume: --mpd-filters 0 drops it" $T --run-steps 1 --mpd-filters 0
    expect "dropped: start line without it" not_err_has "multi-period"
    expect "dropped: its CSV column is 0" [ "$(tail -n 1 run/train.csv | awk -F, '{ print $26 + 0 }')" = 0 ]
    run 1 "--mpd-filters out of range" $T --run-steps 1 --mpd-filters 999
    run 1 "--disc-reset with no checkpoint" "$SONOTOK" train-codec -o fresh --manifest m.jsonl --disc-reset
    expect "--disc-reset with no checkpoint: named" err_has "--disc-reset needs a checkpoint"
    run 0 "train-codec: export" "$SONOTOK" train-codec -q -o run --manifest x --run-steps 0 --export tiny.safetensors
    run 0 "the export tokenizes" "$SONOTOK" tokenize -q -m tiny.safetensors -b 20 a.wav -o a.tok
    run 0 "and detokenizes" "$SONOTOK" detokenize -q -m tiny.safetensors a.tok -o a2.wav
    expect "decoded length and rate" info_is a2.wav "1000 8000 1"
    # the last phase: the encoder and codebooks frozen from the resumed step,
    # kept by a resume without the flag; the codes of a clip stay those of
    # the export just made (tiny.safetensors); refused on a new run
    run 1 "--freeze-encoder on a new run" "$SONOTOK" train-codec -o fresh2 --manifest m.jsonl --freeze-encoder
    expect "--freeze-encoder on a new run: named" err_has "--freeze-encoder needs a checkpoint in fresh2"
    expect "--freeze-encoder on a new run: no run folder" absent fresh2
    n=$(tail -n 1 run/train.csv | cut -d, -f1)
    run 0 "resume: --freeze-encoder" $T --run-steps 2 --freeze-encoder
    expect "frozen: start line" err_has "encoder and codebooks frozen since step $n: the codes are fixed"
    expect "frozen: no commitment in the loss" err_has "mel (STFT 32..2048, 64 bands) (no commitment: frozen)"
    expect "frozen: the log line says so" err_has "(frozen: not in the loss)"
    expect "frozen: no dead codes replaced" [ "$(tail -n 2 run/train.csv | awk -F, '$20 != 0' | wc -l)" -eq 0 ]
    run 0 "resume without the flag" $T --run-steps 1
    expect "stays frozen" err_has "frozen since step $n (the checkpoint's)"
    run 0 "frozen run: export" "$SONOTOK" train-codec -q -o run --manifest x --run-steps 0 --export frozen.safetensors
    expect "the decoder trained" sh -c "! cmp -s tiny.safetensors frozen.safetensors"
    run 0 "codes at the freeze" "$SONOTOK" tokenize -q -m tiny.safetensors -b 20 -f npy b.wav -o b-tiny.npy
    run 0 "codes after 3 frozen steps" "$SONOTOK" tokenize -q -m frozen.safetensors -b 20 -f npy b.wav -o b-frozen.npy
    expect "the same codes, byte for byte" cmp -s b-tiny.npy b-frozen.npy
    # the log-spectrum loss, switched on for the frozen run, kept, switched off
    run 0 "resume (frozen): --spec-loss 0.5" $T --run-steps 2 --steps 40 --spec-loss 0.5
    expect "--spec-loss: start line" err_has "mel (STFT 32..2048, 64 bands) + 0.5 log-spectrum (STFT 2048..2048, up to 4000 Hz)"
    expect "--spec-loss: the log line" err_has "  spec "
    expect "--spec-loss: the CSV's last column (27, spec) has it" \
        [ "$(tail -n 2 run/train.csv | awk -F, 'NF == 27 && $27 > 0' | wc -l)" -eq 2 ]
    expect "the CSV keeps cpu_hours at column 23, spec last" \
        [ "$(head -n 1 run/train.csv | cut -d, -f23,27)" = "cpu_hours,spec" ]
    run 0 "resume keeps --spec-loss" $T --run-steps 1
    expect "kept: start line" err_has "+ 0.5 log-spectrum"
    run 0 "resume: --spec-fft 1024,2048 --spec-top 3000" $T --run-steps 1 --spec-loss 0.5 --spec-fft 1024,2048 --spec-top 3000
    expect "its sizes and top: start line" err_has "+ 0.5 log-spectrum (STFT 1024..2048, up to 3000 Hz)"
    cp run/checkpoint.safetensors spec-before.safetensors
    run 1 "--spec-fft without --spec-loss" $T --run-steps 1 --spec-fft 4096
    expect "--spec-fft alone: named" err_has "go with --spec-loss W"
    run 1 "--spec-fft not a power of two" $T --run-steps 1 --spec-loss 1 --spec-fft 2000
    run 1 "--spec-fft larger first" $T --run-steps 1 --spec-loss 1 --spec-fft 2048,1024
    run 2 "--spec-fft longer than the crop" $T --run-steps 1 --spec-loss 1 --spec-fft 4096
    expect "longer than the crop: named" err_has "n_fft 4096 is longer than the crop (2400 samples)"
    expect "refused --spec-* runs leave the checkpoint as it was" cmp -s spec-before.safetensors run/checkpoint.safetensors
    run 0 "resume: --spec-loss 0 switches it off" $T --run-steps 1 --spec-loss 0
    expect "off: start line without it" not_err_has "log-spectrum"
    expect "off: its CSV column is 0" [ "$(tail -n 1 run/train.csv | awk -F, '{ print $27 + 0 }')" = 0 ]
    run 1 "--spec-loss negative" $T --run-steps 1 --spec-loss -1
    # a Vocos decoder head: from a config file (exported, then tokenize and
    # detokenize with it), and from --decoder
    printf '{"sample_rate":8000,"channels":1,"n_filters":2,"ratios":[4,2],"dimension":8,"n_q":4,"codebook_size":32,"bandwidths":[5,10,20],"decoder":"vocos","vocos_dim":16,"vocos_intermediate":24,"vocos_layers":2}\n' >vocos.json
    V="$SONOTOK train-codec --manifest m.jsonl -t 1 --log-every 1 --crop 0.3 --batch 2 --steps 20 --adv-start -1"
    run 0 "train-codec: a vocos decoder from --config" $V -o vrun --config vocos.json --run-steps 3
    expect "vocos run: the start line names the head" err_has "vocos decoder 16/24 x 2, n_fft 32"
    expect "vocos run: checkpoint written" present vrun/checkpoint.safetensors
    expect "vocos run: a CSV row per step" [ "$(wc -l <vrun/train.csv)" -eq 4 ]
    run 0 "vocos run: resumes" $V -o vrun --run-steps 1
    run 0 "vocos run: export" "$SONOTOK" train-codec -q -o vrun --manifest x --run-steps 0 --export vtiny.safetensors
    run 0 "the vocos export tokenizes" "$SONOTOK" tokenize -q -m vtiny.safetensors -b 20 a.wav -o va.tok
    run 0 "and detokenizes" "$SONOTOK" detokenize -q -m vtiny.safetensors va.tok -o va2.wav
    expect "vocos: decoded length and rate" info_is va2.wav "1000 8000 1"
    run 0 "train-codec --decoder vocos" $V -o vrun2 --rate 8000 --filters 2 --ratios 4,2 --dimension 8 --codebooks 4 \
        --codebook-size 32 --bandwidths 5,10,20 --decoder vocos --run-steps 1
    expect "--decoder vocos: default head sizes" err_has "vocos decoder 384/1152 x 8, n_fft 32"
    run 1 "--decoder with an unknown name" $V -o vrun3 --decoder hifigan
    expect "unknown decoder: named" err_has "--decoder is seanet or vocos, not 'hifigan'"
}

# train-lm from the command line, on a tiny codec and three generated clips:
# a run with held-out loss, resume, shards reused and rebuilt when the
# manifest changes, another codec refused, SIGINT stops with a checkpoint,
# the export, and bad input.
trainlm() {
    cd "$W" || exit 1
    F wav a.wav 1 8000 1 300
    F wav b.wav 1.5 8000 1 500
    F wav c.wav 1 8000 1 900
    printf '{"path":"a.wav","category":"speech","duration":1,"text":"one two"}\n{"path":"b.wav","category":"music","duration":1.5,"text":"a low hum"}\n{"path":"c.wav","category":"effects","duration":1,"caption":"a beep"}\n' >m.jsonl
    head -n 2 m.jsonl >h.jsonl
    C="$SONOTOK train-codec -q --manifest m.jsonl -t 1 --rate 8000 --filters 2 --ratios 4,2 --dimension 8 --codebooks 4 --codebook-size 32 --bandwidths 5,10,20 --run-steps 0"
    run 0 "tiny codec" $C -o crun --export tiny.safetensors
    run 0 "another tiny codec" $C -o crun2 --seed 5 --export other.safetensors
    L="$SONOTOK train-lm -o lrun --manifest m.jsonl --codec tiny.safetensors -t 1 --log-every 1"
    M="--vocab 300 --layers 1 --width 16 --heads 2 --context 32 --batch 2 --steps 1000000"
    run 0 "train-lm: new tiny run" $L $M --heldout h.jsonl --run-steps 4 --eval-every 2 --export lrun/lm.safetensors
    expect "train-lm: checkpoint, shards" present lrun/checkpoint.safetensors
    # samples at each evaluation: a.wav and b.wav continued (16 prompt frames,
    # half the context, then the 12 the context leaves with K 4: 28 frames of
    # hop 8), b.wav's caption (the only held-out one) rendered
    for s in 2 4; do
        for i in 0 1; do
            expect "sample step $s continue $i: prompt and continuation" \
                [ "$("$FIX" samples lrun/samples/step-$s-continue-$i.wav)" = "224 8000 1" ]
        done
        n=$("$FIX" samples lrun/samples/step-$s-tta-0.wav | cut -d' ' -f1)
        expect "sample step $s tta: whole frames" sh -c "[ '$n' -gt 0 ] && [ \$(($n % 8)) -eq 0 ]"
    done
    expect "samples: one caption, one tta sample" absent lrun/samples/step-2-tta-1.wav
    expect "samples: listed" [ "$(wc -l <lrun/samples/index.tsv)" -eq 6 ]
    expect "samples: the caption in the list" grep -q "tta	b.wav	a low hum" lrun/samples/index.tsv
    run 0 "train-lm: the same run without samples" $L $M -o lrun0 --heldout h.jsonl --run-steps 4 --eval-every 2 \
        --samples 0 --export lrun0/lm.safetensors
    expect "no samples: no folder" absent lrun0/samples
    expect "samples leave the run as it was: weights" cmp -s lrun/lm.safetensors lrun0/lm.safetensors
    expect "samples leave the run as it was: held-out loss" cmp -s lrun/eval.csv lrun0/eval.csv
    run 0 "train-lm: the same run on 2 threads" $L $M -o lrun2 --heldout h.jsonl --run-steps 4 --eval-every 2 -t 2 \
        --export lrun2/lm.safetensors
    expect "2 threads: the same weights" cmp -s lrun/lm.safetensors lrun2/lm.safetensors
    expect "2 threads: the same samples" cmp -s lrun/samples/step-4-continue-1.wav lrun2/samples/step-4-continue-1.wav
    expect "2 threads: the same tta sample" cmp -s lrun/samples/step-4-tta-0.wav lrun2/samples/step-4-tta-0.wav
    expect "train-lm: shards of both manifests" present lrun/heldout.shard
    expect "train-lm: start line" err_has "1 layers, width 16, 2 heads, context 32, rotary positions, 4 codebooks"
    expect "train-lm: a CSV row per step" [ "$(wc -l <lrun/train.csv)" -eq 5 ]
    expect "train-lm: loss per codebook in the CSV" grep -q '^step,loss,loss_cb0,loss_cb1,loss_cb2,loss_cb3,grad_norm' lrun/train.csv
    expect "train-lm: held-out loss every 2 steps" [ "$(wc -l <lrun/eval.csv)" -eq 3 ]
    touch -d '1 minute ago' lrun/train.shard
    cp lrun/train.shard shard.before
    run 0 "train-lm: resume" $L --run-steps 2
    expect "resume: noted" err_has "resuming from lrun/checkpoint.safetensors"
    expect "resume: the model from the checkpoint" err_has "(at 4)"
    expect "resume: shards reused" [ -z "$(find lrun/train.shard -newer shard.before)" ]
    expect "resume: CSV rows appended" [ "$(wc -l <lrun/train.csv)" -eq 7 ]
    cp lrun/checkpoint.safetensors ckpt.before
    run 2 "resume with another codec" $L --run-steps 1 --codec other.safetensors
    expect "another codec: one line" one_line_err
    expect "another codec: names the run's codec" err_has "trains on codec"
    expect "refused: checkpoint as it was" cmp -s ckpt.before lrun/checkpoint.safetensors
    printf '{"path":"c.wav","category":"effects","duration":1,"caption":"a beep"}\n' >>m.jsonl
    run 0 "train-lm: manifest changed" $L --run-steps 1
    expect "manifest changed: shards rebuilt" [ -n "$(find lrun/train.shard -newer shard.before)" ]
    $L --run-steps 100000000 >/dev/null 2>"$W/sigerr" &
    pid=$!
    sleep 2
    kill -INT $pid
    wait $pid
    rc=$?
    CHECKS=$((CHECKS + 1))
    [ $rc -eq 0 ] || fail "SIGINT: exit $rc"
    CHECKS=$((CHECKS + 1))
    grep -q "stopped at step" "$W/sigerr" || fail "SIGINT: no 'stopped' line"
    expect "SIGINT: the checkpoint moved on" sh -c '! cmp -s ckpt.before lrun/checkpoint.safetensors'
    expect "SIGINT: no temporary files" no_temps "$W"
    run 0 "train-lm: export" $L --run-steps 0 --export tiny-lm.safetensors
    expect "export written" present tiny-lm.safetensors
    cp tiny.safetensors codec.before
    run 2 "an export over the codec, an input" $L --run-steps 0 --export tiny.safetensors
    expect "the codec is left as it was" cmp -s codec.before tiny.safetensors
    run 2 "shards over the manifest, an input" $L --run-steps 0 --shards m.jsonl
    run 1 "--tasks with an unknown task" $L $M -o r2 --tasks continue=1,sing=1
    expect "unknown task: named" err_has "--tasks needs continue=W,tta=W"
    run 1 "--bandwidth with --codebooks" $L $M -o r2 --bandwidth 5 --codebooks 2
    run 2 "more codebooks than the codec has" $L $M -o r3 --codebooks 8
    expect "codebooks: one line" one_line_err
    : >empty.jsonl
    run 2 "an empty manifest" $SONOTOK train-lm -o r4 --manifest empty.jsonl --codec tiny.safetensors
    expect "empty manifest: one line" one_line_err
    printf 'not json\n' >bad.jsonl
    run 2 "a manifest line that is not JSON" $SONOTOK train-lm -o r5 --manifest bad.jsonl --codec tiny.safetensors
    expect "bad manifest: names it" err_has "bad.jsonl"
    run 4 "a codec that does not exist" $SONOTOK train-lm -o r6 --manifest m.jsonl --codec nothing.safetensors
    expect "no temporary files" no_temps "$W"
}

# Where outputs go: a device stays a device (/dev/null as root, and a node of
# our own that a broken writer may replace safely), a FIFO's reader gets the
# bytes, a symbolic link is written through, an output that is an input is
# refused, an archive OUTPUT naming one file, and an interrupted folder job
# (SIGINT, SIGINT twice, SIGTERM) leaves no file behind.
outputs() {
    find_model
    mkdir -p "$W/o"
    cd "$W/o" || exit 1
    F wav in.wav 0.6 24000 1
    T="$SONOTOK tokenize -q -t 1 -m $M"
    D="$SONOTOK detokenize -q -t 1 -m $M"
    run 0 "reference token file" $T in.wav -o ref.tok
    run 0 "reference audio" $D ref.tok -o ref.wav
    mkdir -p tree1 tree2
    cp in.wav tree1/a.wav
    cp in.wav tree2/a.wav && F wav tree2/b.wav 0.4 24000 1
    run 0 "reference one-entry archive" $T tree1 -o one.sta
    run 0 "reference two-entry archive" $T tree2 -o two.sta

    # devices: written, never replaced
    if [ "$(id -u)" = 0 ] && mknod null c 1 3 2>/dev/null && : > null; then
        for o in ./null /dev/null; do
            run 0 "tokenize -o $o" $T in.wav -o $o
            run 0 "tokenize a folder -o $o" $T tree2 -o $o
            run 0 "detokenize -o $o" $D ref.tok -o $o
            expect "$o is still a character device" [ -c $o ]
        done
        if [ ! -c /dev/null ]; then rm -f /dev/null; mknod -m 666 /dev/null c 1 3; fi
    else
        echo "note: not root (or no mknod here): device outputs not checked"
    fi

    # a FIFO delivers exactly what a file gets
    if mkfifo fifo 2>/dev/null; then
        for job in "tok:$T in.wav" "sta:$T tree2" "wav:$D ref.tok"; do
            ext=${job%%:*}
            cat fifo > "got.$ext" &
            reader=$!
            run 0 "$ext into a FIFO" ${job#*:} -o fifo
            expect "$ext: the FIFO is still a FIFO" [ -p fifo ]
            # a writer that replaced the FIFO leaves the reader waiting
            [ -p fifo ] || { kill $reader; rm -f fifo; mkfifo fifo; }
            wait $reader
            expect "$ext through the FIFO equals the file" cmp -s "got.$ext" "$( [ $ext = sta ] && echo two.sta || echo ref.$ext )"
        done
    fi

    # symbolic links are written through and stay links
    mkdir -p real
    : > real/t.tok
    ln -s real/t.tok link.tok
    ln -s real/new.wav dangling.wav
    ln -s link.tok chain.tok
    run 0 "tokenize through a link" $T in.wav -o link.tok
    expect "the link is still a link" [ -L link.tok ]
    expect "its target holds the tokens" cmp -s real/t.tok ref.tok
    run 0 "tokenize through two links" $T in.wav -o chain.tok
    expect "both links still links" [ -L chain.tok ] && [ -L link.tok ]
    run 0 "detokenize through a dangling link" $D ref.tok -o dangling.wav
    expect "the dangling link now leads to the audio" cmp -s real/new.wav ref.wav
    expect "still a link" [ -L dangling.wav ]

    # an input as the output: refused in one line, the input unchanged
    cp in.wav keep.wav
    cp ref.tok keep.tok
    cp one.sta keep.sta
    ln -s in.wav insym.wav
    ln in.wav inhard.wav
    for o in in.wav insym.wav inhard.wav; do
        run 2 "tokenize in.wav -o $o" $T in.wav -o $o
        expect "-o $o: one error line" one_line_err
        expect "-o $o: names the input" err_has "in.wav"
        expect "-o $o: the input is unchanged" cmp -s in.wav keep.wav
    done
    run 2 "tokenize in.wav -o - >> in.wav" sh -c "$T in.wav -o - >> in.wav"
    expect "stdout appended to the input: unchanged" cmp -s in.wav keep.wav
    run 2 "tokenize - -o in.wav < in.wav" sh -c "$T - -o in.wav < in.wav"
    expect "stdin redirected from the output: unchanged" cmp -s in.wav keep.wav
    run 2 "detokenize ref.tok -f wav -o ref.tok" $D -f wav ref.tok -o ref.tok
    expect "detokenize: the token file is unchanged" cmp -s ref.tok keep.tok
    run 2 "archive-merge with OUT one of the inputs" "$SONOTOK" archive-merge one.sta one.sta two.sta
    expect "archive-merge: the input is unchanged" cmp -s one.sta keep.sta
    cp tree2/a.wav keep_a.wav
    run 2 "tokenize a folder -o an audio file in it" $T tree2 -o tree2/a.wav
    expect "the audio file in the folder is unchanged" cmp -s tree2/a.wav keep_a.wav
    run 0 "tokenize a folder into an archive inside it" $T tree2 -o tree2/t.sta
    run 0 "and again: the archive is the output, not an input" $T tree2 -o tree2/t.sta
    rm -f tree2/t.sta

    # an archive to one file: fine with one entry, a usage error with several
    run 0 "one-entry archive -o x.wav" $D one.sta -o single.wav
    expect "single.wav is the entry's audio" cmp -s single.wav ref.wav
    run 0 "one-entry archive -o -" $D one.sta -o -
    expect "stdout holds the entry's audio" cmp -s "$W/out" ref.wav
    run 1 "two-entry archive -o x.wav" $D two.sta -o many.wav
    expect "two entries to x.wav: one line" one_line_err
    expect "two entries to x.wav: suggests --entry" err_has "entry"
    expect "two entries to x.wav: nothing made" absent many.wav
    mkdir -p dir.wav
    run 0 "an existing folder named x.wav gets the entries" $D two.sta -o dir.wav
    expect "restored into the folder" present dir.wav/b.wav

    # interrupted folder jobs leave no file: long enough to be cut short
    mkdir -p big out
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24; do
        F wav big/c$i.wav 20 24000 1 $((200 + 10 * i))
    done
    for sig in INT INT2 TERM; do
        $T big -o out/big.sta 2>/dev/null &
        pid=$!
        # wait for the archive's temporary file, then signal
        n=0
        while [ $n -lt 200 ] && [ -z "$(ls -A out)" ]; do sleep 0.05; n=$((n + 1)); done
        case $sig in
        INT2) kill -INT $pid; kill -INT $pid ;;
        *) kill -$sig $pid ;;
        esac
        wait $pid
        rc=$?
        CHECKS=$((CHECKS + 1))
        [ $rc -gt 128 ] || fail "$sig: the job was not cut short (exit $rc)"
        left=$(ls -A out)
        CHECKS=$((CHECKS + 1))
        [ -z "$left" ] || fail "$sig: left in the output folder: $left"
        rm -f out/* out/.[!.]* 2>/dev/null
    done
    expect "no temporary files anywhere" no_temps "$W/o"
}

case "$MODE" in
basic) basic ;;
train) train ;;
trainlm) trainlm ;;
model) model ;;
default) default_model ;;
outputs) outputs ;;
*) echo "usage: test_cli.sh basic|model|default|train|trainlm|outputs SONOTOK FIXTURE SOURCE_ROOT"; exit 1 ;;
esac
echo "cli $MODE: $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
