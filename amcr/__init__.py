"""amcr: rootless Linux containers with an asyncio core and a terminal multiplexer.

Public names are re-exported here explicitly, but loaded on first use (PEP 562):
``amcr run`` imports this package too, and its start-up time is a feature.
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "AmcrError": "amcr.errors", "ExecError": "amcr.errors", "ImageError": "amcr.errors",
    "KernelError": "amcr.errors", "SpecError": "amcr.errors", "StateError": "amcr.errors",
    "ContainerSpec": "amcr.spec", "Mount": "amcr.spec",
    # the async API (imports asyncio: only when used)
    "run": "amcr.api", "Runtime": "amcr.api", "Container": "amcr.api", "State": "amcr.api",
    "CompletedRun": "amcr.api", "RunError": "amcr.api", "ContainerStats": "amcr.api",
    "Subscription": "amcr.api",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.errors import AmcrError, ExecError, ImageError, KernelError, SpecError, StateError
    from amcr.spec import ContainerSpec, Mount
    from amcr.api import (CompletedRun, Container, ContainerStats, Runtime, RunError, State,
                          Subscription, run)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'amcr' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
