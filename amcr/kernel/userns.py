"""User-namespace ID maps: the single self-written map, or a subuid range.

An unprivileged process may write its own uid_map with exactly one line that
maps its own uid, and only after denying setgroups(2). A wider map (0 -> uid,
1..65536 -> a subordinate range) needs the setuid helpers newuidmap/newgidmap,
which check /etc/subuid and /etc/subgid for us; that is how podman does it.
"""
from __future__ import annotations

import os
import pwd
from amcr._record import Record

SUBID_COUNT = 65536


class IdRange(Record):
    """``count`` IDs starting at ``start`` on the host, from /etc/subuid or /etc/subgid."""

    __slots__ = ("start", "count")
    start: int
    count: int


class IdMapping(Record):
    """How IDs inside map to the host: lines of (inside, outside, count)."""

    __slots__ = ("uid_lines", "gid_lines", "helper", "reason", "by_parent")
    _defaults = {"by_parent": False}
    uid_lines: tuple[tuple[int, int, int], ...]
    gid_lines: tuple[tuple[int, int, int], ...]
    helper: bool          # True: newuidmap/newgidmap write it; False: written directly
    reason: str           # why this mapping was chosen (shown by ``amcr info``)
    by_parent: bool       # the parent writes it (helper, or we are root)

    @property
    def size(self) -> int:
        return sum(n for _, _, n in self.uid_lines)


def _subid_range(path: str, uid: int, name: str) -> IdRange | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) != 3 or parts[0] not in (name, str(uid)):
                    continue
                start, count = int(parts[1]), int(parts[2])
                if count >= 1:
                    return IdRange(start, count)
    except (OSError, ValueError):
        return None
    return None


def _which(tool: str) -> str | None:
    """shutil.which without importing shutil (start-up time)."""
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        path = os.path.join(d or ".", tool)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def format_map(lines: tuple[tuple[int, int, int], ...]) -> str:
    return "".join(f"{a} {b} {c}\n" for a, b, c in lines)


def map_texts(mapping: IdMapping) -> tuple[bytes, bytes]:
    """What ``uid_map`` and ``gid_map`` get for ``mapping``."""
    return format_map(mapping.uid_lines).encode(), format_map(mapping.gid_lines).encode()


def choose_mapping(uid: int | None = None, gid: int | None = None) -> IdMapping:
    """Pick the widest mapping this user can have here, and say why."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    if uid == 0:
        ident = ((0, 0, SUBID_COUNT),)
        return IdMapping(ident, ident, helper=False, by_parent=True,
                         reason="running as root: IDs 0-65535 map to themselves")
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    single = IdMapping(((0, uid, 1),), ((0, gid, 1),), helper=False, reason="")
    sub_u = _subid_range("/etc/subuid", uid, name)
    sub_g = _subid_range("/etc/subgid", uid, name)
    if sub_u is None or sub_g is None:
        missing = "/etc/subuid" if sub_u is None else "/etc/subgid"
        return IdMapping(single.uid_lines, single.gid_lines, False,
                         f"{missing} grants {name} no range: only uid 0 exists inside "
                         f"(run: sudo usermod --add-subuids 100000-165535 "
                         f"--add-subgids 100000-165535 {name})")
    if not (_which("newuidmap") and _which("newgidmap")):
        return IdMapping(single.uid_lines, single.gid_lines, False,
                         "newuidmap/newgidmap not installed: only uid 0 exists inside "
                         "(install the uidmap package)")
    n_u = min(sub_u.count, SUBID_COUNT)
    n_g = min(sub_g.count, SUBID_COUNT)
    return IdMapping(((0, uid, 1), (1, sub_u.start, n_u)), ((0, gid, 1), (1, sub_g.start, n_g)),
                     helper=True, by_parent=True,
                     reason=f"{name} has subordinate IDs: {n_u + 1} uids map inside "
                            f"(0 -> {uid}, 1-{n_u} -> {sub_u.start}-{sub_u.start + n_u - 1})")


def write_self_map(mapping: IdMapping) -> None:
    """Child side, in its new user namespace: write our own single map."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(format_map(mapping.uid_lines))
    with open("/proc/self/gid_map", "w") as f:
        f.write(format_map(mapping.gid_lines))


def write_map_for(pid: int, mapping: IdMapping) -> None:
    """Parent side: map ``pid``'s new user namespace (newuidmap, or directly as root)."""
    if mapping.helper:
        # Both helpers at once: each is a setuid exec of a few ms.
        _run_helpers([[tool, str(pid)] + [str(x) for line in lines for x in line]
                      for tool, lines in (("newuidmap", mapping.uid_lines),
                                          ("newgidmap", mapping.gid_lines))])
        return
    write_map_text(pid, *map_texts(mapping))


def write_map_text(pid: int, uid_map: bytes, gid_map: bytes) -> None:
    """Write ``pid``'s maps directly (root, or every capability in its parent namespace)."""
    for name, text in (("uid_map", uid_map), ("gid_map", gid_map)):
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text)
        finally:
            os.close(fd)


def _run_helpers(commands: list[list[str]]) -> None:
    """Run the setuid map helpers concurrently; posix_spawn, as subprocess costs ms to import."""
    running = []
    for args in commands:
        r, w = os.pipe()
        try:
            pid = os.posix_spawnp(args[0], args, os.environ,
                                  file_actions=[(os.POSIX_SPAWN_DUP2, w, 2),
                                                (os.POSIX_SPAWN_CLOSE, r)])
        except OSError:
            os.close(r)
            raise
        finally:
            os.close(w)
        running.append((args[0], pid, r))
    failures = []
    for tool, pid, r in running:
        with os.fdopen(r, "rb") as f:
            err = f.read().decode(errors="replace").strip()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            failures.append(f"{tool} failed: {err or status}")
    if failures:
        raise OSError(1, "; ".join(failures))


def needs_parent(mapping: IdMapping) -> bool:
    """True when the parent, not the child, must write the map.

    Decided in the parent: after unshare the child's uid reads as the overflow
    uid until the map exists.
    """
    return mapping.by_parent
