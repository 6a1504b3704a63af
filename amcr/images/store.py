"""The image store: one directory per image, ``<home>/images/NAME/rootfs``.

Images are built into a temporary sibling directory and renamed into place, so
two containers starting at once never see a half-built image.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

from amcr import paths
from amcr.errors import ImageError
from amcr.fsutil import remove_tree
from amcr.validate import is_name

BUILTIN = ("host", "busybox")


def check_name(name: str) -> None:
    if not is_name(name, lowercase=True):
        raise ImageError(f"invalid image name {name!r}",
                         hint="use lowercase letters, digits, '_', '.', '-'")


def image_dir(name: str) -> str:
    return os.path.join(paths.images_dir(), name)


def rootfs_of(name: str) -> str:
    return os.path.join(image_dir(name), "rootfs")


def exists(name: str) -> bool:
    return os.path.isdir(rootfs_of(name))


def build_atomically(name: str, build: Callable[[str], None]) -> str:
    """Run ``build(tmp_rootfs)`` and publish the result as image ``name``."""
    import tempfile
    parent = paths.ensure_dir(paths.images_dir())
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=parent)
    try:
        os.chmod(tmp, 0o755)
        rootfs = os.path.join(tmp, "rootfs")
        os.mkdir(rootfs, 0o755)
        build(rootfs)
        try:
            os.rename(tmp, image_dir(name))
        except OSError:
            if not exists(name):   # not "someone else won the race"
                raise
    finally:
        if os.path.exists(tmp):
            remove_tree(tmp)
    return rootfs_of(name)


def names() -> list[str]:
    try:
        entries = os.listdir(paths.images_dir())
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if not e.startswith(".") and exists(e))


def size_of(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def remove(name: str) -> None:
    check_name(name)
    if not exists(name):
        raise ImageError(f"no image named {name!r}", hint="see: amcr image ls")
    remove_tree(image_dir(name))
