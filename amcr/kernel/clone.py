"""``clone3(CLONE_PARENT)``: fork a process that becomes our *parent's* child.

The runtime's spawner (:mod:`amcr.init.zygote`) forks each container's child 1
this way, so child 1 is the runtime's own child exactly as if the runtime had
forked it: the runtime reaps it, the container's PID 1 is re-parented to the
runtime (a child subreaper) and its parent-death signal points at the runtime.
The spawner only lends its small address space, which is what makes the fork
cheap. ``os.fork`` cannot do this; the raw system call can, wrapped in the
same interpreter hooks ``os.fork`` runs (import lock, ``register_at_fork``
callbacks, the interpreter's per-process state in the child).

``clone3`` (Linux 5.3) has one system-call number on every architecture;
amcr needs 5.11 anyway (overlayfs in a user namespace).
"""
from __future__ import annotations

import ctypes
import struct

SYS_CLONE3 = 435
CLONE_PARENT = 0x00008000

# The GIL stays held across the call (PyDLL), as os.fork holds it: the child
# must not wake up with an interpreter another thread was in the middle of.
_libc = ctypes.PyDLL("libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_api = ctypes.pythonapi
# struct clone_args, version 0: flags, pidfd, child_tid, parent_tid, exit_signal,
# stack, stack_size, tls. exit_signal must be 0 with CLONE_PARENT: the child
# inherits ours (SIGCHLD), so our parent is notified as for any child of its own.
_ARGS = ctypes.create_string_buffer(struct.pack("=8Q", CLONE_PARENT, 0, 0, 0, 0, 0, 0, 0), 64)


def fork_sibling() -> int:
    """Like :func:`os.fork`, but the child's parent is our parent; 0 in the child."""
    _api.PyOS_BeforeFork()
    pid = _libc.syscall(SYS_CLONE3, _ARGS, 64)
    if pid == 0:
        _api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    _api.PyOS_AfterFork_Parent()
    if pid < 0:
        import os
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return pid
