"""pidfds: a descriptor that becomes readable when a process exits.

It lets an event loop (or select) wait for exits with no thread and no polling,
and, unlike a PID, it can never name a recycled process.
"""
from __future__ import annotations

import os

from amcr.kernel import signals


def pidfd_open(pid: int) -> int:
    """A close-on-exec pidfd for ``pid`` (Linux >= 5.3)."""
    return os.pidfd_open(pid)


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    """Signal the process behind ``pidfd``; a no-op once it has been reaped."""
    try:
        signals.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass
