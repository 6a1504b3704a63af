"""The early echo: a typed character on the terminal before its read is parsed.

Why: a keystroke's echo comes back from the container as a read of a byte or
two, and before it reaches the terminal it was fed to libvterm, parsed, the
row under the cursor decoded and turned into escapes. Between a typist's keys
the interpreter goes cold, and that path then takes about 250 µs, where tmux
spends a few tens. Yet for the common echo nothing needs parsing to know what
the terminal will show: a printable character at the cursor, drawn as itself.

So, right after every paint (while what it needs is at hand), the renderer
*arms* the pane's reader (relay.c's ``EchoReader``, the C callback the event
loop calls when the PTY is readable) with an :class:`EchoPlan`, if and only
if printable ASCII written at the pane's cursor next would look on the
terminal exactly as libvterm will draw it:

- the terminal's cursor is where the pane's cursor is shown, visible, and
  nothing was written to the terminal since it was put there;
- ``Emulator.plain_room`` says the text lands plainly: parser in its ground
  state with nothing held back, US-ASCII in GL, no insert mode, no
  left/right margins, the default pen (the terminal's pen is the default
  after every frame and paint, which end in ``SGR 0``), narrow cells;
- the run stops short of the last column of the pane's region (no wrap may
  be left pending), and the row there shows what the emulator has;
- the keys go to this pane alone (no prompt, no broadcast), and every read
  so far has been painted (the pacer is idle).

The plan holds until the next read, and no longer: the renderer drops it
(``disarm``) with every frame, paint and reset, every invalidation (a
redraw is coming) and every read of another pane, and the reader with every
read of its own. What may change between a paint and that read without any
of those, the reader checks when it reads: nothing is waiting in
prompt_toolkit's output buffer, the read is small, and the pacer's interval
since the last paint has passed (it would not be painted at once otherwise).

The next read then *fires* the plan: in C, before any Python runs, the
read's leading run of bytes 0x20-0x7e, no more than the room, goes to the
terminal in one ``write(2)``; ``fired`` says how many. Then the read takes
the usual way: the pacer paints it at once, and the paint repaints that row
whatever libvterm made of the bytes (the painter forgets the row as shown,
so the paint cannot skip it) and puts the cursor back where the program has
it: what the terminal shows after the callback is what it showed without
the early write. Nothing but bytes 0x20-0x7e is ever written early: no
control character or escape sequence of the container's reaches the
terminal this way.
"""
from __future__ import annotations

from typing import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from prompt_toolkit.output import Output

    from amcr.tui._relay import EchoReader
    from amcr.tui.paint import CursorSpot, Painter, Region
    from amcr.tui.pane import Pane


class EchoPlan(NamedTuple):
    """What the next read of ``pane`` may write early, and where it would land."""

    pane: Pane
    reader: EchoReader      # the pane's, which fires it
    region: Region
    row: int                # the pane's row under the cursor
    room: int               # printable characters that land plainly from there
    fd: int                 # the terminal


def plan_echo(painter: Painter, pane: Pane | None, spot: CursorSpot | None,
              output: Output) -> EchoPlan | None:
    """The plan for the next read of ``pane``, or None when an early write
    would not be exact (see the module docstring)."""
    # (Whether anything waits in prompt_toolkit's buffer, which would reach the
    # terminal after the early bytes, the reader checks when it fires.)
    reader = getattr(pane, "reader", None)
    if pane is None or reader is None or spot is None or not spot.visible:
        return None
    region = painter.region_of(pane)
    if region is None:
        return None
    emulator = pane.emulator
    row, col, room = emulator.plain_room()
    room = min(room, region.width - 1 - col)
    if (room <= 0 or row >= region.height or spot.x != region.x + col
            or spot.y != region.y + row or not painter.shows(region, row)):
        return None
    return EchoPlan(pane, reader, region, row, room, output.fileno())
