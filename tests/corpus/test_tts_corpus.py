#!/usr/bin/env python3
"""The synthetic TTS corpus builder (tools/corpus/tts_corpus.py): held-out
sentences never reach the training text (as written, in other case and
punctuation, or inside a longer sentence); the flite -> espeak-ng alignment
on a hand-made case whose answer is worked out below; and, when flite,
espeak-ng and the sonotok program are there, a build of a few clips: fields,
spans that cover each clip, flite spans that agree with flite's own
segments, a rerun that makes nothing, no temporary left.

  test_tts_corpus.py SOURCE_ROOT [SONOTOK]
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

root = sys.argv[1]
sonotok = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
spec = importlib.util.spec_from_file_location("tts_corpus", os.path.join(root, "tools", "corpus", "tts_corpus.py"))
tc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tc)

fails = checks = 0


def check(cond, what):
    global fails, checks
    checks += 1
    if not cond:
        fails += 1
        print("FAIL:", what)


# ---- held-out sentences never pass
held_path = os.path.join(root, "tools", "intelligibility", "sentences-tts.txt")
with open(held_path, encoding="utf-8") as f:
    held_lines = [l.strip() for l in f if l.strip()]
check(len(held_lines) >= 40, "at least 40 held-out TTS sentences")
held = tc.heldout_set(tc.HELDOUT)
for s in held_lines:
    check(not tc.keep_sentence(s, held), "held out as written: " + s)
    check(not tc.keep_sentence(s.upper()[:-1] + "!", held), "held out in capitals: " + s)
    check(not tc.keep_sentence("Then " + s[0].lower() + s[1:], held), "held out inside a sentence: " + s)
check(tc.keep_sentence("The cat sat on the old mat today.", held), "an ordinary sentence passes")
check(not tc.keep_sentence("I paid 42 dollars for it.", held), "digits are left out")
check(not tc.keep_sentence("Too short.", held), "fewer than 4 words are left out")
check(not tc.keep_sentence("XLVI: A billion saved is a billion earned.", held), "Roman numerals are left out")
check(not tc.keep_sentence("The NASA engineers went home early.", held), "words in capitals are left out")
# ... and through the sentence gathering, from a text file
work = tempfile.mkdtemp(prefix="tts-corpus-test.")
try:
    txt = os.path.join(work, "t.txt")
    with open(txt, "w", encoding="utf-8") as f:
        f.write(" ".join(held_lines[:5]) + "\n\nMy uncle keeps bees in the orchard.\n\n" + held_lines[7].lower() + "\n")
    got = tc.corpus_sentences(None, held, [txt])
    check("My uncle keeps bees in the orchard." in got, "the text's own sentence is gathered")
    check(not any(tc.norm(s) in held for s in got), "no gathered sentence is held out")

    # ---- the alignment on a hand-made case: "Hello world" by flite with a
    # leading pause and a ,-pause espeak-ng has no phoneme for, and "l" missing
    # on flite's side:
    #   espeak  h   @   l   'oU  w    '3:  l    d    ||
    #   flite   pau hh  ax  ow  pau  w    er   d    pau
    ph = ["h", "@", "l", "'oU", "w", "'3:", "l", "d", "||"]
    segs = [("pau", 0.0, 0.1), ("hh", 0.1, 0.2), ("ax", 0.2, 0.3), ("ow", 0.3, 0.5), ("pau", 0.5, 0.6),
            ("w", 0.6, 0.7), ("er", 0.7, 0.9), ("d", 0.9, 1.0), ("pau", 1.0, 1.2)]
    span, exact = tc.align(ph, segs, {"@", "oU", "3:"})
    want = [(0.0, 0.2), (0.2, 0.25), (0.25, 0.3), (0.3, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0), (1.0, 1.2)]
    # the leading pause goes to "h" (0-0.2); "l", unmatched, shares the time of
    # the phoneme before it, "@" (ax, 0.2-0.3, halved); 'oU takes ow and the
    # inner pause after it (0.3-0.6); the second "l" halves '3:'s er (0.7-0.9)
    check(span is not None and all(abs(a - c) < 1e-9 and abs(b - d) < 1e-9 for (a, b), (c, d) in zip(span, want)),
          "alignment spans: %s" % span)
    check(abs(exact - 6 / 8) < 1e-9, "exact matches 6 of 8: %s" % exact)
    check(tc.parse_psdur("pau:0.164 hh:0.255 ax:0.304 ") == [("pau", 0.0, 0.164), ("hh", 0.164, 0.255), ("ax", 0.255, 0.304)],
          "flite -psdur parsed")

    # ---- a small build
    tools = all(shutil.which(t) for t in ("flite", "sox", "soxi")) and sonotok
    if not tools:
        print("tts-corpus: flite, sox or sonotok missing: build part skipped")
    else:
        with open(txt, "w", encoding="utf-8") as f:
            f.write("The quick brown fox jumps over the lazy dog. A little bird sang in the tree.\n"
                    "We walked home slowly, talking about nothing at all.\n")
        out = os.path.join(work, "c")
        cmd = [sys.executable, os.path.join(root, "tools", "corpus", "tts_corpus.py"), "--out", out, "--no-fortunes",
               "--text", txt, "--max-sentences", "4", "--voices", "flite/rms,espeak/en+m3", "--sonotok", sonotok,
               "--heldout", held_path]
        r = subprocess.run(cmd, capture_output=True, text=True)
        check(r.returncode == 0, "build runs: " + r.stderr[-300:])
        recs = [json.loads(l) for l in open(os.path.join(out, "tts.jsonl"), encoding="utf-8")] if r.returncode == 0 else []
        check(len(recs) == 4, "4 clips (%d)" % len(recs))
        for rec in recs:
            n = len(rec["phonemes"])
            check(all(len(rec[k]) == n for k in ("tokens", "words", "start_frame", "end_frame")), "field lengths")
            check(rec["start_frame"][0] == 0 and rec["end_frame"][-1] == rec["n_frames"], "spans from 0 to the end")
            check(all(rec["start_frame"][i] == rec["end_frame"][i - 1] for i in range(1, n)), "spans contiguous")
            check(all(a <= b for a, b in zip(rec["start_frame"], rec["end_frame"])), "spans ordered")
            check(abs(rec["n_frames"] - rec["duration"] * 75) <= 1, "n_frames from the duration")
            info = subprocess.run(["soxi", "-r", os.path.join(out, rec["path"])], capture_output=True, text=True).stdout
            check(info.strip() == "24000", "24 kHz audio")
            check(rec["phonemes"][-1] == "||", "ends on the sentence pause")
            if rec["align"] == "flite-dp":
                check(rec["align_exact"] >= 0.8, "flite alignment mostly exact (%s)" % rec["align_exact"])
                # every flite consonant's midpoint falls in a phoneme the table allows for it
                ends = [e for _, e in rec["flite_segments"]]
                starts = [0.0] + ends[:-1]
                ok = tot = 0
                for (name, e), s0 in zip(rec["flite_segments"], starts):
                    if name in ("pau",) or name in tc.ARPA_VOWELS:
                        continue
                    mid = (s0 + e) / 2 * 75
                    k = max(i for i in range(n) if rec["start_frame"][i] <= mid)
                    tot += 1
                    ok += tc.bare(rec["phonemes"][k]) in tc.ARPA[name]
                check(tot and ok >= 0.8 * tot, "flite consonants inside their phonemes (%d of %d)" % (ok, tot))
        r2 = subprocess.run(cmd, capture_output=True, text=True)
        check(r2.returncode == 0 and "0 clips made now" in r2.stderr, "a rerun makes nothing")
        check(not [d for d in os.listdir(out) if d.startswith(".tmp") or d.endswith(".tmp")], "no temporaries left")
finally:
    shutil.rmtree(work, ignore_errors=True)
print("tts-corpus: %d checks, %d failed" % (checks, fails))
sys.exit(1 if fails else 0)
