"""The sync channel: a SOCK_SEQPACKET socketpair that can carry descriptors.

Built on ``_socket`` rather than :mod:`socket`, whose enums and selectors cost
milliseconds to import on every container start (parent and child alike).
"""
from __future__ import annotations

import struct
from _socket import (AF_UNIX, CMSG_SPACE, SCM_RIGHTS, SOCK_CLOEXEC, SOCK_SEQPACKET, SOL_SOCKET,
                     socket, socketpair)

Sock = socket

TYPE_CHECKING = False
if TYPE_CHECKING:       # collections.abc is not imported on the start path
    from collections.abc import Sequence

__all__ = ["Sock", "pair", "send_fds", "send_fd", "recv_fds", "recv_maybe_fd"]


def pair() -> tuple[socket, socket]:
    """Close-on-exec ends: nothing of the channel survives the container's execve."""
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)


def send_fds(sock: socket, data: bytes, fds: Sequence[int]) -> None:
    """One message carrying ``fds`` (the receiver gets its own copies)."""
    sock.sendmsg([data], [(SOL_SOCKET, SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))])


def send_fd(sock: socket, data: bytes, fd: int) -> None:
    send_fds(sock, data, (fd,))


def recv_fds(sock: socket, size: int, max_fds: int, flags: int = 0) -> tuple[bytes, list[int]]:
    """One message and the descriptors it carried (room for ``max_fds``); (b"", []) on EOF."""
    data, ancdata, _flags, _addr = sock.recvmsg(size, CMSG_SPACE(4 * max_fds), flags)
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == SOL_SOCKET and kind == SCM_RIGHTS:
            whole = len(payload) // 4
            fds += struct.unpack(f"{whole}i", payload[:whole * 4])
    return data, fds


def recv_maybe_fd(sock: socket, size: int = 4096) -> tuple[bytes, int | None]:
    """One message and the descriptor it carried, if any; (b"", None) on EOF."""
    data, fds = recv_fds(sock, size, 1)
    return data, (fds[-1] if fds else None)
