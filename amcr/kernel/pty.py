"""Pseudo-terminals: the window size of a container's terminal, seen from the runtime.

The PTY itself is allocated *inside* the container by PID 1 (amcr/init/pid1.c),
after its own devpts instance is mounted, so the slave is a ``/dev/pts/N``
that exists there (runc's console socket does the same); the master then
travels to the runtime over a unix socket with SCM_RIGHTS.
"""
from __future__ import annotations

import fcntl
import struct
import termios


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_winsize(fd: int) -> tuple[int, int] | None:
    """(rows, cols) of the terminal on ``fd``, or None when it is not a terminal."""
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


