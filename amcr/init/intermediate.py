"""Child 1: creates the namespaces, gets its ID map, forks PID 1, reports, exits.

It must not linger (a Python process per container costs megabytes): once it
has told the runtime the host PID of the container's PID 1 it exits, and that
process is re-parented to the runtime, which is a child subreaper.
"""
from __future__ import annotations

import os

from amcr.init import container_init, messages
from amcr.init.config import InitConfig
from amcr.kernel import namespaces, userns

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.kernel.unixsock import Sock


def run(cfg: InitConfig, sock: Sock, errfd: int) -> None:
    """Never returns."""
    step = "cgroup"
    try:
        # First: everything after this, PID 1 included, starts inside the cgroup,
        # and unshare(CLONE_NEWCGROUP) below makes it the namespace's root.
        for fd in cfg.cgroup_fds:
            os.write(fd, b"0")
        step = "unshare"
        # One call: the kernel creates the user namespace first and makes it
        # the owner of the others, which is what makes this work unprivileged.
        namespaces.unshare(namespaces.ALL_NAMESPACES)
        step = "id map"
        if userns.needs_parent(cfg.mapping):
            messages.send(sock, messages.UNSHARED)
            if messages.expect(sock, messages.MAPPED) is None:
                os._exit(125)
        else:
            userns.write_self_map(cfg.mapping)
        step = "fork"
        pid = os.fork()
        if pid == 0:
            container_init.run(cfg, sock, errfd)
            os._exit(125)   # not reached: run() always execs or exits
        messages.send_pid(sock, pid)
    except OSError as exc:
        messages.report_failure(errfd, step, exc.errno or 0, str(exc))
        os._exit(125)
    except BaseException as exc:  # noqa: BLE001
        messages.report_failure(errfd, step, 0, f"{type(exc).__name__}: {exc}")
        os._exit(125)
    os._exit(0)
