"""Everything the child needs, resolved by the parent before fork.

The child must not make decisions that can fail for user-input reasons: all
validation happened in the spec; here are only facts (paths, fds, maps).
"""
from __future__ import annotations

from amcr._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.images.plan import RootfsPlan
    from amcr.kernel.userns import IdMapping
    from amcr.spec import Mount


class InitConfig(Record):
    __slots__ = ("argv", "env", "hostname", "workdir", "plan", "merged", "upper", "work",
                 "mounts", "mapping", "tty", "winsize", "pivot_root", "stdio", "caps", "cap_top",
                 "seccomp", "rlimits", "cgroup_fds", "volatile", "layer_in_memory", "layer_size")
    _defaults = {"volatile": False, "layer_in_memory": False, "layer_size": 0}
    argv: tuple[str, ...]
    env: dict[str, str]
    hostname: str
    workdir: str
    plan: RootfsPlan
    merged: str                      # mount point of the container's root
    upper: str | None                # overlay upper dir (None: read-only root)
    work: str | None
    mounts: tuple[Mount, ...]
    mapping: IdMapping
    tty: bool
    winsize: tuple[int, int] | None
    pivot_root: bool
    stdio: tuple[int, int, int] | None   # pipe ends for 0, 1, 2 when not a tty
    caps: frozenset[str]             # capabilities PID 1 keeps (names)
    cap_top: int                     # highest capability number this kernel knows
    seccomp: tuple[bytes, ...]       # BPF programs to load last; () = unconfined
    rlimits: tuple[tuple[int, int, int], ...]   # (resource, soft, hard)
    cgroup_fds: tuple[int, ...]      # cgroup.procs files PID 1 writes itself into
    volatile: bool                   # the layer dies with the container: skip overlay's syncs
    layer_in_memory: bool            # PID 1 makes upper, work, merged in a tmpfs of its own
    layer_size: int                  # that tmpfs's size in bytes (the memory limit); 0: its default
