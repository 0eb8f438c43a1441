"""Where `meson install` should put the Python module for PREFIX, for
python/meson.build: prints nothing when this interpreter searches MESON_DIR
(meson's python.install_sources folder) or searches no folder under PREFIX
(then PYTHONPATH names it); else the folder under PREFIX that it does search
(Debian's python3 looks in /usr/local/lib/python3.X/dist-packages, where
meson 1.0 says /usr/local/lib/python3/dist-packages: meson issue 8739).

usage: python3 -E site_dir.py PREFIX MESON_DIR"""
import os
import sys

prefix, meson_dir = (os.path.normpath(p) for p in sys.argv[1:3])
searched = [os.path.normpath(p) for p in sys.path[1:] if p]
under = [p for p in searched if p.startswith(prefix + os.sep) and p.endswith("-packages")]
if meson_dir not in searched and under:
    print(under[0])
