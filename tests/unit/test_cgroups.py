"""The cgroup layer's choices and file protocol, against a fake cgroupfs in tmp_path.

A real cgroupfs is only writable by root and exists in one layout per host;
these tests describe hosts (pure v2 with systemd delegation, hybrid like the
build machine, root and rootless) with fixture texts and a directory tree
whose kernel rules :class:`FakeCgroupFS` imitates: mkdir fills a cgroup with
control files, a PID written to ``cgroup.procs`` leaves its old cgroup,
``subtree_control`` refuses while the cgroup holds processes (EBUSY),
``cgroup.kill`` kills, rmdir refuses while processes remain. The v1 and v2
protocol tests are in test_cgroups_v1.py and test_cgroups_v2.py.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from amcr.errors import KernelError
from amcr.kernel import cgroups as cg
from amcr.kernel import cgroups_probe
from amcr.kernel.cgroups_v1 import V1Backend
from amcr.kernel.cgroups_v2 import V2Backend

V2_MOUNTINFO = """\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
27 24 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
"""
V2_SCOPE = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"

HYBRID_MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_CGROUP = """\
9:name=systemd:/
8:pids:/
7:freezer:/
4:memory:/process_api/8ba6
2:cpuacct:/
1:cpu:/
0::/
"""

#: Control files a new cgroup gets, per controller (v2).
V2_FILES = {
    "": {"cgroup.procs": "", "cgroup.subtree_control": "", "cgroup.events":
         "populated 0\nfrozen 0\n", "cgroup.freeze": "0", "cgroup.kill": "",
         "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"},
    "memory": {"memory.max": "max", "memory.swap.max": "max", "memory.current": "0",
               "memory.peak": "0", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"},
    "cpu": {"cpu.max": "max 100000"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "io": {"io.stat": ""},
}
#: ... and per v1 hierarchy.
V1_FILES = {
    "": {"cgroup.procs": "", "tasks": ""},
    "memory": {"memory.limit_in_bytes": "9223372036854771712",
               "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.usage_in_bytes": "0", "memory.max_usage_in_bytes": "0",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"},
    "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1"},
    "cpuacct": {"cpuacct.usage": "0"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {"blkio.throttle.io_service_bytes_recursive": "Total 0\n"},
}


class FakeCgroupFS:
    """The kernel's cgroupfs rules, on plain files under ``root``.

    Installed by replacing the file-protocol functions of amcr.kernel.cgroups
    (write_file, make_dir, remove_dir); paths outside ``root`` go to the real
    functions. ``writes`` logs every write as (path relative to root, text).
    """

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = str(root)
        self.writes: list[tuple[str, str]] = []
        self.v1: dict[str, tuple[str, ...]] = {}   # hierarchy root dir -> controllers
        self.v2_root = ""
        self.no_kill_file = False
        self.no_swap = False
        self._real = (cg.write_file, cg.make_dir, cg.remove_dir)
        monkeypatch.setattr(cg, "write_file", self.write_file)
        monkeypatch.setattr(cg, "make_dir", self.make_dir)
        monkeypatch.setattr(cg, "remove_dir", self.remove_dir)

    # --- building a host ---
    def v2_tree(self, mount: str, own: str, controllers: str = "cpuset cpu io memory pids",
                procs: str = "") -> str:
        """The unified mount and our own cgroup in it (with ``procs`` in it)."""
        self.v2_root = self.root + mount
        d = self.v2_root + own
        os.makedirs(d)
        self._fill(d, V2_FILES[""])
        Path(d, "cgroup.controllers").write_text(controllers + "\n")
        Path(d, "cgroup.procs").write_text(procs)
        return d

    def v1_tree(self, mount: str, controllers: tuple[str, ...], own: str = "/") -> str:
        top = self.root + mount
        self.v1[top] = controllers
        d = os.path.normpath(top + own)
        os.makedirs(d, exist_ok=True)
        self._fill(d, V1_FILES[""])
        return d

    @staticmethod
    def _fill(d: str, files: dict[str, str]) -> None:
        for name, text in files.items():
            Path(d, name).write_text(text)

    def _hierarchy(self, path: str) -> tuple[str, tuple[str, ...] | None]:
        for top, ctrls in self.v1.items():
            if path == top or path.startswith(top + "/"):
                return top, ctrls
        return self.v2_root, None

    def _inside(self, path: str) -> bool:
        return path.startswith(self.root + "/")

    def procs(self, d: str) -> list[int]:
        return [int(p) for p in Path(d, "cgroup.procs").read_text().split()]

    def put(self, d: str, pid: int) -> None:
        """A process appears in ``d`` (as if forked there)."""
        Path(d, "cgroup.procs").write_text(" ".join(map(str, self.procs(d) + [pid])) + "\n")

    # --- the kernel's side of the protocol ---
    def make_dir(self, path: str) -> None:
        if not self._inside(path):
            return self._real[1](path)
        os.mkdir(path)
        top, v1 = self._hierarchy(path)
        if v1 is not None:
            self._fill(path, V1_FILES[""])
            for c in v1:
                files = dict(V1_FILES.get(c, {}))
                if self.no_swap:
                    files.pop("memory.memsw.limit_in_bytes", None)
                self._fill(path, files)
            return None
        parent = os.path.dirname(path)
        enabled = Path(parent, "cgroup.subtree_control").read_text().split()
        self._fill(path, V2_FILES[""])
        if self.no_kill_file:
            os.unlink(path + "/cgroup.kill")
        Path(path, "cgroup.controllers").write_text(" ".join(enabled) + "\n")
        for c in enabled:
            files = dict(V2_FILES.get(c, {}))
            if self.no_swap:
                files.pop("memory.swap.max", None)
            self._fill(path, files)
        return None

    def write_file(self, path: str, text: str) -> None:
        if not self._inside(path):
            return self._real[0](path, text)
        if not os.path.exists(path):      # cgroupfs never creates files
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.writes.append((path[len(self.root):], text))
        d, name = os.path.split(path)
        top, v1 = self._hierarchy(path)
        if name == "cgroup.procs":
            pid = int(text) or os.getpid()
            if v1 is None and d != top and Path(d, "cgroup.subtree_control").read_text().strip():
                raise OSError(errno.EBUSY, "Device or resource busy", path)
            for other in Path(top).rglob("cgroup.procs"):
                pids = [p for p in other.read_text().split() if int(p) != pid]
                other.write_text(" ".join(pids) + ("\n" if pids else ""))
            self.put(d, pid)
        elif name == "cgroup.subtree_control":
            have = set(Path(d, "cgroup.subtree_control").read_text().split())
            offered = set(Path(d, "cgroup.controllers").read_text().split())
            for token in text.split():
                if token[1:] not in offered:
                    raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
                if d != top and self.procs(d):
                    raise OSError(errno.EBUSY, "Device or resource busy", path)
                (have.add if token[0] == "+" else have.discard)(token[1:])
            Path(path).write_text(" ".join(sorted(have)) + "\n")
        elif name == "cgroup.kill":
            for pid in self.procs(d):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            Path(d, "cgroup.procs").write_text("")
        elif name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
            mem = int(text) if name == "memory.limit_in_bytes" else int(
                Path(d, "memory.limit_in_bytes").read_text())
            memsw_raw = text if name != "memory.limit_in_bytes" else Path(
                d, "memory.memsw.limit_in_bytes").read_text() if os.path.exists(
                d + "/memory.memsw.limit_in_bytes") else "-1"
            memsw = int(memsw_raw)
            if memsw != -1 and mem > memsw:    # the kernel keeps memory <= memsw
                raise OSError(errno.EINVAL, "Invalid argument", path)
            Path(path).write_text(text)
        else:
            Path(path).write_text(text)
        return None

    def remove_dir(self, path: str) -> None:
        if not self._inside(path):
            return self._real[2](path)
        if self.procs(path) or any(e.is_dir() for e in os.scandir(path)):
            raise OSError(errno.EBUSY, "Device or resource busy", path)
        for e in os.scandir(path):
            os.unlink(e.path)
        os.rmdir(path)
        return None


@pytest.fixture
def fakefs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCgroupFS:
    return FakeCgroupFS(tmp_path, monkeypatch)


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Real processes to put into fake cgroups (so kill() has something to kill)."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def start_sleeper(sleepers: list[subprocess.Popen[bytes]]) -> int:
    p = subprocess.Popen(["sleep", "60"])
    sleepers.append(p)
    return p.pid


# --- parsing: same results as the probe amcr info uses -------------------------------

ESCAPED = "50 31 0:40 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,cpu,cpuacct,nsdelegate\n"


@pytest.mark.parametrize("text", [V2_MOUNTINFO, HYBRID_MOUNTINFO, ESCAPED, "garbage\n- x\n"])
def test_mount_scan_agrees_with_the_probe(text: str) -> None:
    ours = cg.cgroup_mounts(text)
    probe = [(m.fstype, m.mountpoint, m.root, m.controllers)
             for m in cgroups_probe.parse_mountinfo(text)]
    assert ours == probe


def test_own_cgroups_agrees_with_the_probe() -> None:
    assert cg.own_cgroups(HYBRID_CGROUP) == cgroups_probe.parse_proc_cgroup(HYBRID_CGROUP)
    assert cg.own_cgroups(HYBRID_CGROUP)["memory"] == "/process_api/8ba6"


def test_join_path_refuses_what_is_not_below_the_mount() -> None:
    assert cg.join_path("/sys/fs/cgroup", "/", "/a/b") == "/sys/fs/cgroup/a/b"
    assert cg.join_path("/sys/fs/cgroup", "/a", "/a/b") == "/sys/fs/cgroup/b"
    assert cg.join_path("/sys/fs/cgroup", "/a", "/c") is None     # another subtree
    assert cg.join_path("/sys/fs/cgroup", "/", "/../x") is None   # outside our cgroupns


# --- choosing a backend ---------------------------------------------------------------

def test_root_on_pure_v2_picks_v2_below_its_own_cgroup(fakefs: FakeCgroupFS) -> None:
    own = fakefs.v2_tree("/sys/fs/cgroup", V2_SCOPE)
    choice = cg.choose(0, mountinfo=V2_MOUNTINFO, proc_cgroup=f"0::{V2_SCOPE}\n",
                       root=fakefs.root)
    assert isinstance(choice.backend, V2Backend)
    assert choice.backend.bases() == (own,)
    assert choice.backend.controllers == {"memory", "cpu", "pids"}
    assert choice.why == f"cgroup v2: memory, cpu, pids at /sys/fs/cgroup{V2_SCOPE}"


def test_rootless_gets_v2_only_when_the_subtree_is_its_own(fakefs: FakeCgroupFS) -> None:
    fakefs.v2_tree("/sys/fs/cgroup", V2_SCOPE, controllers="memory pids")
    me = os.getuid()        # the tree belongs to whoever runs the test
    got = cg.choose(me or 1000, mountinfo=V2_MOUNTINFO, proc_cgroup=f"0::{V2_SCOPE}\n",
                    root=fakefs.root)
    if me == 0:             # as root the tree is root's: uid 1000 does not own it
        assert got.backend is None
        assert "is not delegated to uid 1000" in got.why
        assert "Delegate=yes" in got.why and "run as root" in got.why
        return
    assert isinstance(got.backend, V2Backend)
    assert got.backend.controllers == {"memory", "pids"}
    assert "cpu not delegated" in got.why and "Delegate=cpu" in got.why


def test_rootless_not_owner_gets_none_and_how_to_fix(fakefs: FakeCgroupFS) -> None:
    fakefs.v2_tree("/sys/fs/cgroup", V2_SCOPE)
    other = os.getuid() + 4242
    got = cg.choose(other, mountinfo=V2_MOUNTINFO, proc_cgroup=f"0::{V2_SCOPE}\n",
                    root=fakefs.root)
    assert got.backend is None
    assert f"no cgroup amcr can use as uid {other}" in got.why
    assert "systemd-run --user --scope -p Delegate=yes" in got.why
    assert "RLIMIT_AS" in got.why


def test_root_on_hybrid_picks_v1_with_a_dir_per_hierarchy(fakefs: FakeCgroupFS) -> None:
    fakefs.v2_tree("/sys/fs/cgroup/unified", "/", controllers="hugetlb")
    mem = fakefs.v1_tree("/sys/fs/cgroup/memory", ("memory",), "/process_api/8ba6")
    for c in ("cpu", "cpuacct", "pids", "freezer"):
        fakefs.v1_tree(f"/sys/fs/cgroup/{c}", (c,))
    got = cg.choose(0, mountinfo=HYBRID_MOUNTINFO, proc_cgroup=HYBRID_CGROUP,
                    root=fakefs.root)
    assert isinstance(got.backend, V1Backend)
    assert got.backend.controllers == {"memory", "cpu", "pids"}
    assert mem in got.backend.bases()
    assert fakefs.root + "/sys/fs/cgroup/cpu" in got.backend.bases()
    assert "cgroup v1" in got.why and "hugetlb" in got.why


def test_rootless_on_hybrid_gets_none(fakefs: FakeCgroupFS) -> None:
    fakefs.v2_tree("/sys/fs/cgroup/unified", "/", controllers="hugetlb")
    got = cg.choose(1001, mountinfo=HYBRID_MOUNTINFO, proc_cgroup=HYBRID_CGROUP,
                    root=fakefs.root)
    assert got.backend is None
    assert "has only hugetlb, memory, cpu and pids are bound to cgroup v1" in got.why
    assert "cgroup v1 cannot be delegated" in got.why


def test_a_runtime_in_its_leaf_uses_the_leafs_parent(fakefs: FakeCgroupFS) -> None:
    """After the v2 leaf dance, the next amcr (started from the moved shell) must not nest."""
    own = fakefs.v2_tree("/sys/fs/cgroup", V2_SCOPE)
    os.mkdir(own + "/" + cg.RUNTIME_LEAF)
    got = cg.choose(0, mountinfo=V2_MOUNTINFO,
                    proc_cgroup=f"0::{V2_SCOPE}/{cg.RUNTIME_LEAF}\n", root=fakefs.root)
    assert got.backend is not None and got.backend.bases() == (own,)


def test_prefer_forces_a_version(fakefs: FakeCgroupFS) -> None:
    fakefs.v2_tree("/sys/fs/cgroup/unified", "/", controllers="hugetlb")
    for c in ("memory", "cpu", "pids"):
        fakefs.v1_tree(f"/sys/fs/cgroup/{c}", (c,))
    got = cg.choose(0, mountinfo=HYBRID_MOUNTINFO, proc_cgroup=HYBRID_CGROUP,
                    root=fakefs.root, prefer=2)
    assert got.backend is None and "has only hugetlb" in got.why


def test_invalid_container_ids_never_become_paths() -> None:
    for bad in ("", "../x", "a/b", ".hidden", "x" * 200):
        with pytest.raises(KernelError):
            cg.cgroup_name(bad)
    assert cg.cgroup_name("c0ffee") == "amcr-c0ffee"


# --- what v1 and v2 share --------------------------------------------------------------

def test_join_writes_zero_meaning_myself(tmp_path: Path) -> None:
    """The child's whole job: ``0`` into each pre-opened cgroup.procs, before unshare."""
    files = [tmp_path / "a", tmp_path / "b"]
    for f in files:
        f.write_text("")
    fds = [os.open(f, os.O_WRONLY) for f in files]
    pid = os.fork()
    if pid == 0:
        try:
            cg.join(fds)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    for fd in fds:
        os.close(fd)
    assert [f.read_text() for f in files] == ["0", "0"]


def test_collect_leftovers_removes_only_old_empty_ones(fakefs: FakeCgroupFS,
                                                        sleepers: list) -> None:
    own = fakefs.v2_tree("/sys/fs/cgroup", V2_SCOPE)
    backend = V2Backend(own, frozenset({"memory", "cpu", "pids"}), "test")
    old = backend.create("old")
    busy = backend.create("busy")
    young = backend.create("young")
    mine = backend.create("mine")
    fakefs.put(busy.path, start_sleeper(sleepers))
    os.mkdir(own + "/unrelated")
    long_ago = time.time() - 3600
    for c in (old, busy, mine):
        os.utime(c.path, (long_ago, long_ago))
    cg._live.difference_update({"amcr-old", "amcr-busy", "amcr-young"})   # "a crashed runtime"
    assert backend.collect_leftovers() == ["amcr-old"]
    left = sorted(e.name for e in os.scandir(own) if e.is_dir())
    assert left == ["amcr-busy", "amcr-mine", "amcr-young", "unrelated"]
    for c in (busy, young, mine):
        c.remove()
    assert not busy.procs() and not os.path.exists(busy.path)
