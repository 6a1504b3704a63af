"""The C library, loaded once, and a helper that turns -1/errno into OSError.

``ctypes.util.find_library`` runs ``ldconfig`` in a subprocess (tens of ms), so
we load the soname directly: start-up time is a feature.
"""
from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.syscall.restype = ctypes.c_long


def check(ret: int, what: str, path: str | None = None) -> int:
    """Raise OSError (with errno) when a libc call returned -1."""
    if ret == -1:
        err = ctypes.get_errno()
        if path is not None:
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def syscall(nr: int, *args: int | bytes | None) -> int:
    """A raw system call; returns the result or raises OSError."""
    return check(libc.syscall(nr, *args), f"syscall {nr}")
