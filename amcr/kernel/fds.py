"""Descriptor hygiene: nothing the runtime holds may reach a container."""
from __future__ import annotations

import os

from amcr.kernel.libc import libc

_SYS_CLOSE_RANGE = 436
CLOSE_RANGE_CLOEXEC = 1 << 2


def cloexec_from(first: int) -> None:
    """Mark every descriptor >= ``first`` close-on-exec in one system call.

    Marking rather than closing keeps the exec-error pipe usable until execve,
    which then closes everything atomically. Falls back to a loop on kernels
    before 5.11.
    """
    if libc.syscall(_SYS_CLOSE_RANGE, first, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC) == 0:
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data``, however many writes a (blocking) descriptor takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
