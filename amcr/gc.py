"""``amcr gc``: remove the writable layers of containers whose runtime is gone.

A runtime that dies by SIGKILL takes its containers with it (parent-death
signal) but cannot remove their layers. Every layer directory holds an
``owner`` file flock'ed by its runtime (:mod:`amcr.runtime.owner`), so:

- lock held: live, leave it;
- lock free: its owner died, remove it;
- no owner file: a kept layer (``--keep`` leaves only ``upper``) stays. Any
  other was made by something that does not lock (an older amcr), is being
  created this instant, or lost its runtime before the lock: only ``amcr gc``
  removes those, and only when older than ``min_age`` and mounted by no
  process (a scan of /proc/*/mountinfo). A runtime's start never does.

It also removes the empty cgroups such a runtime left (``amcr.kernel.cgroups``).

Files that containers created under subordinate IDs are not ours to delete;
those are removed from a user namespace with the same mapping the containers
had, where they are (like ``podman unshare rm``).
"""
from __future__ import annotations

import os
import sys
import time

from amcr import paths
from amcr.errors import AmcrError
from amcr.fsutil import remove_tree
from amcr.runtime import owner

MIN_AGE = 60.0     # seconds: a lock-less layer younger than this may be mid-creation

_collected: set[str] = set()


def collect(*, min_age: float = MIN_AGE, dry_run: bool = False,
            lockless: bool = True) -> list[str]:
    """Remove dead layers under this AMCR_HOME; returns their paths.

    ``lockless=False`` leaves layers without an owner file alone (see above).
    """
    base = paths.containers_dir()
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return []
    removed = []
    now = time.time()
    mounted: set[str] | None = None
    for name in names:
        path = os.path.join(base, name)
        verdict = _verdict(path, now, min_age)
        if verdict == "lockless":
            if not lockless:
                continue
            if mounted is None:
                mounted = _mounted_layers(base)
            if path in mounted:
                continue
        elif verdict != "dead":
            continue
        if not dry_run:
            _remove(path)
        removed.append(path)
    return removed


def collect_cgroups() -> list[str]:
    """Empty ``amcr-*`` cgroups a dead runtime left (:mod:`amcr.kernel.cgroups` decides)."""
    try:
        from amcr.kernel import cgroups
        return list(cgroups.collect_leftovers())
    except (ImportError, AttributeError, OSError, AmcrError):
        return []     # no cgroup backend here, or nothing we may touch


def collect_once() -> list[str]:
    """At a Runtime's start: once per process and home (later layers are ours anyway)."""
    home = paths.home()
    if home in _collected:
        return []
    _collected.add(home)
    try:
        return collect(lockless=False) + collect_cgroups()
    except OSError:
        return []     # never let clean-up of the past stop the present


def _verdict(path: str, now: float, min_age: float) -> str:
    """``dead``, ``lockless`` (no owner file, old enough, not kept), or ``keep``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "keep"
    if not os.path.isdir(path) or os.path.islink(path):
        return "keep"
    found = owner.state(path)
    if found != "none":
        return "dead" if found == "dead" else "keep"
    if not (os.path.isdir(os.path.join(path, "work")) or
            os.path.isdir(os.path.join(path, "merged"))):
        return "keep"       # a kept layer: only upper/ is left, on purpose
    return "lockless" if now - st.st_mtime >= min_age else "keep"


def _mounted_layers(base: str) -> set[str]:
    """Layer directories some process (that we may look at) has mounted."""
    found: set[str] = set()
    prefix = (base.rstrip("/") + "/").encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/mountinfo", "rb") as f:
                text = f.read()
        except OSError:
            continue
        at = text.find(prefix)
        while at >= 0:
            end = text.find(b"/", at + len(prefix))
            found.add(text[at:end if end > 0 else None].decode(errors="replace"))
            at = text.find(prefix, at + 1)
    return found


def _remove(path: str) -> None:
    try:
        remove_tree(path)
        return
    except FileNotFoundError:
        return             # another gc got there first
    except PermissionError:
        pass
    from amcr.kernel import userns
    mapping = userns.choose_mapping()
    if not mapping.helper:
        remove_tree(path)  # raises with the real reason
        return
    _remove_in_new_userns(path, mapping)


def _remove_in_new_userns(path: str, mapping: object) -> None:
    """Delete from a fresh user namespace mapped like the containers' (subordinate IDs)."""
    from amcr.kernel import userns
    from amcr.kernel.namespaces import CLONE_NEWUSER, unshare
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            os.close(go_w)
            unshare(CLONE_NEWUSER)
            os.write(ready_w, b"u")
            if os.read(go_r, 1) == b"m":
                remove_tree(path)
                code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) == b"u":
            userns.write_map_for(pid, mapping)   # type: ignore[arg-type]
            os.write(go_w, b"m")
    finally:
        os.close(ready_r)
        os.close(go_w)
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        remove_tree(path)   # raises with the real reason


def main(argv: list[str]) -> int:
    """``amcr gc [--dry-run]``: one line per removed layer, then a summary."""
    dry_run = "--dry-run" in argv or "-n" in argv
    unknown = [a for a in argv if a not in ("--dry-run", "-n")]
    if unknown:
        sys.stderr.write(f"amcr: gc: unknown argument {unknown[0]!r} (usage: amcr gc "
                         "[--dry-run])\n")
        return 125
    removed = collect(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for path in removed:
        print(f"{verb} {path}")
    print(f"amcr gc: {verb} {len(removed)} layer(s) under {paths.containers_dir()}")
    if not dry_run:
        for name in collect_cgroups():
            print(f"removed cgroup {name}")
    return 0
