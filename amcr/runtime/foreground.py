"""One container attached to the caller's terminal or pipes (``amcr run``).

Synchronous on purpose (see :mod:`amcr.cli_run`); the container itself starts
through the same sans-IO protocol as the asyncio runtime's
(:func:`amcr.runtime.spawn.protocol`), here driven by the blocking
:func:`amcr.runtime.spawn.spawn`.
"""
from __future__ import annotations

import os
import time

from amcr._record import Record
from amcr.kernel import signals as sig
from amcr.runtime import owner, relay
from amcr.runtime.prepare import prepare, release
from amcr.runtime.spawn import Spawned, exit_code, kill_and_reap, spawn
from amcr.spec import ContainerSpec

#: signals a foreground ``amcr run`` passes on to the container (sig-proxy)
PROXIED = (sig.SIGINT, sig.SIGTERM, sig.SIGHUP, sig.SIGQUIT, sig.SIGUSR1, sig.SIGUSR2)


class ForegroundResult(Record):
    __slots__ = ("exit_code", "root_method", "kept_layer", "id", "start_ms", "pid",
                 "oom_killed", "memory_via", "warnings")
    _defaults = {"pid": 0, "oom_killed": False, "memory_via": "", "warnings": ()}
    exit_code: int
    root_method: str
    kept_layer: str | None
    id: str
    start_ms: float          # from prepare to the command's execve
    pid: int                 # host PID of the container's PID 1 (0: it never started)
    oom_killed: bool         # the cgroup's memory limit killed something in it
    memory_via: str          # how --memory was enforced: "cgroup", "rlimit" or ""
    warnings: tuple[str, ...]


def run_foreground(spec: ContainerSpec, *, interactive: bool,
                   stop_timeout: float = 10.0) -> ForegroundResult:
    # From the first step on: a SIGTERM during the set-up is passed on to the
    # container once it runs, rather than killing us half-way (relay.CaughtSignals).
    with relay.CaughtSignals(PROXIED) as caught:
        return _run(spec, interactive, stop_timeout, caught)


def _run(spec: ContainerSpec, interactive: bool, stop_timeout: float,
         caught: relay.CaughtSignals) -> ForegroundResult:
    t0 = time.perf_counter()
    started = t0
    pipes = None if spec.tty else relay.Pipes.make(interactive)
    try:
        prep = prepare(spec, stdio=None if pipes is None else pipes.child_ends())
    except BaseException:
        if pipes is not None:
            pipes.close()
        raise
    proc: Spawned | None = None
    status = 0
    lock = -1
    kept = None
    try:
        lock = owner.claim(prep.layer.path)   # gc: this layer is live while we are
        try:
            proc = spawn(prep.cfg)
            started = time.perf_counter()
        finally:
            if prep.cgroup is not None:
                prep.cgroup.close_fds()      # PID 1 has joined (or failed): ours go
            if pipes is not None:
                pipes.forget_child_ends()     # the protocol closed them after the clone
        try:
            status = relay.attach(proc, pipes, interactive=interactive, caught=caught,
                                  stop_timeout=stop_timeout)
        except BaseException:
            # e.g. our terminal went away (EIO): the container must not outlive us
            kill_and_reap(proc.pid, proc.pidfd)
            raise
    finally:
        try:
            kept = release(prep, proc.userns_fd if proc else None)
        finally:
            if lock >= 0:
                owner.disown(prep.layer.path, lock, kept is not None)
            if proc is not None:
                for fd in (proc.pidfd, proc.master, proc.userns_fd):
                    if fd is not None:
                        os.close(fd)
            if pipes is not None:
                pipes.close()
    return ForegroundResult(exit_code(status), proc.root_method if proc else "", kept, prep.id,
                            (started - t0) * 1000, proc.pid if proc else 0,
                            bool(prep.cgroup and prep.cgroup.oom_killed), prep.memory_via,
                            prep.warnings)
