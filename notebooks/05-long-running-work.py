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
# # 5. Long-running work
#
# Services that should run until the program stops — a connection pool, an
# API server, a cache refresher — need someone to own them: to restart them
# when they crash, to say how healthy they are, and to stop them in the
# right order. This notebook covers:
#
# 1. a `Supervisor` running a set of services, with restarts and backoff;
# 2. health stats;
# 3. a graceful shutdown in priority order;
# 4. giving up when a service keeps failing;
# 5. tracked background jobs (`TrackedBackend`);
# 6. periodic jobs (`every`, `Scheduler`).
#
# Restart backoffs and grace periods are seconds long, so everything here
# runs on virtual time (see notebook 6): `clocked(main)` runs `main` on a
# fresh event loop in a worker thread, whose clock jumps ahead whenever every
# task waits. The kernel's own loop is busy in this thread.

# %%
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

import anyio

import plait
import plait.testing


def clocked(fn, *args):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(plait.testing.run, fn, *args).result()


class Brief(logging.Formatter):
    """One line per record: the tracebacks would drown this notebook."""

    def formatException(self, ei) -> str:
        return ""


# plait logs on the "plait" logger; show its warnings here, briefly.
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(Brief("%(levelname)s %(name)s: %(message)s"))
logging.getLogger("plait").addHandler(handler)
logging.getLogger("plait").propagate = False

# %% [markdown]
# ## 1. A supervised set of services
#
# A service is an async function. It is *ready* when it calls
# `task_status.started(value)` (if it takes `task_status`), and it can take
# `stopping`, an `anyio.Event` the supervisor sets when it asks the service
# to stop. `sup.start(fn, ...)` returns once the service is ready, with the
# value it reported, so services start in dependency order.
#
# Here: a database, an API that crashes three times before it settles, and a
# cache refresher that runs every second (`plait.every` is itself a service:
# it takes `task_status` and `stopping`). An observer records what the
# supervisor does.


# %%
class Recorder(plait.SupervisorObserver):
    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []

    def on_ready(self, event: plait.ServiceEvent) -> None:
        self.events.append((event.time, event.service, "ready"))

    def on_failure(self, event: plait.ServiceEvent) -> None:
        self.events.append((event.time, event.service, f"failed: {event.error!r}"))

    def on_restart(self, event: plait.ServiceEvent) -> None:
        self.events.append((event.time, event.service, f"restart in {event.delay} s"))

    def on_exit(self, event: plait.ServiceEvent) -> None:
        self.events.append((event.time, event.service, f"exit ({event.outcome})"))


async def database(*, stopping: anyio.Event, task_status=plait.TASK_STATUS_IGNORED):
    await plait.sleep(0.5)  # open the pool
    task_status.started("postgresql://db/app")
    await stopping.wait()
    await plait.sleep(0.2)  # flush and close the pool


crashes = 0


async def api(
    dsn: str, *, stopping: anyio.Event, task_status=plait.TASK_STATUS_IGNORED
):
    global crashes
    await plait.sleep(0.1)
    task_status.started(8080)
    if crashes < 3:
        await plait.sleep(2)
        crashes += 1
        raise ConnectionError(f"lost {dsn} (crash {crashes})")
    await stopping.wait()


async def refresh_cache() -> None:
    await plait.sleep(0.05)


async def main():
    recorder = Recorder()
    supervisor = plait.Supervisor(
        observers=[recorder], backoff=0.5, max_restarts=5, period=30, jitter=0
    )
    async with supervisor:
        dsn = await supervisor.start(database, name="db", priority=10)
        await supervisor.start(api, dsn, name="api", depends_on="db")
        await supervisor.start(plait.every, 1.0, refresh_cache, name="refresh")
        await plait.sleep(12)
        stats = supervisor.stats()
        report = await supervisor.shutdown()
    return recorder.events, stats, report


events, stats, report = clocked(main)
for time, service, what in events:
    print(f"{time:5.1f} s  {service:8} {what}")

# %% [markdown]
# Each crash of the API was followed by a restart after a backoff that
# doubles (0.5, 1, 2 s) while the crashes keep coming within the supervisor's
# `period`. The database and the refresher were not touched: the default
# strategy is `one_for_one`. (`one_for_all` restarts every service when one
# must restart; `rest_for_one` restarts the ones started after it.)

# %%
import matplotlib.pyplot as plt

rows = {"db": 0, "api": 1, "refresh": 2}
fig, ax = plt.subplots(figsize=(6.5, 2.2), dpi=72)
up: dict[str, float] = {}
for time, service, what in events:
    if what == "ready":
        up[service] = time
    elif what.startswith("exit"):
        start = up.pop(service)
        ax.barh(rows[service], time - start, left=start, color="tab:green")
    if what.startswith("failed"):
        ax.plot(time, rows[service], "x", color="tab:red", markersize=10, mew=2)
ax.set(yticks=list(rows.values()), yticklabels=list(rows), xlabel="virtual seconds")
ax.set_title("services up (green) and crashes (red x)")
ax.invert_yaxis()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Health
#
# `supervisor.stats()` returns a `ServiceStats` snapshot per service: state,
# runs, restarts, errors, uptime of the current run, the last error and when
# it happened. This is what a health endpoint or a metrics exporter reads.

# %%
for name, s in stats.items():
    print(
        f"{name:8} {s.state:8} runs={s.runs} restarts={s.restarts} "
        f"errors={s.errors} uptime={s.uptime:.1f}s last_error={s.last_error!r}"
    )

# %% [markdown]
# ## 3. Graceful shutdown, in priority order
#
# `shutdown()` (or leaving the `async with` block) stops services tier by
# tier, lowest priority first; within a tier, a service stops before those it
# depends on. Each service of a tier has its `stopping` event set, and is
# cancelled if it has not finished within its grace period. The report says
# what happened:

# %%
print("tiers:    ", report.tiers)
print("stopped:  ", report.stopped)
print("cancelled:", report.cancelled)
print("clean:    ", report.clean)

# %% [markdown]
# A service that ignores `stopping` is cancelled when its grace runs out, so
# a shutdown always ends:


# %%
async def stubborn() -> None:
    await anyio.sleep_forever()  # never looks at stopping


async def polite(*, stopping: anyio.Event) -> None:
    await stopping.wait()


async def main():
    async with plait.Supervisor(observers=(), grace=3) as supervisor:
        await supervisor.start(polite, name="web", priority=0)
        await supervisor.start(stubborn, name="worker", priority=5)
        await supervisor.start(polite, name="metrics", priority=9)
        start = plait.current_time()
        report = await supervisor.shutdown()
        return report, plait.current_time() - start


report, took = clocked(main)
print(report)
print(f"shutdown took {took} s: the worker used up its 3 s of grace")

# %% [markdown]
# ## 4. Giving up
#
# A service that keeps failing is not restarted forever: more than
# `max_restarts` restarts within `period` seconds and the supervisor gives
# up. It stops everything and raises an `ExceptionGroup` of the failures
# from its `async with` block, so the failure reaches whoever owns the
# supervisor — in a real program, the process exits and *its* supervisor
# (systemd, Kubernetes) takes over.


# %%
async def hopeless() -> None:
    await plait.sleep(0.1)
    raise RuntimeError("config file missing")


async def main():
    outcome = []
    try:
        async with plait.Supervisor(max_restarts=3, period=10, backoff=0.1) as sup:
            await sup.start(hopeless)
            await anyio.sleep_forever()
    except* RuntimeError as group:
        outcome.append(f"gave up at t={plait.current_time():.1f} s: {group!r}")
    return outcome


print(*clocked(main))

# %% [markdown]
# (The warnings above come from the default `LoggingObserver`, on the
# `plait` logger.)
#
# ## 5. Background jobs
#
# Some work should not hold up the request that asked for it: sending an
# email, building a report. A `TrackedBackend` runs each submitted job as a
# task of its own task group — so the jobs still have an owner — with a
# retry policy per job type and an optional concurrency limit. `submit`
# returns at once; leaving the block *drains* the backend: it waits up to
# `drain_timeout` for jobs under way, then cancels the rest. A job's failure
# never reaches the submitter; it is logged and counted.

# %%
handlers = plait.JobHandlers()
sent = []


@handlers.register(
    "email.send", retry=plait.RetryPolicy(attempts=3, base_delay=1, jitter=0)
)
async def send_email(job: plait.Job) -> None:
    await plait.sleep(0.5)
    to = job.payload["to"]
    if to.startswith("bounce"):
        raise ConnectionError("mailbox unavailable")
    if to.startswith("flaky") and job.attempt < 2:
        raise ConnectionError("SMTP timeout")
    sent.append(f"{plait.current_time():.1f} s: {to} (attempt {job.attempt})")


@handlers.register("report.build")
async def build_report(job: plait.Job) -> None:
    await plait.sleep(600)  # too slow for the drain timeout


async def main():
    backend = plait.TrackedBackend(handlers, limit=2, drain_timeout=5)
    async with backend:
        for to in ["ada@", "flaky@", "bounce@", "grace@"]:
            await backend.submit(plait.Job("email.send", {"to": to + "example.org"}))
        await backend.submit(plait.Job("report.build", {"month": "2026-10"}))
        await plait.sleep(3)
        during = backend.stats()
    return during, backend.stats(), backend.report


during, after, drain = clocked(main)
print("\n".join(sent))
print("at 3 s:   ", during)
print("after:    ", after)
print(
    "drained:  ",
    drain.finished,
    "finished during the drain,",
    len(drain.cancelled),
    "cancelled",
)

# %% [markdown]
# `InlineBackend` runs each job inside `submit` (for tests and command-line
# tools), and `DurableBackend` stores jobs in SQLite or PostgreSQL so they
# survive a restart; all three share the `TaskBackend` interface, so code
# that submits jobs does not care which one it gets. See the background-jobs
# guide.

# %% [markdown]
# ## 6. Periodic jobs
#
# `plait.every(interval, fn)` calls `fn` on a drift-free grid: at `start`,
# `start + interval`, ..., however long each run takes. Ticks that pass while
# a run is still going are skipped (or caught up with `missed="catch_up"`).
# A `Scheduler` runs several periodic jobs together, optionally strictly one
# at a time (`sequential=True`), and stops them together, gracefully.


# %%
async def main():
    log = []

    async def job(name: str, seconds: float) -> None:
        log.append(f"{plait.current_time():4.1f} s: {name}")
        await plait.sleep(seconds)

    async with plait.Scheduler(sequential=True) as scheduler:
        scheduler.every(1.0, job, "sync inbox", 0.2, name="inbox")
        scheduler.every(2.5, job, "rebuild index", 1.5, name="index")
        await plait.sleep(6)
    return log, scheduler.stats()


log, job_stats = clocked(main)
print("\n".join(log))
for s in job_stats:
    print(s)

# %% [markdown]
# In sequential mode no two runs overlap: the inbox job waited its turn
# while the index rebuilt, and the ticks that passed meanwhile count as
# missed; it stays on its grid (2.0 s, 4.0 s) otherwise.
#
# Under a supervisor, a scheduler is one more service:
# `await supervisor.start(scheduler.run)`, and the supervisor's shutdown
# stops it gracefully. `plait.run_until_signal(supervisor)` waits for
# SIGINT or SIGTERM and then shuts the supervisor down: the last line of a
# long-running program's `main`.
