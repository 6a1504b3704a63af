"""The container's PID 1 from its clone to its execve: the program it runs, and the clone.

:func:`build` turns an :class:`~amcr.init.config.InitConfig` into the
program of :mod:`amcr.init.program`, and :func:`clone` starts PID 1 straight
in its namespaces running it (:mod:`amcr.init._pid1`, in C: the child never
runs Python, docs/startup.md says why). The runtime's spawner and ``amcr
run`` both clone through here, so there is one PID 1.

The program is a list of named steps; a failure is reported under the name of
its step, and the comment on each says why it sits where it does.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence  # noqa: F401 - Step's annotation

from amcr.init import messages, rootfs
from amcr.init.config import InitConfig
from amcr.init.program import Op, Program
from amcr.kernel import namespaces, userns
from amcr.security.caps import CAP_NAMES, CAP_NUMBER

try:
    from amcr.init._pid1 import spawn as _spawn
except ImportError as exc:   # a source tree nobody built: say what to do, once, on use
    _missing = exc

    def _spawn(flags: int, program: bytes, fds: Sequence[int], close: Sequence[int]) -> int:
        raise OSError(0, f"amcr's C part is not built ({_missing}): reinstall amcr "
                         "(pip needs gcc and the Python headers, python3-dev)")

#: clone flag: the new process is our parent's child. How the runtime's spawner
#: clones a container *for* the runtime: the runtime reaps it, holds its pidfd,
#: and is what its parent-death signal points at.
CLONE_PARENT = 0x00008000
#: where stdio starts among a program's descriptors (fds_for's order: the sync
#: socket, the error pipe, stdio without a terminal, then the cgroup.procs files)
STDIO_AT = 2
Step = "Callable[[Program, InitConfig], None]"


def _cgroup(p: Program, cfg: InitConfig) -> None:
    # First: everything after this starts inside the container's cgroup, and
    # the cgroup namespace unshared right after has it as its root.
    first = STDIO_AT + len(cfg.stdio or ())
    for i in range(len(cfg.cgroup_fds)):
        p.add(Op.WRITE_FD, first + i, b"0")
    p.add(Op.UNSHARE, namespaces.CLONE_NEWCGROUP)


def _id_map(p: Program, cfg: InitConfig) -> None:
    if userns.needs_parent(cfg.mapping):
        p.add(Op.EXPECT, messages.MAPPED)       # the runtime's death ends us quietly
        return
    p.add(Op.WRITE_FILE, "/proc/self/setgroups", b"deny")
    uid_map, gid_map = userns.map_texts(cfg.mapping)
    p.add(Op.WRITE_FILE, "/proc/self/uid_map", uid_map)
    p.add(Op.WRITE_FILE, "/proc/self/gid_map", gid_map)


def _mounts(p: Program, cfg: InitConfig) -> None:
    rootfs.make_private(p)
    rootfs.mount_root(p, cfg)
    rootfs.bind_host_dirs(p, cfg)
    rootfs.bind_volumes(p, cfg)
    rootfs.mount_proc(p, cfg)
    rootfs.mount_dev(p, cfg)
    rootfs.mount_sys(p, cfg)
    rootfs.mask_paths(p, cfg)
    rootfs.mount_tmp(p, cfg)


def _hostname(p: Program, cfg: InitConfig) -> None:
    p.add(Op.HOSTNAME, cfg.hostname)


def _loopback(p: Program, cfg: InitConfig) -> None:
    p.add(Op.LOOPBACK)


def _workdir(p: Program, cfg: InitConfig) -> None:
    # After the root switch, so the path resolves inside the container only;
    # created when missing, as docker and podman do.
    p.add(Op.WORKDIR, cfg.workdir)


def _terminal(p: Program, cfg: InitConfig) -> None:
    # After the root switch: the PTY comes from the container's own devpts, so
    # `tty` names a /dev/pts/N that exists inside.
    if cfg.tty:
        rows, cols = cfg.winsize or (0, 0)
        p.add(Op.TERMINAL, rows, cols)
    else:
        assert cfg.stdio is not None
        p.add(Op.STDIO, STDIO_AT, STDIO_AT + 1, STDIO_AT + 2)


def _identity(p: Program, cfg: InitConfig) -> None:
    # Supplementary groups of the host user would still grant access to host
    # files (unmapped, they show as nogroup); drop them where setgroups is
    # allowed (not after the "deny" a single self-written map requires).
    p.add(Op.IDENTITY, cfg.mapping.by_parent)


def _rlimits(p: Program, cfg: InitConfig) -> None:
    # Before capabilities drop: raising a hard limit needs CAP_SYS_RESOURCE.
    for res, soft, hard in cfg.rlimits:
        p.add(Op.RLIMIT, res, soft, hard)


def _close_fds(p: Program, cfg: InitConfig) -> None:
    # The runtime holds other containers' PTYs and its event loop's epoll fd;
    # marking everything >= 3 close-on-exec keeps the error pipe until execve.
    p.add(Op.CLOEXEC_FROM, 3)


def _capabilities(p: Program, cfg: InitConfig) -> None:
    # Every number up to the kernel's last capability that is not kept leaves
    # the bounding set, including numbers newer than amcr's names.
    drop = bytes(n for n in range(cfg.cap_top + 1)
                 if n >= len(CAP_NAMES) or CAP_NAMES[n] not in cfg.caps)
    keep = 0
    for name in cfg.caps:
        if name in CAP_NUMBER:
            keep |= 1 << CAP_NUMBER[name]
    p.add(Op.CAPABILITIES, drop, keep)


def _no_new_privs(p: Program, cfg: InitConfig) -> None:
    # Before exec: a setuid binary inside must gain nothing.
    p.add(Op.NO_NEW_PRIVS)


def _sync(p: Program, cfg: InitConfig) -> None:
    # Ready (how root was switched, the PTY master), then wait for "go": the
    # runtime is alive and has what it needs from us; its death is ours after.
    p.add(Op.SYNC, messages.READY, messages.GO)


def _seccomp(p: Program, cfg: InitConfig) -> None:
    # After the sync: the strict profile does not allow the socket calls it needs.
    for prog in cfg.seccomp:
        p.add(Op.SECCOMP, prog)


def _exec(p: Program, cfg: InitConfig) -> None:
    # execvpe(3) semantics with the container's PATH.
    p.add(Op.EXEC, len(cfg.argv), *cfg.argv, *(f"{k}={v}" for k, v in cfg.env.items()))


STEPS: tuple[tuple[str, Step], ...] = (
    ("cgroup", _cgroup),
    ("id map", _id_map),
    ("mount", _mounts),              # needs PID 1 of the new PID ns (for /proc)
    ("switch root", rootfs.switch_root),  # after every mount that needs a host path
    ("hostname", _hostname),         # any time inside the UTS ns; grouped with config
    ("loopback", _loopback),         # needs CAP_NET_ADMIN in our net ns: before caps drop
    ("workdir", _workdir),
    ("terminal", _terminal),
    ("identity", _identity),         # after mounts: keeps the caps they needed
    ("rlimits", _rlimits),           # before the caps drop (CAP_SYS_RESOURCE)
    ("close fds", _close_fds),
    ("capabilities", _capabilities),  # after everything that needs a capability
    ("no_new_privs", _no_new_privs),  # before seccomp: loading a filter requires it
    ("sync", _sync),
    ("seccomp", _seccomp),           # last before exec
    ("exec", _exec),
)


def build(cfg: InitConfig) -> bytes:
    """PID 1's program for ``cfg``. Its descriptors by index: 0 the sync socket,
    1 the error pipe, then stdio (three, without a terminal), then the cgroup.procs files."""
    p = Program()
    for name, step in STEPS:
        p.add(Op.STEP, name)
        step(p, cfg)
    return bytes(p)


def fds_for(cfg: InitConfig, sock: int, err_w: int) -> list[int]:
    """The descriptors :func:`build`'s program names, in its order."""
    return [sock, err_w, *(cfg.stdio or ()), *cfg.cgroup_fds]


def clone(flags: int, program: bytes, fds: Sequence[int], close: Sequence[int] = ()) -> int:
    """Clone PID 1 with ``flags`` running ``program``; its PID. ``close``: our
    descriptors it must not hold (the parent's ends of its channels)."""
    return _spawn(flags, program, fds, close)
