"""Seccomp: profiles compiled by libseccomp (pyseccomp) and cached; PID 1 loads them last.

Compiling a profile needs pyseccomp, whose import alone costs ~45 ms here (it
runs ldconfig to find the library). So a profile is compiled once, exported
as the BPF program libseccomp generated, and cached on disk by a digest of
everything that shapes it (rules, capabilities, architecture, libseccomp
version); a container start only reads the bytes, and PID 1 hands them to the
kernel with prctl(PR_SET_SECCOMP) (amcr/init/pid1.c). Nothing here is hand-assembled BPF.

Every profile but ``unconfined`` also gets a second, small filter refusing the
terminal-injection ioctls TIOCSTI and TIOCLINUX, comparing the request masked
to 32 bits (the kernel ignores the upper bits, so 0x1_0000_5412 *is* TIOCSTI).
The kernel runs every loaded filter and applies the strictest answer, which
keeps this rule out of the allowlist's way.
"""
from __future__ import annotations

import os

TIOCSTI = 0x5412
TIOCLINUX = 0x541C

_memory: dict[str, tuple[bytes, ...]] = {}
_builtin: dict[tuple[str, frozenset[str], str | None], tuple[bytes, ...]] = {}


def _digest(profile_key: object, caps: frozenset[str], arch: str) -> str:
    from _sha256 import sha256   # hashlib's import costs milliseconds; the C module does not
    text = repr((profile_key, sorted(caps), arch, _libseccomp_version()))
    return sha256(text.encode()).hexdigest()[:32]


def _builtin_stamp() -> str:
    """What identifies the built-in profiles, cheaply: they are code, so the file that
    defines them (its size and modification time) identifies them, without importing
    it (half a millisecond of every start) or rendering hundreds of rules."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "security", "profiles.py")
    st = os.stat(path)
    return f"builtin:{st.st_size}:{st.st_mtime_ns}"


def _libseccomp_version() -> str:
    """The library's real file name (libseccomp.so.2.5.4): a new version recompiles."""
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib"):
        try:
            return os.readlink(os.path.join(d, "libseccomp.so.2"))
        except OSError:
            continue
    return "unknown"


def builtin_programs(name: str, caps: frozenset[str],
                     cache_dir: str | None) -> tuple[bytes, ...]:
    """The BPF programs for built-in profile ``name`` with ``caps`` (see :func:`programs`);
    the profile's module is only imported to compile it."""
    known = _builtin.get((name, caps, cache_dir))
    if known is not None:      # this process has them already: no stat, no digest
        return known

    def profile() -> Profile:
        from amcr.security.profiles import BUILTIN
        return BUILTIN[name]
    progs = _programs(("builtin", name, _builtin_stamp()), profile, caps, cache_dir)
    _builtin[(name, caps, cache_dir)] = progs
    return progs


def programs(profile: Profile, caps: frozenset[str], cache_dir: str | None) -> tuple[bytes, ...]:
    """The BPF programs for ``profile`` with ``caps``: from memory, disk, or compiled."""
    return _programs((profile.name, repr(profile.rules), profile.default_action,
                      profile.default_errno), lambda: profile, caps, cache_dir)


def _programs(profile_key: object, profile: Callable[[], Profile], caps: frozenset[str],
              cache_dir: str | None) -> tuple[bytes, ...]:
    arch = os.uname().machine
    key = _digest(profile_key, caps, arch)
    if key in _memory:
        return _memory[key]
    path = os.path.join(cache_dir, f"seccomp-{key}.bpf") if cache_dir else None
    progs: tuple[bytes, ...] | None = None
    if path is not None:
        progs = _read_cache(path)
    if progs is None:
        progs = (_compile(profile(), caps, arch), _compile_tty_guard())
        if path is not None:
            _write_cache(path, progs)
    _memory[key] = progs
    return progs


def _read_cache(path: str) -> tuple[bytes, ...] | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    out = []
    while data:
        n = int.from_bytes(data[:4], "little")
        out.append(data[4:4 + n])
        data = data[4 + n:]
    return tuple(out) if len(out) == 2 and all(len(p) % 8 == 0 and p for p in out) else None


def _write_cache(path: str, progs: tuple[bytes, ...]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "wb") as f:
        for p in progs:
            f.write(len(p).to_bytes(4, "little") + p)
    os.rename(tmp, path)


def _export(flt: object) -> bytes:
    import tempfile
    with tempfile.TemporaryFile() as t:
        flt.export_bpf(t)   # type: ignore[attr-defined]
        t.seek(0)
        return t.read()


def _action(ps: object, action: str, err: int) -> object:
    return {"allow": ps.ALLOW, "errno": ps.ERRNO(err), "kill": ps.KILL_PROCESS,  # type: ignore
            "trap": ps.TRAP, "log": ps.LOG}[action]  # type: ignore[attr-defined]


def _compile(profile: "Profile", caps: frozenset[str], arch: str) -> bytes:
    import pyseccomp as ps
    ops = {"ne": ps.NE, "lt": ps.LT, "le": ps.LE, "eq": ps.EQ, "ge": ps.GE, "gt": ps.GT,
           "masked_eq": ps.MASKED_EQ}
    flt = ps.SyscallFilter(_action(ps, profile.default_action, profile.default_errno))
    seen: dict[str, str] = {}
    for rule in profile.applicable(caps, arch):
        action = _action(ps, rule.action, rule.errno)
        for name in rule.names:
            try:
                ps.resolve_syscall(ps.Arch.NATIVE, name)
            except Exception:  # noqa: BLE001 - unknown on this architecture
                continue
            args = [ps.Arg(i, ops[op], b, a) if op == "masked_eq" else ps.Arg(i, ops[op], a, b)
                    for i, op, a, b in rule.args]
            if not args and name in seen:
                continue     # an unconditional rule already decided this syscall
            try:
                flt.add_rule(action, name, *args)
            except OSError:
                continue     # libseccomp refuses a rule that conflicts with an earlier one
            if not args:
                seen[name] = rule.action
    return _export(flt)


def _compile_tty_guard() -> bytes:
    import errno

    import pyseccomp as ps
    flt = ps.SyscallFilter(ps.ALLOW)
    for request in (TIOCSTI, TIOCLINUX):
        flt.add_rule(ps.ERRNO(errno.EPERM), "ioctl", ps.Arg(1, ps.MASKED_EQ, 0xFFFFFFFF, request))
    return _export(flt)


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from amcr.security.profiles import Profile
