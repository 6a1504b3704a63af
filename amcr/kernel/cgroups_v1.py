"""cgroup v1: one directory per controller hierarchy, kept in step.

On v1 each controller (or group of co-mounted controllers, e.g. ``cpu,cpuacct``)
is its own tree with its own copy of the process's cgroup. A container's
cgroup is therefore ``amcr-<id>`` below the runtime's own cgroup in *each*
hierarchy amcr uses (memory, cpu, cpuacct, pids, blkio, freezer), and a process
is attached by writing it into every one of them. On this build machine the
runtime's memory cgroup is ``/process_api/<hash>`` while the others are ``/``:
the directories differ per hierarchy, which is why they are resolved one by one.

v1 has no "no internal processes" rule, so children of a cgroup that holds the
runtime itself are fine, and only root can write here (nothing delegates v1).
"""
from __future__ import annotations

import errno
import os
import time

from amcr.errors import KernelError
from amcr.kernel import cgroups as base

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.limits import Limits

#: The hierarchies amcr uses, in the order their directories are listed.
_ORDER = ("memory", "cpu", "cpuacct", "pids", "blkio", "freezer")


class V1Cgroup(base.Cgroup):
    """``amcr-<id>`` in every hierarchy; ``by_controller`` maps a controller to its dir."""

    version = 1

    def __init__(self, name: str, by_controller: dict[str, str]) -> None:
        dirs: dict[str, None] = {}
        for c in _ORDER:
            if c in by_controller:
                dirs[by_controller[c]] = None
        super().__init__(name, tuple(dirs))
        self.by_controller = by_controller
        mem, cpuacct = by_controller.get("memory"), by_controller.get("cpuacct")
        pids, blkio = by_controller.get("pids"), by_controller.get("blkio")
        # Paths precomputed: stats() runs once a second per container.
        self._f_cpu = cpuacct + "/cpuacct.usage" if cpuacct else None
        self._f_mem = mem + "/memory.usage_in_bytes" if mem else None
        self._f_peak = mem + "/memory.max_usage_in_bytes" if mem else None
        self._f_oom = mem + "/memory.oom_control" if mem else None
        self._f_pids = pids + "/pids.current" if pids else None
        self._f_io = blkio + "/blkio.throttle.io_service_bytes_recursive" if blkio else None

    def _need(self, controller: str, flag: str) -> str:
        d = self.by_controller.get(controller)
        if d is None:
            raise KernelError(f"{flag} needs the {controller} cgroup, which is not mounted",
                              hint="mount the cgroup v1 hierarchy or use cgroup v2")
        return d

    def _write(self, path: str, value: str) -> None:
        try:
            base.write_file(path, value)
        except OSError as exc:
            raise KernelError.from_oserror("write " + value + " to", exc, path) from exc

    def limit(self, limits: Limits) -> None:
        """memory.limit_in_bytes (+ memsw), cpu.cfs_period_us/quota_us, pids.max."""
        if limits.memory is not None:
            d = self._need("memory", "--memory")
            memsw = limits.memsw_total()
            swap_file = d + "/memory.memsw.limit_in_bytes"
            # Without swap accounting (swapaccount=0, or no swap support) there is
            # no memsw file; memory alone is still limited.
            has_swap = os.path.exists(swap_file)
            try:
                base.write_file(d + "/memory.limit_in_bytes", str(limits.memory))
                if has_swap and memsw is not None:
                    base.write_file(swap_file, str(memsw))
            except OSError as exc:
                # The kernel keeps memory <= memsw at every moment: when lowering
                # both, memsw must go first.
                if exc.errno != errno.EINVAL or not has_swap or memsw is None:
                    raise KernelError.from_oserror("set memory limit in", exc, d) from exc
                self._write(swap_file, str(memsw))
                self._write(d + "/memory.limit_in_bytes", str(limits.memory))
        if limits.cpus is not None:
            d = self._need("cpu", "--cpus")
            from amcr.limits import CPU_PERIOD_US
            self._write(d + "/cpu.cfs_period_us", str(CPU_PERIOD_US))
            self._write(d + "/cpu.cfs_quota_us", str(limits.cpu_quota(CPU_PERIOD_US)))
        if limits.pids is not None:
            d = self._need("pids", "--pids-limit")
            self._write(d + "/pids.max", str(limits.pids))

    def stats(self) -> base.Stats:
        """cpuacct.usage (ns), memory usage/max usage, oom_control, pids.current, blkio."""
        cpu_ns = base.read_int(self._f_cpu) if self._f_cpu else None
        oom = base.read_keyed(self._f_oom).get(b"oom_kill") if self._f_oom else None
        rd = wr = None
        if self._f_io:
            data = base.read_bytes(self._f_io)
            if data is not None:
                rd = wr = 0
                for line in data.splitlines():
                    parts = line.split()
                    if len(parts) == 3:
                        if parts[1] == b"Read":
                            rd += int(parts[2])
                        elif parts[1] == b"Write":
                            wr += int(parts[2])
        return base.Stats(
            cpu_usec=None if cpu_ns is None else cpu_ns // 1000,
            memory_current=base.read_int(self._f_mem) if self._f_mem else None,
            memory_peak=base.read_int(self._f_peak) if self._f_peak else None,
            pids_current=base.read_int(self._f_pids) if self._f_pids else None,
            oom_kills=oom, io_read_bytes=rd, io_write_bytes=wr, source="cgroup v1")

    def oom_kills(self) -> int:
        return (base.read_keyed(self._f_oom).get(b"oom_kill", 0) if self._f_oom else 0)

    def kill(self, timeout: float = 2.0) -> None:
        """Freeze, SIGKILL every process, thaw (v1 has no cgroup.kill).

        Frozen, nothing can fork between reading cgroup.procs and the kills;
        the kills take effect at the thaw. Without a freezer hierarchy, the
        read-and-kill round repeats until the cgroup is empty (pids.max bounds
        how many a fork bomb can make per round).
        """
        freezer = self.by_controller.get("freezer")
        frozen = False
        if freezer is not None and os.path.isdir(freezer):
            frozen = self._freeze(freezer)
        try:
            base.kill_rounds(self.procs, frozen, timeout)
        finally:
            if frozen and freezer is not None:
                try:
                    base.write_file(freezer + "/freezer.state", "THAWED")
                except OSError:
                    pass

    @staticmethod
    def _freeze(freezer: str) -> bool:
        """FROZEN, waited for (FREEZING lasts while a task sits in the kernel)."""
        try:
            base.write_file(freezer + "/freezer.state", "FROZEN")
        except OSError:
            return False
        deadline = time.monotonic() + 0.5
        while (base.read_bytes(freezer + "/freezer.state") or b"").strip() != b"FROZEN":
            if time.monotonic() >= deadline:
                return False     # fall back to repeated rounds; thawed in finally
            time.sleep(0.001)
        return True


class V1Backend(base.CgroupBackend):
    """The v1 hierarchies this process may create cgroups in (root only, in practice)."""

    version = 1

    def __init__(self, hierarchies: list[tuple[tuple[str, ...], str]], why: str) -> None:
        controllers = frozenset(c for cs, _ in hierarchies for c in cs)
        super().__init__(controllers & frozenset(base.LIMIT_CONTROLLERS), why)
        self.hierarchies = hierarchies      # [(controllers, our own cgroup dir)]

    def bases(self) -> tuple[str, ...]:
        return tuple(d for _, d in self.hierarchies)

    def cgroup(self, name: str) -> V1Cgroup:
        by: dict[str, str] = {}
        for cs, d in self.hierarchies:
            for c in cs:
                by[c] = d + "/" + name
        return V1Cgroup(name, by)

    def create(self, container_id: str) -> V1Cgroup:
        """mkdir ``amcr-<id>`` in every hierarchy; all or nothing."""
        name = base.cgroup_name(container_id)
        cg = self.cgroup(name)
        if any(os.path.isdir(d) for d in cg.dirs):
            if cg.procs():
                raise KernelError(f"cgroup {name} exists and has processes",
                                  hint="another container uses this id; see amcr gc")
            cg.remove()        # a leftover of a crash: start from fresh limits
        made: list[str] = []
        try:
            for d in cg.dirs:
                base.make_dir(d)
                made.append(d)
        except OSError as exc:
            for d in reversed(made):
                try:
                    base.remove_dir(d)
                except OSError:
                    pass
            raise KernelError.from_oserror("create cgroup", exc, exc.filename or cg.path,
                                           hint="amcr needs root for cgroup v1") from exc
        base._live.add(name)
        return cg


#: v1 hierarchies amcr uses: the limits, plus cpuacct (CPU time), blkio (I/O
#: bytes) and freezer (a kill that no fork can outrun).
CONTROLLERS = _ORDER


def find(mounts: list[tuple[str, str, str, tuple[str, ...]]], own: dict[str, str], root: str,
         notes: list[str]) -> V1Backend | None:
    """Our own cgroup's directory in each v1 hierarchy amcr uses, if writable."""
    found: list[tuple[tuple[str, ...], str]] = []
    seen: set[str] = set()
    for fstype, mountpoint, mroot, ctrls in mounts:
        mine = tuple(c for c in ctrls if c in CONTROLLERS)
        if fstype != "cgroup" or not mine or mountpoint in seen:
            continue
        seen.add(mountpoint)
        directory = base.join_path(mountpoint, mroot, own.get(mine[0], "/"))
        if directory is None:
            notes.append(f"own {mine[0]} cgroup is outside the mount at {mountpoint}")
        elif not os.access(root + directory, os.W_OK | os.X_OK):
            notes.append(f"cgroup v1 {mine[0]} at {directory} is not writable")
        else:
            found.append((mine, root + directory))
    have = [c for c in base.LIMIT_CONTROLLERS if any(c in cs for cs, _ in found)]
    if not have:
        return None
    return V1Backend(found, f"cgroup v1: {', '.join(have)} hierarchies below amcr's own cgroups")
