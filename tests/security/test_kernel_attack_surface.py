"""Calls that reach past the container fail cleanly (an error, not a crash)."""
from __future__ import annotations

import os

import pytest

from tests.helpers import Amcr
from tests.security.conftest import py

SYSCALL = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return "OK" if r >= 0 else errno.errorcode[ctypes.get_errno()]
"""


def test_unshare_user_namespace_fails(amcr: Amcr, neighbours: list) -> None:
    proc = amcr.sh("unshare -U true; echo rc=$?")
    assert "rc=0" not in proc.stdout and "Operation not permitted" in proc.stderr


def test_mount_fails(amcr: Amcr, neighbours: list) -> None:
    proc = amcr.sh("mount -t tmpfs none /mnt; echo rc=$?")
    assert "rc=0" not in proc.stdout


@pytest.mark.parametrize("name,nr,args", [
    ("keyctl", 250, (0, 0, 0)),              # KEYCTL_GET_KEYRING_ID
    ("add_key", 248, (0, 0, 0, 0, 0)),
    ("bpf", 321, (0, 0, 0)),                 # BPF_MAP_CREATE
    ("kexec_load", 246, (0, 0, 0, 0)),
    ("init_module", 175, (0, 0, 0)),
    ("unshare(CLONE_NEWUSER)", 272, (0x10000000,)),
    ("setns", 308, (0, 0)),
    ("clone(CLONE_NEWUSER)", 56, (0x10000000 | 17, 0, 0, 0, 0)),
])
def test_forbidden_syscall_fails_with_an_error(amcr: Amcr, neighbours: list, name: str,
                                               nr: int, args: tuple) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers are x86_64's")
    proc = py(amcr, SYSCALL + f"print(call({nr}, *{args!r}))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("EPERM", "ENOSYS", "EACCES"), proc.stdout


def test_clone3_answers_enosys_so_libc_falls_back(amcr: Amcr) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers are x86_64's")
    proc = py(amcr, SYSCALL + "print(call(435, 0, 0))")
    assert proc.stdout.strip() == "ENOSYS"
    threads = py(amcr, "import threading; t = threading.Thread(target=print, args=('T',));"
                       " t.start(); t.join()")
    assert threads.stdout == "T\n"


def test_ptrace_of_a_host_process_fails(amcr: Amcr, neighbours: list) -> None:
    target = os.getpid()     # this test process: on the host, outside the container
    proc = py(amcr, SYSCALL + f"print(call(101, 16, {target}, 0, 0))")   # PTRACE_ATTACH
    assert proc.stdout.strip() in ("ESRCH", "EPERM"), proc.stdout


def test_mknod_of_a_device_fails(amcr: Amcr, neighbours: list) -> None:
    proc = amcr.sh("mknod /dev/sda2 b 8 2; echo rc=$?")
    assert "rc=0" not in proc.stdout


def test_foreign_abi_syscalls_are_refused(amcr: Amcr) -> None:
    """x32 syscall numbers (bit 30 set) are another ABI: refused (the process is
    killed or gets an error), never executed."""
    if os.uname().machine != "x86_64":
        pytest.skip("x32 is an x86_64 ABI")
    proc = py(amcr, SYSCALL + "print(call(0x40000000 | 39))")   # x32 getpid
    assert "OK" not in proc.stdout
