"""``amcr up``: several container shells in one terminal, with live stats.

Reads top to bottom like prompt_toolkit's full-screen examples: the model
(:class:`Multiplexer`: panes, the active one, the view), the layout (tab bar,
body, status line), the key bindings (everything goes to the active container
except after the prefix key), the application, and ``run``.
"""
from __future__ import annotations

import asyncio
import gc
import math
import sys

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout import HSplit, Layout, VSplit, Window
from prompt_toolkit.layout.containers import DynamicContainer
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.mouse_events import MouseEvent, MouseEventType
from prompt_toolkit.styles import Style

from amcr.config import Config
from amcr.runtime.runtime import Runtime
from amcr.tui import commands
from amcr.tui.hoststats import HostStats, human, sparkline
from amcr.tui.keys import encode_key, encode_paste
from amcr.tui.pane import Pane
from amcr.tui.pacer import FramePacer
from amcr.tui.passthrough import TypingInput
from amcr.tui.paint import CursorSpot, Painter, PaneRenderer, TerminalWindow

STYLE = Style.from_dict({
    "tabbar": "bg:#303030 #d0d0d0",
    "tab": "",
    "tab.active": "bg:#5f87af #ffffff bold",
    "tab.exited": "#ff8787",
    "tab.host": "#afaf87",
    "status": "bg:#303030 #d0d0d0",
    "status.prompt": "bg:#5f5f00 #ffffff",
    "status.broadcast": "bg:#870000 #ffffff bold",
    "tile.title": "bg:#444444 #ffffff",
    "tile.title.active": "bg:#5f87af #ffffff bold",
    "stats.header": "bold underline",
    "help": "",
})

STATS_PERIOD = 1.0


class Multiplexer:
    """The model: panes, which one is active, what the body shows."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.panes: list[Pane] = []
        self.active = 0
        self.view = "single"            # single | tiled | stats | help
        self.broadcast = False
        self.prefix_pending = False
        self.prompt: commands.Prompt | None = None
        self.message = ""
        self.host = HostStats()
        self.runtime = Runtime(max_concurrency=None)
        self.painter = Painter()
        self.app: Application[int] | None = None
        self.pacer: FramePacer | None = None
        self.keyboard: TypingInput | None = None
        self._relayed: object = None        # the container the relay aims at, while on

    def output_arrived(self, echoed: bool = False) -> None:
        """A container printed something: paint its terminal soon (no full redraw)."""
        if self.pacer is not None:
            self.pacer.output_arrived(echoed)

    def terminal_has_keys(self) -> bool:
        """Typing goes to a container's terminal, not to the multiplexer: no
        prompt open, a terminal on screen. (The prefix, when pending, takes
        the next key; broadcasting, every running container gets it.)"""
        return self.prompt is None and bool(self.panes) and self.view in ("single", "tiled")

    def echo_pane(self) -> Pane | None:
        """The pane whose reads may be echoed early (echo.py): the active one,
        whose cursor the terminal shows, when the keys go to it alone, and
        while every read so far has been painted."""
        if (not self.terminal_has_keys() or self.broadcast
                or self.pacer is None or not self.pacer.idle()):
            return None
        return self.current

    def hook(self, pane: Pane) -> None:
        """Reads of ``pane`` go to the renderer before they are parsed (the
        early echo), without a call in between: that is on a keystroke's echo."""
        renderer = self.app.renderer if self.app is not None else None
        pane.before_feed = getattr(renderer, "echo_early", None)
        pane.on_backlog = self.stop_relay

    def relay_keys(self) -> None:
        """After every frame and paint: may plain typing go from the terminal
        straight to the active container, in C (relay.c)? Only where
        :meth:`typed` would send it there anyway, in the same order: no
        prompt, no prefix pending, no broadcast, a terminal on screen,
        nothing queued for the container and nothing held by prompt_toolkit's
        parser. Anything the relay does not take turns it off until the next
        paint, so every change of that state, which starts with a key taking
        Python's way (or a queued write, :meth:`stop_relay`), is seen first."""
        keyboard = self.keyboard
        if keyboard is None:
            return
        relay = keyboard.relay
        fd = container = None
        if (self.terminal_has_keys() and not self.prefix_pending and not self.broadcast
                and keyboard.nothing_held()):
            fd, container = self.current.input_free(), self.current.container
        if fd is not None and container is not self._relayed:
            try:
                relay.aim(fd)               # a duplicate: never a descriptor since reused
            except OSError:                 # no descriptor left: Python's way, then
                fd = None
        if fd is None:
            if relay.aimed:
                relay.aim(-1)               # an exited container's PTY is not kept open
            self._relayed = None
            return
        self._relayed = container
        relay.on = True

    def stop_relay(self) -> None:
        if self.keyboard is not None:
            self.keyboard.relay.on = False

    def invalidate(self) -> None:
        if self.app is not None:
            self.app.invalidate()

    def ui_state(self) -> tuple[object, ...]:
        """What, besides the containers' screens, the layout shows."""
        prompt = (self.prompt.label, self.prompt.text) if self.prompt else None
        return (self.active, self.view, self.broadcast, self.prefix_pending, prompt,
                self.message, len(self.panes))

    def typed(self, data: bytes) -> bool:
        """Plain text from the keyboard, UTF-8 (see passthrough.py): the active
        container's (or every one's, broadcasting), unless the multiplexer
        itself is waiting for keys."""
        if not self.terminal_has_keys() or self.prefix_pending:
            return False
        if self.broadcast:
            _send(self, data)
        else:
            self.panes[self.active].send(data)
        return True

    def add(self, name: str) -> Pane:
        pane = Pane(self.config.spec(name), self.invalidate, self.output_arrived)
        self.hook(pane)
        self.panes.append(pane)
        return pane

    @property
    def current(self) -> Pane:
        return self.panes[self.active]

    def select(self, index: int) -> None:
        if 0 <= index < len(self.panes):
            self.active = index
            if self.view in ("stats", "help"):
                self.view = "single"
            self.invalidate()


# -- layout ---------------------------------------------------------------------------

def tab_bar(mux: Multiplexer) -> list[tuple]:
    out: list[tuple] = []
    for i, pane in enumerate(mux.panes):
        def click(event: MouseEvent, i: int = i) -> None:
            if event.event_type == MouseEventType.MOUSE_UP:
                mux.select(i)
        style = "class:tab.active" if i == mux.active else "class:tab"
        if not pane.running and pane.exit_code is not None:
            style += " class:tab.exited"
        label = f" {i}:{pane.name}"
        label += (f" {pane.cpu:.0f}% {human(pane.memory)} " if pane.running
                  else f" [{pane.status()}] ")
        out.append((style, label, click))
        out.append(("class:tabbar", " "))
    host = mux.host
    # In steps of 5 %: an idle host's CPU flickers between 0 and 3 %, and every
    # change on screen is a full redraw (the idle budget is 0.5 % of a core).
    cpu = 5 * round(host.cpu / 5)
    out.append(("class:tab.host", f" host cpu {cpu}% mem {human(host.mem_used)}/"
                                  f"{human(host.mem_total)} "))
    return out


def status_line(mux: Multiplexer) -> list[tuple]:
    if mux.prompt is not None:
        return [("class:status.prompt", f" {mux.prompt.label}{mux.prompt.text}")]
    parts: list[tuple] = []
    if mux.broadcast:
        parts.append(("class:status.broadcast", " BROADCAST "))
    hint = f" {mux.config.prefix} ? help"
    if mux.prefix_pending:
        hint = f" {mux.config.prefix} … (n p 0-9 c x r t s b ? q)"
    parts.append(("class:status", f"{hint}   {mux.message}"))
    return parts


def stats_view(mux: Multiplexer) -> list[tuple]:
    rows = [("class:stats.header",
             f" {'#':<3}{'name':<14}{'state':<12}{'cpu %':>7}{'memory':>10}{'pids':>6}"
             f"{'uptime':>10}  last minute\n")]
    for i, p in enumerate(mux.panes):
        up = int(p.uptime)
        rows.append(("", f" {i:<3}{p.name:<14}{p.status():<12}{p.cpu:>7.1f}"
                         f"{human(p.memory):>10}{p.pids:>6}{up // 60:>7}:{up % 60:02d}  "
                         f"{sparkline(list(p.cpu_history))}\n"))
    sources = {p.stats_source for p in mux.panes if p.stats_source}
    rows.append(("", f"\n source: {', '.join(sorted(sources)) or '-'}; sampled every "
                     f"{STATS_PERIOD:g} s\n"))
    return rows


def terminal_window(mux: Multiplexer, pane: Pane) -> TerminalWindow:
    return TerminalWindow(mux.painter, pane,
                          on_click=lambda p: mux.select(mux.panes.index(p)))


def cursor_spot(mux: Multiplexer) -> CursorSpot | None:
    """Where the terminal's cursor goes: into the prompt while one is open, else
    where the active container's program has it (hidden if it hid it)."""
    app = mux.app
    if mux.prompt is not None and app is not None:
        rows = app.output.get_size().rows
        return CursorSpot(len(f" {mux.prompt.label}{mux.prompt.text}"), rows - 1, True)
    pane = mux.current if mux.panes else None
    for region in mux.painter.regions:
        if region.pane is pane:
            cursor = pane.emulator.cursor
            return CursorSpot(region.x + min(max(cursor.col, 0), region.width - 1),
                              region.y + min(max(cursor.row, 0), region.height - 1),
                              cursor.visible and pane.running, cursor.shape, cursor.blink)
    return None


def tiled(mux: Multiplexer) -> HSplit:
    """A grid, each tile live; the active one takes the keys."""
    n = len(mux.panes)
    cols = math.ceil(math.sqrt(n)) or 1
    grid_rows = []
    for start in range(0, n, cols):
        tiles = []
        for i in range(start, min(start + cols, n)):
            pane = mux.panes[i]
            title = "class:tile.title.active" if i == mux.active else "class:tile.title"
            tiles.append(HSplit([Window(FormattedTextControl([(title, f" {i}:{pane.name} "
                                                               f"[{pane.status()}]")]),
                                        height=1, style=title, always_hide_cursor=True),
                                 terminal_window(mux, pane)]))
            if i < min(start + cols, n) - 1:
                tiles.append(Window(width=1, char="│", style="class:tabbar"))
        grid_rows.append(VSplit(tiles))
    return HSplit(grid_rows)


def body(mux: Multiplexer) -> object:
    if mux.view == "tiled":
        return tiled(mux)
    if mux.view == "stats":
        return Window(FormattedTextControl(lambda: stats_view(mux)), always_hide_cursor=True)
    if mux.view == "help":
        return Window(FormattedTextControl(commands.help_text(mux.config.prefix)),
                      always_hide_cursor=True)
    return terminal_window(mux, mux.current)


def layout(mux: Multiplexer) -> Layout:
    return Layout(HSplit([
        Window(FormattedTextControl(lambda: tab_bar(mux)), height=1, style="class:tabbar",
               always_hide_cursor=True),
        DynamicContainer(lambda: body(mux)),
        Window(FormattedTextControl(lambda: status_line(mux)), height=1, style="class:status",
               always_hide_cursor=True),
    ]))


# -- keys --------------------------------------------------------------------------------

def key_bindings(mux: Multiplexer) -> KeyBindings:
    kb = KeyBindings()
    prefix = commands.parse_key(mux.config.prefix)

    # save_before: no undo snapshot of a (dummy) buffer before every key.
    @kb.add(Keys.Any, save_before=lambda _event: False)
    def _any(event: KeyPressEvent) -> object:
        """Every key: the prompt, the prefix command, or the active container.

        Keys for the container cause no redraw here (NotImplemented tells
        prompt_toolkit so): the echo is painted when it comes, and a redraw
        before it arrives would only delay it.
        """
        before = mux.ui_state()
        for press in event.key_sequence:
            key, data = press.key, press.data
            if mux.prompt is not None:
                commands.prompt_key(mux, key, data)
            elif mux.prefix_pending:
                mux.prefix_pending = False
                if key == prefix:         # the prefix twice sends it through
                    _send(mux, encode_key(key, data, mux.current.emulator.modes))
                else:
                    commands.run(mux, key, data)
            elif key == prefix:
                mux.prefix_pending = True
            elif mux.view in ("stats", "help"):
                mux.view = "single"
            else:
                _send(mux, encode_key(key, data, mux.current.emulator.modes))
        if mux.ui_state() != before:
            mux.invalidate()
        return NotImplemented

    @kb.add(Keys.BracketedPaste, save_before=lambda _event: False)
    def _paste(event: KeyPressEvent) -> object:
        if mux.prompt is not None:
            mux.prompt.text += event.data
            return None                   # the prompt shows it: redraw
        _send(mux, encode_paste(event.data, mux.current.emulator.modes))
        return NotImplemented

    return kb


def _send(mux: Multiplexer, data: bytes) -> None:
    if not data:
        return
    targets = [p for p in mux.panes if p.running] if mux.broadcast else [mux.current]
    for pane in targets:
        pane.send(data)


# -- application ---------------------------------------------------------------------------

async def _sample(mux: Multiplexer) -> None:
    """Once a second; a redraw only when the numbers on screen changed (idle: none)."""
    shown: object = None
    while True:
        mux.host.sample()
        for pane in mux.panes:
            pane.sample()
        now = (tab_bar_text(mux), stats_view(mux) if mux.view == "stats" else None)
        if now != shown:
            shown = now
            mux.invalidate()
        await asyncio.sleep(STATS_PERIOD)


def tab_bar_text(mux: Multiplexer) -> str:
    return "".join(fragment[1] for fragment in tab_bar(mux))


class MuxApplication(Application[int]):
    """prompt_toolkit's Application, without a throwaway Buffer per key, and
    dropping the early echo's plan when it is invalidated.

    With no text buffer focused (amcr has none), ``current_buffer`` builds a
    new dummy Buffer on every access, and the key processor asks for it after
    every key: about 0.1 ms of a keystroke's echo. One dummy does.
    """

    _dummy: Buffer | None = None

    def invalidate(self) -> None:
        """A redraw is coming: nothing may be written early before it (echo.py)."""
        drop = getattr(getattr(self, "renderer", None), "drop_echo", None)
        if drop is not None:
            drop()
        super().invalidate()

    @property
    def current_buffer(self) -> Buffer:
        found = self.layout.current_buffer
        if found is not None:
            return found
        if self._dummy is None:
            self._dummy = Buffer(name="dummy-buffer", read_only=True)
        return self._dummy


async def main(config: Config, names: list[str]) -> int:
    mux = Multiplexer(config)
    for name in names:
        mux.add(name)
    # No size polling: SIGWINCH says when the size changes (the poll wakes the loop twice a second).
    keyboard = TypingInput(sys.stdin)
    keyboard.typed = mux.typed
    mux.keyboard = keyboard
    app = MuxApplication(layout=layout(mux), key_bindings=key_bindings(mux), style=STYLE,
                         full_screen=True, mouse_support=True, input=keyboard,
                         terminal_size_polling_interval=None)
    mux.app = app
    app.renderer = renderer = PaneRenderer(app, mux.painter, lambda: cursor_spot(mux))
    mux.pacer = pacer = FramePacer(app, lambda: mux.panes)
    renderer.echo_pane = mux.echo_pane
    renderer.echo_not_before = lambda: pacer.not_before
    renderer.after_paint = mux.relay_keys
    for pane in mux.panes:
        mux.hook(pane)
    async with mux.runtime:
        sampler = asyncio.get_running_loop().create_task(_sample(mux))
        starting = asyncio.gather(*(p.start(mux.runtime) for p in mux.panes))
        try:
            await starting
            # What exists now (modules, the layout, the panes) lives as long as the
            # app: out of the collector's sight, a full collection stays short
            # and cannot land on a keystroke's echo as a pause.
            gc.freeze()
            return await app.run_async()
        finally:
            sampler.cancel()
            keyboard.relay.aim(-1)
            for pane in mux.panes:
                await pane.close()
