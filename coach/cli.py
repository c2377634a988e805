"""The `coach` command: a thin dispatcher; each subcommand lives in coach/commands/<name>.py.

A command module defines `register(subparsers)` which adds its parser and sets
`func=run` where `run(args) -> int`. Modules are imported lazily by name so that a
missing optional extra (voice, web) only breaks the command that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import config  # noqa: F401  (sets privacy environment defaults first)
from .errors import CoachError
from .logging_setup import setup_logging

COMMANDS = ["ingest", "ask", "eval", "chat", "sessions", "screen", "serve", "say", "doctor",
            "report"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coach",
        description="Trust Coach: a private, offline coach for working through trust issues.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"coach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"coach.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("coach.commands"):
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging()  # privacy-safe: no message text in logs unless COACH_LOG_TEXT=1
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for reports: the exact command
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CoachError as exc:
        print(f"coach: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
