"""Capability sets: docker's default 14, plus ``--cap-add`` / ``--cap-drop``.

Capabilities only mean something inside the container's user namespace, but
there they still allow e.g. mounting, raw sockets or changing the hostname; a
container gets what docker gives by default, and the user can widen or narrow
it by name (``capabilities(7)``; ``ALL`` accepted, ``CAP_`` prefix optional).
"""
from __future__ import annotations

from amcr.errors import SpecError

#: number -> name, as in linux/capability.h (0..40)
CAP_NAMES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT",
    "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE",
    "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAP_NUMBER = {name: i for i, name in enumerate(CAP_NAMES)}

#: what docker and podman give a container by default
DEFAULT_CAPS: frozenset[str] = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})


def normalize(name: str) -> str:
    """``cap_sys_admin`` / ``CAP_SYS_ADMIN`` / ``sys_admin`` -> ``SYS_ADMIN``."""
    upper = name.strip().upper()
    upper = upper[4:] if upper.startswith("CAP_") else upper
    if upper != "ALL" and upper not in CAP_NUMBER:
        raise SpecError(f"unknown capability {name!r}",
                        hint="use a name from capabilities(7), e.g. NET_ADMIN, or ALL")
    return upper


def effective_caps(add: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> frozenset[str]:
    """Docker's rule: start from the default set, drop, then add (ALL in either)."""
    adds = {normalize(c) for c in add}
    drops = {normalize(c) for c in drop}
    caps = set(DEFAULT_CAPS)
    if "ALL" in drops:
        caps.clear()
    caps -= drops
    if "ALL" in adds:
        caps |= set(CAP_NAMES)
    caps |= adds - {"ALL"}
    return frozenset(caps)


def mask(caps: frozenset[str]) -> int:
    """The capability bitmask as /proc/PID/status prints it (CapEff)."""
    out = 0
    for c in caps:
        out |= 1 << CAP_NUMBER[c]
    return out
