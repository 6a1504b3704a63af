"""The painter: SGR per style, rows as escapes, only changed rows written, and
mouse events passed to programs. Real emulators, real prompt_toolkit objects."""
from __future__ import annotations

import random
import re

import pytest

from prompt_toolkit.data_structures import Point
from prompt_toolkit.layout.mouse_handlers import MouseHandlers
from prompt_toolkit.layout.screen import Screen, WritePosition
from prompt_toolkit.mouse_events import MouseButton, MouseEvent, MouseEventType
from prompt_toolkit.output import ColorDepth

from amcr.tui.emulator import Run, Style, create_emulator
from amcr.tui.paint import (Painter, RowWriter, TerminalWindow, color_params, host_color_depth,
                            sgr)

D8, D24, D4 = ColorDepth.DEPTH_8_BIT, ColorDepth.DEPTH_24_BIT, ColorDepth.DEPTH_4_BIT


class FakePane:
    """What the painter needs from a pane, without a container."""

    def __init__(self, rows: int = 5, cols: int = 20) -> None:
        self.emulator = create_emulator(rows, cols)
        self.size = (rows, cols)
        self.running = True
        self.sent: list[bytes] = []

    def fit(self, rows: int, cols: int) -> None:
        if (rows, cols) != self.size:
            self.size = (rows, cols)
            self.emulator.resize(rows, cols)

    def send(self, data: bytes) -> None:
        if data:
            self.sent.append(data)


def _place(painter: Painter, pane: FakePane, x: int, y: int, w: int, h: int,
           clicked: list | None = None) -> MouseHandlers:
    handlers = MouseHandlers()
    window = TerminalWindow(painter, pane, on_click=clicked.append if clicked is not None
                            else None)  # type: ignore[arg-type]
    window.write_to_screen(Screen(), handlers, WritePosition(x, y, w, h), "", False, None)
    return handlers


def _rows_written(escapes: str) -> list[int]:
    return [int(m) for m in re.findall(r"\x1b\[(\d+);\d+H", escapes)]


def test_colours_keep_the_palette_for_16_and_follow_the_hosts_depth() -> None:
    assert color_params(1, 30, D8) == "31" and color_params(9, 40, D8) == "101"
    assert color_params(196, 30, D8) == "38;5;196"
    assert color_params((255, 0, 0), 30, D24) == "38;2;255;0;0"
    assert color_params((255, 0, 0), 30, D8) == "38;5;196"      # nearest in the cube
    assert color_params((250, 250, 250), 40, D4) == "107"        # nearest of 16: white
    assert color_params(None, 30, D24) == ""
    assert sgr(Style(fg=2, bold=True, reverse=True), D8) == "\x1b[0;1;7;32m"


def test_truecolor_terminals_get_rgb(monkeypatch: object) -> None:
    monkeypatch.setenv("COLORTERM", "truecolor")                 # type: ignore[attr-defined]
    monkeypatch.delenv("PROMPT_TOOLKIT_COLOR_DEPTH", raising=False)  # type: ignore[attr-defined]
    assert host_color_depth(D8) == D24
    monkeypatch.setenv("PROMPT_TOOLKIT_COLOR_DEPTH", "DEPTH_8_BIT")  # type: ignore[attr-defined]
    assert host_color_depth(D8) == D8


def test_a_row_is_its_runs_and_trailing_blanks_are_erased() -> None:
    red = Style(fg=1)
    row = RowWriter(D8).row((Run("ab ", Style()), Run("red", red), Run(" " * 14, Style())))
    assert row == "\x1b[0mab \x1b[0;31mred\x1b[0m\x1b[14X"
    short = RowWriter(D8).row((Run("x   ", Style()),))             # too few to be worth it
    assert short == "\x1b[0mx   "
    reverse = RowWriter(D8).row((Run(" " * 10, Style(reverse=True)),))
    assert reverse == "\x1b[0;7m" + " " * 10                     # visible blanks stay


def test_only_changed_rows_are_written_and_a_forget_writes_all() -> None:
    pane, painter = FakePane(), Painter()
    _place(painter, pane, 0, 1, 20, 5)
    assert _rows_written(painter.paint()) == [2, 3, 4, 5, 6]
    assert painter.paint() == ""                                   # nothing changed
    pane.emulator.feed(b"\x1b[3;1Hhello")
    out = painter.paint()
    assert _rows_written(out) == [4] and "hello" in out
    painter.forget()
    assert len(_rows_written(painter.paint())) == 5


def test_the_row_under_the_cursor_can_be_painted_first() -> None:
    pane, painter = FakePane(), Painter()
    _place(painter, pane, 2, 1, 20, 5)
    painter.paint()
    pane.emulator.feed(b"\x1b[2;1Hfirst\x1b[4;1Hsecond")
    first = painter.paint_row_at(2 + 3, 1 + 3)
    assert _rows_written(first) == [5] and "second" in first
    assert painter.paint_row_at(5, 4) == ""                       # shown already
    assert painter.paint_row_at(0, 4) == ""                       # left of the region
    rest = painter.paint()
    assert _rows_written(rest) == [3] and "first" in rest


def test_the_region_sets_the_size_and_moving_it_is_a_layout_change() -> None:
    pane, painter = FakePane(), Painter()
    _place(painter, pane, 0, 1, 30, 4)
    assert pane.size == (4, 30) and painter.layout_changed()
    painter.regions = []
    _place(painter, pane, 0, 1, 30, 4)
    assert not painter.layout_changed()
    painter.regions = []
    _place(painter, pane, 31, 1, 30, 4)
    assert painter.layout_changed()
    out = painter.paint()                                          # new place: every row
    assert _rows_written(out) == [2, 3, 4, 5] and out.startswith("\x1b[2;32H")


def test_mouse_goes_to_a_program_that_asked_for_it() -> None:
    pane, painter, clicked = FakePane(), Painter(), []
    handlers = _place(painter, pane, 10, 2, 20, 5, clicked)
    handler = handlers.mouse_handlers[3][13]

    def click(kind: MouseEventType) -> object:
        return handler(MouseEvent(Point(x=13, y=3), kind, MouseButton.LEFT, frozenset()))

    assert click(MouseEventType.MOUSE_UP) is None
    assert pane.sent == [] and clicked == [pane]                   # no tracking: a click selects
    pane.emulator.feed(b"\x1b[?1000h\x1b[?1006h")                  # the program asks: SGR reports
    click(MouseEventType.MOUSE_DOWN)
    click(MouseEventType.MOUSE_UP)
    assert pane.sent == [b"\x1b[<0;4;2M", b"\x1b[<0;4;2m"]         # pane-relative, 1-based


def test_a_row_with_wide_characters_is_blanked_before_it_is_written() -> None:
    pane, painter = FakePane(), Painter()
    _place(painter, pane, 0, 0, 20, 5)
    painter.paint()
    pane.emulator.feed("日本 ok".encode())
    out = painter.paint()
    assert out.startswith("\x1b[1;1H\x1b[0m\x1b[20X") and "日本 ok" in out


def test_a_one_column_region_is_painted_one_column_wide() -> None:
    pane, painter = FakePane(), Painter()
    _place(painter, pane, 4, 0, 1, 3)                 # libvterm keeps two columns
    pane.emulator.feed(b"XY")
    out = painter.paint()
    assert "XY" not in out and "X" in out


def test_a_new_colour_depth_paints_everything_again() -> None:
    pane, painter = FakePane(), Painter(D8)
    _place(painter, pane, 0, 0, 20, 5)
    pane.emulator.feed(b"\x1b[38;2;255;0;0mred")
    assert "38;5;196" in painter.paint()
    painter.set_depth(D24)
    out = painter.paint()
    assert "38;2;255;0;0" in out and len(_rows_written(out)) == 5


def test_flush_writes_everything_in_order_to_a_terminal_that_is_full() -> None:
    """One write when it fits; what does not is written blocking, and the
    descriptor is left non-blocking as it was."""
    import os
    import threading
    import time

    from amcr.tui.paint import flush

    r, w = os.pipe()
    os.set_blocking(w, False)
    filler = b"." * 65536
    while True:
        try:
            os.write(w, filler)
        except BlockingIOError:
            break
    got = bytearray()

    def drain() -> None:
        time.sleep(0.1)
        while True:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                return
            got.extend(chunk)

    class Out:
        _buffer = ["ab", "ç" * 100000]

        def encoding(self) -> str:
            return "utf-8"

        def fileno(self) -> int:
            return w
    out = Out()
    reader = threading.Thread(target=drain)
    reader.start()
    try:
        flush(out)                              # type: ignore[arg-type]
        assert out._buffer == [] and not os.get_blocking(w)
    finally:
        os.close(w)
        reader.join(5)
        os.close(r)
    assert bytes(got).lstrip(b".") == ("ab" + "ç" * 100000).encode()


def _seen(emulator: object, rows: int) -> list:
    """Each cell as it looks: its character and style; for a blank, only what
    shows of a blank (the background, and reverse video)."""
    out = []
    for r in range(rows):
        for run in emulator.line(r):                    # type: ignore[attr-defined]
            for ch in run.text:
                st = run.style
                out.append((r, ch, st if ch != " " else (st.bg, st.reverse and st.fg)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_what_the_painter_writes_reproduces_the_screen(seed: int) -> None:
    """A second emulator stands for the host terminal and gets only what the
    painter writes (cursor row first, as for an echo, then the rest): after
    every chunk its screen is the pane's, cell for cell and style for style.
    The chunks erase in and out of colours, as shells and editors do, so rows
    that stay empty, and rows that only look like they did, are both met."""
    rng = random.Random(seed)
    rows, cols = 8, 30
    pane, painter = FakePane(rows, cols), Painter(D24)
    _place(painter, pane, 0, 0, cols, rows)
    host = create_emulator(rows, cols)
    pieces = [b"\x1b[J", b"\x1b[1J", b"\x1b[2J", b"\x1b[K", b"\x1b[2K", b"\x1b[44m", b"\x1b[0m",
              b"\x1b[1;31m", b"\x1b[3X", b"\r\n", b"\x08", b"$ ", b"word", b"\x1b[H",
              b"\x1b[7;1H", b"\x1b[2;20H", b"\x1b[L", b"\x1b[M", b"\x1b[?1049h", b"\x1b[?1049l",
              b"\x1b[5;9H\x1b[44m\x1b[3X\x1b[0m\x1b[H", b"\x1b[3;4H\x1b[41m\x1b[K\x1b[0m\x1b[8;1H"]
    for _ in range(60):
        pane.emulator.feed(b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))))
        cursor = pane.emulator.cursor
        host.feed((painter.paint_row_at(cursor.col, cursor.row) + painter.paint()).encode())
        assert _seen(host, rows) == _seen(pane.emulator, rows)


def test_a_row_painted_early_and_then_emptied_again_is_repainted() -> None:
    """paint_row_at writes a row the emulator's dirty set knows nothing of: if the
    row goes back to what it was at the last take, paint() still repaints it."""
    pane, painter = FakePane(), Painter()
    _place(painter, pane, 0, 0, 20, 5)
    host = create_emulator(5, 20)
    host.feed(painter.paint().encode())
    pane.emulator.feed(b"\x1b[2;1Hhi")
    host.feed(painter.paint_row_at(0, 1).encode())
    pane.emulator.feed(b"\x1b[2K")
    host.feed(painter.paint().encode())
    assert _seen(host, 5) == _seen(pane.emulator, 5)
