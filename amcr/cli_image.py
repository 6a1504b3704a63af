"""``amcr image import|ls|rm``."""
from __future__ import annotations

import argparse
import sys


def image_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from amcr.images import importer, store
    if args.image_command == "import":
        report = importer.import_tarball(args.tarball, args.name)
        skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
        print(f"imported {args.name}: {report.files} files, {report.dirs} directories, "
              f"{report.symlinks} symlinks{skipped}")
        for name, reason in report.skipped[:20]:
            print(f"  skipped {name}: {reason}", file=sys.stderr)
        return 0
    if args.image_command == "ls":
        print(f"{'NAME':<20} {'SIZE':>10}  SOURCE")
        listed = store.names()
        for builtin in store.BUILTIN:
            if builtin not in listed:
                print(f"{builtin:<20} {'-':>10}  built-in (built on first use)")
        for name in listed:
            size = store.size_of(store.rootfs_of(name)) / 1e6
            source = "built-in" if name in store.BUILTIN else "imported"
            print(f"{name:<20} {size:>8.1f}MB  {source}")
        return 0
    if args.image_command == "rm":
        for name in args.names:
            store.remove(name)
            print(name)
        return 0
    parser.parse_args(["image", "--help"])
    return 125

