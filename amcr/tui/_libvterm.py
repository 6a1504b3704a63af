"""ctypes declarations for libvterm, mirroring /usr/include/vterm.h (libvterm 0.1.x).

Kept apart from the emulator so the struct layouts can be checked on their own
(tests compare ``sizeof`` and field offsets with what gcc computes from the
header) and so nothing else in amcr has to know about ctypes.

The library is opened with ``ctypes.PyDLL``, which keeps the GIL held across
calls. That is deliberate: libvterm calls back into Python for scrollback and
damage while it parses, and re-entering from a thread that still holds the GIL
is much cheaper than re-acquiring it on every callback. amcr runs its emulators
on the event-loop thread, so releasing the GIL would buy nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_size_t, c_uint8,
                    c_uint32, c_void_p)
from functools import lru_cache

SONAMES = ("libvterm.so.0", "libvterm.so")

MAX_CHARS_PER_CELL = 6
CELL_SIZE = 40                 # sizeof(VTermScreenCell), checked against gcc in the tests

# VTermProp
PROP_CURSORVISIBLE, PROP_CURSORBLINK, PROP_ALTSCREEN, PROP_TITLE = 1, 2, 3, 4
PROP_ICONNAME, PROP_REVERSE, PROP_CURSORSHAPE, PROP_MOUSE = 5, 6, 7, 8

# VTermColor.type bits
COLOR_INDEXED, COLOR_DEFAULT_FG, COLOR_DEFAULT_BG = 0x01, 0x02, 0x04

# VTermDamageSize: merge damage and defer scrolls until vterm_screen_flush_damage,
# so a flood of scrolling text costs a couple of callbacks per feed, not per line.
DAMAGE_SCROLL = 3

ATTRS_ALL_MASK = (1 << 9) - 1
N_ATTRS = 10                   # VTermAttr values 1..9 (bold ... background)

# VTermModifier / VTermKey (vterm_keycodes.h), used by the key-encoding cross-check
MOD_SHIFT, MOD_ALT, MOD_CTRL = 1, 2, 4
KEY_ENTER, KEY_TAB, KEY_BACKSPACE, KEY_ESCAPE = 1, 2, 3, 4
KEY_UP, KEY_DOWN, KEY_LEFT, KEY_RIGHT = 5, 6, 7, 8
KEY_INS, KEY_DEL, KEY_HOME, KEY_END, KEY_PAGEUP, KEY_PAGEDOWN = 9, 10, 11, 12, 13, 14
KEY_FUNCTION_0 = 256


class Pos(Structure):
    _fields_ = [("row", c_int), ("col", c_int)]


class Rect(Structure):
    _fields_ = [("start_row", c_int), ("end_row", c_int),
                ("start_col", c_int), ("end_col", c_int)]


class Color(Structure):
    """The VTermColor union read as its widest member: type, then 3 bytes."""
    _fields_ = [("type", c_uint8), ("red", c_uint8), ("green", c_uint8), ("blue", c_uint8)]


class ScreenCell(Structure):
    """VTermScreenCell. ``attrs`` stays a raw word: styles are interned by its value."""
    _fields_ = [("chars", c_uint32 * MAX_CHARS_PER_CELL), ("width", ctypes.c_byte),
                ("attrs", c_uint32), ("fg", Color), ("bg", Color)]


# Bits of VTermScreenCellAttrs as gcc lays them out (checked in the tests).
ATTR_BOLD, ATTR_UNDERLINE_SHIFT, ATTR_UNDERLINE_MASK = 0x1, 1, 0x6
ATTR_ITALIC, ATTR_BLINK, ATTR_REVERSE, ATTR_STRIKE = 0x8, 0x10, 0x20, 0x40

DamageFn = CFUNCTYPE(c_int, Rect, c_void_p)
MoveRectFn = CFUNCTYPE(c_int, Rect, Rect, c_void_p)
MoveCursorFn = CFUNCTYPE(c_int, Pos, Pos, c_int, c_void_p)
SetTermPropFn = CFUNCTYPE(c_int, c_int, c_void_p, c_void_p)
BellFn = CFUNCTYPE(c_int, c_void_p)
ResizeFn = CFUNCTYPE(c_int, c_int, c_int, c_void_p)
# cells as c_void_p: an int, so the callback can copy them with one string_at
SbPushlineFn = CFUNCTYPE(c_int, c_int, c_void_p, c_void_p)
SbPoplineFn = CFUNCTYPE(c_int, c_int, c_void_p, c_void_p)
# s as c_void_p, not c_char_p: replies are length-delimited, not NUL-terminated
OutputFn = CFUNCTYPE(None, c_void_p, c_size_t, c_void_p)


class ScreenCallbacks(Structure):
    """VTermScreenCallbacks. Trailing spare NULL slots keep newer libvterm
    releases (0.3 added ``sb_clear``) from reading past the end of our struct."""
    _fields_ = [("damage", DamageFn), ("moverect", MoveRectFn),
                ("movecursor", MoveCursorFn), ("settermprop", SetTermPropFn),
                ("bell", BellFn), ("resize", ResizeFn),
                ("sb_pushline", SbPushlineFn), ("sb_popline", SbPoplineFn),
                ("_spare", c_void_p * 4)]


class LibVTermMissing(OSError):
    """libvterm0 is not installed (or cannot be loaded)."""


def _declare(lib: ctypes.PyDLL) -> None:
    vt, scr, st = c_void_p, c_void_p, c_void_p
    sigs: dict[str, tuple[object, list[object]]] = {
        "vterm_new": (vt, [c_int, c_int]),
        "vterm_free": (None, [vt]),
        "vterm_set_utf8": (None, [vt, c_int]),
        "vterm_set_size": (None, [vt, c_int, c_int]),
        "vterm_get_size": (None, [vt, POINTER(c_int), POINTER(c_int)]),
        "vterm_input_write": (c_size_t, [vt, c_char_p, c_size_t]),
        "vterm_output_set_callback": (None, [vt, OutputFn, c_void_p]),
        "vterm_obtain_screen": (scr, [vt]),
        "vterm_obtain_state": (st, [vt]),
        "vterm_screen_set_callbacks": (None, [scr, POINTER(ScreenCallbacks), c_void_p]),
        "vterm_screen_enable_altscreen": (None, [scr, c_int]),
        "vterm_screen_set_damage_merge": (None, [scr, c_int]),
        "vterm_screen_flush_damage": (None, [scr]),
        "vterm_screen_reset": (None, [scr, c_int]),
        "vterm_screen_get_cell": (c_int, [scr, Pos, POINTER(ScreenCell)]),
        "vterm_screen_get_text": (c_size_t, [scr, c_char_p, c_size_t, Rect]),
        "vterm_screen_get_attrs_extent": (c_int, [scr, POINTER(Rect), Pos, c_int]),
        "vterm_screen_is_eol": (c_int, [scr, Pos]),
        "vterm_screen_convert_color_to_rgb": (None, [scr, POINTER(Color)]),
        "vterm_state_get_cursorpos": (None, [st, POINTER(Pos)]),
        "vterm_state_get_default_colors": (None, [st, POINTER(Color), POINTER(Color)]),
        "vterm_state_get_penattr": (c_int, [st, c_int, c_void_p]),
        "vterm_keyboard_unichar": (None, [vt, c_uint32, c_int]),
        "vterm_keyboard_key": (None, [vt, c_int, c_int]),
        "vterm_keyboard_start_paste": (None, [vt]),
        "vterm_keyboard_end_paste": (None, [vt]),
        "vterm_mouse_move": (None, [vt, c_int, c_int, c_int]),
        "vterm_mouse_button": (None, [vt, c_int, ctypes.c_bool, c_int]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


@lru_cache(maxsize=1)
def load() -> ctypes.PyDLL:
    """Open libvterm once per process; raise LibVTermMissing with the fix if absent."""
    names = list(SONAMES)
    found = ctypes.util.find_library("vterm")
    if found and found not in names:
        names.append(found)
    for name in names:
        try:
            lib = ctypes.PyDLL(name)
        except OSError:
            continue
        _declare(lib)
        return lib
    raise LibVTermMissing("libvterm not found (apt-get install libvterm0)")


def new_abi(lib: ctypes.PyDLL) -> bool:
    """True for libvterm >= 0.2, where string properties (the title) arrive as
    VTermStringFragment pieces instead of one NUL-terminated string."""
    return hasattr(lib, "vterm_state_set_selection_callbacks")


def read_string(value: int, new_abi: bool, parts: list[bytes]) -> bytes | None:
    """A string property (the title) from the VTermValue at ``value``. 0.1
    passes one NUL-terminated string; 0.2+ passes VTermStringFragment pieces
    ({const char *str; size_t len:30, initial:1, final:1}), collected in
    ``parts``: None until the final one."""
    ptr = ctypes.c_void_p.from_address(value).value
    if not new_abi:
        return ctypes.string_at(ptr) if ptr else b""
    bits = ctypes.c_size_t.from_address(value + 8).value
    length, initial, final = bits & 0x3FFFFFFF, bits >> 30 & 1, bits >> 31 & 1
    if initial:
        parts.clear()
    parts.append(ctypes.string_at(ptr, length) if ptr else b"")
    return b"".join(parts) if final else None


def read_pen(lib: ctypes.PyDLL, state: int) -> bytes:
    """Every pen attribute (VTermValue, 8 bytes each, VTermAttr order), to compare
    pens and to rebuild one with SGR (``_cells.sgr``)."""
    value = (c_uint8 * 8)()
    out = bytearray()
    for attr in range(1, N_ATTRS):
        ctypes.memset(value, 0, 8)
        lib.vterm_state_get_penattr(state, attr, value)
        out += bytes(value)
    return bytes(out)
