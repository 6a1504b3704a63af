"""Exit codes as docker/podman: the command's, 128+N, 125, 126, 127; one-line errors."""
from __future__ import annotations

import os
import signal
import time

from tests.helpers import Amcr, assert_one_line_error, container_processes


def test_false_gives_1(amcr: Amcr) -> None:
    assert amcr("run", "--image", "busybox", "--", "false").returncode == 1


def test_sigkill_of_the_container_gives_137(amcr: Amcr) -> None:
    proc = amcr.popen("run", "--image", "busybox", "--", "sleep", "60")
    deadline = time.monotonic() + 30
    pids: list[int] = []
    while not pids and time.monotonic() < deadline:
        pids = [p for p in container_processes(amcr.home)]
        time.sleep(0.05)
    assert pids, "container never started"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == 137


def test_kill_9_dollar_dollar_in_a_child_shell_gives_137(amcr: Amcr) -> None:
    proc = amcr.sh("sh -c 'kill -9 $$'; exit $?")
    assert proc.returncode == 137


def test_pid_1_is_protected_from_its_own_sigkill_as_in_docker(amcr: Amcr) -> None:
    """The kernel ignores signals a PID namespace's init sends itself without a
    handler; docker and podman (without --init) behave the same."""
    proc = amcr.sh("kill -9 $$; echo survived")
    assert proc.stdout == "survived\n"


def test_signal_to_amcr_is_forwarded_to_the_container(amcr: Amcr) -> None:
    proc = amcr.popen("run", "--image", "busybox", "--", "sh", "-c",
                      "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done")
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert out == b"got-term\n"
    assert proc.returncode == 42


def test_a_container_ignoring_sigterm_is_killed_after_the_stop_timeout(amcr: Amcr) -> None:
    """PID 1 without a handler ignores SIGTERM (the kernel protects init), so amcr
    escalates to SIGKILL after --stop-timeout, as docker stop does."""
    proc = amcr.popen("run", "--stop-timeout", "1", "--image", "busybox", "--", "sh", "-c",
                      "echo ready; sleep 60")
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert proc.returncode == 137
    assert 0.8 <= time.monotonic() - start < 10


def test_bad_stop_timeout_is_one_line(amcr: Amcr) -> None:
    proc = amcr("run", "--stop-timeout", "soon", "--", "true", check_one_line=True)
    assert proc.returncode == 125


def test_missing_command_gives_127(amcr: Amcr) -> None:
    proc = amcr("run", "--image", "busybox", "--", "no-such-command", check_one_line=True)
    assert proc.returncode == 127
    assert "no-such-command" in proc.stderr and "not found" in proc.stderr


def test_non_executable_file_gives_126(amcr: Amcr) -> None:
    proc = amcr("run", "--image", "busybox", "--", "/etc/passwd", check_one_line=True)
    assert proc.returncode == 126
    assert "/etc/passwd" in proc.stderr and "permission denied" in proc.stderr


def test_missing_rootfs_gives_125(amcr: Amcr) -> None:
    proc = amcr("run", "--rootfs", "/nonexistent-rootfs", "--", "true", check_one_line=True)
    assert proc.returncode == 125
    assert "does not exist" in proc.stderr


def test_rootfs_that_is_a_file_gives_125(amcr: Amcr) -> None:
    proc = amcr("run", "--rootfs", "/etc/hostname", "--", "true", check_one_line=True)
    assert proc.returncode == 125
    assert "not a directory" in proc.stderr


def test_unknown_image_gives_125(amcr: Amcr) -> None:
    proc = amcr("run", "--image", "nosuchimage", "--", "true", check_one_line=True)
    assert proc.returncode == 125
    assert "unknown image" in proc.stderr and "amcr image ls" in proc.stderr


def test_bad_flags_give_125_with_one_line(amcr: Amcr) -> None:
    for args in (["run", "--hostname", "bad_host!", "--", "true"],
                 ["run", "-v", "relative:/x", "--", "true"],
                 ["run", "-e", "=x", "--", "true"],
                 ["run", "-w", "relative", "--", "true"],
                 ["run", "--no-such-flag", "--", "true"]):
        proc = amcr(*args)
        assert proc.returncode == 125, args
        assert_one_line_error(proc)


def test_sigterm_during_the_start_is_passed_on_not_fatal(amcr: Amcr) -> None:
    """A SIGTERM that reaches amcr while the container is being set up waits until
    it runs and is then passed on: amcr does not die half-way, nothing is left."""
    proc = amcr.popen("run", "--stop-timeout", "1", "--image", "busybox", "--", "sh", "-c",
                      "trap 'exit 3' TERM; sleep 5 & wait")
    deadline = time.monotonic() + 30
    while not container_processes(amcr.home) and time.monotonic() < deadline:
        pass                          # as early as the first mount of the set-up
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    # 3: the trap got it; 137: it came before the trap, PID 1 ignored it, then SIGKILL
    assert proc.returncode in (3, 137), err
    # (the amcr fixture asserts that no layer, mount or process is left)
