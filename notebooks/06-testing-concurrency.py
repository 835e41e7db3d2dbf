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
# # 6. Testing concurrency
#
# Concurrent code waits, which makes its tests slow and flaky, and it
# interleaves, which makes its bugs a matter of luck. `plait.testing` has an
# answer to each:
#
# 1. **virtual time**: a clock that jumps to the next deadline whenever all
#    tasks wait — hours of timeouts in milliseconds, at exact instants;
# 2. **schedule exploration**: at every point where a task yields, a seeded
#    strategy decides which task runs next, so a race shows up on some
#    seed, that seed replays it, and the failing schedule is shrunk to the
#    steps that race;
# 3. **property tests with hypothesis**: many workloads and schedules, and
#    the smallest failing one reported.
#
# `plait.testing.run` starts its own event loop, which cannot happen in the
# kernel's thread (its loop is running), so `in_thread` runs it in a worker.

# %%
from concurrent.futures import ThreadPoolExecutor

import plait
import plait.testing


def in_thread(fn, *args, **kwargs):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


# %% [markdown]
# ## Virtual time
#
# The code under test: a client that retries a flaky call with exponential
# backoff, under an overall deadline. With real time a test of the "gives
# up" path would wait out the whole deadline.


# %%
async def call_with_deadline(call, *, deadline: float) -> str:
    with plait.fail_after(deadline):
        return await plait.retry(call, attempts=20, base_delay=1, jitter=0)


def flaky(failures: int):
    attempts = []

    async def call() -> str:
        attempts.append(plait.current_time())
        if len(attempts) <= failures:
            raise ConnectionError("reset")
        return "ok"

    return call, attempts


async def scenario():
    call, attempts = flaky(failures=3)
    result = await call_with_deadline(call, deadline=60)
    lines = [f"recovers: {result!r}, attempts at {attempts}"]

    call, attempts = flaky(failures=100)
    start = plait.current_time()
    try:
        await call_with_deadline(call, deadline=60)
    except ConnectionError as exc:
        took = plait.current_time() - start
        lines.append(f"gives up after {took} s: {exc.__notes__[0]}")
        lines.append(f"attempts at {[t - start for t in attempts]}")
    return lines


for backend in ("asyncio", "trio"):
    print(backend)
    print("\n".join(in_thread(plait.testing.run, scenario, backend=backend)))

# %% [markdown]
# A minute of backoff passed in no time. The delays double up to the
# policy's 10 s cap, and the last wait is skipped because it would end past
# the deadline. The instants are exact (`1.0`, not `1.0003`), so a test can
# compare them with `==`. In pytest, plait's plugin does the same per test:
#
# ```python
# @pytest.mark.virtual_time
# async def test_gives_up(clock):
#     ...
#     assert clock.now() - start == clock.approx(55)
# ```

# %% [markdown]
# ## Schedule exploration finds a race
#
# An API client refreshes its OAuth token on first use. The auth server
# rotates refresh tokens: each one can be used once. Two widgets of a
# dashboard call the API at about the same time. Every `checkpoint()` here
# stands for I/O that usually completes at once (an HTTP round trip, laying
# out a widget).

# %%
import anyio
import anyio.lowlevel


class AuthServer:
    """A fake OAuth server: each refresh token can be used once (rotation)."""

    def __init__(self) -> None:
        self.unused = {"r0"}
        self.issued = 0

    async def refresh(self, refresh_token: str) -> tuple[str, str]:
        await anyio.lowlevel.checkpoint()  # the HTTP round trip
        if refresh_token not in self.unused:
            raise PermissionError(f"refresh token {refresh_token!r} was used already")
        self.unused.remove(refresh_token)
        self.issued += 1
        return f"access-{self.issued}", f"r{self.issued}"


class ApiClient:
    def __init__(self, server: AuthServer) -> None:
        self.server = server
        self.access: str | None = None
        self.refresh_token = "r0"

    async def token(self) -> str:
        if self.access is None:
            self.access, self.refresh_token = await self.server.refresh(
                self.refresh_token
            )
        return self.access

    async def get(self, path: str) -> str:
        token = await self.token()
        await anyio.lowlevel.checkpoint()  # the request itself
        return f"GET {path} with {token}"


async def dashboard(client_class=ApiClient) -> list[str]:
    client = client_class(AuthServer())
    pages: list[str] = []

    async def widget(path: str, layout_steps: int) -> None:
        for _ in range(layout_steps):
            await anyio.lowlevel.checkpoint()  # lay the widget out
        pages.append(await client.get(path))

    async with anyio.create_task_group() as tg:
        tg.start_soon(widget, "/profile", 0)
        tg.start_soon(widget, "/orders", 2)
    return pages


for backend in ("asyncio", "trio"):
    print(backend, in_thread(plait.testing.run, dashboard, backend=backend))

# %% [markdown]
# It passes on both loops, every time: asyncio runs what is ready in the
# order it became ready, and the orders widget lays itself out long enough
# for the profile's refresh to finish first. Under exploration every point
# where a task yields is a decision point: a task that resumes (after a
# checkpoint, a wait, I/O) may be held back while others run, as if its I/O
# had been slower. `explore()` tries seeds until a schedule fails, then
# shrinks it to the fewest deviations from the loop's own order that still
# fail, and prints which task ran at each step and the line it resumed at.

# %%
found = in_thread(plait.testing.explore, dashboard, runs=200)
print(found)

# %% [markdown]
# Read it from the deviation (`*`): the profile widget waits for its
# refresh response (`refresh`, the round trip) and the response comes late.
# Meanwhile the orders widget finishes its layout, finds no access token,
# and refreshes too, with the same refresh token. When the first response
# arrives that token is spent, and the second refresh is refused.
#
# The shrunk schedule replays the failure, as often as you like, which is
# what makes it debuggable:

# %%
for _ in range(3):
    try:
        in_thread(
            plait.testing.run, dashboard, fuzz_seed=found.seed, schedule=found.schedule
        )
    except ExceptionGroup as group:
        print("replayed:", repr(group.exceptions[0]))

# %% [markdown]
# How often does each strategy hit it? The random-delay strategy (the
# default) holds wake-ups back at random; PCT gives each task a priority,
# always runs the highest, and changes priorities at a few random points.
# Plain scheduling never fails on asyncio, and on trio only by the luck of
# its shuffling:

# %%
import matplotlib.pyplot as plt


def failure_rate(backend: str, strategy: str | None, runs: int = 200) -> float:
    failed = 0
    for seed in range(runs):
        explored = {} if strategy is None else {"fuzz_seed": seed, "strategy": strategy}
        try:
            plait.testing.run(dashboard, backend=backend, **explored)
        except ExceptionGroup:
            failed += 1
    return failed / runs


kinds = {"plain": None, "random": "random", "pct": "pct"}
rates = {
    backend: {
        kind: in_thread(failure_rate, backend, strategy)
        for kind, strategy in kinds.items()
    }
    for backend in ("asyncio", "trio")
}
for backend, by_kind in rates.items():
    print(backend, {kind: f"{rate:.0%}" for kind, rate in by_kind.items()})

fig, ax = plt.subplots(figsize=(6, 2.6), dpi=72)
for offset, (backend, by_kind) in zip((-0.2, 0.2), rates.items(), strict=True):
    ax.bar(
        [x + offset for x in range(len(kinds))],
        [100 * rate for rate in by_kind.values()],
        0.4,
        label=backend,
    )
ax.set_xticks(range(len(kinds)), list(kinds))
ax.set(ylabel="schedules that fail (%)")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The fix: let one caller refresh while the others wait for it. Then no
# schedule breaks it: 1,000 on each loop, after the natural order.


# %%
class SafeApiClient(ApiClient):
    def __init__(self, server: AuthServer) -> None:
        super().__init__(server)
        self.refreshing = anyio.Lock()

    async def token(self) -> str:
        async with self.refreshing:  # the first caller refreshes, others wait
            return await super().token()


for backend in ("asyncio", "trio"):
    print(
        in_thread(
            plait.testing.explore, dashboard, SafeApiClient, runs=1000, backend=backend
        )
    )

# %% [markdown]
# ## PCT's guarantee, measured
#
# PCT (Burckhardt et al., ASPLOS 2010) finds a bug of depth *d* (the number
# of ordering constraints between steps that make it fail) in a run of *n*
# tasks and *k* steps with probability at least 1/(n·k^(d-1)) per run. Three
# planted bugs of depth 1, 2 and 3, each passing in the loop's own order:

# %%
checkpoint = anyio.lowlevel.checkpoint


async def depth_1() -> None:
    """B uses the state before A initialises it (B's step before A's)."""
    state = {"ready": False}

    async def a() -> None:
        await checkpoint()
        state["ready"] = True

    async def b() -> None:
        await checkpoint()
        assert state["ready"], "used before initialised"

    async with anyio.create_task_group() as tg:
        tg.start_soon(a)
        tg.start_soon(b)


async def depth_2() -> None:
    """B writes between A's read and A's write."""
    box = {"x": 0}

    async def a() -> None:
        await checkpoint()
        seen = box["x"]
        await checkpoint()
        box["x"] = seen + 1

    async def b() -> None:
        for _ in range(2):
            await checkpoint()
        box["x"] += 10

    async with anyio.create_task_group() as tg:
        tg.start_soon(a)
        tg.start_soon(b)
    assert box["x"] == 11, "lost update"


async def depth_3() -> None:
    """B sees A's first write, then A's second: a1 < b1 < a2 < b2."""
    state = {"flag": 0, "saw_first": False}

    async def a() -> None:
        await checkpoint()
        state["flag"] = 1
        await checkpoint()
        state["flag"] = 2

    async def b() -> None:
        for _ in range(3):
            await checkpoint()
        state["saw_first"] = state["flag"] == 1
        await checkpoint()
        assert not (state["saw_first"] and state["flag"] == 2), "saw both writes"

    async with anyio.create_task_group() as tg:
        tg.start_soon(a)
        tg.start_soon(b)


def measure(planted, depth: int, backend: str, runs: int) -> str:
    with plait.testing.fuzz_schedule(0, schedule=plait.testing.Schedule()) as natural:
        plait.testing.run(planted, backend=backend)
    n, k = natural.tasks, natural.decisions
    strategy = plait.testing.PCT(depth=depth, steps=k)
    found = 0
    for seed in range(runs):
        try:
            plait.testing.run(
                planted, backend=backend, fuzz_seed=seed, strategy=strategy
            )
        except* AssertionError:
            found += 1
    bound = 1 / (n * k ** (depth - 1))
    return f"n={n} k={k:>2}  bound {bound:.4f}  found {found / runs:.4f}"


for depth, planted, runs in (
    (1, depth_1, 500),
    (2, depth_2, 1500),
    (3, depth_3, 3000),
):
    for backend in ("asyncio", "trio"):
        print(
            f"depth {depth} {backend:7}",
            in_thread(measure, planted, depth, backend, runs),
        )

# %% [markdown]
# *n* counts every task of the run, the loop's own included. The rates stay
# above the bound; neither strategy dominates, though: on plait's corpus of
# ten latent bugs (`tests/explore_corpus.py`) PCT is stronger where one task
# must be held back for long, random delays where several must be a step
# apart.

# %% [markdown]
# ## Property tests with hypothesis
#
# A schedule can be one more input hypothesis draws. With
# `plait.testing.schedules()` hypothesis takes every decision itself, so it
# searches interleavings as it searches any input, and shrinks a failing one
# toward the loop's natural order; the failure carries a note with the
# `Schedule` that replays it.

# %%
from hypothesis import given, settings

from plait.testing import ConcurrencyProbe, JobPlan, fuzz_seeds, job_plans, schedules


@settings(max_examples=200, database=None, deadline=None)
@given(schedule=schedules())
def test_dashboard(schedule) -> None:
    plait.testing.run(dashboard, schedule=schedule)


try:
    in_thread(test_dashboard)
except ExceptionGroup as group:
    print("hypothesis found:", repr(group.exceptions[0]))
    print(group.__notes__[0].splitlines()[1])

# %% [markdown]
# `job_plans()` draws whole workloads: jobs with delays, task switches,
# failures, and sometimes a cancellation part-way. A property of
# `bounded_map` itself: whatever the jobs and the schedule, results come
# back in input order, and never more than `limit` jobs run at once.


# %%
async def run_plan(plan: JobPlan, probe: ConcurrencyProbe) -> list[int]:
    return await plait.bounded_map(probe.wrap(lambda job: job()), plan.jobs, limit=3)


checked = []


@settings(max_examples=60, database=None, deadline=None)
@given(plan=job_plans(failures=False, cancellation=False), seed=fuzz_seeds())
def test_bounded_map_order_and_limit(plan: JobPlan, seed: int) -> None:
    probe = ConcurrencyProbe()
    results = plait.testing.run(run_plan, plan, probe, fuzz_seed=seed)
    assert results == plan.results()
    assert probe.peak <= 3
    checked.append(len(plan.jobs))


in_thread(test_bounded_map_order_and_limit)
print(f"held for {len(checked)} workloads of up to {max(checked)} jobs")

# %% [markdown]
# ## What to remember
#
# - Run tests on virtual time: fast, exact, and the same on asyncio and trio.
# - Explore their schedules: `plait.testing.run(..., fuzz_seed=seed)` in a
#   loop, `explore()` in a script, `@pytest.mark.fuzz_schedule` with
#   `--plait-seeds N` in pytest. A failing seed replays; `explore()` shrinks
#   it to the steps that race and shows where each task resumed.
# - Add `plait.fuzz_point()` only where code does not yield but could in
#   production (a mock that returns at once); every real yield is explored
#   already.
# - Let hypothesis choose the workloads, and the schedule too.
#
# The testing guide in the docs covers the pytest plugin (`clock`,
# `@pytest.mark.virtual_time`, `@pytest.mark.fuzz_schedule`,
# `--plait-seeds`, `--plait-explore`), what exploration can and cannot
# produce, and the probes.
