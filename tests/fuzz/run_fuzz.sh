#!/bin/sh
# Fuzzes one libFuzzer binary for a few seconds, starting from a copy of its
# committed corpus in a temporary folder (the corpus itself is never written).
# usage: run_fuzz.sh FUZZ_BINARY CORPUS_DIR CRASH_DIR
# SONO_FUZZ_SECONDS (default 5) and SONO_FUZZ_SEED (default 1) tune the run.
# Fails on any crash, leak, sanitizer report or input slower than 10 s; the
# input that did it is kept in CRASH_DIR.
set -eu
[ $# -eq 3 ] || { echo "usage: run_fuzz.sh FUZZ_BINARY CORPUS_DIR CRASH_DIR" >&2; exit 1; }
bin=$1 corpus=$2 crashes=$3
seconds=${SONO_FUZZ_SECONDS:-5}
seed=${SONO_FUZZ_SEED:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/sono-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/corpus"
cp "$corpus"/* "$work/corpus"/
mkdir -p "$crashes"
# a hang in libFuzzer itself (not in one input) still ends
rc=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(dirname "$0")/lsan.supp} timeout $((seconds + 120)) "$bin" \
    -max_total_time="$seconds" -seed="$seed" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1 || rc=$?
grep -E 'INITED|DONE|stat::number_of_executed_units' "$work/log" || true
if [ "$rc" -ne 0 ]; then
    # the report from its first line (libFuzzer's, a sanitizer's or UBSan's), else the log's end
    if grep -qE '==[0-9]+==( ?ERROR|WARNING)|runtime error:|ERROR: libFuzzer' "$work/log"; then
        sed -n -E '/==[0-9]+==( ?ERROR|WARNING)|runtime error:|ERROR: libFuzzer/,$p' "$work/log" | head -n 80
    else
        tail -n 60 "$work/log"
    fi
    echo "FAIL $(basename "$bin") (exit $rc): reproducer in $crashes/; replay it with $bin FILE" >&2
fi
exit "$rc"
