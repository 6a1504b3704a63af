"""Per-container writable layers: ``<home>/containers/ID/{upper,work,merged}``.

The layer is an overlayfs upper directory; it is removed when the container
goes unless the user asked to keep it. A layer that is not kept lives in a
tmpfs that the container's PID 1 mounts on the layer directory in its own
mount namespace: on disk there is only the directory and its owner file
(docs/startup.md says why). A kept layer is on disk. Files written inside a
container with a subordinate-ID mapping are owned by IDs the user does not
hold, so removal first tries as the user and then, for what is left, from a
child that joins the container's user namespace, where those IDs are ours.
"""
from __future__ import annotations

import os

from amcr import paths
from amcr._record import Record
from amcr.fsutil import remove_tree


class Layer(Record):
    __slots__ = ("path",)
    path: str

    @property
    def upper(self) -> str:
        return os.path.join(self.path, "upper")

    @property
    def work(self) -> str:
        return os.path.join(self.path, "work")

    @property
    def merged(self) -> str:
        return os.path.join(self.path, "merged")


def new_id() -> str:
    return os.urandom(6).hex()


def create(container_id: str) -> Layer:
    """Make the layer's directory; the container's PID 1 fills it (on disk, or in a
    tmpfs of its own when the layer dies with it: :func:`amcr.init.rootfs.mount_root`)."""
    base = paths.ensure_dir(paths.containers_dir())
    layer = Layer(os.path.join(base, container_id))
    os.mkdir(layer.path, 0o700)
    return layer


def merged_only(container_id: str) -> Layer:
    """A layer with only a mount point, for --read-only containers."""
    base = paths.ensure_dir(paths.containers_dir())
    layer = Layer(os.path.join(base, container_id))
    os.mkdir(layer.path, 0o700)
    os.mkdir(layer.merged, 0o755)
    return layer


def remove(layer: Layer, userns_fd: int | None = None) -> None:
    """Delete the layer; fall back to the container's user namespace for foreign IDs."""
    try:
        remove_tree(layer.path)
        return
    except OSError:
        if userns_fd is None:
            raise
    _remove_in_userns(layer.path, userns_fd)


def keep(layer: Layer) -> str:
    """Keep only the writable upper directory; return its path."""
    for d in (layer.work, layer.merged):
        try:
            remove_tree(d)
        except OSError:
            pass
    return layer.upper


def _remove_in_userns(path: str, userns_fd: int) -> None:
    from amcr.kernel.namespaces import CLONE_NEWUSER, setns
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            setns(userns_fd, CLONE_NEWUSER)
            remove_tree(path)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        remove_tree(path)   # raises with the real reason
