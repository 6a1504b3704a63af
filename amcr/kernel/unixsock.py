"""The sync channel: a SOCK_SEQPACKET socketpair that can carry descriptors.

Built on ``_socket`` rather than :mod:`socket`, whose enums and selectors cost
milliseconds to import on every container start (parent and child alike).
"""
from __future__ import annotations

import struct
from _socket import (AF_UNIX, CMSG_LEN, SCM_RIGHTS, SOCK_CLOEXEC, SOCK_SEQPACKET, SOL_SOCKET,
                     socket, socketpair)

Sock = socket

__all__ = ["Sock", "pair", "send_fd", "recv_maybe_fd"]


def pair() -> tuple[socket, socket]:
    """Close-on-exec ends: nothing of the channel survives the container's execve."""
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)


def send_fd(sock: socket, data: bytes, fd: int) -> None:
    sock.sendmsg([data], [(SOL_SOCKET, SCM_RIGHTS, struct.pack("i", fd))])


def recv_maybe_fd(sock: socket, size: int = 4096) -> tuple[bytes, int | None]:
    """One message and the descriptor it carried, if any; (b"", None) on EOF."""
    data, ancdata, _flags, _addr = sock.recvmsg(size, CMSG_LEN(struct.calcsize("i")))
    fd = None
    for level, kind, payload in ancdata:
        if level == SOL_SOCKET and kind == SCM_RIGHTS and len(payload) >= 4:
            fd = struct.unpack("i", payload[:4])[0]
    return data, fd
