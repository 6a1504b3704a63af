"""The kernel's highest capability number.

PID 1 drops every number up to it that the container does not keep from its
bounding set, including numbers newer than amcr's names, then sets its other
sets with one capset(2) (amcr/init/pid1.c; the numbers are decided in
amcr/init/container_init.py).
"""
from __future__ import annotations

from amcr.security.caps import CAP_NAMES


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(CAP_NAMES) - 1


