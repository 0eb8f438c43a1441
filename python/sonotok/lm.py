"""The token LM: a thin wrapper over sono_lm_load / sono_lm_generate
(include/sonotok/lm.h)."""

import ctypes
import os

import numpy as np

from . import _buffers, _lib
from ._handle import Owner, getter, hash16, text
from .errors import ArgumentError
from .tokens import Tokens

__all__ = ["LM"]

_TASKS = {"continue": 0, "tta": 1, "tts": 2}


class LM(Owner):
    """A token language model file (made by ``sonotok train-lm --export``):
    a decoder-only transformer that writes codec codes, continuing an audio
    prompt or from a caption (text to audio).

    >>> lm = sonotok.LM.load("lm.safetensors")
    >>> codec = sonotok.Codec.load(lm.codec_name)        # the codec it was trained for
    >>> lm.check_codec(codec)
    >>> [codes] = lm.generate(text="a dog barks", max_frames=375, n_threads=2)
    >>> audio = codec.decode(codes)

    An LM is immutable and may be shared between threads; each generate()
    call has its own state. Pickled, it is read again from its path. The GIL is released while it runs (on_frame is
    called with the GIL held)."""

    def __init__(self, path):
        self._h = None
        self.path = os.fspath(path)
        self._h = _lib.construct(_lib.lib.sono_lm_load, _lib.fsencode(path))

    @classmethod
    def load(cls, path):
        """Read an LM file. NotFoundError, FormatError, UnsupportedError, ..."""
        return cls(path)

    def _free(self, h):
        _lib.lib.sono_lm_free(h)

    def __reduce__(self):
        return (LM, (self.path,))

    def __repr__(self):
        return "LM(%r: %d codebooks of %d, context %d, %d layers x %d wide, %d parameters, for codec %r)" % (
            self.name, self.n_codebooks, self.codebook_size, self.context, self.n_layers, self.width,
            self.n_params, self.codec_name)

    name = getter("sono_lm_name", "The model's name.", text)
    n_codebooks = getter("sono_lm_n_codebooks", "Audio codebooks per frame (K).")
    codebook_size = getter("sono_lm_codebook_size", "Codes per codebook.")
    context = getter("sono_lm_context", "Context length in positions.")
    width = getter("sono_lm_width", "Residual width.")
    n_layers = getter("sono_lm_n_layers", "Transformer layers.")
    n_heads = getter("sono_lm_n_heads", "Attention heads.")
    n_params = getter("sono_lm_n_params", "Parameters in all.")
    codec_name = getter("sono_lm_codec_name", "Name of the codec it was trained for.", text)
    codec_hash = hash16("sono_lm_codec_hash", "That codec's codes hash (16 bytes, as Codec.codes_hash; LMs made "
                        "before the codes hash hold Codec.hash).")
    frame_rate = getter("sono_lm_frame_rate", "The codec's frames per second.")

    @property
    def conditions(self):
        """Text-to-speech conditions, ["lang:en", "voice:flite/rms", ...]; [] for an LM without tts."""
        n = _lib.lib.sono_lm_n_conditions(self._h)
        return [_lib.lib.sono_lm_condition(self._h, i).decode("utf-8") for i in range(n)]

    def check_codec(self, codec):
        """Raise ModelMismatchError unless codec is the one the LM was trained
        for: the same name, and codec_hash its codes_hash or its hash."""
        codes = (ctypes.c_uint8 * 16)(*codec.codes_hash)
        h = (ctypes.c_uint8 * 16)(*codec.hash)
        _lib.call(_lib.lib.sono_lm_check_codec_hashes, self._h, codec.name.encode("utf-8"), codes, h)

    def _params(self, task, text, prompt, max_frames, min_frames, temperature, top_k, top_p, cfg, seed, n_outputs,
                n_threads, f16=None, voice=None, lang=None):
        p = _lib.lib.sono_lm_generate_default_params()
        for name, value in (("voice", voice), ("lang", lang)):
            if value is not None:
                b = value.encode("utf-8")
                if b"\0" in b:
                    raise ArgumentError("generate: the %s holds a NUL byte" % name)
                setattr(p, name, b)
        if task is None:
            task = "tta" if text else "continue"
        if isinstance(task, str):
            if task not in _TASKS:
                raise ArgumentError("generate: task %r: one of %s" % (task, ", ".join(_TASKS)))
            task = _TASKS[task]
        p.task = int(task)
        if text is not None:
            b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            if b"\0" in b:
                raise ArgumentError("generate: the caption holds a NUL byte")
            p.text = b
        keep = None
        if prompt is not None:
            if isinstance(prompt, Tokens):
                prompt = prompt.codes[:self.n_codebooks]
            keep = _buffers.codes_int32(prompt, "prompt")
            if keep.shape[0] != self.n_codebooks:
                raise ArgumentError("prompt: %d codebooks, the LM has %d" % (keep.shape[0], self.n_codebooks))
            p.prompt = keep.ctypes.data_as(_lib.c_int32_p)
            p.n_prompt_frames = keep.shape[1]
        for name, value in (("max_frames", max_frames), ("min_frames", min_frames), ("top_k", top_k),
                            ("seed", seed), ("n_outputs", n_outputs), ("n_threads", n_threads),
                            ("half_weights", f16)):
            if value is not None:
                setattr(p, name, int(value))
        for name, value in (("temperature", temperature), ("top_p", top_p), ("cfg", cfg)):
            if value is not None:
                setattr(p, name, float(value))
        return p, keep

    def max_frames(self, task=None, text=None, prompt=None, max_frames=None, min_frames=None, n_outputs=None,
                   voice=None, lang=None):
        """New frames per output the context allows for these parameters
        (checked: ArgumentError, UnsupportedError, RangeError, LimitError);
        for tts, the sum of the caps of the text's sentences."""
        p, keep = self._params(task, text, prompt, max_frames, min_frames, None, None, None, None, None, n_outputs,
                               None, None, voice, lang)
        return _lib.call(_lib.lib.sono_lm_generate_max_frames, self._h, ctypes.byref(p))

    def generate(self, text=None, prompt=None, task=None, max_frames=None, min_frames=None, temperature=None,
                 top_k=None, top_p=None, cfg=None, seed=None, n_outputs=None, n_threads=None, on_frame=None,
                 f16=None, voice=None, lang=None):
        """Generate codes: a list of n_outputs int32 arrays [K, n_frames_i]
        (K = n_codebooks), the new frames only, each ending where the model
        drew <end-audio> or at max_frames.

        task: "continue" (continue prompt; no caption), "tta" (text to
        audio from text) or "tts" (text spoken, an LM trained with phonemes:
        voice and lang name one of its conditions, LM.conditions; no
        prompt, max_frames, min_frames or cfg); None: "tta" when text is
        given, else "continue".
        prompt: codes [K, n] (a Tokens: its first K codebooks), the audio's
        start. None for any other argument keeps the library's default
        (sono_lm_generate_default_params): max_frames 0 (what the context
        holds), min_frames 0, temperature 1 (<= 0: greedy), top_k 250, top_p
        1, cfg 3 (guidance, tta only), seed 1, n_outputs 1 (at most 8),
        n_threads 1, f16 False (True: the steps read float16 copies of the
        weights, as ``sonotok generate --f16``: faster where memory bandwidth
        is the limit, and the codes differ from float32's). Output i is the
        same whatever n_outputs and n_threads.

        on_frame(output, frame, codes): called with each finished frame
        (codes int32 [K]) as it completes; return True to stop, and generate
        returns the frames made so far. An exception in on_frame stops the
        generation and is raised from generate."""
        p, keep = self._params(task, text, prompt, max_frames, min_frames, temperature, top_k, top_p, cfg, seed,
                               n_outputs, n_threads, f16, voice, lang)
        F = _lib.call(_lib.lib.sono_lm_generate_max_frames, self._h, ctypes.byref(p))
        K, n = self.n_codebooks, p.n_outputs
        codes = np.empty((n, K, F), np.int32)
        n_frames = (ctypes.c_int64 * n)()
        got = [[] for _ in range(n)]
        failure = []

        def frame(user, output, index, fc):
            try:
                c = np.ctypeslib.as_array(fc, (K,)).copy()
                got[output].append(c)
                return 1 if on_frame(output, index, c) else 0
            except BaseException as e:  # handed to the caller below
                failure.append(e)
                return 1

        cb = _lib.LM_FRAME_FN(frame) if on_frame is not None else _lib.LM_FRAME_FN()
        _lib.lib.sono_clear_error()
        rc = _lib.lib.sono_lm_generate(self._h, ctypes.byref(p), cb, None, codes.ctypes.data, n_frames)
        del keep   # the prompt's array, which p.prompt points into, lives until here
        if failure:
            raise failure[0]
        if rc < 0:
            raise _lib.error(rc)
        if rc > 0:  # stopped by on_frame
            return [np.stack(g, axis=1) if g else np.zeros((K, 0), np.int32) for g in got]
        return [codes[i, :, :n_frames[i]] for i in range(n)]
