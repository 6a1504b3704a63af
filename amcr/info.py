"""``amcr info``: what this host offers a rootless container, and what to fix.

Every feature is probed for real rather than guessed from kernel versions or
sysctls, because distributions patch those (Debian's unprivileged_userns_clone,
Ubuntu 24.04's AppArmor restriction) and containers hide them. Probes that need
new namespaces run in a forked child, so the caller's namespaces, mounts and
credentials stay untouched; the child always leaves with ``os._exit`` so it
can never return into (and run the rest of) the caller. Temporary directories
are created by the parent and removed by it, so nothing is left behind.
"""
from __future__ import annotations

import ctypes
import os
import shutil
from dataclasses import dataclass
from typing import Callable

from amcr.kernel import cgroups_probe
from amcr.kernel.mounts import MNT_DETACH, MS_PRIVATE, MS_REC, mount, pivot_root, umount
from amcr.kernel.namespaces import CLONE_NEWNS, CLONE_NEWUSER, unshare
from amcr.kernel.userns import IdMapping, choose_mapping, write_map_for, write_self_map


@dataclass(frozen=True)
class Feature:
    """One line of ``amcr info``: available or not, and if not, what to do."""

    name: str
    available: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Host:
    """Facts about the machine, for the first line."""

    cpus: int            # CPUs this process may run on (sched_getaffinity)
    cpus_online: int     # os.cpu_count()
    mem_total: int       # bytes, from /proc/meminfo
    mem_free: int
    mem_available: int
    kernel: str


@dataclass(frozen=True)
class _Probe:
    ok: bool
    errno: int
    message: str


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def host_facts() -> Host:
    """CPUs, memory and kernel release, from os and /proc/meminfo."""
    mem: dict[str, int] = {}
    for line in (_read("/proc/meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            mem[key] = int(parts[0]) * 1024
    online = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except OSError:
        usable = online
    return Host(usable, online, mem.get("MemTotal", 0), mem.get("MemFree", 0),
                mem.get("MemAvailable", mem.get("MemFree", 0)), os.uname().release)


def _in_child(body: Callable[[], str]) -> _Probe:
    """Run ``body`` in a forked child and report how it went through a pipe.

    Must be called from a single-threaded process: unshare(CLONE_NEWUSER)
    refuses (EINVAL) in a multithreaded one, and so would the probe.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return from here
        code = 1
        try:
            os.close(r)
            try:
                msg, code = "0 " + body(), 0
            except OSError as e:
                msg = f"{e.errno or 0} {e.strerror or e}"
            except BaseException as e:  # noqa: BLE001 - reported, not raised
                msg = f"0 {type(e).__name__}: {e}"
            os.write(w, msg.encode(errors="replace")[:4000])
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    err, _, message = data.partition(" ")
    ok = os.waitstatus_to_exitcode(status) == 0 and err == "0"
    if not ok and not message:
        message = f"probe child ended with status {status}"
    return _Probe(ok, int(err) if err.isdigit() else 0, message)


def _self_map() -> IdMapping:
    """The one mapping any user may write for itself: inside 0 -> our uid/gid."""
    return IdMapping(((0, os.getuid(), 1),), ((0, os.getgid(), 1),), helper=False, reason="")


def _enter_user_mount_ns() -> None:
    """Child side: own user + mount namespace, mapped, with private propagation."""
    mapping = _self_map()  # before unshare: afterwards getuid() is the overflow uid 65534
    unshare(CLONE_NEWUSER | CLONE_NEWNS)
    write_self_map(mapping)
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def _remove_tree(path: str) -> None:
    """rmtree that copes with overlayfs's mode-000 ``work/work`` directory."""
    def onerror(func: Callable[..., object], p: str, _exc: object) -> None:
        try:
            os.chmod(p, 0o700)
        except OSError:
            pass
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass
    shutil.rmtree(path, onerror=onerror)


def _with_tmpdir(body: Callable[[str], str]) -> _Probe:
    import tempfile  # only here: it pulls in random, and info is the only user
    base = tempfile.mkdtemp(prefix="amcr-info-", dir="/tmp")
    try:
        return _in_child(lambda: body(base))
    finally:
        _remove_tree(base)


def _userns_feature() -> Feature:
    def body() -> str:
        unshare(CLONE_NEWUSER)
        return ""
    res = _in_child(body)
    knobs, fixes = [], []
    max_ns = _read("/proc/sys/user/max_user_namespaces")
    if max_ns is not None:
        knobs.append(f"max {max_ns}")
        if max_ns == "0":
            fixes.append("sudo sysctl -w user.max_user_namespaces=15000")
    clone = _read("/proc/sys/kernel/unprivileged_userns_clone")
    if clone is not None:
        knobs.append(f"unprivileged_userns_clone={clone}")
        if clone == "0":
            fixes.append("sudo sysctl -w kernel.unprivileged_userns_clone=1")
    apparmor = _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    if apparmor is not None:
        knobs.append(f"apparmor_restrict_unprivileged_userns={apparmor}")
        if apparmor != "0":
            fixes.append("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
                         "(or an AppArmor profile granting 'userns,' to python3)")
    detail = ", ".join(knobs)
    if res.ok:
        return Feature("user namespaces", True, detail)
    detail = f"unshare(CLONE_NEWUSER) failed: {res.message}" + (f"; {detail}" if detail else "")
    return Feature("user namespaces", False, detail,
                   "; ".join(fixes) or "enable CONFIG_USER_NS, or allow user namespaces in "
                   "the enclosing container (e.g. docker --security-opt seccomp=unconfined)")


def _idmap_feature() -> Feature:
    mapping = choose_mapping()
    if mapping.size <= 1:
        head, sep, tail = mapping.reason.rpartition(" (")
        if sep and tail.endswith(")"):
            return Feature("id mapping", False, head, tail[:-1].removeprefix("run: "))
        return Feature("id mapping", False, mapping.reason, "")
    if not mapping.helper:
        return Feature("id mapping", True, mapping.reason)
    err = _check_helpers(mapping)
    if err:
        return Feature("id mapping", False, f"{mapping.reason}; but {err}",
                       "newuidmap/newgidmap must be setuid root or have cap_setuid/cap_setgid "
                       "(sudo chmod u+s /usr/bin/newuidmap /usr/bin/newgidmap)")
    return Feature("id mapping", True, mapping.reason)


def _check_helpers(mapping: IdMapping) -> str:
    """Really run newuidmap/newgidmap on a throwaway child; "" when they work."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(go_w)
            try:
                unshare(CLONE_NEWUSER)
                os.write(ready_w, b"0")
            except OSError as e:
                os.write(ready_w, str(e.strerror).encode())
            os.read(go_r, 1)  # until the parent is done (EOF)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        with os.fdopen(ready_r, "rb") as f:
            state = f.read(200).decode(errors="replace")
        if state != "0":
            return state or "the probe child died"
        write_map_for(pid, mapping)
        return ""
    except OSError as e:
        return str(e.strerror or e)
    finally:
        os.close(go_w)
        os.waitpid(pid, 0)


def _overlay_feature(userns_ok: bool) -> Feature:
    def body(base: str) -> str:
        _enter_user_mount_ns()
        mount("overlay", f"{base}/merged", "overlay", 0,
              f"lowerdir={base}/lower,upperdir={base}/upper,workdir={base}/work")
        os.stat(f"{base}/merged/probe")  # the lower layer shows through
        return ""

    def run(base: str) -> str:
        for d in ("lower", "upper", "work", "merged"):
            os.mkdir(f"{base}/{d}")
        with open(f"{base}/lower/probe", "w"):
            pass
        return body(base)
    res = _with_tmpdir(run)
    if res.ok:
        return Feature("overlay", True, "overlayfs mounts in a user namespace")
    fix = ("enable user namespaces first" if not userns_ok else
           "needs Linux >= 5.11 (overlayfs in user namespaces) and /tmp not on overlayfs")
    return Feature("overlay", False, f"overlay mount failed: {res.message}", fix)


def _pivot_root_feature(userns_ok: bool) -> Feature:
    def body(base: str) -> str:
        _enter_user_mount_ns()
        mount("tmpfs", base, "tmpfs", 0, "size=64k")
        os.chdir(base)
        pivot_root(".", ".")
        umount(".", MNT_DETACH)
        return ""
    res = _with_tmpdir(body)
    if res.ok:
        return Feature("pivot_root", True, "into a tmpfs, in a user + mount namespace")
    fix = ("enable user namespaces first" if not userns_ok else
           "the host root must be a real mount, not initramfs (EINVAL)")
    return Feature("pivot_root", False, f"pivot_root failed: {res.message}", fix)


def _seccomp_feature() -> Feature:
    import importlib.util
    kernel = os.path.exists("/proc/sys/kernel/seccomp/actions_avail")
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
        lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
        v = lib.seccomp_version().contents
        libver = f"libseccomp {v[0]}.{v[1]}.{v[2]}"
    except (OSError, AttributeError):
        libver = ""
    pymod = importlib.util.find_spec("pyseccomp") is not None
    if kernel and libver and pymod:
        return Feature("seccomp", True, f"{libver} and pyseccomp")
    missing, fixes = [], []
    if not kernel:
        missing.append("kernel has no seccomp filters")
        fixes.append("a kernel with CONFIG_SECCOMP_FILTER")
    if not libver:
        missing.append("libseccomp.so.2 not found")
        fixes.append("apt install libseccomp2")
    if not pymod:
        missing.append("pyseccomp not installed")
        fixes.append("pip install pyseccomp")
    have = f"{libver}; " if libver else ""
    return Feature("seccomp", False, have + ", ".join(missing),
                   ", ".join(fixes) + "; containers run without a syscall filter")


def _user_name() -> str:
    import pwd
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _cgroup_features() -> list[Feature]:
    return [Feature(*v) for v in cgroups_probe.assess(cgroups_probe.probe(), _user_name())]


def _pty_feature() -> Feature:
    try:
        master, slave = os.openpty()
    except OSError as e:
        return Feature("pty", False, f"/dev/ptmx: {e.strerror}",
                       "mount devpts (mount -t devpts devpts /dev/pts) and make /dev/ptmx "
                       "readable; -t will not work until then")
    try:
        name = os.ttyname(slave)
    except OSError:
        name = "a pty"
    finally:
        os.close(master)
        os.close(slave)
    return Feature("pty", True, f"/dev/ptmx opens ({name})")


def collect() -> list[Feature]:
    """Probe every feature; call from a single-threaded process (see _in_child)."""
    userns = _userns_feature()
    return [userns, _idmap_feature(), _overlay_feature(userns.available),
            _pivot_root_feature(userns.available), _seccomp_feature(),
            *_cgroup_features(), _pty_feature()]


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def render(features: list[Feature], host: Host) -> str:
    """The text ``amcr info`` prints: a host line, then one aligned line per feature."""
    cpus = f"{host.cpus} CPUs" + (f" (of {host.cpus_online})" if host.cpus != host.cpus_online
                                  else "")
    lines = [f"host: {cpus}, {_gib(host.mem_total)} RAM ({_gib(host.mem_free)} free, "
             f"{_gib(host.mem_available)} available), kernel {host.kernel}"]
    width = max((len(f.name) for f in features), default=0) + 2
    for f in features:
        text = f.detail
        if not f.available and f.fix:
            text = f"{text} -> {f.fix}" if text else f"-> {f.fix}"
        line = f"{f.name.ljust(width)}{'yes' if f.available else 'no ':<3}  {text}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def main() -> int:
    """Entry point for ``amcr info``: print the report; always 0 (it is a report)."""
    print(render(collect(), host_facts()), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
