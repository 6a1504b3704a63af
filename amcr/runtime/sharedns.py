"""One mapped user namespace per runtime: newuidmap once, not per container.

Rootless with subordinate IDs, every container's user namespace needs the
setuid helpers newuidmap and newgidmap: two exec's of a setuid binary, an
eighth of all the CPU a short container costs the machine (perf, 300 runs)
and 2 ms of its start-up latency. podman keeps one user namespace for all of
a user's containers for the same reason.

So a runtime maps one user namespace once (0 -> uid, 1..N -> the subordinate
range) and the runtime's spawner lives in it (:mod:`amcr.init.zygote`): the
user namespace each container's PID 1 is cloned into is then *nested* in the
shared one, mapped to the same IDs one level down (``0 0 1``, ``1 1 N``), so the
host sees what it saw before. Only a process inside the shared namespace may write a
nested map, so the process that created it stays: the *mapper*, one small
forked process per runtime (not per container), which writes the two /proc
files on request and dies with the runtime (parent-death signal, or EOF).
``amcr run`` (one container per process) keeps the per-container helpers.
"""
from __future__ import annotations

import gc
import os
import struct

from amcr.errors import KernelError
from amcr.kernel import namespaces, prctl_min, unixsock, userns
from amcr.kernel.namespaces import CLONE_NEWUSER
from amcr.runtime.spawn import READ

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.runtime.spawn import Waits

_shared: SharedUserns | None = None
_failed = False


class SharedUserns:
    """The shared namespace (a descriptor), its mapper, and the map nested ones get."""

    def __init__(self, fd: int, mapper_pid: int, sock: unixsock.Sock,
                 outer: userns.IdMapping) -> None:
        self.fd = fd
        self.mapper_pid = mapper_pid
        self._sock = sock
        self.nested = userns.IdMapping(
            _same_ids(outer.uid_lines), _same_ids(outer.gid_lines), helper=False,
            by_parent=True, reason=outer.reason + "; mapped once per runtime, containers nest")

    def write_map(self, pid: int, mapping: userns.IdMapping) -> Waits:
        """The protocol's ID-map step for a nested namespace: ask the mapper, wait for it."""
        reply_r, reply_w = os.pipe()
        try:
            try:
                unixsock.send_fd(self._sock, struct.pack("=i", pid), reply_w)
            except OSError as exc:   # the mapper is gone (killed?): say so, in our terms
                raise KernelError.from_oserror("write id map", exc,
                                               hint="the runtime's id mapper died; retry "
                                                    "with a new amcr.Runtime") from exc
            finally:
                os.close(reply_w)
            yield READ, reply_r
            status = os.read(reply_r, 1)
        finally:
            os.close(reply_r)
        if status != b"\0":
            err = status[0] if status else 0
            raise KernelError(f"write id map: {os.strerror(err).lower() if err else 'no mapper'}",
                              hint=mapping.reason, op="write id map", errno=err)


def get(mapping: userns.IdMapping) -> SharedUserns | None:
    """The process's shared namespace, made on first use; None when the mapping needs
    no helpers (root, a single ID) or it cannot be made (containers then map their
    own, as ``amcr run`` does)."""
    global _shared, _failed
    if not mapping.helper or _failed:
        return None
    if _shared is not None and not _alive(_shared.mapper_pid):
        _shared = None
    if _shared is None:
        try:
            _shared = _make(mapping)
        except OSError:
            _failed = True
            return None
    return _shared


def _alive(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def _make(mapping: userns.IdMapping) -> SharedUserns:
    """Fork the mapper, let it unshare, map its namespace with the helpers, keep an fd."""
    sock, child_sock = unixsock.pair()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sock.close()
            _mapper(child_sock, mapping)
            code = 0
        finally:
            os._exit(code)
    child_sock.close()
    try:
        if sock.recv(16) != b"unshared":
            raise OSError(0, "could not create a user namespace")
        userns.write_map_for(pid, mapping)
        sock.send(b"mapped")
        return SharedUserns(namespaces.open_ns(pid, "user"), pid, sock, mapping)
    except BaseException:
        sock.close()
        os.waitpid(pid, 0)
        raise


def _mapper(sock: unixsock.Sock, mapping: userns.IdMapping) -> None:
    """The mapper's life: unshare, get mapped, then write nested maps until EOF."""
    gc.disable()     # garbage from before the fork must not be finalized here (fds, below)
    os.setsid()                       # no terminal signals: Ctrl-C is for the runtime
    prctl_min.set_pdeathsig_kill()    # dies with the runtime (or sees EOF below)
    # It lives as long as the runtime: it must not keep the caller's pipes,
    # sockets or terminal open (a reader waiting for EOF would wait for us).
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    keep = sock.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 20)
    namespaces.unshare(CLONE_NEWUSER)
    sock.send(b"unshared")
    if sock.recv(16) != b"mapped":
        return
    uids = _text(_same_ids(mapping.uid_lines))
    gids = _text(_same_ids(mapping.gid_lines))
    while True:
        msg, reply = unixsock.recv_maybe_fd(sock)
        if not msg:
            return
        pid = struct.unpack("=i", msg[:4])[0]
        status = 0
        try:
            _write(f"/proc/{pid}/uid_map", uids)
            _write(f"/proc/{pid}/gid_map", gids)
        except OSError as exc:
            status = min(exc.errno or 255, 255)
        if reply is not None:
            try:
                os.write(reply, bytes([status]))
            except OSError:
                pass    # that start was cancelled and closed its end: not our death
            finally:
                os.close(reply)


def _same_ids(lines: tuple[tuple[int, int, int], ...]) -> tuple[tuple[int, int, int], ...]:
    """The nested map: each line of the outer one, inside -> the same inside IDs.

    One line per outer line, not one line for the whole range: the kernel
    wants every nested line to fall within a single line of the parent's map.
    """
    return tuple((inside, inside, count) for inside, _, count in lines)


def _text(lines: tuple[tuple[int, int, int], ...]) -> bytes:
    return "".join(f"{a} {b} {c}\n" for a, b, c in lines).encode()


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
