"""Loading libsonotok and declaring the C functions the module calls.

Where the library is looked for, first found wins:

1. ``$SONOTOK_LIBRARY``: a path to a libsonotok shared library (a build
   tree's ``build/lib/libsonotok.so``); when it is set and cannot be loaded,
   nothing else is tried.
2. The library installed beside this module: ``meson install`` writes the
   installed path into ``_config.py`` (``LIBRARY``), so a prefix outside the
   loader's search path works without ``ldconfig`` or ``LD_LIBRARY_PATH``.
3. ``libsonotok.so.0`` through the dynamic loader (``LD_LIBRARY_PATH``, the
   ``ldconfig`` cache, the system folders): what ``pip install ./python``
   relies on after the C library was installed.

The library is opened with ``ctypes.CDLL``, which releases the GIL for the
duration of every foreign call: other Python threads run while sonotok
encodes, decodes or generates.

libgomp (the library's OpenMP runtime) lets idle threads spin unless told
otherwise, which made the codec 10-30x slower next to another busy process
(include/sonotok/codec.h). Before loading the library this module sets
``OMP_WAIT_POLICY=PASSIVE`` in the process environment, unless
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set already, as the sonotok
program does. libgomp reads it once, when it is first loaded: a process that
loaded it earlier (e.g. by importing PyTorch first) keeps its policy.
"""

import ctypes
import os

from . import errors

SONAME = "libsonotok.so.0"


class LibraryNotFound(ImportError):
    """libsonotok could not be loaded (an ImportError: ``import sonotok`` fails)."""


def _candidates():
    env = os.environ.get("SONOTOK_LIBRARY")
    if env:
        return [env], True
    found = []
    try:
        from . import _config
        found.append(_config.LIBRARY)
    except ImportError:
        pass
    found.append(SONAME)
    return found, False


def _load():
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    names, from_env = _candidates()
    reasons = []
    for name in names:
        if os.sep in name and not os.path.exists(name) and not from_env:
            reasons.append(name + ": no such file")
            continue
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            reasons.append(str(e))
    where = "SONOTOK_LIBRARY=" + names[0] if from_env else "install it (meson install -C build; ldconfig) " \
        "or point SONOTOK_LIBRARY at libsonotok.so"
    raise LibraryNotFound("sonotok: cannot load the C library libsonotok (%s): %s" % (where, "; ".join(reasons)))


lib, path = _load()

c_int, c_int64, c_uint64, c_double, c_float = ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_double, \
    ctypes.c_float
c_char_p, c_void_p, c_size_t = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
P = ctypes.POINTER
c_int32, c_uint8 = ctypes.c_int32, ctypes.c_uint8
c_float_p = P(c_float)
c_int32_p = P(c_int32)

MODEL_NAME_MAX = 64
LM_MAX_OUTPUTS = 8


class sono_tokens(ctypes.Structure):
    """struct sono_tokens (include/sonotok/tokens.h)."""
    _fields_ = [
        ("model_name", ctypes.c_char * MODEL_NAME_MAX),
        ("model_hash", c_uint8 * 16),
        ("sample_rate", c_int32),
        ("channels", c_int32),
        ("hop", c_int32),
        ("n_q", c_int32),
        ("codebook_size", c_int32),
        ("n_frames", c_int64),
        ("n_samples", c_int64),
        ("n_segments", c_int32),
        ("segment_frames", c_int64),
        ("scales", c_float_p),
        ("codes", c_int32_p),
    ]


class sono_codec_params(ctypes.Structure):
    _fields_ = [("n_threads", c_int)]


# Called for each finished frame: (user, output, frame, codes[K]) -> 0 to go on.
LM_FRAME_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, c_int64, c_int32_p)


class sono_lm_generate_params(ctypes.Structure):
    _fields_ = [
        ("task", c_int),
        ("text", c_char_p),
        ("prompt", c_int32_p),
        ("n_prompt_frames", c_int64),
        ("max_frames", c_int64),
        ("min_frames", c_int64),
        ("temperature", c_float),
        ("top_k", c_int),
        ("top_p", c_float),
        ("cfg", c_float),
        ("seed", c_uint64),
        ("n_outputs", c_int),
        ("n_threads", c_int),
        ("half_weights", c_int),
        ("lang", c_char_p),
        ("voice", c_char_p),
    ]


class sono_tokens_encode_params(ctypes.Structure):
    _fields_ = [("coder", c_int), ("model", c_void_p), ("n_threads", c_int)]


tokens_p = P(sono_tokens)
_int_p, _int64_p, _size_p = P(c_int), P(c_int64), P(c_size_t)
_uint8_pp = P(P(c_uint8))
_float_pp = P(c_float_p)

# name: (restype, argtypes)
_PROTOTYPES = {
    "sono_strerror": (c_char_p, [c_int]),
    "sono_last_error": (c_char_p, []),
    "sono_clear_error": (None, []),
    # audio.h
    "sono_audio_open": (c_void_p, [c_char_p, c_int, c_int, _int_p]),
    "sono_audio_open_mem": (c_void_p, [c_void_p, c_int64, c_int, c_int, _int_p]),
    "sono_audio_rate": (c_int, [c_void_p]),
    "sono_audio_channels": (c_int, [c_void_p]),
    "sono_audio_file_rate": (c_int, [c_void_p]),
    "sono_audio_file_channels": (c_int, [c_void_p]),
    "sono_audio_length": (c_int64, [c_void_p]),
    "sono_audio_read": (c_int64, [c_void_p, c_void_p, c_int64]),
    "sono_audio_read_all": (c_int, [c_void_p, _float_pp, _int64_p]),
    "sono_audio_close": (None, [c_void_p]),
    "sono_audio_create": (c_void_p, [c_char_p, c_char_p, c_int, c_int, c_int, _int_p]),
    "sono_audio_write": (c_int, [c_void_p, c_void_p, c_int64]),
    "sono_audio_writer_close": (c_int, [c_void_p]),
    "sono_audio_writer_abort": (None, [c_void_p]),
    # tokens.h
    "sono_tokens_free": (None, [tokens_p]),
    "sono_tokens_encode": (c_int, [tokens_p, _uint8_pp, _size_p]),
    "sono_tokens_decode": (c_int, [c_void_p, c_size_t, P(tokens_p)]),
    "sono_tokens_save": (c_int, [c_char_p, tokens_p]),
    "sono_tokens_encode_ex": (c_int, [tokens_p, P(sono_tokens_encode_params), _uint8_pp, _size_p]),
    "sono_tokens_encode_default_params": (sono_tokens_encode_params, []),
    "sono_coder_resolve": (c_int, [c_char_p, c_char_p, c_size_t]),
    "sono_coder_load": (c_void_p, [c_char_p, _int_p]),
    "sono_coder_free": (None, [c_void_p]),
    "sono_coder_codec_name": (c_char_p, [c_void_p]),
    "sono_coder_codec_hash": (None, [c_void_p, P(c_uint8)]),
    "sono_output_save": (c_int, [c_char_p, c_void_p, c_size_t]),
    "sono_tokens_load": (c_int, [c_char_p, P(tokens_p)]),
    "sono_archive_create": (c_void_p, [c_char_p, _int_p]),
    "sono_archive_add": (c_int, [c_void_p, c_char_p, c_void_p, c_size_t]),
    "sono_archive_commit": (c_int, [c_void_p]),
    "sono_archive_abort": (None, [c_void_p]),
    "sono_archive_open": (c_void_p, [c_char_p, _int_p]),
    "sono_archive_count": (c_int, [c_void_p]),
    "sono_archive_name": (c_char_p, [c_void_p, c_int]),
    "sono_archive_size": (c_uint64, [c_void_p, c_int]),
    "sono_archive_find": (c_int, [c_void_p, c_char_p]),
    "sono_archive_read": (c_int, [c_void_p, c_int, _uint8_pp, _size_p]),
    "sono_archive_close": (None, [c_void_p]),
    "sono_archive_merge": (c_int, [c_char_p, P(c_char_p), c_int]),
    # codec.h
    "sono_codec_default_params": (sono_codec_params, []),
    "sono_codec_resolve": (c_int, [c_char_p, c_char_p, c_size_t]),
    "sono_codec_load": (c_void_p, [c_char_p, P(sono_codec_params), _int_p]),
    "sono_codec_free": (None, [c_void_p]),
    "sono_codec_name": (c_char_p, [c_void_p]),
    "sono_codec_hash": (None, [c_void_p, P(c_uint8)]),
    "sono_codec_codes_hash": (None, [c_void_p, P(c_uint8)]),
    "sono_codec_sample_rate": (c_int, [c_void_p]),
    "sono_codec_channels": (c_int, [c_void_p]),
    "sono_codec_hop": (c_int, [c_void_p]),
    "sono_codec_frame_rate": (c_double, [c_void_p]),
    "sono_codec_codebook_size": (c_int, [c_void_p]),
    "sono_codec_max_codebooks": (c_int, [c_void_p]),
    "sono_codec_n_bandwidths": (c_int, [c_void_p]),
    "sono_codec_bandwidth": (c_double, [c_void_p, c_int]),
    "sono_codec_n_q_for_bandwidth": (c_int, [c_void_p, c_double]),
    "sono_codec_max_frames": (c_int64, [c_void_p, c_int64]),
    "sono_codec_check_tokens": (c_int, [c_void_p, tokens_p]),
    "sono_codec_tokens_from_codes": (c_int, [c_void_p, c_void_p, c_int, c_int64, P(tokens_p)]),
    "sono_codec_latent_dim": (c_int, [c_void_p]),
    "sono_codec_encode": (c_int, [c_void_p, c_void_p, c_int64, c_int, P(tokens_p)]),
    "sono_codec_encode_latents": (c_int, [c_void_p, c_void_p, c_int64, _float_pp, _int64_p]),
    "sono_codec_decode": (c_int, [c_void_p, tokens_p, _float_pp, _int64_p]),
    "sono_codec_encoder_stream": (c_void_p, [c_void_p, c_int, _int_p]),
    "sono_codec_encoder_push": (c_int, [c_void_p, c_void_p, c_int64]),
    "sono_codec_encoder_finish": (c_int, [c_void_p, P(tokens_p)]),
    "sono_codec_decoder_stream": (c_void_p, [c_void_p, tokens_p, _int_p]),
    "sono_codec_decoder_pull": (c_int64, [c_void_p, c_void_p, c_int64]),
    "sono_codec_decoder_live": (c_void_p, [c_void_p, c_int, _int_p]),
    "sono_codec_decoder_push": (c_int, [c_void_p, c_void_p, c_int64, c_int64]),
    "sono_codec_decoder_end": (c_int, [c_void_p]),
    "sono_codec_stream_free": (None, [c_void_p]),
    # lm.h
    "sono_lm_load": (c_void_p, [c_char_p, _int_p]),
    "sono_lm_free": (None, [c_void_p]),
    "sono_lm_name": (c_char_p, [c_void_p]),
    "sono_lm_n_codebooks": (c_int, [c_void_p]),
    "sono_lm_codebook_size": (c_int, [c_void_p]),
    "sono_lm_context": (c_int, [c_void_p]),
    "sono_lm_width": (c_int, [c_void_p]),
    "sono_lm_n_layers": (c_int, [c_void_p]),
    "sono_lm_n_heads": (c_int, [c_void_p]),
    "sono_lm_n_params": (c_int64, [c_void_p]),
    "sono_lm_codec_name": (c_char_p, [c_void_p]),
    "sono_lm_codec_hash": (None, [c_void_p, P(c_uint8)]),
    "sono_lm_frame_rate": (c_double, [c_void_p]),
    "sono_lm_n_conditions": (c_int, [c_void_p]),
    "sono_lm_condition": (c_char_p, [c_void_p, c_int]),
    "sono_lm_check_codec": (c_int, [c_void_p, c_char_p, P(c_uint8)]),
    "sono_lm_check_codec_hashes": (c_int, [c_void_p, c_char_p, P(c_uint8), P(c_uint8)]),
    "sono_lm_generate_default_params": (sono_lm_generate_params, []),
    "sono_lm_generate_max_frames": (c_int64, [c_void_p, P(sono_lm_generate_params)]),
    "sono_lm_generate": (c_int, [c_void_p, P(sono_lm_generate_params), LM_FRAME_FN, c_void_p, c_void_p, _int64_p]),
}


def _declare():
    missing = []
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise LibraryNotFound("sonotok: %s lacks %s: an older libsonotok? (SONOTOK_LIBRARY or the installed one)"
                              % (path, ", ".join(missing)))


_declare()

# The C library's free(), for buffers the library malloc'd and hands over.
libc_free = ctypes.CDLL(None).free
libc_free.restype = None
libc_free.argtypes = [c_void_p]


def strerror(code):
    """The library's short description of an error code."""
    return lib.sono_strerror(code).decode("utf-8", "replace")


def error(code, message=None):
    """The exception for a negative library code, with this thread's detail
    line (or message, or the code's description)."""
    if message is None:
        message = lib.sono_last_error().decode("utf-8", "replace") or strerror(code)
    return errors.error_class(code)(message, code)


def call(fn, *args):
    """Call a library function that returns a count or a negative code:
    this thread's detail line is cleared first, so an error carries the
    detail of this failure, not an older one. Returns the count."""
    lib.sono_clear_error()
    rc = fn(*args)
    if rc < 0:
        raise error(rc)
    return rc


def construct(fn, *args):
    """Call a constructor that reports through a trailing ``int *err``:
    returns the handle, or raises."""
    err = c_int(0)
    lib.sono_clear_error()
    handle = fn(*args, ctypes.byref(err))
    if not handle:
        raise error(err.value if err.value < 0 else errors.ArgumentError.code)
    return handle


def fsencode(path):
    """A path argument as the bytes the C library takes."""
    return os.fsencode(path)
