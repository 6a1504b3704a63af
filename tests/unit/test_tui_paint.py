"""The painter: SGR per style, rows as escapes, only changed rows written, and
mouse events passed to programs. Real emulators, real prompt_toolkit objects."""
from __future__ import annotations

import re

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
