"""The Emulator interface on libvterm (the C library neovim uses) through ctypes.

Where the time goes, and why the code is shaped like this:

- Bytes from the program pass the InputGuard first (sanitize.py): libvterm
  0.1.4 crashes or hangs on some inputs, and it runs inside the amcr process.
- Parsing happens in C: ``feed`` is one ``vterm_input_write`` per 64 KiB plus
  one ``vterm_screen_flush_damage``. Damage is merged and scrolls are deferred
  until that flush (``VTERM_DAMAGE_SCROLL``), so a screenful of scrolling text
  costs a handful of Python callbacks, not several per line. Runs of plain
  lines take the fast path (fastscroll.py), which scrolls once per run.
- No ``movecursor`` callback: libvterm would call it after every run of text and
  every CR/LF. The cursor is read on demand instead.
- ``sb_pushline`` (scrollback) copies the raw cells with one ``string_at``;
  they are decoded only if someone scrolls back.
- Rows are decoded only when asked for, and cached until damaged. A row is read
  as runs of equal attributes (``vterm_screen_get_attrs_extent``) and the text
  of each run in one ``vterm_screen_get_text`` call; only runs with non-ASCII
  text fall back to reading cell by cell, because only libvterm knows how many
  columns each of those characters took.
- Everything runs on the event-loop thread; the library is opened as a PyDLL
  (GIL held across calls), which makes the callbacks cheap.
"""
from __future__ import annotations

import ctypes
import re
from ctypes import addressof, byref, string_at

from amcr.tui import _cells
from amcr.tui import _libvterm as lv
from amcr.tui.emulator import DEFAULT_STYLE, Cell, Cursor, Modes, Run, Style
from amcr.tui.fastscroll import FastScroll
from amcr.tui.modes import ModeTracker
from amcr.tui.sanitize import InputGuard
from amcr.tui.scrollback import Scrollback

_SHAPES = {1: "block", 2: "underline", 3: "bar"}
_SHAPE_CODES = {"block": 2, "underline": 4, "bar": 6}        # DECSCUSR steady; -1 blinks
_MAX_WRITE = 1 << 16      # libvterm copies a text run to a stack array: keep writes small
_BATCH = 1 << 18          # parse at the latest when this much is queued
_ROOM = 8                 # plain_room's most: an echo is a character or two, and
                          # each cell of the room is looked at
# Requests libvterm answers (DA, DSR, DECRQM, DECRQSS): parse those at once.
_QUERY = re.compile(rb"\x1b\[[?>=]?[0-9;]*(?:c|n|\$p)|\x1bP\$q")
# Scrolls toward the bottom (RI, SD, IL). libvterm 0.1.4 merges the scrolls of one
# parse into one before it reports them, and a merge of scrolls in opposite
# directions loses the damage of rows that were scrolled in (they are reported as
# moved): a parse with one of these does not carry decoded rows along a move.
_REVERSE_SCROLL = re.compile(rb"\x1bM|\x1b\[[0-9;]*[TL]")


def _scratch(cols: int) -> VTermEmulator:
    """A one-row screen for drawing scrollback kept as source (scrollback.py)."""
    return VTermEmulator(1, cols, scrollback=0, fast_scroll=False)


class _Closed:
    def __getattr__(self, name: str) -> object:
        raise ValueError("terminal emulator is closed")


class VTermEmulator(FastScroll):
    """One libvterm instance. Not thread-safe: use it from the event-loop thread."""

    def __init__(self, rows: int = 24, cols: int = 80, *, scrollback: int = 2000,
                 fast_scroll: bool = True) -> None:
        lib = self._lib = lv.load()
        rows, cols = _cells.check_size(rows, cols)
        self._vt = lib.vterm_new(rows, cols)
        if not self._vt:
            raise MemoryError("vterm_new failed")
        self._rows, self._cols = rows, cols
        lib.vterm_set_utf8(self._vt, 1)
        self._screen = lib.vterm_obtain_screen(self._vt)
        self._state = lib.vterm_obtain_state(self._vt)
        self._new_abi = lv.new_abi(lib)
        # The callback objects must outlive the VTerm: libvterm keeps raw pointers.
        self._callbacks = lv.ScreenCallbacks(
            damage=lv.DamageFn(self._on_damage), moverect=lv.MoveRectFn(self._on_moverect),
            settermprop=lv.SetTermPropFn(self._on_termprop), bell=lv.BellFn(self._on_bell),
            sb_pushline=lv.SbPushlineFn(self._on_pushline),
            sb_popline=lv.SbPoplineFn(self._on_popline))
        self._output_cb = lv.OutputFn(self._on_output)
        lib.vterm_screen_set_callbacks(self._screen, byref(self._callbacks), None)
        lib.vterm_output_set_callback(self._vt, self._output_cb, None)
        lib.vterm_screen_enable_altscreen(self._screen, 1)
        lib.vterm_screen_set_damage_merge(self._screen, lv.DAMAGE_SCROLL)
        self._output = bytearray()
        self._trust_moves = True        # see _REVERSE_SCROLL
        self._lines: list[tuple[Run, ...] | None] = [None] * rows
        self._dirty: set[int] = set(range(rows))
        self._fast_scroll = fast_scroll
        self._guard = InputGuard()
        self._pending = bytearray()                     # filtered, not yet parsed
        self._pending_ground = True                     # parser state before it
        self._styles: dict[bytes, Style] = {}        # raw attrs+colours -> style
        self._blanks: dict[Style, tuple[Run, ...]] = {}   # style -> an empty row (this width)
        self._blank_ids: set[int] = set()            # id() of each value in _blanks
        # row -> the empty row it was at the last take_dirty, for rows damaged since
        self._was_blank: dict[int, tuple[Run, ...]] = {}
        self._interned: dict[Style, Style] = {DEFAULT_STYLE: DEFAULT_STYLE}
        self._tracker = ModeTracker()
        self._title_parts: list[bytes] = []
        self._title = ""
        self._cursor_visible, self._cursor_blink, self._cursor_shape = True, True, "block"
        self._alt_screen = False
        self._bells = 0
        self._generation = 0
        self._cell = lv.ScreenCell()
        self._cell_addr = addressof(self._cell)
        self._pos = lv.Pos()
        self._rect = lv.Rect()
        self._rect_ref = byref(self._rect)
        self._text = ctypes.create_string_buffer(cols * 4 * lv.MAX_CHARS_PER_CELL)
        lib.vterm_screen_reset(self._screen, 1)
        self._scrollback = Scrollback(scrollback, self._decode, blank=self._raw_cell(0, 0),
                                      scratch=_scratch)
        self._extent_fix = self._probe_extent()
        self._default_pen = self._pen()

    # -- feeding ---------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Queue a read for libvterm. The queue is parsed when anything is read
        back (a render, a key needing the modes), when it holds 256 KiB, or at
        once if it holds a query the program awaits an answer to. PTY reads
        are a few KiB; parsing them in bigger batches is what lets a flood
        take the fast path (and costs nothing visible: nobody looked between)."""
        if not isinstance(data, bytes):     # ctypes wants bytes (a bytearray from a buffer?)
            data = bytes(data)
        data = self._guard.filter(data)     # never let raw container bytes reach libvterm
        if not data:
            return
        if not self._pending:
            self._pending_ground = self._guard.ground_before
        self._pending += data
        self._generation += 1
        if len(self._pending) >= _BATCH or _QUERY.search(data):
            self._sync()

    def _sync(self) -> None:
        """Parse what feed() queued."""
        if not self._pending:
            return
        data = bytes(self._pending)
        self._pending.clear()
        self._trust_moves = _REVERSE_SCROLL.search(data) is None
        if self._fast_scroll and data.count(b"\n") > self.FAST_MIN_LINES:
            self._feed_pieces(data, self._pending_ground)
        else:
            self._write(data)
            self._tracker.feed(data)
        self._lib.vterm_screen_flush_damage(self._screen)

    def resize(self, rows: int, cols: int) -> None:
        rows, cols = _cells.check_size(rows, cols)
        if (rows, cols) == (self._rows, self._cols):
            return
        self._sync()
        self._lines = [None] * max(rows, self._rows)     # callbacks may come for either size
        self._lib.vterm_set_size(self._vt, rows, cols)
        self._rows, self._cols = rows, cols
        self._repair_after_resize()
        self._lib.vterm_screen_flush_damage(self._screen)
        self._lines = [None] * rows
        self._dirty = set(range(rows))
        self._blanks.clear()
        self._blank_ids.clear()
        self._was_blank.clear()
        self._text = ctypes.create_string_buffer(cols * 4 * lv.MAX_CHARS_PER_CELL)
        self._generation += 1

    def _repair_after_resize(self) -> None:
        """libvterm 0.1.4 leaves three things pointing outside a screen that
        shrank, and the next glyph, line feed or DECRC then writes out of bounds:
        the scroll margins, the cursor (moved above the top when text sits far
        below it) and the saved cursor. Reset the margins as xterm does, and bring
        both cursors back in bounds; pen and cursor style are put back as they
        were. CAN first if the program left a sequence half written."""
        if not self._guard.ground:
            self._write(b"\x18")
            self._guard.ground = True
        row, col = self._clamped_cursor()
        pen, visible = self._pen(), self._cursor_visible
        shape = _SHAPE_CODES[self._cursor_shape] - self._cursor_blink
        margins = b"\x1b[r"
        if self._query(b"\x1b[?69$p") == b"\x1b[?69;1$y":    # left/right margin mode on
            margins += b"\x1b[s"
        self._write(margins + b"\x1b8")                    # DECRC: where is the saved one?
        saved_row, saved_col = self._clamped_cursor()
        self._write(b"\x1b[%d;%dH\x1b7\x1b[%d;%dH\x1b[0;%sm\x1b[?25%c\x1b[%d q" % (
            saved_row + 1, saved_col + 1, row + 1, col + 1, _cells.sgr(pen),
            b"h"[0] if visible else b"l"[0], shape))

    def _clamped_cursor(self) -> tuple[int, int]:
        row, col = self.cursor[:2]
        return min(max(row, 0), self._rows - 1), min(max(col, 0), self._cols - 1)

    def take_output(self) -> bytes:
        # No sync: feed() parses at once whatever could have asked for an answer.
        out = bytes(self._output)
        self._output.clear()
        return out

    def take_dirty(self) -> frozenset[int]:
        self._sync()
        if self._was_blank:
            self._keep_unchanged_blanks()
        dirty = frozenset(self._dirty)
        self._dirty.clear()
        return dirty

    def close(self) -> None:
        if self._vt:
            self._lib.vterm_free(self._vt)
            self._vt = None
            # Every libvterm call goes through _lib: after this one it raises
            # instead of using freed memory.
            self._lib = _Closed()  # type: ignore[assignment]

    def __del__(self) -> None:
        if getattr(self, "_vt", None):
            self.close()

    # -- reading ---------------------------------------------------------------------

    rows = property(lambda self: self._rows)
    cols = property(lambda self: self._cols)
    generation = property(lambda self: self._generation)

    @property
    def title(self) -> str:
        self._sync()
        return self._title

    @property
    def bells(self) -> int:
        self._sync()
        return self._bells

    @property
    def scrollback_len(self) -> int:
        self._sync()
        return len(self._scrollback)

    @property
    def cursor(self) -> Cursor:
        self._sync()
        self._lib.vterm_state_get_cursorpos(self._state, byref(self._pos))
        return Cursor(self._pos.row, self._pos.col, self._cursor_visible,
                      self._cursor_shape, self._cursor_blink)

    @property
    def modes(self) -> Modes:
        self._sync()
        modes = self._tracker.modes
        if modes.alt_screen != self._alt_screen:   # libvterm knows best which screen is up
            self._tracker.modes = modes = Modes(
                alt_screen=self._alt_screen, app_cursor=modes.app_cursor,
                bracketed_paste=modes.bracketed_paste, mouse=modes.mouse,
                mouse_encoding=modes.mouse_encoding, focus_events=modes.focus_events)
        return modes

    def cell(self, row: int, col: int) -> Cell:
        self._sync()
        self._check(row, col)
        chars, width, style = self._decode(self._raw_cell(row, col))
        if chars and chars[0] == _cells.CONTINUATION:
            # libvterm leaves stale attributes on the right half: use the left half's
            return Cell("", 0, self._decode(self._raw_cell(row, col - 1))[2] if col else style)
        return Cell(_cells.text(chars) or " ", width, style)

    def line(self, row: int) -> tuple[Run, ...]:
        self._sync()
        self._check(row, 0)
        runs = self._lines[row]
        if runs is None:
            runs = self._lines[row] = self._read_line(row)
        return runs

    def plain_room(self) -> tuple[int, int, int]:
        """(row, col, n): see the Emulator interface. The checks are those of
        libvterm's own path for a printable byte: the parser's state (nothing
        queued, nothing held back by the guard, not inside a sequence), the
        character set, insert mode, left/right margins (the margin, not the
        screen's edge, would wrap) and the pen; then the room up to the last
        column, where a wrap would be left pending."""
        self._sync()
        row, col = self.cursor[:2]
        guard, tracker = self._guard, self._tracker
        if (guard.held or not guard.ground or tracker.insert or tracker.left_right_margins
                or not tracker.ascii_text or not (0 <= row < self._rows and 0 <= col)
                or self._pen() != self._default_pen):
            return row, col, 0
        return row, col, self._narrow_cells(row, col, min(self._cols - 1 - col, _ROOM))

    def _narrow_cells(self, row: int, col: int, limit: int) -> int:
        """How many cells from ``col`` on (at most ``limit``) are one column wide.

        A character written over half of a wide one changes the other half
        too; and libvterm 0.1.4 leaves a narrow character written over the
        left half of a wide one two columns wide, before the old right half,
        so a row of ASCII text can hold such cells too: each cell is looked at.
        """
        for n in range(limit):
            raw = self._raw_cell(row, col + n)
            if raw[_cells.WIDTH] != 1 or raw[:4] == _cells.CONTINUATION_BYTES:
                return n
        return max(limit, 0)

    def scrollback_line(self, index: int) -> tuple[Run, ...]:
        self._sync()
        return self._scrollback.line(index)

    # -- internals -------------------------------------------------------------------

    def _check(self, row: int, col: int) -> None:
        if not (0 <= row < self._rows and 0 <= col < self._cols):
            raise IndexError(f"cell {row},{col} outside {self._rows}x{self._cols}")

    def _raw_cell(self, row: int, col: int) -> bytes:
        self._pos.row, self._pos.col = row, col
        self._lib.vterm_screen_get_cell(self._screen, self._pos, byref(self._cell))
        return string_at(self._cell_addr, lv.CELL_SIZE)

    def _decode(self, raw: bytes) -> tuple[tuple[int, ...], int, Style]:
        """Raw VTermScreenCell bytes -> (codepoints, width, interned style)."""
        *chars, width, attrs, fg, bg = _cells.CELL.unpack(raw)
        key = raw[_cells.STYLE_KEY]
        style = self._styles.get(key)
        if style is None:
            fresh = _cells.style(attrs, fg, bg)
            style = self._styles[key] = self._interned.setdefault(fresh, fresh)
        n = chars.index(0) if 0 in chars else len(chars)
        return tuple(chars[:n]), width, style

    def _read_line(self, row: int) -> tuple[Run, ...]:
        lib, screen, rect, pos = self._lib, self._screen, self._rect, self._pos
        cols, runs, col = self._cols, [], 0
        style = self._empty_style(row)
        if style is not None:
            return self._blank_line(style)
        while col < cols:
            chars, _width, style = self._decode(self._raw_cell(row, col))
            if chars and chars[0] == _cells.CONTINUATION:   # right half of a wide character
                col += 1                                # whose run already holds it
                continue
            rect.start_col, rect.end_col = col, -1
            pos.row, pos.col = row, col
            lib.vterm_screen_get_attrs_extent(screen, byref(rect), pos, lv.ATTRS_ALL_MASK)
            end = min(max(rect.end_col + self._extent_fix, col + 1), cols)
            rect.start_row, rect.end_row, rect.start_col, rect.end_col = row, row + 1, col, end
            n = lib.vterm_screen_get_text(screen, self._text, len(self._text), rect)
            text = self._text.raw[:n].decode("utf-8", "replace")
            if text.isascii():
                runs.append(Run(text.ljust(end - col), style))
            else:   # only libvterm knows each character's width: go cell by cell
                runs.append(Run("".join(self._cell_text(row, c) for c in range(col, end)),
                                style))
            col = end
        return _cells.merge(runs)

    def _empty_style(self, row: int) -> Style | None:
        """The style of ``row`` if it holds no character and one style from end to
        end (an erased row), else None: three libvterm calls, nothing decoded
        but one cell."""
        lib, screen, pos, rect = self._lib, self._screen, self._pos, self._rect
        pos.row, pos.col = row, 0
        if not lib.vterm_screen_is_eol(screen, pos):
            return None
        rect.start_col, rect.end_col = 0, -1
        lib.vterm_screen_get_attrs_extent(screen, self._rect_ref, pos, lv.ATTRS_ALL_MASK)
        if rect.end_col + self._extent_fix < self._cols:
            return None                             # styles change along the row
        raw = self._raw_cell(row, 0)
        return self._styles.get(raw[_cells.STYLE_KEY]) or self._decode(raw)[2]

    def _blank_line(self, style: Style) -> tuple[Run, ...]:
        """An empty row in ``style``: the same tuple every time for that style, so
        the painter (which compares by identity) sees there is nothing to redraw."""
        blank = self._blanks.get(style)
        if blank is None:
            blank = self._blanks[style] = (Run(" " * self._cols, style),)
            self._blank_ids.add(id(blank))
        return blank

    def _keep_unchanged_blanks(self) -> None:
        """Take back out of the dirty set the damaged rows that are the same empty
        row as at the last take_dirty.

        A shell erases everything below the cursor on each edit (busybox's line
        editing sends ``CSI J`` after every typed character), so libvterm
        damages every row below the prompt: on a 50-row screen, 45 rows that
        were empty and still are. Checking them (``_empty_style``) costs a
        fraction of reading them as lines, and the painter is not even asked
        about them.
        """
        lines, dirty = self._lines, self._dirty
        for row, old in self._was_blank.items():
            now = lines[row]
            if now is None:
                if self._empty_style(row) is not old[0].style:
                    continue
                lines[row] = old
            elif now is not old:
                continue
            dirty.discard(row)
        self._was_blank.clear()

    def _probe_extent(self) -> int:
        """libvterm 0.1 reports the end of an attribute extent inclusively, later
        releases exclusively; ask a blank screen which one this library does."""
        self._rect.start_col, self._rect.end_col = 0, -1
        self._pos.row, self._pos.col = 0, 0
        self._lib.vterm_screen_get_attrs_extent(self._screen, byref(self._rect), self._pos,
                                                lv.ATTRS_ALL_MASK)
        return 1 if self._rect.end_col == self._cols - 1 else 0

    def _cell_text(self, row: int, col: int) -> str:
        chars, _width, _style = self._decode(self._raw_cell(row, col))
        if chars and chars[0] == _cells.CONTINUATION:
            return ""
        return _cells.text(chars) or " "

    # -- talking to libvterm --------------------------------------------------------

    def _write(self, data: bytes) -> None:
        write, vt = self._lib.vterm_input_write, self._vt
        if len(data) <= _MAX_WRITE:
            write(vt, data, len(data))
            return
        start = 0
        while start < len(data):
            end = start + _MAX_WRITE
            # Never between the bytes of one UTF-8 character: libvterm 0.1.4
            # does not carry a partial character from one write to the next.
            while start + 1 < end < len(data) and 0x80 <= data[end] < 0xC0:
                end -= 1
            piece = data[start:end]
            write(vt, piece, len(piece))
            start = end

    def _query(self, request: bytes) -> bytes:
        """libvterm's answer to a request, kept apart from the program's replies.
        Only when the parser is in its ground state: the request is parsed too."""
        saved, self._output = self._output, bytearray()
        try:
            self._write(request)
            return bytes(self._output)
        finally:
            self._output = saved

    def _pen(self) -> bytes:
        return lv.read_pen(self._lib, self._state)

    # -- callbacks from libvterm (must return int, must not raise) --------------------

    def _on_damage(self, rect: lv.Rect, _user: object) -> int:
        lines, dirty, blank_ids, was_blank = (self._lines, self._dirty, self._blank_ids,
                                              self._was_blank)
        # Bounds from our own list: during a resize libvterm mixes old and new sizes.
        for row in range(max(rect.start_row, 0), min(rect.end_row, len(lines))):
            if row not in dirty:
                # What the row was at the last take_dirty: kept if it was empty.
                old = lines[row]
                if id(old) in blank_ids:
                    was_blank[row] = old        # type: ignore[assignment]
                dirty.add(row)
            lines[row] = None
        return 1

    def _on_moverect(self, dest: lv.Rect, src: lv.Rect, _user: object) -> int:
        # A scroll: rows keep their decoded runs if whole rows moved.
        lines = self._lines
        whole = dest.start_col == 0 and dest.end_col == self._cols and self._trust_moves
        moved = [lines[r] if whole and 0 <= r < len(lines) else None
                 for r in range(src.start_row, src.end_row)]
        for offset, runs in enumerate(moved):
            row = dest.start_row + offset
            if 0 <= row < len(lines):
                self._lines[row] = runs
                self._dirty.add(row)
        return 1

    def _on_termprop(self, prop: int, value: int, _user: object) -> int:
        if prop == lv.PROP_TITLE:
            title = lv.read_string(value, self._new_abi, self._title_parts)
            if title is not None:
                self._title = title.decode("utf-8", "replace")
        elif prop == lv.PROP_CURSORVISIBLE:
            self._cursor_visible = bool(ctypes.c_int.from_address(value).value)
        elif prop == lv.PROP_CURSORBLINK:
            self._cursor_blink = bool(ctypes.c_int.from_address(value).value)
        elif prop == lv.PROP_CURSORSHAPE:
            self._cursor_shape = _SHAPES.get(ctypes.c_int.from_address(value).value, "block")
        elif prop == lv.PROP_ALTSCREEN:
            self._alt_screen = bool(ctypes.c_int.from_address(value).value)
        return 1

    def _on_bell(self, _user: object) -> int:
        self._bells += 1
        return 1

    def _on_pushline(self, cols: int, cells: int, _user: object) -> int:
        self._scrollback.push_cells(string_at(cells, cols * lv.CELL_SIZE))
        return 1

    def _on_popline(self, cols: int, cells: int, _user: object) -> int:
        """The screen grew taller: give back the newest scrollback line."""
        raw = self._scrollback.pop_cells(cols)
        if raw is None:
            return 0
        ctypes.memmove(cells, raw, len(raw))
        return 1

    def _on_output(self, data: int, length: int, _user: object) -> None:
        self._output += string_at(data, length)
