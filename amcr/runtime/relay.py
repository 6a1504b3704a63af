"""Move bytes between the caller's stdio and a container, until it exits.

One epoll loop: stdin -> PTY master (or stdin pipe); master (or stdout and
stderr pipes) -> our stdout/stderr; the pidfd says when PID 1 is gone; a
self-pipe (signal.set_wakeup_fd) brings SIGWINCH and proxied signals in.
"""
from __future__ import annotations

import os
import select
import time

from amcr.kernel import signals as signal
from amcr.kernel.fds import write_all
from amcr.kernel.pidfd import pidfd_send_signal
from amcr.runtime.spawn import Spawned

TYPE_CHECKING = False   # collections.abc costs ms to import at run time
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

_CHUNK = 65536


class Pipes:
    """stdin/stdout/stderr pipes for a container without a PTY."""

    def __init__(self, stdin_r: int, stdin_w: int | None, stdout_r: int, stdout_w: int,
                 stderr_r: int, stderr_w: int) -> None:
        self.stdin_r, self.stdin_w = stdin_r, stdin_w
        self.stdout_r, self.stdout_w = stdout_r, stdout_w
        self.stderr_r, self.stderr_w = stderr_r, stderr_w
        self._closed: set[int] = set()

    @classmethod
    def make(cls, interactive: bool) -> "Pipes":
        if interactive:
            in_r, in_w = os.pipe()
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        return cls(in_r, in_w, out_r, out_w, err_r, err_w)

    def child_ends(self) -> tuple[int, int, int]:
        return (self.stdin_r, self.stdout_w, self.stderr_w)

    def _close(self, fd: int | None) -> None:
        if fd is not None and fd not in self._closed:
            self._closed.add(fd)
            os.close(fd)

    def close_child_ends(self) -> None:
        for fd in self.child_ends():
            self._close(fd)

    def forget_child_ends(self) -> None:
        """The spawn protocol closed them (right after fork): never close them again."""
        self._closed.update(self.child_ends())

    def close(self) -> None:
        for fd in (self.stdin_r, self.stdin_w, self.stdout_r, self.stdout_w, self.stderr_r,
                   self.stderr_w):
            self._close(fd)


class _Terminal:
    """Raw mode on our own terminal while attached; always restored."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> "_Terminal":
        if os.isatty(self.fd):
            import termios   # only with a terminal: not on the start-up path of a pipe
            import tty
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


#: signals after which the container must go: forwarded, then SIGKILL after the grace
STOPPING = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class CaughtSignals:
    """SIGWINCH and the proxied signals, caught into a pipe for the relay loop.

    Entered before the container is set up: a signal that arrives meanwhile
    waits in the pipe and is passed on once the container runs, instead of
    killing amcr half-way through its start (which left the layer behind).
    """

    def __init__(self, proxied: Iterable[int]) -> None:
        self.handled = [signal.SIGWINCH, *proxied]
        self.wake_r = self.wake_w = -1
        self._old_handlers: dict[int, Any] = {}
        self._old_wakeup = -1

    def __enter__(self) -> "CaughtSignals":
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_handlers = {s: signal.signal(s, lambda *_: None) for s in self.handled}
        self._old_wakeup = signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._old_wakeup)
        for s, h in self._old_handlers.items():
            signal.signal(s, h)
        os.close(self.wake_r)
        os.close(self.wake_w)
        self.wake_r = self.wake_w = -1


def attach(proc: Spawned, pipes: Pipes | None, *, interactive: bool, caught: CaughtSignals,
           stop_timeout: float = 10.0) -> int:
    """Relay until the container exits and its output is drained; its wait status.

    A terminating signal sent to amcr (``caught``) is passed on; a PID 1 without
    a handler ignores it (the kernel protects a namespace's init), so, like
    ``docker stop``, amcr sends SIGKILL once ``stop_timeout`` seconds have passed.
    """
    with _Terminal(0) if proc.master is not None and interactive else _nullctx():
        return _loop(proc, pipes, interactive, caught.wake_r, stop_timeout)


class _nullctx:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_IN = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR


def _loop(proc: Spawned, pipes: Pipes | None, interactive: bool, wake_r: int,
          stop_timeout: float = 10.0) -> int:
    """epoll directly (not selectors): one import less on every start."""
    ep = select.epoll()
    outputs: dict[int, int] = {}          # container fd -> our fd
    stdin_target: int | None
    if proc.master is not None:
        outputs[proc.master] = 1
        stdin_target = proc.master
    else:
        assert pipes is not None
        outputs[pipes.stdout_r] = 1
        outputs[pipes.stderr_r] = 2
        stdin_target = pipes.stdin_w
    for fd in outputs:
        ep.register(fd, _IN)
    if interactive and stdin_target is not None:
        try:
            ep.register(0, _IN)
        except OSError:       # a regular file or /dev/null: epoll refuses it
            _copy_file_stdin(stdin_target, pipes)
    ep.register(proc.pidfd, _IN)
    ep.register(wake_r, _IN)
    status: int | None = None
    kill_at: float | None = None       # set once a terminating signal was passed on
    try:
        while outputs or status is None:
            timeout = -1.0 if kill_at is None else max(0.0, kill_at - time.monotonic())
            events = ep.poll(timeout)
            if kill_at is not None and status is None and time.monotonic() >= kill_at:
                pidfd_send_signal(proc.pidfd, signal.SIGKILL)
                kill_at = None
            for fd, _ in events:
                if fd in outputs:
                    try:
                        data = os.read(fd, _CHUNK)
                    except OSError:       # EIO: the PTY's last slave closed
                        data = b""
                    if data:
                        write_all(outputs[fd], data)
                    else:
                        ep.unregister(fd)
                        del outputs[fd]
                elif fd == 0:
                    data = os.read(0, _CHUNK)
                    if data and stdin_target is not None:
                        try:
                            write_all(stdin_target, data)
                        except BrokenPipeError:
                            data = b""
                    if not data:
                        ep.unregister(0)
                        if pipes is not None and pipes.stdin_w is not None:
                            pipes._close(pipes.stdin_w)
                elif fd == proc.pidfd:
                    ep.unregister(fd)
                    _, status = os.waitpid(proc.pid, 0)
                    if proc.master is not None and proc.master in outputs:
                        ep.unregister(proc.master)
                        _drain_master(proc.master, outputs.pop(proc.master))
                elif fd == wake_r:
                    received = os.read(wake_r, 512)
                    _on_signals(received, proc)
                    if kill_at is None and status is None and any(
                            s in STOPPING for s in received):
                        kill_at = time.monotonic() + stop_timeout
    finally:
        ep.close()
    return status or 0


def _drain_master(master: int, out: int) -> None:
    """After PID 1 exits: what is left in the PTY, without blocking."""
    os.set_blocking(master, False)
    while True:
        try:
            data = os.read(master, _CHUNK)
        except OSError:
            return
        if not data:
            return
        write_all(out, data)


def _copy_file_stdin(target: int | None, pipes: Pipes | None) -> None:
    """stdin that epoll cannot watch (a regular file): copy it whole, then EOF."""
    if target is None:
        return
    while True:
        data = os.read(0, _CHUNK)
        if not data:
            break
        try:
            write_all(target, data)
        except BrokenPipeError:
            break
    if pipes is not None and pipes.stdin_w is not None:
        pipes._close(pipes.stdin_w)


def _on_signals(raw: bytes, proc: Spawned) -> None:
    for signum in set(raw):
        if signum == signal.SIGWINCH:
            from amcr.kernel.pty import get_winsize, set_winsize   # a terminal: imported
            size = get_winsize(0) or get_winsize(1)
            if size and proc.master is not None:
                set_winsize(proc.master, *size)   # the kernel sends SIGWINCH inside
        else:
            pidfd_send_signal(proc.pidfd, signum)
