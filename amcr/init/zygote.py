"""The spawner ("zygote"): a small process that forks containers for the runtime.

Forking the runtime itself cost more than anything else a short container
does: the runtime is a large asyncio process, a fork copies its page tables,
then every page either side touches is copied again, and the copy is torn
down at exec. This process has imported only the containers' own code
(:mod:`amcr.init`, :mod:`amcr.kernel`), so forking it is cheap, and the
event loop's process never forks at all (docs/startup.md has the figures).

The runtime starts one per process (:mod:`amcr.runtime.zygote`), as a fresh
interpreter (``python -I -S``), not a fork of itself. For each container it
sends PID 1's program (:mod:`amcr.init.program`, built by the runtime), the
ID map to write, and the child's descriptors; the spawner clones PID 1
straight into its namespaces with ``CLONE_PARENT``, running the program in C
(:mod:`amcr.init.container_init`), so PID 1 is the *runtime's* child, exactly as if
the runtime had cloned it, writes its ID map when no setuid helper is needed,
and then its host PID to the request's reply pipe. The spawner keeps nothing
per container.

When the runtime maps one user namespace for all its containers
(:mod:`amcr.runtime.sharedns`), the spawner lives in it: the user namespace a
clone creates is a child of the cloner's, and the containers' must nest there;
holding every capability in there, it writes their nested maps itself.
"""
from __future__ import annotations

import os
import struct
import sys
from _pickle import loads
from _socket import MSG_CMSG_CLOEXEC, socket
from gc import disable as gc_disable

from amcr.init import container_init, messages
from amcr.init.messages import NOT_MAPPED
from amcr.kernel import namespaces, prctl_min, rlimits, unixsock, userns

REQUEST_FD = 3           # the runtime's end of the request socket, placed here at spawn
USERNS_FD = 4            # the shared user namespace to live in, when there is one
MAX_REQUEST = 1 << 20    # a program with seccomp filters is a few KiB
MAX_FDS = 16             # sync socket, error pipe, reply pipe, stdio, cgroup.procs files


def main() -> None:
    """``python -I -S -c ... RUNTIME_PID NOFILE_SOFT NOFILE_HARD USERNS(0/1) [SYS_PATH...]``."""
    gc_disable()    # nothing here makes cycles; a collection would only dirty pages children copy
    runtime_pid, soft, hard, in_userns = (int(a) for a in sys.argv[1:5])
    os.setsid()                        # no terminal signals: Ctrl-C is for the runtime
    prctl_min.set_pdeathsig_kill()     # dies with the runtime...
    if os.getppid() != runtime_pid:    # ...even if that happened before the line above
        return
    rlimits.apply(((rlimits.NAMES["nofile"], soft, hard),))   # the runtime raised its own
    if in_userns:
        namespaces.setns(USERNS_FD, namespaces.CLONE_NEWUSER)
    # Nothing of the runtime's but our socket: descriptors a library left
    # inheritable would otherwise reach every container's PID 1.
    os.closerange(REQUEST_FD + 1, 1 << 20)
    req = socket(fileno=REQUEST_FD)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 2)                   # only now: errors until here reach the runtime's stderr
    os.close(null)
    req.send(b"ready")
    serve(req)


def serve(req: socket) -> None:
    """One request per message, until the runtime closes its end."""
    while True:
        data, fds = unixsock.recv_fds(req, MAX_REQUEST, MAX_FDS, MSG_CMSG_CLOEXEC)
        if not data:
            return
        _clone_one(req, data, fds)


def _clone_one(req: socket, data: bytes, fds: list[int]) -> None:
    """Clone PID 1 for one request and tell its PID; a failure goes down its error pipe.

    The request: (PID 1's program, its ID map when we write it, else None),
    with the descriptors sync socket, error pipe, reply pipe, then those the
    program names after its first two.
    """
    pid = -1
    try:
        program, id_map = loads(data)
        if len(fds) < 3:
            raise OSError(0, f"spawner request with {len(fds)} descriptors")
        pid = container_init.clone(namespaces.AT_CLONE | container_init.CLONE_PARENT, program,
                                   [fds[0], fds[1], *fds[3:]], (req.fileno(), fds[2]))
        os.write(fds[2], struct.pack("=iB", pid, _map(pid, id_map)))
    except BaseException as exc:  # noqa: BLE001 - the runtime sees EOF and reads the report
        if pid < 0 and len(fds) > 1:
            err = exc.errno if isinstance(exc, OSError) and exc.errno else 0
            messages.report_failure(fds[1], "clone", err, f"{type(exc).__name__}: {exc}")
    for fd in fds:
        os.close(fd)


def _map(pid: int, id_map: tuple[bytes, bytes] | None) -> int:
    """Write PID 1's ID map when no setuid helper is needed: we hold every capability
    in the namespace its own nests in (the runtime's shared one, or we are root).
    Returns 0 (mapped), an errno, or NOT_MAPPED (PID 1 maps itself, or helpers must)."""
    if id_map is None:
        return NOT_MAPPED
    try:
        userns.write_map_text(pid, *id_map)
    except OSError as exc:
        return min(exc.errno or 1, NOT_MAPPED - 1)
    return 0
