"""Capability sets of the container's PID 1, through capget(2)/capset(2) directly.

The bounding set is what survives execve for a root process (its permitted
and effective sets are recomputed from it), so it is the one that matters;
permitted, effective and inheritable are set to match, and the ambient set is
cleared. Every number up to the kernel's last capability that is not kept is
dropped from the bounding set, including numbers newer than amcr's names.

Two system calls through the C library rather than python-prctl: its import
(and libcap's) cost 2.3 ms of every ``amcr run``, and its per-name parsing
showed in every container's start-up profile.
"""
from __future__ import annotations

import ctypes
import os

from amcr.kernel.libc import check, libc
from amcr.security.caps import CAP_NAMES, CAP_NUMBER

PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_SYS_CAPGET, _SYS_CAPSET = {"x86_64": (125, 126), "aarch64": (90, 91)}.get(os.uname().machine,
                                                                             (125, 126))
_LINUX_CAPABILITY_VERSION_3 = 0x20080522   # 64-bit sets, as two 32-bit halves


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(CAP_NAMES) - 1


def restrict_to(keep: frozenset[str], top: int) -> None:
    """Reduce every set to ``keep``. ``top`` is the highest capability number."""
    for number in range(top + 1):
        if number >= len(CAP_NAMES) or CAP_NAMES[number] not in keep:
            check(libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0), "prctl(PR_CAPBSET_DROP)")
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)")
    wanted = 0
    for name in keep:
        if name in CAP_NUMBER:
            wanted |= 1 << CAP_NUMBER[name]
    set_sets(wanted)


def set_sets(wanted: int) -> None:
    """Effective and permitted := what we hold of ``wanted``; inheritable := none."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    check(libc.syscall(_SYS_CAPGET, ctypes.byref(header), data), "capget")
    for half in (0, 1):
        bits = (wanted >> (32 * half)) & 0xFFFFFFFF
        held = data[half].permitted & bits
        data[half].effective = held
        data[half].permitted = held
        data[half].inheritable = 0
    check(libc.syscall(_SYS_CAPSET, ctypes.byref(header), data), "capset")

