"""The same runtime on uvloop, the loop amcr uses when it owns one (fd reuse, pidfds, PTYs).

These tests run their own loop through ``amcr.runtime.loop.run``, as a CLI or
the TUI does, rather than pytest-asyncio's.
"""
from __future__ import annotations

import asyncio

import pytest

import amcr
from amcr.runtime.loop import is_uvloop, run
from tests.helpers import container_processes

pytest.importorskip("uvloop")


def test_concurrent_runs_on_uvloop(no_leftovers: str) -> None:
    async def main() -> list[amcr.CompletedRun]:
        assert is_uvloop(asyncio.get_running_loop())
        async with amcr.Runtime(image="busybox") as rt:
            return await asyncio.gather(*(rt.run(["sh", "-c", f"seq {i} 2000"])
                                          for i in range(40)))

    for i, r in enumerate(run(main())):
        assert r.stdout == b"".join(b"%d\n" % n for n in range(i, 2001))


def test_terminal_and_cancellation_on_uvloop(no_leftovers: str) -> None:
    async def main() -> None:
        async with amcr.Runtime(image="busybox", grace=0.3) as rt:
            async with await rt.start(["sh"], tty=True, name="u", image="host") as shell:
                out = shell.output()
                await out.read_until(b"# ")
                await shell.write(b"echo $((40+2))\n")
                await out.read_until(b"42\r\n")
            task = asyncio.create_task(rt.run(["sleep", "100"]))
            while not container_processes(no_leftovers):
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert container_processes(no_leftovers) == []

    run(main())


def test_descriptor_numbers_are_reused_safely_on_uvloop(no_leftovers: str) -> None:
    """Many short containers in a row: closed fds come back with new owners."""
    async def main() -> None:
        async with amcr.Runtime(image="busybox") as rt:
            for _ in range(3):
                rs = await asyncio.gather(*(rt.run(["echo", str(i)], input=b"")
                                            for i in range(30)))
                assert [r.stdout for r in rs] == [b"%d\n" % i for i in range(30)]

    run(main())
