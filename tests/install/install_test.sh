#!/bin/sh
# The installed library, as a program outside the project sees it:
# `meson install --destdir` into a staging folder, then
#  - every public header of the source tree is installed, and compiles on its
#    own as C11 and as C++17 (train.h also with SONOTOK_TRAIN_UNSTABLE);
#  - sonotok.pc and sonotok-train.pc are relocatable (only their prefix line
#    is rewritten to point into the staging folder) and name no build path;
#  - against the shared libraries (when built): the soname, the exported
#    symbols (exactly the SONO_API functions of the headers: libsonotok those
#    of every header but train.h, libsonotok-train those of all), and
#    consumer.c, consumer.cpp and consumer_train.c built with
#    `pkg-config --cflags --libs` alone, run with LD_LIBRARY_PATH;
#  - against the static libraries (when built; the .so files removed from a
#    copy of the staging folder): the same programs built with
#    `pkg-config --static --cflags --libs` alone, and libsonotok.a defines no
#    training function;
#  - the man page lists every command of the installed program;
#  - the Python module (when installed: PYTHON_DIR) has every file of
#    python/sonotok, is where the interpreter searches for a /usr or
#    /usr/local prefix, its _config.py names the
#    installed libsonotok.so.0, and `import sonotok` of the installed files
#    loads the staged library through _config.py, and through the dynamic
#    loader without it, and encodes and decodes (skipped without numpy).
# usage: install_test.sh MESON BUILD_ROOT SOURCE_ROOT
# environment (set by tests/install/meson.build): CC, CXX (empty: no C++
# compiler: the C++ checks are skipped and the test ends in SKIP), PREFIX,
# BINDIR, LIBDIR, INCLUDEDIR, MANDIR, DATADIR (absolute), DEFAULT_LIBRARY,
# EXTRA_FLAGS (the build's sanitizer flags, which the libraries need),
# PYTHON, PYTHON_DIR (absolute; empty: no Python module installed) and
# PYTHON_PRELOAD (the sanitizer runtimes the interpreter must preload).
set -eu
meson=$1
build=$2
src=$3
here="$src/tests/install"
model="$src/tests/codec/data/tiny24.th"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sonotok-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
# Compiler commands may be several words (ccache cc).
c_compile() { $CC $EXTRA_FLAGS "$@"; }
cxx_compile() { $CXX $EXTRA_FLAGS "$@"; }
# meson test points LD_LIBRARY_PATH at the build folder: programs here must
# find the staged libraries or none.
unset LD_LIBRARY_PATH

"$meson" install -C "$build" --destdir "$tmp/stage" --no-rebuild --quiet
stage="$tmp/stage"
inc="$stage$INCLUDEDIR"
lib="$stage$LIBDIR"

# ---- headers ----
for h in "$src"/include/sonotok/*.h; do
    h=$(basename "$h")
    [ -f "$inc/sonotok/$h" ] || fail "include/sonotok/$h is not installed"
done
for path in "$inc"/sonotok/*.h; do
    h=$(basename "$path")
    for def in "" -DSONOTOK_TRAIN_UNSTABLE; do
        [ -z "$def" ] || [ "$h" = train.h ] || continue
        printf '#include <sonotok/%s>\n' "$h" > "$tmp/hdr.c"
        c_compile -std=c11 -Wall -Wextra -pedantic -Werror $def -I"$inc" -c "$tmp/hdr.c" -o "$tmp/hdr.o" ||
            fail "$h${def:+ $def} does not compile alone as C11"
        if [ -n "$CXX" ]; then
            cp "$tmp/hdr.c" "$tmp/hdr.cpp"
            cxx_compile -std=c++17 -Wall -Wextra -pedantic -Werror $def -I"$inc" -c "$tmp/hdr.cpp" -o "$tmp/hdr.o" ||
                fail "$h${def:+ $def} does not compile alone as C++17"
        fi
    done
done

# Every function a header declares is exported: a declaration at the start
# of a line without SONO_API would link statically but not against the .so.
if grep -n '^[^ #/*].*[A-Za-z0-9_](' "$inc"/sonotok/*.h | grep -v '^[^:]*:[0-9]*:SONO_API ' > "$tmp/unmarked"; then
    cat "$tmp/unmarked" >&2
    fail "public functions declared without SONO_API"
fi
# The functions the headers declare (SONO_API ... name(...).
declared() {
    sed -n 's/^SONO_API[^(]*[^A-Za-z0-9_(]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$@" | sort -u
}
inference_headers=$(ls "$inc"/sonotok/*.h | grep -v '/train\.h$')
declared $inference_headers > "$tmp/api"
declared "$inc"/sonotok/*.h > "$tmp/api-train"
declared "$inc/sonotok/train.h" > "$tmp/api-train-only"
[ -s "$tmp/api" ] && [ -s "$tmp/api-train-only" ] || fail "no SONO_API declarations found in the headers"
# A C++ program that takes the address of every declared function: it links
# only when each header gives its functions C linkage and the library
# defines them all.
{
    echo "#define SONOTOK_TRAIN_UNSTABLE"
    for path in "$inc"/sonotok/*.h; do printf '#include <sonotok/%s>\n' "$(basename "$path")"; done
    echo "typedef void (*fn)();"
    echo "static fn const all[] = {"
    sed 's/.*/    reinterpret_cast<fn>(\&&),/' "$tmp/api-train"
    echo "};"
    echo "int main() { return all[0] == nullptr; }"
} > "$tmp/all.cpp"

# ---- pkg-config files, pointed at a prefix ----
# pcdir PREFIX_IN_STAGE DIR: copies of the .pc files with prefix= rewritten.
pcdir() {
    mkdir -p "$2"
    for m in sonotok sonotok-train; do
        f="$lib/pkgconfig/$m.pc"
        if [ ! -f "$f" ]; then
            fail "$m.pc is not installed in $LIBDIR/pkgconfig"
            continue
        fi
        grep -qx "prefix=$PREFIX" "$f" || fail "$m.pc: prefix is not $PREFIX"
        if grep -qF -e "$build" -e "$src" "$f"; then fail "$m.pc names the build or source folder"; fi
        sed "s|^prefix=.*|prefix=$1|" "$f" > "$2/$m.pc"
    done
}
pcdir "$stage$PREFIX" "$tmp/pc"
version=$(PKG_CONFIG_PATH="$tmp/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" pkg-config --modversion sonotok) ||
    fail "pkg-config cannot read sonotok.pc"

# run_consumer NAME EXPECTED_OUTPUT COMMAND...: runs a built program.
run_consumer() {
    name=$1
    shift
    if ! out=$("$@" 2> "$tmp/err"); then
        cat "$tmp/err" >&2
        fail "$name failed"
    elif [ "$out" != "sonotok $version" ]; then
        fail "$name printed '$out', not 'sonotok $version' (SONOTOK_VERSION and the .pc version differ?)"
    fi
}
mkdir -p "$tmp/work"

# build_consumers KIND PKG_CONFIG_PATH PKG_CONFIG_ARGS...: builds the three
# programs into $tmp/KIND-*; 0 when all three built.
build_consumers() {
    kind=$1
    pcp="$2${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    shift 2
    ok=0
    flags=$(PKG_CONFIG_PATH="$pcp" pkg-config "$@" --cflags --libs sonotok) || { fail "pkg-config $* sonotok"; return 1; }
    tflags=$(PKG_CONFIG_PATH="$pcp" pkg-config "$@" --cflags --libs sonotok-train) ||
        { fail "pkg-config $* sonotok-train"; return 1; }
    echo "$kind: pkg-config${*:+ $*} --cflags --libs sonotok: $flags"
    c_compile -std=c11 -Wall -Wextra -Werror "$here/consumer.c" -o "$tmp/$kind-c" $flags -lm ||
        { fail "consumer.c does not build against the $kind library"; ok=1; }
    c_compile -std=c11 -Wall -Wextra -Werror "$here/consumer_train.c" -o "$tmp/$kind-train" $tflags ||
        { fail "consumer_train.c does not build against the $kind training library"; ok=1; }
    if [ -n "$CXX" ]; then
        cxx_compile -std=c++17 -Wall -Wextra -Werror "$here/consumer.cpp" -o "$tmp/$kind-cxx" $flags -lm ||
            { fail "consumer.cpp does not build against the $kind library"; ok=1; }
        cxx_compile -std=c++17 -Wall -Wextra -Werror "$tmp/all.cpp" -o "$tmp/$kind-all" $tflags ||
            { fail "a C++ program using every declared function does not link against the $kind library"; ok=1; }
    fi
    return $ok
}

# needs PROGRAM LIBRARY: does PROGRAM load LIBRARY (a DT_NEEDED entry)?
needs() {
    readelf -d "$1" | grep -q "(NEEDED).*\[$2\]"
}

# ---- shared libraries ----
if [ "$DEFAULT_LIBRARY" != static ]; then
    for m in sonotok sonotok-train; do
        so="$lib/lib$m.so"
        [ -e "$so" ] || { fail "lib$m.so is not installed"; continue; }
        readelf -d "$so" | grep -q "(SONAME).*\[lib$m\.so\.0\]" || fail "lib$m.so: soname is not lib$m.so.0"
        [ -f "$lib/lib$m.so.$version" ] || fail "lib$m.so.$version is not installed"
        api="$tmp/api"
        [ $m = sonotok ] || api="$tmp/api-train"
        nm -D --defined-only "$so" | awk '{ print $NF }' | sort -u > "$tmp/exported"
        if ! cmp -s "$api" "$tmp/exported"; then
            echo "lib$m.so: exported (>) vs declared with SONO_API (<):" >&2
            diff "$api" "$tmp/exported" >&2 || true
            fail "lib$m.so does not export exactly the SONO_API functions of its headers"
        fi
    done
    if build_consumers shared "$tmp/pc"; then
        needs "$tmp/shared-c" libsonotok.so.0 || fail "consumer.c is not linked to libsonotok.so.0"
        needs "$tmp/shared-train" libsonotok-train.so.0 || fail "consumer_train.c is not linked to libsonotok-train.so.0"
        run_consumer "consumer.c (shared)" env LD_LIBRARY_PATH="$lib" "$tmp/shared-c" "$model" "$tmp/work"
        run_consumer "consumer_train.c (shared)" env LD_LIBRARY_PATH="$lib" "$tmp/shared-train"
        [ -z "$CXX" ] ||
            run_consumer "consumer.cpp (shared)" env LD_LIBRARY_PATH="$lib" "$tmp/shared-cxx" "$model"
    fi
fi

# ---- static libraries ----
if [ "$DEFAULT_LIBRARY" != shared ]; then
    cp -a "$stage" "$tmp/static"
    rm -f "$tmp/static$LIBDIR"/lib*.so*
    lib_static="$tmp/static$LIBDIR"
    pcdir "$tmp/static$PREFIX" "$tmp/pc-static"
    [ -f "$lib_static/libsonotok.a" ] || fail "libsonotok.a is not installed"
    [ -f "$lib_static/libsonotok-train.a" ] || fail "libsonotok-train.a is not installed"
    nm -g --defined-only "$lib_static/libsonotok.a" > "$tmp/nm" || fail "nm cannot read libsonotok.a"
    awk 'NF == 3 { print $3 }' "$tmp/nm" | sort -u > "$tmp/defined"
    if [ -n "$(comm -12 "$tmp/api-train-only" "$tmp/defined")" ]; then
        fail "libsonotok.a defines training functions: $(comm -12 "$tmp/api-train-only" "$tmp/defined" | tr '\n' ' ')"
    fi
    if build_consumers static "$tmp/pc-static" --static; then
        for p in static-c static-train; do
            if needs "$tmp/$p" 'libsonotok[^]]*'; then fail "$p loads a shared sonotok library"; fi
        done
        run_consumer "consumer.c (static)" "$tmp/static-c" "$model" "$tmp/work"
        run_consumer "consumer_train.c (static)" "$tmp/static-train"
        [ -z "$CXX" ] || run_consumer "consumer.cpp (static)" "$tmp/static-cxx" "$model"
    fi
fi

# ---- the program, its models and its man page ----
man="$stage$MANDIR/man1/sonotok.1"
if [ ! -x "$stage$BINDIR/sonotok" ]; then
    fail "the sonotok program is not installed"
elif [ ! -f "$man" ]; then
    fail "the man page is not installed in $MANDIR/man1"
else
    commands=$("$stage$BINDIR/sonotok" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' | grep -vx help)
    [ -n "$commands" ] || fail "no commands in 'sonotok --help'"
    for c in $commands; do
        # the man page escapes '-' as '\-'
        grep -qxF ".SS $(printf '%s' "$c" | sed 's/-/\\-/g')" "$man" || fail "the man page has no section for '$c'"
    done
    if command -v groff > /dev/null; then
        warnings=$(groff -man -Tutf8 -ww -z "$man" 2>&1)
        [ -z "$warnings" ] || fail "groff warns about the man page: $warnings"
    fi
fi
[ -e "$stage$DATADIR/sonotok/models/default.safetensors" ] || fail "the default model is not installed"

# ---- the Python module ----
# py_check LIBRARY_EXPECTED ENV...: imports the module copied to $tmp/py,
# checks which library it loaded, encodes and decodes with the tiny codec.
py_check() {
    want=$1
    shift
    env -u SONOTOK_LIBRARY -u PYTHONPATH "$@" PYTHONPATH="$tmp/py" PYTHONDONTWRITEBYTECODE=1 \
        ${PYTHON_PRELOAD:+LD_PRELOAD="$PYTHON_PRELOAD" ASAN_OPTIONS=detect_leaks=0} "$PYTHON" -c '
import sys, numpy as np, sonotok
assert sonotok.__file__.startswith(sys.argv[1]), sonotok.__file__
assert sonotok._lib.path == sys.argv[2], "loaded " + sonotok._lib.path
c = sonotok.Codec.load(sys.argv[3], n_threads=1)
codes = c.encode(np.sin(np.arange(800, dtype=np.float32) * 0.3) * 0.5, c.sample_rate)
out = c.decode(codes)
assert codes.shape[0] == c.n_q() and out.shape == (c.channels, codes.shape[1] * c.hop), (codes.shape, out.shape)
' "$tmp/py" "$want" "$model"
}
if [ -n "${PYTHON_DIR:-}" ]; then
    pydir="$stage$PYTHON_DIR"
    if [ ! -f "$pydir/sonotok/__init__.py" ]; then
        fail "the Python module is not installed in $PYTHON_DIR"
    else
        for f in "$src"/python/sonotok/*.py; do
            [ -f "$pydir/sonotok/${f##*/}" ] || fail "python/sonotok/${f##*/} is not installed (python/meson.build)"
        done
        grep -qxF "LIBRARY = \"$LIBDIR/libsonotok.so.0\"" "$pydir/sonotok/_config.py" ||
            fail "the installed sonotok/_config.py does not name $LIBDIR/libsonotok.so.0"
        case $PREFIX in
        /usr | /usr/local)
            "$PYTHON" -E -c 'import sys; print("\n".join(sys.path))' | grep -qxF "${PYTHON_DIR%/}" ||
                fail "$PYTHON does not search $PYTHON_DIR, where the module is installed" ;;
        esac
        if [ "$DEFAULT_LIBRARY" = static ]; then
            fail "the Python module is installed without a shared library to load"
        elif "$PYTHON" -c 'import numpy' 2> /dev/null; then
            mkdir -p "$tmp/py"
            cp -R "$pydir/sonotok" "$tmp/py/"
            # the installed path, moved into the staging folder
            sed -i "s|^LIBRARY = .*|LIBRARY = \"$lib/libsonotok.so.0\"|" "$tmp/py/sonotok/_config.py"
            py_check "$lib/libsonotok.so.0" || fail "import sonotok from the installed module (through _config.py)"
            rm "$tmp/py/sonotok/_config.py"
            py_check libsonotok.so.0 LD_LIBRARY_PATH="$lib" ||
                fail "import sonotok from the installed module (through the dynamic loader)"
        else
            echo "install test: Python checks skipped: $PYTHON has no numpy"
        fi
    fi
fi

if [ "$failures" -gt 0 ]; then
    echo "install test: $failures failures" >&2
    exit 1
fi
if [ -z "$CXX" ]; then
    echo "install test: C checks passed; C++ checks skipped: no C++ compiler (install g++)"
    exit 77
fi
echo "install test: ok (library $DEFAULT_LIBRARY, version $version)"
