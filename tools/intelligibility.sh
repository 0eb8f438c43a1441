#!/bin/sh
# Intelligibility check: synthesise a sentence list with flite (several
# voices), pass the speech through sonotok codec bandwidths and Opus bitrates,
# recognise every version with pocketsphinx on a closed vocabulary made from
# the list, and print the word error rate of each system next to the raw
# synthesis's. See README.md ("Intelligibility check") for what it needs.
#
# Closed vocabulary: the pocketsphinx en-us dictionary restricted to the
# list's words (a sentence with a word the dictionary lacks is reported and
# dropped) and a JSGF word loop ( w1 | w2 | ... )* over them: any sequence of
# the list's words can come out, so a sentence is not recovered just because
# the grammar knows it, and the WER measures what the audio carries.
#
# TTS mode (-T DIR): the speech of a text-to-speech system for the sentence
# list (DIR/N.wav for line N of the list) is recognised too, and compared
# per sentence with flite's raw speech and flite's speech through the codec
# (-b, 6 kbps by default); -p FILE writes that per-sentence table.
#
# Exit status: 0 ok, 1 usage, 2 bad input (no usable sentence), 3 a tool
# failed or is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
sentences=$here/intelligibility/sentences-heldout.txt
model=default
bands=1.5,3,6
opus=6,12
voices=rms,slt,awb
limit=0
tts=
per_sentence=
threads=
csv=
keep=
sonotok=${SONOTOK:-sonotok}
hmm=/usr/share/pocketsphinx/model/en-us/en-us
dict=/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict

usage() {
    cat <<EOF
Usage: $0 [options]
Word error rate of pocketsphinx on flite speech, raw and through codecs.

  -s FILE   sentence list, one per line (default: $sentences)
  -n N      only the first N usable sentences (default: all)
  -V LIST   flite voices, comma-separated (default: $voices; flite -lv lists them)
  -m MODEL  sonotok codec model (default: $model)
  -b LIST   sonotok bandwidths in kbps, comma-separated, "" for none (default: $bands)
  -O LIST   Opus bitrates in kbps (opusenc), comma-separated, "" for none (default: $opus)
  -t N      parallel jobs and codec threads (default: online CPUs)
  -S PATH   the sonotok program (default: \$SONOTOK, else sonotok on PATH)
  -c FILE   also write the table as CSV: system,voice,wer,errors,words
  -k DIR    keep the work files (audio, transcripts) in DIR, which must not exist
  -H DIR    pocketsphinx acoustic model (default: $hmm)
  -D FILE   pronouncing dictionary (default: $dict)
  -T DIR    TTS mode: also recognise DIR/N.wav, a TTS system's speech of line N
            of the sentence list (default list then: sentences-tts.txt; default
            -b 6 and -O ''); a missing file counts as nothing recognised
  -p FILE   TTS mode: write the per-sentence table (TSV: line, words, errors and
            WER of the TTS speech, of raw flite and of flite through the codec
            over the voices, the sentence), then a total row
  -h        this help

Needs flite, pocketsphinx (pocketsphinx_batch), pocketsphinx-en-us, sox, and
opus-tools for -O. Prints one row per system: WER per voice, their mean, and
the mean's ratio to the raw synthesis's.
EOF
}

die() { echo "intelligibility: $2" >&2; exit "$1"; }

sentences_set= bands_set= opus_set=
while getopts s:n:V:m:b:O:t:S:c:k:H:D:T:p:h opt; do
    case $opt in
    T) tts=$OPTARG ;; p) per_sentence=$OPTARG ;;
    s) sentences=$OPTARG sentences_set=1 ;; n) limit=$OPTARG ;; V) voices=$OPTARG ;; m) model=$OPTARG ;;
    b) bands=$OPTARG bands_set=1 ;; O) opus=$OPTARG opus_set=1 ;; t) threads=$OPTARG ;; S) sonotok=$OPTARG ;;
    c) csv=$OPTARG ;; k) keep=$OPTARG ;; H) hmm=$OPTARG ;; D) dict=$OPTARG ;;
    h) usage; exit 0 ;; *) usage >&2; exit 1 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 1; }
if [ -n "$tts" ]; then
    [ -d "$tts" ] || die 1 "-T: not a folder: $tts"
    tts=$(cd "$tts" && pwd)
    [ -n "$sentences_set" ] || sentences=$here/intelligibility/sentences-tts.txt
    [ -n "$bands_set" ] || bands=6
    [ -n "$opus_set" ] || opus=
else
    [ -z "$per_sentence" ] || die 1 "-p goes with -T"
fi
case $limit in '' | *[!0-9]*) die 1 "-n: not a count: $limit" ;; esac
[ -n "$threads" ] || threads=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
case $threads in '' | 0 | *[!0-9]*) die 1 "-t: not a positive count: $threads" ;; esac
[ -n "$voices" ] || die 1 "-V: no voices"
for v in $(echo "$voices" | tr ',' ' '); do
    case $v in *[!A-Za-z0-9_-]*) die 1 "-V: bad voice name: $v" ;; esac
done
for k in $(echo "$bands,$opus" | tr ',' ' '); do
    case $k in *[!0-9.]* | .* | *.*.*) die 1 "not a bitrate in kbps: $k" ;; esac
done

for tool in flite pocketsphinx_batch sox; do
    command -v $tool >/dev/null 2>&1 || die 3 "$tool not found (see README.md, Intelligibility check)"
done
if [ -n "$opus" ]; then
    for tool in opusenc opusdec; do
        command -v $tool >/dev/null 2>&1 || die 3 "$tool not found (package opus-tools), or use -O ''"
    done
fi
if [ -n "$bands" ]; then
    command -v "$sonotok" >/dev/null 2>&1 || die 3 "sonotok program not found: $sonotok (use -S)"
fi
[ -f "$hmm/mdef" ] || die 3 "no pocketsphinx acoustic model in $hmm (package pocketsphinx-en-us)"
[ -r "$dict" ] || die 3 "cannot read the dictionary $dict"
[ -r "$sentences" ] || die 2 "cannot read the sentence list $sentences"
[ -z "$csv" ] || [ ! "$csv" -ef "$sentences" ] || die 1 "-c: $csv is the sentence list"

if [ -n "$keep" ]; then
    [ ! -e "$keep" ] || die 1 "-k: $keep exists"
    mkdir -p "$keep"
    work=$(cd "$keep" && pwd)
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/intelligibility.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM HUP
fi

# Sentences: text for flite (the line as written) and the normalised
# reference (lowercase; anything but letters, digits and apostrophes is a
# space). Lines that are empty or hold a word missing from the dictionary
# are left out, with a note.
awk '{ l = tolower($0); gsub(/[^a-z0-9'"'"']+/, " ", l); gsub(/(^| )'"'"'+|'"'"'+( |$)/, " ", l)
       gsub(/^ +| +$/, "", l); gsub(/ +/, " ", l); print l }' "$sentences" > "$work/norm.txt"
awk 'NR == FNR { w = $1; sub(/\(.*/, "", w); d[w] = 1; next }
     { miss = ""; for (i = 1; i <= NF; i++) if (!($i in d)) miss = miss " " $i
       if (NF == 0) next
       if (miss != "") { printf "intelligibility: line %d left out, not in the dictionary:%s\n", FNR, miss > "/dev/stderr"; next }
       print FNR }' "$dict" "$work/norm.txt" > "$work/keep.txt"
if [ "$limit" -gt 0 ]; then head -n "$limit" "$work/keep.txt" > "$work/keep2.txt"; mv "$work/keep2.txt" "$work/keep.txt"; fi
n=$(wc -l < "$work/keep.txt" | tr -d ' ')
[ "$n" -gt 0 ] || die 2 "no usable sentence in $sentences"
awk 'NR == FNR { k[$1] = 1; next } FNR in k' "$work/keep.txt" "$work/norm.txt" > "$work/ref.txt"
awk 'NR == FNR { k[$1] = 1; next } FNR in k' "$work/keep.txt" "$sentences" > "$work/text.txt"

# The closed vocabulary: dictionary entries (alternates too) of the words,
# and a JSGF loop over them.
tr ' ' '\n' < "$work/ref.txt" | sort -u > "$work/words.txt"
awk 'NR == FNR { w[$1] = 1; next } { k = $1; sub(/\(.*/, "", k); if (k in w) print }' \
    "$work/words.txt" "$dict" > "$work/vocab.dict"
{
    echo '#JSGF V1.0;'
    echo 'grammar words;'
    printf 'public <utt> = ( %s )* ;\n' "$(paste -sd'|' "$work/words.txt" | sed 's/|/ | /g')"
} > "$work/loop.gram"

# Run "$@ JOB" for JOB = 0 .. threads-1 in parallel; fail if any fails.
parallel() {
    j=0 pids=
    while [ $j -lt "$threads" ]; do
        "$@" $j &
        pids="$pids $!"
        j=$((j + 1))
    done
    st=0
    for p in $pids; do wait "$p" || st=1; done
    return $st
}

# The utterances, voice/index, one a line, in table order.
: > "$work/utts.txt"
for v in $(echo "$voices" | tr ',' ' '); do
    i=1
    while [ $i -le "$n" ]; do echo "$v/$i" >> "$work/utts.txt"; i=$((i + 1)); done
done
n_utt=$(wc -l < "$work/utts.txt" | tr -d ' ')

# Every job takes the utterances whose line number is JOB modulo threads.
utts=$work/utts.txt
my_utts() { awk -v j="$1" -v t="$threads" '(NR - 1) % t == j' "$utts"; }

synth_job() {
    my_utts "$1" | while IFS=/ read -r v i; do
        mkdir -p "$work/wav/raw/$v"
        line=$(sed -n "${i}p" "$work/text.txt")
        flite -voice "$v" -t "$line" -o "$work/wav/raw/$v/$i.wav" ||
            { echo "intelligibility: flite failed (voice $v)" >&2; exit 3; }
    done
}
opus_job() {
    my_utts "$2" | while IFS=/ read -r v i; do
        mkdir -p "$work/wav/opus$1/$v"
        o=$work/wav/opus$1/$v/$i
        opusenc --quiet --bitrate "$1" "$work/wav/raw/$v/$i.wav" "$o.opus" &&
            opusdec --quiet --rate 16000 "$o.opus" "$o.wav" && rm -f "$o.opus" ||
            { echo "intelligibility: opus at $1 kbps failed" >&2; exit 3; }
    done
}
# 16 kHz mono 16-bit headerless PCM for pocketsphinx.
pcm_job() {
    my_utts "$2" | while IFS=/ read -r v i; do
        mkdir -p "$work/pcm/$1/$v"
        sox -R -D "$work/wav/$1/$v/$i.wav" -t raw -r 16000 -c 1 -b 16 -e signed-integer "$work/pcm/$1/$v/$i.raw" ||
            { echo "intelligibility: sox failed on $1/$v/$i.wav" >&2; exit 3; }
    done
}
# pocketsphinx_batch on a contiguous share of the utterances.
asr_job() {
    nu=$(wc -l < "$utts" | tr -d ' ')
    per=$(( (nu + threads - 1) / threads ))
    off=$(( $2 * per ))
    [ $off -lt "$nu" ] || return 0
    pocketsphinx_batch -adcin yes -cepdir "$work/pcm/$1" -cepext .raw -ctl "$utts" \
        -ctloffset $off -ctlcount $per -hyp "$work/hyp/$1.$2" -hmm "$hmm" -dict "$work/vocab.dict" \
        -jsgf "$work/loop.gram" -logfn "$work/hyp/$1.$2.log" ||
        { echo "intelligibility: pocketsphinx failed, see $work/hyp/$1.$2.log" >&2; exit 3; }
}

systems=raw
echo "intelligibility: $n sentences x $(echo "$voices" | tr ',' ' ' | wc -w | tr -d ' ') voices" >&2
parallel synth_job || exit 3
for b in $(echo "$bands" | tr ',' ' '); do
    "$sonotok" tokenize -q -t "$threads" -m "$model" -b "$b" "$work/wav/raw" -o "$work/codec$b.sta" || exit 3
    "$sonotok" detokenize -q -t "$threads" -m "$model" "$work/codec$b.sta" -o "$work/wav/codec$b" || exit 3
    rm -f "$work/codec$b.sta"
    systems="$systems codec$b"
done
for k in $(echo "$opus" | tr ',' ' '); do
    parallel opus_job "$k" || exit 3
    systems="$systems opus$k"
done

mkdir -p "$work/hyp"
echo "system,voice,wer,errors,words" > "$work/table.csv"
printf '%-14s' system
for v in $(echo "$voices" | tr ',' ' '); do printf ' %8s' "$v"; done
printf ' %8s %7s\n' mean 'x raw'
raw_mean=
for s in $systems; do
    parallel pcm_job "$s" || exit 3
    parallel asr_job "$s" || exit 3
    # Transcripts in utterance order: the words before "(uttid score)".
    j=0
    while [ $j -lt "$threads" ]; do [ ! -f "$work/hyp/$s.$j" ] || cat "$work/hyp/$s.$j"; j=$((j + 1)); done |
        awk 'NR == FNR { l = $0; sub(/ *\([^()]*\)[ \t]*$/, "", l); u = $0; sub(/.*\(/, "", u); sub(/ .*/, "", u)
                         h[u] = l; next }
             { print ($1 in h) ? h[$1] : "" }' - "$utts" > "$work/hyp/$s.txt"
    case $s in raw) name=raw ;; codec*) name="sonotok ${s#codec}k" ;; opus*) name="opus ${s#opus}k" ;; esac
    printf '%-14s' "$name"
    tot_e=0 tot_w=0
    for v in $(echo "$voices" | tr ',' ' '); do
        grep -n "^$v/" "$work/utts.txt" | cut -d: -f1 |
            awk 'NR == FNR { k[$1] = 1; next } FNR in k' - "$work/hyp/$s.txt" > "$work/hyp/$s.$v.txt"
        r=$("$sonotok" wer "$work/ref.txt" "$work/hyp/$s.$v.txt") || exit 3
        e=$(echo "$r" | sed 's/.* sub=\([0-9]*\) del=\([0-9]*\) ins=\([0-9]*\) .*/\1 \2 \3/' | awk '{ print $1 + $2 + $3 }')
        w=$(echo "$r" | sed 's/.* words=\([0-9]*\) .*/\1/')
        tot_e=$((tot_e + e)) tot_w=$((tot_w + w))
        printf ' %7.1f%%' "$(echo "$e $w" | awk '{ print 100 * $1 / $2 }')"
        echo "$name,$v,$(echo "$e $w" | awk '{ printf "%.4f", $1 / $2 }'),$e,$w" >> "$work/table.csv"
    done
    mean=$(echo "$tot_e $tot_w" | awk '{ print 100 * $1 / $2 }')
    [ -n "$raw_mean" ] || raw_mean=$mean
    printf ' %7.1f%% %7s\n' "$mean" "$(echo "$mean $raw_mean" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }')"
done

# TTS mode: the system's speech, recognised the same way, then per sentence
# next to raw flite and the first codec bandwidth (summed over the voices).
if [ -n "$tts" ]; then
    utts=$work/utts-tts.txt
    awk '{ print "tts/" NR }' "$work/keep.txt" > "$utts"
    mkdir -p "$work/wav/tts/tts"
    missing=0
    i=1
    for orig in $(cat "$work/keep.txt"); do
        if [ -f "$tts/$orig.wav" ]; then
            cp "$tts/$orig.wav" "$work/wav/tts/tts/$i.wav"
        else
            missing=$((missing + 1))
            echo "intelligibility: no $tts/$orig.wav: counted as nothing recognised" >&2
            sox -n -r 16000 -c 1 -b 16 "$work/wav/tts/tts/$i.wav" trim 0 0.1 || exit 3
        fi
        i=$((i + 1))
    done
    parallel pcm_job tts || exit 3
    parallel asr_job tts || exit 3
    j=0
    while [ $j -lt "$threads" ]; do [ ! -f "$work/hyp/tts.$j" ] || cat "$work/hyp/tts.$j"; j=$((j + 1)); done |
        awk 'NR == FNR { l = $0; sub(/ *\([^()]*\)[ \t]*$/, "", l); u = $0; sub(/.*\(/, "", u); sub(/ .*/, "", u)
                         h[u] = l; next }
             { print ($1 in h) ? h[$1] : "" }' - "$utts" > "$work/hyp/tts.txt"
    "$sonotok" wer -l "$work/ref.txt" "$work/hyp/tts.txt" | grep -v '^wer=' > "$work/hyp/tts.lines" || exit 3
    codec_sys=
    for b in $(echo "$bands" | tr ',' ' '); do codec_sys=codec$b; break; done
    # per-line errors of a system summed over the voices: "LINE ERRORS WORDS"
    for s in raw $codec_sys; do
        : > "$work/hyp/$s.lines"
        for v in $(echo "$voices" | tr ',' ' '); do
            "$sonotok" wer -l "$work/ref.txt" "$work/hyp/$s.$v.txt" | grep -v '^wer=' >> "$work/hyp/$s.lines" || exit 3
        done
    done
    awk -v codec="$codec_sys" -v miss="$missing" -v out="$work/sent.tsv" '
        FILENAME ~ /tts.lines$/ { te[$1] = $2; tw[$1] = $3; n = $1 > n ? $1 : n; next }
        FILENAME ~ /raw.lines$/ { re[$1] += $2; rw[$1] += $3; next }
        FILENAME ~ /codec.*lines$/ { ce[$1] += $2; cw[$1] += $3; next }
        FILENAME ~ /keep.txt$/ { orig[FNR] = $1; next }
        FILENAME ~ /text.txt$/ { txt[FNR] = $0; next }
        END {
            printf "line\twords\ttts_errors\ttts_wer\traw_errors\traw_words\traw_wer\tcodec_errors\tcodec_words\tcodec_wer\tsentence\n" > out
            for (i = 1; i <= n; i++) {
                printf "%d\t%d\t%d\t%.4f\t%d\t%d\t%.4f\t%d\t%d\t%s\t%s\n", orig[i], tw[i], te[i], te[i] / tw[i],
                    re[i], rw[i], re[i] / rw[i], ce[i], cw[i], (codec == "" ? "-" : sprintf("%.4f", ce[i] / cw[i])), txt[i] > out
                TE += te[i]; TW += tw[i]; RE += re[i]; RW += rw[i]; CE += ce[i]; CW += cw[i]
            }
            printf "total\t%d\t%d\t%.4f\t%d\t%d\t%.4f\t%d\t%d\t%s\t%d sentences, %d missing\n", TW, TE, TE / TW, RE, RW,
                RE / RW, CE, CW, (codec == "" ? "-" : sprintf("%.4f", CE / CW)), n, miss > out
            printf "tts: %d sentences: WER tts %.1f%%, raw flite %.1f%%, flite through %s %s; tts/raw %s, tts/codec %s\n",
                n, 100 * TE / TW, 100 * RE / RW, (codec == "" ? "no codec" : "sonotok " substr(codec, 6) "k"),
                (codec == "" ? "-" : sprintf("%.1f%%", 100 * CE / CW)),
                (RE > 0 ? sprintf("%.2f", (TE / TW) / (RE / RW)) : "-"), (CE > 0 ? sprintf("%.2f", (TE / TW) / (CE / CW)) : "-")
        }' "$work/hyp/tts.lines" "$work/hyp/raw.lines" ${codec_sys:+"$work/hyp/$codec_sys.lines"} \
        "$work/keep.txt" "$work/text.txt" || exit 3
    if [ -n "$per_sentence" ]; then cat "$work/sent.tsv" > "$per_sentence" || die 3 "cannot write $per_sentence"; fi
fi
# The CSV is written once the table is complete.
[ -z "$csv" ] || cat "$work/table.csv" > "$csv" || die 3 "cannot write $csv"
