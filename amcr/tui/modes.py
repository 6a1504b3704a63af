"""Follows the input-side terminal modes in a program's output stream.

Why a scanner of our own: libvterm 0.1 keeps application-cursor, bracketed
paste and the mouse encoding in private state with no getter (only the mouse
*level* and the alternate screen are reported through ``settermprop``), and
asking it with DECRQM would mean injecting bytes into the parser, which breaks
any escape sequence the program left half-written at the end of a read. The
scanner needs no cooperation from the backend, so a pyte or other fallback gets
it for free.

The emulator feeds it what the input guard let through, where no CSI holds
embedded control characters, so the regular expression sees every sequence
whole. Cost: three substring tests per chunk (C speed, no regex) unless the chunk
contains a private-mode sequence, a soft reset or a hard reset. A sequence split
across two reads is caught by rescanning the previous chunk's tail with the new
chunk; re-applying an already applied suffix of set/reset operations in order
cannot change the result, so the overlap is harmless.
"""
from __future__ import annotations

import re
from dataclasses import replace

from amcr.tui.emulator import Modes, MouseEncoding, MouseTracking

# DECSET/DECRST "CSI ? Pm h/l", SM/RM "CSI Pm h/l" (of the ANSI modes only IRM,
# 4, matters here), RIS "ESC c", DECSTR "CSI ! p": one pattern, so they apply in order
_SEQUENCE = re.compile(rb"\x1b\[(\?)?([0-9;]*)([hl])|\x1bc|\x1b\[!p")
_TAIL = 64        # longest sequence we promise to catch across a read boundary
# What decides how printable ASCII is drawn: a character set designated to G0-G3
# (ESC ( ) * + for 94-character sets, - . / for 96), a locking shift (SO, SI,
# LS2 ESC n, LS3 ESC o), a line of double width or height (ESC # 3-6), RIS.
# libvterm runs C0 controls met inside an escape sequence and goes on with it
# (ignoring NUL and DEL, aborting at CAN, SUB and ESC): a designation may hold some.
_CHARSET = re.compile(rb"\x1b([()*+\-./])([\x00-\x17\x19\x1c-\x2f\x7f]*[\x30-\x7e])"
                      rb"|\x1b([no]|#[3-6]|c)|[\x0e\x0f]")
_C0 = bytes(range(0x20)) + b"\x7f"
_G = {b"(": 0, b")": 1, b"*": 2, b"+": 3, b"-": 1, b".": 2, b"/": 3}
_LOCKING = {b"\x0f": 0, b"\x0e": 1, b"n": 2, b"o": 3}

_MOUSE_LEVELS = {9: MouseTracking.X10, 1000: MouseTracking.NORMAL,
                 1002: MouseTracking.BUTTON, 1003: MouseTracking.ANY}
_MOUSE_ENCODINGS = {1005: MouseEncoding.UTF8, 1006: MouseEncoding.SGR,
                    1015: MouseEncoding.URXVT}


class ModeTracker:
    """Keeps ``modes`` in step with DECSET/DECRST, RIS and DECSTR seen in ``feed``."""

    __slots__ = ("modes", "left_right_margins", "insert", "_tail", "_sets", "_gl",
                 "_unsure", "_line_sizes")

    def __init__(self) -> None:
        self.modes = Modes()
        # DECLRMM (69): not for key encoding, but the fast-scroll path must know
        # (margins change where text wraps). False positives only cost speed.
        self.left_right_margins = False
        # IRM (4), for the same reason: it changes what a wrapping line leaves.
        # libvterm does not answer DECRQM for it. Once set, it stays set for us
        # until RM 4 or RIS: again, false positives only cost speed.
        self.insert = False
        self._tail = b""
        # For the early echo (echo.py): which set each of G0-G3 holds (b"B" is
        # US-ASCII), which one GL invokes, whether a designation held controls
        # (then we are unsure until RIS), and whether a line was ever made double
        # width or height (for good: a line keeps its size on the screen it is
        # on, the alternate screen's RIS leaves the main screen's). libvterm
        # 0.1.4 keeps the sets over DECSTR and DECSC/DECRC (tests/unit/
        # test_tui_echo.py checks this model against it).
        self._sets = [b"B"] * 4
        self._gl = 0
        self._unsure = False
        self._line_sizes = False

    @property
    def ascii_text(self) -> bool:
        """Printable ASCII is drawn as itself, one cell each: GL and the single
        shifts' G2 and G3 hold US-ASCII, and nothing made us unsure (a line of
        another size, a designation with controls inside; false negatives only
        cost the early echo)."""
        sets = self._sets
        return (sets[self._gl] == b"B" and sets[2] == b"B" and sets[3] == b"B"
                and not self._unsure and not self._line_sizes)

    def feed(self, data: bytes) -> bool:
        """Scan one chunk; return True when ``modes`` may have changed."""
        buf = self._tail + data if self._tail else data
        tail = data[-_TAIL:]
        self._tail = tail if b"\x1b" in tail else b""
        if b"\x1b" in buf or b"\x0e" in buf or b"\x0f" in buf:
            self._charsets(buf)
        if b"\x1b[" not in buf and b"\x1bc" not in buf:
            return False
        modes = self.modes
        for match in _SEQUENCE.finditer(buf):
            if match.group(3) is None:          # RIS or DECSTR: back to power-on modes
                ris = match.group(0) == b"\x1bc"
                modes = Modes(alt_screen=False if ris else modes.alt_screen)
                if ris:     # libvterm keeps left/right margins (and IRM) over a DECSTR
                    self.left_right_margins = False
                    self.insert = False
                continue
            on = match.group(3) == b"h"
            params = match.group(2).split(b";")
            if match.group(1) is None:          # SM/RM ("04" is 4 too)
                if any(param and int(param) == 4 for param in params):
                    self.insert = on
                continue
            for param in params:
                if param == b"69":
                    self.left_right_margins = on
                elif param:
                    modes = _apply(modes, int(param), on)
        changed = modes != self.modes
        self.modes = modes
        return changed

    def _charsets(self, buf: bytes) -> None:
        """Follow designations, locking shifts and RIS, in order (a rescanned
        tail applies the same assignments again: the result is the same)."""
        sets = self._sets
        for match in _CHARSET.finditer(buf):
            which, final, escape = match.groups()
            if which is not None:
                sets[_G[which]] = final if which in b"()*+" else b"96" + final
                if final.translate(None, _C0) != final:
                    self._unsure = True
            elif escape == b"c":
                self._sets, self._gl, self._unsure = [b"B"] * 4, 0, False
                sets = self._sets
            elif escape is not None and escape[:1] == b"#":
                self._line_sizes = True
            else:
                self._gl = _LOCKING[escape or match.group(0)]


def _apply(modes: Modes, mode: int, on: bool) -> Modes:
    """One DECSET (on) or DECRST (off), with xterm's rules for the mouse modes."""
    if mode == 1:
        return replace(modes, app_cursor=on)
    if mode == 2004:
        return replace(modes, bracketed_paste=on)
    if mode == 1004:
        return replace(modes, focus_events=on)
    if mode in (47, 1047, 1049):
        return replace(modes, alt_screen=on)
    if mode in _MOUSE_LEVELS:
        # xterm (and libvterm): the levels exclude each other, and resetting
        # any of them switches mouse reporting off.
        return replace(modes, mouse=_MOUSE_LEVELS[mode] if on else MouseTracking.OFF)
    if mode in _MOUSE_ENCODINGS:
        return replace(modes, mouse_encoding=_MOUSE_ENCODINGS[mode] if on
                       else MouseEncoding.X10)
    return modes
