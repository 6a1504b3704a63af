"""FramePacer: when pane output is painted, and the hand-off from the early echo."""
from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from amcr.tui.pacer import MIN_INTERVAL, SMALL, FramePacer


class Recorder:
    """A renderer that records each paint and the interval the pacer had set then
    (the real one arms the early echo with it, inside the paint)."""

    def __init__(self) -> None:
        self.pacer: FramePacer | None = None
        self.paints: list[tuple[bool, float]] = []

    def paint_only(self, cursor_row_first: bool = False) -> None:
        self.paints.append((cursor_row_first, self.pacer.not_before))
        time.sleep(0.002)                   # a paint takes time


def setup() -> tuple[FramePacer, Recorder, SimpleNamespace, SimpleNamespace]:
    renderer = Recorder()
    app = SimpleNamespace(invalidated=False, renderer=renderer)
    pane = SimpleNamespace(received=0)
    pacer = FramePacer(app, lambda: [pane])         # type: ignore[arg-type]
    renderer.pacer = pacer
    return pacer, renderer, app, pane


def run(coro) -> None:
    asyncio.run(coro)


def test_a_small_read_is_painted_at_once_unless_the_last_paint_was_just_now() -> None:
    async def go() -> None:
        pacer, renderer, _app, pane = setup()
        pane.received += 5
        pacer.output_arrived()
        assert renderer.paints == [(True, renderer.paints[0][1])]
        pane.received += 5                  # again, within the interval: later
        pacer.output_arrived()
        assert len(renderer.paints) == 1
        await asyncio.sleep(MIN_INTERVAL * 2)
        assert len(renderer.paints) == 2 and renderer.paints[1][0] is False
        pane.received += SMALL + 1          # a big read, after the interval: next turn
        await asyncio.sleep(MIN_INTERVAL * 2)
        pacer.output_arrived()
        assert len(renderer.paints) == 2
        await asyncio.sleep(0)
        assert len(renderer.paints) == 3
    run(go())


def test_the_interval_a_paint_arms_with_is_the_one_the_pacer_keeps() -> None:
    """The early echo is armed inside the paint, with ``not_before``: it must
    be the interval that follows this paint, not the one before."""
    async def go() -> None:
        pacer, renderer, _app, pane = setup()
        for _ in range(3):
            pane.received += 1
            pacer.output_arrived(echoed=True)
            assert renderer.paints[-1][1] == pacer.not_before > time.monotonic()
    run(go())


def test_an_early_echo_is_painted_at_once_whatever_is_pending() -> None:
    """What was written early is put right by this paint only: not after the
    interval, not by a redraw that would draw from the wrong cursor."""
    async def go() -> None:
        pacer, renderer, app, pane = setup()
        pane.received += 1
        pacer.output_arrived()
        pane.received += 1000               # a paint is pending for later now
        pacer.output_arrived()
        app.invalidated = True              # and a redraw is on its way
        pane.received += 1
        pacer.output_arrived(echoed=True)
        assert len(renderer.paints) == 2 and renderer.paints[1][0] is True
        await asyncio.sleep(MIN_INTERVAL * 2)
        assert len(renderer.paints) == 2    # the pending one was this one
    run(go())
