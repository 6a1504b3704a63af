"""Fast scrolling (amcr.tui.fastscroll) must be invisible: same screen, cursor,
pen, scrollback and replies as feeding libvterm line by line."""
from __future__ import annotations

import os
import random

import pytest

from amcr.tui import _libvterm as lv
from amcr.tui.fastscroll import _all_clean, _classify, is_clean, is_wrapping, plan, rows_of

try:
    lv.load()
except lv.LibVTermMissing:                       # pragma: no cover - depends on the host
    pytest.skip("libvterm0 not installed", allow_module_level=True)

from amcr.tui.vterm import VTermEmulator  # noqa: E402

WORDS = "alpha beta gamma delta 12345 x y z naïve café 日本語 中文 ok -- /usr/bin".split()
SPANS = ["\x1b[31m", "\x1b[1;44m", "\x1b[38;5;99m", "\x1b[7m", "\x1b[01;31m\x1b[K"]
ENDS = ["\x1b[0m", "\x1b[m", "\x1b[m\x1b[K"]
# Everything that could break the fast path's assumptions, mixed in at random.
SPICE = [b"\x1b[41m", b"\x1b[0m", b"\x1b[5;3H", b"\x1b[2J", b"\x1b[3;10r", b"\x1b[r", b"\x1b[2;5r",
         b"\x1b[?1049h", b"\x1b[?1049l", b"\x1b]2;title one\x07", b"\x1b]0;t2", b"\x1b\\",
         b"\x1b[c", b"\x1b[6n", b"\x1bc", b"\x1b[?69h\x1b[5;30s", b"\x1b[?69l", b"\r", b"\x08",
         b"\t", b"\n", b"\x1b[4h", b"\x1b[4l", b"\x1b[1\"q", b"\x1b[?7l", b"\x1b[?7h",
         b"\x1b[20h", b"\x1b[20l", b"\x1b[999;1H", "中".encode(), b"\x1b[38;2;1;2;3m", b"\x1b[?6h",
         b"\x1b[?6l", b"\x1b7", b"\x1b8", b"\x1bD", b"\x1bM", b"\x1b[3S", b"\x1b[2T", b"\x1b[L",
         b"\x1b[M", b"\x1b[1;1H\x1b[J", b"\x07", b"\x1b[", b"\xe4", "\u0301".encode(), b"\x1b[!p",
         b"\x1b[?69h\x1b[3;20s\x1b[?6h", b"\x1b[4;20h"]


def clean_line(r: random.Random, cols: int) -> bytes:
    words = [r.choice(WORDS) for _ in range(r.randint(0, 12))]
    if words and r.random() < 0.3:
        i = r.randrange(len(words))
        words[i] = r.choice(SPANS) + words[i] + r.choice(ENDS)
    text = " ".join(words)
    if r.random() < 0.1:
        text = "x" * r.randint(cols - 3, cols + 3)          # around the wrap column
    elif r.random() < 0.05:
        text = "".join(r.choice("abc xyz-") for _ in range(r.randint(cols, 3 * cols + 1)))
    return text.encode() + b"\r\n"


def stream(r: random.Random, rows: int, cols: int) -> bytes:
    parts: list[bytes] = []
    for _ in range(r.randint(1, 40)):
        if r.random() < 0.75:
            parts.extend(clean_line(r, cols) for _ in range(r.randint(1, rows * 3)))
        else:
            parts.append(r.choice(SPICE))
    return b"".join(parts)


def snapshot(e: VTermEmulator) -> tuple[object, ...]:
    e._sync()                                          # parse what feed() queued
    cells = [[e._raw_cell(row, col) for col in range(e.cols)] for row in range(e.rows)]
    scrollback = [e.scrollback_line(i) for i in range(e.scrollback_len)]
    return cells, e.cursor, e._pen(), scrollback, e.title, e.take_output(), e.modes, e.bells


@pytest.mark.parametrize("seed", range(int(os.environ.get("AMCR_DIFF_SEEDS", "120"))))
def test_fast_and_line_by_line_agree_on_random_streams(seed):
    r = random.Random(seed)
    rows, cols = r.randint(3, 30), r.randint(10, 100)
    data = stream(r, rows, cols)
    cuts = sorted(r.sample(range(1, len(data)), min(len(data) - 1, r.randint(0, 12))))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    history = r.choice([0, 5, 2000])
    fast = VTermEmulator(rows, cols, scrollback=history)
    slow = VTermEmulator(rows, cols, scrollback=history, fast_scroll=False)
    for chunk in chunks:
        fast.feed(chunk)
        slow.feed(chunk)
        if r.random() < 0.5:                    # parse now, or let reads pile up
            fast._sync()
    names = ("cells", "cursor", "pen", "scrollback", "title", "output", "modes", "bells")
    for name, a, b in zip(names, snapshot(fast), snapshot(slow)):
        assert a == b, f"{name} differs ({rows}x{cols})"


def test_feed_queues_until_something_is_read_but_answers_queries_at_once():
    e = VTermEmulator(5, 20)
    e.feed(b"hello")
    assert e._pending and e.generation == 1
    assert e.cursor[:2] == (0, 5) and not e._pending      # reading parses the queue
    e.feed(b"ab\x1b[6n")
    assert e.take_output() == b"\x1b[1;8R"                  # no read needed for a reply


def test_a_flood_takes_the_fast_path_and_keeps_every_line_in_order():
    fast = VTermEmulator(24, 80, scrollback=2000)
    data = b"".join(b"line %05d \x1b[32mok\x1b[0m\r\n" % n for n in range(10000))
    for start in range(0, len(data), 65536):
        fast.feed(data[start:start + 65536])
    texts = ["".join(run.text for run in fast.scrollback_line(i)).rstrip()
             for i in range(fast.scrollback_len)]
    lazy = sum(isinstance(entry, tuple) for entry in fast._scrollback._entries)
    assert lazy > 1000                                 # most lines never touched libvterm
    assert texts == [f"line {n:05d} ok" for n in range(10000 - 23 - 2000, 10000 - 23)]
    assert fast.scrollback_line(-1)[1].style.fg == 2
    assert "".join(run.text for run in fast.line(22)).rstrip() == "line 09999 ok"
    assert fast.cursor[:2] == (23, 0)


@pytest.mark.parametrize("line, clean", [
    (b"hello world\r", True), (b"\r", True), (b"caf\xc3\xa9 \xe4\xb8\xad\r", True),
    (b"a \x1b[31mred\x1b[0m b\r", True), (b"\x1b[01;31m\x1b[Kx\x1b[m\x1b[K\r", True),
    (b"hello", False), (b"tab\there\r", False), (b"a\x1b[31mred\r", False),
    (b"a\x1b[0m\x1b[31mred\r", False), (b"\x1b(Bx\r", False), (b"a\rb\r", False),
    (b"x" * 80 + b"\r", True), (b"x" * 81 + b"\r", False),   # the last column: pending wrap
    (b"\x1b[31m" + b"x" * 75 + b"\x1b[0m\r", True),
])
def test_clean_lines(line, clean):
    assert is_clean(line, 80) is clean
    assert _all_clean(line + b"\n", 80) is clean


def test_wrapping_lines_are_runs_of_their_rows():
    long = b"y" * 170 + b"\r"
    assert is_wrapping(long, 80) and not is_wrapping(b"\xc3\xa9" * 90 + b"\r", 80)
    assert rows_of(long, 80) == [b"y" * 80 + b"\r", b"y" * 80 + b"\r", b"y" * 10 + b"\r"]
    data = b"tail\r\n" + b"ok\r\n" * 5 + long + b"\n" + b"ok\r\n" * 5 + b"tab\tx\r\n"
    pieces = plan(data, 80, 8)
    assert pieces[1] == (6, [b"ok\r"] * 5 + rows_of(long, 80) + [b"ok\r"] * 5)


def test_plan_keeps_the_first_line_and_odd_lines_out_of_runs():
    data = b"tail of last read\r\n" + b"ok\r\n" * 10 + b"tab\there\r\n" + b"ok\r\n" * 3
    pieces = plan(data, 80, 8)
    assert [type(p) for _, p in pieces] == [bytes, list, bytes]
    assert pieces[1] == (19, [b"ok\r"] * 10)
    assert b"".join(p if isinstance(p, bytes) else b"\n".join(p) + b"\n"
                    for _, p in pieces) == data


def test_a_big_write_is_never_split_inside_a_character():
    e = VTermEmulator(3, 100, scrollback=0)
    e.feed(b"a" + "é".encode() * 32800)     # > 64 KiB: split where a 2-byte char is, on screen
    text = "".join("".join(run.text for run in e.line(row)) for row in range(3))
    assert set(text.rstrip()) == {"é"}, text           # no U+FFFD from a split character


@pytest.mark.parametrize("seed", range(40))
def test_a_batch_checked_whole_is_classified_as_line_by_line(seed):
    """The whole-batch check (a flood of plain text) finds the same odd and
    wrapping lines as the group-by-group one, whatever the batch holds."""
    r = random.Random(seed)
    cols = r.randint(10, 100)
    lines = [clean_line(r, cols)[:-1] for _ in range(r.randint(1, 400))]
    for _ in range(r.randint(0, 3)):        # a few long or odd lines, or none
        i = r.randrange(len(lines))
        lines[i] = r.choice([b"x" * (cols + r.randint(2, 300)) + b"\r",
                             b"\x1b[31mred\r", b"tab\there\r", b"no cr"])
    body = b"\n".join(lines) + b"\n"
    assert _classify(lines, cols, body) == _classify(lines, cols)
