"""The exceptions sonotok raises: one class per error code of the C library
(include/sonotok/error.h), all subclasses of :class:`sonotok.Error`.

Each carries the library's one-line detail message (``str(e)``, also
``e.message``), the negative code (``e.code``) and the code's short
description (``e.reason``). Each also derives from the built-in exception a
Python caller would expect, so ``except FileNotFoundError`` catches a missing
model and ``except ValueError`` a bad argument or a corrupt file:

=========================  ====  ====================================  ===========================
class                      code  meaning                               also a
=========================  ====  ====================================  ===========================
NoMemoryError                -1  allocation failed                     MemoryError
ArgumentError                -2  invalid argument (shape, dtype, ...)  ValueError
FileIOError                  -3  open, read, write or rename failed    OSError
FormatError                  -4  not in the expected format, corrupt   ValueError
TruncatedError               -5  input ends early                      FormatError
ChecksumError                -6  stored checksum does not match        FormatError
ModelMismatchError           -7  tokens made by another model          ValueError
RangeError                   -8  a value out of range (code, kbps)     ValueError
UnsupportedError             -9  valid input this build cannot handle  NotImplementedError
EmptyError                  -10  no samples, frames or files           ValueError
NotFoundError               -11  file, model, tensor or entry missing  FileNotFoundError, KeyError
LimitError                  -12  a size beyond sane limits             ValueError
=========================  ====  ====================================  ===========================
"""

__all__ = ["Error", "NoMemoryError", "ArgumentError", "FileIOError", "FormatError", "TruncatedError",
           "ChecksumError", "ModelMismatchError", "RangeError", "UnsupportedError", "EmptyError",
           "NotFoundError", "LimitError"]


class Error(Exception):
    """A failure reported by libsonotok (or found by the Python layer before
    calling it). ``message``: the one-line detail, as the sonotok program
    prints it; ``code``: the library's negative error code; ``reason``: the
    code's short description ("checksum mismatch")."""

    code = None

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self):
        return self.message

    def __reduce__(self):
        return (type(self), (self.message, self.code))

    @property
    def reason(self):
        """The code's short description, from the library (sono_strerror)."""
        from . import _lib
        return _lib.strerror(self.code) if self.code is not None else "sonotok error"


class NoMemoryError(Error, MemoryError):
    """Allocation failed (code -1)."""
    code = -1


class ArgumentError(Error, ValueError):
    """An invalid argument (code -2): a wrong shape or dtype, a bad parameter."""
    code = -2


class FileIOError(Error, OSError):
    """Open, read, write or rename failed (code -3)."""
    code = -3


class FormatError(Error, ValueError):
    """The input is not in the expected format, or is corrupt (code -4)."""
    code = -4


class TruncatedError(FormatError):
    """The input ends early (code -5)."""
    code = -5


class ChecksumError(FormatError):
    """A stored checksum does not match the content (code -6)."""
    code = -6


class ModelMismatchError(Error, ValueError):
    """Tokens made by another model (code -7)."""
    code = -7


class RangeError(Error, ValueError):
    """A value out of its valid range: a code, a bandwidth (code -8)."""
    code = -8


class UnsupportedError(Error, NotImplementedError):
    """Valid input that this build cannot handle (code -9)."""
    code = -9


class EmptyError(Error, ValueError):
    """Empty input: no samples, no frames, no files (code -10)."""
    code = -10


class NotFoundError(Error, FileNotFoundError, KeyError):
    """A file, model, tensor or archive entry was not found (code -11)."""
    code = -11


class LimitError(Error, ValueError):
    """A size beyond sane limits (code -12)."""
    code = -12


_BY_CODE = {cls.code: cls for cls in (NoMemoryError, ArgumentError, FileIOError, FormatError, TruncatedError,
                                      ChecksumError, ModelMismatchError, RangeError, UnsupportedError, EmptyError,
                                      NotFoundError, LimitError)}


def error_class(code):
    """The exception class for a library error code (Error for an unknown one)."""
    return _BY_CODE.get(code, Error)
