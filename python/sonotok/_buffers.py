"""numpy arrays over memory the C library owns or hands over, without copies,
and the checks that turn caller arrays into what the C functions take."""

import numpy as np

from . import _lib
from .errors import ArgumentError, RangeError

MAX_CHANNELS = 64  # the audio reader's limit (common/audio_io.c)


class _View:
    """Exposes ptr as an array through __array_interface__; numpy keeps this
    object as the array's base, and it keeps `owner` (whatever frees the
    memory) alive as long as any array over it lives."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, ptr, shape, typestr, readonly, owner):
        self.__array_interface__ = {"version": 3, "shape": tuple(shape), "typestr": typestr,
                                    "data": (ptr, readonly)}
        self.owner = owner


class Malloced:
    """A buffer malloc'd by the library and handed to us: freed with the
    last array over it."""

    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            _lib.libc_free(self.ptr)
            self.ptr = None


def wrap(ptr, shape, dtype, owner, readonly=False):
    """An array over n elements at ptr (an int address), kept alive by owner."""
    dtype = np.dtype(dtype)
    if any(d == 0 for d in shape) or not ptr:
        empty = np.zeros(shape, dtype)
        empty.flags.writeable = not readonly
        return empty
    return np.asarray(_View(ptr, shape, dtype.str, readonly, owner))


def adopt(ptr, shape, dtype):
    """An array over a buffer the library malloc'd for us (freed with it)."""
    return wrap(ptr, shape, dtype, Malloced(ptr))


def address(a):
    """The data address of a contiguous array, as ctypes takes it."""
    return a.ctypes.data


def pull(fn, handle, channels, max_samples):
    """Call a reader of planar blocks, fn(handle, out, max_samples) -> n
    (sono_audio_read, sono_codec_decoder_pull), writing into a fresh array:
    the block [channels, n], without a copy (n = 0 at the end)."""
    buf = np.empty(channels * max_samples, np.float32)
    n = _lib.call(fn, handle, address(buf), max_samples)
    return buf[:channels * n].reshape(channels, n)


def blocks(pull_block):
    """Iterate pull_block() until it returns an empty block."""
    while True:
        block = pull_block()
        if block.shape[1] == 0:
            return
        yield block


def planar(audio, what="audio"):
    """Audio as the library takes it: a C-contiguous float32 array
    [channels, n_samples] (a 1-D array is one channel). A float32
    C-contiguous array passes through without a copy; other float dtypes
    are converted. Raises ArgumentError for another dtype or shape."""
    a = np.asarray(audio)
    if a.dtype.kind != "f":
        hint = " (int16 PCM: x / 32768)" if a.dtype.kind in "iu" else ""
        raise ArgumentError("%s: dtype %s is not floating point: give float samples in [-1, 1]%s"
                            % (what, a.dtype, hint))
    if a.ndim == 1:
        a = a[np.newaxis, :]
    elif a.ndim != 2:
        raise ArgumentError("%s: shape %s: expected [n_samples] or [channels, n_samples]" % (what, a.shape))
    if not 1 <= a.shape[0] <= MAX_CHANNELS:
        hint = "; [n_samples, channels]? pass audio.T" if a.shape[1] <= MAX_CHANNELS and a.shape[1] > 0 else ""
        raise ArgumentError("%s: shape %s: %d channels (1..%d)%s"
                            % (what, a.shape, a.shape[0], MAX_CHANNELS, hint))
    return np.ascontiguousarray(a, dtype=np.float32)


def codes_int32(codes, what="codes"):
    """Codes [n_q, n_frames] as a C-contiguous int32 array (no copy when
    they are one already). Raises ArgumentError for a non-integer dtype or
    another shape, RangeError for a value no int32 code can be."""
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise ArgumentError("%s: dtype %s is not an integer type" % (what, c.dtype))
    if c.ndim != 2:
        raise ArgumentError("%s: shape %s: expected [n_q, n_frames]" % (what, c.shape))
    if c.dtype != np.int32 and c.size:
        lo, hi = int(c.min()), int(c.max())
        if lo < 0 or hi > np.iinfo(np.int32).max:
            raise RangeError("%s: code %d out of range" % (what, lo if lo < 0 else hi))
    return np.ascontiguousarray(c, dtype=np.int32)
