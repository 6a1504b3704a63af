"""One container in the multiplexer: its emulator, its process, its numbers.

The pane is the model; the layout only reads it. Output goes from the
container's PTY straight into the emulator in the reader callback (a Sink, no
queue and no task per chunk), so a screen is up to date whether or not it is
shown, and each read is bounded, so a flooding pane gets one turn per loop
iteration like the keyboard does. The reader is the C one of relay.c
(:class:`~amcr.tui._relay.EchoReader`), which can write a keystroke's echo to
the terminal before the read reaches Python (echo.py).
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from amcr.errors import AmcrError
from amcr.runtime.streams import Sink, Source
from amcr.spec import ContainerSpec
from amcr.tui._relay import EchoReader
from amcr.tui.emulator import Emulator, create_emulator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.runtime.container import Container
    from amcr.runtime.runtime import Runtime

HISTORY = 60     # one sample a second: the last minute, for the sparkline


class _Feed(Sink):
    def __init__(self, pane: Pane) -> None:
        self.pane = pane

    def feed(self, source: Source, data: bytes) -> bool:
        self.pane.on_output(data)
        return False

    def source_ended(self, source: Source) -> None:
        self.pane.changed()


class Pane:
    """A named container shown (or not) in the multiplexer."""

    def __init__(self, spec: ContainerSpec, on_change: Callable[[], None],
                 on_output: Callable[[], None] | None = None) -> None:
        self.spec = spec
        self.name = spec.name or "amcr"
        self.changed = on_change            # what the tab bar shows changed
        # Only the screen changed; True: the read was echoed early, paint it now.
        self.output_arrived: Callable[[bool], None] = on_output or (lambda _echoed: on_change())
        # Told of each read before the emulator is fed, with how many of its
        # bytes the reader wrote to the terminal early (echo.py).
        self.before_feed: Callable[[Pane, int], None] | None = None
        # Called when keys must wait in the queue (a keystroke relay must stop).
        self.on_backlog: Callable[[], None] | None = None
        self.reader: EchoReader | None = None       # the PTY's reader, while it runs
        self.emulator: Emulator = create_emulator(24, 80)
        self.size = (24, 80)
        self.container: Container | None = None
        self.exit_code: int | None = None
        self.oom = False
        self.error: str | None = None
        self.started = 0.0
        self.cpu_history: deque[float] = deque(maxlen=HISTORY)
        self.memory = 0
        self.pids = 0
        self.stats_source = ""
        self._last_cpu: tuple[float, int] | None = None
        self.received = 0           # bytes of output so far (the frame pacer reads it)
        self._writes: asyncio.Queue[bytes] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._waiter: asyncio.Task[None] | None = None

    # -- state -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.container is not None and self.container.state.value == "running"

    def status(self) -> str:
        if self.running:
            return "running"
        if self.error:
            return "failed"
        if self.exit_code is None:
            return "starting"
        return "OOM" if self.oom else f"exit {self.exit_code}"

    # -- lifecycle ------------------------------------------------------------------
    async def start(self, runtime: Runtime) -> None:
        """Start (or restart) the container with the pane's current size."""
        await self.close()
        # Keys queued for the container that ended are not the new one's to run.
        self._writes = asyncio.Queue()
        self.exit_code, self.error, self.oom = None, None, False
        self._last_cpu = None
        self.reader = None
        spec = self.spec.replace(tty=True, winsize=self.size)
        options = {k: getattr(spec, k) for k in spec.__slots__ if k not in ("argv", "tty", "name")}
        try:
            c = runtime.create(spec.argv, tty=True, name=self.name, **options)
            await c.start({"pty": [_Feed(self)]})
        except AmcrError as exc:
            self.error = exc.line()
            self.emulator.feed(f"\r\namcr: {self.error}\r\n".encode())
            self.changed()
            return
        source = c.source("pty")
        if source is not None:
            self.reader = EchoReader(source.fd, source.dispatch)
            source.use_reader(self.reader)
        self.container = c
        self.started = time.monotonic()
        loop = asyncio.get_running_loop()
        self._writer = loop.create_task(self._write_loop(c))
        self._waiter = loop.create_task(self._wait(c))
        self.changed()

    async def _wait(self, c: Container) -> None:
        code = await c.wait()
        from amcr.runtime import stats
        self.oom = stats.oom_killed(c)
        self.exit_code = code
        if self._writer is not None:
            self._writer.cancel()
        await c.close()
        self.changed()

    async def close(self) -> None:
        """Kill the container if it runs, and forget it."""
        c, self.container = self.container, None
        for task in (self._writer, self._waiter):
            if task is not None and not task.done():
                task.cancel()
        if c is not None:
            await c.close()

    async def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace``: what `x` does."""
        if self.container is not None and self.running:
            self.container.stop_soon(grace)

    # -- I/O ------------------------------------------------------------------------
    def on_output(self, data: bytes) -> None:
        reader = self.reader
        fired = reader.fired if reader is not None else 0
        if self.before_feed is not None:
            self.before_feed(self, fired)
        self.received += len(data)
        emu = self.emulator
        emu.feed(data)
        reply = emu.take_output()      # answers to DA / cursor position queries
        if reply:
            self.send(reply)
        self.output_arrived(fired > 0)

    def send(self, data: bytes) -> None:
        """Bytes for the container's terminal, in order: written at once when
        nothing is queued before them (a keystroke), else queued. (Whether the
        container runs is asked after the write: ``write_nowait`` writes only
        to a running container, and a keystroke's echo waits for the write.)"""
        container = self.container
        if container is None or not data:
            return
        if self._writes.empty():
            done = container.write_nowait(data)
            if done == len(data):
                return
            data = data[done:]
        if self.running:
            if self.on_backlog is not None:
                self.on_backlog()
            self._writes.put_nowait(data)

    def input_free(self) -> int | None:
        """The PTY master, when a keystroke written to it now comes next, in
        order (nothing queued before it): a relay may write keys itself."""
        c = self.container
        return c.input_free() if c is not None and self._writes.empty() else None

    async def _write_loop(self, c: Container) -> None:
        while True:
            data = await self._writes.get()
            try:
                await c.write(data)
            except AmcrError:
                return

    def fit(self, rows: int, cols: int) -> None:
        """The layout gave us this much room: resize the screen and the PTY."""
        if (rows, cols) == self.size:
            return
        self.size = (rows, cols)
        self.emulator.resize(rows, cols)
        if self.running and self.container is not None:
            try:
                self.container.resize(rows, cols)   # SIGWINCH inside
            except AmcrError:
                pass

    # -- numbers ----------------------------------------------------------------------
    def sample(self) -> None:
        """One stats sample (called about once a second)."""
        if not self.running or self.container is None:
            return
        try:
            s = self.container.stats()
        except AmcrError:
            return
        now = time.monotonic()
        cpu_usec = getattr(s, "cpu_usec", None) or 0
        if self._last_cpu is not None:
            t0, u0 = self._last_cpu
            dt = max(now - t0, 1e-6)
            self.cpu_history.append(max(0.0, (cpu_usec - u0) / 1e6 / dt * 100))
        self._last_cpu = (now, cpu_usec)
        self.memory = getattr(s, "memory_current", None) or 0
        self.pids = getattr(s, "pids_current", None) or 0
        self.stats_source = getattr(s, "source", "")

    @property
    def cpu(self) -> float:
        return self.cpu_history[-1] if self.cpu_history else 0.0

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started if self.running else 0.0
