"""The result of resolving an image: what the child mounts, in which order."""
from __future__ import annotations

from amcr._record import Record


class RootfsPlan(Record):
    """Read-only ``lower`` directory plus host directories bound read-only inside."""

    __slots__ = ("image", "lower", "ro_binds")
    _defaults = {"ro_binds": ()}
    image: str                            # the name shown to the user
    lower: str                            # directory holding the image's files
    ro_binds: tuple[tuple[str, str], ...]  # (host path, path inside)
