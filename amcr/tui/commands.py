"""The multiplexer's own commands, reached with the prefix key (tmux's C-b).

Named, small functions: a key table maps keys to them, and the help screen is
generated from the same table, so the two never disagree.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from prompt_toolkit.keys import Keys

from amcr.errors import AmcrError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.tui.app import Multiplexer


class Prompt:
    """A one-line question in the status bar (a name, or y/n)."""

    def __init__(self, label: str, on_done: Callable[[str], None], *, yes_no: bool = False) -> None:
        self.label = label
        self.text = ""
        self.on_done = on_done
        self.yes_no = yes_no


# Control keys that are typing's own bytes, sent straight to the container
# (passthrough.PLAIN_ASCII): Tab, Enter, and Backspace (prompt_toolkit reads DEL as c-h).
TYPING_KEYS = {"c-i": "Tab", "c-m": "Enter", "c-h": "Backspace"}


def parse_key(name: str) -> str:
    """``C-b`` -> the prompt_toolkit key ``c-b``; ``M-a`` is not a valid prefix."""
    text = name.strip()
    if text.lower().startswith(("c-", "ctrl-")):
        letter = text.split("-", 1)[1].lower()
        key = f"c-{letter}"
        if key in TYPING_KEYS:
            raise AmcrError(f"invalid prefix key {name!r}: it is also the {TYPING_KEYS[key]} key",
                            hint='use another control key, such as "C-b" or "C-a"')
        if key in {k.value for k in Keys}:
            return key
    raise AmcrError(f"invalid prefix key {name!r}", hint='use a control key such as "C-b" or "C-a"')


def _spawn(coro: object) -> None:
    asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]


def next_pane(mux: Multiplexer) -> None:
    """next container"""
    mux.select((mux.active + 1) % len(mux.panes))


def previous_pane(mux: Multiplexer) -> None:
    """previous container"""
    mux.select((mux.active - 1) % len(mux.panes))


def new_container(mux: Multiplexer) -> None:
    """start a new container (asks its name)"""
    def done(name: str) -> None:
        name = name.strip()
        if not name:
            return
        if any(p.name == name for p in mux.panes):
            mux.message = f"a container named {name} exists already"
            return
        try:
            pane = mux.add(name)
        except AmcrError as exc:
            mux.message = exc.line()
            return
        mux.select(len(mux.panes) - 1)
        _spawn(pane.start(mux.runtime))
    mux.prompt = Prompt("name of the new container: ", done)


def stop_container(mux: Multiplexer) -> None:
    """stop the active container (asks to confirm)"""
    pane = mux.current

    def done(answer: str) -> None:
        if answer == "y":
            _spawn(pane.stop())
    mux.prompt = Prompt(f"stop {pane.name}? (y/n) ", done, yes_no=True)


def restart_container(mux: Multiplexer) -> None:
    """restart the active container if it exited"""
    pane = mux.current
    if pane.running:
        mux.message = f"{pane.name} is running; stop it first (x)"
        return
    pane.emulator.feed(b"\r\n\x1b[2m[restarting]\x1b[0m\r\n")
    _spawn(pane.start(mux.runtime))


def toggle_tiled(mux: Multiplexer) -> None:
    """tiled view of all containers on / off"""
    mux.view = "single" if mux.view == "tiled" else "tiled"


def toggle_stats(mux: Multiplexer) -> None:
    """stats view: CPU, memory, PIDs, uptime, the last minute"""
    mux.view = "single" if mux.view == "stats" else "stats"


def toggle_broadcast(mux: Multiplexer) -> None:
    """send typing to every container on / off"""
    mux.broadcast = not mux.broadcast


def show_help(mux: Multiplexer) -> None:
    """this help"""
    mux.view = "single" if mux.view == "help" else "help"


def quit_all(mux: Multiplexer) -> None:
    """quit: stops every container (asks to confirm)"""
    def done(answer: str) -> None:
        if answer == "y" and mux.app is not None:
            mux.app.exit(result=0)
    mux.prompt = Prompt("quit and stop all containers? (y/n) ", done, yes_no=True)


COMMANDS: dict[str, Callable[[Multiplexer], None]] = {
    "n": next_pane, "p": previous_pane, "c": new_container, "x": stop_container,
    "r": restart_container, "t": toggle_tiled, "s": toggle_stats, "b": toggle_broadcast,
    "?": show_help, "q": quit_all,
}


def run(mux: Multiplexer, key: str, data: str) -> None:
    """A key after the prefix."""
    mux.message = ""
    if len(data) == 1 and data.isdigit():
        mux.select(int(data))
        return
    command = COMMANDS.get(data) if len(data) == 1 else None
    if command is None:
        mux.message = f"no command on {data or key!r} (prefix then ? for help)"
        return
    command(mux)


def prompt_key(mux: Multiplexer, key: str, data: str) -> None:
    prompt = mux.prompt
    assert prompt is not None
    if key in (Keys.Escape, Keys.ControlC, Keys.ControlG):
        mux.prompt = None
    elif prompt.yes_no:
        mux.prompt = None
        prompt.on_done("y" if data.lower() == "y" else "n")
    elif key in (Keys.ControlM, Keys.ControlJ, Keys.Enter):
        mux.prompt = None
        prompt.on_done(prompt.text)
    elif key in (Keys.Backspace, Keys.ControlH):
        prompt.text = prompt.text[:-1]
    elif data and data.isprintable():
        prompt.text += data


def help_text(prefix: str) -> list[tuple[str, str]]:
    lines = [("class:stats.header", " amcr up: keys\n\n"),
             ("", f" Every key goes to the active container, except after {prefix}:\n\n")]
    lines.append(("", f"   {'0-9':<6} switch to container N\n"))
    for key, command in COMMANDS.items():
        lines.append(("", f"   {key:<6} {command.__doc__}\n"))
    lines.append(("", f"   {prefix:<6} send {prefix} itself\n\n"))
    lines.append(("", " A click on a tab switches to it. Any key closes this help.\n"))
    return lines
