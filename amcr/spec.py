"""What a container should be: immutable, validated value objects.

Everything the user can ask for is checked here, before any fork, so that bad
input becomes one clear :class:`SpecError` line and nothing is left behind.
"""
from __future__ import annotations

import os

from amcr._record import Record
from amcr.errors import SpecError
from amcr.validate import is_hostname, is_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.limits import Limits

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _valid_env_key(key: str) -> bool:
    return bool(key) and "=" not in key and "\0" not in key


class Mount(Record):
    """A bind mount of a host path into the container (``-v HOST:CONTAINER[:ro]``)."""

    __slots__ = ("source", "target", "readonly")
    _defaults = {"readonly": False}
    source: str
    target: str
    readonly: bool

    def _validate(self) -> None:
        if not os.path.isabs(self.source):
            raise SpecError(f"volume source {self.source!r} is not an absolute path",
                            hint="use -v /abs/host/path:/container/path")
        if "\0" in self.source or "\0" in self.target:
            raise SpecError("volume paths cannot contain NUL bytes")
        if not os.path.isabs(self.target) or ".." in self.target.split("/"):
            raise SpecError(f"volume target {self.target!r} must be an absolute path "
                            "without '..'", hint="use -v HOST:/container/path")
        if not os.path.exists(self.source):
            raise SpecError(f"volume source {self.source} does not exist",
                            hint="create it or fix the -v path")

    @classmethod
    def parse(cls, text: str) -> "Mount":
        parts = text.split(":")
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        if len(parts) == 3 and parts[2] in ("ro", "rw"):
            return cls(parts[0], parts[1], parts[2] == "ro")
        raise SpecError(f"invalid volume {text!r}", hint="use -v HOST:CONTAINER[:ro]")


class ContainerSpec(Record):
    """One container: its command and how it is isolated.

    ``image`` names where the root filesystem comes from (``host``, ``busybox``
    or an imported name); ``rootfs`` overrides it with a directory.
    ``pivot_root=False`` forces the weaker chroot fallback.
    """

    __slots__ = ("argv", "image", "rootfs", "name", "hostname", "env", "workdir", "mounts",
                 "read_only", "keep", "tty", "winsize", "pivot_root", "term", "seccomp",
                 "seccomp_profile", "cap_add", "cap_drop", "ulimits", "memory", "memory_swap",
                 "cpus", "pids_limit", "limits")
    _defaults = {"image": "host", "rootfs": None, "name": None, "hostname": None, "env": (),
                 "workdir": "/", "mounts": (), "read_only": False, "keep": False, "tty": False,
                 "winsize": None, "pivot_root": True, "term": "xterm", "seccomp": "default",
                 "seccomp_profile": None, "cap_add": (), "cap_drop": (), "ulimits": (),
                 "memory": None, "memory_swap": None, "cpus": None, "pids_limit": None,
                 "limits": "enforce"}
    argv: tuple[str, ...]
    image: str
    rootfs: str | None
    name: str | None
    hostname: str | None
    env: tuple[tuple[str, str], ...]
    workdir: str
    mounts: tuple[Mount, ...]
    read_only: bool
    keep: bool
    tty: bool
    winsize: tuple[int, int] | None
    pivot_root: bool
    term: str
    seccomp: str                     # default | strict | unconfined
    seccomp_profile: str | None      # a docker JSON profile (overrides seccomp)
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    ulimits: tuple[str, ...]         # docker syntax: nofile=1024:2048
    memory: int | str | None         # 64m, 1g or bytes (cgroup; else RLIMIT_AS)
    memory_swap: int | str | None    # memory plus swap, docker's meaning
    cpus: float | str | None         # needs a cgroup
    pids_limit: int | str | None     # needs a cgroup
    limits: str                      # enforce | warn: what to do when one cannot be enforced

    def _validate(self) -> None:
        if isinstance(self.argv, str):
            raise SpecError("the command must be a list of arguments, not a string",
                            hint='use ["sh", "-c", "..."] for a shell line')
        if not self.argv:
            raise SpecError("no command given",
                            hint="usage: amcr run [OPTIONS] [--] CMD [ARGS...]")
        if any("\0" in a for a in self.argv):
            raise SpecError("command arguments cannot contain NUL bytes")
        if self.name is not None and not is_name(self.name):
            raise SpecError(f"invalid name {self.name!r}",
                            hint="use letters, digits, '_', '.', '-'; at most 64 characters")
        if self.hostname is not None and not is_hostname(self.hostname):
            raise SpecError(f"invalid hostname {self.hostname!r}",
                            hint="use letters, digits and '-', at most 63 per label")
        if "\0" in self.workdir:
            raise SpecError("the working directory cannot contain NUL bytes")
        if not os.path.isabs(self.workdir):
            raise SpecError(f"working directory {self.workdir!r} is not absolute",
                            hint="use -w /path")
        parts = [p for p in self.workdir.split("/") if p]
        if parts[:1] == ["proc"]:
            # /proc/self/fd/N would name a descriptor of the runtime (runc CVE-2024-21626)
            raise SpecError(f"working directory {self.workdir} is inside /proc",
                            hint="use a directory of the container's filesystem")
        if self.seccomp not in ("default", "strict", "unconfined"):
            raise SpecError(f"unknown seccomp profile {self.seccomp!r}",
                            hint="use default, strict, unconfined, or --seccomp-profile FILE")
        self.resource_limits     # parses and validates, one clear line per bad value
        from amcr.security.caps import normalize
        for cap in self.cap_add + self.cap_drop:
            normalize(cap)
        if self.ulimits:
            from amcr.kernel.rlimits import parse_ulimit
            for text in self.ulimits:
                parse_ulimit(text)
        for key, value in self.env:
            if not _valid_env_key(key):
                raise SpecError(f"invalid environment variable name {key!r}",
                                hint="use -e KEY=VALUE")
            if "\0" in value:
                raise SpecError(f"the value of {key} contains a NUL byte",
                                hint="environment values are C strings")

    @property
    def resource_limits(self) -> "Limits":
        """The memory, CPU and PID limits, parsed (docker's units and meanings)."""
        from amcr.limits import Limits
        return Limits.parse(memory=self.memory, memory_swap=self.memory_swap, cpus=self.cpus,
                            pids_limit=self.pids_limit, mode=self.limits)

    @property
    def effective_hostname(self) -> str:
        return self.hostname or self.name or "amcr"

    def environment(self) -> dict[str, str]:
        """The container's full environment: defaults, then the user's -e values."""
        env = {"PATH": DEFAULT_PATH, "HOME": "/root", "HOSTNAME": self.effective_hostname,
               "container": "amcr"}
        if self.tty:
            env["TERM"] = self.term
        env.update(dict(self.env))
        return env


def parse_env(items: list[str]) -> tuple[tuple[str, str], ...]:
    """``-e KEY=VAL`` (and ``-e KEY`` taking the caller's value, as docker does)."""
    out = []
    for item in items:
        if "=" in item:
            k, v = item.split("=", 1)
        else:
            k, env_v = item, os.environ.get(item)
            if env_v is None:
                continue
            v = env_v
        if not _valid_env_key(k):
            raise SpecError(f"invalid environment variable {item!r}", hint="use -e KEY=VALUE")
        out.append((k, v))
    return tuple(out)
