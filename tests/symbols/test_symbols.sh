#!/bin/sh
# Global symbols of the libraries (nm):
#  - the inference library (libsonotok) holds no training code: none of the
#    symbols the training libraries define, and no name of a training part
#    (train, backward, adamw, disc, optimiser, gradient, STFT loss pieces);
#  - every global symbol of every library carries the project's prefix:
#    sono_ for the public API (and then it is declared in a public header),
#    sn_ for internals.
#
#   test_symbols.sh SOURCE_ROOT INFERENCE_LIB -- TRAINING_LIB...
set -u
LC_ALL=C
export LC_ALL
SRC=$1
INF=$2
shift 3
FAILS=0
fail() { FAILS=$((FAILS + 1)); echo "FAIL: $*"; }

# Names the compiler makes (sanitizer instrumentation: __odr_asan.X, __asan_*,
# __sancov_*) are not ours and are left out.
syms() { nm -g --defined-only "$1" 2>/dev/null | awk 'NF >= 3 && $2 ~ /[TDBRVWGSiu]/ && $3 !~ /^__/ { print $3 }' | sort -u; }

W=$(mktemp -d "${TMPDIR:-/tmp}/sonotok-syms.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
syms "$INF" >"$W/inf"
[ -s "$W/inf" ] || { echo "no symbols read from $INF"; exit 1; }
: >"$W/train"
for l in "$@"; do syms "$l" >>"$W/train"; done
sort -u -o "$W/train" "$W/train"
[ -s "$W/train" ] || { echo "no symbols read from the training libraries"; exit 1; }

# public names: every sono_ function a public header declares
cat "$SRC"/include/sonotok/*.h | tr -c 'A-Za-z0-9_' '\n' | grep '^sono_' | sort -u >"$W/public"

comm -12 "$W/inf" "$W/train" >"$W/both"
[ -s "$W/both" ] && fail "training symbols in $INF: $(head -5 "$W/both" | tr '\n' ' ')"
grep -Ei 'train|backward|adamw|(^|_)disc_|optim|grad_|mel_loss|stft' "$W/inf" >"$W/named"
[ -s "$W/named" ] && fail "training-named symbols in $INF: $(head -5 "$W/named" | tr '\n' ' ')"

cat "$W/inf" "$W/train" | sort -u >"$W/all"
grep -v -e '^sono_' -e '^sn_' "$W/all" >"$W/unprefixed"
[ -s "$W/unprefixed" ] && fail "$(wc -l <"$W/unprefixed") unprefixed global symbols: $(head -8 "$W/unprefixed" | tr '\n' ' ')"
grep '^sono_' "$W/all" | comm -23 - "$W/public" >"$W/hidden_sono"
[ -s "$W/hidden_sono" ] && fail "sono_ symbols no public header declares (internal ones take sn_): $(head -8 "$W/hidden_sono" | tr '\n' ' ')"

echo "symbols: $(wc -l <"$W/inf") in the inference library, $(wc -l <"$W/train") in the training libraries; $FAILS failed"
[ "$FAILS" -eq 0 ]
