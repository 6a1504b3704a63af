"""Key presses, pastes and mouse events -> the bytes a program in a terminal expects.

The vocabulary is prompt_toolkit's (``Keys`` names, ``KeyPress.data``,
``MouseEvent``), so the multiplexer maps what prompt_toolkit parsed from the
user's terminal straight to what the container's program reads, as xterm would
have sent it: ``encode_key(press.key, press.data, emulator.modes)``.

Why a table of our own rather than libvterm's ``vterm_keyboard_key``: the
emulator behind the interface may change (the multiplexer must not care), the
modes libvterm 0.1 keeps for itself are not readable anyway (amcr follows them
in ``amcr.tui.modes``), and a table is what a reader and a test can check line
by line. The tests compare it with libvterm's own encoder wherever both define
the key, and with prompt_toolkit's parser (encoding then parsing gives the key
back).
"""
from __future__ import annotations

from prompt_toolkit.keys import Keys
from prompt_toolkit.mouse_events import MouseButton, MouseEvent, MouseEventType, MouseModifier

from amcr.tui.emulator import Modes, MouseEncoding, MouseTracking

ESC = "\x1b"
CSI = ESC + "["
SS3 = ESC + "O"

# Cursor keys: CSI or, in application cursor mode (DECCKM), SS3, then the letter.
_CURSOR = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
# Editing and function keys sent as CSI number ~.
_TILDE = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6, "f5": 15, "f6": 17,
          "f7": 18, "f8": 19, "f9": 20, "f10": 21, "f11": 23, "f12": 24}
# F1-F4 are SS3 P..S unmodified, CSI 1;m P..S with modifiers.
_PQRS = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
# xterm's modifier parameter: 1 + shift(1) + alt(2) + ctrl(4).
_SHIFT, _ALT, _CTRL = 1, 2, 4
# Ctrl with a digit, as xterm sends it without modifyOtherKeys.
_CTRL_DIGIT = {"2": "\x00", "3": "\x1b", "4": "\x1c", "5": "\x1d", "6": "\x1e",
               "7": "\x1f", "8": "\x7f"}
_CTRL_PUNCT = {"@": "\x00", "\\": "\x1c", "]": "\x1d", "^": "\x1e", "_": "\x1f"}
# Keys prompt_toolkit reports that are not key presses for the program.
_NOT_KEYS = {k.value for k in (Keys.CPRResponse, Keys.Vt100MouseEvent, Keys.WindowsMouseEvent,
                               Keys.ScrollUp, Keys.ScrollDown, Keys.SIGINT, Keys.Ignore)}

PASTE_START, PASTE_END = CSI + "200~", CSI + "201~"


def encode_key(key: str | Keys, data: str, modes: Modes, *, alt: bool = False) -> bytes:
    """The bytes for one prompt_toolkit key press. ``alt`` adds the Meta
    modifier (prompt_toolkit itself reports Alt-x as Escape, then x, which this
    encodes as ESC then x, the same bytes)."""
    name = key.value if isinstance(key, Keys) else key
    if name in _NOT_KEYS:
        return b""
    if name == Keys.BracketedPaste.value:
        return encode_paste(data, modes)
    if name == Keys.Any.value or len(name) == 1:           # typed text
        text = data or name
        return ((ESC if alt else "") + text).encode("utf-8", "surrogateescape")
    mods, base = _split_modifiers(name)
    mods |= _ALT if alt else 0
    if base in _CURSOR:
        letter = _CURSOR[base]
        if mods:
            return f"{CSI}1;{1 + mods}{letter}".encode()
        return ((SS3 if modes.app_cursor else CSI) + letter).encode()
    if base.startswith("f") and base[1:].isdigit():
        return _function_key(int(base[1:]), mods)
    if base in _TILDE:
        return _tilde(_TILDE[base], mods)
    if base == "tab":                                       # Shift-Tab is back-tab
        return ((ESC if mods & _ALT else "") + (CSI + "Z" if mods & _SHIFT else "\t")).encode()
    plain = _plain(base, mods & _CTRL, data)
    if plain is None:
        return b""
    return ((ESC if mods & _ALT else "") + plain).encode()


def encode_paste(text: str, modes: Modes) -> bytes:
    """Pasted text as the program should receive it. Line feeds become carriage
    returns, as typed Enter would send (tmux does the same). Paste markers
    inside the text are removed, repeatedly, so a pasted ``ESC[201~`` cannot end
    the paste early and have the rest typed as commands."""
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    while True:
        cleaned = text
        for marker in (PASTE_START, PASTE_END, "\x9b200~", "\x9b201~"):
            cleaned = cleaned.replace(marker, "")
        if cleaned == text:
            break
        text = cleaned
    if modes.bracketed_paste:
        text = PASTE_START + text + PASTE_END
    return text.encode("utf-8", "surrogateescape")


def encode_mouse(event: MouseEvent, modes: Modes) -> bytes:
    """A prompt_toolkit mouse event, if the program asked for this kind, in the
    encoding it asked for. ``event.position`` must be in the emulator's cells
    (0-based column x, row y), which it is inside the terminal's UIControl."""
    tracking, kind = modes.mouse, event.event_type
    if tracking is MouseTracking.OFF:
        return b""
    press = kind == MouseEventType.MOUSE_DOWN
    release = kind == MouseEventType.MOUSE_UP
    wheel = kind in (MouseEventType.SCROLL_UP, MouseEventType.SCROLL_DOWN)
    motion = kind == MouseEventType.MOUSE_MOVE
    held = event.button in (MouseButton.LEFT, MouseButton.MIDDLE, MouseButton.RIGHT)
    if tracking is MouseTracking.X10 and not press:
        return b""
    if motion and not (tracking is MouseTracking.ANY
                       or (tracking is MouseTracking.BUTTON and held)):
        return b""
    if wheel:
        code = 64 if kind == MouseEventType.SCROLL_UP else 65
    else:
        code = {MouseButton.LEFT: 0, MouseButton.MIDDLE: 1, MouseButton.RIGHT: 2}.get(
            event.button, 3)
        code += 32 if motion else 0
    if tracking is not MouseTracking.X10:
        mods = event.modifiers
        code |= (4 if MouseModifier.SHIFT in mods else 0) \
            | (8 if MouseModifier.ALT in mods else 0) \
            | (16 if MouseModifier.CONTROL in mods else 0)
    x, y = event.position.x + 1, event.position.y + 1
    encoding = modes.mouse_encoding
    if encoding is MouseEncoding.SGR:              # release keeps its button, ends in m
        if release and code & 3 == 3:
            code &= ~3
        return f"{CSI}<{code};{x};{y}{'m' if release else 'M'}".encode()
    if release:
        code = (code & ~3) | 3                     # the old encodings cannot say which
    if encoding is MouseEncoding.URXVT:
        return f"{CSI}{32 + code};{x};{y}M".encode()
    if encoding is MouseEncoding.UTF8:
        if max(x, y) > 2015:
            return b""
        return (CSI + "M" + chr(32 + code) + chr(32 + x) + chr(32 + y)).encode()
    if max(x, y) > 223:                            # one byte each: beyond 223 cannot be said
        return b""
    return (CSI + "M").encode() + bytes((32 + code, 32 + x, 32 + y))


def encode_focus(focused: bool, modes: Modes) -> bytes:
    """Focus in/out reports, for programs that enabled them (mode 1004)."""
    if not modes.focus_events:
        return b""
    return (CSI + ("I" if focused else "O")).encode()


def _split_modifiers(name: str) -> tuple[int, str]:
    """"c-s-left" -> (ctrl|shift, "left"); "s-tab" -> (shift, "tab")."""
    mods = 0
    while len(name) > 2 and name[1] == "-" and name[0] in "cs":
        mods |= _CTRL if name[0] == "c" else _SHIFT
        name = name[2:]
    return mods, name


def _function_key(number: int, mods: int) -> bytes:
    """F1-F24. F13-F24 are xterm's shifted F1-F12 (as prompt_toolkit reads them)."""
    if number > 12:
        number, mods = number - 12, mods | _SHIFT
    key = f"f{number}"
    if key in _PQRS:
        return (f"{CSI}1;{1 + mods}{_PQRS[key]}" if mods else SS3 + _PQRS[key]).encode()
    return _tilde(_TILDE[key], mods)


def _tilde(number: int, mods: int) -> bytes:
    return (f"{CSI}{number};{1 + mods}~" if mods else f"{CSI}{number}~").encode()


def _plain(base: str, ctrl: int, data: str) -> str | None:
    """Keys that are characters: Escape, and Ctrl with a letter (Enter is c-m,
    Tab c-i, Backspace c-h in prompt_toolkit), a digit or punctuation."""
    if base == "escape":
        return ESC
    if not ctrl:
        return None
    if base == "h":
        # prompt_toolkit reports Backspace (DEL) and Ctrl-H (BS) both as c-h; the
        # raw byte tells them apart. Backspace is DEL on every modern terminal.
        return data if data in ("\x08", "\x7f") else "\x7f"
    if len(base) == 1 and "a" <= base <= "z":
        return chr(ord(base) - ord("a") + 1)
    if base in _CTRL_PUNCT:
        return _CTRL_PUNCT[base]
    if len(base) == 1 and base.isdigit():
        return _CTRL_DIGIT.get(base, base)
    if base == "space":
        return "\x00"
    return None
