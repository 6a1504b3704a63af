"""Images: import a minirootfs-style tarball, run it, list and remove it; hostile
tarballs are refused or neutralised with nothing written outside the store."""
from __future__ import annotations

import io
import os
import tarfile

from tests.helpers import Amcr


def _minirootfs(amcr: Amcr, path: str) -> None:
    """A tarball shaped like Alpine's minirootfs, made from the busybox image."""
    assert amcr.sh("true").returncode == 0        # builds the busybox image
    rootfs = os.path.join(amcr.home, "images", "busybox", "rootfs")
    with tarfile.open(path, "w:gz") as tf:
        for entry in sorted(os.listdir(rootfs)):
            tf.add(os.path.join(rootfs, entry), arcname=entry)
        data = b'NAME="Mini Linux"\nID=minilinux\n'
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


def test_import_run_ls_rm(amcr: Amcr, tmp_path: object) -> None:
    tarball = os.path.join(str(tmp_path), "minirootfs.tar.gz")
    _minirootfs(amcr, tarball)
    proc = amcr("image", "import", tarball, "mini")
    assert proc.returncode == 0, proc.stderr
    assert "mini" in amcr("image", "ls").stdout
    run = amcr("run", "--image", "mini", "--", "sh", "-c", "cat /etc/os-release; echo ok")
    assert "ID=minilinux" in run.stdout and run.stdout.endswith("ok\n"), run.stderr
    again = amcr("image", "import", tarball, "mini", check_one_line=True)
    assert again.returncode == 125 and "already exists" in again.stderr
    assert amcr("image", "rm", "mini").returncode == 0
    assert "mini" not in amcr("image", "ls").stdout
    gone = amcr("image", "rm", "mini", check_one_line=True)
    assert gone.returncode == 125


def test_rootfs_directory_runs(amcr: Amcr, tmp_path: object) -> None:
    amcr.sh("true")
    rootfs = os.path.join(amcr.home, "images", "busybox", "rootfs")
    proc = amcr("run", "--rootfs", rootfs, "--", "cat", "/etc/os-release")
    assert "ID=busybox" in proc.stdout


def _hostile(path: str, outside: str) -> None:
    with tarfile.open(path, "w") as tf:
        def add(name: str, data: bytes = b"x", **kw: object) -> None:
            info = tarfile.TarInfo(name)
            for k, v in kw.items():
                setattr(info, k, v)
            if info.type == tarfile.REGTYPE:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
        add("bin", type=tarfile.DIRTYPE, mode=0o755)
        add(outside.lstrip("/") + "-abs", b"absolute")           # absolute path
        add("/" + "abs-file", b"absolute")
        add("../../escape-dotdot", b"dotdot")
        add("link-out", type=tarfile.SYMTYPE, linkname=outside)
        add("link-out/pwned", b"through the link")
        add("hard", type=tarfile.LNKTYPE, linkname="/etc/passwd")
        add("dev-null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)


def test_hostile_tarball_writes_nothing_outside_the_store(amcr: Amcr, tmp_path: object) -> None:
    outside = os.path.join(str(tmp_path), "outside")
    os.mkdir(outside)
    tarball = os.path.join(str(tmp_path), "hostile.tar")
    _hostile(tarball, outside)
    proc = amcr("image", "import", tarball, "hostile")
    assert os.listdir(outside) == []
    assert not os.path.exists(os.path.join(str(tmp_path), "escape-dotdot"))
    if proc.returncode == 0:
        rootfs = os.path.join(amcr.home, "images", "hostile", "rootfs")
        assert os.path.islink(os.path.join(rootfs, "link-out"))
        hard = os.path.join(rootfs, "hard")
        assert not os.path.exists(hard) or os.stat(hard).st_ino != os.stat("/etc/passwd").st_ino
        assert amcr("image", "rm", "hostile").returncode == 0
    else:
        assert proc.returncode == 125
