"""The set-up program a container's PID 1 runs in C (:mod:`amcr.init._pid1`).

Python decides everything (which mounts, in which order, which fallback);
the program is the list of system calls that follows, as flat bytes the
child walks without allocating. Each operation may be *optional* (a failure
clears an "ok" register instead of ending the set-up) or run only *if the
previous optional one failed*: that is how a fallback is written (overlay
options the kernel may refuse, sysfs or a read-only bind of the host's,
pivot_root or chroot). Encoding: per operation its code, flags and argument
count, then each argument as length, bytes and a NUL (so the C side can use
it as a string in place). Numbers are 8 bytes, little-endian
(negative ones as two's complement: RLIM_INFINITY is -1 in Python).
"""
from __future__ import annotations

import struct

OPTIONAL = 1     # a failure clears "ok" instead of failing the start
IF_FAILED = 2    # run only when "ok" is clear
NO_SYMLINK = 4   # MOUNT_IN, BIND_IN: refuse a target the image made a symlink


class Op:
    """The operations of amcr/init/pid1.c, with the same numbers (plain ints: enum
    is not otherwise imported on ``amcr run``'s start-up path)."""

    STEP = 1
    WRITE_FD = 2
    UNSHARE = 3
    EXPECT = 4
    WRITE_FILE = 5
    MOUNT = 6
    BIND = 7
    MKDIR = 8
    MOUNT_IN = 9
    BIND_IN = 10
    SYMLINK = 11
    CREATE_FILE = 12
    SETXATTR = 13
    UMOUNT = 14
    MASK = 15
    READONLY = 16
    PIVOT_ROOT = 17
    MOVE_ROOT = 18
    HOSTNAME = 19
    LOOPBACK = 20
    WORKDIR = 21
    TERMINAL = 22
    STDIO = 23
    IDENTITY = 24
    RLIMIT = 25
    CLOEXEC_FROM = 26
    CAPABILITIES = 27
    NO_NEW_PRIVS = 28
    SYNC = 29
    SECCOMP = 30
    EXEC = 31


_HEADER = struct.Struct("<BBH").pack
_MASK64 = (1 << 64) - 1
_LEN = struct.Struct("<I").pack
_MAX_ARGS = 0xFFFF


class Program:
    """An append-only list of operations; ``bytes(program)`` is what the child runs."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def add(self, op: int, *args: str | bytes | int | bool | None, flags: int = 0) -> None:
        # Written for speed: the runtime builds one program per container.
        if len(args) > _MAX_ARGS:
            raise ValueError(f"operation {op}: {len(args)} arguments, at most {_MAX_ARGS}")
        parts = [_HEADER(op, flags, len(args))]   # added whole, or not at all
        for arg in args:
            kind = type(arg)
            if kind is str:
                if "\0" in arg:   # the spec refuses these; C would cut the string short
                    raise ValueError(f"operation {op}: NUL byte in {arg!r}")
                raw = arg.encode("utf-8", "surrogateescape")
            elif kind is bytes:
                raw = arg
            elif arg is None:
                raw = b""                  # NULL where C takes an optional string
            else:                          # int or bool: 64 bits, two's complement
                if not -(1 << 63) <= arg <= _MASK64:
                    raise ValueError(f"operation {op}: {arg} does not fit in 64 bits")
                raw = (arg & _MASK64).to_bytes(8, "little")
            parts += (_LEN(len(raw)), raw, b"\0")
        self._parts += parts

    def __bytes__(self) -> bytes:
        return b"".join(self._parts)

    def ops(self) -> list[tuple[str, int, tuple[bytes, ...]]]:
        """Decoded back (name, flags, raw arguments): for tests and debugging."""
        names = {v: k for k, v in vars(Op).items() if isinstance(v, int)}
        out = []
        data = bytes(self)
        at = 0
        while at < len(data):
            code, flags, n = struct.unpack_from("<BBH", data, at)
            at += 4
            args = []
            for _ in range(n):
                (length,) = struct.unpack_from("<I", data, at)
                args.append(data[at + 4:at + 4 + length])
                at += 4 + length + 1
            out.append((names[code], flags, tuple(args)))
        return out
