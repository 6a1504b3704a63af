"""Output plumbing on the loop, with plain pipes: bounded reads, fan-out, backpressure."""
from __future__ import annotations

import asyncio
import os

import pytest

from amcr.runtime.streams import CHUNK, Collector, Source, Subscription


async def _pump(fd: int, data: bytes) -> None:
    """Write ``data`` to a non-blocking pipe as the loop lets us, then close it."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    try:
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                fut = loop.create_future()
                loop.add_writer(fd, lambda: fut.done() or fut.set_result(None))
                try:
                    await fut
                finally:
                    loop.remove_writer(fd)
    finally:
        os.close(fd)


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(w, False)
    return r, w


async def test_collector_keeps_the_limit_and_drains_the_rest() -> None:
    r, w = _pipe()
    src = Source(asyncio.get_running_loop(), r, "stdout")
    col = Collector(limit=1000)
    src.add(col)
    src.start()
    await asyncio.gather(_pump(w, b"a" * 3_000_000), src.done)
    assert col.data == b"a" * 1000 and col.truncated
    os.close(r)


async def test_unlimited_collector_keeps_everything_in_order() -> None:
    r, w = _pipe()
    src = Source(asyncio.get_running_loop(), r, "stdout")
    col = Collector()
    src.add(col)
    src.start()
    data = os.urandom(1 << 20)
    await asyncio.gather(_pump(w, data), src.done)
    assert bytes(col.data) == data and not col.truncated
    os.close(r)


async def test_a_full_subscriber_pauses_the_source_until_it_drains() -> None:
    loop = asyncio.get_running_loop()
    r, w = _pipe()
    src = Source(loop, r, "stdout")
    sub = Subscription(loop, [src], high_water=256 * 1024)
    src.start()
    data = os.urandom(4 << 20)
    pump = asyncio.create_task(_pump(w, data))
    for _ in range(200):
        await asyncio.sleep(0)
    assert not src._reading, "the source should pause when the subscriber is full"
    assert sub._size <= 256 * 1024 + CHUNK
    assert not pump.done(), "the writer should be blocked on a full pipe"
    got = await sub.read_all()
    await pump
    assert got == data
    os.close(r)


async def test_read_until_finds_a_pattern_split_across_chunks() -> None:
    loop = asyncio.get_running_loop()
    r, w = _pipe()
    src = Source(loop, r, "pty")
    sub = Subscription(loop, [src])
    src.start()
    os.write(w, b"hello wo")
    first = await sub.__anext__()
    assert first == b"hello wo"
    os.write(w, b"rld$ rest")
    sub._pending = first          # as if read_until had been reading all along
    assert await sub.read_until(b"world$") == b"hello world$"
    os.close(w)
    assert await sub.read_all() == b" rest"
    with pytest.raises(asyncio.IncompleteReadError):
        await sub.read_until(b"never")
    os.close(r)


async def test_a_source_without_sinks_keeps_draining() -> None:
    r, w = _pipe()
    src = Source(asyncio.get_running_loop(), r, "stdout")
    src.start()
    await asyncio.gather(_pump(w, b"x" * (2 << 20)), src.done)
    os.close(r)


async def test_closing_a_subscription_releases_the_source() -> None:
    loop = asyncio.get_running_loop()
    r, w = _pipe()
    src = Source(loop, r, "stdout")
    sub = Subscription(loop, [src], high_water=CHUNK)
    src.start()
    pump = asyncio.create_task(_pump(w, b"y" * (1 << 20)))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not src._reading
    sub.close()
    assert src._reading
    await asyncio.gather(pump, src.done)
    assert [c async for c in sub] == []
    os.close(r)
