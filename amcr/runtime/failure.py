"""What the exec-error pipe says, as a step of the protocol, and the error it becomes.

The pipe is close-on-exec: EOF with nothing read means execve succeeded; else
the child wrote ``step\0errno\0message`` in one write and exited. The error
names the step that failed and what to do (docker's exit codes: 126 cannot be
invoked, 127 not found, 125 the runtime failed).
"""
from __future__ import annotations

import errno
import os

from amcr.errors import ExecError, KernelError
from amcr.init import messages
from amcr.init.config import InitConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator

READ = 0      # the protocol's wait for a readable fd (amcr.runtime.spawn)


def read_failure(err_r: int) -> Generator[tuple[int, int], int | None, tuple[str, int, str] | None]:
    """None when the exec-error pipe closes empty (exec succeeded), else the report."""
    chunks = []
    while True:
        yield READ, err_r
        chunk = os.read(err_r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    return messages.parse_failure(b"".join(chunks))


def raise_reported(err_r: int, cfg: InitConfig) -> Generator[tuple[int, int], int | None, None]:
    """Read the report (if any) and raise it as an AmcrError."""
    failure = yield from read_failure(err_r)
    if failure is not None:
        raise error_for(failure, cfg)


def error_for(failure: tuple[str, int, str], cfg: InitConfig) -> KernelError | ExecError:
    step, err, message = failure
    if step == "exec":
        cmd = cfg.argv[0]
        if err in (errno.ENOENT, errno.ENOTDIR):
            return ExecError(f"{cmd}: command not found in the container", errno=err, path=cmd,
                            hint="check the command and the image's PATH")
        if err == errno.EACCES:
            return ExecError(f"{cmd}: permission denied (not executable)", errno=err, path=cmd,
                            hint="chmod +x it, or run it through its interpreter")
        return ExecError(f"{cmd}: cannot execute: {os.strerror(err).lower()}", errno=err,
                        path=cmd, hint="is it a binary for this machine?")
    detail = f"{os.strerror(err)} ({message})" if err else message
    hint = "run amcr info to see what this host supports"
    if step == "unshare" and err in (errno.EPERM, errno.ENOSPC, errno.EINVAL):
        hint = "user namespaces are unavailable here; run amcr info"
    if step == "workdir":
        hint = "pick an existing directory with -w, or drop --read-only"
    if step == "id map":
        hint = cfg.mapping.reason or hint
    return KernelError(f"container setup failed at {step}: {detail}".lower(),
                      hint=hint, op=step, errno=err)
