"""From a spec to what the child needs: image plan, writable layer, ID map.

Everything here runs in the parent before fork and can fail with a clear
error; whatever it created is undone by :func:`release`.
"""
from __future__ import annotations

import os

from amcr import images, paths
from amcr._record import Record
from amcr.errors import AmcrError
from amcr.images import layers
from amcr.init.config import InitConfig
from amcr.kernel import userns
from amcr.spec import ContainerSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from amcr.kernel.cgroups import CgroupBackend
    from amcr.runtime.cgroup_lease import CgroupLease
    from amcr.limits import Plan


class Prepared(Record):
    __slots__ = ("id", "cfg", "layer", "keep", "cgroup", "memory_via", "warnings")
    _defaults = {"cgroup": None, "memory_via": "", "warnings": ()}
    id: str
    cfg: InitConfig
    layer: layers.Layer
    keep: bool
    cgroup: CgroupLease | None       # the container's cgroup, when this host gives one
    memory_via: str                  # "cgroup", "rlimit" or "": how --memory is enforced
    warnings: tuple[str, ...]        # limits that --limits warn let go


def prepare(spec: ContainerSpec, stdio: tuple[int, int, int] | None = None,
            container_id: str | None = None) -> Prepared:
    plan = images.resolve(spec.image, spec.rootfs)
    decided, backend = _limits_plan(spec)
    confined = confinement(spec, decided.rlimit_as)   # a bad profile leaves nothing behind
    cid = container_id or layers.new_id()
    in_memory = not spec.read_only and not spec.keep   # a kept layer must be on disk
    # Files written to / then take memory: within the container's memory limit
    # (the tmpfs is also charged to its cgroup), not up to half the host's RAM.
    layer_size = (spec.resource_limits.memory or 0) if in_memory and spec.memory else 0
    layer = (layers.merged_only(cid) if spec.read_only
             else layers.create(cid))
    lease = None
    try:
        if backend is not None:
            # before fork: the first process joins it before anything else runs
            from amcr.runtime.cgroup_lease import CgroupLease   # only with a limit
            lease = CgroupLease(backend.create(cid), decided.cgroup)
            if decided.cgroup is not None:
                lease.cgroup.limit(decided.cgroup)
        cfg = InitConfig(
            argv=spec.argv, env=spec.environment(), hostname=spec.effective_hostname,
            workdir=spec.workdir, plan=plan, merged=layer.merged,
            upper=None if spec.read_only else layer.upper,
            work=None if spec.read_only else layer.work,
            mounts=spec.mounts, mapping=_mapping(), tty=spec.tty, winsize=spec.winsize,
            pivot_root=spec.pivot_root, stdio=stdio,
            cgroup_fds=tuple(lease.fds) if lease else (), volatile=not spec.keep,
            layer_in_memory=in_memory, layer_size=layer_size, **confined)
    except BaseException:
        if lease is not None:
            lease.finish()
        layers.remove(layer)
        raise
    return Prepared(cid, cfg, layer, spec.keep, lease, decided.memory_via, decided.warnings)


def _limits_plan(spec: ContainerSpec) -> tuple[Plan, CgroupBackend | None]:
    """Which limits a cgroup enforces here, which fall back to RLIMIT_AS, which fail.

    A container gets a cgroup when it asks for a limit; without one there is
    nothing to look up (inspecting the host's cgroups costs ~2 ms of every
    start) and its stats come from its process tree.
    """
    from amcr.limits import plan
    limits = spec.resource_limits
    if limits.empty:
        return plan(limits), None
    from amcr.runtime import cgroup_lease
    choice = cgroup_lease.choose()
    backend = choice.backend  # type: ignore[attr-defined]
    controllers = backend.controllers if backend is not None else ()
    return plan(limits, controllers, choice.why), backend  # type: ignore


def confinement(spec: ContainerSpec, rlimit_as: int | None = None) -> dict[str, object]:
    """Capabilities, seccomp programs and rlimits for ``spec`` (compiled once, cached)."""
    from amcr.kernel import capabilities, seccomp
    from amcr.security.caps import effective_caps
    caps = effective_caps(spec.cap_add, spec.cap_drop)
    programs: tuple[bytes, ...] = ()
    if spec.seccomp_profile is not None:
        from amcr.security.profiles import load_docker_profile
        programs = seccomp.programs(load_docker_profile(spec.seccomp_profile), caps, _cache())
    elif spec.seccomp != "unconfined":
        programs = seccomp.builtin_programs(spec.seccomp, caps, _cache())
    rlimits: list[tuple[int, int, int]] = []
    memory = rlimit_as
    if spec.ulimits or memory:
        from amcr.kernel import rlimits as rl
        rlimits = [rl.parse_ulimit(u) for u in spec.ulimits]
        if memory:
            rlimits.append((rl.NAMES["as"], memory, memory))
    return {"caps": caps, "cap_top": capabilities.last_cap(), "seccomp": programs,
            "rlimits": tuple(rlimits)}


def _cache() -> str:
    return os.path.join(paths.home(), "cache")


_cached_mapping: userns.IdMapping | None = None


def _mapping() -> userns.IdMapping:
    global _cached_mapping
    if _cached_mapping is None:
        _cached_mapping = userns.choose_mapping()
    return _cached_mapping


def release(prep: Prepared, userns_fd: int | None = None) -> str | None:
    """Remove the cgroup and (or keep) the writable layer; returns the kept path, if any."""
    if prep.cgroup is not None:
        prep.cgroup.finish()
    if prep.keep and prep.cfg.upper is not None:
        return layers.keep(prep.layer)
    try:
        layers.remove(prep.layer, userns_fd)
    except OSError as exc:
        raise AmcrError(f"could not remove layer {prep.layer.path}: {exc.strerror or exc}",
                        hint="remove it by hand or run amcr gc") from exc
    return None
