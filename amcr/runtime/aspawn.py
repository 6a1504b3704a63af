"""The asyncio driver of the start-up protocol (:func:`amcr.runtime.spawn.protocol`).

The protocol's waits become ``loop.add_reader`` on the socket, the exec-error
pipe, the spawner's reply and the ID-map helpers' stderr, and pidfds for the processes it reaps: the
loop keeps serving other containers while this one sets itself up. The clone
happens in the runtime's spawner (:mod:`amcr.runtime.zygote`): the event
loop's process never forks.

Cancellation is thrown into the protocol, which undoes the half-done start
(kills and reaps its children, closes its descriptors), then re-raises.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Generator

from amcr.init.config import InitConfig
from amcr.runtime import spawn
from amcr.runtime.spawn import READ, REAP, Spawned
from amcr.runtime.zygote import Zygote


async def aspawn(cfg: InitConfig, zygote: Zygote,
                 loop: asyncio.AbstractEventLoop | None = None) -> Spawned:
    """Start the container described by ``cfg``; returns once its command has exec'd.

    PID 1 is cloned by the runtime's spawner (``zygote``), as our child.
    """
    gen = spawn.protocol(cfg, zygote)   # what amcr run's spawn() drives too
    return await drive_async(gen, loop or asyncio.get_running_loop())


async def drive_async(gen: Generator[tuple[int, int], int | None, Spawned],
                      loop: asyncio.AbstractEventLoop) -> Spawned:
    value: int | None = None
    error: BaseException | None = None
    while True:
        try:
            op = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            spawned: Spawned = stop.value
            return spawned
        value, error = None, None
        try:
            value = await perform(op, loop)
        except BaseException as exc:   # noqa: BLE001 - cancelled: the protocol undoes, re-raises
            error = exc


async def perform(op: tuple[int, int], loop: asyncio.AbstractEventLoop) -> int | None:
    kind, arg = op
    if kind == READ:
        await readable(arg, loop)
        return None
    assert kind == REAP
    pid, status = os.waitpid(arg, os.WNOHANG)
    if pid:
        return status
    pidfd = os.pidfd_open(arg)     # readable once the process has exited
    try:
        await readable(pidfd, loop)
    finally:
        os.close(pidfd)
    return os.waitpid(arg, 0)[1]


async def readable(fd: int, loop: asyncio.AbstractEventLoop) -> None:
    """Wait until ``fd`` is readable (or at EOF, or hung up)."""
    fut = loop.create_future()
    loop.add_reader(fd, _wake, fut)
    try:
        await fut
    finally:
        loop.remove_reader(fd)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
