"""strict kills and says so; docker JSON profiles load; bad profiles are one line."""
from __future__ import annotations

import json
import os

from tests.helpers import Amcr


def test_strict_kills_on_a_forbidden_syscall_and_reports_it(amcr: Amcr, neighbours: list) -> None:
    proc = amcr("run", "--seccomp", "strict", "--image", "busybox", "--", "sh", "-c",
                "echo before; exec unshare -U true")
    assert proc.stdout == "before\n"
    assert proc.returncode == 128 + 31           # SIGSYS
    assert "killed by seccomp (SIGSYS)" in proc.stderr
    if os.getuid() == 0:                         # root can read the audit record
        assert "unshare" in proc.stderr


def test_strict_still_runs_ordinary_commands(amcr: Amcr) -> None:
    proc = amcr("run", "--seccomp", "strict", "--image", "busybox", "--", "sh", "-c",
                "ls / >/dev/null && cat /etc/os-release | grep -c ID && echo ok")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("ok\n")


def test_docker_json_profile_is_applied(amcr: Amcr, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "no-mkdir.json")
    with open(path, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                 "errnoRet": 13}]}, f)
    os.chmod(str(tmp_path), 0o755)
    os.chmod(path, 0o644)
    proc = amcr("run", "--seccomp-profile", path, "--image", "busybox", "--", "sh", "-c",
                "mkdir /x; echo rc=$?")
    assert "Permission denied" in proc.stderr and "rc=1" in proc.stdout


def test_invalid_profile_is_one_line_125(amcr: Amcr, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "bad.json")
    with open(path, "w") as f:
        f.write("{not json")
    os.chmod(str(tmp_path), 0o755)
    os.chmod(path, 0o644)
    proc = amcr("run", "--seccomp-profile", path, "--", "true", check_one_line=True)
    assert proc.returncode == 125 and "not valid JSON" in proc.stderr
    proc = amcr("run", "--seccomp", "bogus", "--", "true", check_one_line=True)
    assert proc.returncode == 125
