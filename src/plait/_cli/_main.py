"""``plait [--version] COMMAND ...``: list the subcommands and run one.

A subcommand is a module with ``main(argv: list[str]) -> int`` taking the
arguments after its name; add it to ``COMMANDS`` with a one-line summary.
Exit codes: 0 success, 1 the command ran and failed (a database it could not
reach, jobs that failed where that counts as failure), 2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NamedTuple, Protocol


class _Entry(Protocol):
    def __call__(self, argv: list[str]) -> int: ...


class Command(NamedTuple):
    """A subcommand: the module holding its ``main`` and what it does."""

    module: str
    summary: str


COMMANDS: dict[str, Command] = {
    "tour": Command(
        "plait._tour", "run gather, race and bounded_map on every event loop here"
    ),
    "tree": Command(
        "plait._observe._cli", "print the task tree of a program running a TaskMonitor"
    ),
    "dashboard": Command(
        "plait.dashboard._cli", "serve the web dashboard of a durable job queue"
    ),
    "worker": Command(
        "plait._jobs.durable._cli", "run, inspect or drain a durable job queue"
    ),
    "jobs": Command(
        "plait._jobs.durable._jobs_cli",
        "list, show, retry, cancel, delete, purge or enqueue durable jobs",
    ),
}


def main(argv: list[str] | None = None) -> int:
    """Run ``plait`` with *argv* (default ``sys.argv[1:]``); return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        args = ["tour"]
    parser = _parser()
    if args[0] not in COMMANDS:
        parser.parse_args(args)  # --help, --version, or a usage error (exit 2)
        return 2  # pragma: no cover - parse_args exits above
    entry: _Entry = importlib.import_module(COMMANDS[args[0]].module).main
    return entry(args[1:])


def _parser() -> argparse.ArgumentParser:
    from plait import __version__

    parser = argparse.ArgumentParser(
        prog="plait",
        description="plait's command-line tools. With no command: the tour.",
        epilog="Run `plait COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"plait {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.summary, add_help=False)
    return parser
