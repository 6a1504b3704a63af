"""Masked and read-only paths, descriptors, and the host's binaries."""
from __future__ import annotations

import os

from tests.helpers import Amcr
from tests.security.conftest import py


def test_masked_files_read_empty_and_cannot_be_unmounted(amcr: Amcr, neighbours: list) -> None:
    proc = amcr.sh("for f in /proc/keys /proc/timer_list /proc/kcore /proc/sched_debug; do "
                   "[ -e $f ] && echo $f:$(wc -c < $f); done; ls /proc/acpi /sys/firmware | wc -w;"
                   " umount /proc/keys; echo umount=$?; umount -l /proc/timer_list; echo lazy=$?")
    lines = proc.stdout.split()
    sizes = [ln for ln in lines if ln.startswith("/proc/")]
    assert sizes and all(s.endswith(":0") for s in sizes), proc.stdout
    assert "umount=0" not in lines and "lazy=0" not in lines


def test_writes_to_proc_sys_and_sys_fail(amcr: Amcr, neighbours: list) -> None:
    proc = amcr.sh("echo 1 > /proc/sys/kernel/printk; echo a=$?; echo x > /proc/sysrq-trigger;"
                   " echo b=$?; echo 1 > /sys/kernel/profiling; echo c=$?;"
                   " mkdir /sys/fs/cgroup/x; echo d=$?", "--cap-add", "SYS_ADMIN")
    for key in ("a", "b", "c", "d"):
        assert f"{key}=0" not in proc.stdout, proc.stdout


def test_only_stdio_descriptors_reach_the_container(amcr: Amcr, neighbours: list) -> None:
    for opts in ((), ("-t",)):
        proc = py(amcr, "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))",
                  *opts)
        fds = eval(proc.stdout.strip())   # noqa: S307 - our own container's output
        assert fds == [0, 1, 2, 3], fds   # 3 is listdir's own directory descriptor


def test_workdir_through_proc_is_refused(amcr: Amcr) -> None:
    for path in ("/proc/self/fd/3", "/proc/1/cwd", "/proc/self/cwd/.."):
        proc = amcr("run", "-w", path, "--", "true", check_one_line=True)
        assert proc.returncode == 125, path


def test_host_binaries_cannot_be_changed(amcr: Amcr, neighbours: list) -> None:
    code = """
import os, sys
for path in ("/proc/self/exe", "/proc/1/exe", sys.executable, "/usr/bin/env", "/bin/sh"):
    try:
        with open(path, "r+b") as f:
            f.write(b"x")
        print("WROTE", path)
    except OSError as e:
        print("refused", path, e.errno)
"""
    before = os.stat("/usr/bin/env").st_mtime
    proc = py(amcr, code)
    assert proc.returncode == 0, proc.stderr
    assert "WROTE" not in proc.stdout and proc.stdout.count("refused") == 5
    assert os.stat("/usr/bin/env").st_mtime == before


def test_allocation_past_memory_fails_inside_and_amcr_says_why(amcr: Amcr,
                                                                neighbours: list) -> None:
    proc = py(amcr, "x = bytearray(256 << 20); print('allocated')", "--memory", "64m")
    assert "allocated" not in proc.stdout
    if "MemoryError" in proc.stderr:       # rootless here: RLIMIT_AS, the allocation fails
        assert "RLIMIT_AS" in proc.stderr
    else:                                  # a memory cgroup (root): the OOM killer
        assert proc.returncode == 137
        assert "amcr: killed: out of memory (limit 64 MiB)" in proc.stderr
    ok = py(amcr, "x = bytearray(16 << 20); print('allocated')", "--memory", "64m")
    assert ok.stdout == "allocated\n"
