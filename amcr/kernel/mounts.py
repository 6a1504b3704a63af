"""mount(2), umount2(2) and pivot_root(2) for ``amcr info``'s probes (PID 1 mounts in C;
the flags are in :mod:`amcr.kernel.mountflags`)."""
from __future__ import annotations

import ctypes
import os

from amcr.kernel.libc import check, libc

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)

libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2); raises OSError naming the target."""
    check(libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), "mount", target)


def umount(target: str, flags: int = 0) -> None:
    check(libc.umount2(_b(target), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    check(libc.syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)), "pivot_root", new_root)


# statvfs f_flag bits (ST_*) that the kernel "locks" on a mount inherited from a
# more privileged user namespace: a remount inside a user namespace must repeat
# them or it fails with EPERM.


