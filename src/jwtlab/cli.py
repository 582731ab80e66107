"""The `jwtlab` command line. Each subcommand lives in its own module under `jwtlab.commands`.

A module there exposes `register(subparsers)`, which adds its parser and sets `func` to a callable
taking the parsed arguments and returning the exit code. Keeping commands apart keeps this file
free of their imports, so `jwtlab --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommand modules, in the order `jwtlab --help` lists them.
COMMAND_MODULES: list[str] = ["inspect", "labs", "pki", "up"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jwtlab",
        description="Toolkit of the course 'JWT in Microservices': inspect tokens, run the labs, start the demo stack.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"jwtlab.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
