"""Rewrites a program's output so that libvterm cannot be crashed or hung by it.

Why this exists: every container can write any bytes to its terminal, and
libvterm 0.1.4 (Debian 12's libvterm0) has defects that turn a few bytes into a
crash, a hang or memory corruption *inside the amcr process*. Found while
fuzzing this adapter (tests/unit/test_vterm_guard.py pins each one):

1. CSI with more than 16 parameters (``ESC [ 1;1;...;1 m``) writes past the
   parser's argument array: heap corruption, then SIGSEGV.
2. REP (``ESC [ n b``) when the last printed glyph had width 0 or -1 (nothing
   printed yet, a lone combining mark) loops forever with the GIL held.
3. U+0080..U+009F sent as UTF-8 (``\\xc2\\x85``) get width -1: the cursor walks
   to negative columns and later writes land outside the screen buffer. The
   UTF-8 decoder even keeps a lead byte across an escape sequence, so
   ``\\xc2 ESC E \\x85`` is the same code point.
4. Huge numeric parameters overflow ``int`` cursor arithmetic (undefined
   behaviour; observed as negative columns).
5. A glyph with five or more combining marks fills the cell's six code point
   slots without a terminator; copying that cell out (for scrollback, or to
   us) then runs past the cell: heap corruption ("double free or corruption").
   ``cat`` of "Zalgo" text is enough.
6. (Not a crash) DECSET/DECRST with several modes applies only the first, so
   ``ESC [ ? 1049 ; 1 h`` leaves the alternate screen off; split into one each.
7. A text run or string longer than a few MB in one ``vterm_input_write`` is
   copied into a variable-length array on the C stack: SIGSEGV. (Handled by the
   emulator, which never writes more than 64 KiB at a time.)

The rules, in the order they apply: make the text valid UTF-8 (invalid
sequences become U+FFFD, so the decoder never carries a partial character
across escape sequences) and drop C1 code points (xterm treats those as
controls, never as glyphs); keep at most two combining marks (or other
zero-width code points) after a base character, and none that do not follow a
base character directly (libvterm would merge those into the previous glyph,
however many escape sequences came between); then, since dropping bytes can
bring others together, the escape rules: at most 16 CSI parameters, each
clamped to 99999 (no screen is that large), controls inside a CSI moved in
front of it, one DECSET/DECRST per mode, and a REP only where the character
right before it (skipping complete CSIs) is a printable one-column character in
the parser's ground state, which is how ncurses emits it; a dropped REP leaves
a CAN, which libvterm ignores silently, so nothing around it can join into a
new sequence. A sequence cut by the end of a read is held back until the next
read completes it, so no rule can be dodged by splitting the bytes; so is a
string (a title, up to 4 KiB), which libvterm 0.1 would otherwise drop.

Cost: for ASCII output one regular-expression scan at C speed; for other text
also a UTF-8 validation and a scan for combining marks, both in C. The rest
runs only on reads that hold something suspect. Newer libvterm releases fix
only some of these (Vim still backports fixes), so the guard stays whatever the
version.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# CSI parameter bytes as libvterm's parser accepts them: digits, ; : < = > ?, and
# C0 controls other than CAN, SUB and ESC (executed in place, CSI continues).
_P = rb"[\x00-\x17\x19\x1c-\x1f\x30-\x3f\x7f]"
_Q = rb"[\x00-\x17\x19\x1c-\x1f\x30-\x39\x3c-\x3f\x7f]"       # _P without ; and :
_SUSPECT = re.compile(rb"\x1b(?:\[(?:" + _P + rb"*b|(?:" + _Q
                      + rb"*[;:]){16}|" + _P + rb"*?[0-9]{6}|" + _P + rb"*[\x20-\x2f]*\Z"
                      + rb"|[\x30-\x3f]*[\x00-\x17\x19\x1c-\x1f\x7f]|\?[0-9]*;[0-9;]*[hl])|\Z"
                      + rb"|[\]P_^X][^\x07\x1b\x18\x1a]*\Z)")
_TOKEN = re.compile(rb"\x1b[\]P_^X][^\x07\x1b\x18\x1a]*\Z|\x1b\Z|\x1b\[(" + _P + rb"*)([\x20-\x2f]*)([\x40-\x7e]?)")
_CONTROLS = bytes(range(0x20)) + b"\x7f"
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_MARK_CATEGORIES = ("Mn", "Me", "Cf")
_SEPARATORS = re.compile(rb"([;:])")
_LONG_NUMBER = re.compile(rb"[0-9]{6,}")
_CSI_AT_END = re.compile(rb"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]\Z")
# A complete escape sequence from an ESC: CSI; a string (OSC, DCS, APC, PM, SOS)
# ended by BEL (one ended by ST has the ST's ESC as its last ESC); any other escape.
_COMPLETE = re.compile(rb"""\x1b(?:
      \[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]
    | [\]P_^X][^\x07\x1b]*\x07
    | [\x20-\x2f]+[\x30-\x7e]
    | [\x30-\x4f\x51-\x57\x59\x5a\x5c\x60-\x7e])""", re.X)   # not [ ] P X ^ _
MAX_PARAMS = 16
MAX_HELD = 4096           # longest unfinished string (OSC, DCS) held back for the next read
MAX_MARKS = 2             # combining marks kept per base character
_TAIL = 64
# For the combining-mark rule, on decoded text: escape sequences as libvterm's
# parser delimits them, single controls, and runs of text.
_TEXT_TOKENS = re.compile("\x1b\\[[\x00-\x17\x19\x1c-\x1f\x30-\x3f\x7f]*[\x20-\x2f]*[\x40-\x7e]?"
                          "|\x1b[\\]P_^X][^\x07\x1b\x18\x1a]*\x07?"
                          "|\x1b[\x20-\x2f]*[\x30-\x7e]?"
                          "|[\x00-\x1f\x7f]"
                          "|[^\x00-\x1f\x7f\x1b]+")


def ends_in_ground(data: bytes, end: int, before: bool) -> bool:
    """Whether libvterm's parser is outside any escape sequence or string after
    ``data[:end]``, given whether it was before ``data``. libvterm aborts a
    string at any ESC, so the last ESC decides; conservative on anything odd."""
    esc = data.rfind(b"\x1b", 0, end)
    if esc < 0:
        return before
    return _COMPLETE.match(data, esc, end) is not None


class InputGuard:
    """Stateful filter between the PTY and libvterm; one per emulator."""

    __slots__ = ("_carry", "_tail", "_marks", "_glyph_last", "ground", "ground_before")

    def __init__(self) -> None:
        self._glyph_last = False   # the last read ended with a one-column glyph (for REP)
        self._marks = -1           # combining marks since the last base character (-1: none)
        self._carry = b""          # an unfinished sequence held back from the last chunk
        self._tail = b""           # the end of what was last let through (REP context)
        self.ground = True         # parser state after everything let through so far
        self.ground_before = True  # ... and before the chunk just filtered

    @property
    def held(self) -> bool:
        """Bytes of an unfinished sequence (or character) are held back: the
        next read's first bytes are not text of their own."""
        return bool(self._carry)

    def filter(self, data: bytes) -> bytes:
        """The bytes libvterm may safely see for ``data``; may hold some back."""
        buf = self._carry + data if self._carry else data
        self._carry = b""
        unfinished = b""
        if not buf.isascii():
            buf, unfinished = _valid_utf8(buf)
            buf = self._limit_marks(buf)
        elif buf:
            self._marks = 0 if _ends_in_text(buf) else -1
        # Last: dropping bytes above may have formed new sequences; this sees them.
        out = self._rewrite(buf) if _SUSPECT.search(buf) else buf
        self._carry += unfinished
        self.ground_before = self.ground
        if out:
            self._glyph_last = _ends_in_glyph(out, self.ground)
            self.ground = ends_in_ground(out, len(out), self.ground)
            self._tail = out[-_TAIL:] if len(out) >= _TAIL else (self._tail + out)[-_TAIL:]
        return out

    def _rewrite(self, buf: bytes) -> bytes:
        out: list[bytes] = []
        pos = 0
        for match in _TOKEN.finditer(buf):
            out.append(buf[pos:match.start()])
            pos = match.end()
            token = match.group(0)
            if token == b"\x1b":                # ESC at the end: wait
                self._carry = token
                continue
            if token[1] in b"]P_^X":            # a string (title...) not ended yet: wait,
                if len(token) <= MAX_HELD:      # libvterm 0.1 loses strings cut by a write
                    self._carry = token
                else:
                    out.append(token)
                continue
            params, intermediates, final = match.groups()
            if not final and pos == len(buf):  # unfinished CSI: wait, but keep it small
                self._carry = b"\x1b[" + _limit(params) + intermediates
                continue
            if (final == b"b" and not intermediates
                    and not params.translate(None, _CONTROLS).strip(b"0123456789;:")
                    and not self._rep_safe(out)):
                # Keep its controls; CAN (silent) so that what was before and what
                # comes after cannot join into a new sequence.
                out.append(params.translate(None, bytes(range(0x20, 0x80))) + b"\x18")
                continue
            if len(params) >= 6 or params.translate(None, _CONTROLS) != params:
                params = _limit(params)
            controls = params[:len(params) - len(params.lstrip(_CONTROLS))]
            params = params[len(controls):]
            if final in (b"h", b"l") and params[:1] == b"?" and b";" in params \
                    and not intermediates:
                # DECSET/DECRST with several modes: libvterm 0.1 applies only the
                # first; xterm (and the mode tracker) all of them. One each.
                out.append(controls + b"".join(b"\x1b[?" + mode + final
                                               for mode in params[1:].split(b";") if mode))
                continue
            out.append(controls + b"\x1b[" + params + intermediates + final)
        out.append(buf[pos:])
        return b"".join(out)

    def _limit_marks(self, data: bytes) -> bytes:
        """Apply the combining-mark rule; ``self._marks`` carries across chunks."""
        if not data:
            return data
        if not data.translate(None, _marks()[1]) or not _has_mark(
                text := data.decode("utf-8", "surrogateescape")):
            self._marks = 0 if _ends_in_text(data) else -1
            return data
        out, count, open_escape = [], self._marks, False
        for token in _TEXT_TOKENS.findall(text):
            if token[0] < " " or token[0] == "\x7f":     # control or escape sequence
                out.append(token)
                count = -1
                open_escape = token[0] == "\x1b" and not _finished(token)
                continue
            if not _has_mark(token):
                out.append(token)
                count = 0
                continue
            kept = []
            for char in token:
                if not _is_mark(char):
                    count = 0
                elif 0 <= count < MAX_MARKS:
                    count += 1
                else:
                    if open_escape:                  # keep an unfinished escape from
                        kept.append("\x18")          # joining what follows (CAN is silent)
                        open_escape = False
                    continue
                kept.append(char)
                open_escape = False
            out.append("".join(kept))
        self._marks = count
        return "".join(out).encode("utf-8", "surrogateescape")

    def _rep_safe(self, out: list[bytes]) -> bool:
        """Whether libvterm's last glyph before this REP surely had width >= 1."""
        chunk = b"".join(out)
        ctx = self._tail + chunk
        chunk_start = len(self._tail)
        end = len(ctx)
        for _ in range(8):                      # skip SGR and other complete CSIs
            csi = _CSI_AT_END.search(ctx, max(0, end - 256), end)
            if csi is None:
                break
            end = csi.start()
        if end == chunk_start:                  # the previous read ended with the glyph
            return self._glyph_last
        if end == 0:
            return False
        last = ctx[end - 1]
        if 0x20 <= last < 0x7F:
            start = end - 1
        elif last >= 0x80:
            start = _utf8_start(ctx, end)
            if start < 0 or not _has_width(ctx[start:end]):
                return False
        else:
            return False
        esc = ctx.rfind(b"\x1b", 0, start)
        if esc >= 0:
            return _COMPLETE.match(ctx, esc, start) is not None
        return start >= chunk_start and self.ground


def _valid_utf8(data: bytes) -> tuple[bytes, bytes]:
    """(valid UTF-8 without C1 code points, an unfinished last character to hold
    back). Invalid sequences become U+FFFD here, so libvterm's decoder never
    holds a partial character across controls and escape sequences."""
    cut = len(data)
    for start in range(len(data) - 1, max(len(data) - 5, -1), -1):
        lead = data[start]
        if lead & 0xC0 != 0x80:
            need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            if 0xC2 <= lead < 0xF5 and len(data) - start < need:
                cut = start
            break
    head = data[:cut]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        head = head.decode("utf-8", "replace").encode("utf-8")
    if b"\xc2" in head:
        head = _C1.sub(b"", head)
    return head, data[cut:]


def _finished(escape: str) -> bool:
    """Whether an escape token from _TEXT_TOKENS has its final byte."""
    last = escape[-1]
    if escape.startswith("\x1b["):
        return len(escape) > 2 and "\x40" <= last <= "\x7e"
    if escape[1:2] in ("]", "P", "_", "^", "X"):
        return True                                  # strings end at BEL or at the next ESC
    return len(escape) > 1 and "\x30" <= last <= "\x7e"


def _ends_in_glyph(data: bytes, ground_before: bool) -> bool:
    """Whether ``data`` ends with a one-column character printed as text (the
    parser in its ground state before it): what a REP at the start of the next
    read would repeat."""
    last = data[-1]
    if 0x20 <= last < 0x7F:
        start = len(data) - 1
    elif last >= 0x80:
        start = _utf8_start(data, len(data))
        if start < 0 or not _has_width(data[start:]):
            return False
    else:
        return False
    return ends_in_ground(data, start, ground_before)


def _ends_in_text(data: bytes) -> bool:
    """Whether the last thing in ``data`` is a printed character (not a control,
    not part of an escape sequence)."""
    if data[-1] < 0x20 or data[-1] == 0x7F:
        return False
    esc = data.rfind(b"\x1b")
    if esc < 0:
        return True
    match = _COMPLETE.match(data, esc)
    return match is not None and match.end() < len(data)


@lru_cache(maxsize=1)
def _marks() -> tuple[re.Pattern[str], bytes]:
    """Code points libvterm may merge into the previous glyph: its table is
    Unicode's non-spacing, enclosing and format characters plus the Hangul
    medial vowels. Returns (BMP marks as a character class, the bytes that do
    not start one). The class is kept to the BMP so the regular expression
    engine can use a bitmap (a class with astral ranges is checked range by
    range, at 1 MB/s); astral marks are looked up one by one. Deleting the
    bytes that cannot start a mark (``bytes.translate``, C speed) leaves
    nothing for ASCII, Latin and CJK text, which then skips decoding. Built on
    first use, in about 20 ms."""
    ranges, start, leads = [], None, set(range(0xF0, 0xF5))
    for code in range(0x10001):
        mark = code < 0x10000 and (0x1160 <= code <= 0x11FF
                                   or unicodedata.category(chr(code)) in _MARK_CATEGORIES)
        if mark:
            leads.add(chr(code).encode("utf-8", "surrogatepass")[0])
        if mark and start is None:
            start = code
        elif not mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    return (re.compile("[" + "".join(ranges) + "]"),
            bytes(b for b in range(256) if b not in leads))


def _has_mark(text: str) -> bool:
    if _marks()[0].search(text):
        return True
    return any(unicodedata.category(c) in _MARK_CATEGORIES for c in _ASTRAL.findall(text))


def _is_mark(char: str) -> bool:
    if char <= "\uffff":
        return _marks()[0].match(char) is not None
    return unicodedata.category(char) in _MARK_CATEGORIES


def _limit(params: bytes) -> bytes:
    """At most MAX_PARAMS parameters, each at most 99999. Embedded controls move
    in front of the sequence: libvterm executes them as they arrive, before the
    sequence completes, so the effect is the same, and scanners downstream (the
    mode tracker) see every sequence whole."""
    controls = bytes(c for c in params if c < 0x20 or c == 0x7F)
    core = params.translate(None, _CONTROLS)
    core = b"".join(_SEPARATORS.split(core)[:2 * MAX_PARAMS - 1])
    core = _LONG_NUMBER.sub(lambda m: b"%d" % min(int(m[0]), 99999), core)
    return controls + core


def _utf8_start(data: bytes, end: int) -> int:
    """Start of the UTF-8 character ending at ``end``, or -1 if malformed."""
    for start in range(end - 1, max(-1, end - 5), -1):
        if data[start] & 0xC0 != 0x80:
            return start if data[start] >= 0xC0 else -1
    return -1


def _has_width(char: bytes) -> bool:
    """Surely exactly one column in libvterm's width table: U+00A0-U+07FF (no
    wide or zero-width letters there apart from marks), and box drawing and
    blocks (U+2500-U+259F), which is what ncurses repeats. A wide character
    repeated up to the margin has its right half written past the row."""
    try:
        text = char.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if len(text) != 1 or not (0xA0 <= ord(text) < 0x800 or 0x2500 <= ord(text) < 0x25A0):
        return False
    return unicodedata.category(text) not in ("Mn", "Me", "Cf")
