#!/bin/sh
# Install the Debian 12 packages sonotok builds with (scripts/debian-packages.txt).
set -eu
cd "$(dirname "$0")"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $(cat debian-packages.txt)
