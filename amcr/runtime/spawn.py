"""Start one container: the parent's half of the start-up protocol, sans-IO.

:func:`protocol` is a generator that does the real work (fork, ID map,
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

import os
import sys
from gc import disable as gc_disable

from amcr.errors import AmcrError, KernelError
from amcr.init import intermediate, messages
from amcr.init.config import InitConfig
from amcr.kernel import namespaces, prctl_min, unixsock, userns
from amcr.kernel.libc import libc
from amcr.kernel.pidfd import pidfd_open, pidfd_send_signal
from amcr.kernel.signals import SIGKILL, default_dispositions, set_wakeup_fd
from amcr.runtime import failure, idmap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from amcr.runtime.zygote import Zygote

    Op = tuple[int, int]                          # (READ, fd) or (REAP, pid)
    Waits = Generator[Op, "int | None", None]     # a step of the protocol
    Protocol = Generator[Op, "int | None", "Spawned"]

READ = 0   # (READ, fd): resume once fd is readable (the next read will not block)
REAP = 1   # (REAP, pid): resume with the wait status once pid has exited (and reap it)

_subreaper_holds = 0


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

    __slots__ = ("pid1", "pid", "pidfd", "master", "userns_fd", "subreaper")

    def __init__(self, pid1: int) -> None:
        self.pid1 = pid1        # child 1 until reaped, then 0
        self.pid = 0            # PID 1 of the container (host PID) once known, 0 once reaped
        self.pidfd = -1
        self.master: int | None = None
        self.userns_fd: int | None = None
        self.subreaper = True   # we hold the subreaper attribute for this start

    def child_1_reaped(self) -> None:
        self.pid1 = 0
        if self.subreaper:
            self.subreaper = False
            _release_subreaper()

    def close_fds(self) -> None:
        for fd in (self.pidfd, self.master, self.userns_fd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.pidfd, self.master, self.userns_fd = -1, None, None


def _hold_subreaper() -> None:
    """Child 1 exits once PID 1 exists; PID 1 must then become *our* child, so that
    we can wait for it and its parent-death signal means us: we are a child
    subreaper from child 1's fork until it is reaped, and only then. A process
    that stayed one would also inherit every orphan of every other program it
    runs (a daemonizing subprocess, bwrap's helpers) and keep them as zombies."""
    global _subreaper_holds
    if _subreaper_holds == 0:
        prctl_min.set_child_subreaper()
    _subreaper_holds += 1


def _release_subreaper() -> None:
    global _subreaper_holds
    _subreaper_holds -= 1
    if _subreaper_holds == 0:
        libc.prctl(prctl_min.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def spawn(cfg: InitConfig, child_setup: Callable[[], None] | None = None) -> Spawned:
    """Fork the container and return once its command has exec'd (or raise); blocks."""
    return drive(protocol(cfg, child_setup))   # type: ignore[return-value]


def drive(gen: Generator[Op, int | None, object], value: int | None = None) -> object:
    """The blocking driver: a READ needs no wait (the read that follows blocks)."""
    try:
        while True:
            kind, arg = gen.send(value)
            value = os.waitpid(arg, 0)[1] if kind == REAP else None
    except StopIteration as stop:
        return stop.value


def protocol(cfg: InitConfig, child_setup: Callable[[], None] | None = None,
             write_map: Callable[[int, userns.IdMapping], Waits] | None = None,
             zygote: Zygote | None = None, userns_fd: int | None = None) -> Protocol:
    """The parent's side of the start-up, as a generator of waits (see the module doc).

    Takes ownership of ``cfg.stdio`` (the child's pipe ends): they are closed
    here right after fork, so no later fork inherits them. ``child_setup`` runs
    in child 1 first thing; ``write_map`` replaces the ID-map step (the
    runtime's shared user namespace, :mod:`amcr.runtime.sharedns`). With a
    ``zygote``, the spawner process forks child 1 as our child (the runtime
    never forks), and child 1 joins the user namespace ``userns_fd`` first.
    """
    try:
        sock, child_sock = unixsock.pair()
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
    except BaseException:
        _close_stdio(cfg)
        raise
    sys.stdout.flush()
    sys.stderr.flush()
    _hold_subreaper()
    try:
        if zygote is not None:
            zygote.fork(cfg, child_sock, err_w, userns_fd)
            pid1 = -1         # not known yet: child 1 sends it first (FORKED)
        else:
            pid1 = os.fork()
    except BaseException:
        _release_subreaper()
        for fd in (err_r, err_w):
            os.close(fd)
        sock.close()
        child_sock.close()
        _close_stdio(cfg)
        raise
    if pid1 == 0:  # child 1: never returns
        _child_1(cfg, sock, child_sock, err_r, err_w, child_setup)
    child_sock.close()
    os.close(err_w)
    _close_stdio(cfg)
    kids = _Children(max(pid1, 0))
    try:
        if pid1 < 0:
            yield from _forked(cfg, sock, err_r, kids)
        return (yield from _talk(cfg, sock, err_r, kids, write_map or idmap.write_map))
    except GeneratorExit:
        drive(_abort(sock, kids))     # closed by its owner: no more yields allowed
        raise
    except BaseException:
        yield from _unstoppable(_abort(sock, kids))
        raise
    finally:
        sock.close()
        os.close(err_r)
        if kids.subreaper:      # only when child 1 could not be reaped (never, normally)
            kids.subreaper = False
            _release_subreaper()


def _child_1(cfg: InitConfig, sock: unixsock.Sock, child_sock: unixsock.Sock, err_r: int,
             err_w: int, child_setup: Callable[[], None] | None) -> None:
    try:
        # No cyclic GC in the children: a collection walks (and so writes to,
        # copy-on-write) every tracked object the runtime has, for nothing.
        gc_disable()
        sock.close()
        os.close(err_r)
        try:
            # An event loop's wakeup fd is shared with us after fork: a signal
            # arriving here must not wake (and confuse) the parent's loop.
            set_wakeup_fd(-1)
        except ValueError:
            pass   # forked from a thread other than the main one: no wakeup fd here
        default_dispositions()
        if child_setup is not None:
            child_setup()
    except BaseException as exc:  # noqa: BLE001 - report, never return into the parent's code
        messages.report_failure(err_w, "fork", 0, f"{type(exc).__name__}: {exc}")
        os._exit(125)
    intermediate.run(cfg, child_sock, err_w)
    os._exit(125)   # not reached: never return into the parent's code in a child


def _close_stdio(cfg: InitConfig) -> None:
    for fd in cfg.stdio or ():
        try:
            os.close(fd)
        except OSError:
            pass


def _forked(cfg: InitConfig, sock: unixsock.Sock, err_r: int, kids: _Children) -> Waits:
    """The spawner forked child 1 for us: learn its PID (its first message)."""
    yield READ, sock.fileno()
    tag, payload = _receive(sock, kids)
    if tag == messages.FORKED:
        kids.pid1 = messages.pid_of(payload)
        return
    if tag:
        raise KernelError(f"container setup failed: protocol error: unexpected {tag!r}")
    kids.child_1_reaped()     # EOF: there is no child 1 (the spawner could not fork, or died)
    yield from failure.raise_reported(err_r, cfg)
    raise AmcrError("container setup failed: the runtime's spawner process died",
                    hint="retry with a new amcr.Runtime")


def _talk(cfg: InitConfig, sock: unixsock.Sock, err_r: int, kids: _Children,
          write_map: Callable[[int, userns.IdMapping], Waits]) -> Protocol:
    """The handshake proper, in the order the children expect it."""
    fd = sock.fileno()
    if userns.needs_parent(cfg.mapping):
        yield READ, fd
        if messages.expect(sock, messages.UNSHARED) is not None:
            yield from write_map(kids.pid1, cfg.mapping)
            messages.send(sock, messages.MAPPED)
    # PID (from child 1) and READY (from PID 1) share the channel and race: on
    # a busy machine PID 1 can finish its whole set-up before child 1, which
    # forked it, gets the CPU back to report its PID. Take them in any order.
    ready: bytes | None = None
    while not kids.pid:
        yield READ, fd
        tag, payload = _receive(sock, kids)
        if tag == messages.PID:
            kids.pid = messages.pid_of(payload)
        elif tag == messages.READY:
            ready = payload
        elif not tag:
            break
        else:
            raise KernelError(f"container setup failed: protocol error: unexpected {tag!r}")
    pid = kids.pid
    yield REAP, kids.pid1        # child 1 exits right after reporting; PID 1 is now ours
    kids.child_1_reaped()
    if not pid:
        yield from failure.raise_reported(err_r, cfg)
        raise AmcrError("container setup failed without a report", hint="run amcr info")
    kids.pidfd = pidfd_open(pid)
    if cfg.mapping.helper:
        try:
            kids.userns_fd = namespaces.open_ns(pid, "user")
        except OSError:
            pass
    if ready is None:
        yield READ, fd
        tag, payload = _receive(sock, kids)
        if tag == messages.READY:
            ready = payload
        elif tag:
            raise KernelError(f"container setup failed: protocol error: unexpected {tag!r}")
    if ready is None:
        yield from _reap_pid1(kids)
        yield from failure.raise_reported(err_r, cfg)
        raise AmcrError("container setup failed without a report", hint="run amcr info")
    messages.send(sock, messages.GO)
    report = yield from failure.read_failure(err_r)   # EOF: execve succeeded
    if report is not None:
        yield from _reap_pid1(kids)
        raise failure.error_for(report, cfg)
    spawned = Spawned(pid, kids.pidfd, kids.master, kids.userns_fd, ready.decode() or "pivot_root")
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


def _abort(sock: unixsock.Sock, kids: _Children) -> Waits:
    """Undo a half-done start: every child gone and reaped, every descriptor closed.

    Shutting our end down (rather than closing it) reaches the children even
    while other containers' set-up children still hold a copy of it; they then
    see EOF where they wait and leave. Draining to EOF tells us PID 1's host
    PID if it was sent but not read yet, so no zombie is left unreaped.
    """
    if kids.pid:
        _kill(kids)
    try:
        sock.shutdown(1)   # SHUT_WR
    except OSError:
        pass
    while True:
        yield READ, sock.fileno()
        try:
            msg = sock.recv(4096)     # a READY's PTY master is dropped by the kernel
        except OSError:
            break
        if not msg:
            break
        tag, _, payload = msg.partition(b"\0")
        if tag == messages.FORKED and not kids.pid1 and len(payload) == 4:
            kids.pid1 = messages.pid_of(payload)
        if tag == messages.PID and not kids.pid and len(payload) == 4:
            kids.pid = messages.pid_of(payload)
            _kill(kids)
    if kids.pid1:
        yield REAP, kids.pid1
        kids.child_1_reaped()
    if kids.pid:
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
