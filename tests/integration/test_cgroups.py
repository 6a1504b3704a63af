"""Real cgroups: limits that hold, stats that match, nothing left behind.

Each test runs once per cgroup version (``v1``, ``v2``) that this process can
really use: as root on the build machine that is v1 (memory, cpu, pids live in
v1 hierarchies; cgroup v2 has only hugetlb), so the v2 cases skip with the
reason (run ``pytest -rs`` to see it). As a user without a delegated v2
subtree every case skips, and the rootless expectation test runs instead.

Processes enter their cgroup the way the start path does it: the parent opens
``cgroup.procs`` (``open_procs``) and the child writes ``0`` into it
(``join``) between fork and exec, so the command never runs outside.

Cgroups are named ``amcr-t<pid>-...``: other sessions may create amcr cgroups
in the same hierarchies meanwhile, and these tests must neither see nor
remove theirs.
"""
from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import NoReturn

import pytest

from amcr.errors import SpecError
from amcr.kernel import cgroups as cg
from amcr.limits import Limits, plan

MiB = 1024 * 1024
RUN = f"t{os.getpid()}"          # our cgroups: amcr-t<pid>-<test>
PR_SET_CHILD_SUBREAPER = 36


def _our_dirs() -> list[str]:
    """Every directory of ours in any hierarchy either backend could use."""
    found = []
    for version in (1, 2):
        backend = cg.choose(prefer=version).backend
        for base in backend.bases() if backend else ():
            try:
                found += [os.path.join(base, n) for n in os.listdir(base)
                          if n.startswith(cg.PREFIX + RUN)]
            except OSError:
                pass
    return found


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    left = _our_dirs()
    for d in left:          # do not let one leak fail every later test
        subprocess.run(["find", d, "-depth", "-type", "d", "-delete"], check=False)
    assert left == [], f"cgroup directories left behind: {left}"


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def backend(request: pytest.FixtureRequest) -> cg.CgroupBackend:
    """A real backend of that version with memory, cpu and pids, or a skip saying why not."""
    choice = cg.choose(prefer=request.param)
    b = choice.backend
    who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
    if b is None:
        _skip(request, f"cgroup v{request.param} not usable as {who}: {choice.why}")
    missing = {"memory", "cpu", "pids"} - b.controllers
    if missing:
        _skip(request, f"cgroup v{request.param} lacks {', '.join(sorted(missing))}: {b.why}")
    return b


_told: set[str] = set()


def _skip(request: pytest.FixtureRequest, reason: str) -> NoReturn:
    """Skip, printing the reason once even without ``-rs`` (a silent "s" hides why)."""
    if reason not in _told:
        _told.add(reason)
        tr = request.config.pluginmanager.get_plugin("terminalreporter")
        capman = request.config.pluginmanager.get_plugin("capturemanager")
        if tr is not None and capman is not None:
            with capman.global_and_fixture_disabled():     # past pytest's fd capture
                tr.ensure_newline()
                tr.write_line(f"skipping: {reason}")
    pytest.skip(reason)


def spawn_in(c: cg.Cgroup, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
    """Start ``argv`` already inside ``c``: join() runs in the child before exec."""
    fds = c.open_procs()
    try:
        return subprocess.Popen(argv, preexec_fn=lambda: cg.join(fds), **kw)  # type: ignore
    finally:
        for fd in fds:
            os.close(fd)


def test_the_first_process_is_in_the_cgroup_before_it_execs(backend: cg.CgroupBackend) -> None:
    with backend.create(f"{RUN}-first") as c:
        out = spawn_in(c, ["cat", "/proc/self/cgroup"], stdout=subprocess.PIPE).communicate()[0]
        lines = out.decode().splitlines()
        if backend.version == 2:
            mine = [ln for ln in lines if ln.startswith("0::")]
        else:
            mine = [ln for ln in lines if set(ln.split(":")[1].split(",")) & {
                "memory", "cpu", "cpuacct", "pids"}]
            assert len(mine) >= 3
        assert mine and all(ln.endswith("/" + c.name) for ln in mine), lines


def test_joined_before_unshare_the_container_sees_its_cgroup_as_root(
        backend: cg.CgroupBackend) -> None:
    """Why join() must precede unshare(CLONE_NEWCGROUP): the namespace root is fixed then."""
    from amcr.kernel.namespaces import CLONE_NEWCGROUP, unshare
    with backend.create(f"{RUN}-ns") as c:
        fds = c.open_procs()

        def child() -> None:
            cg.join(fds)
            unshare(CLONE_NEWCGROUP)
        try:
            p = subprocess.Popen(["cat", "/proc/self/cgroup"], stdout=subprocess.PIPE,
                                 preexec_fn=child)
        finally:
            for fd in fds:
                os.close(fd)
        lines = p.communicate()[0].decode().splitlines()
        ours = {"memory", "cpu", "pids"} if backend.version == 1 else {""}   # v2: "0::/..."
        mine = [ln for ln in lines if set(ln.split(":")[1].split(",")) & ours]
        assert mine and all(ln.rsplit(":", 1)[1] == "/" for ln in mine), lines


HOG = """
import sys
chunks = []
for i in range(128):                 # at most 1 GiB: a bounded hog
    chunks.append(b"x" * (8 << 20))  # b"x" * n writes every page, so it is resident
    print(len(chunks) * 8, flush=True)
print("survived", flush=True)
"""
ECHO = "import sys\nb = b'y' * (16 << 20)\nfor line in sys.stdin:\n    print(line.strip(), " \
       "flush=True)\n"


def test_memory_hog_is_oom_killed_and_counted_while_a_neighbour_lives(
        backend: cg.CgroupBackend) -> None:
    lim = Limits.parse(memory="64m")
    with backend.create(f"{RUN}-hog") as hog_cg, backend.create(f"{RUN}-nb") as nb_cg:
        hog_cg.limit(lim)
        nb_cg.limit(lim)
        neighbour = spawn_in(nb_cg, [sys.executable, "-c", ECHO], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        hog = spawn_in(hog_cg, [sys.executable, "-c", HOG], stdout=subprocess.PIPE)
        out = hog.communicate(timeout=60)[0].decode().split()
        stats = hog_cg.stats()
        print(f"hog: status {hog.returncode}, last MiB reported {out[-1:]}, {stats}")
        assert hog.returncode == -9 and "survived" not in out
        assert int(out[-1]) <= 64
        assert stats.oom_kills is not None and stats.oom_kills >= 1
        assert hog_cg.oom_kills() >= 1
        assert stats.memory_peak is not None and stats.memory_peak <= 64 * MiB
        assert neighbour.poll() is None
        neighbour.stdin.write(b"still here\n")           # type: ignore[union-attr]
        neighbour.stdin.flush()                           # type: ignore[union-attr]
        assert neighbour.stdout.readline() == b"still here\n"   # type: ignore[union-attr]
        assert nb_cg.oom_kills() == 0
        neighbour.stdin.close()                           # type: ignore[union-attr]
        assert neighbour.wait(10) == 0


BOMB = """
import os, signal, sys
made = failed = 0
for i in range(200):                     # bounded: at most 200 children
    try:
        pid = os.fork()
    except BlockingIOError:              # EAGAIN: pids.max reached
        failed += 1
        continue
    if pid == 0:
        signal.pause()                   # children just sit there
        os._exit(0)
    made += 1
print(made, failed, flush=True)
signal.pause()
"""


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Orphans of a killed process tree come back to us to be reaped (not to PID 1,
    which on this machine does not reap)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _reap(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def test_fork_bomb_is_contained_and_the_host_stays_responsive(
        backend: cg.CgroupBackend, subreaper: None) -> None:
    with backend.create(f"{RUN}-bomb") as c:
        c.limit(Limits.parse(pids_limit="64"))
        bomb = spawn_in(c, [sys.executable, "-c", BOMB], stdout=subprocess.PIPE)
        try:
            made, failed = map(int, bomb.stdout.readline().split())  # type: ignore[union-attr]
            pids_now = c.stats().pids_current
            t0 = time.monotonic()
            subprocess.run(["true"], check=True)           # the host can still fork and exec
            host_latency = time.monotonic() - t0
            print(f"bomb: {made} forks succeeded, {failed} failed, pids.current {pids_now}, "
                  f"host fork+exec {host_latency * 1000:.1f} ms")
            assert made <= 63 and failed >= 200 - 63 and made + failed == 200
            assert pids_now is not None and pids_now <= 64
            assert host_latency < 1.0
            inside = c.procs()
            assert len(inside) == made + 1
        finally:
            inside = c.procs()
            t0 = time.monotonic()
            c.kill()
            assert c.wait_empty(5), "kill() left processes behind"
            print(f"kill of {len(inside)} processes took {(time.monotonic() - t0) * 1000:.1f} ms")
            bomb.wait(5)
            _reap(inside)
    assert bomb.returncode == -9


def test_half_a_cpu_is_half_a_cpu(backend: cg.CgroupBackend) -> None:
    with backend.create(f"{RUN}-cpu") as c:
        c.limit(Limits.parse(cpus="0.5"))
        busy = spawn_in(c, [sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)                          # past the interpreter's start-up
            u0, t0 = c.stats().cpu_usec, time.monotonic()
            time.sleep(5)
            u1, t1 = c.stats().cpu_usec, time.monotonic()
        finally:
            busy.kill()
            busy.wait()
        assert u0 is not None and u1 is not None
        share = (u1 - u0) / 1e6 / (t1 - t0)
        print(f"busy loop under --cpus 0.5: {share:.3f} of a core over {t1 - t0:.2f} s "
              f"({'cpuacct.usage' if backend.version == 1 else 'cpu.stat usage_usec'})")
        assert 0.4 <= share <= 0.6


ALLOC = "import sys\nb = b'x' * (100 << 20)\nprint('ready', flush=True)\nsys.stdin.read()\n"


def test_stats_show_a_100mb_allocation_within_10_percent(backend: cg.CgroupBackend) -> None:
    with backend.create(f"{RUN}-stats") as c:
        p = spawn_in(c, [sys.executable, "-c", ALLOC], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE)
        try:
            assert p.stdout.readline() == b"ready\n"    # type: ignore[union-attr]
            s = c.stats()
        finally:
            p.stdin.close()                             # type: ignore[union-attr]
            p.wait(10)
        print(f"100 MiB allocation: {s}")
        assert s.source == f"cgroup v{backend.version}"
        assert s.memory_current is not None and abs(s.memory_current - 100 * MiB) <= 10 * MiB
        assert s.memory_peak is not None and s.memory_peak >= s.memory_current
        assert s.pids_current == 1 and s.oom_kills == 0
        assert s.cpu_usec is not None and s.cpu_usec > 0
        assert s.io_read_bytes is not None and s.io_write_bytes is not None


def test_remove_kills_what_is_left_and_leaves_no_directory(backend: cg.CgroupBackend) -> None:
    c = backend.create(f"{RUN}-rm")
    procs = [spawn_in(c, ["sleep", "60"]) for _ in range(5)]
    assert len(c.procs()) == 5
    c.remove()
    assert [p.wait(5) for p in procs] == [-9] * 5
    assert not any(os.path.exists(d) for d in c.dirs)
    c.remove()              # idempotent: gone is gone


def test_collect_leftovers_takes_empty_ones_and_spares_live_ones(
        backend: cg.CgroupBackend) -> None:
    empty = backend.create(f"{RUN}-gc-empty")
    busy = backend.create(f"{RUN}-gc-busy")
    sleeper = spawn_in(busy, ["sleep", "60"])
    cg._live.difference_update({empty.name, busy.name})   # as if their runtime crashed
    try:
        removed = backend.collect_leftovers(prefix=cg.PREFIX + RUN + "-gc-", min_age=0)
        assert removed == [empty.name]
        assert not any(os.path.exists(d) for d in empty.dirs)
        assert all(os.path.isdir(d) for d in busy.dirs)
        assert backend.collect_leftovers(prefix=cg.PREFIX + RUN + "-gc-", min_age=60) == []
    finally:
        busy.remove()
        sleeper.wait(5)


def test_rootless_without_delegation_has_no_backend_and_says_how() -> None:
    """As amcrtest here: no delegated v2 subtree, v1 is root-only."""
    if os.geteuid() == 0:
        pytest.skip("the rootless expectation; CI runs it as the unprivileged user (amcrtest)")
    choice = cg.choose()
    print(f"rootless cgroups: {choice.why}")
    if choice.backend is not None:            # a host that does delegate (systemd, pure v2)
        assert choice.backend.version == 2 and "delegated" in choice.why
        return
    assert cg.select_backend() is None
    assert f"no cgroup amcr can use as uid {os.geteuid()}" in choice.why
    assert "run as root" in choice.why and "Delegate=yes" in choice.why
    assert "RLIMIT_AS" in choice.why
    assert cg.collect_leftovers() == []
    # what the start path makes of it: memory becomes an rlimit, cpu/pids an error or a warning
    p = plan(Limits.parse(memory="64m"), (), choice.why)
    assert p.memory_via == "rlimit" and p.rlimit_as == 64 * MiB and p.cgroup is None
    with pytest.raises(SpecError, match="--pids-limit 64 cannot be enforced: no cgroup"):
        plan(Limits.parse(pids_limit="64"), (), choice.why)
    warned = plan(Limits.parse(cpus="0.5", mode="warn"), (), choice.why)
    assert warned.warnings and "RLIMIT_AS" in warned.warnings[0]


def _unified() -> str | None:
    """The cgroup2 mountpoint, when this process is in its root cgroup and is root."""
    mounts = cg.cgroup_mounts(cg.read_text("/proc/self/mountinfo"))
    v2 = next((m for m in mounts if m[0] == "cgroup2"), None)
    own = cg.own_cgroups(cg.read_text("/proc/self/cgroup")).get("")
    if v2 is None or own != "/" or os.geteuid() != 0:
        return None
    return v2[1]


def test_v2_mechanics_for_real_even_without_its_limit_controllers() -> None:
    """On a hybrid host the unified tree has no memory/cpu/pids, but the v2 file
    protocol is still the kernel's: the "no internal processes" EBUSY and the
    amcr.runtime leaf that resolves it (using hugetlb as the controller to
    hand down), join before exec, cgroup.kill, cpu.stat, removal."""
    mount = _unified()
    if mount is None:
        pytest.skip("needs root in the root cgroup of a cgroup2 mount")
    have = open(mount + "/cgroup.controllers").read().split()
    if "hugetlb" not in have:
        pytest.skip(f"no controller to hand down in {mount} (has: {have})")
    from amcr.kernel.cgroups_v2 import V2Backend
    root_ctl = mount + "/cgroup.subtree_control"
    enabled_before = "hugetlb" in open(root_ctl).read().split()
    d = f"{mount}/{cg.PREFIX}{RUN}-v2d"            # plays the runtime's own cgroup D
    os.mkdir(d)
    resident = subprocess.Popen(["sleep", "60"])    # D holds a process, as a runtime's would
    try:
        if not enabled_before:
            cg.write_file(root_ctl, "+hugetlb")     # the root is exempt from the rule
        cg.write_file(d + "/cgroup.procs", str(resident.pid))
        with pytest.raises(OSError) as busy:        # the rule itself, on this kernel
            cg.write_file(d + "/cgroup.subtree_control", "+hugetlb")
        assert busy.value.errno == errno.EBUSY
        backend = V2Backend(d, frozenset(), "test", mountpoint=mount)
        backend._enable = ["hugetlb"]               # stand-in for memory/cpu/pids here
        with backend.create(f"{RUN}-v2c") as c:
            assert cg.read_pids(d + "/" + cg.RUNTIME_LEAF + "/cgroup.procs") == [resident.pid]
            assert "hugetlb" in open(d + "/cgroup.subtree_control").read().split()
            assert any(n.startswith("hugetlb.") for n in os.listdir(c.path))
            sleepers = [spawn_in(c, ["sleep", "60"]) for _ in range(3)]
            ours = open(f"/proc/{sleepers[0].pid}/cgroup").read()
            assert f"0::/{os.path.basename(d)}/{c.name}\n" in ours, ours
            s = c.stats()
            assert s.source == "cgroup v2" and s.cpu_usec is not None
            assert s.memory_current is None         # no memory controller in v2 here
        assert [p.wait(5) for p in sleepers] == [-9] * 3   # cgroup.kill (5.14+) or freeze
        assert not os.path.exists(c.path)
        assert resident.poll() is None              # the leaf's process is left alone
    finally:
        resident.kill()
        resident.wait()
        for sub in (d + "/" + cg.RUNTIME_LEAF, d):
            for _ in range(100):
                try:
                    os.rmdir(sub)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        if not enabled_before:
            cg.write_file(root_ctl, "-hugetlb")
    assert not os.path.exists(d)
