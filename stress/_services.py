"""The Supervisor and JobWorker families, driven through their public APIs.

A job is a service (Supervisor) or a queued job's handler (JobWorker); the
``JobSpec`` says how it behaves when asked to stop or when it runs.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import anyio
import anyio.lowlevel

import plait
from plait.testing import JobCleanupError, JobError, JobInterrupt, JobSpec

from ._drive import expect_failures, job_errors
from ._model import Family, JobKinds, Observation, Run

# --- Supervisor ---------------------------------------------------------------


def _service(run: Run, job: JobSpec) -> Any:
    """A service that stops as *job* says: ``delay`` after it is asked to.

    It checkpoints, then waits until asked to stop (a hanging one ignores the
    request) and takes ``delay`` to stop: it returns, or fails (``JobError``)
    when ``fails``. Cancelled (its grace ran out, or the block was), it
    reacts as ``on_cancel`` says; catching the cancellation marks the
    timeline ``caught <index>``.
    """
    label, timeline = str(job.index), run.timeline

    async def service(stopping: anyio.Event) -> None:
        with timeline.track(label):
            try:
                for _ in range(job.checkpoints):
                    await anyio.lowlevel.checkpoint()
                if job.hangs:
                    await anyio.sleep_forever()
                await stopping.wait()
                await anyio.sleep(run.seconds(job.delay))
            except anyio.get_cancelled_exc_class():
                if job.on_cancel == "fail":
                    raise JobCleanupError(job.index) from None
                if job.on_cancel == "return":
                    timeline.mark(f"caught {job.index}")
                    return
                raise
            if job.fails:
                raise JobError(job.index)

    service.__name__ = f"service_{job.index}"
    return service


async def _call_supervisor(run: Run) -> Any:
    scenario = run.scenario
    grace = run.seconds(scenario["grace"])
    supervisor = plait.Supervisor(observers=(), grace=grace)
    run.extra["supervisor"] = supervisor
    async with supervisor as sup:
        for job in scenario.jobs:
            await sup.start(
                _service(run, job), name=str(job.index), restart="temporary"
            )
        await anyio.sleep(run.seconds(scenario["shutdown_at"]))
        return await sup.shutdown()


def _check_supervisor(obs: Observation) -> list[str]:
    """The shutdown report tells what happened to each service, honestly.

    Every service is reported once; one that was cancelled when its grace
    ran out, or caught that cancellation and returned, is not ``stopped``;
    one that raised while stopping is ``failed`` with that very error.
    """
    run = obs.run
    supervisor: plait.Supervisor | None = run.extra.get("supervisor")
    problems = expect_failures(obs, [])
    report = supervisor.report if supervisor is not None else None
    if report is None:
        return [*problems, "no shutdown report after the block"]
    names = [*report.stopped, *report.cancelled, *(name for name, _ in report.failed)]
    started = {e.label for e in run.timeline if e.kind == "start"}
    if sorted(names) != sorted(started):
        problems.append(f"reported {sorted(names)}, running were {sorted(started)}")
    caught = {e.label.split()[1] for e in run.timeline if e.label.startswith("caught")}
    cancelled = {e.label for e in run.timeline if e.kind == "cancel"}
    forced = (caught | cancelled) & set(report.stopped)
    if forced:
        problems.append(f"forced to stop, yet reported stopped: {sorted(forced)}")
    failed = dict(report.failed)
    for event in run.timeline:
        if event.kind == "fail" and failed.get(event.label) is not event.error:
            problems.append(
                f"service {event.label} raised {event.error!r}, reported "
                f"{failed.get(event.label)!r}"
            )
    return problems


SUPERVISOR = Family(
    "supervisor",
    _call_supervisor,
    _check_supervisor,
    modes={"grace": (0.0, 0.25, 0.5, 1.0), "shutdown_at": (0.0, 0.125, 0.5)},
    kinds=JobKinds(interrupts=False),
    jobs=(1, 4),
    weight=2,
)


# --- JobWorker ------------------------------------------------------------------


def _handlers(run: Run) -> plait.JobHandlers:
    """One job type per job, its handler behaving as the JobSpec says."""
    handlers = plait.JobHandlers()
    attempts = run.scenario["attempts"]
    for job in run.scenario.jobs:
        call = run.calls[job.index]
        if job.index == _cancels_itself(run):

            async def handle(_: plait.Job, call: Any = call) -> int:
                # A handler's own CancelledError, not the worker's doing.
                with run.timeline.track(f"self-cancel {_.id}"):
                    raise anyio.get_cancelled_exc_class()()

        else:

            async def handle(_: plait.Job, call: Any = call) -> int:
                result: int = await call()
                return result

        retry = plait.RetryPolicy(attempts=attempts, base_delay=0, jitter=0)
        handlers.add(f"job{job.index}", handle, retry=retry)
    return handlers


async def _call_jobworker(run: Run) -> Any:
    scenario = run.scenario
    with tempfile.TemporaryDirectory() as tmp:
        dsn = os.path.join(tmp, "jobs.db")
        async with plait.DurableBackend(dsn, work=False) as backend:
            ids = await backend.submit_many(
                [plait.Job(f"job{job.index}") for job in scenario.jobs]
            )
        run.extra["ids"] = ids
        worker = plait.JobWorker(
            dsn,
            _handlers(run),
            until_empty=True,
            poll_interval=0.01,
            concurrency=scenario["concurrency"],
            grace=0,
        )
        try:
            await worker.run()
        finally:
            with anyio.CancelScope(shield=True):
                async with plait.DurableBackend(dsn, work=False) as backend:
                    run.extra["records"] = [await backend.get(i) for i in ids]
    return run.extra["records"]


def _cancels_itself(run: Run) -> int | None:
    """The job whose handler raises CancelledError itself (asyncio only)."""
    if run.backend == "trio":  # trio's Cancelled cannot be made by hand
        return None
    index: int | None = run.scenario["cancels_itself"]
    return index if index is not None and index < len(run.scenario.jobs) else None


def _check_jobworker(obs: Observation) -> list[str]:
    """Every job is accounted for: done, or dead with its error, or queued.

    Once ``run(until_empty=True)`` returns, no job is left to run: each is
    done with its result, or dead after the attempts allowed with its error
    recorded, a handler's ``BaseException`` included. A worker cancelled from
    outside leaves the jobs it held queued again, never lost.
    """
    run = obs.run
    problems = []
    if obs.outcome == "raised":
        # What a handler raised reaches the caller only as a BaseException.
        problems += expect_failures(
            obs, [e for e in job_errors(obs) if isinstance(e, JobInterrupt)]
        )
    records = run.extra.get("records") or []
    attempts = run.scenario["attempts"]
    # The runs that raised on their own: a JobInterrupt ("fail"), or the
    # self-cancelling handler's CancelledError (it never awaits, so its
    # "cancel" is always its own). A run the worker's cancellation cut short
    # ends "cancel" under the job's label: it was released, as documented,
    # and spent no attempt, so it does not count.
    raised = [
        e.label
        for e in run.timeline
        if e.kind == "fail" or (e.kind == "cancel" and e.label.startswith("self"))
    ]
    for job, record in zip(run.scenario.jobs, records, strict=False):
        if record is None:
            problems.append(f"job {job.index} vanished")
            continue
        cancels_itself = job.index == _cancels_itself(run)
        ended = job.fails or job.interrupts or cancels_itself
        if job.interrupts or cancels_itself:
            # Every run that raised counts as an attempt, its error recorded.
            made = raised.count(str(job.index)) + raised.count(
                f"self-cancel {record.id}"
            )
            if made and (record.attempts < min(made, attempts) or not record.error):
                problems.append(
                    f"job {job.index} ({_kind(job, cancels_itself)}) raised {made} "
                    f"time(s), recorded {record.attempts} attempt(s), error "
                    f"{record.error!r}"
                )
        if obs.outcome == "value":
            wanted = "dead" if ended else "done"
            if record.state != wanted:
                problems.append(
                    f"job {job.index} ({_kind(job, cancels_itself)}) is "
                    f"{record.state} after "
                    f"{record.attempts} attempt(s), wanted {wanted}"
                )
            elif wanted == "dead" and (record.attempts != attempts or not record.error):
                problems.append(
                    f"job {job.index} dead after {record.attempts} attempt(s) "
                    f"of {attempts}, error {record.error!r}"
                )
        elif record.state == "running":
            problems.append(f"job {job.index} left running by a stopped worker")
    return problems


def _kind(job: JobSpec, cancels_itself: bool = False) -> str:
    if cancels_itself:
        return "raises CancelledError itself"
    if job.fails:
        return "fails"
    if job.interrupts:
        return "raises a BaseException"
    return "hangs" if job.hangs else "returns"


JOBWORKER = Family(
    "jobworker",
    _call_jobworker,
    _check_jobworker,
    modes={
        "attempts": (1, 2, 3),
        "concurrency": (1, 2, 4),
        "cancels_itself": (None, None, 0),
    },
    kinds=JobKinds(cleanup_failures=False, catches_cancellation=False),
    jobs=(1, 4),
    real_time=True,
    weight=1,
)


SERVICE_FAMILIES = (SUPERVISOR, JOBWORKER)
