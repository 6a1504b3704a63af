"""The ``busybox`` image: a root filesystem built from the host's static busybox."""
from __future__ import annotations

import os

from amcr.errors import ImageError
from amcr.images import store
from amcr.images.plan import RootfsPlan

_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
OS_RELEASE = 'NAME="BusyBox"\nID=busybox\nPRETTY_NAME="BusyBox (amcr image)"\n'


def _find_static() -> str:
    for path in _CANDIDATES:
        if os.path.isfile(path) and _is_static(path):
            return path
    raise ImageError("no static busybox on this host",
                     hint="install it: sudo apt-get install busybox-static")


def _is_static(path: str) -> bool:
    """An ELF with no PT_INTERP program header needs no shared libraries."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    return data[:4] == b"\x7fELF" and b"/lib64/ld-linux" not in data and b"/lib/ld-" not in data


def _build(rootfs: str) -> None:
    import shutil
    import subprocess

    from amcr.images import etc   # like the two above: only to build the image, once
    src = _find_static()
    etc_dir = etc.skeleton(rootfs)
    etc.write(etc_dir, "os-release", OS_RELEASE)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy2(src, os.path.join(rootfs, "bin/busybox"))
    listing = subprocess.run([src, "--list-full"], capture_output=True, text=True, check=True)
    for applet in listing.stdout.split():
        link = os.path.join(rootfs, applet)
        if applet != "bin/busybox" and not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("/bin/busybox", link)


def plan() -> RootfsPlan:
    lower = store.rootfs_of("busybox") if store.exists("busybox") else store.build_atomically(
        "busybox", _build)
    return RootfsPlan(image="busybox", lower=lower)
