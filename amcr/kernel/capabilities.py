"""Capability sets of the container's PID 1, through python-prctl.

The bounding set is what survives execve for a root process (its permitted
and effective sets are recomputed from it), so it is the one that matters;
permitted, effective and inheritable are set to match, and the ambient set is
cleared. Numbers above what python-prctl knows (newer kernels) are dropped
from the bounding set through prctl(2) directly.
"""
from __future__ import annotations

import prctl   # python-prctl (capset(2) via libcap); imported here, before any root switch

from amcr.kernel.libc import check, libc
from amcr.security.caps import CAP_NAMES, CAP_NUMBER

PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4


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
    numbers = sorted(CAP_NUMBER[c] for c in keep if c in CAP_NUMBER)
    prctl.cap_inheritable.limit()
    prctl.cap_effective.limit(*numbers)
    prctl.cap_permitted.limit(*numbers)
