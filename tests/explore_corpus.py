"""Latent concurrency bugs, each with its fixed twin: the explorer's test corpus.

Each bug is small, realistic code in plain anyio: no ``plait.fuzz_point()``,
no sleep that widens a race window. Each passes when the event loop runs
its tasks in the order asyncio does, and breaks when some task's step comes
later than usual: an invariant check raises ``AssertionError``, or a
deadlock lets a (virtual-time) deadline fire. The fixed twin is the same
code with the bug fixed as one would fix it in review.

Checkpoints stand for real awaits that usually complete at once: a cache
lookup, a log write, a database round trip on an idle connection.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.lowlevel

import plait

io = anyio.lowlevel.checkpoint
"""An await that yields once, as a fast round trip does."""

DEADLINE = 60.0
"""Virtual seconds a scenario may take; a deadlock fails it at once."""


async def io_calls(n: int) -> None:
    """Make *n* fast round trips."""
    for _ in range(n):
        await io()


# 1. Start-order assumption: the publisher assumes that a subscriber started
#    before it has subscribed by the time it publishes; true only while both
#    connect equally fast.


class Bus:
    def __init__(self) -> None:
        self.subscribers: list[list[str]] = []
        self.ready = anyio.Event()


async def start_order(*, fixed: bool) -> None:
    bus = Bus()
    inbox: list[str] = []

    async def subscriber() -> None:
        await io()  # connect to the broker
        bus.subscribers.append(inbox)
        bus.ready.set()

    async def publisher() -> None:
        await io()  # connect to the broker
        if fixed:
            await bus.ready.wait()
        for queue in bus.subscribers:
            queue.append("hello")

    async with anyio.create_task_group() as tg:
        tg.start_soon(subscriber)
        tg.start_soon(publisher)
    assert inbox == ["hello"], f"the subscriber missed the message: {inbox}"


# 2. Lost update: a read, an await, a write computed from the stale read.


class Wallet:
    def __init__(self) -> None:
        self.balance = 0
        self.lock = anyio.Lock()

    async def deposit(self, amount: int, *, fixed: bool) -> None:
        if fixed:
            async with self.lock:
                await self._deposit(amount)
        else:
            await self._deposit(amount)

    async def _deposit(self, amount: int) -> None:
        balance = self.balance
        await io()  # write the audit record
        self.balance = balance + amount


async def lost_update(*, fixed: bool) -> None:
    wallet = Wallet()

    async def customer(amount: int, warmup: int) -> None:
        await io_calls(warmup)  # authenticate
        await wallet.deposit(amount, fixed=fixed)

    async with anyio.create_task_group() as tg:
        tg.start_soon(customer, 10, 0)
        tg.start_soon(customer, 5, 3)
        tg.start_soon(customer, 1, 6)
    assert wallet.balance == 16, f"a deposit was lost: balance {wallet.balance}"


# 3. Lock-order deadlock: two transfers take the same two locks in
#    opposite orders.


class Account:
    def __init__(self, name: str, balance: int) -> None:
        self.name = name
        self.balance = balance
        self.lock = anyio.Lock()


async def transfer(a: Account, b: Account, amount: int, *, fixed: bool) -> None:
    first, second = (a, b) if not fixed or a.name < b.name else (b, a)
    async with first.lock, second.lock:
        a.balance -= amount
        b.balance += amount
        await io()  # append to the ledger


async def lock_order(*, fixed: bool) -> None:
    alice, bob = Account("alice", 100), Account("bob", 100)

    async def later(n: int) -> None:
        await io_calls(n)
        await transfer(bob, alice, 20, fixed=fixed)

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(transfer, alice, bob, 30, fixed=fixed))
            tg.start_soon(later, 2)
    assert alice.balance + bob.balance == 200


# 4. Lost wakeup: the consumer decides to wait, then registers its wake-up
#    after an await; a producer that signals in between signals no one.


class Mailbox:
    def __init__(self) -> None:
        self.items: list[int] = []
        self.waiter: anyio.Event | None = None

    def put(self, item: int) -> None:
        self.items.append(item)
        if self.waiter is not None:
            self.waiter.set()

    async def get(self, *, fixed: bool) -> int:
        while not self.items:
            if fixed:
                self.waiter = anyio.Event()
                await io()  # note that we go to sleep
            else:
                await io()  # note that we go to sleep
                self.waiter = anyio.Event()
            if not fixed or not self.items:
                await self.waiter.wait()
            self.waiter = None
        return self.items.pop(0)


async def lost_wakeup(*, fixed: bool) -> None:
    box = Mailbox()
    got: list[int] = []

    async def producer() -> None:
        await io_calls(3)  # compute the item
        box.put(1)

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            got.append(await box.get(fixed=fixed))
    assert got == [1]


# 5. Duplicate refresh: two callers find the token expired and both refresh.


class TokenCache:
    def __init__(self) -> None:
        self.token: str | None = None
        self.refreshes = 0
        self.refreshing: anyio.Event | None = None

    async def get(self, *, fixed: bool) -> str:
        if fixed:
            while self.token is None:
                if self.refreshing is not None:
                    await self.refreshing.wait()
                    continue
                self.refreshing = anyio.Event()
                try:
                    self.token = await self._refresh()
                finally:
                    self.refreshing.set()
                    self.refreshing = None
            return self.token
        if self.token is None:
            self.token = await self._refresh()
        return self.token

    async def _refresh(self) -> str:
        self.refreshes += 1
        await io_calls(2)  # POST /oauth/token
        return f"token-{self.refreshes}"


async def duplicate_refresh(*, fixed: bool) -> None:
    cache = TokenCache()

    async def request(warmup: int) -> None:
        await io_calls(warmup)  # build the request
        await cache.get(fixed=fixed)

    async with anyio.create_task_group() as tg:
        tg.start_soon(request, 0)
        tg.start_soon(request, 3)
    assert cache.refreshes == 1, f"the token was refreshed {cache.refreshes} times"


# 6. A hand-rolled limiter goes over its limit: a released slot is handed to
#    the next waiter, but a newcomer can take it before that waiter runs.


class Limiter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.peak = 0
        self.waiters: list[anyio.Event] = []

    async def acquire(self, *, fixed: bool) -> None:
        if self.active >= self.limit or (fixed and self.waiters):
            woken = anyio.Event()
            self.waiters.append(woken)
            await woken.wait()
            if fixed:
                return  # the releaser handed its slot over: active unchanged
        self.active += 1
        self.peak = max(self.peak, self.active)

    def release(self, *, fixed: bool) -> None:
        if self.waiters:
            self.waiters.pop(0).set()
            if fixed:
                return
        self.active -= 1


async def over_limit(*, fixed: bool) -> None:
    limiter = Limiter(1)

    async def job(warmup: int) -> None:
        await io_calls(warmup)
        await limiter.acquire(fixed=fixed)
        try:
            await io_calls(2)  # the call the limiter protects
        finally:
            limiter.release(fixed=fixed)

    async with anyio.create_task_group() as tg:
        for warmup in (0, 0, 1, 3):
            tg.start_soon(job, warmup)
    assert limiter.peak <= 1, f"{limiter.peak} jobs ran at once under a limit of 1"


# 7. Cancellation between acquire and try: a slot taken, then an await
#    before the try/finally that gives it back.


async def cancel_between_acquire_and_try(*, fixed: bool) -> None:
    pool = anyio.Semaphore(2)

    async def job(n: int) -> None:
        if fixed:
            async with pool:
                await io()  # log "job started"
                await io()  # the work
            return
        await pool.acquire()
        await io()  # log "job started"
        try:
            await io()  # the work
        finally:
            pool.release()

    async def watchdog(tg: anyio.abc.TaskGroup) -> None:
        await io_calls(5)
        tg.cancel_scope.cancel()  # shutting down

    async with anyio.create_task_group() as tg:
        tg.start_soon(job, 0)
        tg.start_soon(job, 1)
        tg.start_soon(watchdog, tg)
    assert pool.value == 2, f"{2 - pool.value} pool slot(s) leaked"


# 8. A shared async generator pulled by two workers: a pull while the other
#    worker's pull is suspended inside the generator fails.


async def pages(n: int) -> AsyncGenerator[int]:
    for item in range(n):
        if item % 5 == 4:
            await io()  # fetch the next page
        yield item


async def shared_generator(*, fixed: bool) -> None:
    source = pages(8)
    pull = anyio.Lock()
    done: list[int] = []

    async def worker(warmup: int) -> None:
        await io_calls(warmup)
        while True:
            try:
                if fixed:
                    async with pull:
                        item = await anext(source)
                else:
                    item = await anext(source)
            except StopAsyncIteration:
                return
            await io_calls(2)  # parse it, store it
            done.append(item)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker, 0)
            tg.start_soon(worker, 2)
    finally:
        await source.aclose()
    assert sorted(done) == list(range(8))


# 9. Check-then-act inside a bounded_map fn: two calls for the same key both
#    miss the cache and both load it.


async def cache_stampede(*, fixed: bool) -> None:
    cache: dict[str, str] = {}
    loading: dict[str, anyio.Event] = {}
    loads: list[str] = []

    async def fetch(key: str) -> str:
        if fixed:
            while key not in cache:
                if key in loading:
                    await loading[key].wait()
                    continue
                loading[key] = anyio.Event()
                try:
                    cache[key] = await load(key)
                finally:
                    loading.pop(key).set()
            return cache[key]
        if key not in cache:
            cache[key] = await load(key)
        return cache[key]

    async def load(key: str) -> str:
        loads.append(key)
        await io()  # SELECT ...
        return key.upper()

    results = await plait.bounded_map(fetch, ["a", "b", "c", "a"], limit=3)
    assert results == ["A", "B", "C", "A"]
    assert sorted(loads) == ["a", "b", "c"], f"loaded {sorted(loads)}"


# 10. A stale snapshot written back: an updater copies the settings, awaits,
#     and writes its whole copy back over another updater's change.


class Settings:
    def __init__(self) -> None:
        self.values = {"theme": "light", "lang": "en"}
        self.lock = anyio.Lock()

    async def update(self, key: str, value: str, *, fixed: bool) -> None:
        if fixed:
            async with self.lock:
                await self._update(key, value)
        else:
            await self._update(key, value)

    async def _update(self, key: str, value: str) -> None:
        snapshot = dict(self.values)
        snapshot[key] = value
        await io()  # validate against the schema
        self.values = snapshot


async def stale_snapshot(*, fixed: bool) -> None:
    settings = Settings()

    async def change(key: str, value: str, warmup: int) -> None:
        await io_calls(warmup)
        await settings.update(key, value, fixed=fixed)

    async with anyio.create_task_group() as tg:
        tg.start_soon(change, "theme", "dark", 0)
        tg.start_soon(change, "lang", "fr", 2)
    assert settings.values == {"theme": "dark", "lang": "fr"}, settings.values


@dataclass(frozen=True)
class Bug:
    """One bug of the corpus: its kind, and the scenario with a switch to fix it."""

    name: str
    kind: str
    scenario: Callable[..., Awaitable[None]]
    shows_as: str = "AssertionError"
    """How the bug shows: the invariant check, a deadline, or Python's error."""

    def is_failure(self, error: BaseException) -> bool:
        """Whether *error* is this bug showing (alone or in a task group's group)."""
        if isinstance(error, BaseExceptionGroup):
            return all(self.is_failure(inner) for inner in error.exceptions)
        return f"{type(error).__name__}: {error}".startswith(self.shows_as)

    async def buggy(self) -> None:
        await self.scenario(fixed=False)

    async def fixed(self) -> None:
        await self.scenario(fixed=True)


CORPUS = [
    Bug("start_order", "start-order assumption", start_order),
    Bug("lost_update", "lost update", lost_update),
    Bug("lock_order", "lock-order deadlock", lock_order, "TimeoutError"),
    Bug("lost_wakeup", "lost wakeup", lost_wakeup, "TimeoutError"),
    Bug("duplicate_refresh", "duplicate refresh", duplicate_refresh),
    Bug("over_limit", "hand-rolled limiter over its limit", over_limit),
    Bug(
        "cancel_window",
        "cancellation between acquire and try",
        cancel_between_acquire_and_try,
    ),
    Bug(
        "shared_generator",
        "shared async generator, two pullers",
        shared_generator,
        "RuntimeError: anext(): asynchronous generator is already running",
    ),
    Bug("cache_stampede", "check-then-act in a bounded_map fn", cache_stampede),
    Bug("stale_snapshot", "stale snapshot written back", stale_snapshot),
]
