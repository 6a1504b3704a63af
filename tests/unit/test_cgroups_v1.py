"""cgroup v1 file protocol, against the fake cgroupfs (a hybrid host like the build machine).

The real v1 hierarchies are exercised by tests/integration/test_cgroups.py
(as root); these pin down the details that are hard to provoke for real:
memsw ordering, hosts without swap accounting or a freezer, co-mounted
controllers.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from amcr.errors import KernelError
from amcr.kernel import cgroups as cg
from amcr.kernel.cgroups_v1 import V1Backend
from amcr.limits import Limits
from tests.unit.test_cgroups import FakeCgroupFS, fakefs, sleepers, start_sleeper

__all__ = ["fakefs", "sleepers"]

MiB = 1024 * 1024
NO_SUCH_PID = 2 ** 22 + 1


def hybrid(fakefs: FakeCgroupFS, freezer: bool = True, cpu_cpuacct: bool = False
           ) -> tuple[V1Backend, dict[str, str]]:
    """The build machine's layout: memory at /process_api/<hash>, the rest at /."""
    dirs = {"memory": fakefs.v1_tree("/sys/fs/cgroup/memory", ("memory",), "/process_api/8ba6")}
    if cpu_cpuacct:
        dirs["cpu"] = dirs["cpuacct"] = fakefs.v1_tree("/sys/fs/cgroup/cpu,cpuacct",
                                                       ("cpu", "cpuacct"))
    else:
        for c in ("cpu", "cpuacct"):
            dirs[c] = fakefs.v1_tree(f"/sys/fs/cgroup/{c}", (c,))
    for c in ("pids", "blkio") + (("freezer",) if freezer else ()):
        dirs[c] = fakefs.v1_tree(f"/sys/fs/cgroup/{c}", (c,))
    hier: dict[str, list[str]] = {}
    for c, d in dirs.items():
        hier.setdefault(d, []).append(c)
    return V1Backend([(tuple(cs), d) for d, cs in hier.items()], "test"), dirs


def test_create_makes_one_dir_per_hierarchy_below_our_own(fakefs: FakeCgroupFS) -> None:
    backend, dirs = hybrid(fakefs)
    with backend.create("c1") as c:
        assert c.dirs == tuple(dirs[k] + "/amcr-c1" for k in
                               ("memory", "cpu", "cpuacct", "pids", "blkio", "freezer"))
        assert c.path.endswith("/sys/fs/cgroup/memory/process_api/8ba6/amcr-c1")
        assert all(os.path.isdir(d) for d in c.dirs)
    assert not any(os.path.exists(d) for d in c.dirs)


def test_co_mounted_controllers_share_one_dir(fakefs: FakeCgroupFS) -> None:
    backend, dirs = hybrid(fakefs, cpu_cpuacct=True)
    with backend.create("c2") as c:
        assert len(c.dirs) == 5
        c.limit(Limits.parse(cpus="1"))
        assert Path(dirs["cpu"], "amcr-c2", "cpu.cfs_quota_us").read_text() == "100000"


def test_limit_writes_v1_files(fakefs: FakeCgroupFS) -> None:
    backend, _ = hybrid(fakefs)
    with backend.create("lim") as c:
        c.limit(Limits.parse(memory="64m", cpus="0.5", pids_limit="64"))
        m, cpu, pids = (c.by_controller[k] for k in ("memory", "cpu", "pids"))
        assert Path(m, "memory.limit_in_bytes").read_text() == str(64 * MiB)
        assert Path(m, "memory.memsw.limit_in_bytes").read_text() == str(128 * MiB)
        assert Path(cpu, "cpu.cfs_period_us").read_text() == "100000"
        assert Path(cpu, "cpu.cfs_quota_us").read_text() == "50000"
        assert Path(pids, "pids.max").read_text() == "64"


def test_memsw_goes_first_when_raising_both(fakefs: FakeCgroupFS) -> None:
    """The kernel keeps memory <= memsw at every step; the order must follow."""
    backend, _ = hybrid(fakefs)
    with backend.create("order") as c:
        m = c.by_controller["memory"]
        c.limit(Limits.parse(memory="64m", memory_swap="64m"))
        c.limit(Limits.parse(memory="1g", memory_swap="2g"))       # raise: memsw first
        assert Path(m, "memory.limit_in_bytes").read_text() == str(1024 * MiB)
        assert Path(m, "memory.memsw.limit_in_bytes").read_text() == str(2048 * MiB)
        c.limit(Limits.parse(memory="64m", memory_swap="64m"))     # lower: memory first
        assert Path(m, "memory.memsw.limit_in_bytes").read_text() == str(64 * MiB)


def test_without_swap_accounting_memory_alone(fakefs: FakeCgroupFS) -> None:
    fakefs.no_swap = True
    backend, _ = hybrid(fakefs)
    with backend.create("nosw") as c:
        c.limit(Limits.parse(memory="64m"))
        assert Path(c.by_controller["memory"], "memory.limit_in_bytes").read_text() == str(
            64 * MiB)


def test_a_limit_without_its_hierarchy_is_a_clear_error(fakefs: FakeCgroupFS) -> None:
    mem = fakefs.v1_tree("/sys/fs/cgroup/memory", ("memory",))
    backend = V1Backend([(("memory",), mem)], "test")
    assert backend.controllers == {"memory"}
    with backend.create("nopids") as c:
        with pytest.raises(KernelError, match="--pids-limit needs the pids cgroup"):
            c.limit(Limits.parse(pids_limit="10"))


def test_attach_writes_the_pid_in_every_hierarchy(fakefs: FakeCgroupFS) -> None:
    backend, _ = hybrid(fakefs)
    with backend.create("att") as c:
        c.attach(NO_SUCH_PID)
        assert all(fakefs.procs(d) == [NO_SUCH_PID] for d in c.dirs)
        assert c.procs() == [NO_SUCH_PID]
        for d in c.dirs:
            Path(d, "cgroup.procs").write_text("")


def test_stats_parse_the_v1_files(fakefs: FakeCgroupFS) -> None:
    backend, _ = hybrid(fakefs)
    with backend.create("st") as c:
        b = c.by_controller
        Path(b["cpuacct"], "cpuacct.usage").write_text("2500000123\n")
        Path(b["memory"], "memory.usage_in_bytes").write_text("104857600\n")
        Path(b["memory"], "memory.max_usage_in_bytes").write_text("110000000\n")
        Path(b["memory"], "memory.oom_control").write_text(
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
        Path(b["pids"], "pids.current").write_text("7\n")
        Path(b["blkio"], "blkio.throttle.io_service_bytes_recursive").write_text(
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n"
            "8:0 Total 12288\n8:16 Read 1\n8:16 Write 2\nTotal 12291\n")
        assert c.stats() == cg.Stats(cpu_usec=2_500_000, memory_current=100 * MiB,
                                     memory_peak=110_000_000, pids_current=7, oom_kills=2,
                                     io_read_bytes=4097, io_write_bytes=8194, source="cgroup v1")
        assert c.oom_kills() == 2


def test_kill_freezes_kills_and_thaws(fakefs: FakeCgroupFS, sleepers: list) -> None:
    backend, _ = hybrid(fakefs)
    with backend.create("k") as c:
        for _ in range(2):
            pid = start_sleeper(sleepers)
            for d in c.dirs:
                fakefs.put(d, pid)
        c.kill()
        assert [p.wait(5) for p in sleepers] == [-9, -9]
        states = [t for f, t in fakefs.writes if f.endswith("amcr-k/freezer.state")]
        assert states == ["FROZEN", "THAWED"]
        for d in c.dirs:                       # the kernel's part: the dead leave
            Path(d, "cgroup.procs").write_text("")


def test_kill_without_a_freezer_repeats_until_empty(fakefs: FakeCgroupFS,
                                                   sleepers: list) -> None:
    backend, _ = hybrid(fakefs, freezer=False)
    with backend.create("k2") as c:
        pid = start_sleeper(sleepers)
        fakefs.put(c.path, pid)
        c.kill(timeout=0.2)     # the fake never empties procs: bounded by the timeout
        assert sleepers[0].wait(5) == -9
        Path(c.path, "cgroup.procs").write_text("")


def test_create_is_all_or_nothing(fakefs: FakeCgroupFS, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, dirs = hybrid(fakefs)
    real = cg.make_dir

    def failing(path: str) -> None:
        if "/pids/" in path:
            raise PermissionError(13, "Permission denied", path)
        real(path)
    monkeypatch.setattr(cg, "make_dir", failing)
    with pytest.raises(KernelError, match=r"^create cgroup .*/pids/amcr-half: permission denied"):
        backend.create("half")
    assert not any(os.path.exists(d + "/amcr-half") for d in dirs.values())
    assert "amcr-half" not in cg._live


def test_gc_judges_only_cgroups_in_its_own_memory_cgroup(fakefs: FakeCgroupFS) -> None:
    """On this machine cpu and pids sit at "/" for every session, memory does not:
    an amcr-* dir only in the shared bases belongs to a runtime elsewhere."""
    backend, dirs = hybrid(fakefs)
    for c in ("cpu", "pids"):
        fakefs.make_dir(dirs[c] + "/amcr-elsewhere")
    mine = backend.create("crashed")
    cg._live.discard(mine.name)
    old = time.time() - 3600
    for d in mine.dirs + (dirs["cpu"] + "/amcr-elsewhere",):
        os.utime(d, (old, old))
    assert backend.collect_leftovers() == ["amcr-crashed"]
    assert not any(os.path.exists(d) for d in mine.dirs)
    assert os.path.isdir(dirs["cpu"] + "/amcr-elsewhere")
