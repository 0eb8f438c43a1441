#!/bin/sh
# The whole test suite: a release build with the fast suite, then the same
# suite under AddressSanitizer + UndefinedBehaviorSanitizer.
# Extra arguments go to `meson test` (e.g. --suite slow).
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

[ -d build ] || meson setup build --buildtype=release
ninja -C build -j "$jobs"
meson test -C build --print-errorlogs --num-processes "$jobs" "$@"

[ -d build-san ] || meson setup build-san --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-san -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-san --print-errorlogs --num-processes "$jobs" --timeout-multiplier 4 "$@"
