"""Namespaces: flags, unshare(2), setns(2), and opening a process's namespace."""
from __future__ import annotations

import os

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

#: Order is data: the user namespace comes first so that the others are owned by
#: it (that is what lets an unprivileged user create them at all); the kernel
#: does this ordering itself when the flags are passed to one clone3(2) or
#: unshare(2), which is why amcr makes a single call (amcr/init/pid1.c).
ORDERED_NAMESPACES: tuple[tuple[str, int], ...] = (
    ("user", CLONE_NEWUSER),
    ("mnt", CLONE_NEWNS),
    ("uts", CLONE_NEWUTS),
    ("ipc", CLONE_NEWIPC),
    ("net", CLONE_NEWNET),
    ("pid", CLONE_NEWPID),
    ("cgroup", CLONE_NEWCGROUP),
)

ALL_NAMESPACES = 0
for _name, _flag in ORDERED_NAMESPACES:
    ALL_NAMESPACES |= _flag

#: what PID 1 is cloned into (amcr/init/pid1.c); it unshares the cgroup
#: namespace itself, once it has joined its cgroup, so that cgroup is the root.
AT_CLONE = ALL_NAMESPACES & ~CLONE_NEWCGROUP


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (PID: only its future children)."""
    from amcr.kernel.libc import check, libc   # ctypes: not on amcr run's start-up path
    check(libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace behind ``fd`` (a /proc/PID/ns/* descriptor)."""
    from amcr.kernel.libc import check, libc
    check(libc.setns(fd, nstype), "setns")


def open_ns(pid: int, kind: str) -> int:
    """A descriptor that keeps namespace ``kind`` of ``pid`` alive and joinable."""
    return os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
