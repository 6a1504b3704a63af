"""A container's output on the event loop: read in bounded steps, fanned out, backpressured.

A :class:`Source` is one readable descriptor (a PTY master, a stdout or stderr
pipe) registered with ``loop.add_reader``. Each time it is readable it does
*one* read of at most :data:`CHUNK` bytes, so a flooding container gets one
turn per loop iteration like everybody else, and hands the bytes to its sinks:

- a :class:`Subscription` (what ``Container.output()`` returns) queues chunks
  for one reader; when its queue passes its high-water mark it asks the source
  to pause (``remove_reader``) and resumes it once the reader has drained below
  half of it. Memory is bounded by the marks, and the container simply blocks
  on a full pipe, as it would writing to a slow terminal;
- a :class:`Collector` (what ``Runtime.run`` uses) keeps at most ``limit``
  bytes and discards the rest, never pausing, so a capped run drains whatever
  the container writes without holding it.

With no sinks at all a source keeps reading and discards: an unobserved
container never blocks on its output.
"""
from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable

from amcr.errors import AmcrError

CHUNK = 65536                 # one pipe buffer: one read per readiness, per tick
HIGH_WATER = 1 << 20          # queued bytes per subscriber before its sources pause


class Sink:
    """Where a source's bytes go; ``feed`` returns True to ask the source to pause."""

    def feed(self, source: Source, data: bytes) -> bool:
        raise NotImplementedError

    def source_ended(self, source: Source) -> None:
        """No more bytes will come from ``source``."""


class Source:
    """One readable descriptor of a container, read on the loop (the fd is not ours to close)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, name: str) -> None:
        self.loop = loop
        self.fd = fd
        self.name = name                 # "pty", "stdout" or "stderr"
        self.sinks: list[Sink] = []
        self.ended = False
        self.done: asyncio.Future[None] = loop.create_future()
        self._blocked_by: set[Sink] = set()
        self._reading = False
        # What the loop calls when the descriptor is readable: ours, or one
        # that reads the same way and hands each read to ``dispatch`` (the
        # multiplexer's, written in C, see amcr/tui/relay.c).
        self.reader: Callable[[], object] = self._on_readable

    def start(self) -> None:
        os.set_blocking(self.fd, False)
        self._update()

    def add(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def remove(self, sink: Sink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)
        self.unblock(sink)

    def unblock(self, sink: Sink) -> None:
        """``sink`` has room again: read once nobody else is full."""
        self._blocked_by.discard(sink)
        self._update()

    def use_reader(self, reader: Callable[[], object]) -> None:
        """Read with ``reader`` from now on: one read of at most :data:`CHUNK`
        bytes per call, handed to :meth:`dispatch` (b"" at the end)."""
        self.reader = reader
        if self._reading:
            self.loop.add_reader(self.fd, reader)

    def _update(self) -> None:
        want = not self.ended and not self._blocked_by
        if want and not self._reading:
            self.loop.add_reader(self.fd, self.reader)
        elif not want and self._reading:
            self.loop.remove_reader(self.fd)
        self._reading = want

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:       # EIO: every slave side of the PTY is closed, for good
            data = b""
        self.dispatch(data)

    def dispatch(self, data: bytes) -> None:
        """One read to the sinks; b"": the end."""
        if not data:
            self.end()
            return
        for sink in tuple(self.sinks):     # a sink may unsubscribe while fed
            if sink.feed(self, data):
                self._blocked_by.add(sink)
        if self._blocked_by:
            self._update()

    def end(self) -> None:
        """EOF, or the container is being closed: stop reading, tell the sinks."""
        if self.ended:
            return
        self.ended = True
        self._update()
        self._blocked_by.clear()
        for sink in tuple(self.sinks):
            sink.source_ended(self)
        self.sinks.clear()
        if not self.done.done():
            self.done.set_result(None)


class Collector(Sink):
    """Keeps at most ``limit`` bytes (None: all); the rest is counted as truncated."""

    def __init__(self, limit: int | None = None) -> None:
        self.data = bytearray()
        self.limit = limit
        self.truncated = False

    def feed(self, source: Source, data: bytes) -> bool:
        if self.limit is None:
            self.data += data
            return False
        room = self.limit - len(self.data)
        if len(data) > room:
            self.truncated = True
            data = data[:max(room, 0)]
        if data:
            self.data += data
        return False


class Subscription(Sink):
    """One subscriber's view of a container's output: every byte read from now on, in order.

    An async iterator of ``bytes`` chunks; ``async with`` (or :meth:`close`)
    unsubscribes. A subscriber that stops reading without closing holds its
    sources paused, and with them the container's output: close what you do
    not read.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sources: list[Source],
                 high_water: int = HIGH_WATER, *, pending: bool = False) -> None:
        self._loop = loop
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._high = high_water
        self._sources: list[Source] = []
        self._open: set[Source] = set()
        self._paused: set[Source] = set()
        self._waiter: asyncio.Future[None] | None = None
        self._pending = b""           # read_until's leftover, returned first
        self._unattached = pending    # made before its container started: sources come later
        self.closed = False
        if not pending:
            self.attach(sources)

    def attach(self, sources: list[Source]) -> None:
        """Start receiving from ``sources`` (once; an empty list means: nothing will come)."""
        self._unattached = False
        if self.closed:
            return
        self._sources = list(sources)
        self._open = {s for s in sources if not s.ended}
        for source in self._open:
            source.add(self)
        self._wake()

    # -- Sink --------------------------------------------------------------------
    def feed(self, source: Source, data: bytes) -> bool:
        self._chunks.append(data)
        self._size += len(data)
        self._wake()
        if self._size >= self._high:
            self._paused.add(source)
            return True
        return False

    def source_ended(self, source: Source) -> None:
        self._open.discard(source)
        self._paused.discard(source)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- reading -----------------------------------------------------------------
    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        while not self._chunks:
            if self.closed or not (self._open or self._unattached):
                raise StopAsyncIteration
            if self._waiter is not None:
                raise AmcrError("another task is already reading this subscription",
                                hint="subscribe once per reader: call output() again")
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._size -= len(data)
        if self._paused and self._size <= self._high // 2:
            paused, self._paused = self._paused, set()
            for source in paused:
                source.unblock(self)
        return data

    async def read_until(self, pattern: bytes, limit: int = 16 << 20) -> bytes:
        """Everything up to and including ``pattern`` (expect-style); the rest stays queued.

        Raises :class:`asyncio.IncompleteReadError` at the end of the output and
        :class:`asyncio.LimitOverrunError` past ``limit`` bytes without a match.
        """
        buf = bytearray()
        start = 0
        while True:
            at = buf.find(pattern, start)
            if at >= 0:
                end = at + len(pattern)
                self._pending = bytes(buf[end:]) + self._pending
                return bytes(buf[:end])
            if len(buf) > limit:
                self._pending = bytes(buf) + self._pending
                raise asyncio.LimitOverrunError("pattern not found within the limit", len(buf))
            start = max(0, len(buf) - len(pattern) + 1)
            try:
                buf += await self.__anext__()
            except StopAsyncIteration:
                raise asyncio.IncompleteReadError(bytes(buf), None) from None

    async def read_all(self) -> bytes:
        """Everything until the end of the output."""
        return b"".join([chunk async for chunk in self])

    # -- closing -----------------------------------------------------------------
    def close(self) -> None:
        """Unsubscribe: the sources no longer wait for us."""
        if self.closed:
            return
        self.closed = True
        for source in self._sources:
            source.remove(self)
        self._chunks.clear()
        self._size = 0
        self._pending = b""
        self._paused.clear()
        self._wake()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
