#!/bin/sh
# Write the sonotok(1) man page from the program's own help: `sonotok --help`
# for the overview and the command list, `sonotok help COMMAND` for each
# command (as preformatted text), plus the environment and files sections
# below. Run by the build (doc/meson.build), so the page follows the help.
# usage: make-manpage.sh SONOTOK OUTPUT [MODELS_DIR]
set -eu
if [ $# -lt 2 ]; then
    echo "usage: make-manpage.sh SONOTOK OUTPUT [MODELS_DIR]" >&2
    exit 1
fi
prog=$1
out=$2
models=${3:-/usr/local/share/sonotok/models}
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT

# Roff text: backslashes and hyphens escaped (so that options copy as
# ASCII '-'), a leading '.' or "'" kept from being read as a request.
roff() {
    sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^[.']/\\\\\&&/"
}

overview=$("$prog" --help)
version=$("$prog" --version | sed -n '1s/^sonotok //p')
summary=$(printf '%s\n' "$overview" | sed -n '2s/\.$//p')
commands=$(printf '%s\n' "$overview" | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' | grep -vx help)
[ -n "$version" ] && [ -n "$summary" ] && [ -n "$commands" ] || {
    echo "make-manpage.sh: unexpected output from '$prog --help' or '--version'" >&2
    exit 1
}

{
    echo ".\\\" Made by scripts/make-manpage.sh from the help of sonotok $version; do not edit."
    echo ".TH SONOTOK 1 \"\" \"sonotok $version\" \"User Commands\""
    echo ".SH NAME"
    printf 'sonotok \\- %s\n' "$(printf '%s\n' "$summary" | roff)"
    echo ".SH SYNOPSIS"
    echo ".B sonotok"
    echo ".I COMMAND"
    echo ".RI [ options ]\\ ..."
    echo ".br"
    echo ".B sonotok help"
    echo ".I COMMAND"
    echo ".SH DESCRIPTION"
    echo ".nf"
    printf '%s\n' "$overview" | sed '1,3d' | roff
    echo ".fi"
    echo ".SH COMMANDS"
    for c in $commands; do
        echo ".SS $(printf '%s\n' "$c" | roff)"
        echo ".nf"
        "$prog" help "$c" | roff
        echo ".fi"
    done
    cat <<EOF
.SH ENVIRONMENT
.TP
.B SONOTOK_MODEL_PATH
Colon\\-separated folders searched first for a model given by name.
.TP
.B XDG_DATA_HOME
Models are then looked up in
.IR \$XDG_DATA_HOME/sonotok/models
(default
.IR ~/.local/share/sonotok/models ).
.TP
.BR OMP_WAIT_POLICY ", " GOMP_SPINCOUNT
Unless one of them is set, sonotok runs its commands with
.BR OMP_WAIT_POLICY=PASSIVE ,
which keeps waiting OpenMP threads from taking the CPU of busy ones.
.SH FILES
.TP
.I $(printf '%s\n' "$models" | roff)
The installed models;
.I default.safetensors
is the model used when
.B \\-m
is not given.
.SH SEE ALSO
The README and the public C API in
.IR <sonotok/sonotok.h> ;
.B pkg\\-config \\-\\-cflags \\-\\-libs sonotok
gives the flags to build against the library.
EOF
} > "$tmp"
mv "$tmp" "$out"
trap - EXIT
