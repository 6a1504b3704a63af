"""Fixtures for the async API tests: a Runtime on the busybox image, and leak checks.

Every test that uses ``rt`` must leave nothing behind: no layer directory, no
mount naming the session's AMCR_HOME, no process inside one of its containers.
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

import amcr
from tests.helpers import container_processes, leftover_mounts


def layer_dirs(home: str) -> set[str]:
    path = os.path.join(home, "containers")
    return set(os.listdir(path)) if os.path.isdir(path) else set()


@pytest.fixture
def no_leftovers(amcr_home: str) -> Iterator[str]:
    """Asserts, after the test, that its containers left nothing behind."""
    before = layer_dirs(amcr_home)
    yield amcr_home
    assert container_processes(amcr_home) == [], "container processes left behind"
    assert leftover_mounts(amcr_home) == [], "mounts left behind"
    left = layer_dirs(amcr_home) - before
    assert not left, f"layer directories left behind: {sorted(left)}"


@pytest.fixture
async def rt(no_leftovers: str) -> AsyncIterator[amcr.Runtime]:
    async with amcr.Runtime(max_concurrency=None, image="busybox", grace=0.5) as runtime:
        yield runtime
