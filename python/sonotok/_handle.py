"""Python objects over one C handle each: how they free it, commit it, and
read properties from it."""

from . import _lib
from .errors import ArgumentError


class Owner:
    """Owns one C object, self._h, which _free(h) releases when this object
    is collected: for models (Codec, LM), which streams and calls keep
    alive by referring to them, so they have no close()."""

    _h = None

    def _free(self, h):
        raise NotImplementedError

    def _release(self):
        h, self._h = self._h, None
        if h:
            self._free(h)

    def __del__(self):
        self._release()


class Handle(Owner):
    """An Owner that can also be closed early: close() (safe to repeat), and
    a context manager that closes. A subclass whose calls hold self._lock (a
    threading.Lock) is closed under it too."""

    _lock = None

    def _handle(self):
        """The handle, or ArgumentError once closed."""
        if not self._h:
            raise ArgumentError("%s: already closed" % self._what())
        return self._h

    def _what(self):
        return type(self).__name__ + (" " + self.path if isinstance(getattr(self, "path", None), str) else "")

    def close(self):
        """Release the C object (also done when this object is collected)."""
        if self._lock is None:
            self._release()
        else:
            with self._lock:
                self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Writer(Handle):
    """A C writer whose output appears only when committed (_commit(h)):
    dropped (_free(h)) on abort(), on collection, or when its with-block
    ends in an exception; the block's normal end commits."""

    def _commit(self, h):
        raise NotImplementedError

    def commit(self):
        """Finish the output and put it in place."""
        h = self._handle()
        self._h = None
        _lib.call(self._commit, h)

    def abort(self):
        """Drop the output: nothing is written at its path."""
        Handle.close(self)

    close = commit

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def getter(fn_name, doc, convert=None):
    """A read-only property calling the library's fn_name(self._h), for an
    object whose handle lives as long as it does (Codec, LM)."""
    def get(self):
        value = getattr(_lib.lib, fn_name)(self._h)
        return convert(value) if convert else value
    return property(get, doc=doc)


def text(value):
    """A C string from the library as str."""
    return value.decode("utf-8", "replace")


def hash16(fn_name, doc):
    """A read-only property: the 16 bytes fn_name(self._h, out) writes."""
    def get(self):
        out = (_lib.c_uint8 * 16)()
        getattr(_lib.lib, fn_name)(self._h, out)
        return bytes(out)
    return property(get, doc=doc)
