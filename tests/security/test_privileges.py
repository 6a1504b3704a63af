"""no_new_privs and capabilities: what PID 1 holds, and what setuid cannot add."""
from __future__ import annotations

import pytest

from amcr.kernel.userns import choose_mapping
from amcr.security.caps import CAP_NUMBER, DEFAULT_CAPS, mask
from tests.helpers import Amcr


def _status(amcr: Amcr, *opts: str) -> dict[str, str]:
    proc = amcr("run", "--image", "busybox", *opts, "--", "cat", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(":\t", 1) for line in proc.stdout.splitlines() if ":\t" in line)


def test_no_new_privs_and_default_capabilities(amcr: Amcr, neighbours: list) -> None:
    status = _status(amcr)
    assert status["NoNewPrivs"].strip() == "1"
    assert int(status["CapEff"], 16) == mask(DEFAULT_CAPS) == 0xA80425FB
    assert int(status["CapBnd"], 16) == mask(DEFAULT_CAPS)
    assert int(status["CapInh"], 16) == 0 and int(status["CapAmb"], 16) == 0


def test_cap_add_and_cap_drop(amcr: Amcr) -> None:
    status = _status(amcr, "--cap-drop", "ALL", "--cap-add", "net_bind_service")
    assert int(status["CapEff"], 16) == 1 << CAP_NUMBER["NET_BIND_SERVICE"]
    status = _status(amcr, "--cap-add", "CAP_SYS_ADMIN", "--cap-drop", "CHOWN")
    eff = int(status["CapEff"], 16)
    assert eff & (1 << CAP_NUMBER["SYS_ADMIN"]) and not eff & (1 << CAP_NUMBER["CHOWN"])
    bad = amcr("run", "--cap-add", "FLY", "--", "true", check_one_line=True)
    assert bad.returncode == 125 and "unknown capability" in bad.stderr


def test_setuid_binary_gains_nothing(amcr: Amcr, neighbours: list) -> None:
    if choose_mapping().size < 1001:
        pytest.skip("uid 1000 is not mapped with a single-ID mapping")
    script = ("cp /bin/busybox /suid && chmod 4755 /suid && "
              "python3 -c \"import os; os.setgid(1000); os.setuid(1000); "
              "os.execv('/suid', ['id', '-u'])\"")
    proc = amcr("run", "--", "sh", "-c", script)
    assert proc.stdout.strip() == "1000", proc.stderr


def test_dropped_capability_is_really_gone(amcr: Amcr) -> None:
    proc = amcr("run", "--image", "busybox", "--cap-drop", "CHOWN", "--cap-drop", "DAC_OVERRIDE",
                "--cap-drop", "FOWNER", "--", "sh", "-c",
                "touch /f && chown 1:1 /f; echo rc=$?")
    assert "rc=1" in proc.stdout
