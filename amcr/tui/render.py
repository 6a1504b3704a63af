"""Emulator screens -> prompt_toolkit fragments, and a UIControl that shows one.

Styles are interned by the emulator, so the conversion to prompt_toolkit's
style strings is cached per Style object; lines are cached by the emulator
until they change. Rendering a pane is therefore one dict lookup per run.
"""
from __future__ import annotations

from prompt_toolkit.data_structures import Point
from prompt_toolkit.layout.controls import UIContent, UIControl
from prompt_toolkit.mouse_events import MouseEvent, MouseEventType

from amcr.tui.emulator import Color, MouseTracking, Run, Style
from amcr.tui.keys import encode_mouse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from prompt_toolkit.formatted_text import StyleAndTextTuples

    from amcr.tui.pane import Pane

_ANSI = ("ansiblack", "ansired", "ansigreen", "ansiyellow", "ansiblue", "ansimagenta",
         "ansicyan", "ansigray", "ansibrightblack", "ansibrightred", "ansibrightgreen",
         "ansibrightyellow", "ansibrightblue", "ansibrightmagenta", "ansibrightcyan", "ansiwhite")
_CUBE = (0, 95, 135, 175, 215, 255)
_cache: dict[Style, str] = {}


def color_name(color: Color) -> str | None:
    """16 colours stay palette names (the host terminal's palette applies)."""
    if color is None:
        return None
    if isinstance(color, tuple):
        r, g, b = color
    elif color < 16:
        return _ANSI[color]
    elif color < 232:
        n = color - 16
        r, g, b = _CUBE[n // 36], _CUBE[(n // 6) % 6], _CUBE[n % 6]
    else:
        r = g = b = 8 + 10 * (color - 232)
    return f"#{r:02x}{g:02x}{b:02x}"


def style_string(style: Style) -> str:
    cached = _cache.get(style)
    if cached is not None:
        return cached
    parts = ["class:terminal"]
    fg, bg = color_name(style.fg), color_name(style.bg)
    if fg:
        parts.append(f"fg:{fg}")
    if bg:
        parts.append(f"bg:{bg}")
    for flag in ("bold", "underline", "italic", "blink", "reverse", "strike"):
        if getattr(style, flag):
            parts.append(flag)
    text = " ".join(parts)
    _cache[style] = text
    return text


def fragments(runs: tuple[Run, ...]) -> StyleAndTextTuples:
    return [(style_string(run.style), run.text) for run in runs]


class TerminalControl(UIControl):
    """Shows one pane's emulator; tells the pane its size, so the PTY follows."""

    def __init__(self, pane: Pane, on_click: object = None) -> None:
        self.pane = pane
        self.on_click = on_click
        self._runs: list[object] = []        # per row: the runs last converted...
        self._frags: list[StyleAndTextTuples] = []   # ...and their fragments

    def is_focusable(self) -> bool:
        return True

    def create_content(self, width: int, height: int) -> UIContent:
        pane = self.pane
        pane.fit(max(height, 1), max(width, 1))
        emu = pane.emulator
        rows = emu.rows
        if len(self._runs) != rows:
            self._runs, self._frags = [None] * rows, [[] for _ in range(rows)]
        lines = self._frags
        for row in range(rows):
            runs = emu.line(row)          # the emulator caches a row until it changes
            if runs is not self._runs[row]:
                self._runs[row] = runs
                lines[row] = fragments(runs)
        cursor = emu.cursor
        show = cursor.visible and pane.running

        def get_line(i: int) -> StyleAndTextTuples:
            return lines[i] if i < len(lines) else []

        return UIContent(get_line=get_line, line_count=len(lines),
                         cursor_position=Point(x=min(cursor.col, width - 1),
                                               y=min(cursor.row, height - 1)),
                         show_cursor=show)

    def mouse_handler(self, mouse_event: MouseEvent) -> object:
        """The program's, when it asked for mouse reports; else a click selects the pane."""
        modes = self.pane.emulator.modes
        if modes.mouse is not MouseTracking.OFF:
            if callable(self.on_click) and mouse_event.event_type == MouseEventType.MOUSE_DOWN:
                self.on_click(self.pane)
            self.pane.send(encode_mouse(mouse_event, modes))
            return None
        if mouse_event.event_type == MouseEventType.MOUSE_UP and callable(self.on_click):
            self.on_click(self.pane)
            return None
        return NotImplemented
