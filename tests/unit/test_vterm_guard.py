"""Bytes that crash, hang or corrupt libvterm 0.1.4 must not harm amcr.

Each input below, fed raw to libvterm, segfaults, aborts, loops forever or
writes out of bounds (see amcr/tui/sanitize.py). They run in a child process so
a regression shows up as a failed test, not a dead test runner.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

import pytest

from amcr.tui import _libvterm as lv
from amcr.tui.sanitize import InputGuard

try:
    lv.load()
except lv.LibVTermMissing:                       # pragma: no cover - depends on the host
    pytest.skip("libvterm0 not installed", allow_module_level=True)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (name, feeds, resize-after-first-feed or None)
ATTACKS = [
    ("17 CSI parameters (heap overflow)", [b"\x1b[" + b"1;" * 16 + b"m"], None),
    ("5000 CSI parameters", [b"\x1b[" + b"1:" * 5000 + b"m"], None),
    ("parameters split across reads", [b"\x1b[" + b"1;" * 10, b"1;" * 10 + b"m"], None),
    ("REP with nothing printed (hang)", [b"\x1b[b"], None),
    ("REP after a combining mark (hang)", [b"x\x1b[5G\xcc\x81\x1b[3b"], None),
    ("REP split across reads", [b"\xe2\x80\x8b\x1b[", b"3b"], None),
    ("REP of a wide character at the margin", [b"\x1b[1;79H\xf0\x9f\x98\x80\x1b[b"], None),
    ("C1 as UTF-8: negative columns", [b"\xc2\x85" * 50 + b"\x1bH" + b"x" * 10], None),
    ("C1 lead byte across an escape", [b"\xc2\x1bE\x85\x1bH"], None),
    ("C1 lead byte across reads", [b"ab\xc2", b"\x85\x1bHx"], None),
    ("six code points in a cell (heap overflow)",
     [b"\x1b[1me" + "\u0301".encode() * 8 + b"x" * 200 + b"\r\n" * 30], None),
    ("marks merged across SGRs", [b"e" + (b"\x1b[1m" + "\u0301".encode() * 2) * 5 + b"\r\n" * 30],
     None),
    ("huge cursor movement", [b"ab\x1b[2147483647Cxyz\x1b[99999999999999999999B\x1bH"], None),
    ("10 MB of text in one read (stack overflow)", [b"x" * 10_000_000], None),
    ("10 MB title in one read", [b"\x1b]2;" + b"x" * 10_000_000 + b"\x07"], None),
    ("saved cursor beyond a shrunk screen", [b"\x1b[35;60H\x1b7", b"\x1b8hello\x1b#6"], (10, 30)),
    ("margins beyond a shrunk screen", [b"\x1b[?6h\x1b[10r\x1b7", b"\x1b8\x1b#4\x0c"], (3, 74)),
    ("cursor above a shrunk screen", [b"\x1b#8", b"text\x1bH"], (5, 20)),
    ("wide character on one column", [b"x", b"\xf0\x9f\x98\x80\xe4\xb8\xad"], (3, 1)),
]

CHILD = textwrap.dedent("""
    import pickle, sys
    from amcr.tui.vterm import VTermEmulator
    for name, feeds, resize in pickle.load(sys.stdin.buffer):
        print(name, flush=True)
        e = VTermEmulator(40, 100, scrollback=50)
        for i, data in enumerate(feeds):
            e.feed(data)
            if i == 0 and resize:
                e.resize(*resize)
            c = e.cursor
            assert 0 <= c.row < e.rows and 0 <= c.col < e.cols, (name, c)
        for row in range(e.rows):
            e.line(row)
        for i in range(e.scrollback_len):
            e.scrollback_line(i)
        e.resize(60, 120)
        e.feed(b"after\\r\\n" * 100)
        e.take_output()
    print("all survived", flush=True)
""")


def _run_child(script: str, payload: bytes, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", script], input=payload, capture_output=True,
                          timeout=timeout, env=env)  # type: ignore[call-overload]


def test_known_crashes_and_hangs_are_harmless():
    import pickle
    try:
        proc = _run_child(CHILD, pickle.dumps(ATTACKS), timeout=120)
    except subprocess.TimeoutExpired as exc:       # a hang in C: say which input
        out = (exc.stdout or b"").decode().splitlines()
        pytest.fail(f"hung on: {out[-1] if out else '?'}")
    out = proc.stdout.decode().splitlines()
    assert proc.returncode == 0, f"died ({proc.returncode}) on: {out[-1] if out else '?'}\n" \
        f"{proc.stderr.decode()[-2000:]}"
    assert out[-1] == "all survived"


FUZZ = textwrap.dedent("""
    import random, sys
    from amcr.tui.vterm import VTermEmulator
    frags = [bytes.fromhex(h) for h in sys.stdin.read().split()]
    for seed in range(int(sys.argv[1])):
        r = random.Random(seed)
        e = VTermEmulator(r.randint(1, 40), r.randint(1, 120), scrollback=r.choice([0, 10]))
        for _ in range(r.randint(1, 8)):
            e.feed(b"".join(r.choice(frags) for _ in range(r.randint(1, 300))))
            if r.random() < 0.2:
                e.resize(r.randint(1, 40), r.randint(1, 120))
            c = e.cursor
            assert 0 <= c.row < e.rows and 0 <= c.col < e.cols, (seed, c)
        for row in range(e.rows):
            e.line(row)
        for i in range(e.scrollback_len):
            e.scrollback_line(i)
    print("ok")
""")

FRAGMENTS = [b"\x1b[", b";", b":", b"?", b">", b" ", b"!", b"$", b'"', b"b", b"m", b"H", b"r", b"s",
             b"h", b"l", b"@", b"P", b"L", b"M", b"S", b"T", b"J", b"K", b"A", b"C", b"G", b"d",
             b"g", b"q", b"p", b"c", b"n", b"\x1b", b"\x1bH", b"\x1bc", b"\x1b7", b"\x1b8", b"\x1bD",
             b"\x1bM", b"\x1b#8", b"\x1b#6", b"\x1b(0", b"\x1b]", b"\x1bP", b"\x07", b"\x1b\\",
             b"\x18", b"\x00", b"\r", b"\n", b"\t", b"\x08", "é".encode(), "中".encode(),
             "\u0301".encode(), "\u200b".encode(), b"\xc2\x85", b"\xc2", b"\x85", b"\xfe",
             "\U0001F600".encode(), b"9999999999", b"2147483647", b"0", b"1", b"3", b"69", b"1049",
             b"6", b"25", b"1000", b"x", b"\x1b[?69h", b"\x1b[5;10r", b"\x1b[3;8s"]


def test_random_escape_soup_neither_crashes_nor_escapes_the_screen():
    seeds = int(os.environ.get("AMCR_FUZZ_SEEDS", "300"))
    payload = " ".join(f.hex() for f in FRAGMENTS).encode()
    proc = _run_child(FUZZ.replace("sys.argv[1]", str(seeds)), payload, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


# -- what the guard does to the bytes (in process: these are harmless) -----------------

def guard(*chunks: bytes) -> bytes:
    g = InputGuard()
    return b"".join(g.filter(c) for c in chunks)


def test_rep_is_kept_after_a_printed_ascii_or_box_drawing_character():
    assert guard(b"x\x1b[5b") == b"x\x1b[5b"
    assert guard(b"x\x1b[1m\x1b[5b") == b"x\x1b[1m\x1b[5b"     # SGRs in between are fine
    assert guard("─".encode() + b"\x1b[9b") == "─".encode() + b"\x1b[9b"
    assert guard(b"x", b"\x1b[5b") == b"x\x1b[5b"               # across reads
    assert guard(b"x", b"\x1b[1m\x1b[5b") == b"x\x1b[1m\x1b[5b"
    assert guard(b"\x1b" + b" " * 100 + b"x", b"\x1b[5b") == b"\x1b" + b" " * 100 + b"x\x18"


def test_rep_is_dropped_when_libvterm_could_loop_or_overflow():
    # A dropped REP leaves a CAN, which libvterm ignores silently.
    assert guard(b"\x1b[5b") == b"\x18"
    assert guard("\u0301".encode() + b"\x1b[5b") == b"\x18"
    assert guard("中".encode() + b"\x1b[5b") == "中".encode() + b"\x18"
    assert guard(b"\x1b]0;x\x1b[5b") == b"\x1b]0;x\x18"         # 'x' was a title, not a glyph


def test_csi_parameters_are_capped_and_clamped():
    out = guard(b"\x1b[" + b";".join(b"%d" % n for n in range(20)) + b"m")
    assert out == b"\x1b[" + b";".join(b"%d" % n for n in range(16)) + b"m"
    assert guard(b"\x1b[123456789A") == b"\x1b[99999A"
    assert guard(b"\x1b[000005;1A") == b"\x1b[5;1A"             # same numbers


def test_controls_inside_csi_are_moved_in_front():
    assert guard(b"\x1b[?1\n049h") == b"\n\x1b[?1049h"


def test_decset_with_several_modes_is_split():
    assert guard(b"\x1b[?1049;1;2004h") == b"\x1b[?1049h\x1b[?1h\x1b[?2004h"


def test_utf8_is_made_valid_and_c1_dropped_even_across_reads():
    assert guard(b"a\xc2\x85b") == b"ab"
    assert guard(b"a\xc2", b"\x85b") == b"ab"
    assert guard("é".encode()[:1], "é".encode()[1:]) == "é".encode()
    assert guard(b"a\xffb") == "a\ufffdb".encode()
    assert guard(b"a\xc2\x1bE\x85") == "a\ufffd\x1bE\ufffd".encode()


def test_at_most_two_combining_marks_follow_a_base_character():
    acute = "\u0301"
    assert guard(("e" + acute * 5).encode()) == ("e" + acute * 2).encode()
    assert guard(("e" + acute).encode(), acute.encode(), acute.encode()) == \
        ("e" + acute * 2).encode()
    assert guard(b"e\x1b[1m" + acute.encode()) == b"e\x1b[1m"   # would merge across the SGR
    assert guard("👩\u200d👩\u200d👧".encode()) == "👩\u200d👩\u200d👧".encode()


def test_unfinished_sequences_wait_for_the_next_read():
    g = InputGuard()
    assert g.filter(b"ab\x1b[3") == b"ab"
    assert g.filter(b"1mc") == b"\x1b[31mc"
    assert g.filter(b"\x1b") == b""
    assert g.filter(b"[0m") == b"\x1b[0m"


def test_clean_text_passes_unchanged():
    r = random.Random(1)
    tokens = ["abc", " ", "xyz", "123", "\r\n", "\x1b[31m", "\x1b[0m", "日本語", "café", "\t"]
    text = "".join(r.choice(tokens) for _ in range(5000))
    data = text.encode()
    assert guard(data) == data


def test_dropping_bytes_never_forms_a_new_sequence():
    # A mark between ESC [ and b was dropped, which used to leave a REP behind.
    assert b"\x1b[b" not in guard("\x1b[\ufe0fb".encode())
    assert guard(b"\x1b\x1b[5b[3b") == b"\x1b\x18[3b"            # REP dropped: ESC cancelled
