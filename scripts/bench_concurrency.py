#!/usr/bin/env python3
"""Concurrency benchmark: 200 ``/bin/true`` containers through ``amcr.Runtime`` vs bwrap.

Why this shape: the issue's target is "amcr at least as fast as bwrap" for a
program that runs many short sandboxed commands. The anchor is what such a
program would do without amcr: launch ``bwrap`` (same namespaces, the very
same busybox root filesystem amcr builds) through
``asyncio.create_subprocess_exec``, at the same concurrency, on the same loop.
Both run rootless as the same unprivileged user, in one process, in rounds
that alternate which goes first, on asyncio's own loop and then on uvloop; the
median round of each is reported, and the ratio between each tool's faster
loop (uvloop's subprocess support forks the whole Python process to start
bwrap, asyncio's uses vfork: the anchor is a third slower on uvloop).

Second number: the runtime's resident memory per live, idle, interactive
container (a busybox ``sh`` on a PTY), and a check that no helper process
exists per container (the runtime's children are the containers' PID 1s).

Run as root, the script re-executes itself as ``--user`` via runuser, piping
its own source on stdin (as scripts/bench_start.py does); the user needs read
access to the amcr installation (``--python``, default /opt/amcr/venv/bin/python).

    python3 scripts/bench_concurrency.py
    PYTHONPATH=/tmp/amcr-src python3 scripts/bench_concurrency.py --python python3
"""
from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

IDENTITY_VARS = {"HOME", "USER", "LOGNAME", "SHELL", "MAIL", "PWD", "OLDPWD", "XDG_RUNTIME_DIR",
                 "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"}
VENV_PYTHON = "/opt/amcr/venv/bin/python"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--containers", type=int, default=200, help="containers per round (200)")
    p.add_argument("--concurrency", type=int, default=8, help="at once (8)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per tool (3)")
    p.add_argument("--idle", type=int, default=50, help="idle interactive containers (50)")
    p.add_argument("--user", default="amcrtest", help="unprivileged user when started as root")
    p.add_argument("--python", default=None, help="python with amcr importable, for the user "
                   f"(default {VENV_PYTHON} if present)")
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def reexec_as(user: str, args: argparse.Namespace, argv: list[str]) -> int:
    """Root parent: measure as ``user``; root removes the work dir whatever uids it holds."""
    pw = pwd.getpwnam(user)
    work = tempfile.mkdtemp(prefix="amcr-bench-conc-", dir="/tmp")
    os.chown(work, pw.pw_uid, pw.pw_gid)
    python = args.python or (VENV_PYTHON if os.path.exists(VENV_PYTHON) else "python3")
    env = [f"{k}={v}" for k, v in os.environ.items() if k not in IDENTITY_VARS and "=" not in k]
    cmd = ["runuser", "-u", user, "--", "env", *env, python, "-", "--workdir", work, *argv]
    try:
        with open(os.path.abspath(__file__), "rb") as src:
            return subprocess.run(cmd, stdin=src, cwd=work).returncode
    finally:
        subprocess.run(["rm", "-rf", work], check=False)


def bwrap_argv(rootfs: str) -> list[str]:
    """The same argv as scripts/bench_start.py: amcr's namespaces, no overlay, no sysfs."""
    return ["bwrap", "--unshare-user", "--uid", "0", "--gid", "0", "--unshare-pid",
            "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
            "--ro-bind", rootfs, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--hostname", "amcr", "/bin/true"]


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds() -> float:
    """CPU time of this process, its reaped descendants (containers, bwrap, helpers)
    and amcr's spawner, which lives on unreaped (its children are ours, reaped here)."""
    import resource
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime + spawner_cpu()


def spawner_cpu() -> float:
    """utime + stime of amcr's spawner process (amcr.runtime.zygote), if one runs."""
    try:
        from amcr.runtime import zygote
    except ImportError:
        return 0.0
    if zygote._zygote is None:
        return 0.0
    try:
        with open(f"/proc/{zygote._zygote.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def amcr_round(rt, n: int) -> tuple[float, float]:
    import asyncio
    c0, t0 = cpu_seconds(), time.perf_counter()
    results = await asyncio.gather(*(rt.run(["/bin/true"]) for _ in range(n)))
    dt = time.perf_counter() - t0
    bad = [r for r in results if r.exit_code != 0]
    if bad:
        raise RuntimeError(f"amcr: {len(bad)} runs failed: {bad[0]}")
    return n / dt, (cpu_seconds() - c0) / n


async def bwrap_round(argv: list[str], n: int, concurrency: int) -> tuple[float, float]:
    import asyncio
    slots = asyncio.Semaphore(concurrency)
    c0 = cpu_seconds()

    async def one() -> int:
        async with slots:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"bwrap failed ({proc.returncode}): {err.decode().strip()}")
            return proc.returncode

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - t0), (cpu_seconds() - c0) / n


async def idle_memory(rt, n: int) -> tuple[float, list[str], int]:
    """RSS per idle tty shell, after a warm-up; the runtime's other children; the spawner."""
    import asyncio

    import psutil

    from amcr.runtime import zygote

    async def shell():
        c = await rt.start(["sh"], tty=True)
        await c.output().read_until(b"# ")      # set up and idle at its prompt
        return c

    warm = [await shell() for _ in range(5)]
    for c in warm:
        await c.close()
    before = rss()
    shells = await asyncio.gather(*(shell() for _ in range(n)))
    after = rss()
    spawner = zygote._zygote.pid if zygote._zygote is not None else 0
    pid1s = {c.pid for c in shells}
    others = [f"{p.pid} {p.name()}" for p in psutil.Process().children()
              if p.pid not in pid1s and p.pid != spawner]
    for c in shells:
        await c.close()
    return (after - before) / n, others, 1 if spawner else 0


async def rounds(args: argparse.Namespace, home: str) -> dict[str, tuple[list, list]]:
    """Alternating rounds of each tool on the running loop: {tool: (rates, cpu)}."""
    import amcr
    results: dict[str, tuple[list, list]] = {"amcr": ([], []), "bwrap": ([], [])}
    async with amcr.Runtime(max_concurrency=args.concurrency, image="busybox") as rt:
        await rt.run(["/bin/true"], check=True)   # builds the busybox image on first use
        argv = bwrap_argv(os.path.join(home, "images", "busybox", "rootfs"))
        have_bwrap = shutil.which("bwrap") is not None
        if have_bwrap:
            await bwrap_round(argv, 4, 2)          # warm-up (and a check that it works here)
        await amcr_round(rt, 16)
        for i in range(args.rounds):
            order = ["amcr", "bwrap"] if i % 2 == 0 else ["bwrap", "amcr"]
            for tool in order:
                if tool == "amcr":
                    rate, per_cpu = await amcr_round(rt, args.containers)
                elif have_bwrap:
                    rate, per_cpu = await bwrap_round(argv, args.containers, args.concurrency)
                else:
                    continue
                results[tool][0].append(rate)
                results[tool][1].append(per_cpu)
    return results


async def memory(args: argparse.Namespace) -> tuple[float, list[str], int]:
    import amcr
    async with amcr.Runtime(image="busybox") as rt:
        return await idle_memory(rt, args.idle)


def bench(args: argparse.Namespace, work: str) -> int:
    """Both tools on each loop: asyncio's own and uvloop (amcr's when it owns the
    loop). The loop matters to the anchor: asyncio's subprocess support starts
    bwrap with vfork, uvloop's (libuv) forks the whole Python process first, which
    costs bwrap about a third of its rate here. The ratio is taken between each
    tool's best loop, so the anchor is never slowed down by the choice of loop."""
    import asyncio

    from amcr.runtime.loop import run

    home = os.path.join(work, "amcr-home")
    os.makedirs(home, exist_ok=True)
    os.environ["AMCR_HOME"] = home
    user = pwd.getpwuid(os.getuid()).pw_name
    by_loop = {"asyncio": asyncio.run(rounds(args, home)), "uvloop": run(rounds(args, home))}
    per, others, spawners = run(memory(args))

    print(f"{args.containers} x /bin/true, concurrency {args.concurrency}, busybox rootfs, "
          f"user {user}, {args.rounds} alternating rounds per tool and loop")
    best: dict[str, float] = {}
    for loop_name, results in by_loop.items():
        for tool, (rates, cpu) in results.items():
            if not rates:
                continue
            med = statistics.median(rates)
            best[tool] = max(best.get(tool, 0.0), med)
            spread = ", ".join(f"{x:.0f}" for x in rates)
            print(f"{tool:<6}{loop_name:<8}{med:7.1f} containers/s   (rounds: {spread});  CPU "
                  f"per container {statistics.median(cpu) * 1000:.1f} ms (this process tree)")
    if "bwrap" in best:
        print(f"ratio amcr/bwrap {best['amcr'] / best['bwrap']:.2f}, each on its faster loop   "
              f"(target >= 1.0)")
    else:
        print("bwrap: not measured (not on PATH)")
    print(f"idle interactive containers: {args.idle}; runtime RSS per container "
          f"{per / 2**10:.0f} KiB (target <= 2 MiB)")
    print(f"runtime's children besides the {args.idle} containers' PID 1: "
          f"{others or 'none'}; spawner processes per runtime: {spawners}; "
          f"helper processes per container: {len(others) // max(args.idle, 1)}")
    print("notes: amcr adds a writable layer (an overlay on a tmpfs), sysfs and masked /proc "
          "paths; bwrap has none of them (a read-only bind of the rootfs). CPU per container "
          "counts this process, its reaped descendants and amcr's spawner, not kernel "
          "threads.")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if os.geteuid() == 0:
        if args.workdir:
            sys.exit("refusing to measure as root: --user must be unprivileged")
        return reexec_as(args.user, args, argv)
    own = args.workdir is None
    work = args.workdir or tempfile.mkdtemp(prefix="amcr-bench-conc-", dir="/tmp")
    try:
        return bench(args, work)
    except RuntimeError as e:
        print(f"bench_concurrency: {e}", file=sys.stderr)
        return 1
    finally:
        if own:
            subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    sys.exit(main())
