"""The scripted async API: many containers on one event loop.

    async with amcr.Runtime(max_concurrency=32, image="busybox") as rt:
        result = await rt.run(["sh", "-c", "echo hi"], timeout=5)
        async with await rt.start(["sh"], tty=True) as shell:
            ...

A :class:`Runtime` owns the containers it starts: leaving ``async with`` (or
:meth:`Runtime.close`) kills and cleans up whatever still runs. If the
process dies instead, even by SIGKILL, the containers die with it (their PID 1
has PR_SET_PDEATHSIG=SIGKILL pointing at this process, their parent),
and the layers they leave on disk are collected by the next Runtime (or
``amcr gc``): each layer is flock'ed by its owner while alive.
"""
from __future__ import annotations

import asyncio
import resource
from collections.abc import Sequence
from typing import Any

from amcr import gc
from amcr.errors import SpecError
from amcr.runtime import sharedns, stats, zygote
from amcr.runtime.container import Container, State
from amcr.runtime.options import build_spec
from amcr.runtime.prepare import _mapping
from amcr.runtime.result import CompletedRun, RunError
from amcr.runtime.streams import Collector

DEFAULT_GRACE = 2.0        # seconds between SIGTERM and SIGKILL (timeout, cancellation)
DEFAULT_CONCURRENCY = 64   # containers alive at once; each is a few processes and fds


class Runtime:
    """Starts containers on the running event loop and cleans up after them.

    ``max_concurrency`` bounds the containers alive at once (``run`` and
    ``start`` alike wait for a free slot; None: no bound). Other keyword
    arguments are defaults for every container's options (``image="busybox"``).
    """

    def __init__(self, max_concurrency: int | None = DEFAULT_CONCURRENCY, *,
                 grace: float = DEFAULT_GRACE, collect_garbage: bool = True,
                 **defaults: Any) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise SpecError("max_concurrency must be at least 1 (or None for no bound)")
        self.max_concurrency = max_concurrency
        self.grace = grace
        self.defaults = defaults
        self._gc = collect_garbage
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._live: set[Container] = set()
        self._holding: set[Container] = set()     # containers that hold a slot
        self._names: dict[str, Container] = {}
        self._closed = False
        self._userns: sharedns.SharedUserns | None = None
        self._zygote: zygote.Zygote | None = None

    # -- lifetime -----------------------------------------------------------------
    async def __aenter__(self) -> Runtime:
        self._ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ready(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise SpecError("this runtime is closed", hint="make a new amcr.Runtime()")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            if self.max_concurrency is not None:
                self._slots = asyncio.Semaphore(self.max_concurrency)
            _raise_nofile_limit()
            if self._gc:
                gc.collect_once()
            self._userns = sharedns.get(_mapping())
            self._zygote = zygote.get(_nofile or resource.getrlimit(resource.RLIMIT_NOFILE),
                                      self._userns.fd if self._userns else None)
        return self._loop

    async def close(self) -> None:
        """Kill every container still running, reap it, remove its layer."""
        self._closed = True
        live = list(self._live)
        try:
            await asyncio.gather(*(c.close() for c in live))
        finally:
            for c in live:
                c.close_now()

    @property
    def containers(self) -> list[Container]:
        """The containers started here that are not closed yet."""
        return list(self._live)

    def get(self, name: str) -> Container | None:
        return self._names.get(name)

    # -- containers ------------------------------------------------------------------
    def create(self, argv: Sequence[str], *, tty: bool = False, stdin: bool = True,
               name: str | None = None, **options: Any) -> Container:
        """A container in the ``created`` state (not started; subscribe, then ``start``)."""
        loop = self._ready()
        spec = build_spec(argv, {**self.defaults, **options, "tty": tty, "name": name})
        if spec.name is not None and spec.name in self._names:
            raise SpecError(f"a container named {spec.name!r} already exists in this runtime",
                            hint="pick another name, or close the other one first")
        assert self._zygote is not None
        c = Container(loop, spec, stdin=stdin, grace=self.grace, zygote=self._zygote,
                      userns=self._userns, before_start=self._acquire,
                      on_exit=self._release_slot, on_close=self._forget)
        self._live.add(c)
        if spec.name is not None:
            self._names[spec.name] = c
        return c

    async def start(self, argv: Sequence[str], *, tty: bool = False, stdin: bool = True,
                    name: str | None = None, **options: Any) -> Container:
        """Start a container and return it running (use it with ``async with``)."""
        c = self.create(argv, tty=tty, stdin=stdin, name=name, **options)
        try:
            await c.start()
        except BaseException:
            c.close_now()
            raise
        return c

    async def run(self, argv: Sequence[str], *, input: bytes | None = None,
                  timeout: float | None = None, output_limit: int | None = None,
                  check: bool = False, grace: float | None = None,
                  **options: Any) -> CompletedRun:
        """Run a command to completion and collect its output (no terminal).

        ``timeout``: seconds from the start; then SIGTERM, ``grace`` seconds,
        SIGKILL, and ``timed_out``. ``output_limit``: bytes kept per stream;
        the rest is read and dropped (``truncated``). Cancelling the awaiting
        task terminates the container the same way and cleans up.
        """
        if output_limit is not None and output_limit < 0:
            raise SpecError("output_limit must be >= 0 bytes")
        grace = self.grace if grace is None else grace
        c = self.create(argv, stdin=input is not None, **options)
        out, err = Collector(output_limit), Collector(output_limit)
        loop = self._ready()
        timer = None
        feeder = None
        try:
            await c.start({"stdout": [out], "stderr": [err], "pty": [out]})
            if input is not None:
                feeder = loop.create_task(_feed(c, input))
            if timeout is not None:
                assert c.started_at is not None
                timer = loop.call_at(c.started_at + timeout, _time_out, c, grace)
            await c.wait()
            await c.output_done()
        except BaseException as exc:
            await _stop_despite_cancel(c, grace, exc)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if feeder is not None and not feeder.done():
                feeder.cancel()
            c.close_now()
        result = CompletedRun(
            argv=c.spec.argv, exit_code=c.exit_code if c.exit_code is not None else -1,
            stdout=bytes(out.data), stderr=bytes(err.data),
            duration=(c.exited_at or loop.time()) - (c.started_at or loop.time()),
            timed_out=c.timed_out, oom_killed=stats.oom_killed(c),
            truncated=out.truncated or err.truncated, id=c.id)
        if check and not result.ok:
            raise RunError(result)
        return result

    # -- slots -------------------------------------------------------------------------
    async def _acquire(self, c: Container) -> None:
        if self._slots is not None:
            await self._slots.acquire()
            self._holding.add(c)

    def _release_slot(self, c: Container) -> None:
        """PID 1 is gone: its slot is free, even if its output is still being read."""
        if c in self._holding and self._slots is not None:
            self._holding.discard(c)
            self._slots.release()

    def _forget(self, c: Container) -> None:
        self._live.discard(c)
        if c.name is not None and self._names.get(c.name) is c:
            del self._names[c.name]


async def _feed(c: Container, data: bytes) -> None:
    """``input=``: write it all, then end of file; a container that stops reading is fine."""
    try:
        await c.write(data)
        await c.close_stdin()
    except Exception:   # noqa: BLE001 - it exited or closed stdin: its choice, not an error
        pass


def _time_out(c: Container, grace: float) -> None:
    if c.state is State.RUNNING:
        c.timed_out = True
        c.stop_soon(grace)


async def _stop_despite_cancel(c: Container, grace: float, exc: BaseException) -> None:
    """The awaiting task was cancelled (or failed): terminate the container, with grace.

    A second cancellation, or a coroutine being closed, ends the wait and the
    caller's ``close_now`` kills and reaps synchronously.
    """
    if c.state is not State.RUNNING or isinstance(exc, GeneratorExit):
        return
    try:
        await c.terminate(grace)
    except BaseException:  # noqa: BLE001 - the original exception is what propagates
        pass


_nofile: tuple[int, int] | None = None


def _raise_nofile_limit() -> None:
    """Each live container costs the runtime a few descriptors; 1024 is too few.

    Raised to the hard limit, as Go and systemd do for processes that use
    epoll rather than select; containers get the original limit back.
    """
    global _nofile
    if _nofile is None:
        _nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        soft, hard = _nofile
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft != resource.RLIM_INFINITY and soft < hard:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, _nofile[1]))
            except (ValueError, OSError):
                pass


async def run(argv: Sequence[str], **kwargs: Any) -> CompletedRun:
    """``amcr.run``: one command in a fresh container, with a runtime of its own."""
    async with Runtime(max_concurrency=None) as rt:
        return await rt.run(argv, **kwargs)

