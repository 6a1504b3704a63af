"""Fast scrolling for floods of plain lines: the analysis half (pure, no libvterm).

Why: libvterm keeps the screen as one flat array of cells, so every line feed at
the bottom moves the whole screen (about 350 KB at 200x50) and converts the line
that falls off into scrollback cell by cell. A ``cat`` of a big file is nothing
but that: libvterm alone parses such text at about 7 MB/s at 200x50.

What we do instead (see ``VTermEmulator._scroll_lines``): when a chunk holds a
run of *clean* lines and the terminal is in a state where line feeds can only
scroll, we replace the per-line scrolling by one scroll of many lines (``CSI n
S``, ``CSI n A``, then the lines), and lines that would scroll straight through
the screen go to scrollback as their source bytes, rendered only if someone
scrolls back. The screen, cursor, pen and scrollback come out exactly as
line-by-line processing would leave them; a differential test feeds random
streams both ways and compares every cell.

A clean line is one whose effect is fully known without running the parser:
- it ends with CR LF and holds no other control character (so it moves the
  cursor exactly one row down and back to column 0);
- every escape sequence in it is an SGR or an erase-to-end-of-line, and the
  last SGR, if any, is a full reset (so the pen is the default at its line
  feed, which is what the blank row scrolled in is filled with);
- its text is no longer in bytes than the screen is wide (a character never
  takes more columns than its UTF-8 bytes, so it cannot wrap; a line that
  fills the last column leaves a wrap pending, which its CR cancels).
A longer line of printable ASCII alone (logs, minified code) wraps at every
``cols`` columns, so it is the same as its rows written one by one, each a
clean line: a run takes it as those rows (``rows_of``). The differential test
in tests/unit/test_vterm_fastscroll.py checks both claims against libvterm.
The terminal-side conditions (parser in ground state, cursor at column 0 on the
bottom margin, default pen, no left/right margins) are checked by the emulator.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from itertools import accumulate, compress

from amcr.tui.sanitize import ends_in_ground

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.tui.emulator import Cursor
    from amcr.tui.modes import ModeTracker
    from amcr.tui.scrollback import Scrollback

__all__ = ["FastScroll", "ends_in_ground", "is_clean", "is_wrapping", "plan", "rows_of"]

# DECRQSS for the scroll region, DECRQM for left/right margin mode (69)
_PROBE = b"\x1bP$qr\x1b\\\x1b[?69$p"
_PROBE_REPLY = re.compile(rb"\x1bP1\$r(\d+);(\d+)r\x1b\\\x1b\[\?69;2\$y\Z")

# SGR, and EL to the end of the line, which grep --color adds after each SGR and
# which erases nothing on the blank rows the fast path writes on.
_ROW_LOCAL = re.compile(rb"\x1b\[[0-9;]*m|\x1b\[K")
_LAST_SGR = re.compile(rb".*(\x1b\[[0-9;]*m)", re.S)
# An SGR other than a full reset with no SGR after it before the line feed.
_DIRTY_PEN = re.compile(rb"\x1b\[(?!0?m)[0-9;]*m(?:[^\x1b\n]|\x1b\[K)*\n")
# Bytes a clean line may contain besides SGRs: printable ASCII and any byte of a
# multi-byte UTF-8 character (in UTF-8 mode libvterm never reads 0x80-0x9f as C1).
_TEXT = bytes(range(0x20, 0x7f)) + bytes(range(0x80, 0x100))
_ASCII = bytes(range(0x20, 0x7f))


def is_clean(line: bytes, cols: int) -> bool:
    """``line`` is one line without its LF; see the module docstring."""
    if not line.endswith(b"\r"):
        return False
    if b"\x1b" in line:
        last = _LAST_SGR.match(line)
        if last is not None and last.group(1) not in (b"\x1b[0m", b"\x1b[m"):
            return False
        line = _ROW_LOCAL.sub(b"", line)
    return len(line) <= cols + 1 and not line[:-1].translate(None, _TEXT)


def is_wrapping(line: bytes, cols: int) -> bool:
    """A line (without its LF) of printable ASCII only that wraps: see the module docstring."""
    return len(line) > cols + 1 and line.endswith(b"\r") and not line[:-1].translate(None, _ASCII)


def rows_of(line: bytes, cols: int) -> list[bytes]:
    """A wrapping line as the clean lines of its rows."""
    text = line[:-1]
    return [text[i:i + cols] + b"\r" for i in range(0, len(text), cols)]


def _all_clean(body: bytes, cols: int, lines: list[bytes] | None = None, *,
               lengths: bool = True) -> bool:
    """Whether every line of ``body`` (whole lines, LF-terminated; ``lines``
    is ``body`` split, if the caller has it) is clean, using only whole-buffer
    operations; with ``lengths=False``, clean but for being too long."""
    if b"\x1b" in body:
        if _DIRTY_PEN.search(body):
            return False
        body = _ROW_LOCAL.sub(b"", body)
        lines = None                                    # lengths without the escapes
    lf_only = body.replace(b"\r\n", b"\n")
    controls = lf_only.translate(None, _TEXT)
    # Only line feeds are left, and every one of them had its CR right before it.
    if controls != b"\n" * len(controls) or len(body) - len(lf_only) != len(controls):
        return False
    return not lengths or max(map(len, lines if lines is not None else body.split(b"\n"))) <= cols + 1


def plan(data: bytes, cols: int, min_lines: int) -> list[tuple[int, bytes | list[bytes]]]:
    """Cut a chunk into pieces: ``(offset, bytes)`` to feed as they are, and
    ``(offset, lines)`` runs of at least ``min_lines`` clean lines (each without
    its LF) that may take the fast path. The first line of a chunk is never
    part of a run: it may continue a line of the previous chunk."""
    first = data.find(b"\n") + 1
    if first == 0:
        return [(0, data)]
    last = data.rfind(b"\n") + 1
    lines = data[first:last - 1].split(b"\n") if last > first else []
    if len(lines) < min_lines:
        return [(0, data)]
    odd, wrapping = _classify(lines, cols, data[first:last])
    if not odd:                                   # the common case: one run of them all
        pieces: list[tuple[int, bytes | list[bytes]]] = [(0, data[:first])]
        pieces.append((first, _expand(lines, 0, len(lines), wrapping, cols)))
        if last < len(data):
            pieces.append((last, data[last:]))
        return pieces
    lengths = list(accumulate(map(len, lines), initial=0))   # line i starts at
    pieces = []                                               # first + lengths[i] + i
    raw_start, after_bad = 0, 0
    for bad in [*odd, len(lines)]:
        if bad - after_bad >= min_lines:          # clean lines after_bad..bad-1: a run
            run_start = first + lengths[after_bad] + after_bad
            if run_start > raw_start:
                pieces.append((raw_start, data[raw_start:run_start]))
            pieces.append((run_start, _expand(lines, after_bad, bad, wrapping, cols)))
            raw_start = first + lengths[bad] + bad
        after_bad = bad + 1
    if raw_start < len(data):
        pieces.append((raw_start, data[raw_start:]))
    return pieces


def _long_lines(lines: list[bytes], cols: int) -> list[int]:
    """Indexes of the lines longer than a clean line may be, in bytes (escapes
    may still bring one under): compress/map at C speed, no Python per line."""
    return list(compress(range(len(lines)), map((cols + 1).__lt__, map(len, lines))))


def _classify(lines: list[bytes], cols: int, body: bytes | None = None,
              group: int = 128) -> tuple[list[int], list[int]]:
    """The lines that may not be in a run, and the wrapping ones that may, in order.

    ``body``, when given, is the lines joined, each with its LF. If it is
    clean as a whole but for long lines (a flood of plain text), only the long
    lines are looked at, one by one. Otherwise lines are checked a group at a
    time at C speed. Long lines are found beforehand in one scan
    (``_long_lines``), so a group that is clean but for them is settled by
    looking at those alone; a group that fails otherwise is halved until the
    odd lines are found, so an odd line in a flood costs a few more
    whole-group checks, not a check per line.
    """
    odd: list[int] = []
    wrapping: list[int] = []

    def one(i: int) -> None:
        if is_clean(lines[i], cols):
            return
        (wrapping if is_wrapping(lines[i], cols) else odd).append(i)

    def check(start: int, end: int, longs: list[int]) -> None:
        chunk = lines[start:end]
        if _all_clean(b"\n".join(chunk) + b"\n", cols, lengths=False):
            for i in longs:
                one(i)
        elif end - start > 4:
            middle = (start + end) // 2
            cut = bisect_left(longs, middle)
            check(start, middle, longs[:cut])
            check(middle, end, longs[cut:])
        else:
            for i in range(start, end):
                one(i)

    long = _long_lines(lines, cols)
    if body is not None and _all_clean(body, cols, lengths=False):
        for i in long:
            one(i)
    else:
        for start in range(0, len(lines), group):
            end = min(start + group, len(lines))
            check(start, end, long[bisect_left(long, start):bisect_left(long, end)])
    # A wrapping line's rows equal it only from column 0, which is where a
    # line after a clean (CR-ended) one starts; after any other, who knows.
    bad = set(odd)
    kept = []
    for i in wrapping:
        if i == 0 or i - 1 in bad:
            bad.add(i)
        else:
            kept.append(i)
    return sorted(bad), kept


class Rows(list):  # type: ignore[type-arg]
    """A run with wrapping lines split into rows, and the bytes it came from:
    what to write instead where wrapping is not plain (see ``_feed_pieces``)."""

    source = b""


def _expand(lines: list[bytes], start: int, end: int, wrapping: list[int],
            cols: int) -> list[bytes]:
    """lines[start:end], each wrapping line replaced by its rows."""
    first, last = bisect_left(wrapping, start), bisect_left(wrapping, end)
    if first == last:
        return lines[start:end]
    out = Rows()
    out.source = b"\n".join(lines[start:end]) + b"\n"
    at = start
    for i in wrapping[first:last]:
        out += lines[at:i]
        out += rows_of(lines[i], cols)
        at = i + 1
    out += lines[at:end]
    return out


class FastScroll:
    """The execution half, mixed into VTermEmulator (whose state it uses: the
    cursor, the pen, the guard's parser state, the mode tracker, scrollback)."""

    FAST_MIN_LINES = 8            # shorter runs of clean lines are not worth a probe

    if TYPE_CHECKING:             # provided by VTermEmulator
        _cols: int
        _alt_screen: bool
        _default_pen: bytes
        _tracker: ModeTracker
        _scrollback: Scrollback

        @property
        def cursor(self) -> Cursor: ...
        def _write(self, data: bytes) -> None: ...
        def _query(self, request: bytes) -> bytes: ...
        def _pen(self) -> bytes: ...

    def _feed_pieces(self, data: bytes, ground_before: bool) -> None:
        """Write ``data`` (filtered; the parser was in ground state before it
        if ``ground_before``), taking the fast path for runs of clean lines."""
        for start, piece in plan(data, self._cols, self.FAST_MIN_LINES):
            if isinstance(piece, bytes):
                self._write(piece)
                self._tracker.feed(piece)       # modes as they stand where the next run starts
                continue
            ground = ends_in_ground(data, start, ground_before)
            if isinstance(piece, Rows) and not (ground and self._wraps_plainly()):
                self._write(piece.source)
            elif not ground:
                self._write(b"\n".join(piece) + b"\n")
            else:
                self._scroll_lines(piece)

    def _wraps_plainly(self) -> bool:
        """Does a long line wrap into exactly its rows here? Not without
        autowrap, nor in insert mode, nor within left/right margins."""
        tracker = self._tracker
        # At column 0 only: with margins or origin mode on, even a query (a CSI)
        # could move the cursor (libvterm clamps it into the margins).
        return (not tracker.insert and not tracker.left_right_margins
                and self.cursor[1] == 0
                and self._query(b"\x1b[?7$p") == b"\x1b[?7;1$y")

    def _scroll_lines(self, lines: list[bytes]) -> None:
        """Write clean lines as line-by-line scrolling would, with one scroll."""
        # Cursor and margin mode first: at column 0 without left/right margins no
        # wrap is pending, so the probe (a CSI, which cancels one) changes nothing.
        row, col = self.cursor[:2]
        region = None
        if col == 0 and not self._tracker.left_right_margins:
            region = self._scroll_region()
        if region is None or row > region[1] or self._pen() != self._default_pen:
            # the lines as they came: rows of a wrapping line equal it only here
            self._write(lines.source if isinstance(lines, Rows) else b"\n".join(lines) + b"\n")
            return
        top, bottom = region
        # Until the cursor reaches the bottom margin, line feeds move it, not the text.
        # The first line at the bottom goes the normal way too: after it, the cursor
        # sits at column 0 of a freshly scrolled-in blank row, like after every other.
        normal = bottom - row + 1
        self._write(b"\n".join(lines[:normal]) + b"\n")
        rest, above = lines[normal:], bottom - top
        if not rest:
            return
        if len(rest) <= above:
            self._write(b"\x1b[%dS\x1b[%dA" % (len(rest), len(rest)) + b"\n".join(rest) + b"\n")
            return
        # More lines than the region holds: scroll out what is there now (libvterm
        # pushes those rows to scrollback), keep the lines that would only pass
        # through as source bytes, and draw the last screenful.
        self._write(b"\x1b[%dS" % above)
        passing = len(rest) - above
        if top == 0 and not self._alt_screen:
            self._scrollback.push_sources(self._cols, rest[:passing])
        self._write(b"\x1b[%dA" % above + b"\n".join(rest[passing:]) + b"\n")

    def _scroll_region(self) -> tuple[int, int] | None:
        """(top, bottom) rows of the scroll region, or None with left/right margins on."""
        match = _PROBE_REPLY.match(self._query(_PROBE))
        return (int(match[1]) - 1, int(match[2]) - 1) if match else None
