"""TaskMonitor and ``plait tree``: a real program asked from outside, blocked or not.

The monitored program is a real subprocess (tests/scripts/monitored.py) on
each event loop; its runtime directory is the test's own, through
XDG_RUNTIME_DIR, so tests never touch the user's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import plait
from plait._observe import _cli, _monitor, _wakeup
from plait._observe._monitor import answer_text

SCRIPT = Path(__file__).parent / "scripts" / "monitored.py"
CRAWLER = (
    "[service 'crawler': running, 0 restarts > "
    "bounded_map: waiting for its workers, limit=3]"
)


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR for this test (and the programs it starts).

    Under /tmp, not in tmp_path: a socket's path must fit in 107 bytes, and
    tmp_path lies under TMPDIR, which nox points deep into its session.
    """
    with tempfile.TemporaryDirectory(prefix="plait-run-", dir="/tmp") as base:
        directory = Path(base)
        directory.chmod(0o700)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
        yield directory


class Program:
    """The monitored script in a subprocess; its stderr gathered by a thread."""

    def __init__(self, backend: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), backend],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._stderr = ""
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._gather, daemon=True)
        self._reader.start()
        self.pid = self.process.pid

    def _gather(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self._stderr += line
                self._changed.notify_all()

    def wait_stderr(self, *texts: str, timeout: float = 30) -> str:
        """Wait until every one of *texts* is on stderr; return all of it.

        Stderr arrives line by line, so wait for every line to read, not
        only for the first line of what printed them.
        """
        with self._changed:
            found = self._changed.wait_for(
                lambda: all(text in self._stderr for text in texts), timeout
            )
            assert found, f"waited {timeout}s for {texts!r}; stderr:\n{self._stderr}"
            return self._stderr

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the program ended early; stderr:\n{self._stderr}"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def program(request: pytest.FixtureRequest, runtime_dir: Path) -> Iterator[Program]:
    running = Program(request.param)
    try:
        yield running
    finally:
        running.stop()


def tree_command(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run ``plait tree ARGS`` in this process; return the code, stdout, stderr."""
    code = _cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("program", ["asyncio", "uvloop", "trio"], indirect=True)
def test_a_real_program_shows_its_tree_on_request_and_when_blocked(
    program: Program, runtime_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert program.read() == {"ready": True, "pid": program.pid}
    pid = str(program.pid)

    # plait tree PID: the tree, labelled.
    code, out, err = tree_command(capsys, pid)
    assert (code, err) == (0, "")
    assert CRAWLER in out
    for index in range(3):
        url = f"'https://example.org/{index}'"
        assert f"[bounded_map item {index} ({url})]" in out
    assert "at main.<locals>.fetch (scripts/monitored.py:" in out

    # --json: plain data a tool can read.
    code, out, _ = tree_command(capsys, pid, "--json")
    answer = json.loads(out)
    tree = plait.TaskTree.from_data(answer["tree"])
    assert answer["pid"] == program.pid
    assert len(tree.find(pattern="bounded_map", item="'https://example.org/1'")) == 1

    # The socket, and its directory, are this user's alone.
    sock = runtime_dir / "plait" / f"{pid}.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700

    # The signal prints the same tree to the program's stderr.
    os.kill(program.pid, signal.SIGUSR1)
    dump = program.wait_stderr(
        "plait task tree (SIGUSR1):",
        CRAWLER,
        "[bounded_map item 2 ('https://example.org/2')]",
        "[supervisor 'app': watching its services]",
    )
    assert "Traceback" not in dump

    # Blocked: both say so within seconds and show the loop thread's stack.
    program.send("block")
    assert program.read() == {"blocking": True}
    began = time.monotonic()
    code, out, err = tree_command(capsys, pid)
    assert time.monotonic() - began < 10
    assert (code, err) == (0, "")
    assert "did not answer within 0.5s: something blocks it." in out
    assert "in block_the_loop\n    return sys.stdin.readline()" in out
    os.kill(program.pid, signal.SIGUSR1)
    program.wait_stderr(
        "did not answer within 0.5s: something blocks it.",
        "in block_the_loop\n    return sys.stdin.readline()",
    )
    program.send("go on")
    assert program.read() == {"unblocked": True}

    # Once the loop runs again, so does the tree; then a clean exit.
    code, out, _ = tree_command(capsys, pid)
    assert code == 0
    assert "bounded_map item 0" in out
    program.send("quit")
    assert program.read() == {"done": True}
    assert program.process.wait(timeout=30) == 0
    assert not sock.exists()


@pytest.mark.parametrize("program", ["asyncio"], indirect=True)
def test_plait_tree_as_a_command(program: Program) -> None:
    assert program.read()["ready"]
    result = subprocess.run(
        [sys.executable, "-m", "plait", "tree", str(program.pid)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert CRAWLER in result.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "plait", "tree"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listing.returncode == 0
    assert f"{program.pid:>8}  asyncio  python" in listing.stdout
    assert "monitored.py asyncio" in listing.stdout


def test_a_process_without_a_monitor_is_refused_clearly(
    runtime_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with subprocess.Popen(["sleep", "60"]) as other:
        try:
            code, out, err = tree_command(capsys, str(other.pid))
            assert (code, out) == (1, "")
            assert err == (
                f"plait tree: process {other.pid} runs no plait task monitor (no "
                f"socket {runtime_dir}/plait/{other.pid}.sock); start one in the "
                "program: `async with plait.TaskMonitor(): ...`\n"
            )
            # A socket nobody listens on (its monitor died): said so, no hang.
            (runtime_dir / "plait").mkdir(mode=0o700)
            path = runtime_dir / "plait" / f"{other.pid}.sock"
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
                dead.bind(str(path))
            code, _, err = tree_command(capsys, str(other.pid))
            assert code == 1
            assert "nothing listens on" in err
            assert "has stopped" in err
        finally:
            other.kill()
    other.wait()
    code, _, err = tree_command(capsys, str(other.pid))
    assert (code, err) == (1, f"plait tree: no process {other.pid}\n")


async def test_the_socket_is_private_and_removed_on_exit(runtime_dir: Path) -> None:
    async with plait.TaskMonitor(signal=None) as monitor:
        path = monitor.socket_path
        assert path == runtime_dir / "plait" / f"{os.getpid()}.sock"
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == os.getuid()
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        answer = await anyio.to_thread.run_sync(_ask_tree)
        tree = plait.TaskTree.from_data(answer["tree"])
        assert "test_the_socket_is_private_and_removed_on_exit" in _functions(tree)
    assert monitor.socket_path is None
    assert not path.exists()


async def test_a_socket_path_too_long_is_refused_clearly(
    runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = runtime_dir / ("d" * 100)
    deep.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    with pytest.raises(
        RuntimeError, match=r"TaskMonitor\(\): the socket path .* set XDG_RUNTIME_DIR"
    ):
        async with plait.TaskMonitor(signal=None):
            pass  # pragma: no cover
    long_path = runtime_dir / ("s" * 120)
    with pytest.raises(RuntimeError, match=r"is \d+ bytes, over the 10[37]"):
        async with plait.TaskMonitor(signal=None, socket=long_path):
            pass  # pragma: no cover
    assert not long_path.exists()
    # Nothing was left held: a monitor at a path that fits starts.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    async with plait.TaskMonitor(signal=None) as monitor:
        assert monitor.socket_path == runtime_dir / "plait" / f"{os.getpid()}.sock"


def _functions(tree: plait.TaskTree) -> set[str]:
    return {frame.function for node in tree.walk() for frame in node.stack}


def _ask_tree() -> dict[str, Any]:
    from plait._observe._runtime import ask

    return ask(os.getpid(), "tree", timeout=30)


async def test_a_blocked_loop_is_reported_with_its_stack(runtime_dir: Path) -> None:
    answers: list[dict[str, Any]] = []
    answered = threading.Event()

    def ask_from_outside() -> None:
        answers.append(_ask_tree())
        answered.set()

    async with plait.TaskMonitor(signal=None, blocked_after=0.2):
        threading.Thread(target=ask_from_outside).start()
        # A synchronous wait in the loop's thread: the loop is blocked until
        # the monitor has answered that it is.
        assert answered.wait(timeout=30)
    (answer,) = answers
    blocked = answer["blocked"]
    assert blocked["waited"] == 0.2
    functions = [entry["function"] for entry in blocked["stack"]]
    # threading.Event.wait, then Condition.wait, under this test's frame.
    assert functions[-3:] == [
        "test_a_blocked_loop_is_reported_with_its_stack",
        "wait",
        "wait",
    ]
    text = answer_text(answer)
    assert "assert answered.wait(timeout=30)" in text


async def test_the_signal_handler_is_restored(runtime_dir: Path) -> None:
    def mine(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGUSR2, mine)
    try:
        async with plait.TaskMonitor(signal="SIGUSR2", socket=False) as monitor:
            assert monitor.signal == signal.SIGUSR2
            assert signal.getsignal(signal.SIGUSR2) != mine
        assert signal.getsignal(signal.SIGUSR2) is mine
    finally:
        signal.signal(signal.SIGUSR2, previous)


class _Stderr:
    """A stand-in for sys.stderr that says, across threads, once a dump is in."""

    def __init__(self) -> None:
        self.text = ""
        self.dumped = threading.Event()

    def write(self, text: str) -> int:
        self.text += text
        if "plait task tree (SIGUSR2):" in self.text:
            self.dumped.set()
        return len(text)

    def flush(self) -> None:
        pass


async def test_the_signal_dumps_even_when_it_lands_on_another_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kernel may hand a process's signal to any of its threads. Python
    # runs the handler in the main thread only, once that thread runs again:
    # an idle event loop with no wakeup fd (asyncio's, unless it has signal
    # handlers of its own) would sleep on, and the dump never come.
    stderr = _Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)

    def signal_this_thread_and_wait() -> bool:
        # This thread runs Python only while the loop's thread does not: the
        # loop is on its way into waiting, past its last look for signals.
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR2)
        return stderr.dumped.wait(10)

    async with plait.TaskMonitor(signal="SIGUSR2", socket=False):
        await anyio.to_thread.run_sync(lambda: None)  # the worker thread is up
        dumped = await anyio.to_thread.run_sync(signal_this_thread_and_wait)
    assert dumped, stderr.text
    assert "at test_the_signal_dumps_even_when_it_lands_on_" in stderr.text


async def test_a_signal_handled_while_the_monitor_starts_is_dumped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The handler is in place before the monitor looks at the wakeup fd; a
    # signal handled in between leaves the monitor's own dump request in the
    # socket, which must stay the monitor's, not go to the loop's fd.
    stderr = _Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    claim = _wakeup.claim_wakeup_fd

    def signal_then_claim(write: socket.socket, read: socket.socket) -> bool:
        signal.raise_signal(signal.SIGUSR2)  # its handler runs here, at once
        return claim(write, read)

    monkeypatch.setattr(_monitor, "claim_wakeup_fd", signal_then_claim)
    async with plait.TaskMonitor(signal="SIGUSR2", socket=False):
        dumped = await anyio.to_thread.run_sync(stderr.dumped.wait, 10)
    assert dumped, stderr.text
    assert stderr.text.count("plait task tree (SIGUSR2):") == 1


def _wakeup_fd() -> int:
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    return fd


async def _hears(receiver: Any, signum: int) -> None:
    os.kill(os.getpid(), signum)
    with anyio.fail_after(10):
        async for received in receiver:
            assert received == signum
            return


async def test_signal_receivers_around_the_monitor_keep_their_signals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _wakeup_fd()
    stderr = _Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    with anyio.open_signal_receiver(signal.SIGUSR1) as outer:
        theirs = _wakeup_fd()
        async with plait.TaskMonitor(signal="SIGUSR2", socket=False):
            assert _wakeup_fd() == theirs  # the loop has one now: left alone
            await _hears(outer, signal.SIGUSR1)
        assert _wakeup_fd() == theirs
        await _hears(outer, signal.SIGUSR1)
    async with plait.TaskMonitor(signal="SIGUSR2", socket=False):
        with anyio.open_signal_receiver(signal.SIGUSR1) as inner:
            await _hears(inner, signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGUSR2)
            assert await anyio.to_thread.run_sync(stderr.dumped.wait, 10)
    assert _wakeup_fd() == before


async def test_one_monitor_per_process_entered_once(runtime_dir: Path) -> None:
    monitor = plait.TaskMonitor(signal=None)
    async with monitor:
        with pytest.raises(
            RuntimeError, match="a monitor already runs in this process"
        ):
            async with plait.TaskMonitor(signal=None, socket=False):
                pass
    with pytest.raises(RuntimeError, match="can be entered only once"):
        async with monitor:
            pass
    async with plait.TaskMonitor(signal=None, socket=False):  # the slot is free
        pass


async def test_a_socket_path_of_ones_own(
    runtime_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = runtime_dir / "app.sock"
    async with plait.TaskMonitor(signal=None, socket=path) as monitor:
        assert monitor.socket_path == path
        code = await anyio.to_thread.run_sync(_cli.main, ["--socket", str(path)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "at test_a_socket_path_of_ones_own (" in out
    assert not path.exists()
    path.write_text("not a socket")
    with pytest.raises(RuntimeError, match="exists and is not a socket"):
        async with plait.TaskMonitor(signal=None, socket=path):
            pass
    assert path.read_text() == "not a socket"


def test_a_shared_runtime_directory_is_refused(runtime_dir: Path) -> None:
    (runtime_dir / "plait").mkdir(mode=0o755)
    os.chmod(runtime_dir / "plait", 0o755)

    async def main() -> None:
        async with plait.TaskMonitor(signal=None):
            pass

    with pytest.raises(RuntimeError, match=r"is open to other users \(mode 755\)"):
        anyio.run(main)


def test_missing_platform_features_are_refused_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(signal, "SIGUSR1")
    with pytest.raises(NotImplementedError, match="this platform has no SIGUSR1"):
        plait.TaskMonitor()
    plait.TaskMonitor(signal=None)  # fine without the signal
    monkeypatch.delattr(socket, "AF_UNIX")
    with pytest.raises(NotImplementedError, match="this platform has no Unix sockets"):
        plait.TaskMonitor(signal=None)
    plait.TaskMonitor(signal=None, socket=False)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"TaskMonitor\(\) blocked_after must be"):
        plait.TaskMonitor(blocked_after=0)
    with pytest.raises(TypeError, match=r"TaskMonitor\(\) socket must be a bool or"):
        plait.TaskMonitor(socket=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"TaskMonitor\(\) signal must be a signal"):
        plait.TaskMonitor(signal=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"TaskMonitor\(\) signal must be a signal of"):
        plait.TaskMonitor(signal=100_000)
