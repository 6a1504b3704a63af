"""Lines scrolled off the top of a screen: bounded, oldest first, decoded lazily.

Why two kinds of entry: libvterm hands over each line that leaves the screen as
raw cells (``sb_pushline``), which are copied as bytes and decoded only if
someone scrolls back. Lines the fast path never drew (a flood passing through,
see fastscroll.py) are kept as the clean source bytes that would have drawn
them, with the screen width of the time; they are drawn on a one-row scratch
screen when asked for, exactly as they would have looked.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from amcr.tui import _cells
from amcr.tui import _libvterm as lv
from amcr.tui.emulator import Run, Style

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.tui.vterm import VTermEmulator

Decoded = tuple[tuple[int, ...], int, Style]


class Scrollback:
    """Entries are raw VTermScreenCell bytes, or (cols, source line)."""

    def __init__(self, limit: int, decode: Callable[[bytes], Decoded], blank: bytes,
                 scratch: Callable[[int], VTermEmulator]) -> None:
        self._entries: deque[bytes | tuple[int, bytes]] = deque(maxlen=limit)
        self._decode = decode          # raw cell -> (code points, width, interned style)
        self._blank = blank            # a default blank cell, to pad lines handed back
        self._new_scratch = scratch
        self._scratch: VTermEmulator | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def limit(self) -> int:
        return self._entries.maxlen or 0

    def push_cells(self, raw: bytes) -> None:
        self._entries.append(raw)

    def push_sources(self, cols: int, lines: Sequence[bytes]) -> None:
        """Clean lines (see fastscroll) drawn from column 0 with the default pen."""
        if self.limit:
            self._entries.extend([(cols, line) for line in lines[-self.limit:]])

    def line(self, index: int) -> tuple[Run, ...]:
        entry = self._entries[index]
        if isinstance(entry, tuple):
            return self._draw(*entry).line(0)
        return _cells.runs_from_cells([self._decode(entry[i:i + lv.CELL_SIZE])
                                       for i in range(0, len(entry), lv.CELL_SIZE)])

    def pop_cells(self, cols: int) -> bytes | None:
        """The newest line as exactly ``cols`` raw cells, for libvterm to put
        back on a screen that grew taller; None when empty."""
        if not self._entries:
            return None
        raw = self._entries.pop()
        if isinstance(raw, tuple):
            scratch = self._draw(*raw)
            raw = b"".join(scratch._raw_cell(0, col) for col in range(scratch.cols))
        raw = raw[:cols * lv.CELL_SIZE]
        if raw[-lv.CELL_SIZE + 24] == 2:     # a wide character cut in half: libvterm would
            raw = raw[:-lv.CELL_SIZE] + self._blank   # write its right half past the row
        return raw + self._blank * (cols - len(raw) // lv.CELL_SIZE)

    def _draw(self, cols: int, line: bytes) -> VTermEmulator:
        if self._scratch is None or self._scratch.cols != cols:
            self._scratch = self._new_scratch(cols)
        self._scratch.feed(b"\x1b[0m\x1b[2K\r" + line)
        return self._scratch
