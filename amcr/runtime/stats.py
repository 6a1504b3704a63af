"""Resource use of a running container, from whichever source can tell.

Two sources: the container's process tree (/proc/PID/stat and statm: CPU
time, resident memory, number of processes), and, for a container with a
cgroup, the cgroup's files (memory including page cache, OOM kills; see
:mod:`amcr.runtime.cgroup_lease`), which plug in through :data:`PROVIDERS`
and :data:`OOM_PROBES` without touching the runtime: a provider gets the
:class:`~amcr.runtime.container.Container` and returns a record with the same
fields (or None to pass). ``source`` says where the numbers came from, because
they differ in meaning.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amcr._record import Record


class ContainerStats(Record):
    """One sample; None where the source has no value. Field names match the cgroup Stats."""

    __slots__ = ("source", "cpu_usec", "memory_current", "pids_current", "memory_peak",
                 "oom_kills")
    _defaults = {"cpu_usec": None, "memory_current": None, "pids_current": None,
                 "memory_peak": None, "oom_kills": None}
    source: str                     # "process tree", "cgroup v1", "cgroup v2"
    cpu_usec: int | None            # user + system CPU time, microseconds
    memory_current: int | None      # bytes (process tree: sum of RSS)
    pids_current: int | None        # processes (process tree) or tasks (cgroup)
    memory_peak: int | None
    oom_kills: int | None

    @property
    def cpu_seconds(self) -> float | None:
        return None if self.cpu_usec is None else self.cpu_usec / 1e6


#: Tried in order before the process tree; each returns a stats record or None.
PROVIDERS: list[Callable[[Any], Any]] = []
#: Tried in order after a container exits; True means the kernel's OOM killer
#: killed something in it (a cgroup's memory.events oom_kill counter went up).
OOM_PROBES: list[Callable[[Any], bool | None]] = []


def sample(container: Any) -> ContainerStats:
    """The first provider's answer (a record with these fields), else the process tree."""
    for provider in PROVIDERS:
        found = provider(container)
        if found is not None:
            return found      # type: ignore[no-any-return]
    return process_tree(container.pid)


def oom_killed(container: Any) -> bool:
    """The hook ``CompletedRun.oom_killed`` comes from: False until a probe can tell."""
    for probe in OOM_PROBES:
        found = probe(container)
        if found is not None:
            return bool(found)
    return False


def process_tree(pid: int) -> ContainerStats:
    """Sum over PID 1 and its descendants (all of them are inside the container).

    Read straight from /proc/PID/stat and statm: a sample of an idle
    container is a handful of small reads (psutil's objects cost several
    times more, and the multiplexer samples every container every second).
    """
    import os
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu_ticks = rss = count = 0
    for member in descendants(pid):
        try:
            with open(f"/proc/{member}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{member}/statm", "rb") as f:
                statm = f.read()
        except OSError:
            continue             # exited between the listing and now
        fields = stat[stat.rindex(b")") + 2:].split()
        cpu_ticks += int(fields[11]) + int(fields[12])      # utime, stime
        rss += int(statm.split()[1]) * page
        count += 1
    return ContainerStats("process tree", cpu_ticks * 1_000_000 // ticks, rss, count)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from /proc/PID/task/TID/children.

    psutil's ``children(recursive=True)`` reads the stat file of every process
    on the host to build a parent map (hundreds of reads per sample, ~5 % of a
    core for three idle containers sampled once a second); the kernel's own
    children lists touch only the container's processes.
    """
    import os
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children", encoding="ascii") as f:
                    todo.extend(int(x) for x in f.read().split())
            except OSError:
                continue
    return out
