"""Who owns a writable layer: an flock'ed file that lives as long as its runtime.

Each layer directory (``<home>/containers/ID``) gets an ``owner`` file, locked
with flock(2) by the process that runs the container, for the container's
whole life. The kernel drops the lock when that process dies, however it dies
(SIGKILL included), so :mod:`amcr.gc` can tell a live layer (lock held) from a
dead one (lock free) without PIDs, which can be reused. The file also names
the owner's PID, for people reading the directory.

A kept layer (``--keep``) loses its owner file, so nothing collects it.
"""
from __future__ import annotations

import fcntl
import os

OWNER = "owner"


def claim(layer_path: str) -> int:
    """Lock the layer for this process; the returned fd holds the lock (close-on-exec)."""
    # Locked under a temporary name, then renamed: gc never sees an unlocked
    # ``owner`` of a live layer, not even between open and flock.
    tmp = os.path.join(layer_path, OWNER + ".new")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"%d\n" % os.getpid())
        os.rename(tmp, os.path.join(layer_path, OWNER))
    except BaseException:
        os.close(fd)
        raise
    return fd


def disown(layer_path: str, fd: int, kept: bool) -> None:
    """Give the lock up; a kept layer also loses the file, so gc leaves it alone."""
    if kept:
        try:
            os.unlink(os.path.join(layer_path, OWNER))
        except OSError:
            pass
    os.close(fd)


def state(layer_path: str) -> str:
    """``live`` (someone holds the lock), ``dead`` (nobody does) or ``none`` (no file)."""
    try:
        fd = os.open(os.path.join(layer_path, OWNER), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return "none"
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return "live"
    finally:
        os.close(fd)     # also drops the shared lock we may have taken
    return "dead"
