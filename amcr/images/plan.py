"""The result of resolving an image: what the child mounts, in which order."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RootfsPlan:
    """Read-only ``lower`` directory plus host directories bound read-only inside."""

    image: str                                   # the name shown to the user
    lower: str                                   # directory holding the image's files
    ro_binds: tuple[tuple[str, str], ...] = ()   # (host path, path inside)
