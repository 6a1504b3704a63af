"""The early echo (amcr/tui/echo.py, fired by relay.c's EchoReader): a pane's
read written to the terminal before it is parsed, when and only when that is exact.

Real emulators, a real prompt_toolkit renderer writing to a pipe, the real C
reader reading each pane's bytes from a pipe; a second emulator stands for the
host terminal and gets every byte the renderer and the reader write.
"""
from __future__ import annotations

import math
import os
import random
from types import SimpleNamespace

import pytest
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import DummyInput
from prompt_toolkit.layout import HSplit, Layout, Window
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.output.vt100 import Vt100_Output

from amcr.tui._relay import EchoReader
from amcr.tui.app import MuxApplication, cursor_spot
from amcr.tui.emulator import DEFAULT_STYLE, create_emulator
from amcr.tui.modes import ModeTracker
from amcr.tui.pacer import SMALL
from amcr.tui.paint import Painter, PaneRenderer, TerminalWindow
from tests.helpers import read_available

ROWS, COLS = 6, 24                  # the pane's; the terminal has a tab bar above it
CONTROLS = set(range(0x20)) | {0x7f} | set(range(0x80, 0xa0))


class FakePane:
    """What the renderer and the painter need from a pane, without a container:
    its output comes through a pipe and the real reader."""

    def __init__(self, on_read=None) -> None:
        self.emulator = create_emulator(ROWS, COLS)
        self.size = (ROWS, COLS)
        self.running = True
        self.received = 0
        self._r, self.w = os.pipe()
        os.set_blocking(self._r, False)
        self.reader = EchoReader(self._r, lambda data: on_read(self, data))

    def fit(self, rows: int, cols: int) -> None:
        if (rows, cols) != self.size:
            self.size = (rows, cols)
            self.emulator.resize(rows, cols)

    def close(self) -> None:
        os.close(self._r)
        os.close(self.w)


class Screen:
    """``amcr up`` in miniature: a tab bar, one pane, the renderer, a host terminal."""

    def __init__(self) -> None:
        self._r, w = os.pipe()
        os.set_blocking(self._r, False)
        self._stdout = open(w, "w")                  # noqa: SIM115 (closed by close())
        output = Vt100_Output(self._stdout, lambda: Size(rows=ROWS + 1, columns=COLS),
                              term="xterm-256color")
        self.pane = FakePane(self._on_read)
        self.painter = Painter()
        self.layout = Layout(HSplit([Window(FormattedTextControl("tabs"), height=1),
                                     TerminalWindow(self.painter, self.pane)]))   # type: ignore
        # 24-bit: colours reach the host as the pane has them (libvterm's RGB black
        # after a DECRC with nothing saved would otherwise be the nearest of 256).
        self.app = MuxApplication(layout=self.layout, output=output, input=DummyInput(),
                                  full_screen=True, color_depth=ColorDepth.DEPTH_24_BIT)
        self.mux = SimpleNamespace(app=self.app, prompt=None, panes=[self.pane],
                                   current=self.pane, painter=self.painter)
        self.renderer = PaneRenderer(self.app, self.painter,   # type: ignore[arg-type]
                                     lambda: cursor_spot(self.mux))  # type: ignore[arg-type]
        self.app.renderer = self.renderer
        self.echo_to: FakePane | None = self.pane
        self.at_once = True
        self.renderer.echo_pane = lambda: self.echo_to               # type: ignore
        self.renderer.echo_not_before = lambda: 0.0 if self.at_once else math.inf
        self.host = create_emulator(ROWS + 1, COLS)
        self.early = b""
        self.frame()

    def close(self) -> None:
        self._stdout.close()
        os.close(self._r)
        self.pane.close()

    def written(self) -> bytes:
        return read_available(self._r)

    def frame(self) -> None:
        """A prompt_toolkit redraw (a tab's numbers changed, say)."""
        self.app._invalidated = False           # as the redraw prompt_toolkit scheduled
        self.renderer.render(self.app, self.layout)
        self.host.feed(self.written())

    def paint(self) -> None:
        self.renderer.paint_only(cursor_row_first=True)
        self.host.feed(self.written())

    def read(self, data: bytes, pane: FakePane | None = None) -> bytes:
        """``pane`` (ours) reads ``data``: what the event loop, the reader,
        Pane.on_output and the pacer do. Returns what was written early, after
        checking what it showed for that moment."""
        pane = pane or self.pane
        if not data:                            # nothing to read: a paint alone
            self.paint()
            return b""
        self.before, self.cursor = screen(self.host), self.host.cursor
        os.write(pane.w, data)
        self.early = b""
        pane.reader()                           # readable: the loop calls the reader
        return self.early

    def _on_read(self, pane: FakePane, data: bytes) -> None:
        """The reader's dispatch: what it wrote early is on the host already."""
        early = self.written()
        assert len(early) == pane.reader.fired
        self.host.feed(early)
        if early:
            # for that moment: the characters at the cursor, nothing else changed
            expect = dict(self.before)
            for i, ch in enumerate(early.decode()):
                expect[self.cursor.row, self.cursor.col + i] = look(ch, DEFAULT_STYLE)
            assert screen(self.host) == expect
        self.early = early
        self.renderer.echo_early(pane, pane.reader.fired)   # type: ignore[arg-type]
        pane.received += len(data)
        pane.emulator.feed(data)
        if pane is self.pane:
            self.paint()

    def assert_shows_the_pane(self) -> None:
        pane = screen(self.pane.emulator)
        host = screen(self.host)
        assert {(r - 1, c): v for (r, c), v in host.items() if r >= 1} == pane
        cursor = self.pane.emulator.cursor
        assert self.host.cursor[:2] == (cursor.row + 1, min(cursor.col, COLS - 1))


def screen(emulator: object) -> dict:
    """Every cell as it looks: its character and style (a blank: what shows of it).
    Rows of ASCII from their runs; others cell by cell (a wide character's runs
    text holds it once for two columns)."""
    out = {}
    emu = emulator
    for r in range(emu.rows):                                   # type: ignore[attr-defined]
        runs = emu.line(r)                                      # type: ignore[attr-defined]
        if all(run.text.isascii() for run in runs):
            col = 0
            for run in runs:
                for ch in run.text:
                    out[r, col] = look(ch, run.style)
                    col += 1
            continue
        for col in range(emu.cols):                             # type: ignore[attr-defined]
            cell = emu.cell(r, col)                             # type: ignore[attr-defined]
            out[r, col] = look(cell.text, cell.style)
    return out


def look(ch: str, style: object) -> tuple:
    """A cell as it looks: a blank shows only its background (and reverse video)."""
    return (ch, style if ch != " " else (style.bg, style.reverse and style.fg))  # type: ignore


@pytest.fixture
def term() -> Screen:
    s = Screen()
    s.read(b"$ ")
    yield s
    s.close()


def test_a_plain_echo_is_written_before_it_is_parsed(term: Screen) -> None:
    assert term.read(b"E") == b"E"
    term.assert_shows_the_pane()
    assert term.read(b"cho hi") == b"cho hi"          # the plan is armed again by the paint
    term.assert_shows_the_pane()
    assert term.read(b"!\x1b[K") == b"!"              # the leading run only
    term.assert_shows_the_pane()


def test_a_frame_arms_it_too(term: Screen) -> None:
    term.frame()
    assert term.read(b"x") == b"x"


@pytest.mark.parametrize("before, read", [
    (b"\x1b[?25l", b"x"),                   # cursor hidden
    (b"\x1b[31m", b"x"),                    # the pen is not the default
    (b"\x1b[4h", b"x"),                     # insert mode
    (b"\x1b(0", b"x"),                      # DEC line drawing in G0
    (b"\x1b)0\x0e", b"x"),                  # ... in G1, shifted in
    (b"\x1b*0\x1bN", b"x"),                 # ... in G2, for one character
    (b"\x1b#6", b"x"),                      # a double-width line
    (b"\x1b[?69h\x1b[1;10s", b"x"),         # left/right margins
    (b"\x1b[1;24H", b"x"),                  # the last column (a wrap would be pending)
    ("\x1b[1;4H日\x1b[1;4H".encode(), b"x"),  # over half of a wide character
    (b"\x1b", b"[1mx"),                     # the read completes a sequence held back
    (b"", b"\r\n"),                         # not printable
    (b"", b"\x1b[31mx"),
    (b"", "éx".encode()),
])
def test_it_is_skipped_where_text_would_not_land_plainly(term: Screen, before: bytes,
                                                         read: bytes) -> None:
    term.read(before)
    assert term.read(read) == b""
    term.assert_shows_the_pane()
    term.read(b"\x1b[0m\x1b[4l\x1b(B\x1b)B\x1b*B\x0f\x1b[?69l\x1b[?25h\x1b[2;1H")
    if before != b"\x1b#6":                 # that one stays unsure until a reset
        assert term.read(b"y") == b"y"      # and back: the same screen echoes early again


def test_it_is_skipped_when_anything_else_happened_since_the_paint(term: Screen) -> None:
    term.echo_to = None                     # another pane is active, a prompt is open...
    term.frame()
    assert term.read(b"a") == b""
    term.echo_to = term.pane
    term.at_once = False                    # the pacer would not paint a read at once yet
    term.frame()
    assert term.read(b"b") == b""
    term.at_once = True
    term.paint()
    term.pane.emulator.feed(b"zz")          # fed outside a read (Pane.start's error line),
    term.app.invalidate()                   # which asks for a redraw
    assert term.read(b"c") == b""
    term.frame()
    term.app.output.write_raw("\x1b[H")     # prompt_toolkit wrote (not flushed yet)
    assert term.read(b"d") == b""
    term.app.output.flush()
    term.host.feed(term.written())
    term.paint()
    term.renderer.reset()                   # prompt_toolkit forgot the screen
    term.host.feed(term.written())          # (and left the alternate screen)
    assert term.read(b"e") == b""
    term.frame()
    assert term.read(b"x" * (SMALL + 1)) == b""     # a read too big to be painted at once
    term.frame()
    assert term.read(b"f") == b"f"
    assert term.read(b"g") == b"g"
    term.assert_shows_the_pane()


def test_not_armed_while_a_redraw_is_on_its_way(term: Screen) -> None:
    """prompt_toolkit draws a resize's frame at once, even with a redraw
    scheduled (the stats tick, a key): that redraw would draw from where it
    believes the cursor is, so nothing may be written early before it."""
    term.app._invalidated = True
    term.renderer.render(term.app, term.layout)
    term.host.feed(term.written())
    assert not term.pane.reader.armed
    assert term.read(b"x") == b""
    term.frame()
    assert term.read(b"y") == b"y"
    term.assert_shows_the_pane()


def test_at_most_eight_and_never_the_last_column_are_written(term: Screen) -> None:
    assert term.read(b"x" * 30) == b"x" * 8
    term.assert_shows_the_pane()
    term.read(b"\x1b[1;18H")
    assert term.read(b"y" * 30) == b"y" * (COLS - 1 - 17)
    term.assert_shows_the_pane()


def test_a_one_column_region_has_no_room() -> None:
    """libvterm keeps two columns where the layout gives one: the one column
    is the region's last, and nothing is written early there."""
    from amcr.tui.echo import plan_echo
    from amcr.tui.paint import CursorSpot, Region
    pane, painter = FakePane(), Painter()
    pane.fit(ROWS, 1)
    painter.regions = [Region(pane, 3, 1, 1, ROWS)]                  # type: ignore[arg-type]
    painter.paint()
    output = SimpleNamespace(_buffer=[], fileno=lambda: 1)
    assert plan_echo(painter, pane, CursorSpot(3, 1, True), output) is None   # type: ignore
    pane.fit(ROWS, 3)
    painter.regions = [Region(pane, 3, 1, 3, ROWS)]                  # type: ignore[arg-type]
    painter.paint()
    plan = plan_echo(painter, pane, CursorSpot(3, 1, True), output)  # type: ignore
    assert plan is not None and plan.room == 2


def test_a_read_from_a_pane_that_is_not_the_echo_pane_is_not_written(term: Screen) -> None:
    other = FakePane(term._on_read)
    try:
        assert term.read(b"x", other) == b""
        assert not term.pane.reader.armed   # and the read made the plan stale
        assert term.read(b"y") == b""
    finally:
        other.close()


# No wide characters: a narrow one written over half of one leaves libvterm's
# cell two columns wide, which the painter cannot reproduce (with or without the
# early echo); the early echo's refusal there is tested above.
PIECES = [b"\x1b[J", b"\x1b[K", b"\x1b[2K", b"\x1b[44m", b"\x1b[0m", b"\x1b[1;31m", b"\r\n",
          b"\x08", b"\x7f", b"\x07", b"$ ", b"word", b"x", b"ab", b"\x1b[H", b"\x1b[6;20H",
          b"\x1b[2;23H", b"\x1b[L", b"\x1b[M", b"\x1b[4h", b"\x1b[4l", b"\x1b(0", b"\x1b(B",
          b"\x1b)0", b"\x0e", b"\x0f", b"\x1b[?25l", b"\x1b[?25h", b"\x1b[?1049h",
          b"\x1b[?1049l", b"\x1b7", b"\x1b8", b"\x1b", b"[", b"\xc2\x9b1m", b"\xc3", b"\xa9",
          b"\x1b[3@", b"\x1b[2P", b"\x1b]0;t\x07", b"\x1bc", b"\x1b[!p",
          b"\x1b[?69h\x1b[3;12s", b"\x1b[?69l", b"\x1b[2;5r", b"\x1b[r", b"\x1b[?7l",
          b"\x1b[?7h", b"\x1b[?6h", b"\x1b[?6l", b"\t"]


@pytest.mark.parametrize("seed", range(30))
def test_random_reads_leave_the_screen_as_without_the_early_echo(seed: int) -> None:
    """The differential test of the painter (test_tui_paint.py), with the early
    echo in the way: random reads, some typed-looking, some not; whatever is
    written early is printable ASCII only, and after every read the host
    terminal shows the pane cell for cell (and, in Screen.read, for the moment
    between, the old screen with the early characters at the cursor)."""
    rng = random.Random(seed)
    term = Screen()
    early_reads = 0
    try:
        for _ in range(150):
            if rng.random() < 0.5:
                data = bytes(rng.choice(b"abcxyz ~") for _ in range(rng.randint(1, 3)))
                if rng.random() < 0.3:
                    data += rng.choice(PIECES)
            else:
                data = b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 4)))
            if rng.random() < 0.1:          # as a shell's prompt would: back to plain text
                data += b"\x1b[0m\x1b(B\x1b)B\x0f\x1b[4l\x1b[?69l\x1b[?25h"
            if rng.random() < 0.05:
                term.frame()
            early = term.read(data)
            assert not set(early) & CONTROLS and early == data[:len(early)]
            early_reads += bool(early)
            term.assert_shows_the_pane()
    finally:
        term.close()
    assert early_reads > 10                 # the test meets the early echo, not only its skips


# -- the emulator's side: Emulator.plain_room and the character-set tracking ------------

FUZZ = [b"\x1b(0", b"\x1b(B", b"\x1b(A", b"\x1b)0", b"\x1b)B", b"\x1b*0", b"\x1b*B",
        b"\x1b+0", b"\x1b+B", b"\x1b-A", b"\x1b.A", b"\x1b/A", b"\x0e", b"\x0f", b"\x1bn",
        b"\x1bo", b"\x1bN", b"\x1bO", b"\x1b7", b"\x1b8", b"\x1bc", b"\x1b[!p", b"\x1b[4h",
        b"\x1b[4l", b"\x1b[31m", b"\x1b[0m", b"\x1b[m", b"\x1b[7m", b"\x1b[?69h",
        b"\x1b[?69l", b"\x1b[3;10s", b"\x1b[3;4H", b"\x1b[1;22H", b"\x1b[1;24H", b"\x1b[5G",
        b"\x1b(\r0", b"\x1b]0;a\x0eb\x07", b"\x1bX\x0f\x1b\\", b"\x1b",
        b"[", "日".encode(), b"\xe6", b"abc", b"q", b"\r\n", b"\x1b[2J", b"\x1b[?1049h",
        b"\x1b[?1049l", b"\x1b[0 q"]
# Back to a state where text lands plainly, so that the fuzz meets promises too.
# (No ESC # 3-6 in the fuzz: after one, no promise is made for good.)
PLAIN_AGAIN = [b"\x1b(B\x1b)B\x1b*B\x1b+B\x0f", b"\x1b[0m\x1b[4l\x1b[?69l\x1b[H", b"\x1bc"]


@pytest.mark.parametrize("seed", range(30))
def test_plain_room_is_what_libvterm_does(seed: int) -> None:
    """Two emulators fed the same random stream; where ``plain_room`` promises
    room, one more gets printable ASCII: exactly those cells change, to those
    characters in the default style, and the cursor moves past them."""
    rng = random.Random(seed)
    a, b = create_emulator(ROWS, COLS), create_emulator(ROWS, COLS)
    promised = refused = 0
    for _ in range(300):
        chunk = b"".join(rng.choice(FUZZ) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            chunk += rng.choice(PLAIN_AGAIN)
        a.feed(chunk)
        b.feed(chunk)
        row, col, room = a.plain_room()
        if not room:
            refused += 1
            continue
        promised += 1
        text = bytes(rng.choice(range(0x20, 0x7f)) for _ in range(rng.randint(1, room)))
        before = screen(a)
        b.feed(text)
        expect = dict(before)
        for i, ch in enumerate(text.decode()):
            expect[row, col + i] = look(ch, DEFAULT_STYLE)
        assert screen(b) == expect, (chunk, text)
        assert b.cursor[:2] == (row, col + len(text))
        a.feed(text)
    assert promised > 20 and refused > 20


def test_the_character_sets_are_followed_as_libvterm_has_them() -> None:
    """The cases behind the model: DECSC/DECRC and DECSTR keep the sets, RIS
    resets them, controls inside a designation still run."""
    cases = {b"": True, b"\x1b(0": False, b"\x1b(0\x1b(B": True, b"\x1b)0": True,
             b"\x1b)0\x0e": False, b"\x1b)0\x0e\x0f": True, b"\x1b7\x1b(0\x1b8": False,
             b"\x1b(0\x1b[!p": False, b"\x1b(0\x1bc": True, b"\x1b*0\x1bN": False,
             b"\x1b(\r0": False, b"\x1b(0\x1b": False}
    for stream, ascii_text in cases.items():
        tracker = ModeTracker()
        tracker.feed(stream)
        assert tracker.ascii_text is ascii_text, stream
        emu = create_emulator(2, 10)
        emu.feed(stream + b"\x1b[2;1Hq")
        assert (emu.cell(1, 0).text == "q") == ascii_text, stream


def test_a_designation_cut_between_reads_is_seen() -> None:
    tracker = ModeTracker()
    tracker.feed(b"text \x1b(")
    tracker.feed(b"0more")
    assert not tracker.ascii_text
