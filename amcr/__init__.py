"""amcr: rootless Linux containers with an asyncio core and a terminal multiplexer."""
from __future__ import annotations

from amcr.errors import AmcrError, ExecError, ImageError, KernelError, SpecError, StateError
from amcr.spec import ContainerSpec, Mount

__version__ = "0.1.0"

__all__ = ["AmcrError", "ContainerSpec", "ExecError", "ImageError", "KernelError", "Mount",
           "SpecError", "StateError", "__version__"]
