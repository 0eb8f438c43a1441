# The shared head of the shell tests, sourced after setting TEST_NAME:
#
#   TEST_NAME=cli
#   . "$(dirname "$0")/../sh_common.sh"
#
# POSIX locale, abs() (meson passes build-relative paths and the tests
# change folders), a work folder $W removed on exit and on a signal, the
# FAILS/CHECKS counters, and fail(), which prints $W/err's first lines (a
# test may define its own fail() after this).
set -u
LC_ALL=C
export LC_ALL
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

W=$(mktemp -d "${TMPDIR:-/tmp}/sonotok-$TEST_NAME.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM

FAILS=0
CHECKS=0
fail() {
    FAILS=$((FAILS + 1))
    echo "FAIL: $*"
    if [ -s "$W/err" ]; then sed 's/^/    stderr: /' "$W/err" | head -5; fi
}
