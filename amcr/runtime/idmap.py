"""The per-container ID map, as a step of the sans-IO start-up protocol.

Rootless with subordinate IDs, the setuid helpers newuidmap and newgidmap
write PID 1's maps; both are started at once (posix_spawn: :mod:`subprocess`
costs milliseconds to import) and waited on as descriptors (their stderr's
EOF, then a REAP), so under asyncio the loop keeps going while they run. As
root the parent writes the two /proc files itself. A runtime with many
containers maps once instead (:mod:`amcr.runtime.sharedns`).
"""
from __future__ import annotations

import os

from amcr.errors import KernelError
from amcr.kernel import userns
from amcr.kernel.signals import SIGKILL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from amcr.runtime.spawn import Waits

READ, REAP = 0, 1     # the protocol's waits (amcr.runtime.spawn)


def write_map(pid: int, mapping: userns.IdMapping) -> Waits:
    """Map PID 1's user namespace: newuidmap and newgidmap at once, waited on as fds."""
    if not mapping.helper:
        try:   # as root: two writes to /proc, nothing to wait for
            userns.write_map_for(pid, mapping)
        except OSError as exc:
            raise KernelError.from_oserror("write id map", exc, hint=mapping.reason) from exc
        return
    running: list[list[Any]] = []     # [tool, pid, stderr read end, stderr bytes]
    try:
        for tool, lines in (("newuidmap", mapping.uid_lines), ("newgidmap", mapping.gid_lines)):
            argv = [tool, str(pid)] + [str(x) for line in lines for x in line]
            r, w = os.pipe()
            try:
                hpid = os.posix_spawnp(tool, argv, os.environ,
                                       file_actions=[(os.POSIX_SPAWN_DUP2, w, 2)])
            except OSError as exc:
                os.close(r)
                raise KernelError.from_oserror(f"run {tool}", exc, hint=mapping.reason) from exc
            finally:
                os.close(w)
            running.append([tool, hpid, r, b""])
        failures = []
        for item in running:
            while True:
                yield READ, item[2]
                chunk = os.read(item[2], 4096)
                if not chunk:
                    break
                item[3] += chunk
            status = yield REAP, item[1]
            item[1] = 0
            if os.waitstatus_to_exitcode(status or 0) != 0:
                failures.append(f"{item[0]} failed: "
                                f"{item[3].decode(errors='replace').strip() or status}")
        if failures:
            raise KernelError("write id map: " + "; ".join(failures).lower(),
                              hint=mapping.reason, op="write id map")
    finally:
        for item in running:
            if item[1]:       # aborted while it ran: it is ours to stop and reap
                try:
                    os.kill(item[1], SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(item[1], 0)
            os.close(item[2])
