#!/usr/bin/env python3
"""Parse throughput of the terminal emulator: amcr's libvterm adapter against pyte.

Why this shape: the emulator is the multiplexer's hot path (every byte every
container prints goes through it, shown or not), and DESIGN.md sets the bar at
about 20 MB/s for libvterm against about 1 MB/s for pyte. So both parse the same
generated 20 MB "typical" output (lines of words, some SGR colours, a few wide
characters) at 200x50, fed in PTY-sized chunks, and the script prints MB/s of
each and the ratio. A final render of every changed row is included in the
libvterm figure, since a real view reads the screen at least once. Both wall
and CPU time are printed; the ratio uses CPU time, which other load on a shared
machine disturbs much less.

    PYTHONPATH=. /opt/amcr/venv/bin/python scripts/bench_emulator.py
    ... --size-mb 5 --chunk 4096 --repeat 3 --line-by-line --pyte-mb 2
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WORDS = ("the quick brown fox jumps over lazy dog container namespace cgroup mount "
         "pivot_root seccomp capability terminal emulator libvterm prompt_toolkit "
         "error warning info debug 0x7f3a 1234 /usr/lib/x86_64-linux-gnu "
         "Überprüfung naïve café 日本語 中文").split()
COLOURS = [b"\x1b[31m", b"\x1b[32m", b"\x1b[1;33m", b"\x1b[34m", b"\x1b[38;5;208m",
           b"\x1b[38;2;120;200;80m", b"\x1b[4m", b"\x1b[7m", b"\x1b[1m"]


def make_text(size: int, seed: int = 5) -> bytes:
    """About ``size`` bytes of log-like output: mostly words, about one line in
    five with an SGR colour span, CRLF line ends as a PTY delivers them."""
    rnd = random.Random(seed)
    out, total = [], 0
    while total < size:
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(4, 18))]
        line = " ".join(words).encode()
        if rnd.random() < 0.2:
            i = rnd.randrange(len(words))
            words[i] = rnd.choice(COLOURS).decode() + words[i] + "\x1b[0m"
            line = " ".join(words).encode()
        line += b"\r\n"
        out.append(line)
        total += len(line)
    return b"".join(out)[:size]


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def bench_vterm(parts: list[bytes], rows: int, cols: int,
                fast_scroll: bool = True) -> tuple[float, float]:
    """(wall, CPU) seconds to feed everything and render every changed row."""
    from amcr.tui.vterm import VTermEmulator
    emu = VTermEmulator(rows, cols, fast_scroll=fast_scroll)
    wall, cpu = time.perf_counter(), time.process_time()
    for part in parts:
        emu.feed(part)
    for row in emu.take_dirty():
        emu.line(row)
    result = time.perf_counter() - wall, time.process_time() - cpu
    emu.close()
    return result


def bench_pyte(parts: list[bytes], rows: int, cols: int) -> tuple[float, float] | None:
    try:
        import pyte
    except ImportError:
        return None
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    wall, cpu = time.perf_counter(), time.process_time()
    for part in parts:
        stream.feed(part)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=float, default=20.0)
    p.add_argument("--rows", type=int, default=50)
    p.add_argument("--cols", type=int, default=200)
    p.add_argument("--chunk", type=int, default=65536, help="bytes per feed (a PTY read)")
    p.add_argument("--repeat", type=int, default=3, help="libvterm runs (best is kept)")
    p.add_argument("--pyte-mb", type=float, default=None,
                   help="feed pyte only this many MB (it is slow); default: all")
    p.add_argument("--line-by-line", action="store_true",
                   help="also time libvterm without the fast-scroll path")
    args = p.parse_args(argv)

    data = make_text(int(args.size_mb * 1e6))
    mb = len(data) / 1e6
    parts = chunks(data, args.chunk)
    lines = data.count(b"\n")
    print(f"input: {mb:.1f} MB, {lines} lines, {args.cols}x{args.rows}, "
          f"{args.chunk}-byte chunks")

    runs = [bench_vterm(parts, args.rows, args.cols) for _ in range(args.repeat)]
    wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    vterm_rate = mb / cpu
    print(f"libvterm (amcr.tui.vterm): {mb / wall:8.1f} MB/s wall, {vterm_rate:6.1f} MB/s CPU "
          f"(best of {args.repeat})")

    if args.line_by_line:
        wall, cpu = bench_vterm(parts, args.rows, args.cols, fast_scroll=False)
        print(f"  same, fast scroll off:   {mb / wall:8.1f} MB/s wall, {mb / cpu:6.1f} MB/s CPU "
              f"(libvterm scrolling line by line)")

    pyte_data = data if args.pyte_mb is None else data[:int(args.pyte_mb * 1e6)]
    timed = bench_pyte(chunks(pyte_data, args.chunk), args.rows, args.cols)
    if timed is None:
        print("pyte: not installed (pip install pyte), no ratio")
        return 0
    pyte_mb = len(pyte_data) / 1e6
    pyte_rate = pyte_mb / timed[1]
    print(f"pyte {_pyte_version()} (Screen):       {pyte_mb / timed[0]:8.1f} MB/s wall, "
          f"{pyte_rate:6.1f} MB/s CPU ({pyte_mb:.1f} MB)")
    print(f"ratio libvterm/pyte (CPU): {vterm_rate / pyte_rate:.1f}x")
    return 0


def _pyte_version() -> str:
    from importlib.metadata import version
    return version("pyte")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
