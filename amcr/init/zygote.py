"""The spawner ("zygote"): a small process that forks containers for the runtime.

Forking the runtime itself costs more than everything else a short container
does: the runtime is a large asyncio process, and a fork copies its page
tables, then every page either side touches is copied again, and child 1's
exit tears the copy down. This process has imported only the children's code
(:mod:`amcr.init`, :mod:`amcr.kernel`), so forking it is cheap, and the
event loop's process never forks at all (docs/startup.md has the figures).

The runtime starts one per process (:mod:`amcr.runtime.zygote`), as a fresh
interpreter (``python -I -S``), not a fork of itself. For each container it
sends the :class:`~amcr.init.config.InitConfig` and the child's descriptors;
the spawner forks child 1 with ``CLONE_PARENT`` (:mod:`amcr.kernel.clone`),
so child 1 is the *runtime's* child and the rest of the start-up protocol is
the one a direct fork would run. The spawner keeps nothing per container.
"""
from __future__ import annotations

import os
import struct
import sys
from _pickle import loads
from _socket import CMSG_SPACE, MSG_CMSG_CLOEXEC, SCM_RIGHTS, SOL_SOCKET, socket
from gc import disable as gc_disable

from amcr.init import intermediate, messages
from amcr.kernel import clone, namespaces, prctl_min, rlimits
from amcr.kernel.signals import default_dispositions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.init.config import InitConfig

REQUEST_FD = 3           # the runtime's end of the request socket, placed here at spawn
MAX_REQUEST = 1 << 20    # a config with seccomp programs is a few KiB
MAX_FDS = 16             # sync socket, error pipe, stdio, cgroup.procs files, user namespace


def main() -> None:
    """``python -I -S -c ... RUNTIME_PID NOFILE_SOFT NOFILE_HARD [SYS_PATH...]``."""
    gc_disable()    # nothing here makes cycles; a collection would only dirty pages children copy
    runtime_pid, soft, hard = (int(a) for a in sys.argv[1:4])
    os.setsid()                        # no terminal signals: Ctrl-C is for the runtime
    prctl_min.set_pdeathsig_kill()     # dies with the runtime...
    if os.getppid() != runtime_pid:    # ...even if that happened before the line above
        return
    rlimits.apply(((rlimits.NAMES["nofile"], soft, hard),))   # the runtime raised its own
    req = socket(fileno=REQUEST_FD)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 2)                   # after the imports: their errors reach the runtime
    os.close(null)
    req.send(b"ready")
    serve(req)


def serve(req: socket) -> None:
    """One request per message, until the runtime closes its end."""
    while True:
        data, ancdata, flags, _ = req.recvmsg(MAX_REQUEST, CMSG_SPACE(4 * MAX_FDS),
                                              MSG_CMSG_CLOEXEC)
        if not data:
            return
        fds: list[int] = []
        for level, kind, payload in ancdata:
            if level == SOL_SOCKET and kind == SCM_RIGHTS:
                fds += struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4])
        _fork_one(req, data, fds)


def _fork_one(req: socket, data: bytes, fds: list[int]) -> None:
    """Fork child 1 for one request; a failure goes down its error pipe (fds[1])."""
    try:
        cfg, userns_fd = _config(data, fds)
        pid = clone.fork_sibling()
    except BaseException as exc:  # noqa: BLE001 - the runtime sees EOF and reads the report
        if len(fds) > 1:
            err = exc.errno if isinstance(exc, OSError) and exc.errno else 0
            messages.report_failure(fds[1], "fork", err, f"{type(exc).__name__}: {exc}")
        pid = -1
    if pid == 0:
        _child_1(req, cfg, socket(fileno=fds[0]), fds[1], userns_fd)
    for fd in fds:
        os.close(fd)


def _config(data: bytes, fds: list[int]) -> tuple[InitConfig, int | None]:
    """The request: (config without descriptors, how many stdio and cgroup fds, userns?),
    then the descriptors in the order sync socket, error pipe, stdio, cgroup, userns."""
    cfg, n_stdio, n_cgroup, has_userns = loads(data)
    if len(fds) != 2 + n_stdio + n_cgroup + has_userns:
        raise OSError(0, f"spawner request with {len(fds)} descriptors")
    stdio = tuple(fds[2:2 + n_stdio]) or None
    cgroup_fds = tuple(fds[2 + n_stdio:2 + n_stdio + n_cgroup])
    return (cfg.replace(stdio=stdio, cgroup_fds=cgroup_fds),
            fds[-1] if has_userns else None)


def _child_1(req: socket, cfg: InitConfig, sock: socket, err_w: int,
             userns_fd: int | None) -> None:
    """Child 1, the runtime's child: introduce itself, then as if the runtime forked it."""
    try:
        # First, before anything that can fail: the runtime must know whom to reap.
        messages.send_pid(sock, os.getpid(), messages.FORKED)
        req.close()
        default_dispositions()
        if userns_fd is not None:     # the runtime's shared user namespace (sharedns)
            namespaces.setns(userns_fd, namespaces.CLONE_NEWUSER)
    except BaseException as exc:  # noqa: BLE001 - report, never return into the serve loop
        messages.report_failure(err_w, "fork", 0, f"{type(exc).__name__}: {exc}")
        os._exit(125)
    intermediate.run(cfg, sock, err_w)
    os._exit(125)   # not reached: run() always exits
