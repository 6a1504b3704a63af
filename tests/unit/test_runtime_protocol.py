"""The sans-IO spawn protocol's drivers, with a scripted protocol (no containers)."""
from __future__ import annotations

import asyncio
import os
from collections.abc import Generator

import pytest

from amcr.runtime import aspawn, spawn
from amcr.runtime.spawn import READ, REAP


def _script(log: list[str]) -> Generator[tuple[int, int], int | None, str]:
    r, w = os.pipe()
    os.write(w, b"x")
    yield READ, r
    log.append("read " + os.read(r, 1).decode())
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    status = yield REAP, pid
    log.append(f"exit {os.waitstatus_to_exitcode(status)}")
    os.close(r)
    os.close(w)
    return "done"


def test_the_blocking_driver() -> None:
    log: list[str] = []
    assert spawn.drive(_script(log)) == "done"
    assert log == ["read x", "exit 7"]


async def test_the_asyncio_driver() -> None:
    log: list[str] = []
    assert await aspawn.drive_async(_script(log), asyncio.get_running_loop()) == "done"
    assert log == ["read x", "exit 7"]


async def test_cancellation_is_thrown_into_the_protocol_which_may_still_wait() -> None:
    """The protocol's clean-up can itself wait (reap a child) before re-raising."""
    log: list[str] = []
    r, w = os.pipe()

    def proto() -> Generator[tuple[int, int], int | None, str]:
        pid = os.fork()
        if pid == 0:
            os.read(r, 1)       # exits when the parent writes
            os._exit(3)
        try:
            yield READ, r       # never readable by itself: we get cancelled here
            return "not reached"
        except BaseException:
            os.write(w, b"q")   # let the child go, and reap it before re-raising
            status = yield REAP, pid
            log.append(f"reaped {os.waitstatus_to_exitcode(status)}")
            raise

    task = asyncio.create_task(aspawn.drive_async(proto(), asyncio.get_running_loop()))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["reaped 3"]
    os.close(r)
    os.close(w)


def test_the_spawn_path_has_no_asyncio() -> None:
    """``amcr run`` imports spawn; spawn must not pull in asyncio (start-up time)."""
    import subprocess
    import sys
    code = ("import sys, amcr.runtime.foreground; "
            "print(sorted(m for m in ('asyncio', 'selectors', 'socket', 'signal', 'typing', "
            "'dataclasses', 're') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = "
                          f"{sys.path!r}; " + code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
