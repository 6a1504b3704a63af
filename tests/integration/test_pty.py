"""The interactive PTY, driven in a real terminal (tmux) as a person would."""
from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.helpers import Amcr, Tmux, wait_until_gone

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def term(amcr: Amcr) -> Iterator[Tmux]:
    t = Tmux(100, 30)
    t.start(amcr.shell_line("run", "--image", "busybox", "--", "sh"))
    t.wait_for("/ #")
    try:
        yield t
        if "AMCR-EXIT" not in t.screen():
            t.send("C-c")
            t.type_line("exit")
            t.type_line("exit")     # a second exit leaves despite stopped jobs
            t.wait_for("AMCR-EXIT")
    finally:
        t.close()
        wait_until_gone(amcr.home)


def test_tty_names_a_pts_device_that_exists_inside(term: Tmux) -> None:
    # quotes split the marker, so the echoed command line cannot match it
    term.type_line("tty; test -c $(tty) && echo EXI''STS")
    screen = term.wait_for("EXISTS")
    assert "/dev/pts/0" in screen


def test_shell_has_job_control(term: Tmux) -> None:
    term.type_line("sleep 100 &")
    term.type_line("jobs")
    term.wait_for("Running")
    term.type_line("fg")
    # A key sent before the shell gave the terminal to the job would reach the
    # shell, which ignores it: wait for fg's own output (printed just before).
    term.wait_for("\nsleep 100")
    term.send("C-z")
    term.wait_for("Stopped")
    term.type_line("kill %1; echo JOB''DONE")
    term.wait_for("JOBDONE")


def test_window_size_comes_from_the_terminal_and_follows_resize(term: Tmux) -> None:
    term.type_line("echo SIZE-$(stty size | tr ' ' x)")
    term.wait_for("SIZE-30x100")
    term.resize(120, 40)
    term.type_line("echo SIZE-$(stty size | tr ' ' x)")
    term.wait_for("SIZE-40x120")


def test_ctrl_c_interrupts_the_job_inside_not_amcr(term: Tmux) -> None:
    term.type_line("echo SLEEP''ING; sleep 100")
    term.wait_for("SLEEPING")      # the job owns the terminal a moment later (see above)
    term.send("C-c")
    term.type_line("echo INTERRUPTED-$?")
    term.wait_for("INTERRUPTED-130")
    term.type_line("echo STILL-''HERE")
    term.wait_for("STILL-HERE")
    assert "AMCR-EXIT" not in term.screen()


def test_exit_status_of_the_shell_is_amcrs(term: Tmux) -> None:
    term.type_line("exit 7")
    term.wait_for("AMCR-EXIT=7")


def test_t_forces_a_tty_without_a_terminal(amcr: Amcr) -> None:
    proc = amcr("run", "-t", "--image", "busybox", "--", "sh", "-c", "tty; stty size")
    lines = proc.stdout.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/"), proc.stdout
    assert lines[1] == "24 80"
