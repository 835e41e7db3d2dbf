"""A reviewer's seeded stress of Supervisor against outer cancellation.

Services: fail after d (restarted), raise a BaseException after d, or run
until stopped. The block is cancelled from outside (deadline, sibling,
asyncio Task.cancel()) at a drawn instant. Checks: a give-up (more failures
than max_restarts + 1 counted within the period, all at once here) leaves the
async with as an ExceptionGroup and is never swallowed by the scope; a
BaseException from a service leaves; nothing runs after the block; no hang.

Usage: python review/rsuper.py --backend asyncio --cases 500 [--seed S]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import traceback
from typing import Any

import anyio

import plait
import plait.testing


class Boom(Exception):
    pass


class Interrupt(BaseException):
    pass


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [x for e in exc.exceptions for x in leaves(e)]
    return [exc]


async def run_case(seed: int, backend: str) -> list[str]:
    rng = random.Random(seed)
    max_restarts = rng.randint(0, 3)
    kinds = [rng.choice(["fail", "fail", "base", "steady"]) for _ in range(rng.randint(1, 3))]
    delays = [rng.randint(0, 3) for _ in kinds]
    cancels = ["deadline", "sibling", "none"] + ([] if backend == "trio" else ["native"])
    cancel = rng.choice(cancels)
    cancel_at = rng.randint(0, 8)
    running: set[str] = set()
    raised: list[BaseException] = []
    failures = 0
    problems: list[str] = []

    def service(name: str, kind: str, d: int) -> Any:
        async def run(stopping: anyio.Event) -> None:
            nonlocal failures
            running.add(name)
            try:
                if kind == "steady":
                    await stopping.wait()
                    return
                await anyio.sleep(d + 1)
                if kind == "fail":
                    if cancel == "none" or anyio.current_time() < cancel_at:
                        failures += 1  # before any shutdown began
                    raise Boom(name)
                exc = Interrupt(name)
                raised.append(exc)
                raise exc
            finally:
                running.discard(name)
        return run

    main_task: Any = None
    if cancel == "native":
        import asyncio
        main_task = asyncio.current_task()
    state = {"done": False, "requested": False}
    error: BaseException | None = None
    caught = False
    native_seen = False

    async def body() -> None:
        async with plait.Supervisor(
            max_restarts=max_restarts, period=1000, backoff=0.5, jitter=0, grace=2,
            observers=(),
        ) as sup:
            for k, (kind, d) in enumerate(zip(kinds, delays)):
                await sup.start(service(f"s{k}", kind, d), name=f"s{k}")
            await anyio.sleep(20)

    async def canceller(scope: anyio.CancelScope) -> None:
        await anyio.sleep(cancel_at)
        if state["done"]:
            return
        state["requested"] = True
        if cancel == "native":
            main_task.cancel()
        else:
            scope.cancel()

    async with anyio.create_task_group() as tg:
        try:
            if cancel == "deadline":
                with anyio.move_on_after(cancel_at) as scope:
                    try:
                        await body()
                    finally:
                        state["done"] = True
                        state["requested"] = scope.cancel_called
                caught = scope.cancelled_caught
            else:
                with anyio.CancelScope() as scope:
                    if cancel != "none":
                        tg.start_soon(canceller, scope)
                    try:
                        await body()
                    except anyio.get_cancelled_exc_class():
                        if cancel == "native":
                            native_seen = True
                            main_task.uncancel()
                        else:
                            raise
                    finally:
                        state["done"] = True
                caught = scope.cancelled_caught
        except BaseException as exc:
            error = exc
        if running:
            problems.append(f"still running after the block: {sorted(running)}")
        tg.cancel_scope.cancel()
    got = leaves(error) if error is not None else []
    real = [e for e in got if not isinstance(e, anyio.get_cancelled_exc_class())]
    for e in raised:
        if not any(x is e for x in real):
            problems.append(f"{e!r} lost; outcome {error!r} caught={caught}")
    gave_up = failures > max_restarts
    if gave_up and not any(isinstance(x, Boom) for x in real) and not raised:
        problems.append(
            f"{failures} failures > max_restarts {max_restarts} but no give-up "
            f"escaped: outcome {error!r} caught={caught} native={native_seen}"
        )
    if error is not None and not real and not state["requested"]:
        problems.append(f"a cancellation nobody asked for: {error!r}")
    if any(not isinstance(x, (Boom, Interrupt)) for x in real):
        problems.append(f"invented error: {error!r}")
    if problems:
        problems.insert(0, f"max_restarts={max_restarts} kinds={kinds} delays={delays} "
                           f"cancel={cancel}@{cancel_at}")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="asyncio")
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--seed", type=int)
    args = ap.parse_args()
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.cases)
    bad = 0
    for seed in seeds:
        try:
            if args.backend == "uvloop":
                problems = plait.testing.run(run_case, seed, args.backend, backend="uvloop",
                                             virtual_time=False)
            else:
                problems = plait.testing.run(run_case, seed, args.backend, backend=args.backend)
        except BaseException as exc:
            problems = [f"escaped: {exc!r}", "".join(traceback.format_exception(exc))]
        if problems:
            bad += 1
            print(f"FAIL seed={seed}: python review/rsuper.py --backend {args.backend} --seed {seed}")
            for p in problems:
                print("   ", p)
    print(f"{args.backend}: {bad} anomalies in {len(seeds)} cases")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
