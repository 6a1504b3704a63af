"""One mapped user namespace per runtime: newuidmap once, not per container.

Rootless with subordinate IDs, every container's user namespace needs the
setuid helpers newuidmap and newgidmap: two exec's of a setuid binary, an
eighth of all the CPU a short container costs the machine (perf, 300 runs)
and 2 ms of its start-up latency. podman keeps one user namespace for all of
a user's containers for the same reason.

So a runtime maps one user namespace once (0 -> uid, 1..N -> the subordinate
range): a forked process unshares it and is mapped with the helpers; the
runtime keeps a descriptor of it (which keeps it alive) and the process
leaves. The runtime's spawner lives in it (:mod:`amcr.init.zygote`): the user
namespace each container's PID 1 is cloned into is *nested* in the shared
one, and the spawner, which holds every capability in there, writes the
nested map (the same IDs one level down: ``0 0 1``, ``1 1 N``, so the host
sees what it saw before) before it tells the runtime the new PID: no helper,
no message round trip. ``amcr run`` (one container per process) keeps the
per-container helpers.
"""
from __future__ import annotations

import gc
import os

from amcr.kernel import namespaces, prctl_min, unixsock, userns
from amcr.kernel.namespaces import CLONE_NEWUSER

_shared: SharedUserns | None = None
_failed = False


class SharedUserns:
    """The shared namespace (a descriptor keeps it alive) and the map nested ones get."""

    def __init__(self, fd: int, outer: userns.IdMapping) -> None:
        self.fd = fd
        self.nested = userns.IdMapping(
            _same_ids(outer.uid_lines), _same_ids(outer.gid_lines), helper=False,
            by_parent=True, reason=outer.reason + "; mapped once per runtime, containers nest")


def get(mapping: userns.IdMapping) -> SharedUserns | None:
    """The process's shared namespace, made on first use; None when the mapping needs
    no helpers (root, a single ID) or it cannot be made (containers then map their
    own, as ``amcr run`` does)."""
    global _shared, _failed
    if not mapping.helper or _failed:
        return None
    if _shared is None:
        try:
            _shared = _make(mapping)
        except OSError:
            _failed = True
            return None
    return _shared


def _make(mapping: userns.IdMapping) -> SharedUserns:
    """Fork a process that unshares, map its namespace with the helpers, keep an fd."""
    sock, child_sock = unixsock.pair()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sock.close()
            _unshare_and_wait(child_sock)
            code = 0
        finally:
            os._exit(code)
    child_sock.close()
    try:
        if sock.recv(16) != b"unshared":
            raise OSError(0, "could not create a user namespace")
        userns.write_map_for(pid, mapping)
        fd = namespaces.open_ns(pid, "user")    # before it exits: the fd keeps the namespace
        sock.send(b"mapped")
        return SharedUserns(fd, mapping)
    finally:
        sock.close()
        os.waitpid(pid, 0)


def _unshare_and_wait(sock: unixsock.Sock) -> None:
    """The namespace's first member: unshare, wait until we hold its descriptor, leave."""
    gc.disable()     # garbage from before the fork must not be finalized here
    prctl_min.set_pdeathsig_kill()
    namespaces.unshare(CLONE_NEWUSER)
    sock.send(b"unshared")
    sock.recv(16)


def _same_ids(lines: tuple[tuple[int, int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    """The nested map: each line of the outer one, inside -> the same inside IDs.

    One line per outer line, not one line for the whole range: the kernel
    wants every nested line to fall within a single line of the parent's map.
    """
    return tuple((inside, inside, count) for inside, _, count in lines)
