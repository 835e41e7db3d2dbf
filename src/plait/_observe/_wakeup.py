"""The signal wakeup fd, for a task monitor whose event loop has none.

Python runs a signal's handler in the main thread only, once that thread
runs Python again. An event loop asleep in the main thread hears of a signal
through the process's wakeup fd (``signal.set_wakeup_fd``), to which
Python's C-level handler writes the signal's number the moment it lands, on
whatever thread. trio and uvloop always set one; asyncio only while it has
signal handlers of its own (``loop.add_signal_handler``). Without one, a
signal that lands on another thread, or on the main thread just before it
goes to sleep, leaves the loop asleep and the handler waiting for whatever
wakes the loop next. So the monitor takes the wakeup fd when nobody has it,
and its server thread hears the signal at once, however the loop sleeps.

Python can read the wakeup fd only by setting another: both calls here swap
in the monitor's own socket to look, and hand on to the fd's owner the
signal numbers that reached the socket meanwhile (an event loop may act on
them). Call them from the main thread while nothing else reads the socket.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket

# Signal numbers are below 65; the monitor's own wake-up bytes ("d", "q")
# are letters.
_FIRST_OWN_BYTE = ord("A")


def claim_wakeup_fd(write: socket.socket, read: socket.socket) -> bool:
    """Make *write* (non-blocking) the wakeup fd unless one is set; return
    whether it is. *read* is the other end of the socket pair."""
    previous = signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
    if previous == -1:
        return True
    own = _hand_back(previous, read)
    if own:  # a signal handled meanwhile: its dump request stays the monitor's
        write.send(own)
    return False


def release_wakeup_fd(write: socket.socket, read: socket.socket) -> None:
    """Stop *write* being the wakeup fd, before it is closed; leave in place
    one set since by someone else (asyncio, for handlers added meanwhile)."""
    _drain(read)  # the monitor's own, unread
    current = signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
    if current in (-1, write.fileno()):
        signal.set_wakeup_fd(-1)
    else:
        _hand_back(current, read)


def _hand_back(owner: int, read: socket.socket) -> bytes:
    """Give the wakeup fd back to *owner* with the signal numbers that reached
    *read* meanwhile; return the other bytes there (the monitor's own)."""
    # An event loop's own fd: it never warns when full (trio's and uvloop's
    # do not; asyncio's would, on a flood of signals it drops anyway).
    signal.set_wakeup_fd(owner, warn_on_full_buffer=False)
    stray = _drain(read)
    numbers = bytes(b for b in stray if b < _FIRST_OWN_BYTE)
    if numbers:
        with contextlib.suppress(OSError):  # full: the owner is awake anyway
            os.write(owner, numbers)
    return bytes(b for b in stray if b >= _FIRST_OWN_BYTE)


def _drain(read: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := read.recv(4096, socket.MSG_DONTWAIT):
            received += chunk
    return received
