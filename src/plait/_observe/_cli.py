"""``plait tree``: the task tree of a running program, from a shell.

    plait tree PID [--stacks] [--json]
    plait tree                      # which processes run a monitor

The program must run a ``plait.TaskMonitor``; ``plait tree`` asks it through
its Unix socket (same user only) and prints what it answers: the task tree,
or, if its event loop is blocked, the Python stack of the loop's thread.
Exit status: 0 when the program answered (a tree, or the stack of a blocked
loop), 1 when it did not (no such process, no monitor, no answer in time),
2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._monitor import answer_text
from ._runtime import (
    MonitorUnavailableError,
    ask,
    ask_at,
    monitored_pids,
    process_exists,
)

PROG = "plait tree"


def main(argv: list[str] | None = None) -> int:
    """Run ``plait tree`` with *argv* (the arguments after ``tree``)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.pid is None and args.socket is None:
            return _list(args.timeout)
        answer = _ask(args.pid, args.socket, args.timeout)
    except (MonitorUnavailableError, RuntimeError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(answer_text(answer, stacks=args.stacks))
    return 1 if "error" in answer else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Print the task tree of a running program that runs a "
        "plait.TaskMonitor (`async with plait.TaskMonitor(): ...`). With no "
        "PID, list this user's processes that run one.",
    )
    parser.add_argument("pid", nargs="?", type=int, help="the process to ask")
    parser.add_argument(
        "--stacks", action="store_true", help="show every task's await chain"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the answer as JSON, for tools"
    )
    parser.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="ask the monitor listening at PATH (TaskMonitor(socket=PATH))",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait for an answer (default 15)",
    )
    return parser


def _ask(pid: int | None, socket: Path | None, timeout: float) -> dict[str, Any]:
    if socket is not None:
        return ask_at(socket, "tree", timeout=timeout, who=str(socket))
    assert pid is not None
    return ask(pid, "tree", timeout=timeout)


def _list(timeout: float) -> int:
    pids = [pid for pid in monitored_pids() if process_exists(pid)]
    if not pids:
        print("no process of this user runs a plait task monitor")
        return 0
    for pid in pids:
        try:
            info = ask(pid, "info", timeout=min(timeout, 2.0))
        except MonitorUnavailableError as exc:
            print(f"{pid:>8}  ({exc})")
            continue
        argv = " ".join(info.get("argv", []))
        print(f"{pid:>8}  {info.get('backend')}  python {info.get('python')}  {argv}")
    return 0
