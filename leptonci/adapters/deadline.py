"""Deadlines enforced on the wire: a watchdog that cuts an HTTP request that overstays.

A socket timeout bounds one read, not an answer: a server that sends a byte a second
never trips it. So every request made through a ``deadline_session`` (requests: the
registry, GitHub, a TF Serving endpoint) or a pool manager passed to ``watch_pools``
(urllib3: the Kubernetes client) runs under a ``Guard``: the watchdog thread shuts the
request's socket down once the guard expires, the blocked read returns at once, and the
failure is reported as a timeout. A small call's guard expires ``read`` seconds after it
was armed; a transfer's is pushed on by ``touch()`` as each window of bytes moves.

``budget(seconds)`` bounds everything the current thread does inside it: no guard armed
there outlives it (``retrying.retry_call`` opens one around the tries of a call).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from leptonci.core.deadlines import Deadlines

_TICK = 0.05  # seconds between the watchdog's looks: how late a cut may come
_local = threading.local()


class Guard:
    """One armed deadline over what the thread that armed it sends and reads."""

    def __init__(self, seconds: float, *, clipped: bool = True) -> None:
        self.seconds = seconds
        self.fired = False
        self._connections: list[Any] = []
        end = time.monotonic() + seconds
        self.expires = min(end, _budget_end()) if clipped else end

    def touch(self) -> None:
        """Bytes moved: the guard expires ``seconds`` from now (a transfer's rule)."""
        self.expires = time.monotonic() + self.seconds

    def attach(self, connection: Any) -> None:
        if self.fired:  # urllib3 retrying a cut request on a new connection: no
            raise urllib3.exceptions.ProtocolError("cut by the deadline")
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


# -- urllib3: pools whose connections the current guard can cut -----------------------


class _WatchedHTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        armed = current()
        if armed is not None:
            armed.attach(connection)
        return connection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        armed = current()
        if armed is not None:
            armed.attach(connection)
        return connection


def watch_pools(manager: urllib3.PoolManager) -> None:
    """Make the connections manager opens from now on cuttable by a guard."""
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
    manager.clear()


class TimedOut(requests.exceptions.ReadTimeout):
    """The guard cut the request: the answer did not come within its deadline."""


class DeadlineAdapter(HTTPAdapter):
    """A requests transport that sends each request under a guard of ``read`` seconds
    (or under the caller's guard, for a transfer) and reports a cut as ``TimedOut``."""

    def __init__(self, deadlines: Deadlines) -> None:
        self.deadlines = deadlines
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        watch_pools(self.poolmanager)

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        if timeout is None:
            timeout = self.deadlines.small
        with guard(self.deadlines.connect + self.deadlines.read) as armed:
            try:
                response = super().send(request, stream=stream, timeout=timeout, **kwargs)
                if not stream:
                    response.content  # noqa: B018 -- the body is read under the guard too
                return response
            except requests.RequestException as exc:
                if armed.fired:
                    raise TimedOut(f"no answer within {armed.seconds:g}s") from exc
                raise


def deadline_session(
    deadlines: Deadlines, session: requests.Session | None = None
) -> requests.Session:
    """session (a new one by default) with every request held to deadlines: the policy
    object for any HTTP endpoint leptonci calls (give ``timeout=deadlines.small``)."""
    session = session or requests.Session()
    adapter = DeadlineAdapter(deadlines)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def cut_reason(armed: Guard, exc: BaseException) -> BaseException:
    """What to raise for exc from a transfer under armed: a TimedOut if the guard cut it."""
    if armed.fired:
        return TimedOut(f"fewer than a window of bytes moved in {armed.seconds:g}s")
    return exc
