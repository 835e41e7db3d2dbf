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
# # 3. Patterns
#
# Most concurrent code has one of a few shapes. plait has a function for
# each, built on task groups, so each one cancels and waits for what it
# started before it returns or raises:
#
# | You have | You want | Use | Results come |
# | --- | --- | --- | --- |
# | a few different calls | all results | `gather` | in argument order |
# | a few ways to one answer | the first that works | `race` | the winner |
# | many items, one function | every result | `bounded_map` | in input order |
# | many or endless items | each as it comes | `imap` | input or done order |
# | a few different calls | each as it ends | `as_completed` | in done order |
#
# To print exact times, the examples run on virtual time (see notebook 2):
# `clocked(main)` runs `main` on a fresh event loop in a worker thread, whose
# clock jumps ahead whenever every task waits.

# %%
from concurrent.futures import ThreadPoolExecutor

import plait
import plait.testing


def clocked(fn, *args):
    """Run fn(*args) on virtual time, in a thread: the kernel's loop is busy."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(plait.testing.run, fn, *args).result()


async def fetch(name: str, seconds: float, fail: bool = False) -> str:
    await plait.sleep(seconds)
    if fail:
        raise ConnectionError(f"{name} failed")
    return name


# %% [markdown]
# ## gather: a few different calls
#
# Results come back as a tuple, in argument order, whatever order the calls
# finish in. Arguments may be coroutine objects, other awaitables, or
# zero-argument callables returning one. The calls run concurrently, so the
# whole takes as long as the slowest.


# %%
async def main():
    start = plait.current_time()
    results = await plait.gather(
        fetch("profile", 0.3), fetch("orders", 0.5), lambda: fetch("ads", 0.1)
    )
    return results, plait.current_time() - start


print(clocked(main))

# %% [markdown]
# One failure cancels the others and raises an `ExceptionGroup`; with
# `return_exceptions=True`, nothing is cancelled and the error takes its
# result's place. The kernel's loop works fine for this — no clock needed.

# %%
print(
    await plait.gather(
        fetch("a", 0.01), fetch("b", 0.02, fail=True), return_exceptions=True
    )
)

try:
    await plait.gather(fetch("a", 0.01), fetch("b", 0.02, fail=True))
except* ConnectionError as group:
    print("failed:", group.exceptions)

# %% [markdown]
# ## race: the first success wins
#
# `race` returns the first result that is not an error, cancels the other
# contestants and waits until they are gone. A contestant that fails drops
# out; only if every one fails does `race` raise.
#
# With `stagger=`, contestants start one after another: the next one starts
# when the previous has had `stagger` seconds, or at once if it failed
# ("happy eyeballs"). Pass callables, so the ones never needed are never
# called.

# %%
from plait.testing import Timeline


async def main():
    timeline = Timeline()

    def mirror(name: str, seconds: float, fail: bool = False):
        return lambda: timeline.wrap(fetch, name)(name, seconds, fail)

    winner = await plait.race(
        mirror("primary", 0.1, fail=True),
        mirror("backup-1", 0.3),
        mirror("backup-2", 0.2),
        stagger=0.25,
    )
    return winner, [(e.time, e.label, e.kind) for e in timeline]


winner, events = clocked(main)
print("winner:", winner)
for event in events:
    print(*event)

# %% [markdown]
# The primary failed at 0.1 s, so backup-1 started at once instead of
# waiting for its turn at 0.25 s. backup-1 was still busy 0.25 s later, so
# backup-2 started at 0.35 s; backup-1 answered first, at 0.4 s, and the race
# cancelled backup-2. Staggering trades a little latency for not asking every
# mirror every time.

# %% [markdown]
# ## bounded_map: many items, a few at a time
#
# `bounded_map(fn, items, limit=n)` calls `fn(item)` for each item with at
# most `n` calls in flight, and returns the results in input order. Items are
# pulled lazily, one at a time, by at most `n` workers: a generator of a
# million items costs the memory of `n`. The timeline below shows the slots
# at work: a new item starts the moment one finishes.

# %%
import matplotlib.pyplot as plt

durations = [0.5, 0.2, 0.3, 0.1, 0.4, 0.2, 0.1, 0.3, 0.2, 0.1]


async def main():
    timeline = Timeline()

    async def work(index: int) -> int:
        with timeline.track(f"item {index}"):
            await plait.sleep(durations[index])
        return index

    results = await plait.bounded_map(work, range(len(durations)), limit=3)
    return results, timeline


results, timeline = clocked(main)
print("results in input order:", results)

fig, ax = plt.subplots(figsize=(6.5, 2.8), dpi=72)
for index in range(len(durations)):
    start = timeline.time_of(f"item {index}", "start")
    end = timeline.time_of(f"item {index}", "finish")
    ax.barh(index, end - start, left=start, color=f"C{index % 10}")
    ax.text(end + 0.01, index, f"{index}", va="center", fontsize=8)
ax.set(xlabel="virtual seconds", ylabel="item", title="bounded_map, limit=3")
ax.set_yticks(range(len(durations)))
ax.invert_yaxis()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## imap: stream results, with backpressure
#
# `imap` is the streaming form: an async context manager that yields results
# as they are ready. At most `limit` calls are in flight, and finished results
# wait for you in a buffer (`buffer=`, as many as `limit` unless you say
# otherwise): if you read slowly the workers stop once it is full, and memory
# stays bounded however long the input is. Leave the block whenever you like:
# what is still running is cancelled.
#
# `ordered=True` (the default) delivers in input order, so a slow item holds
# back the ones after it; `ordered=False` delivers as they complete.


# %%
async def main():
    lines = []
    for ordered in (True, False):
        start = plait.current_time()
        stream = plait.imap(
            lambda i: fetch(f"#{i}", durations[i]), range(6), limit=3, ordered=ordered
        )
        async with stream as results:
            got = [f"{r}@{plait.current_time() - start:.1f}" async for r in results]
        lines.append(f"ordered={ordered!s:5}: {' '.join(got)}")
    return lines


print("\n".join(clocked(main)))

# %% [markdown]
# With an endless input, take what you need and leave:

# %%
import itertools


async def square(n: int) -> int:
    await plait.sleep(0)
    return n * n


async with plait.imap(square, itertools.count(), limit=4, with_index=True) as results:
    async for index, value in results:
        if value > 1000:
            print(f"first square over 1000: {index}² = {value}")
            break

# %% [markdown]
# ## as_completed: handles, as they finish
#
# `as_completed` runs awaitables and hands you their task handles in the
# order they finish, at most `limit` running at once. Each handle carries the
# result (`return_value`) and the task's name.


# %%
async def main():
    lines = []
    async with plait.as_completed(
        fetch("big", 0.5), fetch("small", 0.1), fetch("medium", 0.3), limit=2
    ) as finished:
        async for handle in finished:
            lines.append(f"{plait.current_time():.1f} s: {handle.return_value}")
    return lines


print("\n".join(clocked(main)))

# %% [markdown]
# With `limit=2`, "medium" started only when "small" finished, at 0.1 s.
#
# ## When to use which
#
# - a **known, small set** of calls → `gather` (typed tuple, argument order);
# - **redundant sources** → `race`, with `stagger` if asking all at once is
#   wasteful;
# - **items, need all results** → `bounded_map`;
# - **items, process each and let go**, endless input, or early exit →
#   `imap`;
# - **different calls, act on each as it lands** → `as_completed`.
#
# And never `gather(*(f(x) for x in items))` over data you do not control:
# it starts a task per item, however many there are.
#
# **Next:** notebook 4, *Resilience*: retries, rate limits and timeouts per
# item.
