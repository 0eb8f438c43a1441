"""sonotok: neural audio tokens from Python, on the installed C library.

A thin ctypes layer over libsonotok (no compiled extension): numpy arrays in
and out, without copies where the layout allows; the library runs without
the GIL; its errors arrive as exceptions carrying its one-line message.

    import sonotok
    codec = sonotok.Codec.load("default", n_threads=2)    # or "encodec_24khz", a path
    audio, sr = sonotok.load_audio("speech.flac")          # float32 [channels, n]
    codes = codec.encode(audio, sr, kbps=6)                # int32 [n_q, frames], as `sonotok tokenize`
    sonotok.save_audio("out.wav", codec.decode(codes), codec.sample_rate)

Contents:

- Codec: load, metadata, encode / encode_tokens / encode_file, decode, and
  the streams StreamEncoder, StreamDecoder, LiveDecoder for long audio.
- Tokens, read_tokens, write_tokens: token files (.tok); Archive,
  ArchiveWriter, write_archive, merge_archives: archives (.sta).
- load_audio, AudioReader, save_audio, AudioWriter, resample: audio files
  and conversion, as the sonotok program reads and writes them.
- LM: token LM files and generate().
- Error and its subclasses (sonotok.errors): one per library error code.

The C library is found through $SONOTOK_LIBRARY, then the path written at
install time, then the dynamic loader (libsonotok.so.0); see sonotok._lib.
"""

from . import errors
from ._lib import LibraryNotFound
from .audio import AudioReader, AudioWriter, load_audio, resample, save_audio
from .codec import Codec, LiveDecoder, StreamDecoder, StreamEncoder
from .errors import (ArgumentError, ChecksumError, EmptyError, Error, FileIOError, FormatError, LimitError,
                     ModelMismatchError, NoMemoryError, NotFoundError, RangeError, TruncatedError, UnsupportedError)
from .lm import LM
from .tokens import Archive, ArchiveWriter, Tokens, merge_archives, read_tokens, write_archive, write_tokens

__version__ = "0.1.0"

__all__ = ["Codec", "StreamEncoder", "StreamDecoder", "LiveDecoder", "Tokens", "read_tokens", "write_tokens",
           "Archive", "ArchiveWriter", "write_archive", "merge_archives", "load_audio", "AudioReader", "save_audio",
           "AudioWriter", "resample", "LM", "errors", "LibraryNotFound", "Error", "NoMemoryError", "ArgumentError",
           "FileIOError", "FormatError", "TruncatedError", "ChecksumError", "ModelMismatchError", "RangeError",
           "UnsupportedError", "EmptyError", "NotFoundError", "LimitError", "__version__"]
