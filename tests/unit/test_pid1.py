"""PID 1's program and the C interpreter that runs it (amcr/init/pid1.c), without
a container: plain clones of this process, or of a fresh interpreter when the
clone needs a user namespace (a process with threads cannot create one)."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from amcr.init import container_init, messages
from amcr.init.program import IF_FAILED, OPTIONAL, Op, Program
from amcr.kernel import unixsock


def _run(p: Program, flags: int = 0) -> tuple[int, bytes, tuple[str, int, str] | None]:
    """Clone a child running ``p`` with stdin /dev/null and stdout+stderr a pipe:
    (exit status, output, failure report)."""
    ours, theirs = unixsock.pair()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = container_init.clone(flags, bytes(p), [theirs.fileno(), err_w, null, out_w, out_w],
                                   [ours.fileno(), err_r, out_r])
    finally:
        for fd in (err_w, out_w, null):
            os.close(fd)
        theirs.close()
    out = b""
    while chunk := os.read(out_r, 65536):
        out += chunk
    report = os.read(err_r, 4096)
    _, status = os.waitpid(pid, 0)
    for fd in (out_r, err_r):
        os.close(fd)
    ours.close()
    return os.waitstatus_to_exitcode(status), out, messages.parse_failure(report)


def _shell(p: Program, script: str, env: tuple[str, ...] = ("PATH=/usr/bin:/bin",)) -> None:
    p.add(Op.STEP, "stdio")
    p.add(Op.STDIO, 2, 3, 4)
    p.add(Op.CLOEXEC_FROM, 3)
    p.add(Op.EXEC, 3, "sh", "-c", script, *env)


def test_a_program_decodes_to_what_was_added() -> None:
    p = Program()
    p.add(Op.MOUNT, None, "/x", "tmpfs", 6, "size=1", flags=OPTIONAL)
    p.add(Op.EXEC, 1, "true")
    assert p.ops() == [("MOUNT", OPTIONAL, (b"", b"/x", b"tmpfs", (6).to_bytes(8, "little"),
                                            b"size=1")),
                       ("EXEC", 0, ((1).to_bytes(8, "little"), b"true"))]


def test_the_command_runs_with_its_environment_and_path_search() -> None:
    p = Program()
    _shell(p, 'echo "$GREETING"; exit 3', env=("PATH=/nonexistent:/usr/bin:/bin", "GREETING=hi"))
    assert _run(p)[:2] == (3, b"hi\n")


def test_a_missing_command_is_reported_as_the_exec_step() -> None:
    p = Program()
    p.add(Op.STDIO, 2, 3, 4)
    p.add(Op.EXEC, 1, "amcr-no-such-command", "PATH=/usr/bin:/bin")
    code, _, report = _run(p)
    assert code == 127 and report == ("exec", errno.ENOENT, "amcr-no-such-command")


def test_a_failure_names_its_step_errno_and_path(tmp_path: Path) -> None:
    p = Program()
    p.add(Op.STEP, "make things")
    p.add(Op.MKDIR, str(tmp_path / "missing" / "dir"), 0o755)
    _shell(p, "true")
    code, _, report = _run(p)
    assert code == 125
    assert report == ("make things", errno.ENOENT, f"mkdir {tmp_path}/missing/dir")


def test_an_optional_failure_runs_the_fallback_and_a_success_skips_it(tmp_path: Path) -> None:
    p = Program()
    p.add(Op.MKDIR, str(tmp_path), 0o755, flags=OPTIONAL)                 # exists: fails
    p.add(Op.MKDIR, str(tmp_path / "fallback"), 0o755, flags=IF_FAILED)  # so this runs
    p.add(Op.MKDIR, str(tmp_path / "a"), 0o755, flags=OPTIONAL)           # succeeds
    p.add(Op.MKDIR, str(tmp_path / "no" / "parent"), 0o755, flags=IF_FAILED)  # skipped
    _shell(p, "true")
    assert _run(p)[0] == 0
    assert sorted(os.listdir(tmp_path)) == ["a", "fallback"]


@pytest.mark.parametrize("cut", [1, 5, 9])
def test_a_truncated_program_is_refused_not_run_past_its_end(cut: int) -> None:
    p = Program()
    _shell(p, "echo ran")
    code, out, report = _run_raw(bytes(p)[:-cut])
    assert code == 125 and out == b"" and report is not None
    assert report[1] == errno.EINVAL and "malformed program" in report[2]


def _run_raw(data: bytes) -> tuple[int, bytes, tuple[str, int, str] | None]:
    class Raw(Program):
        def __bytes__(self) -> bytes:
            return data
    return _run(Raw())


def test_signals_are_back_to_their_defaults_and_unblocked_in_the_command() -> None:
    # Python ignores SIGPIPE; inherited, `yes | head` would never end inside.
    p = Program()
    _shell(p, "grep -E '^Sig(Blk|Ign)' /proc/self/status")
    code, out, _ = _run(p)
    assert code == 0
    assert out == b"SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"


_IN_USERNS = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    from amcr.init import container_init
    from amcr.init.program import Op, Program
    root, src = sys.argv[2], sys.argv[3]
    p = Program()
    uid, gid = os.getuid(), os.getgid()
    p.add(Op.WRITE_FILE, "/proc/self/setgroups", b"deny")
    p.add(Op.WRITE_FILE, "/proc/self/uid_map", f"0 {uid} 1\\n")
    p.add(Op.WRITE_FILE, "/proc/self/gid_map", f"0 {gid} 1\\n")
    p.add(Op.MOUNT, None, "/", None, (1 << 14) | (1 << 18), None)
    p.add(Op.BIND_IN, root, "/abs/sub", src, True)
    p.add(Op.BIND_IN, root, "/rel/deeper/sub", src, False)
    p.add(Op.STDIO, 2, 3, 4)
    p.add(Op.EXEC, 3, "sh", "-c", "cat /proc/self/mountinfo", "PATH=/usr/bin:/bin")
    r, w = os.pipe()
    s1, s2 = __import__("socket").socketpair(1, 5)
    err_r, err_w = os.pipe()
    pid = container_init.clone(0x10000000 | 0x00020000, bytes(p), [s2.fileno(), err_w, 0, w, w],
                               [r, err_r])
    os.close(w); os.close(err_w)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    sys.stdout.write(out.decode()); sys.stderr.write(os.read(err_r, 4096).decode())
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
""")


def test_bind_targets_resolve_symlinks_inside_the_root(tmp_path: Path) -> None:
    root, src, escape = tmp_path / "root", tmp_path / "src", tmp_path / "escape"
    root.mkdir()
    src.mkdir()
    os.symlink(escape, root / "abs")                           # absolute: means root/<escape>
    os.symlink("../" * 10 + str(escape).lstrip("/") + "2", root / "rel")   # climbs with ..
    package = str(Path(container_init.__file__).parents[2])
    proc = subprocess.run([sys.executable, "-c", _IN_USERNS, package, str(root), str(src)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert not escape.exists() and not Path(f"{escape}2").exists()
    points = [line.split()[4] for line in proc.stdout.splitlines()]
    assert f"{root}{escape}/sub" in points and f"{root}{escape}2/deeper/sub" in points, points


def test_strings_with_nul_and_numbers_beyond_64_bits_are_refused_when_built() -> None:
    p = Program()
    with pytest.raises(ValueError, match="NUL"):
        p.add(Op.HOSTNAME, "a\0b")
    with pytest.raises(ValueError, match="64 bits"):
        p.add(Op.RLIMIT, 1, 1 << 64, 0)
    p.add(Op.RLIMIT, 1, -1, (1 << 64) - 1)     # RLIM_INFINITY, both spellings
    assert p.ops()[0][2][1:] == (b"\xff" * 8, b"\xff" * 8)


@pytest.mark.parametrize("bad", [
    lambda p: p.add(Op.UNSHARE, b"\0\0\0\0"),          # a number that is not 8 bytes
    lambda p: p.add(Op.EXEC, 1),                        # exec without a command
    lambda p: p.add(Op.WORKDIR, ""),                    # an empty path
])
def test_malformed_operations_are_reported_not_guessed(bad: object) -> None:
    p = Program()
    p.add(Op.STDIO, 2, 3, 4)
    bad(p)                                              # type: ignore[operator]
    _shell(p, "echo ran")
    code, out, report = _run(p)
    assert code == 125 and out == b"" and report is not None and report[1] in (0, errno.EINVAL,
                                                                                errno.ENOENT)


def test_a_huge_environment_works_from_a_thread_with_a_small_stack() -> None:
    """The child runs on a copy of the caller's stack: big argument lists go to fresh pages."""
    import threading
    env = tuple(f"V{i}=x" for i in range(60_000)) + ("PATH=/usr/bin:/bin",)
    p = Program()
    _shell(p, 'echo "$V59999"', env=env)
    result: list[object] = []
    old = threading.stack_size(512 * 1024)
    try:
        t = threading.Thread(target=lambda: result.append(_run(p)))
        t.start()
        t.join()
    finally:
        threading.stack_size(old)
    assert result and result[0][:2] == (0, b"x\n")


def test_flags_that_would_share_memory_with_the_caller_are_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        container_init.clone(0x00000100, b"", [0, 1], [])          # CLONE_VM
