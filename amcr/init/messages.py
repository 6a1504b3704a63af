"""Typed messages between the runtime and its children, sent and awaited in pairs.

The sync channel is a SOCK_SEQPACKET socketpair (message boundaries for free,
and descriptors ride along with SCM_RIGHTS). Failures travel on a separate
close-on-exec pipe: EOF there means execve succeeded.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.kernel.unixsock import Sock

MAPPED = b"mapped"       # parent -> PID 1: your ID map is written
READY = b"ready"         # PID 1 -> parent: set up; how root was switched; PTY master
GO = b"go"               # parent -> PID 1: alive and holding what it needs; finish and exec

NOT_MAPPED = 255         # spawner -> runtime, after PID 1's host PID: its ID map is not
                         # written (0: written; else the errno of the failed write)


def send(sock: Sock, tag: bytes, payload: bytes = b"") -> None:
    sock.send(tag + b"\0" + payload)


# --- the exec-error pipe -------------------------------------------------------

def report_failure(fd: int, step: str, err: int, message: str) -> None:
    """Child: say which step failed and why, in one write (atomic below PIPE_BUF)."""
    data = f"{step}\0{err}\0{message}".encode(errors="replace")[:4000]
    try:
        os.write(fd, data)
    except OSError:
        pass


def parse_failure(data: bytes) -> tuple[str, int, str] | None:
    """Parent: None for an empty pipe (exec succeeded), else (step, errno, message)."""
    if not data:
        return None
    step, err, message = data.decode(errors="replace").split("\0", 2)
    return step, int(err), message
