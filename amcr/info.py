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
from dataclasses import dataclass
from typing import Callable

from amcr.fsutil import remove_tree
from amcr.kernel import cgroups_probe
from amcr.kernel.mountflags import MNT_DETACH, MS_PRIVATE, MS_REC
from amcr.kernel.mounts import mount, pivot_root, umount
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
    message: str  # the error, when not ok


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
        code, msg = 1, ""
        try:
            os.close(r)
            msg, code = body(), 0
        except OSError as e:
            where = f": {e.filename}" if e.filename and ":" not in str(e.strerror) else ""
            msg = f"{e.strerror or e}{where}"
        except BaseException as e:  # noqa: BLE001 - reported to the parent, not raised
            msg = f"{type(e).__name__}: {e}"
        finally:
            try:
                os.write(w, msg.encode(errors="replace")[:4000])
            finally:
                os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        message = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    ok = os.waitstatus_to_exitcode(status) == 0
    return _Probe(ok, message or ("" if ok else f"probe child ended with status {status}"))


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
    """rm -rf that copes with overlayfs's mode-000 ``work/work``; never raises."""
    try:
        remove_tree(path)
    except OSError:
        pass


def _tmpdir_feature(name: str, body: Callable[[str], str], ok_detail: str, fix: str,
                    userns_ok: bool) -> Feature:
    """Run ``body(tmpdir)`` in a child; the parent owns and removes the directory."""
    import tempfile  # only here: it pulls in random, and only info needs it
    base = tempfile.mkdtemp(prefix="amcr-info-", dir="/tmp")
    try:
        res = _in_child(lambda: body(base))
    finally:
        _remove_tree(base)
    if res.ok:
        return Feature(name, True, ok_detail)
    return Feature(name, False, f"{name} failed: {res.message}",
                   fix if userns_ok else "enable user namespaces first")


#: (sysctl file, label, value that blocks unprivileged users, the fix for it)
_USERNS_KNOBS = (
    ("/proc/sys/user/max_user_namespaces", "max ", "0",
     "sudo sysctl -w user.max_user_namespaces=15000"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "unprivileged_userns_clone=", "0",
     "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
     "apparmor_restrict_unprivileged_userns=", "1",
     "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
     "(or an AppArmor profile granting 'userns,' to python3)"),
)


def _userns_feature() -> Feature:
    def body() -> str:
        unshare(CLONE_NEWUSER)
        return ""
    res = _in_child(body)
    knobs, fixes = [], []
    for path, label, bad, fix in _USERNS_KNOBS:
        value = _read(path)
        if value is not None:  # the last two exist only on patched kernels
            knobs.append(label + value)
            if value == bad:
                fixes.append(fix)
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
                os.write(ready_w, b"ok")
            except OSError as e:
                os.write(ready_w, str(e.strerror).encode())
            os.close(ready_w)
            os.read(go_r, 1)  # wait until the parent has written the map (EOF)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        state = os.read(ready_r, 200).decode(errors="replace")
        if state != "ok":
            return state or "the probe child died"
        write_map_for(pid, mapping)
        return ""
    except OSError as e:
        return str(e.strerror or e)
    finally:
        os.close(ready_r)
        os.close(go_w)
        os.waitpid(pid, 0)


def _overlay_body(base: str) -> str:
    for d in ("lower", "upper", "work", "merged", "lower/probe"):
        os.mkdir(f"{base}/{d}")  # before unshare, as the caller's own uid
    _enter_user_mount_ns()
    mount("overlay", f"{base}/merged", "overlay", 0,
          f"lowerdir={base}/lower,upperdir={base}/upper,workdir={base}/work")
    os.stat(f"{base}/merged/probe")  # the lower layer shows through
    return ""


def _pivot_root_body(base: str) -> str:
    _enter_user_mount_ns()
    mount("tmpfs", base, "tmpfs", 0, "size=64k")
    os.chdir(base)
    pivot_root(".", ".")  # stack the old root under the new one...
    umount(".", MNT_DETACH)  # ...and drop it: no put_old directory needed
    return ""


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
    checks = ((kernel, "kernel has no seccomp filters", "a kernel with CONFIG_SECCOMP_FILTER"),
              (libver, "libseccomp.so.2 not found", "apt install libseccomp2"),
              (pymod, "pyseccomp not installed", "pip install pyseccomp"))
    missing = ", ".join(what for have, what, _ in checks if not have)
    return Feature("seccomp", False, (f"{libver}; " if libver else "") + missing,
                   ", ".join(fix for have, _, fix in checks if not have))


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
        master, slave = os.openpty()  # opens /dev/ptmx and the /dev/pts/N it hands out
    except OSError as e:
        return Feature("pty", False, f"/dev/ptmx: {e.strerror}", "mount devpts on /dev/pts "
                       "and make /dev/ptmx read-writable; -t needs it")
    try:
        name = os.ttyname(slave)  # fails when /dev/pts is another devpts instance
    except OSError:
        name = "its pts is not under /dev/pts"
    os.close(master)
    os.close(slave)
    return Feature("pty", True, f"/dev/ptmx opens ({name})")


def collect() -> list[Feature]:
    """Probe every feature; call from a single-threaded process (see _in_child)."""
    userns = _userns_feature()
    ok = userns.available
    return [userns, _idmap_feature(),
            _tmpdir_feature("overlay", _overlay_body, "overlayfs mounts in a user namespace",
                            "needs Linux >= 5.11 (overlayfs in user namespaces) and /tmp not "
                            "on overlayfs", ok),
            _tmpdir_feature("pivot_root", _pivot_root_body,
                            "into a tmpfs, in a user + mount namespace",
                            "the host root must be a real mount (not initramfs) and mount "
                            "namespaces allowed", ok),
            _seccomp_feature(), *_cgroup_features(), _pty_feature()]


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
