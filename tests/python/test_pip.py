"""`pip install ./python` from a checkout: a copy of python/ (pip and
setuptools write build files beside the sources) installed with the
interpreter's own pip and setuptools (offline: --no-build-isolation
--no-index) into a scratch folder, then imported from there on the build's
library: every module file is installed, the version is the project's, and
a codec loads. Skipped (exit 77) without numpy, pip or setuptools.

    python3 tests/python/test_pip.py   (environment: see pycommon.py)"""

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycommon import SKIP, SRC, TINY24  # noqa: E402  (skips without numpy)


def main():
    for module in ("pip", "setuptools"):
        if importlib.util.find_spec(module) is None:
            print("SKIP: %s has no %s (Debian: python3-pip, python3-setuptools)" % (sys.executable, module))
            return SKIP
    src = os.path.join(SRC, "python")
    with tempfile.TemporaryDirectory(prefix="sonotok-pip.") as tmp:
        shutil.copytree(src, os.path.join(tmp, "src"), ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                                      "__pycache__"))
        site = os.path.join(tmp, "site")
        p = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                            "--no-index", "--disable-pip-version-check", "--target", site, os.path.join(tmp, "src")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, PIP_NO_CACHE_DIR="1", PYTHONPATH=""))
        if p.returncode != 0:
            print("FAIL: pip install ./python: exit %d\n%s" % (p.returncode, p.stdout))
            return 1
        want = sorted(f for f in os.listdir(os.path.join(src, "sonotok")) if f.endswith(".py"))
        got = sorted(f for f in os.listdir(os.path.join(site, "sonotok")) if f.endswith(".py"))
        failures = []
        if got != want:
            failures.append("installed %s, the checkout has %s" % (got, want))
        check = ("import sonotok, sys\n"
                 "assert sonotok.__file__.startswith(sys.argv[1]), sonotok.__file__\n"
                 "c = sonotok.Codec.load(sys.argv[2], n_threads=1)\n"
                 "print(sonotok.__version__, c.name)\n")
        version = os.environ.get("SONOTOK_PROJECT_VERSION", "?")
        p = subprocess.run([sys.executable, "-c", check, site, TINY24], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONPATH=site))
        if p.returncode != 0 or p.stdout.strip() != "%s tiny24" % version:
            failures.append("import after pip install: exit %d, printed %r (expected '%s tiny24')"
                            % (p.returncode, p.stdout.strip(), version))
        dist = [d for d in os.listdir(site) if d.endswith(".dist-info")]
        if dist != ["sonotok-%s.dist-info" % version]:
            failures.append("dist-info: %s, expected sonotok-%s.dist-info" % (dist, version))
    for f in failures:
        print("FAIL: " + f)
    if not failures:
        print("pip install ./python: ok (%d modules)" % len(got))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
