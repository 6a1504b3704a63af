"""relay.c: the C reader callbacks on a keystroke's echo path (KeyRelay, EchoReader).

Real descriptors: pipes and PTYs, read and written by the C objects as the
event loop would call them.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import time
import tty
from types import SimpleNamespace

import pytest

from amcr.tui._relay import CHUNK, EchoReader, KeyRelay
from tests.helpers import read_available


def pipe(nonblocking_read: bool = True) -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, not nonblocking_read)
    return r, w


@pytest.fixture
def keys():
    """A relay reading a pipe that stands for the terminal, aimed at another."""
    term_r, term_w = pipe()
    to_r, to_w = pipe()
    fallen: list[bytes] = []
    relay = KeyRelay(term_r, fallen.append)
    yield SimpleNamespace(relay=relay, term=term_w, target_r=to_r, target_w=to_w, fallen=fallen)
    relay.aim(-1)
    for fd in (term_r, term_w, to_r, to_w):
        os.close(fd)


def test_plain_typing_goes_straight_to_the_target(keys) -> None:
    keys.relay.aim(keys.target_w)
    assert keys.relay.on and keys.relay.aimed
    for typed in (b"l", b"s -la\r", b"\t", b"~", b"\x7f", b"ab\x7f\x7fc"):
        os.write(keys.term, typed)
        keys.relay()
        assert os.read(keys.target_r, 100) == typed
    assert keys.fallen == [] and keys.relay.on


@pytest.mark.parametrize("typed", [b"\x1b[A", b"\x02", b"\x08", "é".encode(), b"\n", b"a\x1b",
                                   b"\x03", b"\x80"])
def test_anything_else_goes_to_python_and_turns_the_relay_off(keys, typed: bytes) -> None:
    keys.relay.aim(keys.target_w)
    os.write(keys.term, typed)
    keys.relay()
    assert keys.fallen == [typed] and read_available(keys.target_r) == b""
    assert not keys.relay.on and keys.relay.aimed
    os.write(keys.term, b"x")               # off: plain typing goes to Python too
    keys.relay()
    assert keys.fallen == [typed, b"x"] and read_available(keys.target_r) == b""


def test_off_or_unaimed_everything_goes_to_python(keys) -> None:
    os.write(keys.term, b"a")
    keys.relay()
    keys.relay.on = True                    # nothing aimed at: stays off
    assert not keys.relay.on
    os.write(keys.term, b"b")
    keys.relay()
    keys.relay.aim(keys.target_w)
    keys.relay.on = False
    os.write(keys.term, b"c")
    keys.relay()
    assert keys.fallen == [b"a", b"b", b"c"] and read_available(keys.target_r) == b""


def test_what_the_target_does_not_take_goes_to_python(keys) -> None:
    """A full input: the keys go to Python, which queues them (a pipe takes a
    small write whole or not at all; a PTY may take part of it, and the rest
    goes to Python)."""
    os.set_blocking(keys.target_w, False)
    keys.relay.aim(keys.target_w)
    size = fcntl.fcntl(keys.target_w, 1032)         # F_GETPIPE_SZ
    os.write(keys.target_w, b"." * (size - 3))      # three bytes of room left
    os.write(keys.term, b"abcdef")
    keys.relay()
    assert keys.fallen == [b"abcdef"] and not keys.relay.on
    assert read_available(keys.target_r) == b"." * (size - 3)


def test_a_part_taken_the_rest_goes_to_python() -> None:
    master, slave = pty.openpty()           # the slave never reads: its input fills up
    tty.setraw(slave)
    term_r, term_w = pipe()
    fallen: list[bytes] = []
    relay = KeyRelay(term_r, fallen.append)
    try:
        os.set_blocking(master, False)
        relay.aim(master)
        sent = 0
        while not fallen:
            os.write(term_w, b"k" * 1000)
            relay()
            sent += 1000
        rest = fallen[0]
        assert 0 < len(rest) <= 1000 and rest == b"k" * len(rest) and not relay.on
        os.set_blocking(slave, False)
        got = b""
        try:
            while True:
                got += os.read(slave, 65536)
        except BlockingIOError:
            pass
        assert got == b"k" * (sent - len(rest))     # nothing lost, nothing twice
    finally:
        relay.aim(-1)
        for fd in (master, slave, term_r, term_w):
            os.close(fd)


def test_the_target_is_a_duplicate(keys) -> None:
    """The container's descriptor may be closed and its number reused: the
    relay's own duplicate still names the container's PTY, nothing else."""
    r, w = pipe()
    keys.relay.aim(w)
    os.close(w)
    reused_r, reused_w = pipe()             # likely the same number as w
    try:
        os.write(keys.term, b"k")
        keys.relay()
        assert os.read(r, 10) == b"k" and read_available(reused_r) == b""
        keys.relay.aim(-1)                  # the duplicate is closed: the pipe ends
        assert os.read(r, 10) == b"" and not keys.relay.aimed
    finally:
        for fd in (r, reused_r, reused_w):
            os.close(fd)


def test_the_end_of_input_and_a_spurious_wake_up(keys) -> None:
    keys.relay()                            # not readable after all: nothing happens
    assert keys.fallen == []
    os.close(keys.term)
    keys.term = os.open("/dev/null", os.O_RDONLY)   # for the fixture to close
    keys.relay()
    assert keys.fallen == [b""]


def test_it_reads_a_terminal() -> None:
    master, slave = pty.openpty()
    tty.setraw(slave)                       # as prompt_toolkit has the terminal
    os.set_blocking(slave, False)
    got: list[bytes] = []
    r, w = pipe()
    relay = KeyRelay(slave, got.append)
    try:
        relay.aim(w)
        os.write(master, b"hostname\r")
        time.sleep(0.05)
        relay()
        assert os.read(r, 100) == b"hostname\r"
        assert got == []
    finally:
        relay.aim(-1)
        for fd in (master, slave, r, w):
            os.close(fd)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        KeyRelay(0, None)
    with pytest.raises(TypeError):
        EchoReader(0, 5)
    relay = KeyRelay(0, print)
    with pytest.raises(OSError):
        relay.aim(1 << 20)                  # not an open descriptor
    with pytest.raises(ValueError):
        relay.aim(1 << 40)
    assert not relay.aimed


# -- EchoReader --------------------------------------------------------------------------


@pytest.fixture
def echo():
    """A reader of a pipe that stands for a PTY; another pipe for the terminal."""
    pty_r, pty_w = pipe()
    tty_r, tty_w = pipe()
    reads: list[tuple[bytes, int]] = []
    box = SimpleNamespace(pty=pty_w, tty_r=tty_r, tty_w=tty_w, reads=reads,
                          output=SimpleNamespace(_buffer=[]))
    box.reader = EchoReader(pty_r, lambda data: reads.append((data, box.reader.fired)))
    yield box
    for fd in (pty_r, pty_w, tty_r, tty_w):
        os.close(fd)


def test_every_read_is_dispatched_whole(echo) -> None:
    for data in (b"a", b"\x1b[31mred\r\n", bytes(range(256))):
        os.write(echo.pty, data)
        echo.reader()
    assert echo.reads == [(b"a", 0), (b"\x1b[31mred\r\n", 0), (bytes(range(256)), 0)]
    assert read_available(echo.tty_r) == b""
    echo.reader()                           # not readable after all: no read to dispatch
    assert len(echo.reads) == 3


def test_a_read_is_at_most_a_chunk(echo) -> None:
    os.set_blocking(echo.pty, False)
    total = 0
    try:
        while True:
            total += os.write(echo.pty, b"z" * 65536)
    except BlockingIOError:
        pass
    while total:
        echo.reader()
        data = echo.reads.pop()[0]
        assert 0 < len(data) <= CHUNK
        total -= len(data)


def test_armed_the_printable_start_is_written_first(echo) -> None:
    echo.reader.arm(echo.tty_w, 8, 256, 0.0, echo.output)
    assert echo.reader.armed
    os.write(echo.pty, b"ls -l\x1b[K")
    echo.reader()
    assert echo.reads == [(b"ls -l\x1b[K", 5)]
    assert read_available(echo.tty_r) == b"ls -l"
    assert not echo.reader.armed            # once
    os.write(echo.pty, b"x")
    echo.reader()
    assert echo.reads[-1] == (b"x", 0) and read_available(echo.tty_r) == b""


@pytest.mark.parametrize("read, room, small, expect", [
    (b"abcdefghij", 4, 256, b"abcd"),       # no more than the room
    (b"\x1b[Kabc", 8, 256, b""),            # a leading control: nothing
    (b"a\tb", 8, 256, b"a"),                # TAB is not printable here
    ("éa".encode(), 8, 256, b""),           # nor UTF-8
    (b"a\x7f", 8, 256, b"a"),               # nor DEL
    (b"abc", 8, 2, b""),                    # a read bigger than small: not at once
    (b"abc", 8, 3, b"abc"),
])
def test_what_is_written_early(echo, read: bytes, room: int, small: int, expect: bytes) -> None:
    echo.reader.arm(echo.tty_w, room, small, 0.0, echo.output)
    os.write(echo.pty, read)
    echo.reader()
    assert read_available(echo.tty_r) == expect
    assert echo.reads == [(read, len(expect))]


def test_it_waits_for_the_pacer_and_for_prompt_toolkits_buffer(echo) -> None:
    cases = [(time.monotonic() + 60, echo.output),          # the interval has not passed
             (0.0, SimpleNamespace(_buffer=["\x1b[H"])),    # prompt_toolkit has a write waiting
             (0.0, SimpleNamespace()),                      # not an output we know
             (0.0, SimpleNamespace(_buffer=""))]
    for not_before, output in cases:
        echo.reader.arm(echo.tty_w, 8, 256, not_before, output)
        os.write(echo.pty, b"q")
        echo.reader()
        assert echo.reads.pop() == (b"q", 0) and read_available(echo.tty_r) == b""
        assert not echo.reader.armed


def test_a_failed_early_write_still_counts(echo) -> None:
    """Whatever came of the write (a full terminal, say), the row is repainted."""
    os.set_blocking(echo.tty_w, False)
    size = fcntl.fcntl(echo.tty_w, 1032)            # F_GETPIPE_SZ
    os.write(echo.tty_w, b"." * size)
    echo.reader.arm(echo.tty_w, 8, 256, 0.0, echo.output)
    os.write(echo.pty, b"abc")
    echo.reader()
    assert echo.reads == [(b"abc", 3)]


def test_a_source_reads_with_the_reader_it_is_given() -> None:
    """Source.use_reader, before and after the source starts: the loop calls
    that reader, which hands each read to Source.dispatch."""
    from amcr.runtime.streams import Collector, Source

    async def go(before: bool) -> None:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        tty_r, tty_w = pipe()
        source = Source(loop, r, "pty")
        sink = Collector()
        source.add(sink)
        reader = EchoReader(r, source.dispatch)
        if before:
            source.use_reader(reader)
        source.start()
        if not before:
            source.use_reader(reader)
        reader.arm(tty_w, 8, 256, 0.0, SimpleNamespace(_buffer=[]))
        os.write(w, b"hi")
        for _ in range(100):
            await asyncio.sleep(0.005)
            if sink.data:
                break
        assert bytes(sink.data) == b"hi" and os.read(tty_r, 10) == b"hi"   # ours, armed
        os.close(w)
        await asyncio.wait_for(source.done, 5)
        for fd in (r, tty_r, tty_w):
            os.close(fd)

    asyncio.run(go(True))
    asyncio.run(go(False))


def test_disarmed_or_without_room_nothing_is_written(echo) -> None:
    echo.reader.arm(echo.tty_w, 8, 256, 0.0, echo.output)
    echo.reader.disarm()
    echo.reader.arm(echo.tty_w, 0, 256, 0.0, echo.output)
    assert not echo.reader.armed
    os.write(echo.pty, b"w")
    echo.reader()
    assert echo.reads == [(b"w", 0)] and read_available(echo.tty_r) == b""


def test_the_end_is_an_empty_read(echo) -> None:
    master, slave = pty.openpty()
    got: list[bytes] = []
    reader = EchoReader(master, got.append)
    os.set_blocking(master, False)
    try:
        os.write(slave, b"bye")
        time.sleep(0.05)
        reader()
        os.close(slave)                     # every slave side closed: EIO, for good
        reader()
        assert got == [b"bye", b""]
    finally:
        os.close(master)
