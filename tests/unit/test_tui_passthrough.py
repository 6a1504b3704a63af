"""Plain typing goes straight to the multiplexer; anything else through prompt_toolkit.
A real PTY is the keyboard."""
from __future__ import annotations

import os
import pty
import time
from collections.abc import Iterator

import pytest
from prompt_toolkit.keys import Keys

from amcr.tui.passthrough import TypingInput


@pytest.fixture
def keyboard() -> Iterator[tuple[TypingInput, int, list[bytes]]]:
    master, slave = pty.openpty()
    stdin = open(slave, "r", closefd=True)      # noqa: SIM115 (closed below)
    typed: list[bytes] = []
    inp = TypingInput(stdin)
    inp.typed = lambda text: typed.append(text) or True
    try:
        with inp.raw_mode():
            yield inp, master, typed
    finally:
        stdin.close()
        os.close(master)


def _type(master: int, data: bytes) -> None:
    os.write(master, data)
    time.sleep(0.05)                            # one read gets it all


def test_plain_text_is_offered_whole_and_keys_are_parsed(keyboard) -> None:
    inp, master, typed = keyboard
    _type(master, "héllo\r".encode())
    assert inp.read_keys() == [] and typed == ["héllo\r".encode()]
    _type(master, b"\x1b[A")                    # an arrow: prompt_toolkit's
    assert [k.key for k in inp.read_keys()] == [Keys.Up]
    _type(master, b"\x02")                      # a control key (the prefix): too
    assert [k.key for k in inp.read_keys()] == [Keys.ControlB]
    assert typed == ["héllo\r".encode()]


def test_after_an_escape_text_waits_for_the_parser_until_it_flushes(keyboard) -> None:
    inp, master, typed = keyboard
    _type(master, b"\x1b")                      # a lone ESC: the parser holds it
    assert inp.read_keys() == []
    _type(master, b"x")                         # so x must come after it, via the parser
    keys = inp.read_keys() + inp.flush_keys()
    assert typed == [] and [k.key for k in keys][-1] == "x"
    _type(master, b"y")                         # flushed: plain text is offered again
    assert inp.read_keys() == [] and typed == [b"y"]


def test_text_the_multiplexer_declines_goes_to_the_parser(keyboard) -> None:
    inp, master, typed = keyboard
    inp.typed = lambda text: False              # a prompt is open, say
    _type(master, b"ab")
    assert [k.key for k in inp.read_keys()] == ["a", "b"]


def test_a_paste_spanning_reads_stays_whole(keyboard) -> None:
    inp, master, typed = keyboard
    _type(master, b"\x1b[200~abc")                # a long paste arrives in pieces
    assert inp.read_keys() == []
    inp.flush_keys()                              # even after prompt_toolkit's timeout
    _type(master, b"def")                         # plain, but the paste's middle
    assert inp.read_keys() == [] and typed == []
    _type(master, b"ghi\x1b[201~")
    keys = inp.read_keys()
    assert [(k.key, k.data) for k in keys] == [(Keys.BracketedPaste, "abcdefghi")]


def test_taken_text_never_reaches_prompt_toolkits_callback(keyboard) -> None:
    """Typing the multiplexer takes ends in the reader callback; anything else
    is read once and handed to prompt_toolkit's callback, whose read_keys gets it."""
    import asyncio
    inp, master, typed = keyboard
    calls: list[list] = []

    async def main() -> None:
        with inp.attach(lambda: calls.append(inp.read_keys())):
            os.write(master, b"abc")
            await asyncio.sleep(0.1)
            assert typed == [b"abc"] and calls == []
            os.write(master, b"\x1b[A")
            await asyncio.sleep(0.1)
    asyncio.run(main())
    assert [[k.key for k in keys] for keys in calls] == [[Keys.Up]]


def test_keys_prompt_toolkit_did_not_read_come_first_next_time(keyboard) -> None:
    """prompt_toolkit's callback returns without reading while the application
    stops; what the reader callback had read then is not lost."""
    import asyncio
    inp, master, typed = keyboard
    inp.typed = lambda text: False
    calls: list[list] = []

    def callback() -> None:
        if calls:
            calls.append(inp.read_keys())
        else:
            calls.append([])                    # the first time: no read_keys

    async def main() -> None:
        with inp.attach(callback):
            os.write(master, b"\x1b[A")
            await asyncio.sleep(0.1)
            os.write(master, b"\x1b[B")
            await asyncio.sleep(0.1)
    asyncio.run(main())
    assert [[k.key for k in keys] for keys in calls] == [[], [Keys.Up, Keys.Down]]


def test_the_reader_callback_offers_ascii_as_read_and_other_text_decoded(keyboard) -> None:
    """The callback reads the terminal itself: ASCII is offered undecoded, other
    plain text as UTF-8, and a character cut between two reads is never offered
    in halves (the byte after a cut is not plain ASCII of its own)."""
    import asyncio
    inp, master, typed = keyboard
    calls: list[list] = []

    async def main() -> None:
        with inp.attach(lambda: calls.append(inp.read_keys())):
            for chunk in (b"ls -l\r", "é\t".encode(), b"\xc3", b"A", b"ok"):
                os.write(master, chunk)
                await asyncio.sleep(0.1)
    asyncio.run(main())
    assert typed == [b"ls -l\r", "é\t".encode(), b"ok"]
    keys = [k for batch in calls for k in batch]
    assert [k.data for k in keys] == ["\udcc3", "A"]          # the cut byte, then A, parsed
