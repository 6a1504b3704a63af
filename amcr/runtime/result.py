"""What a finished run returns, and the error ``check=True`` raises.

Shaped after :class:`subprocess.CompletedProcess` and ``check=`` because that
is what people already know; the extra fields say why output or time ran out.
"""
from __future__ import annotations

from amcr._record import Record
from amcr.errors import AmcrError


class CompletedRun(Record):
    """The outcome of ``Runtime.run`` / ``amcr.run``."""

    __slots__ = ("argv", "exit_code", "stdout", "stderr", "duration", "timed_out", "oom_killed",
                 "truncated", "id")
    argv: tuple[str, ...]
    exit_code: int          # the command's status, or 128+N when killed by signal N
    stdout: bytes
    stderr: bytes
    duration: float        # seconds, from the start of set-up to the end of the output
    timed_out: bool        # the timeout fired: SIGTERM, then SIGKILL after the grace period
    oom_killed: bool       # the kernel's OOM killer struck (needs a cgroup; else False)
    truncated: bool        # output beyond output_limit was dropped (stdout or stderr)
    id: str                # the container's id (its layer directory's name)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def check(self) -> CompletedRun:
        """Raise :class:`RunError` unless the command exited 0 within its time."""
        if not self.ok:
            raise RunError(self)
        return self


class RunError(AmcrError):
    """A run with ``check=True`` failed; ``.result`` is the whole :class:`CompletedRun`."""

    def __init__(self, result: CompletedRun) -> None:
        self.result = result
        cmd = " ".join(result.argv)
        if len(cmd) > 60:
            cmd = cmd[:57] + "..."
        why = "timed out" if result.timed_out else f"exited with {result.exit_code}"
        super().__init__(f"{cmd}: {why}", hint="see .result.stdout and .result.stderr")
        self.exit_code = result.exit_code or 1
