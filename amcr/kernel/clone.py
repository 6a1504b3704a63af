"""``clone3(2)``: fork straight into new namespaces, optionally as our parent's child.

A container's PID 1 is created by one ``clone3`` with the namespace flags: it
starts life as PID 1 of a new PID namespace, in a new user namespace that owns
the others (which is what lets an unprivileged user create them), with no
intermediate process to fork it, report it and exit. ``os.fork`` cannot do
this; the raw system call can, wrapped in the same interpreter hooks
``os.fork`` runs (import lock, ``register_at_fork`` callbacks, the
interpreter's per-process state in the child).

``CLONE_PARENT`` is how the runtime's spawner (:mod:`amcr.init.zygote`) forks
a container for the runtime: the new process is the *runtime's* child, so the
runtime waits for it and its parent-death signal points at the runtime, while
only the spawner's small address space is copied.

``clone3`` (Linux 5.3) has one system-call number on every architecture;
amcr needs 5.11 anyway (overlayfs in a user namespace). Like ``unshare`` of a
user namespace, it refuses (EINVAL) to create one from a multithreaded process.
"""
from __future__ import annotations

import ctypes
import os
import struct

SYS_CLONE3 = 435
CLONE_PARENT = 0x00008000
_SIGCHLD = 17

# The GIL stays held across the call (PyDLL), as os.fork holds it: the child
# must not wake up with an interpreter another thread was in the middle of.
_libc = ctypes.PyDLL("libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_api = ctypes.pythonapi


def clone(flags: int) -> int:
    """Like :func:`os.fork`, with clone flags (namespaces, CLONE_PARENT); 0 in the child."""
    # struct clone_args, version 0: flags, pidfd, child_tid, parent_tid,
    # exit_signal, stack, stack_size, tls. With CLONE_PARENT exit_signal must
    # be 0: the child inherits ours (SIGCHLD), as for any child of our parent.
    exit_signal = 0 if flags & CLONE_PARENT else _SIGCHLD
    args = ctypes.create_string_buffer(struct.pack("=8Q", flags, 0, 0, 0, exit_signal, 0, 0, 0),
                                       64)
    _api.PyOS_BeforeFork()
    pid = _libc.syscall(SYS_CLONE3, args, 64)
    if pid == 0:
        _api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    _api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return pid
