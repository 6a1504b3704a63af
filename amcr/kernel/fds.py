"""Writing all of a buffer to a descriptor (the relay, the painter's blocking flush)."""
from __future__ import annotations

import os


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data``, however many writes a (blocking) descriptor takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
