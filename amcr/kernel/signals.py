"""Signal numbers and handlers from ``_signal``, without :mod:`signal`'s enums.

The :mod:`signal` module builds ``Signals``/``Handlers`` enums at import,
which pulls in :mod:`enum`: milliseconds on every ``amcr run``. The C module
underneath has everything we use.
"""
from __future__ import annotations

from _signal import (NSIG, SIG_DFL, SIG_IGN, SIG_SETMASK, SIGHUP, SIGINT, SIGKILL, SIGQUIT,
                     SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, getsignal, pidfd_send_signal,
                     pthread_sigmask, set_wakeup_fd, signal)

__all__ = ["SIGHUP", "SIGINT", "SIGKILL", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH",
           "default_dispositions", "pidfd_send_signal", "set_wakeup_fd", "signal"]


def default_dispositions() -> None:
    """In a container's PID 1, first thing: nothing ignored, nothing blocked.

    Ignored signals survive execve. Python ignores SIGPIPE and SIGXFSZ, and a
    shell's background job ignores SIGINT and SIGQUIT: inherited, ``yes | head``
    would never end inside. (Handlers are reset by execve itself.)
    """
    for signum in range(1, NSIG):
        try:
            if getsignal(signum) == SIG_IGN:
                signal(signum, SIG_DFL)
        except (OSError, ValueError):
            pass    # SIGKILL, SIGSTOP, numbers the C library keeps for itself
    pthread_sigmask(SIG_SETMASK, ())
