#!/bin/sh
# The whole test suite: a release build with the fast suite, then the same
# suite under AddressSanitizer + UndefinedBehaviorSanitizer, then (when clang
# is there) a few seconds of libFuzzer on every fuzz target (tests/fuzz).
# Extra arguments go to `meson test` (e.g. --suite slow) in the first two.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
# Tests run $jobs at a time and several use OpenMP threads: waiting threads
# that spin (libgomp's default) take the cores from the other tests; under
# ASan a 7 s test took over 8 minutes so. Passive waiting changes no result.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

[ -d build ] || meson setup build --buildtype=release
ninja -C build -j "$jobs"
meson test -C build --print-errorlogs --num-processes "$jobs" "$@"

[ -d build-san ] || meson setup build-san --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-san -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-san --print-errorlogs --num-processes "$jobs" --timeout-multiplier 4 "$@"

# Fuzzing needs clang with libFuzzer's runtime (Debian: clang, libclang-rt-14-dev).
if ! command -v clang >/dev/null 2>&1; then
    echo "test.sh: clang not found: skipping the fuzz stage (build-fuzz)" >&2
    exit 0
fi
probe=$(mktemp -d)
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return n && d[0]; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "test.sh: clang cannot link libFuzzer (Debian: libclang-rt-14-dev): skipping the fuzz stage" >&2
    exit 0
fi
rm -rf "$probe"
[ -d build-fuzz ] || CC=clang meson setup build-fuzz --buildtype=debugoptimized -Dfuzzing=true -Db_lundef=false
ninja -C build-fuzz -j "$jobs" fuzzers
meson test -C build-fuzz --no-rebuild --print-errorlogs --num-processes "$jobs" --suite fuzz
