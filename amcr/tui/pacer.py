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
import time
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
        self._not_before = 0.0      # time.monotonic() before which no big update is painted
        self._cost = 0.0            # what the last paint took

    def idle(self) -> bool:
        """No paint is pending and every byte read so far has been painted.

        An early echo is armed only then: the next read alone is then what a
        paint at once must put right."""
        return self._handle is None and sum(p.received for p in self.panes()) == self._seen

    @property
    def not_before(self) -> float:
        """``time.monotonic()`` before which a read is not painted at once
        (many small reads in a row are a flood too): the early echo waits for
        it. (Not the loop's time: uvloop's is cached per loop turn, in ms.)"""
        return self._not_before

    def output_arrived(self, echoed: bool = False) -> None:
        """A pane read output: paint soon (one pending paint at a time).

        ``echoed``: its reader wrote part of it to the terminal early, which
        only a paint puts right, so the paint is now, whatever else is
        pending: even a redraw prompt_toolkit has scheduled would otherwise
        draw from where it believes the cursor is (the reader checked the
        interval itself)."""
        if echoed:
            self._paint(echo=True, always=True)
            return
        if self._handle is not None:
            return
        delay = self._not_before - time.monotonic()
        if delay <= 0 and sum(p.received for p in self.panes()) - self._seen <= SMALL:
            self._paint(echo=True)  # now, not a loop turn later; the cursor's row first
            return
        loop = asyncio.get_running_loop()
        self._handle = (loop.call_later(delay, self._paint) if delay > 0
                        else loop.call_soon(self._paint))

    def _paint(self, echo: bool = False, always: bool = False) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.app.invalidated and not always:
            return                  # a full redraw is on its way; it paints too
        renderer: PaneRenderer = self.app.renderer      # type: ignore[assignment]
        start = time.monotonic()
        # Both before the paint, which arms the early echo: only when all is
        # painted (idle), and with this interval, from the last paint's cost.
        self._seen = sum(p.received for p in self.panes())
        self._not_before = start + min(MAX_INTERVAL, max(MIN_INTERVAL, FACTOR * self._cost))
        renderer.paint_only(cursor_row_first=echo)
        self._cost = time.monotonic() - start
