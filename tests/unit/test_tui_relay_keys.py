"""Where the C key relay sends plain typing, as the multiplexer arms it
(Multiplexer.relay_keys): only where Python would have sent it, in order.

A real TypingInput reads a real PTY (the user's terminal); each pane's
container is a pipe standing for its PTY, with the queue and write lock a
Container has.
"""
from __future__ import annotations

import os
import pty
import time
from types import SimpleNamespace

import pytest

from amcr.config import Config
from amcr.tui.app import Multiplexer
from amcr.tui.passthrough import TypingInput
from tests.helpers import read_available


class FakeContainer:
    """What Pane needs of a Container: a running state, an input, a write lock."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        self.state = SimpleNamespace(value="running")
        self.writing = False            # a Container.write under way
        self.full = False               # the input takes nothing now

    def input_free(self) -> int | None:
        return self.w if self.state.value == "running" and not self.writing else None

    def write_nowait(self, data: bytes) -> int:
        if self.state.value != "running" or self.writing or self.full:
            return 0
        return os.write(self.w, data)

    def got(self) -> bytes:
        return read_available(self.r)

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


@pytest.fixture
def mux():
    master, slave = pty.openpty()
    stdin = open(slave, "r", closefd=True)      # noqa: SIM115 (closed below)
    m = Multiplexer(Config(path=None, defaults={}, containers={}))
    keyboard = TypingInput(stdin)
    keyboard.typed = m.typed
    m.keyboard = keyboard
    containers = []
    for name in ("a", "b"):
        pane = m.add(name)
        pane.container = FakeContainer()
        containers.append(pane.container)
    box = SimpleNamespace(m=m, keyboard=keyboard, relay=keyboard.relay, master=master,
                          a=containers[0], b=containers[1], containers=containers)
    try:
        with keyboard.raw_mode():
            yield box
    finally:
        keyboard.relay.aim(-1)
        for c in box.containers:
            c.close()
        stdin.close()
        os.close(master)


def type_(box, data: bytes) -> None:
    """The user types ``data``; the event loop calls the relay."""
    os.write(box.master, data)
    time.sleep(0.03)
    box.relay()


def test_armed_plain_typing_goes_to_the_active_container_in_c(mux) -> None:
    mux.m.relay_keys()
    assert mux.relay.on
    type_(mux, b"ls\r")
    assert mux.a.got() == b"ls\r" and mux.b.got() == b""
    assert mux.relay.on                             # and stays on


@pytest.mark.parametrize("state", ["prefix", "prompt", "broadcast", "stats", "help",
                                   "held escape", "paste", "queued", "writing", "exited"])
def test_not_armed_where_python_would_not_send_it_there_at_once(mux, state: str) -> None:
    m, pane = mux.m, mux.m.panes[0]
    if state == "prefix":
        m.prefix_pending = True
    elif state == "prompt":
        m.prompt = SimpleNamespace(label="name", text="")
    elif state == "broadcast":
        m.broadcast = True
    elif state in ("stats", "help"):
        m.view = state
    elif state == "held escape":
        mux.keyboard._parser_may_hold = True
    elif state == "paste":
        mux.keyboard.vt100_parser._in_bracketed_paste = True
    elif state == "queued":
        pane._writes.put_nowait(b"earlier")
    elif state == "writing":
        mux.a.writing = True
    elif state == "exited":
        mux.a.state.value = "exited"
    m.relay_keys()
    assert not mux.relay.on and not mux.relay.aimed     # and no PTY held open
    type_(mux, b"x")
    if state == "broadcast":                            # Python sends it to every one
        assert mux.a.got() == mux.b.got() == b"x"
    else:                                               # not now, or not before the rest
        assert mux.a.got() == b""


def test_any_key_for_python_turns_it_off_before_python_acts(mux) -> None:
    mux.m.relay_keys()
    type_(mux, b"\x02")                 # the prefix: Python's way
    assert not mux.relay.on
    type_(mux, b"n")                    # so `n` is Python's too (the prefix command)
    assert mux.a.got() == b"" and mux.b.got() == b""


def test_a_queued_write_turns_it_off_at_once(mux) -> None:
    """A reply queued behind a full input (the emulator's answer to a query,
    say) must not be overtaken by relayed keys."""
    mux.m.relay_keys()
    mux.a.full = True
    mux.m.panes[0].send(b"\x1b[?1;2c")
    assert not mux.relay.on
    mux.a.full = False
    type_(mux, b"k")
    assert mux.a.got() == b""           # Python's way: behind the queued reply


def test_it_follows_the_active_pane_and_a_restart(mux) -> None:
    m = mux.m
    m.relay_keys()
    m.select(1)
    m.relay_keys()
    type_(mux, b"b")
    assert mux.b.got() == b"b" and mux.a.got() == b""
    old = mux.b
    m.panes[1].container = new = FakeContainer()        # restarted: a new PTY
    mux.containers.append(new)
    m.relay_keys()
    type_(mux, b"c")
    assert new.got() == b"c" and old.got() == b""


def test_no_panes_nothing_armed(mux) -> None:
    mux.m.panes.clear()
    mux.m.relay_keys()
    assert not mux.relay.aimed


@pytest.mark.parametrize("name", ["C-h", "C-i", "C-m", "ctrl-H"])
def test_a_key_typing_sends_on_cannot_be_the_prefix(name: str) -> None:
    """Backspace, Tab and Enter go straight to the container (in C too): as a
    prefix they would never reach the multiplexer."""
    from amcr.errors import AmcrError
    from amcr.tui.commands import parse_key
    with pytest.raises(AmcrError, match="also the"):
        parse_key(name)
    assert parse_key("C-a") == "c-a"


def test_backspace_goes_straight_on_and_ctrl_keys_do_not(mux) -> None:
    mux.m.relay_keys()
    type_(mux, b"ab\x7f")
    assert mux.a.got() == b"ab\x7f" and mux.relay.on
    type_(mux, b"\x03")                 # Ctrl-C: prompt_toolkit's way (then sent on by Python)
    assert not mux.relay.on
