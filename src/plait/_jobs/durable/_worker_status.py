"""``plait worker --status``: the queue's counts and its live workers, read
without creating a database, printed as a table or JSON."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import TextIO

from ._calls import close_in_thread, connect, in_thread
from ._rows import QueueStats, WorkerRecord


async def read_status(dsn: str) -> tuple[QueueStats, list[WorkerRecord]]:
    engine = await connect(dsn, create=False)
    try:
        stats = await in_thread(engine.stats, now=time.time())
        workers = await in_thread(engine.workers)
    finally:
        await close_in_thread(engine)
    now = time.time()
    return stats, [w for w in workers if w.alive(now)]


def print_status(
    stats: QueueStats, workers: list[WorkerRecord], *, json_out: bool, out: TextIO
) -> None:
    if json_out:
        data = {
            "counts": stats.counts,
            "by_type": stats.by_type,
            "by_queue": stats.by_queue,
            "oldest_queued_age": stats.oldest_queued_age,
            "workers": [dataclasses.asdict(w) for w in workers],
        }
        print(json.dumps(data, sort_keys=True), file=out)
        return
    states = list(stats.counts)
    width = max([len("type"), *(len(t) for t in stats.by_type)])
    print(f"{'type':<{width}}  " + "  ".join(f"{s:>8}" for s in states), file=out)
    for type_, counts in stats.by_type.items():
        cells = "  ".join(f"{counts.get(s, 0):>8}" for s in states)
        print(f"{type_:<{width}}  {cells}", file=out)
    cells = "  ".join(f"{stats.counts[s]:>8}" for s in states)
    print(f"{'total':<{width}}  {cells}", file=out)
    age = stats.oldest_queued_age
    print(
        "oldest queued: " + ("none" if age is None else f"{age:.1f} s"),
        file=out,
    )
    _print_workers(workers, out)


def _print_workers(workers: list[WorkerRecord], out: TextIO) -> None:
    """The live workers: name, host, pid, queues, jobs running, last seen."""
    print(f"workers alive: {len(workers)}", file=out)
    if not workers:
        return
    now = time.time()
    rows = [("NAME", "HOST", "PID", "QUEUES", "RUNNING", "STATE", "LAST SEEN")]
    rows += [
        (
            w.name,
            w.host,
            str(w.pid),
            ",".join(f"{q}={n}" for q, n in sorted(w.queues.items())),
            str(w.running),
            w.state,
            f"{max(0.0, now - w.last_seen):.1f} s ago",
        )
        for w in workers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)
