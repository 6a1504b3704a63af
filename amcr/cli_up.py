"""``amcr up [NAMES...]``: start containers and open the multiplexer."""
from __future__ import annotations

import argparse
import os

from amcr.errors import AmcrError


class UpError(AmcrError):
    """``amcr up`` cannot start here (no terminal, nothing to start)."""


def up_command(args: argparse.Namespace) -> int:
    from amcr.config import load
    config = load(args.file)
    names = list(dict.fromkeys(args.names)) or list(config.containers)
    if not names:
        raise UpError("no containers named and no amcr.toml here",
                      hint="use amcr up a b c, or copy config/amcr.example.toml to ./amcr.toml")
    if not (os.isatty(0) and os.isatty(1)):
        raise UpError("amcr up needs a terminal", hint="run it in a terminal; for scripts "
                      "use amcr run or the Python API")
    for name in names:
        config.spec(name)             # every name valid before anything starts
    from amcr.runtime.loop import run
    from amcr.tui import app
    return run(app.main(config, names))
