#!/usr/bin/env bash
# The compression table of the README and codec/FORMATS.md: kbps on disk of
# each token-file coder, per category of an eval set, at each bandwidth.
#
#   scripts/coder_table.sh SONOTOK EVALSET [MODEL] [BANDWIDTHS]
#
# EVALSET holds speech/, music/ and effects/ (tools/corpus/make-eval-set.sh).
# For each category and bandwidth (default "1.5 3 6") the folder is
# tokenized once per coder (packed, zstd, range, model, auto) into an
# archive, and one row is printed per (category, bandwidth): the archive's
# kbps on disk (what `tokenize` reports: headers, names and index included)
# for each coder, then the payload alone for the model coder and packed (the
# archive less the same archive's headers: its packed size less the packed
# payload, which is exactly n_q x frames x 10 bits) and the model coder's
# saving against the nominal rate. MODEL defaults to sonotok-24k; its coder
# model must be beside it (NAME.coder).
set -eu -o pipefail
S=${1:?usage: coder_table.sh SONOTOK EVALSET [MODEL] [BANDWIDTHS]}
E=${2:?usage: coder_table.sh SONOTOK EVALSET [MODEL] [BANDWIDTHS]}
M=${3:-sonotok-24k}
BWS=${4:-1.5 3 6}
T=$(mktemp -d "${TMPDIR:-/tmp}/coder-table.XXXXXX")
trap 'rm -rf "$T"' EXIT

# kbps on disk from the summary line ("..., 5.12 kbps on disk (6.00 nominal), ...")
kbps() { sed -n 's/.* \([0-9.]*\) kbps on disk (\([0-9.]*\) nominal).*/\1 \2/p' "$1"; }

printf '| category | seconds | nominal kbps | packed | zstd | range | model | auto | model, payload only | model payload vs nominal |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for cat in speech music effects; do
    for b in $BWS; do
        cols=
        declare -A on_disk=()
        for c in packed zstd range model auto; do
            "$S" tokenize -m "$M" -b "$b" -t 1 --coder "$c" "$E/$cat" -o "$T/$c.sta" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
            read -r k nominal < <(kbps "$T/err")
            on_disk[$c]=$k
            cols="$cols | $k"
        done
        secs=$(sed -n 's/.* \([0-9.]*\) s audio in .*/\1/p' "$T/err")
        # the packed payload is the nominal rate: the rest of the packed archive is headers, names and index
        payload=$(awk -v m="${on_disk[model]}" -v p="${on_disk[packed]}" -v n="$nominal" 'BEGIN { printf "%.3f", m - (p - n) }')
        saving=$(awk -v mp="$payload" -v n="$nominal" 'BEGIN { printf "%.1f%% under", 100 * (1 - mp / n) }')
        printf '| %s | %s | %s%s | %s | %s |\n' "$cat" "$secs" "$nominal" "$cols" "$payload" "$saving"
    done
done
