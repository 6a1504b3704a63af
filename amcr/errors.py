"""Errors amcr raises, one root type so callers can catch everything from us.

Every error renders as one lowercase line that says what failed and what to
do, and carries the exit code the CLI uses (docker/podman conventions: 125 the
runtime failed, 126 the command cannot be invoked, 127 it was not found).
"""
from __future__ import annotations

import errno as _errno
import os


class AmcrError(Exception):
    """Root of every error amcr raises on purpose."""

    exit_code = 125

    def __init__(self, message: str, *, hint: str = "", op: str = "", path: str = "",
                 errno: int = 0) -> None:
        self.message = message
        self.hint = hint
        self.op = op
        self.path = path
        self.errno = errno
        super().__init__(self.line())

    def line(self) -> str:
        """The one line the user sees (without the ``amcr: `` prefix)."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SpecError(AmcrError):
    """The user asked for something invalid (bad flag value, bad mount, ...)."""


class ImageError(AmcrError):
    """An image or root filesystem is missing, unusable or cannot be imported."""


class KernelError(AmcrError):
    """A kernel operation failed while setting up a container."""

    @classmethod
    def from_oserror(cls, op: str, exc: OSError, path: str = "", hint: str = "") -> "KernelError":
        err = exc.errno or 0
        what = f"{op} {path}".strip()
        return cls(f"{what}: {os.strerror(err) if err else exc}".lower(), hint=hint, op=op,
                   path=path, errno=err)


class ExecError(AmcrError):
    """The container was set up but its command could not be started."""

    def __init__(self, message: str, *, errno: int, path: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint, op="execve", path=path, errno=errno)
        # 127 for "not found", 126 for "found but cannot be invoked", like a shell.
        self.exit_code = 127 if errno in (_errno.ENOENT, _errno.ENOTDIR) else 126


class StateError(AmcrError):
    """A verb that does not fit the container's state (e.g. write to an exited one)."""
