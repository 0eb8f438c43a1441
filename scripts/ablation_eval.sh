#!/bin/sh
# One row of an ablation table: export a train-codec run's checkpoint and
# score it the way issue 13 judges a codec: held-out speech STOI and mel
# distance (sonotok eval on an eval set made by tools/corpus/make-eval-set.sh)
# and the pocketsphinx WER of flite speech through the codec
# (tools/intelligibility.sh), at one bandwidth.
#
#   scripts/ablation_eval.sh [-b KBPS] [-V VOICES] [-n SENTENCES] [-S SONOTOK] RUN_DIR EVALSET
#
# Prints one CSV line to stdout:
#   run,step,cpu_hours,kbps,speech_mel,speech_stoi,music_mel,music_stoi,wer_mean,wer_raw
# and keeps RUN_DIR/ablation-STEP-KBPS/ (the exported model, eval and WER
# outputs). Exit status: 0 ok, 1 usage, 3 a step failed.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
kbps=6 voices=rms,slt n=0 sonotok=${SONOTOK:-$here/build/tools/sonotok}
while getopts b:V:n:S: o; do
    case $o in
    b) kbps=$OPTARG ;; V) voices=$OPTARG ;; n) n=$OPTARG ;; S) sonotok=$OPTARG ;;
    *) exit 1 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: $0 [-b KBPS] [-V VOICES] [-n N] [-S SONOTOK] RUN_DIR EVALSET" >&2; exit 1; }
run=$(cd "$1" && pwd) evalset=$(cd "$2" && pwd) || exit 1
[ -f "$run/checkpoint.safetensors" ] || { echo "ablation_eval: no checkpoint in $run" >&2; exit 1; }
step=$(tail -n 1 "$run/train.csv" | cut -d, -f1)
cpuh=$(tail -n 1 "$run/train.csv" | awk -F, '{ print $23 }')
out=$run/ablation-$step-$kbps
rm -rf "$out"
mkdir -p "$out"
"$sonotok" train-codec -q -o "$run" --manifest x --run-steps 0 --export "$out/model.safetensors" || exit 3
"$sonotok" eval -q -t 2 -m "$out/model.safetensors" -b "$kbps" "$evalset" >"$out/eval.txt" 2>&1 || exit 3
# category rows "speech  mean of N  codec  si_snr  mel  stoi  kbps" -> mel stoi
cat_score() { awk -v c="$1" '$1 == c && $2 == "mean" { print $(NF - 2) "," $(NF - 1) }' "$out/eval.txt"; }
"$here/tools/intelligibility.sh" -S "$sonotok" -m "$out/model.safetensors" -b "$kbps" -O "" -V "$voices" \
    -n "$n" -t 2 -c "$out/wer.csv" >"$out/wer.txt" 2>&1 || exit 3
# wer.csv: system,voice,wer,errors,words; the mean over voices of the codec's rows and the raw synthesis's
wer() { awk -F, -v raw="$1" 'NR > 1 && (($1 == "raw") == raw) { s += $3; n++ } END { if (n) printf "%.1f", 100 * s / n }' "$out/wer.csv"; }
echo "$(basename "$run"),$step,$cpuh,$kbps,$(cat_score speech),$(cat_score music),$(wer 0),$(wer 1)"
