"""The runtime's handle on its spawner process (:mod:`amcr.init.zygote`).

One spawner per process, started on first use as a fresh ``python -I -S``
(posix_spawn: no fork of the large runtime) and shared by every Runtime, like
the user namespace of :mod:`amcr.runtime.sharedns`, which it lives in. It
dies with the process (parent-death signal, or EOF on its socket), and is
started again when it died.
"""
from __future__ import annotations

import os
import sys
from _pickle import dumps

from amcr.errors import KernelError
from amcr.init.zygote import REQUEST_FD, USERNS_FD
from amcr.init import container_init
from amcr.kernel import unixsock, userns

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.init.config import InitConfig

_BOOT = "import sys; sys.path[:0] = sys.argv[5:]; from amcr.init.zygote import main; main()"

_zygote: Zygote | None = None


class Zygote:
    """A running spawner: its PID, our end of its request socket, its user namespace."""

    def __init__(self, pid: int, sock: unixsock.Sock, userns: tuple[int, int] | None) -> None:
        self.pid = pid
        self.userns = userns      # (st_dev, st_ino) of the namespace it lives in, if not ours
        self._sock = sock

    def clone(self, cfg: InitConfig, child_sock: unixsock.Sock, err_w: int, reply_w: int) -> None:
        """Ask for PID 1 of ``cfg``; its host PID comes back on ``reply_w`` (EOF: failed).

        The descriptors travel with the request (SCM_RIGHTS), so the caller
        closes its copies right after, as after a fork.
        """
        m = cfg.mapping
        id_map = userns.map_texts(m) if m.by_parent and not m.helper else None
        fds = container_init.fds_for(cfg, child_sock.fileno(), err_w)
        fds.insert(2, reply_w)
        request = dumps((container_init.build(cfg), id_map), 5)
        try:
            unixsock.send_fds(self._sock, request, fds)
        except OSError as exc:   # it died (killed?): say so, in our terms
            raise KernelError.from_oserror("clone", exc, hint="the runtime's spawner process "
                                           "died; retry with a new amcr.Runtime") from exc

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def stop(self) -> None:
        """Close its socket (it exits at EOF) and reap it."""
        self._sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def get(nofile: tuple[int, int], userns_fd: int | None) -> Zygote:
    """The process's spawner, started on first use, or again when it died or the
    shared user namespace ``userns_fd`` is another one. ``nofile``: the
    descriptor limit containers get."""
    global _zygote
    userns = None
    if userns_fd is not None:
        st = os.fstat(userns_fd)
        userns = (st.st_dev, st.st_ino)
    if _zygote is not None and (_zygote.userns != userns or not _zygote.alive()):
        _zygote.stop()
        _zygote = None
    if _zygote is None:
        try:
            _zygote = _start(nofile, userns_fd, userns)
        except OSError as exc:
            raise KernelError.from_oserror("start the spawner", exc,
                                           hint="run amcr info to see what this host "
                                                "supports") from exc
    return _zygote


def _start(nofile: tuple[int, int], userns_fd: int | None,
           userns: tuple[int, int] | None) -> Zygote:
    """Spawn it and wait for its "ready" (the imports done), ~25 ms once per process."""
    if not sys.executable:
        raise OSError(0, "no python executable to run the spawner with")
    sock, theirs = unixsock.pair()
    paths = [p for p in sys.path if p.startswith("/")]
    argv = [sys.executable, "-I", "-S", "-c", _BOOT, str(os.getpid()), str(nofile[0]),
            str(nofile[1]), "1" if userns_fd is not None else "0", *paths]
    actions = [(os.POSIX_SPAWN_DUP2, theirs.fileno(), REQUEST_FD),
               (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    if userns_fd is not None:
        actions.append((os.POSIX_SPAWN_DUP2, userns_fd, USERNS_FD))
    try:
        pid = os.posix_spawn(sys.executable, argv, {"LC_ALL": "C.UTF-8"}, file_actions=actions)
    finally:
        theirs.close()
    try:
        if sock.recv(16) != b"ready":
            raise OSError(0, "the spawner did not start (see above)")
    except BaseException:
        sock.close()
        os.waitpid(pid, 0)
        raise
    return Zygote(pid, sock, userns)
