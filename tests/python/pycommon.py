"""Shared set-up of the Python tests (tests/python/meson.build runs them):
skip (exit 77, said on stdout) where numpy is missing, the paths meson
passes in the environment, a scratch folder, and the sonotok program.

Environment: SONOTOK_LIBRARY (the build's libsonotok.so), PYTHONPATH (the
source tree's python/), SONOTOK_EXE (the sonotok program), SONOTOK_SRC (the
source root), SONOTOK_PROJECT_VERSION (meson's project version)."""

import os
import subprocess
import sys

SKIP = 77

try:
    import numpy  # noqa: F401
except ImportError:
    print("SKIP: numpy is not installed for %s (Debian: apt install python3-numpy)" % sys.executable)
    sys.exit(SKIP)

SRC = os.environ.get("SONOTOK_SRC") or os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXE = os.environ.get("SONOTOK_EXE", "sonotok")
DATA = os.path.join(SRC, "tests", "data")
TINY24 = os.path.join(SRC, "tests", "codec", "data", "tiny24.th")  # 8 kHz mono, causal, hop 8
TINY48 = os.path.join(SRC, "tests", "codec", "data", "tiny48.th")  # 8 kHz stereo, segmented
CLIPS = [os.path.join(DATA, "hello.wav"), os.path.join(DATA, "speech-cs.ogg")]


def cli(*args, check=True):
    """Run the sonotok program quietly: a CompletedProcess (stderr text)."""
    p = subprocess.run([EXE, args[0], "-q", *args[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise AssertionError("sonotok %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p


def read(path):
    with open(path, "rb") as f:
        return f.read()
