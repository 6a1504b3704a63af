"""The prctl(2) calls of the start-up path, through the C library (no python-prctl:
its import alone cost 2.3 ms of every ``amcr run``; see also capabilities.py)."""
from __future__ import annotations

from amcr.kernel.libc import check, libc
from amcr.kernel.signals import SIGKILL

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38


def set_no_new_privs() -> None:
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def set_pdeathsig_kill() -> None:
    check(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
