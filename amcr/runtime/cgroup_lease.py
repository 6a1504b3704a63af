"""A container's cgroup for as long as the container lives.

Created before fork (so the first process is in it before it execs), limits
written, the ``cgroup.procs`` files opened for the child to join; after the
exit the OOM-kill count is read *before* the cgroup is removed, because that
is when the answer to "was it the memory limit?" still exists.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.kernel.cgroups import Cgroup
    from amcr.limits import Limits

_choice: object = None


def choose() -> object:
    """The cgroup backend choice for this process (cached: ~0.4 ms to inspect)."""
    global _choice
    if _choice is None:
        from amcr.kernel import cgroups
        _choice = cgroups.choose()
    return _choice


class CgroupLease:
    """Mutable companion of a Prepared container: its cgroup, then its OOM verdict."""

    def __init__(self, cgroup: Cgroup, limits: Limits | None) -> None:
        _register()
        self.cgroup = cgroup
        self.limits = limits
        self.fds: list[int] = cgroup.open_procs()
        self.oom_kills: int | None = None
        self.final: object = None        # the last stats sample, taken at exit

    def close_fds(self) -> None:
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)

    def finish(self) -> None:
        """After the exit: remember the OOM count and last numbers, then remove."""
        self.close_fds()
        try:
            self.oom_kills = self.cgroup.oom_kills()
            self.final = self.cgroup.stats()
        except OSError:
            pass
        self.cgroup.remove()

    @property
    def oom_killed(self) -> bool:
        return bool(self.oom_kills)


def _lease_of(container: object) -> CgroupLease | None:
    prep = getattr(container, "_prep", None)
    return getattr(prep, "cgroup", None) if prep is not None else None


def _stats(container: object) -> object:
    lease = _lease_of(container)
    if lease is None:
        return None
    try:
        return lease.cgroup.stats()
    except OSError:
        return lease.final


def _oom(container: object) -> bool | None:
    lease = _lease_of(container)
    return None if lease is None else lease.oom_killed


def _register() -> None:
    """Offer cgroup numbers to the asyncio runtime's stats, if it is loaded.

    Looked up rather than imported: ``amcr run`` never samples stats, and the
    stats module's imports would cost it start-up time.
    """
    stats = sys.modules.get("amcr.runtime.stats")
    if stats is not None and _stats not in stats.PROVIDERS:
        stats.PROVIDERS.insert(0, _stats)
        stats.OOM_PROBES.insert(0, _oom)
