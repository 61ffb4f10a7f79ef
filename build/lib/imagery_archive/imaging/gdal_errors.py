"""GDAL's errors, from every thread, while a block of GDAL work runs; and which of them are ours to retry.

GDAL decodes, compresses and builds overviews in worker threads whose errors reach only the global
error handler: a thread-local handler (`gdal.PushErrorHandler`) never sees them, and a failed tile
would be written as zeros. So `collected_errors` installs a global handler, and afterwards puts back
exactly the handler that was installed before (an application's own, or GDAL's default). The Python
bindings can't return the previous handler (`gdal.SetErrorHandler` returns an error code), so the
swap is done through GDAL's C API (`CPLSetErrorHandlerEx`), which does.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from osgeo import _gdal, gdal

CPLE_OUT_OF_MEMORY = 2
"""GDAL's error number for a failed allocation (`CPLE_OutOfMemory` in cpl_error.h)."""
_OUT_OF_MEMORY_WORDS = ("out of memory", "cannot allocate", "failed to allocate", "memory allocation failed")

_LIBRARY = ctypes.CDLL(_gdal.__file__)  # its symbol lookup reaches libgdal, which it links
_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_char_p)
_LIBRARY.CPLSetErrorHandlerEx.restype = ctypes.c_void_p
_LIBRARY.CPLSetErrorHandlerEx.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_LIBRARY.CPLGetErrorHandlerUserData.restype = ctypes.c_void_p
_SWAP = threading.Lock()


@dataclass(frozen=True)
class GdalError:
    """One message GDAL reported: its class (CE_Warning, CE_Failure, ...), error number and text."""

    level: int
    code: int
    message: str

    @property
    def is_failure(self) -> bool:
        return self.level >= gdal.CE_Failure

    @property
    def is_out_of_memory(self) -> bool:
        return is_out_of_memory(self.message, self.code)


def is_out_of_memory(message: str, code: int = 0) -> bool:
    """True when GDAL failed to allocate memory: the machine's state, not the input's fault."""
    return code == CPLE_OUT_OF_MEMORY or any(word in message.lower() for word in _OUT_OF_MEMORY_WORDS)


@contextmanager
def collected_errors() -> Iterator[list[GdalError]]:
    """Collect what GDAL reports from any thread meanwhile; then restore the previous global handler."""
    collected: list[GdalError] = []

    def collect(level: int, code: int, message: bytes | None) -> None:
        collected.append(GdalError(level, code, (message or b"").decode("utf-8", "replace")))

    handler = _HANDLER(collect)  # kept referenced until GDAL no longer calls it
    with _SWAP:
        previous_data = _global_handler_data()
        previous = _LIBRARY.CPLSetErrorHandlerEx(ctypes.cast(handler, ctypes.c_void_p), None)
    try:
        yield collected
    finally:
        with _SWAP:
            _LIBRARY.CPLSetErrorHandlerEx(previous, previous_data)


def _global_handler_data() -> int | None:
    """The user data of the global handler, read from a fresh thread: in this one, a handler pushed
    with `gdal.PushErrorHandler` would answer instead (GDAL returns the innermost handler's)."""
    found: list[int | None] = []
    reader = threading.Thread(target=lambda: found.append(_LIBRARY.CPLGetErrorHandlerUserData()))
    reader.start()
    reader.join()
    return found[0]
