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
# # 8. Seeing what runs
#
# A crawl of 200,000 URLs has been running for ten minutes. How far along is
# it? And when it stops moving, what is it waiting for? This notebook covers:
#
# 1. a live progress bar over a `bounded_map`, with retries counted;
# 2. the task tree of a running program, from outside (`plait tree PID`);
# 3. a stuck program: one item that never answers, then an event loop
#    blocked by a synchronous call;
# 4. the fix.

# %%
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import anyio

import plait

# %% [markdown]
# ## 1. A live progress bar
#
# `bounded_map`, `imap` and `as_completed` take an `observer`. `TqdmObserver`
# draws a tqdm bar: the total is `len(items)`, the bar counts items as they
# end, and its postfix counts failures and retries. (The bar is drawn on
# stdout here, because a notebook cell treats stderr as an error.)

# %%
attempts: dict[int, int] = {}


async def fetch(n: int) -> int:
    attempts[n] = attempts.get(n, 0) + 1
    await anyio.sleep(0.002)
    if n % 50 == 7 and attempts[n] == 1:
        raise ConnectionError(f"reset while fetching {n}")
    return n * n


bar = plait.TqdmObserver(desc="crawl", file=sys.stdout, ascii=True, mininterval=0.5)
policy = plait.RetryPolicy(attempts=3, base_delay=0.01)
results = await plait.bounded_map(
    fetch, range(1000), limit=50, retry=policy, observer=bar
)
print(len(results), "results;", sum(attempts.values()) - 1000, "retries")

# %% [markdown]
# ## 2. A program, seen from outside
#
# `task_tree()` shows the tasks of the loop it runs in. To look at a running
# program from a shell, the program runs a `TaskMonitor`; then `kill -USR1
# PID` prints its tree to its stderr, and `plait tree PID` prints it in the
# shell (through a private Unix socket, same user only).
#
# Here is a crawler with a bug: it holds one of two tokens while it fetches,
# and on one error path it forgets to give its token back. Twice is enough:
# every later fetch waits for a token forever, and the crawl stops moving.
# We start it as a real process and ask it what it is doing.

# %%
STUCK = """
import anyio, plait

tokens = anyio.Semaphore(2)

async def fetch(n: int) -> int:
    await tokens.acquire()
    await anyio.sleep(0.01)
    if n % 7 == 5:
        return -1  # the bug: this early return never gives the token back
    tokens.release()
    return n

async def crawl() -> None:
    await plait.bounded_map(fetch, range(100), limit=4)

async def main() -> None:
    async with plait.TaskMonitor(blocked_after=1.0):
        async with plait.Supervisor(observers=(), name="app", grace=0) as sup:
            await sup.start(crawl, name="crawler")
            print("started", flush=True)
            await anyio.sleep_forever()

plait.run(main)
"""

workdir = Path(tempfile.mkdtemp())


def start(source: str) -> subprocess.Popen[str]:
    path = workdir / "crawler.py"
    path.write_text(textwrap.dedent(source))
    process = subprocess.Popen(
        [sys.executable, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "started\n"
    return process


def plait_tree(pid: int) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "plait", "tree", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    print(shown.stdout or shown.stderr)


crawler = start(STUCK)
time.sleep(1)  # let it get stuck
plait_tree(crawler.pid)

# %% [markdown]
# The tree says it all: the service `crawler` runs a `bounded_map` whose four
# workers are on items 13 to 16, and each waits at `await tokens.acquire()`
# in `fetch`. Items 5 and 12 are gone: they finished, keeping their tokens.
# The labels cost the program nothing until someone looks: they are read
# off the frames of plait's workers when the snapshot is taken.

# %%
crawler.kill()
returncode = crawler.wait()

# %% [markdown]
# ## 3. An event loop that does not answer
#
# The other way a program stops moving: a synchronous call blocks the event
# loop itself, here a `time.sleep` hidden in a helper (in real code: a
# `requests.get`, a blocking database driver, a long computation). No task
# runs, so no task can take a snapshot; the monitor's helper thread notices
# that the loop did not answer within `blocked_after` seconds, and shows the
# Python stack of the loop's thread instead:

# %%
BLOCKED = """
import time, anyio, plait

def lookup(n: int) -> int:
    time.sleep(3600)   # a synchronous call: the whole event loop waits
    return n

async def fetch(n: int) -> int:
    await anyio.sleep(0.01)
    return lookup(n) if n == 5 else n

async def main() -> None:
    async with plait.TaskMonitor(blocked_after=1.0):
        print("started", flush=True)
        await plait.bounded_map(fetch, range(100), limit=4)

plait.run(main)
"""

crawler = start(BLOCKED)
time.sleep(0.5)
plait_tree(crawler.pid)
crawler.kill()
returncode = crawler.wait()

# %% [markdown]
# The stack ends in `lookup`, at `time.sleep(3600)`, called from `fetch`:
# that is the line to fix.
#
# ## 4. The fix
#
# Give the token back on every path (`async with tokens:`), and move the
# synchronous call off the event loop (`anyio.to_thread.run_sync`), with a
# timeout per item so that one slow lookup cannot hold up the crawl. Run
# with a progress bar, it finishes:

# %%
tokens = anyio.Semaphore(2)


def lookup(n: int) -> int:
    time.sleep(0.001)  # still synchronous, but now in a worker thread
    return n


async def fetch_fixed(n: int) -> int:
    async with tokens:
        await anyio.sleep(0)
        if n % 7 == 5:
            return -1  # an early return now gives the token back
        return await anyio.to_thread.run_sync(lookup, n)


bar = plait.TqdmObserver(desc="fixed", file=sys.stdout, ascii=True, mininterval=0.5)
done = await plait.bounded_map(
    fetch_fixed, range(100), limit=4, timeout=5, observer=bar
)
print(sum(1 for n in done if n >= 0), "pages fetched")

# %% [markdown]
# ## In short
#
# - `plait.task_tree()` in the program, `TaskMonitor` + `plait tree PID` or
#   `kill -USR1 PID` from outside: what runs, labelled with the pattern,
#   item, attempt, service or job, and where each task waits.
# - A blocked event loop is reported as such, with the stack that blocks it.
# - `observer=` on `bounded_map`, `imap` and `as_completed`: progress bars
#   (`TqdmObserver`, `RichObserver`) or your own `plait.Observer`.
