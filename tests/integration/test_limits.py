"""Limits on real containers: cgroups as root (v1 here), RLIMIT_AS rootless."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from amcr.runtime.cgroup_lease import choose
from tests.helpers import Amcr

HAS_CGROUP = getattr(choose(), "backend", None) is not None
needs_cgroup = pytest.mark.skipif(not HAS_CGROUP, reason="no usable cgroup for this user "
                                  "here (rootless on cgroup v1): see test_rootless_*")
rootless_only = pytest.mark.skipif(HAS_CGROUP, reason="this user has cgroups here")

HOG = "x = bytearray(256 << 20); x[::4096] = b'x' * len(x[::4096]); print('survived')"


def _cgroup_dirs() -> list[str]:
    """Containers' cgroups (``amcr-<hex id>``), not ``amcr-t<pid>-...`` ones that
    another test session's test_cgroups.py may be creating meanwhile."""
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(root, d) for d in dirs
                  if d.startswith("amcr-") and not d.startswith("amcr-t")]
        if root.count("/") > 7:
            dirs.clear()
    return found


@pytest.fixture(autouse=True)
def no_cgroup_left() -> object:
    before = set(_cgroup_dirs())
    yield
    assert set(_cgroup_dirs()) - before == set(), "cgroup directories left behind"


@needs_cgroup
def test_memory_hog_is_oom_killed_while_a_neighbour_keeps_running(amcr: Amcr) -> None:
    neighbour = amcr.popen("run", "--image", "busybox", "--", "sh", "-c",
                           "for i in $(seq 50); do echo tick; sleep 0.1; done")
    proc = amcr("run", "-m", "64m", "--", "python3", "-c", HOG)
    assert proc.returncode == 137, proc.stderr
    assert "amcr: killed: out of memory (limit 64 MiB)" in proc.stderr
    out, _ = neighbour.communicate(timeout=30)
    assert neighbour.returncode == 0 and out.count(b"tick") == 50


@needs_cgroup
def test_fork_bomb_is_contained_by_pids_limit(amcr: Amcr) -> None:
    start = time.monotonic()
    proc = amcr("run", "--pids-limit", "64", "--", "python3", "-c",
                "import os, time\nok = failed = 0\nfor i in range(300):\n"
                "    try:\n        pid = os.fork()\n    except OSError:\n"
                "        failed += 1\n        continue\n"
                "    if pid == 0:\n        time.sleep(2)\n        os._exit(0)\n"
                "    ok += 1\nprint(ok, failed)", timeout=60)
    ok, failed = (int(x) for x in proc.stdout.split())
    assert ok <= 63 and failed >= 237, proc.stdout
    host = subprocess.run(["true"], timeout=5)      # the host still forks fine
    assert host.returncode == 0 and time.monotonic() - start < 60


@needs_cgroup
def test_cpus_half_uses_half_a_core(amcr: Amcr) -> None:
    proc = amcr("run", "--cpus", "0.5", "--", "python3", "-c",
                "import time, resource\nend = time.monotonic() + 5\n"
                "while time.monotonic() < end: pass\n"
                "r = resource.getrusage(resource.RUSAGE_SELF)\nprint(r.ru_utime + r.ru_stime)")
    used = float(proc.stdout.strip()) / 5
    assert 0.40 <= used <= 0.60, used


@rootless_only
def test_rootless_memory_limit_is_an_rlimit_and_says_so(amcr: Amcr) -> None:
    proc = amcr("run", "-m", "64m", "--", "python3", "-c", "x = bytearray(256 << 20)")
    assert proc.returncode == 1 and "MemoryError" in proc.stderr
    assert "RLIMIT_AS" in proc.stderr


@rootless_only
def test_rootless_cpus_and_pids_limit_are_refused_unless_warn(amcr: Amcr) -> None:
    for flag, value in (("--cpus", "0.5"), ("--pids-limit", "64")):
        proc = amcr("run", flag, value, "--image", "busybox", "--", "true", check_one_line=True)
        assert proc.returncode == 125 and "cannot be enforced" in proc.stderr
        assert "--limits warn" in proc.stderr
    warned = amcr("run", "--cpus", "0.5", "--limits", "warn", "--image", "busybox", "--",
                  "echo", "ran")
    assert warned.returncode == 0 and warned.stdout == "ran\n"
    assert warned.stderr.count("not enforced") == 1


def test_stats_of_a_100mb_container_are_within_ten_percent(amcr: Amcr) -> None:
    import asyncio

    import amcr as api

    async def measure() -> int:
        async with api.Runtime(image="host") as rt:
            c = await rt.start(["python3", "-c", "import sys, time\n"
                                "x = bytearray(100 << 20); x[::4096] = b'x' * len(x[::4096])\n"
                                "print('ready', flush=True); time.sleep(30)"], stdin=False)
            async with c:
                sub = c.output()
                await sub.read_until(b"ready")
                return c.stats().memory_current
    got = asyncio.run(measure())
    assert abs(got - (100 << 20)) <= 0.1 * (100 << 20) + (12 << 20), got


def test_files_written_to_the_root_count_against_the_memory_limit(amcr: Amcr) -> None:
    """The writable layer is a tmpfs (docs/startup.md): with -m it is that big, so
    writing files cannot take more of the host's memory than the limit allows."""
    proc = amcr.sh("dd if=/dev/zero of=/big bs=1M count=100 2>&1; echo size=$(wc -c < /big)",
                   "-m", "64m")
    # rootless: the tmpfs fills up (ENOSPC); with a cgroup, whose limit the tmpfs
    # is charged to as well, the OOM killer may stop dd first: bounded either way
    assert "No space left" in proc.stdout or "Killed" in proc.stdout, proc.stdout
    size = int(proc.stdout.rsplit("size=", 1)[1])
    assert 0 < size <= 64 << 20
