"""Every attack runs while other containers are alive next to it: neighbours
that an escape or an injection would reach first."""
from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.helpers import Amcr, container_processes

NEIGHBOURS = 3


@pytest.fixture
def neighbours(amcr: Amcr) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Three live containers (with PTYs) in the same store while the test runs."""
    procs = [amcr.popen("run", "-t", "--image", "busybox", "--name", f"neighbour{i}", "--",
                        "sh", "-c", "trap 'exit 0' TERM; echo up; sleep 600 & wait")
             for i in range(NEIGHBOURS)]
    deadline = time.monotonic() + 20
    while len(container_processes(amcr.home)) < NEIGHBOURS and time.monotonic() < deadline:
        time.sleep(0.05)
    yield procs
    for p in procs:
        p.terminate()
    for p in procs:
        out, _ = p.communicate(timeout=20)
        # a neighbour's terminal shows only what it printed itself: nothing injected
        assert out.replace(b"\r", b"") == b"up\n", out


def py(amcr: Amcr, code: str, *opts: str) -> subprocess.CompletedProcess[str]:
    """Python inside a container of the host image."""
    return amcr("run", *opts, "--", "python3", "-c", code)
