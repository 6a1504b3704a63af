"""Pseudo-terminals: allocation, window size, controlling terminal, fd passing.

The PTY is allocated *inside* the container, after its own devpts instance is
mounted, so the slave is a ``/dev/pts/N`` that exists there (runc's console
socket does the same); the master then travels to the runtime over a unix
socket with SCM_RIGHTS.
"""
from __future__ import annotations

import fcntl
import os
import struct
import termios


def open_pty() -> tuple[int, int]:
    """(master, slave) from the devpts instance mounted at /dev/pts."""
    master, slave = os.openpty()
    return master, slave


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_winsize(fd: int) -> tuple[int, int] | None:
    """(rows, cols) of the terminal on ``fd``, or None when it is not a terminal."""
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


def make_controlling_terminal(slave: int) -> None:
    """Start a new session and make ``slave`` its controlling terminal (job control)."""
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
