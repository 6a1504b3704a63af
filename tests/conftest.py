"""Shared fixtures: the installed ``amcr`` command, a private state dir, leak checks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from tests.helpers import Amcr, container_processes, leftover_mounts


def _amcr_command() -> list[str]:
    local = os.path.join(os.path.dirname(sys.executable), "amcr")
    if os.path.exists(local):
        return [local]
    found = shutil.which("amcr")
    return [found] if found else [sys.executable, "-m", "amcr"]


@pytest.fixture(scope="session")
def amcr_home() -> Iterator[str]:
    """A state dir of our own (images, layers), removed at the end of the session."""
    path = tempfile.mkdtemp(prefix=f"amcr-test-{os.getuid()}-")
    os.chmod(path, 0o755)
    old = os.environ.get("AMCR_HOME")
    os.environ["AMCR_HOME"] = path
    yield path
    if old is None:
        os.environ.pop("AMCR_HOME", None)
    else:
        os.environ["AMCR_HOME"] = old
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def amcr(amcr_home: str) -> Iterator[Amcr]:
    """Runs the installed amcr; after the test, asserts nothing was left behind."""
    tool = Amcr(_amcr_command(), amcr_home)
    containers = os.path.join(amcr_home, "containers")
    before = set(os.listdir(containers)) if os.path.isdir(containers) else set()
    yield tool
    left = (set(os.listdir(containers)) if os.path.isdir(containers) else set()) - before
    for name in left:    # do not let one leak fail every later test
        subprocess.run(["rm", "-rf", os.path.join(containers, name)], check=False)
    assert not left, f"layer directories left behind: {sorted(left)}"
    assert leftover_mounts(amcr_home) == [], "mounts left behind"
    assert container_processes(amcr_home) == [], "container processes left behind"
