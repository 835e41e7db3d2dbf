"""Worker processes the harness starts, and the ready/go hand-shake with them.

``python -m benchmarks.jobs._procs KIND DSN [CONCURRENCY]``: the process
imports and connects what it needs, prints ``ready``, waits for a line on
stdin, then works and prints one JSON line: its start and end (UNIX time),
and how many jobs it ran (and, serving, their latencies). So the timed
span excludes the interpreter's start-up but includes everything a worker
does once it is told to go.

Kinds: ``baseline-drain`` (the hand-written queue until a claim finds none),
``baseline-serve`` (until a second line on stdin; payloads carry their submit
time), ``plait-drain`` (a ``plait.JobWorker`` with ``until_empty``),
``plait-serve`` (a ``plait.JobWorker`` with its default settings but the
concurrency, stopped by a second line on stdin as SIGTERM stops ``plait
worker``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    kind, dsn, *rest = argv
    if kind.startswith("plait-"):
        result = _plait(dsn, int(rest[0]), serve=kind == "plait-serve")
    else:
        from ._baseline import Queue, drain, serve

        queue = Queue(dsn)
        _ready()
        started = time.time()
        if kind == "baseline-drain":
            result = {"jobs": drain(queue)}
        else:
            stop = threading.Event()

            def stop_on_line() -> None:
                sys.stdin.readline()
                stop.set()

            threading.Thread(target=stop_on_line, daemon=True).start()
            latencies = serve(queue, stop.is_set)
            result = {"jobs": len(latencies), "latencies": latencies}
        result.update(started=started, ended=time.time())
        queue.close()
    print(json.dumps(result), flush=True)
    return 0


def _ready() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def _plait(dsn: str, concurrency: int, *, serve: bool) -> dict[str, Any]:
    import anyio
    import anyio.to_thread

    import plait

    from ._apps import handlers

    worker = plait.JobWorker(
        dsn, handlers, concurrency=concurrency, until_empty=not serve
    )

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            if serve:
                tg.start_soon(stop_on_line)
            await worker.run()
            tg.cancel_scope.cancel()

    async def stop_on_line() -> None:
        await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        worker.stop()

    _ready()
    started = time.time()
    anyio.run(run)
    ended = time.time()
    return {
        "jobs": worker.stats.done,
        "claimed": worker.stats.claimed,
        "started": started,
        "ended": ended,
    }


class Worker:
    """A started worker process; ``go()`` releases it, ``result()`` reads its
    JSON line."""

    def __init__(self, kind: str, dsn: str, *extra: str) -> None:
        env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'src'}")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.jobs._procs", kind, dsn, *extra],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self._stdin = self.proc.stdin
        self._stdout = self.proc.stdout

    def wait_ready(self) -> None:
        line = self._stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"worker {self.proc.args!r} did not start: {line!r}")

    def go(self) -> None:
        self._stdin.write("go\n")
        self._stdin.flush()

    def result(self, timeout: float = 900) -> dict[str, Any]:
        out, _ = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"worker {self.proc.args!r} failed")
        data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return data

    def kill(self) -> None:
        """End the process if it still runs (after a failure elsewhere)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def start_together(workers: list[Worker]) -> None:
    """Wait until every one of *workers* is ready, then release them at once."""
    for worker in workers:
        worker.wait_ready()
    for worker in workers:
        worker.go()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
