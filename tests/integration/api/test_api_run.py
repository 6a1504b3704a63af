"""``Runtime.run`` / ``amcr.run``: results, concurrency, timeouts, output caps, cancellation."""
from __future__ import annotations

import asyncio
import time

import pytest

import amcr
from tests.helpers import container_processes
from tests.integration.api.conftest import layer_dirs

MiB = 1 << 20


async def test_run_returns_exit_code_and_separate_streams(rt: amcr.Runtime) -> None:
    r = await rt.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.exit_code, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    assert not (r.timed_out or r.truncated or r.oom_killed)
    assert 0 < r.duration < 10


async def test_module_level_run(no_leftovers: str) -> None:
    r = await amcr.run(["sh", "-c", "echo hi; hostname"], image="busybox", hostname="box",
                       env={"A": "1"}, timeout=10)
    assert r.stdout == b"hi\nbox\n"


async def test_options_pass_through_to_the_spec(rt: amcr.Runtime) -> None:
    r = await rt.run(["sh", "-c", 'echo "$A $B"; pwd; touch /x'], env=["A=1", "B=2"],
                     workdir="/tmp", read_only=True)
    assert r.stdout.splitlines() == [b"1 2", b"/tmp"]
    assert r.exit_code != 0 and b"Read-only" in r.stderr
    with pytest.raises(amcr.SpecError, match="unknown container option"):
        await rt.run(["true"], no_such_option=1)


async def test_files_owned_by_other_ids_inside_are_cleaned_up(rt: amcr.Runtime) -> None:
    # rootless with subordinate IDs these are not the user's files on the host: the
    # layer is removed from inside the runtime's user namespace (no_leftovers checks)
    r = await rt.run(["sh", "-c", "mkdir -p /x/y && touch /x/y/f && chown -R 1000:1000 /x "
                                  "&& chmod 700 /x /x/y; echo done"])
    assert r.stdout == b"done\n" or r.exit_code != 0     # single-ID users cannot chown


async def test_input_is_written_then_closed(rt: amcr.Runtime) -> None:
    data = bytes(range(256)) * 4096        # 1 MiB: more than any pipe buffer
    r = await rt.run(["cat"], input=data)
    assert r.exit_code == 0 and r.stdout == data


async def test_200_concurrent_runs_each_get_their_own_megabyte_in_order(
        no_leftovers: str) -> None:
    def pattern(i: int) -> bytes:
        line = f"container {i:03d} line\n".encode()
        return (line * (MiB // len(line) + 1))[:MiB]

    async with amcr.Runtime(max_concurrency=200, image="busybox") as rt:
        results = await asyncio.gather(*(
            rt.run(["sh", "-c", f"yes 'container {i:03d} line' | head -c {MiB}"], timeout=120)
            for i in range(200)))
    for i, r in enumerate(results):
        assert r.exit_code == 0, (i, r.stderr)
        assert r.stdout == pattern(i), f"run {i}: wrong or reordered output"


async def test_timeout_kills_within_the_grace_period(rt: amcr.Runtime) -> None:
    # sleep as PID 1 has no SIGTERM handler, so only the SIGKILL after the grace ends it
    t0 = time.monotonic()
    r = await rt.run(["sleep", "100"], timeout=0.5, grace=0.5)
    elapsed = time.monotonic() - t0
    assert r.timed_out and r.exit_code == 128 + 9
    assert elapsed < 0.5 + 0.5 + 1.5, elapsed


async def test_timeout_sigterm_suffices_for_a_command_that_handles_it(rt: amcr.Runtime) -> None:
    r = await rt.run(["sh", "-c", "trap 'echo bye; exit 7' TERM; echo up; sleep 100 & wait"],
                     timeout=0.5, grace=30)
    assert r.timed_out and r.exit_code == 7
    assert r.stdout == b"up\nbye\n"
    assert r.duration < 5


def _rss(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(field)


async def test_output_limit_truncates_and_memory_stays_flat_in_a_1gb_flood(
        rt: amcr.Runtime) -> None:
    await rt.run(["true"])            # warm up: first-use allocations are not the flood's
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                  # reset VmHWM (peak RSS) to the current RSS
    before = _rss("VmRSS")
    flood = "dd if=/dev/zero bs=65536 count=16384 2>/dev/null; echo done >&2"   # 1 GiB
    r = await rt.run(["sh", "-c", flood], output_limit=MiB, timeout=120)
    peak = _rss("VmHWM")
    assert r.exit_code == 0 and not r.timed_out
    assert r.truncated and r.stdout == b"\0" * MiB and r.stderr == b"done\n"
    assert peak - before < 16 * MiB, f"RSS grew by {(peak - before) / MiB:.1f} MiB"


async def test_cancellation_leaves_no_process_mount_or_layer(rt: amcr.Runtime,
                                                             amcr_home: str) -> None:
    task = asyncio.create_task(rt.run(["sleep", "100"]))
    while not container_processes(amcr_home):
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert container_processes(amcr_home) == []


async def test_cancellation_at_every_step_of_the_start(rt: amcr.Runtime,
                                                       amcr_home: str) -> None:
    """Cancel after 0, 1, 2, ... loop iterations: mid-fork, mid-handshake, mid-run."""
    before = layer_dirs(amcr_home)
    for steps in range(0, 14):
        task = asyncio.create_task(rt.run(["sleep", "100"]))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert container_processes(amcr_home) == [], steps
        assert layer_dirs(amcr_home) == before, steps


async def test_check_true_raises_with_the_result_attached(rt: amcr.Runtime) -> None:
    with pytest.raises(amcr.RunError) as info:
        await rt.run(["sh", "-c", "echo partial; exit 4"], check=True)
    assert isinstance(info.value, amcr.AmcrError)
    assert info.value.result.exit_code == 4
    assert info.value.result.stdout == b"partial\n"
    assert (await rt.run(["true"], check=True)).exit_code == 0


async def test_a_missing_command_raises_exec_error(rt: amcr.Runtime) -> None:
    with pytest.raises(amcr.ExecError) as info:
        await rt.run(["no-such-command"])
    assert info.value.exit_code == 127


async def test_max_concurrency_bounds_live_containers(no_leftovers: str) -> None:
    async with amcr.Runtime(max_concurrency=3, image="busybox") as rt:
        live = peak = 0

        async def one() -> None:
            nonlocal live, peak
            c = await rt.start(["sleep", "0.2"], stdin=False)
            live += 1
            peak = max(peak, live)
            await c.wait()
            live -= 1
            await c.close()

        await asyncio.gather(*(one() for _ in range(9)))
    assert peak == 3
