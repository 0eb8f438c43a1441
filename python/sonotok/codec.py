"""The neural audio codec: audio to codes and back (include/sonotok/codec.h)."""

import ctypes
import os
import threading

import numpy as np

from . import _buffers, _lib
from ._handle import Handle, Owner, getter, hash16, text
from .audio import AudioReader, resample
from .errors import ArgumentError
from .tokens import Tokens

__all__ = ["Codec", "StreamEncoder", "StreamDecoder", "LiveDecoder"]


class Codec(Owner):
    """A neural audio codec (SEANet encoder, residual VQ, SEANet decoder):
    the project's default, an official EnCodec checkpoint, a Hugging Face
    folder or a native file.

    Load one with ``Codec.load(model, n_threads=None)``; model is a path or a
    name ("default", "encodec_24khz") looked up as the sonotok program does
    ($SONOTOK_MODEL_PATH, ~/.local/share/sonotok/models, the installed
    models). A missing model raises NotFoundError with the library's message
    (for the official EnCodec names, the file to download and its URL).

    Audio in is float32 [channels, n_samples] (or [n_samples] for mono) in
    [-1, 1], at any sample rate and channel count: it is converted to the
    codec's as the sonotok program converts a file (libsoxr). Codes out are
    int32 [n_q, n_frames], the same codes ``sonotok tokenize`` writes.

    >>> codec = sonotok.Codec.load("default")
    >>> audio, sr = sonotok.load_audio("speech.wav")
    >>> codes = codec.encode(audio, sr, kbps=6)        # int32 [8, frames]
    >>> out = codec.decode(codes)                       # float32 [1, n] at codec.sample_rate

    For exact round trips keep the Tokens (``encode_tokens``): they carry the
    original length and, for segmenting models, per-segment scales. For long
    audio in bounded memory use the streams: ``encoder()``,
    ``decode_stream()``, ``live_decoder()``.

    Threads: n_threads (default: the machine's CPUs, as the sonotok
    program) is used by every call that runs the network; these calls set
    OpenBLAS's process-wide thread count to it. A Codec is immutable and may
    be shared between Python threads; the library releases the GIL while it
    works (ctypes does for every call), so threads encoding with one Codec
    run in parallel. Each stream belongs to one thread at a time.

    Attributes besides the properties: model (the argument it was loaded
    from) and n_threads. A pickled Codec is loaded again from them where it
    is unpickled (e.g. in a DataLoader worker)."""

    def __init__(self, model="default", n_threads=None):
        """Load a codec: the same as Codec.load(model, n_threads)."""
        self._h = None
        self.model = os.fspath(model)
        self.n_threads = int(n_threads) if n_threads is not None else (os.cpu_count() or 1)
        if self.n_threads < 1:
            raise ArgumentError("n_threads must be at least 1, not %d" % self.n_threads)
        p = _lib.lib.sono_codec_default_params()
        p.n_threads = self.n_threads
        self._h = _lib.construct(_lib.lib.sono_codec_load, _lib.fsencode(self.model), ctypes.byref(p))

    @classmethod
    def load(cls, model="default", n_threads=None):
        """Load a codec by path or name (see the class's help)."""
        return cls(model, n_threads)

    def _free(self, h):
        _lib.lib.sono_codec_free(h)

    def __reduce__(self):
        # pickled as how to load it again (e.g. in a DataLoader worker)
        return (Codec, (self.model, self.n_threads))

    def __repr__(self):
        return "Codec(%r: %d Hz, %d channel%s, %g frames/s, %d x %d codes, %s kbps)" % (
            self.name, self.sample_rate, self.channels, "" if self.channels == 1 else "s", self.frame_rate,
            self.max_codebooks, self.codebook_size, "/".join("%g" % b for b in self.bandwidths) or "-")

    # ---- metadata ----

    name = getter("sono_codec_name", 'The model\'s name ("sonotok-24k", "encodec_24khz").', text)
    hash = hash16("sono_codec_hash", "Content hash of the config and every weight (16 bytes); token files, LMs and "
                  "coder models made before the codes hash record it.")
    codes_hash = hash16("sono_codec_codes_hash", "Codes hash (16 bytes): of the config, the encoder's weights and the "
                        "codebooks, not the decoder's; what token files, LMs and coder models record. Equal for the "
                        "exports of a train-codec --freeze-encoder phase.")
    sample_rate = getter("sono_codec_sample_rate", "Sample rate in Hz.")
    channels = getter("sono_codec_channels", "Audio channels.")
    hop = getter("sono_codec_hop", "Samples per frame.")
    frame_rate = getter("sono_codec_frame_rate", "Frames per second.")
    codebook_size = getter("sono_codec_codebook_size", "Codes per codebook: codes are in [0, codebook_size).")
    max_codebooks = getter("sono_codec_max_codebooks", "Codebooks of the model (n_q at its highest bandwidth).")
    latent_dim = getter("sono_codec_latent_dim", "Width of the encoder's output (per frame).")

    @property
    def bandwidths(self):
        """The bandwidths it offers, in kbps (a tuple)."""
        return tuple(_lib.lib.sono_codec_bandwidth(self._h, i) for i in range(_lib.lib.sono_codec_n_bandwidths(self._h)))

    def n_q(self, kbps=None):
        """Codebooks used at kbps. None: 6 kbps where offered, else the
        lowest bandwidth (the sonotok program's default). RangeError, naming
        the valid ones, for a bandwidth the model does not offer."""
        bw = self.bandwidths
        if kbps is None:
            if not bw:
                return self.max_codebooks
            kbps = next((b for b in bw if abs(b - 6.0) < 1e-6), min(bw))
        return _lib.call(_lib.lib.sono_codec_n_q_for_bandwidth, self._h, float(kbps))

    def max_frames(self, n_samples):
        """Upper bound on frames per codebook for n_samples of input."""
        return _lib.lib.sono_codec_max_frames(self._h, int(n_samples))

    # ---- one-shot ----

    def _n_q(self, kbps, n_q):
        if n_q is None:
            return self.n_q(kbps)
        if kbps is not None:
            raise ArgumentError("give kbps or n_q, not both")
        return int(n_q)   # the library checks the range (RangeError)

    def _audio(self, audio, sample_rate):
        if sample_rate is None:
            raise ArgumentError("audio: give its sample rate (codec.sample_rate = %d)" % self.sample_rate)
        return resample(audio, sample_rate, self.sample_rate, self.channels)

    def encode_tokens(self, audio, sample_rate, kbps=None, n_q=None):
        """Encode audio [channels, n_samples] (or [n_samples]) at sample_rate:
        a Tokens (codes with the header a token file holds). The audio is
        converted to the codec's rate and channels first where it differs
        (a float32 C-contiguous array at the codec's rate and channels is
        used in place, without a copy)."""
        n_q = self._n_q(kbps, n_q)
        a = self._audio(audio, sample_rate)
        out = _lib.tokens_p()
        _lib.call(_lib.lib.sono_codec_encode, self._h, _buffers.address(a), a.shape[1], n_q, ctypes.byref(out))
        return Tokens._adopt(out)

    def encode(self, audio, sample_rate, kbps=None, n_q=None):
        """Encode audio [channels, n_samples] (or [n_samples]) at sample_rate
        to codes: int32 [n_q, n_frames], the codes ``sonotok tokenize``
        writes for the same audio (a writable array over the library's
        buffer, no copy). kbps: a bandwidth the model offers (``bandwidths``);
        None: 6 kbps where offered, else the lowest. Or n_q: the number of
        codebooks itself (an LM's prompt: its n_codebooks); the codes of n
        codebooks are the first n rows of those of more.

        Raises ArgumentError (not float audio, a bad shape), EmptyError (no
        samples), RangeError (a bandwidth the model lacks)."""
        t = self.encode_tokens(audio, sample_rate, kbps, n_q)
        c = t.codes
        return _buffers.wrap(c.ctypes.data, c.shape, np.int32, t._handle)

    def encode_file(self, path, kbps=None, n_q=None):
        """Encode an audio file in blocks of one second, as ``sonotok
        tokenize`` does (bounded memory for long files): a Tokens."""
        enc = self.encoder(kbps, n_q)
        with AudioReader(path, self.sample_rate, self.channels) as r:
            for block in r:
                enc.push(block)
        return enc.finish()

    def latents(self, audio, sample_rate):
        """The encoder's output before quantisation: float32 [latent_dim, n_frames]."""
        a = self._audio(audio, sample_rate)
        lat, n = _lib.c_float_p(), ctypes.c_int64()
        _lib.call(_lib.lib.sono_codec_encode_latents, self._h, _buffers.address(a), a.shape[1], ctypes.byref(lat),
                  ctypes.byref(n))
        return _buffers.adopt(ctypes.cast(lat, ctypes.c_void_p).value, (self.latent_dim, n.value), np.float32)

    def tokens(self, codes):
        """Wrap bare codes [n_q, n_frames] (any integer dtype) as Tokens of
        this codec: the longest length those frames decode to, per-segment
        scales 1 (what ``sonotok detokenize`` does with a .npy). The codes
        are copied and range-checked (RangeError)."""
        c = _buffers.codes_int32(codes)
        out = _lib.tokens_p()
        _lib.call(_lib.lib.sono_codec_tokens_from_codes, self._h, _buffers.address(c), c.shape[0], c.shape[1],
                  ctypes.byref(out))
        return Tokens._adopt(out)

    def check_tokens(self, tokens):
        """Raise ModelMismatchError (or RangeError) unless tokens were made
        by this codec: their model_hash is its codes_hash or its hash."""
        _lib.call(_lib.lib.sono_codec_check_tokens, self._h, tokens._ptr)

    def decode(self, codes):
        """Decode codes to audio: float32 [channels, n_samples] at
        sample_rate (the library's buffer, no copy). codes: a Tokens (exact:
        its length and scales; ModelMismatchError if another model made it)
        or bare codes [n_q, n_frames] (any integer dtype; decoded to the
        longest length, scales 1)."""
        t = codes if isinstance(codes, Tokens) else self.tokens(codes)
        pcm, n = _lib.c_float_p(), ctypes.c_int64()
        _lib.call(_lib.lib.sono_codec_decode, self._h, t._ptr, ctypes.byref(pcm), ctypes.byref(n))
        return _buffers.adopt(ctypes.cast(pcm, ctypes.c_void_p).value, (self.channels, n.value), np.float32)

    # ---- streams ----

    def encoder(self, kbps=None, n_q=None):
        """A StreamEncoder: push audio at the codec's rate and channels in
        any block sizes, then finish() for the Tokens (equal to encode_tokens
        on the whole signal)."""
        return StreamEncoder(self, self._n_q(kbps, n_q))

    def decode_stream(self, tokens, block_samples=None):
        """A StreamDecoder over tokens (a Tokens or bare codes): iterating
        yields float32 blocks [channels, n] of at most block_samples (default
        one second) per channel; together they equal decode(tokens)."""
        t = tokens if isinstance(tokens, Tokens) else self.tokens(tokens)
        return StreamDecoder(self, t, block_samples)

    def live_decoder(self, n_q):
        """A LiveDecoder for codes that arrive over time (a generator's
        frames) with n_q codebooks. UnsupportedError for a codec that decodes
        whole segments (EnCodec 48 kHz)."""
        return LiveDecoder(self, n_q)


class _Stream(Handle):
    """A C sono_codec_stream, used by one thread at a time (a lock says so),
    keeping its codec (and what else it reads) alive."""

    def __init__(self, codec, handle, keep=None):
        self._lock = threading.Lock()
        self._codec, self._keep, self._h = codec, keep, handle

    def _free(self, h):
        _lib.lib.sono_codec_stream_free(h)


class StreamEncoder(_Stream):
    """Streaming encode (``codec.encoder(kbps)``): push audio blocks at the
    codec's sample rate and channels, then finish() for the Tokens. The
    result equals Codec.encode_tokens on the whole signal; memory does not
    grow with the audio (only the codes accumulate: n_q * 4 bytes a frame).
    Audio at another rate: read it with AudioReader(path, codec.sample_rate,
    codec.channels), which resamples as it goes."""

    def __init__(self, codec, n_q):
        self.n_q = n_q
        super().__init__(codec, _lib.construct(_lib.lib.sono_codec_encoder_stream, codec._h, n_q))

    def push(self, audio):
        """Encode one block, float [channels, n] (or [n] for mono) at the
        codec's sample rate."""
        a = _buffers.planar(audio)
        if a.shape[0] != self._codec.channels:
            raise ArgumentError("audio: %d channels, the codec has %d" % (a.shape[0], self._codec.channels))
        with self._lock:
            _lib.call(_lib.lib.sono_codec_encoder_push, self._handle(), _buffers.address(a), a.shape[1])

    def finish(self):
        """End of the audio: the Tokens of everything pushed. The stream is
        closed afterwards."""
        out = _lib.tokens_p()
        with self._lock:
            try:
                _lib.call(_lib.lib.sono_codec_encoder_finish, self._handle(), ctypes.byref(out))
            finally:
                self._release()
        return Tokens._adopt(out)


class StreamDecoder(_Stream):
    """Streaming decode of a Tokens (``codec.decode_stream(tokens)``):
    iterate for float32 blocks [channels, n]; each block is a fresh array
    written by the library in place. Memory does not grow with the length."""

    def __init__(self, codec, tokens, block_samples=None):
        self.block_samples = int(block_samples or codec.sample_rate)
        if self.block_samples <= 0:
            raise ArgumentError("block_samples must be positive")
        super().__init__(codec, _lib.construct(_lib.lib.sono_codec_decoder_stream, codec._h, tokens._ptr), tokens)

    def pull(self, max_samples=None):
        """The next block of up to max_samples (default block_samples) per
        channel: [channels, n], n = 0 at the end."""
        with self._lock:
            return _buffers.pull(_lib.lib.sono_codec_decoder_pull, self._handle(), self._codec.channels,
                                 int(max_samples or self.block_samples))

    def __iter__(self):
        return _buffers.blocks(self.pull)


class LiveDecoder(_Stream):
    """Decoding codes that arrive over time (``codec.live_decoder(n_q)``):
    push frames as they come, pull the audio decoded so far, end() when no
    more follow, then pull the rest. n frames give n * hop samples per
    channel in all, equal to Codec.decode of the same codes. Frames are
    decoded 64 at a time (and at the end)."""

    def __init__(self, codec, n_q):
        self.n_q = int(n_q)
        super().__init__(codec, _lib.construct(_lib.lib.sono_codec_decoder_live, codec._h, self.n_q))

    def push(self, codes):
        """Push frames: codes [n_q, n_frames] (any integer dtype; an int32
        array with contiguous rows is read in place, also a column slice of
        a larger one). RangeError for a code out of range (nothing is taken)."""
        c = np.asarray(codes)
        if c.ndim == 1:
            c = c[:, np.newaxis]
        if not (c.dtype == np.int32 and c.ndim == 2 and c.strides[1] == 4 and c.strides[0] % 4 == 0
                and c.strides[0] >= 0):
            c = _buffers.codes_int32(c)
        if c.shape[0] != self.n_q:
            raise ArgumentError("codes: %d codebooks, the decoder takes %d" % (c.shape[0], self.n_q))
        stride = c.strides[0] // 4 if c.shape[0] > 1 else c.shape[1]
        with self._lock:
            _lib.call(_lib.lib.sono_codec_decoder_push, self._handle(), _buffers.address(c), stride, c.shape[1])

    def end(self):
        """No more frames: decode what is left (pull it afterwards)."""
        with self._lock:
            _lib.call(_lib.lib.sono_codec_decoder_end, self._handle())

    def pull(self):
        """All audio ready so far, float32 [channels, n] (n may be 0)."""
        ch, m = self._codec.channels, 64 * self._codec.hop
        with self._lock:
            h = self._handle()
            ready = list(_buffers.blocks(lambda: _buffers.pull(_lib.lib.sono_codec_decoder_pull, h, ch, m)))
        if len(ready) <= 1:
            return ready[0] if ready else np.zeros((ch, 0), np.float32)
        return np.concatenate(ready, axis=1)
