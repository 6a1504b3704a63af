"""`amcr up`, driven in a real terminal (tmux) the way a person uses it."""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.helpers import Amcr, Tmux, wait_until_gone

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def up(amcr: Amcr, tmp_path: object) -> Iterator[Tmux]:
    """`amcr up a b c` in a 120x35 terminal, busybox shells."""
    config = os.path.join(str(tmp_path), "amcr.toml")
    with open(config, "w") as f:
        f.write('[defaults]\nimage = "busybox"\ncommand = ["/bin/sh"]\n'
                '[containers.c]\nimage = "host"\n')     # c has the host's vim and less
    os.chmod(str(tmp_path), 0o755)
    os.chmod(config, 0o644)
    t = Tmux(120, 35)
    t.start(amcr.shell_line("up", "-f", config, "a", "b", "c"))
    try:
        t.wait_for("2:c", timeout=30)
        t.wait_for("/ #", timeout=30)
        yield t
    finally:
        if "AMCR-EXIT" not in t.screen():
            t.send("C-b", "q")
            t.send("y")
            try:
                t.wait_for("AMCR-EXIT", timeout=15)
            except AssertionError:
                pass
        t.close()
        wait_until_gone(amcr.home)


def _marker(term: Tmux, command: str, marker: str) -> str:
    """Type ``command; echo MARKER`` with the marker split by quotes, wait for it."""
    half = len(marker) // 2
    term.type_line(f"{command}; echo {marker[:half]}''{marker[half:]}")
    return term.wait_for(marker)


def test_each_container_has_its_own_hostname(up: Tmux) -> None:
    for name in ("a", "b", "c"):
        screen = _marker(up, "hostname", f"DONE-{name}")
        lines = screen.splitlines()
        assert name in lines[lines.index(next(ln for ln in lines if ln.endswith(f"DONE-{name}")))
                             - 1], screen
        up.send("C-b", "n")
        time.sleep(0.2)


def test_tiled_view_shows_all_three(up: Tmux) -> None:
    up.send("C-b", "t")
    screen = up.wait_for("1:b [running]")
    assert "0:a [running]" in screen and "2:c [running]" in screen
    up.send("C-b", "t")


def test_colours_pass_through_and_other_views_leave_nothing_behind(up: Tmux) -> None:
    up.type_line("printf '\\033[31;1mRED''TEXT\\033[0m\\n'")
    up.wait_for("REDTEXT")
    assert "\x1b[1m\x1b[31mREDTEXT" in up.screen_with_escapes()
    for view in ("s", "?", "t"):            # stats, help, tiled: drawn over the shell
        up.send("C-b", view)
        up.wait_for({"s": "last minute", "?": "amcr up: keys", "t": "1:b [running]"}[view])
        time.sleep(0.3)
        screen = up.screen()
        if view == "t":                     # a's tile still shows it, in a narrower place
            assert screen.count("REDTEXT") == 1
            up.send("C-b", "t")
        else:
            assert "REDTEXT" not in screen, screen
            up.send("a")                    # any key closes the view (and is not typed)
        up.wait_for("REDTEXT")


def test_the_cursor_is_where_the_shell_has_it(up: Tmux) -> None:
    up.send("-l", "echo abc")
    screen = up.wait_for("/ # echo abc")
    row = screen.splitlines().index("/ # echo abc")
    deadline = time.monotonic() + 5
    while up.cursor() != (len("/ # echo abc"), row):
        assert time.monotonic() < deadline, (up.cursor(), screen)
        time.sleep(0.05)
    up.send("C-u")


def test_stats_view_lists_three_containers_with_live_pids(up: Tmux) -> None:
    up.type_line("sleep 300 &")
    up.send("C-b", "s")
    deadline = time.monotonic() + 10
    while True:
        rows = [ln.split() for ln in up.screen().splitlines()]
        stats = {r[1]: r for r in rows if len(r) >= 6 and r[1] in ("a", "b", "c")
                 and r[2] == "running"}
        if len(stats) == 3 and int(stats["a"][5]) == 2:
            break
        assert time.monotonic() < deadline, up.screen()
        time.sleep(0.2)
    assert int(stats["b"][5]) == 1 and int(stats["c"][5]) == 1
    up.send("C-b", "s")


@pytest.mark.parametrize("program,quit_keys", [("less /etc/os-release", ("q",)),
                                               ("vim /etc/os-release", ("Escape", ":q", "Enter"))])
def test_full_screen_program_leaves_the_screen_as_it_was(up: Tmux, program: str,
                                                         quit_keys: tuple[str, ...]) -> None:
    up.send("C-b", "2")                     # c: the host image
    _marker(up, "seq 1 5", "BEFORE")
    lines = up.screen().splitlines()
    before = lines[1:lines.index("BEFORE") + 1]     # the shell's screen so far
    up.type_line(program)
    up.wait_for("VERSION_CODENAME")         # the program drew the file (alternate screen)
    for key in quit_keys:
        up.send(key)
    deadline = time.monotonic() + 10
    while True:
        after = up.screen().splitlines()[1:]
        if after[:len(before)] == before and after[len(before)].endswith(program):
            break                           # restored, with the command line below it
        assert time.monotonic() < deadline, up.screen()
        time.sleep(0.1)
    assert "VERSION_CODENAME" not in up.screen()


def test_resize_reaches_the_container(up: Tmux) -> None:
    _marker(up, "stty size | tr ' ' x", "SIZE1")
    assert "33x120" in up.screen()          # 35 rows less the tab bar and status line
    up.resize(100, 30)
    time.sleep(0.5)
    _marker(up, "stty size | tr ' ' x", "SIZE2")
    assert "28x100" in up.screen()


def test_exited_container_shows_its_status_and_r_restarts_it(up: Tmux) -> None:
    up.type_line("exit 3")
    up.wait_for("[exit 3]")
    up.send("C-b", "r")
    time.sleep(1)
    _marker(up, "echo back", "RESTARTED")
    assert "[exit 3]" not in up.screen().splitlines()[0]


def test_a_flooding_container_does_not_stop_another_from_echoing(up: Tmux) -> None:
    _marker(up, "seq 1 3000000 > /tmp/big; ls -l /tmp/big", "MADE")
    up.type_line("cat /tmp/big; cat /tmp/big; cat /tmp/big")
    time.sleep(0.5)
    up.send("C-b", "n")
    start = time.monotonic()
    _marker(up, "echo from-b", "ECHO-B")
    assert time.monotonic() - start < 5
    up.send("C-b", "p")
    up.send("C-c")


def test_invalid_config_gives_one_line(amcr: Amcr, tmp_path: object) -> None:
    config = os.path.join(str(tmp_path), "amcr.toml")
    with open(config, "w") as f:
        f.write('[containers.web]\nmemory = "lots"\n')
    os.chmod(str(tmp_path), 0o755)
    os.chmod(config, 0o644)
    proc = amcr("up", "-f", config, check_one_line=True)
    assert proc.returncode == 125
    assert config in proc.stderr and "containers.web.memory" in proc.stderr


def test_up_without_a_terminal_says_so(amcr: Amcr) -> None:
    proc = amcr("up", "a", check_one_line=True)
    assert proc.returncode == 125 and "needs a terminal" in proc.stderr
