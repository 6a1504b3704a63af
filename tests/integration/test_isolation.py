"""Isolation: what a container must not see or change of the host, or of another."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time

import pytest

from tests.helpers import Amcr

#: the only mount points a container has (plus /usr and friends for the host image)
EXPECTED_MOUNTS = re.compile(r"^/(|usr|bin|sbin|lib\w*|proc|dev|dev/\w+|dev/pts|dev/shm|sys|tmp"
                             r"|proc/[\w-]+|sys/firmware|sys/devices/virtual/powercap)$")


def _mountpoints(text: str) -> list[str]:
    return [line.split()[4] for line in text.splitlines() if line.strip()]


def test_host_processes_are_invisible(amcr: Amcr) -> None:
    proc = amcr.sh("ls /proc | grep -E '^[0-9]+$'")
    pids = [int(p) for p in proc.stdout.split()]
    assert 1 in pids
    assert len(pids) <= 4, pids        # sh, ls, grep (and maybe a subshell)
    assert os.getpid() not in pids or os.getpid() < 5


def test_network_has_only_loopback_and_it_is_up(amcr: Amcr) -> None:
    proc = amcr.sh("ls /sys/class/net; cat /sys/class/net/lo/operstate")
    assert proc.stdout.split()[0] == "lo" and len(proc.stdout.split()) == 2, proc.stdout
    ping = amcr.sh("nc -l -p 8000 -e echo pong & sleep 0.3; nc 127.0.0.1 8000 </dev/null")
    assert "pong" in ping.stdout, ping.stderr


def test_host_mounts_are_invisible(amcr: Amcr) -> None:
    for image in ("busybox", "host"):
        proc = amcr("run", "--image", image, "--", "cat", "/proc/self/mountinfo")
        assert proc.returncode == 0, proc.stderr
        points = _mountpoints(proc.stdout)
        unexpected = [p for p in points if not EXPECTED_MOUNTS.match(p)]
        assert unexpected == [], unexpected


def test_pivot_root_leaves_no_old_root(amcr: Amcr) -> None:
    proc = amcr.sh("cat /proc/self/mountinfo")
    points = _mountpoints(proc.stdout)
    assert points.count("/") == 1
    assert all(not p.startswith(("/work", "/home", "/root", "/run/")) for p in points)


#: the classic chroot escape: chroot into a subdirectory, climb out, chroot "."
CHROOT_ESCAPE = ("import os; os.makedirs('/tmp/e', exist_ok=True); os.chroot('/tmp/e'); "
                 "os.chdir('../../../../..'); os.chroot('.'); "
                 "print('ESCAPED' if os.path.exists('/etc/shadow') else 'CONTAINED')")


def test_pivot_root_defeats_the_chroot_escape(amcr: Amcr) -> None:
    proc = amcr.run("python3", "-c", CHROOT_ESCAPE)
    assert proc.stdout == "CONTAINED\n", proc.stderr


def test_chroot_fallback_runs_when_forced(amcr: Amcr) -> None:
    """--no-pivot takes the chroot path (MS_MOVE onto / first, so the escape
    above still finds only the container); the debug line names the method."""
    proc = amcr("run", "--image", "busybox", "--no-pivot", "--", "sh", "-c",
                "cat /etc/os-release; hostname; ls /proc/1", env_extra={"AMCR_DEBUG": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "ID=busybox" in proc.stdout
    assert "root by chroot" in proc.stderr
    escape = amcr("run", "--no-pivot", "--", "python3", "-c", CHROOT_ESCAPE)
    assert escape.stdout == "CONTAINED\n", escape.stderr
    pivot = amcr("run", "--image", "busybox", "--", "true", env_extra={"AMCR_DEBUG": "1"})
    assert "root by pivot_root" in pivot.stderr


def test_hostname_change_inside_leaves_the_hosts_alone(amcr: Amcr) -> None:
    before = socket.gethostname()
    proc = amcr.sh("hostname changed-inside && hostname", "--cap-add", "SYS_ADMIN")
    assert proc.stdout == "changed-inside\n", proc.stderr
    assert socket.gethostname() == before


def test_writes_go_to_the_layer_and_the_image_is_unchanged(amcr: Amcr) -> None:
    proc = amcr.sh("echo data > /newfile && cat /newfile && rm /bin/ls && echo removed")
    assert proc.stdout == "data\nremoved\n", proc.stderr
    image = os.path.join(amcr.home, "images", "busybox", "rootfs")
    assert not os.path.exists(os.path.join(image, "newfile"))
    assert os.path.lexists(os.path.join(image, "bin", "ls"))
    assert amcr.sh("ls /newfile").returncode != 0   # a new container starts clean
    # the layer directory is gone (the `amcr` fixture asserts none is left)


def test_a_layer_that_is_not_kept_stays_off_the_host_disk(amcr: Amcr) -> None:
    """It lives in PID 1's own tmpfs; on the host there is only the directory and its
    owner file. Whiteouts and opaque directories still work (user xattrs on tmpfs)."""
    if tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2]) < (6, 6):
        pytest.skip("tmpfs has user xattrs from Linux 6.6; before, the layer stays on disk")
    proc = amcr.popen("run", "--image", "busybox", "--", "sh", "-c",
                      "head -c 100000 /dev/zero > /big; rm -rf /etc && mkdir /etc && ls -A /etc"
                      " && rm /bin/ls && echo written && sleep 2")
    try:
        containers = os.path.join(amcr.home, "containers")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (os.path.isdir(containers)
                                                   and os.listdir(containers)):
            time.sleep(0.05)
        time.sleep(0.5)
        (layer,) = os.listdir(containers)
        assert os.listdir(os.path.join(containers, layer)) == ["owner"]
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out == b"written\n", err


def test_keep_keeps_the_layer(amcr: Amcr) -> None:
    proc = amcr.sh("echo kept > /kept.txt", "--keep")
    assert proc.returncode == 0
    path = proc.stderr.strip().rsplit(" ", 1)[-1]
    with open(os.path.join(path, "kept.txt")) as f:
        assert f.read() == "kept\n"
    subprocess.run(["rm", "-rf", os.path.dirname(path)], check=True)


def test_two_containers_from_one_image_do_not_see_each_others_writes(amcr: Amcr) -> None:
    a = amcr.popen("run", "--image", "busybox", "--", "sh", "-c",
                   "echo A > /shared; sleep 1.5; cat /shared")
    time.sleep(0.5)
    b = amcr.sh("cat /shared 2>&1; echo B > /shared; cat /shared")
    out_a, err_a = a.communicate(timeout=30)
    assert out_a == b"A\n", err_a
    assert "No such file" in b.stdout and b.stdout.endswith("B\n")
