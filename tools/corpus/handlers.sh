# shellcheck shell=bash
# Per-package task generators for tools/build-corpus.sh (sourced, not run).
#
# A handler is called as `tasks_<name> UNIT` after the unit's package (if any)
# is unpacked under $OUT/pkgs/UNIT, and prints one task per line on stdout,
# fields separated by 0x1f (see tools/corpus/convert.sh):
#   group category kind src rel lang text source synthetic opts
# group is what --only selects (speech|music|effects|synthetic|midi).
# Handlers only read the unpacked packages; they never write audio.

US=$'\x1f'

# emit GROUP CATEGORY KIND SRC REL LANG TEXT SOURCE SYNTHETIC OPTS
emit() {
    local IFS="$US"
    printf '%s\n' "$*"
}

# clean_text: one line, no tabs or separators, single spaces, trimmed (stdin -> stdout)
clean_text() {
    tr '\t\r\n\037' '    ' | sed 's/  */ /g; s/^ //; s/ $//'
}

# A stable 12-hex-digit id of a string.
text_id() { printf '%s' "$1" | md5sum | cut -c1-12; }

# ---------------------------------------------------------------- asterisk
# asterisk-core-sounds-XX-wav: one prompt per file, transcripts in
# asterisk-core-sounds-XX (doc/core-sounds-XX.txt.gz, "name: text").
# Whole-bracket transcripts ("[this is a simple beep tone]") are effects with
# the bracket content as caption; a bracketed symbol after a word
# ("dash [-]") is dropped; a bracketed word inside a sentence keeps the word.
# "(beep)" is an effect too; "(N seconds of silence)" files are left out.

# asterisk_transcripts LANG -> "name<TAB>text" lines (empty if not available)
asterisk_transcripts() {
    local lang=$1 f
    ensure_pkg "asterisk-core-sounds-$lang" || return 0
    f="$OUT/pkgs/asterisk-core-sounds-$lang/usr/share/doc/asterisk-core-sounds-$lang/core-sounds-$lang.txt.gz"
    [[ -f $f ]] || return 0
    # The lists have a few slips, mended here. Entries run together on one
    # line ("...appuyez sur dièse.vm-review-nonurgent: Pour ..."): cut at the
    # second name, whose text is used only if it has no line of its own (the
    # run-in copies are older wordings). A name repeated ("conf-adminmenu:
    # conf-adminmenu: ..."): dropped. A name listed twice (es "digits/0: cero",
    # then "digits/0: diez"): the first line counts. Parentheses inside a
    # sentence are mostly notes that are not spoken ("IAX (note: does not say
    # "2")", "(simple tone sound plays)", "(in inglese)") but not always
    # ("centralini asterisk (IAX)"): no text (null) rather than a guess. A
    # wholly parenthesized text stays (tasks_asterisk makes it an effect).
    zcat "$f" | awk '
        function clean(s) { gsub(/[\t\r\037]/, " ", s); gsub(/  +/, " ", s); sub(/^ +/, "", s); sub(/ +$/, "", s); return s }
        function mend(name, text) {
            text = clean(text)
            if (index(text, name ":") == 1) text = clean(substr(text, length(name) + 2))
            if (text ~ /[()]/ && text !~ /^\(.*\)$/) return ""
            return text
        }
        /^;/ || !/:/ { next }
        {
            i = index($0, ":"); name = substr($0, 1, i - 1); text = substr($0, i + 1)
            first = 1
            while (match(text, /(^|[ .])[a-z0-9]+(-[a-z0-9]+)+: /)) {
                head = substr(text, 1, RSTART - 1); tok = substr(text, RSTART, RLENGTH)
                rest = substr(text, RSTART + RLENGTH) # (mend calls match: RSTART changes)
                if (tok ~ /^\./) head = head "."
                sub(/^[ .]/, "", tok); sub(/: $/, "", tok)
                head = mend(name, head)
                if (head != "" && first) { if (!(name in T)) { T[name] = head; order[++n] = name } }
                else if (head != "" && !(name in X)) X[name] = head
                if (head != "") first = 0
                name = tok; text = rest
            }
            text = mend(name, text)
            if (text == "") next
            if (first) { if (!(name in T)) { T[name] = text; order[++n] = name } }
            else if (!(name in X)) X[name] = text
        }
        END {
            for (k = 1; k <= n; k++) print order[k] "\t" T[order[k]]
            for (name in X) if (!(name in T)) print name "\t" X[name]
        }'
}

tasks_asterisk() {
    local unit=$1 lang root
    lang=${unit#asterisk-core-sounds-}; lang=${lang%-wav}
    root="$OUT/pkgs/$unit/usr/share/asterisk/sounds"
    [[ -d $root ]] || { echo "no sounds folder in $unit" >&2; return 1; }
    asterisk_transcripts "$lang" >"$OUT/state/$unit.transcripts"
    [[ -s $OUT/state/$unit.transcripts ]] ||
        echo "corpus: warning: no transcripts for $unit, text will be null" >&2
    (cd "$root" && find . -type f -name '*.wav' | sed 's|^\./||' | LC_ALL=C sort) |
        awk -v US="$US" -v unit="$unit" -v lang="$lang" -v root="$root" \
            -v tr="$OUT/state/$unit.transcripts" '
        BEGIN {
            while ((getline l < tr) > 0) { i = index(l, "\t"); T[substr(l, 1, i - 1)] = substr(l, i + 1) }
        }
        {
            f = $0; name = f; sub(/^[^\/]*\//, "", name); sub(/\.wav$/, "", name)
            text = (name in T) ? T[name] : ""
            group = "speech"; cat = "speech"; lg = lang
            if (text ~ /^\(.*silen.*\)$/) next   # "(1 second of silence)": nothing to learn
            if (text ~ /^\[.*\]$/ || text ~ /^\(.*\)$/) {
                group = "effects"; cat = "effects"; lg = ""
                text = substr(text, 2, length(text) - 2); sub(/^ +/, "", text); sub(/ +$/, "", text)
            } else {
                out = ""
                while (match(text, /\[[^]]*\]/)) {
                    inner = substr(text, RSTART + 1, RLENGTH - 2)
                    out = out substr(text, 1, RSTART - 1) ((inner ~ /[A-Za-z]/) ? inner : "")
                    text = substr(text, RSTART + RLENGTH)
                }
                text = out text; gsub(/  +/, " ", text); sub(/^ +/, "", text); sub(/ +$/, "", text)
            }
            print group US cat US "file" US root "/" f US "audio/" cat "/" unit "/" name US lg US text US unit US "false" US ""
        }'
}

# ---------------------------------------------------------------- festvox-ru
# Read Russian sentences; txt.done.data: ( ru_0001 "text" ). "+" marks stress
# in the text and is not spoken: it is removed.
tasks_festvox() {
    local unit=$1 data
    data=$(find "$OUT/pkgs/$unit/" -path '*/etc/txt.done.data' | LC_ALL=C sort | head -n1)
    [[ -n $data ]] || { echo "no txt.done.data in $unit" >&2; return 1; }
    local wav=${data%/etc/txt.done.data}/wav
    sed -n 's/^( *\([^ ]*\) *"\(.*\)" *)[[:space:]]*$/\1\t\2/p' "$data" |
        awk -F'\t' -v US="$US" -v unit="$unit" -v wav="$wav" '{
            text = $2; gsub(/\+/, "", text); gsub(/[\r\037]/, " ", text); gsub(/  +/, " ", text)
            sub(/^ +/, "", text); sub(/ +$/, "", text)
            print "speech" US "speech" US "file" US wav "/" $1 ".wav" US "audio/speech/" unit "/" $1 US "ru" US text US unit US "false" US ""
        }'
}

# ---------------------------------------------------------------- tuxpaint
# stamps/**/S.txt: first line = English description, "xx.utf8=" lines = translations.
#   S_desc.ogg        speech, en, the English line
#   S_desc_LOC.ogg    speech, LOC, the LOC.utf8= line (null if missing)
#   S_LOC.ogg         localized name sound: speech, LOC, text null (what is said is not written down)
#   S.ogg             effects, the English line as caption; under symbols/ (letters, numbers)
#                     it is a spoken name: speech, en, text null
tasks_tuxpaint() {
    local unit=$1 root
    root="$OUT/pkgs/$unit/usr/share/tuxpaint/stamps"
    [[ -d $root ]] || { echo "no stamps folder in $unit" >&2; return 1; }
    (cd "$root" && find . -type f -name '*.ogg' | sed 's|^\./||' | LC_ALL=C sort) |
        awk -v US="$US" -v unit="$unit" -v root="$root" '
        function has_txt(b,   l, r) { r = (getline l < (root "/" b ".txt")) > 0; close(root "/" b ".txt"); return r }
        function trim(s) { gsub(/[\t\r\037]/, " ", s); gsub(/  +/, " ", s); sub(/^ +/, "", s); sub(/ +$/, "", s); return s }
        # text of locale loc ("" = English first line) in b.txt
        function txt(b, loc,   f, l, n, res, key) {
            f = root "/" b ".txt"; n = 0; res = ""; key = tolower(loc) ".utf8="
            while ((getline l < f) > 0) {
                n++
                if (loc == "" && n == 1) { res = l; break }
                if (loc != "" && tolower(substr(l, 1, length(key))) == key) { res = substr(l, length(key) + 1); break }
            }
            close(f); return trim(res)
        }
        function bcp(loc,   a, b) {
            if (loc == "") return "en"
            if (loc ~ /@latin$/) { sub(/@latin$/, "", loc); return loc "-Latn" }
            if (loc ~ /@/) { a = loc; sub(/@.*/, "", a); b = loc; sub(/.*@/, "", b); return a "-" b }
            if (loc ~ /_/) { a = loc; sub(/_.*/, "", a); b = loc; sub(/^[^_]*_/, "", b); return a "-" toupper(b) }
            return loc
        }
        function out(group, cat, f, lang, text) {
            rel = f; sub(/\.ogg$/, "", rel)
            print group US cat US "file" US root "/" f US "audio/" cat "/" unit "/" rel US lang US text US unit US "false" US ""
        }
        {
            f = $0; stem = f; sub(/\.ogg$/, "", stem)
            locre = "_[a-z][a-z][a-z]?(_[A-Za-z][A-Za-z])?(@[a-z]+)?$"
            if (match(stem, /_desc$/)) {
                b = substr(stem, 1, RSTART - 1)
                out("speech", "speech", f, "en", has_txt(b) ? txt(b, "") : "")
            } else if (match(stem, "_desc" locre)) {
                b = substr(stem, 1, RSTART - 1); loc = substr(stem, RSTART + 6)
                out("speech", "speech", f, bcp(loc), has_txt(b) ? txt(b, loc) : "")
            } else if (!has_txt(stem) && match(stem, locre) && has_txt(substr(stem, 1, RSTART - 1))) {
                out("speech", "speech", f, bcp(substr(stem, RSTART + 1)), "")
            } else if (f ~ /^symbols\//) {
                out("speech", "speech", f, "en", "")
            } else {
                out("effects", "effects", f, "", has_txt(stem) ? txt(stem, "") : "")
            }
        }'
}

# ---------------------------------------------------------------- music
tasks_warzone() {
    local unit=$1 root
    root="$OUT/pkgs/$unit/usr/share/games/warzone2100/music"
    [[ -d $root ]] || { echo "no music folder in $unit" >&2; return 1; }
    [[ -f $root/menu.opus ]] &&
        emit music music file "$root/menu.opus" "audio/music/$unit/menu" "" \
            "game music, Warzone 2100 main menu theme" "$unit" false ""
    local album
    for album in $(cd "$root" && find albums -name album.json | LC_ALL=C sort); do
        jq -r --arg US "$US" --arg root "$root" --arg unit "$unit" --arg dir "${album%/album.json}" '
            .title as $album | .tracks[] |
            ["music", "music", "file", "\($root)/\($dir)/\(.filename)",
             "audio/music/\($unit)/\($dir | sub("^albums/"; ""))/\(.filename | sub("\\.[^.]*$"; ""))", "",
             ("game music, \($album): \"\(.title)\"" + (if .author then " by \(.author)" else "" end)
              + (if .bpm then ", \(.bpm) bpm" else "" end)),
             $unit, "false", ""] | join($US)' "$root/$album" | tr -d '\r\t'
    done
}

tasks_blupi_ogg() {
    local unit=$1 root f n
    root="$OUT/pkgs/$unit/usr/share/planetblupi/music"
    [[ -d $root ]] || { echo "no music folder in $unit" >&2; return 1; }
    for f in $(cd "$root" && ls *.ogg | LC_ALL=C sort); do
        n=${f%.ogg}; n=${n#music}; n=$((10#$n))
        emit music music file "$root/$f" "audio/music/$unit/${f%.ogg}" "" \
            "game music, Planet Blupi, track $n" "$unit" false ""
    done
}

tasks_wesnoth() {
    local unit=$1 root f title
    root=$(find "$OUT/pkgs/$unit/" -type d -path '*/data/core/music' | head -n1)
    [[ -n $root ]] || { echo "no music folder in $unit" >&2; return 1; }
    for f in $(cd "$root" && ls *.ogg | LC_ALL=C sort); do
        [[ $f == silence.ogg ]] && continue # ten seconds of nothing
        title=$(printf '%s' "${f%.ogg}" | tr '_-' '  ' |
            awk '{ for (i = 1; i <= NF; i++) $i = toupper(substr($i, 1, 1)) substr($i, 2); print }')
        emit music music file "$root/$f" "audio/music/$unit/${f%.ogg}" "" \
            "game music, Battle for Wesnoth: \"$title\"" "$unit" false ""
    done
}

# MIDI rendered with fluidsynth: music, synthetic.
tasks_blupi_midi() {
    local unit=$1 root f n
    root="$OUT/pkgs/$unit/usr/share/planetblupi/music"
    [[ -d $root ]] || { echo "no music folder in $unit" >&2; return 1; }
    for f in $(cd "$root" && ls *.mid | LC_ALL=C sort); do
        n=${f%.mid}; n=${n#music}; n=$((10#$n))
        emit midi,music music midi "$root/$f" "audio/music/$unit/${f%.mid}" "" \
            "game music, Planet Blupi, track $n, MIDI rendered with the FluidR3 General MIDI soundfont" \
            "$unit" true "$SOUNDFONT"
    done
}

# ---------------------------------------------------------------- synthetic speech
# Sentences: the asterisk transcripts (speech lines without symbols) of a
# language, plus tools/corpus/sentences-en.txt for English. Each sentence gets
# voices, rates and pitches chosen from its md5, so a sentence always gets the
# same renditions whatever else is in the list. --synth-max N keeps the N
# sentences per language with the smallest md5 (a deterministic sample).

# synth_sentences LANG -> "md5<TAB>sentence" lines, sorted by md5
synth_sentences() {
    local lang=$1
    {
        asterisk_transcripts "$lang" | cut -f2- | grep -v '^[[(]' | grep -v '[][*#@$=+/<>_|\\]'
        [[ $lang == en ]] && grep -v '^#' "$CORPUS_DIR/sentences-en.txt"
    } | clean_text_lines | awk 'length($0) >= 2' | LC_ALL=C sort -u |
        while IFS= read -r s; do printf '%s\t%s\n' "$(text_id "$s")" "$s"; done |
        LC_ALL=C sort | awk -v max="${SYNTH_MAX:-0}" 'max == 0 || NR <= max'
    return 0 # grep finding nothing is not an error
}

clean_text_lines() { tr '\t\r\037' '   ' | sed 's/  */ /g; s/^ //; s/ $//'; }

FLITE_VOICES=(kal kal16 awb rms slt)
FLITE_STRETCH=(0.9 1.0 1.1)

tasks_flite() {
    local unit=$1 id s h v1 v2 st
    synth_sentences en | while IFS=$'\t' read -r id s; do
        h=$((16#${id:0:6}))
        v1=${FLITE_VOICES[h % 5]}
        v2=${FLITE_VOICES[(h / 5 % 4 + 1 + h % 5) % 5]} # a second, different voice
        st=${FLITE_STRETCH[h / 20 % 3]}
        emit synthetic,speech speech flite "" "audio/speech/flite/$v1/$id-s$st" en "$s" flite true "$v1 $st"
        st=${FLITE_STRETCH[h / 60 % 3]}
        emit synthetic,speech speech flite "" "audio/speech/flite/$v2/$id-s$st" en "$s" flite true "$v2 $st"
    done
}

# espeak-ng voice per language and variants (voice+variant), rates and pitches.
declare -A ESPEAK_VOICES=([en]="en-us en-gb" [es]="es es-419" [fr]="fr-fr fr-be" [it]="it" [ru]="ru")
ESPEAK_VARIANTS=(m1 m3 m7 f2 f4 f5)
ESPEAK_RATES=(130 160 190)
ESPEAK_PITCHES=(35 50 70)

tasks_espeak() {
    local unit=$1 lang id s h voices v var r p k n
    for lang in en es fr it ru; do
        read -ra voices <<<"${ESPEAK_VOICES[$lang]}"
        n=2; [[ $lang == en ]] && n=1 # English also gets flite
        synth_sentences "$lang" | while IFS=$'\t' read -r id s; do
            h=$((16#${id:0:8}))
            for ((k = 0; k < n; k++)); do
                v=${voices[(h + k) % ${#voices[@]}]}
                var=${ESPEAK_VARIANTS[(h / 7 + k * 3) % 6]}
                r=${ESPEAK_RATES[(h / 43 + k) % 3]}
                p=${ESPEAK_PITCHES[(h / 131 + k * 2) % 3]}
                emit synthetic,speech speech espeak "" "audio/speech/espeak-ng/$lang/$v+$var/$id-r$r-p$p" \
                    "$lang" "$s" espeak-ng true "$v+$var $r $p"
            done
        done
    done
}

# ---------------------------------------------------------------- fillets-ng
# Czech game dialogue: sound/<level>/cs/<id>.ogg in fillets-ng-data-cs, text
# in fillets-ng-data's script/<level>/*dialogs_cs.lua:
#   dialogId("<id>", "<font>", "<English>")
#   dialogStr("<Czech>")          (the string may start on the next line)
# Looked up by level and id, then by id alone; no match gives text null.
tasks_fillets() {
    local unit=$1 snd scripts
    ensure_pkg fillets-ng-data || { echo "fillets-ng-data (the scripts) unavailable" >&2; return 1; }
    snd="$OUT/pkgs/$unit/usr/share/games/fillets-ng/sound"
    scripts="$OUT/pkgs/fillets-ng-data/usr/share/games/fillets-ng/script"
    [[ -d $snd && -d $scripts ]] || { echo "no sound or script folder for $unit" >&2; return 1; }
    (cd "$scripts" && find . -name '*dialogs_cs.lua' | LC_ALL=C sort | while IFS= read -r f; do
        level=${f#./}; level=${level%%/*}
        awk -v level="$level" '
            function unq(s) { sub(/^[ \t]*"/, "", s); sub(/"[ \t]*\)[ \t\r]*$/, "", s); gsub(/\\"/, "\"", s); gsub(/\\\\/, "\\", s); return s }
            /^dialogId\("/ { id = $0; sub(/^dialogId\("/, "", id); sub(/".*/, "", id); want = 1; next }
            want && /^dialogStr\(/ {
                s = $0; sub(/^dialogStr\(/, "", s)
                if (s ~ /^[ \t\r]*$/) { if ((getline s) <= 0) next }
                s = unq(s); gsub(/[\t\r\037]/, " ", s); gsub(/  +/, " ", s); sub(/^ +/, "", s); sub(/ +$/, "", s)
                print level "\t" id "\t" s; want = 0
            }' "$f"
    done) >"$OUT/state/$unit.transcripts"
    (cd "$snd" && find . -path '*/cs/*.ogg' | sed 's|^\./||' | LC_ALL=C sort) |
        awk -v US="$US" -v unit="$unit" -v snd="$snd" -v tr="$OUT/state/$unit.transcripts" '
        BEGIN {
            FS = "\t"
            while ((getline l < tr) > 0) { split(l, a, "\t"); L[a[1] "/" a[2]] = a[3]; if (!(a[2] in I)) I[a[2]] = a[3] }
        }
        {
            f = $0; level = f; sub(/\/.*/, "", level); id = f; sub(/.*\//, "", id); sub(/\.ogg$/, "", id)
            text = ((level "/" id) in L) ? L[level "/" id] : ((id in I) ? I[id] : "")
            rel = f; sub(/\.ogg$/, "", rel)
            print "speech" US "speech" US "file" US snd "/" f US "audio/speech/" unit "/" rel US "cs" US text US unit US "false" US ""
        }'
}

# ---------------------------------------------------------------- qabcs-data
# abcs/all/noises/<name>.ogg: effects, caption = the name ("bass_drum" -> "bass drum").
tasks_qabcs() {
    local unit=$1 root
    root=$(find "$OUT/pkgs/$unit/" -type d -path '*/abcs/all/noises' | head -n1)
    [[ -n $root ]] || { echo "no noises folder in $unit" >&2; return 1; }
    (cd "$root" && find . -maxdepth 1 -type f -name '*.ogg' | sed 's|^\./||' | LC_ALL=C sort) |
        awk -v US="$US" -v unit="$unit" -v root="$root" '{
            name = $0; sub(/\.ogg$/, "", name); cap = name; gsub(/[_-]+/, " ", cap)
            print "effects" US "effects" US "file" US root "/" $0 US "audio/effects/" unit "/" name US "" US cap US unit US "false" US ""
        }'
}

# ---------------------------------------------------------------- klettres-data
# <lang>/alpha/*.ogg (letters) and <lang>/syllab/*.ogg (syllables, words);
# <lang>/sounds.xml names each: <sound name="Ä" file="de/alpha/ae.ogg" />.
# The name is the text (the written letter or syllable: a file name such as
# "ae" cannot say "Ä"); a sound sounds.xml does not name gets text null.
tasks_klettres() {
    local unit=$1 root
    root="$OUT/pkgs/$unit/usr/share/klettres"
    [[ -d $root ]] || { echo "no klettres folder in $unit" >&2; return 1; }
    cat "$root"/*/sounds.xml | tr '\r\t' '  ' |
        sed -n 's/.*<sound  *name="\([^"]*\)"  *file="\([^"]*\)".*/\2\t\1/p' |
        sed 's/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'"'"'/g' >"$OUT/state/$unit.transcripts"
    (cd "$root" && find . -mindepth 3 -maxdepth 3 -type f -name '*.ogg' -path './*/*/*' | sed 's|^\./||' |
        LC_ALL=C sort) |
        awk -v US="$US" -v unit="$unit" -v root="$root" -v tr="$OUT/state/$unit.transcripts" '
        BEGIN { FS = "\t"; while ((getline l < tr) > 0) { i = index(l, "\t"); T[substr(l, 1, i - 1)] = substr(l, i + 1) } }
        {
            f = $0; loc = f; sub(/\/.*/, "", loc)
            lang = loc; if (lang ~ /_/) { a = lang; sub(/_.*/, "", a); b = lang; sub(/^[^_]*_/, "", b); lang = a "-" toupper(b) }
            text = (f in T) ? T[f] : ""
            gsub(/\037/, " ", text); gsub(/  +/, " ", text); sub(/^ +/, "", text); sub(/ +$/, "", text)
            rel = f; sub(/\.ogg$/, "", rel)
            print "speech" US "speech" US "file" US root "/" f US "audio/speech/" unit "/" rel US lang US text US unit US "false" US ""
        }'
}

# ---------------------------------------------------------------- ktuberling-data
# sounds/<lang>/<name>.{ogg,wav,opus}: one word per file, the name of a piece
# of the picture. The file name is the word only in some folders: in de, el,
# gl, lt, nn, ru, sl, uk it is the English id of the piece ("ball"), not what
# is said; in others it is the word with its accents dropped ("glasogon" for
# glasögon) or run together ("gafasdesol"). So text comes from the file name
# only for en and nl, and only for a plain word without a theme prefix
# ("ball", "zonnebril"; not "egypt_camel"); everything else is speech with text
# null. sounds/sr@latin, sr@ijekavian, sr@ijekavianlatin repeat sr's files
# byte for byte: a file whose content was seen already is left out.
tasks_ktuberling() {
    local unit=$1 root
    root="$OUT/pkgs/$unit/usr/share/ktuberling/sounds"
    [[ -d $root ]] || { echo "no sounds folder in $unit" >&2; return 1; }
    (cd "$root" && find . -mindepth 2 -maxdepth 2 -type f \( -name '*.ogg' -o -name '*.wav' -o -name '*.opus' \) |
        sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do printf '%s\t%s\n' "$(md5sum <"$f" | cut -c1-32)" "$f"; done) |
        awk -F'\t' -v US="$US" -v unit="$unit" -v root="$root" '
        $1 in seen { next }
        {
            seen[$1] = 1; f = $2; loc = f; sub(/\/.*/, "", loc); name = f; sub(/.*\//, "", name); sub(/\.[^.]*$/, "", name)
            lang = loc
            if (lang == "sr@latin") lang = "sr-Latn"
            else if (lang == "sr@ijekavian") lang = "sr-ijekavsk"
            else if (lang == "sr@ijekavianlatin") lang = "sr-Latn-ijekavsk"
            text = ((loc == "en" || loc == "nl") && name ~ /^[a-z]+$/) ? name : ""
            rel = f; sub(/\.[^.]*$/, "", rel)
            print "speech" US "speech" US "file" US root "/" f US "audio/speech/" unit "/" rel US lang US text US unit US "false" US ""
        }'
}

# ---------------------------------------------------------------- gcin-voice
# ogg/<syllable><tone>/<speaker>.ogg: Mandarin syllables in Zhuyin (Bopomofo),
# the folder name giving the syllable and its tone (no digit: first tone;
# 2, 3, 4: second to fourth). The text is the syllable with its Zhuyin tone
# mark (ˊ ˇ ˋ; none for the first tone), language zh-TW.
tasks_gcin() {
    local unit=$1 root
    root="$OUT/pkgs/$unit/usr/share/gcin-voice/ogg"
    [[ -d $root ]] || { echo "no ogg folder in $unit" >&2; return 1; }
    (cd "$root" && find . -mindepth 2 -maxdepth 2 -type f -name '*.ogg' | sed 's|^\./||' | LC_ALL=C sort) |
        awk -v US="$US" -v unit="$unit" -v root="$root" '
        BEGIN { mark[2] = "ˊ"; mark[3] = "ˇ"; mark[4] = "ˋ"; mark[5] = "˙" }
        {
            f = $0; syl = f; sub(/\/.*/, "", syl); spk = f; sub(/.*\//, "", spk); sub(/\.ogg$/, "", spk)
            text = syl
            if (match(syl, /[1-5]$/)) {
                t = substr(syl, RSTART, 1); s = substr(syl, 1, RSTART - 1)
                text = (t == 5) ? mark[5] s : (t == 1 ? s : s mark[t])
            }
            print "speech" US "speech" US "file" US root "/" f US "audio/speech/" unit "/" syl "/" spk US "zh-TW" US text US unit US "false" US ""
        }'
}

# ---------------------------------------------------------------- hedgewars-data
# Data/Sounds/voices/<pack>/<Name>.ogg: short phrases of the hedgehogs, 15
# packs. Language from the pack: Default_XX and Russian_pl -> XX / pl,
# Russian -> ru, the others English (in a character's accent). Text only for
# the Default pack, whose file names are its phrases run together: the table
# below splits them. Numbered and wordless clips (Ow1, Laugh, PoisonCough)
# and the other packs (the same cues, said in each character's own words)
# get text null.
# Data/Music/*.ogg: music, captioned with the title from the file name.
HEDGEWARS_DEFAULT_TEXT="Amazing=amazing Boring=boring Brilliant=brilliant Bugger=bugger Byebye=bye bye
Comeonthen=come on then Coward=coward Cutitout=cut it out Drat=drat Enemydown=enemy down Excellent=excellent
Fire=fire Firstblood=first blood Flawless=flawless Flyaway=fly away Gonnagetyou=gonna get you Grenade=grenade
Hello=hello Hurry=hurry Illgetyou=I'll get you Incoming=incoming Justyouwait=just you wait Kamikaze=kamikaze
Leavemealone=leave me alone Melon=melon Missed=missed Nutter=nutter Ohdear=oh dear Oops=oops Ouch=ouch
Reinforcements=reinforcements Revenge=revenge Runaway=run away Sameteam=same team Solong=so long Stupid=stupid
Takecover=take cover Thisoneismine=this one is mine Traitor=traitor Uh-oh=uh-oh Victory=victory Watchit=watch it
Watchthis=watch this Whatthe=what the Yessir=yes sir Youllregretthat=you'll regret that"

tasks_hedgewars() {
    local unit=$1 data f title
    data="$OUT/pkgs/$unit/usr/share/games/hedgewars/Data"
    [[ -d $data/Sounds/voices || -d $data/Music ]] || { echo "no voices or music folder in $unit" >&2; return 1; }
    if [[ -d $data/Sounds/voices ]]; then
        (cd "$data/Sounds/voices" && find . -mindepth 2 -maxdepth 2 -type f -name '*.ogg' | sed 's|^\./||' | LC_ALL=C sort) |
            awk -v US="$US" -v unit="$unit" -v root="$data/Sounds/voices" -v table="$HEDGEWARS_DEFAULT_TEXT" '
            BEGIN {
                gsub(/\n/, " ", table); n = split(table, w, " "); key = ""
                for (i = 1; i <= n; i++)
                    if (index(w[i], "=")) { key = substr(w[i], 1, index(w[i], "=") - 1); T[key] = substr(w[i], index(w[i], "=") + 1) }
                    else T[key] = T[key] " " w[i]
            }
            {
                f = $0; pack = f; sub(/\/.*/, "", pack); name = f; sub(/.*\//, "", name); sub(/\.ogg$/, "", name)
                lang = "en"
                if (pack ~ /_[a-z][a-z]$/) lang = substr(pack, length(pack) - 1)
                else if (pack == "Russian") lang = "ru"
                text = (pack == "Default" && (name in T)) ? T[name] : ""
                print "speech" US "speech" US "file" US root "/" f US "audio/speech/" unit "/" pack "/" name US lang US text US unit US "false" US ""
            }'
    fi
    if [[ -d $data/Music ]]; then
        for f in $(cd "$data/Music" && ls *.ogg | LC_ALL=C sort); do
            title=${f%.ogg} sd=""
            case $title in # "sd": the sudden-death variant of a theme
            sdmusic) title="sudden_death" ;;
            *_sd) title=${title%_sd} sd=" (sudden death)" ;;
            esac
            title=$(printf '%s' "$title" | sed 's/\([a-z]\)\([A-Z]\)/\1 \2/g' | tr '_' ' ' |
                awk '{ for (i = 1; i <= NF; i++) $i = toupper(substr($i, 1, 1)) substr($i, 2); print }')$sd
            emit music music file "$data/Music/$f" "audio/music/$unit/${f%.ogg}" "" \
                "game music, Hedgewars: \"$title\"" "$unit" false ""
        done
    fi
}

# ---------------------------------------------------------------- asterisk-prompt-it-menardi-wav
# Italian telephone prompts by one female speaker (8 kHz). No transcripts
# ship with them (the asterisk-core-sounds-it texts are another recording and
# do not always match): speech, it, text null. silence/ is left out; the
# beeps are effects, captioned.
tasks_menardi() {
    local unit=$1 root
    root=$(find "$OUT/pkgs/$unit/" -type d -name 'it_IT_f_Menardi' | head -n1)
    [[ -n $root ]] || { echo "no it_IT_f_Menardi folder in $unit" >&2; return 1; }
    (cd "$root" && find . -type f -name '*.wav' ! -path './silence/*' | sed 's|^\./||' | LC_ALL=C sort) |
        awk -v US="$US" -v unit="$unit" -v root="$root" '
        BEGIN { B["beep"] = "beep"; B["beeperr"] = "error beep"
                B["ascending-2tone"] = "rising two-tone beep"; B["descending-2tone"] = "falling two-tone beep" }
        {
            rel = $0; sub(/\.wav$/, "", rel)
            if (rel in B) print "effects" US "effects" US "file" US root "/" $0 US "audio/effects/" unit "/" rel US "" US B[rel] US unit US "false" US ""
            else print "speech" US "speech" US "file" US root "/" $0 US "audio/speech/" unit "/" rel US "it" US "" US unit US "false" US ""
        }'
}
