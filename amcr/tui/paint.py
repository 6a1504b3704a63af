"""Container screens drawn straight to the terminal, row by row, beside prompt_toolkit.

Why not let prompt_toolkit draw them: it copies every character of every
fragment into a Screen of ``Char`` objects and then compares that Screen with
the previous one cell by cell, in Python. At 200x48 that is ~20 ms a frame:
during a flood the frames eat the event loop, and every keystroke's echo waits
for one. Here a terminal region is drawn by row instead. The emulator keeps a
row's runs as the same tuple until the row changes, so an unchanged row costs
one identity check, and a changed row is one string: a cursor move, then the
runs, each after its cached SGR. prompt_toolkit still draws everything else
(tab bar, status line, tile titles, the stats and help views); to it a
terminal region is blank, and unchanged blank cells cost it nothing.

The two share the terminal through :class:`PaneRenderer`, a prompt_toolkit
``Renderer`` that paints the regions after its own diff in the same frame:

- When prompt_toolkit redraws from scratch (first frame, resize, a new style)
  it erases the screen; then every row is painted again.
- When the regions change (another view, a tile added) the old region's text
  would stay where prompt_toolkit believes the screen blank: prompt_toolkit is
  made to redraw from scratch in that frame.
- The cursor goes to the active container's cursor, and prompt_toolkit is told
  where it is, because it moves the cursor relative to where it left it.

This reads and sets a few of the Renderer's own attributes (``_last_screen``,
``_last_size``, ``_last_style_hash``, ``_cursor_pos``), which is why
pyproject.toml keeps prompt_toolkit below 3.1; tests/tui would show a change.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from prompt_toolkit.data_structures import Point
from prompt_toolkit.layout.containers import Container
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.mouse_events import MouseEvent, MouseEventType
from prompt_toolkit.output import ColorDepth, Output
from prompt_toolkit.renderer import Renderer

from amcr.kernel.fds import write_all
from amcr.tui.echo import EchoPlan, plan_echo
from amcr.tui.emulator import Color, MouseTracking, Run, Style
from amcr.tui.keys import encode_mouse
from amcr.tui.pacer import SMALL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from prompt_toolkit.application import Application
    from prompt_toolkit.layout import Layout
    from prompt_toolkit.layout.mouse_handlers import MouseHandlers
    from prompt_toolkit.layout.screen import Screen, WritePosition

    from amcr.tui.pane import Pane

_CUBE = (0, 95, 135, 175, 215, 255)
# xterm's default 16 colours, for terminals that have no more (4-bit depth).
_BASIC = ((0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205),
          (0, 205, 205), (229, 229, 229), (127, 127, 127), (255, 0, 0), (0, 255, 0),
          (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255))
_SHAPES = {"block": 2, "underline": 4, "bar": 6}      # DECSCUSR, steady; one less blinks
# A trailing stretch of blanks shorter than this is written as spaces, not erased.
_ERASE_MIN = 8


# -- colours and styles --------------------------------------------------------------------

def rgb(color: int | tuple[int, int, int]) -> tuple[int, int, int]:
    """A palette index or RGB triple as RGB (xterm's palette)."""
    if isinstance(color, tuple):
        return color
    if color < 16:
        return _BASIC[color]
    if color < 232:
        n = color - 16
        return _CUBE[n // 36], _CUBE[(n // 6) % 6], _CUBE[n % 6]
    level = 8 + 10 * (color - 232)
    return level, level, level


def _nearest(target: tuple[int, int, int], candidates: list[tuple[int, tuple[int, int, int]]]
             ) -> int:
    r, g, b = target
    return min(candidates, key=lambda c: (c[1][0] - r) ** 2 + (c[1][1] - g) ** 2
               + (c[1][2] - b) ** 2)[0]


_PALETTE_256 = [(i, rgb(i)) for i in range(16, 256)]
_PALETTE_16 = list(enumerate(_BASIC))


def color_params(color: Color, base: int, depth: ColorDepth) -> str:
    """SGR parameters for a foreground (base 30) or background (base 40) colour.

    The 16 ANSI colours stay palette indexes, so the host terminal's palette
    applies as it would without amcr; 256 and RGB colours are sent as such
    when the host takes them, else as the nearest it has.
    """
    if color is None or depth == ColorDepth.DEPTH_1_BIT:
        return ""
    if isinstance(color, int) and color < 16:
        return str(base + color) if color < 8 else str(base + 60 + color - 8)
    if depth == ColorDepth.DEPTH_4_BIT:
        return color_params(_nearest(rgb(color), _PALETTE_16), base, depth)
    if isinstance(color, int):
        return f"{base + 8};5;{color}"
    if depth == ColorDepth.DEPTH_24_BIT:
        return f"{base + 8};2;{color[0]};{color[1]};{color[2]}"
    return f"{base + 8};5;{_nearest(color, _PALETTE_256)}"


def sgr(style: Style, depth: ColorDepth) -> str:
    """The escape that sets exactly this style, from a reset."""
    params = ["0"]
    for flag, code in (("bold", "1"), ("italic", "3"), ("underline", "4"), ("blink", "5"),
                       ("reverse", "7"), ("strike", "9")):
        if getattr(style, flag):
            params.append(code)
    for color, base in ((style.fg, 30), (style.bg, 40)):
        code = color_params(color, base, depth)
        if code:
            params.append(code)
    return "\x1b[" + ";".join(params) + "m"


def erasable(style: Style) -> bool:
    """Blanks in this style look like erased cells (ECH erases in the default style)."""
    return style.bg is None and not (style.reverse or style.underline or style.strike)


def host_color_depth(app_depth: ColorDepth) -> ColorDepth:
    """prompt_toolkit assumes 256 colours for xterm-like terminals; a terminal
    that says it has 24-bit colour (COLORTERM) gets programs' RGB as is."""
    if (app_depth == ColorDepth.DEPTH_8_BIT and "PROMPT_TOOLKIT_COLOR_DEPTH" not in os.environ
            and os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit")):
        return ColorDepth.DEPTH_24_BIT
    return app_depth


class RowWriter:
    """Runs -> the string that draws them, with SGRs cached per style."""

    def __init__(self, depth: ColorDepth) -> None:
        self.depth = depth
        self._sgr: dict[Style, str] = {}

    def row(self, runs: tuple[Run, ...]) -> str:
        """The row from where the cursor is; it spans exactly the runs' columns.

        A trailing stretch of erasable blanks is erased (ECH) instead of
        written: most rows are mostly blank, and every byte goes through the
        host terminal's parser too.
        """
        parts = []
        cache = self._sgr
        last = len(runs) - 1
        for i, (text, style) in enumerate(runs):
            code = cache.get(style)
            if code is None:
                code = cache[style] = sgr(style, self.depth)
            if i == last and erasable(style) and text.isascii():
                kept = text.rstrip(" ")
                blank = len(text) - len(kept)
                if blank >= _ERASE_MIN:
                    if kept:
                        parts += (code, kept)
                    parts.append(f"\x1b[0m\x1b[{blank}X")
                    break
            parts += (code, text)
        return "".join(parts)


# -- the layout's side: where the terminals are ------------------------------------------

class Region(NamedTuple):
    """A pane drawn at (x, y) with this size, in this frame."""

    pane: Pane
    x: int
    y: int
    width: int
    height: int


class TerminalWindow(Container):
    """A place in the layout for one pane's terminal, drawn by the Painter.

    To prompt_toolkit it is a blank rectangle with a mouse handler; it tells the
    pane its size (so the PTY follows) and the painter where it is.
    """

    def __init__(self, painter: Painter, pane: Pane,
                 on_click: Callable[[Pane], None] | None = None) -> None:
        self.painter = painter
        self.pane = pane
        self.on_click = on_click

    def reset(self) -> None:
        pass

    def preferred_width(self, max_available_width: int) -> Dimension:
        return Dimension()

    def preferred_height(self, width: int, max_available_height: int) -> Dimension:
        return Dimension()

    def get_children(self) -> list[Container]:
        return []

    def write_to_screen(self, screen: Screen, mouse_handlers: MouseHandlers,
                        write_position: WritePosition, parent_style: str, erase_bg: bool,
                        z_index: int | None) -> None:
        x, y = write_position.xpos, write_position.ypos
        width, height = write_position.width, write_position.height
        if width <= 0 or height <= 0:
            return
        self.pane.fit(height, width)
        self.painter.regions.append(Region(self.pane, x, y, width, height))

        def handler(event: MouseEvent) -> object:
            local = Point(x=event.position.x - x, y=event.position.y - y)
            return self.mouse(MouseEvent(local, event.event_type, event.button,
                                         event.modifiers))

        cells = dict.fromkeys(range(x, x + width), handler)
        rows = mouse_handlers.mouse_handlers
        for row in range(y, y + height):
            rows[row].update(cells)

    def mouse(self, event: MouseEvent) -> object:
        """The program's, when it asked for mouse reports; else a click selects the pane."""
        modes = self.pane.emulator.modes
        if modes.mouse is not MouseTracking.OFF:
            if self.on_click is not None and event.event_type == MouseEventType.MOUSE_DOWN:
                self.on_click(self.pane)          # redraws if that selected another pane
            self.pane.send(encode_mouse(event, modes))
            return NotImplemented                 # the program's answer is painted
        if event.event_type == MouseEventType.MOUSE_UP and self.on_click is not None:
            self.on_click(self.pane)
            return None
        return NotImplemented


# -- the terminal's side: what was written where --------------------------------------------

class CursorSpot(NamedTuple):
    """Where the terminal's cursor goes after a frame, and how it looks."""

    x: int
    y: int
    visible: bool
    shape: str = "block"
    blink: bool = True


class Painter:
    """Writes the changed rows of every region, and remembers what it wrote."""

    def __init__(self, depth: ColorDepth = ColorDepth.DEPTH_8_BIT) -> None:
        self.regions: list[Region] = []          # filled by TerminalWindows during a frame
        self.writer = RowWriter(depth)
        self._shown: dict[tuple[int, int], tuple[Run, ...]] = {}   # (y, x) -> runs written
        self._layout: list[Region] = []          # the regions of the last frame
        self._complete: set[Region] = set()      # regions painted whole since the last erase
        self._clipped: dict[tuple[int, int], tuple[tuple[Run, ...], tuple[Run, ...]]] = {}
        self._early: set[tuple[Region, int]] = set()   # rows paint_row_at wrote since paint

    def set_depth(self, depth: ColorDepth) -> None:
        if depth != self.writer.depth:
            self.writer = RowWriter(depth)
            self.forget()

    def _clip(self, runs: tuple[Run, ...], width: int, pane: int, row: int
              ) -> tuple[Run, ...]:
        """The first ``width`` columns of a row (the same tuple while the row is)."""
        cached = self._clipped.get((pane, row))
        if cached is not None and cached[0] is runs:
            return cached[1]
        out, left = [], width
        for text, style in runs:
            if left <= 0:
                break
            out.append(Run(text[:left], style))
            left -= len(text)
        clipped = tuple(out)
        self._clipped[(pane, row)] = (runs, clipped)
        return clipped

    def layout_changed(self) -> bool:
        """Did this frame put terminals elsewhere than the last one?"""
        changed, self._layout = self.regions != self._layout, list(self.regions)
        return changed

    def forget(self) -> None:
        """The screen was erased: everything must be written again."""
        self._shown.clear()
        self._complete.clear()

    def paint(self) -> str:
        """Escapes that bring every region up to date (empty when nothing changed).

        A region painted whole before only looks at the rows its emulator
        says changed since (``take_dirty``); a changed row whose runs are the
        ones already written (an erase of blank rows) is still skipped.
        """
        out: list[str] = []
        early, self._early = self._early, set()
        for region in self.regions:
            emu = region.pane.emulator
            dirty = emu.take_dirty()
            rows: object = range(min(region.height, emu.rows))
            if region in self._complete:
                rows = sorted({r for r in dirty if r < region.height}
                              | {r for reg, r in early if reg == region and r < emu.rows})
            else:
                self._complete.add(region)
            for row in rows:                               # type: ignore[attr-defined]
                self._row(region, row, out)
        if out:
            out.append("\x1b[0m")
        return "".join(out)

    def paint_row_at(self, x: int, y: int) -> str:
        """The screen row at (x, y) of the terminal drawn there, if it changed.

        For an echo: the row under the cursor is where a typed character
        appears, and it is written first, before the other changed rows are
        even looked for (a shell's erase below the prompt marks every row
        under it as changed, and finding out that they did not is most of a
        paint). :meth:`paint` then skips it, as already shown. (It looks at the
        row again whatever ``take_dirty`` says: the emulator compares rows with
        what they were at its last ``take_dirty``, not with what was written here.)
        """
        out: list[str] = []
        for region in self.regions:
            if (region.x <= x < region.x + region.width
                    and region.y <= y < region.y + region.height
                    and y - region.y < region.pane.emulator.rows):
                self._row(region, y - region.y, out)
                self._early.add((region, y - region.y))
                break
        if out:
            out.append("\x1b[0m")
        return "".join(out)

    def region_of(self, pane: Pane) -> Region | None:
        """Where ``pane`` is drawn in this frame, if it is."""
        for region in self.regions:
            if region.pane is pane:
                return region
        return None

    def shows(self, region: Region, row: int) -> bool:
        """Does the terminal show ``row`` of ``region`` as the emulator has it now?"""
        return self._shown.get((region.y + row, region.x)) is self._runs(region, row)

    def echo_written(self, region: Region, row: int) -> None:
        """Something was written early on ``row`` (echo.py): the terminal no
        longer shows it as painted, so the next paint must look at it again and
        write it, whatever the emulator says changed."""
        self._shown.pop((region.y + row, region.x), None)
        self._early.add((region, row))

    def _runs(self, region: Region, row: int) -> tuple[Run, ...]:
        """The runs that draw ``row`` of ``region`` (clipped to the region)."""
        emu = region.pane.emulator
        runs = emu.line(row)
        if emu.cols > region.width:                 # one column: libvterm's screen has two
            runs = self._clip(runs, region.width, id(region.pane), row)
        return runs

    def _row(self, region: Region, row: int, out: list[str]) -> None:
        """Append what redraws ``row`` of ``region``, unless it is what is shown."""
        _pane, x, y, width, _height = region
        runs = self._runs(region, row)
        key = (y + row, x)
        if self._shown.get(key) is not runs:
            self._shown[key] = runs
            out.append(f"\x1b[{y + row + 1};{x + 1}H")
            if not all(text.isascii() for text, _style in runs):
                # The host may count a character's columns unlike libvterm:
                # blank the row first, so nothing old survives at its end.
                out.append(f"\x1b[0m\x1b[{width}X")
            out.append(self.writer.row(runs))


class PaneRenderer(Renderer):
    """prompt_toolkit's renderer, plus the painter's rows and the active terminal's cursor."""

    _echo: EchoPlan | None = None       # armed after each frame and paint (reset() comes first)

    def __init__(self, app: Application[object], painter: Painter,
                 cursor: Callable[[], CursorSpot | None]) -> None:
        old = app.renderer
        super().__init__(old.style, old.output, full_screen=old.full_screen,
                         mouse_support=old.mouse_support,
                         cpr_not_supported_callback=old.cpr_not_supported_callback)
        self.painter = painter
        self.cursor = cursor
        self.app = app
        # For the early echo (echo.py), set by the application: the pane whose
        # reads may be echoed early (None: none now), the time.monotonic()
        # before which a read would not be painted at once, and what else to do
        # after every frame and paint (the keystroke relay is armed then).
        self.echo_pane: Callable[[], Pane | None] = lambda: None
        self.echo_not_before: Callable[[], float] = lambda: float("inf")
        self.after_paint: Callable[[], None] = lambda: None
        self._shaped = False        # a cursor shape was sent: the host's is restored at exit
        self._placed: CursorSpot | None = None   # where paint_only last put the cursor

    def reset(self, _scroll: bool = False, leave_alternate_screen: bool = True) -> None:
        """prompt_toolkit forgets the screen (and may write to it): so do we."""
        super().reset(_scroll, leave_alternate_screen)
        self._placed = None
        self.drop_echo()

    def render(self, app: Application[object], layout: Layout, is_done: bool = False) -> None:
        painter = self.painter
        painter.set_depth(host_color_depth(app.color_depth))
        # prompt_toolkit's own reasons to redraw from scratch (erasing the screen)
        erased = (self._last_screen is None or self._last_size != self.output.get_size()
                  or self.style.invalidation_hash() != self._last_style_hash
                  or app.style_transformation.invalidation_hash()
                  != self._last_transformation_hash
                  or app.color_depth != self._last_color_depth)
        painter.regions = []
        self._placed = None         # prompt_toolkit moves the cursor as it draws
        self.drop_echo()
        super().render(app, layout, is_done)
        if is_done:
            if self._shaped:
                self.output.write_raw("\x1b[0 q")      # the host's own cursor shape again
                self.output.flush()
            return
        if painter.layout_changed() and not erased:
            self._last_screen = None                  # redraw the rest from scratch
            painter.regions = []
            super().render(app, layout, is_done)
            painter.layout_changed()
            erased = True
        if erased:
            painter.forget()
        self._finish(painter.paint(), self.cursor())
        self._arm_echo()

    def paint_only(self, cursor_row_first: bool = False) -> None:
        """Between prompt_toolkit's frames, when only the terminals changed:
        the changed rows and the cursor, in the regions of the last frame.
        ``cursor_row_first``: an echo; its row reaches the terminal before the
        others are looked at (see :meth:`Painter.paint_row_at`)."""
        self.drop_echo()
        if self._last_screen is None:
            return
        spot = self.cursor()
        if cursor_row_first and spot is not None:
            first = self.painter.paint_row_at(spot.x, spot.y)
            if first:
                self._finish(first, spot)
        self._finish(self.painter.paint(), spot)
        self._arm_echo()

    def _arm_echo(self) -> None:
        """After a frame or a paint: what the next read may write early (not
        while a redraw is on its way: a frame for a resize comes between)."""
        plan = None if self.app.invalidated else plan_echo(
            self.painter, self.echo_pane(), self._placed, self.output)
        if plan is not None:
            plan.reader.arm(plan.fd, plan.room, SMALL, self.echo_not_before(), self.output)
            self._echo = plan
        self.after_paint()

    def drop_echo(self) -> None:
        """Nothing may be written early any more: the screen or the terminal
        is about to change other than by the next read."""
        plan, self._echo = self._echo, None
        if plan is not None:
            plan.reader.disarm()

    def echo_early(self, pane: Pane, fired: int) -> None:
        """``pane`` read something, not fed yet, and its reader wrote ``fired``
        bytes of it to the terminal early: the paint that follows at once must
        repaint that row and put the cursor back. Any read uses up the plan
        (the reader disarmed itself; another pane's read makes it stale)."""
        plan, self._echo = self._echo, None
        if plan is None:
            return
        if plan.pane is not pane:
            plan.reader.disarm()
        elif fired:
            self._placed = None                     # the cursor moved on
            self.painter.echo_written(plan.region, plan.row)

    def _finish(self, rows: str, spot: CursorSpot | None) -> None:
        """Write the rows, then put the cursor at ``spot``: where the active
        program has it (None: where prompt_toolkit left it)."""
        output = self.output
        if not rows and (spot is None or spot == self._placed):
            return
        self._placed = spot
        if rows:
            output.hide_cursor()
            output.write_raw(rows)
        if spot is not None:
            output.write_raw(f"\x1b[{spot.y + 1};{spot.x + 1}H")
            self._cursor_pos = Point(x=spot.x, y=spot.y)
            if spot.visible:
                output.show_cursor()
                # after it: prompt_toolkit's show_cursor also sends "stop blinking"
                self._shaped = True
                output.write_raw(f"\x1b[{_SHAPES.get(spot.shape, 2) - spot.blink} q")
            else:
                output.hide_cursor()
        elif rows:
            # prompt_toolkit left the cursor where it believes it is: put it back.
            pos = self._cursor_pos
            output.write_raw(f"\x1b[{pos.y + 1};{pos.x + 1}H")
        flush(output)


def flush(output: Output) -> None:
    """prompt_toolkit's output buffer to the terminal, in one write when it fits.

    prompt_toolkit's own flush makes the terminal blocking for every write
    and back (three more system calls, a context manager): a measurable part
    of an echo, whose few bytes always fit. Only what the terminal does not
    take at once is written the blocking way.
    """
    buffer = getattr(output, "_buffer", None)
    if buffer is None:                      # not a Vt100_Output
        output.flush()
        return
    if not buffer:
        return
    data = "".join(buffer).encode(output.encoding() or "utf-8", "replace")
    output._buffer = []                     # type: ignore[attr-defined]
    fd = output.fileno()
    try:
        done = os.write(fd, data)
    except (BlockingIOError, InterruptedError):
        done = 0
    if done < len(data):
        blocking = os.get_blocking(fd)
        os.set_blocking(fd, True)
        try:
            write_all(fd, memoryview(data)[done:])
        finally:
            os.set_blocking(fd, blocking)
