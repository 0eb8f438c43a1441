#!/usr/bin/env python3
"""Encode from Python against the sonotok program (issue 17, acceptance 3:
within 5% of the CLI's time on a 60 s clip).

Makes a clip of SECONDS seconds (tests/data/speech-cs.ogg repeated: real
speech, 22.05 kHz, so both sides resample), then alternates, RUNS times:

  cli     `sonotok tokenize -t THREADS clip.wav -o cli.tok`, timed as a process;
  python  a fresh interpreter running
              codec = sonotok.Codec.load("default", n_threads=THREADS)
              codec.encode_file("clip.wav").save("py.tok")
          timed as a process (interpreter start and `import numpy` included)
          and from inside: from before `import sonotok` (numpy's import
          included) to after save, and from Codec.load to after save: the
          same work the CLI's process does, less the start of a process
          and of numpy.

Both load the model, read and resample the file and write the token file;
the two token files must be identical. Prints each run and the medians.

    /usr/bin/python3 scripts/bench_python.py [--seconds 60] [--runs 5] [--threads 1]
        [--exe build/tools/sonotok] [--lib build/lib/libsonotok.so]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

CHILD = """
import sys, time
t0 = time.perf_counter()
import sonotok
t1 = time.perf_counter()
codec = sonotok.Codec.load("default", n_threads=int(sys.argv[3]))
codec.encode_file(sys.argv[1]).save(sys.argv[2])
t2 = time.perf_counter()
print(t2 - t0, t2 - t1)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--exe", default=os.path.join(ROOT, "build", "tools", "sonotok"))
    ap.add_argument("--lib", default=os.path.join(ROOT, "build", "lib", "libsonotok.so"))
    args = ap.parse_args()
    env = dict(os.environ, SONOTOK_LIBRARY=os.path.abspath(args.lib), PYTHONPATH=os.path.join(ROOT, "python"))
    sys.path.insert(0, env["PYTHONPATH"])
    os.environ["SONOTOK_LIBRARY"] = env["SONOTOK_LIBRARY"]
    import numpy as np
    import sonotok

    with tempfile.TemporaryDirectory(prefix="sonotok-bench-python.") as tmp:
        speech, sr = sonotok.load_audio(os.path.join(ROOT, "tests", "data", "speech-cs.ogg"))
        n = args.seconds * sr
        clip = os.path.join(tmp, "clip.wav")
        sonotok.save_audio(clip, np.tile(speech, (1, n // speech.shape[1] + 1))[:, :n], sr)
        cli_tok, py_tok = os.path.join(tmp, "cli.tok"), os.path.join(tmp, "py.tok")
        cli, py, py_inside, py_work = [], [], [], []
        for run in range(args.runs):
            t = time.perf_counter()
            subprocess.run([args.exe, "tokenize", "-q", "-t", str(args.threads), clip, "-o", cli_tok], check=True)
            cli.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, clip, py_tok, str(args.threads)], env=env,
                                 check=True, stdout=subprocess.PIPE, text=True).stdout
            py.append(time.perf_counter() - t)
            inside, work = (float(v) for v in out.split())
            py_inside.append(inside)
            py_work.append(work)
            print("run %d: cli %.3f s, python %.3f s (%.3f s inside, %.3f s after the import)"
                  % (run + 1, cli[-1], py[-1], py_inside[-1], py_work[-1]))
            with open(cli_tok, "rb") as a, open(py_tok, "rb") as b:
                if a.read() != b.read():
                    sys.exit("the token files differ")
        mc, mp, mi, mw = (statistics.median(v) for v in (cli, py, py_inside, py_work))
        print("%d s clip, %d thread%s, median of %d: cli %.3f s (%.1fx realtime); python %.3f s as a process "
              "(%+.1f%%), %.3f s inside (%+.1f%%), %.3f s from Codec.load to the file written (%+.1f%%); "
              "token files identical"
              % (args.seconds, args.threads, "" if args.threads == 1 else "s", args.runs, mc, args.seconds / mc,
                 mp, 100 * (mp / mc - 1), mi, 100 * (mi / mc - 1), mw, 100 * (mw / mc - 1)))


if __name__ == "__main__":
    main()
