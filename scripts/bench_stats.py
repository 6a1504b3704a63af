#!/usr/bin/env python3
"""Stats sampling cost: 50 live cgroups at 1 Hz for 10 s, against psutil process trees.

Why this shape: the issue's budget is "stats for 50 live containers at 1 Hz
cost at most 2 % of a core". The sampler's own CPU time (time.process_time:
user + system of this process, so file reads count, sleeping does not) over
the wall time is that share. The anchor is the fallback source amcr uses
when a container has no cgroup: psutil sampling of the same 50 process
trees (one scan of the host's parent links per round, then CPU times, RSS,
threads, I/O per process), with its Process objects kept between samples as
a real sampler would.

Each "container" is a ``sleep`` in its own cgroup, joined between fork and
exec like the start path does. Needs root (or a delegated cgroup v2 subtree);
everything is killed and removed at the end, also on Ctrl-C.

    sudo PYTHONPATH=/work/main /opt/amcr/venv/bin/python scripts/bench_stats.py
"""
from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil  # noqa: E402

from amcr.kernel import cgroups as cg  # noqa: E402


def children_map() -> dict[int, list[int]]:
    """ppid -> pids for the whole host, read once per round.

    ``Process.children(recursive=True)`` rescans every /proc entry per call,
    i.e. per container (50 scans a round); one scan shared by all trees is
    what a sensible fallback sampler does, so that is the anchor.
    """
    kids: dict[int, list[int]] = {}
    for p in psutil.process_iter(["ppid"]):
        kids.setdefault(p.info["ppid"], []).append(p.pid)
    return kids


def tree_stats(root: int, kids: dict[int, list[int]], cache: dict[int, psutil.Process]
               ) -> cg.Stats:
    """The fallback: one container's numbers from its process tree (source "process tree")."""
    cpu = rss = tasks = rd = wr = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        todo += kids.get(pid, ())
        p = cache.get(pid)
        if p is None:
            try:
                p = cache[pid] = psutil.Process(pid)   # kept: psutil caches per object
            except psutil.NoSuchProcess:
                continue
        try:
            with p.oneshot():
                t = p.cpu_times()
                cpu += int((t.user + t.system) * 1e6)
                rss += p.memory_info().rss
                tasks += p.num_threads()
                io = p.io_counters()
                rd += io.read_bytes
                wr += io.write_bytes
        except psutil.NoSuchProcess:
            cache.pop(pid, None)
    return cg.Stats(cpu_usec=cpu, memory_current=rss, pids_current=tasks, io_read_bytes=rd,
                    io_write_bytes=wr, source="process tree")


def sample(name: str, fn: object, seconds: float, hz: float) -> tuple[float, float, int]:
    """Call ``fn()`` at ``hz`` for ``seconds``; returns (cpu s, wall s, samples)."""
    period = 1.0 / hz
    n = int(seconds * hz)
    cpu0, wall0 = time.process_time(), time.monotonic()
    for i in range(n):
        fn()                                    # type: ignore[operator]
        delay = wall0 + (i + 1) * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    print(f"{name:<24} {n} samples in {wall:5.2f} s: {cpu * 1000:7.2f} ms CPU "
          f"= {cpu / wall * 100:6.3f} % of a core")
    return cpu, wall, n


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--hz", type=float, default=1.0)
    ap.add_argument("--budget", type=float, default=2.0, help="percent of a core")
    args = ap.parse_args(argv)

    choice = cg.choose()
    backend = choice.backend
    if backend is None:
        print(f"bench_stats: no cgroups here: {choice.why}", file=sys.stderr)
        return 2
    print(f"backend: {choice.why}")
    tag = f"bench{os.getpid()}"
    groups: list[cg.Cgroup] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(args.containers):
            c = backend.create(f"{tag}-{i}")
            groups.append(c)
            fds = c.open_procs()
            try:
                procs.append(subprocess.Popen(["sleep", "600"],
                                              preexec_fn=functools.partial(cg.join, fds)))
            finally:
                for fd in fds:
                    os.close(fd)
        assert all(len(c.procs()) == 1 for c in groups), "every sleep is in its cgroup"
        print(f"{len(groups)} cgroups with one live process each; "
              f"sampling {args.hz:g} Hz for {args.seconds:g} s\n")

        last: list[cg.Stats] = []

        def cgroup_round() -> None:
            last[:] = [c.stats() for c in groups]

        cache: dict[int, psutil.Process] = {}
        tree_last: list[cg.Stats] = []

        def tree_round() -> None:
            kids = children_map()
            tree_last[:] = [tree_stats(p.pid, kids, cache) for p in procs]

        cg_cpu, cg_wall, _ = sample(f"cgroup v{backend.version} files", cgroup_round,
                                    args.seconds, args.hz)
        ps_cpu, ps_wall, _ = sample("psutil process trees", tree_round, args.seconds, args.hz)
        share = cg_cpu / cg_wall * 100
        rounds = args.seconds * args.hz
        print(f"\nper sample of {len(groups)}: cgroup {cg_cpu / rounds * 1000:.2f} ms, "
              f"psutil {ps_cpu / rounds * 1000:.2f} ms")
        print(f"ratio cgroup/psutil CPU: {cg_cpu / ps_cpu:.2f}" if ps_cpu else "psutil: 0 CPU")
        print(f"example: {last[0]}\n         {tree_last[0]}")
        ok = share <= args.budget
        print(f"cgroup sampling: {share:.3f} % of a core, budget {args.budget:g} %: "
              f"{'OK' if ok else 'OVER BUDGET'}")
        return 0 if ok else 1
    finally:
        for p in procs:
            p.kill()
        for c in groups:
            try:
                c.remove()
            except Exception as exc:             # noqa: BLE001 - report, clean the rest
                print(f"bench_stats: {exc}", file=sys.stderr)
        for p in procs:
            p.wait()
        left = [d for b in backend.bases() for d in os.listdir(b) if tag in d]
        print(f"cleaned up: {len(groups)} cgroups removed, left behind: {left or 'nothing'}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
