"""A volume's target is resolved inside the container's root, never through the
image's symlinks out to the host (runc's securejoin; here amcr/init/pid1.c)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import Amcr


def test_symlinks_in_the_image_cannot_point_a_volume_at_the_host(amcr: Amcr,
                                                                   tmp_path: Path) -> None:
    amcr.sh("true")                                      # the busybox image exists
    root = tmp_path / "root"
    shutil.copytree(os.path.join(amcr.home, "images", "busybox", "rootfs"), root, symlinks=True)
    outside, outside2 = tmp_path / "outside", tmp_path / "outside2"
    os.symlink(outside, root / "vol")                                  # absolute
    os.symlink("../" * 12 + str(outside2).lstrip("/"), root / "rel")  # climbs with ..
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("hello")
    srcfile = tmp_path / "srcfile"
    srcfile.write_text("data")
    for p in (tmp_path, root, src):
        p.chmod(0o755)
    proc = amcr("run", "--rootfs", str(root), "-v", f"{src}:/vol/sub",
                "-v", f"{srcfile}:/rel/deep/f", "--", "cat", "/proc/self/mountinfo")
    assert proc.returncode == 0, proc.stderr
    # Nothing was created on the host through the links...
    assert not outside.exists() and not outside2.exists()
    # ...the binds are inside the root, where the links point when / is the root.
    points = [line.split()[4] for line in proc.stdout.splitlines()]
    assert f"{outside}/sub" in points and f"{outside2}/deep/f" in points, points


@pytest.mark.parametrize("name", ["dev", "proc", "sys"])
@pytest.mark.parametrize("how", ["absolute", "climbing"])
def test_an_image_cannot_make_a_kernel_filesystem_mount_point_a_symlink(
        amcr: Amcr, tmp_path: Path, name: str, how: str) -> None:
    """/dev's nodes and /proc's masks are made under the mount point by path: through
    an image's symlink they would land on the host (found by review). Refused, as runc does."""
    amcr.sh("true")
    root = tmp_path / "root"
    shutil.copytree(os.path.join(amcr.home, "images", "busybox", "rootfs"), root, symlinks=True)
    host = tmp_path / "host"
    host.mkdir()
    shutil.rmtree(root / name, ignore_errors=True)
    os.symlink(str(host) if how == "absolute" else "../" * 12 + str(host).lstrip("/"),
               root / name)
    for p in (tmp_path, root, host):
        p.chmod(0o777 if p == host else 0o755)
    proc = amcr("run", "--rootfs", str(root), "--", "true", check_one_line=True)
    assert proc.returncode == 125
    assert f"refusing to mount over it: /{name}" in proc.stderr, proc.stderr
    assert os.listdir(host) == []
