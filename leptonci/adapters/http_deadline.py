"""Requests and urllib3 held to the deadlines: transports whose requests a guard can cut.

``deadline_session`` mounts ``DeadlineAdapter`` on a requests session (the registry,
GitHub, a TF Serving endpoint); ``watch_pools`` makes a urllib3 pool manager's
connections cuttable (the Kubernetes client). The guards and the watchdog are
``adapters.deadline``.
"""

from __future__ import annotations

from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from leptonci.adapters.deadline import Guard, current, guard
from leptonci.core.deadlines import Deadlines


class _Watched:
    """A pool mixin: each connection handed out is attached to the thread's guard."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        armed = current()
        if armed is not None:
            armed.attach(connection)
        return connection


class _WatchedHTTPPool(_Watched, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_Watched, HTTPSConnectionPool):
    pass


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
