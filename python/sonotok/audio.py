"""Audio files and sample-rate conversion through the library: anything
libsndfile reads (WAV, FLAC, Ogg Vorbis, Ogg Opus, MP3, ...), resampled with
libsoxr (HQ) and mapped to the wanted channel count exactly as the sonotok
program reads its inputs, so codes made from ``load_audio`` equal the CLI's.

Audio arrays are float32 [channels, n_samples] (planar), in [-1, 1].
Channel mapping: to mono, average the channels; from mono, duplicate; other
changes keep the first channels and repeat the last one."""

import ctypes
import os

import numpy as np

from . import _buffers, _lib
from ._handle import Handle, Writer
from .errors import ArgumentError, LimitError

__all__ = ["load_audio", "AudioReader", "save_audio", "AudioWriter", "resample"]


def _read_all(reader, channels):
    pcm, n = _lib.c_float_p(), ctypes.c_int64()
    _lib.call(_lib.lib.sono_audio_read_all, reader, ctypes.byref(pcm), ctypes.byref(n))
    return _buffers.adopt(ctypes.cast(pcm, ctypes.c_void_p).value, (channels, n.value), np.float32)


class AudioReader(Handle):
    """An audio file read in blocks, for long files in bounded memory.

    ``AudioReader(path, sample_rate=None, channels=None, block_samples=None)``
    converts to sample_rate and channels (None: the file's own); iterating
    yields float32 arrays [channels, n] of at most block_samples (default
    one second) samples per channel::

        with sonotok.AudioReader("long.flac", codec.sample_rate, codec.channels) as r:
            enc = codec.encoder()
            for block in r:
                enc.push(block)
            tokens = enc.finish()

    Attributes: sample_rate and channels (of the output), file_sample_rate
    and file_channels (the file's own), n_samples (expected output samples
    per channel; None when the file does not say), block_samples.

    Raises NotFoundError, FormatError (not audio), EmptyError (no samples)."""

    def __init__(self, path, sample_rate=None, channels=None, block_samples=None):
        self.path = os.fspath(path)
        self._h = _lib.construct(_lib.lib.sono_audio_open, _lib.fsencode(path), int(sample_rate or 0),
                                 int(channels or 0))
        self.sample_rate = _lib.lib.sono_audio_rate(self._h)
        self.channels = _lib.lib.sono_audio_channels(self._h)
        self.file_sample_rate = _lib.lib.sono_audio_file_rate(self._h)
        self.file_channels = _lib.lib.sono_audio_file_channels(self._h)
        n = _lib.lib.sono_audio_length(self._h)
        self.n_samples = n if n >= 0 else None
        self.block_samples = int(block_samples or self.sample_rate)
        if self.block_samples <= 0:
            raise ArgumentError("block_samples must be positive")

    def _free(self, h):
        _lib.lib.sono_audio_close(h)

    def read_block(self, max_samples=None):
        """Up to max_samples (default block_samples) per channel: an array
        [channels, n], n = 0 at the end."""
        return _buffers.pull(_lib.lib.sono_audio_read, self._handle(), self.channels,
                             int(max_samples or self.block_samples))

    def read(self):
        """Everything left, as one array [channels, n_samples]."""
        return _read_all(self._handle(), self.channels)

    def __iter__(self):
        return _buffers.blocks(self.read_block)


def load_audio(path, sample_rate=None, channels=None):
    """Read a whole audio file: ``(audio, sample_rate)``, audio float32
    [channels, n_samples], converted to sample_rate and channels (None: the
    file's own), exactly as the sonotok program reads its inputs."""
    with AudioReader(path, sample_rate, channels) as r:
        return r.read(), r.sample_rate


def _float_wav(a, sample_rate):
    """A float32 WAV file in memory holding planar audio a [C, N]."""
    channels, n = a.shape
    n_data = 4 * channels * n
    if n_data > 0xFFFFFFFF - 36:
        raise LimitError("audio: %d samples x %d channels do not fit one conversion (4 GiB): convert in parts, "
                         "or read the file with AudioReader" % (n, channels))
    buf = np.empty(44 + n_data, np.uint8)
    header = b"".join([b"RIFF", (36 + n_data).to_bytes(4, "little"), b"WAVEfmt ", (16).to_bytes(4, "little"),
                       (3).to_bytes(2, "little"), channels.to_bytes(2, "little"),
                       int(sample_rate).to_bytes(4, "little"), (int(sample_rate) * 4 * channels).to_bytes(4, "little"),
                       (4 * channels).to_bytes(2, "little"), (32).to_bytes(2, "little"),
                       b"data", n_data.to_bytes(4, "little")])
    buf[:44] = np.frombuffer(header, np.uint8)
    buf[44:].view("<f4").reshape(n, channels)[:] = a.T
    return buf


def resample(audio, sample_rate, to_rate=None, channels=None):
    """Convert audio [channels, n_samples] (or [n_samples]) at sample_rate
    to to_rate and channels (None: unchanged) with the library's resampler
    (libsoxr HQ) and channel mapping: the same samples the sonotok program
    would read from a file holding this audio as float. Returns float32
    [channels, n]; the input itself (no copy) when nothing changes. Length:
    round(n_samples * to_rate / sample_rate)."""
    a = _buffers.planar(audio)
    sample_rate = int(sample_rate)
    to_rate = int(to_rate or sample_rate)
    channels = int(channels or a.shape[0])
    if sample_rate <= 0:
        raise ArgumentError("audio: sample rate %d Hz" % sample_rate)
    if to_rate == sample_rate and channels == a.shape[0]:
        return a
    wav = _float_wav(a, sample_rate)
    r = _lib.construct(_lib.lib.sono_audio_open_mem, _buffers.address(wav), wav.size, to_rate, channels)
    try:
        return _read_all(r, channels)
    finally:
        _lib.lib.sono_audio_close(r)


class AudioWriter(Writer):
    """An audio file written in blocks: WAV or FLAC (16-bit), Ogg Vorbis
    ("ogg") or Ogg Opus ("opus"), chosen by format or by path's extension.
    Samples are given at sample_rate and written at out_rate (default the
    same; resampled when they differ). The file appears at path when
    :meth:`close` (the same as commit) succeeds; :meth:`abort`, or an
    exception ending its with-block, drops it::

        with sonotok.AudioWriter("out.flac", codec.sample_rate, codec.channels) as w:
            for block in codec.decode_stream(tokens):
                w.write(block)
    """

    def __init__(self, path, sample_rate, channels, out_rate=None, format=None):
        self.path = os.fspath(path)
        self.channels = int(channels)
        fmt = format.encode() if format else None
        self._h = _lib.construct(_lib.lib.sono_audio_create, _lib.fsencode(path), fmt, int(sample_rate),
                                 int(out_rate or sample_rate), self.channels)

    def write(self, audio):
        """Append audio [channels, n] (or [n] for one channel)."""
        a = _buffers.planar(audio)
        if a.shape[0] != self.channels:
            raise ArgumentError("audio: %d channels, the writer has %d" % (a.shape[0], self.channels))
        _lib.call(_lib.lib.sono_audio_write, self._handle(), _buffers.address(a), a.shape[1])

    def _commit(self, h):
        return _lib.lib.sono_audio_writer_close(h)

    def _free(self, h):
        _lib.lib.sono_audio_writer_abort(h)


def save_audio(path, audio, sample_rate, out_rate=None, format=None):
    """Write audio [channels, n_samples] (or [n_samples]) at sample_rate to
    path (format by extension or format: "wav", "flac", "ogg", "opus"),
    resampled to out_rate when given."""
    a = _buffers.planar(audio)
    with AudioWriter(path, sample_rate, a.shape[0], out_rate, format) as w:
        w.write(a)
