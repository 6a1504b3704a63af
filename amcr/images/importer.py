"""``amcr image import TARBALL NAME``: an unpacked root filesystem from a tarball."""
from __future__ import annotations

import os

from amcr.errors import ImageError
from amcr.images import store
from amcr.images.tarsafe import ExtractReport, extract


def import_tarball(tarball: str, name: str) -> ExtractReport:
    store.check_name(name)
    if name in store.BUILTIN:
        raise ImageError(f"{name} is a built-in image name", hint="pick another name")
    if store.exists(name):
        raise ImageError(f"image {name} already exists", hint=f"amcr image rm {name} first")
    if not os.path.isfile(tarball):
        raise ImageError(f"{tarball} does not exist or is not a file",
                         hint="pass a rootfs tarball such as alpine-minirootfs-*.tar.gz")
    result: list[ExtractReport] = []

    def build(rootfs: str) -> None:
        result.append(extract(tarball, rootfs, rootless=os.getuid() != 0))
        for d in ("proc", "sys", "dev", "tmp"):   # mount points the runtime needs
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)

    store.build_atomically(name, build)
    return result[0]
