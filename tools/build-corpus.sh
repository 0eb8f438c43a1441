#!/usr/bin/env bash
# Build sonotok's training corpus from approved Debian packages (../shared/DATA.md).
#
#   tools/build-corpus.sh [--out DIR] [--rate 24000] [--only speech|music|effects|synthetic|midi]
#                         [--jobs N] [--format flac|wav] [--packages "UNIT ..."] [--synth-max N]
#   tools/build-corpus.sh --out DIR --split      # write DIR/train.jsonl and DIR/heldout.jsonl
#   tools/build-corpus.sh --list                 # the units it knows
#
# Packages are fetched with `apt-get download` into DIR/debs (cached), unpacked
# with `dpkg -x` into DIR/pkgs/PKG, converted to mono 16-bit FLAC (or WAV) at
# --rate into DIR/audio/<category>/<package>/..., and described in
# DIR/manifest.jsonl. A rerun does only what is missing. See tools/corpus/README.md.
#
# Tools it needs, installed with apt-get when missing (Debian 12 package names):
NEEDED_PACKAGES_ALWAYS="sox libsox-fmt-all jq"     # sox, soxi, jq
NEEDED_PACKAGES_OPUS="opus-tools"                  # opusdec: sox 14.4 cannot read Opus
NEEDED_PACKAGES_SYNTH="flite espeak-ng"
NEEDED_PACKAGES_MIDI="fluidsynth fluid-soundfont-gm"
SOUNDFONT=/usr/share/sounds/sf2/FluidR3_GM.sf2     # from fluid-soundfont-gm
#
# Exit status: 0 built (some packages may have been skipped: see the report),
# 1 usage, 2 a needed tool is missing and cannot be installed.

set -u -o pipefail

CORPUS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/corpus" && pwd) || exit 2
# shellcheck source=corpus/handlers.sh
. "$CORPUS_DIR/handlers.sh"

# unit  groups(--only)  handler  [extra packages it needs]
UNITS=(
    "asterisk-core-sounds-en-wav speech,effects asterisk"
    "asterisk-core-sounds-es-wav speech,effects asterisk"
    "asterisk-core-sounds-fr-wav speech,effects asterisk"
    "asterisk-core-sounds-it-wav speech,effects asterisk"
    "asterisk-core-sounds-ru-wav speech,effects asterisk"
    "festvox-ru speech festvox"
    "tuxpaint-stamps-default speech,effects tuxpaint"
    "fillets-ng-data-cs speech fillets"
    "flite synthetic,speech flite"
    "espeak-ng synthetic,speech espeak"
    "warzone2100-music music warzone"
    "planetblupi-music-ogg music blupi_ogg"
    "wesnoth-1.16-music music wesnoth"
    "planetblupi-music-midi midi,music blupi_midi"
    "qabcs-data effects qabcs"
    "klettres-data speech klettres"
    "ktuberling-data speech ktuberling"
    "gcin-voice speech gcin"
    "hedgewars-data speech,music hedgewars"
    "asterisk-prompt-it-menardi-wav speech,effects menardi"
)
# Units that are TTS engines, not data packages: nothing to download for them.
declare -A NO_DEB=([flite]=1 [espeak-ng]=1)

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1; }

OUT=corpus RATE=24000 ONLY="" JOBS=$(nproc 2>/dev/null || echo 2) FORMAT=flac
PACKAGES="" SYNTH_MAX=0 SPLIT=0 LIST=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --out) OUT=${2:?}; shift 2 ;;
    --rate) RATE=${2:?}; shift 2 ;;
    --only) ONLY=${2:?}; shift 2 ;;
    --jobs | -j) JOBS=${2:?}; shift 2 ;;
    --format) FORMAT=${2:?}; shift 2 ;;
    --packages) PACKAGES=${2?}; shift 2 ;;
    --synth-max) SYNTH_MAX=${2:?}; shift 2 ;;
    --split) SPLIT=1; shift ;;
    --list) LIST=1; shift ;;
    -h | --help) usage ;;
    *) echo "build-corpus: unknown argument: $1" >&2; usage ;;
    esac
done
case $ONLY in "" | speech | music | effects | synthetic | midi) ;; *) echo "build-corpus: bad --only: $ONLY" >&2; exit 1 ;; esac
case $FORMAT in flac | wav) ;; *) echo "build-corpus: bad --format: $FORMAT" >&2; exit 1 ;; esac
[[ $RATE =~ ^[0-9]+$ && $RATE -ge 8000 ]] || { echo "build-corpus: bad --rate: $RATE" >&2; exit 1; }
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "build-corpus: bad --jobs: $JOBS" >&2; exit 1; }
[[ $SYNTH_MAX =~ ^[0-9]+$ ]] || { echo "build-corpus: bad --synth-max: $SYNTH_MAX" >&2; exit 1; }

if [[ $LIST == 1 ]]; then
    for u in "${UNITS[@]}"; do read -r name groups _ <<<"$u"; printf '%-32s %s\n' "$name" "$groups"; done
    exit 0
fi
for want in $PACKAGES; do
    known=0
    for u in "${UNITS[@]}"; do [[ ${u%% *} == "$want" ]] && known=1; done
    [[ $known == 1 ]] || { echo "build-corpus: unknown unit: $want (see --list)" >&2; exit 1; }
done
if [[ $SPLIT == 1 ]]; then
    exec "$CORPUS_DIR/split.sh" "$OUT"
fi

mkdir -p "$OUT"/{debs,pkgs,audio,manifests,state,logs} || exit 3
OUT=$(cd "$OUT" && pwd)
export OUT SYNTH_MAX SOUNDFONT CORPUS_DIR

log() { printf 'build-corpus: %s\n' "$*" >&2; }
SKIPPED="$OUT/logs/skipped.tsv" # this run's skipped packages: unit<TAB>reason
: >"$SKIPPED"
skip() { printf '%s\t%s\n' "$1" "$2" >>"$SKIPPED"; log "skip $1: $2"; }

# ------------------------------------------------------------ tools
AS_ROOT=()
[[ $(id -u) == 0 ]] || AS_ROOT=(sudo -n)
apt_updated=0
apt_lists_empty() { # no Packages file in apt's lists folder (/var/lib/apt/lists)
    local lists=/var/lib/apt/lists
    eval "$(apt-config shell lists Dir::State::Lists/d 2>/dev/null)"
    ! compgen -G "${lists%/}/*_Packages*" >/dev/null
}
apt_update() { # once per run; 1 when it cannot (not root and no password-less sudo) or fails
    [[ $apt_updated == 0 ]] || return 1
    apt_updated=1
    log "apt-get update"
    "${AS_ROOT[@]}" apt-get update -qq >>"$OUT/logs/apt-update.log" 2>&1 ||
        { log "warning: apt-get update failed (see $OUT/logs/apt-update.log)"; return 1; }
}
install_pkgs() { # PKG... (only the missing ones are installed)
    local missing=() p
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
    [[ ${#missing[@]} == 0 ]] && return 0
    log "installing ${missing[*]}"
    if apt_lists_empty; then apt_update || return 1; fi
    DEBIAN_FRONTEND=noninteractive "${AS_ROOT[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >"$OUT/logs/apt-install.log" 2>&1
}

want_group() { [[ -z $ONLY || ,$1, == *,$ONLY,* ]]; }
want_unit() { [[ -z $PACKAGES || " $PACKAGES " == *" $1 "* ]]; }

read -ra need <<<"$NEEDED_PACKAGES_ALWAYS"
for u in "${UNITS[@]}"; do
    read -r name groups handler <<<"$u"
    want_unit "$name" && want_group "$groups" || continue
    case $handler in
    warzone | ktuberling) read -ra more <<<"$NEEDED_PACKAGES_OPUS"; need+=("${more[@]}") ;;
    flite | espeak) read -ra more <<<"$NEEDED_PACKAGES_SYNTH"; need+=("${more[@]}") ;;
    blupi_midi) read -ra more <<<"$NEEDED_PACKAGES_MIDI"; need+=("${more[@]}") ;;
    esac
done
install_pkgs "${need[@]}" || log "warning: could not install some of: ${need[*]} (see $OUT/logs/apt-install.log)"
for t in sox soxi jq flock; do
    command -v "$t" >/dev/null || { log "missing tool: $t"; exit 2; }
done
# `apt-get download` needs the package lists, which a fresh container often
# lacks even when the tools above are installed (its image deleted them).
if apt_lists_empty; then apt_update || log "warning: no apt package lists, downloads will fail (run apt-get update)"; fi

# ------------------------------------------------------------ packages
# ensure_pkg PKG: the .deb in debs/ (cached) unpacked in pkgs/PKG (cached).
declare -A PKG_FAIL=()
ensure_pkg() {
    local pkg=$1 deb
    [[ -n ${PKG_FAIL[$pkg]:-} ]] && return 1
    if [[ -f $OUT/pkgs/$pkg/.unpacked ]]; then return 0; fi
    deb=$(compgen -G "$OUT/debs/${pkg}_*.deb" | head -n1)
    if [[ -z $deb ]]; then
        log "downloading $pkg"
        local sandbox=()
        [[ $(id -u) == 0 ]] && sandbox=(-o APT::Sandbox::User=root)
        # Stale lists name a version the mirror no longer has: update once and retry.
        if ! (cd "$OUT/debs" && apt-get "${sandbox[@]}" -qq download "$pkg") >>"$OUT/logs/download.log" 2>&1 &&
            ! { apt_update && (cd "$OUT/debs" && apt-get "${sandbox[@]}" -qq download "$pkg") >>"$OUT/logs/download.log" 2>&1; }; then
            PKG_FAIL[$pkg]=1; skip "$pkg" "apt-get download failed (missing from the archive?)"; return 1
        fi
        deb=$(compgen -G "$OUT/debs/${pkg}_*.deb" | head -n1)
        [[ -n $deb ]] || { PKG_FAIL[$pkg]=1; skip "$pkg" "no .deb after download"; return 1; }
    fi
    rm -rf "$OUT/pkgs/$pkg" "$OUT/pkgs/$pkg.tmp"
    mkdir -p "$OUT/pkgs/$pkg.tmp"
    if ! dpkg -x "$deb" "$OUT/pkgs/$pkg.tmp" 2>>"$OUT/logs/unpack.log"; then
        rm -rf "$OUT/pkgs/$pkg.tmp"; PKG_FAIL[$pkg]=1; skip "$pkg" "dpkg -x failed (corrupt .deb? delete it to refetch)"; return 1
    fi
    printf '%s\n' "${deb##*/}" >"$OUT/pkgs/$pkg.tmp/.unpacked"
    mv "$OUT/pkgs/$pkg.tmp" "$OUT/pkgs/$pkg"
}

# ------------------------------------------------------------ build
export CORPUS_OUT=$OUT CORPUS_RATE=$RATE CORPUS_EXT=$FORMAT
# Settings that change every file: refuse to mix them into one corpus.
settings="rate=$RATE format=$FORMAT"
if [[ -f $OUT/state/settings ]] && [[ $(cat "$OUT/state/settings") != "$settings" ]]; then
    log "$OUT was built with $(cat "$OUT/state/settings"), not $settings: use another --out"
    exit 1
fi
echo "$settings" >"$OUT/state/settings"

for u in "${UNITS[@]}"; do
    read -r name groups handler <<<"$u"
    want_unit "$name" && want_group "$groups" || continue
    if [[ -z ${NO_DEB[$name]:-} ]]; then
        ensure_pkg "$name" || continue
    else
        case $handler in
        flite) command -v flite >/dev/null || { skip "$name" "flite not installed"; continue; } ;;
        espeak) command -v espeak-ng >/dev/null || { skip "$name" "espeak-ng not installed"; continue; } ;;
        esac
    fi
    if [[ $handler == blupi_midi ]] && { ! command -v fluidsynth >/dev/null || [[ ! -f $SOUNDFONT ]]; }; then
        skip "$name" "fluidsynth or $SOUNDFONT missing"; continue
    fi
    tasks="$OUT/state/$name.tasks"
    if ! "tasks_$handler" "$name" >"$tasks.tmp" 2>>"$OUT/logs/tasks.log"; then
        skip "$name" "could not read its files (see logs/tasks.log)"; continue
    fi
    mv "$tasks.tmp" "$tasks"
    frag="$OUT/manifests/$name.jsonl" rej="$OUT/state/$name.rejected"
    touch "$frag" "$rej"
    # Leftovers of a killed run.
    find "$OUT/audio" -name '*.part[0-9]*' -path "*/$name/*" -delete 2>/dev/null
    # Done: in the manifest fragment, or rejected before (too short, unreadable).
    todo="$OUT/state/$name.todo"
    done_list="$OUT/state/$name.done"
    { jq -r '.path' "$frag" | sed 's/\.[^.]*$//'; cut -f1 "$rej"; } >"$done_list"
    awk -v only="$ONLY" -v done_list="$done_list" -F"$US" '
        FILENAME == done_list { done[$0] = 1; next }
        (only == "" || index("," $1 ",", "," only ",")) && !(($5) in done)' "$done_list" "$tasks" >"$todo"
    total=$(awk -v only="$ONLY" -F"$US" 'only == "" || index("," $1 ",", "," only ",")' "$tasks" | wc -l)
    n=$(wc -l <"$todo")
    log "$name: $n of $total clips to convert"
    if [[ $n -gt 0 ]]; then
        CORPUS_UNIT=$name xargs -d '\n' -n 8 -P "$JOBS" "$CORPUS_DIR/convert.sh" <"$todo" 2>>"$OUT/logs/convert.log"
    fi
    rm -f "$todo" "$done_list"
done

# ------------------------------------------------------------ manifest + report
# One line per path, sorted: the same packages give the same file.
# A clip whose unit no longer lists it (a handler changed) is left out; the
# language and text come from the unit's current task list, so a handler that
# now reads a transcript differently updates clips converted before.
# (Lines pass as "K|T<US>language<US>text<US>json": K keeps the json as it is.)
for frag in "$OUT"/manifests/*.jsonl; do
    [[ -f $frag ]] || continue
    unit=${frag##*/}; unit=${unit%.jsonl}
    if [[ -f $OUT/state/$unit.tasks ]]; then
        jq -r '.path | sub("\\.[^.]*$"; "")' "$frag" | paste -d '\t' - "$frag" |
            awk -F'\t' -v tasks="$OUT/state/$unit.tasks" -v US="$US" '
                BEGIN { while ((getline l < tasks) > 0) { split(l, a, US); keep[a[5]] = "T" US a[6] US a[7] } }
                $1 in keep { print keep[$1] US substr($0, length($1) + 2) }'
    else
        awk -v US="$US" '{ print "K" US US US $0 }' "$frag"
    fi
done | jq -Rc 'def nul: if . == "" then null else gsub("[\u0001-\u001f]"; " ") end;
        split("\u001f") as $f | ($f[3:] | join("\u001f") | fromjson) as $m
        | if $f[0] == "T" then $m + {language: ($f[1] | nul), text: ($f[2] | nul)} else $m end' |
    jq -sc 'unique_by(.path) | .[]' >"$OUT/manifest.jsonl.tmp" &&
    mv "$OUT/manifest.jsonl.tmp" "$OUT/manifest.jsonl"
(cd "$OUT/debs" && ls *.deb 2>/dev/null) >"$OUT/packages.txt"
# Audio files no manifest line points to (a handler dropped them): delete.
orphans=$(cd "$OUT" && LC_ALL=C comm -23 <(find audio -type f -name "*.$FORMAT" ! -name '*.part[0-9]*' | LC_ALL=C sort) \
    <(jq -r '.path' manifest.jsonl | LC_ALL=C sort))
if [[ -n $orphans ]]; then
    log "deleting $(wc -l <<<"$orphans") audio files no longer in the manifest"
    (cd "$OUT" && xargs -d '\n' rm -f <<<"$orphans")
fi

{
    echo "== corpus $OUT ($RATE Hz $FORMAT)"
    jq -rs '
        def h: . / 3600 * 100 | round / 100;
        def table(k): group_by(k) | map({key: (first | k | tostring), n: length, s: (map(.duration) | add)})
            | sort_by(-.s)[] | "  \(.key)\t\(.n) files\t\(.s | h) h";
        "files: \(length), hours: \(map(.duration) | add // 0 | h)",
        "per category (recorded / synthetic):",
        table("\(.category) \(if .synthetic then "synthetic" else "recorded" end)"),
        "per language:", table(.language // "none"),
        "per source:", table(.source)' "$OUT/manifest.jsonl"
    rejected=$(cat "$OUT"/state/*.rejected 2>/dev/null | wc -l)
    echo "clips left out (shorter than 0.3 s or unreadable): $rejected (state/*.rejected)"
    if [[ -s $SKIPPED ]]; then
        echo "packages skipped in this run:"
        sed 's/^/  /' "$SKIPPED"
    else
        echo "packages skipped in this run: none"
    fi
} | tee "$OUT/logs/report.txt"
exit 0
