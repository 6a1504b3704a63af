"""The event loop amcr uses when it owns the loop (CLI, TUI, scripts via ``amcr.runtime.loop.run``).

uvloop when it is installed: its reader callbacks and timers cost a fraction
of the pure-Python selector loop's, and a runtime with many chatty PTYs spends
its time exactly there. As a library amcr runs on whatever loop the caller
has; nothing in the runtime depends on uvloop.
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop if uvloop is importable, else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Like :func:`asyncio.run`, on :func:`new_event_loop`."""
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


def is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")
