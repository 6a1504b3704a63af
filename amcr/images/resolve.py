"""Turn ``--image NAME`` / ``--rootfs DIR`` into a :class:`RootfsPlan`."""
from __future__ import annotations

import os

from amcr.errors import ImageError
from amcr.images import store
from amcr.images.plan import RootfsPlan


def resolve(image: str = "host", rootfs: str | None = None) -> RootfsPlan:
    if rootfs is not None:
        path = os.path.abspath(rootfs)
        if not os.path.exists(path):
            raise ImageError(f"rootfs {rootfs} does not exist",
                             hint="use --rootfs DIR with an unpacked root filesystem, "
                                  "or --image busybox")
        if not os.path.isdir(path):
            raise ImageError(f"rootfs {rootfs} is not a directory",
                             hint="use --rootfs DIR with an unpacked root filesystem, "
                                  "or amcr image import for a tarball")
        return RootfsPlan(image=path, lower=path)
    if image == "host":
        from amcr.images import host
        return host.plan()
    if image == "busybox":
        from amcr.images import busybox
        return busybox.plan()
    store.check_name(image)
    if not store.exists(image):
        raise ImageError(f"unknown image {image!r}",
                         hint="see amcr image ls; use host, busybox, or amcr image import")
    return RootfsPlan(image=image, lower=store.rootfs_of(image))
