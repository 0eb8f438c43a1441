#!/usr/bin/env python3
"""Synthetic TTS corpus with per-phoneme durations (issue 16).

English sentences from text Debian ships (the `fortunes` package's quote
files, BSD licence, see FORTUNE_FILES, plus tools/corpus/sentences-en.txt),
spoken by flite voices (rms, slt, awb, kal16) and espeak-ng voices (variants
of `en`), each clip with the espeak-ng phoneme tokens of its text and every
phoneme's span in codec frames (75 Hz by default). For espeak-ng the spans
are exact (its own phoneme events, through `sonotok phonemize --speak`); for
flite, flite's segments (`flite -psdur`, ARPAbet with end times) are mapped
onto the espeak-ng phoneme sequence of the same text by a monotonic
alignment (dynamic programming over an ARPAbet -> espeak-ng table; see
align()). Sentences of the held-out TTS lists are never used.

Output in OUT: audio/<voice>/<md5>.flac (24 kHz mono), manifests/<voice>.jsonl
(the resume state), tts.jsonl (all clips, sorted), report.txt. A rerun
converts nothing it made before. Deterministic: the sentence order, the
voice of each sentence and its rate and pitch come from the md5 of the text.

  tools/corpus/tts_corpus.py --out DIR [--hours H] [--voices LIST] [--jobs N]
  tools/corpus/tts_corpus.py --out DIR --check 5      # spans next to flite's segments
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HELDOUT = [os.path.join(ROOT, "tools", "intelligibility", "sentences-tts.txt"),
           os.path.join(ROOT, "tools", "intelligibility", "sentences-heldout.txt")]
# fortune files of plain prose (the package's others are left out: offensive,
# ascii art, code, non-English, or mostly names and numbers)
FORTUNE_FILES = ["wisdom", "platitudes", "people", "pets", "food", "kids", "science", "education", "work",
                 "humorists", "sports", "love", "miscellaneous", "medicine", "news", "law", "computers", "art"]
FLITE_VOICES = ["rms", "slt", "awb", "kal16"]
ESPEAK_VARIANTS = ["m1", "m3", "m7", "f2", "f4", "f5"]
DEFAULT_VOICES = ["flite/" + v for v in FLITE_VOICES] + ["espeak/en+" + v for v in ESPEAK_VARIANTS[:2]]

# ---------------------------------------------------------------- sentences


def norm(s):
    """Lower case, words of letters, digits and apostrophes, single spaces."""
    s = re.sub(r"[^a-z0-9']+", " ", s.lower())
    return " ".join(w.strip("'") for w in s.split() if w.strip("'"))


def md5(s):
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def heldout_set(paths):
    out = set()
    for p in paths:
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                out.update(norm(l) for l in f if l.strip() and not l.startswith("#"))
    out.discard("")
    return out


SENT_OK = re.compile(r"[A-Za-z][A-Za-z ,;:'\-]*[A-Za-z][.!?]")


def split_sentences(text):
    """Sentences of a block of prose (attributions "-- Name" left out)."""
    lines = [l for l in text.split("\n") if not l.strip().startswith("--")]
    body = re.sub(r"\s+", " ", " ".join(l.strip() for l in lines))
    return [s.strip() for s in re.split(r'(?<=[.!?])\s+(?=[A-Z"])', body) if s.strip()]


def keep_sentence(s, heldout):
    """Plain words and punctuation only (flite and espeak-ng then read the same
    words: no digits or symbols they expand differently, and no word in
    capitals: acronyms and Roman numerals, "XLVI:", they read differently
    too), 4 to 25 words, and neither a held-out sentence nor containing one."""
    if not SENT_OK.fullmatch(s) or "--" in s or not 4 <= len(s.split()) <= 25 or re.search(r"\b[A-Z]{2,}\b", s):
        return False
    n = norm(s)
    return not any(h == n or (" " + h + " ") in (" " + n + " ") for h in heldout)


def fortune_entries(folder):
    for name in FORTUNE_FILES:
        p = os.path.join(folder, name)
        if not os.path.exists(p):
            continue
        with open(p, encoding="latin-1") as f:
            for entry in f.read().split("\n%\n"):
                yield entry


def corpus_sentences(pkgs_dir, heldout, extra=()):
    """Unique kept sentences, sorted by md5 (so a prefix is a fixed sample):
    the fortunes under pkgs_dir (None: none), sentences-en.txt, and the
    sentences of the extra text files."""
    texts = []
    if pkgs_dir:
        folder = os.path.join(pkgs_dir, "fortunes", "usr", "share", "games", "fortunes")
        for entry in fortune_entries(folder):
            texts.extend(split_sentences(entry))
    with open(os.path.join(HERE, "sentences-en.txt"), encoding="utf-8") as f:
        texts.extend(l.strip() for l in f if l.strip() and not l.startswith("#"))
    for p in extra:
        with open(p, encoding="utf-8") as f:
            for para in f.read().split("\n\n"):
                texts.extend(split_sentences(para))
    seen, out = set(), []
    for s in texts:
        if keep_sentence(s, heldout) and norm(s) not in seen:
            seen.add(norm(s))
            out.append(s)
    return sorted(out, key=md5)


def fetch_packages(out_dir, names):
    """apt-get download + dpkg -x (no install); a package that fails is reported and skipped."""
    debs, pkgs = os.path.join(out_dir, "debs"), os.path.join(out_dir, "pkgs")
    os.makedirs(debs, exist_ok=True)
    os.makedirs(pkgs, exist_ok=True)
    for name in names:
        dest = os.path.join(pkgs, name)
        if os.path.exists(dest + ".unpacked"):
            continue
        if not [d for d in os.listdir(debs) if d.startswith(name + "_")]:
            r = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True, text=True)
            if r.returncode != 0:
                print("tts_corpus: %s: download failed, skipped: %s" % (name, r.stderr.strip()[:200]), file=sys.stderr)
                continue
        deb = sorted(d for d in os.listdir(debs) if d.startswith(name + "_"))[-1]
        tmp = dest + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg", "-x", os.path.join(debs, deb), tmp], check=True)
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
        open(dest + ".unpacked", "w").close()


# ---------------------------------------------------------------- alignment

# ARPAbet (flite's phone set) -> espeak-ng English names it stands for.
ARPA = {
    "aa": {"A:", "0", "a", "aa", "A@", "O:", "A"}, "ae": {"a", "aa", "a#"}, "ah": {"V", "@", "3", "a#"},
    "ao": {"O:", "O", "0", "O@", "o@", "Q"}, "aw": {"aU", "aU@"}, "ax": {"@", "@2", "@5", "I2", "3", "a#", "@L", "i@", "I#", "E2"},
    "axr": {"3", "@", "3:"}, "ay": {"aI", "aI@", "aI3"}, "eh": {"E", "e@", "E2", "e"}, "er": {"3:", "3", "VR", "IR"},
    "ey": {"eI", "e"}, "ih": {"I", "I2", "i", "@", "I#", "i@"}, "iy": {"i:", "i", "i@", "I"}, "ow": {"oU", "O:", "o@", "oU#"},
    "oy": {"OI"}, "uh": {"U", "U@"}, "uw": {"u:", "U", "U@"},
    "b": {"b"}, "ch": {"tS"}, "d": {"d", "t#", "d#"}, "dh": {"D"}, "f": {"f"}, "g": {"g"}, "hh": {"h"},
    "jh": {"dZ"}, "k": {"k"}, "l": {"l", "@L"}, "m": {"m"}, "n": {"n", "n-"}, "ng": {"N"}, "p": {"p"},
    "r": {"r", "r-", "3", "3:"}, "s": {"s"}, "sh": {"S"}, "t": {"t", "t#", "t2", "?"}, "th": {"T"}, "v": {"v"},
    "w": {"w"}, "y": {"j"}, "z": {"z"}, "zh": {"Z"}, "pau": {"|", "||"},
}
ARPA_VOWELS = {"aa", "ae", "ah", "ao", "aw", "ax", "axr", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw"}
GAP = 2.0


def bare(p):
    return p.lstrip("',")


def is_pause(p):
    return p in ("|", "||")


def cost(e, f, vowels):
    """Cost of aligning espeak-ng phoneme e with flite segment f."""
    b = bare(e)
    if is_pause(e) or f == "pau":
        return 0.0 if is_pause(e) and f == "pau" else 4.0
    if b in ARPA.get(f, ()):
        return 0.0
    ev, fv = b in vowels, f in ARPA_VOWELS
    return 1.5 if ev == fv else 3.0


def align(phonemes, segments, vowels):
    """Monotonic alignment of espeak-ng phonemes (names, stress marks, "|" and
    "||" pauses) with flite segments [(name, start_s, end_s)]: a list of
    (start_s, end_s) per phoneme, contiguous from the first segment's start
    to the last's end, and the fraction of spoken phonemes whose matched
    segment is one the table allows.

    Needleman-Wunsch with the costs above; a flite segment left unmatched
    gives its time to the phoneme before it (the one after, at the start); a
    phoneme left unmatched takes an equal share of the time of the nearest
    matched phoneme before it (after it, at the start)."""
    n, m = len(phonemes), len(segments)
    INF = float("inf")
    D = [[INF] * (m + 1) for _ in range(n + 1)]
    B = [[0] * (m + 1) for _ in range(n + 1)]
    D[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if i and j:
                c = D[i - 1][j - 1] + cost(phonemes[i - 1], segments[j - 1][0], vowels)
                if c < D[i][j]:
                    D[i][j], B[i][j] = c, 0
            if i and D[i - 1][j] + GAP < D[i][j]:
                D[i][j], B[i][j] = D[i - 1][j] + GAP, 1  # phoneme unmatched
            if j and D[i][j - 1] + GAP < D[i][j]:
                D[i][j], B[i][j] = D[i][j - 1] + GAP, 2  # segment unmatched
    owner = [None] * m  # segment -> phoneme index
    match = [None] * n  # phoneme -> segment index
    i, j = n, m
    while i or j:
        b = B[i][j]
        if i and j and b == 0:
            owner[j - 1], match[i - 1] = i - 1, j - 1
            i, j = i - 1, j - 1
        elif i and (b == 1 or not j):
            i -= 1
        else:
            j -= 1
    # unmatched segments: to the phoneme before (after, at the start)
    last = None
    for j in range(m):
        if owner[j] is None:
            owner[j] = last
        last = owner[j]
    nxt = None
    for j in reversed(range(m)):
        if owner[j] is None:
            owner[j] = nxt
        nxt = owner[j] if owner[j] is not None else nxt
    seg_start = [0.0 if j == 0 else segments[j - 1][2] for j in range(m)]
    span = [None] * n
    for j in range(m):
        k = owner[j]
        if k is None:
            continue
        a, e = seg_start[j], segments[j][2]
        span[k] = (a, e) if span[k] is None else (min(span[k][0], a), max(span[k][1], e))
    # phonemes with no time: share the nearest timed phoneme's span
    i = 0
    while i < n:
        if span[i] is not None:
            i += 1
            continue
        k = i
        while k < n and span[k] is None:
            k += 1
        if i > 0:  # share with i - 1
            group, (a, e) = list(range(i - 1, k)), span[i - 1]
        elif k < n:  # share with k
            group, (a, e) = list(range(i, k + 1)), span[k]
        else:
            return None, 0.0
        step = (e - a) / len(group)
        for g, idx in enumerate(group):
            span[idx] = (a + g * step, a + (g + 1) * step)
        i = k
    for i in range(1, n):  # contiguous
        span[i] = (span[i - 1][1], max(span[i][1], span[i - 1][1]))
    spoken = [i for i in range(n) if not is_pause(phonemes[i])]
    exact = sum(1 for i in spoken if match[i] is not None and bare(phonemes[i]) in ARPA.get(segments[match[i]][0], ()))
    return span, exact / max(1, len(spoken))


def parse_psdur(out):
    """flite -psdur's "name:end name:end ..." -> [(name, start, end)]."""
    segs, t = [], 0.0
    for tok in out.split():
        name, _, end = tok.rpartition(":")
        if name:
            segs.append((name, t, float(end)))
            t = float(end)
    return segs


# ---------------------------------------------------------------- building


class Builder:
    def __init__(self, args):
        self.a = args
        self.sonotok = args.sonotok
        inv = subprocess.run([self.sonotok, "phonemize", "--inventory"], capture_output=True, text=True, check=True).stdout
        names = [l.split("\t")[1] for l in inv.splitlines() if "\t" in l]
        self.vowels = {n[1:] for n in names if n.startswith("'")}
        self.inventory = inv.splitlines()[-1]

    def phonemize(self, text, speak=None, variant=None, rate=None, pitch=None):
        cmd = [self.sonotok, "phonemize", "-q", "--format", "json", "--no-split",
               "--frame-rate", str(self.a.frame_rate)]
        if speak:
            cmd += ["--speak", speak, "--variant", variant, "--rate", str(rate), "--pitch", str(pitch)]
        r = subprocess.run(cmd + ["--", text], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("sonotok phonemize: " + r.stderr.strip())
        return json.loads(r.stdout)

    def clip(self, voice, text, tmp):
        """Make one clip; its manifest record (without path) or raises."""
        h = md5(text)
        fr = self.a.frame_rate
        rel = os.path.join("audio", voice.replace("/", "-").replace("+", "-"), h + ".flac")
        dest = os.path.join(self.a.out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        part = os.path.join(tmp, h + ".flac")
        k = int(h[:8], 16)
        if voice.startswith("espeak/"):
            v = voice.split("/", 1)[1]
            lang, _, variant = v.partition("+")
            rate, pitch = (150, 175, 200)[k % 3], (40, 50, 60)[(k // 3) % 3]
            j = self.phonemize(text, speak=part, variant=variant, rate=rate, pitch=pitch)
            rec = {"phonemes": j["phonemes"], "tokens": j["tokens"], "words": j["words"],
                   "start_frame": j["start_frame"], "end_frame": j["end_frame"], "align": "exact", "align_exact": 1.0,
                   "rate_wpm": rate, "pitch": pitch}
        else:
            fv = voice.split("/", 1)[1]
            wav = os.path.join(tmp, h + ".wav")
            r = subprocess.run(["flite", "-voice", fv, "-psdur", "-t", text, "-o", wav], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("flite: " + r.stderr.strip()[:200])
            segs = parse_psdur(r.stdout)
            if not segs:
                raise RuntimeError("flite gave no segments")
            # leading silence cut to 20 ms: espeak-ng's clips start within a few ms
            cut = max(0.0, segs[0][2] - 0.02) if segs[0][0] == "pau" else 0.0
            if cut > 0:
                segs = [(n, max(0.0, a - cut), e - cut) for n, a, e in segs]
                segs[0] = (segs[0][0], 0.0, segs[0][2])
            j = self.phonemize(text)
            span, exact = align(j["phonemes"], segs, self.vowels)
            if span is None or exact < self.a.min_exact:
                raise RuntimeError("alignment too poor (%.2f of phonemes matched exactly)" % exact)
            subprocess.run(["sox", "-R", "-D", wav, "-r", str(self.a.rate), "-c", "1", "-b", "16", part,
                            "trim", "%.4f" % cut, "rate", "-v"], check=True, capture_output=True)
            os.remove(wav)
            duration = segs[-1][2]
            rec = {"phonemes": j["phonemes"], "tokens": j["tokens"], "words": j["words"],
                   "start_frame": [int(round(a * fr)) for a, _ in span], "end_frame": [int(round(e * fr)) for _, e in span],
                   "align": "flite-dp", "align_exact": round(exact, 3), "flite_segments": [[n, round(e, 3)] for n, _, e in segs]}
        # the real length of the converted file
        r = subprocess.run(["soxi", "-D", part], capture_output=True, text=True, check=True)
        duration = float(r.stdout.strip())
        n_frames = int(round(duration * fr))
        rec["end_frame"][-1] = n_frames
        os.replace(part, dest)
        out = {"path": rel, "text": text, "lang": "en", "voice": voice, "source": voice.split("/")[0].replace("espeak", "espeak-ng"),
               "duration": round(duration, 3), "sample_rate": self.a.rate, "frame_rate": fr, "n_frames": n_frames,
               "synthetic": True}
        out.update(rec)
        out["phoneme_inventory"] = json.loads(self.inventory)
        return out


def load_manifest(path):
    recs = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    r = json.loads(line)
                    recs[r["path"]] = r
                except (ValueError, KeyError):
                    pass  # a line cut short by an interruption
    return recs


def build(a):
    os.makedirs(a.out, exist_ok=True)
    if not a.no_fortunes:
        fetch_packages(a.out, ["fortunes"])
    held = heldout_set(a.heldout)
    sents = corpus_sentences(None if a.no_fortunes else os.path.join(a.out, "pkgs"), held, a.text or ())
    voices = a.voices.split(",")
    b = Builder(a)
    mdir = os.path.join(a.out, "manifests")
    os.makedirs(mdir, exist_ok=True)
    done = {}
    for v in voices:
        done.update(load_manifest(os.path.join(mdir, v.replace("/", "-") + ".jsonl")))
    have_s = sum(r["duration"] for r in done.values())
    todo = []
    # sentence i goes to voice i mod len(voices): each voice gets an equal share
    for i, s in enumerate(sents[: a.max_sentences or None]):
        v = voices[i % len(voices)]
        rel = os.path.join("audio", v.replace("/", "-").replace("+", "-"), md5(s) + ".flac")
        if rel not in done:
            todo.append((v, s))
    budget_s = a.hours * 3600 - have_s if a.hours else float("inf")
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=a.out)
    rejected, made, cpu0, t0 = [], 0, os.times(), time.time()
    cpu_of, made_s = {}, {}
    try:
        def one(item):
            v, s = item
            c0 = os.times()
            try:
                rec, err = b.clip(v, s, tmp), None
            except (RuntimeError, subprocess.CalledProcessError, ValueError) as e:
                rec, err = None, str(e)
            c1 = os.times()
            # CPU of this clip (exact with --jobs 1; shared out roughly otherwise)
            cpu_of[v] = cpu_of.get(v, 0.0) + (c1.children_user + c1.children_system + c1.user + c1.system) - \
                (c0.children_user + c0.children_system + c0.user + c0.system)
            return v, s, rec, err

        with ThreadPoolExecutor(max_workers=a.jobs) as ex:
            it = iter(todo)
            pending = set()
            while True:
                while budget_s > 0 and len(pending) < 2 * a.jobs:
                    item = next(it, None)
                    if item is None:
                        break
                    pending.add(ex.submit(one, item))
                if not pending:
                    break
                fut = next(iter(pending))
                pending.remove(fut)
                v, s, rec, err = fut.result()
                if err:
                    rejected.append((v, s, err))
                    continue
                with open(os.path.join(mdir, v.replace("/", "-") + ".jsonl"), "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                done[rec["path"]] = rec
                budget_s -= rec["duration"]
                made_s[v] = made_s.get(v, 0.0) + rec["duration"]
                made += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cpu1 = os.times()
    cpu = (cpu1.children_user + cpu1.children_system + cpu1.user + cpu1.system) - \
          (cpu0.children_user + cpu0.children_system + cpu0.user + cpu0.system)
    # the merged manifest: sorted by path, only the voices asked for now
    lines = [json.dumps(done[p], ensure_ascii=False) for p in sorted(done)]
    with open(os.path.join(a.out, "tts.jsonl.tmp"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))
    os.replace(os.path.join(a.out, "tts.jsonl.tmp"), os.path.join(a.out, "tts.jsonl"))
    per = {}
    for r in done.values():
        d = per.setdefault(r["voice"], [0, 0.0])
        d[0] += 1
        d[1] += r["duration"]
    rep = ["tts corpus: %d sentences available (%d held-out sentences excluded), %d clips made now, %d rejected, "
           "%.1f CPU s (%.1f s wall)" % (len(sents), len(held), made, len(rejected), cpu, time.time() - t0)]
    for v in sorted(per):
        speed = ", this run %.2f h of audio per CPU minute" % (made_s[v] / 3600 / (cpu_of[v] / 60)) \
            if cpu_of.get(v) and made_s.get(v) else ""
        rep.append("  %-16s %6d clips %7.2f h%s" % (v, per[v][0], per[v][1] / 3600, speed))
    rep.append("  %-16s %6d clips %7.2f h" % ("total", len(done), sum(x[1] for x in per.values()) / 3600))
    for v, s, e in rejected[:20]:
        rep.append("  rejected %s %r: %s" % (v, s[:60], e))
    with open(os.path.join(a.out, "report.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(rep) + "\n")
    print("\n".join(rep), file=sys.stderr)
    return 0


def check(a):
    """Print a few flite clips' phoneme spans next to flite's own segments."""
    recs = [r for r in load_manifest(os.path.join(a.out, "tts.jsonl")).values() if r["align"] == "flite-dp"]
    recs.sort(key=lambda r: r["path"])
    for r in recs[: a.check]:
        fr = r["frame_rate"]
        print("%s  %s  (%.0f%% exact)\n  %r" % (r["path"], r["voice"], 100 * r["align_exact"], r["text"]))
        segs, t = [], 0.0
        for n, e in r["flite_segments"]:
            segs.append((n, t, e))
            t = e
        for p, a0, e0 in zip(r["phonemes"], r["start_frame"], r["end_frame"]):
            a_s, e_s = a0 / fr, e0 / fr
            inside = [n for n, s0, s1 in segs if min(s1, e_s) - max(s0, a_s) > 0.5 * (s1 - s0) or
                      (s0 <= (a_s + e_s) / 2 < s1)]
            print("  %-6s %6.3f-%6.3f s  frames %4d-%4d   flite: %s" % (p, a_s, e_s, a0, e0, " ".join(inside)))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="corpus folder")
    ap.add_argument("--hours", type=float, default=0, help="stop once the corpus holds this many hours (default: all sentences)")
    ap.add_argument("--max-sentences", type=int, default=0, help="use only the first N sentences (by md5)")
    ap.add_argument("--voices", default=",".join(DEFAULT_VOICES),
                    help="flite/NAME and espeak/LANG+VARIANT, comma-separated (default: %(default)s)")
    ap.add_argument("--rate", type=int, default=24000, help="sample rate of the clips (default 24000)")
    ap.add_argument("--frame-rate", type=float, default=75, help="frames per second of the spans (default 75)")
    ap.add_argument("--min-exact", type=float, default=0.6,
                    help="flite clips whose alignment matches fewer phonemes exactly are left out (default 0.6)")
    ap.add_argument("--jobs", type=int, default=1, help="clips made at once (default 1)")
    ap.add_argument("--heldout", action="append", help="sentence list never to use (default: the intelligibility lists)")
    ap.add_argument("--text", action="append", help="also take the sentences of this text file (paragraphs apart by blank lines)")
    ap.add_argument("--no-fortunes", action="store_true", help="leave out the fortunes package (no download)")
    ap.add_argument("--sonotok", default=os.environ.get("SONOTOK", "sonotok"), help="the sonotok program")
    ap.add_argument("--check", type=int, default=0, help="print N flite clips' spans next to flite's segments, and stop")
    a = ap.parse_args()
    a.heldout = a.heldout or HELDOUT
    for v in a.voices.split(","):
        if not re.fullmatch(r"flite/[a-z0-9]+|espeak/[a-z-]+\+[A-Za-z0-9]+", v):
            ap.error("bad voice %r (flite/NAME or espeak/LANG+VARIANT)" % v)
    return check(a) if a.check else build(a)


if __name__ == "__main__":
    sys.exit(main())
