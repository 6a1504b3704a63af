"""A container on the event loop: created -> running -> exited, and its verbs.

Everything here is callbacks on the loop, nothing blocks for long: output is
read by :class:`~amcr.runtime.streams.Source` readers, the exit is seen on a
pidfd registered with ``loop.add_reader`` (no thread per child, no polling),
input is written non-blocking with ``add_writer`` when the pipe or PTY is full.
The container is started through :func:`amcr.runtime.aspawn.aspawn`, the same
protocol ``amcr run`` drives synchronously.

Clean-up happens as soon as PID 1 is reaped (writable layer, owner lock,
namespace fd): that is when the kernel has torn down its mounts. The output
descriptors live on until their readers saw the end, or :meth:`Container.close`.
"""
from __future__ import annotations

import asyncio
import enum
import functools
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence

from amcr.errors import StateError
from amcr.images import layers
from amcr.kernel.pidfd import pidfd_send_signal
from amcr.kernel.pty import set_winsize
from amcr.kernel.signals import SIGKILL, SIGTERM
from amcr.init.config import InitConfig
from amcr.runtime import owner, stats
from amcr.runtime.aspawn import aspawn
from amcr.runtime.prepare import Prepared, prepare, release
from amcr.runtime.sharedns import SharedUserns
from amcr.runtime.spawn import Spawned, exit_code, kill_and_reap
from amcr.runtime.streams import Sink, Source, Subscription
from amcr.runtime.zygote import Zygote
from amcr.spec import ContainerSpec


class State(enum.Enum):
    CREATED = "created"     # prepared, not started: only start() and close() fit
    RUNNING = "running"
    EXITED = "exited"       # PID 1 reaped; its output may still be draining


class Container:
    """One container; made by :meth:`amcr.Runtime.start` (or ``create``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, spec: ContainerSpec, *, stdin: bool,
                 grace: float, zygote: Zygote, userns: SharedUserns | None = None,
                 before_start: Callable[[Container], Awaitable[None]] | None = None,
                 on_exit: Callable[[Container], None] | None = None,
                 on_close: Callable[[Container], None] | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.id = layers.new_id()
        self.state = State.CREATED
        self.exit_code: int | None = None
        self.timed_out = False
        self.kept_layer: str | None = None
        self.root_method = ""
        self.grace = grace
        self.started_at: float | None = None   # loop.time() when set-up began
        self.exited_at: float | None = None
        self._loop = loop
        self._want_stdin = stdin or spec.tty
        self._userns = userns                   # the runtime's shared user namespace
        self._zygote = zygote                   # the runtime's spawner: it clones PID 1
        self._before_start = before_start       # the runtime's concurrency slot
        self._on_exit = on_exit
        self._on_close = on_close
        self._prep: Prepared | None = None
        self._proc: Spawned | None = None
        self._lock = -1
        self._input: int | None = None          # our end of stdin: pipe or PTY master
        self._outputs: list[int] = []           # read ends to close once drained
        self._sources: dict[str, Source] = {}
        self._early: list[tuple[Subscription, str | None]] = []
        self._exited: asyncio.Future[int] = loop.create_future()
        self._kill_timer: asyncio.TimerHandle | None = None
        self._write_lock = asyncio.Lock()
        self._write_waiter: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<Container {self.name or self.id} {self.state.value} pid={self.pid}>"

    @property
    def pid(self) -> int | None:
        """Host PID of the container's PID 1 while it runs."""
        return self._proc.pid if self._proc is not None and self.state is State.RUNNING else None

    @property
    def tty(self) -> bool:
        return self.spec.tty

    def source(self, stream: str) -> Source | None:
        """The reader of ``pty``, ``stdout`` or ``stderr``, once started."""
        return self._sources.get(stream)

    def input_free(self) -> int | None:
        """The input descriptor (the PTY master, or stdin's pipe) when bytes
        written to it now come next, in order: running, and no :meth:`write`
        under way. For a relay that writes keystrokes itself (the multiplexer's)."""
        if self.state is not State.RUNNING or self._write_lock.locked():
            return None
        return self._input

    def _require(self, state: State, verb: str) -> None:
        if self.state is not state:
            raise StateError(f"cannot {verb} container {self.name or self.id}: it is "
                             f"{self.state.value}, not {state.value}")

    # -- starting ------------------------------------------------------------------
    async def start(self, sinks: Mapping[str, Sequence[Sink]] | None = None) -> Container:
        """Set up and exec; returns once the command runs (raises if it could not)."""
        self._require(State.CREATED, "start")
        try:
            if self._before_start is not None:
                before, self._before_start = self._before_start, None
                await before(self)
            self.started_at = self._loop.time()
            cfg = self._prepare()
            self._proc = await aspawn(cfg, self._zygote, self._loop)
        except BaseException:
            self.close_now()
            raise
        self.root_method = self._proc.root_method
        self.state = State.RUNNING
        if self._proc.master is not None:
            self._input = self._proc.master
            self._outputs.append(self._proc.master)
            self._sources["pty"] = Source(self._loop, self._proc.master, "pty")
        for name, source in self._sources.items():
            for sink in (sinks or {}).get(name, ()):
                source.add(sink)
        for sub, stream in self._early:
            sub.attach(self._select(stream))
        self._early.clear()
        for source in self._sources.values():
            source.start()
        self._loop.add_reader(self._proc.pidfd, self._on_pidfd)
        return self

    def _prepare(self) -> InitConfig:
        """Pipes, layer and owner lock; no await from here to the clone request."""
        stdio = None
        if not self.spec.tty:
            if self._want_stdin:
                in_r, self._input = os.pipe()
                os.set_blocking(self._input, False)
            else:
                in_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            stdio = (in_r, out_w, err_w)
            self._outputs += [out_r, err_r]
            self._sources["stdout"] = Source(self._loop, out_r, "stdout")
            self._sources["stderr"] = Source(self._loop, err_r, "stderr")
        try:
            self._prep = prepare(self.spec, stdio=stdio, container_id=self.id)
            self._lock = owner.claim(self._prep.layer.path)
        except BaseException:
            for fd in stdio or ():
                os.close(fd)
            raise
        cfg = self._prep.cfg      # the protocol owns (and closes) the child's ends now
        if self._userns is not None:
            cfg = cfg.replace(mapping=self._userns.nested)
        return cfg

    # -- exit ------------------------------------------------------------------------
    def _on_pidfd(self) -> None:
        assert self._proc is not None
        try:
            pid, status = os.waitpid(self._proc.pid, os.WNOHANG)
        except ChildProcessError:   # reaped behind our back (a waitpid(-1) elsewhere)
            pid, status = self._proc.pid, 255 << 8
        if pid:
            self._teardown(status)

    def _teardown(self, status: int | None) -> None:
        """PID 1 is gone (or never came): release what it held, once."""
        if self.state is not State.EXITED:
            self.state = State.EXITED
            self.exited_at = self._loop.time()
            if status is not None:
                self.exit_code = exit_code(status)
            if self._kill_timer is not None:
                self._kill_timer.cancel()
            self._release()
            if self._write_waiter is not None and not self._write_waiter.done():
                self._write_waiter.set_exception(StateError("the container exited"))
            if not self._exited.done():
                self._exited.set_result(-1 if self.exit_code is None else self.exit_code)
            for sub, _ in self._early:
                sub.attach([])
            self._early.clear()
            for source in self._sources.values():   # close each once its reader saw the end
                source.done.add_done_callback(functools.partial(self._output_done, source.fd))
            if self._on_exit is not None:
                self._on_exit(self)

    def _release(self) -> None:
        proc = self._proc
        if proc is not None and proc.pidfd >= 0:
            self._loop.remove_reader(proc.pidfd)
            os.close(proc.pidfd)
            proc.pidfd = -1       # trio's rule: a closed fd's number is never used again
        try:
            if self._prep is not None:
                ns = proc.userns_fd if proc is not None else None
                if ns is None and self._userns is not None:
                    ns = self._userns.fd    # subordinate IDs are ours in there, too
                self.kept_layer = release(self._prep, ns)
        except Exception as exc:   # noqa: BLE001 - a callback: report, the layer waits for gc
            self._loop.call_exception_handler({"message": str(exc), "exception": exc})
        finally:
            if self._lock >= 0 and self._prep is not None:
                owner.disown(self._prep.layer.path, self._lock, self.kept_layer is not None)
                self._lock = -1
            if proc is not None and proc.userns_fd is not None:
                os.close(proc.userns_fd)
                proc.userns_fd = None
            if self._input is not None and self._input not in self._outputs:
                self._close_input()      # a stdin pipe; a PTY master is also an output

    def _output_done(self, fd: int, _done: asyncio.Future[None]) -> None:
        self._close_output(fd)

    def _close_output(self, fd: int) -> None:
        if fd in self._outputs:
            for source in self._sources.values():
                if source.fd == fd:
                    source.end()          # its reader is removed before the fd is closed
            self._outputs.remove(fd)
            if fd == self._input:
                self._input = None
                self._loop.remove_writer(fd)
            os.close(fd)

    def _close_input(self) -> None:
        fd, self._input = self._input, None
        if fd is not None:
            self._loop.remove_writer(fd)
            os.close(fd)

    # -- verbs -----------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        """Send bytes to the container's stdin (its terminal when it has one)."""
        self._require(State.RUNNING, "write to")
        async with self._write_lock:
            view = memoryview(data)
            while view:
                fd = self._input
                if fd is None or self.state is not State.RUNNING:
                    raise StateError(f"container {self.name or self.id} has no open input",
                                     hint="start it with stdin=True or tty=True")
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    await self._writable(fd)
                except OSError as exc:    # EPIPE, EIO: nobody reads its input any more
                    raise StateError(f"container {self.name or self.id} closed its input") \
                        from exc

    def write_nowait(self, data: bytes) -> int:
        """Write what the input takes right now; how many bytes that was.

        For keystrokes: awaiting :meth:`write` costs a turn of the event loop
        before the byte leaves, which is part of the echo's latency. Returns 0
        while a :meth:`write` is under way (its bytes go first), when the input
        is full, or when there is no open input; the caller then queues the
        rest for :meth:`write`, which also reports the errors.
        """
        fd = self.input_free()
        if fd is None or not data:
            return 0
        try:
            return os.write(fd, data)
        except OSError:           # EAGAIN: full; EPIPE/EIO: write() will say so
            return 0

    async def _writable(self, fd: int) -> None:
        self._write_waiter = fut = self._loop.create_future()
        self._loop.add_writer(fd, _wake, fut)
        try:
            await fut
        finally:
            self._write_waiter = None
            if self._input == fd:
                self._loop.remove_writer(fd)

    async def close_stdin(self) -> None:
        """End of input: close the pipe; on a terminal, send the EOF character (^D)."""
        self._require(State.RUNNING, "close the input of")
        if self.spec.tty:
            await self.write(b"\x04")
            return
        async with self._write_lock:
            self._close_input()

    def output(self, stream: str | None = None) -> Subscription:
        """A live subscription to the output from now on (``stdout``, ``stderr``; None: all).

        Subscribing to a created container gets everything from the first byte.
        """
        if self.state is State.CREATED:
            sub = Subscription(self._loop, [], pending=True)
            self._early.append((sub, stream))
            return sub
        return Subscription(self._loop, self._select(stream))

    def _select(self, stream: str | None) -> list[Source]:
        if stream is None or self.spec.tty:
            return list(self._sources.values())
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"stream must be 'stdout', 'stderr' or None, not {stream!r}")
        return [self._sources[stream]]

    def resize(self, rows: int, cols: int) -> None:
        """New terminal size (the kernel sends SIGWINCH inside)."""
        self._require(State.RUNNING, "resize")
        if self._proc is None or self._proc.master is None:
            raise StateError(f"container {self.name or self.id} has no terminal",
                             hint="start it with tty=True")
        set_winsize(self._proc.master, rows, cols)

    def signal(self, signum: int) -> None:
        """Send a signal to PID 1 (an init without a handler ignores all but SIGKILL)."""
        self._require(State.RUNNING, "signal")
        assert self._proc is not None
        pidfd_send_signal(self._proc.pidfd, int(signum))

    def kill(self) -> None:
        self.signal(SIGKILL)

    async def wait(self) -> int:
        """The exit code, once PID 1 has exited (its output may still be draining)."""
        if self.state is State.CREATED:
            raise StateError(f"cannot wait for container {self.name or self.id}: not started")
        return await asyncio.shield(self._exited)

    async def output_done(self) -> None:
        """Until every output stream has reached its end (or the container was closed)."""
        pending = [s.done for s in self._sources.values() if not s.done.done()]
        if pending:
            await asyncio.wait(pending)     # unlike gather, never cancels what it waits on

    async def terminate(self, grace: float | None = None) -> int:
        """SIGTERM, up to ``grace`` seconds, then SIGKILL; the exit code."""
        if self.state is State.RUNNING:
            self.stop_soon(self.grace if grace is None else grace)
        return await self.wait()

    def stop_soon(self, grace: float) -> None:
        """Start terminating without waiting: SIGTERM now, SIGKILL after ``grace``
        (or sooner, if an earlier stop asked for a shorter grace)."""
        if self.state is not State.RUNNING:
            return
        self.signal(SIGTERM)
        deadline = self._loop.time() + grace
        if self._kill_timer is not None:
            if self._kill_timer.when() <= deadline:
                return
            self._kill_timer.cancel()
        self._kill_timer = self._loop.call_at(deadline, self._kill_if_running)

    def _kill_if_running(self) -> None:
        if self.state is State.RUNNING:
            self.kill()

    def stats(self) -> stats.ContainerStats:
        """Resource use now; ``.source`` says where the numbers come from."""
        self._require(State.RUNNING, "sample")
        return stats.sample(self)

    # -- closing -----------------------------------------------------------------------
    async def close(self) -> None:
        """Kill if running, reap, release everything (output readers get their end)."""
        try:
            if self.state is State.RUNNING:
                self.kill()
                await self.wait()
        except BaseException:
            self.close_now()
            raise
        self.close_now()

    def close_now(self) -> None:
        """Synchronous last resort (loop closing, second cancellation): SIGKILL and reap."""
        if self.state is State.RUNNING and self._proc is not None:
            self._teardown(kill_and_reap(self._proc.pid, self._proc.pidfd))
        elif self.state is State.CREATED:
            self._teardown(None)
        for source in self._sources.values():
            source.end()
        for fd in list(self._outputs):
            self._close_output(fd)
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close(self)

    async def __aenter__(self) -> Container:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
