"""Start one container: the parent's half of the start-up protocol, sans-IO.

:func:`protocol` is a generator that does the real work (clone, ID map,
handshake, exec check) and *yields* whenever it would wait: ``(READ, fd)``
means "resume me once ``fd`` is readable", ``(REAP, pid)`` means "resume me
with ``pid``'s wait status once it has exited". Who waits, and how, is the
driver's business: :func:`spawn` blocks (``amcr run``, no asyncio imported),
:func:`amcr.runtime.aspawn.aspawn` waits on the event loop with
``loop.add_reader`` and pidfds. So there is exactly one way to start a
container, and the loop is never blocked for a container's whole set-up.

The children's half lives in :mod:`amcr.init`; the messages in
:mod:`amcr.init.messages`. This module stays lean on imports: it is on the
start-up path of every ``amcr run``.
"""
from __future__ import annotations

import errno
import os
import struct
import sys

from amcr.errors import AmcrError, KernelError
from amcr.init import container_init, messages
from amcr.init.messages import NOT_MAPPED
from amcr.init.config import InitConfig
from amcr.kernel import namespaces, unixsock, userns
from amcr.kernel.pidfd import pidfd_open, pidfd_send_signal
from amcr.kernel.signals import SIGKILL
from amcr.runtime import failure, idmap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator

    from amcr.runtime.zygote import Zygote

    Op = tuple[int, int]                          # (READ, fd) or (REAP, pid)
    Waits = Generator[Op, "int | None", None]     # a step of the protocol
    Protocol = Generator[Op, "int | None", "Spawned"]

READ = 0   # (READ, fd): resume once fd is readable (the next read will not block)
REAP = 1   # (REAP, pid): resume with the wait status once pid has exited (and reap it)

_REPLY = struct.Struct("=iB")   # the spawner's reply: PID 1's host PID, how its map went


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


class _Children:
    """What exists so far, so an abort at any step knows what to undo."""

    __slots__ = ("pid", "pid_r", "pidfd", "master", "userns_fd")

    def __init__(self, pid: int, pid_r: int) -> None:
        self.pid = pid          # PID 1 of the container (host PID) once known, 0 once reaped
        self.pid_r = pid_r      # the spawner's reply pipe, until it told us the PID
        self.pidfd = -1
        self.master: int | None = None
        self.userns_fd: int | None = None

    def close_fds(self) -> None:
        for fd in (self.pid_r, self.pidfd, self.master, self.userns_fd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.pid_r, self.pidfd, self.master, self.userns_fd = -1, -1, None, None


def spawn(cfg: InitConfig) -> Spawned:
    """Clone the container and return once its command has exec'd (or raise); blocks."""
    return drive(protocol(cfg))   # type: ignore[return-value]


def drive(gen: Generator[Op, int | None, object], value: int | None = None) -> object:
    """The blocking driver: a READ needs no wait (the read that follows blocks)."""
    try:
        while True:
            kind, arg = gen.send(value)
            value = os.waitpid(arg, 0)[1] if kind == REAP else None
    except StopIteration as stop:
        return stop.value


def protocol(cfg: InitConfig, zygote: Zygote | None = None) -> Protocol:
    """The parent's side of the start-up, as a generator of waits (see the module doc).

    Takes ownership of ``cfg.stdio`` (the child's pipe ends): they are closed
    here right after the clone, so no later clone inherits them. With a
    ``zygote`` (the runtime's spawner) PID 1 is cloned there, as our child, and
    mapped there when no setuid helper is needed; else here, which needs a
    single-threaded process (``amcr run``).
    """
    sock = child_sock = None
    pipes: list[int] = []
    try:
        sock, child_sock = unixsock.pair()
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pipes += [err_r, err_w]
        sys.stdout.flush()
        sys.stderr.flush()
        if zygote is not None:
            pid, (pid_r, pid_w) = 0, os.pipe2(os.O_CLOEXEC)
            pipes.append(pid_r)
            try:
                zygote.clone(cfg, child_sock, err_w, pid_w)
            finally:
                os.close(pid_w)
        else:
            pid, pid_r = _clone_here(cfg, child_sock.fileno(), err_w, (sock.fileno(), err_r)), -1
    except BaseException:
        for end in (sock, child_sock):
            if end is not None:
                end.close()
        for fd in pipes:
            os.close(fd)
        _close_stdio(cfg)
        raise
    child_sock.close()
    os.close(err_w)
    _close_stdio(cfg)
    kids = _Children(pid, pid_r)
    try:
        return (yield from _talk(cfg, sock, err_r, kids))
    except GeneratorExit:
        drive(_abort(kids))     # closed by its owner: no more yields allowed
        raise
    except BaseException:
        yield from _unstoppable(_abort(kids))
        raise
    finally:
        sock.close()
        os.close(err_r)
        kids.close_fds()


def _clone_here(cfg: InitConfig, child_sock: int, err_w: int, ours: tuple[int, int]) -> int:
    """PID 1 cloned by this process (``amcr run``); ``ours``: our ends, closed in the child."""
    try:
        return container_init.clone(namespaces.AT_CLONE, container_init.build(cfg),
                                    container_init.fds_for(cfg, child_sock, err_w), ours)
    except OSError as exc:
        hint = "run amcr info to see what this host supports"
        if exc.errno == errno.EINVAL:   # the kernel's rule for new user namespaces
            hint = "a process with threads cannot create a user namespace: use amcr.Runtime"
        raise KernelError.from_oserror("clone", exc, hint=hint) from exc


def _close_stdio(cfg: InitConfig) -> None:
    for fd in cfg.stdio or ():
        try:
            os.close(fd)
        except OSError:
            pass


def _talk(cfg: InitConfig, sock: unixsock.Sock, err_r: int, kids: _Children) -> Protocol:
    """The handshake proper, in the order PID 1 expects it."""
    mapped = NOT_MAPPED
    if kids.pid_r >= 0:               # the spawner's reply: PID 1's host PID, or EOF
        yield READ, kids.pid_r
        reply = os.read(kids.pid_r, _REPLY.size)
        os.close(kids.pid_r)
        kids.pid_r = -1
        if len(reply) != _REPLY.size:
            yield from failure.raise_reported(err_r, cfg)
            raise AmcrError("container setup failed: the runtime's spawner process died",
                            hint="retry with a new amcr.Runtime")
        kids.pid, mapped = _REPLY.unpack(reply)
    kids.pidfd = pidfd_open(kids.pid)
    if cfg.mapping.helper:
        try:
            kids.userns_fd = namespaces.open_ns(kids.pid, "user")
        except OSError:
            pass
    if userns.needs_parent(cfg.mapping):
        if mapped == NOT_MAPPED:
            yield from idmap.write_map(kids.pid, cfg.mapping)
        elif mapped:
            raise KernelError(f"write id map: {os.strerror(mapped).lower()}",
                              hint=cfg.mapping.reason, op="write id map", errno=mapped)
        messages.send(sock, messages.MAPPED)
    yield READ, sock.fileno()
    tag, payload = _receive(sock, kids)
    if tag != messages.READY:
        if tag:
            raise KernelError(f"container setup failed: protocol error: unexpected {tag!r}")
        yield from _reap_pid1(kids)
        yield from failure.raise_reported(err_r, cfg)
        raise AmcrError("container setup failed without a report", hint="run amcr info")
    messages.send(sock, messages.GO)
    report = yield from failure.read_failure(err_r)   # EOF: execve succeeded
    if report is not None:
        yield from _reap_pid1(kids)
        raise failure.error_for(report, cfg)
    spawned = Spawned(kids.pid, kids.pidfd, kids.master, kids.userns_fd,
                      payload.decode() or "pivot_root")
    kids.pidfd, kids.master, kids.userns_fd = -1, None, None   # the caller owns them now
    kids.pid = 0
    return spawned


def _receive(sock: unixsock.Sock, kids: _Children) -> tuple[bytes, bytes]:
    """One message as (tag, payload); (b"", b"") at EOF. A passed PTY master is kept."""
    msg, passed = unixsock.recv_maybe_fd(sock)
    if passed is not None:
        # SCM_RIGHTS descriptors arrive inheritable: a helper we spawn later
        # (newuidmap, a user's subprocess) must not hold this container's PTY.
        os.set_inheritable(passed, False)
        if kids.master is not None:
            os.close(passed)
        else:
            kids.master = passed
    tag, _, payload = msg.partition(b"\0")
    return tag, payload


def _reap_pid1(kids: _Children) -> Waits:
    yield REAP, kids.pid
    kids.pid = 0


def _abort(kids: _Children) -> Waits:
    """Undo a half-done start: PID 1 killed and reaped, every descriptor closed.

    When the spawner has not told PID 1's PID yet, wait for it (or its EOF):
    the process may exist, and only we can reap it.
    """
    if not kids.pid and kids.pid_r >= 0:
        yield READ, kids.pid_r
        reply = os.read(kids.pid_r, _REPLY.size)
        if len(reply) == _REPLY.size:
            kids.pid = _REPLY.unpack(reply)[0]
    if kids.pid:
        _kill(kids)
        yield REAP, kids.pid
        kids.pid = 0
    kids.close_fds()


def _kill(kids: _Children) -> None:
    try:
        if kids.pidfd >= 0:
            pidfd_send_signal(kids.pidfd, SIGKILL)
        else:
            os.kill(kids.pid, SIGKILL)   # unreaped, so the PID cannot have been reused
    except ProcessLookupError:
        pass


def _unstoppable(gen: Waits) -> Waits:
    """Pass ``gen``'s waits to our driver; if the driver gives up (a second
    cancellation, or it is being closed), finish ``gen`` blocking instead."""
    value: int | None = None
    while True:
        try:
            kind, arg = gen.send(value)
        except StopIteration:
            return
        try:
            value = yield kind, arg
        except BaseException:
            value = os.waitpid(arg, 0)[1] if kind == REAP else None
            drive(gen, value)
            return


def kill_and_reap(pid: int, pidfd: int | None = None) -> int:
    """SIGKILL and reap; through the pidfd when we have one (no PID-reuse race)."""
    try:
        if pidfd is not None:
            pidfd_send_signal(pidfd, SIGKILL)
        else:
            os.kill(pid, SIGKILL)
    except ProcessLookupError:
        pass
    return _reap(pid)


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
