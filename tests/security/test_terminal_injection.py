"""TIOCSTI / TIOCLINUX: pushing keystrokes into a terminal is refused, also with
the ioctl request's upper 32 bits set (the kernel ignores them)."""
from __future__ import annotations

import pytest

from tests.helpers import Amcr
from tests.security.conftest import py

INJECT = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_char_p]
for name, req in (("TIOCSTI", 0x5412), ("TIOCSTI-high", 0x1_0000_5412),
                  ("TIOCSTI-high2", 0xFFFF_FFFF_0000_5412), ("TIOCLINUX", 0x541C),
                  ("TIOCLINUX-high", 0x1_0000_541C)):
    ok = libc.ioctl(0, req, b"\\x0bid\\n")
    print(name, "INJECTED" if ok == 0 else errno.errorcode[ctypes.get_errno()])
"""


@pytest.mark.parametrize("profile", ["default", "strict"])
def test_tiocsti_and_tioclinux_are_refused(amcr: Amcr, neighbours: list, profile: str) -> None:
    proc = py(amcr, INJECT, "-t", "--seccomp", profile)
    lines = dict(line.split() for line in proc.stdout.replace("\r", "").splitlines() if line)
    assert set(lines) == {"TIOCSTI", "TIOCSTI-high", "TIOCSTI-high2", "TIOCLINUX",
                          "TIOCLINUX-high"}, proc.stdout + proc.stderr
    assert all(v == "EPERM" for v in lines.values()), lines


def test_unconfined_container_cannot_inject_into_the_callers_terminal(amcr: Amcr) -> None:
    """Even without seccomp, the container's terminal is its own PTY, not ours:
    the kernel refuses TIOCSTI on a terminal that is not the caller's own."""
    proc = py(amcr, "import fcntl, termios\ntry:\n fcntl.ioctl(1, termios.TIOCSTI, b'x')\n"
              " print('INJECTED-OWN')\nexcept OSError as e: print('refused', e.errno)",
              "--seccomp", "unconfined")
    assert "INJECTED" not in proc.stdout
