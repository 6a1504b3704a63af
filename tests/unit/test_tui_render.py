"""The terminal control: styles, cached rows, and mouse events passed to programs."""
from __future__ import annotations

from prompt_toolkit.data_structures import Point
from prompt_toolkit.mouse_events import MouseButton, MouseEvent, MouseEventType

from amcr.tui.emulator import Style, create_emulator
from amcr.tui.render import TerminalControl, color_name, style_string


class FakePane:
    """What TerminalControl needs from a pane, without a container."""

    def __init__(self) -> None:
        self.emulator = create_emulator(5, 20)
        self.size = (5, 20)
        self.running = True
        self.sent: list[bytes] = []

    def fit(self, rows: int, cols: int) -> None:
        if (rows, cols) != self.size:
            self.size = (rows, cols)
            self.emulator.resize(rows, cols)

    def send(self, data: bytes) -> None:
        if data:
            self.sent.append(data)


def _click(x: int, y: int, kind: MouseEventType) -> MouseEvent:
    return MouseEvent(Point(x=x, y=y), kind, MouseButton.LEFT, frozenset())


def test_colours_keep_the_palette_for_16_and_compute_256_and_rgb() -> None:
    assert color_name(1) == "ansired" and color_name(9) == "ansibrightred"
    assert color_name(196) == "#ff0000" and color_name(232) == "#080808"
    assert color_name((1, 2, 3)) == "#010203" and color_name(None) is None
    assert style_string(Style(fg=2, bold=True, reverse=True)) == \
        "class:terminal fg:ansigreen bold reverse"


def test_content_follows_the_emulator_and_the_size() -> None:
    pane = FakePane()
    control = TerminalControl(pane)    # type: ignore[arg-type]
    pane.emulator.feed(b"hello \x1b[31mred\x1b[0m")
    content = control.create_content(30, 4)
    assert pane.size == (4, 30)
    line = content.get_line(0)
    assert "".join(t for _, t in line).startswith("hello red")
    assert any("fg:ansired" in s and t.startswith("red") for s, t in line)
    assert content.cursor_position == Point(x=9, y=0)


def test_mouse_goes_to_a_program_that_asked_for_it() -> None:
    pane = FakePane()
    clicked: list[object] = []
    control = TerminalControl(pane, on_click=clicked.append)    # type: ignore[arg-type]
    control.create_content(20, 5)
    assert control.mouse_handler(_click(3, 1, MouseEventType.MOUSE_UP)) is None
    assert pane.sent == [] and clicked == [pane]       # no tracking: a click selects
    pane.emulator.feed(b"\x1b[?1000h\x1b[?1006h")      # the program asks: SGR reports
    control.mouse_handler(_click(3, 1, MouseEventType.MOUSE_DOWN))
    control.mouse_handler(_click(3, 1, MouseEventType.MOUSE_UP))
    assert pane.sent == [b"\x1b[<0;4;2M", b"\x1b[<0;4;2m"]
