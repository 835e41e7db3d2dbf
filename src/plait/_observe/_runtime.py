"""Where task monitors listen, and how ``plait tree`` talks to one.

Each monitored process listens on a Unix socket named after its pid, in a
per-user runtime directory: ``$XDG_RUNTIME_DIR/plait`` when the session has
one (systemd gives every login one, mode 0700), else
``<tempdir>/plait-<uid>``. The directory is created mode 0700 and refused if
another user owns it or can enter it; the socket is mode 0600. On Linux the
monitor also checks each peer's credentials, and answers only its own user
(and root). There is no network port.

The protocol is one request line and one JSON answer, then the connection
closes: ``tree`` (the task tree, or why there is none) or ``info`` (who the
process is). Nothing a client sends can change the monitored program.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

PROTOCOL = 1
REQUESTS = ("tree", "info")
_MAX_REQUEST = 64


class MonitorUnavailableError(RuntimeError):
    """No task monitor answers for the process asked about."""


def has_unix_sockets() -> bool:
    """Tell whether this platform has Unix-domain sockets (and Unix users)."""
    return hasattr(socket, "AF_UNIX") and hasattr(os, "getuid")


def runtime_dir(*, create: bool) -> Path:
    """Return the per-user directory monitor sockets live in.

    Raises:
        RuntimeError: it exists but another user owns it, or others may
            enter it, or it is not a directory.
    """
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        path = Path(base) / "plait"
    else:
        path = Path(tempfile.gettempdir()) / f"plait-{os.getuid()}"
    if create:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        _check_private(path)
    return path


def _check_private(path: Path) -> None:
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeError(f"plait's runtime directory {path} is not a directory")
    if info.st_uid != os.getuid():
        raise RuntimeError(
            f"plait's runtime directory {path} belongs to uid {info.st_uid}, "
            f"not to this user ({os.getuid()}); remove it or set XDG_RUNTIME_DIR"
        )
    if info.st_mode & 0o077:
        raise RuntimeError(
            f"plait's runtime directory {path} is open to other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod 700 {path}`"
        )


# sockaddr_un.sun_path holds the path and its NUL: 108 bytes on Linux, 104
# on the BSDs and macOS.
_SUN_PATH = 108 if sys.platform.startswith("linux") else 104


def check_socket_length(path: Path) -> None:
    """Refuse a socket path too long to bind, saying how to shorten it."""
    size = len(os.fsencode(path))
    if size >= _SUN_PATH:
        raise RuntimeError(
            f"TaskMonitor(): the socket path {path} is {size} bytes, over the "
            f"{_SUN_PATH - 1} a Unix socket's path may have here; set "
            "XDG_RUNTIME_DIR (or TMPDIR) to a shorter directory, or pass "
            "socket= a shorter path"
        )


def socket_path(pid: int, *, create: bool = False) -> Path:
    """Return the path of the monitor socket of process *pid*."""
    return runtime_dir(create=create) / f"{pid}.sock"


def peer_allowed(conn: socket.socket) -> bool:
    """Tell whether the peer of *conn* is this user or root (Linux checks it).

    Elsewhere the socket's mode and its directory's do the job alone.
    """
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", raw)
    return uid in (os.getuid(), 0)


def process_exists(pid: int) -> bool:
    """Tell whether a process *pid* exists (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ask(pid: int, request: str, *, timeout: float) -> dict[str, Any]:
    """Send *request* to the monitor of process *pid* and return its answer.

    Raises:
        MonitorUnavailableError: no such process, no monitor in it, or the
            monitor did not answer within *timeout* seconds.
    """
    if not has_unix_sockets():
        raise MonitorUnavailableError(
            "this platform has no Unix sockets, so `plait tree` cannot reach "
            "a monitor; use the monitor's signal dump instead"
        )
    path = socket_path(pid)
    if not process_exists(pid):
        raise MonitorUnavailableError(f"no process {pid}")
    if not path.exists():
        raise MonitorUnavailableError(
            f"process {pid} runs no plait task monitor (no socket {path}); start "
            "one in the program: `async with plait.TaskMonitor(): ...`"
        )
    return ask_at(path, request, timeout=timeout, who=f"process {pid}")


def ask_at(path: Path, request: str, *, timeout: float, who: str) -> dict[str, Any]:
    """Send *request* to the monitor listening at *path*; return its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        try:
            conn.connect(str(path))
            conn.sendall(request.encode() + b"\n")
            data = _read_all(conn)
        except TimeoutError:
            raise MonitorUnavailableError(
                f"the task monitor of {who} did not answer within {timeout:g}s"
            ) from None
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                raise MonitorUnavailableError(
                    f"nothing listens on {path}: the task monitor of {who} has stopped"
                ) from None
            raise MonitorUnavailableError(
                f"could not reach the task monitor of {who}: {exc}"
            ) from None
    try:
        answer: dict[str, Any] = json.loads(data)
    except ValueError:
        raise MonitorUnavailableError(
            f"the task monitor of {who} sent an unreadable answer"
        ) from None
    return answer


def _read_all(conn: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_request(conn: socket.socket) -> str | None:
    """Read one request line from *conn*; None if it is not a known request."""
    data = b""
    while b"\n" not in data and len(data) < _MAX_REQUEST:
        chunk = conn.recv(_MAX_REQUEST)
        if not chunk:
            break
        data += chunk
    request = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    return request if request in REQUESTS else None


def process_info(backend: str) -> dict[str, Any]:
    """Return who this process is, for the head of an answer."""
    return {
        "protocol": PROTOCOL,
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "python": sys.version.split()[0],
        "backend": backend,
    }


def monitored_pids() -> list[int]:
    """Return the pids with a monitor socket in this user's runtime directory."""
    directory = runtime_dir(create=False)
    pids: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.iterdir():
            if entry.suffix == ".sock" and entry.stem.isdigit():
                pids.append(int(entry.stem))
    return sorted(pids)
