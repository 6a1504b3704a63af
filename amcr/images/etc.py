"""The minimal /etc and the directory skeleton every synthesized image has."""
from __future__ import annotations

import os

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
GROUP = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
RESOLV = "# amcr: this container has no network but loopback\n"
_DIRS = ("proc", "sys", "dev", "tmp", "root", "home", "run", "mnt", "var", "var/tmp", "etc")


def skeleton(rootfs: str) -> str:
    """Create the mount points and a minimal /etc; return the /etc path."""
    for d in _DIRS:
        os.makedirs(os.path.join(rootfs, d), mode=0o755, exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "var/tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "root"), 0o700)
    etc_dir = os.path.join(rootfs, "etc")
    write(etc_dir, "passwd", PASSWD)
    write(etc_dir, "group", GROUP)
    write(etc_dir, "hosts", HOSTS)
    write(etc_dir, "hostname", "amcr\n")
    write(etc_dir, "resolv.conf", RESOLV)
    return etc_dir


def write(etc_dir: str, name: str, text: str) -> None:
    path = os.path.join(etc_dir, name)
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
