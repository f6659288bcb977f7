"""Deadlines enforced on the wire: a watchdog that cuts a request that overstays.

A socket timeout bounds one read, not an answer: a server that sends a byte a second
never trips it. So every request made through ``http_deadline`` (requests sessions:
the registry, GitHub, a TF Serving endpoint; urllib3 pools: the Kubernetes client) runs
under a ``Guard``: the watchdog thread shuts the request's socket down once the guard
expires, the blocked read returns at once, and the failure is reported as a timeout. A
small call's guard expires ``read`` seconds after it was armed; a transfer's is pushed
on by ``touch()`` as each window of bytes moves.

``budget(seconds)`` bounds everything the current thread does inside it: no guard armed
there outlives it (``retrying.retry_call`` opens one around the tries of a call).
``interrupt_all()`` (Ctrl-C, SIGTERM: ``runtime.signals``) cuts every request in flight
on every thread at once, so worker threads do not hold the exit up; what is sent after
it (cleaning up: cancelling an upload session, deleting a Job) gets ``CLEANUP`` seconds.
This module imports no HTTP library: ``leptonci --help`` loads it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_TICK = 0.05  # seconds between the watchdog's looks: how late a cut may come
CLEANUP = 0.5  # seconds a request sent after an interrupt may take
_local = threading.local()
_interrupted = threading.Event()


class Guard:
    """One armed deadline over what the thread that armed it sends and reads."""

    def __init__(self, seconds: float, *, clipped: bool = True) -> None:
        self.seconds = seconds
        self.fired = False
        self._connections: list[Any] = []
        end = time.monotonic() + seconds
        self.expires = min(end, _budget_end()) if clipped else end
        if _interrupted.is_set():
            self.expires = min(self.expires, time.monotonic() + CLEANUP)

    def touch(self) -> None:
        """Bytes moved: the guard expires ``seconds`` from now (a transfer's rule)."""
        self.expires = time.monotonic() + self.seconds

    def attach(self, connection: Any) -> None:
        if self.fired:  # urllib3 retrying a cut request on a new connection: no
            raise ConnectionAbortedError("cut by the deadline")
        self._connections.append(connection)

    def cut(self) -> None:
        self.fired = True
        for connection in self._connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                try:  # wakes a blocked recv or send at once; close alone may not
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Watchdog:
    def __init__(self) -> None:
        self._guards: set[Guard] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, guard: Guard) -> None:
        with self._lock:
            self._guards.add(guard)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="leptonci-deadlines", daemon=True
                )
                self._thread.start()

    def remove(self, guard: Guard) -> None:
        with self._lock:
            self._guards.discard(guard)

    def cut_all(self) -> None:
        with self._lock:
            due = list(self._guards)
            self._guards.clear()
        for armed in due:
            armed.cut()

    def _run(self) -> None:
        while True:
            time.sleep(_TICK)
            now = time.monotonic()
            with self._lock:
                due = [g for g in self._guards if g.expires <= now]
                self._guards.difference_update(due)
            for guard in due:
                guard.cut()


_WATCHDOG = _Watchdog()


def current() -> Guard | None:
    """The guard armed on this thread, if any."""
    return getattr(_local, "guard", None)


@contextmanager
def guard(seconds: float, *, clipped: bool = True) -> Iterator[Guard]:
    """Arm a guard on this thread for the block; an inner ``guard`` reuses it.

    ``clipped=False`` for a transfer: it may outlast the budget while bytes move.
    """
    outer = current()
    if outer is not None:
        yield outer
        return
    armed = Guard(seconds, clipped=clipped)
    _local.guard = armed
    _WATCHDOG.add(armed)
    try:
        yield armed
    finally:
        _local.guard = None
        _WATCHDOG.remove(armed)


def _budget_end() -> float:
    return float(getattr(_local, "budget_end", float("inf")))


def budget_left() -> float:
    """Seconds left in this thread's budget (inf outside one)."""
    return _budget_end() - time.monotonic()


@contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Within the block, nothing this thread arms outlives ``seconds`` from now (an
    enclosing, shorter budget still wins). None: no budget of its own."""
    previous = _budget_end()
    if seconds is not None:
        _local.budget_end = min(previous, time.monotonic() + seconds)
    try:
        yield
    finally:
        _local.budget_end = previous


def interrupt_all() -> None:
    """An interrupt: cut every request in flight, on any thread; later ones get CLEANUP."""
    _interrupted.set()
    _WATCHDOG.cut_all()


def interrupted() -> bool:
    return _interrupted.is_set()


def clear_interrupt() -> None:
    """The command is over (tests run several in one process)."""
    _interrupted.clear()
