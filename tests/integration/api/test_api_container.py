"""``Runtime.start`` -> Container: live output to many subscribers, a terminal, verbs, states."""
from __future__ import annotations

import asyncio
import signal

import pytest

import amcr
from tests.helpers import container_processes

LINES = 20000    # ~200 KB: several pipe buffers, and past a slow reader's high-water mark


def numbered(n: int) -> bytes:
    return b"".join(b"%d\n" % i for i in range(n))


async def test_expect_style_shell_on_a_terminal(rt: amcr.Runtime) -> None:
    # the host image's dash: no line editor asking the terminal questions (see docs/api.md)
    async with await rt.start(["sh"], tty=True, name="box", winsize=(24, 80),
                              image="host") as shell:
        assert shell.state is amcr.State.RUNNING and shell.tty
        out = shell.output()
        await out.read_until(b"# ")
        await shell.write(b"hostname; tty\n")
        assert await out.read_until(b"# ") == b"hostname; tty\r\nbox\r\n/dev/pts/0\r\n# "
        shell.resize(40, 120)
        await shell.write(b"stty size\n")
        assert await out.read_until(b"# ") == b"stty size\r\n40 120\r\n# "
        await shell.write(b"exit 5\n")
        assert await shell.wait() == 5
        assert shell.state is amcr.State.EXITED


async def test_every_subscriber_gets_every_byte_in_order(rt: amcr.Runtime) -> None:
    c = rt.create(["sh", "-c", f"sleep 0.2; seq 0 {LINES - 1}"], stdin=False)
    assert c.state is amcr.State.CREATED
    fast, slow = c.output(), c.output()      # subscribed before start: from the first byte

    async def read_slowly() -> bytes:
        chunks = []
        async for chunk in slow:
            chunks.append(chunk)
            await asyncio.sleep(0.001)      # behind the fast one: its queue fills, reads pause
        return b"".join(chunks)

    async with c:
        await c.start()
        late = c.output()                    # from subscription time on: a suffix of the stream
        got_fast, got_slow, got_late = await asyncio.gather(fast.read_all(), read_slowly(),
                                                           late.read_all())
        assert await c.wait() == 0
    assert got_fast == got_slow == numbered(LINES)
    assert numbered(LINES).endswith(got_late)


async def test_a_reader_that_falls_behind_pauses_the_container_not_the_memory(
        rt: amcr.Runtime) -> None:
    async with await rt.start(["sh", "-c", "head -c 50000000 /dev/zero; echo end"],
                              stdin=False) as c:
        sub = c.output("stdout")
        await asyncio.sleep(0.5)                 # nobody reads: the container must block
        assert c.state is amcr.State.RUNNING
        assert sub._size <= (1 << 20) + 65536    # the high-water mark plus one read
        total = 0
        async for chunk in sub:
            total += len(chunk)
        assert total == 50000000 + 4
        assert await c.wait() == 0


async def test_stdout_and_stderr_stay_apart(rt: amcr.Runtime) -> None:
    c = rt.create(["sh", "-c", "echo out; echo err >&2"], stdin=False)
    out, err, both = c.output("stdout"), c.output("stderr"), c.output()
    async with c:
        await c.start()
        assert await out.read_all() == b"out\n"
        assert await err.read_all() == b"err\n"
        assert sorted((await both.read_all()).splitlines()) == [b"err", b"out"]


async def test_write_to_stdin_pipe_and_close_it(rt: amcr.Runtime) -> None:
    async with await rt.start(["sh", "-c", "read a; echo got:$a; cat"]) as c:
        out = c.output()
        await c.write(b"one\n")
        assert await out.read_until(b"got:one\n") == b"got:one\n"
        await c.write(b"rest")
        await c.close_stdin()
        assert await out.read_all() == b"rest"
        assert await c.wait() == 0


async def test_signal_reaches_a_pid_1_that_handles_it(rt: amcr.Runtime) -> None:
    async with await rt.start(["sh", "-c", "trap 'exit 9' USR1; echo ready; "
                                           "while :; do sleep 0.05; done"], stdin=False) as c:
        await c.output().read_until(b"ready")
        c.signal(signal.SIGUSR1)
        assert await c.wait() == 9


async def test_stats_come_from_the_cgroup_or_the_process_tree(rt: amcr.Runtime) -> None:
    """A cgroup when this host gives one (root here), else the process tree."""
    async with await rt.start(["sh", "-c", "sleep 100 & sleep 100 & wait"], stdin=False) as c:
        for _ in range(100):
            s = c.stats()
            if s.pids_current == 3:
                break
            await asyncio.sleep(0.02)
        assert s.source in ("process tree", "cgroup v1", "cgroup v2")
        assert s.pids_current == 3 and s.memory_current > 0 and s.cpu_usec >= 0


async def test_verbs_on_an_exited_container_raise_state_error(rt: amcr.Runtime) -> None:
    c = await rt.start(["sh", "-c", "exit 2"], tty=True)
    assert await c.wait() == 2
    with pytest.raises(amcr.StateError, match="exited"):
        await c.write(b"x")
    with pytest.raises(amcr.StateError, match="exited"):
        await c.close_stdin()
    for verb in (c.kill, lambda: c.signal(signal.SIGTERM), lambda: c.resize(10, 10), c.stats):
        with pytest.raises(amcr.StateError, match="exited"):
            verb()
    with pytest.raises(amcr.StateError, match="not created"):
        await c.start()
    assert await c.wait() == 2          # waiting again is fine
    await c.close()


async def test_verbs_on_a_created_container_raise_state_error(rt: amcr.Runtime) -> None:
    c = rt.create(["true"])
    with pytest.raises(amcr.StateError, match="created"):
        await c.write(b"x")
    with pytest.raises(amcr.StateError):
        await c.wait()
    await c.close()


async def test_async_with_kills_and_cleans_up(rt: amcr.Runtime, amcr_home: str) -> None:
    async with await rt.start(["sleep", "100"], name="sleeper") as c:
        assert container_processes(amcr_home)
        assert rt.get("sleeper") is c
    assert c.state is amcr.State.EXITED and c.exit_code == 137
    assert container_processes(amcr_home) == []
    assert rt.get("sleeper") is None


async def test_runtime_close_kills_what_is_still_running(no_leftovers: str) -> None:
    async with amcr.Runtime(image="busybox") as rt:
        for i in range(3):
            await rt.start(["sleep", "100"], name=f"s{i}")
        assert len(rt.containers) == 3
    assert rt.containers == []


async def test_names_are_unique_in_a_runtime(rt: amcr.Runtime) -> None:
    async with await rt.start(["sleep", "100"], name="same"):
        with pytest.raises(amcr.SpecError, match="already exists"):
            await rt.start(["true"], name="same")


async def test_write_nowait_writes_what_fits_now_and_nothing_after_exit(rt: amcr.Runtime) -> None:
    async with await rt.start(["sh"], tty=True, image="host") as shell:
        out = shell.output()
        await out.read_until(b"# ")
        assert shell.write_nowait(b"echo h''i\n") == 10
        assert (await out.read_until(b"# ")).endswith(b"hi\r\n# ")
        shell.write_nowait(b"exit 3\n")
        assert await shell.wait() == 3
        assert shell.write_nowait(b"x") == 0
