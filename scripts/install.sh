#!/bin/sh
# Build sonotok (release, in build/ unless given another folder) and install it:
# the program, man page, default model, headers, libraries and the Python module
# (prefix /usr/local unless the build folder was set up with another --prefix),
# then refresh the dynamic loader's cache. As root, or through sudo otherwise.
#   scripts/install.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
[ -f "$B/build.ninja" ] || meson setup "$B" --buildtype=release
ninja -C "$B"
$SUDO meson install -C "$B" --quiet
# ldconfig only matters for the default prefixes the loader searches
if command -v ldconfig > /dev/null 2>&1; then $SUDO ldconfig; elif [ -x /sbin/ldconfig ]; then $SUDO /sbin/ldconfig; fi
