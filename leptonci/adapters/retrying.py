"""The one retry loop: call again what failed with a ``retryable`` error, bounded.

Every adapter maps what its outside system answered to a ``LeptonError`` (5xx, resets
and rate limits to a retryable one, carrying the server's ``retry_after`` when it gave
one) and hands the call to ``retry_call``. The loop itself is tenacity's; this module
fixes the policy: the schedule is ``core.backoff.Backoff`` (doubling, jittered,
capped), a server-given wait replaces the backoff, no wait exceeds ``max_wait``, an
optional ``deadline`` bounds the whole try in seconds (no wait is begun past it, and
``deadline.budget`` clips every request guard armed inside it), and at the end either
the last error or what ``give_up`` makes of it is raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from leptonci.adapters.deadline import budget, interrupted
from leptonci.core.backoff import Backoff
from leptonci.core.errors import LeptonError, OutsideError

T = TypeVar("T")


@dataclass(frozen=True)
class FailedAttempt:
    """What ``before_retry`` is told before each wait: the try that failed, and the wait."""

    what: str
    number: int  # 1-based: the first try is 1
    error: Exception
    delay: float  # seconds about to be waited


def is_retryable(exc: Exception) -> bool:
    """The default test: a LeptonError marked ``retryable`` (class or instance)."""
    return isinstance(exc, LeptonError) and exc.retryable


def retry_call(
    fn: Callable[[], T],
    *,
    what: str,
    schedule: Backoff,
    retry_if: Callable[[Exception], bool] = is_retryable,
    give_up: Callable[[Exception, int], Exception] | None = None,
    before_retry: Callable[[FailedAttempt], None] | None = None,
    max_wait: float = 60.0,
    deadline: float | None = None,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call fn until it returns, at most ``schedule.attempts`` times; return its result.

    An error for which ``retry_if`` is false is raised at once, untouched (and so is an
    interrupt: KeyboardInterrupt and SystemExit are never retried). A retryable
    one is waited out: its ``retry_after`` when it has one, else ``schedule.delay(n)``
    after try n, never more than ``max_wait``. With ``deadline`` (seconds from the first
    try, plus any waits the server asked for) no wait is begun that would end past it,
    and no request guard armed in a try outlives it (``deadline.budget``). When the tries or the time run out,
    ``give_up(last_error, tries)`` is raised (chained to the last error; it may hand
    the last error back), or the last error itself without ``give_up``. ``what`` names the call ("GitHub status on abc123
    in o/r") in what ``before_retry`` is told.
    """
    started = clock()
    granted = [0.0]  # seconds of waits the server asked for: an answer, not a hang

    def wait(state: tenacity.RetryCallState) -> float:
        exc = _error(state)
        asked = exc.retry_after if isinstance(exc, OutsideError) else None
        delay = asked if asked is not None else schedule.delay(state.attempt_number)
        delay = max(0.0, min(delay, max_wait))
        if asked is not None:
            granted[0] += delay
        return delay

    def left() -> float | None:
        return None if deadline is None else deadline + granted[0] - (clock() - started)

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= schedule.attempts or interrupted():
            return True  # (interrupted: a worker thread's try, cut by Ctrl-C)
        remaining = left()
        return remaining is not None and state.upcoming_sleep > remaining

    def attempt() -> T:
        with budget(left()):
            return fn()

    def exhausted(state: tenacity.RetryCallState) -> T:
        last = _error(state)
        final = last if give_up is None else give_up(last, state.attempt_number)
        if final is last:
            raise last
        raise final from last

    def notify(state: tenacity.RetryCallState) -> None:
        if before_retry is not None:
            before_retry(
                FailedAttempt(what, state.attempt_number, _error(state), state.upcoming_sleep)
            )

    def pause(seconds: float) -> None:
        sleep(seconds)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, Exception) and retry_if(e)),
        wait=wait,
        stop=stop,
        sleep=pause,
        before_sleep=notify,
        retry_error_callback=exhausted,
    )
    return retrying(attempt)


def _error(state: tenacity.RetryCallState) -> Exception:
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    if not isinstance(exc, Exception):  # only failed tries reach wait, stop and give-up
        raise RuntimeError(f"retry state without an error after try {state.attempt_number}")
    return exc
