"""The command line: ``amcr run``, ``amcr image ...``, ``amcr info``.

Imports are lazy: every command pays only for what it uses, because start-up
time of ``amcr run`` is part of every container's start-up time.
"""
from __future__ import annotations

import argparse
import os
import sys

from amcr.errors import AmcrError

USAGE_ERROR = 125   # docker/podman use 125 for "the runtime itself failed", usage included


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"amcr: {message} (see: {self.prog} --help)\n")
        sys.exit(USAGE_ERROR)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="amcr", description="rootless containers with an asyncio core")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run a command in a new container",
                         description="Run CMD in a new container, like podman run --rm.")
    run.add_argument("--image", default="host",
                     help="image: host (default), busybox, or an imported name")
    run.add_argument("--rootfs", metavar="DIR", help="use an unpacked root filesystem directory")
    run.add_argument("-i", "--interactive", action="store_true", help="keep stdin attached")
    run.add_argument("-t", "--tty", action="store_true",
                     help="allocate a PTY (the default when stdin is a terminal)")
    run.add_argument("--no-tty", action="store_true", help="use pipes even at a terminal")
    run.add_argument("--name", help="container name (also the default hostname)")
    run.add_argument("--hostname", help="hostname inside (default: the name, else amcr)")
    run.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL",
                     help="set an environment variable")
    run.add_argument("-w", "--workdir", default="/", metavar="DIR", help="working directory")
    run.add_argument("-v", "--volume", action="append", default=[],
                     metavar="HOST:CONTAINER[:ro]", help="bind-mount a host path")
    run.add_argument("--read-only", action="store_true", help="mount the root read-only")
    run.add_argument("--keep", action="store_true", help="keep the writable layer after exit")
    run.add_argument("--no-pivot", action="store_true",
                     help="use chroot instead of pivot_root (weaker; for odd root filesystems)")
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD [ARGS...]")

    image = sub.add_parser("image", help="manage images")
    isub = image.add_subparsers(dest="image_command", metavar="SUBCOMMAND",
                                parser_class=_Parser)
    imp = isub.add_parser("import", help="import a root filesystem tarball")
    imp.add_argument("tarball")
    imp.add_argument("name")
    isub.add_parser("ls", help="list images")
    rm = isub.add_parser("rm", help="remove images")
    rm.add_argument("names", nargs="+")

    sub.add_parser("info", help="what this host supports, and how to fix what it lacks")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            from amcr.cli_run import run_command
            return run_command(args)
        if args.command == "image":
            from amcr.cli_image import image_command
            return image_command(args, parser)
        if args.command == "info":
            from amcr import info
            return info.main()
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    except AmcrError as exc:
        sys.stderr.write(f"amcr: {exc.line()}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        sys.stderr.write(f"amcr: {exc.strerror or exc} ({type(exc).__name__.lower()})\n")
        return USAGE_ERROR
