"""Resolve a path inside a root directory without ever leaving it.

A bind-mount target inside an image must not follow the image's symlinks out
to the host (``/data -> /etc`` would mount over the host's /etc path); this is
what runc's securejoin does: walk component by component, and resolve each
symlink as if the root were ``/``.
"""
from __future__ import annotations

import os
import stat

_MAX_LINKS = 40


def join(root: str, path: str) -> str:
    """``root/path`` with every symlink resolved inside ``root``."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise OSError(40, "too many levels of symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return os.path.join(root, *done)


def mkdirs(root: str, path: str, mode: int = 0o755) -> str:
    """Create ``path`` inside ``root`` (safely) and return the host path."""
    full = join(root, path)
    os.makedirs(full, mode=mode, exist_ok=True)
    return full


def touch(root: str, path: str) -> str:
    """Make sure a file exists at ``path`` inside ``root`` (a bind target for a file)."""
    full = join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if not os.path.lexists(full):
        os.close(os.open(full, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
    return full
