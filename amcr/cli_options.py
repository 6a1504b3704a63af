"""The options of ``amcr run``, defined once, parsed without argparse.

argparse (with the ``re`` and ``gettext`` it imports) costs several
milliseconds at every start; ``amcr run`` parses its flags with the small
loop below, from the same table that builds the argparse help text.
"""
from __future__ import annotations

from amcr.errors import SpecError
from amcr.limits import RUN_LIMIT_OPTIONS

#: (flags, destination, kind, metavar, help); kind: flag | value | append
RUN_OPTIONS: tuple[tuple[tuple[str, ...], str, str, str, str], ...] = (
    (("--image",), "image", "value", "NAME",
     "image: host (default), busybox, or an imported name"),
    (("--rootfs",), "rootfs", "value", "DIR", "use an unpacked root filesystem directory"),
    (("-i", "--interactive"), "interactive", "flag", "", "keep stdin attached"),
    (("-t", "--tty"), "tty", "flag", "", "allocate a PTY (the default when stdin is a terminal)"),
    (("--no-tty",), "no_tty", "flag", "", "use pipes even at a terminal"),
    (("--name",), "name", "value", "NAME", "container name (also the default hostname)"),
    (("--hostname",), "hostname", "value", "NAME",
     "hostname inside (default: the name, else amcr)"),
    (("-e", "--env"), "env", "append", "KEY=VAL", "set an environment variable"),
    (("-w", "--workdir"), "workdir", "value", "DIR", "working directory (default /)"),
    (("-v", "--volume"), "volume", "append", "HOST:CONTAINER[:ro]", "bind-mount a host path"),
    (("--read-only",), "read_only", "flag", "", "mount the root read-only"),
    (("--keep",), "keep", "flag", "", "keep the writable layer after exit"),
    (("--no-pivot",), "no_pivot", "flag", "",
     "use chroot instead of pivot_root (weaker; for odd root filesystems)"),
    (("--seccomp",), "seccomp", "value", "PROFILE",
     "default (docker-like allowlist), strict (kill on anything else), unconfined"),
    (("--seccomp-profile",), "seccomp_profile", "value", "FILE",
     "a seccomp profile in docker's JSON format"),
    (("--cap-add",), "cap_add", "append", "CAP", "add a capability (capabilities(7) name, ALL)"),
    (("--cap-drop",), "cap_drop", "append", "CAP", "drop a capability (or ALL)"),
    (("--ulimit",), "ulimit", "append", "NAME=SOFT[:HARD]", "set a resource limit"),
    (("--stop-timeout",), "stop_timeout", "value", "SECONDS",
     "after a TERM/HUP/INT passed on, SIGKILL when still running (default 10)"),
) + RUN_LIMIT_OPTIONS

DEFAULTS: dict[str, object] = {"image": "host", "workdir": "/", "seccomp": "default",
                               "limits": "enforce"}


class RunArgs:
    """The parsed flags, as attributes (what argparse would give)."""

    def __init__(self) -> None:
        for _flags, dest, kind, _mv, _help in RUN_OPTIONS:
            value: object = [] if kind == "append" else (False if kind == "flag" else None)
            setattr(self, dest, DEFAULTS.get(dest, value))
        self.cmd: list[str] = []


_BY_FLAG = {flag: opt for opt in RUN_OPTIONS for flag in opt[0]}


def _usage(message: str) -> SpecError:
    return SpecError(message, hint="see: amcr run --help")


def parse_run(argv: list[str]) -> RunArgs:
    """Flags up to the first non-option argument (or ``--``); the rest is CMD."""
    args = RunArgs()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            args.cmd = argv[i + 1:]
            return args
        if not arg.startswith("-") or arg == "-":
            args.cmd = argv[i:]
            return args
        i += 1
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            opt = _BY_FLAG.get(name)
            if opt is None:
                raise _usage(f"unknown option {name}")
            if opt[2] == "flag":
                if eq:
                    raise _usage(f"option {name} takes no value")
                setattr(args, opt[1], True)
                continue
            if not eq:
                if i >= len(argv):
                    raise _usage(f"option {name} needs a value ({opt[3]})")
                inline, i = argv[i], i + 1
            _store(args, opt, inline)
            continue
        # short flags, possibly bundled: -it, -eKEY=VAL, -e KEY=VAL
        for pos in range(1, len(arg)):
            opt = _BY_FLAG.get("-" + arg[pos])
            if opt is None:
                raise _usage(f"unknown option -{arg[pos]}")
            if opt[2] == "flag":
                setattr(args, opt[1], True)
                continue
            value = arg[pos + 1:]
            if not value:
                if i >= len(argv):
                    raise _usage(f"option -{arg[pos]} needs a value ({opt[3]})")
                value, i = argv[i], i + 1
            _store(args, opt, value)
            break
    return args


def _store(args: RunArgs, opt: tuple[tuple[str, ...], str, str, str, str], value: str) -> None:
    if opt[2] == "append":
        getattr(args, opt[1]).append(value)
    else:
        setattr(args, opt[1], value)
