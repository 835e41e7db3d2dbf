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
# # 7. One code base, two event loops
#
# plait is written against anyio's public API only, so a function built on
# it runs unchanged on asyncio, on asyncio with uvloop's faster loop, and on
# trio. This notebook writes one small library function and runs it on all
# three:
#
# 1. awaited directly, on the kernel's own asyncio loop;
# 2. with `plait.run(fn, backend=...)`, each on a fresh loop;
# 3. on trio inside the notebook, with IPython's `%autoawait trio`;
# 4. on virtual time, on both backends.

# %% [markdown]
# ## The library function
#
# It checks a list of services: each check has a deadline, is retried once,
# and at most three run at once; a status page is fetched from whichever
# mirror answers first. Nothing here names an event loop.

# %%
import plait

LATENCY = {"auth": 0.03, "db": 0.05, "cache": 0.01, "queue": 0.04, "search": 0.5}


async def ping(service: str) -> float:
    await plait.sleep(LATENCY[service])  # a network round trip
    return LATENCY[service]


async def fetch_status(mirror: str, delay: float) -> str:
    await plait.sleep(delay)
    return f"status from {mirror}"


async def health_report(services: list[str]) -> dict[str, object]:
    checks = await plait.bounded_map(
        ping,
        services,
        limit=3,
        timeout=0.2,
        retry=plait.RetryPolicy(attempts=2, base_delay=0.01, jitter=0),
        return_exceptions=True,
    )
    status = await plait.race(
        fetch_status("eu", 0.05), fetch_status("us", 0.02), stagger=0.01
    )
    failed = {
        s for s, c in zip(services, checks, strict=True) if isinstance(c, Exception)
    }
    return {
        "backend": plait.current_backend(),
        "up": [s for s in services if s not in failed],
        "down": [s for s in services if s in failed],
        "status": status,
    }


SERVICES = list(LATENCY)

# %% [markdown]
# ## 1. On the kernel's loop
#
# Jupyter's kernel runs an asyncio event loop, so a cell can await directly.

# %%
await health_report(SERVICES)

# %% [markdown]
# ## 2. `plait.run` on each backend
#
# `plait.run(fn, *args, backend=...)` starts a fresh event loop, runs `fn`
# and returns its result. It cannot run *inside* a running loop — event loops
# do not nest, and this kernel's loop is running in this thread — so here we
# call it from a worker thread. In a script you would call it directly.

# %%
import time
from concurrent.futures import ThreadPoolExecutor


def run_in_thread(fn, *args, backend):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(plait.run, fn, *args, backend=backend).result()


for backend in ("asyncio", "uvloop", "trio"):
    began = time.perf_counter()
    report = run_in_thread(health_report, SERVICES, backend=backend)
    took = time.perf_counter() - began
    print(f"{backend:8} -> {report}  (under a second: {took < 1})")

# %% [markdown]
# The same answers on all three: `search` is down (it took longer than its
# 0.2 s timeout, twice), the others are up, and the `us` mirror won the race
# even though `eu` started first. `current_backend()` reports `'asyncio'`
# for uvloop, which is an asyncio event loop.

# %% [markdown]
# ## 3. trio inside the notebook: `%autoawait trio`
#
# IPython can run awaiting cells on trio instead. Each such cell then runs in
# a **fresh** `trio.run`: nothing started in one cell outlives it (a task
# group must end within its cell, which structured concurrency asks anyway),
# and cells that do not await run as plain Python.

# %%
# %autoawait trio

# %%
report = await health_report(SERVICES)
print(report["backend"], report["up"], report["down"])

# %% [markdown]
# The cancellation exception is the backend's own, which is why plait's code
# asks `plait.get_cancelled_exc_class()` rather than naming one, and why
# your code should let cancellation through (`except Exception` does).

# %%
print("cancellation on trio is", plait.get_cancelled_exc_class())

with plait.move_on_after(0.01) as scope:
    try:
        await plait.sleep(1)
    except Exception:
        print("never printed: cancellation is not an Exception")
print("cancelled_caught:", scope.cancelled_caught)

# %% [markdown]
# Errors look the same on both backends, too: a task group raises an
# `ExceptionGroup`, and `except*` takes it apart.


# %%
async def broken(service: str) -> float:
    raise ConnectionError(f"{service}: connection refused")


try:
    await plait.gather(broken("auth"), ping("db"))
except* ConnectionError as group:
    print("on", plait.current_backend(), "->", group.exceptions)

# %%
# %autoawait asyncio

# %%
print("back on", plait.current_backend())

# %% [markdown]
# ## 4. Virtual time on both backends
#
# `plait.testing.run` runs a function on a fresh loop whose clock jumps ahead
# whenever every task is waiting, on asyncio and on trio. uvloop's loop
# cannot be given a virtual clock, and says so.

# %%
import plait.testing


async def timed_report():
    start = plait.current_time()
    report = await health_report(SERVICES)
    return report["down"], plait.current_time() - start


def test_run_in_thread(fn, **kwargs):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(plait.testing.run, fn, **kwargs).result()


for backend in ("asyncio", "trio"):
    down, elapsed = test_run_in_thread(timed_report, backend=backend)
    print(f"{backend:8} down={down}, took exactly {elapsed:.2f} virtual seconds")

try:
    test_run_in_thread(timed_report, backend="uvloop")
except plait.testing.VirtualTimeNotSupportedError as exc:
    print("uvloop:", exc)

# %% [markdown]
# 0.47 s, computed rather than measured: the `search` check started at
# 0.03 s, when `auth` freed a slot; it timed out at 0.23 s, waited 0.01 s,
# and timed out again at 0.44 s. Then the race: `us` started 0.01 s after
# `eu` and answered 0.02 s later, at 0.47 s.
#
# **Where next:** notebook 6, *Testing concurrency*, and the testing guide
# in the docs show virtual time and schedule fuzzing at work in tests.
