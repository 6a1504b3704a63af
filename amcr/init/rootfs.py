"""The container's mount tree under ``merged``, and the switch into it, as program steps.

Each function adds the operations of one step of docs/startup.md to the
:class:`~amcr.init.program.Program` PID 1 runs (in C, inside its user and
mount namespaces, before exec). What is decided here is decided once, in the
parent; the child only runs the system calls.
"""
from __future__ import annotations

import os

from amcr.init.config import InitConfig
from amcr.init.program import IF_FAILED, NO_SYMLINK, OPTIONAL, Op, Program
from amcr.kernel import mountflags as m

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


def make_private(p: Program) -> None:
    # First: nothing we mount may propagate back to the host's mount table.
    p.add(Op.MOUNT, None, "/", None, m.MS_REC | m.MS_PRIVATE, None)


def mount_root(p: Program, cfg: InitConfig) -> None:
    """The image, read-only, under a per-container writable overlay layer."""
    if cfg.upper is None or cfg.work is None:
        p.add(Op.BIND, cfg.plan.lower, cfg.merged, True, True)
        return
    if cfg.layer_in_memory:
        layer_in_memory(p, os.path.dirname(cfg.upper), cfg.layer_size)
    populate_layer(p, cfg.upper, cfg.work, cfg.merged, cfg.hostname)
    data = (f"lowerdir={_escape(cfg.plan.lower)},upperdir={_escape(cfg.upper)},"
            f"workdir={_escape(cfg.work)}")
    # "volatile": a layer removed at exit needs no fsync, and without it the
    # unmount syncs the host's whole filesystem (~15 ms per container here).
    # Each option set is tried only when the one before failed.
    options = [",userxattr,volatile", ",userxattr", ""] if cfg.volatile else [",userxattr", ""]
    for i, extra in enumerate(options):
        last = i == len(options) - 1
        flags = (0 if last else OPTIONAL) | (IF_FAILED if i else 0)
        p.add(Op.MOUNT, "overlay", cfg.merged, "overlay", 0, data + extra, flags=flags)


def layer_in_memory(p: Program, path: str, size: int = 0) -> None:
    """A layer that dies with the container needs no disk: a tmpfs on its directory,
    in our mount namespace only (the host sees the directory and its owner file),
    holds upper, work and merged. Creating and removing a dozen directories on
    the host's filesystem per container cost more than all the mounts together
    (docs/startup.md). overlayfs in a user namespace keeps whiteouts and opaque
    directories in ``user.*`` extended attributes, which tmpfs has only since
    Linux 6.6: on older kernels (the ``setxattr`` fails) the tmpfs is unmounted
    again and the layer stays on disk. ``size`` (bytes, the container's memory
    limit) bounds it; 0 leaves tmpfs's default, half the RAM."""
    p.add(Op.MOUNT, "tmpfs", path, "tmpfs", m.MS_NOSUID | m.MS_NODEV,
          f"mode=700,size={size}" if size else "mode=700")
    p.add(Op.SETXATTR, path, "user.amcr", flags=OPTIONAL)
    p.add(Op.UMOUNT, path, 0, flags=IF_FAILED)


def populate_layer(p: Program, upper: str, work: str, merged: str, hostname: str) -> None:
    """The layer's directories, and a per-container /etc/hostname in upper.

    Made by PID 1 rather than by the runtime: there they can go to a tmpfs.
    Owned by root inside, which is the user outside, as when the runtime made them.
    """
    for d in (upper, work, merged, os.path.join(upper, "etc")):
        p.add(Op.MKDIR, d, 0o755)
    p.add(Op.CREATE_FILE, os.path.join(upper, "etc", "hostname"), 0o644,
          hostname.encode() + b"\n")


def bind_host_dirs(p: Program, cfg: InitConfig) -> None:
    """The host image's /usr (and friends), read-only, at targets resolved inside the root."""
    for src, dst in cfg.plan.ro_binds:
        p.add(Op.BIND_IN, cfg.merged, dst, src, True)


def bind_volumes(p: Program, cfg: InitConfig) -> None:
    """Volumes: the target (a directory or a file, as the source is) is created
    inside the root, never through the image's symlinks out to the host."""
    for vol in cfg.mounts:
        p.add(Op.BIND_IN, cfg.merged, vol.target, vol.source, vol.readonly)


def mount_proc(p: Program, cfg: InitConfig) -> None:
    # Needs to be PID 1 of the new PID namespace: procfs shows the mounter's.
    # /proc, /dev and /sys must be plain directories of the image (NO_SYMLINK):
    # the masks and /dev's contents below name paths under them as strings.
    p.add(Op.MOUNT_IN, cfg.merged, "/proc", "proc", "proc", _NOSUID_NODEV_NOEXEC, None,
          flags=NO_SYMLINK)


def mount_dev(p: Program, cfg: InitConfig) -> None:
    """A tmpfs /dev with the default devices, its own devpts, and /dev/shm."""
    p.add(Op.MOUNT_IN, cfg.merged, "/dev", "tmpfs", "tmpfs", m.MS_NOSUID | m.MS_STRICTATIME,
          "mode=755,size=65536k", flags=NO_SYMLINK)
    dev = cfg.merged + "/dev"       # not a symlink (NO_SYMLINK), and a fresh tmpfs now
    for name in DEFAULT_DEVICES:
        path = f"{dev}/{name}"
        p.add(Op.CREATE_FILE, path, 0o666, b"")
        p.add(Op.BIND, f"/dev/{name}", path, False, False)
    opts = "newinstance,ptmxmode=0666,mode=0620"
    if cfg.mapping.size > 5:          # gid 5 (tty) exists inside only with a range
        opts += ",gid=5"
    p.add(Op.MKDIR, f"{dev}/pts", 0o755)
    p.add(Op.MOUNT, "devpts", f"{dev}/pts", "devpts", m.MS_NOSUID | m.MS_NOEXEC, opts)
    p.add(Op.SYMLINK, "pts/ptmx", f"{dev}/ptmx")
    p.add(Op.MKDIR, f"{dev}/shm", 0o1777)
    p.add(Op.MOUNT, "shm", f"{dev}/shm", "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("core", "/proc/kcore")):
        p.add(Op.SYMLINK, target, f"{dev}/{name}")


def mount_sys(p: Program, cfg: InitConfig) -> None:
    """Read-only sysfs; needs our own network namespace, else a read-only bind."""
    p.add(Op.MOUNT_IN, cfg.merged, "/sys", "sysfs", "sysfs",
          _NOSUID_NODEV_NOEXEC | m.MS_RDONLY, None, flags=OPTIONAL | NO_SYMLINK)
    p.add(Op.BIND_IN, cfg.merged, "/sys", "/sys", True, flags=IF_FAILED | NO_SYMLINK)


def mask_paths(p: Program, cfg: InitConfig) -> None:
    """After /proc and /sys exist: hide what docker hides, freeze what it freezes.
    (Both are fresh kernel filesystems on plain directories: no image symlinks.)"""
    for path in MASKED_PATHS:
        p.add(Op.MASK, cfg.merged + path)
    for path in READONLY_PATHS:
        p.add(Op.READONLY, cfg.merged + path)


def mount_tmp(p: Program, cfg: InitConfig) -> None:
    p.add(Op.MOUNT_IN, cfg.merged, "/tmp", "tmpfs", "tmpfs", m.MS_NOSUID | m.MS_NODEV,
          "mode=1777")


def switch_root(p: Program, cfg: InitConfig) -> None:
    """pivot_root, detaching the old root; chroot (MS_MOVE) only as a fallback,
    e.g. for a root on initramfs, as runc --no-pivot does."""
    if cfg.pivot_root:
        p.add(Op.PIVOT_ROOT, cfg.merged, flags=OPTIONAL)
        p.add(Op.MOVE_ROOT, cfg.merged, flags=IF_FAILED)
    else:
        p.add(Op.MOVE_ROOT, cfg.merged)
