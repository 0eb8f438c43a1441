#!/usr/bin/env bash
# Deterministic train / held-out split of a corpus manifest.
#
#   tools/corpus/split.sh DIR [MOD [MUSIC_MOD]]   (also: tools/build-corpus.sh --out DIR --split)
#
# Reads DIR/manifest.jsonl, writes DIR/train.jsonl and DIR/heldout.jsonl
# (temporary names, then rename). A clip is held out when
#     h mod MOD == 0   (MOD defaults to 50, about 2 %)
# or, for music (few, long files: 2 % would hold out one or two tracks),
#     h mod MUSIC_MOD == 0   (MUSIC_MOD defaults to 10, about 10 % of the tracks)
# where h is a hash of the bytes of its "path":
#     h = 0; for each byte b: h = (h * 31 + b) mod 1000000007
# This depends on the path only, so a clip keeps its side when the corpus grows
# or is rebuilt, and any language can recompute it.
set -eu -o pipefail
dir=${1:?usage: split.sh DIR [MOD]}
mod=${2:-50}
music_mod=${3:-10}
[[ $mod =~ ^[1-9][0-9]*$ ]] || { echo "split.sh: bad MOD: $mod" >&2; exit 1; }
[[ $music_mod =~ ^[1-9][0-9]*$ ]] || { echo "split.sh: bad MUSIC_MOD: $music_mod" >&2; exit 1; }
man="$dir/manifest.jsonl"
[[ -f $man ]] || { echo "split.sh: no $man" >&2; exit 2; }
jq -r '[.category, .path] | @tsv' "$man" | LC_ALL=C awk -F'\t' -v mod="$mod" -v mmod="$music_mod" '
    BEGIN { for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i }
    {
        h = 0; p = $2; n = length(p)
        for (i = 1; i <= n; i++) h = (h * 31 + ord[substr(p, i, 1)]) % 1000000007
        print (h % mod == 0 || ($1 == "music" && h % mmod == 0)) ? "H" : "T"
    }' | paste -d '\t' - "$man" | awk -F'\t' -v t="$dir/train.jsonl.tmp" -v h="$dir/heldout.jsonl.tmp" '
    BEGIN { printf "" > t; printf "" > h }
    { line = substr($0, 3); if ($1 == "H") print line > h; else print line > t }'
mv "$dir/train.jsonl.tmp" "$dir/train.jsonl"
mv "$dir/heldout.jsonl.tmp" "$dir/heldout.jsonl"
echo "split.sh: $(wc -l <"$dir/train.jsonl") train, $(wc -l <"$dir/heldout.jsonl") held out (path hash mod $mod == 0, music mod $music_mod)" >&2
