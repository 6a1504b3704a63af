"""The terminal emulator interface: what the multiplexer needs from a screen model.

Every container's output is parsed all the time, shown or not, so the parser is
the hot path and must be swappable (libvterm through ctypes today; pyte or a
server-side emulator later). The interface is therefore small and shaped by the
renderer's needs:

- ``feed`` takes the bytes exactly as read from the PTY master; it may queue
  them and parse when something is read back, so call it for every read.
- ``line(row)`` returns a whole row as (text, style) runs, cached per row,
  because a renderer draws lines, and one call per cell would cost more than
  the parse itself.
- ``take_dirty()`` says which rows changed since the last render, and
  ``generation`` says whether anything at all changed (cursor, title, modes), so
  redraws can be coalesced and skipped.
- ``take_output()`` hands back what the emulator must answer the program (DA,
  DSR cursor-position reports); the caller writes it to the PTY.
- ``modes`` is what key and mouse encoding need (application cursor keys,
  bracketed paste, mouse tracking); see ``amcr.tui.keys``.

Values are plain, hashable and immutable (NamedTuples, frozen dataclasses,
interned styles), so a renderer can cache on them and compare them cheaply.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple, Optional, Protocol, Union, runtime_checkable

from amcr.errors import AmcrError

#: A colour: ``None`` is the terminal's default, an ``int`` 0-255 a palette index
#: (0-15 the ANSI colours, left indexed so the host terminal's palette applies),
#: a 3-tuple a 24-bit RGB colour.
Color = Optional[Union[int, tuple[int, int, int]]]


@dataclass(frozen=True, slots=True)
class Style:
    """How a cell is drawn. Interned by emulators: equal styles are usually the same object."""

    fg: Color = None
    bg: Color = None
    bold: bool = False
    underline: bool = False
    italic: bool = False
    blink: bool = False
    reverse: bool = False
    strike: bool = False


DEFAULT_STYLE = Style()


class Cell(NamedTuple):
    """One screen cell. A wide character is a cell of width 2 followed by a
    cell of width 0 and empty text (its right half); a blank cell is ``" "``."""

    text: str
    width: int
    style: Style


class Run(NamedTuple):
    """Consecutive cells of one style. ``text`` spans exactly the run's columns
    when drawn: wide characters appear once and take two columns, blanks are
    spaces, so the runs of a line always add up to ``cols`` columns."""

    text: str
    style: Style


class Cursor(NamedTuple):
    row: int
    col: int
    visible: bool
    shape: str          # "block", "underline" or "bar"
    blink: bool


class MouseTracking(enum.Enum):
    """Which mouse events the program asked for (DECSET 9/1000/1002/1003)."""

    OFF = 0
    X10 = 9             # presses only
    NORMAL = 1000       # presses, releases, wheel
    BUTTON = 1002       # ... and motion while a button is held
    ANY = 1003          # ... and all motion


class MouseEncoding(enum.Enum):
    """How mouse reports are encoded (DECSET 1005/1006/1015; default X10 bytes)."""

    X10 = 0
    UTF8 = 1005
    SGR = 1006
    URXVT = 1015


@dataclass(frozen=True, slots=True)
class Modes:
    """Terminal modes that change what the program expects to receive."""

    alt_screen: bool = False
    app_cursor: bool = False          # DECCKM: arrows/Home/End as SS3 instead of CSI
    bracketed_paste: bool = False     # mode 2004
    mouse: MouseTracking = MouseTracking.OFF
    mouse_encoding: MouseEncoding = MouseEncoding.X10
    focus_events: bool = False        # mode 1004

    @property
    def mouse_sgr(self) -> bool:
        return self.mouse_encoding is MouseEncoding.SGR


@runtime_checkable
class Emulator(Protocol):
    """A terminal screen fed with a program's output. Rows and columns are 0-based."""

    @property
    def rows(self) -> int: ...

    @property
    def cols(self) -> int: ...

    def feed(self, data: bytes) -> None:
        """Take output from the program, exactly as read from the PTY. May be
        parsed lazily: anything read back afterwards reflects it."""

    def resize(self, rows: int, cols: int) -> None:
        """Change the screen size (the caller also sets the PTY's window size)."""

    def cell(self, row: int, col: int) -> Cell:
        """One cell; for tests and hit-testing. Render with ``line``."""

    def line(self, row: int) -> tuple[Run, ...]:
        """A whole row as style runs; cached until the row changes."""

    @property
    def cursor(self) -> Cursor: ...

    def plain_room(self) -> tuple[int, int, int]:
        """(row, col, n): printable ASCII (0x20-0x7e) fed next, up to ``n``
        characters, would be drawn at the cursor (row, col) and the columns
        after it exactly as fed, in the default style, one cell each, with
        nothing else on the screen changing and no wrap left pending. ``n`` is
        0 whenever that is not known to hold. For the early echo (echo.py)."""

    @property
    def title(self) -> str:
        """Window title set by OSC 0/2 ("" until the program sets one)."""

    @property
    def modes(self) -> Modes: ...

    @property
    def scrollback_len(self) -> int:
        """How many lines scrolled off the top are kept (bounded)."""

    def scrollback_line(self, index: int) -> tuple[Run, ...]:
        """A kept line: 0 is the oldest, -1 the one just above the screen."""

    def take_dirty(self) -> frozenset[int]:
        """Rows whose content changed since the previous call; clears the set."""

    @property
    def generation(self) -> int:
        """Increases whenever anything visible may have changed (content,
        cursor, title, modes): compare with the last rendered value."""

    @property
    def bells(self) -> int:
        """How many times the program rang the bell so far."""

    def take_output(self) -> bytes:
        """Bytes the emulator must send back to the program; clears them."""

    def close(self) -> None:
        """Free native resources; the emulator is unusable afterwards."""


class EmulatorUnavailable(AmcrError):
    """No terminal emulator backend can be loaded on this host."""


def create_emulator(rows: int = 24, cols: int = 80, *, scrollback: int = 2000) -> Emulator:
    """The default emulator (libvterm). Imported lazily: ``amcr run`` never pays for it."""
    from amcr.tui import _libvterm
    try:
        _libvterm.load()
    except _libvterm.LibVTermMissing as exc:
        raise EmulatorUnavailable(str(exc)) from exc
    from amcr.tui.vterm import VTermEmulator
    return VTermEmulator(rows, cols, scrollback=scrollback)


def screen_text(emulator: Emulator) -> list[str]:
    """The screen as plain strings without trailing blanks: for tests and debugging."""
    return ["".join(run.text for run in emulator.line(row)).rstrip()
            for row in range(emulator.rows)]
