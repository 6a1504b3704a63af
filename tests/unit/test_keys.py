"""Key, paste, mouse and focus encoding (amcr.tui.keys), without a terminal.

Three anchors: explicit tables (what xterm sends), libvterm's own encoder for
every key both define, and prompt_toolkit's parser (encode, parse, same key).
"""
from __future__ import annotations

import pytest
from prompt_toolkit.data_structures import Point
from prompt_toolkit.input.vt100_parser import Vt100Parser
from prompt_toolkit.key_binding.key_processor import KeyPress
from prompt_toolkit.keys import Keys
from prompt_toolkit.mouse_events import MouseButton, MouseEvent, MouseEventType, MouseModifier

from amcr.tui.emulator import Modes, MouseEncoding, MouseTracking
from amcr.tui.keys import encode_focus, encode_key, encode_mouse, encode_paste

NORMAL = Modes()
APP = Modes(app_cursor=True)


@pytest.mark.parametrize("key, normal, app", [
    (Keys.Up, b"\x1b[A", b"\x1bOA"),
    (Keys.Down, b"\x1b[B", b"\x1bOB"),
    (Keys.Right, b"\x1b[C", b"\x1bOC"),
    (Keys.Left, b"\x1b[D", b"\x1bOD"),
    (Keys.Home, b"\x1b[H", b"\x1bOH"),
    (Keys.End, b"\x1b[F", b"\x1bOF"),
    (Keys.Insert, b"\x1b[2~", b"\x1b[2~"),
    (Keys.Delete, b"\x1b[3~", b"\x1b[3~"),
    (Keys.PageUp, b"\x1b[5~", b"\x1b[5~"),
    (Keys.PageDown, b"\x1b[6~", b"\x1b[6~"),
    (Keys.F1, b"\x1bOP", b"\x1bOP"),
    (Keys.F4, b"\x1bOS", b"\x1bOS"),
    (Keys.F5, b"\x1b[15~", b"\x1b[15~"),
    (Keys.F6, b"\x1b[17~", b"\x1b[17~"),
    (Keys.F10, b"\x1b[21~", b"\x1b[21~"),
    (Keys.F11, b"\x1b[23~", b"\x1b[23~"),
    (Keys.F12, b"\x1b[24~", b"\x1b[24~"),
])
def test_cursor_and_function_keys_follow_application_cursor_mode(key, normal, app):
    assert encode_key(key, "", NORMAL) == normal
    assert encode_key(key, "", APP) == app


@pytest.mark.parametrize("key, expected", [
    (Keys.ShiftUp, b"\x1b[1;2A"), (Keys.ControlUp, b"\x1b[1;5A"),
    (Keys.ControlShiftLeft, b"\x1b[1;6D"), (Keys.ControlHome, b"\x1b[1;5H"),
    (Keys.ShiftEnd, b"\x1b[1;2F"), (Keys.ControlDelete, b"\x1b[3;5~"),
    (Keys.ShiftPageUp, b"\x1b[5;2~"), (Keys.ControlF1, b"\x1b[1;5P"),
    (Keys.ControlF5, b"\x1b[15;5~"), (Keys.F13, b"\x1b[1;2P"), (Keys.F17, b"\x1b[15;2~"),
    (Keys.F24, b"\x1b[24;2~"), (Keys.ControlF13, b"\x1b[1;6P"), (Keys.BackTab, b"\x1b[Z"),
])
def test_modifiers_use_xterm_parameters_in_both_modes(key, expected):
    assert encode_key(key, "", NORMAL) == expected
    assert encode_key(key, "", APP) == expected      # modified keys are always CSI


@pytest.mark.parametrize("key, data, expected", [
    (Keys.Enter, "\r", b"\r"), (Keys.ControlJ, "\n", b"\n"), (Keys.Tab, "\t", b"\t"),
    (Keys.Backspace, "\x7f", b"\x7f"), (Keys.ControlH, "\x08", b"\x08"),
    (Keys.Backspace, "", b"\x7f"), (Keys.Escape, "\x1b", b"\x1b"),
    (Keys.ControlA, "\x01", b"\x01"), (Keys.ControlC, "\x03", b"\x03"),
    (Keys.ControlZ, "\x1a", b"\x1a"), (Keys.ControlSpace, "\x00", b"\x00"),
    (Keys.ControlBackslash, "\x1c", b"\x1c"), (Keys.ControlSquareClose, "\x1d", b"\x1d"),
    (Keys.ControlUnderscore, "\x1f", b"\x1f"), (Keys.Control2, "", b"\x00"),
    (Keys.Control8, "", b"\x7f"), (Keys.Control1, "", b"1"),
    ("a", "a", b"a"), ("é", "é", "é".encode()), (Keys.Any, "日本", "日本".encode()),
])
def test_characters_and_control_keys(key, data, expected):
    assert encode_key(key, data, NORMAL) == expected


def test_alt_prefixes_escape_or_adds_the_meta_modifier():
    assert encode_key("x", "x", NORMAL, alt=True) == b"\x1bx"
    assert encode_key(Keys.ControlA, "\x01", NORMAL, alt=True) == b"\x1b\x01"
    assert encode_key(Keys.Up, "", APP, alt=True) == b"\x1b[1;3A"
    assert encode_key(Keys.F5, "", NORMAL, alt=True) == b"\x1b[15;3~"


def test_events_that_are_not_key_presses_send_nothing():
    for key in (Keys.CPRResponse, Keys.Vt100MouseEvent, Keys.ScrollUp, Keys.SIGINT, Keys.Ignore):
        assert encode_key(key, "\x1b[3;4R", NORMAL) == b""


def _libvterm_keyboard():
    from amcr.tui import _libvterm as lv
    from amcr.tui.vterm import VTermEmulator
    try:
        emu = VTermEmulator(24, 80)
    except lv.LibVTermMissing:
        pytest.skip("libvterm0 not installed")
    return emu, lv


def test_matches_libvterms_own_encoder_for_every_key_and_modifier():
    emu, lv = _libvterm_keyboard()
    names = {lv.KEY_UP: "up", lv.KEY_DOWN: "down", lv.KEY_LEFT: "left", lv.KEY_RIGHT: "right",
             lv.KEY_INS: "insert", lv.KEY_DEL: "delete", lv.KEY_HOME: "home",
             lv.KEY_END: "end", lv.KEY_PAGEUP: "pageup", lv.KEY_PAGEDOWN: "pagedown"}
    names.update({lv.KEY_FUNCTION_0 + n: f"f{n}" for n in range(1, 13)})
    prefixes = {0: "", lv.MOD_SHIFT: "s-", lv.MOD_CTRL: "c-", lv.MOD_SHIFT | lv.MOD_CTRL: "c-s-"}
    checked = 0
    for app in (False, True):
        emu.feed(b"\x1b[?1h" if app else b"\x1b[?1l")
        assert emu.modes.app_cursor is app
        for code, name in names.items():
            for mod, prefix in prefixes.items():
                emu._lib.vterm_keyboard_key(emu._vt, code, mod)
                assert encode_key(prefix + name, "", emu.modes) == emu.take_output(), prefix + name
                checked += 1
    for code, key, data in ((lv.KEY_ENTER, Keys.Enter, "\r"), (lv.KEY_TAB, Keys.Tab, "\t"),
                            (lv.KEY_BACKSPACE, Keys.Backspace, "\x7f"),
                            (lv.KEY_ESCAPE, Keys.Escape, "\x1b")):
        emu._lib.vterm_keyboard_key(emu._vt, code, 0)
        assert encode_key(key, data, NORMAL) == emu.take_output()
    emu._lib.vterm_keyboard_key(emu._vt, lv.KEY_TAB, lv.MOD_SHIFT)
    assert encode_key(Keys.BackTab, "", NORMAL) == emu.take_output()
    for letter in "abcxyz":
        emu._lib.vterm_keyboard_unichar(emu._vt, ord(letter), lv.MOD_CTRL)
        assert encode_key(f"c-{letter}", "", NORMAL) == emu.take_output()
        emu._lib.vterm_keyboard_unichar(emu._vt, ord(letter), lv.MOD_ALT)
        assert encode_key(letter, letter, NORMAL, alt=True) == emu.take_output()
    assert checked == 2 * 22 * 4


@pytest.mark.parametrize("key", [
    Keys.Up, Keys.Down, Keys.Left, Keys.Right, Keys.Home, Keys.End, Keys.Insert, Keys.Delete,
    Keys.PageUp, Keys.PageDown, Keys.BackTab, Keys.ControlUp, Keys.ShiftDown,
    Keys.ControlShiftRight, Keys.ControlHome, Keys.ShiftEnd, Keys.ControlDelete,
    Keys.ShiftPageUp, Keys.ControlPageDown, Keys.ControlShiftDelete,
    *[getattr(Keys, f"F{n}") for n in range(1, 25) if n not in (3, 15)],
    *[getattr(Keys, f"ControlF{n}") for n in range(1, 25) if n not in (3, 15)],
    Keys.ControlA, Keys.ControlZ, Keys.ControlSpace, Keys.Enter, Keys.Tab, Keys.Escape,
])
def test_prompt_toolkit_parses_our_bytes_back_to_the_same_key(key):
    # F3 and F15 with modifiers collide with cursor position reports in
    # prompt_toolkit's parser (CSI 1;5R), so they are left out on purpose.
    got: list[KeyPress] = []
    parser = Vt100Parser(got.append)
    parser.feed(encode_key(key, "", NORMAL).decode())
    parser.flush()
    assert [press.key for press in got] == [key]


def test_bracketed_paste_is_wrapped_only_when_the_program_asked():
    assert encode_paste("echo hi\n", NORMAL) == b"echo hi\r"
    assert encode_paste("echo hi\r\n", Modes(bracketed_paste=True)) == \
        b"\x1b[200~echo hi\r\x1b[201~"


@pytest.mark.parametrize("text", [
    "a\x1b[201~rm -rf ~\n", "a\x1b[20\x1b[201~1~b", "\x1b[200~x\x1b[201~",
    "a\x9b201~b", "a\x1b[2\x1b[20\x1b[201~1~1~b",
])
def test_paste_cannot_end_the_bracket_early(text):
    for modes in (NORMAL, Modes(bracketed_paste=True)):
        body = encode_paste(text, modes)
        if modes.bracketed_paste:
            assert body.startswith(b"\x1b[200~") and body.endswith(b"\x1b[201~")
            body = body[6:-6]
        assert b"\x1b[201~" not in body and b"\x1b[200~" not in body
        assert "\x9b201~".encode() not in body


def _mouse(kind, button=MouseButton.LEFT, x=4, y=9, mods=()):
    return MouseEvent(Point(x=x, y=y), kind, button, frozenset(mods))


SGR = Modes(mouse=MouseTracking.NORMAL, mouse_encoding=MouseEncoding.SGR)


def test_sgr_mouse_press_release_wheel_and_modifiers():
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN), SGR) == b"\x1b[<0;5;10M"
    assert encode_mouse(_mouse(MouseEventType.MOUSE_UP), SGR) == b"\x1b[<0;5;10m"
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN, MouseButton.RIGHT), SGR) == \
        b"\x1b[<2;5;10M"
    assert encode_mouse(_mouse(MouseEventType.SCROLL_UP, MouseButton.NONE), SGR) == \
        b"\x1b[<64;5;10M"
    assert encode_mouse(_mouse(MouseEventType.SCROLL_DOWN, MouseButton.NONE), SGR) == \
        b"\x1b[<65;5;10M"
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN, mods=(
        MouseModifier.SHIFT, MouseModifier.CONTROL)), SGR) == b"\x1b[<20;5;10M"
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN, x=300, y=400), SGR) == \
        b"\x1b[<0;301;401M"


def test_motion_is_sent_only_in_the_tracking_mode_that_asks_for_it():
    drag = _mouse(MouseEventType.MOUSE_MOVE, MouseButton.LEFT)
    hover = _mouse(MouseEventType.MOUSE_MOVE, MouseButton.NONE)
    for tracking, drag_bytes, hover_bytes in (
            (MouseTracking.NORMAL, b"", b""),
            (MouseTracking.BUTTON, b"\x1b[<32;5;10M", b""),
            (MouseTracking.ANY, b"\x1b[<32;5;10M", b"\x1b[<35;5;10M")):
        modes = Modes(mouse=tracking, mouse_encoding=MouseEncoding.SGR)
        assert encode_mouse(drag, modes) == drag_bytes
        assert encode_mouse(hover, modes) == hover_bytes


def test_legacy_mouse_encodings():
    normal = Modes(mouse=MouseTracking.NORMAL)
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN), normal) == b"\x1b[M %*"
    assert encode_mouse(_mouse(MouseEventType.MOUSE_UP), normal) == b"\x1b[M#%*"
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN, x=230), normal) == b""
    x10 = Modes(mouse=MouseTracking.X10)
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN, mods=(MouseModifier.SHIFT,)), x10) \
        == b"\x1b[M %*"
    assert encode_mouse(_mouse(MouseEventType.MOUSE_UP), x10) == b""
    urxvt = Modes(mouse=MouseTracking.NORMAL, mouse_encoding=MouseEncoding.URXVT)
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN), urxvt) == b"\x1b[32;5;10M"
    utf8 = Modes(mouse=MouseTracking.NORMAL, mouse_encoding=MouseEncoding.UTF8)
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN, x=300), utf8) == \
        "\x1b[M \u014d*".encode()
    assert encode_mouse(_mouse(MouseEventType.MOUSE_DOWN), NORMAL) == b""


def test_mouse_matches_libvterm_in_normal_tracking():
    emu, lv = _libvterm_keyboard()
    emu.feed(b"\x1b[?1000h")
    emu._lib.vterm_mouse_move(emu._vt, 9, 4, 0)
    emu._lib.vterm_mouse_button(emu._vt, 1, True, 0)
    emu._lib.vterm_mouse_button(emu._vt, 1, False, 0)
    expected = encode_mouse(_mouse(MouseEventType.MOUSE_DOWN), emu.modes) \
        + encode_mouse(_mouse(MouseEventType.MOUSE_UP), emu.modes)
    assert emu.take_output() == expected


def test_focus_reports_only_when_enabled():
    assert encode_focus(True, NORMAL) == b""
    assert encode_focus(True, Modes(focus_events=True)) == b"\x1b[I"
    assert encode_focus(False, Modes(focus_events=True)) == b"\x1b[O"
