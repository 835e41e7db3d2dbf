"""retry: the cost of wrapping a call that succeeds, or fails once then succeeds.

N sequential calls; the hand-written reference is a plain ``await`` (or a
try/except loop that retries at once, for the flaky call).
"""

from __future__ import annotations

import functools
from typing import Any

from .._model import Case, Family, Trial, Variant, expect
from .._work import native_checkpoint
from ._common import names

QUICK_N = 100
FULL_N = 10_000


class Flaky(Exception):
    """The error the flaky call raises on every other attempt."""


def setup(t: Trial) -> None:
    checkpoint = native_checkpoint(t.backend)
    state = {"fail": True}
    probe = t.probe

    async def flaky(x: int) -> int:
        await checkpoint()
        if state["fail"]:
            state["fail"] = False
            probe.cancelled += 1  # counts failed attempts
            raise Flaky
        state["fail"] = True
        probe.done += 1
        return x

    t.data["fn"] = flaky if t.params["flaky"] else t.work
    t.data["checkpoint"] = checkpoint


async def direct(t: Trial) -> Any:
    """The reference: call and await; on the flaky call, checkpoint and retry."""
    fn = t.data["fn"]
    checkpoint = t.data["checkpoint"]
    out = []
    for x in range(t.n):
        for _attempt in range(3):
            try:
                out.append(await fn(x))
                break
            except Flaky:
                await checkpoint()
    return out


async def plait_retry(t: Trial) -> Any:
    import plait

    fn = t.data["fn"]
    policy = plait.RetryPolicy(attempts=3, base_delay=0, jitter=0)
    return [await plait.retry(fn, x, policy=policy) for x in range(t.n)]


async def lionherd_retry(t: Trial) -> Any:
    from lionherd_core.libs.concurrency import retry

    fn = t.data["fn"]
    return [
        await retry(functools.partial(fn, x), attempts=3, base_delay=0, jitter=0)
        for x in range(t.n)
    ]


VARIANTS = (
    Variant("plait", "plait.retry", "plait", plait_retry),
    Variant("direct", "plain await (try/except loop)", "baseline", direct),
    Variant(
        "lionherd",
        "lionherd-core retry",
        "peer",
        lionherd_retry,
        requires=("lionherd_core",),
    ),
)


def cases(mode: str) -> list[Case]:
    n = QUICK_N if mode == "quick" else FULL_N
    return [
        Case(
            family="retry",
            title="retry, fails once" if flaky else "retry, succeeds",
            kind="time",
            n=n,
            baseline="direct",
            variants=names(VARIANTS),
            params={"flaky": flaky},
            group="retry",
        )
        for flaky in (False, True)
    ]


def check(trial: Trial, result: Any) -> None:
    n = trial.n
    expect(list(result) == list(range(n)), "retry results are wrong")
    expect(trial.probe.done == n, f"{trial.probe.done} of {n} calls succeeded")
    if trial.params["flaky"]:
        expect(trial.probe.cancelled == n, f"{trial.probe.cancelled} failed attempts")


FAMILY = Family("retry", VARIANTS, cases, check, setup)
