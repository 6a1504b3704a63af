"""The runtime's handle on its spawner process (:mod:`amcr.init.zygote`).

One spawner per process, started on first use as a fresh ``python -I -S``
(posix_spawn: no fork of the large runtime) and shared by every Runtime, like
the ID mapper of :mod:`amcr.runtime.sharedns`. It dies with the process
(parent-death signal, or EOF on its socket). When it cannot be started the
runtime forks containers itself, as ``amcr run`` does.
"""
from __future__ import annotations

import os
import struct
import sys
from _pickle import dumps
from _socket import SCM_RIGHTS, SOL_SOCKET

from amcr.errors import KernelError
from amcr.init.zygote import REQUEST_FD
from amcr.kernel import unixsock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.init.config import InitConfig

_BOOT = "import sys; sys.path[:0] = sys.argv[4:]; from amcr.init.zygote import main; main()"

_zygote: Zygote | None = None
_failed = False


class Zygote:
    """A running spawner: its PID and our end of its request socket."""

    def __init__(self, pid: int, sock: unixsock.Sock) -> None:
        self.pid = pid
        self._sock = sock

    def fork(self, cfg: InitConfig, child_sock: unixsock.Sock, err_w: int,
             userns_fd: int | None) -> None:
        """Ask for child 1 of ``cfg``; it introduces itself on ``child_sock`` (FORKED).

        The descriptors travel with the request (SCM_RIGHTS), so the caller
        closes its copies right after, as after a fork.
        """
        stdio = cfg.stdio or ()
        fds = [child_sock.fileno(), err_w, *stdio, *cfg.cgroup_fds]
        if userns_fd is not None:
            fds.append(userns_fd)
        request = dumps((cfg.replace(stdio=None, cgroup_fds=()), len(stdio),
                         len(cfg.cgroup_fds), userns_fd is not None), 5)
        try:
            self._sock.sendmsg([request], [(SOL_SOCKET, SCM_RIGHTS,
                                            struct.pack(f"{len(fds)}i", *fds))])
        except OSError as exc:   # it died (killed?): say so, in our terms
            raise KernelError.from_oserror("fork", exc, hint="the runtime's spawner process "
                                           "died; retry with a new amcr.Runtime") from exc

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False


def get(nofile: tuple[int, int]) -> Zygote | None:
    """The process's spawner, started on first use (or again after it died); None
    when it cannot run here. ``nofile``: the descriptor limit containers get."""
    global _zygote, _failed
    if _failed:
        return None
    if _zygote is not None and not _zygote.alive():
        _zygote = None
    if _zygote is None:
        try:
            _zygote = _start(nofile)
        except OSError:
            _failed = True
    return _zygote


def _start(nofile: tuple[int, int]) -> Zygote:
    """Spawn it and wait for its "ready" (the imports done), ~25 ms once per process."""
    if not sys.executable:
        raise OSError(0, "no python executable to run the spawner with")
    sock, theirs = unixsock.pair()
    paths = [p for p in sys.path if p.startswith("/")]
    argv = [sys.executable, "-I", "-S", "-c", _BOOT, str(os.getpid()), str(nofile[0]),
            str(nofile[1]), *paths]
    actions = [(os.POSIX_SPAWN_DUP2, theirs.fileno(), REQUEST_FD),
               (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    try:
        pid = os.posix_spawn(sys.executable, argv, {"LC_ALL": "C.UTF-8"}, file_actions=actions)
    finally:
        theirs.close()
    try:
        if sock.recv(16) != b"ready":
            raise OSError(0, "the spawner did not start")
    except BaseException:
        sock.close()
        os.waitpid(pid, 0)
        raise
    return Zygote(pid, sock)
