"""Start one container: the parent's half of the start-up protocol.

Synchronous and lean on imports: ``amcr run`` and the asyncio runtime both go
through :func:`spawn`. The children's half lives in :mod:`amcr.init`.
"""
from __future__ import annotations

import errno
import os
import sys

from amcr.errors import AmcrError, ExecError, KernelError
from amcr.init import intermediate, messages
from amcr.init.config import InitConfig
from amcr.kernel import namespaces, prctl_min, unixsock, userns
from amcr.kernel.signals import SIGKILL
from amcr.kernel.pidfd import pidfd_open, pidfd_send_signal

_subreaper = False


class Spawned:
    """A running container process, owned by the caller (who must reap it)."""

    __slots__ = ("pid", "pidfd", "master", "userns_fd", "root_method")

    def __init__(self, pid: int, pidfd: int, master: int | None, userns_fd: int | None,
                 root_method: str) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.master = master            # PTY master when tty
        self.userns_fd = userns_fd      # keeps the user namespace joinable for clean-up
        self.root_method = root_method  # "pivot_root" or "chroot"


def _ensure_subreaper() -> None:
    global _subreaper
    if not _subreaper:
        prctl_min.set_child_subreaper()
        _subreaper = True


def spawn(cfg: InitConfig) -> Spawned:
    """Fork the container and return once its command has exec'd (or raise)."""
    _ensure_subreaper()
    sock, child_sock = unixsock.pair()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid1 = os.fork()
    if pid1 == 0:  # child 1
        sock.close()
        os.close(err_r)
        intermediate.run(cfg, child_sock, err_w)
    child_sock.close()
    os.close(err_w)
    pid = 0
    keep: list[int] = []
    try:
        pid = _handshake(cfg, sock, pid1, err_r, keep)
        return _finish(cfg, sock, pid, err_r, keep)
    except BaseException:
        if pid > 0:
            kill_and_reap(pid)
        for fd in keep:
            os.close(fd)
        raise
    finally:
        sock.close()
        os.close(err_r)


def _handshake(cfg: InitConfig, sock: unixsock.Sock, pid1: int, err_r: int,
               keep: list[int]) -> int:
    """Map IDs (when the parent must), learn PID 1's host PID, reap child 1."""
    try:
        if userns.needs_parent(cfg.mapping):
            if messages.expect(sock, messages.UNSHARED) is not None:
                try:
                    userns.write_map_for(pid1, cfg.mapping)
                except OSError as exc:
                    raise KernelError.from_oserror("write id map", exc, hint=cfg.mapping.reason)
                messages.send(sock, messages.MAPPED)
        pid = messages.expect_pid(sock)
    finally:
        os.waitpid(pid1, 0)
    if pid is None:
        _raise_failure(err_r, cfg)
        raise AmcrError("container setup failed without a report", hint="run amcr info")
    return pid


def _finish(cfg: InitConfig, sock: unixsock.Sock, pid: int, err_r: int,
            keep: list[int]) -> Spawned:
    pidfd = pidfd_open(pid)
    keep.append(pidfd)
    userns_fd = None
    if cfg.mapping.helper:
        try:
            userns_fd = namespaces.open_ns(pid, "user")
            keep.append(userns_fd)
        except OSError:
            pass
    msg, master = unixsock.recv_maybe_fd(sock)
    if master is not None:
        keep.append(master)
    if not msg:
        _reap(pid)
        _raise_failure(err_r, cfg)
        raise AmcrError("container setup failed without a report", hint="run amcr info")
    tag, _, method = msg.partition(b"\0")
    messages.send(sock, messages.GO)
    failure = messages.read_failure(err_r)   # EOF: execve succeeded
    if failure is not None:
        _reap(pid)
        _raise(failure, cfg)
    return Spawned(pid, pidfd, master, userns_fd, method.decode() or "pivot_root")


def _raise_failure(err_r: int, cfg: InitConfig) -> None:
    failure = messages.read_failure(err_r)
    if failure is not None:
        _raise(failure, cfg)


def _raise(failure: tuple[str, int, str], cfg: InitConfig) -> None:
    step, err, message = failure
    if step == "exec":
        cmd = cfg.argv[0]
        if err in (errno.ENOENT, errno.ENOTDIR):
            raise ExecError(f"{cmd}: command not found in the container", errno=err, path=cmd,
                            hint="check the command and the image's PATH")
        if err == errno.EACCES:
            raise ExecError(f"{cmd}: permission denied (not executable)", errno=err, path=cmd,
                            hint="chmod +x it, or run it through its interpreter")
        raise ExecError(f"{cmd}: cannot execute: {os.strerror(err).lower()}", errno=err,
                        path=cmd, hint="is it a binary for this machine?")
    detail = f"{os.strerror(err)} ({message})" if err else message
    hint = "run amcr info to see what this host supports"
    if step == "unshare" and err in (errno.EPERM, errno.ENOSPC, errno.EINVAL):
        hint = "user namespaces are unavailable here; run amcr info"
    if step == "workdir":
        hint = "pick an existing directory with -w, or drop --read-only"
    raise KernelError(f"container setup failed at {step}: {detail}".lower(),
                      hint=hint, op=step, errno=err)


def kill_and_reap(pid: int, pidfd: int | None = None) -> None:
    """SIGKILL and reap; through the pidfd when we have one (no PID-reuse race)."""
    try:
        if pidfd is not None:
            pidfd_send_signal(pidfd, SIGKILL)
        else:
            os.kill(pid, SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _reap(pid: int) -> int:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return status


def exit_code(status: int) -> int:
    """docker's convention: the command's status, or 128+N when killed by signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)
