"""Processing-only throughput and submit-to-start latency: plait beside the
hand-written baseline, on the same engine, in the same run.

Throughput: the queue is filled first (untimed, then settled: see
``_dbs.settle``), fresh worker processes start, and once all are ready they
are released together; the figure is N over the span from their release to
the last acknowledgement (the baseline: the end of the loop, one empty claim
after it; plait: the last job's ``finished_at``, as a ``--drain`` worker can
linger after the queue empties while another still runs jobs). Every job is
checked done exactly once: all N rows done, each claimed once (plait:
``attempts == 1``), and the workers' own counts sum to N.

Latency: worker processes serve while this process submits, in another
process as a web app would. *Idle*: one job at a time, each after the
previous is done and a random pause of up to ``IDLE_GAP`` seconds, so the
workers are idle when it arrives. *Load*: ``LOAD_RATE`` jobs a second, in
batches of ten every 10 ms, for a few seconds. A job carries its submit time
(taken just before the submit call); the handler's start time comes back as
its result (plait) or is taken where the loop calls the job (baseline).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import Any, Literal

import anyio

import plait

from . import _dbs
from ._baseline import Queue
from ._procs import Worker, start_together

Kind = Literal["baseline", "plait"]
FILL_BATCH = 1000
IDLE_GAP = 1.0
LOAD_RATE = 1000
LOAD_BATCH = 10


def throughput(
    kind: Kind,
    engine: str,
    postgres: str | None,
    *,
    n: int,
    workers: int,
    concurrency: int,
) -> dict[str, Any]:
    """Fill *n* no-op jobs, drain them with *workers* fresh processes, check."""
    with _dbs.make(engine, postgres) as dsn:
        if kind == "baseline":
            queue = Queue(dsn)
            queue.fill([json.dumps({"i": i}) for i in range(n)])
            queue.close()
            _dbs.settle(dsn, "baseline_jobs")
            procs = [Worker("baseline-drain", dsn) for _ in range(workers)]
        else:
            anyio.run(_fill_plait, dsn, n)
            _dbs.settle(dsn, "plait_jobs")
            procs = [
                Worker("plait-drain", dsn, str(concurrency)) for _ in range(workers)
            ]
        try:
            start_together(procs)
            results = [p.result() for p in procs]
        finally:
            for p in procs:
                p.kill()
        ended = _check_once(kind, dsn, n, results)
    seconds = ended - min(r["started"] for r in results)
    return {
        "case": "throughput",
        "queue": kind,
        "engine": engine,
        "workers": workers,
        "jobs": n,
        "seconds": seconds,
        "jobs_per_s": n / seconds,
    }


async def _fill_plait(dsn: str, n: int) -> None:
    async with plait.DurableBackend(dsn) as backend:
        for start in range(0, n, FILL_BATCH):
            stop = min(n, start + FILL_BATCH)
            await backend.submit_many(
                [plait.Job("noop", {"i": i}) for i in range(start, stop)]
            )


def _check_once(kind: Kind, dsn: str, n: int, results: list[dict[str, Any]]) -> float:
    """Check every job ran exactly once; return when the last was acknowledged."""
    ran = sum(r["jobs"] for r in results)
    if kind == "baseline":
        ((total, done),) = _dbs.sql(
            dsn,
            "SELECT count(*), count(*) FILTER (WHERE state = 'done') "
            "FROM baseline_jobs",
        )
        once = done
        ended = max(float(r["ended"]) for r in results)
    else:
        ((total, done, once, last),) = _dbs.sql(
            dsn,
            "SELECT count(*), count(*) FILTER (WHERE state = 'done'), "
            "count(*) FILTER (WHERE state = 'done' AND attempts = 1), "
            "max(finished_at) FROM plait_jobs",
        )
        ended = float(str(last))
        claimed = sum(r["claimed"] for r in results)
        if claimed != n:
            raise AssertionError(f"plait workers claimed {claimed} jobs, not {n}")
    if (total, done, once, ran) != (n, n, n, n):
        raise AssertionError(
            f"{kind} on {dsn}: {total} rows, {done} done, {once} done once, "
            f"{ran} run by the workers; expected {n} of each"
        )
    return ended


def latency(
    kind: Kind,
    engine: str,
    postgres: str | None,
    *,
    workers: int,
    concurrency: int,
    load: bool,
    samples: int,
    seconds: float,
    seed: int = 0,
) -> dict[str, Any]:
    """Submit-to-start latencies of *workers* serving processes, idle
    (*samples* jobs) or under load (*seconds* of ``LOAD_RATE`` jobs/s)."""
    rng = random.Random(seed)
    with _dbs.make(engine, postgres) as dsn:
        if kind == "baseline":
            Queue(dsn).close()  # the table, before the workers poll it
            procs = [Worker("baseline-serve", dsn) for _ in range(workers)]
        else:
            anyio.run(_fill_plait, dsn, 0)
            procs = [
                Worker("plait-serve", dsn, str(concurrency)) for _ in range(workers)
            ]
        try:
            start_together(procs)
            if kind == "baseline":
                submitted = _submit_baseline(dsn, rng, load, samples, seconds)
            else:
                submitted = anyio.run(_submit_plait, dsn, rng, load, samples, seconds)
            for p in procs:
                p.go()
            results = [p.result() for p in procs]
        finally:
            for p in procs:
                p.kill()
        if kind == "baseline":
            values = [v for r in results for v in r["latencies"]]
        else:
            rows = _dbs.sql(
                dsn,
                "SELECT payload, result FROM plait_jobs "
                "WHERE type = 'stamp' AND state = 'done'",
            )
            values = [float(str(r)) - json.loads(str(p))["t"] for p, r in rows]
    if len(values) != submitted:
        raise AssertionError(f"{kind}: {len(values)} of {submitted} jobs ran")
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "case": "latency",
        "queue": kind,
        "engine": engine,
        "workers": workers,
        "load": "load" if load else "idle",
        "jobs": len(values),
        "p50": cuts[49],
        "p99": cuts[98],
        "max": max(values),
    }


def _ticks(seconds: float) -> int:
    return max(1, round(seconds * LOAD_RATE / LOAD_BATCH))


def _submit_baseline(
    dsn: str, rng: random.Random, load: bool, samples: int, seconds: float
) -> int:
    queue = Queue(dsn)
    try:
        if load:
            start = time.monotonic()
            for tick in range(_ticks(seconds)):
                _sleep_until(start + tick * LOAD_BATCH / LOAD_RATE)
                payload = json.dumps({"t": time.time()})
                queue.fill([payload] * LOAD_BATCH)
            count = _ticks(seconds) * LOAD_BATCH
        else:
            for sample in range(samples):
                time.sleep(rng.uniform(0, IDLE_GAP))
                queue.fill([json.dumps({"t": time.time()})])
                _poll(lambda s=sample: queue.done() > s)
            count = samples
        _poll(lambda: queue.done() >= count)
        return count
    finally:
        queue.close()


async def _submit_plait(
    dsn: str, rng: random.Random, load: bool, samples: int, seconds: float
) -> int:
    async with plait.DurableBackend(dsn) as backend:
        if load:
            start = anyio.current_time()
            for tick in range(_ticks(seconds)):
                await anyio.sleep_until(start + tick * LOAD_BATCH / LOAD_RATE)
                job = plait.Job("stamp", {"t": time.time()})
                await backend.submit_many([job] * LOAD_BATCH)
            count = _ticks(seconds) * LOAD_BATCH
        else:
            for _ in range(samples):
                await anyio.sleep(rng.uniform(0, IDLE_GAP))
                job_id = await backend.submit(plait.Job("stamp", {"t": time.time()}))
                await backend.wait(job_id, timeout=60, poll=0.002)
            count = samples
        while (await backend.stats()).counts["done"] < count:
            await anyio.sleep(0.01)
        return count


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _poll(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("jobs not done after 60 s")
        time.sleep(0.002)
