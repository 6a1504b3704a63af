"""Which cgroup layout this host has, and whether the caller could use it.

Read-only: this module parses /proc/self/mountinfo and /proc/self/cgroup and
looks at directory permissions; it never creates a cgroup, so ``amcr info``
can run it anywhere without leaving anything behind.

Three layouts exist in the wild:

* pure v2 (Debian 11+, Ubuntu 21.10+, Fedora 31+): one ``cgroup2`` mount at
  /sys/fs/cgroup, and /proc/self/cgroup has the single line ``0::/path``.
* hybrid (systemd's old default, and this build machine): v1 hierarchies such
  as /sys/fs/cgroup/memory hold the resource controllers, and a ``cgroup2``
  mount at /sys/fs/cgroup/unified holds whatever v1 did not claim (often
  nothing, or only hugetlb), so v2 cannot limit memory there.
* pure v1: only ``cgroup`` mounts.

A controller is bound to one hierarchy at a time, which is why the v2 probe
reports the controllers actually listed in ``cgroup.controllers`` instead of
assuming that a v2 mount means v2 limits.

Rootless use needs *delegation*: a directory in the hierarchy the caller may
create children in (systemd's ``user@UID.service`` is owned by the user on
v2). On v1 nothing is delegated by default, so in practice only root can.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

#: The controllers amcr limits with: memory (-m), cpu (--cpus), pids (--pids-limit).
WANTED = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class CgroupMount:
    """One cgroup filesystem from mountinfo."""

    fstype: str                    # "cgroup" (v1) or "cgroup2"
    mountpoint: str
    root: str                      # the hierarchy path mounted there (field 4)
    controllers: tuple[str, ...]   # v1: from the super options; v2: () (see cgroup.controllers)


@dataclass(frozen=True)
class V2Status:
    """The unified hierarchy as seen by the calling process."""

    mountpoint: str
    path: str                      # from the ``0::`` line of /proc/self/cgroup
    directory: str                 # mountpoint + path: the process's own cgroup
    controllers: tuple[str, ...]   # cgroup.controllers of that directory
    writable_dir: str              # where children could be created, "" if nowhere
    delegated: bool                # writable_dir is owned by the (non-root) caller

    @property
    def writable(self) -> bool:
        return bool(self.writable_dir)


@dataclass(frozen=True)
class V1Controller:
    """One v1 controller hierarchy and the caller's cgroup in it."""

    name: str
    mountpoint: str
    path: str                      # from /proc/self/cgroup
    directory: str                 # where the process's cgroup lives on disk
    writable: bool                 # the caller could mkdir a child cgroup there


@dataclass(frozen=True)
class CgroupLayout:
    """The whole picture: mode is "v2", "hybrid", "v1" or "none"."""

    mode: str
    v2: V2Status | None
    v1: tuple[V1Controller, ...]   # only the WANTED controllers that are mounted

    def v1_controller(self, name: str) -> V1Controller | None:
        return next((c for c in self.v1 if c.name == name), None)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts in a /proc/PID/mountinfo text (one parser:
    :func:`amcr.kernel.cgroups.cgroup_mounts`, which the start path uses)."""
    from amcr.kernel.cgroups import cgroup_mounts
    return [CgroupMount(*m) for m in cgroup_mounts(text)]


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/PID/cgroup as {controller: path}; the v2 line is under key "" (the
    start path's parser, :func:`amcr.kernel.cgroups.own_cgroups`)."""
    from amcr.kernel.cgroups import own_cgroups
    return own_cgroups(text)


def _join(mount: CgroupMount, path: str) -> str:
    """The directory of cgroup ``path`` under ``mount`` (its root may be a subtree)."""
    root = mount.root.rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    # "(deleted)"-style or out-of-namespace paths ("/../x") cannot be resolved.
    return os.path.normpath(mount.mountpoint + "/" + path.lstrip("/"))


def _can_create_in(directory: str) -> bool:
    """mkdir(2) needs write and search permission on the parent directory."""
    return os.path.isdir(directory) and os.access(directory, os.W_OK | os.X_OK)


def _v2_status(mount: CgroupMount, path: str, prefix: str, uid: int) -> V2Status:
    directory = _join(mount, path)
    try:
        with open(prefix + directory + "/cgroup.controllers", encoding="ascii") as f:
            controllers = tuple(f.read().split())
    except OSError:
        controllers = ()
    writable = ""
    # Our own cgroup first; else its parent, where a sibling could be made (a
    # delegated scope's parent is usually the user's app.slice or user@UID.service).
    for cand in (directory, os.path.dirname(directory)):
        if not (cand == mount.mountpoint or cand.startswith(mount.mountpoint.rstrip("/") + "/")):
            continue
        if _can_create_in(prefix + cand) and os.access(prefix + cand + "/cgroup.procs", os.W_OK):
            writable = cand
            break
    delegated = False
    if writable and uid != 0:
        try:
            delegated = os.stat(prefix + writable).st_uid == uid
        except OSError:
            delegated = False
    return V2Status(mount.mountpoint, path, directory, controllers, writable, delegated)


def probe(mountinfo: str | None = None, proc_cgroup: str | None = None, *, prefix: str = "",
          uid: int | None = None) -> CgroupLayout:
    """Detect the layout; tests pass fixture texts and a ``prefix`` (a fake root dir).

    Paths in the result are the host paths (without ``prefix``); ``prefix`` is
    only prepended when reading files or checking permissions.
    """
    if mountinfo is None:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            mountinfo = f.read()
    if proc_cgroup is None:
        try:
            with open("/proc/self/cgroup", encoding="utf-8", errors="replace") as f:
                proc_cgroup = f.read()
        except OSError:
            proc_cgroup = ""
    uid = os.getuid() if uid is None else uid
    prefix = prefix.rstrip("/")
    mounts = parse_mountinfo(mountinfo)
    paths = parse_proc_cgroup(proc_cgroup)

    v2: V2Status | None = None
    v2_mount = next((m for m in mounts if m.fstype == "cgroup2"), None)
    if v2_mount is not None:
        v2 = _v2_status(v2_mount, paths.get("", "/"), prefix, uid)

    v1: list[V1Controller] = []
    for name in WANTED:
        mount = next((m for m in mounts if m.fstype == "cgroup" and name in m.controllers), None)
        if mount is None:
            continue
        path = paths.get(name, "/")
        directory = _join(mount, path)
        v1.append(V1Controller(name, mount.mountpoint, path, directory,
                               _can_create_in(prefix + directory)))

    # A v1 mount with only a named hierarchy (name=systemd) limits nothing.
    has_v1 = any(m.fstype == "cgroup" and m.controllers for m in mounts)
    mode = ("hybrid" if has_v1 else "v2") if v2 is not None else ("v1" if has_v1 else "none")
    return CgroupLayout(mode, v2, tuple(v1))


_NO_CGROUP_FIX = ("run as root, or use systemd with cgroup v2 delegation "
                  "(systemd-run --user --scope -p Delegate=yes amcr ...); until then memory "
                  "limits fall back to RLIMIT_AS")


def assess(layout: CgroupLayout, user: str) -> list[tuple[str, bool, str, str]]:
    """What the layout means for ``amcr info``: (name, usable, detail, fix) per version.

    A v2 line is given when cgroup2 is mounted, a v1 line when v1 controllers
    are (or when nothing is); when neither is usable, the last line carries
    the general fix and says what amcr falls back to.
    """
    out: list[tuple[str, bool, str, str]] = []
    v2_ok = v1_ok = False
    if layout.v2 is not None:
        v2 = layout.v2
        wanted = [c for c in WANTED if c in v2.controllers]
        v2_ok = v2.writable and bool(wanted)
        if v2_ok:
            how = f"delegated to {user}" if v2.delegated else "writable"
            out.append(("cgroup v2", True, f"{', '.join(wanted)} at {v2.writable_dir}, {how}", ""))
        elif not wanted:
            have = " ".join(v2.controllers) or "no controller"
            fix = ("the others are bound to cgroup v1: boot with "
                   "systemd.unified_cgroup_hierarchy=1 for pure v2" if layout.mode == "hybrid"
                   else "enable memory, cpu, pids in the parent's cgroup.subtree_control")
            out.append(("cgroup v2", False, f"only {have} enabled at {v2.directory}", fix))
        else:
            out.append(("cgroup v2", False,
                        f"{', '.join(wanted)} at {v2.directory}, not writable by {user}",
                        "systemd-run --user --scope -p Delegate=yes amcr ..., or run as root"))
    if layout.v1 or layout.v2 is None:
        ok = [c.name for c in layout.v1 if c.writable]
        not_ok = [c.name for c in layout.v1 if not c.writable]
        v1_ok = bool(ok)
        if not layout.v1:
            out.append(("cgroup v1", False, "no cgroup controller mounted",
                        "mount cgroup2 at /sys/fs/cgroup"))
        elif v1_ok:
            detail = f"{', '.join(ok)} mounted, writable"
            out.append(("cgroup v1", True, detail + (f" ({', '.join(not_ok)} not)" if not_ok
                                                     else ""), ""))
        else:
            out.append(("cgroup v1", False,
                        f"{', '.join(not_ok)} mounted, not writable by {user}", "run as root"))
    if out and not (v1_ok or v2_ok):
        name, _, detail, _ = out[-1]
        out[-1] = (name, False, detail, _NO_CGROUP_FIX)
    return out
