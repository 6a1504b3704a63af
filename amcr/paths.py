"""Where amcr keeps state: images and per-container writable layers.

Rootless state lives in the user's home (``$XDG_DATA_HOME/amcr``); root's in
``/var/lib/amcr``. ``AMCR_HOME`` overrides both (tests use it).
"""
from __future__ import annotations

import os


def home() -> str:
    env = os.environ.get("AMCR_HOME")
    if env:
        return os.path.abspath(env)   # the spawner and containers resolve it, not just us
    if os.getuid() == 0:
        return "/var/lib/amcr"
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(xdg, "amcr")


def images_dir() -> str:
    return os.path.join(home(), "images")


def containers_dir() -> str:
    return os.path.join(home(), "containers")


def ensure_dir(path: str) -> str:
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path
