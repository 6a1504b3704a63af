"""amcr gc tells live from dead layers by their owner lock, not by PIDs."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from amcr import gc
from amcr.runtime import owner


@pytest.fixture
def home(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = str(tmp_path)
    monkeypatch.setenv("AMCR_HOME", path)
    os.mkdir(os.path.join(path, "containers"))
    yield os.path.join(path, "containers")


def _layer(base: str, name: str, *dirs: str) -> str:
    path = os.path.join(base, name)
    os.mkdir(path)
    for d in dirs:
        os.mkdir(os.path.join(path, d))
    return path


def test_live_dead_kept_young_and_old_layers(home: str) -> None:
    live = _layer(home, "live", "upper", "work", "merged")
    held = owner.claim(live)
    dead = _layer(home, "dead", "upper", "work", "merged")
    os.close(owner.claim(dead))                 # its owner is gone: lock free
    _layer(home, "kept", "upper")               # --keep leaves only upper/, no owner
    _layer(home, "young", "upper", "work", "merged")           # being created right now
    old = _layer(home, "old", "upper", "work", "merged")       # died before locking
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    try:
        assert owner.state(live) == "live" and owner.state(dead) == "dead"
        assert gc.collect(lockless=False, dry_run=True) == [dead]   # a runtime's start
        assert gc.collect(dry_run=True) == [dead, old]              # amcr gc
        assert gc.collect() == [dead, old]
        assert sorted(os.listdir(home)) == ["kept", "live", "young"]
    finally:
        os.close(held)


def test_disown_of_a_kept_layer_removes_the_owner_file(home: str) -> None:
    path = _layer(home, "k", "upper")
    owner.disown(path, owner.claim(path), kept=True)
    assert owner.state(path) == "none"
    assert gc.collect(min_age=0) == []
