"""The command line: ``amcr run``, ``amcr image ...``, ``amcr info``, ``amcr gc``.

Imports are lazy: every command pays only for what it uses, because start-up
time of ``amcr run`` is part of every container's start-up time.
"""
from __future__ import annotations

import os
import sys

from amcr.cli_options import RUN_OPTIONS, parse_run
from amcr.errors import AmcrError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

USAGE_ERROR = 125   # docker/podman use 125 for "the runtime itself failed", usage included


def _build_parser() -> argparse.ArgumentParser:
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            sys.stderr.write(f"amcr: {message} (see: {self.prog} --help)\n")
            sys.exit(USAGE_ERROR)

    p = _Parser(prog="amcr", description="rootless containers with an asyncio core")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run a command in a new container",
                         description="Run CMD in a new container, like podman run --rm. "
                                     "Options come before CMD.")
    for flags, dest, kind, metavar, text in RUN_OPTIONS:
        if kind == "flag":
            run.add_argument(*flags, dest=dest, action="store_true", help=text)
        else:
            run.add_argument(*flags, dest=dest, metavar=metavar, help=text,
                             action="append" if kind == "append" else "store")
    run.add_argument("cmd", nargs="*", metavar="CMD [ARGS...]")

    up = sub.add_parser("up", help="start containers and switch between them in one terminal",
                        description="Start a shell container per NAME (or every container "
                                    "of ./amcr.toml) and open the multiplexer.")
    up.add_argument("-f", "--file", metavar="FILE", help="config file (default ./amcr.toml)")
    up.add_argument("names", nargs="*", metavar="NAME")

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
    gc = sub.add_parser("gc", help="remove layers left by containers whose runtime died")
    gc.add_argument("-n", "--dry-run", action="store_true", help="only list what would go")
    return p


def _wants_help(argv: list[str]) -> bool:
    for arg in argv:
        if arg == "--" or not arg.startswith("-"):
            return False
        if arg in ("-h", "--help"):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["run"] and not _wants_help(argv[1:]):
            # the hot path: no argparse
            from amcr.cli_run import run_command
            return run_command(parse_run(argv[1:]))
        return _dispatch(argv)
    except AmcrError as exc:
        sys.stderr.write(f"amcr: {exc.line()}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        sys.stderr.write(f"amcr: python package {exc.name!r} is missing (run scripts/setup.sh, "
                         "or pip install the amcr package with its dependencies)\n")
        return USAGE_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        sys.stderr.write(f"amcr: {exc.strerror or exc} ({type(exc).__name__.lower()})\n")
        return USAGE_ERROR


def _dispatch(argv: list[str]) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from amcr.cli_run import run_command
        return run_command(args)
    if args.command == "up":
        from amcr.cli_up import up_command
        return up_command(args)
    if args.command == "image":
        from amcr.cli_image import image_command
        return image_command(args, parser)
    if args.command == "gc":
        from amcr import gc
        return gc.main(["--dry-run"] if args.dry_run else [])
    if args.command == "info":
        from amcr import info
        return info.main()
    parser.print_help(sys.stderr)
    return USAGE_ERROR
