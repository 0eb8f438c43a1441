# The shared head of the shell tests, sourced after setting TEST_NAME:
#
#   TEST_NAME=cli
#   . "$(dirname "$0")/../sh_common.sh"
#
# POSIX locale, abs() (meson passes build-relative paths and the tests
# change folders), a work folder $W removed on exit and on a signal, the
# FAILS/CHECKS counters, and fail(), which prints $W/err's first lines (a
# test may define its own fail() after this); run EXIT DESC CMD... (runs CMD,
# stdout to $W/out, stderr to $W/err, checks its exit status), expect DESC
# COND... and one_line_err, for the tests that use them.
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

# run EXPECTED_RC DESCRIPTION CMD...  (stdout -> $W/out, stderr -> $W/err)
run() {
    exp=$1
    desc=$2
    shift 2
    CHECKS=$((CHECKS + 1))
    "$@" >"$W/out" 2>"$W/err"
    rc=$?
    if [ "$rc" -ne "$exp" ]; then
        fail "$desc: exit $rc, expected $exp  [$*]"
        return 1
    fi
    return 0
}
# expect CONDITION-COMMAND DESCRIPTION
expect() {
    CHECKS=$((CHECKS + 1))
    desc=$1
    shift
    if ! "$@"; then fail "$desc"; fi
}
one_line_err() { [ "$(wc -l < "$W/err")" -eq 1 ]; }
