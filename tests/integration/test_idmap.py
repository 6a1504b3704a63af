"""ID mapping: a subordinate range where /etc/subuid grants one, else a single ID."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess

import pytest

from amcr.kernel.userns import choose_mapping
from tests.helpers import Amcr

SOLO_USER = "amcrsolo"


def _map_size(text: str) -> int:
    return sum(int(line.split()[2]) for line in text.splitlines() if line.strip())


def test_mapping_matches_what_this_user_is_granted(amcr: Amcr) -> None:
    mapping = choose_mapping()
    proc = amcr.sh("cat /proc/self/uid_map; touch /f && chown 1000:1000 /f && ls -n /f")
    if mapping.size > 1:
        assert _map_size(proc.stdout.split("-rw")[0]) >= 65536
        assert proc.returncode == 0, proc.stderr
        assert " 1000 " in proc.stdout
    else:
        assert _map_size(proc.stdout) == 1
        assert proc.returncode != 0    # only uid 0 exists inside


@pytest.mark.skipif(os.getuid() == 0, reason="the rootless pass checks the user's own range")
def test_rootless_user_with_subuids_gets_65536_ids(amcr: Amcr) -> None:
    name = pwd.getpwuid(os.getuid()).pw_name
    with open("/etc/subuid") as f:
        granted = any(line.split(":")[0] == name for line in f)
    if not granted:
        pytest.skip(f"/etc/subuid grants {name} no range here")
    proc = amcr.sh("cat /proc/self/uid_map; touch /f; chown 1000 /f && echo CHOWNED")
    assert "CHOWNED" in proc.stdout, proc.stderr
    assert _map_size(proc.stdout.replace("CHOWNED", "")) == 65537


def _solo_env(amcr: Amcr, home: str) -> list[str]:
    return ["runuser", "-u", SOLO_USER, "--", "env", f"AMCR_HOME={home}", "PATH=/usr/bin:/bin"]


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("runuser") is None,
                    reason="needs root to act as the user without a subordinate range")
def test_user_without_subuids_gets_a_single_mapping_and_info_says_why(amcr: Amcr,
                                                                     tmp_path: object) -> None:
    try:
        pwd.getpwnam(SOLO_USER)
    except KeyError:
        pytest.skip(f"user {SOLO_USER} does not exist (scripts/setup.sh creates it)")
    home = f"/tmp/amcr-solo-test-{os.getpid()}"
    os.makedirs(home, exist_ok=True)
    shutil.chown(home, SOLO_USER, SOLO_USER)
    try:
        cmd = _solo_env(amcr, home) + amcr.command
        proc = subprocess.run(cmd + ["run", "--image", "busybox", "--", "sh", "-c",
                                     "cat /proc/self/uid_map; id -u"],
                              capture_output=True, text=True, timeout=60, cwd="/")
        assert proc.returncode == 0, proc.stderr
        assert _map_size(proc.stdout.splitlines()[0]) == 1
        assert proc.stdout.splitlines()[-1] == "0"
        info = subprocess.run(cmd + ["info"], capture_output=True, text=True, timeout=60, cwd="/")
        line = next(ln for ln in info.stdout.splitlines() if ln.startswith("id mapping"))
        assert "/etc/subuid" in line and SOLO_USER in line and "usermod" in line
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_info_reports_every_feature(amcr: Amcr) -> None:
    proc = amcr("info")
    assert proc.returncode == 0, proc.stderr
    for name in ("user namespaces", "id mapping", "overlay", "pivot_root", "seccomp", "cgroup"):
        assert name in proc.stdout
    assert proc.stdout.startswith("host: ")
