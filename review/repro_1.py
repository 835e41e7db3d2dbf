"""repro_1: a failure is lost when asyncio's Task.cancel() lands as a task group exits.

On asyncio/uvloop (anyio 4.16), a task group whose children have all finished
still runs a checkpoint in ``__aexit__``; a native ``Task.cancel()`` of the
host landing there replaces the children's collected exceptions with a bare
``CancelledError`` (anyio issue #1069, PR #1071 open). plait's block-shaped
patterns reach that exit with no child left after a failure cancelled the
block, so the failure is lost:

- imap: fn raises a BaseException (Interrupt) while readers wait;
- as_completed / race(stagger=...): a call fails (ValueError) or its cleanup
  fails, the block is cancelled by the group, and the caller's Task.cancel()
  lands during the group's exit.

Expected (plait's docstrings: "no failure is lost", "as from an anyio task
group"): the ExceptionGroup / BaseExceptionGroup of the failure. Seen: a bare
CancelledError for some landing points (``extra`` = checkpoints between the
failure and the Task.cancel()). Virtual time, so it replays exactly.

Run: python review/repro_1.py   (prints LOST lines; exit 1 if any)
"""

from __future__ import annotations

import asyncio
import sys

import anyio
from anyio.lowlevel import checkpoint

import plait
import plait.testing


class Interrupt(BaseException):
    pass


async def case(extra: int, pattern: str, exc_type: type[BaseException]) -> str:
    main = asyncio.current_task()
    assert main is not None

    async def fn(x: int = 0) -> int:
        await anyio.sleep(1)
        raise exc_type("fn")

    async def slow() -> int:
        await anyio.sleep(5)
        return 1

    async def canceller() -> None:
        await anyio.sleep(1)
        for _ in range(extra):
            await checkpoint()
        main.cancel()

    async def read(results: object) -> None:
        async for _ in results:  # type: ignore[attr-defined]
            pass

    async with anyio.create_task_group() as outer:
        outer.start_soon(canceller)
        try:
            if pattern == "imap":
                async with plait.imap(fn, [0], limit=1) as results:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(read, results)
            elif pattern == "as_completed":
                async with plait.as_completed(fn(), slow()) as done:
                    async for _ in done:
                        pass
            elif pattern == "race_stagger":
                await plait.race(lambda: fn(), slow, stagger=10)
            elif pattern == "anyio_task_group":
                async with anyio.create_task_group() as own:
                    own.start_soon(fn)
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(anyio.sleep_forever)
            outcome = "no error"
        except asyncio.CancelledError:
            outcome = "CancelledError"
            main.uncancel()
        except BaseException as e:  # noqa: BLE001
            outcome = type(e).__name__
        outer.cancel_scope.cancel()
    return outcome


def main() -> int:
    lost = 0
    for pattern, exc_type in [
        ("imap", Interrupt),
        ("as_completed", ValueError),
        ("as_completed", Interrupt),
        ("race_stagger", Interrupt),
        ("anyio_task_group", ValueError),
    ]:
        for backend in ("asyncio",):
            outcomes = {}
            for extra in range(12):
                got = plait.testing.run(case, extra, pattern, exc_type, backend=backend)
                outcomes.setdefault(got, []).append(extra)
            bad = outcomes.get("CancelledError", [])
            lost += bool(bad)
            tag = "LOST" if bad else "ok  "
            print(f"{tag} {pattern} {exc_type.__name__}: {outcomes}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
