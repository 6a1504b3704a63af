"""Build the container's mount tree under ``merged`` and switch root into it.

Runs in the container's PID 1, inside its user and mount namespaces, before
exec. Each function is one step of docs/startup.md.
"""
from __future__ import annotations

import os
import stat

from amcr.init.config import InitConfig
from amcr.init.safepath import join, mkdirs, touch
from amcr.kernel import mounts as m

#: devices every container gets, as in the OCI runtime spec's defaults;
#: an unprivileged user cannot mknod, so each is a bind of the host's node.
DEFAULT_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_NOSUID_NODEV_NOEXEC = m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC

#: the OCI/docker defaults: paths that leak host information or reach kernel
#: knobs. Masked files get /dev/null bound over them, masked directories an
#: empty read-only tmpfs; read-only paths are bound onto themselves read-only.
MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def _escape(path: str) -> str:
    """overlayfs option values split on ',' and ':'; escape them."""
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def make_private() -> None:
    # First: nothing we mount may propagate back to the host's mount table.
    m.mount(None, "/", None, m.MS_REC | m.MS_PRIVATE)


def mount_root(cfg: InitConfig) -> None:
    """The image, read-only, under a per-container writable overlay layer."""
    if cfg.upper is None or cfg.work is None:
        m.bind(cfg.plan.lower, cfg.merged, readonly=True)
        return
    if cfg.layer_in_memory:
        layer_in_memory(os.path.dirname(cfg.upper), cfg.layer_size)
    populate_layer(cfg.upper, cfg.work, cfg.merged, cfg.hostname)
    data = (f"lowerdir={_escape(cfg.plan.lower)},upperdir={_escape(cfg.upper)},"
            f"workdir={_escape(cfg.work)}")
    # "volatile": a layer removed at exit needs no fsync, and without it the
    # unmount syncs the host's whole filesystem (~15 ms per container here).
    options = [",userxattr,volatile", ",userxattr", ""] if cfg.volatile else [",userxattr", ""]
    for i, extra in enumerate(options):
        try:
            m.mount("overlay", cfg.merged, "overlay", 0, data + extra)
            return
        except OSError:
            if i == len(options) - 1:
                raise


def layer_in_memory(path: str, size: int = 0) -> None:
    """A layer that dies with the container needs no disk: a tmpfs on its directory,
    in our mount namespace only (the host sees the directory and its owner file),
    holds upper, work and merged. Creating and removing a dozen directories on
    the host's filesystem per container cost more than all the mounts together
    (docs/startup.md). overlayfs in a user namespace keeps whiteouts and opaque
    directories in ``user.*`` extended attributes, which tmpfs has only since
    Linux 6.6: on older kernels the layer stays on disk. ``size`` (bytes, the
    container's memory limit) bounds it; 0 leaves tmpfs's default, half the RAM."""
    m.mount("tmpfs", path, "tmpfs", m.MS_NOSUID | m.MS_NODEV,
            f"mode=700,size={size}" if size else "mode=700")
    try:
        os.setxattr(path, "user.amcr", b"")
    except OSError:
        m.umount(path)


def populate_layer(upper: str, work: str, merged: str, hostname: str) -> None:
    """The layer's directories, and a per-container /etc/hostname in upper.

    Made here, by PID 1, rather than by the runtime: here they can go to a tmpfs.
    Owned by root inside, which is the user outside, as when the runtime made them.
    """
    for d in (upper, work, merged):
        os.mkdir(d, 0o755)
    etc = os.path.join(upper, "etc")
    os.mkdir(etc, 0o755)
    fd = os.open(os.path.join(etc, "hostname"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 0o644)
    try:
        os.write(fd, hostname.encode() + b"\n")
    finally:
        os.close(fd)


def bind_host_dirs(cfg: InitConfig) -> None:
    """The host image's /usr (and friends), read-only."""
    for src, dst in cfg.plan.ro_binds:
        target = join(cfg.merged, dst)
        m.bind(src, target, readonly=True)


def bind_volumes(cfg: InitConfig) -> None:
    for vol in cfg.mounts:
        if os.path.isdir(vol.source):
            target = mkdirs(cfg.merged, vol.target)
        else:
            target = touch(cfg.merged, vol.target)
        m.bind(vol.source, target, readonly=vol.readonly)


def mount_proc(cfg: InitConfig) -> None:
    # Needs to be PID 1 of the new PID namespace: procfs shows the mounter's.
    m.mount("proc", mkdirs(cfg.merged, "/proc"), "proc", _NOSUID_NODEV_NOEXEC)


def mount_dev(cfg: InitConfig) -> None:
    """A tmpfs /dev with the default devices, its own devpts, and /dev/shm."""
    dev = mkdirs(cfg.merged, "/dev")
    m.mount("tmpfs", dev, "tmpfs", m.MS_NOSUID | m.MS_STRICTATIME, "mode=755,size=65536k")
    for name in DEFAULT_DEVICES:
        path = os.path.join(dev, name)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
        m.bind(f"/dev/{name}", path, recursive=False)
    pts = os.path.join(dev, "pts")
    os.mkdir(pts, 0o755)
    opts = "newinstance,ptmxmode=0666,mode=0620"
    if cfg.mapping.size > 5:          # gid 5 (tty) exists inside only with a range
        opts += ",gid=5"
    m.mount("devpts", pts, "devpts", m.MS_NOSUID | m.MS_NOEXEC, opts)
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    shm = os.path.join(dev, "shm")
    os.mkdir(shm, 0o1777)
    m.mount("shm", shm, "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("core", "/proc/kcore")):
        os.symlink(target, os.path.join(dev, name))


def mount_sys(cfg: InitConfig) -> None:
    """Read-only sysfs; needs our own network namespace, else a read-only bind."""
    target = mkdirs(cfg.merged, "/sys")
    try:
        m.mount("sysfs", target, "sysfs", _NOSUID_NODEV_NOEXEC | m.MS_RDONLY)
    except PermissionError:
        m.bind("/sys", target, readonly=True)


def mask_paths(cfg: InitConfig) -> None:
    """After /proc and /sys exist: hide what docker hides, freeze what it freezes."""
    for path in MASKED_PATHS:
        target = cfg.merged + path
        try:
            mode = os.lstat(target).st_mode      # one look per path: PID 1 runs this per start
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            m.mount("tmpfs", target, "tmpfs", m.MS_RDONLY | _NOSUID_NODEV_NOEXEC, "size=0")
        elif not stat.S_ISLNK(mode) or os.path.exists(target):
            m.bind("/dev/null", target, recursive=False)
    for path in READONLY_PATHS:
        target = cfg.merged + path
        if os.path.exists(target):
            m.bind(target, target, readonly=True)


def mount_tmp(cfg: InitConfig) -> None:
    target = mkdirs(cfg.merged, "/tmp")
    m.mount("tmpfs", target, "tmpfs", m.MS_NOSUID | m.MS_NODEV, "mode=1777")


def switch_root(cfg: InitConfig) -> str:
    """pivot_root, detaching the old root; chroot (MS_MOVE) only as a fallback.

    pivot_root(".", ".") stacks the old root under the new one at "/", and the
    lazy unmount removes it: no directory for the old root is needed.
    """
    os.chdir(cfg.merged)
    if cfg.pivot_root:
        try:
            m.pivot_root(".", ".")
            m.umount(".", m.MNT_DETACH)
            os.chdir("/")
            return "pivot_root"
        except OSError:
            pass   # e.g. a root on initramfs: fall back, as runc --no-pivot does
    m.mount(cfg.merged, "/", None, m.MS_MOVE)
    os.chroot(".")
    os.chdir("/")
    return "chroot"
