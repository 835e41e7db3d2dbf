"""Study: spawning on asyncio without anyio's per-task TaskHandle.

**Private items relied on** (anyio 4.16, ``anyio._backends._asyncio``):
``TaskState``, ``_task_states``, ``CancelScope._tasks``, and the asyncio
``TaskGroup``'s ``_tasks``, ``_exceptions``, ``_on_completed_fut`` and
``cancel_scope._effectively_cancelled``. Why: since 4.16 every spawned task
gets a ``TaskHandle`` (its own CancelScope, an Event, a wrapper coroutine and
a computed name); ``fast_gather`` below registers plain asyncio tasks with the
group's scope exactly as anyio's ``TaskGroup._spawn`` does, minus the handle,
and lets anyio's own ``TaskGroup.__aexit__`` do the waiting, the cancelling
and the exception grouping, so that outer cancellation, deadlines and
shielding go through anyio's machinery unchanged.

Run: ``python -m benchmarks.studies.asyncio_fastpath [--write docs/performance.md]``
(semantic checks and timings on asyncio and uvloop; ``--write`` puts the
tables into the page between the study's markers). Nothing here is imported
by plait.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
from anyio._backends import _asyncio as _backend

import plait

from ._timing import interleave, summary


async def fast_gather(*coros: Coroutine[Any, Any, Any]) -> tuple[Any, ...]:
    """gather on asyncio with tasks registered in anyio's scope, no TaskHandles."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[Any]] = []
    async with anyio.create_task_group() as tg:
        group: Any = tg
        scope = group.cancel_scope
        parent_id = id(scope._host_task)
        group_tasks = group._tasks

        def task_done(task: asyncio.Task[Any]) -> None:
            scope._tasks.discard(task)
            group_tasks.discard(task)
            del _backend._task_states[task]
            fut = group._on_completed_fut
            if fut is not None and not group_tasks and not fut.done():
                fut.set_result(None)
            if task.cancelled():
                return
            exc = task.exception()
            if exc is not None and not isinstance(exc, asyncio.CancelledError):
                group._exceptions.append(exc)
                if not scope._effectively_cancelled:
                    scope.cancel()

        for coro in coros:
            task = loop.create_task(coro)
            _backend._task_states[task] = _backend.TaskState(parent_id, scope)
            scope._tasks.add(task)
            group_tasks.add(task)
            task.add_done_callback(task_done)
            tasks.append(task)
    return tuple([task.result() for task in tasks])


Gather = Callable[..., Awaitable[tuple[Any, ...]]]


async def anyio_task_group(*coros: Coroutine[Any, Any, Any]) -> tuple[Any, ...]:
    """The reference: anyio's TaskGroup with a TaskHandle per task."""
    async with anyio.create_task_group() as tg:
        handles = [tg.create_task(coro) for coro in coros]
    return tuple([h.return_value for h in handles])


# --- semantic checks: each returns None when the semantics hold ----------


async def outer_cancel_reaches_children(gather: Gather) -> str | None:
    finished: list[str] = []

    async def child() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            finished.append("child")

    async def canceller() -> None:
        await anyio.sleep(0.01)
        scope.cancel()

    with anyio.CancelScope() as scope:
        await gather(child(), child(), canceller())
    if finished != ["child", "child"]:
        return f"children finished: {finished}"
    return None


async def deadline_visible_and_enforced(gather: Gather) -> str | None:
    seen: list[float] = []

    async def child() -> None:
        seen.append(anyio.current_effective_deadline())
        await anyio.sleep_forever()

    with anyio.move_on_after(0.05) as scope:
        deadline = scope.deadline
        await gather(child(), child())
    if not scope.cancelled_caught:
        return "the deadline did not cancel the children"
    if seen != [deadline, deadline]:
        return f"children saw deadlines {seen}, outer is {deadline}"
    return None


async def shield_inside_child(gather: Gather) -> str | None:
    done: list[bool] = []

    async def child() -> None:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.03)
            done.append(True)

    with anyio.move_on_after(0.01):
        await gather(child())
    return None if done == [True] else "the shielded part was interrupted"


async def level_triggered_cancellation(gather: Gather) -> str | None:
    second: list[str] = []

    async def stubborn() -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            pass  # swallow once: anyio must cancel it again at the next await
        try:
            await anyio.sleep(1)
            second.append("not cancelled")
        except anyio.get_cancelled_exc_class():
            second.append("cancelled again")
            raise

    with anyio.move_on_after(0.01):
        await gather(stubborn())
    return None if second == ["cancelled again"] else f"second await: {second}"


async def failure_cancels_siblings(gather: Gather) -> str | None:
    cancelled: list[bool] = []

    async def sibling() -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    async def fails() -> None:
        await anyio.sleep(0.01)
        raise ValueError("boom")

    problems = []
    try:
        await gather(sibling(), fails())
    except ExceptionGroup as eg:
        if eg.subgroup(ValueError) is None:
            problems.append(f"wrong group: {eg!r}")
    except ValueError:
        problems.append("raised the bare error, not an ExceptionGroup")
    else:
        problems.append("no error raised")
    if cancelled != [True]:
        problems.append("the sibling was not cancelled")
    return "; ".join(problems) or None


async def parent_id_is_host(gather: Gather) -> str | None:
    host = anyio.get_current_task().id
    parents: list[int | None] = []

    async def child() -> None:
        parents.append(anyio.get_current_task().parent_id)

    await gather(child())
    return None if parents == [host] else f"parent ids {parents}, host {host}"


CHECKS = (
    outer_cancel_reaches_children,
    deadline_visible_and_enforced,
    shield_inside_child,
    level_triggered_cancellation,
    failure_cancels_siblings,
    parent_id_is_host,
)


async def run_checks(gather: Gather) -> dict[str, str | None]:
    out = {}
    for check in CHECKS:
        try:
            with anyio.fail_after(5):
                out[check.__name__] = await check(gather)
        except Exception as exc:
            out[check.__name__] = f"{type(exc).__name__}: {exc}"
    return out


async def work(x: int) -> int:
    await asyncio.sleep(0)
    return x


N = 10_000
IMPLEMENTATIONS: dict[str, Gather] = {
    "anyio task group (create_task)": anyio_task_group,
    "plait.gather": plait.gather,
    "fast_gather (study)": fast_gather,
    "asyncio.gather": asyncio.gather,
}
BEGIN = "<!-- study:fastpath:begin -->"
END = "<!-- study:fastpath:end -->"


async def timings() -> list[str]:
    """Time every implementation on N trivial coroutines, interleaved."""

    def job(fn: Gather) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            out = await fn(*[work(x) for x in range(N)])
            assert list(out) == list(range(N))
            return out

        return run

    jobs = {name: job(fn) for name, fn in IMPLEMENTATIONS.items()}
    samples = await interleave(jobs, rounds=9, min_time=0.5)
    return summary(samples, "anyio task group (create_task)", N)


async def study() -> tuple[dict[str, dict[str, str | None]], list[str]]:
    """Return the semantic checks per implementation and the timing lines."""
    checks = {name: await run_checks(fn) for name, fn in IMPLEMENTATIONS.items()}
    return checks, await timings()


def markdown(
    results: dict[str, tuple[dict[str, dict[str, str | None]], list[str]]],
) -> str:
    """Render the study for the performance page."""
    out = [BEGIN, ""]
    for loop, (checks, lines) in results.items():
        names = list(checks)
        out += [
            f"Semantics on {loop} (from `benchmarks/studies/asyncio_fastpath.py`):",
            "",
            "| check | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for check in CHECKS:
            cells = []
            for name in names:
                problem = checks[name][check.__name__]
                cells.append("ok" if problem is None else f"**broken**: {problem}")
            out.append(f"| {check.__name__} | " + " | ".join(cells) + " |")
        out += [
            "",
            f"gather of N={N:,} on {loop}: µs per item, ratio to anyio's task "
            "group with its 90 % interval:",
            "",
            "```text",
            *lines,
            "```",
            "",
        ]
    out.append(END)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    """Run on asyncio and uvloop; print, and write into a page if asked."""
    results = {}
    for loop in ("asyncio", "uvloop"):
        options = {"use_uvloop": loop == "uvloop"}
        results[loop] = anyio.run(study, backend="asyncio", backend_options=options)
    text = markdown(results)
    print(text)
    if argv[:1] == ["--write"]:
        from .._page import write_page

        write_page(Path(argv[1]), text, BEGIN, END)


if __name__ == "__main__":
    main(sys.argv[1:])
