"""Tests for ``amcr info`` and the cgroup layout probe.

The cgroup probe is tested against fixture texts and a fake root under
tmp_path (pure v2 and hybrid), so it does not depend on this machine's layout;
collect() is tested for real, because its whole point is to probe the host.
"""
from __future__ import annotations

import glob
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from amcr import info
from amcr.kernel import cgroups_probe as cg

# A pure cgroup v2 host (Debian 12 with systemd), a user session shell that
# runs inside a delegated user@1000.service scope.
V2_MOUNTINFO = """\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 24 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
25 22 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8000000k
"""
V2_SCOPE = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"
V2_CGROUP = f"0::{V2_SCOPE}\n"

# This build machine: v1 controllers, and a cgroup2 mount holding only hugetlb.
HYBRID_MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_CGROUP = """\
9:name=systemd:/
8:pids:/
4:memory:/process_api/8ba6
2:cpuacct:/
1:cpu:/
0::/
"""


def _fake_v2_root(root: Path, owner: int) -> None:
    scope = root / "sys/fs/cgroup" / V2_SCOPE.lstrip("/")
    scope.mkdir(parents=True)
    (scope / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (scope / "cgroup.procs").write_text("")
    if os.getuid() == 0:
        os.chown(scope, owner, owner)


def _fake_hybrid_root(root: Path) -> None:
    for d in ("cpu", "cpuacct", "memory/process_api/8ba6", "pids", "systemd", "unified"):
        (root / "sys/fs/cgroup" / d).mkdir(parents=True)
    (root / "sys/fs/cgroup/unified/cgroup.controllers").write_text("hugetlb\n")
    (root / "sys/fs/cgroup/unified/cgroup.procs").write_text("")


def test_parse_mountinfo_finds_cgroup_mounts_and_unescapes() -> None:
    extra = "50 31 0:40 /sub /a\\040b rw shared:3 - cgroup cg rw,cpu,cpuacct\n"
    mounts = cg.parse_mountinfo(HYBRID_MOUNTINFO + extra)
    by_point = {m.mountpoint: m for m in mounts}
    assert by_point["/sys/fs/cgroup/memory"].controllers == ("memory",)
    assert by_point["/sys/fs/cgroup/systemd"].controllers == ()  # a named hierarchy only
    assert by_point["/sys/fs/cgroup/unified"].fstype == "cgroup2"
    assert by_point["/a b"].controllers == ("cpu", "cpuacct")
    assert by_point["/a b"].root == "/sub"
    assert "/sys/fs/cgroup" not in by_point  # the tmpfs holding them is not a cgroup


def test_parse_proc_cgroup() -> None:
    paths = cg.parse_proc_cgroup(HYBRID_CGROUP + "3:cpu,cpuacct:/x\n")
    assert paths["memory"] == "/process_api/8ba6"
    assert paths[""] == "/"
    assert paths["name=systemd"] == "/"
    assert paths["cpu"] == "/"  # the first line wins, as the kernel lists one per hierarchy


def test_pure_v2_delegated(tmp_path: Path) -> None:
    owner = os.getuid() or 12345
    _fake_v2_root(tmp_path, owner)
    layout = cg.probe(V2_MOUNTINFO, V2_CGROUP, prefix=str(tmp_path), uid=owner)
    assert layout.mode == "v2"
    assert layout.v1 == ()
    v2 = layout.v2
    assert v2 is not None
    assert v2.mountpoint == "/sys/fs/cgroup"
    assert v2.path == V2_SCOPE
    assert v2.directory == "/sys/fs/cgroup" + V2_SCOPE  # host path, without the prefix
    assert v2.controllers == ("cpuset", "cpu", "io", "memory", "pids")
    assert v2.writable and v2.writable_dir == v2.directory
    assert v2.delegated
    lines = cg.assess(layout, "alice")
    assert [(n, ok) for n, ok, _, _ in lines] == [("cgroup v2", True)]
    assert "memory, cpu, pids" in lines[0][2] and "delegated to alice" in lines[0][2]


def test_pure_v2_not_delegated(tmp_path: Path) -> None:
    # The process's cgroup does not exist under the fake root: nothing is writable.
    layout = cg.probe(V2_MOUNTINFO, V2_CGROUP, prefix=str(tmp_path), uid=1000)
    assert layout.mode == "v2" and layout.v2 is not None
    assert not layout.v2.writable and layout.v2.controllers == ()
    (name, ok, _, fix), = cg.assess(layout, "alice")
    assert name == "cgroup v2" and not ok
    assert "Delegate=yes" in fix and "RLIMIT_AS" in fix


def test_hybrid_as_root(tmp_path: Path) -> None:
    _fake_hybrid_root(tmp_path)
    layout = cg.probe(HYBRID_MOUNTINFO, HYBRID_CGROUP, prefix=str(tmp_path), uid=0)
    assert layout.mode == "hybrid"
    assert layout.v2 is not None
    assert layout.v2.mountpoint == "/sys/fs/cgroup/unified"
    assert layout.v2.controllers == ("hugetlb",)
    assert [c.name for c in layout.v1] == ["memory", "cpu", "pids"]
    mem = layout.v1_controller("memory")
    assert mem is not None
    assert mem.directory == "/sys/fs/cgroup/memory/process_api/8ba6"
    assert mem.writable  # the fixture dirs are ours (or we are root)
    lines = {n: (ok, d, fix) for n, ok, d, fix in cg.assess(layout, "root")}
    assert lines["cgroup v2"][0] is False and "only hugetlb" in lines["cgroup v2"][1]
    assert "unified_cgroup_hierarchy" in lines["cgroup v2"][2]
    assert lines["cgroup v1"][0] is True


def test_hybrid_not_writable(tmp_path: Path) -> None:
    layout = cg.probe(HYBRID_MOUNTINFO, HYBRID_CGROUP, prefix=str(tmp_path / "none"), uid=1001)
    assert layout.mode == "hybrid"
    assert not any(c.writable for c in layout.v1)
    lines = cg.assess(layout, "amcrtest")
    assert [(n, ok) for n, ok, _, _ in lines] == [("cgroup v2", False), ("cgroup v1", False)]
    _, _, detail, fix = lines[-1]
    assert "not writable by amcrtest" in detail
    assert fix.startswith("run as root") and "RLIMIT_AS" in fix


def test_v1_only_and_none() -> None:
    v1_only = "\n".join(l for l in HYBRID_MOUNTINFO.splitlines() if "cgroup2" not in l)
    assert cg.probe(v1_only, HYBRID_CGROUP, prefix="/nonexistent").mode == "v1"
    none = cg.probe("27 1 254:0 / / rw - ext4 /dev/vda rw\n", "", prefix="/nonexistent")
    assert none.mode == "none" and none.v2 is None and none.v1 == ()
    assert [n for n, *_ in cg.assess(none, "x")] == ["cgroup v1"]


def test_probe_this_machine_has_no_side_effects() -> None:
    layout = cg.probe()
    assert layout.mode in ("v2", "hybrid", "v1", "none")


def test_render_aligns_and_appends_fix() -> None:
    host = info.Host(2, 4, 8 * 2**30, 3 * 2**30, 6 * 2**30, "6.1.0")
    text = info.render([info.Feature("overlay", True, "fine"),
                        info.Feature("cgroup v1", False, "nope", "run as root")], host)
    first, a, b = text.splitlines()
    assert first == ("host: 2 CPUs (of 4), 8.0 GiB RAM (3.0 GiB free, 6.0 GiB available), "
                     "kernel 6.1.0")
    assert a == "overlay    yes  fine"
    assert b == "cgroup v1  no   nope -> run as root"


def test_host_facts() -> None:
    host = info.host_facts()
    assert host.cpus >= 1 and host.cpus_online >= host.cpus
    assert host.mem_total > 0 and 0 < host.mem_available <= host.mem_total
    assert host.kernel == os.uname().release


def test_remove_tree_copes_with_mode_000_dirs(tmp_path: Path) -> None:
    (tmp_path / "t/work/work").mkdir(parents=True)
    (tmp_path / "t/work/work/f").write_text("x")
    os.chmod(tmp_path / "t/work/work", 0)
    info._remove_tree(str(tmp_path / "t"))
    assert not (tmp_path / "t").exists()


def test_collect_on_this_machine() -> None:
    before = set(glob.glob("/tmp/amcr-info-*"))
    features = info.collect()
    names = [f.name for f in features]
    assert names[:5] == ["user namespaces", "id mapping", "overlay", "pivot_root", "seccomp"]
    assert names[-1] == "pty"
    expected = [n for n, *_ in cg.assess(cg.probe(), "x")]
    assert names[5:-1] == expected
    by_name = {f.name: f for f in features}
    for name in ("user namespaces", "overlay", "pivot_root", "id mapping", "pty"):
        assert by_name[name].available, by_name[name]
    for f in features:
        assert f.available or f.fix, f  # every "no" says what to do
    assert set(glob.glob("/tmp/amcr-info-*")) == before  # nothing left behind
    assert info.main() == 0


def _unprivileged_user() -> str | None:
    if os.getuid() != 0:
        return None
    try:
        return pwd.getpwnam("amcrtest").pw_name
    except KeyError:
        return None


@pytest.mark.skipif(_unprivileged_user() is None, reason="needs root and the amcrtest user")
def test_collect_as_unprivileged_user() -> None:
    root = str(Path(info.__file__).resolve().parents[1])
    # /root/... (pyenv) is not readable by the user: prefer the system interpreter.
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    code = ("import amcr.info as i\n"
            "f = {x.name: x for x in i.collect()}\n"
            "print(f['user namespaces'].available, f['overlay'].available, "
            "f['pivot_root'].available, f['id mapping'].available)\n")
    out = subprocess.run(["runuser", "-u", "amcrtest", "--", "env", f"PYTHONPATH={root}",
                          "PYTHONDONTWRITEBYTECODE=1", python, "-c", code],
                         capture_output=True, text=True, timeout=60, cwd="/tmp")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True"] * 4
