"""The Python module (python/sonotok) against the sonotok program: codes
byte for byte equal to the CLI's on the committed clips with the default
codec and the tiny test codecs, decoded audio equal, streams equal to
one-shot calls, token files and archives, the LM's generate, errors with
the library's message, the GIL released during calls.

    python3 tests/python/test_python.py   (environment: see pycommon.py)"""

import os
import pickle
import pydoc
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycommon import CLIPS, TINY24, TINY48, cli, read  # noqa: E402  (skips without numpy)

import numpy as np  # noqa: E402

import sonotok  # noqa: E402

DEFAULT = "default"
CODECS = {DEFAULT: None, "tiny24": TINY24, "tiny48": TINY48}
_codecs = {}


def codec(name):
    """Codecs loaded once (1 thread: the tests run beside other work)."""
    if name not in _codecs:
        _codecs[name] = sonotok.Codec.load(CODECS[name] or name, n_threads=1)
    return _codecs[name]


class Scratch(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="sonotok-python.")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp, name)


class TestAgainstCLI(Scratch):
    """Python codes equal the CLI's byte for byte; decoded audio equals."""

    def cases(self):
        # (codec, its -m, kbps): every bandwidth of the tiny 24 kHz-like codec, one of the others
        for kbps in codec("tiny24").bandwidths:
            yield "tiny24", TINY24, kbps
        yield "tiny48", TINY48, codec("tiny48").bandwidths[1]
        yield DEFAULT, DEFAULT, 6.0

    def test_codes_and_audio_equal_the_cli(self):
        for name, model, kbps in self.cases():
            c = codec(name)
            for clip in CLIPS:
                with self.subTest(codec=name, kbps=kbps, clip=os.path.basename(clip)):
                    self.check_clip(c, model, kbps, clip)

    def check_clip(self, c, model, kbps, clip):
        tok, npy = self.path("cli.tok"), self.path("cli.npy")
        cli("tokenize", "-m", model, "-b", "%g" % kbps, "-t", "1", clip, "-o", tok)
        cli("tokenize", "-m", model, "-b", "%g" % kbps, "-t", "1", clip, "-o", npy)
        cli("detokenize", "-m", model, "-t", "1", tok, "-o", self.path("cli.wav"))
        cli("detokenize", "-m", model, "-t", "1", npy, "-o", self.path("cli-npy.wav"))
        want = read(tok)

        # ---- encode: the CLI's codes, byte for byte ----
        # the file at its own rate: Codec.encode converts it (libsoxr in memory)
        audio, sr = sonotok.load_audio(clip)
        self.assertEqual(c.encode_tokens(audio, sr, kbps).to_bytes(), want)
        # read at the codec's rate, as the CLI reads it
        audio2, sr2 = sonotok.load_audio(clip, c.sample_rate, c.channels)
        self.assertEqual(sr2, c.sample_rate)
        codes = c.encode(audio2, sr2, kbps)
        self.assertEqual(codes.dtype, np.int32)
        cli_codes = np.load(npy)
        self.assertEqual(codes.shape, cli_codes.shape)
        self.assertTrue(np.array_equal(codes, cli_codes))
        # streamed in blocks of a second, as tokenize does
        self.assertEqual(c.encode_file(clip, kbps).to_bytes(), want)
        # a token file written from Python is the CLI's
        sonotok.write_tokens(self.path("py.tok"), c.encode_tokens(audio2, sr2, kbps))
        self.assertEqual(read(self.path("py.tok")), want)

        # ---- decode: the CLI's audio ----
        t = sonotok.read_tokens(tok)
        out = c.decode(t)
        self.assertEqual(out.dtype, np.float32)
        self.assertEqual(out.shape, (c.channels, t.n_samples))
        # the CLI's 16-bit WAV: within one step of 16-bit rounding of the float output ...
        ref, ref_rate = sonotok.load_audio(self.path("cli.wav"))
        self.assertEqual((ref.shape, ref_rate), (out.shape, c.sample_rate))
        self.assertLessEqual(float(np.max(np.abs(np.clip(out, -1, 1) - ref))), 1.0 / 32767 + 1e-6)
        # ... and written through the same writer, the same bytes
        sonotok.save_audio(self.path("py.wav"), out, c.sample_rate)
        self.assertEqual(read(self.path("py.wav")), read(self.path("cli.wav")))
        # bare codes (a .npy): the longest length, scales 1, as detokenize does
        sonotok.save_audio(self.path("py-npy.wav"), c.decode(np.load(npy)), c.sample_rate)
        self.assertEqual(read(self.path("py-npy.wav")), read(self.path("cli-npy.wav")))
        # streamed in small blocks: the same floats
        blocks = list(c.decode_stream(t, block_samples=1000))
        self.assertTrue(all(b.shape[1] <= 1000 for b in blocks))
        self.assertTrue(np.array_equal(np.concatenate(blocks, axis=1), out))

    def test_resample_output_rate(self):
        """detokenize -r: the writer resamples as the CLI's does."""
        c = codec(DEFAULT)
        tok = self.path("a.tok")
        cli("tokenize", "-t", "1", CLIPS[0], "-o", tok)
        cli("detokenize", "-t", "1", tok, "-o", self.path("cli.flac"), "-r", "44100")
        sonotok.save_audio(self.path("py.flac"), c.decode(sonotok.read_tokens(tok)), c.sample_rate, 44100)
        self.assertEqual(read(self.path("py.flac")), read(self.path("cli.flac")))

    def test_metadata(self):
        c = codec(DEFAULT)
        self.assertEqual((c.sample_rate, c.channels, c.hop, c.codebook_size, c.max_codebooks),
                         (24000, 1, 320, 1024, 8))
        self.assertAlmostEqual(c.frame_rate, 75.0)
        self.assertEqual(c.bandwidths, (1.5, 3.0, 6.0))
        self.assertEqual([c.n_q(b) for b in (1.5, 3, 6, None)], [2, 4, 8, 8])
        tok = self.path("a.tok")
        cli("tokenize", "-t", "1", CLIPS[0], "-o", tok)
        t = sonotok.read_tokens(tok)
        self.assertEqual((t.model_name, t.model_hash), (c.name, c.codes_hash))
        self.assertNotEqual(c.codes_hash, c.hash)
        self.assertEqual((t.sample_rate, t.channels, t.hop, t.n_q, t.codebook_size), (24000, 1, 320, 8, 1024))
        self.assertEqual(t.n_samples, sonotok.load_audio(CLIPS[0], 24000)[0].shape[1])
        self.assertIsNone(t.scales)
        c48 = codec("tiny48")
        t48 = c48.encode_tokens(sonotok.load_audio(CLIPS[0], 8000, 2)[0], 8000)
        self.assertEqual((c48.channels, t48.channels), (2, 2))
        self.assertGreater(t48.n_segments, 1)
        self.assertEqual(t48.scales.shape, (t48.n_segments,))
        self.assertEqual((t.n_segments, t.segment_frames), (1, 0))
        self.assertIn("sonotok-24k", repr(c))


class TestStreams(Scratch):
    def test_stream_encoder_equals_one_shot(self):
        for name in ("tiny24", "tiny48", DEFAULT):
            c = codec(name)
            with self.subTest(codec=name):
                audio, sr = sonotok.load_audio(CLIPS[1], c.sample_rate, c.channels)
                enc = c.encoder()
                for a, b in ((0, 1), (1, 777), (777, 5000), (5000, audio.shape[1])):
                    enc.push(audio[:, a:b])   # odd sizes, a non-contiguous view for stereo
                self.assertEqual(enc.finish().to_bytes(), c.encode_tokens(audio, sr).to_bytes())
                with self.assertRaises(sonotok.ArgumentError):
                    enc.push(audio[:, :10])   # finished

    def test_live_decoder_equals_decode(self):
        c = codec(DEFAULT)
        audio, sr = sonotok.load_audio(CLIPS[0], c.sample_rate)
        codes = c.encode(audio, sr)
        live = c.live_decoder(codes.shape[0])
        pieces = []
        for a, b in ((0, 1), (1, 70), (70, 200), (200, codes.shape[1])):
            live.push(codes[:, a:b])          # column slices: read in place with their row stride
            pieces.append(live.pull())
        live.end()
        pieces.append(live.pull())
        got = np.concatenate(pieces, axis=1)
        self.assertEqual(got.shape[1], codes.shape[1] * c.hop)
        self.assertTrue(np.array_equal(got, c.decode(codes)))
        bad = codes[:, :3].copy()
        bad[2, 1] = c.codebook_size
        live2 = c.live_decoder(8)
        with self.assertRaises(sonotok.RangeError):
            live2.push(bad)
        with self.assertRaises(sonotok.UnsupportedError):
            codec("tiny48").live_decoder(2)

    def test_audio_reader_blocks(self):
        with sonotok.AudioReader(CLIPS[1], 24000, 1, block_samples=4096) as r:
            blocks = list(r)
            self.assertEqual(r.file_sample_rate, 22050)
        whole, _ = sonotok.load_audio(CLIPS[1], 24000, 1)
        self.assertTrue(all(b.shape[1] <= 4096 for b in blocks))
        self.assertTrue(np.array_equal(np.concatenate(blocks, axis=1), whole))

    def test_resample_is_the_readers(self):
        """resample() of a file's samples equals reading the file converted."""
        a, sr = sonotok.load_audio(CLIPS[0])
        for rate, ch in ((24000, 1), (8000, 2), (16000, 2)):
            with self.subTest(rate=rate, channels=ch):
                self.assertTrue(np.array_equal(sonotok.resample(a, sr, rate, ch), sonotok.load_audio(CLIPS[0], rate, ch)[0]))
        self.assertIs(sonotok.resample(a, sr), a)   # nothing to do: the same array


class TestTokenFiles(Scratch):
    def test_round_trip(self):
        c = codec("tiny48")
        t = c.encode_tokens(sonotok.load_audio(CLIPS[0], 8000, 2)[0], 8000, 9.6)
        sonotok.write_tokens(self.path("a.tok"), t)
        back = sonotok.read_tokens(self.path("a.tok"))
        self.assertTrue(np.array_equal(back.codes, t.codes))
        self.assertTrue(np.array_equal(back.scales, t.scales))
        self.assertEqual(sonotok.Tokens.from_bytes(read(self.path("a.tok"))).to_bytes(), t.to_bytes())
        self.assertEqual(os.listdir(self.tmp), ["a.tok"])   # no temporary file left
        self.assertFalse(t.codes.flags.writeable)
        self.assertTrue(np.array_equal(np.asarray(t), t.codes))
        # pickled (to a DataLoader worker): the same token file, and a codec that loads again
        self.assertEqual(pickle.loads(pickle.dumps(t)).to_bytes(), t.to_bytes())
        c2 = pickle.loads(pickle.dumps(c))
        self.assertEqual((c2.name, c2.hash, c2.n_threads), (c.name, c.hash, c.n_threads))
        self.assertEqual(c2.encode_tokens(np.zeros((2, 800), np.float32), 8000).to_bytes(),
                         c.encode_tokens(np.zeros((2, 800), np.float32), 8000).to_bytes())
        # bare codes need their codec
        with self.assertRaises(sonotok.ArgumentError):
            sonotok.write_tokens(self.path("b.tok"), t.codes)
        sonotok.write_tokens(self.path("b.tok"), t.codes, codec=c)
        self.assertTrue(np.array_equal(sonotok.read_tokens(self.path("b.tok")).codes, t.codes))

    def test_coders(self):
        """coder= as tokenize --coder: same bytes as the CLI for each, the same codes back."""
        d = codec(DEFAULT)
        t = d.encode_tokens(sonotok.load_audio(CLIPS[0])[0], sonotok.load_audio(CLIPS[0])[1], 6)
        sizes = {}
        for coder in ("packed", "zstd", "range", "model"):
            cli("tokenize", "-q", "-b", "6", "--coder", coder, CLIPS[0], "-o", self.path(coder + ".tok"))
            data = t.to_bytes(coder)
            self.assertEqual(data, read(self.path(coder + ".tok")), coder)
            self.assertTrue(np.array_equal(sonotok.Tokens.from_bytes(data).codes, t.codes), coder)
            sizes[coder] = len(data)
        self.assertEqual(len(t.to_bytes()), min(sizes.values()))        # auto: the smallest
        self.assertEqual(t.to_bytes("model", n_threads=2), t.to_bytes("model"))
        # a codec without a coder model: auto falls back, model is refused
        t48 = codec("tiny48").encode_tokens(np.zeros((2, 800), np.float32), 8000)
        self.assertEqual(t48.to_bytes(), sonotok.Tokens.from_bytes(t48.to_bytes("range")).to_bytes())
        with self.assertRaises(sonotok.NotFoundError):
            t48.to_bytes("model")
        with self.assertRaises(sonotok.ArgumentError):
            t.to_bytes("lzma")

    def test_archives(self):
        folder = self.path("in")
        os.makedirs(os.path.join(folder, "sub"))
        os.symlink(CLIPS[0], os.path.join(folder, "a.wav"))
        os.symlink(CLIPS[1], os.path.join(folder, "sub", "b.ogg"))
        cli("tokenize", "-t", "1", folder, "-o", self.path("cli.sta"))
        with sonotok.Archive(self.path("cli.sta")) as a:
            self.assertEqual(len(a), 2)
            names = a.names()
            self.assertEqual(sorted(names), ["a.wav", "sub/b.ogg"])
            self.assertIn("a.wav", a)
            cli("tokenize", "-t", "1", CLIPS[0], "-o", self.path("a.tok"))
            self.assertEqual(a.read_bytes("a.wav"), read(self.path("a.tok")))
            self.assertEqual(a["a.wav"].to_bytes(), read(self.path("a.tok")))
            self.assertEqual(a.read(names.index("a.wav")).to_bytes(), read(self.path("a.tok")))
            self.assertEqual(a.entry_size("a.wav"), len(read(self.path("a.tok"))))
            items = list(a.items())
            self.assertEqual([n for n, _ in items], names)
            with self.assertRaises(sonotok.NotFoundError) as e:
                a["nope.wav"]
            self.assertIsInstance(e.exception, KeyError)
            self.assertIsNone(a.get("nope.wav"))
            # the same entries written from Python: the CLI's archive
            sonotok.write_archive(self.path("py.sta"), items)
            self.assertEqual(read(self.path("py.sta")), read(self.path("cli.sta")))
        # merge, as archive-merge
        with sonotok.ArchiveWriter(self.path("one.sta")) as w:
            w.add("x/one.wav", read(self.path("a.tok")))
        sonotok.merge_archives(self.path("merged.sta"), [self.path("py.sta"), self.path("one.sta")])
        cli("archive-merge", self.path("cli-merged.sta"), self.path("py.sta"), self.path("one.sta"))
        self.assertEqual(read(self.path("merged.sta")), read(self.path("cli-merged.sta")))
        # an exception inside the writer's block leaves nothing behind
        with self.assertRaises(RuntimeError):
            with sonotok.ArchiveWriter(self.path("dropped.sta")) as w:
                w.add("a.wav", read(self.path("a.tok")))
                raise RuntimeError("stop")
        self.assertFalse(os.path.exists(self.path("dropped.sta")))
        self.assertEqual([f for f in os.listdir(self.tmp) if "sonotok-" in f], [])


class TestErrors(Scratch):
    """Each bad input raises its documented exception with the library's
    message (the line the CLI prints for the same input)."""

    def cli_error(self, *args):
        p = cli(*args, check=False)
        self.assertNotEqual(p.returncode, 0)
        return p.stderr.strip()

    def test_missing_model(self):
        missing = self.path("no/such/model.th")
        for model in ("no-such-model", missing):
            with self.subTest(model=model):
                with self.assertRaises(sonotok.NotFoundError) as e:
                    sonotok.Codec.load(model)
                err = e.exception
                self.assertIsInstance(err, FileNotFoundError)
                self.assertEqual((err.code, err.reason), (-11, "not found"))
                self.assertIn(model, str(err))
                self.assertNotIn("\n", str(err))
                if "/" not in model:   # (for a path the CLI moves the path to the front)
                    self.assertIn(str(err),
                                  self.cli_error("tokenize", "-m", model, CLIPS[0], "-o", self.path("x.tok")))
        with self.assertRaises(sonotok.NotFoundError):
            sonotok.LM.load(missing)
        with self.assertRaises(sonotok.NotFoundError):
            sonotok.load_audio(missing)

    def test_bad_audio(self):
        c = codec(DEFAULT)
        good = np.zeros(2400, np.float32)
        for bad, what in ((np.zeros(2400, np.int16), "int16"), (np.zeros(2400, np.complex64), "complex64"),
                          (np.zeros((1, 2, 2400), np.float32), "(1, 2, 2400)"),
                          (np.zeros((2400, 1), np.float32), "audio.T"), (np.zeros((0, 10), np.float32), "channels"),
                          (["a"], "<U1")):
            with self.subTest(what=what):
                with self.assertRaises(sonotok.ArgumentError) as e:
                    c.encode(bad, 24000)
                self.assertIsInstance(e.exception, ValueError)
                self.assertEqual(e.exception.code, -2)
                self.assertIn(what, str(e.exception))
        with self.assertRaises(sonotok.ArgumentError):
            c.encode(good, None)
        with self.assertRaises(sonotok.EmptyError):
            c.encode(np.zeros((1, 0), np.float32), 24000)
        with self.assertRaises(sonotok.RangeError) as e:
            c.encode(good, 24000, kbps=12)
        self.assertIn("12", str(e.exception))
        enc = c.encoder()
        with self.assertRaises(sonotok.ArgumentError):
            enc.push(np.zeros((2, 100), np.float32))   # the codec is mono
        # float64 and strided input are converted, with the same codes
        a = sonotok.load_audio(CLIPS[0], 24000)[0]
        self.assertTrue(np.array_equal(c.encode(a.astype(np.float64), 24000), c.encode(a, 24000)))
        self.assertTrue(np.array_equal(c.encode(np.repeat(a, 2, axis=0)[:1], 24000), c.encode(a[0], 24000)))

    def test_bad_codes(self):
        c = codec(DEFAULT)
        with self.assertRaises(sonotok.ArgumentError):
            c.decode(np.zeros((8, 10), np.float32))
        with self.assertRaises(sonotok.ArgumentError):
            c.decode(np.zeros(10, np.int32))
        for v in (1024, -1, 2 ** 32 + 5):
            with self.subTest(code=v):
                codes = np.zeros((8, 10), np.int64)
                codes[3, 4] = v
                with self.assertRaises(sonotok.RangeError):
                    c.decode(codes)
        with self.assertRaises(sonotok.RangeError):
            c.decode(np.zeros((9, 10), np.int32))   # more codebooks than the model
        t24 = codec("tiny24").encode_tokens(np.zeros(800, np.float32), 8000)
        with self.assertRaises(sonotok.ModelMismatchError) as e:
            c.decode(t24)
        self.assertIn("tiny24", str(e.exception))

    def test_corrupt_token_file(self):
        cli("tokenize", "-t", "1", CLIPS[0], "-o", self.path("a.tok"))
        data = read(self.path("a.tok"))
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x40
        cases = [("flipped.tok", bytes(flipped), sonotok.ChecksumError),
                 ("short.tok", data[:len(data) - 100], sonotok.TruncatedError),
                 ("text.tok", b"this is not a token file, just some text\n", sonotok.FormatError),
                 ("empty.tok", b"", sonotok.TruncatedError)]
        for name, content, cls in cases:
            with self.subTest(case=name):
                with open(self.path(name), "wb") as f:
                    f.write(content)
                with self.assertRaises(cls) as e:
                    sonotok.read_tokens(self.path(name))
                self.assertIsInstance(e.exception, ValueError)
                self.assertIsInstance(e.exception, sonotok.FormatError)
                if content:   # (the CLI takes an empty file for an archive: another message)
                    self.assertIn(str(e.exception),
                                  self.cli_error("detokenize", self.path(name), "-o", self.path("x.wav")))
                with self.assertRaises(cls):
                    sonotok.Tokens.from_bytes(content)
                self.assertEqual(read(self.path(name)), content)   # inputs are never modified
        # an archive entry damaged on disk
        sonotok.write_archive(self.path("a.sta"), [("a.wav", data)])
        sta = bytearray(read(self.path("a.sta")))
        at = bytes(sta).find(data[:64]) + len(data) // 2
        sta[at] ^= 0x40
        with open(self.path("bad.sta"), "wb") as f:
            f.write(sta)
        with sonotok.Archive(self.path("bad.sta")) as a:
            with self.assertRaises(sonotok.ChecksumError):
                a["a.wav"]
        with self.assertRaises(sonotok.FormatError):
            sonotok.Archive(self.path("text.tok"))

    def test_exception_objects(self):
        self.assertTrue(issubclass(sonotok.ChecksumError, sonotok.FormatError))
        for cls in (sonotok.ArgumentError, sonotok.FormatError, sonotok.RangeError, sonotok.ModelMismatchError,
                    sonotok.EmptyError, sonotok.LimitError):
            self.assertTrue(issubclass(cls, ValueError) and issubclass(cls, sonotok.Error), cls)
        self.assertTrue(issubclass(sonotok.FileIOError, OSError))
        self.assertTrue(issubclass(sonotok.UnsupportedError, NotImplementedError))
        self.assertTrue(issubclass(sonotok.NoMemoryError, MemoryError))
        # every library code has its class, named in the module's docs
        codes = {cls.code: cls for cls in vars(sonotok.errors).values()
                 if isinstance(cls, type) and issubclass(cls, sonotok.Error) and cls.code is not None}
        self.assertEqual(sorted(codes), list(range(-12, 0)))
        for code, cls in codes.items():
            self.assertIn(cls.__name__, sonotok.errors.__doc__)
            self.assertNotEqual(sonotok._lib.strerror(code), "unknown error")
        try:
            sonotok.read_tokens(self.path("missing.tok"))
        except sonotok.NotFoundError as e:
            back = pickle.loads(pickle.dumps(e))
            self.assertEqual((type(back), str(back), back.code), (type(e), str(e), e.code))

    def test_library_not_found(self):
        env = dict(os.environ, SONOTOK_LIBRARY=self.path("no/libsonotok.so"))
        code = "try:\n import sonotok\nexcept ImportError as e:\n print(e)\n raise SystemExit(3)"
        p = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 3)
        self.assertIn("SONOTOK_LIBRARY=" + self.path("no/libsonotok.so"), p.stdout)


class TestLM(Scratch):
    def make_lm(self):
        manifest = self.path("m.jsonl")
        tone = self.path("a.wav")
        sonotok.save_audio(tone, 0.3 * np.sin(np.arange(8000) * 0.2).astype(np.float32), 8000)
        with open(manifest, "w") as f:
            f.write('{"path":"%s","category":"music","duration":1,"caption":"a low hum"}\n' % tone)
        lm = self.path("lm.safetensors")
        cli("train-lm", "--manifest", manifest, "-t", "1", "--vocab", "300", "--layers", "1", "--width", "16",
            "--heads", "2", "--context", "64", "--batch", "2", "--run-steps", "0", "-o", self.path("run"),
            "--codec", TINY24, "--codebooks", "3", "--export", lm)
        return lm

    def test_lm_with_full_codec_hash(self):
        """An LM file made before the codes hash records the codec's full hash: it still fits its codec."""
        c = codec("tiny24")
        data = read(self.make_lm())
        self.assertEqual(data.count(c.codes_hash.hex().encode()), 1)
        old = self.path("old-lm.safetensors")
        with open(old, "wb") as f:
            f.write(data.replace(c.codes_hash.hex().encode(), c.hash.hex().encode()))
        lm = sonotok.LM.load(old)
        self.assertEqual(lm.codec_hash, c.hash)
        lm.check_codec(c)
        cli("generate", "-m", old, "--codec", TINY24, "--task", "continue", "-d", "0.01", "--min-duration", "0.01",
            "-t", "1", "-o", self.path("old.wav"))
        with self.assertRaises(sonotok.ModelMismatchError):
            lm.check_codec(codec(DEFAULT))

    def test_runs_begun_with_full_codec_hash(self):
        """train-lm and train-coder runs whose checkpoints (and shards) record the codec's full hash, as runs begun
        before the codes hash do, resume with that codec, reuse the shards and go on with the codes hash."""
        c = codec("tiny24")
        manifest = self.path("m.jsonl")
        tone = self.path("a.wav")
        sonotok.save_audio(tone, 0.3 * np.sin(np.arange(8000) * 0.2).astype(np.float32), 8000)
        with open(manifest, "w") as f:
            f.write('{"path":"%s","category":"music","duration":1,"caption":"a low hum"}\n' % tone)
        runs = {
            "train-lm": ["--vocab", "300", "--layers", "1", "--width", "16", "--heads", "2", "--context", "64",
                         "--batch", "2", "--codebooks", "3"],
            "train-coder": ["--lags", "1", "--emb", "16", "--hidden", "16", "--hidden2", "16", "--batch", "8"],
        }
        for cmd, sizes in runs.items():
            run = self.path(cmd)
            base = [cmd, "--manifest", manifest, "-t", "1", "-o", run, "--codec", TINY24, "--steps", "5"]
            cli(*base, *sizes, "--run-steps", "1")
            ck, shard = os.path.join(run, "checkpoint.safetensors"), os.path.join(run, "train.shard")
            for path, a, b in ((ck, c.codes_hash.hex().encode(), c.hash.hex().encode()),
                               (shard, c.codes_hash, c.hash)):
                data = read(path)
                self.assertEqual(data.count(a), 1, path)
                with open(path, "wb") as f:
                    f.write(data.replace(a, b))
            cli(*base, "--run-steps", "1")
            self.assertTrue(c.hash in read(shard), cmd + ": the shards reused")
            self.assertIn(c.codes_hash.hex().encode(), read(ck), cmd + ": the run goes on with the codes hash")
            self.assertNotIn(c.hash.hex().encode(), read(ck), cmd)

    def test_generate_tts_equals_cli(self):
        clip = self.path("s1.wav")  # 30 frames of tiny24 (8 kHz, hop 8)
        sonotok.save_audio(clip, 0.3 * np.sin(np.arange(240) * 0.2).astype(np.float32), 8000)
        manifest = self.path("tts.jsonl")
        with open(manifest, "w") as f:
            f.write('{"path":"%s","text":"Hi.","lang":"en","voice":"flite/rms","tokens":[72,155,2],'
                    '"start_frame":[0,10,20],"end_frame":[10,20,30]}\n' % clip)
        path = self.path("tts.safetensors")
        cli("train-lm", "--manifest", manifest, "-t", "1", "--vocab", "300", "--layers", "1", "--width", "16",
            "--heads", "2", "--context", "256", "--batch", "2", "--run-steps", "0", "-o", self.path("trun"),
            "--codec", TINY24, "--codebooks", "3", "--export", path)
        lm = sonotok.LM.load(path)
        self.assertEqual(lm.conditions, ["lang:en", "voice:flite/rms"])
        c = codec("tiny24")
        cli("generate", "-m", path, "--codec", TINY24, "--task", "tts", "Hi, Bob.", "-t", "1", "-o", self.path("cli.wav"))
        [codes] = lm.generate(text="Hi, Bob.", task="tts", voice="flite/rms", lang="en")
        self.assertGreater(codes.shape[1], 0)
        sonotok.save_audio(self.path("py.wav"), c.decode(codes), c.sample_rate)
        self.assertEqual(read(self.path("py.wav")), read(self.path("cli.wav")))
        # "Hi, Bob.": 7 phonemes (h 'aI | b '0 b ||, doc/tts-layout.md), 20 frames each at most
        self.assertEqual(lm.max_frames(task="tts", text="Hi, Bob."), 140)
        with self.assertRaises(sonotok.ArgumentError):
            lm.generate(text="Hi.", task="tts", voice="nobody")
        with self.assertRaises(sonotok.UnsupportedError):
            sonotok.LM.load(self.make_lm()).generate(text="Hi.", task="tts")

    def test_generate_equals_cli(self):
        lm = sonotok.LM.load(self.make_lm())
        c = codec("tiny24")
        self.assertEqual((lm.n_codebooks, lm.codec_name, lm.codec_hash), (3, c.name, c.codes_hash))
        self.assertEqual(lm.context, 64)
        lm.check_codec(c)
        self.assertEqual(pickle.loads(pickle.dumps(lm)).codec_hash, c.codes_hash)
        with self.assertRaises(sonotok.ModelMismatchError):
            lm.check_codec(codec(DEFAULT))
        lm_path = lm.path
        # text to audio: 20 frames (20 ms at 1000 frames/s), rendered as the CLI renders
        cli("generate", "-m", lm_path, "--codec", TINY24, "--task", "tta", "a low hum", "-d", "0.02",
            "--min-duration", "0.02", "-t", "1", "-o", self.path("cli.wav"))
        [codes] = lm.generate(text="a low hum", max_frames=20, min_frames=20)
        self.assertEqual(codes.shape, (3, 20))
        sonotok.save_audio(self.path("py.wav"), c.decode(codes), c.sample_rate)
        self.assertEqual(read(self.path("py.wav")), read(self.path("cli.wav")))
        # continue a prompt (its whole frames, encoded with the LM's codebooks)
        prompt_wav = self.path("p.wav")
        sonotok.save_audio(prompt_wav, 0.2 * np.sin(np.arange(100) * 0.3).astype(np.float32), 8000)
        cli("generate", "-m", lm_path, "--codec", TINY24, "--task", "continue", "--prompt", prompt_wav, "-d", "0.02",
            "--min-duration", "0.02", "-t", "1", "-o", self.path("cli-c.wav"))
        p = sonotok.load_audio(prompt_wav, 8000, 1)[0]
        n = p.shape[1] // c.hop * c.hop
        prompt = c.encode(p[:, :n], 8000, n_q=3)
        # RVQ: 3 codebooks are the first 3 of 4 (24 kbps)
        self.assertTrue(np.array_equal(prompt, c.encode(p[:, :n], 8000, kbps=24)[:3]))
        [cont] = lm.generate(prompt=prompt, task="continue", max_frames=20, min_frames=20)
        live = c.live_decoder(3)
        live.push(prompt)
        live.push(cont)
        live.end()
        audio = live.pull()[:, prompt.shape[1] * c.hop:]
        sonotok.save_audio(self.path("py-c.wav"), audio, c.sample_rate)
        self.assertEqual(read(self.path("py-c.wav")), read(self.path("cli-c.wav")))
        # n_outputs: the first output is n_outputs=1's; on any thread count
        outs = lm.generate(text="a low hum", max_frames=20, min_frames=20, n_outputs=3, n_threads=2)
        self.assertEqual(len(outs), 3)
        self.assertTrue(np.array_equal(outs[0], codes))

    def test_on_frame(self):
        lm = sonotok.LM.load(self.make_lm())
        seen = []
        [full] = lm.generate(text="a low hum", max_frames=10, min_frames=10,
                             on_frame=lambda o, f, codes: seen.append((o, f, codes.copy())))
        self.assertEqual([f for _, f, _ in seen], list(range(10)))
        self.assertTrue(np.array_equal(np.stack([c for _, _, c in seen], axis=1), full))
        # True stops: the frames so far come back
        [part] = lm.generate(text="a low hum", max_frames=10, min_frames=10, on_frame=lambda o, f, c: f == 3)
        self.assertTrue(np.array_equal(part, full[:, :4]))

        def boom(o, f, c):
            if f == 2:
                raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            lm.generate(text="a low hum", max_frames=10, on_frame=boom)
        with self.assertRaises(sonotok.ArgumentError):
            lm.generate(text="x", task="sing")
        with self.assertRaises(sonotok.UnsupportedError):
            lm.generate(text="x", task="tts")
        with self.assertRaises(sonotok.LimitError):
            lm.generate(text="x", max_frames=1000)
        with self.assertRaises(sonotok.ArgumentError):
            lm.generate(prompt=np.zeros((2, 5), np.int32))


class TestPython(Scratch):
    def test_gil_released(self):
        """Another Python thread runs while the library encodes: ctypes.CDLL
        drops the GIL for each foreign call. The main thread wakes every 2 ms
        and notes the time; with the GIL held through the call it could not
        wake in the middle half of it."""
        c = codec(DEFAULT)
        audio = np.random.default_rng(1).uniform(-0.5, 0.5, 24000 * 30).astype(np.float32)
        span, finished = [], threading.Event()

        def work():
            t0 = time.perf_counter()
            c.encode(audio, 24000)
            span.extend((t0, time.perf_counter()))
            finished.set()

        t = threading.Thread(target=work)
        stamps = []
        t.start()
        while not finished.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.002)
        t.join()
        t0, t1 = span
        quarter = (t1 - t0) / 4
        middle = [s for s in stamps if t0 + quarter < s < t1 - quarter]
        self.assertGreaterEqual(len(middle), 5, "the main thread woke %d times in the middle half of a %.3f s "
                                "encode" % (len(middle), t1 - t0))

    def test_latents(self):
        c = codec(DEFAULT)
        audio = sonotok.load_audio(CLIPS[0], 24000)[0]
        lat = c.latents(audio, 24000)
        codes = c.encode(audio, 24000)
        self.assertEqual((lat.dtype, lat.shape), (np.float32, (c.latent_dim, codes.shape[1])))
        self.assertTrue(np.isfinite(lat).all() and np.abs(lat).max() > 0)
        self.assertGreaterEqual(c.max_frames(audio.shape[1]), codes.shape[1])

    def test_zero_copy(self):
        c = codec(DEFAULT)
        out = c.decode(np.zeros((8, 30), np.int32))
        self.assertFalse(out.flags.owndata)          # the library's buffer, not a copy
        self.assertTrue(out.flags.c_contiguous and out.flags.writeable)
        codes = c.encode(out, c.sample_rate)
        self.assertFalse(codes.flags.owndata)
        del out
        self.assertEqual(codes.shape, (8, 30))

    def test_version_and_help(self):
        want = os.environ.get("SONOTOK_PROJECT_VERSION")
        if want:
            self.assertEqual(sonotok.__version__, want)
        text = pydoc.render_doc(sonotok.Codec, renderer=pydoc.plaintext)
        for word in ("Codec.load", "encode(self, audio, sample_rate, kbps=None, n_q=None)", "decode(self, codes)",
                     "n_threads", "GIL", "NotFoundError", "frame_rate"):
            self.assertIn(word, text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
