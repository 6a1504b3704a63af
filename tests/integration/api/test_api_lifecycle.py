"""The runtime process's life: death by SIGKILL, garbage collection, one spawn path."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

import amcr
from amcr.runtime import foreground, spawn
from amcr.spec import ContainerSpec
from tests.helpers import Amcr, container_processes
from tests.integration.api.conftest import layer_dirs

RUNTIME_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    import amcr

    async def main():
        rt = amcr.Runtime(image="busybox")
        for i in range(10):
            await rt.start(["sleep", "1000"], stdin=False)
        print("ready", flush=True)
        await asyncio.sleep(1000)

    asyncio.run(main())
""")


def test_sigkill_of_the_runtime_takes_its_containers_and_the_next_runtime_their_layers(
        no_leftovers: str, amcr_home: str) -> None:
    before = layer_dirs(amcr_home)
    proc = subprocess.Popen([sys.executable, "-c", RUNTIME_SCRIPT], stdout=subprocess.PIPE,
                            env={**os.environ, "AMCR_HOME": amcr_home})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        assert len(container_processes(amcr_home)) >= 10
        proc.kill()
        proc.wait()
        time.sleep(1)
        assert container_processes(amcr_home) == [], "containers outlived their runtime"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    dead = layer_dirs(amcr_home) - before
    assert len(dead) == 10                   # what a dying runtime cannot clean up ...
    next_runtime = "import asyncio, amcr; asyncio.run(amcr.Runtime().__aenter__())"
    subprocess.run([sys.executable, "-c", next_runtime], check=True,
                   env={**os.environ, "AMCR_HOME": amcr_home})
    assert layer_dirs(amcr_home) == before   # ... the next runtime's start does


def test_amcr_gc_removes_dead_layers_and_keeps_live_ones(amcr: Amcr, amcr_home: str) -> None:
    from amcr.runtime import owner
    base = os.path.join(amcr_home, "containers")
    os.makedirs(base, exist_ok=True)
    dead, live = os.path.join(base, "deadbeef0001"), os.path.join(base, "deadbeef0002")
    for path in (dead, live):
        os.makedirs(os.path.join(path, "work"))
    os.close(owner.claim(dead))              # its owner is gone
    held = owner.claim(live)                 # ours, held: alive
    try:
        out = amcr("gc")
        assert out.returncode == 0, out.stderr
        assert f"removed {dead}" in out.stdout and "removed 1 layer(s)" in out.stdout
        assert not os.path.exists(dead) and os.path.isdir(live)
    finally:
        os.close(held)
        subprocess.run(["rm", "-rf", live], check=False)


async def test_gc_leaves_live_and_kept_layers_alone(rt: amcr.Runtime, amcr_home: str) -> None:
    from amcr import gc
    kept = await rt.run(["sh", "-c", "echo x > /kept"], keep=True)
    kept_dir = os.path.join(amcr_home, "containers", kept.id)
    try:
        async with await rt.start(["sleep", "100"]) as live:
            assert gc.collect(min_age=0) == []
            assert os.path.isdir(os.path.join(amcr_home, "containers", live.id))
        assert os.path.isfile(os.path.join(kept_dir, "upper", "kept"))
    finally:
        subprocess.run(["rm", "-rf", kept_dir], check=False)


async def test_no_helper_process_per_container(rt: amcr.Runtime) -> None:
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    shells = [await rt.start(["sh"], tty=True) for _ in range(5)]
    try:
        children = [p for p in me.children() if p.pid not in before]
        assert sorted(p.pid for p in children) == sorted(c.pid for c in shells)
        assert all(p.name() == "sh" for p in children)     # PID 1 itself, no python
    finally:
        for c in shells:
            await c.close()


def test_amcr_run_and_the_runtime_drive_the_same_protocol(
        monkeypatch: pytest.MonkeyPatch, amcr_home: str, capfd: pytest.CaptureFixture) -> None:
    """One way to start a container: both paths go through spawn.protocol."""
    calls: list[str] = []
    real = spawn.protocol

    def counting(cfg, *args):  # type: ignore[no-untyped-def]
        calls.append(cfg.argv[0])
        return real(cfg, *args)

    monkeypatch.setattr(spawn, "protocol", counting)
    result = foreground.run_foreground(ContainerSpec(argv=("true",), image="busybox"),
                                       interactive=False)
    assert result.exit_code == 0
    import asyncio

    async def via_runtime() -> int:
        async with amcr.Runtime(image="busybox") as rt:
            return (await rt.run(["echo", "x"])).exit_code

    assert asyncio.run(via_runtime()) == 0
    assert calls == ["true", "echo"]
    capfd.readouterr()


def test_amcr_gc_dry_run_lists_without_removing(amcr: Amcr) -> None:
    out = amcr("gc", "--dry-run")
    assert out.returncode == 0 and "would remove" in out.stdout



async def test_the_spawner_clones_our_children_and_a_dead_one_is_replaced(
        no_leftovers: str) -> None:
    """The runtime never forks: its spawner clones PID 1 as the runtime's own child
    (CLONE_PARENT). A spawner that died is started again by the next Runtime."""
    import asyncio

    from amcr.runtime import zygote
    async with amcr.Runtime(image="busybox") as rt:
        c = await rt.start(["sleep", "100"], stdin=False)
        try:
            spawner = zygote._zygote
            assert spawner is not None and spawner.alive()
            assert psutil.Process(c.pid).ppid() == os.getpid()
            assert psutil.Process(spawner.pid).ppid() == os.getpid()
            assert "amcr.init.zygote" in " ".join(psutil.Process(spawner.pid).cmdline())
        finally:
            await c.close()
    os.kill(spawner.pid, 9)
    deadline = time.monotonic() + 5
    while spawner.alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert not spawner.alive()
    async with amcr.Runtime(image="busybox") as rt:
        assert (await rt.run(["true"])).exit_code == 0
        assert zygote._zygote is not None and zygote._zygote.pid != spawner.pid
