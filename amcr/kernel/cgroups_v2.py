"""cgroup v2: one tree, one directory per container, and the "no internal processes" rule.

A v2 cgroup can hand controllers to its children (``cgroup.subtree_control``)
only while it holds no processes itself (the root is exempt). The runtime
runs *in* its own cgroup ``D``, so before the first container amcr turns D
into a pure inner node, the way docker-in-docker, podman's ``--cgroups=split``
and systemd's delegation rules describe::

    D/                       amcr enables memory cpu pids (io) here
    D/amcr.runtime/          every process that was in D: the runtime itself,
                             and whatever shared D with it (e.g. the shell)
    D/amcr-<id>/             one leaf per container, limits written here

Those processes stay inside D, the subtree they were given, so nothing they
were limited or accounted by changes. A later amcr started from that shell
finds itself in ``D/amcr.runtime`` and uses D again, instead of nesting
deeper every time. Only the first container pays for this (a few writes),
and only when D is not already prepared.
"""
from __future__ import annotations

import errno
import os

from amcr.errors import KernelError
from amcr.kernel import cgroups as base

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.limits import Limits


class V2Cgroup(base.Cgroup):
    """``D/amcr-<id>``: limits and stats are files in this one directory."""

    version = 2

    def __init__(self, name: str, directory: str) -> None:
        super().__init__(name, (directory,))
        d = directory
        self._f_cpu = d + "/cpu.stat"
        self._f_mem = d + "/memory.current"
        self._f_peak = d + "/memory.peak"        # kernel >= 5.19
        self._f_events = d + "/memory.events"
        self._f_pids = d + "/pids.current"
        self._f_io = d + "/io.stat"

    def _write(self, file: str, value: str, hint: str = "") -> None:
        path = self.path + "/" + file
        try:
            base.write_file(path, value)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EACCES) and not os.path.exists(path):
                hint = hint or ("its controller is not enabled in the parent's "
                                "cgroup.subtree_control")
            raise KernelError.from_oserror("write " + value + " to", exc, path, hint=hint) from exc

    def limit(self, limits: Limits) -> None:
        """memory.max, memory.swap.max, cpu.max, pids.max."""
        if limits.memory is not None:
            self._write("memory.max", str(limits.memory))
            swap = limits.swap_only()
            # No memory.swap.max without swap support: nothing to swap to, either.
            if swap is not None and os.path.exists(self.path + "/memory.swap.max"):
                self._write("memory.swap.max", "max" if swap == -1 else str(swap))
        if limits.cpus is not None:
            from amcr.limits import CPU_PERIOD_US
            self._write("cpu.max", f"{limits.cpu_quota(CPU_PERIOD_US)} {CPU_PERIOD_US}")
        if limits.pids is not None:
            self._write("pids.max", str(limits.pids))

    def stats(self) -> base.Stats:
        """cpu.stat usage_usec, memory.current/peak, memory.events oom_kill, pids, io.stat."""
        rd = wr = None
        data = base.read_bytes(self._f_io)
        if data is not None:
            rd = wr = 0
            for line in data.splitlines():
                for field in line.split()[1:]:
                    if field.startswith(b"rbytes="):
                        rd += int(field[7:])
                    elif field.startswith(b"wbytes="):
                        wr += int(field[7:])
        return base.Stats(
            cpu_usec=base.read_keyed(self._f_cpu).get(b"usage_usec"),
            memory_current=base.read_int(self._f_mem),
            memory_peak=base.read_int(self._f_peak),
            pids_current=base.read_int(self._f_pids),
            oom_kills=base.read_keyed(self._f_events).get(b"oom_kill"),
            io_read_bytes=rd, io_write_bytes=wr, source="cgroup v2")

    def oom_kills(self) -> int:
        return base.read_keyed(self._f_events).get(b"oom_kill", 0)

    def kill(self, timeout: float = 2.0) -> None:
        """cgroup.kill (kernel >= 5.14): the kernel kills every process, forks included.

        Older kernels: freeze (cgroup.freeze, >= 5.2; fatal signals still get
        through to frozen tasks on v2), SIGKILL each PID, thaw; without a
        freezer, repeat the rounds until the cgroup is empty.
        """
        kill_file = self.path + "/cgroup.kill"
        if os.path.exists(kill_file):
            try:
                base.write_file(kill_file, "1")
                return
            except OSError:
                pass
        freeze = self.path + "/cgroup.freeze"
        frozen = False
        if os.path.exists(freeze):
            try:
                base.write_file(freeze, "1")
                frozen = True
            except OSError:
                pass
        try:
            base.kill_rounds(self.procs, frozen, timeout)
        finally:
            if frozen:
                try:
                    base.write_file(freeze, "0")
                except OSError:
                    pass


class V2Backend(base.CgroupBackend):
    """Container cgroups in ``D`` (the runtime's own cgroup, or its delegated subtree)."""

    version = 2

    def __init__(self, directory: str, available: frozenset[str], why: str,
                 mountpoint: str = "") -> None:
        super().__init__(available & frozenset(base.LIMIT_CONTROLLERS), why)
        self.directory = directory
        self.mountpoint = mountpoint
        # io is enabled too when offered: it is what io.stat (I/O bytes) needs.
        self._enable: list[str] = [c for c in ("memory", "cpu", "pids", "io") if c in available]
        self._prepared = False

    def bases(self) -> tuple[str, ...]:
        return (self.directory,)

    def cgroup(self, name: str) -> V2Cgroup:
        return V2Cgroup(name, self.directory + "/" + name)

    def prepare(self) -> None:
        """Make D hand its controllers to children; moves D's processes to a leaf if needed.

        Idempotent and safe with several runtimes doing it at once: mkdir
        tolerates EEXIST, moving a PID that already moved is a no-op, and the
        subtree_control write is retried when a process slipped in meanwhile.
        """
        if self._prepared:
            return
        control = self.directory + "/cgroup.subtree_control"
        for _attempt in range(5):
            have = set((base.read_bytes(control) or b"").decode().split())
            todo = [c for c in self._enable if c not in have]
            if not todo:
                break
            try:
                base.write_file(control, " ".join("+" + c for c in todo))
                break
            except OSError as exc:
                if exc.errno == errno.EBUSY:
                    self._move_to_leaf()
                    continue
                self._enable_one_by_one(control, todo)
                break
        else:
            raise KernelError(f"cannot enable cgroup controllers in {self.directory}: "
                              "processes keep appearing in it",
                              hint="start amcr in a cgroup of its own "
                                   "(systemd-run --scope -p Delegate=yes amcr ...)")
        self._prepared = True

    def _enable_one_by_one(self, control: str, todo: list[str]) -> None:
        """One controller refused (e.g. cpu while a realtime task runs): keep the rest."""
        for c in todo:
            try:
                base.write_file(control, "+" + c)
            except OSError:
                self.controllers = self.controllers - {c}
                self.why += f" ({c} could not be enabled)"

    def _move_to_leaf(self) -> None:
        """Move every process of D into D/amcr.runtime (see the module docstring)."""
        leaf = self.directory + "/" + base.RUNTIME_LEAF
        try:
            base.make_dir(leaf)
        except FileExistsError:
            pass
        except OSError as exc:
            raise KernelError.from_oserror("create cgroup", exc, leaf) from exc
        for _round in range(10):
            pids = base.read_pids(self.directory + "/cgroup.procs")
            if not pids:
                return
            for pid in pids:
                try:
                    base.write_file(leaf + "/cgroup.procs", str(pid))
                except OSError as exc:
                    if exc.errno != errno.ESRCH:     # ESRCH: it exited meanwhile
                        raise KernelError.from_oserror(
                            "move process to", exc, leaf,
                            hint=f"pid {pid} shares amcr's cgroup; start amcr in a cgroup of "
                                 "its own (systemd-run --scope -p Delegate=yes amcr ...)") from exc

    def create(self, container_id: str) -> V2Cgroup:
        """mkdir ``D/amcr-<id>`` (after :meth:`prepare`)."""
        self.prepare()
        name = base.cgroup_name(container_id)
        cg = self.cgroup(name)
        if os.path.isdir(cg.path):
            if cg.procs():
                raise KernelError(f"cgroup {name} exists and has processes",
                                  hint="another container uses this id; see amcr gc")
            cg.remove()        # a leftover of a crash: start from fresh limits
        try:
            base.make_dir(cg.path)
        except OSError as exc:
            raise KernelError.from_oserror("create cgroup", exc, cg.path) from exc
        base._live.add(name)
        return cg


def find(mounts: list[tuple[str, str, str, tuple[str, ...]]], own: dict[str, str], root: str,
         uid: int, notes: list[str]) -> V2Backend | None:
    """A backend when we may create v2 cgroups below our own; else a note why not.

    Root needs a writable directory; anybody else needs one they *own*
    (delegation: systemd chowns user@UID.service and Delegate=yes scopes),
    because write access alone to a parent's files does not make it safe or
    allowed to move processes (the kernel checks the common ancestor too).
    """
    mount = next((m for m in mounts if m[0] == "cgroup2"), None)
    if mount is None:
        return None
    if "" not in own:
        notes.append("this process has no cgroup v2 path")
        return None
    directory = base.join_path(mount[1], mount[2], own[""])
    if directory is None:
        notes.append(f"own cgroup v2 {own['']} is outside the mount at {mount[1]}")
        return None
    if os.path.basename(directory) == base.RUNTIME_LEAF:
        directory = os.path.dirname(directory)   # we moved ourselves there: use D again
    path = root + directory
    controllers = frozenset(base.read_text(path + "/cgroup.controllers").split())
    wanted = [c for c in base.LIMIT_CONTROLLERS if c in controllers]
    if not wanted:
        have = " ".join(sorted(controllers)) or "no controller"
        hybrid = any(m[0] == "cgroup" and m[3] for m in mounts)
        notes.append(f"cgroup v2 at {directory} has only {have}"
                     + (", memory, cpu and pids are bound to cgroup v1" if hybrid else ""))
        return None
    writable = (os.access(path, os.W_OK | os.X_OK)
                and os.access(path + "/cgroup.procs", os.W_OK)
                and os.access(path + "/cgroup.subtree_control", os.W_OK))
    if uid == 0:
        if not writable:
            notes.append(f"cgroup v2 {directory} is not writable")
            return None
        why = f"cgroup v2: {', '.join(wanted)} at {directory}"
    else:
        try:
            owned = os.stat(path).st_uid == uid
        except OSError:
            owned = False
        if not (writable and owned):
            notes.append(f"cgroup v2 {directory} is not delegated to uid {uid}")
            return None
        why = f"delegated cgroup v2 subtree {directory}: {', '.join(wanted)}"
        missing = [c for c in base.LIMIT_CONTROLLERS if c not in controllers]
        if missing:
            why += (f" ({', '.join(missing)} not delegated: add it to Delegate= of "
                    "user@.service, e.g. Delegate=cpu cpuset io memory pids)")
    usable = controllers & frozenset(base.LIMIT_CONTROLLERS + ("io",))
    return V2Backend(path, usable, why, mountpoint=root + mount[1])
