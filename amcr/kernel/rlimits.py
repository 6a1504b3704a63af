"""Resource limits (setrlimit) for the container's processes.

An rlimit is per process and inherited, not per container: RLIMIT_AS caps
each process's address space (the memory limit when there are no cgroups),
and RLIMIT_NPROC counts every process of the *host* user — all containers of
that user and its own shells — so it is no per-container PID limit (use
--pids-limit with cgroups for that). See docs/security.md.
"""
from __future__ import annotations

import resource

from amcr.errors import SpecError

NAMES = {
    "as": resource.RLIMIT_AS, "core": resource.RLIMIT_CORE, "cpu": resource.RLIMIT_CPU,
    "data": resource.RLIMIT_DATA, "fsize": resource.RLIMIT_FSIZE,
    "memlock": resource.RLIMIT_MEMLOCK, "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC, "stack": resource.RLIMIT_STACK,
    "msgqueue": resource.RLIMIT_MSGQUEUE, "nice": resource.RLIMIT_NICE,
    "rtprio": resource.RLIMIT_RTPRIO, "sigpending": resource.RLIMIT_SIGPENDING,
    "locks": 10, "rss": resource.RLIMIT_RSS,   # RLIMIT_LOCKS: not exported by Python
}
UNLIMITED = resource.RLIM_INFINITY


def parse_ulimit(text: str) -> tuple[int, int, int]:
    """``nofile=1024:2048`` -> (resource, soft, hard); docker's ``--ulimit`` syntax."""
    name, eq, values = text.partition("=")
    key = name.strip().lower()
    if not eq or key not in NAMES:
        raise SpecError(f"invalid --ulimit {text!r}",
                        hint=f"use NAME=SOFT[:HARD] with NAME one of {', '.join(sorted(NAMES))}")
    soft_s, _, hard_s = values.partition(":")
    try:
        soft = _value(soft_s)
        hard = _value(hard_s) if hard_s else soft
    except ValueError:
        raise SpecError(f"invalid --ulimit {text!r}",
                        hint="values are integers or 'unlimited', e.g. nofile=1024:2048") from None
    if hard != UNLIMITED and (soft == UNLIMITED or soft > hard):
        raise SpecError(f"invalid --ulimit {text!r}: soft limit above hard limit",
                        hint="use NAME=SOFT:HARD with SOFT <= HARD")
    return NAMES[key], soft, hard


def _value(text: str) -> int:
    text = text.strip()
    if text in ("unlimited", "-1"):
        return UNLIMITED
    value = int(text)
    if value < 0 or value >= 1 << 64:
        raise ValueError(text)
    return UNLIMITED if value == (1 << 64) - 1 else value


def apply(limits: tuple[tuple[int, int, int], ...]) -> None:
    """Set each limit; raising a hard limit needs CAP_SYS_RESOURCE on the host."""
    for res, soft, hard in limits:
        resource.setrlimit(res, (soft, hard))
