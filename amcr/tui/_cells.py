"""Decoding libvterm's cells into amcr's values, and back into SGR: pure functions.

Kept out of the emulator class so that it reads as "talk to libvterm" and this
file as "what the bytes mean" (layouts in ``_libvterm``).
"""
from __future__ import annotations

import struct

from amcr.tui import _libvterm as lv
from amcr.tui.emulator import Color, Run, Style

CONTINUATION = 0xFFFFFFFF       # chars[0] of the right half of a wide character
CELL = struct.Struct("<6IbxxxI4s4s")   # VTermScreenCell: chars, width, attrs, fg, bg
STYLE_KEY = slice(28, 40)       # the bytes of a cell that decide its style
WIDTH = 24                      # the byte of a cell that holds its width
CONTINUATION_BYTES = CONTINUATION.to_bytes(4, "little")     # chars[0] of a right half

def check_size(rows: int, cols: int) -> tuple[int, int]:
    """Validate a size. One column is raised to two: libvterm 0.1.4 writes the
    right half of a wide character past the end of a one-column row."""
    if rows < 1 or cols < 1:
        raise ValueError(f"terminal size must be positive, not {rows}x{cols}")
    return rows, max(cols, 2)


def sgr(pen: bytes) -> bytes:
    """SGR parameters that recreate a pen read with ``_pen`` (9 VTermValues)."""
    values = [pen[i:i + 8] for i in range(0, len(pen), 8)]
    flags = [int.from_bytes(v[:4], "little") for v in values[:7]]
    bold, underline, italic, blink, reverse, strike, font = flags
    out = [b"1"] * bool(bold) + [{1: b"4", 2: b"21", 3: b"4:3"}.get(underline, b"")] * bool(
        underline) + [b"3"] * bool(italic) + [b"5"] * bool(blink) + [b"7"] * bool(reverse) \
        + [b"9"] * bool(strike) + [b"%d" % (10 + font)] * bool(font)
    for value, base, default in ((values[7], 38, lv.COLOR_DEFAULT_FG),
                                 (values[8], 48, lv.COLOR_DEFAULT_BG)):
        kind = value[0]
        if kind & default:
            continue
        if kind & lv.COLOR_INDEXED:
            out.append(b"%d;5;%d" % (base, value[1]))
        else:
            out.append(b"%d;2;%d;%d;%d" % (base, value[1], value[2], value[3]))
    return b";".join(out)


def text(chars: tuple[int, ...]) -> str:
    """Code points to text; libvterm accepts 5- and 6-byte UTF-8 (beyond U+10FFFF)
    and surrogates, which Python cannot print: those become U+FFFD."""
    return "".join(chr(c) if c < 0xD800 or 0xE000 <= c < 0x110000 else "\ufffd"
                   for c in chars)


def color(raw: bytes, default_flag: int) -> Color:
    """A VTermColor: default, palette index (kept, so the host's palette applies) or RGB."""
    kind = raw[0]
    if kind & default_flag:
        return None
    if kind & lv.COLOR_INDEXED:
        return raw[1]
    return (raw[1], raw[2], raw[3])


def style(attrs: int, fg: bytes, bg: bytes) -> Style:
    """A fresh Style from a cell's attribute word and colours (see ``_libvterm``)."""
    return Style(fg=color(fg, lv.COLOR_DEFAULT_FG), bg=color(bg, lv.COLOR_DEFAULT_BG),
                 bold=bool(attrs & lv.ATTR_BOLD), underline=bool(attrs & lv.ATTR_UNDERLINE_MASK),
                 italic=bool(attrs & lv.ATTR_ITALIC), blink=bool(attrs & lv.ATTR_BLINK),
                 reverse=bool(attrs & lv.ATTR_REVERSE), strike=bool(attrs & lv.ATTR_STRIKE))


def runs_from_cells(cells: list[tuple[tuple[int, ...], int, Style]]) -> tuple[Run, ...]:
    """Runs from decoded cells (scrollback lines), skipping right halves."""
    runs = []
    for chars, _width, style in cells:
        if chars and chars[0] == CONTINUATION:
            continue
        runs.append(Run(text(chars) or " ", style))
    return merge(runs)


def merge(runs: list[Run]) -> tuple[Run, ...]:
    """Join neighbouring runs of the same style (libvterm may split on font etc.)."""
    merged: list[Run] = []
    for run in runs:
        if merged and merged[-1].style is run.style:
            merged[-1] = Run(merged[-1].text + run.text, run.style)
        else:
            merged.append(run)
    return tuple(merged)
