#!/usr/bin/env bash
# Worker of tools/build-corpus.sh: turns task lines into audio files + manifest lines.
#
# Each argument is one task: fields separated by the ASCII unit separator (0x1f):
#   group category kind src rel lang text source synthetic opts
# kind: file (src = audio file), flite (opts = "voice stretch"),
#       espeak (opts = "voice rate pitch"), midi (src = .mid, opts = soundfont)
# rel is the output path relative to $CORPUS_OUT without extension; an empty
# lang or text becomes JSON null.
#
# Environment: CORPUS_OUT, CORPUS_RATE, CORPUS_EXT (flac|wav), CORPUS_UNIT
# (manifest fragment name: $CORPUS_OUT/manifests/$CORPUS_UNIT.jsonl).
#
# The audio is written under a temporary name and renamed when complete; the
# manifest line is appended (under flock) only after the rename, so a killed
# run never leaves a manifest line without its file.
set -u


out=${CORPUS_OUT:?}
rate=${CORPUS_RATE:?}
ext=${CORPUS_EXT:?}
unit=${CORPUS_UNIT:?}
frag="$out/manifests/$unit.jsonl"
rej="$out/state/$unit.rejected"
MIN_DUR=0.3

work=$(mktemp -d "${TMPDIR:-/tmp}/corpus-conv.XXXXXX") || exit 3
trap 'rm -rf "$work"' EXIT

locked_append() { # file line
    { flock -x 9; printf '%s\n' "$2" >>"$1"; } 9>>"$1.lock"
}

# json_str S: S as a JSON string (backslash and quote escaped, control characters made spaces).
json_str() {
    local LC_ALL=C s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//[$'\001'-$'\037']/ }
    printf '"%s"' "$s"
}
json_or_null() { if [[ -z $1 ]]; then printf null; else json_str "$1"; fi; }

reject() { # rel reason
    locked_append "$rej" "$1"$'\t'"$2"
    echo "corpus: skip $1: $2" >&2
}

for task in "$@"; do
    IFS=$'\x1f' read -r _group category kind src rel lang text source synthetic opts <<<"$task"
    final="$out/$rel.$ext"
    tmp="$out/$rel.part$$.$ext"
    mkdir -p "${final%/*}" || { reject "$rel" "mkdir failed"; continue; }
    in="$src"
    ok=1
    case $kind in
    file)
        if [[ $src == *.opus ]]; then # sox 14.4 has no Opus reader
            in="$work/in.wav"
            opusdec --quiet "$src" "$in" 2>/dev/null || ok=0
        fi ;;
    flite)
        read -r voice stretch <<<"$opts"
        in="$work/in.wav"
        flite -voice "$voice" --setf duration_stretch="$stretch" -t "$text" -o "$in" >/dev/null 2>&1 || ok=0 ;;
    espeak)
        read -r voice srate pitch <<<"$opts"
        in="$work/in.wav"
        printf '%s\n' "$text" | espeak-ng --stdin -v "$voice" -s "$srate" -p "$pitch" -w "$in" >/dev/null 2>&1 || ok=0 ;;
    midi)
        in="$work/in.wav"
        fluidsynth -ni -q -g 0.5 -r "$rate" -F "$in" "$opts" "$src" >/dev/null 2>&1 || ok=0 ;;
    *) reject "$rel" "unknown task kind $kind"; continue ;;
    esac
    if [[ $ok == 1 && -s $in ]] &&
        sox -R -G -V1 "$in" -b 16 "$tmp" remix - rate -v "$rate" 2>"$work/err"; then
        :
    else
        rm -f "$tmp" "$work/in.wav"
        reject "$rel" "unreadable or conversion failed"
        continue
    fi
    rm -f "$work/in.wav"
    dur=$(soxi -D "$tmp" 2>/dev/null) || dur=0
    if ! awk -v d="$dur" -v m="$MIN_DUR" 'BEGIN { exit !(d + 0 >= m) }'; then
        rm -f "$tmp"
        reject "$rel" "shorter than ${MIN_DUR}s ($dur)"
        continue
    fi
    mv -f "$tmp" "$final" || { rm -f "$tmp"; reject "$rel" "rename failed"; continue; }
    # JSON by hand (a jq per clip costs more than the conversion).
    printf -v dur3 '%.3f' "$dur"
    dur3=${dur3%0}; dur3=${dur3%0}; dur3=${dur3%.0}
    line="{\"path\":$(json_str "$rel.$ext"),\"category\":$(json_str "$category"),\"language\":$(json_or_null "$lang"),\"duration\":$dur3,\"text\":$(json_or_null "$text"),\"source\":$(json_str "$source"),\"synthetic\":$([[ $synthetic == true ]] && echo true || echo false)}"
    locked_append "$frag" "$line"
done
exit 0
