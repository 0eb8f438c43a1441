"""Token data: the Tokens object (codes plus what decoding them needs),
token files (.tok), and archives of many token files (.sta).

File layouts: codec/FORMATS.md. Every reader checks sizes, ranges and
checksums and raises FormatError, TruncatedError or ChecksumError with the
library's message; no reader modifies its input. Writers go through the
library's output writer: a temporary file beside the target, renamed over it
when complete, so a failure never leaves a half-written file."""

import collections.abc
import ctypes
import os
import threading

import numpy as np

from . import _buffers, _lib
from ._handle import Handle, Writer
from .errors import ArgumentError, NotFoundError

__all__ = ["Tokens", "read_tokens", "write_tokens", "Archive", "ArchiveWriter", "write_archive", "merge_archives"]


class _TokensHandle:
    """Owns one C sono_tokens; freed with the last object referring to it."""

    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            _lib.lib.sono_tokens_free(self.ptr)
            self.ptr = None


def _field(name, doc, convert=None):
    """A read-only property: the C struct's field name."""
    def get(self):
        value = getattr(self._handle.ptr.contents, name)
        return convert(value) if convert else value
    return property(get, doc=doc)


class Tokens:
    """One tokenized audio signal: ``codes`` [n_q, n_frames] (int32) and the
    header a decoder needs: the model's name and content hash, its sample
    rate, channels and hop, the original length in samples, and the
    per-segment scales of a segmenting model (EnCodec 48 kHz).

    Made by :meth:`Codec.encode_tokens`, :meth:`StreamEncoder.finish`,
    :func:`read_tokens`, :meth:`Tokens.from_bytes`, :meth:`Codec.tokens` and
    archive reads. Immutable: ``codes`` is a read-only view of the library's
    buffer (``codes.copy()`` for a writable one). ``np.asarray(tokens)`` gives
    the codes. Pickled as the token file's bytes."""

    __slots__ = ("_handle",)

    def __init__(self, _handle):
        if not isinstance(_handle, _TokensHandle):
            raise TypeError("Tokens are made by Codec.encode_tokens, read_tokens, Tokens.from_bytes or Codec.tokens")
        self._handle = _handle

    @classmethod
    def _adopt(cls, ptr):
        return cls(_TokensHandle(ptr))

    @property
    def _t(self):
        return self._handle.ptr.contents

    @property
    def _ptr(self):
        return self._handle.ptr

    @property
    def codes(self):
        """The codes, int32 [n_q, n_frames], read-only, without a copy."""
        t = self._t
        return _buffers.wrap(ctypes.cast(t.codes, ctypes.c_void_p).value, (t.n_q, t.n_frames), np.int32,
                             self._handle, readonly=True)

    def __array__(self, dtype=None, copy=None):
        c = self.codes
        return c if dtype is None else c.astype(dtype)

    model_name = _field("model_name", 'Name of the model that made the codes ("sonotok-24k", "encodec_24khz").',
                        lambda v: v.decode("utf-8", "replace"))
    model_hash = _field("model_hash", "That model's codes hash (16 bytes; ``.hex()`` to print): Codec.codes_hash, "
                        "over its config, encoder and codebooks; token files written before the codes hash hold "
                        "its full content hash, Codec.hash. Codec.check_tokens accepts either.", bytes)
    sample_rate = _field("sample_rate", "The model's sample rate in Hz.")
    channels = _field("channels", "The model's channel count.")
    hop = _field("hop", "Samples per frame.")
    n_q = _field("n_q", "Codebooks used.")
    codebook_size = _field("codebook_size", "Codes are in [0, codebook_size).")
    n_frames = _field("n_frames", "Frames per codebook.")
    n_samples = _field("n_samples", "Length of the original audio in samples per channel, at sample_rate.")
    n_segments = _field("n_segments", "Segments the codes are in (1 for an unsegmented model).")
    segment_frames = _field("segment_frames", "Frames per full segment (0 when unsegmented).")

    @property
    def frame_rate(self):
        """Frames per second (sample_rate / hop)."""
        t = self._t
        return t.sample_rate / t.hop if t.hop else 0.0

    @property
    def duration(self):
        """Length of the original audio in seconds."""
        t = self._t
        return t.n_samples / t.sample_rate if t.sample_rate else 0.0

    @property
    def scales(self):
        """Per-segment scales (float32 array, a copy), or None when the model has none."""
        t = self._t
        if not t.scales:
            return None
        return np.ctypeslib.as_array(t.scales, (t.n_segments,)).copy()

    def to_bytes(self, coder="auto", n_threads=1):
        """The token file's bytes (codec/FORMATS.md), as ``sonotok tokenize``
        writes them. coder: "auto" (the smallest: the model coder too when
        the codec has a coder model, NAME.coder beside it, made for these
        weights), "model" (that model; NotFoundError without one), "range",
        "zstd" or "packed". n_threads: threads for the model coder's
        predictions (the bytes do not depend on it)."""
        p = _lib.lib.sono_tokens_encode_default_params()
        if coder not in _CODERS:
            raise ArgumentError("coder %r: one of %s" % (coder, ", ".join(_CODERS)))
        p.coder = _CODERS[coder]
        p.n_threads = int(n_threads)
        if coder in ("auto", "model"):
            m = _coder_model(self.model_name, self.model_hash)
            if m is None and coder == "model":
                raise NotFoundError("codec %s has no coder model made for its weights" % self.model_name)
            p.model = m.ptr if m is not None else None
        buf, n = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_size_t()
        _lib.call(_lib.lib.sono_tokens_encode_ex, self._ptr, ctypes.byref(p), ctypes.byref(buf), ctypes.byref(n))
        try:
            return ctypes.string_at(buf, n.value)
        finally:
            _lib.libc_free(buf)

    @classmethod
    def from_bytes(cls, data):
        """Parse a token file's bytes (checked: FormatError, TruncatedError, ChecksumError)."""
        data = bytes(data)
        out = _lib.tokens_p()
        _lib.call(_lib.lib.sono_tokens_decode, data, len(data), ctypes.byref(out))
        return cls._adopt(out)

    def save(self, path, coder="auto", n_threads=1):
        """Write a token file at path (a temporary file renamed over it when
        complete; coder and n_threads as :meth:`to_bytes`)."""
        data = self.to_bytes(coder, n_threads)
        _lib.call(_lib.lib.sono_output_save, _lib.fsencode(path), data, len(data))

    def __reduce__(self):
        # pickled as the token file's bytes (to DataLoader workers, say)
        return (Tokens.from_bytes, (self.to_bytes(),))

    def __repr__(self):
        return "Tokens(model=%r, n_q=%d, n_frames=%d, %.3f s at %d Hz)" % (
            self.model_name, self.n_q, self.n_frames, self.duration, self.sample_rate)


_CODERS = {"auto": -1, "packed": 0, "zstd": 1, "range": 2, "model": 3}


class _CoderModel:
    """Owns one loaded C sono_coder."""

    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            _lib.lib.sono_coder_free(self.ptr)
            self.ptr = None


_coder_models = {}
_coder_lock = threading.Lock()


_codec_hashes = {}


def _hashes_of_codec(codec_name):
    """(codes hash, full hash) of the codec named codec_name as the library
    resolves the name, loaded once per process; None when it does not load."""
    if codec_name not in _codec_hashes:
        from .codec import Codec
        try:
            c = Codec(codec_name, 1)
            _codec_hashes[codec_name] = (c.codes_hash, c.hash)
        except Exception:
            _codec_hashes[codec_name] = None
    return _codec_hashes[codec_name]


def _coder_model(codec_name, codec_hash):
    """The coder model beside the codec named codec_name, loaded once per
    process, when it was made for the codec that made tokens of hash
    codec_hash; else None. The rule of ``sonotok tokenize``: the model
    records that codec's codes hash or (models made before it) its full
    hash, either of which the tokens may hold; a codec without one uses
    coders 0-2. A model file that is there but unreadable raises."""
    key = (codec_name, bytes(codec_hash))
    with _coder_lock:
        if key in _coder_models:
            return _coder_models[key]
        m = None
        path = ctypes.create_string_buffer(4096)
        _lib.lib.sono_clear_error()
        if _lib.lib.sono_coder_resolve(codec_name.encode("utf-8"), path, len(path)) >= 0:
            m = _CoderModel(_lib.construct(_lib.lib.sono_coder_load, path.value))
            got = (ctypes.c_uint8 * 16)()
            _lib.lib.sono_coder_codec_hash(m.ptr, got)
            name = _lib.lib.sono_coder_codec_name(m.ptr).decode("utf-8", "replace")
            if name != codec_name:
                m = None
            elif bytes(got) != key[1]:
                both = _hashes_of_codec(codec_name)
                if both is None or key[1] not in both or bytes(got) not in both:
                    m = None
        _coder_models[key] = m
        return m


def read_tokens(path):
    """Read a token file (.tok): a Tokens. Raises NotFoundError, FileIOError,
    FormatError, TruncatedError or ChecksumError with the library's message."""
    out = _lib.tokens_p()
    _lib.call(_lib.lib.sono_tokens_load, _lib.fsencode(path), ctypes.byref(out))
    return Tokens._adopt(out)


def write_tokens(path, tokens, codec=None, coder="auto"):
    """Write a token file at path. tokens: a Tokens, or bare codes
    [n_q, n_frames] together with the codec they belong to (wrapped as
    :meth:`Codec.tokens` does: no scales, the longest length). coder: as
    :meth:`Tokens.to_bytes`."""
    _as_tokens(tokens, codec).save(path, coder)


def _as_tokens(tokens, codec):
    if isinstance(tokens, Tokens):
        return tokens
    if codec is None:
        raise ArgumentError("bare codes need the codec they belong to (codec=...), or pass a Tokens")
    return codec.tokens(tokens)


class Archive(Handle, collections.abc.Mapping):
    """An archive of token files, opened for reading: a read-only mapping
    from entry names ("a/b.wav") to Tokens, in the archive's order.

    Opening reads and checks the index only; ``archive[name]`` (or
    :meth:`read`) reads and checks that one entry. Iterating gives the
    names; ``items()`` reads the entries one at a time::

        with sonotok.Archive("corpus.sta") as a:
            print(len(a), a.names()[:3])
            t = a["speech/0001.wav"]
            for name, tokens in a.items():
                ...

    A missing name raises NotFoundError (also a KeyError). One Archive may
    be used from several threads (reads are serialised)."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self.path = os.fspath(path)
        self._h = _lib.construct(_lib.lib.sono_archive_open, _lib.fsencode(path))
        n = _lib.lib.sono_archive_count(self._h)
        self._names = [os.fsdecode(_lib.lib.sono_archive_name(self._h, i)) for i in range(n)]
        self._index = {name: i for i, name in enumerate(self._names)}

    def _free(self, h):
        _lib.lib.sono_archive_close(h)

    def __len__(self):
        return len(self._names)

    def __iter__(self):
        return iter(self._names)

    def __contains__(self, name):
        return name in self._index

    def names(self):
        """The entry names, in the archive's order."""
        return list(self._names)

    def _position(self, key):
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -len(self._names) <= key < len(self._names):
                raise IndexError("archive %s: entry %d of %d" % (self.path, key, len(self._names)))
            return int(key) % len(self._names)
        i = self._index.get(key)
        if i is None:
            raise _lib.error(_lib.errors.NotFoundError.code, "%s: no entry named %s" % (self.path, key))
        return i

    def entry_size(self, key):
        """Stored bytes of an entry (a name or a position)."""
        return int(_lib.lib.sono_archive_size(self._h, self._position(key)))

    def read_bytes(self, key):
        """The token file stored under key (a name or a position), checked
        against its checksum."""
        i = self._position(key)
        buf, n = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_size_t()
        with self._lock:
            _lib.call(_lib.lib.sono_archive_read, self._handle(), i, ctypes.byref(buf), ctypes.byref(n))
        try:
            return ctypes.string_at(buf, n.value)
        finally:
            _lib.libc_free(buf)

    def read(self, key):
        """The Tokens stored under key: an entry name or a position."""
        return Tokens.from_bytes(self.read_bytes(key))

    def __getitem__(self, name):
        if not isinstance(name, str):
            raise TypeError("archive entries are looked up by name (read(i) takes a position)")
        return self.read(name)

    def __repr__(self):
        return "Archive(%r, %d entries)" % (self.path, len(self))


class ArchiveWriter(Writer):
    """A new archive at path, written to a temporary file beside it that
    :meth:`commit` renames over path. As a context manager it commits on
    success and drops the temporary file on an exception (as :meth:`abort`
    does)::

        with sonotok.ArchiveWriter("out.sta") as w:
            w.add("a.wav", tokens)
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._h = _lib.construct(_lib.lib.sono_archive_create, _lib.fsencode(path))

    def add(self, name, tokens, codec=None):
        """Add one entry: name is a relative path using '/', unique in the
        archive; tokens a Tokens, a token file's bytes, or bare codes with
        their codec."""
        h = self._handle()
        data = bytes(tokens) if isinstance(tokens, (bytes, bytearray, memoryview)) else \
            _as_tokens(tokens, codec).to_bytes()
        _lib.call(_lib.lib.sono_archive_add, h, _lib.fsencode(name), data, len(data))

    def _commit(self, h):
        return _lib.lib.sono_archive_commit(h)

    def _free(self, h):
        _lib.lib.sono_archive_abort(h)


def write_archive(path, entries, codec=None):
    """Write an archive at path from a mapping or an iterable of (name,
    tokens) pairs (tokens as ArchiveWriter.add takes them)."""
    items = entries.items() if isinstance(entries, collections.abc.Mapping) else entries
    with ArchiveWriter(path) as w:
        for name, tokens in items:
            w.add(name, tokens, codec)


def merge_archives(path, inputs):
    """Merge archives into one new archive at path (as ``sonotok
    archive-merge``). Duplicate names are an ArgumentError unless their
    contents are identical."""
    inputs = [_lib.fsencode(p) for p in inputs]
    arr = (ctypes.c_char_p * len(inputs))(*inputs)
    _lib.call(_lib.lib.sono_archive_merge, _lib.fsencode(path), arr, len(inputs))
