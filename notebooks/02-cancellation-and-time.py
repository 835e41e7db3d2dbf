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
# # 2. Cancellation and time
#
# Structured concurrency stops work it no longer needs by *cancelling* it:
# the rest of a group after a failure, the losers of a race, everything
# under a timeout. This notebook shows how that works and how to use it:
#
# 1. cancel scopes, and how a cancelled task finds out;
# 2. `move_on_after`, `fail_after` and their `*_at` twins;
# 3. nested deadlines and the *effective* deadline;
# 4. shielding, and cleanup that must run.

# %%
import anyio

import plait

# %% [markdown]
# ## Cancel scopes
#
# A `CancelScope` is a block of code that can be cancelled. `scope.cancel()`
# cancels every task inside the block, however deeply nested. The cancelled
# code receives the backend's cancellation exception at its next
# *checkpoint* (an `await` that can block or yield), and the scope absorbs it
# at the end of the block, so the code after the block carries on.

# %%
with plait.CancelScope() as scope:
    scope.cancel()
    print("cancel() does not stop the code by itself...")
    await plait.sleep(1)
    print("...but the next checkpoint does: this line never runs")

print("after the block; cancelled_caught =", scope.cancelled_caught)

# %% [markdown]
# Cancellation is *level-triggered*: inside a cancelled scope **every**
# checkpoint raises, not only the first. Catching the exception does not
# uncancel anything — which is why the rule is: catch it only to clean up or
# log, then re-raise. `plait.get_cancelled_exc_class()` tells which exception
# the running backend uses (`asyncio.CancelledError` here,
# `trio.Cancelled` on trio).

# %%
cancelled = plait.get_cancelled_exc_class()
print("cancellation here is", cancelled.__name__)

with plait.CancelScope() as scope:
    scope.cancel()
    for checkpoint in range(3):
        try:
            await plait.sleep(0)
        except cancelled:
            print(f"checkpoint {checkpoint}: cancelled")
            if checkpoint == 2:
                raise

# %% [markdown]
# A long computation with no `await` in it cannot be cancelled. Give it
# checkpoints with `await plait.checkpoint()`; it costs little when nothing
# is cancelled.


# %%
progress = {"done": 0}


async def crunch(numbers: range) -> int:
    total = 0
    for n in numbers:
        total += n * n
        progress["done"] = n
        if n % 10_000 == 0:
            await plait.checkpoint()  # lets a timeout or cancel() stop us
    return total


with plait.move_on_after(0.05) as scope:
    print(await crunch(range(100_000_000)))  # seconds of work: not finished
print("stopped part-way:", scope.cancelled_caught, 0 < progress["done"] < 99_999_999)

# %% [markdown]
# ## Timeouts: `move_on_after` and `fail_after`
#
# A timeout is a cancel scope with a deadline on the event loop's clock
# (`plait.current_time()`). `move_on_after` gives up quietly — check
# `cancelled_caught` afterwards — and `fail_after` raises `TimeoutError`.
# The deadline applies to the whole block: every call in it, and every task
# those calls started.

# %%
with plait.move_on_after(0.05) as scope:
    await plait.sleep(10)
print("move_on_after gave up:", scope.cancelled_caught)

try:
    with plait.fail_after(0.05):
        await plait.gather(plait.sleep(10), plait.sleep(20))
except TimeoutError:
    print("fail_after raised TimeoutError; both sleeps were cancelled")

# %% [markdown]
# `move_on_at` and `fail_at` take the deadline itself: compute it once, at
# the start of a request, and hand it down.

# %%
deadline = plait.current_time() + 0.05
with plait.move_on_at(deadline) as scope:
    await plait.sleep(1)
print(
    "stopped at the deadline:",
    scope.cancelled_caught,
    plait.current_time() >= deadline,
)

# %% [markdown]
# ## Nested deadlines: the tighter one wins
#
# Scopes nest, and the deadline that applies at any point is the earliest of
# all the enclosing ones: the *effective deadline*.
# `plait.effective_deadline()` returns it (or `None`), and `plait.remaining()`
# the seconds left. A function can read them instead of taking a timeout
# argument: "is there time for another attempt?".

# %%
print("outside any scope:", plait.effective_deadline(), plait.remaining())

with plait.move_on_after(5):
    with plait.move_on_after(60):
        left = plait.remaining()
        print("inside 60 s within 5 s: about", round(left), "s left")
    with plait.move_on_after(1):
        print("inside 1 s within 5 s: about", round(plait.remaining()), "s left")

# %% [markdown]
# ### An hour in a blink: virtual time
#
# Times from the real clock wobble. `plait.testing.run` runs a function on a
# fresh event loop whose clock is *virtual*: it stands still while any task
# can run, and jumps straight to the next deadline when all of them wait. The
# printed times are then exact, and an hour passes in milliseconds.
#
# The kernel's own loop is already running in this thread, and event loops
# do not nest, so we start the fresh one in a worker thread.

# %%
import time
from concurrent.futures import ThreadPoolExecutor

import plait.testing


def in_thread(fn, *args, **kwargs):
    """Call fn in a worker thread, where no event loop runs yet."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


async def a_long_afternoon() -> list[str]:
    notes = []
    with plait.move_on_after(3600):  # one hour
        with plait.move_on_after(600):  # ten minutes
            await plait.sleep(300)
            notes.append(f"t={plait.current_time():g}s: {plait.remaining():g}s left")
            await anyio.sleep_forever()
        notes.append(f"t={plait.current_time():g}s: inner scope expired")
        await anyio.sleep_forever()
    notes.append(f"t={plait.current_time():g}s: outer scope expired")
    return notes


began = time.perf_counter()
print("\n".join(in_thread(plait.testing.run, a_long_afternoon)))
print("an hour of virtual time took under a second:", time.perf_counter() - began < 1)

# %% [markdown]
# ## Shielding, and cleanup that must run
#
# When a task is cancelled, its `finally` blocks run — but any `await` in
# them is a checkpoint inside a cancelled scope, so it raises at once.
# Cleanup that must talk to the outside world (roll back a transaction, say
# goodbye to a server) goes in `plait.shield()`: a shielded scope that outer
# cancellation does not reach. Always give it a deadline of its own, so that
# cleanup cannot hang forever.

# %%
journal: list[str] = []


async def transfer(shielded: bool) -> None:
    try:
        journal.append("transfer: begin")
        await plait.sleep(10)  # cancelled part-way
    finally:
        if shielded:
            with plait.shield(), plait.move_on_after(1):
                await plait.sleep(0.01)  # talk to the database
                journal.append("transfer: rolled back (shielded)")
        else:
            try:
                await plait.sleep(0.01)
                journal.append("transfer: rolled back")
            except cancelled:
                journal.append("transfer: rollback cancelled before it ran!")
                raise


for shielded in (False, True):
    with plait.move_on_after(0.02):
        await transfer(shielded)

print("\n".join(journal))

# %% [markdown]
# Inside the shield the outer deadline does not apply —
# `plait.remaining()` only sees the shield's own:

# %%
with plait.move_on_after(5):
    with plait.shield():
        print("shielded, no deadline of its own:", plait.remaining())
    with plait.shield(), plait.move_on_after(1):
        print("shielded, with its own 1 s:", round(plait.remaining()))

# %% [markdown]
# ## What to remember
#
# - Cancellation arrives at checkpoints; every checkpoint in a cancelled
#   scope raises. Never swallow it: `except Exception` is safe, since neither
#   backend's cancellation is an `Exception`.
# - A deadline belongs to a block; nested deadlines combine, the tighter
#   wins; `plait.remaining()` tells how much time is left.
# - Cleanup that must `await` goes under `plait.shield()` plus a deadline.
#
# **Next:** notebook 3, *Patterns*: gather, race, bounded_map, imap and
# as_completed.
