"""A reviewer's seeded stress run over plait's core patterns (independent of stress/).

Each case draws, from its seed, a pattern and mode, jobs (succeed, fail, hang,
fail in cleanup, catch the cancellation and return, raise a BaseException,
fail synchronously) and an outer cancellation (deadline, sibling cancelling
the scope, asyncio Task.cancel()), then checks:

- every exception a job raised that the contract says must surface does, once;
- nothing surfaces that no job raised (no invented error);
- the call ends as a cancellation only if one was requested, and a requested
  cancellation is never swallowed (the scope catches it, or CancelledError
  reaches the caller for Task.cancel());
- nothing a job started is still running when the call is over;
- values are right and complete.

Usage: python review/rstress.py --backend asyncio --cases 2000 [--seed S]
       [--real] [--only PATTERN]; a failing case prints its replay command.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import threading
import time
import traceback
from typing import Any

import anyio
from anyio.lowlevel import checkpoint

import plait
import plait.testing


class Boom(Exception):
    def __init__(self, i: int, kind: str = "fail") -> None:
        super().__init__(f"{kind} {i}")
        self.i = i


class CleanupBoom(Exception):
    def __init__(self, i: int) -> None:
        super().__init__(f"cleanup {i}")
        self.i = i


class Interrupt(BaseException):
    def __init__(self, i: int) -> None:
        super().__init__(f"interrupt {i}")
        self.i = i


KINDS = ["ok", "ok", "ok", "fail", "fail", "hang", "cleanup", "catch", "base",
         "okfast", "failnow", "slowclean", "slowfail"]


class Ledger:
    def __init__(self) -> None:
        self.started: list[int] = []
        self.ended: dict[int, str] = {}
        self.raised: list[tuple[int, BaseException, bool]] = []  # (i, exc, cancel_pending)
        self.done_order: list[int] = []
        self.running = 0
        self.peak = 0


class Watch(plait.Observer):
    """Records the item events of one stream, to check their protocol."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, Any]] = []

    def on_open(self, event: Any) -> None:
        self.events.append(("open", None, None))

    def on_pull(self, event: Any) -> None:
        self.events.append(("pull", event.index, None))

    def on_exit(self, event: Any) -> None:
        self.events.append(("exit", event.index, event.outcome))

    def on_close(self, event: Any) -> None:
        self.events.append(("close", None, event.outcome))


def watch_problems(case: "Case", outcome: str) -> list[str]:
    w = case.watch
    if w is None:
        return []
    ev = w.events
    problems = []
    opens = [e for e in ev if e[0] == "open"]
    closes = [e for e in ev if e[0] == "close"]
    if len(opens) != 1 or len(closes) != 1:
        problems.append(f"observer: {len(opens)} on_open, {len(closes)} on_close")
    if ev and ev[-1][0] != "close":
        problems.append(f"observer: events after on_close: {ev[-3:]}")
    pulled = [e[1] for e in ev if e[0] == "pull"]
    exits = [e[1] for e in ev if e[0] == "exit"]
    if sorted(pulled) != sorted(exits) or len(set(pulled)) != len(pulled):
        problems.append(f"observer: pulled {sorted(pulled)}, exited {sorted(exits)}")
    if closes and outcome == "value" and closes[0][2] != "succeeded":
        problems.append(f"observer: on_close {closes[0][2]} for a value")
    led = case.ledger
    if case.opts.get("timeout") is None and not case.opts.get("retry"):
        for kind, i, out in ev:
            if kind != "exit":
                continue
            end = led.ended.get(i)
            want = {"ok": "succeeded", "caught": "succeeded", "cancelled": "cancelled"}
            if end == "raised":
                exc = next((e for j, e, _ in led.raised if j == i), None)
                wanted = "failed" if isinstance(exc, Exception) else None
            else:
                wanted = want.get(end)
            if wanted is not None and out != wanted:
                problems.append(f"observer: item {i} exit {out}, it ended {end}")
    return problems


class Case:
    def __init__(self, seed: int, backend: str, real: bool, only: str | None) -> None:
        self.seed = seed
        self.backend = backend
        real = real or backend == "uvloop"
        self.real = real
        rng = random.Random(seed)
        self.rng = rng
        patterns = ["gather", "race", "bounded_map", "imap", "as_completed", "retry",
                    "ratelimit"]
        self.pattern = only or rng.choice(patterns)
        n = rng.randint(1, 6)
        kinds = list(KINDS)
        if self.pattern == "retry":
            kinds = ["ok", "fail", "fail", "fail", "cleanup", "catch", "base", "hang",
                     "failnow"]
        self.jobs = [(rng.choice(kinds), rng.randint(0, 4)) for _ in range(n)]
        if self.pattern == "nested":  # one more job: the race's only contestant
            self.jobs.append((rng.choice(kinds), rng.randint(0, 4)))
        cancels = ["none", "none", "deadline", "sibling"]
        if backend != "trio":
            cancels.append("native")
        self.cancel = rng.choice(cancels)
        self.cancel_at = rng.randint(0, 5)
        self.tick = 0.002 if real else 1.0
        self.opts: dict[str, Any] = {}
        o = self.opts
        if self.pattern == "gather":
            o["rex"] = rng.random() < 0.4
            o["callable"] = rng.random() < 0.3
        elif self.pattern == "race":
            o["stagger"] = rng.choice([None, None, 0, 1, 2])
            o["callable"] = rng.random() < 0.5
            if o["callable"]:
                self.jobs = [("callfail", d) if rng.random() < 0.15 else (k, d)
                             for k, d in self.jobs]
        elif self.pattern == "bounded_map":
            o["rex"] = rng.random() < 0.4
            o["limit"] = rng.randint(1, 4)
            o["async_items"] = rng.random() < 0.5
            o["timeout"] = rng.choice([None, None, None, 3])
            o["retry"] = o["timeout"] is None and rng.random() < 0.3
            o["rate"] = rng.random() < 0.25
            o["items_mode"] = rng.choice([None, None, "raise", "interrupt", "aclose"])
            o["items_at"] = rng.randint(0, 3)
        elif self.pattern == "imap":
            o["rex"] = rng.random() < 0.3
            o["limit"] = rng.randint(1, 4)
            o["buffer"] = rng.choice([None, 0, 1])
            o["ordered"] = rng.random() < 0.5
            o["readers"] = rng.choice([1, 1, 2, 3])
            o["stop_after"] = rng.choice([None, None, 0, 1, 2])
            o["async_items"] = rng.random() < 0.5
            o["read_delay"] = rng.choice([0, 0, 1])
            o["retry"] = rng.random() < 0.3
            o["rate"] = rng.random() < 0.25
            o["items_mode"] = rng.choice([None, None, "raise", "interrupt", "aclose"])
            o["items_at"] = rng.randint(0, 3)
            o["block_raise"] = rng.choice([None, None, None, 0, 1, 2])
            o["read_timeout"] = rng.choice([None, None, 1])
        elif self.pattern == "as_completed":
            o["limit"] = rng.choice([None, 1, 2, 3])
            o["stop_after"] = rng.choice([None, None, 1, 2])
        elif self.pattern == "retry":
            o["base_delay"] = rng.choice([0, 1, 2])
        elif self.pattern == "ratelimit":
            o["burst"] = rng.choice([1, 1, 2])
            o["waiters"] = rng.randint(1, 6)
            o["cancel_some"] = [rng.random() < 0.3 for _ in range(o["waiters"])]
            o["cancel_after"] = [rng.randint(0, 4) for _ in range(o["waiters"])]
        # Hang only ends by a cancellation: keep it where one must come.
        if self.cancel == "none":
            self.jobs = [("ok", 6) if k == "hang" else (k, d) for k, d in self.jobs]
        if self.pattern == "race" and self.cancel == "none":
            if all(k == "hang" for k, _ in self.jobs):
                self.jobs[0] = ("ok", 3)
        self.ledger = Ledger()
        self.cancel_requested = False
        self.watch: Watch | None = None
        if self.pattern in ("bounded_map", "imap", "as_completed") and rng.random() < 0.5:
            self.watch = Watch()

    def describe(self) -> str:
        return (f"seed={self.seed} {self.pattern} {self.opts} jobs={self.jobs} "
                f"cancel={self.cancel}@{self.cancel_at}")

    async def sleep(self, ticks: float) -> None:
        await anyio.sleep(ticks * self.tick)

    def cancel_pending(self) -> bool:
        return anyio.current_effective_deadline() == -math.inf

    async def job(self, i: int) -> int:
        kind, d = self.jobs[i]
        led = self.ledger
        led.started.append(i)
        led.running += 1
        led.peak = max(led.peak, led.running)
        cancelled = anyio.get_cancelled_exc_class()
        try:
            if kind == "okfast":
                result = i
            elif kind == "failnow":
                raise Boom(i, "failnow")
            elif kind == "hang":
                await self.sleep(10_000)
                result = i
            else:
                try:
                    await self.sleep(d)
                except cancelled:
                    if kind == "cleanup":
                        raise CleanupBoom(i)
                    if kind in ("slowclean", "slowfail"):
                        with anyio.CancelScope(shield=True):
                            await self.sleep(1 + (d % 2))
                        if kind == "slowfail":
                            raise CleanupBoom(i)
                    if kind == "catch":
                        led.ended[i] = "caught"
                        led.done_order.append(i)
                        return -1000 - i
                    raise
                if kind in ("ok", "cleanup", "catch", "slowclean", "slowfail"):
                    result = i
                elif kind == "fail":
                    raise Boom(i)
                elif kind == "base":
                    raise Interrupt(i)
                else:
                    raise AssertionError(kind)
        except cancelled:
            led.ended[i] = "cancelled"
            raise
        except BaseException as exc:
            led.ended[i] = "raised"
            led.raised.append((i, exc, self.cancel_pending()))
            raise
        finally:
            led.running -= 1
        led.ended[i] = "ok"
        led.done_order.append(i)
        return result

    def job_callable(self, i: int) -> Any:
        kind, _ = self.jobs[i]
        if kind == "callfail":
            def call() -> Any:
                exc = Boom(i, "callfail")
                self.ledger.raised.append((i, exc, False))
                self.ledger.started.append(i)
                self.ledger.ended[i] = "raised"
                raise exc
            return call
        return lambda: self.job(i)


# ---------------------------------------------------------------- calling --


async def call_pattern(case: Case) -> Any:
    p, o, n = case.pattern, case.opts, len(case.jobs)
    if p == "gather":
        args = [case.job_callable(i) if o["callable"] else case.job(i) for i in range(n)]
        return await plait.gather(*args, return_exceptions=o["rex"])
    if p == "race":
        args = [case.job_callable(i) if o["callable"] else case.job(i) for i in range(n)]
        stagger = None if o["stagger"] is None else o["stagger"] * case.tick
        return await plait.race(*args, stagger=stagger)
    if p == "bounded_map":
        items: Any = range(n)
        if o["async_items"]:
            items = agen(n, case)
        timeout = None if o["timeout"] is None else o["timeout"] * case.tick
        return await plait.bounded_map(case.job, items, limit=o["limit"],
                                       return_exceptions=o["rex"], timeout=timeout,
                                       **options(case))
    if p == "imap":
        return await call_imap(case)
    if p == "as_completed":
        got = []
        extra = {} if case.watch is None else {"observer": case.watch}
        async with plait.as_completed(*[case.job(i) for i in range(n)],
                                      limit=o["limit"], **extra) as done:
            async for handle in done:
                got.append(handle)
                if o["stop_after"] is not None and len(got) >= o["stop_after"]:
                    break
        return got
    if p == "retry":
        attempt = iter(range(n))
        return await plait.retry(lambda: case.job(next(attempt)), attempts=n,
                                 base_delay=o["base_delay"] * case.tick,
                                 max_delay=10 * case.tick, jitter=0)
    if p == "ratelimit":
        return await call_ratelimit(case)
    if p == "nested":
        n -= 1  # the last job is the race's
        m = max(1, n // 2)

        async def streamed() -> list[int]:
            async with plait.imap(case.job, range(m, n), limit=2) as results:
                return [r async for r in results]

        async def raced() -> int:
            return await plait.race(case.job(n), stagger=None)

        return await plait.gather(
            lambda: plait.bounded_map(case.job, range(m), limit=2), streamed, raced
        )
    raise AssertionError(p)


class ItemsBoom(Exception):
    pass


class AcloseBoom(Exception):
    pass


class BlockBoom(Exception):
    pass


async def agen(n: int, case: Case | None = None) -> Any:
    mode = case.opts.get("items_mode") if case is not None else None
    at = case.opts.get("items_at", 0) if case is not None else 0
    led = case.ledger if case is not None else None
    exhausted = False
    try:
        for i in range(n):
            await checkpoint()
            if mode == "raise" and i == at:
                exc: BaseException = ItemsBoom(f"items {i}")
                led.raised.append((-1, exc, False))
                raise exc
            if mode == "interrupt" and i == at:
                exc = Interrupt(-1)
                led.raised.append((-1, exc, False))
                raise exc
            yield i
        exhausted = True
    finally:
        if mode == "aclose" and not exhausted:
            exc = AcloseBoom("aclose")
            led.raised.append((-1, exc, False))
            raise exc


def options(case: Case) -> dict[str, Any]:
    o = case.opts
    out: dict[str, Any] = {}
    if case.watch is not None:
        out["observer"] = case.watch
    if o.get("retry"):
        out["retry"] = plait.RetryPolicy(attempts=2, base_delay=case.tick, jitter=0)
    if o.get("rate"):
        out["rate"] = plait.RateLimiter(2 / case.tick, burst=2)
    return out


async def call_imap(case: Case) -> Any:
    o, n = case.opts, len(case.jobs)
    items: Any = agen(n, case) if o["async_items"] else range(n)
    per_reader: list[list[Any]] = [[] for _ in range(o["readers"])]
    finished = [False] * o["readers"]
    async with plait.imap(case.job, items, limit=o["limit"], buffer=o["buffer"],
                          ordered=o["ordered"], return_exceptions=o["rex"],
                          with_index=True, **options(case)) as results:

        async def read(r: int) -> None:
            got = per_reader[r]
            if o["stop_after"] == 0:
                finished[r] = True
                return
            if o["block_raise"] == 0 and r == 0:
                exc = BlockBoom("block")
                case.ledger.raised.append((-2, exc, False))
                raise exc
            while True:
                if o["read_timeout"] is not None:
                    pair = None
                    with anyio.move_on_after(o["read_timeout"] * case.tick):
                        try:
                            pair = await results.__anext__()
                        except StopAsyncIteration:
                            break
                    if pair is None:
                        continue
                else:
                    try:
                        pair = await results.__anext__()
                    except StopAsyncIteration:
                        break
                got.append(pair)
                if o["block_raise"] is not None and len(got) >= o["block_raise"] and r == 0:
                    exc = BlockBoom("block")
                    case.ledger.raised.append((-2, exc, False))
                    raise exc
                if o["read_delay"]:
                    await case.sleep(o["read_delay"])
                if o["stop_after"] is not None and len(got) >= o["stop_after"]:
                    break
            finished[r] = True

        if o["readers"] == 1:
            await read(0)
        else:
            async with anyio.create_task_group() as tg:
                for r in range(o["readers"]):
                    tg.start_soon(read, r)
    return per_reader, finished


async def call_ratelimit(case: Case) -> Any:
    o = case.opts
    limiter = plait.RateLimiter(1 / case.tick, burst=o["burst"])
    stamps: list[tuple[int, float]] = []

    arrivals: list[int] = []

    async def waiter(w: int) -> None:
        case.ledger.started.append(w)
        arrivals.append(w)
        try:
            if o["cancel_some"][w]:
                with anyio.move_on_after(o["cancel_after"][w] * case.tick):
                    await limiter.acquire()
                    stamps.append((w, anyio.current_time()))
            else:
                await limiter.acquire()
                stamps.append((w, anyio.current_time()))
        finally:
            case.ledger.ended[w] = "ok"

    async with anyio.create_task_group() as tg:
        for w in range(o["waiters"]):
            tg.start_soon(waiter, w)
            await checkpoint()
    case.opts["arrivals"] = arrivals
    return stamps


# ---------------------------------------------------------------- running --


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for e in exc.exceptions:
            out += leaves(e)
        return out
    return [exc]


EAGER = False


async def run_case(case: Case) -> list[str]:
    if EAGER and case.backend != "trio":
        import asyncio

        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
    problems: list[str] = []
    cancelled_cls = anyio.get_cancelled_exc_class()
    outcome: str
    value: Any = None
    error: BaseException | None = None
    seen_native_cancel = False
    scope_caught = False
    region_done = False
    leak: list[int] = []

    async def body(scope: anyio.CancelScope | None) -> None:
        nonlocal value, outcome, error, region_done, leak
        try:
            value = await call_pattern(case)
            outcome = "value"
        except BaseException as exc:
            outcome = "raised"
            error = exc
            leak = [i for i in set(case.ledger.started) if i not in case.ledger.ended]
            raise
        leak = [i for i in set(case.ledger.started) if i not in case.ledger.ended]
        await checkpoint()  # a level-triggered cancellation still pending shows here

    main_task: Any = None
    if case.cancel == "native":
        import asyncio
        main_task = asyncio.current_task()

    outcome = "none"
    try:
        async with anyio.create_task_group() as tg:
            async def canceller(scope: anyio.CancelScope) -> None:
                await case.sleep(case.cancel_at)
                if region_done:
                    return
                case.cancel_requested = True
                if case.cancel == "native":
                    main_task.cancel()
                else:
                    scope.cancel()

            if case.cancel == "deadline":
                with anyio.move_on_after(case.cancel_at * case.tick) as scope:
                    try:
                        await body(scope)
                    finally:
                        region_done = True
                        # A deadline fires at the checkpoint: was it due before the end?
                        if scope.cancel_called:
                            case.cancel_requested = True
                scope_caught = scope.cancelled_caught
            elif case.cancel == "sibling":
                with anyio.CancelScope() as scope:
                    tg.start_soon(canceller, scope)
                    try:
                        await body(scope)
                    finally:
                        region_done = True
                scope_caught = scope.cancelled_caught
            elif case.cancel == "native":
                with anyio.CancelScope() as scope:
                    tg.start_soon(canceller, scope)
                    try:
                        await body(scope)
                    except cancelled_cls:
                        seen_native_cancel = True
                        main_task.uncancel()
                    finally:
                        region_done = True
            else:
                await body(None)
            tg.cancel_scope.cancel()
    except BaseException as exc:
        if error is None:
            problems.append(f"harness error {exc!r}")
            problems.append("".join(traceback.format_exception(exc)))
            return problems
        if not any(e is error for e in [exc] + leaves(exc)) and not _contains(exc, error):
            # The harness's task group wrapped it: unwrap one level.
            pass
    problems += check(case, outcome, value, error, scope_caught, seen_native_cancel, leak)
    problems += watch_problems(case, outcome)
    return problems


def _contains(group: BaseException, exc: BaseException) -> bool:
    if group is exc:
        return True
    if isinstance(group, BaseExceptionGroup):
        return any(_contains(e, exc) for e in group.exceptions)
    return False


def check(case: Case, outcome: str, value: Any, error: BaseException | None,
          scope_caught: bool, native_seen: bool, leak: list[int]) -> list[str]:
    problems: list[str] = []
    led = case.ledger
    p, o = case.pattern, case.opts
    cancelled_cls = anyio.get_cancelled_exc_class()
    if leak:
        problems.append(f"still running after the call: jobs {sorted(leak)}")
    got_leaves = leaves(error) if error is not None else []
    real = [e for e in got_leaves if not isinstance(e, cancelled_cls)]
    cancels = [e for e in got_leaves if isinstance(e, cancelled_cls)]
    raised = led.raised
    raised_ids = {id(e) for _, e, _ in raised}

    # which raised exceptions must surface, which may
    must: list[BaseException] = []
    may: list[BaseException] = []
    all_failed = len(raised) == len(case.jobs) and all(
        isinstance(e, Boom) for _, e, _ in raised)
    attempt_of: dict[int, int] = {}
    seen_count: dict[int, int] = {}
    for i, e, pending in raised:
        seen_count[i] = seen_count.get(i, 0) + 1
        attempt_of[id(e)] = seen_count[i]
    for i, e, pending in raised:
        if o.get("retry") and isinstance(e, Boom) and attempt_of[id(e)] < 2:
            may.append(e)  # retried away
        elif isinstance(e, CleanupBoom) and (
                (o.get("rex") and o.get("timeout") is not None)
                or (p == "retry" and case.cancel == "native")):
            may.append(e)  # the item's own timeout, or a documented retry limit
        elif isinstance(e, (CleanupBoom, Interrupt, ItemsBoom, AcloseBoom, BlockBoom)):
            must.append(e)
        elif p == "race":
            if all_failed:
                must.append(e)
        elif p in ("gather", "bounded_map", "imap") and o.get("rex"):
            may.append(e)  # a result, or a failure when raised while cancelled
        elif p == "retry":
            may.append(e)
        else:
            must.append(e)
    for e in must:
        n = sum(1 for x in real if x is e)
        if n != 1 and not (p == "imap" and n == 0 and _delivered_to_reader(value, e)):
            problems.append(f"{e!r} (must surface) seen {n} times; outcome {outcome} "
                            f"{error!r}")
    for e in real:
        if isinstance(e, TimeoutError) and o.get("timeout") is not None:
            continue
        if id(e) not in raised_ids:
            problems.append(f"invented error: {e!r}")
        elif sum(1 for x in real if x is e) > 1:
            problems.append(f"{e!r} surfaced more than once")
        elif not any(e is m for m in must) and not any(e is m for m in may):
            problems.append(f"{e!r} surfaced but should not (a race loser?)")
    blocks = [e for _, e, _ in raised if isinstance(e, BlockBoom)]
    if blocks and o.get("readers") == 1 and error is not None:
        first = error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if first is not blocks[0]:
            problems.append(f"block error not first: {error!r}")
    if p == "race" and error is not None and not real and all_failed and raised:
        problems.append("race: all failed but no group")

    # cancellation
    if outcome == "raised" and not real:
        if not case.cancel_requested:
            problems.append(f"ended as a cancellation nobody requested: {error!r}")
        elif case.cancel in ("deadline", "sibling") and not scope_caught:
            problems.append("cancellation not caught by its scope")
    if case.cancel_requested and not real:
        job_swallowed = p == "retry" and any(
            led.ended.get(i) == "caught" or (isinstance(e, CleanupBoom))
            for i, e, _ in led.raised + [(i, None, 0) for i in led.ended])
        if case.cancel == "native" and not native_seen and not job_swallowed:
            problems.append(f"native Task.cancel() swallowed (outcome {outcome})")
        if case.cancel in ("deadline", "sibling") and not scope_caught:
            problems.append(f"scope cancellation swallowed (outcome {outcome})")
    if outcome == "value" and real:
        problems.append("value but failures")
    # results
    if outcome == "value":
        problems += check_value(case, value)
    elif p == "imap" and outcome == "raised" and value is None:
        pass
    return problems


def _delivered_to_reader(value: Any, e: BaseException) -> bool:
    return False


def check_value(case: Case, value: Any) -> list[str]:
    p, o, led = case.pattern, case.opts, case.ledger
    n = len(case.jobs)
    problems: list[str] = []
    raised_by_i = {i: e for i, e, _ in led.raised}

    def expected(i: int) -> Any:
        timeout = o.get("timeout")
        if (timeout is not None and case.jobs[i][0] not in ("okfast", "failnow")
                and (case.jobs[i][1] >= timeout or case.jobs[i][0] == "hang")
                and isinstance(value, list)
                and i < len(value) and isinstance(value[i], TimeoutError)):
            return value[i]
        if led.ended.get(i) == "caught":
            return -1000 - i
        if i in raised_by_i:
            return raised_by_i[i]
        return i

    if p == "gather":
        want = tuple(expected(i) for i in range(n))
        if tuple(value) != want:
            problems.append(f"gather returned {value!r}, want {want!r}")
    elif p == "bounded_map":
        want = [expected(i) for i in range(n)]
        if list(value) != want:
            problems.append(f"bounded_map returned {value!r}, want {want!r}")
    elif p == "race":
        winners = [i for i in led.done_order]
        if not winners:
            problems.append(f"race returned {value!r} but no contestant finished")
        else:
            w = winners[0]
            want = expected(w)
            if value != want:
                problems.append(f"race returned {value!r}, first finished {want!r}")
    elif p == "imap":
        per_reader, finished = value
        if not all(finished):
            problems.append(f"imap reader not finished: {finished}")
        got = [pair for r in per_reader for pair in r]
        idx = [i for i, _ in got]
        if len(set(idx)) != len(idx):
            problems.append(f"imap delivered an index twice: {per_reader}")
        for i, v in got:
            if v != expected(i) and v is not expected(i):
                problems.append(f"imap item {i} delivered {v!r}, want {expected(i)!r}")
        if o["stop_after"] is None and sorted(idx) != list(range(n)):
            problems.append(f"imap delivered {sorted(idx)}, want all {n}")
        if o["ordered"] and o["readers"] == 1 and idx != sorted(idx):
            problems.append(f"imap ordered delivered out of order {idx}")
        if led.peak > o["limit"]:
            problems.append(f"imap ran {led.peak} > limit {o['limit']}")
    elif p == "nested":
        n = len(case.jobs) - 1
        m = max(1, n // 2)
        want = ([expected(i) for i in range(m)], [expected(i) for i in range(m, n)],
                expected(n))
        if tuple(value) != want:
            problems.append(f"nested returned {value!r}, want {want!r}")
    elif p == "as_completed":
        handles = value
        if o["stop_after"] is None and len(handles) != n:
            problems.append(f"as_completed gave {len(handles)} handles of {n}")
        if o["limit"] is not None and led.peak > o["limit"]:
            problems.append(f"as_completed ran {led.peak} > limit {o['limit']}")
    elif p == "retry":
        last = led.started[-1] if led.started else None
        if last is None or value != expected(last):
            problems.append(f"retry returned {value!r}, last attempt {last}")
    elif p == "ratelimit":
        stamps = value
        order = [w for w, _ in stamps]
        interval = case.tick
        burst = o["burst"]
        if not case.real:
            times = [t for _, t in stamps]
            for k in range(len(times)):
                for j in range(k):
                    if times[k] - times[j] < (k - j - (burst - 1)) * interval - 1e-9:
                        problems.append(f"rate exceeded: {stamps}")
                        break
        uncancelled = [w for w in o["arrivals"] if not o["cancel_some"][w]]
        got_unc = [w for w in order if w in uncancelled]
        if got_unc != uncancelled:
            problems.append(f"rate limiter order {order}, uncancelled {uncancelled}")
    if p in ("bounded_map",) and led.peak > o["limit"]:
        problems.append(f"ran {led.peak} > limit {o['limit']}")
    return problems


# -------------------------------------------------------------------- main --

_current = ["starting"]


def watchdog(limit: float) -> None:
    last = [None, time.monotonic()]
    while True:
        time.sleep(1)
        cur = _current[0]
        if cur != last[0]:
            last[0], last[1] = cur, time.monotonic()
        elif time.monotonic() - last[1] > limit:
            print(f"HANG: {cur}", flush=True)
            os._exit(3)


def one(seed: int, backend: str, real: bool, only: str | None,
        fuzz: bool = False) -> tuple[Case, list[str]]:
    case = Case(seed, backend, real, only)
    _current[0] = f"{case.describe()} real={real}"
    fuzz_seed = seed if fuzz else None
    try:
        if real or backend == "uvloop":
            problems = plait.testing.run(run_case, case, backend=backend,
                                         virtual_time=False, fuzz_seed=fuzz_seed)
        else:
            problems = plait.testing.run(run_case, case, backend=backend,
                                         fuzz_seed=fuzz_seed)
    except BaseException as exc:
        problems = [f"escaped the loop: {exc!r}", "".join(traceback.format_exception(exc))]
    return case, problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="asyncio")
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--fuzz", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--eager", action="store_true", help="asyncio eager tasks (3.12+)")
    args = ap.parse_args()
    global EAGER
    EAGER = args.eager
    threading.Thread(target=watchdog, args=(60,), daemon=True).start()
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.cases)
    bad = 0
    kinds: dict[str, int] = {}
    for seed in seeds:
        case, problems = one(seed, args.backend, args.real, args.only, args.fuzz)
        kinds[case.pattern] = kinds.get(case.pattern, 0) + 1
        if problems or args.v:
            if problems:
                bad += 1
            flags = (" --real" if args.real else "") + (" --fuzz" if args.fuzz else "")
            only = f" --only {args.only}" if args.only else ""
            print(f"{'FAIL' if problems else 'ok'} {case.describe()}\n  replay: python "
                  f"review/rstress.py --backend {args.backend} --seed {seed}{flags}{only}")
            for line in problems:
                print("   ", line)
            sys.stdout.flush()
    print(f"{args.backend} real={args.real} fuzz={args.fuzz}: {bad} anomalies in "
          f"{len(seeds)} cases {kinds}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
