"""cgroup v2 file protocol, against the fake cgroupfs (runs anywhere, no privileges).

This is what covers v2 on hosts without v2 controllers (like the build
machine); tests/integration/test_cgroups.py runs the same operations for real
wherever v2 memory, cpu and pids are available.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from amcr.errors import KernelError
from amcr.kernel import cgroups as cg
from amcr.kernel.cgroups_v2 import V2Backend
from amcr.limits import Limits
from tests.unit.test_cgroups import V2_SCOPE, FakeCgroupFS, fakefs, sleepers, start_sleeper

__all__ = ["fakefs", "sleepers"]    # fixtures, re-used from test_cgroups

MiB = 1024 * 1024
ALL = frozenset({"memory", "cpu", "pids", "io"})
NO_SUCH_PID = 2 ** 22 + 1     # above the largest pid_max: kill() can never hit a real process


def backend_in(fakefs: FakeCgroupFS, procs: str = "111\n222\n") -> tuple[V2Backend, str]:
    """Our own cgroup D (holding ``procs``: the runtime and its shell) and a backend on it."""
    own = fakefs.v2_tree("/sys/fs/cgroup", V2_SCOPE, procs=procs)
    return V2Backend(own, ALL, "test"), own


def test_first_create_moves_ds_processes_to_a_leaf_and_enables_controllers(
        fakefs: FakeCgroupFS) -> None:
    """No internal processes: D must be empty before it can give children controllers."""
    backend, own = backend_in(fakefs)
    c = backend.create("a1")
    assert fakefs.procs(own) == []
    assert fakefs.procs(own + "/" + cg.RUNTIME_LEAF) == [111, 222]
    assert Path(own, "cgroup.subtree_control").read_text().split() == [
        "cpu", "io", "memory", "pids"]
    assert c.path == own + "/amcr-a1"
    assert os.path.exists(c.path + "/memory.max")
    # the second container costs one mkdir: D is prepared already
    n = len(fakefs.writes)
    backend.create("a2").remove()
    assert fakefs.writes[n:] == []
    c.remove()


def test_an_already_prepared_d_is_left_as_it_is(fakefs: FakeCgroupFS) -> None:
    backend, own = backend_in(fakefs, procs="")
    Path(own, "cgroup.subtree_control").write_text("cpu io memory pids\n")
    backend.create("x").remove()
    assert not os.path.exists(own + "/" + cg.RUNTIME_LEAF)
    assert fakefs.writes == []


def test_limit_writes_v2_files(fakefs: FakeCgroupFS) -> None:
    backend, _ = backend_in(fakefs)
    with backend.create("lim") as c:
        c.limit(Limits.parse(memory="64m", cpus="0.5", pids_limit="64"))
        files = {f: Path(c.path, f).read_text() for f in
                 ("memory.max", "memory.swap.max", "cpu.max", "pids.max")}
        assert files == {"memory.max": str(64 * MiB), "memory.swap.max": str(64 * MiB),
                         "cpu.max": "50000 100000", "pids.max": "64"}
        c.limit(Limits.parse(memory="64m", memory_swap="-1"))
        assert Path(c.path, "memory.swap.max").read_text() == "max"
        c.limit(Limits.parse(memory="64m", memory_swap="64m"))
        assert Path(c.path, "memory.swap.max").read_text() == "0"


def test_without_swap_support_memory_is_still_limited(fakefs: FakeCgroupFS) -> None:
    fakefs.no_swap = True
    backend, _ = backend_in(fakefs)
    with backend.create("noswap") as c:
        c.limit(Limits.parse(memory="64m", memory_swap="128m"))
        assert Path(c.path, "memory.max").read_text() == str(64 * MiB)
        assert not os.path.exists(c.path + "/memory.swap.max")


def test_a_missing_controller_is_a_clear_error(fakefs: FakeCgroupFS) -> None:
    own = fakefs.v2_tree("/sys/fs/cgroup", V2_SCOPE, controllers="memory pids")
    backend = V2Backend(own, frozenset({"memory", "pids"}), "test")
    assert backend.controllers == {"memory", "pids"}
    with backend.create("nocpu") as c:
        with pytest.raises(KernelError) as exc:
            c.limit(Limits.parse(cpus="0.5"))
    assert "cpu.max" in exc.value.line() and "subtree_control" in exc.value.line()


def test_attach_moves_a_process(fakefs: FakeCgroupFS) -> None:
    backend, own = backend_in(fakefs)
    with backend.create("att") as c:
        c.attach(4242)
        fakefs.put(own + "/" + cg.RUNTIME_LEAF, 4243)
        c.attach(4243)
        assert c.procs() == [4242, 4243]
        assert fakefs.procs(own + "/" + cg.RUNTIME_LEAF) == [111, 222]
        Path(c.path, "cgroup.procs").write_text("")     # "they exited"


def test_stats_parse_the_v2_files(fakefs: FakeCgroupFS) -> None:
    backend, _ = backend_in(fakefs)
    with backend.create("st") as c:
        for name, text in {
            "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
            "memory.current": "104857600\n", "memory.peak": "110000000\n",
            "memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n",
            "pids.current": "3\n",
            "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                       "8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n",
        }.items():
            Path(c.path, name).write_text(text)
        assert c.stats() == cg.Stats(cpu_usec=1_500_000, memory_current=100 * MiB,
                                     memory_peak=110_000_000, pids_current=3, oom_kills=1,
                                     io_read_bytes=4097, io_write_bytes=8194, source="cgroup v2")
        assert c.oom_kills() == 1


def test_stats_of_a_kernel_without_memory_peak_or_io(fakefs: FakeCgroupFS) -> None:
    backend, _ = backend_in(fakefs)
    with backend.create("old") as c:
        os.unlink(c.path + "/memory.peak")
        os.unlink(c.path + "/io.stat")
        s = c.stats()
        assert s.memory_peak is None and s.io_read_bytes is None and s.memory_current == 0


def test_kill_uses_cgroup_kill(fakefs: FakeCgroupFS, sleepers: list) -> None:
    backend, _ = backend_in(fakefs)
    c = backend.create("k")
    for _ in range(3):
        fakefs.put(c.path, start_sleeper(sleepers))
    c.remove()
    assert ("/sys/fs/cgroup" + V2_SCOPE + "/amcr-k/cgroup.kill", "1") in fakefs.writes
    assert [p.wait(5) for p in sleepers] == [-9, -9, -9]
    assert not os.path.exists(c.path)


def test_kill_before_5_14_freezes_kills_and_thaws(fakefs: FakeCgroupFS, sleepers: list) -> None:
    fakefs.no_kill_file = True
    backend, _ = backend_in(fakefs)
    with backend.create("k2") as c:
        pid = start_sleeper(sleepers)
        fakefs.put(c.path, pid)
        c.kill()
        assert sleepers[0].wait(5) == -9
        freezes = [t for f, t in fakefs.writes if f.endswith("amcr-k2/cgroup.freeze")]
        assert freezes == ["1", "0"]
        Path(c.path, "cgroup.procs").write_text("")     # the kernel's part


def test_remove_also_removes_cgroups_the_container_made(fakefs: FakeCgroupFS) -> None:
    backend, _ = backend_in(fakefs)
    c = backend.create("nest")
    fakefs.make_dir(c.path + "/inner")
    fakefs.make_dir(c.path + "/inner/deeper")
    c.remove()
    assert not os.path.exists(c.path)


def test_remove_never_gives_up_silently(fakefs: FakeCgroupFS) -> None:
    fakefs.no_kill_file = True
    backend, _ = backend_in(fakefs)
    c = backend.create("stuck")
    fakefs.put(c.path, NO_SUCH_PID)      # a PID the kernel keeps listing (as if unkillable)
    t0 = time.monotonic()
    with pytest.raises(KernelError) as exc:
        c.remove(timeout=0.2)
    assert time.monotonic() - t0 < 2
    assert exc.value.line().startswith("remove cgroup ") and "amcr gc" in exc.value.line()
    Path(c.path, "cgroup.procs").write_text("")
    c.remove()


def test_a_leftover_with_the_same_name_is_replaced(fakefs: FakeCgroupFS) -> None:
    backend, _ = backend_in(fakefs)
    old = backend.create("same")
    Path(old.path, "pids.max").write_text("5")
    new = backend.create("same")          # e.g. after a crash: fresh limits, not the old ones
    assert Path(new.path, "pids.max").read_text() == "max"
    fakefs.put(new.path, NO_SUCH_PID)
    with pytest.raises(KernelError, match="exists and has processes"):
        backend.create("same")
    Path(new.path, "cgroup.procs").write_text("")
    new.remove()


def test_open_procs_fails_in_the_parent_not_the_child(fakefs: FakeCgroupFS) -> None:
    backend, _ = backend_in(fakefs)
    c = backend.create("gone")
    c.remove()
    with pytest.raises(KernelError, match="^open .*amcr-gone/cgroup.procs: no such file"):
        c.open_procs()
