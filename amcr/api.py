"""The scripted async API in one place: what ``import amcr`` re-exports lazily.

    import asyncio, amcr

    async def main():
        r = await amcr.run(["sh", "-c", "echo hi"], image="busybox", timeout=5)
        print(r.exit_code, r.stdout)                   # 0 b'hi\\n'

    amcr.runtime.loop.run(main())                      # uvloop when installed

Importing this module imports asyncio; ``amcr run`` (the CLI) never does.
See docs/api.md.
"""
from __future__ import annotations

from amcr.runtime.container import Container, State
from amcr.runtime.result import CompletedRun, RunError
from amcr.runtime.runtime import Runtime, run
from amcr.runtime.stats import ContainerStats
from amcr.runtime.streams import Subscription

__all__ = ["CompletedRun", "Container", "ContainerStats", "Runtime", "RunError", "State",
           "Subscription", "run"]
