"""Resource limits as the user writes them: ``--memory 64m``, ``--cpus 0.5``, ...

Values follow docker's conventions, because that is what people type from
memory: sizes are binary (``k`` = 1024), ``--memory-swap`` is memory *plus*
swap (``-1`` unlimited; unset means "as much swap as memory"), ``--cpus`` is a
fraction of CPUs, ``--pids-limit -1`` means unlimited. Everything is checked
here, before any fork, so a bad value is one clear line and nothing is left
behind.

:func:`plan` then decides, for one host, which limit goes to a cgroup, which
falls back to ``RLIMIT_AS`` and which cannot be honoured at all (an error, or
a warning with ``--limits warn``). It takes plain values (the controllers a
cgroup backend offers and its explanation), so this module never imports the
kernel layer and stays cheap on the start path (no ``re``, no dataclasses).
"""
from __future__ import annotations

import os

from amcr._record import Record
from amcr.errors import SpecError

MODES = ("enforce", "warn")
#: docker's minimum (linuxMinMemory): below this even a shell cannot start.
MIN_MEMORY = 6 * 1024 * 1024
#: The CFS period amcr uses for --cpus, as docker/runc do (100 ms).
CPU_PERIOD_US = 100_000
#: The smallest quota the kernel accepts is 1 ms, i.e. 0.01 CPU at that period.
MIN_CPUS = 0.01

_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}
_SIZE_HINT = "use a number with k, m or g, e.g. 64m"


def _cpus_available() -> int:
    """CPUs this process may run on: affinity first, like docker's NumCPU."""
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def parse_size(value: str | int, flag: str = "--memory") -> int:
    """``64m``, ``1g``, ``512k``, ``1.5g``, ``64MiB``, ``1048576`` -> bytes.

    Accepts what docker's RAMInBytes accepts (a unit letter, optionally
    followed by ``i`` and/or ``b``, any case), without :mod:`re`.
    """
    if isinstance(value, bool):
        raise SpecError(f"invalid {flag} {value!r}", hint=_SIZE_HINT)
    if isinstance(value, int):
        if value < 0:
            raise SpecError(f"invalid {flag} {value} (must not be negative)", hint=_SIZE_HINT)
        return value
    if not isinstance(value, str):
        raise SpecError(f"invalid {flag} {value!r}", hint=_SIZE_HINT)
    text = value.strip().lower()
    if text.endswith("b"):
        text = text[:-1]
    if text.endswith("i") and len(text) >= 2 and text[-2] in "kmgt":
        text = text[:-1]
    unit = text[-1:] if text[-1:] in ("k", "m", "g", "t") else ""
    number = text[:len(text) - len(unit)].strip()
    digits = number.replace(".", "", 1)
    if not digits or not digits.isdigit() or not digits.isascii() or number.startswith("."):
        raise SpecError(f"invalid {flag} {value!r}", hint=_SIZE_HINT)
    return int(float(number) * _UNITS[unit]) if "." in number else int(number) * _UNITS[unit]


def parse_cpus(value: str | float | int, flag: str = "--cpus") -> float:
    """``0.5`` -> 0.5 CPUs (checked against the host's CPUs by :class:`Limits`)."""
    bad = SpecError(f"invalid {flag} {value!r}", hint="use a number of CPUs, e.g. 0.5")
    if isinstance(value, bool):
        raise bad
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise bad from None
    if cpus != cpus or cpus in (float("inf"), float("-inf")):
        raise bad
    return cpus


def parse_pids(value: str | int, flag: str = "--pids-limit") -> int | None:
    """``64`` -> 64; ``-1`` (or ``0``, as docker) -> None, unlimited."""
    hint = "use a whole number of processes, e.g. 64, or -1 for unlimited"
    if isinstance(value, bool):
        raise SpecError(f"invalid {flag} {value!r}", hint=hint)
    if isinstance(value, str):
        text = value.strip()
        if not (text.lstrip("-").isdigit() and text.isascii() and text.count("-") <= 1
                and (text[0] != "-" or len(text) > 1)):
            raise SpecError(f"invalid {flag} {value!r}", hint=hint)
        value = int(text)
    if not isinstance(value, int):
        raise SpecError(f"invalid {flag} {value!r}", hint=hint)
    if value in (-1, 0):
        return None
    if value < 0:
        raise SpecError(f"invalid {flag} {value}", hint=hint)
    return value


def parse_mode(value: str, flag: str = "--limits") -> str:
    """``enforce`` (the default: refuse what cannot be enforced) or ``warn``."""
    if value not in MODES:
        raise SpecError(f"invalid {flag} {value!r}",
                        hint="use enforce (fail when a limit cannot be enforced) or warn")
    return value


def format_bytes(n: int) -> str:
    """64 MiB, 1.5 GiB, 512 KiB, 100 B: what the CLI prints (``limit 64 MiB``)."""
    for unit, size in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2),
                       ("KiB", 1024)):
        if n >= size:
            text = f"{n / size:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    return f"{n} B"


def _format_cpus(cpus: float) -> str:
    return f"{cpus:g}"


class Limits(Record):
    """What the user asked for; ``None`` everywhere means "no limit".

    ``memory_swap`` keeps docker's meaning (memory + swap, ``-1`` unlimited,
    ``None`` = as much swap as memory); :meth:`swap_only` and
    :meth:`memsw_total` turn it into the v2 and v1 file values.
    """

    __slots__ = ("memory", "memory_swap", "cpus", "pids", "mode")
    _defaults = {"memory": None, "memory_swap": None, "cpus": None, "pids": None,
                 "mode": "enforce"}
    memory: int | None
    memory_swap: int | None
    cpus: float | None
    pids: int | None
    mode: str

    def _validate(self) -> None:
        parse_mode(self.mode)
        if self.memory is not None:
            if isinstance(self.memory, bool) or not isinstance(self.memory, int):
                raise SpecError(f"invalid --memory {self.memory!r}", hint=_SIZE_HINT)
            if self.memory < MIN_MEMORY:
                raise SpecError(f"--memory {format_bytes(self.memory)} is too small",
                                hint="the minimum is 6m, as in docker")
        if self.memory_swap is not None:
            if isinstance(self.memory_swap, bool) or not isinstance(self.memory_swap, int):
                raise SpecError(f"invalid --memory-swap {self.memory_swap!r}", hint=_SIZE_HINT)
            if self.memory is None:
                raise SpecError("--memory-swap needs --memory",
                                hint="it is memory plus swap, e.g. --memory 64m --memory-swap 128m")
            if self.memory_swap != -1 and self.memory_swap < self.memory:
                raise SpecError(f"--memory-swap {format_bytes(self.memory_swap)} is less than "
                                f"--memory {format_bytes(self.memory)}",
                                hint="it is memory plus swap; use -1 for unlimited swap")
        if self.cpus is not None:
            if isinstance(self.cpus, bool) or not isinstance(self.cpus, (int, float)):
                raise SpecError(f"invalid --cpus {self.cpus!r}", hint="use a number, e.g. 0.5")
            have = _cpus_available()
            if not MIN_CPUS <= self.cpus <= have:
                raise SpecError(f"invalid --cpus {_format_cpus(self.cpus)} (this host has "
                                f"{have} cpu{'s' if have != 1 else ''})",
                                hint=f"use a number from {MIN_CPUS} to {have}")
        if self.pids is not None:
            if isinstance(self.pids, bool) or not isinstance(self.pids, int) or self.pids < 1:
                raise SpecError(f"invalid --pids-limit {self.pids!r}",
                                hint="use a positive number, e.g. 64, or -1 for unlimited")

    @classmethod
    def parse(cls, memory: str | int | None = None, memory_swap: str | int | None = None,
              cpus: str | float | None = None, pids_limit: str | int | None = None,
              mode: str | None = None) -> "Limits":
        """From flag or amcr.toml values (strings or numbers); ``None`` = not given."""
        swap: int | None = None
        if memory_swap is not None:
            swap = (-1 if str(memory_swap).strip() == "-1"
                    else parse_size(memory_swap, "--memory-swap"))
        return cls(memory=None if memory is None else parse_size(memory, "--memory"),
                   memory_swap=swap,
                   cpus=None if cpus is None else parse_cpus(cpus),
                   pids=None if pids_limit is None else parse_pids(pids_limit),
                   mode="enforce" if mode is None else parse_mode(mode))

    @property
    def empty(self) -> bool:
        """Nothing to limit: no cgroup is needed for limits (stats may still want one)."""
        return self.memory is None and self.cpus is None and self.pids is None

    def swap_only(self) -> int | None:
        """Swap alone (v2 ``memory.swap.max``): -1 for "max", None when no memory limit."""
        if self.memory is None:
            return None
        if self.memory_swap is None:
            return self.memory           # docker: as much swap as memory
        if self.memory_swap == -1:
            return -1
        return self.memory_swap - self.memory

    def memsw_total(self) -> int | None:
        """Memory plus swap (v1 ``memory.memsw.limit_in_bytes``): -1 unlimited."""
        if self.memory is None:
            return None
        return 2 * self.memory if self.memory_swap is None else self.memory_swap

    def cpu_quota(self, period: int = CPU_PERIOD_US) -> int | None:
        """CFS quota in microseconds per ``period`` (at least the kernel's 1 ms)."""
        if self.cpus is None:
            return None
        return max(1000, round(self.cpus * period))

    def describe(self) -> str:
        """``memory 64 MiB, cpus 0.5, pids 64`` for messages and ``amcr ps``."""
        parts = []
        if self.memory is not None:
            parts.append(f"memory {format_bytes(self.memory)}")
        if self.cpus is not None:
            parts.append(f"cpus {_format_cpus(self.cpus)}")
        if self.pids is not None:
            parts.append(f"pids {self.pids}")
        return ", ".join(parts) or "no limits"


class Plan(Record):
    """How one container's limits are enforced on this host.

    ``cgroup`` holds the limits a cgroup enforces (None: create no cgroup for
    limits); ``rlimit_as`` is the RLIMIT_AS the child sets when memory cannot
    go to a cgroup; ``memory_via`` is "cgroup", "rlimit" or "" (for results and
    the OOM message); ``warnings`` are printed once (``--limits warn``).
    """

    __slots__ = ("cgroup", "rlimit_as", "memory_via", "warnings")
    _defaults = {"cgroup": None, "rlimit_as": None, "memory_via": "", "warnings": ()}
    cgroup: Limits | None
    rlimit_as: int | None
    memory_via: str
    warnings: tuple[str, ...]


def plan(limits: Limits, controllers: frozenset[str] | set[str] | tuple[str, ...] = (),
         why: str = "") -> Plan:
    """Split ``limits`` between a cgroup (``controllers`` it offers) and fallbacks.

    Memory without a memory controller becomes RLIMIT_AS (address space, not
    resident memory: stricter for programs that reserve much, e.g. many
    threads; but it stops a hog). CPU and PID limits have no honest fallback,
    so they are an error in ``enforce`` mode, and a warning in ``warn`` mode;
    ``why`` (from the cgroup backend selection) says why and how to get them.
    """
    have = frozenset(controllers)
    memory = limits.memory if limits.memory is not None and "memory" in have else None
    rlimit = limits.memory if limits.memory is not None and "memory" not in have else None
    missing = []
    if limits.cpus is not None and "cpu" not in have:
        missing.append(f"--cpus {_format_cpus(limits.cpus)}")
    if limits.pids is not None and "pids" not in have:
        missing.append(f"--pids-limit {limits.pids}")
    reason = why or "no cgroup controller is available to amcr here"
    if missing and limits.mode == "enforce":
        raise SpecError(f"{' and '.join(missing)} cannot be enforced: {reason}",
                        hint="or use --limits warn to run without them")
    warnings = tuple(f"warning: {m} is not enforced: {reason}" for m in missing)
    cg = Limits(memory=memory, memory_swap=limits.memory_swap if memory is not None else None,
                cpus=limits.cpus if "cpu" in have else None,
                pids=limits.pids if "pids" in have else None, mode=limits.mode)
    return Plan(cgroup=None if cg.empty else cg, rlimit_as=rlimit,
                memory_via="cgroup" if memory is not None else ("rlimit" if rlimit else ""),
                warnings=warnings)


#: Rows to splice into cli_options.RUN_OPTIONS (same shape); dest names match
#: :meth:`Limits.parse` keywords, so ``Limits.parse(**{d: getattr(args, d) ...})``.
RUN_LIMIT_OPTIONS: tuple[tuple[tuple[str, ...], str, str, str, str], ...] = (
    (("-m", "--memory"), "memory", "value", "SIZE",
     "memory limit, e.g. 64m or 1g (cgroup; rootless without one: RLIMIT_AS)"),
    (("--memory-swap",), "memory_swap", "value", "SIZE",
     "memory plus swap (-1: unlimited swap; default: as much swap as memory)"),
    (("--cpus",), "cpus", "value", "N", "CPU limit, e.g. 0.5 (needs a cgroup)"),
    (("--pids-limit",), "pids_limit", "value", "N",
     "most processes/threads at once (-1: unlimited; needs a cgroup)"),
    (("--limits",), "limits", "value", "MODE",
     "enforce (default: fail if a limit cannot be enforced) or warn"),
)
