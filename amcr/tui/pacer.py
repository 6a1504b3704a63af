"""When the container terminals are painted: at once after an echo, paced in a flood.

Container output does not go through prompt_toolkit's invalidate/redraw: that
would rebuild the tab bar and status line (about 2 ms at 200 columns) for
every read. A read only asks for a *paint* (:meth:`PaneRenderer.paint_only`:
the changed rows and the cursor). prompt_toolkit still redraws everything when
what it draws changes (a key for the multiplexer, a tab's numbers, a view).

Pacing: a small update (an echo, a prompt: at most :data:`SMALL` bytes) is
painted at once, in the callback that read it, because that is what a
keystroke's latency is made of, unless the last paint was less than an
interval ago (many small reads in a row are a flood too). The row under the
cursor goes out first: that is where an echo appears.
Bigger reads in quick succession (a flood: a PTY read is at most 4 KiB) are
painted at most once per interval, a multiple of a paint's cost and at least
:data:`MIN_INTERVAL`: every paint syncs the emulator and decodes the rows that
moved, and a screen that changes faster than a display shows is read for
nobody. The rest of the loop goes to reading and parsing, so a flood ends
sooner.

A read's echo may even reach the terminal before the read is parsed (the
early echo, echo.py): only when the paint that puts right whatever that wrote
follows in the same callback. The plan for it is armed only when the pacer is
:meth:`FramePacer.idle`, every read drops it, and the reader itself waits for
:attr:`FramePacer.not_before`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from prompt_toolkit.application import Application

    from amcr.tui.paint import PaneRenderer
    from amcr.tui.pane import Pane

SMALL = 256                # bytes since the last paint that are painted at once, always
FACTOR = 4.0               # otherwise paints are this many times their cost apart...
MIN_INTERVAL = 1 / 60      # ...and no closer than a display's frame
MAX_INTERVAL = 0.1         # ...and no further apart than this


class FramePacer:
    def __init__(self, app: Application[int], panes: Callable[[], Sequence[Pane]]) -> None:
        self.app = app
        self.panes = panes
        self._handle: asyncio.Handle | None = None
        self._seen = 0              # bytes received by all panes at the last paint
        self._not_before = 0.0      # loop time before which no big update is painted

    def idle(self) -> bool:
        """No paint is pending and every byte read so far has been painted.

        An early echo is armed only then: the next read alone is then what a
        paint at once must put right."""
        return self._handle is None and sum(p.received for p in self.panes()) == self._seen

    @property
    def not_before(self) -> float:
        """Loop time before which a read is not painted at once (many small
        reads in a row are a flood too): the early echo waits for it."""
        return self._not_before

    def output_arrived(self, echoed: bool = False) -> None:
        """A pane read output: paint soon (one pending paint at a time).
        ``echoed``: its reader wrote part of it early, which only a paint at
        once puts right (the reader checked the interval on its own clock)."""
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = self._not_before - loop.time()
        if echoed or (delay <= 0
                      and sum(p.received for p in self.panes()) - self._seen <= SMALL):
            self._paint(echo=True)  # now, not a loop turn later; the cursor's row first
            return
        self._handle = (loop.call_later(delay, self._paint) if delay > 0
                        else loop.call_soon(self._paint))

    def _paint(self, echo: bool = False) -> None:
        self._handle = None
        if self.app.invalidated:
            return                  # a full redraw is on its way; it paints too
        renderer: PaneRenderer = self.app.renderer      # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        start = loop.time()
        # Counted first: the paint arms the early echo only when all is painted (idle).
        self._seen = sum(p.received for p in self.panes())
        renderer.paint_only(cursor_row_first=echo)
        cost = loop.time() - start
        self._not_before = start + min(MAX_INTERVAL, max(MIN_INTERVAL, FACTOR * cost))
