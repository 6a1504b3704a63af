"""What the kernel's audit log says about a seccomp kill (when we may read it).

A SECCOMP_RET_KILL_PROCESS is logged as an audit record (type=1326) naming
the syscall number; the kernel log (/dev/kmsg) is readable by root and,
where dmesg_restrict is 0, by everyone. Otherwise the syscall stays unnamed.
"""
from __future__ import annotations

import os


def seccomp_syscall(pid: int) -> str | None:
    """The name of the syscall that got host PID ``pid`` killed, if logged."""
    if pid <= 0:
        return None
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    number = None
    try:
        while True:
            try:
                record = os.read(fd, 8192).decode(errors="replace")
            except BlockingIOError:
                break
            except OSError:      # EPIPE: a record was overwritten; keep reading
                continue
            if "type=1326" in record and f" pid={pid} " in record:
                for field in record.split():
                    if field.startswith("syscall="):
                        number = int(field[8:])
    finally:
        os.close(fd)
    if number is None:
        return None
    try:
        import pyseccomp
        name = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, number)
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - the number is still worth printing
        return f"#{number}"
