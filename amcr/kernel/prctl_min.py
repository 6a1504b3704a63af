"""The parent-death signal of amcr's own helper processes, through the C library
(no python-prctl: its import alone cost 2.3 ms of every ``amcr run``)."""
from __future__ import annotations

from amcr.kernel.libc import check, libc
from amcr.kernel.signals import SIGKILL

PR_SET_PDEATHSIG = 1


def set_pdeathsig_kill() -> None:
    check(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
