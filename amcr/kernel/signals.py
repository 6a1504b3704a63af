"""Signal numbers and handlers from ``_signal``, without :mod:`signal`'s enums.

The :mod:`signal` module builds ``Signals``/``Handlers`` enums at import,
which pulls in :mod:`enum`: milliseconds on every ``amcr run``. The C module
underneath has everything we use.
"""
from __future__ import annotations

from _signal import (SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
                     pidfd_send_signal, set_wakeup_fd, signal)

__all__ = ["SIGHUP", "SIGINT", "SIGKILL", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH",
           "pidfd_send_signal", "set_wakeup_fd", "signal"]


