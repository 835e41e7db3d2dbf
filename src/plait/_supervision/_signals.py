"""Running a supervisor until the process is asked to stop."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterable

from anyio import TASK_STATUS_IGNORED, create_task_group, open_signal_receiver
from anyio.abc import TaskStatus

from .._core._checks import check_optional_seconds, fail
from ._shutdown import ShutdownReport
from ._supervisor import Supervisor

logger = logging.getLogger("plait")


async def run_until_signal(
    supervisor: Supervisor,
    *,
    signals: Iterable[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
    grace: float | None = None,
    task_status: TaskStatus[None] = TASK_STATUS_IGNORED,
) -> ShutdownReport:
    """Wait for SIGINT or SIGTERM, then shut *supervisor* down gracefully.

    The signals are received with anyio's signal receiver, so the first one
    does not raise ``KeyboardInterrupt``: it starts an orderly shutdown
    (tier by tier, see ``Supervisor.shutdown``). Further signals that arrive
    during the shutdown are absorbed; the grace periods bound how long it
    takes. Call it from the main thread, inside the supervisor's block.

    It also returns, with the shutdown's report, when the supervisor shuts
    down without a signal (a service called ``shutdown``, or it gave up), so
    that nothing is left waiting for a signal that no longer matters.

    Args:
        supervisor: an entered ``Supervisor``.
        signals: the signals to wait for; default SIGINT and SIGTERM.
        grace: passed to ``Supervisor.shutdown``.
        task_status: reports readiness once the signals are being received
            (``await tg.start(plait.run_until_signal, sup)``), so that a
            signal sent after that point is never missed.

    Returns:
        The shutdown's ``ShutdownReport``.

    Example:
        >>> import anyio, os, signal, plait
        >>> async def main() -> tuple[str, ...]:
        ...     async def worker(stopping: anyio.Event) -> None:
        ...         await stopping.wait()
        ...     async with plait.Supervisor(observers=()) as sup:
        ...         await sup.start(worker)
        ...         async def send() -> None:
        ...             await anyio.sleep(0.05)
        ...             os.kill(os.getpid(), signal.SIGTERM)
        ...         async with anyio.create_task_group() as tg:
        ...             tg.start_soon(send)
        ...             report = await plait.run_until_signal(sup)
        ...     return report.stopped
        >>> anyio.run(main)
        ('worker',)
    """
    wanted = tuple(signals)
    call = "run_until_signal()"
    if not wanted:
        fail(call, "signals", "at least one signal", signals, error=ValueError)
    for sig in wanted:
        if not isinstance(sig, int):
            fail(call, "signals", "signal numbers", sig, error=TypeError)
    if not isinstance(supervisor, Supervisor):
        fail(call, "supervisor", "a plait.Supervisor", supervisor, error=TypeError)
    check_optional_seconds(call, "grace", grace, finite=False)
    with open_signal_receiver(*wanted) as received:
        task_status.started()
        async with create_task_group() as tg:

            async def stop_waiting_once_closed() -> None:
                await supervisor.wait_closed()
                tg.cancel_scope.cancel()

            tg.start_soon(stop_waiting_once_closed)
            async for signum in received:
                logger.info(
                    "plait: %s received; shutting down %r",
                    signal.Signals(signum).name,
                    supervisor.name,
                )
                break
            tg.cancel_scope.cancel()
        return await supervisor.shutdown(grace=grace)
