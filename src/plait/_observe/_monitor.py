"""``TaskMonitor``: the task tree on a signal, and to ``plait tree PID``.

Two helper threads do the work, so that the monitor still answers when the
event loop is stuck in a call that never returns. The *server* thread waits
for the signal (through a socket pair its handler writes to) and for
clients. The *courier* thread asks the loop for a snapshot with
``anyio.from_thread.run_sync``, which waits for as long as the loop takes;
the server waits for the courier at most ``blocked_after`` seconds, and
otherwise answers that the loop is blocked, with the Python stack of the
loop's thread (``sys._current_frames``, read from the server thread).
Requests that come while a snapshot is pending share it, so a stuck loop
holds one courier, never a thread per request.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import selectors
import signal as signals
import socket as sockets
import stat
import sys
import threading
import traceback
from concurrent.futures import Future
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from anyio import CancelScope, from_thread, to_thread
from anyio.lowlevel import EventLoopToken, current_token

from .._core._checks import check_seconds, fail
from .._core._event_loop import current_backend
from ._render import describe_blocked
from ._runtime import (
    check_socket_length,
    has_unix_sockets,
    peer_allowed,
    process_info,
    read_request,
    socket_path,
)
from ._tree import TaskTree, snapshot_between_steps
from ._wakeup import claim_wakeup_fd, release_wakeup_fd

_CALL = "TaskMonitor()"
_active_lock = threading.Lock()
_active: TaskMonitor | None = None


class TaskMonitor:
    """Let this program show its task tree on demand: on a signal, and from outside.

    Inside ``async with plait.TaskMonitor():`` the program answers two
    requests, read-only, without a network port:

    - the signal (``SIGUSR1`` by default: ``kill -USR1 PID``) prints the task
      tree to stderr;
    - ``plait tree PID``, run in a shell by the same user, prints it there,
      through a Unix socket the monitor listens on in a per-user runtime
      directory (``$XDG_RUNTIME_DIR/plait/PID.sock``, else
      ``<tempdir>/plait-<uid>/PID.sock``; the directory mode 0700, the socket
      0600).

    If the event loop does not answer within *blocked_after* seconds, because
    something blocks it (a synchronous call that never returns), both say
    so and show the Python stack of the loop's thread instead, which names
    the call that blocks it. A blocked loop is found only when asked; the
    monitor costs the running program nothing between requests (no timer,
    no task waking up).

    Where the event loop has no signal wakeup fd (asyncio without signal
    handlers of its own), the monitor sets one while it runs, so that the
    signal reaches it even while the loop sleeps. (asyncio clears the fd
    when its last signal handler is removed; from then on until the monitor
    is entered again, a signal landing on another thread is dumped when the
    loop next wakes.) Leaving the block restores the previous handler of
    the signal (and the wakeup fd), stops the monitor's two helper threads
    and removes the socket. One monitor runs per
    process at a time. Its helper threads are not tasks: the tree it shows
    holds the program's tasks only.

    Args:
        signal: the signal that prints the tree (a number, a
            ``signal.Signals`` or a name such as ``"SIGUSR2"``), or ``None``
            for none. Default ``"SIGUSR1"``.
        socket: ``True`` (default) to serve ``plait tree PID``, ``False``
            for no socket, or a path to listen on instead of the runtime
            directory (``plait tree --socket PATH`` reaches it).
        blocked_after: seconds the event loop may take to answer before it
            is reported blocked (default 2.0).

    Raises:
        NotImplementedError: at once, when the platform has no such signal
            (Windows has no SIGUSR1) or no Unix sockets; pass
            ``signal=None`` or ``socket=False``.
        RuntimeError: on entry, when the signal is asked for but the event
            loop does not run in the main thread (Python sets signal
            handlers only there), another monitor runs in this process, or
            the runtime directory is not private to this user.

    Example:
        >>> import anyio, plait
        >>> async def main() -> bool:
        ...     async with plait.TaskMonitor(signal=None) as monitor:
        ...         listening = monitor.socket_path is not None
        ...     return listening and monitor.socket_path is None
        >>> anyio.run(main)
        True
    """

    def __init__(
        self,
        *,
        signal: signals.Signals | int | str | None = "SIGUSR1",
        socket: bool | str | os.PathLike[str] = True,
        blocked_after: float = 2.0,
    ) -> None:
        self.signal: int | None = _resolve_signal(signal)
        self.blocked_after: float = check_seconds(
            _CALL, "blocked_after", blocked_after, positive=True
        )
        if not isinstance(socket, bool | str | os.PathLike):
            fail(_CALL, "socket", "a bool or a path", socket, error=TypeError)
        if socket is not False and not has_unix_sockets():
            raise NotImplementedError(
                "TaskMonitor(): this platform has no Unix sockets, so `plait "
                "tree PID` cannot reach the program; pass socket=False and use "
                "the signal dump"
            )
        self._socket_wanted = socket
        self.socket_path: Path | None = None
        """Where the monitor listens while it runs (``None`` otherwise)."""
        self._entered = False
        self._token: EventLoopToken | None = None
        self._loop_thread = 0
        self._backend = ""
        self._listener: sockets.socket | None = None
        self._wake_r: sockets.socket | None = None
        self._wake_w: sockets.socket | None = None
        self._threads: list[threading.Thread] = []
        self._orders: queue.SimpleQueue[Future[TaskTree] | None] = queue.SimpleQueue()
        self._pending: Future[TaskTree] | None = None
        self._previous_handler: Any = None
        self._owns_wakeup_fd = False

    async def __aenter__(self) -> Self:
        global _active
        if self._entered:
            raise RuntimeError("a TaskMonitor can be entered only once; make a new one")
        self._entered = True
        if self.signal is not None and (
            threading.current_thread() is not threading.main_thread()
        ):
            raise RuntimeError(
                "TaskMonitor(): Python sets signal handlers only in the main "
                "thread, and this event loop runs in another; pass signal=None "
                "and use `plait tree PID`"
            )
        with _active_lock:
            if _active is not None:
                raise RuntimeError(
                    "TaskMonitor(): a monitor already runs in this process"
                )
            _active = self
        try:
            self._token = current_token()
            self._loop_thread = threading.get_ident()
            self._backend = current_backend()
            if self._socket_wanted is not False:
                self._listener = self._listen()
            self._wake_r, self._wake_w = sockets.socketpair()
            self._wake_w.setblocking(False)
            if self.signal is not None:
                self._previous_handler = signals.signal(self.signal, self._on_signal)
                # Before the server reads the socket pair: see _wakeup.
                self._owns_wakeup_fd = claim_wakeup_fd(self._wake_w, self._wake_r)
            for target in (self._serve, self._fetch):
                thread = threading.Thread(
                    target=target, name="plait.monitor", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        except BaseException:
            with CancelScope(shield=True):
                await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with CancelScope(shield=True):
            await self._stop()

    async def _stop(self) -> None:
        global _active
        try:
            if self._previous_handler is not None:
                signals.signal(self.signal, self._previous_handler)  # type: ignore[arg-type]
                self._previous_handler = None
            self._wake(b"q")
            self._orders.put(None)
            for thread in self._threads:
                # In a worker thread: the courier may need this loop to finish.
                await to_thread.run_sync(thread.join)
        finally:
            wake_w, wake_r = self._wake_w, self._wake_r
            if self._owns_wakeup_fd and wake_w is not None and wake_r is not None:
                release_wakeup_fd(wake_w, wake_r)  # before the socket closes
                self._owns_wakeup_fd = False
            for conn in (self._listener, self._wake_r, self._wake_w):
                if conn is not None:
                    conn.close()
            if self.socket_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.socket_path.unlink()
                self.socket_path = None
            with _active_lock:
                if _active is self:
                    _active = None

    def _listen(self) -> sockets.socket:
        wanted = self._socket_wanted
        path = (
            socket_path(os.getpid(), create=True)
            if wanted is True
            else Path(os.fspath(wanted))  # type: ignore[arg-type]
        )
        check_socket_length(path)
        _remove_stale(path)
        listener = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        try:
            listener.bind(str(path))
            os.chmod(path, 0o600)
            listener.listen(8)
        except BaseException:
            listener.close()
            raise
        self.socket_path = path
        return listener

    # -- the helper threads --------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._wake(b"d")

    def _wake(self, what: bytes) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):  # a flood of signals: one will do
                self._wake_w.send(what)

    def _fetch(self) -> None:
        """The courier: take each snapshot ordered, however long the loop takes."""
        assert self._token is not None
        while (order := self._orders.get()) is not None:
            try:
                tree = from_thread.run_sync(snapshot_between_steps, token=self._token)
            except BaseException as exc:  # the loop ended, or the snapshot failed
                order.set_exception(exc)
            else:
                order.set_result(tree)

    def _serve(self) -> None:
        """The server: dump on the signal, answer clients, until told to stop."""
        assert self._wake_r is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            if self._listener is not None:
                selector.register(self._listener, selectors.EVENT_READ, "client")
            # While the monitor holds the wakeup fd, a signal comes twice: as
            # its number, written by Python's C-level handler as it lands, and
            # as "d", from the handler once the main thread runs it (which it
            # may do late). Either may come first, or be dropped on a flood;
            # each batch that puts either count ahead gets one dump.
            landed = handled = dumped = 0
            while True:
                for key, _ in selector.select():
                    if key.data == "client":
                        self._serve_client()
                        continue
                    got = self._wake_r.recv(256)
                    if b"q" in got:
                        return
                    if self.signal is not None:
                        landed += got.count(self.signal)
                    handled += got.count(b"d")
                    if max(landed, handled) > dumped:
                        dumped = max(landed, handled)
                        self._dump()

    def _dump(self) -> None:
        try:
            text = answer_text(self._answer())
        except Exception as exc:  # the server must go on serving
            text = f"plait: the task monitor could not take a snapshot: {exc!r}"
        assert self.signal is not None
        name = signals.Signals(self.signal).name
        print(f"plait task tree ({name}):\n{text}", file=sys.stderr, flush=True)

    def _serve_client(self) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5.0)
            try:
                if not peer_allowed(conn):
                    return
                request = read_request(conn)
                if request == "info":
                    answer = process_info(self._backend)
                elif request == "tree":
                    answer = self._answer()
                else:
                    answer = {"error": "unknown request; ask 'tree' or 'info'"}
                conn.sendall(json.dumps(answer).encode())
            except OSError:
                pass  # the client left; nothing to tell it

    def _answer(self) -> dict[str, Any]:
        """Return the answer to a ``tree`` request; call it from the server thread.

        The tree as plain data, or, when the event loop did not answer within
        ``blocked_after`` seconds, the Python stack of its thread.
        """
        head = process_info(self._backend)
        if self._pending is None or self._pending.done():
            self._pending = Future()
            self._orders.put(self._pending)
        try:
            tree = self._pending.result(timeout=self.blocked_after)
        except TimeoutError:
            return {**head, "blocked": self._blocked()}
        except Exception as exc:
            return {**head, "error": f"no snapshot: {exc!r}"}
        return {**head, "tree": tree.to_data()}

    def _blocked(self) -> dict[str, Any]:
        frames = sys._current_frames()  # pyright: ignore[reportPrivateUsage]
        frame = frames.get(self._loop_thread)
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        stack: list[traceback.FrameSummary] = (
            list(traceback.extract_stack(frame)) if frame is not None else []
        )
        return {
            "waited": self.blocked_after,
            "thread": names.get(self._loop_thread, str(self._loop_thread)),
            "stack": [
                {
                    "function": entry.name,
                    "file": entry.filename,
                    "line": entry.lineno,
                    "code": entry.line,
                }
                for entry in stack
            ],
        }


def answer_text(answer: dict[str, Any], *, stacks: bool = False) -> str:
    """Return a monitor's answer as the text ``plait tree`` and the signal print."""
    if "tree" in answer:
        return TaskTree.from_data(answer["tree"]).render(stacks=stacks)
    if "blocked" in answer:
        return describe_blocked(answer)
    return f"process {answer.get('pid')}: {answer.get('error', 'no answer')}"


def _resolve_signal(signal: object) -> int | None:
    if signal is None:
        return None
    if isinstance(signal, str):
        number = getattr(signals, signal, None)
        if not isinstance(number, int):
            raise NotImplementedError(
                f"TaskMonitor(): this platform has no {signal}; pass signal=None "
                "(and use `plait tree PID`) or another signal"
            )
        return number
    if isinstance(signal, bool) or not isinstance(signal, int):
        fail(
            _CALL, "signal", "a signal number or name, or None", signal, error=TypeError
        )
    valid = getattr(signals, "valid_signals", lambda: range(1, 65))()
    if signal not in valid:
        fail(_CALL, "signal", "a signal of this platform", signal, error=ValueError)
    return signal


def _remove_stale(path: Path) -> None:
    """Remove a socket left at *path* by a process that is gone."""
    if not path.exists():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise RuntimeError(f"TaskMonitor(): {path} exists and is not a socket")
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
            return
    raise RuntimeError(f"TaskMonitor(): another monitor listens on {path}")
