"""The host's CPU and memory use, from /proc (one read each, about once a second)."""
from __future__ import annotations


class HostStats:
    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None
        self.cpu = 0.0            # percent of all CPUs
        self.mem_used = 0
        self.mem_total = 0

    def sample(self) -> None:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        total = sum(fields[:8])
        if self._last is not None:
            d_total, d_idle = total - self._last[0], idle - self._last[1]
            self.cpu = 100.0 * (d_total - d_idle) / d_total if d_total > 0 else 0.0
        self._last = (total, idle)
        info: dict[str, int] = {}
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    info[key] = int(rest.split()[0]) * 1024
        self.mem_total = info.get("MemTotal", 0)
        self.mem_used = self.mem_total - info.get("MemAvailable", 0)


def human(n: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit in ("B", "K") else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}T"


SPARKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[float], top: float = 100.0) -> str:
    top = max(top, max(values, default=0.0), 1e-9)
    return "".join(SPARKS[min(len(SPARKS) - 1, round(v / top * (len(SPARKS) - 1)))]
                   for v in values)
