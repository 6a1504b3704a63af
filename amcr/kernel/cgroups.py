"""Cgroups: one interface (create, limit, attach, stats, kill, remove) over v1 and v2.

Which implementation a host gets is decided by :func:`choose`:

* as root: cgroup v2 when memory, cpu and pids are all available in the
  unified hierarchy, else the v1 hierarchies (this build machine: hybrid,
  v1 holds memory/cpu/pids and v2 only hugetlb);
* rootless: only a *delegated* v2 subtree (a directory the user owns, as
  systemd gives ``user@UID.service`` and ``Delegate=yes`` scopes); v1 cannot be
  delegated safely. Otherwise there is no backend and :func:`choose` says why
  and how to get one; memory then falls back to RLIMIT_AS (:mod:`amcr.limits`).

Every container cgroup is ``amcr-<id>`` directly below the runtime's own
cgroup, never elsewhere: that is the subtree the runtime was given (by
systemd, by a container manager, or by root), so limits nest inside the
limits the runtime itself runs under and cleaning up never touches anything
of anybody else. v2's "no internal processes" rule has its own layout, see
:mod:`amcr.kernel.cgroups_v2`.

This module sits on the start path, so it parses /proc itself instead of
importing :mod:`amcr.kernel.cgroups_probe` (which costs ~7 ms of dataclasses
and stays the read-only reporter for ``amcr info``); a unit test checks both
parse alike. Control files are read with bare ``os.open``/``os.read``: the
stats sampler reads six of them per container per second.
"""
from __future__ import annotations

import errno
import os
import time

from amcr._record import Record
from amcr.errors import KernelError
from amcr.kernel.signals import SIGKILL

TYPE_CHECKING = False   # the typing module costs milliseconds; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from amcr.limits import Limits

#: Container cgroups are named PREFIX + container id; ``amcr gc`` looks for it.
PREFIX = "amcr-"
#: The v2 leaf that takes the processes of the runtime's own cgroup (see cgroups_v2).
RUNTIME_LEAF = "amcr.runtime"
#: What amcr limits with (--memory, --cpus, --pids-limit).
LIMIT_CONTROLLERS = ("memory", "cpu", "pids")
#: A leftover younger than this may be a cgroup another runtime just made and
#: has not attached its container to yet; ``amcr gc`` leaves it alone.
GC_MIN_AGE = 10.0

_HOW = ("to get --memory, --cpus and --pids-limit run as root, or on a cgroup v2 host start amcr "
        "in a delegated systemd scope: systemd-run --user --scope -p Delegate=yes amcr ...; "
        "until then --memory falls back to RLIMIT_AS")


class Stats(Record):
    """One sample of a container's resource use; None where the source has no value.

    ``source`` names where the numbers come from ("cgroup v1", "cgroup v2", or
    "process tree" for the psutil fallback) because they differ in meaning:
    cgroup memory includes the page cache the container caused, a process
    tree's RSS does not.
    """

    __slots__ = ("cpu_usec", "memory_current", "memory_peak", "pids_current", "oom_kills",
                 "io_read_bytes", "io_write_bytes", "source")
    _defaults = {"cpu_usec": None, "memory_current": None, "memory_peak": None,
                 "pids_current": None, "oom_kills": None, "io_read_bytes": None,
                 "io_write_bytes": None, "source": ""}
    cpu_usec: int | None
    memory_current: int | None
    memory_peak: int | None
    pids_current: int | None
    oom_kills: int | None
    io_read_bytes: int | None
    io_write_bytes: int | None
    source: str


# --- file protocol: every cgroupfs access goes through these (tests replace them) ---

def read_bytes(path: str) -> bytes | None:
    """The whole file, or None if it is missing or unreadable (e.g. cgroup gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 65536)
        if len(data) == 65536:       # rare: io.stat on a host with many devices
            chunks = [data]
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def read_int(path: str) -> int | None:
    """A one-number file; ``max`` (v2 "no limit") reads as -1."""
    data = read_bytes(path)
    if data is None:
        return None
    data = data.strip()
    if data == b"max":
        return -1
    try:
        return int(data)
    except ValueError:
        return None


def read_keyed(path: str) -> dict[bytes, int]:
    """``key value`` lines (cpu.stat, memory.events, memory.oom_control)."""
    out: dict[bytes, int] = {}
    for line in (read_bytes(path) or b"").splitlines():
        key, _, value = line.partition(b" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def write_file(path: str, text: str) -> None:
    """One write(2), as the kernel wants it; raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def make_dir(path: str) -> None:
    """mkdir(2) of a cgroup: the kernel fills it with its control files."""
    os.mkdir(path, 0o755)


def remove_dir(path: str) -> None:
    """rmdir(2) of a cgroup: works while it holds control files, not processes."""
    os.rmdir(path)


def read_pids(path: str) -> list[int]:
    """The PIDs in a ``cgroup.procs`` file ([] when the cgroup is gone)."""
    return [int(p) for p in (read_bytes(path) or b"").split()]


# --- layout: which hierarchies exist and where the caller's cgroup is ---

def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline, backslash as ``\\040``-style octal."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def cgroup_mounts(mountinfo: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(fstype, mountpoint, root, v1 controllers) of each cgroup/cgroup2 mount.

    Same rules as :func:`cgroups_probe.parse_mountinfo` (tested to agree):
    v1 controllers are the super options that are not mount options.
    """
    out = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        tail = right.split()
        if not tail or tail[0] not in ("cgroup", "cgroup2"):
            continue
        fields = left.split()
        if len(fields) < 5:
            continue
        ctrls: tuple[str, ...] = ()
        if tail[0] == "cgroup" and len(tail) >= 3:
            ctrls = tuple(o for o in tail[2].split(",")
                          if o not in _NOT_CONTROLLERS and "=" not in o)
        out.append((tail[0], _unescape(fields[4]), _unescape(fields[3]), ctrls))
    return out


_NOT_CONTROLLERS = frozenset((
    "rw", "ro", "noprefix", "clone_children", "xattr", "nsdelegate", "cpuset_v2_mode",
    "favordynmods", "memory_localevents", "memory_recursiveprot", "memory_hugetlb_accounting"))


def own_cgroups(proc_cgroup: str) -> dict[str, str]:
    """/proc/self/cgroup as {controller: path}; the v2 line is under ``""``."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if not parts[1]:
            paths[""] = parts[2]
        for c in parts[1].split(","):
            if c:
                paths.setdefault(c, parts[2])
    return paths


def join_path(mountpoint: str, root: str, path: str) -> str | None:
    """The directory of cgroup ``path`` under a mount of hierarchy subtree ``root``.

    None when the path is outside what is mounted (``/..`` in a cgroup
    namespace, or a mount of another subtree): creating "below our own
    cgroup" is then impossible, and guessing would put cgroups elsewhere.
    """
    root = root.rstrip("/")
    if root:
        if path == root or path.startswith(root + "/"):
            path = path[len(root):]
        else:
            return None
    if path.startswith("/..") or "/../" in path + "/" or " (deleted)" in path:
        return None
    return os.path.normpath(mountpoint + "/" + path.lstrip("/"))


# --- the interface ---

class Cgroup:
    """One container's cgroup: a directory per hierarchy (v1) or one directory (v2).

    Made by :meth:`CgroupBackend.create`; the owner calls :meth:`remove` when
    the container goes (also usable as a context manager, which removes).
    """

    version = 0

    def __init__(self, name: str, dirs: tuple[str, ...]) -> None:
        self.name = name
        self.dirs = dirs               # distinct directories, the primary one first

    @property
    def path(self) -> str:
        return self.dirs[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} v{self.version} {self.path}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # what v1 and v2 do alike
    def procs(self) -> list[int]:
        """Every process in the cgroup (union over hierarchies on v1)."""
        seen: dict[int, None] = {}
        for d in self.dirs:
            for pid in read_pids(d + "/cgroup.procs"):
                seen[pid] = None
        return list(seen)

    def attach(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the cgroup, in every hierarchy.

        The start path uses :meth:`open_procs` + :func:`join` instead, so the
        container's first process moves itself before it can run anything.
        """
        for d in self.dirs:
            try:
                write_file(d + "/cgroup.procs", str(pid))
            except OSError as exc:
                raise KernelError.from_oserror("attach to cgroup", exc, d,
                                               hint=f"pid {pid}") from exc

    def open_procs(self) -> list[int]:
        """Write ends of every ``cgroup.procs``, opened by the parent before fork.

        Opening early reports a missing or unwritable cgroup in the parent as a
        clear error; the child then only writes ``0`` ("myself") into each
        (:func:`join`). The descriptors are close-on-exec; close them in the
        parent after fork.
        """
        fds: list[int] = []
        try:
            for d in self.dirs:
                fds.append(os.open(d + "/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise KernelError.from_oserror("open", exc, exc.filename or self.path) from exc
        return fds

    def wait_empty(self, timeout: float = 2.0) -> bool:
        """Poll until no process is left (they may take a moment to exit)."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        while self.procs():
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def remove(self, timeout: float = 2.0) -> None:
        """Kill what is left, then rmdir every directory; never leaves one silently.

        rmdir fails with EBUSY while a dying process is still accounted, so it
        is retried until ``timeout``. A directory already gone (``amcr gc`` of
        another runtime) counts as removed. Raises KernelError if one stays.
        """
        if self.procs():
            self.kill()
        deadline = time.monotonic() + timeout
        self.wait_empty(timeout)
        failed: list[tuple[str, OSError]] = []
        # The primary directory goes last: if we die half-way, it is still there
        # for collect_leftovers, which looks for leftovers in the primary base only.
        for d in reversed(self.dirs):
            delay = 0.001
            while True:
                try:
                    _remove_tree(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                        failed.append((d, exc))
                        break
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
        _live.discard(self.name)
        if failed:
            where, err = failed[0]
            raise KernelError.from_oserror(
                "remove cgroup", err, where,
                hint="a process is still in it; amcr gc removes it once it is gone") from err

    # per version
    def limit(self, limits: Limits) -> None:
        """Write the limits of an :class:`amcr.limits.Limits` (None fields untouched)."""
        raise NotImplementedError

    def stats(self) -> Stats:
        raise NotImplementedError

    def kill(self, timeout: float = 2.0) -> None:
        """SIGKILL every process, also ones forked meanwhile (at most ``timeout`` s)."""
        raise NotImplementedError

    def oom_kills(self) -> int:
        """OOM kills so far (cheaper than :meth:`stats` for the exit path)."""
        return self.stats().oom_kills or 0


def _remove_tree(path: str) -> None:
    """rmdir ``path`` after its child cgroups (a container may have made some)."""
    try:
        with os.scandir(path) as it:
            subdirs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        raise
    except OSError:
        subdirs = []
    for sub in subdirs:
        try:
            _remove_tree(sub)
        except FileNotFoundError:
            pass
    remove_dir(path)


#: Names this process created and has not removed: never garbage to collect.
_live: set[str] = set()


def cgroup_name(container_id: str) -> str:
    """``amcr-<id>``; the id must be one path component of safe characters."""
    ok = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    if (not container_id or len(container_id) > 128 or container_id[0] == "."
            or not all(c in ok for c in container_id)):
        raise KernelError(f"invalid container id {container_id!r} for a cgroup name",
                          hint="use letters, digits, '_', '.', '-'")
    return PREFIX + container_id


class CgroupBackend:
    """Creates container cgroups below the runtime's own cgroup(s)."""

    version = 0

    def __init__(self, controllers: frozenset[str], why: str) -> None:
        self.controllers = controllers   # what limit() can enforce, of LIMIT_CONTROLLERS
        self.why = why                   # one line for amcr info and messages

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {sorted(self.controllers)}: {self.why}>"

    @property
    def source(self) -> str:
        return f"cgroup v{self.version}"

    def bases(self) -> tuple[str, ...]:
        """The directories container cgroups are created in."""
        raise NotImplementedError

    def create(self, container_id: str) -> Cgroup:
        raise NotImplementedError

    def cgroup(self, name: str) -> Cgroup:
        """The cgroup called ``name`` below our own (it need not exist)."""
        raise NotImplementedError

    def open(self, container_id: str) -> Cgroup:
        """The cgroup of a container made earlier (e.g. by a crashed runtime)."""
        return self.cgroup(cgroup_name(container_id))

    def collect_leftovers(self, prefix: str = PREFIX, min_age: float = GC_MIN_AGE) -> list[str]:
        """Remove ``prefix*`` cgroups with no process left; returns the names removed.

        Skips cgroups this process still owns and ones younger than ``min_age``
        (kernfs gives a cgroup directory its creation time as mtime), which
        another runtime may have just made for a container it is starting.
        Cgroups that still hold processes (a container orphaned by a crash)
        are left; ``amcr gc`` reports them.
        """
        now = time.time()
        # Only the primary base (v1: memory) is scanned: on v1 other hierarchies'
        # bases may be shared with runtimes whose memory cgroup differs (this build
        # machine: cpu and pids at "/"), and their containers are not ours to judge.
        try:
            with os.scandir(self.bases()[0]) as it:
                names = {e.name for e in it
                         if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)}
        except OSError:
            return []
        removed = []
        for name in sorted(names - _live):
            cg = self.cgroup(name)
            try:   # min_age 0 means "any age": kernfs times may run a tick ahead of ours
                young = min_age > 0 and any(now - os.stat(d).st_mtime < min_age
                                            for d in cg.dirs if os.path.isdir(d))
            except OSError:
                continue
            if young or cg.procs():
                continue
            try:
                cg.remove(timeout=0.5)
            except KernelError:
                continue
            removed.append(name)
        return removed


class Choice(Record):
    """The outcome of :func:`choose`: a backend or None, and why, in one line."""

    __slots__ = ("backend", "why")
    backend: CgroupBackend | None
    why: str


def read_text(path: str) -> str:
    data = read_bytes(path)
    return data.decode("utf-8", "replace") if data is not None else ""


def choose(uid: int | None = None, *, mountinfo: str | None = None,
           proc_cgroup: str | None = None, root: str = "", prefer: int | None = None
           ) -> Choice:
    """Pick the cgroup implementation for this process; inspects, changes nothing.

    ``prefer`` (1 or 2) considers only that version (tests of each, and a
    way to rule one out). ``mountinfo``/``proc_cgroup``/``root`` let tests
    describe a fake host: ``root`` is prepended to every path, so backends
    work on a tree under it.
    """
    from amcr.kernel import cgroups_v1, cgroups_v2   # here: only choose() needs both
    uid = os.geteuid() if uid is None else uid
    if mountinfo is None:
        mountinfo = read_text("/proc/self/mountinfo")
    if proc_cgroup is None:
        proc_cgroup = read_text("/proc/self/cgroup")
    root = root.rstrip("/")
    mounts = cgroup_mounts(mountinfo)
    own = own_cgroups(proc_cgroup)
    notes: list[str] = []        # why each candidate was ruled out, for the message
    wanted = frozenset(LIMIT_CONTROLLERS)

    v2 = cgroups_v2.find(mounts, own, root, uid, notes) if prefer != 1 else None
    if uid == 0:
        if v2 is not None and wanted <= v2.controllers:
            return Choice(v2, v2.why)
        v1 = cgroups_v1.find(mounts, own, root, notes) if prefer != 2 else None
        if v1 is not None:
            if v2 is not None:
                notes.append(f"cgroup v2 has only {', '.join(sorted(v2.controllers))}")
            if notes:
                v1.why += f" ({'; '.join(notes)})"
            return Choice(v1, v1.why)
        if v2 is not None:
            return Choice(v2, v2.why)
        reason = "; ".join(notes) or "no cgroup hierarchy is mounted"
        hybrid = any(fs == "cgroup" and ctrls for fs, _, _, ctrls in mounts)
        fix = ("boot with systemd.unified_cgroup_hierarchy=1 for pure cgroup v2" if hybrid
               else "mount cgroup2 at /sys/fs/cgroup")
        return Choice(None, f"no usable cgroup: {reason} ({fix})")
    if v2 is not None:
        return Choice(v2, v2.why)
    if any(fs == "cgroup" and ctrls for fs, _, _, ctrls in mounts):
        notes.append("cgroup v1 cannot be delegated to a user")
    reason = "; ".join(notes) or "no cgroup hierarchy is mounted"
    return Choice(None, f"no cgroup amcr can use as uid {uid}: {reason}; {_HOW}")


def select_backend(uid: int | None = None) -> CgroupBackend | None:
    """The backend for this host and user, or None (:func:`choose` says why)."""
    return choose(uid).backend


def collect_leftovers(prefix: str = PREFIX, min_age: float = GC_MIN_AGE) -> list[str]:
    """For ``amcr gc`` and runtime start: remove our cgroups whose processes are gone."""
    backend = select_backend()
    return backend.collect_leftovers(prefix, min_age) if backend is not None else []


def join(fds: list[int] | tuple[int, ...]) -> None:
    """Child side, first thing after fork: move myself into the container's cgroup.

    Writing ``0`` to ``cgroup.procs`` moves the writer. It must happen before
    ``unshare(CLONE_NEWCGROUP)`` (the namespace's root is the cgroup at that
    moment) and before anything the limits should cover; everything forked
    afterwards, PID 1 included, inherits the cgroup. Raises OSError.
    """
    for fd in fds:
        os.write(fd, b"0")


def kill_rounds(procs: Callable[[], list[int]], frozen: bool, timeout: float) -> None:
    """SIGKILL every member; repeat until empty, unless frozen (then nothing forks
    between the read and the kills, and one round is enough)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = procs()
        for pid in pids:
            try:
                os.kill(pid, SIGKILL)
            except ProcessLookupError:
                pass
        if frozen or not pids or time.monotonic() >= deadline:
            return
        time.sleep(0.001)
