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
# # 1. Task groups
#
# A task group is where tasks live. You open one with `async with`, start
# tasks in it, and the block does not end until every one of them has ended.
# Everything else in plait is built on this one rule.
#
# This notebook runs on the kernel's own asyncio event loop, so cells can
# `await` at the top level. We cover:
#
# 1. starting tasks with `start_soon`, and getting results back with
#    `create_task` handles;
# 2. naming tasks;
# 3. starting services in order with `start` and the `task_status` protocol;
# 4. nested groups;
# 5. what happens when a child fails.

# %%
import anyio

import plait

print("plait", plait.__version__, "on", plait.current_backend())

# %% [markdown]
# ## Starting tasks
#
# `tg.start_soon(fn, *args)` schedules `fn(*args)` to run in the group. It
# returns at once; the task runs at the next checkpoint — here, the wait at
# the end of the `async with` block.

# %%
events: list[str] = []


async def brew(drink: str, seconds: float) -> None:
    events.append(f"{drink}: start")
    await plait.sleep(seconds)
    events.append(f"{drink}: ready")


async with plait.create_task_group() as tg:
    tg.start_soon(brew, "tea", 0.03)
    tg.start_soon(brew, "coffee", 0.01)
    events.append("(end of the block's body)")

events.append("(after the block)")
print("\n".join(events))

# %% [markdown]
# The line after the block ran last: the group waited for both drinks.
#
# `start_soon` returns nothing. When you need a task's result, use
# `create_task`, which takes a coroutine object and returns a
# `plait.TaskHandle` (anyio's). Await the handle for the result, or read
# `return_value` once the group has ended.


# %%
async def price(item: str) -> float:
    await plait.sleep(0.01)
    return {"tea": 2.5, "coffee": 3.0}[item]


async with plait.create_task_group() as tg:
    tea = tg.create_task(price("tea"))
    coffee = tg.create_task(price("coffee"))
    print("tea costs", await tea)

print("coffee costs", coffee.return_value, "— status:", coffee.status.name)

# %% [markdown]
# ## Names
#
# Every task has a name, shown in debuggers, task dumps and some error
# messages. By default it is the function's module and qualified name; pass
# `name=` to say which of many similar tasks this is.


# %%
async def report_name() -> str:
    return anyio.get_current_task().name


async with plait.create_task_group() as tg:
    default = tg.create_task(report_name())
    named = tg.create_task(report_name(), name="worker-7")

print(await default)
print(await named)

# %% [markdown]
# ## Starting in order: `start` and `task_status`
#
# A service is ready some time after it starts: a database opens its pool, a
# cache warms up. Code that depends on it must wait for *ready*, not for
# *started*.
#
# `await tg.start(fn)` runs `fn` as a task of the group and waits until it
# calls `task_status.started(value)`; then `start` returns `value`, and the
# task keeps running in the group. If the task fails before it is ready,
# `start` raises its error. The `task_status` parameter defaults to
# `plait.TASK_STATUS_IGNORED`, so the same function works with `start_soon`.
#
# Here a database, a cache and an API start in dependency order, each
# handing the next what it needs.

# %%
log: list[str] = []


async def database(
    *, task_status: plait.TaskStatus[str] = plait.TASK_STATUS_IGNORED
) -> None:
    await plait.sleep(0.02)  # open the connection pool
    log.append("database ready")
    task_status.started("postgresql://db/app")
    await anyio.sleep_forever()


async def cache(
    dsn: str,
    *,
    task_status: plait.TaskStatus[dict[str, str]] = plait.TASK_STATUS_IGNORED,
) -> None:
    await plait.sleep(0.01)  # warm up from the database
    log.append(f"cache warmed from {dsn}")
    task_status.started({"greeting": "hello"})
    await anyio.sleep_forever()


async def api(
    store: dict[str, str],
    *,
    task_status: plait.TaskStatus[int] = plait.TASK_STATUS_IGNORED,
) -> None:
    log.append(f"api serving {sorted(store)}")
    task_status.started(8080)
    await anyio.sleep_forever()


async with plait.create_task_group() as services:
    dsn = await services.start(database)
    store = await services.start(cache, dsn)
    port = await services.start(api, store)
    log.append(f"all up, api on port {port}")
    services.cancel_scope.cancel()  # a real program would serve until told to stop

print("\n".join(log))

# %% [markdown]
# ## Nested groups
#
# A task can open a group of its own. Groups form a tree, and the tree is
# the ownership: when the outer group's block ends, every task below it has
# ended too.


# %%
async def team(name: str, members: int) -> str:
    async with plait.create_task_group() as tg:
        for n in range(members):
            tg.start_soon(plait.sleep, 0.01 * n)
    return f"{name}: {members} members done"


async with plait.create_task_group() as tg:
    handles = [tg.create_task(team(name, n)) for name, n in [("red", 3), ("blue", 2)]]

print([h.return_value for h in handles])

# %% [markdown]
# ## When a child fails
#
# If a task raises, its group
#
# 1. cancels everything else in the group, the block's body included;
# 2. waits for all of it to finish (cleanup in `finally` runs);
# 3. raises an `ExceptionGroup` of the errors that were not cancellations.
#
# We catch it with `except*`, which matches errors of a type inside the group.

# %%
cleanup: list[str] = []


async def flaky_service() -> None:
    await plait.sleep(0.01)
    raise ConnectionError("lost the connection to the database")


async def patient_service() -> None:
    try:
        await anyio.sleep_forever()
    finally:
        cleanup.append("patient_service cleaned up")


try:
    async with plait.create_task_group() as tg:
        tg.start_soon(flaky_service)
        tg.start_soon(patient_service)
        await anyio.sleep_forever()  # the body is cancelled too
except* ConnectionError as group:
    print("caught:", repr(group.exceptions[0]))

print(cleanup)

# %% [markdown]
# Nothing is left running and no error is lost: a task that fails before
# the cancellation reaches it adds its own error to the group.
#
# **Next:** notebook 2, *Cancellation and time*: what the patient service
# went through when it was cancelled, and how deadlines work.
