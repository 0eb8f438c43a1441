#!/bin/sh
# Golden outputs: token files, .npy, an archive, decoded audio and a short
# train-codec run (checkpoints after a resume, 1 and 2 threads) made by the
# sonotok program from the committed test inputs, hashed.
#
#   golden.sh SONOTOK FIXTURE SOURCE_ROOT          compare with hashes-LEVEL-CORE.txt
#   golden.sh SONOTOK FIXTURE SOURCE_ROOT --write  print the hashes instead
#                                                  (this CPU's level, or $SONOTOK_CPU)
#
# The hashes were made by the code as it stood before the training code moved
# out of the codec library (commit c22f373): a refactor that changes any of
# them changed behaviour. Float results depend on the kernels the CPU selects
# (AVX-512, AVX2 or plain C) and OpenBLAS's core type, so the hashes are kept
# per kernel level. The comparison runs at this CPU's level and at every lower
# one (the program's SONOTOK_CPU cap reaches every kernel family); a level
# with no file is skipped, and with none at all the test is (exit 77).
TEST_NAME=golden
. "$(dirname "$0")/../sh_common.sh"
SONOTOK=$(abs "$1")
FIX=$(abs "$2")
SRC=$(abs "$3")
MODE=${4:-check}

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
# the levels of common/cpu.c: this CPU's and every one below it, each reached
# with the program's SONOTOK_CPU cap
if has avx2 && has fma && has avx512f && has avx512dq; then levels="avx512 avx2 plain"
elif has avx2 && has fma; then levels="avx2 plain"
else levels=plain
fi
core=${OPENBLAS_CORETYPE:-auto}
if [ "$MODE" = --write ]; then
    levels=${SONOTOK_CPU:-${levels%% *}}
fi

cd "$W" || exit 1

die() { echo "golden: $*"; exit 1; }
S() { "$SONOTOK" "$@" 2>err || { cat err; die "failed: sonotok $*"; }; }

# Every output, in the current folder, at the level in $SONOTOK_CPU.
make_outputs() {
    # inference: sonotok-24k (the default codec until codec v2, by name), an official-format .th (tiny24) and a
    # stereo 48 kHz one with segments (tiny48)
    for b in 1.5 3 6; do
        S tokenize -q -t 2 -m sonotok-24k -b "$b" "$SRC/tests/data/speech-cs.ogg" -o "speech-$b.tok"
        S tokenize -q -t 2 -m sonotok-24k -b "$b" -f npy "$SRC/tests/data/hello.wav" -o "hello-$b.npy"
    done
    S detokenize -q -t 2 speech-6.tok -o speech-6.wav
    S detokenize -q -t 1 -m sonotok-24k hello-1.5.npy -o hello-1.5.wav
    T24="$SRC/tests/codec/data/tiny24.th"
    T48="$SRC/tests/codec/data/tiny48.th"
    S tokenize -q -m "$T24" "$SRC/tests/data/hello.wav" -o t24.tok
    S tokenize -q -m "$T24" -f npy "$SRC/tests/data/speech-cs.ogg" -o t24.npy
    S detokenize -q -m "$T24" t24.tok -o t24.wav
    S tokenize -q -m "$T48" "$SRC/tests/data/speech-cs.ogg" -o t48.tok
    S detokenize -q -m "$T48" t48.tok -o t48.wav
    mkdir -p tree/sub
    cp "$SRC/tests/data/hello.wav" tree/a.wav
    cp "$SRC/tests/data/speech-cs.ogg" tree/sub/b.ogg
    S tokenize -q -m sonotok-24k tree -o tree.sta

    # training: a tiny codec from a fixed seed, discriminator from step 3,
    # resumed once; 1 and 2 threads
    "$FIX" wav a.wav 1 8000 1 300 && "$FIX" wav b.wav 1.5 8000 1 500 || die "fixture failed"
    printf '{"path":"a.wav","category":"speech","duration":1}\n{"path":"b.wav","category":"music","duration":1.5}\n' >m.jsonl
    for t in 1 2; do
        T="train-codec -q -o run$t --manifest m.jsonl -t $t --seed 7"
        S $T --rate 8000 --filters 2 --ratios 4,2 --dimension 8 --codebooks 4 --codebook-size 32 \
            --bandwidths 5,10,20 --crop 0.3 --batch 2 --steps 20 --run-steps 4 --adv-start 3 --disc-filters 4
        cp "run$t/checkpoint.safetensors" "train$t-step4.safetensors"
        S $T --run-steps 3
        cp "run$t/checkpoint.safetensors" "train$t-step7.safetensors"
        S train-codec -q -o "run$t" --manifest m.jsonl --run-steps 0 --export "train$t.safetensors"
    done
}

# a checkpoint records the CPU time it has cost: left out of its hash
out() {
    for f in speech*.wav hello*.wav t24.wav t48.wav *.tok *.npy *.sta train*.safetensors; do
        case $f in
        train*) h=$(sed -e 's/"cpu_seconds":"[^"]*"//' "$f" | sha256sum) ;;
        *) h=$(sha256sum <"$f") ;;
        esac
        printf '%s %s\n' "$(echo "$h" | cut -c1-64)" "$f"
    done
}
if [ "$MODE" = --write ]; then
    SONOTOK_CPU=$levels
    export SONOTOK_CPU
    make_outputs && out
    exit
fi
checked=0 failed=0
for lvl in $levels; do
    isa=$lvl-$core
    HASHES="$SRC/tests/golden/hashes-$isa.txt"
    if [ ! -f "$HASHES" ]; then
        echo "golden ($isa): no hashes for this kernel level, skipped"
        continue
    fi
    checked=$((checked + 1))
    mkdir "$W/$lvl" || exit 1
    if (cd "$W/$lvl" && SONOTOK_CPU=$lvl && export SONOTOK_CPU && make_outputs && out >got.txt) &&
        diff -u "$HASHES" "$W/$lvl/got.txt"; then
        echo "golden ($isa): $(wc -l <"$W/$lvl/got.txt") outputs identical"
    else
        echo "golden ($isa): outputs differ from $HASHES"
        failed=$((failed + 1))
    fi
done
[ "$checked" -gt 0 ] || exit 77
[ "$failed" -eq 0 ]
