"""Test helpers: running the real amcr command, finding leftovers, driving tmux."""
from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass


@dataclass
class Amcr:
    """The installed command, with AMCR_HOME pointing at the test session's store."""

    command: list[str]
    home: str

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["AMCR_HOME"] = self.home
        env.update(extra)
        return env

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 60,
                 check_one_line: bool = False, env_extra: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.command + list(args), input=input, capture_output=True,
                              timeout=timeout, env=self.env(**(env_extra or {})),
                              stdin=None if input is not None else subprocess.DEVNULL)
        out = subprocess.CompletedProcess(proc.args, proc.returncode,
                                          proc.stdout.decode(errors="replace"),
                                          proc.stderr.decode(errors="replace"))
        if check_one_line:
            assert_one_line_error(out)
        return out

    def run(self, *cmd: str, opts: tuple[str, ...] = (), **kw: object
            ) -> subprocess.CompletedProcess[str]:
        return self("run", *opts, "--", *cmd, **kw)  # type: ignore[arg-type]

    def sh(self, script: str, *opts: str, image: str = "busybox",
           **kw: object) -> subprocess.CompletedProcess[str]:
        return self("run", "--image", image, *opts, "--", "sh", "-c", script, **kw)  # type: ignore[arg-type]

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command + list(args), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env())

    def shell_line(self, *args: str) -> str:
        """A shell command line that runs amcr with our AMCR_HOME (for tmux)."""
        return " ".join(shlex.quote(a) for a in
                        ["env", f"AMCR_HOME={self.home}", *self.command, *args])


def read_available(fd: int) -> bytes:
    """What the pipe or terminal ``fd`` holds right now (b"": nothing), without
    waiting: it is made non-blocking."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return b""


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got: {proc.stderr!r}"
    assert lines[0].startswith("amcr: "), lines[0]
    assert "Traceback" not in proc.stderr


def container_processes(home: str) -> list[int]:
    """PIDs of processes inside containers of this test session's store.

    Their mount table names the layer under ``home`` (overlay upperdir), which
    tells them apart from containers anybody else runs on the machine.
    """
    found = []
    needle = home.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/mountinfo", "rb") as f:
                if needle in f.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def wait_until_gone(home: str, timeout: float = 10) -> None:
    """Wait for the containers of ``home`` to exit (after a terminal hang-up)."""
    deadline = time.monotonic() + timeout
    while container_processes(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)   # and for amcr to remove the layer after the exit


def leftover_mounts(home: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line for line in f if home in line]


class Tmux:
    """A real terminal: a private tmux server, driven like a person would."""

    def __init__(self, width: int = 100, height: int = 30) -> None:
        self.socket = f"amcr-test-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=True).stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "t", "-x", str(self.width), "-y",
                  str(self.height), command + "; echo AMCR-EXIT=$?; sleep 600")

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def type_line(self, text: str) -> None:
        self.send("-l", text)
        self.send("Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t", "-S", "-200")

    def screen_with_escapes(self) -> str:
        """The visible screen with its colours and attributes as SGR escapes."""
        return self.tmux("capture-pane", "-p", "-e", "-t", "t")

    def cursor(self) -> tuple[int, int]:
        """(x, y) of the terminal's cursor, 0-based."""
        x, y = self.tmux("display-message", "-p", "-t", "t", "#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def wait_for(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear; screen:\n{screen}")
            time.sleep(0.05)

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
