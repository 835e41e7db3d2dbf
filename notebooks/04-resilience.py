# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Resilience
#
# Remote calls fail for passing reasons, and servers ask you to slow down.
# This notebook covers:
#
# 1. `retry` and `RetryPolicy`, and how retries respect a deadline;
# 2. `RateLimiter`, a fair token bucket;
# 3. per-item `timeout`, `retry` and `rate` in `bounded_map`, with results
#    and errors side by side (`return_exceptions=True`);
# 4. migrating a hand-written `asyncio.gather` + `Semaphore` + retry
#    executor to plait, before and after.
#
# Backoff and rate limits wait on the event loop's clock, so on virtual time
# they cost nothing and their timings print exactly. As in notebook 3,
# `clocked(main)` runs `main` on virtual time in a worker thread.

# %%
import random
from concurrent.futures import ThreadPoolExecutor

import plait
import plait.testing


def clocked(fn, *args):
    """Run fn(*args) on virtual time, in a thread: the kernel's loop is busy."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(plait.testing.run, fn, *args).result()


# %% [markdown]
# ## Retry with backoff
#
# `plait.retry(fn, *args, policy=...)` calls `fn(*args)` afresh until it
# succeeds or the policy gives up, then raises the last error unchanged.
# The delay before retry *n* is `base_delay * multiplier ** (n - 1)`, capped
# at `max_delay`, and shortened at random by up to `jitter` of itself so that
# many clients do not retry in lockstep.

# %%
policy = plait.RetryPolicy(attempts=6, base_delay=0.5, multiplier=2, max_delay=3.0)
print("delays before jitter:", [policy.backoff(n) for n in range(1, 6)])
# Jitter draws from plait's one random source; seeding it replays the draws.
plait.testing.seed_randomness(1)
print("with jitter=0.1:     ", [round(policy.delay(n), 2) for n in range(1, 6)])


# %%
async def main():
    calls = []

    async def flaky() -> str:
        calls.append(plait.current_time())
        if len(calls) < 4:
            raise ConnectionError("connection reset by peer")
        return "ok"

    exact = plait.RetryPolicy(attempts=6, base_delay=0.5, jitter=0)
    return await plait.retry(flaky, policy=exact), calls


print(clocked(main))

# %% [markdown]
# Only errors that `retry_on` matches are retried (every `Exception` by
# default); cancellation never is. A predicate can look inside the error:


# %%
class HTTPError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def transient(exc: Exception) -> bool:
    return isinstance(exc, HTTPError) and exc.status in (429, 502, 503)


statuses = iter([503, 429, 404])


async def get() -> str:
    raise HTTPError(next(statuses))


try:
    await plait.retry(get, attempts=5, base_delay=0.01, retry_on=transient)
except HTTPError as exc:
    print("gave up on", exc, "— 404 is not worth retrying")

# %% [markdown]
# ### Retries respect the deadline
#
# Inside a deadline, `retry` checks before every wait whether the next
# attempt could start in time. If not, it raises the real error at once,
# with a note, rather than sleep into a `TimeoutError` that hides the cause.


# %%
async def main():
    async def down() -> None:
        await plait.sleep(0.2)
        raise ConnectionError("service unavailable")

    try:
        with plait.fail_after(1.5):
            await plait.retry(down, attempts=10, base_delay=0.5, jitter=0)
    except ConnectionError as exc:
        return f"{exc!r} at t={plait.current_time():g}s\nnote: {exc.__notes__[0]}"


print(clocked(main))

# %% [markdown]
# ## Rate limits
#
# `RateLimiter(rate, per=1.0, burst=1)` lets `rate` acquisitions through per
# `per` seconds. Waiters are served strictly in arrival order, so none
# starves. Share one limiter among everything that calls the same API.


# %%
async def main():
    limiter = plait.RateLimiter(4)  # 4 a second: one every 0.25 s
    stamps = {}

    async def call(name: str) -> None:
        async with limiter:
            stamps[name] = plait.current_time()

    async with plait.create_task_group() as tg:
        for name in "abcdef":
            tg.start_soon(call, name)
    return stamps


print(clocked(main))

# %% [markdown]
# ## Per-item timeouts, retries and rates, all at once
#
# `bounded_map` (and `imap`) take the three per item:
#
# - `timeout=`: seconds per *attempt*; a timeout raises `TimeoutError`, which
#   the retry policy retries if its `retry_on` matches;
# - `retry=`: a `RetryPolicy`;
# - `rate=`: calls per second (retries included), or a shared `RateLimiter`;
#   waiting for the rate does not count against the timeout.
#
# With `return_exceptions=True` each item's error takes its place in the
# results, and nothing else is cancelled. Here a flaky service fails a third
# of the calls at random and hangs on some; the plot shows every attempt.

# %%
import matplotlib.pyplot as plt


async def main():
    rng = random.Random(28)
    attempts = []  # (item, start, end, outcome)

    async def call(item: int) -> str:
        start = plait.current_time()
        roll = rng.random()
        try:
            if roll < 0.1:
                await plait.sleep(30)  # hangs
            await plait.sleep(0.05 + 0.1 * rng.random())
            if roll < 0.35:
                raise ConnectionError("reset")
        except BaseException as exc:
            attempts.append((item, start, plait.current_time(), type(exc).__name__))
            raise
        attempts.append((item, start, plait.current_time(), "ok"))
        return f"result {item}"

    results = await plait.bounded_map(
        call,
        range(16),
        limit=4,
        timeout=0.5,
        retry=plait.RetryPolicy(attempts=3, base_delay=0.2, jitter=0),
        rate=20,
        return_exceptions=True,
    )
    return results, attempts


results, attempts = clocked(main)
failed = {i: repr(r) for i, r in enumerate(results) if isinstance(r, Exception)}
print(f"{len(results) - len(failed)} of {len(results)} succeeded; failed: {failed}")
print(f"{len(attempts)} attempts in all")

colors = {"ok": "tab:green", "ConnectionError": "tab:orange"}
fig, ax = plt.subplots(figsize=(6.5, 3.2), dpi=72)
for item, start, end, outcome in attempts:
    ax.barh(item, end - start, left=start, color=colors.get(outcome, "tab:red"))
ax.set(xlabel="virtual seconds", ylabel="item", yticks=range(16))
ax.set_title("attempts: green ok, orange error, red cancelled (timeout)")
ax.invert_yaxis()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Before and after: a hand-written executor
#
# Here is a common home-grown executor: `asyncio.gather` over every item, an
# `asyncio.Semaphore` for the limit, a retry loop and `asyncio.wait_for` for
# the timeout. It works — but it creates one task per item up front, all of
# them waiting on the semaphore. We count the tasks alive while it runs.

# %%
import asyncio

peak = {"tasks": 0}


async def fetch_one(page: int) -> str:
    peak["tasks"] = max(peak["tasks"], len(asyncio.all_tasks()))
    await asyncio.sleep(0.001)
    if page % 97 == 13:
        raise ConnectionError(f"page {page}: reset")
    return f"page {page}"


async def fetch_all_by_hand(pages) -> list:
    semaphore = asyncio.Semaphore(10)

    async def guarded(page: int) -> str:
        async with semaphore:
            for attempt in range(3):
                try:
                    return await asyncio.wait_for(fetch_one(page), timeout=1)
                except (ConnectionError, TimeoutError):
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.001 * 2**attempt)
            raise AssertionError("unreachable")

    return await asyncio.gather(*(guarded(p) for p in pages), return_exceptions=True)


peak["tasks"] = 0
before = await fetch_all_by_hand(range(1000))
print("by hand:", sum(isinstance(r, str) for r in before), "ok; peak tasks:", peak)

# %% [markdown]
# The same with plait: one call, the policy spelled out, and at most `limit`
# worker tasks pulling items lazily from the input.


# %%
async def fetch_all(pages) -> list:
    return await plait.bounded_map(
        fetch_one,
        pages,
        limit=10,
        timeout=1,
        retry=plait.RetryPolicy(attempts=3, base_delay=0.001, jitter=0),
        return_exceptions=True,
    )


peak["tasks"] = 0
after = await fetch_all(range(1000))
print("plait:  ", sum(isinstance(r, str) for r in after), "ok; peak tasks:", peak)
print("same results:", [repr(r) for r in before] == [repr(r) for r in after])

# %% [markdown]
# Beyond the task count:
#
# - **Cancellation.** `asyncio.gather(..., return_exceptions=True)` also
#   returns a cancelled child's `CancelledError` as a result, so a
#   cancellation can pass unnoticed. `bounded_map` never swallows
#   cancellation, and returns only once every call it started has finished.
# - **Deadlines.** The hand-written loop sleeps before a retry even when an
#   outer deadline will cut it short; `plait.retry` raises the real error.
# - **Rates.** Adding a rate limit by hand is another primitive to write;
#   here it is `rate=`.
# - **Backends.** `fetch_all` runs on asyncio, uvloop and trio unchanged
#   (`fetch_one` here uses asyncio directly; written with `plait.sleep` it
#   would too — see notebook 7).
#
# **Next:** notebook 5, *Long-running work*: supervised services, background
# jobs and periodic jobs.
