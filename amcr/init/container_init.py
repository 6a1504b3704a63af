"""The container's PID 1 before exec: its first moves, the ordered steps, then execve.

PID 1 is cloned straight into its namespaces (:mod:`amcr.kernel.clone`) by
the runtime's spawner or by ``amcr run`` itself; :func:`start` is its entry.
Each step is (name, function) so that a failure names the step that failed
and tests can check the order. The comment on each says why it sits there.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

from amcr.init import messages, rootfs
from amcr.init.config import InitConfig
from amcr.kernel import capabilities, fds, namespaces, net, prctl_min, seccomp, unixsock, userns
from amcr.kernel.namespaces import sethostname
from amcr.kernel.signals import default_dispositions, set_wakeup_fd


class _State:
    """What the steps hand each other (the PTY master, how root was switched)."""

    def __init__(self) -> None:
        self.master: int | None = None
        self.slave: int | None = None
        self.root_method = "pivot_root"


Step = "Callable[[InitConfig, _State], None]"


def _mounts(cfg: InitConfig, st: _State) -> None:
    rootfs.make_private()
    rootfs.mount_root(cfg)
    rootfs.bind_host_dirs(cfg)
    rootfs.bind_volumes(cfg)
    rootfs.mount_proc(cfg)
    rootfs.mount_dev(cfg)
    rootfs.mount_sys(cfg)
    rootfs.mask_paths(cfg)
    rootfs.mount_tmp(cfg)


def _switch_root(cfg: InitConfig, st: _State) -> None:
    st.root_method = rootfs.switch_root(cfg)


def _hostname(cfg: InitConfig, st: _State) -> None:
    sethostname(cfg.hostname)


def _loopback(cfg: InitConfig, st: _State) -> None:
    net.loopback_up()


def _workdir(cfg: InitConfig, st: _State) -> None:
    # After the root switch, so the path resolves inside the container only;
    # created when missing, as docker and podman do.
    if not os.path.isdir(cfg.workdir):
        os.makedirs(cfg.workdir, exist_ok=True)
    os.chdir(cfg.workdir)
    # A path that resolved through a descriptor or a magic link to a place
    # outside the root leaves a working directory getcwd() cannot name.
    if not os.getcwd().startswith("/"):
        raise OSError(1, "working directory is outside the container", cfg.workdir)


def _terminal(cfg: InitConfig, st: _State) -> None:
    # After the root switch: the PTY comes from the container's own devpts, so
    # `tty` names a /dev/pts/N that exists inside.
    if cfg.tty:
        # Imported before the clone when cfg.tty (spawn.protocol, the spawner):
        # after the root switch there is no Python library to import from.
        from amcr.kernel import pty
        st.master, st.slave = pty.open_pty()
        if cfg.winsize:
            pty.set_winsize(st.slave, *cfg.winsize)
        pty.make_controlling_terminal(st.slave)
        for target in (0, 1, 2):
            os.dup2(st.slave, target)
    else:
        os.setsid()
        assert cfg.stdio is not None
        for target, fd in enumerate(cfg.stdio):
            os.dup2(fd, target)


def _identity(cfg: InitConfig, st: _State) -> None:
    # Supplementary groups of the host user would still grant access to host
    # files (unmapped, they show as nogroup); drop them where setgroups is
    # allowed (not after the "deny" a single self-written map requires).
    if cfg.mapping.by_parent:
        os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _rlimits(cfg: InitConfig, st: _State) -> None:
    # Before capabilities drop: raising a hard limit needs CAP_SYS_RESOURCE.
    if cfg.rlimits:
        from amcr.kernel import rlimits
        rlimits.apply(cfg.rlimits)


def _capabilities(cfg: InitConfig, st: _State) -> None:
    capabilities.restrict_to(cfg.caps, cfg.cap_top)


def _close_fds(cfg: InitConfig, st: _State) -> None:
    # The runtime holds other containers' PTYs and its event loop's epoll fd;
    # marking everything >= 3 close-on-exec keeps the error pipe until execve.
    fds.cloexec_from(3)


def _no_new_privs(cfg: InitConfig, st: _State) -> None:
    # Before exec: a setuid binary inside must gain nothing.
    prctl_min.set_no_new_privs()


STEPS: tuple[tuple[str, Step], ...] = (
    ("mount", _mounts),              # needs PID 1 of the new PID ns (for /proc)
    ("switch root", _switch_root),   # after every mount that needs a host path
    ("hostname", _hostname),         # any time inside the UTS ns; grouped with config
    ("loopback", _loopback),         # needs CAP_NET_ADMIN in our net ns: before caps drop
    ("workdir", _workdir),
    ("terminal", _terminal),
    ("identity", _identity),         # after mounts: keeps the caps they needed
    ("rlimits", _rlimits),           # before the caps drop (CAP_SYS_RESOURCE)
    ("close fds", _close_fds),
    ("capabilities", _capabilities),  # after everything that needs a capability
    ("no_new_privs", _no_new_privs),  # before seccomp: loading a filter requires it
)
# seccomp comes last, after the sync with the runtime (see run()): the strict
# profile does not allow the socket calls that sync needs.


def start(cfg: InitConfig, sock: unixsock.Sock, errfd: int) -> None:
    """PID 1, just cloned into its namespaces: never returns."""
    step = "start"
    try:
        try:
            # The caller's event loop (if any) shares its wakeup fd with us after
            # the clone: a signal arriving here must not wake (and confuse) it.
            set_wakeup_fd(-1)
        except ValueError:
            pass   # cloned from a thread other than the main one: no wakeup fd here
        default_dispositions()
        step = "cgroup"
        # First: everything after this starts inside the container's cgroup,
        # and the cgroup namespace unshared right after has it as its root.
        for fd in cfg.cgroup_fds:
            os.write(fd, b"0")
        namespaces.unshare(namespaces.CLONE_NEWCGROUP)
        step = "id map"
        if userns.needs_parent(cfg.mapping):
            if messages.expect(sock, messages.MAPPED) is None:
                os._exit(125)    # the runtime is gone
        else:
            userns.write_self_map(cfg.mapping)
    except OSError as exc:
        messages.report_failure(errfd, step, exc.errno or 0, str(exc))
        os._exit(125)
    except BaseException as exc:  # noqa: BLE001 - never return into the caller's code
        messages.report_failure(errfd, step, 0, f"{type(exc).__name__}: {exc}")
        os._exit(125)
    run(cfg, sock, errfd)


def run(cfg: InitConfig, sock: unixsock.Sock, errfd: int) -> None:
    """The ordered steps, the sync with the runtime, seccomp, exec: never returns."""
    st = _State()
    step = "start"
    try:
        for step, func in STEPS:
            func(cfg, st)
        step = "sync"
        payload = st.root_method.encode()
        if st.master is not None:
            unixsock.send_fd(sock, messages.READY + b"\0" + payload, st.master)
            os.close(st.master)
        else:
            messages.send(sock, messages.READY, payload)
        # The runtime is alive and has what it needs from us (our PID, the PTY
        # master): from here on, its death is ours (parent-death signal).
        if messages.expect(sock, messages.GO) is None:
            os._exit(125)
        prctl_min.set_pdeathsig_kill()
        step = "seccomp"
        seccomp.load(cfg.seccomp)
    except OSError as exc:
        messages.report_failure(errfd, step, exc.errno or 0, str(exc))
        os._exit(125)
    except BaseException as exc:  # noqa: BLE001 - anything here must be reported
        messages.report_failure(errfd, step, 0, f"{type(exc).__name__}: {exc}")
        os._exit(125)
    try:
        execvpe(cfg.argv, cfg.env)
    except OSError as exc:
        messages.report_failure(errfd, "exec", exc.errno or 0, cfg.argv[0])
    except BaseException as exc:  # noqa: BLE001 - never return into the runtime's code
        messages.report_failure(errfd, "exec", 0, f"{type(exc).__name__}: {exc}")
    os._exit(127)


def execvpe(argv: tuple[str, ...], env: dict[str, str]) -> None:
    """execvpe(3) semantics with the container's PATH, without :func:`os.execvpe`.

    ``os.execvpe`` imports :mod:`warnings` on the way, and after the root switch
    the host's Python library is no longer there to import from.
    """
    cmd = argv[0]
    if "/" in cmd:
        os.execve(cmd, list(argv), env)
    saved: OSError | None = None
    for directory in env.get("PATH", "/usr/bin:/bin").split(":"):
        try:
            os.execve(os.path.join(directory or ".", cmd), list(argv), env)
        except (FileNotFoundError, NotADirectoryError) as exc:
            saved = saved or exc
        except OSError as exc:   # EACCES and the like: remember, keep looking (as glibc)
            saved = exc
    raise saved or FileNotFoundError(2, "not found", cmd)
