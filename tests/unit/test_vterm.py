"""The libvterm emulator adapter: feed bytes, read cells, lines, cursor, modes.

No terminal needed: everything goes through amcr.tui.vterm.VTermEmulator.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import textwrap

import pytest

from amcr.tui import _libvterm as lv
from amcr.tui.emulator import (DEFAULT_STYLE, Emulator, EmulatorUnavailable, Modes,
                               MouseEncoding, MouseTracking, Style, create_emulator,
                               screen_text)

try:
    lv.load()
except lv.LibVTermMissing:                       # pragma: no cover - depends on the host
    pytest.skip("libvterm0 not installed", allow_module_level=True)

from amcr.tui.vterm import VTermEmulator  # noqa: E402


def emu(rows: int = 5, cols: int = 20, **kw: object) -> VTermEmulator:
    return VTermEmulator(rows, cols, **kw)  # type: ignore[arg-type]


def row_text(e: VTermEmulator, row: int) -> str:
    return "".join(run.text for run in e.line(row)).rstrip()


def test_satisfies_the_emulator_interface():
    e = create_emulator(4, 10)
    assert isinstance(e, Emulator) and isinstance(e, VTermEmulator)
    assert (e.rows, e.cols) == (4, 10)


def test_missing_library_is_one_line_naming_the_package(monkeypatch):
    def missing() -> None:
        raise lv.LibVTermMissing("libvterm not found (apt-get install libvterm0)")
    monkeypatch.setattr(lv, "load", missing)
    with pytest.raises(EmulatorUnavailable, match=r"apt-get install libvterm0"):
        create_emulator()


def test_ctypes_layout_matches_the_c_header(tmp_path):
    if not (shutil.which("gcc") and os.path.exists("/usr/include/vterm.h")):
        pytest.skip("needs gcc and libvterm-dev")
    src = tmp_path / "layout.c"
    src.write_text(textwrap.dedent("""
        #include <stdio.h>
        #include <string.h>
        #include <stddef.h>
        #include <vterm.h>
        int main(void) {
            VTermScreenCell c; unsigned w;
            printf("%zu %zu %zu %zu %zu %zu %zu %zu %zu\\n", sizeof(VTermScreenCell),
                   offsetof(VTermScreenCell, width), offsetof(VTermScreenCell, attrs),
                   offsetof(VTermScreenCell, fg), offsetof(VTermScreenCell, bg),
                   sizeof(VTermPos), sizeof(VTermRect), sizeof(VTermColor),
                   sizeof(VTermScreenCallbacks));
            #define BIT(field, v) memset(&c, 0, sizeof c); c.attrs.field = v; \\
                memcpy(&w, &c.attrs, 4); printf("%u ", w);
            BIT(bold, 1) BIT(underline, 3) BIT(italic, 1) BIT(blink, 1) BIT(reverse, 1)
            BIT(strike, 1)
            printf("\\n");
            return 0;
        }"""))
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-o", str(exe), str(src)], check=True)
    sizes, bits = subprocess.run([str(exe)], check=True, capture_output=True,
                                 text=True).stdout.splitlines()
    import ctypes
    assert [int(x) for x in sizes.split()] == [
        ctypes.sizeof(lv.ScreenCell), lv.ScreenCell.width.offset, lv.ScreenCell.attrs.offset,
        lv.ScreenCell.fg.offset, lv.ScreenCell.bg.offset, ctypes.sizeof(lv.Pos),
        ctypes.sizeof(lv.Rect), ctypes.sizeof(lv.Color),
        ctypes.sizeof(lv.ScreenCallbacks) - ctypes.sizeof(ctypes.c_void_p * 4)]
    assert lv.CELL_SIZE == ctypes.sizeof(lv.ScreenCell)
    assert [int(x) for x in bits.split()] == [
        lv.ATTR_BOLD, lv.ATTR_UNDERLINE_MASK, lv.ATTR_ITALIC, lv.ATTR_BLINK, lv.ATTR_REVERSE,
        lv.ATTR_STRIKE]


def test_plain_text_cr_lf_and_cells():
    e = emu()
    e.feed(b"hello\r\nworld")
    assert screen_text(e)[:2] == ["hello", "world"]
    assert e.cell(0, 1).text == "e" and e.cell(0, 1).width == 1
    assert e.cell(0, 7).text == " "
    assert e.cursor[:2] == (1, 5)


def test_text_wraps_at_the_right_margin():
    e = emu(cols=10)
    e.feed(b"0123456789abc")
    assert screen_text(e)[:2] == ["0123456789", "abc"]
    assert e.cursor[:2] == (1, 3)


def test_sgr_attributes():
    e = emu()
    e.feed(b"\x1b[1ma\x1b[0;4mb\x1b[0;7mc\x1b[0;3md\x1b[0;9me\x1b[0;5mf\x1b[0mg")
    styles = [e.cell(0, c).style for c in range(7)]
    assert styles[0].bold and styles[1].underline and styles[2].reverse
    assert styles[3].italic and styles[4].strike and styles[5].blink
    assert styles[6] is DEFAULT_STYLE


def test_colours_16_256_and_truecolor_stay_as_the_program_set_them():
    e = emu()
    e.feed(b"\x1b[31;42ma\x1b[0;95;104mb\x1b[0;38;5;200;48;5;17mc"
           b"\x1b[0;38;2;1;2;3;48;2;250;128;0md\x1b[0me")
    assert e.cell(0, 0).style == Style(fg=1, bg=2)
    assert e.cell(0, 1).style == Style(fg=13, bg=12)
    assert e.cell(0, 2).style == Style(fg=200, bg=17)
    assert e.cell(0, 3).style == Style(fg=(1, 2, 3), bg=(250, 128, 0))
    assert e.cell(0, 4).style == Style()


def test_line_is_runs_of_one_style_covering_every_column():
    e = emu(cols=12)
    e.feed(b"ab\x1b[1mCD\x1b[0m \xe4\xb8\xad!")
    runs = e.line(0)
    assert [r.text for r in runs] == ["ab", "CD", " 中!" + " " * 4]   # 中 takes 2 of 12
    assert runs[1].style.bold and runs[0].style is runs[2].style is DEFAULT_STYLE
    assert e.line(0) is runs                       # cached until the row changes


def test_wide_character_takes_two_cells():
    e = emu(cols=6)
    e.feed("日本語x".encode())
    assert [e.cell(0, c).width for c in range(6)] == [2, 0, 2, 0, 2, 0]
    assert e.cell(0, 0).text == "日" and e.cell(0, 1).text == ""
    assert screen_text(e)[:2] == ["日本語", "x"]      # the 7th column wrapped


def test_erase_in_line_and_display():
    e = emu()
    e.feed(b"abcdef\r\nsecond\x1b[1;3H\x1b[K")
    assert screen_text(e)[:2] == ["ab", "second"]
    e.feed(b"\x1b[2J")
    assert screen_text(e) == [""] * 5


def test_cursor_position_and_scroll_region():
    e = emu(rows=6)
    e.feed(b"\x1b[3;4Hx")
    assert e.cell(2, 3).text == "x" and e.cursor[:2] == (2, 4)
    e.feed(b"\x1b[H\x1b[2J" + b"".join(b"\x1b[%d;1Hrow%d" % (r + 1, r) for r in range(6)))
    e.feed(b"\x1b[2;4r\x1b[4;1H\n")                 # scroll rows 2-4 only
    assert screen_text(e) == ["row0", "row2", "row3", "", "row4", "row5"]


def test_alternate_screen_restores_the_primary_screen():
    e = emu()
    e.feed(b"shell$ ls\r\nfile\r\nshell$ ")
    before = screen_text(e)
    e.feed(b"\x1b[?1049h\x1b[H\x1b[2Jvim here\x1b[3;1H~")
    assert e.modes.alt_screen and screen_text(e)[0] == "vim here"
    e.feed(b"\x1b[?1049l")
    assert not e.modes.alt_screen
    assert screen_text(e) == before and e.cursor[:2] == (2, 7)


def test_title_from_osc_0_and_2():
    e = emu()
    e.feed(b"\x1b]0;first\x07")
    assert e.title == "first"
    e.feed("\x1b]2;zweite ü\x1b\\".encode())
    assert e.title == "zweite ü"


def test_title_cut_by_a_read_boundary_still_arrives():
    e = emu()
    e.feed(b"ab\x1b]2;ti")
    assert e.cursor[:2] == (0, 2)
    e.feed(b"tle\x07cd")
    assert e.title == "title" and screen_text(e)[0] == "abcd"


def test_cursor_visibility_and_shape():
    e = emu()
    assert e.cursor.visible and e.cursor.shape == "block"
    e.feed(b"\x1b[?25l\x1b[6 q")
    assert not e.cursor.visible and e.cursor.shape == "bar" and not e.cursor.blink
    e.feed(b"\x1b[?25h\x1b[3 q")
    assert e.cursor.visible and e.cursor.shape == "underline" and e.cursor.blink


def test_device_status_and_attributes_queries_are_answered():
    e = emu()
    e.feed(b"ab\r\ncd\x1b[6n")
    assert e.take_output() == b"\x1b[2;3R"
    assert e.take_output() == b""
    e.feed(b"\x1b[c")
    assert e.take_output().startswith(b"\x1b[?")


def test_scrollback_receives_lines_in_order_and_is_bounded():
    e = emu(rows=3, cols=10, scrollback=4)
    e.feed(b"".join(b"line%d\r\n" % n for n in range(6)))
    assert screen_text(e) == ["line4", "line5", ""]
    assert e.scrollback_len == 4
    assert ["".join(r.text for r in e.scrollback_line(i)).rstrip() for i in range(4)] == \
        ["line0", "line1", "line2", "line3"]
    e.feed(b"".join(b"more%d\r\n" % n for n in range(3)))
    assert "".join(r.text for r in e.scrollback_line(-1)).rstrip() == "more0"
    assert "".join(r.text for r in e.scrollback_line(0)).rstrip() == "line3"


def test_alternate_screen_does_not_feed_scrollback():
    e = emu(rows=3, cols=10)
    e.feed(b"\x1b[?1049h" + b"x\r\n" * 10 + b"\x1b[?1049l")
    assert e.scrollback_len == 0


def test_resize_keeps_content_and_cursor_sensible():
    e = emu(rows=5, cols=20)
    e.feed(b"".join(b"line%d\r\n" % n for n in range(5)) + b"$ ")
    e.resize(3, 10)
    assert screen_text(e) == ["line3", "line4", "$"]
    assert e.cursor[:2] == (2, 2)
    assert e.scrollback_len >= 1
    e.resize(5, 20)                                   # grows back from scrollback
    assert screen_text(e)[-1] == "$" and "line2" in screen_text(e)
    assert e.cursor[:2] == (4, 2)


def test_resize_after_saved_cursor_and_margins_stays_in_bounds():
    e = emu(rows=40, cols=100)
    e.feed(b"\x1b[35;60H\x1b7\x1b[5;30r\x1b[1;31m")
    e.resize(10, 30)
    assert e.cursor[:2] == (0, 0)              # DECSTBM had sent the cursor home
    e.feed(b"\x1b8x\n\n\n")             # DECRC to the clamped saved cursor; margins reset
    assert 0 <= e.cursor.row < 10 and 0 <= e.cursor.col < 30
    assert e.cell(6, 29).text == "x"


def test_dirty_rows_are_reported_once_and_generation_moves():
    e = emu()
    e.take_dirty()
    gen = e.generation
    e.feed(b"\x1b[3;1Hx")
    assert e.take_dirty() == frozenset({2})
    assert e.take_dirty() == frozenset()
    assert e.generation > gen
    e.feed(b"\x1b[5;1H\n")                            # a scroll moves every row
    assert e.take_dirty() == frozenset(range(5))


def test_an_erase_of_rows_that_were_empty_in_that_style_leaves_them_clean():
    """A shell's CSI J after every key damages every row below the prompt;
    only rows that really changed are reported."""
    e = emu()
    e.feed(b"$ ")
    [e.line(r) for r in range(5)]
    e.take_dirty()
    e.feed(b"x\x1b[J")
    assert e.take_dirty() == frozenset({0})
    e.feed(b"\x1b[44m\x1b[J\x1b[0m")             # erased in blue: rows below changed
    assert e.take_dirty() == frozenset(range(5))
    assert e.line(3)[0].style.bg == 4
    e.feed(b"\x1b[J")                              # back to the default background
    assert e.take_dirty() == frozenset(range(5))
    [e.line(r) for r in range(5)]
    e.feed(b"\x1b[4;9H\x1b[44m\x1b[3X\x1b[0m\x1b[H")  # three blue cells, no text
    assert e.take_dirty() == frozenset({3})


def test_a_row_written_and_erased_between_two_takes_is_compared_with_the_first():
    e = emu()
    [e.line(r) for r in range(5)]
    e.take_dirty()
    e.feed(b"\x1b[4;1Hgone")
    assert e.line(3)[0].text.startswith("gone")     # read in between: cached as text
    e.feed(b"\x1b[2K\x1b[1;1H")                      # and erased again
    assert 3 not in e.take_dirty()                # the same empty row as at the last take
    e.feed(b"\x1b[4;1Hback")
    e.take_dirty()
    e.feed(b"\x1b[4;1H\x1b[2K")                     # text at the last take: dirty,
    assert e.line(3)[0].text.strip() == ""          # even if read empty in between
    e.feed(b"\x1b[4;1H\x1b[2K")                     # and damaged once more
    assert e.take_dirty() == frozenset({3})
    assert e.line(3)[0].text.strip() == ""


def test_scrolls_both_ways_in_one_read_leave_no_stale_row():
    """libvterm merges SU 2 and RI into one scroll of 1 and reports row 0 as moved
    from row 1, though RI scrolled in a new (blue) row 0."""
    e = emu(2, 16)
    [e.line(r) for r in range(2)]
    e.take_dirty()
    e.feed(b"\x1b[44m\x1b[2S\x1bM")
    e.take_dirty()
    assert [run.style.bg for run in e.line(0)] == [e.cell(0, 0).style.bg] == [4]


def test_bell_is_counted():
    e = emu()
    e.feed(b"\x07a\x07")
    assert e.bells == 2


def test_modes_follow_the_program():
    e = emu()
    assert e.modes == Modes()
    e.feed(b"\x1b[?1h\x1b[?2004h\x1b[?1002h\x1b[?1006h\x1b[?1004h")
    assert e.modes == Modes(app_cursor=True, bracketed_paste=True, mouse=MouseTracking.BUTTON,
                            mouse_encoding=MouseEncoding.SGR, focus_events=True)
    assert e.modes.mouse_sgr
    e.feed(b"\x1b[?1000l")                 # xterm: resetting any level switches the mouse off
    assert e.modes.mouse is MouseTracking.OFF
    e.feed(b"\x1b[?1;200")                 # a mode split across two reads
    e.feed(b"4l")
    assert not e.modes.app_cursor and not e.modes.bracketed_paste
    e.feed(b"\x1b[?1h\x1bc")
    assert e.modes == Modes()


def test_modes_agree_with_libvterms_own_state():
    e = emu()
    for seq in (b"\x1b[?1h", b"\x1b[?2004h", b"\x1b[?1003h", b"\x1b[?1006h",
                b"\x1b[?1;2004l", b"\x1b[?1000h\x1b[?1015h", b"\x1b[?1015l",
                b"\x1b[?1049;1h", b"\x1b[?1;1000l"):
        e.feed(seq)
        m = e.modes
        answers = {mode: e._query(b"\x1b[?%d$p" % mode) for mode in (1, 2004, 1000, 1002, 1003,
                                                                         1006, 1015)}
        on = {mode for mode, reply in answers.items() if reply.endswith(b";1$y")}
        assert (1 in on) == m.app_cursor and (2004 in on) == m.bracketed_paste
        assert (1006 in on) == (m.mouse_encoding is MouseEncoding.SGR)
        assert (1015 in on) == (m.mouse_encoding is MouseEncoding.URXVT)
        level = {MouseTracking.NORMAL: 1000, MouseTracking.BUTTON: 1002,
                 MouseTracking.ANY: 1003}.get(m.mouse)
        assert on & {1000, 1002, 1003} == ({level} if level else set())


def test_close_is_idempotent_and_use_after_close_raises():
    e = emu()
    e.feed(b"queued")
    e.close()
    e.close()
    with pytest.raises(ValueError, match="closed"):
        e.line(0)
    with pytest.raises(ValueError, match="closed"):
        e.feed(b"\x1b[6n")


_DIRTY_PIECES = [
    b"\x1b[J", b"\x1b[1J", b"\x1b[2J", b"\x1b[K", b"\x1b[2K", b"\x1b[44m", b"\x1b[0m", b"\x1b[7m",
    b"\x1b[3X", b"\r\n", b"\n", b"\x08", b"$ ", b"word", b"\x1b[H", b"\x1b[6;1H", b"\x1b[2;5H",
    b"\x1b[L", b"\x1b[M", b"\x1b[?1049h", b"\x1b[?1049l", b"\x1b[?47h", b"\x1b[?47l", b"\x1b[S",
    b"\x1b[T", b"\x1b[2S", b"\x1b[2@", b"\x1b[2P", b"\x1b[2;4r", b"\x1b[r", b"\x1bM", b"\x1bD",
    b"\x1b[?5h", b"\x1b[?5l", b"\x1bc", b"\x1b[?69h\x1b[3;8s", b"\x1b[?69l", b"\x1b[4h", b"\x1b[4l",
    b"\x1b#8", b"\x1b[?6h", b"\x1b[?6l", b"\x1b[44m\x1b[2J\x1b[0m",
    b"".join(b"line %d\r\n" % i for i in range(12)), b"".join(b"x" * 25 + b"\r\n" for _ in range(10))]


@pytest.mark.parametrize("seed", range(100))
def test_dirty_rows_and_lines_follow_the_cells(seed):
    """What a painter keeps (each row's line, refreshed for the rows take_dirty
    names) is the screen cell for cell after random streams: scrolls both ways,
    erases in colours, resizes, the alternate screen, rows read between takes."""
    rng = random.Random(seed)

    def flat(runs):
        return [(ch, style) for text, style in runs for ch in text]

    def cells(row):
        return [(c.text, c.style) for c in (e.cell(row, col) for col in range(e.cols))
                if c.width or c.text]

    e = emu(rng.randint(2, 8), rng.randint(4, 20), scrollback=50)
    shown = {}

    def take():
        for row in e.take_dirty():
            if row < e.rows:
                shown[row] = flat(e.line(row))
    take()
    for _ in range(80):
        k = rng.random()
        if k < 0.08:
            e.resize(rng.randint(2, 8), rng.randint(4, 20))
            shown = {r: v for r, v in shown.items() if r < e.rows}
        elif k < 0.2:                               # a row painted ahead, then a take
            row = rng.randrange(e.rows)
            shown[row] = flat(e.line(row))
            take()
        elif k < 0.27:
            e.line(rng.randrange(e.rows))           # read, not shown
        else:
            e.feed(b"".join(rng.choice(_DIRTY_PIECES) for _ in range(rng.randint(1, 6))))
            if rng.random() < 0.5:
                continue
        if rng.random() < 0.6:
            take()
            assert [shown.get(r) for r in range(e.rows)] == [cells(r) for r in range(e.rows)]
