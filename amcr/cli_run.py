"""``amcr run``: one container in the foreground, its I/O relayed to ours.

A single-threaded select loop (epoll) moves bytes between our stdio and the
container's PTY master or pipes, watches the container's exit on a pidfd,
forwards window-size changes, and proxies signals. No asyncio here: importing
it costs more than the rest of a container start.
"""
from __future__ import annotations

import os
import sys

from amcr.errors import SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.cli_options import RunArgs
    from amcr.runtime.foreground import ForegroundResult
from amcr.spec import ContainerSpec, Mount, parse_env


def spec_from_args(args: RunArgs, tty: bool,
                   winsize: tuple[int, int] | None) -> ContainerSpec:
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise SpecError("no command given", hint="usage: amcr run [OPTIONS] [--] CMD [ARGS...]")
    if args.image != "host" and args.rootfs:
        raise SpecError("--image and --rootfs are exclusive", hint="pick one")
    return ContainerSpec(
        argv=tuple(cmd), image=args.image, rootfs=args.rootfs, name=args.name,
        hostname=args.hostname, env=parse_env(args.env), workdir=args.workdir,
        mounts=tuple(Mount.parse(v) for v in args.volume), read_only=args.read_only,
        keep=args.keep, tty=tty, winsize=winsize, pivot_root=not args.no_pivot,
        term=os.environ.get("TERM", "xterm") or "xterm", seccomp=args.seccomp,
        seccomp_profile=args.seccomp_profile, cap_add=tuple(args.cap_add),
        cap_drop=tuple(args.cap_drop), ulimits=tuple(args.ulimit),
        memory=args.memory, memory_swap=args.memory_swap, cpus=args.cpus,
        pids_limit=args.pids_limit, limits=args.limits)


SIGSYS_EXIT = 128 + 31


def explain_exit(spec: ContainerSpec, result: ForegroundResult) -> None:
    """One line when the exit is amcr's doing: the memory cgroup's OOM kill,
    seccomp's kill, or an allocation refused by the RLIMIT_AS fallback."""
    code = result.exit_code
    if result.oom_killed:
        sys.stderr.write(f"amcr: killed: out of memory (limit {_memory_limit(spec)})\n")
    elif code == SIGSYS_EXIT and (spec.seccomp_profile or spec.seccomp != "unconfined"):
        from amcr.kernel.audit import seccomp_syscall
        name = seccomp_syscall(result.pid)
        what = f"system call {name}" if name else "a system call"
        profile = spec.seccomp_profile or spec.seccomp
        sys.stderr.write(f"amcr: killed by seccomp (SIGSYS): {spec.argv[0]} made {what} "
                         f"that the {profile} profile forbids (try --seccomp default)\n")
    elif result.memory_via == "rlimit" and 0 < code < 128:
        sys.stderr.write(f"amcr: note: memory was capped at {_memory_limit(spec)} per process "
                         "by RLIMIT_AS (no cgroup here); allocations beyond it fail inside\n")


def _memory_limit(spec: ContainerSpec) -> str:
    from amcr.limits import format_bytes
    return format_bytes(spec.resource_limits.memory or 0)


def _seconds(text: str | None, flag: str, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:
        raise SpecError(f"invalid {flag} {text!r}", hint="use a number of seconds, e.g. 10")
    return value


def run_command(args: RunArgs) -> int:
    stdin_tty = os.isatty(0)
    tty = (args.tty or stdin_tty) and not args.no_tty
    interactive = args.interactive or (tty and stdin_tty)
    winsize = None
    if tty:     # terminal modules only when there is a terminal (start-up time)
        from amcr.kernel.pty import get_winsize
        winsize = get_winsize(0) or get_winsize(1)
    spec = spec_from_args(args, tty, winsize or ((24, 80) if tty else None))
    from amcr.runtime.foreground import run_foreground
    result = run_foreground(spec, interactive=interactive,
                            stop_timeout=_seconds(args.stop_timeout, "--stop-timeout", 10.0))
    if os.environ.get("AMCR_DEBUG"):
        sys.stderr.write(f"amcr: container {result.id}: started in {result.start_ms:.1f} ms, "
                         f"root by {result.root_method}, exit {result.exit_code}\n")
    for warning in result.warnings:
        sys.stderr.write(f"amcr: {warning}\n")
    explain_exit(spec, result)
    if result.kept_layer:
        sys.stderr.write(f"amcr: kept the writable layer at {result.kept_layer}\n")
    if result.root_method == "chroot" and spec.pivot_root:
        sys.stderr.write("amcr: pivot_root failed here; used chroot (weaker isolation)\n")
    return result.exit_code
