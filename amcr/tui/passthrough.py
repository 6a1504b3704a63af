"""Typed text straight to the active container, past prompt_toolkit's key machinery.

Why: a keystroke for a container went through prompt_toolkit's parser, key
processor and binding lookup (merging every registry's bindings, looking for
the focused control's), only for ``encode_key`` to give back the same byte.
That was a large part of a keystroke's echo latency. Text that means the same
to every program whatever its modes (printable characters, Enter, Tab) is
sent as read (and so is DEL, the backspace key), when nothing in the
multiplexer wants keys (no prompt, no pending prefix, a terminal on screen;
none of these keys can be the prefix, see ``commands.TYPING_KEYS``).
Everything else (escape sequences, control keys, the prefix, pastes) takes
prompt_toolkit's way as before.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from codecs import IncrementalDecoder
from contextlib import contextmanager
from typing import TextIO

from prompt_toolkit.input.vt100 import Vt100Input
from prompt_toolkit.key_binding import KeyPress

from amcr.tui._relay import KeyRelay

# Printable text, CR, TAB and DEL (the backspace key: encode_key gives back the
# byte the terminal sent, whatever the program's modes); no C0/C1 controls, no
# lone surrogates (bytes the reader could not decode).
PLAIN = re.compile("[\t\r\x20-\x7f\xa0-\ud7ff\ue000-\U0010ffff]+")
# The same in ASCII, as bytes: what typing mostly is, checked without decoding.
PLAIN_ASCII = b"\t\r" + bytes(range(0x20, 0x80))


class TypingInput(Vt100Input):
    """prompt_toolkit's terminal input, offering plain text to ``typed`` first.

    ``typed(data)`` gets the text as UTF-8 bytes and returns True when it took
    them. Only whole reads are offered, and only when prompt_toolkit's parser
    holds nothing: after a read with an escape in it, until prompt_toolkit
    flushes (a lone ESC waits for what follows), and inside a bracketed paste
    (a long one spans many reads, most of them plain text), text goes to the
    parser so the order of keys is kept. (``_in_bracketed_paste`` is the
    parser's own flag; where it is missing, nothing is offered.)

    The terminal is read by :attr:`relay` (relay.c's ``KeyRelay``), a C
    callback the event loop calls directly. While the application has it
    *on* (:meth:`Multiplexer.relay_keys`, after every paint) a read of plain
    ASCII goes straight to the active container from there, before any
    Python runs: between a typist's keys the interpreter goes cold, and the
    Python way then cost about 45 µs of each echo. Every other read comes to
    :meth:`_read`, which turns the relay off: text taken by ``typed`` there
    never reaches prompt_toolkit, whose callback would run its key processor
    on no keys and restart two timeout tasks, after the write and before the
    echo can be read; plain ASCII is offered as read, undecoded.
    """

    typed: Callable[[bytes], bool] | None = None
    _parser_may_hold = False
    _unread: str | None = None      # read by the relay, for read_keys
    _ready: Callable[[], None] | None = None

    def __init__(self, stdin: TextIO) -> None:
        super().__init__(stdin)
        self.relay = KeyRelay(self.fileno(), self._read)

    @contextmanager
    def attach(self, input_ready_callback: Callable[[], None]) -> Iterator[None]:
        saved, self._ready = self._ready, input_ready_callback
        try:
            with super().attach(self.relay):
                # The relay itself, not prompt_toolkit's Python wrapper around
                # it (which only asks for `closed`: _read stops at the end).
                asyncio.get_running_loop().add_reader(self.fileno(), self.relay)
                yield
        finally:
            self._ready = saved

    def _read(self, raw: bytes) -> None:
        """What the relay read and did not send on; b"": the end of input."""
        ready = self._ready
        if not raw:                 # end of input: as prompt_toolkit's reader has it
            self.stdin_reader.closed = True
            asyncio.get_running_loop().remove_reader(self.fileno())
            if ready is not None:
                ready()
            return
        decoder = self._decoder
        if (decoder is not None and not self._unread and not decoder.buffer
                and not raw.translate(None, PLAIN_ASCII) and self._offer(raw)):
            return
        data = decoder.decode(raw) if decoder is not None else raw.decode(
            "utf-8", "surrogateescape")
        if self._unread:
            # prompt_toolkit's callback did not read the last ones (it
            # returns early while the application stops): keep them first.
            data, self._unread = self._unread + data, None
        if not self._offered(data):
            self._unread = data
            if ready is not None:
                ready()

    @property
    def _decoder(self) -> IncrementalDecoder | None:
        """prompt_toolkit's reader's UTF-8 decoder (None where it has none)."""
        return getattr(self.stdin_reader, "_stdin_decoder", None)

    def nothing_held(self) -> bool:
        """Plain text read now would be offered as it is: no undecoded byte,
        no unread key, nothing in prompt_toolkit's parser before it."""
        decoder = self._decoder
        return (decoder is not None and not decoder.buffer and not self._unread
                and self._parser_quiet())

    def read_keys(self) -> list[KeyPress]:
        data, self._unread = self._unread, None
        if data is None:
            data = self.stdin_reader.read()
            if self._offered(data):
                return []
        self._parser_may_hold = "\x1b" in data
        self.vt100_parser.feed(data)
        result, self._buffer = self._buffer, []
        return result

    def flush_keys(self) -> list[KeyPress]:
        self._parser_may_hold = False
        return super().flush_keys()

    def _offered(self, data: str) -> bool:
        """Offer decoded text, if it is plain."""
        return bool(PLAIN.fullmatch(data) and self._offer(data.encode("utf-8")))

    def _offer(self, data: bytes) -> bool:
        """Offer plain text, unless prompt_toolkit's parser may hold keys before it."""
        return bool(self.typed is not None and self._parser_quiet() and self.typed(data))

    def _parser_quiet(self) -> bool:
        return (not self._parser_may_hold and not self._buffer
                and not getattr(self.vt100_parser, "_in_bracketed_paste", True))
