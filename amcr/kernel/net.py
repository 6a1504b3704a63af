"""The container's network: a new namespace with only loopback, brought up.

A new network namespace starts with ``lo`` down; programs expect 127.0.0.1 to
work (test servers, language servers), so PID 1 brings it up as docker does.
"""
from __future__ import annotations

import fcntl
import struct
from _socket import AF_INET, SOCK_DGRAM, socket

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    s = socket(AF_INET, SOCK_DGRAM)
    try:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()
