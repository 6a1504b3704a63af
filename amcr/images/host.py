"""The ``host`` image: the host's /usr, read-only, and a synthesized /etc.

No download: programs come from the host, but nothing of the host's identity
or secrets does (no shadow, no ssh keys, no real passwd). The image directory
holds only the synthesized files, the merged-usr links and mount points; /usr
(and /bin, /lib... where they are real directories) are bound at start.
"""
from __future__ import annotations

import os

from amcr.images import etc, store
from amcr.images.plan import RootfsPlan

#: top-level host directories that hold programs and libraries
_PROGRAM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: harmless host /etc entries programs need (linker cache, alternatives, shells)
_ETC_ALLOW = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "bash.bashrc",
              "profile", "inputrc", "localtime", "nsswitch.conf", "shells", "terminfo",
              "debian_version", "mime.types", "ssl/openssl.cnf")


def _build(rootfs: str) -> None:
    import shutil
    for d in _PROGRAM_DIRS:
        host = "/" + d
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(rootfs, d))
        elif os.path.isdir(host):
            os.mkdir(os.path.join(rootfs, d), 0o755)
    etc_dir = etc.skeleton(rootfs)
    for entry in _ETC_ALLOW:
        src = os.path.join("/etc", entry)
        dst = os.path.join(etc_dir, entry)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, dst, symlinks=True, ignore_dangling_symlinks=True)
        elif os.path.lexists(src):
            shutil.copy2(src, dst, follow_symlinks=False)
    os_release = "/etc/os-release" if os.path.exists("/etc/os-release") else "/usr/lib/os-release"
    with open(os_release, encoding="utf-8") as f:
        etc.write(etc_dir, "os-release", f.read())


def plan() -> RootfsPlan:
    lower = store.rootfs_of("host") if store.exists("host") else store.build_atomically("host", _build)
    binds = tuple(("/" + d, "/" + d) for d in _PROGRAM_DIRS
                  if os.path.isdir("/" + d) and not os.path.islink("/" + d))
    return RootfsPlan(image="host", lower=lower, ro_binds=binds)
